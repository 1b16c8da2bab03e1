//! Blocking WebSockets (RFC 6455) over `std::net`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
mod error;
mod http;
mod message;
pub mod protocol;
mod server;
mod url;
mod websocket;

pub use client::{ClientBuilder, connect};
pub use config::Config;
pub use error::{CapacityError, Error, HandshakeError, ProtocolViolation, Result, UrlError};
pub use message::{CloseCode, CloseFrame, Message};
pub use protocol::handshake::Request;
pub use server::{Server, ServerHandle};
pub use websocket::{Incoming, Sender, WebSocket};

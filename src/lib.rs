//! Blocking WebSockets (RFC 6455) over `std::net`.
//!
//! A [`WebSocket`] is read by one thread with a blocking
//! [`read_message`](WebSocket::read_message) while any number of other
//! threads send on it through [`Sender`]s. Read timeouts are ordinary
//! errors ([`Error::Timeout`] with [`Timeout::Read`]) that lose nothing.
//! [`connect`] opens a client connection; [`Server`] serves a thread per
//! connection.
//!
//! ```no_run
//! let mut ws = syncws::connect("ws://127.0.0.1:9001/")?;
//! ws.send_text("hello")?;
//! let reply = ws.read_message()?;
//! assert_eq!(reply.as_text(), Some("hello"));
//! # Ok::<(), syncws::Error>(())
//! ```
//!
//! # The public surface
//! The crate root holds the blocking API and nothing else, chosen on
//! purpose:
//!
//! - a connection: [`WebSocket`] (the reading end, which sends too),
//!   [`Sender`] (sends from any thread), [`Incoming`], and what travels
//!   over it: [`Message`], [`MessageRef`], [`CloseCode`], [`CloseFrame`];
//!   where its ends are: [`Address`]; what it runs on: [`Socket`] (TCP or
//!   a Unix domain socket, for streams of your own);
//! - a client: [`connect`], [`ClientBuilder`], and with a TLS feature
//!   `TlsBackend` (which library speaks `wss://`: see README.md,
//!   "Choosing a TLS backend"); one that reconnects: [`reconnect`],
//!   [`Reconnect`], with [`Backoff`] and [`Jitter`];
//! - a server: [`Server`], [`ServerHandle`], [`WeakServerHandle`], and the
//!   rest of it (routes, handlers, hooks, listings) in [`server`];
//! - broadcast: [`Hub`], [`Membership`];
//! - settings: [`Config`], [`KeepAlive`];
//! - errors: [`Error`] and [`Result`], with [`Timeout`],
//!   [`ProtocolViolation`], [`CapacityError`], [`HandshakeError`] (with
//!   [`SocksRefusal`]), [`UrlError`], and with a TLS feature `TlsError`;
//! - with the `native-tls` / `rustls` features, those libraries,
//!   re-exported (`syncws::native_tls`, `syncws::rustls`).
//!
//! [`protocol`] is the sans-I/O core under it, public for those who drive
//! it themselves, under the stability policy stated there.
//!
//! # Layers
//! Dependencies point down only: the core (`protocol`), then the
//! transport (TCP or Unix sockets, TLS, reading an HTTP head), then the
//! connection (`WebSocket`, `Sender`), then the client and the server,
//! then the hub and the reconnecting client.
// One exception, allowed where it is and argued there: naming a reused
// connection thread (`server/workers.rs`).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod hub;
pub mod protocol;
mod reconnect;
pub mod server;
#[cfg(feature = "deflate")]
mod stack;
mod sync;
mod throttle;
mod transport;
mod url;
mod websocket;

#[cfg(any(feature = "native-tls", feature = "rustls"))]
pub use client::TlsBackend;
pub use client::{ClientBuilder, connect};
#[cfg(any(feature = "native-tls", feature = "rustls"))]
pub use error::TlsError;
pub use error::{
    CapacityError, Error, HandshakeError, ProtocolViolation, Result, SocksRefusal, Timeout,
    UrlError,
};
pub use hub::{Hub, Membership};
pub use protocol::address::Address;
pub use protocol::config::{Config, KeepAlive};
pub use protocol::extension::permessage_deflate::DeflateConfig;
pub use protocol::message::{CloseCode, CloseFrame, Message, MessageRef};
pub use reconnect::{Backoff, Jitter, Reconnect, reconnect};
pub use server::{Server, ServerHandle, WeakServerHandle};
pub use transport::Socket;
pub use websocket::{Incoming, Sender, WebSocket};

/// The TLS library under `wss://`, re-exported for its `Identity`,
/// `Certificate` and `TlsConnector`.
#[cfg(feature = "native-tls")]
pub use native_tls;

/// The rustls library under `wss://` with the `rustls` feature,
/// re-exported for its `ClientConfig`, `ServerConfig` and `pki_types`.
#[cfg(feature = "rustls")]
pub use rustls;

/// The internals that the fuzz targets of `fuzz/` drive directly, built
/// only by `cargo fuzz` (which sets `--cfg fuzzing`): not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::protocol::close::MAX_REASON_LEN;
    pub use crate::protocol::receiver::{Event, ReadTarget, Receiver};
    pub use crate::protocol::utf8::Utf8Validator;
}

/// The examples of README.md, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

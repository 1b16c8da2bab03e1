//! The sans-I/O protocol core: every decision of a connection, on byte
//! buffers, with time as an argument. Nothing in this module names a
//! socket, a transport or a server; the blocking layer above carries out
//! what it decides.
//!
//! - [`Connection`]: one whole connection for a driver of one's own, bytes
//!   in, [`Event`]s and bytes out; its [`State`], and [`TcpClose`], how to
//!   end the TCP connection.
//! - [`frame`] and [`mask`]: the wire format of a frame (RFC 6455 §5).
//! - [`handshake`]: the opening handshake (§4), both ends.
//! - `deflate` (feature `deflate`): the permessage-deflate codec (RFC
//!   7692 §7), per direction, with its limit and hibernation; a
//!   [`Connection`] uses it once `enable_deflate` is given the agreement.
//! - [`extension`]: the `Sec-WebSocket-Extensions` header (§9.1) and the
//!   negotiation of permessage-deflate (RFC 7692), both ends.
//!
//! # Stability
//! The blocking API at the crate root follows semantic versioning. This
//! module is public so that the core can be driven without it (over a
//! stream of one's own, in an event loop), and it follows semver too, but
//! more loosely before 1.0: a minor release may change it, saying how in
//! its notes. Its data types are `#[non_exhaustive]`, so that adding a
//! variant or a field is not a break.

pub(crate) mod address;
pub(crate) mod budget;
pub(crate) mod close;
pub(crate) mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub(crate) mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub(crate) mod message;
pub(crate) mod outbox;
pub(crate) mod receiver;
pub(crate) mod session;
pub(crate) mod timers;
pub(crate) mod utf8;

pub use connection::{Connection, Event};
pub use error::{CapacityError, Error, ProtocolViolation, Timeout};
pub use session::{Failure, LINGER_MAX_BYTES, State, TcpClose};

/// Which end of the connection this is. It decides who masks (clients MUST
/// mask every frame they send, servers MUST NOT: RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that accepted it.
    Server,
}

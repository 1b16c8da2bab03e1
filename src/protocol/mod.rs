//! The sans-I/O protocol core: frames, messages, close rules and the
//! opening handshake, working on byte buffers. Nothing in this module names
//! a socket; the blocking layer drives it.

pub mod close;
pub(crate) mod config;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub(crate) mod message;
pub mod receiver;
pub(crate) mod timers;
pub mod utf8;

pub use error::{CapacityError, Error, ProtocolViolation, Timeout};
pub use receiver::Receiver;

/// Which end of the connection this is. It decides who masks (clients MUST
/// mask every frame they send, servers MUST NOT: RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that accepted it.
    Server,
}

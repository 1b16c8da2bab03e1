//! What a connection accepted by a server knows of that server: its id,
//! the data the before-upgrade hook attached, and a place to be detached
//! to. The server implements [`Home`]; the connection names no server.

use std::any::Any;
use std::fmt;

use crate::websocket::WebSocket;

/// The id of a connection, unique within its server.
///
/// ```
/// use syncws::server::ConnectionId;
///
/// let id = ConnectionId::from(7);
/// assert_eq!(u64::from(id), 7);
/// assert_eq!(id.to_string(), "#7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct ConnectionId(pub u64);

impl From<u64> for ConnectionId {
    fn from(n: u64) -> Self {
        ConnectionId(n)
    }
}

impl From<ConnectionId> for u64 {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The server side of an accepted connection, as the connection sees it.
pub(crate) trait Home: Send + Sync {
    /// The connection's id.
    fn id(&self) -> ConnectionId;

    /// The data attached before the upgrade, if any.
    fn data(&self) -> Option<&(dyn Any + Send + Sync)>;

    /// Take the connection back: it stays open, read into a queue that
    /// any thread can attach to by its id.
    fn detach(&self, ws: WebSocket);

    /// The application dropped the connection while it was open (its
    /// handler returned, or panicked); it is being closed for it.
    fn dropped_while_open(&self);
}

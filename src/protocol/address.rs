//! Where a connection's ends are: an IP address and port, or a Unix domain
//! socket. Data only: the transport reads it off the socket.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The address of one end of a connection: an IP address and port (TCP),
/// or a Unix domain socket.
///
/// A Unix socket has a path only if it was bound to one: a server's
/// listening socket and the connections it accepts have theirs as their
/// local address, but a client's socket is usually unnamed, so a server
/// sees its Unix peers as `Unix(None)`. Such a peer has no IP address:
/// [`WebSocket::peer_addr`](crate::WebSocket::peer_addr) is `None` for it,
/// and [`socket_addr`](Self::socket_addr) too.
///
/// ```
/// use syncws::Address;
///
/// let tcp = Address::from("127.0.0.1:9001".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(tcp.to_string(), "127.0.0.1:9001");
/// assert_eq!(tcp.socket_addr().map(|a| a.port()), Some(9001));
///
/// let unix = Address::Unix(Some("/run/app.sock".into()));
/// assert_eq!(unix.to_string(), "unix:/run/app.sock");
/// assert_eq!(unix.socket_addr(), None);
/// assert_eq!(Address::Unix(None).to_string(), "unix:(unnamed)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An IP address and port: a TCP connection.
    Ip(SocketAddr),
    /// A Unix domain socket: the path it is bound to, or `None` for an
    /// unnamed socket (or, on Linux, one in the abstract namespace).
    Unix(Option<PathBuf>),
}

impl Address {
    /// The IP address and port, for TCP; `None` for a Unix socket.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Address::Ip(addr) => Some(*addr),
            Address::Unix(_) => None,
        }
    }

    /// True for a Unix domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Address::Unix(_))
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Ip(addr)
    }
}

impl fmt::Display for Address {
    /// `127.0.0.1:9001`, `[::1]:9001`, `unix:/run/app.sock`, `unix:(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(addr) => addr.fmt(f),
            Address::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Address::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

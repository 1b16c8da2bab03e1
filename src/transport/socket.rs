//! The socket under a connection: TCP, or a Unix domain socket. Both are
//! one file descriptor that one thread reads while others write, with
//! read and write timeouts as separate socket options, so everything
//! above (TLS, the reader, the writer's flusher) treats them alike.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::protocol::address::Address;

/// A connected stream socket: TCP, or (on Unix) a Unix domain socket.
///
/// What every connection runs on, plain or under TLS; its address is an
/// [`Address`]. The entry points for a stream you connected or accepted
/// take `impl Into<Socket>`, so either kind is passed as it is:
/// [`ClientBuilder::connect_on`](crate::ClientBuilder::connect_on),
/// [`ServerHandle::serve_stream`](crate::ServerHandle::serve_stream) and
/// [`ServerHandle::upgrade`](crate::ServerHandle::upgrade).
///
/// ```
/// # fn demo(tcp: std::net::TcpStream) {
/// let socket: syncws::Socket = tcp.into();
/// assert!(matches!(socket, syncws::Socket::Tcp(_)));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix domain socket connection.
    #[cfg(unix)]
    Unix(UnixStream),
}

impl From<TcpStream> for Socket {
    fn from(stream: TcpStream) -> Socket {
        Socket::Tcp(stream)
    }
}

#[cfg(unix)]
impl From<UnixStream> for Socket {
    fn from(stream: UnixStream) -> Socket {
        Socket::Unix(stream)
    }
}

impl Socket {
    /// The address of the other end.
    ///
    /// # Errors
    /// The I/O error of the socket (it is no longer connected, say).
    pub fn peer_address(&self) -> io::Result<Address> {
        match self {
            Socket::Tcp(s) => s.peer_addr().map(Address::Ip),
            #[cfg(unix)]
            Socket::Unix(s) => s.peer_addr().map(|a| unix_address(&a)),
        }
    }

    /// The address of this end.
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Socket::Tcp(s) => s.local_addr().map(Address::Ip),
            #[cfg(unix)]
            Socket::Unix(s) => s.local_addr().map(|a| unix_address(&a)),
        }
    }

    /// Reads give up after `timeout` (zero counts as the shortest one).
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(nonzero);
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Writes give up after `timeout` (zero counts as the shortest one).
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(nonzero);
        match self {
            Socket::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nonblocking(nonblocking),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_nonblocking(nonblocking),
        }
    }

    /// Small messages go out at once, not after Nagle's delay (TCP only:
    /// a Unix socket has no such delay).
    pub(crate) fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nodelay(true),
            #[cfg(unix)]
            Socket::Unix(_) => Ok(()),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Socket::Unix(s) => s.shutdown(how),
        }
    }

    /// Append at most `max` bytes to `buf`'s spare capacity (see
    /// `Transport::read_append`): each kind is read as itself, so that std
    /// reads into uninitialised memory without zero-filling it first.
    pub(crate) fn read_to_end_at_most(&self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => Read::take(s, max as u64).read_to_end(buf),
            #[cfg(unix)]
            Socket::Unix(s) => Read::take(s, max as u64).read_to_end(buf),
        }
    }

    /// Send what the socket takes of `bytes` right now, without waiting
    /// (`MSG_DONTWAIT`, on Linux, for both kinds); `WouldBlock` when it
    /// takes nothing. Elsewhere it takes nothing: `Ok(0)`.
    pub(crate) fn send_now(&self, bytes: &[u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            match self {
                Socket::Tcp(s) => socket2::SockRef::from(s).send_with_flags(bytes, flags),
                Socket::Unix(s) => socket2::SockRef::from(s).send_with_flags(bytes, flags),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = bytes;
            Ok(0)
        }
    }
}

/// std's address of a Unix socket as ours: its path, if it has one.
#[cfg(unix)]
pub(crate) fn unix_address(addr: &std::os::unix::net::SocketAddr) -> Address {
    Address::Unix(addr.as_pathname().map(std::path::Path::to_path_buf))
}

/// A zero timeout means "none" to callers but is an error to `std`.
fn nonzero(timeout: Duration) -> Duration {
    timeout.max(Duration::from_micros(1))
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write_vectored(bufs),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

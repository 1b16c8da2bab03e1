//! What the server accepts on: a TCP listener, or a Unix domain socket
//! bound to a path. Binding a path removes a stale socket file left by a
//! server that is gone, never a live one's or a file that is not a socket;
//! the file the server made is removed when its listener is dropped (at
//! `stop`).

use std::io;
use std::net::{TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::address::Address;
use crate::transport::Socket;
#[cfg(unix)]
use crate::transport::unix_address;

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix {
        listener: UnixListener,
        /// The socket file this server made, removed when dropped.
        #[expect(dead_code, reason = "held for its Drop, which removes the file")]
        made: Option<SocketFile>,
    },
}

impl Listener {
    /// The next connection and its peer's address (told by `accept`: no
    /// `getpeername` later).
    pub(crate) fn accept(&self) -> io::Result<(Socket, Address)> {
        match self {
            Listener::Tcp(listener) => listener
                .accept()
                .map(|(stream, peer)| (Socket::Tcp(stream), Address::Ip(peer))),
            #[cfg(unix)]
            Listener::Unix { listener, .. } => {
                let (stream, peer) = listener.accept()?;
                Ok((Socket::Unix(stream), unix_address(&peer)))
            }
        }
    }

    pub(crate) fn local_address(&self) -> io::Result<Address> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map(Address::Ip),
            #[cfg(unix)]
            Listener::Unix { listener, .. } => listener.local_addr().map(|a| unix_address(&a)),
        }
    }

    /// Set the `listen` backlog, which std does not.
    pub(crate) fn listen(&self, backlog: i32) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => socket2::SockRef::from(listener).listen(backlog),
            #[cfg(unix)]
            Listener::Unix { listener, .. } => socket2::SockRef::from(listener).listen(backlog),
        }
    }

    /// What `stop` uses to wake the accepting thread.
    pub(crate) fn waker(&self) -> io::Result<Waker> {
        match self {
            Listener::Tcp(listener) => Ok(Waker::Tcp(wake_addr(listener.local_addr()?))),
            #[cfg(unix)]
            Listener::Unix { listener, .. } => Ok(Waker::Unix(listener.try_clone()?)),
        }
    }
}

/// Wakes an accepting thread blocked in `accept`, so that it sees the
/// server is stopping.
#[derive(Debug)]
pub(crate) enum Waker {
    /// Connect to it.
    Tcp(std::net::SocketAddr),
    /// The listener itself (a second descriptor of it).
    #[cfg(unix)]
    Unix(UnixListener),
}

impl Waker {
    pub(crate) fn wake(&self) {
        match self {
            Waker::Tcp(addr) => {
                let _ = TcpStream::connect_timeout(addr, Duration::from_secs(1));
            }
            #[cfg(unix)]
            Waker::Unix(listener) => {
                // A connection of our own, as for TCP; if its file was
                // removed meanwhile (or it is unnamed), shutting the
                // listening socket down makes `accept` fail on Linux.
                let connected = listener
                    .local_addr()
                    .and_then(|addr| UnixStream::connect_addr(&addr));
                if connected.is_err() {
                    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (an unspecified address is reached on loopback).
fn wake_addr(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// A socket file this server bound, removed when dropped if it is still
/// the same file (not one a later server bound at the same path).
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    /// Device and inode, to know the file again.
    id: (u64, u64),
}

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        if file_id(&self.path).is_ok_and(|id| id == self.id) {
            if let Err(e) = std::fs::remove_file(&self.path) {
                log::warn!("could not remove {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Bind a Unix domain socket at `path`, first removing a stale socket file
/// there: one that nothing listens on (connecting to it is refused).
///
/// # Errors
/// `AddrInUse` if a server listens on `path`, or if `path` is a file that
/// is not a socket (never removed); the error of binding otherwise.
#[cfg(unix)]
pub(crate) fn bind_unix(path: &Path) -> io::Result<Listener> {
    remove_if_stale(path)?;
    let listener = UnixListener::bind(path)?;
    let made = Some(SocketFile {
        path: path.to_path_buf(),
        id: file_id(path)?,
    });
    Ok(Listener::Unix { listener, made })
}

/// Remove the socket file at `path` if no server listens on it.
#[cfg(unix)]
fn remove_if_stale(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server is listening on {}", path.display()),
        )),
        // Nobody listens: what is left of a server that is gone.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

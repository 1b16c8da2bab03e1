//! The byte stream under a connection: plain (TCP or a Unix domain
//! socket), or TLS over either (native-tls or rustls).
//!
//! A connection is used by one reading thread and any number of sending
//! threads at once, so the stream is held in two handles: the reader's and
//! the writer's. A plain stream shares one [`Socket`] (`Arc<Socket>`: one
//! file descriptor, read and write timeouts being separate socket
//! options), and the kernel lets one thread read while another writes.
//! For TLS both share one [`TlsTransport`] (native-tls) or
//! [`RustlsTransport`], each built for exactly that.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::address::Address;

pub(crate) mod head;
mod socket;
#[cfg(feature = "native-tls")]
mod tls;

pub use socket::Socket;
#[cfg(unix)]
pub(crate) use socket::unix_address;

#[cfg(feature = "rustls")]
pub(crate) mod rustls;
#[cfg(feature = "rustls")]
pub(crate) mod rustls_config;

#[cfg(feature = "rustls")]
pub(crate) use self::rustls::RustlsTransport;
#[cfg(feature = "native-tls")]
pub(crate) use tls::{Pipe, TlsTransport};

/// A connected stream.
#[derive(Debug)]
pub(crate) enum Transport {
    /// The socket itself (`ws://`, `ws+unix:`).
    Plain(Arc<Socket>),
    /// TLS over the socket (`wss://`).
    #[cfg(feature = "native-tls")]
    Tls(Arc<TlsTransport>),
    /// TLS through rustls (`wss://`).
    #[cfg(feature = "rustls")]
    Rustls(Arc<RustlsTransport>),
}

impl Transport {
    /// The socket under the stream.
    pub(crate) fn socket(&self) -> &Socket {
        match self {
            Transport::Plain(s) => s,
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => t.socket(),
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => t.socket(),
        }
    }

    /// A second handle on the same stream, for the other side of the
    /// connection. From now on the stream is shared between threads.
    pub(crate) fn share(&self) -> Transport {
        match self {
            Transport::Plain(s) => Transport::Plain(Arc::clone(s)),
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => {
                t.start_sharing();
                Transport::Tls(Arc::clone(t))
            }
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => {
                t.start_sharing();
                Transport::Rustls(Arc::clone(t))
            }
        }
    }

    /// True for TLS (either backend): bytes (its `close_notify`) may
    /// follow the peer's close frame.
    pub(crate) fn is_tls(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            #[cfg(feature = "native-tls")]
            Transport::Tls(_) => true,
            #[cfg(feature = "rustls")]
            Transport::Rustls(_) => true,
        }
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_write_timeout(timeout)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown(how),
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => t.shutdown(how),
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => t.shutdown(how),
        }
    }

    pub(crate) fn peer_address(&self) -> io::Result<Address> {
        self.socket().peer_address()
    }

    pub(crate) fn local_address(&self) -> io::Result<Address> {
        self.socket().local_address()
    }

    /// Append at most `max` bytes to `buf`, reading into its spare capacity
    /// without zero-filling it first (std reads a `TcpStream` straight into
    /// uninitialised memory; so does a `UnixStream`). Blocks until `max` bytes arrived, the stream
    /// ended or an error (a timeout included) occurred; the bytes appended
    /// are kept in every case, and their count returned with the outcome.
    /// An end of stream before `max` bytes is `UnexpectedEof`.
    ///
    /// (Out of line: the reader's small reads would otherwise carry its
    /// stack frame.)
    #[inline(never)]
    pub(crate) fn read_append(&self, buf: &mut Vec<u8>, max: usize) -> (usize, io::Result<()>) {
        let before = buf.len();
        // The caller made room for `max` bytes: reading them never grows
        // the buffer (its growth is the receiver's, by what arrived).
        debug_assert!(buf.capacity() - before >= max);
        let capacity = buf.capacity();
        let result = match self {
            Transport::Plain(s) => s.read_to_end_at_most(buf, max),
            #[cfg(feature = "native-tls")]
            Transport::Tls(_) => Read::take(self, max as u64).read_to_end(buf),
            #[cfg(feature = "rustls")]
            Transport::Rustls(_) => Read::take(self, max as u64).read_to_end(buf),
        };
        let n = buf.len() - before;
        debug_assert_eq!(buf.capacity(), capacity, "read_to_end grew the buffer");
        let result = match result {
            Ok(_) if n < max => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        (n, result)
    }
}

impl Transport {
    /// Write what the socket takes of `bytes` right now, without waiting
    /// (a send with `MSG_DONTWAIT`), and say how much that was: 0 when it
    /// takes nothing. Only a plain socket (TCP or Unix) on Linux can;
    /// elsewhere, and for TLS, this takes nothing, and callers go on to
    /// their usual, waiting path.
    pub(crate) fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let taken = match self {
            Transport::Plain(s) => s.send_now(bytes),
            #[cfg(feature = "native-tls")]
            Transport::Tls(_) => Ok(0),
            #[cfg(feature = "rustls")]
            Transport::Rustls(_) => Ok(0),
        };
        match taken {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            taken => taken,
        }
    }
}

impl Read for &Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => (&**s).read(buf),
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => t.read(buf),
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => t.read(buf),
        }
    }
}

impl Write for &Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => (&**s).write(buf),
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => t.write(buf),
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => t.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => (&**s).write_vectored(bufs),
            #[cfg(feature = "native-tls")]
            Transport::Tls(t) => {
                // One record per slice would be wasteful for small ones;
                // TLS copies anyway, so join what is small.
                match bufs.iter().find(|b| !b.is_empty()) {
                    Some(first) => t.write(first),
                    None => Ok(0),
                }
            }
            #[cfg(feature = "rustls")]
            Transport::Rustls(t) => match bufs.iter().find(|b| !b.is_empty()) {
                Some(first) => t.write(first),
                None => Ok(0),
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

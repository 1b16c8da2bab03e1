//! TLS under a connection, keeping full duplex.
//!
//! A `native_tls::TlsStream` is one object: reading and writing both need
//! `&mut` to it, so it cannot be split between a reading thread and sending
//! threads, and a lock around it held during a blocking read would stop
//! every sender. So the TLS stream never touches the socket once the
//! connection is open: it sits on a [`Pipe`] of in-memory buffers.
//!
//! - The reader waits for ciphertext on the socket **without any lock**,
//!   then takes the TLS lock only to hand the bytes over and decrypt what
//!   can be decrypted.
//! - A sender (the writer's flusher) takes the TLS lock only to encrypt into
//!   the pipe, then writes the ciphertext to the socket holding the
//!   `socket_write` lock, which orders ciphertext on the wire and is only
//!   ever waited for by writers.
//! - Decrypting can produce ciphertext to send (an alert, a key update). The
//!   reader flushes it only if no one is writing (`try_lock`); otherwise the
//!   writer holding `socket_write` sends it after its own bytes. The reader
//!   never waits for a writer.
//!
//! During the opening handshakes (TLS, then HTTP) the connection has one
//! thread, and the pipe reads and writes the socket directly.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use native_tls::TlsStream;

use crate::transport::Socket;

/// Ciphertext read from the socket per system call.
const RAW_READ: usize = 16 << 10;
/// Plaintext encrypted per step of a large write: the ciphertext buffer
/// stays this small and is reused, instead of growing to the message size.
const ENCRYPT_STEP: usize = 64 << 10;

/// The stream under the TLS stream: the socket (TCP or Unix), or memory.
#[derive(Debug)]
pub(crate) struct Pipe {
    socket: Arc<Socket>,
    /// Before the connection is shared: read and write the socket itself.
    direct: bool,
    /// While direct (the handshakes), when every read and write must be
    /// done: the socket's timeout is set to the time left before each, so
    /// that a peer sending a byte at a time cannot stretch the handshake
    /// (a socket timeout alone starts over with every byte).
    deadline: Option<Instant>,
    /// Ciphertext received and not yet consumed by TLS.
    incoming: Vec<u8>,
    consumed: usize,
    /// Ciphertext produced by TLS and not yet sent.
    outgoing: Vec<u8>,
}

impl Pipe {
    /// A pipe on `socket` whose handshakes must be done by `deadline`.
    pub(crate) fn new(socket: Arc<Socket>, deadline: Option<Instant>) -> Pipe {
        Pipe {
            socket,
            direct: true,
            deadline,
            incoming: Vec::new(),
            consumed: 0,
            outgoing: Vec::new(),
        }
    }

    /// Before a direct read or write: the time left until the deadline,
    /// set as the socket's timeout by `set`; `WouldBlock` (what a socket
    /// timeout gives, and what TLS takes for "not done in time") once it
    /// has passed.
    fn arm(&self, set: impl FnOnce(&Socket, Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        set(&self.socket, Some(left))
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.direct {
            self.arm(Socket::set_read_timeout)?;
            return (&*self.socket).read(buf);
        }
        let available = &self.incoming[self.consumed..];
        if available.is_empty() {
            // Tells TLS to wait for more; the reader fetches it unlocked.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consumed += n;
        if self.consumed == self.incoming.len() {
            self.incoming.clear();
            self.consumed = 0;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.direct {
            self.arm(Socket::set_write_timeout)?;
            return (&*self.socket).write(buf);
        }
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.direct {
            return (&*self.socket).flush();
        }
        Ok(())
    }
}

/// A TLS connection shared by one reader and the writers.
pub(crate) struct TlsTransport {
    /// The socket: raw reads, timeouts, shutdown.
    socket: Arc<Socket>,
    state: Mutex<TlsStream<Pipe>>,
    /// Held while ciphertext goes onto the socket, so records keep their
    /// order. Only writers wait for it. It keeps the buffer ciphertext is
    /// swapped into, reused from write to write.
    socket_write: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl TlsTransport {
    pub(crate) fn new(stream: TlsStream<Pipe>) -> TlsTransport {
        let socket = Arc::clone(&stream.get_ref().socket);
        TlsTransport {
            socket,
            state: Mutex::new(stream),
            socket_write: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    fn tls(&self) -> MutexGuard<'_, TlsStream<Pipe>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on other threads share the connection: stop using the
    /// socket from inside TLS.
    pub(crate) fn start_sharing(&self) {
        self.tls().get_mut().direct = false;
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut tls = self.tls();
                if tls.get_ref().direct {
                    return tls.read(buf);
                }
                let result = tls.read(buf);
                let produced = !tls.get_ref().outgoing.is_empty();
                drop(tls);
                if produced {
                    self.flush_if_free();
                }
                match result {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
            }
            // TLS consumed all the ciphertext it had (or it would not ask
            // for more): the reader takes the pipe's empty buffer, fills it
            // from the socket with no lock held (senders go on), and puts it
            // back. Only the reader ever touches `incoming` once shared.
            let mut raw = std::mem::take(&mut self.tls().get_mut().incoming);
            raw.resize(RAW_READ, 0);
            let read = loop {
                match (&*self.socket).read(&mut raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            raw.truncate(*read.as_ref().unwrap_or(&0));
            let mut tls = self.tls();
            let pipe = tls.get_mut();
            pipe.incoming = raw;
            pipe.consumed = 0;
            drop(tls);
            if read? == 0 {
                return Ok(0);
            }
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut ciphertext = self.socket_write.lock().unwrap_or_else(|e| e.into_inner());
        for plaintext in buf.chunks(ENCRYPT_STEP) {
            {
                let mut tls = self.tls();
                if tls.get_ref().direct {
                    return tls.write(buf);
                }
                tls.write_all(plaintext)?;
                ciphertext.clear();
                std::mem::swap(&mut *ciphertext, &mut tls.get_mut().outgoing);
            }
            (&*self.socket).write_all(&ciphertext)?;
        }
        self.send_produced(&mut ciphertext)?;
        drop(ciphertext);
        // The reader may have produced ciphertext after our last look and
        // found the lock taken: look once more now that it is free.
        self.flush_if_free();
        Ok(buf.len())
    }

    /// Send ciphertext waiting in the pipe; called holding `socket_write`,
    /// whose buffer is `spare`.
    fn send_produced(&self, spare: &mut Vec<u8>) -> io::Result<()> {
        loop {
            spare.clear();
            std::mem::swap(spare, &mut self.tls().get_mut().outgoing);
            if spare.is_empty() {
                return Ok(());
            }
            (&*self.socket).write_all(spare)?;
        }
    }

    /// Send waiting ciphertext unless a writer is busy (it will).
    fn flush_if_free(&self) {
        if let Ok(mut spare) = self.socket_write.try_lock() {
            let _ = self.send_produced(&mut spare);
        }
    }

    /// Say goodbye at the TLS level (close_notify), then shut the socket.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            if let Ok(mut spare) = self.socket_write.try_lock() {
                let mut tls = self.tls();
                if !tls.get_ref().direct {
                    let _ = tls.shutdown();
                }
                drop(tls);
                let _ = self.send_produced(&mut spare);
            }
        }
        self.socket.shutdown(how)
    }
}

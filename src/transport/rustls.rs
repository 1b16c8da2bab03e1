//! TLS through rustls under a connection, keeping full duplex.
//!
//! A `rustls::Connection` does no I/O of its own: ciphertext goes in with
//! `read_tls` and `process_new_packets`, plaintext comes out of `reader`,
//! plaintext goes in through `writer` and ciphertext out with `write_tls`.
//! So, as for native-tls (`tls.rs`), the connection sits under one lock
//! that is never held while waiting for the network:
//!
//! - The reader waits for ciphertext on the socket **without any lock**,
//!   then takes the TLS lock only to hand the bytes over, decrypt them and
//!   take the plaintext.
//! - A sender (the writer's flusher) takes the TLS lock only to encrypt,
//!   then writes the ciphertext to the socket holding `socket_write`,
//!   which orders records on the wire and is only ever waited for by
//!   writers.
//! - Decrypting can produce ciphertext to send (an alert, the answer to a
//!   key update). The reader sends it only if no one is writing
//!   (`try_lock`); otherwise the writer holding `socket_write` sends it
//!   after its own bytes. The reader never waits for a writer.
//!
//! Ciphertext leaves the rustls connection only in the hands of a thread
//! that holds `socket_write`, and goes onto the socket before that thread
//! lets go: records reach the wire in the order rustls made them (after
//! a key update, no record under the new key can overtake the message
//! that announces it).
//!
//! The TLS handshake ([`handshake`]) and the HTTP handshake after it run on
//! one thread, before the connection is shared; until then every read and
//! write of the socket is given the time left before the handshake
//! deadline as its timeout, so that a peer sending a byte at a time cannot
//! stretch the handshake (a socket timeout alone starts over with every
//! byte).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::Connection;

use crate::error::{Error, TlsError};
use crate::transport::Socket;
use crate::transport::head::handshake_io;

/// Ciphertext read from the socket per system call.
const RAW_READ: usize = 16 << 10;
/// Plaintext encrypted per step of a large write: the ciphertext buffer
/// stays this small and is reused, instead of growing to the message size.
const ENCRYPT_STEP: usize = 64 << 10;

/// What the TLS lock guards.
struct State {
    connection: Connection,
    /// Ciphertext read and not yet handed to rustls. Its buffer is taken
    /// out (and the lock let go) while the socket fills it, once empty.
    incoming: Ciphertext,
    /// Until the connection is shared: when the handshakes must be done.
    /// Each socket read and write is then bounded by the time left.
    handshake_deadline: Option<Instant>,
    /// The connection is shared between threads (the handshakes are over).
    shared: bool,
}

impl State {
    /// The deadline of the next socket operation, if one applies.
    fn deadline(&self) -> Option<Instant> {
        if self.shared {
            None
        } else {
            self.handshake_deadline
        }
    }
}

/// A rustls connection shared by one reader and the writers.
pub(crate) struct RustlsTransport {
    /// The socket: raw reads, timeouts, shutdown.
    socket: Arc<Socket>,
    state: Mutex<State>,
    /// Held while ciphertext goes onto the socket, so records keep their
    /// order. Only writers wait for it. It keeps the buffer ciphertext is
    /// encrypted into, reused from write to write.
    socket_write: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for RustlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsTransport")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// Set the socket's timeout (by `set`) to the time left before
/// `deadline`; `WouldBlock` (what a socket timeout gives) once it has
/// passed. Nothing without a deadline.
fn arm(
    socket: &Socket,
    deadline: Option<Instant>,
    set: impl FnOnce(&Socket, Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let Some(deadline) = deadline else {
        return Ok(());
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    set(socket, Some(left))
}

/// Ciphertext read from the socket, handed to rustls as it has room.
///
/// rustls refuses ciphertext while it holds more than 16 KiB of plaintext
/// not yet taken, and one socket read may complete several records: so
/// it is fed until plaintext comes out, and the rest waits here until
/// that plaintext has been taken.
#[derive(Default)]
struct Ciphertext {
    bytes: Vec<u8>,
    consumed: usize,
}

impl Ciphertext {
    fn is_empty(&self) -> bool {
        self.consumed == self.bytes.len()
    }

    /// Hand ciphertext to rustls and decrypt what it completes, until
    /// plaintext comes out or none is left. A TLS failure comes back as
    /// rustls's error; rustls has then queued an alert for the peer.
    fn feed(&mut self, connection: &mut Connection) -> Result<(), FeedError> {
        while !self.is_empty() {
            let mut rest = &self.bytes[self.consumed..];
            let taken = connection.read_tls(&mut rest).map_err(FeedError::Io)?;
            if taken == 0 {
                // After the peer's close_notify: nothing more is read.
                self.consumed = self.bytes.len();
                break;
            }
            self.consumed += taken;
            let state = connection.process_new_packets().map_err(FeedError::Tls)?;
            if state.plaintext_bytes_to_read() > 0 {
                break;
            }
        }
        if self.is_empty() {
            self.bytes.clear();
            self.consumed = 0;
        }
        Ok(())
    }
}

/// Tell rustls that the TCP stream ended, and let it look at what it has.
fn feed_end(connection: &mut Connection) -> Result<(), FeedError> {
    connection
        .read_tls(&mut io::empty())
        .map_err(FeedError::Io)?;
    connection.process_new_packets().map_err(FeedError::Tls)?;
    Ok(())
}

/// Why ciphertext could not be taken.
enum FeedError {
    /// rustls could not buffer it.
    Io(io::Error),
    /// It broke TLS (an alert is queued for the peer).
    Tls(rustls::Error),
}

impl From<FeedError> for io::Error {
    fn from(e: FeedError) -> io::Error {
        match e {
            FeedError::Io(e) => e,
            FeedError::Tls(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Perform the TLS handshake of `connection` (a client's or a server's)
/// on `socket`, all of it by `deadline`.
///
/// # Errors
/// [`Error::Timeout`] with `Timeout::Handshake` when the deadline passes;
/// [`Error::Tls`] when rustls fails the handshake (its alert is sent,
/// within the deadline, if the socket takes it); [`Error::Io`] when the
/// socket fails or the peer hangs up.
pub(crate) fn handshake(
    mut connection: Connection,
    socket: Arc<Socket>,
    deadline: Option<Instant>,
) -> Result<RustlsTransport, Error> {
    let mut incoming = Ciphertext::default();
    loop {
        while connection.wants_write() {
            arm(&socket, deadline, Socket::set_write_timeout).map_err(handshake_io)?;
            connection.write_tls(&mut &*socket).map_err(handshake_io)?;
        }
        if !connection.is_handshaking() {
            break;
        }
        if incoming.is_empty() {
            if !connection.wants_read() {
                // rustls neither sends nor waits while handshaking: not
                // expected of it, and a loop here would spin.
                return Err(Error::Io(io::Error::other(
                    "the TLS handshake stalled: nothing to send and nothing awaited",
                )));
            }
            arm(&socket, deadline, Socket::set_read_timeout).map_err(handshake_io)?;
            incoming.bytes.resize(RAW_READ, 0);
            let read = (&*socket).read(&mut incoming.bytes);
            incoming.bytes.truncate(*read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection ended during the TLS handshake",
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(handshake_io(e)),
            }
        }
        match incoming.feed(&mut connection) {
            Ok(()) => {}
            Err(FeedError::Io(e)) => return Err(handshake_io(e)),
            Err(FeedError::Tls(e)) => {
                // Tell the peer why (the alert rustls queued), if the
                // socket takes it in the time left.
                while connection.wants_write() {
                    if arm(&socket, deadline, Socket::set_write_timeout).is_err()
                        || connection.write_tls(&mut &*socket).is_err()
                    {
                        break;
                    }
                }
                return Err(Error::Tls(TlsError::from(e)));
            }
        }
    }
    // What followed the handshake in the last read (the first request,
    // the 101 response) stays in `incoming` for the first read.
    Ok(RustlsTransport {
        socket: Arc::clone(&socket),
        state: Mutex::new(State {
            connection,
            incoming,
            handshake_deadline: deadline,
            shared: false,
        }),
        socket_write: Mutex::new(Vec::new()),
    })
}

impl RustlsTransport {
    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn socket_write(&self) -> MutexGuard<'_, Vec<u8>> {
        self.socket_write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on other threads share the connection: the handshake
    /// deadline no longer applies (the connection sets its own timeouts).
    pub(crate) fn start_sharing(&self) {
        self.state().shared = true;
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (mut raw, deadline) = {
                let mut state = self.state();
                match state.connection.reader().read(buf) {
                    // 0: the peer's close_notify, the end of the stream.
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The TCP stream ended without a close_notify. The
                    // WebSocket's own framing and close frame tell a
                    // truncated stream from a finished one (RFC 6455 §7.1.1
                    // lets the TCP connection end first), so this is an
                    // end of stream like any other.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                if !state.incoming.is_empty() {
                    // Ciphertext already read waits for rustls to have
                    // room: no need for the socket yet.
                    let locked = &mut *state;
                    let fed = locked.incoming.feed(&mut locked.connection);
                    let produced = locked.connection.wants_write();
                    drop(state);
                    if produced {
                        self.flush_if_free();
                    }
                    fed?;
                    continue;
                }
                // All plaintext is taken: the reader takes the buffer,
                // fills it from the socket with no lock held (senders go
                // on), and hands it back. Only the reader touches it.
                (std::mem::take(&mut state.incoming.bytes), state.deadline())
            };
            raw.resize(RAW_READ, 0);
            let read = loop {
                if let Err(e) = arm(&self.socket, deadline, Socket::set_read_timeout) {
                    break Err(e);
                }
                match (&*self.socket).read(&mut raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            raw.truncate(*read.as_ref().unwrap_or(&0));
            let mut state = self.state();
            let locked = &mut *state;
            locked.incoming = Ciphertext {
                bytes: raw,
                consumed: 0,
            };
            let fed = match read {
                Ok(0) => feed_end(&mut locked.connection),
                Ok(_) => locked.incoming.feed(&mut locked.connection),
                // A timeout or a failure: nothing arrived, nothing is lost.
                Err(_) => Ok(()),
            };
            let produced = locked.connection.wants_write();
            drop(state);
            if produced {
                self.flush_if_free();
            }
            read?;
            // At the end of the stream, rustls answers the next look with
            // it (with or without close_notify).
            fed?;
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut ciphertext = self.socket_write();
        for mut plaintext in buf.chunks(ENCRYPT_STEP) {
            let deadline = {
                let mut state = self.state();
                ciphertext.clear();
                while !plaintext.is_empty() {
                    // rustls takes only as much as its own send buffer
                    // has room for: take the ciphertext out each time.
                    let n = state.connection.writer().write(plaintext)?;
                    plaintext = &plaintext[n..];
                    let had_ciphertext = state.connection.wants_write();
                    while state.connection.wants_write() {
                        state.connection.write_tls(&mut *ciphertext)?;
                    }
                    if n == 0 && !had_ciphertext {
                        // Nothing taken though its send buffer was empty:
                        // the connection no longer sends.
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                state.deadline()
            };
            self.write_socket(&ciphertext, deadline)?;
        }
        self.send_produced(&mut ciphertext)?;
        drop(ciphertext);
        // The reader may have produced ciphertext after our last look and
        // found the lock taken: look once more now that it is free.
        self.flush_if_free();
        Ok(buf.len())
    }

    /// Write all of `ciphertext` to the socket; called holding
    /// `socket_write`.
    fn write_socket(&self, mut ciphertext: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        if deadline.is_none() {
            return (&*self.socket).write_all(ciphertext);
        }
        // During the handshakes: the time left before each write (the
        // kernel starts a write timeout over with every write).
        while !ciphertext.is_empty() {
            arm(&self.socket, deadline, Socket::set_write_timeout)?;
            match (&*self.socket).write(ciphertext) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => ciphertext = &ciphertext[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Send ciphertext waiting in the rustls connection; called holding
    /// `socket_write`, whose buffer is `spare`.
    fn send_produced(&self, spare: &mut Vec<u8>) -> io::Result<()> {
        loop {
            spare.clear();
            let deadline = {
                let mut state = self.state();
                while state.connection.wants_write() {
                    state.connection.write_tls(&mut *spare)?;
                }
                state.deadline()
            };
            if spare.is_empty() {
                return Ok(());
            }
            self.write_socket(spare, deadline)?;
        }
    }

    /// Send waiting ciphertext unless a writer is busy (it will).
    fn flush_if_free(&self) {
        if let Ok(mut spare) = self.socket_write.try_lock() {
            let _ = self.send_produced(&mut spare);
        }
    }

    /// Say goodbye at the TLS level (close_notify), then shut the socket.
    /// A writer busy on the socket gets no close_notify after its bytes:
    /// the socket is shut under it, as over plain TCP.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            if let Ok(mut spare) = self.socket_write.try_lock() {
                self.state().connection.send_close_notify();
                let _ = self.send_produced(&mut spare);
            }
        }
        self.socket.shutdown(how)
    }
}

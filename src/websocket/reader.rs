//! The reading side of a `WebSocket`: the loop that moves bytes from the
//! socket into the core's [`Receiver`](crate::protocol::receiver::Receiver),
//! wakes for the core's deadlines, and carries out what the core decides
//! when a control frame arrives or the connection ends. It decides nothing
//! itself: a ping's pong, the close reply, the failure's close code and
//! how to close the TCP connection all come from the session.
//!
//! This runs for every message received, so what is rare (held replies,
//! deadlines, socket timeouts, errors, the end) is out of line: the common
//! read is a few tests, one system call and the receiver's bookkeeping.

use std::io::{self, Read};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Timeout, is_timeout_kind};
use crate::protocol;
use crate::protocol::message::{CloseFrame, Message, MessageRef};
use crate::protocol::receiver::{Event, ReadTarget, Received};
use crate::protocol::session::{Failure, LINGER_MAX_BYTES, State, TcpClose};
use crate::protocol::timers::Wake;
use crate::websocket::{Sender, WebSocket};

/// How many reads may go by under a socket timeout that no deadline wants
/// before it is taken off (see `WebSocket::lower_socket_timeout`).
pub(super) const STALE_TIMEOUT_READS: u8 = 8;

/// A message read, as [`WebSocket::read_with`] hands it on.
pub(super) enum Delivery<'a> {
    /// Lent from the read buffer, where it arrived whole.
    Lent(MessageRef<'a>),
    /// Assembled from fragments, or read straight into its own buffer.
    Owned(Message),
}

/// Why a read did not deliver bytes.
enum ReadError {
    /// What arrived broke the protocol or a limit.
    Peer(protocol::Error),
    /// The stream failed or ended, or a deadline passed.
    Stream(Error),
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Stream(e)
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Stream(Error::Io(e))
    }
}

impl WebSocket {
    /// Block until a whole message has arrived and hand it to `take`: lent
    /// from the read buffer if it lies there whole, owned otherwise. With
    /// `hold_replies`, if more input is already buffered behind it, this
    /// thread's sends are held until the next read that may block (see
    /// [`run_with`](Self::run_with)).
    pub(super) fn read_with<T>(
        &mut self,
        hold_replies: bool,
        take: impl FnOnce(Delivery<'_>) -> T,
    ) -> Result<T> {
        if self.inner.receiver.is_finished() {
            return Err(Error::AlreadyClosed);
        }
        let read_deadline = self.inner.timers.read_timeout.map(|t| Instant::now() + t);
        loop {
            match self.inner.receiver.next_received() {
                Ok(Some(Received::InBuffer {
                    message,
                    more_buffered,
                })) => {
                    if hold_replies && more_buffered {
                        hold(&mut self.inner.holding, &self.inner.sender);
                    }
                    return Ok(take(Delivery::Lent(message)));
                }
                Ok(Some(Received::Event(Event::Message(message)))) => {
                    if hold_replies && self.inner.receiver.has_buffered_bytes() {
                        hold(&mut self.inner.holding, &self.inner.sender);
                    }
                    return Ok(take(Delivery::Owned(message)));
                }
                Ok(None) => {
                    if let Err(e) = self.fill(read_deadline) {
                        return Err(self.read_failed(e));
                    }
                }
                Ok(Some(Received::Event(event))) => {
                    if let Some(e) = self.control_event(event) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Carry out what the session decides for a control frame; `Some` if
    /// it ends the connection. (Kept out of `read_with`, whose stack frame
    /// every message crosses.)
    #[cold]
    #[inline(never)]
    fn control_event(&mut self, event: Event) -> Option<Error> {
        match event {
            // The pong is written now, or by the thread that is writing:
            // the reader never waits behind another sender's write.
            Event::Ping(payload) => match self.writer().ping_received(&payload) {
                Ok(()) | Err(Error::AlreadyClosed) => None,
                Err(e) => Some(self.end_with(e)),
            },
            Event::Close(frame) => Some(self.peer_closed(frame)),
            Event::Pong(_) | Event::Message(_) => None,
        }
    }

    /// A read that did not complete: a read timeout leaves the connection
    /// as it is, anything else ends it.
    #[cold]
    #[inline(never)]
    fn read_failed(&mut self, error: ReadError) -> Error {
        match error {
            ReadError::Stream(Error::Timeout(Timeout::Read)) => Error::Timeout(Timeout::Read),
            ReadError::Peer(e) => self.fail(e),
            ReadError::Stream(e) => self.end_with(e),
        }
    }

    /// Read the next bytes where the receiver wants them, waking up for
    /// the deadlines of the timers on the way.
    fn fill(&mut self, read_deadline: Option<Instant>) -> Result<(), ReadError> {
        if self.inner.holding {
            self.release_held()?;
        }
        // The socket's timeout fired without a deadline of ours being due.
        let mut woke_early = false;
        #[cfg(feature = "deflate")]
        if self.inner.receiver.inflate_has_context()
            && !self
                .inner
                .timers
                .hibernation_scheduled_for(self.inner.receiver.compressed_messages())
        {
            self.schedule_hibernation();
        }
        loop {
            // A socket timeout set with no deadline running is stale, and
            // `prepare_wait` counts it down.
            if self.inner.socket_timeout.is_some()
                || self
                    .inner
                    .timers
                    .any_deadline(read_deadline, self.writer().close_sent_at())
            {
                self.prepare_wait(read_deadline, woke_early)?;
            }
            let (n, result) = match self.inner.receiver.read_target() {
                ReadTarget::Buffer(buf) => match (&self.inner.reader).read(buf) {
                    Ok(0) => (0, Err(io::ErrorKind::UnexpectedEof.into())),
                    Ok(n) => (n, Ok(())),
                    Err(e) => (0, Err(e)),
                },
                ReadTarget::Message { buf, max } => self.inner.reader.read_append(buf, max),
            };
            if n > 0 {
                if self.inner.timers.wants_arrivals() {
                    self.inner.timers.received(Instant::now());
                }
                self.inner.receiver.filled(n).map_err(ReadError::Peer)?;
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if !self.read_interrupted(e, n, &mut woke_early)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The decompressor holds a zlib context and a compressed message
    /// arrived since the look was set: look the idle time from now (one
    /// clock read per message that arrives before a wait, none per read). (The compressor, which other threads use,
    /// is looked after by `hibernation.rs`.)
    #[cfg(feature = "deflate")]
    #[cold]
    #[inline(never)]
    fn schedule_hibernation(&mut self) {
        let seen = self.inner.receiver.compressed_messages();
        self.inner
            .timers
            .schedule_hibernation(Instant::now(), self.inner.hibernate_after, seen);
    }

    /// The look at the decompressor's hibernation is due at `now`.
    #[cold]
    #[inline(never)]
    fn hibernation_woke(&mut self, now: Instant) {
        #[cfg(feature = "deflate")]
        {
            let seen = self.inner.receiver.compressed_messages();
            let after = self.inner.hibernate_after;
            if self.inner.timers.hibernation_woke(now, after, seen)
                && self.inner.receiver.hibernate_inflate()
            {
                super::hibernation::freed();
                // Compressing (an echo's) went deep; this is near the top.
                crate::stack::give_back_below_caller();
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = now;
    }

    /// About to wait for the peer: what `run_with` held goes out now.
    #[cold]
    #[inline(never)]
    fn release_held(&mut self) -> Result<()> {
        self.inner.holding = false;
        self.writer().release()
    }

    /// Before a read that may block: act on the deadlines that are due
    /// (keep-alive ping, timeouts) and set the socket's read timeout for the
    /// next one.
    #[cold]
    #[inline(never)]
    fn prepare_wait(&mut self, read_deadline: Option<Instant>, woke_early: bool) -> Result<()> {
        loop {
            let close_sent_at = self.writer().close_sent_at();
            let now = Instant::now();
            match self.inner.timers.next(now, read_deadline, close_sent_at) {
                Wake::Sleep(timeout) => return self.lower_socket_timeout(timeout, woke_early),
                Wake::Ping => {
                    self.writer().send_keep_alive_ping()?;
                    self.inner.timers.ping_sent(now);
                }
                Wake::ReadTimeout => return Err(Error::Timeout(Timeout::Read)),
                Wake::PongOverdue => return Err(Error::Timeout(Timeout::PongOverdue)),
                Wake::CloseOverdue => return Err(Error::Timeout(Timeout::CloseOverdue)),
                Wake::Hibernate => self.hibernation_woke(now),
            }
        }
    }

    /// A read that ended with `error` after `n` bytes: `Ok(true)` to read
    /// again (interrupted, or woken by the socket's timeout for one of our
    /// deadlines), `Ok(false)` if the bytes read are enough for now.
    #[cold]
    #[inline(never)]
    fn read_interrupted(
        &mut self,
        error: io::Error,
        n: usize,
        woke_early: &mut bool,
    ) -> Result<bool, ReadError> {
        if error.kind() == io::ErrorKind::Interrupted {
            return Ok(true);
        }
        if !is_timeout_kind(error.kind()) {
            return Err(error.into());
        }
        if n == 0 {
            // The socket woke us for one of our deadlines: look again.
            *woke_early = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Make the socket's read timeout no later than `timeout`. A timeout on
    /// the socket where none is wanted (the one left by the handshake)
    /// costs an early wake-up once, and a kernel timer armed and cancelled
    /// on every read that blocks; taking it off costs a system call. So it
    /// is taken off once it has fired, or after [`STALE_TIMEOUT_READS`]
    /// reads: a short connection never pays for the system call, a long
    /// one stops paying for the timers.
    fn lower_socket_timeout(&mut self, timeout: Option<Duration>, woke_early: bool) -> Result<()> {
        let lower = match (self.inner.socket_timeout, timeout) {
            (None, None) => false,
            (Some(_), None) => {
                self.inner.reads_under_stale_timeout =
                    self.inner.reads_under_stale_timeout.saturating_add(1);
                woke_early || self.inner.reads_under_stale_timeout > STALE_TIMEOUT_READS
            }
            (None, Some(_)) => true,
            (Some(current), Some(wanted)) => wanted < current,
        };
        if lower {
            // The wait may end up a little longer than asked: the kernel
            // rounds up to its tick.
            let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
            self.inner.reader.set_read_timeout(timeout)?;
            self.inner.socket_timeout = timeout;
            self.inner.reads_under_stale_timeout = 0;
        }
        Ok(())
    }

    /// The peer's close frame arrived: the session answers it, then the
    /// TCP connection is closed as it says.
    #[cold]
    #[inline(never)]
    fn peer_closed(&mut self, frame: Option<CloseFrame>) -> Error {
        let frame = self.writer().close_received(frame);
        self.linger();
        Error::Closed(frame)
    }

    /// The peer broke the protocol or a limit: fail the connection (§7.1.7)
    /// with the close code the session chooses, then close the TCP
    /// connection as it says.
    #[cold]
    #[inline(never)]
    pub(super) fn fail(&mut self, error: protocol::Error) -> Error {
        self.writer().fail(Failure::Protocol(error.clone()));
        self.linger();
        error.into()
    }

    /// The stream failed or ended, or the peer's answer is overdue:
    /// nothing more can be read or sent, and the TCP connection is closed
    /// at once. The error returned is the one that ended the connection:
    /// this one, or the failure another thread met first (a write that
    /// timed out shuts the socket down, and this reader then sees the end
    /// of the stream).
    #[cold]
    #[inline(never)]
    fn end_with(&mut self, error: Error) -> Error {
        self.inner.receiver.finish();
        let failure = match &error {
            Error::Timeout(timeout) => Failure::Timeout(*timeout),
            other => Failure::Transport(other.to_string()),
        };
        let first = self.writer().fail(failure);
        let _ = self.inner.reader.shutdown(Shutdown::Both);
        if first {
            return error;
        }
        match self.writer().state() {
            State::Failed(Failure::Timeout(timeout)) => Error::Timeout(timeout),
            State::Failed(Failure::Protocol(e)) => e.into(),
            _ => error,
        }
    }

    /// Close the TCP connection the way the session says (RFC 6455
    /// §7.1.1), once the close frames have been exchanged or the connection
    /// failed with a close frame: first let our last bytes go out, then
    /// shut down, drain or close, all within the close timeout.
    fn linger(&mut self) {
        self.inner.receiver.finish();
        let deadline = self.inner.timers.close_deadline(Instant::now());
        let written = self.writer().wait_written(deadline);
        let unread = self.inner.receiver.has_buffered_bytes();
        match self.writer().tcp_close(written, unread) {
            Some(TcpClose::ShutdownWrite) => {
                let _ = self.inner.reader.shutdown(Shutdown::Write);
            }
            Some(TcpClose::ShutdownWriteThenDrain) => {
                let _ = self.inner.reader.shutdown(Shutdown::Write);
                // A server that saw the peer's end has nothing left to
                // close; the descriptor is released when dropped.
                if !self.drain(deadline) {
                    let _ = self.inner.reader.shutdown(Shutdown::Both);
                }
            }
            Some(TcpClose::DrainThenClose) => {
                self.drain(deadline);
                let _ = self.inner.reader.shutdown(Shutdown::Both);
            }
            Some(TcpClose::Now) | None => {
                let _ = self.inner.reader.shutdown(Shutdown::Both);
            }
        }
    }

    /// Read and drop input until the peer ends its side of the stream, by
    /// `deadline` and for at most [`LINGER_MAX_BYTES`]; true if it did.
    /// (The socket's timeout is set again only when bytes keep coming.)
    fn drain(&mut self, deadline: Instant) -> bool {
        let mut sink = [0u8; 1024];
        let mut wait = true;
        let mut drained = 0u64;
        loop {
            if drained > LINGER_MAX_BYTES {
                return false;
            }
            if wait {
                let now = Instant::now();
                if now >= deadline
                    || self
                        .inner
                        .reader
                        .set_read_timeout(Some(deadline - now))
                        .is_err()
                {
                    return false;
                }
            }
            match (&self.inner.reader).read(&mut sink) {
                Ok(0) => return true,
                Ok(n) => {
                    drained += n as u64;
                    wait = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => wait = false,
                Err(_) => return false,
            }
        }
    }
}

/// More input is buffered behind the message being handed to `run_with`'s
/// handler: hold this thread's sends until the next read that may block.
/// (Takes the two fields, not the connection, because the message may be
/// lent from the connection's receiver.)
fn hold(holding: &mut bool, sender: &Sender) {
    if !*holding {
        *holding = true;
        sender.writer.hold();
    }
}

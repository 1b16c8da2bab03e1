//! The state of a connection and every decision on it, sans I/O: what may
//! still be sent, how a ping and a close frame are answered, how a failure
//! ends the connection, and who closes the TCP connection (RFC 6455 §7).
//!
//! ```text
//!                 send_close                       close_received
//!   ┌──────┐  ───────────────────▶ ┌─────────┐ ─────────────────────┐
//!   │ Open │                        │ Closing │                      ▼
//!   └──────┘  ─────────────────────────────────────────────────▶ ┌────────┐
//!     │  │        close_received: the reply is queued             │ Closed │
//!     │  │                                                        └────────┘
//!     │  └─ ping_received: a pong is queued (Open only)
//!     └──── fail (from Open or Closing) ───────────────────────▶ ┌────────┐
//!                                                                 │ Failed │
//!                                                                 └────────┘
//! ```
//!
//! A [`Session`] holds the [`State`] and the bytes queued to send (the
//! outbox). Each transition returns what the driver must do: the bytes it
//! queued go out through the driver's flush; once the state is `Closed` or
//! `Failed`, [`Session::tcp_close`] says how to end the TCP connection.
//! The driver writes and reads; it decides nothing.

use std::fmt;
use std::time::Instant;

use crate::protocol::Role;
use crate::protocol::close::close_payload;
use crate::protocol::error::{Error, Timeout};
use crate::protocol::frame::{MAX_CONTROL_PAYLOAD, OpCode};
use crate::protocol::message::{CloseCode, CloseFrame};
use crate::protocol::outbox::{
    Batch, OutFrame, Outbox, SharedFrame, ShortFrame, encode_short_frame, message_frames,
};
#[cfg(feature = "deflate")]
use crate::protocol::{deflate::Outgoing, extension::permessage_deflate::Negotiated, frame::RSV1};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent our close frame (the one given, at `since`) and wait for the
    /// peer's: no data may be sent any more (§5.5.1: "The application MUST
    /// NOT send any more data frames after sending a _Close_ frame"), and
    /// the peer's answer is due within the close timeout. A close frame the
    /// peer sends first is answered at once, so that case goes straight to
    /// `Closed`.
    Closing {
        /// Our close frame.
        sent: CloseFrame,
        /// When it was queued.
        since: Instant,
    },
    /// The close handshake is complete: both close frames were exchanged
    /// (the peer's is `received`, code 1005 if it carried none). What is
    /// left is closing the TCP connection ([`TcpClose`]).
    Closed {
        /// The peer's close frame.
        received: CloseFrame,
    },
    /// The connection failed (§7.1.7): the failure says why.
    Failed(Failure),
}

/// Why a connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The peer broke the protocol or a limit: the connection was failed
    /// with the error's [close code](Error::close_code) (unless our close
    /// frame had gone out already).
    Protocol(Error),
    /// A deadline passed: a write that could not proceed, or the peer's
    /// pong or close frame overdue.
    Timeout(Timeout),
    /// The stream failed, or ended without a close frame: what the driver
    /// saw.
    Transport(String),
    /// This end dropped the connection at once, without waiting for the
    /// close handshake (a server past its stop timeout, a hub evicting a
    /// member whose close frame would not go out, a client dropped).
    Aborted,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Protocol(e) => write!(f, "{e}"),
            Failure::Timeout(t) => write!(f, "timed out: {t}"),
            Failure::Transport(why) => f.write_str(why),
            Failure::Aborted => f.write_str("aborted without the close handshake"),
        }
    }
}

/// How to close the TCP connection once the WebSocket connection is over
/// (RFC 6455 §7.1.1: "The underlying TCP connection, in most normal cases,
/// SHOULD be closed first by the server, so that it holds the TIME_WAIT
/// state and not the client"). Every wait it names is bounded by the close
/// timeout; if that passes, the connection is closed at once.
///
/// A drain reads at most [`LINGER_MAX_BYTES`]: what a peer had in flight
/// when our close frame reached it fits, and a peer that keeps sending
/// after it is cut off instead of holding the connection.
///
/// Unlike the other types of the core it is not `#[non_exhaustive]`: a
/// driver must carry out every way of closing, so a new one should fail
/// its build, not fall into a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpClose {
    /// Close now: the stream is broken, or our last bytes could not be
    /// written in time.
    Now,
    /// Shut down our write side, and that is all: the peer's close frame
    /// was the last thing it may send and all of it has been read, so
    /// closing cannot reset anything (a server, after a clean close
    /// handshake over plain TCP with nothing unread).
    ShutdownWrite,
    /// Shut down our write side, then read and drop input until the peer's
    /// end of stream: closing a socket with unread input would make the
    /// kernel reset the connection and destroy our close frame in flight
    /// (a server, otherwise).
    ShutdownWriteThenDrain,
    /// Read and drop input until the server ends its side, then close (a
    /// client: "the client SHOULD wait for the server to close the
    /// connection").
    DrainThenClose,
}

/// The most bytes read and dropped while waiting for the peer to end the
/// TCP connection (see [`TcpClose`]), or for its close frame after ours:
/// 64 MiB. A peer whose sending thread goes on until its reading thread
/// sees our close frame sends a few MiB meanwhile (15 MiB at most in
/// `tests/faults.rs`, a slow reader at stop); one that goes on past this is
/// cut off (the close timeout bounds the time as well).
pub const LINGER_MAX_BYTES: u64 = 64 << 20;

/// The state of one connection, and the bytes it has queued to send.
#[derive(Debug)]
pub struct Session {
    state: State,
    outbox: Outbox,
    role: Role,
    /// permessage-deflate's compressor, once the handshake agreed on it.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<Outgoing>>,
}

impl Session {
    /// A session for this end of a connection that has just opened.
    pub fn new(role: Role) -> Session {
        Session {
            state: State::Open,
            outbox: Outbox::new(role),
            role,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Compress the data messages sent from now on that are at least the
    /// agreed threshold long, as the handshake agreed (RFC 7692). The zlib
    /// context is made by the first message compressed.
    #[cfg(feature = "deflate")]
    pub fn enable_deflate(&mut self, negotiated: &Negotiated) {
        self.deflate = Some(Box::new(Outgoing::new(negotiated, self.role)));
    }

    /// The shortest message that is compressed: `usize::MAX` without
    /// deflate.
    pub(crate) fn compress_threshold(&self) -> usize {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return deflate.threshold();
        }
        usize::MAX
    }

    /// The window a broadcast compressed once for many connections must
    /// keep to for this one (the agreed window of what we send), if this
    /// connection takes compressed messages at all.
    pub(crate) fn broadcast_window(&self) -> Option<u8> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return Some(deflate.settings().window_bits);
        }
        None
    }

    /// Queue one data message, compressed, with a frame for each of
    /// `pieces` (RSV1 on the first, RFC 7692 §6); returns the bytes queued.
    /// Without deflate it is queued as it is.
    ///
    /// # Errors
    /// As for [`send_frames`](Self::send_frames); a failed allocation in
    /// the compressor is [`Error::Capacity`], and nothing is queued.
    pub(crate) fn send_compressed(
        &mut self,
        opcode: OpCode,
        pieces: &[&[u8]],
        now: Instant,
    ) -> Result<usize, Error> {
        self.check_open()?;
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &mut self.deflate {
            let mut queued = 0;
            let mut payloads = deflate.compress(pieces, now)?.peekable();
            let mut first = true;
            while let Some(payload) = payloads.next() {
                queued += self.outbox.push_frames(&[OutFrame {
                    fin: payloads.peek().is_none(),
                    rsv: if first { RSV1 } else { 0 },
                    opcode: if first { opcode } else { OpCode::Continuation },
                    payload,
                }])?;
                first = false;
            }
            drop(payloads);
            deflate.sent();
            return Ok(queued);
        }
        let _ = now;
        self.outbox.push_frames(&message_frames(opcode, pieces))
    }

    /// Hibernate the compressor if it has been idle long enough at `now`
    /// (its zlib context goes, its window stays); otherwise when to ask
    /// again. `None`: nothing to hibernate until the next message.
    #[cfg(feature = "deflate")]
    pub(crate) fn hibernate_if_idle(&mut self, now: Instant) -> Option<Instant> {
        self.deflate.as_mut()?.hibernate_if_idle(now)
    }

    /// When the compressor may hibernate, if its context lives.
    pub(crate) fn hibernation_due(&self) -> Option<Instant> {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return deflate.hibernation_due();
        }
        None
    }

    /// Where the connection is.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// May data still be sent? Only while open (§5.5.1).
    #[inline]
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// `Ok` if data may still be sent.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] once our close frame was sent or the
    /// connection is over.
    #[inline]
    pub fn check_open(&self) -> Result<(), Error> {
        if self.is_open() {
            Ok(())
        } else {
            Err(Error::AlreadyClosed)
        }
    }

    /// Queue the frames of one data message; returns the bytes queued.
    ///
    /// # Errors
    /// As for [`check_open`](Self::check_open); [`Error::NoRandomness`] if
    /// a client's masking key could not be made.
    #[inline]
    pub(crate) fn send_frames(&mut self, frames: &[OutFrame<'_>]) -> Result<usize, Error> {
        self.check_open()?;
        self.outbox.push_frames(frames)
    }

    /// Encode a final data frame of at most 125 bytes into `bytes` instead
    /// of queuing it (for a driver that writes it at once); returns its
    /// length.
    ///
    /// # Errors
    /// As for [`send_frames`](Self::send_frames).
    #[inline]
    pub(crate) fn encode_short(
        &mut self,
        bytes: &mut ShortFrame,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<usize, Error> {
        self.check_open()?;
        let mask = self.outbox.mask_key()?;
        Ok(encode_short_frame(bytes, opcode, payload, mask))
    }

    /// The masking keys of frames a driver encodes itself (a large payload
    /// written from the caller's memory), one per frame: fresh ones for a
    /// client, none for a server.
    ///
    /// # Errors
    /// As for [`send_frames`](Self::send_frames).
    pub(crate) fn masks_for(&mut self, frames: usize) -> Result<Vec<Option<[u8; 4]>>, Error> {
        self.check_open()?;
        (0..frames).map(|_| self.outbox.mask_key()).collect()
    }

    /// Queue a broadcast frame encoded once for many connections, from
    /// byte `from` on; returns the bytes queued.
    ///
    /// # Errors
    /// As for [`send_frames`](Self::send_frames).
    pub(crate) fn send_broadcast(
        &mut self,
        frame: &SharedFrame,
        from: usize,
    ) -> Result<usize, Error> {
        self.check_open()?;
        self.outbox.push_broadcast(frame, from)
    }

    /// A broadcast compressed elsewhere, whose uncompressed message is
    /// `message`, is about to be queued or written: our compressor's
    /// window must take it in, as the peer's does.
    ///
    /// # Errors
    /// As for [`send_frames`](Self::send_frames); a failed allocation.
    pub(crate) fn compressed_broadcast(&mut self, message: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &mut self.deflate {
            return deflate.sent_elsewhere(message);
        }
        let _ = message;
        Ok(())
    }

    /// Queue a ping or an unsolicited pong of the application's (§5.5.2,
    /// §5.5.3); returns the bytes queued.
    ///
    /// # Errors
    /// [`Error::Capacity`] for a payload over 125 bytes (§5.5: "All control
    /// frames MUST have a payload length of 125 bytes or less"); otherwise
    /// as for [`send_frames`](Self::send_frames).
    pub fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<usize, Error> {
        debug_assert!(matches!(opcode, OpCode::Ping | OpCode::Pong));
        check_control_payload(payload)?;
        self.send_frames(&[OutFrame {
            fin: true,
            rsv: 0,
            opcode,
            payload,
        }])
    }

    /// Start the close handshake (§7.1.2): queue our close frame with
    /// `code` and `reason` (cut to 123 bytes at a character boundary);
    /// returns the bytes queued. The peer's answer is due within the close
    /// timeout from `now`.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close frame was already sent or the
    /// connection is over.
    pub fn send_close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Instant,
    ) -> Result<usize, Error> {
        self.check_open()?;
        let queued = self.queue_close(code, reason)?;
        self.set_state(State::Closing {
            sent: CloseFrame::new(code, cut_reason(reason)),
            since: now,
        });
        Ok(queued)
    }

    /// A ping arrived. §5.5.2: "Upon receipt of a Ping frame, an endpoint
    /// MUST send a Pong frame in response, unless it already received a
    /// Close frame", with "identical Application data". Once our close
    /// frame is out, nothing is owed the peer but the end of the close
    /// handshake, so no pong is sent. Returns the bytes queued.
    pub fn ping_received(&mut self, payload: &[u8]) -> usize {
        if !self.is_open() {
            return 0;
        }
        // A ping's payload is at most 125 bytes (checked on receipt). The
        // only other error is a client's missing masking key; then no pong
        // goes out, and the client's sends report the same error.
        self.send_control(OpCode::Pong, payload).unwrap_or(0)
    }

    /// The peer's close frame arrived (`None`: it carried no code, reported
    /// as 1005). §5.5.1: "If an endpoint receives a Close frame and did not
    /// previously send a Close frame, the endpoint MUST send a Close frame
    /// in response. (When sending a Close frame in response, the endpoint
    /// typically echos the status code it received.)" Either way the close
    /// handshake is then complete. Returns the peer's frame and the bytes
    /// queued.
    pub fn close_received(&mut self, frame: Option<CloseFrame>) -> (CloseFrame, usize) {
        let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NoStatus, ""));
        let queued = match self.state {
            // A code that may not be sent (1005) gives an empty payload.
            State::Open => self.queue_close(frame.code, "").unwrap_or(0),
            State::Closing { .. } => 0,
            // The receiver parses nothing after a close frame or a failure.
            State::Closed { .. } | State::Failed(_) => return (frame, 0),
        };
        self.set_state(State::Closed {
            received: frame.clone(),
        });
        (frame, queued)
    }

    /// The connection failed. §7.1.7: to _Fail the WebSocket Connection_,
    /// "the endpoint MAY send a Close frame with an appropriate status
    /// code"; for a protocol error this one does, with the error's close
    /// code and a reason saying what was wrong, unless its close frame was
    /// already sent. A broken stream or a deadline past can carry nothing
    /// more, so what was queued is dropped. A connection already closed or
    /// failed stays as it was: the first end is the one reported. Returns
    /// the bytes queued.
    pub fn fail(&mut self, failure: Failure) -> usize {
        let queued = match (&self.state, &failure) {
            (State::Closed { .. } | State::Failed(_), _) => return 0,
            (State::Open, Failure::Protocol(error)) => {
                let code = error.close_code().unwrap_or(CloseCode::Protocol);
                let reason = match error {
                    Error::Protocol(violation) => violation.to_string(),
                    other => other.to_string(),
                };
                self.queue_close(code, &reason).unwrap_or(0)
            }
            (State::Closing { .. }, Failure::Protocol(_)) => 0,
            (_, Failure::Timeout(_) | Failure::Transport(_) | Failure::Aborted) => {
                self.outbox.clear();
                0
            }
        };
        self.set_state(State::Failed(failure));
        queued
    }

    /// How to close the TCP connection, once the connection is over (see
    /// [`TcpClose`]); `None` while it is not. `written` tells whether our
    /// last bytes (the close frame) were written in time, `unread` whether
    /// bytes arrived after the peer's close frame, and `secure` whether the
    /// stream is TLS, whose peer may send its `close_notify` after the
    /// close frame.
    pub fn tcp_close(&self, written: bool, unread: bool, secure: bool) -> Option<TcpClose> {
        let clean = match &self.state {
            State::Open | State::Closing { .. } => return None,
            State::Closed { .. } => true,
            // The stream still works after a protocol error: the close
            // frame goes out and the peer is given time to read it.
            State::Failed(Failure::Protocol(_)) => false,
            State::Failed(_) => return Some(TcpClose::Now),
        };
        Some(match self.role {
            _ if !written => TcpClose::Now,
            Role::Server if clean && !unread && !secure => TcpClose::ShutdownWrite,
            Role::Server => TcpClose::ShutdownWriteThenDrain,
            Role::Client => TcpClose::DrainThenClose,
        })
    }

    /// True when nothing is queued to send.
    #[inline]
    pub fn nothing_to_send(&self) -> bool {
        self.outbox.is_empty()
    }

    /// Bytes queued in the part of the queue that grows with every frame.
    #[inline]
    pub(crate) fn queued_tail(&self) -> usize {
        self.outbox.tail_len()
    }

    /// Broadcast frames queued and not yet taken.
    pub(crate) fn queued_broadcasts(&self) -> usize {
        self.outbox.broadcasts()
    }

    /// Take everything queued to send, for the driver to write; `spare`, an
    /// empty buffer, takes the place of the one taken.
    #[inline]
    pub(crate) fn take_queued(&mut self, spare: Vec<u8>) -> Batch {
        self.outbox.take(spare)
    }

    /// [`take_queued`](Self::take_queued) in one buffer, for a driver of
    /// its own: python-websockets' `data_to_send()`.
    pub fn data_to_send(&mut self) -> Vec<u8> {
        let batch = self.outbox.take(Vec::new());
        if batch.ahead.is_empty() {
            return batch.tail;
        }
        let mut out = Vec::with_capacity(batch.len());
        for chunk in &batch.ahead {
            out.extend_from_slice(chunk.bytes());
        }
        out.extend_from_slice(&batch.tail);
        out
    }

    fn queue_close(&mut self, code: CloseCode, reason: &str) -> Result<usize, Error> {
        let payload = close_payload(code, reason);
        self.outbox.push_frames(&[OutFrame {
            fin: true,
            rsv: 0,
            opcode: OpCode::Close,
            payload: &payload,
        }])
    }

    /// The one place the state changes.
    fn set_state(&mut self, state: State) {
        log::debug!(
            "{:?} connection: {:?} -> {:?}",
            self.role,
            self.state,
            state
        );
        self.state = state;
    }
}

/// A reason as it goes on the wire: cut to 123 bytes at a character
/// boundary.
fn cut_reason(reason: &str) -> &str {
    let mut end = reason.len().min(crate::protocol::close::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// §5.5: "All control frames MUST have a payload length of 125 bytes or
/// less".
fn check_control_payload(payload: &[u8]) -> Result<(), Error> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(Error::Capacity(
            crate::protocol::error::CapacityError::FrameTooLong {
                size: payload.len() as u64,
                max_size: MAX_CONTROL_PAYLOAD,
            },
        ));
    }
    Ok(())
}

//! The sending handle of a connection, usable from any thread.

use std::fmt;
use std::sync::Arc;

use crate::error::{CapacityError, Error, Result};
use crate::protocol::frame::{MAX_CONTROL_PAYLOAD, OpCode};
#[cfg(doc)]
use crate::protocol::message::Message;
use crate::protocol::message::{CloseCode, MessageRef};
use crate::websocket::writer::{Ending, Immediate, OutFrame, Writer};

/// Sends on a connection from any thread: cheap to clone, `Send + Sync`.
///
/// Sending never waits for the reading thread, and the reading thread never
/// waits for a sender. Each message goes out whole: frames of two messages
/// never interleave. A send returns once the kernel has the whole message
/// (except a reply that [`WebSocket::run_with`](crate::WebSocket::run_with)
/// holds on its own thread to write with the others of a burst).
///
/// ```no_run
/// let mut ws = syncws::connect("ws://127.0.0.1:9001/")?;
/// let sender = ws.sender();
/// std::thread::spawn(move || {
///     for i in 0..10 {
///         sender.send_text(&format!("tick {i}")).unwrap();
///     }
/// });
/// for message in &mut ws {
///     println!("{:?}", message?);
/// }
/// # Ok::<(), syncws::Error>(())
/// ```
#[derive(Clone)]
pub struct Sender {
    pub(crate) writer: Arc<Writer>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    /// Send a text message.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] after a close frame was sent or the
    /// connection ended; [`Error::Io`] or [`Error::Timeout`] ([`Timeout::Write`](crate::Timeout::Write)
    /// timeout) when the stream failed.
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.send_frames(OpCode::Text, &[text.as_bytes()])
    }

    /// Send a binary message.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_binary(&self, data: &[u8]) -> Result<()> {
        self.send_frames(OpCode::Binary, &[data])
    }

    /// Send a message of either kind: a [`Message`], or the [`MessageRef`]
    /// that [`WebSocket::run_with`](crate::WebSocket::run_with) lends.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_message<'a>(&self, message: impl Into<MessageRef<'a>>) -> Result<()> {
        match message.into() {
            MessageRef::Text(text) => self.writer.send_frame(OpCode::Text, text.as_bytes()),
            MessageRef::Binary(data) => self.writer.send_frame(OpCode::Binary, data),
        }
    }

    /// Send one text message as several frames, one per piece.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_text_frames<I, S>(&self, pieces: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pieces: Vec<S> = pieces.into_iter().collect();
        let slices: Vec<&[u8]> = pieces.iter().map(|p| p.as_ref().as_bytes()).collect();
        self.send_frames(OpCode::Text, &slices)
    }

    /// Send one binary message as several frames, one per piece.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_binary_frames<I, B>(&self, pieces: I) -> Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let pieces: Vec<B> = pieces.into_iter().collect();
        let slices: Vec<&[u8]> = pieces.iter().map(|p| p.as_ref()).collect();
        self.send_frames(OpCode::Binary, &slices)
    }

    fn send_frames(&self, opcode: OpCode, pieces: &[&[u8]]) -> Result<()> {
        if pieces.len() <= 1 {
            return self
                .writer
                .send_frame(opcode, pieces.first().copied().unwrap_or_default());
        }
        let frames: Vec<OutFrame<'_>> = pieces
            .iter()
            .enumerate()
            .map(|(i, payload)| OutFrame {
                fin: i + 1 == pieces.len(),
                opcode: if i == 0 { opcode } else { OpCode::Continuation },
                payload,
            })
            .collect();
        self.writer.send_message(&frames)
    }

    /// Send a ping. The peer answers with a pong, which the reading
    /// `WebSocket` consumes.
    ///
    /// # Errors
    /// [`Error::Protocol`] is never returned; a payload over 125 bytes is
    /// refused with [`Error::Capacity`]. Otherwise as for
    /// [`send_text`](Self::send_text).
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        check_control_payload(payload)?;
        self.writer.send_control(OpCode::Ping, payload, true)
    }

    /// Send an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3).
    ///
    /// # Errors
    /// As for [`ping`](Self::ping).
    pub fn pong(&self, payload: &[u8]) -> Result<()> {
        check_control_payload(payload)?;
        self.writer.send_control(OpCode::Pong, payload, true)
    }

    /// Start the close handshake: send a close frame with `code` and
    /// `reason` (cut to 123 bytes). The reading `WebSocket` then receives
    /// the peer's answer and ends with [`Error::Closed`].
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close frame was already sent.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        match self.writer.send_close(code, reason, true)? {
            true => Ok(()),
            false => Err(Error::AlreadyClosed),
        }
    }

    /// True once a close frame has been sent on this connection (or it
    /// ended): sends will fail with [`Error::AlreadyClosed`].
    pub fn is_closed(&self) -> bool {
        self.writer.close_sent()
    }

    /// Queue a close frame and return without waiting for it to be written
    /// (another thread writing will write it, or this one does now).
    pub(crate) fn close_without_waiting(&self, code: CloseCode, reason: &str) {
        let _ = self.writer.send_close(code, reason, false);
    }

    /// End the connection at once: the socket is shut down, a blocked read
    /// returns, later sends fail.
    pub(crate) fn abort(&self) {
        self.writer.abort();
    }

    /// Send frames encoded once for many connections (server side only).
    pub(crate) fn send_encoded(&self, frames: &[&[u8]]) -> Result<()> {
        self.writer.send_encoded(frames)
    }

    /// [`send_encoded`](Self::send_encoded) of one frame at once if that
    /// needs no wait (see `Writer::try_send_encoded_now`).
    pub(crate) fn try_send_encoded_now(&self, frame: &[u8]) -> Result<Immediate> {
        self.writer.try_send_encoded_now(frame)
    }

    /// Write what is queued, unless a thread is writing it already.
    pub(crate) fn flush_queued(&self) -> Result<()> {
        self.writer.flush_queued()
    }

    /// Whether frames must be masked (client side) or not.
    pub(crate) fn role(&self) -> crate::protocol::Role {
        self.writer.role()
    }

    /// Queue a close frame, wait up to `timeout` for it to be written, and
    /// drop the connection if it was not.
    pub(crate) fn close_or_abort(
        &self,
        code: CloseCode,
        reason: &str,
        timeout: std::time::Duration,
    ) {
        let _ = self.writer.send_close(code, reason, false);
        if !self
            .writer
            .wait_written(std::time::Instant::now() + timeout)
        {
            self.writer.abort();
        }
    }

    /// How the connection ended, once its reader knows.
    pub(crate) fn ending(&self) -> Option<&Ending> {
        self.writer.ending()
    }
}

fn check_control_payload(payload: &[u8]) -> Result<()> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(Error::Capacity(CapacityError::FrameTooLong {
            size: payload.len() as u64,
            max_size: MAX_CONTROL_PAYLOAD,
        }));
    }
    Ok(())
}

//! The sending handle of a connection, usable from any thread.

use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::protocol::frame::OpCode;
#[cfg(doc)]
use crate::protocol::message::Message;
use crate::protocol::message::{CloseCode, MessageRef};
use crate::protocol::outbox::SharedFrame;
use crate::protocol::session::State;
use crate::websocket::writer::{QueueLimit, Queued, Writer};

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
    /// connection ended (a failure is reported once, to the call that met
    /// it); [`Error::Io`] when the stream failed, or [`Error::Timeout`] with
    /// [`Timeout::Write`](crate::Timeout::Write) when it did not take the
    /// bytes within the write timeout. Either fails the connection.
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
        self.writer.send_pieces(opcode, pieces, true)
    }

    /// Send a message uncompressed even if permessage-deflate was agreed
    /// and it is longer than the threshold: data that is compressed
    /// already (images, archives) would cost CPU for nothing.
    ///
    /// ```no_run
    /// let ws = syncws::connect("ws://127.0.0.1:9001/upload")?;
    /// let jpeg = std::fs::read("photo.jpg")?;
    /// ws.sender().send_uncompressed(syncws::MessageRef::Binary(&jpeg))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_uncompressed<'a>(&self, message: impl Into<MessageRef<'a>>) -> Result<()> {
        match message.into() {
            MessageRef::Text(text) => self
                .writer
                .send_frame_uncompressed(OpCode::Text, text.as_bytes()),
            MessageRef::Binary(data) => self.writer.send_frame_uncompressed(OpCode::Binary, data),
        }
    }

    /// Send a ping. The peer answers with a pong, which the reading
    /// `WebSocket` consumes.
    ///
    /// # Errors
    /// A payload over 125 bytes is refused with [`Error::Capacity`] (RFC
    /// 6455 §5.5); otherwise as for [`send_text`](Self::send_text).
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.writer.send_control(OpCode::Ping, payload)
    }

    /// Send an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3).
    ///
    /// # Errors
    /// As for [`ping`](Self::ping).
    pub fn pong(&self, payload: &[u8]) -> Result<()> {
        self.writer.send_control(OpCode::Pong, payload)
    }

    /// Start the close handshake: send a close frame with `code` and
    /// `reason` (cut to 123 bytes), and return once it is written, without
    /// waiting for the peer's answer. The reading `WebSocket` receives that
    /// answer and ends with [`Error::Closed`]; to wait for it on the reading
    /// thread, use [`WebSocket::close`](crate::WebSocket::close).
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close frame was already sent or the
    /// connection is over; the write error.
    pub fn send_close(&self, code: CloseCode, reason: &str) -> Result<()> {
        self.writer.send_close(code, reason, true)
    }

    /// True while messages may be sent: no close frame has been sent and
    /// the connection has not ended. Once false, sends fail with
    /// [`Error::AlreadyClosed`].
    pub fn is_open(&self) -> bool {
        self.writer.is_open()
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

    /// Send a broadcast frame, never waiting (see
    /// `Writer::send_broadcast_now`).
    pub(crate) fn send_broadcast_now(
        &self,
        frame: &SharedFrame,
        compressed_from: Option<&[u8]>,
        limit: QueueLimit,
    ) -> Result<Queued> {
        self.writer
            .send_broadcast_now(frame, compressed_from, limit)
    }

    /// The window a broadcast compressed once must keep to for this
    /// connection, and the shortest message it compresses, if it takes
    /// compressed messages.
    pub(crate) fn broadcast_deflate(&self) -> Option<(u8, usize)> {
        self.writer.broadcast_deflate()
    }

    /// Write what is queued, unless a thread is writing it already.
    pub(crate) fn flush_queued(&self) -> Result<()> {
        self.writer.flush_queued()
    }

    /// Queue a close frame, wait up to `timeout` for it to be written and
    /// answered, and drop the connection if it was not.
    pub(crate) fn close_within(&self, code: CloseCode, reason: &str, timeout: std::time::Duration) {
        self.writer
            .close_within(code, reason, std::time::Instant::now() + timeout);
    }

    /// Queue a close frame, wait up to `timeout` for it to be written, and
    /// drop the connection if it was not.
    pub(crate) fn close_or_abort(
        &self,
        code: CloseCode,
        reason: &str,
        timeout: std::time::Duration,
    ) {
        self.writer
            .close_or_abort(code, reason, std::time::Instant::now() + timeout);
    }

    /// Where the connection is (for a server's end report, and a
    /// reconnecting client's look at how the previous connection ended).
    pub(crate) fn state(&self) -> State {
        self.writer.state()
    }

    /// True if this end sent a close frame before any came from the peer
    /// (by `WebSocket::close`, `send_close`, or dropping the `WebSocket`
    /// while open), false if the peer's came first or none was sent.
    pub(crate) fn closed_here(&self) -> bool {
        self.writer.close_sent_at().is_some()
    }

    /// True if the `WebSocket` was dropped while the connection was open.
    pub(crate) fn dropped_open(&self) -> bool {
        self.writer.dropped_open()
    }
}

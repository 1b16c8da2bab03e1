//! The receiving half of a connection: bytes in, events out.
//!
//! The [`Receiver`] owns every byte received and not yet delivered: a small
//! read buffer for frame headers and small frames, the control frame being
//! received, and the message being assembled. Bytes come in whole through
//! [`Receiver::receive_data`], or, for the blocking layer, straight from
//! the socket into where they belong: it asks where the next bytes should
//! go ([`Receiver::read_target`]), puts them there and reports how many
//! ([`Receiver::filled`]). Events come out of [`Receiver::next_event`].
//! Because all partial state lives here, a read that times out loses
//! nothing: the next read continues the same frame.
//!
//! Large payloads are read straight into the message buffer, so a 16 MiB
//! message is copied once, by the kernel, and unmasked in place.

use std::ops::Range;
use std::sync::Arc;

use crate::protocol::Role;
use crate::protocol::budget::MessageBudget;
use crate::protocol::close::parse_close_payload;
use crate::protocol::config::Config;
use crate::protocol::error::{CapacityError, Error, ProtocolViolation};
use crate::protocol::frame::{FrameHeader, MAX_SHORT_PAYLOAD, OpCode, RSV1};
use crate::protocol::mask::{apply_mask, apply_mask_short};
use crate::protocol::message::{CloseFrame, Message, MessageRef};
use crate::protocol::utf8::Utf8Validator;
#[cfg(feature = "deflate")]
use crate::protocol::{
    deflate::{Decompressor, Settings},
    extension::permessage_deflate::Negotiated,
};

/// The read buffer starts this small: an idle connection costs little. It
/// doubles while reads fill it.
const MIN_READ_BUFFER: usize = 1 << 10;
/// The read buffer grows up to this while reads keep filling it.
const MAX_READ_BUFFER: usize = 64 << 10;
/// Text read straight into the message is validated at least this often,
/// so invalid UTF-8 fails the connection early even in a huge frame.
const TEXT_VALIDATION_STEP: usize = 64 << 10;
/// The least a message buffer grows by once a frame's bytes arrive; past
/// it, by what has arrived (doubling).
const MIN_MESSAGE_GROWTH: usize = 64 << 10;

/// What the peer sent, one whole unit at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole data message, fragments joined, text validated.
    Message(Message),
    /// A ping with its payload: answer it with a pong carrying the same.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// The peer's close frame (`None` when it carried no code). Nothing
    /// after it is parsed.
    Close(Option<CloseFrame>),
}

/// What [`Receiver::next_received`] found.
#[derive(Debug)]
pub(crate) enum Received<'a> {
    /// A whole message that arrived in one frame, lent from the read
    /// buffer; `more_buffered` if bytes after it are already buffered.
    InBuffer {
        message: MessageRef<'a>,
        more_buffered: bool,
    },
    /// Any other event, messages assembled from fragments or read straight
    /// into their own buffer included.
    Event(Event),
}

/// Where the driver should put the next bytes it reads.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    /// Read whatever is available into this slice (one read call).
    Buffer(&'a mut [u8]),
    /// Append at most `max` bytes to the end of `buf`, the message being
    /// assembled: the payload goes straight where it belongs. The bytes may
    /// be appended by several reads.
    Message {
        /// The message buffer; append only, at most `max` bytes.
        buf: &'a mut Vec<u8>,
        /// The most bytes that belong to the current frame's payload.
        max: usize,
    },
}

/// The frame whose header has been parsed and whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes received so far: the masking key's phase.
    done: u64,
    remaining: u64,
}

/// The data message being assembled from its frames.
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// The message is compressed (RSV1 on its first frame): `data` holds
    /// the current frame's compressed payload, inflated at its end.
    compressed: bool,
    data: Vec<u8>,
    utf8: Utf8Validator,
}

/// The receiving state machine of one connection.
#[derive(Debug)]
// In this order (what each message touches first), for the reason given
// on the `WebSocket`'s state.
#[repr(C)]
pub struct Receiver {
    /// Read buffer: `buf[start..end]` is received and not yet parsed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The size the read buffer will have at the next read.
    buf_size: usize,
    frame: Option<Frame>,
    message: Option<Assembly>,
    max_frame_size: usize,
    max_message_size: usize,
    /// The longest payload [`small_message`](Self::small_message) takes:
    /// 125 bytes, or less if a limit is lower.
    small_message_max: usize,
    role: Role,
    /// The last target handed out was the message buffer.
    reading_direct: bool,
    /// Nothing more is parsed: the peer's close frame has been received
    /// (§5.5.1: after it the peer "MUST NOT send any more data frames"),
    /// or the input ended or failed.
    finished: bool,
    /// The payload of the control frame being received.
    control: Vec<u8>,
    /// The server-wide budget of partial messages, if there is one, and
    /// what the message being assembled has taken of it.
    budget: Option<Arc<MessageBudget>>,
    budgeted: usize,
    /// permessage-deflate's decompressor, once the handshake agreed on it.
    #[cfg(feature = "deflate")]
    inflate: Option<Box<Decompressor>>,
    /// Compressed messages delivered: what tells an idle decompressor.
    #[cfg(feature = "deflate")]
    inflated: u64,
}

impl Receiver {
    /// A receiver for this end of a connection, with the limits of `config`.
    pub fn new(role: Role, config: &Config) -> Self {
        Receiver {
            role,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            small_message_max: MAX_SHORT_PAYLOAD
                .min(config.max_frame_size)
                .min(config.max_message_size),
            buf: Vec::new(),
            start: 0,
            end: 0,
            buf_size: MIN_READ_BUFFER,
            frame: None,
            message: None,
            control: Vec::new(),
            reading_direct: false,
            finished: false,
            budget: None,
            budgeted: 0,
            #[cfg(feature = "deflate")]
            inflate: None,
            #[cfg(feature = "deflate")]
            inflated: 0,
        }
    }

    /// Inflate the messages the peer compresses (RSV1 on their first
    /// frame), as the handshake agreed. The decompressor's zlib context is
    /// made by the first compressed message.
    #[cfg(feature = "deflate")]
    pub fn enable_deflate(&mut self, negotiated: &Negotiated) {
        let mut inflate = Decompressor::new(
            Settings::incoming(negotiated, self.role),
            self.max_message_size,
        );
        if let Some(budget) = &self.budget {
            inflate.share_budget(Arc::clone(budget));
        }
        self.inflate = Some(Box::new(inflate));
    }

    /// Drop the decompressor's zlib context, keeping its window (a no-op
    /// without deflate, or in the middle of a message); true if it had one.
    #[cfg(feature = "deflate")]
    pub fn hibernate_inflate(&mut self) -> bool {
        match &mut self.inflate {
            Some(inflate) if inflate.has_context() && self.message.is_none() => {
                inflate.hibernate();
                true
            }
            _ => false,
        }
    }

    /// The compressed messages delivered so far.
    #[cfg(feature = "deflate")]
    pub fn compressed_messages(&self) -> u64 {
        self.inflated
    }

    /// True while the decompressor holds a zlib context.
    #[cfg(feature = "deflate")]
    pub fn inflate_has_context(&self) -> bool {
        self.inflate
            .as_ref()
            .is_some_and(|inflate| inflate.has_context())
    }

    /// The RSV bits a data message's first frame may carry: RSV1 once
    /// deflate is agreed.
    #[inline]
    fn allowed_rsv(&self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.inflate.is_some() {
            return RSV1;
        }
        0
    }

    /// Count what partial messages hold against `budget`, shared with
    /// other connections: a message that would pass it fails this
    /// connection with 1009.
    pub(crate) fn share_budget(&mut self, budget: Arc<MessageBudget>) {
        #[cfg(feature = "deflate")]
        if let Some(inflate) = &mut self.inflate {
            inflate.share_budget(Arc::clone(&budget));
        }
        self.budget = Some(budget);
    }

    /// What the message being received took of the budget goes back.
    fn give_back_budget(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(std::mem::take(&mut self.budgeted));
        }
    }

    /// Bytes received, in one call: what a driver of its own feeds, and
    /// what followed the HTTP head of the opening handshake in the same
    /// read.
    pub fn receive_data(&mut self, bytes: &[u8]) {
        self.compact();
        let needed = self.end + bytes.len();
        if self.buf.len() < needed {
            self.buf.resize(needed.max(self.buf_size), 0);
        }
        self.buf[self.end..needed].copy_from_slice(bytes);
        self.end = needed;
    }

    /// True once nothing more is parsed: the peer's close frame arrived,
    /// or [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The input is over (it ended, failed, or the connection was failed):
    /// nothing more will be parsed.
    pub fn finish(&mut self) {
        self.finished = true;
        // A message half received can never be whole now: its memory, and
        // its share of a server's budget, go back at once, not when the
        // connection is dropped after the close handshake's linger (while
        // a failed message kept its share, every other connection that
        // grew failed in turn).
        self.frame = None;
        self.message = None;
        self.control = Vec::new();
        self.give_back_budget();
    }

    /// True if bytes have been received that are not yet parsed: more may
    /// be delivered without reading again.
    pub fn has_buffered_bytes(&self) -> bool {
        self.start < self.end
    }

    /// True if some bytes of a frame or message have been received but not
    /// yet delivered.
    #[cfg(any(test, fuzzing))]
    pub fn has_partial_data(&self) -> bool {
        self.start < self.end || self.frame.is_some() || self.message.is_some()
    }

    /// The next event from the bytes received so far; `Ok(None)` when more
    /// bytes are needed (then call [`read_target`](Self::read_target)).
    ///
    /// # Errors
    /// [`Error::Protocol`] when the peer broke RFC 6455, and
    /// [`Error::Capacity`] when a frame or message exceeds a limit, checked
    /// on the frame header, before its payload is buffered. Either way the
    /// connection must be failed with the error's
    /// [`close_code`](Error::close_code).
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        Ok(match self.next_received()? {
            Some(Received::InBuffer { message, .. }) => Some(Event::Message(message.to_message())),
            Some(Received::Event(event)) => Some(event),
            None => None,
        })
    }

    /// [`next_event`](Self::next_event), lending a message that lies whole
    /// in the read buffer instead of copying it out.
    #[inline]
    pub(crate) fn next_received(&mut self) -> Result<Option<Received<'_>>, Error> {
        // Nothing buffered and no frame that a direct read may have
        // completed: nothing to do. (Inline: after every message, this is
        // what the next call finds, before a read.)
        if self.start == self.end && self.frame.is_none() {
            return Ok(None);
        }
        self.next_buffered()
    }

    /// [`next_received`](Self::next_received) when there is something to
    /// look at.
    #[inline(never)]
    fn next_buffered(&mut self) -> Result<Option<Received<'_>>, Error> {
        if self.frame.is_none() && self.message.is_none() && !self.finished {
            let whole = match self.small_message() {
                Some(found) => Some((found, false)),
                None => self.whole_message()?,
            };
            if let Some(((payload, text), compressed)) = whole {
                if compressed {
                    return self
                        .inflate_whole(payload, text)
                        .map(|event| Some(Received::Event(event)));
                }
                let more_buffered = self.start < self.end;
                let bytes = &self.buf[payload];
                let message = if text {
                    // §8.1: invalid UTF-8 in a text message MUST fail the
                    // connection.
                    MessageRef::Text(
                        std::str::from_utf8(bytes)
                            .map_err(|_| Error::Protocol(ProtocolViolation::InvalidUtf8))?,
                    )
                } else {
                    MessageRef::Binary(bytes)
                };
                return Ok(Some(Received::InBuffer {
                    message,
                    more_buffered,
                }));
            }
        }
        self.next_frame_event()
            .map(|event| event.map(Received::Event))
    }

    /// The general path: parse frames one by one, assembling fragments.
    /// (Out of line, as is `whole_message`: what every short message runs
    /// through stays short.)
    #[inline(never)]
    fn next_frame_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.frame.is_none() {
                let parsed =
                    FrameHeader::parse(&self.buf[self.start..self.end]).map_err(Error::Protocol)?;
                let Some((header, len)) = parsed else {
                    return Ok(None);
                };
                self.start += len;
                self.begin_frame(header)?;
            }
            self.take_buffered_payload()?;
            match self.frame {
                Some(frame) if frame.remaining == 0 => {
                    self.frame = None;
                    if let Some(event) = self.end_frame(frame)? {
                        return Ok(Some(event));
                    }
                }
                _ => return Ok(None),
            }
        }
    }

    /// The commonest frame of all, told from its first two bytes: a whole
    /// data message of at most 125 bytes in one frame, masked as its sender's
    /// role requires, within the size limits, all of it buffered. It is
    /// unmasked where it lies and consumed; returns where its payload is and
    /// whether it is text (not yet validated). Anything else is left for
    /// [`whole_message`](Self::whole_message) and the general path, which
    /// also report what is wrong with a frame.
    #[inline]
    fn small_message(&mut self) -> Option<(Range<usize>, bool)> {
        let buffered = &mut self.buf[self.start..self.end];
        let [b0, b1, ..] = *buffered else {
            return None;
        };
        // FIN set, reserved bits clear (§5.2), text or binary.
        let text = match b0 {
            0x81 => true,
            0x82 => false,
            _ => return None,
        };
        // A length of 126 or 127 announces a longer length field, and is
        // above `small_message_max` anyway.
        let len = usize::from(b1 & 0x7f);
        let masked = b1 & 0x80 != 0;
        // §5.1: a client masks every frame, a server none.
        let head = match (self.role, masked) {
            (Role::Server, true) => 6,
            (Role::Client, false) => 2,
            _ => return None,
        };
        if len > self.small_message_max || buffered.len() < head + len {
            return None;
        }
        let (header, rest) = buffered.split_at_mut(head);
        if let [.., k0, k1, k2, k3] = *header {
            if masked {
                apply_mask_short(&mut rest[..len], [k0, k1, k2, k3]);
            }
        }
        let payload = self.start + head..self.start + head + len;
        self.start = payload.end;
        Some((payload, text))
    }

    /// The common case, in one pass: a whole single-frame data message
    /// already buffered is unmasked where it lies and consumed. Returns
    /// where its payload is in the buffer, which stays as it is until the
    /// next read, and whether it is text (not yet validated). Anything else
    /// (a control frame, a fragment, a frame not yet whole, a header the
    /// general path will refuse) is left untouched for the general path.
    ///
    /// A compressed message (RSV1, once deflate is agreed) is found the
    /// same way, and said to be (the second `bool`): it is inflated from
    /// where it lies, never copied first.
    #[inline(never)]
    #[allow(clippy::type_complexity)]
    fn whole_message(&mut self) -> Result<Option<((Range<usize>, bool), bool)>, Error> {
        let buffered = &self.buf[self.start..self.end];
        let Ok(Some((header, len))) = FrameHeader::parse(buffered) else {
            return Ok(None);
        };
        let text = match header.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => return Ok(None),
        };
        // RSV bits other than a compressed message's are refused on the
        // general path (and RSV1 without deflate by `check_header`).
        let compressed = header.rsv == RSV1;
        if (header.rsv != 0 && !compressed)
            || !header.fin
            || header.payload_len > (buffered.len() - len) as u64
        {
            return Ok(None);
        }
        self.check_header(&header)?;
        // One frame: the message is as long as the frame.
        if header.payload_len > self.max_message_size as u64 {
            return Err(message_too_long(header.payload_len, self.max_message_size));
        }
        let payload = self.start + len..self.start + len + header.payload_len as usize;
        if let Some(key) = header.mask {
            apply_mask(&mut self.buf[payload.clone()], key, 0);
        }
        self.start = payload.end;
        Ok(Some(((payload, text), compressed)))
    }

    /// Inflate a whole compressed message that lies in the read buffer.
    #[inline(never)]
    fn inflate_whole(&mut self, payload: Range<usize>, text: bool) -> Result<Event, Error> {
        #[cfg(feature = "deflate")]
        if let Some(inflate) = &mut self.inflate {
            let data = inflate
                .decompress(&self.buf[payload], true)?
                .unwrap_or_default();
            self.inflated += 1;
            return Ok(Event::Message(if text {
                // §8.1: invalid UTF-8 in a text message MUST fail the
                // connection.
                Message::Text(
                    String::from_utf8(data)
                        .map_err(|_| Error::Protocol(ProtocolViolation::InvalidUtf8))?,
                )
            } else {
                Message::Binary(data)
            }));
        }
        // `check_header` refuses RSV1 without deflate.
        let _ = (payload, text);
        Err(Error::Protocol(ProtocolViolation::ReservedBits(RSV1)))
    }

    /// Where the next bytes read should go. Call only after
    /// [`next_event`](Self::next_event) returned `Ok(None)`, then report
    /// with [`filled`](Self::filled).
    #[inline]
    pub fn read_target(&mut self) -> ReadTarget<'_> {
        let direct = match (&self.frame, &self.message) {
            (Some(frame), Some(message))
                if !frame.opcode.is_control()
                    && self.start == self.end
                    && frame.remaining >= self.buf_size as u64 =>
            {
                // What arrived made room for what comes next (`make_room`):
                // a read fills that room, never more.
                let room = message.data.capacity() - message.data.len();
                let max = usize::try_from(frame.remaining)
                    .unwrap_or(usize::MAX)
                    .min(room);
                Some(if message.text {
                    max.min(TEXT_VALIDATION_STEP)
                } else {
                    max
                })
            }
            _ => None,
        };
        self.reading_direct = direct.is_some();
        let Some(max) = direct else {
            return self.buffer_target();
        };
        let message = self
            .message
            .as_mut()
            .expect("a direct read is only chosen inside a data message");
        ReadTarget::Message {
            buf: &mut message.data,
            max,
        }
    }

    #[inline]
    fn buffer_target(&mut self) -> ReadTarget<'_> {
        self.compact();
        if self.buf.len() != self.buf_size && self.end <= self.buf_size {
            self.resize_buffer();
        }
        ReadTarget::Buffer(&mut self.buf[self.end..])
    }

    /// Grow when reads fill the buffer, shrink back when they no longer do
    /// (see `filled`). The bytes kept are a partial frame header: fewer
    /// than 14.
    #[cold]
    #[inline(never)]
    fn resize_buffer(&mut self) {
        self.buf.truncate(self.end);
        self.buf.resize(self.buf_size, 0);
        self.buf.shrink_to(self.buf_size);
    }

    /// Report that `n` bytes were put where [`read_target`](Self::read_target)
    /// said. For [`ReadTarget::Message`], `n` is how many bytes were
    /// appended to the message buffer.
    ///
    /// # Errors
    /// As for [`next_event`](Self::next_event): bytes read straight into a
    /// text message are validated here.
    #[inline]
    pub fn filled(&mut self, n: usize) -> Result<(), Error> {
        if std::mem::take(&mut self.reading_direct) {
            let from = self.message.as_ref().map_or(0, |m| m.data.len() - n);
            return self.payload_arrived(from, n);
        }
        let space = self.buf.len() - self.end;
        self.end += n;
        if n == space && self.buf_size < MAX_READ_BUFFER {
            self.buf_size *= 2;
        } else if n < MIN_READ_BUFFER / 2 && self.buf_size > MIN_READ_BUFFER {
            self.buf_size = MIN_READ_BUFFER;
        }
        Ok(())
    }

    #[inline]
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.move_to_front();
        }
    }

    /// What is left of a frame moves to the front of the buffer.
    #[inline(never)]
    fn move_to_front(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// The rules every frame header must meet, whatever the state of the
    /// message: reserved bits, masking by role, the frame size limit.
    fn check_header(&self, header: &FrameHeader) -> Result<(), Error> {
        // §5.2: "If a nonzero value is received and none of the negotiated
        // extensions defines the meaning of such a nonzero value, the
        // receiving endpoint MUST _Fail the WebSocket Connection_."
        //
        // RFC 7692 §6.1: permessage-deflate defines RSV1 on the first frame
        // of a data message, and "An endpoint MUST NOT set the 'Per-Message
        // Compressed' bit of control frames and non-first fragments of a
        // data message. An endpoint receiving such a frame MUST _Fail the
        // WebSocket Connection_."
        let allowed = match header.opcode {
            OpCode::Text | OpCode::Binary => self.allowed_rsv(),
            _ => 0,
        };
        if header.rsv & !allowed != 0 {
            return Err(Error::Protocol(ProtocolViolation::ReservedBits(header.rsv)));
        }
        // §5.1: "The server MUST close the connection upon receiving a frame
        // that is not masked" and "A client MUST close a connection if it
        // detects a masked frame."
        match (self.role, header.mask) {
            (Role::Server, None) => {
                return Err(Error::Protocol(ProtocolViolation::UnmaskedClientFrame));
            }
            (Role::Client, Some(_)) => {
                return Err(Error::Protocol(ProtocolViolation::MaskedServerFrame));
            }
            _ => {}
        }
        if header.payload_len > self.max_frame_size as u64 {
            return Err(Error::Capacity(CapacityError::FrameTooLong {
                size: header.payload_len,
                max_size: self.max_frame_size,
            }));
        }
        Ok(())
    }

    /// Check a new frame's header against the connection's state.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<(), Error> {
        self.check_header(&header)?;
        match header.opcode {
            OpCode::Continuation if self.message.is_none() => {
                return Err(Error::Protocol(ProtocolViolation::UnexpectedContinuation));
            }
            // §5.4: the fragments of one message MUST NOT be interleaved with
            // the fragments of another.
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                return Err(Error::Protocol(ProtocolViolation::ExpectedContinuation));
            }
            OpCode::Text | OpCode::Binary => {
                self.message = Some(Assembly {
                    text: header.opcode == OpCode::Text,
                    compressed: header.rsv & RSV1 != 0,
                    data: Vec::new(),
                    utf8: Utf8Validator::new(),
                });
            }
            OpCode::Continuation => {}
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
        }
        if let (false, Some(message)) = (header.opcode.is_control(), &mut self.message) {
            let size = message.data.len() as u64 + header.payload_len;
            if size > self.max_message_size as u64 {
                return Err(message_too_long(size, self.max_message_size));
            }
            make_room(
                &mut message.data,
                header.payload_len,
                self.budget.as_deref(),
                &mut self.budgeted,
            )?;
        }
        self.frame = Some(Frame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            done: 0,
            remaining: header.payload_len,
        });
        Ok(())
    }

    /// Move the buffered bytes of the current frame's payload to where they
    /// belong.
    fn take_buffered_payload(&mut self) -> Result<(), Error> {
        let Some(frame) = &self.frame else {
            return Ok(());
        };
        let n = frame.remaining.min((self.end - self.start) as u64) as usize;
        if n == 0 {
            return Ok(());
        }
        let bytes = &self.buf[self.start..self.start + n];
        let (target, budget) = match &mut self.message {
            Some(message) if !frame.opcode.is_control() => {
                (&mut message.data, self.budget.as_deref())
            }
            _ => (&mut self.control, None),
        };
        let from = target.len();
        // At most a read buffer's worth (64 KiB): bytes that have arrived.
        let capacity = target.capacity();
        target.try_reserve(n).map_err(|_| out_of_memory(n))?;
        charge(budget, &mut self.budgeted, target.capacity() - capacity)?;
        target.extend_from_slice(bytes);
        self.start += n;
        self.payload_arrived(from, n)
    }

    /// Unmask and validate `n` payload bytes that arrived at `from` in the
    /// current frame's target buffer.
    fn payload_arrived(&mut self, from: usize, n: usize) -> Result<(), Error> {
        let Some(frame) = &mut self.frame else {
            return Ok(());
        };
        let (target, utf8) = match &mut self.message {
            // A compressed message's text is validated once inflated.
            Some(message) if !frame.opcode.is_control() => (
                &mut message.data,
                (message.text && !message.compressed).then_some(&mut message.utf8),
            ),
            _ => (&mut self.control, None),
        };
        let arrived = &mut target[from..from + n];
        if let Some(key) = frame.mask {
            apply_mask(arrived, key, frame.done as usize);
        }
        frame.done += n as u64;
        frame.remaining -= n as u64;
        if let Some(utf8) = utf8 {
            utf8.feed(arrived)
                .map_err(|_| Error::Protocol(ProtocolViolation::InvalidUtf8))?;
        }
        match (&self.message, frame.opcode.is_control()) {
            (Some(_), false) => {
                let remaining = frame.remaining;
                let message = self.message.as_mut().expect("matched just above");
                make_room(
                    &mut message.data,
                    remaining,
                    self.budget.as_deref(),
                    &mut self.budgeted,
                )
            }
            _ => Ok(()),
        }
    }

    /// A frame's payload is complete: deliver what it completes.
    fn end_frame(&mut self, frame: Frame) -> Result<Option<Event>, Error> {
        let event = match frame.opcode {
            OpCode::Ping => Event::Ping(std::mem::take(&mut self.control)),
            OpCode::Pong => Event::Pong(std::mem::take(&mut self.control)),
            OpCode::Close => {
                self.finished = true;
                let frame = parse_close_payload(&self.control).map_err(Error::Protocol)?;
                Event::Close(frame)
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                #[cfg(feature = "deflate")]
                if self.message.as_ref().is_some_and(|m| m.compressed) {
                    return self.end_compressed_frame(frame.fin);
                }
                if !frame.fin {
                    return Ok(None);
                }
                let Some(message) = self.message.take() else {
                    return Ok(None);
                };
                // Delivered: no longer a message being received.
                self.give_back_budget();
                if message.text {
                    let invalid = || Error::Protocol(ProtocolViolation::InvalidUtf8);
                    message.utf8.finish().map_err(|_| invalid())?;
                    let text = String::from_utf8(message.data).map_err(|_| invalid())?;
                    Event::Message(Message::Text(text))
                } else {
                    Event::Message(Message::Binary(message.data))
                }
            }
        };
        Ok(Some(event))
    }
}

impl Receiver {
    /// A frame of a compressed message is complete: inflate it (within
    /// `max_message_size`, counted across the message's frames, as the
    /// output grows: RFC 7692 §7.2.2 appends `00 00 ff ff` to the last),
    /// and deliver the message at its last frame.
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn end_compressed_frame(&mut self, fin: bool) -> Result<Option<Event>, Error> {
        let (Some(message), Some(inflate)) = (&mut self.message, &mut self.inflate) else {
            return Ok(None);
        };
        let inflated = inflate.decompress(&message.data, fin)?;
        message.data.clear();
        let Some(data) = inflated else {
            return Ok(None);
        };
        let text = message.text;
        self.message = None;
        self.inflated += 1;
        self.give_back_budget();
        Ok(Some(Event::Message(if text {
            // §8.1: invalid UTF-8 in a text message MUST fail the connection.
            Message::Text(
                String::from_utf8(data)
                    .map_err(|_| Error::Protocol(ProtocolViolation::InvalidUtf8))?,
            )
        } else {
            Message::Binary(data)
        })))
    }
}

/// Make room in a message buffer for the next bytes of a frame that still
/// has `remaining` to come, once the room is used up: by what the message
/// holds already (doubling, so a long message is copied a bounded number
/// of times), and for a message still short by what the frame needs, at
/// most [`MIN_MESSAGE_GROWTH`]. So what a header announces costs nothing
/// until its bytes arrive (a peer cannot make the server reserve 16 MiB
/// with 14 bytes: the room never exceeds what arrived, or 64 KiB), and an
/// allocation that fails fails this connection with 1009 instead of
/// aborting the process.
///
/// What the room costs is charged to `budget` (the server's, shared by its
/// connections), if there is one, and counted in `budgeted`.
fn make_room(
    data: &mut Vec<u8>,
    remaining: u64,
    budget: Option<&MessageBudget>,
    budgeted: &mut usize,
) -> Result<(), Error> {
    if remaining == 0 || data.capacity() > data.len() {
        return Ok(());
    }
    let step = data
        .len()
        .max(MIN_MESSAGE_GROWTH.min(usize::try_from(remaining).unwrap_or(usize::MAX)));
    let capacity = data.capacity();
    data.try_reserve_exact(step)
        .map_err(|_| out_of_memory(step))?;
    charge(budget, budgeted, data.capacity() - capacity)
}

/// Charge `grown` bytes of a message buffer to `budget`: the connection
/// that would pass it fails with 1009 (the bytes are freed with it), the
/// others go on.
fn charge(budget: Option<&MessageBudget>, budgeted: &mut usize, grown: usize) -> Result<(), Error> {
    let Some(budget) = budget else {
        return Ok(());
    };
    if grown == 0 {
        return Ok(());
    }
    if !budget.take(grown) {
        return Err(Error::Capacity(CapacityError::OverBudget {
            size: grown as u64,
        }));
    }
    *budgeted += grown;
    Ok(())
}

fn out_of_memory(bytes: usize) -> Error {
    Error::Capacity(CapacityError::OutOfMemory { size: bytes as u64 })
}

fn message_too_long(size: u64, max_size: usize) -> Error {
    Error::Capacity(CapacityError::MessageTooLong { size, max_size })
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.give_back_budget();
    }
}

#[cfg(test)]
mod tests;

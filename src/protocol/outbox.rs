//! The bytes a connection has queued to send and not yet handed to its
//! driver: what python-websockets calls `data_to_send()`.
//!
//! Frames are encoded into one growing buffer, the tail. A frame encoded
//! once for many connections (a server's broadcast: server frames are not
//! masked, so the same bytes suit every member) is queued as a shared
//! reference instead of a copy; whatever the tail held before it is set
//! aside in order, so the bytes leave exactly in the order they were
//! queued. The driver takes everything at once ([`Outbox::take`]) and
//! writes it with one (vectored) write.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::protocol::Role;
use crate::protocol::error::Error;
use crate::protocol::frame::{
    FrameHeader, MAX_HEADER_LEN, MAX_SHORT_PAYLOAD, OpCode, write_frame_with_rsv,
};
use crate::protocol::mask::apply_mask_short;

/// One frame to encode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutFrame<'a> {
    pub fin: bool,
    /// Reserved bits, as [`FrameHeader::rsv`] holds them: RSV1 (`0b100`)
    /// marks the first frame of a compressed message.
    pub rsv: u8,
    pub opcode: OpCode,
    pub payload: &'a [u8],
}

/// The frames of one data message sent as it is, a frame for each of
/// `pieces` (RFC 6455 §5.4: the first with the message's opcode, the rest
/// continuations, the last final).
pub(crate) fn message_frames<'a>(opcode: OpCode, pieces: &[&'a [u8]]) -> Vec<OutFrame<'a>> {
    pieces
        .iter()
        .enumerate()
        .map(|(i, payload)| OutFrame {
            fin: i + 1 == pieces.len(),
            rsv: 0,
            opcode: if i == 0 { opcode } else { OpCode::Continuation },
            payload,
        })
        .collect()
}

/// A run of queued bytes ahead of the tail.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Bytes of this connection's own.
    Owned(Vec<u8>),
    /// A frame shared with other connections, from this offset on (the
    /// part before it has been written).
    Shared(Arc<[u8]>, usize),
}

impl Chunk {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(bytes) => bytes,
            Chunk::Shared(frame, from) => &frame[*from..],
        }
    }
}

/// What the driver takes out to write: the chunks, then the tail.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub ahead: VecDeque<Chunk>,
    pub tail: Vec<u8>,
}

impl Batch {
    /// The number of bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.ahead.iter().map(|c| c.bytes().len()).sum::<usize>() + self.tail.len()
    }
}

/// The queued bytes of one connection, and the masking keys of a client.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Owned bytes after every chunk: where frames are encoded.
    tail: Vec<u8>,
    /// Runs queued before `tail`, oldest first; empty unless a shared
    /// frame was queued (the usual case costs nothing here).
    ahead: VecDeque<Chunk>,
    /// Broadcast frames queued since the queue was last taken: what a hub
    /// bounds per member.
    broadcasts: usize,
    /// Only clients mask: servers never allocate these.
    masks: Option<Box<MaskKeys>>,
    role: Role,
}

impl Outbox {
    pub(crate) fn new(role: Role) -> Outbox {
        Outbox {
            tail: Vec::new(),
            ahead: VecDeque::new(),
            broadcasts: 0,
            masks: None,
            role,
        }
    }

    /// True when nothing is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.tail.is_empty() && self.ahead.is_empty()
    }

    /// Bytes queued in the tail (the part that grows with every frame).
    #[inline]
    pub(crate) fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Broadcast frames queued and not yet taken.
    pub(crate) fn broadcasts(&self) -> usize {
        self.broadcasts
    }

    /// The masking key of the next frame: a fresh one for a client (RFC
    /// 6455 §5.3), none for a server.
    #[inline]
    pub(crate) fn mask_key(&mut self) -> Result<Option<[u8; 4]>, Error> {
        match self.role {
            Role::Server => Ok(None),
            Role::Client => self
                .masks
                .get_or_insert_with(|| Box::new(MaskKeys::new()))
                .next()
                .map(Some),
        }
    }

    /// Encode `frames` at the end of the queue; returns the bytes added.
    #[inline]
    pub(crate) fn push_frames(&mut self, frames: &[OutFrame<'_>]) -> Result<usize, Error> {
        let before = self.tail.len();
        for frame in frames {
            let mask = self.mask_key()?;
            write_frame_with_rsv(
                &mut self.tail,
                frame.fin,
                frame.rsv,
                frame.opcode,
                frame.payload,
                mask,
            );
        }
        Ok(self.tail.len() - before)
    }

    /// Queue a broadcast frame, from byte `from` on: a server shares the
    /// encoding with every other connection (no copy); a client masks a
    /// copy of its own (only from its first byte: a client's broadcast is
    /// never partly written). Returns the bytes added.
    pub(crate) fn push_broadcast(
        &mut self,
        frame: &SharedFrame,
        from: usize,
    ) -> Result<usize, Error> {
        self.broadcasts += 1;
        if self.role == Role::Client {
            debug_assert_eq!(from, 0);
            return self.push_frames(&[OutFrame {
                fin: true,
                rsv: frame.rsv,
                opcode: frame.opcode,
                payload: frame.payload(),
            }]);
        }
        if !self.tail.is_empty() {
            self.ahead
                .push_back(Chunk::Owned(std::mem::take(&mut self.tail)));
        }
        self.ahead
            .push_back(Chunk::Shared(Arc::clone(&frame.bytes), from));
        Ok(frame.bytes.len() - from)
    }

    /// Take everything queued, leaving the queue empty; `spare`, an empty
    /// buffer, becomes the new tail so that neither is reallocated.
    #[inline]
    pub(crate) fn take(&mut self, spare: Vec<u8>) -> Batch {
        self.broadcasts = 0;
        Batch {
            ahead: std::mem::take(&mut self.ahead),
            tail: std::mem::replace(&mut self.tail, spare),
        }
    }

    /// Drop everything queued: the connection can send nothing more.
    pub(crate) fn clear(&mut self) {
        self.tail.clear();
        self.ahead.clear();
        self.broadcasts = 0;
    }
}

/// A data message encoded once, unmasked, for every connection it is
/// broadcast to: its bytes as a server sends them, shared, never copied per
/// connection (a client masks a copy of the payload with its own key).
#[derive(Debug, Clone)]
pub(crate) struct SharedFrame {
    bytes: Arc<[u8]>,
    header_len: usize,
    opcode: OpCode,
    rsv: u8,
}

impl SharedFrame {
    /// A final frame carrying `payload`.
    pub(crate) fn new(opcode: OpCode, payload: &[u8]) -> SharedFrame {
        SharedFrame::with_rsv(opcode, 0, payload)
    }

    /// A final frame carrying `payload`, with reserved bits `rsv` (RSV1:
    /// a compressed message).
    pub(crate) fn with_rsv(opcode: OpCode, rsv: u8, payload: &[u8]) -> SharedFrame {
        let mut head = [0u8; MAX_HEADER_LEN];
        let mut header = FrameHeader::data(true, opcode, payload.len(), None);
        header.rsv = rsv;
        let header_len = header.encode(&mut head);
        let mut bytes = Vec::with_capacity(header_len + payload.len());
        bytes.extend_from_slice(&head[..header_len]);
        bytes.extend_from_slice(payload);
        SharedFrame {
            bytes: bytes.into(),
            header_len,
            opcode,
            rsv,
        }
    }

    /// The frame, as a server sends it.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }
}

/// The longest header of a frame of at most [`MAX_SHORT_PAYLOAD`] bytes: 2
/// bytes and a client's masking key.
pub(crate) const SHORT_HEADER_MAX: usize = 6;

/// A whole final frame of at most [`MAX_SHORT_PAYLOAD`] bytes, encoded on
/// the stack: what a small message is sent from when nothing else is
/// queued, without a trip through the queue.
pub(crate) type ShortFrame = [u8; SHORT_HEADER_MAX + MAX_SHORT_PAYLOAD];

/// Encode a final frame of at most [`MAX_SHORT_PAYLOAD`] bytes of payload
/// into `bytes`; returns its length. The header is the one encoder's
/// ([`FrameHeader::encode`]); the length is known to fit the 7-bit field
/// here, which lets the compiler drop the longer forms.
#[inline]
pub(crate) fn encode_short_frame(
    bytes: &mut ShortFrame,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> usize {
    debug_assert!(payload.len() <= MAX_SHORT_PAYLOAD);
    let len = payload.len().min(MAX_SHORT_PAYLOAD);
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = FrameHeader::data(true, opcode, len, mask).encode(&mut head);
    bytes[..head_len].copy_from_slice(&head[..head_len]);
    let out = &mut bytes[head_len..head_len + len];
    out.copy_from_slice(&payload[..len]);
    if let Some(key) = mask {
        apply_mask_short(out, key);
    }
    head_len + len
}

/// Fresh masking keys for client frames (RFC 6455 §5.3: "The masking key is
/// a 32-bit value chosen at random by the client ... derived from a strong
/// source of entropy"). Random bytes are fetched from the OS in batches.
#[derive(Debug)]
struct MaskKeys {
    bytes: [u8; 256],
    used: usize,
}

impl MaskKeys {
    fn new() -> Self {
        MaskKeys {
            bytes: [0; 256],
            used: 256,
        }
    }

    fn next(&mut self) -> Result<[u8; 4], Error> {
        if self.used == self.bytes.len() {
            getrandom::fill(&mut self.bytes).map_err(|_| Error::NoRandomness)?;
            self.used = 0;
        }
        let key = self.bytes[self.used..self.used + 4]
            .try_into()
            .expect("4 bytes");
        self.used += 4;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> OutFrame<'_> {
        OutFrame {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            payload,
        }
    }

    fn all(batch: &Batch) -> Vec<u8> {
        let mut out: Vec<u8> = batch
            .ahead
            .iter()
            .flat_map(|c| c.bytes().to_vec())
            .collect();
        out.extend_from_slice(&batch.tail);
        out
    }

    #[test]
    fn shared_frames_keep_their_place_among_owned_ones() {
        let mut outbox = Outbox::new(Role::Server);
        let shared = SharedFrame::new(OpCode::Binary, b"S");
        outbox.push_frames(&[frame(b"a")]).unwrap();
        outbox.push_broadcast(&shared, 0).unwrap();
        outbox.push_frames(&[frame(b"b")]).unwrap();
        outbox.push_broadcast(&shared, 1).unwrap();
        assert_eq!(outbox.broadcasts(), 2);
        let batch = outbox.take(Vec::new());
        assert_eq!(all(&batch), b"\x82\x01a\x82\x01S\x82\x01b\x01S");
        assert_eq!(batch.len(), 11);
        assert!(outbox.is_empty());
        assert_eq!(outbox.broadcasts(), 0);
        // A client masks its own copy, in its place in the queue.
        let mut client = Outbox::new(Role::Client);
        client.push_broadcast(&shared, 0).unwrap();
        let batch = client.take(Vec::new());
        assert!(batch.ahead.is_empty());
        assert_eq!(batch.tail[..2], [0x82, 0x81]);
    }

    #[test]
    fn a_short_frame_is_encoded_as_the_general_encoder_does() {
        for role in [Role::Client, Role::Server] {
            for len in [0, 1, 7, 8, 125] {
                let payload: Vec<u8> = (0..len as u8).collect();
                let mask = (role == Role::Client).then_some([1, 2, 3, 4]);
                let mut short = [0u8; SHORT_HEADER_MAX + MAX_SHORT_PAYLOAD];
                let n = encode_short_frame(&mut short, OpCode::Text, &payload, mask);
                let mut general = Vec::new();
                crate::protocol::frame::write_frame(
                    &mut general,
                    true,
                    OpCode::Text,
                    &payload,
                    mask,
                );
                assert_eq!(&short[..n], &general[..], "{role:?} {len}");
            }
        }
    }

    #[test]
    fn clients_mask_every_frame_with_a_fresh_key_and_servers_never() {
        let mut client = Outbox::new(Role::Client);
        let keys: Vec<_> = (0..100)
            .map(|_| client.mask_key().unwrap().unwrap())
            .collect();
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert!(
            distinct.len() > 90,
            "{} distinct keys of 100",
            distinct.len()
        );
        assert_eq!(Outbox::new(Role::Server).mask_key(), Ok(None));
    }
}

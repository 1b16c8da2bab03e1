//! The wire format of one frame (RFC 6455 §5.2): parsing and writing frame
//! headers, and writing whole frames.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use crate::protocol::error::ProtocolViolation;
use crate::protocol::mask::apply_mask;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest payload of a control frame (RFC 6455 §5.5: "All control
/// frames MUST have a payload length of 125 bytes or less").
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest payload whose length fits the header's 7-bit length field
/// (§5.2): a frame this short has a 2-byte header, plus 4 bytes of masking
/// key from a client.
pub(crate) const MAX_SHORT_PAYLOAD: usize = 125;

/// A frame's opcode. Reserved opcodes are refused when parsing, so they
/// have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: the next fragment of a message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Control frames (close, ping, pong) have the high bit of the opcode set.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xa,
        }
    }

    /// The opcode for a 4-bit value.
    ///
    /// # Errors
    /// [`ProtocolViolation::ReservedOpcode`] for 0x3-0x7 and 0xB-0xF (RFC
    /// 6455 §5.2: "If an unknown opcode is received, the receiving endpoint
    /// MUST _Fail the WebSocket Connection_").
    pub fn from_bits(bits: u8) -> Result<OpCode, ProtocolViolation> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            other => return Err(ProtocolViolation::ReservedOpcode(other)),
        })
    }
}

/// A frame header: parsed from the wire, or made to be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// The three RSV bits, as the low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The header of a frame with no reserved bits set.
    ///
    /// ```
    /// use syncws::protocol::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
    ///
    /// let mut bytes = [0u8; MAX_HEADER_LEN];
    /// let len = FrameHeader::new(true, OpCode::Binary, 256, None).encode(&mut bytes);
    /// assert_eq!(bytes[..len], [0x82, 0x7e, 0x01, 0x00]); // RFC 6455 §5.7
    /// ```
    pub fn new(fin: bool, opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> Self {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        }
    }

    /// [`new`](Self::new) for a payload held in memory.
    #[inline]
    pub(crate) fn data(fin: bool, opcode: OpCode, len: usize, mask: Option<[u8; 4]>) -> Self {
        FrameHeader::new(fin, opcode, len as u64, mask)
    }

    /// Parse a frame header from the start of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; nothing is consumed.
    /// `Ok(Some((header, n)))` means the header took the first `n` bytes.
    ///
    /// Rules that need no connection state are checked here: reserved
    /// opcodes, fragmented or oversized control frames, and 64-bit lengths
    /// with the top bit set. RSV bits, masking and continuation rules
    /// depend on the connection and are checked by the
    /// [`Connection`](crate::protocol::Connection).
    ///
    /// ```
    /// use syncws::protocol::frame::{FrameHeader, OpCode};
    ///
    /// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
    /// let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    /// let (header, len) = FrameHeader::parse(&bytes).unwrap().unwrap();
    /// assert_eq!((header.fin, header.opcode, header.payload_len, len), (true, OpCode::Text, 5, 2));
    /// assert_eq!(FrameHeader::parse(&bytes[..1]).unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// The [`ProtocolViolation`] the header commits.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolViolation> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_bits(b0 & 0x0f)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut len) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let n = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    // §5.2: "the most significant bit MUST be 0".
                    if n >> 63 != 0 {
                        return Err(ProtocolViolation::LengthTooLarge);
                    }
                    (n, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125
            // bytes or less and MUST NOT be fragmented."
            if !fin {
                return Err(ProtocolViolation::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolViolation::ControlFrameTooLong(payload_len));
            }
        }
        let mask = if masked {
            match buf.get(len..len + 4) {
                Some(k) => {
                    len += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// Write this header into `bytes`, returning its length: the one
    /// encoder of frame headers in the crate. The length takes the minimal
    /// number of bytes (§5.2: "the minimal number of bytes MUST be used to
    /// encode the length").
    #[inline]
    pub fn encode(&self, bytes: &mut [u8; MAX_HEADER_LEN]) -> usize {
        bytes[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                bytes[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                bytes[1] = mask_bit | 126;
                bytes[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                bytes[1] = mask_bit | 127;
                bytes[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            bytes[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }
}

/// RSV1 as [`FrameHeader::rsv`] holds it: permessage-deflate's
/// "Per-Message Compressed" bit (RFC 7692 §6).
pub const RSV1: u8 = 0b100;

/// Append a whole frame to `out`: its header, then its payload, masked with
/// `mask` if given.
///
/// ```
/// use syncws::protocol::frame::{write_frame, OpCode};
///
/// let mut out = Vec::new();
/// write_frame(&mut out, true, OpCode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
/// // RFC 6455 §5.7: a single-frame masked text message.
/// assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_frame_with_rsv(out, fin, 0, opcode, payload, mask);
}

/// [`write_frame`] with reserved bits `rsv` (as [`FrameHeader::rsv`]
/// holds them: RSV1 is `0b100`), which an extension defines.
pub(crate) fn write_frame_with_rsv(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let mut header = FrameHeader::data(fin, opcode, payload.len(), mask);
    header.rsv = rsv;
    let head_len = header.encode(&mut head);
    out.reserve(head_len + payload.len());
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(bytes).unwrap().unwrap()
    }

    /// RFC 6455 §5.7, every example, as (bytes, fin, opcode, mask, payload).
    #[allow(clippy::type_complexity)]
    const RFC_EXAMPLES: &[(&[u8], bool, OpCode, Option<[u8; 4]>, &[u8])] = &[
        // A single-frame unmasked text message
        (
            &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            true,
            OpCode::Text,
            None,
            b"Hello",
        ),
        // A single-frame masked text message
        (
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            true,
            OpCode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
        ),
        // A fragmented unmasked text message: "Hel" then "lo"
        (
            &[0x01, 0x03, 0x48, 0x65, 0x6c],
            false,
            OpCode::Text,
            None,
            b"Hel",
        ),
        (
            &[0x80, 0x02, 0x6c, 0x6f],
            true,
            OpCode::Continuation,
            None,
            b"lo",
        ),
        // Unmasked Ping request and masked Ping response
        (
            &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            true,
            OpCode::Ping,
            None,
            b"Hello",
        ),
        (
            &[
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            true,
            OpCode::Pong,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
        ),
    ];

    #[test]
    fn rfc_6455_section_5_7_examples_parse_and_encode() {
        for &(bytes, fin, opcode, mask, payload) in RFC_EXAMPLES {
            let (header, len) = parse_all(bytes);
            assert_eq!(
                (header.fin, header.opcode, header.mask),
                (fin, opcode, mask)
            );
            assert_eq!(header.payload_len as usize, payload.len());
            let mut body = bytes[len..].to_vec();
            if let Some(key) = mask {
                apply_mask(&mut body, key, 0);
            }
            assert_eq!(body, payload);
            let mut out = Vec::new();
            write_frame(&mut out, fin, opcode, payload, mask);
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn rfc_6455_section_5_7_extended_lengths() {
        // 256 bytes binary message in a single unmasked frame: 0x82 0x7E 0x0100
        let mut out = Vec::new();
        write_frame(&mut out, true, OpCode::Binary, &[0u8; 256], None);
        assert_eq!(&out[..4], &[0x82, 0x7e, 0x01, 0x00]);
        // 64KiB binary message: 0x82 0x7F 0x0000000000010000
        let mut out = Vec::new();
        write_frame(&mut out, true, OpCode::Binary, &vec![0u8; 65536], None);
        assert_eq!(&out[..10], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(parse_all(&out).0.payload_len, 65536);
    }

    #[test]
    fn lengths_round_trip_at_every_encoding_boundary() {
        for len in [
            0u64,
            1,
            125,
            126,
            127,
            0xffff,
            0x10000,
            1 << 32,
            (1 << 63) - 1,
        ] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = header.encode(&mut out);
                let base = match len {
                    0..=125 => 2,
                    126..=0xffff => 4,
                    _ => 10,
                };
                assert_eq!(n, base + if mask.is_some() { 4 } else { 0 });
                assert_eq!(parse_all(&out[..n]), (header, n), "len {len}");
            }
        }
    }

    #[test]
    fn every_prefix_of_a_header_asks_for_more() {
        for len in [5u64, 300, 70_000] {
            let header = FrameHeader {
                fin: false,
                rsv: 0,
                opcode: OpCode::Text,
                mask: Some([9, 8, 7, 6]),
                payload_len: len,
            };
            let mut out = [0u8; MAX_HEADER_LEN];
            let n = header.encode(&mut out);
            for cut in 0..n {
                assert_eq!(
                    FrameHeader::parse(&out[..cut]),
                    Ok(None),
                    "len {len} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn stateless_violations_are_refused() {
        let cases: &[(&[u8], ProtocolViolation)] = &[
            (&[0x83, 0x00], ProtocolViolation::ReservedOpcode(3)),
            (&[0x8b, 0x00], ProtocolViolation::ReservedOpcode(0xb)),
            (&[0x09, 0x00], ProtocolViolation::FragmentedControlFrame),
            (
                &[0x88, 0x7e, 0x00, 0x7e],
                ProtocolViolation::ControlFrameTooLong(126),
            ),
            (
                &[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
                ProtocolViolation::LengthTooLarge,
            ),
        ];
        for (bytes, violation) in cases {
            assert_eq!(
                FrameHeader::parse(bytes),
                Err(violation.clone()),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn rsv_bits_are_reported_for_the_receiver_to_judge() {
        let (header, _) = parse_all(&[0xc1, 0x00]);
        assert_eq!(header.rsv, 0b100);
    }
}

//! A broadcast's frames, each made once: the message as it is, and, for
//! members that agreed to permessage-deflate, the message compressed once
//! per window size they agreed to, standing alone (no context takeover),
//! so that one frame is valid for every member with that window or a
//! larger one, whatever each agreed about context takeover. A member's
//! own compressor takes the message into its window (see
//! `Session::compressed_broadcast`), so its own messages after it stay
//! valid. Compressing is done by compressors kept for reuse, one per
//! window size and broadcasting thread at a time.

#[cfg(feature = "deflate")]
use std::sync::Mutex;

use crate::protocol::frame::OpCode;
use crate::protocol::outbox::SharedFrame;
#[cfg(feature = "deflate")]
use crate::protocol::{
    deflate::{Compressor, Settings},
    frame::RSV1,
};

/// Compressors kept for the next broadcast, per window size (8 to 15), at
/// most this many each: a zlib context is about 290 KiB.
#[cfg(feature = "deflate")]
const KEPT_PER_WINDOW: usize = 2;
#[cfg(feature = "deflate")]
static KEPT: Mutex<[Vec<Compressor>; 8]> = Mutex::new([const { Vec::new() }; 8]);

/// The frames of one broadcast, made when a member first needs them.
pub(super) struct Frames<'a> {
    opcode: OpCode,
    message: &'a [u8],
    plain: Option<SharedFrame>,
    /// Compressed with a window of `8 + i` bits; `None` inside if that
    /// failed (memory), and the plain frame goes instead.
    #[cfg(feature = "deflate")]
    compressed: [Option<Option<SharedFrame>>; 8],
}

impl<'a> Frames<'a> {
    pub(super) fn new(opcode: OpCode, message: &'a [u8]) -> Frames<'a> {
        Frames {
            opcode,
            message,
            plain: None,
            #[cfg(feature = "deflate")]
            compressed: Default::default(),
        }
    }

    /// The frame for a member whose connection compresses messages of at
    /// least `threshold` bytes with a window of `bits` (`deflate`), if it
    /// agreed to deflate; with the uncompressed message when the frame is
    /// compressed.
    pub(super) fn for_member(
        &mut self,
        deflate: Option<(u8, usize)>,
    ) -> (&SharedFrame, Option<&'a [u8]>) {
        #[cfg(feature = "deflate")]
        if let Some((bits, threshold)) = deflate {
            if self.message.len() >= threshold {
                let index = usize::from(bits.clamp(8, 15) - 8);
                let (opcode, message) = (self.opcode, self.message);
                let made = self.compressed[index]
                    .get_or_insert_with(|| compress(opcode, message, index as u8 + 8));
                if let Some(frame) = made {
                    return (frame, Some(message));
                }
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = deflate;
        let (opcode, message) = (self.opcode, self.message);
        let plain = self
            .plain
            .get_or_insert_with(|| SharedFrame::new(opcode, message));
        (plain, None)
    }
}

/// `message` compressed alone with a window of `bits`, as a final frame
/// with RSV1; `None` if memory ran out.
#[cfg(feature = "deflate")]
fn compress(opcode: OpCode, message: &[u8], bits: u8) -> Option<SharedFrame> {
    #[cfg(test)]
    tests::COMPRESSIONS.with(|count| count.set(count.get() + 1));
    let index = usize::from(bits - 8);
    let kept = crate::sync::lock(&KEPT)[index].pop();
    let mut compressor = kept.unwrap_or_else(|| {
        Compressor::new(Settings {
            window_bits: bits,
            context_takeover: false,
            ..Settings::default()
        })
    });
    let mut payload = Vec::new();
    let compressed = compressor.compress(message, &mut payload).is_ok();
    let mut kept = crate::sync::lock(&KEPT);
    if compressed && kept[index].len() < KEPT_PER_WINDOW {
        kept[index].push(compressor);
    }
    drop(kept);
    compressed.then(|| SharedFrame::with_rsv(opcode, RSV1, &payload))
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::protocol::deflate::Decompressor;

    thread_local! {
        /// Messages this thread compressed for broadcasts.
        pub(super) static COMPRESSIONS: Cell<usize> = const { Cell::new(0) };
    }

    /// One compression per window size, however many members share it;
    /// members without deflate, or whose threshold the message is under,
    /// share the plain frame; each compressed frame inflates alone.
    #[test]
    fn a_broadcast_is_compressed_once_per_window_size() {
        let message =
            r#"{"type":"chat","text":"a message for every member of the room"}"#.repeat(3);
        let mut frames = Frames::new(OpCode::Text, message.as_bytes());
        let before = COMPRESSIONS.with(Cell::get);
        let mut seen: Vec<(usize, bool)> = Vec::new();
        let members = [
            Some((15, 32)),
            None,
            Some((15, 32)),
            Some((10, 32)),
            Some((15, 32)),
            Some((10, 64)),
            Some((15, 10_000)),
            None,
        ];
        for deflate in members {
            let (frame, compressed_from) = frames.for_member(deflate);
            seen.push((frame.bytes().as_ptr() as usize, compressed_from.is_some()));
            if let Some(plain) = compressed_from {
                assert_eq!(plain, message.as_bytes());
                // RSV1, and a payload that inflates alone.
                let bytes = frame.bytes();
                assert_eq!(bytes[0], 0xc1);
                let (header, len) = crate::protocol::frame::FrameHeader::parse(bytes)
                    .unwrap()
                    .unwrap();
                assert_eq!(header.payload_len as usize, bytes.len() - len);
                let settings = Settings {
                    window_bits: deflate.unwrap().0,
                    ..Settings::default()
                };
                let inflated = Decompressor::new(settings, 1 << 20)
                    .decompress(&bytes[len..], true)
                    .unwrap();
                assert_eq!(inflated.as_deref(), Some(message.as_bytes()));
            } else {
                assert_eq!(frame.bytes()[0], 0x81);
            }
        }
        assert_eq!(
            COMPRESSIONS.with(Cell::get) - before,
            2,
            "windows 15 and 10"
        );
        let distinct: std::collections::BTreeSet<usize> = seen.iter().map(|(at, _)| *at).collect();
        assert_eq!(distinct.len(), 3, "the plain frame and two compressed ones");
        assert_eq!(seen[0], seen[2]);
        assert_eq!(seen[3], seen[5]);
        assert_eq!(seen[1], seen[6]);
    }
}

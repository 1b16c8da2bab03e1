//! The codec's tests: round trips at every window, the tail and final
//! blocks, fragments, the limit against a bomb, window 8's distances, and
//! hibernation. `scan` is an independent deflate decoder (RFC 1951) that
//! also reports how far back each match reaches.

use std::sync::Arc;

use super::*;
use crate::protocol::budget::MessageBudget;
use crate::protocol::error::{CapacityError, ProtocolViolation};

mod scan {
    //! A small deflate decoder after RFC 1951 §3.2, for the tests only.

    const LBASE: [usize; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [usize; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    pub const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];

    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }

    impl Bits<'_> {
        fn left(&self) -> usize {
            self.data.len() * 8 - self.pos
        }
        fn bits(&mut self, n: u32) -> u32 {
            let mut value = 0;
            for i in 0..n {
                let byte = self.data[self.pos / 8];
                value |= u32::from((byte >> (self.pos % 8)) & 1) << i;
                self.pos += 1;
            }
            value
        }
    }

    struct Huffman {
        count: [i32; 16],
        symbol: Vec<usize>,
    }

    impl Huffman {
        fn new(lengths: &[u8]) -> Huffman {
            let mut count = [0i32; 16];
            for &l in lengths {
                count[l as usize] += 1;
            }
            count[0] = 0;
            let mut symbol = Vec::new();
            for len in 1..16 {
                for (s, &l) in lengths.iter().enumerate() {
                    if l as usize == len {
                        symbol.push(s);
                    }
                }
            }
            Huffman { count, symbol }
        }
        fn decode(&self, bits: &mut Bits) -> usize {
            let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
            for len in 1..16 {
                code |= bits.bits(1) as i32;
                let count = self.count[len];
                if code - count < first {
                    return self.symbol[(index + code - first) as usize];
                }
                index += count;
                first += count;
                first <<= 1;
                code <<= 1;
            }
            panic!("no such code");
        }
    }

    /// Decode a raw deflate stream (blocks until the data ends or a final
    /// block), after `history` (the preset dictionary); returns the output
    /// and the longest distance of any match.
    pub fn inflate(data: &[u8], history: &[u8]) -> (Vec<u8>, usize) {
        let mut out = history.to_vec();
        let mut bits = Bits { data, pos: 0 };
        let mut longest = 0;
        while bits.left() >= 3 {
            let last = bits.bits(1) == 1;
            match bits.bits(2) {
                0 => {
                    bits.pos = bits.pos.div_ceil(8) * 8;
                    let len = bits.bits(16) as usize;
                    let nlen = bits.bits(16) as usize;
                    assert_eq!(len, !nlen & 0xffff, "stored block length");
                    let start = bits.pos / 8;
                    out.extend_from_slice(&data[start..start + len]);
                    bits.pos += len * 8;
                }
                kind @ (1 | 2) => {
                    let (lit, dist) = if kind == 1 {
                        let mut l = [8u8; 288];
                        l[144..256].fill(9);
                        l[256..280].fill(7);
                        (Huffman::new(&l), Huffman::new(&[5; 30]))
                    } else {
                        let hlit = bits.bits(5) as usize + 257;
                        let hdist = bits.bits(5) as usize + 1;
                        let hclen = bits.bits(4) as usize + 4;
                        let mut cl = [0u8; 19];
                        for &i in &ORDER[..hclen] {
                            cl[i] = bits.bits(3) as u8;
                        }
                        let cl = Huffman::new(&cl);
                        let mut lengths = Vec::new();
                        while lengths.len() < hlit + hdist {
                            match cl.decode(&mut bits) {
                                s @ 0..=15 => lengths.push(s as u8),
                                16 => {
                                    let prev = *lengths.last().expect("a length to repeat");
                                    let n = 3 + bits.bits(2);
                                    lengths.extend((0..n).map(|_| prev));
                                }
                                17 => lengths.extend((0..3 + bits.bits(3)).map(|_| 0)),
                                _ => lengths.extend((0..11 + bits.bits(7)).map(|_| 0)),
                            }
                        }
                        (
                            Huffman::new(&lengths[..hlit]),
                            Huffman::new(&lengths[hlit..]),
                        )
                    };
                    loop {
                        let s = lit.decode(&mut bits);
                        if s < 256 {
                            out.push(s as u8);
                        } else if s == 256 {
                            break;
                        } else {
                            let len = LBASE[s - 257] + bits.bits(LEXT[s - 257]) as usize;
                            let d = dist.decode(&mut bits);
                            let distance = DBASE[d] + bits.bits(DEXT[d]) as usize;
                            assert!(distance <= out.len(), "distance before the start");
                            longest = longest.max(distance);
                            for _ in 0..len {
                                out.push(out[out.len() - distance]);
                            }
                        }
                    }
                }
                _ => panic!("reserved block type"),
            }
            if last {
                break;
            }
        }
        (out.split_off(history.len()), longest)
    }
}

/// Messages like a chat's: similar, not identical.
fn chat(i: usize) -> Vec<u8> {
    format!(
        r#"{{"type":"message","room":"general","id":{i},"user":{{"id":{},"name":"user{}"}},"text":"message number {i} says hello to everyone in the room, {}","ts":{}}}"#,
        i % 7,
        i % 7,
        "ha".repeat(i % 5),
        1_700_000_000 + i * 37
    )
    .into_bytes()
}

/// A 64 KiB JSON document.
fn document() -> Vec<u8> {
    let mut doc = String::from("[");
    let mut i = 0;
    while doc.len() < 65_536 - 200 {
        doc.push_str(&format!(
            r#"{{"id":{i},"name":"item {i}","price":{}.{:02},"tags":["t{}","t{}"],"in_stock":{}}},"#,
            i * 13 % 997,
            i % 100,
            i % 11,
            i % 17,
            i % 3 == 0
        ));
        i += 1;
    }
    doc.push_str("{}]");
    doc.into_bytes()
}

fn settings(window_bits: u8, context_takeover: bool) -> Settings {
    Settings {
        window_bits,
        context_takeover,
        ..Settings::default()
    }
}

fn compressed(compressor: &mut Compressor, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compressor.compress(message, &mut out).unwrap();
    out
}

fn with_tail(payload: &[u8]) -> Vec<u8> {
    [payload, &TAIL].concat()
}

#[test]
fn round_trips_at_every_window_with_and_without_context_takeover() {
    for bits in 8..=15 {
        for takeover in [true, false] {
            let mut compressor = Compressor::new(settings(bits, takeover));
            let mut decompressor = Decompressor::new(settings(bits, takeover), 1 << 20);
            let mut history = Vec::new();
            let mut total = (0, 0);
            for i in 0..30 {
                let message = if i == 10 { document() } else { chat(i) };
                let payload = compressed(&mut compressor, &message);
                total = (total.0 + message.len(), total.1 + payload.len());
                let got = decompressor.decompress(&payload, true).unwrap();
                assert_eq!(got.as_deref(), Some(&message[..]), "bits {bits} {takeover}");
                // The independent decoder: with takeover, the history is the
                // messages before; without it, nothing (so a reference to an
                // earlier message would fail here).
                let dictionary = if takeover { &history[..] } else { &[][..] };
                let (inflated, longest) = scan::inflate(&with_tail(&payload), dictionary);
                assert_eq!(inflated, message);
                assert!(longest <= 1 << bits, "bits {bits}: a match {longest} back");
                history.extend_from_slice(&message);
            }
            assert!(total.1 * 2 < total.0, "bits {bits}: {total:?}");
        }
    }
}

#[test]
fn context_takeover_makes_a_repeated_message_tiny_and_its_absence_does_not() {
    let message = chat(1);
    for (takeover, small) in [(true, true), (false, false)] {
        let mut compressor = Compressor::new(settings(15, takeover));
        let first = compressed(&mut compressor, &message);
        let second = compressed(&mut compressor, &message);
        assert_eq!(
            second.len() < 10,
            small,
            "{} then {}",
            first.len(),
            second.len()
        );
    }
}

#[test]
fn window_8_output_never_reaches_back_more_than_256_bytes() {
    // Repeats at distances of 200 to 600 bytes, long runs, and text: what
    // makes a compressor with a larger window reach further back.
    let mut inputs: Vec<Vec<u8>> = vec![document(), vec![b'x'; 5000]];
    let mut noise = Vec::new();
    let mut state = 12345u32;
    for _ in 0..4000 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push(b'a' + (state >> 16) as u8 % 4);
    }
    for period in [200, 255, 256, 257, 300, 400, 511, 600] {
        let block: Vec<u8> = noise[..period].to_vec();
        inputs.push(block.iter().cycle().take(6000).copied().collect());
    }
    inputs.push(noise);
    let mut longest_seen = 0;
    for level in 0..=9 {
        for mem_level in [1, 4, 8, 9] {
            let settings = Settings {
                window_bits: 8,
                level,
                mem_level,
                ..Settings::default()
            };
            let mut compressor = Compressor::new(settings);
            let mut inflater = zlib_rs::Inflate::new(false, 8);
            let mut history = Vec::new();
            for input in &inputs {
                let payload = with_tail(&compressed(&mut compressor, input));
                let (inflated, longest) = scan::inflate(&payload, &history);
                assert_eq!(&inflated, input);
                assert!(longest <= 256, "level {level}: a match {longest} back");
                longest_seen = longest_seen.max(longest);
                let mut out = vec![0; input.len() + 1];
                inflater
                    .decompress(&payload, &mut out, zlib_rs::InflateFlush::SyncFlush)
                    .unwrap();
                assert_eq!(&out[..input.len()], &input[..]);
                history.extend_from_slice(input);
            }
        }
    }
    // The inputs do make it reach back close to the window's end.
    assert!(longest_seen > 200, "{longest_seen}");
}

#[test]
fn a_message_in_fragments_inflates_whatever_the_split() {
    let message = document();
    let mut compressor = Compressor::new(Settings::default());
    let payload = compressed(&mut compressor, &message);
    for size in [1, 3, 100, 4096, payload.len()] {
        let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
        let chunks: Vec<&[u8]> = payload.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let got = decompressor.decompress(chunk, last).unwrap();
            assert_eq!(got.is_some(), last);
            if last {
                assert_eq!(got.unwrap(), message, "fragments of {size}");
            }
        }
    }
    // An empty last fragment is fine too.
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    assert_eq!(decompressor.decompress(&payload, false).unwrap(), None);
    assert_eq!(decompressor.decompress(&[], true).unwrap(), Some(message));
}

#[test]
fn a_message_compressed_in_pieces_is_one_message() {
    let message = document();
    for takeover in [true, false] {
        let mut compressor = Compressor::new(settings(15, takeover));
        let mut decompressor = Decompressor::new(settings(15, takeover), 1 << 20);
        for round in 0..3 {
            let pieces: Vec<&[u8]> = message.chunks(10_000).collect();
            let mut got = None;
            for (i, piece) in pieces.iter().enumerate() {
                let last = i + 1 == pieces.len();
                let mut frame = Vec::new();
                compressor.compress_piece(piece, last, &mut frame).unwrap();
                got = decompressor.decompress(&frame, last).unwrap();
            }
            assert_eq!(got.as_deref(), Some(&message[..]), "round {round}");
        }
    }
}

#[test]
fn the_tail_is_removed_and_the_empty_message_is_one_byte() {
    let mut compressor = Compressor::new(Settings::default());
    let payload = compressed(&mut compressor, b"abc");
    assert!(!payload.ends_with(&TAIL));
    assert_eq!(compressed(&mut compressor, b""), [0x00]);
    let mut decompressor = Decompressor::new(Settings::default(), 10);
    assert_eq!(
        decompressor.decompress(&payload, true).unwrap().unwrap(),
        b"abc"
    );
    assert_eq!(
        decompressor.decompress(&[0x00], true).unwrap().unwrap(),
        b""
    );
    // An empty payload (no block at all) is an empty message too.
    assert_eq!(decompressor.decompress(&[], true).unwrap().unwrap(), b"");
}

/// A raw deflate stream of `message` ending with a final block (Z_FINISH),
/// after `dictionary`.
fn finished(message: &[u8], dictionary: &[u8]) -> Vec<u8> {
    let mut deflate = zlib_rs::Deflate::new(6, false, 15);
    if !dictionary.is_empty() {
        deflate.set_dictionary(dictionary).unwrap();
    }
    let mut out = vec![0; message.len() + 100];
    let status = deflate
        .compress(message, &mut out, zlib_rs::DeflateFlush::Finish)
        .unwrap();
    assert_eq!(status, zlib_rs::Status::StreamEnd);
    out.truncate(deflate.total_out() as usize);
    out
}

#[test]
fn a_message_that_ends_with_a_final_block_inflates_and_the_window_carries_on() {
    let (first, second, third) = (chat(1), chat(2), chat(3));
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    let payload = finished(&first, &[]);
    assert_eq!(
        decompressor.decompress(&payload, true).unwrap(),
        Some(first.clone())
    );
    // The peer's next message refers back to the first (context takeover)
    // and ends with a final block too.
    let payload = finished(&second, &first);
    assert_eq!(
        decompressor.decompress(&payload, true).unwrap(),
        Some(second.clone())
    );
    // Then a sync-flushed one that refers back to both.
    let mut deflate = zlib_rs::Deflate::new(6, false, 15);
    deflate
        .set_dictionary(&[&first[..], &second].concat())
        .unwrap();
    let mut out = vec![0; 1000];
    deflate
        .compress(&third, &mut out, zlib_rs::DeflateFlush::SyncFlush)
        .unwrap();
    out.truncate(deflate.total_out() as usize - TAIL.len());
    assert_eq!(decompressor.decompress(&out, true).unwrap(), Some(third));
    // A final block split across fragments (the appended tail then comes
    // after it: not read).
    let payload = finished(&first, &[]);
    let mut decompressor = Decompressor::new(settings(15, false), 1 << 20);
    let (a, b) = payload.split_at(payload.len() / 2);
    assert_eq!(decompressor.decompress(a, false).unwrap(), None);
    assert_eq!(decompressor.decompress(b, true).unwrap(), Some(first));
}

#[test]
fn data_that_does_not_inflate_is_a_protocol_violation() {
    let invalid = Error::Protocol(ProtocolViolation::InvalidCompressedData);
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    // Block type 3 is reserved.
    assert_eq!(
        decompressor.decompress(&[0xff, 0xff], true),
        Err(invalid.clone())
    );
    assert_eq!(invalid.close_code().map(u16::from), Some(1002));
    // Bytes after the final block.
    let mut payload = finished(b"hello", &[]);
    payload.extend_from_slice(b"more");
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    assert_eq!(decompressor.decompress(&payload, true), Err(invalid));
    // The decompressor takes the next message afresh.
    let good = compressed(&mut Compressor::new(settings(15, false)), b"next");
    let mut decompressor = Decompressor::new(settings(15, false), 1 << 20);
    assert!(decompressor.decompress(&[0xff, 0xff], true).is_err());
    assert_eq!(
        decompressor.decompress(&good, true).unwrap().unwrap(),
        b"next"
    );
}

/// A raw deflate stream of one literal zero and `matches` copies of 258
/// bytes at distance 1, with a dynamic Huffman code of one bit for the
/// length and one for the distance: 2 bits per 258 bytes, so about 1 MiB
/// for 1 GiB (RFC 1951 §3.2.7).
fn bomb(matches: usize) -> Vec<u8> {
    struct Writer {
        out: Vec<u8>,
        bit: usize,
    }
    impl Writer {
        fn bits(&mut self, value: u32, n: u32) {
            for i in 0..n {
                if self.bit % 8 == 0 {
                    self.out.push(0);
                }
                let last = self.out.len() - 1;
                self.out[last] |= (((value >> i) & 1) as u8) << (self.bit % 8);
                self.bit += 1;
            }
        }
        /// A Huffman code, most significant bit first (§3.1.1).
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.bits((code >> i) & 1, 1);
            }
        }
    }
    let mut w = Writer {
        out: Vec::with_capacity(matches / 4 + 64),
        bit: 0,
    };
    w.bits(0, 1); // not final
    w.bits(2, 2); // dynamic Huffman
    w.bits(29, 5); // 286 literal/length codes
    w.bits(0, 5); // 1 distance code
    w.bits(15, 4); // 19 code length codes
    // Code length code: 18 → "0", 1 → "10", 2 → "11".
    for symbol in scan::ORDER {
        let len = match symbol {
            18 => 1,
            1 | 2 => 2,
            _ => 0,
        };
        w.bits(len, 3);
    }
    // Literal/length lengths: 0 → 2, 1..=255 → 0, 256 → 2, 257..=284 → 0,
    // 285 → 1; then the distance code 0 → 1.
    w.code(0b11, 2); // 2
    w.code(0, 1);
    w.bits(127, 7); // 138 zeros
    w.code(0, 1);
    w.bits(106, 7); // 117 zeros
    w.code(0b11, 2); // 2 (end of block)
    w.code(0, 1);
    w.bits(17, 7); // 28 zeros
    w.code(0b10, 2); // 1 (length 258)
    w.code(0b10, 2); // 1 (distance 1)
    // Codes: 285 → "0", 0 → "10", 256 → "11"; distance 0 → "0".
    w.code(0b10, 2); // the literal zero
    for _ in 0..matches {
        w.code(0, 1);
        w.code(0, 1);
    }
    w.code(0b11, 2); // end of block
    // What a sync flush leaves once its tail is removed: the header of an
    // empty stored block, padded to a byte (§7.2.1).
    w.bits(0, 3);
    w.out
}

#[test]
fn the_bomb_is_what_it_says() {
    let small = bomb(1000);
    let (inflated, _) = scan::inflate(&with_tail(&small), &[]);
    assert_eq!(inflated.len(), 1 + 258 * 1000);
    assert!(inflated.iter().all(|&b| b == 0));
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    let got = decompressor.decompress(&small, true).unwrap().unwrap();
    assert_eq!(got.len(), 1 + 258 * 1000);
}

#[test]
fn a_bomb_is_refused_having_allocated_no_more_than_the_limit() {
    let gib = 1usize << 30;
    let payload = bomb(gib / 258);
    assert!(payload.len() < 1_100_000, "{}", payload.len());
    let limit = 1 << 20;
    let mut decompressor = Decompressor::new(Settings::default(), limit);
    // Sent in fragments of 64 KiB: the limit counts across them.
    let chunks: Vec<&[u8]> = payload.chunks(65_536).collect();
    let mut result = Ok(None);
    for (i, chunk) in chunks.iter().enumerate() {
        result = decompressor.decompress(chunk, i + 1 == chunks.len());
        if result.is_err() {
            assert_eq!(i, 0, "refused in the first fragment");
            break;
        }
    }
    assert_eq!(
        result,
        Err(Error::Capacity(CapacityError::MessageTooLong {
            size: limit as u64 + 1,
            max_size: limit,
        }))
    );
    assert_eq!(result.unwrap_err().close_code().map(u16::from), Some(1009));
    assert!(
        decompressor.message_capacity() <= limit,
        "{} for a limit of {limit}",
        decompressor.message_capacity()
    );
}

#[test]
fn the_limit_counts_the_inflated_size_across_fragments_exactly() {
    let message = document();
    let payload = compressed(&mut Compressor::new(Settings::default()), &message);
    let (a, b) = payload.split_at(payload.len() / 2);
    let mut exact = Decompressor::new(Settings::default(), message.len());
    exact.decompress(a, false).unwrap();
    assert_eq!(exact.decompress(b, true).unwrap(), Some(message.clone()));
    let mut short = Decompressor::new(Settings::default(), message.len() - 1);
    let refused = short
        .decompress(a, false)
        .and_then(|_| short.decompress(b, true));
    assert!(matches!(
        refused,
        Err(Error::Capacity(CapacityError::MessageTooLong { .. }))
    ));
}

#[test]
fn the_message_budget_is_charged_as_the_output_grows_and_given_back() {
    let message = document();
    let payload = compressed(&mut Compressor::new(Settings::default()), &message);
    let budget = Arc::new(MessageBudget::new(1 << 20));
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    decompressor.share_budget(budget.clone());
    let (a, b) = payload.split_at(payload.len() / 2);
    decompressor.decompress(a, false).unwrap();
    assert!(budget.used() >= 1024, "{}", budget.used());
    assert_eq!(
        decompressor.decompress(b, true).unwrap(),
        Some(message.clone())
    );
    assert_eq!(budget.used(), 0);
    // A budget too small for the message fails it with 1009.
    let small = Arc::new(MessageBudget::new(10_000));
    let mut decompressor = Decompressor::new(settings(15, false), 1 << 20);
    decompressor.share_budget(small.clone());
    let refused = decompressor.decompress(&payload, true);
    assert!(matches!(
        refused,
        Err(Error::Capacity(CapacityError::OverBudget { .. }))
    ));
    assert_eq!(small.used(), 0);
}

#[test]
fn contexts_are_made_by_the_first_message_and_go_at_hibernation() {
    let now = Instant::now();
    let idle = Duration::from_secs(5);
    let mut codec = Codec::new(Settings::default(), Settings::default(), 1 << 20);
    assert!(!codec.compressor().has_context() && !codec.decompressor().has_context());
    assert!(!codec.hibernate_if_idle(now + idle, idle), "no traffic yet");
    let mut payload = Vec::new();
    codec.compress(&chat(1), now, &mut payload).unwrap();
    let mut peer = Compressor::new(Settings::default());
    codec
        .decompress(&compressed(&mut peer, &chat(2)), true, now)
        .unwrap();
    assert!(codec.compressor().has_context() && codec.decompressor().has_context());
    assert_eq!(codec.hibernation_due(idle), Some(now + idle));
    assert!(!codec.hibernate_if_idle(now + idle / 2, idle));
    assert!(codec.hibernate_if_idle(now + idle, idle));
    assert!(!codec.compressor().has_context() && !codec.decompressor().has_context());
    assert_eq!(codec.hibernation_due(idle), None);
    // What is left: the two windows, the size of what went by.
    assert_eq!(codec.compressor().heap_bytes(), chat(1).len());
    assert_eq!(codec.decompressor().heap_bytes(), chat(2).len());
}

#[test]
fn hibernation_keeps_the_compression_ratio_and_the_stream_valid() {
    let messages: Vec<Vec<u8>> = (0..40).map(chat).collect();
    let mut steady = Compressor::new(Settings::default());
    let mut sleepy = Compressor::new(Settings::default());
    // The peer's decompressor hibernates too; an independent decoder that
    // never hibernates checks the stream.
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    let mut history = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        if i % 10 == 5 {
            sleepy.hibernate();
            decompressor.hibernate();
            assert!(!sleepy.has_context());
        }
        let a = compressed(&mut steady, message);
        let b = compressed(&mut sleepy, message);
        // zlib-rs rebuilds the same state from the dictionary: the bytes
        // are those it would have sent had it never hibernated.
        assert_eq!(b, a, "message {i}");
        let (inflated, _) = scan::inflate(&with_tail(&b), &history);
        assert_eq!(&inflated, message);
        assert_eq!(
            decompressor.decompress(&b, true).unwrap().as_ref(),
            Some(message)
        );
        history.extend_from_slice(message);
    }
}

#[test]
fn a_full_window_survives_hibernation() {
    // More than the window went by: what is kept is its last 2^bits bytes.
    for bits in [8, 9, 12, 15] {
        let mut compressor = Compressor::new(settings(bits, true));
        let mut steady = Compressor::new(settings(bits, true));
        let mut decompressor = Decompressor::new(settings(bits, true), 1 << 20);
        let (mut total, mut steady_total) = (0, 0);
        for i in 0..20 {
            let message = if i % 4 == 0 { document() } else { chat(i) };
            let payload = compressed(&mut compressor, &message);
            total += payload.len();
            steady_total += compressed(&mut steady, &message).len();
            assert_eq!(
                decompressor.decompress(&payload, true).unwrap(),
                Some(message)
            );
            if i % 3 == 0 {
                compressor.hibernate();
                assert!(compressor.heap_bytes() <= 1 << bits);
            }
            if i % 2 == 0 {
                decompressor.hibernate();
                assert!(decompressor.heap_bytes() <= 1 << bits);
            }
        }
        assert!(
            total <= steady_total + 20 * 4,
            "bits {bits}: {total} against {steady_total}"
        );
    }
}

#[test]
fn hibernation_waits_for_a_message_half_done() {
    let mut compressor = Compressor::new(Settings::default());
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    let message = document();
    let (a, b) = message.split_at(30_000);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    compressor.compress_piece(a, false, &mut first).unwrap();
    compressor.hibernate();
    assert!(compressor.has_context());
    compressor.compress_piece(b, true, &mut second).unwrap();
    decompressor.decompress(&first, false).unwrap();
    decompressor.hibernate();
    assert!(decompressor.has_context());
    assert_eq!(
        decompressor.decompress(&second, true).unwrap(),
        Some(message)
    );
}

/// A broadcast, compressed once by another compressor standing alone,
/// reaching the peer between a connection's own messages.
fn broadcast(message: &[u8]) -> Vec<u8> {
    compressed(&mut Compressor::new(settings(15, false)), message)
}

#[test]
fn own_messages_interleaved_with_broadcasts_inflate_with_an_independent_inflater() {
    // Own messages and broadcasts in turn, some runs of broadcasts while
    // the compressor is live, some after it hibernated or before it ever
    // ran; the peer's decompressor and an independent inflater (which
    // keeps the whole history) read every message.
    let mut own = Compressor::new(Settings::default());
    let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    let mut history = Vec::new();
    for i in 0..60 {
        let message = chat(i);
        let payload = if i >= 6 && i % 3 == 0 {
            compressed(&mut own, &message)
        } else {
            if i % 12 == 4 {
                own.hibernate();
            }
            own.sent_elsewhere(&message).unwrap();
            broadcast(&message)
        };
        let (inflated, _) = scan::inflate(&with_tail(&payload), &history);
        assert_eq!(inflated, message, "message {i}");
        assert_eq!(
            decompressor.decompress(&payload, true).unwrap().as_ref(),
            Some(&message),
            "message {i}"
        );
        history.extend_from_slice(&message);
    }
}

#[test]
fn a_listener_keeps_no_window_of_broadcasts_and_a_talker_refers_back_to_them() {
    // Never sent, or hibernated: nothing is kept.
    let mut listener = Compressor::new(Settings::default());
    for i in 0..100 {
        listener.sent_elsewhere(&chat(i)).unwrap();
    }
    assert_eq!(listener.heap_bytes(), 0);
    // Live: the broadcast is history, so repeating it costs a few bytes.
    let mut talker = Compressor::new(Settings::default());
    let first = compressed(&mut talker, &chat(1));
    talker.sent_elsewhere(&chat(2)).unwrap();
    let repeat = compressed(&mut talker, &chat(2));
    assert!(
        repeat.len() < first.len() / 4,
        "{} {}",
        repeat.len(),
        first.len()
    );
}

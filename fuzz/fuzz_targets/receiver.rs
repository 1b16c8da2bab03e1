//! The receiving state machine fed an arbitrary byte stream in arbitrary
//! chunks, driven as the blocking layer drives it: loop `next_event()`; on
//! `Ok(None)` ask `read_target()`, put at most that many of the next input
//! bytes there, report them with `filled(n)`; stop at the first error, at the
//! peer's close, or when the input runs out.
//!
//! Input layout (all optional; short inputs fall back to defaults):
//!
//! ```text
//! byte 0        flags: bit 0 client role (else server)
//!                      bit 1 give the first bytes with receive_data, as the
//!                            bytes that followed the handshake head
//!                      bit 2 tiny limits (frame 200 B, message 500 B)
//!                            instead of frame 1 MiB, message 2 MiB
//! byte 1        k: its low 3 bits, the number of chunk sizes that follow
//! k × u16 LE    chunk sizes, used in turn: 0 is a read that timed out with
//!               nothing (Buffer: no `filled`; Message: `filled(0)`),
//!               0xffff as much as the target takes
//! u16 LE        if bit 1: how many bytes to give with receive_data
//! the rest      the byte stream from the peer
//! ```
//!
//! Checked: no panic; a read target is never empty (the blocking layer would
//! take a 0-byte read for EOF); every message is within max_message_size and
//! every control payload within 125 bytes; and the events, the error and the
//! end state are the same as when the same stream arrives in reads as large
//! as the receiver takes — a read cut anywhere (a timeout) loses nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::fuzzing::{Event, MAX_REASON_LEN, ReadTarget, Receiver};
use syncws::protocol::Role;
use syncws::protocol::frame::MAX_CONTROL_PAYLOAD;
use syncws::{Config, Message};

const UNLIMITED: usize = usize::MAX;

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<String>,
    closed: bool,
    /// Bytes of an unfinished frame or message are held (while open).
    partial: bool,
}

fn run(role: Role, config: &Config, mut input: &[u8], chunks: &[usize], push: usize) -> Outcome {
    let max_frame = config.get_max_frame_size();
    let max_message = config.get_max_message_size();
    let mut receiver = Receiver::new(role, config);
    if push > 0 {
        receiver.receive_data(&input[..push]);
        input = &input[push..];
    }
    let mut events = Vec::new();
    let mut error = None;
    let mut turn = 0;
    loop {
        match receiver.next_event() {
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
            Ok(Some(event)) => {
                check_event(&event, max_message);
                let close = matches!(event, Event::Close(_));
                events.push(event);
                if close {
                    assert!(receiver.is_finished());
                    break;
                }
            }
            Ok(None) => {
                assert!(!receiver.has_buffered_bytes() || receiver.has_partial_data());
                if input.is_empty() {
                    break;
                }
                let want = chunks[turn % chunks.len()];
                turn += 1;
                let n = match receiver.read_target() {
                    ReadTarget::Buffer(buf) => {
                        assert!(!buf.is_empty(), "empty read buffer: a read would mean EOF");
                        if want == 0 {
                            continue; // timed out: `filled` is not called
                        }
                        let n = want.min(buf.len()).min(input.len());
                        buf[..n].copy_from_slice(&input[..n]);
                        n
                    }
                    ReadTarget::Message { buf, max } => {
                        assert!(max > 0, "direct read of 0 bytes");
                        assert!(max <= max_frame, "direct read of {max} > frame limit");
                        let before = buf.len();
                        let n = want.min(max).min(input.len());
                        buf.extend_from_slice(&input[..n]);
                        assert!(buf.len() <= max_message);
                        assert_eq!(buf.len(), before + n);
                        n
                    }
                };
                input = &input[n..];
                if let Err(e) = receiver.filled(n) {
                    error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
    }
    Outcome {
        events,
        closed: receiver.is_finished(),
        // After an error or the peer's close the rest is never parsed, and
        // how much of it was buffered depends on the reads.
        partial: error.is_none() && !receiver.is_finished() && receiver.has_partial_data(),
        error,
    }
}

fn check_event(event: &Event, max_message: usize) {
    match event {
        Event::Message(message) => {
            assert!(message.len() <= max_message, "message of {}", message.len());
            if let Message::Text(text) = message {
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            }
        }
        Event::Ping(payload) | Event::Pong(payload) => {
            assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        }
        Event::Close(Some(frame)) => {
            assert!(frame.code.is_sendable(), "{frame:?}");
            assert!(frame.reason.len() <= MAX_REASON_LEN);
        }
        Event::Close(None) => {}
    }
}

/// Splits off `n` bytes, or all that is left.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fn u16_le(bytes: &[u8]) -> usize {
    match *bytes {
        [lo, hi] => usize::from(u16::from_le_bytes([lo, hi])),
        [lo] => usize::from(lo),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = take(&mut data, 1).first().copied().unwrap_or(0);
    let k = take(&mut data, 1).first().map_or(0, |b| b & 7) as usize;
    let mut chunks: Vec<usize> = (0..k)
        .map(|_| match u16_le(take(&mut data, 2)) {
            0xffff => UNLIMITED,
            n => n,
        })
        .collect();
    if chunks.iter().all(|&n| n == 0) {
        chunks = vec![UNLIMITED];
    }
    let push = if flags & 2 != 0 {
        u16_le(take(&mut data, 2)).min(data.len())
    } else {
        0
    };
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let config = if flags & 4 != 0 {
        Config::default().max_frame_size(200).max_message_size(500)
    } else {
        Config::default()
            .max_frame_size(1 << 20)
            .max_message_size(2 << 20)
    };

    let chunked = run(role, &config, data, &chunks, push);
    let whole = run(role, &config, data, &[UNLIMITED], 0);
    assert_eq!(
        chunked, whole,
        "the outcome depends on how the stream was cut"
    );
});

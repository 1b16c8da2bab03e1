//! The receiving state machine with permessage-deflate agreed, fed an
//! arbitrary byte stream in arbitrary chunks as the blocking layer feeds it
//! (see `receiver.rs`, whose driver this repeats): compressed messages
//! (RSV1 on their first frame), the inflate limit, the RSV1 rules of
//! RFC 7692 §6.1, and hibernation between messages.
//!
//! Input layout (all optional; short inputs fall back to defaults):
//!
//! ```text
//! byte 0        flags: bit 0 client role (else server)
//!                      bit 1 give the first bytes with receive_data
//!                      bit 2 tiny limits (frame 200 B, message 500 B)
//!                            instead of frame 1 MiB, message 2 MiB
//!                      bit 3 hibernate the decompressor after every
//!                            message (as the reader's idle timer may), in
//!                            both runs
//! byte 1        the agreement: its low 3 bits plus 8, the window of the
//!               peer's compressor (the direction this receiver inflates);
//!               bit 3 that direction without context takeover
//! byte 2        k: its low 3 bits, the number of chunk sizes that follow
//! k × u16 LE    chunk sizes, used in turn: 0 is a read that timed out with
//!               nothing, 0xffff as much as the target takes
//! u16 LE        if bit 1: how many bytes to give with receive_data
//! the rest      the byte stream from the peer
//! ```
//!
//! Checked: no panic; a read target is never empty; every message (its
//! inflated size) within max_message_size and a message buffer never past
//! it, text valid UTF-8, control payloads within 125 bytes; a hibernated
//! decompressor holds no zlib context; and the events, the error and the
//! end state are the same as when the same stream arrives in reads as
//! large as the receiver takes: where a read is cut changes nothing.
//!
//! Hibernating or not may change the outcome for a peer whose compressed
//! message does not end at a deflate block boundary (which RFC 7692
//! §7.2.1's sender never makes): the live context goes on mid-block, the
//! rebuilt one cannot. That known difference is
//! `regressions/receiver_deflate-hibernate-mid-block`, and the ignored test
//! `hibernation_between_messages_changes_nothing` in
//! tests/deflate_interop.rs; so both runs here hibernate alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::fuzzing::{Event, MAX_REASON_LEN, ReadTarget, Receiver};
use syncws::protocol::Role;
use syncws::protocol::extension::{
    self,
    permessage_deflate::{self, DeflateConfig, Negotiated},
};
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

struct Setup {
    role: Role,
    config: Config,
    negotiated: Negotiated,
}

fn run(setup: &Setup, mut input: &[u8], chunks: &[usize], push: usize, hibernate: bool) -> Outcome {
    let max_frame = setup.config.get_max_frame_size();
    let max_message = setup.config.get_max_message_size();
    let mut receiver = Receiver::new(setup.role, &setup.config);
    receiver.enable_deflate(&setup.negotiated);
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
                let message = matches!(event, Event::Message(_));
                events.push(event);
                if close {
                    assert!(receiver.is_finished());
                    break;
                }
                if message && hibernate {
                    // Between messages: what the reader's idle timer does.
                    receiver.hibernate_inflate();
                    assert!(!receiver.inflate_has_context());
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

/// The agreement a handshake would reach when the peer's compressor uses
/// a window of `bits` (8 to 15), with or without context takeover.
fn agreement(role: Role, bits: u8, no_takeover: bool) -> Negotiated {
    // The peer compresses server-to-client when we are the client.
    let (window, takeover) = match role {
        Role::Client => ("server_max_window_bits", "server_no_context_takeover"),
        Role::Server => ("client_max_window_bits", "client_no_context_takeover"),
    };
    let mut offer = format!("permessage-deflate; {window}={bits}");
    if no_takeover {
        offer.push_str("; ");
        offer.push_str(takeover);
    }
    let offers = extension::parse([offer.as_str()]).expect("a well-formed offer");
    let config = DeflateConfig::default();
    let agreed = permessage_deflate::negotiate(&config, &offers).expect("an acceptable offer");
    let incoming = agreed.params.incoming(role);
    assert_eq!(incoming.window_bits, bits, "{offer}");
    assert_eq!(incoming.context_takeover, !no_takeover, "{offer}");
    Negotiated::new(agreed.params, config)
}

/// Splits off `n` bytes, or all that is left.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
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
    let flags = byte(&mut data);
    let params = byte(&mut data);
    let k = (byte(&mut data) & 7) as usize;
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
    let hibernate = flags & 8 != 0;
    let negotiated = agreement(role, 8 + (params & 7), params & 8 != 0);
    let setup = Setup {
        role,
        config,
        negotiated,
    };

    let chunked = run(&setup, data, &chunks, push, hibernate);
    let whole = run(&setup, data, &[UNLIMITED], 0, hibernate);
    assert_eq!(
        chunked, whole,
        "the outcome depends on how the stream was cut"
    );
});

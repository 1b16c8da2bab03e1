//! What the `receiver` and `receiver_deflate` targets share: the driver
//! that feeds a `Receiver` as the blocking layer does, the checks on each
//! event, and the common part of the input layout (flags, chunk sizes, the
//! bytes given with `receive_data`). Included by both with `#[path]`.
#![allow(dead_code)]

use syncws::fuzzing::{Event, MAX_REASON_LEN, ReadTarget, Receiver};
use syncws::protocol::Role;
use syncws::protocol::frame::MAX_CONTROL_PAYLOAD;
use syncws::{Config, Message};

pub const UNLIMITED: usize = usize::MAX;

#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub error: Option<String>,
    pub closed: bool,
    /// Bytes of an unfinished frame or message are held (while open).
    pub partial: bool,
}

/// What the input's first bytes choose.
pub struct Input<'a> {
    pub flags: u8,
    pub role: Role,
    pub config: Config,
    pub chunks: Vec<usize>,
    pub push: usize,
    pub stream: &'a [u8],
}

/// Parse the layout's common part: byte 0 the flags (bit 0 client role,
/// bit 1 bytes given with receive_data, bit 2 tiny limits), then
/// `extra` bytes for the target (returned), then the chunk sizes and the
/// receive_data count.
pub fn parse(mut data: &[u8], extra: usize) -> (Input<'_>, Vec<u8>) {
    let flags = byte(&mut data);
    let own: Vec<u8> = (0..extra).map(|_| byte(&mut data)).collect();
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
    let input = Input {
        flags,
        role,
        config,
        chunks,
        push,
        stream: data,
    };
    (input, own)
}

/// Feed `input` to `receiver` in reads of `chunks` (after `push` bytes
/// given with receive_data); `after_message` runs after each message.
pub fn run(
    mut receiver: Receiver,
    config: &Config,
    mut input: &[u8],
    chunks: &[usize],
    push: usize,
    after_message: &mut dyn FnMut(&mut Receiver),
) -> Outcome {
    let max_frame = config.get_max_frame_size();
    let max_message = config.get_max_message_size();
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
                if message {
                    after_message(&mut receiver);
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

pub fn check_event(event: &Event, max_message: usize) {
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
pub fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

pub fn u16_le(bytes: &[u8]) -> usize {
    match *bytes {
        [lo, hi] => usize::from(u16::from_le_bytes([lo, hi])),
        [lo] => usize::from(lo),
        _ => 0,
    }
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

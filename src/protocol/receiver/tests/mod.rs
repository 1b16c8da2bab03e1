//! Byte-vector tests of the receiving state machine, in the style of
//! python-websockets' `test_protocol.py`: bytes in, events out.
//!
//! Every input given to [`assert_events`] (and so to [`assert_violation`])
//! is fed whole, split in two at every byte position, one byte at a time
//! and in irregular chunks, and must give the same events every time: where
//! the reads happen to cut the stream must never matter.

mod driver;
mod rfc6455_10_4;
mod rfc6455_5_1;
mod rfc6455_5_2;
mod rfc6455_5_4;
mod rfc6455_5_5;
mod rfc6455_5_7;
mod rfc6455_8_1;
#[cfg(feature = "deflate")]
mod rfc7692;

use std::collections::BTreeSet;

use super::*;
use crate::protocol::frame::{MAX_HEADER_LEN, write_frame};
use crate::protocol::message::CloseCode;

/// The masking key of RFC 6455 §5.7's examples.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const ROLES: [Role; 2] = [Role::Client, Role::Server];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// What one step of the receiver produced: an event, or the error that
/// fails the connection (errors of the core are plain values).
type Outcome = Result<Event, Error>;

/// How the receiver asked for its input.
#[derive(Debug, Default, Clone, Copy)]
struct Targets {
    /// `ReadTarget::Buffer` handed out.
    buffer: usize,
    /// `ReadTarget::Message` handed out: the direct-to-message read path.
    message: usize,
    /// Bytes appended through `ReadTarget::Message`.
    message_bytes: usize,
    /// Input bytes taken by the receiver.
    consumed: usize,
}

fn receiver(role: Role) -> Receiver {
    Receiver::new(role, &Config::default())
}

/// Feed `input` to `receiver` exactly as the blocking layer does, and
/// collect the events: loop on `next_event`; when it needs bytes, ask
/// `read_target` and put the next input bytes there (for
/// `ReadTarget::Message` at most `max` appended to `buf`, for
/// `ReadTarget::Buffer` at most the slice's length), then `filled(n)`.
/// Stops when the input is exhausted and no event is left, or at the first
/// error (the connection is failed then).
fn feed(receiver: &mut Receiver, input: &[u8]) -> Vec<Outcome> {
    feed_counting(receiver, input, &mut Targets::default())
}

fn feed_counting(receiver: &mut Receiver, input: &[u8], targets: &mut Targets) -> Vec<Outcome> {
    let mut events = Vec::new();
    let mut rest = input;
    loop {
        match receiver.next_event() {
            Ok(Some(event)) => {
                events.push(Ok(event));
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                events.push(Err(e));
                return events;
            }
        }
        if rest.is_empty() {
            return events;
        }
        let n = match receiver.read_target() {
            ReadTarget::Buffer(buf) => {
                targets.buffer += 1;
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                n
            }
            ReadTarget::Message { buf, max } => {
                targets.message += 1;
                assert!(max > 0, "a direct read of no byte");
                let n = max.min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                targets.message_bytes += n;
                n
            }
        };
        if n == 0 {
            // Only a closed receiver, which parses nothing more, may stop
            // offering room; an open one would never make progress.
            assert!(
                receiver.is_finished(),
                "an open receiver offered no room for input"
            );
            return events;
        }
        rest = &rest[n..];
        targets.consumed += n;
        if let Err(e) = receiver.filled(n) {
            events.push(Err(e));
            return events;
        }
    }
}

/// Feed `pieces` one after the other to a new receiver, as successive
/// reads would deliver them; stop at the first error.
fn run(role: Role, config: &Config, pieces: &[&[u8]]) -> (Vec<Outcome>, Targets) {
    run_on(&|| Receiver::new(role, config), pieces)
}

/// [`run`] on a receiver `make` makes.
fn run_on(make: &dyn Fn() -> Receiver, pieces: &[&[u8]]) -> (Vec<Outcome>, Targets) {
    let mut receiver = make();
    let mut targets = Targets::default();
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(feed_counting(&mut receiver, piece, &mut targets));
        if matches!(events.last(), Some(Err(_))) {
            break;
        }
    }
    (events, targets)
}

/// Inputs up to this long are split at every byte position: more than the
/// read buffer's first sizes (4 and 8 KiB).
const EVERY_SPLIT_UP_TO: usize = 16 << 10;

/// Where to cut an input in two. Every position for inputs up to
/// [`EVERY_SPLIT_UP_TO`]. For longer ones (the 64 KiB example of §5.7, the
/// 200 KiB frames), cutting at each position would feed gigabytes (the
/// 64 KiB example alone took a minute): there every position near the
/// start (the header and the first buffered read), near the end, and
/// around every multiple of 4 KiB (the read buffer's sizes and the text
/// validation step) is taken, and an odd stride elsewhere, which reaches
/// every phase of the masking key. Inside one long payload, cuts that agree
/// on those differ in nothing the receiver looks at.
fn split_points(len: usize) -> Vec<usize> {
    if len <= EVERY_SPLIT_UP_TO {
        return (0..=len).collect();
    }
    let mut points = BTreeSet::new();
    points.extend(0..=64);
    points.extend(len - 64..=len);
    for boundary in (4096..len).step_by(4096) {
        points.extend(boundary - 4..=boundary + 4);
    }
    points.extend((0..=len).step_by(251));
    points.into_iter().filter(|&p| p <= len).collect()
}

/// Chunk sizes, cycled, for irregular reads.
const CHUNKINGS: &[&[usize]] = &[
    &[1, 2, 3, 5, 8, 13, 21],
    &[7, 4095, 4097, 126, 1],
    &[65535, 3, 65537, 14],
];

fn chunked<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// A short description of events, for failure messages (a 200 KiB message
/// printed whole would bury the point).
fn describe(events: &[Outcome]) -> String {
    let mut text = format!("{events:?}");
    if text.len() > 600 {
        let mut end = 600;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Assert that a `role` receiver with the default limits turns `input`
/// into `expected`, however the input is cut into reads.
fn assert_events(role: Role, input: &[u8], expected: &[Outcome]) -> Vec<Targets> {
    assert_events_with(role, &Config::default(), input, expected)
}

/// [`assert_events`] with these limits. Returns how the receiver asked for
/// its input in each run.
fn assert_events_with(
    role: Role,
    config: &Config,
    input: &[u8],
    expected: &[Outcome],
) -> Vec<Targets> {
    assert_events_on(role, &|| Receiver::new(role, config), input, expected)
}

/// [`assert_events`] on receivers `make` makes (for `role`).
fn assert_events_on(
    role: Role,
    make: &dyn Fn() -> Receiver,
    input: &[u8],
    expected: &[Outcome],
) -> Vec<Targets> {
    let mut all = Vec::new();
    let mut check = |how: &str, pieces: &[&[u8]]| {
        let (events, targets) = run_on(make, pieces);
        assert!(
            events == expected,
            "{role:?} receiver fed {how} ({} bytes):\n   got {}\nexpected {}",
            input.len(),
            describe(&events),
            describe(expected),
        );
        all.push(targets);
    };
    check("whole", &[input]);
    for cut in split_points(input.len()) {
        let (a, b) = input.split_at(cut);
        check(&format!("in two pieces cut at {cut}"), &[a, b]);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    check("one byte at a time", &bytes);
    for sizes in CHUNKINGS {
        check(&format!("in chunks of {sizes:?}"), &chunked(input, sizes));
    }
    all
}

/// Assert that `input` fails the connection with `violation` and
/// `close_code`, before any event, however it is cut.
fn assert_violation(role: Role, input: &[u8], violation: ProtocolViolation, close_code: u16) {
    assert_events(role, input, &[protocol_error(violation, close_code)]);
}

/// Feed `input` one byte at a time: the index of the byte whose arrival
/// failed the connection, and the failure.
fn failure_index(role: Role, config: &Config, input: &[u8]) -> Option<(usize, Error)> {
    let mut receiver = Receiver::new(role, config);
    for (i, byte) in input.iter().enumerate() {
        if let Some(Err(failure)) = feed(&mut receiver, std::slice::from_ref(byte)).pop() {
            return Some((i, failure));
        }
    }
    None
}

/// The mask a peer uses when sending to `role` (§5.1: clients mask,
/// servers do not).
fn mask_to(role: Role) -> Option<[u8; 4]> {
    match role {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

/// A well-formed frame as the peer sends it to a `role` receiver.
fn frame_to(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, fin, opcode, payload, mask_to(role));
    out
}

/// A frame with a raw first byte (FIN, RSV and opcode bits as given), the
/// length and mask as the peer sends them to `role`.
fn raw_frame_to(role: Role, first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_to(role, true, OpCode::Binary, payload);
    out[0] = first_byte;
    out
}

/// The length of the header of a frame with this payload sent to `role`.
fn header_len(role: Role, payload_len: usize) -> usize {
    let base = match payload_len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    };
    base + if role == Role::Server { 4 } else { 0 }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `len` bytes of every value.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ 0x5a)
        .collect()
}

fn text(s: &str) -> Outcome {
    Ok(Event::Message(Message::Text(s.to_owned())))
}

fn binary(b: &[u8]) -> Outcome {
    Ok(Event::Message(Message::Binary(b.to_vec())))
}

fn ping(b: &[u8]) -> Outcome {
    Ok(Event::Ping(b.to_vec()))
}

fn pong(b: &[u8]) -> Outcome {
    Ok(Event::Pong(b.to_vec()))
}

fn close(code: u16, reason: &str) -> Outcome {
    Ok(Event::Close(Some(CloseFrame::new(
        CloseCode::from(code),
        reason,
    ))))
}

/// The error `violation` gives, which fails the connection with
/// `close_code`.
fn protocol_error(violation: ProtocolViolation, close_code: u16) -> Outcome {
    let error = Error::Protocol(violation);
    assert_eq!(error.close_code(), Some(CloseCode::from(close_code)));
    Err(error)
}

/// The error of an exceeded limit, which fails the connection with 1009.
fn too_big(error: CapacityError) -> Outcome {
    let error = Error::Capacity(error);
    assert_eq!(error.close_code(), Some(CloseCode::TooBig));
    Err(error)
}

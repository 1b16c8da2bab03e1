//! Byte-vector tests of the receiving state machine, in the style of
//! python-websockets' `test_protocol.py`: bytes in, events out.
//!
//! Every input given to [`assert_events`] (and so to [`assert_violation`])
//! is fed whole, split in two at every byte position, one byte at a time
//! and in irregular chunks, and must give the same events every time: where
//! the reads happen to cut the stream must never matter.

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
    let mut receiver = Receiver::new(role, config);
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
    let mut all = Vec::new();
    let mut check = |how: &str, pieces: &[&[u8]]| {
        let (events, targets) = run(role, config, pieces);
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

// ---------------------------------------------------------------------------
// RFC 6455 §5.7: the examples, received
// ---------------------------------------------------------------------------

/// §5.7 "A single-frame unmasked text message".
#[test]
fn rfc6455_5_7_single_frame_unmasked_text_is_received_by_a_client() {
    assert_events(
        Role::Client,
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        &[text("Hello")],
    );
}

/// §5.7 "A single-frame masked text message".
#[test]
fn rfc6455_5_7_single_frame_masked_text_is_received_by_a_server() {
    assert_events(
        Role::Server,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
        &[text("Hello")],
    );
}

/// §5.7 "A fragmented unmasked text message": "Hel" then "lo".
#[test]
fn rfc6455_5_7_fragmented_unmasked_text_is_received_by_a_client() {
    assert_events(
        Role::Client,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        &[text("Hello")],
    );
}

/// §5.7's fragmented message as a client sends it: masked (§5.3), the key
/// phase starting again at each frame.
#[test]
fn rfc6455_5_7_fragmented_masked_text_is_received_by_a_server() {
    let input = cat(&[
        &[0x01, 0x83, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d],
        &[0x80, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x5b, 0x95],
    ]);
    assert_eq!(
        input,
        cat(&[
            &frame_to(Role::Server, false, OpCode::Text, b"Hel"),
            &frame_to(Role::Server, true, OpCode::Continuation, b"lo"),
        ])
    );
    assert_events(Role::Server, &input, &[text("Hello")]);
}

/// §5.7 "Unmasked Ping request".
#[test]
fn rfc6455_5_7_unmasked_ping_is_received_by_a_client() {
    assert_events(
        Role::Client,
        &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        &[ping(b"Hello")],
    );
}

/// §5.7 "masked Ping response" (a pong).
#[test]
fn rfc6455_5_7_masked_pong_is_received_by_a_server() {
    assert_events(
        Role::Server,
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
        &[pong(b"Hello")],
    );
}

/// §5.7 "256 bytes binary message in a single unmasked frame": 0x82 0x7E
/// 0x0100 [256 bytes of binary data]; and masked, to a server.
#[test]
fn rfc6455_5_7_256_byte_binary_message_with_16_bit_length() {
    let payload = pattern(256);
    let input = cat(&[&[0x82, 0x7e, 0x01, 0x00], &payload]);
    assert_eq!(
        input,
        frame_to(Role::Client, true, OpCode::Binary, &payload)
    );
    assert_events(Role::Client, &input, &[binary(&payload)]);
    let masked = frame_to(Role::Server, true, OpCode::Binary, &payload);
    assert_eq!(&masked[..4], [0x82, 0xfe, 0x01, 0x00]);
    assert_events(Role::Server, &masked, &[binary(&payload)]);
}

/// §5.7 "64KiB binary message in a single unmasked frame": 0x82 0x7F
/// 0x0000000000010000 [65536 bytes of binary data]; and masked, to a server.
#[test]
fn rfc6455_5_7_64_kib_binary_message_with_64_bit_length() {
    let payload = pattern(65536);
    let input = cat(&[&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0], &payload]);
    assert_eq!(
        input,
        frame_to(Role::Client, true, OpCode::Binary, &payload)
    );
    assert_events(Role::Client, &input, &[binary(&payload)]);
    let masked = frame_to(Role::Server, true, OpCode::Binary, &payload);
    assert_eq!(&masked[..2], [0x82, 0xff]);
    assert_events(Role::Server, &masked, &[binary(&payload)]);
}

// ---------------------------------------------------------------------------
// §5.1: masking
// ---------------------------------------------------------------------------

/// §5.1: "The server MUST close the connection upon receiving a frame that
/// is not masked" (1002, §7.4.1), whatever the frame.
#[test]
fn rfc6455_5_1_server_fails_on_an_unmasked_frame() {
    for example in [
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..], // §5.7 unmasked text
        &[0x01, 0x03, 0x48, 0x65, 0x6c],                 // §5.7 first fragment
        &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],     // §5.7 unmasked ping
        &[0x82, 0x00],
        &[0x88, 0x02, 0x03, 0xe8],
        &[0x8a, 0x00],
    ] {
        assert_violation(
            Role::Server,
            example,
            ProtocolViolation::UnmaskedClientFrame,
            1002,
        );
    }
}

/// §5.1: "A client MUST close a connection if it detects a masked frame."
#[test]
fn rfc6455_5_1_client_fails_on_a_masked_frame() {
    for example in [
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ][..], // §5.7 masked text
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ], // §5.7 masked pong
        &[0x82, 0x80, 1, 2, 3, 4],
        &[0x88, 0x80, 1, 2, 3, 4],
    ] {
        assert_violation(
            Role::Client,
            example,
            ProtocolViolation::MaskedServerFrame,
            1002,
        );
    }
}

/// §5.1 applies to every frame, not only the first: an unmasked
/// continuation (or control frame) in a masked stream fails a server, and a
/// masked one in an unmasked stream fails a client.
#[test]
fn rfc6455_5_1_masking_is_checked_on_every_frame_of_a_message() {
    let first = frame_to(Role::Server, false, OpCode::Text, b"Hel");
    let unmasked_rest = frame_to(Role::Client, true, OpCode::Continuation, b"lo");
    assert_violation(
        Role::Server,
        &cat(&[&first, &unmasked_rest]),
        ProtocolViolation::UnmaskedClientFrame,
        1002,
    );
    let unmasked_ping = frame_to(Role::Client, true, OpCode::Ping, b"");
    assert_violation(
        Role::Server,
        &cat(&[&first, &unmasked_ping]),
        ProtocolViolation::UnmaskedClientFrame,
        1002,
    );
    let first = frame_to(Role::Client, false, OpCode::Binary, b"Hel");
    let masked_rest = frame_to(Role::Server, true, OpCode::Continuation, b"lo");
    assert_violation(
        Role::Client,
        &cat(&[&first, &masked_rest]),
        ProtocolViolation::MaskedServerFrame,
        1002,
    );
}

// ---------------------------------------------------------------------------
// §5.2: base framing
// ---------------------------------------------------------------------------

/// §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines
/// meanings for non-zero values. If a nonzero value is received and none of
/// the negotiated extensions defines the meaning of such a nonzero value,
/// the receiving endpoint MUST _Fail the WebSocket Connection_" (1002).
#[test]
fn rfc6455_5_2_rsv_bits_without_an_extension_fail_with_1002() {
    for role in ROLES {
        for rsv in 1..=7u8 {
            for opcode in [0x1u8, 0x2, 0x8, 0x9, 0xa] {
                let input = raw_frame_to(role, 0x80 | (rsv << 4) | opcode, b"x");
                assert_violation(role, &input, ProtocolViolation::ReservedBits(rsv), 1002);
            }
            // On a continuation frame too.
            let input = cat(&[
                &frame_to(role, false, OpCode::Text, b"a"),
                &raw_frame_to(role, 0x80 | (rsv << 4), b"b"),
            ]);
            assert_violation(role, &input, ProtocolViolation::ReservedBits(rsv), 1002);
        }
    }
}

/// §5.2: opcodes %x3-7 and %x8-F "are reserved for further non-control /
/// control frames"; "If an unknown opcode is received, the receiving
/// endpoint MUST _Fail the WebSocket Connection_" (1002).
#[test]
fn rfc6455_5_2_reserved_opcodes_fail_with_1002() {
    for role in ROLES {
        for opcode in (0x3..=0x7u8).chain(0xb..=0xf) {
            for fin in [0x80u8, 0x00] {
                let input = raw_frame_to(role, fin | opcode, b"x");
                assert_violation(
                    role,
                    &input,
                    ProtocolViolation::ReservedOpcode(opcode),
                    1002,
                );
                // Also in the middle of a fragmented message.
                let input = cat(&[&frame_to(role, false, OpCode::Binary, b"a"), &input]);
                assert_violation(
                    role,
                    &input,
                    ProtocolViolation::ReservedOpcode(opcode),
                    1002,
                );
            }
        }
    }
}

/// §5.2 Payload length: "the most significant bit MUST be 0" in the 64-bit
/// form (1002).
#[test]
fn rfc6455_5_2_64_bit_length_with_the_top_bit_set_fails_with_1002() {
    let lengths: [[u8; 8]; 3] = [
        [0x80, 0, 0, 0, 0, 0, 0, 0],
        [0x80, 0, 0, 0, 0, 0, 0, 1],
        [0xff; 8],
    ];
    for length in lengths {
        for first_byte in [0x82u8, 0x81, 0x02] {
            let client = cat(&[&[first_byte, 0x7f], &length]);
            assert_violation(
                Role::Client,
                &client,
                ProtocolViolation::LengthTooLarge,
                1002,
            );
            let server = cat(&[&[first_byte, 0xff], &length, &KEY]);
            assert_violation(
                Role::Server,
                &server,
                ProtocolViolation::LengthTooLarge,
                1002,
            );
        }
    }
}

/// §5.2: a payload length of 0 is valid for every kind of frame: empty
/// text, empty binary, empty fragments, empty control frames.
#[test]
fn rfc6455_5_2_zero_length_frames() {
    for role in ROLES {
        let f = |fin, opcode| frame_to(role, fin, opcode, b"");
        assert_events(role, &f(true, OpCode::Text), &[text("")]);
        assert_events(role, &f(true, OpCode::Binary), &[binary(b"")]);
        assert_events(role, &f(true, OpCode::Ping), &[ping(b"")]);
        assert_events(role, &f(true, OpCode::Pong), &[pong(b"")]);
        let empty_fragments = cat(&[
            &f(false, OpCode::Text),
            &f(false, OpCode::Continuation),
            &f(true, OpCode::Continuation),
        ]);
        assert_events(role, &empty_fragments, &[text("")]);
        // Empty fragments among non-empty ones add nothing.
        let mixed = cat(&[
            &f(false, OpCode::Binary),
            &frame_to(role, false, OpCode::Continuation, b"ab"),
            &f(false, OpCode::Continuation),
            &frame_to(role, false, OpCode::Continuation, b"c"),
            &f(true, OpCode::Continuation),
        ]);
        assert_events(role, &mixed, &[binary(b"abc")]);
        // Several empty messages back to back.
        let several = cat(&[
            &f(true, OpCode::Text),
            &f(true, OpCode::Binary),
            &f(true, OpCode::Ping),
            &f(true, OpCode::Text),
        ]);
        assert_events(
            role,
            &several,
            &[text(""), binary(b""), ping(b""), text("")],
        );
    }
}

/// §5.2, §5.3: a 200 KiB masked binary frame, fed whole, in two pieces and
/// one byte at a time, is unmasked correctly (the key's phase carries
/// across reads) and its payload is read straight into the message
/// (`ReadTarget::Message`) in every run.
#[test]
fn rfc6455_5_2_large_masked_binary_frame_is_read_straight_into_the_message() {
    let payload = pattern(200 << 10);
    let input = frame_to(Role::Server, true, OpCode::Binary, &payload);
    let runs = assert_events(Role::Server, &input, &[binary(&payload)]);
    for (i, targets) in runs.iter().enumerate() {
        assert!(
            targets.message > 0 && targets.message_bytes > 100 << 10,
            "run {i} did not read the payload into the message: {targets:?}"
        );
    }
}

/// The same for a client receiving an unmasked frame, and for text: a
/// 200 KiB text frame of multibyte characters, validated by steps as it is
/// read straight into the message.
#[test]
fn rfc6455_5_2_large_text_frame_is_read_straight_into_the_message() {
    let message = "€ uro, κόσμε, 𝄞. ".repeat(8_000);
    assert!(message.len() > 200 << 10);
    for role in ROLES {
        let input = frame_to(role, true, OpCode::Text, message.as_bytes());
        let runs = assert_events(role, &input, &[text(&message)]);
        assert!(runs.iter().all(|t| t.message > 0), "{role:?}: {runs:?}");
    }
}

/// Many frames of many sizes back to back: frames that straddle the read
/// buffer's boundaries, big frames read directly followed at once by small
/// ones, control frames in between.
#[test]
fn rfc6455_5_2_stream_of_frames_across_read_buffer_boundaries() {
    for role in ROLES {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for (i, len) in [
            0, 1, 125, 126, 4000, 4095, 4096, 4097, 9000, 20000, 3, 70000,
        ]
        .into_iter()
        .enumerate()
        {
            let payload = pattern(len);
            input.extend(frame_to(role, true, OpCode::Binary, &payload));
            expected.push(binary(&payload));
            if i % 3 == 0 {
                input.extend(frame_to(role, true, OpCode::Ping, &payload[..len.min(125)]));
                expected.push(ping(&payload[..len.min(125)]));
            }
        }
        assert_events(role, &input, &expected);
    }
}

/// §5.6: binary payloads are arbitrary bytes; only text is UTF-8.
#[test]
fn rfc6455_5_6_binary_data_is_not_validated() {
    for role in ROLES {
        let payload = b"\xff\xfe\x00\xc0\xaf\xed\xa0\x80";
        let input = frame_to(role, true, OpCode::Binary, payload);
        assert_events(role, &input, &[binary(payload)]);
    }
}

// ---------------------------------------------------------------------------
// §5.4: fragmentation
// ---------------------------------------------------------------------------

/// §5.4: "a message MAY be fragmented into any number of fragments", and
/// the cut is on bytes, not characters: UTF-8 is validated across
/// fragments (§5.6: "a text message ... may ... contain a partial UTF-8
/// sequence; however, the whole message MUST contain valid UTF-8"). Control
/// frames are injected between some of them (§5.4 "Control frames ... MAY
/// be injected in the middle of a fragmented message").
#[test]
fn rfc6455_5_4_fragmented_text_with_code_points_cut_between_fragments() {
    let message = "Hello, κόσμε! € 𝄞 ü";
    let bytes = message.as_bytes();
    for role in ROLES {
        // Fragments of 3 bytes cut 𝄞 (4 bytes), € (3) and the 2-byte Greek
        // letters at every possible offset; an empty fragment is added too.
        let pieces: Vec<&[u8]> = bytes.chunks(3).collect();
        assert!(pieces.iter().any(|p| std::str::from_utf8(p).is_err()));
        let mut input = frame_to(role, false, OpCode::Text, pieces[0]);
        let mut expected = Vec::new();
        for (i, piece) in pieces[1..].iter().enumerate() {
            if i == 2 {
                input.extend(frame_to(role, false, OpCode::Continuation, b""));
            }
            if i % 2 == 0 {
                input.extend(frame_to(role, true, OpCode::Ping, &[i as u8]));
                expected.push(ping(&[i as u8]));
            }
            let fin = i == pieces.len() - 2;
            input.extend(frame_to(role, fin, OpCode::Continuation, piece));
        }
        expected.push(text(message));
        assert_events(role, &input, &expected);
    }
}

/// §5.4, §5.6: a text message in two fragments, cut at every byte, including
/// inside each multibyte code point.
#[test]
fn rfc6455_5_4_every_two_fragment_cut_of_a_multibyte_text() {
    let message = "aé€𝄞z";
    let bytes = message.as_bytes();
    for role in ROLES {
        for cut in 0..=bytes.len() {
            let input = cat(&[
                &frame_to(role, false, OpCode::Text, &bytes[..cut]),
                &frame_to(role, true, OpCode::Continuation, &bytes[cut..]),
            ]);
            assert_events(role, &input, &[text(message)]);
        }
    }
}

/// §5.4: "An endpoint MUST be capable of handling control frames in the
/// middle of a fragmented message." Pings and pongs are delivered at once,
/// in order, and the message when its last fragment arrives.
#[test]
fn rfc6455_5_4_control_frames_injected_between_fragments() {
    for role in ROLES {
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, b"Hel"),
            &frame_to(role, true, OpCode::Ping, b"p1"),
            &frame_to(role, false, OpCode::Continuation, b"l"),
            &frame_to(role, true, OpCode::Pong, b"p2"),
            &frame_to(role, true, OpCode::Ping, b""),
            &frame_to(role, true, OpCode::Continuation, b"o"),
            &frame_to(role, true, OpCode::Pong, b"after"),
        ]);
        assert_events(
            role,
            &input,
            &[
                ping(b"p1"),
                pong(b"p2"),
                ping(b""),
                text("Hello"),
                pong(b"after"),
            ],
        );
        // The same with a binary message with large fragments, read
        // straight into the message between the control frames.
        let a = pattern(9000);
        let b = pattern(70000);
        let input = cat(&[
            &frame_to(role, false, OpCode::Binary, &a),
            &frame_to(role, true, OpCode::Ping, b"x"),
            &frame_to(role, true, OpCode::Continuation, &b),
        ]);
        let runs = assert_events(role, &input, &[ping(b"x"), binary(&cat(&[&a, &b]))]);
        assert!(runs.iter().all(|t| t.message > 0), "{runs:?}");
    }
}

/// §5.4 with §5.5.1: a close frame may arrive between fragments too; it
/// ends the connection, and the unfinished message is never delivered.
#[test]
fn rfc6455_5_4_close_injected_between_fragments_ends_parsing() {
    for role in ROLES {
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, b"Hel"),
            &frame_to(role, true, OpCode::Close, b"\x03\xe9away"),
            &frame_to(role, true, OpCode::Continuation, b"lo"),
        ]);
        assert_events(role, &input, &[close(1001, "away")]);
    }
}

/// §5.4: a continuation frame only continues a fragmented message; one
/// with nothing to continue fails the connection (1002).
#[test]
fn rfc6455_5_4_continuation_without_a_message_fails_with_1002() {
    for role in ROLES {
        for fin in [true, false] {
            let cont = frame_to(role, fin, OpCode::Continuation, b"x");
            assert_violation(role, &cont, ProtocolViolation::UnexpectedContinuation, 1002);
            // After a whole message, and after a finished fragmented one.
            let input = cat(&[&frame_to(role, true, OpCode::Text, b"a"), &cont]);
            assert_events(
                role,
                &input,
                &[
                    text("a"),
                    protocol_error(ProtocolViolation::UnexpectedContinuation, 1002),
                ],
            );
            let input = cat(&[
                &frame_to(role, false, OpCode::Binary, b"a"),
                &frame_to(role, true, OpCode::Continuation, b"b"),
                &frame_to(role, true, OpCode::Ping, b""),
                &cont,
            ]);
            assert_events(
                role,
                &input,
                &[
                    binary(b"ab"),
                    ping(b""),
                    protocol_error(ProtocolViolation::UnexpectedContinuation, 1002),
                ],
            );
        }
    }
}

/// §5.4: "The fragments of one message MUST NOT be interleaved between the
/// fragments of another message": a new text or binary frame while a
/// fragmented message is open fails the connection (1002).
#[test]
fn rfc6455_5_4_new_data_frame_inside_a_fragmented_message_fails_with_1002() {
    for role in ROLES {
        for open in [OpCode::Text, OpCode::Binary] {
            for new in [OpCode::Text, OpCode::Binary] {
                for fin in [true, false] {
                    let input = cat(&[
                        &frame_to(role, false, open, b"a"),
                        &frame_to(role, fin, new, b"b"),
                    ]);
                    assert_violation(role, &input, ProtocolViolation::ExpectedContinuation, 1002);
                }
            }
        }
        // Also after a control frame and a continuation in between.
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, b"a"),
            &frame_to(role, true, OpCode::Ping, b"p"),
            &frame_to(role, false, OpCode::Continuation, b"b"),
            &frame_to(role, true, OpCode::Text, b"c"),
        ]);
        assert_events(
            role,
            &input,
            &[
                ping(b"p"),
                protocol_error(ProtocolViolation::ExpectedContinuation, 1002),
            ],
        );
    }
}

// ---------------------------------------------------------------------------
// §5.5: control frames
// ---------------------------------------------------------------------------

/// §5.5: "All control frames ... MUST NOT be fragmented" (1002).
#[test]
fn rfc6455_5_5_fragmented_control_frame_fails_with_1002() {
    for role in ROLES {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let input = frame_to(role, false, opcode, b"");
            assert_violation(
                role,
                &input,
                ProtocolViolation::FragmentedControlFrame,
                1002,
            );
            let input = cat(&[&frame_to(role, false, OpCode::Text, b"a"), &input]);
            assert_violation(
                role,
                &input,
                ProtocolViolation::FragmentedControlFrame,
                1002,
            );
        }
    }
}

/// §5.5: "All control frames MUST have a payload length of 125 bytes or
/// less" (1002), in the 16-bit and 64-bit length forms; 125 is accepted.
#[test]
fn rfc6455_5_5_control_frame_over_125_bytes_fails_with_1002() {
    for role in ROLES {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            for len in [126u64, 65536] {
                let input = frame_to(role, true, opcode, &pattern(len as usize));
                assert_violation(
                    role,
                    &input,
                    ProtocolViolation::ControlFrameTooLong(len),
                    1002,
                );
            }
        }
        let input = frame_to(role, true, OpCode::Ping, &pattern(125));
        assert_events(role, &input, &[ping(&pattern(125))]);
    }
}

/// §5.5.2, §5.5.3: a ping's "Application data" is returned exactly, to be
/// echoed in the pong; a pong's too. Any bytes: not UTF-8, zeros, 125 of
/// them.
#[test]
fn rfc6455_5_5_2_ping_and_5_5_3_pong_payloads_are_returned_exactly() {
    let payloads: [&[u8]; 5] = [
        b"",
        b"Hello",
        b"\x00",
        b"\xff\xfe\xc0\x80",
        &(0..125u8).collect::<Vec<_>>(),
    ];
    for role in ROLES {
        for payload in payloads {
            assert_events(
                role,
                &frame_to(role, true, OpCode::Ping, payload),
                &[ping(payload)],
            );
            assert_events(
                role,
                &frame_to(role, true, OpCode::Pong, payload),
                &[pong(payload)],
            );
        }
        // Back to back: each payload belongs to its own frame.
        let input = cat(&[
            &frame_to(role, true, OpCode::Ping, b"one"),
            &frame_to(role, true, OpCode::Ping, b""),
            &frame_to(role, true, OpCode::Pong, b"three"),
        ]);
        assert_events(role, &input, &[ping(b"one"), ping(b""), pong(b"three")]);
    }
}

/// §5.5.1: "The Close frame MAY contain a body"; without one there is no
/// status code (reported as 1005 by the blocking layer, §7.1.5).
#[test]
fn rfc6455_5_5_1_empty_close_payload_has_no_code() {
    for role in ROLES {
        let input = frame_to(role, true, OpCode::Close, b"");
        assert_events(role, &input, &[Ok(Event::Close(None))]);
    }
}

/// §5.5.1: "If there is a body, the first two bytes of the body MUST be a
/// 2-byte unsigned integer": a body of one byte fails (1002).
#[test]
fn rfc6455_5_5_1_one_byte_close_payload_fails_with_1002() {
    for role in ROLES {
        for byte in [0x03u8, 0x00, 0xff] {
            let input = frame_to(role, true, OpCode::Close, &[byte]);
            assert_violation(role, &input, ProtocolViolation::InvalidClosePayload, 1002);
        }
    }
}

/// §7.4.1, §7.4.2: codes below 1000, 1004 (reserved), 1005, 1006 and 1015
/// ("MUST NOT be set as a status code in a Close control frame"), 1016-2999
/// (reserved for future revisions) and above 4999 are invalid on the wire:
/// the connection fails with 1002.
#[test]
fn rfc6455_7_4_invalid_close_codes_fail_with_1002() {
    for role in ROLES {
        for code in [
            0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            for reason in ["", "why"] {
                let payload = cat(&[&code.to_be_bytes(), reason.as_bytes()]);
                let input = frame_to(role, true, OpCode::Close, &payload);
                assert_violation(
                    role,
                    &input,
                    ProtocolViolation::InvalidCloseCode(code),
                    1002,
                );
            }
        }
    }
}

/// §7.4.1 defined codes 1000-1003 and 1007-1014 (the latter from the IANA
/// registry, §11.7), §7.4.2 3000-3999 (registered) and 4000-4999 (private
/// use) are accepted, with their reason.
#[test]
fn rfc6455_7_4_valid_close_codes_are_accepted() {
    let codes = (1000..=1003u16)
        .chain(1007..=1014)
        .chain([3000, 3999, 4000, 4999]);
    for role in ROLES {
        for code in codes.clone() {
            for reason in ["", "bye", "à bientôt €"] {
                let payload = cat(&[&code.to_be_bytes(), reason.as_bytes()]);
                let input = frame_to(role, true, OpCode::Close, &payload);
                assert_events(role, &input, &[close(code, reason)]);
            }
        }
        // The longest reason that fits: 123 bytes.
        let reason = "r".repeat(123);
        let payload = cat(&[&1000u16.to_be_bytes(), reason.as_bytes()]);
        assert_events(
            role,
            &frame_to(role, true, OpCode::Close, &payload),
            &[close(1000, &reason)],
        );
    }
}

/// §5.5.1: the reason "is not guaranteed to be human readable" but is
/// UTF-8; §8.1: invalid UTF-8 fails the connection with 1007.
#[test]
fn rfc6455_5_5_1_close_reason_must_be_utf8_else_1007() {
    for role in ROLES {
        for reason in [&b"\xff"[..], b"ok\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"] {
            let payload = cat(&[&1000u16.to_be_bytes(), reason]);
            let input = frame_to(role, true, OpCode::Close, &payload);
            assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
        }
    }
}

/// §5.5.1: after sending a close frame an endpoint "MUST NOT send any more
/// data frames", and after receiving one the connection is closing: nothing
/// after the peer's close frame is parsed, not even bytes that would be a
/// protocol error.
#[test]
fn rfc6455_5_5_1_nothing_is_parsed_after_close() {
    for role in ROLES {
        let close_frame = frame_to(role, true, OpCode::Close, b"\x03\xe8bye");
        let input = cat(&[
            &frame_to(role, true, OpCode::Text, b"before"),
            &close_frame,
            &frame_to(role, true, OpCode::Text, b"after"),
            &frame_to(role, true, OpCode::Ping, b""),
            &[0xff; 32], // a reserved opcode, RSV bits...
        ]);
        assert_events(role, &input, &[text("before"), close(1000, "bye")]);

        // Fed separately, then more and more bytes: still nothing.
        let mut receiver = receiver(role);
        assert_eq!(feed(&mut receiver, &close_frame), [close(1000, "bye")]);
        assert!(receiver.is_finished());
        assert_eq!(
            feed(&mut receiver, &frame_to(role, true, OpCode::Text, b"x")),
            []
        );
        assert_eq!(feed(&mut receiver, &[0x83, 0x00]), []);
        assert_eq!(feed(&mut receiver, &vec![0xffu8; 200 << 10]), []);
        assert_eq!(receiver.next_event().unwrap(), None);
        assert_eq!(receiver.next_event().unwrap(), None);
    }
}

// ---------------------------------------------------------------------------
// §8.1: UTF-8 in text messages
// ---------------------------------------------------------------------------

/// Invalid UTF-8 (RFC 3629): stray continuation bytes, overlong forms,
/// surrogates, code points above U+10FFFF, 0xff.
const INVALID_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\x80",
    b"ab\xbfcd",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x28\xa1",
    b"caf\xc3",      // ends inside a code point
    b"\xf0\x9f\x98", // ends inside a code point
    b"ok\xf0\x9f\x98\x80\xe2\x82",
];

/// §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds
/// that the byte stream is not, in fact, a valid UTF-8 stream, that
/// endpoint MUST _Fail the WebSocket Connection_" (1007, §7.4.1), in a
/// single frame or across fragments.
#[test]
fn rfc6455_8_1_invalid_utf8_in_text_fails_with_1007() {
    for role in ROLES {
        for sample in INVALID_UTF8 {
            let input = frame_to(role, true, OpCode::Text, sample);
            assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
            for cut in 0..=sample.len() {
                let input = cat(&[
                    &frame_to(role, false, OpCode::Text, &sample[..cut]),
                    &frame_to(role, true, OpCode::Continuation, &sample[cut..]),
                ]);
                assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
            }
        }
    }
}

/// §8.1 requires failing the connection; failing it as soon as the bad
/// bytes arrive (rather than after the whole message) keeps a peer from
/// making us buffer megabytes of garbage. In a fragmented message the
/// failure comes with the bad fragment, before the final one is even sent,
/// and exactly at the first byte that cannot be UTF-8.
#[test]
fn rfc6455_8_1_invalid_utf8_fails_mid_fragmented_message_before_the_final_fragment() {
    for role in ROLES {
        let first = frame_to(role, false, OpCode::Text, "café ".as_bytes());
        // 0xe2 starts a 3-byte sequence; 0x28 ('(') cannot continue it.
        let bad = frame_to(role, false, OpCode::Continuation, b"\xe2\x28\xa1 more");
        let last = frame_to(role, true, OpCode::Continuation, b"end");
        // With no final fragment at all.
        let input = cat(&[&first, &bad]);
        assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
        // Byte by byte, the failure comes with 0x28 and not before.
        let failure = Some((
            first.len() + header_len(role, 9) + 1,
            Error::Protocol(ProtocolViolation::InvalidUtf8),
        ));
        assert_eq!(failure_index(role, &Config::default(), &input), failure);
        let input = cat(&[&first, &bad, &last]);
        assert_eq!(failure_index(role, &Config::default(), &input), failure);

        // A code point cut between fragments, its continuation invalid:
        // the failure comes with the first byte of the second fragment's
        // payload.
        let first = frame_to(role, false, OpCode::Text, b"ok \xf0\x9f");
        let bad = frame_to(role, false, OpCode::Continuation, b"A");
        let input = cat(&[&first, &bad]);
        assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
        assert_eq!(
            failure_index(role, &Config::default(), &input).map(|(i, _)| i),
            Some(input.len() - 1)
        );
    }
}

/// §8.1 in a single frame fed in pieces: the failure comes with the piece
/// that holds the bad byte, before the rest of the frame arrives.
#[test]
fn rfc6455_8_1_invalid_utf8_fails_mid_frame_as_soon_as_the_bad_byte_arrives() {
    for role in ROLES {
        let payload = b"hello \xff world, and much more after it";
        let input = frame_to(role, true, OpCode::Text, payload);
        let bad = header_len(role, payload.len()) + 6;
        assert_eq!(
            failure_index(role, &Config::default(), &input).map(|(i, _)| i),
            Some(bad)
        );
        // Two pieces: the first up to just before the bad byte gives
        // nothing, the first byte of the second fails.
        let mut receiver = receiver(role);
        assert_eq!(feed(&mut receiver, &input[..bad]), []);
        assert_eq!(
            feed(&mut receiver, &input[bad..=bad]),
            [protocol_error(ProtocolViolation::InvalidUtf8, 1007)]
        );
        // A surrogate is known to be invalid at its second byte.
        let payload = b"abc\xed\xa0\x80def";
        let input = frame_to(role, true, OpCode::Text, payload);
        assert_eq!(
            failure_index(role, &Config::default(), &input).map(|(i, _)| i),
            Some(header_len(role, payload.len()) + 4)
        );
    }
}

/// §8.1 in a 200 KiB text frame read straight into the message: the bytes
/// are validated as they arrive, so the failure comes long before the end
/// of the frame, fed whole or one byte at a time.
#[test]
fn rfc6455_8_1_invalid_utf8_in_a_large_text_frame_fails_before_the_frame_ends() {
    for role in ROLES {
        let mut payload = "ü€".repeat(200 << 10 >> 2).into_bytes();
        let offset = 100_001;
        payload[offset] = 0xff;
        let input = frame_to(role, true, OpCode::Text, &payload);
        let bad = header_len(role, payload.len()) + offset;
        assert_eq!(
            failure_index(role, &Config::default(), &input).map(|(i, _)| i),
            Some(bad)
        );
        let mut receiver = receiver(role);
        let mut targets = Targets::default();
        assert_eq!(
            feed_counting(&mut receiver, &input, &mut targets),
            [protocol_error(ProtocolViolation::InvalidUtf8, 1007)]
        );
        assert!(targets.message > 0, "{targets:?}");
        assert!(
            targets.consumed > bad && targets.consumed <= bad + (64 << 10),
            "the failure came after {} bytes; the bad one is at {bad}",
            targets.consumed
        );
        let runs = assert_events(
            role,
            &input,
            &[protocol_error(ProtocolViolation::InvalidUtf8, 1007)],
        );
        assert!(runs.iter().all(|t| t.consumed < input.len()), "{runs:?}");
    }
}

/// §8.1: a text that ends inside a code point is invalid, but that is only
/// known when its final fragment ends: each fragment alone is a valid
/// prefix.
#[test]
fn rfc6455_8_1_text_ending_inside_a_code_point_fails_at_the_final_fragment() {
    for role in ROLES {
        let first = frame_to(role, false, OpCode::Text, b"price: ");
        let middle = frame_to(role, false, OpCode::Continuation, b"12 \xe2");
        let last = frame_to(role, true, OpCode::Continuation, b"\x82");
        let input = cat(&[&first, &middle, &last]);
        assert_eq!(
            failure_index(role, &Config::default(), &input).map(|(i, _)| i),
            Some(input.len() - 1)
        );
        assert_violation(role, &input, ProtocolViolation::InvalidUtf8, 1007);
        // Completed, it is fine.
        let last = frame_to(role, true, OpCode::Continuation, b"\x82\xac");
        assert_events(
            role,
            &cat(&[&first, &middle, &last]),
            &[text("price: 12 €")],
        );
    }
}

// ---------------------------------------------------------------------------
// §10.4: limits
// ---------------------------------------------------------------------------

/// §10.4: "implementations SHOULD impose a limit on frame sizes": a header
/// announcing more than `max_frame_size` fails the connection with 1009
/// (§7.4.1 "a message that is too big for it to process") as soon as the
/// header is parsed; only the header is fed, so no payload is buffered.
#[test]
fn rfc6455_10_4_frame_over_max_frame_size_fails_on_its_header_with_1009() {
    let config = Config::default().max_frame_size(1000);
    for role in ROLES {
        for (opcode, len) in [
            (OpCode::Binary, 1001u64),
            (OpCode::Text, 1001),
            (OpCode::Binary, 70_000),
            (OpCode::Text, 1 << 40),
            (OpCode::Binary, (1 << 63) - 1),
        ] {
            let mut bytes = [0u8; MAX_HEADER_LEN];
            let n = FrameHeader::new(true, opcode, len, mask_to(role)).encode(&mut bytes);
            let mut header = bytes[..n].to_vec();
            let expected = too_big(CapacityError::FrameTooLong {
                size: len,
                max_size: 1000,
            });
            assert_events_with(role, &config, &header, std::slice::from_ref(&expected));
            // Also as a later fragment of a message.
            header[0] &= 0xf0; // a continuation frame
            let input = cat(&[&frame_to(role, false, opcode, b"a"), &header]);
            assert_events_with(role, &config, &input, std::slice::from_ref(&expected));
        }
        // The limit applies to control frames as well.
        let small = Config::default().max_frame_size(10);
        let input = frame_to(role, true, OpCode::Ping, &pattern(11));
        let header = &input[..header_len(role, 11)];
        assert_events_with(
            role,
            &small,
            header,
            &[too_big(CapacityError::FrameTooLong {
                size: 11,
                max_size: 10,
            })],
        );
    }
}

/// §10.4: limits below 125 bytes hold for a short message arriving whole
/// in one read as well (the receiver takes those in one pass): one byte
/// over either limit fails with 1009, exactly at it is delivered.
#[test]
fn rfc6455_10_4_short_whole_messages_meet_limits_below_125_bytes() {
    for role in ROLES {
        for (config, over) in [
            (
                Config::default().max_frame_size(10),
                CapacityError::FrameTooLong {
                    size: 11,
                    max_size: 10,
                },
            ),
            (
                Config::default().max_message_size(10),
                CapacityError::MessageTooLong {
                    size: 11,
                    max_size: 10,
                },
            ),
        ] {
            let at = frame_to(role, true, OpCode::Binary, &pattern(10));
            assert_events_with(role, &config, &at, &[binary(&pattern(10))]);
            let input = frame_to(role, true, OpCode::Text, &[b'a'; 11]);
            let header = &input[..header_len(role, 11)];
            assert_events_with(role, &config, header, &[too_big(over.clone())]);
            let (events, _) = run(role, &config, &[&input]);
            assert_eq!(events, [too_big(over)], "{role:?}, whole frame in one read");
        }
    }
}

/// §10.4: a frame of exactly `max_frame_size` is accepted.
#[test]
fn rfc6455_10_4_frame_of_exactly_max_frame_size_is_accepted() {
    let config = Config::default().max_frame_size(1000);
    for role in ROLES {
        let payload = pattern(1000);
        let input = frame_to(role, true, OpCode::Binary, &payload);
        assert_events_with(role, &config, &input, &[binary(&payload)]);
        let input = frame_to(role, true, OpCode::Text, "é".repeat(500).as_bytes());
        assert_events_with(role, &config, &input, &[text(&"é".repeat(500))]);
    }
}

/// §10.4: "... and the total message size after reassembly from multiple
/// frames". Fragments that each fit but together exceed `max_message_size`
/// fail on the header of the fragment that crosses the limit (1009);
/// control frames between them do not count.
#[test]
fn rfc6455_10_4_message_over_max_message_size_fails_on_the_crossing_fragment_header() {
    let config = Config::default().max_message_size(10);
    for role in ROLES {
        let crossing = frame_to(role, true, OpCode::Continuation, b"ijkl");
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, b"abcd"),
            &frame_to(role, true, OpCode::Ping, b"0123456789abc"),
            &frame_to(role, false, OpCode::Continuation, b"efgh"),
            &crossing[..header_len(role, 4)], // only the header
        ]);
        assert_events_with(
            role,
            &config,
            &input,
            &[
                ping(b"0123456789abc"),
                too_big(CapacityError::MessageTooLong {
                    size: 12,
                    max_size: 10,
                }),
            ],
        );
        // A single frame under the frame limit but over the message limit.
        let input = frame_to(role, true, OpCode::Binary, &pattern(11));
        assert_events_with(
            role,
            &config,
            &input[..header_len(role, 11)],
            &[too_big(CapacityError::MessageTooLong {
                size: 11,
                max_size: 10,
            })],
        );
    }
}

/// §10.4: a message of exactly `max_message_size`, in fragments with
/// control frames between them, is accepted; so are two such messages in a
/// row (the count starts again with each message).
#[test]
fn rfc6455_10_4_message_of_exactly_max_message_size_is_accepted() {
    let config = Config::default().max_message_size(10);
    for role in ROLES {
        let message = cat(&[
            &frame_to(role, false, OpCode::Binary, b"abcd"),
            &frame_to(role, true, OpCode::Pong, b"0123456789abc"),
            &frame_to(role, false, OpCode::Continuation, b"efgh"),
            &frame_to(role, true, OpCode::Continuation, b"ij"),
        ]);
        let input = cat(&[&message, &message]);
        assert_events_with(
            role,
            &config,
            &input,
            &[
                pong(b"0123456789abc"),
                binary(b"abcdefghij"),
                pong(b"0123456789abc"),
                binary(b"abcdefghij"),
            ],
        );
    }
}

// ---------------------------------------------------------------------------
// The driver's side: handshake leftovers, timeouts
// ---------------------------------------------------------------------------

/// Bytes that arrived in the same read as the end of the opening handshake
/// (§4.1: the server may send frames right after its response) are given
/// with `push_bytes`, then reading goes on normally, wherever the handshake
/// read happened to end.
#[test]
fn push_bytes_from_the_handshake_then_normal_reads() {
    for role in ROLES {
        let input = cat(&[
            &frame_to(role, true, OpCode::Text, b"first"),
            &frame_to(role, true, OpCode::Ping, b"p"),
            &frame_to(role, false, OpCode::Binary, &pattern(300)),
            &frame_to(role, true, OpCode::Continuation, &pattern(5000)),
            &frame_to(role, true, OpCode::Close, b""),
        ]);
        let expected = [
            text("first"),
            ping(b"p"),
            binary(&cat(&[&pattern(300), &pattern(5000)])),
            Ok(Event::Close(None)),
        ];
        for cut in 0..=input.len() {
            let mut receiver = receiver(role);
            receiver.receive_data(&input[..cut]);
            // When everything came with the handshake, nothing is read.
            let events = feed(&mut receiver, &input[cut..]);
            assert_eq!(events, expected, "{role:?} cut at {cut}");
        }
        // Nothing pushed.
        let mut receiver = receiver(role);
        receiver.receive_data(b"");
        assert_eq!(feed(&mut receiver, &input), expected);
    }
}

/// `push_bytes` with more than the read buffer holds (many small frames),
/// and with the start of a large frame, whose rest is then read straight
/// into the message.
#[test]
fn push_bytes_larger_than_the_read_buffer_and_a_large_frame_after() {
    for role in ROLES {
        let mut leftovers = Vec::new();
        let mut expected = Vec::new();
        for i in 0..100 {
            let payload = pattern(100 + i);
            leftovers.extend(frame_to(role, true, OpCode::Binary, &payload));
            expected.push(binary(&payload));
        }
        let large = pattern(200 << 10);
        let frame = frame_to(role, true, OpCode::Binary, &large);
        leftovers.extend(&frame[..5000]);
        expected.push(binary(&large));
        assert!(leftovers.len() > 16 << 10);

        let mut receiver = receiver(role);
        receiver.receive_data(&leftovers);
        let mut targets = Targets::default();
        let events = feed_counting(&mut receiver, &frame[5000..], &mut targets);
        assert!(events == expected, "{role:?}: {}", describe(&events));
        assert!(targets.message > 0, "{targets:?}");
        assert!(!receiver.has_partial_data());
    }
}

/// The blocking layer's read may time out anywhere: after a read target was
/// handed out and nothing was read (no `filled`), or with `filled(0)` after
/// a direct read that got nothing. All partial state is in the receiver:
/// feeding the rest later gives exactly one whole message.
#[test]
fn a_timeout_anywhere_in_a_frame_loses_nothing() {
    for role in ROLES {
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, "Hello, ".as_bytes()),
            &frame_to(role, true, OpCode::Continuation, "wörld €".as_bytes()),
        ]);
        // Every cut that leaves the message unfinished.
        for cut in 0..input.len() {
            let mut receiver = receiver(role);
            assert_eq!(feed(&mut receiver, &input[..cut]), [], "cut at {cut}");
            // The next read times out: a target is asked for, nothing read.
            assert_eq!(receiver.next_event().unwrap(), None);
            let _ = receiver.read_target();
            // The caller tries again later.
            assert_eq!(receiver.next_event().unwrap(), None);
            assert_eq!(
                feed(&mut receiver, &input[cut..]),
                [text("Hello, wörld €")],
                "{role:?} cut at {cut}"
            );
            assert!(!receiver.has_partial_data());
            assert_eq!(receiver.next_event().unwrap(), None);
        }
    }
}

/// A timeout in the middle of a large frame being read straight into the
/// message, reported as `filled(0)` (a `read_append` that got nothing), or
/// with no `filled` at all.
#[test]
fn a_timeout_in_the_middle_of_a_large_frame_loses_nothing() {
    for role in ROLES {
        let payload = pattern(200 << 10);
        let input = frame_to(role, true, OpCode::Binary, &payload);
        for cut in [10, 4096, 4097, 100_000, input.len() - 1] {
            for report_zero in [false, true] {
                let mut receiver = receiver(role);
                assert_eq!(feed(&mut receiver, &input[..cut]), []);
                assert!(receiver.has_partial_data());
                assert_eq!(receiver.next_event().unwrap(), None);
                // Inside the header, or with less than the read buffer's
                // size left, the read goes to the buffer; else straight to
                // the message.
                let direct = matches!(receiver.read_target(), ReadTarget::Message { .. });
                let large_rest =
                    cut >= header_len(role, payload.len()) && input.len() - cut >= 4096;
                assert_eq!(direct, large_rest, "cut at {cut}");
                if report_zero {
                    receiver.filled(0).unwrap();
                }
                let events = feed(&mut receiver, &input[cut..]);
                assert!(
                    events == [binary(&payload)],
                    "{role:?} cut at {cut}: {}",
                    describe(&events)
                );
                assert!(!receiver.has_partial_data());
            }
        }
    }
}

/// `has_partial_data` tells the blocking layer whether a closed stream cut
/// a frame (for its EOF handling).
#[test]
fn partial_data_is_reported_until_the_message_is_whole() {
    for role in ROLES {
        let input = cat(&[
            &frame_to(role, false, OpCode::Text, b"a"),
            &frame_to(role, true, OpCode::Continuation, b"b"),
        ]);
        let mut receiver = receiver(role);
        assert!(!receiver.has_partial_data());
        for (i, byte) in input.iter().enumerate() {
            let events = feed(&mut receiver, std::slice::from_ref(byte));
            if i + 1 < input.len() {
                assert_eq!(events, [], "byte {i}");
                assert!(receiver.has_partial_data(), "byte {i}");
            } else {
                assert_eq!(events, [text("ab")]);
                assert!(!receiver.has_partial_data());
            }
        }
    }
}

//! The receiver and RFC 6455 §5.7: its examples, received.

use super::*;

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

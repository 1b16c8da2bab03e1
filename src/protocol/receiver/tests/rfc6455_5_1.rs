//! The receiver and RFC 6455 §5.1: masking.

use super::*;

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

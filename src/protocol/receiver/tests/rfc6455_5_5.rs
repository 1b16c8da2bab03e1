//! The receiver and RFC 6455 §5.5: control frames.

use super::*;

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

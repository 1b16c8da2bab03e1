//! The receiver and RFC 6455 §5.2: base framing.

use super::*;

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

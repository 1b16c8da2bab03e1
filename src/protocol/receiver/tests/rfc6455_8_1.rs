//! The receiver and RFC 6455 §8.1: UTF-8 in text messages.

use super::*;

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

//! The receiver and RFC 6455 §5.4: fragmentation.

use super::*;

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

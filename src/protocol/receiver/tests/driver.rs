//! The receiver and the driver's side: bytes from the handshake, timeouts in the middle of a frame.

use super::*;

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

//! The receiver and RFC 6455 §10.4: limits.

use super::*;

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

/// A server-wide budget for messages being received (beyond §10.4's
/// per-message limit): the receiver whose message would pass it fails
/// with 1009, and once it is finished its share goes back at once, not
/// when it is dropped; the other's message, within the budget, is
/// delivered and gives its share back too.
#[test]
fn a_message_over_the_shared_budget_fails_and_gives_its_share_back_when_finished() {
    let budget = Arc::new(MessageBudget::new(300 << 10));
    let fragment = pattern(100 << 10);
    let fragments = |n: usize| -> Vec<u8> {
        let mut input = frame_to(Role::Server, false, OpCode::Binary, &fragment);
        for _ in 1..n {
            input.extend(frame_to(
                Role::Server,
                false,
                OpCode::Continuation,
                &fragment,
            ));
        }
        input
    };
    let mut holder = receiver(Role::Server);
    holder.share_budget(Arc::clone(&budget));
    assert_eq!(feed(&mut holder, &fragments(1)), []);
    let held = budget.used();
    assert!(held >= 100 << 10, "{held} bytes taken for 100 KiB");

    let mut greedy = receiver(Role::Server);
    greedy.share_budget(Arc::clone(&budget));
    let outcomes = feed(&mut greedy, &fragments(4));
    let Some(Err(error)) = outcomes.last() else {
        panic!("the greedy message passed the budget: {outcomes:?}");
    };
    assert!(
        matches!(error, Error::Capacity(CapacityError::OverBudget { .. })),
        "{error:?}"
    );
    assert_eq!(error.close_code(), Some(CloseCode::TooBig));
    assert!(budget.used() > held, "the greedy message took nothing");
    greedy.finish();
    assert_eq!(
        budget.used(),
        held,
        "a failed message still holds its share"
    );

    let end = frame_to(Role::Server, true, OpCode::Continuation, b"end");
    let delivered = feed(&mut holder, &end);
    assert!(
        matches!(&delivered[..], [Ok(Event::Message(Message::Binary(data)))] if data.len() == (100 << 10) + 3),
        "{}",
        describe(&delivered)
    );
    assert_eq!(budget.used(), 0);
}

//! The receiver and RFC 7692: permessage-deflate, once agreed. Compressed
//! messages come from the crate's own compressor here; an independent
//! zlib checks the codec in `tests/deflate_python.rs` and the connection in
//! `tests/deflate_hub.rs`.

use super::*;
use crate::protocol::deflate::{Compressor, Settings};
use crate::protocol::extension::permessage_deflate::{DeflateConfig, DeflateParams, Negotiated};
use crate::protocol::extension::{self, permessage_deflate};
use crate::protocol::frame::write_frame_with_rsv;

/// What a server and its client agree to for `offer`.
fn agreed(offer: &str) -> Negotiated {
    let offers = extension::parse([offer]).unwrap();
    let config = DeflateConfig::default();
    let params: DeflateParams = permessage_deflate::negotiate(&config, &offers)
        .unwrap()
        .params;
    Negotiated::new(params, config)
}

fn deflating(role: Role, config: &Config, negotiated: &Negotiated) -> Receiver {
    let mut receiver = Receiver::new(role, config);
    receiver.enable_deflate(negotiated);
    receiver
}

/// A frame with the given RSV bits, as the peer sends it to `role`.
fn frame_rsv(role: Role, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame_with_rsv(&mut out, fin, rsv, opcode, payload, mask_to(role));
    out
}

/// The peer's compressor, for what it sends to `role`.
fn peer_compressor(role: Role, negotiated: &Negotiated) -> Compressor {
    Compressor::new(Settings::outgoing(
        negotiated,
        match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        },
    ))
}

const CHAT: &str = r#"{"type":"chat","room":"general","text":"hello, hello, hello everyone"}"#;

/// §6.1: RSV1 on a data message's first frame marks it compressed; with
/// context takeover the second message refers back to the first.
#[test]
fn compressed_messages_are_inflated_one_after_the_other() {
    for role in ROLES {
        for offer in [
            "permessage-deflate",
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        ] {
            let negotiated = agreed(offer);
            let mut peer = peer_compressor(role, &negotiated);
            let mut input = Vec::new();
            for _ in 0..2 {
                let mut payload = Vec::new();
                peer.compress(CHAT.as_bytes(), &mut payload).unwrap();
                input.extend(frame_rsv(role, true, RSV1, OpCode::Text, &payload));
            }
            // An uncompressed message between them is fine too.
            let plain = frame_to(role, true, OpCode::Text, b"as it is");
            let input = cat(&[&input[..], &plain]);
            assert_events_on(
                role,
                &|| deflating(role, &Config::default(), &negotiated),
                &input,
                &[text(CHAT), text(CHAT), text("as it is")],
            );
        }
    }
}

/// §6.1: a compressed message in fragments has RSV1 on its first frame
/// only; a ping may come between them (§5.4).
#[test]
fn a_fragmented_compressed_message_is_inflated_across_its_frames() {
    for role in ROLES {
        let negotiated = agreed("permessage-deflate");
        let mut peer = peer_compressor(role, &negotiated);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        peer.compress_piece(b"one piece, ", false, &mut a).unwrap();
        peer.compress_piece(&pattern(3000), false, &mut b).unwrap();
        peer.compress_piece(b" and the end", true, &mut c).unwrap();
        let input = cat(&[
            &frame_rsv(role, false, RSV1, OpCode::Binary, &a),
            &frame_to(role, true, OpCode::Ping, b"p"),
            &frame_to(role, false, OpCode::Continuation, &b),
            &frame_to(role, true, OpCode::Continuation, &c),
        ]);
        let whole = [&b"one piece, "[..], &pattern(3000), b" and the end"].concat();
        assert_events_on(
            role,
            &|| deflating(role, &Config::default(), &negotiated),
            &input,
            &[
                Ok(Event::Ping(b"p".to_vec())),
                Ok(Event::Message(Message::Binary(whole.clone()))),
            ],
        );
    }
}

/// §6.1: "An endpoint MUST NOT set the 'Per-Message Compressed' bit of
/// control frames and non-first fragments of a data message. An endpoint
/// receiving such a frame MUST _Fail the WebSocket Connection_." RSV2 and
/// RSV3 mean nothing to permessage-deflate (RFC 6455 §5.2).
#[test]
fn rsv1_anywhere_but_a_first_frame_and_other_rsv_bits_fail_with_1002() {
    for role in ROLES {
        let negotiated = agreed("permessage-deflate");
        let make = || deflating(role, &Config::default(), &negotiated);
        let mut payload = Vec::new();
        peer_compressor(role, &negotiated)
            .compress_piece(b"abc", false, &mut payload)
            .unwrap();
        let continuation = cat(&[
            &frame_rsv(role, false, RSV1, OpCode::Text, &payload),
            &frame_rsv(role, true, RSV1, OpCode::Continuation, b""),
        ]);
        let bad = [
            (continuation, RSV1),
            (frame_rsv(role, true, RSV1, OpCode::Ping, b""), RSV1),
            (
                frame_rsv(role, true, RSV1, OpCode::Close, &[0x03, 0xe8]),
                RSV1,
            ),
            (frame_rsv(role, true, 0b010, OpCode::Text, b"x"), 0b010),
            (frame_rsv(role, true, 0b110, OpCode::Text, b"x"), 0b110),
            (frame_rsv(role, true, 0b001, OpCode::Binary, b"x"), 0b001),
        ];
        for (input, rsv) in bad {
            assert_events_on(
                role,
                &make,
                &input,
                &[protocol_error(ProtocolViolation::ReservedBits(rsv), 1002)],
            );
        }
    }
}

/// What does not inflate fails with 1002; text that inflates to invalid
/// UTF-8 with 1007 (RFC 6455 §8.1).
#[test]
fn bad_compressed_data_fails_with_1002_and_bad_text_with_1007() {
    for role in ROLES {
        let negotiated = agreed("permessage-deflate");
        let make = || deflating(role, &Config::default(), &negotiated);
        // Block type 3 is reserved (RFC 1951 §3.2.3).
        let garbage = frame_rsv(role, true, RSV1, OpCode::Binary, &[0xff, 0xff, 0xff]);
        assert_events_on(
            role,
            &make,
            &garbage,
            &[protocol_error(
                ProtocolViolation::InvalidCompressedData,
                1002,
            )],
        );
        let mut payload = Vec::new();
        peer_compressor(role, &negotiated)
            .compress(&[0xc3, 0x28, b'a'], &mut payload)
            .unwrap();
        let invalid = frame_rsv(role, true, RSV1, OpCode::Text, &payload);
        assert_events_on(
            role,
            &make,
            &invalid,
            &[protocol_error(ProtocolViolation::InvalidUtf8, 1007)],
        );
    }
}

/// The message limit holds on the inflated size, counted across the
/// message's frames: a small frame that would inflate past it is 1009.
#[test]
fn the_message_limit_holds_on_what_inflates_across_fragments() {
    for role in ROLES {
        let negotiated = agreed("permessage-deflate");
        let config = Config::default().max_message_size(10_000);
        let make = || deflating(role, &config, &negotiated);
        let mut peer = peer_compressor(role, &negotiated);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        peer.compress_piece(&[b'a'; 6000], false, &mut a).unwrap();
        peer.compress_piece(&[b'b'; 6000], true, &mut b).unwrap();
        assert!(a.len() + b.len() < 200, "the frames are small");
        let input = cat(&[
            &frame_rsv(role, false, RSV1, OpCode::Binary, &a),
            &frame_to(role, true, OpCode::Continuation, &b),
        ]);
        let (events, _) = run_on(&make, &[&input]);
        assert!(
            matches!(
                events.last(),
                Some(Err(Error::Capacity(CapacityError::MessageTooLong {
                    max_size: 10_000,
                    ..
                })))
            ),
            "{}",
            describe(&events)
        );
        assert_eq!(
            events.last().unwrap().as_ref().unwrap_err().close_code(),
            Some(CloseCode::TooBig)
        );
    }
}

/// Without deflate agreed, RSV1 is refused as before (RFC 6455 §5.2).
#[test]
fn rsv1_without_deflate_agreed_is_refused() {
    for role in ROLES {
        let mut payload = Vec::new();
        Compressor::new(Settings::default())
            .compress(CHAT.as_bytes(), &mut payload)
            .unwrap();
        let input = frame_rsv(role, true, RSV1, OpCode::Text, &payload);
        assert_violation(role, &input, ProtocolViolation::ReservedBits(RSV1), 1002);
    }
}

/// Hibernating between messages loses nothing: the next message, which
/// refers back to the one before, inflates from the kept window.
#[test]
fn a_hibernated_decompressor_inflates_the_next_message() {
    for role in ROLES {
        let negotiated = agreed("permessage-deflate");
        let mut receiver = deflating(role, &Config::default(), &negotiated);
        let mut peer = peer_compressor(role, &negotiated);
        for round in 0..3 {
            let mut payload = Vec::new();
            peer.compress(CHAT.as_bytes(), &mut payload).unwrap();
            let input = frame_rsv(role, true, RSV1, OpCode::Text, &payload);
            assert_eq!(
                feed(&mut receiver, &input),
                vec![text(CHAT)],
                "round {round}"
            );
            assert_eq!(receiver.compressed_messages(), round + 1);
            assert!(receiver.inflate_has_context());
            assert!(receiver.hibernate_inflate());
            assert!(!receiver.inflate_has_context());
        }
    }
}

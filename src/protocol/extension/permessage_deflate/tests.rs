//! RFC 7692 §5–§7 negotiation: the offers real peers send, every
//! combination of the four parameters, the offers a server must decline,
//! and the responses a client must fail.

use super::*;
use crate::protocol::extension::{format, parse};

fn direction(window_bits: u8, context_takeover: bool) -> DirectionParams {
    DirectionParams {
        window_bits,
        context_takeover,
    }
}

fn params(server: (u8, bool), client: (u8, bool)) -> DeflateParams {
    DeflateParams {
        server_to_client: direction(server.0, server.1),
        client_to_server: direction(client.0, client.1),
    }
}

/// The server's answer to one header value, as text, with its params.
fn answer(config: &DeflateConfig, value: &str) -> Option<(usize, String, DeflateParams)> {
    let offers = parse([value]).unwrap();
    negotiate(config, &offers).map(|a| (a.offer, a.response.to_string(), a.params))
}

/// Checks the server's response with the client validator, given the
/// offer the server chose: the round trip every agreement must pass.
fn client_agrees(offers: &[Extension], agreement: &DeflateAgreement) {
    let offer = DeflateOffer::from_extension(&offers[agreement.offer]).unwrap();
    let value = agreement.response.to_string();
    let checked = check_response(&offer, [value.as_str()]);
    assert_eq!(
        checked,
        Ok(Some(agreement.params)),
        "offer {} answered {value}",
        offers[agreement.offer]
    );
}

#[test]
fn rfc7692_browsers_and_libraries_offers_are_accepted() {
    let full = (15, true);
    for (peer, offer, response, agreed) in [
        // Chrome (and Edge), and the clients of Node ws and Python
        // websockets by default.
        (
            "chrome",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
            params(full, full),
        ),
        // Firefox, and Safari's NSURLSession-based socket.
        (
            "firefox",
            "permessage-deflate",
            "permessage-deflate",
            params(full, full),
        ),
        // Python websockets with client_max_window_bits=12.
        (
            "websockets",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
            params((12, true), (12, true)),
        ),
        // Node ws with serverNoContextTakeover and clientNoContextTakeover.
        (
            "ws",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            params((15, false), (15, false)),
        ),
        // A client offering the pre-standard WebKit extension first, then ours.
        (
            "deflate-frame first",
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
            "permessage-deflate",
            params(full, full),
        ),
    ] {
        let offers = parse([offer]).unwrap();
        let agreement = negotiate(&DeflateConfig::default(), &offers)
            .unwrap_or_else(|| panic!("{peer}: declined"));
        assert_eq!(agreement.response.to_string(), response, "{peer}");
        assert_eq!(agreement.params, agreed, "{peer}");
        client_agrees(&offers, &agreement);
    }
}

/// The client offers the server may get, every combination of the four
/// parameters: 2 × 2 × (absent, 8..=15) × (absent, no value, 8..=15).
fn every_offer() -> Vec<(DeflateOffer, String)> {
    let mut offers = Vec::new();
    for snct in [false, true] {
        for cnct in [false, true] {
            for smwb in std::iter::once(None).chain((8..=15).map(Some)) {
                for cmwb in [ClientWindowBits::Absent, ClientWindowBits::Supported]
                    .into_iter()
                    .chain((8..=15).map(ClientWindowBits::Limit))
                {
                    let mut text = String::from("permessage-deflate");
                    if snct {
                        text.push_str("; server_no_context_takeover");
                    }
                    if cnct {
                        text.push_str("; client_no_context_takeover");
                    }
                    if let Some(bits) = smwb {
                        text.push_str(&format!("; server_max_window_bits={bits}"));
                    }
                    match cmwb {
                        ClientWindowBits::Absent => {}
                        ClientWindowBits::Supported => text.push_str("; client_max_window_bits"),
                        ClientWindowBits::Limit(bits) => {
                            text.push_str(&format!("; client_max_window_bits={bits}"));
                        }
                    }
                    let offer = DeflateOffer {
                        server_no_context_takeover: snct,
                        client_no_context_takeover: cnct,
                        server_max_window_bits: smwb,
                        client_max_window_bits: cmwb,
                    };
                    offers.push((offer, text));
                }
            }
        }
    }
    offers
}

fn configs() -> Vec<DeflateConfig> {
    let mut configs = vec![DeflateConfig::default()];
    for server_bits in [8, 11, 15] {
        for client_bits in [8, 12, 15] {
            for (snct, cnct) in [(false, false), (true, false), (false, true), (true, true)] {
                configs.push(
                    DeflateConfig::default()
                        .server_max_window_bits(server_bits)
                        .client_max_window_bits(client_bits)
                        .server_no_context_takeover(snct)
                        .client_no_context_takeover(cnct),
                );
            }
        }
    }
    configs
}

#[test]
fn rfc7692_7_1_every_combination_is_accepted_and_round_trips() {
    let offers = every_offer();
    assert_eq!(offers.len(), 2 * 2 * 9 * 10);
    let configs = configs();
    for (expected_offer, text) in &offers {
        let parsed = parse([text.as_str()]).unwrap();
        let offer = DeflateOffer::from_extension(&parsed[0]).unwrap();
        assert_eq!(&offer, expected_offer, "{text}");
        assert_eq!(offer.to_extension().to_string(), *text);
        for config in &configs {
            let agreement = negotiate(config, &parsed)
                .unwrap_or_else(|| panic!("{text} declined under {config:?}"));
            let agreed = agreement.params;
            let response = &agreement.response;
            let has = |name: &str| response.params().iter().find(|p| p.name() == name);

            // What the server compresses with: never above what the client
            // allowed, nor above our own setting.
            let server_bits = offer.server_max_window_bits.unwrap_or(15);
            assert_eq!(
                agreed.server_to_client.window_bits,
                server_bits.min(config.get_server_max_window_bits()),
                "{text} {config:?}"
            );
            // §7.1.2.1: accepted by answering it, with the same or smaller value.
            if let Some(asked) = offer.server_max_window_bits {
                let answered: u8 = has("server_max_window_bits")
                    .unwrap()
                    .value()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(answered <= asked, "{text} -> {response}");
            }
            // §7.1.1.1: answered when asked.
            if offer.server_no_context_takeover {
                assert!(has("server_no_context_takeover").is_some(), "{text}");
            }
            assert_eq!(
                agreed.server_to_client.context_takeover,
                !(offer.server_no_context_takeover || config.get_server_no_context_takeover())
            );
            // §7.1.2.2: never answered unoffered; a limit is kept.
            match offer.client_max_window_bits {
                ClientWindowBits::Absent => {
                    assert!(
                        has("client_max_window_bits").is_none(),
                        "{text} -> {response}"
                    );
                    assert_eq!(agreed.client_to_server.window_bits, 15);
                }
                ClientWindowBits::Supported => assert_eq!(
                    agreed.client_to_server.window_bits,
                    config.get_client_max_window_bits()
                ),
                ClientWindowBits::Limit(bits) => assert_eq!(
                    agreed.client_to_server.window_bits,
                    bits.min(config.get_client_max_window_bits())
                ),
            }
            assert_eq!(
                agreed.client_to_server.context_takeover,
                !(offer.client_no_context_takeover || config.get_client_no_context_takeover())
            );
            for direction in [agreed.server_to_client, agreed.client_to_server] {
                assert!((8..=15).contains(&direction.window_bits));
            }
            // The answer parses back, and our client validator agrees on
            // the same parameters.
            assert_eq!(
                parse([response.to_string().as_str()]).unwrap(),
                vec![response.clone()]
            );
            client_agrees(&parsed, &agreement);
        }
    }
}

#[test]
fn rfc7692_window_8_is_agreed_both_ways() {
    let asked = "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8";
    assert_eq!(
        answer(&DeflateConfig::default(), asked),
        Some((0, asked.to_owned(), params((8, true), (8, true))))
    );
    let config = DeflateConfig::default()
        .server_max_window_bits(8)
        .client_max_window_bits(8);
    assert_eq!(
        answer(&config, "permessage-deflate; client_max_window_bits"),
        Some((0, asked.to_owned(), params((8, true), (8, true))))
    );
    // And a client asking for 8 accepts that answer.
    let offer = config.offer().unwrap();
    assert_eq!(offer.to_extension().to_string(), asked);
    assert_eq!(
        check_response(&offer, [asked]),
        Ok(Some(params((8, true), (8, true))))
    );
}

#[test]
fn our_settings_apply_only_where_the_rfc_lets_them() {
    let strict = DeflateConfig::default()
        .server_max_window_bits(10)
        .client_max_window_bits(9)
        .server_no_context_takeover(true)
        .client_no_context_takeover(true);
    // Firefox offers no client_max_window_bits: we may not limit it.
    assert_eq!(
        answer(&strict, "permessage-deflate"),
        Some((
            0,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
                .to_owned(),
            params((10, false), (15, false))
        ))
    );
    // Chrome does: we limit it.
    assert_eq!(
        answer(&strict, "permessage-deflate; client_max_window_bits"),
        Some((
            0,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
                .to_owned(),
            params((10, false), (9, false))
        ))
    );
    // A smaller window asked for than ours is kept.
    assert_eq!(
        answer(&strict, "permessage-deflate; server_max_window_bits=9")
            .unwrap()
            .2
            .server_to_client
            .window_bits,
        9
    );
}

#[test]
fn rfc7692_7_1_malformed_offers_are_declined_not_the_handshake() {
    let good = "permessage-deflate; client_max_window_bits";
    for (bad, why) in [
        ("permessage-deflate; unknown", "unknown parameter unknown"),
        ("permessage-deflate; x=1", "unknown parameter x"),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "parameter server_no_context_takeover given twice",
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "parameter client_max_window_bits given twice",
        ),
        (
            "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10",
            "parameter SERVER_MAX_WINDOW_BITS given twice",
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            "server_no_context_takeover=1: it takes no value",
        ),
        (
            "permessage-deflate; client_no_context_takeover=\"true\"",
            "client_no_context_takeover=true: it takes no value",
        ),
        (
            "permessage-deflate; server_max_window_bits",
            "server_max_window_bits needs a value",
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            "server_max_window_bits=7 is not a window size from 8 to 15",
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            "server_max_window_bits=16 is not a window size from 8 to 15",
        ),
        (
            "permessage-deflate; server_max_window_bits=010",
            "server_max_window_bits=010 is not a window size from 8 to 15",
        ),
        (
            "permessage-deflate; client_max_window_bits=+9",
            "client_max_window_bits=+9 is not a window size from 8 to 15",
        ),
        (
            "permessage-deflate; client_max_window_bits=0x9",
            "client_max_window_bits=0x9 is not a window size from 8 to 15",
        ),
        (
            "permessage-deflate; client_max_window_bits=256",
            "client_max_window_bits=256 is not a window size from 8 to 15",
        ),
    ] {
        let offers = parse([bad]).unwrap();
        assert_eq!(
            DeflateOffer::from_extension(&offers[0]),
            Err(why.to_owned()),
            "{bad}"
        );
        assert_eq!(negotiate(&DeflateConfig::default(), &offers), None, "{bad}");
        // A good offer after it is the one chosen.
        let offers = parse([bad, good]).unwrap();
        let agreement = negotiate(&DeflateConfig::default(), &offers).unwrap();
        assert_eq!(agreement.offer, 1, "{bad}");
        client_agrees(&offers, &agreement);
    }
    // A quoted value is the same value (RFC 6455 §9.1).
    assert_eq!(
        answer(
            &DeflateConfig::default(),
            "permessage-deflate; server_max_window_bits=\"10\""
        )
        .unwrap()
        .1,
        "permessage-deflate; server_max_window_bits=10"
    );
}

#[test]
fn other_extensions_are_skipped_and_no_offer_means_no_answer() {
    assert_eq!(
        answer(
            &DeflateConfig::default(),
            "x-webkit-deflate-frame, foo; bar"
        ),
        None
    );
    assert_eq!(
        answer(&DeflateConfig::default(), "foo, PerMessage-Deflate").map(|a| a.0),
        Some(1)
    );
    assert_eq!(negotiate(&DeflateConfig::default(), &[]), None);
    let off = DeflateConfig::default().enabled(false);
    assert_eq!(answer(&off, "permessage-deflate"), None);
}

#[test]
fn the_client_offer_follows_the_config() {
    for (config, offer) in [
        (
            DeflateConfig::default(),
            "permessage-deflate; client_max_window_bits",
        ),
        (
            DeflateConfig::default()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true)
                .server_max_window_bits(9)
                .client_max_window_bits(11),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11",
        ),
        // Level and threshold are ours alone.
        (
            DeflateConfig::default().level(9).threshold(0),
            "permessage-deflate; client_max_window_bits",
        ),
    ] {
        assert_eq!(config.offer().unwrap().to_extension().to_string(), offer);
    }
    assert_eq!(DeflateConfig::default().enabled(false).offer(), None);
}

#[test]
fn rfc7692_7_1_the_client_accepts_what_its_offer_allows() {
    let default = DeflateConfig::default().offer().unwrap();
    let hinted = DeflateConfig::default()
        .client_max_window_bits(10)
        .client_no_context_takeover(true)
        .offer()
        .unwrap();
    let full = (15, true);
    for (offer, response, agreed) in [
        (&default, "permessage-deflate", params(full, full)),
        // Unasked, the server may limit itself and drop its context.
        (
            &default,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
            params((9, false), full),
        ),
        // And limit us, since we offered client_max_window_bits.
        (
            &default,
            "permessage-deflate; client_max_window_bits=8; client_no_context_takeover",
            params(full, (8, false)),
        ),
        // Our hints hold even when the server does not answer them.
        (&hinted, "permessage-deflate", params(full, (10, false))),
        (
            &hinted,
            "permessage-deflate; client_max_window_bits=9",
            params(full, (9, false)),
        ),
        // Case and quoting do not matter.
        (
            &default,
            "Permessage-Deflate; Server_Max_Window_Bits=\"12\"",
            params((12, true), full),
        ),
    ] {
        assert_eq!(
            check_response(offer, [response]),
            Ok(Some(agreed)),
            "{response}"
        );
    }
    // No header: the server declined.
    assert_eq!(check_response(&default, std::iter::empty()), Ok(None));
}

#[test]
fn rfc7692_7_1_the_client_fails_what_its_offer_did_not_allow() {
    let default = DeflateConfig::default().offer().unwrap();
    let asking = DeflateConfig::default()
        .server_no_context_takeover(true)
        .server_max_window_bits(10)
        .client_max_window_bits(12)
        .offer()
        .unwrap();
    let no_client_bits = DeflateOffer {
        client_max_window_bits: ClientWindowBits::Absent,
        ..default
    };
    for (offer, responses, why) in [
        (
            &default,
            vec![""],
            "malformed Sec-WebSocket-Extensions (line 1, byte 0): the list names no extension",
        ),
        (
            &default,
            vec!["permessage-deflate;"],
            "malformed Sec-WebSocket-Extensions (line 1, byte 19): expected a parameter name (a token)",
        ),
        (
            &default,
            vec!["x-webkit-deflate-frame"],
            "the server answered x-webkit-deflate-frame, not permessage-deflate",
        ),
        (
            &default,
            vec!["permessage-deflate, permessage-deflate"],
            "the server answered 2 extensions, one was offered: permessage-deflate, permessage-deflate",
        ),
        (
            &default,
            vec!["permessage-deflate", "foo"],
            "the server answered 2 extensions, one was offered: permessage-deflate, foo",
        ),
        (
            &default,
            vec!["permessage-deflate; foo"],
            "unknown parameter foo",
        ),
        (
            &default,
            vec!["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            "parameter server_no_context_takeover given twice",
        ),
        (
            &default,
            vec!["permessage-deflate; server_max_window_bits=16"],
            "server_max_window_bits=16 is not a window size from 8 to 15",
        ),
        // §7.1.2.2: a response's client_max_window_bits has a value.
        (
            &default,
            vec!["permessage-deflate; client_max_window_bits"],
            "client_max_window_bits needs a value in a response",
        ),
        (
            &no_client_bits,
            vec!["permessage-deflate; client_max_window_bits=10"],
            "client_max_window_bits=10 answered, never offered",
        ),
        (
            &asking,
            vec!["permessage-deflate; server_max_window_bits=10"],
            "server_no_context_takeover was asked for, not answered",
        ),
        (
            &asking,
            vec!["permessage-deflate; server_no_context_takeover"],
            "server_max_window_bits=10 was asked for, not answered",
        ),
        (
            &asking,
            vec!["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"],
            "server_max_window_bits=11 answered, larger than the 10 asked for",
        ),
        (
            &asking,
            vec![
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13",
            ],
            "client_max_window_bits=13 answered, larger than the 12 offered",
        ),
    ] {
        let error = check_response(offer, responses.iter().copied()).unwrap_err();
        assert_eq!(
            error,
            HandshakeError::Extension(why.to_owned()),
            "{responses:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("extension negotiation failed: {why}")
        );
    }
}

#[test]
fn params_name_each_ends_compressor_and_decompressor() {
    let agreed = params((9, false), (12, true));
    assert_eq!(agreed.outgoing(Role::Server), direction(9, false));
    assert_eq!(agreed.incoming(Role::Client), direction(9, false));
    assert_eq!(agreed.outgoing(Role::Client), direction(12, true));
    assert_eq!(agreed.incoming(Role::Server), direction(12, true));
}

#[test]
#[should_panic(expected = "window bits must be from 8 to 15, not 7")]
fn a_window_below_8_is_a_programming_error() {
    let _ = DeflateConfig::default().client_max_window_bits(7);
}

#[test]
#[should_panic(expected = "the compression level must be from 0 to 9, not 10")]
fn a_level_above_9_is_a_programming_error() {
    let _ = DeflateConfig::default().level(10);
}

#[test]
fn the_defaults_are_documented_ones() {
    let config = DeflateConfig::default();
    assert!(config.get_enabled());
    assert_eq!(config.get_level(), 6);
    assert_eq!(
        (
            config.get_server_max_window_bits(),
            config.get_client_max_window_bits()
        ),
        (15, 15)
    );
    assert!(!config.get_server_no_context_takeover() && !config.get_client_no_context_takeover());
    assert_eq!(config.get_threshold(), 32);
    assert_eq!(
        format(&[config.offer().unwrap().to_extension()]),
        "permessage-deflate; client_max_window_bits"
    );
}

//! `Sec-WebSocket-Extensions` on arbitrary bytes: the header grammar and
//! both sides of the permessage-deflate negotiation.
//!
//! Input layout: byte 0 picks the server's `DeflateConfig` (bit 0 off,
//! bit 1 `server_no_context_takeover`, bit 2 `client_no_context_takeover`,
//! bits 3-5 plus 8 the server window, bit 6 offers that config as a client
//! too), byte 1's low 3 bits plus 8 the client window limit; the
//! rest, read as UTF-8 (lossily), is the header values, one per line (`\n`).
//!
//! A list that parses formats to a value that parses back equal, and each
//! extension alone does too. The server's choice is the first well-formed
//! permessage-deflate offer (every earlier one is one `DeflateOffer`
//! refuses), and our own client validator accepts its answer to that offer
//! with exactly the same `DeflateParams`, windows within the offer, the
//! config and 8..=15. The client validator, fed the values as a response,
//! never panics and agrees on what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::HandshakeError;
use syncws::protocol::extension::permessage_deflate::{
    self, ClientWindowBits, DeflateConfig, DeflateOffer, DeflateParams,
};
use syncws::protocol::extension::{self, Extension};

fn windows_in_range(params: &DeflateParams) {
    for direction in [params.server_to_client, params.client_to_server] {
        assert!((8..=15).contains(&direction.window_bits), "{params:?}");
    }
}

fn check_as_response(offer: &DeflateOffer, values: &[&str]) {
    match permessage_deflate::check_response(offer, values.iter().copied()) {
        Ok(None) => assert!(values.is_empty()),
        Ok(Some(params)) => {
            windows_in_range(&params);
            let answered = extension::parse(values.iter().copied()).unwrap();
            assert_eq!(answered.len(), 1);
            assert_eq!(offer.accept_response(&answered[0]), Ok(params));
            if let Some(asked) = offer.server_max_window_bits {
                assert!(params.server_to_client.window_bits <= asked);
            }
            if let ClientWindowBits::Limit(limit) = offer.client_max_window_bits {
                assert!(params.client_to_server.window_bits <= limit);
            }
            if offer.server_no_context_takeover {
                assert!(!params.server_to_client.context_takeover);
            }
            if offer.client_no_context_takeover {
                assert!(!params.client_to_server.context_takeover);
            }
        }
        Err(HandshakeError::Extension(why)) => assert!(!why.is_empty()),
        Err(other) => panic!("check_response gave {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, windows, rest @ ..] = data else {
        return;
    };
    let config = DeflateConfig::default()
        .enabled(flags & 1 == 0)
        .server_no_context_takeover(flags & 2 != 0)
        .client_no_context_takeover(flags & 4 != 0)
        .server_max_window_bits(8 + ((flags >> 3) & 7))
        .client_max_window_bits(8 + (windows & 7));
    let text = String::from_utf8_lossy(rest);
    let values: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').collect()
    };

    // The client side: whatever the server answered.
    check_as_response(&DeflateConfig::default().offer().unwrap(), &values);
    if flags & 64 != 0 {
        if let Some(offer) = config.offer() {
            check_as_response(&offer, &values);
        }
    }

    // The grammar.
    let Ok(offers) = extension::parse(values.iter().copied()) else {
        return;
    };
    assert!(!offers.is_empty());
    let formatted = extension::format(&offers);
    assert_eq!(
        extension::parse([formatted.as_str()]).as_ref(),
        Ok(&offers),
        "{formatted}"
    );
    for offer in &offers {
        let alone = offer.to_string();
        assert_eq!(extension::parse([alone.as_str()]), Ok(vec![offer.clone()]));
        // What the builders accept is what the parser gives.
        let mut built = Extension::new(offer.name()).unwrap();
        for param in offer.params() {
            built = built.with_param(param.name(), param.value()).unwrap();
        }
        assert_eq!(&built, offer);
    }

    // The server side.
    let Some(agreement) = permessage_deflate::negotiate(&config, &offers) else {
        assert!(
            !config.get_enabled()
                || offers
                    .iter()
                    .all(|o| DeflateOffer::from_extension(o).is_err())
        );
        return;
    };
    assert!(config.get_enabled());
    for earlier in &offers[..agreement.offer] {
        assert!(DeflateOffer::from_extension(earlier).is_err(), "{earlier}");
    }
    let chosen = DeflateOffer::from_extension(&offers[agreement.offer]).unwrap();
    let params = agreement.params;
    windows_in_range(&params);
    assert!(params.server_to_client.window_bits <= config.get_server_max_window_bits());
    if chosen.client_max_window_bits != ClientWindowBits::Absent {
        assert!(params.client_to_server.window_bits <= config.get_client_max_window_bits());
    }
    let response = agreement.response.to_string();
    assert_eq!(
        permessage_deflate::check_response(&chosen, [response.as_str()]),
        Ok(Some(params)),
        "{} answered {response}",
        offers[agreement.offer]
    );
});

//! The client side of the opening handshake on arbitrary bytes:
//! `parse_response` with the default limits, then `check_response` against
//! the request of RFC 6455 §1.2 (key `dGhlIHNhbXBsZSBub25jZQ==`, offering
//! `chat` and `superchat`).
//!
//! A head that parses parses the same from its own bytes, and one byte short
//! of it is incomplete. `check_response` accepts only a 101 with the right
//! `Sec-WebSocket-Accept` and a subprotocol that was offered, and reports
//! any other status as `Refused` with the head's headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::HandshakeError;
use syncws::protocol::handshake::{ClientRequest, check_response, parse_response};

const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fuzz_target!(|data: &[u8]| {
    let (head, head_len) = match parse_response(data, MAX_HEAD, MAX_HEADERS) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return assert!(data.len() <= MAX_HEAD),
        Err(_) => return,
    };
    assert!(0 < head_len && head_len <= data.len().min(MAX_HEAD));
    match parse_response(&data[..head_len], MAX_HEAD, MAX_HEADERS) {
        Ok(Some((again, len))) if len == head_len => {
            assert_eq!((again.status, &again.headers), (head.status, &head.headers));
        }
        other => panic!("the head alone gave {other:?}"),
    }
    assert!(matches!(
        parse_response(&data[..head_len - 1], MAX_HEAD, MAX_HEADERS),
        Ok(None)
    ));
    if let Some(length) = head.content_length() {
        let value = head.header("content-length").unwrap();
        assert_eq!(value.parse::<usize>().ok(), Some(length));
    }

    let mut request = ClientRequest::new("server.example.com", "/chat");
    request.key = KEY.to_owned();
    request.protocols = vec!["chat".into(), "superchat".into()];
    match check_response(&head, &request) {
        Ok(protocol) => {
            assert_eq!(head.status, 101);
            assert_eq!(head.header("sec-websocket-accept"), Some(ACCEPT));
            assert!(head.header("sec-websocket-extensions").is_none());
            if let Some(protocol) = protocol {
                assert!(request.protocols.contains(&protocol), "{protocol:?}");
            }
        }
        Err(HandshakeError::Refused {
            status,
            headers,
            body,
        }) => {
            assert_ne!(status, 101);
            assert_eq!((status, &headers), (head.status, &head.headers));
            assert!(body.is_empty());
        }
        Err(HandshakeError::Invalid(_) | HandshakeError::Subprotocol(_)) => {
            assert_eq!(head.status, 101);
        }
        Err(other) => panic!("check_response gave {other:?}"),
    }
});

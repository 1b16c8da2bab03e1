//! The server side of the opening handshake on arbitrary bytes:
//! `parse_request` with the default limits, then `check_upgrade`.
//!
//! - A head that parses parses the same from its own bytes, and one byte
//!   short of it is incomplete (the server reads it a piece at a time).
//! - An accepted upgrade: the `accept_response` (echoing the first offered
//!   subprotocol, with the request's other headers as extra headers)
//!   re-parses with `parse_response` and passes `check_response` for a
//!   client that sent that key and offered those subprotocols.
//! - A refusal: its `to_bytes` re-parses with the same status, body and
//!   `Connection: close`, and `check_response` reports it as `Refused`.
//! - Header injection: a `Response` carrying the request's headers plus one
//!   whose value is the raw bytes after the head (CR, LF, anything) re-parses
//!   with exactly the headers `to_bytes` promises, no more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::HandshakeError;
use syncws::protocol::handshake::{
    ClientRequest, Headers, Response, accept_response, check_response, check_upgrade,
    parse_request, parse_response,
};

const MAX_HEAD: usize = 16 << 10;
const MAX_HEADERS: usize = 64;
/// Limits for re-parsing our own answers, which may carry every request
/// header and more.
const BIG_HEAD: usize = 1 << 20;
const MANY_HEADERS: usize = 256;

fn client_for(key: &str, protocols: Vec<String>) -> ClientRequest {
    let mut client = ClientRequest::new("example.com", "/");
    client.key = key.to_owned();
    client.protocols = protocols;
    client
}

/// The headers `Response::to_bytes` promises to write, as `parse_response`
/// gives them back.
fn expected_headers(response: &Response) -> Headers {
    let upgrade = response.status == 101;
    let has_body = !matches!(response.status, 100..=199 | 204 | 304);
    let token = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let mut expected: Headers = response
        .headers
        .iter()
        .filter(|(name, _)| {
            token(name)
                && !name.eq_ignore_ascii_case("Content-Length")
                && !name.eq_ignore_ascii_case("Transfer-Encoding")
                && (upgrade || !name.eq_ignore_ascii_case("Connection"))
        })
        .map(|(name, value)| {
            let sent: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_control() && c != '\t' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            (name.to_owned(), sent.trim_matches([' ', '\t']).to_owned())
        })
        .collect();
    if has_body {
        expected.push("Content-Length", &response.body.len().to_string());
    }
    if !upgrade {
        expected.push("Connection", "close");
    }
    expected
}

/// `to_bytes` re-parses into the status, headers and body it was made of.
fn check_round_trip(response: &Response) {
    let bytes = response.to_bytes();
    let (head, head_len) = match parse_response(&bytes, BIG_HEAD, MANY_HEADERS) {
        Ok(Some(parsed)) => parsed,
        other => panic!(
            "{:?} re-parsed as {other:?}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(head.status, response.status);
    assert_eq!(head.headers, expected_headers(response), "{response:?}");
    let has_body = !matches!(response.status, 100..=199 | 204 | 304);
    let body: &[u8] = if has_body { &response.body } else { &[] };
    assert_eq!(&bytes[head_len..], body);
    if has_body {
        assert_eq!(head.content_length(), Some(response.body.len()));
    }
}

fuzz_target!(|data: &[u8]| {
    let (request, head_len) = match parse_request(data, MAX_HEAD, MAX_HEADERS) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return assert!(data.len() <= MAX_HEAD),
        Err(_) => return,
    };
    assert!(0 < head_len && head_len <= data.len().min(MAX_HEAD));
    match parse_request(&data[..head_len], MAX_HEAD, MAX_HEADERS) {
        Ok(Some((again, len))) if len == head_len => {
            assert_eq!(format!("{again:?}"), format!("{request:?}"));
        }
        other => panic!("the head alone gave {other:?}"),
    }
    assert!(matches!(
        parse_request(&data[..head_len - 1], MAX_HEAD, MAX_HEADERS),
        Ok(None)
    ));

    // Every accessor, for panics.
    let _ = request.method();
    // The path starts the target, or is the path of an absolute-form one
    // ("/" if its URI has none); the query ends it.
    let (target, path) = (request.target(), request.path());
    assert!(
        target.starts_with(path) || (path.starts_with('/') && target.contains(path)),
        "{target:?} has the path {path:?}"
    );
    assert!(request.query().is_none_or(|query| target.ends_with(query)));
    let _ = (
        request.origin(),
        request.cookie("session"),
        request.header("host"),
    );
    let protocols = request.protocols();
    assert!(protocols.iter().all(|p| !p.is_empty()));
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();

    match check_upgrade(&request) {
        Ok(key) => {
            assert!(
                request.is_upgrade(),
                "accepted, but not routed as an upgrade"
            );
            let protocol = protocols.first().map(String::as_str);
            let extra: Headers = headers
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
                .cloned()
                .collect();
            let answer = accept_response(&key, protocol, &extra);
            let (head, len) = match parse_response(&answer, BIG_HEAD, MANY_HEADERS) {
                Ok(Some(parsed)) => parsed,
                other => panic!(
                    "{:?} re-parsed as {other:?}",
                    String::from_utf8_lossy(&answer)
                ),
            };
            assert_eq!((head.status, len), (101, answer.len()));
            let client = client_for(&key, protocols.clone());
            assert_eq!(
                check_response(&head, &client).map_err(|e| e.to_string()),
                Ok(protocol.map(str::to_owned)),
                "{:?}",
                String::from_utf8_lossy(&answer)
            );
        }
        Err(refusal) => {
            assert!(matches!(refusal.status, 400 | 405 | 426), "{refusal:?}");
            check_round_trip(&refusal);
            let bytes = refusal.to_bytes();
            let (head, _) = parse_response(&bytes, BIG_HEAD, MANY_HEADERS)
                .unwrap()
                .unwrap();
            let client = client_for("dGhlIHNhbXBsZSBub25jZQ==", protocols);
            match check_response(&head, &client) {
                Err(HandshakeError::Refused { status, .. }) => assert_eq!(status, refusal.status),
                other => panic!("a {} refusal checked as {other:?}", refusal.status),
            }
        }
    }

    // Header injection: the bytes after the head as a header value and body.
    let tail = &data[head_len..];
    let status = [101, 200, 204, 304, 404, 426][data.len() % 6];
    let mut response = Response::new(status);
    response.headers = headers.into_iter().collect();
    response
        .headers
        .push("X-Fuzz", &String::from_utf8_lossy(tail));
    response.body = tail.to_vec();
    check_round_trip(&response);
});

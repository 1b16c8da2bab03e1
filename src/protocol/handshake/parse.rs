//! What [`parse_request`](super::parse_request) and
//! [`parse_response`](super::parse_response) share: httparse run on a
//! bounded window, within the head size and header count limits.

use super::error::HandshakeError;

/// The part of `buf` a head may occupy. Parsing no further bounds the work
/// done on a flood of bytes, and a head that is incomplete within it while
/// more bytes are buffered is known to be too large.
pub(super) fn head_window(buf: &[u8], max_head_size: usize) -> &[u8] {
    &buf[..buf.len().min(max_head_size)]
}

/// The header array handed to httparse: `max_headers` entries, but never
/// more than the window could hold (a header line takes at least 3 bytes,
/// `a:\n`), so a huge limit allocates nothing huge and a smaller array can
/// never be the reason httparse reports too many headers.
pub(super) fn header_slots(
    window_len: usize,
    max_headers: usize,
) -> Vec<httparse::Header<'static>> {
    vec![httparse::EMPTY_HEADER; max_headers.min(window_len / 3 + 1)]
}

/// Turns httparse's answer into the head length, `None` for "need more".
pub(super) fn completed(
    status: httparse::Result<usize>,
    buffered: usize,
    max_head_size: usize,
    max_headers: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some(head_len)),
        Ok(httparse::Status::Partial) if buffered > max_head_size => {
            Err(HandshakeError::HeadTooLarge {
                max_size: max_head_size,
            })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders { max_headers }),
        Err(e) => Err(HandshakeError::Invalid(format!("malformed HTTP head: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::handshake::HandshakeError;
    use crate::protocol::handshake::fixtures::*;
    use crate::protocol::handshake::{
        ClientRequest, check_response, check_upgrade, parse_request, parse_response,
    };

    #[test]
    fn head_size_is_limited() {
        let len = RFC_REQUEST.len();
        // Exactly at the limit: fine, even with more bytes after it.
        let mut stream = RFC_REQUEST.to_vec();
        stream.extend_from_slice(b"frames");
        assert_eq!(
            parse_request(&stream, len, MAX_HEADERS).unwrap().unwrap().1,
            len
        );
        // One byte over: too large, whether or not the rest has arrived.
        for end in [len, len + 3] {
            assert!(matches!(
                parse_request(&stream[..end], len - 1, MAX_HEADERS),
                Err(HandshakeError::HeadTooLarge { max_size }) if max_size == len - 1
            ));
        }
        // Incomplete and within the limit: wait for more.
        assert!(matches!(
            parse_request(&RFC_REQUEST[..len - 1], len - 1, MAX_HEADERS),
            Ok(None)
        ));
        // Incomplete and past the limit: give up without waiting for the end.
        let endless: Vec<u8> = b"GET / HTTP/1.1\r\nX: "
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 100_000))
            .collect();
        assert!(matches!(
            parse_request(&endless, MAX_HEAD, MAX_HEADERS),
            Err(HandshakeError::HeadTooLarge { .. })
        ));
        assert!(matches!(
            parse_response(&endless[..0], 0, MAX_HEADERS),
            Ok(None)
        ));
        assert!(matches!(
            parse_response(b"H", 0, MAX_HEADERS),
            Err(HandshakeError::HeadTooLarge { max_size: 0 })
        ));
    }

    #[test]
    fn header_count_is_limited() {
        // The RFC request has 7 headers.
        assert!(parse_request(RFC_REQUEST, MAX_HEAD, 7).unwrap().is_some());
        assert!(matches!(
            parse_request(RFC_REQUEST, MAX_HEAD, 6),
            Err(HandshakeError::TooManyHeaders { max_headers: 6 })
        ));
        assert!(matches!(
            parse_request(RFC_REQUEST, MAX_HEAD, 0),
            Err(HandshakeError::TooManyHeaders { max_headers: 0 })
        ));
        // Known as soon as the extra header line is complete (byte 66),
        // before the head ends.
        assert!(matches!(
            parse_request(&RFC_REQUEST[..70], MAX_HEAD, 1),
            Err(HandshakeError::TooManyHeaders { max_headers: 1 })
        ));
        assert!(matches!(
            parse_response(RFC_RESPONSE, MAX_HEAD, 3),
            Err(HandshakeError::TooManyHeaders { max_headers: 3 })
        ));
        // A huge limit costs nothing: the header array is sized by the input.
        assert!(
            parse_request(RFC_REQUEST, usize::MAX, usize::MAX)
                .unwrap()
                .is_some()
        );
        // The densest possible headers ("a:\n") fit an array sized by the input.
        let mut dense = b"GET / HTTP/1.1\n".to_vec();
        for _ in 0..1000 {
            dense.extend_from_slice(b"a:\n");
        }
        dense.push(b'\n');
        let (parsed, _) = parse_request(&dense, usize::MAX, usize::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.headers().len(), 1000);
    }

    #[test]
    fn malformed_heads_are_invalid() {
        let requests: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            b"\x00\x01\x02\x03\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ];
        #[track_caller]
        fn assert_invalid<T>(bytes: &[u8], parsed: Result<T, HandshakeError>) {
            assert!(
                matches!(parsed, Err(HandshakeError::Invalid(_))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        for bytes in requests {
            assert_invalid(bytes, parse_request(bytes, MAX_HEAD, MAX_HEADERS));
        }
        let responses: &[&[u8]] = &[
            b"HTTP/1.1 abc Nope\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nX: a\x01b\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ];
        for bytes in responses {
            assert_invalid(bytes, parse_response(bytes, MAX_HEAD, MAX_HEADERS));
        }
    }

    #[test]
    fn obs_text_in_values_is_read_as_latin1_by_both_parsers() {
        // RFC 9110 §5.5: obs-text (0x80 to 0xFF) is allowed in a value.
        let parsed = request(b"GET / HTTP/1.1\r\nHost: h\r\nX-Latin1: caf\xe9\r\n\r\n");
        assert_eq!(parsed.header("X-Latin1"), Some("café"));
        assert_eq!(parsed.header("Host"), Some("h"));
        let head = response_head(b"HTTP/1.1 403 Forbidden\r\nX: \xc3\x28\r\nY: \xc3\xa9\r\n\r\n");
        assert_eq!(head.header("X"), Some("Ã("));
        assert_eq!(head.header("Y"), Some("é"));
        // A control character is still malformed.
        assert!(matches!(
            parse_request(
                b"GET / HTTP/1.1\r\nX: \xe9\x01\r\n\r\n",
                MAX_HEAD,
                MAX_HEADERS
            ),
            Err(HandshakeError::Invalid(_))
        ));
    }

    #[test]
    fn no_input_makes_the_parsers_panic() {
        // A small deterministic generator (xorshift): the parsers see random
        // mutations of valid heads, at every length, under tight limits.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            let mut bytes = if round % 2 == 0 {
                RFC_REQUEST.to_vec()
            } else {
                RFC_RESPONSE.to_vec()
            };
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let limit = (next() as usize) % 300;
            let headers = (next() as usize) % 10;
            if let Ok(Some((parsed, _))) = parse_request(&bytes, limit, headers) {
                let _ = check_upgrade(&parsed).map_err(|refusal| refusal.to_bytes());
            }
            if let Ok(Some((head, _))) = parse_response(&bytes, limit, headers) {
                let _ = check_response(&head, &ClientRequest::new("h", "/"));
            }
        }
    }
}

//! Why an opening handshake failed, as the sans-I/O core sees it: a head
//! that is malformed, too large, or breaks RFC 6455 §4, or a server's
//! refusal. A connection that ends or fails while the head is read is the
//! blocking layer's to report (`Error::Io`), so it has no variant here.

use std::fmt;

use super::headers::Headers;

/// Why an opening handshake failed.
///
/// The parsers and [`check_response`](super::check_response) return it;
/// the crate's [`Error::Handshake`](crate::Error::Handshake) carries it.
///
/// ```
/// use syncws::HandshakeError;
/// use syncws::protocol::handshake::parse_request;
///
/// let error = parse_request(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 16 << 10, 64).unwrap_err();
/// assert!(matches!(error, HandshakeError::Invalid(_)));
/// assert_eq!(error.to_string(), "invalid: malformed HTTP head: invalid header name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The server answered with something other than `101 Switching
    /// Protocols`: its status, headers and body are kept (like Zinc's
    /// `ZnWebSocketFailed`).
    Refused {
        /// The HTTP status code.
        status: u16,
        /// The response headers, in order.
        headers: Headers,
        /// The response body, as far as it was read (bounded).
        body: Vec<u8>,
    },
    /// The peer's HTTP head was malformed, or broke a rule of RFC 6455 §4
    /// (a wrong `Sec-WebSocket-Accept`, a missing `Upgrade` header, ...).
    Invalid(String),
    /// The head was larger than the limit.
    HeadTooLarge {
        /// The limit in bytes.
        max_size: usize,
    },
    /// The head had more header lines than the limit.
    TooManyHeaders {
        /// The limit.
        max_headers: usize,
    },
    /// The server chose a subprotocol the client did not offer (or named
    /// several): what it sent, repeated headers joined by `", "`.
    Subprotocol(String),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Refused { status, .. } => write!(f, "refused with HTTP {status}"),
            HandshakeError::Invalid(why) => write!(f, "invalid: {why}"),
            HandshakeError::HeadTooLarge { max_size } => {
                write!(f, "HTTP head larger than {max_size} bytes")
            }
            HandshakeError::TooManyHeaders { max_headers } => {
                write!(f, "more than {max_headers} header lines")
            }
            HandshakeError::Subprotocol(p) => {
                write!(f, "server chose subprotocol {p:?}, which was not offered")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_says_what_went_wrong() {
        for (error, text) in [
            (
                HandshakeError::Refused {
                    status: 403,
                    headers: Headers::new(),
                    body: b"no".to_vec(),
                },
                "refused with HTTP 403",
            ),
            (
                HandshakeError::Invalid("wrong Sec-WebSocket-Accept".into()),
                "invalid: wrong Sec-WebSocket-Accept",
            ),
            (
                HandshakeError::HeadTooLarge { max_size: 4096 },
                "HTTP head larger than 4096 bytes",
            ),
            (
                HandshakeError::TooManyHeaders { max_headers: 32 },
                "more than 32 header lines",
            ),
            (
                HandshakeError::Subprotocol("chat".into()),
                "server chose subprotocol \"chat\", which was not offered",
            ),
        ] {
            assert_eq!(error.to_string(), text);
            let boxed: Box<dyn std::error::Error> = Box::new(error.clone());
            assert!(boxed.source().is_none(), "{error:?}");
        }
    }
}

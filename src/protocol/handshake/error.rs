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
    /// The HTTP proxy answered the client's `CONNECT` with a status other
    /// than 2xx, so no tunnel to the server was opened: 407 (it wants
    /// credentials, or other ones), 403 (that destination is not
    /// allowed), 502 or 500 (it could not reach the server), ... Its
    /// status and headers are kept. The server itself was never asked:
    /// its refusal is [`HandshakeError::Refused`].
    ProxyRefused {
        /// The proxy's HTTP status code.
        status: u16,
        /// The proxy's response headers, in order (`Proxy-Authenticate`
        /// among them for a 407).
        headers: Headers,
    },
    /// The server's `Sec-WebSocket-Extensions` answer is one the client
    /// must fail the handshake on (RFC 6455 §4.1, RFC 7692 §7.1): it does
    /// not parse, names an extension that was not offered, or gives
    /// parameters the offer did not allow. Says which.
    Extension(String),
    /// The SOCKS5 proxy would not open a tunnel to the server.
    SocksRefused(SocksRefusal),
    /// The server redirected more often than
    /// [`ClientBuilder::follow_redirects`](crate::ClientBuilder::follow_redirects)
    /// allows.
    TooManyRedirects {
        /// The number of redirects allowed.
        max: usize,
    },
    /// The server redirected a `wss://` connection to a `ws://` URL: that
    /// redirect is never followed, since the rest would travel in clear.
    InsecureRedirect {
        /// Where the redirect pointed, as resolved.
        location: String,
    },
}

/// Why a SOCKS5 proxy (RFC 1928) would not open a tunnel.
///
/// ```
/// use syncws::HandshakeError;
/// use syncws::SocksRefusal;
///
/// let error = HandshakeError::SocksRefused(SocksRefusal::Reply(5));
/// assert_eq!(error.to_string(), "the SOCKS5 proxy refused: connection refused by destination host (reply 5)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocksRefusal {
    /// The proxy accepts none of the authentication methods offered: no
    /// authentication, and username/password when the proxy URL has them
    /// (RFC 1928 §3: it answered `X'FF'`).
    NoAcceptableMethod,
    /// The proxy rejected the username and password (RFC 1929 §2: a
    /// status other than `X'00'`).
    BadCredentials,
    /// The proxy's reply to the `CONNECT` request (RFC 1928 §6), a code
    /// from 1 to 255 (see [`SocksRefusal::describe`]).
    Reply(u8),
}

impl SocksRefusal {
    /// What a reply code means (RFC 1928 §6): 1 general SOCKS server
    /// failure, 2 connection not allowed by ruleset, 3 network
    /// unreachable, 4 host unreachable, 5 connection refused by
    /// destination host, 6 TTL expired, 7 command not supported, 8 address
    /// type not supported.
    pub fn describe(&self) -> &'static str {
        match self {
            SocksRefusal::NoAcceptableMethod => {
                "no acceptable authentication method (the proxy may want a username and password)"
            }
            SocksRefusal::BadCredentials => "the username and password were rejected",
            SocksRefusal::Reply(1) => "general SOCKS server failure",
            SocksRefusal::Reply(2) => "connection not allowed by ruleset",
            SocksRefusal::Reply(3) => "network unreachable",
            SocksRefusal::Reply(4) => "host unreachable",
            SocksRefusal::Reply(5) => "connection refused by destination host",
            SocksRefusal::Reply(6) => "TTL expired",
            SocksRefusal::Reply(7) => "command not supported",
            SocksRefusal::Reply(8) => "address type not supported",
            SocksRefusal::Reply(_) => "unassigned reply code",
        }
    }
}

impl fmt::Display for SocksRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksRefusal::Reply(code) => write!(f, "{} (reply {code})", self.describe()),
            _ => f.write_str(self.describe()),
        }
    }
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
            HandshakeError::Extension(why) => write!(f, "extension negotiation failed: {why}"),
            HandshakeError::ProxyRefused { status, .. } => {
                write!(f, "the HTTP proxy refused the tunnel with HTTP {status}")
            }
            HandshakeError::SocksRefused(refusal) => {
                write!(f, "the SOCKS5 proxy refused: {refusal}")
            }
            HandshakeError::TooManyRedirects { max } => {
                write!(f, "more than {max} redirects")
            }
            HandshakeError::InsecureRedirect { location } => {
                write!(
                    f,
                    "redirected from wss:// to {location}, which is not followed"
                )
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
            (
                HandshakeError::Extension("unknown parameter x".into()),
                "extension negotiation failed: unknown parameter x",
            ),
            (
                HandshakeError::ProxyRefused {
                    status: 407,
                    headers: Headers::new(),
                },
                "the HTTP proxy refused the tunnel with HTTP 407",
            ),
            (
                HandshakeError::SocksRefused(SocksRefusal::Reply(2)),
                "the SOCKS5 proxy refused: connection not allowed by ruleset (reply 2)",
            ),
            (
                HandshakeError::SocksRefused(SocksRefusal::BadCredentials),
                "the SOCKS5 proxy refused: the username and password were rejected",
            ),
            (
                HandshakeError::TooManyRedirects { max: 3 },
                "more than 3 redirects",
            ),
            (
                HandshakeError::InsecureRedirect {
                    location: "ws://h/".into(),
                },
                "redirected from wss:// to ws://h/, which is not followed",
            ),
        ] {
            assert_eq!(error.to_string(), text);
            let boxed: Box<dyn std::error::Error> = Box::new(error.clone());
            assert!(boxed.source().is_none(), "{error:?}");
        }
    }
}

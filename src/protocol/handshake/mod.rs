//! The opening handshake (RFC 6455 §4), sans I/O.
//!
//! Everything here works on byte slices and never names a socket: the
//! blocking layer reads bytes until [`parse_request`] or [`parse_response`]
//! sees a complete head, then checks it with [`check_upgrade`] or
//! [`check_response`] and writes the bytes built here.
//!
//! ```
//! use syncws::protocol::handshake::{self, ClientRequest};
//!
//! // Client: the request to send.
//! let request = ClientRequest::new("example.com", "/chat");
//! let sent = request.to_bytes();
//!
//! // Server: parse it, check it, answer it.
//! let (received, head_len) = handshake::parse_request(&sent, 16 << 10, 64)?.expect("a whole head");
//! assert_eq!(head_len, sent.len());
//! let key = handshake::check_upgrade(&received).expect("a valid upgrade");
//! let answer = handshake::accept_response(&key, None, &handshake::Headers::new());
//!
//! // Client: parse the answer and check it.
//! let (head, _) = handshake::parse_response(&answer, 16 << 10, 64)?.expect("a whole head");
//! assert_eq!(handshake::check_response(&head, &request)?, None);
//! # Ok::<(), syncws::HandshakeError>(())
//! ```

// One idea a file: the keys, the request the server parses, the response
// it answers with, the server's checks and its 101, the client's side, the
// header list they all hold, what the two head parsers share, and the error.
mod client;
mod error;
mod headers;
mod key;
mod parse;
mod request;
mod response;
mod server;

pub(crate) use client::encode_request_target;
pub use client::{ClientRequest, ResponseHead, check_response, parse_response};
pub use error::{HandshakeError, SocksRefusal};
pub use headers::Headers;
pub use key::{accept_key, generate_key};
pub use request::{Request, parse_request};
pub use response::Response;
pub(crate) use server::encode_accept_response;
pub use server::{accept_response, accept_response_with_extensions, check_upgrade};

/// The `Sec-WebSocket-Version` this crate speaks (RFC 6455 §4.1: "The value
/// of this header field MUST be 13").
const VERSION: &str = "13";

/// What the tests of every part of the handshake share: the limits, the
/// handshake of RFC 6455 §1.2 and parsing that expects a whole head.
#[cfg(test)]
mod fixtures {
    use std::fmt::Debug;

    use super::{HandshakeError, Request, ResponseHead, parse_request, parse_response};

    pub(super) const MAX_HEAD: usize = 16 << 10;
    pub(super) const MAX_HEADERS: usize = 64;

    /// The client handshake of RFC 6455 §1.2.
    pub(super) const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    /// The server handshake of RFC 6455 §1.2.
    pub(super) const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        \r\n";

    /// `bytes`, a whole request head, parsed.
    pub(super) fn request(bytes: &[u8]) -> Request {
        whole(bytes, parse_request(bytes, MAX_HEAD, MAX_HEADERS))
    }

    /// `bytes`, a whole response head, parsed.
    pub(super) fn response_head(bytes: &[u8]) -> ResponseHead {
        whole(bytes, parse_response(bytes, MAX_HEAD, MAX_HEADERS))
    }

    /// What a parser made of `bytes`, which must be one whole head.
    fn whole<T: Debug>(bytes: &[u8], parsed: Result<Option<(T, usize)>, HandshakeError>) -> T {
        match parsed {
            Ok(Some((head, head_len))) => {
                assert_eq!(head_len, bytes.len());
                head
            }
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bytes)),
        }
    }
}

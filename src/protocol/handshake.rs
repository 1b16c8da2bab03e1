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
//! let answer = handshake::accept_response(&key, None, &[]);
//!
//! // Client: parse the answer and check it.
//! let (head, _) = handshake::parse_response(&answer, 16 << 10, 64)?.expect("a whole head");
//! assert_eq!(handshake::check_response(&head, &request)?, None);
//! # Ok::<(), syncws::HandshakeError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use crate::error::HandshakeError;

/// The GUID that RFC 6455 §1.3 appends to `Sec-WebSocket-Key` before
/// hashing it into `Sec-WebSocket-Accept`.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Version` this crate speaks (RFC 6455 §4.1: "The value
/// of this header field MUST be 13").
const VERSION: &str = "13";

/// The `Content-Type` of the refusals built by [`check_upgrade`].
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + [`GUID`])).
///
/// The key is taken as the string that was sent, not base64-decoded
/// (RFC 6455 §4.2.2).
///
/// ```
/// use syncws::protocol::handshake::accept_key;
///
/// // The example of RFC 6455 §1.3.
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut accept = [0u8; ACCEPT_KEY_LEN];
    encode_accept_key(key, &mut accept).to_owned()
}

/// The length of a `Sec-WebSocket-Accept` value: a SHA-1 digest (20
/// bytes) in base64.
const ACCEPT_KEY_LEN: usize = 28;

/// [`accept_key`], encoded into `out`.
fn encode_accept_key<'a>(key: &[u8], out: &'a mut [u8; ACCEPT_KEY_LEN]) -> &'a str {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    let len = BASE64
        .encode_slice(sha1.finalize(), out)
        .expect("20 bytes take 28 in base64");
    std::str::from_utf8(&out[..len]).expect("base64 is ASCII")
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
///
/// RFC 6455 §4.1: "The nonce MUST be selected randomly for each connection."
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        nonce = fallback_nonce();
    }
    BASE64.encode(nonce)
}

/// A nonce for the rare system whose random source fails. The key only
/// proves that the server speaks WebSocket (RFC 6455 §1.3); unlike a masking
/// key it guards nothing, so a handshake should not fail for want of the OS
/// random source. The standard library's randomly seeded hasher, fed the
/// time and a counter, still gives a different value each time.
fn fallback_nonce() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut nonce = [0u8; 16];
    for (half, chunk) in nonce.chunks_exact_mut(8).enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(now);
        hasher.write_u64(count);
        hasher.write_usize(half);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    nonce
}

/// A parsed HTTP/1.x request head: what a client sent to open a WebSocket.
///
/// The server hands it to user handlers, which can look at the path, the
/// headers, the cookies and the subprotocols offered before accepting.
///
/// ```
/// use syncws::protocol::handshake::parse_request;
///
/// let bytes = b"GET /chat?room=1 HTTP/1.1\r\n\
///     Host: example.com\r\n\
///     Cookie: session=abc; theme=dark\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
/// let (request, _) = parse_request(bytes, 16 << 10, 64)?.expect("a whole head");
/// assert_eq!(request.path(), "/chat");
/// assert_eq!(request.query(), Some("room=1"));
/// assert_eq!(request.header("host"), Some("example.com"));
/// assert_eq!(request.cookie("theme"), Some("dark"));
/// assert_eq!(request.protocols(), ["chat", "superchat"]);
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
#[derive(Clone)]
pub struct Request {
    /// The method, the target, then every header's name and (trimmed)
    /// value, back to back: the whole head in one allocation, not two per
    /// header.
    text: String,
    /// Where the method ends and the target begins.
    method_end: u32,
    /// Where the target ends and the first header's name begins.
    target_end: u32,
    /// For each header, where its name ends and its value begins, and where
    /// its value ends (and the next header's name begins).
    headers: Vec<(u32, u32)>,
    /// The minor version of HTTP/1.x: 1 for HTTP/1.1.
    http_minor_version: u8,
    peer_addr: Option<SocketAddr>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("http_minor_version", &self.http_minor_version)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("peer_addr", &self.peer_addr)
            .finish()
    }
}

impl Request {
    /// The method, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        &self.text[..self.method_end as usize]
    }

    /// The request target as sent, e.g. `"/chat?room=1"`.
    pub fn target(&self) -> &str {
        &self.text[self.method_end as usize..self.target_end as usize]
    }

    /// The target up to its `?`, e.g. `"/chat"`.
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The target after its first `?`, e.g. `Some("room=1")`; `None` if it
    /// has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// The value of the first header with this name (compared without
    /// regard to ASCII case), trimmed of surrounding blanks.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(self, name).next()
    }

    /// All headers, name and value, in the order they were sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = self.target_end as usize;
        self.headers.iter().map(move |&(name_end, value_end)| {
            let (name_end, value_end) = (name_end as usize, value_end as usize);
            let header = (&self.text[start..name_end], &self.text[name_end..value_end]);
            start = value_end;
            header
        })
    }

    /// The address of the peer, when the server filled it in.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// Records the address of the peer (done by the server).
    pub fn set_peer_addr(&mut self, addr: SocketAddr) {
        self.peer_addr = Some(addr);
    }

    /// The subprotocols the client offered: the comma-separated tokens of
    /// every `Sec-WebSocket-Protocol` header, trimmed, in order of preference.
    pub fn protocols(&self) -> Vec<String> {
        header_tokens(self, "Sec-WebSocket-Protocol")
            .map(str::to_owned)
            .collect()
    }

    /// True if the request asks for a WebSocket (its `Upgrade` header
    /// names `websocket`), whether or not the rest of it is valid: the
    /// server routes it as an upgrade and [`check_upgrade`] judges it.
    pub fn is_upgrade(&self) -> bool {
        has_token(self, "Upgrade", "websocket")
    }

    /// The `Origin` header, sent by browsers (RFC 6455 §10.2: servers may
    /// use it to refuse connections from pages they do not trust).
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin")
    }

    /// The value of the first cookie with this name (case-sensitive) in the
    /// `Cookie` headers (`"a=1; b=2"`), as sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        header_values(self, "Cookie")
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(cookie_name, _)| cookie_name.trim() == name)
            .map(|(_, value)| value.trim())
    }

    /// The request line's method and target and the headers httparse
    /// found, copied into one string.
    fn from_parsed(
        method: &str,
        target: &str,
        http_minor_version: u8,
        parsed_headers: &[httparse::Header<'_>],
    ) -> Result<Request, HandshakeError> {
        let mut text = String::with_capacity(
            method.len()
                + target.len()
                + parsed_headers
                    .iter()
                    .map(|h| h.name.len() + h.value.len())
                    .sum::<usize>(),
        );
        // Offsets are u32: a head that long is refused long before (the
        // head size limit), but a limit set that high must not wrap them.
        let offset = |text: &String| {
            u32::try_from(text.len()).map_err(|_| HandshakeError::HeadTooLarge {
                max_size: u32::MAX as usize,
            })
        };
        text.push_str(method);
        let method_end = offset(&text)?;
        text.push_str(target);
        let target_end = offset(&text)?;
        let mut headers = Vec::with_capacity(parsed_headers.len());
        for header in parsed_headers {
            let value = std::str::from_utf8(header.value).map_err(|_| {
                HandshakeError::Invalid(format!("value of header {} is not UTF-8", header.name))
            })?;
            text.push_str(header.name);
            let name_end = offset(&text)?;
            text.push_str(trim_blanks(value));
            headers.push((name_end, offset(&text)?));
        }
        Ok(Request {
            text,
            method_end,
            target_end,
            headers,
            http_minor_version,
            peer_addr: None,
        })
    }
}

/// Parses an HTTP request head from the start of `buf`.
///
/// - `Ok(None)`: the head is not complete yet; read more bytes and call again
///   with all of them.
/// - `Ok(Some((request, head_len)))`: the head took `head_len` bytes; the
///   bytes after it already belong to the WebSocket stream.
/// - [`HandshakeError::HeadTooLarge`]: the head is longer than
///   `max_head_size` bytes, or is still incomplete with more than that many
///   bytes buffered.
/// - [`HandshakeError::TooManyHeaders`]: more than `max_headers` header lines.
/// - [`HandshakeError::Invalid`]: malformed HTTP, or a header value that is
///   not UTF-8.
///
/// Only the first `max_head_size` bytes are ever looked at.
pub fn parse_request(
    buf: &[u8],
    max_head_size: usize,
    max_headers: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let window = head_window(buf, max_head_size);
    let mut slots = header_slots(window.len(), max_headers);
    let mut parsed = httparse::Request::new(&mut slots);
    let status = parsed.parse(window);
    let Some(head_len) = completed(status, buf.len(), max_head_size, max_headers)? else {
        return Ok(None);
    };
    let (Some(method), Some(target), Some(http_minor_version)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HandshakeError::Invalid("incomplete request line".into()));
    };
    let request = Request::from_parsed(method, target, http_minor_version, parsed.headers)?;
    Ok(Some((request, head_len)))
}

/// The part of `buf` a head may occupy. Parsing no further bounds the work
/// done on a flood of bytes, and a head that is incomplete within it while
/// more bytes are buffered is known to be too large.
fn head_window(buf: &[u8], max_head_size: usize) -> &[u8] {
    &buf[..buf.len().min(max_head_size)]
}

/// The header array handed to httparse: `max_headers` entries, but never
/// more than the window could hold (a header line takes at least 3 bytes,
/// `a:\n`), so a huge limit allocates nothing huge and a smaller array can
/// never be the reason httparse reports too many headers.
fn header_slots(window_len: usize, max_headers: usize) -> Vec<httparse::Header<'static>> {
    vec![httparse::EMPTY_HEADER; max_headers.min(window_len / 3 + 1)]
}

/// Turns httparse's answer into the head length, `None` for "need more".
fn completed(
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

/// Copies httparse's headers out of the buffer, refusing values that are
/// not UTF-8 (names are tokens, always ASCII).
fn owned_headers(
    headers: &[httparse::Header<'_>],
) -> Result<Vec<(String, String)>, HandshakeError> {
    headers
        .iter()
        .map(|header| {
            let value = std::str::from_utf8(header.value).map_err(|_| {
                HandshakeError::Invalid(format!("value of header {} is not UTF-8", header.name))
            })?;
            Ok((header.name.to_owned(), trim_blanks(value).to_owned()))
        })
        .collect()
}

/// Trims spaces and tabs, the optional whitespace around HTTP values.
fn trim_blanks(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// Headers to look up by name: a parsed request's, or a list of pairs.
trait HeaderList {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl HeaderList for Request {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers()
    }
}

impl HeaderList for Vec<(String, String)> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// The values of every header with this name, case-insensitively, in order.
fn header_values<'a>(headers: &'a impl HeaderList, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .pairs()
        .filter(move |(header_name, _)| header_name.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The comma-separated tokens of every header with this name, trimmed,
/// empty ones left out (HTTP lists may be split over repeated headers).
fn header_tokens<'a>(headers: &'a impl HeaderList, name: &str) -> impl Iterator<Item = &'a str> {
    header_values(headers, name)
        .flat_map(|value| value.split(','))
        .map(trim_blanks)
        .filter(|token| !token.is_empty())
}

/// Does a header list with this name contain this token (ASCII
/// case-insensitive)?
fn has_token(headers: &impl HeaderList, name: &str, token: &str) -> bool {
    header_tokens(headers, name).any(|found| found.eq_ignore_ascii_case(token))
}

/// Is this byte allowed in an HTTP header name (a `tchar`, RFC 9110 §5.6.2)?
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Writes `name: value\r\n`. A name that is not a token is left out and
/// control characters in a value become spaces: otherwise a CR LF in a
/// caller's value would inject headers of its choosing (response splitting).
fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.bytes().map(|byte| {
        if byte.is_ascii_control() && byte != b'\t' {
            b' '
        } else {
            byte
        }
    }));
    out.extend_from_slice(b"\r\n");
}

/// Is this byte sent as it is in a request target? Spaces, controls and
/// non-ASCII bytes would break the request line; the others left out are
/// not allowed in a URI (RFC 3986) and `#` would start a fragment.
fn is_request_target_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"\"#<>\\^`{|}".contains(&byte)
}

/// The request target to send for a resource: `"/"` for an empty one, and
/// every byte that may not appear in a request line percent-encoded
/// (`"/a b"` becomes `"/a%20b"`, `"é"` becomes `"%C3%A9"`). Existing
/// `%XX` escapes are kept, so encoding twice changes nothing.
pub(crate) fn encode_request_target(resource: &str) -> Cow<'_, str> {
    if resource.is_empty() {
        return Cow::Borrowed("/");
    }
    if resource.bytes().all(is_request_target_byte) {
        return Cow::Borrowed(resource);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(resource.len() + 16);
    for byte in resource.bytes() {
        if is_request_target_byte(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    Cow::Owned(encoded)
}

/// A plain HTTP response: a refusal of the handshake, or a plain page.
///
/// ```
/// use syncws::protocol::handshake::Response;
///
/// let response = Response::new(404).with_body("text/plain", "no such room");
/// assert_eq!(
///     response.to_bytes(),
///     b"HTTP/1.1 404 Not Found\r\n\
///       Content-Type: text/plain\r\n\
///       Content-Length: 12\r\n\
///       Connection: close\r\n\
///       \r\n\
///       no such room"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 404.
    pub status: u16,
    /// The headers, in order. `Content-Length`, `Transfer-Encoding` and
    /// (except for 101) `Connection` are written by [`Response::to_bytes`]
    /// and left out from here.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (after those already there).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body and its `Content-Type` (replacing any earlier one).
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("Content-Type"));
        self.headers
            .push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = body.into();
        self
    }

    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(&self.headers, name).next()
    }

    /// The bytes to send: the status line with its reason phrase, the
    /// headers, a `Content-Length` computed from the body, `Connection:
    /// close` unless the status is 101, a blank line and the body.
    ///
    /// A 1xx, 204 or 304 response has no body (RFC 9110 §6.4.1), so for
    /// those neither `Content-Length` nor the body is written. Headers whose
    /// name is not an HTTP token are left out, and control characters in
    /// values are sent as spaces, so that no value can inject a header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let has_body = !matches!(self.status, 100..=199 | 204 | 304);
        let is_upgrade = self.status == 101;
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status,
                reason_phrase(self.status)
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            // The framing is ours to write: a caller's Content-Length or
            // Transfer-Encoding could contradict the body actually sent, and
            // the connection is closed after any answer but a 101.
            let is_framing = name.eq_ignore_ascii_case("Content-Length")
                || name.eq_ignore_ascii_case("Transfer-Encoding")
                || (!is_upgrade && name.eq_ignore_ascii_case("Connection"));
            if !is_framing {
                write_header(&mut out, name, value);
            }
        }
        if has_body {
            write_header(&mut out, "Content-Length", &self.body.len().to_string());
        }
        if !is_upgrade {
            write_header(&mut out, "Connection", "close");
        }
        out.extend_from_slice(b"\r\n");
        if has_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The standard reason phrase of a status code (RFC 9110 §15), `"Unknown"`
/// for codes it does not define.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// A refusal with a short plain-text body saying why.
fn refusal(status: u16, why: &str) -> Response {
    Response::new(status).with_body(PLAIN_TEXT, why)
}

/// Server side: checks that `request` is a WebSocket upgrade that RFC 6455
/// §4.2.1 allows, and returns its `Sec-WebSocket-Key`, or the refusal to
/// send (with a plain-text body saying why):
///
/// | request                                   | refusal                          |
/// |-------------------------------------------|----------------------------------|
/// | method other than `GET`                   | 405, `Allow: GET`                |
/// | HTTP version other than 1.1               | 400                              |
/// | no `Host`, an empty one, or two           | 400                              |
/// | `Upgrade` without the token `websocket`   | 400                              |
/// | `Connection` without the token `upgrade`  | 400                              |
/// | no `Sec-WebSocket-Version`, or two        | 400, `Sec-WebSocket-Version: 13` |
/// | `Sec-WebSocket-Version` other than `13`   | 426, `Sec-WebSocket-Version: 13` |
/// | `Sec-WebSocket-Key` missing, repeated, or not 16 bytes in base64 | 400       |
///
/// ```
/// use syncws::protocol::handshake::{check_upgrade, parse_request};
///
/// let bytes = b"POST /chat HTTP/1.1\r\nHost: example.com\r\n\r\n";
/// let (request, _) = parse_request(bytes, 16 << 10, 64)?.expect("a whole head");
/// let refusal = check_upgrade(&request).unwrap_err();
/// assert_eq!(refusal.status, 405);
/// assert_eq!(refusal.header("Allow"), Some("GET"));
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
pub fn check_upgrade(request: &Request) -> Result<String, Response> {
    let headers = request;

    // RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
    // version MUST be at least 1.1."
    if request.method() != "GET" {
        return Err(refusal(405, "a WebSocket is opened with GET").with_header("Allow", "GET"));
    }
    // httparse knows HTTP/1.0 and HTTP/1.1 only; 1.0 has no Upgrade.
    if request.http_minor_version != 1 {
        return Err(refusal(400, "a WebSocket needs HTTP/1.1"));
    }

    // §4.1: "The request MUST contain a |Host| header field"; RFC 9112
    // §3.2: a server MUST answer 400 to a request with more than one.
    match header_values(headers, "Host").collect::<Vec<_>>()[..] {
        [] => return Err(refusal(400, "missing Host")),
        [""] => return Err(refusal(400, "empty Host")),
        [_] => {}
        _ => return Err(refusal(400, "repeated Host")),
    }

    // §4.1: "The request MUST contain an |Upgrade| header field whose value
    // MUST include the "websocket" keyword."
    if !has_token(headers, "Upgrade", "websocket") {
        return Err(refusal(400, "missing Upgrade: websocket"));
    }
    // §4.1: "The request MUST contain a |Connection| header field whose
    // value MUST include the "Upgrade" token." Browsers may send it among
    // others ("keep-alive, Upgrade").
    if !has_token(headers, "Connection", "upgrade") {
        return Err(refusal(400, "missing Connection: Upgrade"));
    }

    // §4.2.2: if the version "does not match a version understood by the
    // server, the server MUST abort the WebSocket handshake ... and instead
    // send an appropriate HTTP error code (such as 426 Upgrade Required) and
    // a |Sec-WebSocket-Version| header field indicating the version(s) the
    // server is capable of understanding."
    match header_values(headers, "Sec-WebSocket-Version").collect::<Vec<_>>()[..] {
        [] => {
            return Err(refusal(400, "missing Sec-WebSocket-Version")
                .with_header("Sec-WebSocket-Version", VERSION));
        }
        [version] if version == VERSION => {}
        [_] => {
            // RFC 9110 §15.5.22: a 426 "MUST send an Upgrade header field".
            return Err(refusal(426, "unsupported Sec-WebSocket-Version (only 13)")
                .with_header("Upgrade", "websocket")
                .with_header("Sec-WebSocket-Version", VERSION));
        }
        _ => {
            return Err(refusal(400, "repeated Sec-WebSocket-Version")
                .with_header("Sec-WebSocket-Version", VERSION));
        }
    }

    // §4.2.1: "A |Sec-WebSocket-Key| header field with a base64-encoded ...
    // value that, when decoded, is 16 bytes in length." §11.3.1: it "MUST
    // NOT appear more than once in an HTTP request."
    match header_values(headers, "Sec-WebSocket-Key").collect::<Vec<_>>()[..] {
        [] => Err(refusal(400, "missing Sec-WebSocket-Key")),
        [key] if BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16) => Ok(key.to_owned()),
        [_] => Err(refusal(400, "Sec-WebSocket-Key is not 16 bytes in base64")),
        _ => Err(refusal(400, "repeated Sec-WebSocket-Key")),
    }
}

/// Server side: the `101 Switching Protocols` answer for a key returned by
/// [`check_upgrade`], with `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` if `protocol` is given,
/// then `extra_headers` (e.g. `Set-Cookie`).
///
/// It never answers extensions: this crate implements none, and an
/// extension agreed to would let the peer set RSV bits (RFC 6455 §5.2). So
/// `Sec-WebSocket-Extensions` in `extra_headers` is left out, and so are
/// extra headers repeating one the answer already has.
///
/// ```
/// use syncws::protocol::handshake::accept_response;
///
/// let answer = accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), &[]);
/// assert_eq!(
///     answer,
///     b"HTTP/1.1 101 Switching Protocols\r\n\
///       Upgrade: websocket\r\n\
///       Connection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///       Sec-WebSocket-Protocol: chat\r\n\
///       \r\n"
/// );
/// ```
pub fn accept_response(
    key: &str,
    protocol: Option<&str>,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    encode_accept_response(
        key,
        protocol,
        extra_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
}

/// [`accept_response`], with the extra headers from any iterator, written
/// straight into one buffer: this runs for every connection, and a
/// `Response` would cost two allocations per header.
pub(crate) fn encode_accept_response<'a>(
    key: &str,
    protocol: Option<&str>,
    extra_headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut accept = [0u8; ACCEPT_KEY_LEN];
    let accept = encode_accept_key(key.as_bytes(), &mut accept);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    let own = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ];
    for (name, value) in own {
        write_header(&mut out, name, value);
    }
    if let Some(protocol) = protocol {
        write_header(&mut out, "Sec-WebSocket-Protocol", protocol);
    }
    for (name, value) in extra_headers {
        let repeats_own = own.iter().any(|(own, _)| own.eq_ignore_ascii_case(name))
            || (protocol.is_some() && name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"));
        // A 101 has no body, so no framing headers either (as for any
        // `Response`), and it never answers extensions.
        let left_out = repeats_own
            || name.eq_ignore_ascii_case("Sec-WebSocket-Extensions")
            || name.eq_ignore_ascii_case("Content-Length")
            || name.eq_ignore_ascii_case("Transfer-Encoding");
        if !left_out {
            write_header(&mut out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Client side: the opening handshake request to send.
///
/// ```
/// use syncws::protocol::handshake::ClientRequest;
///
/// let mut request = ClientRequest::new("example.com:8080", "/chat?x=1");
/// request.protocols.push("chat".into());
/// let bytes = String::from_utf8(request.to_bytes()).unwrap();
/// assert!(bytes.starts_with("GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
/// assert!(bytes.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
/// assert!(bytes.ends_with("\r\n\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The value of the `Host` header, e.g. `"example.com:8080"` or
    /// `"[::1]:9001"`.
    pub host: String,
    /// The path and query, e.g. `"/chat?x=1"` (`"/"` if empty).
    pub resource: String,
    /// The `Sec-WebSocket-Key`, from [`generate_key`].
    pub key: String,
    /// The subprotocols offered, in order of preference.
    pub protocols: Vec<String>,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// Extra headers, sent after the handshake's own.
    pub headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for this host and resource, with a fresh key.
    pub fn new(host: impl Into<String>, resource: impl Into<String>) -> Self {
        let resource = resource.into();
        ClientRequest {
            host: host.into(),
            resource: if resource.is_empty() {
                "/".to_owned()
            } else {
                resource
            },
            key: generate_key(),
            protocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
        }
    }

    /// The bytes to send: `GET {resource} HTTP/1.1`, `Host`, `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Protocol` (the offers
    /// joined by `", "`) if any, `Origin` if any, then the extra headers.
    ///
    /// Bytes of the resource that may not appear in a request line (spaces,
    /// controls, non-ASCII) are percent-encoded. Extra headers that repeat
    /// one the request already has, or offer extensions (this crate has
    /// none), are left out; names that are not HTTP tokens are left out and
    /// control characters in values sent as spaces, so that no value can
    /// inject a header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut own_headers: Vec<(&str, &str)> = vec![
            ("Host", &self.host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", &self.key),
            ("Sec-WebSocket-Version", VERSION),
        ];
        let offered = self.protocols.join(", ");
        if !self.protocols.is_empty() {
            own_headers.push(("Sec-WebSocket-Protocol", &offered));
        }
        if let Some(origin) = &self.origin {
            own_headers.push(("Origin", origin));
        }

        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(encode_request_target(&self.resource).as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &own_headers {
            write_header(&mut out, name, value);
        }
        for (name, value) in &self.headers {
            let repeats_own = own_headers
                .iter()
                .any(|(own, _)| own.eq_ignore_ascii_case(name));
            if !repeats_own && !name.eq_ignore_ascii_case("Sec-WebSocket-Extensions") {
                write_header(&mut out, name, value);
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// A parsed HTTP response head: the server's answer to a [`ClientRequest`].
///
/// ```
/// use syncws::protocol::handshake::parse_response;
///
/// let bytes = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope";
/// let (head, head_len) = parse_response(bytes, 16 << 10, 64)?.expect("a whole head");
/// assert_eq!(head.status, 403);
/// assert_eq!(head.content_length(), Some(4));
/// assert_eq!(&bytes[head_len..], b"nope");
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The headers, in order, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_values(&self.headers, name).next()
    }

    /// The `Content-Length`, if present and a valid number.
    pub fn content_length(&self) -> Option<usize> {
        let value = self.header("Content-Length")?;
        if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        value.parse().ok()
    }
}

/// Parses an HTTP response head from the start of `buf`; the results and
/// limits are those of [`parse_request`].
pub fn parse_response(
    buf: &[u8],
    max_head_size: usize,
    max_headers: usize,
) -> Result<Option<(ResponseHead, usize)>, HandshakeError> {
    let window = head_window(buf, max_head_size);
    let mut slots = header_slots(window.len(), max_headers);
    let mut parsed = httparse::Response::new(&mut slots);
    let status = parsed.parse(window);
    let Some(head_len) = completed(status, buf.len(), max_head_size, max_headers)? else {
        return Ok(None);
    };
    let Some(status) = parsed.code else {
        return Err(HandshakeError::Invalid("incomplete status line".into()));
    };
    let head = ResponseHead {
        status,
        headers: owned_headers(parsed.headers)?,
    };
    Ok(Some((head, head_len)))
}

/// Client side: checks the server's answer against the request sent, and
/// returns the subprotocol the server chose, if any.
///
/// - A status other than 101 gives [`HandshakeError::Refused`] with the
///   status and headers; its `body` is left empty for the caller, who reads
///   the body, to fill in.
/// - An answer breaking RFC 6455 §4.1 gives [`HandshakeError::Invalid`]:
///   no `Upgrade: websocket`, no `Connection: Upgrade`, a missing, repeated
///   or wrong `Sec-WebSocket-Accept`, or any `Sec-WebSocket-Extensions`.
/// - A `Sec-WebSocket-Protocol` that was not offered (or repeated) gives
///   [`HandshakeError::Subprotocol`].
///
/// The server may choose no subprotocol even when some were offered
/// (`Ok(None)`); whether that is acceptable is the caller's decision.
pub fn check_response(
    head: &ResponseHead,
    request: &ClientRequest,
) -> Result<Option<String>, HandshakeError> {
    let headers = &head.headers;

    // §4.1: "If the status code received from the server is not 101, the
    // client handles the response per HTTP procedures."
    if head.status != 101 {
        return Err(HandshakeError::Refused {
            status: head.status,
            headers: head.headers.clone(),
            body: Vec::new(),
        });
    }

    // §4.1: "If the response lacks an |Upgrade| header field or the
    // |Upgrade| header field contains a value that is not an ASCII
    // case-insensitive match for the value "websocket", the client MUST
    // _Fail the WebSocket Connection_."
    if !has_token(headers, "Upgrade", "websocket") {
        return Err(HandshakeError::Invalid(
            "the answer lacks Upgrade: websocket".into(),
        ));
    }
    // §4.1: "If the response lacks a |Connection| header field or the
    // |Connection| header field doesn't contain a token that is an ASCII
    // case-insensitive match for the value "Upgrade", the client MUST _Fail
    // the WebSocket Connection_."
    if !has_token(headers, "Connection", "upgrade") {
        return Err(HandshakeError::Invalid(
            "the answer lacks Connection: Upgrade".into(),
        ));
    }

    // §4.1: "If the response lacks a |Sec-WebSocket-Accept| header field or
    // the |Sec-WebSocket-Accept| contains a value other than the
    // base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key|
    // ... with the string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but
    // ignoring any leading and trailing whitespace, the client MUST _Fail
    // the WebSocket Connection_." §11.3.3: it "MUST NOT appear more than
    // once in an HTTP response."
    match header_values(headers, "Sec-WebSocket-Accept").collect::<Vec<_>>()[..] {
        [] => {
            return Err(HandshakeError::Invalid(
                "the answer lacks Sec-WebSocket-Accept".into(),
            ));
        }
        [accept] if accept == accept_key(request.key.as_bytes()) => {}
        [_] => {
            return Err(HandshakeError::Invalid("wrong Sec-WebSocket-Accept".into()));
        }
        _ => {
            return Err(HandshakeError::Invalid(
                "repeated Sec-WebSocket-Accept".into(),
            ));
        }
    }

    // §4.1: "If the response includes a |Sec-WebSocket-Extensions| header
    // field and this header field indicates the use of an extension that
    // was not present in the client's handshake ..., the client MUST _Fail
    // the WebSocket Connection_." This client offers none.
    if header_values(headers, "Sec-WebSocket-Extensions")
        .next()
        .is_some()
    {
        return Err(HandshakeError::Invalid(
            "the answer names an extension, none was offered".into(),
        ));
    }

    // §4.1: "If the response includes a |Sec-WebSocket-Protocol| header
    // field and this header field indicates the use of a subprotocol that
    // was not present in the client's handshake ..., the client MUST _Fail
    // the WebSocket Connection_." The server selects one (§4.2.2).
    match header_values(headers, "Sec-WebSocket-Protocol").collect::<Vec<_>>()[..] {
        [] => Ok(None),
        [chosen] if request.protocols.iter().any(|offered| offered == chosen) => {
            Ok(Some(chosen.to_owned()))
        }
        [chosen] => Err(HandshakeError::Subprotocol(Some(chosen.to_owned()))),
        ref several => Err(HandshakeError::Subprotocol(Some(several.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_HEAD: usize = 16 << 10;
    const MAX_HEADERS: usize = 64;

    /// The client handshake of RFC 6455 §1.2.
    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    /// The server handshake of RFC 6455 §1.2.
    const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        \r\n";

    fn request(bytes: &[u8]) -> Request {
        match parse_request(bytes, MAX_HEAD, MAX_HEADERS) {
            Ok(Some((request, head_len))) => {
                assert_eq!(head_len, bytes.len());
                request
            }
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn response_head(bytes: &[u8]) -> ResponseHead {
        match parse_response(bytes, MAX_HEAD, MAX_HEADERS) {
            Ok(Some((head, head_len))) => {
                assert_eq!(head_len, bytes.len());
                head
            }
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    /// A valid upgrade request with `line` put in place of the header line
    /// that starts like it (or added, if none does); `None` removes it.
    fn upgrade_with(replace: &str, line: Option<&str>) -> Vec<u8> {
        let mut lines = vec![
            "GET /chat HTTP/1.1",
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ];
        match lines.iter().position(|l| l.starts_with(replace)) {
            Some(at) => match line {
                Some(line) => lines[at] = line,
                None => {
                    lines.remove(at);
                }
            },
            None => lines.extend(line),
        }
        format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_16_random_bytes_in_base64() {
        let keys: Vec<String> = (0..8).map(|_| generate_key()).collect();
        for key in &keys {
            assert_eq!(key.len(), 24);
            assert_eq!(BASE64.decode(key).unwrap().len(), 16);
        }
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "key {key} repeated");
        }
        let fallback = BASE64.encode(fallback_nonce());
        assert_ne!(fallback, BASE64.encode(fallback_nonce()));
    }

    #[test]
    fn rfc_example_request_is_parsed_and_accepted() {
        let mut parsed = request(RFC_REQUEST);
        assert_eq!(parsed.method(), "GET");
        assert_eq!(parsed.target(), "/chat");
        assert_eq!(parsed.path(), "/chat");
        assert_eq!(parsed.query(), None);
        assert_eq!(parsed.header("HOST"), Some("server.example.com"));
        assert_eq!(
            parsed.header("sec-websocket-key"),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
        assert_eq!(parsed.header("Cookie"), None);
        assert_eq!(parsed.origin(), Some("http://example.com"));
        assert_eq!(parsed.protocols(), ["chat", "superchat"]);
        assert_eq!(parsed.headers().count(), 7);
        assert_eq!(parsed.headers().nth(1), Some(("Upgrade", "websocket")));
        assert_eq!(parsed.peer_addr(), None);
        let peer: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        parsed.set_peer_addr(peer);
        assert_eq!(parsed.peer_addr(), Some(peer));

        let key = check_upgrade(&parsed).unwrap();
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept_response(&key, Some("chat"), &[]), RFC_RESPONSE);
    }

    #[test]
    fn target_is_split_into_path_and_query() {
        for (target, path, query) in [
            ("/", "/", None),
            ("/chat?room=1", "/chat", Some("room=1")),
            ("/chat?", "/chat", Some("")),
            ("/a?b?c", "/a", Some("b?c")),
            ("*", "*", None),
        ] {
            let parsed = request(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes());
            assert_eq!(parsed.target(), target);
            assert_eq!((parsed.path(), parsed.query()), (path, query), "{target}");
        }
    }

    #[test]
    fn cookies_are_found_by_name_across_cookie_headers() {
        let parsed = request(
            b"GET / HTTP/1.1\r\nCookie: a=1; session=x=y;  theme = dark \r\nCookie: b=2\r\n\r\n",
        );
        for (name, value) in [
            ("a", Some("1")),
            ("session", Some("x=y")),
            ("theme", Some("dark")),
            ("b", Some("2")),
            ("A", None),
            ("c", None),
        ] {
            assert_eq!(parsed.cookie(name), value, "{name}");
        }
    }

    #[test]
    fn protocols_are_gathered_from_repeated_headers() {
        let parsed = request(
            b"GET / HTTP/1.1\r\n\
              Sec-WebSocket-Protocol: a, b\r\n\
              X-Other: c\r\n\
              sec-websocket-protocol: c,,d ,\t e\r\n\
              Sec-WebSocket-Protocol:\r\n\r\n",
        );
        assert_eq!(parsed.protocols(), ["a", "b", "c", "d", "e"]);
        assert!(request(b"GET / HTTP/1.1\r\n\r\n").protocols().is_empty());
    }

    #[test]
    fn valid_upgrades_are_accepted() {
        for request_bytes in [
            upgrade_with("Connection", Some("Connection: keep-alive, Upgrade")),
            upgrade_with(
                "Connection",
                Some("connection: keep-alive\r\nConnection: upgrade"),
            ),
            upgrade_with("Upgrade", Some("Upgrade: WebSocket")),
            upgrade_with("Upgrade", Some("Upgrade: h2c, websocket")),
            upgrade_with(
                "Sec-WebSocket-Key",
                Some("sec-websocket-key:   AAAAAAAAAAAAAAAAAAAAAA==  "),
            ),
            upgrade_with("Host", Some("Host: [::1]:9001")),
        ] {
            let parsed = request(&request_bytes);
            assert!(
                check_upgrade(&parsed).is_ok(),
                "{:?}",
                String::from_utf8_lossy(&request_bytes)
            );
        }
    }

    /// A request with one header line replaced (see [`upgrade_with`]), and
    /// the refusal expected: status, body, and a header it must carry.
    type RefusalCase = (
        &'static str,
        Option<&'static str>,
        u16,
        &'static str,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn invalid_upgrades_are_refused_with_the_right_status() {
        // (header to replace, replacement, status, body, header the refusal carries)
        let cases: &[RefusalCase] = &[
            (
                "GET",
                Some("POST /chat HTTP/1.1"),
                405,
                "a WebSocket is opened with GET",
                Some(("Allow", "GET")),
            ),
            (
                "GET",
                Some("get /chat HTTP/1.1"),
                405,
                "a WebSocket is opened with GET",
                Some(("Allow", "GET")),
            ),
            (
                "GET",
                Some("GET /chat HTTP/1.0"),
                400,
                "a WebSocket needs HTTP/1.1",
                None,
            ),
            ("Host", None, 400, "missing Host", None),
            ("Host", Some("Host:"), 400, "empty Host", None),
            (
                "Host",
                Some("Host: a\r\nHost: b"),
                400,
                "repeated Host",
                None,
            ),
            ("Upgrade", None, 400, "missing Upgrade: websocket", None),
            (
                "Upgrade",
                Some("Upgrade: h2c"),
                400,
                "missing Upgrade: websocket",
                None,
            ),
            (
                "Upgrade",
                Some("Upgrade: websockets"),
                400,
                "missing Upgrade: websocket",
                None,
            ),
            ("Connection", None, 400, "missing Connection: Upgrade", None),
            (
                "Connection",
                Some("Connection: keep-alive"),
                400,
                "missing Connection: Upgrade",
                None,
            ),
            (
                "Connection",
                Some("Connection: upgraded"),
                400,
                "missing Connection: Upgrade",
                None,
            ),
            (
                "Sec-WebSocket-Version",
                None,
                400,
                "missing Sec-WebSocket-Version",
                Some(("Sec-WebSocket-Version", "13")),
            ),
            (
                "Sec-WebSocket-Version",
                Some("Sec-WebSocket-Version: 8"),
                426,
                "unsupported Sec-WebSocket-Version (only 13)",
                Some(("Sec-WebSocket-Version", "13")),
            ),
            (
                "Sec-WebSocket-Version",
                Some("Sec-WebSocket-Version: 13, 8"),
                426,
                "unsupported Sec-WebSocket-Version (only 13)",
                Some(("Upgrade", "websocket")),
            ),
            (
                "Sec-WebSocket-Version",
                Some("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13"),
                400,
                "repeated Sec-WebSocket-Version",
                Some(("Sec-WebSocket-Version", "13")),
            ),
            (
                "Sec-WebSocket-Key",
                None,
                400,
                "missing Sec-WebSocket-Key",
                None,
            ),
            (
                "Sec-WebSocket-Key",
                Some("Sec-WebSocket-Key:"),
                400,
                "Sec-WebSocket-Key is not 16 bytes in base64",
                None,
            ),
            (
                "Sec-WebSocket-Key",
                Some("Sec-WebSocket-Key: c2hvcnQ="),
                400,
                "Sec-WebSocket-Key is not 16 bytes in base64",
                None,
            ),
            (
                "Sec-WebSocket-Key",
                Some("Sec-WebSocket-Key: not base64 at all!!!!!!"),
                400,
                "Sec-WebSocket-Key is not 16 bytes in base64",
                None,
            ),
            (
                "Sec-WebSocket-Key",
                Some("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA"),
                400,
                "Sec-WebSocket-Key is not 16 bytes in base64",
                None,
            ),
            (
                "Sec-WebSocket-Key",
                Some(
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                ),
                400,
                "repeated Sec-WebSocket-Key",
                None,
            ),
        ];
        for &(replace, line, status, body, carried) in cases {
            let request_bytes = upgrade_with(replace, line);
            let parsed = request(&request_bytes);
            let refusal = check_upgrade(&parsed).unwrap_err();
            let shown = String::from_utf8_lossy(&request_bytes);
            assert_eq!(refusal.status, status, "{shown}");
            assert_eq!(refusal.body, body.as_bytes(), "{shown}");
            assert_eq!(refusal.header("Content-Type"), Some(PLAIN_TEXT));
            if let Some((name, value)) = carried {
                assert_eq!(refusal.header(name), Some(value), "{shown}");
            }
            let sent = refusal.to_bytes();
            let (head, head_len) = parse_response(&sent, MAX_HEAD, MAX_HEADERS)
                .unwrap()
                .unwrap();
            assert_eq!(head.status, status);
            assert_eq!(head.content_length(), Some(body.len()));
            assert_eq!(head.header("Connection"), Some("close"));
            assert_eq!(&sent[head_len..], body.as_bytes());
        }
    }

    #[test]
    fn a_request_split_anywhere_is_complete_only_at_its_end() {
        let mut stream = RFC_REQUEST.to_vec();
        // A first frame that came in the same read: not part of the head.
        stream.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o']);
        for end in 0..RFC_REQUEST.len() {
            assert!(
                matches!(
                    parse_request(&stream[..end], MAX_HEAD, MAX_HEADERS),
                    Ok(None)
                ),
                "prefix of {end} bytes"
            );
        }
        for end in RFC_REQUEST.len()..=stream.len() {
            let (parsed, head_len) = parse_request(&stream[..end], MAX_HEAD, MAX_HEADERS)
                .unwrap()
                .unwrap();
            assert_eq!(head_len, RFC_REQUEST.len());
            assert_eq!(parsed.header("Sec-WebSocket-Version"), Some("13"));
        }
    }

    #[test]
    fn a_response_split_anywhere_is_complete_only_at_its_end() {
        let mut stream = RFC_RESPONSE.to_vec();
        stream.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        for end in 0..RFC_RESPONSE.len() {
            assert!(
                matches!(
                    parse_response(&stream[..end], MAX_HEAD, MAX_HEADERS),
                    Ok(None)
                ),
                "prefix of {end} bytes"
            );
        }
        let (head, head_len) = parse_response(&stream, MAX_HEAD, MAX_HEADERS)
            .unwrap()
            .unwrap();
        assert_eq!(head_len, RFC_RESPONSE.len());
        assert_eq!(head.status, 101);
    }

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
        assert_eq!(parsed.headers().count(), 1000);
    }

    #[test]
    fn malformed_heads_are_invalid() {
        let requests: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-Latin1: caf\xe9\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            b"\x00\x01\x02\x03\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ];
        for bytes in requests {
            assert!(
                matches!(
                    parse_request(bytes, MAX_HEAD, MAX_HEADERS),
                    Err(HandshakeError::Invalid(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let responses: &[&[u8]] = &[
            b"HTTP/1.1 abc Nope\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nX: \xc3\x28\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ];
        for bytes in responses {
            assert!(
                matches!(
                    parse_response(bytes, MAX_HEAD, MAX_HEADERS),
                    Err(HandshakeError::Invalid(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
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

    #[test]
    fn responses_are_written_with_their_framing() {
        let cases: Vec<(Response, &[u8])> = vec![
            (
                Response::new(404).with_body("text/plain", "gone"),
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone",
            ),
            (
                Response::new(200),
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
            (
                // The caller's framing headers give way to the real ones.
                Response::new(200)
                    .with_header("Content-Length", "99")
                    .with_header("Transfer-Encoding", "chunked")
                    .with_header("Connection", "keep-alive")
                    .with_header("X-Kept", "yes")
                    .with_body("text/html", "<p>")
                    .with_body("text/plain", "hi"),
                b"HTTP/1.1 200 OK\r\nX-Kept: yes\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            ),
            (
                // No content for 204 and 304, whatever the body.
                Response::new(204).with_body("text/plain", "ignored"),
                b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
            ),
            (
                Response::new(304),
                b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
            ),
            (
                Response::new(101).with_header("Connection", "Upgrade"),
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
            ),
            (
                // No header injection through values; no invalid names.
                Response::new(599)
                    .with_header("X-Evil", "a\r\nSet-Cookie: stolen=1")
                    .with_header("Bad Name", "x")
                    .with_header("", "x")
                    .with_header("X-Tab", "a\tb"),
                b"HTTP/1.1 599 Unknown\r\nX-Evil: a  Set-Cookie: stolen=1\r\nX-Tab: a\tb\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        ];
        for (response, bytes) in cases {
            assert_eq!(
                String::from_utf8_lossy(&response.to_bytes()),
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            Response::new(200).with_header("A", "1").header("a"),
            Some("1")
        );
    }

    #[test]
    fn reason_phrases() {
        for (status, phrase) in [
            (101, "Switching Protocols"),
            (200, "OK"),
            (400, "Bad Request"),
            (405, "Method Not Allowed"),
            (426, "Upgrade Required"),
            (503, "Service Unavailable"),
            (0, "Unknown"),
            (299, "Unknown"),
        ] {
            assert_eq!(reason_phrase(status), phrase);
        }
    }

    #[test]
    fn accept_response_never_repeats_its_own_headers_nor_answers_extensions() {
        let extras = [
            ("Set-Cookie".to_owned(), "id=1".to_owned()),
            ("sec-websocket-accept".to_owned(), "forged".to_owned()),
            (
                "Sec-WebSocket-Extensions".to_owned(),
                "permessage-deflate".to_owned(),
            ),
            ("Sec-WebSocket-Protocol".to_owned(), "other".to_owned()),
        ];
        let answer = accept_response("dGhlIHNhbXBsZSBub25jZQ==", None, &extras);
        let head = response_head(&answer);
        assert_eq!(head.status, 101);
        assert_eq!(
            head.headers,
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Set-Cookie", "id=1"),
                ("Sec-WebSocket-Protocol", "other"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
    }

    #[test]
    fn client_request_round_trips_through_the_server_checks() {
        let mut client = ClientRequest::new("[::1]:9001", "/chat?x=1");
        client.protocols = vec!["v2.chat".into(), "v1.chat".into()];
        client.origin = Some("https://example.com".into());
        client.headers = vec![
            ("Authorization".into(), "Bearer t".into()),
            ("Cookie".into(), "a=1".into()),
            ("Host".into(), "forged".into()),
            (
                "Sec-WebSocket-Extensions".into(),
                "permessage-deflate".into(),
            ),
        ];
        let sent = client.to_bytes();
        let parsed = request(&sent);
        assert_eq!(parsed.target(), "/chat?x=1");
        assert_eq!(parsed.header("Host"), Some("[::1]:9001"));
        assert_eq!(parsed.origin(), Some("https://example.com"));
        assert_eq!(parsed.protocols(), ["v2.chat", "v1.chat"]);
        assert_eq!(parsed.header("Authorization"), Some("Bearer t"));
        assert_eq!(parsed.cookie("a"), Some("1"));
        assert_eq!(parsed.header("Sec-WebSocket-Extensions"), None);
        let key = check_upgrade(&parsed).unwrap();
        assert_eq!(key, client.key);

        let answer = accept_response(&key, Some("v1.chat"), &[]);
        let head = response_head(&answer);
        assert_eq!(
            check_response(&head, &client).unwrap(),
            Some("v1.chat".to_owned())
        );
    }

    #[test]
    fn client_request_bytes_are_exact() {
        let mut client = ClientRequest::new("example.com", "");
        client.key = "dGhlIHNhbXBsZSBub25jZQ==".into();
        assert_eq!(client.resource, "/");
        assert_eq!(
            String::from_utf8(client.to_bytes()).unwrap(),
            "GET / HTTP/1.1\r\n\
             Host: example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             \r\n"
        );
    }

    #[test]
    fn client_resource_is_percent_encoded_where_needed() {
        for (resource, target) in [
            ("", "/"),
            ("/chat?x=1&y=%20", "/chat?x=1&y=%20"),
            ("/a b", "/a%20b"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/x\r\nHost: evil", "/x%0D%0AHost:%20evil"),
            ("/{\"#\"}", "/%7B%22%23%22%7D"),
        ] {
            let mut client = ClientRequest::new("h", resource);
            assert_eq!(encode_request_target(resource), target);
            assert_eq!(
                encode_request_target(target),
                target,
                "encoding is idempotent"
            );
            client.resource = resource.to_owned();
            assert_eq!(request(&client.to_bytes()).target(), target);
        }
    }

    #[test]
    fn response_heads_are_parsed() {
        let head = response_head(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\ncontent-length:  12 \r\n\r\n",
        );
        assert_eq!(head.status, 403);
        assert_eq!(head.header("CONTENT-TYPE"), Some("text/plain"));
        assert_eq!(head.content_length(), Some(12));
        for (value, length) in [
            ("0", Some(0)),
            ("+5", None),
            ("-1", None),
            ("x", None),
            ("", None),
            ("99999999999999999999999", None),
        ] {
            let bytes = format!("HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                response_head(bytes.as_bytes()).content_length(),
                length,
                "{value:?}"
            );
        }
        assert_eq!(
            response_head(b"HTTP/1.0 200 OK\r\n\r\n").content_length(),
            None
        );
    }

    #[test]
    fn check_response_accepts_the_rfc_answer() {
        let mut client = ClientRequest::new("server.example.com", "/chat");
        client.key = "dGhlIHNhbXBsZSBub25jZQ==".into();
        client.protocols = vec!["chat".into(), "superchat".into()];
        let head = response_head(RFC_RESPONSE);
        assert_eq!(
            check_response(&head, &client).unwrap(),
            Some("chat".to_owned())
        );
        // Case and lists are tolerated where RFC 6455 allows them.
        let head = response_head(
            b"HTTP/1.1 101 Switching Protocols\r\n\
              upgrade: WebSocket\r\n\
              connection: keep-alive, upgrade\r\n\
              sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n",
        );
        assert_eq!(check_response(&head, &client).unwrap(), None);
    }

    #[test]
    fn check_response_failures() {
        let mut client = ClientRequest::new("server.example.com", "/chat");
        client.key = "dGhlIHNhbXBsZSBub25jZQ==".into();
        client.protocols = vec!["chat".into()];
        let good = "HTTP/1.1 101 Switching Protocols\r\n\
                    Upgrade: websocket\r\n\
                    Connection: Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let without = |name: &str| -> String {
            good.split("\r\n")
                .filter(|line| !line.starts_with(name))
                .collect::<Vec<_>>()
                .join("\r\n")
        };

        // (answer head, what check_response must say)
        type Expect = fn(&HandshakeError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            ("HTTP/1.1 403 Forbidden\r\nX-Why: no\r\n".into(), |e| {
                matches!(e, HandshakeError::Refused { status: 403, headers, body }
                    if headers == &[("X-Why".to_owned(), "no".to_owned())] && body.is_empty())
            }),
            ("HTTP/1.1 200 OK\r\n".into(), |e| {
                matches!(e, HandshakeError::Refused { status: 200, .. })
            }),
            (
                without("Upgrade"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("Upgrade")),
            ),
            (
                good.replace("Upgrade: websocket", "Upgrade: h2c"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("Upgrade")),
            ),
            (
                without("Connection"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("Connection")),
            ),
            (
                good.replace("Connection: Upgrade", "Connection: close"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("Connection")),
            ),
            (
                without("Sec-WebSocket-Accept"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("lacks Sec-WebSocket-Accept")),
            ),
            (
                good.replace(
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                    "S3PPLMBITXAQ9KYGZZHZRBK+XOO=",
                ),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("wrong")),
            ),
            (
                format!("{good}Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("repeated")),
            ),
            (
                format!("{good}Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                |e| matches!(e, HandshakeError::Invalid(why) if why.contains("extension")),
            ),
            (
                format!("{good}Sec-WebSocket-Protocol: superchat\r\n"),
                |e| matches!(e, HandshakeError::Subprotocol(Some(p)) if p == "superchat"),
            ),
            (
                format!("{good}Sec-WebSocket-Protocol: Chat\r\n"),
                |e| matches!(e, HandshakeError::Subprotocol(Some(p)) if p == "Chat"),
            ),
            (
                format!("{good}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                |e| matches!(e, HandshakeError::Subprotocol(Some(p)) if p == "chat, chat"),
            ),
        ];
        for (answer, expected) in cases {
            let head = response_head(format!("{answer}\r\n").as_bytes());
            let error = check_response(&head, &client).unwrap_err();
            assert!(expected(&error), "{answer:?} gave {error:?}");
        }

        // A subprotocol when none was offered.
        client.protocols.clear();
        let head = response_head(format!("{good}Sec-WebSocket-Protocol: chat\r\n\r\n").as_bytes());
        assert!(matches!(
            check_response(&head, &client),
            Err(HandshakeError::Subprotocol(Some(p))) if p == "chat"
        ));
        // The same answer for another key.
        client.key = generate_key();
        let head = response_head(format!("{good}\r\n").as_bytes());
        assert!(matches!(
            check_response(&head, &client),
            Err(HandshakeError::Invalid(_))
        ));
    }
}

//! The request a client opens a WebSocket with, as the server parses it.

use std::fmt;
use std::net::SocketAddr;

use super::error::HandshakeError;
use super::headers::{Headers, offset};
use super::parse::{completed, head_window, header_slots};
use crate::protocol::address::Address;

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
    /// The headers, with the method and the target in front of them (their
    /// [`Headers::prefix`]): the whole head in one allocation.
    headers: Headers,
    /// Where the method ends and the target begins in that prefix.
    method_end: u32,
    /// The minor version of HTTP/1.x: 1 for HTTP/1.1.
    pub(super) http_minor_version: u8,
    peer: Option<Address>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("http_minor_version", &self.http_minor_version)
            .field("headers", &self.headers)
            .field("peer", &self.peer)
            .finish()
    }
}

impl Request {
    /// The method, e.g. `"GET"`.
    pub fn method(&self) -> &str {
        &self.headers.prefix()[..self.method_end as usize]
    }

    /// The request target as sent, e.g. `"/chat?room=1"`, or
    /// `"http://example.com/chat?room=1"` in absolute-form.
    pub fn target(&self) -> &str {
        &self.headers.prefix()[self.method_end as usize..]
    }

    /// The target's path: up to its `?`, e.g. `"/chat"`. Of a target in
    /// absolute-form (`http://example.com/chat?room=1`, which RFC 9112
    /// §3.2.2 says "a server MUST accept"; the schemes `http`, `https`,
    /// `ws` and `wss`), the path after the authority: `"/chat"`, and `"/"`
    /// if there is none (`http://example.com?room=1`).
    pub fn path(&self) -> &str {
        match self.target_form() {
            // RFC 9112 §3.2.1: "If the target URI's path component is
            // empty, the client MUST send "/" as the path".
            TargetForm::Absolute { path_and_query, .. } => match before_query(path_and_query) {
                "" => "/",
                path => path,
            },
            TargetForm::Origin | TargetForm::Other => before_query(self.target()),
        }
    }

    /// The target after its first `?`, e.g. `Some("room=1")`; `None` if it
    /// has no `?`. Of a target in absolute-form, the query of its URI.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query()
            .split_once('?')
            .map(|(_, query)| query)
    }

    /// The target's form (RFC 9112 §3.2).
    pub(super) fn target_form(&self) -> TargetForm<'_> {
        TargetForm::of(self.target())
    }

    /// The target without the scheme and authority of an absolute-form one.
    fn path_and_query(&self) -> &str {
        match self.target_form() {
            TargetForm::Absolute { path_and_query, .. } => path_and_query,
            TargetForm::Origin | TargetForm::Other => self.target(),
        }
    }

    /// The value of the first header with this name (compared without
    /// regard to ASCII case), trimmed of surrounding blanks. A value whose
    /// bytes were not UTF-8 (RFC 9110 §5.5 allows bytes 0x80 to 0xFF,
    /// obs-text) is read as ISO-8859-1: `caf\xE9` is `"café"` (see
    /// [`Headers`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// All headers, in the order they were sent, values trimmed.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The IP address and port of the peer, when the server filled it in;
    /// `None` for a peer on a Unix domain socket (see
    /// [`peer_address`](Self::peer_address)).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.as_ref().and_then(Address::socket_addr)
    }

    /// The address of the peer, TCP or Unix, when the server filled it in.
    pub fn peer_address(&self) -> Option<&Address> {
        self.peer.as_ref()
    }

    /// Records the address of the peer. Only the server does: a handler
    /// must be able to trust [`peer_addr`](Self::peer_addr).
    pub(crate) fn set_peer(&mut self, addr: Address) {
        self.peer = Some(addr);
    }

    /// The subprotocols the client offered: the comma-separated tokens of
    /// every `Sec-WebSocket-Protocol` header, trimmed, in order of preference.
    pub fn protocols(&self) -> Vec<String> {
        self.headers
            .tokens("Sec-WebSocket-Protocol")
            .map(str::to_owned)
            .collect()
    }

    /// True if the request asks for a WebSocket (its `Upgrade` header
    /// names `websocket`), whether or not the rest of it is valid: the
    /// server routes it as an upgrade and [`check_upgrade`](super::check_upgrade) judges it.
    pub fn is_upgrade(&self) -> bool {
        self.headers.has_token("Upgrade", "websocket")
    }

    /// The `Origin` header, sent by browsers (RFC 6455 §10.2: servers may
    /// use it to refuse connections from pages they do not trust). The
    /// first, if there are several: a browser sends at most one (RFC 6454
    /// §7.3), and [`check_upgrade`](super::check_upgrade) refuses an
    /// upgrade with more.
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin")
    }

    /// The value of the first cookie with this name (case-sensitive) in the
    /// `Cookie` headers (`"a=1; b=2"`), as sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all("Cookie")
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(cookie_name, _)| cookie_name.trim() == name)
            .map(|(_, value)| value.trim())
    }

    /// A request another HTTP loop has read, from its parts: method,
    /// target and headers in the order they came (an HTTP/1.1 request),
    /// for [`ServerHandle::upgrade`](crate::ServerHandle::upgrade). They
    /// are checked as the server checks a head it reads itself: a name or
    /// value that HTTP does not allow is an error, never a different
    /// request.
    ///
    /// ```
    /// use syncws::server::Request;
    ///
    /// let request = Request::from_parts(
    ///     "GET",
    ///     "/chat?room=1",
    ///     [("Host", "example.com"), ("Upgrade", "websocket")],
    /// )?;
    /// assert_eq!(request.path(), "/chat");
    /// assert!(request.is_upgrade());
    /// assert!(Request::from_parts("GET", "/", [("X", "a\r\nInjected: 1")]).is_err());
    /// # Ok::<(), syncws::HandshakeError>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::Invalid`] for a method, target, name or value
    /// that cannot be part of a request head.
    pub fn from_parts<'a>(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Request, HandshakeError> {
        let line_breaks = |part: &str| part.bytes().any(|b| b == b'\r' || b == b'\n');
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        let mut count = 0;
        for (name, value) in headers {
            if line_breaks(name) || line_breaks(value) {
                return Err(HandshakeError::Invalid(format!(
                    "a line break in the header {name:?}"
                )));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
            count += 1;
        }
        head.push_str("\r\n");
        if line_breaks(method) || line_breaks(target) {
            return Err(HandshakeError::Invalid(
                "a line break in the request line".into(),
            ));
        }
        match parse_request(head.as_bytes(), head.len(), count + 1)? {
            Some((request, len)) if len == head.len() => Ok(request),
            _ => Err(HandshakeError::Invalid("not one request head".into())),
        }
    }

    /// The request line's method and target and the headers httparse
    /// found, copied into one string.
    fn from_parsed(
        method: &str,
        target: &str,
        http_minor_version: u8,
        parsed_headers: &[httparse::Header<'_>],
    ) -> Result<Request, HandshakeError> {
        Ok(Request {
            headers: Headers::parsed(&[method, target], parsed_headers)?,
            method_end: offset(method.len())?,
            http_minor_version,
            peer: None,
        })
    }
}

/// A path and query up to the `?`: the path.
fn before_query(path_and_query: &str) -> &str {
    path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path)
}

/// The schemes of an absolute-form target a WebSocket is opened with:
/// RFC 6455 §4.1 allows "an absolute http/https URI", and `ws` and `wss`
/// are the WebSocket URI's own (§3).
const ABSOLUTE_SCHEMES: [&str; 4] = ["http", "https", "ws", "wss"];

/// The form of a request target (RFC 9112 §3.2), as far as a WebSocket
/// server tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetForm<'a> {
    /// origin-form, a path and maybe a query: `/chat?room=1`.
    Origin,
    /// absolute-form with one of [`ABSOLUTE_SCHEMES`]
    /// (`http://example.com:80/chat?room=1`): its authority (here
    /// `example.com:80`) and what follows it (`/chat?room=1`), either
    /// possibly empty.
    Absolute {
        authority: &'a str,
        path_and_query: &'a str,
    },
    /// Anything else: `*` (asterisk-form, for a server-wide OPTIONS),
    /// `example.com:443` (authority-form, for CONNECT), another scheme.
    Other,
}

impl<'a> TargetForm<'a> {
    /// The form of `target`.
    fn of(target: &'a str) -> TargetForm<'a> {
        if target.starts_with('/') {
            return TargetForm::Origin;
        }
        let Some((scheme, rest)) = target.split_once("://") else {
            return TargetForm::Other;
        };
        if !ABSOLUTE_SCHEMES
            .iter()
            .any(|known| known.eq_ignore_ascii_case(scheme))
        {
            return TargetForm::Other;
        }
        // RFC 3986 §3.2: the authority "is terminated by the next slash
        // ("/"), question mark ("?"), or number sign ("#") character, or by
        // the end of the URI". A request target has no fragment (RFC 9112
        // §3.2), so a `#` is left in the authority, where it is no host's.
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        TargetForm::Absolute {
            authority,
            path_and_query,
        }
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
/// - [`HandshakeError::Invalid`]: malformed HTTP (a header value need not
///   be UTF-8: one that is not is read as ISO-8859-1, see [`Headers`]).
///
/// Only the first `max_head_size` bytes are ever looked at.
///
/// ```
/// use syncws::protocol::handshake::parse_request;
///
/// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n\x81";
/// // Not all there yet: nothing is consumed, call again with more.
/// assert!(parse_request(&bytes[..20], 16 << 10, 64)?.is_none());
/// let (request, head_len) = parse_request(bytes, 16 << 10, 64)?.expect("a whole head");
/// assert_eq!(request.target(), "/chat");
/// assert_eq!(&bytes[head_len..], b"\x81");
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
///
/// # Errors
/// As listed above: [`HandshakeError::HeadTooLarge`],
/// [`HandshakeError::TooManyHeaders`] and [`HandshakeError::Invalid`].
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::fixtures::*;

    #[test]
    fn target_is_split_into_path_and_query() {
        for (target, path, query) in [
            ("/", "/", None),
            ("/chat?room=1", "/chat", Some("room=1")),
            ("/chat?", "/chat", Some("")),
            ("/a?b?c", "/a", Some("b?c")),
            ("*", "*", None),
            // absolute-form: the path and query of the URI.
            ("http://h/chat?room=1", "/chat", Some("room=1")),
            ("HTTPS://h:443/a/b", "/a/b", None),
            ("ws://[::1]:9001/a?b?c", "/a", Some("b?c")),
            ("wss://h", "/", None),
            ("http://h?x=1", "/", Some("x=1")),
            ("http://h/?", "/", Some("")),
            ("http:///chat", "/chat", None),
            // Other forms are taken as they are.
            ("ftp://h/chat", "ftp://h/chat", None),
            ("h:443", "h:443", None),
            ("chat?x", "chat", Some("x")),
        ] {
            let parsed = request(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes());
            assert_eq!(parsed.target(), target);
            assert_eq!((parsed.path(), parsed.query()), (path, query), "{target}");
        }
    }

    #[test]
    fn targets_are_told_apart_by_form() {
        let absolute = |authority, path_and_query| TargetForm::Absolute {
            authority,
            path_and_query,
        };
        for (target, form) in [
            ("/", TargetForm::Origin),
            ("/chat?http://h/", TargetForm::Origin),
            ("http://h/chat?x", absolute("h", "/chat?x")),
            ("Ws://user@h:80?x", absolute("user@h:80", "?x")),
            ("wss://h", absolute("h", "")),
            ("https://", absolute("", "")),
            ("http://h#frag/chat", absolute("h#frag", "/chat")),
            ("*", TargetForm::Other),
            ("h:443", TargetForm::Other),
            ("ftp://h/chat", TargetForm::Other),
            ("httpx://h/chat", TargetForm::Other),
            ("http:/chat", TargetForm::Other),
            ("chat", TargetForm::Other),
        ] {
            assert_eq!(TargetForm::of(target), form, "{target}");
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
}

//! The client's side of the handshake: the request to send, the server's
//! answer parsed, and the checks of RFC 6455 §4.1 on it.

use std::borrow::Cow;

use super::VERSION;
use super::error::HandshakeError;
use super::headers::{Headers, write_header};
use super::key::{accept_key, generate_key};
use super::parse::{completed, head_window, header_slots};

/// Client side: the opening handshake request to send.
///
/// Its fields are public to read and change; it is made with
/// [`ClientRequest::new`], which draws a fresh key.
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
#[non_exhaustive]
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
    /// The `Sec-WebSocket-Extensions` offer, if any (e.g. a
    /// [`DeflateOffer`](crate::protocol::extension::permessage_deflate::DeflateOffer)
    /// formatted).
    pub extensions: Option<String>,
    /// Extra headers, sent after the handshake's own.
    pub headers: Headers,
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
            extensions: None,
            headers: Headers::new(),
        }
    }

    /// The bytes to send: `GET {resource} HTTP/1.1`, `Host`, `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version: 13`, `Sec-WebSocket-Protocol` (the offers
    /// joined by `", "`) if any, `Origin` if any, `Sec-WebSocket-Extensions`
    /// if any, then the extra headers.
    ///
    /// Bytes of the resource that may not appear in a request line (spaces,
    /// controls, non-ASCII) are percent-encoded. Extra headers that repeat
    /// one the request already has, or offer extensions (only `extensions`
    /// does, for code that handles what the server agrees to), are left
    /// out; names that are not HTTP tokens are left out and
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
        if let Some(extensions) = &self.extensions {
            own_headers.push(("Sec-WebSocket-Extensions", extensions));
        }

        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(encode_request_target(&self.resource).as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &own_headers {
            write_header(&mut out, name, value);
        }
        for (name, value) in self.headers.iter() {
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

/// A parsed HTTP response head: the server's answer to a [`ClientRequest`].
///
/// Its fields are public to read and change; [`parse_response`] makes one
/// from a server's bytes, [`ResponseHead::new`] an empty one.
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
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The headers, in order, values trimmed.
    pub headers: Headers,
}

impl ResponseHead {
    /// A head with this status and no headers (one to test against, say:
    /// [`parse_response`] makes those read from a server).
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            headers: Headers::new(),
        }
    }

    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
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
/// limits are those of [`parse_request`](super::parse_request).
///
/// ```
/// use syncws::protocol::handshake::parse_response;
///
/// let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
/// assert!(parse_response(&bytes[..30], 16 << 10, 64)?.is_none());
/// let (head, head_len) = parse_response(bytes, 16 << 10, 64)?.expect("a whole head");
/// assert_eq!((head.status, head_len), (101, bytes.len()));
/// assert_eq!(head.header("upgrade"), Some("websocket"));
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`]
/// and [`HandshakeError::Invalid`], as for `parse_request`.
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
        headers: Headers::parsed(&[], parsed.headers)?,
    };
    Ok(Some((head, head_len)))
}

/// Client side: checks the server's answer against the request sent, and
/// returns the subprotocol the server chose, if any.
///
/// The server may choose no subprotocol even when some were offered
/// (`Ok(None)`); whether that is acceptable is the caller's decision.
///
/// ```
/// use syncws::HandshakeError;
/// use syncws::protocol::handshake::{ClientRequest, check_response, parse_response};
///
/// let request = ClientRequest::new("example.com", "/chat");
/// let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
/// let (head, _) = parse_response(answer, 16 << 10, 64)?.expect("a whole head");
/// match check_response(&head, &request) {
///     Err(HandshakeError::Refused { status, headers, .. }) => {
///         assert_eq!(status, 403);
///         assert_eq!(headers.get("Content-Length"), Some("0"));
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), syncws::HandshakeError>(())
/// ```
///
/// # Errors
/// - A status other than 101 gives [`HandshakeError::Refused`] with the
///   status and headers; its `body` is left empty for the caller, who reads
///   the body, to fill in.
/// - An answer breaking RFC 6455 §4.1 gives [`HandshakeError::Invalid`]:
///   no `Upgrade: websocket`, no `Connection: Upgrade`, a missing, repeated
///   or wrong `Sec-WebSocket-Accept`, or any `Sec-WebSocket-Extensions`
///   when the request offered none. (When it offered some, the caller
///   checks the answer: for permessage-deflate with
///   [`permessage_deflate::check_response`](crate::protocol::extension::permessage_deflate::check_response).)
/// - A `Sec-WebSocket-Protocol` that was not offered (or repeated) gives
///   [`HandshakeError::Subprotocol`].
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
    if !headers.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::Invalid(
            "the answer lacks Upgrade: websocket".into(),
        ));
    }
    // §4.1: "If the response lacks a |Connection| header field or the
    // |Connection| header field doesn't contain a token that is an ASCII
    // case-insensitive match for the value "Upgrade", the client MUST _Fail
    // the WebSocket Connection_."
    if !headers.has_token("Connection", "upgrade") {
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
    match headers.get_all("Sec-WebSocket-Accept").collect::<Vec<_>>()[..] {
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
    // the WebSocket Connection_." With an offer, its code judges the answer.
    if request.extensions.is_none() && headers.get_all("Sec-WebSocket-Extensions").next().is_some()
    {
        return Err(HandshakeError::Invalid(
            "the answer names an extension, none was offered".into(),
        ));
    }

    // §4.1: "If the response includes a |Sec-WebSocket-Protocol| header
    // field and this header field indicates the use of a subprotocol that
    // was not present in the client's handshake ..., the client MUST _Fail
    // the WebSocket Connection_." The server selects one (§4.2.2).
    match headers
        .get_all("Sec-WebSocket-Protocol")
        .collect::<Vec<_>>()[..]
    {
        [] => Ok(None),
        [chosen] if request.protocols.iter().any(|offered| offered == chosen) => {
            Ok(Some(chosen.to_owned()))
        }
        [chosen] => Err(HandshakeError::Subprotocol(chosen.to_owned())),
        ref several => Err(HandshakeError::Subprotocol(several.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::fixtures::*;
    use crate::protocol::handshake::{accept_response, check_upgrade};

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
    fn client_request_round_trips_through_the_server_checks() {
        let mut client = ClientRequest::new("[::1]:9001", "/chat?x=1");
        client.protocols = vec!["v2.chat".into(), "v1.chat".into()];
        client.origin = Some("https://example.com".into());
        client.headers = [
            ("Authorization", "Bearer t"),
            ("Cookie", "a=1"),
            ("Host", "forged"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ]
        .into_iter()
        .collect();
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

        let answer = accept_response(&key, Some("v1.chat"), &Headers::new());
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
    fn a_head_built_by_hand_is_checked_like_a_parsed_one() {
        let mut client = ClientRequest::new("server.example.com", "/chat");
        client.key = "dGhlIHNhbXBsZSBub25jZQ==".into();
        let mut head = ResponseHead::new(101);
        assert!(head.headers.is_empty());
        head.headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ]
        .into_iter()
        .collect();
        assert_eq!(check_response(&head, &client), Ok(None));
        head.status = 404;
        assert!(matches!(
            check_response(&head, &client),
            Err(HandshakeError::Refused { status: 404, .. })
        ));
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
                    if headers.iter().eq([("X-Why", "no")]) && body.is_empty())
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
                |e| matches!(e, HandshakeError::Subprotocol(p) if p == "superchat"),
            ),
            (
                format!("{good}Sec-WebSocket-Protocol: Chat\r\n"),
                |e| matches!(e, HandshakeError::Subprotocol(p) if p == "Chat"),
            ),
            (
                format!("{good}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                |e| matches!(e, HandshakeError::Subprotocol(p) if p == "chat, chat"),
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
            Err(HandshakeError::Subprotocol(p)) if p == "chat"
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

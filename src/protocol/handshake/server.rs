//! The server's side of the handshake: the checks of RFC 6455 §4.2.1 and
//! the `101 Switching Protocols` answer (§4.2.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::VERSION;
use super::headers::{Headers, write_header};
use super::key::{ACCEPT_KEY_LEN, encode_accept_key};
use super::request::{Request, TargetForm};
use super::response::Response;

/// Server side: checks that `request` is a WebSocket upgrade that RFC 6455
/// §4.2.1 allows, and returns its `Sec-WebSocket-Key`.
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
///
/// # Errors
/// The refusal to send, with a plain-text body saying why
/// ([`Response::text`]):
///
/// | request                                                          | refusal                          |
/// |------------------------------------------------------------------|----------------------------------|
/// | method other than `GET`                                          | 405, `Allow: GET`                |
/// | HTTP version other than 1.1                                      | 400                              |
/// | a target neither a path (`/chat`) nor an absolute `http`, `https`, `ws` or `wss` URI: `*`, `example.com:443`, `ftp://example.com/chat` | 400 |
/// | a path, and no `Host`, an empty one, two, or one with a byte no host has (a blank, a control, one past ASCII, `@`) | 400 |
/// | an absolute URI whose authority is empty or has a byte no host has (userinfo's `@` too); its `Host` headers are not looked at | 400 |
/// | `Upgrade` without the token `websocket`                          | 400                              |
/// | `Connection` without the token `upgrade`                         | 400                              |
/// | a body: any `Transfer-Encoding`; a `Content-Length` other than `0`, malformed or repeated | 400      |
/// | two `Origin` headers or more, whatever origins a route allows    | 400                              |
/// | no `Sec-WebSocket-Version`, or two                               | 400, `Sec-WebSocket-Version: 13` |
/// | `Sec-WebSocket-Version` other than `13`                          | 426, `Sec-WebSocket-Version: 13` |
/// | `Sec-WebSocket-Key` missing, repeated, or not 16 bytes in base64 | 400                              |
pub fn check_upgrade(request: &Request) -> Result<String, Response> {
    let headers = request.headers();

    // RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
    // version MUST be at least 1.1."
    if request.method() != "GET" {
        return Err(
            Response::text(405, "a WebSocket is opened with GET").with_header("Allow", "GET")
        );
    }
    // httparse knows HTTP/1.0 and HTTP/1.1 only; 1.0 has no Upgrade.
    if request.http_minor_version != 1 {
        return Err(Response::text(400, "a WebSocket needs HTTP/1.1"));
    }

    check_target_and_host(request)?;

    // §4.1: "The request MUST contain an |Upgrade| header field whose value
    // MUST include the "websocket" keyword."
    if !headers.has_token("Upgrade", "websocket") {
        return Err(Response::text(400, "missing Upgrade: websocket"));
    }
    // §4.1: "The request MUST contain a |Connection| header field whose
    // value MUST include the "Upgrade" token." Browsers may send it among
    // others ("keep-alive, Upgrade").
    if !headers.has_token("Connection", "upgrade") {
        return Err(Response::text(400, "missing Connection: Upgrade"));
    }

    refuse_a_body(headers)?;

    // RFC 6454 §7.3: "The user agent MUST NOT include more than one Origin
    // header field in any HTTP request." Two are no browser's, and an
    // allow-list that looked at one of them would let the other through.
    if headers.get_all("Origin").nth(1).is_some() {
        return Err(Response::text(400, "repeated Origin"));
    }

    // §4.2.2: if the version "does not match a version understood by the
    // server, the server MUST abort the WebSocket handshake ... and instead
    // send an appropriate HTTP error code (such as 426 Upgrade Required) and
    // a |Sec-WebSocket-Version| header field indicating the version(s) the
    // server is capable of understanding."
    match headers.get_all("Sec-WebSocket-Version").collect::<Vec<_>>()[..] {
        [] => {
            return Err(Response::text(400, "missing Sec-WebSocket-Version")
                .with_header("Sec-WebSocket-Version", VERSION));
        }
        [version] if version == VERSION => {}
        [_] => {
            // RFC 9110 §15.5.22: a 426 "MUST send an Upgrade header field".
            return Err(
                Response::text(426, "unsupported Sec-WebSocket-Version (only 13)")
                    .with_header("Upgrade", "websocket")
                    .with_header("Sec-WebSocket-Version", VERSION),
            );
        }
        _ => {
            return Err(Response::text(400, "repeated Sec-WebSocket-Version")
                .with_header("Sec-WebSocket-Version", VERSION));
        }
    }

    // §4.2.1: "A |Sec-WebSocket-Key| header field with a base64-encoded ...
    // value that, when decoded, is 16 bytes in length." §11.3.1: it "MUST
    // NOT appear more than once in an HTTP request."
    match headers.get_all("Sec-WebSocket-Key").collect::<Vec<_>>()[..] {
        [] => Err(Response::text(400, "missing Sec-WebSocket-Key")),
        [key] if BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16) => Ok(key.to_owned()),
        [_] => Err(Response::text(
            400,
            "Sec-WebSocket-Key is not 16 bytes in base64",
        )),
        _ => Err(Response::text(400, "repeated Sec-WebSocket-Key")),
    }
}

/// The target must be a path or an absolute URI, and the host it names
/// (the Host header of a path) a host.
fn check_target_and_host(request: &Request) -> Result<(), Response> {
    // RFC 6455 §4.1: the Request-URI "MUST match the /resource name/
    // defined in Section 3 (a relative URI) or be an absolute http/https
    // URI"; RFC 9112 §3.2.2: "A server MUST accept the absolute-form in
    // requests".
    let headers = request.headers();
    match request.target_form() {
        // RFC 6455 §4.1: "The request MUST contain a |Host| header field";
        // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request)
        // status code to any HTTP/1.1 request message that lacks a Host
        // header field and to any request message that contains more than
        // one Host header field line or a Host header field with an invalid
        // field value."
        TargetForm::Origin => match headers.get_all("Host").collect::<Vec<_>>()[..] {
            [] => Err(Response::text(400, "missing Host")),
            [host] => check_host(host, "Host"),
            _ => Err(Response::text(400, "repeated Host")),
        },
        // RFC 9112 §3.3: "If the request-target is in absolute-form, the
        // target URI is the same as the request-target", so its authority
        // is the host. RFC 2616 §5.2, the HTTP that RFC 6455 builds on:
        // "If Request-URI is an absoluteURI, the host is part of the
        // Request-URI. Any Host header field value in the request MUST be
        // ignored." (RFC 9110 §7.2 says the same of a proxy.) So it is not
        // looked at, missing, repeated or other: RFC 9112 §3.2's 400s for
        // the Host are not applied then. The authority has no userinfo:
        // RFC 9110 §4.2.4, a recipient "SHOULD parse for userinfo and treat
        // its presence as an error" (`@` is no host byte).
        TargetForm::Absolute { authority, .. } => {
            check_host(authority, "host in the request target")
        }
        TargetForm::Other => Err(Response::text(
            400,
            "the request target is neither a path nor an absolute http, https, ws or wss URI",
        )),
    }
}

/// An upgrade must have no body.
fn refuse_a_body(headers: &Headers) -> Result<(), Response> {
    // RFC 9110 §9.3.1: "content received in a GET request has no
    // generally defined semantics, cannot alter the meaning or target of
    // the request, and might lead some implementations to reject the
    // request and close the connection because of its potential as a
    // request smuggling attack". Here the bytes after the head are the
    // first frames: a body would be read as frames.
    if headers.get_all("Transfer-Encoding").next().is_some() {
        return Err(Response::text(
            400,
            "a WebSocket upgrade has no body (Transfer-Encoding)",
        ));
    }
    // RFC 9112 §6.3: with an invalid Content-Length "the server MUST
    // respond with a 400 (Bad Request) status code and then close the
    // connection"; a list of equal values is one it may refuse (RFC 9110
    // §8.6), and it does.
    match headers.get_all("Content-Length").collect::<Vec<_>>()[..] {
        [] => Ok(()),
        [length] if is_decimal(length) && length.bytes().all(|digit| digit == b'0') => Ok(()),
        [length] if is_decimal(length) => Err(Response::text(
            400,
            "a WebSocket upgrade has no body (Content-Length other than 0)",
        )),
        [_] => Err(Response::text(400, "malformed Content-Length")),
        _ => Err(Response::text(400, "repeated Content-Length")),
    }
}

/// Checks the host a request names (`what` says where, for the refusal):
/// neither empty nor with a byte no host has.
fn check_host(host: &str, what: &str) -> Result<(), Response> {
    if host.is_empty() {
        Err(Response::text(400, format!("empty {what}")))
    } else if !host.bytes().all(is_host_byte) {
        Err(Response::text(400, format!("invalid {what}")))
    } else {
        Ok(())
    }
}

/// Is this a Content-Length value, `1*DIGIT` (RFC 9110 §8.6)?
fn is_decimal(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit())
}

/// Can this byte be part of a `Host`, `uri-host [ ":" port ]` (RFC 9110
/// §7.2)? These are the bytes RFC 3986 §3.2.2 allows in a host (a name,
/// an IPv4 address or a bracketed IP literal) and the colon before a port:
/// no blank, no control, nothing past ASCII.
fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&byte)
}

/// Server side: the `101 Switching Protocols` answer for a key returned by
/// [`check_upgrade`], with `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` if `protocol` is given,
/// then `extra_headers` (e.g. `Set-Cookie`).
///
/// It answers no extension (see [`accept_response_with_extensions`]): an
/// extension agreed to lets the peer set RSV bits (RFC 6455 §5.2), which
/// only the extension's code may allow. So `Sec-WebSocket-Extensions` in
/// `extra_headers` is left out, and so are extra headers repeating one the
/// answer already has.
///
/// ```
/// use syncws::protocol::handshake::{Headers, accept_response};
///
///
/// let answer = accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), &Headers::new());
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
pub fn accept_response(key: &str, protocol: Option<&str>, extra_headers: &Headers) -> Vec<u8> {
    encode_accept_response(key, protocol, None, extra_headers.iter())
}

/// [`accept_response`] that also answers extensions: `extensions` is the
/// `Sec-WebSocket-Extensions` value agreed (as
/// [`negotiate`](crate::protocol::extension::permessage_deflate::negotiate)
/// answers it), for a driver of one's own that uses them.
///
/// ```
/// use syncws::protocol::handshake::{Headers, accept_response_with_extensions};
///
/// let answer = accept_response_with_extensions(
///     "dGhlIHNhbXBsZSBub25jZQ==",
///     None,
///     Some("permessage-deflate"),
///     &Headers::new(),
/// );
/// assert!(answer.ends_with(b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));
/// ```
pub fn accept_response_with_extensions(
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &Headers,
) -> Vec<u8> {
    encode_accept_response(key, protocol, extensions, extra_headers.iter())
}

/// [`accept_response`], with the extra headers from any iterator, written
/// straight into one buffer: this runs for every connection, and a
/// `Response` would cost two allocations per header.
pub(crate) fn encode_accept_response<'a>(
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
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
    if let Some(extensions) = extensions {
        write_header(&mut out, "Sec-WebSocket-Extensions", extensions);
    }
    for (name, value) in extra_headers {
        let repeats_own = own.iter().any(|(own, _)| own.eq_ignore_ascii_case(name))
            || (protocol.is_some() && name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"));
        // A 101 has no body, so no framing headers either (as for any
        // `Response`), and extensions are answered only as agreed.
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::protocol::handshake::fixtures::*;
    use crate::protocol::handshake::response::PLAIN_TEXT;
    use crate::protocol::handshake::{Headers, parse_response};

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

    /// [`upgrade_with`], for `target` in place of `/chat`.
    fn upgrade_for(target: &str, replace: &str, line: Option<&str>) -> Vec<u8> {
        let request = String::from_utf8(upgrade_with(replace, line)).unwrap();
        request
            .replacen("GET /chat ", &format!("GET {target} "), 1)
            .into_bytes()
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
        assert_eq!(parsed.headers().len(), 7);
        assert_eq!(
            parsed.headers().iter().nth(1),
            Some(("Upgrade", "websocket"))
        );
        assert_eq!(parsed.peer_addr(), None);
        let peer: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        parsed.set_peer(peer.into());
        assert_eq!(parsed.peer_addr(), Some(peer));

        let key = check_upgrade(&parsed).unwrap();
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            accept_response(&key, Some("chat"), &Headers::new()),
            RFC_RESPONSE
        );
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
            upgrade_with("Host", Some("Host: xn--caf-dma.example:80")),
            upgrade_with("Host", Some("Host: 192.0.2.1")),
            // absolute-form: the authority is the host, Host headers are
            // not looked at.
            upgrade_for(
                "http://server.example.com/chat",
                "Host",
                Some("Host: server.example.com"),
            ),
            upgrade_for("HTTP://server.example.com:80/chat?x=1", "Host", None),
            upgrade_for("wss://h/chat", "Host", Some("Host: a\r\nHost: b")),
            upgrade_for("ws://[::1]:9001", "Host", Some("Host: a b")),
            upgrade_for("https://h?x", "Host", Some("Host:")),
            // No body, said so.
            upgrade_with("Content-Length", Some("Content-Length: 0")),
            upgrade_with("Content-Length", Some("Content-Length:  00 ")),
            // One Origin, whatever it says, is the route's to judge.
            upgrade_with("Origin", Some("Origin: https://a.example")),
            upgrade_with("Origin", Some("Origin: null")),
            upgrade_with(
                "Origin",
                Some("Origin: https://a.example https://b.example"),
            ),
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

    /// What a target of another form gets.
    const NOT_A_TARGET: &str =
        "the request target is neither a path nor an absolute http, https, ws or wss URI";

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
            (
                "GET",
                Some("OPTIONS * HTTP/1.1"),
                405,
                "a WebSocket is opened with GET",
                Some(("Allow", "GET")),
            ),
            ("GET", Some("GET * HTTP/1.1"), 400, NOT_A_TARGET, None),
            (
                "GET",
                Some("GET server.example.com:443 HTTP/1.1"),
                400,
                NOT_A_TARGET,
                None,
            ),
            (
                "GET",
                Some("GET ftp://server.example.com/chat HTTP/1.1"),
                400,
                NOT_A_TARGET,
                None,
            ),
            ("GET", Some("GET chat HTTP/1.1"), 400, NOT_A_TARGET, None),
            (
                "GET",
                Some("GET http:///chat HTTP/1.1"),
                400,
                "empty host in the request target",
                None,
            ),
            (
                "GET",
                Some("GET http://user@server.example.com/chat HTTP/1.1"),
                400,
                "invalid host in the request target",
                None,
            ),
            (
                "GET",
                Some("GET ws://h#x/chat HTTP/1.1"),
                400,
                "invalid host in the request target",
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
            ("Host", Some("Host: a b"), 400, "invalid Host", None),
            ("Host", Some("Host: caf\u{e9}"), 400, "invalid Host", None),
            ("Host", Some("Host: a@b"), 400, "invalid Host", None),
            (
                "Transfer-Encoding",
                Some("Transfer-Encoding: chunked"),
                400,
                "a WebSocket upgrade has no body (Transfer-Encoding)",
                None,
            ),
            (
                "Transfer-Encoding",
                Some("Transfer-Encoding: identity\r\nContent-Length: 0"),
                400,
                "a WebSocket upgrade has no body (Transfer-Encoding)",
                None,
            ),
            (
                "Transfer-Encoding",
                Some("Transfer-Encoding:"),
                400,
                "a WebSocket upgrade has no body (Transfer-Encoding)",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: 5"),
                400,
                "a WebSocket upgrade has no body (Content-Length other than 0)",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: 18446744073709551616"),
                400,
                "a WebSocket upgrade has no body (Content-Length other than 0)",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: -0"),
                400,
                "malformed Content-Length",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: 0x0"),
                400,
                "malformed Content-Length",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length:"),
                400,
                "malformed Content-Length",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: 0, 0"),
                400,
                "malformed Content-Length",
                None,
            ),
            (
                "Content-Length",
                Some("Content-Length: 0\r\ncontent-length: 0"),
                400,
                "repeated Content-Length",
                None,
            ),
            (
                "Origin",
                Some("Origin: https://a.example\r\nOrigin: https://b.example"),
                400,
                "repeated Origin",
                None,
            ),
            (
                "Origin",
                Some("Origin: https://a.example\r\norigin: https://a.example"),
                400,
                "repeated Origin",
                None,
            ),
            (
                "Origin",
                Some("Origin:\r\nOrigin:"),
                400,
                "repeated Origin",
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
    fn accept_response_never_repeats_its_own_headers_nor_answers_extensions() {
        let extras: Headers = [
            ("Set-Cookie", "id=1"),
            ("sec-websocket-accept", "forged"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ("Sec-WebSocket-Protocol", "other"),
        ]
        .into_iter()
        .collect();
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
            .into_iter()
            .collect::<Headers>()
        );
    }
}

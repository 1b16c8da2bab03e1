//! WebSocket URLs (RFC 6455 §3): `ws://host[:port][/path][?query]` and
//! `wss://...`, parsed without a URL crate; and the Unix domain socket
//! form of Node's `ws`, `ws+unix:/path/to/socket:/resource?query`.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use crate::error::UrlError;
use crate::protocol::handshake::encode_request_target;

/// The port of `ws://` URLs that name none (RFC 6455 §3).
const WS_DEFAULT_PORT: u16 = 80;
/// The port of `wss://` URLs that name none (RFC 6455 §3).
const WSS_DEFAULT_PORT: u16 = 443;
/// The host named in the `Host` header (and, for `wss+unix:`, checked
/// against the server's certificate) over a Unix socket, whose URL names
/// none: what Python `websockets`' `unix_connect` sends too.
const UNIX_HOST: &str = "localhost";

/// A parsed `ws://` or `wss://` URL (crate-private: the tests below show
/// it at work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// True for `wss://`: the connection runs over TLS.
    pub tls: bool,
    /// The host name or IP address, in lower case; an IPv6 address without
    /// its brackets (`"::1"`).
    pub host: String,
    /// The port: the one given, else 80 for `ws://` and 443 for `wss://`.
    pub port: u16,
    /// The path and query to request, `"/"` if the URL has no path; bytes
    /// that may not appear in a request line (spaces, non-ASCII) are
    /// percent-encoded.
    pub resource: String,
    /// For `ws+unix:` and `wss+unix:`, the Unix domain socket to connect
    /// to (then `host` is `localhost`, and `port` the scheme's default).
    pub unix_socket: Option<PathBuf>,
}

impl WsUrl {
    /// Parses a WebSocket URL.
    ///
    /// The scheme is `ws` or `wss` in any case (else
    /// [`UrlError::UnsupportedScheme`]). A URL with user information
    /// (`user@host`), a fragment (`#...`), a control character, an IPv6
    /// address outside brackets or a host with characters a host name cannot
    /// have is [`UrlError::Malformed`]; an empty host is
    /// [`UrlError::MissingHost`]; a port that is not a number from 1 to 65535
    /// is [`UrlError::InvalidPort`]. Blanks around the URL are ignored.
    ///
    /// Whether `wss://` can be used (the TLS feature) is for the caller to
    /// check.
    pub fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let url = url.trim_matches(|c: char| c.is_ascii_whitespace());
        // A control character has no place in a URL, and one in the request
        // line would let the URL inject headers.
        if url.bytes().any(|byte| byte.is_ascii_control()) {
            return Err(UrlError::Malformed("control character in the URL".into()));
        }
        // RFC 6455 §3: "Fragment identifiers are meaningless in the context
        // of WebSocket URIs and MUST NOT be used on these URIs. As with any
        // URI scheme, the character "#", when not indicating the start of a
        // fragment, MUST be escaped as %23."
        if url.contains('#') {
            return Err(UrlError::Malformed(
                "a WebSocket URL may not have a fragment (#...)".into(),
            ));
        }
        if let Some(parsed) = parse_unix(url) {
            return parsed;
        }

        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::Malformed(
                "expected a URL starting with ws:// or wss://".into(),
            ));
        };
        if !is_scheme(scheme) {
            return Err(UrlError::Malformed(format!("invalid scheme {scheme:?}")));
        }
        let tls = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UrlError::UnsupportedScheme(scheme.to_owned()));
        };

        // The authority ends where the path or the query begins.
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(authority_len);
        // Credentials in a URL end up in logs; a WebSocket handshake has no
        // use for them (authenticate with a header instead).
        if authority.contains('@') {
            return Err(UrlError::Malformed(
                "user information (user@host) is not allowed in a WebSocket URL".into(),
            ));
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            // RFC 3986 §3.2.3: an empty port means the default one.
            None | Some("") => {
                if tls {
                    WSS_DEFAULT_PORT
                } else {
                    WS_DEFAULT_PORT
                }
            }
            Some(port) => parse_port(port)?,
        };

        // RFC 6455 §3: the resource name is "/" if the path is empty,
        // followed by "?" and the query if there is one.
        let resource = if resource.starts_with('?') {
            format!("/{resource}")
        } else {
            resource.to_owned()
        };
        let resource = encode_request_target(&resource).into_owned();
        Ok(WsUrl {
            tls,
            host,
            port,
            resource,
            unix_socket: None,
        })
    }

    /// The value of the `Host` header for this URL (RFC 6455 §4.1: the host,
    /// plus `:port` "when not using the default port"): `"example.com"`,
    /// `"example.com:8080"`, `"[::1]:9001"`.
    pub fn host_header(&self) -> String {
        // An IPv6 address is bracketed in a Host header, as in a URL.
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.tls {
            WSS_DEFAULT_PORT
        } else {
            WS_DEFAULT_PORT
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A `ws+unix:` or `wss+unix:` URL (scheme in any case), as Node's `ws`
/// spells it: the socket's absolute path, then `:` and the resource
/// (`/` if none): `ws+unix:/run/app.sock:/chat?room=1`. `ws+unix:///run/…`
/// (an empty authority) is the same URL. The path ends at the first `:`,
/// so a socket path cannot contain one. `None` for another scheme.
fn parse_unix(url: &str) -> Option<Result<WsUrl, UrlError>> {
    let (scheme, rest) = url.split_once(':')?;
    let tls = if scheme.eq_ignore_ascii_case("ws+unix") {
        false
    } else if scheme.eq_ignore_ascii_case("wss+unix") {
        true
    } else {
        return None;
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Some(Err(UrlError::Malformed(format!(
            "expected the socket's absolute path after {scheme}:, as in {scheme}:/run/app.sock:/resource"
        ))));
    }
    let (socket, resource) = rest.split_once(':').unwrap_or((rest, ""));
    let resource = match resource {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path if path.starts_with('/') => path.to_owned(),
        other => {
            return Some(Err(UrlError::Malformed(format!(
                "the resource after the socket path must start with / (got {other:?})"
            ))));
        }
    };
    Some(Ok(WsUrl {
        tls,
        host: UNIX_HOST.to_owned(),
        port: if tls {
            WSS_DEFAULT_PORT
        } else {
            WS_DEFAULT_PORT
        },
        resource: encode_request_target(&resource).into_owned(),
        unix_socket: Some(PathBuf::from(socket)),
    }))
}

/// Is this a URI scheme (RFC 3986 §3.1: a letter, then letters, digits,
/// `+`, `-` or `.`)?
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || b"+-.".contains(&byte))
}

/// Is this byte allowed in a host name (RFC 3986 §3.2.2 reg-name:
/// unreserved, sub-delims, and `%` of percent-encoding)?
fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&byte)
}

/// Splits an authority into the host (lower case, IPv6 without brackets)
/// and the text after its `:`, if any.
pub(crate) fn split_host_port(authority: &str) -> Result<(String, Option<&str>), UrlError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Err(UrlError::Malformed(
                "an IPv6 address is missing its closing ]".into(),
            ));
        };
        if address.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::Malformed(format!(
                "invalid IPv6 address {address:?}"
            )));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(UrlError::Malformed(format!(
                        "unexpected {after:?} after the IPv6 address"
                    )));
                }
            },
        };
        return Ok((address.to_ascii_lowercase(), port));
    }

    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|port| port.contains(':')) {
        return Err(UrlError::Malformed(
            "an IPv6 address must be in brackets, as in ws://[::1]:9001/".into(),
        ));
    }
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if !host.is_ascii() {
        return Err(UrlError::Malformed(format!(
            "host {host:?} is not ASCII; use its punycode (xn--) form"
        )));
    }
    if !host.bytes().all(is_host_byte) {
        return Err(UrlError::Malformed(format!("invalid host {host:?}")));
    }
    // RFC 3986 §3.2.2: "The host subcomponent is case-insensitive."
    Ok((host.to_ascii_lowercase(), port))
}

/// Parses a port: decimal digits only, 1 to 65535.
pub(crate) fn parse_port(port: &str) -> Result<u16, UrlError> {
    let invalid = || UrlError::InvalidPort(port.to_owned());
    if !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid()),
        Ok(number) => Ok(number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(tls: bool, host: &str, port: u16, resource: &str) -> WsUrl {
        WsUrl {
            tls,
            host: host.to_owned(),
            port,
            resource: resource.to_owned(),
            unix_socket: None,
        }
    }

    fn unix(tls: bool, socket: &str, resource: &str) -> WsUrl {
        WsUrl {
            tls,
            host: "localhost".to_owned(),
            port: if tls { 443 } else { 80 },
            resource: resource.to_owned(),
            unix_socket: Some(socket.into()),
        }
    }

    #[test]
    fn unix_socket_urls_are_parsed_as_node_ws_spells_them() {
        let cases = [
            ("ws+unix:/tmp/a.sock", unix(false, "/tmp/a.sock", "/")),
            ("ws+unix:/tmp/a.sock:/", unix(false, "/tmp/a.sock", "/")),
            (
                "ws+unix:/tmp/a.sock:/chat?room=1",
                unix(false, "/tmp/a.sock", "/chat?room=1"),
            ),
            (
                "ws+unix:///run/app/ws.sock:/x",
                unix(false, "/run/app/ws.sock", "/x"),
            ),
            ("WS+UNIX:/s:?q=1", unix(false, "/s", "/?q=1")),
            ("wss+unix:/s:/secure", unix(true, "/s", "/secure")),
            ("ws+unix:/s:/a b", unix(false, "/s", "/a%20b")),
        ];
        for (text, expected) in cases {
            assert_eq!(WsUrl::parse(text), Ok(expected), "{text:?}");
        }
        assert_eq!(
            WsUrl::parse("ws+unix:/s:/x").unwrap().host_header(),
            "localhost"
        );
        for text in [
            "ws+unix:",
            "ws+unix:relative.sock:/",
            "ws+unix://host/s:/x",
            "ws+unix:/s:chat",
            "ws+unix:/s:/x#frag",
        ] {
            assert!(
                matches!(WsUrl::parse(text), Err(UrlError::Malformed(_))),
                "{text:?} gave {:?}",
                WsUrl::parse(text)
            );
        }
    }

    #[test]
    fn valid_urls_are_parsed() {
        let cases = [
            ("ws://example.com", url(false, "example.com", 80, "/")),
            ("wss://example.com", url(true, "example.com", 443, "/")),
            ("ws://example.com/", url(false, "example.com", 80, "/")),
            (
                "WS://Example.COM:8080/Chat?X=1",
                url(false, "example.com", 8080, "/Chat?X=1"),
            ),
            (
                "Wss://example.com:443/a/b",
                url(true, "example.com", 443, "/a/b"),
            ),
            ("wss://example.com:80", url(true, "example.com", 80, "/")),
            (
                "ws://example.com?x=1",
                url(false, "example.com", 80, "/?x=1"),
            ),
            ("ws://example.com/?", url(false, "example.com", 80, "/?")),
            (
                "ws://example.com/a?b=c&d=/e?f",
                url(false, "example.com", 80, "/a?b=c&d=/e?f"),
            ),
            ("ws://127.0.0.1:9001", url(false, "127.0.0.1", 9001, "/")),
            ("ws://[::1]:9001/x", url(false, "::1", 9001, "/x")),
            ("wss://[::1]", url(true, "::1", 443, "/")),
            ("ws://[FE80::1]:65535/", url(false, "fe80::1", 65535, "/")),
            (
                "ws://[::ffff:192.0.2.1]/",
                url(false, "::ffff:192.0.2.1", 80, "/"),
            ),
            ("ws://localhost:1", url(false, "localhost", 1, "/")),
            ("ws://localhost:/", url(false, "localhost", 80, "/")),
            ("wss://[::1]:/", url(true, "::1", 443, "/")),
            ("ws://h:0080", url(false, "h", 80, "/")),
            (
                "ws://my_host.internal",
                url(false, "my_host.internal", 80, "/"),
            ),
            ("ws://h/a b", url(false, "h", 80, "/a%20b")),
            (
                "ws://h/caf\u{e9}?q=\u{e9}",
                url(false, "h", 80, "/caf%C3%A9?q=%C3%A9"),
            ),
            ("ws://h/%23%20", url(false, "h", 80, "/%23%20")),
            ("ws://h/@user", url(false, "h", 80, "/@user")),
            ("  ws://h/\n", url(false, "h", 80, "/")),
        ];
        for (text, expected) in cases {
            assert_eq!(WsUrl::parse(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn invalid_urls_are_refused_with_the_right_error() {
        let malformed = || UrlError::Malformed(String::new());
        let cases = [
            (
                "http://example.com",
                UrlError::UnsupportedScheme("http".into()),
            ),
            (
                "HTTPS://example.com",
                UrlError::UnsupportedScheme("HTTPS".into()),
            ),
            ("ws+tcp://x", UrlError::UnsupportedScheme("ws+tcp".into())),
            ("", malformed()),
            ("example.com", malformed()),
            ("example.com:9001/chat", malformed()),
            ("ws:/example.com", malformed()),
            ("ws:example.com", malformed()),
            ("://example.com", malformed()),
            ("1ws://example.com", malformed()),
            ("w s://example.com", malformed()),
            ("ws://", UrlError::MissingHost),
            ("wss:///chat", UrlError::MissingHost),
            ("ws://?x=1", UrlError::MissingHost),
            ("ws://:9001/", UrlError::MissingHost),
            ("ws://[]:9001/", UrlError::MissingHost),
            ("ws://h:0", UrlError::InvalidPort("0".into())),
            ("ws://h:65536/", UrlError::InvalidPort("65536".into())),
            (
                "ws://h:99999999999999999999",
                UrlError::InvalidPort("99999999999999999999".into()),
            ),
            ("ws://h:x", UrlError::InvalidPort("x".into())),
            ("ws://h:-1", UrlError::InvalidPort("-1".into())),
            ("ws://h:+80", UrlError::InvalidPort("+80".into())),
            ("ws://h: 80", UrlError::InvalidPort(" 80".into())),
            ("ws://[::1]:http", UrlError::InvalidPort("http".into())),
            ("ws://user@h/", malformed()),
            ("ws://user:secret@h:9001/", malformed()),
            ("ws://h/#frag", malformed()),
            ("ws://h#", malformed()),
            ("ws://h/?a=1#b", malformed()),
            ("ws://[::1/x", malformed()),
            ("ws://[zz::1]:1", malformed()),
            ("ws://[fe80::1%25eth0]/", malformed()),
            ("ws://[::1]x", malformed()),
            ("ws://[::1]9001", malformed()),
            ("ws://::1/", malformed()),
            ("ws://h:80:90/", malformed()),
            ("ws://ex ample.com/", malformed()),
            ("ws://ex\u{e4}mple.com/", malformed()),
            ("ws://h<script>/", malformed()),
            ("ws://h/a\r\nX-Injected: 1", malformed()),
            ("ws://h/\u{7f}", malformed()),
        ];
        for (text, expected) in cases {
            let error = WsUrl::parse(text).unwrap_err();
            match expected {
                // The explanation is free text: only the kind is checked.
                UrlError::Malformed(_) => {
                    assert!(
                        matches!(error, UrlError::Malformed(_)),
                        "{text:?} gave {error:?}"
                    )
                }
                expected => assert_eq!(error, expected, "{text:?}"),
            }
        }
    }

    #[test]
    fn host_header_names_the_port_only_when_not_the_default() {
        for (text, host_header) in [
            ("ws://example.com", "example.com"),
            ("ws://example.com:80/x", "example.com"),
            ("ws://example.com:443/x", "example.com:443"),
            ("wss://example.com:443/x", "example.com"),
            ("wss://example.com:80/x", "example.com:80"),
            ("ws://Example.com:8080", "example.com:8080"),
            ("ws://[::1]:9001/x", "[::1]:9001"),
            ("ws://[::1]", "[::1]"),
            ("wss://[2001:db8::1]:443", "[2001:db8::1]"),
            ("ws://127.0.0.1:9001", "127.0.0.1:9001"),
        ] {
            assert_eq!(
                WsUrl::parse(text).unwrap().host_header(),
                host_header,
                "{text}"
            );
        }
    }

    #[test]
    fn resource_is_sent_as_the_request_target() {
        use crate::protocol::handshake::{ClientRequest, parse_request};

        for text in [
            "ws://h",
            "ws://h/a b?c=d e",
            "wss://[::1]:9/caf\u{e9}",
            "ws://h?x",
        ] {
            let url = WsUrl::parse(text).unwrap();
            let request = ClientRequest::new(url.host_header(), url.resource.clone());
            let (parsed, _) = parse_request(&request.to_bytes(), 4096, 16)
                .unwrap()
                .unwrap();
            assert_eq!(parsed.target(), url.resource, "{text}");
            assert_eq!(parsed.header("Host"), Some(url.host_header().as_str()));
        }
    }
}

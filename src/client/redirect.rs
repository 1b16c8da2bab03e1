//! Following a server's redirects (301, 302, 303, 307, 308), when asked:
//! the `Location` resolved against the URL that was asked (RFC 3986 §5),
//! a limit, and never from `wss://` to `ws://`.

use super::ClientBuilder;
use crate::error::{Error, HandshakeError, Result, UrlError};
use crate::url::WsUrl;
use crate::websocket::WebSocket;

/// The request headers that are not sent on to another host: they are the
/// first host's to see (curl drops them too, unless told otherwise).
const FIRST_HOST_ONLY: [&str; 2] = ["Authorization", "Cookie"];

impl ClientBuilder {
    /// Follow up to `max` redirects (status 301, 302, 303, 307 or 308 with
    /// a `Location`) before giving up. Not followed by default (`max` 0):
    /// a redirect is then [`HandshakeError::Refused`] with its status and
    /// headers.
    ///
    /// `Location` may be absolute (`ws://`, `wss://`, or `http://` and
    /// `https://`, taken as `ws://` and `wss://`) or relative to the URL
    /// asked. A redirect from `wss://` to `ws://` is never followed. Each
    /// hop is a new connection, with its own proxy choice and its own
    /// handshake timeout; the `Authorization` and `Cookie` headers are not
    /// sent to a host, port or scheme other than the first.
    ///
    /// ```no_run
    /// let ws = syncws::ClientBuilder::new("ws://127.0.0.1:9001/old-path")
    ///     .follow_redirects(3)
    ///     .connect()?;
    /// # Ok::<(), syncws::Error>(())
    /// ```
    ///
    /// # Errors
    /// `connect` fails with [`HandshakeError::TooManyRedirects`] after
    /// `max` redirects, [`HandshakeError::InsecureRedirect`] for one from
    /// `wss://` to `ws://`, and [`Error::Url`] for a `Location` that is
    /// not a WebSocket URL.
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Connect to `url`, following redirects as the builder allows.
    pub(super) fn connect_following_redirects(&self, mut url: WsUrl) -> Result<WebSocket> {
        let first = url.clone();
        let mut headers = self.request_headers();
        for redirects in 0.. {
            let location = match self.connect_to(&url, headers.clone()) {
                Err(Error::Handshake(HandshakeError::Refused {
                    status,
                    headers: answer,
                    body,
                })) if self.max_redirects > 0 && is_redirect(status) => {
                    match answer.get("Location") {
                        Some(location) => location.to_owned(),
                        None => {
                            return Err(Error::Handshake(HandshakeError::Refused {
                                status,
                                headers: answer,
                                body,
                            }));
                        }
                    }
                }
                other => return other,
            };
            if redirects == self.max_redirects {
                return Err(Error::Handshake(HandshakeError::TooManyRedirects {
                    max: self.max_redirects,
                }));
            }
            let next = resolve(&url, &location)?;
            if url.tls && !next.tls {
                return Err(Error::Handshake(HandshakeError::InsecureRedirect {
                    location: to_text(&next),
                }));
            }
            log::debug!("redirected from {} to {}", to_text(&url), to_text(&next));
            if (next.tls, &next.host, next.port) != (first.tls, &first.host, first.port) {
                headers.retain(|name, _| {
                    !FIRST_HOST_ONLY
                        .iter()
                        .any(|first_only| name.eq_ignore_ascii_case(first_only))
                });
            }
            url = next;
        }
        unreachable!("the loop returns")
    }
}

/// Is this status a redirect that a client may follow with the same
/// request (RFC 9110 §15.4: 301, 302, 303, 307, 308; a WebSocket
/// handshake is a GET, so 301, 302 and 303 change nothing)?
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The URL as text.
fn to_text(url: &WsUrl) -> String {
    let scheme = if url.tls { "wss" } else { "ws" };
    format!("{scheme}://{}{}", url.host_header(), url.resource)
}

/// The URL a `Location` points to, resolved against `base` (RFC 3986
/// §5.2). `http` and `https` are taken as `ws` and `wss`; a fragment is
/// dropped.
fn resolve(base: &WsUrl, location: &str) -> std::result::Result<WsUrl, UrlError> {
    let location = location.trim();
    let location = location
        .split_once('#')
        .map_or(location, |(before, _)| before);
    let base_scheme = if base.tls { "wss" } else { "ws" };
    if let Some((scheme, rest)) = location.split_once("://") {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "ws".to_owned(),
            "https" => "wss".to_owned(),
            _ => scheme.to_owned(),
        };
        return WsUrl::parse(&format!("{scheme}://{rest}"));
    }
    if let Some(network_path) = location.strip_prefix("//") {
        return WsUrl::parse(&format!("{base_scheme}://{network_path}"));
    }
    let (base_path, _) = base
        .resource
        .split_once('?')
        .unwrap_or((&base.resource, ""));
    let resource = if location.is_empty() {
        base.resource.clone()
    } else if location.starts_with('?') {
        format!("{base_path}{location}")
    } else {
        let (path, query) = match location.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (location, None),
        };
        let merged = if path.starts_with('/') {
            path.to_owned()
        } else {
            // §5.2.3: everything of the base path up to its last "/".
            let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            format!("{directory}{path}")
        };
        let path = remove_dot_segments(&merged);
        match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        }
    };
    // A relative reference stays on the same server: over a Unix socket,
    // the same socket.
    let mut next = WsUrl::parse(&format!("{base_scheme}://{}{resource}", base.host_header()))?;
    next.unix_socket = base.unix_socket.clone();
    Ok(next)
}

/// RFC 3986 §5.2.4: `.` and `..` segments taken out of a path.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." && output.len() > 1 {
                    output.pop();
                }
                // A path ending in "." or ".." names a directory.
                if last {
                    output.push("");
                }
            }
            segment => output.push(segment),
        }
    }
    let path = output.join("/");
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_resolved_against_the_url_asked() {
        let base = WsUrl::parse("ws://h:9001/a/b/c?q=1").unwrap();
        for (location, expected) in [
            ("ws://other/x", "ws://other/x"),
            ("wss://other:8443/x?y", "wss://other:8443/x?y"),
            ("http://other/x", "ws://other/x"),
            ("HTTPS://other/x", "wss://other/x"),
            ("//other:1/x", "ws://other:1/x"),
            ("/x/y", "ws://h:9001/x/y"),
            ("/x?z=2", "ws://h:9001/x?z=2"),
            ("d", "ws://h:9001/a/b/d"),
            ("./d", "ws://h:9001/a/b/d"),
            ("../d", "ws://h:9001/a/d"),
            ("../../../../d", "ws://h:9001/d"),
            ("..", "ws://h:9001/a/"),
            ("d/./e/../f", "ws://h:9001/a/b/d/f"),
            ("?z=2", "ws://h:9001/a/b/c?z=2"),
            ("", "ws://h:9001/a/b/c?q=1"),
            ("/x#frag", "ws://h:9001/x"),
            ("/a b", "ws://h:9001/a%20b"),
        ] {
            let resolved = resolve(&base, location).unwrap();
            assert_eq!(to_text(&resolved), expected, "{location:?}");
        }
        let base = WsUrl::parse("wss://h/").unwrap();
        assert_eq!(to_text(&resolve(&base, "x").unwrap()), "wss://h/x");
        assert_eq!(to_text(&resolve(&base, "//g/").unwrap()), "wss://g/");
    }

    #[test]
    fn a_relative_location_stays_on_the_same_unix_socket() {
        let base = WsUrl::parse("ws+unix:/run/app.sock:/a/b").unwrap();
        let next = resolve(&base, "c?x=1").unwrap();
        assert_eq!(next.unix_socket, base.unix_socket);
        assert_eq!(next.resource, "/a/c?x=1");
        let elsewhere = resolve(&base, "ws://other/x").unwrap();
        assert_eq!(elsewhere.unix_socket, None);
        assert_eq!(elsewhere.host, "other");
    }

    #[test]
    fn a_location_that_is_no_websocket_url_is_an_error() {
        let base = WsUrl::parse("ws://h/").unwrap();
        for location in ["ftp://h/x", "ws://user@h/", "ws://h:0/", "ws://"] {
            assert!(resolve(&base, location).is_err(), "{location:?}");
        }
    }

    #[test]
    fn only_the_redirects_that_keep_the_request_are_followed() {
        for status in [301, 302, 303, 307, 308] {
            assert!(is_redirect(status));
        }
        for status in [200, 300, 304, 305, 306, 309, 101, 400] {
            assert!(!is_redirect(status), "{status}");
        }
    }
}

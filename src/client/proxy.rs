//! Reaching the server through a proxy: which proxy (the builder's, the
//! environment's, or none), its URL, and the tunnel through an HTTP proxy
//! (`CONNECT`, RFC 9110 §9.3.6). The SOCKS5 exchange is in `socks.rs`, the
//! environment's rules in `proxy_env.rs`.
//!
//! A tunnel yields the `TcpStream` to the proxy, now carrying bytes to and
//! from the server: TLS (for `wss://`, with the server's name) and the
//! WebSocket handshake run on it as on a direct connection.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::ClientBuilder;
use super::proxy_env::proxy_from_env;
use super::socks::{SocksTarget, socks5_connect};
use crate::error::{Error, HandshakeError, Result, Timeout, UrlError};
use crate::protocol::config::Config;
use crate::protocol::handshake::{SocksRefusal, parse_response};
use crate::url::{WsUrl, parse_port, split_host_port};

/// The port of an `http://` proxy URL that names none.
const HTTP_PROXY_DEFAULT_PORT: u16 = 80;
/// The port of a `socks5://` or `socks5h://` proxy URL that names none.
const SOCKS_PROXY_DEFAULT_PORT: u16 = 1080;
/// Bytes asked for per read while the proxy's answer to `CONNECT` arrives.
const ANSWER_READ_CHUNK: usize = 1024;

/// Where the builder's connections go: through the proxy the environment
/// names (the default), directly, or through a proxy the caller gave.
#[derive(Clone, Default)]
pub(super) enum ProxyChoice {
    /// Read `https_proxy`, `http_proxy`, `all_proxy` and `no_proxy` as
    /// curl does, at each connection.
    #[default]
    FromEnvironment,
    /// No proxy, whatever the environment says.
    Direct,
    /// This proxy for every connection (or why its URL cannot be used,
    /// reported by `connect`).
    Given(std::result::Result<ProxyUrl, UrlError>),
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::FromEnvironment => f.write_str("FromEnvironment"),
            ProxyChoice::Direct => f.write_str("Direct"),
            // `ProxyUrl`'s Debug leaves the credentials out.
            ProxyChoice::Given(url) => f.debug_tuple("Given").field(url).finish(),
        }
    }
}

/// Which protocol the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// An HTTP proxy: a `CONNECT` request opens the tunnel.
    Http,
    /// A SOCKS5 proxy (RFC 1928); with `remote_dns` (`socks5h://`) the
    /// proxy resolves the server's name, else the client does.
    Socks5 { remote_dns: bool },
}

/// A username and password from a proxy URL. Neither `Debug` nor anything
/// else here ever shows them: they would end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A parsed proxy URL: `http://[user:password@]host[:port]`,
/// `socks5://...` or `socks5h://...` (crate-private; the tests below show
/// it at work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl {
    pub kind: ProxyKind,
    /// The host name or IP address, in lower case, an IPv6 address without
    /// brackets.
    pub host: String,
    pub port: u16,
    pub credentials: Option<Credentials>,
}

impl fmt::Display for ProxyUrl {
    /// The URL without its credentials: what logs and errors may show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        write!(f, "{scheme}://{}", authority(&self.host, self.port))
    }
}

impl ProxyUrl {
    /// Parses a proxy URL. Without a scheme it is `http://` (as for curl).
    /// Without a port, an `http://` proxy is on 80 and a SOCKS one on
    /// 1080. User information is percent-decoded. A path other than `/`,
    /// a query, an `https://` proxy or another scheme is an error; no
    /// error shows the credentials.
    pub(crate) fn parse(url: &str) -> std::result::Result<ProxyUrl, UrlError> {
        let malformed = |why: &str| UrlError::Malformed(format!("proxy URL: {why}"));
        let url = url.trim_matches(|c: char| c.is_ascii_whitespace());
        if url.bytes().any(|byte| byte.is_ascii_control()) {
            return Err(malformed("control character"));
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5 { remote_dns: false },
            "socks5h" => ProxyKind::Socks5 { remote_dns: true },
            "https" => {
                return Err(malformed(
                    "https:// proxies (TLS to the proxy itself) are not supported; \
                     use http://, socks5:// or socks5h://",
                ));
            }
            _ => {
                return Err(malformed(&format!(
                    "unsupported scheme {scheme:?}; use http://, socks5:// or socks5h://"
                )));
            }
        };
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(authority_len);
        if !matches!(after, "" | "/") {
            return Err(malformed("a proxy URL has no path, query or fragment"));
        }
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None | Some("") => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |text: &str| {
                    percent_decode(text).ok_or_else(|| {
                        malformed("invalid percent-encoding in the user information")
                    })
                };
                Some(Credentials {
                    user: decode(user)?,
                    password: decode(password)?,
                })
            }
        };
        if let (ProxyKind::Socks5 { .. }, Some(credentials)) = (kind, &credentials) {
            // RFC 1929 §2: one byte gives each length.
            if credentials.user.is_empty()
                || credentials.user.len() > 255
                || credentials.password.len() > 255
            {
                return Err(malformed(
                    "a SOCKS5 username is 1 to 255 bytes, and a password at most 255",
                ));
            }
        }
        let (host, port) = split_host_port(host_port)?;
        let port = match port {
            None | Some("") => match kind {
                ProxyKind::Http => HTTP_PROXY_DEFAULT_PORT,
                ProxyKind::Socks5 { .. } => SOCKS_PROXY_DEFAULT_PORT,
            },
            Some(port) => parse_port(port)?,
        };
        Ok(ProxyUrl {
            kind,
            host,
            port,
            credentials,
        })
    }
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// `host:port`, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl ClientBuilder {
    /// Connect through this proxy, whatever the environment says:
    /// `http://[user:password@]host[:port]` (a tunnel opened with `CONNECT`,
    /// with Basic authentication when the URL has credentials),
    /// `socks5://[user:password@]host[:port]` (SOCKS5, the client resolves
    /// the server's name) or `socks5h://...` (the proxy resolves it). The
    /// port is 80 for `http://` and 1080 for SOCKS when the URL names
    /// none; a URL without a scheme is `http://`. Percent-encode a `@` or
    /// `:` in the credentials (`%40`, `%3A`).
    ///
    /// For `wss://` the TLS session runs through the tunnel to the server:
    /// SNI and the certificate check name the server, never the proxy. The
    /// [connect timeout](Self::connect_timeout) bounds the TCP connection
    /// to the proxy and, again, the proxy's opening of the tunnel; the
    /// [handshake timeout](crate::Config::handshake_timeout) bounds the
    /// tunnel, TLS and the WebSocket handshake together. Credentials never
    /// appear in `Debug` output, errors or logs.
    /// [`WebSocket::peer_addr`](crate::WebSocket::peer_addr) is then the
    /// proxy's address.
    ///
    /// ```no_run
    /// let ws = syncws::ClientBuilder::new("wss://example.com/feed")
    ///     .proxy("http://user:secret@proxy.internal:3128")
    ///     .connect()?;
    /// # Ok::<(), syncws::Error>(())
    /// ```
    ///
    /// # Errors
    /// `connect` then fails with [`Error::Url`] if the proxy URL cannot be
    /// used; with [`HandshakeError::ProxyRefused`] (the proxy's status and
    /// headers) when an HTTP proxy refuses the tunnel, or
    /// [`HandshakeError::SocksRefused`] when a SOCKS5 proxy does.
    pub fn proxy(mut self, url: impl AsRef<str>) -> Self {
        self.proxy = ProxyChoice::Given(ProxyUrl::parse(url.as_ref()));
        self
    }

    /// Connect directly, without a proxy, whatever the environment says.
    ///
    /// By default a client reads the environment as curl does:
    /// `https_proxy` (or `HTTPS_PROXY`) for `wss://`, `http_proxy` (or
    /// `HTTP_PROXY`, unless `REQUEST_METHOD` is set, as it is in a CGI
    /// script, where a request can set it) for `ws://`, else `all_proxy`
    /// (or `ALL_PROXY`); and no proxy for the hosts `no_proxy` (or
    /// `NO_PROXY`) lists: a comma-separated list of `*` (every host),
    /// domain names (`example.com` is that host and its subdomains, as are
    /// `.example.com` and `*.example.com`), IP addresses, networks in CIDR
    /// form (`10.0.0.0/8`, `fd00::/8`), each optionally with `:port` to
    /// match that port only (IPv6 in brackets then: `[::1]:9001`).
    ///
    /// ```no_run
    /// let ws = syncws::ClientBuilder::new("ws://127.0.0.1:9001/")
    ///     .no_proxy()
    ///     .connect()?;
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::Direct;
        self
    }

    /// The proxy to reach `url` through, if any.
    fn proxy_for(&self, url: &WsUrl) -> Result<Option<ProxyUrl>> {
        match &self.proxy {
            ProxyChoice::Direct => Ok(None),
            ProxyChoice::Given(Ok(proxy)) => Ok(Some(proxy.clone())),
            ProxyChoice::Given(Err(e)) => Err(Error::Url(e.clone())),
            ProxyChoice::FromEnvironment => {
                let Some((name, value)) = proxy_from_env(url.tls, &url.host, url.port, |name| {
                    std::env::var(name).ok()
                }) else {
                    return Ok(None);
                };
                // The value is not shown: it may hold credentials.
                ProxyUrl::parse(&value).map(Some).map_err(|e| {
                    Error::Url(UrlError::Malformed(format!("in the variable {name}: {e}")))
                })
            }
        }
    }

    /// A TCP stream to the server, directly or through a proxy's tunnel,
    /// and the handshake's deadline, which runs from the moment the first
    /// TCP connection (to the server or to the proxy) is open.
    pub(super) fn open_stream(&self, url: &WsUrl) -> Result<(TcpStream, Option<Instant>)> {
        let Some(proxy) = self.proxy_for(url)? else {
            let tcp = self.open_tcp(&url.host, url.port)?;
            return Ok((tcp, self.handshake_deadline()));
        };
        log::debug!(
            "connecting to {} through the proxy {proxy}",
            authority(&url.host, url.port)
        );
        match proxy.kind {
            ProxyKind::Http => {
                let (tcp, exchange, deadline) = self.open_to_proxy(&proxy)?;
                http_connect(&tcp, &proxy, url, exchange, &self.config)?;
                Ok((tcp, deadline))
            }
            ProxyKind::Socks5 { remote_dns } => {
                if let Ok(ip) = url.host.parse::<IpAddr>() {
                    return self.socks_tunnel(&proxy, SocksTarget::Ip(ip), url.port);
                }
                if remote_dns {
                    return self.socks_tunnel(&proxy, SocksTarget::Name(&url.host), url.port);
                }
                self.socks_tunnel_resolving(&proxy, url)
            }
        }
    }

    /// `socks5://`: the client resolves the name and asks the proxy for
    /// each address in turn, as a direct connection tries them, while the
    /// proxy says that address cannot be reached.
    fn socks_tunnel_resolving(
        &self,
        proxy: &ProxyUrl,
        url: &WsUrl,
    ) -> Result<(TcpStream, Option<Instant>)> {
        let addrs = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| {
                Error::Io(io::Error::new(
                    e.kind(),
                    format!("cannot resolve {}: {e}", url.host),
                ))
            })?;
        let mut last_error = None;
        for addr in addrs {
            match self.socks_tunnel(proxy, SocksTarget::Ip(addr.ip()), url.port) {
                // 3, 4, 5: network or host unreachable, connection refused.
                Err(
                    e @ Error::Handshake(HandshakeError::SocksRefused(SocksRefusal::Reply(3..=5))),
                ) => last_error = Some(e),
                other => return other,
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolved to no address", url.host),
            ))
        }))
    }

    fn socks_tunnel(
        &self,
        proxy: &ProxyUrl,
        target: SocksTarget<'_>,
        port: u16,
    ) -> Result<(TcpStream, Option<Instant>)> {
        let (tcp, exchange, deadline) = self.open_to_proxy(proxy)?;
        socks5_connect(&tcp, proxy.credentials.as_ref(), target, port, exchange)?;
        Ok((tcp, deadline))
    }

    /// The TCP connection to the proxy, the deadline of the exchange with
    /// it, and the handshake's deadline.
    fn open_to_proxy(
        &self,
        proxy: &ProxyUrl,
    ) -> Result<(TcpStream, ExchangeDeadline, Option<Instant>)> {
        let tcp = self
            .open_tcp(&proxy.host, proxy.port)
            .map_err(|e| match e {
                Error::Io(e) => Error::Io(io::Error::new(e.kind(), format!("proxy {proxy}: {e}"))),
                other => other,
            })?;
        let deadline = self.handshake_deadline();
        let connect_deadline = self.connect_timeout.map(|t| Instant::now() + t);
        Ok((
            tcp,
            ExchangeDeadline::earliest(connect_deadline, deadline),
            deadline,
        ))
    }

    pub(super) fn handshake_deadline(&self) -> Option<Instant> {
        self.config.handshake_timeout.map(|t| Instant::now() + t)
    }
}

/// Asks an HTTP proxy for a tunnel to the server (RFC 9110 §9.3.6) and
/// reads its answer: any 2xx opens it.
fn http_connect(
    tcp: &TcpStream,
    proxy: &ProxyUrl,
    url: &WsUrl,
    deadline: ExchangeDeadline,
    config: &Config,
) -> Result<()> {
    // RFC 9110 §9.3.6: "the request-target consists of only the host name
    // and port number of the tunnel destination". The host was checked by
    // the URL parser: it cannot break the request line.
    let target = authority(&url.host, url.port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(Credentials { user, password }) = &proxy.credentials {
        // RFC 7617 §2: the user-id and password joined by a colon, in base64.
        request.push_str("Proxy-Authorization: Basic ");
        request.push_str(&BASE64.encode(format!("{user}:{password}")));
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    deadline.write_all(tcp, request.as_bytes())?;

    let mut answer = Vec::with_capacity(ANSWER_READ_CHUNK);
    let (head, head_len) = loop {
        let filled = answer.len();
        answer.resize(filled + ANSWER_READ_CHUNK, 0);
        let read = deadline.read(tcp, &mut answer[filled..]);
        answer.truncate(filled + *read.as_ref().unwrap_or(&0));
        if read? == 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the proxy {proxy} closed the connection without answering CONNECT"),
            )));
        }
        if let Some(parsed) = parse_response(&answer, config.max_head_size, config.max_headers)? {
            break parsed;
        }
    };
    // RFC 9110 §15.3: "Any 2xx (Successful) response indicates that the
    // sender (and all inbound proxies) will switch to tunnel mode".
    if !(200..300).contains(&head.status) {
        log::debug!("the proxy {proxy} refused CONNECT with {}", head.status);
        return Err(Error::Handshake(HandshakeError::ProxyRefused {
            status: head.status,
            headers: head.headers,
        }));
    }
    // The server speaks only once asked (TLS, the WebSocket request), so
    // nothing can follow the answer yet.
    if head_len != answer.len() {
        return Err(Error::Handshake(HandshakeError::Invalid(format!(
            "the proxy {proxy} sent {} bytes after its answer to CONNECT",
            answer.len() - head_len
        ))));
    }
    Ok(())
}

/// When the exchange with a proxy gives up, and which timeout it then
/// reports: the connect timeout's or the handshake's, whichever ends first.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExchangeDeadline {
    at: Option<Instant>,
    timeout: Timeout,
}

impl ExchangeDeadline {
    pub(super) fn earliest(
        connect: Option<Instant>,
        handshake: Option<Instant>,
    ) -> ExchangeDeadline {
        match (connect, handshake) {
            (Some(connect), Some(handshake)) if connect < handshake => ExchangeDeadline {
                at: Some(connect),
                timeout: Timeout::Connect,
            },
            (_, Some(handshake)) => ExchangeDeadline {
                at: Some(handshake),
                timeout: Timeout::Handshake,
            },
            (connect, None) => ExchangeDeadline {
                at: connect,
                timeout: Timeout::Connect,
            },
        }
    }

    /// The time left, as a socket timeout; the timeout if none is left.
    fn time_left(&self) -> Result<Option<Duration>> {
        match self.at {
            None => Ok(None),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout(self.timeout));
                }
                Ok(Some(left))
            }
        }
    }

    /// One read, given up at the deadline: a proxy that trickles its answer
    /// a byte at a time cannot stretch it, since every read is re-armed
    /// with the time left.
    pub(super) fn read(&self, tcp: &TcpStream, buf: &mut [u8]) -> Result<usize> {
        loop {
            tcp.set_read_timeout(self.time_left()?)?;
            match Read::read(&mut &*tcp, buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from_io(e, self.timeout)),
            }
        }
    }

    /// Fill `buf`, given up at the deadline.
    pub(super) fn read_exact(&self, tcp: &TcpStream, buf: &mut [u8]) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(tcp, &mut buf[filled..])? {
                0 => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the proxy closed the connection in the middle of its answer",
                    )));
                }
                n => filled += n,
            }
        }
        Ok(())
    }

    /// Write all of `bytes`, given up at the deadline.
    pub(super) fn write_all(&self, tcp: &TcpStream, bytes: &[u8]) -> Result<()> {
        tcp.set_write_timeout(self.time_left()?)?;
        Write::write_all(&mut &*tcp, bytes).map_err(|e| Error::from_io(e, self.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(
        kind: ProxyKind,
        host: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> ProxyUrl {
        ProxyUrl {
            kind,
            host: host.into(),
            port,
            credentials: credentials.map(|(user, password)| Credentials {
                user: user.into(),
                password: password.into(),
            }),
        }
    }

    #[test]
    fn proxy_urls_are_parsed() {
        use ProxyKind::*;
        let socks = Socks5 { remote_dns: false };
        let socks_h = Socks5 { remote_dns: true };
        for (text, expected) in [
            ("http://proxy:3128", proxy(Http, "proxy", 3128, None)),
            ("http://proxy:3128/", proxy(Http, "proxy", 3128, None)),
            ("HTTP://Proxy", proxy(Http, "proxy", 80, None)),
            (
                "proxy.internal:8080",
                proxy(Http, "proxy.internal", 8080, None),
            ),
            ("  http://[::1]:3128\n", proxy(Http, "::1", 3128, None)),
            ("socks5://127.0.0.1", proxy(socks, "127.0.0.1", 1080, None)),
            ("socks5h://h:9050", proxy(socks_h, "h", 9050, None)),
            (
                "http://alice:s3cret@proxy:3128",
                proxy(Http, "proxy", 3128, Some(("alice", "s3cret"))),
            ),
            (
                "socks5://a%40b:p%3Ass%25@h",
                proxy(socks, "h", 1080, Some(("a@b", "p:ss%"))),
            ),
            (
                "http://user@pass@h:1",
                proxy(Http, "h", 1, Some(("user@pass", ""))),
            ),
            (
                "http://only-user@h",
                proxy(Http, "h", 80, Some(("only-user", ""))),
            ),
            ("http://@h", proxy(Http, "h", 80, None)),
        ] {
            assert_eq!(ProxyUrl::parse(text), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_showing_the_credentials() {
        for (text, why) in [
            ("https://alice:s3cret@h", "https:// proxies"),
            ("socks4://alice:s3cret@h", "unsupported scheme \"socks4\""),
            ("http://alice:s3cret@h/path", "no path"),
            ("http://alice:s3cret@h?x", "no path"),
            ("http://alice:s3cr%zzet@h", "percent-encoding"),
            ("http://alice:s3cr%ffet@h", "percent-encoding"),
            ("http://alice:s3cret@h\r\n:1", "control character"),
            ("socks5://:s3cret@h", "SOCKS5 username"),
            ("http://alice:s3cret@", "no host"),
            ("http://alice:s3cret@h:99999", "invalid port"),
        ] {
            let error = ProxyUrl::parse(text).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(shown.contains(why), "{text:?} gave {shown}");
            assert!(
                !shown.contains("s3cret"),
                "{text:?} shows the password: {shown}"
            );
        }
    }

    #[test]
    fn debug_and_display_never_show_credentials() {
        let url = ProxyUrl::parse("socks5h://alice:s3cret@[::1]:1080").unwrap();
        assert_eq!(url.to_string(), "socks5h://[::1]:1080");
        let debug = format!("{url:?} {:?}", ProxyChoice::Given(Ok(url.clone())));
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(
            !debug.contains("alice") && !debug.contains("s3cret"),
            "{debug}"
        );
        let builder = ClientBuilder::new("ws://h/").proxy("http://alice:s3cret@h:3128");
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("alice") && !debug.contains("s3cret"),
            "{debug}"
        );
    }

    #[test]
    fn the_earliest_deadline_names_its_timeout() {
        let now = Instant::now();
        let soon = now + Duration::from_secs(1);
        let later = now + Duration::from_secs(2);
        for (connect, handshake, at, timeout) in [
            (Some(soon), Some(later), Some(soon), Timeout::Connect),
            (Some(later), Some(soon), Some(soon), Timeout::Handshake),
            (None, Some(soon), Some(soon), Timeout::Handshake),
            (Some(soon), None, Some(soon), Timeout::Connect),
            (None, None, None, Timeout::Connect),
        ] {
            let deadline = ExchangeDeadline::earliest(connect, handshake);
            assert_eq!((deadline.at, deadline.timeout), (at, timeout));
        }
        let passed = ExchangeDeadline::earliest(Some(now), Some(later));
        assert!(matches!(
            passed.time_left(),
            Err(Error::Timeout(Timeout::Connect))
        ));
    }
}

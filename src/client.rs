//! The client: connect to a `ws://`, `wss://` or `ws+unix:` URL (or take
//! a stream the caller connected) and perform the opening handshake.
//! Through a proxy: `proxy.rs` (which one, HTTP `CONNECT`), `socks.rs`,
//! `proxy_env.rs` (curl's environment rules); redirects: `redirect.rs`.

mod proxy;
mod proxy_env;
mod redirect;
mod socks;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[cfg(not(any(feature = "native-tls", feature = "rustls")))]
use crate::error::UrlError;
use crate::error::{Error, HandshakeError, Result, Timeout};
use crate::protocol::Role;
use crate::protocol::config::Config;
use crate::protocol::extension::permessage_deflate::{self, DeflateConfig, Negotiated};
use crate::protocol::handshake::{ClientRequest, Headers, check_response, parse_response};
use crate::transport::head::{handshake_io, read_head, set_deadline};
use crate::transport::{Socket, Transport};
use crate::url::WsUrl;
use crate::websocket::{Opened, WebSocket};
use proxy::ProxyChoice;

/// The most body bytes kept from a refused handshake.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// Connect to a WebSocket server with the default settings.
///
/// ```no_run
/// let mut ws = syncws::connect("ws://127.0.0.1:9001/chat?room=1")?;
/// ws.send_text("hello")?;
/// # Ok::<(), syncws::Error>(())
/// ```
///
/// A server on a Unix domain socket is named as Node's `ws` names it: the
/// socket's absolute path, `:`, then the resource,
/// `ws+unix:/run/app.sock:/chat?room=1` (`ws+unix:///run/app.sock:/chat`
/// too). The `Host` header then says `localhost`, as Python `websockets`'
/// `unix_connect` does. `wss+unix:` runs TLS over the Unix socket and
/// checks the server's certificate against the name `localhost`; for
/// another name, connect the socket yourself and hand it to
/// [`ClientBuilder::connect_on`] with a `wss://name/…` URL.
///
/// # Errors
/// [`Error::Url`] for a bad URL; [`Error::Io`] when the host name does not
/// resolve or the TCP connection fails; [`Error::Timeout`] with
/// [`Timeout::Connect`] when the connect timeout passes and
/// [`Timeout::Handshake`] when the handshake takes too long;
/// [`Error::Tls`] when TLS fails; [`Error::Handshake`] when the server
/// refuses the upgrade or answers what RFC 6455 does not allow, or a proxy
/// refuses the tunnel ([`HandshakeError::ProxyRefused`],
/// [`HandshakeError::SocksRefused`]).
///
/// `connect` reads the environment for a proxy, as curl does (see
/// [`ClientBuilder::no_proxy`]), and follows no redirect (see
/// [`ClientBuilder::follow_redirects`]).
pub fn connect(url: &str) -> Result<WebSocket> {
    ClientBuilder::new(url).connect()
}

/// Settings for a client connection: headers, subprotocols, origin,
/// timeouts and limits, a [proxy](Self::proxy) and
/// [redirects](Self::follow_redirects).
///
/// The request carries `User-Agent: syncws/VERSION` unless replaced
/// ([`user_agent`](Self::user_agent), or a `User-Agent` header). What the
/// server answered (its cookies, the subprotocol it chose) is then
/// [`WebSocket::response`].
///
/// ```no_run
/// use std::time::Duration;
/// use syncws::ClientBuilder;
///
/// let ws = ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .protocol("chat.v2")
///     .header("Authorization", "Bearer 42")
///     .connect_timeout(Duration::from_secs(3))
///     .connect()?;
/// assert_eq!(ws.protocol(), Some("chat.v2"));
/// # Ok::<(), syncws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    config: Config,
    headers: Headers,
    protocols: Vec<String>,
    origin: Option<String>,
    connect_timeout: Option<Duration>,
    /// `None`: no `User-Agent` header.
    user_agent: Option<String>,
    proxy: ProxyChoice,
    max_redirects: usize,
    deflate: DeflateConfig,
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    tls: ClientTls,
}

/// The TLS library a client speaks `wss://` with, when the crate is built
/// with both (see [`ClientBuilder::tls_backend`]). The default is
/// native-tls when its feature is on (it is a default feature), else
/// rustls.
///
/// ```no_run
/// # #[cfg(feature = "rustls")] {
/// use syncws::{ClientBuilder, TlsBackend};
///
/// let ws = ClientBuilder::new("wss://example.com/socket")
///     .tls_backend(TlsBackend::Rustls)
///     .connect()?;
/// # }
/// # Ok::<(), syncws::Error>(())
/// ```
#[cfg(any(feature = "native-tls", feature = "rustls"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsBackend {
    /// The platform's TLS library through `native-tls` (OpenSSL on Linux).
    #[cfg(feature = "native-tls")]
    NativeTls,
    /// rustls, with the `ring` crypto provider.
    #[cfg(feature = "rustls")]
    Rustls,
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl Default for TlsBackend {
    fn default() -> Self {
        #[cfg(feature = "native-tls")]
        return TlsBackend::NativeTls;
        #[cfg(not(feature = "native-tls"))]
        return TlsBackend::Rustls;
    }
}

/// The client's TLS settings, for whichever backend connects.
#[cfg(any(feature = "native-tls", feature = "rustls"))]
#[derive(Clone, Default)]
struct ClientTls {
    backend: TlsBackend,
    /// Roots added with `add_root_certificate`, besides the default ones.
    #[cfg(feature = "native-tls")]
    native_roots: Vec<native_tls::Certificate>,
    #[cfg(feature = "rustls")]
    rustls_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    accept_invalid_certs: bool,
    /// The caller's connector, or one built from the settings above;
    /// `None`: the default one, built at connect.
    #[cfg(feature = "native-tls")]
    native: Option<native_tls::TlsConnector>,
    /// The caller's configuration, or one built from the settings above;
    /// `None`: the default one (built once per process).
    #[cfg(feature = "rustls")]
    rustls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // (native-tls's certificates cannot be shown.)
        f.debug_struct("ClientTls")
            .field("backend", &self.backend)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish_non_exhaustive()
    }
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl ClientTls {
    /// Build every backend's connector from the roots and the
    /// certificate policy (replacing one the caller gave).
    fn rebuild(&mut self) -> Result<()> {
        #[cfg(feature = "native-tls")]
        {
            let mut builder = native_tls::TlsConnector::builder();
            for root in &self.native_roots {
                builder.add_root_certificate(root.clone());
            }
            builder.danger_accept_invalid_certs(self.accept_invalid_certs);
            self.native = Some(builder.build()?);
        }
        #[cfg(feature = "rustls")]
        {
            self.rustls = Some(crate::transport::rustls_config::client_config(
                &self.rustls_roots,
                self.accept_invalid_certs,
            )?);
        }
        Ok(())
    }
}

/// The `User-Agent` a client sends unless told otherwise.
const DEFAULT_USER_AGENT: &str = concat!("syncws/", env!("CARGO_PKG_VERSION"));

impl ClientBuilder {
    /// Settings for connecting to `url` (`ws://host:port/path?query`).
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            config: Config::default(),
            headers: Headers::new(),
            protocols: Vec::new(),
            origin: None,
            connect_timeout: None,
            user_agent: Some(DEFAULT_USER_AGENT.to_owned()),
            proxy: ProxyChoice::default(),
            max_redirects: 0,
            deflate: DeflateConfig::default(),
            #[cfg(any(feature = "native-tls", feature = "rustls"))]
            tls: ClientTls::default(),
        }
    }

    /// permessage-deflate (RFC 7692): offered by default (with the crate's
    /// `deflate` feature, itself on by default), as browsers do; if the
    /// server agrees, messages of at least the
    /// [`threshold`](DeflateConfig::threshold) are sent compressed. An
    /// answer that breaks RFC 7692 fails the handshake with
    /// [`HandshakeError::Extension`]. Off, nothing is offered.
    ///
    /// ```no_run
    /// use syncws::{ClientBuilder, DeflateConfig};
    ///
    /// let ws = ClientBuilder::new("ws://127.0.0.1:9001/")
    ///     .deflate(DeflateConfig::default().enabled(false))
    ///     .connect()?;
    /// assert!(ws.deflate().is_none());
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.deflate = config;
        self
    }

    /// Add a header to the handshake request. A `User-Agent` replaces the
    /// one there was (as [`user_agent`](Self::user_agent) does).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if name.as_ref().eq_ignore_ascii_case("User-Agent") {
            return self.user_agent(value.as_ref());
        }
        self.headers.push(name.as_ref(), value.as_ref());
        self
    }

    /// Send this `User-Agent` instead of `syncws/VERSION` (the crate's
    /// version); an empty one sends none. Only one is ever sent: the last
    /// given, here or as a header.
    ///
    /// ```no_run
    /// let ws = syncws::ClientBuilder::new("ws://127.0.0.1:9001/")
    ///     .user_agent("ticker-bot/2.1")
    ///     .connect()?;
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn user_agent(mut self, value: impl AsRef<str>) -> Self {
        let value = value.as_ref();
        self.user_agent = (!value.is_empty()).then(|| value.to_owned());
        self
    }

    /// Offer a subprotocol; offers keep their order of preference. If any is
    /// offered, the server must choose one of them or none.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Send an `Origin` header, as a browser does.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Give up connecting after `timeout` per address tried. Through a
    /// [proxy](Self::proxy) it bounds the TCP connection to the proxy and,
    /// again, the proxy's opening of the tunnel ([`Timeout::Connect`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Limits and timeouts of the connection, the handshake timeout among
    /// them.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Use this native-tls connector for `wss://` (trusted roots, client
    /// certificates, protocol versions), and native-tls as the backend.
    /// By default the system's trust store verifies the server.
    #[cfg(feature = "native-tls")]
    pub fn tls_connector(mut self, connector: native_tls::TlsConnector) -> Self {
        self.tls.native = Some(connector);
        self.tls.backend = TlsBackend::NativeTls;
        self
    }

    /// Use this rustls configuration for `wss://` (roots, client
    /// certificates, protocol versions, ALPN), and rustls as the backend.
    /// By default the platform's roots verify the server (and with the
    /// `rustls-webpki-roots` feature Mozilla's, bundled).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use syncws::rustls;
    ///
    /// let mut roots = rustls::RootCertStore::empty();
    /// # let my_ca = rustls::pki_types::CertificateDer::from(Vec::new());
    /// roots.add(my_ca)?;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let ws = syncws::ClientBuilder::new("wss://127.0.0.1:9001/")
    ///     .rustls_config(Arc::new(config))
    ///     .connect()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "rustls")]
    pub fn rustls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls.rustls = Some(config);
        self.tls.backend = TlsBackend::Rustls;
        self
    }

    /// Speak `wss://` with this TLS library (when the crate is built with
    /// both; see [`TlsBackend`]). The settings below
    /// ([`add_root_certificate`](Self::add_root_certificate),
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs))
    /// apply to either.
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    pub fn tls_backend(mut self, backend: TlsBackend) -> Self {
        self.tls.backend = backend;
        self
    }

    /// Trust this root certificate (PEM) for `wss://`, besides the default
    /// roots (the system's trust store) and those added before. Replaces
    /// a connector or configuration given before.
    ///
    /// # Errors
    /// [`Error::Tls`] if the PEM cannot be read or the connector built.
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    pub fn add_root_certificate(mut self, pem: &[u8]) -> Result<Self> {
        #[cfg(feature = "native-tls")]
        self.tls
            .native_roots
            .push(native_tls::Certificate::from_pem(pem)?);
        #[cfg(feature = "rustls")]
        self.tls
            .rustls_roots
            .extend(crate::transport::rustls_config::certificates(pem)?);
        self.tls.rebuild()?;
        Ok(self)
    }

    /// **Dangerous, for tests only**: accept any server certificate for
    /// `wss://`, expired, self-signed or for another name. The connection
    /// is then encrypted but not authenticated: anyone in the middle can
    /// read and change it. Replaces a connector or configuration given
    /// before.
    ///
    /// # Errors
    /// [`Error::Tls`] if the connector cannot be built.
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    pub fn danger_accept_invalid_certs(mut self) -> Result<Self> {
        self.tls.accept_invalid_certs = true;
        self.tls.rebuild()?;
        Ok(self)
    }

    /// Connect and perform the opening handshake.
    ///
    /// # Errors
    /// As for [`connect`].
    pub fn connect(self) -> Result<WebSocket> {
        let url = WsUrl::parse(&self.url)?;
        self.connect_following_redirects(url)
    }

    /// Perform the opening handshake on a stream you connected (TCP or a
    /// Unix domain socket, through a tunnel of your own, with socket
    /// options of your own): the URL gives the `Host` header, the resource
    /// and, for `wss://`, TLS (its host is the name checked against the
    /// server's certificate); nothing is resolved or connected. The
    /// connection is then like any other: full duplex, timeouts, keep-alive.
    /// No proxy is used, and no redirect followed (it is the refusal: the
    /// stream is to one server).
    ///
    /// ```no_run
    /// use std::os::unix::net::UnixStream;
    ///
    /// let stream = UnixStream::connect("/run/app/ws.sock")?;
    /// let mut ws = syncws::ClientBuilder::new("ws://app.internal/feed").connect_on(stream)?;
    /// println!("{:?}", ws.read_message()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`connect`], but for resolving and connecting.
    pub fn connect_on(self, stream: impl Into<Socket>) -> Result<WebSocket> {
        let url = WsUrl::parse(&self.url)?;
        let socket = stream.into();
        // Timeouts need a blocking socket; small frames go out at once.
        socket.set_nonblocking(false)?;
        socket.set_nodelay()?;
        let deadline = self.handshake_deadline();
        self.handshake_on(&url, socket, deadline, self.request_headers())
    }

    /// The headers of the request besides the handshake's own.
    fn request_headers(&self) -> Headers {
        let mut headers = self.headers.clone();
        if let Some(user_agent) = &self.user_agent {
            headers.push("User-Agent", user_agent);
        }
        headers
    }

    /// One connection and its handshake, to `url`.
    fn connect_to(&self, url: &WsUrl, headers: Headers) -> Result<WebSocket> {
        let (socket, deadline) = match &url.unix_socket {
            // A Unix socket is local: no proxy.
            Some(path) => (open_unix(path)?, self.handshake_deadline()),
            None => {
                let (tcp, deadline) = self.open_stream(url)?;
                (Socket::Tcp(tcp), deadline)
            }
        };
        self.handshake_on(url, socket, deadline, headers)
    }

    /// TLS if the URL asks for it, then the opening handshake, on `socket`.
    fn handshake_on(
        &self,
        url: &WsUrl,
        socket: Socket,
        deadline: Option<Instant>,
        headers: Headers,
    ) -> Result<WebSocket> {
        let stream = if url.tls {
            self.tls_connect(socket, &url.host, deadline)?
        } else {
            Transport::Plain(std::sync::Arc::new(socket))
        };
        let offer = match cfg!(feature = "deflate") {
            true => self.deflate.offer(),
            false => None,
        };
        let request = ClientRequest {
            protocols: self.protocols.clone(),
            origin: self.origin.clone(),
            extensions: offer.map(|offer| offer.to_extension().to_string()),
            headers,
            ..ClientRequest::new(url.host_header(), url.resource.clone())
        };
        set_deadline(&stream, deadline)?;
        let sent = (&stream).write_all(&request.to_bytes());
        let config = &self.config;
        let head = read_head(&stream, deadline, |buf| {
            parse_response(buf, config.max_head_size, config.max_headers)
        });
        let (head, rest) = match (sent, head) {
            (Ok(()), head) => head?,
            // A server that refuses at once (too many connections) may
            // answer and close before the request is out: over a Unix
            // socket the write then fails (EPIPE) with the answer waiting
            // to be read. That answer says more than the failed write.
            (Err(_), Ok(head)) => head,
            (Err(e), Err(_)) => return Err(handshake_io(e)),
        };
        let protocol = match check_response(&head, &request) {
            Ok(protocol) => protocol,
            Err(HandshakeError::Refused {
                status, headers, ..
            }) => {
                let body = read_refusal_body(&stream, rest, head.content_length());
                return Err(Error::Handshake(HandshakeError::Refused {
                    status,
                    headers,
                    body,
                }));
            }
            Err(e) => return Err(Error::Handshake(e)),
        };
        let deflate = match &offer {
            Some(offer) => permessage_deflate::check_response(
                offer,
                head.headers.get_all("Sec-WebSocket-Extensions"),
            )?
            .map(|params| Negotiated::new(params, self.deflate.clone())),
            None => None,
        };
        let peer = stream.peer_address().ok();
        let opened = Opened {
            transport: stream,
            peer,
            leftover: rest,
            // At most this is left on the socket from the handshake.
            socket_timeout: config.handshake_timeout,
            write_timeout_set: true,
            protocol,
            request: None,
            budget: None,
            deflate,
        };
        let mut ws = WebSocket::open(opened, Role::Client, config, None)?;
        ws.set_response(head);
        Ok(ws)
    }

    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    fn tls_connect(
        &self,
        socket: Socket,
        host: &str,
        deadline: Option<Instant>,
    ) -> Result<Transport> {
        match self.tls.backend {
            #[cfg(feature = "native-tls")]
            TlsBackend::NativeTls => self.native_tls_connect(socket, host, deadline),
            #[cfg(feature = "rustls")]
            TlsBackend::Rustls => {
                let config = match &self.tls.rustls {
                    Some(config) => std::sync::Arc::clone(config),
                    None => crate::transport::rustls_config::default_client_config(),
                };
                // The SNI name and the name checked against the
                // certificate are the URL's host.
                let name = crate::transport::rustls_config::server_name(host)?;
                let connection = rustls::ClientConnection::new(config, name)?;
                let transport = crate::transport::rustls::handshake(
                    connection.into(),
                    std::sync::Arc::new(socket),
                    deadline,
                )?;
                Ok(Transport::Rustls(std::sync::Arc::new(transport)))
            }
        }
    }

    #[cfg(feature = "native-tls")]
    fn native_tls_connect(
        &self,
        socket: Socket,
        host: &str,
        deadline: Option<Instant>,
    ) -> Result<Transport> {
        use crate::transport::{Pipe, TlsTransport};
        let connector = match &self.tls.native {
            Some(connector) => connector.clone(),
            None => native_tls::TlsConnector::builder().build()?,
        };
        let timeout = deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        socket.set_read_timeout(timeout)?;
        socket.set_write_timeout(timeout)?;
        // The SNI name and the name checked against the certificate are
        // the URL's host.
        match connector.connect(host, Pipe::new(std::sync::Arc::new(socket), deadline)) {
            Ok(stream) => Ok(Transport::Tls(std::sync::Arc::new(TlsTransport::new(
                stream,
            )))),
            Err(native_tls::HandshakeError::Failure(e)) => Err(e.into()),
            // The socket's timeout stopped the handshake.
            Err(native_tls::HandshakeError::WouldBlock(_)) => {
                Err(Error::Timeout(Timeout::Handshake))
            }
        }
    }

    #[cfg(not(any(feature = "native-tls", feature = "rustls")))]
    fn tls_connect(&self, _: Socket, _: &str, _: Option<Instant>) -> Result<Transport> {
        Err(Error::Url(UrlError::TlsFeatureDisabled))
    }

    /// Open the TCP connection to the first address of the host that answers.
    fn open_tcp(&self, host: &str, port: u16) -> Result<TcpStream> {
        // A name that does not resolve is an I/O failure (the resolver's),
        // not a bad URL: the same URL may resolve a moment later.
        let addrs = (host, port).to_socket_addrs().map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot resolve {host}: {e}"),
            ))
        })?;
        let mut last_error = None;
        for addr in addrs {
            let attempt = match self.connect_timeout {
                Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    // Small messages go out at once, not after Nagle's delay.
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => Error::from_io(e, Timeout::Connect),
            None => Error::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} resolved to no address"),
            )),
        })
    }
}

/// Connect to the Unix domain socket at `path`.
#[cfg(unix)]
fn open_unix(path: &std::path::Path) -> Result<Socket> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(stream) => Ok(Socket::Unix(stream)),
        Err(e) => Err(Error::Io(io::Error::new(
            e.kind(),
            format!("cannot connect to {}: {e}", path.display()),
        ))),
    }
}

#[cfg(not(unix))]
fn open_unix(_: &std::path::Path) -> Result<Socket> {
    Err(Error::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "Unix domain sockets exist only on Unix",
    )))
}

/// The body of a refusal, as far as it arrives within the handshake
/// deadline already set on the stream, bounded in size.
fn read_refusal_body(stream: &Transport, mut body: Vec<u8>, length: Option<usize>) -> Vec<u8> {
    let want = length.unwrap_or(MAX_REFUSAL_BODY).min(MAX_REFUSAL_BODY);
    if body.len() < want {
        let _ = Read::take(stream, (want - body.len()) as u64).read_to_end(&mut body);
    }
    body.truncate(want);
    body
}

//! The server: a thread per connection on a [`TcpListener`] or a Unix
//! domain socket, with routes to WebSocket handlers and plain HTTP pages on
//! the same port, an upgrade policy per route, lifecycle hooks, connection
//! ids and a graceful stop.

mod admission;
mod connection;
mod detached;
mod handler;
mod listener;
mod registry;
mod route;
mod workers;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::protocol::address::Address;
use crate::protocol::budget::MessageBudget;
use crate::protocol::config::{Config, KeepAlive};
use crate::protocol::extension::permessage_deflate::DeflateConfig;
use crate::protocol::message::{CloseCode, CloseFrame};
use crate::transport::Socket;
use crate::websocket::Sender;

pub use crate::protocol::handshake::{Request, Response};
pub use crate::websocket::ConnectionId;
pub use admission::DEFAULT_MAX_HANDSHAKES;
pub use handler::{EventHandler, Events, Handler, events};
pub use registry::{Attached, ConnectionInfo};
pub use route::{AfterClose, BeforeUpgrade, HttpHandler, Route, Upgrade};

use crate::throttle::Throttled;
use admission::Limits;
use listener::{Listener, Waker};
use registry::Registry;
use route::{HttpRoute, WsRoute};
use workers::{ReadHead, Start};

/// Default stack size of a connection thread. The memory is reserved, not
/// used: only the pages a handler touches count.
pub const DEFAULT_THREAD_STACK_SIZE: usize = 256 << 10;
/// Default time `stop` gives connections to close before dropping them.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of messages a detached connection keeps for its next
/// reader before it stops reading.
pub const DEFAULT_DETACHED_QUEUE: usize = 256;
/// Default number of connection threads that wait for the next connection
/// after serving one (see [`Server::idle_threads`]).
pub const DEFAULT_IDLE_THREADS: usize = 64;
/// Default time a connection thread waits for the next connection.
pub const DEFAULT_IDLE_KEEP: Duration = Duration::from_secs(10);

/// A WebSocket server on a [`TcpListener`] or a Unix domain socket
/// ([`bind_unix`](Self::bind_unix)), one thread per connection; its
/// handle also serves streams accepted elsewhere
/// ([`ServerHandle::serve_stream`]) and upgrades whose head another HTTP
/// loop read ([`ServerHandle::upgrade`]).
///
/// Routes map paths to WebSocket handlers and to plain HTTP responses, all
/// on one port:
///
/// ```no_run
/// use syncws::server::Route;
/// use syncws::server::Response;
/// use syncws::Server;
///
/// let server = Server::bind("127.0.0.1:0")?
///     .websocket("/echo", |mut ws| {
///         let sender = ws.sender();
///         let _ = ws.run_with(|message| sender.send_message(message));
///     })
///     .websocket(Route::prefix("/rooms/").protocols(["chat"]), |ws| {
///         let _ = ws.send_text(&format!("welcome to {}", ws.request().unwrap().path()));
///     })
///     .page("/", "text/html", "<h1>hello</h1>")
///     .serve()?;
/// println!("listening on {}", server.local_addr());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Limits
///
/// Everything a peer can make the server spend is bounded. The defaults
/// suit a server on the open network; the first three are the ones to set.
///
/// | what | bounded by | default | beyond it |
/// |---|---|---|---|
/// | connections (every accepted socket, handshakes included) and so threads | [`max_connections`](Self::max_connections) | no limit | refused at once: 503, or closed over TLS; no thread started |
/// | connections in their opening handshake | [`max_handshakes`](Self::max_handshakes) | [`DEFAULT_MAX_HANDSHAKES`] (1024) | as above |
/// | connections from one IP address (Unix peers have none: not counted) | [`max_connections_per_peer`](Self::max_connections_per_peer) | no limit | as above |
/// | memory of all messages being received | [`message_budget`](Self::message_budget) | no budget | that connection fails with 1009 |
/// | sockets waiting to be accepted | [`listen_backlog`](Self::listen_backlog) | 128 (std) | the kernel's choice |
/// | the TLS handshake and the HTTP head, together | [`Config::handshake_timeout`] | 10 s | the socket is closed |
/// | the HTTP head | [`Config::max_head_size`], [`Config::max_headers`] | 16 KiB, 64 lines | 431 |
/// | one frame, one message | [`Config::max_frame_size`], [`Config::max_message_size`] | 16 MiB, 64 MiB | 1009 |
/// | the close handshake, and a connection whose send failed | [`Config::close_timeout`] | 5 s | the socket is closed |
/// | what is read and thrown away after a close | [`LINGER_MAX_BYTES`](crate::protocol::LINGER_MAX_BYTES) | 64 MiB | the socket is closed |
/// | pongs and close replies queued behind a blocked write | [`Config::max_write_buffer`] | 4 MiB | the reader waits too |
/// | a quiet or dead peer | [`keep_alive`](Self::keep_alive) | off | dropped; the read returns `Timeout::PongOverdue` |
/// | messages a detached connection keeps | [`detached_queue`](Self::detached_queue) | 256 | it stops reading |
/// | threads kept for the next connection | [`idle_threads`](Self::idle_threads) | 64, for 10 s | they end |
/// | a [`Hub`](crate::Hub) member's unwritten broadcasts | [`Hub::with_member_limits`](crate::Hub::with_member_limits) | 1024 messages, 16 MiB | evicted with 1008 |
///
/// Memory for a frame or message is taken as its bytes arrive, never as a
/// header announces them, and memory the system refuses fails that
/// connection with 1009 instead of aborting the process. Log lines a peer
/// could repeat thousands of times a second (refusals, failed TLS
/// handshakes, evictions) are written at most once a second each, with a
/// count of those left out. `RELIABILITY.md` measures each bound under
/// attack.
pub struct Server {
    listener: Listener,
    settings: Settings,
    websockets: Vec<WsRoute>,
    pages: Vec<HttpRoute>,
}

/// The settings every connection of a server shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub config: Config,
    pub stack_size: usize,
    pub limits: Limits,
    /// What all connections together may hold of messages being received.
    pub message_budget: Option<Arc<MessageBudget>>,
    pub keep_alive: Option<KeepAlive>,
    /// permessage-deflate, for routes that do not set their own.
    pub deflate: DeflateConfig,
    pub stop_timeout: Duration,
    pub detached_queue: usize,
    /// At most this many threads wait this long for the next connection.
    pub idle_threads: (usize, Duration),
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    pub tls: Option<ServerTls>,
}

/// How a server speaks TLS: one backend per server.
#[cfg(any(feature = "native-tls", feature = "rustls"))]
#[derive(Clone)]
pub(crate) enum ServerTls {
    #[cfg(feature = "native-tls")]
    NativeTls(Arc<native_tls::TlsAcceptor>),
    #[cfg(feature = "rustls")]
    Rustls(Arc<rustls::ServerConfig>),
}

impl Settings {
    /// Whether connections speak TLS.
    fn is_tls(&self) -> bool {
        #[cfg(any(feature = "native-tls", feature = "rustls"))]
        return self.tls.is_some();
        #[cfg(not(any(feature = "native-tls", feature = "rustls")))]
        return false;
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("config", &self.settings.config)
            .field("websockets", &self.websockets.len())
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl Server {
    /// Listen on `addr` (port 0 picks a free port: see
    /// [`ServerHandle::local_addr`]).
    ///
    /// # Errors
    /// The error of binding the socket.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?))
    }

    /// Serve on a listener bound elsewhere.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server::on(Listener::Tcp(listener))
    }

    /// Listen on a Unix domain socket at `path` (behind nginx, say, or for
    /// local clients only: the file's permissions say who may connect).
    /// Clients reach it with `ws+unix:/path:/resource` (see
    /// [`connect`](crate::connect)).
    ///
    /// A socket file left at `path` by a server that is gone is removed
    /// first: one that refuses connections. The file this server makes is
    /// removed when it stops ([`ServerHandle::stop`], or dropping the last
    /// handle), if it is still the same file.
    ///
    /// Unix peers have no IP address: their
    /// [`WebSocket::peer_address`](crate::WebSocket::peer_address) is
    /// `Address::Unix(None)` (a client's socket has no path), their
    /// `peer_addr` is `None`, and they count against every limit but
    /// [`max_connections_per_peer`](Self::max_connections_per_peer).
    ///
    /// ```no_run
    /// let server = syncws::Server::bind_unix("/run/app/ws.sock")?.start(|ws| {
    ///     let _ = ws.send_text("hello over a Unix socket");
    /// })?;
    /// let mut ws = syncws::connect("ws+unix:/run/app/ws.sock:/")?;
    /// println!("{:?}", ws.read_message()?);
    /// server.stop(); // removes /run/app/ws.sock
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `AddrInUse` if a server listens on `path`, or if `path` is a file
    /// that is not a socket (which is never removed); otherwise the error
    /// of removing the stale file or of binding.
    #[cfg(unix)]
    pub fn bind_unix(path: impl AsRef<std::path::Path>) -> io::Result<Server> {
        Ok(Server::on(listener::bind_unix(path.as_ref())?))
    }

    /// Serve on a Unix domain socket listener bound elsewhere. Its socket
    /// file is yours: the server does not remove it.
    #[cfg(unix)]
    pub fn from_unix_listener(listener: UnixListener) -> Server {
        Server::on(Listener::Unix {
            listener,
            made: None,
        })
    }

    fn on(listener: Listener) -> Server {
        Server {
            listener,
            settings: Settings {
                config: Config::default(),
                stack_size: DEFAULT_THREAD_STACK_SIZE,
                limits: Limits {
                    connections: None,
                    handshakes: DEFAULT_MAX_HANDSHAKES,
                    per_peer: None,
                },
                message_budget: None,
                keep_alive: None,
                deflate: DeflateConfig::default(),
                stop_timeout: DEFAULT_STOP_TIMEOUT,
                detached_queue: DEFAULT_DETACHED_QUEUE,
                idle_threads: (DEFAULT_IDLE_THREADS, DEFAULT_IDLE_KEEP),
                #[cfg(any(feature = "native-tls", feature = "rustls"))]
                tls: None,
            },
            websockets: Vec::new(),
            pages: Vec::new(),
        }
    }

    /// The IP address and port the server listens on.
    ///
    /// # Errors
    /// The I/O error of the socket; for a Unix domain socket, which has no
    /// IP address, an error of kind `Unsupported` (see
    /// [`local_address`](Self::local_address)).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.listener.local_address()? {
            Address::Ip(addr) => Ok(addr),
            unix => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{unix} has no IP address"),
            )),
        }
    }

    /// The address the server listens on, TCP or Unix.
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn local_address(&self) -> io::Result<Address> {
        self.listener.local_address()
    }

    /// Limits and timeouts of every connection (frame and message sizes,
    /// HTTP head size and header count, handshake and close timeouts).
    pub fn config(mut self, config: Config) -> Self {
        self.settings.config = config;
        self
    }

    /// The stack size of connection threads (default 256 KiB).
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.settings.stack_size = bytes;
        self
    }

    /// Connection threads are reused: after serving a connection, a thread
    /// waits up to `keep` for the next one, unless `count` threads wait
    /// already (default 64 threads, 10 s). Starting a thread costs several
    /// times what handing it a connection does, a large part of a short
    /// connection's cost. `idle_threads(0, _)` starts a thread for every
    /// connection.
    ///
    /// A thread's system name (`ps -L`, `top -H`, gdb) says which
    /// connection it serves: `syncws-N` for connection N, `syncws-idle`
    /// while it waits (on Linux; elsewhere, and for std, it is
    /// `syncws-conn`). Thread-local values a handler leaves behind are seen
    /// by the next connection on the same thread.
    pub fn idle_threads(mut self, count: usize, keep: Duration) -> Self {
        self.settings.idle_threads = (count, keep);
        self
    }

    /// At most this many connections at a time (default: no limit). A
    /// connection counts from the moment it is accepted, in its handshake,
    /// as a page request or as a WebSocket, until it ends: so this also
    /// bounds the server's threads. One more is refused at once by the
    /// accepting thread, which answers `503 Service Unavailable` (over TLS,
    /// which cannot be spoken before its handshake, it is closed) and
    /// starts no thread for it.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.settings.limits.connections = Some(limit);
        self
    }

    /// At most this many connections still in their opening handshake
    /// (TLS and HTTP) at a time (default 1024, and never more than
    /// [`max_connections`](Self::max_connections)); one more is refused at
    /// once, as above. Lower than `max_connections`, it keeps room for
    /// open connections while a peer opens sockets and trickles their
    /// requests (each handshake still ends within the handshake timeout).
    pub fn max_handshakes(mut self, limit: usize) -> Self {
        self.settings.limits.handshakes = limit;
        self
    }

    /// At most `bytes` of memory held by all connections together for the
    /// messages they are still receiving (default: no budget; each message
    /// is still bounded by `Config::max_message_size`). The connection
    /// whose message would pass it is failed with 1009 and its memory
    /// freed, while the others are served. Against many peers each
    /// sending most of a large message and never its end, whose worst case
    /// is otherwise `max_connections` × `max_message_size`. Message buffers
    /// grow with the bytes that arrive, so what counts is memory in use.
    pub fn message_budget(mut self, bytes: usize) -> Self {
        self.settings.message_budget = Some(Arc::new(MessageBudget::new(bytes)));
        self
    }

    /// At most this many connections from one IP address at a time
    /// (default: no limit); one more is refused at once, as above. Peers
    /// on a Unix domain socket have no address to tell them apart, and are
    /// not counted here (they are against every other limit).
    pub fn max_connections_per_peer(mut self, limit: usize) -> Self {
        self.settings.limits.per_peer = Some(limit);
        self
    }

    /// The length of the queue of connections the kernel has accepted and
    /// the server not yet taken (the `listen` backlog; std's default is
    /// 128). Connections beyond it wait in the kernel, or are refused.
    ///
    /// # Errors
    /// The error of `listen` on the socket.
    pub fn listen_backlog(self, backlog: u32) -> io::Result<Self> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self.listener.listen(backlog)?;
        Ok(self)
    }

    /// permessage-deflate (RFC 7692) for every route that does not set its
    /// own ([`Route::deflate`]). On by default (with the crate's `deflate`
    /// feature, itself on by default): a client that offers it (every
    /// browser does) gets its messages of at least
    /// [`threshold`](DeflateConfig::threshold) bytes compressed, and may
    /// compress its own. Off, offers are declined and nothing is
    /// compressed.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use syncws::{DeflateConfig, Server};
    ///
    /// let server = Server::bind("127.0.0.1:0")?
    ///     .deflate(DeflateConfig::default().level(1).hibernate_after(Duration::from_secs(2)))
    ///     .start(|_ws| {})?;
    /// let plain = Server::bind("127.0.0.1:0")?
    ///     .deflate(DeflateConfig::default().enabled(false))
    ///     .start(|_ws| {})?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.settings.deflate = config;
        self
    }

    /// Keep-alive for every route that does not set its own (see
    /// [`KeepAlive`]).
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.settings.keep_alive = Some(keep_alive);
        self
    }

    /// How long [`ServerHandle::stop`] waits for connections to close
    /// before dropping them (default 5 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stop_timeout = timeout;
        self
    }

    /// How many messages a detached connection keeps before it stops
    /// reading from the network (default 256).
    pub fn detached_queue(mut self, messages: usize) -> Self {
        self.settings.detached_queue = messages.max(1);
        self
    }

    /// Serve over TLS (`wss://` and `https://`) with this identity: a
    /// certificate chain and its private key, from PEM
    /// ([`native_tls::Identity::from_pkcs8`]) or PKCS#12
    /// ([`native_tls::Identity::from_pkcs12`]). Everything else works
    /// unchanged.
    ///
    /// ```no_run
    /// # fn demo(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// let identity = syncws::native_tls::Identity::from_pkcs8(cert_pem, key_pem)?;
    /// let server = syncws::Server::bind("127.0.0.1:0")?.tls(identity)?.start(|ws| {
    ///     let _ = ws.send_text("over TLS");
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error of building the TLS acceptor.
    #[cfg(feature = "native-tls")]
    pub fn tls(self, identity: native_tls::Identity) -> Result<Self, native_tls::Error> {
        Ok(self.tls_acceptor(native_tls::TlsAcceptor::new(identity)?))
    }

    /// Serve over TLS with an acceptor of your own making (protocol
    /// versions and the like). Replaces a TLS setting given before.
    #[cfg(feature = "native-tls")]
    pub fn tls_acceptor(mut self, acceptor: native_tls::TlsAcceptor) -> Self {
        self.settings.tls = Some(ServerTls::NativeTls(Arc::new(acceptor)));
        self
    }

    /// Serve over TLS through rustls, with this configuration (your
    /// certificate resolver, protocol versions, client authentication).
    /// Everything else works as with `tls` (native-tls), full duplex
    /// included. Replaces a TLS setting given before.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use syncws::rustls;
    /// use syncws::rustls::pki_types::pem::PemObject;
    /// use syncws::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    ///
    /// # fn demo(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// let chain = CertificateDer::pem_slice_iter(cert_pem).collect::<Result<Vec<_>, _>>()?;
    /// let key = PrivateKeyDer::from_pem_slice(key_pem)?;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)?;
    /// let server = syncws::Server::bind("127.0.0.1:0")?
    ///     .rustls(Arc::new(config))
    ///     .start(|ws| {
    ///         let _ = ws.send_text("over rustls");
    ///     })?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "rustls")]
    pub fn rustls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.settings.tls = Some(ServerTls::Rustls(config));
        self
    }

    /// Serve over TLS through rustls with a certificate chain (PEM, the
    /// server's certificate first, then its intermediates) and its private
    /// key (PEM: PKCS#8, PKCS#1 or SEC1), TLS 1.2 and 1.3, no client
    /// certificates: the rustls counterpart of `tls` (native-tls).
    ///
    /// ```no_run
    /// # fn demo(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// let server = syncws::Server::bind("127.0.0.1:0")?
    ///     .rustls_pem(cert_pem, key_pem)?
    ///     .start(|ws| {
    ///         let _ = ws.send_text("over rustls");
    ///     })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Tls`](crate::Error::Tls) if the certificate or the key
    /// cannot be read, or they do not belong together.
    #[cfg(feature = "rustls")]
    pub fn rustls_pem(self, certificate_chain: &[u8], private_key: &[u8]) -> crate::Result<Self> {
        let config = crate::transport::rustls_config::server_config_from_pem(
            certificate_chain,
            private_key,
        )?;
        Ok(self.rustls(config))
    }

    /// Serve WebSocket upgrades on `route` (a `&str` is an exact path) with
    /// a closure that takes the [`WebSocket`](crate::WebSocket) (Zinc's
    /// block handler). The connection closes when it returns.
    pub fn websocket<F>(self, route: impl Into<Route>, handler: F) -> Self
    where
        F: Fn(crate::WebSocket) + Send + Sync + 'static,
    {
        self.websocket_handler(route, handler)
    }

    /// Serve WebSocket upgrades on `route` with a [`Handler`]: a type of
    /// yours that can hold state shared by its connections, or [`events`]
    /// around an [`EventHandler`].
    pub fn websocket_handler(mut self, route: impl Into<Route>, handler: impl Handler) -> Self {
        self.websockets.push(WsRoute {
            route: route.into(),
            handler: Arc::new(handler),
        });
        self
    }

    /// Answer plain HTTP requests on `route` with `handler`.
    pub fn http<F>(mut self, route: impl Into<Route>, handler: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.pages.push(HttpRoute {
            route: route.into(),
            handler: Arc::new(handler),
        });
        self
    }

    /// Serve a fixed page on `path` (for instance an HTML page whose script
    /// opens a WebSocket on the same port).
    pub fn page(self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let response = Response::new(200).with_body(content_type, body);
        self.http(path, move |_| response.clone())
    }

    /// Serve every path with `handler`, in a background thread.
    ///
    /// # Errors
    /// The error of starting the accepting thread.
    pub fn start<F>(self, handler: F) -> io::Result<ServerHandle>
    where
        F: Fn(crate::WebSocket) + Send + Sync + 'static,
    {
        self.websocket(Route::any(), handler).serve()
    }

    /// Serve every path with `handler` on the calling thread, until the
    /// listener fails.
    ///
    /// # Errors
    /// The error of starting the accepting thread.
    pub fn run<F>(self, handler: F) -> io::Result<()>
    where
        F: Fn(crate::WebSocket) + Send + Sync + 'static,
    {
        self.start(handler)?.join();
        Ok(())
    }

    /// Serve the routes in a background thread. The handle tells the
    /// address, lists the connections and stops the server; dropping the
    /// last clone of it stops the server too.
    ///
    /// # Errors
    /// The error of starting the accepting thread.
    pub fn serve(self) -> io::Result<ServerHandle> {
        let local = self.listener.local_address()?;
        let waker = self.listener.waker()?;
        let shared = Arc::new(Shared {
            settings: self.settings,
            websockets: self.websockets,
            pages: self.pages,
            registry: Arc::new(Registry::default()),
            workers: workers::Workers::new(),
            stopping: AtomicBool::new(false),
            idle_threads: AtomicUsize::new(0),
            accepting: Mutex::new(true),
            accept_ended: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        let listener = self.listener;
        let accept = thread::Builder::new()
            .name(match &local {
                Address::Ip(addr) => format!("syncws-accept-{}", addr.port()),
                Address::Unix(_) => "syncws-accept-unix".to_owned(),
            })
            .spawn(move || accept_loop(listener, &accepting))?;
        Ok(ServerHandle {
            inner: Arc::new(HandleInner {
                local,
                waker,
                shared,
                accept: Mutex::new(Some(accept)),
            }),
        })
    }
}

/// What the accepting thread and every connection thread share.
pub(crate) struct Shared {
    pub settings: Settings,
    pub websockets: Vec<WsRoute>,
    pub pages: Vec<HttpRoute>,
    pub registry: Arc<Registry>,
    /// Where connections are handed to threads.
    workers: workers::Workers,
    pub stopping: AtomicBool,
    /// Connection threads waiting for the next connection.
    pub idle_threads: AtomicUsize,
    /// True until the accepting thread has closed the listener.
    accepting: Mutex<bool>,
    accept_ended: Condvar,
}

impl Shared {
    /// Admit a connection (accepted, or handed over by a handle) and give
    /// it to a connection thread, or refuse it at once (see
    /// `admission.rs`).
    fn hand_over(self: &Arc<Self>, socket: Socket, peer: Option<Address>, start: Start) {
        let n = self.registry.next_id();
        let stream = Arc::new(socket);
        // Unix peers have no IP address, and are not counted per peer.
        let ip = peer.as_ref().and_then(Address::socket_addr).map(|a| a.ip());
        // A head read by another loop came in the clear, unless that loop
        // handed over its rustls connection.
        let tls = match &start {
            Start::Accepted => self.settings.is_tls(),
            Start::Upgrade(_) => false,
            #[cfg(feature = "rustls")]
            Start::UpgradeRustls(..) => true,
        };
        match self.registry.admit(n, ip, &stream, &self.settings.limits) {
            Ok(admission) => self.workers.serve(
                self,
                workers::Job {
                    n,
                    stream,
                    peer,
                    admission,
                    start,
                },
            ),
            Err(refusal) => admission::refuse(&stream, tls, refusal),
        }
    }

    /// Wait until the listener is closed.
    fn wait_accept_ended(&self) {
        let mut accepting = self.accepting.lock().unwrap_or_else(|e| e.into_inner());
        while *accepting {
            accepting = self
                .accept_ended
                .wait(accepting)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn accept_loop(listener: Listener, shared: &Arc<Shared>) {
    serve_listener(&listener, shared);
    // Closes it, and removes the socket file it made.
    drop(listener);
    *shared.accepting.lock().unwrap_or_else(|e| e.into_inner()) = false;
    shared.accept_ended.notify_all();
}

fn serve_listener(listener: &Listener, shared: &Arc<Shared>) {
    serve_accepted(listener, shared);
    // The threads waiting for a connection end.
    shared.workers.close();
}

fn serve_accepted(listener: &Listener, shared: &Arc<Shared>) {
    loop {
        // `accept` tells the peer's address: no `getpeername` later.
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or memory: back off a little
                // instead of spinning, and keep serving.
                ACCEPT_FAILED.note(|left_out| {
                    log::warn!("accept failed: {e} ({left_out} more in the last second)");
                });
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.hand_over(stream, Some(peer), Start::Accepted);
    }
}

/// Failed `accept`s are logged once a second at most.
static ACCEPT_FAILED: Throttled = Throttled::new();

/// A running server: tells its address, lists and reaches its connections,
/// and stops it. Clones share the server; dropping the last one stops it.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    local: Address,
    /// Wakes the accepting thread at `stop`.
    waker: Waker,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local", &self.inner.local)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The IP address the server listens on, with the real port when it
    /// was bound to port 0.
    ///
    /// # Panics
    /// If the server listens on a Unix domain socket, which has no IP
    /// address: ask [`local_address`](Self::local_address) instead.
    pub fn local_addr(&self) -> SocketAddr {
        match &self.inner.local {
            Address::Ip(addr) => *addr,
            unix => {
                panic!("the server listens on {unix}, which has no IP address: use local_address")
            }
        }
    }

    /// The address the server listens on, TCP or Unix.
    ///
    /// ```no_run
    /// let server = syncws::Server::bind_unix("/tmp/app.sock")?.start(|_| {})?;
    /// assert_eq!(
    ///     server.local_address(),
    ///     &syncws::Address::Unix(Some("/tmp/app.sock".into()))
    /// );
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_address(&self) -> &Address {
        &self.inner.local
    }

    /// Serve a stream you accepted yourself (on a listener of your own,
    /// from a socket activation, from another process) as if the server
    /// had accepted it: it counts against the same limits (refused at once
    /// beyond them), goes to a connection thread, gets the TLS handshake if
    /// the server speaks TLS, and its request is routed, checked against
    /// the route's origins and subprotocols, hooked and served like any
    /// other. Returns at once.
    ///
    /// ```no_run
    /// use std::net::TcpListener;
    ///
    /// let server = syncws::Server::bind("127.0.0.1:0")?.start(|ws| {
    ///     let _ = ws.send_text("hello");
    /// })?;
    /// let mine = TcpListener::bind("127.0.0.1:9001")?;
    /// for stream in mine.incoming() {
    ///     server.serve_stream(stream?)?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// If the server has stopped, or the stream cannot be made blocking
    /// (the stream is then closed).
    pub fn serve_stream(&self, stream: impl Into<Socket>) -> io::Result<()> {
        self.hand_over(stream.into(), Start::Accepted)
    }

    /// Take over a request another HTTP loop has read the head of (a
    /// server of your own that serves pages and hands WebSocket upgrades
    /// on): `request` is its head (from
    /// [`parse_request`](crate::protocol::handshake::parse_request) on the
    /// bytes read, or [`Request::from_parts`]), `rest` the bytes read past
    /// the head (the first frames, if the client sent them at once), and
    /// `stream` the connection, in the clear: the server does no TLS on it.
    ///
    /// It is served as the server's own requests are, on a connection
    /// thread, counted against the same limits: the upgrade is judged by
    /// RFC 6455 and the route (origins, subprotocols, the before-upgrade
    /// hook), answered with `101` and the route's handler, or with the
    /// refusal (400, 403, 404, 426, 503, ...) itself; a request that is
    /// not an upgrade gets the server's page for its path, or 404. Returns
    /// at once.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use std::net::TcpListener;
    /// use syncws::protocol::handshake::parse_request;
    ///
    /// let server = syncws::Server::bind("127.0.0.1:0")?.start(|ws| {
    ///     let _ = ws.send_text("upgraded");
    /// })?;
    /// let (mut stream, _) = TcpListener::bind("127.0.0.1:8080")?.accept()?;
    /// let mut buf = vec![0; 8192];
    /// let n = stream.read(&mut buf)?; // a real loop reads until the head is whole
    /// if let Some((request, head_len)) = parse_request(&buf[..n], 8192, 64)? {
    ///     let rest = buf[head_len..n].to_vec();
    ///     server.upgrade(request, rest, stream)?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`serve_stream`](Self::serve_stream).
    pub fn upgrade(
        &self,
        request: Request,
        rest: Vec<u8>,
        stream: impl Into<Socket>,
    ) -> io::Result<()> {
        let head = Box::new(ReadHead { request, rest });
        self.hand_over(stream.into(), Start::Upgrade(head))
    }

    /// As [`upgrade`](Self::upgrade), for a request that another HTTP loop
    /// read over TLS it speaks with rustls: `tls` is that loop's rustls
    /// connection, its handshake done, and `stream` the socket under it.
    /// `rest` is the plaintext read past the head; what rustls holds
    /// (records received, plaintext not yet read) goes on with `tls`. The
    /// connection is then as full duplex as the server's own wss ones: it
    /// runs on the same transport (the server's own TLS settings are not
    /// used).
    ///
    /// A native-tls stream cannot be handed over so: its TLS state cannot
    /// be taken out of it, and a connection on it could not be read by
    /// one thread while others write.
    ///
    /// ```no_run
    /// # #[cfg(feature = "rustls")] {
    /// use std::io::Read;
    /// use std::net::TcpListener;
    /// use std::sync::Arc;
    /// use syncws::protocol::handshake::parse_request;
    /// use syncws::rustls;
    ///
    /// # fn config() -> Arc<rustls::ServerConfig> { unimplemented!() }
    /// let server = syncws::Server::bind("127.0.0.1:0")?.start(|ws| {
    ///     let _ = ws.send_text("upgraded over TLS");
    /// })?;
    /// let (tcp, _) = TcpListener::bind("127.0.0.1:8443")?.accept()?;
    /// let connection = rustls::ServerConnection::new(config())?;
    /// let mut tls = rustls::StreamOwned::new(connection, tcp);
    /// let mut buf = vec![0; 8192];
    /// let n = tls.read(&mut buf)?; // a real loop reads until the head is whole
    /// if let Some((request, head_len)) = parse_request(&buf[..n], 8192, 64)? {
    ///     let rest = buf[head_len..n].to_vec();
    ///     let rustls::StreamOwned { conn, sock } = tls;
    ///     server.upgrade_rustls(request, rest, sock, conn)?;
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`serve_stream`](Self::serve_stream).
    #[cfg(feature = "rustls")]
    pub fn upgrade_rustls(
        &self,
        request: Request,
        rest: Vec<u8>,
        stream: impl Into<Socket>,
        tls: rustls::ServerConnection,
    ) -> io::Result<()> {
        let head = Box::new(ReadHead { request, rest });
        self.hand_over(stream.into(), Start::UpgradeRustls(head, Box::new(tls)))
    }

    fn hand_over(&self, socket: Socket, start: Start) -> io::Result<()> {
        let shared = &self.inner.shared;
        if shared.stopping.load(Ordering::Acquire) {
            return Err(io::Error::other("the server has stopped"));
        }
        // A stream from a non-blocking listener of the caller's may be
        // non-blocking itself: socket timeouts would then mean nothing.
        socket.set_nonblocking(false)?;
        let peer = socket.peer_address().ok();
        shared.hand_over(socket, peer, start);
        Ok(())
    }

    /// The open WebSocket connections, by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.inner.shared.registry.list()
    }

    /// A sending handle for the connection `id`, if it is open.
    pub fn sender(&self, id: ConnectionId) -> Option<Sender> {
        self.inner.shared.registry.sender(id)
    }

    /// Take up a [detached](crate::WebSocket::detach) connection: read the messages
    /// it queued, and send on it. `None` if `id` is not open or not
    /// detached.
    pub fn attach(&self, id: ConnectionId) -> Option<Attached> {
        self.inner.shared.registry.attach(id)
    }

    /// Stop: accept no more connections, close every open one with 1001
    /// (going away), wait for their threads up to the stop timeout, then
    /// drop whatever is left and return. Calling it again does nothing.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// A handle that does not keep the server running, for a handler that
    /// needs its own server (to list connections, say): a handler holding a
    /// `ServerHandle` would keep the server alive forever.
    pub fn downgrade(&self) -> WeakServerHandle {
        WeakServerHandle {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Wait until the server has stopped (by [`stop`](Self::stop) from
    /// another clone, or because the listener failed).
    pub fn join(&self) {
        self.inner.shared.wait_accept_ended();
    }
}

/// A [`ServerHandle`] that does not keep the server running; see
/// [`ServerHandle::downgrade`].
#[derive(Clone)]
pub struct WeakServerHandle {
    inner: std::sync::Weak<HandleInner>,
}

impl std::fmt::Debug for WeakServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakServerHandle").finish_non_exhaustive()
    }
}

impl WeakServerHandle {
    /// The server's handle, if it still runs.
    pub fn upgrade(&self) -> Option<ServerHandle> {
        self.inner.upgrade().map(|inner| ServerHandle { inner })
    }
}

impl HandleInner {
    fn stop(&self) {
        let shared = &self.shared;
        if shared.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accepting thread, blocked in accept(), with a connection
        // of our own; it sees `stopping` and ends, closing the listener
        // (and removing the socket file it made).
        self.waker.wake();
        let accept = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(accept) = accept {
            let _ = accept.join();
        }
        shared.wait_accept_ended();
        // Nobody will be served now: do not wait for slow handshakes.
        shared.registry.abort_handshakes();
        let deadline = Instant::now() + shared.settings.stop_timeout;
        // Queuing close frames never waits for the network, but writing one
        // may if a socket's buffer is full: do it on a thread of its own,
        // which dropping the connections below unblocks.
        let closing = Arc::clone(shared);
        let closer = thread::Builder::new()
            .name("syncws-stop".into())
            .spawn(move || {
                closing
                    .registry
                    .close_all(CloseCode::GoingAway, "server stopping")
            });
        if !shared.registry.wait_threads(deadline) {
            shared.registry.abort_all();
            if !shared
                .registry
                .wait_threads(Instant::now() + Duration::from_secs(1))
            {
                log::warn!("stop: some connection handlers did not return");
            }
        }
        if let Ok(closer) = closer {
            let _ = closer.join();
        }
        log::info!("server on {} stopped", self.local);
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a connection ended, as told to the after-close hook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The close handshake completed; the peer's close frame.
    Closed(CloseFrame),
    /// The connection failed (protocol violation, I/O error, keep-alive
    /// timeout): what happened.
    Failed(String),
    /// The handler returned while the connection was open; it was closed
    /// with 1000.
    HandlerReturned,
    /// The handler panicked; the connection was closed with 1011.
    HandlerPanicked(String),
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::Closed(frame) => write!(f, "closed by the close handshake: {frame}"),
            EndReason::Failed(why) => write!(f, "failed: {why}"),
            EndReason::HandlerReturned => f.write_str("handler returned: closed with 1000"),
            EndReason::HandlerPanicked(what) => {
                write!(f, "handler panicked: closed with 1011: {what}")
            }
        }
    }
}

/// A connection that has ended, as told to the after-close hook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionEnd {
    /// What the connection was.
    pub info: ConnectionInfo,
    /// How long it was open.
    pub duration: Duration,
    /// How it ended.
    pub reason: EndReason,
}

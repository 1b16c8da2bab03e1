//! A minimal server: a thread per connection, each upgraded and handed to
//! the user's handler as a blocking [`WebSocket`].

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, HandshakeError};
use crate::http::{handshake_io, read_head, set_deadline};
use crate::protocol::Role;
use crate::protocol::handshake::{Response, accept_response, check_upgrade, parse_request};
use crate::websocket::{Transport, WebSocket};

/// Default stack size of a connection thread. The memory is reserved, not
/// used: only the pages a handler touches count.
pub const DEFAULT_THREAD_STACK_SIZE: usize = 256 << 10;

/// A WebSocket server on a [`TcpListener`], one thread per connection.
///
/// ```no_run
/// use syncws::Server;
///
/// let server = Server::bind("127.0.0.1:0")?.start(|mut ws| {
///     let sender = ws.sender();
///     let _ = ws.run_with(|message| sender.send_message(&message));
/// })?;
/// println!("echo server on ws://{}/", server.local_addr());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Config,
    stack_size: usize,
}

impl Server {
    /// Listen on `addr` (port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr)).
    ///
    /// # Errors
    /// The error of binding the socket.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?))
    }

    /// Serve on a listener bound elsewhere.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            config: Config::default(),
            stack_size: DEFAULT_THREAD_STACK_SIZE,
        }
    }

    /// Limits and timeouts of every connection.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The stack size of connection threads (default 256 KiB).
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve in a background thread; the handle tells the address and stops
    /// the server.
    ///
    /// # Errors
    /// The error of starting the accepting thread.
    pub fn start<H>(self, handler: H) -> io::Result<ServerHandle>
    where
        H: Fn(WebSocket) + Send + Sync + 'static,
    {
        let local_addr = self.listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        let accept = thread::Builder::new()
            .name(format!("syncws-accept-{}", local_addr.port()))
            .spawn(move || self.accept_loop(Arc::new(handler), &flag))?;
        Ok(ServerHandle {
            local_addr,
            stopping,
            accept: Some(accept),
        })
    }

    /// Serve on the calling thread, forever.
    ///
    /// # Errors
    /// Never returns in normal operation; the error of the listener if it
    /// fails for good.
    pub fn run<H>(self, handler: H) -> io::Result<()>
    where
        H: Fn(WebSocket) + Send + Sync + 'static,
    {
        self.accept_loop(Arc::new(handler), &AtomicBool::new(false));
        Ok(())
    }

    fn accept_loop<H>(self, handler: Arc<H>, stopping: &AtomicBool)
    where
        H: Fn(WebSocket) + Send + Sync + 'static,
    {
        let next_id = AtomicU64::new(1);
        let config = Arc::new(self.config);
        for stream in self.listener.incoming() {
            if stopping.load(Ordering::Acquire) {
                break;
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors or memory: back off a little
                    // instead of spinning, and keep serving.
                    log::warn!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let handler = Arc::clone(&handler);
            let config = Arc::clone(&config);
            let spawned = thread::Builder::new()
                .name(format!("syncws-conn-{id}"))
                .stack_size(self.stack_size)
                .spawn(move || serve_connection(id, stream, &config, &*handler));
            if let Err(e) = spawned {
                log::warn!("could not start a thread for connection {id}: {e}");
            }
        }
    }
}

/// A running server: tells its address, and stops it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on, with the real port when it was
    /// bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting connections. Connections already open go on until
    /// their handlers return.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stopping.store(true, Ordering::Release);
        // Wake the accepting thread, blocked in accept(), with a connection
        // of our own.
        let _ = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        let _ = accept.join();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (an unspecified address is reached on loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// One connection's thread: the handshake, then the handler.
fn serve_connection<H>(id: u64, stream: TcpStream, config: &Config, handler: &H)
where
    H: Fn(WebSocket) + ?Sized,
{
    let peer = stream.peer_addr().ok();
    let ws = match upgrade(stream, config) {
        Ok(ws) => ws,
        Err(e) => {
            log::debug!("connection {id} from {peer:?}: upgrade failed: {e}");
            return;
        }
    };
    let path = ws
        .request()
        .map(|r| r.path().to_owned())
        .unwrap_or_default();
    log::info!("connection {id} from {peer:?} opened on {path}");
    let started = Instant::now();
    // A panicking handler must not take the server down. The `WebSocket` it
    // held is dropped while unwinding, which closes with 1011.
    if catch_unwind(AssertUnwindSafe(|| handler(ws))).is_err() {
        log::error!("connection {id} on {path}: handler panicked");
    }
    log::info!(
        "connection {id} from {peer:?} on {path} closed after {:?}",
        started.elapsed()
    );
}

/// Perform the server side of the opening handshake.
fn upgrade(stream: TcpStream, config: &Config) -> Result<WebSocket, Error> {
    // Small messages go out at once, not after Nagle's delay.
    stream.set_nodelay(true).map_err(handshake_io)?;
    let deadline = config.handshake_timeout.map(|t| Instant::now() + t);
    let head = read_head(&stream, deadline, |buf| {
        parse_request(buf, config.max_head_size, config.max_headers)
    });
    let (mut request, rest) = match head {
        Ok(head) => head,
        Err(Error::Handshake(e)) => {
            let status = match e {
                HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => 431,
                HandshakeError::Io(_) => return Err(Error::Handshake(e)),
                _ => 400,
            };
            refuse(
                &stream,
                &Response::new(status).with_body("text/plain", e.to_string()),
            );
            return Err(Error::Handshake(e));
        }
        Err(e) => return Err(e),
    };
    let key = match check_upgrade(&request) {
        Ok(key) => key,
        Err(response) => {
            refuse(&stream, &response);
            return Err(Error::Handshake(HandshakeError::Invalid(format!(
                "refused with {}",
                response.status
            ))));
        }
    };
    set_deadline(&stream, deadline)?;
    (&stream)
        .write_all(&accept_response(
            &key,
            None,
            &[("Server".into(), "syncws".into())],
        ))
        .map_err(handshake_io)?;
    stream.set_read_timeout(None).map_err(handshake_io)?;
    stream.set_write_timeout(None).map_err(handshake_io)?;
    if let Ok(peer) = stream.peer_addr() {
        request.set_peer_addr(peer);
    }
    let mut ws = WebSocket::from_transport(Transport::Tcp(stream), Role::Server, config, &rest)?;
    ws.set_request(request);
    Ok(ws)
}

/// Answer a request that is not a valid upgrade, and close.
fn refuse(stream: &TcpStream, response: &Response) {
    log::info!(
        "refused upgrade from {:?}: {}",
        stream.peer_addr().ok(),
        response.status
    );
    let _ = (&*stream).write_all(&response.to_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

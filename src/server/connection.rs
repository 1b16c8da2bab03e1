//! One connection's thread: read the request head, route it, answer a page
//! or refuse or accept the upgrade, run the handler, then report the end.

use std::io::Write;
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Sender as WebSocketSender;
use crate::error::{Error, HandshakeError};
use crate::protocol::Role;
use crate::protocol::address::Address;
use crate::protocol::handshake::{
    Headers, Request, Response, check_upgrade, encode_accept_response, parse_request,
};
use crate::protocol::message::CloseCode;
use crate::protocol::session::State;
use crate::server::admission::Admission;
use crate::server::detached::{self, ServerHome};
use crate::server::route::{Route, Upgrade, best_match, best_match_index};
use crate::server::workers::{Job, ReadHead, Start};
use crate::server::{ConnectionEnd, ConnectionId, ConnectionInfo, EndReason, Shared};
use crate::throttle::Throttled;
use crate::transport::head::read_head;
use crate::transport::{Socket, Transport};
use crate::websocket::{Home, Opened, WebSocket};

/// Failed TLS handshakes and refused requests are logged once a second at
/// most: a peer can cause thousands a second.
#[cfg(any(feature = "native-tls", feature = "rustls"))]
static TLS_FAILED: Throttled = Throttled::new();
static REFUSED: Throttled = Throttled::new();

/// A write of at most this many bytes to a new connection cannot block:
/// the kernel's send buffer takes it whole (Linux starts it at 16 KiB).
const NEVER_BLOCKS: usize = 4096;

/// The handshake's deadline for writes, set on the socket only before a
/// write that could block on a peer that does not read (a large page, a
/// TLS handshake): the usual upgrade then sets no write timeout, and has
/// none to take off again.
struct Bounded {
    deadline: Option<Instant>,
    /// A write timeout is set on the socket.
    set: bool,
}

impl Bounded {
    /// Set the socket's write timeout to the time left.
    fn set_on(
        &mut self,
        set_write_timeout: impl FnOnce(Option<Duration>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let left = match self.deadline {
            Some(deadline) => Some(
                deadline
                    .checked_duration_since(Instant::now())
                    .filter(|left| !left.is_zero())
                    .ok_or(std::io::ErrorKind::TimedOut)?,
            ),
            None => None,
        };
        set_write_timeout(left)?;
        self.set = true;
        Ok(())
    }

    /// Write all of `bytes`, by the deadline if they could block. (The
    /// timeout is set again after each partial write: the kernel starts
    /// it over with every write.)
    fn write(&mut self, stream: &Transport, mut bytes: &[u8]) -> std::io::Result<()> {
        if bytes.len() <= NEVER_BLOCKS {
            return (&*stream).write_all(bytes);
        }
        while !bytes.is_empty() {
            self.set_on(|t| stream.set_write_timeout(t))?;
            match (&*stream).write(bytes) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// An upgrade that was accepted: everything needed to start the handler.
struct Accepted {
    /// Its index in `Shared::websockets` (not a clone of the route: that
    /// would allocate its path and protocols again for every connection).
    route: usize,
    /// Taken by the `WebSocket`.
    request: Option<Request>,
    /// Bytes that followed the request head: the first frames.
    rest: Vec<u8>,
    /// Taken by the `WebSocket`.
    protocol: Option<String>,
    upgrade: Upgrade,
    /// The client's `Sec-WebSocket-Key`, for the `101`.
    key: String,
    /// The handshake's deadline for writes, for the `101`.
    bounded: Bounded,
}

/// Serve the connection numbered `n` on its own thread.
///
/// The handshake and the handler run in two calls, one after the other,
/// so that the deepest stack of a long-lived connection is that of its
/// handler only: the handshake's locals (the request head, the TLS
/// handshake, the response) are gone by then. An idle connection then
/// touches two pages of stack rather than three (see BENCHMARKS.md).
pub(crate) fn serve(shared: &Arc<Shared>, job: Job) {
    let Job {
        n,
        stream,
        peer,
        mut admission,
        start,
    } = job;
    // (`admission` counts it against the connection limit until it is
    // dropped, when this returns.)
    let Some((mut opened, mut accepted)) = handshake(shared, stream, peer, start, &mut admission)
    else {
        return;
    };
    if send_upgrade(shared, &mut opened, &mut accepted).is_some() {
        run_websocket(shared, ConnectionId(n), opened, accepted);
    }
}

/// Answer the request on a new connection; `Some` if it was an upgrade
/// that was accepted.
#[inline(never)]
fn handshake(
    shared: &Arc<Shared>,
    socket: Arc<Socket>,
    peer: Option<Address>,
    start: Start,
    admission: &mut Admission,
) -> Option<(Box<Opened>, Box<Accepted>)> {
    // Small messages go out at once, not after Nagle's delay.
    let _ = socket.set_nodelay();
    let timeout = shared.settings.config.handshake_timeout;
    let deadline = timeout.map(|t| Instant::now() + t);
    // Set once: reads of the handshake end by the deadline. A write is
    // bounded too where it could block (see `Bounded`).
    if socket.set_read_timeout(timeout).is_err() {
        return None;
    }
    let mut bounded = Bounded {
        deadline,
        set: false,
    };
    let (stream, head) = match start {
        Start::Accepted => (
            open_stream(shared, socket, peer.as_ref(), &mut bounded)?,
            None,
        ),
        // Read by another HTTP loop, in the clear.
        Start::Upgrade(head) => (Transport::Plain(socket), Some(head)),
        #[cfg(feature = "rustls")]
        Start::UpgradeRustls(head, tls) => (
            resume_rustls(tls, socket, peer.as_ref(), &mut bounded)?,
            Some(head),
        ),
    };
    let mut accepted = answer_request(
        shared,
        &stream,
        head,
        peer.clone(),
        deadline,
        &mut bounded,
        admission,
    )?;
    // Both on the heap: what is returned lives in the caller's frame,
    // which stays on the stack below every call of the handshake and the
    // handler.
    let opened = Box::new(Opened {
        transport: stream,
        peer,
        leftover: std::mem::take(&mut accepted.rest),
        // At most this is left on the socket from the handshake.
        socket_timeout: timeout,
        write_timeout_set: bounded.set,
        protocol: accepted.protocol.take(),
        request: accepted.request.take(),
        budget: shared.settings.message_budget.clone(),
        deflate: None,
    });
    accepted.bounded = bounded;
    Some((opened, Box::new(accepted)))
}

/// The stream to speak HTTP on: the socket, or TLS over it once the TLS
/// handshake is done (within the handshake deadline: a client that speaks
/// plain HTTP or garbage to a TLS port, or stalls, is dropped).
#[inline(never)]
fn open_stream(
    shared: &Shared,
    socket: Arc<Socket>,
    peer: Option<&Address>,
    bounded: &mut Bounded,
) -> Option<Transport> {
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    if let Some(tls) = &shared.settings.tls {
        // The server's certificates may be more than a socket buffer.
        bounded.set_on(|t| socket.set_write_timeout(t)).ok()?;
        return match tls_accept(tls, socket, bounded.deadline) {
            Ok(stream) => Some(stream),
            Err(e) => {
                TLS_FAILED.note(|left_out| {
                    log::info!(
                        "TLS handshake with {} failed: {e} ({left_out} more in the last second)",
                        show(peer)
                    );
                });
                None
            }
        };
    }
    let _ = (shared, peer, bounded);
    Some(Transport::Plain(socket))
}

/// The TLS of a connection another loop took through its handshake with
/// rustls: what it still has to send goes out by the deadline, and the
/// connection goes on over the server's rustls transport.
#[cfg(feature = "rustls")]
#[inline(never)]
fn resume_rustls(
    tls: Box<rustls::ServerConnection>,
    socket: Arc<Socket>,
    peer: Option<&Address>,
    bounded: &mut Bounded,
) -> Option<Transport> {
    bounded.set_on(|t| socket.set_write_timeout(t)).ok()?;
    match crate::transport::rustls::handshake((*tls).into(), socket, bounded.deadline) {
        Ok(transport) => Some(Transport::Rustls(Arc::new(transport))),
        Err(e) => {
            TLS_FAILED.note(|left_out| {
                log::info!(
                    "TLS with {} handed over failed: {e} ({left_out} more in the last second)",
                    show(peer)
                );
            });
            None
        }
    }
}

/// The server's side of the TLS handshake, all of it by `deadline`.
///
/// (Out of line: inlined into `open_stream`, the TLS libraries' values on
/// its frame made every plain connection's handshake reach a third page
/// of stack, 17.0 KiB per idle connection in the bench's idle row.)
#[cfg(any(feature = "native-tls", feature = "rustls"))]
#[inline(never)]
fn tls_accept(
    tls: &crate::server::ServerTls,
    socket: Arc<Socket>,
    deadline: Option<Instant>,
) -> Result<Transport, Error> {
    use crate::server::ServerTls;
    match tls {
        #[cfg(feature = "native-tls")]
        ServerTls::NativeTls(acceptor) => {
            use crate::transport::{Pipe, TlsTransport};
            match acceptor.accept(Pipe::new(socket, deadline)) {
                Ok(stream) => Ok(Transport::Tls(Arc::new(TlsTransport::new(stream)))),
                Err(native_tls::HandshakeError::Failure(e)) => Err(e.into()),
                Err(native_tls::HandshakeError::WouldBlock(_)) => {
                    Err(Error::Timeout(crate::error::Timeout::Handshake))
                }
            }
        }
        #[cfg(feature = "rustls")]
        ServerTls::Rustls(config) => {
            let connection = rustls::ServerConnection::new(Arc::clone(config))?;
            let transport =
                crate::transport::rustls::handshake(connection.into(), socket, deadline)?;
            Ok(Transport::Rustls(Arc::new(transport)))
        }
    }
}

/// Read the request (unless another loop has: `head`) and answer it,
/// unless it is an upgrade that is accepted: then the `101` has been sent
/// and the connection is the caller's.
fn answer_request(
    shared: &Shared,
    stream: &Transport,
    head: Option<Box<ReadHead>>,
    peer: Option<Address>,
    deadline: Option<Instant>,
    bounded: &mut Bounded,
    admission: &mut Admission,
) -> Option<Accepted> {
    // Each step below that has locals of its own is a call of its own, so
    // that their frames are side by side rather than stacked (see `serve`).
    let (mut request, rest) = match head {
        Some(head) => (head.request, head.rest),
        None => read_request(shared, stream, deadline, bounded)?,
    };
    if let Some(peer) = peer {
        request.set_peer(peer);
    }
    if shared.stopping.load(Ordering::Acquire) {
        respond(
            stream,
            bounded,
            Some(&request),
            &Response::text(503, "the server is stopping"),
        );
        return None;
    }
    let websocket_index = best_match_index(&shared.websockets, request.path(), |r| &r.route);
    if !request.is_upgrade() {
        answer_page(shared, stream, bounded, &request, websocket_index.is_some());
        return None;
    }
    let Some(route_index) = websocket_index else {
        respond(
            stream,
            bounded,
            Some(&request),
            &Response::text(404, "no WebSocket here"),
        );
        return None;
    };
    let (key, protocol, upgrade) =
        match decide_upgrade(&shared.websockets[route_index].route, &request) {
            Ok(decided) => decided,
            Err(refusal) => {
                respond(stream, bounded, Some(&request), &refusal);
                return None;
            }
        };
    // Open from now on: no longer a connection in its handshake, which
    // `stop` would drop without a word once the client has its `101`; a
    // stop from now on finds it open (or, before it is listed, it sees the
    // stop when it is), and closes it with 1001.
    admission.handshake_over();
    Some(Accepted {
        route: route_index,
        request: Some(request),
        rest,
        protocol,
        upgrade,
        key,
        bounded: Bounded {
            deadline: None,
            set: false,
        },
    })
}

/// Agree on permessage-deflate and send `101 Switching Protocols`; `None`
/// if it could not be sent. (Called by `serve`, after the handshake's
/// other calls have returned, not from under their frames: an idle
/// connection's deepest stack point is here, 8,200 bytes below the top
/// of the stack when it was called by `answer_request`, and past 8 KiB a
/// connection thread touches a third page.)
#[inline(never)]
fn send_upgrade(shared: &Shared, opened: &mut Opened, accepted: &mut Accepted) -> Option<()> {
    let request = opened.request.as_ref()?;
    let (stream, bounded) = (&opened.transport, &mut accepted.bounded);
    let deflate = shared.websockets[accepted.route]
        .route
        .negotiate_deflate(request, &shared.settings.deflate);
    send_switching(
        stream,
        bounded,
        &accepted.key,
        opened.protocol.as_deref(),
        deflate.as_deref().map(|(answer, _)| answer.as_str()),
        &accepted.upgrade.headers,
    )
    .ok()?;
    opened.write_timeout_set = bounded.set;
    opened.deflate = deflate.map(|agreed| agreed.1);
    Some(())
}

/// What a running connection's thread keeps for when its handler returns.
struct Running {
    /// Its index in `Shared::websockets`.
    route: usize,
    info: ConnectionInfo,
    sender: WebSocketSender,
    home: Arc<ServerHome>,
    started: Instant,
}

/// Read the request head within the deadline; answer a malformed or
/// oversized one (400, 431).
#[inline(never)]
fn read_request(
    shared: &Shared,
    stream: &Transport,
    deadline: Option<Instant>,
    bounded: &mut Bounded,
) -> Option<(Request, Vec<u8>)> {
    let config = &shared.settings.config;
    let head = read_head(stream, deadline, |buf| {
        parse_request(buf, config.max_head_size, config.max_headers)
    });
    match head {
        Ok(head) => Some(head),
        Err(Error::Handshake(e)) => {
            let status = match e {
                HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => 431,
                _ => 400,
            };
            respond(
                stream,
                bounded,
                None,
                &Response::text(status, e.to_string()),
            );
            None
        }
        // A timeout, or the peer went away: nobody to answer.
        Err(_) => None,
    }
}

/// Answer a request that is not an upgrade: a page, or why not.
#[inline(never)]
fn answer_page(
    shared: &Shared,
    stream: &Transport,
    bounded: &mut Bounded,
    request: &Request,
    websocket_path: bool,
) {
    let path = request.path();
    let response = match best_match(&shared.pages, path, |r| &r.route) {
        Some(page) if matches!(request.method(), "GET" | "HEAD") => {
            match catch_unwind(AssertUnwindSafe(|| (page.handler)(request))) {
                Ok(response) => response,
                Err(_) => {
                    log::error!("page handler for {path} panicked");
                    Response::text(500, "internal error")
                }
            }
        }
        Some(_) => Response::text(405, "only GET and HEAD").with_header("Allow", "GET, HEAD"),
        // A WebSocket path asked for without an upgrade: check_upgrade
        // says what is missing (400, or 426 for a wrong version).
        None if websocket_path => match check_upgrade(request) {
            Err(refusal) => refusal,
            Ok(_) => Response::text(400, "not a WebSocket upgrade"),
        },
        None => Response::text(404, "not found"),
    };
    respond(stream, bounded, Some(request), &response);
}

/// Judge an upgrade by RFC 6455 and the route's policy: the client's key,
/// the subprotocol chosen and what the before-upgrade hook decided, or
/// the refusal to send.
#[inline(never)]
fn decide_upgrade(
    policy: &Route,
    request: &Request,
) -> Result<(String, Option<String>, Upgrade), Response> {
    let key = check_upgrade(request)?;
    policy.check_origin(request)?;
    let protocol = policy.choose_protocol(request)?;
    let mut upgrade = Upgrade::default();
    let hook = catch_unwind(AssertUnwindSafe(|| {
        policy.run_before_upgrade(request, &mut upgrade)
    }));
    match hook {
        Ok(verdict) => verdict?,
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            log::error!(
                "before-upgrade hook for {} panicked: {what}",
                request.path()
            );
            return Err(Response::text(500, "internal error"));
        }
    }
    Ok((key, protocol, upgrade))
}

/// Send `101 Switching Protocols`.
#[inline(never)]
fn send_switching(
    stream: &Transport,
    bounded: &mut Bounded,
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    hook_headers: &Headers,
) -> std::io::Result<()> {
    let headers = std::iter::once(("Server", "syncws")).chain(hook_headers.iter());
    bounded.write(
        stream,
        &encode_accept_response(key, protocol, extensions, headers),
    )
}

/// Run the handler of an accepted upgrade, then report how it ended.
///
/// Making the `WebSocket`, registering it, running the handler and
/// finishing are four calls one after the other, so that the handler,
/// which may wait for days, runs on top of a small frame, and none of the
/// others' frames is ever stacked on another's: an idle connection then
/// touches two pages of stack, not three.
#[inline(never)]
fn run_websocket(
    shared: &Arc<Shared>,
    id: ConnectionId,
    opened: Box<Opened>,
    accepted: Box<Accepted>,
) {
    let mut accepted = accepted;
    let (mut ws, home) = match server_websocket(shared, id, opened, &mut accepted) {
        Ok(made) => made,
        Err(e) => {
            log::warn!("connection {id}: {e}");
            return;
        }
    };
    let running = open_websocket(shared, id, &mut ws, accepted, home);
    // A panicking handler must not take the server down. The `WebSocket` it
    // held is dropped while unwinding, which closes with 1011.
    let handler = &shared.websockets[running.route].handler;
    let outcome = catch_unwind(AssertUnwindSafe(move || handler.handle(ws)));
    finish_websocket(shared, running, outcome);
}

/// The server's `WebSocket` on an upgraded connection, on the heap (it is
/// handed down the handler's calls), and the server's side of it, which
/// takes the data of the before-upgrade hook from `accepted`.
#[inline(never)]
#[allow(
    clippy::boxed_local,
    reason = "handed down as a pointer; unboxed only here, in a frame that is gone when the handler runs"
)]
fn server_websocket(
    shared: &Arc<Shared>,
    id: ConnectionId,
    opened: Box<Opened>,
    accepted: &mut Accepted,
) -> std::io::Result<(WebSocket, Arc<ServerHome>)> {
    let home = Arc::new(ServerHome::new(id, accepted.upgrade.data.take(), shared));
    let as_home: Arc<dyn Home> = Arc::clone(&home) as Arc<dyn Home>;
    let ws = WebSocket::open(
        *opened,
        Role::Server,
        &shared.settings.config,
        Some(as_home),
    )?;
    Ok((ws, home))
}

/// Register a new connection, set its keep-alive and log it.
#[inline(never)]
#[allow(
    clippy::boxed_local,
    reason = "handed over as it was made: a pointer, not 200 bytes on the stack"
)]
fn open_websocket(
    shared: &Shared,
    id: ConnectionId,
    ws: &mut WebSocket,
    accepted: Box<Accepted>,
    home: Arc<ServerHome>,
) -> Box<Running> {
    let settings = &shared.settings;
    let info = ConnectionInfo::new(
        id,
        ws.request().map_or("", |r| r.path()).to_owned(),
        ws.peer_address().cloned(),
        ws.protocol().map(str::to_owned),
    );
    let keep_alive = shared.websockets[accepted.route]
        .route
        .keep_alive_override()
        .unwrap_or(settings.keep_alive);
    if let Err(e) = ws.set_keep_alive(keep_alive) {
        log::warn!("connection {id}: cannot set keep-alive: {e}");
    }
    let sender = ws.sender();
    shared.registry.open(info.clone(), sender.clone());
    if shared.stopping.load(Ordering::Acquire) {
        // Opened while `stop` was closing the others.
        sender.close_without_waiting(CloseCode::GoingAway, "server stopping");
    }
    log::info!(
        "connection {id} from {} opened on {}",
        show(info.peer_address.as_ref()),
        info.path
    );
    Box::new(Running {
        route: accepted.route,
        info,
        sender,
        home,
        started: Instant::now(),
    })
}

/// After the handler returned (or panicked): pump a detached connection
/// until it ends, then unregister it, log and report how it ended.
#[inline(never)]
#[allow(
    clippy::boxed_local,
    reason = "handed over as it was made: a pointer, not 200 bytes on the handler's stack"
)]
fn finish_websocket(shared: &Shared, running: Box<Running>, outcome: std::thread::Result<()>) {
    let Running {
        route,
        info,
        sender,
        home,
        started,
    } = *running;
    let id = info.id;
    if let Some((ws, queue)) = home.take_detached() {
        detached::pump(shared, ws, &queue);
    }
    let reason = match outcome {
        Err(panic) => {
            let what = panic_message(panic.as_ref());
            log::error!("connection {id} on {}: handler panicked: {what}", info.path);
            EndReason::HandlerPanicked(what)
        }
        Ok(()) if home.was_dropped_while_open() => EndReason::HandlerReturned,
        Ok(()) => match sender.state() {
            State::Closed { received } => EndReason::Closed(received),
            State::Failed(failure) => EndReason::Failed(failure.to_string()),
            // Ended by neither: not possible once the handler returned.
            _ => EndReason::HandlerReturned,
        },
    };
    shared.registry.close(id);
    let end = ConnectionEnd {
        info,
        duration: started.elapsed(),
        reason,
    };
    log::info!(
        "connection {id} from {} on {} ended after {:.3?}: {}",
        show(end.info.peer_address.as_ref()),
        end.info.path,
        end.duration,
        end.reason
    );
    if let Some(hook) = shared.websockets[route].route.after_close_hook() {
        if catch_unwind(AssertUnwindSafe(|| hook(&end))).is_err() {
            log::error!("connection {id}: after-close hook panicked");
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".to_owned()
    }
}

/// Send a plain HTTP response, then close: no keep-alive between requests.
fn respond(
    stream: &Transport,
    bounded: &mut Bounded,
    request: Option<&Request>,
    response: &Response,
) {
    if response.status >= 400 {
        REFUSED.note(|left_out| {
            log::info!(
                "refused {} {} from {}: {} {} ({left_out} more refusals in the last second)",
                request.map_or("-", |r| r.method()),
                request.map_or("-", |r| r.target()),
                show(request.and_then(Request::peer_address)),
                response.status,
                String::from_utf8_lossy(&response.body)
            );
        });
    }
    let mut bytes = response.to_bytes();
    if request.is_some_and(|r| r.method() == "HEAD") {
        let body_len = response.body.len();
        bytes.truncate(bytes.len() - body_len);
    }
    let _ = bounded.write(stream, &bytes);
    let _ = stream.shutdown(Shutdown::Write);
}

/// A peer address for the log: `192.0.2.1:50000`, `unix:(unnamed)`.
fn show(peer: Option<&Address>) -> String {
    peer.map_or_else(|| "an unknown peer".to_owned(), |p| p.to_string())
}

//! The demo server of `examples/demo.rs`: the pages and the three
//! WebSocket services (echo, status, chatroom) on one port.
//!
//! The tests (`tests/demo.rs`, `tests/browser.rs`) include this file too and
//! start the demo in-process on port 0, speaking as the moderator through
//! [`Demo::moderator`] instead of standard input.

// Each includer uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use syncws::{
    Error, Hub, KeepAlive, Message, MessageRef, Server, ServerHandle, Timeout, WeakServerHandle,
    WebSocket,
};

/// Where the demo listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:1701";
/// How often the status service pushes a report.
pub const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// The WebSocket routes, in the order the demo page lists them.
pub const ROUTES: [&str; 3] = ["/ws-echo", "/ws-status", "/ws-chatroom"];

const HTML: &str = "text/html; charset=utf-8";
const INDEX_PAGE: &str = include_str!("../pages/index.html");
const ECHO_PAGE: &str = include_str!("../pages/echo.html");
const STATUS_PAGE: &str = include_str!("../pages/status.html");
const CHATROOM_PAGE: &str = include_str!("../pages/chatroom.html");

/// Messages and bytes that the demo's handlers read and sent. The library
/// does not count them, so the handlers do.
#[derive(Debug, Default)]
pub struct Traffic {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl Traffic {
    fn received<'a>(&self, message: impl Into<MessageRef<'a>>) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in
            .fetch_add(message.into().len() as u64, Ordering::Relaxed);
    }

    /// `message` went out to `copies` connections.
    fn sent<'a>(&self, message: impl Into<MessageRef<'a>>, copies: usize) {
        let copies = copies as u64;
        self.messages_out.fetch_add(copies, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(message.into().len() as u64 * copies, Ordering::Relaxed);
    }
}

/// The running demo. Dropping it stops the server and the status
/// publisher.
pub struct Demo {
    handle: ServerHandle,
    room: Hub,
    status: Arc<StatusFeed>,
    /// Taken by [`Demo::stop`].
    publisher: Mutex<Option<Publisher>>,
    traffic: Arc<Traffic>,
    /// Whether pages and sockets are served over TLS.
    tls: bool,
}

/// The status service's way to its own server, which exists only once the
/// server runs: a weak handle, so that it does not keep the server alive.
type ServerSlot = OnceLock<WeakServerHandle>;

/// The status service: one report per [`STATUS_PERIOD`], built by the
/// publisher thread and broadcast to every subscribed page. Building a
/// report lists every connection and reads `/proc`, so building one per
/// subscriber is quadratic: measured on 2 cores, 1,000 subscribers cost
/// 86% of a core that way, and 2,000 took both cores; broadcast, 2,000
/// cost 7-9%.
struct StatusFeed {
    subscribers: Hub,
    traffic: Arc<Traffic>,
    server: ServerSlot,
    started: Instant,
    /// Held while a report is built, and by the publisher until it has
    /// broadcast it. A page joins after its own report is built, so every
    /// broadcast that reaches it was built later: its reports never go back
    /// in time.
    building: Mutex<()>,
}

impl StatusFeed {
    /// A report of now, for one page.
    fn report(&self) -> Message {
        let _turn = lock(&self.building);
        Message::from(status_report(&self.traffic, &self.server, self.started))
    }

    /// Build a report and broadcast it to every subscriber, if there is
    /// any.
    fn publish(&self) {
        let _turn = lock(&self.building);
        if self.subscribers.is_empty() {
            return;
        }
        let report = Message::from(status_report(&self.traffic, &self.server, self.started));
        let members = self.subscribers.broadcast(&report);
        self.traffic.sent(&report, members);
    }
}

/// The name of the status publisher's thread (as `top -H` shows it) for
/// the demo on `port`.
pub fn publisher_thread_name(port: u16) -> String {
    format!("status-{port}")
}

/// The thread that publishes the status reports, and its stop signal.
struct Publisher {
    /// Dropped to stop the thread: its wait then ends at once.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Publisher {
    /// Start it with the demo rather than with the first subscriber: a
    /// thread that wakes once a period and finds no one to build for costs
    /// nothing worth saving, and starting it on the first join would need
    /// a start-once that races both with other joins and with `stop`.
    fn start(feed: Arc<StatusFeed>, port: u16) -> io::Result<Publisher> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name(publisher_thread_name(port))
            .spawn(move || {
                let mut next = Instant::now() + STATUS_PERIOD;
                // The wait is the clock: it ends at the next period, or at
                // once when the demo stops.
                while let Err(RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(next.saturating_duration_since(Instant::now()))
                {
                    feed.publish();
                    let now = Instant::now();
                    next += STATUS_PERIOD;
                    // Late by a period or more (the machine slept): go on
                    // from now, without a burst of reports.
                    if next <= now {
                        next = now + STATUS_PERIOD;
                    }
                }
            })?;
        Ok(Publisher { stop, thread })
    }

    /// Stop it and wait for it to end.
    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// Start the demo on `addr` (port 0 picks a free port).
///
/// # Errors
/// The error of binding the address or of starting the server.
pub fn start(addr: impl ToSocketAddrs) -> io::Result<Demo> {
    start_with_tls(addr, None)
}

/// A TLS identity, when syncws is built with TLS (the default).
#[cfg(feature = "native-tls")]
pub type TlsIdentity = syncws::native_tls::Identity;
/// Without the `native-tls` feature there is no identity to give.
#[cfg(not(feature = "native-tls"))]
pub type TlsIdentity = std::convert::Infallible;

/// Start the demo on `addr`, over TLS (https:// pages, wss:// sockets) when
/// an identity is given.
///
/// # Errors
/// The error of binding the address, of the TLS identity, or of starting
/// the server.
pub fn start_with_tls(addr: impl ToSocketAddrs, identity: Option<TlsIdentity>) -> io::Result<Demo> {
    let traffic = Arc::new(Traffic::default());
    let room = Hub::new();
    let feed = Arc::new(StatusFeed {
        subscribers: Hub::new(),
        traffic: Arc::clone(&traffic),
        server: ServerSlot::new(),
        started: Instant::now(),
        building: Mutex::new(()),
    });

    let echo_traffic = Arc::clone(&traffic);
    let status_feed = Arc::clone(&feed);
    let chat_traffic = Arc::clone(&traffic);
    let chat_room = room.clone();
    let tls = identity.is_some();
    let server = Server::bind(addr)?;
    #[cfg(feature = "native-tls")]
    let server = match identity {
        Some(identity) => server.tls(identity).map_err(io::Error::other)?,
        None => server,
    };
    #[cfg(not(feature = "native-tls"))]
    if let Some(never) = identity {
        match never {}
    }
    let handle = server
        // Notice browsers that vanished without closing (a laptop put to sleep).
        .keep_alive(KeepAlive::new(
            Duration::from_secs(30),
            Duration::from_secs(10),
        ))
        .page("/", HTML, INDEX_PAGE)
        .page("/ws-demo", HTML, INDEX_PAGE)
        .page("/ws-echo-client", HTML, ECHO_PAGE)
        .page("/ws-status-client", HTML, STATUS_PAGE)
        .page("/ws-chatroom-client", HTML, CHATROOM_PAGE)
        .websocket("/ws-echo", move |ws| echo(ws, &echo_traffic))
        .websocket("/ws-status", move |ws| status(ws, &status_feed))
        .websocket("/ws-chatroom", move |ws| {
            chatroom(ws, &chat_room, &chat_traffic);
        })
        .serve()?;
    let _ = feed.server.set(handle.downgrade());
    let publisher = Publisher::start(Arc::clone(&feed), handle.local_addr().port())?;
    Ok(Demo {
        handle,
        room,
        status: feed,
        publisher: Mutex::new(Some(publisher)),
        traffic,
        tls,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Demo {
    /// The server.
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// `http://host:port` to reach the server from this machine (an
    /// unspecified address such as 0.0.0.0 is reached on loopback).
    pub fn http_base(&self) -> String {
        let mut addr = self.local_addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    /// What the demo serves, one line each, to print at start-up.
    pub fn describe(&self) -> String {
        let base = self.http_base();
        let ws = base.replacen("http", "ws", 1);
        format!(
            "syncws demo on {base}/\n\
             \x20 echo:     {base}/ws-echo-client      (WebSocket {ws}/ws-echo)\n\
             \x20 status:   {base}/ws-status-client    (WebSocket {ws}/ws-status)\n\
             \x20 chatroom: {base}/ws-chatroom-client  (WebSocket {ws}/ws-chatroom)\n"
        )
    }

    /// Speak into the chatroom from outside the browser (Zinc's
    /// `distributeMessage:`): every member gets `moderator>> line`. Returns
    /// the number of members reached.
    pub fn moderator(&self, line: &str) -> usize {
        let message = Message::from(format!("moderator>> {line}"));
        let members = self.room.broadcast(&message);
        self.traffic.sent(&message, members);
        members
    }

    /// The number of chatroom members.
    pub fn chatroom_members(&self) -> usize {
        self.room.len()
    }

    /// The number of pages that receive the status broadcasts.
    pub fn status_subscribers(&self) -> usize {
        self.status.subscribers.len()
    }

    /// Stop the status publisher and wait for it to end, then stop the
    /// server: close every connection (1001) and wait for them.
    pub fn stop(&self) {
        if let Some(publisher) = lock(&self.publisher).take() {
            publisher.stop();
        }
        self.handle.stop();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `/ws-echo`: every message goes back to its sender.
fn echo(mut ws: WebSocket, traffic: &Traffic) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| {
        traffic.received(message);
        sender.send_message(message)?;
        traffic.sent(message, 1);
        Ok(())
    });
}

/// `/ws-status`: a report every period, pushed without being asked (Zinc's
/// `ZnWebSocketStatusHandler`). The page gets one at once, built for it,
/// then the publisher's broadcasts. Reading answers pings and notices the
/// page closing; nothing is expected from the page, and whatever comes is
/// dropped.
fn status(mut ws: WebSocket, feed: &StatusFeed) {
    let first = feed.report();
    if ws.send_message(&first).is_err() {
        return;
    }
    feed.traffic.sent(&first, 1);
    // Half a period with that report alone before joining, so that no two
    // reports reach the page less than half a period apart: the next
    // broadcast might otherwise follow it within a millisecond.
    if !read_for(&mut ws, STATUS_PERIOD / 2, &feed.traffic) {
        return;
    }
    // A subscriber until this handler returns (a page that cannot be one
    // is closed with 1013).
    let Ok(_subscription) = feed.subscribers.join(ws.sender()) else {
        return;
    };
    // No read timeout from now on: `run_with` would ping the page at each.
    let _ = ws.set_read_timeout(None);
    let _ = ws.run_with(|message| {
        feed.traffic.received(message);
        Ok(())
    });
}

/// Read, count and drop what the page sends during `span`. False if the
/// connection ended meanwhile (closed by the page, or failed).
fn read_for(ws: &mut WebSocket, span: Duration, traffic: &Traffic) -> bool {
    let until = Instant::now() + span;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || ws.set_read_timeout(Some(left)).is_err() {
            return true;
        }
        match ws.read_message() {
            Ok(message) => traffic.received(&message),
            Err(Error::Timeout(Timeout::Read)) => return true,
            Err(_) => return false,
        }
    }
}

/// `/ws-chatroom`: each message goes to every member, its sender included.
fn chatroom(mut ws: WebSocket, room: &Hub, traffic: &Traffic) {
    // A member until this handler returns.
    let Ok(_membership) = room.join(ws.sender()) else {
        return;
    };
    let _ = ws.run_with(|message| {
        traffic.received(message);
        if message.is_text() {
            let members = room.broadcast(message);
            traffic.sent(message, members);
        }
        Ok(())
    });
}

/// The status report: a JSON object. `time` is in milliseconds since the
/// Unix epoch, `uptime` in seconds, `memory` in bytes; `threads` and
/// `memory` are `null` where `/proc` is not there to tell.
pub fn status_report(traffic: &Traffic, server: &ServerSlot, started: Instant) -> String {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_millis());
    let mut by_route: BTreeMap<String, usize> =
        ROUTES.iter().map(|route| (route.to_string(), 0)).collect();
    let server = server.get().and_then(WeakServerHandle::upgrade);
    for connection in server.map(|s| s.connections()).unwrap_or_default() {
        *by_route.entry(connection.path).or_default() += 1;
    }
    let connections: Vec<String> = by_route
        .iter()
        .map(|(route, n)| format!("{}:{n}", json_string(route)))
        .collect();
    let or_null = |n: Option<u64>| n.map_or("null".to_owned(), |n| n.to_string());
    let mut json = String::new();
    let _ = write!(
        json,
        "{{\"time\":{time},\"uptime\":{},\"connections\":{{{}}},\
         \"messages_in\":{},\"messages_out\":{},\"bytes_in\":{},\"bytes_out\":{},\
         \"threads\":{},\"memory\":{}}}",
        started.elapsed().as_secs(),
        connections.join(","),
        traffic.messages_in.load(Ordering::Relaxed),
        traffic.messages_out.load(Ordering::Relaxed),
        traffic.bytes_in.load(Ordering::Relaxed),
        traffic.bytes_out.load(Ordering::Relaxed),
        or_null(thread_count()),
        or_null(resident_memory()),
    );
    json
}

/// The threads of this process (Linux).
fn thread_count() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count() as u64)
}

/// The resident memory of this process in bytes: `VmRSS` (Linux).
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

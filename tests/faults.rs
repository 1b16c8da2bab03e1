//! Faults, over loopback: a peer that vanishes (its socket reset), a peer
//! that stops reading and answering, a server stopped in the middle of
//! traffic, and handlers that panic, block forever or return at once.
//!
//! Each test checks what the client sees, that the server's side learns of
//! the fault within its bound and forgets the connection, and (where a
//! well-behaved client can be on the same server) that it keeps working.
//!
//! A vanishing peer is simulated without `SO_LINGER` (not settable with
//! `std` on stable): a socket closed while data it received is still
//! unread is reset by the kernel (RFC 2525 §2.17; Linux and the BSDs do
//! so), which is what the server sees of a peer whose host died and came
//! back, or of a process killed with data in flight. The server seeing
//! `ConnectionReset` proves the reset was sent.

mod hostile_raw;

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hostile_raw::{
    Chatter, RawWs, Seen, TIMEOUT, echo_and_report, eventually, read_to_end, within,
};
use syncws::protocol::frame::OpCode;
use syncws::server::{ConnectionEnd, EndReason, Route};
use syncws::{CloseCode, Error, KeepAlive, Message, Server, ServerHandle, Timeout, WebSocket};

fn url(server: &ServerHandle, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

/// Connect a syncws client with read and write timeouts.
#[track_caller]
fn connect(server: &ServerHandle, path: &str) -> WebSocket {
    let mut ws = syncws::connect(&url(server, path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.set_write_timeout(Some(TIMEOUT)).unwrap();
    ws
}

/// A server echoing on every path, reporting each handler's end, with
/// `keep_alive` if given.
fn echo_server(keep_alive: Option<KeepAlive>) -> (ServerHandle, Seen, Ends) {
    let (report, reports) = mpsc::channel();
    let (end, ends) = mpsc::channel();
    let route = Route::any().after_close(move |e: &ConnectionEnd| {
        let _ = end.send(e.clone());
    });
    let mut server = Server::bind("127.0.0.1:0").unwrap();
    if let Some(keep_alive) = keep_alive {
        server = server.keep_alive(keep_alive);
    }
    let server = server
        .websocket(route, move |ws: WebSocket| echo_and_report(ws, &report))
        .serve()
        .unwrap();
    (server, Seen::new(reports), Ends::new(ends))
}

/// The ends of connections, as the after-close hook tells them.
struct Ends {
    ends: mpsc::Receiver<ConnectionEnd>,
    /// Ends received while waiting for another path.
    early: std::cell::RefCell<Vec<ConnectionEnd>>,
}

impl Ends {
    fn new(ends: mpsc::Receiver<ConnectionEnd>) -> Ends {
        Ends {
            ends,
            early: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The end of a connection on `path`.
    #[track_caller]
    fn of(&self, path: &str) -> ConnectionEnd {
        let mut early = self.early.borrow_mut();
        if let Some(i) = early.iter().position(|end| end.info.path == path) {
            return early.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ends.recv_timeout(left) {
                Ok(end) if end.info.path == path => return end,
                Ok(end) => early.push(end),
                Err(e) => panic!("no end reported for {path}: {e}"),
            }
        }
    }
}

#[track_caller]
fn assert_forgotten(server: &ServerHandle, path: &str) {
    eventually(&format!("{path} gone from connections()"), TIMEOUT, || {
        server.connections().iter().all(|c| c.path != path)
    });
}

#[track_caller]
fn assert_io_kind(error: &Error, kinds: &[io::ErrorKind], what: &str) {
    match error {
        Error::Io(e) if kinds.contains(&e.kind()) => {}
        other => panic!("{what}: expected an I/O error of kind {kinds:?}, got {other:?}"),
    }
}

/// Close `raw`'s socket with received data unread, so the kernel resets
/// the connection instead of closing it: wait (without reading) until
/// something from the server is there, then drop the socket.
#[track_caller]
fn vanish_with_reset(raw: RawWs) {
    let mut probe = [0u8; 1];
    let n = raw.stream.peek(&mut probe).expect("data from the server");
    assert_eq!(n, 1);
    drop(raw);
}

// ---------------------------------------------------------------------
// A peer that vanishes
// ---------------------------------------------------------------------

#[test]
fn a_peer_that_resets_is_noticed_at_once_and_forgotten() {
    let (server, seen, ends) = echo_server(None);
    let good = Chatter::start(&url(&server, "/good"));
    let mut raw = RawWs::connect(server.local_addr(), "/reset");
    raw.send_frame(true, OpCode::Text, b"unread echo").unwrap();
    let gone = Instant::now();
    vanish_with_reset(raw);
    let error = seen.error_of("/reset");
    let noticed = gone.elapsed();
    assert_io_kind(&error, &[io::ErrorKind::ConnectionReset], "the handler");
    assert!(
        noticed < Duration::from_secs(1),
        "noticed after {noticed:?}"
    );
    assert_forgotten(&server, "/reset");
    let end = ends.of("/reset");
    assert!(matches!(end.reason, EndReason::Failed(_)), "{end:?}");
    println!(
        "a reset peer: the handler saw {error} after {noticed:?}; end {:?}",
        end.reason
    );
    good.wait_progress(5, "after the reset");
    good.finish();
}

/// The server streams to a peer that resets: the thread sending and the
/// thread reading both fail at once, neither hangs.
#[test]
fn a_peer_that_resets_while_the_server_streams_fails_sender_and_reader_at_once() {
    let (report, reports) = mpsc::channel::<(String, Error)>();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/stream", move |mut ws: WebSocket| {
            let sender = ws.sender();
            let report_sending = report.clone();
            let streamer = thread::spawn(move || {
                let chunk = vec![0x42u8; 16 << 10];
                for _ in 0..10_000_000u64 {
                    if let Err(e) = sender.send_binary(&chunk) {
                        let _ = report_sending.send(("sender".into(), e));
                        return;
                    }
                }
            });
            for _ in 0..u32::MAX {
                if let Err(e) = ws.read_message() {
                    let _ = report.send(("reader".into(), e));
                    break;
                }
            }
            let _ = streamer.join();
        })
        .websocket(Route::any(), |ws: WebSocket| {
            let (report, _) = mpsc::channel();
            echo_and_report(ws, &report);
        })
        .serve()
        .unwrap();
    let seen = Seen::new(reports);
    let good = Chatter::start(&url(&server, "/good"));
    let mut raw = RawWs::connect(server.local_addr(), "/stream");
    for i in 0..20 {
        let frame = raw.read_frame().unwrap();
        assert_eq!(
            (frame.opcode, frame.payload.len()),
            (2, 16 << 10),
            "frame {i}"
        );
    }
    let gone = Instant::now();
    vanish_with_reset(raw);
    let reader = seen.error_within("reader", Duration::from_secs(2));
    let sender = seen.error_within("sender", Duration::from_secs(2));
    let noticed = gone.elapsed();
    println!("a reset peer streamed to: reader {reader:?}, sender {sender:?}, after {noticed:?}");
    // The kernel reports the reset to the first system call only: the
    // other thread then sees the socket closed (end of stream, broken
    // pipe), or learns from the first that the connection is over
    // (`AlreadyClosed`). Any of these, promptly, is right.
    let gone_kinds = [
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::UnexpectedEof,
        io::ErrorKind::BrokenPipe,
    ];
    for (what, error) in [("reader", &reader), ("sender", &sender)] {
        assert!(
            matches!(error, Error::Io(e) if gone_kinds.contains(&e.kind()))
                || matches!(error, Error::AlreadyClosed),
            "{what}: {error:?}"
        );
    }
    assert!(
        [&reader, &sender].iter().any(
            |e| matches!(e, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset)
                || matches!(e, Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
        ),
        "nobody saw the reset: reader {reader:?}, sender {sender:?}"
    );
    assert!(
        noticed < Duration::from_secs(1),
        "noticed after {noticed:?}"
    );
    assert_forgotten(&server, "/stream");
    good.wait_progress(5, "after the reset");
    good.finish();
}

// ---------------------------------------------------------------------
// A peer that stops reading and answering
// ---------------------------------------------------------------------

const PING_AFTER: Duration = Duration::from_millis(200);
const PONG_WITHIN: Duration = Duration::from_millis(300);
/// How much later than the keep-alive bound the handler may be told.
const KEEP_ALIVE_SLACK: Duration = Duration::from_millis(1000);

/// A peer that sends nothing and reads nothing after the handshake: the
/// server pings it after 200 ms, gives up 300 ms later, tells the handler
/// and forgets the connection.
#[test]
fn a_peer_that_stops_answering_is_dropped_by_keep_alive_within_its_bound() {
    let (server, seen, ends) = echo_server(Some(KeepAlive::new(PING_AFTER, PONG_WITHIN)));
    let good = Chatter::start(&url(&server, "/good"));
    let mut raw = RawWs::connect(server.local_addr(), "/mute");
    let opened = Instant::now();
    eventually("/mute listed", TIMEOUT, || {
        server.connections().iter().any(|c| c.path == "/mute")
    });
    let error = seen.error_of("/mute");
    let told = opened.elapsed();
    assert!(
        matches!(error, Error::Timeout(Timeout::PongOverdue)),
        "the handler: {error:?}"
    );
    assert!(
        told >= PING_AFTER + PONG_WITHIN - Duration::from_millis(50),
        "told after only {told:?}"
    );
    assert!(
        told <= PING_AFTER + PONG_WITHIN + KEEP_ALIVE_SLACK,
        "told after {told:?}"
    );
    assert_forgotten(&server, "/mute");
    let forgotten = opened.elapsed();
    let end = ends.of("/mute");
    assert!(matches!(end.reason, EndReason::Failed(_)), "{end:?}");
    // What the mute peer had been sent: a ping, then the end.
    let ping = raw.read_frame().expect("the keep-alive ping");
    assert_eq!(ping.opcode, 0x9, "{ping:?}");
    let mut rest = Vec::new();
    let _ = raw.stream.read_to_end(&mut rest);
    println!(
        "a mute peer: the handler was told {error} after {told:?}, the connection forgotten after {forgotten:?}; {} bytes after the ping",
        rest.len()
    );
    good.wait_progress(5, "after the mute peer");
    good.finish();
}

/// The server streams to a peer that stopped reading: once the socket's
/// buffers are full, the send fails within the keep-alive timeout instead
/// of blocking forever, and the connection is forgotten.
#[test]
fn a_peer_that_stops_reading_fails_a_streaming_sender_within_the_keep_alive_timeout() {
    let (report, reports) = mpsc::channel::<(String, Error)>();
    let sent = Arc::new(AtomicU64::new(0));
    let sent_by_handler = Arc::clone(&sent);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .keep_alive(KeepAlive::new(PING_AFTER, PONG_WITHIN))
        .websocket("/firehose", move |ws: WebSocket| {
            let chunk = vec![0x17u8; 64 << 10];
            let mut last_ok = Instant::now();
            for _ in 0..100_000u32 {
                match ws.send_binary(&chunk) {
                    Ok(()) => {
                        sent_by_handler.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        last_ok = Instant::now();
                    }
                    Err(e) => {
                        println!(
                            "the firehose blocked for {:?} before failing",
                            last_ok.elapsed()
                        );
                        let _ = report.send(("/firehose".into(), e));
                        return;
                    }
                }
            }
        })
        .websocket(Route::any(), |ws: WebSocket| {
            let (report, _) = mpsc::channel();
            echo_and_report(ws, &report);
        })
        .serve()
        .unwrap();
    let seen = Seen::new(reports);
    let good = Chatter::start(&url(&server, "/good"));
    let raw = RawWs::connect(server.local_addr(), "/firehose");
    let opened = Instant::now();
    let error = seen.error_of("/firehose");
    let failed = opened.elapsed();
    assert!(matches!(error, Error::Timeout(Timeout::Write)), "{error:?}");
    assert!(failed < Duration::from_secs(5), "failed after {failed:?}");
    assert_forgotten(&server, "/firehose");
    println!(
        "a peer that stopped reading: the sender failed with {error:?} after {failed:?}, having sent {:.1} MiB",
        hostile_raw::mib(sent.load(Ordering::Relaxed))
    );
    drop(raw);
    good.wait_progress(5, "after the firehose");
    good.finish();
}

/// A peer that answers the close handshake but never hangs up, and one
/// that never answers the server's close frame: both are dropped after the
/// close timeout.
#[test]
fn a_peer_that_never_finishes_the_close_handshake_is_dropped_after_the_close_timeout() {
    const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
    let (report, reports) = mpsc::channel::<(String, Error)>();
    let closer_report = report.clone();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(syncws::Config::default().close_timeout(CLOSE_TIMEOUT))
        .websocket("/close-first", move |mut ws: WebSocket| {
            let result = ws.close(CloseCode::Normal, "bye");
            let error = result.err().unwrap_or(Error::AlreadyClosed);
            let _ = closer_report.send(("/close-first".into(), error));
        })
        .websocket(Route::any(), move |ws: WebSocket| {
            echo_and_report(ws, &report)
        })
        .serve()
        .unwrap();
    let seen = Seen::new(reports);
    let good = Chatter::start(&url(&server, "/good"));

    // The peer closes, reads the answer, then keeps the TCP connection.
    let mut lingering = RawWs::connect(server.local_addr(), "/lingering");
    lingering
        .send_frame(true, OpCode::Close, &1000u16.to_be_bytes())
        .unwrap();
    let closed = Instant::now();
    lingering.expect_close(1000, "the answer to our close");
    let error = seen.error_of("/lingering");
    let told = closed.elapsed();
    assert!(
        matches!(&error, Error::Closed(frame) if frame.code == CloseCode::Normal),
        "{error:?}"
    );
    assert!(
        told < CLOSE_TIMEOUT + KEEP_ALIVE_SLACK,
        "told after {told:?}"
    );
    assert_forgotten(&server, "/lingering");

    // The server closes; the peer never answers nor reads.
    let mute = RawWs::connect(server.local_addr(), "/close-first");
    let opened = Instant::now();
    let error = seen.error_of("/close-first");
    let gave_up = opened.elapsed();
    assert!(
        matches!(error, Error::Timeout(Timeout::CloseOverdue)),
        "close() to a mute peer: {error:?}"
    );
    assert!(
        gave_up >= CLOSE_TIMEOUT - Duration::from_millis(50)
            && gave_up < CLOSE_TIMEOUT + KEEP_ALIVE_SLACK,
        "close() gave up after {gave_up:?}"
    );
    assert_forgotten(&server, "/close-first");
    println!(
        "a peer that keeps the TCP connection after the close handshake: handler told {told:?} after; \
         close() to a mute peer gave up after {gave_up:?} with {error}"
    );
    drop((lingering, mute));
    good.wait_progress(5, "after the close timeouts");
    good.finish();
}

/// After a clean close handshake on plain TCP the server closes the TCP
/// connection at once (§7.1.1: the server closes first) and its handler
/// learns of the close at once, without waiting for the client's FIN: a
/// client that keeps its socket afterwards holds neither the server's
/// thread nor its socket for the close timeout.
#[test]
fn after_a_clean_close_the_server_does_not_wait_for_the_clients_fin() {
    // Far longer than the test waits for anything.
    const CLOSE_TIMEOUT: Duration = Duration::from_secs(120);
    let (report, reports) = mpsc::channel::<(String, Error)>();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(syncws::Config::default().close_timeout(CLOSE_TIMEOUT))
        .websocket(Route::any(), move |ws: WebSocket| {
            echo_and_report(ws, &report)
        })
        .serve()
        .unwrap();
    let seen = Seen::new(reports);

    for closer in ["client", "server"] {
        let path = format!("/{closer}-closes");
        let mut client = RawWs::connect(server.local_addr(), &path);
        client.send_frame(true, OpCode::Text, b"hello").unwrap();
        assert_eq!(client.read_frame().unwrap().payload, b"hello");
        let start = Instant::now();
        if closer == "client" {
            client
                .send_frame(true, OpCode::Close, &1000u16.to_be_bytes())
                .unwrap();
            client.expect_close(1000, "the answer to our close");
        } else {
            let id = eventually_listed(&server, &path);
            server
                .sender(id)
                .unwrap()
                .send_close(CloseCode::GoingAway, "bye")
                .unwrap();
            client.expect_close(1001, "the server's close");
            client
                .send_frame(true, OpCode::Close, &1001u16.to_be_bytes())
                .unwrap();
        }
        // The server's FIN, while our socket stays open.
        client.expect_end(&path);
        let error = seen.error_of(&path);
        let told = start.elapsed();
        assert!(matches!(&error, Error::Closed(_)), "{path}: {error:?}");
        assert_forgotten(&server, &path);
        println!(
            "{closer} closed first: the handler was told and the socket closed {told:?} after"
        );
        drop(client);
    }
}

/// The id of the connection open on `path`, once the server lists it.
fn eventually_listed(server: &ServerHandle, path: &str) -> syncws::server::ConnectionId {
    let mut id = None;
    eventually(&format!("{path} is listed"), TIMEOUT, || {
        id = server
            .connections()
            .into_iter()
            .find(|c| c.path == path)
            .map(|c| c.id);
        id.is_some()
    });
    id.unwrap()
}

// ---------------------------------------------------------------------
// Stopping in the middle of traffic
// ---------------------------------------------------------------------

/// Long enough for a client to read its backlog up to the 1001 on a loaded
/// machine: with 2 s, a client of a parallel build's run was still reading
/// when the stop timeout aborted it (and saw the end of the stream).
const STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// How a client of the stop test ended.
#[derive(Debug)]
struct ClientEnd {
    received: u64,
    read_end: Error,
    send_end: Option<Error>,
}

/// Eight clients exchange messages both ways, four of them also receive a
/// stream the server pushes from a second thread, and a ninth never reads
/// while its handler writes to it; `stop` closes the eight with 1001,
/// drops the ninth, and returns within the stop timeout.
#[test]
fn stop_in_the_middle_of_traffic_closes_every_client_with_1001() {
    const CLIENTS: usize = 8;
    let (firehose_done, firehose_ended) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(STOP_TIMEOUT)
        .websocket("/push", |mut ws: WebSocket| {
            let pusher = ws.sender();
            let push = thread::spawn(move || {
                for i in 0..10_000_000u64 {
                    if pusher.send_text(&format!("pushed {i}")).is_err() {
                        return;
                    }
                }
            });
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
            let _ = push.join();
        })
        .websocket("/firehose", move |ws: WebSocket| {
            let chunk = vec![0x17u8; 64 << 10];
            for _ in 0..100_000u32 {
                if ws.send_binary(&chunk).is_err() {
                    break;
                }
            }
            let _ = firehose_done.send(());
        })
        .websocket(Route::any(), |mut ws: WebSocket| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap();
    // A peer that never reads: its handler is blocked writing to it when
    // `stop` comes.
    let hog = RawWs::connect(server.local_addr(), "/firehose");
    let received: Vec<Arc<AtomicU64>> = (0..CLIENTS).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let path = if i % 2 == 0 { "/push" } else { "/echo" };
            let mut ws = connect(&server, path);
            let count = Arc::clone(&received[i]);
            thread::spawn(move || {
                let sender = ws.sender();
                let sending = thread::spawn(move || {
                    for k in 0..10_000_000u64 {
                        if let Err(e) = sender.send_text(&format!("client {i} message {k}")) {
                            return Some(e);
                        }
                    }
                    None
                });
                // Bounded by the stop (and the read timeout) in time, and
                // by the count.
                let mut read_end = Error::AlreadyClosed;
                for _ in 0..100_000_000u64 {
                    match ws.read_message() {
                        Ok(_) => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            read_end = e;
                            break;
                        }
                    }
                }
                let send_end = sending.join().unwrap();
                ClientEnd {
                    received: count.load(Ordering::Relaxed),
                    read_end,
                    send_end,
                }
            })
        })
        .collect();
    for (i, count) in received.iter().enumerate() {
        eventually(&format!("traffic on client {i}"), TIMEOUT, || {
            count.load(Ordering::Relaxed) >= 100
        });
    }
    let stopping = Instant::now();
    let handle = server.clone();
    within("stop", STOP_TIMEOUT + Duration::from_secs(5), move || {
        handle.stop()
    });
    let stopped = stopping.elapsed();
    let ends: Vec<ClientEnd> = clients
        .into_iter()
        .map(|client| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let _ = tx.send(client.join());
            });
            rx.recv_timeout(TIMEOUT)
                .expect("a client thread hung")
                .expect("a client thread panicked")
        })
        .collect();
    for (i, end) in ends.iter().enumerate() {
        match &end.read_end {
            Error::Closed(frame) => {
                assert_eq!(frame.code, CloseCode::GoingAway, "client {i}: {frame}")
            }
            other => panic!("client {i} ended with {other:?} instead of a 1001 close ({end:?})"),
        }
    }
    assert!(server.connections().is_empty());
    firehose_ended
        .recv_timeout(Duration::from_secs(1))
        .expect("the handler blocked writing to a peer that never reads has ended");
    drop(hog);
    println!(
        "stop in the middle of traffic: returned after {stopped:?}; clients received {:?} messages, sends ended with {:?}",
        ends.iter().map(|e| e.received).collect::<Vec<_>>(),
        ends.iter()
            .map(|e| e.send_end.as_ref().map(ToString::to_string))
            .collect::<Vec<_>>()
    );
    // The peer that never reads holds `stop` for the whole stop timeout.
    assert!(
        stopped < STOP_TIMEOUT + Duration::from_millis(1000),
        "stop took {stopped:?}"
    );
}

/// A client that keeps sending but reads slowly when `stop` comes: the
/// server's socket holds megabytes of echoes not yet delivered, then the
/// close frame. The client must still get every echo, then 1001.
#[test]
fn stop_delivers_1001_to_a_client_that_reads_slowly() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(STOP_TIMEOUT)
        .websocket(Route::any(), |mut ws: WebSocket| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap();
    let mut ws = connect(&server, "/slow-reader");
    let sender = ws.sender();
    let sent = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&sent);
    let sending = thread::spawn(move || {
        let chunk = vec![0x61u8; 16 << 10];
        for k in 0..1_000_000u64 {
            if let Err(e) = sender.send_binary(&chunk) {
                return (k, e);
            }
            counted.fetch_add(1, Ordering::Relaxed);
        }
        (1_000_000, Error::AlreadyClosed)
    });
    // The client reads nothing yet: once it has sent 1 MiB, echoes are
    // piling up in the server's socket.
    eventually("1 MiB sent", TIMEOUT, || sent.load(Ordering::Relaxed) >= 64);
    let handle = server.clone();
    let addr = server.local_addr();
    let stopping = thread::spawn(move || {
        let started = Instant::now();
        handle.stop();
        started.elapsed()
    });
    // `stop` closes the listener first, then queues 1001 on every
    // connection: once a connection is refused, the close is on its way,
    // behind the echoes.
    eventually("the listener closed by stop", TIMEOUT, || {
        std::net::TcpStream::connect(addr).is_err()
    });
    // Now the client reads everything, slowly: 16 KiB a millisecond.
    let mut echoes = 0u64;
    let end = loop {
        match ws.read_message() {
            Ok(_) => echoes += 1,
            Err(e) => break e,
        }
        assert!(echoes < 1_000_000);
        thread::sleep(Duration::from_millis(1));
    };
    let (sent, send_end) = sending.join().unwrap();
    let stopped = stopping.join().unwrap();
    println!(
        "a slow reader at stop: {sent} messages sent ({send_end}), {echoes} echoes read, then {end:?}; stop took {stopped:?}"
    );
    assert_closed_with(&end, CloseCode::GoingAway, "a slow reader at stop");
}

// ---------------------------------------------------------------------
// Handlers that panic, block forever, or return at once
// ---------------------------------------------------------------------

/// Releases the blocked handlers at the end of a test.
#[derive(Default)]
struct Release {
    released: Mutex<bool>,
    changed: Condvar,
}

impl Release {
    /// Block until released, or a minute has passed.
    fn wait(&self) {
        let mut released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !*released && Instant::now() < deadline {
            released = self
                .changed
                .wait_timeout(released, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn release(&self) {
        *self.released.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }
}

/// A server whose handlers misbehave by path, with `stop_timeout`.
fn misbehaving_server(stop_timeout: Duration) -> (ServerHandle, Arc<Release>, Ends) {
    let release = Arc::new(Release::default());
    let blocked = Arc::clone(&release);
    let (end, ends) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(stop_timeout)
        .websocket(
            Route::prefix("/").after_close(move |e: &ConnectionEnd| {
                let _ = end.send(e.clone());
            }),
            move |mut ws: WebSocket| {
                let path = ws.request().unwrap().path().to_owned();
                match path.as_str() {
                    "/panic-now" => panic!("a handler that panics at once"),
                    "/panic" => {
                        let message = ws.read_message();
                        panic!("a handler that panics after reading {message:?}");
                    }
                    "/block" => blocked.wait(),
                    "/return" => {}
                    _ => {
                        let sender = ws.sender();
                        let _ = ws.run_with(|message| sender.send_message(message));
                    }
                }
            },
        )
        .serve()
        .unwrap();
    (server, release, Ends::new(ends))
}

#[track_caller]
fn assert_closed_with(end: &Error, code: CloseCode, what: &str) {
    match end {
        Error::Closed(frame) => assert_eq!(frame.code, code, "{what}: {frame}"),
        other => panic!(
            "{what}: expected a close with {}, got {other:?}",
            u16::from(code)
        ),
    }
}

/// Keep the expected panics of the handlers below out of the test output.
fn quiet_handler_panics() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("a handler that panics") {
                default(info);
            }
        }));
    });
}

#[test]
fn a_handler_that_panics_closes_with_1011_and_the_server_goes_on() {
    quiet_handler_panics();
    let (server, _release, ends) = misbehaving_server(Duration::from_secs(5));
    let good = Chatter::start(&url(&server, "/good"));
    let mut now = connect(&server, "/panic-now");
    assert_closed_with(
        &read_to_end(&mut now),
        CloseCode::InternalError,
        "panic at once",
    );
    let mut later = connect(&server, "/panic");
    later.send_text("boom").unwrap();
    assert_closed_with(
        &read_to_end(&mut later),
        CloseCode::InternalError,
        "panic after a read",
    );
    for path in ["/panic-now", "/panic"] {
        let end = ends.of(path);
        assert!(
            matches!(&end.reason, EndReason::HandlerPanicked(what) if what.contains("panics")),
            "{path}: {end:?}"
        );
        assert_forgotten(&server, path);
    }
    good.wait_progress(5, "after the panics");
    good.finish();
}

#[test]
fn a_handler_that_returns_at_once_closes_with_1000() {
    let (server, _release, ends) = misbehaving_server(Duration::from_secs(5));
    let mut quiet = connect(&server, "/return");
    assert_closed_with(
        &read_to_end(&mut quiet),
        CloseCode::Normal,
        "a quiet client",
    );
    // A client that sends at once, racing the handler's return: its close
    // frame must not be lost to a reset.
    let mut eager = connect(&server, "/return");
    let _ = eager.send_text("hello?");
    let _ = eager.send_binary(&[0u8; 10_000]);
    assert_closed_with(
        &read_to_end(&mut eager),
        CloseCode::Normal,
        "an eager client",
    );
    for _ in 0..2 {
        let end = ends.of("/return");
        assert_eq!(end.reason, EndReason::HandlerReturned, "{end:?}");
    }
    assert_forgotten(&server, "/return");
}

/// A handler that never returns (nor reads): its client is closed with
/// 1001 by `stop`, which returns within its timeout plus the second it
/// gives dropped connections.
#[test]
fn a_handler_that_blocks_forever_is_ended_by_stop() {
    let stop_timeout = Duration::from_millis(500);
    let (server, release, _ends) = misbehaving_server(stop_timeout);
    let mut blocked = connect(&server, "/block");
    blocked.send_text("anyone there?").unwrap();
    let client = thread::spawn(move || read_to_end(&mut blocked));
    let stopping = Instant::now();
    let handle = server.clone();
    within("stop", stop_timeout + Duration::from_secs(5), move || {
        handle.stop()
    });
    let stopped = stopping.elapsed();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(client.join());
    });
    let end = rx
        .recv_timeout(TIMEOUT)
        .expect("the client hung")
        .expect("the client panicked");
    let client_ended = stopping.elapsed();
    assert_closed_with(&end, CloseCode::GoingAway, "the blocked handler's client");
    println!(
        "a handler blocked forever: stop returned after {stopped:?}, its client ended after {client_ended:?}"
    );
    // The stop timeout, then the second `stop` gives dropped connections.
    assert!(
        stopped < stop_timeout + Duration::from_millis(2000),
        "stop took {stopped:?}"
    );
    release.release();
    eventually(
        "the blocked handler's connection forgotten",
        TIMEOUT,
        || server.connections().is_empty(),
    );
}

/// A well-behaved client beside the misbehaving handlers is unaffected,
/// and plain messages still go through the catch-all route.
#[test]
fn misbehaving_handlers_do_not_disturb_a_good_client() {
    quiet_handler_panics();
    let (server, release, _ends) = misbehaving_server(Duration::from_secs(1));
    let good = Chatter::start(&url(&server, "/good"));
    let mut blocked: Vec<WebSocket> = (0..10).map(|_| connect(&server, "/block")).collect();
    for _ in 0..10 {
        let mut ws = connect(&server, "/panic-now");
        assert_closed_with(&read_to_end(&mut ws), CloseCode::InternalError, "panic");
        let mut ws = connect(&server, "/return");
        assert_closed_with(&read_to_end(&mut ws), CloseCode::Normal, "return");
        good.wait_progress(2, "between misbehaving handlers");
    }
    let mut echo = connect(&server, "/echo");
    echo.send_text("still here").unwrap();
    assert_eq!(echo.read_message().unwrap(), Message::from("still here"));
    good.finish();
    release.release();
    for ws in &mut blocked {
        assert_closed_with(&read_to_end(ws), CloseCode::Normal, "released handler");
    }
}

//! Serving connections, seen from clients over loopback: the three forms
//! of handler, the after-close hook, connection ids, detaching and
//! attaching, keep-alive against dead peers, and connection threads.

mod server_raw;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use server_raw::{
    End, RawClient, TIMEOUT, assert_echoes, connect, echo, eventually, read_text, url,
};
use syncws::protocol::frame::OpCode;
use syncws::server::{
    ConnectionEnd, ConnectionId, EndReason, EventHandler, Handler, Route, events,
};
use syncws::{
    CloseCode, CloseFrame, Error, KeepAlive, Message, Server, ServerHandle, Timeout, WebSocket,
};

/// Read until the server closes; return its close frame.
#[track_caller]
fn read_close(ws: &mut WebSocket) -> CloseFrame {
    for _ in 0..1000 {
        match ws.read_message() {
            Ok(_) => {}
            Err(Error::Closed(frame)) => return frame,
            Err(e) => panic!("expected a close frame, got {e:?}"),
        }
    }
    panic!("no close frame in 1000 messages");
}

// ---------------------------------------------------------------------
// Three forms of handler
// ---------------------------------------------------------------------

#[test]
fn a_closure_handler_serves_connections() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/echo", echo)
        .serve()
        .unwrap();
    let mut a = connect(&server, "/echo");
    let mut b = connect(&server, "/echo");
    assert_echoes(&mut a, "from a");
    assert_echoes(&mut b, "from b");
    a.close(CloseCode::Normal, "").unwrap();
    assert_echoes(&mut b, "b goes on");
}

/// A handler of our own, with state shared by all its connections.
struct Visitors {
    count: Arc<AtomicUsize>,
}

impl Handler for Visitors {
    fn handle(&self, mut ws: WebSocket) {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = ws.send_text(&format!("you are visitor {n}"));
        let _ = ws.set_read_timeout(Some(TIMEOUT));
        // Until the client closes.
        for _ in 0..1000 {
            if ws.read_message().is_err() {
                break;
            }
        }
    }
}

#[test]
fn a_handler_type_holds_state_across_connections() {
    let count = Arc::new(AtomicUsize::new(0));
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket_handler(
            "/visit",
            Visitors {
                count: Arc::clone(&count),
            },
        )
        .serve()
        .unwrap();
    let mut open = Vec::new();
    for n in 1..=3 {
        let mut ws = connect(&server, "/visit");
        assert_eq!(read_text(&mut ws), format!("you are visitor {n}"));
        open.push(ws);
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
    for mut ws in open {
        ws.close(CloseCode::Normal, "").unwrap();
    }
}

/// What an event handler was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Open(String),
    Message(Message),
    /// on_error, with whether it was a 1002 protocol violation.
    Error {
        protocol_1002: bool,
        what: String,
    },
    Close(Option<CloseFrame>),
}

struct Recorder {
    events: mpsc::Sender<Event>,
}

impl EventHandler for Recorder {
    fn on_open(&mut self, ws: &WebSocket) {
        let path = ws
            .request()
            .map(|r| r.path().to_owned())
            .unwrap_or_default();
        let _ = self.events.send(Event::Open(path));
        let _ = ws.send_text("welcome");
    }

    fn on_message(&mut self, ws: &WebSocket, message: Message) {
        let _ = self.events.send(Event::Message(message.clone()));
        let _ = ws.send_message(&message);
    }

    fn on_error(&mut self, _ws: &WebSocket, error: &Error) {
        let _ = self.events.send(Event::Error {
            protocol_1002: error.close_code() == Some(CloseCode::Protocol),
            what: format!("{error:?}"),
        });
    }

    fn on_close(&mut self, _ws: &WebSocket, frame: Option<&CloseFrame>) {
        let _ = self.events.send(Event::Close(frame.cloned()));
    }
}

fn event_server() -> (ServerHandle, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket_handler("/events", events(move || Recorder { events: tx.clone() }))
        .serve()
        .unwrap();
    (server, rx)
}

#[track_caller]
fn next_events(rx: &mpsc::Receiver<Event>, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            rx.recv_timeout(TIMEOUT)
                .unwrap_or_else(|e| panic!("event {i} of {n}: {e}"))
        })
        .collect()
}

#[test]
fn an_event_handler_gets_open_messages_and_close_in_order() {
    let (server, events) = event_server();
    let mut ws = connect(&server, "/events");
    assert_eq!(read_text(&mut ws), "welcome");
    assert_echoes(&mut ws, "first");
    ws.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(vec![1, 2, 3]));
    ws.close(CloseCode::Normal, "bye").unwrap();
    assert_eq!(
        next_events(&events, 4),
        [
            Event::Open("/events".into()),
            Event::Message(Message::from("first")),
            Event::Message(Message::Binary(vec![1, 2, 3])),
            Event::Close(Some(CloseFrame::new(CloseCode::Normal, "bye"))),
        ]
    );
}

#[test]
fn an_event_handler_gets_on_error_on_a_protocol_violation_and_the_client_sees_1002() {
    let (server, events) = event_server();
    let (mut raw, _) = RawClient::connect(server.local_addr(), "/events", "");
    let (opcode, payload) = raw.read_frame().unwrap().expect("the welcome");
    assert_eq!(
        (opcode, payload.as_slice()),
        (OpCode::Text, &b"welcome"[..])
    );
    // A client must mask its frames (RFC 6455 §5.1).
    raw.send_frame(OpCode::Text, b"unmasked", false).unwrap();
    match raw.read_until_close() {
        End::Close(code, _) => assert_eq!(code, 1002),
        End::Dropped => panic!("the connection was dropped without a close frame"),
    }
    drop(raw);
    let seen = next_events(&events, 3);
    assert_eq!(seen[0], Event::Open("/events".into()));
    match &seen[1] {
        Event::Error {
            protocol_1002,
            what,
        } => assert!(protocol_1002, "{what}"),
        other => panic!("expected on_error, got {other:?}"),
    }
    assert_eq!(seen[2], Event::Close(None));
}

// ---------------------------------------------------------------------
// The after-close hook
// ---------------------------------------------------------------------

/// A server whose `/end/*` routes end connections in every way, with a
/// hook that reports each end, plus an echo route without a hook.
fn ending_server() -> (ServerHandle, mpsc::Receiver<ConnectionEnd>) {
    let (tx, rx) = mpsc::channel();
    let route = Route::prefix("/end/").after_close(move |end: &ConnectionEnd| {
        let _ = tx.send(end.clone());
    });
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(route, |ws: WebSocket| {
            let path = ws.request().unwrap().path().to_owned();
            match path.as_str() {
                "/end/return" => {
                    let _ = ws.send_text("returning");
                }
                "/end/panic" => {
                    let _ = ws.send_text("panicking");
                    panic!("boom in the handler");
                }
                _ => echo(ws),
            }
        })
        .websocket("/echo", echo)
        .serve()
        .unwrap();
    (server, rx)
}

#[test]
fn after_close_reports_a_clean_close_by_the_client_with_its_code() {
    let (server, ends) = ending_server();
    let before = SystemTime::now();
    let mut ws = connect(&server, "/end/echo");
    let me = ws.local_addr().unwrap();
    assert_echoes(&mut ws, "x");
    ws.close(CloseCode::Other(4001), "done here").unwrap();
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        end.reason,
        EndReason::Closed(CloseFrame::new(CloseCode::Other(4001), "done here"))
    );
    assert_eq!(end.info.path, "/end/echo");
    assert_eq!(end.info.peer, Some(me));
    assert!(end.info.since >= before);
}

#[test]
fn after_close_reports_a_protocol_violation_as_failed() {
    let (server, ends) = ending_server();
    let (mut raw, _) = RawClient::connect(server.local_addr(), "/end/echo", "");
    raw.send_frame(OpCode::Text, b"unmasked", false).unwrap();
    assert!(matches!(raw.read_until_close(), End::Close(1002, _)));
    drop(raw);
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    assert!(
        matches!(end.reason, EndReason::Failed(_)),
        "{:?}",
        end.reason
    );
}

#[test]
fn after_close_reports_a_handler_that_returned() {
    let (server, ends) = ending_server();
    let mut ws = connect(&server, "/end/return");
    assert_eq!(read_text(&mut ws), "returning");
    assert_eq!(read_close(&mut ws).code, CloseCode::Normal);
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(end.reason, EndReason::HandlerReturned);
    assert_eq!(end.info.path, "/end/return");
}

#[test]
fn after_close_reports_a_panicking_handler_whose_client_sees_1011_and_serving_goes_on() {
    let (server, ends) = ending_server();
    let mut ws = connect(&server, "/end/panic");
    assert_eq!(read_text(&mut ws), "panicking");
    assert_eq!(read_close(&mut ws).code, CloseCode::InternalError);
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    match &end.reason {
        EndReason::HandlerPanicked(what) => assert!(what.contains("boom in the handler"), "{what}"),
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    // Other connections, old and new, are served.
    let mut other = connect(&server, "/echo");
    assert_echoes(&mut other, "after the panic");
    let mut again = connect(&server, "/end/echo");
    assert_echoes(&mut again, "hooked route after the panic");
}

// ---------------------------------------------------------------------
// Connection ids
// ---------------------------------------------------------------------

#[test]
fn connections_lists_open_connections_and_sender_reaches_one_of_them() {
    let (ids_tx, ids_rx) = mpsc::channel();
    let (ended_tx, ended_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::prefix("/ids/").protocols(["chat"]),
            move |mut ws: WebSocket| {
                let id = ws.id().expect("a server connection has an id");
                let _ = ids_tx.send(id);
                let _ = ws.set_read_timeout(Some(TIMEOUT));
                for _ in 0..1000 {
                    if ws.read_message().is_err() {
                        break;
                    }
                }
                let _ = ended_tx.send(id);
            },
        )
        .serve()
        .unwrap();
    let before = SystemTime::now();
    let mut a = {
        let ws = syncws::ClientBuilder::new(url(&server, "/ids/a?q=1"))
            .protocol("chat")
            .connect()
            .unwrap();
        let mut ws = ws;
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        ws
    };
    let id_a: ConnectionId = ids_rx.recv_timeout(TIMEOUT).unwrap();
    let mut b = connect(&server, "/ids/b");
    let id_b: ConnectionId = ids_rx.recv_timeout(TIMEOUT).unwrap();
    assert_ne!(id_a, id_b);
    let after = SystemTime::now();

    // From another thread.
    let lister = server.clone();
    let list = thread::spawn(move || lister.connections()).join().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let info_a = list.iter().find(|i| i.id == id_a).expect("a is listed");
    let info_b = list.iter().find(|i| i.id == id_b).expect("b is listed");
    assert_eq!(info_a.path, "/ids/a");
    assert_eq!(info_b.path, "/ids/b");
    assert_eq!(info_a.peer, Some(a.local_addr().unwrap()));
    assert_eq!(info_b.peer, Some(b.local_addr().unwrap()));
    assert_eq!(info_a.protocol.as_deref(), Some("chat"));
    assert_eq!(info_b.protocol, None);
    for info in [info_a, info_b] {
        assert!(before <= info.since && info.since <= after, "{info:?}");
        assert!(!info.detached);
    }

    // A message for a alone, then one for b: b's first message is its own.
    let sender = server.sender(id_a).expect("a sender for a");
    thread::spawn(move || sender.send_text("for a only"))
        .join()
        .unwrap()
        .unwrap();
    server.sender(id_b).unwrap().send_text("for b").unwrap();
    assert_eq!(read_text(&mut a), "for a only");
    assert_eq!(read_text(&mut b), "for b");

    // Once a closes, it is no longer listed nor reachable.
    a.close(CloseCode::Normal, "").unwrap();
    assert_eq!(ended_rx.recv_timeout(TIMEOUT).unwrap(), id_a);
    eventually("a leaves the list", || {
        server.connections().iter().all(|i| i.id != id_a)
    });
    assert!(server.sender(id_a).is_none());
    let list = server.connections();
    assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), [id_b]);
    b.close(CloseCode::Normal, "").unwrap();
}

// ---------------------------------------------------------------------
// Detach and attach
// ---------------------------------------------------------------------

/// Attach to `id`, waiting for the server to have set the connection up
/// for it (bounded).
fn attach(server: &ServerHandle, id: ConnectionId) -> syncws::server::Attached {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(attached) = server.attach(id) {
            return attached;
        }
        assert!(Instant::now() < deadline, "could not attach to {id}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_detached_connection_stays_open_queues_messages_answers_pings_and_notices_a_close() {
    use tungstenite::Message as TMessage;
    use tungstenite::protocol::CloseFrame as TCloseFrame;
    use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;

    let (ids_tx, ids_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/detach", move |ws: WebSocket| {
            let id = ws.detach().expect("a server connection detaches");
            let _ = ids_tx.send(id);
        })
        .websocket("/stay", echo)
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let connect_t = |path: &str| {
        let stream = server_raw::tcp(addr);
        tungstenite::client(format!("ws://{addr}{path}"), stream)
            .expect("tungstenite handshake")
            .0
    };
    let mut client = connect_t("/detach");
    let id: ConnectionId = ids_rx.recv_timeout(TIMEOUT).unwrap();

    // The handler has returned; the connection is still open and answers
    // pings while nobody has attached.
    client
        .send(TMessage::Ping(b"are you there".to_vec().into()))
        .unwrap();
    match client.read().unwrap() {
        TMessage::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    for text in ["one", "two", "three"] {
        client.send(TMessage::text(text)).unwrap();
    }

    // A connection that is not detached cannot be attached.
    // (Once it echoes, its handler runs: it is registered.)
    let mut stay = connect(&server, "/stay");
    assert_echoes(&mut stay, "registered");
    let listed = server.connections();
    let stay_info = listed.iter().find(|i| i.path == "/stay").unwrap();
    assert!(!stay_info.detached);
    assert!(server.attach(stay_info.id).is_none());
    assert!(server.attach(ConnectionId::from(u64::MAX)).is_none());

    // Another thread takes it up, reads the queued messages in order, and
    // answers.
    let attacher = {
        let server = server.clone();
        thread::spawn(move || {
            let attached = attach(&server, id);
            assert_eq!(attached.id(), id);
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(attached.read_message_timeout(TIMEOUT).unwrap());
            }
            attached
                .sender()
                .send_text(&format!("got {}", got.len()))
                .unwrap();
            (attached, got)
        })
    };
    let (attached, got) = attacher.join().unwrap();
    assert_eq!(
        got,
        [
            Message::from("one"),
            Message::from("two"),
            Message::from("three")
        ]
    );
    match client.read().unwrap() {
        TMessage::Text(text) => assert_eq!(text.as_str(), "got 3"),
        other => panic!("expected the reply, got {other:?}"),
    }
    let info = server
        .connections()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert!(info.detached);

    // Still answers pings while attached.
    client
        .send(TMessage::Ping(b"again".to_vec().into()))
        .unwrap();
    match client.read().unwrap() {
        TMessage::Pong(payload) => assert_eq!(&payload[..], b"again"),
        other => panic!("expected a pong, got {other:?}"),
    }

    // The client closes: the attached reader learns it.
    client
        .close(Some(TCloseFrame {
            code: TCloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    let mut clean = false;
    for _ in 0..100 {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => {
                clean = true;
                break;
            }
            Err(e) => panic!("client: {e}"),
        }
    }
    assert!(clean, "the close handshake did not complete");
    // The client ends the TCP connection too (the server waits for that,
    // up to its close timeout, before reporting the close).
    drop(client);
    match attached.read_message_timeout(TIMEOUT) {
        Err(Error::Closed(frame)) => assert_eq!(frame, CloseFrame::new(CloseCode::Normal, "bye")),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        attached.read_message_timeout(TIMEOUT),
        Err(Error::AlreadyClosed)
    ));
    eventually("the detached connection leaves the list", || {
        server.connections().iter().all(|i| i.id != id)
    });
}

/// The id `detach` returns is the one to attach with: another thread that
/// gets it can attach at once, without waiting for the server to get
/// around to it. Here the handler gives the id away and waits for the
/// attacher's go-ahead before returning, as a handler might do some work
/// of its own after detaching.
#[test]
fn a_connection_can_be_attached_as_soon_as_detach_has_returned_its_id() {
    let (ids_tx, ids_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/detach", move |ws: WebSocket| {
            let id = ws.detach().expect("a server connection detaches");
            let _ = ids_tx.send(id);
            let _ = go_rx.lock().unwrap().recv_timeout(TIMEOUT);
        })
        .serve()
        .unwrap();
    let client = connect(&server, "/detach");
    let id: ConnectionId = ids_rx.recv_timeout(TIMEOUT).unwrap();
    let attached = server.attach(id);
    go_tx.send(()).unwrap();
    let attached = attached.expect("attach(id) is None right after detach() returned id");
    client.send_text("hello").unwrap();
    assert_eq!(
        attached.read_message_timeout(TIMEOUT).unwrap(),
        Message::from("hello")
    );
}

// ---------------------------------------------------------------------
// Keep-alive and dead peers
// ---------------------------------------------------------------------

const INTERVAL: Duration = Duration::from_millis(100);
const PONG_TIMEOUT: Duration = Duration::from_millis(200);

/// A keep-alive route that echoes; reports how long until the handler's
/// read failed, and how the connection ended.
fn keep_alive_server() -> (
    ServerHandle,
    mpsc::Receiver<(Duration, String)>,
    mpsc::Receiver<EndReason>,
) {
    let (read_tx, read_rx) = mpsc::channel();
    let (end_tx, end_rx) = mpsc::channel();
    let route = Route::exact("/ka")
        .keep_alive(Some(KeepAlive::new(INTERVAL, PONG_TIMEOUT)))
        .after_close(move |end: &ConnectionEnd| {
            let _ = end_tx.send(end.reason.clone());
        });
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(route, move |mut ws: WebSocket| {
            let start = Instant::now();
            for _ in 0..10_000 {
                match ws.read_message() {
                    Ok(message) => {
                        let _ = ws.send_message(&message);
                    }
                    Err(Error::Timeout(Timeout::Read)) => {}
                    Err(e) => {
                        let _ = read_tx.send((start.elapsed(), format!("{e:?}")));
                        return;
                    }
                }
            }
        })
        .serve()
        .unwrap();
    (server, read_rx, end_rx)
}

#[test]
fn a_peer_that_never_answers_pings_is_closed_within_interval_plus_timeout() {
    let (server, reads, ends) = keep_alive_server();
    // Completes the handshake, then neither reads nor sends anything.
    let (raw, _) = RawClient::connect(server.local_addr(), "/ka", "");
    let (took, error) = reads.recv_timeout(TIMEOUT).expect("the read never failed");
    assert!(
        took >= INTERVAL + PONG_TIMEOUT - Duration::from_millis(50),
        "failed too early, after {took:?}: {error}"
    );
    assert!(
        took < Duration::from_secs(2),
        "failed after {took:?}: {error}"
    );
    let reason = ends.recv_timeout(TIMEOUT).unwrap();
    assert!(matches!(reason, EndReason::Failed(_)), "{reason:?}");
    drop(raw);
}

#[test]
fn a_peer_that_answers_pings_stays_connected_past_several_intervals() {
    let (server, reads, ends) = keep_alive_server();
    let mut ws = connect(&server, "/ka");
    // Read for ten intervals: the client answers every ping meanwhile.
    ws.set_read_timeout(Some(INTERVAL * 10)).unwrap();
    match ws.read_message() {
        Err(Error::Timeout(Timeout::Read)) => {}
        other => panic!("expected nothing but pings for a while, got {other:?}"),
    }
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_echoes(&mut ws, "still alive");
    assert!(reads.try_recv().is_err(), "the handler's read failed");
    assert!(ends.try_recv().is_err(), "the connection ended");
    ws.close(CloseCode::Normal, "").unwrap();
    let reason = ends.recv_timeout(TIMEOUT).unwrap();
    assert!(matches!(reason, EndReason::Closed(_)), "{reason:?}");
}

/// A handler that reads until an error, with a read timeout of `patience`,
/// and reports what ended its reading: `Timeout` means the connection was
/// still up after `patience`.
fn patient_reader(
    patience: Duration,
    report: mpsc::Sender<(String, Duration, String)>,
) -> impl Fn(WebSocket) + Send + Sync + 'static {
    move |mut ws: WebSocket| {
        let path = ws.request().unwrap().path().to_owned();
        let _ = ws.set_read_timeout(Some(patience));
        let start = Instant::now();
        let error = loop {
            match ws.read_message() {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let _ = report.send((path, start.elapsed(), format!("{error:?}")));
    }
}

#[test]
fn a_server_wide_keep_alive_applies_to_routes_unless_one_turns_it_off() {
    let (tx, rx) = mpsc::channel();
    let patience = Duration::from_secs(1);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .keep_alive(KeepAlive::new(INTERVAL, PONG_TIMEOUT))
        .websocket("/default", patient_reader(patience, tx.clone()))
        .websocket(
            Route::exact("/off").keep_alive(None),
            patient_reader(patience, tx),
        )
        .serve()
        .unwrap();
    // Two dead peers: they never read nor answer.
    let (mut on, _) = RawClient::connect(server.local_addr(), "/default", "");
    let (_off, _) = RawClient::connect(server.local_addr(), "/off", "");
    let mut reports = [
        rx.recv_timeout(TIMEOUT).unwrap(),
        rx.recv_timeout(TIMEOUT).unwrap(),
    ];
    reports.sort();
    let (path, took, error) = &reports[0];
    assert_eq!(path, "/default");
    assert!(
        *took < patience && error != "Timeout(Read)",
        "/default: {error} after {took:?}"
    );
    let (path, took, error) = &reports[1];
    assert_eq!(path, "/off");
    assert_eq!(error, "Timeout(Read)", "/off after {took:?}");
    // What the dead peer on /default was sent: a ping first.
    let (opcode, _) = on.read_frame().unwrap().expect("a ping");
    assert_eq!(opcode, OpCode::Ping);
}

#[test]
fn with_keep_alive_a_send_to_a_peer_that_stopped_reading_fails_in_time() {
    let (tx, rx) = mpsc::channel();
    let route = Route::exact("/flood").keep_alive(Some(KeepAlive::new(INTERVAL, PONG_TIMEOUT)));
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(route, move |ws: WebSocket| {
            let chunk = vec![7u8; 64 << 10];
            let start = Instant::now();
            // At most 128 MiB: far more than the socket buffers hold.
            let failed = (0..2048).find_map(|i| {
                ws.send_binary(&chunk)
                    .err()
                    .map(|e| (i, start.elapsed(), format!("{e:?}")))
            });
            let _ = tx.send(failed);
        })
        .serve()
        .unwrap();
    // Completes the handshake, then never reads.
    let (_raw, _) = RawClient::connect(server.local_addr(), "/flood", "");
    let failed = rx
        .recv_timeout(TIMEOUT)
        .expect("the handler's sends were still blocked");
    let (sent, took, error) = failed.expect("every send succeeded though nobody reads");
    assert!(
        took < Duration::from_secs(3),
        "the send failed only after {took:?} ({sent} messages sent): {error}"
    );
}

#[test]
fn a_handler_can_turn_keep_alive_on_for_its_own_connection() {
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/self", move |mut ws: WebSocket| {
            ws.set_keep_alive(Some(KeepAlive::new(INTERVAL, PONG_TIMEOUT)))
                .unwrap();
            let start = Instant::now();
            let error = loop {
                match ws.read_message() {
                    Ok(_) | Err(Error::Timeout(Timeout::Read)) => {}
                    Err(e) => break e,
                }
            };
            let _ = tx.send((start.elapsed(), format!("{error:?}")));
        })
        .serve()
        .unwrap();
    let (_raw, _) = RawClient::connect(server.local_addr(), "/self", "");
    let (took, error) = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(
        took < Duration::from_secs(2),
        "failed after {took:?}: {error}"
    );
}

#[test]
fn a_detached_connection_with_a_small_queue_loses_no_message() {
    const MESSAGES: usize = 50;
    let (ids_tx, ids_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .detached_queue(2)
        .websocket("/detach", move |ws: WebSocket| {
            let _ = ids_tx.send(ws.detach().unwrap());
        })
        .serve()
        .unwrap();
    let mut client = connect(&server, "/detach");
    let id: ConnectionId = ids_rx.recv_timeout(TIMEOUT).unwrap();
    // More than the queue holds: the server stops reading meanwhile.
    for i in 0..MESSAGES {
        client.send_text(&format!("message {i}")).unwrap();
    }
    let attached = attach(&server, id);
    for i in 0..MESSAGES {
        assert_eq!(
            attached.read_message_timeout(TIMEOUT).unwrap(),
            Message::from(format!("message {i}"))
        );
    }
    attached.sender().send_text("all read").unwrap();
    assert_eq!(read_text(&mut client), "all read");
    client.close(CloseCode::Normal, "").unwrap();
    assert!(matches!(
        attached.read_message_timeout(TIMEOUT),
        Err(Error::Closed(_))
    ));
}

// ---------------------------------------------------------------------
// Connection threads
// ---------------------------------------------------------------------

/// The system's name of the calling thread (what `ps -L` shows).
fn system_thread_name() -> String {
    std::fs::read_to_string("/proc/thread-self/comm")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|e| format!("(unknown: {e})"))
}

/// Serve connections one after the other, each opened once the previous
/// one's thread is done with it (its after-close hook has run), and report
/// for each its id, the system's name of its thread and that thread's id.
fn serve_one_after_another(
    server: Server,
    connections: usize,
) -> Vec<(u64, String, thread::ThreadId)> {
    let (seen_tx, seen_rx) = mpsc::channel();
    let (ended_tx, ended_rx) = mpsc::channel();
    let route = Route::exact("/name").after_close(move |_: &ConnectionEnd| {
        let _ = ended_tx.send(());
    });
    let server = server
        .websocket(route, move |ws: WebSocket| {
            let seen = (
                ws.id().unwrap().0,
                system_thread_name(),
                thread::current().id(),
            );
            let _ = seen_tx.send(seen);
            let _ = ws.send_text("hello");
        })
        .serve()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..connections {
        let mut ws = connect(&server, "/name");
        assert_eq!(read_text(&mut ws), "hello");
        seen.push(seen_rx.recv_timeout(TIMEOUT).unwrap());
        // Our close answers the server's.
        drop(ws);
        ended_rx.recv_timeout(TIMEOUT).unwrap();
    }
    seen
}

#[test]
#[cfg(target_os = "linux")]
fn a_handler_runs_on_a_thread_named_after_its_connection() {
    let seen = serve_one_after_another(Server::bind("127.0.0.1:0").unwrap(), 5);
    for (id, name, _) in &seen {
        assert_eq!(name, &format!("syncws-{id}"));
    }
    let names: std::collections::HashSet<_> = seen.iter().map(|(_, name, _)| name).collect();
    assert_eq!(names.len(), 5, "{seen:?}");
}

#[test]
fn connection_threads_are_reused_unless_told_not_to() {
    const CONNECTIONS: usize = 20;
    let threads = |server: Server| {
        let seen = serve_one_after_another(server, CONNECTIONS);
        let threads: std::collections::HashSet<_> = seen.iter().map(|(_, _, t)| *t).collect();
        threads.len()
    };
    // A thread waits for the next connection as soon as it has served one:
    // with twenty in a row, some are served by the same thread.
    let reused = threads(Server::bind("127.0.0.1:0").unwrap());
    assert!(
        reused < CONNECTIONS,
        "{reused} threads for {CONNECTIONS} connections"
    );
    let fresh = threads(
        Server::bind("127.0.0.1:0")
            .unwrap()
            .idle_threads(0, Duration::from_secs(10)),
    );
    assert_eq!(fresh, CONNECTIONS);
}

#[test]
fn a_larger_thread_stack_lets_a_handler_use_a_4_mib_array() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .thread_stack_size(8 << 20)
        .websocket("/deep", |ws: WebSocket| {
            let mut buf = [0u8; 4 << 20];
            std::hint::black_box(&mut buf);
            for (i, byte) in buf.iter_mut().enumerate() {
                *byte = (i % 2) as u8;
            }
            std::hint::black_box(&mut buf);
            let ones: usize = buf.iter().map(|&b| usize::from(b)).sum();
            let _ = ws.send_text(&ones.to_string());
        })
        .serve()
        .unwrap();
    let mut ws = connect(&server, "/deep");
    assert_eq!(read_text(&mut ws), (2 << 20).to_string());
}

//! Stopping a server, seen from clients over loopback: every open client
//! gets 1001, handler threads are waited for, the port is closed after
//! `stop` returns, dropping the last handle stops the server, and a handler
//! that never returns cannot hold `stop` past its timeout.
//!
//! (The count of threads and file descriptors left behind is in
//! `tests/lifecycle.rs`, alone in its binary.)

mod server_raw;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use server_raw::{End, Peer, RawClient, TIMEOUT, read_to_end};
use syncws::{CloseCode, Error, Message, Server, ServerHandle, WebSocket};

/// A client of `addr` reading in a thread until the connection ends.
fn reading_client(addr: SocketAddr, path: &str) -> Peer<Error> {
    let mut ws = syncws::connect(&format!("ws://{addr}{path}")).unwrap();
    Peer::spawn("reading client", move || read_to_end(&mut ws))
}

#[track_caller]
fn assert_going_away(end: Error) {
    match end {
        Error::Closed(frame) => assert_eq!(frame.code, CloseCode::GoingAway, "{frame}"),
        other => panic!("expected a close with 1001, got {other:?}"),
    }
}

#[track_caller]
fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("{addr} still accepts connections"),
    }
    assert!(matches!(
        syncws::connect(&format!("ws://{addr}/")),
        Err(Error::Io(_))
    ));
}

/// An echo server whose handlers report when they start and count when
/// they end.
fn counting_server(stop_timeout: Duration) -> (ServerHandle, mpsc::Receiver<()>, Arc<AtomicUsize>) {
    let (opened_tx, opened_rx) = mpsc::channel();
    let ended = Arc::new(AtomicUsize::new(0));
    let ended_in_handler = Arc::clone(&ended);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(stop_timeout)
        .websocket("/", move |mut ws: WebSocket| {
            let _ = opened_tx.send(());
            let _ = ws.set_read_timeout(Some(TIMEOUT));
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
            ended_in_handler.fetch_add(1, Ordering::SeqCst);
        })
        .serve()
        .unwrap();
    (server, opened_rx, ended)
}

#[track_caller]
fn await_opened(opened: &mpsc::Receiver<()>, n: usize) {
    for i in 0..n {
        opened
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("handler {i} of {n} never started: {e}"));
    }
}

#[test]
fn stop_closes_every_client_with_1001_waits_for_handlers_then_refuses_connections() {
    let (server, opened, ended) = counting_server(Duration::from_secs(5));
    let addr = server.local_addr();
    let clients: Vec<Peer<Error>> = (0..3).map(|_| reading_client(addr, "/")).collect();
    // A raw client, to see the close frame itself; it answers it.
    let (mut raw, _) = RawClient::connect(addr, "/", "");
    await_opened(&opened, 4);
    let raw = Peer::spawn("raw client", move || {
        let end = raw.read_until_close();
        if let End::Close(code, _) = end {
            raw.send_close(code).unwrap();
        }
        end
    });

    let start = Instant::now();
    server.stop();
    let took = start.elapsed();

    // Every handler has returned by the time stop returns.
    assert_eq!(ended.load(Ordering::SeqCst), 4);
    for client in clients {
        assert_going_away(client.join());
    }
    match raw.join() {
        End::Close(code, reason) => assert_eq!(code, 1001, "{reason}"),
        End::Dropped => panic!("dropped without a close frame"),
    }
    // Clients that answer the close let stop return well before its timeout.
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert_refused(addr);
    // Stopping again does nothing.
    server.stop();
}

#[test]
fn join_returns_once_another_clone_stops_the_server() {
    let (server, _opened, _ended) = counting_server(Duration::from_secs(5));
    let waiter = server.clone();
    let joined = Peer::spawn("joiner", move || waiter.join());
    let mut ws = syncws::connect(&format!("ws://{}/", server.local_addr())).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send_text("before").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("before"));
    let client = Peer::spawn("client", move || read_to_end(&mut ws));
    server.stop();
    joined.join();
    assert_going_away(client.join());
}

#[test]
fn dropping_the_last_handle_stops_the_server() {
    let (server, opened, ended) = counting_server(Duration::from_secs(5));
    let addr = server.local_addr();
    let clone = server.clone();
    drop(clone);
    // One clone gone: still serving.
    let mut ws = syncws::connect(&format!("ws://{addr}/")).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send_text("still serving").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("still serving"));
    await_opened(&opened, 1);
    let client = Peer::spawn("client", move || read_to_end(&mut ws));

    drop(server);

    assert_going_away(client.join());
    assert_eq!(ended.load(Ordering::SeqCst), 1);
    assert_refused(addr);
}

#[test]
fn a_handler_that_never_returns_does_not_keep_stop_from_returning() {
    const STOP_TIMEOUT: Duration = Duration::from_millis(500);
    let (opened_tx, opened_rx) = mpsc::channel();
    // Nothing is ever sent on this channel: the handler waits until the
    // test ends and drops the sending side.
    let (never_tx, never_rx) = mpsc::channel::<()>();
    let never_rx = Mutex::new(never_rx);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(STOP_TIMEOUT)
        .websocket("/", move |ws: WebSocket| {
            let _ = opened_tx.send(());
            let _ = never_rx.lock().unwrap().recv();
            drop(ws);
        })
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let client = reading_client(addr, "/");
    await_opened(&opened_rx, 1);

    let start = Instant::now();
    server.stop();
    let took = start.elapsed();
    assert!(
        took < STOP_TIMEOUT + Duration::from_millis(1500),
        "stop took {took:?}"
    );
    assert_refused(addr);
    // The client was told, or at least dropped.
    match client.join() {
        Error::Closed(frame) => assert_eq!(frame.code, CloseCode::GoingAway),
        Error::Io(_) => {}
        other => panic!("unexpected end {other:?}"),
    }
    drop(never_tx);
}

/// A panicking before-upgrade hook must not leave the server believing a
/// connection thread still runs: with nothing open, `stop` returns at
/// once, not after its timeout.
#[test]
fn stop_is_prompt_after_a_before_upgrade_hook_panicked() {
    const STOP_TIMEOUT: Duration = Duration::from_secs(2);
    let (hooked_tx, hooked_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(STOP_TIMEOUT)
        .websocket(
            syncws::server::Route::exact("/hooked").before_upgrade(move |_request, _upgrade| {
                let _ = hooked_tx.send(());
                panic!("hook boom")
            }),
            |_ws: WebSocket| {},
        )
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let mut stream = server_raw::tcp(addr);
    std::io::Write::write_all(
        &mut stream,
        server_raw::upgrade_request("/hooked", "").as_bytes(),
    )
    .unwrap();
    hooked_rx.recv_timeout(TIMEOUT).expect("the hook ran");
    drop(stream);

    let start = Instant::now();
    server.stop();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "stop took {took:?} with no connection open (stop timeout {STOP_TIMEOUT:?})"
    );
}

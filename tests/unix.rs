//! Unix domain sockets: our server bound to a path and our `ws+unix:`
//! client, against each other and against Python `websockets`
//! (`unix_serve`, `unix_connect`); stale and live socket files; full
//! duplex, read timeouts and keep-alive on a Unix connection; the limits.
//!
//! The Python tests need `websockets` (`scripts/test-all.sh` installs it
//! into `target/py-venv`; `SYNCWS_PYTHON` names another interpreter).
//! Without it they say so and pass, except in CI (`CI` set), where they fail.
#![cfg(unix)]

mod child;
#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use syncws::protocol::frame::{OpCode, write_frame};
use syncws::server::{ConnectionEnd, EndReason, Route};
use syncws::{Address, Error, HandshakeError, KeepAlive, Message, Server, Timeout, WebSocket};

use child::{peer_script, python};
use common::TIMEOUT;

/// A socket path of this test's own in the temporary directory, removed
/// when dropped (if anything is left there).
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("syncws-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }

    fn url(&self, resource: &str) -> String {
        format!("ws+unix:{}:{resource}", self.0.display())
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A process this test started, killed by its pid when dropped, so that
/// a failing assertion still stops it.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait, within `TIMEOUT`, for `child` to print `line` on its stdout.
fn await_line(child: &mut Child, line: &str) {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let got = rx
        .recv_timeout(TIMEOUT)
        .expect("the peer never said it was ready");
    assert_eq!(got.trim(), line);
}

fn echo(mut ws: WebSocket) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

#[test]
fn our_ws_unix_client_against_python_unix_serve() {
    let Some(python) = python("websockets.sync.server") else {
        return;
    };
    let socket = SocketPath::new("py-server");
    let mut server = Process(
        Command::new(python)
            .arg(peer_script("python_unix_server.py"))
            .arg(&socket.0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    await_line(&mut server.0, "ready");
    let mut ws = syncws::connect(&socket.url("/echo?x=1")).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    // The resource after the socket path, and Host: localhost.
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("/echo?x=1 localhost".into())
    );
    assert_eq!(ws.peer_addr(), None, "a Unix socket has no IP address");
    assert_eq!(
        ws.peer_address(),
        Some(&Address::Unix(Some(socket.0.clone())))
    );
    ws.send_text("hello, Python").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("hello, Python".into())
    );
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    ws.send_binary(&big).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(big));
    let answer = ws.close(syncws::CloseCode::Normal, "bye").unwrap();
    assert_eq!(answer.code, syncws::CloseCode::Normal);
}

#[test]
fn python_unix_connect_against_our_unix_server() {
    let Some(python) = python("websockets.sync.server") else {
        return;
    };
    let socket = SocketPath::new("our-server");
    let (end_tx, ends) = mpsc::channel::<ConnectionEnd>();
    let server = Server::bind_unix(&socket.0)
        .unwrap()
        .config(syncws::Config::default().max_message_size(8 << 20))
        .websocket(
            Route::exact("/chat").after_close(move |end| {
                let _ = end_tx.send(end.clone());
            }),
            |mut ws: WebSocket| {
                let greeting = format!(
                    "{} {}",
                    ws.request().unwrap().target(),
                    ws.peer_address().unwrap()
                );
                ws.send_text(&greeting).unwrap();
                echo_mut(&mut ws);
            },
        )
        .serve()
        .unwrap();
    assert_eq!(
        server.local_address(),
        &Address::Unix(Some(socket.0.clone()))
    );
    let output = Command::new(python)
        .arg(peer_script("python_unix_client.py"))
        .arg(&socket.0)
        .arg("ws://localhost/chat?room=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Process)
        .unwrap();
    let output = wait_output(output);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "Python: {stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "ok", "{stderr}");
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(end.info.path, "/chat");
    assert_eq!(end.info.peer, None);
    assert_eq!(end.info.peer_address, Some(Address::Unix(None)));
    assert!(matches!(end.reason, EndReason::Closed(_)), "{end:?}");
    server.stop();
}

fn echo_mut(ws: &mut WebSocket) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

/// Wait for the process to end within two minutes, with its output.
fn wait_output(mut process: Process) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            process
                .0
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut stdout)
                .unwrap();
            process
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_end(&mut stderr)
                .unwrap();
            return std::process::Output {
                status,
                stdout,
                stderr,
            };
        }
        assert!(
            Instant::now() < deadline,
            "the Python client did not finish"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stale_socket_file_is_replaced_a_live_one_refused_and_ours_removed_at_stop() {
    let socket = SocketPath::new("stale");
    // A server that is gone: its socket file is left behind.
    drop(UnixListener::bind(&socket.0).unwrap());
    assert!(socket.0.exists());
    let server = Server::bind_unix(&socket.0).unwrap().start(echo).unwrap();
    let mut ws = syncws::connect(&socket.url("/")).unwrap();
    ws.send_text("over the replaced file").unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("over the replaced file".into())
    );
    // A second server on the same path: refused, and the first still works.
    let second = Server::bind_unix(&socket.0).unwrap_err();
    assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse, "{second}");
    ws.send_text("still here").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("still here".into())
    );
    drop(ws);
    server.stop();
    assert!(!socket.0.exists(), "the socket file is removed at stop");
}

#[test]
fn a_file_that_is_not_a_socket_is_never_removed() {
    let path = SocketPath::new("regular");
    std::fs::write(&path.0, b"not a socket").unwrap();
    let refused = Server::bind_unix(&path.0).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    assert_eq!(std::fs::read(&path.0).unwrap(), b"not a socket");
}

#[test]
fn a_listener_of_the_callers_is_served_and_its_file_left_alone() {
    let socket = SocketPath::new("callers");
    let listener = UnixListener::bind(&socket.0).unwrap();
    let server = Server::from_unix_listener(listener).start(echo).unwrap();
    let mut ws = syncws::connect(&socket.url("/")).unwrap();
    ws.send_text("x").unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text("x".into()));
    drop(ws);
    server.stop();
    assert!(
        socket.0.exists(),
        "the caller's socket file is the caller's"
    );
}

#[test]
fn a_blocked_reader_never_delays_a_sender_over_unix() {
    let socket = SocketPath::new("duplex-server");
    let url = socket.url("/");
    common::a_blocked_reader_never_delays_a_sender(
        |handler| {
            Server::bind_unix(&socket.0)
                .unwrap()
                .start(handler)
                .unwrap()
        },
        |_| syncws::connect(&url).unwrap(),
    );
}

#[test]
fn a_client_reads_while_another_thread_sends_over_unix() {
    let socket = SocketPath::new("duplex-client");
    let _server = Server::bind_unix(&socket.0).unwrap().start(echo).unwrap();
    common::a_client_reads_while_another_thread_sends(syncws::connect(&socket.url("/")).unwrap());
}

/// A raw WebSocket server of the test's own on a Unix socket: it accepts
/// one handshake, then hands the stream to `then`.
fn raw_unix_server(
    socket: &Path,
    then: impl FnOnce(UnixStream) + Send + 'static,
) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(socket).unwrap();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        common::answer_handshake(&mut stream);
        then(stream);
    })
}

#[test]
fn a_read_timeout_on_a_unix_connection_loses_nothing() {
    let socket = SocketPath::new("timeout");
    let (go, go_rx) = mpsc::channel::<()>();
    let mut frame = Vec::new();
    write_frame(
        &mut frame,
        true,
        OpCode::Text,
        b"half now, half later",
        None,
    );
    let peer = raw_unix_server(&socket.0, move |mut stream| {
        stream.write_all(&frame[..7]).unwrap();
        go_rx.recv().unwrap();
        stream.write_all(&frame[7..]).unwrap();
        let _ = go_rx.recv();
    });
    let mut ws = syncws::connect(&socket.url("/")).unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let error = ws.read_message().unwrap_err();
    assert!(matches!(error, Error::Timeout(Timeout::Read)), "{error:?}");
    go.send(()).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("half now, half later".into())
    );
    drop(go);
    drop(ws);
    peer.join().unwrap();
}

#[test]
fn keep_alive_ends_a_unix_connection_whose_peer_stopped_answering() {
    let socket = SocketPath::new("keep-alive");
    let (done, done_rx) = mpsc::channel::<()>();
    // The peer reads nothing and answers nothing after the handshake.
    let peer = raw_unix_server(&socket.0, move |_stream| {
        let _ = done_rx.recv_timeout(TIMEOUT);
    });
    let mut ws = syncws::connect(&socket.url("/")).unwrap();
    let started = Instant::now();
    ws.set_keep_alive(Some(KeepAlive::new(
        Duration::from_millis(100),
        Duration::from_millis(200),
    )))
    .unwrap();
    let error = common::read_to_end(&mut ws);
    assert!(
        matches!(error, Error::Timeout(Timeout::PongOverdue)),
        "{error:?}"
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "after only {took:?}");
    assert!(took < Duration::from_secs(3), "after {took:?}");
    drop(done);
    peer.join().unwrap();
}

/// Unix peers have no address to tell them apart: they are not counted
/// per peer, but every connection counts against `max_connections`.
#[test]
fn unix_peers_count_against_max_connections_not_per_peer() {
    let socket = SocketPath::new("limits");
    let server = Server::bind_unix(&socket.0)
        .unwrap()
        .max_connections_per_peer(1)
        .max_connections(2)
        .start(echo)
        .unwrap();
    let first = syncws::connect(&socket.url("/")).unwrap();
    let second = syncws::connect(&socket.url("/")).unwrap();
    common::eventually("both listed", TIMEOUT, || server.connections().len() == 2);
    for info in server.connections() {
        assert_eq!(info.peer_address, Some(Address::Unix(None)));
    }
    match syncws::connect(&socket.url("/")) {
        Err(Error::Handshake(HandshakeError::Refused { status, .. })) => assert_eq!(status, 503),
        other => panic!("a third connection: {other:?}"),
    }
    drop((first, second));
    common::eventually("both gone", TIMEOUT, || server.connections().is_empty());
    let again = syncws::connect(&socket.url("/"));
    assert!(again.is_ok(), "room again: {again:?}");
}

/// `wss+unix:` runs TLS over the Unix socket, checking the certificate
/// against `localhost`.
#[cfg(feature = "native-tls")]
#[test]
fn wss_over_a_unix_socket() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let identity =
        syncws::native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let socket = SocketPath::new("wss");
    let _server = Server::bind_unix(&socket.0)
        .unwrap()
        .tls(identity)
        .unwrap()
        .start(echo)
        .unwrap();
    let url = format!("wss+unix:{}:/secure", socket.0.display());
    let mut ws = syncws::ClientBuilder::new(url)
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send_text("encrypted, locally").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("encrypted, locally".into())
    );
}

/// The same through rustls, on both ends.
#[cfg(feature = "rustls")]
#[test]
fn wss_over_a_unix_socket_through_rustls() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let socket = SocketPath::new("wss-rustls");
    let _server = Server::bind_unix(&socket.0)
        .unwrap()
        .rustls_pem(cert_pem.as_bytes(), key_pem.as_bytes())
        .unwrap()
        .start(echo)
        .unwrap();
    let url = format!("wss+unix:{}:/secure", socket.0.display());
    let mut ws = syncws::ClientBuilder::new(url)
        .tls_backend(syncws::TlsBackend::Rustls)
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send_text("encrypted by rustls, locally").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("encrypted by rustls, locally".into())
    );
}

//! Streams of the caller's choosing: a client handshake on a stream the
//! test connected (`ClientBuilder::connect_on`), a stream the test accepted
//! handed to the server (`ServerHandle::serve_stream`), and an upgrade
//! whose head an HTTP loop of the test's own read (`ServerHandle::upgrade`):
//! the same routes, limits, hooks, full duplex and keep-alive as the
//! server's own connections.

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use syncws::protocol::frame::{OpCode, write_frame};
use syncws::protocol::handshake::{ClientRequest, parse_response};
use syncws::server::{ConnectionEnd, EndReason, Request, Route};
use syncws::{
    ClientBuilder, Error, HandshakeError, KeepAlive, Message, Server, ServerHandle, WebSocket,
};

use common::TIMEOUT;

fn echo(mut ws: WebSocket) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

/// A handler that says which `Host` and target it was opened with, then
/// echoes.
fn tell_then_echo(ws: WebSocket) {
    let request = ws.request().unwrap();
    let told = format!(
        "{} {}",
        request.header("Host").unwrap_or("-"),
        request.target()
    );
    ws.send_text(&told).unwrap();
    echo(ws);
}

fn refused_status(result: syncws::Result<WebSocket>) -> u16 {
    match result {
        Err(Error::Handshake(HandshakeError::Refused { status, .. })) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn connect_on_a_tcp_stream_the_caller_connected() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(tell_then_echo)
        .unwrap();
    let tcp = TcpStream::connect(server.local_addr()).unwrap();
    let mut ws = ClientBuilder::new("ws://app.example:8080/feed?x=1")
        .connect_on(tcp)
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("app.example:8080 /feed?x=1".into())
    );
    assert_eq!(ws.peer_addr(), Some(server.local_addr()));
    ws.send_text("on my own stream").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("on my own stream".into())
    );
}

#[cfg(unix)]
#[test]
fn connect_on_a_unix_stream_the_caller_connected_with_full_duplex() {
    use std::os::unix::net::UnixStream;
    let path = std::env::temp_dir().join(format!("syncws-{}-connect-on.sock", std::process::id()));
    let server = Server::bind_unix(&path)
        .unwrap()
        .websocket("/told", tell_then_echo)
        .websocket("/echo", echo)
        .serve()
        .unwrap();
    let stream = UnixStream::connect(&path).unwrap();
    let mut ws = ClientBuilder::new("ws://app.internal/told")
        .connect_on(stream)
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("app.internal /told".into())
    );
    drop(ws);
    let stream = UnixStream::connect(&path).unwrap();
    let ws = ClientBuilder::new("ws://app.internal/echo")
        .connect_on(stream)
        .unwrap();
    common::a_client_reads_while_another_thread_sends(ws);
    server.stop();
    assert!(!path.exists());
}

/// A read timeout on a stream the caller connected is an ordinary error:
/// the connection stays usable and the next message arrives whole
/// (`tests/unix.rs` splits a frame across the timeout).
#[test]
fn a_read_timeout_on_a_connect_on_stream_loses_nothing() {
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(move |ws| {
            // Two sends with a pause between them: the client's short
            // timeout falls between.
            ws.send_text("first").unwrap();
            let _ = go_rx.lock().unwrap().recv_timeout(TIMEOUT);
            ws.send_text("second").unwrap();
            let mut ws = ws;
            let _ = common::read_to_end(&mut ws);
        })
        .unwrap();
    let tcp = TcpStream::connect(server.local_addr()).unwrap();
    let mut ws = ClientBuilder::new("ws://localhost/")
        .connect_on(tcp)
        .unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text("first".into()));
    let error = ws.read_message().unwrap_err();
    assert!(
        matches!(error, Error::Timeout(syncws::Timeout::Read)),
        "{error:?}"
    );
    go.send(()).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text("second".into()));
}

#[cfg(feature = "native-tls")]
fn tls_server(handler: impl Fn(WebSocket) + Send + Sync + 'static) -> (ServerHandle, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let identity =
        syncws::native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(identity)
        .unwrap()
        .start(handler)
        .unwrap();
    (server, cert_pem)
}

#[cfg(feature = "native-tls")]
#[test]
fn connect_on_with_wss_does_the_tls_handshake_on_the_callers_stream() {
    let (server, cert_pem) = tls_server(tell_then_echo);
    let tcp = TcpStream::connect(server.local_addr()).unwrap();
    let mut ws = ClientBuilder::new("wss://localhost/secure")
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect_on(tcp)
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text("localhost /secure".into())
    );
}

/// A listener of the test's own whose streams all go to `server` through
/// `serve_stream`; its address.
fn own_listener(server: &ServerHandle) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let weak = server.downgrade();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Some(server) = weak.upgrade() else { return };
            if server.serve_stream(stream.unwrap()).is_err() {
                return;
            }
        }
    });
    addr
}

#[test]
fn serve_stream_applies_the_routes_origins_and_hooks() {
    let (end_tx, ends) = mpsc::channel::<ConnectionEnd>();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::exact("/chat")
                .origins(["http://good.example"])
                .before_upgrade(|_request, upgrade| {
                    upgrade.attach(42u32);
                    Ok(())
                })
                .after_close(move |end| {
                    let _ = end_tx.send(end.clone());
                }),
            |ws: WebSocket| {
                let data = *ws.data::<u32>().unwrap();
                ws.send_text(&format!("data {data}")).unwrap();
                echo(ws);
            },
        )
        .serve()
        .unwrap();
    let mine = own_listener(&server);
    let url = format!("ws://{mine}/chat");
    let refused = ClientBuilder::new(&url)
        .origin("http://evil.example")
        .connect();
    assert_eq!(refused_status(refused), 403);
    assert_eq!(
        refused_status(syncws::connect(&format!("ws://{mine}/elsewhere"))),
        404
    );
    let mut ws = ClientBuilder::new(&url)
        .origin("http://good.example")
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text("data 42".into()));
    let listed = server.connections();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].peer, Some(ws.local_addr().unwrap()));
    ws.close(syncws::CloseCode::Normal, "done").unwrap();
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(end.info.path, "/chat");
    assert!(matches!(end.reason, EndReason::Closed(_)), "{end:?}");
}

#[test]
fn serve_stream_counts_against_the_servers_limits() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .max_connections(1)
        .start(echo)
        .unwrap();
    let mine = own_listener(&server);
    let url = format!("ws://{mine}/");
    let first = syncws::connect(&url).unwrap();
    assert_eq!(refused_status(syncws::connect(&url)), 503);
    drop(first);
    common::eventually("room again", TIMEOUT, || syncws::connect(&url).is_ok());
}

#[test]
fn serve_stream_keeps_a_connection_alive_and_ends_a_mute_one() {
    let (end_tx, ends) = mpsc::channel::<ConnectionEnd>();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .keep_alive(KeepAlive::new(
            Duration::from_millis(100),
            Duration::from_millis(200),
        ))
        .websocket(
            Route::any().after_close(move |end| {
                let _ = end_tx.send(end.clone());
            }),
            echo,
        )
        .serve()
        .unwrap();
    let mine = own_listener(&server);
    // A peer that completes the handshake, then reads and answers nothing.
    let mut mute = TcpStream::connect(mine).unwrap();
    let request = ClientRequest::new("localhost", "/mute");
    mute.write_all(&request.to_bytes()).unwrap();
    mute.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 1024];
    let n = mute.read(&mut buf).unwrap();
    let (head, _) = parse_response(&buf[..n], 4096, 32).unwrap().unwrap();
    assert_eq!(head.status, 101);
    let opened = Instant::now();
    let end = ends.recv_timeout(TIMEOUT).unwrap();
    let took = opened.elapsed();
    assert!(matches!(end.reason, EndReason::Failed(_)), "{end:?}");
    assert!(took >= Duration::from_millis(250), "after only {took:?}");
    assert!(took < Duration::from_secs(3), "after {took:?}");
}

#[cfg(feature = "native-tls")]
#[test]
fn serve_stream_on_a_tls_server_does_the_tls_handshake() {
    let (server, cert_pem) = tls_server(tell_then_echo);
    let mine = own_listener(&server);
    let mut ws = ClientBuilder::new(format!("wss://localhost:{}/tls", mine.port()))
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text(format!("localhost:{} /tls", mine.port()))
    );
}

#[test]
fn serve_stream_after_stop_is_an_error() {
    let server = Server::bind("127.0.0.1:0").unwrap().start(echo).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    server.stop();
    assert!(server.serve_stream(stream).is_err());
}

/// The page the test's own HTTP loop serves itself.
const OWN_PAGE: &str = "the loop's own page";

/// A minimal HTTP loop of the test's own: it reads each request head with
/// httparse, answers `GET /` with a page of its own, and hands every other
/// request, with the bytes read past its head, to `server.upgrade`.
fn http_loop(server: &ServerHandle) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let weak = server.downgrade();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Some(server) = weak.upgrade() else { return };
            let stream = stream.unwrap();
            thread::spawn(move || serve_one(&server, stream));
        }
    });
    addr
}

fn serve_one(server: &ServerHandle, mut stream: TcpStream) {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&buf) else {
            continue;
        };
        let (method, target) = (parsed.method.unwrap(), parsed.path.unwrap());
        if target == "/" {
            let page = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{OWN_PAGE}",
                OWN_PAGE.len()
            );
            stream.write_all(page.as_bytes()).unwrap();
            return;
        }
        let pairs: Vec<(&str, &str)> = parsed
            .headers
            .iter()
            .map(|h| (h.name, std::str::from_utf8(h.value).unwrap()))
            .collect();
        let request = Request::from_parts(method, target, pairs).unwrap();
        let rest = buf[head_len..].to_vec();
        server.upgrade(request, rest, stream).unwrap();
        return;
    }
}

fn embedded_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(Route::exact("/echo").origins(["http://good.example"]), echo)
        .page("/server-page", "text/plain", "the server's page")
        .serve()
        .unwrap()
}

#[test]
fn an_upgrade_read_by_another_http_loop_with_its_first_frame_in_the_same_write() {
    let server = embedded_server();
    let http = http_loop(&server);
    // The loop's own page.
    let mut page = TcpStream::connect(http).unwrap();
    page.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    page.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut answer = String::new();
    page.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with(OWN_PAGE), "{answer}");
    // The upgrade and the first frame, in one write: the frame is read
    // past the head by the loop, and handed over with it.
    let mut raw = TcpStream::connect(http).unwrap();
    let mut request = ClientRequest::new("localhost", "/echo");
    request.origin = Some("http://good.example".into());
    let mut bytes = request.to_bytes();
    write_frame(
        &mut bytes,
        true,
        OpCode::Text,
        b"in the same write",
        Some([1, 2, 3, 4]),
    );
    raw.write_all(&bytes).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let expected_frame = {
        let mut frame = Vec::new();
        write_frame(&mut frame, true, OpCode::Text, b"in the same write", None);
        frame
    };
    let deadline = Instant::now() + TIMEOUT;
    let head_len = loop {
        assert!(Instant::now() < deadline, "no 101 and echo: {got:?}");
        let n = raw.read(&mut chunk).unwrap();
        assert!(n > 0, "ended: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
        if let Some((head, len)) = parse_response(&got, 4096, 32).unwrap() {
            assert_eq!(head.status, 101);
            if got.len() >= len + expected_frame.len() {
                break len;
            }
        }
    };
    assert_eq!(&got[head_len..], &expected_frame[..]);
}

#[test]
fn an_upgrade_handed_over_is_refused_or_answered_as_the_server_would() {
    let server = embedded_server();
    let http = http_loop(&server);
    let url = format!("ws://{http}/echo");
    // The route's origin list.
    let refused = ClientBuilder::new(&url)
        .origin("http://evil.example")
        .connect();
    assert_eq!(refused_status(refused), 403);
    // No route for the path.
    assert_eq!(
        refused_status(syncws::connect(&format!("ws://{http}/nowhere"))),
        404
    );
    // Not an upgrade: the server's page for the path.
    let mut plain = TcpStream::connect(http).unwrap();
    plain
        .write_all(b"GET /server-page HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    plain.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("the server's page"), "{answer}");
    // A broken upgrade (no key): 400, by the server.
    let mut broken = TcpStream::connect(http).unwrap();
    broken
        .write_all(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nOrigin: http://good.example\r\n\r\n",
        )
        .unwrap();
    broken.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut answer = String::new();
    broken.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Full duplex on a connection handed over by the HTTP loop: the server's
/// reader blocked while another thread sends everything.
#[test]
fn an_upgraded_connection_is_full_duplex() {
    common::a_blocked_reader_never_delays_a_sender(
        |handler| {
            let server = Server::bind("127.0.0.1:0").unwrap().start(handler).unwrap();
            let http = http_loop(&server);
            (server, http)
        },
        |(_, http)| syncws::connect(&format!("ws://{http}/duplex")).unwrap(),
    );
}

/// A stream from a non-blocking listener may be non-blocking itself: it is
/// served with blocking reads and the usual timeouts all the same.
#[test]
fn a_non_blocking_stream_is_served_like_any_other() {
    let server = Server::bind("127.0.0.1:0").unwrap().start(echo).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, go_rx) = mpsc::channel::<()>();
    let client = thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        // The request only once the server has the stream: its first
        // read finds nothing yet, and must wait for it.
        go_rx.recv().unwrap();
        let mut ws = ClientBuilder::new("ws://localhost/")
            .connect_on(tcp)
            .unwrap();
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        ws.send_text("through a non-blocking stream").unwrap();
        ws.read_message().unwrap()
    });
    let (stream, _) = listener.accept().unwrap();
    stream.set_nonblocking(true).unwrap();
    server.serve_stream(stream).unwrap();
    go.send(()).unwrap();
    assert_eq!(
        client.join().unwrap(),
        Message::Text("through a non-blocking stream".into())
    );
}

/// `upgrade` takes a head read in the clear: on a server that speaks TLS
/// to its own connections, the handed-over one stays plain (its TLS, if
/// any, is the other loop's).
#[cfg(feature = "native-tls")]
#[test]
fn an_upgrade_handed_to_a_tls_server_is_served_in_the_clear() {
    let (server, _cert_pem) = tls_server(tell_then_echo);
    let http = http_loop(&server);
    let mut ws = syncws::connect(&format!("ws://{http}/plain")).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Text(format!("{http} /plain"))
    );
}

/// Another HTTP loop that speaks TLS with rustls: it does the handshake and
/// reads the head through its own rustls connection, then hands that
/// connection over with the socket (`upgrade_rustls`).
#[cfg(feature = "rustls")]
mod over_rustls {
    use super::*;
    use std::sync::Arc;
    use syncws::rustls;
    use syncws::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use syncws::{CloseCode, Timeout};

    /// A rustls server configuration for `localhost`, and its certificate
    /// as PEM for the clients to trust.
    fn config() -> (Arc<rustls::ServerConfig>, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        (Arc::new(config), certified.cert.pem())
    }

    fn tls_http_loop(server: &ServerHandle, config: Arc<rustls::ServerConfig>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let weak = server.downgrade();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Some(server) = weak.upgrade() else { return };
                let stream = stream.unwrap();
                let config = Arc::clone(&config);
                thread::spawn(move || serve_one_over_tls(&server, stream, config));
            }
        });
        addr
    }

    fn serve_one_over_tls(
        server: &ServerHandle,
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
    ) {
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        let connection = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tls.read(&mut chunk).unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Request::new(&mut headers);
            let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&buf) else {
                continue;
            };
            let pairs: Vec<(&str, &str)> = parsed
                .headers
                .iter()
                .map(|h| (h.name, std::str::from_utf8(h.value).unwrap()))
                .collect();
            let request =
                Request::from_parts(parsed.method.unwrap(), parsed.path.unwrap(), pairs).unwrap();
            let rest = buf[head_len..].to_vec();
            let rustls::StreamOwned { conn, sock } = tls;
            server.upgrade_rustls(request, rest, sock, conn).unwrap();
            return;
        }
    }

    #[test]
    fn an_upgrade_read_over_rustls_goes_on_over_that_tls_full_duplex() {
        let (config, cert_pem) = config();
        common::a_blocked_reader_never_delays_a_sender(
            |handler| {
                let server = Server::bind("127.0.0.1:0").unwrap().start(handler).unwrap();
                let http = tls_http_loop(&server, Arc::clone(&config));
                (server, http)
            },
            |(_, http)| {
                ClientBuilder::new(format!("wss://localhost:{}/duplex", http.port()))
                    .add_root_certificate(cert_pem.as_bytes())
                    .unwrap()
                    .connect()
                    .unwrap()
            },
        );
    }

    /// The routes and their checks apply as to the server's own requests,
    /// and a read timeout leaves the connection usable.
    #[test]
    fn an_upgrade_read_over_rustls_is_judged_and_served_as_the_servers_own() {
        let (config, cert_pem) = config();
        let server = embedded_server();
        let http = tls_http_loop(&server, config);
        let client = |origin: &str| {
            ClientBuilder::new(format!("wss://localhost:{}/echo", http.port()))
                .add_root_certificate(cert_pem.as_bytes())
                .unwrap()
                .origin(origin)
                .connect()
        };
        assert_eq!(refused_status(client("http://evil.example")), 403);
        let mut ws = client("http://good.example").unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(matches!(
            ws.read_message(),
            Err(Error::Timeout(Timeout::Read))
        ));
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        ws.send_text("after a timeout").unwrap();
        assert_eq!(
            ws.read_message().unwrap(),
            Message::Text("after a timeout".into())
        );
        ws.close(CloseCode::Normal, "").unwrap();
    }
}

//! The opening handshake from both ends: what a client sees when a server
//! refuses, what a server answers to requests that are not upgrades, and
//! how it answers the edges of HTTP (a repeated `Origin`, a body, bytes
//! that are not UTF-8 in a header value, an absolute-form target).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use syncws::server::Route;
use syncws::{
    ClientBuilder, Config, Error, HandshakeError, Message, Server, ServerHandle, Timeout, WebSocket,
};

fn echo_server() -> ServerHandle {
    support::start_echo_server().0
}

/// Send raw bytes to `server` and return its whole answer as text.
fn raw_exchange(server: &ServerHandle, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn assert_still_serves(server: &ServerHandle) {
    let mut ws = syncws::connect(&format!("ws://{}/", server.local_addr())).unwrap();
    ws.send_text("ok").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("ok"));
}

const GOOD_HEADERS: &str = "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[test]
fn server_refuses_what_is_not_a_valid_upgrade_with_the_right_status() {
    let server = echo_server();
    let cases: &[(&str, String, u16)] = &[
        (
            "a method other than GET",
            format!("POST / HTTP/1.1\r\n{GOOD_HEADERS}Sec-WebSocket-Version: 13\r\n\r\n"),
            405,
        ),
        (
            "a plain HTTP request",
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            "a missing key",
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "a malformed key",
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "a wrong version",
            format!("GET / HTTP/1.1\r\n{GOOD_HEADERS}Sec-WebSocket-Version: 8\r\n\r\n"),
            426,
        ),
        (
            "garbage",
            "\x16\x03\x01 hello there\r\n\r\n".to_string(),
            400,
        ),
        (
            "a head above the size limit",
            format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000)),
            431,
        ),
        (
            "too many headers",
            format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(100)),
            431,
        ),
    ];
    for (what, request, status) in cases {
        let answer = raw_exchange(&server, request.as_bytes());
        assert_eq!(status_of(&answer), *status, "{what}: {answer}");
        if *status == 426 {
            assert!(answer.contains("Sec-WebSocket-Version: 13"), "{answer}");
        }
        assert_still_serves(&server);
    }
}

/// A raw server that answers the first request with `answer` and closes.
fn one_shot_http_server(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        stream.write_all(answer).unwrap();
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.read(&mut buf);
    });
    url
}

#[test]
fn client_sees_the_status_headers_and_body_of_a_refusal() {
    let url = one_shot_http_server(
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nnot for you",
    );
    match syncws::connect(&url) {
        Err(Error::Handshake(HandshakeError::Refused {
            status,
            headers,
            body,
        })) => {
            assert_eq!(status, 403);
            assert!(
                headers
                    .iter()
                    .any(|(k, v)| k == "Content-Type" && v == "text/plain")
            );
            assert_eq!(body, b"not for you");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn client_fails_on_a_wrong_accept_key() {
    let url = one_shot_http_server(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
    );
    assert!(matches!(
        syncws::connect(&url),
        Err(Error::Handshake(HandshakeError::Invalid(_)))
    ));
}

#[test]
fn client_handshake_times_out_against_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let result = ClientBuilder::new(url)
        .config(Config::default().handshake_timeout(Some(Duration::from_millis(100))))
        .connect();
    assert!(
        matches!(result, Err(Error::Timeout(Timeout::Handshake))),
        "{result:?}"
    );
    drop(listener);
}

#[test]
fn client_reports_a_refused_tcp_connection_as_io() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let result = syncws::connect(&format!("ws://127.0.0.1:{port}/"));
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
}

#[test]
fn client_rejects_bad_urls() {
    for url in ["http://x/", "ws://", "ws://host:99999/", "ws://host/#frag"] {
        assert!(matches!(syncws::connect(url), Err(Error::Url(_))), "{url}");
    }
}

#[test]
fn client_and_server_speak_over_ipv6_literals() {
    let Ok(server) = Server::bind("[::1]:0") else {
        eprintln!("IPv6 loopback unavailable here; nothing to test");
        return;
    };
    let server = server
        .start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|m| sender.send_message(m));
        })
        .unwrap();
    let url = format!("ws://[::1]:{}/v6?x=1", server.local_addr().port());
    let mut ws = syncws::connect(&url).unwrap();
    ws.send_text("over v6").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("over v6"));
}

#[test]
fn server_handler_sees_path_query_headers_and_peer() {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(move |ws| {
            let request = ws.request().unwrap();
            tx.send((
                request.path().to_owned(),
                request.query().map(str::to_owned),
                request.header("x-token").map(str::to_owned),
                request.peer_addr(),
            ))
            .unwrap();
        })
        .unwrap();
    let ws = ClientBuilder::new(format!("ws://{}/room/7?user=ann", server.local_addr()))
        .header("X-Token", "s3cret")
        .connect()
        .unwrap();
    let (path, query, token, peer) = rx.recv().unwrap();
    assert_eq!(path, "/room/7");
    assert_eq!(query.as_deref(), Some("user=ann"));
    assert_eq!(token.as_deref(), Some("s3cret"));
    assert_eq!(peer, Some(ws.local_addr().unwrap()));
}

// ---------------------------------------------------------------------
// The edges of HTTP
// ---------------------------------------------------------------------

/// What the handler of `/chat` saw of the request it was opened with.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    path: String,
    query: Option<String>,
    name: Option<String>,
}

/// A server whose `/chat` (upgrades from `https://good.example` or from
/// no page) reports what its handler saw, and whose other paths echo.
fn edge_server() -> (ServerHandle, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::exact("/chat").origins(["https://good.example"]),
            move |ws: WebSocket| {
                let request = ws.request().unwrap();
                let _ = tx.send(Seen {
                    path: request.path().to_owned(),
                    query: request.query().map(str::to_owned),
                    name: request.header("X-Name").map(str::to_owned),
                });
            },
        )
        .start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|m| sender.send_message(m));
        })
        .unwrap();
    (server, rx)
}

/// The headers of an upgrade request but its `Host`.
const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// An upgrade request for `target` with `headers` (whole lines, a `Host`
/// among them or not) after its own.
fn upgrade_to(target: &str, headers: &[u8]) -> Vec<u8> {
    [
        format!("GET {target} HTTP/1.1\r\n{UPGRADE}").as_bytes(),
        headers,
        b"\r\n",
    ]
    .concat()
}

/// Send `request` as is and read the answer's head only: an accepted
/// upgrade stays open, so there is no end of its answer to read to. The
/// status, and the socket, which keeps the connection open while held.
fn answer_head(server: &ServerHandle, request: &[u8]) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // A byte at a time, so that nothing after the head is taken; bounded
    // by the end of the stream and a size no head of ours reaches.
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (status_of(&String::from_utf8_lossy(&head)), stream)
}

/// Each request gets its status; an accepted one to `/chat` shows its
/// handler what `seen` says. A good client is served after each.
#[track_caller]
fn assert_answers(cases: &[(&str, Vec<u8>, u16, Option<Seen>)]) {
    let (server, seen) = edge_server();
    for (what, request, status, expected) in cases {
        let (got, _open) = answer_head(&server, request);
        assert_eq!(got, *status, "{what}");
        if let Some(expected) = expected {
            let handed = seen.recv_timeout(Duration::from_secs(10));
            assert_eq!(handed.as_ref(), Ok(expected), "{what}");
        }
        assert_still_serves(&server);
    }
    assert!(
        seen.try_recv().is_err(),
        "a handler ran that should not have"
    );
}

/// What `/chat` shows its handler of a request for `/chat` naming `name`.
fn chat_seen(name: Option<&str>) -> Option<Seen> {
    Some(Seen {
        path: "/chat".into(),
        query: None,
        name: name.map(str::to_owned),
    })
}

#[test]
fn bytes_past_ascii_that_are_not_utf8_in_a_header_value_are_read_as_latin1() {
    // RFC 9110 §5.5 allows obs-text (0x80 to 0xFF) in a field value.
    let host = b"Host: localhost\r\n";
    assert_answers(&[
        (
            "a Latin-1 value",
            upgrade_to("/chat", &[host, &b"X-Name: caf\xe9\r\n"[..]].concat()),
            101,
            chat_seen(Some("café")),
        ),
        (
            "a UTF-8 value",
            upgrade_to("/chat", &[host, &b"X-Name: caf\xc3\xa9\r\n"[..]].concat()),
            101,
            chat_seen(Some("café")),
        ),
        (
            // Read as "ÿþ", which is no host (RFC 9112 §3.2: 400).
            "bytes that are not UTF-8 in the Host",
            upgrade_to("/chat", b"Host: \xff\xfe\r\n"),
            400,
            None,
        ),
        (
            "a control character in a value",
            upgrade_to("/chat", &[host, &b"X-Name: caf\x01\r\n"[..]].concat()),
            400,
            None,
        ),
    ]);
}

#[test]
fn a_repeated_origin_is_refused_with_400_whatever_the_route_allows() {
    // RFC 6454 §7.3: a user agent sends at most one Origin. `/chat` allows
    // https://good.example only; `/` allows any origin.
    let origins = |origins: &[&str]| -> Vec<u8> {
        let lines: String = origins.iter().map(|o| format!("Origin: {o}\r\n")).collect();
        [&b"Host: localhost\r\n"[..], lines.as_bytes()].concat()
    };
    let (good, evil) = ("https://good.example", "https://evil.example");
    assert_answers(&[
        (
            "the allowed origin",
            upgrade_to("/chat", &origins(&[good])),
            101,
            chat_seen(None),
        ),
        (
            "another origin",
            upgrade_to("/chat", &origins(&[evil])),
            403,
            None,
        ),
        (
            "the allowed origin, then another",
            upgrade_to("/chat", &origins(&[good, evil])),
            400,
            None,
        ),
        (
            "another origin, then the allowed one",
            upgrade_to("/chat", &origins(&[evil, good])),
            400,
            None,
        ),
        (
            "the allowed origin twice",
            upgrade_to("/chat", &origins(&[good, good])),
            400,
            None,
        ),
        (
            "two origins where any is allowed",
            upgrade_to("/", &origins(&[good, evil])),
            400,
            None,
        ),
    ]);
}

#[test]
fn an_upgrade_with_a_body_is_refused_with_400() {
    // After the 101 the bytes after the head are frames: a body would be
    // read as frames. RFC 9110 §9.3.1: a GET's content has no defined
    // semantics.
    let with_body = |headers: &str, body: &[u8]| -> Vec<u8> {
        let head = upgrade_to("/chat", format!("Host: localhost\r\n{headers}").as_bytes());
        [&head[..], body].concat()
    };
    assert_answers(&[
        (
            "Content-Length: 0",
            with_body("Content-Length: 0\r\n", b""),
            101,
            chat_seen(None),
        ),
        (
            "a body of 5 bytes",
            with_body("Content-Length: 5\r\n", b"hello"),
            400,
            None,
        ),
        (
            "a chunked body",
            with_body("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
            400,
            None,
        ),
        (
            "a malformed Content-Length",
            with_body("Content-Length: five\r\n", b""),
            400,
            None,
        ),
        (
            "Content-Length: 0 twice",
            with_body("Content-Length: 0\r\nContent-Length: 0\r\n", b""),
            400,
            None,
        ),
    ]);
}

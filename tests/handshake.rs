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

/// Connect to `server` and send it raw bytes; reads time out.
fn send_raw(server: &ServerHandle, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    stream
}

/// Send raw bytes to `server` and return its whole answer as text.
fn raw_exchange(server: &ServerHandle, request: &[u8]) -> String {
    let mut stream = send_raw(server, request);
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
    let mut stream = send_raw(server, request);
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

/// A request sent by hand, the status it must get, and what the handler
/// of `/chat` must see of it if it gets there.
struct Case {
    what: String,
    request: Vec<u8>,
    status: u16,
    seen: Option<Seen>,
}

/// A request that gets `status` and reaches no handler of `/chat`.
fn answered(what: impl Into<String>, request: Vec<u8>, status: u16) -> Case {
    Case {
        what: what.into(),
        request,
        status,
        seen: None,
    }
}

/// A request for `/chat` that gets 101, whose handler sees the path
/// `/chat`, `query` and the header `X-Name`.
fn chat(what: &str, request: Vec<u8>, query: Option<&str>, name: Option<&str>) -> Case {
    Case {
        what: what.into(),
        request,
        status: 101,
        seen: Some(Seen {
            path: "/chat".into(),
            query: query.map(str::to_owned),
            name: name.map(str::to_owned),
        }),
    }
}

/// Each request gets its status, and shows the handler of `/chat` what
/// its case says; a good client is served after each.
#[track_caller]
fn assert_answers(cases: &[Case]) {
    let (server, seen) = edge_server();
    for case in cases {
        let (status, _open) = answer_head(&server, &case.request);
        assert_eq!(status, case.status, "{}", case.what);
        if let Some(expected) = &case.seen {
            let handed = seen.recv_timeout(Duration::from_secs(10));
            assert_eq!(handed.as_ref(), Ok(expected), "{}", case.what);
        }
        assert_still_serves(&server);
    }
    assert!(
        seen.try_recv().is_err(),
        "a handler ran that should not have"
    );
}

/// `Host: localhost`, then `lines` (whole header lines).
fn host_and(lines: &[u8]) -> Vec<u8> {
    [&b"Host: localhost\r\n"[..], lines].concat()
}

#[test]
fn bytes_past_ascii_that_are_not_utf8_in_a_header_value_are_read_as_latin1() {
    // RFC 9110 §5.5 allows obs-text (0x80 to 0xFF) in a field value.
    let named =
        |value: &[u8]| upgrade_to("/chat", &host_and(&[b"X-Name: ", value, b"\r\n"].concat()));
    assert_answers(&[
        chat("a Latin-1 value", named(b"caf\xe9"), None, Some("café")),
        chat("a UTF-8 value", named(b"caf\xc3\xa9"), None, Some("café")),
        // Read as "ÿþ", which is no host (RFC 9112 §3.2: 400).
        answered(
            "bytes that are not UTF-8 in the Host",
            upgrade_to("/chat", b"Host: \xff\xfe\r\n"),
            400,
        ),
        answered("a control character in a value", named(b"caf\x01"), 400),
    ]);
}

#[test]
fn a_repeated_origin_is_refused_with_400_whatever_the_route_allows() {
    // RFC 6454 §7.3: a user agent sends at most one Origin. `/chat` allows
    // https://good.example only; `/` allows any origin.
    let from = |path: &str, origins: &[&str]| {
        let lines: String = origins.iter().map(|o| format!("Origin: {o}\r\n")).collect();
        upgrade_to(path, &host_and(lines.as_bytes()))
    };
    let (good, evil) = ("https://good.example", "https://evil.example");
    let mut cases = vec![
        chat("the allowed origin", from("/chat", &[good]), None, None),
        answered("another origin", from("/chat", &[evil]), 403),
    ];
    // Two, either way round or the same twice, allowed or not.
    for (path, two) in [
        ("/chat", [good, evil]),
        ("/chat", [evil, good]),
        ("/chat", [good, good]),
        ("/", [good, evil]),
    ] {
        cases.push(answered(
            format!("{two:?} on {path}"),
            from(path, &two),
            400,
        ));
    }
    assert_answers(&cases);
}

#[test]
fn an_upgrade_with_a_body_is_refused_with_400() {
    // After the 101 the bytes after the head are frames: a body would be
    // read as frames. RFC 9110 §9.3.1: a GET's content has no defined
    // semantics.
    let with_body = |lines: &str, body: &[u8]| {
        [
            upgrade_to("/chat", &host_and(lines.as_bytes())),
            body.to_vec(),
        ]
        .concat()
    };
    let mut cases = vec![chat(
        "Content-Length: 0",
        with_body("Content-Length: 0\r\n", b""),
        None,
        None,
    )];
    for (lines, body) in [
        ("Content-Length: 5\r\n", &b"hello"[..]),
        ("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        ("Content-Length: five\r\n", b""),
        ("Content-Length: 0\r\nContent-Length: 0\r\n", b""),
    ] {
        cases.push(answered(lines, with_body(lines, body), 400));
    }
    assert_answers(&cases);
}

#[test]
fn an_absolute_form_target_is_routed_by_its_path_and_its_authority_is_the_host() {
    // RFC 9112 §3.2.2: "A server MUST accept the absolute-form in
    // requests"; its authority is the host, the Host header is ignored.
    let to = |target: &str| upgrade_to(target, &host_and(b""));
    let mut cases = vec![
        chat(
            "an absolute http URI",
            to("http://localhost/chat?room=1"),
            Some("room=1"),
            None,
        ),
        chat(
            "an absolute ws URI and no Host",
            upgrade_to("ws://localhost:80/chat", b""),
            None,
            None,
        ),
        chat(
            "an absolute https URI and two Hosts",
            upgrade_to("HTTPS://localhost/chat", b"Host: a\r\nHost: b\r\n"),
            None,
            None,
        ),
        // The path "/", served by the echo route.
        answered(
            "an absolute URI without a path",
            to("wss://localhost?x"),
            101,
        ),
    ];
    // An empty authority, userinfo in it, another scheme, the asterisk.
    for target in [
        "http:///chat",
        "http://user@localhost/chat",
        "ftp://localhost/chat",
        "*",
    ] {
        cases.push(answered(target, to(target), 400));
    }
    assert_answers(&cases);
}

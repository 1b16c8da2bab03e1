//! The server's front door, seen from clients over loopback: routing and
//! plain HTTP on the same port, the upgrade policy of a route (origins,
//! subprotocols, the before-upgrade hook), handshake timeouts and head
//! limits, and the connection limit.

mod server_raw;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use server_raw::{
    HttpAnswer, RawClient, TIMEOUT, assert_echoes, connect, echo, get, http_exchange, read_text,
    tcp, upgrade_request, url, with_timeouts,
};
use syncws::protocol::frame::OpCode;
use syncws::protocol::handshake::{Headers, Response};
use syncws::server::Route;
use syncws::{
    ClientBuilder, CloseCode, Config, Error, HandshakeError, Server, ServerHandle, WebSocket,
};

/// A refusal as the client sees it: status, headers, body.
type Refusal = (u16, Headers, Vec<u8>);

#[track_caller]
fn refused(result: syncws::Result<WebSocket>) -> Refusal {
    match result {
        Err(Error::Handshake(HandshakeError::Refused {
            status,
            headers,
            body,
        })) => (status, headers, body),
        Ok(ws) => panic!("expected a refusal, the upgrade was accepted: {ws:?}"),
        Err(e) => panic!("expected a refusal, got {e:?}"),
    }
}

#[track_caller]
fn refusal_status(result: syncws::Result<WebSocket>) -> u16 {
    refused(result).0
}

// ---------------------------------------------------------------------
// Routing and plain HTTP on the same port
// ---------------------------------------------------------------------

fn routing_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/echo", echo)
        .websocket(Route::prefix("/rooms/"), |ws: WebSocket| {
            let path = ws.request().unwrap().path().to_owned();
            let _ = ws.send_text(&format!("room at {path}"));
        })
        .websocket("/rooms/lobby", |ws: WebSocket| {
            let _ = ws.send_text("the lobby");
        })
        .page("/", "text/html; charset=utf-8", "<h1>hello</h1>")
        .http(Route::prefix("/api/"), |request| {
            Response::new(200)
                .with_header("X-Path", request.path())
                .with_body(
                    "application/json",
                    format!("{{\"path\":\"{}\"}}", request.path()),
                )
        })
        .serve()
        .unwrap()
}

#[test]
fn a_page_is_served_with_its_content_type_and_body() {
    let server = routing_server();
    let answer = get(server.local_addr(), "/");
    assert_eq!(answer.status, 200, "{}", answer.head_text);
    assert!(
        answer.head_text.starts_with("HTTP/1.1 200 "),
        "{}",
        answer.head_text
    );
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(answer.header("Content-Length"), Some("14"));
    assert_eq!(answer.body_text(), "<h1>hello</h1>");
}

#[test]
fn an_http_prefix_route_answers_every_path_under_it() {
    let server = routing_server();
    for path in ["/api/users", "/api/users/7"] {
        let answer = get(server.local_addr(), &format!("{path}?verbose=1"));
        assert_eq!(answer.status, 200, "{path}: {}", answer.head_text);
        assert_eq!(answer.header("Content-Type"), Some("application/json"));
        assert_eq!(answer.header("X-Path"), Some(path));
        assert_eq!(answer.body_text(), format!("{{\"path\":\"{path}\"}}"));
    }
}

#[test]
fn an_absolute_form_target_reaches_the_route_of_its_path() {
    // RFC 9112 §3.2.2: "A server MUST accept the absolute-form in
    // requests."
    let server = routing_server();
    let answer = get(server.local_addr(), "http://localhost/api/users?verbose=1");
    assert_eq!(answer.status, 200, "{}", answer.head_text);
    assert_eq!(answer.header("X-Path"), Some("/api/users"));
    let (mut raw, _) = RawClient::connect(server.local_addr(), "ws://localhost/rooms/9", "");
    assert_eq!(
        raw.read_frame().unwrap(),
        Some((OpCode::Text, b"room at /rooms/9".to_vec()))
    );
}

#[test]
fn an_unknown_path_gets_404() {
    let server = routing_server();
    for path in ["/nope", "/api", "/echo/more", "/rooms"] {
        let answer = get(server.local_addr(), path);
        assert_eq!(answer.status, 404, "GET {path}: {}", answer.head_text);
    }
    // Asked as an upgrade too.
    for path in ["/nope", "/rooms"] {
        let answer = http_exchange(server.local_addr(), &upgrade_request(path, ""));
        assert_eq!(answer.status, 404, "upgrade {path}: {}", answer.head_text);
        assert_eq!(
            refusal_status(syncws::connect(&url(&server, path))),
            404,
            "client on {path}"
        );
    }
}

#[test]
fn a_websocket_path_asked_without_an_upgrade_gets_400() {
    let server = routing_server();
    for path in ["/echo", "/rooms/7", "/rooms/lobby"] {
        let answer = get(server.local_addr(), path);
        assert_eq!(answer.status, 400, "GET {path}: {}", answer.head_text);
    }
}

#[test]
fn an_upgrade_with_version_8_gets_426_naming_version_13() {
    let server = routing_server();
    let request = "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 8\r\n\r\n";
    let answer = http_exchange(server.local_addr(), request);
    assert_eq!(answer.status, 426, "{}", answer.head_text);
    assert_eq!(answer.header("Sec-WebSocket-Version"), Some("13"));
}

#[test]
fn a_page_path_asked_with_an_upgrade_gets_404() {
    let server = routing_server();
    for path in ["/", "/api/users"] {
        let answer = http_exchange(server.local_addr(), &upgrade_request(path, ""));
        assert_eq!(answer.status, 404, "upgrade {path}: {}", answer.head_text);
    }
}

#[test]
fn websocket_routes_match_exact_paths_and_prefixes() {
    let server = routing_server();
    // Exact, with a query (not part of the path).
    let mut ws = connect(&server, "/echo?x=1");
    assert_echoes(&mut ws, "over the echo route");
    // Prefix.
    let mut ws = connect(&server, "/rooms/42");
    assert_eq!(read_text(&mut ws), "room at /rooms/42");
    // An exact route beats a prefix that also matches.
    let mut ws = connect(&server, "/rooms/lobby");
    assert_eq!(read_text(&mut ws), "the lobby");
    // The page and the WebSockets share the port, and the page still works.
    assert_eq!(get(server.local_addr(), "/").status, 200);
}

// ---------------------------------------------------------------------
// Origin allow-list
// ---------------------------------------------------------------------

fn origin_server() -> ServerHandle {
    let hello = |ws: WebSocket| {
        let _ = ws.send_text("hello");
    };
    Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::exact("/open").origins(["https://good.example"]),
            hello,
        )
        .websocket(
            Route::exact("/strict")
                .origins(["https://good.example"])
                .require_origin(),
            hello,
        )
        .serve()
        .unwrap()
}

fn with_origin(
    server: &ServerHandle,
    path: &str,
    origin: Option<&str>,
) -> syncws::Result<WebSocket> {
    let mut builder = ClientBuilder::new(url(server, path));
    if let Some(origin) = origin {
        builder = builder.origin(origin);
    }
    builder.connect()
}

#[test]
fn a_disallowed_origin_gets_403() {
    let server = origin_server();
    for path in ["/open", "/strict"] {
        let status = refusal_status(with_origin(&server, path, Some("https://evil.example")));
        assert_eq!(status, 403, "{path}");
    }
    // The same, from a raw socket.
    let answer = http_exchange(
        server.local_addr(),
        &upgrade_request("/open", "Origin: https://evil.example\r\n"),
    );
    assert_eq!(answer.status, 403, "{}", answer.head_text);
}

#[test]
fn an_allowed_origin_gets_101() {
    let server = origin_server();
    for path in ["/open", "/strict"] {
        let ws = with_origin(&server, path, Some("https://good.example"))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(read_text(&mut with_timeouts(ws)), "hello");
    }
    let (_raw, head) = RawClient::connect(
        server.local_addr(),
        "/open",
        "Origin: https://good.example\r\n",
    );
    assert_eq!(head.status, 101);
}

#[test]
fn no_origin_is_allowed_by_default_and_refused_with_require_origin() {
    let server = origin_server();
    let ws = with_origin(&server, "/open", None).expect("no Origin on /open");
    assert_eq!(read_text(&mut with_timeouts(ws)), "hello");
    assert_eq!(refusal_status(with_origin(&server, "/strict", None)), 403);
}

// ---------------------------------------------------------------------
// Subprotocols
// ---------------------------------------------------------------------

fn protocol_server() -> ServerHandle {
    let tell = |ws: WebSocket| {
        let _ = ws.send_text(ws.protocol().unwrap_or("(none)"));
    };
    Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(Route::exact("/chat").protocols(["a", "b"]), tell)
        .websocket(
            Route::exact("/strict")
                .protocols(["a", "b"])
                .require_protocol(),
            tell,
        )
        .serve()
        .unwrap()
}

fn offering(server: &ServerHandle, path: &str, offers: &[&str]) -> syncws::Result<WebSocket> {
    offers
        .iter()
        .fold(ClientBuilder::new(url(server, path)), |b, p| b.protocol(*p))
        .connect()
}

#[test]
fn the_server_picks_the_first_of_the_clients_offers_it_speaks() {
    let server = protocol_server();
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["b", "a"], Some("b")),
        (&["a", "b"], Some("a")),
        (&["z", "b"], Some("b")),
        (&["z"], None),
        (&[], None),
    ];
    for (offers, expected) in cases {
        let ws = offering(&server, "/chat", offers).unwrap_or_else(|e| panic!("{offers:?}: {e}"));
        let mut ws = with_timeouts(ws);
        assert_eq!(ws.protocol(), *expected, "client's view of {offers:?}");
        assert_eq!(
            read_text(&mut ws),
            expected.unwrap_or("(none)"),
            "handler's view of {offers:?}"
        );
    }
}

#[test]
fn a_route_that_requires_a_subprotocol_refuses_clients_offering_none_it_speaks() {
    let server = protocol_server();
    for offers in [&["z", "y"][..], &[]] {
        let (status, headers, _) = refused(offering(&server, "/strict", offers));
        assert_eq!(status, 400, "{offers:?}");
        assert_eq!(headers.get("Sec-WebSocket-Protocol"), Some("a, b"));
    }
    let mut ws = with_timeouts(offering(&server, "/strict", &["z", "b"]).unwrap());
    assert_eq!(ws.protocol(), Some("b"));
    assert_eq!(read_text(&mut ws), "b");
}

// ---------------------------------------------------------------------
// The before-upgrade hook
// ---------------------------------------------------------------------

/// What the hook saw of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    path: String,
    query: Option<String>,
    token: Option<String>,
    peer: Option<SocketAddr>,
    session: Option<String>,
    theme: Option<String>,
}

/// Data the hook attaches for the handler.
struct User(String);

fn hook_server() -> (ServerHandle, mpsc::Receiver<Seen>) {
    let (seen_tx, seen_rx) = mpsc::channel();
    let route = Route::exact("/private").before_upgrade(move |request, upgrade| {
        let _ = seen_tx.send(Seen {
            path: request.path().to_owned(),
            query: request.query().map(str::to_owned),
            token: request.header("x-token").map(str::to_owned),
            peer: request.peer_addr(),
            session: request.cookie("session").map(str::to_owned),
            theme: request.cookie("theme").map(str::to_owned),
        });
        match request.cookie("session") {
            None => Err(Response::new(401)
                .with_header("WWW-Authenticate", "Bearer realm=\"syncws\"")
                .with_body("text/plain", "log in first")),
            Some(session) => {
                upgrade.header("X-Session-Seen", session);
                upgrade.header("Set-Cookie", "seen=1; HttpOnly");
                upgrade.attach(User(session.to_owned()));
                Ok(())
            }
        }
    });
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(route, |ws: WebSocket| {
            let user = ws.data::<User>().map_or("(no user)", |u| u.0.as_str());
            let wrong_type = ws.data::<String>().is_some();
            let _ = ws.send_text(&format!("hello {user}; wrong type found: {wrong_type}"));
        })
        .serve()
        .unwrap();
    (server, seen_rx)
}

#[test]
fn the_hook_refuses_with_its_own_status_headers_and_body() {
    let (server, seen) = hook_server();
    let (status, headers, body) = refused(syncws::connect(&url(&server, "/private")));
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("WWW-Authenticate"),
        Some("Bearer realm=\"syncws\"")
    );
    assert_eq!(headers.get("Content-Type"), Some("text/plain"));
    assert_eq!(body, b"log in first");
    let seen = seen.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(seen.session, None);
}

#[test]
fn the_hook_sees_path_query_headers_peer_and_cookies_and_attaches_data() {
    let (server, seen) = hook_server();
    let ws = ClientBuilder::new(url(&server, "/private?room=7&x=y"))
        .header("X-Token", "t0k3n")
        .header("Cookie", "session=ann; theme=dark")
        .connect()
        .expect("the hook accepts a session");
    let mut ws = with_timeouts(ws);
    let seen = seen.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        seen,
        Seen {
            path: "/private".into(),
            query: Some("room=7&x=y".into()),
            token: Some("t0k3n".into()),
            peer: Some(ws.local_addr().unwrap()),
            session: Some("ann".into()),
            theme: Some("dark".into()),
        }
    );
    assert_eq!(read_text(&mut ws), "hello ann; wrong type found: false");
}

#[test]
fn the_hook_adds_headers_to_the_101() {
    let (server, _seen) = hook_server();
    let (mut raw, head) =
        RawClient::connect(server.local_addr(), "/private", "Cookie: session=bob\r\n");
    assert!(
        head.head_text.starts_with("HTTP/1.1 101 "),
        "{}",
        head.head_text
    );
    assert_eq!(
        head.header("X-Session-Seen"),
        Some("bob"),
        "{}",
        head.head_text
    );
    assert_eq!(head.header("Set-Cookie"), Some("seen=1; HttpOnly"));
    assert_eq!(head.header("Upgrade"), Some("websocket"));
    let (opcode, payload) = raw.read_frame().unwrap().expect("a greeting");
    assert_eq!(opcode, OpCode::Text);
    assert_eq!(payload, b"hello bob; wrong type found: false");
}

// ---------------------------------------------------------------------
// Handshake timeout and head limits
// ---------------------------------------------------------------------

const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);

fn limited_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .config(
            Config::default()
                .handshake_timeout(Some(HANDSHAKE_TIMEOUT))
                .max_head_size(1024)
                .max_headers(16),
        )
        .websocket("/", echo)
        .serve()
        .unwrap()
}

/// Read until the server drops the connection: EOF or a reset. Returns how
/// long it took; a read timeout fails the test.
#[track_caller]
fn wait_dropped(stream: &mut std::net::TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    for _ in 0..1000 {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(n) => panic!(
                "the server answered instead of dropping: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the connection was not dropped within {TIMEOUT:?}")
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return start.elapsed(),
        }
    }
    panic!("too many interrupted reads");
}

#[test]
fn a_connection_that_sends_nothing_is_dropped_within_the_handshake_timeout() {
    let server = limited_server();
    let mut stream = tcp(server.local_addr());
    let took = wait_dropped(&mut stream);
    assert!(
        took >= HANDSHAKE_TIMEOUT - Duration::from_millis(100),
        "dropped too early, after {took:?}"
    );
    assert!(took < Duration::from_secs(2), "dropped after {took:?}");
    // The server goes on serving.
    assert_echoes(&mut connect(&server, "/"), "still here");
}

/// The read timeout the handshake leaves on the socket is taken off lazily
/// (once it fires): it must never end a quiet WebSocket, on either side.
#[test]
fn the_handshake_timeout_does_not_limit_a_quiet_websocket() {
    let server = limited_server();
    let url = format!("ws://{}/", server.local_addr());
    let mut ws = syncws::ClientBuilder::new(&url)
        .config(Config::default().handshake_timeout(Some(HANDSHAKE_TIMEOUT)))
        .connect()
        .unwrap();
    // Quiet for three handshake timeouts, on both ends.
    ws.set_read_timeout(Some(HANDSHAKE_TIMEOUT * 3)).unwrap();
    assert!(matches!(
        ws.read_message(),
        Err(syncws::Error::Timeout(syncws::Timeout::Read))
    ));
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_echoes(&mut ws, "still open");
}

#[test]
fn a_head_sent_one_byte_at_a_time_is_dropped_within_the_handshake_timeout() {
    let server = limited_server();
    let mut stream = tcp(server.local_addr());
    let mut writer = stream.try_clone().unwrap();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    // The attacker: one byte every 20 ms, never finishing the head (the
    // whole attack would last 10 s), until told to stop or the socket fails.
    let attacker = thread::spawn(move || {
        use std::io::Write;
        let head = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: {}",
            "a".repeat(500)
        );
        for byte in head.bytes() {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            match stop_rx.recv_timeout(Duration::from_millis(20)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    });
    let took = wait_dropped(&mut stream);
    let _ = stop_tx.send(());
    attacker.join().unwrap();
    assert!(took < Duration::from_secs(2), "dropped after {took:?}");
    assert_echoes(&mut connect(&server, "/"), "still here");
}

#[test]
fn a_head_over_the_size_limit_gets_431() {
    let server = limited_server();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let answer: HttpAnswer = http_exchange(server.local_addr(), &request);
    assert_eq!(answer.status, 431, "{}", answer.head_text);
    // An upgrade whose head is too large, the same.
    let request = upgrade_request("/", &format!("X-Big: {}\r\n", "b".repeat(2000)));
    assert_eq!(http_exchange(server.local_addr(), &request).status, 431);
    // A head within the limit is fine.
    assert_echoes(&mut connect(&server, "/"), "small enough");
}

#[test]
fn a_head_with_too_many_headers_gets_431() {
    let server = limited_server();
    let many: String = (0..20).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let answer = http_exchange(server.local_addr(), &upgrade_request("/", &many));
    assert_eq!(answer.status, 431, "{}", answer.head_text);
    let few: String = (0..5).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let (_raw, head) = RawClient::connect(server.local_addr(), "/", &few);
    assert_eq!(head.status, 101);
}

// ---------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------

#[test]
fn max_connections_refuses_a_third_upgrade_with_503_and_keeps_the_first_two() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .max_connections(2)
        .websocket("/", echo)
        .serve()
        .unwrap();
    let mut first = connect(&server, "/");
    let mut second = connect(&server, "/");
    assert_echoes(&mut first, "one");
    assert_echoes(&mut second, "two");

    let (status, _, body) = refused(syncws::connect(&url(&server, "/")));
    assert_eq!(status, 503);
    assert!(!body.is_empty());

    assert_echoes(&mut first, "one again");
    assert_echoes(&mut second, "two again");

    // Once one closes, its place is free again (eventually: the server
    // notices the close on the connection's own thread).
    first.close(CloseCode::Normal, "done").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut third = loop {
        match syncws::connect(&url(&server, "/")) {
            Ok(ws) => break with_timeouts(ws),
            Err(Error::Handshake(HandshakeError::Refused { status: 503, .. })) => {
                assert!(Instant::now() < deadline, "the place never freed up");
                thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_echoes(&mut third, "three");
    assert_echoes(&mut second, "two still");
}

// ---------------------------------------------------------------------
// More of plain HTTP and the upgrade
// ---------------------------------------------------------------------

#[test]
fn a_head_request_gets_a_pages_headers_without_its_body_and_a_post_gets_405() {
    let server = routing_server();
    let answer = http_exchange(
        server.local_addr(),
        "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(answer.status, 200, "{}", answer.head_text);
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(answer.header("Content-Length"), Some("14"));
    assert!(answer.body.is_empty(), "{:?}", answer.body_text());

    let answer = http_exchange(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(answer.status, 405, "{}", answer.head_text);
    assert!(answer.header("Allow").is_some_and(|a| a.contains("GET")));
}

#[test]
fn a_panicking_http_handler_gets_500_and_the_server_goes_on() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .http("/boom", |_request| panic!("page handler boom"))
        .page("/", "text/plain", "fine")
        .serve()
        .unwrap();
    assert_eq!(get(server.local_addr(), "/boom").status, 500);
    assert_eq!(get(server.local_addr(), "/").body_text(), "fine");
}

/// A before-upgrade hook is user code like a page handler: when it
/// panics, the client gets an answer (500, as for a page) instead of a
/// connection left hanging, and the server goes on.
#[test]
fn a_panicking_before_upgrade_hook_gets_500_and_the_server_goes_on() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        // (So that the server, as it is, does not take 6 s to stop at the
        // end of the test: see the same hook in tests/lifecycle_stop.rs.)
        .stop_timeout(Duration::from_millis(300))
        .websocket(
            Route::exact("/hooked").before_upgrade(|_request, _upgrade| panic!("hook boom")),
            echo,
        )
        .websocket("/echo", echo)
        .serve()
        .unwrap();
    let start = Instant::now();
    let result = ClientBuilder::new(url(&server, "/hooked"))
        .config(Config::default().handshake_timeout(Some(Duration::from_secs(2))))
        .connect();
    let took = start.elapsed();
    match result {
        Err(Error::Handshake(HandshakeError::Refused { status, .. })) => assert_eq!(status, 500),
        Err(e) => panic!("expected a 500 refusal, got {e:?} after {took:?}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
    assert_echoes(&mut connect(&server, "/echo"), "after the hook panicked");
}

#[test]
fn frames_sent_right_behind_the_upgrade_request_are_not_lost() {
    let server = routing_server();
    let mut bytes = upgrade_request("/echo", "").into_bytes();
    for text in ["first", "second"] {
        syncws::protocol::frame::write_frame(
            &mut bytes,
            true,
            OpCode::Text,
            text.as_bytes(),
            Some([1, 2, 3, 4]),
        );
    }
    let mut stream = tcp(server.local_addr());
    std::io::Write::write_all(&mut stream, &bytes).unwrap();
    let mut raw = server_raw::RawClient::from_stream(stream);
    let head = raw.read_head();
    assert_eq!(head.status, 101, "{}", head.head_text);
    for text in ["first", "second"] {
        let (opcode, payload) = raw.read_frame().unwrap().expect("an echo");
        assert_eq!(
            (opcode, payload.as_slice()),
            (OpCode::Text, text.as_bytes())
        );
    }
}

/// `run_with` holds the replies to a burst of messages that arrived
/// together and writes them when it next waits: every reply still arrives,
/// in order, and none waits for more input.
#[test]
fn replies_to_a_burst_that_arrived_together_all_go_out() {
    use std::io::Write;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/echo", echo)
        .serve()
        .unwrap();
    let (mut raw, answer) = RawClient::connect(server.local_addr(), "/echo", "");
    assert_eq!(answer.status, 101);
    // Many masked frames in one write: the server reads them in one go,
    // so all but the last are handled while more input is buffered.
    let mut burst = Vec::new();
    for i in 0..200u32 {
        syncws::protocol::frame::write_frame(
            &mut burst,
            true,
            OpCode::Text,
            format!("m{i}").as_bytes(),
            Some([1, 2, 3, 4]),
        );
    }
    raw.stream.write_all(&burst).unwrap();
    for i in 0..200u32 {
        match raw.read_frame().unwrap() {
            Some((OpCode::Text, payload)) => assert_eq!(payload, format!("m{i}").as_bytes()),
            other => panic!("reply {i}: {other:?}"),
        }
    }
}

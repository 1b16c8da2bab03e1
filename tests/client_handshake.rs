//! What a client sends and sees of the handshake: its `User-Agent`, the
//! server's `101` answer (cookies, the chosen subprotocol), redirects
//! followed only when asked, and proxies taken from the environment.

#[path = "common/mod.rs"]
mod common;

use std::process::Command;

use common::TIMEOUT;
use syncws::server::{Response, Route};
use syncws::{ClientBuilder, Error, HandshakeError, Message, Server, ServerHandle, WebSocket};

/// A server whose one message to each client is every `User-Agent` it
/// received, joined by `|` (`"-"` for none).
fn user_agent_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|mut ws: WebSocket| {
            let agents: Vec<String> = ws
                .request()
                .unwrap()
                .headers()
                .get_all("User-Agent")
                .map(str::to_owned)
                .collect();
            let seen = if agents.is_empty() {
                "-".to_owned()
            } else {
                agents.join("|")
            };
            let _ = ws.send_text(&seen);
            let _ = ws.read_message();
        })
        .unwrap()
}

fn url(server: &ServerHandle, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

/// The first message the server sends on a connection made by `builder`.
fn first_message(builder: ClientBuilder) -> String {
    let mut ws = builder.no_proxy().connect().unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    match ws.read_message().unwrap() {
        Message::Text(text) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn the_user_agent_is_syncws_and_its_version_unless_replaced_and_never_sent_twice() {
    let server = user_agent_server();
    let new = || ClientBuilder::new(url(&server, "/"));
    let default = format!("syncws/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(first_message(new()), default);
    assert_eq!(
        first_message(new().user_agent("ticker-bot/2.1")),
        "ticker-bot/2.1"
    );
    assert_eq!(
        first_message(new().header("user-agent", "by-header/1")),
        "by-header/1"
    );
    // The last one given wins, however it was given.
    assert_eq!(
        first_message(
            new()
                .header("User-Agent", "first")
                .user_agent("second")
                .header("User-Agent", "third")
        ),
        "third"
    );
    assert_eq!(
        first_message(new().header("User-Agent", "a").user_agent("b")),
        "b"
    );
    assert_eq!(first_message(new().user_agent("")), "-");
    // syncws::connect sends the default too.
    let mut ws = syncws::connect(&url(&server, "/")).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    let seen = ws.read_message().unwrap();
    // (`connect` reads the environment: on a machine with a proxy for
    // 127.0.0.1 it would go through it, which changes nothing here.)
    assert_eq!(seen, Message::Text(default));
}

#[test]
fn the_client_sees_the_servers_101_headers() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::exact("/chat")
                .protocols(["chat.v2"])
                .before_upgrade(|_, upgrade| {
                    upgrade.header("Set-Cookie", "session=42; HttpOnly");
                    upgrade.header("Set-Cookie", "theme=dark");
                    upgrade.header("X-Served-By", "syncws-test");
                    Ok(())
                }),
            common::echo,
        )
        .serve()
        .unwrap();
    let ws = ClientBuilder::new(url(&server, "/chat"))
        .protocol("chat.v1")
        .protocol("chat.v2")
        .no_proxy()
        .connect()
        .unwrap();
    let response = ws.response().expect("a client keeps the server's answer");
    assert_eq!(response.status, 101);
    assert_eq!(
        response.headers.get_all("set-cookie").collect::<Vec<_>>(),
        ["session=42; HttpOnly", "theme=dark"]
    );
    assert_eq!(response.header("X-Served-By"), Some("syncws-test"));
    assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("chat.v2"));
    assert_eq!(ws.protocol(), Some("chat.v2"));
    // The server's side has the request, not a response.
    let server_side = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|mut ws: WebSocket| {
            let answer = format!("{}", ws.response().is_some());
            let _ = ws.send_text(&answer);
            let _ = ws.read_message();
        })
        .unwrap();
    assert_eq!(
        first_message(ClientBuilder::new(url(&server_side, "/"))),
        "false"
    );
}

/// A server that redirects `/r/STATUS/...` with STATUS to what follows
/// (`/r/301/new` to `/new`, `/r/307/abs/...` to an absolute URL on
/// `target`), `/loop` to itself, and answers every other path by sending
/// that path.
fn redirecting_server(target: Option<String>) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket(
            Route::prefix("/r/").before_upgrade(move |request, _| {
                let rest = &request.target()["/r/".len()..];
                let (status, location) = rest.split_once('/').unwrap();
                let location = match (location.strip_prefix("abs"), &target) {
                    (Some(path), Some(target)) => format!("{target}{path}"),
                    _ => location.to_owned(),
                };
                Err(Response::new(status.parse().unwrap()).with_header("Location", location))
            }),
            |_| {},
        )
        .websocket(
            Route::exact("/loop")
                .before_upgrade(|_, _| Err(Response::new(302).with_header("Location", "/loop"))),
            |_| {},
        )
        .websocket(Route::any(), |mut ws: WebSocket| {
            let path = ws.request().unwrap().target().to_owned();
            let _ = ws.send_text(&path);
            let _ = ws.read_message();
        })
        .serve()
        .unwrap()
}

#[test]
fn redirects_are_followed_only_when_asked() {
    let target = redirecting_server(None);
    let server = redirecting_server(Some(format!("ws://{}", target.local_addr())));
    for status in [301, 302, 303, 307, 308] {
        // Relative: an absolute path with a query, and a path relative
        // to the one asked (`../sibling` against `/r/301/../sibling`).
        for (path, reached) in [
            (format!("/r/{status}//new?x=1"), "/new?x=1"),
            (format!("/r/{status}/../sibling"), "/sibling"),
        ] {
            let builder = ClientBuilder::new(url(&server, &path)).follow_redirects(1);
            assert_eq!(first_message(builder), reached, "{path}");
        }
        // Absolute, to another server.
        let builder =
            ClientBuilder::new(url(&server, &format!("/r/{status}/abs/there"))).follow_redirects(1);
        assert_eq!(first_message(builder), "/there");

        // Not asked: the redirect is a refusal with its status and Location.
        match ClientBuilder::new(url(&server, &format!("/r/{status}//new")))
            .no_proxy()
            .connect()
        {
            Err(Error::Handshake(HandshakeError::Refused {
                status: refused,
                headers,
                ..
            })) => {
                assert_eq!(refused, status);
                assert_eq!(headers.get("Location"), Some("/new"));
            }
            other => panic!("expected the {status} refusal, got {other:?}"),
        }
    }
    // Two hops, within a limit of two.
    let two_hops = "/r/301//r/302//twice";
    assert_eq!(
        first_message(ClientBuilder::new(url(&server, two_hops)).follow_redirects(2)),
        "/twice"
    );
}

#[test]
fn more_redirects_than_allowed_is_an_error() {
    let server = redirecting_server(None);
    for max in [1, 3] {
        match ClientBuilder::new(url(&server, "/loop"))
            .follow_redirects(max)
            .no_proxy()
            .connect()
        {
            Err(e @ Error::Handshake(HandshakeError::TooManyRedirects { .. })) => {
                assert!(
                    matches!(e, Error::Handshake(HandshakeError::TooManyRedirects { max: m }) if m == max)
                );
                assert_eq!(
                    e.to_string(),
                    format!("handshake failed: more than {max} redirects")
                );
            }
            other => panic!("expected TooManyRedirects, got {other:?}"),
        }
    }
    let two_hops = "/r/301//r/302//twice";
    assert!(matches!(
        ClientBuilder::new(url(&server, two_hops))
            .follow_redirects(1)
            .no_proxy()
            .connect(),
        Err(Error::Handshake(HandshakeError::TooManyRedirects {
            max: 1
        }))
    ));
}

#[cfg(feature = "native-tls")]
#[test]
fn a_redirect_from_wss_to_ws_is_never_followed() {
    let plain = redirecting_server(None);
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    let identity =
        syncws::native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let insecure = format!("ws://{}/downgraded", plain.local_addr());
    let tls = Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(identity)
        .unwrap()
        .websocket(
            Route::exact("/to-ws").before_upgrade(move |_, _| {
                Err(Response::new(302).with_header("Location", &insecure))
            }),
            |_| {},
        )
        .websocket(
            Route::exact("/to-wss").before_upgrade(|_, _| {
                Err(Response::new(302).with_header("Location", "/upgraded"))
            }),
            |_| {},
        )
        .websocket(Route::any(), |mut ws: WebSocket| {
            let path = ws.request().unwrap().target().to_owned();
            let _ = ws.send_text(&path);
            let _ = ws.read_message();
        })
        .serve()
        .unwrap();
    let port = tls.local_addr().port();
    let client = |path: &str| {
        ClientBuilder::new(format!("wss://localhost:{port}{path}"))
            .add_root_certificate(cert_pem.as_bytes())
            .unwrap()
            .follow_redirects(5)
    };
    match client("/to-ws").no_proxy().connect() {
        Err(e @ Error::Handshake(HandshakeError::InsecureRedirect { .. })) => {
            let expected = format!("ws://{}/downgraded", plain.local_addr());
            assert!(
                matches!(&e, Error::Handshake(HandshakeError::InsecureRedirect { location }) if *location == expected),
                "{e:?}"
            );
            assert!(e.to_string().contains("not followed"), "{e}");
        }
        other => panic!("expected InsecureRedirect, got {other:?}"),
    }
    // wss to wss is followed (a relative Location stays wss).
    assert_eq!(first_message(client("/to-wss")), "/upgraded");
}

/// A child run of this test binary with `vars` in its environment runs
/// [`environment_child`], which connects to the URL in
/// `SYNCWS_TEST_CONNECT` with `syncws::connect` (or, with
/// `SYNCWS_TEST_NO_PROXY`, a builder's `no_proxy()`), and prints what the
/// server saw of it: the `Host` header it was asked with.
fn run_child(vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "environment_child",
            "--include-ignored",
            "--nocapture",
        ])
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Run only as [`run_child`]'s child (it is ignored otherwise).
#[test]
#[ignore = "run by the environment tests in a child process"]
fn environment_child() {
    let Ok(url) = std::env::var("SYNCWS_TEST_CONNECT") else {
        return;
    };
    let result = if std::env::var_os("SYNCWS_TEST_NO_PROXY").is_some() {
        ClientBuilder::new(&url).no_proxy().connect()
    } else {
        syncws::connect(&url)
    };
    match result {
        Ok(_) => println!("CHILD: connected"),
        Err(e) => println!("CHILD: failed: {e}"),
    }
}

/// A "proxy" that answers every CONNECT with 403 and counts them: enough
/// to see whether a client went to it.
fn refusing_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(100) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            let mut buf = [0; 1024];
            if matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"CONNECT ")) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (format!("http://{addr}"), asked)
}

#[test]
fn the_environment_names_the_proxy_by_default_and_no_proxy_turns_it_off() {
    use std::sync::atomic::Ordering;
    let server = user_agent_server();
    let target = url(&server, "/");
    let (proxy, asked) = refusing_proxy();

    // http_proxy is read by default: the proxy refuses.
    let (ok, out) = run_child(&[("SYNCWS_TEST_CONNECT", &target), ("http_proxy", &proxy)]);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "CHILD: failed: handshake failed: the HTTP proxy refused the tunnel with HTTP 403"
        ),
        "{out}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    // all_proxy is the fallback.
    let (_, out) = run_child(&[("SYNCWS_TEST_CONNECT", &target), ("ALL_PROXY", &proxy)]);
    assert!(out.contains("CHILD: failed"), "{out}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    // no_proxy exempts the host; no_proxy() ignores the environment.
    for vars in [
        &[("no_proxy", "localhost,127.0.0.1")][..],
        &[("NO_PROXY", "127.0.0.0/8")][..],
        &[("SYNCWS_TEST_NO_PROXY", "1")][..],
    ] {
        let mut vars = vars.to_vec();
        vars.extend([
            ("SYNCWS_TEST_CONNECT", target.as_str()),
            ("http_proxy", &proxy),
        ]);
        let (ok, out) = run_child(&vars);
        assert!(ok && out.contains("CHILD: connected"), "{vars:?}: {out}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    // A proxy URL that cannot be used names the variable, not its value.
    let (_, out) = run_child(&[
        ("SYNCWS_TEST_CONNECT", &target),
        ("http_proxy", "ftp://alice:s3cret@127.0.0.1:1"),
    ]);
    assert!(
        out.contains("CHILD: failed: bad URL: in the variable http_proxy"),
        "{out}"
    );
    assert!(!out.contains("s3cret"), "{out}");
}

#[test]
fn credentials_are_not_sent_on_to_another_host() {
    // The last hop sends back the Authorization and Cookie it received.
    let other_host = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|mut ws: WebSocket| {
            let request = ws.request().unwrap();
            let seen = format!(
                "{} {}",
                request.header("Authorization").unwrap_or("-"),
                request.header("Cookie").unwrap_or("-")
            );
            let _ = ws.send_text(&seen);
            let _ = ws.read_message();
        })
        .unwrap();
    // 127.0.0.1 and localhost are different hosts to the client.
    let target = format!("ws://localhost:{}", other_host.local_addr().port());
    let server = redirecting_server(Some(target));
    let builder = ClientBuilder::new(url(&server, "/r/307/abs/x"))
        .header("Authorization", "Bearer secret")
        .header("Cookie", "session=1")
        .header("X-Kept", "yes")
        .follow_redirects(1);
    assert_eq!(first_message(builder), "- -");
    // Asked directly, the same server sees them.
    let builder = ClientBuilder::new(url(&other_host, "/"))
        .header("Authorization", "Bearer secret")
        .header("Cookie", "session=1");
    assert_eq!(first_message(builder), "Bearer secret session=1");
}

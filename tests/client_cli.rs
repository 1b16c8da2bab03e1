//! The command-line client (`examples/client.rs`) as a person runs it:
//! headers, subprotocols and origin reach the server, `--ca` and
//! `--insecure` for wss, `--proxy` and `--no-proxy`, `--reconnect` through
//! a server restart, and a bad command line refused with status 2.

mod child;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use child::{Killed, example_binary, exit_status, line_with, lines_of};
use syncws::server::Route;
use syncws::{Server, ServerHandle, WebSocket};

/// The client binary, or `None` (the test says it skipped) when `cargo
/// test` did not build it.
fn client_binary() -> Option<std::path::PathBuf> {
    let binary = example_binary("client");
    if binary.is_none() {
        eprintln!(
            "note: skipped: the client example is not built (a plain `cargo test` builds it)"
        );
    }
    binary
}

/// An echo server whose `/seen` route first says what the handshake
/// brought: the `X-Test` header, the subprotocol agreed and the origin.
fn server(bind: SocketAddr) -> ServerHandle {
    Server::bind(bind)
        .unwrap()
        .websocket(
            Route::exact("/seen").protocols(["chat.v1", "chat.v2"]),
            |mut ws: WebSocket| {
                let request = ws.request().unwrap();
                let seen = format!(
                    "x-test={} protocol={} origin={} deflate={}",
                    request.header("X-Test").unwrap_or("-"),
                    ws.protocol().unwrap_or("-"),
                    request.header("Origin").unwrap_or("-"),
                    ws.deflate().is_some(),
                );
                if ws.send_text(&seen).is_ok() {
                    let sender = ws.sender();
                    let _ = ws.run_with(|message| sender.send_message(message));
                }
            },
        )
        .websocket("/echo", |mut ws: WebSocket| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap()
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The client with `args`, and its standard output and error, line by
/// line.
fn spawn_client(
    binary: &std::path::Path,
    args: &[&str],
) -> (
    Killed,
    std::sync::mpsc::Receiver<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let mut client = Killed(
        Command::new(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines_of(client.0.stdout.take().unwrap());
    let err = lines_of(client.0.stderr.take().unwrap());
    (client, out, err)
}

/// `--no-deflate` offers no compression; the server sees none.
#[test]
fn no_deflate_offers_no_compression() {
    let Some(binary) = client_binary() else {
        return;
    };
    let server = server(local());
    let url = format!("ws://{}/seen", server.local_addr());
    let (mut client, out, err) = spawn_client(&binary, &["--no-deflate", &url]);
    assert!(!line_with(&err, "connected").contains("permessage-deflate"));
    assert!(line_with(&out, "x-test").ends_with("deflate=false"));
    drop(client.0.stdin.take());
    assert!(line_with(&err, "closed:").contains("1000"));
    assert!(exit_status(&mut client.0).success());
}

#[test]
fn headers_protocols_and_origin_reach_the_server() {
    let Some(binary) = client_binary() else {
        return;
    };
    let server = server(local());
    let url = format!("ws://{}/seen", server.local_addr());
    let args = ["-H", "X-Test: forty two", "--protocol", "chat.v2"];
    let (mut client, out, err) = spawn_client(
        &binary,
        &[&args[..], &["--origin", "https://app.test", &url]].concat(),
    );
    // Offered by default (with the `deflate` feature).
    let deflate = cfg!(feature = "deflate");
    let agreed = match deflate {
        true => "(subprotocol chat.v2, permessage-deflate)",
        false => "(subprotocol chat.v2)",
    };
    assert!(line_with(&err, "connected").contains(agreed));
    assert_eq!(
        line_with(&out, "x-test"),
        format!("x-test=forty two protocol=chat.v2 origin=https://app.test deflate={deflate}")
    );
    let mut input = client.0.stdin.take().unwrap();
    writeln!(input, "and back").unwrap();
    assert_eq!(line_with(&out, "back"), "and back");
    drop(input);
    assert!(line_with(&err, "closed:").contains("1000"));
    assert!(exit_status(&mut client.0).success());
}

#[test]
fn a_bad_command_line_is_refused_with_status_2() {
    let Some(binary) = client_binary() else {
        return;
    };
    for args in [
        &["--header", "no colon", "ws://127.0.0.1:1/"][..],
        &["--frobnicate", "ws://127.0.0.1:1/"],
        &[],
    ] {
        let output = Command::new(&binary).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("usage: client"),
            "{args:?}"
        );
    }
}

/// The server stops (the client sees 1001, going away) and starts again on
/// the same port: the client connects again by itself and its input lines
/// go to the new connection.
#[test]
fn reconnect_follows_the_server_through_a_restart() {
    let Some(binary) = client_binary() else {
        return;
    };
    let first = server(local());
    let addr = first.local_addr();
    let mut client = Killed(
        Command::new(binary)
            .arg("--reconnect")
            .arg(format!("ws://{addr}/echo"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines_of(client.0.stdout.take().unwrap());
    let err = lines_of(client.0.stderr.take().unwrap());
    let mut input = client.0.stdin.take().unwrap();
    line_with(&err, "connected");
    writeln!(input, "before").unwrap();
    assert_eq!(line_with(&out, "before"), "before");

    first.stop();
    first.join();
    assert!(line_with(&err, "closed:").contains("1001"));
    let second = server(addr);
    line_with(&err, "connected");
    writeln!(input, "after").unwrap();
    assert_eq!(line_with(&out, "after"), "after");

    drop(input);
    assert!(line_with(&err, "closed:").contains("1000"));
    assert!(exit_status(&mut client.0).success());
    second.stop();
}

/// A proxy that refuses every tunnel with 407, after reading the request
/// head, and counts the requests it saw.
fn refusing_proxy() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind(local()).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let connect = head.read_line(&mut line).is_ok() && line.starts_with("CONNECT ");
            while head.read_line(&mut line).is_ok_and(|n| n > 2) {}
            if connect {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    (addr, seen)
}

/// `--proxy` sends the connection through the proxy named (which refuses
/// here, and the client says it was the proxy); `--no-proxy` ignores the
/// one the environment names.
#[test]
fn proxy_names_the_proxy_and_no_proxy_ignores_the_environments() {
    use std::sync::atomic::Ordering;
    let Some(binary) = client_binary() else {
        return;
    };
    let server = server(local());
    let url = format!("ws://{}/echo", server.local_addr());
    let (proxy, seen) = refusing_proxy();

    let output = Command::new(&binary)
        .args(["--proxy", &format!("http://{proxy}"), &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("proxy") && err.contains("407"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let mut client = Killed(
        Command::new(&binary)
            .args(["--no-proxy", &url])
            .env("http_proxy", format!("http://{proxy}"))
            .env("HTTP_PROXY", format!("http://{proxy}"))
            .env("all_proxy", format!("http://{proxy}"))
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines_of(client.0.stdout.take().unwrap());
    let mut input = client.0.stdin.take().unwrap();
    writeln!(input, "direct").unwrap();
    assert_eq!(line_with(&out, "direct"), "direct");
    drop(input);
    assert!(exit_status(&mut client.0).success());
    assert_eq!(seen.load(Ordering::SeqCst), 1, "the proxy was asked again");
    server.stop();
}

#[cfg(feature = "native-tls")]
mod wss {
    use super::*;
    use child::{TempDir, all_lines};

    /// A wss echo server with a self-signed certificate for `localhost`,
    /// and a directory with the certificate's PEM in `ca.pem`.
    fn tls_server() -> (ServerHandle, TempDir) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_pem = certified.cert.pem();
        let identity = syncws::native_tls::Identity::from_pkcs8(
            cert_pem.as_bytes(),
            certified.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let server = Server::bind(local())
            .unwrap()
            .tls(identity)
            .unwrap()
            .start(|mut ws: WebSocket| {
                let sender = ws.sender();
                let _ = ws.run_with(|message| sender.send_message(message));
            })
            .unwrap();
        let dir = TempDir::new("client-cli");
        std::fs::write(dir.path().join("ca.pem"), cert_pem).unwrap();
        (server, dir)
    }

    /// Run the client with `args` against `url`, send a line, and return
    /// whether it came back, and the client's standard error.
    fn echo_once(args: &[&str], url: &str) -> (bool, Vec<String>) {
        let binary = client_binary().unwrap();
        let mut client = Killed(
            Command::new(binary)
                .args(args)
                .arg(url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let out = lines_of(client.0.stdout.take().unwrap());
        let err = lines_of(client.0.stderr.take().unwrap());
        // The line, then end of input: the client sends it and closes.
        // (A client that could not connect has exited already: its input
        // is a broken pipe, and what it said is on its standard error.)
        let _ = writeln!(client.0.stdin.take().unwrap(), "over tls");
        exit_status(&mut client.0);
        let (out, err) = (all_lines(out), all_lines(err));
        (out.iter().any(|line| line == "over tls"), err)
    }

    #[test]
    fn ca_and_insecure_let_the_client_reach_a_self_signed_server() {
        if client_binary().is_none() {
            return;
        }
        let (server, dir) = tls_server();
        let pem = dir.path().join("ca.pem");
        let url = format!("wss://localhost:{}/", server.local_addr().port());

        let (echoed, err) = echo_once(&[], &url);
        assert!(!echoed, "{err:?}");
        assert!(
            err.iter().any(|line| line.starts_with("cannot connect to")),
            "{err:?}"
        );

        let (echoed, err) = echo_once(&["--ca", pem.to_str().unwrap()], &url);
        assert!(echoed, "{err:?}");
        let (echoed, err) = echo_once(&["--insecure"], &url);
        assert!(echoed, "{err:?}");
        server.stop();
    }
}

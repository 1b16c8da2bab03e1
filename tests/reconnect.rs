//! The reconnecting client (`syncws::reconnect`) against real servers on
//! 127.0.0.1: a syncws `Server` stopped and started again on the same
//! port, servers that close with each kind of code, and a scripted raw
//! server that refuses the handshake or drops the connection. The waits
//! between attempts go through an injected sleep that records them (and
//! restarts a server at the Nth), so no test waits through a delay.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::common::{echo, eventually};
use support::{Peer, TIMEOUT, tungstenite_echo};
use syncws::{
    Backoff, CloseCode, Error, HandshakeError, Jitter, Reconnect, Server, ServerHandle, WebSocket,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 10 ms, doubling, at most 1 s, with no jitter: delays a test can name.
fn exact_backoff() -> Backoff {
    Backoff::default()
        .initial(ms(10))
        .multiplier(2.0)
        .max(Duration::from_secs(1))
        .jitter(Jitter::None)
}

/// The delays a `Reconnect` asked to wait, recorded instead of waited.
#[derive(Clone, Default)]
struct Waits(Arc<Mutex<Vec<Duration>>>);

impl Waits {
    fn record(&self) -> impl FnMut(Duration) + Send + 'static {
        let waits = self.clone();
        move |delay| waits.0.lock().unwrap().push(delay)
    }

    fn taken(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

/// `url` with recorded waits, an exact backoff and a healthy period no
/// test connection reaches.
fn reconnect_recorded(url: &str, waits: &Waits) -> Reconnect {
    syncws::reconnect(url)
        .backoff(exact_backoff())
        .healthy_after(Duration::from_secs(3600))
        .sleep_with(waits.record())
}

/// The next connection, which must come.
#[track_caller]
fn next_connection(feed: &mut Reconnect) -> WebSocket {
    match feed.next() {
        Some(Ok(mut ws)) => {
            ws.set_read_timeout(Some(TIMEOUT)).unwrap();
            ws
        }
        Some(Err(e)) => panic!("gave up: {e}"),
        None => panic!("the iteration ended"),
    }
}

#[track_caller]
fn assert_echoes(ws: &mut WebSocket, text: &str) {
    ws.send_text(text).unwrap();
    assert_eq!(ws.read_message().unwrap().as_text(), Some(text));
}

/// A syncws server on `addr` whose handler, for its `n`th connection
/// (from 0), runs `handler(n, ws)`.
fn counting_server<H>(addr: &str, handler: H) -> (ServerHandle, Arc<AtomicUsize>)
where
    H: Fn(usize, WebSocket) + Send + Sync + 'static,
{
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let server = Server::bind(addr)
        .expect("bind")
        .start(move |ws| handler(seen.fetch_add(1, Ordering::SeqCst), ws))
        .expect("start the server");
    (server, count)
}

fn url_of(server: &ServerHandle) -> String {
    format!("ws://{}/", server.local_addr())
}

/// A server handler that closes with `code` and waits for the answer.
fn close_with(code: CloseCode, reason: &'static str) -> impl Fn(WebSocket) {
    move |mut ws| {
        let _ = ws.set_read_timeout(Some(TIMEOUT));
        let _ = ws.close(code, reason);
    }
}

/// What the scripted raw server does with each connection, in turn.
enum Answer {
    /// Read the request head and answer this status with this body.
    Refuse(u16, &'static str),
    /// Complete the handshake (tungstenite), then drop the TCP connection
    /// without a close frame.
    DropAfterHandshake,
    /// Complete the handshake and echo until the client closes.
    Echo,
}

/// A raw TCP server on 127.0.0.1:0 that answers connections as `script`
/// says, one after the other, and then ends. Returns its URL and the
/// thread, whose result is the number of connections it served.
fn scripted_server(script: Vec<Answer>) -> (String, Peer<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let peer = Peer::spawn("scripted-server", move || {
        let mut served = 0;
        for answer in script {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(TIMEOUT)).unwrap();
            served += 1;
            match answer {
                Answer::Refuse(status, body) => refuse(stream, status, body),
                Answer::DropAfterHandshake => {
                    drop(tungstenite::accept(stream).expect("handshake"));
                }
                Answer::Echo => {
                    tungstenite_echo(tungstenite::accept(stream).expect("handshake"));
                }
            }
        }
        served
    });
    (url, peer)
}

fn refuse(stream: TcpStream, status: u16, body: &str) {
    let mut reader = BufReader::new(&stream);
    // The whole head, so that closing leaves nothing unread (which would
    // reset the connection under the response).
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let response = format!(
        "HTTP/1.1 {status} Refused\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    (&stream).write_all(response.as_bytes()).expect("answer");
}

#[test]
fn a_server_restarted_on_the_same_port_is_reconnected_with_growing_delays() {
    let (server, _) = counting_server("127.0.0.1:0", |_, ws| echo(ws));
    let addr: SocketAddr = server.local_addr();
    let running = Arc::new(Mutex::new(Some(server)));
    let waits = Waits::default();
    let record = waits.clone();
    let restart = Arc::clone(&running);
    // Each wait is recorded instead of waited; at the third the server
    // comes back on the same port.
    let mut feed = syncws::reconnect(format!("ws://{addr}/"))
        .backoff(exact_backoff().jitter(Jitter::Equal))
        .seed(17)
        .sleep_with(move |delay| {
            let mut waits = record.0.lock().unwrap();
            waits.push(delay);
            if waits.len() == 3 {
                let (server, _) = counting_server(&addr.to_string(), |_, ws| echo(ws));
                *restart.lock().unwrap() = Some(server);
            }
        });

    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "before the restart");
    // `stop` waits for the connection to finish its close handshake,
    // which this thread completes by reading.
    let stopping = running.lock().unwrap().take().unwrap();
    let stopped = Peer::spawn("stop", move || stopping.stop());
    match ws.read_message() {
        Err(Error::Closed(frame)) => assert_eq!(frame.code, CloseCode::GoingAway),
        other => panic!("expected the server's 1001, got {other:?}"),
    }
    drop(ws);
    stopped.join();

    // Refused twice while the server is down, then served again.
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "after the restart");
    let waits = waits.taken();
    assert_eq!(waits.len(), 3, "{waits:?}");
    // Equal jitter: half the ceiling and up to all of it: 10 ms, 20, 40.
    for (wait, ceiling) in waits.iter().zip([10, 20, 40]) {
        assert!(
            *wait >= ms(ceiling / 2) && *wait <= ms(ceiling),
            "{waits:?}"
        );
    }
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    assert!(waits[2] > waits[0], "{waits:?}");

    ws.close(CloseCode::Normal, "done").unwrap();
    drop(ws);
    assert!(
        feed.next().is_none(),
        "the caller's close ends the iteration"
    );
    running.lock().unwrap().take().unwrap().stop();
}

#[test]
fn refusals_with_503_are_retried_until_the_server_accepts() {
    let (url, server) = scripted_server(vec![
        Answer::Refuse(503, "busy"),
        Answer::Refuse(503, "busy"),
        Answer::Echo,
    ]);
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url, &waits);
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "accepted at the third try");
    assert_eq!(waits.taken(), [ms(10), ms(20)]);
    ws.close(CloseCode::Normal, "").unwrap();
    drop(ws);
    assert!(feed.next().is_none());
    assert_eq!(server.join(), 3);
}

#[test]
fn a_403_gives_up_at_once_and_the_caller_sees_it() {
    let (url, server) = scripted_server(vec![Answer::Refuse(403, "not you")]);
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url, &waits);
    match feed.next() {
        Some(Err(Error::Handshake(HandshakeError::Refused { status, body, .. }))) => {
            assert_eq!(status, 403);
            assert_eq!(body, b"not you");
        }
        other => panic!("expected the 403, got {other:?}"),
    }
    assert!(feed.next().is_none());
    assert!(waits.taken().is_empty());
    assert_eq!(server.join(), 1);
}

#[test]
fn closes_with_1012_and_1013_are_reconnected() {
    let (server, count) = counting_server("127.0.0.1:0", |n, ws| match n {
        0 => close_with(CloseCode::ServiceRestart, "restarting")(ws),
        1 => close_with(CloseCode::TryAgainLater, "busy")(ws),
        _ => echo(ws),
    });
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url_of(&server), &waits);
    for code in [CloseCode::ServiceRestart, CloseCode::TryAgainLater] {
        let mut ws = next_connection(&mut feed);
        match ws.read_message() {
            Err(Error::Closed(frame)) => assert_eq!(frame.code, code),
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "third time");
    // Neither closed connection was healthy: the delays grew.
    assert_eq!(waits.taken(), [ms(10), ms(20)]);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    ws.close(CloseCode::Normal, "").unwrap();
    drop(ws);
    assert!(feed.next().is_none());
    server.stop();
}

#[test]
fn closes_with_1000_or_1008_end_the_iteration_with_the_servers_frame() {
    for (code, reason) in [
        (CloseCode::Normal, "bye"),
        (CloseCode::Policy, "not allowed"),
    ] {
        let (server, count) = counting_server("127.0.0.1:0", move |_, ws| {
            close_with(code, reason)(ws);
        });
        let waits = Waits::default();
        let mut feed = reconnect_recorded(&url_of(&server), &waits);
        let mut ws = next_connection(&mut feed);
        assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
        drop(ws);
        match feed.next() {
            Some(Err(Error::Closed(frame))) => {
                assert_eq!(frame.code, code);
                assert_eq!(frame.reason, reason);
            }
            other => panic!("expected {code:?} as the last item, got {other:?}"),
        }
        assert!(feed.next().is_none());
        assert!(waits.taken().is_empty());
        assert_eq!(count.load(Ordering::SeqCst), 1);
        server.stop();
    }
}

#[test]
fn the_callers_own_close_ends_the_iteration() {
    let (server, count) = counting_server("127.0.0.1:0", |_, ws| echo(ws));
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url_of(&server), &waits);
    // By `close`, which waits for the server's answer.
    let mut ws = next_connection(&mut feed);
    let answer = ws.close(CloseCode::Normal, "bye").unwrap();
    assert_eq!(answer.code, CloseCode::Normal);
    drop(ws);
    assert!(feed.next().is_none());
    assert!(feed.next().is_none());

    // By a sender's `send_close`, the reader then reading to the end.
    let mut feed = reconnect_recorded(&url_of(&server), &waits);
    let mut ws = next_connection(&mut feed);
    ws.sender().send_close(CloseCode::Normal, "bye").unwrap();
    assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
    drop(ws);
    assert!(feed.next().is_none());

    assert!(waits.taken().is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 2);
    server.stop();
}

#[test]
fn max_attempts_ends_with_the_last_error() {
    let (url, server) = scripted_server(vec![
        Answer::Refuse(503, "busy"),
        Answer::Refuse(502, "no upstream"),
        Answer::Refuse(503, "still busy"),
    ]);
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url, &waits).max_attempts(3);
    match feed.next() {
        Some(Err(Error::Handshake(HandshakeError::Refused { status, body, .. }))) => {
            assert_eq!((status, body.as_slice()), (503, &b"still busy"[..]));
        }
        other => panic!("expected the last 503, got {other:?}"),
    }
    assert!(feed.next().is_none());
    assert_eq!(waits.taken(), [ms(10), ms(20)]);
    assert_eq!(server.join(), 3);

    // Nothing listening: refused, twice.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&format!("ws://127.0.0.1:{port}/"), &waits).max_attempts(2);
    match feed.next() {
        Some(Err(Error::Io(e))) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected a refused connection, got {other:?}"),
    }
    assert!(feed.next().is_none());
    assert_eq!(waits.taken(), [ms(10)]);
}

#[test]
fn a_connection_lost_without_a_close_is_reconnected() {
    let (url, server) = scripted_server(vec![Answer::DropAfterHandshake, Answer::Echo]);
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url, &waits);
    let mut ws = next_connection(&mut feed);
    match ws.read_message() {
        Err(Error::Io(_)) => {}
        other => panic!("expected the lost connection, got {other:?}"),
    }
    drop(ws);
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "again");
    assert_eq!(waits.taken(), [ms(10)]);
    ws.close(CloseCode::Normal, "").unwrap();
    drop(ws);
    assert!(feed.next().is_none());
    assert_eq!(server.join(), 2);
}

#[test]
fn a_connection_dropped_or_held_open_is_closed_and_followed_by_the_next() {
    let (server, count) = counting_server("127.0.0.1:0", |_, ws| echo(ws));
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url_of(&server), &waits).max_attempts(1);

    // Dropped while open: its drop sends 1000, and the next follows.
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "first");
    drop(ws);
    let mut held = next_connection(&mut feed);
    assert_echoes(&mut held, "second");

    // Held open while the next is asked for: closed with 1000 first.
    let mut ws = next_connection(&mut feed);
    match held.read_message() {
        Err(Error::Closed(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the held connection closed, got {other:?}"),
    }
    assert_echoes(&mut ws, "third");

    // Nothing failed: no failed try counted against max_attempts(1), and
    // each wait is the first delay again.
    assert_eq!(waits.taken(), [ms(10), ms(10)]);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    ws.close(CloseCode::Normal, "").unwrap();
    drop(ws);
    assert!(feed.next().is_none());
    server.stop();
}

#[test]
fn a_healthy_connection_resets_the_backoff_and_an_early_end_counts_as_a_failure() {
    let (server, _) = counting_server("127.0.0.1:0", |_, ws| {
        close_with(CloseCode::TryAgainLater, "busy")(ws);
    });
    // A clock the test moves.
    let start = Instant::now();
    let elapsed = Arc::new(AtomicU64::new(0));
    let clock = Arc::clone(&elapsed);
    let waits = Waits::default();
    let mut feed = syncws::reconnect(url_of(&server))
        .backoff(exact_backoff())
        .healthy_after(Duration::from_secs(60))
        .clock(move || start + ms(clock.load(Ordering::SeqCst)))
        .sleep_with(waits.record());
    let closed_after = |feed: &mut Reconnect, lived: Duration| {
        let mut ws = next_connection(feed);
        assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
        elapsed.fetch_add(lived.as_millis() as u64, Ordering::SeqCst);
    };
    closed_after(&mut feed, ms(5)); // not healthy: retry 1
    closed_after(&mut feed, ms(5)); // not healthy: retry 2
    closed_after(&mut feed, ms(5)); // not healthy: retry 3
    closed_after(&mut feed, Duration::from_secs(61)); // healthy: retry 1 again
    closed_after(&mut feed, ms(5)); // not healthy: retry 2
    closed_after(&mut feed, ms(5));
    // The wait before each connection after the first.
    assert_eq!(waits.taken(), [ms(10), ms(20), ms(40), ms(10), ms(20)]);

    // Connections that end before they are healthy are failed tries.
    let waits = Waits::default();
    let mut feed = reconnect_recorded(&url_of(&server), &waits).max_attempts(2);
    for _ in 0..2 {
        let mut ws = next_connection(&mut feed);
        assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
    }
    match feed.next() {
        Some(Err(Error::Closed(frame))) => assert_eq!(frame.code, CloseCode::TryAgainLater),
        other => panic!("expected the last 1013, got {other:?}"),
    }
    assert!(feed.next().is_none());
    assert_eq!(waits.taken(), [ms(10)]);
    server.stop();
}

#[test]
fn on_connect_resubscribes_on_every_connection() {
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&firsts);
    let (server, _) = counting_server("127.0.0.1:0", move |n, mut ws| {
        let _ = ws.set_read_timeout(Some(TIMEOUT));
        if let Ok(first) = ws.read_message() {
            seen.lock()
                .unwrap()
                .push(first.as_text().unwrap_or("").to_owned());
        }
        if n == 0 {
            let _ = ws.close(CloseCode::ServiceRestart, "");
        } else {
            echo(ws);
        }
    });
    let waits = Waits::default();
    let mut feed =
        reconnect_recorded(&url_of(&server), &waits).on_connect(|ws| ws.send_text("subscribe"));
    let mut ws = next_connection(&mut feed);
    assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
    let mut ws = next_connection(&mut feed);
    assert_echoes(&mut ws, "hello");
    assert_eq!(*firsts.lock().unwrap(), ["subscribe", "subscribe"]);
    ws.close(CloseCode::Normal, "").unwrap();
    drop(ws);
    assert!(feed.next().is_none());
    server.stop();
}

#[test]
fn an_on_connect_failure_of_its_own_gives_up_with_its_error() {
    let (server, count) = counting_server("127.0.0.1:0", |_, ws| echo(ws));
    let waits = Waits::default();
    // A ping of 200 bytes is refused: the connection is fine, the hook is not.
    let mut feed = reconnect_recorded(&url_of(&server), &waits).on_connect(|ws| ws.ping(&[0; 200]));
    assert!(matches!(feed.next(), Some(Err(Error::Capacity(_)))));
    assert!(feed.next().is_none());
    assert!(waits.taken().is_empty());
    eventually("the server saw the connection", TIMEOUT, || {
        count.load(Ordering::SeqCst) == 1
    });
    server.stop();
}

#[cfg(feature = "native-tls")]
mod tls {
    use super::*;
    use syncws::native_tls::Identity;

    #[test]
    fn an_untrusted_certificate_gives_up_at_once() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let identity = Identity::from_pkcs8(
            certified.cert.pem().as_bytes(),
            certified.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let server = Server::bind("127.0.0.1:0")
            .unwrap()
            .tls(identity)
            .unwrap()
            .start(echo)
            .unwrap();
        let waits = Waits::default();
        let url = format!("wss://localhost:{}/", server.local_addr().port());
        let mut feed = reconnect_recorded(&url, &waits);
        match feed.next() {
            Some(Err(Error::Tls(_))) => {}
            other => panic!("expected a TLS error, got {other:?}"),
        }
        assert!(feed.next().is_none());
        assert!(waits.taken().is_empty());
        server.stop();
    }

    #[test]
    fn a_tls_handshake_cut_by_the_network_is_retried() {
        // A listener that closes each connection at once, before the
        // server's hello: what an overloaded TLS server does.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("wss://localhost:{}/", listener.local_addr().unwrap().port());
        let server = Peer::spawn("closing-server", move || {
            for _ in 0..2 {
                drop(listener.accept().expect("accept"));
            }
        });
        let waits = Waits::default();
        let mut feed = reconnect_recorded(&url, &waits).max_attempts(2);
        match feed.next() {
            Some(Err(e)) => assert!(matches!(e, Error::Tls(_) | Error::Io(_)), "{e:?}"),
            other => panic!("expected the last failure, got {other:?}"),
        }
        assert!(feed.next().is_none());
        assert_eq!(waits.taken(), [ms(10)]);
        server.join();
    }
}

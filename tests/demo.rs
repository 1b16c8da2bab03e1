//! The demo server (`examples/demo.rs`) from Rust: its pages over plain
//! HTTP, and our client against each WebSocket route. The server runs
//! in-process on port 0; one test also runs the real `demo` and `client`
//! example binaries when `cargo test` has built them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncws::{CloseCode, Message, WebSocket};

mod child;
#[path = "../examples/common/demo_server.rs"]
mod demo_server;
mod hostile_raw;

use child::{Killed, example_binary, line_with, lines_of};
use hostile_raw::{RawWs, client_frame};
use syncws::protocol::frame::OpCode;

/// How long any one step may take.
const TIMEOUT: Duration = Duration::from_secs(10);

fn start_demo() -> demo_server::Demo {
    demo_server::start("127.0.0.1:0").expect("start the demo on a free port")
}

fn connect(demo: &demo_server::Demo, path: &str) -> WebSocket {
    let url = format!("ws://{}{path}", demo.local_addr());
    let mut ws = syncws::connect(&url).unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws
}

fn read_text(ws: &mut WebSocket) -> String {
    match ws.read_message() {
        Ok(Message::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Read until a message equal to `wanted` arrives, skipping at most 100
/// others; returns the ones skipped.
fn read_until(ws: &mut WebSocket, wanted: &str) -> Vec<String> {
    let mut skipped = Vec::new();
    for _ in 0..100 {
        let text = read_text(ws);
        if text == wanted {
            return skipped;
        }
        skipped.push(text);
    }
    panic!("{wanted:?} did not arrive; got {skipped:?}");
}

/// Wait (polling, at most [`TIMEOUT`]) until `done` holds; panic naming
/// `what` otherwise.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plain HTTP GET: status line, headers, body.
fn http_get(demo: &demo_server::Demo, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(demo.local_addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    // The server closes the connection after answering.
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP head");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}

/// The number (or `None` for `null`) of `"key":` in a flat JSON report.
fn json_field(json: &str, key: &str) -> Option<u64> {
    let start = json.find(&format!("\"{key}\":")).unwrap_or_else(|| {
        panic!("no {key:?} in {json}");
    }) + key.len()
        + 3;
    let value: String = json[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if value == "null" {
        return None;
    }
    Some(value.parse().unwrap_or_else(|_| panic!("{key} in {json}")))
}

#[test]
fn pages_are_served_with_no_external_resources() {
    let demo = start_demo();
    let pages = [
        ("/", "syncws demo"),
        ("/ws-demo", "syncws demo"),
        ("/ws-echo-client", "/ws-echo\""),
        ("/ws-status-client", "/ws-status\""),
        ("/ws-chatroom-client", "/ws-chatroom\""),
    ];
    for (path, marker) in pages {
        let (status, headers, body) = http_get(&demo, path);
        assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("content-type: text/html; charset=utf-8"),
            "{path}: {headers}"
        );
        assert!(body.contains(marker), "{path} lacks {marker:?}");
        for external in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "@import",
        ] {
            assert!(!body.contains(external), "{path} loads {external}...");
        }
    }
    let index = http_get(&demo, "/").2;
    for link in [
        "/ws-echo-client",
        "/ws-status-client",
        "/ws-chatroom-client",
    ] {
        assert!(index.contains(&format!("href=\"{link}\"")), "{link}");
    }
    // Each page picks ws: or wss: from its own scheme.
    for path in [
        "/ws-echo-client",
        "/ws-status-client",
        "/ws-chatroom-client",
    ] {
        let body = http_get(&demo, path).2;
        assert!(body.contains("location.protocol === \"https:\" ? \"wss:\" : \"ws:\""));
    }
    assert!(http_get(&demo, "/nothing-here").0.contains("404"));
}

#[test]
fn echo_sends_every_message_back() {
    let demo = start_demo();
    let mut ws = connect(&demo, "/ws-echo");
    for text in ["hello", "", "héllo wörld ✓"] {
        ws.send_text(text).unwrap();
        assert_eq!(ws.read_message().unwrap(), Message::from(text));
    }
    let bytes: Vec<u8> = (0..=255).collect();
    ws.send_binary(&bytes).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(bytes));
    ws.close(CloseCode::Normal, "done").unwrap();
}

#[test]
fn status_pushes_a_report_every_second_without_being_asked() {
    let demo = start_demo();
    let mut status = connect(&demo, "/ws-status");
    let first = read_text(&mut status);
    // Some traffic to count: two messages and 10 bytes each way.
    let mut echo = connect(&demo, "/ws-echo");
    for text in ["12345", "67890"] {
        echo.send_text(text).unwrap();
        assert_eq!(read_text(&mut echo), text);
    }
    let started = Instant::now();
    let second = read_text(&mut status);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the next report took {waited:?}"
    );

    assert!(first.starts_with('{') && first.ends_with('}'), "{first}");
    let time = |r: &str| json_field(r, "time").unwrap();
    assert!(time(&second) > time(&first), "{first}\n{second}");
    assert!(json_field(&first, "uptime").is_some());
    assert!(first.contains("\"connections\":{"), "{first}");
    assert!(first.contains("\"/ws-status\":1"), "{first}");
    assert!(second.contains("\"/ws-echo\":1"), "{second}");
    assert!(second.contains("\"/ws-chatroom\":0"), "{second}");
    assert!(json_field(&second, "messages_in").unwrap() >= 2, "{second}");
    assert!(json_field(&second, "bytes_in").unwrap() >= 10, "{second}");
    // Out: the two echoes and at least the first report.
    assert!(
        json_field(&second, "messages_out").unwrap() >= 3,
        "{second}"
    );
    assert!(
        json_field(&second, "bytes_out").unwrap() >= 10 + first.len() as u64,
        "{second}"
    );
    if cfg!(target_os = "linux") {
        assert!(json_field(&second, "threads").unwrap() >= 3, "{second}");
        assert!(json_field(&second, "memory").unwrap() > 1 << 20, "{second}");
    }
    // The status service reads too: it completes the close handshake.
    echo.close(CloseCode::Normal, "").unwrap();
    status.close(CloseCode::Normal, "").unwrap();
}

#[test]
fn chatroom_reaches_every_member_and_the_moderator_speaks_to_all() {
    let demo = start_demo();
    let mut alice = connect(&demo, "/ws-chatroom");
    // Seeing its own message proves a member has joined.
    alice.send_text("alice>> hello").unwrap();
    read_until(&mut alice, "alice>> hello");
    let mut bob = connect(&demo, "/ws-chatroom");
    bob.send_text("bob>> hello").unwrap();
    read_until(&mut bob, "bob>> hello");
    read_until(&mut alice, "bob>> hello");
    assert_eq!(demo.chatroom_members(), 2);

    alice.send_text("alice>> hi bob").unwrap();
    read_until(&mut alice, "alice>> hi bob");
    read_until(&mut bob, "alice>> hi bob");

    assert_eq!(demo.moderator("be nice"), 2);
    read_until(&mut alice, "moderator>> be nice");
    read_until(&mut bob, "moderator>> be nice");

    bob.send_text("bob>> goodbye").unwrap();
    read_until(&mut alice, "bob>> goodbye");
    bob.close(CloseCode::Normal, "goodbye").unwrap();
    wait_until("bob leaving the room", || demo.chatroom_members() == 1);
    assert_eq!(demo.moderator("bob left"), 1);
    read_until(&mut alice, "moderator>> bob left");
    alice.close(CloseCode::Normal, "").unwrap();
}

/// Pages subscribed to the status reports at once.
const CROWD: usize = 200;
/// Time between two round trips of the good echo client.
const ECHO_PACE: Duration = Duration::from_millis(5);

/// The `time` of a report.
fn report_time(report: &str) -> u64 {
    json_field(report, "time").unwrap()
}

/// The next report of `page` built at `since` or later, skipping at most
/// four older ones.
fn report_since(page: &mut WebSocket, since: u64) -> String {
    for _ in 0..5 {
        let report = read_text(page);
        if report_time(&report) >= since {
            return report;
        }
    }
    panic!("no report since {since}");
}

/// That every page got the very same report: one built, broadcast to all.
#[track_caller]
fn assert_one_report(reports: &[String]) -> &str {
    let first = &reports[0];
    let others: Vec<&String> = reports.iter().filter(|r| *r != first).collect();
    assert!(
        others.is_empty(),
        "{} of {} pages got another report than\n{first}\nsuch as\n{}",
        others.len(),
        reports.len(),
        others[0]
    );
    first
}

/// A good client of `/ws-echo`: round trips, one every [`ECHO_PACE`],
/// until `stop` says so (or hangs up), for at most [`TIMEOUT`] and 10,000
/// trips. Returns how many it made and the slowest.
fn echo_until(demo: &demo_server::Demo, stop: mpsc::Receiver<()>) -> (usize, Duration) {
    let mut echo = connect(demo, "/ws-echo");
    let deadline = Instant::now() + TIMEOUT;
    let mut slowest = Duration::ZERO;
    let mut trips = 0;
    while trips < 10_000
        && Instant::now() < deadline
        && stop.recv_timeout(ECHO_PACE) == Err(mpsc::RecvTimeoutError::Timeout)
    {
        let text = format!("trip {trips}");
        let sent = Instant::now();
        echo.send_text(&text).unwrap();
        assert_eq!(read_text(&mut echo), text);
        slowest = slowest.max(sent.elapsed());
        trips += 1;
    }
    echo.close(CloseCode::Normal, "").unwrap();
    (trips, slowest)
}

/// With [`CROWD`] pages subscribed, the status service builds one report
/// per period and broadcasts it: within two periods of the last page
/// joining, every page gets the reports of a round, the same text for all
/// (one `time`), and each round counts one message out per page; a good
/// echo client goes on round-tripping meanwhile; and pages that close
/// leave the broadcast.
#[test]
fn status_broadcasts_one_report_per_period_to_every_subscriber() {
    use demo_server::STATUS_PERIOD;
    let demo = start_demo();
    std::thread::scope(|scope| {
        let demo = &demo;
        // Dropped on a panic too, which stops the echo client at once.
        let (stop_echo, echo_stopped) = mpsc::channel();
        let echo = scope.spawn(move || echo_until(demo, echo_stopped));
        // Each page gets a report of its own at once, then joins the
        // broadcast half a period later.
        let mut pages: Vec<WebSocket> = (0..CROWD)
            .map(|_| {
                let mut page = connect(demo, "/ws-status");
                let first = read_text(&mut page);
                assert!(first.contains("\"/ws-status\":"), "{first}");
                page
            })
            .collect();
        let all_joined = Instant::now() + STATUS_PERIOD / 2;

        // A page that joined early has had a round or two more than one
        // that joined late: take the latest round any page got.
        let next: Vec<String> = pages.iter_mut().map(read_text).collect();
        let round = next.iter().map(|r| report_time(r)).max().unwrap();
        let first_round: Vec<String> = pages
            .iter_mut()
            .zip(next)
            .map(|(page, report)| {
                if report_time(&report) == round {
                    report
                } else {
                    report_since(page, round)
                }
            })
            .collect();
        let waited = all_joined.elapsed();
        assert!(
            waited < 2 * STATUS_PERIOD,
            "the first round reached every page {waited:?} after the last joined"
        );
        let first_round = assert_one_report(&first_round);
        assert!(
            first_round.contains(&format!("\"/ws-status\":{CROWD}")),
            "{first_round}"
        );
        assert!(first_round.contains("\"/ws-echo\":1"), "{first_round}");
        assert_eq!(demo.status_subscribers(), CROWD);

        let second_round: Vec<String> = pages
            .iter_mut()
            .map(|page| report_since(page, round + 1))
            .collect();
        let second_round = assert_one_report(&second_round);
        // Out since the first round: that round, once per page, and the
        // echoes.
        let out =
            |key| json_field(second_round, key).unwrap() - json_field(first_round, key).unwrap();
        assert!(
            out("messages_out") >= CROWD as u64,
            "{first_round}\n{second_round}"
        );
        assert!(
            out("bytes_out") >= (CROWD * first_round.len()) as u64,
            "{first_round}\n{second_round}"
        );

        stop_echo.send(()).unwrap();
        let (trips, slowest) = echo.join().unwrap();
        assert!(trips >= 20, "the echo client made {trips} round trips");
        assert!(
            slowest < STATUS_PERIOD,
            "the echo client's slowest round trip took {slowest:?}"
        );
        for page in &mut pages {
            page.close(CloseCode::Normal, "").unwrap();
        }
    });
    wait_until("the pages leaving the broadcast", || {
        demo.status_subscribers() == 0
    });
}

/// The names of this process's threads that are `name`.
#[cfg(target_os = "linux")]
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// The status publisher is a thread of the demo, named `status-PORT`;
/// stopping the demo, or dropping it, ends it at once, not a period later,
/// while a page is subscribed.
#[cfg(target_os = "linux")]
#[test]
fn stopping_the_demo_ends_the_status_publisher_at_once() {
    for dropped in [false, true] {
        let demo = start_demo();
        let name = demo_server::publisher_thread_name(demo.local_addr().port());
        wait_until("the publisher starting", || threads_named(&name) == 1);
        let mut page = connect(&demo, "/ws-status");
        read_text(&mut page);
        // A broadcast: the page has joined.
        read_text(&mut page);
        std::thread::scope(|scope| {
            // The page answers the close that stopping sends it.
            let closed = scope.spawn(move || {
                loop {
                    match page.read_message() {
                        Ok(_) => {}
                        Err(syncws::Error::Closed(frame)) => break frame.code,
                        Err(e) => panic!("expected a close, got {e}"),
                    }
                }
            });
            let stopping = Instant::now();
            if dropped {
                drop(demo);
            } else {
                demo.stop();
            }
            wait_until("the publisher ending", || threads_named(&name) == 0);
            let took = stopping.elapsed();
            assert!(
                took < demo_server::STATUS_PERIOD / 2,
                "dropped: {dropped}: the publisher ended {took:?} after stopping began"
            );
            assert_eq!(closed.join().unwrap(), CloseCode::GoingAway);
        });
    }
}

/// Rounds of "send, then close at once" per route and per client.
const SEND_THEN_CLOSE_ROUNDS: usize = 40;

/// What a member that sends a message and closes at once gets back before
/// the server's close reply: its own message, on the chatroom (a `Hub`
/// broadcast) as on the echo route, every time. A message that a send or a
/// broadcast accepted is never dropped because a close frame arrived after
/// it; it goes out before the close reply, in order.
#[test]
fn a_message_sent_just_before_closing_comes_back_before_the_close_reply() {
    let demo = start_demo();
    for route in ["/ws-chatroom", "/ws-echo"] {
        // The strictest case: both frames in one write, so the server reads
        // them together and handles the close right after the message.
        for round in 0..SEND_THEN_CLOSE_ROUNDS {
            let text = format!("round {round}");
            let mut both = client_frame(true, OpCode::Text, text.as_bytes());
            both.extend(client_frame(true, OpCode::Close, &1000u16.to_be_bytes()));
            let mut raw = RawWs::connect(demo.local_addr(), route);
            raw.send_raw(&both).unwrap();
            let first = raw.read_frame().unwrap();
            assert_eq!(
                (first.opcode, first.payload.as_slice()),
                (0x1, text.as_bytes()),
                "{route}, round {round}: the message, before the close reply"
            );
            raw.expect_close(1000, &format!("{route}, round {round}"));
            raw.expect_end(&format!("{route}, round {round}"));
        }
        // As an application would: a send, then a close from the sending
        // handle, then reading what is left.
        for round in 0..SEND_THEN_CLOSE_ROUNDS {
            let text = format!("client round {round}");
            let mut ws = connect(&demo, route);
            ws.send_text(&text).unwrap();
            ws.sender().send_close(CloseCode::Normal, "").unwrap();
            assert_eq!(read_text(&mut ws), text, "{route}, client round {round}");
            match ws.read_message() {
                Err(syncws::Error::Closed(frame)) => assert_eq!(frame.code, CloseCode::Normal),
                other => panic!("{route}, client round {round}: {other:?}"),
            }
        }
    }
}

#[test]
fn stopping_the_demo_closes_its_connections_with_going_away() {
    let demo = start_demo();
    let mut status = connect(&demo, "/ws-status");
    let mut chat = connect(&demo, "/ws-chatroom");
    read_text(&mut status);
    let started = Instant::now();
    std::thread::scope(|scope| {
        // `stop` waits for the connections to close, which takes our
        // answers to its close frames: read them meanwhile.
        let stopping = scope.spawn(|| demo.stop());
        for ws in [&mut status, &mut chat] {
            loop {
                match ws.read_message() {
                    Ok(_) => {}
                    Err(syncws::Error::Closed(frame)) => {
                        assert_eq!(frame.code, CloseCode::GoingAway);
                        break;
                    }
                    Err(e) => panic!("expected a close, got {e}"),
                }
            }
        }
        stopping.join().unwrap();
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
}

/// The real `demo` binary: it prints its address when bound to port 0, and
/// each line on its standard input reaches the chatroom; the real `client`
/// binary sends its input lines, prints the answers and exits with 0 at end
/// of input, printing the close code.
#[test]
fn demo_and_client_binaries_end_to_end() {
    let (Some(demo_bin), Some(client_bin)) = (example_binary("demo"), example_binary("client"))
    else {
        eprintln!(
            "note: skipped: the demo and client examples are not built \
             (a plain `cargo test` builds them)"
        );
        return;
    };
    let mut demo = Killed(
        Command::new(demo_bin)
            .args(["--bind", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo"),
    );
    let mut moderator: ChildStdin = demo.0.stdin.take().unwrap();
    let stdout = lines_of(demo.0.stdout.take().unwrap());
    let stderr = lines_of(demo.0.stderr.take().unwrap());
    let first = line_with(&stdout, "syncws demo on http://");
    let addr = first
        .trim_start_matches("syncws demo on http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(!addr.ends_with(":0"), "{first}");
    line_with(&stdout, "/ws-chatroom-client");

    // Standard input speaks as the moderator.
    let mut chat = syncws::connect(&format!("ws://{addr}/ws-chatroom")).unwrap();
    chat.set_read_timeout(Some(TIMEOUT)).unwrap();
    chat.send_text("tester>> hello").unwrap();
    read_until(&mut chat, "tester>> hello");
    writeln!(moderator, "from standard input").unwrap();
    moderator.flush().unwrap();
    read_until(&mut chat, "moderator>> from standard input");
    // And the demo logs connections.
    line_with(&stderr, "opened on /ws-chatroom");
    chat.close(CloseCode::Normal, "").unwrap();

    // The client: lines in, echoes out, close code at end of input.
    let mut client = Command::new(client_bin)
        .arg(format!("ws://{addr}/ws-echo"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"first line\nsecond line\n")
        .unwrap(); // dropped here: end of input
    let client_out = lines_of(client.stdout.take().unwrap());
    let client_err = lines_of(client.stderr.take().unwrap());
    assert_eq!(line_with(&client_out, "line"), "first line");
    assert_eq!(line_with(&client_out, "line"), "second line");
    assert!(line_with(&client_err, "closed:").contains("1000"));
    let status = child::exit_status(&mut client);
    assert!(status.success(), "{status}");

    // Closing the demo's standard input leaves it serving.
    drop(moderator);
    line_with(&stderr, "standard input closed");
    let mut echo = syncws::connect(&format!("ws://{addr}/ws-echo")).unwrap();
    echo.set_read_timeout(Some(TIMEOUT)).unwrap();
    echo.send_text("still here").unwrap();
    assert_eq!(read_text(&mut echo), "still here");
}

/// With a certificate the demo serves its pages over https and its
/// sockets over wss, and says so in the URLs it prints.
#[cfg(feature = "native-tls")]
#[test]
fn demo_serves_https_pages_and_wss_sockets_with_a_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let identity = syncws::native_tls::Identity::from_pkcs8(
        cert_pem.as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let demo = demo_server::start_with_tls("127.0.0.1:0", Some(identity)).unwrap();
    assert!(demo.describe().contains("https://"), "{}", demo.describe());
    assert!(demo.describe().contains("wss://"), "{}", demo.describe());
    let port = demo.local_addr().port();

    let connector = syncws::native_tls::TlsConnector::builder()
        .add_root_certificate(
            syncws::native_tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let tcp = TcpStream::connect(demo.local_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut https = connector.connect("localhost", tcp).unwrap();
    https
        .write_all(b"GET /ws-echo-client HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut page = Vec::new();
    let _ = https.read_to_end(&mut page);
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<html"), "{page}");

    let mut ws = syncws::ClientBuilder::new(format!("wss://localhost:{port}/ws-echo"))
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    ws.send_text("secure echo").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("secure echo"));
    ws.close(CloseCode::Normal, "").unwrap();
}

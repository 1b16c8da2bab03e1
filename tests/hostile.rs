//! Hostile input against a running server, over loopback.
//!
//! Every test opens a well-behaved client first (a [`Chatter`] exchanging
//! messages with the echo route as fast as it can), runs the attack, checks
//! that the good client kept being served during the attack, and checks
//! what the attacker saw: the right HTTP status, the right close code, or
//! a drop within the handshake timeout. For frame-level attacks it also
//! checks that the server's handler was told the error.
//!
//! Tests that measure the memory of the process, or open thousands of
//! sockets, hold [`heavy`] so that they do not disturb each other.

mod hostile_raw;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hostile_raw::{
    Chatter, HttpOutcome, MASK, RawWs, Seen, TIMEOUT, client_frame, echo_and_report, eventually,
    fd_limit, http_attempt, is_timeout, mib, open_fds, raw_frame, raw_header, read_answer,
    rss_bytes, threads, upgrade_request,
};
use syncws::protocol::frame::OpCode;
use syncws::server::Route;
use syncws::{CapacityError, Config, Error, ProtocolViolation, Server, ServerHandle, WebSocket};

/// The handshake timeout of the servers under handshake attacks.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// How much later than the handshake timeout a drop may come (thread
/// scheduling on a loaded 2-core machine, timer slack).
const DROP_SLACK: Duration = Duration::from_millis(1500);
/// The most the memory of the process may grow under an attack.
const MEMORY_BOUND: u64 = 64 << 20;

/// Tests that measure memory or open thousands of sockets run one at a
/// time.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server whose every path echoes, and whose handlers report the error
/// that ends their connection.
fn echo_server(config: Config) -> (ServerHandle, Seen) {
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(config)
        .websocket(Route::any(), move |ws: WebSocket| echo_and_report(ws, &tx))
        .serve()
        .unwrap();
    (server, Seen::new(rx))
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

fn handshake_config() -> Config {
    Config::default()
        .handshake_timeout(Some(HANDSHAKE_TIMEOUT))
        .max_head_size(4096)
        .max_headers(32)
}

/// Bytes from a xorshift generator.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[track_caller]
fn assert_status(outcome: &HttpOutcome, status: u16, what: &str) {
    match outcome {
        HttpOutcome::Status(got, text) => assert_eq!(*got, status, "{what}: {text}"),
        HttpOutcome::Dropped(after) => {
            panic!("{what}: dropped after {after:?} instead of answering {status}")
        }
    }
}

/// An upgrade request with the given key and version headers (left out
/// when `None`) and extra header lines.
fn upgrade(key: Option<&str>, version: Option<&str>, extra: &str) -> Vec<u8> {
    let mut head = String::from(
        "GET /attack HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    if let Some(key) = key {
        head.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
    }
    if let Some(version) = version {
        head.push_str(&format!("Sec-WebSocket-Version: {version}\r\n"));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    head.into_bytes()
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

// ---------------------------------------------------------------------
// Handshakes
// ---------------------------------------------------------------------

#[test]
fn garbage_instead_of_http_gets_400() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    let mut tls_hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    tls_hello.extend(noise(500, 7));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary noise", noise(1000, 1)),
        ("a TLS ClientHello", tls_hello),
        ("NUL bytes", [&[0u8; 64][..], b"\r\n\r\n"].concat()),
        (
            "a request line without a version",
            b"GET /\r\n\r\n".to_vec(),
        ),
        (
            "an HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        ),
        (
            "a header line without a colon",
            b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n".to_vec(),
        ),
        (
            "a header name with a space",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".to_vec(),
        ),
        (
            "a control character in a header value",
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x01b\r\n\r\n".to_vec(),
        ),
    ];
    for (what, bytes) in &cases {
        let outcome = http_attempt(addr, bytes);
        assert_status(&outcome, 400, what);
        good.wait_progress(5, &format!("after {what}"));
    }
    // A megabyte of noise, more than the server reads: it answers 400 after
    // the first bytes and closes; a reset may then overtake the answer.
    let during = good.count();
    let outcome = http_attempt(addr, &noise(1 << 20, 3));
    match &outcome {
        HttpOutcome::Status(400, _) => {}
        HttpOutcome::Dropped(after) => assert!(*after < HANDSHAKE_TIMEOUT, "{after:?}"),
        other => panic!("a megabyte of noise: {other:?}"),
    }
    println!("a megabyte of noise: {outcome:?}");
    assert!(good.count() >= during);
    good.wait_progress(5, "after the noise");
    good.finish();
}

#[test]
fn a_head_above_the_size_limit_gets_431() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    // Just above the limit of 4096, sent in one write.
    let big = upgrade(
        Some(KEY),
        Some("13"),
        &format!("X-Big: {}\r\n", "a".repeat(4200)),
    );
    assert_status(&http_attempt(addr, &big), 431, "a 4.3 KB head");
    good.wait_progress(5, "after a 4.3 KB head");
    // A head that never ends: a header value of a megabyte. The server
    // stops reading at the limit; it answers 431, which a reset caused by
    // the unread rest may overtake.
    let endless = upgrade(
        Some(KEY),
        Some("13"),
        &format!("X-Big: {}", "b".repeat(1 << 20)),
    );
    let started = Instant::now();
    let outcome = http_attempt(addr, &endless);
    println!("a 1 MiB head: {outcome:?} after {:?}", started.elapsed());
    match &outcome {
        HttpOutcome::Status(431, _) => {}
        HttpOutcome::Dropped(after) => assert!(*after < HANDSHAKE_TIMEOUT, "{after:?}"),
        other => panic!("a 1 MiB head: {other:?}"),
    }
    good.wait_progress(5, "after a 1 MiB head");
    good.finish();
}

#[test]
fn too_many_headers_get_431() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    // The request has 5 header lines of its own (Host, Upgrade,
    // Connection, Sec-WebSocket-Key, Sec-WebSocket-Version).
    let extra = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: {i}\r\n")).collect() };
    let cases: Vec<(&str, String)> = vec![
        ("33 header lines (limit 32)", extra(28)),
        ("40 header lines", extra(35)),
        ("600 empty header lines", "a:\r\n".repeat(600)),
    ];
    for (what, extra) in &cases {
        let outcome = http_attempt(addr, &upgrade(Some(KEY), Some("13"), extra));
        assert_status(&outcome, 431, what);
        good.wait_progress(5, &format!("after {what}"));
    }
    // At the limit, the upgrade goes through.
    let outcome = http_attempt(addr, &upgrade(Some(KEY), Some("13"), &extra(27)));
    assert_status(&outcome, 101, "32 header lines");
    good.finish();
}

#[test]
fn a_missing_or_malformed_key_gets_400() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    let repeated = format!("Sec-WebSocket-Key: {KEY}\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no key", upgrade(None, Some("13"), "")),
        ("an empty key", upgrade(Some(""), Some("13"), "")),
        ("a short key", upgrade(Some("c2hvcnQ="), Some("13"), "")),
        (
            "a key that is not base64",
            upgrade(Some("!!!!!!!!!!!!!!!!!!!!!!=="), Some("13"), ""),
        ),
        (
            "a key of 20 bytes",
            upgrade(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="), Some("13"), ""),
        ),
        ("a repeated key", upgrade(Some(KEY), Some("13"), &repeated)),
    ];
    for (what, request) in &cases {
        assert_status(&http_attempt(addr, request), 400, what);
        good.wait_progress(5, &format!("after {what}"));
    }
    good.finish();
}

#[test]
fn a_wrong_version_gets_426_naming_13() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    for version in ["8", "12", "14", "13, 8", "thirteen"] {
        let outcome = http_attempt(addr, &upgrade(Some(KEY), Some(version), ""));
        assert_status(&outcome, 426, &format!("version {version:?}"));
        let HttpOutcome::Status(_, text) = outcome else {
            unreachable!()
        };
        assert!(text.contains("Sec-WebSocket-Version: 13"), "{text}");
        good.wait_progress(5, &format!("after version {version:?}"));
    }
    let missing = http_attempt(addr, &upgrade(Some(KEY), None, ""));
    assert_status(&missing, 400, "no version");
    let twice = http_attempt(
        addr,
        &upgrade(Some(KEY), Some("13"), "Sec-WebSocket-Version: 13\r\n"),
    );
    assert_status(&twice, 400, "a repeated version");
    good.finish();
}

/// How each of many attacking connections ended.
struct Drops {
    /// When each was dropped, from its connection.
    after: Vec<Option<Duration>>,
    /// How long opening them all took.
    opened: Duration,
    /// The good client's count when the attack started and when the first
    /// attacker was dropped (all of them still connected until then).
    good_at_start: u64,
    good_at_first_drop: Option<u64>,
}

/// Open `n` connections and drive them: every `pace` (if given) each one
/// sends the next byte of `head`; a connection the server answers fails
/// the test; one it closes is counted as dropped. Runs until all are
/// dropped or `limit` has passed.
fn slow_attack(
    addr: SocketAddr,
    n: usize,
    head: &[u8],
    pace: Option<Duration>,
    good: &Chatter,
    limit: Duration,
) -> Drops {
    let good_at_start = good.count();
    let opening = Instant::now();
    // Each attacker's drop is timed from its own connection: opening many
    // may take a while (the listen backlog is 128).
    let mut streams: Vec<(TcpStream, Instant)> = (0..n)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            stream.set_nonblocking(true).unwrap();
            (stream, Instant::now())
        })
        .collect();
    let opened = opening.elapsed();
    let start = Instant::now();
    let mut good_at_first_drop = None;
    let mut after: Vec<Option<Duration>> = vec![None; n];
    let mut sent = 0;
    let mut next_byte = start;
    let mut chunk = [0u8; 1024];
    // Bounded by `limit`; one pass every few milliseconds.
    while after.iter().any(Option::is_none) && start.elapsed() < limit {
        if let Some(pace) = pace {
            if Instant::now() >= next_byte && sent < head.len() {
                for ((stream, _), dropped) in streams.iter_mut().zip(&after) {
                    if dropped.is_none() {
                        // A failed write means the server closed: the read
                        // below sees it.
                        let _ = stream.write(&head[sent..=sent]);
                    }
                }
                sent += 1;
                next_byte += pace;
            }
        }
        for (i, (stream, connected)) in streams.iter_mut().enumerate() {
            if after[i].is_some() {
                continue;
            }
            match stream.read(&mut chunk) {
                Ok(0) => after[i] = Some(connected.elapsed()),
                Ok(k) => panic!(
                    "attacker {i} got an answer after {sent} bytes: {:?}",
                    String::from_utf8_lossy(&chunk[..k])
                ),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => after[i] = Some(connected.elapsed()),
            }
            if after[i].is_some() && good_at_first_drop.is_none() {
                good_at_first_drop = Some(good.count());
            }
        }
        // Attacker pacing, not synchronisation.
        thread::sleep(Duration::from_millis(5));
    }
    Drops {
        after,
        opened,
        good_at_start,
        good_at_first_drop,
    }
}

#[track_caller]
fn check_drops(drops: &Drops, what: &str) -> (Duration, Duration) {
    let times: Vec<Duration> = drops
        .after
        .iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| panic!("{what}: attacker {i} was never dropped")))
        .collect();
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    // Not before the timeout (less the time to open the connections), and
    // not much after it.
    assert!(
        first >= HANDSHAKE_TIMEOUT / 2,
        "{what}: dropped after only {first:?}"
    );
    assert!(
        last <= HANDSHAKE_TIMEOUT + DROP_SLACK,
        "{what}: the last one dropped after {last:?}"
    );
    let at_drop = drops.good_at_first_drop.expect("a drop");
    assert!(
        at_drop > drops.good_at_start,
        "{what}: the good client made no round trip during the attack"
    );
    println!(
        "{what}: opened in {:?}, {} dropped after {first:?} to {last:?}; the good client made {} round trips meanwhile",
        drops.opened,
        times.len(),
        at_drop - drops.good_at_start
    );
    (first, last)
}

#[test]
fn slowloris_heads_are_dropped_within_the_handshake_timeout() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    // A valid head, one byte every 200 ms: it would take 30 s to finish.
    let head = upgrade_request(addr, "/slow");
    let drops = slow_attack(
        addr,
        100,
        &head,
        Some(Duration::from_millis(200)),
        &good,
        HANDSHAKE_TIMEOUT + DROP_SLACK + Duration::from_secs(2),
    );
    check_drops(&drops, "100 slowloris heads at 5 bytes/s");
    good.wait_progress(5, "after the slowloris attack");
    good.finish();
}

#[test]
fn silent_connections_are_dropped_within_the_handshake_timeout() {
    let (server, _seen) = echo_server(handshake_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    let drops = slow_attack(
        addr,
        std::env::var("N")
            .map(|n| n.parse().unwrap())
            .unwrap_or(200),
        b"",
        None,
        &good,
        HANDSHAKE_TIMEOUT + DROP_SLACK + Duration::from_secs(2),
    );
    check_drops(&drops, "200 connections that send nothing");
    good.wait_progress(5, "after the silent connections");
    good.finish();
}

// ---------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------

/// A frame-level attack: bytes sent after a valid exchange, the close code
/// the attacker must get, and the error the handler must see.
struct FrameAttack {
    what: String,
    bytes: Vec<u8>,
    code: u16,
    handler_saw: fn(&Error) -> bool,
}

fn attack(
    what: impl Into<String>,
    bytes: Vec<u8>,
    code: u16,
    saw: fn(&Error) -> bool,
) -> FrameAttack {
    FrameAttack {
        what: what.into(),
        bytes,
        code,
        handler_saw: saw,
    }
}

/// The limits of the frame tests.
const MAX_FRAME: usize = 1 << 20;
const MAX_MESSAGE: usize = 1 << 20;

fn frame_config() -> Config {
    Config::default()
        .max_frame_size(MAX_FRAME)
        .max_message_size(MAX_MESSAGE)
        .close_timeout(Duration::from_secs(2))
}

fn violation(e: &Error) -> Option<(&ProtocolViolation, u16)> {
    match e {
        Error::Protocol(violation) => Some((violation, u16::from(violation.close_code()))),
        _ => None,
    }
}

fn frame_attacks() -> Vec<FrameAttack> {
    use ProtocolViolation as V;
    let mut attacks = vec![
        attack(
            "an unmasked text frame",
            raw_frame(0x81, b"hello", false),
            1002,
            |e| matches!(violation(e), Some((V::UnmaskedClientFrame, 1002))),
        ),
        attack("an unmasked ping", raw_frame(0x89, b"", false), 1002, |e| {
            matches!(violation(e), Some((V::UnmaskedClientFrame, 1002)))
        }),
        attack("RSV1 set", raw_frame(0xc1, b"x", true), 1002, |e| {
            matches!(violation(e), Some((V::ReservedBits(0b100), 1002)))
        }),
        attack("RSV2 set", raw_frame(0xa1, b"x", true), 1002, |e| {
            matches!(violation(e), Some((V::ReservedBits(0b010), 1002)))
        }),
        attack("RSV3 set", raw_frame(0x91, b"x", true), 1002, |e| {
            matches!(violation(e), Some((V::ReservedBits(0b001), 1002)))
        }),
        attack(
            "a fragmented ping",
            raw_frame(0x09, b"ping", true),
            1002,
            |e| matches!(violation(e), Some((V::FragmentedControlFrame, 1002))),
        ),
        attack(
            "a ping of 126 bytes",
            raw_frame(0x89, &[b'p'; 126], true),
            1002,
            |e| matches!(violation(e), Some((V::ControlFrameTooLong(126), 1002))),
        ),
        attack(
            "a close frame of 200 bytes",
            raw_frame(0x88, &[b'c'; 200], true),
            1002,
            |e| matches!(violation(e), Some((V::ControlFrameTooLong(200), 1002))),
        ),
        attack(
            "a continuation with nothing to continue",
            raw_frame(0x80, b"orphan", true),
            1002,
            |e| matches!(violation(e), Some((V::UnexpectedContinuation, 1002))),
        ),
        attack(
            "a new message inside a fragmented one",
            [
                raw_frame(0x01, b"first ", true),
                raw_frame(0x82, b"second", true),
            ]
            .concat(),
            1002,
            |e| matches!(violation(e), Some((V::ExpectedContinuation, 1002))),
        ),
        attack(
            "a 64-bit length of 2^63",
            [&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0][..], &MASK].concat(),
            1002,
            |e| matches!(violation(e), Some((V::LengthTooLarge, 1002))),
        ),
        attack(
            "a 64-bit length of 2^64 - 1",
            [
                &[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
                &MASK,
            ]
            .concat(),
            1002,
            |e| matches!(violation(e), Some((V::LengthTooLarge, 1002))),
        ),
        attack(
            "a frame announcing 1 GiB (limit 1 MiB), payload never sent",
            raw_header(0x82, 1 << 30),
            1009,
            |e| {
                matches!(
                    e,
                    Error::Capacity(CapacityError::FrameTooLong {
                        size: 0x4000_0000,
                        max_size: MAX_FRAME
                    })
                )
            },
        ),
        attack(
            "a frame of 1 MiB + 1 byte (limit 1 MiB)",
            raw_header(0x82, (MAX_FRAME + 1) as u64),
            1009,
            |e| matches!(e, Error::Capacity(CapacityError::FrameTooLong { .. })),
        ),
        attack(
            "a message of two 700 KiB frames (limit 1 MiB), second payload never sent",
            [
                client_frame(false, OpCode::Binary, &vec![7u8; 700 << 10]),
                raw_header(0x80, 700 << 10),
            ]
            .concat(),
            1009,
            |e| {
                matches!(
                    e,
                    Error::Capacity(CapacityError::MessageTooLong {
                        size: 1_433_600,
                        max_size: MAX_MESSAGE
                    })
                )
            },
        ),
        attack(
            "invalid UTF-8 in a text frame",
            raw_frame(0x81, b"abc\xff", true),
            1007,
            |e| matches!(violation(e), Some((V::InvalidUtf8, 1007))),
        ),
        attack(
            "a text message cut inside a character",
            raw_frame(0x81, "caf\u{e9}".as_bytes().split_last().unwrap().1, true),
            1007,
            |e| matches!(violation(e), Some((V::InvalidUtf8, 1007))),
        ),
        attack(
            "invalid UTF-8 across two fragments",
            [
                raw_frame(0x01, b"caf\xc3", true),
                raw_frame(0x80, b"\x28", true),
            ]
            .concat(),
            1007,
            |e| matches!(violation(e), Some((V::InvalidUtf8, 1007))),
        ),
        attack(
            "invalid UTF-8 at the start of a 512 KiB text frame, the rest never sent",
            {
                let mut text = vec![b'a'; 512 << 10];
                text[0] = 0xff;
                let mut frame = raw_frame(0x81, &text, true);
                frame.truncate(frame.len() - (384 << 10));
                frame
            },
            1007,
            |e| matches!(violation(e), Some((V::InvalidUtf8, 1007))),
        ),
        attack(
            "invalid UTF-8 in a close reason",
            raw_frame(0x88, b"\x03\xe8bye \xff\xfe", true),
            1007,
            |e| matches!(violation(e), Some((V::InvalidUtf8, 1007))),
        ),
        attack(
            "a close frame of one byte",
            raw_frame(0x88, b"\x03", true),
            1002,
            |e| matches!(violation(e), Some((V::InvalidClosePayload, 1002))),
        ),
    ];
    for op in [0x3u8, 0x7, 0xb, 0xf] {
        attacks.push(attack(
            format!("reserved opcode {op:#x}"),
            raw_frame(0x80 | op, b"", true),
            1002,
            |e| {
                matches!(
                    violation(e),
                    Some((ProtocolViolation::ReservedOpcode(_), 1002))
                )
            },
        ));
    }
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        attacks.push(attack(
            format!("close code {code}"),
            raw_frame(0x88, &code.to_be_bytes(), true),
            1002,
            |e| {
                matches!(
                    violation(e),
                    Some((ProtocolViolation::InvalidCloseCode(_), 1002))
                )
            },
        ));
    }
    attacks
}

#[test]
fn frame_violations_get_the_right_close_code_and_the_handler_sees_them() {
    let (server, seen) = echo_server(frame_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    for (i, attack) in frame_attacks().into_iter().enumerate() {
        let what = attack.what.as_str();
        let path = format!("/attack/{i}");
        let mut raw = RawWs::connect(addr, &path);
        // A valid exchange first: the connection works until the attack.
        raw.send_frame(true, OpCode::Text, b"before").unwrap();
        let echo = raw.read_frame().unwrap();
        assert_eq!(
            (echo.opcode, echo.payload.as_slice()),
            (1, &b"before"[..]),
            "{what}"
        );
        // The server may stop reading before the end of what is sent.
        let _ = raw.send_raw(&attack.bytes);
        let sent = Instant::now();
        let close = raw.expect_close(attack.code, what);
        let answered = sent.elapsed();
        assert!(
            answered < Duration::from_secs(2),
            "{what}: answered after {answered:?}"
        );
        raw.expect_end(what);
        drop(raw);
        let error = seen.error_of(&path);
        assert!(
            (attack.handler_saw)(&error),
            "{what}: the handler saw {error:?}"
        );
        println!(
            "{what}: close {} {:?} after {answered:?}; handler saw {error}",
            attack.code,
            close.reason_text()
        );
        good.wait_progress(3, &format!("after {what}"));
    }
    good.finish();
}

/// Violations in the very bytes that follow the upgrade request, in the
/// same TCP segment (they reach the server with the head).
#[test]
fn a_violation_sent_with_the_upgrade_request_gets_its_close_code() {
    let (server, seen) = echo_server(frame_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    let cases: [(&str, Vec<u8>, u16); 3] = [
        ("an unmasked frame", raw_frame(0x81, b"early", false), 1002),
        ("invalid UTF-8", raw_frame(0x81, b"\xc0\xaf", true), 1007),
        ("a 1 GiB frame header", raw_header(0x82, 1 << 30), 1009),
    ];
    for (i, (what, bytes, code)) in cases.iter().enumerate() {
        let path = format!("/early/{i}");
        let mut raw = RawWs::connect_then(addr, &path, bytes);
        raw.expect_close(*code, what);
        raw.expect_end(what);
        drop(raw);
        let error = seen.error_of(&path);
        assert!(
            matches!(&error, Error::Protocol(v) if u16::from(v.close_code()) == *code)
                || (*code == 1009 && matches!(error, Error::Capacity(_))),
            "{what}: {error:?}"
        );
        good.wait_progress(3, &format!("after {what}"));
    }
    good.finish();
}

/// 20 attackers at once announce 1 GiB frames (limit 1 MiB) and start
/// sending the payload: each gets 1009 before the server buffers it, and
/// the memory of the process stays flat.
#[test]
fn frames_announcing_1_gib_get_1009_before_their_payload_and_memory_stays_flat() {
    let _heavy = heavy();
    let (server, seen) = echo_server(frame_config());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    good.wait_progress(10, "before the attack");
    let before = rss_bytes();
    let attackers: Vec<RawWs> = (0..20)
        .map(|i| RawWs::connect(addr, &format!("/giant/{i}")))
        .collect();
    let during = good.count();
    let sent = Instant::now();
    let mut results = Vec::new();
    let mut attackers = attackers;
    for raw in &mut attackers {
        let mut bytes = raw_header(0x82, 1 << 30);
        bytes.extend_from_slice(&[0x55; 1000]);
        let _ = raw.send_raw(&bytes);
    }
    for (i, raw) in attackers.iter_mut().enumerate() {
        let close = raw.expect_close(1009, &format!("giant {i}"));
        results.push((sent.elapsed(), close));
    }
    let answered = sent.elapsed();
    let after = rss_bytes();
    for (i, raw) in attackers.iter_mut().enumerate() {
        raw.expect_end(&format!("giant {i}"));
    }
    drop(attackers);
    for i in 0..20 {
        let error = seen.error_of(&format!("/giant/{i}"));
        assert!(
            matches!(
                error,
                Error::Capacity(CapacityError::FrameTooLong {
                    size: 0x4000_0000,
                    ..
                })
            ),
            "giant {i}: {error:?}"
        );
    }
    good.wait_progress(5, "after the attack");
    assert!(good.count() > during);
    let growth = after.saturating_sub(before);
    println!(
        "20 frames announcing 1 GiB: all answered 1009 within {answered:?}; RSS {:.1} -> {:.1} MiB (+{:.1} MiB); reason {:?}",
        mib(before),
        mib(after),
        mib(growth),
        results[0].1.reason_text()
    );
    assert!(answered < Duration::from_secs(2), "{answered:?}");
    assert!(growth < MEMORY_BOUND, "RSS grew by {:.1} MiB", mib(growth));
    good.finish();
}

/// 50 attackers announce frames just under the limit (16 MiB, the
/// default), send 64 KiB of each and stall: the server holds what arrived,
/// not what was announced.
#[test]
fn frames_announced_under_the_limit_cost_only_the_bytes_that_arrived() {
    let _heavy = heavy();
    const ATTACKERS: usize = 50;
    const ANNOUNCED: u64 = 16 << 20;
    let (server, seen) = echo_server(Config::default());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    good.wait_progress(10, "before the attack");
    let before = rss_bytes();
    let mut attackers: Vec<RawWs> = (0..ATTACKERS)
        .map(|i| RawWs::connect(addr, &format!("/stall/{i}")))
        .collect();
    let mut frame = raw_frame(0x82, &vec![0x33; 64 << 10], true);
    // The header announces 16 MiB; only 64 KiB follow.
    let header_len = 2 + 8 + 4;
    frame.splice(..header_len, raw_header(0x82, ANNOUNCED));
    for raw in &mut attackers {
        raw.send_raw(&frame).unwrap();
    }
    let during = good.count();
    // The server reads what was sent within moments; watch the memory for
    // half a second.
    let mut peak = before;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_millis(500) {
        peak = peak.max(rss_bytes());
        thread::sleep(Duration::from_millis(10));
    }
    good.wait_progress(5, "while the frames stall");
    assert!(good.count() > during);
    let growth = peak.saturating_sub(before);
    println!(
        "{ATTACKERS} frames announcing 16 MiB, 64 KiB sent: RSS +{:.1} MiB (announced {:.0} MiB in all)",
        mib(growth),
        mib(ANNOUNCED * ATTACKERS as u64)
    );
    assert!(growth < MEMORY_BOUND, "RSS grew by {:.1} MiB", mib(growth));
    drop(attackers);
    for i in 0..ATTACKERS {
        let error = seen.error_of(&format!("/stall/{i}"));
        assert!(
            matches!(&error, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "stall {i}: {error:?}"
        );
    }
    good.finish();
}

// ---------------------------------------------------------------------
// Floods
// ---------------------------------------------------------------------

/// Open `n` connections from 20 threads, all before any of them sends a
/// byte, then send an upgrade request on each. Returns how long the opening
/// took, the threads of the process once all were open, and the streams.
fn flood_upgrades(addr: SocketAddr, n: usize) -> (Duration, u64, Vec<TcpStream>) {
    const OPENERS: usize = 20;
    let started = Instant::now();
    let opened = Arc::new(std::sync::Barrier::new(OPENERS + 1));
    let openers: Vec<_> = (0..OPENERS)
        .map(|k| {
            let opened = Arc::clone(&opened);
            let share = n / OPENERS + usize::from(k < n % OPENERS);
            thread::spawn(move || {
                let streams: Vec<TcpStream> = (0..share)
                    .map(|i| {
                        let stream = TcpStream::connect(addr)
                            .unwrap_or_else(|e| panic!("connection {i} of opener {k}: {e}"));
                        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
                        stream
                    })
                    .collect();
                opened.wait();
                let request = upgrade_request(addr, "/flood");
                for mut stream in &streams {
                    stream.write_all(&request).expect("send an upgrade request");
                }
                streams
            })
        })
        .collect();
    opened.wait();
    let connected = started.elapsed();
    let threads_open = threads();
    let streams = openers
        .into_iter()
        .flat_map(|opener| opener.join().unwrap())
        .collect();
    (connected, threads_open, streams)
}

/// 2,000 connections at once (fewer if the file descriptor limit is too
/// low) against `max_connections(100)`: the excess gets 503, the 99
/// served beside the good client all work, and the good client goes on.
#[test]
fn two_thousand_connections_over_the_limit_get_503_and_the_served_keep_working() {
    let _heavy = heavy();
    const LIMIT: usize = 100;
    let wanted = 2000usize;
    // Each connection costs one descriptor here and two in the server
    // (the socket and its clone).
    let limit = fd_limit() as usize;
    let spare = limit.saturating_sub(open_fds() + 300) / 3;
    let n = wanted.min(spare);
    if n < wanted {
        println!(
            "NOTE: open files limited to {limit}: {n} connections instead of {wanted} (raise `ulimit -n` to {} for the full test)",
            wanted * 3 + 400
        );
    }
    assert!(
        n > LIMIT,
        "too few file descriptors ({limit}) for this test"
    );
    // Opening thousands of connections through a listen backlog of 128
    // takes a few seconds (SYN retransmissions): the handshake timeout must
    // not expire meanwhile.
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(Config::default().handshake_timeout(Some(Duration::from_secs(60))))
        .max_connections(LIMIT)
        .websocket(Route::any(), |mut ws: WebSocket| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    good.wait_progress(5, "before the flood");

    let started = Instant::now();
    let good_at_start = good.count();
    let threads_before = threads();
    let (connected, threads_open, streams) = flood_upgrades(addr, n);
    let requested = started.elapsed();
    let mut served = Vec::new();
    let mut refused = 0usize;
    for (i, mut stream) in streams.into_iter().enumerate() {
        match read_answer(&mut stream) {
            HttpOutcome::Status(101, _) => served.push(RawWs::from_stream(stream)),
            HttpOutcome::Status(503, _) => refused += 1,
            other => panic!("connection {i} of the flood: {other:?}"),
        }
    }
    let answered = started.elapsed();
    let good_after_flood = good.count();
    assert_eq!(served.len(), LIMIT - 1, "served beside the good client");
    assert_eq!(refused, n - (LIMIT - 1));
    assert!(
        good_after_flood > good_at_start,
        "the good client made no round trip during the flood"
    );
    // The served connections all work, at the same time.
    for (i, raw) in served.iter_mut().enumerate() {
        raw.send_frame(true, OpCode::Text, format!("served {i}").as_bytes())
            .unwrap();
    }
    for (i, raw) in served.iter_mut().enumerate() {
        let echo = raw.read_frame().unwrap();
        assert_eq!(echo.payload, format!("served {i}").as_bytes());
        raw.send_frame(true, OpCode::Close, &1000u16.to_be_bytes())
            .unwrap();
        raw.expect_close(1000, &format!("served {i}"));
    }
    drop(served);
    let total = started.elapsed();
    // Every accepted socket counts against the limit, handshakes
    // included: those over it are refused by the accepting thread, which
    // starts no thread for them. (The flood's own 20 opening threads and
    // a few of the good client's and the harness's run meanwhile.)
    assert!(
        threads_open <= threads_before + LIMIT as u64 + 30,
        "{threads_open} threads with {n} sockets open (limit {LIMIT}; {threads_before} before)"
    );
    println!(
        "flood: threads of the process {threads_before} before, {threads_open} once all {n} were open"
    );
    println!(
        "flood of {n} upgrades (limit {LIMIT}): connected in {connected:?}, requests sent by {requested:?}, \
         all answered by {answered:?} ({} served, {refused} refused with 503), done in {total:?}; \
         the good client made {} round trips during the flood",
        LIMIT - 1,
        good_after_flood - good_at_start
    );
    assert!(total < Duration::from_secs(60), "the flood took {total:?}");
    good.wait_progress(5, "after the flood");
    good.finish();
    // Once the served ones closed, places are free again.
    eventually("places freed", TIMEOUT, || server.connections().is_empty());
}

/// A raw client sends 64 KiB messages to the echo route as fast as it can
/// and never reads: the server's writes block, its reader stops, TCP
/// pushes back, and the memory of the process stays bounded.
#[test]
fn a_client_that_sends_and_never_reads_cannot_grow_server_memory() {
    let _heavy = heavy();
    const GOAL: u64 = 200 << 20;
    let (server, seen) = echo_server(Config::default());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    good.wait_progress(10, "before the attack");
    let before = rss_bytes();

    let raw = RawWs::connect(addr, "/hog");
    let frame = client_frame(true, OpCode::Binary, &vec![0xab; 64 << 10]);
    raw.stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let pushed = Arc::new(AtomicU64::new(0));
    let blocked = Arc::new(AtomicBool::new(false));
    let (pushed_w, blocked_w) = (Arc::clone(&pushed), Arc::clone(&blocked));
    let mut writer = raw.stream.try_clone().unwrap();
    let push = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while pushed_w.load(Ordering::Relaxed) < GOAL && Instant::now() < deadline {
            match writer.write_all(&frame) {
                Ok(()) => {
                    pushed_w.fetch_add(frame.len() as u64, Ordering::Relaxed);
                }
                Err(e) if is_timeout(&e) => {
                    // Blocked for half a second: TCP pushes back.
                    blocked_w.store(true, Ordering::Relaxed);
                    return;
                }
                Err(e) => panic!("the server failed the connection: {e}"),
            }
        }
    });
    let good_at_start = good.count();
    let mut peak = before;
    let started = Instant::now();
    while !push.is_finished() && started.elapsed() < Duration::from_secs(30) {
        peak = peak.max(rss_bytes());
        thread::sleep(Duration::from_millis(10));
    }
    push.join().unwrap();
    peak = peak.max(rss_bytes());
    let good_during = good.count() - good_at_start;
    let pushed = pushed.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(before);
    println!(
        "a client that never reads: pushed {:.1} MiB of {:.0} in {:?} before being blocked ({}); \
         RSS peak +{:.1} MiB; the good client made {good_during} round trips meanwhile",
        mib(pushed),
        mib(GOAL),
        started.elapsed(),
        blocked.load(Ordering::Relaxed),
        mib(growth)
    );
    assert!(blocked.load(Ordering::Relaxed), "never pushed back");
    assert!(pushed < GOAL);
    assert!(growth < MEMORY_BOUND, "RSS grew by {:.1} MiB", mib(growth));
    assert!(good_during > 0, "the good client starved");
    good.wait_progress(5, "while the hog is blocked");
    // The hog goes away: its connection ends and is forgotten.
    drop(raw);
    let error = seen.error_of("/hog");
    println!("the hog's handler ended with {error:?}");
    eventually("the hog forgotten", TIMEOUT, || {
        server.connections().iter().all(|c| c.path != "/hog")
    });
    good.finish();
}

/// A raw client sends 100,000 pings of 125 bytes and reads no pong: the
/// server answers them, then pushes back, and the memory of the process
/// stays bounded. Then the client reads: every pong is there, in order.
#[test]
fn a_ping_flood_cannot_grow_server_memory_and_every_pong_arrives() {
    let _heavy = heavy();
    const PINGS: u32 = 100_000;
    const BATCH: u32 = 1000;
    let (server, _seen) = echo_server(Config::default());
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/good"));
    good.wait_progress(10, "before the attack");
    let before = rss_bytes();

    let mut raw = RawWs::connect(addr, "/pings");
    raw.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let payload = |i: u32| -> Vec<u8> {
        let mut p = i.to_be_bytes().to_vec();
        p.resize(125, (i % 251) as u8);
        p
    };
    let pinged = Arc::new(AtomicU64::new(0));
    let pinged_w = Arc::clone(&pinged);
    let mut writer = raw.stream.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let flood = thread::spawn(move || -> io::Result<()> {
        for batch in 0..PINGS / BATCH {
            let mut bytes = Vec::with_capacity((BATCH * 131) as usize);
            for i in batch * BATCH..(batch + 1) * BATCH {
                bytes.extend(client_frame(true, OpCode::Ping, &payload(i)));
            }
            writer.write_all(&bytes)?;
            pinged_w.fetch_add(u64::from(BATCH), Ordering::Relaxed);
        }
        Ok(())
    });
    // Watch until the flood is done or has stalled for a second (the
    // server pushing back).
    let good_at_start = good.count();
    let started = Instant::now();
    let mut peak = before;
    let mut last = (0, Instant::now());
    while !flood.is_finished() && started.elapsed() < Duration::from_secs(60) {
        peak = peak.max(rss_bytes());
        let now = pinged.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(1) {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    peak = peak.max(rss_bytes());
    let stalled_at = pinged.load(Ordering::Relaxed);
    let good_during = good.count() - good_at_start;
    let growth = peak.saturating_sub(before);
    println!(
        "ping flood: {stalled_at} of {PINGS} pings sent before reading any pong ({:?}); RSS peak +{:.1} MiB; \
         the good client made {good_during} round trips meanwhile",
        started.elapsed(),
        mib(growth)
    );
    assert!(growth < MEMORY_BOUND, "RSS grew by {:.1} MiB", mib(growth));
    assert!(good_during > 0, "the good client starved");
    // Now read: every pong, in order, with its ping's payload.
    for i in 0..PINGS {
        let frame = raw.read_frame().unwrap_or_else(|e| panic!("pong {i}: {e}"));
        assert_eq!(frame.opcode, 0xa, "frame {i} is not a pong");
        assert_eq!(frame.payload, payload(i), "pong {i}");
    }
    flood.join().unwrap().expect("the flood was written");
    let took = started.elapsed();
    println!("all {PINGS} pongs read back in order after {took:?}");
    raw.send_frame(true, OpCode::Close, &1000u16.to_be_bytes())
        .unwrap();
    raw.expect_close(1000, "after the flood");
    good.wait_progress(5, "after the ping flood");
    good.finish();
}

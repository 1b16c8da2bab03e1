//! What a peer can make the server spend is bounded, and nothing it does
//! takes the process down: memory grows only with bytes that arrived, an
//! allocation that fails fails one connection (1009), a failed send ends
//! the connection in time however much the peer keeps sending.
//!
//! The memory attacks run against a server in a child process (this test
//! binary again, run with `SYNCWS_BOUNDED_CHILD` set) under an address-space
//! limit (`ulimit -v`), so that an abort, the old behaviour, would only end
//! the child; the test stops it by its pid at the end.

mod hostile_raw;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hostile_raw::{Chatter, RawWs, TIMEOUT, client_frame, eventually, raw_header, within};
use syncws::protocol::frame::OpCode;
use syncws::server::{EndReason, Route};
use syncws::{Config, KeepAlive, Server, WebSocket};

/// The environment variable that makes this binary a child server.
const CHILD: &str = "SYNCWS_BOUNDED_CHILD";

/// A server in a child process, limited to `address_space` bytes of
/// virtual memory, serving an echo route with `config`.
struct ChildServer {
    child: Child,
    addr: SocketAddr,
    /// The rest of the child's output, read on a thread of its own.
    _output: thread::JoinHandle<()>,
}

impl ChildServer {
    /// Run the test `test` of this binary as a child server of `kind`.
    fn start(test: &str, kind: &str, address_space: u64) -> ChildServer {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v {} && exec \"$0\" \"$@\"",
                address_space >> 10
            ))
            .arg(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, kind)
            // glibc gives threads arenas of 64 MiB of address space, up to
            // 8 per core: two keep the address space a measure of buffers.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child server");
        let stdout = child.stdout.take().unwrap();
        let (addr_tx, addr_rx) = mpsc::channel();
        let output = thread::spawn(move || relay(stdout, &addr_tx));
        let addr = addr_rx
            .recv_timeout(TIMEOUT)
            .expect("the child server says where it listens");
        ChildServer {
            child,
            addr,
            _output: output,
        }
    }

    /// The child's threads, descriptors and memory now.
    fn usage(&self) -> Usage {
        Usage::of(self.child.id())
    }

    /// Wait until the child is back to `before`'s threads and descriptors,
    /// and to within `slack` bytes of its resident memory; panic with what
    /// it holds otherwise.
    fn wait_back_to(&self, before: Usage, slack: u64) -> Usage {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let now = self.usage();
            if now.threads <= before.threads
                && now.fds <= before.fds
                && now.rss <= before.rss + slack
            {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "the child holds {now:?} after the attack, {before:?} before"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the child still runs.
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Close the child's standard input, which ends it, and check that it
    /// ended of its own accord; kill it by its pid if it does not.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        while self.alive() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the child server did not end when told");
            }
            thread::sleep(Duration::from_millis(10));
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child server ended with {status}");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a process holds, from `/proc`.
#[derive(Debug, Clone, Copy)]
struct Usage {
    threads: u64,
    fds: u64,
    /// Resident memory, bytes.
    rss: u64,
    /// Address space, bytes.
    address_space: u64,
    /// The most resident memory the process ever had, bytes (read by the
    /// deflate bomb's test).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    peak_rss: u64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"));
            line.split_whitespace().next().unwrap().parse().unwrap()
        };
        Usage {
            threads: field("Threads:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .count() as u64,
            rss: field("VmRSS:") << 10,
            address_space: field("VmSize:") << 10,
            peak_rss: field("VmHWM:") << 10,
        }
    }
}

/// Pass the child's output on, picking out the line that gives its address.
fn relay(stdout: ChildStdout, addr: &mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        // The test harness may have printed the test's name on the line.
        match line.split_once("listening ") {
            Some((_, at)) => {
                let _ = addr.send(at.trim().parse().unwrap());
            }
            None => println!("child: {line}"),
        }
    }
}

/// In the child: serve an echo route until the standard input closes.
/// Returns false when this process is not a child.
fn serve_if_child(config: Config) -> bool {
    if std::env::var_os(CHILD).is_none() {
        return false;
    }
    // No thread waits for a next connection, so that the threads come
    // back to their count before the attack.
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(config)
        .idle_threads(0, Duration::ZERO)
        .websocket("/echo", hostile_raw::echo)
        .serve()
        .unwrap();
    println!("listening {}", server.local_addr());
    std::io::stdout().flush().unwrap();
    let mut sink = [0u8; 64];
    while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    server.stop();
    true
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// Frame headers that announce 16 MiB each and send nothing more cost
/// the server nothing like 16 MiB each: buffers grow with bytes that
/// arrived. 400 of them under a 2 GiB address-space limit (the old
/// receiver reserved 6.4 GiB for them, and the process aborted).
#[test]
fn frames_announced_and_never_sent_cost_no_memory() {
    const ATTACKERS: usize = 400;
    if serve_if_child(Config::default()) {
        return;
    }
    let mut child = ChildServer::start(
        "frames_announced_and_never_sent_cost_no_memory",
        "announced",
        2 << 30,
    );
    let good = Chatter::start(&url(child.addr, "/echo"));
    good.wait_progress(3, "before the attack");
    let before = child.usage();
    let header = raw_header(0x82, 16 << 20);
    let attackers: Vec<RawWs> = (0..ATTACKERS)
        .map(|_| RawWs::connect_then(child.addr, "/echo", &header))
        .collect();
    // The headers arrived (a connection answered its 101 after them).
    good.wait_progress(10, "with 400 frames announced");
    assert!(child.alive(), "the server process died");
    let during = child.usage();
    // Each connection's thread reserves its stack (256 KiB) and its
    // buffers hold what arrived, about nothing: far from 400 × 16 MiB.
    let grew = during.address_space.saturating_sub(before.address_space);
    assert!(
        grew < ATTACKERS as u64 * (1 << 20),
        "the address space grew by {} MiB for {ATTACKERS} announced frames",
        grew >> 20
    );
    drop(attackers);
    good.wait_progress(3, "after the attack");
    let after = child.wait_back_to(before, 16 << 20);
    println!(
        "{ATTACKERS} frames of 16 MiB announced: before {before:?}, during {during:?}, after {after:?}"
    );
    good.finish();
    child.stop();
}

/// A message that cannot be allocated fails its own connection with 1009;
/// the process and the other connections go on. The server allows 4 GiB
/// messages but runs under a 1 GiB address-space limit; the attacker sends
/// one in 8 MiB fragments and reads nothing.
#[test]
fn a_message_that_cannot_be_allocated_fails_only_its_connection() {
    const FRAGMENT: usize = 8 << 20;
    let config = Config::default()
        .max_message_size(4 << 30)
        .max_frame_size(FRAGMENT);
    if serve_if_child(config) {
        return;
    }
    let mut child = ChildServer::start(
        "a_message_that_cannot_be_allocated_fails_only_its_connection",
        "oom",
        1 << 30,
    );
    let good = Chatter::start(&url(child.addr, "/echo"));
    good.wait_progress(3, "before the attack");
    let before = child.usage();
    let sent = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&sent);
    let addr = child.addr;
    // The attacker writes until the server fails its connection; its
    // writes then fail (the server closed), or stop at 4 GiB.
    let attack = thread::spawn(move || {
        let mut raw = RawWs::connect(addr, "/echo");
        let fragment = vec![0x17u8; FRAGMENT];
        let first = client_frame(false, OpCode::Binary, &fragment);
        let next = client_frame(false, OpCode::Continuation, &fragment);
        for i in 0..(4usize << 30) / FRAGMENT {
            let frame = if i == 0 { &first } else { &next };
            if raw.send_raw(frame).is_err() {
                break;
            }
            counted.fetch_add(FRAGMENT as u64, Ordering::Relaxed);
        }
        raw
    });
    let mut raw = within("the attack", Duration::from_secs(60), move || {
        attack.join().unwrap()
    });
    let close = raw.expect_close(1009, "a message the server cannot hold");
    let sent = sent.load(Ordering::Relaxed);
    assert!(
        sent < 1 << 30,
        "{} MiB sent before the server gave up",
        sent >> 20
    );
    println!(
        "the server failed the connection with 1009 ({:?}) after {} MiB",
        close.reason_text(),
        sent >> 20
    );
    assert!(child.alive(), "the server process died");
    good.wait_progress(5, "after the attack");
    // The failed message's memory went back (what is left is the
    // allocator's to keep).
    drop(raw);
    let after = child.wait_back_to(before, 64 << 20);
    println!("before the attack {before:?}, after it {after:?}");
    good.finish();
    child.stop();
}

/// A peer that keeps sending but never reads: once the server's send
/// fails (the keep-alive write timeout), the connection ends within the
/// close timeout, however much the peer keeps sending, and its thread
/// and slot are released.
#[test]
fn a_failed_send_ends_the_connection_in_time_while_the_peer_keeps_sending() {
    let keep_alive = KeepAlive::new(Duration::from_millis(200), Duration::from_millis(300));
    let close_timeout = Duration::from_millis(500);
    let (failed_tx, failed_rx) = mpsc::channel();
    let (ended_tx, ended_rx) = mpsc::channel();
    let firehose = Route::exact("/firehose").after_close(move |end| {
        let _ = ended_tx.send(end.reason.clone());
    });
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(Config::default().close_timeout(close_timeout))
        .keep_alive(keep_alive)
        .websocket("/echo", hostile_raw::echo)
        .websocket(firehose, move |ws: WebSocket| {
            let chunk = vec![0x42u8; 64 << 10];
            for _ in 0..100_000 {
                if let Err(e) = ws.send_binary(&chunk) {
                    let _ = failed_tx.send((Instant::now(), e));
                    return;
                }
            }
        })
        .serve()
        .unwrap();
    let good = Chatter::start(&url(server.local_addr(), "/echo"));
    good.wait_progress(3, "before the attack");
    let mut raw = RawWs::connect(server.local_addr(), "/firehose");
    // The peer sends pings without end and reads nothing.
    raw.stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let ping = client_frame(true, OpCode::Ping, b"still here");
    let sender = thread::spawn(move || {
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(20) {
            match raw.send_raw(&ping) {
                Ok(()) => sent += ping.len() as u64,
                Err(e) if hostile_raw::is_timeout(&e) => {}
                Err(_) => break,
            }
        }
        (started.elapsed(), sent)
    });
    good.wait_progress(3, "during the attack");
    let (failed_at, error) = failed_rx
        .recv_timeout(TIMEOUT)
        .expect("the server's send fails");
    eventually("the connection is forgotten", TIMEOUT, || {
        server.connections().len() == 1
    });
    let forgotten_after = failed_at.elapsed();
    // The after-close hook is told the connection failed, not that the
    // handler ended it.
    match ended_rx
        .recv_timeout(TIMEOUT)
        .expect("the after-close hook runs")
    {
        EndReason::Failed(why) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("the after-close hook was told {other:?}"),
    }
    assert!(
        forgotten_after < close_timeout + Duration::from_secs(2),
        "the connection lasted {forgotten_after:?} after its send failed ({error})"
    );
    let (sending_for, sent) = sender.join().unwrap();
    assert!(
        sending_for < Duration::from_secs(20),
        "the peer could keep sending for {sending_for:?}"
    );
    good.wait_progress(3, "after the attack");
    let rounds = good.finish();
    println!(
        "the good client made {rounds} round trips; \
         the send failed with {error}; the connection was forgotten {forgotten_after:?} later; \
         the peer sent {} KiB of pings in {sending_for:?} before its writes failed",
        sent >> 10
    );
}

/// With a server-wide budget for messages being received, the connection
/// whose unfinished message would pass it is failed with 1009, and only
/// that one: the others keep theirs, finish them, and what a finished
/// message held goes back to the budget.
#[test]
fn a_message_budget_fails_the_connection_that_would_pass_it_and_only_that_one() {
    const PART: usize = 1 << 20;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(Config::default().max_message_size(64 << 20))
        .message_budget(10 << 20)
        .websocket("/echo", hostile_raw::echo)
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let good = Chatter::start(&url(addr, "/echo"));
    // Three fragments of an unfinished message of 1 MiB each, then a ping
    // whose pong says the server has taken them in (control frames may
    // come between fragments).
    let start_message = |raw: &mut RawWs| -> Result<(), u16> {
        let part = vec![0x61u8; PART];
        for i in 0..3 {
            let opcode = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            let _ = raw.send_frame(false, opcode, &part);
        }
        let _ = raw.send_frame(true, OpCode::Ping, b"taken?");
        match raw.read_frame() {
            Ok(frame) if frame.opcode == 0xa => Ok(()),
            Ok(frame) if frame.opcode == 0x8 => {
                Err(u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
            }
            other => panic!("{other:?}"),
        }
    };
    let mut first = RawWs::connect(addr, "/echo");
    let mut second = RawWs::connect(addr, "/echo");
    let mut third = RawWs::connect(addr, "/echo");
    assert_eq!(start_message(&mut first), Ok(()));
    assert_eq!(start_message(&mut second), Ok(()));
    // 3 MiB each, and buffers that double: the third would pass 10 MiB.
    assert_eq!(start_message(&mut third), Err(1009));
    good.wait_progress(3, "with the budget used up");
    // The first finishes its message and gets it back whole.
    first
        .send_frame(true, OpCode::Continuation, b"end")
        .unwrap();
    let echo = first.read_frame().unwrap();
    assert_eq!(echo.payload.len(), 3 * PART + 3);
    // What it held went back: a new one can start a message as large.
    let mut fourth = RawWs::connect(addr, "/echo");
    assert_eq!(start_message(&mut fourth), Ok(()));
    // The second still holds its own, and finishes it.
    second
        .send_frame(true, OpCode::Continuation, b"end")
        .unwrap();
    assert_eq!(second.read_frame().unwrap().payload.len(), 3 * PART + 3);
    good.wait_progress(3, "after");
    good.finish();
}

/// A deflate bomb: `copies` MiB of zeros in about `copies` KiB, one
/// permessage-deflate payload (RFC 7692 §7.2.1, tail removed). zlib
/// compresses 1 MiB of zeros to about 1 KiB; that block, sync-flushed (so
/// it ends byte-aligned) and repeated, is a valid deflate stream, each copy
/// inflating to the next MiB of zeros.
#[cfg(feature = "deflate")]
fn deflate_bomb(copies: usize) -> Vec<u8> {
    use syncws::protocol::deflate::{Compressor, Settings};
    const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
    let mut block = Vec::new();
    Compressor::new(Settings::default())
        .compress(&vec![0u8; 1 << 20], &mut block)
        .unwrap();
    block.extend_from_slice(&TAIL);
    let mut bomb = block.repeat(copies);
    bomb.truncate(bomb.len() - TAIL.len());
    bomb
}

/// A decompression bomb (RFC 7692 §8: "an attacker may try to send a small
/// compressed message that expands to a huge message"): one frame of about
/// 1 MiB that would inflate to 1 GiB, to a server whose messages may be
/// 16 MiB. The server answers 1009 having grown by less than 3 times the
/// limit at its peak (it inflates as the output grows, never to the end),
/// and another client is served before, during and after.
#[cfg(feature = "deflate")]
#[test]
fn a_deflate_bomb_is_answered_1009_before_memory_passes_the_limit() {
    use hostile_raw::raw_frame;
    use syncws::protocol::deflate::{Decompressor, Settings};
    const LIMIT: usize = 16 << 20;
    const COPIES: usize = 1024;
    let config = Config::default()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT);
    if serve_if_child(config) {
        return;
    }
    let bomb = deflate_bomb(COPIES);
    // What it is: its first 3 copies inflate to 3 MiB.
    let copy = bomb.len().div_ceil(COPIES);
    let three = Decompressor::new(Settings::default(), 4 << 20)
        .decompress(&bomb[..3 * copy - 4], true)
        .unwrap()
        .unwrap();
    assert!(three.len() == 3 << 20 && three.iter().all(|&b| b == 0));

    let mut child = ChildServer::start(
        "a_deflate_bomb_is_answered_1009_before_memory_passes_the_limit",
        "bomb",
        2 << 30,
    );
    let good = Chatter::start(&url(child.addr, "/echo"));
    good.wait_progress(3, "before the bomb");
    let before = child.usage();
    let (mut attacker, answer) = RawWs::connect_offering(child.addr, "/echo", "permessage-deflate");
    assert!(
        answer.is_some_and(|a| a.starts_with("permessage-deflate")),
        "deflate agreed"
    );
    let frame = raw_frame(0x80 | 0x40 | 0x02, &bomb, true);
    // The server may answer before it has read the whole frame.
    let _ = attacker.send_raw(&frame);
    let close = attacker.expect_close(1009, "the bomb");
    good.wait_progress(3, "after the bomb");
    assert!(child.alive(), "the server process died");
    let after = child.usage();
    let grew = after.peak_rss.saturating_sub(before.rss);
    println!(
        "deflate bomb: {} KiB compressed, {COPIES} MiB inflated; 1009 ({:?}); \
         resident {} MiB before, peak {} MiB after (+{} MiB, limit {} MiB)",
        bomb.len() >> 10,
        close.reason_text(),
        before.rss >> 20,
        after.peak_rss >> 20,
        grew >> 20,
        LIMIT >> 20
    );
    assert!(
        grew < 3 * LIMIT as u64,
        "the server's peak resident memory grew by {} MiB for a {} MiB limit",
        grew >> 20,
        LIMIT >> 20
    );
    drop(attacker);
    good.finish();
    child.stop();
}

//! The workloads: each runs the same load against several servers, in
//! rounds that alternate between the servers (so that a change in the
//! machine's load hits all of them alike), and returns each round's
//! figures.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::procfs::{self, Cpu};
use crate::servers::{Kind, Server, Tls};
use crate::wire::{self, Big, Conn, In, Out, Proto, Res, payload};
use crate::zwire::{self, ZIn};

/// One round's figures, by metric key.
pub type Figures = BTreeMap<&'static str, f64>;

/// What one workload measured.
#[derive(Default)]
pub struct Outcome {
    /// Each server's rounds, in order.
    pub rounds: BTreeMap<Kind, Vec<Figures>>,
    /// Servers that failed, and why (a wrong byte, a refused connection…).
    pub errors: BTreeMap<Kind, String>,
    /// Things the reader should know about this run of the workload.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn fail(&mut self, kind: Kind, error: String) {
        eprintln!("  {}: FAILED: {error}", kind.label());
        self.errors.entry(kind).or_insert(error);
    }
}

/// How long and how often.
#[derive(Debug, Clone)]
pub struct Params {
    pub rounds: usize,
    pub secs: f64,
    pub warmup_secs: f64,
    pub idle_conns: usize,
    pub wss_idle_conns: usize,
    pub idle_rounds: usize,
    pub pingpong_conns: usize,
    pub big_size: usize,
    pub pipeline_conns: usize,
    pub pipeline_window: usize,
    pub pipeline_size: usize,
    pub connect_threads: usize,
    pub broadcast_subs: usize,
    pub broadcast_msgs: usize,
    pub broadcast_window: usize,
    pub broadcast_rounds: usize,
}

impl Params {
    pub fn full() -> Params {
        Params {
            rounds: 9,
            secs: 1.5,
            warmup_secs: 0.5,
            idle_conns: 10_000,
            // Each needs a TLS handshake from the one client thread.
            wss_idle_conns: 2_000,
            idle_rounds: 3,
            pingpong_conns: 64,
            big_size: 16 << 20,
            pipeline_conns: 4,
            pipeline_window: 64,
            pipeline_size: 1024,
            connect_threads: 4,
            broadcast_subs: 1000,
            broadcast_msgs: 1000,
            broadcast_window: 8,
            broadcast_rounds: 3,
        }
    }

    pub fn quick() -> Params {
        Params {
            rounds: 3,
            secs: 0.4,
            warmup_secs: 0.2,
            idle_conns: 1000,
            wss_idle_conns: 200,
            idle_rounds: 1,
            broadcast_msgs: 200,
            ..Params::full()
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// CPU figures per unit of work, in microseconds (or `scale` units of a
/// second).
/// `total` units done in `elapsed` seconds: the rate, and the server's CPU
/// microseconds per unit (user, system, both).
fn rate_and_cpu(total: u64, elapsed: f64, cpu: Cpu) -> Figures {
    let mut f = Figures::new();
    f.insert("per_s", total as f64 / elapsed);
    cpu_figures(
        &mut f,
        cpu,
        total as f64,
        ["cpu_user", "cpu_sys", "cpu"],
        1e6,
    );
    f
}

pub fn cpu_figures(f: &mut Figures, cpu: Cpu, units: f64, prefix: [&'static str; 3], scale: f64) {
    let units = units.max(1.0);
    f.insert(prefix[0], cpu.user.as_secs_f64() * scale / units);
    f.insert(prefix[1], cpu.system.as_secs_f64() * scale / units);
    f.insert(prefix[2], cpu.total().as_secs_f64() * scale / units);
}

/// Run `rounds` rounds alternating over `states`, after one warm-up round
/// each; a server that fails is left out of later rounds.
pub fn alternate<S>(
    outcome: &mut Outcome,
    states: &mut [(Kind, S)],
    rounds: usize,
    mut round: impl FnMut(&mut S, bool) -> Res<Figures>,
) {
    for (kind, state) in states.iter_mut() {
        if let Err(e) = round(state, true) {
            outcome.fail(*kind, e);
        }
    }
    let n = states.len();
    for r in 0..rounds {
        // Each round starts with the next server, so that none always runs
        // right after the same other one (a server's rounds then see the
        // same mix of what came before as the others').
        for i in 0..n {
            let (kind, state) = &mut states[(r + i) % n];
            if outcome.errors.contains_key(kind) {
                continue;
            }
            match round(state, false) {
                Ok(figures) => {
                    eprintln!("  round {} {:<12} {}", r + 1, kind.label(), brief(&figures));
                    outcome.rounds.entry(*kind).or_default().push(figures);
                }
                Err(e) => outcome.fail(*kind, e),
            }
        }
    }
}

pub fn brief(f: &Figures) -> String {
    f.iter()
        .map(|(k, v)| format!("{k}={}", crate::report::num(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Start each server, and set up its state with `setup`.
pub fn start_all<S>(
    outcome: &mut Outcome,
    kinds: &[Kind],
    tls: Option<&Tls>,
    pin: Option<usize>,
    mut setup: impl FnMut(Server) -> Res<S>,
) -> Vec<(Kind, S)> {
    let mut states = Vec::new();
    for &kind in kinds {
        match Server::start(kind, tls, pin).and_then(&mut setup) {
            Ok(state) => states.push((kind, state)),
            Err(e) => outcome.fail(kind, e),
        }
    }
    states
}

// ---------------------------------------------------------------------------
// Idle connections

/// Open `n` connections (each echoes one 32-byte message, then idles) to a
/// fresh server, and divide the growth of its resident memory by `n`.
pub fn idle(p: &Params, kinds: &[Kind], conns: usize, tls: Option<&Tls>) -> Outcome {
    let mut outcome = Outcome::default();
    // Every server, and this client, holds one descriptor per connection
    // (a syncws connection's reader and writer share one socket); each is a
    // process of its own with this limit.
    let want = (conns + 1000).max(65536) as u64;
    let limit = procfs::raise_open_files(want).unwrap_or(1024);
    let n = conns.min(limit.saturating_sub(200) as usize);
    if n < conns {
        let note = format!(
            "only {n} idle connections, not {}: the open-file limit is {limit} and each \
             connection needs one descriptor in the server and one in the client; run under \
             `ulimit -n {want}` (the suite tried to raise it with prlimit and could not)",
            conns
        );
        eprintln!("  NOTE: {note}");
        outcome.notes.push(note);
    }
    for r in 0..p.idle_rounds {
        // Each round starts with the next server, as in `alternate`.
        for i in 0..kinds.len() {
            let kind = kinds[(r + i) % kinds.len()];
            if outcome.errors.contains_key(&kind) {
                continue;
            }
            match idle_round(kind, n, tls) {
                Ok(figures) => {
                    eprintln!("  round {} {:<12} {}", r + 1, kind.label(), brief(&figures));
                    outcome.rounds.entry(kind).or_default().push(figures);
                }
                Err(e) => outcome.fail(kind, e),
            }
        }
    }
    outcome
}

fn idle_round(kind: Kind, n: usize, tls: Option<&Tls>) -> Res<Figures> {
    let server = Server::start(kind, tls, None)?;
    let mut message = [0u8; 32];
    // One connection first, so that what the first one costs once (the
    // allocator's arenas, lazy statics) is not counted per connection.
    {
        let mut conn = server.connect("/", 256)?;
        payload(&mut message, u32::MAX, 0);
        conn.echo(&message)?;
        conn.close()?;
    }
    thread::sleep(Duration::from_millis(300));
    let before = server.rss()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut conn = server
            .connect("/", 256)
            .map_err(|e| format!("connection {i}: {e}"))?;
        payload(&mut message, i as u32, 1);
        conn.echo(&message)
            .map_err(|e| format!("connection {i}: {e}"))?;
        conns.push(conn);
    }
    // Let the server settle, then take the larger of two readings.
    thread::sleep(Duration::from_millis(700));
    let after = server.rss()?.max({
        thread::sleep(Duration::from_millis(300));
        server.rss()?
    });
    let threads = server.threads()?;
    if (threads as usize) < n {
        return Err(format!(
            "{n} connections open but the server has only {threads} threads"
        ));
    }
    // A last check that the connections still work.
    for (i, conn) in conns.iter_mut().enumerate().step_by((n / 16).max(1)) {
        payload(&mut message, i as u32, 2);
        conn.echo(&message)
            .map_err(|e| format!("connection {i} after idling: {e}"))?;
    }
    drop(conns);
    let mut f = Figures::new();
    f.insert(
        "kib_per_conn",
        after.saturating_sub(before) as f64 / n as f64 / 1024.0,
    );
    f.insert("conns", n as f64);
    f.insert("rss_mib", after as f64 / (1 << 20) as f64);
    Ok(f)
}

// ---------------------------------------------------------------------------
// Ping-pong

struct Echoers {
    server: Server,
    conns: Vec<Conn>,
}

/// Ping-pong workloads run this many times more rounds, each this many
/// times shorter (a full run: 135 rounds of 0.1 s per server).
pub const PINGPONG_ROUND_SPLIT: usize = 15;

/// `conns` connections, each sending `size`-byte messages one at a time and
/// checking each echo, for a fixed time per round. With `pin`, the servers
/// and every client thread run on that one CPU.
pub fn pingpong(
    p: &Params,
    kinds: &[Kind],
    conns: usize,
    size: usize,
    tls: Option<&Tls>,
    pin: Option<usize>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut states = start_all(&mut outcome, kinds, tls, pin, |server| {
        let conns = (0..conns)
            .map(|_| server.connect("/", 4096))
            .collect::<Res<Vec<_>>>()?;
        Ok(Echoers { server, conns })
    });
    if pin.is_some() {
        outcome.notes.push(format!(
            "servers started under `taskset -c {0}`, the client thread pinned with `taskset -p -c {0} TID`",
            pin.unwrap_or(0)
        ));
    }
    // Ping-pong figures move by +-10% from one round to the next here, with
    // the machine's state more than with the server: many short rounds give
    // more pairs run close together, and a steadier median of their ratios,
    // in the same time. (Rounds of 0.5 s gave 95% intervals about 0.13 wide
    // for the CPU ratio, rounds of 0.1 s about 0.05; the server's CPU time
    // is read to the nanosecond, see `procfs::cpu`.)
    let rounds = p.rounds * PINGPONG_ROUND_SPLIT;
    let round_secs = p.secs / PINGPONG_ROUND_SPLIT as f64;
    alternate(&mut outcome, &mut states, rounds, |st, warmup| {
        let duration = Duration::from_secs_f64(if warmup { p.warmup_secs } else { round_secs });
        let barrier = Barrier::new(st.conns.len() + 1);
        let (cpu0, t0, results, t1) = thread::scope(|s| {
            let handles: Vec<_> = st
                .conns
                .iter_mut()
                .enumerate()
                .map(|(i, conn)| {
                    let barrier = &barrier;
                    s.spawn(move || -> Res<u64> {
                        let pinned = match pin {
                            Some(cpu) => procfs::thread_id()
                                .ok_or_else(|| "no thread id".to_string())
                                .and_then(|tid| procfs::pin(tid, cpu, false)),
                            None => Ok(()),
                        };
                        barrier.wait();
                        pinned?;
                        let deadline = Instant::now() + duration;
                        let mut message = vec![0u8; size];
                        let mut count = 0u64;
                        while count < 100_000_000 {
                            payload(&mut message, i as u32, count);
                            conn.echo(&message)?;
                            count += 1;
                            if Instant::now() >= deadline {
                                break;
                            }
                        }
                        Ok(count)
                    })
                })
                .collect();
            let cpu0 = st.server.cpu();
            barrier.wait();
            let t0 = Instant::now();
            let results: Vec<Res<u64>> = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("client thread panicked".into()))
                })
                .collect();
            (cpu0, t0, results, Instant::now())
        });
        let cpu = st.server.cpu()?.since(cpu0?);
        let mut total = 0;
        for r in results {
            total += r?;
        }
        let elapsed = secs(t1 - t0);
        Ok(rate_and_cpu(total, elapsed, cpu))
    });
    outcome
}

// ---------------------------------------------------------------------------
// Large messages

struct BigEcho {
    server: Server,
    conn: Conn,
    big: Big,
    seq: u64,
}

/// One connection echoing `size`-byte binary messages one after another.
pub fn big_echo(p: &Params, kinds: &[Kind], tls: Option<&Tls>) -> Outcome {
    let mut outcome = Outcome::default();
    let size = p.big_size;
    let mut states = start_all(&mut outcome, kinds, tls, None, |server| {
        let conn = server.connect("/", 256 << 10)?;
        let big = Big::new(server.kind.proto(), 7, size);
        Ok(BigEcho {
            server,
            conn,
            big,
            seq: 0,
        })
    });
    alternate(&mut outcome, &mut states, p.rounds, |st, warmup| {
        let duration = Duration::from_secs_f64(if warmup { p.warmup_secs } else { p.secs });
        let cpu0 = st.server.cpu()?;
        let t0 = Instant::now();
        let mut count = 0u64;
        while count < 100_000 {
            st.seq += 1;
            st.big.set_seq(st.seq);
            st.conn.echo_big(&st.big)?;
            count += 1;
            if t0.elapsed() >= duration {
                break;
            }
        }
        let elapsed = secs(t0.elapsed());
        let cpu = st.server.cpu()?.since(cpu0);
        let bytes = count as f64 * size as f64;
        let mut f = Figures::new();
        f.insert("mb_per_s", bytes / elapsed / 1e6);
        cpu_figures(
            &mut f,
            cpu,
            bytes / (1 << 20) as f64,
            ["cpu_user", "cpu_sys", "cpu"],
            1e3,
        );
        Ok(f)
    });
    outcome
}

// ---------------------------------------------------------------------------
// Pipelined messages

struct Split {
    write: TcpStream,
    read: TcpStream,
    out: Out,
    inp: In,
    seq: u64,
}

struct Pipelined {
    server: Server,
    conns: Vec<Split>,
}

fn open_split(server: &Server) -> Res<Split> {
    let mut write = wire::tcp(server.addr)?;
    write
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let leftover = match server.kind.proto() {
        Proto::Ws => wire::handshake(&mut write, &server.addr.to_string(), "/")?,
        Proto::Raw => Vec::new(),
    };
    let read = write.try_clone().map_err(|e| e.to_string())?;
    Ok(Split {
        write,
        read,
        out: Out::new(server.kind.proto()),
        inp: In::new(server.kind.proto(), 64 << 10, &leftover),
        seq: 0,
    })
}

/// `conns` connections, each with `window` messages of `size` bytes in
/// flight: a writing thread sends whenever the reading thread has checked
/// an echo (credits come back four at a time), batching what it can into
/// one write.
pub fn pipeline(p: &Params, kinds: &[Kind]) -> Outcome {
    let mut outcome = Outcome::default();
    let (window, size) = (p.pipeline_window as u64, p.pipeline_size);
    let mut states = start_all(&mut outcome, kinds, None, None, |server| {
        let conns = (0..p.pipeline_conns)
            .map(|_| open_split(&server))
            .collect::<Res<Vec<_>>>()?;
        Ok(Pipelined { server, conns })
    });
    alternate(&mut outcome, &mut states, p.rounds, |st, warmup| {
        let duration = Duration::from_secs_f64(if warmup { p.warmup_secs } else { p.secs });
        let cpu0 = st.server.cpu()?;
        let t0 = Instant::now();
        let deadline = t0 + duration;
        let results: Vec<Res<u64>> = thread::scope(|s| {
            let handles: Vec<_> = st
                .conns
                .iter_mut()
                .enumerate()
                .map(|(i, c)| {
                    let Split {
                        write,
                        read,
                        out,
                        inp,
                        seq,
                    } = c;
                    let first = *seq;
                    let sent = AtomicU64::new(0);
                    let done = AtomicBool::new(false);
                    let (credit_tx, credit_rx) = mpsc::channel::<u64>();
                    s.spawn(move || -> Res<u64> {
                        let (sent, done) = (&sent, &done);
                        let reader_thread = thread::current();
                        thread::scope(|s2| {
                            let writer = s2.spawn(move || -> Res<()> {
                                let mut message = vec![0u8; size];
                                let mut credits = window;
                                let mut n = 0u64;
                                let result = (|| {
                                    while Instant::now() < deadline && n < 100_000_000 {
                                        for _ in 0..credits {
                                            payload(&mut message, i as u32, first + n);
                                            out.push(&message);
                                            n += 1;
                                        }
                                        sent.store(n, Ordering::Release);
                                        reader_thread.unpark();
                                        out.flush(write)?;
                                        credits = credit_rx
                                            .recv_timeout(Duration::from_secs(30))
                                            .map_err(|_| "no echo for 30 s".to_string())?;
                                        credits += credit_rx.try_iter().sum::<u64>();
                                    }
                                    Ok(())
                                })();
                                done.store(true, Ordering::Release);
                                reader_thread.unpark();
                                result
                            });
                            let mut expected = vec![0u8; size];
                            let mut got = 0u64;
                            let mut owed = 0;
                            let read_result: Res<u64> = (|| loop {
                                let target = sent.load(Ordering::Acquire);
                                if got < target {
                                    payload(&mut expected, i as u32, first + got);
                                    inp.expect(read, &expected)?;
                                    got += 1;
                                    owed += 1;
                                    if owed == 4 || got == target {
                                        let _ = credit_tx.send(owed);
                                        owed = 0;
                                    }
                                } else if done.load(Ordering::Acquire)
                                    && got == sent.load(Ordering::Acquire)
                                {
                                    return Ok(got);
                                } else {
                                    // All echoed: wait for the writer.
                                    thread::park_timeout(Duration::from_millis(10));
                                }
                            })();
                            if read_result.is_err() {
                                // Unblock the writer.
                                let _ = read.shutdown(std::net::Shutdown::Both);
                            }
                            drop(credit_tx);
                            let written = writer
                                .join()
                                .unwrap_or_else(|_| Err("writer panicked".into()));
                            let got = read_result?;
                            written?;
                            *seq = first + got;
                            Ok(got)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("client thread panicked".into()))
                })
                .collect()
        });
        let elapsed = secs(t0.elapsed());
        let cpu = st.server.cpu()?.since(cpu0);
        let mut total = 0;
        for r in results {
            total += r?;
        }
        Ok(rate_and_cpu(total, elapsed, cpu))
    });
    outcome
}

// ---------------------------------------------------------------------------
// Connect, one message, close

/// `threads` client threads, each in a loop: connect, handshake, echo one
/// 32-byte message, close (the close handshake, then the server closes the
/// TCP connection).
pub fn connect(p: &Params, kinds: &[Kind], tls: Option<&Tls>) -> Outcome {
    let mut outcome = Outcome::default();
    let mut states = start_all(&mut outcome, kinds, tls, None, Ok);
    alternate(&mut outcome, &mut states, p.rounds, |server, warmup| {
        let duration = Duration::from_secs_f64(if warmup { p.warmup_secs } else { p.secs });
        let cpu0 = server.cpu()?;
        let t0 = Instant::now();
        let results: Vec<Res<u64>> = thread::scope(|s| {
            let handles: Vec<_> = (0..p.connect_threads)
                .map(|i| {
                    let server = &*server;
                    s.spawn(move || -> Res<u64> {
                        let mut message = [0u8; 32];
                        let mut count = 0u64;
                        while t0.elapsed() < duration && count < 10_000_000 {
                            let mut conn = server.connect("/", 256)?;
                            payload(&mut message, i as u32, count);
                            conn.echo(&message)?;
                            conn.close()?;
                            count += 1;
                        }
                        Ok(count)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("client thread panicked".into()))
                })
                .collect()
        });
        let elapsed = secs(t0.elapsed());
        let mut total = 0;
        for r in results {
            total += r?;
        }
        // The server's threads end shortly after the client sees the close:
        // give the last ones a moment before reading its CPU time.
        thread::sleep(Duration::from_millis(50));
        let cpu = server.cpu()?.since(cpu0);
        Ok(rate_and_cpu(total, elapsed, cpu))
    });
    outcome
}

// ---------------------------------------------------------------------------
// Broadcast

/// What a subscriber reads with: the plain client, or the one that offers
/// permessage-deflate and inflates (and counts the bytes it reads).
enum Inbox {
    Plain(In),
    Zipped(Box<ZIn>),
}

impl Inbox {
    fn fill_nonblocking(&mut self, r: &mut impl std::io::Read) -> Res<bool> {
        match self {
            Inbox::Plain(inp) => inp.fill_nonblocking(r),
            Inbox::Zipped(inp) => inp.fill_nonblocking(r),
        }
    }

    /// The next whole message buffered; a zipped inbox whose server agreed
    /// to deflate (`compressed`) takes only compressed ones.
    fn next_buffered(&mut self, compressed: bool) -> Res<Option<&[u8]>> {
        match self {
            Inbox::Plain(inp) => inp.next_buffered(),
            Inbox::Zipped(inp) => match inp.next_buffered()? {
                Some(m) if m.compressed != compressed => Err(format!(
                    "a message came {}compressed",
                    if m.compressed { "" } else { "un" }
                )),
                Some(m) => Ok(Some(m.data)),
                None => Ok(None),
            },
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Inbox::Plain(_) => 0,
            Inbox::Zipped(inp) => inp.read,
        }
    }
}

struct Subscriber {
    stream: mio::net::TcpStream,
    inp: Inbox,
    /// The server agreed to compress.
    compressed: bool,
    next: u64,
    warm: bool,
}

struct Hubbed {
    server: Server,
    publisher: Conn,
    subs: Vec<Subscriber>,
    poll: mio::Poll,
    seq: u64,
}

/// The messages a broadcast row sends.
#[derive(Clone, Copy)]
pub enum Style {
    /// 100 bytes, mostly pseudo-random (the uncompressed row, against
    /// Node ws), read by the plain client.
    Random,
    /// A 24-byte head (sequence number, marker and send time, binary) and a
    /// JSON chat message, 212 bytes in all, read by the client that offers
    /// permessage-deflate.
    Chat,
}

/// Marks a broadcast message as measured (1) or warm-up (0), in the
/// connection field of its payload.
const MEASURED: u32 = 1;
const WARMUP: u32 = 0;

/// The body of a chat broadcast after its 24-byte head.
const CHAT_BODY: &[u8] = br#"{"type":"message","room":"general","user":{"id":3,"name":"user3","avatar":"/img/u3.png"},"text":"a message that says hello to everyone in the room, how are you all today?","ts":1700000111}"#;

fn broadcast_message(style: Style, kind: u32, seq: u64, sent_ns: u64) -> Vec<u8> {
    match style {
        Style::Random => {
            let mut m = vec![0u8; 100];
            payload(&mut m, kind, seq);
            m[16..24].copy_from_slice(&sent_ns.to_le_bytes());
            m
        }
        Style::Chat => {
            let mut m = vec![0u8; 24];
            m[..8].copy_from_slice(&seq.to_le_bytes());
            m[8..12].copy_from_slice(&kind.to_le_bytes());
            m[16..24].copy_from_slice(&sent_ns.to_le_bytes());
            m.extend_from_slice(CHAT_BODY);
            m
        }
    }
}

/// Progress of a broadcast round, shared by the receiving thread and the
/// publisher.
struct Progress {
    delivered: Mutex<u64>,
    changed: Condvar,
    failed: AtomicBool,
}

/// One publisher and `subs` subscribers; the publisher sends `msgs`
/// 100-byte messages, at most `window` of them not yet delivered to every
/// subscriber. One client thread receives for all subscribers (epoll,
/// through mio), checks every byte and order, and records each delivery's
/// latency from the send time the message carries.
///
/// With [`Style::Chat`] every subscriber offers permessage-deflate; the
/// bytes it reads are counted.
pub fn broadcast(p: &Params, kinds: &[Kind], style: Style) -> Outcome {
    let mut outcome = Outcome::default();
    let mut states = start_all(&mut outcome, kinds, None, None, |server| {
        let publisher = server.connect("/pub", 4096)?;
        let poll = mio::Poll::new().map_err(|e| format!("poll: {e}"))?;
        let mut subs = Vec::with_capacity(p.broadcast_subs);
        let standalone = Arc::new(zwire::Standalone::default());
        for i in 0..p.broadcast_subs {
            let mut tcp = wire::tcp(server.addr)?;
            let host = server.addr.to_string();
            let (inp, compressed) = match style {
                Style::Random => {
                    let leftover = wire::handshake(&mut tcp, &host, "/sub")
                        .map_err(|e| format!("subscriber {i}: {e}"))?;
                    (Inbox::Plain(In::new(Proto::Ws, 4096, &leftover)), false)
                }
                Style::Chat => {
                    let (leftover, params) = zwire::handshake(&mut tcp, &host, "/sub")
                        .map_err(|e| format!("subscriber {i}: {e}"))?;
                    let inp = ZIn::new(params, &leftover).standalone(standalone.clone());
                    (Inbox::Zipped(Box::new(inp)), params.is_some())
                }
            };
            tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
            let mut stream = mio::net::TcpStream::from_std(tcp);
            poll.registry()
                .register(&mut stream, mio::Token(i), mio::Interest::READABLE)
                .map_err(|e| format!("register: {e}"))?;
            subs.push(Subscriber {
                stream,
                inp,
                compressed,
                next: 0,
                warm: false,
            });
        }
        let mut state = Hubbed {
            server,
            publisher,
            subs,
            poll,
            seq: 0,
        };
        warm_up(&mut state, style)?;
        Ok(state)
    });
    outcome.notes.push(format!(
        "{} subscribers, {} messages of {} bytes per round, at most {} in flight",
        p.broadcast_subs,
        p.broadcast_msgs,
        broadcast_message(style, 0, 0, 0).len(),
        p.broadcast_window
    ));
    alternate(
        &mut outcome,
        &mut states,
        p.broadcast_rounds,
        |st, warmup| {
            let msgs = if warmup {
                (p.broadcast_msgs / 4).max(1)
            } else {
                p.broadcast_msgs
            };
            broadcast_round(st, msgs as u64, p.broadcast_window as u64, style)
        },
    );
    outcome
}

/// Publish warm-up messages until every subscriber has received one: then
/// every subscriber is in the hub (a server may add it a moment after the
/// handshake).
fn warm_up(st: &mut Hubbed, style: Style) -> Res<()> {
    let warm_message = broadcast_message(style, WARMUP, 0, 0);
    let mut events = mio::Events::with_capacity(1024);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut warm = 0;
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    while warm < st.subs.len() {
        if Instant::now() > deadline {
            return Err(format!(
                "only {warm} of {} subscribers got a broadcast within 30 s",
                st.subs.len()
            ));
        }
        if last_sent.elapsed() >= Duration::from_millis(50) {
            st.publisher.out.push(&warm_message);
            st.publisher.out.flush(&mut st.publisher.stream)?;
            last_sent = Instant::now();
        }
        st.poll
            .poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let sub = &mut st.subs[event.token().0];
            while sub.inp.fill_nonblocking(&mut sub.stream)? {
                while let Some(m) = sub.inp.next_buffered(sub.compressed)? {
                    if m != warm_message {
                        return Err("a warm-up broadcast arrived changed".into());
                    }
                    if !sub.warm {
                        sub.warm = true;
                        warm += 1;
                    }
                }
            }
        }
    }
    Ok(())
}

fn broadcast_round(st: &mut Hubbed, msgs: u64, window: u64, style: Style) -> Res<Figures> {
    let n = st.subs.len() as u64;
    let total = n * msgs;
    let first = st.seq;
    let expected: Vec<Vec<u8>> = (0..msgs)
        .map(|i| broadcast_message(style, MEASURED, first + i, 0))
        .collect();
    let read_before: u64 = st.subs.iter().map(|s| s.inp.bytes_read()).sum();
    let warm_message = broadcast_message(style, WARMUP, 0, 0);
    let progress = Progress {
        delivered: Mutex::new(0),
        changed: Condvar::new(),
        failed: AtomicBool::new(false),
    };
    let epoch = Instant::now();
    let cpu0 = st.server.cpu()?;
    let Hubbed {
        publisher,
        subs,
        poll,
        ..
    } = st;
    let (received, published) = thread::scope(|s| {
        let progress = &progress;
        let expected = &expected;
        let receiver = s.spawn(move || -> Res<(Vec<u32>, Duration)> {
            let warm = &warm_message;
            let result = receive(subs, poll, expected, warm, first, total, epoch, progress);
            if result.is_err() {
                progress.failed.store(true, Ordering::Release);
                progress.changed.notify_all();
            }
            result
        });
        let published = (|| -> Res<Duration> {
            let mut start = None;
            for i in 0..msgs {
                let need = (i + 1).saturating_sub(window) * n;
                if need > 0 {
                    let mut delivered =
                        progress.delivered.lock().unwrap_or_else(|e| e.into_inner());
                    let wait_until = Instant::now() + Duration::from_secs(60);
                    while *delivered < need {
                        if progress.failed.load(Ordering::Acquire) {
                            return Err("the receiver failed".into());
                        }
                        if Instant::now() > wait_until {
                            return Err(format!("deliveries stalled at {} of {total}", *delivered));
                        }
                        delivered = progress
                            .changed
                            .wait_timeout(delivered, Duration::from_millis(100))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
                let sent = epoch.elapsed();
                start.get_or_insert(sent);
                let m = broadcast_message(style, MEASURED, first + i, sent.as_nanos() as u64);
                publisher.out.push(&m);
                publisher.out.flush(&mut publisher.stream)?;
            }
            Ok(start.unwrap_or_default())
        })();
        if published.is_err() {
            progress.failed.store(true, Ordering::Release);
        }
        let received = receiver
            .join()
            .unwrap_or_else(|_| Err("receiver panicked".into()));
        (received, published)
    });
    let cpu = st.server.cpu()?.since(cpu0);
    let start = published?;
    let (mut latencies, end) = received?;
    st.seq = first + msgs;
    let elapsed = secs(end.saturating_sub(start)).max(1e-9);
    latencies.sort_unstable();
    let pct = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)] as f64 / 1000.0
    };
    let mut f = rate_and_cpu(total, elapsed, cpu);
    f.insert("p50_ms", pct(0.50));
    f.insert("p99_ms", pct(0.99));
    if matches!(style, Style::Chat) {
        let read: u64 = st.subs.iter().map(|s| s.inp.bytes_read()).sum();
        f.insert("bytes", (read - read_before) as f64 / total as f64);
    }
    Ok(f)
}

/// Receive until every subscriber has every measured message; return the
/// latencies (µs) and the time of the last delivery.
#[allow(clippy::too_many_arguments)]
fn receive(
    subs: &mut [Subscriber],
    poll: &mut mio::Poll,
    expected: &[Vec<u8>],
    warm_message: &[u8],
    first: u64,
    total: u64,
    epoch: Instant,
    progress: &Progress,
) -> Res<(Vec<u32>, Duration)> {
    let mut latencies = Vec::with_capacity(total as usize);
    let mut events = mio::Events::with_capacity(1024);
    let mut delivered = 0u64;
    let mut last = Duration::ZERO;
    let mut idle_since = Instant::now();
    for sub in subs.iter_mut() {
        sub.next = first;
    }
    while delivered < total {
        if progress.failed.load(Ordering::Acquire) {
            return Err("the publisher failed".into());
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .map_err(|e| format!("poll: {e}"))?;
        let before = delivered;
        for event in events.iter() {
            let i = event.token().0;
            let Subscriber {
                stream,
                inp,
                next,
                compressed,
                ..
            } = &mut subs[i];
            while inp.fill_nonblocking(stream)? {
                while let Some(m) = inp.next_buffered(*compressed)? {
                    if m.len() < 24 {
                        return Err(format!("subscriber {i} got a {}-byte message", m.len()));
                    }
                    let kind = u32::from_le_bytes(m[8..12].try_into().expect("4 bytes"));
                    if kind == WARMUP && m == warm_message {
                        continue;
                    }
                    let seq = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
                    if seq != *next || m.len() != warm_message.len() {
                        return Err(format!(
                            "subscriber {i} got message {seq} when {} was due",
                            *next
                        ));
                    }
                    let want = &expected[(seq - first) as usize];
                    if m[..16] != want[..16] || m[24..] != want[24..] {
                        return Err(format!("subscriber {i}: message {seq} arrived changed"));
                    }
                    let sent = u64::from_le_bytes(m[16..24].try_into().expect("8 bytes"));
                    let now = epoch.elapsed();
                    latencies.push(((now.as_nanos() as u64).saturating_sub(sent) / 1000) as u32);
                    last = now;
                    *next += 1;
                    delivered += 1;
                }
            }
        }
        if delivered != before {
            idle_since = Instant::now();
            *progress.delivered.lock().unwrap_or_else(|e| e.into_inner()) = delivered;
            progress.changed.notify_all();
        } else if idle_since.elapsed() > Duration::from_secs(60) {
            return Err(format!("no delivery for 60 s, {delivered} of {total}"));
        }
    }
    Ok((latencies, last))
}

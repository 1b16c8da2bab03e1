//! `syncws-bench attacks [--only LIST] [--quick]`: the attacks of the
//! adversarial review (issue 16) at full size, each against a fresh server
//! in a child process (`syncws-bench serve attacked`, see `serve.rs`),
//! while a good client opens a connection to `/echo` every 50 ms, does one
//! round trip and closes. The server process is sampled every 100 ms
//! (threads, VmRSS, VmSize, open descriptors, CPU); the table printed at
//! the end gives the baseline, the peak during the attack, the values
//! [`AFTER`] after it stopped, the good client's success rate and p99, and
//! what happened to the attacker's connections. RELIABILITY.md holds a run.
//!
//! Every loop is bounded in count and time; every socket is closed when
//! its attack ends, and every server process is stopped (killed by its pid
//! if it does not exit when told).

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use syncws::protocol::frame::{FrameHeader, OpCode, write_frame};

use crate::procfs;
use crate::serve::{ATTACKED_BUDGET, ATTACKED_PER_PEER, CHAT_ORIGIN};
use crate::servers::{Kind, Server, Tls, serve_argv};
use crate::wire::{self, Conn, Proto, Res};

/// How often the good client starts a connection.
const GOOD_PERIOD: Duration = Duration::from_millis(50);
/// The good client's bound on each connect, read and write.
const GOOD_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the server process is sampled.
const SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// When the "after" figures are taken: past the 10 s an idle connection
/// thread waits for a next connection.
const AFTER: Duration = Duration::from_secs(12);
/// A connection closed sooner than this after it was opened was refused
/// "at once".
const AT_ONCE: Duration = Duration::from_secs(1);
/// The address-space limit of `announced-frames-2g`.
const ADDRESS_SPACE: u64 = 2 << 30;
/// The open-file limit the attacks want (7,000 sockets here and as many
/// in the server, with room).
const WANT_FILES: u64 = 20_000;

/// Full size, or `--quick`: counts divided by 10, durations by 5.
#[derive(Debug, Clone, Copy)]
struct Scale {
    quick: bool,
    /// Sockets this process may open, from its open-file limit.
    max_sockets: usize,
}

impl Scale {
    fn count(self, full: usize) -> usize {
        if self.quick { (full / 10).max(1) } else { full }
    }

    fn secs(self, full: f64) -> Duration {
        Duration::from_secs_f64(if self.quick { full / 5.0 } else { full })
    }

    fn after(self) -> Duration {
        if self.quick { AFTER / 4 } else { AFTER }
    }

    /// `count(full)` sockets, or as many as the open-file limit allows;
    /// the note says so when it is fewer.
    fn sockets(self, full: usize, notes: &mut Vec<String>) -> usize {
        let want = self.count(full);
        if want > self.max_sockets {
            notes.push(format!(
                "only {} sockets, not {}: the open-file limit",
                count(self.max_sockets as u64),
                count(want as u64)
            ));
            self.max_sockets
        } else {
            want
        }
    }
}

/// What an attack reports: its load, and what happened.
struct Found {
    load: String,
    happened: Vec<String>,
}

/// The attacks, in the order they run.
struct Attack {
    id: &'static str,
    /// The server kind (`serve KIND`).
    kind: &'static str,
    tls: bool,
    /// Run the server under this address-space limit (`ulimit -v`).
    address_space: Option<u64>,
    run: fn(&Target, Scale) -> Res<Found>,
}

const ATTACKS: &[Attack] = &[
    Attack {
        id: "slowloris",
        kind: "attacked",
        tls: false,
        address_space: None,
        run: slowloris,
    },
    Attack {
        id: "slowloris-per-peer",
        kind: "attacked-per-peer",
        tls: false,
        address_space: None,
        run: slowloris_per_peer,
    },
    Attack {
        id: "silent",
        kind: "attacked",
        tls: false,
        address_space: None,
        run: silent,
    },
    Attack {
        id: "tls-trickle",
        kind: "attacked",
        tls: true,
        address_space: None,
        run: tls_trickle,
    },
    Attack {
        id: "never-reads",
        kind: "attacked",
        tls: false,
        address_space: None,
        run: never_reads,
    },
    Attack {
        id: "hub-never-reads",
        kind: "attacked",
        tls: false,
        address_space: None,
        run: hub_never_reads,
    },
    Attack {
        id: "announced-frames",
        kind: "attacked",
        tls: false,
        address_space: None,
        run: announced_frames,
    },
    Attack {
        id: "announced-frames-2g",
        kind: "attacked",
        tls: false,
        address_space: Some(ADDRESS_SPACE),
        run: announced_frames,
    },
    Attack {
        id: "partial-messages",
        kind: "attacked-budget",
        tls: false,
        address_space: None,
        run: partial_messages,
    },
];

pub fn main(args: &[String]) -> Res<()> {
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--quick" => quick = true,
            "--only" => {
                let list: Vec<String> = args
                    .get(i + 1)
                    .ok_or("--only LIST")?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = list.iter().find(|w| !ATTACKS.iter().any(|a| a.id == **w)) {
                    return Err(format!("unknown attack {bad}: {}", attack_ids()));
                }
                only = Some(list);
                i += 1;
            }
            other => return Err(format!("unknown argument {other}: [--only LIST] [--quick]")),
        }
        i += 1;
    }
    let limit = procfs::raise_open_files(WANT_FILES).unwrap_or(1024);
    let scale = Scale {
        quick,
        // The good client, the sampler and the standard streams need a
        // few descriptors besides the attacker's sockets.
        max_sockets: limit.saturating_sub(200).min(1 << 20) as usize,
    };
    let machine = procfs::machine();
    let header = Header {
        date: procfs::date_utc(),
        cpus: machine.cpus,
        model: machine.model,
        load: machine.load,
        commit: commit(),
        command: format!(
            "cargo run --release --manifest-path bench/Cargo.toml -- attacks{}",
            args.iter().map(|a| format!(" {a}")).collect::<String>()
        ),
        open_files: limit,
    };
    eprintln!(
        "attacks: {} run on {} cores, load average {}, open-file limit {limit}",
        if quick { "quick" } else { "full" },
        header.cpus,
        header.load
    );
    let tls = Tls::new()?;
    let mut rows = Vec::new();
    for attack in ATTACKS {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|w| w == attack.id))
        {
            continue;
        }
        eprintln!("== {}", attack.id);
        let row = run(attack, scale, &tls);
        eprintln!("{}", markdown_row(&row));
        rows.push(row);
    }
    println!("{}", markdown(&header, &rows));
    Ok(())
}

fn attack_ids() -> String {
    ATTACKS.iter().map(|a| a.id).collect::<Vec<_>>().join(",")
}

/// The server under attack, as an attack sees it.
struct Target {
    server: Server,
    /// When the attack started, for the times of the server's events.
    started: SystemTime,
    tls: Option<native_tls::TlsConnector>,
}

impl Target {
    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The server's `event` lines so far (`serve.rs`): seconds since the
    /// attack started, connection id, path, text.
    fn events(&self) -> Vec<Event> {
        let start = self
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        self.server
            .lines()
            .iter()
            .filter_map(|line| {
                let mut parts = line.strip_prefix("event ")?.splitn(4, ' ');
                let ms: u128 = parts.next()?.parse().ok()?;
                Some(Event {
                    at: (ms as f64 - start as f64) / 1000.0,
                    id: parts.next()?.parse().ok()?,
                    path: parts.next()?.to_owned(),
                    text: parts.next().unwrap_or("").to_owned(),
                })
            })
            .collect()
    }
}

/// A line the server printed about a connection.
#[derive(Debug, Clone)]
struct Event {
    at: f64,
    id: u64,
    path: String,
    text: String,
}

/// One attack's figures.
struct Row {
    id: &'static str,
    load: String,
    before: Sample,
    peak: Sample,
    after: Sample,
    cpu: Duration,
    /// The highest CPU use over one second, in cores.
    cpu_peak: f64,
    seconds: f64,
    good: Good,
    good_after: Good,
    happened: Vec<String>,
}

fn run(attack: &Attack, scale: Scale, tls: &Tls) -> Row {
    let mut row = Row {
        id: attack.id,
        load: String::new(),
        before: Sample::default(),
        peak: Sample::default(),
        after: Sample::default(),
        cpu: Duration::ZERO,
        cpu_peak: 0.0,
        seconds: 0.0,
        good: Good::default(),
        good_after: Good::default(),
        happened: Vec::new(),
    };
    if let Err(e) = run_into(attack, scale, tls, &mut row) {
        eprintln!("  FAILED: {e}");
        row.happened.push(format!("the attack could not run: {e}"));
    }
    row
}

fn run_into(attack: &Attack, scale: Scale, tls: &Tls, row: &mut Row) -> Res<()> {
    let mut argv = serve_argv(attack.kind);
    if let Some(bytes) = attack.address_space {
        let shell = format!("ulimit -v {} && exec \"$0\" \"$@\"", bytes >> 10);
        argv.splice(0..0, ["sh".to_string(), "-c".into(), shell]);
    }
    let server = Server::spawn(Kind::Syncws, argv, attack.tls.then_some(tls))?;
    let pid = server.pid;
    let probe = Probe::start(pid);
    thread::sleep(Duration::from_secs(1));
    let connector = attack.tls.then(|| tls.connector.clone());
    let good = GoodClient::start(server.addr, connector.clone());
    thread::sleep(Duration::from_secs(1));
    row.before = probe.last();
    let cpu_before = procfs::cpu(pid)?;
    let started = Instant::now();
    let mut target = Target {
        server,
        started: SystemTime::now(),
        tls: connector,
    };
    let found = (attack.run)(&target, scale);
    let ended = Instant::now();
    let cpu_during = procfs::cpu(pid).map(|c| c.since(cpu_before).total());
    thread::sleep(scale.after());
    let tries = good.stop();
    let samples = probe.stop();
    row.after = samples.last().map_or_else(Sample::default, |s| s.1);
    let during: Vec<&(Instant, Sample)> = samples
        .iter()
        .filter(|(at, _)| *at >= started && *at <= ended)
        .collect();
    row.peak = during.iter().fold(row.before, |peak, (_, s)| peak.max(s));
    row.cpu_peak = cpu_peak(&during);
    row.cpu = cpu_during.unwrap_or_default();
    row.seconds = (ended - started).as_secs_f64();
    row.good = Good::of(&tries, started, ended);
    row.good_after = Good::of(&tries, ended, ended + scale.after());
    let alive = target.server.alive();
    let found = found?;
    row.load = found.load;
    row.happened = found.happened;
    if !alive {
        row.happened.push("**the server process died**".into());
    }
    if row.good.failed() > 0 {
        row.happened
            .push(format!("good client: {}", row.good.failures()));
    }
    if row.good_after.failed() > 0 {
        row.happened.push(format!(
            "good client after the attack: {} of {} failed ({})",
            row.good_after.failed(),
            row.good_after.tries,
            row.good_after.failures()
        ));
    }
    target.tls = None;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sampling the server

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    threads: u64,
    rss: u64,
    vm: u64,
    fds: u64,
    cpu: Duration,
}

impl Sample {
    fn read(pid: u32) -> Res<Sample> {
        Ok(Sample {
            threads: procfs::threads(pid)?,
            rss: procfs::rss(pid)?,
            vm: procfs::vm_size(pid)?,
            fds: procfs::open_fds(pid)?,
            cpu: procfs::cpu(pid)?.total(),
        })
    }

    fn max(self, other: &Sample) -> Sample {
        Sample {
            threads: self.threads.max(other.threads),
            rss: self.rss.max(other.rss),
            vm: self.vm.max(other.vm),
            fds: self.fds.max(other.fds),
            cpu: self.cpu.max(other.cpu),
        }
    }
}

/// The highest CPU use over a second of `samples`, in cores.
fn cpu_peak(samples: &[&(Instant, Sample)]) -> f64 {
    let mut peak = 0.0f64;
    for (i, (at, s)) in samples.iter().enumerate() {
        let earlier = samples[..i]
            .iter()
            .rev()
            .find(|(then, _)| *at - *then >= Duration::from_secs(1));
        if let Some((then, e)) = earlier {
            let cores = s.cpu.saturating_sub(e.cpu).as_secs_f64() / (*at - *then).as_secs_f64();
            peak = peak.max(cores);
        }
    }
    peak
}

/// Samples the server every [`SAMPLE_PERIOD`] on a thread of its own,
/// until stopped or the process is gone (at most an hour).
struct Probe {
    samples: Arc<Mutex<Vec<(Instant, Sample)>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Probe {
    fn start(pid: u32) -> Probe {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let limit = Duration::from_secs(3600).as_millis() / SAMPLE_PERIOD.as_millis();
            for _ in 0..limit {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(sample) = Sample::read(pid) else { break };
                if let Ok(mut all) = kept.lock() {
                    all.push((Instant::now(), sample));
                }
                thread::sleep(SAMPLE_PERIOD);
            }
        });
        Probe {
            samples,
            stop,
            thread,
        }
    }

    fn last(&self) -> Sample {
        self.samples
            .lock()
            .ok()
            .and_then(|s| s.last().map(|s| s.1))
            .unwrap_or_default()
    }

    fn stop(self) -> Vec<(Instant, Sample)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// The good client

/// One connection of the good client: when it started, and its latency
/// (connect, handshake, one round trip) or why it failed.
struct Try {
    at: Instant,
    result: Result<Duration, String>,
}

/// A new connection to `/echo` every [`GOOD_PERIOD`] on a thread of its
/// own (at most an hour of them), one 32-byte round trip each, then a
/// clean close.
struct GoodClient {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Try>>,
}

impl GoodClient {
    fn start(addr: SocketAddr, tls: Option<native_tls::TlsConnector>) -> GoodClient {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut tries = Vec::new();
            let start = Instant::now();
            let limit = Duration::from_secs(3600).as_millis() / GOOD_PERIOD.as_millis();
            let mut k = 0u32;
            while !stopped.load(Ordering::Relaxed) && (k as u128) < limit {
                let next = start + GOOD_PERIOD * k;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let at = Instant::now();
                let result = good_round(addr, tls.as_ref(), u64::from(k));
                tries.push(Try { at, result });
                // A try that ran late skips the periods it overran.
                k = (k + 1).max((start.elapsed().as_millis() / GOOD_PERIOD.as_millis()) as u32);
            }
            tries
        });
        GoodClient { stop, thread }
    }

    fn stop(self) -> Vec<Try> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn good_round(addr: SocketAddr, tls: Option<&native_tls::TlsConnector>, seq: u64) -> Res<Duration> {
    let started = Instant::now();
    let tcp = wire::tcp_within(addr, GOOD_TIMEOUT)?;
    for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
        set(&tcp, Some(GOOD_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    }
    let mut conn = Conn::upgrade(tcp, addr, Proto::Ws, "/echo", tls, 256)?;
    let mut message = [0u8; 32];
    wire::payload(&mut message, 0, seq);
    conn.echo(&message)?;
    let latency = started.elapsed();
    conn.close()?;
    Ok(latency)
}

/// The good client's tries in a window.
#[derive(Debug, Clone, Default)]
struct Good {
    tries: usize,
    latencies: Vec<Duration>,
    /// Each failure's text, with how often, and when the first and last
    /// came (seconds since the window opened).
    failures: BTreeMap<String, (usize, f64, f64)>,
}

impl Good {
    fn of(tries: &[Try], from: Instant, to: Instant) -> Good {
        let mut good = Good::default();
        for t in tries.iter().filter(|t| t.at >= from && t.at < to) {
            good.tries += 1;
            match &t.result {
                Ok(latency) => good.latencies.push(*latency),
                Err(e) => {
                    let at = (t.at - from).as_secs_f64();
                    let entry = good.failures.entry(short(e, 60)).or_insert((0, at, at));
                    entry.0 += 1;
                    entry.2 = at;
                }
            }
        }
        good.latencies.sort();
        good
    }

    fn failed(&self) -> usize {
        self.tries - self.latencies.len()
    }

    fn success(&self) -> String {
        if self.tries == 0 {
            return "—".into();
        }
        format!(
            "{:.1}% of {}",
            100.0 * self.latencies.len() as f64 / self.tries as f64,
            count(self.tries as u64)
        )
    }

    fn p99(&self) -> String {
        match self.latencies.len() {
            0 => "—".into(),
            n => ms(self.latencies[(n * 99).div_ceil(100) - 1]),
        }
    }

    fn failures(&self) -> String {
        let mut by_count: Vec<_> = self.failures.iter().collect();
        by_count.sort_by_key(|b| std::cmp::Reverse(b.1.0));
        by_count
            .iter()
            .take(3)
            .map(|(what, (n, first, last))| {
                format!("{} × \"{what}\" ({first:.1}–{last:.1} s)", count(*n as u64))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ---------------------------------------------------------------------------
// Many sockets that say little: slowloris, silent, TLS trickle

/// `sockets` connections, each sending `bytes` one byte every `every`
/// (nothing if empty) for `duration`, from one thread with mio.
struct Trickle<'a> {
    /// The address they connect from (any, if `None`).
    source: Option<Ipv4Addr>,
    sockets: usize,
    bytes: &'a [u8],
    every: Duration,
    duration: Duration,
}

/// One attacker socket of a [`Trickle`].
struct Trickler {
    stream: Option<MioStream>,
    opened: Instant,
    connected: bool,
    sent: usize,
    next: Instant,
    answer: Vec<u8>,
    /// When it ended, and how: `None` for the end of the stream, or the
    /// error.
    ended: Option<(Instant, Option<ErrorKind>)>,
}

impl Trickler {
    fn end(&mut self, poll: &Poll, how: Option<ErrorKind>) {
        if let Some(mut stream) = self.stream.take() {
            let _ = poll.registry().deregister(&mut stream);
        }
        self.ended = Some((Instant::now(), how));
    }

    /// Whether it is open and the server has said nothing on it.
    fn held(&self) -> bool {
        self.connected && self.ended.is_none() && self.answer.is_empty()
    }
}

impl Trickle<'_> {
    fn run(&self, addr: SocketAddr) -> Res<Vec<String>> {
        let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let mut events = Events::with_capacity(1024);
        let mut all: Vec<Trickler> = Vec::with_capacity(self.sockets);
        let mut notes = Vec::new();
        let kernel_before = procfs::tcp_ext(&KERNEL_COUNTERS);
        let start = Instant::now();
        for i in 0..self.sockets {
            let connected = match self.source {
                Some(source) => connect_from(source, addr),
                None => MioStream::connect(addr),
            };
            match connected {
                Ok(mut stream) => {
                    poll.registry()
                        .register(
                            &mut stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .map_err(|e| format!("register: {e}"))?;
                    let now = Instant::now();
                    all.push(Trickler {
                        stream: Some(stream),
                        opened: now,
                        connected: false,
                        sent: 0,
                        next: now,
                        answer: Vec::new(),
                        ended: None,
                    });
                }
                Err(e) => {
                    notes.push(format!("only {} sockets opened: {e}", count(i as u64)));
                    break;
                }
            }
            // Bursts of 100, the answers read between them.
            if i % 100 == 99 {
                self.service(&mut poll, &mut events, &mut all, Duration::from_millis(2));
            }
        }
        let opened_in = start.elapsed();
        let deadline = start + self.duration;
        let mut held = 0;
        let mut held_at = 0.0;
        let mut connected = 0;
        // At most one pass per millisecond until the deadline.
        let passes = self.duration.as_millis() as u64 + 1;
        for _ in 0..passes {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.service(&mut poll, &mut events, &mut all, Duration::from_millis(10));
            self.trickle(&poll, &mut all);
            if now > start + opened_in + AT_ONCE {
                let now_held = all.iter().filter(|t| t.held()).count();
                if now_held > held {
                    held = now_held;
                    held_at = (now - start).as_secs_f64();
                }
            }
            connected = connected.max(all.iter().filter(|t| t.connected).count());
        }
        let still_open = all.iter().filter(|t| t.ended.is_none()).count();
        let mut happened = vec![format!(
            "{} sockets opened in {:.1} s ({} connected)",
            count(all.len() as u64),
            opened_in.as_secs_f64(),
            count(connected as u64)
        )];
        happened.extend(self.outcomes(&all));
        happened.push(format!(
            "{} open and unanswered at most (at {held_at:.1} s); {} still open at the end \
             ({:.0} s)",
            count(held as u64),
            count(still_open as u64),
            self.duration.as_secs_f64()
        ));
        let kernel: Vec<String> = procfs::tcp_ext(&KERNEL_COUNTERS)
            .iter()
            .zip(kernel_before)
            .zip(KERNEL_COUNTERS)
            .map(|((after, before), name)| format!("{name} +{}", count(after - before)))
            .collect();
        happened.push(format!("kernel (whole machine): {}", kernel.join(", ")));
        happened.extend(notes);
        // Dropping the sockets closes them.
        drop(all);
        Ok(happened)
    }

    /// Read what arrived, note connections made and ended.
    fn service(&self, poll: &mut Poll, events: &mut Events, all: &mut [Trickler], wait: Duration) {
        if poll.poll(events, Some(wait)).is_err() {
            return;
        }
        let mut chunk = [0u8; 1024];
        for event in events.iter() {
            let Some(t) = all.get_mut(event.token().0) else {
                continue;
            };
            let Some(stream) = t.stream.as_mut() else {
                continue;
            };
            if event.is_writable() && !t.connected {
                match stream.take_error() {
                    Ok(Some(e)) | Err(e) => {
                        t.end(poll, Some(e.kind()));
                        continue;
                    }
                    Ok(None) => {}
                }
                if stream.peer_addr().is_ok() {
                    t.connected = true;
                    t.next = Instant::now();
                }
            }
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            // Bounded: the answers are short; a socket that keeps sending
            // is read again on the next event.
            for _ in 0..64 {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        t.end(poll, None);
                        break;
                    }
                    Ok(n) => {
                        let room = 256usize.saturating_sub(t.answer.len());
                        t.answer.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        t.end(poll, Some(e.kind()));
                        break;
                    }
                }
            }
        }
    }

    /// Send the next byte on every socket whose time has come.
    fn trickle(&self, poll: &Poll, all: &mut [Trickler]) {
        let now = Instant::now();
        for t in all.iter_mut() {
            if !t.connected || t.sent >= self.bytes.len() || t.next > now {
                continue;
            }
            let Some(stream) = t.stream.as_mut() else {
                continue;
            };
            match stream.write(&self.bytes[t.sent..t.sent + 1]) {
                Ok(1) => {
                    t.sent += 1;
                    t.next += self.every;
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => t.end(poll, Some(e.kind())),
            }
        }
    }

    /// How the sockets ended: by answer, at once or later.
    fn outcomes(&self, all: &[Trickler]) -> Vec<String> {
        // (how, lifetime bucket) → (count, shortest, longest life)
        let mut by: BTreeMap<(String, u8), (u64, f64, f64)> = BTreeMap::new();
        for t in all {
            let Some((at, how)) = t.ended else { continue };
            let life = (at - t.opened).as_secs_f64();
            let what = match (answer_label(&t.answer), how) {
                (Some(answer), _) => answer,
                (None, None) => "closed without an answer".into(),
                (None, Some(kind)) => format!("ended without an answer ({kind:?})"),
            };
            let entry = by
                .entry((what, lifetime_bucket(life)))
                .or_insert((0, f64::MAX, 0.0));
            entry.0 += 1;
            entry.1 = entry.1.min(life);
            entry.2 = entry.2.max(life);
        }
        by.iter()
            .map(|((what, bucket), (n, shortest, longest))| {
                if *bucket == 0 {
                    format!(
                        "{} {what} at once ({shortest:.2}–{longest:.2} s)",
                        count(*n)
                    )
                } else {
                    format!(
                        "{} {what} {shortest:.1}–{longest:.1} s after opening",
                        count(*n)
                    )
                }
            })
            .collect()
    }
}

/// Start a nonblocking connect to `addr` from the IPv4 address `source`
/// (mio connects only from any address).
fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> io::Result<MioStream> {
    let SocketAddr::V4(to) = addr else {
        return Err(ErrorKind::Unsupported.into());
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a plain system call with no pointer.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket just opened and owned by nothing else; the
    // stream closes it, on the error paths below too.
    let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let local = sockaddr(source, 0);
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes for the call.
    if unsafe { libc::bind(fd, (&raw const local).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: as above, for `remote`.
    if unsafe { libc::connect(fd, (&raw const remote).cast(), len) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(MioStream::from_std(stream))
}

/// The kernel's counters of a listen queue that overflowed.
const KERNEL_COUNTERS: [&str; 3] = ["ListenOverflows", "ListenDrops", "SyncookiesSent"];

/// The lifetimes a socket's end is told in: 0 at once, 1 within 5 s, 2
/// later.
fn lifetime_bucket(life: f64) -> u8 {
    if life < AT_ONCE.as_secs_f64() {
        0
    } else if life < 5.0 {
        1
    } else {
        2
    }
}

/// What a server's first bytes say: an HTTP status line, a TLS alert, or
/// `None` for nothing.
fn answer_label(answer: &[u8]) -> Option<String> {
    if answer.is_empty() {
        return None;
    }
    if let Some(rest) = answer.strip_prefix(b"HTTP/1.1 ") {
        let status = String::from_utf8_lossy(&rest[..rest.len().min(3)]).into_owned();
        return Some(format!("answered {status}"));
    }
    if answer[0] == 0x15 {
        return Some("answered with a TLS alert".into());
    }
    Some(format!("answered {} other bytes", answer.len()))
}

/// A valid upgrade request to `/echo`.
fn request_head() -> Vec<u8> {
    format!(
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        syncws::protocol::handshake::generate_key()
    )
    .into_bytes()
}

/// A [`Trickle`] of `full` sockets (at full size) from `source` (any
/// address if `None`), sending `bytes` one every `every` for `secs`;
/// `what` tells them after their count.
#[expect(
    clippy::too_many_arguments,
    reason = "a flood's shape, named at each call"
)]
fn flood(
    source: Option<Ipv4Addr>,
    target: &Target,
    scale: Scale,
    full: usize,
    bytes: &[u8],
    every: Duration,
    secs: f64,
    what: &str,
) -> Res<Found> {
    let mut notes = Vec::new();
    let sockets = scale.sockets(full, &mut notes);
    let duration = scale.secs(secs);
    let mut happened = Trickle {
        source,
        sockets,
        bytes,
        every,
        duration,
    }
    .run(target.addr())?;
    happened.extend(notes);
    Ok(Found {
        load: format!(
            "{} sockets{what}, {:.0} s",
            count(sockets as u64),
            duration.as_secs_f64()
        ),
        happened,
    })
}

fn slowloris(target: &Target, scale: Scale) -> Res<Found> {
    slowloris_from(None, "", target, scale)
}

/// Slowloris from 127.0.0.2 against `max_connections_per_peer`, while the
/// good client connects from 127.0.0.1.
fn slowloris_per_peer(target: &Target, scale: Scale) -> Res<Found> {
    let source = Some(Ipv4Addr::new(127, 0, 0, 2));
    let limit = format!(", max_connections_per_peer {ATTACKED_PER_PEER}");
    slowloris_from(source, &limit, target, scale)
}

/// 7,000 sockets from `source` sending a valid request head one byte
/// every 3 s for 25 s; `limit` names the server's limit, if any.
fn slowloris_from(
    source: Option<Ipv4Addr>,
    limit: &str,
    target: &Target,
    scale: Scale,
) -> Res<Found> {
    let every = Duration::from_secs(3);
    let from = source.map_or(String::new(), |s| format!(" from {s}"));
    let what = format!(
        "{from}, a valid request head one byte every {} s{limit}",
        every.as_secs()
    );
    let head = request_head();
    flood(source, target, scale, 7_000, &head, every, 25.0, &what)
}

fn silent(target: &Target, scale: Scale) -> Res<Found> {
    let what = " that send nothing";
    flood(None, target, scale, 7_000, &[], Duration::ZERO, 25.0, what)
}

fn tls_trickle(target: &Target, scale: Scale) -> Res<Found> {
    let every = Duration::from_secs(5);
    let hello = client_hello()?;
    let what = format!(
        ", a TLS ClientHello ({} bytes) one byte every {} s, against wss",
        hello.len(),
        every.as_secs()
    );
    flood(None, target, scale, 3_000, &hello, every, 30.0, &what)
}

/// The bytes of a TLS ClientHello, as native-tls's client sends it.
fn client_hello() -> Res<Vec<u8>> {
    /// A stream that keeps what is written and has nothing to read.
    struct Capture(Vec<u8>);
    impl Read for Capture {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(ErrorKind::WouldBlock.into())
        }
    }
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let connector = native_tls::TlsConnector::new().map_err(|e| format!("TLS connector: {e}"))?;
    match connector.connect("localhost", Capture(Vec::new())) {
        Err(native_tls::HandshakeError::WouldBlock(mid)) if !mid.get_ref().0.is_empty() => {
            Ok(mid.get_ref().0.clone())
        }
        _ => Err("no ClientHello captured".into()),
    }
}

// ---------------------------------------------------------------------------
// Clients that do not read

/// A WebSocket connection opened by hand: `path`, with `extra` header
/// lines; returns the stream and what came after the 101.
fn open_raw(addr: SocketAddr, path: &str, extra: &str) -> Res<(TcpStream, Vec<u8>)> {
    let mut tcp = wire::tcp_within(addr, Duration::from_secs(10))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let leftover = wire::handshake_with(&mut tcp, &addr.to_string(), path, extra)?;
    Ok((tcp, leftover))
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    let key = (wire::Rng::random().next() as u32).to_ne_bytes();
    write_frame(&mut frame, fin, opcode, payload, Some(key));
    frame
}

/// Write all of `bytes`, partial writes counted into `sent`. `Ok(false)`
/// if the write timed out (what was written is counted).
fn write_counted(stream: &mut TcpStream, bytes: &[u8], sent: &mut u64) -> io::Result<bool> {
    let mut at = 0;
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                at += n;
                *sent += n as u64;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(false);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn never_reads(target: &Target, scale: Scale) -> Res<Found> {
    let duration = scale.secs(40.0);
    let (mut tcp, _) = open_raw(target.addr(), "/echo", "")?;
    tcp.set_write_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let frame = client_frame(true, OpCode::Binary, &vec![0x5a; 64 << 10]);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut last_progress = start;
    // Stalls of a second or more: (start, end, bytes sent at the start).
    let mut stalls: Vec<(f64, f64, u64)> = Vec::new();
    let mut error = None;
    let mut writes = 0u64;
    // (seconds, bytes sent by then) at each write that made progress.
    let mut progress: Vec<(f64, u64)> = Vec::new();
    while start.elapsed() < duration && writes < 10_000_000 {
        writes += 1;
        let before = sent;
        let result = write_counted(&mut tcp, &frame, &mut sent);
        let now = Instant::now();
        if sent > before {
            if now - last_progress >= Duration::from_secs(1) {
                stalls.push((
                    (last_progress - start).as_secs_f64(),
                    (now - start).as_secs_f64(),
                    before,
                ));
            }
            last_progress = now;
            progress.push(((now - start).as_secs_f64(), sent));
        }
        if let Err(e) = result {
            error = Some(((now - start).as_secs_f64(), e));
            break;
        }
    }
    let total = start.elapsed().as_secs_f64();
    let stalled = (last_progress - start).as_secs_f64();
    if total - stalled >= 1.0 {
        stalls.push((stalled, total, sent));
    }
    drop(tcp);
    thread::sleep(Duration::from_millis(200));
    let events = target.events();
    let failed = events
        .iter()
        .find(|e| e.path == "/echo" && e.text.starts_with("run_with failed"));
    let ended = failed.and_then(|f| {
        events
            .iter()
            .find(|e| e.id == f.id && e.text.starts_with("ended"))
    });
    let mut happened = Vec::new();
    for (from, to, at) in &stalls {
        happened.push(format!(
            "the client's writes stalled from {from:.1} s to {to:.1} s (after {})",
            mib(*at)
        ));
    }
    match failed {
        Some(f) => happened.push(format!(
            "the server's send failed at {:.1} s: {}",
            f.at, f.text
        )),
        None => happened.push("the server's send did not fail".into()),
    }
    if let (Some(f), Some(e)) = (failed, ended) {
        happened.push(format!(
            "the connection ended {:.2} s after the send failed ({})",
            e.at - f.at,
            e.text
        ));
    }
    // What the server read after its send failed.
    let drained = failed.map(|f| {
        let by_then = progress
            .iter()
            .take_while(|(at, _)| *at <= f.at)
            .last()
            .map_or(0, |p| p.1);
        sent - by_then
    });
    happened.push(format!(
        "the client sent {} in all{}",
        mib(sent),
        drained.map_or(String::new(), |d| format!(
            ", {} of it after the server's send failed (drained)",
            mib(d)
        ))
    ));
    match error {
        Some((at, e)) => happened.push(format!("the client's write failed at {at:.1} s: {e}")),
        None => happened.push(format!("the client's socket saw no reset by {total:.0} s")),
    }
    Ok(Found {
        load: format!(
            "1 client sending 64 KiB messages to /echo without reading, {:.0} s at most",
            duration.as_secs_f64()
        ),
        happened,
    })
}

/// Read frames from `stream` until its end, a close frame, `enough`
/// messages or `until`. Returns the messages seen, the close code if a
/// close frame came, and how it ended.
fn read_frames(stream: &mut TcpStream, enough: u64, until: Instant) -> (u64, Option<u16>, String) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0, 0);
    let mut skip = 0u64;
    let mut messages = 0;
    loop {
        // Consume what is buffered.
        loop {
            if skip > 0 {
                let k = (end - start).min(skip as usize);
                start += k;
                skip -= k as u64;
                if skip > 0 {
                    break;
                }
            }
            let Ok(Some((header, n))) = FrameHeader::parse(&buf[start..end]) else {
                break;
            };
            if header.opcode == OpCode::Close {
                if end - start < n + 2 {
                    break;
                }
                let code = u16::from_be_bytes([buf[start + n], buf[start + n + 1]]);
                return (messages, Some(code), "close frame".into());
            }
            start += n;
            skip = header.payload_len;
            if header.fin && header.opcode != OpCode::Pong && header.opcode != OpCode::Ping {
                messages += 1;
                if messages >= enough {
                    return (messages, None, "enough".into());
                }
            }
        }
        if Instant::now() >= until {
            return (messages, None, "time".into());
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        match stream.read(&mut buf[end..]) {
            Ok(0) => return (messages, None, "end of stream".into()),
            Ok(n) => end += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (messages, None, format!("{e}")),
        }
    }
}

fn hub_never_reads(target: &Target, scale: Scale) -> Res<Found> {
    let messages = scale.count(1200) as u64;
    let size = 1 << 20;
    let origin = format!("Origin: {CHAT_ORIGIN}\r\n");
    let (mut slow, _) = open_raw(target.addr(), "/chat", &origin)?;
    let (mut publisher, _) = open_raw(target.addr(), "/chat", &origin)?;
    publisher
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    // The publisher is a member too: it reads its own messages back.
    let mut reading = publisher.try_clone().map_err(|e| e.to_string())?;
    let until = Instant::now() + Duration::from_secs(120);
    let reader = thread::spawn(move || read_frames(&mut reading, messages, until));
    let frame = client_frame(true, OpCode::Binary, &vec![0x33; size]);
    let start = Instant::now();
    let mut published = Vec::with_capacity(messages as usize);
    let mut sent = 0u64;
    let mut error = None;
    for _ in 0..messages {
        match write_counted(&mut publisher, &frame, &mut sent) {
            Ok(true) => published.push((start.elapsed().as_secs_f64(), sent)),
            Ok(false) => {
                error = Some("a write timed out (10 s)".to_string());
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let publish_time = start.elapsed().as_secs_f64();
    let (echoed, echo_close, echo_end) = reader.join().unwrap_or((0, None, "panicked".into()));
    thread::sleep(Duration::from_millis(500));
    let events = target.events();
    // What the slow member's socket holds.
    let (kept, slow_close, slow_end) =
        read_frames(&mut slow, u64::MAX, Instant::now() + Duration::from_secs(3));
    let mut happened = vec![format!(
        "{} of {} messages published in {publish_time:.1} s{}",
        count(published.len() as u64),
        count(messages),
        error.map_or(String::new(), |e| format!(" (the publisher stopped: {e})"))
    )];
    let published_by = |at: f64| count(published.iter().filter(|(t, _)| *t <= at).count() as u64);
    // The membership went from 2 down to 1: one member left.
    let chat: Vec<&Event> = events.iter().filter(|e| e.path == "/chat").collect();
    let evicted = chat
        .iter()
        .skip_while(|e| e.text != "members 2")
        .find(|e| e.text == "members 1");
    match evicted {
        Some(e) => happened.push(format!(
            "the slow member was evicted at {:.2} s, after {} messages published",
            e.at,
            published_by(e.at)
        )),
        None => happened.push("no member was evicted".into()),
    }
    for e in chat.iter().filter(|e| e.id != 0) {
        happened.push(format!(
            "member #{} ended at {:.2} s: {}",
            e.id, e.at, e.text
        ));
    }
    happened.push(format!(
        "the slow member's socket held {} messages, then {}",
        count(kept),
        slow_close.map_or(slow_end, |c| format!("a close frame {c}"))
    ));
    happened.push(format!(
        "the publisher read back {} of its messages ({})",
        count(echoed),
        echo_close.map_or(echo_end, |c| format!("closed with {c}"))
    ));
    Ok(Found {
        load: format!(
            "1 /chat member that never reads; another publishes {} messages of 1 MiB",
            count(messages)
        ),
        happened,
    })
}

// ---------------------------------------------------------------------------
// Frames and messages that never end

fn announced_frames(target: &Target, scale: Scale) -> Res<Found> {
    let mut notes = Vec::new();
    let conns = scale.sockets(400, &mut notes);
    let hold = scale.secs(10.0);
    // A masked binary frame header announcing 16 MiB (2 + 8 + 4 bytes).
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let mut held = Vec::with_capacity(conns);
    for _ in 0..conns {
        match open_raw(target.addr(), "/echo", "") {
            Ok((mut tcp, _)) => {
                if tcp.write_all(&header).is_ok() {
                    held.push(tcp);
                }
            }
            Err(e) => {
                notes.push(format!("a connection failed: {e}"));
                break;
            }
        }
    }
    thread::sleep(hold);
    // Whether the server closed any of them.
    let mut closed = 0;
    let mut probe = [0u8; 64];
    for tcp in &mut held {
        let _ = tcp.set_nonblocking(true);
        match tcp.read(&mut probe) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            // Bytes (a close frame), the end, or an error.
            _ => closed += 1,
        }
    }
    let mut happened = vec![format!(
        "{} connections announced {} MiB each ({} MiB in all) and sent nothing more; {} of \
         them ended by the server within {:.0} s",
        count(held.len() as u64),
        16,
        count(16 * held.len() as u64),
        count(closed),
        hold.as_secs_f64()
    )];
    happened.extend(notes);
    drop(held);
    Ok(Found {
        load: format!(
            "{} connections, a 14-byte header announcing 16 MiB each, held {:.0} s",
            count(conns as u64),
            hold.as_secs_f64()
        ),
        happened,
    })
}

fn partial_messages(target: &Target, scale: Scale) -> Res<Found> {
    let conns = scale.count(64);
    let fragments = 48;
    let fragment = vec![0x44u8; 1 << 20];
    let frames = Arc::new((
        client_frame(false, OpCode::Binary, &fragment),
        client_frame(false, OpCode::Continuation, &fragment),
    ));
    let deadline = Instant::now() + scale.secs(60.0);
    let hold = scale.secs(5.0);
    let addr = target.addr();
    let attackers: Vec<JoinHandle<Res<Attacker>>> = (0..conns)
        .map(|_| {
            let frames = Arc::clone(&frames);
            thread::spawn(move || {
                let (mut tcp, _) = open_raw(addr, "/echo", "")?;
                tcp.set_write_timeout(Some(Duration::from_secs(1)))
                    .map_err(|e| e.to_string())?;
                let mut reading = tcp.try_clone().map_err(|e| e.to_string())?;
                // What the writer has sent so far, read when the close
                // frame comes.
                let progress = Arc::new(AtomicU64::new(0));
                let written = Arc::clone(&progress);
                let reader = thread::spawn(move || {
                    let opened = Instant::now();
                    let (_, code, _) = read_frames(&mut reading, u64::MAX, deadline + hold);
                    let at = opened.elapsed().as_secs_f64();
                    (code, at, written.load(Ordering::Relaxed))
                });
                let mut sent = 0u64;
                let mut error = None;
                for i in 0..fragments {
                    let frame = if i == 0 { &frames.0 } else { &frames.1 };
                    let mut at = 0;
                    // A write that times out is tried again, until the
                    // deadline.
                    while at < frame.len() && Instant::now() < deadline && error.is_none() {
                        let before = sent;
                        match write_counted(&mut tcp, &frame[at..], &mut sent) {
                            Ok(_) => at += (sent - before) as usize,
                            Err(e) => error = Some(e.to_string()),
                        }
                        progress.store(sent, Ordering::Relaxed);
                    }
                }
                Ok(Attacker {
                    tcp,
                    reader,
                    sent,
                    error,
                })
            })
        })
        .collect();
    let mut done = Vec::new();
    let mut notes = Vec::new();
    for a in attackers {
        match a.join() {
            Ok(Ok(a)) => done.push(a),
            Ok(Err(e)) => notes.push(format!("an attacker failed: {e}")),
            Err(_) => notes.push("an attacker panicked".into()),
        }
    }
    thread::sleep(hold);
    for a in &done {
        let _ = a.tcp.shutdown(Shutdown::Both);
    }
    let mut codes: BTreeMap<String, (u64, f64, f64)> = BTreeMap::new();
    let mut whole = 0;
    let mut sent = 0;
    // What each connection that got a close frame had sent by then.
    let mut sent_when_closed = Vec::new();
    for a in done {
        sent += a.sent;
        if a.sent >= (fragments as u64) << 20 {
            whole += 1;
        }
        let (code, at, sent_then) = a.reader.join().unwrap_or((None, 0.0, 0));
        let what = match code {
            Some(code) => format!("got {code}"),
            None => "got no close frame".into(),
        };
        let entry = codes.entry(what).or_insert((0, f64::MAX, 0.0));
        entry.0 += 1;
        if code.is_some() {
            entry.1 = entry.1.min(at);
            entry.2 = entry.2.max(at);
            sent_when_closed.push(sent_then);
        }
        if let Some(e) = a.error {
            notes.push(format!("a write failed: {e}"));
        }
    }
    let mut happened = vec![format!(
        "{} of {} sent all 48 MiB ({} sent in all)",
        count(whole),
        count(conns as u64),
        mib(sent)
    )];
    for (what, (n, first, last)) in codes {
        if first <= last {
            happened.push(format!("{} {what} ({first:.1}–{last:.1} s)", count(n)));
        } else {
            happened.push(format!("{} {what}", count(n)));
        }
    }
    sent_when_closed.sort_unstable();
    if let (Some(least), Some(most)) = (sent_when_closed.first(), sent_when_closed.last()) {
        happened.push(format!(
            "a close frame came after {}–{} sent (median {})",
            mib(*least),
            mib(*most),
            mib(sent_when_closed[sent_when_closed.len() / 2])
        ));
    }
    notes.sort();
    notes.dedup();
    happened.extend(notes);
    Ok(Found {
        load: format!(
            "{} connections × 48 MiB of a fragmented message never finished, message_budget {} MiB",
            count(conns as u64),
            ATTACKED_BUDGET >> 20
        ),
        happened,
    })
}

/// One connection of `partial-messages`.
struct Attacker {
    tcp: TcpStream,
    reader: JoinHandle<(Option<u16>, f64, u64)>,
    sent: u64,
    error: Option<String>,
}

// ---------------------------------------------------------------------------
// The table

struct Header {
    date: String,
    cpus: String,
    model: String,
    load: String,
    commit: String,
    command: String,
    open_files: u64,
}

fn markdown(header: &Header, rows: &[Row]) -> String {
    let mut out = format!(
        "Measured {} on {} cores ({}), load average {} at the start; commit {}; open-file \
         limit {}.\n\n```sh\n{}\n```\n\n",
        header.date,
        header.cpus,
        header.model,
        header.load,
        header.commit,
        header.open_files,
        header.command
    );
    out.push_str(
        "| attack | load | before: threads / RSS / VmSize / fds | during (peak): threads / RSS / VmSize / fds | \
         server CPU during | after: threads / RSS / fds | good client during: success, p99 | \
         what happened |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&markdown_row(row));
        out.push('\n');
    }
    out
}

fn markdown_row(row: &Row) -> String {
    format!(
        "| {} | {} | {} / {} / {} / {} | {} / {} / {} / {} | {:.2} s in {:.0} s (peak {:.0}% of a core) | \
         {} / {} / {} | {}, {} | {} |",
        row.id,
        row.load,
        count(row.before.threads),
        mib(row.before.rss),
        mib(row.before.vm),
        count(row.before.fds),
        count(row.peak.threads),
        mib(row.peak.rss),
        mib(row.peak.vm),
        count(row.peak.fds),
        row.cpu.as_secs_f64(),
        row.seconds,
        row.cpu_peak * 100.0,
        count(row.after.threads),
        mib(row.after.rss),
        count(row.after.fds),
        row.good.success(),
        row.good.p99(),
        row.happened.join("; ")
    )
}

/// `n` with thousands separators.
fn count(n: u64) -> String {
    crate::report::thousands(&n.to_string())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn short(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The commit the run measured, marked when the library or the bench
/// differ from it.
fn commit() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
    };
    let hash = git(&["rev-parse", "--short", "HEAD"])
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".into(), |s| s.trim().to_owned());
    let dirty = git(&["status", "--porcelain", "--", "src", "bench/src"])
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{hash} with uncommitted changes")
    } else {
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(7_000), "7,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn answers_are_named() {
        assert_eq!(answer_label(b""), None);
        assert_eq!(
            answer_label(b"HTTP/1.1 503 Service Unavailable\r\n").as_deref(),
            Some("answered 503")
        );
        assert_eq!(
            answer_label(&[0x15, 3, 3, 0, 2]).as_deref(),
            Some("answered with a TLS alert")
        );
    }

    #[test]
    fn frames_are_counted_until_the_close() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut wire = Vec::new();
            write_frame(&mut wire, true, OpCode::Binary, &[7; 300_000], None);
            write_frame(&mut wire, false, OpCode::Text, b"ab", None);
            write_frame(&mut wire, true, OpCode::Continuation, b"c", None);
            write_frame(&mut wire, true, OpCode::Close, &1009u16.to_be_bytes(), None);
            // Byte by byte at the end, to cut the close frame.
            let (body, tail) = wire.split_at(wire.len() - 4);
            s.write_all(body).unwrap();
            for b in tail {
                s.write_all(&[*b]).unwrap();
                thread::sleep(Duration::from_millis(5));
            }
        });
        let mut client = TcpStream::connect(addr).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            read_frames(&mut client, u64::MAX, until),
            (2, Some(1009), "close frame".to_string())
        );
        server.join().unwrap();
    }

    #[test]
    fn a_client_hello_is_captured() {
        let hello = client_hello().unwrap();
        // A TLS handshake record.
        assert_eq!(hello[0], 0x16);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])) + 5,
            hello.len()
        );
    }
}

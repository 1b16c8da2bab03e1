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

mod floods;
mod good;
mod sample;
mod table;
mod unending;
mod unread;

use floods::*;
use good::*;
use sample::*;
use table::*;
use unending::*;
use unread::*;

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

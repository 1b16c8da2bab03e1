//! The compressed rows: syncws, Node `ws` and Python `websockets`, each
//! with permessage-deflate on by its own defaults, under the same client
//! (`zwire`: Chrome's offer, syncws's codec), in rounds that alternate
//! between them as in `workloads`.
//!
//! - **round trips**: connections each sending a JSON message (a ~220-byte
//!   chat message, or a 64 KiB document) and checking its echo, one at a
//!   time; server CPU and bytes on the wire (both ways, frames only, as
//!   the client's TCP socket carries them) per round trip, and the share of
//!   echoes that came compressed.
//! - **memory**: 1,000 connections to a fresh server; its resident memory
//!   per connection after the handshakes, then after 20 chat messages each
//!   way and 6 s idle (syncws hibernates a connection idle for 5 s).

use std::thread;
use std::time::{Duration, Instant};

use crate::servers::{Kind, Server};
use crate::wire::Res;
use crate::workloads::{Figures, Outcome, Params, alternate, brief, cpu_figures, start_all};
use crate::zwire::ZConn;

/// The message of a round-trip row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// A chat message of about 220 bytes, different each time (ids,
    /// users, times), as `examples/deflate_memory.rs` has it.
    Chat,
    /// A JSON document of 64 KiB (a list of items), its sequence number
    /// first.
    Json64k,
}

impl Doc {
    fn connections(self) -> usize {
        match self {
            Doc::Chat => 16,
            Doc::Json64k => 4,
        }
    }

    /// Message `seq` of connection `conn`.
    fn message(self, conn: usize, seq: u64) -> Vec<u8> {
        match self {
            Doc::Chat => chat(conn, seq),
            Doc::Json64k => document(conn, seq),
        }
    }
}

/// A chat message of about 220 bytes.
pub fn chat(conn: usize, seq: u64) -> Vec<u8> {
    let i = seq as usize;
    format!(
        r#"{{"type":"message","room":"general","id":{i},"conn":{conn},"user":{{"id":{},"name":"user{}","avatar":"/img/u{}.png"}},"text":"message number {i} says hello to everyone in the room, how are you all today?","ts":{}}}"#,
        i % 7,
        i % 7,
        i % 7,
        1_700_000_000 + i * 37
    )
    .into_bytes()
}

/// A 64 KiB JSON document.
fn document(conn: usize, seq: u64) -> Vec<u8> {
    let mut doc = format!(r#"{{"seq":{seq},"conn":{conn},"items":["#);
    let mut i = 0;
    while doc.len() < 65_536 - 200 {
        doc.push_str(&format!(
            r#"{{"id":{i},"name":"item {i}","price":{}.{:02},"tags":["t{}","t{}"],"in_stock":{}}},"#,
            i * 13 % 997,
            i % 100,
            i % 11,
            i % 17,
            i % 3 == 0
        ));
        i += 1;
    }
    doc.push_str("{}]}");
    doc.into_bytes()
}

struct Echoers {
    server: Server,
    conns: Vec<ZConn>,
    seq: u64,
}

fn open(server: &Server, n: usize) -> Res<Vec<ZConn>> {
    (0..n)
        .map(|i| {
            let conn = ZConn::open(server.addr, "/").map_err(|e| format!("connection {i}: {e}"))?;
            if conn.params.is_none() {
                return Err("the server declined permessage-deflate".into());
            }
            Ok(conn)
        })
        .collect()
}

/// Round trips of `doc` messages (text), each connection on a thread of
/// its own.
pub fn round_trips(p: &Params, kinds: &[Kind], doc: Doc) -> Outcome {
    let mut outcome = Outcome::default();
    let mut states = start_all(&mut outcome, kinds, None, None, |server| {
        let conns = open(&server, doc.connections())?;
        Ok(Echoers {
            server,
            conns,
            seq: 0,
        })
    });
    outcome.notes.push(format!(
        "{} connections, each echoing one message at a time; the client offers \
         `permessage-deflate; client_max_window_bits` and compresses with the agreed window",
        doc.connections()
    ));
    alternate(&mut outcome, &mut states, p.rounds, |st, warmup| {
        let duration = Duration::from_secs_f64(if warmup { p.warmup_secs } else { p.secs });
        let first = st.seq;
        let bytes0: u64 = st.conns.iter().map(ZConn::bytes).sum();
        let cpu0 = st.server.cpu()?;
        let t0 = Instant::now();
        let results: Vec<Res<(u64, u64)>> = thread::scope(|s| {
            let handles: Vec<_> = st
                .conns
                .iter_mut()
                .enumerate()
                .map(|(i, conn)| {
                    s.spawn(move || -> Res<(u64, u64)> {
                        let (mut count, mut compressed) = (0u64, 0u64);
                        while count < 10_000_000 && t0.elapsed() < duration {
                            let message = doc.message(i, first + count);
                            compressed += u64::from(conn.echo(&message, true)?);
                            count += 1;
                        }
                        Ok((count, compressed))
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
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = st.server.cpu()?.since(cpu0);
        let (mut total, mut compressed, mut longest) = (0, 0, 0);
        for r in results {
            let (count, c) = r?;
            total += count;
            compressed += c;
            longest = longest.max(count);
        }
        st.seq = first + longest;
        let bytes: u64 = st.conns.iter().map(ZConn::bytes).sum::<u64>() - bytes0;
        let mut f = Figures::new();
        let units = total.max(1) as f64;
        f.insert("per_s", total as f64 / elapsed);
        cpu_figures(&mut f, cpu, units, ["cpu_user", "cpu_sys", "cpu"], 1e6);
        f.insert("bytes", bytes as f64 / units);
        f.insert("compressed", compressed as f64 * 100.0 / units);
        Ok(f)
    });
    outcome
}

/// Connections per memory round.
const MEMORY_CONNS: usize = 1000;
/// Messages each way per connection before the idle time.
const MEMORY_MESSAGES: u64 = 20;
/// The idle time before the second reading (syncws hibernates after 5 s).
const MEMORY_IDLE: Duration = Duration::from_secs(6);

/// Memory per compressed connection, `p.idle_rounds` rounds per server.
pub fn memory(p: &Params, kinds: &[Kind]) -> Outcome {
    let mut outcome = Outcome::default();
    for r in 0..p.idle_rounds {
        for i in 0..kinds.len() {
            let kind = kinds[(r + i) % kinds.len()];
            if outcome.errors.contains_key(&kind) {
                continue;
            }
            match memory_round(kind, MEMORY_CONNS) {
                Ok(figures) => {
                    eprintln!("  round {} {:<12} {}", r + 1, kind.label(), brief(&figures));
                    outcome.rounds.entry(kind).or_default().push(figures);
                }
                Err(e) => outcome.fail(kind, e),
            }
        }
    }
    outcome.notes.push(format!(
        "a fresh server per round, {MEMORY_CONNS} connections, resident memory growth per \
         connection: after the handshakes, then after {MEMORY_MESSAGES} chat messages each way \
         and {} s idle",
        MEMORY_IDLE.as_secs()
    ));
    outcome
}

/// The larger of two readings of the server's resident memory, `gap` apart.
fn settled_rss(server: &Server, gap: Duration) -> Res<u64> {
    let first = server.rss()?;
    thread::sleep(gap);
    Ok(first.max(server.rss()?))
}

fn memory_round(kind: Kind, n: usize) -> Res<Figures> {
    let server = Server::start(kind, None, None)?;
    // One connection first, so that what the first one costs once (the
    // allocator's arenas, zlib's tables, lazy statics) is not counted per
    // connection.
    {
        let mut conn = open(&server, 1)?.remove(0);
        conn.echo(&chat(usize::MAX, 0), true)?;
    }
    thread::sleep(Duration::from_millis(300));
    let before = server.rss()?;
    let mut conns = open(&server, n)?;
    thread::sleep(Duration::from_millis(700));
    let handshake = settled_rss(&server, Duration::from_millis(300))?;
    for (i, conn) in conns.iter_mut().enumerate() {
        for seq in 0..MEMORY_MESSAGES {
            conn.echo(&chat(i, seq), true)
                .map_err(|e| format!("connection {i}: {e}"))?;
        }
    }
    thread::sleep(MEMORY_IDLE);
    let idle = settled_rss(&server, Duration::from_millis(300))?;
    // A last check that the connections still work.
    for (i, conn) in conns.iter_mut().enumerate().step_by((n / 16).max(1)) {
        conn.echo(&chat(i, MEMORY_MESSAGES), true)
            .map_err(|e| format!("connection {i} after idling: {e}"))?;
    }
    drop(conns);
    let per_conn = |rss: u64| rss.saturating_sub(before) as f64 / n as f64 / 1024.0;
    let mut f = Figures::new();
    f.insert("kib_handshake", per_conn(handshake));
    f.insert("kib_idle", per_conn(idle));
    f.insert("conns", n as f64);
    Ok(f)
}

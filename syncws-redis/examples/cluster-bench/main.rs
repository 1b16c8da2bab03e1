//! The cluster benchmark (not a test): cross-server delivery latency (p50,
//! p99) and broadcast deliveries per second with 1, 2 and 4 servers, for
//! syncws-redis and for Socket.IO with its Redis adapter, side by side in
//! the same run on the same `redis-server`. Run it with
//! `syncws-redis/bench/run.sh`; the figures are in the crate's README.md,
//! "Benchmark: beside Socket.IO".
//!
//! ```text
//! cluster-bench --socketio PATH/server.js [--servers 1,2,4] [--members 8]
//!     [--publishers 1] [--messages 2000] [--samples 400] [--size 64]
//! cluster-bench --serve --bind ADDR --redis URL   (a syncws-redis server)
//! cluster-bench --alone ...   (syncws-redis only: to profile it)
//! cluster-bench --one-by-one ...   (the servers publish with Room::publish)
//! ```
//!
//! It starts its own `redis-server` on a free port, and for each server
//! count and each side, that many server processes (this binary with
//! `--serve`, or `node server.js`), killed by their pids when done.
//!
//! - **Latency**: one message at a time from a member on the first server
//!   to a member on the last (with one server, another member of it): the
//!   time from the send to its arrival, on one clock (both members are in
//!   this process).
//! - **Deliveries per second**: `members` per server, the first
//!   `publishers` of each say `messages` each as fast as they can; every
//!   member (a publisher too) receives every message. Deliveries counted
//!   over the time from the first send to the last arrival; what never
//!   arrived (within 5 s of the last) is reported as lost. A round of a
//!   fifth as many messages before it warms up, uncounted.
//!
//! Before measuring, `node check.js` (beside server.js) checks with
//! Socket.IO's own client that the Socket.IO servers deliver across
//! servers, so the benchmark's client is measuring a working setup.

mod client;
mod processes;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use client::{Client, Kind};
use processes::Process;
use syncws::server::Route;
use syncws::{DeflateConfig, Message, MessageRef, Server, WebSocket};
use syncws_redis::{Cluster, PublishId};

struct Options {
    serve: bool,
    bind: String,
    redis: String,
    socketio: Option<PathBuf>,
    servers: Vec<usize>,
    members: usize,
    publishers: usize,
    messages: usize,
    samples: usize,
    size: usize,
    /// Measure syncws-redis alone (to profile it).
    alone: bool,
    /// The syncws-redis server publishes each message alone
    /// (`Room::publish`), not in batches.
    one_by_one: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        serve: false,
        bind: "127.0.0.1:0".into(),
        redis: "redis://127.0.0.1:6379/".into(),
        socketio: None,
        servers: vec![1, 2, 4],
        members: 8,
        publishers: 1,
        messages: 2000,
        samples: 400,
        size: 64,
        alone: false,
        one_by_one: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if ["--serve", "--alone", "--one-by-one"].contains(&flag.as_str()) {
            o.serve |= flag == "--serve";
            o.alone |= flag == "--alone";
            o.one_by_one |= flag == "--one-by-one";
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} {value}?"))
        };
        match flag.as_str() {
            "--bind" => o.bind = value.clone(),
            "--redis" => o.redis = value.clone(),
            "--socketio" => o.socketio = Some(PathBuf::from(&value)),
            "--servers" => {
                o.servers = value
                    .split(',')
                    .map(|n| n.parse().map_err(|_| format!("--servers {value}?")))
                    .collect::<Result<_, _>>()?
            }
            "--members" => o.members = number()?.max(2),
            "--publishers" => o.publishers = number()?.max(1),
            "--messages" => o.messages = number()?,
            "--samples" => o.samples = number()?.max(1),
            "--size" => o.size = number()?.max(24),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    o.publishers = o.publishers.min(o.members);
    Ok(o)
}

fn main() {
    let result = options().and_then(|o| if o.serve { serve(&o) } else { run(&o) });
    if let Err(e) = result {
        eprintln!("cluster-bench: {e}");
        std::process::exit(1);
    }
}

/// A syncws-redis server: `/room/NAME` joins room NAME, and each text
/// message is published to it. Exits when standard input closes.
fn serve(o: &Options) -> Result<(), String> {
    let cluster = Cluster::connect(&o.redis).map_err(|e| e.to_string())?;
    let one_by_one = o.one_by_one;
    let server = Server::bind(&o.bind)
        .map_err(|e| e.to_string())?
        .deflate(DeflateConfig::default().enabled(false))
        .websocket(Route::prefix("/room/"), move |ws| {
            if one_by_one {
                member(&cluster, ws);
            } else {
                batching_member(&cluster, ws);
            }
        })
        .serve()
        .map_err(|e| e.to_string())?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn member(cluster: &Cluster, mut ws: WebSocket) {
    let Some(request) = ws.request() else { return };
    let room = cluster.room(request.path().trim_start_matches("/room/"));
    let Ok(_membership) = room.join(ws.sender()) else {
        return;
    };
    let _ = ws.run_with(|message| {
        // Returns once Redis has it; the member sees it when Redis hands
        // it back, like everyone else.
        if let Err(e) = room.publish(message) {
            eprintln!("cluster-bench server: not published: {e}");
        }
        Ok(())
    });
}

/// Messages one batch holds at most (and waiting ones, at most).
const BATCH: usize = 64;

/// As `member`, with a group commit: the connection's thread hands what it
/// reads to a publisher thread of the connection's, which stores in one
/// batch (`Room::publish_batch`, one round trip) whatever came while the
/// previous batch was stored. One publisher per connection, so its
/// messages keep their order.
fn batching_member(cluster: &Cluster, mut ws: WebSocket) {
    let Some(request) = ws.request() else { return };
    let room = cluster.room(request.path().trim_start_matches("/room/"));
    let Ok(_membership) = room.join(ws.sender()) else {
        return;
    };
    let (queue, queued) = crossbeam_channel::bounded::<Message>(BATCH);
    let publisher = thread::Builder::new()
        .name("bench-publisher".into())
        .stack_size(64 << 10)
        .spawn(move || {
            while let Ok(first) = queued.recv() {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match queued.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let batch: Vec<(PublishId, MessageRef)> = batch
                    .iter()
                    .map(|m| (PublishId::random(), m.borrowed()))
                    .collect();
                if let Err(e) = room.publish_batch(&batch) {
                    eprintln!("cluster-bench server: not published: {e}");
                }
            }
        });
    let Ok(publisher) = publisher else { return };
    let _ = ws.run_with(|message| {
        // Waits while BATCH messages wait: the connection stops reading.
        let _ = queue.send(message.to_message());
        Ok(())
    });
    drop(queue);
    let _ = publisher.join();
}

/// Nanoseconds since the run started: the one clock of every payload.
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// `T:<ns>:` padded with `x` to `size` bytes.
fn payload(size: usize) -> String {
    marked("T", size)
}

/// `MARK:<ns>:` padded with `x` to `size` bytes.
fn marked(mark: &str, size: usize) -> String {
    let mut p = format!("{mark}:{}:", now_ns());
    while p.len() < size {
        p.push('x');
    }
    p
}

fn sent_at(payload: &str) -> Option<u64> {
    payload.strip_prefix("T:")?.split(':').next()?.parse().ok()
}

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
    lost: u64,
}

fn run(o: &Options) -> Result<(), String> {
    let socketio = o
        .socketio
        .clone()
        .ok_or("--socketio PATH/server.js is needed (see bench/run.sh)")?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let redis = processes::redis()?;
    let url = format!("redis://{}/", redis.addr);
    check(&socketio, &url)?;
    println!("load average at start: {}", load_average());
    println!(
        "{} members per server, {} publishing {} messages of {} bytes each; {} latency samples",
        o.members, o.publishers, o.messages, o.size, o.samples
    );
    println!();
    println!("| servers | server | latency p50 | latency p99 | deliveries/s | lost |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (i, &n) in o.servers.iter().enumerate() {
        let mut pair = Vec::new();
        let kinds: &[Kind] = if o.alone {
            &[Kind::Syncws]
        } else {
            &[Kind::Syncws, Kind::SocketIo]
        };
        for &kind in kinds {
            let servers = (0..n)
                .map(|_| match kind {
                    Kind::Syncws => processes::server(
                        &me,
                        &[
                            "--serve",
                            "--bind",
                            "127.0.0.1:0",
                            "--redis",
                            &url,
                            if o.one_by_one {
                                "--one-by-one"
                            } else {
                                "--serve"
                            },
                        ],
                    ),
                    Kind::SocketIo => processes::server(
                        Path::new("node"),
                        &[
                            socketio.to_str().unwrap_or_default(),
                            "--bind",
                            "127.0.0.1:0",
                            "--redis",
                            &url,
                        ],
                    ),
                })
                .collect::<Result<Vec<Process>, String>>()?;
            let figures = measure(kind, &servers, &format!("r{i}"), o)?;
            println!(
                "| {n} | {} | {} µs | {} µs | {:.0} | {} |",
                kind.name(),
                figures.p50.as_micros(),
                figures.p99.as_micros(),
                figures.per_second,
                figures.lost
            );
            pair.push(figures);
            drop(servers);
        }
        rows.push((n, pair));
    }
    println!();
    println!(
        "| servers | deliveries/s, syncws-redis ÷ Socket.IO | p99, syncws-redis ÷ Socket.IO |"
    );
    println!("|---|---|---|");
    for (n, pair) in rows.iter().filter(|(_, pair)| pair.len() == 2) {
        println!(
            "| {n} | {:.2}× | {:.2}× |",
            pair[0].per_second / pair[1].per_second.max(1.0),
            pair[0].p99.as_secs_f64() / pair[1].p99.as_secs_f64().max(1e-9)
        );
    }
    println!();
    println!("load average at end: {}", load_average());
    Ok(())
}

/// `node check.js --redis URL`, beside server.js: Socket.IO's own client
/// through two Socket.IO servers.
fn check(server_js: &Path, redis: &str) -> Result<(), String> {
    let check = server_js.with_file_name("check.js");
    let status = std::process::Command::new("node")
        .arg(&check)
        .args(["--redis", redis])
        .status()
        .map_err(|e| format!("node {}: {e}", check.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("node {} failed: {status}", check.display()))
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn measure(kind: Kind, servers: &[Process], room: &str, o: &Options) -> Result<Figures, String> {
    let (p50, p99) = latency(kind, servers, &format!("{room}-latency"), o)?;
    // A first, shorter round warms up (Node's JIT; the pools of both), and
    // is not counted.
    deliveries(kind, servers, &format!("{room}-warm"), o.messages / 5, o)?;
    let (per_second, lost) =
        deliveries(kind, servers, &format!("{room}-deliveries"), o.messages, o)?;
    Ok(Figures {
        p50,
        p99,
        per_second,
        lost,
    })
}

fn latency(
    kind: Kind,
    servers: &[Process],
    room: &str,
    o: &Options,
) -> Result<(Duration, Duration), String> {
    let (arrived, arrivals) = crossbeam_channel::unbounded();
    let from = Client::connect(kind, &servers[0].addr, room, |_| {})?;
    let last = &servers[servers.len() - 1].addr;
    let _to = Client::connect(kind, last, room, move |payload| {
        if let Some(sent) = sent_at(payload) {
            let _ = arrived.send(now_ns().saturating_sub(sent));
        }
    })?;
    // A Socket.IO join and a syncws-redis join both take effect on the
    // server after the connection: wait until a message gets through.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        from.say(&payload(o.size)).map_err(|e| e.to_string())?;
        if arrivals.recv_timeout(Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{}: nothing arrives across servers", kind.name()));
        }
    }
    while arrivals.try_recv().is_ok() {}
    let mut samples = Vec::with_capacity(o.samples);
    for _ in 0..o.samples + o.samples / 10 {
        from.say(&payload(o.size)).map_err(|e| e.to_string())?;
        let ns = arrivals
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| format!("{}: a message did not arrive in 5 s", kind.name()))?;
        samples.push(Duration::from_nanos(ns));
    }
    // The first tenth warms up.
    samples.drain(..o.samples / 10);
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Ok((at(0.50), at(0.99)))
}

fn deliveries(
    kind: Kind,
    servers: &[Process],
    room: &str,
    messages: usize,
    o: &Options,
) -> Result<(f64, u64), String> {
    let delivered = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let mut clients = Vec::new();
    for server in servers {
        for _ in 0..o.members {
            let (delivered, ready, last) = (
                Arc::clone(&delivered),
                Arc::clone(&ready),
                Arc::clone(&last),
            );
            let mut probed = false;
            clients.push(Client::connect(kind, &server.addr, room, move |payload| {
                if payload.starts_with("T:") {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    *last.lock().unwrap() = Instant::now();
                } else if !probed {
                    probed = true;
                    ready.fetch_add(1, Ordering::Relaxed);
                }
            })?);
        }
    }
    // A member is in the room once its server has joined it, after the
    // handshake: probes (not counted) until every member got one.
    let members = clients.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready.load(Ordering::Relaxed) < members {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: probes did not reach every member",
                kind.name()
            ));
        }
        clients[0]
            .say(&marked("P", o.size))
            .map_err(|e| e.to_string())?;
        thread::sleep(Duration::from_millis(50));
    }
    let publishers: Vec<&Client> = clients
        .chunks(o.members)
        .flat_map(|server| &server[..o.publishers])
        .collect();
    let expected = (publishers.len() * messages) as u64 * members;
    let start = Instant::now();
    thread::scope(|scope| {
        for publisher in &publishers {
            scope.spawn(|| {
                let text = payload(o.size);
                for _ in 0..messages {
                    if publisher.say(&text).is_err() {
                        return;
                    }
                }
            });
        }
    });
    // Until everything arrived, or nothing more did for 5 s (bounded: 120 s).
    let mut seen = (0, Instant::now());
    let give_up = start + Duration::from_secs(120);
    loop {
        let now = delivered.load(Ordering::Relaxed);
        if now >= expected || Instant::now() > give_up {
            break;
        }
        if now != seen.0 {
            seen = (now, Instant::now());
        } else if seen.1.elapsed() > Duration::from_secs(5) {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let got = delivered.load(Ordering::Relaxed);
    let took = last.lock().unwrap().saturating_duration_since(start);
    for client in &clients {
        let _ = client.sender.send_close(syncws::CloseCode::Normal, "");
    }
    Ok((
        got as f64 / took.as_secs_f64().max(1e-9),
        expected.saturating_sub(got),
    ))
}

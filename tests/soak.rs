//! Soak: nothing lost, nothing left behind.
//!
//! Many clients at once send messages of random sizes (0 bytes to 1 MiB,
//! skewed small), text and binary, some fragmented, from two threads per
//! connection while a third reads. Most go through an echo route; some
//! through a route that both echoes (from the connection's thread) and
//! broadcasts through a `Hub` (from the member's writer thread), so on the
//! server too two threads send on each of those connections. Every message
//! must arrive exactly once, intact, in order per sending thread; then the
//! threads and file descriptors of the process must be back where they
//! were.
//!
//! Each message is regenerated on arrival from its name (client, sending
//! thread, number) by a seeded xorshift generator, and compared whole.
//!
//! Each client keeps at most a window of its own bytes in flight (sent and
//! not yet back). Without one, 200 connections pushing as fast as they can
//! grow their kernel buffers (up to 32 MiB received and 4 MiB sent per
//! socket, as autotuned) past the host's `tcp_mem`; Linux then prunes
//! receive queues and drops segments, and connections stall for tens of
//! seconds in zero-window probes and retransmission backoff, whatever the
//! server does.
//!
//! This binary holds this one test only: it counts the threads and file
//! descriptors of the whole process.
//!
//! Settings (environment variables; the defaults finish in well under two
//! minutes in a debug build on two cores):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SYNCWS_SOAK_CLIENTS` | 200 | connections at once |
//! | `SYNCWS_SOAK_MESSAGES` | 50 | messages each client sends (split over its 2 sending threads) |
//! | `SYNCWS_SOAK_HUB_CLIENTS` | 20 | how many of the clients use the hub route |
//! | `SYNCWS_SOAK_MAX_SIZE` | 1048576 | largest message on the echo route |
//! | `SYNCWS_SOAK_HUB_MAX_SIZE` | 16384 | largest message on the hub route (each is delivered to every member) |
//! | `SYNCWS_SOAK_SEED` | 1 | seed of the generators |
//! | `SYNCWS_SOAK_WINDOW` | 2097152 | bytes of its own messages a client may have sent and not yet received back |
//! | `SYNCWS_SOAK_TIME_LIMIT` | 300 | seconds before the test fails as hung |
//!
//! The full size: `SYNCWS_SOAK_CLIENTS=200 SYNCWS_SOAK_MESSAGES=5000
//! SYNCWS_SOAK_TIME_LIMIT=3600 cargo test --release --test soak -- --nocapture`.

mod hostile_raw;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hostile_raw::{eventually, mib, open_fds, rss_bytes, threads};
use syncws::{CloseCode, Error, Hub, Message, Sender, Server, WebSocket};

/// Sending threads per connection.
const SENDERS: u64 = 2;
/// Stack of the test's own client threads.
const CLIENT_STACK: usize = 256 << 10;

#[derive(Debug, Clone, Copy)]
struct Settings {
    clients: u64,
    messages: u64,
    hub_clients: u64,
    max_size: u64,
    hub_max_size: u64,
    seed: u64,
    window: u64,
    time_limit: Duration,
}

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?}: {e}")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let clients = env("SYNCWS_SOAK_CLIENTS", 200).max(1);
        Settings {
            clients,
            messages: env("SYNCWS_SOAK_MESSAGES", 50),
            hub_clients: env("SYNCWS_SOAK_HUB_CLIENTS", 20).min(clients),
            max_size: env("SYNCWS_SOAK_MAX_SIZE", 1 << 20).max(1 << 17),
            hub_max_size: env("SYNCWS_SOAK_HUB_MAX_SIZE", 16 << 10).max(64),
            seed: env("SYNCWS_SOAK_SEED", 1),
            window: env("SYNCWS_SOAK_WINDOW", 2 << 20),
            time_limit: Duration::from_secs(env("SYNCWS_SOAK_TIME_LIMIT", 300)),
        }
    }

    fn is_hub(&self, client: u64) -> bool {
        client < self.hub_clients
    }

    /// How many messages sending thread `sender` of a client sends.
    fn share(&self, sender: u64) -> u64 {
        self.messages / SENDERS + u64::from(sender < self.messages % SENDERS)
    }
}

// ---------------------------------------------------------------------
// The messages
// ---------------------------------------------------------------------

/// xorshift64, seeded through splitmix64.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let end = out.len() + len;
        while out.len() + 8 <= end {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        let last = self.next().to_le_bytes();
        let missing = end - out.len();
        out.extend_from_slice(&last[..missing]);
    }
}

/// The characters of generated text beyond ASCII: 2 to 4 bytes of UTF-8.
const CHARS: [char; 4] = ['é', 'ß', '€', '😀'];

/// A message and how it is sent.
struct Planned {
    message: Message,
    /// Where it is cut into frames (byte offsets), empty for one frame.
    cuts: Vec<usize>,
}

/// The message number `seq` of sending thread `sender` of `client`: its
/// name, then contents drawn from a generator seeded with that name.
fn plan(settings: &Settings, client: u64, sender: u64, seq: u64) -> Planned {
    let mut rng = XorShift::new(
        settings.seed
            ^ client.wrapping_mul(0x0100_0000_01b3)
            ^ sender.wrapping_mul(0x9e37_79b9)
            ^ seq.wrapping_mul(0xff51_afd7_ed55_8ccd),
    );
    let hub = settings.is_hub(client);
    let text = rng.below(2) == 0;
    let max = if hub {
        settings.hub_max_size
    } else {
        settings.max_size
    };
    let roll = rng.below(1000);
    // Empty messages carry no name: only sender 0 of an echo client sends
    // them, and they are told apart by their place in its order.
    let empty = !hub && sender == 0 && roll < 10;
    let size = if roll < 900 {
        rng.below(1024)
    } else if roll < 990 {
        1024 + rng.below(63 << 10)
    } else {
        (64 << 10) + rng.below(max.saturating_sub(64 << 10))
    };
    let name = format!("{client}:{sender}:{seq};");
    let size = if empty {
        0
    } else {
        (size.min(max) as usize).max(name.len())
    };
    let mut bytes = Vec::with_capacity(size);
    if size > 0 {
        bytes.extend_from_slice(name.as_bytes());
        if text {
            // Mostly printable ASCII, with 2-, 3- and 4-byte characters.
            let mut buf = [0u8; 4];
            while bytes.len() < size {
                for b in rng.next().to_le_bytes() {
                    let c = match b {
                        0..=239 => char::from(b' ' + b % 95),
                        _ => CHARS[usize::from(b % 4)],
                    };
                    let c = if bytes.len() + c.len_utf8() > size {
                        '.'
                    } else {
                        c
                    };
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    if bytes.len() == size {
                        break;
                    }
                }
            }
        } else {
            let missing = size - bytes.len();
            rng.fill(&mut bytes, missing);
        }
    }
    let mut cuts = Vec::new();
    if size > 1 && rng.below(5) == 0 {
        let pieces = 2 + rng.below(4);
        for _ in 1..pieces {
            let mut at = rng.below(size as u64) as usize;
            if text {
                while !std::str::from_utf8(&bytes).unwrap().is_char_boundary(at) {
                    at += 1;
                }
            }
            cuts.push(at);
        }
        cuts.sort_unstable();
        cuts.dedup();
    }
    let message = if text {
        Message::Text(String::from_utf8(bytes).expect("generated text is UTF-8"))
    } else {
        Message::Binary(bytes)
    };
    Planned { message, cuts }
}

fn send(sender: &Sender, planned: &Planned) -> syncws::Result<()> {
    if planned.cuts.is_empty() {
        return sender.send_message(&planned.message);
    }
    let bytes = planned.message.as_bytes();
    let mut bounds = vec![0];
    bounds.extend_from_slice(&planned.cuts);
    bounds.push(bytes.len());
    match &planned.message {
        Message::Text(text) => {
            sender.send_text_frames(bounds.windows(2).map(|w| &text[w[0]..w[1]]))
        }
        Message::Binary(data) => {
            sender.send_binary_frames(bounds.windows(2).map(|w| &data[w[0]..w[1]]))
        }
    }
}

/// The name of a received message: client, sending thread, number.
fn name_of(message: &Message) -> Option<(u64, u64, u64)> {
    let bytes = message.as_bytes();
    let end = bytes.iter().take(40).position(|&b| b == b';')?;
    let name = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut parts = name.split(':').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

// ---------------------------------------------------------------------
// A client
// ---------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: u64,
    sent_bytes: u64,
    received: u64,
    received_bytes: u64,
}

/// What a client still expects from one sending thread: the next number,
/// and for its own messages on the hub route (which come back twice, once
/// echoed and once broadcast) the next number of the second copies.
#[derive(Debug, Clone, Copy)]
struct Expected {
    next: u64,
    next_again: Option<u64>,
    total: u64,
}

impl Expected {
    fn done(&self) -> bool {
        self.next == self.total && self.next_again.is_none_or(|n| n == self.total)
    }
}

/// A client's own bytes in flight: sent and not yet received back.
struct Flow {
    in_flight: Mutex<u64>,
    room: Condvar,
    window: u64,
    failed: AtomicBool,
}

impl Flow {
    fn new(window: u64) -> Flow {
        Flow {
            in_flight: Mutex::new(0),
            room: Condvar::new(),
            window,
            failed: AtomicBool::new(false),
        }
    }

    /// Wait until `bytes` more fit in the window (a message larger than
    /// the window goes alone).
    fn reserve(&self, bytes: u64, deadline: Instant) -> Result<(), String> {
        let mut in_flight = self.in_flight.lock().unwrap();
        while *in_flight > 0 && *in_flight + bytes > self.window {
            if self.failed.load(Ordering::Relaxed) {
                return Err("the reader failed".into());
            }
            if Instant::now() > deadline {
                return Err(format!("time is up with {} bytes in flight", *in_flight));
            }
            in_flight = self
                .room
                .wait_timeout(in_flight, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        *in_flight += bytes;
        Ok(())
    }

    fn release(&self, bytes: u64) {
        *self.in_flight.lock().unwrap() -= bytes;
        self.room.notify_all();
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
        self.room.notify_all();
    }
}

/// Run client `client`: connect, wait for `go`, send from two threads while
/// reading and checking everything that comes back, then close.
fn run_client(
    settings: Settings,
    client: u64,
    url: String,
    connected: Arc<Barrier>,
    go: Arc<Barrier>,
    deadline: Instant,
) -> Result<Tally, String> {
    let connection = syncws::connect(&url).map_err(|e| format!("connect: {e}"));
    // Reach the barriers whatever happened, so that no one waits forever.
    connected.wait();
    go.wait();
    let mut ws = connection?;
    ws.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    ws.set_write_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let sent = Arc::new(AtomicU64::new(0));
    let sent_bytes = Arc::new(AtomicU64::new(0));
    let progress: Arc<[AtomicU64; SENDERS as usize]> = Arc::new(Default::default());
    let flow = Arc::new(Flow::new(settings.window));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let sender = ws.sender();
            let (sent, sent_bytes) = (Arc::clone(&sent), Arc::clone(&sent_bytes));
            let progress = Arc::clone(&progress);
            let flow = Arc::clone(&flow);
            thread::Builder::new()
                .name(format!("soak-{client}-send-{s}"))
                .stack_size(CLIENT_STACK)
                .spawn(move || -> Result<(), String> {
                    for seq in 0..settings.share(s) {
                        let planned = plan(&settings, client, s, seq);
                        flow.reserve(planned.message.len() as u64, deadline)
                            .map_err(|e| format!("sender {s}, message {seq}: {e}"))?;
                        send(&sender, &planned)
                            .map_err(|e| format!("sender {s}, message {seq}: {e}"))?;
                        sent.fetch_add(1, Ordering::Relaxed);
                        progress[s as usize].store(seq + 1, Ordering::Relaxed);
                        sent_bytes.fetch_add(planned.message.len() as u64, Ordering::Relaxed);
                    }
                    Ok(())
                })
                .expect("spawn a sending thread")
        })
        .collect();
    let received = read_all(&settings, client, &mut ws, &flow, deadline);
    if let Err(e) = received {
        flow.fail();
        let progress: Vec<String> = (0..SENDERS)
            .map(|s| {
                let done = progress[s as usize].load(Ordering::Relaxed);
                format!("sender {s} had sent {done} of {}", settings.share(s))
            })
            .collect();
        let e = format!("{e} ({})", progress.join(", "));
        // Dropping the connection makes any sender still blocked give up.
        drop(ws);
        for handle in senders {
            let _ = handle.join();
        }
        return Err(e);
    }
    // The senders are done once everything came back.
    for (s, handle) in senders.into_iter().enumerate() {
        handle
            .join()
            .map_err(|_| format!("sender {s} panicked"))??;
    }
    let (received, received_bytes) = received?;
    // Nothing more may come: close, and the close answer must be next.
    ws.sender()
        .send_close(CloseCode::Normal, "done")
        .map_err(|e| format!("close: {e}"))?;
    match ws.read_message() {
        Err(Error::Closed(frame)) if frame.code == CloseCode::Normal => {}
        Ok(message) => {
            return Err(format!(
                "a message after everything expected: {:?}",
                name_of(&message)
            ));
        }
        other => return Err(format!("no clean close: {other:?}")),
    }
    Ok(Tally {
        sent: sent.load(Ordering::Relaxed),
        sent_bytes: sent_bytes.load(Ordering::Relaxed),
        received,
        received_bytes,
    })
}

/// Read until every expected message has arrived, checking each.
fn read_all(
    settings: &Settings,
    client: u64,
    ws: &mut WebSocket,
    flow: &Flow,
    deadline: Instant,
) -> Result<(u64, u64), String> {
    let hub = settings.is_hub(client);
    let mut expected: HashMap<(u64, u64), Expected> = HashMap::new();
    let origins: Vec<u64> = if hub {
        (0..settings.hub_clients).collect()
    } else {
        vec![client]
    };
    for &origin in &origins {
        for s in 0..SENDERS {
            expected.insert(
                (origin, s),
                Expected {
                    next: 0,
                    next_again: (hub && origin == client).then_some(0),
                    total: settings.share(s),
                },
            );
        }
    }
    let total: u64 = expected
        .values()
        .map(|e| e.total * if e.next_again.is_some() { 2 } else { 1 })
        .sum();
    let (mut received, mut bytes) = (0u64, 0u64);
    while !expected.values().all(Expected::done) {
        if Instant::now() > deadline {
            return Err(format!("time is up after {received} of {total} messages"));
        }
        if received >= total {
            return Err(format!("more than the {total} messages expected"));
        }
        let message = ws.read_message().map_err(|e| {
            let mut streams: Vec<_> = expected.iter().filter(|(_, e)| !e.done()).collect();
            streams.sort_by_key(|(name, _)| **name);
            format!("read after {received} of {total} messages: {e}; waiting for {streams:?}")
        })?;
        received += 1;
        bytes += message.len() as u64;
        let (origin, s, seq) = match name_of(&message) {
            Some(name) => name,
            None if message.is_empty() && !hub => (client, 0, expected[&(client, 0)].next),
            None => {
                return Err(format!("a message without a name: {} bytes", message.len()));
            }
        };
        let Some(stream) = expected.get_mut(&(origin, s)) else {
            return Err(format!(
                "a message from {origin}:{s}, which sends nothing here"
            ));
        };
        if seq == stream.next && seq < stream.total {
            stream.next += 1;
            if origin == client && stream.next_again.is_none() {
                flow.release(message.len() as u64);
            }
        } else if stream.next_again == Some(seq) && seq < stream.next {
            stream.next_again = Some(seq + 1);
            flow.release(message.len() as u64);
        } else {
            return Err(format!(
                "message {origin}:{s}:{seq} out of order, lost or duplicated (expected {:?})",
                stream
            ));
        }
        let planned = plan(settings, origin, s, seq);
        if planned.message != message {
            let (got, want) = (message.as_bytes(), planned.message.as_bytes());
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            return Err(format!(
                "message {origin}:{s}:{seq} damaged: {} bytes ({}) instead of {} ({}), first difference at {at:?}",
                got.len(),
                if message.is_text() { "text" } else { "binary" },
                want.len(),
                if planned.message.is_text() {
                    "text"
                } else {
                    "binary"
                },
            ));
        }
    }
    Ok((received, bytes))
}

// ---------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------

#[test]
fn soak_every_message_arrives_once_intact_in_order_and_nothing_is_left_behind() {
    let settings = Settings::from_env();
    println!("soak settings: {settings:?}");
    let threads_before = threads();
    let fds_before = open_fds();

    let hub = Hub::with_member_queue(
        (settings.hub_clients * settings.messages + 1024).min(1 << 22) as usize,
    );
    let members = hub.clone();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .stop_timeout(Duration::from_secs(5))
        .websocket("/echo", |mut ws: WebSocket| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .websocket("/hub", move |mut ws: WebSocket| {
            let _membership = members.join(ws.sender()).unwrap();
            let sender = ws.sender();
            let hub = members.clone();
            let _ = ws.run_with(|message| {
                sender.send_message(message)?;
                hub.broadcast(message);
                Ok(())
            });
        })
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let threads_serving = threads();
    let fds_serving = open_fds();

    let started = Instant::now();
    let deadline = started + settings.time_limit;
    let parties = settings.clients as usize + 1;
    let (connected, go) = (
        Arc::new(Barrier::new(parties)),
        Arc::new(Barrier::new(parties)),
    );
    let (done_tx, done_rx) = mpsc::channel();
    for client in 0..settings.clients {
        let path = if settings.is_hub(client) {
            "hub"
        } else {
            "echo"
        };
        let url = format!("ws://{addr}/{path}");
        let (connected, go, done) = (Arc::clone(&connected), Arc::clone(&go), done_tx.clone());
        thread::Builder::new()
            .name(format!("soak-{client}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                let result = run_client(settings, client, url, connected, go, deadline);
                let _ = done.send((client, result));
            })
            .expect("spawn a client thread");
    }
    drop(done_tx);
    connected.wait();
    // Every hub client must be a member before anyone broadcasts.
    eventually("every hub client joined", Duration::from_secs(30), || {
        hub.len() as u64 == settings.hub_clients
    });
    let (threads_peak, fds_peak) = (threads(), open_fds());
    let sending = Instant::now();
    go.wait();

    let mut total = Tally::default();
    let mut failures = Vec::new();
    let (mut threads_peak, mut fds_peak, mut rss_peak) = (threads_peak, fds_peak, rss_bytes());
    let mut finished = 0;
    // Bounded by the clients' own deadline, plus the time their reads may
    // block past it.
    let hung = deadline + Duration::from_secs(70);
    while finished < settings.clients {
        threads_peak = threads_peak.max(threads());
        fds_peak = fds_peak.max(open_fds());
        rss_peak = rss_peak.max(rss_bytes());
        assert!(
            Instant::now() < hung,
            "clients hung; failures so far: {failures:#?}"
        );
        let result = match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(e) => panic!("client threads gone: {e}"),
        };
        finished += 1;
        match result {
            (_, Ok(tally)) => {
                total.sent += tally.sent;
                total.sent_bytes += tally.sent_bytes;
                total.received += tally.received;
                total.received_bytes += tally.received_bytes;
            }
            (client, Err(e)) => failures.push(format!("client {client}: {e}")),
        }
    }
    let took = sending.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {} clients failed; the first: {:#?}",
        failures.len(),
        settings.clients,
        &failures[..failures.len().min(10)]
    );
    let expected_sent = settings.clients * settings.messages;
    assert_eq!(total.sent, expected_sent);

    // The clients have gone: the server is back to its idle state...
    eventually("connections closed", Duration::from_secs(30), || {
        server.connections().is_empty() && hub.is_empty()
    });
    let settle = Duration::from_secs(30);
    let mut threads_idle = 0;
    let mut fds_idle = 0;
    eventually("threads and fds back to the idle server's", settle, || {
        threads_idle = threads();
        fds_idle = open_fds();
        threads_idle == threads_serving && fds_idle == fds_serving
    });
    // ...and once stopped, the process is back to where it started.
    server.stop();
    drop(server);
    let mut threads_after = 0;
    let mut fds_after = 0;
    eventually("threads and fds back to the start", settle, || {
        threads_after = threads();
        fds_after = open_fds();
        threads_after == threads_before && fds_after == fds_before
    });

    let seconds = took.as_secs_f64();
    println!(
        "soak: {} clients ({} on the hub), {} messages sent ({:.1} MiB), {} received ({:.1} MiB) in {:.1} s \
         ({:.0} messages/s, {:.1} MiB/s received)",
        settings.clients,
        settings.hub_clients,
        total.sent,
        mib(total.sent_bytes),
        total.received,
        mib(total.received_bytes),
        seconds,
        total.received as f64 / seconds,
        mib(total.received_bytes) / seconds,
    );
    println!(
        "soak: threads {threads_before} before, {threads_serving} serving idle, {threads_peak} at the peak, \
         {threads_idle} idle again, {threads_after} after stop; \
         fds {fds_before} before, {fds_serving} serving idle, {fds_peak} at the peak, {fds_idle} idle again, {fds_after} after stop; \
         RSS peak {:.0} MiB; total {:.1} s",
        mib(rss_peak),
        started.elapsed().as_secs_f64()
    );
}

//! The permessage-deflate codec's memory and time, measured: heap per
//! connection (a counting global allocator) fresh, after 20 messages each
//! way and after hibernation, for each memory level and window; the
//! compression ratio of a ~220-byte chat message and a 64 KiB JSON
//! document; the time per compress + decompress. A report, not a test:
//!
//! ```text
//! cargo run --release --example deflate_memory
//! ```
//!
//! `deflate_memory rounds chat|doc N [MEM_LEVEL [LEVEL [TAKEOVER]]]` does only N
//! compress + decompress rounds (default settings otherwise), for
//! instruction counts:
//! `valgrind --tool=callgrind` at two values of N, the difference divided.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use syncws::protocol::deflate::{Codec, Compressor, Decompressor, Settings};

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to `System` unchanged; only counts are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        IN_USE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn in_use() -> isize {
    IN_USE.load(Ordering::Relaxed)
}

fn chat(i: usize) -> Vec<u8> {
    format!(
        r#"{{"type":"message","room":"general","id":{i},"user":{{"id":{},"name":"user{}","avatar":"/img/u{}.png"}},"text":"message number {i} says hello to everyone in the room, how are you all today?","ts":{}}}"#,
        i % 7,
        i % 7,
        i % 7,
        1_700_000_000 + i * 37
    )
    .into_bytes()
}

fn document() -> Vec<u8> {
    let mut doc = String::from("[");
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
    doc.push_str("{}]");
    doc.into_bytes()
}

/// Heap of one connection's codec (a client's: both directions) fresh,
/// after 20 messages each way, and hibernated.
fn memory(settings: Settings) -> (isize, isize, isize) {
    let now = Instant::now();
    let mut peer = Compressor::new(settings);
    let incoming: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let mut payload = Vec::new();
            peer.compress(&chat(i + 100), &mut payload).unwrap();
            payload
        })
        .collect();
    let before = in_use();
    let mut codec = Box::new(Codec::new(settings, settings, 1 << 20));
    let fresh = in_use() - before;
    let mut out = Vec::new();
    for (i, payload) in incoming.iter().enumerate() {
        out.clear();
        codec.compress(&chat(i), now, &mut out).unwrap();
        let message = codec.decompress(payload, true, now).unwrap();
        drop(message);
    }
    drop(out);
    let active = in_use() - before;
    assert!(codec.hibernate_if_idle(now + Duration::from_secs(6), Duration::from_secs(5)));
    let idle = in_use() - before;
    drop(codec);
    (fresh, active, idle)
}

/// Compressed size of `message` (the first one sent, and with context
/// takeover the second time).
fn ratio(settings: Settings, message: &[u8]) -> (usize, usize) {
    let mut compressor = Compressor::new(settings);
    let mut first = Vec::new();
    compressor.compress(message, &mut first).unwrap();
    let mut second = Vec::new();
    compressor.compress(message, &mut second).unwrap();
    (first.len(), second.len())
}

/// Bytes of 20 different chat messages sent in a row, compressed.
fn stream(settings: Settings, messages: &[Vec<u8>]) -> (usize, usize) {
    let mut compressor = Compressor::new(settings);
    let mut out = Vec::new();
    for message in &messages[..20] {
        compressor.compress(message, &mut out).unwrap();
    }
    (messages[..20].iter().map(Vec::len).sum(), out.len())
}

/// Time per compress + decompress of the `messages` in turn, with context
/// takeover, the contexts warm.
fn time(settings: Settings, messages: &[Vec<u8>], rounds: u32) -> Duration {
    let mut compressor = Compressor::new(settings);
    let mut decompressor = Decompressor::new(settings, 1 << 20);
    let mut payload = Vec::new();
    let start = Instant::now();
    for round in 0..rounds.max(1) {
        let message = &messages[round as usize % messages.len()];
        payload.clear();
        compressor.compress(message, &mut payload).unwrap();
        let got = decompressor.decompress(&payload, true).unwrap();
        assert_eq!(got.as_ref(), Some(message));
    }
    start.elapsed() / rounds.max(1)
}

fn main() {
    let chat_message = chat(1);
    let doc = document();
    // Chat messages that differ as a chat's do (ids, users, times).
    let chats: Vec<Vec<u8>> = (0..1000).map(chat).collect();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rounds") {
        let messages = if args[2] == "chat" {
            chats.clone()
        } else {
            vec![doc.clone()]
        };
        let rounds = args[3].parse().expect("a number of rounds");
        let mut settings = Settings::default();
        if let Some(mem_level) = args.get(4) {
            settings.mem_level = mem_level.parse().expect("a memory level");
        }
        if let Some(level) = args.get(5) {
            settings.level = level.parse().expect("a level");
        }
        if let Some(takeover) = args.get(6) {
            settings.context_takeover = takeover == "1";
        }
        time(settings, &messages, rounds);
        return;
    }
    println!(
        "chat message {} bytes (20 of them: {}), document {} bytes",
        chat_message.len(),
        stream(Settings::default(), &chats).0,
        doc.len()
    );
    println!(
        "{:>4} {:>4} {:>5} | {:>8} {:>10} {:>9} | {:>11} {:>15} | {:>9} {:>9}",
        "bits",
        "mem",
        "level",
        "fresh",
        "20 each",
        "idle",
        "chat 1st/20",
        "doc 1st/2nd",
        "chat µs",
        "doc µs"
    );
    for (window_bits, mem_level, level) in [
        (15, 4, 6),
        (15, 1, 6),
        (15, 2, 6),
        (15, 8, 6),
        (15, 9, 6),
        (15, 4, 1),
        (15, 4, 9),
        (12, 4, 6),
        (10, 4, 6),
        (9, 4, 6),
        (8, 4, 6),
        (8, 1, 6),
    ] {
        let mut settings = Settings::default();
        settings.window_bits = window_bits;
        settings.mem_level = mem_level;
        settings.level = level;
        let (fresh, active, idle) = memory(settings);
        let (chat1, _) = ratio(settings, &chat_message);
        let (_, chat20) = stream(settings, &chats);
        let (doc1, doc2) = ratio(settings, &doc);
        let chat_time = time(settings, &chats, 20_000);
        let doc_time = time(settings, std::slice::from_ref(&doc), 200);
        println!(
            "{window_bits:>4} {mem_level:>4} {level:>5} | {fresh:>8} {active:>10} {idle:>9} | {:>11} {:>15} | {:>9.2} {:>9.1}",
            format!("{chat1}/{chat20}"),
            format!("{doc1}/{doc2}"),
            chat_time.as_secs_f64() * 1e6,
            doc_time.as_secs_f64() * 1e6,
        );
    }
}

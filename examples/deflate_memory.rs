//! The permessage-deflate codec's memory and time, measured: heap per
//! connection (a counting global allocator) fresh, after 20 messages each
//! way and after hibernation, for each memory level and window; the
//! compression ratio of a ~220-byte chat message and a 64 KiB JSON
//! document; the time per compress + decompress. A report, not a test:
//!
//! ```text
//! cargo run --release --example deflate_memory
//! ```

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
        r#"{{"type":"message","room":"general","id":{i},"user":{{"id":{},"name":"user{}"}},"text":"message number {i} says hello to everyone in the room","ts":{}}}"#,
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

/// Time per compress + decompress of `message`, with context takeover,
/// the contexts warm.
fn time(settings: Settings, message: &[u8], rounds: u32) -> Duration {
    let mut compressor = Compressor::new(settings);
    let mut decompressor = Decompressor::new(settings, 1 << 20);
    let mut payload = Vec::new();
    let start = Instant::now();
    for _ in 0..rounds {
        payload.clear();
        compressor.compress(message, &mut payload).unwrap();
        let got = decompressor.decompress(&payload, true).unwrap();
        assert_eq!(got.as_deref(), Some(message));
    }
    start.elapsed() / rounds
}

fn main() {
    let chat_message = chat(1);
    let doc = document();
    println!(
        "chat message {} bytes, document {} bytes",
        chat_message.len(),
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
        "chat 1st/2nd",
        "doc 1st/2nd",
        "chat µs",
        "doc µs"
    );
    for (window_bits, mem_level, level) in [
        (15, 8, 6),
        (15, 1, 6),
        (15, 4, 6),
        (15, 9, 6),
        (15, 8, 1),
        (15, 8, 9),
        (12, 8, 6),
        (10, 8, 6),
        (9, 1, 6),
        (8, 1, 6),
    ] {
        let mut settings = Settings::default();
        settings.window_bits = window_bits;
        settings.mem_level = mem_level;
        settings.level = level;
        let (fresh, active, idle) = memory(settings);
        let (chat1, chat2) = ratio(settings, &chat_message);
        let (doc1, doc2) = ratio(settings, &doc);
        let chat_time = time(settings, &chat_message, 20_000);
        let doc_time = time(settings, &doc, 200);
        println!(
            "{window_bits:>4} {mem_level:>4} {level:>5} | {fresh:>8} {active:>10} {idle:>9} | {:>11} {:>15} | {:>9.2} {:>9.1}",
            format!("{chat1}/{chat2}"),
            format!("{doc1}/{doc2}"),
            chat_time.as_secs_f64() * 1e6,
            doc_time.as_secs_f64() * 1e6,
        );
    }
}

//! An echo client for the Autobahn fuzzing server (see `autobahn/run.sh`).
//!
//! `cargo run --release --example autobahn-client -- 127.0.0.1:9001 [CASE_IDS]`
//!
//! The standard Autobahn client protocol: ask the server how many cases
//! there are, run each one by echoing every message until the connection
//! ends, then ask the server to write its reports. Two cases run at a
//! time (the fuzzing server serves them concurrently).
//!
//! The compression cases (12.*, 13.*) need the permessage-deflate offer the
//! suite's reference client makes for each (see [`deflate_for`]), and the
//! fuzzing server (kosoku) numbers its cases 1, 2, ... without telling a
//! client their ids (it has no `getCaseInfo`). So `CASE_IDS` is a file of
//! the ids, one a line, in the server's order (`run.sh` writes it from
//! kosoku's case index); without it every case gets our default offer.

use std::sync::atomic::{AtomicUsize, Ordering};

use syncws::{ClientBuilder, CloseCode, Config, DeflateConfig, Message, Result, WebSocket};

const AGENT: &str = "syncws";
/// The suite sends messages of up to 16 MiB (cases 9.*): allow far more.
const LIMIT: usize = 64 << 20;
/// Cases run at once, as `run.sh` runs the server side's (`-p 2`): the
/// compression cases (12.*, 13.*) spend most of their time in zlib on one
/// end or the other, so two at a time keep two cores busy and halve the
/// run.
const WORKERS: usize = 2;

fn connect(addr: &str, path: &str, deflate: DeflateConfig) -> Result<WebSocket> {
    let config = Config::default()
        .max_frame_size(LIMIT)
        .max_message_size(LIMIT);
    ClientBuilder::new(format!("ws://{addr}{path}"))
        .config(config)
        .deflate(deflate)
        .connect()
}

/// Our default offer, every message compressed: kosoku hands a message
/// that arrives uncompressed to the 12.*/13.* cases as a `str`, which they
/// cannot hash (an ERROR verdict), so below the default threshold (32
/// bytes) their 16-byte messages would fail for the runner's sake.
fn default_deflate() -> DeflateConfig {
    DeflateConfig::default().threshold(0)
}

/// The offer the suite's reference client makes for case `id`
/// (autobahntestsuite's `case12_x_x.py`, `DEFLATE_PARAMS` for 13.*),
/// where the fuzzing server's answer for the case depends on it.
///
/// The reference offers `client_no_context_takeover` in every offer, as
/// a client that accepts being asked for it; to us (RFC 7692 §7.1.1.2) it
/// is a promise, kept whatever the answer, so it is offered only in the
/// cases whose server accepts only an offer with it (13.2, 13.5 to 13.7),
/// and the others keep context takeover. 13.7's reference offers three
/// offers in order; a syncws client makes one, the first.
fn deflate_for(id: &str) -> DeflateConfig {
    let config = default_deflate();
    let mut parts = id.split('.');
    if parts.next() != Some("13") {
        return config;
    }
    match parts.next() {
        // (server_no_context_takeover, server_max_window_bits): (false, none)
        Some("1") => config,
        // (true, none)
        Some("2") => config
            .server_no_context_takeover(true)
            .client_no_context_takeover(true),
        // (false, 9)
        Some("3") => config.server_max_window_bits(9),
        // (false, 15): at 15 our offer names no server_max_window_bits,
        // which asks for the same.
        Some("4") => config.server_max_window_bits(15),
        // (true, 9); 13.7's first offer is the same.
        Some("5" | "7") => config
            .server_no_context_takeover(true)
            .server_max_window_bits(9)
            .client_no_context_takeover(true),
        // (true, 15), the same as (true, none) to us.
        Some("6") => config
            .server_no_context_takeover(true)
            .server_max_window_bits(15)
            .client_no_context_takeover(true),
        _ => config,
    }
}

fn case_count(addr: &str) -> Result<usize> {
    let mut ws = connect(addr, "/getCaseCount", default_deflate())?;
    let message = ws.read_message()?;
    // Let the server end the connection.
    while ws.read_message().is_ok() {}
    let count = match &message {
        Message::Text(text) => text.trim().parse().ok(),
        Message::Binary(_) => None,
    };
    Ok(count.unwrap_or_else(|| panic!("bad case count: {message:?}")))
}

/// The case ids of `CASE_IDS`, checked against the server's count.
fn case_ids(path: Option<String>, count: usize) -> Vec<Option<String>> {
    let Some(path) = path else {
        return vec![None; count];
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the case ids in {path}: {e}"));
    let ids: Vec<Option<String>> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Some(line.trim().to_owned()))
        .collect();
    assert_eq!(
        ids.len(),
        count,
        "{path} lists {} case ids, the server has {count} cases",
        ids.len()
    );
    ids
}

/// Echo every message until the connection ends, one way or another: how
/// it ended is what the server judges.
fn run_case(addr: &str, case: usize, deflate: DeflateConfig) -> Result<()> {
    let mut ws = connect(
        addr,
        &format!("/runCase?case={case}&agent={AGENT}"),
        deflate,
    )?;
    let sender = ws.sender();
    ws.run_with(|message| sender.send_message(message))
        .map(drop)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let count = case_count(&addr).expect("getCaseCount failed");
    let ids = case_ids(args.next(), count);
    println!("{count} cases");
    // Each case is its own connection, judged on its own, so they run
    // `WORKERS` at a time, each worker taking the next case not taken.
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(index) else { break };
                    let deflate = id.as_deref().map_or_else(default_deflate, deflate_for);
                    let case = index + 1;
                    if let Err(e) = run_case(&addr, case, deflate) {
                        eprintln!("case {case} ({}): {e}", id.as_deref().unwrap_or("?"));
                    }
                }
            });
        }
    });
    // The fuzzing server writes its reports when this connection opens. It
    // may then drop the TCP connection without a close frame (kosoku does),
    // so how the close ends does not matter.
    let mut ws = connect(
        &addr,
        &format!("/updateReports?agent={AGENT}"),
        default_deflate(),
    )
    .expect("updateReports failed");
    let _ = ws.close(CloseCode::Normal, "");
    println!("done");
}

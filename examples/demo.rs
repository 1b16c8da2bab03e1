//! The syncws demo: the echo, status and chatroom examples with their
//! browser pages, on one server.
//!
//! ```sh
//! cargo run --release --example demo                    # http://127.0.0.1:1701/
//! cargo run --release --example demo -- --bind 0.0.0.0:8080
//! ```
//!
//! Open the printed address in a browser. Each line typed on standard input
//! is said in the chatroom by the moderator.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "common/demo_server.rs"]
mod demo_server;

const USAGE: &str =
    "usage: demo [--bind ADDR]   (default 127.0.0.1:1701; port 0 picks a free port)";

fn main() -> ExitCode {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("demo: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if log::set_logger(&Logger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let demo = match demo_server::start(addr.as_str()) {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("demo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", demo.describe());
    println!("Type a line and press Enter to say it in the chatroom as the moderator.");
    let _ = std::io::stdout().flush();

    // The moderator: standard input, line by line, into the chatroom. When
    // it ends (or there is none, as in CI) the demo goes on serving.
    let demo = std::sync::Arc::new(demo);
    let moderator = std::sync::Arc::clone(&demo);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim_end();
            if !line.is_empty() {
                let members = moderator.moderator(line);
                log::info!("moderator said {line:?} to {members} chatroom member(s)");
            }
        }
        log::info!("standard input closed: the moderator is silent from now on");
    });
    demo.handle().join();
    ExitCode::SUCCESS
}

/// The address to bind: `None` when help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<String>, String> {
    let mut addr = demo_server::DEFAULT_ADDR.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bind" => addr = args.next().ok_or("--bind needs an address")?,
            _ => match arg.strip_prefix("--bind=") {
                Some(value) => addr = value.to_owned(),
                None => return Err(format!("unknown argument {arg:?}")),
            },
        }
    }
    Ok(Some(addr))
}

/// Prints the library's log lines (connections opened and closed, refused
/// requests) to standard error, with the time of day (UTC).
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| t.as_secs());
            let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
            eprintln!(
                "{h:02}:{m:02}:{s:02} {:<5} {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

//! An echo server for the Autobahn fuzzing client (see `autobahn/run.sh`):
//! every message comes back as it came, on any path.
//!
//! `cargo run --release --example autobahn-server -- 127.0.0.1:9001`
//! (port 0 picks a free port; the bound address is printed first).
//!
//! permessage-deflate is on, as by default, with the first offer accepted
//! as it comes (the suite's cases 12.* and 13.* make the offers), and
//! every message compressed: kosoku hands a message that arrives
//! uncompressed to those cases as a `str`, which they cannot hash (an
//! ERROR verdict), so below the default threshold (32 bytes) their
//! 16-byte messages would fail for the runner's sake.

use syncws::{Config, DeflateConfig, Server};

/// The suite sends messages of up to 16 MiB (cases 9.*): allow far more.
const LIMIT: usize = 64 << 20;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let server = Server::bind(addr)?
        .config(
            Config::default()
                .max_frame_size(LIMIT)
                .max_message_size(LIMIT),
        )
        .deflate(DeflateConfig::default().threshold(0));
    println!("listening on {}", server.local_addr()?);
    server.run(|mut ws| {
        let sender = ws.sender();
        // A clean close ends with Ok; protocol errors are what some cases
        // expect, so they are not worth more than a line.
        if let Err(e) = ws.run_with(|message| sender.send_message(message)) {
            eprintln!("connection ended: {e}");
        }
    })
}

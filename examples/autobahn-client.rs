//! An echo client for the Autobahn fuzzing server (see `autobahn/run.sh`).
//!
//! `cargo run --release --example autobahn-client -- 127.0.0.1:9001`
//!
//! The standard Autobahn client protocol: ask the server how many cases
//! there are, run each one by echoing every message until the connection
//! ends, then ask the server to write its reports.

use syncws::{ClientBuilder, CloseCode, Config, Message, Result, WebSocket};

const AGENT: &str = "syncws";
/// The suite sends messages of up to 16 MiB (cases 9.*): allow far more.
const LIMIT: usize = 64 << 20;

fn connect(addr: &str, path: &str) -> Result<WebSocket> {
    let config = Config::default()
        .max_frame_size(LIMIT)
        .max_message_size(LIMIT);
    ClientBuilder::new(format!("ws://{addr}{path}"))
        .config(config)
        .connect()
}

fn case_count(addr: &str) -> Result<u32> {
    let mut ws = connect(addr, "/getCaseCount")?;
    let message = ws.read_message()?;
    // Let the server end the connection.
    while ws.read_message().is_ok() {}
    let count = match &message {
        Message::Text(text) => text.trim().parse().ok(),
        Message::Binary(_) => None,
    };
    Ok(count.unwrap_or_else(|| panic!("bad case count: {message:?}")))
}

/// Echo every message until the connection ends, one way or another: how
/// it ended is what the server judges.
fn run_case(addr: &str, case: u32) -> Result<()> {
    let mut ws = connect(addr, &format!("/runCase?case={case}&agent={AGENT}"))?;
    let sender = ws.sender();
    ws.run_with(|message| sender.send_message(message))
        .map(drop)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let count = case_count(&addr).expect("getCaseCount failed");
    println!("{count} cases");
    for case in 1..=count {
        if let Err(e) = run_case(&addr, case) {
            eprintln!("case {case}: {e}");
        }
    }
    // The fuzzing server writes its reports when this connection opens. It
    // may then drop the TCP connection without a close frame (kosoku does),
    // so how the close ends does not matter.
    let mut ws =
        connect(&addr, &format!("/updateReports?agent={AGENT}")).expect("updateReports failed");
    let _ = ws.close(CloseCode::Normal, "");
    println!("done");
}

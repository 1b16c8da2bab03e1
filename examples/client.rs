//! A command-line WebSocket client, in the manner of wscat.
//!
//! ```sh
//! cargo run --release --example client -- ws://127.0.0.1:1701/ws-echo
//! ```
//!
//! Each line typed on standard input goes out as a text message; each
//! message received is printed on standard output, one per line (binary
//! ones as a hex summary). End of input (Ctrl-D) closes the connection; so
//! may the server. Either way the client prints the close code on standard
//! error and exits with status 0; it exits with 1 when the connection fails.

use std::io::BufRead;
use std::process::ExitCode;

use syncws::{CloseCode, Error, Message};

/// The most bytes of a binary message shown in hex.
const HEX_SHOWN: usize = 32;

fn main() -> ExitCode {
    let url = match std::env::args().nth(1) {
        Some(url) if !url.starts_with('-') => url,
        _ => {
            eprintln!("usage: client ws://HOST:PORT/PATH");
            return ExitCode::from(2);
        }
    };
    let mut ws = match syncws::connect(&url) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("cannot connect to {url}: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    eprintln!("connected to {url}: type lines to send them, end of input (Ctrl-D) to close");

    // Standard input on a thread of its own, sending while this one reads.
    let sender = ws.sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if sender.send_text(&line).is_err() {
                return; // the connection is over; the reader says how
            }
        }
        let _ = sender.send_close(CloseCode::Normal, "end of input");
    });

    loop {
        match ws.read_message() {
            Ok(Message::Text(text)) => println!("{text}"),
            Ok(Message::Binary(data)) => println!("{}", hex_summary(&data)),
            Err(Error::Closed(frame)) => {
                eprintln!("closed: {frame}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("connection failed: {}", chain(&e));
                return ExitCode::FAILURE;
            }
        }
    }
}

/// `[binary, 300 bytes] 00 01 02 ... (268 more)`.
fn hex_summary(data: &[u8]) -> String {
    let mut out = format!("[binary, {} bytes]", data.len());
    for byte in data.iter().take(HEX_SHOWN) {
        out.push_str(&format!(" {byte:02x}"));
    }
    if data.len() > HEX_SHOWN {
        out.push_str(&format!(" ... ({} more)", data.len() - HEX_SHOWN));
    }
    out
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

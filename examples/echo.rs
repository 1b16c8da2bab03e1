//! An echo server: every message comes back to its sender.
//!
//! `cargo run --release --example echo -- 127.0.0.1:9001`, then connect
//! with `cargo run --release --example client -- ws://127.0.0.1:9001/`.

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let server = syncws::Server::bind(addr)?;
    println!("echo server on ws://{}/", server.local_addr()?);
    server.run(|mut ws| {
        let sender = ws.sender();
        if let Err(e) = ws.run_with(|message| sender.send_message(&message)) {
            eprintln!("connection ended: {e}");
        }
    })
}

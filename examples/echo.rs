//! An echo service and its page (Zinc's `ZnWebSocketEchoHandler`): every
//! message comes back to its sender.
//!
//! `cargo run --release --example echo`, then open <http://127.0.0.1:1701/>,
//! or `cargo run --release --example client -- ws://127.0.0.1:1701/ws-echo`.
//! An address as argument listens there instead (port 0: any free port).

use syncws::Server;

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let server = Server::bind(addr.as_deref().unwrap_or("127.0.0.1:1701"))?
        .page(
            "/",
            "text/html; charset=utf-8",
            include_str!("pages/echo.html"),
        )
        .websocket("/ws-echo", |mut ws| {
            // One thread per connection: read each message, send it back,
            // until the page closes.
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()?;
    println!("echo page on http://{}/", server.local_addr());
    server.join();
    Ok(())
}

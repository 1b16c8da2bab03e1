//! A chatroom and its page (Zinc's `ZnWebSocketChatroomHandler`): each
//! message a member sends reaches every member, its sender included. Each
//! line typed on standard input is said by the moderator.
//!
//! `cargo run --release --example chatroom`, then open
//! <http://127.0.0.1:1701/> in two windows. An address as argument listens
//! there instead (port 0: any free port).

use std::io::BufRead;

use syncws::{Hub, Message, Server};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let room = Hub::new();
    let members = room.clone();
    let server = Server::bind(addr.as_deref().unwrap_or("127.0.0.1:1701"))?
        .page(
            "/",
            "text/html; charset=utf-8",
            include_str!("pages/chatroom.html"),
        )
        .websocket("/ws-chatroom", move |mut ws| {
            // A member until this handler returns.
            // A connection that cannot be a member is closed (1013).
            let Ok(_membership) = members.join(ws.sender()) else {
                return;
            };
            let _ = ws.run_with(|message| {
                members.broadcast(message);
                Ok(())
            });
        })
        .serve()?;
    println!("chatroom page on http://{}/", server.local_addr());
    println!("Type a line and press Enter to say it as the moderator.");
    for line in std::io::stdin().lock().lines() {
        room.broadcast(&Message::from(format!("moderator>> {}", line?)));
    }
    server.join(); // standard input closed: go on serving
    Ok(())
}

//! The benchmark's clients, one code for both servers: syncws's blocking
//! client, speaking either syncws-redis's room (a text message is a
//! publish, each message of the room arrives as it was published) or
//! Socket.IO's protocol over its WebSocket transport (Engine.IO v4: the
//! open packet `0{...}`, the namespace's `40`, events as `42["m","..."]`,
//! pings `2` answered `3`). The same client on both sides, so the
//! comparison is of the servers.

use std::thread;
use std::time::Duration;

use syncws::{ClientBuilder, DeflateConfig, Message, Sender, WebSocket};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Syncws,
    SocketIo,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Syncws => "syncws-redis",
            Kind::SocketIo => "Socket.IO + redis-adapter",
        }
    }
}

/// A connected member of the room, on its server.
pub struct Client {
    kind: Kind,
    pub sender: Sender,
}

impl Client {
    /// Connect to the server at `addr`, in room `room`, and hand every
    /// payload received to `received` on a thread of its own (which ends
    /// with the connection).
    pub fn connect(
        kind: Kind,
        addr: &str,
        room: &str,
        received: impl FnMut(&str) + Send + 'static,
    ) -> Result<Client, String> {
        let url = match kind {
            Kind::Syncws => format!("ws://{addr}/room/{room}"),
            Kind::SocketIo => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        };
        // Neither side compresses: Socket.IO's default, and the same bytes.
        let mut ws = ClientBuilder::new(&url)
            .deflate(DeflateConfig::default().enabled(false))
            .connect()
            .map_err(|e| format!("{url}: {e}"))?;
        ws.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        if kind == Kind::SocketIo {
            socket_io_handshake(&mut ws)?;
        }
        let sender = ws.sender();
        let answering = ws.sender();
        thread::Builder::new()
            .name("bench-client".into())
            .stack_size(64 << 10)
            .spawn(move || read(kind, ws, &answering, received))
            .map_err(|e| e.to_string())?;
        Ok(Client { kind, sender })
    }

    /// Say `payload` to the room (no quotes or backslashes in it).
    pub fn say(&self, payload: &str) -> syncws::Result<()> {
        match self.kind {
            Kind::Syncws => self.sender.send_text(payload),
            Kind::SocketIo => self.sender.send_text(&format!(r#"42["m","{payload}"]"#)),
        }
    }
}

/// Engine.IO's open packet, then the default namespace joined.
fn socket_io_handshake(ws: &mut WebSocket) -> Result<(), String> {
    match ws.read_message() {
        Ok(Message::Text(open)) if open.starts_with('0') => {}
        other => return Err(format!("no Engine.IO open packet: {other:?}")),
    }
    ws.send_text("40").map_err(|e| e.to_string())?;
    match ws.read_message() {
        Ok(Message::Text(ack)) if ack.starts_with("40") => Ok(()),
        other => Err(format!("no namespace ack: {other:?}")),
    }
}

fn read(kind: Kind, mut ws: WebSocket, answering: &Sender, mut received: impl FnMut(&str)) {
    loop {
        let text = match ws.read_message() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => continue,
            Err(_) => return,
        };
        match kind {
            Kind::Syncws => received(&text),
            Kind::SocketIo if text == "2" => {
                let _ = answering.send_text("3");
            }
            Kind::SocketIo => {
                let payload = text
                    .strip_prefix(r#"42["m",""#)
                    .and_then(|rest| rest.strip_suffix(r#""]"#));
                if let Some(payload) = payload {
                    received(payload);
                }
            }
        }
    }
}

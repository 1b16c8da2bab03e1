//! A chat whose rooms span every server on one Redis: run three of them
//! (README.md, "Try it") and open the page of each.
//!
//! ```text
//! cargo run --release -p syncws-redis --example cluster-chat -- \
//!     --bind 127.0.0.1:8001 --redis redis://127.0.0.1:6379/
//! ```
//!
//! `/` is the page; `/room/NAME` a WebSocket that is a member of room
//! NAME; `/room/NAME?after=EPOCH:SEQ` one that resumes after that offset
//! (what it missed comes first, from the history), or is told it cannot:
//! an error, then a close with 1013 (1008 for a position that is not one;
//! 1013 too when Redis cannot be reached to join). On open the server sends
//! `{"type":"welcome","id":"<id>","after":"EPOCH:SEQ"}`: its global id
//! (`NODE-N`, which reaches it from any server) and where it joined (its
//! position is this epoch and the offset of each message since). A text
//! message that is a JSON object with `"to"`,
//! `{"to":"<id>","text":"..."}`, goes to that connection wherever it is,
//! as `{"type":"direct","from":"<id>","text":"..."}`, or is answered with
//! an error (no live server has the id, its server has no such
//! connection, or did not answer in time). Every other text message is
//! published to the room and reaches every member on every server, once
//! Redis has stored it, as
//! `{"type":"message","room":"NAME","from":"<id>","offset":N,"text":"..."}`;
//! a publish that fails is answered `{"type":"error","text":"..."}`; a loss
//! the server cannot make good closes the member with 1013. One line on
//! standard output, `listening on ADDRESS`, says the server is ready.
//!
//! Options: `--bind ADDRESS` (default 127.0.0.1:8001), `--redis URL`
//! (default redis://127.0.0.1:6379/), `--max-len N` (each room's history,
//! default 10,000 messages).

mod json;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use syncws::server::Route;
use syncws::{CloseCode, Message, MessageRef, Server, WebSocket};
use syncws_redis::{Cluster, Delivery, GlobalId, Offset, Room};

const PAGE: &str = include_str!("page.html");

/// How long a direct message waits for the answer of its connection's
/// server. The sender's reading thread waits (its room's messages do not:
/// they are queued by the cluster's reader), and a server that died is
/// "no answer" until its heartbeat expires, then "no live node".
const DIRECT_TIMEOUT: Duration = Duration::from_secs(2);

struct Options {
    bind: String,
    redis: String,
    max_len: Option<usize>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        bind: "127.0.0.1:8001".into(),
        redis: "redis://127.0.0.1:6379/".into(),
        max_len: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => options.bind = value()?,
            "--redis" => options.redis = value()?,
            "--max-len" => {
                let n = value()?;
                options.max_len = Some(n.parse().map_err(|_| format!("--max-len {n}?"))?);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let mut builder = Cluster::builder(&options.redis).envelope(envelope);
    if let Some(max_len) = options.max_len {
        builder = builder.max_len(max_len);
    }
    let cluster = builder.connect()?;
    let for_handler = cluster.clone();
    let server = Server::bind(&options.bind)?
        .page("/", "text/html; charset=utf-8", PAGE)
        .websocket(Route::prefix("/room/"), move |ws| chat(&for_handler, ws))
        .serve()?;
    // Direct messages reach this server's connections from now on: before
    // the line that says it is ready.
    cluster.serve(&server);
    println!("listening on {}", server.local_addr());
    std::io::stdout().flush()?;
    server.join();
    Ok(())
}

/// What is stored for a message: the sender's id, a newline, the text.
/// The envelope makes the JSON each member receives, with the offset that
/// only Redis knows once it stored the message.
fn stored(from: &str, text: &str) -> String {
    format!("{from}\n{text}")
}

fn envelope(delivery: &Delivery<'_>) -> Message {
    let stored = delivery.message.as_text().unwrap_or_default();
    let (from, text) = stored.split_once('\n').unwrap_or(("", stored));
    Message::from(format!(
        r#"{{"type":"message","room":{},"from":{},"offset":{},"text":{}}}"#,
        json::string(delivery.room),
        json::string(from),
        delivery.offset.seq,
        json::string(text),
    ))
}

/// One member's connection: it joins the room its path names, is welcomed
/// with its id, and publishes what it says.
fn chat(cluster: &Cluster, mut ws: WebSocket) {
    let Some(request) = ws.request() else { return };
    let name = percent_decoded(request.path().trim_start_matches("/room/"));
    if name.is_empty() {
        let _ = ws.send_text(&error("no room: connect to /room/NAME"));
        return;
    }
    // A server's connection always has one.
    let Some(id) = cluster.global_id(&ws) else {
        return;
    };
    let after = request
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("after=")))
        .map(|after| percent_decoded(after).parse::<Offset>());
    let room = cluster.room(&name);
    // The welcome tells where the member joined: its position is this
    // epoch and the offset of each message since. It comes first.
    let welcome = |after: &Offset| {
        Message::from(format!(
            r#"{{"type":"welcome","id":{},"after":{}}}"#,
            json::string(&id.to_string()),
            json::string(&after.to_string())
        ))
    };
    let joined = match after {
        None => room.join_greeted(ws.sender(), None, welcome),
        Some(Ok(after)) => room.join_greeted(ws.sender(), Some(&after), welcome),
        Some(Err(e)) => Err(e),
    };
    let _membership = match joined {
        Ok(membership) => membership,
        Err(e @ syncws_redis::Error::Lost(_)) => {
            // What the history held before the loss was sent; the rest is
            // gone, as for a loss the server reports: 1013, join again.
            let _ = ws.send_text(&error(&e.to_string()));
            let _ = ws.close(CloseCode::TryAgainLater, "cannot resume");
            return;
        }
        Err(e) => {
            let _ = ws.send_text(&error(&format!("cannot join: {e}")));
            // A position that is not one is the client's to fix; anything
            // else (Redis out of reach) may go away: try again later.
            let code = match e {
                syncws_redis::Error::InvalidOffset(_) => CloseCode::Policy,
                _ => CloseCode::TryAgainLater,
            };
            let _ = ws.close(code, "cannot join");
            return;
        }
    };
    let sender = ws.sender();
    let _ = ws.run_with(|message| {
        let answer = said(cluster, &room, &id, message);
        match answer {
            Some(answer) => sender.send_text(&answer),
            None => Ok(()),
        }
    });
}

/// Publish what a member said, or send it to the connection it names;
/// what to answer it, if anything.
fn said(cluster: &Cluster, room: &Room, id: &GlobalId, message: MessageRef<'_>) -> Option<String> {
    let MessageRef::Text(text) = message else {
        return Some(error("text messages only"));
    };
    if let Some(members) = json::object(text) {
        if let Some(to) = json::get(&members, "to") {
            let text = json::get(&members, "text").and_then(json::Value::as_str);
            return direct(cluster, id, to, text);
        }
    }
    match room.publish(MessageRef::Text(&stored(&id.to_string(), text))) {
        // The member sees its message when Redis hands it back, in the
        // room's order, like every other member.
        Ok(_) => None,
        Err(e) => Some(error(&format!("not published: {e}"))),
    }
}

/// Send `text` to the connection `to` names, wherever it is, and wait for
/// its server's answer: nothing to say to the sender once it is queued
/// there, an error otherwise.
fn direct(
    cluster: &Cluster,
    from: &GlobalId,
    to: &json::Value,
    text: Option<&str>,
) -> Option<String> {
    let Some(to) = to.as_str() else {
        return Some(error(r#"not sent: "to" is not a string"#));
    };
    let to = match to.parse::<GlobalId>() {
        Ok(to) => to,
        Err(e) => return Some(error(&format!("not sent: {e}"))),
    };
    let Some(text) = text else {
        return Some(error(r#"not sent: no "text""#));
    };
    let message = format!(
        r#"{{"type":"direct","from":{},"text":{}}}"#,
        json::string(&from.to_string()),
        json::string(text)
    );
    match cluster.send_to_confirmed(&to, MessageRef::Text(&message), DIRECT_TIMEOUT) {
        Ok(()) => None,
        Err(e) => Some(error(&format!("not sent: {e}"))),
    }
}

fn error(text: &str) -> String {
    format!(r#"{{"type":"error","text":{}}}"#, json::string(text))
}

/// `%XX` escapes decoded (the page encodes the room's name); anything
/// that does not decode to UTF-8 is kept as it came.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

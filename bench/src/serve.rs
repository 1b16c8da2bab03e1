//! The servers under test, each run in a process of its own
//! (`syncws-bench serve KIND --bind ADDR [--tls CERT KEY]`) so that its CPU
//! time and memory are its own. Each prints `listening ADDR` once bound and
//! exits when its standard input closes, so none outlives the suite.
//!
//! - `syncws`: the echo server of syncws's README (`run_with` +
//!   `send_message`), thread per connection, default settings but the
//!   frame limit.
//!   Uncompressed: permessage-deflate is on by default, so it is turned
//!   off explicitly (the rows compare with servers that do not compress).
//! - `syncws-deflate`: the same with permessage-deflate on, its defaults.
//! - `syncws-hub`: a `Hub`; connections to `/sub` join it and listen, every
//!   message from `/pub` is broadcast to them. Uncompressed.
//! - `syncws-hub-deflate`: the same with permessage-deflate on.
//! - `tungstenite`: the same echo with `tungstenite` 0.30 (sync), a thread
//!   per connection from `std::thread::spawn`, default buffers, the message
//!   and frame limits raised to 64 MiB.
//! - `raw`: length-prefixed records echoed back over plain TCP, thread per
//!   connection: the least work an echo can be, the physical limit.
//! - `attacked`: the server the attacks run against (`syncws-bench
//!   attacks`), a small production server as the README writes one:
//!   `max_connections(1000)`, keep-alive 30 s / 10 s, an echo route
//!   `/echo`, a `Hub` chatroom `/chat` with an origin allow-list
//!   ([`CHAT_ORIGIN`]), a page `/`. It prints an `event` line for every
//!   connection that does not end with the close handshake, for every
//!   echo handler whose `run_with` failed, and when the number of chatroom
//!   members changes (see [`event`]).
//! - `attacked-budget`: the same with `message_budget(256 MiB)`.
//! - `attacked-per-peer`: the same with `max_connections_per_peer(100)`.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use native_tls::{Identity, TlsAcceptor};

use crate::wire::Res;

/// Limits that let a 16 MiB message through with room to spare.
const BIG_LIMIT: usize = 64 << 20;

pub fn main(args: &[String]) -> Res<()> {
    let kind = args.first().ok_or("serve: which server?")?.clone();
    let mut bind = "127.0.0.1:0".to_owned();
    let mut tls = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--bind" => {
                bind = args.get(i + 1).ok_or("--bind ADDR")?.clone();
                i += 2;
            }
            "--tls" => {
                let cert = std::fs::read(args.get(i + 1).ok_or("--tls CERT KEY")?)
                    .map_err(|e| format!("certificate: {e}"))?;
                let key = std::fs::read(args.get(i + 2).ok_or("--tls CERT KEY")?)
                    .map_err(|e| format!("key: {e}"))?;
                tls = Some((cert, key));
                i += 3;
            }
            other => return Err(format!("serve: unknown argument {other}")),
        }
    }
    let identity = match &tls {
        Some((cert, key)) => {
            Some(Identity::from_pkcs8(cert, key).map_err(|e| format!("identity: {e}"))?)
        }
        None => None,
    };
    let addr = match kind.as_str() {
        "syncws" => serve_syncws(&bind, identity, None, Role::Echo, false)?,
        "syncws-deflate" => serve_syncws(&bind, identity, None, Role::Echo, true)?,
        "syncws-rustls" => {
            let (cert, key) = tls.as_ref().ok_or("syncws-rustls: --tls CERT KEY")?;
            serve_syncws(&bind, None, Some((cert, key)), Role::Echo, false)?
        }
        "syncws-hub" => serve_syncws(&bind, identity, None, Role::Hub, false)?,
        "syncws-hub-deflate" => serve_syncws(&bind, identity, None, Role::Hub, true)?,
        "attacked" => serve_attacked(&bind, identity, Extra::None)?,
        "attacked-budget" => serve_attacked(&bind, identity, Extra::Budget)?,
        "attacked-per-peer" => serve_attacked(&bind, identity, Extra::PerPeer)?,
        "tungstenite" => spawn_per_connection(&bind, identity, tungstenite_echo)?,
        "raw" => spawn_per_connection(&bind, identity, raw_echo)?,
        other => return Err(format!("serve: unknown server {other}")),
    };
    println!("listening {addr}");
    io::stdout().flush().map_err(|e| e.to_string())?;
    // Serve until the suite closes our standard input (or dies).
    let mut sink = [0u8; 64];
    while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    std::process::exit(0);
}

/// What a syncws server under test does with its connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Echo every message back.
    Echo,
    /// `/sub` joins a `Hub`, `/pub`'s messages are broadcast to it.
    Hub,
}

/// syncws's echo (or hub) server, over TLS through native-tls with
/// `identity` or through rustls with `rustls_pem` (certificate, key), with
/// permessage-deflate if `deflate` (its defaults), otherwise explicitly
/// without: it is on by default, and the uncompressed rows compare with
/// servers that do not compress.
fn serve_syncws(
    bind: &str,
    identity: Option<Identity>,
    rustls_pem: Option<(&[u8], &[u8])>,
    role: Role,
    deflate: bool,
) -> Res<String> {
    use syncws::{Config, DeflateConfig, Hub, Server};
    let config = Config::default()
        .max_frame_size(BIG_LIMIT)
        .max_message_size(BIG_LIMIT);
    let mut server = Server::bind(bind)
        .map_err(|e| format!("bind: {e}"))?
        .config(config)
        .deflate(DeflateConfig::default().enabled(deflate));
    if let Some(identity) = identity {
        server = server.tls(identity).map_err(|e| format!("tls: {e}"))?;
    }
    if let Some((cert, key)) = rustls_pem {
        server = server
            .rustls_pem(cert, key)
            .map_err(|e| format!("rustls: {e}"))?;
    }
    let handle = if role == Role::Hub {
        let room = Hub::new();
        let publish = room.clone();
        server
            .websocket("/sub", move |mut ws| {
                let Ok(_membership) = room.join(ws.sender()) else {
                    return;
                };
                let _ = ws.run_with(|_| Ok(()));
            })
            .websocket("/pub", move |mut ws| {
                let _ = ws.run_with(|message| {
                    publish.broadcast(message);
                    Ok(())
                });
            })
            .serve()
    } else {
        server.start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
    }
    .map_err(|e| format!("serve: {e}"))?;
    let addr = handle.local_addr().to_string();
    // The handle lives as long as the process.
    std::mem::forget(handle);
    Ok(addr)
}

/// The only origin the `attacked` server's `/chat` accepts.
pub const CHAT_ORIGIN: &str = "https://chat.example";
/// The message budget of `attacked-budget`.
pub const ATTACKED_BUDGET: usize = 256 << 20;
/// The connections one address may hold on `attacked-per-peer`.
pub const ATTACKED_PER_PEER: usize = 100;

/// What an `attacked` server sets besides the README's settings.
enum Extra {
    None,
    Budget,
    PerPeer,
}

fn serve_attacked(bind: &str, identity: Option<Identity>, extra: Extra) -> Res<String> {
    use std::time::Duration;
    use syncws::server::{ConnectionEnd, EndReason, Route};
    use syncws::{DeflateConfig, Hub, KeepAlive, Server};
    let room = Hub::new();
    // Uncompressed, as the attacks were written for (deflate is on by
    // default).
    let mut server = Server::bind(bind)
        .map_err(|e| format!("bind: {e}"))?
        .deflate(DeflateConfig::default().enabled(false))
        .keep_alive(KeepAlive::new(
            Duration::from_secs(30),
            Duration::from_secs(10),
        ))
        .max_connections(1000);
    server = match extra {
        Extra::None => server,
        Extra::Budget => server.message_budget(ATTACKED_BUDGET),
        Extra::PerPeer => server.max_connections_per_peer(ATTACKED_PER_PEER),
    };
    if let Some(identity) = identity {
        server = server.tls(identity).map_err(|e| format!("tls: {e}"))?;
    }
    let ended = |end: &ConnectionEnd| {
        if !matches!(end.reason, EndReason::Closed(_)) {
            event(
                end.info.id.0,
                &end.info.path,
                &format!(
                    "ended after {:.3} s: {}",
                    end.duration.as_secs_f64(),
                    end.reason
                ),
            );
        }
    };
    // Tell the tool when the chatroom's membership changes (a slow member
    // evicted), polled every 10 ms for at most a day.
    let members = room.clone();
    thread::spawn(move || {
        let mut last = 0;
        for _ in 0..24 * 3600 * 100 {
            let now = members.len();
            if now != last {
                event(0, "/chat", &format!("members {now}"));
                last = now;
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    let handle = server
        .page(
            "/",
            "text/html",
            "<script>new WebSocket('ws://' + location.host + '/chat')</script>",
        )
        .websocket(Route::exact("/echo").after_close(ended), |mut ws| {
            let sender = ws.sender();
            if let Err(e) = ws.run_with(|message| sender.send_message(message)) {
                event(
                    ws.id().map_or(0, |id| id.0),
                    "/echo",
                    &format!("run_with failed: {e}"),
                );
            }
        })
        .websocket(
            Route::exact("/chat")
                .origins([CHAT_ORIGIN])
                .after_close(ended),
            move |mut ws| {
                let Ok(_member) = room.join(ws.sender()) else {
                    return;
                };
                let _ = ws.run_with(|message| {
                    room.broadcast(message);
                    Ok(())
                });
            },
        )
        .serve()
        .map_err(|e| format!("serve: {e}"))?;
    let addr = handle.local_addr().to_string();
    std::mem::forget(handle);
    Ok(addr)
}

/// Tell the attack tool what happened to connection `id`: a line
/// `event UNIX_MS ID PATH TEXT` on standard output.
fn event(id: u64, path: &str, text: &str) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut out = io::stdout().lock();
    // Nobody to tell if the tool has gone.
    let _ = writeln!(out, "event {ms} {id} {path} {text}");
    let _ = out.flush();
}

/// Accept on a thread of its own; each connection gets a thread from
/// `std::thread::spawn` (2 MiB stack, of which only touched pages count).
fn spawn_per_connection(
    bind: &str,
    identity: Option<Identity>,
    serve: fn(Box<dyn crate::wire::Stream>),
) -> Res<String> {
    let listener = TcpListener::bind(bind).map_err(|e| format!("bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let acceptor = match identity {
        Some(identity) => Some(Arc::new(
            TlsAcceptor::new(identity).map_err(|e| format!("tls: {e}"))?,
        )),
        None => None,
    };
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            let acceptor = acceptor.clone();
            thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream) {
                            serve(Box::new(tls));
                        }
                    }
                    None => serve(Box::new(stream)),
                }
            });
        }
    });
    Ok(addr)
}

fn tungstenite_echo(stream: Box<dyn crate::wire::Stream>) {
    use tungstenite::protocol::WebSocketConfig;
    let config = WebSocketConfig::default()
        .max_message_size(Some(BIG_LIMIT))
        .max_frame_size(Some(BIG_LIMIT));
    let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(message) if message.is_binary() || message.is_text() => {
                if ws.send(message).is_err() {
                    break;
                }
            }
            // Pings are answered and the close handshake completed by
            // tungstenite itself.
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// Echo raw records: read into one buffer, write back every whole record
/// it holds with one write, keep the rest. A record of length 0 asks the
/// server to close.
fn raw_echo(mut stream: Box<dyn crate::wire::Stream>) {
    let _ = raw_echo_loop(&mut stream);
}

fn raw_echo_loop(stream: &mut Box<dyn crate::wire::Stream>) -> io::Result<()> {
    let mut buf = vec![0u8; 4 << 10];
    let mut filled = 0;
    loop {
        // Make room for the rest of a large record, so it is read in place.
        let want = match buf[..filled].first_chunk::<4>() {
            Some(len) => 4 + u32::from_be_bytes(*len) as usize,
            None => 4,
        };
        if want > buf.len() {
            buf.resize(want, 0);
        } else if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        // The whole records at the front.
        let mut whole = 0;
        let mut goodbye = false;
        while let Some(len) = buf[whole..filled].first_chunk::<4>() {
            let len = u32::from_be_bytes(*len) as usize;
            if len == 0 {
                goodbye = true;
                break;
            }
            if filled - whole < 4 + len {
                break;
            }
            whole += 4 + len;
        }
        if whole > 0 {
            stream.write_all(&buf[..whole])?;
            buf.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if goodbye {
            // Close first, as a WebSocket server does (§7.1.1).
            return Ok(());
        }
    }
}

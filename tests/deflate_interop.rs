//! permessage-deflate (RFC 7692) against other implementations, as a user
//! of either side sees it: the messages round-trip, both ends say they
//! agreed on compression (or both say they did not), and the bytes on the
//! wire, counted by a relay between the two, are fewer than the payload.
//!
//! - Python `websockets` (compression on by default there) as client and as
//!   server, with its default offer and with window and context-takeover
//!   variants. The Python is the venv `scripts/test-all.sh` makes (or
//!   `SYNCWS_PYTHON`).
//! - Node `ws` with `perMessageDeflate` (threshold 0: it compresses every
//!   message), both ways; the `ws` package is `bench/node`'s, installed by
//!   `npm ci` there (`scripts/test-all.sh` does it).
//! - tungstenite, which has no deflate: the offer is declined both ways and
//!   messages flow uncompressed.
//! - The RSV rules of RFC 7692 §6.1 and the inflate errors, at the
//!   connection level, from a client writing frames by hand.
//!
//! A missing Python or Node makes its tests say so and pass, except in CI
//! (`CI` set), where they fail.
#![cfg(feature = "deflate")]

mod child;
mod hostile_raw;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use child::{Killed, line_with, lines_of, peer_script, python};
use hostile_raw::{RawWs, TIMEOUT, raw_frame};
use syncws::protocol::deflate::{Compressor, Decompressor, Settings};
use syncws::protocol::extension::permessage_deflate::Negotiated;
use syncws::{ClientBuilder, CloseCode, Config, Message, Server, ServerHandle, WebSocket};

/// How long a peer process may take for its whole exchange.
const PEER_TIMEOUT: Duration = Duration::from_secs(60);
/// The most messages one connection of these tests carries (bounds loops).
const MAX_MESSAGES: usize = 1000;

fn big_limits() -> Config {
    Config::default()
        .max_message_size(32 << 20)
        .max_frame_size(32 << 20)
}

// ---------------------------------------------------------------------------
// Messages

/// A JSON document of at least `size` bytes, compressible as such
/// documents are.
fn json_document(size: usize) -> String {
    let mut doc = String::from("[");
    for i in 0.. {
        if doc.len() >= size {
            break;
        }
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            r#"{{"id":{i},"name":"item {i}","price":{},"tags":["red","green"]}}"#,
            i * 7 % 101
        ));
    }
    doc.push(']');
    doc
}

/// Below the threshold (32 bytes), a chat line, a 64 KiB JSON document and
/// 256 KiB of compressible binary.
fn messages() -> Vec<Message> {
    vec![
        Message::from("hi"),
        Message::Binary(vec![0, 1, 255]),
        Message::from(r#"{"type":"chat","user":"ada","text":"hello, room; héllo wörld"}"#),
        Message::Text(json_document(64 << 10)),
        Message::Binary((0..256 << 10).map(|i: usize| (i * 7 % 251) as u8).collect()),
    ]
}

/// `text` cut into `n` pieces (at character boundaries).
fn pieces(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    for left in (1..=n).rev() {
        let mut at = rest.len() / left;
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (piece, tail) = rest.split_at(at);
        out.push(piece);
        rest = tail;
    }
    out
}

// ---------------------------------------------------------------------------
// A relay that counts the bytes on the wire

/// A TCP relay in front of `target` for one connection, counting the bytes
/// that pass each way: what compression saves, as a user would measure it.
struct Relay {
    addr: SocketAddr,
    to_server: Arc<AtomicU64>,
    to_client: Arc<AtomicU64>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let to_server = Arc::new(AtomicU64::new(0));
        let to_client = Arc::new(AtomicU64::new(0));
        let (up, down) = (Arc::clone(&to_server), Arc::clone(&to_client));
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            // Polled within a deadline, so that a test that never connects
            // does not leave this thread behind for good.
            let deadline = Instant::now() + PEER_TIMEOUT;
            let client = loop {
                match listener.accept() {
                    Ok((client, _)) => break client,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                    Err(_) => return,
                }
            };
            client.set_nonblocking(false).unwrap();
            let server = TcpStream::connect(target).unwrap();
            for stream in [&client, &server] {
                stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
                stream.set_nodelay(true).unwrap();
            }
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || pipe(c2, s2, &up));
            pipe(server, client, &down);
        });
        Relay {
            addr,
            to_server,
            to_client,
        }
    }

    /// The bytes relayed to the server so far. Once a close handshake
    /// completed through the relay, every byte of the connection has
    /// passed (each is counted before it is passed on).
    fn to_server(&self) -> u64 {
        self.to_server.load(Ordering::SeqCst)
    }

    fn to_client(&self) -> u64 {
        self.to_client.load(Ordering::SeqCst)
    }
}

/// Copy `from` to `to`, counting, until `from` ends (or a read times out).
fn pipe(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        count.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[track_caller]
fn assert_compressed(wire: u64, payload: u64, what: &str) {
    println!("{what}: {wire} bytes on the wire for {payload} bytes of messages");
    assert!(
        wire * 2 < payload,
        "{what}: {wire} bytes on the wire for {payload} bytes of messages: not compressed"
    );
}

// ---------------------------------------------------------------------------
// Our side

/// Our server (deflate on, its defaults): echoes every message, and
/// answers "frames" with the last text message it received, sent again
/// in four frames (`send_text_frames`, one compressed message). What each
/// connection agreed is sent on the channel.
fn our_server() -> (ServerHandle, mpsc::Receiver<Option<Negotiated>>) {
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(big_limits())
        .start(move |mut ws: WebSocket| {
            let _ = tx.send(ws.deflate().cloned());
            let _ = ws.set_read_timeout(Some(PEER_TIMEOUT));
            let sender = ws.sender();
            let mut last = String::new();
            for _ in 0..MAX_MESSAGES {
                let sent = match ws.read_message() {
                    Ok(Message::Text(text)) if text == "frames" => {
                        sender.send_text_frames(pieces(&last, 4))
                    }
                    Ok(Message::Text(text)) => {
                        let sent = sender.send_text(&text);
                        last = text;
                        sent
                    }
                    Ok(message) => sender.send_message(&message),
                    Err(_) => return,
                };
                if sent.is_err() {
                    return;
                }
            }
        })
        .unwrap();
    (server, rx)
}

/// What our server's connection agreed, within the deadline.
fn agreed(rx: &mpsc::Receiver<Option<Negotiated>>) -> Option<Negotiated> {
    rx.recv_timeout(PEER_TIMEOUT)
        .expect("our server got a connection")
}

/// Our client's side of an exchange with an echo server: every message of
/// [`messages`], then the JSON document in four frames; each echo must be
/// what was sent. The bytes of messages sent.
fn exchange_as_client(ws: &mut WebSocket) -> u64 {
    ws.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    let mut payload = 0;
    for message in messages() {
        ws.send_message(&message).unwrap();
        payload += message.len() as u64;
        let echo = ws.read_message().unwrap();
        assert!(
            echo == message,
            "the echo of a message of {}",
            message.len()
        );
    }
    let document = json_document(64 << 10);
    ws.send_text_frames(pieces(&document, 4)).unwrap();
    payload += document.len() as u64;
    assert_eq!(ws.read_message().unwrap(), Message::Text(document));
    payload
}

// ---------------------------------------------------------------------------
// Peer processes

/// Run a peer to its end; its standard output's lines. Panics with its
/// output unless it exits successfully within [`PEER_TIMEOUT`].
fn run_peer(mut command: Command) -> Vec<String> {
    let mut peer = Killed(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the peer"),
    );
    let lines = lines_of(peer.0.stdout.take().unwrap());
    let errors = lines_of(peer.0.stderr.take().unwrap());
    let deadline = Instant::now() + PEER_TIMEOUT;
    let status = loop {
        if let Some(status) = peer.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the peer did not finish in {PEER_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let out: Vec<String> = collect(&lines);
    let err: Vec<String> = collect(&errors);
    assert!(
        status.success() && out.last().map(String::as_str) == Some("ok"),
        "the peer ended with {status}:\n{}\n{}",
        out.join("\n"),
        err.join("\n")
    );
    out
}

/// The lines of a pipe whose process has ended.
fn collect(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(line) = lines.recv_timeout(TIMEOUT) {
        out.push(line);
    }
    out
}

/// The value of the peer's line `key ...`.
#[track_caller]
fn said<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no line {key:?} from the peer: {lines:?}"))
}

/// A peer server: started, its port read from its "port N" line; its
/// standard input (closing it stops the server) and its other lines.
struct PeerServer {
    _child: Killed,
    _stdin: ChildStdin,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl PeerServer {
    fn start(mut command: Command) -> PeerServer {
        let mut child = Killed(
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the peer server"),
        );
        let stdin = child.0.stdin.take().unwrap();
        let lines = lines_of(child.0.stdout.take().unwrap());
        let line = line_with(&lines, "port ");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the peer server said {line:?}"));
        PeerServer {
            _child: child,
            _stdin: stdin,
            port,
            lines,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// What the server said its connection agreed.
    fn extensions(&self) -> String {
        line_with(&self.lines, "extensions ")
    }
}

fn python_command(python: &PathBuf, script: &str) -> Command {
    let mut command = Command::new(python);
    // No __pycache__ left in tests/peers by the shared module.
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(peer_script(script));
    command
}

/// Node and the `ws` package of `bench/node`; `None`, with a note, when
/// either is missing, and a panic under `CI`, where both must be there.
fn node() -> Option<Command> {
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/node/node_modules");
    let node_runs = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let usable = node_runs && modules.join("ws/package.json").exists();
    if !usable {
        assert!(
            std::env::var_os("CI").is_none(),
            "Node and bench/node's ws are required in CI: run scripts/test-all.sh"
        );
        eprintln!(
            "Node or its ws package not found: skipped (install Node, then `npm ci` in bench/node)"
        );
        return None;
    }
    let mut command = Command::new("node");
    command.env("NODE_PATH", modules);
    Some(command)
}

// ---------------------------------------------------------------------------
// Python websockets

/// A Python client with `variant`'s offer against our server, through the
/// relay; what our server agreed, and the client's lines.
fn python_client_against_our_server(variant: &str) -> Option<(Negotiated, Vec<String>)> {
    let python = python("websockets.sync.client")?;
    let (server, agreements) = our_server();
    let relay = Relay::start(server.local_addr());
    let mut command = python_command(&python, "deflate_ws_client.py");
    command.arg(format!("ws://{}/", relay.addr)).arg(variant);
    let lines = run_peer(command);
    let negotiated = agreed(&agreements).expect("our server agreed on permessage-deflate");
    assert!(
        said(&lines, "extensions").starts_with("permessage-deflate"),
        "{lines:?}"
    );
    assert!(
        said(&lines, "agreed").contains("PerMessageDeflate"),
        "{lines:?}"
    );
    let payload: u64 = said(&lines, "payload").parse().unwrap();
    assert_compressed(
        relay.to_server(),
        payload,
        &format!("Python client ({variant}) to our server"),
    );
    assert_compressed(
        relay.to_client(),
        payload,
        &format!("our server to the Python client ({variant})"),
    );
    Some((negotiated, lines))
}

#[test]
fn python_websockets_default_client_compresses_with_our_server() {
    let Some((negotiated, _)) = python_client_against_our_server("default") else {
        return;
    };
    // websockets' client offers `permessage-deflate; client_max_window_bits`
    // (as Chrome does): our server's defaults, window 15 each way.
    let params = negotiated.params;
    assert_eq!(params.server_to_client.window_bits, 15, "{params:?}");
    assert_eq!(params.client_to_server.window_bits, 15, "{params:?}");
    assert!(params.server_to_client.context_takeover, "{params:?}");
    assert!(params.client_to_server.context_takeover, "{params:?}");
}

#[test]
fn python_websockets_client_with_client_max_window_bits_10() {
    let Some((negotiated, lines)) = python_client_against_our_server("window10") else {
        return;
    };
    let params = negotiated.params;
    assert_eq!(params.client_to_server.window_bits, 10, "{params:?}");
    assert!(
        said(&lines, "extensions").contains("client_max_window_bits=10"),
        "{lines:?}"
    );
}

#[test]
fn python_websockets_client_without_context_takeover() {
    let Some((negotiated, lines)) = python_client_against_our_server("no_takeover") else {
        return;
    };
    let params = negotiated.params;
    assert!(!params.server_to_client.context_takeover, "{params:?}");
    assert!(!params.client_to_server.context_takeover, "{params:?}");
    let answer = said(&lines, "extensions");
    assert!(
        answer.contains("server_no_context_takeover")
            && answer.contains("client_no_context_takeover"),
        "{answer}"
    );
}

/// Our client against a Python server of `variant`, through the relay;
/// what our client agreed and what the server said it agreed.
fn our_client_against_python_server(variant: &str) -> Option<(Negotiated, String)> {
    let python = python("websockets.sync.server")?;
    let mut command = python_command(&python, "deflate_ws_server.py");
    command.arg(variant);
    let server = PeerServer::start(command);
    let relay = Relay::start(server.addr());
    let mut ws = ClientBuilder::new(format!("ws://{}/", relay.addr))
        .config(big_limits())
        .connect()
        .unwrap();
    let negotiated = ws
        .deflate()
        .cloned()
        .expect("our client agreed on permessage-deflate");
    let payload = exchange_as_client(&mut ws);
    let answer = ws.close(CloseCode::Normal, "").unwrap();
    assert_eq!(answer.code, CloseCode::Normal);
    let extensions = server.extensions();
    assert!(extensions.contains("permessage-deflate"), "{extensions}");
    let agreed = line_with(&server.lines, "agreed ");
    assert!(agreed.contains("PerMessageDeflate"), "{agreed}");
    assert_compressed(
        relay.to_server(),
        payload,
        &format!("our client to the Python server ({variant})"),
    );
    assert_compressed(
        relay.to_client(),
        payload,
        &format!("the Python server ({variant}) to our client"),
    );
    Some((negotiated, extensions))
}

#[test]
fn our_client_compresses_with_a_default_python_websockets_server() {
    let Some((negotiated, _)) = our_client_against_python_server("default") else {
        return;
    };
    // websockets answers server_max_window_bits=12; client_max_window_bits=12.
    let params = negotiated.params;
    assert_eq!(params.server_to_client.window_bits, 12, "{params:?}");
    assert_eq!(params.client_to_server.window_bits, 12, "{params:?}");
}

#[test]
fn our_client_with_a_python_server_limiting_its_window_to_10() {
    let Some((negotiated, extensions)) = our_client_against_python_server("window10") else {
        return;
    };
    let params = negotiated.params;
    assert_eq!(params.server_to_client.window_bits, 10, "{extensions}");
}

#[test]
fn our_client_with_a_python_server_without_context_takeover() {
    let Some((negotiated, extensions)) = our_client_against_python_server("no_takeover") else {
        return;
    };
    let params = negotiated.params;
    assert!(!params.server_to_client.context_takeover, "{extensions}");
    assert!(!params.client_to_server.context_takeover, "{extensions}");
}

// ---------------------------------------------------------------------------
// Node ws

#[test]
fn node_ws_client_compresses_with_our_server() {
    let Some(mut command) = node() else {
        return;
    };
    let (server, agreements) = our_server();
    let relay = Relay::start(server.local_addr());
    command
        .arg(peer_script("deflate_ws_client.js"))
        .arg(format!("ws://{}/", relay.addr));
    let lines = run_peer(command);
    assert!(
        agreed(&agreements).is_some(),
        "our server agreed on deflate"
    );
    assert!(
        said(&lines, "extensions").starts_with("permessage-deflate"),
        "{lines:?}"
    );
    let payload: u64 = said(&lines, "payload").parse().unwrap();
    assert_compressed(relay.to_server(), payload, "Node ws client to our server");
    assert_compressed(
        relay.to_client(),
        payload,
        "our server to the Node ws client",
    );
}

#[test]
fn our_client_compresses_with_a_node_ws_server() {
    let Some(mut command) = node() else {
        return;
    };
    command.arg(peer_script("deflate_ws_server.js"));
    let server = PeerServer::start(command);
    let relay = Relay::start(server.addr());
    let mut ws = ClientBuilder::new(format!("ws://{}/", relay.addr))
        .config(big_limits())
        .connect()
        .unwrap();
    assert!(ws.deflate().is_some(), "our client agreed on deflate");
    let payload = exchange_as_client(&mut ws);
    let answer = ws.close(CloseCode::Normal, "").unwrap();
    assert_eq!(answer.code, CloseCode::Normal);
    let extensions = server.extensions();
    assert!(extensions.contains("permessage-deflate"), "{extensions}");
    assert_compressed(
        relay.to_server(),
        payload,
        "our client to the Node ws server",
    );
    assert_compressed(
        relay.to_client(),
        payload,
        "the Node ws server to our client",
    );
}

// ---------------------------------------------------------------------------
// tungstenite (no deflate)

fn tungstenite_limits() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_frame_size(Some(32 << 20))
        .max_message_size(Some(32 << 20))
}

#[test]
fn a_tungstenite_client_makes_no_offer_and_our_server_sends_uncompressed() {
    let (server, agreements) = our_server();
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, response) =
        tungstenite::client::client_with_config(url, stream, Some(tungstenite_limits())).unwrap();
    assert!(
        response.headers().get("Sec-WebSocket-Extensions").is_none(),
        "{response:?}"
    );
    assert!(agreed(&agreements).is_none(), "no offer, no deflate");
    // tungstenite fails on a frame with RSV1: these echoes prove none came.
    for message in messages() {
        let sent = match &message {
            Message::Text(text) => tungstenite::Message::text(text.as_str()),
            Message::Binary(data) => tungstenite::Message::binary(data.clone()),
        };
        ws.send(sent.clone()).unwrap();
        assert!(ws.read().unwrap() == sent, "echo of {}", message.len());
    }
    ws.close(None).unwrap();
}

#[test]
fn our_offer_is_declined_by_a_tungstenite_server_and_messages_flow() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    // tungstenite's echo server for one connection; how it ended
    // (ConnectionClosed after a clean close).
    let peer = thread::spawn(move || -> tungstenite::Error {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut ws = tungstenite::accept_with_config(stream, Some(tungstenite_limits())).unwrap();
        for _ in 0..MAX_MESSAGES {
            let message = match ws.read() {
                Ok(message) => message,
                Err(end) => return end,
            };
            if message.is_text() || message.is_binary() {
                if let Err(end) = ws.send(message) {
                    return end;
                }
            }
        }
        panic!("more than {MAX_MESSAGES} messages");
    });
    let mut ws = ClientBuilder::new(url)
        .config(big_limits())
        .connect()
        .unwrap();
    assert!(
        ws.deflate().is_none(),
        "tungstenite declines permessage-deflate"
    );
    ws.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    for message in messages() {
        ws.send_message(&message).unwrap();
        assert!(
            ws.read_message().unwrap() == message,
            "echo of {}",
            message.len()
        );
    }
    let document = json_document(64 << 10);
    ws.send_text_frames(pieces(&document, 4)).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text(document));
    ws.close(CloseCode::Normal, "").unwrap();
    let end = peer.join().unwrap();
    assert!(
        matches!(end, tungstenite::Error::ConnectionClosed),
        "{end:?}"
    );
}

// ---------------------------------------------------------------------------
// RSV rules and inflate errors at the connection level (RFC 7692 §6.1)

/// A compressed payload of `message`, as a client's fresh compressor makes
/// it (window 15, RFC 7692 §7.2.1: the tail `00 00 ff ff` removed).
fn compressed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new(Settings::default())
        .compress(message, &mut out)
        .unwrap();
    out
}

/// A raw client of our echo server that offered permessage-deflate and had
/// it accepted.
fn deflate_client(server: &ServerHandle) -> RawWs {
    let (ws, answer) = RawWs::connect_offering(server.local_addr(), "/", "permessage-deflate");
    let answer = answer.expect("our server answers the offer");
    assert!(answer.starts_with("permessage-deflate"), "{answer}");
    ws
}

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const PING: u8 = 0x9;

#[test]
fn a_compressed_frame_by_hand_is_inflated_and_answered_compressed() {
    let (server, _) = our_server();
    let mut ws = deflate_client(&server);
    let text = json_document(1000);
    ws.send_raw(&raw_frame(
        FIN | RSV1 | TEXT,
        &compressed(text.as_bytes()),
        true,
    ))
    .unwrap();
    let echo = ws.read_frame().unwrap();
    assert_eq!(echo.opcode, TEXT);
    // The echo has RSV1 (read_frame keeps the opcode's nibble only): it
    // inflates, with a decompressor of the server's window, to the text.
    let mut inflate = Decompressor::new(Settings::default(), 1 << 20);
    let inflated = inflate.decompress(&echo.payload, true).unwrap();
    assert_eq!(inflated.as_deref(), Some(text.as_bytes()));
    assert!(echo.payload.len() < text.len() / 2, "compressed echo");
}

/// Each case on a connection of its own: the close code our server
/// answers with.
fn close_code_for(frames: &[Vec<u8>], offer: bool) -> u16 {
    let (server, _) = our_server();
    let mut ws = if offer {
        deflate_client(&server)
    } else {
        hostile_raw::RawWs::connect(server.local_addr(), "/")
    };
    for frame in frames {
        // The server may fail the connection before the last bytes.
        let _ = ws.send_raw(frame);
    }
    let seen = ws.read_close().expect("a close frame from the server");
    seen.code.expect("a close code")
}

#[test]
fn rsv1_on_a_continuation_frame_is_1002() {
    let payload = compressed(json_document(2000).as_bytes());
    let (first, rest) = payload.split_at(payload.len() / 2);
    let frames = [
        raw_frame(RSV1 | TEXT, first, true),
        raw_frame(FIN | RSV1, rest, true),
    ];
    assert_eq!(close_code_for(&frames, true), 1002);
}

#[test]
fn rsv1_on_a_ping_is_1002() {
    let frames = [raw_frame(FIN | RSV1 | PING, b"x", true)];
    assert_eq!(close_code_for(&frames, true), 1002);
}

#[test]
fn rsv1_without_deflate_negotiated_is_1002() {
    let frames = [raw_frame(FIN | RSV1 | TEXT, &compressed(b"hello"), true)];
    assert_eq!(close_code_for(&frames, false), 1002);
}

#[test]
fn rsv2_and_rsv3_are_1002_with_deflate_negotiated() {
    for rsv in [RSV2, RSV3, RSV1 | RSV2] {
        let frames = [raw_frame(FIN | rsv | BINARY, b"data", true)];
        assert_eq!(close_code_for(&frames, true), 1002, "rsv bits {rsv:#x}");
    }
}

#[test]
fn invalid_deflate_data_is_1002() {
    // 0xff: a final block of the reserved type 11 (RFC 1951 §3.2.3).
    let frames = [raw_frame(
        FIN | RSV1 | BINARY,
        &[0xff, 0xff, 0xff, 0xff],
        true,
    )];
    assert_eq!(close_code_for(&frames, true), 1002);
}

#[test]
fn compressed_text_that_inflates_to_invalid_utf8_is_1007() {
    // A lone surrogate, as in Autobahn 6.x.
    let frames = [raw_frame(
        FIN | RSV1 | TEXT,
        &compressed(b"ok \xed\xa0\x80"),
        true,
    )];
    assert_eq!(close_code_for(&frames, true), 1007);
}

// ---------------------------------------------------------------------------
// Hibernation (found by fuzz/fuzz_targets/receiver_deflate.rs)

/// Hibernating between two messages must not change what they inflate to.
/// It does when the first message's deflate data, tail appended, ends in
/// the middle of a block (here: the tail begins a stored block that the
/// second message goes on with): the live zlib context goes on with that
/// block and delivers the second message (ending in the `00 00 ff ff` the
/// receiver appended, bytes the peer never sent), the context rebuilt from
/// the window starts at a block boundary and fails it with 1002. RFC 7692
/// §7.2.1's sender never makes such a message, so only a hostile or broken
/// peer sees the difference; the fix is to fail a message that does not
/// end at a block boundary (zlib's `data_type`, not exposed by zlib-rs's
/// safe `Inflate`), whether the decompressor hibernated or not.
#[test]
#[ignore = "bug: a message ending mid-block inflates only if the decompressor did not hibernate (fuzz/regressions/receiver_deflate-hibernate-mid-block)"]
fn hibernation_between_messages_changes_nothing() {
    let first: Vec<u8> = (0..32)
        .map(|i| {
            let hex = "8aef6df30ab09263902a0863902a0863902a0863904f0863902a0863904f6d06";
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()
        })
        .collect();
    let mut second = vec![0u8; 21];
    second.extend_from_slice(&[
        0xf5, 0x4f, 0x76, 0x6d, 0x06, 0x7f, 0xa0, 0x00, 0xf5, 0xff, 0xff,
    ]);

    let mut live = Decompressor::new(Settings::default(), 1 << 20);
    let straight = [
        live.decompress(&first, true).map_err(|e| e.to_string()),
        live.decompress(&second, true).map_err(|e| e.to_string()),
    ];

    let mut idle = Decompressor::new(Settings::default(), 1 << 20);
    let before = idle.decompress(&first, true).map_err(|e| e.to_string());
    idle.hibernate();
    assert!(!idle.has_context());
    let hibernated = [
        before,
        idle.decompress(&second, true).map_err(|e| e.to_string()),
    ];
    assert_eq!(hibernated, straight);
}

//! A `Hub` broadcast to members that agreed to permessage-deflate is
//! compressed once per window size, and stays correct when each member's
//! own messages (compressed with its own context) come between the
//! broadcasts: every member's compressed messages, in the order they
//! arrived, are inflated by one independent inflater per connection
//! (Python's zlib, with context takeover, as a browser keeps it) into the
//! messages sent, in order. A member without deflate gets them all as they
//! are. The Python is the venv `scripts/test-all.sh` makes; without it the
//! test says so and passes, except in CI.
#![cfg(feature = "deflate")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod child;

use child::{Killed, peer_script, python};
use syncws::protocol::frame::{FrameHeader, OpCode};
use syncws::protocol::handshake::ClientRequest;
use syncws::{Hub, Message, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

/// What a raw member received: each data frame's RSV1 bit and payload.
struct Received {
    frames: Vec<(bool, Vec<u8>)>,
}

/// A member that speaks the protocol by hand, offering `offer`: the
/// server's frames are parsed, not inflated, so that the inflating is
/// done by zlib alone.
struct RawMember {
    stream: TcpStream,
    buffered: Vec<u8>,
    agreed: Option<String>,
}

impl RawMember {
    fn connect(addr: &str, offer: &str) -> RawMember {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = ClientRequest::new(addr, "/room");
        request.extensions = Some(offer.to_owned());
        stream.write_all(&request.to_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let agreed = head
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Extensions: "))
            .map(str::to_owned);
        RawMember {
            stream,
            buffered: Vec::new(),
            agreed,
        }
    }

    /// The next `count` data frames (all final: nothing here is
    /// fragmented).
    fn read_frames(&mut self, count: usize) -> Received {
        let mut frames = Vec::new();
        let mut chunk = [0u8; 64 << 10];
        while frames.len() < count {
            if let Some((header, len)) = FrameHeader::parse(&self.buffered).unwrap() {
                let end = len + header.payload_len as usize;
                if self.buffered.len() >= end {
                    assert!(header.fin && matches!(header.opcode, OpCode::Text));
                    assert_eq!(header.rsv & 0b011, 0, "only RSV1 is defined");
                    frames.push((header.rsv & 0b100 != 0, self.buffered[len..end].to_vec()));
                    self.buffered.drain(..end);
                    continue;
                }
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed after {} frames", frames.len());
            self.buffered.extend_from_slice(&chunk[..n]);
        }
        Received { frames }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// zlib's inflation of one connection's compressed payloads, in order.
fn zlib_inflate(python: &std::path::Path, bits: u8, payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut child = Killed(
        Command::new(python)
            .arg(peer_script("deflate_stream.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs"),
    );
    let line = format!(
        "{bits} {}\n",
        payloads
            .iter()
            .map(|p| hex(p))
            .collect::<Vec<_>>()
            .join(",")
    );
    child
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.0.wait().unwrap().success(), "zlib failed to inflate");
    out.trim().split(',').map(unhex).collect()
}

/// The messages of the test: chat lines that repeat one another (so each
/// refers back to the ones before), a few short ones under the threshold,
/// and a larger document.
fn message(i: usize) -> String {
    match i % 10 {
        3 => format!("ok {i}"),
        7 => (0..300)
            .map(|j| format!("{{\"row\":{j},\"of\":{i}}},"))
            .collect(),
        _ => format!(
            r#"{{"type":"chat","room":"general","seq":{i},"text":"message number {i} for everyone here"}}"#
        ),
    }
}

#[test]
fn broadcasts_compressed_once_interleave_with_each_members_own_messages() {
    let Some(python) = python("zlib") else { return };
    let hub = Hub::new();
    let (joined, members) = mpsc::channel();
    let server = {
        let hub = hub.clone();
        Server::bind("127.0.0.1:0")
            .unwrap()
            .start(move |mut ws| {
                let membership = hub.join(ws.sender()).unwrap();
                joined.send(ws.sender()).unwrap();
                // Until the member goes.
                while ws.read_message().is_ok() {}
                drop(membership);
            })
            .unwrap()
    };
    let addr = server.local_addr().to_string();
    // Window 15 with context takeover (a browser's offer), a smaller
    // server window, and a member that takes no deflate at all.
    let mut takeover = RawMember::connect(&addr, "permessage-deflate; client_max_window_bits");
    let mut window_10 = RawMember::connect(&addr, "permessage-deflate; server_max_window_bits=10");
    let mut plain = syncws::ClientBuilder::new(format!("ws://{addr}/room"))
        .deflate(syncws::DeflateConfig::default().enabled(false))
        .connect()
        .unwrap();
    assert_eq!(takeover.agreed.as_deref(), Some("permessage-deflate"));
    assert_eq!(
        window_10.agreed.as_deref(),
        Some("permessage-deflate; server_max_window_bits=10")
    );
    assert!(plain.deflate().is_none());
    let senders: Vec<_> = (0..3)
        .map(|_| members.recv_timeout(TIMEOUT).unwrap())
        .collect();
    assert_eq!(hub.len(), 3);

    // Every third message goes to each member alone, through its own
    // compressor; the others are broadcast.
    const COUNT: usize = 60;
    for i in 0..COUNT {
        let text = message(i);
        if i % 3 == 0 {
            for sender in &senders {
                sender.send_text(&text).unwrap();
            }
        } else {
            assert_eq!(hub.broadcast(syncws::MessageRef::Text(&text)), 3);
        }
    }

    let expected: Vec<Vec<u8>> = (0..COUNT).map(|i| message(i).into_bytes()).collect();
    for (member, bits) in [(&mut takeover, 15), (&mut window_10, 10)] {
        let received = member.read_frames(COUNT);
        // Below the threshold (32 bytes) a message goes as it is.
        for (i, (compressed, _)) in received.frames.iter().enumerate() {
            assert_eq!(*compressed, expected[i].len() >= 32, "message {i}");
        }
        let compressed: Vec<Vec<u8>> = received
            .frames
            .iter()
            .filter(|(compressed, _)| *compressed)
            .map(|(_, payload)| payload.clone())
            .collect();
        let mut inflated = zlib_inflate(&python, bits, &compressed).into_iter();
        let messages: Vec<Vec<u8>> = received
            .frames
            .into_iter()
            .map(|(compressed, payload)| match compressed {
                true => inflated.next().unwrap(),
                false => payload,
            })
            .collect();
        for (i, (got, want)) in messages.iter().zip(&expected).enumerate() {
            assert!(got == want, "window {bits}: message {i} differs");
        }
        let on_the_wire: usize = compressed.iter().map(Vec::len).sum();
        let sent: usize = expected
            .iter()
            .filter(|m| m.len() >= 32)
            .map(Vec::len)
            .sum();
        println!("window {bits}: {sent} bytes of messages took {on_the_wire} compressed");
        assert!(on_the_wire * 4 < sent, "context takeover kept its ratio");
    }
    let deadline = Instant::now() + TIMEOUT;
    for (i, want) in expected.iter().enumerate() {
        assert!(Instant::now() < deadline);
        let got = plain.read_message().unwrap();
        assert_eq!(
            got,
            Message::Text(String::from_utf8(want.clone()).unwrap()),
            "{i}"
        );
    }
    server.stop();
}

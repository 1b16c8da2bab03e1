//! The load client's side of the wire with permessage-deflate (RFC 7692):
//! it offers what Chrome offers (`permessage-deflate;
//! client_max_window_bits`), compresses what it sends with the window the
//! server agreed (syncws's codec, its defaults otherwise: level 6, memory
//! level 4), inflates what comes back, and counts the bytes it reads and
//! writes on the TCP connection, so that every server is measured by the
//! same client and the same bytes on the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncws::protocol::deflate::{Compressor, Decompressor, Settings};
use syncws::protocol::extension::permessage_deflate::{
    DeflateConfig, DeflateParams, DirectionParams, check_response,
};
use syncws::protocol::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use syncws::protocol::mask::apply_mask;

use crate::wire::{self, Res, Rng};

/// What the client offers: Chrome's offer.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The largest message the client inflates.
const MAX_MESSAGE: usize = 64 << 20;

fn settings(params: DirectionParams) -> Settings {
    let mut settings = Settings::default();
    settings.window_bits = params.window_bits;
    settings.context_takeover = params.context_takeover;
    settings
}

/// The client's handshake with the offer: the bytes read past the
/// response, and what the server agreed (`None`: it declined).
pub fn handshake(
    s: &mut impl wire::Stream,
    host: &str,
    path: &str,
) -> Res<(Vec<u8>, Option<DeflateParams>)> {
    let extra = format!("Sec-WebSocket-Extensions: {OFFER}\r\n");
    let (head, leftover) = wire::handshake_head(s, host, path, &extra)?;
    let values: Vec<&str> = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, v)| v.trim())
        .collect();
    let offer = DeflateConfig::default().offer().expect("on by default");
    let params =
        check_response(&offer, values).map_err(|e| format!("the server's extensions: {e}"))?;
    Ok((leftover, params))
}

/// The last single-frame compressed payload that a set of subscribers
/// received, and what it inflates to standing alone (with no history):
/// a broadcast compressed once reaches every member as the same bytes, so
/// the client inflates it once, not once per member. Inflating with no
/// history fails for a payload that refers back to earlier messages, so a
/// match proves the bytes right for every member, whatever its window.
#[derive(Default)]
pub struct Standalone {
    last: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

impl Standalone {
    /// What `payload` inflates to, alone, in a window of `bits`.
    fn inflate(&self, payload: &[u8], bits: u8) -> Res<Vec<u8>> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((bytes, message)) if bytes == payload => return Ok(message.clone()),
            _ => {}
        }
        let mut settings = Settings::default();
        settings.window_bits = bits;
        settings.context_takeover = false;
        let message = Decompressor::new(settings, MAX_MESSAGE)
            .decompress(payload, true)
            .map_err(|e| format!("inflating a broadcast alone: {e}"))?
            .unwrap_or_default();
        *last = Some((payload.to_vec(), message.clone()));
        Ok(message)
    }
}

/// A message received.
pub struct Received<'a> {
    pub data: &'a [u8],
    pub text: bool,
    /// It came with RSV1: compressed.
    pub compressed: bool,
}

/// Incoming frames, inflated when compressed; the bytes read counted.
pub struct ZIn {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    decompressor: Option<Decompressor>,
    /// The message being assembled (uncompressed fragments), then the
    /// last one returned.
    message: Vec<u8>,
    /// Of the message being assembled (or the last one): its opcode and
    /// RSV1.
    first: Option<(OpCode, bool)>,
    /// The last frame ended a message.
    done: bool,
    /// Pings to answer (their payloads).
    pub pings: Vec<Vec<u8>>,
    /// Single-frame messages are inflated alone, once per distinct
    /// payload (the broadcast subscribers), not by `decompressor`.
    standalone: Option<(Arc<Standalone>, u8)>,
    params: Option<DeflateParams>,
    /// Bytes read from the stream.
    pub read: u64,
}

impl ZIn {
    /// `leftover`: bytes read past the handshake; `params`: the agreement.
    pub fn new(params: Option<DeflateParams>, leftover: &[u8]) -> ZIn {
        let mut buf = vec![0u8; 4096.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(leftover);
        ZIn {
            buf,
            start: 0,
            end: leftover.len(),
            decompressor: params
                .map(|p| Decompressor::new(settings(p.server_to_client), MAX_MESSAGE)),
            message: Vec::new(),
            first: None,
            done: true,
            pings: Vec::new(),
            standalone: None,
            params,
            read: 0,
        }
    }

    /// Inflate single-frame messages with `shared` (see [`Standalone`]).
    pub fn standalone(mut self, shared: Arc<Standalone>) -> ZIn {
        if let Some(params) = self.params {
            self.standalone = Some((shared, params.server_to_client.window_bits));
        }
        self
    }

    /// Read once. `Ok(0)` is the end of the stream.
    fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() || self.start > self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        self.read += n as u64;
        Ok(n)
    }

    /// Read what is there without blocking: `Ok(false)` once the read
    /// would block.
    pub fn fill_nonblocking(&mut self, r: &mut impl Read) -> Res<bool> {
        match self.fill(r) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Read until a whole message is buffered, and return it.
    pub fn recv(&mut self, r: &mut impl Read) -> Res<Received<'_>> {
        loop {
            if self.advance()? {
                return Ok(self.last());
            }
            match self.fill(r) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// The next whole message among the bytes buffered, if any.
    pub fn next_buffered(&mut self) -> Res<Option<Received<'_>>> {
        Ok(if self.advance()? {
            Some(self.last())
        } else {
            None
        })
    }

    fn last(&self) -> Received<'_> {
        let (opcode, compressed) = self.first.expect("a message was completed");
        Received {
            data: &self.message,
            text: opcode == OpCode::Text,
            compressed,
        }
    }

    /// Take the whole frames buffered until one ends a message: true if
    /// one did (it is in `message`, its kind in `first`).
    fn advance(&mut self) -> Res<bool> {
        loop {
            let Some((header, n)) = FrameHeader::parse(&self.buf[self.start..self.end])
                .map_err(|e| format!("bad frame from the server: {e}"))?
            else {
                return Ok(false);
            };
            let len = header.payload_len as usize;
            if self.end - self.start < n + len {
                if n + len > self.buf.len() {
                    self.buf.resize(n + len, 0);
                }
                return Ok(false);
            }
            if header.mask.is_some() {
                return Err("the server masked a frame (RFC 6455 §5.1 forbids it)".into());
            }
            let at = self.start + n;
            self.start = at + len;
            let payload = &self.buf[at..at + len];
            match header.opcode {
                OpCode::Ping => {
                    self.pings.push(payload.to_vec());
                    continue;
                }
                OpCode::Pong => continue,
                OpCode::Close => return Err("the server sent a close frame".into()),
                _ => {}
            }
            let rsv1 = header.rsv == RSV1;
            if header.rsv & !RSV1 != 0 || (rsv1 && header.opcode == OpCode::Continuation) {
                return Err(format!(
                    "RSV bits {:#b} on a {:?} frame",
                    header.rsv, header.opcode
                ));
            }
            let (opcode, compressed) = match (self.done, header.opcode) {
                (false, OpCode::Continuation) => self.first.expect("a message begun"),
                (true, OpCode::Continuation) => {
                    return Err("a continuation frame with no message begun".into());
                }
                (false, _) => return Err("a new message before the last one ended".into()),
                (true, op) => {
                    if rsv1 && self.decompressor.is_none() {
                        return Err("RSV1 without permessage-deflate agreed".into());
                    }
                    self.message.clear();
                    (op, rsv1)
                }
            };
            self.first = Some((opcode, compressed));
            let alone = match &self.standalone {
                Some((shared, bits))
                    if compressed && header.fin && header.opcode != OpCode::Continuation =>
                {
                    Some(shared.inflate(payload, *bits)?)
                }
                _ => None,
            };
            if let Some(message) = alone {
                self.message = message;
                self.done = true;
                return Ok(true);
            }
            if compressed {
                let decompressor = self.decompressor.as_mut().expect("checked at RSV1");
                let inflated = decompressor
                    .decompress(payload, header.fin)
                    .map_err(|e| format!("inflating the server's message: {e}"))?;
                if let Some(message) = inflated {
                    self.message = message;
                }
            } else {
                self.message.extend_from_slice(payload);
            }
            self.done = header.fin;
            if header.fin {
                return Ok(true);
            }
        }
    }
}

/// A connection of the load client with permessage-deflate offered: it
/// compresses every message it sends when the server agreed (and sends it
/// plain otherwise).
pub struct ZConn {
    pub stream: TcpStream,
    compressor: Option<Compressor>,
    pub inp: ZIn,
    pub params: Option<DeflateParams>,
    rng: Rng,
    frame: Vec<u8>,
    payload: Vec<u8>,
    /// Bytes written to the stream (frames; not the handshake).
    pub written: u64,
}

impl ZConn {
    /// Connect to `addr` and open `path` with the offer.
    pub fn open(addr: SocketAddr, path: &str) -> Res<ZConn> {
        let mut stream = wire::tcp(addr)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| format!("timeout: {e}"))?;
        let (leftover, params) = handshake(&mut stream, &addr.to_string(), path)?;
        Ok(ZConn {
            stream,
            compressor: params.map(|p| Compressor::new(settings(p.client_to_server))),
            inp: ZIn::new(params, &leftover),
            params,
            rng: Rng::random(),
            frame: Vec::new(),
            payload: Vec::new(),
            written: 0,
        })
    }

    /// Bytes read and written since the handshake.
    pub fn bytes(&self) -> u64 {
        self.inp.read + self.written
    }

    /// Send one message, compressed if deflate was agreed.
    pub fn send(&mut self, message: &[u8], text: bool) -> Res<()> {
        self.answer_pings()?;
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        let (payload, rsv) = match &mut self.compressor {
            Some(compressor) => {
                self.payload.clear();
                compressor
                    .compress(message, &mut self.payload)
                    .map_err(|e| format!("compress: {e}"))?;
                (&self.payload[..], RSV1)
            }
            None => (message, 0),
        };
        let key = (self.rng.next() as u32).to_ne_bytes();
        frame(&mut self.frame, rsv, opcode, payload, key);
        self.stream
            .write_all(&self.frame)
            .map_err(|e| format!("write: {e}"))?;
        self.written += self.frame.len() as u64;
        Ok(())
    }

    /// Read the next message and check it is `expected`, of the same kind;
    /// true if it came compressed.
    pub fn expect(&mut self, expected: &[u8], text: bool) -> Res<bool> {
        let got = self.inp.recv(&mut self.stream)?;
        if got.text != text {
            return Err(format!(
                "a {} message came back",
                if got.text { "text" } else { "binary" }
            ));
        }
        if got.data != expected {
            let at = got.data.iter().zip(expected).position(|(a, b)| a != b);
            return Err(format!(
                "echo of {} bytes for a message of {}, first difference at {at:?}",
                got.data.len(),
                expected.len()
            ));
        }
        Ok(got.compressed)
    }

    /// Send `message` and check its echo; true if the echo came compressed.
    pub fn echo(&mut self, message: &[u8], text: bool) -> Res<bool> {
        self.send(message, text)?;
        self.expect(message, text)
    }

    /// Answer the pings received so far (Python websockets pings every
    /// 20 s and closes a connection that does not answer).
    fn answer_pings(&mut self) -> Res<()> {
        for ping in std::mem::take(&mut self.inp.pings) {
            let key = (self.rng.next() as u32).to_ne_bytes();
            frame(&mut self.frame, 0, OpCode::Pong, &ping, key);
            self.stream
                .write_all(&self.frame)
                .map_err(|e| format!("write: {e}"))?;
            self.written += self.frame.len() as u64;
        }
        Ok(())
    }
}

/// `out` = one whole masked frame with reserved bits `rsv`.
fn frame(out: &mut Vec<u8>, rsv: u8, opcode: OpCode, payload: &[u8], key: [u8; 4]) {
    out.clear();
    let mut header = FrameHeader::new(true, opcode, payload.len() as u64, Some(key));
    header.rsv = rsv;
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
    apply_mask(&mut out[n..], key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use syncws::protocol::Role;
    use syncws::protocol::extension::{self, permessage_deflate};

    fn agreed() -> DeflateParams {
        let offers = extension::parse([OFFER]).unwrap();
        permessage_deflate::negotiate(&DeflateConfig::default(), &offers)
            .unwrap()
            .params
    }

    /// A server's frames: compressed with its own compressor, in two
    /// fragments, with a ping between.
    #[test]
    fn compressed_fragments_are_inflated_and_pings_kept() {
        let params = agreed();
        let mut server = Compressor::new(settings(params.outgoing(Role::Server)));
        let message = br#"{"type":"message","text":"hello hello hello hello"}"#;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        server
            .compress_piece(&message[..20], false, &mut a)
            .unwrap();
        server.compress_piece(&message[20..], true, &mut b).unwrap();
        let mut wire = Vec::new();
        let mut first = FrameHeader::new(false, OpCode::Text, a.len() as u64, None);
        first.rsv = RSV1;
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = first.encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        wire.extend_from_slice(&a);
        wire.extend_from_slice(&[0x89, 0x01, b'p']);
        let n =
            FrameHeader::new(true, OpCode::Continuation, b.len() as u64, None).encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        wire.extend_from_slice(&b);
        let len = wire.len() as u64;
        let mut inp = ZIn::new(Some(params), &[]);
        let got = inp.recv(&mut Cursor::new(wire)).unwrap();
        assert_eq!(
            (got.data, got.text, got.compressed),
            (&message[..], true, true)
        );
        assert_eq!(inp.pings, vec![b"p".to_vec()]);
        assert_eq!(inp.read, len);
    }

    #[test]
    fn rsv1_without_an_agreement_is_refused() {
        let wire = [0xc1, 0x01, 0x00];
        let mut inp = ZIn::new(None, &[]);
        assert!(inp.recv(&mut Cursor::new(wire)).is_err());
    }

    #[test]
    fn a_payload_that_refers_back_is_refused_standing_alone() {
        let mut server = Compressor::new(Settings::default());
        let message = br#"{"type":"message","text":"hello hello hello hello"}"#;
        let (mut first, mut second) = (Vec::new(), Vec::new());
        server.compress(message, &mut first).unwrap();
        server.compress(message, &mut second).unwrap();
        let shared = Standalone::default();
        assert_eq!(shared.inflate(&first, 15).unwrap(), message);
        assert_eq!(shared.inflate(&first, 15).unwrap(), message);
        assert!(shared.inflate(&second, 15).is_err());
    }
}

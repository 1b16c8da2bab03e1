//! The load client's side of the wire: a lean WebSocket client and the raw
//! length-prefixed records, the same code for every server.
//!
//! It is written to cost the client as little as the raw TCP loop does: a
//! message is one `write` of a frame built in a reused buffer, an echo is
//! read into a reused buffer and compared with what was sent, byte for
//! byte, without allocating. The frame codec is syncws's sans-I/O one
//! (`syncws::protocol`), which touches no socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use syncws::protocol::frame::{FrameHeader, OpCode, write_frame};
use syncws::protocol::handshake::{accept_key, generate_key};
use syncws::protocol::mask::apply_mask;

pub type Res<T> = Result<T, String>;

/// How messages travel: WebSocket frames, or raw records (a 4-byte
/// big-endian length, then the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ws,
    Raw,
}

/// Any stream a connection runs on: TCP, or TLS over TCP.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn io_err(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A cheap pseudo-random generator (xorshift64*), for payloads and masks.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Seeded from the OS (via a fresh WebSocket key).
    pub fn random() -> Rng {
        let key = generate_key();
        let mut seed = 0u64;
        for b in key.bytes() {
            seed = seed.rotate_left(5) ^ u64::from(b);
        }
        Rng::new(seed ^ std::process::id() as u64)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The payload of message `seq` of connection `conn`: its identity in the
/// first 16 bytes, then bytes that depend on both, so that an echo of the
/// wrong message, a reordering or a corruption is caught.
pub fn payload(buf: &mut [u8], conn: u32, seq: u64) {
    let mut head = [0u8; 16];
    head[..8].copy_from_slice(&seq.to_le_bytes());
    head[8..12].copy_from_slice(&conn.to_le_bytes());
    head[12..].copy_from_slice(&(buf.len() as u32).to_le_bytes());
    let n = head.len().min(buf.len());
    buf[..n].copy_from_slice(&head[..n]);
    let mut rng = Rng::new(seq ^ (u64::from(conn) << 40) ^ 0xA5A5);
    for chunk in buf[n..].chunks_mut(8) {
        let word = rng.next().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Outgoing messages, encoded into one reused buffer and written with one
/// `write_all`.
pub struct Out {
    proto: Proto,
    buf: Vec<u8>,
    rng: Rng,
}

impl Out {
    pub fn new(proto: Proto) -> Out {
        Out {
            proto,
            buf: Vec::new(),
            rng: Rng::random(),
        }
    }

    /// Append one binary message (a masked frame with a fresh key, or a
    /// record).
    pub fn push(&mut self, payload: &[u8]) {
        match self.proto {
            Proto::Ws => {
                let key = (self.rng.next() as u32).to_ne_bytes();
                write_frame(&mut self.buf, true, OpCode::Binary, payload, Some(key));
            }
            Proto::Raw => {
                self.buf
                    .extend_from_slice(&(payload.len() as u32).to_be_bytes());
                self.buf.extend_from_slice(payload);
            }
        }
    }

    /// Append the goodbye: a close frame with 1000, or an empty record.
    pub fn push_close(&mut self) {
        match self.proto {
            Proto::Ws => {
                let key = (self.rng.next() as u32).to_ne_bytes();
                write_frame(
                    &mut self.buf,
                    true,
                    OpCode::Close,
                    &1000u16.to_be_bytes(),
                    Some(key),
                );
            }
            Proto::Raw => self.buf.extend_from_slice(&0u32.to_be_bytes()),
        }
    }

    pub fn flush(&mut self, w: &mut impl Write) -> Res<()> {
        let result = w.write_all(&self.buf).map_err(io_err("write"));
        self.buf.clear();
        result
    }
}

/// A large message encoded once: its payload, and its frame as it goes on
/// the wire (masked once with a key of its own). Each send changes only
/// the 8-byte sequence number at the start of the payload (re-masking those
/// 8 bytes), so a 16 MiB echo costs the client one write and one compare,
/// not a masking pass; the server cannot tell and does all its work.
pub struct Big {
    pub payload: Vec<u8>,
    pub wire: Vec<u8>,
    offset: usize,
    key: Option<[u8; 4]>,
}

impl Big {
    pub fn new(proto: Proto, conn: u32, len: usize) -> Big {
        let mut payload = vec![0u8; len];
        self::payload(&mut payload, conn, 0);
        let mut wire = Vec::with_capacity(len + 14);
        let key = match proto {
            Proto::Ws => {
                let key = (Rng::random().next() as u32).to_ne_bytes();
                write_frame(&mut wire, true, OpCode::Binary, &payload, Some(key));
                Some(key)
            }
            Proto::Raw => {
                wire.extend_from_slice(&(len as u32).to_be_bytes());
                wire.extend_from_slice(&payload);
                None
            }
        };
        let offset = wire.len() - len;
        Big {
            payload,
            wire,
            offset,
            key,
        }
    }

    pub fn set_seq(&mut self, seq: u64) {
        let n = self.payload.len().min(8);
        self.payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
        let wire = &mut self.wire[self.offset..self.offset + n];
        wire.copy_from_slice(&seq.to_le_bytes()[..n]);
        if let Some(key) = self.key {
            apply_mask(wire, key, 0);
        }
    }
}

/// Incoming messages: a reused buffer, frames parsed in place, payloads
/// compared with what is expected as they arrive.
pub struct In {
    proto: Proto,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Reads of large payloads use at most this much buffer.
const BIG_READ: usize = 256 << 10;

impl In {
    /// `leftover`: bytes read past the handshake.
    pub fn new(proto: Proto, capacity: usize, leftover: &[u8]) -> In {
        let mut buf = vec![0u8; capacity.max(leftover.len()).max(64)];
        buf[..leftover.len()].copy_from_slice(leftover);
        In {
            proto,
            buf,
            start: 0,
            end: leftover.len(),
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Read once into the free end of the buffer (moving what is buffered
    /// to the front first if needed). `Ok(0)` is the end of the stream.
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
        Ok(n)
    }

    fn fill_or_eof(&mut self, r: &mut impl Read) -> Res<()> {
        match self.fill(r) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next frame header (WebSocket) or record length (raw), consumed.
    fn header(&mut self, r: &mut impl Read) -> Res<FrameHeader> {
        loop {
            match self.proto {
                Proto::Ws => {
                    match FrameHeader::parse(self.buffered())
                        .map_err(|e| format!("bad frame from the server: {e}"))?
                    {
                        Some((header, n)) => {
                            self.start += n;
                            return Ok(header);
                        }
                        None => self.fill_or_eof(r)?,
                    }
                }
                Proto::Raw => {
                    if let Some(len) = self.buffered().first_chunk::<4>() {
                        let len = u32::from_be_bytes(*len);
                        self.start += 4;
                        return Ok(FrameHeader::new(true, OpCode::Binary, u64::from(len), None));
                    }
                    self.fill_or_eof(r)?;
                }
            }
        }
    }

    /// Consume `expected.len()` payload bytes, checking each against
    /// `expected`.
    fn compare(&mut self, r: &mut impl Read, expected: &[u8], offset: usize) -> Res<()> {
        let mut done = 0;
        while done < expected.len() {
            if self.start == self.end {
                if expected.len() - done > self.buf.len() && self.buf.len() < BIG_READ {
                    self.buf.resize(BIG_READ, 0);
                }
                self.fill_or_eof(r)?;
            }
            let k = (self.end - self.start).min(expected.len() - done);
            let got = &self.buf[self.start..self.start + k];
            let want = &expected[done..done + k];
            if got != want {
                let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                return Err(format!(
                    "echo differs at byte {} of the message: got {:#04x}, sent {:#04x}",
                    offset + done + i,
                    got[i],
                    want[i]
                ));
            }
            self.start += k;
            done += k;
        }
        Ok(())
    }

    /// Read one whole message and check it is `expected`, binary.
    pub fn expect(&mut self, r: &mut impl Read, expected: &[u8]) -> Res<()> {
        let mut offset = 0;
        let mut first = true;
        loop {
            let header = self.header(r)?;
            check_server_frame(&header)?;
            match header.opcode {
                OpCode::Binary if first => {}
                OpCode::Continuation if !first => {}
                OpCode::Pong => {
                    self.skip(r, header.payload_len as usize)?;
                    continue;
                }
                OpCode::Close => {
                    return Err(format!(
                        "the server sent a close frame ({} bytes) instead of the echo",
                        header.payload_len
                    ));
                }
                other => return Err(format!("unexpected {other:?} frame in the echo")),
            }
            let len = header.payload_len as usize;
            if offset + len > expected.len() {
                return Err(format!(
                    "echo longer than the message: {} bytes or more, sent {}",
                    offset + len,
                    expected.len()
                ));
            }
            self.compare(r, &expected[offset..offset + len], offset)?;
            offset += len;
            first = false;
            if header.fin {
                break;
            }
        }
        if offset != expected.len() {
            return Err(format!(
                "echo of {offset} bytes for a message of {}",
                expected.len()
            ));
        }
        Ok(())
    }

    fn skip(&mut self, r: &mut impl Read, mut len: usize) -> Res<()> {
        while len > 0 {
            if self.start == self.end {
                self.fill_or_eof(r)?;
            }
            let k = (self.end - self.start).min(len);
            self.start += k;
            len -= k;
        }
        Ok(())
    }

    /// After our goodbye: read the server's close frame (WebSocket, it must
    /// echo 1000), then wait for the server to close the TCP connection.
    pub fn expect_close(&mut self, r: &mut impl Read) -> Res<()> {
        if self.proto == Proto::Ws {
            loop {
                let header = self.header(r)?;
                check_server_frame(&header)?;
                let len = header.payload_len as usize;
                if header.opcode == OpCode::Close {
                    let mut code = [0u8; 2];
                    if len >= 2 {
                        while self.end - self.start < 2 {
                            self.fill_or_eof(r)?;
                        }
                        code.copy_from_slice(&self.buf[self.start..self.start + 2]);
                    }
                    self.skip(r, len)?;
                    if u16::from_be_bytes(code) != 1000 {
                        return Err(format!("server closed with {}", u16::from_be_bytes(code)));
                    }
                    break;
                }
                self.skip(r, len)?;
            }
        }
        // The server closes the TCP connection first (RFC 6455 §7.1.1; the
        // raw server likewise after the empty record).
        for _ in 0..64 {
            match self.fill(r) {
                Ok(0) => return Ok(()),
                Ok(_) => self.start = self.end,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(format!("waiting for the server to close: {e}")),
            }
        }
        Err("the server kept sending after the close".into())
    }

    /// Read what is there without blocking (the stream is non-blocking):
    /// `Ok(false)` once the read would block.
    pub fn fill_nonblocking(&mut self, r: &mut impl Read) -> Res<bool> {
        match self.fill(r) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next whole single-frame binary message already buffered, if any
    /// (small messages only: the broadcast subscribers).
    pub fn next_buffered(&mut self) -> Res<Option<&[u8]>> {
        let Some((header, n)) = FrameHeader::parse(self.buffered())
            .map_err(|e| format!("bad frame from the server: {e}"))?
        else {
            return Ok(None);
        };
        check_server_frame(&header)?;
        if header.opcode != OpCode::Binary || !header.fin {
            return Err(format!(
                "unexpected {:?} frame (fin {})",
                header.opcode, header.fin
            ));
        }
        let len = header.payload_len as usize;
        if self.end - self.start < n + len {
            if n + len > self.buf.len() {
                self.buf.resize(n + len, 0);
            }
            return Ok(None);
        }
        let at = self.start + n;
        self.start = at + len;
        Ok(Some(&self.buf[at..at + len]))
    }
}

fn check_server_frame(header: &FrameHeader) -> Res<()> {
    if header.mask.is_some() {
        return Err("the server masked a frame (RFC 6455 §5.1 forbids it)".into());
    }
    if header.rsv != 0 {
        return Err("the server set RSV bits no extension was agreed for".into());
    }
    Ok(())
}

/// The client's opening handshake (RFC 6455 §4.1), checking the server's
/// `Sec-WebSocket-Accept`. Returns the bytes read past the response head.
pub fn handshake(s: &mut impl Stream, host: &str, path: &str) -> Res<Vec<u8>> {
    handshake_with(s, host, path, "")
}

/// The same with `extra` header lines (each ending in CRLF) in the request.
pub fn handshake_with(s: &mut impl Stream, host: &str, path: &str, extra: &str) -> Res<Vec<u8>> {
    handshake_head(s, host, path, extra).map(|(_, leftover)| leftover)
}

/// [`handshake_with`], returning the response's head (status line and
/// headers) too.
pub fn handshake_head(
    s: &mut impl Stream,
    host: &str,
    path: &str,
    extra: &str,
) -> Res<(String, Vec<u8>)> {
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    s.write_all(request.as_bytes())
        .map_err(io_err("handshake write"))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 << 10 {
            return Err("handshake response head over 16 KiB".into());
        }
        let n = s.read(&mut chunk).map_err(io_err("handshake read"))?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {status}"));
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, v)| v.trim().to_owned());
    if accept.as_deref() != Some(accept_key(key.as_bytes()).as_str()) {
        return Err(format!("bad Sec-WebSocket-Accept: {accept:?}"));
    }
    Ok((head.into_owned(), buf[head_end..].to_vec()))
}

/// Open a TCP connection to `addr`, with Nagle off as every server here has.
pub fn tcp(addr: SocketAddr) -> Res<TcpStream> {
    tcp_within(addr, Duration::from_secs(10))
}

/// The same, giving up after `timeout`.
pub fn tcp_within(addr: SocketAddr, timeout: Duration) -> Res<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_err("connect"))?;
    stream.set_nodelay(true).map_err(io_err("nodelay"))?;
    Ok(stream)
}

/// A connection of the load client: its stream, outgoing and incoming
/// buffers.
pub struct Conn {
    pub stream: Box<dyn Stream>,
    pub out: Out,
    pub inp: In,
}

impl Conn {
    /// Connect to `addr` (over TLS with `tls`), perform the WebSocket
    /// handshake for `path` if `proto` is WebSocket.
    pub fn open(
        addr: SocketAddr,
        proto: Proto,
        path: &str,
        tls: Option<&native_tls::TlsConnector>,
        capacity: usize,
    ) -> Res<Conn> {
        let tcp = tcp(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(io_err("timeout"))?;
        Conn::upgrade(tcp, addr, proto, path, tls, capacity)
    }

    /// On a TCP connection to `addr`: TLS if `tls`, then the WebSocket
    /// handshake if `proto` is WebSocket.
    pub fn upgrade(
        tcp: TcpStream,
        addr: SocketAddr,
        proto: Proto,
        path: &str,
        tls: Option<&native_tls::TlsConnector>,
        capacity: usize,
    ) -> Res<Conn> {
        let mut stream: Box<dyn Stream> = match tls {
            Some(connector) => Box::new(
                connector
                    .connect("localhost", tcp)
                    .map_err(|e| format!("TLS handshake: {e}"))?,
            ),
            None => Box::new(tcp),
        };
        let leftover = match proto {
            Proto::Ws => handshake(&mut stream, &addr.to_string(), path)?,
            Proto::Raw => Vec::new(),
        };
        Ok(Conn {
            stream,
            out: Out::new(proto),
            inp: In::new(proto, capacity, &leftover),
        })
    }

    /// Send `payload` and check its echo.
    pub fn echo(&mut self, payload: &[u8]) -> Res<()> {
        self.out.push(payload);
        self.out.flush(&mut self.stream)?;
        self.inp.expect(&mut self.stream, payload)
    }

    /// Send a prepared large message and check its echo.
    pub fn echo_big(&mut self, big: &Big) -> Res<()> {
        self.stream.write_all(&big.wire).map_err(io_err("write"))?;
        self.inp.expect(&mut self.stream, &big.payload)
    }

    /// Say goodbye and wait for the server to close.
    pub fn close(mut self) -> Res<()> {
        self.out.push_close();
        self.out.flush(&mut self.stream)?;
        self.inp.expect_close(&mut self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// What a server sends back: an unmasked frame, or the record itself.
    fn echo_of(proto: Proto, payload: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        match proto {
            Proto::Ws => write_frame(&mut wire, true, OpCode::Binary, payload, None),
            Proto::Raw => {
                wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                wire.extend_from_slice(payload);
            }
        }
        wire
    }

    #[test]
    fn every_byte_of_an_echo_is_checked() {
        for proto in [Proto::Ws, Proto::Raw] {
            for len in [0, 1, 32, 1000, 70_000, 300_000] {
                let mut payload = vec![0u8; len];
                self::payload(&mut payload, 3, 9);
                let wire = echo_of(proto, &payload);
                let mut inp = In::new(proto, 256, &[]);
                assert_eq!(
                    inp.expect(&mut Cursor::new(&wire), &payload),
                    Ok(()),
                    "{proto:?} {len}"
                );
                for at in [0, len / 2, len.saturating_sub(1)] {
                    if len == 0 {
                        break;
                    }
                    let mut bad = wire.clone();
                    let i = bad.len() - len + at;
                    bad[i] ^= 0x40;
                    let mut inp = In::new(proto, 256, &[]);
                    let err = inp.expect(&mut Cursor::new(&bad), &payload).unwrap_err();
                    assert!(
                        err.contains(&format!("byte {at}")),
                        "{proto:?} {len} {at}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn fragments_are_joined_and_lengths_checked() {
        let payload = b"hello, fragments";
        let mut wire = Vec::new();
        write_frame(&mut wire, false, OpCode::Binary, &payload[..5], None);
        write_frame(&mut wire, true, OpCode::Continuation, &payload[5..], None);
        let mut inp = In::new(Proto::Ws, 64, &[]);
        assert_eq!(inp.expect(&mut Cursor::new(&wire), payload), Ok(()));
        let mut inp = In::new(Proto::Ws, 64, &[]);
        assert!(inp.expect(&mut Cursor::new(&wire), &payload[..10]).is_err());
        let mut inp = In::new(Proto::Ws, 64, &[]);
        assert!(
            inp.expect(&mut Cursor::new(&wire[..wire.len() - 1]), payload)
                .is_err()
        );
    }

    #[test]
    fn masked_or_text_echoes_are_refused() {
        let mut wire = Vec::new();
        write_frame(&mut wire, true, OpCode::Binary, b"abc", Some([1, 2, 3, 4]));
        assert!(
            In::new(Proto::Ws, 64, &[])
                .expect(&mut Cursor::new(&wire), b"abc")
                .is_err()
        );
        let mut wire = Vec::new();
        write_frame(&mut wire, true, OpCode::Text, b"abc", None);
        assert!(
            In::new(Proto::Ws, 64, &[])
                .expect(&mut Cursor::new(&wire), b"abc")
                .is_err()
        );
    }

    #[test]
    fn a_large_message_changes_only_its_sequence_number() {
        let mut big = Big::new(Proto::Ws, 1, 100_000);
        big.set_seq(42);
        // Unmask what goes on the wire: it must be the payload.
        let (header, n) = FrameHeader::parse(&big.wire).unwrap().unwrap();
        let mut unmasked = big.wire[n..].to_vec();
        apply_mask(&mut unmasked, header.mask.unwrap(), 0);
        assert_eq!(unmasked, big.payload);
        assert_eq!(u64::from_le_bytes(big.payload[..8].try_into().unwrap()), 42);
    }
}

//! Tools for the hostile-input and fault tests (`tests/hostile.rs`,
//! `tests/faults.rs`): an attacker speaking raw bytes over a bare
//! `TcpStream` (handshake done by hand, frames written and read by hand), a
//! well-behaved client that keeps exchanging messages in the background
//! while an attack runs, and readings of this process's memory, threads
//! and file descriptors from `/proc/self`.
//!
//! Every socket has read and write timeouts, every loop is bounded in count
//! and time, and every address is `127.0.0.1` with a port picked by the
//! kernel.

// Each test file uses only some of the tools.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use syncws::protocol::frame::{OpCode, write_frame};
use syncws::protocol::handshake::{ClientRequest, check_response, parse_response};
use syncws::{CloseCode, Error, Message, WebSocket};

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::{TIMEOUT, echo, eventually, read_to_end, within};

/// The masking key of every frame the attacker sends (any key will do:
/// masking is not a secret between a test and itself).
pub const MASK: [u8; 4] = [0x5a, 0xc3, 0x0f, 0x96];

/// The most frames read while looking for a close frame.
const MAX_FRAMES: usize = 1_000_000;

/// Connect to `addr` with read and write timeouts of [`TIMEOUT`].
#[track_caller]
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("TCP connect to {addr}: {e}"));
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// True for the error kinds a socket read or write with a timeout gives
/// when the time is up.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------
// Frames by hand
// ---------------------------------------------------------------------

/// A frame with any first byte (FIN, RSV bits, opcode, valid or not),
/// `payload` masked with [`MASK`] when `masked`, the length in the minimal
/// encoding.
pub fn raw_frame(first_byte: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(first_byte);
    let mask_bit = if masked { 0x80 } else { 0 };
    raw_length(&mut out, mask_bit, payload.len() as u64);
    if masked {
        out.extend_from_slice(&MASK);
        let start = out.len();
        out.extend_from_slice(payload);
        syncws::protocol::mask::apply_mask(&mut out[start..], MASK, 0);
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A masked frame header announcing `len` payload bytes, without them.
pub fn raw_header(first_byte: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first_byte];
    raw_length(&mut out, 0x80, len);
    out.extend_from_slice(&MASK);
    out
}

fn raw_length(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// A valid masked frame, as a client sends it (through syncws's own
/// encoder).
pub fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, fin, opcode, payload, Some(MASK));
    out
}

/// A frame from the server, as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The FIN bit.
    pub fin: bool,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// The payload (servers do not mask).
    pub payload: Vec<u8>,
}

/// A close frame from the server: its code (if any) and reason bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseSeen {
    /// The status code, `None` for an empty close payload.
    pub code: Option<u16>,
    /// The reason, as sent.
    pub reason: Vec<u8>,
}

impl CloseSeen {
    /// The reason as text (lossy).
    pub fn reason_text(&self) -> String {
        String::from_utf8_lossy(&self.reason).into_owned()
    }
}

// ---------------------------------------------------------------------
// The attacker: a WebSocket client that speaks raw bytes
// ---------------------------------------------------------------------

/// A client connection whose opening handshake was done by hand, and on
/// which the test writes whatever bytes it likes.
#[derive(Debug)]
pub struct RawWs {
    /// The socket, timeouts set.
    pub stream: TcpStream,
    /// Bytes received and not yet parsed.
    buf: Vec<u8>,
}

impl RawWs {
    /// Open `path` on `addr` with a valid upgrade request; panics unless
    /// the server answers `101`.
    #[track_caller]
    pub fn connect(addr: SocketAddr, path: &str) -> RawWs {
        RawWs::connect_then(addr, path, &[])
    }

    /// Like [`connect`](Self::connect), with `first_bytes` sent in the same
    /// write as the request head (so they arrive with it).
    #[track_caller]
    pub fn connect_then(addr: SocketAddr, path: &str, first_bytes: &[u8]) -> RawWs {
        let mut stream = tcp(addr);
        let request = ClientRequest::new(addr.to_string(), path);
        let mut bytes = request.to_bytes();
        bytes.extend_from_slice(first_bytes);
        stream.write_all(&bytes).expect("send the upgrade request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        for _ in 0..1000 {
            if let Some((head, len)) = parse_response(&buf, 64 << 10, 100).expect("an HTTP head") {
                assert_eq!(
                    head.status,
                    101,
                    "upgrade refused: {:?}",
                    String::from_utf8_lossy(&buf)
                );
                check_response(&head, &request).expect("a valid 101");
                buf.drain(..len);
                return RawWs { stream, buf };
            }
            let n = stream.read(&mut chunk).expect("read the 101");
            assert!(n > 0, "the server hung up during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        }
        panic!("no whole HTTP head after 1000 reads");
    }

    /// Open `path` on `addr` offering `Sec-WebSocket-Extensions: offer`;
    /// panics unless the server answers `101`. Returns the connection and
    /// the server's `Sec-WebSocket-Extensions` answer, if it gave one (the
    /// frames that follow are the test's to write, compressed or not).
    #[track_caller]
    pub fn connect_offering(addr: SocketAddr, path: &str, offer: &str) -> (RawWs, Option<String>) {
        let mut stream = tcp(addr);
        let mut request = ClientRequest::new(addr.to_string(), path);
        request.extensions = Some(offer.to_owned());
        stream
            .write_all(&request.to_bytes())
            .expect("send the upgrade request");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        for _ in 0..1000 {
            if let Some((head, len)) = parse_response(&buf, 64 << 10, 100).expect("an HTTP head") {
                assert_eq!(
                    head.status,
                    101,
                    "upgrade refused: {:?}",
                    String::from_utf8_lossy(&buf)
                );
                let answer = head
                    .headers
                    .get("Sec-WebSocket-Extensions")
                    .map(str::to_owned);
                buf.drain(..len);
                return (RawWs { stream, buf }, answer);
            }
            let n = stream.read(&mut chunk).expect("read the 101");
            assert!(n > 0, "the server hung up during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        }
        panic!("no whole HTTP head after 1000 reads");
    }

    /// Take over a socket on which a `101` has been read (and nothing
    /// after it).
    pub fn from_stream(stream: TcpStream) -> RawWs {
        RawWs {
            stream,
            buf: Vec::new(),
        }
    }

    /// Write `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Write a valid masked frame.
    pub fn send_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
        self.send_raw(&client_frame(fin, opcode, payload))
    }

    fn fill(&mut self, need: usize) -> io::Result<()> {
        let mut chunk = [0u8; 64 << 10];
        while self.buf.len() < need {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    /// Read one frame from the server, checking that it is not masked
    /// (RFC 6455 §5.1: a server MUST NOT mask).
    pub fn read_frame(&mut self) -> io::Result<ServerFrame> {
        self.fill(2)?;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "the server sent a masked frame");
        let (len, head) = match b1 & 0x7f {
            126 => {
                self.fill(4)?;
                (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
            }
            127 => {
                self.fill(10)?;
                let bytes: [u8; 8] = self.buf[2..10].try_into().unwrap();
                (u64::from_be_bytes(bytes), 10)
            }
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len).expect("a payload length that fits in memory");
        assert!(len <= 1 << 30, "a frame of {len} bytes from the server");
        self.fill(head + len)?;
        let payload = self.buf[head..head + len].to_vec();
        self.buf.drain(..head + len);
        Ok(ServerFrame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            payload,
        })
    }

    /// Read frames until the server's close frame, skipping data, pings and
    /// pongs, and return it.
    pub fn read_close(&mut self) -> io::Result<CloseSeen> {
        for _ in 0..MAX_FRAMES {
            let frame = self.read_frame()?;
            if frame.opcode == 0x8 {
                assert!(frame.fin, "a fragmented close frame");
                return Ok(match frame.payload.as_slice() {
                    [] => CloseSeen {
                        code: None,
                        reason: Vec::new(),
                    },
                    [hi, lo, reason @ ..] => CloseSeen {
                        code: Some(u16::from_be_bytes([*hi, *lo])),
                        reason: reason.to_vec(),
                    },
                    [_] => panic!("a close frame of one byte from the server"),
                });
            }
        }
        panic!("no close frame within {MAX_FRAMES} frames");
    }

    /// Read the server's close frame and check its code.
    #[track_caller]
    pub fn expect_close(&mut self, code: u16, what: &str) -> CloseSeen {
        let seen = self
            .read_close()
            .unwrap_or_else(|e| panic!("{what}: no close frame from the server: {e}"));
        assert_eq!(
            seen.code,
            Some(code),
            "{what}: close frame with reason {:?}",
            seen.reason_text()
        );
        seen
    }

    /// Read until the server ends the TCP connection (EOF or reset), after
    /// its close frame; returns how long that took. Bytes that still
    /// arrive are dropped.
    #[track_caller]
    pub fn expect_end(&mut self, what: &str) -> Duration {
        let start = Instant::now();
        self.buf.clear();
        let mut chunk = [0u8; 64 << 10];
        for _ in 0..100_000 {
            match self.stream.read(&mut chunk) {
                Ok(0) => return start.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    panic!("{what}: the server kept the connection open for {TIMEOUT:?}")
                }
                Err(_) => return start.elapsed(),
            }
        }
        panic!("{what}: too much data after the close frame");
    }
}

// ---------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------

/// What the server did with a handshake attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// It answered with this status (and head text).
    Status(u16, String),
    /// It closed the connection without an answer, after this long.
    Dropped(Duration),
}

/// Read an HTTP answer (or the lack of one) from `stream`: the status of
/// the answer, or how long until the server dropped the connection.
/// Panics if neither happens within the socket's read timeout.
#[track_caller]
pub fn read_answer(stream: &mut TcpStream) -> HttpOutcome {
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..10_000 {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                // A 101 keeps the connection open: the head is enough.
                if let Ok(Some((head, _))) = parse_response(&answer, 64 << 10, 100) {
                    if head.status == 101 {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => panic!(
                "no answer and no drop within the read timeout; got {:?}",
                String::from_utf8_lossy(&answer)
            ),
            // A reset: what arrived before it counts.
            Err(_) => break,
        }
    }
    if answer.is_empty() {
        return HttpOutcome::Dropped(start.elapsed());
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    match parse_response(&answer, 64 << 10, 100) {
        Ok(Some((head, _))) => HttpOutcome::Status(head.status, text),
        _ => panic!("not an HTTP answer: {text:?}"),
    }
}

/// Send `request` on a new connection and read what comes back.
#[track_caller]
pub fn http_attempt(addr: SocketAddr, request: &[u8]) -> HttpOutcome {
    let mut stream = tcp(addr);
    // The server may answer and close before taking everything: a failed
    // write is part of what is being tested, not an error of the test.
    let _ = stream.write_all(request);
    read_answer(&mut stream)
}

/// A valid upgrade request for `path` on `addr`.
pub fn upgrade_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    ClientRequest::new(addr.to_string(), path).to_bytes()
}

// ---------------------------------------------------------------------
// Readings of this process
// ---------------------------------------------------------------------

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
}

/// The resident memory of this process (server and clients alike), bytes.
pub fn rss_bytes() -> u64 {
    status_field("VmRSS:") * 1024
}

/// The number of threads of this process.
pub fn threads() -> u64 {
    status_field("Threads:")
}

/// The number of open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// The soft limit on open files of this process.
pub fn fd_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

/// Mebibytes, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

// ---------------------------------------------------------------------
// The well-behaved client
// ---------------------------------------------------------------------

/// A well-behaved syncws client exchanging messages with an echo route in
/// a thread of its own, as fast as it can, until told to stop: while an
/// attack runs, its count of round trips must keep rising.
#[derive(Debug)]
pub struct Chatter {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    result: mpsc::Receiver<Result<u64, String>>,
    thread: Option<JoinHandle<()>>,
}

/// The longest a chatter runs, whatever happens.
const CHATTER_LIFETIME: Duration = Duration::from_secs(120);

impl Chatter {
    /// Connect to `url` (an echo route) and start exchanging messages.
    /// Uncompressed: the server's threads and memory are counted around
    /// it, and a compressed client would add the thread that hibernates
    /// idle compressors and 330 KiB of zlib state (the bounds of deflate
    /// are tested in `tests/deflate_*.rs`).
    #[track_caller]
    pub fn start(url: &str) -> Chatter {
        let mut ws = syncws::ClientBuilder::new(url)
            .deflate(syncws::DeflateConfig::default().enabled(false))
            .connect()
            .unwrap_or_else(|e| panic!("good client: {url}: {e}"));
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        ws.set_write_timeout(Some(TIMEOUT)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (tx, result) = mpsc::channel();
        let (stop_flag, counter) = (Arc::clone(&stop), Arc::clone(&count));
        let thread = thread::Builder::new()
            .name("good client".into())
            .spawn(move || {
                let _ = tx.send(chat(ws, &stop_flag, &counter));
            })
            .expect("spawn the good client");
        Chatter {
            stop,
            count,
            result,
            thread: Some(thread),
        }
    }

    /// Round trips completed so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Wait until `n` more round trips complete (within [`TIMEOUT`]):
    /// the good client is served while whatever is going on goes on.
    #[track_caller]
    pub fn wait_progress(&self, n: u64, what: &str) {
        let from = self.count();
        let deadline = Instant::now() + TIMEOUT;
        while self.count() < from + n {
            if let Ok(result) = self.result.try_recv() {
                panic!("good client stopped {what}: {result:?}");
            }
            assert!(
                Instant::now() < deadline,
                "good client made {} of {n} round trips {what} within {TIMEOUT:?}",
                self.count() - from
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stop, close cleanly, and return the number of round trips; panics if
    /// any exchange failed or came back wrong.
    #[track_caller]
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let result = self
            .result
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("good client did not stop: {e}"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        result.unwrap_or_else(|e| panic!("good client failed: {e}"))
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn chat(mut ws: WebSocket, stop: &AtomicBool, count: &AtomicU64) -> Result<u64, String> {
    let started = Instant::now();
    let mut done = 0u64;
    for i in 0..u64::MAX {
        if stop.load(Ordering::Relaxed) || started.elapsed() > CHATTER_LIFETIME {
            break;
        }
        let text = format!("good message {i} {}", "é".repeat((i % 300) as usize));
        ws.send_text(&text).map_err(|e| format!("send {i}: {e}"))?;
        match ws.read_message() {
            Ok(Message::Text(echo)) if echo == text => {}
            other => return Err(format!("round trip {i}: got {other:?}")),
        }
        done += 1;
        count.store(done, Ordering::Relaxed);
        // Pacing, so that the good client leaves the attack some CPU.
        thread::sleep(Duration::from_micros(500));
    }
    match ws.close(CloseCode::Normal, "done") {
        Ok(_) => Ok(done),
        Err(e) => Err(format!("close after {done} round trips: {e}")),
    }
}

// ---------------------------------------------------------------------
// What the server's handlers report
// ---------------------------------------------------------------------

/// The errors that ended the server's connections, as their handlers
/// report them: request path (or another name) and error.
#[derive(Debug)]
pub struct Seen {
    reports: mpsc::Receiver<(String, Error)>,
    /// Reports received while waiting for another name.
    early: RefCell<HashMap<String, Error>>,
}

impl Seen {
    /// Reports arriving on `reports`.
    pub fn new(reports: mpsc::Receiver<(String, Error)>) -> Seen {
        Seen {
            reports,
            early: RefCell::new(HashMap::new()),
        }
    }

    /// The error reported for `name`, waiting for it at most [`TIMEOUT`].
    #[track_caller]
    pub fn error_of(&self, name: &str) -> Error {
        self.error_within(name, TIMEOUT)
    }

    /// The error reported for `name`, waiting for it at most `timeout`.
    #[track_caller]
    pub fn error_within(&self, name: &str, timeout: Duration) -> Error {
        if let Some(error) = self.early.borrow_mut().remove(name) {
            return error;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok((n, error)) if n == name => return error,
                Ok((n, error)) => {
                    self.early.borrow_mut().insert(n, error);
                }
                Err(e) => panic!("no error reported for {name} within {timeout:?}: {e}"),
            }
        }
    }
}

/// Where a handler reports how its connection ended: path and error.
pub type Report = mpsc::Sender<(String, syncws::Error)>;

/// Echo until the connection ends, then report how.
pub fn echo_and_report(mut ws: WebSocket, report: &Report) {
    let path = ws
        .request()
        .map(|r| r.path().to_owned())
        .unwrap_or_default();
    let sender = ws.sender();
    for _ in 0..u32::MAX {
        let result = ws
            .read_message()
            .and_then(|message| sender.send_message(&message));
        if let Err(e) = result {
            let _ = report.send((path, e));
            return;
        }
    }
}

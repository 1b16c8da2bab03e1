//! The sending side of a connection, shared by every thread that sends.
//!
//! Senders encode their frames into one outgoing buffer under a mutex that
//! is never held while waiting for the network (only across a send that
//! cannot wait). One sender at a time holds
//! the *flusher* role: it takes the buffer out, writes it without the lock,
//! and repeats while others keep appending. Others wait on a condition
//! variable until their bytes have been written, so `send` returning `Ok`
//! means the kernel has the whole message, and messages queued together go
//! out in one write system call (group commit). Frames of two messages never
//! interleave: each message is appended (or, when large, written) whole.
//!
//! A small frame sent while nobody else is writing is encoded on the
//! sender's stack and sent under the lock with `MSG_DONTWAIT`, without a
//! trip through the buffer; only if the socket does not take it all does
//! the sender take the flusher role and write the rest without the lock.
//! Large payloads are not copied into the buffer either: the sender waits
//! for the flusher role and writes header and payload with one vectored
//! write.

use std::io::{self, IoSlice, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::error::{Error, Result, Timeout};
use crate::protocol::Role;
use crate::protocol::close::close_payload;
use crate::protocol::frame::{FrameHeader, MAX_HEADER_LEN, MAX_SHORT_PAYLOAD, OpCode, write_frame};
use crate::protocol::mask::{apply_mask, apply_mask_short};
use crate::protocol::message::{CloseCode, CloseFrame};
use crate::transport::Transport;

/// Payloads at least this large are written from the caller's memory
/// instead of being copied into the outgoing buffer.
const DIRECT_WRITE_MIN: usize = 64 << 10;
/// The outgoing buffer is given back to the allocator above this size, so an
/// idle connection that once sent a burst does not keep its memory.
const KEEP_BUFFER_CAPACITY: usize = 64 << 10;
/// Sends held back by [`Writer::hold`] go out anyway once this much is
/// waiting.
const HOLD_LIMIT: usize = 64 << 10;
/// A frame with a payload up to this size is encoded on the stack when no
/// other thread is writing.
const SMALL_FRAME_MAX: usize = MAX_SHORT_PAYLOAD;
/// Client frames are masked into a scratch buffer of this size at a time.
const MASK_CHUNK: usize = 64 << 10;

/// Fresh masking keys for client frames (RFC 6455 §5.3: "The masking key is
/// a 32-bit value chosen at random by the client ... derived from a strong
/// source of entropy"). Random bytes are fetched from the OS in batches.
#[derive(Debug)]
struct MaskKeys {
    bytes: [u8; 256],
    used: usize,
}

impl MaskKeys {
    fn new() -> Self {
        MaskKeys {
            bytes: [0; 256],
            used: 256,
        }
    }

    fn next(&mut self) -> io::Result<[u8; 4]> {
        if self.used == self.bytes.len() {
            getrandom::fill(&mut self.bytes).map_err(io::Error::other)?;
            self.used = 0;
        }
        let key = self.bytes[self.used..self.used + 4]
            .try_into()
            .expect("4 bytes");
        self.used += 4;
        Ok(key)
    }
}

/// What has been sent, and who is sending. In this order (what a send
/// looks at first), for the reason given on the `Writer`.
#[derive(Debug)]
#[repr(C)]
struct WriteState {
    /// A thread is writing; it will write whatever is appended meanwhile.
    flushing: bool,
    /// Our close frame has been queued: no more data frames (RFC 6455 §5.5.1:
    /// "The application MUST NOT send any more data frames after sending a
    /// _Close_ frame").
    close_sent: bool,
    /// The connection is over for senders (failed write, or reader gone).
    ended: Option<io::ErrorKind>,
    /// Sends from this thread are queued but not written (see `hold`).
    held_for: Option<std::thread::ThreadId>,
    /// Threads waiting on `progress`.
    waiters: usize,
    /// Bytes ever appended to `pending`, and ever written (or given up on).
    appended: u64,
    written: u64,
    /// Encoded frames waiting for the flusher.
    pending: Vec<u8>,
    /// An empty buffer to swap with `pending`, so neither is reallocated.
    spare: Vec<u8>,
    /// Only clients mask: servers never allocate these.
    masks: Option<Box<MaskKeys>>,
}

impl WriteState {
    fn mask_key(&mut self) -> io::Result<[u8; 4]> {
        self.masks
            .get_or_insert_with(|| Box::new(MaskKeys::new()))
            .next()
    }
}

/// The write side of one connection.
///
/// `repr(C)` keeps the fields in this order: what every send (and every
/// read, for `close_sent_at`) touches first, so that a message costs the
/// fewest cache lines.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Writer {
    role: Role,
    transport: Transport,
    /// When our close frame was queued: the peer's answer is due within the
    /// close timeout. Read without the lock on every blocking read.
    close_sent_at: OnceLock<Instant>,
    state: Mutex<WriteState>,
    progress: Condvar,
    max_buffer: usize,
    /// How the connection ended, as the reader saw it.
    ending: OnceLock<Ending>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The close handshake completed; the peer's close frame.
    Closed(CloseFrame),
    /// The connection failed: the error, as text.
    Failed(String),
    /// The `WebSocket` was dropped while the connection was open (its
    /// handler returned, or panicked), and closed then.
    Dropped,
}

/// What [`Writer::try_send_encoded_now`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Immediate {
    /// Written whole.
    Written,
    /// Partly written; the rest is queued, with no thread writing it.
    Partly,
    /// Not written: another thread is writing, or the socket is full.
    Busy,
}

/// One frame to send.
pub(crate) struct OutFrame<'a> {
    pub fin: bool,
    pub opcode: OpCode,
    pub payload: &'a [u8],
}

impl Writer {
    pub(crate) fn new(role: Role, transport: Transport, max_buffer: usize) -> Self {
        Writer {
            role,
            transport,
            max_buffer,
            state: Mutex::new(WriteState {
                pending: Vec::new(),
                spare: Vec::new(),
                flushing: false,
                appended: 0,
                written: 0,
                close_sent: false,
                ended: None,
                waiters: 0,
                held_for: None,
                masks: None,
            }),
            progress: Condvar::new(),
            close_sent_at: OnceLock::new(),
            ending: OnceLock::new(),
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    fn lock(&self) -> MutexGuard<'_, WriteState> {
        // A panic while holding this lock leaves the state consistent (every
        // update is a single assignment), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, mut st: MutexGuard<'a, WriteState>) -> MutexGuard<'a, WriteState> {
        st.waiters += 1;
        let mut st = self.progress.wait(st).unwrap_or_else(|e| e.into_inner());
        st.waiters -= 1;
        st
    }

    /// Wake the threads waiting for progress, if there are any: std's
    /// `notify_all` is a system call even when nobody waits, and this runs
    /// on every send.
    fn wake(&self, st: &WriteState) {
        if st.waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Send one data message as the given frames, whole, never interleaved
    /// with another message's frames.
    pub(crate) fn send_message(&self, frames: &[OutFrame<'_>]) -> Result<()> {
        let total: usize = frames.iter().map(|f| f.payload.len()).sum();
        let mut st = self.lock();
        check_open(&st)?;
        if total >= DIRECT_WRITE_MIN {
            while st.flushing {
                st = self.wait(st);
                check_open(&st)?;
            }
            st.flushing = true;
            return self.write_direct(st, frames);
        }
        self.append(&mut st, frames)?;
        self.finish_send(st, true)
    }

    /// Send one data message of one frame: `send_message` for the common
    /// case, without the walk over a list of frames.
    pub(crate) fn send_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        let frame = OutFrame {
            fin: true,
            opcode,
            payload,
        };
        if payload.len() > SMALL_FRAME_MAX {
            return self.send_message(&[frame]);
        }
        let mut st = self.lock();
        check_open(&st)?;
        if st.flushing || st.held_for.is_some() || !st.pending.is_empty() {
            return self.queue_frame(st, &frame);
        }
        // Nobody else is writing: encode the frame on the stack and write it
        // from there, with no trip through the outgoing buffer.
        let mut bytes = [0u8; SHORT_HEADER_MAX + SMALL_FRAME_MAX];
        let mask = match self.role {
            Role::Client => Some(st.mask_key()?),
            Role::Server => None,
        };
        let len = encode_small_frame(&mut bytes, opcode, payload, mask);
        st.appended += len as u64;
        let end = st.appended;
        // A send that cannot wait, made under the lock: nearly always the
        // socket takes the whole frame, and that is the end of it. (Plain
        // TCP on Linux; elsewhere it takes nothing.)
        let taken = match self.transport.write_now(&bytes[..len]) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(st, e)),
        };
        if taken == len {
            st.written = end;
            return Ok(());
        }
        // The socket is full: the rest goes out as the flusher's, without
        // the lock.
        st.flushing = true;
        drop(st);
        let result = (&self.transport).write_all(&bytes[taken..len]);
        let mut st = self.lock();
        if let Err(e) = result {
            return Err(self.fail(st, e));
        }
        st.written = end;
        if st.pending.is_empty() {
            st.flushing = false;
            self.wake(&st);
            return Ok(());
        }
        // Whatever others queued meanwhile goes out next.
        self.flush(st)
    }

    /// `send_frame` while another thread writes or replies are held: the
    /// frame joins the outgoing buffer. (Out of line, to keep the common
    /// case's code short.)
    #[inline(never)]
    fn queue_frame<'a>(
        &'a self,
        mut st: MutexGuard<'a, WriteState>,
        frame: &OutFrame<'_>,
    ) -> Result<()> {
        self.append(&mut st, std::slice::from_ref(frame))?;
        self.finish_send(st, true)
    }

    /// Send frames already encoded (a server's frames are not masked, so
    /// one encoding serves every connection a broadcast goes to). Each
    /// slice holds whole frames.
    pub(crate) fn send_encoded(&self, frames: &[&[u8]]) -> Result<()> {
        debug_assert_eq!(
            self.role,
            Role::Server,
            "client frames must be masked one by one"
        );
        let mut st = self.lock();
        check_open(&st)?;
        for frame in frames {
            st.pending.extend_from_slice(frame);
            st.appended += frame.len() as u64;
        }
        self.finish_send(st, true)
    }

    /// Write an encoded frame at once, if no other thread is writing or
    /// has bytes queued and the socket takes at least part of it without
    /// waiting. The send never waits for the network, so it is made under
    /// the lock; a part the socket did not take is queued, and the caller
    /// must see that it is written ([`flush_queued`](Self::flush_queued)).
    pub(crate) fn try_send_encoded_now(&self, frame: &[u8]) -> Result<Immediate> {
        debug_assert_eq!(self.role, Role::Server, "client frames must be masked");
        let mut st = self.lock();
        check_open(&st)?;
        if st.flushing || st.held_for.is_some() || !st.pending.is_empty() {
            return Ok(Immediate::Busy);
        }
        let n = match self.transport.write_now(frame) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(st, e)),
        };
        if n == 0 {
            return Ok(Immediate::Busy);
        }
        st.appended += frame.len() as u64;
        st.written = st.appended - (frame.len() - n) as u64;
        if n == frame.len() {
            return Ok(Immediate::Written);
        }
        st.pending.extend_from_slice(&frame[n..]);
        Ok(Immediate::Partly)
    }

    /// Write what is queued, unless another thread is writing it already.
    pub(crate) fn flush_queued(&self) -> Result<()> {
        let mut st = self.lock();
        if st.pending.is_empty() || st.flushing {
            return Ok(());
        }
        st.flushing = true;
        self.flush(st)
    }

    /// Queue a ping or pong. With `wait` false (the reader answering a
    /// ping), return at once if another thread is writing: it will write
    /// this frame too, and the reader must not block behind it.
    pub(crate) fn send_control(&self, opcode: OpCode, payload: &[u8], wait: bool) -> Result<()> {
        let mut st = self.lock();
        if st.close_sent {
            // Nothing but the close handshake is left to say.
            return if opcode == OpCode::Pong {
                Ok(())
            } else {
                Err(Error::AlreadyClosed)
            };
        }
        check_open(&st)?;
        self.append(
            &mut st,
            &[OutFrame {
                fin: true,
                opcode,
                payload,
            }],
        )?;
        self.finish_send(st, wait)
    }

    /// Queue our close frame, once. Returns `Ok(false)` if it had already
    /// been queued. The bytes are written before returning unless another
    /// thread is writing and `wait` is false.
    pub(crate) fn send_close(&self, code: CloseCode, reason: &str, wait: bool) -> Result<bool> {
        let mut st = self.lock();
        if st.close_sent {
            return Ok(false);
        }
        check_open(&st)?;
        let payload = close_payload(code, reason);
        self.append(
            &mut st,
            &[OutFrame {
                fin: true,
                opcode: OpCode::Close,
                payload: &payload,
            }],
        )?;
        st.close_sent = true;
        let _ = self.close_sent_at.set(Instant::now());
        self.finish_send(st, wait).map(|()| true)
    }

    /// True once our close frame has been queued.
    pub(crate) fn close_sent(&self) -> bool {
        self.lock().close_sent
    }

    /// When our close frame was queued, if it was.
    pub(crate) fn close_sent_at(&self) -> Option<Instant> {
        self.close_sent_at.get().copied()
    }

    /// End the connection at once, from any thread: the reader's blocked
    /// read returns, and sends fail.
    pub(crate) fn abort(&self) {
        self.end();
        let _ = self.transport.shutdown(std::net::Shutdown::Both);
    }

    /// Whether this is the client or the server end.
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Record how the connection ended; the first record stays.
    pub(crate) fn set_ending(&self, ending: Ending) {
        let _ = self.ending.set(ending);
    }

    pub(crate) fn ending(&self) -> Option<&Ending> {
        self.ending.get()
    }

    /// Wait until everything queued so far has been written, or the
    /// deadline passes. True if it was written.
    pub(crate) fn wait_written(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        let target = st.appended;
        loop {
            if st.written >= target {
                return true;
            }
            if st.ended.is_some() {
                return false;
            }
            if !st.flushing {
                // Queued by a sender that did not wait (a pong or close reply
                // while another thread wrote, which has since stopped): write
                // it now.
                st.flushing = true;
                return self.flush(st).is_ok();
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st.waiters += 1;
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.waiters -= 1;
        }
    }

    /// The connection is over: later sends fail with `AlreadyClosed`.
    pub(crate) fn end(&self) {
        let mut st = self.lock();
        st.close_sent = true;
        st.ended.get_or_insert(io::ErrorKind::NotConnected);
        self.wake(&st);
    }

    /// Encode `frames` into the outgoing buffer. (Inline: `send_frame`
    /// passes one frame, and the loop then disappears.)
    #[inline]
    fn append(&self, st: &mut WriteState, frames: &[OutFrame<'_>]) -> Result<()> {
        let before = st.pending.len();
        for frame in frames {
            let mask = match self.role {
                Role::Client => Some(st.mask_key()?),
                Role::Server => None,
            };
            write_frame(
                &mut st.pending,
                frame.fin,
                frame.opcode,
                frame.payload,
                mask,
            );
        }
        st.appended += (st.pending.len() - before) as u64;
        Ok(())
    }

    /// Queue, without writing, what the current thread sends from now on,
    /// until [`release`](Self::release) or until [`HOLD_LIMIT`] bytes wait:
    /// replies to a burst of messages then leave in one write.
    pub(crate) fn hold(&self) {
        self.lock().held_for = Some(std::thread::current().id());
    }

    /// Stop holding, and write what was held.
    pub(crate) fn release(&self) -> Result<()> {
        let mut st = self.lock();
        st.held_for = None;
        if st.pending.is_empty() || st.flushing {
            // Nothing held, or the thread writing will write it.
            return Ok(());
        }
        st.flushing = true;
        self.flush(st)
    }

    /// After appending: write, or wait for the thread that is writing.
    fn finish_send<'a>(&'a self, mut st: MutexGuard<'a, WriteState>, wait: bool) -> Result<()> {
        if st.held_for.is_some()
            && st.pending.len() < HOLD_LIMIT
            && st.held_for == Some(std::thread::current().id())
        {
            return Ok(());
        }
        if !st.flushing {
            st.flushing = true;
            return self.flush(st);
        }
        // A reader answering pings must not block behind a slow write,
        // unless the peer piles up more answers than it reads: then the
        // reader waits too, which stops it reading more pings.
        if !wait && st.pending.len() <= self.max_buffer {
            return Ok(());
        }
        let mine = st.appended;
        // Backpressure and error reporting: return once our bytes are out,
        // or with the error that stopped them.
        loop {
            if st.written >= mine {
                return Ok(());
            }
            if let Some(kind) = st.ended {
                return Err(ended_error(kind));
            }
            st = self.wait(st);
        }
    }

    /// Write the outgoing buffer until it stays empty. Called holding the
    /// flusher role; gives it up before returning.
    fn flush<'a>(&'a self, mut st: MutexGuard<'a, WriteState>) -> Result<()> {
        loop {
            if st.pending.is_empty() {
                st.flushing = false;
                self.wake(&st);
                return Ok(());
            }
            let spare = std::mem::take(&mut st.spare);
            let mut batch = std::mem::replace(&mut st.pending, spare);
            let end = st.appended;
            drop(st);
            let result = (&self.transport).write_all(&batch);
            batch.clear();
            if batch.capacity() > KEEP_BUFFER_CAPACITY {
                batch.shrink_to(KEEP_BUFFER_CAPACITY);
            }
            st = self.lock();
            st.spare = batch;
            if let Err(e) = result {
                return Err(self.fail(st, e));
            }
            st.written = end;
            self.wake(&st);
        }
    }

    /// Write a large message from the caller's memory, then whatever others
    /// queued meanwhile. Called holding the flusher role. (Out of line: its
    /// locals would otherwise widen the stack frame of every small send.)
    #[inline(never)]
    fn write_direct<'a>(
        &'a self,
        mut st: MutexGuard<'a, WriteState>,
        frames: &[OutFrame<'_>],
    ) -> Result<()> {
        let masks: Vec<Option<[u8; 4]>> = match self.role {
            Role::Client => frames
                .iter()
                .map(|_| st.mask_key().map(Some))
                .collect::<io::Result<_>>()?,
            Role::Server => vec![None; frames.len()],
        };
        let earlier = std::mem::take(&mut st.pending);
        let earlier_end = st.appended;
        drop(st);
        let result = self.write_frames_direct(&earlier, frames, &masks);
        st = self.lock();
        // Whatever was appended while we wrote stays queued, in order; the
        // buffer we took becomes the spare.
        let mut earlier = earlier;
        earlier.clear();
        if st.spare.capacity() < earlier.capacity() && earlier.capacity() <= KEEP_BUFFER_CAPACITY {
            st.spare = earlier;
        }
        if let Err(e) = result {
            return Err(self.fail(st, e));
        }
        st.written = st.written.max(earlier_end);
        // Our frames were never counted in `appended`, so `written` only
        // tracks the queued bytes; those appended meanwhile come next.
        self.flush(st)
    }

    fn write_frames_direct(
        &self,
        earlier: &[u8],
        frames: &[OutFrame<'_>],
        masks: &[Option<[u8; 4]>],
    ) -> io::Result<()> {
        let mut transport = &self.transport;
        if !earlier.is_empty() {
            transport.write_all(earlier)?;
        }
        let mut scratch = Vec::new();
        for (frame, mask) in frames.iter().zip(masks) {
            let header = FrameHeader {
                fin: frame.fin,
                rsv: 0,
                opcode: frame.opcode,
                mask: *mask,
                payload_len: frame.payload.len() as u64,
            };
            let mut head = [0u8; MAX_HEADER_LEN];
            let head_len = header.encode(&mut head);
            match mask {
                None => write_all_vectored(
                    &mut transport,
                    &mut [IoSlice::new(&head[..head_len]), IoSlice::new(frame.payload)],
                )?,
                Some(key) => {
                    // A client must mask, so the payload is copied anyway:
                    // a chunk at a time, the first one behind the header.
                    scratch.reserve(MASK_CHUNK + MAX_HEADER_LEN);
                    scratch.extend_from_slice(&head[..head_len]);
                    for (i, chunk) in frame.payload.chunks(MASK_CHUNK).enumerate() {
                        let start = scratch.len();
                        scratch.extend_from_slice(chunk);
                        apply_mask(&mut scratch[start..], *key, i * MASK_CHUNK);
                        transport.write_all(&scratch)?;
                        scratch.clear();
                    }
                    if !scratch.is_empty() {
                        transport.write_all(&scratch)?;
                        scratch.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// A write failed: the stream is broken mid-frame, so the connection is
    /// over for every sender. Wake them all.
    fn fail(&self, mut st: MutexGuard<'_, WriteState>, e: io::Error) -> Error {
        st.ended = Some(e.kind());
        st.close_sent = true;
        st.flushing = false;
        // The bytes not written are dropped; `written` stays short of
        // `appended` so their senders learn it.
        st.pending.clear();
        self.wake(&st);
        Error::from_io(e, Timeout::Write)
    }
}

/// The header of a frame of at most [`SMALL_FRAME_MAX`] bytes: 2 bytes and
/// a client's masking key.
const SHORT_HEADER_MAX: usize = 6;

/// Encode a final frame of at most [`SMALL_FRAME_MAX`] bytes of payload into
/// `bytes`; returns its length. (The general `FrameHeader::encode`, for any
/// length, is more code than a small message should run through.)
fn encode_small_frame(
    bytes: &mut [u8; SHORT_HEADER_MAX + SMALL_FRAME_MAX],
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> usize {
    debug_assert!(payload.len() <= SMALL_FRAME_MAX);
    let len = payload.len().min(SMALL_FRAME_MAX);
    // FIN, no reserved bits; the length in the 7-bit field (§5.2).
    bytes[0] = 0x80 | opcode.bits();
    bytes[1] = len as u8;
    let head = match mask {
        None => 2,
        Some(key) => {
            bytes[1] |= 0x80;
            bytes[2..6].copy_from_slice(&key);
            6
        }
    };
    let out = &mut bytes[head..head + len];
    out.copy_from_slice(&payload[..len]);
    if let Some(key) = mask {
        apply_mask_short(out, key);
    }
    head + len
}

fn check_open(st: &WriteState) -> Result<()> {
    if let Some(kind) = st.ended {
        return Err(ended_error(kind));
    }
    if st.close_sent {
        return Err(Error::AlreadyClosed);
    }
    Ok(())
}

/// What a send meets on a connection that ended: the failure that ended
/// it was reported once, to the call that met it; every other call is
/// told the connection is over, never to try again.
fn ended_error(_kind: io::ErrorKind) -> Error {
    Error::AlreadyClosed
}

/// `Write::write_all_vectored` is not stable yet.
fn write_all_vectored(out: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    /// Small frames go out under the lock with a send that cannot wait;
    /// once the socket is full, a send waits as the flusher, without the
    /// lock, and every frame still arrives whole and in order.
    #[test]
    fn small_frames_to_a_full_socket_wait_without_the_lock_and_arrive_in_order() {
        const FRAMES: usize = 4000;
        const SIZE: usize = 100;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nodelay(true).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Small buffers, so that 400 KB fill them many times over.
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4096)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(4096)
            .unwrap();
        let writer = Arc::new(Writer::new(
            Role::Server,
            Transport::Tcp(Arc::new(server)),
            1 << 20,
        ));
        let pusher = {
            let writer = Arc::clone(&writer);
            thread::spawn(move || {
                for i in 0..FRAMES {
                    writer.send_frame(OpCode::Binary, &[i as u8; SIZE]).unwrap();
                }
            })
        };
        // The peer reads nothing until a send waits on the full socket.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !writer.lock().flushing {
            assert!(
                Instant::now() < deadline,
                "no send ever found the socket full"
            );
            thread::yield_now();
        }
        let mut frame = [0u8; 2 + SIZE];
        for i in 0..FRAMES {
            client.read_exact(&mut frame).unwrap();
            assert_eq!(frame[..2], [0x82, SIZE as u8], "frame {i}'s header");
            assert!(
                frame[2..].iter().all(|&b| b == i as u8),
                "frame {i}'s payload"
            );
        }
        pusher.join().unwrap();
        let st = writer.lock();
        assert!(!st.flushing && st.pending.is_empty());
        assert_eq!(st.written, st.appended);
    }
}

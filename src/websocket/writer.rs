//! The sending side of a connection, shared by every thread that sends.
//!
//! The connection's [`Session`] (its state, every decision, and the bytes
//! queued to send) lives under one mutex, which is never held while
//! waiting for the network (only across a send that cannot wait). The
//! writer only carries out what the session decides: it moves the queued
//! bytes to the socket.
//!
//! One sender at a time holds the *flusher* role: it takes what is queued,
//! writes it without the lock, and repeats while others keep queuing.
//! Others wait on a condition variable until their bytes have been
//! written, so `send` returning `Ok` means the kernel has the whole
//! message, and messages queued together go out in one write system call
//! (group commit). Frames of two messages never interleave: each message
//! is queued (or, when large, written) whole, and the queue keeps its
//! order, shared broadcast frames included.
//!
//! A small frame sent while nobody else is writing is encoded on the
//! sender's stack and sent under the lock with `MSG_DONTWAIT`, without a
//! trip through the queue; only if the socket does not take it all does
//! the sender take the flusher role and write the rest without the lock.
//! Large payloads are not copied into the queue either: the sender waits
//! for the flusher role and writes header and payload with one vectored
//! write.

use std::io::{self, IoSlice, Write};
#[cfg(feature = "deflate")]
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::protocol::frame::{FrameHeader, MAX_HEADER_LEN, MAX_SHORT_PAYLOAD, OpCode};
use crate::protocol::mask::apply_mask;
use crate::protocol::message::{CloseCode, CloseFrame};
use crate::protocol::outbox::{Batch, OutFrame, SHORT_HEADER_MAX, SharedFrame, message_frames};
use crate::protocol::session::{Failure, Session, State, TcpClose};
use crate::protocol::{Role, Timeout};
use crate::sync::{Signal, lock};
use crate::transport::Transport;

/// Payloads at least this large are written from the caller's memory
/// instead of being copied into the queue.
const DIRECT_WRITE_MIN: usize = 64 << 10;
/// The queue's buffer is given back to the allocator above this size, so an
/// idle connection that once sent a burst does not keep its memory.
const KEEP_BUFFER_CAPACITY: usize = 64 << 10;
/// Sends held back by [`Writer::hold`] go out anyway once this much is
/// waiting.
const HOLD_LIMIT: usize = 64 << 10;
/// Client frames are masked into a scratch buffer of this size at a time.
const MASK_CHUNK: usize = 64 << 10;

/// The session, and who is writing. In this order (what a send looks at
/// first), for the reason given on the `Writer`.
#[derive(Debug)]
#[repr(C)]
struct WriteState {
    /// A thread is writing; it will write whatever is queued meanwhile.
    flushing: bool,
    /// Sends from this thread are queued but not written (see `hold`).
    held_for: Option<std::thread::ThreadId>,
    /// Bytes ever queued, and ever written (or given up on).
    appended: u64,
    written: u64,
    /// The connection's state and the bytes it queued.
    session: Session,
    /// An empty buffer to take the place of the queue's when it is taken,
    /// so neither is reallocated.
    spare: Vec<u8>,
}

impl WriteState {
    /// Nobody writes and nothing waits: a frame may go out at once.
    #[inline]
    fn idle(&self) -> bool {
        !self.flushing && self.held_for.is_none() && self.session.nothing_to_send()
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
    progress: Signal,
    max_buffer: usize,
    /// The `WebSocket` was dropped while the connection was open (its drop
    /// sent the close frame): a reconnecting client tells that from a
    /// close its caller asked for.
    dropped_open: AtomicBool,
    /// The shortest message compressed (permessage-deflate): `usize::MAX`
    /// when none is.
    compress_from: usize,
    /// The window a broadcast compressed once must keep to for this
    /// connection, if it takes compressed messages.
    broadcast_window: Option<u8>,
    /// This writer, for the thread that hibernates idle compressors.
    #[cfg(feature = "deflate")]
    me: Weak<Writer>,
}

#[cfg(feature = "deflate")]
impl Drop for Writer {
    /// A compressor with a zlib context is watched for hibernation: the
    /// watching thread is told to let it go now.
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.session.hibernation_due().is_some() {
            super::hibernation::forget();
        }
    }
}

/// How much a broadcast may find waiting on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLimit {
    /// Broadcast frames queued and not yet taken by a writer.
    pub messages: usize,
    /// Bytes queued or being written and not yet written, of any kind.
    pub bytes: usize,
}

/// What [`Writer::send_broadcast_now`] did with a broadcast frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Written whole.
    Written,
    /// Queued, in order; with `flush`, nobody is writing it yet, and the
    /// caller must see that someone does ([`Writer::flush_queued`]).
    Waiting { flush: bool },
    /// Not queued: `limit` broadcast frames wait already.
    Full,
}

impl Writer {
    /// The write side of a connection whose `session` has just opened.
    pub(crate) fn new(
        role: Role,
        transport: Transport,
        max_buffer: usize,
        session: Session,
    ) -> Arc<Self> {
        Arc::new_cyclic(|_me| Writer {
            role,
            transport,
            max_buffer,
            compress_from: session.compress_threshold(),
            broadcast_window: session.broadcast_window(),
            #[cfg(feature = "deflate")]
            me: _me.clone(),
            state: Mutex::new(WriteState {
                flushing: false,
                held_for: None,
                appended: 0,
                written: 0,
                session,
                spare: Vec::new(),
            }),
            progress: Signal::default(),
            close_sent_at: OnceLock::new(),
            dropped_open: AtomicBool::new(false),
        })
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    fn lock(&self) -> MutexGuard<'_, WriteState> {
        lock(&self.state)
    }

    /// Send one data message as the given frames, whole, never interleaved
    /// with another message's frames.
    pub(crate) fn send_message(&self, frames: &[OutFrame<'_>]) -> Result<()> {
        let total: usize = frames.iter().map(|f| f.payload.len()).sum();
        let mut st = self.lock();
        st.session.check_open()?;
        if total >= DIRECT_WRITE_MIN {
            while st.flushing {
                st = self.progress.wait(st);
                st.session.check_open()?;
            }
            st.flushing = true;
            return self.write_direct(st, frames);
        }
        let queued = st.session.send_frames(frames)?;
        st.appended += queued as u64;
        self.finish_send(st, true)
    }

    /// Send one data message of one frame (compressed if deflate was
    /// agreed and it is long enough): `send_message` for the common case,
    /// without the walk over a list of frames.
    pub(crate) fn send_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        if payload.len() >= self.compress_from {
            return self.send_compressed(opcode, &[payload]);
        }
        self.send_frame_as_it_is(opcode, payload)
    }

    /// [`send_frame`](Self::send_frame), never compressed.
    pub(crate) fn send_frame_uncompressed(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        self.send_frame_as_it_is(opcode, payload)
    }

    /// Send one data message of a frame for each of `pieces`; with
    /// `compress`, compressed if deflate was agreed and it is long enough.
    pub(crate) fn send_pieces(
        &self,
        opcode: OpCode,
        pieces: &[&[u8]],
        compress: bool,
    ) -> Result<()> {
        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        if compress && total >= self.compress_from {
            return self.send_compressed(opcode, pieces);
        }
        if pieces.len() <= 1 {
            let payload = pieces.first().copied().unwrap_or_default();
            return self.send_frame_uncompressed(opcode, payload);
        }
        self.send_message(&message_frames(opcode, pieces))
    }

    /// Compress a message, a frame for each of `pieces`, and send it. It
    /// is compressed under the lock: with context takeover, the order of
    /// compression is the order on the wire. (No wait for the network
    /// under it: the frames are queued, and written as any others.)
    // Cold for the layout of `send_frame`, whose uncompressed path is what
    // every connection without deflate runs.
    #[cold]
    #[inline(never)]
    fn send_compressed(&self, opcode: OpCode, pieces: &[&[u8]]) -> Result<()> {
        let mut st = self.lock();
        let was_hibernating = st.session.hibernation_due().is_none();
        let queued = st.session.send_compressed(opcode, pieces, Instant::now())?;
        st.appended += queued as u64;
        #[cfg(feature = "deflate")]
        if was_hibernating {
            if let Some(due) = st.session.hibernation_due() {
                super::hibernation::watch(self.me.clone(), due);
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = was_hibernating;
        self.finish_send(st, true)
    }

    /// Hibernate the compressor if it has been idle long enough at `now`;
    /// otherwise when to ask again (`None`: until its next message).
    #[cfg(feature = "deflate")]
    pub(crate) fn hibernate_if_idle(&self, now: Instant) -> Option<Instant> {
        self.lock().session.hibernate_if_idle(now)
    }

    /// The window a broadcast compressed once must keep to for this
    /// connection, and the shortest message it compresses, if it takes
    /// compressed messages.
    pub(crate) fn broadcast_deflate(&self) -> Option<(u8, usize)> {
        self.broadcast_window.map(|bits| (bits, self.compress_from))
    }

    /// The body of both: one function each, as `send_frame` was before
    /// deflate. (A call from `send_frame` to a function of its own cost 28
    /// instructions per 32-byte echo, its lock guard dropped out of line;
    /// `send_frame` inlined into its callers grew the reading thread's
    /// frames, an idle connection touched a stack page more.)
    #[inline(always)]
    fn send_frame_as_it_is(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        let frame = OutFrame {
            fin: true,
            rsv: 0,
            opcode,
            payload,
        };
        if payload.len() > MAX_SHORT_PAYLOAD {
            return self.send_message(&[frame]);
        }
        let mut st = self.lock();
        if !st.idle() {
            return self.queue_frame(st, &frame);
        }
        // Nobody else is writing: encode the frame on the stack and write it
        // from there, with no trip through the queue.
        let mut bytes = [0u8; SHORT_HEADER_MAX + MAX_SHORT_PAYLOAD];
        let len = st.session.encode_short(&mut bytes, opcode, payload)?;
        st.appended += len as u64;
        let end = st.appended;
        // A send that cannot wait, made under the lock: nearly always the
        // socket takes the whole frame, and that is the end of it. (Plain
        // TCP on Linux; elsewhere it takes nothing.)
        let taken = match self.transport.write_now(&bytes[..len]) {
            Ok(n) => n,
            Err(e) => return Err(self.write_failed(st, e)),
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
            return Err(self.write_failed(st, e));
        }
        st.written = end;
        // Whatever others queued meanwhile goes out next.
        self.flush(st)
    }

    /// `send_frame` while another thread writes or replies are held: the
    /// frame joins the queue. (Out of line, to keep the common case's code
    /// short.)
    #[inline(never)]
    fn queue_frame<'a>(
        &'a self,
        mut st: MutexGuard<'a, WriteState>,
        frame: &OutFrame<'_>,
    ) -> Result<()> {
        let queued = st.session.send_frames(std::slice::from_ref(frame))?;
        st.appended += queued as u64;
        self.finish_send(st, true)
    }

    /// Send a broadcast frame (encoded once for every connection it goes
    /// to: a server's frames are not masked) without ever waiting for the
    /// network: written at once if nothing else is being written and the
    /// socket takes it (a send that cannot wait, made under the lock), else
    /// queued, in order, unless that would put more than `limit.messages`
    /// broadcast frames in the queue, or more than `limit.bytes` bytes not
    /// yet written on the connection.
    ///
    /// A frame compressed once for many connections comes with its
    /// uncompressed `message`, which this connection's compressor takes
    /// into its window (see `Session::compressed_broadcast`).
    pub(crate) fn send_broadcast_now(
        &self,
        frame: &SharedFrame,
        compressed_from: Option<&[u8]>,
        limit: QueueLimit,
    ) -> Result<Queued> {
        let mut st = self.lock();
        st.session.check_open()?;
        let idle = st.idle() && self.role == Role::Server;
        if !idle {
            let unwritten = (st.appended - st.written) as usize;
            if st.session.queued_broadcasts() >= limit.messages
                || (unwritten > 0 && unwritten + frame.bytes().len() > limit.bytes)
            {
                return Ok(Queued::Full);
            }
        }
        if let Some(message) = compressed_from {
            st.session.compressed_broadcast(message)?;
        }
        if idle {
            let bytes = frame.bytes();
            let taken = match self.transport.write_now(bytes) {
                Ok(n) => n,
                Err(e) => return Err(self.write_failed(st, e)),
            };
            st.appended += bytes.len() as u64;
            if taken == bytes.len() {
                st.written = st.appended;
                return Ok(Queued::Written);
            }
            // The part the socket did not take waits for a flusher.
            let queued = st.session.send_broadcast(frame, taken)?;
            st.written = st.appended - queued as u64;
            return Ok(Queued::Waiting { flush: true });
        }
        let queued = st.session.send_broadcast(frame, 0)?;
        st.appended += queued as u64;
        Ok(Queued::Waiting {
            flush: !st.flushing,
        })
    }

    /// Write what is queued, unless another thread is writing it already.
    /// Held replies are written too: only the holding thread's own sends
    /// are held.
    pub(crate) fn flush_queued(&self) -> Result<()> {
        let mut st = self.lock();
        if st.session.nothing_to_send() || st.flushing {
            return Ok(());
        }
        st.flushing = true;
        self.flush(st)
    }

    /// Send a ping or an unsolicited pong of the application's, and wait
    /// until it is written.
    pub(crate) fn send_control(&self, opcode: OpCode, payload: &[u8]) -> Result<()> {
        let mut st = self.lock();
        let queued = st.session.send_control(opcode, payload)?;
        st.appended += queued as u64;
        self.finish_send(st, true)
    }

    /// The reader's keep-alive ping: written now if nobody is writing,
    /// else by the thread that is (the reader does not wait behind it).
    pub(crate) fn send_keep_alive_ping(&self) -> Result<()> {
        let mut st = self.lock();
        let queued = st.session.send_control(OpCode::Ping, b"")?;
        st.appended += queued as u64;
        self.finish_send(st, false)
    }

    /// A ping arrived: queue its pong (as the session decides) without
    /// waiting behind another thread's write.
    pub(crate) fn ping_received(&self, payload: &[u8]) -> Result<()> {
        let mut st = self.lock();
        let queued = st.session.ping_received(payload);
        if queued == 0 {
            return Ok(());
        }
        st.appended += queued as u64;
        self.finish_send(st, false)
    }

    /// The peer's close frame arrived: the session queues the reply, if it
    /// owes one, and completes the close handshake. Returns the peer's
    /// frame. The reply is written now unless another thread is writing.
    pub(crate) fn close_received(&self, frame: Option<CloseFrame>) -> CloseFrame {
        let mut st = self.lock();
        let (frame, queued) = st.session.close_received(frame);
        // For `wait_over`: the close handshake is complete.
        self.progress.notify_all();
        if queued > 0 {
            st.appended += queued as u64;
            let _ = self.finish_send(st, false);
        }
        frame
    }

    /// Start the close handshake with our close frame. With `wait`, return
    /// once it is written; else only if nobody else is writing.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close frame was sent already or the
    /// connection is over; the write error.
    pub(crate) fn send_close(&self, code: CloseCode, reason: &str, wait: bool) -> Result<()> {
        let mut st = self.lock();
        let now = Instant::now();
        let queued = st.session.send_close(code, reason, now)?;
        let _ = self.close_sent_at.set(now);
        st.appended += queued as u64;
        self.finish_send(st, wait)
    }

    /// Fail the connection (as the session decides: after a protocol error
    /// a close frame with its code is queued, and written now unless
    /// another thread is writing). True if this failure is the one the
    /// connection ended with, false if it had ended already.
    pub(crate) fn fail(&self, failure: Failure) -> bool {
        let mut st = self.lock();
        if !matches!(st.session.state(), State::Open | State::Closing { .. }) {
            return false;
        }
        let queued = st.session.fail(failure);
        self.progress.notify_all();
        if queued > 0 {
            st.appended += queued as u64;
            let _ = self.finish_send(st, false);
        }
        true
    }

    /// When our close frame was queued, if it was.
    #[inline]
    pub(crate) fn close_sent_at(&self) -> Option<Instant> {
        self.close_sent_at.get().copied()
    }

    /// Note that the `WebSocket` is being dropped while the connection is
    /// open (before its drop closes it).
    pub(crate) fn set_dropped_open(&self) {
        self.dropped_open.store(true, Ordering::Release);
    }

    /// Whether the `WebSocket` was dropped while the connection was open.
    pub(crate) fn dropped_open(&self) -> bool {
        self.dropped_open.load(Ordering::Acquire)
    }

    /// End the connection at once, from any thread: the reader's blocked
    /// read returns, and sends fail.
    pub(crate) fn abort(&self) {
        self.fail(Failure::Aborted);
        let _ = self.transport.shutdown(std::net::Shutdown::Both);
    }

    /// Queue a close frame, wait up to `deadline` for it to be written, and
    /// drop the connection if it was not.
    pub(crate) fn close_or_abort(&self, code: CloseCode, reason: &str, deadline: Instant) {
        let _ = self.send_close(code, reason, false);
        if !self.wait_written(deadline) {
            self.abort();
        }
    }

    /// [`close_or_abort`](Self::close_or_abort), and drop the connection
    /// too if the peer has not answered by `deadline`. (The answer is the
    /// reading thread's to receive, but that thread may be blocked in a
    /// read with no deadline, which a close frame sent from another thread
    /// cannot shorten: so the closing thread keeps the deadline.)
    pub(crate) fn close_within(&self, code: CloseCode, reason: &str, deadline: Instant) {
        let _ = self.send_close(code, reason, false);
        if !self.wait_written(deadline) || !self.wait_over(deadline) {
            self.abort();
        }
    }

    /// Wait until the connection is over (closed or failed), or the
    /// deadline passes. True if it is over.
    fn wait_over(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        loop {
            if matches!(st.session.state(), State::Closed { .. } | State::Failed(_)) {
                return true;
            }
            let (next, in_time) = self.progress.wait_until(st, deadline);
            if !in_time {
                return matches!(
                    next.session.state(),
                    State::Closed { .. } | State::Failed(_)
                );
            }
            st = next;
        }
    }

    /// Where the connection is.
    pub(crate) fn state(&self) -> State {
        self.lock().session.state().clone()
    }

    /// True while data may be sent.
    pub(crate) fn is_open(&self) -> bool {
        self.lock().session.is_open()
    }

    /// How to close the TCP connection, as the session decides once the
    /// connection is over (see [`Session::tcp_close`]).
    pub(crate) fn tcp_close(&self, written: bool, unread: bool) -> Option<TcpClose> {
        self.lock()
            .session
            .tcp_close(written, unread, self.transport.is_tls())
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
            if !stream_usable(&st.session) {
                return false;
            }
            if !st.flushing {
                // Queued by a sender that did not wait (a pong or close reply
                // while another thread wrote, which has since stopped): write
                // it now.
                st.flushing = true;
                return self.flush(st).is_ok();
            }
            let (next, in_time) = self.progress.wait_until(st, deadline);
            if !in_time {
                return false;
            }
            st = next;
        }
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
        if st.session.nothing_to_send() || st.flushing {
            // Nothing held, or the thread writing will write it.
            return Ok(());
        }
        st.flushing = true;
        self.flush(st)
    }

    /// After queuing: write, or wait for the thread that is writing.
    fn finish_send<'a>(&'a self, mut st: MutexGuard<'a, WriteState>, wait: bool) -> Result<()> {
        if st.held_for.is_some()
            && st.session.queued_tail() < HOLD_LIMIT
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
        if !wait && st.session.queued_tail() <= self.max_buffer {
            return Ok(());
        }
        let mine = st.appended;
        // Backpressure and error reporting: return once our bytes are out,
        // or learn that the connection failed before they were.
        loop {
            if st.written >= mine {
                return Ok(());
            }
            if !stream_usable(&st.session) {
                return Err(Error::AlreadyClosed);
            }
            st = self.progress.wait(st);
        }
    }

    /// Write the queue until it stays empty. Called holding the flusher
    /// role; gives it up before returning.
    fn flush<'a>(&'a self, mut st: MutexGuard<'a, WriteState>) -> Result<()> {
        loop {
            if st.session.nothing_to_send() {
                st.flushing = false;
                self.progress.notify_all();
                return Ok(());
            }
            let spare = std::mem::take(&mut st.spare);
            let batch = st.session.take_queued(spare);
            let end = st.appended;
            drop(st);
            let (result, tail) = self.write_batch(batch);
            st = self.lock();
            st.spare = tail;
            if let Err(e) = result {
                return Err(self.write_failed(st, e));
            }
            st.written = end;
            self.progress.notify_all();
        }
    }

    /// Write a batch taken from the queue; give back its tail buffer,
    /// emptied, for reuse.
    fn write_batch(&self, batch: Batch) -> (io::Result<()>, Vec<u8>) {
        let Batch { ahead, mut tail } = batch;
        let result = if ahead.is_empty() {
            (&self.transport).write_all(&tail)
        } else {
            let mut slices: Vec<IoSlice<'_>> =
                ahead.iter().map(|c| IoSlice::new(c.bytes())).collect();
            slices.push(IoSlice::new(&tail));
            write_all_vectored(&mut &self.transport, &mut slices)
        };
        drop(ahead);
        tail.clear();
        if tail.capacity() > KEEP_BUFFER_CAPACITY {
            tail.shrink_to(KEEP_BUFFER_CAPACITY);
        }
        (result, tail)
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
        let masks = match st.session.masks_for(frames.len()) {
            Ok(masks) => masks,
            Err(e) => {
                st.flushing = false;
                self.progress.notify_all();
                return Err(e.into());
            }
        };
        let spare = std::mem::take(&mut st.spare);
        let earlier = st.session.take_queued(spare);
        let earlier_end = st.appended;
        drop(st);
        let (earlier_written, tail) = self.write_batch(earlier);
        let result = earlier_written.and_then(|()| self.write_frames_direct(frames, &masks));
        st = self.lock();
        st.spare = tail;
        if let Err(e) = result {
            return Err(self.write_failed(st, e));
        }
        st.written = st.written.max(earlier_end);
        // Our frames were never counted in `appended`, so `written` only
        // tracks the queued bytes; those queued meanwhile come next.
        self.flush(st)
    }

    fn write_frames_direct(
        &self,
        frames: &[OutFrame<'_>],
        masks: &[Option<[u8; 4]>],
    ) -> io::Result<()> {
        let mut transport = &self.transport;
        let mut scratch = Vec::new();
        for (frame, mask) in frames.iter().zip(masks) {
            let mut head = [0u8; MAX_HEADER_LEN];
            let head_len =
                FrameHeader::new(frame.fin, frame.opcode, frame.payload.len() as u64, *mask)
                    .encode(&mut head);
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

    /// A write failed: the stream is broken, perhaps mid-frame, so the
    /// connection is failed for every sender (what was queued is dropped,
    /// and `written` stays short of `appended`, so waiting senders learn
    /// it), and the socket is shut down so that its reader learns it too.
    /// The error goes to the call that met it; later calls are told the
    /// connection is over.
    #[cold]
    fn write_failed(&self, mut st: MutexGuard<'_, WriteState>, e: io::Error) -> Error {
        let error = Error::from_io(e, Timeout::Write);
        let failure = match &error {
            Error::Timeout(timeout) => Failure::Timeout(*timeout),
            other => Failure::Transport(other.to_string()),
        };
        st.session.fail(failure);
        st.flushing = false;
        self.progress.notify_all();
        drop(st);
        let _ = self.transport.shutdown(std::net::Shutdown::Both);
        error
    }
}

/// Can anything still be written? Not once the stream broke, a deadline
/// passed or the connection was aborted; after a protocol error, yes: the
/// close frame.
fn stream_usable(session: &Session) -> bool {
    !matches!(session.state(), State::Failed(failure) if !matches!(failure, Failure::Protocol(_)))
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
        let writer = Writer::new(
            Role::Server,
            Transport::Plain(Arc::new(server.into())),
            1 << 20,
            Session::new(Role::Server),
        );
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
        assert!(!st.flushing && st.session.nothing_to_send());
        assert_eq!(st.written, st.appended);
    }
}

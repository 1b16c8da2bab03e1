//! The blocking `WebSocket`: it drives the sans-I/O [`Receiver`] with
//! blocking reads, and shares its write side with every [`Sender`].

mod sender;
mod writer;

use std::any::Any;
use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Timeout, is_timeout_kind};
use crate::protocol::Role;
use crate::protocol::config::{Config, KeepAlive};
use crate::protocol::frame::OpCode;
use crate::protocol::handshake::Request;
use crate::protocol::message::{CloseCode, CloseFrame, Message, MessageRef};
use crate::protocol::receiver::{Event, ReadTarget, Received, Receiver};
use crate::protocol::timers::{Timers, Wake};
use crate::server::ConnectionId;
use crate::transport::Transport;

pub use sender::Sender;
use writer::Writer;
pub(crate) use writer::{Ending, Immediate};

/// How many reads may go by under a socket timeout that no deadline wants
/// before it is taken off (see `WebSocket::lower_socket_timeout`).
const STALE_TIMEOUT_READS: u8 = 8;

/// A stream whose opening handshake has just completed, handed over to
/// [`WebSocket::from_transport`].
pub(crate) struct Opened {
    pub transport: Transport,
    pub peer_addr: Option<SocketAddr>,
    /// Bytes read past the end of the HTTP head.
    pub leftover: Vec<u8>,
    /// The read timeout still set on the socket by the handshake.
    pub socket_timeout: Option<Duration>,
    /// The handshake set a write timeout on the socket.
    pub write_timeout_set: bool,
}

/// What a server knows of a connection, beyond the socket.
#[derive(Clone)]
pub(crate) struct ServerSide {
    pub id: ConnectionId,
    pub data: Option<Arc<dyn Any + Send + Sync>>,
    /// Where [`WebSocket::detach`] leaves the connection for the server.
    pub detach_to: Arc<DetachSlot>,
}

/// A detached connection, and the queue its messages go to.
pub(crate) type Detached = (WebSocket, crossbeam_channel::Sender<Result<Message>>);

/// Where a detached connection waits for its server thread to pump it.
pub(crate) struct DetachSlot {
    pub detached: Mutex<Option<Detached>>,
    /// Makes the queue of a detaching connection and registers its reading
    /// end, so that `attach` works as soon as `detach` has returned.
    pub open_inbox: Box<dyn Fn() -> crossbeam_channel::Sender<Result<Message>> + Send + Sync>,
}

/// A WebSocket connection, after the opening handshake.
///
/// The `WebSocket` is the reading end: [`read_message`](Self::read_message)
/// blocks until a whole message has arrived, answering pings and completing
/// the close handshake on its own. It can send too, and so can any number of
/// [`Sender`]s (see [`sender`](Self::sender)) from other threads, at the
/// same time as a read is blocked.
///
/// ```no_run
/// let mut ws = syncws::connect("ws://127.0.0.1:9001/echo")?;
/// ws.send_text("hello")?;
/// let reply = ws.read_message()?;
/// println!("{reply:?}");
/// ws.close(syncws::CloseCode::Normal, "done")?;
/// # Ok::<(), syncws::Error>(())
/// ```
pub struct WebSocket {
    /// All of it, on the heap: a `WebSocket` is moved down several calls
    /// (into a handler, its closures, `run_with`), and moving a pointer
    /// is free where 480 bytes would be copied into every one of those
    /// frames, and make a connection's thread touch more stack.
    inner: Box<Connection>,
}

/// The state of a [`WebSocket`].
///
/// `repr(C)` keeps the fields in this order: what every read and send
/// touches first, so that a message costs the fewest cache lines (after a
/// blocking read the kernel has evicted most of them), then what the
/// handshake and the handler's questions need.
#[repr(C)]
struct Connection {
    reader: Transport,
    sender: Sender,
    /// The read timeout currently set on the socket.
    socket_timeout: Option<Duration>,
    role: Role,
    /// The connection is over for reading: every read is `AlreadyClosed`.
    done: bool,
    /// `run_with` holds this thread's sends until the next blocking read.
    holding: bool,
    /// Reads made since the socket got a timeout that no deadline wants
    /// (see `lower_socket_timeout`).
    reads_under_stale_timeout: u8,
    /// The caller set a write timeout of their own.
    own_write_timeout: bool,
    receiver: Receiver,
    timers: Timers,
    request: Option<Request>,
    protocol: Option<String>,
    peer_addr: Option<SocketAddr>,
    server: Option<ServerSide>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.inner.role)
            .field("peer_addr", &self.inner.peer_addr)
            .field("protocol", &self.inner.protocol)
            .field("done", &self.inner.done)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// Take over a stream on which the opening handshake has completed.
    pub(crate) fn from_transport(
        opened: Opened,
        role: Role,
        config: &Config,
    ) -> io::Result<WebSocket> {
        let Opened {
            transport,
            peer_addr,
            leftover,
            socket_timeout,
            write_timeout_set,
        } = opened;
        let writer_transport = transport.share()?;
        if write_timeout_set {
            // The handshake's write timeout must not limit later sends.
            writer_transport.set_write_timeout(None)?;
        }
        let leftover = &leftover[..];
        let mut receiver = Receiver::new(role, config);
        if !leftover.is_empty() {
            receiver.push_bytes(leftover);
        }
        let connection = Box::new(Connection {
            reader: transport,
            receiver,
            sender: Sender {
                writer: Arc::new(Writer::new(role, writer_transport, config.max_write_buffer)),
            },
            role,
            timers: Timers::new(config.close_timeout),
            // Left from the handshake; the first read that needs another
            // timeout sets it.
            socket_timeout,
            reads_under_stale_timeout: 0,
            own_write_timeout: false,
            done: false,
            holding: false,
            request: None,
            protocol: None,
            peer_addr,
            server: None,
        });
        Ok(WebSocket { inner: connection })
    }

    pub(crate) fn set_server_side(&mut self, server: ServerSide) {
        self.inner.server = Some(server);
    }

    /// Where a server's connection is left when detached.
    pub(crate) fn detach_slot(&self) -> Option<Arc<DetachSlot>> {
        self.inner.server.as_ref().map(|s| Arc::clone(&s.detach_to))
    }

    /// The id the server gave this connection (`None` for a client).
    pub fn id(&self) -> Option<ConnectionId> {
        self.inner.server.as_ref().map(|s| s.id)
    }

    /// The data attached to this connection before the upgrade (see
    /// [`Route::before_upgrade`](crate::server::Route::before_upgrade)), if
    /// it is a `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.inner.server.as_ref()?.data.as_ref()?.downcast_ref()
    }

    /// Hand the connection back to the server and return (IRIS's shared
    /// connections): it stays open, its incoming messages wait in a bounded
    /// queue, pings are still answered and a close still noticed, and any
    /// thread can later take it up with
    /// [`ServerHandle::attach`](crate::ServerHandle::attach) by its id.
    ///
    /// # Errors
    /// Gives the `WebSocket` back if it was not accepted by a [`Server`](crate::Server).
    pub fn detach(self) -> std::result::Result<ConnectionId, Box<WebSocket>> {
        let Some(server) = self.inner.server.clone() else {
            return Err(Box::new(self));
        };
        let queue = (server.detach_to.open_inbox)();
        *server
            .detach_to
            .detached
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((self, queue));
        Ok(server.id)
    }

    pub(crate) fn set_request(&mut self, request: Request) {
        self.inner.request = Some(request);
    }

    pub(crate) fn set_protocol(&mut self, protocol: Option<String>) {
        self.inner.protocol = protocol;
    }

    /// The handshake request this connection was opened with (server side;
    /// `None` for a client): path, query, headers, peer address.
    pub fn request(&self) -> Option<&Request> {
        self.inner.request.as_ref()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr
    }

    /// The address of this end.
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.inner.reader.local_addr()?)
    }

    /// Whether this is the client or the server end.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// A handle that sends on this connection from any thread, while this
    /// `WebSocket` reads. Clone it freely.
    pub fn sender(&self) -> Sender {
        self.inner.sender.clone()
    }

    fn writer(&self) -> &Writer {
        &self.inner.sender.writer
    }

    /// Make [`read_message`](Self::read_message) give up with
    /// [`Error::Timeout`] ([`Timeout::Read`]) when no whole message has arrived within `timeout`
    /// (`None`: wait forever). A timeout loses nothing: a frame half
    /// received is completed by the next read.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `InvalidInput` for a zero duration, as
    /// `std::net::TcpStream::set_read_timeout` does.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero read timeout is invalid",
            )));
        }
        self.inner.timers.read_timeout = timeout;
        Ok(())
    }

    /// The read timeout.
    ///
    /// # Errors
    /// Never fails today; kept fallible like `std`'s.
    pub fn read_timeout(&self) -> Result<Option<Duration>> {
        Ok(self.inner.timers.read_timeout)
    }

    /// Make a send that cannot hand its bytes to the network within
    /// `timeout` fail with [`Error::Timeout`] ([`Timeout::Write`]). A frame may then be half
    /// sent, so the connection is over for sending.
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.inner.own_write_timeout = timeout.is_some();
        let timeout = timeout.or(self.inner.timers.keep_alive.map(|k| k.timeout));
        Ok(self.writer().transport().set_write_timeout(timeout)?)
    }

    /// Ping a quiet peer and fail the connection when it stops answering
    /// (see [`KeepAlive`]); `None` turns it off. Works while a thread is in
    /// [`read_message`](Self::read_message).
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn set_keep_alive(&mut self, keep_alive: Option<KeepAlive>) -> Result<()> {
        let changed = self.inner.timers.keep_alive != keep_alive;
        self.inner.timers.keep_alive = keep_alive;
        self.inner.timers.received();
        if changed && !self.inner.own_write_timeout {
            let timeout = keep_alive.map(|k| k.timeout);
            self.writer().transport().set_write_timeout(timeout)?;
        }
        Ok(())
    }

    /// Block until a whole message has arrived and return it.
    ///
    /// Pings are answered, pongs noted and fragments joined on the way.
    ///
    /// # Errors
    /// - [`Error::Timeout`] with [`Timeout::Read`] when the read timeout
    ///   passes; call again. Other timeouts ([`Timeout::PongOverdue`],
    ///   [`Timeout::CloseOverdue`]) end the connection.
    /// - [`Error::Closed`] when the peer closed the connection: the close
    ///   handshake has been completed, and the frame tells its code and
    ///   reason. Reads after that give [`Error::AlreadyClosed`].
    /// - [`Error::Protocol`] or [`Error::Capacity`] when the peer broke the
    ///   protocol or a limit; the connection has been failed with the close
    ///   code the error names.
    /// - [`Error::Io`] when the stream failed, or ended without a close
    ///   frame (`UnexpectedEof`).
    pub fn read_message(&mut self) -> Result<Message> {
        self.read_with(false, |delivery| match delivery {
            Delivery::Lent(message) => message.to_message(),
            Delivery::Owned(message) => message,
        })
    }

    /// Block until a whole message has arrived and hand it to `take`: lent
    /// from the read buffer if it lies there whole, owned otherwise. With
    /// `hold_replies`, if more input is already buffered behind it, this
    /// thread's sends are held until the next read that may block (see
    /// [`run_with`](Self::run_with)).
    fn read_with<T>(
        &mut self,
        hold_replies: bool,
        take: impl FnOnce(Delivery<'_>) -> T,
    ) -> Result<T> {
        if self.inner.done {
            return Err(Error::AlreadyClosed);
        }
        let read_deadline = self.inner.timers.read_timeout.map(|t| Instant::now() + t);
        loop {
            match self.inner.receiver.next_received() {
                Ok(Some(Received::InBuffer {
                    message,
                    more_buffered,
                })) => {
                    if hold_replies && more_buffered {
                        hold(&mut self.inner.holding, &self.inner.sender);
                    }
                    return Ok(take(Delivery::Lent(message)));
                }
                Ok(Some(Received::Event(Event::Message(message)))) => {
                    if hold_replies && self.inner.receiver.has_buffered_bytes() {
                        hold(&mut self.inner.holding, &self.inner.sender);
                    }
                    return Ok(take(Delivery::Owned(message)));
                }
                Ok(None) => {
                    if let Err(e) = self.fill(read_deadline) {
                        return Err(self.read_failed(e));
                    }
                }
                Ok(Some(Received::Event(event))) => {
                    if let Some(e) = self.control_event(event) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(self.fail(e.into())),
            }
        }
    }

    /// Handle a control frame; `Some` if it ends the connection. (Kept out
    /// of `read_message`, whose stack frame every message crosses.)
    #[cold]
    #[inline(never)]
    fn control_event(&mut self, event: Event) -> Option<Error> {
        match event {
            Event::Ping(payload) => {
                // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
                // send a Pong frame in response". Never wait behind
                // another sender's write for it.
                match self.writer().send_control(OpCode::Pong, &payload, false) {
                    Ok(()) | Err(Error::AlreadyClosed) => None,
                    Err(e) => Some(self.end_with(e)),
                }
            }
            Event::Close(frame) => Some(self.peer_closed(frame)),
            Event::Pong(_) | Event::Message(_) => None,
        }
    }

    /// A read that did not complete: a timeout leaves the connection as it
    /// is, anything else ends it.
    #[cold]
    #[inline(never)]
    fn read_failed(&mut self, error: Error) -> Error {
        match error {
            Error::Timeout(Timeout::Read) => error,
            Error::Protocol(_) | Error::Capacity(_) => self.fail(error),
            e => self.end_with(e),
        }
    }

    /// Read the next bytes where the receiver wants them, waking up for
    /// the deadlines of [`Timers`] on the way.
    ///
    /// This runs for every message received, so what is rare (held replies,
    /// deadlines, socket timeouts, errors) is out of line: the common read
    /// is a few tests, one system call and the receiver's bookkeeping.
    fn fill(&mut self, read_deadline: Option<Instant>) -> Result<()> {
        if self.inner.holding {
            self.release_held()?;
        }
        // The socket's timeout fired without a deadline of ours being due.
        let mut woke_early = false;
        loop {
            // A socket timeout set with no deadline running is stale, and
            // `prepare_wait` counts it down.
            if self.inner.socket_timeout.is_some()
                || self
                    .inner
                    .timers
                    .any_deadline(read_deadline, self.writer().close_sent_at())
            {
                self.prepare_wait(read_deadline, woke_early)?;
            }
            let (n, result) = match self.inner.receiver.read_target() {
                ReadTarget::Buffer(buf) => match (&self.inner.reader).read(buf) {
                    Ok(0) => (0, Err(io::ErrorKind::UnexpectedEof.into())),
                    Ok(n) => (n, Ok(())),
                    Err(e) => (0, Err(e)),
                },
                ReadTarget::Message { buf, max } => self.inner.reader.read_append(buf, max),
            };
            if n > 0 {
                self.inner.timers.received();
                self.inner.receiver.filled(n)?;
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if !self.read_interrupted(e, n, &mut woke_early)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// About to wait for the peer: what `run_with` held goes out now.
    #[cold]
    #[inline(never)]
    fn release_held(&mut self) -> Result<()> {
        self.inner.holding = false;
        self.writer().release()
    }

    /// Before a read that may block: act on the deadlines that are due
    /// (keep-alive ping, timeouts) and set the socket's read timeout for the
    /// next one.
    #[cold]
    #[inline(never)]
    fn prepare_wait(&mut self, read_deadline: Option<Instant>, woke_early: bool) -> Result<()> {
        loop {
            match self
                .inner
                .timers
                .next(read_deadline, self.writer().close_sent_at())
            {
                Wake::Sleep(timeout) => return self.lower_socket_timeout(timeout, woke_early),
                Wake::Ping => {
                    let now = Instant::now();
                    self.writer().send_control(OpCode::Ping, b"", false)?;
                    self.inner.timers.ping_sent(now);
                }
                Wake::ReadTimeout => return Err(Error::Timeout(Timeout::Read)),
                Wake::PongOverdue => return Err(Error::Timeout(Timeout::PongOverdue)),
                Wake::CloseOverdue => return Err(Error::Timeout(Timeout::CloseOverdue)),
            }
        }
    }

    /// A read that ended with `error` after `n` bytes: `Ok(true)` to read
    /// again (interrupted, or woken by the socket's timeout for one of our
    /// deadlines), `Ok(false)` if the bytes read are enough for now.
    #[cold]
    #[inline(never)]
    fn read_interrupted(
        &mut self,
        error: io::Error,
        n: usize,
        woke_early: &mut bool,
    ) -> Result<bool> {
        if error.kind() == io::ErrorKind::Interrupted {
            return Ok(true);
        }
        if !is_timeout_kind(error.kind()) {
            return Err(Error::Io(error));
        }
        if n == 0 {
            // The socket woke us for one of our deadlines: look again.
            *woke_early = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Make the socket's read timeout no later than `timeout` (see
    /// [`timers`]). A timeout on the socket where none is wanted (the one
    /// left by the handshake) costs an early wake-up once, and a kernel
    /// timer armed and cancelled on every read that blocks; taking it off
    /// costs a system call. So it is taken off once it has fired, or after
    /// [`STALE_TIMEOUT_READS`] reads: a short connection never pays for
    /// the system call, a long one stops paying for the timers.
    fn lower_socket_timeout(&mut self, timeout: Option<Duration>, woke_early: bool) -> Result<()> {
        let lower = match (self.inner.socket_timeout, timeout) {
            (None, None) => false,
            (Some(_), None) => {
                self.inner.reads_under_stale_timeout =
                    self.inner.reads_under_stale_timeout.saturating_add(1);
                woke_early || self.inner.reads_under_stale_timeout > STALE_TIMEOUT_READS
            }
            (None, Some(_)) => true,
            (Some(current), Some(wanted)) => wanted < current,
        };
        if lower {
            // The wait may end up a little longer than asked: the kernel
            // rounds up to its tick.
            let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
            self.inner.reader.set_read_timeout(timeout)?;
            self.inner.socket_timeout = timeout;
            self.inner.reads_under_stale_timeout = 0;
        }
        Ok(())
    }

    /// The peer's close frame arrived: answer it, then end the connection.
    #[cold]
    #[inline(never)]
    fn peer_closed(&mut self, frame: Option<CloseFrame>) -> Error {
        let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NoStatus, ""));
        // §5.5.1: "If an endpoint receives a Close frame and did not
        // previously send a Close frame, the endpoint MUST send a Close frame
        // in response. (When sending a Close frame in response, the endpoint
        // typically echos the status code it received.)"
        let _ = self.writer().send_close(frame.code, "", false);
        self.writer().set_ending(Ending::Closed(frame.clone()));
        self.linger(true);
        Error::Closed(frame)
    }

    /// The peer broke the protocol or a limit: fail the connection (§7.1.7)
    /// with the close code the error calls for.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: Error) -> Error {
        let code = error.close_code().unwrap_or(CloseCode::Protocol);
        let reason = match &error {
            Error::Protocol(violation) => violation.to_string(),
            other => other.to_string(),
        };
        let _ = self.writer().send_close(code, &reason, false);
        self.writer().set_ending(Ending::Failed(error.to_string()));
        self.linger(false);
        error
    }

    /// The stream failed or ended: nothing more can be read or sent.
    #[cold]
    #[inline(never)]
    fn end_with(&mut self, error: Error) -> Error {
        self.inner.done = true;
        self.writer().set_ending(Ending::Failed(match &error {
            Error::Io(e) => format!("I/O error: {e}"),
            other => other.to_string(),
        }));
        self.writer().end();
        let _ = self.inner.reader.shutdown(Shutdown::Both);
        error
    }

    /// Close the TCP connection the way §7.1.1 asks, once the close frames
    /// have been exchanged (`handshake_done`) or the connection failed: the
    /// server closes first; the client waits for it. Unless the handshake
    /// ended cleanly on plain TCP, the remaining input is read and dropped
    /// until the peer closes, so that closing does not reset the connection
    /// and destroy the close frame in flight. Bounded by the close timeout.
    fn linger(&mut self, handshake_done: bool) {
        self.inner.done = true;
        let deadline = Instant::now() + self.inner.timers.close_timeout;
        let written = self.writer().wait_written(deadline);
        self.writer().end();
        if written && self.inner.role == Role::Server {
            let _ = self.inner.reader.shutdown(Shutdown::Write);
            // The peer's close frame was the last thing it may send (§5.5.1:
            // after a Close frame "the endpoint MUST NOT send any more data
            // frames"), and all of it has been read: closing the socket
            // cannot reset anything, so there is no need to wait for the
            // peer's FIN. (Over TLS the peer may still send its
            // close_notify, so that case waits.)
            if handshake_done
                && !self.inner.receiver.has_buffered_bytes()
                && matches!(self.inner.reader, Transport::Tcp(_))
            {
                return;
            }
        }
        let mut sink = [0u8; 1024];
        let mut wait = true;
        let ended = loop {
            // The socket's timeout is set again only when bytes keep coming.
            if wait {
                let now = Instant::now();
                if now >= deadline
                    || self
                        .inner
                        .reader
                        .set_read_timeout(Some(deadline - now))
                        .is_err()
                {
                    break false;
                }
            }
            match (&self.inner.reader).read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => wait = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => wait = false,
                Err(_) => break false,
            }
        };
        // A server that saw the peer's end has nothing left to close; a
        // client still owes the server its FIN, whether or not the
        // `WebSocket` is dropped soon.
        if !ended || self.inner.role == Role::Client {
            let _ = self.inner.reader.shutdown(Shutdown::Both);
        }
    }

    /// Send a text message.
    ///
    /// # Errors
    /// As for [`Sender::send_text`].
    pub fn send_text(&self, text: &str) -> Result<()> {
        self.inner.sender.send_text(text)
    }

    /// Send a binary message.
    ///
    /// # Errors
    /// As for [`Sender::send_text`].
    pub fn send_binary(&self, data: &[u8]) -> Result<()> {
        self.inner.sender.send_binary(data)
    }

    /// Send a message of either kind.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_message<'a>(&self, message: impl Into<MessageRef<'a>>) -> Result<()> {
        self.inner.sender.send_message(message)
    }

    /// Send one text message as several frames, one per piece (Zinc's
    /// `sendTextFrames:`). The frames go out together, never interleaved
    /// with another message's.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_text_frames<I, S>(&self, pieces: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner.sender.send_text_frames(pieces)
    }

    /// Send one binary message as several frames, one per piece (Zinc's
    /// `sendByteFrames:`).
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_binary_frames<I, B>(&self, pieces: I) -> Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        self.inner.sender.send_binary_frames(pieces)
    }

    /// Send a ping (at most 125 bytes of payload).
    ///
    /// # Errors
    /// As for [`Sender::ping`].
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.inner.sender.ping(payload)
    }

    /// Close the connection: send a close frame, wait (up to the close
    /// timeout) for the peer's, dropping any message that arrives first,
    /// then close the TCP connection.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if the connection was already over; an
    /// [`Error::Io`] of kind `TimedOut` if the peer's close frame did not
    /// arrive within the close timeout; the read error if the connection
    /// failed.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.inner.done {
            return Err(Error::AlreadyClosed);
        }
        match self.writer().send_close(code, reason, true) {
            Ok(_) | Err(Error::AlreadyClosed) => {}
            Err(e) => return Err(self.end_with(e)),
        }
        // The peer's answer is due within the close timeout (see `fill`).
        loop {
            match self.read_message() {
                Ok(_) | Err(Error::Timeout(Timeout::Read)) => {}
                Err(Error::Closed(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Iterate over incoming messages until the peer closes the connection.
    /// Each item is what [`read_message`](Self::read_message) returns; the
    /// iteration ends after a clean close or a failure.
    ///
    /// ```no_run
    /// let mut ws = syncws::connect("ws://127.0.0.1:9001/")?;
    /// for message in ws.incoming() {
    ///     println!("{:?}", message?);
    /// }
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn incoming(&mut self) -> Incoming<'_> {
        Incoming { ws: self }
    }

    /// Read messages forever, handing each to `handler` (Zinc's `runWith:`).
    ///
    /// Each message is lent to `handler` as a [`MessageRef`]: one that
    /// arrived in a single frame (the common case) is unmasked and
    /// validated where it lies in the read buffer, so nothing is allocated
    /// or copied to receive it. Keep one past the call with
    /// [`MessageRef::to_message`].
    ///
    /// On a read timeout (see [`set_read_timeout`](Self::set_read_timeout))
    /// a keep-alive ping is sent and reading goes on. Returns `Ok(())` when
    /// the peer closes the connection cleanly.
    ///
    /// When messages arrive faster than they are handled, what `handler`
    /// sends on this thread while more input is already waiting is held
    /// and written together, once `run_with` is about to wait for the peer
    /// again (or 64 KiB are waiting): a burst of requests gets its replies
    /// in one system call. Sends from other threads are never held.
    ///
    /// ```no_run
    /// let mut ws = syncws::connect("ws://127.0.0.1:9001/echo")?;
    /// let sender = ws.sender();
    /// ws.run_with(|message| sender.send_message(message))?;
    /// # Ok::<(), syncws::Error>(())
    /// ```
    ///
    /// # Errors
    /// The first error of `handler`, or any read error other than a timeout
    /// and a clean close.
    pub fn run_with<F>(&mut self, mut handler: F) -> Result<()>
    where
        F: FnMut(MessageRef<'_>) -> Result<()>,
    {
        let result = loop {
            let handled = self.read_with(true, |delivery| match delivery {
                Delivery::Lent(message) => handler(message),
                Delivery::Owned(message) => handler(MessageRef::from(&message)),
            });
            match handled {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break Err(e),
                Err(Error::Timeout(Timeout::Read)) => {
                    if let Err(e) = self.writer().send_control(OpCode::Ping, b"", true) {
                        break Err(e);
                    }
                }
                Err(Error::Closed(_)) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if std::mem::take(&mut self.inner.holding) {
            let _ = self.writer().release();
        }
        result
    }
}

impl Drop for WebSocket {
    /// A connection dropped while open is closed with 1000 (normal), or 1011
    /// (internal error) when dropped by a panic.
    ///
    /// A server finishes the close handshake: it reads, and drops, what the
    /// peer still sends until the peer's close frame arrives, within the
    /// close timeout. Closing a socket with unread input would make the
    /// kernel reset the connection and destroy what was sent but not yet
    /// delivered, the close frame included. A client only gives its close
    /// frame a moment to go out, so that dropping it never blocks for long.
    fn drop(&mut self) {
        if self.inner.done {
            return;
        }
        let code = if std::thread::panicking() {
            CloseCode::InternalError
        } else {
            CloseCode::Normal
        };
        self.writer().set_ending(Ending::Dropped);
        if self.inner.role == Role::Server {
            // Writing the close frame must not block forever on a peer that
            // reads nothing.
            if !self.inner.own_write_timeout {
                let _ = self
                    .writer()
                    .transport()
                    .set_write_timeout(Some(self.inner.timers.close_timeout));
            }
            let _ = self.writer().send_close(code, "", false);
            // Ends with the peer's close frame, a failure, or the close
            // timeout (see `fill`).
            while let Ok(_) | Err(Error::Timeout(Timeout::Read)) = self.read_message() {}
            return;
        }
        let _ = self.writer().send_close(code, "", false);
        let _ = self
            .writer()
            .wait_written(Instant::now() + Duration::from_millis(100));
        self.writer().end();
        let _ = self.inner.reader.shutdown(Shutdown::Both);
    }
}

/// The messages of a [`WebSocket`], as an iterator: see
/// [`WebSocket::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    ws: &'a mut WebSocket,
}

impl Iterator for Incoming<'_> {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        match self.ws.read_message() {
            Ok(message) => Some(Ok(message)),
            Err(Error::Closed(_) | Error::AlreadyClosed) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl<'a> IntoIterator for &'a mut WebSocket {
    type Item = Result<Message>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

/// A message read, as [`WebSocket::read_with`] hands it on.
enum Delivery<'a> {
    /// Lent from the read buffer, where it arrived whole.
    Lent(MessageRef<'a>),
    /// Assembled from fragments, or read straight into its own buffer.
    Owned(Message),
}

/// More input is buffered behind the message being handed to `run_with`'s
/// handler: hold this thread's sends until the next read that may block.
/// (Takes the two fields, not the connection, because the message may be
/// lent from the connection's receiver.)
fn hold(holding: &mut bool, sender: &Sender) {
    if !*holding {
        *holding = true;
        sender.writer.hold();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    use super::*;
    use crate::ProtocolViolation;
    use crate::protocol::frame::write_frame;

    /// A server-side WebSocket on a loopback socket whose read timeout was
    /// left by the handshake, and the client's end of the socket.
    fn server_with_handshake_timeout(timeout: Duration) -> (WebSocket, TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_read_timeout(Some(timeout)).unwrap();
        let observer = server.try_clone().unwrap();
        let opened = Opened {
            transport: Transport::Tcp(Arc::new(server)),
            peer_addr: None,
            leftover: Vec::new(),
            socket_timeout: Some(timeout),
            write_timeout_set: false,
        };
        let ws = WebSocket::from_transport(opened, Role::Server, &Config::default()).unwrap();
        (ws, client, observer)
    }

    fn send_masked(client: &mut TcpStream, payload: &[u8]) {
        let mut frame = Vec::new();
        write_frame(
            &mut frame,
            true,
            OpCode::Binary,
            payload,
            Some([1, 2, 3, 4]),
        );
        client.write_all(&frame).unwrap();
    }

    /// The handshake's read timeout arms a kernel timer on every read that
    /// blocks: a connection that keeps reading takes it off after a few
    /// reads, and one that reads little keeps it (no system call spent).
    #[test]
    fn the_handshake_read_timeout_is_taken_off_after_a_few_reads() {
        let timeout = Duration::from_secs(30);
        let (mut ws, mut client, observer) = server_with_handshake_timeout(timeout);
        for i in 0..=STALE_TIMEOUT_READS {
            // One message per read: the next is sent once this one arrived.
            send_masked(&mut client, &[i]);
            assert_eq!(ws.read_message().unwrap(), Message::Binary(vec![i]));
            let expected = if i < STALE_TIMEOUT_READS {
                Some(timeout)
            } else {
                None
            };
            assert_eq!(
                observer.read_timeout().unwrap(),
                expected,
                "after read {}",
                i + 1
            );
        }
        // A read timeout the caller asks for is still set when needed.
        ws.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(matches!(
            ws.read_message(),
            Err(Error::Timeout(Timeout::Read))
        ));
        assert!(observer.read_timeout().unwrap().is_some());
    }

    fn masked_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        write_frame(&mut frame, fin, opcode, payload, Some([9, 8, 7, 6]));
        frame
    }

    /// `run_with` lends each message of a burst that arrived in one read,
    /// whole and in order, and one assembled from fragments in between;
    /// the handler sees exactly what the peer sent.
    #[test]
    fn run_with_lends_the_messages_of_a_burst_in_order() {
        let (mut ws, mut client, _observer) = server_with_handshake_timeout(Duration::from_secs(5));
        let mut burst = Vec::new();
        burst.extend(masked_frame(true, OpCode::Text, "héllo".as_bytes()));
        burst.extend(masked_frame(
            true,
            OpCode::Binary,
            &[0, 1, 2, 3, 4, 5, 6, 7, 8],
        ));
        burst.extend(masked_frame(false, OpCode::Text, b"frag"));
        burst.extend(masked_frame(true, OpCode::Continuation, b"ments"));
        burst.extend(masked_frame(true, OpCode::Binary, b""));
        burst.extend(masked_frame(true, OpCode::Close, &[0x03, 0xe8]));
        client.write_all(&burst).unwrap();
        let mut seen = Vec::new();
        ws.run_with(|message| {
            seen.push(message.to_message());
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                Message::from("héllo"),
                Message::from(vec![0u8, 1, 2, 3, 4, 5, 6, 7, 8]),
                Message::from("fragments"),
                Message::from(Vec::new()),
            ]
        );
    }

    /// A text message that arrived whole is validated where it lies: invalid
    /// UTF-8 fails the connection with 1007 (RFC 6455 §8.1) and the handler
    /// never sees it.
    #[test]
    fn run_with_fails_a_whole_text_message_with_invalid_utf8_with_1007() {
        let (mut ws, mut client, _observer) = server_with_handshake_timeout(Duration::from_secs(5));
        let mut burst = masked_frame(true, OpCode::Text, b"fine");
        burst.extend(masked_frame(true, OpCode::Text, &[b'a', 0xff, b'b']));
        client.write_all(&burst).unwrap();
        // The peer reads the close frame, then closes: the server's wait
        // for that (§7.1.1) ends at once.
        let peer = std::thread::spawn(move || {
            let mut head = [0u8; 2];
            client.read_exact(&mut head).unwrap();
            let mut payload = vec![0u8; usize::from(head[1])];
            client.read_exact(&mut payload).unwrap();
            (head[0], payload)
        });
        let mut seen = Vec::new();
        let result = ws.run_with(|message| {
            seen.push(message.to_message());
            Ok(())
        });
        assert!(
            matches!(result, Err(Error::Protocol(ProtocolViolation::InvalidUtf8))),
            "{result:?}"
        );
        assert_eq!(seen, [Message::from("fine")]);
        let (first_byte, payload) = peer.join().unwrap();
        assert_eq!(first_byte, 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1007);
    }
}

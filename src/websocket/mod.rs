//! The blocking `WebSocket`: it drives the core (the receiver and the
//! timers on its reading thread, the session shared with every [`Sender`]
//! under the writer's lock) over a transport, and carries out what the
//! core decides.
//!
//! - `mod.rs`: the `WebSocket` and what it tells and offers its user.
//! - `reader.rs`: the reading loop, the deadlines, the end of a connection.
//! - `writer.rs`: the shared write side: the session, the flusher role.
//! - `sender.rs`: [`Sender`], the cloneable sending handle.
//! - `home.rs`: what a connection knows of the server that accepted it.

#[cfg(feature = "deflate")]
mod hibernation;
mod home;
mod reader;
mod sender;
mod writer;

use std::any::Any;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Timeout};
use crate::protocol::Role;
use crate::protocol::address::Address;
use crate::protocol::budget::MessageBudget;
use crate::protocol::config::{Config, KeepAlive};
use crate::protocol::extension::permessage_deflate::Negotiated;
use crate::protocol::handshake::{Request, ResponseHead};
use crate::protocol::message::{CloseCode, CloseFrame, Message, MessageRef};
use crate::protocol::receiver::Receiver;
use crate::protocol::session::{LINGER_MAX_BYTES, Session, State};
use crate::protocol::timers::Timers;
use crate::transport::Transport;

pub use home::ConnectionId;
pub(crate) use home::Home;
use reader::Delivery;
pub use sender::Sender;
use writer::Writer;
pub(crate) use writer::{QueueLimit, Queued};

/// A stream whose opening handshake has just completed, and what the
/// handshake agreed: handed over to [`WebSocket::open`].
pub(crate) struct Opened {
    pub transport: Transport,
    /// The other end's address, if known.
    pub peer: Option<Address>,
    /// Bytes read past the end of the HTTP head.
    pub leftover: Vec<u8>,
    /// The read timeout still set on the socket by the handshake.
    pub socket_timeout: Option<Duration>,
    /// The handshake set a write timeout on the socket.
    pub write_timeout_set: bool,
    /// The subprotocol agreed, if any.
    pub protocol: Option<String>,
    /// The handshake request (server side).
    pub request: Option<Request>,
    /// The server's budget for messages being received, shared by its
    /// connections, if it has one.
    pub budget: Option<Arc<MessageBudget>>,
    /// permessage-deflate, if the handshake agreed on it.
    pub deflate: Option<Negotiated>,
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
/// let answer = ws.close(syncws::CloseCode::Normal, "done")?;
/// println!("the server closed with {answer}");
/// # Ok::<(), syncws::Error>(())
/// ```
pub struct WebSocket {
    /// All of it, on the heap: a `WebSocket` is moved down several calls
    /// (into a handler, its closures, `run_with`), and moving a pointer
    /// is free where 480 bytes would be copied into every one of those
    /// frames, and make a connection's thread touch more stack.
    inner: Box<Inner>,
}

/// The state of a [`WebSocket`]'s reading end.
///
/// `repr(C)` keeps the fields in this order: what every read and send
/// touches first, so that a message costs the fewest cache lines (after a
/// blocking read the kernel has evicted most of them), then what the
/// handshake and the handler's questions need.
#[repr(C)]
struct Inner {
    reader: Transport,
    sender: Sender,
    /// The read timeout currently set on the socket.
    socket_timeout: Option<Duration>,
    role: Role,
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
    /// The server's `101` (client side).
    response: Option<ResponseHead>,
    protocol: Option<String>,
    peer: Option<Address>,
    home: Option<Arc<dyn Home>>,
    /// permessage-deflate, if the handshake agreed on it.
    deflate: Option<Box<Negotiated>>,
    /// How long the decompressor waits idle before it hibernates.
    #[cfg(feature = "deflate")]
    hibernate_after: Duration,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.inner.role)
            .field("peer", &self.inner.peer)
            .field("protocol", &self.inner.protocol)
            .field("finished", &self.inner.receiver.is_finished())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// Take over a stream on which the opening handshake has completed;
    /// `home` is the server that accepted it, if any.
    pub(crate) fn open(
        opened: Opened,
        role: Role,
        config: &Config,
        home: Option<Arc<dyn Home>>,
    ) -> io::Result<WebSocket> {
        let Opened {
            transport,
            peer,
            leftover,
            socket_timeout,
            write_timeout_set,
            protocol,
            request,
            budget,
            deflate,
        } = opened;
        let writer_transport = transport.share();
        if write_timeout_set {
            // The handshake's write timeout must not limit later sends.
            writer_transport.set_write_timeout(None)?;
        }
        let mut receiver = Receiver::new(role, config);
        #[allow(unused_mut)]
        let mut session = Session::new(role);
        #[cfg(feature = "deflate")]
        if let Some(negotiated) = &deflate {
            receiver.enable_deflate(negotiated);
            session.enable_deflate(negotiated);
        }
        if let Some(budget) = budget {
            receiver.share_budget(budget);
        }
        if !leftover.is_empty() {
            receiver.receive_data(&leftover);
        }
        let inner = Box::new(Inner {
            reader: transport,
            receiver,
            sender: Sender {
                writer: Writer::new(role, writer_transport, config.max_write_buffer, session),
            },
            role,
            timers: Timers::new(config.close_timeout, Instant::now()),
            // Left from the handshake; the first read that needs another
            // timeout sets it.
            socket_timeout,
            reads_under_stale_timeout: 0,
            own_write_timeout: false,
            holding: false,
            request,
            response: None,
            protocol,
            peer,
            home,
            #[cfg(feature = "deflate")]
            hibernate_after: deflate.as_ref().map_or(Duration::MAX, |negotiated| {
                negotiated.config.get_hibernate_after()
            }),
            deflate: deflate.map(Box::new),
        });
        Ok(WebSocket { inner })
    }

    /// permessage-deflate as the handshake agreed it (RFC 7692), or `None`
    /// if the connection goes uncompressed: the parameters of each
    /// direction, and this end's settings.
    ///
    /// ```no_run
    /// let ws = syncws::connect("ws://127.0.0.1:9001/")?;
    /// match ws.deflate() {
    ///     Some(deflate) => println!("compressed: {:?}", deflate.params),
    ///     None => println!("uncompressed"),
    /// }
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn deflate(&self) -> Option<&Negotiated> {
        self.inner.deflate.as_deref()
    }

    /// The id the server gave this connection (`None` for a client).
    pub fn id(&self) -> Option<ConnectionId> {
        self.inner.home.as_ref().map(|home| home.id())
    }

    /// The data its server attached to this connection before the upgrade
    /// (a server route's before-upgrade hook does), if it is a `T`. The
    /// connection reaches it through its `Home`, not by naming the server.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.inner.home.as_ref()?.data()?.downcast_ref()
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
        let Some(home) = self.inner.home.clone() else {
            return Err(Box::new(self));
        };
        let id = home.id();
        home.detach(self);
        Ok(id)
    }

    /// The handshake request this connection was opened with (server side;
    /// `None` for a client): path, query, headers, peer address.
    pub fn request(&self) -> Option<&Request> {
        self.inner.request.as_ref()
    }

    /// The server's answer to the handshake (client side; `None` for a
    /// server): the `101 Switching Protocols` status and its headers, in
    /// order, cookies (`Set-Cookie`) and the chosen subprotocol among them.
    ///
    /// ```no_run
    /// let ws = syncws::connect("ws://127.0.0.1:9001/")?;
    /// let response = ws.response().expect("a client's connection");
    /// for cookie in response.headers.get_all("Set-Cookie") {
    ///     println!("cookie: {cookie}");
    /// }
    /// println!("chose {:?}", response.header("Sec-WebSocket-Protocol"));
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn response(&self) -> Option<&ResponseHead> {
        self.inner.response.as_ref()
    }

    /// Keep the server's answer (the client, once it has checked it).
    pub(crate) fn set_response(&mut self, response: ResponseHead) {
        self.inner.response = Some(response);
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// The IP address and port of the other end; `None` if unknown, and
    /// for a Unix domain socket, which has none (see
    /// [`peer_address`](Self::peer_address)).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer.as_ref().and_then(Address::socket_addr)
    }

    /// The address of the other end, TCP or Unix, if known. A server's
    /// Unix peers are usually `Address::Unix(None)`: a client's socket has
    /// no path unless it was bound to one.
    ///
    /// ```no_run
    /// # fn demo(ws: &syncws::WebSocket) {
    /// match ws.peer_address() {
    ///     Some(syncws::Address::Ip(addr)) => println!("from {}", addr.ip()),
    ///     Some(other) => println!("from {other}"),
    ///     None => println!("from an unknown peer"),
    /// }
    /// # }
    /// ```
    pub fn peer_address(&self) -> Option<&Address> {
        self.inner.peer.as_ref()
    }

    /// The IP address and port of this end.
    ///
    /// # Errors
    /// The I/O error of the socket; for a Unix domain socket, which has no
    /// IP address, an [`Error::Io`] of kind `Unsupported` (see
    /// [`local_address`](Self::local_address)).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        match self.local_address()? {
            Address::Ip(addr) => Ok(addr),
            unix => Err(Error::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{unix} has no IP address"),
            ))),
        }
    }

    /// The address of this end, TCP or Unix (a Unix server's connections
    /// have its socket's path).
    ///
    /// # Errors
    /// The I/O error of the socket.
    pub fn local_address(&self) -> Result<Address> {
        Ok(self.inner.reader.local_address()?)
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
    /// [`Error::Timeout`] ([`Timeout::Read`]) when no whole message has
    /// arrived within `timeout` (`None`: wait forever). A timeout loses
    /// nothing: a frame half received is completed by the next read.
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
    pub fn read_timeout(&self) -> Option<Duration> {
        self.inner.timers.read_timeout
    }

    /// Make a send that cannot hand its bytes to the network within
    /// `timeout` fail with [`Error::Timeout`] ([`Timeout::Write`]). A frame
    /// may then be half sent, so the connection is failed: later sends
    /// answer [`Error::AlreadyClosed`].
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
        self.inner.timers.received(Instant::now());
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
    ///   passes: nothing is lost, call again. Any other timeout
    ///   ([`Timeout::PongOverdue`], [`Timeout::CloseOverdue`], or
    ///   [`Timeout::Write`] met by a sender) has ended the connection.
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

    /// Close the connection and wait for the peer to agree: send a close
    /// frame with `code` and `reason` (unless one was sent already, by a
    /// [`Sender::send_close`]), read until the peer's close frame arrives
    /// (up to the close timeout), dropping any message that comes first,
    /// close the TCP connection, and return the peer's close frame.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if the connection was already over;
    /// [`Error::Timeout`] with [`Timeout::CloseOverdue`] if the peer's close
    /// frame did not arrive within the close timeout; the error that
    /// failed the connection otherwise.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseFrame> {
        if self.inner.receiver.is_finished() {
            return Err(Error::AlreadyClosed);
        }
        // A close frame sent already (by a sender) is the one the peer
        // answers; a failed connection is told by the read below.
        let _ = self.writer().send_close(code, reason, true);
        loop {
            match self.read_message() {
                Ok(_) | Err(Error::Timeout(Timeout::Read)) => {}
                Err(Error::Closed(frame)) => return Ok(frame),
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

    /// Read messages until the connection closes, handing each to
    /// `handler` (Zinc's `runWith:`), and return the peer's close frame.
    ///
    /// Each message is lent to `handler` as a [`MessageRef`]: one that
    /// arrived in a single frame (the common case) is unmasked and
    /// validated where it lies in the read buffer, so nothing is allocated
    /// or copied to receive it. Keep one past the call with
    /// [`MessageRef::to_message`].
    ///
    /// Read timeouts do not end it: on each (see
    /// [`set_read_timeout`](Self::set_read_timeout)) a ping is sent to the
    /// peer and reading goes on. To act on a quiet connection yourself,
    /// loop on [`read_message`](Self::read_message) and match
    /// `Err(Error::Timeout(Timeout::Read))`; to notice a dead peer, set a
    /// [`KeepAlive`].
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
    /// let closed = ws.run_with(|message| sender.send_message(message))?;
    /// println!("closed by the peer: {closed}");
    /// # Ok::<(), syncws::Error>(())
    /// ```
    ///
    /// # Errors
    /// The first error of `handler`, or any read error other than a read
    /// timeout and a clean close.
    pub fn run_with<F>(&mut self, mut handler: F) -> Result<CloseFrame>
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
                    if let Err(e) = self
                        .writer()
                        .send_control(crate::protocol::frame::OpCode::Ping, b"")
                    {
                        break Err(e);
                    }
                }
                Err(Error::Closed(frame)) => break Ok(frame),
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
        if self.inner.receiver.is_finished() {
            return;
        }
        let code = if std::thread::panicking() {
            CloseCode::InternalError
        } else {
            CloseCode::Normal
        };
        // Only an open connection is the handler's to end: one that failed
        // (a send that timed out) or is closing ends as its state says.
        if self.writer().state() == State::Open {
            self.writer().set_dropped_open();
            if let Some(home) = &self.inner.home {
                home.dropped_while_open();
            }
        }
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
            // timeout; a peer that keeps sending is cut off after
            // `LINGER_MAX_BYTES`, as when draining.
            let mut drained = 0u64;
            while drained <= LINGER_MAX_BYTES {
                match self.read_message() {
                    Ok(message) => drained += message.len() as u64,
                    Err(Error::Timeout(Timeout::Read)) => {}
                    Err(_) => return,
                }
            }
            self.writer().abort();
            return;
        }
        let _ = self.writer().send_close(code, "", false);
        let _ = self
            .writer()
            .wait_written(Instant::now() + Duration::from_millis(100));
        // Whatever the peer answers, this end is gone.
        self.writer().abort();
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

#[cfg(test)]
mod tests;

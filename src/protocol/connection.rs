//! A whole connection, sans I/O, for a driver of one's own: bytes in,
//! events and bytes out, time as an argument.
//!
//! It puts together the three parts of the core: the [`Receiver`] (frames
//! in), the [`Session`] (the state, every decision, and the bytes to send)
//! and the [`Timers`] (keep-alive and the close timeout). The blocking
//! [`WebSocket`](crate::WebSocket) drives the same three parts, split
//! between its reading thread (which owns the receiver and the timers) and
//! its senders (which share the session under a lock), and calls the same
//! session methods for every decision.

#[cfg(feature = "deflate")]
use std::time::Duration;
use std::time::Instant;

use crate::protocol::Role;
use crate::protocol::config::{Config, KeepAlive};
use crate::protocol::error::{Error, Timeout};
#[cfg(feature = "deflate")]
use crate::protocol::extension::permessage_deflate::Negotiated;
use crate::protocol::frame::OpCode;
use crate::protocol::message::{CloseCode, CloseFrame, Message};
use crate::protocol::outbox::OutFrame;
use crate::protocol::receiver::{self, Receiver};
use crate::protocol::session::{Failure, Session, State, TcpClose};
use crate::protocol::timers::{Timers, Wake};

/// What a [`Connection`] tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole message, its fragments joined, its text validated.
    Message(Message),
    /// A ping arrived; its pong is queued already.
    Ping(Vec<u8>),
    /// A pong arrived.
    Pong(Vec<u8>),
    /// The close handshake is complete: the peer's close frame. Send what
    /// [`data_to_send`](Connection::data_to_send) holds, then close the TCP
    /// connection as [`tcp_close`](Connection::tcp_close) says.
    Closed(CloseFrame),
    /// The connection failed. Send what is left to send (a close frame,
    /// after a protocol error), then close as `tcp_close` says.
    Failed(Failure),
}

/// One WebSocket connection, driven by the caller: feed it the bytes that
/// arrive ([`receive_data`](Self::receive_data)), collect what they mean
/// ([`next_event`](Self::next_event)), send what it queues
/// ([`data_to_send`](Self::data_to_send)), and close the TCP connection
/// when and as it says ([`tcp_close`](Self::tcp_close)). Pings are
/// answered and the close handshake is done for you.
///
/// ```
/// use std::time::Instant;
/// use syncws::{CloseCode, CloseFrame, Config, Message};
/// use syncws::protocol::{Connection, Event, Role, TcpClose};
///
/// let now = Instant::now();
/// let mut client = Connection::new(Role::Client, &Config::default(), now);
/// // RFC 6455 §5.7: an unmasked text message "Hello" from the server.
/// client.receive_data(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// assert_eq!(client.next_event(now), Some(Event::Message(Message::from("Hello"))));
/// assert_eq!(client.next_event(now), None);
///
/// // The server closes: the client answers with the same code...
/// client.receive_data(&[0x88, 0x02, 0x03, 0xe8]);
/// let closed = CloseFrame::new(CloseCode::Normal, "");
/// assert_eq!(client.next_event(now), Some(Event::Closed(closed)));
/// let reply = client.data_to_send();
/// assert_eq!(reply[..2], [0x88, 0x82]); // a masked close frame of 2 bytes
/// // ...and waits for the server to close the TCP connection first.
/// assert_eq!(client.tcp_close(false), Some(TcpClose::DrainThenClose));
/// ```
#[derive(Debug)]
pub struct Connection {
    receiver: Receiver,
    session: Session,
    timers: Timers,
    /// When our close frame was queued, if it was.
    close_sent_at: Option<Instant>,
    /// The failure to report with the next event, once.
    failure_to_report: Option<Failure>,
    /// Bytes arrived since the last `next_event`: the peer is alive, even
    /// in the middle of a long frame.
    arrived: bool,
    /// The latest time given: what a compressed send counts as its time.
    now: Instant,
    /// How long deflate waits idle before it hibernates.
    #[cfg(feature = "deflate")]
    hibernate_after: Duration,
}

impl Connection {
    /// A connection for this end, with the limits and close timeout of
    /// `config`, opened at `now`.
    pub fn new(role: Role, config: &Config, now: Instant) -> Connection {
        Connection {
            receiver: Receiver::new(role, config),
            session: Session::new(role),
            timers: Timers::new(config.close_timeout, now),
            close_sent_at: None,
            failure_to_report: None,
            arrived: false,
            now,
            #[cfg(feature = "deflate")]
            hibernate_after: Duration::MAX,
        }
    }

    /// Where the connection is.
    pub fn state(&self) -> &State {
        self.session.state()
    }

    /// Bytes that arrived from the peer. They are parsed by
    /// [`next_event`](Self::next_event); once the connection is over they
    /// are ignored.
    pub fn receive_data(&mut self, data: &[u8]) {
        if !data.is_empty() && !self.receiver.is_finished() {
            self.receiver.receive_data(data);
            self.arrived = true;
        }
    }

    /// The peer ended its side of the stream. After the close handshake
    /// that is expected; before it, the connection fails (RFC 6455 §7.1.5:
    /// closed "without a Close control frame", reported as 1006).
    pub fn receive_eof(&mut self) {
        if matches!(self.state(), State::Open | State::Closing { .. }) {
            self.fail(Failure::Transport(
                "the stream ended without a close frame".to_owned(),
            ));
        }
        self.receiver.finish();
    }

    /// The next event from the bytes received so far; `None` when more
    /// bytes are needed (or nothing more will come). `now` is when the
    /// bytes arrived: any byte, even of a frame not yet whole, tells
    /// keep-alive that the peer is alive.
    pub fn next_event(&mut self, now: Instant) -> Option<Event> {
        if std::mem::take(&mut self.arrived) {
            self.timers.received(now);
        }
        self.now = now;
        if let Some(failure) = self.failure_to_report.take() {
            return Some(Event::Failed(failure));
        }
        let event = match self.receiver.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => return None,
            Err(error) => {
                self.fail(Failure::Protocol(error));
                return self.failure_to_report.take().map(Event::Failed);
            }
        };
        Some(match event {
            receiver::Event::Message(message) => {
                #[cfg(feature = "deflate")]
                self.schedule_hibernation(now);
                Event::Message(message)
            }
            receiver::Event::Ping(payload) => {
                self.session.ping_received(&payload);
                Event::Ping(payload)
            }
            receiver::Event::Pong(payload) => Event::Pong(payload),
            receiver::Event::Close(frame) => Event::Closed(self.session.close_received(frame).0),
        })
    }

    /// Queue a text message.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] once our close frame was sent or the
    /// connection is over.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_data(OpCode::Text, text.as_bytes())
    }

    /// Queue a binary message.
    ///
    /// # Errors
    /// As for [`send_text`](Self::send_text).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_data(OpCode::Binary, data)
    }

    fn send_data(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() >= self.session.compress_threshold() {
            self.session.send_compressed(opcode, &[payload], self.now)?;
            #[cfg(feature = "deflate")]
            self.schedule_hibernation(self.now);
            return Ok(());
        }
        let frame = OutFrame {
            fin: true,
            rsv: 0,
            opcode,
            payload,
        };
        self.session.send_frames(&[frame]).map(drop)
    }

    /// Queue a ping.
    ///
    /// # Errors
    /// [`Error::Capacity`] for a payload over 125 bytes; otherwise as for
    /// [`send_text`](Self::send_text).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.session.send_control(OpCode::Ping, payload).map(drop)
    }

    /// Queue an unsolicited pong.
    ///
    /// # Errors
    /// As for [`send_ping`](Self::send_ping).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.session.send_control(OpCode::Pong, payload).map(drop)
    }

    /// Start the close handshake at `now`: the peer's answer is due within
    /// the close timeout (see [`poll_timeout`](Self::poll_timeout)).
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close frame was already sent or the
    /// connection is over.
    pub fn send_close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), Error> {
        self.session.send_close(code, reason, now)?;
        self.close_sent_at = Some(now);
        Ok(())
    }

    /// The bytes to write to the peer, in order; empty when there are none.
    pub fn data_to_send(&mut self) -> Vec<u8> {
        self.session.data_to_send()
    }

    /// How to close the TCP connection once this one is over; `None` while
    /// it is not. Call it once what [`data_to_send`](Self::data_to_send)
    /// gave has been written; `secure` says whether the stream is TLS.
    pub fn tcp_close(&self, secure: bool) -> Option<TcpClose> {
        self.session
            .tcp_close(true, self.receiver.has_buffered_bytes(), secure)
    }

    /// Ping a quiet peer, and fail the connection when it does not answer
    /// in time (see [`KeepAlive`]); `None` turns it off.
    pub fn set_keep_alive(&mut self, keep_alive: Option<KeepAlive>, now: Instant) {
        self.timers.keep_alive = keep_alive;
        self.timers.received(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called,
    /// if a deadline is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !matches!(self.state(), State::Open | State::Closing { .. }) {
            return None;
        }
        self.timers.due(None, self.close_sent_at).map(|(at, _)| at)
    }

    /// Act on the deadlines due at `now`: queue a keep-alive ping, or fail
    /// the connection when the peer's pong or close frame is overdue (then
    /// [`next_event`](Self::next_event) reports it).
    pub fn handle_timeout(&mut self, now: Instant) {
        if !matches!(self.state(), State::Open | State::Closing { .. }) {
            return;
        }
        loop {
            match self.timers.next(now, None, self.close_sent_at) {
                Wake::Sleep(_) | Wake::ReadTimeout => return,
                Wake::Ping => {
                    if self.session.send_control(OpCode::Ping, b"").is_err() {
                        return;
                    }
                    self.timers.ping_sent(now);
                }
                Wake::PongOverdue => return self.fail(Failure::Timeout(Timeout::PongOverdue)),
                Wake::CloseOverdue => return self.fail(Failure::Timeout(Timeout::CloseOverdue)),
                Wake::Hibernate => {
                    #[cfg(feature = "deflate")]
                    self.hibernation_due(now);
                }
            }
        }
    }

    /// Use permessage-deflate as the handshake agreed (RFC 7692): messages
    /// received with RSV1 are inflated, and those sent that are at least
    /// the threshold long compressed. Both directions hibernate after the
    /// idle time of `negotiated.config` (see
    /// [`handle_timeout`](Self::handle_timeout)).
    #[cfg(feature = "deflate")]
    pub fn enable_deflate(&mut self, negotiated: &Negotiated) {
        self.receiver.enable_deflate(negotiated);
        self.session.enable_deflate(negotiated);
        self.hibernate_after = negotiated.config.get_hibernate_after();
    }

    /// The decompressor's or the compressor's look at hibernation is due.
    #[cfg(feature = "deflate")]
    fn hibernation_due(&mut self, now: Instant) {
        {
            let seen = self.receiver.compressed_messages();
            if self
                .timers
                .hibernation_woke(now, self.hibernate_after, seen)
            {
                self.receiver.hibernate_inflate();
            }
            // Not idle long enough yet: the look below comes back for it.
            let _ = self.session.hibernate_if_idle(now);
            self.schedule_hibernation(now);
        }
    }

    /// Look at hibernation later if a zlib context lives on either side.
    #[cfg(feature = "deflate")]
    fn schedule_hibernation(&mut self, now: Instant) {
        let live = self.receiver.inflate_has_context() || self.session.hibernation_due().is_some();
        if live {
            let seen = self.receiver.compressed_messages();
            self.timers
                .schedule_hibernation(now, self.hibernate_after, seen);
        }
    }

    /// Fail the connection, and report it with the next event.
    fn fail(&mut self, failure: Failure) {
        if matches!(self.state(), State::Open | State::Closing { .. }) {
            self.session.fail(failure.clone());
            self.failure_to_report = Some(failure);
        }
        self.receiver.finish();
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;

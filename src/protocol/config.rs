//! Limits and timeouts, with safe defaults.

use std::time::Duration;

/// Default limit on the payload of one frame: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// Default limit on one whole message: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Default limit on an HTTP head (request or response line plus headers): 16 KiB.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 << 10;
/// Default limit on the number of header lines in an HTTP head.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// Default time the opening handshake may take.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to wait for the peer's side of the close handshake.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit on what the reading thread queues (pongs, close replies)
/// behind a write that is blocked on the network: 4 MiB.
pub const DEFAULT_MAX_WRITE_BUFFER: usize = 4 << 20;

/// Limits and timeouts of a connection.
///
/// Every limit is checked before the bytes it guards are buffered: a frame
/// header announcing a payload above `max_frame_size` fails the connection
/// with close code 1009 at once. Below the limits, memory is taken as bytes
/// arrive, never as a header announces them (a frame announcing 16 MiB
/// costs nothing until its payload comes), and memory the system refuses
/// fails the connection with 1009 instead of aborting the process. A
/// server adds limits of its own on connections, handshakes and the total
/// memory of messages being received: see [`Server`](crate::Server#limits).
///
/// ```
/// use std::time::Duration;
/// use syncws::Config;
///
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .close_timeout(Duration::from_secs(2));
/// assert_eq!(config.get_max_message_size(), 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_head_size: usize,
    pub(crate) max_headers: usize,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) close_timeout: Duration,
    pub(crate) max_write_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_head_size: DEFAULT_MAX_HEAD_SIZE,
            max_headers: DEFAULT_MAX_HEADERS,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_write_buffer: DEFAULT_MAX_WRITE_BUFFER,
        }
    }
}

impl Config {
    /// The largest frame payload accepted (default 16 MiB).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// The largest message accepted, all fragments together (default 64 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The largest HTTP head accepted in the opening handshake (default 16 KiB).
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// The most header lines accepted in the opening handshake (default 64).
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// The time the whole opening handshake may take, TLS and HTTP
    /// together (default 10 s; `None` waits forever). It is one deadline,
    /// not a timeout per read: a peer that trickles its request a byte at
    /// a time cannot stretch it.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long to wait for the peer to finish the close handshake and
    /// close the TCP connection (default 5 s). It also bounds the end of a
    /// connection whose send failed, whatever the peer keeps sending; what
    /// is read and thrown away meanwhile is bounded by
    /// [`LINGER_MAX_BYTES`](crate::protocol::LINGER_MAX_BYTES) too.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How much the reading thread may queue (pongs to the peer's pings,
    /// a close reply) behind a write blocked on the network before it waits
    /// too (default 4 MiB): a peer that floods pings and reads nothing is
    /// slowed down instead of growing the queue. Senders always wait until
    /// their own message has been written.
    pub fn max_write_buffer(mut self, bytes: usize) -> Self {
        self.max_write_buffer = bytes;
        self
    }

    /// The frame size limit.
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// The message size limit.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The HTTP head size limit.
    pub fn get_max_head_size(&self) -> usize {
        self.max_head_size
    }

    /// The header count limit.
    pub fn get_max_headers(&self) -> usize {
        self.max_headers
    }
}

/// Pings sent to a quiet peer, and how long it has to answer.
///
/// A peer that has sent nothing for `interval` gets a ping; if nothing at
/// all arrives within `timeout` after it, the connection is failed and the
/// read returns an error. A dead peer is thus noticed within
/// `interval + timeout`, as long as some thread is reading. While keep-alive
/// is on, a write that cannot make progress for `timeout` fails too (unless
/// a write timeout of your own is set), so a peer that stopped reading is
/// noticed by senders as well.
///
/// ```
/// use std::time::Duration;
/// use syncws::KeepAlive;
///
/// let keep_alive = KeepAlive::new(Duration::from_secs(30), Duration::from_secs(10));
/// assert_eq!(keep_alive.interval, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepAlive {
    /// Quiet time before a ping.
    pub interval: Duration,
    /// Time the peer has to answer a ping.
    pub timeout: Duration,
}

impl KeepAlive {
    /// A ping after `interval` of silence, answered within `timeout`.
    pub fn new(interval: Duration, timeout: Duration) -> KeepAlive {
        KeepAlive { interval, timeout }
    }
}

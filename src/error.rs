//! The one error type of the crate.

use std::fmt;
use std::io;

use crate::message::{CloseCode, CloseFrame};
pub use crate::protocol::handshake::HandshakeError;

/// A shorthand for `Result<T, syncws::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a WebSocket.
///
/// The variants tell apart what a caller reacts to differently: a timeout
/// (try again), a clean close (done), use after close (a bug in the caller),
/// a protocol violation by the peer, a limit exceeded, a refused handshake,
/// a bad URL and an I/O failure.
///
/// ```
/// use syncws::Error;
///
/// fn describe(error: &Error) -> &'static str {
///     match error {
///         Error::Timeout => "nothing arrived in time; the connection is still usable",
///         Error::Closed(_) => "the peer closed the connection cleanly",
///         _ => "the connection failed",
///     }
/// }
/// assert_eq!(describe(&Error::Timeout), "nothing arrived in time; the connection is still usable");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A blocking call ran out of time (read timeout, write timeout, connect
    /// or handshake timeout). Nothing is lost: a frame half received is
    /// completed by the next read, and the connection stays usable.
    Timeout,
    /// The close handshake completed: the frame is the one the peer sent
    /// (code 1005 if it sent none). This is the normal end of a connection.
    Closed(CloseFrame),
    /// The connection was already closed (or failed) when this call was made.
    AlreadyClosed,
    /// The peer broke RFC 6455; the connection was failed with `close_code`.
    Protocol {
        /// What the peer did wrong.
        violation: ProtocolViolation,
        /// The close code sent to the peer (1002, 1007, ...).
        close_code: CloseCode,
    },
    /// A frame or message exceeded a limit of [`Config`](crate::Config); the
    /// connection was failed with close code 1009 before the payload was
    /// buffered.
    Capacity(CapacityError),
    /// The opening handshake failed or was refused.
    Handshake(HandshakeError),
    /// The URL could not be used.
    Url(UrlError),
    /// The underlying stream failed; the source error is kept.
    Io(io::Error),
    /// A TLS error (unknown certificate authority, name mismatch, failed
    /// handshake); the source error is kept.
    #[cfg(feature = "native-tls")]
    Tls(native_tls::Error),
}

impl Error {
    /// True for [`Error::Timeout`]: the call may simply be repeated.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// True when the connection ended normally: the close handshake completed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("timed out"),
            Error::Closed(frame) => write!(f, "connection closed by peer: {frame}"),
            Error::AlreadyClosed => f.write_str("connection already closed"),
            Error::Protocol {
                violation,
                close_code,
            } => write!(
                f,
                "protocol violation by peer: {violation} (closed with {})",
                u16::from(*close_code)
            ),
            Error::Capacity(e) => write!(f, "{e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Url(e) => write!(f, "bad URL: {e}"),
            // The source is returned by `source()`; printed once, not twice.
            Error::Io(_) => f.write_str("I/O error"),
            #[cfg(feature = "native-tls")]
            Error::Tls(_) => f.write_str("TLS error"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            #[cfg(feature = "native-tls")]
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// Timeouts become [`Error::Timeout`] whatever the platform calls them
    /// (`WouldBlock` on Unix, `TimedOut` on Windows).
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}

impl From<CapacityError> for Error {
    fn from(e: CapacityError) -> Self {
        Error::Capacity(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}

/// The rule of RFC 6455 that the peer broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// An RSV bit was set without an extension that defines it (§5.2).
    ReservedBits(u8),
    /// A reserved opcode was used (§5.2).
    ReservedOpcode(u8),
    /// A control frame was fragmented (§5.5).
    FragmentedControlFrame,
    /// A control frame carried more than 125 bytes (§5.5).
    ControlFrameTooLong(u64),
    /// A client sent an unmasked frame (§5.1).
    UnmaskedClientFrame,
    /// A server sent a masked frame (§5.1).
    MaskedServerFrame,
    /// A continuation frame arrived with no fragmented message to continue (§5.4).
    UnexpectedContinuation,
    /// A new data frame arrived before the fragmented message was finished (§5.4).
    ExpectedContinuation,
    /// A 64-bit length had its most significant bit set (§5.2).
    LengthTooLarge,
    /// A text message, or a close reason, was not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A close frame carried one byte of payload (§5.5.1).
    InvalidClosePayload,
    /// A close frame carried a code that may not be sent (§7.4).
    InvalidCloseCode(u16),
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolViolation::ReservedBits(bits) => {
                write!(f, "reserved bits {bits:#05b} set without an extension")
            }
            ProtocolViolation::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolViolation::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolViolation::ControlFrameTooLong(n) => {
                write!(f, "control frame of {n} bytes (at most 125)")
            }
            ProtocolViolation::UnmaskedClientFrame => f.write_str("unmasked frame from a client"),
            ProtocolViolation::MaskedServerFrame => f.write_str("masked frame from a server"),
            ProtocolViolation::UnexpectedContinuation => {
                f.write_str("continuation frame with nothing to continue")
            }
            ProtocolViolation::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolViolation::LengthTooLarge => f.write_str("64-bit length with the top bit set"),
            ProtocolViolation::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ProtocolViolation::InvalidClosePayload => f.write_str("close frame of one byte"),
            ProtocolViolation::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
        }
    }
}

/// A limit of [`Config`](crate::Config) was exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapacityError {
    /// A frame announced a payload larger than `max_frame_size`.
    FrameTooLong {
        /// The announced payload length.
        size: u64,
        /// The limit.
        max_size: usize,
    },
    /// A message grew larger than `max_message_size`.
    MessageTooLong {
        /// The size the message would have reached.
        size: u64,
        /// The limit.
        max_size: usize,
    },
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityError::FrameTooLong { size, max_size } => {
                write!(f, "frame of {size} bytes exceeds the limit of {max_size}")
            }
            CapacityError::MessageTooLong { size, max_size } => {
                write!(f, "message of {size} bytes exceeds the limit of {max_size}")
            }
        }
    }
}

/// Why a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws` or `wss`.
    UnsupportedScheme(String),
    /// `wss://` was asked for but the crate was built without TLS.
    TlsFeatureDisabled,
    /// The URL has no host.
    MissingHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort(String),
    /// The host name did not resolve to any address.
    UnresolvedHost(String),
    /// The URL is malformed in another way.
    Malformed(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::UnsupportedScheme(s) => write!(f, "unsupported scheme {s:?}"),
            UrlError::TlsFeatureDisabled => {
                f.write_str("wss:// needs the `native-tls` feature of syncws")
            }
            UrlError::MissingHost => f.write_str("no host"),
            UrlError::InvalidPort(p) => write!(f, "invalid port {p:?}"),
            UrlError::UnresolvedHost(h) => write!(f, "host {h:?} did not resolve"),
            UrlError::Malformed(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_of_every_platform_become_error_timeout() {
        for kind in [io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            assert!(Error::from(io::Error::from(kind)).is_timeout());
        }
        assert!(matches!(
            Error::from(io::Error::from(io::ErrorKind::ConnectionReset)),
            Error::Io(_)
        ));
    }

    #[test]
    fn error_stays_small() {
        // Returned on every read: keep it a few words.
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn io_source_is_kept_and_printed_once() {
        use std::error::Error as _;
        let e = Error::from(io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "I/O error");
        assert_eq!(e.source().unwrap().to_string(), "disk on fire");
    }
}

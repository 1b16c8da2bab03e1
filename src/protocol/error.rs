//! The errors of the sans-I/O core: what the peer did wrong, which limit
//! was exceeded, and which deadline passed. They name no stream, so they
//! are plain values: comparable, cloneable, and each says the close code
//! it fails the connection with.

use std::fmt;

use crate::protocol::message::CloseCode;

/// The core's error: what a [`Connection`](crate::protocol::Connection)
/// or its parts refuse.
///
/// ```
/// use syncws::CloseCode;
/// use syncws::protocol::{Error, ProtocolViolation};
///
/// let error = Error::Protocol(ProtocolViolation::InvalidUtf8);
/// assert_eq!(error.close_code(), Some(CloseCode::InvalidPayload));
/// assert_eq!(Error::AlreadyClosed.close_code(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455.
    Protocol(ProtocolViolation),
    /// A frame or message is over a limit.
    Capacity(CapacityError),
    /// The connection takes no more of this: our close frame has been
    /// sent, or the connection is over.
    AlreadyClosed,
    /// The operating system gave no random bytes for a masking key (RFC
    /// 6455 §5.3: the key MUST be "derived from a strong source of
    /// entropy"), so the frame was not sent.
    NoRandomness,
}

impl Error {
    /// The close code the connection is failed with after receiving what
    /// caused this error: 1007 for invalid UTF-8 (§8.1), 1002 for the other
    /// violations (§7.4.1), 1009 for a limit (§7.4.1: "a message that is
    /// too big for it to process"); `None` for an error of our own sending.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(violation) => Some(violation.close_code()),
            Error::Capacity(_) => Some(CloseCode::TooBig),
            Error::AlreadyClosed | Error::NoRandomness => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(violation) => write!(f, "protocol violation by peer: {violation}"),
            Error::Capacity(e) => write!(f, "{e}"),
            Error::AlreadyClosed => f.write_str("connection already closed"),
            Error::NoRandomness => f.write_str("no random bytes for a masking key"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Protocol(violation) => Some(violation),
            Error::Capacity(e) => Some(e),
            Error::AlreadyClosed | Error::NoRandomness => None,
        }
    }
}

impl From<ProtocolViolation> for Error {
    fn from(violation: ProtocolViolation) -> Self {
        Error::Protocol(violation)
    }
}

impl From<CapacityError> for Error {
    fn from(e: CapacityError) -> Self {
        Error::Capacity(e)
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
    /// A compressed message (permessage-deflate, RFC 7692 §7.2.2) was not
    /// a valid deflate stream, or had bytes after its final block.
    InvalidCompressedData,
}

impl ProtocolViolation {
    /// The close code the connection is failed with: 1007 for invalid
    /// UTF-8 (§7.4.1: "data within a message that was not consistent with
    /// the type of the message"), 1002 for every other violation.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolViolation::InvalidUtf8 => CloseCode::InvalidPayload,
            _ => CloseCode::Protocol,
        }
    }
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
            ProtocolViolation::InvalidCompressedData => {
                f.write_str("compressed message that does not inflate")
            }
        }
    }
}

impl std::error::Error for ProtocolViolation {}

/// A limit of [`Config`](crate::Config) was exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapacityError {
    /// A frame announced a payload larger than the limit (for a control
    /// frame to send: larger than 125 bytes).
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
    /// The memory for the next bytes of a message could not be allocated:
    /// this connection fails (1009); the process and the others go on.
    OutOfMemory {
        /// The bytes asked for.
        size: u64,
    },
    /// The server's budget for messages being received is used up by
    /// them all: the connection whose message would pass it fails (1009).
    OverBudget {
        /// The bytes asked for.
        size: u64,
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
            CapacityError::OutOfMemory { size } => {
                write!(f, "no memory for {size} more bytes of a message")
            }
            CapacityError::OverBudget { size } => write!(
                f,
                "{size} more bytes of a message would pass the server's budget for messages being received"
            ),
        }
    }
}

impl std::error::Error for CapacityError {}

/// Which deadline passed. Only [`Timeout::Read`] leaves the connection
/// usable: every other one ends it (or, for `Connect` and `Handshake`,
/// means it never opened).
///
/// ```
/// use syncws::Timeout;
///
/// assert!(Timeout::Read.leaves_connection_usable());
/// assert!(!Timeout::Write.leaves_connection_usable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timeout {
    /// No whole message arrived within the read timeout. Nothing is lost
    /// (a frame half received is completed by the next read) and the
    /// connection stays usable: read again.
    Read,
    /// A send could not hand its bytes to the network within the write
    /// timeout. A frame may be half sent, so the connection is failed:
    /// later sends answer [`AlreadyClosed`](crate::Error::AlreadyClosed).
    Write,
    /// The TCP connection was not established within the connect timeout.
    Connect,
    /// The opening handshake (TLS and HTTP) did not complete within the
    /// handshake timeout.
    Handshake,
    /// The peer did not answer a keep-alive ping in time: it is gone, and
    /// the connection was dropped.
    PongOverdue,
    /// The peer did not answer our close frame within the close timeout;
    /// the connection was dropped.
    CloseOverdue,
}

impl Timeout {
    /// True only for [`Timeout::Read`]: the call may be made again on the
    /// same connection.
    pub fn leaves_connection_usable(self) -> bool {
        self == Timeout::Read
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Read => "no message within the read timeout (the connection is still usable)",
            Timeout::Write => "a send could not proceed within the write timeout",
            Timeout::Connect => "the TCP connection was not established in time",
            Timeout::Handshake => "the opening handshake did not complete in time",
            Timeout::PongOverdue => "the peer did not answer a keep-alive ping in time",
            Timeout::CloseOverdue => "the peer did not answer our close frame in time",
        })
    }
}

impl std::error::Error for Timeout {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_section_7_4_1() {
        let cases = [
            (Error::Protocol(ProtocolViolation::InvalidUtf8), Some(1007)),
            (
                Error::Protocol(ProtocolViolation::ReservedBits(4)),
                Some(1002),
            ),
            (
                Error::Protocol(ProtocolViolation::InvalidCloseCode(999)),
                Some(1002),
            ),
            (
                Error::Capacity(CapacityError::FrameTooLong {
                    size: 2,
                    max_size: 1,
                }),
                Some(1009),
            ),
            (Error::AlreadyClosed, None),
        ];
        for (error, code) in cases {
            assert_eq!(error.close_code().map(u16::from), code, "{error}");
        }
    }

    #[test]
    fn only_a_read_timeout_leaves_the_connection_usable() {
        use Timeout::*;
        for timeout in [Write, Connect, Handshake, PongOverdue, CloseOverdue] {
            assert!(!timeout.leaves_connection_usable(), "{timeout:?}");
        }
        assert!(Read.leaves_connection_usable());
        assert!(Read.to_string().contains("still usable"));
    }
}

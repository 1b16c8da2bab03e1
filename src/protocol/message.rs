//! What travels over a WebSocket: messages, close codes and close frames.

use std::fmt;

/// One whole WebSocket message, its fragments joined.
///
/// ```
/// use syncws::Message;
///
/// let m = Message::from("hello");
/// assert_eq!(m.as_text(), Some("hello"));
/// assert_eq!(m.len(), 5);
/// assert!(Message::from(vec![1u8, 2, 3]).is_binary());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The message, borrowed: what [`WebSocket::run_with`](crate::WebSocket::run_with)
    /// lends, and where the accessors below are written once.
    pub fn borrowed(&self) -> MessageRef<'_> {
        MessageRef::from(self)
    }

    /// The payload as bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        self.borrowed().as_bytes()
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        self.borrowed().as_text()
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.borrowed().len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.borrowed().is_empty()
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        self.borrowed().is_text()
    }

    /// True for a binary message.
    pub fn is_binary(&self) -> bool {
        self.borrowed().is_binary()
    }

    /// The payload bytes, taken out of the message.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(b.to_vec())
    }
}

/// A whole message borrowed from where it arrived: what
/// [`WebSocket::run_with`](crate::WebSocket::run_with) hands its handler.
///
/// A message that arrived in one frame is unmasked and validated in the
/// connection's read buffer and lent from there, so reading it allocates
/// and copies nothing. It lives until the handler returns; keep it longer
/// with [`to_message`](Self::to_message).
///
/// ```
/// use syncws::{Message, MessageRef};
///
/// let owned = Message::from("hello");
/// let borrowed = MessageRef::from(&owned);
/// assert_eq!(borrowed, MessageRef::Text("hello"));
/// assert_eq!(borrowed.as_text(), Some("hello"));
/// assert_eq!(borrowed.to_message(), owned);
/// assert!(MessageRef::Binary(&[1, 2, 3]).is_binary());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRef<'a> {
    /// A text message: always valid UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> MessageRef<'a> {
    /// The payload as bytes, whatever the kind.
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            MessageRef::Text(s) => s.as_bytes(),
            MessageRef::Binary(b) => b,
        }
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&'a str> {
        match *self {
            MessageRef::Text(s) => Some(s),
            MessageRef::Binary(_) => None,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, MessageRef::Text(_))
    }

    /// True for a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, MessageRef::Binary(_))
    }

    /// An owned copy, to keep after the handler returns.
    pub fn to_message(&self) -> Message {
        match *self {
            MessageRef::Text(s) => Message::Text(s.to_owned()),
            MessageRef::Binary(b) => Message::Binary(b.to_vec()),
        }
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    fn from(message: &'a Message) -> Self {
        match message {
            Message::Text(s) => MessageRef::Text(s),
            Message::Binary(b) => MessageRef::Binary(b),
        }
    }
}

/// So that `sender.send_message(&message)`, written for a `Message`, also
/// takes a `MessageRef`.
impl<'a> From<&MessageRef<'a>> for MessageRef<'a> {
    fn from(message: &MessageRef<'a>) -> Self {
        *message
    }
}

impl From<MessageRef<'_>> for Message {
    fn from(message: MessageRef<'_>) -> Self {
        message.to_message()
    }
}

impl PartialEq<Message> for MessageRef<'_> {
    fn eq(&self, other: &Message) -> bool {
        *self == MessageRef::from(other)
    }
}

impl PartialEq<MessageRef<'_>> for Message {
    fn eq(&self, other: &MessageRef<'_>) -> bool {
        MessageRef::from(self) == *other
    }
}

/// A close status code (RFC 6455 §7.4).
///
/// ```
/// use syncws::CloseCode;
///
/// assert_eq!(u16::from(CloseCode::Normal), 1000);
/// assert_eq!(CloseCode::from(4000), CloseCode::Other(4000));
/// assert!(CloseCode::Other(4000).is_sendable());
/// assert!(!CloseCode::Abnormal.is_sendable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    Normal,
    /// 1001: an endpoint is going away (server shutdown, page navigated away).
    GoingAway,
    /// 1002: protocol error.
    Protocol,
    /// 1003: a data type the endpoint cannot accept.
    Unsupported,
    /// 1005: no status code was present (never sent on the wire).
    NoStatus,
    /// 1006: the connection closed without a close frame (never sent on the wire).
    Abnormal,
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    InvalidPayload,
    /// 1008: the message violates the endpoint's policy.
    Policy,
    /// 1009: a message too big to process.
    TooBig,
    /// 1010: the client expected an extension the server did not negotiate.
    MandatoryExtension,
    /// 1011: the server met an unexpected condition.
    InternalError,
    /// 1012: the service is restarting.
    ServiceRestart,
    /// 1013: try again later.
    TryAgainLater,
    /// 1014: bad gateway.
    BadGateway,
    /// 1015: TLS handshake failure (never sent on the wire).
    TlsHandshake,
    /// Any other code: 3000-3999 registered, 4000-4999 private use.
    Other(u16),
}

impl CloseCode {
    /// May this code appear in a close frame on the wire (RFC 6455 §7.4.1,
    /// §7.4.2)? 1005, 1006 and 1015 are reserved for reporting; 1004 and
    /// 1016-2999 are reserved; below 1000 and above 4999 are not used.
    pub fn is_sendable(self) -> bool {
        matches!(u16::from(self), 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::GoingAway,
            1002 => CloseCode::Protocol,
            1003 => CloseCode::Unsupported,
            1005 => CloseCode::NoStatus,
            1006 => CloseCode::Abnormal,
            1007 => CloseCode::InvalidPayload,
            1008 => CloseCode::Policy,
            1009 => CloseCode::TooBig,
            1010 => CloseCode::MandatoryExtension,
            1011 => CloseCode::InternalError,
            1012 => CloseCode::ServiceRestart,
            1013 => CloseCode::TryAgainLater,
            1014 => CloseCode::BadGateway,
            1015 => CloseCode::TlsHandshake,
            other => CloseCode::Other(other),
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::NoStatus => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::InvalidPayload => 1007,
            CloseCode::Policy => 1008,
            CloseCode::TooBig => 1009,
            CloseCode::MandatoryExtension => 1010,
            CloseCode::InternalError => 1011,
            CloseCode::ServiceRestart => 1012,
            CloseCode::TryAgainLater => 1013,
            CloseCode::BadGateway => 1014,
            CloseCode::TlsHandshake => 1015,
            CloseCode::Other(code) => code,
        }
    }
}

/// The code and reason of a close frame.
///
/// ```
/// use syncws::{CloseCode, CloseFrame};
///
/// let frame = CloseFrame::new(CloseCode::Normal, "bye");
/// assert_eq!(frame.to_string(), "1000 \"bye\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseFrame {
    /// The status code (1005 when the frame carried none).
    pub code: CloseCode,
    /// The reason, possibly empty (at most 123 bytes of UTF-8 on the wire).
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with this code and reason.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", u16::from(self.code), self.reason)
    }
}

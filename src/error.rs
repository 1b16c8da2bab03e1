//! The one error type of the crate.

use std::fmt;
use std::io;

pub use crate::protocol::error::{CapacityError, ProtocolViolation, Timeout};
pub use crate::protocol::handshake::{HandshakeError, SocksRefusal};
use crate::protocol::message::CloseFrame;

/// A shorthand for `Result<T, syncws::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a WebSocket.
///
/// The variants tell apart what a caller reacts to differently: a timeout
/// (which one: only a read timeout leaves the connection usable), a clean
/// close (done), use after close (stop sending), a protocol violation by
/// the peer, a limit exceeded, a refused handshake, a bad URL and an I/O
/// failure. `Display` shows the cause, and [`source`](std::error::Error::source)
/// returns it.
///
/// ```
/// use syncws::{Error, Timeout};
///
/// fn describe(error: &Error) -> &'static str {
///     match error {
///         Error::Timeout(Timeout::Read) => "nothing arrived in time; the connection is still usable",
///         Error::Closed(_) => "the peer closed the connection cleanly",
///         _ => "the connection failed",
///     }
/// }
/// assert_eq!(describe(&Error::Timeout(Timeout::Read)), "nothing arrived in time; the connection is still usable");
/// assert_eq!(describe(&Error::Timeout(Timeout::Write)), "the connection failed");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A deadline passed; the [`Timeout`] says which. After
    /// [`Timeout::Read`] nothing is lost and the connection stays usable;
    /// after any other the connection is over (or never opened).
    Timeout(Timeout),
    /// The close handshake completed: the frame is the one the peer sent
    /// (code 1005 if it sent none). This is the normal end of a connection.
    Closed(CloseFrame),
    /// The connection was already over when this call was made: it was
    /// closed, a close frame was sent, or it failed earlier (the first
    /// failure was reported to the call that met it).
    AlreadyClosed,
    /// The peer broke RFC 6455; the connection was failed with the
    /// violation's [close code](ProtocolViolation::close_code) (1002, or
    /// 1007 for invalid UTF-8).
    Protocol(ProtocolViolation),
    /// A frame or message exceeded a limit of [`Config`](crate::Config).
    /// Received, it fails the connection with close code 1009 before the
    /// payload is buffered; sent (a ping over 125 bytes), it is refused.
    Capacity(CapacityError),
    /// The opening handshake failed or was refused.
    Handshake(HandshakeError),
    /// The URL could not be used.
    Url(UrlError),
    /// The underlying stream failed (or a host name did not resolve); the
    /// source error is kept.
    Io(io::Error),
    /// A TLS error (unknown certificate authority, name mismatch, failed
    /// handshake, a certificate or key that cannot be read), from
    /// whichever backend was in use; the backend's error is kept as the
    /// source. A TLS handshake that does not finish in time is
    /// [`Timeout::Handshake`], not this.
    #[cfg(any(feature = "native-tls", feature = "rustls"))]
    Tls(TlsError),
}

impl Error {
    /// True for every [`Error::Timeout`]. Only [`Timeout::Read`] leaves
    /// the connection usable, so retry on that one alone:
    /// `matches!(e, Error::Timeout(Timeout::Read))`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// True when the connection ended normally: the close handshake completed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_))
    }

    /// The close code the connection was failed with because of this
    /// error, if it was failed for something the peer sent.
    pub fn close_code(&self) -> Option<crate::CloseCode> {
        match self {
            Error::Protocol(violation) => Some(violation.close_code()),
            Error::Capacity(_) => Some(crate::CloseCode::TooBig),
            _ => None,
        }
    }

    /// An I/O error met in `phase`: a timeout (`WouldBlock` on Unix,
    /// `TimedOut` on Windows) becomes [`Error::Timeout`] of that phase,
    /// anything else [`Error::Io`]. The one place where the socket's way of
    /// saying "timed out" is turned into ours.
    pub(crate) fn from_io(e: io::Error, phase: Timeout) -> Error {
        if is_timeout_kind(e.kind()) {
            Error::Timeout(phase)
        } else {
            Error::Io(e)
        }
    }
}

/// How sockets say that a timeout passed, whatever the platform.
pub(crate) fn is_timeout_kind(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout(timeout) => write!(f, "timed out: {timeout}"),
            Error::Closed(frame) => write!(f, "connection closed by peer: {frame}"),
            Error::AlreadyClosed => f.write_str("connection already closed"),
            Error::Protocol(violation) => write!(
                f,
                "protocol violation by peer: {violation} (closed with {})",
                u16::from(violation.close_code())
            ),
            Error::Capacity(e) => write!(f, "{e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Url(e) => write!(f, "bad URL: {e}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            #[cfg(any(feature = "native-tls", feature = "rustls"))]
            Error::Tls(e) => write!(f, "TLS error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Timeout(timeout) => Some(timeout),
            Error::Protocol(violation) => Some(violation),
            Error::Capacity(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Url(e) => Some(e),
            Error::Io(e) => Some(e),
            #[cfg(any(feature = "native-tls", feature = "rustls"))]
            Error::Tls(e) => Some(e),
            Error::Closed(_) | Error::AlreadyClosed => None,
        }
    }
}

impl From<io::Error> for Error {
    /// Every I/O error is [`Error::Io`]; the code that knows which phase a
    /// timeout belongs to uses `Error::from_io` instead.
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::protocol::Error> for Error {
    /// The core's errors keep their variant.
    fn from(e: crate::protocol::Error) -> Self {
        use crate::protocol::Error as Core;
        match e {
            Core::Protocol(violation) => Error::Protocol(violation),
            Core::Capacity(e) => Error::Capacity(e),
            Core::AlreadyClosed => Error::AlreadyClosed,
            Core::NoRandomness => Error::Io(io::Error::other(e)),
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

/// A TLS failure, from native-tls or from rustls: `Display` shows the
/// cause, [`source`](std::error::Error::source) is the backend's own
/// error, and `as_native_tls` / `as_rustls` (each with its feature) give
/// it typed.
///
/// ```no_run
/// use syncws::Error;
///
/// match syncws::connect("wss://self-signed.example/") {
///     Err(Error::Tls(e)) => println!("TLS refused the server: {e}"),
///     Err(e) => println!("failed otherwise: {e}"),
///     Ok(_) => println!("connected"),
/// }
/// ```
#[cfg(any(feature = "native-tls", feature = "rustls"))]
pub struct TlsError {
    /// Boxed: `Error` is returned by every read and stays a few words.
    cause: Box<TlsCause>,
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
#[derive(Debug)]
enum TlsCause {
    #[cfg(feature = "native-tls")]
    NativeTls(native_tls::Error),
    #[cfg(feature = "rustls")]
    Rustls(rustls::Error),
    /// Something given to set TLS up that could not be used (a PEM file,
    /// a server name), with what it was.
    #[cfg(feature = "rustls")]
    Setup {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl TlsError {
    /// A TLS setting that could not be used: `what` says which, `source`
    /// why.
    #[cfg(feature = "rustls")]
    pub(crate) fn setup(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TlsError {
        TlsError {
            cause: Box::new(TlsCause::Setup {
                what,
                source: source.into(),
            }),
        }
    }

    /// The native-tls error, if native-tls failed.
    #[cfg(feature = "native-tls")]
    pub fn as_native_tls(&self) -> Option<&native_tls::Error> {
        #[allow(unreachable_patterns)] // without rustls, the only cause
        match &*self.cause {
            TlsCause::NativeTls(e) => Some(e),
            _ => None,
        }
    }

    /// The rustls error, if rustls failed (a bad certificate, an alert
    /// from the peer, a broken record).
    #[cfg(feature = "rustls")]
    pub fn as_rustls(&self) -> Option<&rustls::Error> {
        match &*self.cause {
            TlsCause::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl fmt::Debug for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.cause, f)
    }
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.cause {
            #[cfg(feature = "native-tls")]
            TlsCause::NativeTls(e) => write!(f, "{e}"),
            #[cfg(feature = "rustls")]
            TlsCause::Rustls(e) => write!(f, "{e}"),
            #[cfg(feature = "rustls")]
            TlsCause::Setup { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.cause {
            #[cfg(feature = "native-tls")]
            TlsCause::NativeTls(e) => Some(e),
            #[cfg(feature = "rustls")]
            TlsCause::Rustls(e) => Some(e),
            #[cfg(feature = "rustls")]
            TlsCause::Setup { source, .. } => Some(&**source),
        }
    }
}

#[cfg(feature = "native-tls")]
impl From<native_tls::Error> for TlsError {
    fn from(e: native_tls::Error) -> Self {
        TlsError {
            cause: Box::new(TlsCause::NativeTls(e)),
        }
    }
}

#[cfg(feature = "rustls")]
impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        TlsError {
            cause: Box::new(TlsCause::Rustls(e)),
        }
    }
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

#[cfg(feature = "native-tls")]
impl From<native_tls::Error> for Error {
    fn from(e: native_tls::Error) -> Self {
        Error::Tls(e.into())
    }
}

#[cfg(feature = "rustls")]
impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e.into())
    }
}

/// Why a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws` or `wss`.
    UnsupportedScheme(String),
    /// `wss://` was asked for but the crate was built without TLS (neither
    /// the `native-tls` nor the `rustls` feature).
    TlsFeatureDisabled,
    /// The URL has no host.
    MissingHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort(String),
    /// The URL is malformed in another way.
    Malformed(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::UnsupportedScheme(s) => write!(f, "unsupported scheme {s:?}"),
            UrlError::TlsFeatureDisabled => {
                f.write_str("wss:// needs the `native-tls` or the `rustls` feature of syncws")
            }
            UrlError::MissingHost => f.write_str("no host"),
            UrlError::InvalidPort(p) => write!(f, "invalid port {p:?}"),
            UrlError::Malformed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for UrlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_of_every_platform_become_the_timeout_of_their_phase() {
        for kind in [io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            let e = Error::from_io(io::Error::from(kind), Timeout::Write);
            assert!(matches!(e, Error::Timeout(Timeout::Write)), "{e:?}");
        }
        assert!(matches!(
            Error::from_io(io::ErrorKind::ConnectionReset.into(), Timeout::Read),
            Error::Io(_)
        ));
        // Without a phase, an I/O error stays one.
        assert!(matches!(
            Error::from(io::Error::from(io::ErrorKind::WouldBlock)),
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
    fn the_cause_is_shown_and_kept_as_the_source() {
        use std::error::Error as _;
        let e = Error::from(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert_eq!(e.to_string(), "I/O error: refused");
        assert_eq!(e.source().unwrap().to_string(), "refused");
        let e = Error::Timeout(Timeout::PongOverdue);
        assert_eq!(
            e.to_string(),
            "timed out: the peer did not answer a keep-alive ping in time"
        );
        assert!(e.source().unwrap().downcast_ref::<Timeout>().is_some());
        let e = Error::Protocol(ProtocolViolation::InvalidUtf8);
        assert_eq!(
            e.to_string(),
            "protocol violation by peer: invalid UTF-8 (closed with 1007)"
        );
        assert_eq!(e.close_code(), Some(crate::CloseCode::InvalidPayload));
    }
}

//! Which failures and which ends of a connection are worth another try:
//! the rules of [`Reconnect`](super::Reconnect), as pure functions of an
//! error or of a connection's final state.

use std::io;

use crate::error::{Error, HandshakeError};
use crate::protocol::message::{CloseCode, CloseFrame};
use crate::protocol::session::{Failure, State};

/// What to do after a connection attempt failed or a connection ended.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Try again; the error says why (the last one is reported if the
    /// attempts run out).
    Retry(Error),
    /// Stop, and tell the caller why.
    GiveUp(Error),
    /// Stop: this end closed the connection, as the caller chose.
    Done,
    /// The caller let go of a connection that worked (dropped it while it
    /// was open, or asked for the next one while holding it): nothing
    /// failed, and the next connection follows.
    SetAside,
}

/// Is a failed connection attempt worth another? Yes for what can pass:
/// the network (refused, reset, unreachable, a name that did not resolve:
/// all [`Error::Io`]), a connect or handshake timeout, a TLS handshake cut
/// by the network, and a refusal with a 5xx status (the server's trouble,
/// 503 when it is full). No for what another try would only repeat: a
/// bad URL, a refusal with any other status (4xx: the request is wrong or
/// not allowed; 3xx, 2xx: not a WebSocket endpoint), a handshake that
/// breaks RFC 6455, a certificate that is not trusted.
pub(crate) fn attempt_failed(error: Error) -> Verdict {
    let transient = match &error {
        Error::Io(_) | Error::Timeout(_) => true,
        Error::Handshake(HandshakeError::Refused { status, .. }) => (500..=599).contains(status),
        #[cfg(any(feature = "native-tls", feature = "rustls"))]
        Error::Tls(e) => caused_by_io(e),
        _ => false,
    };
    if transient {
        Verdict::Retry(error)
    } else {
        Verdict::GiveUp(error)
    }
}

/// A TLS error caused by the stream under it (a reset, an end of stream
/// during the handshake: a server that is full and drops newcomers)
/// rather than by what was negotiated (a certificate, a name, a protocol
/// version). The TLS library keeps an I/O error as a source; an end of
/// stream it reports only in words (OpenSSL: "unexpected EOF", with no
/// source), so those are looked for too. (rustls's handshake, cut by the
/// network, is already an [`Error::Io`].)
#[cfg(any(feature = "native-tls", feature = "rustls"))]
fn caused_by_io(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<io::Error>()
            || e.to_string()
                .to_ascii_lowercase()
                .contains("unexpected eof")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The close codes that say "come back": the server is going away (1001),
/// restarting (1012), busy (1013), or met trouble of its own (1011
/// internal error, 1014 bad gateway: the twins of the 5xx statuses that
/// are retried). Every other code is a close the server meant: 1000 (done),
/// 1008 (policy), 1003, 1007, 1009, 1010 (it will not take what we send),
/// no code at all (1005), and the application's own 3000-4999.
pub(crate) fn says_try_again(code: CloseCode) -> bool {
    matches!(
        code,
        CloseCode::GoingAway
            | CloseCode::InternalError
            | CloseCode::ServiceRestart
            | CloseCode::TryAgainLater
            | CloseCode::BadGateway
    )
}

/// How a connection that is over ended, from its final state, whether
/// this end sent a close frame first (`closed_here`), and whether that was
/// the drop of a `WebSocket` still open (`dropped_open`).
///
/// - Dropped while open: [`Verdict::SetAside`].
/// - Otherwise closed here (by [`close`](crate::WebSocket::close) or
///   [`Sender::send_close`](crate::Sender::send_close)): the caller's
///   choice, [`Verdict::Done`].
/// - Closed by the server: retried if its code says to come back (see
///   [`says_try_again`]), else given up with [`Error::Closed`] and the
///   frame.
/// - Lost without a close frame (the stream failed or ended, a keep-alive
///   ping or a write timed out): retried. RFC 6455 §7.2.3 expects a client
///   to reconnect after such an abnormal closure, with a backoff.
/// - Failed because the server broke the protocol or a limit: given up
///   with that error; a server that sends what RFC 6455 forbids, or more
///   than our limits, is not fixed by waiting.
pub(crate) fn connection_ended(state: State, closed_here: bool, dropped_open: bool) -> Verdict {
    if dropped_open {
        return Verdict::SetAside;
    }
    if closed_here {
        return Verdict::Done;
    }
    match state {
        // Only this end sends a close frame first, and then `closed_here`
        // is true; a connection still open is the reconnector's to close.
        State::Open | State::Closing { .. } => Verdict::Done,
        State::Closed { received } => closed_by_server(received),
        State::Failed(Failure::Protocol(e)) => Verdict::GiveUp(Error::from(e)),
        State::Failed(Failure::Timeout(timeout)) => Verdict::Retry(Error::Timeout(timeout)),
        State::Failed(Failure::Transport(why)) => Verdict::Retry(Error::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the connection was lost: {why}"),
        ))),
        // Only this end aborts a client connection: dropping it after its
        // close frame was sent (the caller's close).
        State::Failed(Failure::Aborted) => Verdict::Done,
    }
}

fn closed_by_server(frame: CloseFrame) -> Verdict {
    if says_try_again(frame.code) {
        Verdict::Retry(Error::Closed(frame))
    } else {
        Verdict::GiveUp(Error::Closed(frame))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::protocol::Timeout;
    use crate::protocol::error::{Error as CoreError, ProtocolViolation};
    use crate::protocol::handshake::Headers;

    fn refused(status: u16) -> Error {
        Error::Handshake(HandshakeError::Refused {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        })
    }

    fn retried(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Retry(_))
    }

    #[test]
    fn network_failures_timeouts_and_5xx_are_retried() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::NotFound,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert!(
                retried(&attempt_failed(io::Error::from(kind).into())),
                "{kind:?}"
            );
        }
        for timeout in [Timeout::Connect, Timeout::Handshake] {
            assert!(retried(&attempt_failed(Error::Timeout(timeout))));
        }
        for status in [500, 502, 503, 504, 599] {
            assert!(retried(&attempt_failed(refused(status))), "{status}");
        }
    }

    #[test]
    fn other_refusals_bad_urls_and_broken_handshakes_give_up() {
        for status in [400, 401, 403, 404, 429, 499, 301, 200, 600] {
            let verdict = attempt_failed(refused(status));
            assert!(
                matches!(&verdict, Verdict::GiveUp(Error::Handshake(HandshakeError::Refused { status: s, .. })) if *s == status),
                "{status}: {verdict:?}"
            );
        }
        let url = crate::url::WsUrl::parse("http://example.com/").unwrap_err();
        assert!(matches!(
            attempt_failed(url.into()),
            Verdict::GiveUp(Error::Url(_))
        ));
        let invalid = Error::Handshake(HandshakeError::Invalid("wrong accept".into()));
        assert!(matches!(attempt_failed(invalid), Verdict::GiveUp(_)));
    }

    #[test]
    fn a_try_again_close_is_retried_and_a_meant_close_gives_up_with_its_frame() {
        for code in [1001, 1011, 1012, 1013, 1014] {
            let state = State::Closed {
                received: CloseFrame::new(CloseCode::from(code), "later"),
            };
            let verdict = connection_ended(state, false, false);
            assert!(
                matches!(&verdict, Verdict::Retry(Error::Closed(f)) if u16::from(f.code) == code),
                "{code}: {verdict:?}"
            );
        }
        for code in [1000, 1003, 1005, 1007, 1008, 1009, 1010, 3000, 4000, 4999] {
            let state = State::Closed {
                received: CloseFrame::new(CloseCode::from(code), "stop"),
            };
            let verdict = connection_ended(state, false, false);
            assert!(
                matches!(&verdict, Verdict::GiveUp(Error::Closed(f)) if u16::from(f.code) == code && f.reason == "stop"),
                "{code}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_close_started_here_ends_the_iteration_whatever_followed() {
        let now = Instant::now();
        for state in [
            State::Closed {
                received: CloseFrame::new(CloseCode::TryAgainLater, ""),
            },
            State::Closing {
                sent: CloseFrame::new(CloseCode::Normal, ""),
                since: now,
            },
            State::Failed(Failure::Timeout(Timeout::CloseOverdue)),
            State::Failed(Failure::Transport("reset".into())),
            State::Failed(Failure::Aborted),
        ] {
            assert!(matches!(
                connection_ended(state, true, false),
                Verdict::Done
            ));
        }
        assert!(matches!(
            connection_ended(State::Failed(Failure::Aborted), false, false),
            Verdict::Done
        ));
    }

    #[test]
    fn a_connection_dropped_while_open_was_set_aside() {
        // Its drop sent the close frame and aborted it.
        let verdict = connection_ended(State::Failed(Failure::Aborted), true, true);
        assert!(matches!(verdict, Verdict::SetAside));
    }

    #[test]
    fn a_lost_connection_is_retried_and_a_protocol_violation_gives_up() {
        let lost = connection_ended(
            State::Failed(Failure::Transport("eof".into())),
            false,
            false,
        );
        assert!(
            matches!(&lost, Verdict::Retry(Error::Io(e)) if e.to_string().contains("eof")),
            "{lost:?}"
        );
        let overdue = connection_ended(
            State::Failed(Failure::Timeout(Timeout::PongOverdue)),
            false,
            false,
        );
        assert!(matches!(
            overdue,
            Verdict::Retry(Error::Timeout(Timeout::PongOverdue))
        ));
        let violation = State::Failed(Failure::Protocol(CoreError::Protocol(
            ProtocolViolation::InvalidUtf8,
        )));
        assert!(matches!(
            connection_ended(violation, false, false),
            Verdict::GiveUp(Error::Protocol(ProtocolViolation::InvalidUtf8))
        ));
    }
}

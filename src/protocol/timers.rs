//! The deadlines a blocked reader wakes up for: the caller's read timeout,
//! the next keep-alive ping, the peer's overdue pong, and the peer's overdue
//! answer to our close frame.
//!
//! The socket's read timeout is only ever lowered to the earliest of them,
//! and left alone otherwise: a read that wakes early re-evaluates and goes
//! back to sleep. So a connection with keep-alive costs about one
//! `setsockopt` per interval, not one per read.

use std::time::{Duration, Instant};

use crate::protocol::config::KeepAlive;

/// What a reader should do before (or instead of) its next blocking read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Block for at most this long (`None`: no deadline at all).
    Sleep(Option<Duration>),
    /// Send a keep-alive ping now, then ask again.
    Ping,
    /// The caller's read timeout has passed.
    ReadTimeout,
    /// The peer has not answered our ping in time: it is gone.
    PongOverdue,
    /// The peer has not answered our close frame in time.
    CloseOverdue,
}

/// The reader's clocks.
#[derive(Debug)]
// What every read looks at first (see the `WebSocket`'s state).
#[repr(C)]
pub(crate) struct Timers {
    pub read_timeout: Option<Duration>,
    pub keep_alive: Option<KeepAlive>,
    /// When bytes last arrived.
    last_received: Instant,
    /// When our keep-alive ping went out, if it is unanswered.
    ping_sent_at: Option<Instant>,
    pub close_timeout: Duration,
}

impl Timers {
    pub fn new(close_timeout: Duration) -> Self {
        Timers {
            read_timeout: None,
            keep_alive: None,
            close_timeout,
            last_received: Instant::now(),
            ping_sent_at: None,
        }
    }

    /// Bytes arrived: the peer is alive.
    pub fn received(&mut self) {
        if self.keep_alive.is_some() {
            self.last_received = Instant::now();
            self.ping_sent_at = None;
        }
    }

    /// Our keep-alive ping went out.
    pub fn ping_sent(&mut self, at: Instant) {
        self.ping_sent_at = Some(at);
    }

    /// Whether any deadline is running: if not, [`next`](Self::next) is
    /// `Sleep(None)` and a read may block for as long as it takes.
    #[inline]
    pub fn any_deadline(
        &self,
        read_deadline: Option<Instant>,
        close_sent_at: Option<Instant>,
    ) -> bool {
        read_deadline.is_some() || close_sent_at.is_some() || self.keep_alive.is_some()
    }

    /// What to do next, given when the current read started to wait for the
    /// caller (`read_deadline`) and when our close frame went out.
    pub fn next(&self, read_deadline: Option<Instant>, close_sent_at: Option<Instant>) -> Wake {
        if !self.any_deadline(read_deadline, close_sent_at) {
            return Wake::Sleep(None);
        }
        let now = Instant::now();
        let mut earliest: Option<Instant> = None;
        let mut consider = |at: Instant| {
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        };
        if let Some(sent) = close_sent_at {
            let due = sent + self.close_timeout;
            if now >= due {
                return Wake::CloseOverdue;
            }
            consider(due);
        }
        if let Some(keep_alive) = self.keep_alive {
            match self.ping_sent_at {
                Some(sent) => {
                    let due = sent + keep_alive.timeout;
                    if now >= due {
                        return Wake::PongOverdue;
                    }
                    consider(due);
                }
                None => {
                    let due = self.last_received + keep_alive.interval;
                    if now >= due {
                        return Wake::Ping;
                    }
                    consider(due);
                }
            }
        }
        if let Some(deadline) = read_deadline {
            if now >= deadline {
                return Wake::ReadTimeout;
            }
            consider(deadline);
        }
        Wake::Sleep(earliest.map(|at| at - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn nothing_to_wait_for_sleeps_without_deadline() {
        assert_eq!(Timers::new(SECOND).next(None, None), Wake::Sleep(None));
    }

    #[test]
    fn keep_alive_pings_after_the_interval_then_gives_up_after_the_timeout() {
        let mut timers = Timers::new(SECOND);
        timers.keep_alive = Some(KeepAlive::new(Duration::ZERO, SECOND));
        timers.received();
        assert_eq!(timers.next(None, None), Wake::Ping);
        let long_ago = Instant::now() - 2 * SECOND;
        timers.ping_sent(long_ago);
        assert_eq!(timers.next(None, None), Wake::PongOverdue);
        timers.received();
        assert_eq!(timers.next(None, None), Wake::Ping);
    }

    #[test]
    fn the_earliest_deadline_wins() {
        let mut timers = Timers::new(10 * SECOND);
        timers.keep_alive = Some(KeepAlive::new(5 * SECOND, SECOND));
        timers.received();
        let soon = Instant::now() + Duration::from_millis(100);
        match timers.next(Some(soon), Some(Instant::now())) {
            Wake::Sleep(Some(d)) => assert!(d <= Duration::from_millis(100)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            timers.next(Some(Instant::now() - SECOND), None),
            Wake::ReadTimeout
        );
        assert_eq!(
            timers.next(None, Some(Instant::now() - 20 * SECOND)),
            Wake::CloseOverdue
        );
    }
}

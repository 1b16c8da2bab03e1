//! The deadlines a blocked reader wakes up for: the caller's read timeout,
//! the next keep-alive ping, the peer's overdue pong, and the peer's overdue
//! answer to our close frame.
//!
//! Time is an argument: the timers never read the clock, so every rule
//! here is tested without sleeping. The driver sets its socket's read
//! timeout to the earliest deadline (lowering it only, so a connection
//! with keep-alive costs about one `setsockopt` per interval, not one per
//! read).

use std::time::{Duration, Instant};

use crate::protocol::config::KeepAlive;

/// What a reader should do before (or instead of) its next blocking read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
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
    /// Time to ask whether the decompressor has been idle long enough to
    /// hibernate (see [`Timers::hibernation_woke`]).
    Hibernate,
}

/// The reader's clocks.
#[derive(Debug)]
// What every read looks at first (see the `WebSocket`'s state).
#[repr(C)]
pub struct Timers {
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) keep_alive: Option<KeepAlive>,
    /// When bytes last arrived.
    last_received: Instant,
    /// When our keep-alive ping went out, if it is unanswered.
    ping_sent_at: Option<Instant>,
    pub(crate) close_timeout: Duration,
    /// permessage-deflate: when to look whether the decompressor has been
    /// idle long enough to hibernate, and how many compressed messages had
    /// arrived when that was set.
    hibernate: Option<(Instant, u64)>,
}

impl Timers {
    /// Timers for a connection opened at `now`, whose peer has
    /// `close_timeout` to answer a close frame.
    pub fn new(close_timeout: Duration, now: Instant) -> Self {
        Timers {
            read_timeout: None,
            keep_alive: None,
            close_timeout,
            last_received: now,
            ping_sent_at: None,
            hibernate: None,
        }
    }

    #[cfg(feature = "deflate")]
    /// The decompressor holds a zlib context, `seen` compressed messages
    /// having arrived: look at `now + after` whether it may hibernate,
    /// unless that look is set for `seen` already.
    pub fn schedule_hibernation(&mut self, now: Instant, after: Duration, seen: u64) {
        if !self.hibernation_scheduled_for(seen) {
            self.hibernate = Some((now + after, seen));
        }
    }

    #[cfg(feature = "deflate")]
    /// Whether a look at hibernation is set for when `seen` compressed
    /// messages had arrived.
    #[inline]
    pub fn hibernation_scheduled_for(&self, seen: u64) -> bool {
        matches!(self.hibernate, Some((_, at)) if at == seen)
    }

    #[cfg(feature = "deflate")]
    /// [`Wake::Hibernate`] came at `now`, `seen` compressed messages having
    /// arrived: true if none arrived since it was scheduled (hibernate
    /// now); otherwise it is looked at again `after` from now. A driver
    /// that schedules after every compressed message (before it waits for
    /// more) makes a decompressor hibernate one idle time after its last
    /// message.
    pub fn hibernation_woke(&mut self, now: Instant, after: Duration, seen: u64) -> bool {
        match self.hibernate.take() {
            Some((_, before)) if before != seen => {
                self.hibernate = Some((now + after, seen));
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Whether bytes arriving matter to a deadline (keep-alive is on): if
    /// not, the driver need not read the clock for [`received`](Self::received).
    #[inline]
    pub fn wants_arrivals(&self) -> bool {
        self.keep_alive.is_some()
    }

    /// Bytes arrived at `now`: the peer is alive.
    #[inline]
    pub fn received(&mut self, now: Instant) {
        if self.keep_alive.is_some() {
            self.last_received = now;
            self.ping_sent_at = None;
        }
    }

    /// The latest time by which the close handshake and the TCP close must
    /// be done, when they start at `now`.
    pub fn close_deadline(&self, now: Instant) -> Instant {
        now + self.close_timeout
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
        read_deadline.is_some()
            || close_sent_at.is_some()
            || self.keep_alive.is_some()
            || self.hibernate.is_some()
    }

    /// What to do at `now`, given when the current read must give up for
    /// the caller (`read_deadline`) and when our close frame went out.
    pub fn next(
        &self,
        now: Instant,
        read_deadline: Option<Instant>,
        close_sent_at: Option<Instant>,
    ) -> Wake {
        if !self.any_deadline(read_deadline, close_sent_at) {
            return Wake::Sleep(None);
        }
        match self.due(read_deadline, close_sent_at) {
            Some((at, wake)) if now >= at => wake,
            due => Wake::Sleep(due.map(|(at, _)| at - now)),
        }
    }

    /// The earliest deadline running, and what to do when it comes: a
    /// close frame overdue first (the connection is then over anyway),
    /// then keep-alive, then the caller's read timeout. Once our close
    /// frame is out, keep-alive stops: nothing but a close frame may be
    /// sent then, and the close timeout bounds the wait for the peer.
    pub fn due(
        &self,
        read_deadline: Option<Instant>,
        close_sent_at: Option<Instant>,
    ) -> Option<(Instant, Wake)> {
        let close = close_sent_at.map(|sent| (sent + self.close_timeout, Wake::CloseOverdue));
        let keep_alive = match (self.keep_alive, close_sent_at) {
            (Some(keep_alive), None) => Some(match self.ping_sent_at {
                Some(sent) => (sent + keep_alive.timeout, Wake::PongOverdue),
                None => (self.last_received + keep_alive.interval, Wake::Ping),
            }),
            _ => None,
        };
        let read = read_deadline.map(|at| (at, Wake::ReadTimeout));
        let hibernate = self.hibernate.map(|(at, _)| (at, Wake::Hibernate));
        // `min_by_key` keeps the first of equal deadlines: the order above.
        [close, keep_alive, read, hibernate]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn at(start: Instant, secs: f64) -> Instant {
        start + Duration::from_secs_f64(secs)
    }

    #[test]
    fn nothing_to_wait_for_sleeps_without_deadline() {
        let now = Instant::now();
        assert_eq!(
            Timers::new(SECOND, now).next(now, None, None),
            Wake::Sleep(None)
        );
    }

    #[test]
    fn keep_alive_pings_after_the_interval_then_gives_up_after_the_timeout() {
        let t0 = Instant::now();
        let mut timers = Timers::new(SECOND, t0);
        timers.keep_alive = Some(KeepAlive::new(5 * SECOND, 2 * SECOND));
        timers.received(t0);
        assert_eq!(
            timers.next(at(t0, 4.0), None, None),
            Wake::Sleep(Some(SECOND))
        );
        assert_eq!(timers.next(at(t0, 5.0), None, None), Wake::Ping);
        timers.ping_sent(at(t0, 5.0));
        assert_eq!(
            timers.next(at(t0, 6.5), None, None),
            Wake::Sleep(Some(Duration::from_millis(500)))
        );
        assert_eq!(timers.next(at(t0, 7.0), None, None), Wake::PongOverdue);
        // Anything arriving answers for the peer: the next ping is due an
        // interval later.
        timers.received(at(t0, 6.9));
        assert_eq!(
            timers.next(at(t0, 7.0), None, None),
            Wake::Sleep(Some(Duration::from_secs_f64(4.9)))
        );
        assert_eq!(timers.next(at(t0, 11.9), None, None), Wake::Ping);
    }

    #[test]
    fn the_earliest_deadline_wins() {
        let t0 = Instant::now();
        let mut timers = Timers::new(10 * SECOND, t0);
        timers.keep_alive = Some(KeepAlive::new(5 * SECOND, SECOND));
        timers.received(t0);
        let read_by = at(t0, 0.1);
        assert_eq!(
            timers.next(t0, Some(read_by), Some(t0)),
            Wake::Sleep(Some(Duration::from_millis(100)))
        );
        assert_eq!(timers.next(read_by, Some(read_by), None), Wake::ReadTimeout);
        // The close timeout runs from when our close frame went out, and
        // keep-alive stops then: no ping is due at 5 s.
        assert_eq!(
            timers.next(at(t0, 9.0), None, Some(t0)),
            Wake::Sleep(Some(SECOND))
        );
        assert_eq!(
            timers.next(at(t0, 10.0), None, Some(t0)),
            Wake::CloseOverdue
        );
    }
}

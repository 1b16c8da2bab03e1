//! A client that reconnects: [`Reconnect`], an iterator that yields a
//! fresh connection each time the caller asks for one, waiting with
//! exponential backoff and jitter between attempts, and stopping when
//! another try would not help.
//!
//! - `reconnect.rs`: the iterator, its settings, and the bookkeeping of
//!   attempts and delays.
//! - `backoff.rs`: [`Backoff`] and [`Jitter`], the delays as a pure
//!   function of the retry's number and a random fraction.
//! - `verdict.rs`: which failed attempts and which ends of a connection
//!   are worth another try.

mod backoff;
mod verdict;

use std::fmt;
use std::iter::FusedIterator;
use std::time::{Duration, Instant};

use crate::client::ClientBuilder;
use crate::error::{Error, Result};
use crate::protocol::message::CloseCode;
use crate::protocol::session::State;
use crate::websocket::{Sender, WebSocket};

use backoff::Fractions;
pub use backoff::{Backoff, Jitter};
use verdict::Verdict;

/// How long a previous connection still open when the next one is asked
/// for may take to take its close frame, before it is dropped.
const SET_ASIDE_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The default of [`Reconnect::healthy_after`].
const DEFAULT_HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Connect to `url`, and again each time the connection ends in a way that
/// says "try again", with the default settings: see [`Reconnect`].
///
/// ```no_run
/// for ws in syncws::reconnect("ws://127.0.0.1:9001/feed") {
///     let mut ws = ws?; // why it gave up, once, as the last item
///     for message in &mut ws {
///         match message {
///             Ok(message) => println!("{message:?}"),
///             Err(e) => eprintln!("connection lost: {e}"),
///         }
///     }
/// }
/// # Ok::<(), syncws::Error>(())
/// ```
pub fn reconnect(url: impl Into<String>) -> Reconnect {
    Reconnect::new(ClientBuilder::new(url))
}

// Defined here rather than in client.rs: it is the entry to this module.
impl ClientBuilder {
    /// Connect with these settings, and reconnect: see [`Reconnect`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use syncws::{Backoff, ClientBuilder};
    ///
    /// let feed = ClientBuilder::new("ws://127.0.0.1:9001/feed")
    ///     .header("Authorization", "Bearer 42")
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .reconnect()
    ///     .backoff(Backoff::default().max(Duration::from_secs(30)))
    ///     .max_attempts(10);
    /// for ws in feed {
    ///     let mut ws = ws?;
    ///     println!("{:?}", ws.read_message());
    /// }
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn reconnect(self) -> Reconnect {
        Reconnect::new(self)
    }
}

/// A client that reconnects: an iterator of connections to one server.
///
/// Each item is a fresh, connected [`WebSocket`] (`Ok`), or, once and as
/// the last item, the reason it gave up (`Err`); after that it yields
/// `None`. Asking for the next item is what tells it the previous
/// connection is over: it then looks at how that one ended, waits as the
/// [`Backoff`] says, and connects again. Resubscribe at the top of the
/// loop body, or in [`on_connect`](Self::on_connect).
///
/// ```no_run
/// for ws in syncws::reconnect("ws://127.0.0.1:9001/prices") {
///     let mut ws = ws?;
///     // Lost at once: the next connection follows.
///     if ws.send_text(r#"{"subscribe": "EUR/USD"}"#).is_err() {
///         continue;
///     }
///     for message in &mut ws {
///         match message {
///             Ok(message) => println!("{message:?}"),
///             Err(e) => eprintln!("connection lost: {e}"),
///         }
///     }
/// }
/// # Ok::<(), syncws::Error>(())
/// ```
///
/// # When it tries again
/// A failed attempt is tried again when it may pass: the network
/// ([`Error::Io`]: refused, reset, unreachable, a name that did not
/// resolve), a connect or handshake timeout, a TLS handshake cut by the
/// network, a refusal with a 5xx status.
///
/// A connection that ended is followed by another when
/// - the server closed it with a code that says to come back: 1001 (going
///   away), 1012 (service restart), 1013 (try again later), 1011
///   (internal error) or 1014 (bad gateway), the twins of the 5xx
///   statuses;
/// - it was lost without a close frame: the stream failed or ended, or a
///   [keep-alive](crate::KeepAlive) ping went unanswered (RFC 6455 §7.2.3:
///   a client reconnects after an abnormal closure, with a backoff);
/// - the caller let go of it while it was open: dropped the `WebSocket`
///   (which sends 1000), or asked for the next item while still holding it,
///   in which case it is closed with 1000 first. Nothing failed: the
///   backoff starts again from its first delay.
///
/// # When it stops
/// - The caller closed the previous connection
///   ([`WebSocket::close`], [`Sender::send_close`]): the iteration ends
///   with `None`.
/// - The server closed it with any other code (1000, 1008 policy,
///   1003/1007/1009/1010, none at all, the application's 3000-4999): it
///   meant it; the last item is `Err(Error::Closed(frame))`.
/// - The server broke the protocol or a limit: `Err` with that error.
/// - An attempt failed in a way another would repeat: a bad URL
///   ([`Error::Url`]), a refusal with a status that is not 5xx (4xx: the
///   request is wrong or not allowed), a handshake that breaks RFC 6455,
///   an untrusted certificate ([`Error::Tls`](crate::Error)): `Err` with
///   that error.
/// - [`max_attempts`](Self::max_attempts) tries in a row failed: `Err`
///   with the last failure.
///
/// # Delays
/// The first connection is tried at once. Each later try waits
/// [`Backoff::delay`] of its retry number: 1 for the first retry after the
/// start or after a healthy connection, one more for each try since that
/// failed. A connection is *healthy* once it has stayed open for
/// [`healthy_after`](Self::healthy_after) (10 s by default), measured from
/// when it was yielded to when the next item is asked for; a healthy
/// connection that ends starts the backoff again from retry 1 and clears
/// the count of failed tries. One that ends earlier counts as a failed try.
///
/// The waiting, the clock and the randomness can be replaced
/// ([`sleep_with`](Self::sleep_with), [`clock`](Self::clock),
/// [`seed`](Self::seed)), so that the delays are testable without waiting
/// for them.
pub struct Reconnect {
    builder: ClientBuilder,
    backoff: Backoff,
    healthy_after: Duration,
    max_attempts: Option<u32>,
    on_connect: Option<Box<OnConnect>>,
    sleep: Box<dyn FnMut(Duration) + Send>,
    now: Box<dyn FnMut() -> Instant + Send>,
    fractions: Fractions,
    /// The connection yielded last, while the caller has it.
    previous: Option<Previous>,
    /// Tries in a row that failed (could not connect, or connected and
    /// ended, in a way that is retried, before it was healthy).
    failures: u32,
    /// The number of the next retry for the backoff: tries since the start
    /// or the last healthy connection.
    retry: u32,
    /// Why the last try failed.
    last_error: Option<Error>,
    started: bool,
    finished: bool,
}

type OnConnect = dyn FnMut(&mut WebSocket) -> Result<()> + Send;

/// The connection yielded last: a handle on its state, and when it opened.
struct Previous {
    sender: Sender,
    opened_at: Instant,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("builder", &self.builder)
            .field("backoff", &self.backoff)
            .field("healthy_after", &self.healthy_after)
            .field("max_attempts", &self.max_attempts)
            .field("failures", &self.failures)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// Connect with `builder`'s settings, and reconnect with the default
    /// [`Backoff`], no limit on attempts, and a connection healthy after
    /// 10 s.
    pub fn new(builder: ClientBuilder) -> Self {
        Reconnect {
            builder,
            backoff: Backoff::default(),
            healthy_after: DEFAULT_HEALTHY_AFTER,
            max_attempts: None,
            on_connect: None,
            sleep: Box::new(std::thread::sleep),
            now: Box::new(Instant::now),
            fractions: Fractions::from_entropy(),
            previous: None,
            failures: 0,
            retry: 0,
            last_error: None,
            started: false,
            finished: false,
        }
    }

    /// The delays between attempts (see [`Backoff`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a connection must stay open to count as healthy: when a
    /// healthy connection ends, the backoff starts again from its first
    /// delay and the failed tries are forgotten. 10 s by default.
    pub fn healthy_after(mut self, period: Duration) -> Self {
        self.healthy_after = period;
        self
    }

    /// Give up after `attempts` tries in a row that failed (at least 1): a
    /// try fails when it cannot connect, or when the connection it opened
    /// ends, in a way that is retried, before it was healthy. The last
    /// item is then the last failure. Unlimited by default.
    ///
    /// ```no_run
    /// let mut feed = syncws::reconnect("ws://127.0.0.1:9001/").max_attempts(3);
    /// match feed.next() {
    ///     Some(Ok(ws)) => println!("connected to {:?}", ws.peer_addr()),
    ///     Some(Err(e)) => println!("gave up: {e}"),
    ///     None => unreachable!("the first item is a connection or an error"),
    /// }
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Run `f` on each new connection before it is yielded: to
    /// authenticate or resubscribe. If it fails, the connection counts as a
    /// failed try: tried again if it was lost (a send on a connection the
    /// server dropped), given up with `f`'s error if the connection is
    /// still open (the failure was `f`'s own).
    ///
    /// ```no_run
    /// let feed = syncws::reconnect("ws://127.0.0.1:9001/prices")
    ///     .on_connect(|ws| ws.send_text(r#"{"subscribe": "EUR/USD"}"#));
    /// for ws in feed {
    ///     for message in &mut ws? {
    ///         println!("{message:?}");
    ///     }
    /// }
    /// # Ok::<(), syncws::Error>(())
    /// ```
    pub fn on_connect<F>(mut self, f: F) -> Self
    where
        F: FnMut(&mut WebSocket) -> Result<()> + Send + 'static,
    {
        self.on_connect = Some(Box::new(f));
        self
    }

    /// Wait with `sleep` instead of [`std::thread::sleep`]: to record the
    /// delays in a test, to log each retry, or to wait on a condition that
    /// can cut the wait short.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// // A port nothing listens on: each try is refused.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let waited = Arc::new(Mutex::new(Vec::new()));
    /// let record = Arc::clone(&waited);
    /// let mut feed = syncws::reconnect(format!("ws://127.0.0.1:{port}/"))
    ///     .max_attempts(4)
    ///     .seed(1)
    ///     .sleep_with(move |delay| record.lock().unwrap().push(delay));
    /// assert!(matches!(feed.next(), Some(Err(syncws::Error::Io(_)))));
    /// assert!(feed.next().is_none());
    /// let waited = waited.lock().unwrap();
    /// assert_eq!(waited.len(), 3); // between four tries
    /// assert!(waited[0] >= Duration::from_millis(500) && waited[2] <= Duration::from_secs(4));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sleep_with<F>(mut self, sleep: F) -> Self
    where
        F: FnMut(Duration) + Send + 'static,
    {
        self.sleep = Box::new(sleep);
        self
    }

    /// Read the time from `now` instead of [`Instant::now`]: it tells how
    /// long a connection stayed open (see
    /// [`healthy_after`](Self::healthy_after)).
    pub fn clock<F>(mut self, now: F) -> Self
    where
        F: FnMut() -> Instant + Send + 'static,
    {
        self.now = Box::new(now);
        self
    }

    /// Draw the jitter's random fractions from a generator seeded with
    /// `seed`, so that a run's delays are repeatable. By default the
    /// seed comes from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.fractions = Fractions::seeded(seed);
        self
    }

    /// Stop for good: this item is the last.
    fn finish(&mut self, error: Option<Error>) -> Option<Result<WebSocket>> {
        self.finished = true;
        self.previous = None;
        error.map(Err)
    }

    /// How the connection yielded last ended, and what follows.
    fn previous_ended(&mut self, previous: Previous) -> Verdict {
        let sender = previous.sender;
        let state = sender.state();
        if state == State::Open {
            // Still held by the caller, who asks for another: close it,
            // without waiting for the server's answer (the caller's reader
            // receives it).
            sender.close_or_abort(CloseCode::Normal, "", SET_ASIDE_CLOSE_WAIT);
            return Verdict::SetAside;
        }
        let verdict = verdict::connection_ended(state, sender.closed_here(), sender.dropped_open());
        let lived = (self.now)().saturating_duration_since(previous.opened_at);
        match verdict {
            // It stayed long enough: whatever ended it, the network and the
            // server were working.
            Verdict::Retry(reason) if lived >= self.healthy_after => {
                log::info!("syncws: the connection ended after {lived:?}: {reason}");
                Verdict::SetAside
            }
            other => other,
        }
    }

    /// Open one connection and run the on-connect hook on it.
    fn attempt(&mut self) -> std::result::Result<WebSocket, Verdict> {
        let mut ws = self
            .builder
            .clone()
            .connect()
            .map_err(verdict::attempt_failed)?;
        if let Some(on_connect) = &mut self.on_connect {
            if let Err(e) = on_connect(&mut ws) {
                let sender = ws.sender();
                let state = sender.state();
                if state == State::Open {
                    // The hook's own failure: another connection would
                    // meet it again.
                    return Err(Verdict::GiveUp(e));
                }
                let closed_here = sender.closed_here();
                drop(ws);
                return Err(match verdict::connection_ended(state, closed_here, false) {
                    // The report of the hook's send is the more telling.
                    Verdict::Retry(_) => Verdict::Retry(e),
                    other => other,
                });
            }
        }
        self.previous = Some(Previous {
            sender: ws.sender(),
            opened_at: (self.now)(),
        });
        Ok(ws)
    }
}

impl Iterator for Reconnect {
    type Item = Result<WebSocket>;

    fn next(&mut self) -> Option<Result<WebSocket>> {
        if self.finished {
            return None;
        }
        if let Some(previous) = self.previous.take() {
            match self.previous_ended(previous) {
                Verdict::Done => return self.finish(None),
                Verdict::GiveUp(e) => return self.finish(Some(e)),
                Verdict::SetAside => {
                    self.failures = 0;
                    self.retry = 0;
                    self.last_error = None;
                }
                Verdict::Retry(e) => {
                    self.failures += 1;
                    self.last_error = Some(e);
                }
            }
        }
        loop {
            if let (Some(max), Some(_)) = (self.max_attempts, &self.last_error) {
                if self.failures >= max {
                    log::info!("syncws: giving up after {max} failed attempts");
                    let last = self.last_error.take();
                    return self.finish(last);
                }
            }
            if self.started {
                self.retry = self.retry.saturating_add(1);
                let delay = self
                    .backoff
                    .delay(self.retry, self.fractions.next_fraction());
                match &self.last_error {
                    Some(e) => log::info!("syncws: {e}; reconnecting in {delay:?}"),
                    None => log::info!("syncws: reconnecting in {delay:?}"),
                }
                (self.sleep)(delay);
            }
            self.started = true;
            match self.attempt() {
                Ok(ws) => return Some(Ok(ws)),
                Err(Verdict::Retry(e)) => {
                    self.failures = self.failures.saturating_add(1);
                    self.last_error = Some(e);
                }
                Err(Verdict::GiveUp(e)) => return self.finish(Some(e)),
                Err(Verdict::Done | Verdict::SetAside) => return self.finish(None),
            }
        }
    }
}

impl FusedIterator for Reconnect {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Reconnect>();
    }

    #[test]
    fn a_bad_url_gives_up_at_once_without_waiting() {
        let mut feed = reconnect("http://127.0.0.1/")
            .sleep_with(|delay| panic!("waited {delay:?} for a bad URL"));
        assert!(matches!(feed.next(), Some(Err(Error::Url(_)))));
        assert!(feed.next().is_none());
        assert!(feed.next().is_none());
    }
}

//! The good client: a newcomer's connection every period, timed.

use super::*;

/// One connection of the good client: when it started, and its latency
/// (connect, handshake, one round trip) or why it failed.
pub(super) struct Try {
    pub(super) at: Instant,
    pub(super) result: Result<Duration, String>,
}

/// A new connection to `/echo` every [`GOOD_PERIOD`] on a thread of its
/// own (at most an hour of them), one 32-byte round trip each, then a
/// clean close.
pub(super) struct GoodClient {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: JoinHandle<Vec<Try>>,
}

impl GoodClient {
    pub(super) fn start(addr: SocketAddr, tls: Option<native_tls::TlsConnector>) -> GoodClient {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut tries = Vec::new();
            let start = Instant::now();
            let limit = Duration::from_secs(3600).as_millis() / GOOD_PERIOD.as_millis();
            let mut k = 0u32;
            while !stopped.load(Ordering::Relaxed) && (k as u128) < limit {
                let next = start + GOOD_PERIOD * k;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let at = Instant::now();
                let result = good_round(addr, tls.as_ref(), u64::from(k));
                tries.push(Try { at, result });
                // A try that ran late skips the periods it overran.
                k = (k + 1).max((start.elapsed().as_millis() / GOOD_PERIOD.as_millis()) as u32);
            }
            tries
        });
        GoodClient { stop, thread }
    }

    pub(super) fn stop(self) -> Vec<Try> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

pub(super) fn good_round(
    addr: SocketAddr,
    tls: Option<&native_tls::TlsConnector>,
    seq: u64,
) -> Res<Duration> {
    let started = Instant::now();
    let tcp = wire::tcp_within(addr, GOOD_TIMEOUT)?;
    for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
        set(&tcp, Some(GOOD_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    }
    let mut conn = Conn::upgrade(tcp, addr, Proto::Ws, "/echo", tls, 256)?;
    let mut message = [0u8; 32];
    wire::payload(&mut message, 0, seq);
    conn.echo(&message)?;
    let latency = started.elapsed();
    conn.close()?;
    Ok(latency)
}

/// The good client's tries in a window.
#[derive(Debug, Clone, Default)]
pub(super) struct Good {
    pub(super) tries: usize,
    pub(super) latencies: Vec<Duration>,
    /// Each failure's text, with how often, and when the first and last
    /// came (seconds since the window opened).
    pub(super) failures: BTreeMap<String, (usize, f64, f64)>,
}

impl Good {
    pub(super) fn of(tries: &[Try], from: Instant, to: Instant) -> Good {
        let mut good = Good::default();
        for t in tries.iter().filter(|t| t.at >= from && t.at < to) {
            good.tries += 1;
            match &t.result {
                Ok(latency) => good.latencies.push(*latency),
                Err(e) => {
                    let at = (t.at - from).as_secs_f64();
                    let entry = good.failures.entry(short(e, 60)).or_insert((0, at, at));
                    entry.0 += 1;
                    entry.2 = at;
                }
            }
        }
        good.latencies.sort();
        good
    }

    pub(super) fn failed(&self) -> usize {
        self.tries - self.latencies.len()
    }

    pub(super) fn success(&self) -> String {
        if self.tries == 0 {
            return "—".into();
        }
        format!(
            "{:.1}% of {}",
            100.0 * self.latencies.len() as f64 / self.tries as f64,
            count(self.tries as u64)
        )
    }

    pub(super) fn p99(&self) -> String {
        match self.latencies.len() {
            0 => "—".into(),
            n => ms(self.latencies[(n * 99).div_ceil(100) - 1]),
        }
    }

    pub(super) fn failures(&self) -> String {
        let mut by_count: Vec<_> = self.failures.iter().collect();
        by_count.sort_by_key(|b| std::cmp::Reverse(b.1.0));
        by_count
            .iter()
            .take(3)
            .map(|(what, (n, first, last))| {
                format!("{} × \"{what}\" ({first:.1}–{last:.1} s)", count(*n as u64))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

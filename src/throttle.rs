//! Log lines that a peer could make repeat thousands of times a second (a
//! refusal under attack, a failing `accept`, a TLS handshake that fails):
//! each site writes at most one a second, and says how many it left out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// A log line that may come thousands of times a second (a refusal under
/// attack, a failing `accept`): written at most once a second, with the
/// count of those left out since.
pub(crate) struct Throttled {
    state: Mutex<Option<(Instant, u64)>>,
}

impl Throttled {
    pub(crate) const fn new() -> Throttled {
        Throttled {
            state: Mutex::new(None),
        }
    }

    /// Call `log` with the count left out since the last line, unless a
    /// line went out less than a second ago.
    pub(crate) fn note(&self, log: impl FnOnce(u64)) {
        self.note_at(Instant::now(), log);
    }

    /// [`note`](Self::note) at `now`.
    fn note_at(&self, now: Instant, log: impl FnOnce(u64)) {
        let mut state = lock(&self.state);
        match &mut *state {
            Some((last, left_out)) if now.duration_since(*last) < Duration::from_secs(1) => {
                *left_out += 1;
            }
            _ => {
                let left_out = state.map_or(0, |(_, n)| n);
                *state = Some((now, 0));
                drop(state);
                log(left_out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_line_goes_out_once_a_second_with_what_it_left_out() {
        let throttled = Throttled::new();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for i in 0..1000 {
            let at = t0 + Duration::from_micros(i);
            throttled.note_at(at, |left_out| lines.push(left_out));
        }
        assert_eq!(lines, [0]);
        // A second later, the next one says how many were left out.
        throttled.note_at(t0 + Duration::from_secs(1), |left_out| lines.push(left_out));
        assert_eq!(lines, [0, 999]);
    }
}

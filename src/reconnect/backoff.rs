//! How long to wait before each reconnection: truncated exponential
//! backoff with jitter, as a value that computes a delay from the retry's
//! number and a random fraction (so that every delay is testable without
//! waiting for it), and the small generator that draws those fractions.

use std::time::Duration;

/// The delays between reconnection attempts: truncated exponential backoff
/// with jitter.
///
/// Retry `n` (1 for the first reconnection after a failure or after a
/// healthy connection ended) waits up to `initial × multiplierⁿ⁻¹`, never
/// more than `max`, spread by the [`Jitter`]. The defaults: 1 s,
/// doubling, at most 60 s, [`Jitter::Equal`]: retries wait 0.5-1 s,
/// 1-2 s, 2-4 s, ... and at most 30-60 s.
///
/// This follows RFC 6455 §7.2.3, which asks that "the first reconnect
/// attempt SHOULD be delayed by a random amount of time" and later ones
/// "by increasingly longer amounts of time, using a method such as
/// truncated binary exponential backoff".
///
/// ```
/// use std::time::Duration;
/// use syncws::{Backoff, Jitter};
///
/// let backoff = Backoff::default()
///     .initial(Duration::from_millis(100))
///     .multiplier(2.0)
///     .max(Duration::from_secs(1))
///     .jitter(Jitter::None);
/// assert_eq!(backoff.delay(1, 0.5), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(400));
/// assert_eq!(backoff.delay(10, 0.5), Duration::from_secs(1)); // the cap
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: Jitter,
}

/// How a [`Backoff`] spreads its delays, so that clients dropped together
/// (a server restart) do not all come back at the same instant.
///
/// `ceiling` is the delay before jitter: `initial × multiplierⁿ⁻¹`, at most
/// `max`; `r` is a random fraction in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// `ceiling/2 + r × ceiling/2` (the default): at least half the
    /// ceiling, so one client never retries a dead server in a tight loop
    /// and its delays really grow (with a multiplier of 2 or more, each is
    /// at least the one before until the cap is reached), while a crowd of
    /// clients is still spread over the other half.
    #[default]
    Equal,
    /// `r × ceiling`: spreads a crowd the most (the whole range), at the
    /// price of sometimes retrying almost at once.
    Full,
    /// `ceiling`: no randomness, for tests or a single client.
    None,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(60),
            jitter: Jitter::Equal,
        }
    }
}

impl Backoff {
    /// The ceiling of the first retry's delay.
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// What each retry multiplies the ceiling by. Below 1 (or not a
    /// number) it is taken as 1: delays never shrink.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// The largest delay (the truncation of the exponential).
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// How delays are spread; see [`Jitter`].
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry `retry` (counted from 1; 0 is taken as 1),
    /// given a random fraction `random` in `[0, 1)` (clamped into it).
    pub fn delay(&self, retry: u32, random: f64) -> Duration {
        let ceiling = self.ceiling(retry.max(1));
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, MAX_FRACTION)
        };
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(random),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(random),
        }
    }

    /// `initial × multiplier^(retry-1)`, at most `max`. Computed in
    /// floating point and compared before it becomes a `Duration`, which
    /// cannot hold an overflowing or infinite product.
    fn ceiling(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        let seconds = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        if seconds.is_finite() && seconds < self.max.as_secs_f64() {
            Duration::from_secs_f64(seconds)
        } else {
            self.max
        }
    }
}

/// The largest `f64` below 1.
const MAX_FRACTION: f64 = 1.0 - f64::EPSILON / 2.0;

/// Random fractions for the jitter: SplitMix64, seeded from the operating
/// system or by the caller. Jitter only spreads clients apart; it needs
/// no cryptographic quality, and a seed makes a run repeatable.
#[derive(Debug, Clone)]
pub(crate) struct Fractions {
    state: u64,
}

impl Fractions {
    /// Seeded from the operating system's generator, or, if it fails, from
    /// the clock: either spreads clients apart.
    pub(crate) fn from_entropy() -> Self {
        let seed = getrandom::u64().unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_nanos() as u64)
        });
        Fractions::seeded(seed)
    }

    pub(crate) fn seeded(seed: u64) -> Self {
        Fractions { state: seed }
    }

    /// The next fraction, uniform in `[0, 1)`.
    pub(crate) fn next_fraction(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits: every value exactly representable.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn plain() -> Backoff {
        Backoff::default()
            .initial(ms(100))
            .multiplier(2.0)
            .max(ms(1000))
            .jitter(Jitter::None)
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_cap() {
        let delays: Vec<Duration> = (1..=7).map(|n| plain().delay(n, 0.3)).collect();
        assert_eq!(
            delays,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000),
                ms(1000)
            ]
        );
        // Retry 0 is the first retry.
        assert_eq!(plain().delay(0, 0.3), ms(100));
    }

    #[test]
    fn the_cap_holds_however_many_retries_and_whatever_the_multiplier() {
        for backoff in [
            plain(),
            plain().multiplier(1e300),
            plain().multiplier(f64::MAX),
        ] {
            for retry in [30, 1100, u32::MAX] {
                assert_eq!(backoff.delay(retry, 0.99), ms(1000), "{backoff:?} {retry}");
            }
        }
        // An initial delay above the cap is cut to it.
        assert_eq!(plain().initial(ms(5000)).delay(1, 0.0), ms(1000));
    }

    #[test]
    fn a_multiplier_below_one_keeps_delays_constant() {
        for multiplier in [0.5, -3.0, f64::NAN] {
            let backoff = plain().multiplier(multiplier);
            assert_eq!(backoff.delay(1, 0.0), ms(100));
            assert_eq!(backoff.delay(9, 0.0), ms(100));
        }
    }

    #[test]
    fn equal_jitter_keeps_half_the_ceiling_and_spreads_the_other_half() {
        let backoff = plain().jitter(Jitter::Equal);
        assert_eq!(backoff.delay(3, 0.0), ms(200));
        assert_eq!(backoff.delay(3, 0.5), ms(300));
        // At most the ceiling (a fraction just below 1, rounded to whole
        // nanoseconds, may reach it).
        assert!(backoff.delay(3, 1.0) <= ms(400));
        assert!(backoff.delay(3, 1.0) > ms(399));
        // With a multiplier of 2, the smallest delay of a retry is the
        // ceiling of the one before: below the cap they never shrink.
        for n in 1..4 {
            assert!(backoff.delay(n + 1, 0.0) >= backoff.delay(n, 1.0), "{n}");
        }
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_ceiling() {
        let backoff = plain().jitter(Jitter::Full);
        assert_eq!(backoff.delay(2, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay(2, 0.25), ms(50));
        assert!(backoff.delay(2, 1.0) <= ms(200));
        assert!(backoff.delay(2, 1.0) > ms(199));
    }

    #[test]
    fn out_of_range_fractions_are_clamped() {
        let backoff = plain().jitter(Jitter::Full);
        assert_eq!(backoff.delay(1, -1.0), Duration::ZERO);
        assert_eq!(backoff.delay(1, f64::NAN), Duration::ZERO);
        assert!(backoff.delay(1, 7.0) <= ms(100));
    }

    #[test]
    fn the_default_is_one_second_doubling_to_a_minute_with_equal_jitter() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1, 0.0), ms(500));
        assert_eq!(backoff.delay(2, 0.0), ms(1000));
        assert_eq!(backoff.delay(20, 0.0), Duration::from_secs(30));
        assert!(backoff.delay(20, 0.999) <= Duration::from_secs(60));
    }

    #[test]
    fn fractions_are_in_range_repeatable_by_seed_and_spread() {
        let mut a = Fractions::seeded(7);
        let mut b = Fractions::seeded(7);
        let mut c = Fractions::seeded(8);
        let drawn: Vec<f64> = (0..1000).map(|_| a.next_fraction()).collect();
        assert!(drawn.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(drawn.iter().zip(drawn.iter().skip(1)).all(|(x, y)| x != y));
        assert_eq!(
            drawn[..10],
            (0..10).map(|_| b.next_fraction()).collect::<Vec<_>>()[..]
        );
        assert_ne!(drawn[0], c.next_fraction());
        // Roughly uniform: each tenth of the range gets 5-15 % of 1000 draws.
        for tenth in 0..10 {
            let count = drawn
                .iter()
                .filter(|f| (**f * 10.0) as usize == tenth)
                .count();
            assert!((50..150).contains(&count), "tenth {tenth}: {count}");
        }
        // Two generators from entropy differ (a collision is 2^-64 likely).
        assert_ne!(
            Fractions::from_entropy().next_fraction(),
            Fractions::from_entropy().next_fraction()
        );
    }
}

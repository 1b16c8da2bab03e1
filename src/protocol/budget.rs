//! Memory that many connections share for the messages they are still
//! receiving: a server-wide bound on what partial messages may hold, so
//! that many connections each holding most of a large message cannot add
//! up to more than the host has.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A budget of bytes, taken as message buffers grow and given back when
/// their messages are delivered or their connections end.
#[derive(Debug)]
pub(crate) struct MessageBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MessageBudget {
    pub(crate) fn new(limit: usize) -> MessageBudget {
        MessageBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Take `bytes`; false, taking nothing, if that would pass the limit.
    pub(crate) fn take(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(after) = used.checked_add(bytes).filter(|&after| after <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Give back `bytes` taken before.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The bytes taken now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_taken_past_the_limit_and_everything_comes_back() {
        let budget = MessageBudget::new(100);
        assert!(budget.take(60));
        assert!(!budget.take(41));
        assert!(budget.take(40));
        assert_eq!(budget.used(), 100);
        budget.give_back(60);
        budget.give_back(40);
        assert_eq!(budget.used(), 0);
        assert!(!budget.take(usize::MAX));
    }
}

//! A condition variable that knows whether anyone waits on it, and a lock
//! that ignores poisoning: the two helpers every shared state here uses
//! (a connection's writer, the server's registry).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Lock `mutex`, ignoring poisoning: every state guarded here is changed
/// by single assignments, so a panic while holding the lock leaves it
/// whole.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `Condvar` that is only notified when a thread waits on it: std's
/// `notify_all` is a system call even when nobody waits, and the states
/// guarded here change on every send and every connection's end.
///
/// Waiting and notifying must both happen under the same mutex, which is
/// what makes the count exact: a notifier holding it either sees a waiter
/// counted, or the waiter has not yet looked at the state it waits for.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    condvar: Condvar,
    waiting: AtomicUsize,
}

impl Signal {
    /// Wait for a notification, giving up `guard` meanwhile.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    /// Wait for a notification until `deadline`; the second value is false
    /// if the deadline had passed already.
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> (MutexGuard<'a, T>, bool) {
        let now = Instant::now();
        if now >= deadline {
            return (guard, false);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let (guard, _) = self
            .condvar
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        (guard, true)
    }

    /// Wake every waiting thread, if there is one. Call it holding the
    /// mutex the waiters wait with.
    #[inline]
    pub(crate) fn notify_all(&self) {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.condvar.notify_all();
        }
    }
}

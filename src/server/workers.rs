//! The threads that serve connections, one connection at a time each.
//!
//! Starting a thread costs about 40 µs of CPU on the benchmark machine (a
//! clone, a signal stack mapped and unmapped, the stack advised away at
//! exit: each of those a TLB shootdown on a multi-core VM), a third of
//! what a whole short connection costs; handing a connection to a thread
//! that waits for one costs about 3 µs. So a thread that has served a
//! connection waits a while for the next one, up to a number of waiting
//! threads (`Server::idle_threads`). The accepting thread hands a
//! connection over only to a thread already waiting (a rendezvous
//! channel): it never waits itself, and starts a thread when none waits.
//!
//! A connection thread's system name (`ps -L`, `top -H`, gdb, perf) is
//! `syncws-N` while it serves connection N and `syncws-idle` while it
//! waits; std's name for it is `syncws-conn`.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::server::{Shared, connection};

/// std's name of every connection thread.
const THREAD_NAME: &str = "syncws-conn";

/// A connection accepted, to be served.
pub(crate) struct Job {
    pub n: u64,
    pub stream: TcpStream,
    pub peer: SocketAddr,
}

/// The accepting thread's end: where connections are handed over.
pub(crate) struct Workers {
    handoff: Sender<Job>,
    waiting: Receiver<Job>,
}

impl Workers {
    pub fn new() -> Workers {
        let (handoff, waiting) = crossbeam_channel::bounded(0);
        Workers { handoff, waiting }
    }

    /// Serve `job` on a thread that waits for one, or on a new thread.
    /// Dropping `Workers` ends the waiting threads.
    pub fn serve(&self, shared: &Arc<Shared>, job: Job) {
        let job = match self.handoff.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        };
        let n = job.n;
        let shared_by_thread = Arc::clone(shared);
        let waiting = self.waiting.clone();
        // Counted until the thread ends, even by a panic: `stop` waits for it.
        let live = shared.registry.thread_started();
        let spawned = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .stack_size(shared.settings.stack_size)
            .spawn(move || {
                let _live = live;
                work(&shared_by_thread, job, &waiting);
            });
        // If the thread could not start, its closure (and the count) is gone.
        if let Err(e) = spawned {
            log::warn!("could not start a thread for connection {n}: {e}");
        }
    }
}

/// Serve `job`, then the connections handed over while waiting, until none
/// comes within the idle time, enough threads wait already, or the server
/// stops.
fn work(shared: &Arc<Shared>, mut job: Job, waiting: &Receiver<Job>) {
    let idle = &shared.idle_threads;
    let (most_idle, keep) = shared.settings.idle_threads;
    loop {
        name_thread("syncws-", Some(job.n));
        connection::serve(shared, job.n, job.stream, job.peer);
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        if idle.fetch_add(1, Ordering::AcqRel) >= most_idle {
            idle.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let next = wait_for_job(waiting, keep);
        idle.fetch_sub(1, Ordering::AcqRel);
        match next {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// The next connection handed over within `keep`, if any. (Not inlined:
/// the channel's waiting machinery would otherwise sit in the frame below
/// every connection's stack.)
#[inline(never)]
fn wait_for_job(waiting: &Receiver<Job>, keep: std::time::Duration) -> Option<Job> {
    name_thread("syncws-idle", None);
    // Disconnected once the accepting thread has ended.
    waiting.recv_timeout(keep).ok()
}

/// Set the system's name of the calling thread to `prefix` followed by
/// `n` if given (at most 15 bytes are kept).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[inline(never)]
fn name_thread(prefix: &str, n: Option<u64>) {
    // The name, cut to the 15 bytes the kernel keeps, and its NUL.
    let mut buf = [0u8; 16];
    let mut len = prefix.len().min(15);
    buf[..len].copy_from_slice(&prefix.as_bytes()[..len]);
    if let Some(n) = n {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let take = (digits.len() - at).min(15 - len);
        buf[len..len + take].copy_from_slice(&digits[at..at + take]);
        len += take;
    }
    debug_assert!(len <= 15 && buf[15] == 0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes from its second argument; `buf` is 16 bytes long, lives until
    // the call returns, and its last byte is always 0 (at most the first
    // 15 are written above). The other arguments are unused by
    // PR_SET_NAME. Why not the safe way, a write to
    // `/proc/thread-self/comm`: `syncws-bench thread-names` (bench/)
    // measured 6.1–7.0 µs of CPU per rename that way against 0.42–0.54 µs
    // for this call; at two renames per connection that is about 12 µs
    // more on a short connection's 110 µs (BENCHMARKS.md, connect), enough
    // to miss the connect target.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buf.as_ptr(), 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn name_thread(_prefix: &str, _n: Option<u64>) {}

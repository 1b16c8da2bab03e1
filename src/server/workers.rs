//! The threads that serve connections, one connection at a time each.
//!
//! Starting a thread costs about 40 µs of CPU on the benchmark machine (a
//! clone, a signal stack mapped and unmapped, the stack advised away at
//! exit: each of those a TLB shootdown on a multi-core VM), a third of
//! what a whole short connection costs; handing a connection to a thread
//! that waits for one costs about 3 µs. So a thread that has served a
//! connection waits a while for the next one, up to a number of waiting
//! threads (`Server::idle_threads`). The accepting thread hands a
//! connection over only to a thread already waiting, the one that started
//! waiting last (its stack and data are the likeliest to be in cache): it
//! never waits itself, and starts a thread when none waits. A waiting
//! thread sleeps on a condition variable of its own; a channel's receiver
//! would first spin and yield the processor a few times, which measured
//! close to one `sched_yield` per connection served.
//!
//! A connection thread's system name (`ps -L`, `top -H`, gdb, perf) is
//! `syncws-N` while it serves connection N and `syncws-idle` while it
//! waits; std's name for it is `syncws-conn`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::protocol::address::Address;
use crate::server::admission::Admission;
use crate::server::{Shared, connection};
use crate::throttle::Throttled;
use crate::transport::Socket;

/// std's name of every connection thread.
const THREAD_NAME: &str = "syncws-conn";

/// A connection accepted, to be served.
pub(crate) struct Job {
    pub n: u64,
    pub stream: Arc<Socket>,
    /// The peer's address, if known.
    pub peer: Option<Address>,
    /// What it counts against the server's limits, until it ends.
    pub admission: Admission,
    /// Whether its request head is still to be read.
    pub start: Start,
}

/// How a connection handed to a worker begins.
pub(crate) enum Start {
    /// Accepted: the TLS handshake (if the server speaks TLS), then the
    /// request head, are still to come.
    Accepted,
    /// Another HTTP loop read the request head: what it read, and the
    /// bytes it read past the head (no TLS: the head came in the clear).
    Upgrade(Box<ReadHead>),
    /// Another HTTP loop did the TLS handshake with rustls and read the
    /// request head through it: the head, and the rustls connection,
    /// which the connection goes on with.
    #[cfg(feature = "rustls")]
    UpgradeRustls(Box<ReadHead>, Box<rustls::ServerConnection>),
}

/// A request head read by another HTTP loop.
pub(crate) struct ReadHead {
    pub request: crate::protocol::handshake::Request,
    pub rest: Vec<u8>,
}

/// The accepting thread's end: where connections are handed over.
pub(crate) struct Workers {
    idle: Arc<IdleList>,
}

/// The threads waiting for a connection, the last to start waiting last.
#[derive(Default)]
struct IdleList {
    state: Mutex<IdleState>,
}

#[derive(Default)]
struct IdleState {
    waiting: Vec<Arc<Waiter>>,
    /// The accepting thread has ended: nothing more will be handed over.
    closed: bool,
}

/// One waiting thread's mailbox.
#[derive(Default)]
struct Waiter {
    slot: Mutex<Slot>,
    filled: Condvar,
}

#[derive(Default)]
enum Slot {
    #[default]
    Empty,
    Job(Job),
    Closed,
}

impl IdleList {
    fn lock(&self) -> MutexGuard<'_, IdleState> {
        // Every update is a push, a pop or a flag: poisoning leaves it whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Give `job` to the thread that started waiting last; back if none
    /// waits.
    fn hand_over(&self, job: Job) -> Result<(), Job> {
        let waiter = self.lock().waiting.pop();
        match waiter {
            Some(waiter) => {
                waiter.put(Slot::Job(job));
                Ok(())
            }
            None => Err(job),
        }
    }

    /// Nothing more will be handed over: the waiting threads end.
    fn close(&self) {
        let waiting = {
            let mut idle = self.lock();
            idle.closed = true;
            std::mem::take(&mut idle.waiting)
        };
        for waiter in waiting {
            waiter.put(Slot::Closed);
        }
    }
}

impl Waiter {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, slot: Slot) {
        *self.lock() = slot;
        self.filled.notify_one();
    }
}

impl Workers {
    pub fn new() -> Workers {
        Workers {
            idle: Arc::default(),
        }
    }

    /// Serve `job` on a thread that waits for one, or on a new thread.
    /// Dropping `Workers` ends the waiting threads.
    pub fn serve(&self, shared: &Arc<Shared>, job: Job) {
        let Err(job) = self.idle.hand_over(job) else {
            return;
        };
        let n = job.n;
        let shared_by_thread = Arc::clone(shared);
        let idle = Arc::clone(&self.idle);
        // Counted until the thread ends, even by a panic: `stop` waits for it.
        let live = shared.registry.thread_started();
        let spawned = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .stack_size(shared.settings.stack_size)
            .spawn(move || {
                let _live = live;
                work(&shared_by_thread, job, &idle);
            });
        // If the thread could not start, its closure (and the counts) is
        // gone, and the socket is closed with it.
        if let Err(e) = spawned {
            NO_THREAD.note(|left_out| {
                log::warn!(
                    "could not start a thread for connection {n}: {e} ({left_out} more in the last second)"
                );
            });
        }
    }
}

/// Threads that cannot be started are logged once a second at most.
static NO_THREAD: Throttled = Throttled::new();

impl Workers {
    /// Nothing more will be handed to waiting threads: they end. (Later
    /// jobs, from a handle, each start a thread.)
    pub fn close(&self) {
        self.idle.close();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.idle.close();
    }
}

/// Serve `job`, then the connections handed over while waiting, until none
/// comes within the idle time, enough threads wait already, or the server
/// stops.
fn work(shared: &Arc<Shared>, mut job: Job, idle_list: &IdleList) {
    let idle = &shared.idle_threads;
    let (most_idle, keep) = shared.settings.idle_threads;
    let me = Arc::new(Waiter::default());
    #[cfg(feature = "deflate")]
    crate::stack::mark_own();
    loop {
        name_thread("syncws-", Some(job.n));
        connection::serve(shared, job);
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        if idle.fetch_add(1, Ordering::AcqRel) >= most_idle {
            idle.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let next = wait_for_job(idle_list, &me, keep);
        idle.fetch_sub(1, Ordering::AcqRel);
        match next {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// The next connection handed over within `keep`, if any. (Not inlined:
/// the waiting machinery would otherwise sit in the frame below every
/// connection's stack.)
#[inline(never)]
fn wait_for_job(idle_list: &IdleList, me: &Arc<Waiter>, keep: Duration) -> Option<Job> {
    name_thread("syncws-idle", None);
    {
        let mut idle = idle_list.lock();
        if idle.closed {
            return None;
        }
        idle.waiting.push(Arc::clone(me));
    }
    let deadline = Instant::now() + keep;
    let mut slot = me.lock();
    let mut listed = true;
    loop {
        match std::mem::take(&mut *slot) {
            Slot::Job(job) => return Some(job),
            Slot::Closed => return None,
            Slot::Empty => {}
        }
        let now = Instant::now();
        if listed && now >= deadline {
            // Leave the list, unless the accepting thread has just taken
            // this thread from it: then a connection (or the end) is on its
            // way, and must be waited for. (Lock order: a slot, then the
            // list; `serve` never holds both.)
            let mut idle = idle_list.lock();
            match idle.waiting.iter().position(|w| Arc::ptr_eq(w, me)) {
                Some(at) => {
                    idle.waiting.remove(at);
                    return None;
                }
                None => listed = false,
            }
        }
        slot = if listed {
            me.filled
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0
        } else {
            me.filled.wait(slot).unwrap_or_else(|e| e.into_inner())
        };
    }
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

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    fn job(n: u64) -> Job {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let peer = tcp.local_addr().unwrap();
        let stream = Arc::new(Socket::Tcp(tcp));
        let registry = Arc::new(crate::server::registry::Registry::default());
        let limits = crate::server::admission::Limits {
            connections: None,
            handshakes: usize::MAX,
            per_peer: None,
        };
        let admission = registry
            .admit(n, Some(peer.ip()), &stream, &limits)
            .unwrap_or_else(|_| unreachable!("no limit"));
        Job {
            n,
            stream,
            peer: Some(peer.into()),
            admission,
            start: Start::Accepted,
        }
    }

    /// Starts a thread waiting on `idle`; reports what it got, once it
    /// stops waiting.
    fn waiting_thread(idle: &Arc<IdleList>, keep: Duration) -> mpsc::Receiver<Option<u64>> {
        let (tx, rx) = mpsc::channel();
        let idle = Arc::clone(idle);
        thread::spawn(move || {
            let me = Arc::new(Waiter::default());
            let _ = tx.send(wait_for_job(&idle, &me, keep).map(|job| job.n));
        });
        rx
    }

    fn await_waiters(idle: &IdleList, n: usize) {
        let deadline = Instant::now() + LONG;
        while idle.lock().waiting.len() < n {
            assert!(Instant::now() < deadline, "{n} threads never waited");
            thread::yield_now();
        }
    }

    #[test]
    fn a_job_goes_to_the_thread_that_started_waiting_last() {
        let idle = Arc::new(IdleList::default());
        let first = waiting_thread(&idle, LONG);
        await_waiters(&idle, 1);
        let second = waiting_thread(&idle, LONG);
        await_waiters(&idle, 2);
        assert!(idle.hand_over(job(7)).is_ok());
        assert_eq!(second.recv_timeout(LONG).unwrap(), Some(7));
        assert!(idle.hand_over(job(8)).is_ok());
        assert_eq!(first.recv_timeout(LONG).unwrap(), Some(8));
        // Nobody waits now: the job comes back.
        assert_eq!(idle.hand_over(job(9)).map_err(|job| job.n), Err(9));
    }

    #[test]
    fn a_thread_stops_waiting_after_its_idle_time_and_leaves_the_list() {
        let idle = Arc::new(IdleList::default());
        let waiter = waiting_thread(&idle, Duration::from_millis(20));
        assert_eq!(waiter.recv_timeout(LONG).unwrap(), None);
        assert!(idle.lock().waiting.is_empty());
        assert!(idle.hand_over(job(1)).is_err());
    }

    #[test]
    fn closing_ends_the_waiting_threads_and_later_ones_at_once() {
        let idle = Arc::new(IdleList::default());
        let waiter = waiting_thread(&idle, LONG);
        await_waiters(&idle, 1);
        idle.close();
        assert_eq!(waiter.recv_timeout(LONG).unwrap(), None);
        let late = waiting_thread(&idle, LONG);
        assert_eq!(late.recv_timeout(LONG).unwrap(), None);
        assert!(idle.hand_over(job(2)).is_err());
    }
}

//! The thread that hibernates idle compressors (permessage-deflate).
//!
//! A connection's compressor is used by whichever thread sends, and a
//! connection that only sends has a reader blocked with no deadline, so no
//! thread of the connection's own would notice that the compressor went
//! idle. One thread per process does, while there is something to watch: a connection whose compressor makes
//! a zlib context registers here, and at the time it named the thread asks
//! its writer to hibernate (`Session::hibernate_if_idle`, which decides);
//! a writer not idle long enough names a later time, one that hibernated
//! leaves the list until its next message registers it again. Writers are
//! held weakly: a connection that ends leaves by itself. (The
//! decompressor belongs to the reading thread, whose timers see to it.)
//! The memory the contexts freed is then given back to the system, once
//! per batch of hibernations (`give_back_freed_memory`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::writer::Writer;
use crate::sync::lock;
use crate::throttle::Throttled;

/// A writer to look at, and when.
type Watched = (Weak<Writer>, Instant);

/// The way to the thread, while it runs. It ends once it watches nothing
/// (no thread is left behind by a process whose connections are gone),
/// and the next registration starts another. Registering and ending both
/// hold this lock, so no registration is sent to a thread that is ending.
static WATCHER: Mutex<Option<Sender<Watched>>> = Mutex::new(None);
static NO_THREAD: Throttled = Throttled::new();
/// A decompressor hibernated since the memory was last given back.
static FREED: AtomicBool = AtomicBool::new(false);
/// Memory freed by hibernating is given back this long after the first
/// hibernation of a batch: the connections that went quiet together go
/// together, and the heap is walked once for them.
const GIVE_BACK_AFTER: Duration = Duration::from_secs(1);

/// Hibernate `writer`'s compressor once it has been idle long enough,
/// looking first at `due`.
pub(crate) fn watch(writer: Weak<Writer>, due: Instant) {
    let mut watcher = lock(&WATCHER);
    if watcher.is_none() {
        let (send, receive) = crossbeam_channel::unbounded();
        let spawned = thread::Builder::new()
            .name("syncws-deflate-idle".into())
            .stack_size(64 << 10)
            .spawn(move || run(receive));
        match spawned {
            Ok(_) => *watcher = Some(send),
            Err(e) => {
                NO_THREAD.note(|left_out| {
                    log::warn!(
                        "deflate: cannot start the thread that hibernates idle compressors ({e}); \
                         they keep their memory ({left_out} more in the last second)"
                    );
                });
                return;
            }
        }
    }
    if let Some(watcher) = watcher.as_ref() {
        // The thread only ends under this lock, after emptying the channel.
        let _ = watcher.send((writer, due));
    }
}

fn run(registrations: Receiver<Watched>) {
    let mut watched: Vec<Watched> = Vec::new();
    // When the memory hibernation freed is given back, if some waits.
    let mut give_back_at: Option<Instant> = None;
    loop {
        let wake = watched
            .iter()
            .map(|(_, due)| *due)
            .chain(give_back_at)
            .min();
        let received = match wake {
            Some(at) => registrations.recv_deadline(at),
            None => {
                let watcher = lock(&WATCHER);
                match registrations.try_recv() {
                    Ok(registration) => Ok(registration),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                        end(watcher);
                        return;
                    }
                }
            }
        };
        match received {
            Ok(registration) => watched.push(registration),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let mut hibernated = false;
        watched.retain_mut(|(writer, due)| {
            // A connection that ended leaves at once (its drop wakes this
            // thread), so that no thread outlives the connections.
            if writer.strong_count() == 0 {
                return false;
            }
            if *due > now {
                return true;
            }
            let Some(writer) = writer.upgrade() else {
                return false;
            };
            match writer.hibernate_if_idle(now) {
                Some(later) => {
                    *due = later;
                    true
                }
                None => {
                    hibernated = true;
                    false
                }
            }
        });
        if hibernated || FREED.swap(false, Ordering::Relaxed) {
            give_back_at.get_or_insert(now + GIVE_BACK_AFTER);
        }
        if give_back_at.is_some_and(|at| now >= at) {
            give_back_at = None;
            FREED.store(false, Ordering::Relaxed);
            give_back_freed_memory();
        }
    }
}

/// A decompressor hibernated (on its reading thread): the memory it freed
/// is given back with the next batch.
pub(crate) fn freed() {
    FREED.store(true, Ordering::Relaxed);
    // The thread may have ended (every compressor hibernated first): a
    // registration of nothing starts it again, and it stays until the
    // memory is given back.
    watch(Weak::new(), Instant::now());
}

/// Give the memory freed by hibernating contexts back to the system.
///
/// glibc keeps freed memory in its heap for the next allocation, and a
/// zlib context (about 290 KiB to compress, 40 KiB to inflate) freed in
/// the middle of the heap is never at its top, so hibernating alone left
/// an idle compressed connection at 328 KiB of resident memory (1,000
/// connections after 20 messages each way and 6 s idle, `syncws-bench
/// deflate-memory`), where trimming brings it to 66 KiB: the contexts are
/// what hibernation is for. At most once per [`GIVE_BACK_AFTER`], from
/// this thread only: `malloc_trim` walks the heap, which costs about a
/// millisecond per hundred MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_back_freed_memory() {
    // SAFETY: malloc_trim(3) takes no pointer and reads or writes no memory
    // of ours: it releases free pages of glibc's own heap, under its arena
    // locks, and is MT-Safe (any thread, any time, concurrently with other
    // allocations). Its result (whether memory was released) is not needed.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_freed_memory() {}

/// A watched writer is being dropped: wake the thread, which lets it go
/// (and ends if it was the last).
pub(crate) fn forget() {
    if let Some(watcher) = lock(&WATCHER).as_ref() {
        let _ = watcher.send((Weak::new(), Instant::now()));
    }
}

/// Nothing left to watch: the next registration starts a new thread.
fn end(mut watcher: std::sync::MutexGuard<'_, Option<Sender<Watched>>>) {
    *watcher = None;
}

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

use std::sync::{Mutex, Weak};
use std::thread;
use std::time::Instant;

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
    loop {
        let received = match watched.iter().map(|(_, due)| *due).min() {
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
                None => false,
            }
        });
    }
}

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

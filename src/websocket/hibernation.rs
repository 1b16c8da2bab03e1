//! The thread that hibernates idle compressors (permessage-deflate).
//!
//! A connection's compressor is used by whichever thread sends, and a
//! connection that only sends has a reader blocked with no deadline, so no
//! thread of the connection's own would notice that the compressor went
//! idle. One thread per process does: a connection whose compressor makes
//! a zlib context registers here, and at the time it named the thread asks
//! its writer to hibernate (`Session::hibernate_if_idle`, which decides);
//! a writer not idle long enough names a later time, one that hibernated
//! leaves the list until its next message registers it again. Writers are
//! held weakly: a connection that ends leaves by itself. (The
//! decompressor belongs to the reading thread, whose timers see to it.)

use std::sync::{OnceLock, Weak};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::writer::Writer;
use crate::throttle::Throttled;

/// A writer to look at, and when.
type Watched = (Weak<Writer>, Instant);

static WATCHER: OnceLock<Option<Sender<Watched>>> = OnceLock::new();
static NO_THREAD: Throttled = Throttled::new();

/// Hibernate `writer`'s compressor once it has been idle long enough,
/// looking first at `due`.
pub(crate) fn watch(writer: Weak<Writer>, due: Instant) {
    let watcher = WATCHER.get_or_init(|| {
        let (send, receive) = crossbeam_channel::unbounded();
        let spawned = thread::Builder::new()
            .name("syncws-deflate-idle".into())
            .stack_size(64 << 10)
            .spawn(move || run(receive));
        match spawned {
            Ok(_) => Some(send),
            Err(e) => {
                NO_THREAD.note(|_| {
                    log::warn!(
                        "deflate: cannot start the thread that hibernates idle compressors ({e}); they keep their memory"
                    );
                });
                None
            }
        }
    });
    if let Some(watcher) = watcher {
        let _ = watcher.send((writer, due));
    }
}

fn run(registrations: Receiver<Watched>) {
    let mut watched: Vec<Watched> = Vec::new();
    loop {
        let next = watched.iter().map(|(_, due)| *due).min();
        let received = match next {
            Some(at) => registrations.recv_deadline(at),
            None => registrations
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(registration) => watched.push(registration),
            Err(RecvTimeoutError::Timeout) => {}
            // The static sender never goes.
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        watched.retain_mut(|(writer, due)| {
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

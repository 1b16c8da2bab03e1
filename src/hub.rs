//! Broadcast to a group of connections, without one slow or dead member
//! delaying the others, and without losing a message a broadcast accepted.
//!
//! A server's frames are not masked, so a broadcast is encoded once and the
//! same bytes go to every member, shared, never copied per member. A
//! broadcast goes into each member connection's own send queue at once, in
//! order with everything else sent on it, so that a close frame sent after
//! it (the member's own, or the reply to the peer's) can never overtake it.
//! Where the member's socket takes the frame at once and nothing else is
//! being written to it, `broadcast` writes it itself, with a send that never
//! waits (as Node's `ws` loops over its clients): no thread is woken.
//! Otherwise the frame waits in the queue, and a thread of the member's own
//! is woken to write all that waits in one system call, so `broadcast`
//! never waits for the network. When a member's queue is full (it reads
//! slower than the group talks), it is dropped from the hub and closed with
//! 1008 (policy violation).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::protocol::frame::OpCode;
use crate::protocol::message::{CloseCode, MessageRef};
use crate::protocol::outbox::SharedFrame;
use crate::sync::lock;
use crate::websocket::{Queued, Sender};

/// Default length of each member's queue, in broadcast messages.
pub const DEFAULT_MEMBER_QUEUE: usize = 1024;
/// Time an evicted member's close frame gets to go out.
const EVICT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Stack of a member's writing thread: it only moves bytes.
const MEMBER_STACK: usize = 64 << 10;

struct Member {
    sender: Sender,
    /// Wakes the member's thread to write what waits in the queue. Holds at
    /// most one wake-up: a thread woken writes everything that waits.
    wake: crossbeam_channel::Sender<()>,
    evicted: Arc<AtomicBool>,
}

impl Member {
    /// Put `frame` in the member's queue (or on its socket). False if the
    /// member is to leave the hub.
    fn offer(&self, frame: &SharedFrame, limit: usize) -> bool {
        match self.sender.send_broadcast_now(frame, limit) {
            Ok(Queued::Written | Queued::Waiting { flush: false }) => true,
            Ok(Queued::Waiting { flush: true }) => {
                // If a wake-up is pending already, it will write this too;
                // if the thread has ended, so has the member, which the
                // next broadcast finds.
                let _ = self.wake.try_send(());
                true
            }
            Ok(Queued::Full) => {
                self.evicted.store(true, Ordering::Release);
                evict(self.sender.clone());
                false
            }
            // The connection is over.
            Err(_) => false,
        }
    }
}

struct Inner {
    members: Mutex<HashMap<u64, Member>>,
    next_id: AtomicU64,
    queue_len: usize,
}

/// A group of connections to broadcast to: a chatroom, a live feed.
/// Cheap to clone; clones are the same hub.
///
/// ```no_run
/// use syncws::{Hub, Server};
///
/// let room = Hub::new();
/// let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
///     let _membership = room.join(ws.sender()); // leaves when dropped
///     let room = room.clone();
///     let _ = ws.run_with(|message| {
///         room.broadcast(message);
///         Ok(())
///     });
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("members", &self.len()).finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    /// An empty hub whose members each queue up to 1024 messages.
    pub fn new() -> Hub {
        Hub::with_member_queue(DEFAULT_MEMBER_QUEUE)
    }

    /// An empty hub whose members each queue up to `messages` messages.
    pub fn with_member_queue(messages: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                members: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                queue_len: messages.max(1),
            }),
        }
    }

    fn members(&self) -> MutexGuard<'_, HashMap<u64, Member>> {
        lock(&self.inner.members)
    }

    /// Add a connection; it receives every broadcast until the returned
    /// [`Membership`] is dropped, its connection ends, or it is evicted for
    /// being too slow.
    pub fn join(&self, sender: Sender) -> Membership {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (wake, woken) = crossbeam_channel::bounded(1);
        let evicted = Arc::new(AtomicBool::new(false));
        let writer = MemberWriter {
            hub: Arc::downgrade(&self.inner),
            id,
            woken,
            sender: sender.clone(),
            evicted: Arc::clone(&evicted),
        };
        let spawned = thread::Builder::new()
            .name(format!("syncws-hub-{id}"))
            .stack_size(MEMBER_STACK)
            .spawn(move || writer.run());
        if let Err(e) = spawned {
            log::warn!("hub: cannot start a writer for a member: {e}");
        } else {
            self.members().insert(
                id,
                Member {
                    sender,
                    wake,
                    evicted,
                },
            );
        }
        Membership {
            hub: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Send `message` to every member, and return how many members took
    /// it: for each of them it is written, or queued on its connection
    /// ahead of anything sent on it later (a close frame included), so it
    /// goes out unless that connection fails. Never waits for the network.
    /// Members whose queue is full are evicted and closed with 1008.
    pub fn broadcast<'a>(&self, message: impl Into<MessageRef<'a>>) -> usize {
        let message = message.into();
        let opcode = match message {
            MessageRef::Text(_) => OpCode::Text,
            MessageRef::Binary(_) => OpCode::Binary,
        };
        let frame = SharedFrame::new(opcode, message.as_bytes());
        let limit = self.inner.queue_len;
        let mut members = self.members();
        members.retain(|_, member| member.offer(&frame, limit));
        members.len()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members().len()
    }

    /// True when the hub has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sending handles of every member, for messages meant for each alone.
    pub fn senders(&self) -> Vec<Sender> {
        self.members().values().map(|m| m.sender.clone()).collect()
    }
}

/// Close a member that reads too slowly, on a thread of its own: its
/// writer may be blocked on the full socket, and the broadcaster must not
/// wait. What was queued goes first; the close frame gets a second to go
/// out, then the connection is dropped, which also frees the member's
/// writer.
fn evict(sender: Sender) {
    log::info!("hub: a member reads too slowly; closing it with 1008");
    let spawned = thread::Builder::new()
        .name("syncws-hub-evict".into())
        .stack_size(MEMBER_STACK)
        .spawn(move || {
            sender.close_or_abort(
                CloseCode::Policy,
                "too slow: outgoing queue full",
                EVICT_CLOSE_TIMEOUT,
            )
        });
    if let Err(e) = spawned {
        log::warn!("hub: cannot start a thread to close a slow member: {e}");
    }
}

/// Membership of a connection in a [`Hub`]; dropping it leaves the hub.
/// What was broadcast to the member before it left still goes out.
#[derive(Debug)]
pub struct Membership {
    hub: Weak<Inner>,
    id: u64,
}

impl Membership {
    /// Leave the hub now.
    pub fn leave(self) {}
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            lock(&hub.members).remove(&self.id);
        }
    }
}

/// The thread that writes what waits in one member's queue.
struct MemberWriter {
    hub: Weak<Inner>,
    id: u64,
    woken: Receiver<()>,
    sender: Sender,
    evicted: Arc<AtomicBool>,
}

impl MemberWriter {
    fn run(self) {
        // Ends when the member leaves (the waker is dropped, and a pending
        // wake-up is still taken first), is evicted (`evict` closes it), or
        // its connection fails.
        while self.woken.recv().is_ok() {
            if self.evicted.load(Ordering::Acquire) || self.sender.flush_queued().is_err() {
                break;
            }
        }
        if let Some(hub) = self.hub.upgrade() {
            lock(&hub.members).remove(&self.id);
        }
    }
}

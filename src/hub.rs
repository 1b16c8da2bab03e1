//! Broadcast to a group of connections, without one slow or dead member
//! delaying the others.
//!
//! Each member has a bounded queue of outgoing messages and a thread of its
//! own that writes them, so `broadcast` only queues and never waits for the
//! network. A server's frames are not masked, so a broadcast is encoded
//! once and the same bytes go to every member; a member's thread writes
//! everything queued for it with one system call. When a member's queue is
//! full (it reads slower than the group talks), it is dropped from the hub
//! and closed with 1008 (policy violation).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, TrySendError};

use crate::message::{CloseCode, Message, MessageRef};
use crate::protocol::Role;
use crate::protocol::frame::{OpCode, write_frame};
use crate::websocket::Sender;

/// Default length of each member's queue, in messages.
pub const DEFAULT_MEMBER_QUEUE: usize = 1024;
/// Most messages a member's thread writes with one system call.
const MAX_BATCH: usize = 64;
/// Time an evicted member's close frame gets to go out.
const EVICT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Stack of a member's writing thread: it only moves bytes.
const MEMBER_STACK: usize = 64 << 10;

/// A message encoded once for every member.
struct Broadcast {
    message: Message,
    /// The unmasked frame, as a server sends it.
    frame: Vec<u8>,
}

struct Member {
    queue: crossbeam_channel::Sender<Arc<Broadcast>>,
    sender: Sender,
    evicted: Arc<AtomicBool>,
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
        self.inner.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a connection; it receives every broadcast until the returned
    /// [`Membership`] is dropped, its connection ends, or it is evicted for
    /// being too slow.
    pub fn join(&self, sender: Sender) -> Membership {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, inbox) = crossbeam_channel::bounded(self.inner.queue_len);
        let evicted = Arc::new(AtomicBool::new(false));
        let writer = MemberWriter {
            hub: Arc::downgrade(&self.inner),
            id,
            inbox,
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
                    queue,
                    sender,
                    evicted,
                },
            );
        }
        Membership {
            hub: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Queue `message` for every member, and return how many it was queued
    /// for. Never waits for the network. Members whose queue is full are
    /// evicted and closed with 1008.
    pub fn broadcast<'a>(&self, message: impl Into<MessageRef<'a>>) -> usize {
        let broadcast = Arc::new(encode(message.into()));
        let mut members = self.members();
        let mut queued = 0;
        members.retain(
            |_, member| match member.queue.try_send(Arc::clone(&broadcast)) {
                Ok(()) => {
                    queued += 1;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    member.evicted.store(true, Ordering::Release);
                    evict(member.sender.clone());
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        );
        queued
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
/// wait. The close frame gets a second to go out, then the connection is
/// dropped, which also frees the member's writer.
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

fn encode(message: MessageRef<'_>) -> Broadcast {
    let opcode = match message {
        MessageRef::Text(_) => OpCode::Text,
        MessageRef::Binary(_) => OpCode::Binary,
    };
    let mut frame = Vec::new();
    write_frame(&mut frame, true, opcode, message.as_bytes(), None);
    Broadcast {
        message: message.to_message(),
        frame,
    }
}

/// Membership of a connection in a [`Hub`]; dropping it leaves the hub.
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
            hub.members
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.id);
        }
    }
}

/// The thread that writes one member's queue to its connection.
struct MemberWriter {
    hub: Weak<Inner>,
    id: u64,
    inbox: Receiver<Arc<Broadcast>>,
    sender: Sender,
    evicted: Arc<AtomicBool>,
}

impl MemberWriter {
    fn run(self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // Ends when the member leaves (the queue's sending side is dropped
        // and the queue drained), is evicted (`evict` closes it), or its
        // connection ends.
        while let Ok(first) = self.inbox.recv() {
            if self.evicted.load(Ordering::Acquire) {
                break;
            }
            batch.push(first);
            batch.extend(self.inbox.try_iter().take(MAX_BATCH - 1));
            if self.write(&batch).is_err() {
                break;
            }
            batch.clear();
        }
        if let Some(hub) = self.hub.upgrade() {
            hub.members
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.id);
        }
    }

    fn write(&self, batch: &[Arc<Broadcast>]) -> crate::Result<()> {
        match self.sender.role() {
            Role::Server => {
                let frames: Vec<&[u8]> = batch.iter().map(|b| b.frame.as_slice()).collect();
                self.sender.send_encoded(&frames)
            }
            // A client masks every frame with a key of its own.
            Role::Client => batch
                .iter()
                .try_for_each(|b| self.sender.send_message(&b.message)),
        }
    }
}

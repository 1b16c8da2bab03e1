//! Broadcast to a group of connections, without one slow or dead member
//! delaying the others.
//!
//! A server's frames are not masked, so a broadcast is encoded once and the
//! same bytes go to every member. Where a member's socket takes them at
//! once and nothing else is being written to it, `broadcast` writes them
//! itself, with a send that never waits (as Node's `ws` loops over its
//! clients): no thread is woken. Otherwise they join the member's bounded
//! queue, which a thread of the member's own writes, all that is queued in
//! one system call, so `broadcast` never waits for the network. When a
//! member's queue is full (it reads slower than the group talks), it is
//! dropped from the hub and closed with 1008 (policy violation).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, TrySendError};

use crate::protocol::Role;
use crate::protocol::frame::{OpCode, write_frame};
use crate::protocol::message::{CloseCode, Message, MessageRef};
use crate::websocket::{Immediate, Sender};

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

/// What a member's thread is given to do.
enum Job {
    Write(Arc<Broadcast>),
    /// Finish writing a frame that `broadcast` wrote in part.
    Flush,
}

struct Member {
    queue: crossbeam_channel::Sender<Job>,
    /// Jobs queued and not yet done: while there are any, `broadcast` must
    /// queue too, or its frame could overtake theirs.
    unfinished: Arc<AtomicUsize>,
    sender: Sender,
    evicted: Arc<AtomicBool>,
}

impl Member {
    fn queue(&self, job: Job) -> Result<(), TrySendError<Job>> {
        // Counted before the job can be taken, so that the count never
        // goes below zero.
        self.unfinished.fetch_add(1, Ordering::AcqRel);
        let sent = self.queue.try_send(job);
        if sent.is_err() {
            self.unfinished.fetch_sub(1, Ordering::AcqRel);
        }
        sent
    }

    /// Write `broadcast` to the member now if that needs no wait.
    fn write_now(&self, broadcast: &Broadcast) -> Direct {
        if self.unfinished.load(Ordering::Acquire) != 0 || self.sender.role() != Role::Server {
            return Direct::Queue;
        }
        match self.sender.try_send_encoded_now(&broadcast.frame) {
            Ok(Immediate::Written) => Direct::Written,
            Ok(Immediate::Busy) => Direct::Queue,
            // The rest waits in the connection's writer, and the member's
            // thread writes it (so does any later send on the connection).
            // Its queue is empty, so the job fits; if the thread has ended,
            // so has the member, which the next broadcast finds.
            Ok(Immediate::Partly) => {
                let _ = self.queue(Job::Flush);
                Direct::Written
            }
            Err(_) => Direct::Gone,
        }
    }
}

/// What became of a direct write to a member.
enum Direct {
    /// Written, or its end is on the way.
    Written,
    /// Not written: queue it.
    Queue,
    /// The member's connection is over.
    Gone,
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
        let unfinished = Arc::new(AtomicUsize::new(0));
        let writer = MemberWriter {
            hub: Arc::downgrade(&self.inner),
            id,
            inbox,
            unfinished: Arc::clone(&unfinished),
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
                    unfinished,
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

    /// Send `message` to every member, and return how many it was written
    /// or queued for. Never waits for the network: the members whose socket
    /// takes it at once get it from this thread, the others from their
    /// queue. Members whose queue is full are evicted and closed with 1008.
    pub fn broadcast<'a>(&self, message: impl Into<MessageRef<'a>>) -> usize {
        let broadcast = Arc::new(encode(message.into()));
        let mut members = self.members();
        let mut queued = 0;
        members.retain(|_, member| {
            match member.write_now(&broadcast) {
                Direct::Written => {
                    queued += 1;
                    return true;
                }
                Direct::Gone => return false,
                Direct::Queue => {}
            }
            match member.queue(Job::Write(Arc::clone(&broadcast))) {
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
            }
        });
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
    inbox: Receiver<Job>,
    unfinished: Arc<AtomicUsize>,
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
            let mut jobs = 0;
            let mut flush = false;
            for job in std::iter::once(first).chain(self.inbox.try_iter().take(MAX_BATCH - 1)) {
                match job {
                    Job::Write(broadcast) => batch.push(broadcast),
                    Job::Flush => flush = true,
                }
                jobs += 1;
            }
            // A partly written frame is ahead of every queued one: the
            // writer's queue goes out first, then the batch.
            let written = if flush {
                self.sender.flush_queued()
            } else {
                Ok(())
            }
            .and_then(|()| self.write(&batch));
            // Done (or failed, which ends the member): `broadcast` may write
            // directly again.
            self.unfinished.fetch_sub(jobs, Ordering::AcqRel);
            if written.is_err() {
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
        if batch.is_empty() {
            return Ok(());
        }
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

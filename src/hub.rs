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
//! slower than the group talks: more broadcast messages wait than the
//! message limit, or more bytes than the byte limit), it is dropped from
//! the hub and closed with 1008 (policy violation). A member holds no copy
//! of a broadcast: its queue shares the one frame, so what a member that
//! never reads costs is bounded by the byte limit.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::protocol::frame::OpCode;
use crate::protocol::message::{CloseCode, MessageRef};
mod frames;

use crate::sync::lock;
use crate::throttle::Throttled;
use crate::websocket::{QueueLimit, Queued, Sender};
use frames::Frames;

/// Default length of each member's queue, in broadcast messages.
pub const DEFAULT_MEMBER_QUEUE: usize = 1024;
/// Default limit on the bytes waiting to be written to one member: 16 MiB.
pub const DEFAULT_MEMBER_QUEUE_BYTES: usize = 16 << 20;
/// Time an evicted member's close frame gets to go out and be answered.
const EVICT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Stack of a member's writing thread: it only moves bytes.
const MEMBER_STACK: usize = 64 << 10;

/// Evictions and threads that cannot start are logged once a second at most.
static EVICTED: Throttled = Throttled::new();
static NO_THREAD: Throttled = Throttled::new();

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
    fn offer(&self, frames: &mut Frames<'_>, limit: QueueLimit) -> bool {
        let (frame, compressed_from) = frames.for_member(self.sender.broadcast_deflate());
        match self
            .sender
            .send_broadcast_now(frame, compressed_from, limit)
        {
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
    limit: QueueLimit,
}

/// A group of connections to broadcast to: a chatroom, a live feed.
/// Cheap to clone; clones are the same hub.
///
/// ```no_run
/// use syncws::{Hub, Server};
///
/// let room = Hub::new();
/// let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
///     // A member until dropped; a connection that cannot be one is closed.
///     let Ok(_membership) = room.join(ws.sender()) else { return };
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
    /// An empty hub whose members each queue up to 1024 messages and
    /// 16 MiB.
    pub fn new() -> Hub {
        Hub::with_member_limits(DEFAULT_MEMBER_QUEUE, DEFAULT_MEMBER_QUEUE_BYTES)
    }

    /// An empty hub whose members each queue up to `messages` messages (and
    /// 16 MiB).
    pub fn with_member_queue(messages: usize) -> Hub {
        Hub::with_member_limits(messages, DEFAULT_MEMBER_QUEUE_BYTES)
    }

    /// An empty hub whose members each queue up to `messages` broadcast
    /// messages and `bytes` bytes not yet written (everything sent on the
    /// member's connection counts, not only broadcasts). A broadcast that
    /// would pass either limit evicts the member instead; a message larger
    /// than `bytes` is still written to a member that has nothing waiting.
    ///
    /// ```
    /// use syncws::Hub;
    ///
    /// // A live feed of small updates: a member may lag 64 of them, 1 MiB.
    /// let feed = Hub::with_member_limits(64, 1 << 20);
    /// assert!(feed.is_empty());
    /// ```
    pub fn with_member_limits(messages: usize, bytes: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                members: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                limit: QueueLimit {
                    messages: messages.max(1),
                    bytes,
                },
            }),
        }
    }

    fn members(&self) -> MutexGuard<'_, HashMap<u64, Member>> {
        lock(&self.inner.members)
    }

    /// Add a connection; it receives every broadcast until the returned
    /// [`Membership`] is dropped, its connection ends, or it is evicted for
    /// being too slow.
    ///
    /// # Errors
    /// [`Error::Io`] when the member's writer thread cannot be started (the
    /// process is out of threads or memory): the connection is not added,
    /// rather than left a member that never receives anything, and it is
    /// closed with 1013 (try again later).
    pub fn join(&self, sender: Sender) -> Result<Membership> {
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
        if let Err(e) = spawn_writer(writer) {
            NO_THREAD.note(|left_out| {
                log::warn!(
                    "hub: cannot start a writer for a member: {e}; closing it with 1013 \
                     ({left_out} more in the last second)"
                );
            });
            sender.close_without_waiting(CloseCode::TryAgainLater, "server busy: try again later");
            return Err(Error::Io(e));
        }
        self.members().insert(
            id,
            Member {
                sender,
                wake,
                evicted,
            },
        );
        Ok(Membership {
            hub: Arc::downgrade(&self.inner),
            id,
        })
    }

    /// Send `message` to every member, and return how many members took
    /// it: for each of them it is written, or queued on its connection
    /// ahead of anything sent on it later (a close frame included), so it
    /// goes out unless that connection fails. Never waits for the network.
    /// Members whose queue is full are evicted and closed with 1008.
    ///
    /// The message is encoded once for all members: as it is for those
    /// without permessage-deflate (or when it is under their threshold),
    /// and compressed once per window size for those with it (standing
    /// alone, so one frame is valid for every member with that window,
    /// and each member's own compressor takes it into its window).
    pub fn broadcast<'a>(&self, message: impl Into<MessageRef<'a>>) -> usize {
        let message = message.into();
        let opcode = match message {
            MessageRef::Text(_) => OpCode::Text,
            MessageRef::Binary(_) => OpCode::Binary,
        };
        let mut frames = Frames::new(opcode, message.as_bytes());
        let limit = self.inner.limit;
        let mut members = self.members();
        members.retain(|_, member| member.offer(&mut frames, limit));
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

/// Start a member's writer thread.
fn spawn_writer(writer: MemberWriter) -> std::io::Result<()> {
    #[cfg(test)]
    if tests::FAIL_SPAWN.with(|fail| fail.replace(false)) {
        return Err(std::io::Error::other("no thread (injected by a test)"));
    }
    thread::Builder::new()
        .name(format!("syncws-hub-{}", writer.id))
        .stack_size(MEMBER_STACK)
        .spawn(move || writer.run())
        .map(drop)
}

/// Close a member that reads too slowly, on a thread of its own: its
/// writer may be blocked on the full socket, and the broadcaster must not
/// wait. What was queued goes first; the close frame gets a second to go
/// out and be answered, then the connection is dropped, which also frees
/// the member's writer (and its reader, which may be blocked in a read
/// with no deadline: it cannot see a close frame this thread sent).
fn evict(sender: Sender) {
    EVICTED.note(|left_out| {
        log::info!(
            "hub: a member reads too slowly; closing it with 1008 ({left_out} more in the last second)"
        );
    });
    let spawned = thread::Builder::new()
        .name("syncws-hub-evict".into())
        .stack_size(MEMBER_STACK)
        .spawn(move || {
            sender.close_within(
                CloseCode::Policy,
                "too slow: outgoing queue full",
                EVICT_CLOSE_TIMEOUT,
            )
        });
    if let Err(e) = spawned {
        NO_THREAD.note(|left_out| {
            log::warn!(
                "hub: cannot start a thread to close a slow member: {e} ({left_out} more in the last second)"
            );
        });
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::protocol::Role;
    use crate::protocol::config::Config;
    use crate::transport::Transport;
    use crate::websocket::{Opened, WebSocket};

    thread_local! {
        /// Makes the next writer thread of this thread's `join` fail to start.
        pub(super) static FAIL_SPAWN: Cell<bool> = const { Cell::new(false) };
    }

    /// A member whose writer cannot be started is refused, never left deaf:
    /// `join` fails, the hub stays without it, and its peer is told 1013.
    #[test]
    fn a_member_without_a_writer_is_refused_and_closed_with_1013() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let opened = Opened {
            transport: Transport::Plain(Arc::new(server.into())),
            peer: None,
            leftover: Vec::new(),
            socket_timeout: None,
            write_timeout_set: false,
            protocol: None,
            request: None,
            budget: None,
            deflate: None,
        };
        // The peer never answers the close: dropping the connection waits
        // for it no longer than this.
        let config = Config::default().close_timeout(Duration::from_millis(100));
        let ws = WebSocket::open(opened, Role::Server, &config, None).unwrap();
        let hub = Hub::new();
        FAIL_SPAWN.with(|fail| fail.set(true));
        assert!(matches!(hub.join(ws.sender()), Err(Error::Io(_))));
        assert!(hub.is_empty());
        assert_eq!(hub.broadcast(MessageRef::Text("to nobody")), 0);
        let mut close = [0u8; 4];
        peer.read_exact(&mut close).unwrap();
        assert_eq!(close[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1013);
    }
}

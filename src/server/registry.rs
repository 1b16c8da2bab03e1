//! The server's book of connections: ids, what each serves, a sending
//! handle for each, the inboxes of detached connections, and a count of
//! live connection threads so that `stop` can wait for them.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::protocol::message::{CloseCode, Message};
use crate::server::admission::{Admission, Limits, Refusal};
use crate::sync::{Signal, lock};
use crate::websocket::{ConnectionId, Sender};

/// What the server can tell about an open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// The request path it was opened on.
    pub path: String,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
    /// When it was opened.
    pub since: SystemTime,
    /// The subprotocol agreed, if any.
    pub protocol: Option<String>,
    /// Its handler has detached it (see [`WebSocket::detach`](crate::WebSocket::detach)).
    pub detached: bool,
}

impl ConnectionInfo {
    /// A connection opened now, not detached.
    pub(crate) fn new(
        id: ConnectionId,
        path: String,
        peer: Option<SocketAddr>,
        protocol: Option<String>,
    ) -> ConnectionInfo {
        ConnectionInfo {
            id,
            path,
            peer,
            since: SystemTime::now(),
            protocol,
            detached: false,
        }
    }
}

struct Entry {
    info: ConnectionInfo,
    sender: Sender,
    inbox: Option<Receiver<Result<Message>>>,
}

#[derive(Default)]
struct Book {
    open: HashMap<ConnectionId, Entry>,
    /// Sockets still in their opening handshake, so `stop` can drop them.
    handshaking: HashMap<u64, Arc<TcpStream>>,
    /// Sockets admitted and not yet ended, whatever they are doing.
    admitted: usize,
    /// Of those, from each IP address (kept only while a limit is set).
    per_peer: HashMap<IpAddr, usize>,
    /// Connection threads still running.
    threads: usize,
}

/// The book, shared by the accepting thread, every connection thread and
/// every `ServerHandle`. Its lock is held only to read or change the book,
/// never across I/O that may block (closes are queued without waiting).
#[derive(Default)]
pub(crate) struct Registry {
    book: Mutex<Book>,
    /// Signalled when a connection thread ends (connections end often, and
    /// someone waits only during `stop`).
    changed: Signal,
    next_id: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A connection thread is about to start; it counts as live until the
    /// guard (moved into the thread) is dropped, even by a panic.
    pub fn thread_started(self: &Arc<Self>) -> ThreadGuard {
        self.lock().threads += 1;
        ThreadGuard {
            registry: Arc::clone(self),
        }
    }

    fn thread_ended(&self) {
        let mut book = self.lock();
        book.threads -= 1;
        self.changed.notify_all();
    }

    /// Wait until no connection thread runs, or `deadline`. True if none does.
    pub fn wait_threads(&self, deadline: Instant) -> bool {
        let mut book = self.lock();
        while book.threads > 0 {
            let (next, in_time) = self.changed.wait_until(book, deadline);
            if !in_time {
                return false;
            }
            book = next;
        }
        true
    }

    /// Admit a connection just accepted, or say why not: it counts against
    /// `limits` from now until its [`Admission`] is dropped, and its socket
    /// is kept where `stop` can drop it while it is in its handshake.
    pub fn admit(
        self: &Arc<Self>,
        n: u64,
        peer: IpAddr,
        stream: &Arc<TcpStream>,
        limits: &Limits,
    ) -> std::result::Result<Admission, Refusal> {
        let mut book = self.lock();
        if limits.connections.is_some_and(|max| book.admitted >= max) {
            return Err(Refusal::Full);
        }
        if book.handshaking.len() >= limits.handshakes {
            return Err(Refusal::Handshakes);
        }
        if let Some(max) = limits.per_peer {
            let from_peer = book.per_peer.entry(peer).or_default();
            if *from_peer >= max {
                return Err(Refusal::Peer);
            }
            *from_peer += 1;
        }
        book.admitted += 1;
        book.handshaking.insert(n, Arc::clone(stream));
        Ok(Admission::new(Arc::clone(self), n, peer))
    }

    /// Connection `n` is through its handshake.
    ///
    /// (Out of line, as `left`: inlined, their map operations widen the
    /// frame of `connection::serve`, which stays on the stack under the
    /// handshake and the handler, and an idle connection would touch a
    /// third page of stack.)
    #[inline(never)]
    pub(crate) fn handshake_over(&self, n: u64) {
        self.lock().handshaking.remove(&n);
    }

    /// An admitted connection ended.
    #[inline(never)]
    pub(crate) fn left(&self, n: u64, peer: IpAddr, handshaking: bool) {
        let mut book = self.lock();
        book.admitted -= 1;
        if handshaking {
            book.handshaking.remove(&n);
        }
        if let Some(from_peer) = book.per_peer.get_mut(&peer) {
            *from_peer -= 1;
            if *from_peer == 0 {
                book.per_peer.remove(&peer);
            }
        }
    }

    /// Drop every connection still in its opening handshake.
    pub fn abort_handshakes(&self) {
        let streams: Vec<Arc<TcpStream>> =
            self.lock().handshaking.values().map(Arc::clone).collect();
        for stream in streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// List an open connection.
    pub fn open(&self, info: ConnectionInfo, sender: Sender) {
        let mut book = self.lock();
        book.open.insert(
            info.id,
            Entry {
                info,
                sender,
                inbox: None,
            },
        );
    }

    pub fn close(&self, id: ConnectionId) {
        self.lock().open.remove(&id);
    }

    pub fn set_inbox(&self, id: ConnectionId, inbox: Receiver<Result<Message>>) {
        if let Some(entry) = self.lock().open.get_mut(&id) {
            entry.info.detached = true;
            entry.inbox = Some(inbox);
        }
    }

    pub fn list(&self) -> Vec<ConnectionInfo> {
        let mut list: Vec<_> = self.lock().open.values().map(|e| e.info.clone()).collect();
        list.sort_by_key(|info| info.id);
        list
    }

    pub fn sender(&self, id: ConnectionId) -> Option<Sender> {
        self.lock().open.get(&id).map(|e| e.sender.clone())
    }

    pub fn attach(&self, id: ConnectionId) -> Option<Attached> {
        let book = self.lock();
        let entry = book.open.get(&id)?;
        Some(Attached {
            id,
            inbox: entry.inbox.clone()?,
            sender: entry.sender.clone(),
        })
    }

    /// Start the close handshake on every open connection, without waiting.
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        let senders: Vec<Sender> = self
            .lock()
            .open
            .values()
            .map(|e| e.sender.clone())
            .collect();
        for sender in senders {
            sender.close_without_waiting(code, reason);
        }
    }

    /// Drop every connection at once, open or still in its handshake.
    pub fn abort_all(&self) {
        let (senders, streams): (Vec<Sender>, Vec<Arc<TcpStream>>) = {
            let book = self.lock();
            let senders = book.open.values().map(|e| e.sender.clone()).collect();
            let streams = book.handshaking.values().map(Arc::clone).collect();
            (senders, streams)
        };
        for sender in senders {
            sender.abort();
        }
        for stream in streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Counts a connection thread as live while it exists.
pub(crate) struct ThreadGuard {
    registry: Arc<Registry>,
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        self.registry.thread_ended();
    }
}

/// A detached connection taken up by another thread: read its queued
/// messages, and send on it.
///
/// ```no_run
/// # fn demo(server: &syncws::ServerHandle, id: syncws::server::ConnectionId) -> syncws::Result<()> {
/// if let Some(connection) = server.attach(id) {
///     let message = connection.read_message()?;
///     connection.sender().send_message(&message)?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Attached {
    id: ConnectionId,
    inbox: Receiver<Result<Message>>,
    sender: Sender,
}

impl Attached {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The next message, waiting for it as long as it takes.
    ///
    /// # Errors
    /// What the connection's reading ended with ([`Error::Closed`] after a
    /// clean close), then [`Error::AlreadyClosed`].
    pub fn read_message(&self) -> Result<Message> {
        self.inbox.recv().unwrap_or(Err(Error::AlreadyClosed))
    }

    /// The next message, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] ([`Timeout::Read`](crate::Timeout::Read)) if
    /// none came in time; otherwise as for
    /// [`read_message`](Self::read_message).
    pub fn read_message_timeout(&self, timeout: Duration) -> Result<Message> {
        match self.inbox.recv_timeout(timeout) {
            Ok(result) => result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                Err(Error::Timeout(crate::Timeout::Read))
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::AlreadyClosed),
        }
    }

    /// A handle to send on the connection.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }
}

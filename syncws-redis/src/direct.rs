//! Sends to one connection by its [`GlobalId`], from any node: posted to
//! the inbox of the connection's node, whose inbox thread queues it on the
//! connection; and the answers a node waits for.

use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use syncws::server::ConnectionId;
use syncws::{Hub, Membership, MessageRef, Sender};

use crate::cluster::{Cluster, Inner, lock};
use crate::error::{Error, Result};
use crate::id::GlobalId;
use crate::inbox::{self, Letter, Posted};

/// An answer's status: queued on the connection.
const DELIVERED: &str = "ok";
/// An answer's status: no open connection by that id.
const NO_SUCH_CONNECTION: &str = "none";

/// An answer to one of this node's requests, from the node `node`.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) node: String,
    pub(crate) status: String,
    pub(crate) data: Vec<u8>,
}

/// A connection of this node that direct sends reached: a member of a hub
/// of its own, so that queuing a send on it never waits for its socket
/// (the inbox thread serves every connection of the node), and one that
/// does not read is closed with 1008 like a slow room member.
pub(crate) struct Direct {
    hub: Hub,
    sender: Sender,
    _membership: Membership,
}

/// A request this node waits for answers to; forgotten when dropped, so
/// that a late answer finds nobody and is dropped.
pub(crate) struct Request<'a> {
    inner: &'a Inner,
    pub(crate) id: u64,
    pub(crate) answers: Receiver<Answer>,
}

impl<'a> Request<'a> {
    /// Wait for at most `expected` answers.
    pub(crate) fn new(inner: &'a Inner, expected: usize) -> Request<'a> {
        let id = inner.node.next_request.fetch_add(1, Ordering::Relaxed);
        let (answer, answers) = crossbeam_channel::bounded(expected.max(1));
        lock(&inner.node.pending).insert(id, answer);
        Request { inner, id, answers }
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        lock(&self.inner.node.pending).remove(&self.id);
    }
}

fn kind(message: &MessageRef<'_>) -> &'static [u8] {
    match message {
        MessageRef::Text(_) => b"t",
        MessageRef::Binary(_) => b"b",
    }
}

fn posted(id: &GlobalId, posted: Posted) -> Result<()> {
    match posted {
        Posted::Stored => Ok(()),
        Posted::Gone => Err(Error::Gone(id.clone())),
        Posted::Full => Err(Error::InboxFull {
            node: id.node().to_owned(),
        }),
    }
}

impl Cluster {
    /// Send `message` to the connection `id`, on whichever node it is:
    /// returns once Redis has it in that node's inbox. The node then queues
    /// it on the connection, in the order the inbox got it (a send to a
    /// connection of this node goes through Redis too, so that every send
    /// to a connection is in one order). If the connection has ended by
    /// then, the message is dropped (logged at debug level): use
    /// [`send_to_confirmed`](Self::send_to_confirmed) to know.
    ///
    /// ```no_run
    /// use syncws::MessageRef;
    /// use syncws_redis::{Cluster, Error, GlobalId};
    ///
    /// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
    /// let id: GlobalId = "9f86d081884c7d65-17".parse()?;
    /// match cluster.send_to(&id, MessageRef::Text("hello")) {
    ///     Ok(()) => {}
    ///     Err(Error::Gone(_)) => println!("{id} is on no live node"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Gone`] when no live node has the id (its node shut down,
    /// its heartbeat expired, or it never was): nothing was stored.
    /// [`Error::InboxFull`]; [`Error::Unavailable`] and [`Error::Redis`] as
    /// for a publish; [`Error::Stopped`].
    pub fn send_to<'a>(&self, id: &GlobalId, message: impl Into<MessageRef<'a>>) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        let message = message.into();
        let connection = u64::from(id.connection()).to_string();
        let fields: [(&str, &[u8]); 4] = [
            ("k", b"s"),
            ("c", connection.as_bytes()),
            ("t", kind(&message)),
            ("d", message.as_bytes()),
        ];
        posted(id, inbox::post(inner, id.node(), &fields)?)
    }

    /// Send `message` to the connection `id` and wait, at most `timeout`,
    /// for its node to answer: `Ok` once the message is queued on the
    /// connection (it goes out before anything sent on it later, unless the
    /// connection fails).
    ///
    /// # Errors
    /// [`Error::NoSuchConnection`] when the node answered that it has no
    /// open connection by that id; [`Error::NoAnswer`] when no answer came
    /// in time (the message is in the node's inbox, and may still be
    /// delivered); otherwise as [`send_to`](Self::send_to).
    pub fn send_to_confirmed<'a>(
        &self,
        id: &GlobalId,
        message: impl Into<MessageRef<'a>>,
        timeout: Duration,
    ) -> Result<()> {
        let inner = &self.inner;
        inner.check_running()?;
        let message = message.into();
        let request = Request::new(inner, 1);
        let connection = u64::from(id.connection()).to_string();
        let q = request.id.to_string();
        let fields: [(&str, &[u8]); 6] = [
            ("k", b"s"),
            ("c", connection.as_bytes()),
            ("t", kind(&message)),
            ("d", message.as_bytes()),
            ("f", inner.node_id.as_bytes()),
            ("q", q.as_bytes()),
        ];
        posted(id, inbox::post(inner, id.node(), &fields)?)?;
        match request.answers.recv_timeout(timeout) {
            Ok(answer) if answer.status == DELIVERED => Ok(()),
            Ok(_) => Err(Error::NoSuchConnection(id.clone())),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                Err(Error::NoAnswer(id.clone()))
            }
        }
    }
}

/// A send posted to this node: queue it on the connection, and answer if
/// asked to.
pub(crate) fn handle_send(inner: &Inner, letter: &Letter) {
    let data = letter.bytes("d");
    let message = match std::str::from_utf8(data) {
        Ok(text) if letter.text("t") == Some("t") => MessageRef::Text(text),
        _ => MessageRef::Binary(data),
    };
    let connection = letter.number("c").map(ConnectionId::from);
    let delivered = connection.is_some_and(|c| deliver(inner, c, message));
    match (letter.text("f"), letter.number("q")) {
        (Some(from), Some(q)) => {
            let status = if delivered {
                DELIVERED
            } else {
                NO_SUCH_CONNECTION
            };
            answer(inner, from, q, status, &[]);
        }
        _ if !delivered => {
            log::debug!(
                "syncws-redis: a send to connection {connection:?}, which is not open here, dropped"
            );
        }
        _ => {}
    }
}

/// Queue `message` on this node's connection `id`; false if it is not
/// open.
fn deliver(inner: &Inner, id: ConnectionId, message: MessageRef<'_>) -> bool {
    let mut direct = lock(&inner.node.direct);
    if let Entry::Vacant(vacant) = direct.entry(id) {
        let Some(sender) = inner.node.server().and_then(|server| server.sender(id)) else {
            return false;
        };
        let hub = inner.new_hub();
        // The hub closes the connection with 1013 if it cannot join.
        let Ok(membership) = hub.join(sender.clone()) else {
            return false;
        };
        vacant.insert(Direct {
            hub,
            sender,
            _membership: membership,
        });
    }
    let taken = direct.get(&id).map_or(0, |d| d.hub.broadcast(message));
    if taken == 0 {
        direct.remove(&id);
    }
    taken > 0
}

/// Forget the connections that have ended.
pub(crate) fn prune(inner: &Inner) {
    lock(&inner.node.direct).retain(|_, d| d.sender.is_open());
}

/// Post an answer to `to`'s request `q`. If it cannot be posted, the
/// requester's wait runs out: it is told [`Error::NoAnswer`], never
/// nothing.
pub(crate) fn answer(inner: &Inner, to: &str, q: u64, status: &str, data: &[u8]) {
    let q = q.to_string();
    let fields: [(&str, &[u8]); 5] = [
        ("k", b"a"),
        ("q", q.as_bytes()),
        ("n", inner.node_id.as_bytes()),
        ("s", status.as_bytes()),
        ("d", data),
    ];
    match inbox::post(inner, to, &fields) {
        Ok(Posted::Stored) => {}
        Ok(other) => log::info!("syncws-redis: an answer to node {to} not posted: {other:?}"),
        Err(e) => log::info!("syncws-redis: an answer to node {to} not posted: {e}"),
    }
}

/// An answer to one of this node's requests: to the caller waiting for it,
/// if it still waits.
pub(crate) fn handle_answer(inner: &Inner, letter: &Letter) {
    let Some(q) = letter.number("q") else { return };
    let waiting = lock(&inner.node.pending).get(&q).cloned();
    if let Some(waiting) = waiting {
        let _ = waiting.try_send(Answer {
            node: letter.text("n").unwrap_or_default().to_owned(),
            status: letter.text("s").unwrap_or_default().to_owned(),
            data: letter.bytes("d").to_vec(),
        });
    }
}

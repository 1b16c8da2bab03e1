//! Attaching, from any node, a connection detached on its own (IRIS's
//! `OpenServer(WebSocketID)` from another process): at most one attacher
//! at a time, by a lease in Redis that expires; the connection's incoming
//! messages forwarded in order through a stream of its own, within a
//! bounded backlog.
//!
//! On the connection's node, a forwarder thread takes the messages from
//! syncws's detached queue ([`syncws::ServerHandle::attach`]) and adds
//! them to the stream, only while a lease exists: with no attacher, they
//! wait in syncws's queue, which stops reading the network when full. When
//! the attacher does not keep up and the stream holds the backlog, the
//! connection is closed with 1013: never thinned.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::{Connection, Script, Value};
use syncws::server::{Attached, ConnectionId};
use syncws::{CloseCode, CloseFrame, Message, MessageRef};

use crate::cluster::{Cluster, ClusterBuilder, Inner, lock, random_bytes};
use crate::direct::{self, Request};
use crate::error::{Error, Result};
use crate::id::GlobalId;
use crate::inbox::{self, Letter, Posted, Seen};
use crate::node::NodeKeys;
use crate::types::hex;

/// Default time a lease lives unless its attacher renews it.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// Default number of forwarded messages an attacher may leave unread.
pub(crate) const DEFAULT_BACKLOG: usize = 256;
/// How often an idle forwarder looks up from syncws's queue.
const FORWARDER_POLL: Duration = Duration::from_millis(500);
/// Entries an attacher reads per XREAD.
const READ_BATCH: usize = 64;

const ATTACHED: &str = "ok";
const NO_SUCH_CONNECTION: &str = "none";
const NOT_DETACHED: &str = "open";

/// The keys of one connection's attachment, tagged by its node's id like
/// the node's own, so a script may touch them together.
struct AttachKeys {
    /// Who attaches: the attacher's random token, with an expiry.
    lease: String,
    /// The connection's messages, forwarded: `k` (`m` a message, `e` the
    /// end), `t`/`d` the kind and data, `c`/`r` the close code and reason.
    stream: String,
}

impl AttachKeys {
    fn new(namespace: &str, id: &GlobalId) -> AttachKeys {
        let (node, n) = (id.node(), u64::from(id.connection()));
        AttachKeys {
            lease: format!("{namespace}:lease:{{{node}}}:{n}"),
            stream: format!("{namespace}:fwd:{{{node}}}:{n}"),
        }
    }
}

/// Forward: KEYS lease, stream; ARGV backlog, 1 to ignore it (the end),
/// the stream's time to live in ms, then field, value, ... Returns 1
/// (stored), 0 (nobody attached), 2 (the backlog is full).
fn forward_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[2] ~= '1' and redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[1]) then
  return 2
end
local args = {'XADD', KEYS[2], '*'}
for i = 4, #ARGV do
  args[#args + 1] = ARGV[i]
end
redis.call(unpack(args))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
",
        )
    })
}

/// Check the lease and trim what the attacher has returned: KEYS lease,
/// stream; ARGV token, the id after the last entry returned to the
/// application. 0 when the lease is no longer the caller's: another
/// attacher holds it, and everything not returned stays for it. So the
/// stream's length is what the application has not read: the backlog.
fn take_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
return 1
",
        )
    })
}

/// Renew a lease: KEYS lease, stream; ARGV token, lease ttl, stream ttl
/// (ms). 0 when the lease is no longer the caller's.
fn renew_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
",
        )
    })
}

/// Give a lease up: KEYS lease, stream; ARGV token, the id after the last
/// entry returned. What was read from Redis but not returned stays in the
/// stream for the next attacher.
fn release_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
  redis.call('DEL', KEYS[1])
end
return 1
",
        )
    })
}

fn millis(d: Duration) -> u64 {
    d.as_millis().clamp(1, u128::from(u64::MAX)) as u64
}

/// How long a forwarded stream lives unless its forwarder or attacher
/// renews it: longer than both renew it by.
fn stream_ttl(inner: &Inner) -> u64 {
    millis(inner.settings.heartbeat.max(inner.settings.attach_lease) * 2)
}

impl ClusterBuilder {
    /// How long an attacher's lease lives in Redis unless renewed (default
    /// 10 s, renewed every third by a thread of the
    /// [`Attachment`]'s): an attacher that dies lets the connection be
    /// attached again once it has expired.
    pub fn attach_lease(mut self, ttl: Duration) -> Self {
        self.settings.attach_lease = ttl.max(Duration::from_millis(30));
        self
    }

    /// How many forwarded messages of a connection of this node an
    /// attacher may leave unread (default 256). One more, and the
    /// connection is closed with 1013 (try again later): the attacher
    /// reads what was forwarded, then the end.
    pub fn attach_backlog(mut self, messages: usize) -> Self {
        self.settings.attach_backlog = messages.max(1);
        self
    }
}

/// A detached connection of some node, attached here: read its incoming
/// messages, in order, and send to it. Holds the connection's lease while
/// it lives (renewed by a thread of its own); dropping it gives the lease
/// up, and the connection can be attached again.
///
/// ```no_run
/// use std::time::Duration;
/// use syncws::MessageRef;
/// use syncws_redis::{Cluster, GlobalId};
///
/// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
/// let id: GlobalId = "9f86d081884c7d65-17".parse()?;
/// let mut attached = cluster.attach(&id, Duration::from_secs(1))?;
/// while let Some(message) = attached.read_message(Duration::from_secs(30))? {
///     attached.send(message.borrowed())?;
/// }
/// # Ok::<(), syncws_redis::Error>(())
/// ```
pub struct Attachment {
    id: GlobalId,
    cluster: Cluster,
    keys: AttachKeys,
    alive_key: String,
    token: String,
    /// A connection of its own, for the blocking reads.
    connection: Option<Connection>,
    /// The stream id of the last entry read from Redis.
    fetched: String,
    /// The stream id of the last entry returned to the application.
    returned: String,
    ready: VecDeque<Letter>,
    seen: Seen,
    ended: bool,
    /// Set by the renewing thread when the lease is no longer ours.
    lost: Arc<AtomicBool>,
    /// Dropped with the attachment: the renewing thread ends.
    _renewing: crossbeam_channel::Sender<()>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Attach the connection `id`, detached on its node (see
    /// [`syncws::WebSocket::detach`]), from this node: take its lease,
    /// then ask its node, waiting at most `timeout`, to forward its
    /// messages here.
    ///
    /// # Errors
    /// [`Error::AttachedElsewhere`] while another attacher holds the
    /// lease; [`Error::NotDetached`] when the connection is open but not
    /// detached; [`Error::NoSuchConnection`], [`Error::Gone`],
    /// [`Error::NoAnswer`], [`Error::InboxFull`] as for
    /// [`send_to_confirmed`](Self::send_to_confirmed); [`Error::Unavailable`],
    /// [`Error::Redis`], [`Error::Stopped`]. On every error the lease is
    /// given up.
    pub fn attach(&self, id: &GlobalId, timeout: Duration) -> Result<Attachment> {
        let inner = &self.inner;
        inner.check_running()?;
        let keys = AttachKeys::new(&inner.settings.namespace, id);
        let token = hex(&random_bytes());
        let lease = millis(inner.settings.attach_lease);
        let taken: Option<String> = inner.with_connection(|c| {
            redis::cmd("SET")
                .arg(&keys.lease)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(lease)
                .query(c)
        })?;
        if taken.is_none() {
            return Err(Error::AttachedElsewhere(id.clone()));
        }
        let (renewing, stop) = crossbeam_channel::bounded(0);
        let lost = Arc::new(AtomicBool::new(false));
        // From here, dropping it gives the lease up.
        let mut attachment = Attachment {
            id: id.clone(),
            cluster: self.clone(),
            alive_key: NodeKeys::new(&inner.settings.namespace, id.node()).alive,
            keys,
            token,
            connection: None,
            fetched: "0-0".into(),
            returned: "0-0".into(),
            ready: VecDeque::new(),
            seen: Seen::default(),
            ended: false,
            lost: Arc::clone(&lost),
            _renewing: renewing,
        };
        let request = Request::new(inner, 1);
        let connection = u64::from(id.connection()).to_string();
        let q = request.id.to_string();
        let fields: [(&str, &[u8]); 4] = [
            ("k", b"t"),
            ("c", connection.as_bytes()),
            ("f", inner.node_id.as_bytes()),
            ("q", q.as_bytes()),
        ];
        match inbox::post(inner, id.node(), &fields)? {
            Posted::Stored => {}
            Posted::Gone => return Err(Error::Gone(id.clone())),
            Posted::Full => {
                return Err(Error::InboxFull {
                    node: id.node().to_owned(),
                });
            }
        }
        let answer = request
            .answers
            .recv_timeout(timeout)
            .map_err(|_| Error::NoAnswer(id.clone()))?;
        match answer.status.as_str() {
            ATTACHED => {}
            NOT_DETACHED => return Err(Error::NotDetached(id.clone())),
            _ => return Err(Error::NoSuchConnection(id.clone())),
        }
        attachment.connection = Some(inner.open(inner.settings.block + inner.settings.timeout)?);
        start_renewing(inner, &attachment, stop, lost)?;
        Ok(attachment)
    }
}

fn start_renewing(
    inner: &Arc<Inner>,
    attachment: &Attachment,
    stop: Receiver<()>,
    lost: Arc<AtomicBool>,
) -> Result<()> {
    let weak = Arc::downgrade(inner);
    let (lease, stream) = (
        attachment.keys.lease.clone(),
        attachment.keys.stream.clone(),
    );
    let token = attachment.token.clone();
    let ttl = inner.settings.attach_lease;
    thread::Builder::new()
        .name("syncws-redis-lease".into())
        .spawn(move || {
            loop {
                if stop.recv_timeout(ttl / 3) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let Some(inner) = weak.upgrade() else { return };
                let renewed: Result<u8> = inner.with_connection(|c| {
                    renew_script()
                        .key(&lease)
                        .key(&stream)
                        .arg(&token)
                        .arg(millis(ttl))
                        .arg(stream_ttl(&inner))
                        .invoke(c)
                });
                match renewed {
                    Ok(1) => {}
                    Ok(_) => {
                        lost.store(true, Ordering::Release);
                        return;
                    }
                    // It may expire meanwhile: the next renewal says so.
                    Err(e) => log::warn!("syncws-redis: a lease not renewed: {e}"),
                }
            }
        })
        .map(drop)
        .map_err(|e| Error::Unavailable(redis::RedisError::from(e)))
}

impl Attachment {
    /// The connection's id.
    pub fn id(&self) -> &GlobalId {
        &self.id
    }

    /// The connection's next message, in the order it sent them; `None`
    /// if none came within `timeout`.
    ///
    /// # Errors
    /// [`Error::Ended`] once the connection has ended (after every message
    /// it sent before), then again; [`Error::LeaseLost`] when this
    /// attacher's lease expired (it did not renew it in time) and another
    /// took it; [`Error::Gone`] when the connection's node is dead and
    /// nothing more was forwarded; [`Error::Unavailable`],
    /// [`Error::Redis`].
    pub fn read_message(&mut self, timeout: Duration) -> Result<Option<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(letter) = self.ready.pop_front() {
                self.returned.clone_from(&letter.id);
                return self.message(&letter).map(Some);
            }
            if self.ended {
                return Err(self.ended_error(None));
            }
            if self.lost.load(Ordering::Acquire) {
                return Err(Error::LeaseLost(self.id.clone()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.fill(left.min(self.cluster.inner.settings.block))?;
        }
    }

    /// Wait up to `block` for forwarded entries, and take them if the
    /// lease is still ours.
    fn fill(&mut self, block: Duration) -> Result<()> {
        let inner = &self.cluster.inner;
        let connection = match self.connection.as_mut() {
            Some(c) => c,
            None => self
                .connection
                .insert(inner.open(inner.settings.block + inner.settings.timeout)?),
        };
        let read: redis::RedisResult<Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(millis(block))
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(&self.fetched)
            .query(connection);
        let letters = match read {
            Ok(reply) => inbox::parse_xread(reply),
            Err(e) => {
                // A new connection next time.
                self.connection = None;
                return Err(Error::from_redis(e));
            }
        };
        let Some(last) = letters.last() else {
            let alive: bool = redis::cmd("EXISTS")
                .arg(&self.alive_key)
                .query(connection)
                .map_err(Error::from_redis)?;
            return if alive {
                Ok(())
            } else {
                Err(Error::Gone(self.id.clone()))
            };
        };
        let ours: u8 = take_script()
            .key(&self.keys.lease)
            .key(&self.keys.stream)
            .arg(&self.token)
            .arg(inbox::next_id(&self.returned))
            .invoke(connection)
            .map_err(Error::from_redis)?;
        if ours == 0 {
            self.lost.store(true, Ordering::Release);
            return Err(Error::LeaseLost(self.id.clone()));
        }
        self.fetched.clone_from(&last.id);
        let seen = &mut self.seen;
        self.ready
            .extend(letters.into_iter().filter(|l| seen.first(l.bytes("p"))));
        Ok(())
    }

    fn message(&mut self, letter: &Letter) -> Result<Message> {
        if letter.text("k") == Some("e") {
            self.ended = true;
            self.ready.clear();
            return Err(self.ended_error(Some(letter)));
        }
        let data = letter.bytes("d").to_vec();
        Ok(match letter.text("t") {
            Some("t") => match String::from_utf8(data) {
                Ok(text) => Message::Text(text),
                Err(e) => Message::Binary(e.into_bytes()),
            },
            _ => Message::Binary(data),
        })
    }

    fn ended_error(&self, letter: Option<&Letter>) -> Error {
        let close = letter.and_then(|l| {
            let code: u16 = l.text("c")?.parse().ok()?;
            Some(CloseFrame::new(
                CloseCode::from(code),
                l.text("r").unwrap_or_default(),
            ))
        });
        Error::Ended {
            id: self.id.clone(),
            close,
        }
    }

    /// Send `message` to the connection: [`Cluster::send_to`].
    ///
    /// # Errors
    /// As [`Cluster::send_to`].
    pub fn send<'a>(&self, message: impl Into<MessageRef<'a>>) -> Result<()> {
        self.cluster.send_to(&self.id, message)
    }

    /// Send `message` and wait for its node's answer:
    /// [`Cluster::send_to_confirmed`].
    ///
    /// # Errors
    /// As [`Cluster::send_to_confirmed`].
    pub fn send_confirmed<'a>(
        &self,
        message: impl Into<MessageRef<'a>>,
        timeout: Duration,
    ) -> Result<()> {
        self.cluster.send_to_confirmed(&self.id, message, timeout)
    }

    /// Give the lease up now (as dropping it does).
    pub fn release(self) {}
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let inner = &self.cluster.inner;
        let released = inner.with_connection(|c| {
            release_script()
                .key(&self.keys.lease)
                .key(&self.keys.stream)
                .arg(&self.token)
                .arg(inbox::next_id(&self.returned))
                .invoke::<()>(c)
        });
        if let Err(e) = released {
            log::info!("syncws-redis: a lease not given up (it expires): {e}");
        }
    }
}

/// An attach request from another node: start forwarding the connection's
/// messages (or wake the forwarder it has), and answer.
pub(crate) fn handle_request(inner: &Inner, letter: &Letter) {
    let (Some(from), Some(q), Some(n)) = (letter.text("f"), letter.number("q"), letter.number("c"))
    else {
        return;
    };
    let status = attach_here(inner, ConnectionId::from(n));
    direct::answer(inner, from, q, status, &[]);
}

fn attach_here(inner: &Inner, id: ConnectionId) -> &'static str {
    let Some(server) = inner.node.server() else {
        return NO_SUCH_CONNECTION;
    };
    let mut forwarders = lock(&inner.node.forwarders);
    if let Some(wake) = forwarders.get(&id) {
        if !matches!(
            wake.try_send(()),
            Err(crossbeam_channel::TrySendError::Disconnected(_))
        ) {
            return ATTACHED;
        }
    }
    let Some(attached) = server.attach(id) else {
        return if server.sender(id).is_some() {
            NOT_DETACHED
        } else {
            NO_SUCH_CONNECTION
        };
    };
    let Some(cluster) = inner.node.this() else {
        return NO_SUCH_CONNECTION;
    };
    let cluster = Weak::clone(cluster);
    let (wake, woken) = crossbeam_channel::bounded(1);
    let global = GlobalId::new(&inner.node_id, id);
    let spawned = thread::Builder::new()
        .name(format!("syncws-redis-forward-{}", u64::from(id)))
        .spawn(move || forward(&cluster, &global, &attached, &woken));
    match spawned {
        Ok(_) => {
            forwarders.insert(id, wake);
            ATTACHED
        }
        Err(e) => {
            log::warn!("syncws-redis: cannot start a forwarder: {e}");
            NO_SUCH_CONNECTION
        }
    }
}

/// What the forwarder holds until the stream takes it.
enum Item {
    Message(Message),
    End(Option<CloseFrame>),
}

/// What became of an item offered to the stream.
enum Forwarded {
    Added,
    NobodyAttached,
    Full,
}

fn store(inner: &Inner, keys: &AttachKeys, item: &Item) -> Result<Forwarded> {
    let mut invocation = forward_script().prepare_invoke();
    invocation
        .key(&keys.lease)
        .key(&keys.stream)
        .arg(inner.settings.attach_backlog)
        .arg(u8::from(matches!(item, Item::End(_))))
        .arg(stream_ttl(inner))
        // A store run again on a new connection is read once (see
        // `inbox::post`).
        .arg("p")
        .arg(hex(&random_bytes()));
    match item {
        Item::Message(message) => {
            let kind: &[u8] = match message {
                Message::Text(_) => b"t",
                Message::Binary(_) => b"b",
            };
            invocation
                .arg("k")
                .arg("m")
                .arg("t")
                .arg(kind)
                .arg("d")
                .arg(message.borrowed().as_bytes());
        }
        Item::End(close) => {
            invocation.arg("k").arg("e");
            if let Some(close) = close {
                invocation
                    .arg("c")
                    .arg(u16::from(close.code))
                    .arg("r")
                    .arg(&close.reason);
            }
        }
    }
    let stored: u8 = inner.with_connection(|c| invocation.invoke(c))?;
    Ok(match stored {
        1 => Forwarded::Added,
        2 => Forwarded::Full,
        _ => Forwarded::NobodyAttached,
    })
}

/// The forwarder of one connection: syncws's detached queue to the
/// stream, while someone holds the lease, until the connection's end is
/// forwarded (or nobody is attached at its end), the node stops, or the
/// cluster is dropped.
fn forward(cluster: &Weak<Inner>, id: &GlobalId, attached: &Attached, woken: &Receiver<()>) {
    let Some(keys) = cluster
        .upgrade()
        .map(|inner| AttachKeys::new(&inner.settings.namespace, id))
    else {
        return;
    };
    let mut held: Option<Item> = None;
    let mut renewed = Instant::now();
    // Set once the backlog was full and the connection is being closed:
    // nothing after that point is forwarded but the end, or an attacher
    // that caught up would read on past a hole.
    let mut closing = false;
    loop {
        if held.is_none() {
            held = match attached.read_message_timeout(FORWARDER_POLL) {
                Ok(_) if closing => None,
                Ok(message) => Some(Item::Message(message)),
                Err(syncws::Error::Timeout(_)) => None,
                Err(syncws::Error::Closed(frame)) => Some(Item::End(Some(frame))),
                Err(_) => Some(Item::End(None)),
            };
        }
        let Some(inner) = cluster.upgrade() else {
            return;
        };
        if inner.is_stopped() {
            return;
        }
        let Some(item) = held.as_ref() else {
            // Idle: keep the stream (and what an attacher has not read
            // yet) alive while the connection is.
            if renewed.elapsed() >= inner.settings.heartbeat / 3 {
                renewed = Instant::now();
                let ttl = stream_ttl(&inner);
                let _ = inner.with_connection(|c| {
                    redis::cmd("PEXPIRE")
                        .arg(&keys.stream)
                        .arg(ttl)
                        .query::<()>(c)
                });
            }
            continue;
        };
        let end = matches!(item, Item::End(_));
        match store(&inner, &keys, item) {
            Ok(Forwarded::Added) => {
                held = None;
                if end {
                    // A later attacher reads the end from the stream.
                    lock(&inner.node.forwarders).remove(&id.connection());
                    return;
                }
            }
            Ok(Forwarded::NobodyAttached) => {
                if end && leave(&inner, id, woken) {
                    return;
                }
                // The message waits here, the rest in syncws's queue,
                // until someone attaches (which wakes this thread).
                drop(inner);
                if woken.recv_timeout(Duration::from_secs(1)) == Err(RecvTimeoutError::Disconnected)
                {
                    return;
                }
            }
            Ok(Forwarded::Full) => {
                // Never thinned: the attacher reads what was forwarded,
                // then the end.
                held = None;
                closing = true;
                log::info!("syncws-redis: {id}: the attacher's backlog is full; closing with 1013");
                let _ = attached
                    .sender()
                    .send_close(CloseCode::TryAgainLater, "attacher's backlog full");
            }
            Err(e) => {
                log::info!("syncws-redis: {id}: not forwarded yet: {e}");
                drop(inner);
                let _ = woken.recv_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// Stop forwarding a connection that has ended with nobody attached,
/// unless an attach request came in meanwhile (it was answered that this
/// forwarder would forward; it tries again).
fn leave(inner: &Inner, id: &GlobalId, woken: &Receiver<()>) -> bool {
    let mut forwarders = lock(&inner.node.forwarders);
    if woken.try_recv().is_ok() {
        return false;
    }
    forwarders.remove(&id.connection());
    true
}

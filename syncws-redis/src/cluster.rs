//! The cluster handle of one server process, its rooms, and publishing.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::Duration;

use redis::{Connection, RedisResult, Script};
use syncws::{Backoff, Hub, Message, MessageRef, Sender};

use crate::attach;
use crate::envelope::{Delivery, Wrapping};
use crate::error::{Error, Result};
use crate::keys::{self, RoomKeys};
use crate::node::{self, NodeState};
use crate::reader;
use crate::resume::Waiting;
use crate::types::{Epoch, LossPolicy, Offset, PublishId, Published, Stats, hex};

/// Connections kept open for publishing, at most.
const POOL_IDLE: usize = 16;

/// How to build a [`Cluster`]; from [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    url: String,
    pub(crate) settings: Settings,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) namespace: String,
    pub(crate) max_len: usize,
    pub(crate) max_age: Option<Duration>,
    pub(crate) publish_id_ttl: Duration,
    pub(crate) timeout: Duration,
    pub(crate) block: Duration,
    pub(crate) batch: usize,
    pub(crate) member_messages: usize,
    pub(crate) member_bytes: usize,
    pub(crate) loss_policy: LossPolicy,
    pub(crate) backoff: Backoff,
    /// How long a node's heartbeat key lives; renewed every third of it.
    pub(crate) heartbeat: Duration,
    /// Unread entries a node's inbox may hold before posts are refused.
    pub(crate) inbox_limit: usize,
    /// How long an attacher's lease lives unless renewed.
    pub(crate) attach_lease: Duration,
    /// Forwarded messages an attacher may leave unread.
    pub(crate) attach_backlog: usize,
    pub(crate) envelope: Wrapping,
}

impl ClusterBuilder {
    /// The prefix of every key (default `syncws`): clusters with different
    /// namespaces on one Redis do not see each other.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.settings.namespace = namespace.to_owned();
        self
    }

    /// The length cap of each room's history (default 10,000 messages;
    /// Redis trims approximately, so a little more may stay).
    pub fn max_len(mut self, messages: usize) -> Self {
        self.settings.max_len = messages.max(1);
        self
    }

    /// The age cap of each room's history (default none): entries older
    /// than this are trimmed when the next message is published.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.settings.max_age = Some(age);
        self
    }

    /// How long Redis remembers a publish id (default 10 minutes): a retry
    /// later than this is stored again.
    pub fn publish_id_ttl(mut self, ttl: Duration) -> Self {
        self.settings.publish_id_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The longest a connection to Redis, and each command, may take
    /// (default 5 s). A publish that runs out of it fails with
    /// [`Error::Unavailable`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Each local member's queue: as [`Hub::with_member_limits`] (default
    /// 1024 messages, 16 MiB); a member past it is closed with 1008.
    pub fn member_limits(mut self, messages: usize, bytes: usize) -> Self {
        self.settings.member_messages = messages;
        self.settings.member_bytes = bytes;
        self
    }

    /// What is done to members when messages cannot be delivered to them
    /// (default [`LossPolicy::Close`]).
    pub fn loss_policy(mut self, policy: LossPolicy) -> Self {
        self.settings.loss_policy = policy;
        self
    }

    /// What members receive for each stored message (default: the message
    /// as it was published): `envelope` is called once per message and
    /// server, with the room and the offset, and its result goes to every
    /// member there, live or resuming from the history
    /// ([`Room::join_after`]). It runs on the reader thread with the rooms
    /// locked: it must be quick and must not call into the cluster.
    ///
    /// ```no_run
    /// use syncws::Message;
    /// use syncws_redis::{Cluster, Delivery};
    ///
    /// // Each member learns each message's place, to resume from it.
    /// let cluster = Cluster::builder("redis://127.0.0.1:6379/")
    ///     .envelope(|d: &Delivery<'_>| {
    ///         let text = d.message.as_text().unwrap_or("<binary>");
    ///         Message::from(format!("{} {text}", d.offset))
    ///     })
    ///     .connect()?;
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    pub fn envelope<F>(mut self, envelope: F) -> Self
    where
        F: Fn(&Delivery<'_>) -> Message + Send + Sync + 'static,
    {
        self.settings.envelope = Wrapping(Some(Arc::new(envelope)));
        self
    }

    /// The delays between the reader's attempts to reach Redis again
    /// (default from 100 ms, doubling, up to 5 s).
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Connect, and start the node's threads: the rooms' reader, the
    /// heartbeat (written once before this returns, so the node is live
    /// when it does) and the inbox's reader.
    ///
    /// # Errors
    /// [`Error::Redis`] for a URL that is not Redis's;
    /// [`Error::Unavailable`] when Redis cannot be reached now.
    pub fn connect(self) -> Result<Cluster> {
        let client = redis::Client::open(self.url.as_str()).map_err(Error::Redis)?;
        let (wake, woken) = crossbeam_channel::bounded(1);
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let node_id = hex(&random_bytes());
        let inner = Arc::new(Inner {
            client,
            node: NodeState::new(&self.settings.namespace, &node_id),
            settings: self.settings,
            node_id,
            rooms: Mutex::new(HashMap::new()),
            pool: Mutex::new(Vec::new()),
            reader_id: Mutex::new(None),
            wake,
            _stop: stop,
            stopped: AtomicBool::new(false),
            next_generation: AtomicU64::new(0),
            counters: Counters::default(),
            publish: keys::publish_script(),
            position: keys::position_script(),
            renew: keys::renew_script(),
            seek: keys::seek_script(),
        });
        // Fails here rather than in the first publish.
        inner.with_connection(|c| redis::cmd("PING").query::<String>(c))?;
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("syncws-redis-reader".into())
            .spawn(move || reader::run(weak, woken, stopped))
            .map_err(|e| Error::Unavailable(redis::RedisError::from(e)))?;
        // Announced before this returns: the node's ids are live from now.
        node::start(&inner)?;
        Ok(Cluster { inner })
    }
}

/// This server process's node of the cluster: rooms, publishing, and the
/// reader thread that delivers what Redis stores to the members here.
/// Cheap to clone; the reader ends when the last clone is dropped (or at
/// [`shutdown`](Self::shutdown)).
///
/// ```no_run
/// use syncws::MessageRef;
/// use syncws_redis::Cluster;
///
/// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
/// let published = cluster.room("news").publish(MessageRef::Text("hello"))?;
/// println!("stored at {}", published.offset);
/// # Ok::<(), syncws_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connect with the defaults; see [`builder`](Self::builder).
    ///
    /// # Errors
    /// As [`ClusterBuilder::connect`].
    pub fn connect(url: &str) -> Result<Cluster> {
        Cluster::builder(url).connect()
    }

    /// A builder for a cluster on the Redis at `url` (`redis://host:port/db`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use syncws_redis::{Cluster, LossPolicy};
    ///
    /// let cluster = Cluster::builder("redis://127.0.0.1:6379/")
    ///     .max_len(1000)
    ///     .max_age(Duration::from_secs(300))
    ///     .loss_policy(LossPolicy::Close)
    ///     .connect()?;
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    pub fn builder(url: &str) -> ClusterBuilder {
        ClusterBuilder {
            url: url.to_owned(),
            settings: Settings {
                namespace: "syncws".into(),
                max_len: 10_000,
                max_age: None,
                publish_id_ttl: Duration::from_secs(600),
                timeout: Duration::from_secs(5),
                block: Duration::from_secs(1),
                batch: 512,
                member_messages: 1024,
                member_bytes: 16 << 20,
                loss_policy: LossPolicy::Close,
                backoff: Backoff::default()
                    .initial(Duration::from_millis(100))
                    .max(Duration::from_secs(5)),
                heartbeat: node::DEFAULT_HEARTBEAT,
                inbox_limit: node::DEFAULT_INBOX_LIMIT,
                attach_lease: attach::DEFAULT_LEASE,
                attach_backlog: attach::DEFAULT_BACKLOG,
                envelope: Wrapping::default(),
            },
        }
    }

    /// This node's id: random, new at every start of the process.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The room called `name` (any text without `{` or `}`, which are
    /// replaced by `_`: the name is a Redis hash tag).
    pub fn room(&self, name: &str) -> Room {
        let name = name.replace(['{', '}'], "_");
        Room {
            keys: RoomKeys::new(&self.inner.settings.namespace, &name),
            name,
            cluster: self.clone(),
        }
    }

    /// The counters of this node.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Stop the reader: local members receive nothing more; publishing and
    /// joining fail with [`Error::Stopped`]. The node's heartbeat key and
    /// inbox are removed from Redis (best effort, within the cluster's
    /// timeout), so its ids are answered as [`Error::Gone`] at once.
    pub fn shutdown(&self) {
        self.inner.stop();
        node::leave(&self.inner);
    }
}

/// A room of the cluster, seen from this server.
#[derive(Debug, Clone)]
pub struct Room {
    pub(crate) name: String,
    pub(crate) keys: RoomKeys,
    pub(crate) cluster: Cluster,
}

impl Room {
    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Make a connection of this server a member: from when this returns it
    /// receives every message of the room, in the room's order, until the
    /// returned [`RoomMembership`] is dropped, its connection ends, it is
    /// closed with 1008 for reading too slowly, or a loss is reported to it
    /// (by default a close with 1013). The first message it receives is
    /// the one after [`RoomMembership::joined_after`]; a member that comes
    /// back with the offset of the last message it received resumes there
    /// with [`join_after`](Self::join_after), on any server.
    ///
    /// # Errors
    /// When this server has no member in the room yet, it asks Redis for
    /// the room's position first: [`Error::Unavailable`] if it cannot.
    /// [`Error::Join`] when the member's writer thread cannot start (the
    /// connection is closed with 1013); [`Error::Stopped`].
    pub fn join(&self, sender: Sender) -> Result<RoomMembership> {
        self.enter(sender, |_| None)
    }

    /// As [`join`](Self::join) (`after` None) or
    /// [`join_after`](Self::join_after), with a first message for the
    /// member, made from the offset it joins after: it reaches the member
    /// before any message of the room (a welcome that tells the member its
    /// position, say). For a join it is sent with this server's rooms
    /// locked, as the connection's first message (a small one goes out at
    /// once); for a resume, before the history.
    ///
    /// ```no_run
    /// use syncws::{Message, Server};
    /// use syncws_redis::Cluster;
    ///
    /// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
    /// let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
    ///     let welcome = |after: &_| Message::from(format!("welcome; you are after {after}"));
    ///     let Ok(_membership) = cluster.room("lobby").join_greeted(ws.sender(), None, welcome)
    ///     else {
    ///         return;
    ///     };
    ///     let _ = ws.run_with(|_| Ok(()));
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`join`](Self::join) or [`join_after`](Self::join_after);
    /// [`Error::Join`] when the greeting cannot be sent.
    pub fn join_greeted(
        &self,
        sender: Sender,
        after: Option<&Offset>,
        greeting: impl FnOnce(&Offset) -> Message,
    ) -> Result<RoomMembership> {
        match after {
            None => self.enter(sender, |at| Some(greeting(at))),
            Some(after) => self.resume(sender, after, |at| Some(greeting(at))),
        }
    }

    fn enter<G>(&self, sender: Sender, greeting: G) -> Result<RoomMembership>
    where
        G: FnOnce(&Offset) -> Option<Message>,
    {
        let inner = &self.cluster.inner;
        inner.check_running()?;
        {
            let rooms = inner.rooms();
            if let Some(room) = rooms.get(&self.name) {
                let after = room.cursor.offset();
                greet(&sender, greeting(&after))?;
                return self.member(room.hub.join(sender), after);
            }
        }
        let cursor = inner.position(&self.keys)?;
        let (membership, after) = {
            let mut rooms = inner.rooms();
            let room = rooms
                .entry(self.name.clone())
                .or_insert_with(|| inner.new_room(&self.keys, cursor, true));
            let after = room.cursor.offset();
            greet(&sender, greeting(&after))?;
            (room.hub.join(sender), after)
        };
        inner.wake_reader();
        self.member(membership, after)
    }

    pub(crate) fn member(
        &self,
        joined: syncws::Result<syncws::Membership>,
        after: Offset,
    ) -> Result<RoomMembership> {
        Ok(RoomMembership {
            _membership: joined.map_err(Error::Join)?,
            room: self.name.clone(),
            joined_after: after,
            _cluster: Arc::downgrade(&self.cluster.inner),
        })
    }

    /// Store `message` in the room under a random [`PublishId`]; see
    /// [`publish_with_id`](Self::publish_with_id).
    ///
    /// # Errors
    /// As [`publish_with_id`](Self::publish_with_id).
    pub fn publish<'a>(&self, message: impl Into<MessageRef<'a>>) -> Result<Published> {
        self.publish_with_id(&PublishId::random(), message)
    }

    /// Store `message` in the room, and return its offset once Redis has
    /// it. Every member on every server receives it, in offset order,
    /// unless a loss is reported to it. The publishing server's own members
    /// receive it from Redis like the others, never before.
    ///
    /// A retry with the same `id` (after an error, whose reply may have
    /// been lost after Redis stored the message) stores nothing new: it
    /// returns the first offset, with [`Published::duplicate`] set.
    ///
    /// ```no_run
    /// use syncws::MessageRef;
    /// use syncws_redis::{Cluster, PublishId};
    ///
    /// let room = Cluster::connect("redis://127.0.0.1:6379/")?.room("orders");
    /// let id = PublishId::random();
    /// let shipped = MessageRef::Text("order 17 shipped");
    /// let first = room.publish_with_id(&id, shipped)?;
    /// let again = room.publish_with_id(&id, shipped)?;
    /// assert!(again.duplicate);
    /// assert_eq!(again.offset, first.offset);
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis cannot be reached or does not
    /// answer within the cluster's timeout (nothing is queued here: retry
    /// with the same id); [`Error::Redis`] when it refuses;
    /// [`Error::Stopped`].
    pub fn publish_with_id<'a>(
        &self,
        id: &PublishId,
        message: impl Into<MessageRef<'a>>,
    ) -> Result<Published> {
        let inner = &self.cluster.inner;
        inner.check_running()?;
        let invocation = self.publishing(id, message.into());
        let reply = inner.with_connection(|c| invocation.invoke(c))?;
        Ok(self.published(reply))
    }

    /// Store each message of `batch` as [`publish_with_id`](Self::publish_with_id)
    /// does, in the batch's order, with one round trip to Redis: the
    /// publish scripts sent together on one connection. Returns once Redis
    /// has them all, their offsets in order (consecutive unless another
    /// publisher's messages came in between, or some were duplicates).
    ///
    /// For a publisher that has several messages at hand (what a
    /// connection sent while its previous batch was stored): a publish
    /// waits for Redis's answer, so one at a time a publisher is bound by
    /// one round trip per message. Each message still carries its own
    /// [`PublishId`], so a retried batch stores nothing twice. Keep
    /// batches small enough to go out within the cluster's timeout.
    ///
    /// ```no_run
    /// use syncws::MessageRef;
    /// use syncws_redis::{Cluster, PublishId};
    ///
    /// let room = Cluster::connect("redis://127.0.0.1:6379/")?.room("ticks");
    /// let batch: Vec<(PublishId, MessageRef)> = ["a", "b", "c"]
    ///     .iter()
    ///     .map(|t| (PublishId::random(), MessageRef::Text(t)))
    ///     .collect();
    /// let published = room.publish_batch(&batch)?;
    /// assert_eq!(published.len(), 3);
    /// // Retried (its reply lost, say): stored once.
    /// assert!(room.publish_batch(&batch)?.iter().all(|p| p.duplicate));
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`publish_with_id`](Self::publish_with_id); on an error, any
    /// part of the batch may be stored (a prefix, unless Redis refused one
    /// script and ran the next): retry the whole batch with the same ids.
    pub fn publish_batch(&self, batch: &[(PublishId, MessageRef<'_>)]) -> Result<Vec<Published>> {
        let inner = &self.cluster.inner;
        inner.check_running()?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let invocations: Vec<_> = batch
            .iter()
            .map(|(id, message)| self.publishing(id, *message))
            .collect();
        let mut pipe = redis::pipe();
        // The script is loaded first, in the same round trip: Redis may
        // have lost it (a restart), and a pipeline does not load it.
        pipe.load_script(&inner.publish).ignore();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let replies: Vec<(String, u64, u8)> = inner.with_connection(|c| pipe.query(c))?;
        Ok(replies.into_iter().map(|r| self.published(r)).collect())
    }

    /// The publish script's invocation for one message.
    fn publishing(&self, id: &PublishId, message: MessageRef<'_>) -> redis::ScriptInvocation<'_> {
        let inner = &self.cluster.inner;
        let kind = match message {
            MessageRef::Text(_) => "t",
            MessageRef::Binary(_) => "b",
        };
        let settings = &inner.settings;
        let max_age = settings.max_age.map_or(0, |age| age.as_millis().max(1));
        let mut invocation = inner.publish.prepare_invoke();
        invocation
            .key(&self.keys.epoch)
            .key(&self.keys.seq)
            .key(&self.keys.stream)
            .key(self.keys.publish_id(id.as_str()))
            .arg(hex(&random_bytes()))
            .arg(settings.max_len)
            .arg(max_age.to_string())
            .arg(settings.publish_id_ttl.as_secs())
            .arg(id.as_str())
            .arg(kind)
            .arg(message.as_bytes());
        invocation
    }

    /// The publish script's reply (epoch, offset, duplicate), counted.
    fn published(&self, (epoch, seq, duplicate): (String, u64, u8)) -> Published {
        let counters = &self.cluster.inner.counters;
        let counter = if duplicate == 1 {
            &counters.duplicates
        } else {
            &counters.published
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Published {
            offset: Offset {
                epoch: Epoch(epoch),
                seq,
            },
            duplicate: duplicate == 1,
        }
    }

    /// How many connections of this server are members.
    pub fn local_members(&self) -> usize {
        self.cluster
            .inner
            .rooms()
            .get(&self.name)
            .map_or(0, |room| room.hub.len())
    }
}

/// A connection's membership of a [`Room`] on this server; dropping it
/// leaves the room.
#[derive(Debug)]
pub struct RoomMembership {
    _membership: syncws::Membership,
    room: String,
    joined_after: Offset,
    _cluster: Weak<Inner>,
}

impl RoomMembership {
    /// The room's name.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// Where the member joined: the first message it receives is the one
    /// after this offset (`seq` 0: the epoch's first). With the offsets of
    /// what it receives after it (an [`envelope`](crate::ClusterBuilder::envelope)
    /// tells them), a member knows its position, to resume from with
    /// [`Room::join_after`].
    pub fn joined_after(&self) -> &Offset {
        &self.joined_after
    }

    /// Leave the room now.
    pub fn leave(self) {}
}

/// Where this server has read a room to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) epoch: String,
    /// The last offset delivered here.
    pub(crate) seq: u64,
    /// Its stream id: the reader reads on after it.
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn offset(&self) -> Offset {
        Offset {
            epoch: Epoch(self.epoch.clone()),
            seq: self.seq,
        }
    }
}

/// A room that has members on this server.
pub(crate) struct LocalRoom {
    pub(crate) keys: RoomKeys,
    pub(crate) hub: Hub,
    pub(crate) cursor: Cursor,
    /// Tells a room apart from an earlier one of the same name that left
    /// and came back while the reader was reading it.
    pub(crate) generation: u64,
    /// False after the reader lost Redis, until the room's epoch is checked.
    pub(crate) checked: bool,
    /// Members resuming at an offset this server has not delivered yet:
    /// they join the hub once it has (see resume.rs).
    pub(crate) waiting: Vec<Waiting>,
    /// Resuming members catching up with the reader, which delivers
    /// nothing of the room while there are any (see resume.rs).
    pub(crate) held: usize,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) losses: AtomicU64,
    pub(crate) trimmed_messages: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) redis_restarts: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            published: get(&self.published),
            duplicates: get(&self.duplicates),
            delivered: get(&self.delivered),
            losses: get(&self.losses),
            trimmed_messages: get(&self.trimmed_messages),
            reconnects: get(&self.reconnects),
            redis_restarts: get(&self.redis_restarts),
        }
    }
}

pub(crate) struct Inner {
    client: redis::Client,
    pub(crate) settings: Settings,
    pub(crate) node_id: String,
    /// The node's part: its server, heartbeat, inbox and waiting callers.
    pub(crate) node: NodeState,
    pub(crate) rooms: Mutex<HashMap<String, LocalRoom>>,
    pool: Mutex<Vec<Connection>>,
    /// The reader's connection id in Redis, for CLIENT UNBLOCK.
    pub(crate) reader_id: Mutex<Option<i64>>,
    wake: crossbeam_channel::Sender<()>,
    /// Dropped with the cluster: the reader's backoff waits end at once.
    _stop: crossbeam_channel::Sender<()>,
    stopped: AtomicBool,
    pub(crate) next_generation: AtomicU64,
    pub(crate) counters: Counters,
    publish: Script,
    position: Script,
    renew: Script,
    pub(crate) seek: Script,
}

/// Send a member its first message, if it has one.
pub(crate) fn greet(sender: &Sender, greeting: Option<Message>) -> Result<()> {
    match greeting {
        Some(message) => sender.send_message(&message).map_err(Error::Join),
        None => Ok(()),
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn random_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    // Without randomness from the system, a clock-based value still tells
    // epochs apart in practice.
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = (now.as_nanos() as u64).to_be_bytes();
    }
    bytes
}

impl Inner {
    pub(crate) fn rooms(&self) -> MutexGuard<'_, HashMap<String, LocalRoom>> {
        lock(&self.rooms)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake_reader();
    }

    pub(crate) fn check_running(&self) -> Result<()> {
        if self.is_stopped() {
            Err(Error::Stopped)
        } else {
            Ok(())
        }
    }

    pub(crate) fn new_hub(&self) -> Hub {
        Hub::with_member_limits(self.settings.member_messages, self.settings.member_bytes)
    }

    /// A room with no member yet, read from `cursor` on; `checked` false
    /// has the reader check its epoch before it reads it.
    pub(crate) fn new_room(&self, keys: &RoomKeys, cursor: Cursor, checked: bool) -> LocalRoom {
        LocalRoom {
            keys: keys.clone(),
            hub: self.new_hub(),
            cursor,
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
            checked,
            waiting: Vec::new(),
            held: 0,
        }
    }

    /// A new connection, with the cluster's timeouts.
    pub(crate) fn open(&self, read_timeout: Duration) -> RedisResult<Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(self.settings.timeout)?;
        connection.set_read_timeout(Some(read_timeout))?;
        connection.set_write_timeout(Some(self.settings.timeout))?;
        Ok(connection)
    }

    /// Run `command` on a pooled connection. A pooled connection may be
    /// dead (Redis restarted since it was last used): on an I/O error the
    /// command runs once more on a new one. Every command run here may be
    /// run twice: a publish carries its id, the rest only read.
    pub(crate) fn with_connection<T>(
        &self,
        command: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let pooled = lock(&self.pool).pop();
        let fresh = pooled.is_none();
        let mut connection = match pooled {
            Some(c) => c,
            None => self.open(self.settings.timeout)?,
        };
        match command(&mut connection) {
            Ok(value) => {
                self.give_back(connection);
                Ok(value)
            }
            Err(e) if fresh || !(e.is_io_error() || e.is_connection_dropped()) => {
                if !e.is_io_error() {
                    self.give_back(connection);
                }
                Err(Error::from_redis(e))
            }
            Err(_) => {
                let mut connection = self.open(self.settings.timeout)?;
                let value = command(&mut connection)?;
                self.give_back(connection);
                Ok(value)
            }
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_IDLE {
            pool.push(connection);
        }
    }

    /// A room's position now, its epoch created if Redis has none.
    pub(crate) fn position_on(&self, c: &mut Connection, keys: &RoomKeys) -> RedisResult<Cursor> {
        let (epoch, seq, id): (String, u64, String) = self
            .position
            .key(&keys.epoch)
            .key(&keys.seq)
            .key(&keys.stream)
            .arg(hex(&random_bytes()))
            .invoke(c)?;
        Ok(Cursor { epoch, seq, id })
    }

    fn position(&self, keys: &RoomKeys) -> Result<Cursor> {
        self.with_connection(|c| self.position_on(c, keys))
    }

    /// Start a new epoch for a room whose counter went back; the epoch in
    /// force.
    pub(crate) fn renew_on(
        &self,
        c: &mut Connection,
        keys: &RoomKeys,
        seen: &str,
    ) -> RedisResult<String> {
        self.renew
            .key(&keys.epoch)
            .key(&keys.seq)
            .key(&keys.stream)
            .arg(seen)
            .arg(hex(&random_bytes()))
            .invoke(c)
    }

    /// Make the reader look at its rooms again now: a room was added, or
    /// the cluster stops. Its blocked XREAD is ended by CLIENT UNBLOCK.
    pub(crate) fn wake_reader(&self) {
        let _ = self.wake.try_send(());
        let reader = *lock(&self.reader_id);
        if let Some(id) = reader {
            // Best effort: if Redis cannot be reached, the reader is not
            // blocked in Redis either, and it sees the wake-up above.
            let _ = self
                .with_connection(|c| redis::cmd("CLIENT").arg("UNBLOCK").arg(id).query::<i64>(c));
        }
    }
}

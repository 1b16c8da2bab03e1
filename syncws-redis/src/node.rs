//! This process's node: its keys in Redis, the server whose connections
//! it answers for, and its heartbeat, a key that expires unless renewed:
//! a node whose key is gone is dead, and its ids are answered as gone.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::Script;
use syncws::server::ConnectionId;
use syncws::{ServerHandle, WeakServerHandle, WebSocket};

use crate::cluster::{Cluster, ClusterBuilder, Inner, lock};
use crate::direct::{Answer, Direct};
use crate::error::{Error, Result};
use crate::id::GlobalId;
use crate::inbox;

/// How long a heartbeat key lives unless renewed (renewed every third).
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Unread entries a node's inbox may hold.
pub(crate) const DEFAULT_INBOX_LIMIT: usize = 10_000;

/// A node's keys. The node id is their hash tag, so that on a Redis
/// Cluster both sit on one shard and a script may check the one and write
/// the other.
#[derive(Debug, Clone)]
pub(crate) struct NodeKeys {
    /// The heartbeat: a string with an expiry.
    pub(crate) alive: String,
    /// The inbox: a stream of sends, requests and answers for the node.
    pub(crate) inbox: String,
}

impl NodeKeys {
    pub(crate) fn new(namespace: &str, node: &str) -> NodeKeys {
        NodeKeys {
            alive: format!("{namespace}:node:{{{node}}}"),
            inbox: format!("{namespace}:inbox:{{{node}}}"),
        }
    }
}

/// The SCAN pattern of every heartbeat key of the namespace (glob
/// characters in the namespace escaped).
pub(crate) fn heartbeat_pattern(namespace: &str) -> String {
    let mut pattern = String::new();
    for c in namespace.chars() {
        if "*?[]\\".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(":node:{*}");
    pattern
}

/// The node id in a heartbeat key, if it is one.
pub(crate) fn node_of_key<'a>(namespace: &str, key: &'a str) -> Option<&'a str> {
    let id = key
        .strip_prefix(namespace)?
        .strip_prefix(":node:{")?
        .strip_suffix('}')?;
    crate::id::is_node_id(id).then_some(id)
}

/// Renew the heartbeat: KEYS heartbeat, inbox; ARGV time to live in ms,
/// the value (the server's address, for people reading Redis). The inbox
/// lives as long as the heartbeat, so a dead node's inbox goes with it.
fn beat_script() -> Script {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
",
    )
}

/// The node's part of a cluster's state.
pub(crate) struct NodeState {
    pub(crate) keys: NodeKeys,
    /// The server whose connections this node answers for (weak: its
    /// handlers hold the cluster, which must not keep it running).
    server: Mutex<Option<WeakServerHandle>>,
    /// True once the node has left. Held while the heartbeat is written
    /// or removed, so that a beat in flight cannot bring back the key
    /// `shutdown` removed (it waits at most one command's timeout).
    left: Mutex<bool>,
    /// Dropped when the node leaves: the heartbeat and inbox threads end.
    halt: Mutex<Option<crossbeam_channel::Sender<()>>>,
    halted: Receiver<()>,
    beat: Script,
    /// Callers waiting for answers, by request id.
    pub(crate) pending: Mutex<HashMap<u64, crossbeam_channel::Sender<Answer>>>,
    pub(crate) next_request: AtomicU64,
    /// Connections that direct sends reached, each in a hub of its own.
    pub(crate) direct: Mutex<HashMap<ConnectionId, Direct>>,
    /// The forwarders of attached connections, each woken by an attach.
    pub(crate) forwarders: Mutex<HashMap<ConnectionId, crossbeam_channel::Sender<()>>>,
    /// The cluster itself, for the threads this node starts later.
    me: OnceLock<Weak<Inner>>,
}

impl NodeState {
    pub(crate) fn new(namespace: &str, node: &str) -> NodeState {
        let (halt, halted) = crossbeam_channel::bounded(0);
        NodeState {
            keys: NodeKeys::new(namespace, node),
            server: Mutex::new(None),
            left: Mutex::new(false),
            halt: Mutex::new(Some(halt)),
            halted,
            beat: beat_script(),
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(0),
            direct: Mutex::new(HashMap::new()),
            forwarders: Mutex::new(HashMap::new()),
            me: OnceLock::new(),
        }
    }

    /// The server, if one is served and still runs.
    pub(crate) fn server(&self) -> Option<ServerHandle> {
        lock(&self.server).as_ref()?.upgrade()
    }

    /// The cluster, weakly.
    pub(crate) fn this(&self) -> Option<&Weak<Inner>> {
        self.me.get()
    }

    /// A receiver that ends (disconnected) when the node leaves.
    pub(crate) fn halted(&self) -> Receiver<()> {
        self.halted.clone()
    }
}

/// Announce the node, and start its heartbeat and inbox threads.
pub(crate) fn start(inner: &Arc<Inner>) -> Result<()> {
    let _ = inner.node.me.set(Arc::downgrade(inner));
    beat(inner)?;
    let spawn_error = |e: std::io::Error| Error::Unavailable(redis::RedisError::from(e));
    let weak = Arc::downgrade(inner);
    let halted = inner.node.halted();
    let period = inner.settings.heartbeat / 3;
    thread::Builder::new()
        .name("syncws-redis-heartbeat".into())
        .spawn(move || {
            loop {
                if halted.recv_timeout(period) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = beat(&inner) {
                    // The key may expire meanwhile: other nodes then answer
                    // this node's ids as gone, which is what they are while
                    // Redis cannot reach it.
                    log::warn!("syncws-redis: heartbeat not renewed: {e}");
                }
            }
        })
        .map_err(spawn_error)?;
    let weak = Arc::downgrade(inner);
    let halted = inner.node.halted();
    thread::Builder::new()
        .name("syncws-redis-inbox".into())
        .spawn(move || inbox::run(weak, halted))
        .map_err(spawn_error)?;
    Ok(())
}

/// Write the heartbeat, unless the node has left.
fn beat(inner: &Inner) -> Result<()> {
    let left = lock(&inner.node.left);
    if *left {
        return Ok(());
    }
    let address = inner
        .node
        .server()
        .map(|s| s.local_address().to_string())
        .unwrap_or_default();
    let ttl = inner.settings.heartbeat.as_millis().max(1) as u64;
    let keys = &inner.node.keys;
    inner.with_connection(|c| {
        inner
            .node
            .beat
            .key(&keys.alive)
            .key(&keys.inbox)
            .arg(ttl)
            .arg(&address)
            .invoke::<()>(c)
    })
}

/// Remove the node from Redis: its ids are gone from now on.
pub(crate) fn leave(inner: &Inner) {
    let mut left = lock(&inner.node.left);
    if *left {
        return;
    }
    *left = true;
    drop(lock(&inner.node.halt).take());
    let keys = &inner.node.keys;
    let removed = inner.with_connection(|c| {
        redis::cmd("DEL")
            .arg(&keys.alive)
            .arg(&keys.inbox)
            .query::<()>(c)
    });
    if let Err(e) = removed {
        log::warn!("syncws-redis: heartbeat not removed at shutdown (it expires): {e}");
    }
}

impl ClusterBuilder {
    /// How long the node's heartbeat key lives in Redis unless renewed
    /// (default 15 s; renewed every third of it by a thread of its own).
    /// Another node finds this node dead, and answers its ids as
    /// [`Error::Gone`], once the key has expired: after a crash, a freeze,
    /// or Redis out of this node's reach for that long.
    pub fn heartbeat(mut self, ttl: Duration) -> Self {
        self.settings.heartbeat = ttl.max(Duration::from_millis(30));
        self
    }

    /// How many unread entries (sends, requests, answers) a node's inbox
    /// may hold (default 10,000); a post to a full inbox fails with
    /// [`Error::InboxFull`] instead of pushing anything out. The sender's
    /// setting is the one checked: give every node the same.
    pub fn inbox_limit(mut self, entries: usize) -> Self {
        self.settings.inbox_limit = entries.max(1);
        self
    }
}

impl Cluster {
    /// Answer for the connections of `server`: sends to their
    /// [`GlobalId`]s and listings reach them from any node. A node serves
    /// one server (connection ids are unique within a server): a second
    /// call replaces the first. The cluster keeps a weak handle, so the
    /// handlers that hold the cluster do not keep the server running.
    ///
    /// ```no_run
    /// use syncws::Server;
    /// use syncws_redis::Cluster;
    ///
    /// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
    /// let for_handler = cluster.clone();
    /// let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
    ///     let Some(id) = for_handler.global_id(&ws) else { return };
    ///     let _ = ws.send_text(&format!("you are {id}"));
    ///     let _ = ws.run_with(|_| Ok(()));
    /// })?;
    /// cluster.serve(&server);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn serve(&self, server: &ServerHandle) {
        *lock(&self.inner.node.server) = Some(server.downgrade());
        lock(&self.inner.node.direct).clear();
    }

    /// The global id of a connection of this node's server (`None` for a
    /// client's connection, which has no id).
    pub fn global_id(&self, ws: &WebSocket) -> Option<GlobalId> {
        ws.id().map(|id| self.global_id_of(id))
    }

    /// The global id of this node's connection `id` (as
    /// [`ServerHandle::connections`] lists them).
    pub fn global_id_of(&self, id: ConnectionId) -> GlobalId {
        GlobalId::new(&self.inner.node_id, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_keys_are_found_by_the_pattern_and_read_back() {
        let keys = NodeKeys::new("app", "0123456789abcdef");
        assert_eq!(keys.alive, "app:node:{0123456789abcdef}");
        assert_eq!(node_of_key("app", &keys.alive), Some("0123456789abcdef"));
        assert_eq!(node_of_key("app", &keys.inbox), None);
        assert_eq!(node_of_key("app", "app:node:{nothex}"), None);
        assert_eq!(heartbeat_pattern("a*b"), "a\\*b:node:{*}");
    }
}

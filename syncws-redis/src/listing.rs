//! The connections of every node: the live nodes found by their heartbeat
//! keys, each asked through its inbox, and what answered within the time
//! given.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use syncws::server::{ConnectionId, ConnectionInfo};

use crate::cluster::{Cluster, Inner};
use crate::direct::{self, Request};
use crate::error::Result;
use crate::id::GlobalId;
use crate::inbox::{self, Letter, Posted};
use crate::node;

/// SCAN rounds at most (each asks for 512 keys): a bound, not a limit met.
const SCAN_ROUNDS: usize = 100_000;

/// An answer's status: a listing, in its data.
const LISTED: &str = "list";

/// A connection as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedConnection {
    /// Its global id.
    pub id: GlobalId,
    /// The request path it was opened on.
    pub path: String,
    /// The peer's IP address and port, if known (none for a Unix socket's).
    pub peer: Option<SocketAddr>,
    /// Its handler detached it (it can be attached).
    pub detached: bool,
}

/// What [`Cluster::list_connections`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// The connections of every node that answered, by id.
    pub connections: Vec<ListedConnection>,
    /// The nodes that answered (this one included), by id.
    pub answered: Vec<String>,
    /// The live nodes (their heartbeat not expired) that did not answer in
    /// time, or whose inbox was full: their connections are not listed.
    pub silent: Vec<String>,
}

impl Cluster {
    /// The connections of every live node's server, as far as the nodes
    /// answer within `timeout`; the nodes that did not are named in
    /// [`Listing::silent`]. This node's own are listed without asking
    /// Redis. The live nodes are those whose heartbeat key exists (SCAN
    /// over the namespace's keys; on a Redis Cluster, those of the shard
    /// this node's connection reaches).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use syncws_redis::Cluster;
    ///
    /// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
    /// let listing = cluster.list_connections(Duration::from_secs(1))?;
    /// for c in &listing.connections {
    ///     println!("{} on {}", c.id, c.path);
    /// }
    /// if !listing.silent.is_empty() {
    ///     println!("not answering: {:?}", listing.silent);
    /// }
    /// # Ok::<(), syncws_redis::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Unavailable`](crate::Error::Unavailable) and
    /// [`Error::Redis`](crate::Error::Redis) for the SCAN or a request;
    /// [`Error::Stopped`](crate::Error::Stopped).
    pub fn list_connections(&self, timeout: Duration) -> Result<Listing> {
        let deadline = Instant::now() + timeout;
        let inner = &self.inner;
        inner.check_running()?;
        let mut others = live_nodes(inner)?;
        others.remove(&inner.node_id);
        let request = Request::new(inner, others.len());
        let q = request.id.to_string();
        let fields: [(&str, &[u8]); 3] = [
            ("k", b"l"),
            ("f", inner.node_id.as_bytes()),
            ("q", q.as_bytes()),
        ];
        let mut listing = Listing {
            connections: local(inner),
            answered: vec![inner.node_id.clone()],
            silent: Vec::new(),
        };
        let mut waiting = BTreeSet::new();
        for node in others {
            match inbox::post(inner, &node, &fields)? {
                Posted::Stored => {
                    waiting.insert(node);
                }
                // It died since the SCAN.
                Posted::Gone => {}
                Posted::Full => listing.silent.push(node),
            }
        }
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = match request.answers.recv_timeout(left) {
                Ok(answer) => answer,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            if answer.status != LISTED || !waiting.remove(&answer.node) {
                continue;
            }
            listing
                .connections
                .extend(decode(&answer.node, &answer.data));
            listing.answered.push(answer.node);
        }
        listing.silent.extend(waiting);
        listing.silent.sort();
        listing.answered.sort();
        listing.connections.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }
}

/// The ids of the nodes whose heartbeat key exists.
fn live_nodes(inner: &Inner) -> Result<BTreeSet<String>> {
    let namespace = &inner.settings.namespace;
    let pattern = node::heartbeat_pattern(namespace);
    inner.with_connection(|c| {
        let mut nodes = BTreeSet::new();
        let mut cursor: u64 = 0;
        for _ in 0..SCAN_ROUNDS {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(512)
                .query(c)?;
            nodes.extend(
                keys.iter()
                    .filter_map(|key| node::node_of_key(namespace, key))
                    .map(str::to_owned),
            );
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(nodes)
    })
}

/// This node's connections.
fn local(inner: &Inner) -> Vec<ListedConnection> {
    let Some(server) = inner.node.server() else {
        return Vec::new();
    };
    server
        .connections()
        .into_iter()
        .map(|info| listed(&inner.node_id, &info))
        .collect()
}

fn listed(node: &str, info: &ConnectionInfo) -> ListedConnection {
    ListedConnection {
        id: GlobalId::new(node, info.id),
        path: info.path.clone(),
        peer: info.peer,
        detached: info.detached,
    }
}

/// A listing request from another node: answer with this node's
/// connections.
pub(crate) fn handle_request(inner: &Inner, letter: &Letter) {
    let (Some(from), Some(q)) = (letter.text("f"), letter.number("q")) else {
        return;
    };
    let data = encode(&local(inner));
    direct::answer(inner, from, q, LISTED, data.as_bytes());
}

/// One line per connection: `N`, tab, `1` if detached, tab, the peer or
/// `-`, tab, the path (last: a request path has no line break).
fn encode(connections: &[ListedConnection]) -> String {
    let mut out = String::new();
    for c in connections {
        let peer = c.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let detached = u8::from(c.detached);
        let n = u64::from(c.id.connection());
        out.push_str(&format!("{n}\t{detached}\t{peer}\t{}\n", c.path));
    }
    out
}

fn decode(node: &str, data: &[u8]) -> Vec<ListedConnection> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            let n: u64 = fields.next()?.parse().ok()?;
            let detached = fields.next()? == "1";
            let peer = fields.next()?.parse().ok();
            let path = fields.next()?.to_owned();
            Some(ListedConnection {
                id: GlobalId::new(node, ConnectionId::from(n)),
                path,
                peer,
                detached,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_decodes_to_what_was_encoded() {
        let node = "0123456789abcdef";
        let connections = vec![
            ListedConnection {
                id: GlobalId::new(node, ConnectionId::from(3)),
                path: "/room/a?x=1".into(),
                peer: Some("127.0.0.1:5000".parse().unwrap()),
                detached: false,
            },
            ListedConnection {
                id: GlobalId::new(node, ConnectionId::from(9)),
                path: "/".into(),
                peer: None,
                detached: true,
            },
        ];
        assert_eq!(decode(node, encode(&connections).as_bytes()), connections);
    }
}

//! A node's inbox: a Redis stream per node that any node posts to (sends
//! to a connection here, listing and attach requests, answers to this
//! node's own requests), read by one thread of this node with XREAD BLOCK.
//!
//! A stream rather than pub/sub: what is posted while this node is briefly
//! away from Redis waits in it, read after the reconnection from where the
//! thread left off. Entries read are trimmed away, so the stream's length
//! is what is unread, and a post to a full inbox is refused, never pushed
//! out by a cap.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::{Connection, RedisResult, Script, Value};

use crate::cluster::{Inner, random_bytes};
use crate::error::Result;
use crate::node::NodeKeys;
use crate::types::hex;
use crate::{attach, direct, listing};

/// Entries read per XREAD, at most.
const BATCH: usize = 256;
/// Post ids remembered to handle each once: a post run twice is stored
/// twice next to each other, far fewer than this apart.
const SEEN: usize = 4096;

/// The post ids handled last.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    order: VecDeque<Vec<u8>>,
    ids: HashSet<Vec<u8>>,
}

impl Seen {
    /// True the first time `id` is seen (within the last [`SEEN`]), and
    /// for an entry without one.
    pub(crate) fn first(&mut self, id: &[u8]) -> bool {
        if id.is_empty() {
            return true;
        }
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == SEEN {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.order.push_back(id.to_vec());
        self.ids.insert(id.to_vec());
        true
    }
}

/// One entry of an inbox: its stream id and its fields.
#[derive(Debug, Default)]
pub(crate) struct Letter {
    pub(crate) id: String,
    pub(crate) fields: HashMap<String, Vec<u8>>,
}

impl Letter {
    pub(crate) fn text(&self, field: &str) -> Option<&str> {
        std::str::from_utf8(self.fields.get(field)?).ok()
    }

    pub(crate) fn number(&self, field: &str) -> Option<u64> {
        self.text(field)?.parse().ok()
    }

    pub(crate) fn bytes(&self, field: &str) -> &[u8] {
        self.fields.get(field).map_or(&[], Vec::as_slice)
    }
}

/// What became of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// In the node's inbox.
    Stored,
    /// The node has no heartbeat: dead, gone, or never was.
    Gone,
    /// The node's inbox is full.
    Full,
}

/// Post: KEYS the node's heartbeat, its inbox; ARGV the inbox's limit,
/// then field, value, ... Returns 1 (stored), 0 (no heartbeat), 2 (full).
/// The heartbeat is checked in the same script as the XADD, so nothing is
/// stored for a node that is already dead; the inbox expires with it.
fn post_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return 0
end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[1]) then
  return 2
end
local args = {'XADD', KEYS[2], '*'}
for i = 2, #ARGV do
  args[#args + 1] = ARGV[i]
end
redis.call(unpack(args))
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
",
        )
    })
}

/// Post `fields` to `node`'s inbox, with a random post id (`p`): a post
/// whose connection broke after Redis ran it may be run again (see
/// `Inner::with_connection`), and the reading node handles each id once.
pub(crate) fn post(inner: &Inner, node: &str, fields: &[(&str, &[u8])]) -> Result<Posted> {
    let keys = NodeKeys::new(&inner.settings.namespace, node);
    let mut invocation = post_script().prepare_invoke();
    invocation
        .key(&keys.alive)
        .key(&keys.inbox)
        .arg(inner.settings.inbox_limit)
        .arg("p")
        .arg(hex(&random_bytes()));
    for (name, value) in fields {
        invocation.arg(*name).arg(*value);
    }
    let answer: u8 = inner.with_connection(|c| invocation.invoke(c))?;
    Ok(match answer {
        1 => Posted::Stored,
        2 => Posted::Full,
        _ => Posted::Gone,
    })
}

fn random_fraction() -> f64 {
    (u64::from_be_bytes(random_bytes()) >> 11) as f64 / (1u64 << 53) as f64
}

/// The inbox thread: read, handle, trim; reconnect with backoff. Ends when
/// the node leaves or the cluster is dropped.
///
/// It holds the cluster (a strong reference) only to open a connection and
/// to handle what it read, never across the blocking XREAD: the reader
/// thread holds it across its own, and two threads that each upgrade again
/// at once would keep a dropped cluster alive between them.
pub(crate) fn run(cluster: Weak<Inner>, halted: Receiver<()>) {
    let Some((inbox, block, backoff)) = cluster.upgrade().map(|inner| {
        let settings = &inner.settings;
        (
            inner.node.keys.inbox.clone(),
            settings.block,
            settings.backoff,
        )
    }) else {
        return;
    };
    let mut connection: Option<Connection> = None;
    // A node id is new at every start, so its inbox starts empty.
    let mut last = String::from("0-0");
    let mut seen = Seen::default();
    let mut failures: u32 = 0;
    loop {
        let step = match connection.as_mut() {
            Some(c) => read_once(&cluster, c, &inbox, block, &mut last, &mut seen),
            None => match cluster.upgrade() {
                Some(inner) => inner.open(block + inner.settings.timeout).map(|c| {
                    connection = Some(c);
                    Some(())
                }),
                None => Ok(None),
            },
        };
        match step {
            Ok(Some(())) => failures = 0,
            // The cluster is gone, or stopped.
            Ok(None) => return,
            Err(e) => {
                log::debug!("syncws-redis: inbox: {e}; reconnecting");
                connection = None;
                failures = failures.saturating_add(1);
                let delay = backoff.delay(failures, random_fraction());
                if halted.recv_timeout(delay) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            }
        }
    }
}

/// One XREAD of the inbox, each entry handled in order, then what was read
/// trimmed away. `None` when the cluster is gone or stopped.
fn read_once(
    cluster: &Weak<Inner>,
    c: &mut Connection,
    inbox: &str,
    block: Duration,
    last: &mut String,
    seen: &mut Seen,
) -> RedisResult<Option<()>> {
    let reply: Value = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(inbox)
        .arg(last.as_str())
        .query(c)?;
    let letters = parse_xread(reply);
    {
        let Some(inner) = cluster.upgrade() else {
            return Ok(None);
        };
        if inner.is_stopped() {
            return Ok(None);
        }
        for letter in &letters {
            if seen.first(letter.bytes("p")) {
                // A bug met by one entry must not end the thread: the node
                // would stay live by its heartbeat and never answer.
                let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle(&inner, letter)
                }));
                if handled.is_err() {
                    log::error!("syncws-redis: inbox: handling entry {} panicked", letter.id);
                }
            }
            last.clone_from(&letter.id);
        }
        direct::prune(&inner);
    }
    if !letters.is_empty() {
        // Everything up to and including `last` has been handled: the
        // stream's length is what is unread.
        redis::cmd("XTRIM")
            .arg(inbox)
            .arg("MINID")
            .arg(next_id(last))
            .query::<()>(c)?;
    }
    Ok(Some(()))
}

fn handle(inner: &Inner, letter: &Letter) {
    match letter.text("k") {
        Some("s") => direct::handle_send(inner, letter),
        Some("l") => listing::handle_request(inner, letter),
        Some("a") => direct::handle_answer(inner, letter),
        Some("t") => attach::handle_request(inner, letter),
        other => log::warn!("syncws-redis: inbox: an entry of unknown kind {other:?}"),
    }
}

/// The stream id just after `id` (`ms-seq`).
pub(crate) fn next_id(id: &str) -> String {
    match id.split_once('-') {
        Some((ms, seq)) => match seq.parse::<u64>() {
            Ok(seq) => format!("{ms}-{}", seq.saturating_add(1)),
            Err(_) => id.to_owned(),
        },
        None => id.to_owned(),
    }
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// XREAD's reply for one stream (RESP2): `[[stream, [[id, [field, value,
/// …]], …]]]`, or nil when the block ran out.
pub(crate) fn parse_xread(reply: Value) -> Vec<Letter> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut letters = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(Value::Array(items)) = pair.get(1) else {
            continue;
        };
        letters.extend(items.iter().filter_map(parse_entry));
    }
    letters
}

fn parse_entry(item: &Value) -> Option<Letter> {
    let Value::Array(pair) = item else {
        return None;
    };
    let id = String::from_utf8(bytes(pair.first()?)?).ok()?;
    let Value::Array(fields) = pair.get(1)? else {
        return None;
    };
    let mut letter = Letter {
        id,
        fields: HashMap::new(),
    };
    for field in fields.chunks(2) {
        let [name, value] = field else { continue };
        let name = String::from_utf8(bytes(name)?).ok()?;
        letter.fields.insert(name, bytes(value)?);
    }
    Some(letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn an_xread_reply_gives_each_letter_its_fields() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("ns:inbox:{x}"),
            Value::Array(vec![Value::Array(vec![
                bulk("5-1"),
                Value::Array(vec![bulk("k"), bulk("s"), bulk("c"), bulk("17")]),
            ])]),
        ])]);
        let letters = parse_xread(reply);
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].id, "5-1");
        assert_eq!(letters[0].text("k"), Some("s"));
        assert_eq!(letters[0].number("c"), Some(17));
        assert!(parse_xread(Value::Nil).is_empty());
    }

    #[test]
    fn a_post_id_is_handled_once_within_the_last_ones_seen() {
        let mut seen = Seen::default();
        assert!(seen.first(b"a"));
        assert!(!seen.first(b"a"));
        assert!(
            seen.first(b"") && seen.first(b""),
            "no id: never a duplicate"
        );
        for i in 0..SEEN {
            assert!(seen.first(i.to_string().as_bytes()));
        }
        assert!(seen.first(b"a"), "forgotten after SEEN others");
        assert_eq!(seen.ids.len(), SEEN);
    }

    #[test]
    fn the_id_after_an_entry_is_its_sequence_plus_one() {
        assert_eq!(next_id("1700000000000-0"), "1700000000000-1");
        assert_eq!(next_id("5-41"), "5-42");
    }
}

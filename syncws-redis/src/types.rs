//! The values the cluster hands out: offsets, epochs, publish ids, losses
//! and counters.

use std::fmt;
use std::sync::Arc;

use syncws::Sender;

/// A random id of one life of a room's history in Redis. A new epoch
/// starts when Redis lost the room (a restart without persistence, a
/// failover to a replica that lagged): offsets start again from 1, and
/// what was published in the old epoch after a server's last offset is
/// reported lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Epoch(pub(crate) String);

impl Epoch {
    /// The epoch as Redis stores it (16 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message's place in its room: the epoch, and its number in it (from
/// 1, one more for each message stored). Within an epoch, the order of
/// offsets is the order every member on every server receives.
///
/// Written and read as `EPOCH:SEQ`, for a client to keep and give back to
/// resume ([`Room::join_after`](crate::Room::join_after)):
///
/// ```
/// use syncws_redis::Offset;
///
/// let offset: Offset = "0123456789abcdef:42".parse()?;
/// assert_eq!(offset.seq, 42);
/// assert_eq!(offset.to_string(), "0123456789abcdef:42");
/// assert!("lobby".parse::<Offset>().is_err());
/// # Ok::<(), syncws_redis::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Offset {
    /// The room's epoch when the message was stored.
    pub epoch: Epoch,
    /// The message's number in the epoch, from 1.
    pub seq: u64,
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.seq)
    }
}

impl std::str::FromStr for Offset {
    type Err = crate::Error;

    /// `EPOCH:SEQ`: an epoch of 1 to 64 ASCII letters and digits, and a
    /// decimal `seq`.
    fn from_str(text: &str) -> Result<Offset, crate::Error> {
        let invalid = || crate::Error::InvalidOffset(format!("{text:?} is not EPOCH:SEQ"));
        let (epoch, seq) = text.split_once(':').ok_or_else(invalid)?;
        let epoch_fits =
            (1..=64).contains(&epoch.len()) && epoch.bytes().all(|b| b.is_ascii_alphanumeric());
        let seq_fits = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
        if !epoch_fits || !seq_fits {
            return Err(invalid());
        }
        Ok(Offset {
            epoch: Epoch(epoch.to_owned()),
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

/// What [`Room::publish`](crate::Room::publish) returns once Redis has the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Where the message is in the room.
    pub offset: Offset,
    /// True when this publish id had been stored already (a retry whose
    /// first reply was lost): nothing new was stored or delivered, and
    /// `offset` is the first attempt's.
    pub duplicate: bool,
}

/// The id a publisher gives a message, so that retrying a publish whose
/// reply was lost stores it once. Remembered by Redis for the cluster's
/// [`publish_id_ttl`](crate::ClusterBuilder::publish_id_ttl).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublishId(String);

impl PublishId {
    /// A random id (128 bits, in hex).
    ///
    /// # Panics
    /// If the operating system has no randomness to give.
    pub fn random() -> PublishId {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's randomness");
        PublishId(hex(&bytes))
    }

    /// An id of the caller's: 1 to 128 bytes of ASCII letters, digits and
    /// `-_.:`; `None` otherwise (it becomes part of a Redis key).
    ///
    /// ```
    /// use syncws_redis::PublishId;
    ///
    /// assert!(PublishId::new("order-17:update-3").is_some());
    /// assert!(PublishId::new("").is_none());
    /// assert!(PublishId::new("a b").is_none());
    /// ```
    pub fn new(id: &str) -> Option<PublishId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        let fits = !id.is_empty() && id.len() <= 128 && id.chars().all(allowed);
        fits.then(|| PublishId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Messages a server's members did not get: reported by the
/// [`LossPolicy`], counted in [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loss {
    /// The history was trimmed (by length or age) before this server read
    /// it: offsets `from..=to` of `epoch` were never delivered here.
    Trimmed {
        /// The room.
        room: String,
        /// The epoch of the missing offsets.
        epoch: Epoch,
        /// The first missing offset.
        from: u64,
        /// The last missing offset.
        to: u64,
    },
    /// The room's epoch changed under this server (Redis restarted
    /// without persistence, or failed over to a replica that lagged):
    /// whatever the old epoch stored after offset `after` is gone, and how
    /// much that was cannot be known.
    NewEpoch {
        /// The room.
        room: String,
        /// The epoch this server was reading.
        old: Epoch,
        /// The last offset of `old` delivered here.
        after: u64,
        /// The epoch in force now.
        new: Epoch,
    },
}

impl Loss {
    /// The room the loss is in.
    pub fn room(&self) -> &str {
        match self {
            Loss::Trimmed { room, .. } | Loss::NewEpoch { room, .. } => room,
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Trimmed { room, from, to, .. } => {
                write!(
                    f,
                    "room {room}: messages {from} to {to} trimmed before delivery"
                )
            }
            Loss::NewEpoch { room, after, .. } => {
                write!(
                    f,
                    "room {room}: Redis lost the history after message {after}"
                )
            }
        }
    }
}

/// A function told of a loss, with the senders of the room's members on
/// this server; see [`LossPolicy::Callback`].
pub type LossCallback = Arc<dyn Fn(&Loss, &[Sender]) + Send + Sync>;

/// What a server does with its members of a room when messages of that
/// room cannot be delivered to them.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum LossPolicy {
    /// Close each member with 1013 (try again later), before anything
    /// published after the loss reaches it: a client that reconnects and
    /// rejoins starts again from what the room holds. The default.
    #[default]
    Close,
    /// Call the function, on the cluster's reader thread, before anything
    /// of the room after the loss is delivered; the members stay. It must
    /// not block for long (every room of this server waits), nor join a
    /// room of this cluster.
    Callback(LossCallback),
}

impl fmt::Debug for LossPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossPolicy::Close => f.write_str("Close"),
            LossPolicy::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

/// Counters of one [`Cluster`](crate::Cluster) (this process's node).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Publishes Redis stored.
    pub published: u64,
    /// Publishes answered as duplicates (a retry of a stored id).
    pub duplicates: u64,
    /// Messages read from Redis and handed to a room's local members.
    pub delivered: u64,
    /// Losses reported (each a [`Loss`]).
    pub losses: u64,
    /// Messages known to be lost by trimming (a new epoch's loss has no
    /// count).
    pub trimmed_messages: u64,
    /// Times the reader connected to Redis again after losing it.
    pub reconnects: u64,
    /// Times the reader found a different Redis (`run_id`) on reconnecting:
    /// a restart or a failover. Each room is then checked for a new epoch.
    pub redis_restarts: u64,
}

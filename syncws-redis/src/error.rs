//! The one error type of the cluster crate.

use std::fmt;

use crate::id::GlobalId;

/// What went wrong talking to Redis.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis cannot be reached, the connection to it failed or timed out,
    /// or it is still loading its data after a restart. For a publish, the message may or may not be stored: retry with
    /// the same [`PublishId`](crate::PublishId), which stores it at most
    /// once.
    Unavailable(redis::RedisError),
    /// Redis answered with an error (a wrong URL, a refused script, a
    /// server out of memory, an answer of the wrong shape: not Redis 7 or
    /// later, or the room's keys changed by someone else).
    Redis(redis::RedisError),
    /// The member's connection could not join the room's hub (no thread for
    /// it); it was closed with 1013.
    Join(syncws::Error),
    /// The cluster has been shut down.
    Stopped,
    /// Text that is not a [`GlobalId`] (`NODE-N`: 16 lowercase hex
    /// digits, `-`, a decimal number).
    InvalidId {
        /// The text (its first 64 characters).
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No live node has this id: its node shut down, stopped renewing its
    /// heartbeat (it died, froze, or lost Redis for longer than the
    /// heartbeat's time to live), or never existed. Nothing was stored.
    Gone(GlobalId),
    /// The id's node is live and answered that it has no open connection
    /// by that id (it ended, or never was); nothing was sent.
    NoSuchConnection(GlobalId),
    /// The id's node did not answer within the time given: the message is
    /// in its inbox and may or may not reach the connection (a node that
    /// froze, or one that died after its last heartbeat).
    NoAnswer(GlobalId),
    /// The node's inbox holds as many unread entries as it may
    /// ([`inbox_limit`](crate::ClusterBuilder::inbox_limit)): that node
    /// does not keep up, or is frozen. Nothing was stored.
    InboxFull {
        /// The node's id.
        node: String,
    },
    /// Another attacher holds the connection's lease (until it gives it
    /// up, or its lease expires).
    AttachedElsewhere(GlobalId),
    /// The connection is open but its handler has not detached it.
    NotDetached(GlobalId),
    /// This attacher's lease expired (it was not renewed in time) and
    /// another attacher took the connection.
    LeaseLost(GlobalId),
    /// The attached connection has ended, after every message it sent
    /// before: the peer's close frame, if it closed cleanly.
    Ended {
        /// The connection.
        id: GlobalId,
        /// The close frame it ended with, if any.
        close: Option<syncws::CloseFrame>,
    },
    /// A member cannot resume where it asked ([`Room::join_after`](crate::Room::join_after)):
    /// messages after its offset are gone from the history
    /// ([`Loss::Trimmed`](crate::Loss::Trimmed)), or the room's epoch is
    /// no longer the offset's ([`Loss::NewEpoch`](crate::Loss::NewEpoch)).
    /// It was sent what came before the loss, and is not a member: it may
    /// join again ([`Room::join`](crate::Room::join)) from the room's
    /// present, knowing what it missed.
    Lost(crate::Loss),
    /// An offset that is not one: text that does not read as `EPOCH:SEQ`,
    /// or a `seq` the room has not reached in its epoch.
    InvalidOffset(String),
}

/// A result with the cluster's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn from_redis(e: redis::RedisError) -> Error {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            Error::Unavailable(e)
        } else {
            Error::Redis(e)
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::from_redis(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(e) => write!(f, "Redis unavailable: {e}"),
            Error::Redis(e) => write!(f, "Redis error: {e}"),
            Error::Join(e) => write!(f, "cannot join the room: {e}"),
            Error::Stopped => f.write_str("the cluster has been shut down"),
            Error::InvalidId { input, why } => write!(f, "not a connection id: {input:?}: {why}"),
            Error::Gone(id) => write!(f, "connection {id}: no live node has it"),
            Error::NoSuchConnection(id) => {
                write!(f, "connection {id}: its node has no such connection")
            }
            Error::NoAnswer(id) => write!(f, "connection {id}: its node did not answer in time"),
            Error::InboxFull { node } => write!(f, "node {node}: its inbox is full"),
            Error::AttachedElsewhere(id) => write!(f, "connection {id}: attached elsewhere"),
            Error::NotDetached(id) => write!(f, "connection {id}: not detached"),
            Error::LeaseLost(id) => {
                write!(f, "connection {id}: the lease expired, taken by another")
            }
            Error::Ended {
                id,
                close: Some(close),
            } => write!(f, "connection {id} ended: {close}"),
            Error::Ended { id, close: None } => {
                write!(f, "connection {id} ended without a close frame")
            }
            Error::Lost(loss) => write!(f, "cannot resume: {loss}"),
            Error::InvalidOffset(why) => write!(f, "invalid offset: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unavailable(e) | Error::Redis(e) => Some(e),
            Error::Join(e) => Some(e),
            Error::Stopped
            | Error::InvalidId { .. }
            | Error::Gone(_)
            | Error::NoSuchConnection(_)
            | Error::NoAnswer(_)
            | Error::InboxFull { .. }
            | Error::AttachedElsewhere(_)
            | Error::NotDetached(_)
            | Error::LeaseLost(_)
            | Error::Ended { .. }
            | Error::Lost(_)
            | Error::InvalidOffset(_) => None,
        }
    }
}

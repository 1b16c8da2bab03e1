//! The one error type of the cluster crate.

use std::fmt;

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
            Error::Stopped | Error::Lost(_) | Error::InvalidOffset(_) => None,
        }
    }
}

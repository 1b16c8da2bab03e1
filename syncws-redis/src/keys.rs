//! The Redis keys of a room, and the Lua scripts that change them: each
//! script runs atomically in Redis, which is what gives a room one order
//! (the counter and the stream move together) and a publish id that is
//! stored once.

use redis::Script;

/// The keys of one room. The room's name sits in a hash tag (`{…}`), so
/// that on a Redis Cluster every key of a room is on one node and a script
/// may touch them all.
#[derive(Debug, Clone)]
pub(crate) struct RoomKeys {
    pub(crate) epoch: String,
    pub(crate) seq: String,
    pub(crate) stream: String,
    prefix: String,
}

impl RoomKeys {
    pub(crate) fn new(namespace: &str, room: &str) -> RoomKeys {
        let prefix = format!("{namespace}:{{{room}}}");
        RoomKeys {
            epoch: format!("{prefix}:epoch"),
            seq: format!("{prefix}:seq"),
            stream: format!("{prefix}:stream"),
            prefix,
        }
    }

    /// The key that remembers a publish id for a while.
    pub(crate) fn publish_id(&self, id: &str) -> String {
        format!("{}:pub:{id}", self.prefix)
    }
}

/// Publish: KEYS epoch, seq, stream, publish id; ARGV candidate epoch, max
/// length, max age in ms (0: none), seconds a publish id is remembered,
/// publish id, kind (`t` or `b`), data. Returns `{epoch, offset, 1 if the
/// publish id was seen before (nothing stored)}`.
///
/// The epoch is created here when missing (a new room, or Redis lost it);
/// the candidate comes from the caller because a script's randomness is
/// not random. The id is checked and stored in the same script as the
/// XADD, so a retry either finds it (and gets the first offset back) or
/// the first attempt never ran: there is no window in between.
pub(crate) fn publish_script() -> Script {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local seen = redis.call('GET', KEYS[4])
if seen then
  return {epoch, tonumber(seen), 1}
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*',
  'n', seq, 'p', ARGV[5], 'k', ARGV[6], 'd', ARGV[7])
local age = tonumber(ARGV[3])
if age > 0 then
  local t = redis.call('TIME')
  local min = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - age
  if min > 0 then
    redis.call('XTRIM', KEYS[3], 'MINID', '~', min)
  end
end
redis.call('SET', KEYS[4], seq, 'EX', ARGV[4])
return {epoch, seq, 0}
",
    )
}

/// A room's position: KEYS epoch, seq, stream; ARGV candidate epoch.
/// Returns `{epoch, last offset, stream id of the last entry or 0-0}`,
/// read together, so that reading on from that id misses nothing.
pub(crate) fn position_script() -> Script {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then
  id = last[1][1]
end
return {epoch, seq, id}
",
    )
}

/// Start a new epoch when the room's counter went back (a failover to a
/// replica that had not seen every write): KEYS epoch, seq, stream; ARGV
/// the epoch seen, the new one. Offsets would otherwise be handed out a
/// second time. Only the first server to notice renews it; returns the
/// epoch in force.
pub(crate) fn renew_script() -> Script {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], 0)
  redis.call('DEL', KEYS[3])
end
return redis.call('GET', KEYS[1])
",
    )
}

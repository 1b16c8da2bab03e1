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

/// Where to resume a room after offset `s`: KEYS epoch, seq, stream; ARGV
/// candidate epoch, `s`. Returns `{epoch, last offset, the stream id of the
/// last entry whose offset is at most s, or 0-0 when there is none}`:
/// reading after that id gives the entries after `s` that the history
/// still holds.
///
/// Offsets grow with stream ids, so the entry is found by a binary search
/// on the ids' milliseconds (one `XRANGE … COUNT 1` a step, some 40 at
/// most) and a scan of the entries of that one millisecond: the script
/// never reads the history it skips.
pub(crate) fn seek_script() -> Script {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local s = tonumber(ARGV[2])
local function n_of(entry)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == 'n' then return tonumber(f[i + 1]) end
  end
  return 0
end
local function first_from(id)
  return redis.call('XRANGE', KEYS[3], id, '+', 'COUNT', 1)[1]
end
local function ms_of(id)
  return tonumber(string.match(id, '^(%d+)'))
end
local function id_at(ms, part)
  return string.format('%.0f', ms) .. '-' .. part
end
local first = first_from('-')
if not first or n_of(first) > s then
  return {epoch, seq, '0-0'}
end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
if n_of(last) <= s then
  return {epoch, seq, last[1]}
end
-- The first entry from lo-0 has an offset <= s; the first from hi-0 has
-- one > s, or there is none. So the last entry <= s is in millisecond lo.
local lo, hi = ms_of(first[1]), ms_of(last[1]) + 1
while hi - lo > 1 do
  local mid = math.floor((lo + hi) / 2)
  local e = first_from(id_at(mid, '0'))
  if e and n_of(e) <= s then lo = mid else hi = mid end
end
local found = first[1]
local from, to = id_at(lo, '0'), id_at(lo, '18446744073709551615')
while true do
  local page = redis.call('XRANGE', KEYS[3], from, to, 'COUNT', 100)
  if #page == 0 then break end
  for _, e in ipairs(page) do
    if n_of(e) > s then return {epoch, seq, found} end
    found = e[1]
  end
  from = '(' .. page[#page][1]
end
return {epoch, seq, found}
",
    )
}

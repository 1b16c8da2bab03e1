//! The reader thread of a node: one connection to Redis, one blocking
//! XREAD over the streams of every room that has members here, delivery in
//! stream order, gap checks, and reconnection with backoff.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::thread;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::{Connection, RedisResult, Value};
use syncws::{CloseCode, Sender};

use crate::cluster::{Cursor, Inner, LocalRoom, random_bytes};
use crate::envelope::Stored;
use crate::resume::settle;
use crate::types::{Epoch, Loss, LossPolicy};

/// One message read from a room's stream.
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) binary: bool,
    pub(crate) data: Vec<u8>,
}

/// What a reported loss leaves to do once the rooms' lock is released.
enum Report {
    Close(Vec<Sender>, String),
    Call(crate::types::LossCallback, Loss, Vec<Sender>),
}

impl Report {
    fn run(self) {
        match self {
            Report::Close(senders, reason) => close_all(senders, reason),
            Report::Call(callback, loss, senders) => {
                // A callback that panics must not end the reader, which
                // would stop every room of this server without a word.
                let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    callback(&loss, &senders)
                }));
                if called.is_err() {
                    log::error!("syncws-redis: the loss callback panicked on: {loss}");
                }
            }
        }
    }
}

/// Close members with 1013 on a thread of its own: a member's close frame
/// may wait behind a full socket, and the reader must not.
fn close_all(senders: Vec<Sender>, reason: String) {
    if senders.is_empty() {
        return;
    }
    let spawned = thread::Builder::new()
        .name("syncws-redis-loss".into())
        .spawn(move || {
            for sender in senders {
                let _ = sender.send_close(CloseCode::TryAgainLater, &reason);
            }
        });
    if let Err(e) = spawned {
        log::warn!("syncws-redis: cannot start a thread to close members after a loss: {e}");
    }
}

fn random_fraction() -> f64 {
    (u64::from_be_bytes(random_bytes()) >> 11) as f64 / (1u64 << 53) as f64
}

/// Stops the cluster if the reader ends by a panic (a bug): publishing and
/// joining then fail with `Error::Stopped`, rather than members waiting for
/// deliveries that no thread makes.
struct StopOnPanic(Weak<Inner>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            if let Some(inner) = self.0.upgrade() {
                log::error!("syncws-redis: the reader thread panicked; the cluster stops");
                inner.stop();
            }
        }
    }
}

pub(crate) fn run(cluster: Weak<Inner>, woken: Receiver<()>, stop: Receiver<()>) {
    let _guard = StopOnPanic(cluster.clone());
    let mut connection: Option<Connection> = None;
    let mut failures: u32 = 0;
    let mut run_id: Option<String> = None;
    let mut connected_before = false;
    let mut batch = Batch {
        count: cluster.upgrade().map_or(1, |inner| inner.settings.batch),
    };
    loop {
        let Some(inner) = cluster.upgrade() else {
            return;
        };
        if inner.is_stopped() {
            return;
        }
        if connection.is_none() {
            match connect(&inner) {
                Ok((c, id, server)) => {
                    *crate::cluster::lock(&inner.reader_id) = Some(id);
                    if connected_before {
                        inner.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    if run_id.as_ref().is_some_and(|known| *known != server) {
                        inner
                            .counters
                            .redis_restarts
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    run_id = Some(server);
                    connected_before = true;
                    connection = Some(c);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = inner.settings.backoff.delay(failures, random_fraction());
                    log::debug!("syncws-redis: Redis unreachable ({e}); again in {delay:?}");
                    drop(inner);
                    match stop.recv_timeout(delay) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        _ => return,
                    }
                }
            }
        }
        let c = connection.as_mut().expect("connected above");
        let step = check_rooms(&inner, c).and_then(|()| read_once(&inner, c, &woken, batch.count));
        match step {
            Ok(read) => {
                failures = 0;
                batch.succeeded(read, inner.settings.batch);
            }
            Err(e) => {
                batch.failed(&e);
                log::info!("syncws-redis: lost Redis ({e}); reconnecting");
                connection = None;
                *crate::cluster::lock(&inner.reader_id) = None;
                for room in inner.rooms().values_mut() {
                    room.checked = false;
                }
                // A Redis that answers but fails (loading its AOF after a
                // restart) is not retried in a tight loop either.
                failures = failures.saturating_add(1);
                let delay = inner.settings.backoff.delay(failures, random_fraction());
                drop(inner);
                if stop.recv_timeout(delay) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            }
        }
    }
}

/// A reader's connection: its client id (for CLIENT UNBLOCK) and the
/// server's run_id.
fn connect(inner: &Inner) -> RedisResult<(Connection, i64, String)> {
    let read_timeout = inner.settings.block + inner.settings.timeout;
    let mut c = inner.open(read_timeout)?;
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c)?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut c)?;
    let run_id = info
        .lines()
        .find_map(|line| line.strip_prefix("run_id:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    Ok((c, id, run_id))
}

/// After a reconnection, check each room's epoch: the same, and the reader
/// reads on from its cursor (what it missed is in the history, or the gap
/// check reports it); new, and the loss is reported and reading starts at
/// the new epoch's beginning.
fn check_rooms(inner: &Inner, c: &mut Connection) -> RedisResult<()> {
    let unchecked: Vec<(String, crate::keys::RoomKeys, u64, Cursor)> = inner
        .rooms()
        .iter()
        .filter(|(_, room)| !room.checked)
        .map(|(name, room)| {
            (
                name.clone(),
                room.keys.clone(),
                room.generation,
                room.cursor.clone(),
            )
        })
        .collect();
    for (name, keys, generation, cursor) in unchecked {
        let mut now = inner.position_on(c, &keys)?;
        if now.epoch == cursor.epoch && now.seq < cursor.seq {
            // The counter went back under the same epoch: offsets would be
            // handed out twice. A new epoch makes it a reported loss.
            now.epoch = inner.renew_on(c, &keys, &cursor.epoch)?;
        }
        let report = {
            let mut rooms = inner.rooms();
            let Some(room) = rooms.get_mut(&name) else {
                continue;
            };
            if room.generation != generation {
                continue;
            }
            room.checked = true;
            if now.epoch == room.cursor.epoch {
                continue;
            }
            let loss = Loss::NewEpoch {
                room: name.clone(),
                old: Epoch(room.cursor.epoch.clone()),
                after: room.cursor.seq,
                new: Epoch(now.epoch.clone()),
            };
            room.cursor = Cursor {
                epoch: now.epoch,
                seq: 0,
                id: "0-0".into(),
            };
            let report = report(inner, room, loss);
            settle(&name, room);
            report
        };
        report.run();
    }
    Ok(())
}

/// Count a loss and apply the policy to the room's members here. With
/// [`LossPolicy::Close`] the members move out of the room's hub at once, so
/// that nothing after the loss reaches them before their close frame.
fn report(inner: &Inner, room: &mut LocalRoom, loss: Loss) -> Report {
    inner.counters.losses.fetch_add(1, Ordering::Relaxed);
    if let Loss::Trimmed { from, to, .. } = &loss {
        let count = to - from + 1;
        inner
            .counters
            .trimmed_messages
            .fetch_add(count, Ordering::Relaxed);
    }
    log::info!("syncws-redis: {loss}");
    match &inner.settings.loss_policy {
        LossPolicy::Close => {
            let old = std::mem::replace(&mut room.hub, inner.new_hub());
            Report::Close(old.senders(), format!("messages lost: {loss}"))
        }
        LossPolicy::Callback(callback) => Report::Call(callback.clone(), loss, room.hub.senders()),
    }
}

/// How many entries an XREAD asks for. A reply Redis cannot hold in the
/// reader's output buffer (`client-output-buffer-limit`, when set for
/// normal clients: large messages in a burst) makes Redis close the
/// connection, and the same XREAD would be closed again forever: the room
/// would stall with no word. So a failed read divides the count by 4
/// (down to 1), and each full reply doubles it back towards the setting.
struct Batch {
    count: usize,
}

impl Batch {
    fn failed(&mut self, e: &redis::RedisError) {
        if self.count == 1 {
            log::warn!(
                "syncws-redis: a read of one entry per room failed ({e}); if Redis's \
                 client-output-buffer-limit for normal clients is below one message per \
                 room, this server's rooms stall until it is raised"
            );
        } else {
            self.count = (self.count / 4).max(1);
            log::info!(
                "syncws-redis: a read failed ({e}); reading {} entries at a time \
                 (a client-output-buffer-limit below the replies?)",
                self.count
            );
        }
    }

    fn succeeded(&mut self, read: usize, setting: usize) {
        if read >= self.count {
            self.count = (self.count * 2).min(setting);
        }
    }
}

/// One XREAD over every room with members here, and delivery of what it
/// returns (how many entries); or a wait for a room to be joined when
/// there is none.
fn read_once(
    inner: &Inner,
    c: &mut Connection,
    woken: &Receiver<()>,
    batch: usize,
) -> RedisResult<usize> {
    let reading: Vec<(String, String, String, u64)> = {
        let mut rooms = inner.rooms();
        rooms.retain(|_, room| !room.hub.is_empty() || !room.waiting.is_empty() || room.held > 0);
        rooms
            .iter()
            .filter(|(_, room)| room.held == 0)
            .map(|(name, room)| {
                (
                    name.clone(),
                    room.keys.stream.clone(),
                    room.cursor.id.clone(),
                    room.generation,
                )
            })
            .collect()
    };
    if reading.is_empty() {
        let _ = woken.recv_timeout(inner.settings.block);
        return Ok(0);
    }
    let _ = woken.try_recv();
    let mut xread = redis::cmd("XREAD");
    xread
        .arg("COUNT")
        .arg(batch)
        .arg("BLOCK")
        .arg(inner.settings.block.as_millis() as u64)
        .arg("STREAMS");
    for (_, stream, _, _) in &reading {
        xread.arg(stream);
    }
    for (_, _, id, _) in &reading {
        xread.arg(id);
    }
    let reply: Value = xread.query(c)?;
    let mut read = 0;
    for (stream, entries) in parse_xread(reply) {
        read = read.max(entries.len());
        if let Some((name, _, _, generation)) = reading.iter().find(|r| r.1 == stream) {
            deliver(inner, name, *generation, &entries);
        }
    }
    Ok(read)
}

/// Hand a room's entries to its members in order. An offset that is not
/// the one after the last delivered is a gap (the history was trimmed
/// before it was read): reported before the entry after it is delivered.
fn deliver(inner: &Inner, name: &str, generation: u64, entries: &[Entry]) {
    let mut next = 0;
    while next < entries.len() {
        let report = {
            let mut rooms = inner.rooms();
            let Some(room) = rooms.get_mut(name) else {
                return;
            };
            // Held by a resuming member catching up: read again later.
            if room.generation != generation || room.held > 0 {
                return;
            }
            let mut loss = None;
            while let Some(entry) = entries.get(next) {
                if entry.seq <= room.cursor.seq {
                    next += 1;
                    continue;
                }
                if entry.seq > room.cursor.seq + 1 {
                    loss = Some(Loss::Trimmed {
                        room: name.to_owned(),
                        epoch: Epoch(room.cursor.epoch.clone()),
                        from: room.cursor.seq + 1,
                        to: entry.seq - 1,
                    });
                    room.cursor.seq = entry.seq - 1;
                    break;
                }
                let stored = Stored {
                    room: name,
                    epoch: &room.cursor.epoch,
                    seq: entry.seq,
                    binary: entry.binary,
                    data: &entry.data,
                };
                // Counted first: a member that has the message sees it in
                // the stats too (tests/cluster.rs checks both at once).
                inner.counters.delivered.fetch_add(1, Ordering::Relaxed);
                inner.settings.envelope.broadcast(&room.hub, &stored);
                room.cursor.seq = entry.seq;
                room.cursor.id.clone_from(&entry.id);
                // A member resuming at this offset joins before the next.
                settle(name, room);
                next += 1;
            }
            let report = loss.map(|loss| report(inner, room, loss));
            // After the report: a member waiting at the offset the cursor
            // jumped to has lost nothing, and joins the room's new hub.
            settle(name, room);
            report
        };
        if let Some(report) = report {
            report.run();
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// XREAD's reply (RESP2): `[[stream, [[id, [field, value, …]], …]], …]`,
/// or nil when the block ran out.
fn parse_xread(reply: Value) -> Vec<(String, Vec<Entry>)> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let (Some(key), Some(Value::Array(items))) = (pair.first().and_then(text), pair.get(1))
        else {
            continue;
        };
        let entries = items.iter().filter_map(parse_entry).collect();
        out.push((key, entries));
    }
    out
}

pub(crate) fn parse_entry(item: &Value) -> Option<Entry> {
    let Value::Array(pair) = item else {
        return None;
    };
    let id = text(pair.first()?)?;
    let Value::Array(fields) = pair.get(1)? else {
        return None;
    };
    let mut entry = Entry {
        id,
        seq: 0,
        binary: false,
        data: Vec::new(),
    };
    for field in fields.chunks(2) {
        let [name, value] = field else { continue };
        match (text(name)?.as_str(), value) {
            ("n", v) => entry.seq = text(v)?.parse().ok()?,
            ("k", v) => entry.binary = text(v)? == "b",
            ("d", Value::BulkString(data)) => entry.data.clone_from(data),
            _ => {}
        }
    }
    (entry.seq > 0).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn an_xread_reply_gives_each_entry_its_offset_kind_and_data() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("ns:{a}:stream"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![
                        bulk("n"),
                        bulk("7"),
                        bulk("k"),
                        bulk("t"),
                        bulk("d"),
                        bulk("hi"),
                    ]),
                ]),
                Value::Array(vec![
                    bulk("2-0"),
                    Value::Array(vec![
                        bulk("n"),
                        bulk("8"),
                        bulk("k"),
                        bulk("b"),
                        bulk("d"),
                        bulk("\u{1}"),
                    ]),
                ]),
            ]),
        ])]);
        let parsed = parse_xread(reply);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].0, "ns:{a}:stream");
        let entries = &parsed[0].1;
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(entries[0].data, b"hi");
        assert!(!entries[0].binary && entries[1].binary);
        assert_eq!(entries[1].id, "2-0");
    }

    #[test]
    fn failed_reads_shrink_the_batch_to_one_and_full_replies_grow_it_back() {
        let e = redis::RedisError::from(std::io::Error::other("closed"));
        let mut batch = Batch { count: 512 };
        let mut counts = Vec::new();
        for _ in 0..6 {
            batch.failed(&e);
            counts.push(batch.count);
        }
        assert_eq!(counts, [128, 32, 8, 2, 1, 1]);
        // A reply that is not full leaves it; full ones double it, up to
        // the setting.
        batch.succeeded(0, 512);
        assert_eq!(batch.count, 1);
        let mut counts = Vec::new();
        for _ in 0..11 {
            batch.succeeded(batch.count, 512);
            counts.push(batch.count);
        }
        assert_eq!(counts, [2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512]);
    }

    #[test]
    fn a_block_that_ran_out_reads_nothing() {
        assert!(parse_xread(Value::Nil).is_empty());
    }
}

//! Resuming a member on any server from the offset of the last message it
//! received: what it missed is sent from the room's history, in order,
//! then it joins the room's hub at the very offset it was sent up to, so
//! that live messages follow with no hole and no repeat; or it is told it
//! cannot ([`Error::Lost`]).
//!
//! The history is replayed to the member by the calling thread, with no
//! lock held, to the stream's end. Then, with the rooms locked (the reader
//! delivers under the same lock): if no member here reads the room yet, it
//! is read from there on; if the reader is at that offset, the member
//! joins now; if it is behind (the usual case: the replay read what the
//! reader had yet to deliver), the member waits in the room's `waiting`
//! list, and the reader joins it right after delivering that offset
//! (`settle`); if the reader went past it meanwhile, the replay goes on.

use crossbeam_channel::RecvTimeoutError;
use redis::{Connection, RedisResult, Value};
use syncws::{Message, Sender};

use crate::cluster::{Cursor, Inner, LocalRoom, Room, RoomMembership, greet, random_bytes};
use crate::envelope::Stored;
use crate::error::{Error, Result};
use crate::reader::parse_entry;
use crate::types::{Epoch, Loss, Offset, hex};

/// Pages (of the reader's batch size) one replay reads at most: the
/// history up to where it must go, then on towards the stream's end, which
/// a room published to faster than it can be read never has; the next
/// round goes on.
const REPLAY_PAGES: usize = 64;

/// A member that waits for this server's reader to reach its offset.
pub(crate) struct Waiting {
    token: u64,
    epoch: String,
    after: u64,
    sender: Sender,
    reply: crossbeam_channel::Sender<Result<syncws::Membership>>,
}

/// Join the waiting members of `room` whose offset the reader has just
/// reached; refuse those it passed (a loss jumped over their offset) or
/// whose epoch ended. The reader calls it after each change of the cursor,
/// with the rooms locked.
pub(crate) fn settle(name: &str, room: &mut LocalRoom) {
    if room.waiting.is_empty() {
        return;
    }
    let cursor = &room.cursor;
    let hub = &room.hub;
    room.waiting.retain(|w| {
        let answer = if w.epoch != cursor.epoch {
            Err(Error::Lost(Loss::NewEpoch {
                room: name.to_owned(),
                old: Epoch(w.epoch.clone()),
                after: w.after,
                new: Epoch(cursor.epoch.clone()),
            }))
        } else if w.after == cursor.seq {
            hub.join(w.sender.clone()).map_err(Error::Join)
        } else if w.after < cursor.seq {
            Err(Error::Lost(Loss::Trimmed {
                room: name.to_owned(),
                epoch: Epoch(cursor.epoch.clone()),
                from: w.after + 1,
                to: cursor.seq,
            }))
        } else {
            return true;
        };
        let _ = w.reply.try_send(answer);
        false
    });
}

/// Where a resuming member stands against the room's reader.
enum Met {
    Joined(syncws::Membership),
    Waiting(u64, crossbeam_channel::Receiver<Result<syncws::Membership>>),
    Behind(Sender),
}

/// A room's reader held while a resuming member catches up; released
/// (and the reader woken) when dropped, the replay's error included.
struct Hold<'a> {
    inner: &'a Inner,
    name: &'a str,
    generation: u64,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if let Some(room) = self.inner.rooms().get_mut(self.name) {
            if room.generation == self.generation {
                room.held -= 1;
            }
        }
        self.inner.wake_reader();
    }
}

/// What the seek script found.
struct Seek {
    epoch: String,
    seq: u64,
    /// The stream id to read after.
    start: String,
}

impl Room {
    /// Make a connection of this server a member from the message after
    /// `after`: typically the offset of the last message it received,
    /// perhaps on another server, before it reconnected here. What it
    /// missed is sent to it first, from the room's history, in order;
    /// then it receives the room's messages as [`join`](Self::join)'s
    /// members do, with no hole and no repeat in between.
    ///
    /// ```no_run
    /// use syncws::Server;
    /// use syncws_redis::{Cluster, Offset};
    ///
    /// let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
    /// let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
    ///     let room = cluster.room("lobby");
    ///     // The client says where it was: `?after=EPOCH:SEQ`.
    ///     let after = ws.request().and_then(|r| r.query()?.strip_prefix("after=")?.parse().ok());
    ///     let joined = match &after {
    ///         Some(offset) => room.join_after(ws.sender(), offset),
    ///         None => room.join(ws.sender()),
    ///     };
    ///     let Ok(_membership) = joined else { return };
    ///     let _ = ws.run_with(|_| Ok(()));
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Lost`] when the member cannot resume there: the history no
    /// longer holds the message after `after` (trimmed by the caps), or the
    /// room's epoch is no longer `after`'s (Redis lost the room). What the
    /// history held before the loss has been sent; the member is not in
    /// the room (it may [`join`](Self::join) afresh).
    /// [`Error::InvalidOffset`] for an offset the room has not reached in
    /// its epoch. [`Error::Unavailable`] when Redis cannot be reached, or
    /// this server's reader does not reach the offset within the cluster's
    /// timeout. [`Error::Join`] when the member's connection fails while
    /// the history is sent to it, or its writer cannot start;
    /// [`Error::Stopped`].
    pub fn join_after(&self, sender: Sender, after: &Offset) -> Result<RoomMembership> {
        self.resume(sender, after, |_| None)
    }

    pub(crate) fn resume<G>(
        &self,
        sender: Sender,
        after: &Offset,
        greeting: G,
    ) -> Result<RoomMembership>
    where
        G: FnOnce(&Offset) -> Option<Message>,
    {
        let inner = &self.cluster.inner;
        inner.check_running()?;
        let seek = inner.with_connection(|c| seek_on(inner, c, self, after.seq))?;
        if seek.epoch != after.epoch.as_str() {
            return Err(Error::Lost(Loss::NewEpoch {
                room: self.name.clone(),
                old: after.epoch.clone(),
                after: after.seq,
                new: Epoch(seek.epoch),
            }));
        }
        if after.seq > seek.seq {
            return Err(Error::InvalidOffset(format!(
                "room {} is at {}:{}, not yet at {after}",
                self.name, seek.epoch, seek.seq
            )));
        }
        greet(&sender, greeting(after))?;
        let mut sent = Cursor {
            epoch: seek.epoch,
            seq: after.seq,
            id: seek.start,
        };
        self.replay(&sender, &mut sent, seek.seq, None)?;
        let (generation, need, sender) = {
            let mut rooms = inner.rooms();
            let Some(room) = rooms.get_mut(&self.name) else {
                // No member here: the room is read from where the member
                // was sent up to. Its epoch is checked by the reader first.
                let room = rooms
                    .entry(self.name.clone())
                    .or_insert_with(|| inner.new_room(&self.keys, sent.clone(), false));
                let joined = room.hub.join(sender);
                drop(rooms);
                inner.wake_reader();
                return self.member(joined, sent.offset());
            };
            match self.meet(room, sender, &sent)? {
                Met::Joined(joined) => return self.member(Ok(joined), sent.offset()),
                Met::Waiting(token, replied) => {
                    drop(rooms);
                    return self.wait(token, &replied, sent.offset());
                }
                Met::Behind(sender) => {
                    // The reader delivered past the stream's end as the
                    // replay saw it (what was published meanwhile): it
                    // holds this room while the replay catches up.
                    room.held += 1;
                    (room.generation, room.cursor.seq, sender)
                }
            }
        };
        let hold = Hold {
            inner,
            name: &self.name,
            generation,
        };
        self.replay(&sender, &mut sent, need, Some(need))?;
        let mut rooms = inner.rooms();
        let met = match rooms.get_mut(&self.name) {
            Some(room) if room.generation == generation => {
                // Released and met under one lock, so that the reader
                // cannot go on in between; the guard has nothing left to do.
                room.held -= 1;
                std::mem::forget(hold);
                self.meet(room, sender, &sent)
            }
            _ => Err(unavailable("the room was dropped during the replay")),
        };
        drop(rooms);
        inner.wake_reader();
        match met? {
            Met::Joined(joined) => self.member(Ok(joined), sent.offset()),
            Met::Waiting(token, replied) => self.wait(token, &replied, sent.offset()),
            Met::Behind(_) => Err(unavailable("the held reader went on")),
        }
    }

    /// With the rooms locked, the member sent up to `sent` meets the
    /// room's reader: at the same offset, it joins; ahead, it waits for
    /// the reader; behind, it is handed back, to be sent more.
    fn meet(&self, room: &mut LocalRoom, sender: Sender, sent: &Cursor) -> Result<Met> {
        if room.cursor.epoch != sent.epoch {
            return Err(Error::Lost(Loss::NewEpoch {
                room: self.name.clone(),
                old: Epoch(sent.epoch.clone()),
                after: sent.seq,
                new: Epoch(room.cursor.epoch.clone()),
            }));
        }
        if room.cursor.seq == sent.seq {
            return room.hub.join(sender).map(Met::Joined).map_err(Error::Join);
        }
        if room.cursor.seq > sent.seq {
            return Ok(Met::Behind(sender));
        }
        let token = u64::from_be_bytes(random_bytes());
        let (reply, replied) = crossbeam_channel::bounded(1);
        room.waiting.push(Waiting {
            token,
            epoch: sent.epoch.clone(),
            after: sent.seq,
            sender,
            reply,
        });
        Ok(Met::Waiting(token, replied))
    }

    /// Send the room's history after `sent` to `sender`, through the
    /// cluster's envelope, at least up to offset `need` (what is missing
    /// below it is a loss) and on to `limit` or the stream's end (a page
    /// that is not full; a bounded number of pages): ahead of this server's
    /// reader, which delivers what is published meanwhile, if it can.
    /// `sent` follows.
    fn replay(
        &self,
        sender: &Sender,
        sent: &mut Cursor,
        need: u64,
        limit: Option<u64>,
    ) -> Result<()> {
        let inner = &self.cluster.inner;
        let batch = inner.settings.batch;
        for _ in 0..REPLAY_PAGES {
            let start = format!("({}", sent.id);
            let page: Value = inner.with_connection(|c| {
                redis::cmd("XRANGE")
                    .arg(&self.keys.stream)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(batch)
                    .query(c)
            })?;
            let entries: Vec<_> = match &page {
                Value::Array(items) => items.iter().filter_map(parse_entry).collect(),
                _ => Vec::new(),
            };
            if entries.is_empty() && sent.seq < need {
                return Err(self.trimmed(sent, need));
            }
            let upto = limit.unwrap_or(u64::MAX);
            for entry in entries.iter().take_while(|e| e.seq <= upto) {
                if entry.seq != sent.seq + 1 {
                    return Err(self.trimmed(sent, entry.seq - 1));
                }
                let stored = Stored {
                    room: &self.name,
                    epoch: &sent.epoch,
                    seq: entry.seq,
                    binary: entry.binary,
                    data: &entry.data,
                };
                inner
                    .settings
                    .envelope
                    .send(sender, &stored)
                    .map_err(Error::Join)?;
                sent.seq = entry.seq;
                sent.id.clone_from(&entry.id);
            }
            let at_end = entries.len() < batch || sent.seq >= upto;
            if at_end && sent.seq >= need {
                break;
            }
        }
        Ok(())
    }

    fn trimmed(&self, sent: &Cursor, to: u64) -> Error {
        Error::Lost(Loss::Trimmed {
            room: self.name.clone(),
            epoch: Epoch(sent.epoch.clone()),
            from: sent.seq + 1,
            to,
        })
    }

    /// Wait for the reader to join the member (or refuse it), within the
    /// cluster's timeout.
    fn wait(
        &self,
        token: u64,
        replied: &crossbeam_channel::Receiver<Result<syncws::Membership>>,
        after: Offset,
    ) -> Result<RoomMembership> {
        let inner = &self.cluster.inner;
        let timeout = inner.settings.timeout + inner.settings.block;
        let answer = match replied.recv_timeout(timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                let removed = inner.rooms().get_mut(&self.name).is_some_and(|room| {
                    let before = room.waiting.len();
                    room.waiting.retain(|w| w.token != token);
                    room.waiting.len() < before
                });
                match replied.try_recv() {
                    Ok(answer) if !removed => answer,
                    _ => Err(unavailable(
                        "this server's reader did not reach the offset in time",
                    )),
                }
            }
        };
        self.member(Ok(answer?), after)
    }
}

fn unavailable(why: &str) -> Error {
    let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, why.to_owned());
    Error::Unavailable(redis::RedisError::from(timed_out))
}

fn seek_on(inner: &Inner, c: &mut Connection, room: &Room, after: u64) -> RedisResult<Seek> {
    let (epoch, seq, start): (String, u64, String) = inner
        .seek
        .key(&room.keys.epoch)
        .key(&room.keys.seq)
        .key(&room.keys.stream)
        .arg(hex(&random_bytes()))
        .arg(after)
        .invoke(c)?;
    Ok(Seek { epoch, seq, start })
}

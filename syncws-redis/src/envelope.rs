//! What a member receives for each stored message: the message as it was
//! published (the default), or what the application's envelope makes of
//! it, its room and its offset. One envelope per cluster, applied once per
//! message and server (the result is shared by the room's members here),
//! to what is read live and to what a resuming member is sent from the
//! history alike, so both look the same.

use std::fmt;
use std::sync::Arc;

use syncws::{Hub, Message, MessageRef, Sender};

use crate::types::{Epoch, Offset};

/// A stored message on its way to this server's members.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Delivery<'a> {
    /// The room's name.
    pub room: &'a str,
    /// The message's offset in the room.
    pub offset: &'a Offset,
    /// The message as it was published.
    pub message: MessageRef<'a>,
}

/// A function that makes what members receive from a [`Delivery`]; see
/// [`ClusterBuilder::envelope`](crate::ClusterBuilder::envelope).
pub type Envelope = Arc<dyn Fn(&Delivery<'_>) -> Message + Send + Sync>;

/// The cluster's envelope, if it has one.
#[derive(Clone, Default)]
pub(crate) struct Wrapping(pub(crate) Option<Envelope>);

impl fmt::Debug for Wrapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// A message as stored: its kind, its bytes.
pub(crate) struct Stored<'a> {
    pub(crate) room: &'a str,
    pub(crate) epoch: &'a str,
    pub(crate) seq: u64,
    pub(crate) binary: bool,
    pub(crate) data: &'a [u8],
}

impl Stored<'_> {
    fn message(&self) -> MessageRef<'_> {
        match std::str::from_utf8(self.data) {
            Ok(text) if !self.binary => MessageRef::Text(text),
            _ => MessageRef::Binary(self.data),
        }
    }

    /// The envelope's message, or None without an envelope.
    fn wrapped(&self, wrapping: &Wrapping) -> Option<Message> {
        let envelope = wrapping.0.as_ref()?;
        let offset = Offset {
            epoch: Epoch(self.epoch.to_owned()),
            seq: self.seq,
        };
        Some(envelope(&Delivery {
            room: self.room,
            offset: &offset,
            message: self.message(),
        }))
    }
}

impl Wrapping {
    /// Broadcast a stored message to a room's hub, in its envelope.
    pub(crate) fn broadcast(&self, hub: &Hub, stored: &Stored<'_>) {
        match stored.wrapped(self) {
            Some(message) => hub.broadcast(&message),
            None => hub.broadcast(stored.message()),
        };
    }

    /// Send a stored message to one member, in its envelope (a member
    /// resuming from the history).
    pub(crate) fn send(&self, sender: &Sender, stored: &Stored<'_>) -> syncws::Result<()> {
        match stored.wrapped(self) {
            Some(message) => sender.send_message(&message),
            None => sender.send_message(stored.message()),
        }
    }
}

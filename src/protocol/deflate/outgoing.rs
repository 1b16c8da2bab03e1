//! The sending side of a connection's permessage-deflate: which messages
//! are compressed, the payloads of their frames, and when the compressor
//! has been idle long enough to hibernate.

use std::time::{Duration, Instant};

use super::{Compressor, Settings};
use crate::protocol::Role;
use crate::protocol::error::Error;
use crate::protocol::extension::permessage_deflate::Negotiated;

/// The compressed payloads' buffer is kept between messages up to this.
const KEEP_BUFFER: usize = 64 << 10;

/// One connection's compressor with its threshold and idle time, and the
/// buffer its frames' payloads are compressed into.
#[derive(Debug)]
pub(crate) struct Outgoing {
    compressor: Compressor,
    threshold: usize,
    hibernate_after: Duration,
    /// When the compressor last ran, while its context lives.
    last_use: Option<Instant>,
    /// The compressed payloads of the message being sent, one after the
    /// other; `ends[i]` is where frame `i`'s ends.
    payloads: Vec<u8>,
    ends: Vec<usize>,
}

impl Outgoing {
    pub(crate) fn new(negotiated: &Negotiated, role: Role) -> Outgoing {
        Outgoing {
            compressor: Compressor::new(Settings::outgoing(negotiated, role)),
            threshold: negotiated.config.get_threshold(),
            hibernate_after: negotiated.config.get_hibernate_after(),
            last_use: None,
            payloads: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The shortest message compressed.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
    }

    /// The compressor's settings (window and context takeover as agreed).
    pub(crate) fn settings(&self) -> Settings {
        self.compressor.settings()
    }

    /// Compress a message given as `pieces`, one frame each, at `now`;
    /// returns the frames' payloads, in order. Nothing is kept of a
    /// message that fails (memory only): the caller queues nothing.
    pub(crate) fn compress(
        &mut self,
        pieces: &[&[u8]],
        now: Instant,
    ) -> Result<impl Iterator<Item = &[u8]>, Error> {
        self.payloads.clear();
        self.ends.clear();
        self.last_use = Some(now);
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            self.compressor
                .compress_piece(piece, last, &mut self.payloads)?;
            self.ends.push(self.payloads.len());
        }
        if pieces.is_empty() {
            self.compressor.compress(b"", &mut self.payloads)?;
            self.ends.push(self.payloads.len());
        }
        let payloads = &self.payloads;
        Ok(std::iter::once(0)
            .chain(self.ends.iter().copied())
            .zip(self.ends.iter().copied())
            .map(move |(start, end)| &payloads[start..end]))
    }

    /// After a message was queued: a buffer a large message grew is given
    /// back, so that an idle connection that once sent one does not keep
    /// its memory until it hibernates.
    pub(crate) fn sent(&mut self) {
        if self.payloads.capacity() > KEEP_BUFFER {
            self.payloads = Vec::new();
        }
    }

    /// A message compressed elsewhere (a broadcast) went out between ours
    /// (see [`Compressor::sent_elsewhere`]).
    pub(crate) fn sent_elsewhere(&mut self, message: &[u8]) -> Result<(), Error> {
        self.compressor.sent_elsewhere(message)
    }

    /// Hibernate if the compressor has been idle long enough at `now`;
    /// otherwise when to ask again (`None`: nothing to hibernate).
    pub(crate) fn hibernate_if_idle(&mut self, now: Instant) -> Option<Instant> {
        let due = self.last_use? + self.hibernate_after;
        if now < due {
            return Some(due);
        }
        self.compressor.hibernate();
        self.last_use = None;
        // A large message's buffers go too.
        self.payloads = Vec::new();
        self.ends = Vec::new();
        None
    }

    /// When the compressor will have been idle long enough, if its context
    /// lives.
    pub(crate) fn hibernation_due(&self) -> Option<Instant> {
        self.last_use.map(|last| last + self.hibernate_after)
    }
}

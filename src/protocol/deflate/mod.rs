//! The permessage-deflate codec (RFC 7692 §7), one direction at a time:
//! a [`Compressor`] for the messages an end sends, a [`Decompressor`] for
//! those it receives, and a [`Codec`] holding both with the idle time after
//! which they hibernate. Sans-I/O: bytes in, bytes out, time as an
//! argument. The negotiation (which [`Settings`] each direction gets) and
//! the framing (RSV1) are not here.
//!
//! - **Tail**: a compressed payload is raw deflate, sync-flushed, without
//!   its trailing `00 00 ff ff` (§7.2.1); the decompressor appends it again
//!   (§7.2.2) and also takes a message that ends with a final block.
//! - **Context takeover**: with it, each message may refer back to the ones
//!   before it, within `2^window_bits` bytes; without it, each stands alone.
//! - **Window 8**: zlib does not compress with a raw 8-bit window; 9 is used,
//!   whose matches never reach back more than 250 bytes (see the tests).
//! - **The limit**: the decompressor inflates within `max_message_size`,
//!   counted across a message's fragments, as the output grows.
//! - **Memory**: zlib contexts are made by the first message; hibernating
//!   drops them and keeps only the window (the last `2^window_bits` bytes
//!   sent or received, or fewer if fewer went by), from which the next
//!   message rebuilds them (`set_dictionary`) without losing compression.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use syncws::protocol::deflate::{Codec, Settings};
//!
//! // Both ends with the defaults: window 15, context takeover, level 6,
//! // memory level 4.
//! let mut client = Codec::new(Settings::default(), Settings::default(), 1 << 20);
//! let mut server = Codec::new(Settings::default(), Settings::default(), 1 << 20);
//! let now = Instant::now();
//! let chat = br#"{"type":"chat","room":"general","text":"hello, hello"}"#;
//! let mut payload = Vec::new();
//! client.compress(chat, now, &mut payload)?;
//! assert_eq!(server.decompress(&payload, true, now)?.as_deref(), Some(&chat[..]));
//!
//! // Idle for 5 s: the zlib contexts go, the windows stay.
//! assert!(client.hibernate_if_idle(now + Duration::from_secs(5), Duration::from_secs(5)));
//! assert!(!client.compressor().has_context());
//! payload.clear();
//! client.compress(chat, now + Duration::from_secs(6), &mut payload)?;
//! assert!(payload.len() < 20, "refers back to the first message");
//! assert_eq!(server.decompress(&payload, true, now)?.as_deref(), Some(&chat[..]));
//! # Ok::<(), syncws::protocol::Error>(())
//! ```

mod compressor;
mod decompressor;
mod outgoing;
mod window;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use compressor::Compressor;
pub use decompressor::Decompressor;
pub(crate) use outgoing::Outgoing;

use crate::protocol::Role;
use crate::protocol::error::Error;
use crate::protocol::extension::permessage_deflate::Negotiated;

/// The four octets a sync flush ends with, removed from each message's
/// payload and appended again to inflate it (RFC 7692 §7.2.1, §7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the codec needs for one direction of a connection; the negotiated
/// parameters (RFC 7692 §7.1) map onto it. Values out of range are taken
/// as the nearest in range.
///
/// ```
/// use syncws::protocol::deflate::Settings;
///
/// let mut settings = Settings::default();
/// assert_eq!((settings.window_bits, settings.context_takeover), (15, true));
/// settings.window_bits = 10; // `client_max_window_bits=10`, say
/// settings.context_takeover = false; // `client_no_context_takeover`
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The base-2 logarithm of the LZ77 window, 8 to 15 (§7.1.2).
    pub window_bits: u8,
    /// Whether a message may refer back to the ones before it (§7.1.1).
    pub context_takeover: bool,
    /// zlib's compression level, 0 (none) to 9 (best); 6 by default.
    /// Compression only.
    pub level: u8,
    /// zlib's memory level, 1 to 9; 4 by default (zlib's is 8): the
    /// buffer of a block's symbols is `2^(mem_level + 6)` entries (3 bytes
    /// each, and 4 of output), which zlib-rs zeroes at every block, so for
    /// a 200-byte chat message 8 costs twice the instructions of 4 (87,000
    /// against 41,000 per compress + decompress) for the same bytes, and
    /// 4 compresses a 64 KiB JSON document as well (10,197 bytes against
    /// 10,406), with 100 KiB less while the context lives. Compression
    /// only.
    pub mem_level: u8,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            window_bits: 15,
            context_takeover: true,
            level: 6,
            mem_level: 4,
        }
    }
}

impl Settings {
    /// What this end compresses with, as the handshake agreed: the agreed
    /// window and context takeover of the direction it sends, its own
    /// level.
    pub fn outgoing(negotiated: &Negotiated, role: Role) -> Settings {
        let params = negotiated.params.outgoing(role);
        Settings {
            window_bits: params.window_bits,
            context_takeover: params.context_takeover,
            level: negotiated.config.get_level(),
            ..Settings::default()
        }
    }

    /// What this end inflates with, as the handshake agreed.
    pub fn incoming(negotiated: &Negotiated, role: Role) -> Settings {
        let params = negotiated.params.incoming(role);
        Settings {
            window_bits: params.window_bits,
            context_takeover: params.context_takeover,
            ..Settings::default()
        }
    }

    fn clamped(self) -> Settings {
        Settings {
            window_bits: self.window_bits.clamp(8, 15),
            context_takeover: self.context_takeover,
            level: self.level.min(9),
            mem_level: self.mem_level.clamp(1, 9),
        }
    }
}

/// Both directions of one connection's permessage-deflate, with the time
/// of its last message, for [`hibernate_if_idle`](Codec::hibernate_if_idle).
/// See the [module](self) for an example.
#[derive(Debug)]
pub struct Codec {
    compressor: Compressor,
    decompressor: Decompressor,
    last_traffic: Option<Instant>,
    hibernating: bool,
}

impl Codec {
    /// A codec that compresses with `send` and decompresses with `receive`,
    /// whose messages inflate to at most `max_message_size` bytes. Nothing
    /// is allocated until the first message.
    pub fn new(send: Settings, receive: Settings, max_message_size: usize) -> Codec {
        Codec {
            compressor: Compressor::new(send),
            decompressor: Decompressor::new(receive, max_message_size),
            last_traffic: None,
            hibernating: false,
        }
    }

    /// Compress a whole message at `now` (see [`Compressor::compress`]).
    pub fn compress(
        &mut self,
        message: &[u8],
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.traffic(now);
        self.compressor.compress(message, out)
    }

    /// Inflate the next fragment of a message at `now` (see
    /// [`Decompressor::decompress`]).
    pub fn decompress(
        &mut self,
        fragment: &[u8],
        last: bool,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.traffic(now);
        self.decompressor.decompress(fragment, last)
    }

    /// The compressor, for messages sent in pieces; call
    /// [`traffic`](Codec::traffic) with them.
    pub fn compressor(&mut self) -> &mut Compressor {
        &mut self.compressor
    }

    /// The decompressor; call [`traffic`](Codec::traffic) with what it
    /// is given.
    pub fn decompressor(&mut self) -> &mut Decompressor {
        &mut self.decompressor
    }

    /// A message went through at `now`.
    pub fn traffic(&mut self, now: Instant) {
        self.last_traffic = Some(now);
        self.hibernating = false;
    }

    /// Hibernate (drop both zlib contexts, keep the windows) if no message
    /// went through for `idle` before `now`; true if it did so now.
    pub fn hibernate_if_idle(&mut self, now: Instant, idle: Duration) -> bool {
        let idle_long_enough = self
            .last_traffic
            .is_some_and(|last| now.saturating_duration_since(last) >= idle);
        if self.hibernating || !idle_long_enough {
            return false;
        }
        self.hibernate();
        true
    }

    /// Drop both zlib contexts now, keeping the windows (a no-op for a
    /// direction with a message half done).
    pub fn hibernate(&mut self) {
        self.compressor.hibernate();
        self.decompressor.hibernate();
        self.hibernating = true;
    }

    /// When the hibernation is due, for a driver's timer: `idle` after the
    /// last message, or `None` if there was none or it hibernates already.
    pub fn hibernation_due(&self, idle: Duration) -> Option<Instant> {
        match self.hibernating {
            true => None,
            false => self.last_traffic.map(|last| last + idle),
        }
    }
}

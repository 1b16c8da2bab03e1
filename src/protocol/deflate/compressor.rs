//! Compressing the messages one end sends (RFC 7692 §7.2.1).

use zlib_rs::{DeflateConfig, DeflateFlush, Method, Strategy};

use super::window::{Window, out_of_memory};
use super::{Settings, TAIL};
use crate::protocol::error::Error;

/// Compresses one direction's messages into permessage-deflate payloads:
/// raw deflate, sync-flushed at the end of each message with the trailing
/// `00 00 ff ff` removed (§7.2.1).
///
/// The zlib context is created by the first message, not by `new`; with
/// context takeover it is kept between messages (later messages refer back
/// to earlier ones), without it the context is reset after each one.
/// [`hibernate`](Compressor::hibernate) drops the context and keeps only
/// the window, from which the next message rebuilds it.
///
/// ```
/// use syncws::protocol::deflate::{Compressor, Decompressor, Settings};
///
/// let mut compressor = Compressor::new(Settings::default());
/// let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
/// let mut payload = Vec::new();
/// compressor.compress(b"hello hello hello hello", &mut payload)?;
/// assert!(payload.len() < 23);
/// let message = decompressor.decompress(&payload, true)?;
/// assert_eq!(message.as_deref(), Some(&b"hello hello hello hello"[..]));
/// # Ok::<(), syncws::protocol::Error>(())
/// ```
pub struct Compressor {
    settings: Settings,
    deflate: Option<zlib_rs::Deflate>,
    /// What the next context starts from, with context takeover.
    window: Window,
    /// A message given in pieces is not finished: zlib holds some of it.
    in_message: bool,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("settings", &self.settings)
            .field("has_context", &self.deflate.is_some())
            .field("window", &self.window.heap_bytes())
            .finish()
    }
}

impl Compressor {
    /// A compressor with `settings` (see [`Settings`] for how values out of
    /// range are taken). It allocates nothing until the first message.
    pub fn new(settings: Settings) -> Compressor {
        let settings = settings.clamped();
        Compressor {
            window: Window::new(settings.window_bits),
            settings,
            deflate: None,
            in_message: false,
        }
    }

    /// The settings in use (after clamping).
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Compress a whole message, appending its payload to `out`.
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.compress_piece(message, true, out)
    }

    /// Compress the next piece of a message sent in fragments, appending
    /// what it yields to `out`: the payload of the next frame (the first
    /// with RSV1 set, §6.1). A piece that is not `last` may yield no bytes
    /// (zlib keeps them for later: an empty frame is fine); the `last` one
    /// flushes everything and removes the tail.
    ///
    /// ```
    /// use syncws::protocol::deflate::{Compressor, Decompressor, Settings};
    ///
    /// let mut compressor = Compressor::new(Settings::default());
    /// let mut decompressor = Decompressor::new(Settings::default(), 1 << 20);
    /// let (mut first, mut second) = (Vec::new(), Vec::new());
    /// compressor.compress_piece(b"one piece, ", false, &mut first)?;
    /// compressor.compress_piece(b"then another", true, &mut second)?;
    /// assert_eq!(decompressor.decompress(&first, false)?, None);
    /// let message = decompressor.decompress(&second, true)?;
    /// assert_eq!(message.as_deref(), Some(&b"one piece, then another"[..]));
    /// # Ok::<(), syncws::protocol::Error>(())
    /// ```
    pub fn compress_piece(
        &mut self,
        piece: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let start = out.len();
        let flush = if last {
            DeflateFlush::SyncFlush
        } else {
            DeflateFlush::NoFlush
        };
        let settings = self.settings;
        let deflate = self.context()?;
        let mut input = piece;
        let mut filled = out.len();
        loop {
            if out.len() - filled < 16 {
                let grow = (input.len() / 2 + 64).max(out.len() - start);
                out.try_reserve(grow).map_err(|_| out_of_memory(grow))?;
                out.resize(filled + grow, 0);
            }
            let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
            let room = out.len() - filled;
            let result = deflate.compress(input, &mut out[filled..], flush);
            let consumed = (deflate.total_in() - in_before) as usize;
            let produced = (deflate.total_out() - out_before) as usize;
            input = &input[consumed..];
            filled += produced;
            if result.is_err() {
                // zlib fails only for memory (MemError): the state is
                // unusable, so it goes.
                out.truncate(start);
                self.deflate = None;
                self.in_message = false;
                return Err(out_of_memory(piece.len()));
            }
            // zlib's rule: a flush is complete when it left output room.
            if input.is_empty() && produced < room {
                break;
            }
        }
        out.truncate(filled);
        self.in_message = !last;
        if settings.context_takeover {
            self.window.push(piece)?;
        }
        if last {
            // §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from
            // the tail end."
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else if out.len() == start {
                // An empty message after a flush: zlib writes nothing (a
                // second flush in a row does nothing). The header of an
                // empty stored block, which the appended tail completes.
                out.push(0x00);
            }
            if !settings.context_takeover {
                // §7.2.1: without context takeover, a message "MUST NOT"
                // use the window of the ones before it.
                if let Some(deflate) = &mut self.deflate {
                    deflate.reset();
                }
            }
        }
        Ok(())
    }

    /// A message that this compressor did not compress reached the peer
    /// between two of its own: a broadcast compressed once for many
    /// connections, standing alone (no context takeover). With context
    /// takeover the peer's window now holds it, so the next message must
    /// not refer back past it with distances that assume it is not there.
    ///
    /// - With a live zlib context (this end sends too), the message is
    ///   added to the window and to the context's history (a raw deflate
    ///   stream takes a dictionary after any flushed block; the bytes are
    ///   hashed, not compressed): the next message may refer back to it
    ///   and to what came before.
    /// - Without one (a member that only listens, or one that hibernated),
    ///   the window is dropped instead: the next message refers back to
    ///   nothing, which is valid whatever the peer's window holds. Copying
    ///   every broadcast into each listener's window cost a broadcast to
    ///   1,000 members about 14% of the server's CPU (the windows, 32 KiB
    ///   each, are never in the cache) and kept up to 32 KiB per member.
    pub fn sent_elsewhere(&mut self, message: &[u8]) -> Result<(), Error> {
        if !self.settings.context_takeover {
            return Ok(());
        }
        debug_assert!(!self.in_message, "messages never interleave");
        let Some(deflate) = &mut self.deflate else {
            self.window.clear();
            return Ok(());
        };
        if deflate.set_dictionary(message).is_err() {
            // Nothing to refer back to: valid, as above.
            self.deflate = None;
            self.window.clear();
            return Ok(());
        }
        self.window.push(message)
    }

    /// Drop the zlib context, keeping only the window: between messages
    /// this leaves [`heap_bytes`](Compressor::heap_bytes) at the window's
    /// size (at most `2^window_bits`, and what was sent if less; nothing
    /// without context takeover). The next message rebuilds the context
    /// from the window, so compression stays as good. Call it between
    /// messages only: a message half sent in pieces would lose what zlib
    /// holds of it (it is then a no-op).
    pub fn hibernate(&mut self) {
        if self.in_message {
            return;
        }
        self.deflate = None;
        self.window.shrink();
    }

    /// True when the zlib context is allocated (after a message, until
    /// [`hibernate`](Compressor::hibernate)).
    pub fn has_context(&self) -> bool {
        self.deflate.is_some()
    }

    /// The bytes this compressor holds outside zlib (its window); zlib's
    /// own context (about 290 KiB at window 15 and memory level 4: its
    /// hash table alone is 128 KiB whatever the window) is counted by the
    /// allocator only.
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes()
    }

    /// The zlib context, made on first use from the window.
    fn context(&mut self) -> Result<&mut zlib_rs::Deflate, Error> {
        if self.deflate.is_none() {
            let settings = self.settings;
            let config = DeflateConfig {
                level: i32::from(settings.level),
                method: Method::Deflated,
                // zlib (and zlib-rs) refuse a raw window of 8 bits and use
                // 9 instead: its matches reach back at most 512 - 262 = 250
                // bytes (zlib's MAX_DIST, w_size - MIN_LOOKAHEAD), inside a
                // 256-byte window, so the output is valid for window 8
                // (proved by the tests' distance scan).
                window_bits: -i32::from(settings.window_bits.max(9)),
                mem_level: i32::from(settings.mem_level),
                strategy: Strategy::Default,
            };
            let mut deflate = zlib_rs::Deflate::new_with_config(config);
            if settings.context_takeover {
                let dictionary = self.window.contiguous();
                if !dictionary.is_empty() {
                    deflate
                        .set_dictionary(dictionary)
                        .map_err(|_| out_of_memory(dictionary.len()))?;
                }
            }
            self.deflate = Some(deflate);
        }
        Ok(self.deflate.as_mut().expect("made just above"))
    }
}

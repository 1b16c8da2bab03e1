//! Decompressing the messages one end receives (RFC 7692 §7.2.2), within
//! the message limit as the output grows.

use std::sync::Arc;

use zlib_rs::{InflateFlush, Status};

use super::window::{Window, out_of_memory};
use super::{Settings, TAIL};
use crate::protocol::budget::MessageBudget;
use crate::protocol::error::{CapacityError, Error, ProtocolViolation};

/// The first room given to a message's output; it doubles from there, never
/// past the limit.
const FIRST_STEP: usize = 1024;

/// Decompresses one direction's permessage-deflate payloads, fragment after
/// fragment, into messages of at most `max_message_size` bytes.
///
/// The limit holds while inflating: the output grows in bounded steps (by
/// doubling, from 1 KiB, never past the limit) and the message fails with
/// [`CapacityError::MessageTooLong`] (close code 1009) as soon as it would
/// pass the limit, so a decompression bomb costs at most the limit. Memory
/// is taken with `try_reserve`: a failed allocation is
/// [`CapacityError::OutOfMemory`], not an abort. Data that is not deflate
/// fails with [`ProtocolViolation::InvalidCompressedData`] (1002).
///
/// ```
/// use syncws::protocol::deflate::{Compressor, Decompressor, Settings};
/// use syncws::protocol::{CapacityError, Error};
///
/// let mut compressor = Compressor::new(Settings::default());
/// let mut payload = Vec::new();
/// compressor.compress(&[b'a'; 10_000], &mut payload)?;
/// // 10,000 bytes do not fit a limit of 1,000, however small the payload.
/// let mut decompressor = Decompressor::new(Settings::default(), 1_000);
/// let refused = decompressor.decompress(&payload, true);
/// assert!(matches!(refused, Err(Error::Capacity(CapacityError::MessageTooLong { .. }))));
/// # Ok::<(), syncws::protocol::Error>(())
/// ```
pub struct Decompressor {
    settings: Settings,
    max_message_size: usize,
    inflate: Option<zlib_rs::Inflate>,
    /// What a rebuilt context starts from, with context takeover.
    window: Window,
    /// The message being inflated: `message[..filled]` is output, the rest
    /// zeroed room for more.
    message: Vec<u8>,
    filled: usize,
    /// The message's deflate stream ended with a final block (BFINAL).
    ended: bool,
    /// A message has begun and has not ended: zlib holds some of it.
    in_message: bool,
    /// Bytes of the message have been given to zlib.
    fed: bool,
    budget: Option<Arc<MessageBudget>>,
    budgeted: usize,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("settings", &self.settings)
            .field("max_message_size", &self.max_message_size)
            .field("has_context", &self.inflate.is_some())
            .field("inflated", &self.filled)
            .finish()
    }
}

impl Decompressor {
    /// A decompressor with `settings` (the window bits and context
    /// takeover of the direction it decompresses; level and memory level
    /// do not matter) whose messages may inflate to `max_message_size`
    /// bytes. It allocates nothing until the first message.
    pub fn new(settings: Settings, max_message_size: usize) -> Decompressor {
        let settings = settings.clamped();
        Decompressor {
            window: Window::new(settings.window_bits),
            settings,
            max_message_size,
            inflate: None,
            message: Vec::new(),
            filled: 0,
            ended: false,
            in_message: false,
            fed: false,
            budget: None,
            budgeted: 0,
        }
    }

    /// Count the memory of the message being inflated against `budget`,
    /// the server's, as the receiver does for the messages it assembles:
    /// growth that would pass it fails this message with
    /// [`CapacityError::OverBudget`] (1009); it is given back when the
    /// message is delivered, fails, or the decompressor is dropped.
    pub(crate) fn share_budget(&mut self, budget: Arc<MessageBudget>) {
        self.budget = Some(budget);
    }

    /// Inflate the next fragment of a compressed message (the payload of
    /// its next frame); at the `last` one, `00 00 ff ff` is appended
    /// (§7.2.2) and the whole message returned. `None` until then.
    ///
    /// After an error the message is lost; the connection is meant to
    /// fail with the error's close code.
    pub fn decompress(&mut self, fragment: &[u8], last: bool) -> Result<Option<Vec<u8>>, Error> {
        let result = self.inflate_fragment(fragment, last);
        if result.is_err() {
            // The context may be mid-block: nothing of it can be trusted.
            self.inflate = None;
            self.ended = false;
            self.in_message = false;
            self.fed = false;
            self.filled = 0;
            self.give_back_budget();
        }
        result
    }

    fn inflate_fragment(&mut self, fragment: &[u8], last: bool) -> Result<Option<Vec<u8>>, Error> {
        if !self.in_message && self.message.capacity() > 0 {
            // What a failed message left.
            self.message = Vec::new();
        }
        self.in_message = true;
        self.context()?;
        self.fed |= !fragment.is_empty();
        self.inflate_input(fragment, false)?;
        if !last {
            return Ok(None);
        }
        if !self.fed {
            // An empty payload is an empty message; the tail alone would
            // begin a stored block that never ends.
            self.in_message = false;
            return Ok(Some(Vec::new()));
        }
        // §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end
        // of the payload of the message." After a final block (BFINAL set,
        // as in §7.2.3.4's example) they are not read.
        self.inflate_input(&TAIL, true)?;
        self.message.truncate(self.filled);
        let message = std::mem::take(&mut self.message);
        self.filled = 0;
        self.in_message = false;
        self.fed = false;
        self.give_back_budget();
        if self.settings.context_takeover {
            self.window.push(&message)?;
        }
        if self.ended || !self.settings.context_takeover {
            // A stream that ended takes no more input: the next message
            // starts a new one, from the window with context takeover.
            self.reset_context();
            self.ended = false;
        }
        Ok(Some(message))
    }

    /// Inflate `input` into the message, within the limit.
    fn inflate_input(&mut self, mut input: &[u8], tail: bool) -> Result<(), Error> {
        loop {
            if self.ended {
                if !input.is_empty() && !tail {
                    // Bytes after the final block of the message.
                    return Err(invalid_data());
                }
                return Ok(());
            }
            self.make_room()?;
            let inflate = self.inflate.as_mut().expect("made by context()");
            let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
            let mut probe = [0u8; 1];
            let at_limit = self.filled == self.message.len();
            // At the limit, one byte more is looked for: if there is one,
            // the message is too long.
            let room: &mut [u8] = if at_limit {
                &mut probe
            } else {
                &mut self.message[self.filled..]
            };
            let room_len = room.len();
            let status = inflate
                .decompress(input, room, InflateFlush::SyncFlush)
                .map_err(|e| match e {
                    zlib_rs::InflateError::MemError => out_of_memory(0),
                    _ => invalid_data(),
                })?;
            let consumed = (inflate.total_in() - in_before) as usize;
            let produced = (inflate.total_out() - out_before) as usize;
            input = &input[consumed..];
            if at_limit && produced > 0 {
                return Err(Error::Capacity(CapacityError::MessageTooLong {
                    size: self.filled as u64 + 1,
                    max_size: self.max_message_size,
                }));
            }
            if !at_limit {
                self.filled += produced;
            }
            if status == Status::StreamEnd {
                self.ended = true;
                continue;
            }
            let output_left = produced < room_len;
            if (input.is_empty() && output_left) || (consumed == 0 && produced == 0) {
                return Ok(());
            }
        }
    }

    /// Room for more output once the room is used up: doubling what the
    /// message holds (from [`FIRST_STEP`]), never past the limit, taken
    /// with `try_reserve` and charged to the budget past the first step.
    fn make_room(&mut self) -> Result<(), Error> {
        if self.filled < self.message.len() || self.filled >= self.max_message_size {
            return Ok(());
        }
        let step = self
            .filled
            .max(FIRST_STEP)
            .min(self.max_message_size - self.filled);
        let capacity = self.message.capacity();
        self.message
            .try_reserve_exact(step)
            .map_err(|_| out_of_memory(step))?;
        // The first step is not charged: like the read buffer, which holds
        // short uncompressed messages whole and is not charged either, it
        // is a fixed cost per connection, which the connection limit
        // bounds; so short compressed messages are still served when
        // long ones have used up the budget.
        let grown = self.message.capacity().saturating_sub(FIRST_STEP)
            - capacity.saturating_sub(FIRST_STEP);
        if let Some(budget) = &self.budget {
            if grown > 0 {
                if !budget.take(grown) {
                    return Err(Error::Capacity(CapacityError::OverBudget {
                        size: grown as u64,
                    }));
                }
                self.budgeted += grown;
            }
        }
        self.message.resize(self.filled + step, 0);
        Ok(())
    }

    fn give_back_budget(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(std::mem::take(&mut self.budgeted));
        }
    }

    /// The zlib context, made on first use from the window.
    fn context(&mut self) -> Result<(), Error> {
        if self.inflate.is_some() {
            return Ok(());
        }
        let mut inflate = zlib_rs::Inflate::new(false, self.settings.window_bits);
        if self.settings.context_takeover {
            let dictionary = self.window.contiguous();
            if !dictionary.is_empty() {
                inflate
                    .set_dictionary(dictionary)
                    .map_err(|_| out_of_memory(dictionary.len()))?;
            }
        }
        self.inflate = Some(inflate);
        Ok(())
    }

    /// Start the next message afresh (without context takeover, or after a
    /// final block).
    fn reset_context(&mut self) {
        match &mut self.inflate {
            // zlib-rs's reset restores the default window (15 bits), so a
            // smaller one is made anew.
            Some(inflate) if self.settings.window_bits == 15 && !self.settings.context_takeover => {
                inflate.reset(false)
            }
            _ => self.inflate = None,
        }
    }

    /// Drop the zlib context, keeping only the window (see
    /// [`Compressor::hibernate`](super::Compressor::hibernate)). A no-op
    /// while a message is half received.
    pub fn hibernate(&mut self) {
        if self.in_message {
            return;
        }
        self.message = Vec::new();
        self.inflate = None;
        self.window.shrink();
    }

    /// True when the zlib context is allocated.
    pub fn has_context(&self) -> bool {
        self.inflate.is_some()
    }

    /// The bytes this decompressor holds outside zlib: its window and the
    /// message being inflated.
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes() + self.message.capacity()
    }

    /// The room the message being inflated holds (also after an error,
    /// until the next message): for the tests of the limit.
    #[cfg(test)]
    pub(crate) fn message_capacity(&self) -> usize {
        self.message.capacity()
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        self.give_back_budget();
    }
}

fn invalid_data() -> Error {
    Error::Protocol(ProtocolViolation::InvalidCompressedData)
}

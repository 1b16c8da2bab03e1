//! The LZ77 window one direction keeps outside zlib: the last `2^bits`
//! bytes of uncompressed data, so that a context dropped at hibernation (or
//! ended by a final block) can be rebuilt with `set_dictionary` and the
//! next message still refers back to the earlier ones (RFC 7692 §7.2.1,
//! context takeover).

use crate::protocol::error::{CapacityError, Error};

/// The last `size` bytes pushed: a plain vector while it fills, then a
/// ring (written at `next`) once full, made contiguous when it is read.
#[derive(Debug)]
pub(crate) struct Window {
    bytes: Vec<u8>,
    next: usize,
    size: usize,
}

impl Window {
    /// An empty window of `2^bits` bytes; nothing is allocated yet.
    pub(crate) fn new(bits: u8) -> Window {
        Window {
            bytes: Vec::new(),
            next: 0,
            size: 1 << bits,
        }
    }

    /// Keep `data` as the newest bytes, forgetting what falls out.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if data.len() >= self.size {
            data = &data[data.len() - self.size..];
            self.bytes.clear();
            self.next = 0;
        }
        if self.bytes.len() < self.size {
            let first = data.len().min(self.size - self.bytes.len());
            if self.bytes.capacity() - self.bytes.len() < first {
                // Doubling, but never past the window's size.
                let grow = first
                    .max(self.bytes.len())
                    .min(self.size - self.bytes.len());
                self.bytes
                    .try_reserve_exact(grow)
                    .map_err(|_| out_of_memory(grow))?;
            }
            self.bytes.extend_from_slice(&data[..first]);
            data = &data[first..];
        }
        while !data.is_empty() {
            let n = data.len().min(self.size - self.next);
            self.bytes[self.next..self.next + n].copy_from_slice(&data[..n]);
            self.next = (self.next + n) % self.size;
            data = &data[n..];
        }
        Ok(())
    }

    /// The bytes kept, oldest first.
    pub(crate) fn contiguous(&mut self) -> &[u8] {
        if self.next != 0 {
            self.bytes.rotate_left(self.next);
            self.next = 0;
        }
        &self.bytes
    }

    /// Forget every byte, and give back the memory.
    pub(crate) fn clear(&mut self) {
        self.bytes = Vec::new();
        self.next = 0;
    }

    /// Give back the room not used yet (at hibernation).
    pub(crate) fn shrink(&mut self) {
        self.contiguous();
        self.bytes.shrink_to_fit();
    }

    /// The heap it holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

pub(crate) fn out_of_memory(bytes: usize) -> Error {
    Error::Capacity(CapacityError::OutOfMemory { size: bytes as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_in_order() {
        let mut window = Window::new(3);
        window.push(b"abc").unwrap();
        assert_eq!(window.contiguous(), b"abc");
        window.push(b"defgh").unwrap();
        assert_eq!(window.contiguous(), b"abcdefgh");
        window.push(b"ij").unwrap();
        window.push(b"klm").unwrap();
        assert_eq!(window.contiguous(), b"fghijklm");
        window.push(b"0123456789").unwrap();
        assert_eq!(window.contiguous(), b"23456789");
        assert!(window.heap_bytes() <= 8);
    }
}

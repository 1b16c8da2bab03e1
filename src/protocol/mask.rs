//! Masking of frame payloads (RFC 6455 §5.3).
//!
//! Unmasking is on the path of every byte a server receives, so it works a
//! word at a time: eight bytes XORed with one `u64`, a loop the compiler
//! turns into SIMD. No `unsafe` is needed for that.

/// XOR `buf` with the masking `key`, as if `buf` started `offset` bytes into
/// the payload. Applying it twice restores the input, and masking a payload
/// in pieces (each with its offset) equals masking it whole.
///
/// ```
/// use syncws::protocol::mask::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"Hello";
/// apply_mask(&mut payload, key, 0);
/// assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// let (head, tail) = payload.split_at_mut(2);
/// apply_mask(head, key, 0);
/// apply_mask(tail, key, 2);
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let word = key_word(key);
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for chunk in block.chunks_exact_mut(8) {
            let masked = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
            chunk.copy_from_slice(&masked.to_ne_bytes());
        }
    }
    // Every block above is a multiple of 4 long, so the key phase is still 0.
    apply_mask_short(blocks.into_remainder(), key);
}

/// [`apply_mask`] for a payload of a few words, from its first byte: the
/// payload of a short frame (at most 125 bytes). A word at a time, with
/// none of the block loop that makes long payloads fast and short ones pay
/// for its setup.
#[inline]
pub(crate) fn apply_mask_short(buf: &mut [u8], key: [u8; 4]) {
    let word = key_word(key);
    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        let masked = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The key repeated over eight bytes, in memory order: both halves of the
/// word hold the key's four bytes as they lie, whatever the byte order. (A
/// shift and an or, where the eight bytes listed one by one compile to some
/// thirty instructions.)
#[inline]
fn key_word(key: [u8; 4]) -> u64 {
    let half = u64::from(u32::from_ne_bytes(key));
    half << 32 | half
}

/// The key as seen from `offset` bytes into the payload.
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let s = offset & 3;
    [key[s], key[(s + 1) & 3], key[(s + 2) & 3], key[(s + 3) & 3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_the_bytewise_definition_at_every_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let input: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..input.len() {
            for offset in 0..4 {
                let mut fast = input[..len].to_vec();
                let mut slow = fast.clone();
                apply_mask(&mut fast, key, offset);
                mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn the_short_form_matches_the_bytewise_definition() {
        let key = [0x9a, 0x01, 0xfe, 0x42];
        let input: Vec<u8> = (0..130u32).map(|i| (i * 11 + 5) as u8).collect();
        for len in 0..input.len() {
            let mut short = input[..len].to_vec();
            let mut slow = short.clone();
            apply_mask_short(&mut short, key);
            mask_bytewise(&mut slow, key, 0);
            assert_eq!(short, slow, "len {len}");
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_whole() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let input: Vec<u8> = (0..100u8).collect();
        let mut whole = input.clone();
        apply_mask(&mut whole, key, 0);
        for split in 0..input.len() {
            let mut pieces = input.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(pieces, whole, "split at {split}");
        }
    }
}

//! The keys of the opening handshake: the client's `Sec-WebSocket-Key` and
//! the server's `Sec-WebSocket-Accept` proof (RFC 6455 §1.3, §4.1, §4.2.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

/// The GUID that RFC 6455 §1.3 appends to `Sec-WebSocket-Key` before
/// hashing it into `Sec-WebSocket-Accept`.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)),
/// the GUID being `258EAFA5-E914-47DA-95CA-C5AB0DC85B11` (RFC 6455 §1.3).
///
/// The key is taken as the string that was sent, not base64-decoded
/// (RFC 6455 §4.2.2).
///
/// ```
/// use syncws::protocol::handshake::accept_key;
///
/// // The example of RFC 6455 §1.3.
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut accept = [0u8; ACCEPT_KEY_LEN];
    encode_accept_key(key, &mut accept).to_owned()
}

/// The length of a `Sec-WebSocket-Accept` value: a SHA-1 digest (20
/// bytes) in base64.
pub(super) const ACCEPT_KEY_LEN: usize = 28;

/// [`accept_key`], encoded into `out`.
pub(super) fn encode_accept_key<'a>(key: &[u8], out: &'a mut [u8; ACCEPT_KEY_LEN]) -> &'a str {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    let len = BASE64
        .encode_slice(sha1.finalize(), out)
        .expect("20 bytes take 28 in base64");
    std::str::from_utf8(&out[..len]).expect("base64 is ASCII")
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
///
/// RFC 6455 §4.1: "The nonce MUST be selected randomly for each connection."
///
/// ```
/// use syncws::protocol::handshake::generate_key;
///
/// let key = generate_key();
/// assert_eq!(key.len(), 24);
/// assert_ne!(key, generate_key());
/// ```
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        nonce = fallback_nonce();
    }
    BASE64.encode(nonce)
}

/// A nonce for the rare system whose random source fails. The key only
/// proves that the server speaks WebSocket (RFC 6455 §1.3); unlike a masking
/// key it guards nothing, so a handshake should not fail for want of the OS
/// random source. The standard library's randomly seeded hasher, fed the
/// time and a counter, still gives a different value each time.
fn fallback_nonce() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mut nonce = [0u8; 16];
    for (half, chunk) in nonce.chunks_exact_mut(8).enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(now);
        hasher.write_u64(count);
        hasher.write_usize(half);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_16_random_bytes_in_base64() {
        let keys: Vec<String> = (0..8).map(|_| generate_key()).collect();
        for key in &keys {
            assert_eq!(key.len(), 24);
            assert_eq!(BASE64.decode(key).unwrap().len(), 16);
        }
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "key {key} repeated");
        }
        let fallback = BASE64.encode(fallback_nonce());
        assert_ne!(fallback, BASE64.encode(fallback_nonce()));
    }
}

//! Incremental UTF-8 validation.
//!
//! A text message may arrive in many frames, and a frame in many reads; a
//! code point may be cut anywhere. The validator is fed each piece as it
//! arrives and fails at the first byte that can no longer be part of valid
//! UTF-8, so a connection is failed at once (close 1007) rather than at the
//! end of a long message (RFC 6455 §8.1: "When an endpoint is to interpret a
//! byte stream as UTF-8 but finds that the byte stream is not, in fact, a
//! valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_").
//! The work is done by `std::str::from_utf8`, which is fast and exact.

/// The input is not, and cannot become, valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates UTF-8 fed in pieces.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a code point cut at the end of the last piece.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate the next piece.
    ///
    /// # Errors
    /// [`InvalidUtf8`] as soon as a byte makes the text invalid, whatever
    /// may follow.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = self.pending_len as usize;
            let width = sequence_width(self.pending[0]);
            let take = (width - have).min(bytes.len());
            self.pending[have..have + take].copy_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let filled = have + take;
            match std::str::from_utf8(&self.pending[..filled]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() && filled < width => {
                    self.pending_len = filled as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // A valid prefix of a code point, cut at the end.
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Check that the text ends on a whole code point.
    ///
    /// # Errors
    /// [`InvalidUtf8`] if the last piece ended inside a code point.
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// The length of the code point a lead byte starts. Only called on bytes
/// `from_utf8` reported as the valid start of a cut sequence.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_pieces(input: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            v.feed(&input[start..cut])?;
            start = cut;
        }
        v.finish()
    }

    const SAMPLES: &[&[u8]] = &[
        b"",
        b"hello",
        "κόσμε".as_bytes(),
        "€ and 𝄞 and ü".as_bytes(),
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
        b"\xf4\x90\x80\x80",                                               // above U+10FFFF
        b"\xc0\xaf",                                                       // overlong
        b"\xe0\x80\xaf",                                                   // overlong
        b"ab\xff",
        b"\xf0\x9f\x98", // cut at the end
        b"\xf0\x9f\x98\x80",
        b"\x80",
    ];

    #[test]
    fn agrees_with_std_for_every_split_into_two_and_three_pieces() {
        for sample in SAMPLES {
            let expected = std::str::from_utf8(sample).is_ok();
            for a in 0..=sample.len() {
                assert_eq!(
                    valid_in_pieces(sample, &[a]).is_ok(),
                    expected,
                    "{sample:?} cut at {a}"
                );
                for b in a..=sample.len() {
                    assert_eq!(
                        valid_in_pieces(sample, &[a, b]).is_ok(),
                        expected,
                        "{sample:?} cut at {a},{b}"
                    );
                }
            }
        }
    }

    #[test]
    fn agrees_with_std_fed_byte_by_byte() {
        for sample in SAMPLES {
            let cuts: Vec<usize> = (1..sample.len()).collect();
            assert_eq!(
                valid_in_pieces(sample, &cuts).is_ok(),
                std::str::from_utf8(sample).is_ok(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn a_code_point_cut_between_pieces_is_whole_only_once_completed() {
        let mut v = Utf8Validator::new();
        let euro = "€".as_bytes(); // three bytes
        v.feed(&euro[..1]).unwrap();
        assert!(v.finish().is_err()); // a cut code point is not a whole text
        v.feed(&euro[1..]).unwrap();
        assert!(v.finish().is_ok());
        assert!(v.feed(&[0xff]).is_err()); // fails at the first bad byte
    }

    #[test]
    fn fails_at_the_first_impossible_byte_not_at_the_end() {
        // 0xf4 0x90 can never start a valid code point (it would be above
        // U+10FFFF): the second byte alone must fail it.
        let mut v = Utf8Validator::new();
        v.feed(b"ok \xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
        // A surrogate is known to be invalid at its second byte.
        let mut v = Utf8Validator::new();
        v.feed(b"\xed").unwrap();
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
    }
}

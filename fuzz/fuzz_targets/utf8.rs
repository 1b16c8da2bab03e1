//! `Utf8Validator` fed the input in pieces must agree with
//! `std::str::from_utf8` on the whole input, and fail fast: the first feed
//! that fails is exactly the one holding the first byte after which the
//! text can no longer be valid, whatever follows.
//!
//! Input layout: byte 0, its low 3 bits + 1: how many piece sizes follow
//! (one byte each, 0 = an empty piece, used in turn); the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::fuzzing::Utf8Validator;

/// The index of the first byte `i` such that `text[..=i]` is not the start
/// of any valid UTF-8 text, if there is one.
fn first_impossible_byte(text: &[u8]) -> Option<usize> {
    let e = std::str::from_utf8(text).err()?;
    // No complete error: a code point cut at the end, still possible.
    e.error_len()?;
    let start = e.valid_up_to();
    // The bad sequence is at most 4 bytes: find where it turns impossible.
    (start..text.len().min(start + 4))
        .find(|&i| std::str::from_utf8(&text[start..=i]).is_err_and(|e| e.error_len().is_some()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(first & 7) + 1;
    let (sizes, text) = rest.split_at(k.min(rest.len()));
    let sizes: Vec<usize> = if sizes.iter().all(|&s| s == 0) {
        vec![usize::MAX]
    } else {
        sizes.iter().map(|&s| usize::from(s)).collect()
    };

    let expected_valid = std::str::from_utf8(text).is_ok();
    let impossible_at = first_impossible_byte(text);
    assert!(impossible_at.is_none() || !expected_valid);

    let mut validator = Utf8Validator::new();
    let mut at = 0;
    let mut failed = None;
    for &size in sizes.iter().cycle() {
        if at >= text.len() {
            break;
        }
        let end = at.saturating_add(size).min(text.len());
        if validator.feed(&text[at..end]).is_err() {
            failed = Some(at..end);
            break;
        }
        at = end;
    }
    match (impossible_at, failed) {
        (None, None) => {
            assert_eq!(validator.finish().is_ok(), expected_valid, "{text:x?}");
        }
        (Some(i), Some(piece)) => assert!(
            piece.contains(&i),
            "{text:x?}: failed on the piece {piece:?}, the first impossible byte is at {i}"
        ),
        (None, Some(piece)) => panic!("{text:x?}: valid so far, but the piece {piece:?} failed"),
        (Some(i), None) => panic!("{text:x?}: invalid at byte {i}, but no piece failed"),
    }

    // A fresh validator: the whole text in one piece.
    let mut validator = Utf8Validator::new();
    let whole = validator.feed(text).and_then(|()| validator.finish());
    assert_eq!(whole.is_ok(), expected_valid);
});

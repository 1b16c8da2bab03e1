//! `FrameHeader::parse` on arbitrary bytes. A header it accepts must survive
//! a round trip through `encode` (compared as parsed headers: the
//! input may encode the length in more bytes than needed), and every proper
//! prefix of the bytes it took must ask for more rather than fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::protocol::frame::{FrameHeader, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let (header, len) = match FrameHeader::parse(data) {
        Ok(Some(parsed)) => parsed,
        // Only a short buffer may be incomplete.
        Ok(None) => return assert!(data.len() < MAX_HEADER_LEN, "{data:x?}"),
        Err(_) => return,
    };
    assert!(len <= data.len() && len <= MAX_HEADER_LEN);
    assert!(header.rsv <= 0b111);
    for cut in 0..len {
        assert_eq!(FrameHeader::parse(&data[..cut]), Ok(None), "cut at {cut}");
    }

    let mut bytes = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut bytes);
    // Minimal length encoding: never longer than what was parsed.
    assert!(
        n <= len,
        "{header:?}: encoded in {n} bytes, parsed from {len}"
    );
    let minimal = match header.payload_len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    } + if header.mask.is_some() { 4 } else { 0 };
    assert_eq!(n, minimal, "{header:?}");
    assert_eq!(FrameHeader::parse(&bytes[..n]), Ok(Some((header, n))));
});

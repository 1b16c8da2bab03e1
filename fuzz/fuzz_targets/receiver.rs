//! The receiving state machine fed an arbitrary byte stream in arbitrary
//! chunks, driven as the blocking layer drives it: loop `next_event()`; on
//! `Ok(None)` ask `read_target()`, put at most that many of the next input
//! bytes there, report them with `filled(n)`; stop at the first error, at the
//! peer's close, or when the input runs out.
//!
//! Input layout (all optional; short inputs fall back to defaults):
//!
//! ```text
//! byte 0        flags: bit 0 client role (else server)
//!                      bit 1 give the first bytes with receive_data, as the
//!                            bytes that followed the handshake head
//!                      bit 2 tiny limits (frame 200 B, message 500 B)
//!                            instead of frame 1 MiB, message 2 MiB
//! byte 1        k: its low 3 bits, the number of chunk sizes that follow
//! k × u16 LE    chunk sizes, used in turn: 0 is a read that timed out with
//!               nothing (Buffer: no `filled`; Message: `filled(0)`),
//!               0xffff as much as the target takes
//! u16 LE        if bit 1: how many bytes to give with receive_data
//! the rest      the byte stream from the peer
//! ```
//!
//! Checked: no panic; a read target is never empty (the blocking layer would
//! take a 0-byte read for EOF); every message is within max_message_size and
//! every control payload within 125 bytes; and the events, the error and the
//! end state are the same as when the same stream arrives in reads as large
//! as the receiver takes — a read cut anywhere (a timeout) loses nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::fuzzing::Receiver;

#[path = "drive_receiver.rs"]
mod drive;

use drive::{UNLIMITED, parse, run};

fuzz_target!(|data: &[u8]| {
    let (input, _) = parse(data, 0);
    let receiver = || Receiver::new(input.role, &input.config);
    let chunked = run(
        receiver(),
        &input.config,
        input.stream,
        &input.chunks,
        input.push,
        &mut |_| {},
    );
    let whole = run(
        receiver(),
        &input.config,
        input.stream,
        &[UNLIMITED],
        0,
        &mut |_| {},
    );
    assert_eq!(
        chunked, whole,
        "the outcome depends on how the stream was cut"
    );
});

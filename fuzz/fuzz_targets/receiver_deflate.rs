//! The receiving state machine with permessage-deflate agreed, fed an
//! arbitrary byte stream in arbitrary chunks as the blocking layer feeds it
//! (the driver of `receiver.rs`, in `drive_receiver.rs`): compressed messages
//! (RSV1 on their first frame), the inflate limit, the RSV1 rules of
//! RFC 7692 §6.1, and hibernation between messages.
//!
//! Input layout (all optional; short inputs fall back to defaults):
//!
//! ```text
//! byte 0        flags: bit 0 client role (else server)
//!                      bit 1 give the first bytes with receive_data
//!                      bit 2 tiny limits (frame 200 B, message 500 B)
//!                            instead of frame 1 MiB, message 2 MiB
//!                      bit 3 hibernate the decompressor after every
//!                            message (as the reader's idle timer may), in
//!                            both runs
//! byte 1        the agreement: its low 3 bits plus 8, the window of the
//!               peer's compressor (the direction this receiver inflates);
//!               bit 3 that direction without context takeover
//! byte 2        k: its low 3 bits, the number of chunk sizes that follow
//! k × u16 LE    chunk sizes, used in turn: 0 is a read that timed out with
//!               nothing, 0xffff as much as the target takes
//! u16 LE        if bit 1: how many bytes to give with receive_data
//! the rest      the byte stream from the peer
//! ```
//!
//! Checked: no panic; a read target is never empty; every message (its
//! inflated size) within max_message_size and a message buffer never past
//! it, text valid UTF-8, control payloads within 125 bytes; a hibernated
//! decompressor holds no zlib context; and the events, the error and the
//! end state are the same as when the same stream arrives in reads as
//! large as the receiver takes: where a read is cut changes nothing.
//!
//! Hibernating or not may change the outcome for a peer whose compressed
//! message does not end at a deflate block boundary (which RFC 7692
//! §7.2.1's sender never makes): the live context goes on mid-block, the
//! rebuilt one cannot. That known difference is
//! `regressions/receiver_deflate-hibernate-mid-block`, and the ignored test
//! `hibernation_between_messages_changes_nothing` in
//! tests/deflate_interop.rs; so both runs here hibernate alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncws::fuzzing::Receiver;
use syncws::protocol::Role;
use syncws::protocol::extension::{
    self,
    permessage_deflate::{self, DeflateConfig, Negotiated},
};

#[path = "drive_receiver.rs"]
mod drive;

use drive::{UNLIMITED, parse, run};

/// The agreement a handshake would reach when the peer's compressor uses
/// a window of `bits` (8 to 15), with or without context takeover.
fn agreement(role: Role, bits: u8, no_takeover: bool) -> Negotiated {
    // The peer compresses server-to-client when we are the client.
    let (window, takeover) = match role {
        Role::Client => ("server_max_window_bits", "server_no_context_takeover"),
        Role::Server => ("client_max_window_bits", "client_no_context_takeover"),
    };
    let mut offer = format!("permessage-deflate; {window}={bits}");
    if no_takeover {
        offer.push_str("; ");
        offer.push_str(takeover);
    }
    let offers = extension::parse([offer.as_str()]).expect("a well-formed offer");
    let config = DeflateConfig::default();
    let agreed = permessage_deflate::negotiate(&config, &offers).expect("an acceptable offer");
    let incoming = agreed.params.incoming(role);
    assert_eq!(incoming.window_bits, bits, "{offer}");
    assert_eq!(incoming.context_takeover, !no_takeover, "{offer}");
    Negotiated::new(agreed.params, config)
}

fuzz_target!(|data: &[u8]| {
    // Byte 1, after the flags: the agreement.
    let (input, own) = parse(data, 1);
    let params = own[0];
    let hibernate = input.flags & 8 != 0;
    let negotiated = agreement(input.role, 8 + (params & 7), params & 8 != 0);
    let receiver = || {
        let mut receiver = Receiver::new(input.role, &input.config);
        receiver.enable_deflate(&negotiated);
        receiver
    };
    let mut after_message = |receiver: &mut Receiver| {
        if hibernate {
            // Between messages: what the reader's idle timer does.
            receiver.hibernate_inflate();
            assert!(!receiver.inflate_has_context());
        }
    };
    let chunked = run(
        receiver(),
        &input.config,
        input.stream,
        &input.chunks,
        input.push,
        &mut after_message,
    );
    let whole = run(
        receiver(),
        &input.config,
        input.stream,
        &[UNLIMITED],
        0,
        &mut after_message,
    );
    assert_eq!(
        chunked, whole,
        "the outcome depends on how the stream was cut"
    );
});

//! The permessage-deflate codec against an independent implementation:
//! Python's zlib (C zlib) inflates what syncws compressed, and syncws
//! inflates what zlib compressed, at every window (8 to 15) with and
//! without context takeover. The Python is the venv `scripts/test-all.sh`
//! makes (or `SYNCWS_PYTHON`); without it the test says so and passes,
//! except in CI.
#![cfg(feature = "deflate")]

use std::io::Write;
use std::process::{Command, Stdio};

mod child;

use child::{Killed, line_with, lines_of, peer_script, python};
use syncws::protocol::deflate::{Compressor, Decompressor, Settings};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the peer"))
        .collect()
}

/// Chat-like messages, a large document, and an empty one.
fn messages() -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = (0..12)
        .map(|i| {
            format!(
                r#"{{"type":"chat","id":{i},"text":"hello number {i} to the room","user":"u{}"}}"#,
                i % 3
            )
            .into_bytes()
        })
        .collect();
    let document: String = (0..2000)
        .map(|i| format!(r#"{{"id":{i},"name":"item {i}","price":{}}},"#, i * 7 % 101))
        .collect();
    messages.insert(5, document.into_bytes());
    messages.insert(8, Vec::new());
    messages
}

#[test]
fn python_zlib_inflates_what_we_compress_and_we_inflate_what_it_compresses() {
    let Some(python) = python("zlib") else {
        return;
    };
    let mut peer = Killed(
        Command::new(python)
            .arg(peer_script("deflate_zlib.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs"),
    );
    let lines = lines_of(peer.0.stdout.take().expect("piped"));
    let mut stdin = peer.0.stdin.take().expect("piped");
    let messages = messages();
    for bits in 8..=15 {
        for takeover in [true, false] {
            let mut settings = Settings::default();
            settings.window_bits = bits;
            settings.context_takeover = takeover;
            let mut compressor = Compressor::new(settings);
            let payloads: Vec<String> = messages
                .iter()
                .map(|message| {
                    let mut payload = Vec::new();
                    compressor.compress(message, &mut payload).unwrap();
                    hex(&payload)
                })
                .collect();
            writeln!(
                stdin,
                "{bits} {} {}",
                u8::from(takeover),
                payloads.join(",")
            )
            .unwrap();
            stdin.flush().unwrap();
            let line = line_with(&lines, "");
            let (inflated, compressed) = line.split_once(' ').expect("two lists");
            let inflated: Vec<Vec<u8>> = inflated.split(',').map(unhex).collect();
            assert_eq!(
                inflated, messages,
                "zlib inflating ours, bits {bits} {takeover}"
            );
            let mut decompressor = Decompressor::new(settings, 1 << 20);
            for (payload, message) in compressed.split(',').map(unhex).zip(&messages) {
                let got = decompressor.decompress(&payload, true).unwrap();
                assert_eq!(
                    got.as_ref(),
                    Some(message),
                    "ours inflating zlib's, bits {bits}"
                );
            }
        }
    }
}

//! Full duplex: one thread blocked in `read_message` while others send on
//! the same connection.

mod support;

use std::thread;

use syncws::{CloseCode, Error, Server};

use support::common;

/// The server's reader is blocked while another thread sends (see
/// [`common::a_blocked_reader_never_delays_a_sender`]); `tests/tls.rs` runs
/// the same over TLS.
#[test]
fn a_blocked_reader_never_delays_a_sender() {
    common::a_blocked_reader_never_delays_a_sender(
        |handler| Server::bind("127.0.0.1:0").unwrap().start(handler).unwrap(),
        |server| syncws::connect(&format!("ws://{}/", server.local_addr())).unwrap(),
    );
}

/// The same on the client side, against an echo server.
#[test]
fn client_reads_while_another_thread_sends() {
    let (_server, url) = support::start_echo_server();
    common::a_client_reads_while_another_thread_sends(syncws::connect(&url).unwrap());
}

/// Several threads send at once, small and large messages mixed: each
/// message arrives whole (frames never interleave) and each thread's
/// messages keep their order.
#[test]
fn concurrent_senders_never_interleave_frames() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 300;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|mut ws| {
            let mut pushers = Vec::new();
            for t in 0..THREADS {
                let sender = ws.sender();
                pushers.push(thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        // Every seventh message is large, to take the path
                        // that writes from the caller's memory.
                        let len = if i % 7 == 0 { 100_000 } else { 10 + i };
                        let mut payload = vec![t as u8; len];
                        payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
                        if i % 2 == 0 {
                            sender.send_binary(&payload).unwrap();
                        } else {
                            let pieces: Vec<&[u8]> = payload.chunks(len / 3 + 1).collect();
                            sender.send_binary_frames(pieces).unwrap();
                        }
                    }
                }));
            }
            for p in pushers {
                p.join().unwrap();
            }
            let _ = ws.read_message();
        })
        .unwrap();
    let mut client = syncws::connect(&format!("ws://{}/", server.local_addr())).unwrap();
    let mut next = [0u32; THREADS];
    for _ in 0..THREADS * PER_THREAD {
        let data = client.read_message().unwrap().into_bytes();
        let thread = data[data.len() - 1] as usize;
        let seq = u32::from_be_bytes(data[..4].try_into().unwrap());
        assert_eq!(seq, next[thread], "thread {thread} out of order");
        assert!(
            data[4..].iter().all(|&b| b as usize == thread),
            "mixed payload"
        );
        next[thread] += 1;
    }
    assert!(next.iter().all(|&n| n as usize == PER_THREAD));
    client.close(CloseCode::Normal, "").unwrap();
}

/// A close started from another thread through a `Sender` ends the blocked
/// reader with the peer's answer, and later sends fail cleanly.
#[test]
fn close_from_another_thread_ends_the_blocked_reader() {
    let (_server, url) = support::start_echo_server();
    let mut client = syncws::connect(&url).unwrap();
    let sender = client.sender();
    let closer = thread::spawn(move || {
        sender
            .send_close(CloseCode::Other(4001), "from elsewhere")
            .unwrap();
        sender
    });
    match client.read_message() {
        Err(Error::Closed(frame)) => assert_eq!(frame.code, CloseCode::Other(4001)),
        other => panic!("expected the close handshake to end the read, got {other:?}"),
    }
    let sender = closer.join().unwrap();
    assert!(matches!(
        sender.send_text("late"),
        Err(Error::AlreadyClosed)
    ));
    assert!(matches!(client.read_message(), Err(Error::AlreadyClosed)));
}

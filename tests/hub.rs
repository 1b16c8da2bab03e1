//! Broadcast with a `Hub`, seen from clients over loopback: every member
//! gets every message in order, and a member that never reads is evicted
//! without delaying the others.

mod server_raw;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use server_raw::{End, RawClient, TIMEOUT, eventually};
use syncws::{CloseCode, Error, Hub, Message, Server, ServerHandle, Timeout, WebSocket};

/// A server whose connections join `hub` and stay until they end; each
/// reports on `joined` once it is a member.
fn hub_server(hub: &Hub) -> (ServerHandle, mpsc::Receiver<()>) {
    let (joined_tx, joined_rx) = mpsc::channel();
    let hub = hub.clone();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/hub", move |mut ws: WebSocket| {
            let _membership = hub.join(ws.sender()).unwrap();
            let _ = joined_tx.send(());
            let _ = ws.set_read_timeout(Some(TIMEOUT));
            for _ in 0..10_000 {
                match ws.read_message() {
                    Ok(_) | Err(Error::Timeout(Timeout::Read)) => {}
                    Err(_) => break,
                }
            }
        })
        .serve()
        .unwrap();
    (server, joined_rx)
}

#[track_caller]
fn connect(server: &ServerHandle) -> WebSocket {
    let mut ws = syncws::connect(&format!("ws://{}/hub", server.local_addr())).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.set_write_timeout(Some(TIMEOUT)).unwrap();
    ws
}

#[track_caller]
fn await_joins(joined: &mpsc::Receiver<()>, n: usize) {
    for i in 0..n {
        joined
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("member {i} of {n} never joined: {e}"));
    }
}

#[test]
fn a_broadcast_reaches_every_member_and_members_leave_when_they_close() {
    const N: usize = 5;
    let hub = Hub::new();
    let (server, joined) = hub_server(&hub);
    let mut clients: Vec<WebSocket> = (0..N).map(|_| connect(&server)).collect();
    await_joins(&joined, N);
    assert_eq!(hub.len(), N);

    for round in 0..3 {
        let message = Message::from(format!("round {round}"));
        assert_eq!(hub.broadcast(&message), N);
        for (i, ws) in clients.iter_mut().enumerate() {
            assert_eq!(ws.read_message().unwrap(), message, "client {i}");
        }
    }
    let binary = Message::Binary((0..=255).collect());
    assert_eq!(hub.broadcast(&binary), N);
    for ws in &mut clients {
        assert_eq!(ws.read_message().unwrap(), binary);
    }

    let mut leaving = clients.pop().unwrap();
    leaving.close(CloseCode::Normal, "bye").unwrap();
    eventually("the closed member leaves the hub", || hub.len() == N - 1);
    assert_eq!(hub.broadcast(&Message::from("fewer")), N - 1);
    for ws in &mut clients {
        assert_eq!(ws.read_message().unwrap(), Message::from("fewer"));
    }
}

/// A 64 KiB message that says its index in its first bytes and in its
/// filling.
fn numbered(i: usize) -> Message {
    let mut data = vec![i as u8; 64 << 10];
    data[..4].copy_from_slice(&(i as u32).to_be_bytes());
    Message::Binary(data)
}

#[test]
fn a_member_that_never_reads_is_evicted_without_delaying_the_others() {
    const FAST: usize = 3;
    const MESSAGES: usize = 200;
    // How far the broadcaster may run ahead of the slowest fast reader:
    // less than the member queue, so that a reader that keeps up is never
    // evicted, and ahead enough to keep the queues busy.
    const WINDOW: usize = 4;
    let hub = Hub::with_member_queue(8);
    let (server, joined) = hub_server(&hub);

    // The fast members read in threads, reporting each message's index.
    let (progress_tx, progress_rx) = mpsc::channel::<(usize, usize)>();
    let fast: Vec<_> = (0..FAST)
        .map(|c| {
            let mut ws = connect(&server);
            let progress = progress_tx.clone();
            thread::spawn(move || -> Result<(), String> {
                for expected in 0..MESSAGES {
                    let message = ws
                        .read_message()
                        .map_err(|e| format!("client {c}, message {expected}: {e:?}"))?;
                    let data = message.as_bytes();
                    let index = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
                    if index != expected
                        || data.len() != 64 << 10
                        || data[4..].iter().any(|&b| b != expected as u8)
                    {
                        return Err(format!(
                            "client {c}: expected message {expected}, got {index} ({} bytes)",
                            data.len()
                        ));
                    }
                    let _ = progress.send((c, index));
                }
                let _ = ws.close(CloseCode::Normal, "");
                Ok(())
            })
        })
        .collect();
    drop(progress_tx);
    // The slow member: completes the handshake, then never reads.
    let (mut slow, _) = RawClient::connect(server.local_addr(), "/hub", "");
    await_joins(&joined, FAST + 1);
    assert_eq!(hub.len(), FAST + 1);

    let mut received = [0usize; FAST]; // messages each fast client has read
    let mut counts = Vec::with_capacity(MESSAGES);
    let mut slowest_broadcast = Duration::ZERO;
    for i in 0..MESSAGES {
        while received.iter().any(|&r| r + WINDOW < i + 1) {
            let (c, index) = progress_rx
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|e| panic!("a fast member stalled before message {i}: {e}"));
            received[c] = index + 1;
        }
        let start = Instant::now();
        counts.push(hub.broadcast(&numbered(i)));
        slowest_broadcast = slowest_broadcast.max(start.elapsed());
    }
    for (c, reader) in fast.into_iter().enumerate() {
        reader
            .join()
            .unwrap_or_else(|_| panic!("fast client {c} panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // Broadcasting never waited for the network.
    assert!(
        slowest_broadcast < Duration::from_secs(1),
        "a broadcast took {slowest_broadcast:?}"
    );
    // Everyone got the first one; the slow member was evicted along the way.
    assert_eq!(counts[0], FAST + 1);
    assert_eq!(
        counts.last().copied(),
        Some(FAST),
        "the slow member was never evicted: {counts:?}"
    );
    assert!(
        counts.windows(2).all(|w| w[1] <= w[0]),
        "the count went up: {counts:?}"
    );
    // The fast members closed; the hub ends up empty.
    eventually("every member leaves the hub", || hub.is_empty());

    // What the slow member sees when it reads at last: the messages that
    // were buffered for it, then a close with 1008 or the end of the
    // connection.
    match slow.read_until_close() {
        End::Close(code, _) => assert_eq!(code, 1008),
        End::Dropped => {}
    }
}

/// A member that stops reading for a while gets, once it reads again, every
/// message in order, none twice: first those its socket took at once (the
/// broadcaster writes them itself), then one cut where the socket filled
/// (the rest is finished by the member's thread), then those queued.
#[test]
fn a_member_that_pauses_gets_every_message_in_order_once_it_reads_again() {
    // 12.5 MiB: more than loopback's socket buffers hold, less than the
    // member queue.
    const MESSAGES: usize = 200;
    let hub = Hub::new();
    let (server, joined) = hub_server(&hub);
    let mut paused = connect(&server);
    let mut reading = connect(&server);
    await_joins(&joined, 2);
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || -> Result<(), String> {
        for expected in 0..MESSAGES {
            let message = reading.read_message().map_err(|e| format!("{e:?}"))?;
            if message != numbered(expected) {
                return Err(format!("the reading member's message {expected} differs"));
            }
        }
        let _ = tx.send(());
        Ok(())
    });
    for i in 0..MESSAGES {
        assert_eq!(hub.broadcast(&numbered(i)), 2, "message {i}");
    }
    rx.recv_timeout(TIMEOUT)
        .expect("the reading member got every message");
    reader.join().unwrap().unwrap();
    for expected in 0..MESSAGES {
        let message = paused.read_message().unwrap();
        let data = message.as_bytes();
        assert_eq!(
            u32::from_be_bytes(data[..4].try_into().unwrap()) as usize,
            expected,
            "the paused member's messages are out of order"
        );
        assert_eq!(message, numbered(expected), "message {expected}");
    }
}

/// A member that never reads costs at most its byte limit: with room for
/// a million messages but 4 MiB, a member that reads nothing is evicted
/// after a few 1 MiB broadcasts (what its socket buffers take, then
/// 4 MiB), not after 64; the broadcasts are shared, never copied per
/// member. A member that reads gets all 64 in order meanwhile, and the
/// evicted one's connection is gone afterwards.
#[test]
fn a_member_that_never_reads_is_evicted_by_its_byte_limit() {
    const BROADCASTS: usize = 64;
    let hub = Hub::with_member_limits(1_000_000, 4 << 20);
    let (server, joined) = hub_server(&hub);
    let (mut slow, _) = RawClient::connect(server.local_addr(), "/hub", "");
    await_joins(&joined, 1);
    let mut good = connect(&server);
    await_joins(&joined, 1);
    // The reading member says when it has each broadcast: the next but
    // one waits for that, so it is never more than 2 MiB behind.
    let (got_tx, got) = mpsc::channel();
    let reader = thread::spawn(move || {
        (0..BROADCASTS)
            .map(|i| {
                let message = good.read_message().unwrap();
                assert_eq!(
                    message.as_bytes()[..4],
                    (i as u32).to_be_bytes(),
                    "broadcast {i}"
                );
                let _ = got_tx.send(i);
                message.len()
            })
            .sum::<usize>()
    });
    let mut counts = Vec::new();
    for i in 0..BROADCASTS {
        if i >= 2 {
            assert_eq!(
                got.recv_timeout(TIMEOUT),
                Ok(i - 2),
                "the reading member is behind"
            );
        }
        let mut message = vec![0x5a; 1 << 20];
        message[..4].copy_from_slice(&(i as u32).to_be_bytes());
        counts.push(hub.broadcast(&Message::Binary(message)));
    }
    let taken = counts.iter().filter(|&&n| n == 2).count();
    assert_eq!(counts.last(), Some(&1), "never evicted: {counts:?}");
    // 4 MiB queued, plus what the two socket buffers of loopback hold
    // (a few MiB at most).
    assert!(
        taken <= 16,
        "{taken} broadcasts of 1 MiB taken before eviction"
    );
    assert!(taken >= 4, "evicted after only {taken} MiB");
    // Its reads time out after TIMEOUT each: the join cannot hang.
    let received = reader.join().unwrap();
    assert_eq!(
        received,
        BROADCASTS << 20,
        "the reading member lost broadcasts"
    );
    match slow.read_until_close() {
        End::Close(code, _) => assert_eq!(code, 1008),
        End::Dropped => {}
    }
    // (The reading member, done, may have gone too.)
    let slow_addr = slow.stream.local_addr().unwrap();
    eventually("the evicted connection ends", || {
        !server
            .connections()
            .iter()
            .any(|info| info.peer == Some(slow_addr))
    });
    println!(
        "a member that never reads took {taken} broadcasts of 1 MiB, then was evicted; \
         the reading member got all {BROADCASTS}"
    );
}

/// A chat message: similar to the others, so that compressing one refers
/// back to earlier ones.
#[cfg(feature = "deflate")]
fn chat(i: usize) -> Message {
    Message::from(format!(
        r#"{{"type":"message","room":"general","id":{i},"user":{{"id":{},"name":"user{}"}},"text":"message number {i} says hello to everyone in the room","ts":{}}}"#,
        i % 7,
        i % 7,
        1_700_000_000 + i * 37
    ))
}

#[cfg(feature = "deflate")]
#[test]
fn compressed_broadcasts_interleaved_with_a_members_own_sends_all_inflate() {
    // Broadcasts are compressed once, standing alone; the member's own
    // sends (echoes, from its own compressor with context takeover) refer
    // back to what went before, broadcasts included. Our client inflates
    // with its own decompressor, which holds every message in its window:
    // a wrong distance would come out as other bytes or fail.
    let hub = Hub::new();
    let (joined_tx, joined) = mpsc::channel();
    let member_hub = hub.clone();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .websocket("/hub", move |mut ws: WebSocket| {
            let _membership = member_hub.join(ws.sender()).unwrap();
            let _ = joined_tx.send(());
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap();
    let mut ws = connect(&server);
    assert!(
        ws.deflate().is_some(),
        "permessage-deflate is on by default"
    );
    await_joins(&joined, 1);
    // Broadcasts before the member's compressor ever ran, then own sends
    // and broadcasts in turn while it lives.
    for i in 0..60 {
        let message = chat(i);
        if i % 3 == 2 {
            ws.send_message(&message).unwrap();
        } else {
            assert_eq!(hub.broadcast(&message), 1);
        }
        assert_eq!(ws.read_message().unwrap(), message, "message {i}");
    }
}

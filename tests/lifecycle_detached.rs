//! After `stop`, a detached connection that nobody attached and whose
//! queue is full leaves no thread and no file descriptor behind.
//!
//! Alone in its binary: it counts the threads and file descriptors of the
//! whole process, which other tests running at the same time would
//! disturb.

mod lifecycle_proc;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use lifecycle_proc::{Snapshot, assert_back_to};
use syncws::{CloseCode, Error, Server, WebSocket};

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn stop_ends_a_detached_connection_whose_queue_is_full() {
    const STOP_TIMEOUT: Duration = Duration::from_millis(500);
    let before = Snapshot::now();
    {
        let (ids_tx, ids_rx) = mpsc::channel();
        let server = Server::bind("127.0.0.1:0")
            .unwrap()
            .stop_timeout(STOP_TIMEOUT)
            .detached_queue(2)
            .websocket("/detach", move |ws: WebSocket| {
                let _ = ids_tx.send(ws.detach().unwrap());
            })
            .serve()
            .unwrap();
        let mut ws = syncws::connect(&format!("ws://{}/detach", server.local_addr())).unwrap();
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        ids_rx.recv_timeout(TIMEOUT).unwrap();
        // More than the queue holds, and nobody attaches: whenever the
        // server reads them, its queue fills up before it reaches the
        // client's answer to the 1001 below.
        for i in 0..5 {
            ws.send_text(&format!("message {i}")).unwrap();
        }
        let client = std::thread::spawn(move || {
            for _ in 0..100 {
                if let Err(e) = ws.read_message() {
                    return e;
                }
            }
            panic!("more than 100 messages");
        });

        let start = Instant::now();
        server.stop();
        let took = start.elapsed();
        assert!(
            took < STOP_TIMEOUT + Duration::from_millis(1500),
            "stop took {took:?}"
        );
        match client.join().unwrap() {
            Error::Closed(frame) => assert_eq!(frame.code, CloseCode::GoingAway),
            Error::Io(_) => {}
            other => panic!("unexpected end {other:?}"),
        }
        drop(server);
    }
    assert_back_to(&before, Duration::from_secs(3));
}

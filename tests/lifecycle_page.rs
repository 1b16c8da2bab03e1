//! A page larger than the socket buffers, asked for by a client that never
//! reads, cannot hold a connection thread past the handshake timeout: the
//! write is bounded even though an upgrade sets no write timeout at all.
//!
//! Alone in its binary: it watches the threads of the whole process (by
//! their system names), which other tests running at the same time would
//! disturb.

mod lifecycle_proc;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lifecycle_proc::Snapshot;
use syncws::{Config, Server};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(300);
/// For a loaded machine.
const SLACK: Duration = Duration::from_secs(2);
/// Far more than loopback's socket buffers on both sides can hold.
const PAGE_SIZE: usize = 64 << 20;

#[test]
#[cfg(target_os = "linux")]
fn a_large_page_to_a_client_that_never_reads_ends_within_the_handshake_timeout() {
    let (asked_tx, asked_rx) = mpsc::channel();
    let body = vec![b'x'; PAGE_SIZE];
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(Config::default().handshake_timeout(Some(HANDSHAKE_TIMEOUT)))
        .http("/big", move |_| {
            let _ = asked_tx.send(());
            syncws::server::Response::new(200).with_body("text/plain", body.clone())
        })
        .serve()
        .unwrap();

    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    asked_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the page handler was called");
    let asked = Instant::now();

    // The client reads nothing until the connection's thread is done with
    // it: no thread is named after it any more (it ended, or waits for the
    // next connection as `syncws-idle`).
    let serving = |threads: &[String]| threads.iter().any(|name| name == "syncws-1");
    let deadline = asked + Duration::from_secs(10);
    while serving(&Snapshot::now().threads) {
        assert!(
            Instant::now() < deadline,
            "the connection thread still writes {:?} after the handshake timeout of {HANDSHAKE_TIMEOUT:?}",
            asked.elapsed()
        );
        // Polling the thread list, not synchronisation.
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone_after = asked.elapsed();
    // A deadline, not a timeout started over by every partial write.
    assert!(
        gone_after < HANDSHAKE_TIMEOUT + SLACK,
        "the connection thread ended {gone_after:?} after the page handler ran"
    );

    // What was written before the timeout is there, then the end: not the
    // whole page. (On a loaded machine, copying the 64 MiB page can take
    // the whole handshake timeout, and then nothing is written at all.)
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match client.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the page: {e}"),
        }
    }
    assert!(
        received < PAGE_SIZE,
        "received {received} of {PAGE_SIZE} bytes"
    );
    println!(
        "connection thread done {gone_after:?} after the page handler ran; {received} of {PAGE_SIZE} bytes sent"
    );
    server.stop();
}

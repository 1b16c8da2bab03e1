//! The helpers every kind of test needs, written once: threads awaited
//! within a deadline, conditions polled until they hold, a connection read
//! to its end, and the full-duplex scenarios run over TCP and over TLS.
//! The helper modules (`support`, `server_raw`, `hostile_raw`) include it
//! and re-export what their tests use.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use syncws::protocol::handshake::{Headers, accept_response, check_upgrade, parse_request};
use syncws::{Error, Message, WebSocket};

/// How long any single blocking step of a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The most messages read from one connection before it must have ended
/// (bounds the loops).
pub const MAX_MESSAGES: usize = 100_000;

/// A thread whose result the test awaits, within a deadline.
#[derive(Debug)]
pub struct Peer<T> {
    result: mpsc::Receiver<T>,
    thread: JoinHandle<()>,
    name: String,
}

impl<T: Send + 'static> Peer<T> {
    /// Run `f` in a new thread named `name`.
    pub fn spawn(name: &str, f: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = tx.send(f());
            })
            .expect("spawn a test thread");
        Peer {
            result: rx,
            thread,
            name: name.to_owned(),
        }
    }

    /// The thread's result, within [`TIMEOUT`].
    #[track_caller]
    pub fn join(self) -> T {
        self.join_within(TIMEOUT)
    }

    /// The thread's result. Panics if it takes longer than `timeout`;
    /// re-raises the thread's panic, so its assertion message is seen.
    #[track_caller]
    pub fn join_within(self, timeout: Duration) -> T {
        match self.result.recv_timeout(timeout) {
            Ok(value) => {
                let _ = self.thread.join();
                value
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: not done within {timeout:?}", self.name)
            }
            Err(RecvTimeoutError::Disconnected) => match self.thread.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the thread ended without sending its result"),
            },
        }
    }
}

/// Run `f` on a thread and wait at most `timeout` for its result; panics
/// (re-raising the thread's panic) otherwise.
#[track_caller]
pub fn within<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    Peer::spawn(what, f).join_within(timeout)
}

/// Wait until `condition` holds, checking every few milliseconds, for at
/// most `timeout`; panics naming `what` if it never does. (Polling a
/// condition, not sleeping as synchronisation.)
#[track_caller]
pub fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Read until the connection ends, within [`TIMEOUT`] per read; return
/// how it ended.
#[track_caller]
pub fn read_to_end(ws: &mut WebSocket) -> Error {
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    for _ in 0..MAX_MESSAGES {
        if let Err(e) = ws.read_message() {
            return e;
        }
    }
    panic!("more than {MAX_MESSAGES} messages");
}

/// Messages of the full-duplex scenarios.
pub const DUPLEX_COUNT: usize = 10_000;

/// A server handler, boxed, for the scenarios to give whichever server
/// (plain or TLS) the test starts.
pub type BoxedHandler = Box<dyn Fn(WebSocket) + Send + Sync>;

/// The server's handler blocks in `read_message` with no timeout while a
/// second thread sends [`DUPLEX_COUNT`] messages through a `Sender`. The
/// client only speaks once it has received them all, so the reader stays
/// blocked for the whole run: every message must arrive, in order.
/// `start` starts a server with the handler and returns a client of it.
pub fn a_blocked_reader_never_delays_a_sender<S>(
    start: impl FnOnce(BoxedHandler) -> S,
    client: impl FnOnce(&S) -> WebSocket,
) {
    let (result_tx, result_rx) = mpsc::channel();
    let result_tx = std::sync::Mutex::new(result_tx);
    let server = start(Box::new(move |mut ws: WebSocket| {
        let sender = ws.sender();
        let pusher = thread::spawn(move || {
            for i in 0..DUPLEX_COUNT {
                sender.send_text(&i.to_string()).unwrap();
            }
        });
        // Blocked here, no timeout, while the pusher sends everything.
        let first = ws.read_message();
        pusher.join().unwrap();
        let _ = result_tx
            .lock()
            .unwrap()
            .send(first.map(|m| m.into_bytes()));
    }));
    let mut client = client(&server);
    for i in 0..DUPLEX_COUNT {
        assert_eq!(client.read_message().unwrap(), Message::Text(i.to_string()));
    }
    client.send_text("all received").unwrap();
    let seen_by_reader = result_rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    assert_eq!(seen_by_reader, b"all received");
}

/// The client side: the client's reader is blocked while its sender
/// pushes [`DUPLEX_COUNT`] messages to an echo server, and reads them all
/// back, in order.
pub fn a_client_reads_while_another_thread_sends(mut client: WebSocket) {
    let sender = client.sender();
    let pusher = thread::spawn(move || {
        for i in 0..DUPLEX_COUNT {
            sender.send_binary(&(i as u32).to_be_bytes()).unwrap();
        }
    });
    for i in 0..DUPLEX_COUNT {
        let message = client.read_message().unwrap();
        assert_eq!(message, Message::Binary((i as u32).to_be_bytes().to_vec()));
    }
    pusher.join().unwrap();
    client.close(syncws::CloseCode::Normal, "").unwrap();
}

/// How many TCP connections on 127.0.0.1 are open on the server side of
/// `port` (established, or closed by the peer and not yet by the server):
/// the sockets a server listening on `port` holds, whatever else the
/// process runs meanwhile (`/proc/net/tcp`; the listener is not counted).
pub fn server_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local address, remote address, state (01 established,
            // 08 close-wait).
            fields.get(1) == Some(&local.as_str()) && matches!(fields.get(3), Some(&"01" | &"08"))
        })
        .count()
}

/// A handler that sends every message back until the connection ends.
pub fn echo(mut ws: WebSocket) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

/// Answer a client's opening handshake by hand on `stream` (TCP, Unix or
/// TLS): read the request head, check it and write the `101`. For tests
/// whose server then speaks raw frames.
pub fn answer_handshake(stream: &mut (impl std::io::Read + std::io::Write)) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let request = loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the client went away during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((request, _)) = parse_request(&buf, 16 << 10, 64).unwrap() {
            break request;
        }
    };
    let key = check_upgrade(&request).unwrap();
    stream
        .write_all(&accept_response(&key, None, &Headers::new()))
        .unwrap();
}

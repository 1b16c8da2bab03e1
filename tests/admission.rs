//! Every accepted socket counts against the server's limits from the
//! moment it is accepted: sockets that open and say nothing (or trickle
//! their request) hold at most `max_handshakes` threads, never more than
//! `max_connections` altogether, and at most `max_connections_per_peer`
//! from one address; the rest are refused at once, with a 503, by the
//! accepting thread, which starts no thread for them. A good client that
//! is already connected is served throughout, and a new one from another
//! address gets in.
//!
//! Alone in its binary: it counts the process's threads.

mod hostile_raw;
mod lifecycle_proc;

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hostile_raw::{Chatter, TIMEOUT};
use lifecycle_proc::{Snapshot, assert_back_to};
use socket2::{Domain, Socket, Type};
use syncws::{Config, Server};

const MAX_CONNECTIONS: usize = 50;
const MAX_HANDSHAKES: usize = 20;
const PER_PEER: usize = 12;
const SILENT: usize = 300;

/// A TCP connection to `addr` from the loopback address `from`.
fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// What the server answered on `stream` without being asked anything:
/// its status line, or `None` if it is still waiting for a request.
fn answered_at_once(stream: &mut TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if answer.is_empty() {
                    return None;
                }
                break;
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    Some(text.lines().next().unwrap_or_default().to_owned())
}

fn connection_threads(snapshot: &Snapshot) -> usize {
    snapshot
        .threads
        .iter()
        .filter(|name| name.starts_with("syncws-") && !name.starts_with("syncws-accept"))
        .count()
}

/// Open `n` sockets from `from` that say nothing: how many the server
/// holds in their handshake, and how many it refused at once with 503.
fn silent_sockets(from: [u8; 4], addr: SocketAddr, n: usize) -> (Vec<TcpStream>, usize, usize) {
    let mut streams: Vec<TcpStream> = (0..n).map(|_| connect_from(from, addr)).collect();
    let (mut held, mut refused) = (0, 0);
    for (i, stream) in streams.iter_mut().enumerate() {
        match answered_at_once(stream) {
            None => held += 1,
            Some(status) => {
                assert!(
                    status.contains(" 503 "),
                    "socket {i} from {from:?} got {status:?}"
                );
                refused += 1;
            }
        }
    }
    (streams, held, refused)
}

#[test]
fn sockets_that_say_nothing_are_counted_from_their_acceptance_and_refused_at_once_past_the_limits()
{
    let before = Snapshot::now();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(Config::default().handshake_timeout(Some(Duration::from_secs(30))))
        .max_connections(MAX_CONNECTIONS)
        .max_handshakes(MAX_HANDSHAKES)
        .max_connections_per_peer(PER_PEER)
        .listen_backlog(1024)
        .unwrap()
        // Threads that serve a connection end with it.
        .idle_threads(0, Duration::ZERO)
        .websocket("/echo", hostile_raw::echo)
        .serve()
        .unwrap();
    let addr = server.local_addr();
    // From 127.0.0.1.
    let good = Chatter::start(&format!("ws://{addr}/echo"));
    good.wait_progress(3, "before the attack");

    let started = Instant::now();
    // 300 from one address: held up to the per-address limit.
    let (first, held_1, refused_1) = silent_sockets([127, 0, 0, 2], addr, SILENT);
    assert_eq!((held_1, refused_1), (PER_PEER, SILENT - PER_PEER));
    // From a second address: the handshake limit fills.
    let (second, held_2, refused_2) = silent_sockets([127, 0, 0, 3], addr, 50);
    assert_eq!(
        (held_2, refused_2),
        (MAX_HANDSHAKES - PER_PEER, 50 - (MAX_HANDSHAKES - PER_PEER))
    );
    // From a third: nothing more is held in a handshake.
    let (third, held_3, refused_3) = silent_sockets([127, 0, 0, 4], addr, 20);
    assert_eq!((held_3, refused_3), (0, 20));
    let sorted_after = started.elapsed();
    // One thread per socket held, none for the refused ones (besides the
    // good client's).
    let threads = connection_threads(&Snapshot::now());
    assert!(
        threads <= MAX_HANDSHAKES + 2,
        "{threads} connection threads for {MAX_HANDSHAKES} held sockets"
    );
    // The good client, open before, is served throughout.
    good.wait_progress(10, "with the handshake slots full");

    // Once the silent sockets go, their slots are free again.
    drop((first, second, third));
    let newcomer = Chatter::start(&format!("ws://{addr}/echo"));
    newcomer.wait_progress(3, "a new client after the attack");
    newcomer.finish();
    good.wait_progress(3, "after the attack");
    let rounds = good.finish();
    println!(
        "silent sockets: {} held in their handshake, {} refused with 503 at once \
         (sorted in {sorted_after:?}); {threads} connection threads meanwhile; \
         the good client made {rounds} round trips",
        held_1 + held_2 + held_3,
        refused_1 + refused_2 + refused_3
    );
    server.stop();
    drop(server);
    assert_back_to(&before, TIMEOUT);
}

//! Read timeouts are ordinary errors: nothing is lost, not even half a
//! frame, and the connection stays usable.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use syncws::protocol::frame::{OpCode, write_frame};
use syncws::{CloseCode, CloseFrame, Error, Message, Server, Timeout};

const SHORT: Duration = Duration::from_millis(50);

/// Accept one connection on `listener` and answer its handshake by hand,
/// returning the raw stream and the first bytes the client sent after it.
fn accept_raw(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().unwrap();
    support::common::answer_handshake(&mut stream);
    stream
}

/// A raw server that sends `frame` in two parts: `cut` bytes, then (once
/// told to) the rest. Returns the URL and the "send the rest" trigger.
fn split_frame_server(
    frame: Vec<u8>,
    cut: usize,
) -> (String, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let mut stream = accept_raw(&listener);
        stream.write_all(&frame[..cut]).unwrap();
        go_rx.recv().unwrap();
        stream.write_all(&frame[cut..]).unwrap();
        // Wait for the client to finish before hanging up.
        let _ = go_rx.recv();
    });
    (url, go_tx, peer)
}

fn check_half_frame_survives_timeout(payload: Vec<u8>, cut: usize) {
    let mut frame = Vec::new();
    write_frame(&mut frame, true, OpCode::Binary, &payload, None);
    let (url, go, peer) = split_frame_server(frame, cut);
    let mut ws = syncws::connect(&url).unwrap();
    ws.set_read_timeout(Some(SHORT)).unwrap();
    // Only part of the frame can arrive before the timeout.
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    go.send(()).unwrap();
    ws.set_read_timeout(None).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(payload));
    drop(go);
    peer.join().unwrap();
}

#[test]
fn timeout_inside_a_frame_header_loses_nothing() {
    check_half_frame_survives_timeout(b"after the timeout".to_vec(), 1);
}

#[test]
fn timeout_inside_a_small_payload_loses_nothing() {
    let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    check_half_frame_survives_timeout(payload, 300);
}

#[test]
fn timeout_inside_a_large_payload_read_straight_into_the_message_loses_nothing() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 31) as u8).collect();
    check_half_frame_survives_timeout(payload, 150_000);
}

/// Between two fragments of a message, a timeout keeps the first one.
#[test]
fn timeout_between_fragments_loses_nothing() {
    let mut frames = Vec::new();
    write_frame(&mut frames, false, OpCode::Text, "héllo ".as_bytes(), None);
    let cut = frames.len() + 1; // and one byte of the next header
    write_frame(
        &mut frames,
        true,
        OpCode::Continuation,
        "wörld".as_bytes(),
        None,
    );
    let (url, go, peer) = split_frame_server(frames, cut);
    let mut ws = syncws::connect(&url).unwrap();
    ws.set_read_timeout(Some(SHORT)).unwrap();
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    go.send(()).unwrap();
    ws.set_read_timeout(None).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("héllo wörld"));
    drop(go);
    peer.join().unwrap();
}

/// After a timeout the connection still sends and receives.
#[test]
fn connection_stays_usable_after_a_timeout() {
    let (_server, url) = support::start_echo_server();
    let mut ws = syncws::connect(&url).unwrap();
    ws.set_read_timeout(Some(SHORT)).unwrap();
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    ws.send_text("still here").unwrap();
    ws.set_read_timeout(None).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("still here"));
    ws.close(CloseCode::Normal, "").unwrap();
}

/// `run_with` sends a keep-alive ping at each read timeout, keeps serving,
/// and returns the peer's close frame when the peer closes cleanly.
#[test]
fn run_with_pings_on_timeout_and_returns_the_close_frame_on_clean_close() {
    let (done_tx, done_rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(move |mut ws| {
            ws.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let sender = ws.sender();
            let result = ws.run_with(|m| sender.send_message(m));
            done_tx.send(result.map_err(|e| e.to_string())).unwrap();
        })
        .unwrap();
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (mut peer, _) = tungstenite::client(url.as_str(), stream).unwrap();
    // Say nothing: the server's read times out and it pings.
    match peer.read().unwrap() {
        tungstenite::Message::Ping(payload) => assert!(payload.is_empty()),
        other => panic!("expected a keep-alive ping, got {other:?}"),
    }
    peer.send(tungstenite::Message::text("echo me")).unwrap();
    loop {
        match peer.read().unwrap() {
            tungstenite::Message::Text(text) => {
                assert_eq!(text.as_str(), "echo me");
                break;
            }
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    peer.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Library(4100),
        reason: "enough".into(),
    }))
    .unwrap();
    while peer.read().is_ok() {}
    // The server closes the TCP connection once the client has.
    drop(peer);
    assert_eq!(
        done_rx.recv().unwrap(),
        Ok(CloseFrame::new(CloseCode::Other(4100), "enough"))
    );
}

/// A close sent from another thread to a peer that never answers: the
/// blocked reader gives up after the close timeout instead of waiting
/// forever, even with no read timeout of its own.
#[test]
fn reader_gives_up_when_the_peer_never_answers_our_close() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let _stream = accept_raw(&listener);
        // Keep the connection open and silent until the test ends.
        let _ = hold_rx.recv();
    });
    let mut ws = syncws::ClientBuilder::new(url)
        .config(syncws::Config::default().close_timeout(Duration::from_millis(200)))
        .connect()
        .unwrap();
    let sender = ws.sender();
    thread::spawn(move || sender.send_close(CloseCode::Normal, "").unwrap())
        .join()
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        match ws.read_message() {
            Err(Error::Timeout(Timeout::Read)) => outcomes.push("timeout"),
            Err(Error::Timeout(Timeout::CloseOverdue)) => {
                outcomes.push("gave up");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(outcomes.last(), Some(&"gave up"), "{outcomes:?}");
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
    drop(hold_tx);
    peer.join().unwrap();
}

/// A write timeout fails the connection once: the send that met it says
/// so, and every later send answers `AlreadyClosed`, never a timeout that
/// a caller following the docs would retry forever. The reader is told
/// the failure too, then `AlreadyClosed`.
#[test]
fn after_a_write_timeout_later_sends_answer_already_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    // The peer completes the handshake, then never reads.
    let peer = thread::spawn(move || {
        let _stream = accept_raw(&listener);
        let _ = hold_rx.recv();
    });
    let mut ws = syncws::connect(&url).unwrap();
    ws.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let chunk = vec![0u8; 256 << 10];
    // The socket buffers take a few MiB at most; 1 GiB is never reached.
    let mut failure = None;
    for _ in 0..4096 {
        if let Err(e) = ws.send_binary(&chunk) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("the sends never stalled");
    assert!(
        matches!(failure, Error::Timeout(Timeout::Write)),
        "{failure:?}"
    );
    let sender = ws.sender();
    assert!(!sender.is_open());
    for _ in 0..3 {
        assert!(matches!(ws.send_text("again?"), Err(Error::AlreadyClosed)));
        assert!(matches!(
            sender.send_binary(&chunk),
            Err(Error::AlreadyClosed)
        ));
        assert!(matches!(sender.ping(b""), Err(Error::AlreadyClosed)));
    }
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Write))
    ));
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
    drop(hold_tx);
    peer.join().unwrap();
}

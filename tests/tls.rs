//! wss:// through native-tls: our client and server, full duplex over TLS,
//! timeouts, certificate errors, hostile clients, a tungstenite peer.
#![cfg(feature = "native-tls")]

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use syncws::native_tls::{Identity, TlsAcceptor, TlsConnector};
use syncws::protocol::frame::{OpCode, write_frame};
use syncws::protocol::handshake::{Headers, accept_response, check_upgrade, parse_request};
use syncws::{ClientBuilder, CloseCode, Config, Error, Message, Server, ServerHandle, Timeout};

/// A self-signed certificate for `names`, as (certificate PEM, key PEM).
fn certificate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

struct Tls {
    server: ServerHandle,
    cert_pem: String,
}

impl Tls {
    fn url(&self, path: &str) -> String {
        format!("wss://localhost:{}{path}", self.server.local_addr().port())
    }

    fn client(&self, path: &str) -> ClientBuilder {
        ClientBuilder::new(self.url(path))
            .add_root_certificate(self.cert_pem.as_bytes())
            .unwrap()
            .config(big_limits())
    }
}

/// A TLS connector that trusts `cert_pem`.
fn trusting(cert_pem: &str) -> TlsConnector {
    TlsConnector::builder()
        .add_root_certificate(
            syncws::native_tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
}

fn big_limits() -> Config {
    Config::default()
        .max_frame_size(32 << 20)
        .max_message_size(32 << 20)
}

fn tls_server(handler: impl Fn(syncws::WebSocket) + Send + Sync + 'static) -> Tls {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let identity = Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(big_limits().handshake_timeout(Some(Duration::from_millis(500))))
        .tls(identity)
        .unwrap()
        .page("/page", "text/plain", "a page over https")
        .websocket(syncws::server::Route::any(), handler)
        .serve()
        .unwrap();
    Tls { server, cert_pem }
}

fn tls_echo_server() -> Tls {
    tls_server(|mut ws| {
        let sender = ws.sender();
        let _ = ws.run_with(|m| sender.send_message(m));
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn echo_over_wss_text_binary_fragmented_large_and_close() {
    let tls = tls_echo_server();
    let mut ws = tls.client("/echo").connect().unwrap();
    ws.send_text("hello over TLS").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("hello over TLS"));
    ws.send_binary(&[0, 1, 2, 255]).unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Binary(vec![0, 1, 2, 255])
    );
    ws.send_text_frames(["frag", "men", "ted é"]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("fragmented é"));
    let big = pattern(16 << 20);
    ws.send_binary(&big).unwrap();
    match ws.read_message().unwrap() {
        Message::Binary(data) => assert!(data == big, "16 MiB echo differs"),
        other => panic!("expected binary, got {} bytes of text", other.len()),
    }
    ws.close(CloseCode::Other(4321), "bye").unwrap();
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
}

#[test]
fn server_close_code_reaches_a_wss_client() {
    let tls = tls_server(|mut ws| {
        let _ = ws.close(CloseCode::Other(4100), "server says bye");
    });
    let mut ws = tls.client("/").connect().unwrap();
    match ws.read_message() {
        Err(Error::Closed(frame)) => {
            assert_eq!(frame.code, CloseCode::Other(4100));
            assert_eq!(frame.reason, "server says bye");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
}

/// The full-duplex scenarios of the plain TCP suite (`tests/duplex.rs`),
/// over TLS: a reader blocked with no timeout never delays a sender on
/// another thread.
#[test]
fn a_blocked_wss_reader_never_delays_a_sender() {
    common::a_blocked_reader_never_delays_a_sender(tls_server, |tls| {
        tls.client("/").connect().unwrap()
    });
}

#[test]
fn wss_client_reads_while_another_thread_sends() {
    let tls = tls_echo_server();
    common::a_client_reads_while_another_thread_sends(tls.client("/").connect().unwrap());
}

/// A TLS peer written by hand, that sends a frame in two parts: a read
/// timeout in between loses nothing.
#[test]
fn timeout_inside_a_frame_over_tls_loses_nothing() {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let acceptor =
        TlsAcceptor::new(Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap())
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let payload = pattern(100_000);
    let mut frame = Vec::new();
    write_frame(&mut frame, true, OpCode::Binary, &payload, None);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = acceptor.accept(tcp).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let request = loop {
            let n = tls.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some((request, _)) = parse_request(&buf, 16 << 10, 64).unwrap() {
                break request;
            }
        };
        let key = check_upgrade(&request).unwrap();
        tls.write_all(&accept_response(&key, None, &Headers::new()))
            .unwrap();
        tls.write_all(&frame[..30_000]).unwrap();
        tls.flush().unwrap();
        go_rx.recv().unwrap();
        tls.write_all(&frame[30_000..]).unwrap();
        tls.flush().unwrap();
        let _ = go_rx.recv();
    });
    let mut ws = ClientBuilder::new(format!("wss://localhost:{port}/"))
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    go_tx.send(()).unwrap();
    ws.set_read_timeout(None).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(payload));
    drop(go_tx);
    peer.join().unwrap();
}

fn assert_tls_error(result: syncws::Result<syncws::WebSocket>, what: &str) {
    match result {
        Err(Error::Tls(e)) => {
            use std::error::Error as _;
            assert!(e.source().is_some() || !e.to_string().is_empty(), "{what}");
        }
        other => panic!("{what}: expected a TLS error, got {other:?}"),
    }
}

#[test]
fn unknown_certificate_authority_is_a_tls_error() {
    let tls = tls_echo_server();
    assert_tls_error(ClientBuilder::new(tls.url("/")).connect(), "unknown CA");
}

#[test]
fn certificate_for_another_name_is_a_tls_error() {
    let (cert_pem, key_pem) = certificate(&["other.example"]);
    let identity = Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(identity)
        .unwrap()
        .start(|_| {})
        .unwrap();
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    let result = ClientBuilder::new(url.clone())
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect();
    assert_tls_error(result, "name mismatch");
    // Explicitly accepting invalid certificates gets through.
    let mut ws = ClientBuilder::new(url)
        .danger_accept_invalid_certs()
        .unwrap()
        .connect()
        .unwrap();
    assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
}

#[test]
#[cfg(target_os = "linux")]
fn pkcs12_identity_serves_wss() {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let cert = openssl::x509::X509::from_pem(cert_pem.as_bytes()).unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes()).unwrap();
    let der = openssl::pkcs12::Pkcs12::builder()
        .name("syncws test")
        .pkey(&key)
        .cert(&cert)
        .build2("secret")
        .unwrap()
        .to_der()
        .unwrap();
    let identity = Identity::from_pkcs12(&der, "secret").unwrap();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(identity)
        .unwrap()
        .start(|ws| {
            let _ = ws.send_text("pkcs12");
        })
        .unwrap();
    let mut ws = ClientBuilder::new(format!("wss://localhost:{}/", server.local_addr().port()))
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect()
        .unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("pkcs12"));
}

/// Plain HTTP, garbage and a silent client on the TLS port are dropped
/// within the handshake timeout (500 ms here), and a good client is served
/// meanwhile.
#[test]
fn hostile_clients_on_the_tls_port_are_dropped_and_harm_no_one() {
    let tls = tls_echo_server();
    let addr = tls.server.local_addr();
    let hostile: Vec<(&str, &[u8])> = vec![
        ("plain HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("garbage", b"\x00\x01\x02 not TLS at all \xff\xfe"),
        ("silence", b""),
        (
            "half a ClientHello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ),
    ];
    let mut attackers = Vec::new();
    for (what, bytes) in hostile {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(bytes).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        attackers.push((what, stream, Instant::now()));
    }
    let mut ws = tls.client("/").connect().unwrap();
    ws.send_text("unharmed").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("unharmed"));
    for (what, mut stream, started) in attackers {
        let mut sink = [0u8; 4096];
        // The server may answer with a TLS alert first; then it hangs up.
        loop {
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{what}: not dropped: {e}"),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: dropped only after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn pages_are_served_over_https() {
    let tls = tls_echo_server();
    let connector = trusting(&tls.cert_pem);
    let tcp = TcpStream::connect(tls.server.local_addr()).unwrap();
    let mut stream = connector.connect("localhost", tcp).unwrap();
    stream
        .write_all(b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("a page over https"), "{answer}");
}

#[test]
fn tungstenite_client_with_native_tls_against_our_wss_server() {
    let tls = tls_echo_server();
    let connector = trusting(&tls.cert_pem);
    let tcp = TcpStream::connect(tls.server.local_addr()).unwrap();
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(32 << 20))
        .max_frame_size(Some(32 << 20));
    let (mut peer, _) = tungstenite::client_tls_with_config(
        tls.url("/tung"),
        tcp,
        Some(config),
        Some(tungstenite::Connector::NativeTls(connector)),
    )
    .unwrap();
    let big = pattern(16 << 20);
    for message in [
        tungstenite::Message::text("from tungstenite"),
        tungstenite::Message::binary(vec![9u8; 1000]),
        tungstenite::Message::binary(big.clone()),
    ] {
        peer.send(message.clone()).unwrap();
        assert_eq!(peer.read().unwrap(), message);
    }
    peer.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Library(4242),
        reason: "done".into(),
    }))
    .unwrap();
    loop {
        match peer.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 4242);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// A TLS ClientHello sent a byte at a time cannot stretch the handshake:
/// the whole TLS and HTTP handshake must be done within the handshake
/// timeout (500 ms here), not each read (a socket timeout starts over
/// with every byte). 50 connections, one byte each every 100 ms.
#[test]
fn a_client_hello_trickled_a_byte_at_a_time_is_dropped_within_the_handshake_timeout() {
    const ATTACKERS: usize = 50;
    let tls = tls_echo_server();
    let addr = tls.server.local_addr();
    // A good client, open before, exchanges messages all through.
    let mut good = tls.client("/").connect().unwrap();
    let rounds = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&rounds);
    let (stop_good, stopped) = mpsc::channel::<()>();
    let good = thread::spawn(move || {
        while stopped.try_recv().is_err() && counted.load(Ordering::Relaxed) < 1_000_000 {
            good.send_text("good").unwrap();
            assert_eq!(good.read_message().unwrap(), Message::from("good"));
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    // A TLS record header for a 512-byte handshake message, then its body:
    // 3 s of bytes at this pace.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.resize(30, 0x42);
    let mut attackers: Vec<(TcpStream, Option<Duration>)> = (0..ATTACKERS)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            stream.set_nonblocking(true).unwrap();
            (stream, None)
        })
        .collect();
    let start = Instant::now();
    let rounds_before = rounds.load(Ordering::Relaxed);
    let mut chunk = [0u8; 256];
    for byte in &hello {
        for (stream, dropped) in &mut attackers {
            if dropped.is_some() {
                continue;
            }
            // A failed write means the server closed: the read sees it.
            let _ = stream.write(std::slice::from_ref(byte));
            match stream.read(&mut chunk) {
                Ok(0) => *dropped = Some(start.elapsed()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *dropped = Some(start.elapsed()),
            }
        }
        if attackers.iter().all(|(_, dropped)| dropped.is_some()) {
            break;
        }
        // Attacker pacing, not synchronisation.
        thread::sleep(Duration::from_millis(100));
    }
    let latest = attackers
        .iter()
        .enumerate()
        .map(|(i, (_, dropped))| dropped.unwrap_or_else(|| panic!("attacker {i} never dropped")))
        .max()
        .unwrap();
    assert!(
        latest < Duration::from_millis(500) + Duration::from_secs(1),
        "the last trickling handshake was dropped after {latest:?}"
    );
    let rounds_during = rounds.load(Ordering::Relaxed) - rounds_before;
    assert!(
        rounds_during > 0,
        "the good client made no round trip during the attack"
    );
    // The server holds no socket of theirs, only the good client's.
    common::eventually("the attackers' sockets closed", common::TIMEOUT, || {
        common::server_sockets(addr.port()) == 1
    });
    stop_good.send(()).unwrap();
    good.join().unwrap();
    // The server still serves new clients.
    let mut ws = tls.client("/").connect().unwrap();
    ws.send_text("still here").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("still here"));
    println!(
        "50 trickled ClientHellos, the last dropped after {latest:?}; \
         the good client made {rounds_during} round trips meanwhile"
    );
}

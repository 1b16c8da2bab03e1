//! wss:// on both TLS backends: our client and server, each pairing of
//! native-tls and rustls (the same library on both ends, and each against
//! the other), full duplex over TLS, timeouts, certificate errors, hostile
//! clients, close_notify, a tungstenite peer.
//!
//! The scenarios are functions of the backends; `on_each_pairing!` (and
//! `on_each_server!`, `on_each_client!` for those that concern one side)
//! makes a test of each for every pairing the features allow, in modules
//! named after it (`native_tls::`, `rustls::`, `rustls_client_native_server::`,
//! `native_client_rustls_server::`).
#![cfg(any(feature = "native-tls", feature = "rustls"))]

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use syncws::protocol::frame::{OpCode, write_frame};
use syncws::{
    ClientBuilder, CloseCode, Config, Error, Message, Server, ServerHandle, Timeout, TlsBackend,
};

/// A TLS library, on one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    #[cfg(feature = "native-tls")]
    Native,
    #[cfg(feature = "rustls")]
    Rustls,
}

impl Backend {
    fn client(self) -> TlsBackend {
        match self {
            #[cfg(feature = "native-tls")]
            Backend::Native => TlsBackend::NativeTls,
            #[cfg(feature = "rustls")]
            Backend::Rustls => TlsBackend::Rustls,
        }
    }

    /// `server` serving TLS through this library with `cert_pem` and its key.
    fn serve(self, server: Server, cert_pem: &str, key_pem: &str) -> Server {
        match self {
            #[cfg(feature = "native-tls")]
            Backend::Native => server
                .tls(
                    syncws::native_tls::Identity::from_pkcs8(
                        cert_pem.as_bytes(),
                        key_pem.as_bytes(),
                    )
                    .unwrap(),
                )
                .unwrap(),
            #[cfg(feature = "rustls")]
            Backend::Rustls => server
                .rustls_pem(cert_pem.as_bytes(), key_pem.as_bytes())
                .unwrap(),
        }
    }
}

/// Which library each end speaks.
#[derive(Debug, Clone, Copy)]
struct Pair {
    client: Backend,
    server: Backend,
}

/// Make a test of each scenario named for every pairing of backends.
macro_rules! on_each_pairing {
    ($($scenario:ident),* $(,)?) => {
        #[cfg(feature = "native-tls")]
        mod native_tls {
            $(#[test] fn $scenario() {
                super::$scenario(super::Pair { client: super::Backend::Native, server: super::Backend::Native })
            })*
        }
        #[cfg(feature = "rustls")]
        mod rustls {
            $(#[test] fn $scenario() {
                super::$scenario(super::Pair { client: super::Backend::Rustls, server: super::Backend::Rustls })
            })*
        }
        #[cfg(all(feature = "native-tls", feature = "rustls"))]
        mod rustls_client_native_server {
            $(#[test] fn $scenario() {
                super::$scenario(super::Pair { client: super::Backend::Rustls, server: super::Backend::Native })
            })*
        }
        #[cfg(all(feature = "native-tls", feature = "rustls"))]
        mod native_client_rustls_server {
            $(#[test] fn $scenario() {
                super::$scenario(super::Pair { client: super::Backend::Native, server: super::Backend::Rustls })
            })*
        }
    };
}

/// Make a test of each scenario named for each backend (`$module::native`,
/// `$module::rustls`), for scenarios that concern one end only.
macro_rules! on_each_backend {
    ($module:ident: $($scenario:ident),* $(,)?) => {
        mod $module {
            $(
                mod $scenario {
                    #[cfg(feature = "native-tls")]
                    #[test] fn native() { super::super::$scenario(super::super::Backend::Native) }
                    #[cfg(feature = "rustls")]
                    #[test] fn rustls() { super::super::$scenario(super::super::Backend::Rustls) }
                }
            )*
        }
    };
}

on_each_pairing!(
    echo_over_wss_text_binary_fragmented_large_and_close,
    server_close_code_reaches_a_wss_client,
    a_blocked_wss_reader_never_delays_a_sender,
    wss_client_reads_while_another_thread_sends,
    unknown_certificate_authority_is_a_tls_error,
    certificate_for_another_name_is_a_tls_error,
);

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

    fn client(&self, backend: Backend, path: &str) -> ClientBuilder {
        ClientBuilder::new(self.url(path))
            .tls_backend(backend.client())
            .add_root_certificate(self.cert_pem.as_bytes())
            .unwrap()
            .config(big_limits())
    }
}

fn big_limits() -> Config {
    Config::default()
        .max_frame_size(32 << 20)
        .max_message_size(32 << 20)
}

fn tls_server(
    backend: Backend,
    handler: impl Fn(syncws::WebSocket) + Send + Sync + 'static,
) -> Tls {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(big_limits().handshake_timeout(Some(Duration::from_millis(500))));
    let server = backend
        .serve(server, &cert_pem, &key_pem)
        .page("/page", "text/plain", "a page over https")
        .websocket(syncws::server::Route::any(), handler)
        .serve()
        .unwrap();
    Tls { server, cert_pem }
}

fn tls_echo_server(backend: Backend) -> Tls {
    tls_server(backend, |mut ws| {
        let sender = ws.sender();
        let _ = ws.run_with(|m| sender.send_message(m));
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn echo_over_wss_text_binary_fragmented_large_and_close(pair: Pair) {
    let tls = tls_echo_server(pair.server);
    let mut ws = tls.client(pair.client, "/echo").connect().unwrap();
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

fn server_close_code_reaches_a_wss_client(pair: Pair) {
    let tls = tls_server(pair.server, |mut ws| {
        let _ = ws.close(CloseCode::Other(4100), "server says bye");
    });
    let mut ws = tls.client(pair.client, "/").connect().unwrap();
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
fn a_blocked_wss_reader_never_delays_a_sender(pair: Pair) {
    common::a_blocked_reader_never_delays_a_sender(
        |handler| tls_server(pair.server, handler),
        |tls| tls.client(pair.client, "/").connect().unwrap(),
    );
}

fn wss_client_reads_while_another_thread_sends(pair: Pair) {
    let tls = tls_echo_server(pair.server);
    common::a_client_reads_while_another_thread_sends(
        tls.client(pair.client, "/").connect().unwrap(),
    );
}

/// A TLS failure is `Error::Tls`, from the client's backend, showing
/// its cause and keeping it as the source. With rustls, `rustls_says`
/// tells whether rustls's error is the one expected.
#[track_caller]
fn assert_tls_error(
    backend: Backend,
    result: syncws::Result<syncws::WebSocket>,
    what: &str,
    rustls_says: fn(&str) -> bool,
) {
    use std::error::Error as _;
    let e = match result {
        Err(Error::Tls(e)) => e,
        other => panic!("{what}: expected a TLS error, got {other:?}"),
    };
    assert!(e.source().is_some(), "{what}: no source in {e:?}");
    match backend {
        #[cfg(feature = "native-tls")]
        Backend::Native => assert!(e.as_native_tls().is_some(), "{what}: {e:?}"),
        #[cfg(feature = "rustls")]
        Backend::Rustls => {
            let cause = e.as_rustls().unwrap_or_else(|| panic!("{what}: {e:?}"));
            assert!(rustls_says(&format!("{cause:?}")), "{what}: {cause:?}");
        }
    }
    let _ = rustls_says;
    let shown = Error::Tls(e).to_string();
    assert!(shown.starts_with("TLS error: "), "{what}: {shown}");
    assert!(
        shown.len() > "TLS error: ".len() + 5,
        "{what}: no cause shown in {shown:?}"
    );
}

fn unknown_certificate_authority_is_a_tls_error(pair: Pair) {
    let tls = tls_echo_server(pair.server);
    assert_tls_error(
        pair.client,
        ClientBuilder::new(tls.url("/"))
            .tls_backend(pair.client.client())
            .connect(),
        "unknown CA",
        |cause| cause.contains("UnknownIssuer"),
    );
}

fn certificate_for_another_name_is_a_tls_error(pair: Pair) {
    let (cert_pem, key_pem) = certificate(&["other.example"]);
    let server = Server::bind("127.0.0.1:0").unwrap();
    let server = pair
        .server
        .serve(server, &cert_pem, &key_pem)
        .start(|_| {})
        .unwrap();
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    let result = ClientBuilder::new(url.clone())
        .tls_backend(pair.client.client())
        .add_root_certificate(cert_pem.as_bytes())
        .unwrap()
        .connect();
    assert_tls_error(pair.client, result, "name mismatch", |cause| {
        cause.contains("NotValidForName")
    });
    // Explicitly accepting invalid certificates gets through.
    let mut ws = ClientBuilder::new(url)
        .tls_backend(pair.client.client())
        .danger_accept_invalid_certs()
        .unwrap()
        .connect()
        .unwrap();
    assert!(matches!(ws.read_message(), Err(Error::Closed(_))));
}

on_each_backend!(
    servers: hostile_clients_on_the_tls_port_are_dropped_and_harm_no_one,
    pages_are_served_over_https,
    a_client_hello_trickled_a_byte_at_a_time_is_dropped_within_the_handshake_timeout,
    a_closed_connection_ends_with_close_notify,
);

on_each_backend!(clients: timeout_inside_a_frame_over_tls_loses_nothing);

/// A byte stream of a TLS peer written by hand.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl Backend {
    /// The other library when both are built (a peer by hand then tests
    /// our side against a second implementation), else this one.
    fn other(self) -> Backend {
        #[cfg(all(feature = "native-tls", feature = "rustls"))]
        return match self {
            Backend::Native => Backend::Rustls,
            Backend::Rustls => Backend::Native,
        };
        #[cfg(not(all(feature = "native-tls", feature = "rustls")))]
        return self;
    }

    /// A TLS server stream on `tcp`, by hand, through this library.
    fn raw_server(self, tcp: TcpStream, cert_pem: &str, key_pem: &str) -> Box<dyn Stream> {
        match self {
            #[cfg(feature = "native-tls")]
            Backend::Native => {
                let identity = syncws::native_tls::Identity::from_pkcs8(
                    cert_pem.as_bytes(),
                    key_pem.as_bytes(),
                )
                .unwrap();
                let acceptor = syncws::native_tls::TlsAcceptor::new(identity).unwrap();
                Box::new(acceptor.accept(tcp).unwrap())
            }
            #[cfg(feature = "rustls")]
            Backend::Rustls => {
                let config = raw_rustls::server_config(cert_pem, key_pem);
                let connection = syncws::rustls::ServerConnection::new(config).unwrap();
                Box::new(syncws::rustls::StreamOwned::new(connection, tcp))
            }
        }
    }

    /// A TLS client stream on `tcp` to "localhost", by hand, through this
    /// library, trusting `cert_pem`.
    fn raw_client(self, tcp: TcpStream, cert_pem: &str) -> Box<dyn Stream> {
        match self {
            #[cfg(feature = "native-tls")]
            Backend::Native => Box::new(trusting(cert_pem).connect("localhost", tcp).unwrap()),
            #[cfg(feature = "rustls")]
            Backend::Rustls => Box::new(raw_rustls::client(tcp, cert_pem)),
        }
    }
}

/// A native-tls connector that trusts `cert_pem`.
#[cfg(feature = "native-tls")]
fn trusting(cert_pem: &str) -> syncws::native_tls::TlsConnector {
    syncws::native_tls::TlsConnector::builder()
        .add_root_certificate(
            syncws::native_tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
}

/// rustls peers written by hand, from rustls's own API.
#[cfg(feature = "rustls")]
mod raw_rustls {
    use std::net::TcpStream;
    use std::sync::Arc;

    use syncws::rustls;
    use syncws::rustls::pki_types::pem::PemObject;
    use syncws::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    pub fn server_config(cert_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap(),
        )
    }

    pub fn client_config(cert_pem: &str) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    pub fn client(
        tcp: TcpStream,
        cert_pem: &str,
    ) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        let name = "localhost".try_into().unwrap();
        let connection = rustls::ClientConnection::new(client_config(cert_pem), name).unwrap();
        rustls::StreamOwned::new(connection, tcp)
    }
}

/// A TLS peer written by hand (with the other library, when both are
/// built), that sends a frame in two parts: a read timeout in between
/// loses nothing.
fn timeout_inside_a_frame_over_tls_loses_nothing(client: Backend) {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let payload = pattern(100_000);
    let mut frame = Vec::new();
    write_frame(&mut frame, true, OpCode::Binary, &payload, None);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer_backend = client.other();
    let peer_key = key_pem.clone();
    let peer_cert = cert_pem.clone();
    let peer = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = peer_backend.raw_server(tcp, &peer_cert, &peer_key);
        common::answer_handshake(&mut tls);
        tls.write_all(&frame[..30_000]).unwrap();
        tls.flush().unwrap();
        go_rx.recv().unwrap();
        tls.write_all(&frame[30_000..]).unwrap();
        tls.flush().unwrap();
        let _ = go_rx.recv();
    });
    let mut ws = ClientBuilder::new(format!("wss://localhost:{port}/"))
        .tls_backend(client.client())
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

/// Plain HTTP, garbage and a silent client on the TLS port are dropped
/// within the handshake timeout (500 ms here), and a good client is served
/// meanwhile.
fn hostile_clients_on_the_tls_port_are_dropped_and_harm_no_one(server: Backend) {
    let tls = tls_echo_server(server);
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
    let mut ws = tls.client(server, "/").connect().unwrap();
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

/// A page over https, fetched with the other library when both are built.
fn pages_are_served_over_https(server: Backend) {
    let tls = tls_echo_server(server);
    let tcp = TcpStream::connect(tls.server.local_addr()).unwrap();
    let mut stream = server.other().raw_client(tcp, &tls.cert_pem);
    stream
        .write_all(b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("a page over https"), "{answer}");
}

/// After the close handshake the server says goodbye at the TLS level
/// too: a rustls client (which tells a close_notify from a bare end of
/// TCP) sees the stream end cleanly.
fn a_closed_connection_ends_with_close_notify(server: Backend) {
    #[cfg(feature = "rustls")]
    {
        use syncws::protocol::handshake::{ClientRequest, check_response, parse_response};
        let tls = tls_echo_server(server);
        let tcp = TcpStream::connect(tls.server.local_addr()).unwrap();
        tcp.set_read_timeout(Some(common::TIMEOUT)).unwrap();
        let mut stream = raw_rustls::client(tcp, &tls.cert_pem);
        let request = ClientRequest::new("localhost", "/");
        stream.write_all(&request.to_bytes()).unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head, len) = loop {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server hung up during the handshake");
            received.extend_from_slice(&chunk[..n]);
            if let Some(parsed) = parse_response(&received, 16 << 10, 64).unwrap() {
                break parsed;
            }
        };
        check_response(&head, &request).unwrap();
        received.drain(..len);
        let mut close = Vec::new();
        write_frame(
            &mut close,
            true,
            OpCode::Close,
            &[0x03, 0xe8],
            Some([1, 2, 3, 4]),
        );
        stream.write_all(&close).unwrap();
        // The close reply, then the end: Ok(0) only after a close_notify
        // (rustls reports a bare end of TCP as UnexpectedEof).
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("the stream did not end with close_notify: {e}"),
            }
        }
        assert_eq!(received, [0x88, 0x02, 0x03, 0xe8], "the close reply");
    }
    #[cfg(not(feature = "rustls"))]
    let _ = server;
}

/// A TLS ClientHello sent a byte at a time cannot stretch the handshake:
/// the whole TLS and HTTP handshake must be done within the handshake
/// timeout (500 ms here), not each read (a socket timeout starts over
/// with every byte). 50 connections, one byte each every 100 ms.
fn a_client_hello_trickled_a_byte_at_a_time_is_dropped_within_the_handshake_timeout(
    server: Backend,
) {
    const ATTACKERS: usize = 50;
    let tls = tls_echo_server(server);
    let addr = tls.server.local_addr();
    // A good client, open before, exchanges messages all through.
    let mut good = tls.client(server, "/").connect().unwrap();
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
    let mut ws = tls.client(server, "/").connect().unwrap();
    ws.send_text("still here").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("still here"));
    println!(
        "{server:?} server: 50 trickled ClientHellos, the last dropped after {latest:?}; \
         the good client made {rounds_during} round trips meanwhile"
    );
}

#[test]
#[cfg(all(feature = "native-tls", target_os = "linux"))]
fn pkcs12_identity_serves_wss() {
    use syncws::native_tls::Identity;
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

/// A certificate or key that cannot be read is a TLS error that says
/// which it was.
#[test]
#[cfg(feature = "rustls")]
fn unreadable_pem_is_a_tls_error_that_says_what() {
    let (cert_pem, key_pem) = certificate(&["localhost"]);
    let server = || Server::bind("127.0.0.1:0").unwrap();
    let shown = |e: Error| {
        assert!(matches!(e, Error::Tls(_)), "{e:?}");
        e.to_string()
    };
    let e = shown(
        server()
            .rustls_pem(b"no PEM here", key_pem.as_bytes())
            .unwrap_err(),
    );
    assert!(e.contains("certificate (PEM)"), "{e}");
    let e = shown(
        server()
            .rustls_pem(cert_pem.as_bytes(), b"no key")
            .unwrap_err(),
    );
    assert!(e.contains("private key (PEM)"), "{e}");
    // A key that is not the certificate's.
    let (_, other_key) = certificate(&["localhost"]);
    let e = shown(
        server()
            .rustls_pem(cert_pem.as_bytes(), other_key.as_bytes())
            .unwrap_err(),
    );
    assert!(e.starts_with("TLS error: "), "{e}");
    let e = shown(
        ClientBuilder::new("wss://localhost/")
            .add_root_certificate(
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            )
            .unwrap_err(),
    );
    assert!(e.starts_with("TLS error: "), "{e}");
}

/// When both backends are built, a plain `wss://` connect speaks
/// native-tls (the default feature's), and `tls_backend` chooses: a
/// rustls-only server setting (TLS 1.3 only, which native-tls's OpenSSL
/// speaks too) cannot tell them apart, so the client's own error types
/// do: each names the library that refused an unknown authority.
#[test]
#[cfg(all(feature = "native-tls", feature = "rustls"))]
fn a_plain_wss_connect_uses_native_tls_and_tls_backend_chooses() {
    let tls = tls_echo_server(Backend::Rustls);
    let default = ClientBuilder::new(tls.url("/")).connect();
    match default {
        Err(Error::Tls(e)) => assert!(e.as_native_tls().is_some(), "{e:?}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    let chosen = ClientBuilder::new(tls.url("/"))
        .tls_backend(TlsBackend::Rustls)
        .connect();
    match chosen {
        Err(Error::Tls(e)) => assert!(e.as_rustls().is_some(), "{e:?}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert_eq!(TlsBackend::default(), TlsBackend::NativeTls);
}

#[test]
#[cfg(feature = "native-tls")]
fn tungstenite_client_with_native_tls_against_our_wss_servers() {
    #[cfg(feature = "rustls")]
    let backends = [Backend::Native, Backend::Rustls];
    #[cfg(not(feature = "rustls"))]
    let backends = [Backend::Native];
    for backend in backends {
        let tls = tls_echo_server(backend);
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
            assert_eq!(peer.read().unwrap(), message, "{backend:?} server");
        }
        peer.close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Library(4242),
            reason: "done".into(),
        }))
        .unwrap();
        let mut echoed = None;
        for _ in 0..common::MAX_MESSAGES {
            match peer.read() {
                Ok(tungstenite::Message::Close(Some(frame))) => {
                    echoed = Some(u16::from(frame.code))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert_eq!(echoed, Some(4242), "{backend:?} server: the close echo");
    }
}

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
use syncws::protocol::handshake::{Headers, accept_response, check_upgrade, parse_request};
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
                #[cfg(feature = "native-tls")]
                mod $scenario {
                    #[test] fn native() { super::super::$scenario(super::super::Backend::Native) }
                }
            )*
            $(
                #[cfg(feature = "rustls")]
                mod $scenario {
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

fn tls_server(backend: Backend, handler: impl Fn(syncws::WebSocket) + Send + Sync + 'static) -> Tls {
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

//! A peer from another language (Python's `websockets`) over wss, on each
//! TLS backend: its client against our server, and our client against
//! its server. `scripts/test-all.sh` installs it into `target/py-venv`;
//! set `SYNCWS_PYTHON` to use another interpreter. Without it the tests
//! say so and pass, except in CI (`CI` set), where they fail.
#![cfg(any(feature = "native-tls", feature = "rustls"))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod child;

use child::{peer_script, python};
use syncws::{ClientBuilder, CloseCode, Config, Error, Message, Server, TlsBackend};

fn big_limits() -> Config {
    Config::default()
        .max_message_size(32 << 20)
        .max_frame_size(32 << 20)
}

/// A self-signed certificate for localhost, as PEM, and written to files
/// (named by `tag`: one per test, as tests run at once) that are removed
/// when this is dropped.
struct Certificate {
    cert_pem: String,
    key_pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Certificate {
    fn new(tag: &str) -> Certificate {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let stem = format!("syncws-{tag}-{}", std::process::id());
        let cert_file = std::env::temp_dir().join(format!("{stem}-cert.pem"));
        let key_file = std::env::temp_dir().join(format!("{stem}-key.pem"));
        let cert_pem = certified.cert.pem();
        let key_pem = certified.signing_key.serialize_pem();
        std::fs::write(&cert_file, &cert_pem).unwrap();
        std::fs::write(&key_file, &key_pem).unwrap();
        Certificate {
            cert_pem,
            key_pem,
            cert_file,
            key_file,
        }
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.cert_file);
        let _ = std::fs::remove_file(&self.key_file);
    }
}

/// A child process, killed by its pid when dropped (a failing assert
/// included).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Our echo server over TLS through `backend`.
fn our_wss_server(backend: TlsBackend, certificate: &Certificate) -> syncws::ServerHandle {
    let server = Server::bind("127.0.0.1:0").unwrap().config(big_limits());
    let cert = certificate.cert_pem.as_bytes();
    let key = certificate.key_pem.as_bytes();
    let server = match backend {
        #[cfg(feature = "native-tls")]
        TlsBackend::NativeTls => server
            .tls(syncws::native_tls::Identity::from_pkcs8(cert, key).unwrap())
            .unwrap(),
        #[cfg(feature = "rustls")]
        TlsBackend::Rustls => server.rustls_pem(cert, key).unwrap(),
        other => panic!("no such backend here: {other:?}"),
    };
    server
        .start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|m| sender.send_message(m));
        })
        .unwrap()
}

fn python_client_against_our_wss_server(backend: TlsBackend) {
    let Some(python) = python("websockets.sync.client") else {
        return;
    };
    let certificate = Certificate::new(&format!("py-client-{backend:?}"));
    let server = our_wss_server(backend, &certificate);
    let url = format!("wss://localhost:{}/python", server.local_addr().port());
    let child = Command::new(python)
        .arg(peer_script("python_wss_client.py"))
        .arg(&url)
        .arg(&certificate.cert_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(child.wait_with_output()));
    let output = match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the Python client did not finish in 120 s");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python client failed against our {backend:?} server:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ok", "{stderr}");
}

/// Start the Python echo server; its port, and its standard input (closing
/// it stops the server).
fn python_wss_server(python: &Path, certificate: &Certificate) -> (Killed, ChildStdin, u16) {
    let mut child = Command::new(python)
        .arg(peer_script("python_wss_server.py"))
        .arg(&certificate.cert_file)
        .arg(&certificate.key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let line = line_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the Python server did not say its port in 30 s");
    let port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Python server said {line:?}"));
    (child, stdin, port)
}

fn our_wss_client_against_python_server(backend: TlsBackend) {
    let Some(python) = python("websockets.sync.client") else {
        return;
    };
    let certificate = Certificate::new(&format!("py-server-{backend:?}"));
    let (child, stdin, port) = python_wss_server(&python, &certificate);
    let mut ws = ClientBuilder::new(format!("wss://localhost:{port}/"))
        .tls_backend(backend)
        .add_root_certificate(certificate.cert_pem.as_bytes())
        .unwrap()
        .config(big_limits())
        .connect()
        .unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    ws.send_text("héllo from syncws").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::from("héllo from syncws")
    );
    ws.send_binary(&[0, 1, 255]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(vec![0, 1, 255]));
    ws.send_text_frames(["frag", "men", "ted"]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("fragmented"));
    let big: Vec<u8> = (0..16 << 20)
        .map(|i: usize| (i * 7 + i / 251) as u8)
        .collect();
    // Sent from another thread while this one reads the echo.
    let sender = ws.sender();
    let sent = big.clone();
    let pusher = std::thread::spawn(move || sender.send_binary(&sent));
    assert!(
        ws.read_message().unwrap() == Message::Binary(big),
        "16 MiB echo"
    );
    pusher.join().unwrap().unwrap();
    let answer = ws.close(CloseCode::Other(4000), "from syncws").unwrap();
    assert_eq!(answer.code, CloseCode::Other(4000));
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
    drop(stdin);
    drop(child);
}

#[test]
#[cfg(feature = "native-tls")]
fn python_websockets_client_against_our_native_tls_server() {
    python_client_against_our_wss_server(TlsBackend::NativeTls);
}

#[test]
#[cfg(feature = "rustls")]
fn python_websockets_client_against_our_rustls_server() {
    python_client_against_our_wss_server(TlsBackend::Rustls);
}

#[test]
#[cfg(feature = "native-tls")]
fn our_native_tls_client_against_a_python_websockets_server() {
    our_wss_client_against_python_server(TlsBackend::NativeTls);
}

#[test]
#[cfg(feature = "rustls")]
fn our_rustls_client_against_a_python_websockets_server() {
    our_wss_client_against_python_server(TlsBackend::Rustls);
}

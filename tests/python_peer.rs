//! A client from another language (Python's `websockets`) against our wss
//! server. `scripts/test-all.sh` installs it into `target/py-venv`; set
//! `SYNCWS_PYTHON` to use another interpreter. Without it the test says so
//! and passes, except in CI (`CI` set), where it fails.
#![cfg(feature = "native-tls")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use syncws::Server;
use syncws::native_tls::Identity;

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("SYNCWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python")
        });
    let usable = Command::new(&candidate)
        .args(["-c", "import websockets.sync.client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    usable.then_some(candidate)
}

#[test]
fn python_websockets_client_against_our_wss_server() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Python websockets is required in CI: run scripts/test-all.sh"
        );
        eprintln!("Python with `websockets` not found; run scripts/test-all.sh to install it");
        return;
    };
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let ca_file = std::env::temp_dir().join(format!("syncws-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &cert_pem).unwrap();
    let identity = Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .config(
            syncws::Config::default()
                .max_message_size(32 << 20)
                .max_frame_size(32 << 20),
        )
        .tls(identity)
        .unwrap()
        .start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|m| sender.send_message(m));
        })
        .unwrap();
    let url = format!("wss://localhost:{}/python", server.local_addr().port());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/python_wss_client.py");
    let child = Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(&ca_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || done_tx.send(child.wait_with_output()));
    let output = match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("the Python client did not finish in 120 s");
        }
    };
    let _ = std::fs::remove_file(&ca_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python client failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ok", "{stderr}");
}

//! Starting the servers under test as child processes, and reading their
//! CPU time and memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use crate::procfs::{self, Cpu};
use crate::wire::{Conn, Proto, Res};

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Syncws,
    /// syncws serving TLS through rustls (the `wss-rustls-*` rows).
    SyncwsRustls,
    SyncwsHub,
    Tungstenite,
    Raw,
    NodeWs,
    /// syncws's echo with permessage-deflate on (its defaults).
    SyncwsDeflate,
    /// syncws's `Hub` with permessage-deflate on.
    SyncwsHubDeflate,
    /// Node's `ws` echo with `perMessageDeflate: true` (bench/node/echo.js).
    NodeWsDeflate,
    /// Python's `websockets` echo, compression on by default
    /// (bench/python/echo.py).
    PythonWs,
}

impl Kind {
    /// The column it reports in.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Syncws | Kind::SyncwsHub | Kind::SyncwsDeflate | Kind::SyncwsHubDeflate => {
                "syncws"
            }
            Kind::SyncwsRustls => "syncws (rustls)",
            Kind::Tungstenite => "tungstenite",
            Kind::Raw => "raw TCP",
            Kind::NodeWs | Kind::NodeWsDeflate => "Node ws",
            Kind::PythonWs => "Python websockets",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Kind::Syncws => "syncws",
            Kind::SyncwsRustls => "syncws-rustls",
            Kind::SyncwsHub => "syncws-hub",
            Kind::Tungstenite => "tungstenite",
            Kind::Raw => "raw",
            Kind::NodeWs => "node-ws",
            Kind::SyncwsDeflate => "syncws-deflate",
            Kind::SyncwsHubDeflate => "syncws-hub-deflate",
            Kind::NodeWsDeflate => "node-ws-deflate",
            Kind::PythonWs => "python-websockets",
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Kind::Raw => Proto::Raw,
            _ => Proto::Ws,
        }
    }
}

/// The certificate and key files of the `wss://` runs, and the client's
/// connector (which accepts the self-signed certificate).
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub connector: native_tls::TlsConnector,
}

impl Tls {
    /// A fresh self-signed certificate for `localhost`, written to a
    /// directory of this run.
    pub fn new() -> Res<Tls> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(|e| format!("certificate: {e}"))?;
        let dir = std::env::temp_dir().join(format!("syncws-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).map_err(|e| e.to_string())?;
        std::fs::write(&key, certified.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
        let connector = native_tls::TlsConnector::builder()
            .add_root_certificate(
                native_tls::Certificate::from_pem(certified.cert.pem().as_bytes())
                    .map_err(|e| e.to_string())?,
            )
            .build()
            .map_err(|e| format!("TLS connector: {e}"))?;
        Ok(Tls {
            cert,
            key,
            connector,
        })
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.cert);
        let _ = std::fs::remove_file(&self.key);
        if let Some(dir) = self.cert.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The command line of `syncws-bench serve KIND`.
pub fn serve_argv(kind: &str) -> Vec<String> {
    let exe =
        std::env::current_exe().map_or_else(|_| "syncws-bench".into(), |e| e.display().to_string());
    vec![exe, "serve".into(), kind.into()]
}

/// Where Node's broadcast server lives.
pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Whether Node and its `ws` package are there; installs `ws` with
/// `npm ci` if Node and npm are but the package is not. `Err` says why not.
pub fn node_ready() -> Res<()> {
    let dir = node_dir();
    let node = Command::new("node").arg("--version").output();
    if !matches!(&node, Ok(o) if o.status.success()) {
        return Err(
            "node is not installed (the Node ws comparison needs Node.js 18 or later)".into(),
        );
    }
    if !dir.join("node_modules/ws/package.json").exists() {
        eprintln!("installing the ws package: npm ci in {}", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            return Err(format!(
                "`npm ci` in {} failed: run it by hand",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// The Python that runs bench/python/echo.py: `$SYNCWS_PYTHON`, else the
/// venv of scripts/test-all.sh (target/py-venv), else `python3`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("SYNCWS_PYTHON") {
        return PathBuf::from(python);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("../target/py-venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Whether that Python has `websockets`. `Err` says why not.
pub fn python_ready() -> Res<()> {
    let python = python();
    let ok = Command::new(&python)
        .args(["-c", "import websockets.asyncio.server"])
        .stderr(Stdio::null())
        .status();
    if matches!(ok, Ok(s) if s.success()) {
        Ok(())
    } else {
        Err(format!(
            "{} has no `websockets` (13 or later): run scripts/test-all.sh, which makes \
             target/py-venv, or set SYNCWS_PYTHON",
            python.display()
        ))
    }
}

/// A server running in a child process.
pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    tls: Option<native_tls::TlsConnector>,
    lines: Mutex<mpsc::Receiver<String>>,
}

impl Server {
    /// Start `kind`, over TLS with `tls`, pinned to CPU `pin` if given
    /// (with `taskset -c`, so every thread it starts is pinned too).
    pub fn start(kind: Kind, tls: Option<&Tls>, pin: Option<usize>) -> Res<Server> {
        let mut argv: Vec<String> = match kind {
            Kind::NodeWs => vec![
                "node".into(),
                node_dir().join("broadcast.js").display().to_string(),
            ],
            Kind::NodeWsDeflate => vec![
                "node".into(),
                node_dir().join("echo.js").display().to_string(),
            ],
            Kind::PythonWs => vec![
                python().display().to_string(),
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("python/echo.py")
                    .display()
                    .to_string(),
            ],
            _ => serve_argv(kind.arg()),
        };
        if let Some(cpu) = pin {
            argv.splice(0..0, ["taskset".to_string(), "-c".into(), cpu.to_string()]);
        }
        Server::spawn(kind, argv, tls)
    }

    /// Run `argv` (a server that takes `--bind` and `--tls`, and prints
    /// `listening ADDR`) as a server of `kind`. Every line it prints later
    /// is kept for [`Server::lines`].
    pub fn spawn(kind: Kind, mut argv: Vec<String>, tls: Option<&Tls>) -> Res<Server> {
        argv.extend(["--bind".into(), "127.0.0.1:0".into()]);
        if let Some(tls) = tls {
            argv.extend([
                "--tls".into(),
                tls.cert.display().to_string(),
                tls.key.display().to_string(),
            ]);
        }
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", argv.join(" ")))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok());
        let pid = child.id();
        let stdin = child.stdin.take();
        let mut server = Server {
            kind,
            addr: "0.0.0.0:0".parse().expect("address"),
            pid,
            child,
            stdin,
            tls: tls.map(|t| t.connector.clone()),
            lines: Mutex::new(rx),
        };
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => Err(format!(
                "{} did not start (said {:?})",
                argv.join(" "),
                line.trim()
            )),
        }
    }

    /// The lines the server printed after `listening`, since the last call.
    pub fn lines(&self) -> Vec<String> {
        match self.lines.lock() {
            Ok(lines) => lines.try_iter().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn cpu(&self) -> Res<Cpu> {
        procfs::cpu(self.pid)
    }

    pub fn rss(&self) -> Res<u64> {
        procfs::rss(self.pid)
    }

    pub fn threads(&self) -> Res<u64> {
        procfs::threads(self.pid)
    }

    /// A connection of the load client to this server.
    pub fn connect(&self, path: &str, capacity: usize) -> Res<Conn> {
        Conn::open(
            self.addr,
            self.kind.proto(),
            path,
            self.tls.as_ref(),
            capacity,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its standard input asks it to exit; kill it if it has not
        // within a second.
        drop(self.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

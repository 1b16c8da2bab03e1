//! The processes a benchmark run starts: a `redis-server` on a free port,
//! and the servers under test; each killed by its pid on drop.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A child process, killed (SIGKILL) and reaped on drop.
pub struct Process {
    child: Child,
    /// What it said it listens on (`HOST:PORT`).
    pub addr: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `redis-server` on a free loopback port, without persistence; returns
/// once it answers.
pub fn redis() -> Result<Process, String> {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e}"))?;
    let redis = Process {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&redis.addr).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not listen".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(redis)
}

/// Start `program args`, and wait (bounded) for its `listening on ADDR`
/// line. Its standard input stays open: the Node server exits when it
/// closes.
pub fn server(program: &Path, args: &[&str]) -> Result<Process, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        for _ in lines {}
    });
    let mut process = Process {
        child,
        addr: String::new(),
    };
    let line = rx.recv_timeout(Duration::from_secs(30));
    match line {
        Ok(Some(Ok(ref line))) if line.starts_with("listening on ") => {
            process.addr = line["listening on ".len()..].to_owned();
            Ok(process)
        }
        // The process is killed as `process` drops.
        _ => Err(format!("{} did not listen: {line:?}", program.display())),
    }
}

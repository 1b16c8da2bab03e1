//! Child processes of a test: the example binaries as `cargo test` built
//! them, Python with `websockets` and its peer scripts, their output read
//! line by line within a deadline, killed by their pid when the test ends
//! (whether it passed or not), and temporary directories for their files.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a child may take to say what a test waits for.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child writes on a pipe, read by a thread of their own.
pub fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line that contains `wanted`, within [`TIMEOUT`].
pub fn line_with(lines: &mpsc::Receiver<String>, wanted: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {wanted:?} ({e}); got {seen:?}"),
        }
    }
}

/// The example binary `name` as built by `cargo test`, if it is there and
/// newer than every source it is built from.
pub fn example_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/demo-<hash> -> target/<profile>/examples/<name>
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = path.metadata().ok()?.modified().ok()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [root.join("src"), root.join("examples")];
    let newest = sources.iter().filter_map(|dir| newest_file(dir)).max()?;
    if newest > built {
        eprintln!("note: {} is older than its sources", path.display());
        return None;
    }
    Some(path)
}

pub fn newest_file(path: &Path) -> Option<SystemTime> {
    let meta = path.metadata().ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest_file(&entry.ok()?.path()))
        .max()
}

/// The child's exit status, once it exits within [`TIMEOUT`]; killed and a
/// panic otherwise.
pub fn exit_status(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every line a child wrote on a pipe, once the pipe has closed (within
/// [`TIMEOUT`]).
pub fn all_lines(lines: mpsc::Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut all = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => all.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return all,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the pipe is still open; got {all:?}"),
        }
    }
}

/// The Python that has `websockets` (the venv `scripts/test-all.sh` makes,
/// or `SYNCWS_PYTHON`), checked by importing `module`; `None`, with a note,
/// when there is none, and a panic under `CI`, where there must be one.
pub fn python(module: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("SYNCWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python")
        });
    let usable = Command::new(&candidate)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        assert!(
            std::env::var_os("CI").is_none(),
            "Python websockets is required in CI: run scripts/test-all.sh"
        );
        eprintln!("Python with `websockets` not found; run scripts/test-all.sh to install it");
    }
    usable.then_some(candidate)
}

/// A peer script of `tests/peers`.
pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory whose name starts with `syncws-{what}-`.
    pub fn new(what: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "syncws-{what}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

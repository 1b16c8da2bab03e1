//! Counting the threads and file descriptors of the test process, for the
//! tests that check a server leaves none behind. Use with
//! `mod lifecycle_proc;` in a test binary that holds one test only: other
//! tests running at the same time would disturb the counts.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// The threads and file descriptors of the process at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The names of the threads (`/proc/self/task/*/comm`), sorted.
    pub threads: Vec<String>,
    /// What each file descriptor points at (`/proc/self/fd/*`).
    pub fds: Vec<String>,
}

impl Snapshot {
    /// Take one now.
    pub fn now() -> Snapshot {
        let mut threads: Vec<String> = fs::read_dir("/proc/self/task")
            .expect("read /proc/self/task")
            .filter_map(|task| {
                let path = task.ok()?.path().join("comm");
                Some(fs::read_to_string(path).ok()?.trim().to_owned())
            })
            .collect();
        threads.sort();
        let fds = fs::read_dir("/proc/self/fd")
            .expect("read /proc/self/fd")
            .filter_map(|fd| {
                let fd = fd.ok()?;
                let target = fs::read_link(fd.path()).ok()?;
                Some(format!("{:?} -> {}", fd.file_name(), target.display()))
            })
            .collect();
        Snapshot { threads, fds }
    }
}

/// Wait (polling, at most `patience`) until the process has as many
/// threads and file descriptors as in `before`; panic naming what is left
/// otherwise. Threads leave `/proc` a little after they have said they are
/// done, hence the wait.
#[track_caller]
pub fn assert_back_to(before: &Snapshot, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        let now = Snapshot::now();
        if now.threads.len() == before.threads.len() && now.fds.len() == before.fds.len() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "left behind: {} threads (was {}), {} fds (was {})\n\
                 threads now {:?}\nthreads before {:?}\nfds now {:#?}\nfds before {:#?}",
                now.threads.len(),
                before.threads.len(),
                now.fds.len(),
                before.fds.len(),
                now.threads,
                before.threads,
                now.fds,
                before.fds
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

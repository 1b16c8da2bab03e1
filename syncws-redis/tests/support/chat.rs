//! Nodes as separate processes: the cluster-chat example started on a free
//! port and stopped (SIGKILL) by its pid on drop, frozen and thawed with
//! SIGSTOP and SIGCONT; and chat clients that record what they receive.
//!
//! The example's binary is the one `cargo test -p syncws-redis` (or
//! `cargo build -p syncws-redis --examples`) built; a binary older than the
//! crate's sources is refused rather than tested.

#![allow(dead_code)]

#[path = "../../examples/cluster-chat/json.rs"]
pub mod json;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use syncws::{CloseCode, Error, Message, Sender, WebSocket};

/// The example's binary, next to this test's (target/debug/examples).
pub fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join("examples").join("cluster-chat");
    let built = std::fs::metadata(&binary).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{} is missing: cargo build -p syncws-redis --examples",
            binary.display()
        )
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest = ["src", "examples/cluster-chat"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(crate_dir.join(dir)).unwrap())
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        built >= newest,
        "{} is older than the sources: cargo build -p syncws-redis --examples",
        binary.display()
    );
    binary
}

/// A cluster-chat process; SIGKILLed by its pid on drop.
pub struct ChatServer {
    child: Child,
    /// `127.0.0.1:PORT`, as it printed.
    pub addr: String,
}

impl ChatServer {
    /// Start one on a free port against `redis`, and wait (bounded) for
    /// its `listening on` line.
    pub fn start(redis: &str, extra: &[&str]) -> ChatServer {
        let mut child = Command::new(chat_binary())
            .args(["--bind", "127.0.0.1:0", "--redis", redis])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cluster-chat");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Drain the rest, so the process never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = ChatServer {
            child,
            addr: String::new(),
        };
        let line = rx.recv_timeout(Duration::from_secs(20));
        let addr = match line {
            Ok(Some(Ok(ref line))) => line.strip_prefix("listening on ").map(str::to_owned),
            _ => None,
        };
        // On failure the guard is dropped here: the process is killed.
        server.addr = addr.unwrap_or_else(|| panic!("cluster-chat did not listen: {line:?}"));
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, room: &str) -> String {
        format!("ws://{}/room/{room}", self.addr)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.pid());
    }

    /// SIGSTOP: the process does nothing until thawed. Returns once every
    /// thread of it is stopped (kill(2) returns before they are).
    pub fn freeze(&self) {
        self.signal("-STOP");
        let tasks = format!("/proc/{}/task", self.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        let stopped = || {
            std::fs::read_dir(&tasks).unwrap().all(|task| {
                let stat = std::fs::read_to_string(task.unwrap().path().join("stat"));
                // The state follows the command name's closing parenthesis.
                stat.map_or(true, |s| {
                    s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('T'))
                })
            })
        };
        while !stopped() {
            assert!(Instant::now() < deadline, "{} did not stop", self.pid());
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL, and wait for the process to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A line a chat client received.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Message {
        offset: u64,
        from: String,
        text: String,
    },
    Direct {
        from: String,
        text: String,
    },
    Error(String),
    Other(String),
}

/// What a chat client received.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub lines: Vec<Line>,
    pub close: Option<CloseCode>,
    pub ended: bool,
}

impl Log {
    /// The messages' offsets and texts, in the order received.
    pub fn messages(&self) -> Vec<(u64, String)> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Message { offset, text, .. } => Some((*offset, text.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn errors(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Error(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The direct messages' senders and texts, in the order received.
    pub fn directs(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                Line::Direct { from, text } => Some((from.clone(), text.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn has_text(&self, text: &str) -> bool {
        self.lines
            .iter()
            .any(|line| matches!(line, Line::Message { text: t, .. } if t == text))
    }
}

/// A member of a room on a chat server: welcomed, then a thread records
/// everything it receives.
pub struct ChatClient {
    pub id: String,
    /// The welcome's `after`, if it had one.
    pub after: Option<String>,
    pub sender: Sender,
    log: Arc<Mutex<Log>>,
}

fn parse(text: &str) -> Line {
    let Some(members) = json::object(text) else {
        return Line::Other(text.to_owned());
    };
    let field = |key| json::get(&members, key).and_then(json::Value::as_str);
    match field("type") {
        Some("message") => Line::Message {
            offset: json::get(&members, "offset")
                .and_then(json::Value::as_u64)
                .expect("an offset"),
            from: field("from").unwrap_or_default().to_owned(),
            text: field("text").unwrap_or_default().to_owned(),
        },
        Some("direct") => Line::Direct {
            from: field("from").unwrap_or_default().to_owned(),
            text: field("text").unwrap_or_default().to_owned(),
        },
        Some("error") => Line::Error(field("text").unwrap_or_default().to_owned()),
        _ => Line::Other(text.to_owned()),
    }
}

impl ChatClient {
    /// Connect to `url` and wait for the welcome; a panic if it does not
    /// come.
    pub fn join(url: &str) -> ChatClient {
        match ChatClient::try_join(url) {
            Ok(client) => client,
            Err(line) => panic!("no welcome from {url}: {line}"),
        }
    }

    /// Connect and wait for the welcome; what came instead, if not.
    pub fn try_join(url: &str) -> Result<ChatClient, String> {
        let mut ws = syncws::connect(url).map_err(|e| e.to_string())?;
        ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let first = match ws.read_message() {
            Ok(Message::Text(text)) => text,
            other => return Err(format!("{other:?}")),
        };
        let members = json::object(&first).ok_or(first.clone())?;
        let field = |key| json::get(&members, key).and_then(json::Value::as_str);
        if field("type") != Some("welcome") {
            return Err(first);
        }
        let id = field("id").ok_or(first.clone())?.to_owned();
        let after = field("after").map(str::to_owned);
        Ok(ChatClient::reading(ws, id, after))
    }

    fn reading(mut ws: WebSocket, id: String, after: Option<String>) -> ChatClient {
        let log = Arc::new(Mutex::new(Log::default()));
        let record = Arc::clone(&log);
        let sender = ws.sender();
        thread::spawn(move || {
            loop {
                let message = ws.read_message();
                let mut log = record.lock().unwrap();
                match message {
                    Ok(Message::Text(text)) => log.lines.push(parse(&text)),
                    Ok(Message::Binary(_)) => log.lines.push(Line::Other("<binary>".into())),
                    Err(Error::Closed(frame)) => {
                        log.close = Some(frame.code);
                        log.ended = true;
                        return;
                    }
                    Err(_) => {
                        log.ended = true;
                        return;
                    }
                }
            }
        });
        ChatClient {
            id,
            after,
            sender,
            log,
        }
    }

    pub fn say(&self, text: &str) -> syncws::Result<()> {
        self.sender.send_text(text)
    }

    pub fn log(&self) -> Log {
        self.log.lock().unwrap().clone()
    }

    /// Wait (bounded) until `done` holds, or the connection ended.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&Log) -> bool) -> Log {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.log();
            if done(&now) || now.ended || Instant::now() >= deadline {
                return now;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Connect to `url` where no welcome is expected: what it received until
/// the server closed it (bounded).
pub fn refusal(url: &str) -> Log {
    let mut ws = syncws::connect(url).expect("connect");
    ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut log = Log::default();
    for _ in 0..1000 {
        match ws.read_message() {
            Ok(Message::Text(text)) => log.lines.push(parse(&text)),
            Ok(Message::Binary(_)) => log.lines.push(Line::Other("<binary>".into())),
            Err(Error::Closed(frame)) => {
                log.close = Some(frame.code);
                break;
            }
            Err(_) => break,
        }
    }
    log.ended = true;
    log
}

/// Offsets received that are not one after the other (a hole or a repeat):
/// each as (previous, next).
pub fn breaks(messages: &[(u64, String)]) -> Vec<(u64, u64)> {
    messages
        .windows(2)
        .filter(|pair| pair[1].0 != pair[0].0 + 1)
        .map(|pair| (pair[0].0, pair[1].0))
        .collect()
}

/// Each client says `count` messages, `{prefix}{n}-{i}` (`n` the client's
/// index), as fast as it can, all at once; a client whose connection
/// failed stops.
pub fn say_many(clients: &[&ChatClient], prefix: &str, count: usize) {
    thread::scope(|scope| {
        for (n, client) in clients.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..count {
                    if client.say(&format!("{prefix}{n}-{i}")).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Publishes to a chat room from the test's process, storing what a chat
/// server stores (the sender's id, a newline, the text), under a history
/// cap of its own (the publisher's cap is what trims). It has no member:
/// no loss can close it, unlike a chat client whose own server may fall
/// behind a short history under a burst.
pub struct Publisher {
    room: syncws_redis::Room,
}

impl Publisher {
    pub fn new(redis: &str, room: &str, max_len: usize) -> Publisher {
        let cluster = syncws_redis::Cluster::builder(redis)
            .max_len(max_len)
            .connect()
            .expect("a publishing cluster");
        Publisher {
            room: cluster.room(room),
        }
    }

    /// Publish `{prefix}-{i}` for i in 0..count, one after the other.
    pub fn say_many(&self, prefix: &str, count: usize) {
        for i in 0..count {
            let stored = format!("test-publisher\n{prefix}-{i}");
            self.room
                .publish(syncws::MessageRef::Text(&stored))
                .expect("published");
        }
    }
}

/// The offsets of `log` are 1, 2, 3... with no hole and no repeat.
pub fn assert_from_one_without_holes(log: &Log, who: &str) {
    let offsets: Vec<u64> = log.messages().iter().map(|(o, _)| *o).collect();
    let expected: Vec<u64> = (1..=offsets.len() as u64).collect();
    assert_eq!(offsets, expected, "{who}: a hole or a repeat");
}

//! What the cluster tests share: a `redis-server` of their own on a free
//! loopback port, stopped by its pid; nodes (a Cluster and a syncws Server
//! whose connections join a room); members that record what they receive.

#![allow(dead_code)]

pub mod proxy;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use syncws::{CloseCode, Error, Message, ServerHandle, WebSocket};
use syncws_redis::{Cluster, ClusterBuilder};

/// The redis-server binary, or None (with a note) when it is missing and
/// this is not CI, where a missing binary fails the test.
pub fn redis_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is missing (scripts/test-all.sh installs it)"
        );
        eprintln!("note: redis-server not found; skipping (apt-get install redis-server)");
    }
    found
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "syncws-redis-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the test's Redis keeps its data.
#[derive(Clone, Copy, PartialEq)]
pub enum Persistence {
    None,
    /// Append-only file, fsync on every write.
    AofAlways,
}

/// A redis-server child process; killed (SIGKILL, by its pid) on drop.
pub struct Redis {
    binary: PathBuf,
    pub port: u16,
    persistence: Persistence,
    dir: TempDir,
    child: Option<Child>,
}

impl Redis {
    pub fn start(binary: PathBuf, persistence: Persistence) -> Redis {
        let mut redis = Redis {
            binary,
            port: free_port(),
            persistence,
            dir: TempDir::new("data"),
            child: None,
        };
        redis.spawn();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match self.persistence {
            Persistence::None => command.args(["--appendonly", "no"]),
            Persistence::AofAlways => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"])
            }
        };
        self.child = Some(command.spawn().expect("start redis-server"));
        self.wait_ready();
    }

    /// Wait (bounded) until the server answers PING.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = redis::Client::open(self.url()).unwrap();
        loop {
            let answered = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if answered.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: {answered:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, by pid, and wait for the process to end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port (and data directory).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server process's node: its cluster, and a syncws server whose every
/// connection joins `room` and is told "joined" once it is a member.
pub struct Node {
    pub cluster: Cluster,
    pub server: ServerHandle,
}

impl Node {
    pub fn start(builder: ClusterBuilder, room: &str) -> Node {
        let cluster = builder.connect().expect("cluster connects");
        let for_handler = cluster.clone();
        let room = room.to_owned();
        let server = syncws::Server::bind("127.0.0.1:0")
            .unwrap()
            .start(move |mut ws| {
                let room = for_handler.room(&room);
                let Ok(_membership) = room.join(ws.sender()) else {
                    return;
                };
                if ws.send_text("joined").is_err() {
                    return;
                }
                let _ = ws.run_with(|_| Ok(()));
            })
            .unwrap();
        Node { cluster, server }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.server.local_addr())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cluster.shutdown();
        self.server.stop();
    }
}

/// What a member received.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub messages: Vec<String>,
    pub close: Option<CloseCode>,
    pub ended: bool,
}

/// A client connected to a node, a member once `connect` returns; a
/// thread records what it receives.
pub struct Member {
    pub received: Arc<Mutex<Received>>,
}

/// Connect and wait for "joined".
pub fn open(url: &str) -> WebSocket {
    welcomed(syncws::connect(url).expect("connect to the node"))
}

/// As `open`, without permessage-deflate: what the node sends takes on the
/// wire the bytes it has (a test that fills socket buffers needs that; a
/// repeated payload compressed would fit in them).
pub fn open_uncompressed(url: &str) -> WebSocket {
    let ws = syncws::ClientBuilder::new(url)
        .deflate(syncws::DeflateConfig::default().enabled(false))
        .connect()
        .expect("connect to the node");
    welcomed(ws)
}

fn welcomed(mut ws: WebSocket) -> WebSocket {
    ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    match ws.read_message() {
        Ok(Message::Text(text)) => assert_eq!(text, "joined"),
        other => panic!("expected joined, got {other:?}"),
    }
    ws
}

impl Member {
    pub fn connect(url: &str) -> Member {
        Member::reading(open(url))
    }

    pub fn reading(mut ws: WebSocket) -> Member {
        let received = Arc::new(Mutex::new(Received::default()));
        let record = Arc::clone(&received);
        thread::spawn(move || {
            loop {
                let message = ws.read_message();
                let mut r = record.lock().unwrap();
                match message {
                    Ok(Message::Text(text)) => r.messages.push(text),
                    Ok(Message::Binary(_)) => r.messages.push("<binary>".into()),
                    Err(Error::Closed(frame)) => {
                        r.close = Some(frame.code);
                        r.ended = true;
                        return;
                    }
                    Err(_) => {
                        r.ended = true;
                        return;
                    }
                }
            }
        });
        Member { received }
    }

    pub fn snapshot(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    /// Wait (bounded) until `done` holds for what was received.
    pub fn wait(&self, timeout: Duration, done: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.snapshot();
            if done(&now) || now.ended || Instant::now() >= deadline {
                return now;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A node whose server answers for its connections' global ids: each
/// connection is told `id:<its global id>`, then its messages are
/// recorded; `detach` detaches it.
pub struct Addressed {
    pub cluster: Cluster,
    pub server: ServerHandle,
    /// What the connections of this node sent to the server, in order.
    pub heard: Arc<Mutex<Vec<String>>>,
}

impl Addressed {
    pub fn start(builder: ClusterBuilder) -> Addressed {
        let cluster = builder.connect().expect("cluster connects");
        let for_handler = cluster.clone();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&heard);
        let server = syncws::Server::bind("127.0.0.1:0")
            .unwrap()
            .start(move |mut ws| {
                let id = for_handler.global_id(&ws).expect("a server connection");
                if ws.send_text(&format!("id:{id}")).is_err() {
                    return;
                }
                loop {
                    match ws.read_message() {
                        Ok(Message::Text(text)) if text == "detach" => {
                            let _ = ws.detach();
                            return;
                        }
                        Ok(Message::Text(text)) => record.lock().unwrap().push(text),
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
            .unwrap();
        cluster.serve(&server);
        Addressed {
            cluster,
            server,
            heard,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.server.local_addr())
    }
}

impl Drop for Addressed {
    fn drop(&mut self) {
        self.cluster.shutdown();
        self.server.stop();
    }
}

/// Connect to an addressed node and read the connection's global id.
pub fn open_addressed(url: &str) -> (WebSocket, syncws_redis::GlobalId) {
    let mut ws = syncws::connect(url).expect("connect to the node");
    ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    match ws.read_message() {
        Ok(Message::Text(text)) => {
            let id = text.strip_prefix("id:").expect("id:<global id>");
            (ws, id.parse().expect("a global id"))
        }
        other => panic!("expected the id, got {other:?}"),
    }
}

/// A connection of the test's own to Redis.
pub fn redis_connection(redis: &Redis) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap()
}

/// Poll `condition` every 10 ms until it holds or `timeout` has passed;
/// whether it held.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

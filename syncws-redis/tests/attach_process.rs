//! IRIS's `OpenServer(WebSocketID)` from another process: a connection
//! detached on a server is attached by its global id from a separate OS
//! process (this test binary run again as a child, the ignored test
//! `attacher`), which reads its messages in order and answers them; the
//! client gets the answers. The child is stopped by its pid if it
//! outlives the test.

mod support;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::{Addressed, Member, Persistence, Redis};
use syncws::{Message, MessageRef};
use syncws_redis::{Cluster, GlobalId};

const WAIT: Duration = Duration::from_secs(10);
/// The child's Redis and the connection it attaches.
const REDIS_VAR: &str = "SYNCWS_REDIS_ATTACH_URL";
const ID_VAR: &str = "SYNCWS_REDIS_ATTACH_ID";

/// Killed on drop, by its pid.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The other process: attach, read three messages, answer each.
#[test]
#[ignore = "the attaching process of the test below, run by it as a child"]
fn attacher() {
    let (Ok(url), Ok(id)) = (std::env::var(REDIS_VAR), std::env::var(ID_VAR)) else {
        panic!("run by a_connection_detached_on_a_server_is_attached_from_another_process");
    };
    let id: GlobalId = id.parse().unwrap();
    let cluster = Cluster::builder(&url)
        .timeout(Duration::from_secs(2))
        .connect()
        .unwrap();
    let mut attached = cluster.attach(&id, WAIT).unwrap();
    for _ in 0..3 {
        match attached.read_message(WAIT).unwrap() {
            Some(Message::Text(text)) => attached
                .send(MessageRef::Text(&format!("from another process: {text}")))
                .unwrap(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

#[test]
fn a_connection_detached_on_a_server_is_attached_from_another_process() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let server = Addressed::start(Cluster::builder(&redis.url()).timeout(Duration::from_secs(2)));
    let (ws, id) = support::open_addressed(&server.url("/"));
    let sender = ws.sender();
    let client = Member::reading(ws);
    sender.send_text("detach").unwrap();
    assert!(support::eventually(WAIT, || {
        server
            .server
            .connections()
            .iter()
            .any(|c| c.id == id.connection() && c.detached)
    }));
    // Sent before anyone attached: they wait in the server's backlog.
    for i in 1..=3 {
        sender.send_text(&format!("m{i}")).unwrap();
    }
    let mut child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "attacher", "--test-threads=1"])
            .env(REDIS_VAR, redis.url())
            .env(ID_VAR, id.to_string())
            .spawn()
            .unwrap(),
    );
    let got = client.wait(WAIT, |r| r.messages.len() >= 3);
    assert_eq!(
        got.messages,
        [
            "from another process: m1",
            "from another process: m2",
            "from another process: m3"
        ]
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the attaching process did not end"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the attaching process failed: {status}");
}

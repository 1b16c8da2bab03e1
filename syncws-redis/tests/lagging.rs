//! A server's subscription that lags (issue 18, item 6): Redis cuts off a
//! reader whose replies pass `client-output-buffer-limit`, and the reader
//! recovers what it missed from the history. A reader that falls behind
//! the history's cap is in tests/loss.rs (reported) and tests/faults.rs (a
//! frozen server); a member that reads too slowly in tests/cluster.rs
//! (1008).

mod support;

use std::time::Duration;

use support::{Member, Node, Persistence, Redis};
use syncws::MessageRef;
use syncws_redis::Cluster;

const ROOM: &str = "lobby";

/// Store `count` messages of `size` bytes at once, as a burst of
/// publishes would (one script: a blocked reader is served after it, all
/// of them in one reply).
fn store_burst(redis: &Redis, count: usize, size: usize) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    redis::Script::new(
        r"
local big = string.rep('x', tonumber(ARGV[2]))
for i = 1, tonumber(ARGV[1]) do
  local n = redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], '*', 'n', n, 'p', 'burst' .. n, 'k', 't', 'd', n .. ' ' .. big)
end
",
    )
    .key(format!("syncws:{{{ROOM}}}:seq"))
    .key(format!("syncws:{{{ROOM}}}:stream"))
    .arg(count)
    .arg(size)
    .invoke::<()>(&mut c)
    .unwrap();
}

#[test]
fn a_reader_cut_off_by_the_output_buffer_limit_recovers_from_the_history() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    // A reply of more than 256 KiB closes a normal client at once.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 262144 0 0")
        .query::<()>(&mut admin)
        .unwrap();
    let node = Node::start(
        Cluster::builder(&redis.url()).reconnect_backoff(
            syncws::Backoff::default()
                .initial(Duration::from_millis(20))
                .max(Duration::from_millis(200)),
        ),
        ROOM,
    );
    let member = Member::connect(&node.url());
    let room = node.cluster.room(ROOM);
    room.publish(MessageRef::Text("1 first")).unwrap();
    member.wait(Duration::from_secs(10), |r| r.messages.len() == 1);
    // 100 messages of 64 KiB: 6.4 MiB in the reader's next XREAD reply.
    let count = 100;
    store_burst(&redis, count, 64 << 10);
    let got = member.wait(Duration::from_secs(60), |r| r.messages.len() > count);
    assert_eq!(got.close, None);
    assert_eq!(got.messages.len(), count + 1, "every message");
    for (i, message) in got.messages.iter().enumerate() {
        assert!(
            message.starts_with(&format!("{} ", i + 1)),
            "in order at {i}"
        );
    }
    let stats = node.cluster.stats();
    assert_eq!(stats.losses, 0, "{stats:?}");
    assert!(
        stats.reconnects >= 1,
        "the limit cut the reader off: {stats:?}"
    );
    // Then on as before.
    room.publish(MessageRef::Text("after")).unwrap();
    let got = member.wait(Duration::from_secs(10), |r| r.messages.len() > count + 1);
    assert_eq!(got.messages.last().map(String::as_str), Some("after"));
}

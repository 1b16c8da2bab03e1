//! Losses a server cannot avoid are reported, by the policy, before
//! anything after them: a history trimmed before it was read, and Redis
//! out of reach.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Member, Node, Persistence, Redis};
use syncws::{CloseCode, MessageRef};
use syncws_redis::{Cluster, Error, Loss, LossPolicy};

const ROOM: &str = "lobby";

/// Store five messages of the room and trim all but the last in one
/// script: a reader blocked on the stream is served after it, so it finds
/// offsets it never saw gone (what the caps do to a reader that lags).
fn store_five_and_trim(redis: &Redis) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    redis::Script::new(
        r"
for i = 1, 5 do
  local n = redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], '*', 'n', n, 'p', 'test' .. n, 'k', 't', 'd', 'm' .. i)
end
redis.call('XTRIM', KEYS[2], 'MAXLEN', 1)
",
    )
    .key(format!("syncws:{{{ROOM}}}:seq"))
    .key(format!("syncws:{{{ROOM}}}:stream"))
    .invoke::<()>(&mut c)
    .unwrap();
}

#[test]
fn a_trimmed_history_is_reported_to_the_callback_before_what_follows() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let losses = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&losses);
    let policy = LossPolicy::Callback(Arc::new(move |loss: &Loss, senders: &[syncws::Sender]| {
        record.lock().unwrap().push(loss.clone());
        for sender in senders {
            let _ = sender.send_text("lost some");
        }
    }));
    let node = Node::start(Cluster::builder(&redis.url()).loss_policy(policy), ROOM);
    let member = Member::connect(&node.url());
    let room = node.cluster.room(ROOM);
    let first = room.publish(MessageRef::Text("first")).unwrap();
    member.wait(Duration::from_secs(10), |r| r.messages.len() == 1);
    store_five_and_trim(&redis);
    let got = member.wait(Duration::from_secs(10), |r| r.messages.len() >= 3);
    assert_eq!(got.messages, ["first", "lost some", "m5"]);
    assert_eq!(got.close, None, "a callback leaves the members in");
    let seq = first.offset.seq;
    assert_eq!(
        *losses.lock().unwrap(),
        [Loss::Trimmed {
            room: ROOM.into(),
            epoch: first.offset.epoch.clone(),
            from: seq + 1,
            to: seq + 4,
        }]
    );
    let stats = node.cluster.stats();
    assert_eq!((stats.losses, stats.trimmed_messages), (1, 4));
    // The room goes on after the loss.
    let next = room.publish(MessageRef::Text("after")).unwrap();
    assert_eq!(next.offset.seq, seq + 6);
    let got = member.wait(Duration::from_secs(10), |r| r.messages.len() >= 4);
    assert_eq!(got.messages.last().map(String::as_str), Some("after"));
}

#[test]
fn a_trimmed_history_closes_the_members_with_1013_by_default() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let node = Node::start(Cluster::builder(&redis.url()), ROOM);
    let members = [Member::connect(&node.url()), Member::connect(&node.url())];
    node.cluster
        .room(ROOM)
        .publish(MessageRef::Text("first"))
        .unwrap();
    for member in &members {
        member.wait(Duration::from_secs(10), |r| r.messages.len() == 1);
    }
    store_five_and_trim(&redis);
    for member in &members {
        let got = member.wait(Duration::from_secs(10), |r| r.ended);
        assert_eq!(
            got.messages,
            ["first"],
            "nothing after the loss before the close"
        );
        assert_eq!(got.close, Some(CloseCode::TryAgainLater));
    }
    assert_eq!(node.cluster.stats().losses, 1);
}

#[test]
fn while_redis_is_away_publish_fails_at_once_and_the_members_are_told_after() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let mut redis = Redis::start(binary, Persistence::None);
    let timeout = Duration::from_secs(2);
    let node = Node::start(Cluster::builder(&redis.url()).timeout(timeout), ROOM);
    let member = Member::connect(&node.url());
    let room = node.cluster.room(ROOM);
    room.publish(MessageRef::Text("before")).unwrap();
    member.wait(Duration::from_secs(10), |r| r.messages.len() == 1);
    redis.kill();
    let started = Instant::now();
    let refused = room.publish(MessageRef::Text("while away"));
    assert!(matches!(refused, Err(Error::Unavailable(_))), "{refused:?}");
    assert!(started.elapsed() < timeout * 2, "{:?}", started.elapsed());
    assert!(
        !member.snapshot().ended,
        "local members stay while Redis is away"
    );
    redis.restart();
    // Redis came back empty: the reader finds a new epoch and says so.
    let got = member.wait(Duration::from_secs(20), |r| r.ended);
    assert_eq!(got.messages, ["before"]);
    assert_eq!(got.close, Some(CloseCode::TryAgainLater));
    let after = room.publish(MessageRef::Text("after")).unwrap();
    assert_eq!(after.offset.seq, 1, "a new epoch counts from 1");
    let stats = node.cluster.stats();
    assert_eq!(stats.losses, 1, "{stats:?}");
}

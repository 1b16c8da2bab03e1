//! Faults of whole processes and of the network, with the cluster-chat
//! example as the servers: a server killed mid-stream, a server frozen and
//! thawed, the network between one server and Redis cut and restored. In
//! each, every member gets every message in the room's order, or is closed
//! with 1013 after a prefix without holes: never a silent gap.
//!
//! Redis itself killed and restarted, with and without persistence, is in
//! tests/cluster.rs (nodes in the test's process: the same reader).

#[path = "support/chat.rs"]
mod chat;
mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use chat::{ChatClient, ChatServer, Log, Publisher, assert_from_one_without_holes, say_many};
use support::proxy::Proxy;
use support::{Persistence, Redis};
use syncws::CloseCode;

const WAIT: Duration = Duration::from_secs(60);

fn redis() -> Option<Redis> {
    support::redis_binary().map(|binary| Redis::start(binary, Persistence::None))
}

fn has_all(log: &Log, count: usize) -> bool {
    log.messages().len() >= count
}

/// The member saw a prefix of the room without holes, then was closed
/// with 1013: a reported loss.
fn assert_reported_loss(log: &Log, who: &str, published: usize) {
    assert_eq!(
        log.close,
        Some(CloseCode::TryAgainLater),
        "{who}: {} of {published} messages and no 1013",
        log.messages().len()
    );
    assert_from_one_without_holes(log, who);
    assert!(log.messages().len() < published, "{who}: nothing was lost?");
}

#[test]
fn a_server_killed_mid_stream_leaves_the_others_with_one_order() {
    let Some(redis) = redis() else { return };
    let mut servers: Vec<ChatServer> = (0..3)
        .map(|_| ChatServer::start(&redis.url(), &[]))
        .collect();
    let publishers: Vec<ChatClient> = servers
        .iter()
        .map(|s| ChatClient::join(&s.url("lobby")))
        .collect();
    let watchers = [
        ChatClient::join(&servers[0].url("lobby")),
        ChatClient::join(&servers[1].url("lobby")),
    ];
    let count = 200;
    let seen_at_kill = thread::scope(|scope| {
        let all: Vec<&ChatClient> = publishers.iter().collect();
        scope.spawn(move || say_many(&all, "p", count));
        let log = watchers[0].wait(WAIT, |l| l.messages().len() >= count / 2);
        servers[2].kill();
        log.messages().len()
    });
    eprintln!("server 2 killed after {seen_at_kill} messages");
    // The survivors carry on: once each has stored all its publisher said,
    // a last message ends the run.
    for (n, publisher) in publishers[..2].iter().enumerate() {
        let last = format!("p{n}-{}", count - 1);
        assert!(publisher.wait(WAIT, |l| l.has_text(&last)).has_text(&last));
    }
    publishers[0].say("end").unwrap();
    let survivors = [&publishers[0], &publishers[1], &watchers[0], &watchers[1]];
    let logs: Vec<Log> = survivors
        .iter()
        .map(|c| c.wait(WAIT, |l| l.has_text("end")))
        .collect();
    let expected = logs[0].messages();
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log.close, None, "survivor {i}");
        assert!(
            log.has_text("end"),
            "survivor {i}: {} messages",
            log.messages().len()
        );
        assert_from_one_without_holes(log, &format!("survivor {i}"));
        assert_eq!(log.messages(), expected, "survivor {i}: the same sequence");
    }
    let texts: Vec<&str> = expected.iter().map(|(_, t)| t.as_str()).collect();
    for n in 0..3 {
        let theirs: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| t.starts_with(&format!("p{n}-")))
            .collect();
        let said: Vec<String> = (0..theirs.len()).map(|i| format!("p{n}-{i}")).collect();
        assert_eq!(theirs, said, "publisher {n}: in order, from the first");
        if n < 2 {
            assert_eq!(theirs.len(), count, "publisher {n} lives: all of it");
        }
    }
    assert!(publishers[2].wait(WAIT, |l| l.ended).ended);
}

/// Freeze server 1 (SIGSTOP) with two members; publish `count` through
/// server 0; thaw it. The members of server 1, and the publisher's log.
#[cfg(target_os = "linux")] // freeze() reads /proc
fn freeze_publish_thaw(redis: &Redis, count: usize) -> (Vec<Log>, Log) {
    let servers: Vec<ChatServer> = (0..2)
        .map(|_| ChatServer::start(&redis.url(), &[]))
        .collect();
    let publisher = ChatClient::join(&servers[0].url("lobby"));
    let frozen = [
        ChatClient::join(&servers[1].url("lobby")),
        ChatClient::join(&servers[1].url("lobby")),
    ];
    // Something before the freeze, so that what follows is a cursor's gap.
    say_many(&[&publisher], "before", 5);
    for member in &frozen {
        assert!(has_all(&member.wait(WAIT, |l| has_all(l, 5)), 5));
    }
    servers[1].freeze();
    say_many(&[&publisher], "p", count);
    let total = 5 + count;
    let published = publisher.wait(WAIT, |l| has_all(l, total));
    assert_eq!(
        published.messages().len(),
        total,
        "{:?}",
        published.errors()
    );
    assert!(
        frozen.iter().all(|m| m.log().messages().len() == 5),
        "a frozen server delivers nothing"
    );
    servers[1].thaw();
    let logs = frozen
        .iter()
        .map(|m| m.wait(WAIT, |l| has_all(l, total)))
        .collect();
    (logs, published)
}

#[test]
#[cfg(target_os = "linux")]
fn a_frozen_server_thawed_delivers_everything_it_missed_in_order() {
    let Some(redis) = redis() else { return };
    let (logs, published) = freeze_publish_thaw(&redis, 300);
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log.close, None, "member {i}");
        assert_eq!(log.messages(), published.messages(), "member {i}");
    }
    assert_from_one_without_holes(&published, "the publisher");
}

#[test]
#[cfg(target_os = "linux")]
fn a_frozen_server_thawed_after_its_history_was_trimmed_reports_the_loss() {
    let Some(redis) = redis() else { return };
    let servers: Vec<ChatServer> = (0..2)
        .map(|_| ChatServer::start(&redis.url(), &[]))
        .collect();
    let frozen = [
        ChatClient::join(&servers[1].url("lobby")),
        ChatClient::join(&servers[1].url("lobby")),
    ];
    // Redis trims approximately (whole nodes of 100 entries): 600 messages
    // leave far fewer than 600 in a history capped at 50.
    let publisher = Publisher::new(&redis.url(), "lobby", 50);
    publisher.say_many("before", 5);
    for member in &frozen {
        assert!(has_all(&member.wait(WAIT, |l| has_all(l, 5)), 5));
    }
    servers[1].freeze();
    publisher.say_many("p", 600);
    servers[1].thaw();
    for (i, member) in frozen.iter().enumerate() {
        let log = member.wait(WAIT, |l| l.ended);
        assert_reported_loss(&log, &format!("member {i}"), 605);
        assert!(log.messages().len() >= 5, "member {i}: what came before");
    }
}

/// A server whose Redis is behind a proxy of the test's, and one that
/// reaches Redis directly.
struct CutSetup {
    proxy: Proxy,
    direct: ChatServer,
    behind: ChatServer,
}

fn cut_setup(redis: &Redis, extra: &[&str]) -> CutSetup {
    let target: SocketAddr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let proxy = Proxy::start(target);
    CutSetup {
        direct: ChatServer::start(&redis.url(), extra),
        behind: ChatServer::start(&proxy.url(), extra),
        proxy,
    }
}

#[test]
fn a_cut_to_redis_fails_publishes_keeps_members_and_recovers_from_history() {
    let Some(redis) = redis() else { return };
    let setup = cut_setup(&redis, &[]);
    let publisher = ChatClient::join(&setup.direct.url("lobby"));
    let behind = ChatClient::join(&setup.behind.url("lobby"));
    say_many(&[&publisher], "before", 10);
    assert!(has_all(&behind.wait(WAIT, |l| has_all(l, 10)), 10));

    setup.proxy.cut();
    behind.say("said during the cut").unwrap();
    let log = behind.wait(WAIT, |l| !l.errors().is_empty());
    let errors = log.errors();
    assert!(
        errors.len() == 1 && errors[0].starts_with("not published: Redis unavailable"),
        "{errors:?}"
    );
    // The room is known on this server: joining it needs no Redis.
    let joined_during = ChatClient::join(&setup.behind.url("lobby"));
    say_many(&[&publisher], "cut", 100);
    let published = publisher.wait(WAIT, |l| has_all(l, 110));
    assert_eq!(published.messages().len(), 110, "{:?}", published.errors());
    let log = behind.log();
    assert!(!log.ended, "the members stay while Redis is out of reach");
    assert_eq!(log.messages(), published.messages()[..10]);

    setup.proxy.restore();
    let log = behind.wait(WAIT, |l| has_all(l, 110));
    assert_eq!(log.close, None);
    assert_eq!(log.messages(), published.messages(), "recovered, in order");
    let log = joined_during.wait(WAIT, |l| has_all(l, 100));
    assert_eq!(log.messages(), published.messages()[10..]);
    // Publishing works again.
    behind.say("after the cut").unwrap();
    let log = publisher.wait(WAIT, |l| l.has_text("after the cut"));
    assert_eq!(
        log.messages().last().unwrap(),
        &(111, "after the cut".into())
    );
}

#[test]
fn a_cut_longer_than_the_history_closes_the_members_with_1013() {
    let Some(redis) = redis() else { return };
    let setup = cut_setup(&redis, &[]);
    let behind = ChatClient::join(&setup.behind.url("lobby"));
    let publisher = Publisher::new(&redis.url(), "lobby", 50);
    publisher.say_many("before", 5);
    assert!(has_all(&behind.wait(WAIT, |l| has_all(l, 5)), 5));
    setup.proxy.cut();
    publisher.say_many("cut", 600);
    setup.proxy.restore();
    let log = behind.wait(WAIT, |l| l.ended);
    assert_reported_loss(&log, "the member behind the cut", 605);
    assert!(log.messages().len() >= 5);
}

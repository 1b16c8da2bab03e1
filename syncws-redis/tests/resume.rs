//! A member that reconnects to another server with its position
//! (`/room/NAME?after=EPOCH:SEQ` on cluster-chat, `Room::join_after`
//! below it) gets what it missed from the history, in order, then the live
//! messages; or is told it cannot (trimmed, another epoch), with an error
//! and a 1013.

#[path = "support/chat.rs"]
mod chat;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use chat::{ChatClient, ChatServer, Log, Publisher, breaks, say_many};
use support::{Member, Persistence, Redis};
use syncws::{CloseCode, Message, MessageRef};
use syncws_redis::{Cluster, ClusterBuilder, Delivery, Loss, LossPolicy, Offset};

const WAIT: Duration = Duration::from_secs(60);

fn redis() -> Option<Redis> {
    support::redis_binary().map(|binary| Redis::start(binary, Persistence::None))
}

fn count(log: &Log) -> usize {
    log.messages().len()
}

/// The position after the last message `client` received: its welcome's
/// epoch and that message's offset.
fn position(client: &ChatClient) -> String {
    let after = client
        .after
        .clone()
        .expect("the welcome tells the position");
    let (epoch, joined) = after.split_once(':').unwrap();
    let last = client.log().messages().last().map(|(o, _)| *o);
    format!("{epoch}:{}", last.unwrap_or(joined.parse().unwrap()))
}

fn resume_url(server: &ChatServer, position: &str) -> String {
    format!("{}?after={position}", server.url("lobby"))
}

#[test]
fn a_member_resumes_on_another_server_with_what_it_missed_then_live() {
    let Some(redis) = redis() else { return };
    let a = ChatServer::start(&redis.url(), &[]);
    let b = ChatServer::start(&redis.url(), &[]);
    let publisher = ChatClient::join(&a.url("lobby"));
    let member = ChatClient::join(&a.url("lobby"));
    assert!(member.after.as_deref().unwrap().ends_with(":0"));
    say_many(&[&publisher], "early", 20);
    assert_eq!(count(&member.wait(WAIT, |l| count(l) >= 20)), 20);
    let at = position(&member);
    assert!(at.ends_with(":20"), "{at}");
    drop(member);
    say_many(&[&publisher], "missed", 30);
    assert_eq!(count(&publisher.wait(WAIT, |l| count(l) >= 50)), 50);

    // Server b has no member in the room: the resume makes it read it.
    let back = ChatClient::join(&resume_url(&b, &at));
    assert_eq!(
        back.after.as_deref(),
        Some(at.as_str()),
        "joined where it was"
    );
    say_many(&[&publisher], "live", 10);
    let published = publisher.wait(WAIT, |l| count(l) >= 60);
    let log = back.wait(WAIT, |l| count(l) >= 40);
    assert_eq!(
        log.messages(),
        published.messages()[20..],
        "missed, then live"
    );
    assert_eq!(log.close, None);
}

/// Say `{prefix}-{i}` until `stop` (at most `max`); how many were said.
fn say_until(client: &ChatClient, prefix: &str, stop: &AtomicBool, max: usize) -> usize {
    for i in 0..max {
        if stop.load(Ordering::Relaxed) || client.say(&format!("{prefix}-{i}")).is_err() {
            return i;
        }
        if i % 50 == 49 {
            // Leave the servers time to deliver, so that a member that
            // joins sees the room move rather than a burst.
            thread::sleep(Duration::from_millis(5));
        }
    }
    max
}

#[test]
fn resuming_while_the_room_is_busy_leaves_no_hole_and_no_repeat() {
    let Some(redis) = redis() else { return };
    let a = ChatServer::start(&redis.url(), &[]);
    let b = ChatServer::start(&redis.url(), &[]);
    let publishers = [
        ChatClient::join(&a.url("lobby")),
        ChatClient::join(&b.url("lobby")),
    ];
    // A member stays on each: the resumed member joins a room its new
    // server is reading, at whatever offset that server's reader is, ahead
    // of the member or behind it.
    let _residents = [
        ChatClient::join(&a.url("lobby")),
        ChatClient::join(&b.url("lobby")),
    ];
    let stop = AtomicBool::new(false);
    let (said, resumed) = thread::scope(|scope| {
        let saying: Vec<_> = publishers
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let stop = &stop;
                scope.spawn(move || say_until(p, &format!("p{n}"), stop, 20_000))
            })
            .collect();
        let resumed: Vec<ChatClient> = (0..8)
            .map(|round| {
                // Leave one server's room after some messages and come
                // back on the other while both publishers go on.
                let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let member = ChatClient::join(&from.url("lobby"));
                member.wait(WAIT, |l| count(l) >= 20);
                let at = position(&member);
                drop(member);
                ChatClient::join(&resume_url(to, &at))
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        let said: Vec<usize> = saying.into_iter().map(|h| h.join().unwrap()).collect();
        (said, resumed)
    });
    // Once both publishers' last messages are stored, one more ends it.
    for (n, publisher) in publishers.iter().enumerate() {
        let last = format!("p{n}-{}", said[n] - 1);
        assert!(publisher.wait(WAIT, |l| l.has_text(&last)).has_text(&last));
    }
    publishers[0].say("end").unwrap();
    let published = publishers[0].wait(WAIT, |l| l.has_text("end")).messages();
    assert_eq!(published.len(), said[0] + said[1] + 1);
    eprintln!("{} messages published", published.len());
    for (round, member) in resumed.iter().enumerate() {
        let log = member.wait(WAIT, |l| l.has_text("end"));
        let messages = log.messages();
        assert!(log.has_text("end"), "round {round}: {:?}", log.errors());
        assert_eq!(breaks(&messages), [], "round {round}: a hole or a repeat");
        let first = messages[0].0 as usize;
        assert_eq!(
            messages,
            published[first - 1..],
            "round {round}: the room's sequence from where it was"
        );
        assert_eq!(log.close, None, "round {round}");
    }
}

#[test]
fn a_position_trimmed_from_the_history_is_refused_with_1013() {
    let Some(redis) = redis() else { return };
    let a = ChatServer::start(&redis.url(), &[]);
    let b = ChatServer::start(&redis.url(), &[]);
    let member = ChatClient::join(&a.url("lobby"));
    // A history capped at 50 (approximately: whole nodes of 100 entries).
    let publisher = Publisher::new(&redis.url(), "lobby", 50);
    publisher.say_many("early", 5);
    member.wait(WAIT, |l| count(l) >= 5);
    let at = position(&member);
    drop(member);
    publisher.say_many("many", 600);
    let back = chat::refusal(&resume_url(&b, &at));
    let errors = back.errors();
    assert_eq!(errors.len(), 1, "{:?}", back.lines);
    assert!(
        errors[0].starts_with("cannot resume: room lobby: messages 6 to "),
        "{errors:?}"
    );
    assert_eq!(back.close, Some(CloseCode::TryAgainLater));
    assert!(back.messages().is_empty(), "nothing after a hole");
}

#[test]
fn a_position_of_another_epoch_or_none_at_all_is_refused() {
    let Some(redis) = redis() else { return };
    let a = ChatServer::start(&redis.url(), &[]);
    let publisher = ChatClient::join(&a.url("lobby"));
    say_many(&[&publisher], "p", 3);
    publisher.wait(WAIT, |l| count(l) >= 3);
    let other = chat::refusal(&resume_url(&a, "00000000deadbeef:2"));
    assert_eq!(other.close, Some(CloseCode::TryAgainLater));
    assert!(
        other.errors()[0]
            .starts_with("cannot resume: room lobby: Redis lost the history after message 2"),
        "{:?}",
        other.errors()
    );
    let epoch = publisher
        .after
        .as_deref()
        .unwrap()
        .split_once(':')
        .unwrap()
        .0
        .to_owned();
    let ahead = chat::refusal(&resume_url(&a, &format!("{epoch}:9")));
    assert!(
        ahead.errors()[0].starts_with("cannot join: invalid offset: room lobby is at"),
        "{:?}",
        ahead.errors()
    );
    assert_eq!(ahead.close, Some(CloseCode::Policy));
    let nonsense = chat::refusal(&resume_url(&a, "yesterday"));
    assert_eq!(nonsense.close, Some(CloseCode::Policy));
    assert!(
        nonsense.errors()[0].starts_with("cannot join: invalid offset: \"yesterday\""),
        "{:?}",
        nonsense.errors()
    );
    // At the room's last offset: nothing missed, live from there.
    let at_end = ChatClient::join(&resume_url(&a, &format!("{epoch}:3")));
    publisher.say("four").unwrap();
    let log = at_end.wait(WAIT, |l| count(l) >= 1);
    assert_eq!(log.messages(), [(4, "four".to_owned())]);
}

/// A server of the test's process whose connections join the room, or
/// resume after the offset in their query (`?after=EPOCH:SEQ`), greeted
/// with "joined"; its cluster's envelope puts each message's seq before it.
fn resuming_node(builder: ClusterBuilder) -> (Cluster, syncws::ServerHandle) {
    let cluster = builder
        .envelope(|d: &Delivery<'_>| {
            let text = d.message.as_text().unwrap_or_default();
            Message::from(format!("{} {text}", d.offset.seq))
        })
        .connect()
        .unwrap();
    let for_handler = cluster.clone();
    let server = syncws::Server::bind("127.0.0.1:0")
        .unwrap()
        .start(move |mut ws| {
            let query = ws.request().and_then(|r| r.query()).unwrap_or_default();
            let after = query
                .strip_prefix("after=")
                .map(|a| a.parse::<Offset>().unwrap());
            let room = for_handler.room("lobby");
            let greeting = |_: &Offset| Message::from("joined");
            let joined = room.join_greeted(ws.sender(), after.as_ref(), greeting);
            let Ok(_membership) = joined else { return };
            let _ = ws.run_with(|_| Ok(()));
        })
        .unwrap();
    (cluster, server)
}

#[test]
fn join_after_resumes_at_any_offset_of_a_history_written_in_bursts() {
    let Some(redis) = redis() else { return };
    let publishing = Cluster::connect(&redis.url()).unwrap();
    let room = publishing.room("lobby");
    // As fast as one connection goes: many entries share a millisecond,
    // which the seek script's binary search must tell apart.
    let total = 300;
    let published: Vec<Offset> = (1..=total)
        .map(|i| {
            room.publish(MessageRef::Text(&format!("m{i}")))
                .unwrap()
                .offset
        })
        .collect();
    let epoch = published[0].epoch.clone();
    let (cluster, server) = resuming_node(Cluster::builder(&redis.url()));
    let members: Vec<(u64, Member)> = [0, 1, 2, 37, 150, 298, 299, 300]
        .into_iter()
        .map(|after| {
            let url = format!("ws://{}/lobby?after={epoch}:{after}", server.local_addr());
            (after, Member::connect(&url))
        })
        .collect();
    for (after, member) in &members {
        let missed = (total - after) as usize;
        let got = member.wait(WAIT, |r| r.messages.len() >= missed);
        let expected: Vec<String> = (after + 1..=total).map(|i| format!("{i} m{i}")).collect();
        assert_eq!(got.messages, expected, "after {after}");
    }
    room.publish(MessageRef::Text("live")).unwrap();
    for (after, member) in &members {
        let missed = (total - after) as usize;
        let got = member.wait(WAIT, |r| r.messages.len() > missed);
        assert_eq!(
            got.messages.last().unwrap(),
            &format!("{} live", total + 1),
            "after {after}"
        );
    }
    assert_eq!(cluster.stats().losses, 0);
}

#[test]
fn a_member_ahead_of_its_new_servers_reader_joins_when_the_reader_gets_there() {
    let Some(redis) = redis() else { return };
    let publishing = Cluster::connect(&redis.url()).unwrap();
    let room = publishing.room("lobby");
    // The node's reader is held in its loss callback until the test lets
    // it go: a server that lags behind the room, deterministically.
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let policy = LossPolicy::Callback(Arc::new(move |_: &Loss, _: &[syncws::Sender]| {
        let _ = released.recv_timeout(WAIT);
    }));
    let (_cluster, server) = resuming_node(Cluster::builder(&redis.url()).loss_policy(policy));
    let resident = Member::connect(&format!("ws://{}/lobby", server.local_addr()));
    let first = room.publish(MessageRef::Text("first")).unwrap().offset;
    resident.wait(WAIT, |r| r.messages.len() == 1);
    // A hole in the room (offset 2 is never stored): the reader reports it
    // and stops there, in the callback.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_connection_with_timeout(WAIT).unwrap();
    redis::cmd("INCR")
        .arg("syncws:{lobby}:seq")
        .query::<u64>(&mut c)
        .unwrap();
    for i in 3..=6 {
        room.publish(MessageRef::Text(&format!("m{i}"))).unwrap();
    }
    // Resume after 5, on the lagging server: 6 is sent from the history,
    // then the member waits for the reader to deliver up to 6.
    let url = format!("ws://{}/lobby?after={}:5", server.local_addr(), first.epoch);
    let resumed = Member::connect(&url);
    let got = resumed.wait(WAIT, |r| !r.messages.is_empty());
    assert_eq!(got.messages, ["6 m6"]);
    assert_eq!(
        resident.snapshot().messages,
        ["1 first"],
        "the reader is held"
    );
    release.send(()).unwrap();
    room.publish(MessageRef::Text("live")).unwrap();
    let got = resumed.wait(WAIT, |r| r.messages.len() >= 2);
    assert_eq!(
        got.messages,
        ["6 m6", "7 live"],
        "no repeat of 6, nothing before"
    );
    let got = resident.wait(WAIT, |r| r.messages.len() >= 6);
    assert_eq!(
        got.messages,
        ["1 first", "3 m3", "4 m4", "5 m5", "6 m6", "7 live"]
    );
}

//! Rooms over three nodes on one Redis of the test's own: one order,
//! offsets, idempotent retries, Redis killed and restarted (with and
//! without persistence), and a slow member evicted.

mod support;

use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::{Duration, Instant};

use support::{Member, Node, Persistence, Received, Redis};
use syncws::{CloseCode, MessageRef};
use syncws_redis::{Cluster, Offset, PublishId};

const ROOM: &str = "lobby";

fn nodes(redis: &Redis, count: usize) -> Vec<Node> {
    (0..count)
        .map(|_| {
            Node::start(
                Cluster::builder(&redis.url()).timeout(Duration::from_secs(2)),
                ROOM,
            )
        })
        .collect()
}

/// Two members on each node.
fn members(nodes: &[Node]) -> Vec<Member> {
    nodes
        .iter()
        .flat_map(|node| [Member::connect(&node.url()), Member::connect(&node.url())])
        .collect()
}

/// Publish `count` messages from each node at once, each retried with its
/// id until Redis takes it (bounded); what each publish returned Ok with.
fn publish_from_every_node(nodes: &[Node], count: usize) -> Vec<(String, Offset)> {
    let handles: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let room = node.cluster.room(ROOM);
            thread::spawn(move || {
                let mut done = Vec::new();
                for i in 0..count {
                    let text = format!("node{n}-{i}");
                    let id = PublishId::random();
                    let deadline = Instant::now() + Duration::from_secs(30);
                    loop {
                        match room.publish_with_id(&id, MessageRef::Text(&text)) {
                            Ok(published) => {
                                done.push((text, published.offset));
                                break;
                            }
                            Err(e) => assert!(Instant::now() < deadline, "{text}: {e}"),
                        }
                        // Redis is away: the next try goes through the
                        // reconnection's own timeout.
                        thread::sleep(Duration::from_millis(20));
                    }
                }
                done
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn in_offset_order(published: &[(String, Offset)]) -> Vec<String> {
    let mut sorted = published.to_vec();
    sorted.sort_by_key(|(_, offset)| offset.seq);
    sorted.into_iter().map(|(text, _)| text).collect()
}

#[test]
fn every_member_on_every_node_sees_one_order_the_order_of_offsets() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let nodes = nodes(&redis, 3);
    let members = members(&nodes);
    let published = publish_from_every_node(&nodes, 100);
    assert_eq!(published.len(), 300);
    let epochs: HashSet<_> = published.iter().map(|(_, o)| o.epoch.clone()).collect();
    assert_eq!(epochs.len(), 1, "one epoch");
    let mut seqs: Vec<u64> = published.iter().map(|(_, o)| o.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<_>>(),
        "offsets 1 to 300, each once"
    );
    let expected = in_offset_order(&published);
    for (i, member) in members.iter().enumerate() {
        let got = member.wait(Duration::from_secs(30), |r| r.messages.len() >= 300);
        assert_eq!(got.messages, expected, "member {i}");
    }
    for node in &nodes {
        assert_eq!(node.cluster.stats().losses, 0);
        assert_eq!(node.cluster.stats().delivered, 300);
    }
}

#[test]
fn a_retried_publish_is_stored_and_delivered_once() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let nodes = nodes(&redis, 2);
    let members = members(&nodes);
    let room = nodes[0].cluster.room(ROOM);
    let id = PublishId::new("order-17").unwrap();
    let first = room
        .publish_with_id(&id, MessageRef::Text("shipped"))
        .unwrap();
    // The reply was lost, say: the publisher retries, from another node.
    let again = nodes[1]
        .cluster
        .room(ROOM)
        .publish_with_id(&id, MessageRef::Text("shipped"))
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.offset, first.offset);
    let last = room.publish(MessageRef::Text("end")).unwrap();
    assert_eq!(last.offset.seq, first.offset.seq + 1);
    for member in &members {
        let got = member.wait(Duration::from_secs(10), |r| {
            r.messages.last().is_some_and(|m| m == "end")
        });
        assert_eq!(got.messages, ["shipped", "end"]);
    }
}

#[test]
fn a_batch_is_stored_in_its_order_and_a_retried_batch_once() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let nodes = nodes(&redis, 2);
    let members = members(&nodes);
    let room = nodes[0].cluster.room(ROOM);
    let texts = ["one", "two", "three", "four"];
    let batch: Vec<(PublishId, MessageRef)> = texts
        .iter()
        .map(|t| (PublishId::random(), MessageRef::Text(t)))
        .collect();
    let first = room.publish_batch(&batch).unwrap();
    let seqs: Vec<u64> = first.iter().map(|p| p.offset.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert!(first.iter().all(|p| !p.duplicate));
    // Its reply lost, say: retried from another node, nothing is stored.
    let again = nodes[1].cluster.room(ROOM).publish_batch(&batch).unwrap();
    assert!(again.iter().all(|p| p.duplicate));
    let offsets =
        |ps: &[syncws_redis::Published]| ps.iter().map(|p| p.offset.clone()).collect::<Vec<_>>();
    assert_eq!(offsets(&again), offsets(&first));
    assert!(room.publish_batch(&[]).unwrap().is_empty());
    let last = room.publish(MessageRef::Text("end")).unwrap();
    assert_eq!(last.offset.seq, 5);
    for member in &members {
        let got = member.wait(Duration::from_secs(10), |r| {
            r.messages.last().is_some_and(|m| m == "end")
        });
        assert_eq!(got.messages, ["one", "two", "three", "four", "end"]);
    }
}

/// What every member must show after Redis went away mid-stream: the
/// messages it got are in the room's order, never twice; either it got
/// every message whose publish returned Ok, or it was closed with 1013
/// (the loss reported), and then what it got of the first epoch has no
/// hole before its last message.
fn check_no_silent_gap(
    got: &Received,
    published: &[(String, Offset)],
    first_epoch: &Offset,
) -> bool {
    let unique: HashSet<_> = got.messages.iter().collect();
    assert_eq!(
        unique.len(),
        got.messages.len(),
        "a message delivered twice"
    );
    let offsets: HashMap<&str, &Offset> = published.iter().map(|(t, o)| (t.as_str(), o)).collect();
    let seen: Vec<&Offset> = got
        .messages
        .iter()
        .filter_map(|m| offsets.get(m.as_str()).copied())
        .collect();
    for pair in seen.windows(2) {
        let in_order = pair[0].epoch != pair[1].epoch || pair[0].seq < pair[1].seq;
        assert!(in_order, "out of order: {} then {}", pair[0], pair[1]);
    }
    let all = published.iter().all(|(text, _)| unique.contains(text));
    if all {
        return false;
    }
    assert_eq!(
        got.close,
        Some(CloseCode::TryAgainLater),
        "messages missing without a 1013: {got:?}"
    );
    let last = seen
        .iter()
        .filter(|o| o.epoch == first_epoch.epoch)
        .map(|o| o.seq)
        .max()
        .unwrap_or(0);
    for (text, offset) in published {
        if offset.epoch == first_epoch.epoch && offset.seq <= last {
            assert!(
                unique.contains(text),
                "{text} ({offset}) missing before {last}, silently"
            );
        }
    }
    true
}

/// Publish from three nodes; SIGKILL Redis once a third is stored, start
/// it again on the same port; let the publishers finish.
fn publish_through_a_redis_restart(redis: &mut Redis, nodes: &[Node]) -> Vec<(String, Offset)> {
    let probe = nodes[0].cluster.clone();
    thread::scope(|scope| {
        let publishing = scope.spawn(|| publish_from_every_node(nodes, 150));
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe.stats().published + nodes[1].cluster.stats().published < 100 {
            assert!(Instant::now() < deadline, "publishing stalled");
            thread::sleep(Duration::from_millis(2));
        }
        redis.restart();
        publishing.join().unwrap()
    })
}

#[test]
fn redis_restarted_without_persistence_loses_nothing_silently() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let mut redis = Redis::start(binary, Persistence::None);
    let nodes = nodes(&redis, 3);
    let members = members(&nodes);
    let published = publish_through_a_redis_restart(&mut redis, &nodes);
    assert_eq!(published.len(), 450, "every publish ended Ok, retried");
    let first = published
        .iter()
        .map(|(_, o)| o)
        .min_by_key(|o| o.seq)
        .unwrap()
        .clone();
    let epochs: HashSet<_> = published.iter().map(|(_, o)| o.epoch.clone()).collect();
    assert_eq!(
        epochs.len(),
        2,
        "a restart without persistence starts a new epoch"
    );
    let mut reported = 0;
    for member in &members {
        let got = member.wait(Duration::from_secs(30), |r| r.messages.len() >= 450);
        if check_no_silent_gap(&got, &published, &first) {
            reported += 1;
        }
    }
    assert!(reported > 0, "the history was lost: members are told");
    for node in &nodes {
        let stats = node.cluster.stats();
        assert!(stats.losses >= 1, "{stats:?}");
        assert!(
            stats.reconnects >= 1 && stats.redis_restarts >= 1,
            "{stats:?}"
        );
    }
}

#[test]
fn redis_restarted_with_an_append_only_file_loses_nothing() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let mut redis = Redis::start(binary, Persistence::AofAlways);
    let nodes = nodes(&redis, 3);
    let members = members(&nodes);
    let published = publish_through_a_redis_restart(&mut redis, &nodes);
    assert_eq!(published.len(), 450);
    let epochs: HashSet<_> = published.iter().map(|(_, o)| o.epoch.clone()).collect();
    assert_eq!(epochs.len(), 1, "the epoch survives a restart with AOF");
    let expected = in_offset_order(&published);
    for (i, member) in members.iter().enumerate() {
        let got = member.wait(Duration::from_secs(30), |r| r.messages.len() >= 450);
        assert_eq!(got.close, None, "member {i}");
        assert_eq!(got.messages, expected, "member {i}");
    }
    for node in &nodes {
        let stats = node.cluster.stats();
        assert_eq!(stats.losses, 0, "{stats:?}");
        assert!(stats.reconnects >= 1, "{stats:?}");
    }
}

#[test]
fn a_slow_member_is_closed_with_1008_and_the_others_get_everything() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    // The byte limit, not the count, evicts; a reader that keeps up is
    // never 16 MiB behind, even on a loaded machine (with 4 MiB the fast
    // member was evicted too, once, under a parallel build).
    let builder = Cluster::builder(&redis.url())
        .member_limits(1024, 16 << 20)
        .max_len(1000);
    let node = Node::start(builder, ROOM);
    let fast = Member::connect(&node.url());
    // Joined, then never read until the end; uncompressed, so that the
    // payloads below take their size in its socket buffers.
    let mut slow = support::open_uncompressed(&node.url());
    let room = node.cluster.room(ROOM);
    // 37.5 MiB: more than the slow member's socket buffers and its 16 MiB
    // queue hold.
    let count = 600;
    let publisher = {
        let room = room.clone();
        thread::spawn(move || {
            let big = "x".repeat(64 << 10);
            for i in 0..count {
                room.publish(MessageRef::Text(&format!("{i:04}{big}")))
                    .unwrap();
            }
        })
    };
    // The hub drops the slow member when its queue is full, and gives its
    // close frame a second to go out behind what was queued: read from then
    // on.
    let deadline = Instant::now() + Duration::from_secs(60);
    while room.local_members() > 1 {
        assert!(
            Instant::now() < deadline,
            "the slow member was never evicted"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = 0;
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let end = loop {
        assert!(Instant::now() < deadline);
        match slow.read_message() {
            Ok(_) => read += 1,
            Err(e) => break e,
        }
    };
    assert!(
        read < count,
        "the slow member was evicted before the end ({read} read)"
    );
    match end {
        syncws::Error::Closed(frame) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a 1008 close, got {other}"),
    }
    publisher.join().unwrap();
    let got = fast.wait(Duration::from_secs(60), |r| r.messages.len() >= count);
    assert_eq!(
        got.messages.len(),
        count,
        "the fast member: {:?}",
        got.close
    );
    assert!(
        got.messages
            .iter()
            .enumerate()
            .all(|(i, m)| m.starts_with(&format!("{i:04}")))
    );
    assert_eq!(node.cluster.stats().losses, 0);
}

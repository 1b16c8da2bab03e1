//! A connection detached on one node, attached from another: its messages
//! read there in order and answered; one attacher at a time; a dropped or
//! dead attacher lets it be attached again; a full backlog closes it with
//! 1013.

mod support;

use std::time::Duration;

use support::{Addressed, Member, Persistence, Redis};
use syncws::{CloseCode, Message, MessageRef, Sender};
use syncws_redis::{Attachment, Cluster, ClusterBuilder, Error, GlobalId};

const WAIT: Duration = Duration::from_secs(10);

fn builder(redis: &Redis) -> ClusterBuilder {
    Cluster::builder(&redis.url()).timeout(Duration::from_secs(2))
}

/// A client of `node` whose connection its handler has detached: what it
/// receives, a sender for it, and its id.
fn detached_client(node: &Addressed) -> (Member, Sender, GlobalId) {
    let (ws, id) = support::open_addressed(&node.url("/"));
    let sender = ws.sender();
    let client = Member::reading(ws);
    sender.send_text("detach").unwrap();
    let detached = support::eventually(WAIT, || {
        node.server
            .connections()
            .iter()
            .any(|c| c.id == id.connection() && c.detached)
    });
    assert!(detached, "the handler detached the connection");
    (client, sender, id)
}

fn read_text(attachment: &mut Attachment) -> String {
    match attachment.read_message(WAIT) {
        Ok(Some(Message::Text(text))) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn a_connection_detached_on_one_node_is_read_and_answered_from_another() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (client, to_server, id) = detached_client(&a);
    for i in 1..=5 {
        to_server.send_text(&format!("m{i}")).unwrap();
    }
    let mut attached = b.cluster.attach(&id, WAIT).unwrap();
    assert_eq!(attached.id(), &id);
    for i in 1..=5 {
        let text = read_text(&mut attached);
        assert_eq!(text, format!("m{i}"));
        attached
            .send(MessageRef::Text(&format!("re:{text}")))
            .unwrap();
    }
    let got = client.wait(WAIT, |r| r.messages.len() >= 5);
    assert_eq!(got.messages, ["re:m1", "re:m2", "re:m3", "re:m4", "re:m5"]);
    // Nothing more was sent: nothing more is read.
    assert!(matches!(
        attached.read_message(Duration::from_millis(200)),
        Ok(None)
    ));

    // One attacher at a time, from any node.
    for other in [&a.cluster, &b.cluster] {
        match other.attach(&id, WAIT) {
            Err(Error::AttachedElsewhere(refused)) => assert_eq!(refused, id),
            other => panic!("expected AttachedElsewhere, got {other:?}"),
        }
    }

    // Dropped, it can be attached again, and the next reads on.
    drop(attached);
    let mut again = a.cluster.attach(&id, WAIT).unwrap();
    to_server.send_text("m6").unwrap();
    assert_eq!(read_text(&mut again), "m6");

    // The connection's end reaches the attacher after its messages.
    to_server.send_text("m7").unwrap();
    to_server.send_close(CloseCode::Normal, "done").unwrap();
    assert_eq!(read_text(&mut again), "m7");
    match again.read_message(WAIT) {
        Err(Error::Ended { id: ended, close }) => {
            assert_eq!(ended, id);
            assert_eq!(close.map(|c| c.code), Some(CloseCode::Normal));
        }
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn an_attacher_that_died_lets_the_connection_be_attached_once_its_lease_expired() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (_client, to_server, id) = detached_client(&a);
    // An attacher that died: its lease is there until it expires, and
    // nobody renews it.
    let lease = format!(
        "syncws:lease:{{{}}}:{}",
        id.node(),
        u64::from(id.connection())
    );
    redis::cmd("SET")
        .arg(&lease)
        .arg("dead-attacher")
        .arg("PX")
        .arg(500)
        .query::<()>(&mut support::redis_connection(&redis))
        .unwrap();
    assert!(matches!(
        b.cluster.attach(&id, WAIT),
        Err(Error::AttachedElsewhere(_))
    ));
    let mut attached = None;
    let expired = support::eventually(WAIT, || {
        attached = b.cluster.attach(&id, WAIT).ok();
        attached.is_some()
    });
    assert!(expired, "attachable once the dead attacher's lease expired");
    let mut attached = attached.unwrap();
    to_server.send_text("after").unwrap();
    assert_eq!(read_text(&mut attached), "after");
}

#[test]
fn a_full_backlog_closes_the_connection_with_1013_and_the_attacher_reads_what_was_forwarded() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis).attach_backlog(3));
    let b = Addressed::start(builder(&redis));
    let (client, to_server, id) = detached_client(&a);
    let mut attached = b.cluster.attach(&id, WAIT).unwrap();
    // The attacher does not read while ten come in.
    for i in 1..=10 {
        if to_server.send_text(&format!("m{i}")).is_err() {
            break;
        }
    }
    let got = client.wait(WAIT, |r| r.ended);
    assert_eq!(got.close, Some(CloseCode::TryAgainLater), "{got:?}");
    for i in 1..=3 {
        assert_eq!(read_text(&mut attached), format!("m{i}"));
    }
    match attached.read_message(WAIT) {
        Err(Error::Ended { close, .. }) => {
            assert_eq!(close.map(|c| c.code), Some(CloseCode::TryAgainLater));
        }
        other => panic!("expected the end after the backlog, got {other:?}"),
    }
}

#[test]
fn only_a_detached_connection_can_be_attached() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (ws, id) = support::open_addressed(&a.url("/"));
    match b.cluster.attach(&id, WAIT) {
        Err(Error::NotDetached(refused)) => assert_eq!(refused, id),
        other => panic!("expected NotDetached, got {other:?}"),
    }
    let unknown = a.cluster.global_id_of(999_999.into());
    assert!(matches!(
        b.cluster.attach(&unknown, WAIT),
        Err(Error::NoSuchConnection(_))
    ));
    // A refusal gives the lease up: the same connection, once detached,
    // can be attached.
    ws.send_text("detach").unwrap();
    assert!(support::eventually(WAIT, || {
        a.server.connections().iter().any(|c| c.detached)
    }));
    assert!(b.cluster.attach(&id, WAIT).is_ok());
}

//! Connections addressed from anywhere: global ids, sends to one
//! connection from another node, answers for unknown and dead ids, and a
//! listing across nodes that names the node that did not answer.

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{Addressed, Member, Persistence, Redis};
use syncws::MessageRef;
use syncws_redis::{Cluster, ClusterBuilder, Error, GlobalId};

const WAIT: Duration = Duration::from_secs(10);

fn builder(redis: &Redis) -> ClusterBuilder {
    Cluster::builder(&redis.url()).timeout(Duration::from_secs(2))
}

#[test]
fn a_connection_is_told_its_global_id_which_names_its_node_and_connection() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let node = Addressed::start(builder(&redis));
    let (_ws, id) = support::open_addressed(&node.url("/"));
    assert_eq!(id.node(), node.cluster.node_id());
    let listed: Vec<_> = node.server.connections().iter().map(|c| c.id).collect();
    assert_eq!(listed, [id.connection()]);
    assert_eq!(id.to_string().parse::<GlobalId>().unwrap(), id);
    assert_eq!(node.cluster.global_id_of(id.connection()), id);
}

#[test]
fn a_send_to_an_id_on_another_node_reaches_its_client() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (ws, id) = support::open_addressed(&a.url("/"));
    let client = Member::reading(ws);
    b.cluster.send_to(&id, MessageRef::Text("one")).unwrap();
    b.cluster
        .send_to_confirmed(&id, MessageRef::Text("two"), WAIT)
        .unwrap();
    a.cluster.send_to(&id, MessageRef::Text("three")).unwrap();
    let got = client.wait(WAIT, |r| r.messages.len() >= 3);
    assert_eq!(got.messages, ["one", "two", "three"]);
}

#[test]
fn a_send_to_an_unknown_connection_of_a_live_node_is_answered_no_such_connection() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let unknown: GlobalId = format!("{}-999999", a.cluster.node_id()).parse().unwrap();
    match b
        .cluster
        .send_to_confirmed(&unknown, MessageRef::Text("anyone?"), WAIT)
    {
        Err(Error::NoSuchConnection(id)) => assert_eq!(id, unknown),
        other => panic!("expected NoSuchConnection, got {other:?}"),
    }
    // A connection that has ended is no such connection either.
    let (mut ws, id) = support::open_addressed(&a.url("/"));
    ws.close(syncws::CloseCode::Normal, "bye").unwrap();
    assert!(support::eventually(WAIT, || a
        .server
        .connections()
        .is_empty()));
    match b
        .cluster
        .send_to_confirmed(&id, MessageRef::Text("late"), WAIT)
    {
        Err(Error::NoSuchConnection(_)) => {}
        other => panic!("expected NoSuchConnection, got {other:?}"),
    }
}

#[test]
fn a_send_to_an_id_of_a_node_that_shut_down_is_answered_gone() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (_ws, id) = support::open_addressed(&a.url("/"));
    a.cluster.shutdown();
    match b.cluster.send_to(&id, MessageRef::Text("hello?")) {
        Err(Error::Gone(gone)) => assert_eq!(gone, id),
        other => panic!("expected Gone, got {other:?}"),
    }
    match b
        .cluster
        .send_to_confirmed(&id, MessageRef::Text("hello?"), WAIT)
    {
        Err(Error::Gone(_)) => {}
        other => panic!("expected Gone, got {other:?}"),
    }
    // An id of a node that never was is gone too.
    let never: GlobalId = "0123456789abcdef-1".parse().unwrap();
    assert!(matches!(
        b.cluster.send_to(&never, MessageRef::Text("x")),
        Err(Error::Gone(_))
    ));
}

#[test]
fn a_send_to_an_id_of_a_node_whose_heartbeat_expired_is_answered_gone() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let b = Addressed::start(builder(&redis));
    // A node that dies without shutting down: its last clone is dropped,
    // so nothing renews its heartbeat, and nothing removes it either.
    let dying = builder(&redis)
        .heartbeat(Duration::from_millis(600))
        .connect()
        .unwrap();
    let id = dying.global_id_of(1.into());
    let key = format!("syncws:node:{{{}}}", dying.node_id());
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query(&mut support::redis_connection(&redis))
        .unwrap();
    assert!(ttl > 0 && ttl <= 600, "a heartbeat with an expiry: {ttl}");
    b.cluster.send_to(&id, MessageRef::Text("alive")).unwrap();
    drop(dying);
    let gone = support::eventually(WAIT, || {
        matches!(
            b.cluster.send_to(&id, MessageRef::Text("still?")),
            Err(Error::Gone(_))
        )
    });
    assert!(
        gone,
        "the id is answered as gone once the heartbeat expired"
    );
}

#[test]
fn a_listing_has_every_nodes_connections_and_names_the_node_that_did_not_answer() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    let b = Addressed::start(builder(&redis));
    let (_a1, a1) = support::open_addressed(&a.url("/room/one"));
    let (_a2, a2) = support::open_addressed(&a.url("/room/two"));
    let (_b1, b1) = support::open_addressed(&b.url("/room/three"));
    // A frozen node: its heartbeat is there (it has not expired yet), but
    // nothing reads its inbox.
    let frozen = "f0f0f0f0f0f0f0f0";
    redis::cmd("SET")
        .arg(format!("syncws:node:{{{frozen}}}"))
        .arg("")
        .arg("PX")
        .arg(60_000)
        .query::<()>(&mut support::redis_connection(&redis))
        .unwrap();

    let listing = b.cluster.list_connections(Duration::from_secs(2)).unwrap();
    let mut expected = vec![a1.clone(), a2.clone(), b1.clone()];
    expected.sort();
    let ids: Vec<GlobalId> = listing.connections.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, expected);
    let path_of = |id: &GlobalId| {
        let c = listing.connections.iter().find(|c| &c.id == id).unwrap();
        assert!(c.peer.is_some_and(|p| p.ip().is_loopback()));
        c.path.clone()
    };
    assert_eq!(path_of(&a1), "/room/one");
    assert_eq!(path_of(&a2), "/room/two");
    assert_eq!(path_of(&b1), "/room/three");
    let mut answered = vec![
        a.cluster.node_id().to_owned(),
        b.cluster.node_id().to_owned(),
    ];
    answered.sort();
    assert_eq!(listing.answered, answered);
    assert_eq!(listing.silent, [frozen]);

    // Once a node has shut down, it is neither listed nor silent.
    a.cluster.shutdown();
    let listing = b.cluster.list_connections(Duration::from_secs(2)).unwrap();
    let ids: Vec<GlobalId> = listing.connections.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, [b1]);
    assert_eq!(listing.answered, [b.cluster.node_id()]);
    assert_eq!(listing.silent, [frozen]);
}

#[test]
fn a_post_to_a_full_inbox_is_refused_not_pushed_out() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let b = Addressed::start(builder(&redis).inbox_limit(2));
    // A live node that reads nothing.
    let frozen = "f0f0f0f0f0f0f0f0";
    redis::cmd("SET")
        .arg(format!("syncws:node:{{{frozen}}}"))
        .arg("")
        .arg("PX")
        .arg(60_000)
        .query::<()>(&mut support::redis_connection(&redis))
        .unwrap();
    let id: GlobalId = format!("{frozen}-1").parse().unwrap();
    b.cluster.send_to(&id, MessageRef::Text("1")).unwrap();
    b.cluster.send_to(&id, MessageRef::Text("2")).unwrap();
    match b.cluster.send_to(&id, MessageRef::Text("3")) {
        Err(Error::InboxFull { node }) => assert_eq!(node, frozen),
        other => panic!("expected InboxFull, got {other:?}"),
    }
    let kept: usize = redis::cmd("XLEN")
        .arg(format!("syncws:inbox:{{{frozen}}}"))
        .query(&mut support::redis_connection(&redis))
        .unwrap();
    assert_eq!(kept, 2, "the first two are still there");
    // A confirmed send to it is not stored either, and says so.
    assert!(matches!(
        b.cluster
            .send_to_confirmed(&id, MessageRef::Text("4"), Duration::from_millis(100)),
        Err(Error::InboxFull { .. })
    ));
}

#[test]
fn a_frozen_node_is_named_as_not_answering_and_is_listed_again_once_thawed() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let a = Addressed::start(builder(&redis));
    // Node b reaches Redis through a proxy the test pauses: frozen, its
    // heartbeat still there (15 s), nothing it reads or answers gets
    // through.
    let proxy = Proxy::to_port(redis.port);
    let b = Addressed::start(Cluster::builder(&proxy.url()).timeout(Duration::from_secs(2)));
    let (_a1, a1) = support::open_addressed(&a.url("/"));
    let (_b1, b1) = support::open_addressed(&b.url("/"));
    let listing = a.cluster.list_connections(Duration::from_secs(2)).unwrap();
    assert_eq!(listing.connections.len(), 2);

    proxy.pause();
    let listing = a
        .cluster
        .list_connections(Duration::from_millis(500))
        .unwrap();
    let ids: Vec<GlobalId> = listing.connections.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, std::slice::from_ref(&a1));
    assert_eq!(listing.silent, [b.cluster.node_id()]);
    assert!(matches!(
        a.cluster
            .send_to_confirmed(&b1, MessageRef::Text("frozen?"), Duration::from_millis(300)),
        Err(Error::NoAnswer(_))
    ));

    proxy.resume();
    let mut expected = vec![a1, b1];
    expected.sort();
    let thawed = support::eventually(Duration::from_secs(20), || {
        let listing = a
            .cluster
            .list_connections(Duration::from_millis(500))
            .unwrap();
        let ids: Vec<GlobalId> = listing.connections.iter().map(|c| c.id.clone()).collect();
        ids == expected && listing.silent.is_empty()
    });
    assert!(thawed, "the thawed node answers again");
}

#[test]
fn while_redis_is_away_a_send_fails_at_once_and_after_its_restart_the_nodes_are_reached_again() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let mut redis = Redis::start(binary, Persistence::None);
    let beat = |r: &Redis| builder(r).heartbeat(Duration::from_millis(600));
    let a = Addressed::start(beat(&redis));
    let b = Addressed::start(beat(&redis));
    let (ws, id) = support::open_addressed(&a.url("/"));
    let client = Member::reading(ws);
    redis.kill();
    assert!(matches!(
        b.cluster.send_to(&id, MessageRef::Text("lost?")),
        Err(Error::Unavailable(_))
    ));
    // Restarted empty: the heartbeats come back with the next renewal,
    // the inboxes with the next post.
    redis.restart();
    let reached = support::eventually(Duration::from_secs(20), || {
        b.cluster
            .send_to_confirmed(&id, MessageRef::Text("back"), Duration::from_millis(500))
            .is_ok()
    });
    assert!(reached, "node a answers for its connection again");
    let got = client.wait(WAIT, |r| r.messages.iter().any(|m| m == "back"));
    assert!(
        got.messages.iter().all(|m| m == "back"),
        "only what was confirmed or may still be: {got:?}"
    );
}

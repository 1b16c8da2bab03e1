//! The cluster-chat example as separate server processes on one Redis of
//! the test's own: the page, the messages' shape, one order per room with
//! publishers on every server, and direct messages between servers.

#[path = "support/chat.rs"]
mod chat;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chat::{ChatClient, ChatServer, Line, Log, say_many};
use support::{Persistence, Redis};
use syncws_redis::GlobalId;

#[test]
fn the_page_and_a_room_are_served_and_messages_come_back_with_their_offset() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let server = ChatServer::start(&redis.url(), &[]);

    let mut http = TcpStream::connect(&server.addr).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        http,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.80}");
    assert!(page.contains("new WebSocket("), "the page opens a room");
    assert!(
        !page.contains("src=") && !page.contains("href="),
        "no external assets"
    );

    let alice = ChatClient::join(&server.url("lobby"));
    let bob = ChatClient::join(&server.url("lobby"));
    // The welcome's id is a global id, the same node's for both.
    let (a, b): (GlobalId, GlobalId) = (alice.id.parse().unwrap(), bob.id.parse().unwrap());
    assert_eq!(a.node(), b.node());
    assert_ne!(a, b);
    alice.say("hello \"bob\"\nline two").unwrap();
    for member in [&alice, &bob] {
        let log = member.wait(Duration::from_secs(10), |l| !l.lines.is_empty());
        assert_eq!(
            log.lines,
            [Line::Message {
                offset: 1,
                from: alice.id.clone(),
                text: "hello \"bob\"\nline two".into()
            }]
        );
    }
    bob.say(r#"{"to":"x:1","text":"psst"}"#).unwrap();
    let log = bob.wait(Duration::from_secs(10), |l| l.lines.len() == 2);
    assert_eq!(
        log.errors(),
        [
            r#"not sent: not a connection id: "x:1": no '-' between the node id and the connection id"#
        ]
    );
    bob.sender.send_binary(b"\x01").unwrap();
    let log = bob.wait(Duration::from_secs(10), |l| l.lines.len() == 3);
    assert_eq!(log.errors().last().unwrap(), "text messages only");
    // A room of another name is another room.
    let carol = ChatClient::join(&server.url("kitchen%20table"));
    carol.say("in the kitchen").unwrap();
    let log = carol.wait(Duration::from_secs(10), |l| !l.lines.is_empty());
    assert_eq!(log.messages(), [(1, "in the kitchen".to_owned())]);
    assert_eq!(alice.log().messages().len(), 1, "nothing of the other room");
}

#[test]
fn one_order_per_room_over_three_server_processes_with_publishers_on_each() {
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let servers: Vec<ChatServer> = (0..3)
        .map(|_| ChatServer::start(&redis.url(), &[]))
        .collect();
    // Two members on each server, the first of each a publisher too.
    let clients: Vec<ChatClient> = servers
        .iter()
        .flat_map(|s| {
            [
                ChatClient::join(&s.url("lobby")),
                ChatClient::join(&s.url("lobby")),
            ]
        })
        .collect();
    let publishers: Vec<&ChatClient> = clients.iter().step_by(2).collect();
    let count = 200;
    say_many(&publishers, "p", count);
    let total = count * publishers.len();
    let first = clients[0].wait(Duration::from_secs(60), |l| l.messages().len() >= total);
    let expected = first.messages();
    assert_eq!(expected.len(), total, "{:?}", first.errors());
    let offsets: Vec<u64> = expected.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (1..=total as u64).collect::<Vec<_>>());
    for n in 0..publishers.len() {
        // Each publisher's messages in the order it said them.
        let mine: Vec<&str> = expected
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| t.starts_with(&format!("p{n}-")))
            .collect();
        let said: Vec<String> = (0..count).map(|i| format!("p{n}-{i}")).collect();
        assert_eq!(mine, said, "publisher {n}");
    }
    for (i, client) in clients.iter().enumerate() {
        let log = client.wait(Duration::from_secs(60), |l| l.messages().len() >= total);
        assert_eq!(log.messages(), expected, "member {i}: the same sequence");
        assert!(log.errors().is_empty(), "member {i}: {:?}", log.errors());
        assert_eq!(log.close, None);
    }
}

/// Say `text` and wait (bounded) for the error it is answered with.
fn error_answering(client: &ChatClient, text: &str) -> String {
    let before = client.log().errors().len();
    client.say(text).unwrap();
    let log = client.wait(Duration::from_secs(20), |l| l.errors().len() > before);
    let errors = log.errors();
    assert!(errors.len() > before, "no error for {text}: {log:?}");
    errors[before].clone()
}

fn direct(to: &str, text: &str) -> String {
    format!(
        r#"{{"to":{},"text":{}}}"#,
        chat::json::string(to),
        chat::json::string(text)
    )
}

fn no_errors(log: &Log) -> bool {
    log.errors().is_empty()
}

#[test]
fn a_direct_message_reaches_a_connection_on_another_server_and_a_dead_id_is_answered_with_an_error()
{
    let Some(binary) = support::redis_binary() else {
        return;
    };
    let redis = Redis::start(binary, Persistence::None);
    let (a, b) = (
        ChatServer::start(&redis.url(), &[]),
        ChatServer::start(&redis.url(), &[]),
    );
    let mut doomed = ChatServer::start(&redis.url(), &[]);
    // Alice and Bob on different servers and in different rooms: a direct
    // message goes to the connection, whatever its room.
    let alice = ChatClient::join(&a.url("lobby"));
    let bob = ChatClient::join(&b.url("kitchen"));
    let bystander = ChatClient::join(&a.url("lobby"));
    let carol = ChatClient::join(&doomed.url("lobby"));

    alice
        .say(&direct(&bob.id, "psst \"bob\"\nline two"))
        .unwrap();
    let log = bob.wait(Duration::from_secs(20), |l| !l.directs().is_empty());
    assert_eq!(
        log.directs(),
        [(alice.id.clone(), "psst \"bob\"\nline two".to_owned())]
    );
    bob.say(&direct(&alice.id, "hi alice")).unwrap();
    let log = alice.wait(Duration::from_secs(20), |l| !l.directs().is_empty());
    assert_eq!(log.directs(), [(bob.id.clone(), "hi alice".to_owned())]);
    assert!(no_errors(&log), "{log:?}");
    // A direct message is nobody else's, and not the room's.
    for other in [&bystander, &carol] {
        assert!(other.log().lines.is_empty(), "{:?}", other.log());
    }
    assert!(log.messages().is_empty(), "{log:?}");

    // An id no server ever had, and one its live server does not have.
    let nobody = "0123456789abcdef-1";
    assert_eq!(
        error_answering(&alice, &direct(nobody, "?")),
        format!("not sent: connection {nobody}: no live node has it")
    );
    let bobs: GlobalId = bob.id.parse().unwrap();
    let closed = format!("{}-999999", bobs.node());
    assert_eq!(
        error_answering(&alice, &direct(&closed, "?")),
        format!("not sent: connection {closed}: its node has no such connection")
    );

    // Carol's server killed: at once its heartbeat is still there (it
    // does not answer), then, once the heartbeat expired, no live node has
    // her id. Either way an error, never a silent drop.
    doomed.kill();
    let to_carol = direct(&carol.id, "are you there?");
    let gone = format!("not sent: connection {}: no live node has it", carol.id);
    let no_answer = format!(
        "not sent: connection {}: its node did not answer in time",
        carol.id
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let error = error_answering(&alice, &to_carol);
        if error == gone {
            break;
        }
        assert_eq!(error, no_answer);
        assert!(
            Instant::now() < deadline,
            "the killed server's id is still live"
        );
    }
    // Bob, on a live server, is reached as before.
    alice.say(&direct(&bob.id, "still here")).unwrap();
    let log = bob.wait(Duration::from_secs(20), |l| l.directs().len() == 2);
    assert_eq!(
        log.directs()[1],
        (alice.id.clone(), "still here".to_owned())
    );
}

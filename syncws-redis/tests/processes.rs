//! The cluster-chat example as separate server processes on one Redis of
//! the test's own: the page, the messages' shape, and one order per room
//! with publishers on every server.

#[path = "support/chat.rs"]
mod chat;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chat::{ChatClient, ChatServer, Line, say_many};
use support::{Persistence, Redis};

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
    let (node, _) = alice.id.split_once(':').expect("node:connection");
    assert_eq!(node.len(), 16, "{}", alice.id);
    assert_ne!(alice.id, bob.id);
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
    assert_eq!(log.errors(), ["direct messages not available yet"]);
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

//! permessage-deflate in the opening handshake, as users of the server and
//! the client see it: what a client offers, what a server's and a route's
//! settings agree to, and a server answer the client must refuse (RFC 7692
//! §7.1, RFC 6455 §4.1).
#![cfg(feature = "deflate")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use syncws::protocol::handshake::{
    Headers, accept_response_with_extensions, check_upgrade, parse_request,
};
use syncws::server::Route;
use syncws::{ClientBuilder, DeflateConfig, Error, HandshakeError, Message, Server, WebSocket};

/// A server that answers one handshake with `answer` as its
/// `Sec-WebSocket-Extensions`, and reports the client's offer.
fn answering(answer: &'static str) -> (String, thread::JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let request = loop {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
            if let Some((request, _)) = parse_request(&buf, 16 << 10, 64).unwrap() {
                break request;
            }
        };
        let key = check_upgrade(&request).unwrap();
        let answer = accept_response_with_extensions(&key, None, Some(answer), &Headers::new());
        stream.write_all(&answer).unwrap();
        // Until the client goes.
        let _ = stream.read(&mut chunk);
        request
            .header("Sec-WebSocket-Extensions")
            .map(str::to_owned)
    });
    (url, server)
}

#[test]
fn the_client_offers_deflate_as_browsers_do_and_refuses_an_answer_it_cannot_accept() {
    let refused = [
        ("permessage-deflate; server_max_window_bits=16", "16"),
        (
            "permessage-deflate; client_max_window_bits",
            "client_max_window_bits",
        ),
        ("permessage-deflate; x-unknown", "x-unknown"),
        ("x-webkit-deflate-frame", "x-webkit-deflate-frame"),
        ("permessage-deflate, permessage-deflate", "2 extensions"),
    ];
    for (answer, reason) in refused {
        let (url, server) = answering(answer);
        match syncws::connect(&url) {
            Err(Error::Handshake(HandshakeError::Extension(why))) => {
                assert!(why.contains(reason), "{answer}: {why}")
            }
            other => panic!("{answer}: {other:?}"),
        }
        assert_eq!(
            server.join().unwrap().as_deref(),
            Some("permessage-deflate; client_max_window_bits"),
            "the default offer"
        );
    }
    // One it can accept: the server limits its own window.
    let (url, server) = answering("permessage-deflate; server_max_window_bits=10");
    let ws = syncws::connect(&url).unwrap();
    let agreed = ws.deflate().expect("agreed");
    assert_eq!(agreed.params.server_to_client.window_bits, 10);
    assert_eq!(agreed.params.client_to_server.window_bits, 15);
    drop(ws);
    server.join().unwrap();
}

fn echo(mut ws: WebSocket) {
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

#[test]
fn server_and_route_settings_decide_what_is_agreed_and_messages_flow_either_way() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .deflate(
            DeflateConfig::default()
                .client_max_window_bits(9)
                .server_no_context_takeover(true),
        )
        .websocket("/small", echo)
        .websocket(
            Route::exact("/off").deflate(DeflateConfig::default().enabled(false)),
            echo,
        )
        .serve()
        .unwrap();
    let addr = server.local_addr();
    let text = r#"{"type":"chat","text":"the same words, the same words again"}"#.repeat(20);

    let mut small = syncws::connect(&format!("ws://{addr}/small")).unwrap();
    let agreed = small.deflate().expect("agreed").params;
    assert_eq!(agreed.client_to_server.window_bits, 9);
    assert!(agreed.client_to_server.context_takeover);
    assert!(!agreed.server_to_client.context_takeover);
    assert_eq!(
        small.response().unwrap().header("Sec-WebSocket-Extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
    );

    let mut off = syncws::connect(&format!("ws://{addr}/off")).unwrap();
    assert!(off.deflate().is_none());
    assert_eq!(
        off.response().unwrap().header("Sec-WebSocket-Extensions"),
        None
    );

    let mut unoffered = ClientBuilder::new(format!("ws://{addr}/small"))
        .deflate(DeflateConfig::default().enabled(false))
        .connect()
        .unwrap();
    assert!(unoffered.deflate().is_none());

    for ws in [&mut small, &mut off, &mut unoffered] {
        for _ in 0..3 {
            ws.send_text(&text).unwrap();
            assert_eq!(ws.read_message().unwrap(), Message::Text(text.clone()));
            ws.send_text_frames([&text[..100], &text[100..]]).unwrap();
            assert_eq!(ws.read_message().unwrap(), Message::Text(text.clone()));
            ws.sender()
                .send_uncompressed(syncws::MessageRef::Text(&text))
                .unwrap();
            assert_eq!(ws.read_message().unwrap(), Message::Text(text.clone()));
        }
    }
    drop((small, off, unoffered));
    server.stop();
}

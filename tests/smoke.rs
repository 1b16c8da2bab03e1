use syncws::{CloseCode, Error, Message, Server};

#[test]
fn echo_round_trip() {
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|m| sender.send_message(&m));
        })
        .unwrap();
    let mut ws = syncws::connect(&format!("ws://{}/echo", server.local_addr())).unwrap();
    ws.send_text("hello").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("hello"));
    let big = vec![7u8; 3 << 20];
    ws.send_binary(&big).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Binary(big));
    ws.send_text_frames(["a", "b", "c"]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("abc"));
    ws.close(CloseCode::Normal, "bye").unwrap();
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
}

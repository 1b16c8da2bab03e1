//! After `stop`, a server leaves no thread and no file descriptor behind.
//!
//! This binary holds this one test only: it counts the threads and file
//! descriptors of the whole process (`/proc/self/task`, `/proc/self/fd`),
//! which other tests running at the same time would disturb.

mod lifecycle_proc;
mod server_raw;

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lifecycle_proc::{Snapshot, assert_back_to};
use server_raw::{TIMEOUT, get, read_to_end};
use syncws::{CloseCode, Error, Hub, Message, Server, WebSocket};

fn connect(addr: SocketAddr, path: &str) -> WebSocket {
    let mut ws = syncws::connect(&format!("ws://{addr}{path}")).unwrap();
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws
}

#[test]
fn stop_leaves_no_thread_and_no_file_descriptor_behind() {
    let before = Snapshot::now();

    {
        let hub = Hub::new();
        let (opened_tx, opened_rx) = mpsc::channel::<()>();
        let server = {
            let hub = hub.clone();
            let opened_echo = opened_tx.clone();
            let opened_detach = opened_tx;
            Server::bind("127.0.0.1:0")
                .unwrap()
                .stop_timeout(Duration::from_millis(500))
                .websocket("/echo", move |mut ws: WebSocket| {
                    // A hub member too: its writer thread must end as well.
                    let _membership = hub.join(ws.sender()).unwrap();
                    let _ = opened_echo.send(());
                    let _ = ws.set_read_timeout(Some(TIMEOUT));
                    let sender = ws.sender();
                    let _ = ws.run_with(|message| sender.send_message(message));
                })
                .websocket("/detach", move |ws: WebSocket| {
                    let _ = ws.detach();
                    let _ = opened_detach.send(());
                })
                .page("/", "text/plain", "hello")
                .serve()
                .unwrap()
        };
        let addr = server.local_addr();

        // A page, answered and closed.
        assert_eq!(get(addr, "/").body_text(), "hello");
        // Echoing connections that are hub members.
        let mut readers = Vec::new();
        for i in 0..3 {
            let mut ws = connect(addr, "/echo");
            ws.send_text(&format!("hello {i}")).unwrap();
            assert_eq!(
                ws.read_message().unwrap(),
                Message::from(format!("hello {i}"))
            );
            readers.push(thread::spawn(move || read_to_end(&mut ws)));
        }
        // A detached connection.
        let mut detached = connect(addr, "/detach");
        readers.push(thread::spawn(move || read_to_end(&mut detached)));
        for _ in 0..4 {
            opened_rx.recv_timeout(TIMEOUT).unwrap();
        }
        assert_eq!(hub.len(), 3);
        assert_eq!(hub.broadcast(&Message::from("to all")), 3);
        // A connection still in its opening handshake: it never sends.
        let silent = TcpStream::connect(addr).unwrap();
        // A connection that closed by itself before the stop.
        let mut closed = connect(addr, "/echo");
        closed.close(CloseCode::Normal, "early").unwrap();
        drop(closed);

        server.stop();
        drop(server);

        for reader in readers {
            match reader.join().unwrap() {
                Error::Closed(frame) => assert_eq!(frame.code, CloseCode::GoingAway),
                other => panic!("expected 1001, got {other:?}"),
            }
        }
        drop(silent);
        drop(hub);
    }

    assert_back_to(&before, TIMEOUT);
}

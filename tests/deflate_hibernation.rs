//! An idle compressed connection hibernates and wakes up again without
//! losing a message or its compression. What shows it from outside: the
//! thread that hibernates idle compressors (`syncws-deflate-idle`) runs
//! while a compressor holds a zlib context, and ends once every one has
//! hibernated, while the connections stay open; the next messages then
//! rebuild the contexts from the kept windows and come back whole. (That
//! they come back as small as before is `Codec`'s unit tests; memory per
//! connection is measured by the benchmark suite.)
#![cfg(all(feature = "deflate", target_os = "linux"))]

use std::time::{Duration, Instant};

use syncws::{ClientBuilder, DeflateConfig, Message, Server};

const TIMEOUT: Duration = Duration::from_secs(20);

fn deflate_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "syncws-deflate-")
        .count()
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < TIMEOUT, "{what}: not within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
fn an_idle_connection_hibernates_and_wakes_with_its_messages() {
    let idle = Duration::from_millis(200);
    let config = DeflateConfig::default().hibernate_after(idle);
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .deflate(config.clone())
        .websocket("/echo", |mut ws| {
            let sender = ws.sender();
            let _ = ws.run_with(|message| sender.send_message(message));
        })
        .serve()
        .unwrap();
    let mut ws = ClientBuilder::new(format!("ws://{}/echo", server.local_addr()))
        .deflate(config)
        .connect()
        .unwrap();
    assert!(ws.deflate().is_some());
    let chat = r#"{"type":"chat","room":"general","text":"the same words again and again"}"#;
    for round in 0..3 {
        for _ in 0..5 {
            ws.send_text(chat).unwrap();
            assert_eq!(
                ws.read_message().unwrap(),
                Message::Text(chat.into()),
                "round {round}"
            );
        }
        // Both ends compress: the thread watches them.
        // (A new thread names itself once it runs; one that ended after
        // the last round may still be exiting.)
        wait_for("a compressor watched", || deflate_threads() >= 1);
        let took = wait_for("the compressors hibernating", || deflate_threads() == 0);
        println!("round {round}: hibernated {took:?} after the last message (idle time {idle:?})");
        assert!(ws.sender().is_open(), "the connection stays open");
    }
    ws.close(syncws::CloseCode::Normal, "").unwrap();
    server.stop();
}

//! A status service and its page (Zinc's `ZnWebSocketStatusHandler`): the
//! server pushes a report every second to each page, without being asked.
//!
//! `cargo run --release --example status`, then open <http://127.0.0.1:1701/>.
//! An address as argument listens there instead (port 0: any free port).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use syncws::{Error, Server, Timeout};

static OPEN: AtomicUsize = AtomicUsize::new(0);

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let started = Instant::now();
    let server = Server::bind(addr.as_deref().unwrap_or("127.0.0.1:1701"))?
        .page(
            "/",
            "text/html; charset=utf-8",
            include_str!("pages/status.html"),
        )
        .websocket("/ws-status", move |mut ws| {
            OPEN.fetch_add(1, Ordering::Relaxed);
            // Wait at most a second for a message: when none came, push a
            // report. Reading also answers pings and notices the close.
            let _ = ws.set_read_timeout(Some(Duration::from_secs(1)));
            let mut result = ws.send_text(&report(started));
            while result.is_ok() {
                result = match ws.read_message() {
                    Err(Error::Timeout(Timeout::Read)) => ws.send_text(&report(started)),
                    Ok(_) => Ok(()),  // the page has nothing to say
                    Err(e) => Err(e), // closed or failed
                };
            }
            OPEN.fetch_sub(1, Ordering::Relaxed);
        })
        .serve()?;
    println!("status page on http://{}/", server.local_addr());
    server.join();
    Ok(())
}

/// A JSON object: time (ms since the epoch), uptime (s), open connections
/// by route, threads of this process (Linux).
fn report(started: Instant) -> String {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let threads =
        std::fs::read_dir("/proc/self/task").map_or("null".into(), |d| d.count().to_string());
    format!(
        r#"{{"time":{},"uptime":{},"connections":{{"/ws-status":{}}},"threads":{threads}}}"#,
        time.as_millis(),
        started.elapsed().as_secs(),
        OPEN.load(Ordering::Relaxed),
    )
}

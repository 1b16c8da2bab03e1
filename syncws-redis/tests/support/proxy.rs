//! A TCP proxy between a node and Redis that the test can pause: the
//! node's commands and Redis's answers are held, as when that node's
//! process is frozen or its network stalls, and resume when it thaws.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// How often a pump looks up from a read (to see `stop`).
const POLL: Duration = Duration::from_millis(20);

pub struct Proxy {
    pub port: u16,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Forward 127.0.0.1:`port` (a free one) to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (pausing, stopping) = (Arc::clone(&paused), Arc::clone(&stop));
        thread::spawn(move || {
            while !stopping.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        client.set_nonblocking(false).unwrap();
                        for (from, to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            let (paused, stop) = (Arc::clone(&pausing), Arc::clone(&stopping));
                            thread::spawn(move || pump(from, to, &paused, &stop));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                    Err(_) => return,
                }
            }
        });
        Proxy { port, paused, stop }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Hold everything from now on, both ways.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Let it through again, what was held first.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Copy `from` to `to` until either ends or the proxy stops; while paused,
/// what was read waits here.
fn pump(mut from: TcpStream, mut to: TcpStream, paused: &AtomicBool, stop: &AtomicBool) {
    from.set_read_timeout(Some(POLL)).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    while !stop.load(Ordering::Acquire) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        while paused.load(Ordering::Acquire) && !stop.load(Ordering::Acquire) {
            thread::sleep(POLL);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

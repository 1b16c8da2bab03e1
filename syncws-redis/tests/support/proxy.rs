//! A TCP proxy between a node and Redis, on 127.0.0.1:0, that a test uses
//! to stand for two faults:
//! - `pause`/`resume`: the node's commands and Redis's answers are held,
//!   as when that node's process is frozen or its network stalls, and go
//!   through, what was held first, when it thaws;
//! - `cut`/`restore`: every connection is shut down and each new one
//!   closed at once (the port stays ours), then forwarded again.

#![allow(dead_code)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often a paused pump looks whether it may go on.
const POLL: Duration = Duration::from_millis(20);

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    paused: AtomicBool,
    /// Whether the network is cut, and both ends of every connection
    /// forwarded; one lock, so that no connection is set up across a cut.
    state: Mutex<(bool, Vec<TcpStream>)>,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    accepting: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Forward 127.0.0.1:`port` (a free one) to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            state: Mutex::new((false, Vec::new())),
        });
        let for_thread = Arc::clone(&shared);
        let accepting = thread::Builder::new()
            .name("test-proxy".into())
            .spawn(move || accept(&listener, &for_thread))
            .unwrap();
        Proxy {
            port,
            shared,
            accepting: Some(accepting),
        }
    }

    /// Forward to a port of 127.0.0.1.
    pub fn to_port(port: u16) -> Proxy {
        Proxy::start(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The Redis URL through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Hold everything from now on, both ways.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Let it through again, what was held first.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Release);
    }

    /// Cut every connection, and refuse new ones (accepted and closed).
    pub fn cut(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.0 = true;
        for stream in state.1.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forward new connections again.
    pub fn restore(&self) {
        self.shared.state.lock().unwrap().0 = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the accepting thread with a connection of our own.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        self.cut();
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(client) = client else { continue };
        if let Err(e) = forward(client, shared) {
            eprintln!("test proxy: {e}");
        }
    }
}

fn forward(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let mut state = shared.state.lock().unwrap();
    if state.0 {
        // Cut: the connection is closed as soon as it is accepted.
        return client.shutdown(Shutdown::Both);
    }
    let server = TcpStream::connect(shared.target)?;
    state.1.push(client.try_clone()?);
    state.1.push(server.try_clone()?);
    drop(state);
    pump(client.try_clone()?, server.try_clone()?, Arc::clone(shared));
    pump(server, client, Arc::clone(shared));
    Ok(())
}

/// Copy `from` to `to` until either ends (a cut or the proxy's drop shuts
/// them down), then shut both down; while paused, what was read waits here.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: Arc<Shared>) {
    let _ = thread::Builder::new()
        .name("test-proxy-pump".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                while shared.paused.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire)
                {
                    thread::sleep(POLL);
                }
                if shared.stop.load(Ordering::Acquire) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
}

//! A TCP forwarder between a server and Redis, to cut the network in a
//! test: on 127.0.0.1:0, a thread per direction of each connection; `cut`
//! shuts down every connection and closes each new one at once (the port
//! stays ours), `restore` forwards again.

#![allow(dead_code)]

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
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
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
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

    /// The Redis URL through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
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

fn accept(listener: &TcpListener, shared: &Shared) {
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

fn forward(client: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut state = shared.state.lock().unwrap();
    if state.0 {
        // Cut: the connection is closed as soon as it is accepted.
        return client.shutdown(Shutdown::Both);
    }
    let server = TcpStream::connect(shared.target)?;
    state.1.push(client.try_clone()?);
    state.1.push(server.try_clone()?);
    drop(state);
    pump(client.try_clone()?, server.try_clone()?);
    pump(server, client);
    Ok(())
}

/// Copy `from` to `to` until either ends, then shut both down.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = thread::Builder::new()
        .name("test-proxy-pump".into())
        .spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
}

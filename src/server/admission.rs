//! Who gets in: every accepted socket counts against the server's limits
//! from the moment it is accepted, handshakes included, and one that does
//! not fit is refused at once on the accepting thread, costing no thread.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown};
use std::sync::Arc;

use crate::protocol::handshake::Response;
use crate::server::registry::Registry;
use crate::throttle::Throttled;
use crate::transport::Socket;

/// Default limit on connections still in their opening handshake (TLS
/// and HTTP): 1024. A peer that opens sockets and trickles their requests
/// holds at most this many threads, each for at most the handshake
/// timeout, and connections already open are not refused for it.
pub const DEFAULT_MAX_HANDSHAKES: usize = 1024;

/// The limits on the connections a server holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Every connection, from its acceptance to its end.
    pub connections: Option<usize>,
    /// Connections still in their handshake.
    pub handshakes: usize,
    /// Connections from one IP address (Unix peers have none: they count
    /// only against the other limits).
    pub per_peer: Option<usize>,
}

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections` are open.
    Full,
    /// `max_handshakes` are in their handshake.
    Handshakes,
    /// `max_connections_per_peer` are open from its address.
    Peer,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Full => "too many connections",
            Refusal::Handshakes => "too many connections opening at once",
            Refusal::Peer => "too many connections from your address",
        }
    }
}

/// A connection admitted: it counts against the limits until dropped.
pub(crate) struct Admission {
    registry: Arc<Registry>,
    n: u64,
    /// `None` for a peer without an IP address, not counted per peer.
    peer: Option<IpAddr>,
    handshaking: bool,
}

impl Admission {
    pub(crate) fn new(registry: Arc<Registry>, n: u64, peer: Option<IpAddr>) -> Admission {
        Admission {
            registry,
            n,
            peer,
            handshaking: true,
        }
    }

    /// The handshake is over (the upgrade was accepted): the connection
    /// counts as open, no longer as opening.
    pub(crate) fn handshake_over(&mut self) {
        if std::mem::take(&mut self.handshaking) {
            self.registry.handshake_over(self.n);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.registry.left(self.n, self.peer, self.handshaking);
    }
}

/// Refuse a connection at once, on the accepting thread: read what has
/// arrived already (closing a socket with unread input would make the
/// kernel reset the connection and destroy the answer), answer `503`
/// (or, over TLS, which cannot be spoken before its handshake, nothing),
/// and close. Nothing here waits: the socket is non-blocking.
pub(crate) fn refuse(stream: &Socket, tls: bool, refusal: Refusal) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = (&*stream).read(&mut sink);
    if !tls {
        let answer = Response::text(503, refusal.reason())
            .with_header("Retry-After", "1")
            .to_bytes();
        let _ = (&*stream).write(&answer);
    }
    let _ = stream.shutdown(Shutdown::Write);
    REFUSALS.note(|left_out| {
        log::warn!(
            "refused a connection at once: {} ({left_out} more refused in the last second)",
            refusal.reason()
        );
    });
}

/// Refusals are logged once a second at most.
static REFUSALS: Throttled = Throttled::new();

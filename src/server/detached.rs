//! The server's side of an accepted connection ([`Home`]): its id, the
//! data the before-upgrade hook attached, and where a detached connection
//! waits to be pumped into the queue that `ServerHandle::attach` reads.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::error::{Error, Timeout};
use crate::protocol::message::Message;
use crate::server::Shared;
use crate::sync::lock;
use crate::websocket::{ConnectionId, Home, WebSocket};

/// How often a detached connection blocked on its full queue checks
/// whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A detached connection, and the queue its messages go to.
type Detached = (WebSocket, Sender<Result<Message, Error>>);

/// What a connection accepted by this server knows of it.
pub(crate) struct ServerHome {
    id: ConnectionId,
    data: Option<Arc<dyn Any + Send + Sync>>,
    shared: Arc<Shared>,
    /// Where [`WebSocket::detach`] leaves the connection.
    detached: Mutex<Option<Detached>>,
    /// The handler let go of the connection while it was open.
    dropped_while_open: AtomicBool,
}

impl ServerHome {
    pub(crate) fn new(
        id: ConnectionId,
        data: Option<Arc<dyn Any + Send + Sync>>,
        shared: &Arc<Shared>,
    ) -> ServerHome {
        ServerHome {
            id,
            data,
            shared: Arc::clone(shared),
            detached: Mutex::new(None),
            dropped_while_open: AtomicBool::new(false),
        }
    }

    /// The connection, if its handler detached it, and its queue.
    pub(crate) fn take_detached(&self) -> Option<Detached> {
        lock(&self.detached).take()
    }

    /// Whether the handler dropped the connection while it was open.
    pub(crate) fn was_dropped_while_open(&self) -> bool {
        self.dropped_while_open.load(Ordering::Acquire)
    }
}

impl Home for ServerHome {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn data(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.data.as_deref()
    }

    /// The queue is made and registered here, so that `attach` works as
    /// soon as `detach` has returned.
    fn detach(&self, ws: WebSocket) {
        let (queue, inbox) = crossbeam_channel::bounded(self.shared.settings.detached_queue);
        self.shared.registry.set_inbox(self.id, inbox);
        *lock(&self.detached) = Some((ws, queue));
    }

    fn dropped_while_open(&self) {
        self.dropped_while_open.store(true, Ordering::Release);
    }
}

/// Keep reading a detached connection into a bounded queue for whoever
/// attaches to it, until it ends. When the queue is full, reading pauses;
/// once the server is stopping, messages are dropped so that the close
/// handshake can finish.
pub(crate) fn pump(shared: &Shared, mut ws: WebSocket, queue: &Sender<Result<Message, Error>>) {
    loop {
        match ws.read_message() {
            Ok(message) => {
                if !deliver(shared, queue, Ok(message)) {
                    return;
                }
            }
            Err(Error::Timeout(Timeout::Read)) => {}
            Err(end) => {
                deliver(shared, queue, Err(end));
                return;
            }
        }
    }
}

/// Queue `item`, waiting while the queue is full unless the server stops.
/// False if nobody will ever read it.
fn deliver(
    shared: &Shared,
    queue: &Sender<Result<Message, Error>>,
    mut item: Result<Message, Error>,
) -> bool {
    loop {
        if shared.stopping.load(Ordering::Acquire) {
            return true;
        }
        match queue.send_timeout(item, STOP_CHECK) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(back)) => item = back,
            Err(SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

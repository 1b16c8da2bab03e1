//! The three forms of WebSocket handler: a closure, an object with one
//! method (both through [`Handler`]), and an event-style object
//! ([`EventHandler`], driven by the library).

use crate::error::Error;
use crate::protocol::message::{CloseFrame, Message};
use crate::websocket::WebSocket;

/// Serves one WebSocket connection on the connection's own thread; the
/// connection ends when `handle` returns (Zinc's handler object with
/// `value:`). Closures `Fn(WebSocket)` are handlers too.
///
/// A type implementing it can hold state shared by all its connections,
/// such as a chatroom's members:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use syncws::{WebSocket, server::Handler};
///
/// struct Counter(AtomicUsize);
///
/// impl Handler for Counter {
///     fn handle(&self, ws: WebSocket) {
///         let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
///         let _ = ws.send_text(&format!("you are visitor {n}"));
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Serve the connection; it is closed (1000) when this returns, unless
    /// it was [detached](crate::WebSocket::detach).
    fn handle(&self, ws: WebSocket);
}

impl<F> Handler for F
where
    F: Fn(WebSocket) + Send + Sync + 'static,
{
    fn handle(&self, ws: WebSocket) {
        self(ws)
    }
}

/// A handler in the style of Tornado's `WebSocketHandler` and the browser
/// API: the library reads and calls these methods on the connection's
/// thread. One value serves one connection (see [`events`]). Only
/// [`on_message`](Self::on_message) is required.
///
/// ```
/// use syncws::{Message, WebSocket, server::{EventHandler, events}};
///
/// #[derive(Default)]
/// struct Echo { count: usize }
///
/// impl EventHandler for Echo {
///     fn on_message(&mut self, ws: &WebSocket, message: Message) {
///         self.count += 1;
///         let _ = ws.send_message(&message);
///     }
/// }
///
/// let handler = events(Echo::default);
/// # let _ = handler;
/// ```
pub trait EventHandler: Send + 'static {
    /// The connection is open.
    fn on_open(&mut self, ws: &WebSocket) {
        let _ = ws;
    }

    /// A whole message arrived.
    fn on_message(&mut self, ws: &WebSocket, message: Message);

    /// The connection failed; [`on_close`](Self::on_close) follows.
    fn on_error(&mut self, ws: &WebSocket, error: &Error) {
        let _ = (ws, error);
    }

    /// The connection is closed: `frame` is the peer's close frame when the
    /// close handshake completed, `None` when the connection failed.
    fn on_close(&mut self, ws: &WebSocket, frame: Option<&CloseFrame>) {
        let _ = (ws, frame);
    }
}

/// A [`Handler`] that drives a new [`EventHandler`] made by `factory` for
/// each connection.
pub fn events<F, E>(factory: F) -> Events<F>
where
    F: Fn() -> E + Send + Sync + 'static,
    E: EventHandler,
{
    Events { factory }
}

/// The handler returned by [`events`].
#[derive(Debug, Clone)]
pub struct Events<F> {
    factory: F,
}

impl<F, E> Handler for Events<F>
where
    F: Fn() -> E + Send + Sync + 'static,
    E: EventHandler,
{
    fn handle(&self, mut ws: WebSocket) {
        let mut events = (self.factory)();
        events.on_open(&ws);
        loop {
            match ws.read_message() {
                Ok(message) => events.on_message(&ws, message),
                Err(Error::Timeout(crate::Timeout::Read)) => {}
                Err(Error::Closed(frame)) => {
                    events.on_close(&ws, Some(&frame));
                    return;
                }
                Err(error) => {
                    events.on_error(&ws, &error);
                    events.on_close(&ws, None);
                    return;
                }
            }
        }
    }
}

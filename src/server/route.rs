//! Routes: which path is served by which WebSocket handler or HTTP page,
//! and the upgrade policy of each WebSocket route.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::protocol::config::KeepAlive;
use crate::protocol::extension::permessage_deflate::{self, DeflateConfig, Negotiated};
use crate::protocol::extension::{self};
use crate::protocol::handshake::{Headers, Request, Response};
use crate::server::ConnectionEnd;
use crate::server::handler::Handler;

/// Which request paths a route serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    /// Exactly this path.
    Exact(String),
    /// Every path that starts with this prefix.
    Prefix(String),
}

impl PathMatch {
    /// How well `path` matches: `None` if not at all; exact matches beat
    /// prefixes, longer prefixes beat shorter ones.
    fn score(&self, path: &str) -> Option<usize> {
        match self {
            PathMatch::Exact(p) => (p == path).then_some(usize::MAX),
            PathMatch::Prefix(p) => path.starts_with(p.as_str()).then_some(p.len()),
        }
    }
}

/// Decides on an upgrade before it happens: sees the request, may refuse
/// it, add response headers or attach data for the handler.
pub type BeforeUpgrade = dyn Fn(&Request, &mut Upgrade) -> Result<(), Response> + Send + Sync;
/// Runs once a connection has ended, however it ended.
pub type AfterClose = dyn Fn(&ConnectionEnd) + Send + Sync;
/// Answers a plain HTTP request.
pub type HttpHandler = dyn Fn(&Request) -> Response + Send + Sync;

/// A path, with the upgrade policy of the WebSocket route on it.
///
/// ```
/// use syncws::server::Route;
///
/// let route = Route::exact("/chat")
///     .origins(["https://example.com"])
///     .protocols(["chat.v2", "chat.v1"])
///     .require_protocol();
/// # let _ = route;
/// ```
#[derive(Clone)]
pub struct Route {
    path: PathMatch,
    allowed_origins: Option<Vec<String>>,
    allow_missing_origin: bool,
    protocols: Vec<String>,
    protocol_required: bool,
    before_upgrade: Option<Arc<BeforeUpgrade>>,
    after_close: Option<Arc<AfterClose>>,
    keep_alive: Option<Option<KeepAlive>>,
    deflate: Option<DeflateConfig>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("allowed_origins", &self.allowed_origins)
            .field("protocols", &self.protocols)
            .field("protocol_required", &self.protocol_required)
            .finish_non_exhaustive()
    }
}

impl From<&str> for Route {
    /// An exact path.
    fn from(path: &str) -> Route {
        Route::exact(path)
    }
}

impl Route {
    fn new(path: PathMatch) -> Route {
        Route {
            path,
            allowed_origins: None,
            allow_missing_origin: true,
            protocols: Vec::new(),
            protocol_required: false,
            before_upgrade: None,
            after_close: None,
            keep_alive: None,
            deflate: None,
        }
    }

    /// Exactly this path (the query is not part of it).
    pub fn exact(path: impl Into<String>) -> Route {
        Route::new(PathMatch::Exact(path.into()))
    }

    /// Every path starting with `prefix`. The longest matching prefix wins;
    /// an exact route beats any prefix.
    pub fn prefix(prefix: impl Into<String>) -> Route {
        Route::new(PathMatch::Prefix(prefix.into()))
    }

    /// Every path.
    pub fn any() -> Route {
        Route::prefix("")
    }

    /// Accept browser upgrades only from these origins (scheme, host and
    /// port, as the `Origin` header has them, e.g. `https://example.com`);
    /// others get 403. This is what protects against cross-site WebSocket
    /// hijacking. Requests without `Origin` (not from a browser) are still
    /// accepted unless [`require_origin`](Self::require_origin) is set.
    pub fn origins<I, S>(mut self, origins: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Refuse (403) requests that carry no `Origin` header.
    pub fn require_origin(mut self) -> Route {
        self.allow_missing_origin = false;
        self
    }

    /// The subprotocols this route speaks, in order of preference. The
    /// server picks the first of the client's offers it speaks.
    pub fn protocols<I, S>(mut self, protocols: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Refuse (400) clients that offer none of [`protocols`](Self::protocols).
    pub fn require_protocol(mut self) -> Route {
        self.protocol_required = true;
        self
    }

    /// A hook run before the upgrade (IRIS's `OnPreServer`): it sees the
    /// request (path, query, headers, peer, cookies) and may refuse it with
    /// any response, add headers to the `101` answer, or attach data that
    /// the handler reads with [`WebSocket::data`](crate::WebSocket::data).
    ///
    /// ```
    /// use syncws::server::Route;
    /// use syncws::server::Response;
    ///
    /// struct User(String);
    ///
    /// let route = Route::exact("/private").before_upgrade(|request, upgrade| {
    ///     match request.cookie("session") {
    ///         Some(token) => {
    ///             upgrade.attach(User(token.to_owned()));
    ///             Ok(())
    ///         }
    ///         None => Err(Response::new(401).with_body("text/plain", "log in first")),
    ///     }
    /// });
    /// # let _ = route;
    /// ```
    pub fn before_upgrade<F>(mut self, hook: F) -> Route
    where
        F: Fn(&Request, &mut Upgrade) -> Result<(), Response> + Send + Sync + 'static,
    {
        self.before_upgrade = Some(Arc::new(hook));
        self
    }

    /// A hook run after a connection of this route ended (IRIS's
    /// `OnPostServer`), whatever way it ended.
    pub fn after_close<F>(mut self, hook: F) -> Route
    where
        F: Fn(&ConnectionEnd) + Send + Sync + 'static,
    {
        self.after_close = Some(Arc::new(hook));
        self
    }

    /// Keep-alive for this route, overriding the server's: `None` turns it
    /// off.
    pub fn keep_alive(mut self, keep_alive: Option<KeepAlive>) -> Route {
        self.keep_alive = Some(keep_alive);
        self
    }

    pub(crate) fn score(&self, path: &str) -> Option<usize> {
        self.path.score(path)
    }

    /// The path as written.
    #[cfg(test)]
    pub(crate) fn pattern(&self) -> &str {
        match &self.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
        }
    }

    /// Check the origin policy: `Err` with the 403 to send.
    pub(crate) fn check_origin(&self, request: &Request) -> Result<(), Response> {
        let forbidden = |why: &str| Err(Response::text(403, why));
        match (request.origin(), &self.allowed_origins) {
            (None, _) if !self.allow_missing_origin => forbidden("an Origin header is required"),
            (None, _) | (_, None) => Ok(()),
            (Some(origin), Some(allowed)) => {
                if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                    Ok(())
                } else {
                    forbidden("origin not allowed")
                }
            }
        }
    }

    /// Pick the subprotocol: the first of the client's offers this route
    /// speaks. `Err` with the 400 to send when one is required and none fits.
    pub(crate) fn choose_protocol(&self, request: &Request) -> Result<Option<String>, Response> {
        let chosen = request
            .protocols()
            .into_iter()
            .find(|offer| self.protocols.iter().any(|p| p == offer));
        if chosen.is_none() && self.protocol_required {
            let body = format!(
                "a subprotocol is required: one of {}",
                self.protocols.join(", ")
            );
            return Err(Response::text(400, body)
                .with_header("Sec-WebSocket-Protocol", self.protocols.join(", ")));
        }
        Ok(chosen)
    }

    pub(crate) fn run_before_upgrade(
        &self,
        request: &Request,
        upgrade: &mut Upgrade,
    ) -> Result<(), Response> {
        match &self.before_upgrade {
            Some(hook) => hook(request, upgrade),
            None => Ok(()),
        }
    }

    pub(crate) fn after_close_hook(&self) -> Option<Arc<AfterClose>> {
        self.after_close.clone()
    }

    /// permessage-deflate on this route (default: the server's, see
    /// [`Server::deflate`](crate::Server::deflate)): off, or other
    /// settings, e.g. for a route whose messages are compressed already.
    ///
    /// ```no_run
    /// use syncws::server::Route;
    /// use syncws::{DeflateConfig, Server};
    ///
    /// let server = Server::bind("127.0.0.1:0")?
    ///     // JPEG frames: compressed already.
    ///     .websocket(
    ///         Route::exact("/video").deflate(DeflateConfig::default().enabled(false)),
    ///         |_ws| {},
    ///     )
    ///     .serve()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deflate(mut self, config: DeflateConfig) -> Route {
        self.deflate = Some(config);
        self
    }

    /// Answer the client's permessage-deflate offers (RFC 7692 §5) with
    /// this route's settings, or `server`'s: the `Sec-WebSocket-Extensions`
    /// answer and the agreement (boxed: this runs at a connection's
    /// deepest stack point, see `send_upgrade`), or `None` to go without (nothing offered, nothing acceptable, or a header that
    /// is not the grammar's, which is declined rather than refused, as a
    /// client that cannot be understood can still be served).
    #[inline(never)]
    pub(crate) fn negotiate_deflate(
        &self,
        request: &Request,
        server: &DeflateConfig,
    ) -> Option<Box<(String, Negotiated)>> {
        if !cfg!(feature = "deflate") {
            return None;
        }
        let config = self.deflate.as_ref().unwrap_or(server);
        if !config.get_enabled() {
            return None;
        }
        let values = request.headers().get_all("Sec-WebSocket-Extensions");
        let offers = match extension::parse(values) {
            Ok(offers) => offers,
            Err(e) => {
                log::debug!("{}: extensions declined: {e}", request.path());
                return None;
            }
        };
        let agreed = permessage_deflate::negotiate(config, &offers)?;
        Some(Box::new((
            agreed.response.to_string(),
            Negotiated::new(agreed.params, config.clone()),
        )))
    }

    pub(crate) fn keep_alive_override(&self) -> Option<Option<KeepAlive>> {
        self.keep_alive
    }
}

/// What the before-upgrade hook may add to an accepted upgrade.
#[derive(Default)]
pub struct Upgrade {
    pub(crate) headers: Headers,
    pub(crate) data: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("headers", &self.headers)
            .field("data", &self.data.is_some())
            .finish()
    }
}

impl Upgrade {
    /// Add a header to the `101 Switching Protocols` answer (a
    /// `Set-Cookie`, say).
    pub fn header(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.headers.push(name.as_ref(), value.as_ref());
    }

    /// Attach data to the connection; the handler gets it back with
    /// [`WebSocket::data`](crate::WebSocket::data).
    pub fn attach<T: Any + Send + Sync>(&mut self, data: T) {
        self.data = Some(Arc::new(data));
    }
}

/// A WebSocket route: path and policy, and its handler.
#[derive(Clone)]
pub(crate) struct WsRoute {
    pub route: Route,
    pub handler: Arc<dyn Handler>,
}

/// A plain HTTP route.
#[derive(Clone)]
pub(crate) struct HttpRoute {
    pub route: Route,
    pub handler: Arc<HttpHandler>,
}

/// The best match for `path` among `routes`.
pub(crate) fn best_match<'a, T>(
    routes: &'a [T],
    path: &str,
    route_of: impl Fn(&T) -> &Route,
) -> Option<&'a T> {
    best_match_index(routes, path, route_of).map(|i| &routes[i])
}

/// The index of [`best_match`]'s route.
pub(crate) fn best_match_index<T>(
    routes: &[T],
    path: &str,
    route_of: impl Fn(&T) -> &Route,
) -> Option<usize> {
    routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| route_of(r).score(path).map(|score| (score, i)))
        .max_by_key(|(score, _)| *score)
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_prefix_and_longer_prefix_beats_shorter() {
        let routes = [
            Route::any(),
            Route::prefix("/a/"),
            Route::prefix("/a/b/"),
            Route::exact("/a/b/c"),
        ];
        let pick = |path| best_match(&routes, path, |r| r).map(|r| r.pattern().to_owned());
        assert_eq!(pick("/a/b/c").as_deref(), Some("/a/b/c"));
        assert_eq!(pick("/a/b/cd").as_deref(), Some("/a/b/"));
        assert_eq!(pick("/a/x").as_deref(), Some("/a/"));
        assert_eq!(pick("/zzz").as_deref(), Some(""));
        assert_eq!(
            best_match(&routes[3..], "/other", |r| r).map(|r| r.pattern()),
            None
        );
    }

    #[test]
    fn policy_refusals_are_plain_text_saying_why() {
        let bytes = b"GET /chat HTTP/1.1\r\nOrigin: https://evil.example\r\n\
                      Sec-WebSocket-Protocol: v0\r\n\r\n";
        let (request, _) = crate::protocol::handshake::parse_request(bytes, 4096, 16)
            .unwrap()
            .unwrap();
        let route = Route::exact("/chat")
            .origins(["https://example.com"])
            .protocols(["v2", "v1"])
            .require_protocol();

        let refusal = route.check_origin(&request).unwrap_err();
        assert_eq!(refusal.status, 403);
        assert_eq!(
            refusal.header("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(refusal.body, b"origin not allowed");

        let refusal = route.choose_protocol(&request).unwrap_err();
        assert_eq!(refusal.status, 400);
        assert_eq!(
            refusal.header("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(refusal.header("Sec-WebSocket-Protocol"), Some("v2, v1"));
        assert_eq!(refusal.body, b"a subprotocol is required: one of v2, v1");
    }
}

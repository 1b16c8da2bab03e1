//! A plain HTTP response: a refusal of the handshake, or a page.

use super::headers::{Headers, write_header};

/// The `Content-Type` of [`Response::text`].
pub(super) const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// A plain HTTP response: a refusal of the handshake, or a plain page.
///
/// Its fields are public to read and change; a new one starts from
/// [`Response::new`] or [`Response::text`].
///
/// ```
/// use syncws::protocol::handshake::Response;
///
/// let response = Response::new(404).with_body("text/plain", "no such room");
/// assert_eq!(
///     response.to_bytes(),
///     b"HTTP/1.1 404 Not Found\r\n\
///       Content-Type: text/plain\r\n\
///       Content-Length: 12\r\n\
///       Connection: close\r\n\
///       \r\n\
///       no such room"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code, e.g. 404.
    pub status: u16,
    /// The headers, in order. `Content-Length`, `Transfer-Encoding` and
    /// (except for 101) `Connection` are written by [`Response::to_bytes`]
    /// and left out from here.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response with a short plain-text body (`text/plain;
    /// charset=utf-8`): how the server says why it refuses a request.
    ///
    /// ```
    /// use syncws::protocol::handshake::Response;
    ///
    /// let refusal = Response::text(403, "origin not allowed");
    /// assert_eq!(refusal.header("Content-Type"), Some("text/plain; charset=utf-8"));
    /// assert_eq!(refusal.body, b"origin not allowed");
    /// ```
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status).with_body(PLAIN_TEXT, body.into())
    }

    /// Adds a header (after those already there).
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name.as_ref(), value.as_ref());
        self
    }

    /// Sets the body and its `Content-Type` (replacing any earlier one).
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .retain(|name, _| !name.eq_ignore_ascii_case("Content-Type"));
        self.headers.push("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The bytes to send: the status line with its reason phrase, the
    /// headers, a `Content-Length` computed from the body, `Connection:
    /// close` unless the status is 101, a blank line and the body.
    ///
    /// A 1xx, 204 or 304 response has no body (RFC 9110 §6.4.1), so for
    /// those neither `Content-Length` nor the body is written. Headers whose
    /// name is not an HTTP token are left out, and control characters in
    /// values are sent as spaces, so that no value can inject a header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let has_body = !matches!(self.status, 100..=199 | 204 | 304);
        let is_upgrade = self.status == 101;
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status,
                reason_phrase(self.status)
            )
            .as_bytes(),
        );
        for (name, value) in self.headers.iter() {
            // The framing is ours to write: a caller's Content-Length or
            // Transfer-Encoding could contradict the body actually sent, and
            // the connection is closed after any answer but a 101.
            let is_framing = name.eq_ignore_ascii_case("Content-Length")
                || name.eq_ignore_ascii_case("Transfer-Encoding")
                || (!is_upgrade && name.eq_ignore_ascii_case("Connection"));
            if !is_framing {
                write_header(&mut out, name, value);
            }
        }
        if has_body {
            write_header(&mut out, "Content-Length", &self.body.len().to_string());
        }
        if !is_upgrade {
            write_header(&mut out, "Connection", "close");
        }
        out.extend_from_slice(b"\r\n");
        if has_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The standard reason phrase of a status code (RFC 9110 §15), `"Unknown"`
/// for codes it does not define.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_written_with_their_framing() {
        let cases: Vec<(Response, &[u8])> = vec![
            (
                Response::new(404).with_body("text/plain", "gone"),
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone",
            ),
            (
                Response::new(200),
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
            (
                // The caller's framing headers give way to the real ones.
                Response::new(200)
                    .with_header("Content-Length", "99")
                    .with_header("Transfer-Encoding", "chunked")
                    .with_header("Connection", "keep-alive")
                    .with_header("X-Kept", "yes")
                    .with_body("text/html", "<p>")
                    .with_body("text/plain", "hi"),
                b"HTTP/1.1 200 OK\r\nX-Kept: yes\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            ),
            (
                // No content for 204 and 304, whatever the body.
                Response::new(204).with_body("text/plain", "ignored"),
                b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
            ),
            (
                Response::new(304),
                b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
            ),
            (
                Response::new(101).with_header("Connection", "Upgrade"),
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
            ),
            (
                // No header injection through values; no invalid names.
                Response::new(599)
                    .with_header("X-Evil", "a\r\nSet-Cookie: stolen=1")
                    .with_header("Bad Name", "x")
                    .with_header("", "x")
                    .with_header("X-Tab", "a\tb"),
                b"HTTP/1.1 599 Unknown\r\nX-Evil: a  Set-Cookie: stolen=1\r\nX-Tab: a\tb\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        ];
        for (response, bytes) in cases {
            assert_eq!(
                String::from_utf8_lossy(&response.to_bytes()),
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            Response::new(200).with_header("A", "1").header("a"),
            Some("1")
        );
    }

    #[test]
    fn reason_phrases() {
        for (status, phrase) in [
            (101, "Switching Protocols"),
            (200, "OK"),
            (400, "Bad Request"),
            (405, "Method Not Allowed"),
            (426, "Upgrade Required"),
            (503, "Service Unavailable"),
            (0, "Unknown"),
            (299, "Unknown"),
        ] {
            assert_eq!(reason_phrase(status), phrase);
        }
    }
}

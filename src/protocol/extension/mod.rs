//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): its values
//! parsed into [`Extension`]s, in order, and formatted back; and
//! [`permessage_deflate`], the negotiation of the one extension this crate
//! knows (RFC 7692).
//!
//! Both handshakes call it: the server's route answers the first offer it
//! can honour (`Route::negotiate_deflate`), the client offers its
//! [`DeflateConfig`](permessage_deflate::DeflateConfig) and checks the
//! answer; a malformed header from a client is declined (no compression),
//! a malformed answer fails the client's handshake.
//!
//! # The grammar
//! ```text
//! Sec-WebSocket-Extensions = extension-list        ; RFC 6455 §9.1
//! extension-list  = 1#extension                    ; comma-separated, RFC 7230 §7
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" ( token / quoted-string ) ]
//! ```
//! - Several header lines are one list, in order (RFC 7230 §3.2.2).
//! - Spaces and tabs are allowed around `,`, `;` and `=`; empty list
//!   elements (`a, , b`) are skipped, as RFC 7230 §7 asks of a recipient,
//!   but the whole list must name at least one extension.
//! - Names and values are RFC 7230 tokens. A value may be a quoted string,
//!   but "the value after quoted-string unescaping MUST conform to the
//!   'token' ABNF" (§9.1), so `a="1"` and `a=1` parse the same, and
//!   formatting always writes the token form.
//! - Case is kept as received; [`Extension::is`] and the parameter
//!   lookups compare ignoring ASCII case, as HTTP does for tokens. We
//!   always send lowercase.
//!
//! ```
//! use syncws::protocol::extension::{self, Extension};
//!
//! let offers = extension::parse([
//!     "permessage-deflate; client_max_window_bits=\"10\", x-custom",
//!     "permessage-deflate",
//! ])?;
//! assert_eq!(offers.len(), 3);
//! assert!(offers[0].is("permessage-deflate"));
//! assert_eq!(offers[0].params()[0].value(), Some("10"));
//! assert_eq!(
//!     extension::format(&offers),
//!     "permessage-deflate; client_max_window_bits=10, x-custom, permessage-deflate"
//! );
//! assert!(extension::parse(["permessage-deflate; a=\"1 2\""]).is_err());
//! # Ok::<(), syncws::protocol::extension::SyntaxError>(())
//! ```

use std::fmt;

pub mod permessage_deflate;

/// One extension of a `Sec-WebSocket-Extensions` list: its name and its
/// parameters, in the order given.
///
/// Built by [`parse`], or by [`Extension::new`] and
/// [`Extension::with_param`], which check that every name and value is a
/// token, so that what [`Display`](fmt::Display) writes always parses back
/// to an equal value.
///
/// ```
/// use syncws::protocol::extension::Extension;
///
/// let offer = Extension::new("permessage-deflate")?
///     .with_param("server_no_context_takeover", None)?
///     .with_param("client_max_window_bits", Some("12"))?;
/// assert_eq!(
///     offer.to_string(),
///     "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
/// );
/// assert!(Extension::new("two words").is_err());
/// # Ok::<(), syncws::protocol::extension::SyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    params: Vec<Param>,
}

/// One parameter of an [`Extension`]: a name, and a value or none
/// (`client_max_window_bits` alone is a parameter without a value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    name: String,
    value: Option<String>,
}

/// Why a `Sec-WebSocket-Extensions` value (or a name or value given to
/// [`Extension::new`] / [`Extension::with_param`]) is not well formed:
/// which header line, where in it, and what was expected.
///
/// ```
/// use syncws::protocol::extension;
///
/// let error = extension::parse(["permessage-deflate; =1"]).unwrap_err();
/// assert_eq!(error.header(), 0);
/// assert_eq!(error.position(), 20);
/// assert_eq!(
///     error.to_string(),
///     "malformed Sec-WebSocket-Extensions (line 1, byte 20): expected a parameter name (a token)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    header: usize,
    position: usize,
    reason: &'static str,
}

impl SyntaxError {
    /// Which header line (0 for the first value given to [`parse`]).
    pub fn header(&self) -> usize {
        self.header
    }

    /// The byte offset in that line where parsing stopped.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong there.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed Sec-WebSocket-Extensions (line {}, byte {}): {}",
            self.header + 1,
            self.position,
            self.reason
        )
    }
}

impl std::error::Error for SyntaxError {}

impl Extension {
    /// An extension without parameters.
    ///
    /// # Errors
    /// [`SyntaxError`] if `name` is not an RFC 7230 token.
    pub fn new(name: &str) -> Result<Extension, SyntaxError> {
        check_token(name, "an extension name must be a token")?;
        Ok(Extension::named(name))
    }

    /// This extension with one more parameter, after the others.
    ///
    /// # Errors
    /// [`SyntaxError`] if `name` or `value` is not an RFC 7230 token.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Result<Extension, SyntaxError> {
        check_token(name, "a parameter name must be a token")?;
        if let Some(value) = value {
            check_token(value, "a parameter value must be a token")?;
        }
        self.params.push(Param {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
        Ok(self)
    }

    /// An extension named by a constant of ours, known to be a token.
    pub(crate) fn named(name: &str) -> Extension {
        debug_assert!(is_token(name), "{name:?}");
        Extension {
            name: name.to_owned(),
            params: Vec::new(),
        }
    }

    /// A parameter from constants of ours, known to be tokens.
    pub(crate) fn push_param(&mut self, name: &str, value: Option<String>) {
        debug_assert!(is_token(name) && value.as_deref().is_none_or(is_token));
        self.params.push(Param {
            name: name.to_owned(),
            value,
        });
    }

    /// The name, as received.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is the extension `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The parameters, in order, repeated ones included.
    pub fn params(&self) -> &[Param] {
        &self.params
    }
}

impl Param {
    /// The name, as received.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, unquoted; `None` for a parameter given without `=`.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// `name; param; param=value`: always the token form, which [`parse`]
/// reads back to an equal [`Extension`].
impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for param in &self.params {
            write!(f, "; {}", param.name)?;
            if let Some(value) = &param.value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// Parses the values of every `Sec-WebSocket-Extensions` line of a head,
/// in order, into one list.
///
/// # Errors
/// [`SyntaxError`] for the first value that breaks the grammar in the
/// [module docs](self), or if all of them together name no extension.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Extension>, SyntaxError> {
    let mut extensions = Vec::new();
    let mut lines = 0;
    for (header, value) in values.into_iter().enumerate() {
        Cursor {
            bytes: value.as_bytes(),
            at: 0,
            header,
        }
        .list(&mut extensions)?;
        lines = header + 1;
    }
    if extensions.is_empty() {
        return Err(SyntaxError {
            header: lines.saturating_sub(1),
            position: 0,
            reason: "the list names no extension",
        });
    }
    Ok(extensions)
}

/// Formats a list as one header value: the extensions joined by `", "`.
pub fn format(extensions: &[Extension]) -> String {
    let mut value = String::new();
    for (i, extension) in extensions.iter().enumerate() {
        if i > 0 {
            value.push_str(", ");
        }
        value.push_str(&extension.to_string());
    }
    value
}

/// tchar of RFC 7230 §3.2.6.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

fn check_token(text: &str, reason: &'static str) -> Result<(), SyntaxError> {
    if is_token(text) {
        return Ok(());
    }
    let position = text.bytes().position(|b| !is_tchar(b)).unwrap_or(0);
    Err(SyntaxError {
        header: 0,
        position,
        reason,
    })
}

/// A position in one header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    header: usize,
}

impl Cursor<'_> {
    fn error(&self, reason: &'static str) -> SyntaxError {
        SyntaxError {
            header: self.header,
            position: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// OWS: spaces and horizontal tabs (RFC 7230 §3.2.3).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn token(&mut self, reason: &'static str) -> Result<String, SyntaxError> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error(reason));
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    /// `1#extension`, empty elements skipped.
    fn list(&mut self, out: &mut Vec<Extension>) -> Result<(), SyntaxError> {
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => self.at += 1,
                Some(_) => {
                    out.push(self.extension()?);
                    self.skip_blanks();
                    match self.peek() {
                        None => return Ok(()),
                        Some(b',') => self.at += 1,
                        Some(_) => {
                            return Err(self.error("expected ',' or ';' after an extension"));
                        }
                    }
                }
            }
        }
    }

    fn extension(&mut self) -> Result<Extension, SyntaxError> {
        let name = self.token("expected an extension name (a token)")?;
        let mut params = Vec::new();
        loop {
            self.skip_blanks();
            if self.peek() != Some(b';') {
                return Ok(Extension { name, params });
            }
            self.at += 1;
            self.skip_blanks();
            let name = self.token("expected a parameter name (a token)")?;
            self.skip_blanks();
            let mut value = None;
            if self.peek() == Some(b'=') {
                self.at += 1;
                self.skip_blanks();
                value = Some(if self.peek() == Some(b'"') {
                    self.quoted_token()?
                } else {
                    self.token("expected a parameter value (a token or a quoted string)")?
                });
            }
            params.push(Param { name, value });
        }
    }

    /// A quoted-string (RFC 7230 §3.2.6) whose unescaped content is a
    /// token, as §9.1 requires.
    fn quoted_token(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        self.at += 1;
        let mut content = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(byte @ (b'\t' | b' ' | 0x21..=0x7e | 0x80..)) => content.push(byte),
                        _ => return Err(self.error("a backslash must escape a visible character")),
                    }
                    self.at += 1;
                }
                Some(byte @ (b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..)) => {
                    content.push(byte);
                    self.at += 1;
                }
                Some(_) => return Err(self.error("a control character in a quoted string")),
            }
        }
        if content.is_empty() || !content.iter().copied().all(is_tchar) {
            return Err(SyntaxError {
                header: self.header,
                position: start,
                reason: "a quoted value must be a token once unquoted (RFC 6455 §9.1)",
            });
        }
        Ok(String::from_utf8_lossy(&content).into_owned())
    }
}

#[cfg(test)]
mod tests;

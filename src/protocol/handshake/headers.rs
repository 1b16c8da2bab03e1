//! Header fields: looking them up by name, and writing them so that no
//! value can inject another.

use super::request::Request;

/// Trims spaces and tabs, the optional whitespace around HTTP values.
pub(super) fn trim_blanks(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// Headers to look up by name: a parsed request's, or a list of pairs.
pub(super) trait HeaderList {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl HeaderList for Request {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers()
    }
}

impl HeaderList for Vec<(String, String)> {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// The values of every header with this name, case-insensitively, in order.
pub(super) fn header_values<'a>(
    headers: &'a impl HeaderList,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .pairs()
        .filter(move |(header_name, _)| header_name.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The comma-separated tokens of every header with this name, trimmed,
/// empty ones left out (HTTP lists may be split over repeated headers).
pub(super) fn header_tokens<'a>(
    headers: &'a impl HeaderList,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    header_values(headers, name)
        .flat_map(|value| value.split(','))
        .map(trim_blanks)
        .filter(|token| !token.is_empty())
}

/// Does a header list with this name contain this token (ASCII
/// case-insensitive)?
pub(super) fn has_token(headers: &impl HeaderList, name: &str, token: &str) -> bool {
    header_tokens(headers, name).any(|found| found.eq_ignore_ascii_case(token))
}

/// Is this byte allowed in an HTTP header name (a `tchar`, RFC 9110 §5.6.2)?
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Writes `name: value\r\n`. A name that is not a token is left out and
/// control characters in a value become spaces: otherwise a CR LF in a
/// caller's value would inject headers of its choosing (response splitting).
pub(super) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.bytes().map(|byte| {
        if byte.is_ascii_control() && byte != b'\t' {
            b' '
        } else {
            byte
        }
    }));
    out.extend_from_slice(b"\r\n");
}

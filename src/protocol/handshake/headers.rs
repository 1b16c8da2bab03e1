//! Header fields: the one list of them that every head here holds, looked
//! up by name, and written so that no value can inject another.

use std::fmt;

use super::error::HandshakeError;

/// The header fields of an HTTP head, in order: a parsed request's or
/// response's, with their values trimmed of blanks, or those of a
/// [`Response`](super::Response) being built, as they were added.
///
/// Names are looked up without regard to ASCII case; a name may appear
/// more than once.
///
/// A parsed value is text even when the bytes received were not UTF-8:
/// RFC 9110 §5.5 allows any byte from 0x80 to 0xFF in a value (obs-text),
/// to be treated "as opaque data". A value that is UTF-8 is kept as it is;
/// one that is not is read as ISO-8859-1, each byte the character of the
/// same number (`caf\xE9` is `"café"`), so no byte is lost: the bytes of
/// such a value are `value.chars().map(|c| c as u8)`.
///
/// ```
/// use syncws::protocol::handshake::Headers;
///
/// let mut headers: Headers = [("Content-Type", "text/plain"), ("Set-Cookie", "a=1")]
///     .into_iter()
///     .collect();
/// headers.push("set-cookie", "b=2");
/// assert_eq!(headers.get("content-type"), Some("text/plain"));
/// assert_eq!(headers.get_all("Set-Cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
/// assert_eq!(headers.len(), 3);
///
/// headers.retain(|name, _| !name.eq_ignore_ascii_case("Set-Cookie"));
/// assert_eq!(headers.iter().collect::<Vec<_>>(), [("Content-Type", "text/plain")]);
/// ```
#[derive(Clone, Default)]
pub struct Headers {
    /// Every header's name and value back to back, after any text the
    /// owner keeps in front (a request's method and target): the whole
    /// head in one allocation, not two per header, which the server's
    /// connect path measurably gains from. Boxed rather than a `String`
    /// and a `Vec`: 16 bytes less, which keeps a [`HandshakeError`], and
    /// so every `Result` of the crate's `Error`, within 64 bytes. Headers
    /// are built whole (parsed, collected); only a response's few are
    /// pushed one at a time, and a push reallocates.
    text: Box<str>,
    /// For each header, where its name begins and where it ends. Its value
    /// runs from there to the next header's name, or to the end of `text`.
    fields: Box<[(u32, u32)]>,
}

/// What [`Headers::push`] and its kin say when `text` would outgrow the
/// `u32` offsets.
const TOO_LONG: &str = "headers of 4 GiB or more";

impl Headers {
    /// An empty list (allocates nothing).
    pub fn new() -> Headers {
        Headers::default()
    }

    /// How many header fields there are, repeated names counted each time.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of the first header with this name (compared without
    /// regard to ASCII case). A received value that was not UTF-8 is read
    /// as ISO-8859-1 (see [`Headers`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every header with this name (compared without regard
    /// to ASCII case), in order.
    pub fn get_all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.iter()
            .filter(move |(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Every header, name and value, in order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator + Clone {
        (0..self.fields.len()).map(|i| self.field(i))
    }

    /// Adds a header after those already there. Neither the name nor the
    /// value is checked here: [`Response::to_bytes`](super::Response::to_bytes)
    /// leaves out a name that is not an HTTP token and sends control
    /// characters in a value as spaces.
    ///
    /// # Panics
    /// If the names and values together would reach 4 GiB.
    pub fn push(&mut self, name: &str, value: &str) {
        self.extend([(name, value)]);
    }

    /// Keeps only the headers for which `keep(name, value)` is true, in
    /// their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut kept = Builder::with_capacity(self.text.len(), self.fields.len());
        kept.text.push_str(self.prefix());
        for (name, value) in self.iter() {
            if keep(name, value) {
                kept.push(name, value).expect("no longer than before");
            }
        }
        *self = kept.finish();
    }

    /// The comma-separated tokens of every header with this name, trimmed,
    /// empty ones left out (HTTP lists may be split over repeated headers).
    pub(super) fn tokens(&self, name: &str) -> impl Iterator<Item = &str> {
        self.get_all(name)
            .flat_map(|value| value.split(','))
            .map(trim_blanks)
            .filter(|token| !token.is_empty())
    }

    /// Do the headers with this name list this token (ASCII
    /// case-insensitive)?
    pub(super) fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .any(|found| found.eq_ignore_ascii_case(token))
    }

    /// The headers httparse found, values trimmed, copied into one string
    /// after the `prefix` parts (a request line's method and target, read
    /// back with [`prefix`](Self::prefix)). A value that is not UTF-8 is
    /// read as ISO-8859-1 (see [`Headers`]).
    ///
    /// # Errors
    /// [`HandshakeError::HeadTooLarge`] if the text would reach 4 GiB.
    pub(super) fn parsed(
        prefix: &[&str],
        parsed: &[httparse::Header<'_>],
    ) -> Result<Headers, HandshakeError> {
        Ok(Builder::parsed(prefix, parsed)?.finish())
    }

    /// The text the owner keeps in front of the headers.
    pub(super) fn prefix(&self) -> &str {
        let end = self
            .fields
            .first()
            .map_or(self.text.len(), |&(start, _)| start as usize);
        &self.text[..end]
    }

    /// The `i`th header's name and value.
    fn field(&self, i: usize) -> (&str, &str) {
        let (start, name_end) = self.fields[i];
        let end = self
            .fields
            .get(i + 1)
            .map_or(self.text.len(), |&(next, _)| next as usize);
        (
            &self.text[start as usize..name_end as usize],
            &self.text[name_end as usize..end],
        )
    }
}

/// An offset into a head's text. They are `u32`: a head that long is
/// refused long before (the head size limit), but a limit set that high
/// must not wrap them.
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`] past `u32::MAX`.
pub(super) fn offset(len: usize) -> Result<u32, HandshakeError> {
    u32::try_from(len).map_err(|_| HandshakeError::HeadTooLarge {
        max_size: u32::MAX as usize,
    })
}

/// [`Headers`] while they are built: growable, until `finish` boxes them.
struct Builder {
    text: String,
    fields: Vec<(u32, u32)>,
}

impl Builder {
    fn with_capacity(text: usize, fields: usize) -> Builder {
        Builder {
            text: String::with_capacity(text),
            fields: Vec::with_capacity(fields),
        }
    }

    /// [`Headers::parsed`], before its text is boxed.
    fn parsed(prefix: &[&str], parsed: &[httparse::Header<'_>]) -> Result<Builder, HandshakeError> {
        // httparse trims values itself, so for UTF-8 values this is the
        // length exactly (the trimming below is for what it might leave)
        // and `finish` boxes the text without copying it: one allocation
        // for the whole head. Only a value that is not UTF-8 needs more.
        let len = prefix.iter().map(|part| part.len()).sum::<usize>()
            + parsed
                .iter()
                .map(|h| h.name.len() + h.value.len())
                .sum::<usize>();
        let mut headers = Builder::with_capacity(len, parsed.len());
        for part in prefix {
            headers.text.push_str(part);
        }
        offset(headers.text.len())?;
        for header in parsed {
            headers.push_name(header.name)?;
            headers.push_received_value(trim_blank_bytes(header.value));
        }
        Ok(headers)
    }

    /// # Errors
    /// [`HandshakeError::HeadTooLarge`] if the text would outgrow the
    /// offsets.
    fn push(&mut self, name: &str, value: &str) -> Result<(), HandshakeError> {
        self.push_name(name)?;
        self.text.push_str(value);
        Ok(())
    }

    /// Starts a header: its name, and its value is what the text gets
    /// next.
    ///
    /// # Errors
    /// [`HandshakeError::HeadTooLarge`] if the text would outgrow the
    /// offsets.
    fn push_name(&mut self, name: &str) -> Result<(), HandshakeError> {
        let start = offset(self.text.len())?;
        let name_end = offset(start as usize + name.len())?;
        self.text.push_str(name);
        self.fields.push((start, name_end));
        Ok(())
    }

    /// Ends the header begun last with a value as received: as it is if
    /// it is UTF-8, else read as ISO-8859-1. RFC 9110 §5.5: "a recipient
    /// SHOULD treat other allowed octets in field content (i.e., obs-text)
    /// as opaque data"; refusing them would refuse what the RFC allows,
    /// and replacing them would lose them.
    fn push_received_value(&mut self, value: &[u8]) {
        match std::str::from_utf8(value) {
            Ok(utf8) => self.text.push_str(utf8),
            Err(_) => {
                // Each byte from 0x80 up takes two as UTF-8: room for just
                // that much more than the text was sized for, rather than
                // growth by doubling that `finish` would shrink again.
                let wider = value.iter().filter(|byte| !byte.is_ascii()).count();
                let spare = self.text.capacity() - self.text.len();
                self.text.reserve_exact(spare + wider);
                self.text.extend(value.iter().copied().map(char::from));
            }
        }
    }

    fn finish(self) -> Headers {
        Headers {
            text: self.text.into_boxed_str(),
            fields: self.fields.into_boxed_slice(),
        }
    }
}

impl From<Headers> for Builder {
    /// Takes the boxes back without copying them.
    fn from(headers: Headers) -> Builder {
        Builder {
            text: headers.text.into_string(),
            fields: headers.fields.into_vec(),
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Headers {
    /// Adds these headers after those already there.
    ///
    /// # Panics
    /// If the names and values together would reach 4 GiB.
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, headers: I) {
        let mut builder = Builder::from(std::mem::take(self));
        for (name, value) in headers {
            builder.push(name.as_ref(), value.as_ref()).expect(TOO_LONG);
        }
        *self = builder.finish();
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    /// These headers, in order.
    ///
    /// # Panics
    /// If the names and values together would reach 4 GiB.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(headers: I) -> Headers {
        let mut collected = Headers::new();
        collected.extend(headers);
        collected
    }
}

impl PartialEq for Headers {
    /// The same headers in the same order; what an owner keeps in front
    /// of them does not count.
    fn eq(&self, other: &Headers) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    /// A list of `(name, value)` pairs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Trims spaces and tabs, the optional whitespace around HTTP values.
pub(super) fn trim_blanks(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// [`trim_blanks`] on a value not yet known to be text (spaces and tabs
/// are ASCII, so no UTF-8 character is cut).
fn trim_blank_bytes(value: &[u8]) -> &[u8] {
    let blank = |byte: &u8| matches!(byte, b' ' | b'\t');
    let start = value.iter().position(|byte| !blank(byte));
    let end = value.iter().rposition(|byte| !blank(byte));
    match (start, end) {
        (Some(start), Some(end)) => &value[start..=end],
        _ => &[],
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers parsed the way a request's are: after a prefix.
    fn parsed_after(prefix: &[&str], head: &[u8]) -> Headers {
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let httparse::Status::Complete(_) = httparse::parse_headers(head, &mut slots).unwrap()
        else {
            panic!("incomplete {head:?}");
        };
        let found = slots.iter().take_while(|h| !h.name.is_empty()).count();
        Headers::parsed(prefix, &slots[..found]).unwrap()
    }

    #[test]
    fn lookups_ignore_ascii_case_and_keep_the_order() {
        let headers: Headers = [
            ("Host", "example.com"),
            ("Cookie", "a=1"),
            ("cookie", "b=2"),
            ("X-Empty", ""),
        ]
        .into_iter()
        .collect();
        assert_eq!(headers.len(), 4);
        assert!(!headers.is_empty());
        assert_eq!(headers.get("HOST"), Some("example.com"));
        assert_eq!(headers.get("Cookie"), Some("a=1"));
        assert_eq!(
            headers.get_all("COOKIE").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(headers.get("X-Empty"), Some(""));
        assert_eq!(headers.get("X-Missing"), None);
        assert_eq!(headers.get_all("X-Missing").count(), 0);
        assert_eq!(
            headers.iter().next_back(),
            Some(("X-Empty", "")),
            "the last one"
        );
        assert_eq!(headers.iter().len(), 4);
    }

    #[test]
    fn an_empty_list_finds_nothing() {
        let headers = Headers::new();
        assert!(headers.is_empty());
        assert_eq!(headers.len(), 0);
        assert_eq!(headers.get(""), None);
        assert_eq!(headers.iter().count(), 0);
        assert_eq!(format!("{headers:?}"), "[]");
        assert_eq!(headers, Headers::from_iter(Vec::<(String, String)>::new()));
    }

    #[test]
    fn pushed_headers_come_after_and_values_are_kept_as_given() {
        let mut headers = Headers::new();
        headers.push("A", " 1 ");
        headers.push("B", "a\r\nX: injected");
        headers.extend([("C".to_owned(), "3".to_owned())]);
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("A", " 1 "), ("B", "a\r\nX: injected"), ("C", "3")]
        );
    }

    #[test]
    fn retain_keeps_the_others_in_order() {
        let mut headers: Headers = [("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")]
            .into_iter()
            .collect();
        headers.retain(|name, _| !name.eq_ignore_ascii_case("a"));
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("B", "2"), ("C", "4")]);
        headers.retain(|_, value| value == "4");
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("C", "4")]);
        headers.push("D", "5");
        assert_eq!(headers.get("D"), Some("5"));
        headers.retain(|_, _| false);
        assert!(headers.is_empty());
    }

    #[test]
    fn parsed_headers_are_trimmed_and_keep_their_prefix_apart() {
        let head = b"Upgrade: websocket\r\nX-Blank:\r\nConnection:  keep-alive,\tUpgrade \r\n\r\n";
        let mut headers = parsed_after(&["GET", "/chat"], head);
        assert_eq!(headers.prefix(), "GET/chat");
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [
                ("Upgrade", "websocket"),
                ("X-Blank", ""),
                ("Connection", "keep-alive,\tUpgrade"),
            ]
        );
        // Equality and Debug see the headers only.
        let same: Headers = headers.iter().collect();
        assert_eq!(headers, same);
        assert_eq!(format!("{headers:?}"), format!("{same:?}"));
        assert_eq!(
            format!("{same:?}"),
            r#"[("Upgrade", "websocket"), ("X-Blank", ""), ("Connection", "keep-alive,\tUpgrade")]"#
        );
        // Changing the list leaves the prefix as it was.
        headers.retain(|name, _| name != "X-Blank");
        headers.push("Host", "h");
        assert_eq!(headers.prefix(), "GET/chat");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.get("Host"), Some("h"));
        // A prefix with no headers after it.
        let bare = parsed_after(&["GET", "/"], b"\r\n");
        assert_eq!((bare.prefix(), bare.len()), ("GET/", 0));
        assert_eq!(bare, Headers::new());
    }

    #[test]
    fn values_that_are_not_utf8_are_read_as_latin1() {
        // (value as received, as the headers give it)
        let cases: &[(&[u8], &str)] = &[
            (b"caf\xe9", "café"),
            // UTF-8 stays as it is.
            (b"caf\xc3\xa9", "café"),
            (b"\xff\xfe", "ÿþ"),
            // Not UTF-8 as a whole: every byte on its own.
            (b"\xc3\xa9 \xc3\x28", "Ã© Ã("),
            (b"\x80\x9f\xa0", "\u{80}\u{9f}\u{a0}"),
            // Blanks around it are trimmed; a no-break space (0xA0) is not
            // a blank.
            (b" \t\xa0x\xa0\t ", "\u{a0}x\u{a0}"),
        ];
        for &(received, read) in cases {
            let head = [b"X-Value: ", received, b"\r\nX-Next: ok\r\n\r\n"].concat();
            let headers = parsed_after(&["GET", "/"], &head);
            assert_eq!(
                headers.iter().collect::<Vec<_>>(),
                [("X-Value", read), ("X-Next", "ok")],
                "{received:?}"
            );
            assert_eq!(headers.prefix(), "GET/");
            if std::str::from_utf8(received).is_err() {
                // Each byte can be told back from its character.
                let bytes: Vec<u8> = read.chars().map(|c| c as u8).collect();
                assert_eq!(bytes, received.trim_ascii());
            }
        }
    }

    #[test]
    fn a_parsed_head_is_sized_exactly_so_boxing_it_copies_nothing() {
        for value in [&b"ascii"[..], b"caf\xc3\xa9", b"caf\xe9 \xff"] {
            let head = [b"Host: h\r\nX-Value: ", value, b"\r\nX-Other: \xe9\r\n\r\n"].concat();
            let mut slots = [httparse::EMPTY_HEADER; 4];
            httparse::parse_headers(&head, &mut slots).unwrap();
            let built = Builder::parsed(&["GET", "/chat"], &slots[..3]).unwrap();
            assert_eq!(built.text.capacity(), built.text.len(), "{value:?}");
            assert_eq!(built.fields.capacity(), built.fields.len());
        }
    }

    #[test]
    fn tokens_are_gathered_across_repeated_headers() {
        let headers: Headers = [
            ("Connection", "keep-alive, Upgrade"),
            ("connection", " ,close,, "),
            ("Upgrade", "websockets"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            headers.tokens("CONNECTION").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "close"]
        );
        assert!(headers.has_token("Connection", "upgrade"));
        assert!(headers.has_token("connection", "CLOSE"));
        assert!(!headers.has_token("Upgrade", "websocket"));
        assert!(!headers.has_token("Missing", "x"));
    }

    #[test]
    fn offsets_past_u32_are_refused() {
        assert_eq!(offset(u32::MAX as usize), Ok(u32::MAX));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            offset(u32::MAX as usize + 1),
            Err(HandshakeError::HeadTooLarge {
                max_size: u32::MAX as usize
            })
        );
    }

    #[test]
    fn headers_stay_four_words() {
        // A HandshakeError holds one, and a Result<_, Error> a
        // HandshakeError: Error is kept within 64 bytes (see src/error.rs).
        assert_eq!(
            std::mem::size_of::<Headers>(),
            4 * std::mem::size_of::<usize>()
        );
    }
}

//! The little JSON the chat speaks, by hand: strings written with their
//! escapes, and flat objects of strings and numbers read back (what a
//! client sends, and what the tests read). Nested values are refused: no
//! message of the chat has them.

#![allow(dead_code)] // The example writes, the tests read.

use std::fmt::Write;

/// `s` as a JSON string, quotes included (RFC 8259 §7).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value of a flat object.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    /// A number, as written.
    Number(String),
    Bool(bool),
    Null,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// The members of a flat JSON object, in order; None if `text` is not one.
pub fn object(text: &str) -> Option<Vec<(String, Value)>> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    p.blanks();
    p.expect(b'{')?;
    let mut members = Vec::new();
    p.blanks();
    if p.peek() == Some(b'}') {
        p.at += 1;
    } else {
        loop {
            p.blanks();
            let key = p.string()?;
            p.blanks();
            p.expect(b':')?;
            p.blanks();
            let value = p.value()?;
            members.push((key, value));
            p.blanks();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.blanks();
    (p.at == p.bytes.len()).then_some(members)
}

/// The value of `key` in a flat object's members.
pub fn get<'a>(members: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string().map(Value::String),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                let number = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                Some(Value::Number(number.to_owned()))
            }
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Option<Value> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            value
        })
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.escaped_char()?,
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < b' ' => return None,
                b => out.push(b),
            }
        }
    }

    /// After `\u`: one code unit, or a surrogate pair (`\ud83d\ude00`).
    fn escaped_char(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) {
            self.expect(b'\\')?;
            self.expect(b'u')?;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return None;
            }
            let c = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
            return char::from_u32(c);
        }
        char::from_u32(first)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_written_reads_back_the_same() {
        for s in ["", "plain", "quote \" and \\", "tab\tline\n\u{1}", "é😀"] {
            let text = format!("{{\"k\":{}}}", string(s));
            let members = object(&text).unwrap();
            assert_eq!(get(&members, "k").and_then(Value::as_str), Some(s));
        }
    }

    #[test]
    fn flat_objects_are_read_and_anything_else_refused() {
        let members = object(r#" { "to" : "a:1", "n": 17, "ok": true, "x": null } "#).unwrap();
        assert_eq!(get(&members, "to").and_then(Value::as_str), Some("a:1"));
        assert_eq!(get(&members, "n").and_then(Value::as_u64), Some(17));
        assert_eq!(get(&members, "ok"), Some(&Value::Bool(true)));
        assert_eq!(
            object(r#"{"a":"\ud83d\ude00"}"#).unwrap()[0].1.as_str(),
            Some("😀")
        );
        for bad in [
            "",
            "hello",
            "{",
            r#"{"a":{}}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\q"}"#,
        ] {
            assert_eq!(object(bad), None, "{bad}");
        }
    }
}

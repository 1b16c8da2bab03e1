//! The payload of a close frame (RFC 6455 §5.5.1, §7.4).

use crate::protocol::error::ProtocolViolation;
use crate::protocol::frame::MAX_CONTROL_PAYLOAD;
use crate::protocol::message::{CloseCode, CloseFrame};

/// The longest reason that fits in a close frame: 125 bytes less the code.
pub const MAX_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

/// Parse a received close payload. An empty payload carries no code
/// (`Ok(None)`, reported as 1005).
///
/// # Errors
/// §5.5.1: a body, if any, MUST start with a two-byte code, so one byte is
/// [`ProtocolViolation::InvalidClosePayload`]; a code that may not be sent
/// (§7.4.1, §7.4.2) is [`ProtocolViolation::InvalidCloseCode`]; a reason
/// that is not UTF-8 is [`ProtocolViolation::InvalidUtf8`].
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolViolation> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolViolation::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let raw = u16::from_be_bytes([*hi, *lo]);
            let code = CloseCode::from(raw);
            if !code.is_sendable() {
                return Err(ProtocolViolation::InvalidCloseCode(raw));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolViolation::InvalidUtf8)?;
            Ok(Some(CloseFrame::new(code, reason)))
        }
    }
}

/// The payload of a close frame to send: the code, then the reason cut to
/// [`MAX_REASON_LEN`] bytes at a character boundary. Codes that may not be
/// sent (1005, 1006, 1015, out of range) give an empty payload.
///
pub fn close_payload(code: CloseCode, reason: &str) -> Vec<u8> {
    if !code.is_sendable() {
        return Vec::new();
    }
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&u16::from(code).to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_accepted_or_refused_as_section_7_4_says() {
        for code in 0u16..=5999 {
            let payload = code.to_be_bytes();
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(parse_close_payload(&payload).is_ok(), valid, "code {code}");
        }
    }

    #[test]
    fn a_payload_is_a_code_then_a_reason() {
        let frame = parse_close_payload(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (CloseCode::Normal, "bye")
        );
        assert!(parse_close_payload(b"\x03").is_err());
        assert_eq!(close_payload(CloseCode::Normal, "bye"), b"\x03\xe8bye");
        assert_eq!(close_payload(CloseCode::NoStatus, "ignored"), b"");
    }

    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff"),
            Err(ProtocolViolation::InvalidUtf8)
        );
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let payload = close_payload(CloseCode::Normal, &reason);
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        let frame = parse_close_payload(&payload).unwrap().unwrap();
        assert_eq!(frame.reason, "é".repeat(61));
    }
}

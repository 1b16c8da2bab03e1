//! Reading an HTTP head off a stream during the opening handshake, within a
//! size limit and a deadline. The parsing itself is sans-I/O
//! (`protocol::handshake`); this is the blocking loop around it.

use std::io::{self, Read};
use std::time::Instant;

use crate::error::{Error, HandshakeError, Timeout};
use crate::transport::Transport;

/// Bytes asked for per read while the head arrives.
const HEAD_READ_CHUNK: usize = 2048;

/// Read from `stream` until `parse` finds a whole head in what has arrived.
/// Returns the parsed head and the bytes that followed it (the start of the
/// WebSocket stream, or of a body). The caller has set the socket's
/// timeouts for `deadline` ([`set_deadline`]); they are lowered only for the
/// reads after the first, so a head that arrives at once costs no extra
/// system call.
///
/// # Errors
/// [`Error::Timeout`] when `deadline` passes; the parse error; an
/// [`Error::Io`] when the stream ends or fails first.
pub(crate) fn read_head<T>(
    stream: &Transport,
    deadline: Option<Instant>,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, HandshakeError>,
) -> Result<(T, Vec<u8>), Error> {
    // On the heap, not the stack: a connection thread's stack pages stay
    // resident for the connection's life.
    let mut buf = Vec::with_capacity(HEAD_READ_CHUNK);
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            set_read_deadline(stream, deadline)?;
        }
        let filled = buf.len();
        buf.resize(filled + HEAD_READ_CHUNK, 0);
        let read = Read::read(&mut &*stream, &mut buf[filled..]);
        buf.truncate(filled + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection ended during the opening handshake",
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(handshake_io(e)),
        }
        if let Some((head, len)) = parse(&buf)? {
            let rest = buf.split_off(len);
            return Ok((head, rest));
        }
    }
}

/// Make reads and writes on `stream` give up at `deadline`.
pub(crate) fn set_deadline(stream: &Transport, deadline: Option<Instant>) -> Result<(), Error> {
    let timeout = time_left(deadline)?;
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    Ok(())
}

/// Make reads on `stream` give up at `deadline`.
fn set_read_deadline(stream: &Transport, deadline: Option<Instant>) -> Result<(), Error> {
    let timeout = time_left(deadline)?;
    stream.set_read_timeout(timeout).map_err(Error::from)
}

/// The time until `deadline`; [`Error::Timeout`] if it has passed.
pub(crate) fn time_left(deadline: Option<Instant>) -> Result<Option<std::time::Duration>, Error> {
    match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(Timeout::Handshake));
            }
            Ok(Some(left))
        }
        None => Ok(None),
    }
}

/// An I/O error during the handshake: a timeout (the socket's, set for the
/// deadline) is [`Timeout::Handshake`], anything else [`Error::Io`].
pub(crate) fn handshake_io(e: io::Error) -> Error {
    Error::from_io(e, Timeout::Handshake)
}

//! Clients that do not read: a peer that never reads, a hub member that never reads.

use super::*;

/// A WebSocket connection opened by hand: `path`, with `extra` header
/// lines; returns the stream and what came after the 101.
pub(super) fn open_raw(addr: SocketAddr, path: &str, extra: &str) -> Res<(TcpStream, Vec<u8>)> {
    let mut tcp = wire::tcp_within(addr, Duration::from_secs(10))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let leftover = wire::handshake_with(&mut tcp, &addr.to_string(), path, extra)?;
    Ok((tcp, leftover))
}

/// A masked client frame.
pub(super) fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    let key = (wire::Rng::random().next() as u32).to_ne_bytes();
    write_frame(&mut frame, fin, opcode, payload, Some(key));
    frame
}

/// Write all of `bytes`, partial writes counted into `sent`. `Ok(false)`
/// if the write timed out (what was written is counted).
pub(super) fn write_counted(
    stream: &mut TcpStream,
    bytes: &[u8],
    sent: &mut u64,
) -> io::Result<bool> {
    let mut at = 0;
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                at += n;
                *sent += n as u64;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(false);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

pub(super) fn never_reads(target: &Target, scale: Scale) -> Res<Found> {
    let duration = scale.secs(40.0);
    let (mut tcp, _) = open_raw(target.addr(), "/echo", "")?;
    tcp.set_write_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let frame = client_frame(true, OpCode::Binary, &vec![0x5a; 64 << 10]);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut last_progress = start;
    // Stalls of a second or more: (start, end, bytes sent at the start).
    let mut stalls: Vec<(f64, f64, u64)> = Vec::new();
    let mut error = None;
    let mut writes = 0u64;
    // (seconds, bytes sent by then) at each write that made progress.
    let mut progress: Vec<(f64, u64)> = Vec::new();
    while start.elapsed() < duration && writes < 10_000_000 {
        writes += 1;
        let before = sent;
        let result = write_counted(&mut tcp, &frame, &mut sent);
        let now = Instant::now();
        if sent > before {
            if now - last_progress >= Duration::from_secs(1) {
                stalls.push((
                    (last_progress - start).as_secs_f64(),
                    (now - start).as_secs_f64(),
                    before,
                ));
            }
            last_progress = now;
            progress.push(((now - start).as_secs_f64(), sent));
        }
        if let Err(e) = result {
            error = Some(((now - start).as_secs_f64(), e));
            break;
        }
    }
    let total = start.elapsed().as_secs_f64();
    let stalled = (last_progress - start).as_secs_f64();
    if total - stalled >= 1.0 {
        stalls.push((stalled, total, sent));
    }
    drop(tcp);
    thread::sleep(Duration::from_millis(200));
    let events = target.events();
    let failed = events
        .iter()
        .find(|e| e.path == "/echo" && e.text.starts_with("run_with failed"));
    let ended = failed.and_then(|f| {
        events
            .iter()
            .find(|e| e.id == f.id && e.text.starts_with("ended"))
    });
    let mut happened = Vec::new();
    for (from, to, at) in &stalls {
        happened.push(format!(
            "the client's writes stalled from {from:.1} s to {to:.1} s (after {})",
            mib(*at)
        ));
    }
    match failed {
        Some(f) => happened.push(format!(
            "the server's send failed at {:.1} s: {}",
            f.at, f.text
        )),
        None => happened.push("the server's send did not fail".into()),
    }
    if let (Some(f), Some(e)) = (failed, ended) {
        happened.push(format!(
            "the connection ended {:.2} s after the send failed ({})",
            e.at - f.at,
            e.text
        ));
    }
    // What the server read after its send failed.
    let drained = failed.map(|f| {
        let by_then = progress
            .iter()
            .take_while(|(at, _)| *at <= f.at)
            .last()
            .map_or(0, |p| p.1);
        sent - by_then
    });
    happened.push(format!(
        "the client sent {} in all{}",
        mib(sent),
        drained.map_or(String::new(), |d| format!(
            ", {} of it after the server's send failed (drained)",
            mib(d)
        ))
    ));
    match error {
        Some((at, e)) => happened.push(format!("the client's write failed at {at:.1} s: {e}")),
        None => happened.push(format!("the client's socket saw no reset by {total:.0} s")),
    }
    Ok(Found {
        load: format!(
            "1 client sending 64 KiB messages to /echo without reading, {:.0} s at most",
            duration.as_secs_f64()
        ),
        happened,
    })
}

/// Read frames from `stream` until its end, a close frame, `enough`
/// messages or `until`. Returns the messages seen, the close code if a
/// close frame came, and how it ended.
pub(super) fn read_frames(
    stream: &mut TcpStream,
    enough: u64,
    until: Instant,
) -> (u64, Option<u16>, String) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0, 0);
    let mut skip = 0u64;
    let mut messages = 0;
    loop {
        // Consume what is buffered.
        loop {
            if skip > 0 {
                let k = (end - start).min(skip as usize);
                start += k;
                skip -= k as u64;
                if skip > 0 {
                    break;
                }
            }
            let Ok(Some((header, n))) = FrameHeader::parse(&buf[start..end]) else {
                break;
            };
            if header.opcode == OpCode::Close {
                if end - start < n + 2 {
                    break;
                }
                let code = u16::from_be_bytes([buf[start + n], buf[start + n + 1]]);
                return (messages, Some(code), "close frame".into());
            }
            start += n;
            skip = header.payload_len;
            if header.fin && header.opcode != OpCode::Pong && header.opcode != OpCode::Ping {
                messages += 1;
                if messages >= enough {
                    return (messages, None, "enough".into());
                }
            }
        }
        if Instant::now() >= until {
            return (messages, None, "time".into());
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        match stream.read(&mut buf[end..]) {
            Ok(0) => return (messages, None, "end of stream".into()),
            Ok(n) => end += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (messages, None, format!("{e}")),
        }
    }
}

pub(super) fn hub_never_reads(target: &Target, scale: Scale) -> Res<Found> {
    let messages = scale.count(1200) as u64;
    let size = 1 << 20;
    let origin = format!("Origin: {CHAT_ORIGIN}\r\n");
    let (mut slow, _) = open_raw(target.addr(), "/chat", &origin)?;
    let (mut publisher, _) = open_raw(target.addr(), "/chat", &origin)?;
    publisher
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    // The publisher is a member too: it reads its own messages back.
    let mut reading = publisher.try_clone().map_err(|e| e.to_string())?;
    let until = Instant::now() + Duration::from_secs(120);
    let reader = thread::spawn(move || read_frames(&mut reading, messages, until));
    let frame = client_frame(true, OpCode::Binary, &vec![0x33; size]);
    let start = Instant::now();
    let mut published = Vec::with_capacity(messages as usize);
    let mut sent = 0u64;
    let mut error = None;
    for _ in 0..messages {
        match write_counted(&mut publisher, &frame, &mut sent) {
            Ok(true) => published.push((start.elapsed().as_secs_f64(), sent)),
            Ok(false) => {
                error = Some("a write timed out (10 s)".to_string());
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let publish_time = start.elapsed().as_secs_f64();
    let (echoed, echo_close, echo_end) = reader.join().unwrap_or((0, None, "panicked".into()));
    thread::sleep(Duration::from_millis(500));
    let events = target.events();
    // What the slow member's socket holds.
    let (kept, slow_close, slow_end) =
        read_frames(&mut slow, u64::MAX, Instant::now() + Duration::from_secs(3));
    let mut happened = vec![format!(
        "{} of {} messages published in {publish_time:.1} s{}",
        count(published.len() as u64),
        count(messages),
        error.map_or(String::new(), |e| format!(" (the publisher stopped: {e})"))
    )];
    let published_by = |at: f64| count(published.iter().filter(|(t, _)| *t <= at).count() as u64);
    // The membership went from 2 down to 1: one member left.
    let chat: Vec<&Event> = events.iter().filter(|e| e.path == "/chat").collect();
    let evicted = chat
        .iter()
        .skip_while(|e| e.text != "members 2")
        .find(|e| e.text == "members 1");
    match evicted {
        Some(e) => happened.push(format!(
            "the slow member was evicted at {:.2} s, after {} messages published",
            e.at,
            published_by(e.at)
        )),
        None => happened.push("no member was evicted".into()),
    }
    for e in chat.iter().filter(|e| e.id != 0) {
        happened.push(format!(
            "member #{} ended at {:.2} s: {}",
            e.id, e.at, e.text
        ));
    }
    happened.push(format!(
        "the slow member's socket held {} messages, then {}",
        count(kept),
        slow_close.map_or(slow_end, |c| format!("a close frame {c}"))
    ));
    happened.push(format!(
        "the publisher read back {} of its messages ({})",
        count(echoed),
        echo_close.map_or(echo_end, |c| format!("closed with {c}"))
    ));
    Ok(Found {
        load: format!(
            "1 /chat member that never reads; another publishes {} messages of 1 MiB",
            count(messages)
        ),
        happened,
    })
}

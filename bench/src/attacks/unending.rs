//! Frames and messages that never end: announced frames, partial messages.

use super::*;

pub(super) fn announced_frames(target: &Target, scale: Scale) -> Res<Found> {
    let mut notes = Vec::new();
    let conns = scale.sockets(400, &mut notes);
    let hold = scale.secs(10.0);
    // A masked binary frame header announcing 16 MiB (2 + 8 + 4 bytes).
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let mut held = Vec::with_capacity(conns);
    for _ in 0..conns {
        match open_raw(target.addr(), "/echo", "") {
            Ok((mut tcp, _)) => {
                if tcp.write_all(&header).is_ok() {
                    held.push(tcp);
                }
            }
            Err(e) => {
                notes.push(format!("a connection failed: {e}"));
                break;
            }
        }
    }
    thread::sleep(hold);
    // Whether the server closed any of them.
    let mut closed = 0;
    let mut probe = [0u8; 64];
    for tcp in &mut held {
        let _ = tcp.set_nonblocking(true);
        match tcp.read(&mut probe) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            // Bytes (a close frame), the end, or an error.
            _ => closed += 1,
        }
    }
    let mut happened = vec![format!(
        "{} connections announced {} MiB each ({} MiB in all) and sent nothing more; {} of \
         them ended by the server within {:.0} s",
        count(held.len() as u64),
        16,
        count(16 * held.len() as u64),
        count(closed),
        hold.as_secs_f64()
    )];
    happened.extend(notes);
    drop(held);
    Ok(Found {
        load: format!(
            "{} connections, a 14-byte header announcing 16 MiB each, held {:.0} s",
            count(conns as u64),
            hold.as_secs_f64()
        ),
        happened,
    })
}

pub(super) fn partial_messages(target: &Target, scale: Scale) -> Res<Found> {
    let conns = scale.count(64);
    let fragments = 48;
    let fragment = vec![0x44u8; 1 << 20];
    let frames = Arc::new((
        client_frame(false, OpCode::Binary, &fragment),
        client_frame(false, OpCode::Continuation, &fragment),
    ));
    let deadline = Instant::now() + scale.secs(60.0);
    let hold = scale.secs(5.0);
    let addr = target.addr();
    let attackers: Vec<JoinHandle<Res<Attacker>>> = (0..conns)
        .map(|_| {
            let frames = Arc::clone(&frames);
            thread::spawn(move || {
                let (mut tcp, _) = open_raw(addr, "/echo", "")?;
                tcp.set_write_timeout(Some(Duration::from_secs(1)))
                    .map_err(|e| e.to_string())?;
                let mut reading = tcp.try_clone().map_err(|e| e.to_string())?;
                // What the writer has sent so far, read when the close
                // frame comes.
                let progress = Arc::new(AtomicU64::new(0));
                let written = Arc::clone(&progress);
                let reader = thread::spawn(move || {
                    let opened = Instant::now();
                    let (_, code, _) = read_frames(&mut reading, u64::MAX, deadline + hold);
                    let at = opened.elapsed().as_secs_f64();
                    (code, at, written.load(Ordering::Relaxed))
                });
                let mut sent = 0u64;
                let mut error = None;
                for i in 0..fragments {
                    let frame = if i == 0 { &frames.0 } else { &frames.1 };
                    let mut at = 0;
                    // A write that times out is tried again, until the
                    // deadline.
                    while at < frame.len() && Instant::now() < deadline && error.is_none() {
                        let before = sent;
                        match write_counted(&mut tcp, &frame[at..], &mut sent) {
                            Ok(_) => at += (sent - before) as usize,
                            Err(e) => error = Some(e.to_string()),
                        }
                        progress.store(sent, Ordering::Relaxed);
                    }
                }
                Ok(Attacker {
                    tcp,
                    reader,
                    sent,
                    error,
                })
            })
        })
        .collect();
    let mut done = Vec::new();
    let mut notes = Vec::new();
    for a in attackers {
        match a.join() {
            Ok(Ok(a)) => done.push(a),
            Ok(Err(e)) => notes.push(format!("an attacker failed: {e}")),
            Err(_) => notes.push("an attacker panicked".into()),
        }
    }
    thread::sleep(hold);
    for a in &done {
        let _ = a.tcp.shutdown(Shutdown::Both);
    }
    let mut codes: BTreeMap<String, (u64, f64, f64)> = BTreeMap::new();
    let mut whole = 0;
    let mut sent = 0;
    // What each connection that got a close frame had sent by then.
    let mut sent_when_closed = Vec::new();
    for a in done {
        sent += a.sent;
        if a.sent >= (fragments as u64) << 20 {
            whole += 1;
        }
        let (code, at, sent_then) = a.reader.join().unwrap_or((None, 0.0, 0));
        let what = match code {
            Some(code) => format!("got {code}"),
            None => "got no close frame".into(),
        };
        let entry = codes.entry(what).or_insert((0, f64::MAX, 0.0));
        entry.0 += 1;
        if code.is_some() {
            entry.1 = entry.1.min(at);
            entry.2 = entry.2.max(at);
            sent_when_closed.push(sent_then);
        }
        if let Some(e) = a.error {
            notes.push(format!("a write failed: {e}"));
        }
    }
    let mut happened = vec![format!(
        "{} of {} sent all 48 MiB ({} sent in all)",
        count(whole),
        count(conns as u64),
        mib(sent)
    )];
    for (what, (n, first, last)) in codes {
        if first <= last {
            happened.push(format!("{} {what} ({first:.1}–{last:.1} s)", count(n)));
        } else {
            happened.push(format!("{} {what}", count(n)));
        }
    }
    sent_when_closed.sort_unstable();
    if let (Some(least), Some(most)) = (sent_when_closed.first(), sent_when_closed.last()) {
        happened.push(format!(
            "a close frame came after {}–{} sent (median {})",
            mib(*least),
            mib(*most),
            mib(sent_when_closed[sent_when_closed.len() / 2])
        ));
    }
    notes.sort();
    notes.dedup();
    happened.extend(notes);
    Ok(Found {
        load: format!(
            "{} connections × 48 MiB of a fragmented message never finished, message_budget {} MiB",
            count(conns as u64),
            ATTACKED_BUDGET >> 20
        ),
        happened,
    })
}

/// One connection of `partial-messages`.
pub(super) struct Attacker {
    pub(super) tcp: TcpStream,
    pub(super) reader: JoinHandle<(Option<u16>, f64, u64)>,
    pub(super) sent: u64,
    pub(super) error: Option<String>,
}

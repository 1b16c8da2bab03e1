//! Many sockets that say little: slowloris, silent, TLS trickle.

use super::*;

/// `sockets` connections, each sending `bytes` one byte every `every`
/// (nothing if empty) for `duration`, from one thread with mio.
pub(super) struct Trickle<'a> {
    /// The address they connect from (any, if `None`).
    pub(super) source: Option<Ipv4Addr>,
    pub(super) sockets: usize,
    pub(super) bytes: &'a [u8],
    pub(super) every: Duration,
    pub(super) duration: Duration,
}

/// One attacker socket of a [`Trickle`].
pub(super) struct Trickler {
    pub(super) stream: Option<MioStream>,
    pub(super) opened: Instant,
    pub(super) connected: bool,
    pub(super) sent: usize,
    pub(super) next: Instant,
    pub(super) answer: Vec<u8>,
    /// When it ended, and how: `None` for the end of the stream, or the
    /// error.
    pub(super) ended: Option<(Instant, Option<ErrorKind>)>,
}

impl Trickler {
    fn end(&mut self, poll: &Poll, how: Option<ErrorKind>) {
        if let Some(mut stream) = self.stream.take() {
            let _ = poll.registry().deregister(&mut stream);
        }
        self.ended = Some((Instant::now(), how));
    }

    /// Whether it is open and the server has said nothing on it.
    fn held(&self) -> bool {
        self.connected && self.ended.is_none() && self.answer.is_empty()
    }
}

impl Trickle<'_> {
    fn run(&self, addr: SocketAddr) -> Res<Vec<String>> {
        let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let mut events = Events::with_capacity(1024);
        let mut all: Vec<Trickler> = Vec::with_capacity(self.sockets);
        let mut notes = Vec::new();
        let kernel_before = procfs::tcp_ext(&KERNEL_COUNTERS);
        let start = Instant::now();
        for i in 0..self.sockets {
            let connected = match self.source {
                Some(source) => connect_from(source, addr),
                None => MioStream::connect(addr),
            };
            match connected {
                Ok(mut stream) => {
                    poll.registry()
                        .register(
                            &mut stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .map_err(|e| format!("register: {e}"))?;
                    let now = Instant::now();
                    all.push(Trickler {
                        stream: Some(stream),
                        opened: now,
                        connected: false,
                        sent: 0,
                        next: now,
                        answer: Vec::new(),
                        ended: None,
                    });
                }
                Err(e) => {
                    notes.push(format!("only {} sockets opened: {e}", count(i as u64)));
                    break;
                }
            }
            // Bursts of 100, the answers read between them.
            if i % 100 == 99 {
                self.service(&mut poll, &mut events, &mut all, Duration::from_millis(2));
            }
        }
        let opened_in = start.elapsed();
        let deadline = start + self.duration;
        let mut held = 0;
        let mut held_at = 0.0;
        let mut connected = 0;
        // At most one pass per millisecond until the deadline.
        let passes = self.duration.as_millis() as u64 + 1;
        for _ in 0..passes {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.service(&mut poll, &mut events, &mut all, Duration::from_millis(10));
            self.trickle(&poll, &mut all);
            if now > start + opened_in + AT_ONCE {
                let now_held = all.iter().filter(|t| t.held()).count();
                if now_held > held {
                    held = now_held;
                    held_at = (now - start).as_secs_f64();
                }
            }
            connected = connected.max(all.iter().filter(|t| t.connected).count());
        }
        let still_open = all.iter().filter(|t| t.ended.is_none()).count();
        let mut happened = vec![format!(
            "{} sockets opened in {:.1} s ({} connected)",
            count(all.len() as u64),
            opened_in.as_secs_f64(),
            count(connected as u64)
        )];
        happened.extend(self.outcomes(&all));
        happened.push(format!(
            "{} open and unanswered at most (at {held_at:.1} s); {} still open at the end \
             ({:.0} s)",
            count(held as u64),
            count(still_open as u64),
            self.duration.as_secs_f64()
        ));
        let kernel: Vec<String> = procfs::tcp_ext(&KERNEL_COUNTERS)
            .iter()
            .zip(kernel_before)
            .zip(KERNEL_COUNTERS)
            .map(|((after, before), name)| format!("{name} +{}", count(after - before)))
            .collect();
        happened.push(format!("kernel (whole machine): {}", kernel.join(", ")));
        happened.extend(notes);
        // Dropping the sockets closes them.
        drop(all);
        Ok(happened)
    }

    /// Read what arrived, note connections made and ended.
    fn service(&self, poll: &mut Poll, events: &mut Events, all: &mut [Trickler], wait: Duration) {
        if poll.poll(events, Some(wait)).is_err() {
            return;
        }
        let mut chunk = [0u8; 1024];
        for event in events.iter() {
            let Some(t) = all.get_mut(event.token().0) else {
                continue;
            };
            let Some(stream) = t.stream.as_mut() else {
                continue;
            };
            if event.is_writable() && !t.connected {
                match stream.take_error() {
                    Ok(Some(e)) | Err(e) => {
                        t.end(poll, Some(e.kind()));
                        continue;
                    }
                    Ok(None) => {}
                }
                if stream.peer_addr().is_ok() {
                    t.connected = true;
                    t.next = Instant::now();
                }
            }
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            // Bounded: the answers are short; a socket that keeps sending
            // is read again on the next event.
            for _ in 0..64 {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        t.end(poll, None);
                        break;
                    }
                    Ok(n) => {
                        let room = 256usize.saturating_sub(t.answer.len());
                        t.answer.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        t.end(poll, Some(e.kind()));
                        break;
                    }
                }
            }
        }
    }

    /// Send the next byte on every socket whose time has come.
    fn trickle(&self, poll: &Poll, all: &mut [Trickler]) {
        let now = Instant::now();
        for t in all.iter_mut() {
            if !t.connected || t.sent >= self.bytes.len() || t.next > now {
                continue;
            }
            let Some(stream) = t.stream.as_mut() else {
                continue;
            };
            match stream.write(&self.bytes[t.sent..t.sent + 1]) {
                Ok(1) => {
                    t.sent += 1;
                    t.next += self.every;
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => t.end(poll, Some(e.kind())),
            }
        }
    }

    /// How the sockets ended: by answer, at once or later.
    fn outcomes(&self, all: &[Trickler]) -> Vec<String> {
        // (how, lifetime bucket) → (count, shortest, longest life)
        let mut by: BTreeMap<(String, u8), (u64, f64, f64)> = BTreeMap::new();
        for t in all {
            let Some((at, how)) = t.ended else { continue };
            let life = (at - t.opened).as_secs_f64();
            let what = match (answer_label(&t.answer), how) {
                (Some(answer), _) => answer,
                (None, None) => "closed without an answer".into(),
                (None, Some(kind)) => format!("ended without an answer ({kind:?})"),
            };
            let entry = by
                .entry((what, lifetime_bucket(life)))
                .or_insert((0, f64::MAX, 0.0));
            entry.0 += 1;
            entry.1 = entry.1.min(life);
            entry.2 = entry.2.max(life);
        }
        by.iter()
            .map(|((what, bucket), (n, shortest, longest))| {
                if *bucket == 0 {
                    format!(
                        "{} {what} at once ({shortest:.2}–{longest:.2} s)",
                        count(*n)
                    )
                } else {
                    format!(
                        "{} {what} {shortest:.1}–{longest:.1} s after opening",
                        count(*n)
                    )
                }
            })
            .collect()
    }
}

/// Start a nonblocking connect to `addr` from the IPv4 address `source`
/// (mio connects only from any address).
pub(super) fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> io::Result<MioStream> {
    let SocketAddr::V4(to) = addr else {
        return Err(ErrorKind::Unsupported.into());
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a plain system call with no pointer.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket just opened and owned by nothing else; the
    // stream closes it, on the error paths below too.
    let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let local = sockaddr(source, 0);
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes for the call.
    if unsafe { libc::bind(fd, (&raw const local).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: as above, for `remote`.
    if unsafe { libc::connect(fd, (&raw const remote).cast(), len) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(MioStream::from_std(stream))
}

/// The kernel's counters of a listen queue that overflowed.
pub(super) const KERNEL_COUNTERS: [&str; 3] = ["ListenOverflows", "ListenDrops", "SyncookiesSent"];

/// The lifetimes a socket's end is told in: 0 at once, 1 within 5 s, 2
/// later.
pub(super) fn lifetime_bucket(life: f64) -> u8 {
    if life < AT_ONCE.as_secs_f64() {
        0
    } else if life < 5.0 {
        1
    } else {
        2
    }
}

/// What a server's first bytes say: an HTTP status line, a TLS alert, or
/// `None` for nothing.
pub(super) fn answer_label(answer: &[u8]) -> Option<String> {
    if answer.is_empty() {
        return None;
    }
    if let Some(rest) = answer.strip_prefix(b"HTTP/1.1 ") {
        let status = String::from_utf8_lossy(&rest[..rest.len().min(3)]).into_owned();
        return Some(format!("answered {status}"));
    }
    if answer[0] == 0x15 {
        return Some("answered with a TLS alert".into());
    }
    Some(format!("answered {} other bytes", answer.len()))
}

/// A valid upgrade request to `/echo`.
pub(super) fn request_head() -> Vec<u8> {
    format!(
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        syncws::protocol::handshake::generate_key()
    )
    .into_bytes()
}

/// A [`Trickle`] of `full` sockets (at full size) from `source` (any
/// address if `None`), sending `bytes` one every `every` for `secs`;
/// `what` tells them after their count.
#[expect(
    clippy::too_many_arguments,
    reason = "a flood's shape, named at each call"
)]
pub(super) fn flood(
    source: Option<Ipv4Addr>,
    target: &Target,
    scale: Scale,
    full: usize,
    bytes: &[u8],
    every: Duration,
    secs: f64,
    what: &str,
) -> Res<Found> {
    let mut notes = Vec::new();
    let sockets = scale.sockets(full, &mut notes);
    let duration = scale.secs(secs);
    let mut happened = Trickle {
        source,
        sockets,
        bytes,
        every,
        duration,
    }
    .run(target.addr())?;
    happened.extend(notes);
    Ok(Found {
        load: format!(
            "{} sockets{what}, {:.0} s",
            count(sockets as u64),
            duration.as_secs_f64()
        ),
        happened,
    })
}

pub(super) fn slowloris(target: &Target, scale: Scale) -> Res<Found> {
    slowloris_from(None, "", target, scale)
}

/// Slowloris from 127.0.0.2 against `max_connections_per_peer`, while the
/// good client connects from 127.0.0.1.
pub(super) fn slowloris_per_peer(target: &Target, scale: Scale) -> Res<Found> {
    let source = Some(Ipv4Addr::new(127, 0, 0, 2));
    let limit = format!(", max_connections_per_peer {ATTACKED_PER_PEER}");
    slowloris_from(source, &limit, target, scale)
}

/// 7,000 sockets from `source` sending a valid request head one byte
/// every 3 s for 25 s; `limit` names the server's limit, if any.
pub(super) fn slowloris_from(
    source: Option<Ipv4Addr>,
    limit: &str,
    target: &Target,
    scale: Scale,
) -> Res<Found> {
    let every = Duration::from_secs(3);
    let from = source.map_or(String::new(), |s| format!(" from {s}"));
    let what = format!(
        "{from}, a valid request head one byte every {} s{limit}",
        every.as_secs()
    );
    let head = request_head();
    flood(source, target, scale, 7_000, &head, every, 25.0, &what)
}

pub(super) fn silent(target: &Target, scale: Scale) -> Res<Found> {
    let what = " that send nothing";
    flood(None, target, scale, 7_000, &[], Duration::ZERO, 25.0, what)
}

pub(super) fn tls_trickle(target: &Target, scale: Scale) -> Res<Found> {
    let every = Duration::from_secs(5);
    let hello = client_hello()?;
    let what = format!(
        ", a TLS ClientHello ({} bytes) one byte every {} s, against wss",
        hello.len(),
        every.as_secs()
    );
    flood(None, target, scale, 3_000, &hello, every, 30.0, &what)
}

/// The bytes of a TLS ClientHello, as native-tls's client sends it.
pub(super) fn client_hello() -> Res<Vec<u8>> {
    /// A stream that keeps what is written and has nothing to read.
    struct Capture(Vec<u8>);
    impl Read for Capture {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(ErrorKind::WouldBlock.into())
        }
    }
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let connector = native_tls::TlsConnector::new().map_err(|e| format!("TLS connector: {e}"))?;
    match connector.connect("localhost", Capture(Vec::new())) {
        Err(native_tls::HandshakeError::WouldBlock(mid)) if !mid.get_ref().0.is_empty() => {
            Ok(mid.get_ref().0.clone())
        }
        _ => Err("no ClientHello captured".into()),
    }
}

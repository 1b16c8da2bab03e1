//! The client through real proxies: Debian's `tinyproxy` (HTTP `CONNECT`,
//! with and without Basic authentication) and `dante-server` (SOCKS5, with
//! no authentication and with username/password), each started by the test
//! on a free loopback port and stopped by its pid when the test ends; and
//! proxies of the test's own that never answer or trickle, for the
//! deadlines.
//!
//! Skipped, with a note, when `tinyproxy` or `danted` is not installed and
//! `CI` is not set; with `CI` set that is a failure (`scripts/test-all.sh`
//! installs them). The SOCKS username/password test needs root as well (a
//! PAM service file, see [`dante`]) and `db_load` (`db-util`). Without the
//! `native-tls` feature only the `ws://` halves run.

mod child;
#[path = "common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use child::TempDir;
use common::{Peer, TIMEOUT, eventually};

use syncws::{
    ClientBuilder, Config, Error, HandshakeError, Message, Server, ServerHandle, SocksRefusal,
    Timeout,
};

/// How long a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The credentials the authenticating proxies accept.
const USER: &str = "alice";
const PASSWORD: &str = "s3cret-p4ss";

// ---------------------------------------------------------------- tools

/// The binary `name` on the `PATH`, or in the usual system directories
/// (`danted` is in `/usr/sbin`, which a user's `PATH` may lack).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The tool, or `None` after a note when it is missing and this is not CI.
fn tool_or_skip(name: &str, package: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {name} is not installed (apt-get install -y {package})")
        }
        None => {
            eprintln!(
                "note: proxy test skipped: {name} is not installed (apt-get install -y {package})"
            );
            None
        }
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .map(|uids| uids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A port that was free a moment ago (the proxies cannot bind port 0 and
/// say which they got): bound, read and released. Another process may take
/// it meanwhile; [`Daemon::start`] then tries another.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A proxy process listening on `127.0.0.1:port`, stopped by its pid on
/// drop (so a failing assertion stops it too).
struct Daemon {
    child: Child,
    port: u16,
    /// Its stdout and stderr.
    log: PathBuf,
    /// Stop it with SIGTERM first, so that it stops its own children.
    terminate: bool,
    /// Removed after the process is gone.
    extra_file: Option<PathBuf>,
    dir: TempDir,
}

impl Daemon {
    /// Start `command(port, dir)` on a free port and wait until it accepts
    /// connections; a few ports are tried, since one may be taken between
    /// [`free_port`] and the daemon's bind.
    fn start(
        what: &str,
        dir: TempDir,
        terminate: bool,
        command: impl Fn(u16, &Path) -> Command,
    ) -> Daemon {
        let log = dir.path().join(format!("{what}.log"));
        for _attempt in 0..5 {
            let port = free_port();
            let output = File::create(&log).expect("create the log file");
            let mut child = command(port, dir.path())
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .spawn()
                .unwrap_or_else(|e| panic!("start {what}: {e}"));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    // Exited: most likely the port was taken; try another.
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Daemon {
                        child,
                        port,
                        log,
                        terminate,
                        extra_file: None,
                        dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{what} did not listen within {START_TIMEOUT:?}: {}",
                        read(&log)
                    );
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("{what} would not start: {}", read(&log));
    }

    /// What the daemon has logged so far.
    fn log(&self) -> String {
        read(&self.log)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.terminate {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(file) = &self.extra_file {
            let _ = std::fs::remove_file(file);
        }
        let _ = &self.dir;
    }
}

// ----------------------------------------------------------- tinyproxy

/// tinyproxy in the foreground, allowing `CONNECT` to `connect_ports` only,
/// asking for Basic authentication when `basic_auth`.
fn tinyproxy(basic_auth: bool, connect_ports: &[u16]) -> Option<Daemon> {
    let binary = tool_or_skip("tinyproxy", "tinyproxy")?;
    let ports: Vec<u16> = connect_ports.to_vec();
    Some(Daemon::start(
        "tinyproxy",
        TempDir::new("tinyproxy"),
        false,
        move |port, dir| {
            let mut config = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\n\
                 MaxClients 100\nAllow 127.0.0.1\n"
            );
            for allowed in &ports {
                config.push_str(&format!("ConnectPort {allowed}\n"));
            }
            if basic_auth {
                config.push_str(&format!("BasicAuth {USER} {PASSWORD}\n"));
            }
            let path = dir.join("tinyproxy.conf");
            std::fs::write(&path, config).expect("write the tinyproxy config");
            let mut command = Command::new(&binary);
            command.arg("-d").arg("-c").arg(path);
            command
        },
    ))
}

fn http_proxy_url(proxy: &Daemon, credentials: Option<(&str, &str)>) -> String {
    match credentials {
        Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{}", proxy.port),
        None => format!("http://127.0.0.1:{}", proxy.port),
    }
}

// --------------------------------------------------------------- dante

/// How a dante proxy authenticates its clients.
#[derive(Clone, Copy, PartialEq)]
enum SocksAuth {
    None,
    UsernamePassword,
}

/// danted on a free port, passing `CONNECT` to 127.0.0.0/8 except to
/// `blocked_port`, which its rules refuse.
///
/// With [`SocksAuth::UsernamePassword`] it checks `USER` and `PASSWORD`
/// through PAM (`socksmethod: pam.username`): dante's `username` method
/// would check the system's accounts, and a test should create none. The
/// PAM service is a file `/etc/pam.d/syncws-test-PID-N` (PAM reads services
/// from there only) using `pam_userdb` on a database in the test's
/// temporary directory, made with `db_load`; the file is removed when the
/// proxy stops. That needs root: otherwise the test is skipped, with a note
/// (a failure under CI). `pam_exec` would need no database, but it fails
/// under dante, which reaps the script's process itself.
fn dante(auth: SocksAuth, blocked_port: u16) -> Option<Daemon> {
    let binary = tool_or_skip("danted", "dante-server")?;
    let dir = TempDir::new("dante");
    let root = running_as_root();
    let mut pam_service = None;
    if auth == SocksAuth::UsernamePassword {
        let db_load = tool_or_skip("db_load", "db-util")?;
        if !root {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the SOCKS5 authentication test needs root (a PAM service file)"
            );
            eprintln!("note: SOCKS5 authentication test skipped: it needs root (a PAM service)");
            return None;
        }
        let mut load = Command::new(db_load)
            .args(["-T", "-t", "hash"])
            .arg(dir.path().join("users.db"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("run db_load");
        load.stdin
            .take()
            .unwrap()
            .write_all(format!("{USER}\n{PASSWORD}\n").as_bytes())
            .unwrap();
        assert!(load.wait().unwrap().success(), "db_load failed");
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "syncws-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let service = PathBuf::from("/etc/pam.d").join(&name);
        std::fs::write(
            &service,
            format!(
                "auth required pam_userdb.so db={}\naccount required pam_permit.so\n",
                dir.path().join("users").display()
            ),
        )
        .expect("write the PAM service file");
        pam_service = Some((name, service));
    }
    let service_name = pam_service.as_ref().map(|(name, _)| name.clone());
    let mut daemon = Daemon::start("danted", dir, true, move |port, dir| {
        let (method, pam_line) = match &service_name {
            Some(name) => ("pam.username", format!("    pam.servicename: {name}\n")),
            None => ("none", String::new()),
        };
        let users = if root {
            "user.privileged: root\nuser.unprivileged: nobody\n"
        } else {
            ""
        };
        let config = format!(
            "logoutput: stderr\n\
             internal: 127.0.0.1 port = {port}\n\
             external: 127.0.0.1\n\
             clientmethod: none\n\
             socksmethod: {method}\n\
             {users}\
             client pass {{\n    from: 127.0.0.1/32 to: 0.0.0.0/0\n}}\n\
             socks block {{\n    from: 0.0.0.0/0 to: 127.0.0.1/32 port = {blocked_port}\n    \
             command: connect\n    log: connect\n}}\n\
             socks pass {{\n    from: 127.0.0.1/32 to: 127.0.0.0/8\n    command: connect\n    \
             log: connect\n{pam_line}}}\n"
        );
        let path = dir.join("danted.conf");
        std::fs::write(&path, config).expect("write the dante config");
        let mut command = Command::new(&binary);
        command
            .arg("-f")
            .arg(path)
            .arg("-p")
            .arg(dir.join("danted.pid"));
        command
    });
    daemon.extra_file = pam_service.map(|(_, service)| service);
    Some(daemon)
}

// ------------------------------------------------------------- servers

fn echo_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .start(common::echo)
        .unwrap()
}

fn ws_url(server: &ServerHandle) -> String {
    format!("ws://127.0.0.1:{}/", server.local_addr().port())
}

/// A TLS echo server with a self-signed certificate for `localhost` only;
/// `None` when the crate is built without TLS.
struct TlsTarget {
    server: ServerHandle,
    cert_pem: String,
}

impl TlsTarget {
    #[cfg(feature = "native-tls")]
    fn start() -> Option<TlsTarget> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
        let identity =
            syncws::native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes())
                .unwrap();
        let server = Server::bind("127.0.0.1:0")
            .unwrap()
            .tls(identity)
            .unwrap()
            .start(common::echo)
            .unwrap();
        Some(TlsTarget { server, cert_pem })
    }

    #[cfg(not(feature = "native-tls"))]
    fn start() -> Option<TlsTarget> {
        None
    }

    fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// `wss://localhost:PORT/`: the certificate names `localhost`, not the
    /// proxy's address, so the check proves that TLS went to the server.
    #[cfg(feature = "native-tls")]
    fn client(&self) -> ClientBuilder {
        ClientBuilder::new(format!("wss://localhost:{}/", self.port()))
            .add_root_certificate(self.cert_pem.as_bytes())
            .unwrap()
    }

    #[cfg(not(feature = "native-tls"))]
    fn client(&self) -> ClientBuilder {
        unreachable!("no TLS target without TLS ({})", self.cert_pem)
    }
}

/// Send a message, read its echo, then the full-duplex scenario: 10,000
/// messages sent from another thread while this one reads them back.
fn echoes_full_duplex(mut ws: syncws::WebSocket) {
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send_text("through the tunnel").unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::from("through the tunnel")
    );
    common::a_client_reads_while_another_thread_sends(ws);
}

/// The error of a connection that must fail.
#[track_caller]
fn failure(builder: ClientBuilder) -> Error {
    match builder.connect() {
        Ok(ws) => panic!("connected: {ws:?}"),
        Err(e) => e,
    }
}

// ------------------------------------------------------ through tinyproxy

#[test]
fn ws_and_wss_through_an_http_proxy_echo_full_duplex() {
    let server = echo_server();
    let tls = TlsTarget::start();
    let mut ports = vec![server.local_addr().port()];
    ports.extend(tls.as_ref().map(TlsTarget::port));
    let Some(proxy) = tinyproxy(false, &ports) else {
        return;
    };
    let ws = ClientBuilder::new(ws_url(&server))
        .proxy(http_proxy_url(&proxy, None))
        .connect()
        .unwrap();
    echoes_full_duplex(ws);
    let mut expected = vec![format!("CONNECT 127.0.0.1:{}", ports[0])];
    if let Some(tls) = &tls {
        let wss = tls
            .client()
            .proxy(http_proxy_url(&proxy, None))
            .connect()
            .unwrap();
        echoes_full_duplex(wss);
        expected.push(format!("CONNECT localhost:{}", tls.port()));
    }
    // Each went through the proxy, which logged its CONNECT.
    for expected in expected {
        eventually("the proxy logs the CONNECT", TIMEOUT, || {
            proxy.log().contains(&expected)
        });
    }
}

#[test]
fn an_http_proxy_with_basic_authentication_admits_only_its_credentials() {
    let server = echo_server();
    let tls = TlsTarget::start();
    let mut ports = vec![server.local_addr().port()];
    ports.extend(tls.as_ref().map(TlsTarget::port));
    let Some(proxy) = tinyproxy(true, &ports) else {
        return;
    };
    let good = http_proxy_url(&proxy, Some((USER, PASSWORD)));
    echoes_full_duplex(
        ClientBuilder::new(ws_url(&server))
            .proxy(&good)
            .connect()
            .unwrap(),
    );
    if let Some(tls) = &tls {
        echoes_full_duplex(tls.client().proxy(&good).connect().unwrap());
    }

    // No credentials: the proxy's 407 with its challenge, not the server's
    // refusal.
    let error = failure(ClientBuilder::new(ws_url(&server)).proxy(http_proxy_url(&proxy, None)));
    match &error {
        Error::Handshake(HandshakeError::ProxyRefused { status, headers }) => {
            assert_eq!(*status, 407);
            assert!(
                headers
                    .get("Proxy-Authenticate")
                    .is_some_and(|challenge| challenge.starts_with("Basic")),
                "{headers:?}"
            );
        }
        other => panic!("expected the proxy's 407, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "handshake failed: the HTTP proxy refused the tunnel with HTTP 407"
    );

    // Wrong credentials: tinyproxy 1.11 answers those with 401 (and 407
    // when there are none); either way it is the proxy's refusal, and the
    // password is nowhere in what the caller sees.
    let wrong = http_proxy_url(&proxy, Some((USER, "not-the-password")));
    let mut builders = vec![ClientBuilder::new(ws_url(&server)).proxy(&wrong)];
    builders.extend(tls.as_ref().map(|tls| tls.client().proxy(&wrong)));
    for builder in builders {
        let shown_before = format!("{builder:?}");
        assert!(!shown_before.contains("not-the-password"), "{shown_before}");
        let error = failure(builder);
        assert!(
            matches!(
                error,
                Error::Handshake(HandshakeError::ProxyRefused {
                    status: 401 | 407,
                    ..
                })
            ),
            "{error:?}"
        );
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("proxy"), "{shown}");
        assert!(!shown.contains("not-the-password"), "{shown}");
    }
}

#[test]
fn an_http_proxy_refusing_a_port_or_failing_to_reach_it_is_the_proxys_refusal() {
    let server = echo_server();
    let dead_port = free_port();
    // CONNECT is allowed to the dead port only: the server's is forbidden.
    let Some(proxy) = tinyproxy(false, &[dead_port]) else {
        return;
    };
    let forbidden =
        failure(ClientBuilder::new(ws_url(&server)).proxy(http_proxy_url(&proxy, None)));
    assert!(
        matches!(
            forbidden,
            Error::Handshake(HandshakeError::ProxyRefused { status: 403, .. })
        ),
        "{forbidden:?}"
    );
    // Nothing listens there: tinyproxy says 500 "Unable to connect".
    let unreachable = failure(
        ClientBuilder::new(format!("ws://127.0.0.1:{dead_port}/"))
            .proxy(http_proxy_url(&proxy, None)),
    );
    match unreachable {
        Error::Handshake(HandshakeError::ProxyRefused { status, .. }) => {
            assert!(matches!(status, 500 | 502 | 503), "{status}")
        }
        other => panic!("expected the proxy's refusal, got {other:?}"),
    }
}

// ---------------------------------------------------------- through dante

#[test]
fn ws_and_wss_through_a_socks5_proxy_echo_full_duplex() {
    let server = echo_server();
    let tls = TlsTarget::start();
    let Some(proxy) = dante(SocksAuth::None, free_port()) else {
        return;
    };
    let socks5 = format!("socks5://127.0.0.1:{}", proxy.port);
    let socks5h = format!("socks5h://127.0.0.1:{}", proxy.port);
    for proxy_url in [&socks5, &socks5h] {
        echoes_full_duplex(
            ClientBuilder::new(ws_url(&server))
                .proxy(proxy_url)
                .connect()
                .unwrap(),
        );
    }
    // The client resolves `localhost` (socks5), or the proxy does (socks5h).
    if let Some(tls) = &tls {
        for proxy_url in [&socks5, &socks5h] {
            echoes_full_duplex(tls.client().proxy(proxy_url).connect().unwrap());
        }
    }
    eventually("the proxy logs the connections", TIMEOUT, || {
        let log = proxy.log();
        log.matches(&format!("127.0.0.1.{}", server.local_addr().port()))
            .count()
            >= 2
            && tls
                .as_ref()
                .is_none_or(|tls| log.matches(&format!("127.0.0.1.{}", tls.port())).count() >= 2)
    });
}

#[test]
fn a_socks5_proxy_names_why_it_refused() {
    let server = echo_server();
    let blocked = echo_server();
    let dead_port = free_port();
    let Some(proxy) = dante(SocksAuth::None, blocked.local_addr().port()) else {
        return;
    };
    let socks5 = format!("socks5://127.0.0.1:{}", proxy.port);
    let refused =
        failure(ClientBuilder::new(format!("ws://127.0.0.1:{dead_port}/")).proxy(&socks5));
    assert!(
        matches!(
            refused,
            Error::Handshake(HandshakeError::SocksRefused(SocksRefusal::Reply(5)))
        ),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "handshake failed: the SOCKS5 proxy refused: \
         connection refused by destination host (reply 5)"
    );
    let not_allowed = failure(ClientBuilder::new(ws_url(&blocked)).proxy(&socks5));
    assert!(
        matches!(
            not_allowed,
            Error::Handshake(HandshakeError::SocksRefused(SocksRefusal::Reply(2)))
        ),
        "{not_allowed:?}"
    );
    // Credentials offered to a proxy that needs none are not in the way.
    let with_credentials = format!("socks5://{USER}:{PASSWORD}@127.0.0.1:{}", proxy.port);
    echoes_full_duplex(
        ClientBuilder::new(ws_url(&server))
            .proxy(with_credentials)
            .connect()
            .unwrap(),
    );
}

#[test]
fn a_socks5_proxy_with_username_and_password_admits_only_its_credentials() {
    let server = echo_server();
    let tls = TlsTarget::start();
    let Some(proxy) = dante(SocksAuth::UsernamePassword, free_port()) else {
        return;
    };
    let good = format!("socks5h://{USER}:{PASSWORD}@127.0.0.1:{}", proxy.port);
    echoes_full_duplex(
        ClientBuilder::new(ws_url(&server))
            .proxy(&good)
            .connect()
            .unwrap(),
    );
    if let Some(tls) = &tls {
        echoes_full_duplex(tls.client().proxy(&good).connect().unwrap());
    }

    // Dante accepts any credentials in the RFC 1929 exchange and checks
    // them (through PAM) against its rules once it has the request, so it
    // answers a wrong password with reply 2, "not allowed by ruleset"; a
    // proxy that checks at once answers BadCredentials (see the unit tests
    // of src/client/socks.rs).
    let wrong = format!("socks5://{USER}:not-the-password@127.0.0.1:{}", proxy.port);
    let error = failure(ClientBuilder::new(ws_url(&server)).proxy(&wrong));
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::SocksRefused(
                SocksRefusal::BadCredentials | SocksRefusal::Reply(2)
            ))
        ),
        "{error:?}; the proxy's log: {}",
        proxy.log()
    );
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("not-the-password"), "{shown}");

    let none = format!("socks5://127.0.0.1:{}", proxy.port);
    let error = failure(ClientBuilder::new(ws_url(&server)).proxy(&none));
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::SocksRefused(
                SocksRefusal::NoAcceptableMethod
            ))
        ),
        "{error:?}"
    );
}

// ---------------------------------------- proxies that never answer or trickle

/// A "proxy" of the test's own: accepts one connection and hands it to
/// `behave`, on a thread the test joins.
fn fake_proxy(behave: impl FnOnce(TcpStream) + Send + 'static) -> (u16, Peer<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = Peer::spawn("fake proxy", move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        behave(stream);
    });
    (port, peer)
}

/// Read until the client hangs up (or `TIMEOUT`), answering nothing.
fn say_nothing(mut stream: TcpStream) {
    let mut buf = [0; 512];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Answer a byte at a time, every 20 ms, a head that never ends, until the
/// client hangs up.
fn trickle(mut stream: TcpStream) {
    let mut buf = [0; 512];
    let _ = stream.read(&mut buf);
    let head = b"HTTP/1.1 200 Connection established\r\n";
    let endless = head.iter().chain(b"X-Slow: y\r\n".iter().cycle());
    for (sent, byte) in endless.enumerate() {
        if sent > 1000 || stream.write_all(&[*byte]).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_proxy_that_never_answers_gives_the_handshake_or_connect_timeout() {
    for scheme in ["http", "socks5", "socks5h"] {
        // The handshake deadline ends first.
        let (port, peer) = fake_proxy(say_nothing);
        let started = Instant::now();
        let error = failure(
            ClientBuilder::new("ws://localhost:9/")
                .proxy(format!("{scheme}://127.0.0.1:{port}"))
                .config(Config::default().handshake_timeout(Some(Duration::from_millis(300)))),
        );
        assert!(
            matches!(error, Error::Timeout(Timeout::Handshake)),
            "{scheme}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{scheme}");
        peer.join();

        // The connect timeout ends first.
        let (port, peer) = fake_proxy(say_nothing);
        let started = Instant::now();
        let error = failure(
            ClientBuilder::new("ws://localhost:9/")
                .proxy(format!("{scheme}://127.0.0.1:{port}"))
                .connect_timeout(Duration::from_millis(300))
                .config(Config::default().handshake_timeout(Some(Duration::from_secs(30)))),
        );
        assert!(
            matches!(error, Error::Timeout(Timeout::Connect)),
            "{scheme}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{scheme}");
        peer.join();
    }
}

#[test]
fn a_proxy_that_trickles_its_answer_cannot_stretch_the_deadline() {
    let (port, peer) = fake_proxy(trickle);
    let started = Instant::now();
    let error = failure(
        ClientBuilder::new("ws://example.invalid:9001/")
            .proxy(format!("http://127.0.0.1:{port}"))
            .config(Config::default().handshake_timeout(Some(Duration::from_millis(500)))),
    );
    assert!(
        matches!(error, Error::Timeout(Timeout::Handshake)),
        "{error:?}"
    );
    // Every read was re-armed with the time left, not a fresh 500 ms.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    println!("a trickling proxy: Timeout::Handshake after {elapsed:?} (deadline 500 ms)");
    peer.join();
}

#[test]
fn a_proxy_url_that_cannot_be_used_is_a_url_error() {
    for url in ["ftp://127.0.0.1:21", "https://127.0.0.1:3128", "http://h:0"] {
        let error = failure(ClientBuilder::new("ws://127.0.0.1:9/").proxy(url));
        assert!(matches!(error, Error::Url(_)), "{url}: {error:?}");
    }
}

//! The demo's pages in a real browser: headless Chromium driven through the
//! Chrome DevTools Protocol, which is JSON over a WebSocket, spoken here with
//! our own client. Assertions are on what the pages show (their DOM).
//!
//! Skipped, with a note, when Chromium is not installed and `CI` is not
//! set; with `CI` set a missing Chromium is a failure. `CHROMIUM` names the
//! binary to use, if not `chromium` (or a like name) on the `PATH`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use child::TempDir;
use syncws::{Message, WebSocket};

mod child;
#[path = "../examples/common/demo_server.rs"]
mod demo_server;

/// How long a page may take to show what is awaited.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long Chromium may take to start, or to answer one command.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the DOM is looked at while waiting.
const POLL: Duration = Duration::from_millis(50);

/// One browser at a time: they are heavy, and timing is steadier so.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

fn one_browser() -> MutexGuard<'static, ()> {
    ONE_BROWSER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The Chromium binary: `$CHROMIUM`, or the first of the usual names on the
/// `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A headless Chromium, or `None` (after a note) when there is none and
/// this is not CI.
fn browser_or_skip() -> Option<Browser> {
    match find_chromium() {
        Some(path) => Some(Browser::launch(&path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but Chromium is not installed (apt-get install -y chromium)")
        }
        None => {
            eprintln!(
                "note: browser test skipped: Chromium is not installed \
                 (apt-get install -y chromium, or set CHROMIUM)"
            );
            None
        }
    }
}

/// The demo, in-process on a free port.
///
/// Dropping it stops it, and `stop` waits up to 5 s for sockets that never
/// sent a request (Chromium opens spare connections in advance): drop it
/// after the browser.
fn start_demo() -> demo_server::Demo {
    demo_server::start("127.0.0.1:0").expect("start the demo on a free port")
}

/// A headless Chromium with its DevTools endpoint; closed and killed on
/// drop.
struct Browser {
    child: Child,
    /// `127.0.0.1:port` of the DevTools endpoint.
    devtools: String,
    connection: Cdp,
    // Last: removed once the browser is gone.
    dir: TempDir,
}

impl Browser {
    fn launch(chromium: &Path) -> Browser {
        let dir = TempDir::new("browser");
        let profile = dir.path().join("profile");
        let log = File::create(dir.path().join("chromium.log")).expect("create the log file");
        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-port=0",
                "--window-size=1000,700",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromium.display()));

        // Chromium writes its port and the browser's WebSocket path there.
        let active_port = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active_port) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.trim().to_owned(), path.trim().to_owned());
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "Chromium exited at start ({status}):\n{}",
                    log_tail(dir.path())
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("Chromium did not start in time:\n{}", log_tail(dir.path()));
            }
            std::thread::sleep(POLL);
        };
        let devtools = format!("127.0.0.1:{port}");
        let connection = Cdp::connect(&format!("ws://{devtools}{path}"));
        Browser {
            child,
            devtools,
            connection,
            dir,
        }
    }

    /// Open `url` in a new tab.
    fn open(&mut self, url: &str) -> Page {
        let reply = self.connection.call(
            "Target.createTarget",
            &format!("{{\"url\":{}}}", json_string(url)),
        );
        let target = string_after(&reply, "\"targetId\":")
            .unwrap_or_else(|| panic!("no targetId in {reply}"));
        Page {
            connection: Cdp::connect(&format!("ws://{}/devtools/page/{target}", self.devtools)),
            name: url.to_owned(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("Chromium's log:\n{}", log_tail(self.dir.path()));
        }
        // Politely first, then not.
        let _ = self.connection.send("Browser.close", "{}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(POLL);
        }
        #[cfg(unix)]
        {
            // The whole process group: the renderers too.
            let _ = Command::new("sh")
                .args([
                    "-c",
                    &format!("kill -KILL -- -{} 2>/dev/null", self.child.id()),
                ])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of Chromium's standard error.
fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromium.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A DevTools connection: commands with ids, and their replies.
struct Cdp {
    ws: WebSocket,
    next_id: u64,
}

impl Cdp {
    fn connect(url: &str) -> Cdp {
        // No Origin header: Chromium accepts DevTools clients without one.
        let mut ws = syncws::connect(url).unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        ws.set_read_timeout(Some(BROWSER_TIMEOUT)).unwrap();
        Cdp { ws, next_id: 0 }
    }

    /// Send a command; its id.
    fn send(&mut self, method: &str, params: &str) -> syncws::Result<u64> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws.send_text(&format!(
            "{{\"id\":{id},\"method\":{},\"params\":{params}}}",
            json_string(method)
        ))?;
        Ok(id)
    }

    /// Send a command and return its reply, skipping events (at most 1000).
    fn call(&mut self, method: &str, params: &str) -> String {
        let id = self
            .send(method, params)
            .unwrap_or_else(|e| panic!("send {method}: {e}"));
        let prefix = format!("{{\"id\":{id},");
        for _ in 0..1000 {
            match self.ws.read_message() {
                Ok(Message::Text(reply)) if reply.starts_with(&prefix) => {
                    if reply[prefix.len()..].starts_with("\"error\"") {
                        panic!("{method} failed: {reply}");
                    }
                    return reply;
                }
                Ok(_) => {}
                Err(e) => panic!("no reply to {method}: {e}"),
            }
        }
        panic!("no reply to {method} among 1000 messages");
    }
}

/// A tab.
struct Page {
    connection: Cdp,
    name: String,
}

impl Page {
    /// The value of a JavaScript expression, as a string; `Err` with the
    /// exception when it throws (or the page is between documents).
    fn eval(&mut self, expression: &str) -> Result<String, String> {
        let params = format!(
            "{{\"expression\":{},\"returnByValue\":true}}",
            json_string(&format!("String({expression})"))
        );
        let reply = self.connection.call("Runtime.evaluate", &params);
        if reply.contains("\"exceptionDetails\"") {
            return Err(reply);
        }
        string_after(&reply, "\"value\":").ok_or(reply)
    }

    /// The text of the element `id` as shown (`""` while it is not there).
    fn text(&mut self, id: &str) -> String {
        let id = json_string(id);
        self.eval(&format!(
            "document.getElementById({id}) ? document.getElementById({id}).innerText : ''"
        ))
        .unwrap_or_default()
    }

    /// The value of the input `id`.
    fn value(&mut self, id: &str) -> String {
        let id = json_string(id);
        self.eval(&format!("document.getElementById({id}).value"))
            .unwrap_or_else(|e| panic!("{}: no input {id}: {e}", self.name))
    }

    /// Poll the text of element `id` until `done` holds for it; return it.
    #[track_caller]
    fn wait_text(&mut self, id: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let text = self.text(id);
            if done(&text) {
                return text;
            }
            if Instant::now() > deadline {
                let body = self.text_of_body();
                panic!(
                    "{}: #{id} did not show {what} within {PAGE_TIMEOUT:?}; it shows:\n{text}\n\
                     The page shows:\n{body}",
                    self.name
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait until the text of element `id` contains `wanted`.
    #[track_caller]
    fn wait_for(&mut self, id: &str, wanted: &str) -> String {
        self.wait_text(id, &format!("{wanted:?}"), |text| text.contains(wanted))
    }

    fn text_of_body(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''")
            .unwrap_or_else(|e| e)
    }

    /// Type `text` into the input `id` as a user would, replacing what is
    /// there.
    fn type_into(&mut self, id: &str, text: &str) {
        let id = json_string(id);
        self.eval(&format!(
            "(() => {{ const e = document.getElementById({id}); e.focus(); e.select(); return e.id; }})()"
        ))
        .unwrap_or_else(|e| panic!("{}: cannot focus {id}: {e}", self.name));
        self.connection.call(
            "Input.insertText",
            &format!("{{\"text\":{}}}", json_string(text)),
        );
    }

    /// Click the button `id`.
    fn click(&mut self, id: &str) {
        let id = json_string(id);
        self.eval(&format!("document.getElementById({id}).click()"))
            .unwrap_or_else(|e| panic!("{}: cannot click {id}: {e}", self.name));
    }
}

/// `value` as a JSON (and JavaScript) string literal.
fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON string that follows the first `key` in `json`, unescaped.
fn string_after(json: &str, key: &str) -> Option<String> {
    let rest = &json[json.find(key)? + key.len()..];
    let mut chars = rest.trim_start().strip_prefix('"')?.chars();
    let mut out = String::new();
    let mut pending_high: Option<u32> = None;
    loop {
        let c = chars.next()?;
        let unit = match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => '\n' as u32,
                'r' => '\r' as u32,
                't' => '\t' as u32,
                'b' => 0x08,
                'f' => 0x0c,
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    u32::from_str_radix(&hex, 16).ok()?
                }
                other => other as u32,
            },
            c => c as u32,
        };
        match (pending_high.take(), unit) {
            (Some(high), 0xDC00..=0xDFFF) => {
                out.push(char::from_u32(
                    0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00),
                )?);
            }
            (high, 0xD800..=0xDBFF) => {
                if high.is_some() {
                    out.push('\u{FFFD}');
                }
                pending_high = Some(unit);
            }
            (high, unit) => {
                if high.is_some() {
                    out.push('\u{FFFD}');
                }
                out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
            }
        }
    }
}

#[test]
fn json_strings_round_trip() {
    for s in [
        "",
        "plain",
        "quote \" and \\ back",
        "line\nbreak\ttab",
        "é ✓ 😀",
    ] {
        let json = format!("{{\"value\":{}}}", json_string(s));
        assert_eq!(string_after(&json, "\"value\":").as_deref(), Some(s));
    }
    let escaped = r#"{"value":"\u00e9 \ud83d\ude00 \/"}"#;
    assert_eq!(
        string_after(escaped, "\"value\":").as_deref(),
        Some("é 😀 /")
    );
}

#[test]
fn echo_page_shows_the_response_to_what_was_sent() {
    let _one = one_browser();
    // The demo is declared first so that it is dropped last, once the
    // browser has closed its sockets (see `start_demo`).
    let demo = start_demo();
    let Some(mut browser) = browser_or_skip() else {
        return;
    };
    let mut page = browser.open(&format!("{}/ws-echo-client", demo.http_base()));
    page.wait_for("log", "CONNECTED");
    assert_eq!(page.text("state"), "Connected");

    page.type_into("message", "hello from Chromium ✓");
    page.click("send");
    let log = page.wait_for("log", "RESPONSE: hello from Chromium ✓");
    assert!(log.contains("SENT: hello from Chromium ✓"), "{log}");
    page.type_into("message", "and again");
    page.click("send");
    let log = page.wait_for("log", "RESPONSE: and again");
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "CONNECTED",
            "SENT: hello from Chromium ✓",
            "RESPONSE: hello from Chromium ✓",
            "SENT: and again",
            "RESPONSE: and again",
        ],
        "{log}"
    );

    page.click("connect"); // "Disconnect"
    let log = page.wait_for("log", "DISCONNECTED");
    assert!(log.contains("DISCONNECTED: close code 1000"), "{log}");
    page.wait_for("state", "Disconnected");
    assert!(!log.contains("ERROR"), "{log}");
}

/// Chromium offers permessage-deflate on every connection and the demo
/// (deflate on by default) accepts it: the page's socket reports it in
/// `WebSocket.extensions`, and messages long enough to be compressed
/// (the threshold is 32 bytes) flow both ways.
#[cfg(feature = "deflate")]
#[test]
fn echo_page_negotiates_permessage_deflate() {
    let _one = one_browser();
    let demo = start_demo();
    let Some(mut browser) = browser_or_skip() else {
        return;
    };
    let mut page = browser.open(&format!("{}/ws-echo-client", demo.http_base()));
    page.wait_for("log", "CONNECTED");
    let extensions = page.eval("ws.extensions").unwrap();
    assert!(
        extensions.starts_with("permessage-deflate"),
        "the page's socket reports {extensions:?}"
    );
    println!("Chromium's socket reports extensions {extensions:?}");
    let long = "compressed both ways, compressed both ways, compressed both ways ✓";
    page.type_into("message", long);
    page.click("send");
    page.wait_for("log", &format!("RESPONSE: {long}"));
    // Sent and received on the same socket, still open and compressed.
    assert_eq!(page.eval("ws.extensions").unwrap(), extensions);
    assert!(!page.text("log").contains("ERROR"));
}

#[test]
fn status_page_shows_successive_reports() {
    let _one = one_browser();
    // The demo is declared first so that it is dropped last, once the
    // browser has closed its sockets (see `start_demo`).
    let demo = start_demo();
    let Some(mut browser) = browser_or_skip() else {
        return;
    };
    let mut page = browser.open(&format!("{}/ws-status-client", demo.http_base()));
    let first = page.wait_for("report", "Server time");
    let meta = page.wait_for("meta", "Report ");
    let second = page.wait_text("report", "a second, different report", |text| {
        !text.is_empty() && text != first
    });
    let later_meta = page.text("meta");
    assert_ne!(meta, later_meta);
    assert_eq!(page.text("state"), "Connected");

    // Each report replaces the view: one row per field, never appended.
    for field in [
        "Server time",
        "Uptime",
        "Open connections",
        "Messages in",
        "Messages out",
        "Bytes in",
        "Bytes out",
        "Threads",
        "Resident memory",
    ] {
        assert_eq!(second.matches(field).count(), 1, "{field}:\n{second}");
    }
    assert!(second.contains("/ws-status: 1"), "{second}");
    assert!(second.contains("/ws-echo: 0"), "{second}");
    let rows = page
        .eval("document.querySelectorAll('#report tr').length")
        .unwrap();
    assert_eq!(rows, "9");
    if cfg!(target_os = "linux") {
        assert!(!second.contains("not available"), "{second}");
    }
}

#[test]
fn chatroom_pages_show_each_others_messages_and_the_moderator() {
    let _one = one_browser();
    // The demo is declared first so that it is dropped last, once the
    // browser has closed its sockets (see `start_demo`).
    let demo = start_demo();
    let Some(mut browser) = browser_or_skip() else {
        return;
    };
    let url = format!("{}/ws-chatroom-client", demo.http_base());

    // Each page says hello on joining; seeing its own hello proves it is a
    // member, so it will see what follows.
    let mut first = browser.open(&url);
    first.wait_for("state", "Connected");
    let default_handle = first.value("handle");
    assert!(
        default_handle.starts_with("user-")
            && default_handle[5..].chars().all(|c| c.is_ascii_digit()),
        "{default_handle}"
    );
    first.wait_for("messages", &format!("{default_handle}>> hello"));
    let mut second = browser.open(&url);
    second.wait_for("state", "Connected");
    let second_default = second.value("handle");
    second.wait_for("messages", &format!("{second_default}>> hello"));
    first.wait_for("messages", &format!("{second_default}>> hello"));

    first.type_into("handle", "alice");
    second.type_into("handle", "bob");
    first.type_into("message", "hi bob");
    first.click("send");
    second.type_into("message", "hi alice, <b>not bold</b>");
    second.click("send");
    for page in [&mut first, &mut second] {
        page.wait_for("messages", "alice>> hi bob");
        page.wait_for("messages", "bob>> hi alice, <b>not bold</b>");
    }
    // The message field is emptied after sending.
    assert_eq!(first.value("message"), "");

    // The moderator, from outside the browser.
    assert_eq!(demo.moderator("welcome, both of you"), 2);
    first.wait_for("messages", "moderator>> welcome, both of you");
    second.wait_for("messages", "moderator>> welcome, both of you");

    // Close says goodbye.
    second.click("close");
    first.wait_for("messages", "bob>> goodbye");
    second.wait_for("state", "Disconnected");
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while demo.chatroom_members() != 1 {
        assert!(Instant::now() < deadline, "bob did not leave the room");
        std::thread::sleep(POLL);
    }
    let shown = first.text("messages");
    assert!(!shown.contains("the connection failed"), "{shown}");
}

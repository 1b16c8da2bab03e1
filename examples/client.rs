//! A command-line WebSocket client, in the manner of wscat.
//!
//! ```sh
//! cargo run --release --example client -- ws://127.0.0.1:1701/ws-echo
//! cargo run --release --example client -- --reconnect -H 'Authorization: Bearer 42' \
//!     --protocol chat.v2 --ca ca.pem --proxy http://proxy.internal:3128 wss://example.test/chat
//! ```
//!
//! Each line typed on standard input goes out as a text message; each
//! message received is printed on standard output, one per line (binary
//! ones as a hex summary). End of input (Ctrl-D) closes the connection; so
//! may the server. Either way the client prints the close code on standard
//! error and exits with status 0; it exits with 1 when the connection fails
//! (with `--reconnect`: when reconnecting gives up) and with 2 for a bad
//! command line. Run it with `--help` for the options.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use syncws::{
    ClientBuilder, CloseCode, DeflateConfig, Error, Message, Reconnect, Sender, WebSocket,
};

/// The most bytes of a binary message shown in hex.
const HEX_SHOWN: usize = 32;

const USAGE: &str = "usage: client [OPTIONS] ws://HOST:PORT/PATH | wss://…

options:
  -H, --header 'NAME: VALUE'  add a header to the handshake request (repeatable)
      --protocol NAME         offer a subprotocol (repeatable, in order of preference)
      --origin ORIGIN         send an Origin header, as a browser does
      --ca FILE               trust the root certificate in FILE (PEM) for wss://
      --insecure              accept any certificate for wss:// (encrypted, not authenticated)
      --proxy URL             through this proxy: http://[USER:PASS@]HOST:PORT, socks5://…,
                              socks5h://… (default: https_proxy, http_proxy, all_proxy, no_proxy)
      --no-proxy              connect directly, whatever the environment says
      --reconnect             when the connection is lost, connect again (backoff with jitter)
      --no-deflate            do not offer permessage-deflate (compression, offered by default)
  -h, --help                  show this text";

/// What the command line asks for.
struct Options {
    url: String,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    origin: Option<String>,
    ca: Option<String>,
    insecure: bool,
    proxy: Option<String>,
    no_proxy: bool,
    reconnect: bool,
    no_deflate: bool,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("client: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let builder = match builder(&options) {
        Ok(builder) => builder,
        Err(problem) => {
            eprintln!("client: {problem}");
            return ExitCode::from(2);
        }
    };
    if options.reconnect {
        run_reconnecting(&options.url, builder)
    } else {
        run_once(&options.url, builder)
    }
}

/// One connection: typed lines out, messages in, until either side closes.
fn run_once(url: &str, builder: ClientBuilder) -> ExitCode {
    let mut ws = match builder.connect() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("cannot connect to {url}: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    announce(url, &ws);
    let current = Arc::new(Mutex::new(Current::default()));
    current.lock().unwrap().sender = Some(ws.sender());
    spawn_input(Arc::clone(&current));
    match print_messages(&mut ws) {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

/// Connection after connection, until the server or the user closes for
/// good, or reconnecting gives up. Typed lines go to whichever connection
/// is up; a line typed while none is, is reported as not sent.
fn run_reconnecting(url: &str, builder: ClientBuilder) -> ExitCode {
    let current = Arc::new(Mutex::new(Current::default()));
    let mut input_started = false;
    for attempt in Reconnect::new(builder) {
        let mut ws = match attempt {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("gave up reconnecting to {url}: {}", chain(&e));
                return ExitCode::FAILURE;
            }
        };
        {
            let mut current = current.lock().unwrap();
            if current.input_ended {
                // Input ended while no connection was up: this one is
                // closed at once, which ends the loop.
                let _ = ws.close(CloseCode::Normal, "end of input");
                continue;
            }
            current.sender = Some(ws.sender());
        }
        // Said once lines typed from now on go to this connection.
        announce(url, &ws);
        if !input_started {
            spawn_input(Arc::clone(&current));
            input_started = true;
        }
        // A lost connection is reported, and the loop connects again; a
        // close the user asked for (end of input) ends the loop.
        let _ = print_messages(&mut ws);
        current.lock().unwrap().sender = None;
    }
    ExitCode::SUCCESS
}

fn announce(url: &str, ws: &WebSocket) {
    let mut agreed = Vec::new();
    if let Some(protocol) = ws.protocol() {
        agreed.push(format!("subprotocol {protocol}"));
    }
    if ws.deflate().is_some() {
        agreed.push("permessage-deflate".to_owned());
    }
    let agreed = match agreed.is_empty() {
        true => String::new(),
        false => format!(" ({})", agreed.join(", ")),
    };
    eprintln!(
        "connected to {url}{agreed}: type lines to send them, end of input (Ctrl-D) to close"
    );
}

/// What the input thread sends on: the connection that is up, if any.
#[derive(Default)]
struct Current {
    sender: Option<Sender>,
    /// Standard input has ended: the user is done.
    input_ended: bool,
}

/// Standard input on a thread of its own, sending on the connection that is
/// up while the main thread reads. At end of input the connection is
/// closed with 1000.
fn spawn_input(current: Arc<Mutex<Current>>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let sender = current.lock().unwrap().sender.clone();
            match sender {
                Some(sender) => {
                    if let Err(e) = sender.send_text(&line) {
                        eprintln!("not sent ({e}): {line}");
                    }
                }
                None => eprintln!("not sent (not connected): {line}"),
            }
        }
        let mut current = current.lock().unwrap();
        current.input_ended = true;
        if let Some(sender) = current.sender.take() {
            let _ = sender.send_close(CloseCode::Normal, "end of input");
        }
    });
}

/// Print every message until the connection ends: `Ok` when it closed
/// cleanly, `Err` when it failed (both said on standard error).
fn print_messages(ws: &mut WebSocket) -> Result<(), ()> {
    loop {
        match ws.read_message() {
            Ok(Message::Text(text)) => println!("{text}"),
            Ok(Message::Binary(data)) => println!("{}", hex_summary(&data)),
            Err(Error::Closed(frame)) => {
                eprintln!("closed: {frame}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("connection failed: {}", chain(&e));
                return Err(());
            }
        }
    }
}

/// The options, or `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut url = None;
    let mut options = Options {
        url: String::new(),
        headers: Vec::new(),
        protocols: Vec::new(),
        origin: None,
        ca: None,
        insecure: false,
        proxy: None,
        no_proxy: false,
        reconnect: false,
        no_deflate: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-H" | "--header" => {
                let header = value(&arg)?;
                let (name, value) = header
                    .split_once(':')
                    .ok_or(format!("{header:?} is not 'NAME: VALUE'"))?;
                options
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "--protocol" => options.protocols.push(value(&arg)?),
            "--origin" => options.origin = Some(value(&arg)?),
            "--ca" => options.ca = Some(value(&arg)?),
            "--insecure" => options.insecure = true,
            "--proxy" => options.proxy = Some(value(&arg)?),
            "--no-proxy" => options.no_proxy = true,
            "--reconnect" => options.reconnect = true,
            "--no-deflate" => options.no_deflate = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("a second URL: {arg}")),
            _ => url = Some(arg),
        }
    }
    options.url = url.ok_or("no URL")?;
    Ok(Some(options))
}

/// The client's settings from the options.
fn builder(options: &Options) -> Result<ClientBuilder, String> {
    let mut builder = ClientBuilder::new(&options.url);
    for (name, value) in &options.headers {
        builder = builder.header(name, value);
    }
    for protocol in &options.protocols {
        builder = builder.protocol(protocol);
    }
    if let Some(origin) = &options.origin {
        builder = builder.origin(origin);
    }
    if let Some(proxy) = &options.proxy {
        builder = builder.proxy(proxy);
    }
    if options.no_proxy {
        builder = builder.no_proxy();
    }
    if options.no_deflate {
        builder = builder.deflate(DeflateConfig::default().enabled(false));
    }
    tls(builder, options)
}

#[cfg(any(feature = "native-tls", feature = "rustls"))]
fn tls(mut builder: ClientBuilder, options: &Options) -> Result<ClientBuilder, String> {
    if let Some(path) = &options.ca {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        builder = builder
            .add_root_certificate(&pem)
            .map_err(|e| format!("{path}: {}", chain(&e)))?;
    }
    if options.insecure {
        builder = builder
            .danger_accept_invalid_certs()
            .map_err(|e| chain(&e))?;
    }
    Ok(builder)
}

#[cfg(not(any(feature = "native-tls", feature = "rustls")))]
fn tls(builder: ClientBuilder, options: &Options) -> Result<ClientBuilder, String> {
    if options.ca.is_some() || options.insecure {
        return Err(
            "--ca and --insecure need TLS: build with the native-tls or the rustls feature".into(),
        );
    }
    Ok(builder)
}

/// `[binary, 300 bytes] 00 01 02 ... (268 more)`.
fn hex_summary(data: &[u8]) -> String {
    let mut out = format!("[binary, {} bytes]", data.len());
    for byte in data.iter().take(HEX_SHOWN) {
        out.push_str(&format!(" {byte:02x}"));
    }
    if data.len() > HEX_SHOWN {
        out.push_str(&format!(" ... ({} more)", data.len() - HEX_SHOWN));
    }
    out
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

//! The syncws demo: the echo, status and chatroom examples with their
//! browser pages, on one server.
//!
//! ```sh
//! cargo run --release --example demo                    # http://127.0.0.1:1701/
//! cargo run --release --example demo -- --bind 0.0.0.0:8080
//! cargo run --release --example demo -- --tls-cert cert.pem --tls-key key.pem   # https:// and wss://
//! ```
//!
//! Open the printed address in a browser. Each line typed on standard input
//! is said in the chatroom by the moderator.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "common/demo_server.rs"]
mod demo_server;

const USAGE: &str = "usage: demo [--bind ADDR] [--tls-cert PEM --tls-key PEM]
  --bind ADDR      where to listen (default 127.0.0.1:1701; port 0 picks a free port)
  --tls-cert PEM   serve https:// pages and wss:// sockets with this certificate chain
  --tls-key PEM    and this private key (PKCS#8 PEM)";

/// What the command line asks for.
struct Options {
    addr: String,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("demo: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if log::set_logger(&Logger).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let identity = match tls_identity(&options) {
        Ok(identity) => identity,
        Err(why) => {
            eprintln!("demo: {why}");
            return ExitCode::from(2);
        }
    };
    let addr = options.addr;
    let demo = match demo_server::start_with_tls(addr.as_str(), identity) {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("demo: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", demo.describe());
    println!("Type a line and press Enter to say it in the chatroom as the moderator.");
    let _ = std::io::stdout().flush();

    // The moderator: standard input, line by line, into the chatroom. When
    // it ends (or there is none, as in CI) the demo goes on serving.
    let demo = std::sync::Arc::new(demo);
    let moderator = std::sync::Arc::clone(&demo);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim_end();
            if !line.is_empty() {
                let members = moderator.moderator(line);
                log::info!("moderator said {line:?} to {members} chatroom member(s)");
            }
        }
        log::info!("standard input closed: the moderator is silent from now on");
    });
    demo.handle().join();
    ExitCode::SUCCESS
}

/// The TLS identity asked for, if any.
fn tls_identity(options: &Options) -> Result<Option<demo_server::TlsIdentity>, String> {
    let (cert, key) = match (&options.tls_cert, &options.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err("--tls-cert and --tls-key go together".to_owned()),
    };
    #[cfg(feature = "native-tls")]
    {
        let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
        syncws::native_tls::Identity::from_pkcs8(&read(cert)?, &read(key)?)
            .map(Some)
            .map_err(|e| format!("bad TLS certificate or key: {e}"))
    }
    #[cfg(not(feature = "native-tls"))]
    {
        let _ = (cert, key);
        Err("this build has no TLS: build syncws with its `native-tls` feature".to_owned())
    }
}

/// What to do: `None` when help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        addr: demo_server::DEFAULT_ADDR.to_owned(),
        tls_cert: None,
        tls_key: None,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bind" => options.addr = value("an address")?,
            "--tls-cert" => options.tls_cert = Some(value("a PEM file")?),
            "--tls-key" => options.tls_key = Some(value("a PEM file")?),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(options))
}

/// Prints the library's log lines (connections opened and closed, refused
/// requests) to standard error, with the time of day (UTC).
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| t.as_secs());
            let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
            eprintln!(
                "{h:02}:{m:02}:{s:02} {:<5} {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

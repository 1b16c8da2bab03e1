//! The benchmark suite of syncws: the same load against syncws, an
//! equivalent tungstenite server and a raw TCP echo (and, for broadcast,
//! Node's `ws`), in one run. See BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml -- [--quick] [--only LIST]
//!     [--rounds N] [--secs S] [--idle-conns N] [--note TEXT] [--no-write]
//! syncws-bench serve syncws|syncws-hub|tungstenite|raw|attacked|attacked-budget --bind ADDR
//!     [--tls CERT KEY]
//! syncws-bench thread-names [N]
//! syncws-bench attacks [--only LIST] [--quick]
//! ```

mod attacks;
mod compressed;
mod procfs;
mod report;
mod serve;
mod servers;
mod thread_names;
mod wire;
mod workloads;
mod zwire;

use std::path::PathBuf;
use std::time::Instant;

use report::{Metric, Spec};
use servers::{Kind, Tls};
use workloads::{Outcome, Params};

macro_rules! metrics {
    ($($key:literal => $label:literal),* $(,)?) => { &[$(Metric { key: $key, label: $label }),*] };
}

const WS_KINDS: [Kind; 3] = [Kind::Syncws, Kind::Tungstenite, Kind::Raw];
/// The second comparison of most rows.
const TUNGSTENITE: Option<(Kind, &str)> = Some((Kind::Tungstenite, "tungstenite"));
/// The compressed rows: syncws, Node ws and Python websockets, each with
/// permessage-deflate on by its own defaults.
const DEFLATE_KINDS: [Kind; 3] = [Kind::SyncwsDeflate, Kind::NodeWsDeflate, Kind::PythonWs];
const PYTHON: Option<(Kind, &str)> = Some((Kind::PythonWs, "Python websockets"));
/// The `wss-rustls-*` rows: syncws's server on rustls, against the same
/// tungstenite and raw TCP+TLS servers (native-tls) as the `wss-*` rows,
/// with the same client (native-tls) for all.
const RUSTLS_KINDS: [Kind; 3] = [Kind::SyncwsRustls, Kind::Tungstenite, Kind::Raw];

static SPECS: &[Spec] = &[
    Spec {
        id: "idle",
        title: "10,000 idle connections",
        unit: "conn",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["kib_per_conn" => "server memory KiB/conn"],
    },
    Spec {
        id: "pingpong",
        title: "64 connections × 32-byte ping-pong",
        unit: "round trip",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip",
            "cpu_user" => "user part, µs/round trip", "cpu_sys" => "system part, µs/round trip"],
    },
    Spec {
        id: "pingpong-pinned",
        title: "1 connection × 32-byte ping-pong, one core",
        unit: "round trip",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip"],
    },
    Spec {
        id: "echo-16m",
        title: "16 MiB binary echo",
        unit: "MiB",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["mb_per_s" => "MB/s echoed", "cpu" => "server CPU ms/MiB",
            "cpu_user" => "user part, ms/MiB", "cpu_sys" => "system part, ms/MiB"],
    },
    Spec {
        id: "pipeline",
        title: "4 connections × 64 in flight × 1 KiB",
        unit: "message",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "messages/s", "cpu" => "server CPU µs/message",
            "cpu_user" => "user part, µs/message", "cpu_sys" => "system part, µs/message"],
    },
    Spec {
        id: "connect",
        title: "connect, one message, close",
        unit: "connection",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "connections/s", "cpu" => "server CPU µs/connection",
            "cpu_user" => "user part, µs/connection", "cpu_sys" => "system part, µs/connection"],
    },
    Spec {
        id: "broadcast",
        title: "broadcast: 1,000 subscribers × 100-byte messages",
        unit: "delivery",
        subject: Kind::SyncwsHub,
        baseline: Kind::NodeWs,
        baseline_label: "Node ws",
        peer: None,
        metrics: metrics!["per_s" => "deliveries/s", "p50_ms" => "p50 latency ms",
            "p99_ms" => "p99 latency ms", "cpu" => "server CPU µs/delivery"],
    },
    Spec {
        id: "wss-idle",
        title: "2,000 idle connections over TLS",
        unit: "conn",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["kib_per_conn" => "server memory KiB/conn"],
    },
    Spec {
        id: "wss-echo-16m",
        title: "16 MiB binary echo over TLS",
        unit: "MiB",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["mb_per_s" => "MB/s echoed", "cpu" => "server CPU ms/MiB",
            "cpu_user" => "user part, ms/MiB", "cpu_sys" => "system part, ms/MiB"],
    },
    Spec {
        id: "wss-pingpong",
        title: "64 connections × 32-byte ping-pong over TLS",
        unit: "round trip",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip",
            "cpu_user" => "user part, µs/round trip", "cpu_sys" => "system part, µs/round trip"],
    },
    Spec {
        id: "wss-connect",
        title: "connect over TLS, one message, close",
        unit: "connection",
        subject: Kind::Syncws,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "connections/s", "cpu" => "server CPU µs/connection",
            "cpu_user" => "user part, µs/connection", "cpu_sys" => "system part, µs/connection"],
    },
    Spec {
        id: "wss-rustls-idle",
        title: "2,000 idle connections over TLS, syncws on rustls",
        unit: "conn",
        subject: Kind::SyncwsRustls,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["kib_per_conn" => "server memory KiB/conn"],
    },
    Spec {
        id: "wss-rustls-echo-16m",
        title: "16 MiB binary echo over TLS, syncws on rustls",
        unit: "MiB",
        subject: Kind::SyncwsRustls,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["mb_per_s" => "MB/s echoed", "cpu" => "server CPU ms/MiB",
            "cpu_user" => "user part, ms/MiB", "cpu_sys" => "system part, ms/MiB"],
    },
    Spec {
        id: "wss-rustls-pingpong",
        title: "64 connections × 32-byte ping-pong over TLS, syncws on rustls",
        unit: "round trip",
        subject: Kind::SyncwsRustls,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip",
            "cpu_user" => "user part, µs/round trip", "cpu_sys" => "system part, µs/round trip"],
    },
    Spec {
        id: "wss-rustls-connect",
        title: "connect over TLS, one message, close, syncws on rustls",
        unit: "connection",
        subject: Kind::SyncwsRustls,
        baseline: Kind::Raw,
        baseline_label: "raw TCP+TLS",
        peer: TUNGSTENITE,
        metrics: metrics!["per_s" => "connections/s", "cpu" => "server CPU µs/connection",
            "cpu_user" => "user part, µs/connection", "cpu_sys" => "system part, µs/connection"],
    },
    Spec {
        id: "deflate-chat",
        title: "16 connections × ~220-byte JSON chat message, compressed",
        unit: "round trip",
        subject: Kind::SyncwsDeflate,
        baseline: Kind::NodeWsDeflate,
        baseline_label: "Node ws",
        peer: PYTHON,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip",
            "bytes" => "bytes on the wire/round trip", "compressed" => "echoes compressed, %"],
    },
    Spec {
        id: "deflate-doc",
        title: "4 connections × 64 KiB JSON document, compressed",
        unit: "round trip",
        subject: Kind::SyncwsDeflate,
        baseline: Kind::NodeWsDeflate,
        baseline_label: "Node ws",
        peer: PYTHON,
        metrics: metrics!["per_s" => "round trips/s", "cpu" => "server CPU µs/round trip",
            "bytes" => "bytes on the wire/round trip", "compressed" => "echoes compressed, %"],
    },
    Spec {
        id: "deflate-memory",
        title: "1,000 compressed connections: memory",
        unit: "conn",
        subject: Kind::SyncwsDeflate,
        baseline: Kind::NodeWsDeflate,
        baseline_label: "Node ws",
        peer: PYTHON,
        metrics: metrics!["kib_handshake" => "KiB/conn after the handshake",
            "kib_idle" => "KiB/conn after 20 messages each way, 6 s idle"],
    },
    Spec {
        id: "deflate-broadcast",
        title: "broadcast: 1,000 subscribers × ~220-byte chat messages, compressed",
        unit: "delivery",
        subject: Kind::SyncwsHubDeflate,
        baseline: Kind::SyncwsHub,
        baseline_label: "syncws uncompressed",
        peer: None,
        metrics: metrics!["per_s" => "deliveries/s", "p99_ms" => "p99 latency ms",
            "cpu" => "server CPU µs/delivery", "bytes" => "bytes on the wire/delivery"],
    },
];

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    note: Option<String>,
    write: bool,
    params: Params,
}

fn usage() -> ! {
    eprintln!(
        "usage: syncws-bench [--quick] [--only {}] [--rounds N] [--secs S] [--idle-conns N] \
         [--note TEXT] [--no-write]\n       syncws-bench serve KIND --bind ADDR [--tls CERT KEY]\n       syncws-bench thread-names [N]\n       syncws-bench attacks [--only LIST] [--quick]",
        SPECS.iter().map(|s| s.id).collect::<Vec<_>>().join(",")
    );
    std::process::exit(2);
}

fn parse(args: &[String]) -> Options {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Options {
        quick,
        only: None,
        note: None,
        write: true,
        params: if quick {
            Params::quick()
        } else {
            Params::full()
        },
    };
    let mut i = 0;
    let value = |i: usize| args.get(i + 1).cloned().unwrap_or_else(|| usage());
    while i < args.len() {
        match args[i].as_str() {
            "--quick" => {}
            "--no-write" => o.write = false,
            "--only" => {
                let list: Vec<String> = value(i).split(',').map(str::to_owned).collect();
                if let Some(bad) = list.iter().find(|w| !SPECS.iter().any(|s| s.id == **w)) {
                    eprintln!("unknown workload {bad}");
                    usage();
                }
                o.only = Some(list);
                i += 1;
            }
            "--note" => {
                o.note = Some(value(i));
                i += 1;
            }
            "--rounds" => {
                o.params.rounds = value(i).parse().unwrap_or_else(|_| usage());
                i += 1;
            }
            "--secs" => {
                o.params.secs = value(i).parse().unwrap_or_else(|_| usage());
                i += 1;
            }
            "--idle-conns" => {
                o.params.idle_conns = value(i).parse().unwrap_or_else(|_| usage());
                i += 1;
            }
            _ => usage(),
        }
        i += 1;
    }
    o
}

/// A subcommand's entry point, given the arguments after its name.
type Subcommand = fn(&[String]) -> wire::Res<()>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Subcommands other than the suite itself.
    let subcommands: [(&str, Subcommand); 3] = [
        ("serve", serve::main),
        ("thread-names", thread_names::main),
        ("attacks", attacks::main),
    ];
    if let Some((name, command)) = subcommands
        .iter()
        .find(|(name, _)| args.first().map(String::as_str) == Some(*name))
    {
        if let Err(e) = command(&args[1..]) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let options = parse(&args);
    std::process::exit(run(&options, &args));
}

fn run(options: &Options, args: &[String]) -> i32 {
    let started = Instant::now();
    let machine = procfs::machine();
    let p = &options.params;
    eprintln!(
        "syncws-bench: {} run on {} cores ({}), load average {}",
        if options.quick { "quick" } else { "full" },
        machine.cpus,
        machine.model,
        machine.load
    );
    let tls = match Tls::new() {
        Ok(tls) => Some(tls),
        Err(e) => {
            eprintln!("no TLS runs: {e}");
            None
        }
    };
    let mut results: Vec<(&'static Spec, Outcome)> = Vec::new();
    for spec in SPECS {
        if let Some(only) = &options.only
            && !only.iter().any(|w| w == spec.id)
        {
            continue;
        }
        eprintln!("== {}: {}", spec.id, spec.title);
        let outcome = match spec.id {
            "idle" => workloads::idle(p, &WS_KINDS, p.idle_conns, None),
            "pingpong" => workloads::pingpong(p, &WS_KINDS, p.pingpong_conns, 32, None, None),
            "pingpong-pinned" => workloads::pingpong(p, &WS_KINDS, 1, 32, None, Some(0)),
            "echo-16m" => workloads::big_echo(p, &WS_KINDS, None),
            "pipeline" => workloads::pipeline(p, &WS_KINDS),
            "connect" => workloads::connect(p, &WS_KINDS, None),
            "broadcast" => match servers::node_ready() {
                Ok(()) => workloads::broadcast(
                    p,
                    &[Kind::SyncwsHub, Kind::NodeWs],
                    workloads::Style::Random,
                ),
                Err(e) => {
                    eprintln!("  Node ws: {e}");
                    let mut outcome =
                        workloads::broadcast(p, &[Kind::SyncwsHub], workloads::Style::Random);
                    outcome.errors.insert(Kind::NodeWs, e);
                    outcome
                }
            },
            "deflate-chat" | "deflate-doc" | "deflate-memory" => {
                let mut kinds = DEFLATE_KINDS.to_vec();
                let mut skipped = Vec::new();
                for (kind, ready) in [
                    (Kind::NodeWsDeflate, servers::node_ready()),
                    (Kind::PythonWs, servers::python_ready()),
                ] {
                    if let Err(e) = ready {
                        eprintln!("  {}: {e}", kind.label());
                        kinds.retain(|k| *k != kind);
                        skipped.push((kind, e));
                    }
                }
                let mut outcome = match spec.id {
                    "deflate-chat" => compressed::round_trips(p, &kinds, compressed::Doc::Chat),
                    "deflate-doc" => compressed::round_trips(p, &kinds, compressed::Doc::Json64k),
                    _ => compressed::memory(p, &kinds),
                };
                outcome.errors.extend(skipped);
                outcome
            }
            "deflate-broadcast" => workloads::broadcast(
                p,
                &[Kind::SyncwsHubDeflate, Kind::SyncwsHub],
                workloads::Style::Chat,
            ),
            "wss-idle"
            | "wss-echo-16m"
            | "wss-pingpong"
            | "wss-connect"
            | "wss-rustls-idle"
            | "wss-rustls-echo-16m"
            | "wss-rustls-pingpong"
            | "wss-rustls-connect" => match &tls {
                Some(tls) => {
                    let (kinds, workload) = match spec.id.strip_prefix("wss-rustls-") {
                        Some(workload) => (&RUSTLS_KINDS, workload),
                        None => (&WS_KINDS, &spec.id["wss-".len()..]),
                    };
                    match workload {
                        "idle" => workloads::idle(p, kinds, p.wss_idle_conns, Some(tls)),
                        "echo-16m" => workloads::big_echo(p, kinds, Some(tls)),
                        "pingpong" => {
                            workloads::pingpong(p, kinds, p.pingpong_conns, 32, Some(tls), None)
                        }
                        _ => workloads::connect(p, kinds, Some(tls)),
                    }
                }
                None => {
                    let mut outcome = Outcome::default();
                    outcome.notes.push("skipped: no TLS certificate".into());
                    outcome
                }
            },
            _ => unreachable!("every workload is listed"),
        };
        results.push((spec, outcome));
    }
    let report = report::build(&results);
    println!("\n{}", report::text(&report));
    let mode = if options.quick {
        format!(
            "quick (smoke) run: {} rounds of {} s, {} idle connections",
            p.rounds, p.secs, p.idle_conns
        )
    } else {
        format!(
            "full run: {} rounds of {} s per server ({} of {:.1} s for ping-pong), {} idle \
             connections",
            p.rounds,
            p.secs,
            p.rounds * workloads::PINGPONG_ROUND_SPLIT,
            p.secs / workloads::PINGPONG_ROUND_SPLIT as f64,
            p.idle_conns
        )
    };
    let mut command = String::from(
        "bash -c 'ulimit -n 65536; cargo run --release --manifest-path bench/Cargo.toml",
    );
    if !args.is_empty() {
        command.push_str(" --");
        for a in args {
            if a.contains(' ') {
                command.push_str(&format!(" \"{a}\""));
            } else {
                command.push_str(&format!(" {a}"));
            }
        }
    }
    command.push('\'');
    let run = report::RunInfo {
        date: procfs::date_utc(),
        machine,
        command,
        mode,
        note: options.note.clone(),
        load_end: procfs::load_average(),
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    if options.write {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let md = root.parent().unwrap_or(&root).join("BENCHMARKS.md");
        let svg = root.join("results.svg");
        // bench/NOTES.md (written by hand: what the figures mean, what was
        // tried) is appended to the generated report.
        let mut markdown = report::markdown(&report, &run);
        if let Ok(notes) = std::fs::read_to_string(root.join("NOTES.md")) {
            markdown.push('\n');
            markdown.push_str(&notes);
        }
        for (path, text) in [(&md, markdown), (&svg, report::svg(&report, &run))] {
            match std::fs::write(path, text) {
                Ok(()) => eprintln!("wrote {}", path.display()),
                Err(e) => eprintln!("cannot write {}: {e}", path.display()),
            }
        }
    }
    eprintln!("done in {:.1} minutes", run.minutes);
    if report.errors.is_empty() { 0 } else { 1 }
}

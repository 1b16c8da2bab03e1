//! Medians, ratios, targets, and the three outputs: the table on stdout,
//! BENCHMARKS.md and bench/results.svg.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::servers::Kind;
use crate::workloads::Outcome;

/// A workload as the report shows it.
pub struct Spec {
    pub id: &'static str,
    pub title: &'static str,
    /// What one unit of work is, for "CPU per …".
    pub unit: &'static str,
    /// The syncws server of this workload.
    pub subject: Kind,
    /// The comparison in the third column: raw TCP (or TLS), or Node ws.
    pub baseline: Kind,
    pub baseline_label: &'static str,
    /// The second comparison (tungstenite, or Python websockets for the
    /// compressed rows), and what its column is called.
    pub peer: Option<(Kind, &'static str)>,
    pub metrics: &'static [Metric],
}

pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
}

/// What a target compares.
#[derive(Clone, Copy)]
pub enum Against {
    Tungstenite,
    Baseline,
    /// An absolute bound on syncws's figure.
    Absolute,
}

pub struct Target {
    pub workload: &'static str,
    pub metric: &'static str,
    pub against: Against,
    /// `true`: at most `value`; `false`: at least.
    pub at_most: bool,
    pub value: f64,
    pub text: &'static str,
    /// What the chart calls the compared figure.
    pub measure: &'static str,
    pub today: &'static str,
}

pub const TARGETS: &[Target] = &[
    Target {
        workload: "idle",
        metric: "kib_per_conn",
        against: Against::Absolute,
        at_most: true,
        value: 16.0,
        text: "≤ 16 KiB per connection",
        measure: "server memory per connection",
        today: "about 150 KiB",
    },
    Target {
        workload: "pingpong",
        metric: "cpu",
        against: Against::Baseline,
        at_most: true,
        value: 1.03,
        text: "server CPU per round trip ≤ 1.03× raw TCP",
        measure: "server CPU per round trip",
        today: "about 1.1× raw",
    },
    Target {
        workload: "pingpong",
        metric: "cpu_user",
        against: Against::Tungstenite,
        at_most: true,
        value: 0.5,
        text: "user CPU per round trip ≤ 0.5× tungstenite's",
        measure: "server user CPU per round trip",
        today: "user about 2.5× raw's",
    },
    Target {
        workload: "pingpong-pinned",
        metric: "per_s",
        against: Against::Baseline,
        at_most: false,
        value: 0.97,
        text: "round trips/s ≥ 0.97× raw TCP",
        measure: "round trips/s, one core",
        today: "about 0.95–1.0× raw",
    },
    Target {
        workload: "echo-16m",
        metric: "mb_per_s",
        against: Against::Baseline,
        at_most: false,
        value: 0.9,
        text: "MB/s ≥ 0.9× raw TCP",
        measure: "MB/s echoed",
        today: "0.55–0.7× raw",
    },
    Target {
        workload: "echo-16m",
        metric: "cpu",
        against: Against::Baseline,
        at_most: true,
        value: 1.1,
        text: "server CPU per MiB ≤ 1.1× raw TCP",
        measure: "server CPU per MiB",
        today: "about 1.1–1.3× raw",
    },
    Target {
        workload: "pipeline",
        metric: "per_s",
        against: Against::Tungstenite,
        at_most: false,
        value: 1.0,
        text: "messages/s ≥ 1.0× tungstenite",
        measure: "messages/s",
        today: "baseline",
    },
    Target {
        workload: "pipeline",
        metric: "cpu",
        against: Against::Tungstenite,
        at_most: true,
        value: 0.8,
        text: "server CPU per message ≤ 0.8× tungstenite",
        measure: "server CPU per message",
        today: "baseline",
    },
    Target {
        workload: "connect",
        metric: "per_s",
        against: Against::Tungstenite,
        at_most: false,
        value: 1.0,
        text: "connections/s ≥ 1.0× tungstenite",
        measure: "connections/s",
        today: "about 3,700/s",
    },
    Target {
        workload: "connect",
        metric: "cpu",
        against: Against::Tungstenite,
        at_most: true,
        value: 0.7,
        text: "server CPU per connection ≤ 0.7× tungstenite",
        measure: "server CPU per connection",
        today: "baseline",
    },
    Target {
        workload: "broadcast",
        metric: "per_s",
        against: Against::Baseline,
        at_most: false,
        value: 1.0,
        text: "deliveries/s ≥ 1.0× Node ws",
        measure: "deliveries/s",
        today: "no hub",
    },
    Target {
        workload: "broadcast",
        metric: "p99_ms",
        against: Against::Baseline,
        at_most: true,
        value: 1.0,
        text: "p99 delivery latency ≤ 1.0× Node ws",
        measure: "p99 delivery latency",
        today: "no hub",
    },
    Target {
        workload: "deflate-chat",
        metric: "cpu",
        against: Against::Baseline,
        at_most: true,
        value: 0.35,
        text: "server CPU per round trip ≤ 0.35× Node ws",
        measure: "server CPU per chat round trip",
        today: "ws about 79 µs",
    },
    Target {
        workload: "deflate-chat",
        metric: "bytes",
        against: Against::Baseline,
        at_most: true,
        value: 1.03,
        text: "bytes on the wire ≤ 1.03× Node ws",
        measure: "bytes per chat round trip",
        today: "no deflate",
    },
    Target {
        workload: "deflate-doc",
        metric: "cpu",
        against: Against::Baseline,
        at_most: true,
        value: 0.65,
        text: "server CPU per round trip ≤ 0.65× Node ws",
        measure: "server CPU per 64 KiB round trip",
        today: "no deflate",
    },
    Target {
        workload: "deflate-doc",
        metric: "bytes",
        against: Against::Baseline,
        at_most: true,
        value: 1.03,
        text: "bytes on the wire ≤ 1.03× Node ws",
        measure: "bytes per 64 KiB round trip",
        today: "no deflate",
    },
    Target {
        workload: "deflate-memory",
        metric: "kib_handshake",
        against: Against::Absolute,
        at_most: true,
        value: 16.0,
        text: "≤ 16 KiB per connection after the handshake",
        measure: "memory per compressed connection, fresh",
        today: "websockets 48, ws 11 KiB",
    },
    Target {
        workload: "deflate-memory",
        metric: "kib_idle",
        against: Against::Absolute,
        at_most: true,
        value: 24.0,
        text: "≤ 24 KiB per connection after 20 messages, 6 s idle",
        measure: "memory per compressed connection, idle",
        today: "websockets 61, ws 266 KiB",
    },
    Target {
        workload: "deflate-broadcast",
        metric: "cpu",
        against: Against::Baseline,
        at_most: true,
        value: 1.3,
        text: "server CPU per delivery ≤ 1.3× uncompressed",
        measure: "server CPU per delivery",
        today: "no deflate",
    },
];

/// A number with about three significant digits.
/// `digits` with thousands separators.
pub fn thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 10_000.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        format!("{sign}{}", thousands(digits))
    } else if a >= 100.0 {
        format!("{:.0}", v)
    } else if a >= 10.0 {
        format!("{:.1}", v)
    } else if a >= 1.0 {
        format!("{:.2}", v)
    } else {
        format!("{:.3}", v)
    }
}

/// The interval contains the target value: the verdict could go either way.
fn straddles(v: &Verdict) -> bool {
    v.interval
        .is_some_and(|(lo, hi)| lo <= v.target.value && v.target.value <= hi)
}

fn interval_text(v: &Verdict) -> String {
    match v.interval {
        Some((lo, hi)) => format!(
            ", 95% interval {}–{}×{}",
            ratio_num(lo),
            ratio_num(hi),
            if straddles(v) { " (within noise)" } else { "" }
        ),
        None => String::new(),
    }
}

/// A ratio judged against a target: three decimals where a target's line
/// falls (0.970 against 0.97, 1.034 against 1.03), so that the figure
/// shown never rounds to the other side of the line.
fn ratio_num(v: f64) -> String {
    if (0.1..10.0).contains(&v) {
        format!("{v:.3}")
    } else {
        num(v)
    }
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The median of `kind`'s figure over its rounds.
fn figure(outcome: &Outcome, kind: Kind, key: &str) -> f64 {
    let mut values: Vec<f64> = outcome
        .rounds
        .get(&kind)
        .map(|rounds| rounds.iter().filter_map(|r| r.get(key).copied()).collect())
        .unwrap_or_default();
    median(&mut values)
}

/// `a ÷ b` for `key`: the median of the ratios of rounds run side by side
/// (round i of `a` with round i of `b`), which cancels most of a change in
/// the machine's load between rounds.
fn ratio(outcome: &Outcome, a: Kind, b: Kind, key: &str) -> f64 {
    median(&mut ratios(outcome, a, b, key))
}

/// The ratios of rounds run side by side, round i of `a` with round i of `b`.
fn ratios(outcome: &Outcome, a: Kind, b: Kind, key: &str) -> Vec<f64> {
    let (Some(ra), Some(rb)) = (outcome.rounds.get(&a), outcome.rounds.get(&b)) else {
        return Vec::new();
    };
    ra.iter()
        .zip(rb)
        .filter_map(|(x, y)| Some(x.get(key)? / y.get(key)?))
        .filter(|r| r.is_finite())
        .collect()
}

/// A 95% interval for the median of `values`: the 2.5th and 97.5th
/// percentiles of the medians of 2,000 resamples (with replacement), from a
/// fixed seed so that the same rounds always give the same interval.
pub fn median_interval(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 3 {
        return None;
    }
    let mut rng = crate::wire::Rng::new(0x5eed);
    let mut medians: Vec<f64> = (0..2000)
        .map(|_| {
            let mut sample: Vec<f64> = (0..values.len())
                .map(|_| values[(rng.next() % values.len() as u64) as usize])
                .collect();
            median(&mut sample)
        })
        .collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    Some((medians[50], medians[1949]))
}

/// One line of the results table.
pub struct Row {
    pub workload: &'static str,
    pub measure: String,
    pub syncws: f64,
    pub tungstenite: Option<f64>,
    /// What the `tungstenite` figures are of (tungstenite, or another peer).
    pub peer_label: Option<&'static str>,
    pub baseline: f64,
    pub baseline_label: &'static str,
    pub vs_tungstenite: Option<f64>,
    pub vs_baseline: f64,
    pub tungstenite_vs_baseline: Option<f64>,
}

/// The verdict on one target.
pub struct Verdict {
    pub target: &'static Target,
    /// What the target's baseline and second comparison are called.
    pub baseline_label: &'static str,
    pub peer_label: &'static str,
    /// syncws's ratio (or its absolute figure for an absolute target).
    pub measured: f64,
    /// The same comparison for tungstenite, where it is not the reference.
    pub tungstenite: Option<f64>,
    pub met: Option<bool>,
    /// 95% interval of `measured` (ratio targets), from its rounds.
    pub interval: Option<(f64, f64)>,
    pub shown: String,
}

pub struct Report {
    pub rows: Vec<Row>,
    pub verdicts: Vec<Verdict>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

pub fn build(results: &[(&'static Spec, Outcome)]) -> Report {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut by_id: BTreeMap<&str, (&Spec, &Outcome)> = BTreeMap::new();
    for (spec, outcome) in results {
        by_id.insert(spec.id, (spec, outcome));
        for (kind, e) in &outcome.errors {
            let label = if *kind == spec.baseline {
                spec.baseline_label
            } else {
                kind.label()
            };
            errors.push(format!("{}: {label}: {e}", spec.id));
        }
        for note in &outcome.notes {
            notes.push(format!("{}: {note}", spec.id));
        }
        for m in spec.metrics {
            let label = m.label.replace("{unit}", spec.unit);
            let peer = spec.peer.map(|(kind, _)| kind);
            rows.push(Row {
                workload: spec.id,
                measure: label,
                syncws: figure(outcome, spec.subject, m.key),
                tungstenite: peer.map(|peer| figure(outcome, peer, m.key)),
                peer_label: spec.peer.map(|(_, label)| label),
                baseline: figure(outcome, spec.baseline, m.key),
                baseline_label: spec.baseline_label,
                vs_tungstenite: peer.map(|peer| ratio(outcome, spec.subject, peer, m.key)),
                vs_baseline: ratio(outcome, spec.subject, spec.baseline, m.key),
                tungstenite_vs_baseline: peer
                    .map(|peer| ratio(outcome, peer, spec.baseline, m.key)),
            });
        }
    }
    let mut verdicts = Vec::new();
    for target in TARGETS {
        let Some((spec, outcome)) = by_id.get(target.workload) else {
            continue;
        };
        let (peer, peer_label) = spec.peer.unwrap_or((Kind::Tungstenite, "tungstenite"));
        let (measured, tungstenite, shown) = match target.against {
            Against::Absolute => {
                let v = figure(outcome, spec.subject, target.metric);
                let t = figure(outcome, peer, target.metric);
                let mut shown = format!("{} KiB ({peer_label} {} KiB", num(v), num(t));
                if spec.baseline != Kind::Raw {
                    let b = figure(outcome, spec.baseline, target.metric);
                    let _ = write!(shown, ", {} {} KiB", spec.baseline_label, num(b));
                }
                shown.push(')');
                (v, Some(t), shown)
            }
            Against::Tungstenite => {
                let v = ratio(outcome, spec.subject, peer, target.metric);
                (v, None, format!("{}×", ratio_num(v)))
            }
            Against::Baseline => {
                let v = ratio(outcome, spec.subject, spec.baseline, target.metric);
                let t = spec
                    .peer
                    .map(|(peer, _)| ratio(outcome, peer, spec.baseline, target.metric));
                let shown = match t {
                    Some(t) => format!("{}× ({peer_label} {}×)", ratio_num(v), ratio_num(t)),
                    None => format!("{}×", ratio_num(v)),
                };
                (v, t, shown)
            }
        };
        let met = measured.is_finite().then_some(if target.at_most {
            measured <= target.value
        } else {
            measured >= target.value
        });
        let interval = match target.against {
            Against::Absolute => None,
            Against::Tungstenite => {
                median_interval(&ratios(outcome, spec.subject, peer, target.metric))
            }
            Against::Baseline => {
                median_interval(&ratios(outcome, spec.subject, spec.baseline, target.metric))
            }
        };
        verdicts.push(Verdict {
            target,
            baseline_label: spec.baseline_label,
            peer_label,
            measured,
            tungstenite,
            met,
            interval,
            shown,
        });
    }
    Report {
        rows,
        verdicts,
        errors,
        notes,
    }
}

fn opt(v: Option<f64>, suffix: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}{suffix}", num(v)),
        _ => "—".into(),
    }
}

fn met_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "?",
    }
}

/// The results as a plain-text table.
pub fn text(report: &Report) -> String {
    let heading = |peer: &str, short: &str| -> [String; 8] {
        [
            "workload".into(),
            "measure".into(),
            "syncws".into(),
            peer.into(),
            "baseline".into(),
            format!("sy/{short}"),
            "sy/base".into(),
            format!("{short}/base"),
        ]
    };
    let mut lines: Vec<[String; 8]> = Vec::new();
    let mut headings = Vec::new();
    let mut peer: Option<&str> = None;
    for r in &report.rows {
        // A table for each peer in turn; rows without one stay in the last.
        let label = r.peer_label.or(peer).unwrap_or("tungstenite");
        if peer != Some(label) {
            peer = Some(label);
            headings.push(lines.len());
            lines.push(heading(label, &label[..4]));
        }
        lines.push([
            r.workload.into(),
            r.measure.clone(),
            num(r.syncws),
            opt(r.tungstenite, ""),
            format!("{} ({})", num(r.baseline), r.baseline_label),
            opt(r.vs_tungstenite, "×"),
            opt(Some(r.vs_baseline), "×"),
            opt(r.tungstenite_vs_baseline, "×"),
        ]);
    }
    let mut widths = [0usize; 8];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        for (j, (w, c)) in widths.iter().zip(l).enumerate() {
            let pad = w - c.chars().count();
            if j < 2 {
                let _ = write!(out, "{c}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{c}  ", " ".repeat(pad));
            }
        }
        out.push('\n');
        if headings.contains(&i) {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 16));
            out.push('\n');
        }
    }
    out.push_str("\ntargets (syncws):\n");
    for v in &report.verdicts {
        let _ = writeln!(
            out,
            "  [{:>3}] {:<10} {:<48} measured {}{}",
            met_text(v.met),
            v.target.workload,
            v.target.text,
            v.shown,
            interval_text(v)
        );
    }
    for e in &report.errors {
        let _ = writeln!(out, "ERROR {e}");
    }
    for n in &report.notes {
        let _ = writeln!(out, "note {n}");
    }
    out
}

/// What the suite tells about the run, for BENCHMARKS.md.
pub struct RunInfo {
    pub date: String,
    pub machine: crate::procfs::Machine,
    pub command: String,
    pub mode: String,
    pub note: Option<String>,
    pub load_end: String,
    pub minutes: f64,
}

pub fn markdown(report: &Report, run: &RunInfo) -> String {
    let mut md = String::new();
    let m = &run.machine;
    md.push_str("# Benchmarks\n\n");
    md.push_str("<!-- Written by the benchmark suite (bench/); rerun it rather than editing this file. -->\n\n");
    if let Some(note) = &run.note {
        let _ = writeln!(md, "> **{note}**\n");
    }
    let _ = writeln!(
        md,
        "syncws's echo server and `Hub` under the same load as an equivalent \
         [tungstenite](https://crates.io/crates/tungstenite) server and a raw TCP echo (the physical \
         limit), in one run of one command, each server in a process of its own. \
         Figures are medians of the rounds; ratios are medians of the ratios of rounds run side by side.\n"
    );
    let _ = writeln!(md, "- **Date**: {}", run.date);
    let _ = writeln!(
        md,
        "- **Machine**: {} cores, {}, {} memory, Linux {}; load average {} at the start, {} at the end",
        m.cpus, m.model, m.memory, m.kernel, m.load, run.load_end
    );
    let _ = writeln!(md, "- **Command**: `{}`", run.command);
    let _ = writeln!(md, "- **Run**: {}, {:.1} minutes\n", run.mode, run.minutes);
    md.push_str("![syncws against its targets](bench/results.svg)\n\n");
    md.push_str("## Targets\n\n");
    md.push_str(
        "| workload | target | tungstenite sync before | measured (syncws) | 95% interval | met |\n\
         |---|---|---|---|---|---|\n",
    );
    for v in &report.verdicts {
        let interval = match v.interval {
            Some((lo, hi)) => format!("{}–{}×", ratio_num(lo), ratio_num(hi)),
            None => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {}{} |",
            v.target.workload,
            v.target.text,
            v.target.today,
            v.shown,
            interval,
            match v.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "?",
            },
            if straddles(v) { " (within noise)" } else { "" }
        );
    }
    md.push_str(
        "\nThe interval is that of the median of the side-by-side ratios, by resampling the \
         rounds (bootstrap); where it contains the target, the verdict is within this machine's \
         noise and another run may give the other one.\n",
    );
    md.push_str("\n## All figures\n\n");
    let heading = |peer: &str| {
        format!(
            "| workload | measure | syncws | {peer} | baseline | syncws ÷ {peer} | syncws ÷ baseline | {peer} ÷ baseline |\n\
             |---|---|--:|--:|--:|--:|--:|--:|\n"
        )
    };
    let mut peer: Option<&str> = None;
    for r in &report.rows {
        let label = r.peer_label.or(peer).unwrap_or("tungstenite");
        if peer != Some(label) {
            if peer.is_some() {
                md.push_str(
                    "\n### With permessage-deflate\n\nEvery server compresses by its own \
                     defaults; the same client, offering what Chrome offers, for all.\n\n",
                );
            }
            peer = Some(label);
            md.push_str(&heading(label));
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
            r.workload,
            r.measure,
            num(r.syncws),
            opt(r.tungstenite, ""),
            num(r.baseline),
            r.baseline_label,
            opt(r.vs_tungstenite, "×"),
            opt(Some(r.vs_baseline), "×"),
            opt(r.tungstenite_vs_baseline, "×"),
        );
    }
    if !report.errors.is_empty() || !report.notes.is_empty() {
        md.push_str("\n### Notes on this run\n\n");
        for e in &report.errors {
            let _ = writeln!(md, "- **error** {e}");
        }
        for n in &report.notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    md.push_str(METHOD);
    md
}

const METHOD: &str = r#"
## Running it

```sh
bash -c 'ulimit -n 65536; cargo run --release --manifest-path bench/Cargo.toml'
```

`--quick` runs every workload briefly (about a minute: 3 rounds of 0.4 s, 1,000 idle connections) to
check the suite end to end; `--only idle,pingpong,...` runs some workloads; `--note TEXT` puts a
line at the top of this file; `--no-write` leaves this file and the chart alone. The suite needs
Linux (/proc), `taskset` and, for the broadcast comparison, Node.js with the `ws` package
(`npm ci` in `bench/node`, which the suite runs itself if needed). It raises its own open-file
limit with `prlimit` when it may (as root); otherwise run it under `ulimit -n 65536` as above, or
it opens fewer idle connections and says so. Timing is never asserted: this is a benchmark, not
a test, and `cargo test` does not run it.

## What is measured

Every server runs in a child process (`syncws-bench serve KIND`), so its CPU time is read before
and after each round from the process's CPU clock (`clock_getcpuclockid`, to the nanosecond,
threads that have ended included), split into user and system in the proportion of utime and
stime in `/proc/PID/stat` (whole clock ticks of 10 ms), and its memory from `/proc/PID/status`
(VmRSS). The load client is the parent
process and is the same for every server: a lean client (`bench/src/wire.rs`) that costs about
as much as the raw TCP loop, one `write` per message and one compare per echo, no allocation,
checking every echoed byte against what was sent (messages carry their connection and sequence
number, so a mixed-up or reordered echo fails too). It masks every frame it sends with a fresh
key, except the 16 MiB messages, which are masked once and re-masked only in their 8-byte
sequence number for each send: the server cannot tell and does all its work. A wrong byte fails
that server's workload and is reported as an error.

On two cores the load client competes with the server for CPU, so throughput alone hides
differences: **the server's own CPU time per unit of work is the main measure**. The kernel
counts a process's CPU time exactly but splits it into user and system by sampling at each
clock tick, so a small user-space figure (a fraction of a microsecond per message) carries some
noise, and raw TCP's can read 0.

The servers:

- **syncws**: the echo server of the README (`ws.run_with(|m| sender.send_message(m))`),
  a thread per connection (256 KiB stacks, syncws's default); frame and message limits raised
  to 64 MiB.
- **tungstenite**: `tungstenite` 0.30, sync: `accept_with_config`, then `read` and `send` in a
  loop, a thread per connection from `std::thread::spawn` (2 MiB stacks), default buffers, frame
  and message limits raised to 64 MiB, `TCP_NODELAY` on as syncws has it.
- **raw TCP**: records of a 4-byte big-endian length and a payload, echoed back: read into one
  buffer, write back every whole record with one write. A thread per connection. The least work
  an echo can be: the physical limit of the machine for the same job.
- **Node ws** (broadcast only): `bench/node/broadcast.js`, the `ws` package's broadcast loop
  (`wss.clients.forEach(c => c.send(data))`).
- The `wss` rows run the same servers over TLS (native-tls, OpenSSL); their baseline is the raw
  echo over TLS.

The workloads (each server gets a warm-up round first; rounds alternate between servers, each
round starting with the next server, so none always follows the same one):

- **idle**: a fresh server per round; one connection opened and closed first, then the resident
  memory read; then 10,000 connections opened (each echoes one 32-byte message) and held; the
  growth of the server's memory divided by the count.
- **pingpong**: 64 connections, each on its own client thread, sending a 32-byte binary message
  and waiting for its echo, over and over; server CPU per round trip, user and system apart.
- **pingpong-pinned**: 1 connection; every server is started under `taskset -c 0` and the client
  thread pins itself to CPU 0 (`taskset -p -c 0 TID`), so client and server share one core;
  round trips per second.
- **echo-16m**: 1 connection sending a 16 MiB binary message and reading its echo, one after
  another; MB/s of messages echoed (10^6 bytes), server CPU per MiB echoed.
- **pipeline**: 4 connections, each with 64 messages of 1 KiB in flight (a writing thread sends
  as the reading thread checks echoes); messages per second, server CPU per message.
- **connect**: 4 client threads, each in a loop: connect, handshake, echo one 32-byte message,
  close handshake, and the server closes the TCP connection (for raw TCP: an empty record asks it
  to); connections per second, server CPU per connection.
- **broadcast**: one publisher connection and 1,000 subscribers; each message the publisher sends
  is broadcast by the server to every subscriber (syncws: a `Hub` that `/sub` connections join
  and `/pub` messages are broadcast to). 1,000 messages of 100 bytes per round, at most 8 not yet
  delivered to every subscriber; each message carries its send time, and the client (one thread
  receiving for all subscribers through epoll) takes the latency of every delivery on the same
  clock. Deliveries per second, p50 and p99 latency, server CPU per delivery.
- **wss-idle**, **wss-echo-16m**, **wss-pingpong**, **wss-connect**: idle (2,000 connections:
  each costs the client a TLS handshake), echo-16m, pingpong and connect over TLS, without
  targets. (The pipeline workload splits each connection into a reading and a writing thread,
  which the client's TLS stream cannot do, so it has no TLS row.)
"#;

/// The chart: one row per target, syncws's bar against the target line,
/// tungstenite's bar in grey where it is compared with the same baseline.
pub fn svg(report: &Report, run: &RunInfo) -> String {
    const W: f64 = 900.0;
    const LEFT: f64 = 330.0;
    const RIGHT: f64 = 230.0;
    const ROW: f64 = 46.0;
    let top = if run.note.is_some() { 86.0 } else { 70.0 };
    const MAX: f64 = 2.0;
    let plot = W - LEFT - RIGHT;
    let x = |v: f64| LEFT + plot * (v.clamp(0.0, MAX) / MAX);
    let rows = &report.verdicts;
    let h = top + ROW * rows.len() as f64 + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="13">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="16" y="26" font-size="17" font-weight="bold">syncws against its targets</text>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="16" y="46" fill="#555">{} · {} cores {} · {}</text>"##,
        esc(&run.date),
        esc(&run.machine.cpus),
        esc(&run.machine.model),
        esc(&run.mode),
    );
    if let Some(note) = &run.note {
        let _ = writeln!(
            s,
            r##"<text x="16" y="64" fill="#b35900" font-weight="bold">{}</text>"##,
            esc(note)
        );
    }
    // Grid.
    for i in 0..=4 {
        let v = MAX * i as f64 / 4.0;
        let gx = x(v);
        let _ = writeln!(
            s,
            r##"<line x1="{gx}" y1="{top}" x2="{gx}" y2="{}" stroke="#ddd"/><text x="{gx}" y="{}" text-anchor="middle" fill="#777">{}×</text>"##,
            h - 40.0,
            h - 24.0,
            v
        );
    }
    for (i, v) in rows.iter().enumerate() {
        let y = top + ROW * i as f64;
        let t = v.target;
        let (bar, target_at, tung_bar, reference) = match t.against {
            // The absolute target drawn as a ratio to tungstenite's figure.
            Against::Absolute => {
                let tung = v.tungstenite.unwrap_or(f64::NAN);
                (v.measured / tung, t.value / tung, None, v.peer_label)
            }
            Against::Tungstenite => (v.measured, t.value, None, v.peer_label),
            Against::Baseline => (v.measured, t.value, v.tungstenite, v.baseline_label),
        };
        let color = match v.met {
            Some(true) => "#2e8b57",
            Some(false) => "#d9534f",
            None => "#999",
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="end" fill="#777" font-size="11">{} ÷ {reference}</text>"##,
            LEFT - 10.0,
            y + 15.0,
            esc(t.workload),
            LEFT - 10.0,
            y + 29.0,
            esc(t.measure)
        );
        if let Some(tb) = tung_bar.filter(|b| b.is_finite()) {
            let _ = writeln!(
                s,
                r##"<rect x="{LEFT}" y="{}" width="{:.1}" height="9" fill="#bbb"><title>tungstenite {}×</title></rect>"##,
                y + 24.0,
                x(tb) - LEFT,
                num(tb)
            );
        }
        if bar.is_finite() {
            let _ = writeln!(
                s,
                r##"<rect x="{LEFT}" y="{}" width="{:.1}" height="16" fill="{color}"><title>syncws {}×</title></rect>"##,
                y + 6.0,
                (x(bar) - LEFT).max(1.0),
                num(bar)
            );
            if bar > MAX {
                let _ = writeln!(
                    s,
                    r##"<text x="{}" y="{}" fill="white" text-anchor="end" font-weight="bold">»</text>"##,
                    x(MAX) - 4.0,
                    y + 19.0
                );
            }
        }
        // The 95% interval of the median, as a whisker across the bar.
        if let Some((lo, hi)) = v
            .interval
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite())
        {
            let (x1, x2, cy) = (x(lo), x(hi), y + 14.0);
            let _ = writeln!(
                s,
                r##"<path d="M{x1:.1} {:.1}V{:.1}M{x1:.1} {cy}H{x2:.1}M{x2:.1} {:.1}V{:.1}" stroke="#222" stroke-width="1.5" fill="none"><title>95% interval {}–{}×</title></path>"##,
                cy - 4.0,
                cy + 4.0,
                cy - 4.0,
                cy + 4.0,
                ratio_num(lo),
                ratio_num(hi)
            );
        }
        if target_at.is_finite() {
            let tx = x(target_at);
            let _ = writeln!(
                s,
                r##"<line x1="{tx}" y1="{}" x2="{tx}" y2="{}" stroke="black" stroke-width="2" stroke-dasharray="4 2"/>"##,
                y + 2.0,
                y + 36.0
            );
        }
        let label = match t.against {
            Against::Absolute => format!(
                "{} KiB/conn (target ≤ {} KiB)",
                num(v.measured),
                num(t.value)
            ),
            _ => format!(
                "{}× (target {} {}×)",
                ratio_num(bar),
                if t.at_most { "≤" } else { "≥" },
                num(t.value)
            ),
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="{color}" font-weight="bold">{} {}</text>"##,
            W - RIGHT + 10.0,
            y + 19.0,
            match v.met {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "?",
            },
            esc(&label)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="16" y="{}" fill="#555" font-size="11">Bars: syncws (green: target met, red: not), with the 95% interval of the median; grey: tungstenite. Dashed line: the target. Lower is better for CPU, memory and latency.</text>"##,
        h - 6.0
    );
    s.push_str("</svg>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_brackets_the_median_and_narrows_with_agreeing_rounds() {
        let spread = [0.9, 1.0, 1.1, 1.2, 0.95, 1.05, 1.3, 0.85, 1.0];
        let (lo, hi) = median_interval(&spread).expect("enough rounds");
        let mid = median(&mut spread.to_vec());
        assert!(lo <= mid && mid <= hi, "{lo} {mid} {hi}");
        assert!(lo >= 0.85 && hi <= 1.3);
        // The same rounds give the same interval (fixed seed).
        assert_eq!(median_interval(&spread), Some((lo, hi)));
        let tight = [1.01, 1.02, 1.01, 1.02, 1.015, 1.01, 1.02, 1.015, 1.01];
        let (tlo, thi) = median_interval(&tight).expect("enough rounds");
        assert!(thi - tlo < hi - lo && thi - tlo <= 0.0101);
        assert_eq!(median_interval(&[1.0, 2.0]), None);
    }
}

//! The table printed at the end.

use super::*;

pub(super) struct Header {
    pub(super) date: String,
    pub(super) cpus: String,
    pub(super) model: String,
    pub(super) load: String,
    pub(super) commit: String,
    pub(super) command: String,
    pub(super) open_files: u64,
}

pub(super) fn markdown(header: &Header, rows: &[Row]) -> String {
    let mut out = format!(
        "Measured {} on {} cores ({}), load average {} at the start; commit {}; open-file \
         limit {}.\n\n```sh\n{}\n```\n\n",
        header.date,
        header.cpus,
        header.model,
        header.load,
        header.commit,
        header.open_files,
        header.command
    );
    out.push_str(
        "| attack | load | before: threads / RSS / VmSize / fds | during (peak): threads / RSS / VmSize / fds | \
         server CPU during | after: threads / RSS / fds | good client during: success, p99 | \
         what happened |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&markdown_row(row));
        out.push('\n');
    }
    out
}

pub(super) fn markdown_row(row: &Row) -> String {
    format!(
        "| {} | {} | {} / {} / {} / {} | {} / {} / {} / {} | {:.2} s in {:.0} s (peak {:.0}% of a core) | \
         {} / {} / {} | {}, {} | {} |",
        row.id,
        row.load,
        count(row.before.threads),
        mib(row.before.rss),
        mib(row.before.vm),
        count(row.before.fds),
        count(row.peak.threads),
        mib(row.peak.rss),
        mib(row.peak.vm),
        count(row.peak.fds),
        row.cpu.as_secs_f64(),
        row.seconds,
        row.cpu_peak * 100.0,
        count(row.after.threads),
        mib(row.after.rss),
        count(row.after.fds),
        row.good.success(),
        row.good.p99(),
        row.happened.join("; ")
    )
}

/// `n` with thousands separators.
pub(super) fn count(n: u64) -> String {
    crate::report::thousands(&n.to_string())
}

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn short(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The commit the run measured, marked when the library or the bench
/// differ from it.
pub(super) fn commit() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
    };
    let hash = git(&["rev-parse", "--short", "HEAD"])
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".into(), |s| s.trim().to_owned());
    let dirty = git(&["status", "--porcelain", "--", "src", "bench/src"])
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{hash} with uncommitted changes")
    } else {
        hash
    }
}

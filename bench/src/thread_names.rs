//! `syncws-bench thread-names [N]`: what it costs a connection thread to
//! rename itself, the reason `src/server/workers.rs` uses `prctl` (and its
//! one `unsafe` block) rather than the safe way, a write to
//! `/proc/thread-self/comm`. A connection renames its thread twice (on
//! start, and when it goes back to waiting), so the figure per connection
//! is twice the one per rename; the connect workload's target is about
//! server CPU per connection.

use std::time::Instant;

use crate::wire::Res;

pub fn main(args: &[String]) -> Res<()> {
    let renames: u32 = match args.first() {
        Some(n) => n.parse().map_err(|e| format!("thread-names: {n}: {e}"))?,
        None => 20_000,
    };
    let names: Vec<String> = (0..renames).map(|i| format!("syncws-{i}")).collect();
    let before = cpu_ns();
    let t0 = Instant::now();
    for name in &names {
        std::fs::write("/proc/thread-self/comm", name)
            .map_err(|e| format!("/proc/thread-self/comm: {e}"))?;
    }
    let proc_wall = t0.elapsed().as_nanos() as f64 / f64::from(renames);
    let proc_cpu = (cpu_ns() - before) as f64 / f64::from(renames);
    let before = cpu_ns();
    let t0 = Instant::now();
    for name in &names {
        prctl_set_name(name);
    }
    let prctl_wall = t0.elapsed().as_nanos() as f64 / f64::from(renames);
    let prctl_cpu = (cpu_ns() - before) as f64 / f64::from(renames);
    println!("renames of this thread, {renames} each way:");
    println!(
        "  write to /proc/thread-self/comm  {:7.0} ns CPU ({:7.0} ns wall) per rename",
        proc_cpu, proc_wall
    );
    println!(
        "  prctl(PR_SET_NAME)               {:7.0} ns CPU ({:7.0} ns wall) per rename",
        prctl_cpu, prctl_wall
    );
    println!(
        "  per connection (two renames): {:.1} µs against {:.1} µs",
        2.0 * proc_cpu / 1000.0,
        2.0 * prctl_cpu / 1000.0
    );
    Ok(())
}

/// CPU time of this thread so far, in nanoseconds: `CLOCK_THREAD_CPUTIME_ID`
/// brings the scheduler's count up to date when read (the run time in
/// `/proc/thread-self/schedstat` lags until the next tick).
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The same call as `name_thread` in `src/server/workers.rs`.
fn prctl_set_name(name: &str) {
    let mut buf = [0u8; 16];
    let len = name.len().min(15);
    buf[..len].copy_from_slice(&name.as_bytes()[..len]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
    // bytes; `buf` is 16 bytes, its last byte stays 0, and it outlives the
    // call. The other arguments are unused by PR_SET_NAME.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buf.as_ptr(), 0, 0, 0);
    }
}

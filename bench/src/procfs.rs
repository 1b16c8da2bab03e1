//! What the suite reads from /proc: a server's CPU time, memory, threads
//! and descriptors, the file-descriptor limit, the machine.

use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// CPU time a process has used, user and system apart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
}

impl Cpu {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The time used between `earlier` and `self`.
    pub fn since(&self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// Clock ticks per second, the unit of utime and stime in /proc/PID/stat.
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// CPU time of process `pid` (all its threads, live and ended): the total
/// to the nanosecond from the process's CPU clock, split into user and
/// system in the proportion of utime and stime in /proc/PID/stat.
///
/// utime and stime alone come in clock ticks (10 ms): a half-second
/// ping-pong round costs a server about 400 ms of CPU, so whole ticks would
/// put 2-3% of rounding into every figure and more into each ratio.
pub fn cpu(pid: u32) -> Result<Cpu, String> {
    let ticks = cpu_ticks(pid)?;
    let total = process_cpu_clock(pid)?;
    // The split is rounded to ticks; the total is not.
    let user = if ticks.total().is_zero() {
        Duration::ZERO
    } else {
        total.mul_f64(ticks.user.as_secs_f64() / ticks.total().as_secs_f64())
    };
    Ok(Cpu {
        user,
        system: total.saturating_sub(user),
    })
}

/// Process `pid`'s CPU clock (`clock_getcpuclockid`): the scheduler's run
/// time summed over the process's threads, brought up to date when read.
fn process_cpu_clock(pid: u32) -> Result<Duration, String> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid, writable clockid_t for the call's
    // duration; the call only writes it.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return Err(format!("clock_getcpuclockid({pid}): error {rc}"));
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(format!(
            "clock_gettime(CPU clock of {pid}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// utime and stime of process `pid` (all its threads, live and ended),
/// from /proc/PID/stat (fields 14 and 15, in clock ticks).
fn cpu_ticks(pid: u32) -> Result<Cpu, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name is in parentheses and may hold spaces: the fields
    // after it start with the state (field 3).
    let rest = &stat[stat.rfind(')').ok_or("no ')' in stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<Duration, String> {
        let ticks: u64 = fields
            .get(i)
            .ok_or("short stat")?
            .parse()
            .map_err(|e| format!("stat field: {e}"))?;
        Ok(Duration::from_nanos(ticks * 1_000_000_000 / clock_ticks()))
    };
    Ok(Cpu {
        user: tick(11)?,
        system: tick(12)?,
    })
}

/// A `Key: value kB` line of /proc/PID/status, in bytes.
fn status_kib(pid: u32, key: &str) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

/// Resident memory of process `pid`, in bytes (VmRSS).
pub fn rss(pid: u32) -> Result<u64, String> {
    status_kib(pid, "VmRSS")
}

/// Address space of process `pid`, in bytes (VmSize).
pub fn vm_size(pid: u32) -> Result<u64, String> {
    status_kib(pid, "VmSize")
}

/// The number of open file descriptors of process `pid`.
pub fn open_fds(pid: u32) -> Result<u64, String> {
    let dir =
        fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| format!("/proc/{pid}/fd: {e}"))?;
    Ok(dir.count() as u64)
}

/// The kernel's TCP counters named `keys` (`TcpExt` of /proc/net/netstat:
/// `ListenOverflows`, `SyncookiesSent`...), in the order asked; 0 for one
/// not found.
pub fn tcp_ext(keys: &[&str]) -> Vec<u64> {
    let netstat = fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return vec![0; keys.len()];
    };
    let pairs: Vec<(&str, u64)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .map(|(n, v)| (n, v.parse().unwrap_or(0)))
        .collect();
    keys.iter()
        .map(|k| pairs.iter().find(|(n, _)| n == k).map_or(0, |p| p.1))
        .collect()
}

/// The number of threads of process `pid`.
pub fn threads(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Threads in /proc/{pid}/status"))
}

/// The soft limit on open files of this process, from /proc/self/limits.
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// Try to raise this process's open-file limit to `want` with the
/// `prlimit` command (children inherit it). Returns the limit now in force.
pub fn raise_open_files(want: u64) -> Option<u64> {
    let now = open_files_limit()?;
    if now >= want {
        return Some(now);
    }
    let pid = std::process::id();
    for limits in [format!("{want}:{want}"), format!("{want}:")] {
        let _ = Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--nofile={limits}")])
            .stderr(std::process::Stdio::null())
            .status();
        if open_files_limit()? >= want {
            break;
        }
    }
    open_files_limit()
}

/// The thread id of the calling thread (for `taskset -p`).
pub fn thread_id() -> Option<u32> {
    let link = fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Pin thread or process `tid` to CPU `cpu` with `taskset -p`.
pub fn pin(tid: u32, cpu: usize, all_threads: bool) -> Result<(), String> {
    let mut command = Command::new("taskset");
    if all_threads {
        command.arg("-a");
    }
    let status = command
        .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p -c {cpu} {tid} failed: {status}"))
    }
}

/// The machine, as BENCHMARKS.md tells it.
pub struct Machine {
    pub cpus: String,
    pub model: String,
    pub kernel: String,
    pub memory: String,
    pub load: String,
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("?")
        .to_owned();
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib: u64 = m
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kib as f64 / (1 << 20) as f64))
        })
        .unwrap_or_else(|| "?".into());
    Machine {
        cpus: command_output("nproc", &[]),
        model,
        kernel: command_output("uname", &["-r"]),
        memory,
        load: load_average(),
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

pub fn date_utc() -> String {
    command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

//! Sampling the server: threads, memory, descriptors and CPU of its process.

use super::*;

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sample {
    pub(super) threads: u64,
    pub(super) rss: u64,
    pub(super) vm: u64,
    pub(super) fds: u64,
    pub(super) cpu: Duration,
}

impl Sample {
    fn read(pid: u32) -> Res<Sample> {
        Ok(Sample {
            threads: procfs::threads(pid)?,
            rss: procfs::rss(pid)?,
            vm: procfs::vm_size(pid)?,
            fds: procfs::open_fds(pid)?,
            cpu: procfs::cpu(pid)?.total(),
        })
    }

    pub(super) fn max(self, other: &Sample) -> Sample {
        Sample {
            threads: self.threads.max(other.threads),
            rss: self.rss.max(other.rss),
            vm: self.vm.max(other.vm),
            fds: self.fds.max(other.fds),
            cpu: self.cpu.max(other.cpu),
        }
    }
}

/// The highest CPU use over a second of `samples`, in cores.
pub(super) fn cpu_peak(samples: &[&(Instant, Sample)]) -> f64 {
    let mut peak = 0.0f64;
    for (i, (at, s)) in samples.iter().enumerate() {
        let earlier = samples[..i]
            .iter()
            .rev()
            .find(|(then, _)| *at - *then >= Duration::from_secs(1));
        if let Some((then, e)) = earlier {
            let cores = s.cpu.saturating_sub(e.cpu).as_secs_f64() / (*at - *then).as_secs_f64();
            peak = peak.max(cores);
        }
    }
    peak
}

/// Samples the server every [`SAMPLE_PERIOD`] on a thread of its own,
/// until stopped or the process is gone (at most an hour).
pub(super) struct Probe {
    pub(super) samples: Arc<Mutex<Vec<(Instant, Sample)>>>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: JoinHandle<()>,
}

impl Probe {
    pub(super) fn start(pid: u32) -> Probe {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let limit = Duration::from_secs(3600).as_millis() / SAMPLE_PERIOD.as_millis();
            for _ in 0..limit {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(sample) = Sample::read(pid) else { break };
                if let Ok(mut all) = kept.lock() {
                    all.push((Instant::now(), sample));
                }
                thread::sleep(SAMPLE_PERIOD);
            }
        });
        Probe {
            samples,
            stop,
            thread,
        }
    }

    pub(super) fn last(&self) -> Sample {
        self.samples
            .lock()
            .ok()
            .and_then(|s| s.last().map(|s| s.1))
            .unwrap_or_default()
    }

    pub(super) fn stop(self) -> Vec<(Instant, Sample)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

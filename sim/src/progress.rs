//! A progress bar for long sweeps (seeds done, seeds per second, failures so far) and
//! for exhaustive explorations (schedules run, and how far the level in flight is: a
//! level's size is known exactly before it starts).
//!
//! Shown only when stderr is a terminal and only once a sweep has run for about a
//! second, so quick tests and CI logs stay clean. Wall-clock time decides only whether
//! and when the bar is drawn, never what a sweep runs or reports.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a sweep runs before its progress bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// Progress shared by the threads of one sweep.
#[derive(Debug)]
pub(crate) struct Progress {
    total: u64,
    enabled: bool,
    started: Instant,
    done: AtomicU64,
    failures: AtomicU64,
    bar: OnceLock<ProgressBar>,
    /// For an exhaustive exploration: its bound, and the level in flight.
    exhaustive: Option<Exhaustive>,
}

#[derive(Debug)]
struct Exhaustive {
    bound: u32,
    /// (level, its schedules, schedules run before it)
    level: std::sync::Mutex<(u32, u64, u64)>,
}

impl Progress {
    /// Progress of a sweep of `total` seeds.
    pub(crate) fn new(total: u64) -> Progress {
        Progress {
            total,
            enabled: total > 1 && std::io::stderr().is_terminal(),
            started: Instant::now(),
            done: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            bar: OnceLock::new(),
            exhaustive: None,
        }
    }

    /// Progress of an exhaustive exploration up to `bound` deviations. Its total is not
    /// known in advance (a level's size is known when the level before it ends), so the
    /// bar and its estimate are those of the level in flight.
    pub(crate) fn exhaustive(bound: u32) -> Progress {
        let mut progress = Progress::new(u64::MAX);
        progress.exhaustive = Some(Exhaustive {
            bound,
            level: std::sync::Mutex::new((0, 1, 0)),
        });
        progress
    }

    /// The exploration starts the schedules with exactly `level` deviations, `schedules`
    /// of them.
    pub(crate) fn start_level(&self, level: u32, schedules: u64) {
        if let Some(exhaustive) = &self.exhaustive
            && let Ok(mut current) = exhaustive.level.lock()
        {
            *current = (level, schedules, self.done.load(Ordering::Relaxed));
        }
    }

    /// `seeds` more seeds finished, `failures` of them failing.
    pub(crate) fn advance(&self, seeds: u64, failures: u64) {
        let done = self.done.fetch_add(seeds, Ordering::Relaxed) + seeds;
        let failed = self.failures.fetch_add(failures, Ordering::Relaxed) + failures;
        if !self.enabled || self.started.elapsed() < DELAY {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let template = match self.exhaustive {
                None => "detsim {bar:30} {pos}/{len} seeds  {per_sec}  {msg}  eta {eta}",
                Some(_) => {
                    "detsim exhaustive {bar:30} {pos}/{len} schedules with {msg}  {per_sec}  \
                     eta {eta}"
                }
            };
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        match &self.exhaustive {
            None => {
                bar.set_position(done);
                bar.set_message(format!("{failed} failing"));
            }
            Some(exhaustive) => {
                // The level in flight is the part whose size is known: its bar and eta.
                let Ok(&(level, schedules, before)) = exhaustive.level.lock().as_deref() else {
                    return;
                };
                bar.set_length(schedules);
                bar.set_position(done.saturating_sub(before));
                bar.set_message(format!(
                    "{level} deviation(s) (bound {}; {done} run in all)",
                    exhaustive.bound
                ));
            }
        }
    }

    /// Removes the bar, if one was drawn.
    pub(crate) fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

//! A progress bar for long sweeps: seeds done, seeds per second, failures so far.
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
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "detsim {bar:30} {pos}/{len} seeds  {per_sec}  {msg}  eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(done);
        bar.set_message(format!("{failed} failing"));
    }

    /// Removes the bar, if one was drawn.
    pub(crate) fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

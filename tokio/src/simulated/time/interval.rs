//! `Interval` and the three behaviours for missed ticks, on the virtual clock.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::{Instant, Sleep, sleep_until};

/// A tick is "missed" when it is taken more than this late (tokio's rule, so that a
/// tick barely late is not treated as missed).
const MISSED_SLACK: Duration = Duration::from_millis(5);

/// What an [`Interval`] does when ticks were missed (its task was busy past them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one after the other, then keep the original
    /// schedule (`start + k·period`).
    #[default]
    Burst,
    /// Fire one tick now and schedule the next `period` after now: the schedule shifts.
    Delay,
    /// Fire one tick now and skip to the next multiple of `period` of the original
    /// schedule.
    Skip,
}

impl MissedTickBehavior {
    /// The next deadline after a tick due at `timeout` was taken at `now`.
    fn next_timeout(self, timeout: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => saturating_add(timeout, period),
            MissedTickBehavior::Delay => saturating_add(now, period),
            MissedTickBehavior::Skip => {
                let late = (now - timeout).as_nanos() % period.as_nanos();
                saturating_add(now, period - Duration::from_nanos(late as u64))
            }
        }
    }
}

/// Ticks every `period` of virtual time (tokio's `Interval`).
#[derive(Debug)]
pub struct Interval {
    delay: Pin<Box<Sleep>>,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

/// An interval whose first tick completes at once, then every `period`.
///
/// # Panics
/// If `period` is zero, or outside a simulation.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    interval_at(Instant::now(), period)
}

/// An interval whose first tick completes at `start`, then every `period`.
///
/// # Panics
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    Interval {
        delay: Box::pin(sleep_until(start)),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

impl Interval {
    /// Completes at the next tick and gives the instant it was due. Cancel-safe.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick (tokio's `poll_tick`).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.delay.as_mut().poll(cx));
        let timeout = self.delay.deadline();
        let now = Instant::now();
        let next = if now > saturating_add(timeout, MISSED_SLACK) {
            self.missed_tick_behavior
                .next_timeout(timeout, now, self.period)
        } else {
            saturating_add(timeout, self.period)
        };
        self.delay.as_mut().reset(next);
        Poll::Ready(timeout)
    }

    /// The next tick is `period` from now.
    pub fn reset(&mut self) {
        self.delay
            .as_mut()
            .reset(saturating_add(Instant::now(), self.period));
    }

    /// The next tick is now.
    pub fn reset_immediately(&mut self) {
        self.delay.as_mut().reset(Instant::now());
    }

    /// The next tick is `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        self.delay
            .as_mut()
            .reset(saturating_add(Instant::now(), after));
    }

    /// The next tick is at `deadline`.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.delay.as_mut().reset(deadline);
    }

    /// What the interval does about missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what the interval does about missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// `instant + d`, or tokio's far future ("never") when that overflows, as tokio's
/// interval arithmetic saturates (`interval(Duration::MAX)` then `reset()`).
fn saturating_add(instant: Instant, d: Duration) -> Instant {
    instant.checked_add(d).unwrap_or_else(Instant::far_future)
}

//! Virtual time: an [`Instant`] that only moves when no task is ready, sleeps and
//! timeouts driven by it.
//!
//! Invariants:
//! - time stands still while any task is ready; when none is, the clock jumps to the
//!   earliest armed timer and every timer due at that instant fires together, waking
//!   in arming order, so the scheduler chooses among them (under fifo: arming order);
//! - the one exception, only in a run that asks for it ([`advance_when_busy`], as the
//!   tokio facade's runs do): once the ready tasks have only yielded for that many
//!   polls in a row, the clock jumps to the earliest timer as if the spinning had taken
//!   that long; the count of polls decides it, so a seed still means one run;
//! - no sleeper wakes before its deadline;
//! - timers live in an ordered map keyed by (deadline, arming sequence): arming,
//!   cancelling and firing cost O(log n).

use std::fmt;
use std::future::Future;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::context;
use crate::wait::{WaitKind, WaitSite};

/// A point in virtual time, measured from the start of the run (`Instant` zero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub(crate) Duration);

impl Instant {
    /// The start of every run.
    pub const START: Instant = Instant(Duration::ZERO);

    /// The latest instant a timer can be armed for (2⁶⁴ − 1 ns, some 584 years after
    /// the start); what [`sleep`] waits for when its duration overflows the clock.
    pub const FAR_FUTURE: Instant = Instant(Duration::from_nanos(u64::MAX));

    /// Time since the start of the run.
    pub fn since_start(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// Time from `earlier` to `self`. Panics if `earlier` is later.
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self - earlier
    }

    /// Virtual time elapsed since `self`.
    pub fn elapsed(self) -> Duration {
        now() - self
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    /// `self - d`, or `None` before the start of the run.
    pub fn checked_sub(self, d: Duration) -> Option<Instant> {
        self.0.checked_sub(d).map(Instant)
    }

    pub(crate) fn as_nanos(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", self.0)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0.as_secs(), self.0.subsec_micros())
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d)
            .expect("overflow adding a duration to an Instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d)
            .expect("subtracting a duration moved an Instant before the start of the run")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.0
            .checked_sub(earlier.0)
            .expect("Instant subtraction: the second instant is later than the first")
    }
}

/// For the rest of the current run: once the ready tasks have only yielded, making no
/// other progress (no task parked, finished or woke another, nothing spawned, no timer
/// fired), for `polls` polls in a row, the clock jumps to the earliest armed timer and
/// fires every timer due then, as it does when no task is ready. `None` (every run's
/// default): time stands still while any task is ready.
///
/// On a real runtime, time passes while tasks spin: a task that is always ready (a loop
/// of `yield_now`, a future that wakes itself) does not keep a timer or a network
/// delivery from coming due. The tokio facade's runs turn this on (see
/// `detsim-tokio`'s `simulation::BUSY_CLOCK_POLLS`), so tokio code that relies on it
/// does not livelock; detsim's own runs keep time still, and report such a loop as a
/// livelock. A spin with no timer armed is still a livelock either way.
///
/// Panics outside a simulation.
///
/// ```
/// use std::time::Duration;
/// use detsim_runtime::{Runtime, spawn, time};
///
/// let mut rt = Runtime::new(1);
/// rt.block_on(async {
///     time::advance_when_busy(Some(1_000));
///     let sleeper = spawn(time::sleep(Duration::from_millis(10)));
///     // Spin until the sleeper is done: its timer fires after 1,000 quiet polls.
///     while !sleeper.is_finished() {
///         detsim_runtime::yield_now().await;
///     }
///     assert_eq!(time::now().since_start(), Duration::from_millis(10));
/// });
/// ```
pub fn advance_when_busy(polls: Option<u64>) {
    context::with_core("detsim::time::advance_when_busy", |core| {
        core.set_busy_clock(polls);
    });
}

/// The current virtual time. Panics outside a simulation.
pub fn now() -> Instant {
    context::with_core("detsim::time::now", |core| core.now())
}

/// Waits until `d` of virtual time has passed. A `d` too long to add to the clock
/// (such as `Duration::MAX`, the usual "no timeout") means a deadline in the far
/// future, as in tokio, rather than an overflow panic.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(now().checked_add(d).unwrap_or(Instant::FAR_FUTURE))
}

/// Waits until the virtual clock reaches `deadline`. A deadline already reached when
/// the sleep is first polled (`sleep(Duration::ZERO)`, a past instant) yields once, as
/// asyncio's `sleep(0)` does: the task goes to the back of the ready tasks and
/// completes at its next poll, so a loop of `sleep(Duration::ZERO)` waiting for another
/// task lets it run, and one that spins forever is a livelock the poll budget reports
/// rather than a hang. (The tokio facade's `sleep` keeps tokio's rule instead: see
/// [`sleep_until_coop`].)
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
        yielded: false,
        coop: false,
    }
}

/// [`sleep_until`] with tokio's rules: a deadline already reached completes at once,
/// and every poll spends the task's coop budget as tokio's `Sleep` does (see
/// [`crate::coop`]): a unit when it completes, and a yield instead of a completion
/// once the poll's budget is spent. The tokio facade's `sleep` is this one.
pub fn sleep_until_coop(deadline: Instant) -> Sleep {
    Sleep {
        coop: true,
        ..sleep_until(deadline)
    }
}

/// The sleeps already due that one poll of a task completes at once under
/// [`sleep_until_coop`] when it spends its budget on nothing else; the next one yields
/// (tokio's coop budget, [`crate::coop::BUDGET`]).
pub const READY_SLEEPS_PER_POLL: u32 = crate::coop::BUDGET;

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The armed timer's key, once polled.
    timer: Option<TimerKey>,
    /// It was due at its first poll and yielded.
    yielded: bool,
    /// tokio's rules ([`sleep_until_coop`]): due at its first poll, it completes at
    /// once; it spends the coop budget.
    coop: bool,
}

/// An armed timer: deadline in nanoseconds, arming sequence number, run epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    pub(crate) deadline: u64,
    pub(crate) seq: u64,
    pub(crate) epoch: u64,
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Sleep {
    /// Polls the timer; when it is not due, notes that the task waits on `kind` at
    /// `location`.
    fn poll_waiting(
        &mut self,
        cx: &mut Context<'_>,
        kind: WaitKind,
        location: &'static Location<'static>,
    ) -> Poll<()> {
        let deadline = self.deadline;
        let mut timer = self.timer;
        let (ready, dropped) = context::with_core("polling detsim::time::Sleep", |core| {
            let polled = core.poll_timer(deadline, &mut timer, cx);
            if !polled.0 {
                core.note_wait(WaitSite { kind, location });
            }
            polled
        });
        drop(dropped);
        self.timer = timer;
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Future for Sleep {
    type Output = ();

    /// Notes its caller (the `.await`) as where the task waits while the timer is armed.
    /// A sleep due when first polled yields once (see [`sleep_until`]; under tokio's
    /// rules it completes, spending the coop budget: [`sleep_until_coop`]).
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let location = Location::caller();
        if self.coop {
            let Poll::Ready(unit) = crate::coop::poll_proceed(cx) else {
                crate::wait::record_at(WaitKind::Sleep, location);
                return Poll::Pending;
            };
            let poll = self.poll_waiting(cx, WaitKind::Sleep, location);
            if poll.is_ready() {
                unit.made_progress();
            }
            return poll;
        }
        let armed = self.timer.is_some();
        match self.poll_waiting(cx, WaitKind::Sleep, location) {
            Poll::Ready(()) if !armed && !self.yielded => {
                self.yielded = true;
                crate::wait::record_at(WaitKind::Sleep, location);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            poll => poll,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.timer.take() {
            let waker = context::try_with_core(|core| core.cancel_timer(key));
            drop(waker);
        }
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `d` of virtual time: `Ok(output)` if it finishes first,
/// `Err(Elapsed)` otherwise (the future is then dropped). The future is polled before
/// the clock is checked, so one that is ready at once always wins. A `d` too long for
/// the clock (`Duration::MAX`) waits until [`Instant::FAR_FUTURE`], like [`sleep`].
pub fn timeout<F: Future>(d: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(d),
    }
}

pin_project! {
    /// The future of [`timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    /// Notes its caller (the `.await`) as where the task waits, after polling the future.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let location = Location::caller();
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.sleep.poll_waiting(cx, WaitKind::Timeout, location) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

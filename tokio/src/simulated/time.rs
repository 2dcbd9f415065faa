//! `tokio::time` on detsim's virtual clock.
//!
//! Time is always virtual: it stands still while any task is ready and jumps to the
//! next timer when every task waits, so a test that sleeps for hours runs in no time,
//! and timers due at the same instant fire in an order the scheduler chooses.
//!
//! [`Instant`] counts from a virtual origin one year (365 days) before the run
//! starts, so that `Instant::now() - Duration::from_secs(60)` works at the start of a
//! run, as it does on a real clock. Inside a run on Linux with glibc,
//! `std::time::Instant` is virtual too (see `detsim_runtime::seal`), and
//! [`Instant::from_std`] and [`Instant::into_std`] map one clock onto the other
//! exactly: the two read the same virtual moment. Elsewhere they map one
//! `std::time::Instant`, taken once per process, to the start of the run: a round trip
//! is exact, and mixing the two clocks is as meaningful as mixing tokio's paused clock
//! with the system's. Between two `block_on`s of a `Runtime`, on the thread that
//! drives it, both read the runtime's clock, which stands still there (as
//! `std::time::Instant` does, see `detsim_runtime::seal`). Elsewhere outside a
//! simulation, [`Instant::now`] is the real clock (as tokio's is), mapped the same way,
//! so constructors that read it work in a plain `#[test]`.
//!
//! `pause`, `resume` and `advance` (tokio's `test-util` API) keep tokio's rules (see
//! `clock.rs`): the clock is always virtual and auto-advances; `pause` and `resume`
//! each move tokio's clock by one microsecond, as real time moves between readings of
//! tokio's running clock; [`advance`]`(d)` lets
//! virtual time move forward by `d` (firing every timer due meanwhile, in deadline
//! order) before it returns. A [`Sleep`] is elapsed once a poll has seen its deadline
//! pass, never before its first poll (as tokio's: `sleep_until(now)` is not elapsed
//! until polled). Creating a timer outside a runtime, or on a runtime built without
//! `enable_time`, panics at the caller, as on tokio; polling one in a runtime that was
//! shut down panics with tokio's message.

mod clock;
mod interval;

use std::fmt;
use std::future::Future;
use std::marker::PhantomPinned;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

pub use std::time::Duration;

use pin_project_lite::pin_project;

pub(crate) use clock::is_paused;
pub use clock::{advance, pause, resume};
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};

/// Where the run starts, measured from the virtual origin.
const START: Duration = Duration::from_secs(365 * 24 * 3600);

/// A point in virtual time (tokio's `Instant`): `Copy`, ordered, and measured on the
/// simulation's clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Time since the virtual origin.
    since_origin: Duration,
}

/// The `std::time::Instant` that stands for the start of every run.
fn std_base() -> std::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

impl Instant {
    /// The current virtual time; outside a simulation, the real time (see the module
    /// docs), as tokio's `Instant::now` is.
    pub fn now() -> Instant {
        if detsim_runtime::in_simulation() {
            return Instant::from_detsim(detsim_runtime::time::now());
        }
        // Between two `block_on`s of a `Runtime`, on its thread: its clock.
        match detsim_runtime::seal::session_clock() {
            Some(since_start) => Instant {
                since_origin: START.saturating_add(since_start),
            },
            None => Instant::from_std(std::time::Instant::now()),
        }
    }

    /// Where `std`'s clock is virtual (inside a run, or between two `block_on`s of a
    /// `Runtime` on its thread): this clock's and `std`'s readings of the current
    /// moment.
    fn sealed_now() -> Option<(Instant, std::time::Instant)> {
        let sealed = detsim_runtime::seal::INTERPOSES
            && (detsim_runtime::in_simulation() || detsim_runtime::seal::session_clock().is_some());
        sealed.then(|| (Instant::now(), std::time::Instant::now()))
    }

    /// The virtual instant `std` stands for (see the module docs).
    pub fn from_std(std: std::time::Instant) -> Instant {
        if let Some((now, std_now)) = Instant::sealed_now() {
            return match std.checked_duration_since(std_now) {
                Some(later) => now.checked_add(later).unwrap_or(now),
                None => now
                    .checked_sub(std_now.duration_since(std))
                    .unwrap_or(Instant {
                        since_origin: Duration::ZERO,
                    }),
            };
        }
        let base = std_base();
        let since_origin = if std >= base {
            START.saturating_add(std - base)
        } else {
            START.saturating_sub(base - std)
        };
        Instant { since_origin }
    }

    /// The `std::time::Instant` this instant stands for (see the module docs).
    pub fn into_std(self) -> std::time::Instant {
        if let Some((now, std_now)) = Instant::sealed_now() {
            return match self.checked_duration_since(now) {
                Some(later) => std_now + later,
                None => std_now
                    .checked_sub(now.since_origin - self.since_origin)
                    .unwrap_or(std_now),
            };
        }
        let base = std_base();
        if self.since_origin >= START {
            base + (self.since_origin - START)
        } else {
            base.checked_sub(START - self.since_origin).unwrap_or(base)
        }
    }

    /// The instant the run's virtual `instant` reads as on tokio's clock (ahead by the
    /// clock's drift, see `clock.rs`).
    pub(crate) fn from_detsim(instant: detsim_runtime::time::Instant) -> Instant {
        Instant {
            since_origin: START
                .saturating_add(instant.since_start())
                .saturating_add(clock::drift()),
        }
    }

    /// The detsim deadline of this instant: the start of the run if it is earlier.
    pub(crate) fn to_detsim(self) -> detsim_runtime::time::Instant {
        let since_start = self
            .since_origin
            .saturating_sub(START)
            .saturating_sub(clock::drift());
        detsim_runtime::time::Instant::START
            .checked_add(since_start)
            .unwrap_or(detsim_runtime::time::Instant::FAR_FUTURE)
    }

    /// An instant some 30 years ahead: what tokio uses for "never".
    pub(crate) fn far_future() -> Instant {
        Instant::now() + Duration::from_secs(86400 * 365 * 30)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// Time from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.since_origin.checked_sub(earlier.since_origin)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.since_origin.saturating_sub(earlier.since_origin)
    }

    /// Virtual time elapsed since this instant.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.since_origin
            .checked_add(duration)
            .map(|since_origin| Instant { since_origin })
    }

    /// `self - duration`, or `None` before the virtual origin.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.since_origin
            .checked_sub(duration)
            .map(|since_origin| Instant { since_origin })
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant::from_std(std)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.into_std()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, other: Duration) -> Instant {
        self.checked_add(other)
            .expect("overflow when adding duration to instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        self.checked_sub(rhs)
            .expect("overflow when subtracting duration from instant")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = *self - rhs;
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since_start = self.since_origin.saturating_sub(START);
        if self.since_origin >= START {
            write!(f, "Instant(start + {since_start:?})")
        } else {
            write!(f, "Instant(start - {:?})", START - self.since_origin)
        }
    }
}

/// Waits until `duration` has elapsed on the virtual clock.
///
/// # Panics
/// Outside a simulation, or on a runtime built without time (see `clock.rs`).
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    clock::check_timers();
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(Instant::far_future);
    sleep_until(deadline)
}

/// Waits until the virtual clock reaches `deadline` (at its first poll if it has).
///
/// # Panics
/// Outside a simulation, or on a runtime built without time (see `clock.rs`).
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    clock::check_timers();
    Sleep {
        deadline,
        inner: detsim_runtime::time::sleep_until_coop(deadline.to_detsim()),
        polled: false,
        _pin: PhantomPinned,
    }
}

pin_project! {
    /// The future of [`sleep`] and [`sleep_until`] (tokio's `Sleep`: `!Unpin`, with
    /// `deadline`, `is_elapsed` and `reset`).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Sleep {
        deadline: Instant,
        inner: detsim_runtime::time::Sleep,
        // Whether it was polled since created or reset: tokio's timer is elapsed only
        // once it is registered and its deadline passed.
        polled: bool,
        #[pin]
        _pin: PhantomPinned,
    }
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed, once polled (before its first poll, as
    /// tokio's, a sleep is not elapsed). Panics outside a simulation.
    pub fn is_elapsed(&self) -> bool {
        self.polled && Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); a sleep that has completed can be
    /// awaited again.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        *this.deadline = deadline;
        *this.polled = false;
        // Dropping the old detsim sleep cancels its timer.
        *this.inner = detsim_runtime::time::sleep_until_coop(deadline.to_detsim());
    }
}

impl Future for Sleep {
    type Output = ();

    /// detsim's `Sleep` notes where the task waits: the caller's `.await`, passed on.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // As tokio's timer, in a runtime that was shut down.
        assert!(
            !detsim_runtime::is_shut_down(),
            "{}",
            detsim_runtime::SHUTDOWN_MESSAGE
        );
        let this = self.project();
        *this.polled = true;
        Pin::new(this.inner).poll(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Runs `future` for at most `duration` of virtual time: `Ok(output)` if it finishes
/// first, `Err(Elapsed)` otherwise. The future is polled before the clock is checked.
///
/// # Panics
/// Outside a simulation, or on a runtime built without time (see `clock.rs`).
#[track_caller]
pub fn timeout<F: std::future::IntoFuture>(
    duration: Duration,
    future: F,
) -> Timeout<F::IntoFuture> {
    let delay = match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        None => sleep_until(Instant::far_future()),
    };
    Timeout {
        value: future.into_future(),
        delay,
    }
}

/// Runs `future` until the virtual clock reaches `deadline` (see [`timeout`]).
#[track_caller]
pub fn timeout_at<F: std::future::IntoFuture>(
    deadline: Instant,
    future: F,
) -> Timeout<F::IntoFuture> {
    Timeout {
        value: future.into_future(),
        delay: sleep_until(deadline),
    }
}

pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<T> {
        #[pin]
        value: T,
        #[pin]
        delay: Sleep,
    }
}

impl<T> Timeout<T> {
    /// The inner future.
    pub fn get_ref(&self) -> &T {
        &self.value
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// The inner future, without the timeout.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Future> Future for Timeout<T> {
    type Output = Result<T::Output, error::Elapsed>;

    /// Notes the caller's `.await` as where the task waits (in timeout). As tokio's:
    /// when the inner future spent the last of the task's coop budget, the deadline is
    /// still checked (with the budget lifted), so a future that always exhausts the
    /// budget still times out.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = detsim_runtime::coop::has_budget_remaining();
        if let Poll::Ready(value) = this.value.poll(cx) {
            return Poll::Ready(Ok(value));
        }
        let mut delay = this.delay;
        let delay_poll = match had_budget && !detsim_runtime::coop::has_budget_remaining() {
            true => detsim_runtime::coop::with_unconstrained(|| delay.as_mut().poll(cx)),
            false => delay.as_mut().poll(cx),
        };
        match delay_poll {
            Poll::Ready(()) => Poll::Ready(Err(error::Elapsed::new())),
            Poll::Pending => {
                detsim_runtime::wait::record(detsim_runtime::wait::WaitKind::Timeout);
                Poll::Pending
            }
        }
    }
}

/// The errors of `tokio::time`.
pub mod error {
    use std::fmt;

    /// A [`timeout`](super::timeout) ran out of time.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Elapsed(());

    impl Elapsed {
        pub(crate) fn new() -> Elapsed {
            Elapsed(())
        }
    }

    impl fmt::Display for Elapsed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("deadline has elapsed")
        }
    }

    impl std::error::Error for Elapsed {}

    impl From<Elapsed> for std::io::Error {
        fn from(_: Elapsed) -> std::io::Error {
            std::io::ErrorKind::TimedOut.into()
        }
    }
}

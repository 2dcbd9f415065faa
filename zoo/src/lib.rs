//! A zoo of small async programs, each hiding one classic concurrency bug.
//!
//! # Design
//!
//! Every bug is a plain `pub async fn` with no arguments: the *body* of a detsim test. It
//! spawns a few tasks with [`detsim::spawn`], lets them interleave at `.await` points
//! ([`detsim::yield_now`], [`detsim::time::sleep`], [`futures::lock::Mutex`],
//! [`futures::channel`]) and panics with an `assert!` message when the bug shows. On the
//! schedules where the bug stays hidden the body returns normally.
//!
//! [`all`] lists every bug as a [`Bug`]: a name, a sentence on what goes wrong, and a
//! function that builds the body's future. The tests in `tests/zoo.rs` state, per bug,
//! which schedulers find it within how many seeds; `detsim-bench` measures the seeds to
//! the first failure against shuttle's schedulers on the same bugs.
//!
//! Each bug is small on purpose (two to four tasks, tens of polls), so that a sweep over
//! thousands of seeds takes milliseconds, and each is shaped so that some schedulers find
//! it easily and others hardly at all:
//!
//! | bug | found quickly by | hard for |
//! | --- | --- | --- |
//! | [`uninterrupted_run`] | `pct(1)` (one task runs 13 polls in a row) | `random` (2^-13 a seed), `pct(2)`, `pct(3)` |
//! | [`strict_alternation`] | `fifo` (asyncio's ping-pong order), `pct` | `random` (hundreds of seeds) |
//! | [`rare_three_step`] | `random` (about a hundred seeds) | `pct(3)` (thousands), `fifo`, `pct(1)`, `pct(2)` |
//! | [`aba_slot`] | `random`, `pct(2)`, `pct(3)` | `fifo`, `pct(1)` |
//! | [`starvation`], [`ordering_assumption`], [`missed_notification`] | `random`, `pct` | `fifo` |
//! | the other races, deadlocks and timeouts | every scheduler, `fifo` on its first seed | |
//!
//! The default scheduler, a portfolio of `random` and `pct(1..=3)` taking turns by seed,
//! finds every one of them.
//!
//! `tests/zoo.rs` pins these claims down with seed counts; `cargo run --release -p
//! detsim-bench zoo` measures them, side by side with shuttle's schedulers.
//!
//! [`bank`] is the demo program of the README (`cargo run --example bank`): a
//! read-await-write race in a bank transfer.
//!
//! # Determinism
//!
//! A body must behave the same way on every run of the same schedule: no real time, no
//! thread-local randomness, no `HashMap` iteration, no I/O. Shared state is
//! `Rc<Cell<_>>`/`Rc<RefCell<_>>` (tasks are not `Send`), and no `RefCell` borrow is held
//! across an `.await`. What a bug needs of the schedule is said in its doc comment.
//!
//! # Example
//!
//! ```
//! use detsim::{Builder, Scheduler};
//!
//! let report = Builder::new()
//!     .seeds(200)
//!     .scheduler(Scheduler::random())
//!     .explore(detsim_zoo::lost_update);
//! let failure = report.failure.expect("a random sweep finds the lost update");
//! assert!(failure.message.contains("lost update"));
//! ```

pub mod bank;
mod bugs;
mod support;

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

pub use bugs::{
    aba_slot, abba_deadlock, cancel_half_update, cancel_unsafe_timeout, check_then_act,
    double_checked_init, lost_update, missed_notification, ordering_assumption, rare_three_step,
    starvation, strict_alternation, timeout_race, uninterrupted_run,
};

/// One bug of the zoo: what it is called, what goes wrong, and how to run it.
#[derive(Clone, Copy, Debug)]
pub struct Bug {
    /// The name of the body's function, e.g. `"lost_update"`.
    pub name: &'static str,
    /// One sentence on what goes wrong when the bug shows.
    pub what: &'static str,
    /// Builds a fresh future of the body: a detsim test body, to pass to
    /// `detsim::Builder::explore` as `|| (bug.body)()`.
    pub body: fn() -> LocalBoxFuture<'static, ()>,
}

macro_rules! bug {
    ($name:ident, $what:expr) => {
        Bug {
            name: stringify!($name),
            what: $what,
            body: || $name().boxed_local(),
        }
    };
}

/// Every bug of the zoo, in a fixed order.
pub fn all() -> Vec<Bug> {
    vec![
        bug!(
            lost_update,
            "two read-modify-write increments interleave across an await; one is lost"
        ),
        bug!(
            check_then_act,
            "two withdrawals both pass the balance check before either debits"
        ),
        bug!(
            abba_deadlock,
            "two tasks take two async mutexes in opposite orders and deadlock"
        ),
        bug!(
            missed_notification,
            "the waiter checks a flag, awaits, then registers; the notification in between is lost"
        ),
        bug!(
            cancel_half_update,
            "a transfer aborted between its debit and its credit loses money"
        ),
        bug!(
            timeout_race,
            "a request times out at the instant the server applies it; the retry applies it twice"
        ),
        bug!(
            cancel_unsafe_timeout,
            "a timeout drops a consumer after it took a message but before it stored it"
        ),
        bug!(
            ordering_assumption,
            "a consumer assumes the producer, spawned first, has already published"
        ),
        bug!(
            starvation,
            "a reader-preferring lock lets overlapping readers starve the writer"
        ),
        bug!(
            rare_three_step,
            "a stale value needs three tasks to act in one order, each inside the previous one's window"
        ),
        bug!(
            uninterrupted_run,
            "a supervisor's check is too late only if a worker runs many steps in a row"
        ),
        bug!(
            strict_alternation,
            "a seqlock reader never gets a consistent read when the writer strictly alternates with it"
        ),
        bug!(
            double_checked_init,
            "lazy initialisation checks before taking the lock but not after; it runs twice"
        ),
        bug!(
            aba_slot,
            "a compare-and-swap on a free list's head succeeds after A-B-A and hands a node out twice"
        ),
    ]
}

/// The bug called `name`, if the zoo has one.
pub fn find(name: &str) -> Option<Bug> {
    all().into_iter().find(|bug| bug.name == name)
}

//! Sometimes-assertions: `sometimes!`, `reachable!`, `always!` and `unreachable!`,
//! counted per seed, and what a sweep makes of the counts.
//!
//! A fault-injection test whose seeds never reach its interesting states (a failover,
//! a retry, a write during a partition) tests little, and passes all the same. These
//! macros name those states, as Antithesis's `assert_sometimes` does: a sweep counts
//! the seeds in which each held, the report lists the counts, and a sweep in which a
//! `sometimes!` or a `reachable!` never held fails with `never reached in N seeds:
//! <name>` (unless [`Builder::sometimes_warn`](crate::Builder::sometimes_warn) or
//! `DETSIM_SOMETIMES=warn` make that a warning).
//!
//! Design:
//! - what a run saw is run-scoped state of the runtime
//!   ([`detsim_runtime::extension::run_state`]): the harness installs a sink of its
//!   own at the start of each run (`install`) and reads it when the run has ended,
//!   whatever way it ended; a run the harness does not drive (a bare `Runtime`)
//!   counts into a sink nobody reads, and outside a simulation the macros count
//!   nothing;
//! - a run's record is per name (the name is the identity: two macros with one name
//!   are one assertion), and a replay or a shrinking run records its own, so a
//!   [`Failure`](crate::Failure) carries what its shown run reached;
//! - a sweep adds up the runs' records by chunk of seeds and keeps only the chunks up
//!   to its lowest failing seed, so its counts are the same whatever the number of
//!   threads (`Tally`).
//!
//! A name is known to a sweep once a seed evaluates it: a `sometimes!(cond, …)` whose
//! condition was false counts as never reached, but a `reachable!` on a path no seed
//! took is unknown. [`Builder::expect_reached`](crate::Builder::expect_reached)
//! names what must be reached even so.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use detsim_runtime::extension::run_state;

/// Which macro an assertion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AssertionKind {
    /// `sometimes!(cond, name)`: `cond` must hold in at least one seed of a sweep.
    Sometimes,
    /// `reachable!(name)`: must be reached in at least one seed of a sweep.
    Reachable,
    /// `always!(cond, name)`: `cond` must hold every time; a seed where it does not
    /// fails.
    Always,
    /// `unreachable!(name)`: a seed that reaches it fails.
    Unreachable,
}

impl AssertionKind {
    /// The macro's name, as reports show it.
    pub fn macro_name(self) -> &'static str {
        match self {
            AssertionKind::Sometimes => "sometimes!",
            AssertionKind::Reachable => "reachable!",
            AssertionKind::Always => "always!",
            AssertionKind::Unreachable => "unreachable!",
        }
    }

    /// Whether a sweep needs at least one seed where it held.
    fn must_hold_once(self) -> bool {
        matches!(self, AssertionKind::Sometimes | AssertionKind::Reachable)
    }
}

/// What one run saw of one assertion: its kind, and whether it held (was reached) at
/// least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) kind: AssertionKind,
    pub(crate) held: bool,
}

/// What one run saw, by name.
pub(crate) type RunRecord = BTreeMap<&'static str, Seen>;

/// Where a run's record goes: shared by the run-scoped state and the harness.
pub(crate) type Sink = Rc<RefCell<RunRecord>>;

/// The run-scoped state the macros find.
struct RunAssertions {
    sink: Sink,
}

/// Makes `sink` this run's: called by the harness at the first poll of each run,
/// before the body runs.
pub(crate) fn install(sink: Sink) {
    let installed = run_state(|| RunAssertions { sink: sink.clone() });
    debug_assert!(Rc::ptr_eq(&installed.sink, &sink));
}

/// Records that the assertion `name` of `kind` was evaluated, and whether it held. The
/// macros call this; outside a simulation it does nothing.
///
/// # Panics
/// When `name` was already used by an assertion of another kind in this run.
#[doc(hidden)]
pub fn __record(name: &'static str, kind: AssertionKind, held: bool) {
    if !detsim_runtime::in_simulation() {
        return;
    }
    let state = run_state(|| RunAssertions {
        sink: Sink::default(),
    });
    let mut record = state.sink.borrow_mut();
    let seen = record.entry(name).or_insert(Seen { kind, held: false });
    assert!(
        seen.kind == kind,
        "detsim: the assertion name `{name}` is used by both {} and {}: give each its own name",
        seen.kind.macro_name(),
        kind.macro_name()
    );
    seen.held |= held;
}

/// `cond` must hold in at least one seed of a sweep: counts, per seed, whether it did.
/// A sweep in which it never held fails with `never reached in N seeds: <name>`.
///
/// ```
/// detsim::Builder::new().seeds(20).check(|| async {
///     let coin: bool = detsim::random();
///     detsim::sometimes!(coin, "heads");
/// });
/// ```
#[macro_export]
macro_rules! sometimes {
    ($cond:expr, $name:expr $(,)?) => {
        $crate::assertions::__record($name, $crate::assertions::AssertionKind::Sometimes, $cond)
    };
}

/// This point must be reached in at least one seed of a sweep: counts, per seed,
/// whether it was. A sweep in which it never was fails with `never reached in N seeds:
/// <name>`.
#[macro_export]
macro_rules! reachable {
    ($name:expr $(,)?) => {
        $crate::assertions::__record($name, $crate::assertions::AssertionKind::Reachable, true)
    };
}

/// An assertion that is also counted: `cond` must hold every time (a seed where it does
/// not fails, as with `assert!`), and the sweep reports how many seeds evaluated it.
#[macro_export]
macro_rules! always {
    ($cond:expr, $name:expr $(,)?) => {{
        let held: bool = $cond;
        $crate::assertions::__record($name, $crate::assertions::AssertionKind::Always, held);
        if !held {
            ::std::panic!(
                "always! did not hold: {} (`{}`)",
                $name,
                ::std::stringify!($cond)
            );
        }
    }};
}

/// A point no seed may reach: a seed that reaches it fails (as with `unreachable!`),
/// and the sweep reports it as an assertion that held in no seed.
#[macro_export]
macro_rules! unreachable {
    ($name:expr $(,)?) => {{
        $crate::assertions::__record($name, $crate::assertions::AssertionKind::Unreachable, true);
        ::std::panic!("unreachable! reached: {}", $name)
    }};
}

/// One assertion over a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssertionCount {
    /// Its name.
    pub name: &'static str,
    /// Its macro.
    pub kind: AssertionKind,
    /// Seeds that evaluated it (reached it, for `reachable!` and `unreachable!`).
    pub evaluated: u64,
    /// Seeds in which it held at least once (was reached).
    pub held: u64,
}

/// Counts of a sweep's runs, by name: what the seeds of one chunk, or of a whole
/// sweep, saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    counts: BTreeMap<&'static str, AssertionCount>,
}

impl Tally {
    /// Adds one run's record.
    pub(crate) fn add(&mut self, run: &RunRecord) {
        for (&name, seen) in run {
            let count = self.counts.entry(name).or_insert(AssertionCount {
                name,
                kind: seen.kind,
                evaluated: 0,
                held: 0,
            });
            count.evaluated += 1;
            count.held += u64::from(seen.held);
        }
    }

    /// Adds another tally.
    pub(crate) fn merge(&mut self, other: &Tally) {
        for (&name, theirs) in &other.counts {
            let count = self.counts.entry(name).or_insert(AssertionCount {
                evaluated: 0,
                held: 0,
                ..theirs.clone()
            });
            count.evaluated += theirs.evaluated;
            count.held += theirs.held;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The sweep's view: `seeds` run, and the `expected` names each with its count
    /// (none, for a name no seed evaluated).
    pub(crate) fn finish(mut self, seeds: u64, expected: &[&'static str]) -> Assertions {
        for &name in expected {
            self.counts.entry(name).or_insert(AssertionCount {
                name,
                kind: AssertionKind::Reachable,
                evaluated: 0,
                held: 0,
            });
        }
        Assertions {
            seeds,
            counts: self.counts.into_values().collect(),
        }
    }
}

/// What a sweep's seeds reached: each assertion with the number of seeds that hit it.
/// Its `Display` is the table a passing [`check`](crate::check) prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assertions {
    seeds: u64,
    counts: Vec<AssertionCount>,
}

impl Assertions {
    /// The seeds the counts are over.
    pub fn seeds(&self) -> u64 {
        self.seeds
    }

    /// Every assertion a seed evaluated (or the test expected), by name.
    pub fn counts(&self) -> &[AssertionCount] {
        &self.counts
    }

    /// The count of the assertion `name`.
    pub fn get(&self, name: &str) -> Option<&AssertionCount> {
        self.counts.iter().find(|c| c.name == name)
    }

    /// The `sometimes!` and `reachable!` assertions that held in no seed.
    pub fn never_reached(&self) -> Vec<&'static str> {
        self.counts
            .iter()
            .filter(|c| c.kind.must_hold_once() && c.held == 0)
            .map(|c| c.name)
            .collect()
    }

    /// `never reached in N seeds: <name>`, a line per name, when some `sometimes!` or
    /// `reachable!` never held.
    pub fn never_reached_message(&self) -> Option<String> {
        let names = self.never_reached();
        (!names.is_empty()).then(|| {
            names
                .iter()
                .map(|name| format!("never reached in {} seeds: {name}", self.seeds))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }
}

impl fmt::Display for Assertions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "assertions over {} seeds:", self.seeds)?;
        let width = self.counts.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for count in &self.counts {
            write!(
                f,
                "\n  {:<13}{:<width$}  ",
                count.kind.macro_name(),
                count.name
            )?;
            match count.kind {
                AssertionKind::Sometimes => write!(
                    f,
                    "held in {} seeds (evaluated in {})",
                    count.held, count.evaluated
                )?,
                AssertionKind::Reachable | AssertionKind::Unreachable => {
                    write!(f, "reached in {} seeds", count.held)?
                }
                AssertionKind::Always => write!(
                    f,
                    "evaluated in {} seeds, held in {}",
                    count.evaluated, count.held
                )?,
            }
        }
        Ok(())
    }
}

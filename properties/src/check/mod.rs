//! The invariants, each a function from a program and what a run recorded
//! to `Ok(())` or the first [`Violation`] found.
//!
//! Each check reads only the [`Event`] log and the [`Verdict`](crate::event::Verdict) (never detsim
//! itself), so the tests can feed it doctored logs to show it can fail.
//! [`all`] runs every single-run check; [`same_run`], [`distinct_schedules`]
//! and [`same_random_stream`] compare runs; [`matches_model`] compares a
//! `fifo` run with [`crate::model`]; [`run_and_check`] runs a program and
//! checks it, for a fuzz target.

mod progress;
mod results;
mod time;

use std::fmt;

use crate::event::{Event, PollEnd, Run, Step, schedule};
use crate::interp::Sched;
use crate::model;
use crate::program::{NodeIx, Program};

pub use progress::{RANDOM_WAIT_BOUND, progress};
pub use results::{aborts, results};
pub use time::timers;

/// Which invariant a [`Violation`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    /// Polls do not nest, ids are consistent, every future is dropped once.
    WellFormed,
    /// 1. A task is first polled after its creator's spawning poll ended.
    LazyStart,
    /// 2. Join handles give the task's value, payload or cancellation.
    Results,
    /// 3. Aborted tasks are dropped, never polled again.
    Abort,
    /// 4. No sleeper wakes early; timers fire in deadline order.
    Timers,
    /// 5. Same seed, same run; the random scheduler varies schedules.
    Determinism,
    /// 6. Every ready task runs, within the stated bound.
    Progress,
    /// 7. Under `fifo`, the schedule is the reference model's.
    Model,
}

/// A broken invariant: which, where in the log, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant.
    pub property: Property,
    /// The index of the offending event in the log, when there is one.
    pub at: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(property: Property, at: Option<usize>, message: impl Into<String>) -> Self {
        Violation {
            property,
            at,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} violated", self.property)?;
        if let Some(at) = self.at {
            write!(f, " at event #{at}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Violation {}

/// The result of a check.
pub type Checked = Result<(), Violation>;

/// Runs every single-run check on `run` of `program` under `sched`, the
/// model comparison included when `sched` is `fifo`.
pub fn all(program: &Program, sched: Sched, run: &Run) -> Checked {
    well_formed(program, run)?;
    lazy_start(program, run)?;
    results(program, run)?;
    aborts(program, run)?;
    timers(program, sched, run)?;
    progress(program, sched, run)?;
    if sched == Sched::Fifo {
        matches_model(program, run)?;
    }
    Ok(())
}

/// Runs `program` on `seed` under `sched` twice and applies [`all`] and
/// [`same_run`]: the one call a fuzz target needs. Returns the first run.
pub fn run_and_check(program: &Program, sched: Sched, seed: u64) -> (Run, Checked) {
    let first = crate::interp::run(program, sched, seed);
    let second = crate::interp::run(program, sched, seed);
    let checked = all(program, sched, &first).and_then(|()| same_run(&first, &second));
    (first, checked)
}

/// The end of the poll that contains event `i` (`None` if it never ends).
pub(crate) fn poll_end(events: &[Event], i: usize) -> Option<usize> {
    let node = events[i].node();
    (i..events.len()).find(|&j| matches!(events[j], Event::PollEnd { node: n, .. } if n == node))
}

/// The index of the end of the root's last poll, if it finished.
pub(crate) fn root_end(events: &[Event]) -> Option<usize> {
    events.iter().position(|e| {
        matches!(
            e,
            Event::PollEnd {
                node: 0,
                end: PollEnd::Ready | PollEnd::Panicked
            }
        )
    })
}

/// Well-formedness: polls never nest and each `PollEnd` closes the open
/// `PollStart`; events a task logs happen inside its own poll; a task is
/// never polled after it returned, panicked or was dropped; every task's
/// `task::id()` is its handle's `id()` and ids are distinct; and every future
/// the run created (the root's and each spawned task's) is dropped exactly
/// once.
pub fn well_formed(program: &Program, run: &Run) -> Checked {
    let v = |at, m: String| Err(Violation::new(Property::WellFormed, Some(at), m));
    let events = &run.events;
    let n = program.len();
    let mut current: Option<NodeIx> = None;
    let mut finished = vec![false; n];
    let mut dropped = vec![0u32; n];
    let mut ids = vec![None; n];
    let mut created = vec![false; n];
    created[0] = true;
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::PollStart { node, id, .. } => {
                if let Some(c) = current {
                    return v(i, format!("n{node} polled inside the poll of n{c}"));
                }
                if finished[node] {
                    return v(i, format!("n{node} polled after it finished"));
                }
                if dropped[node] > 0 {
                    return v(i, format!("n{node} polled after its future was dropped"));
                }
                if !created[node] {
                    return v(i, format!("n{node} polled before it was spawned"));
                }
                match ids[node] {
                    None => ids[node] = Some(id),
                    Some(known) if known != id => {
                        return v(
                            i,
                            format!("n{node} runs as {id:?} but its handle says {known:?}"),
                        );
                    }
                    Some(_) => {}
                }
                current = Some(node);
            }
            Event::PollEnd { node, end } => {
                if current != Some(node) {
                    return v(i, format!("n{node}'s poll ends but {current:?} is polled"));
                }
                if end != PollEnd::Pending {
                    finished[node] = true;
                }
                current = None;
            }
            Event::Spawn { child, id, .. } => {
                created[child] = true;
                if ids.iter().flatten().any(|&known| known == id) && ids[child] != Some(id) {
                    return v(i, format!("n{child} got {id:?}, the id of another task"));
                }
                ids[child] = Some(id);
            }
            Event::DropStart { node, .. } => dropped[node] += 1,
            Event::DropEnd { .. } | Event::Hangup { .. } => {}
            Event::Abort { on_drop: true, .. } => {}
            ref other => {
                let node = other.node();
                if current != Some(node) {
                    return v(i, format!("{other:?} logged outside a poll of n{node}"));
                }
                if let Event::Return { .. } | Event::Panic { .. } = other {
                    finished[node] = true;
                }
            }
        }
    }
    for node in 0..n {
        if created[node] && dropped[node] != 1 {
            return Err(Violation::new(
                Property::WellFormed,
                None,
                format!("n{node}'s future was dropped {} times", dropped[node]),
            ));
        }
    }
    Ok(())
}

/// Property 1, lazy start: for every `Spawn`, the child's first poll comes
/// after the end of the parent's poll that spawned it.
pub fn lazy_start(_program: &Program, run: &Run) -> Checked {
    let events = &run.events;
    for (i, e) in events.iter().enumerate() {
        let Event::Spawn { parent, child, .. } = *e else {
            continue;
        };
        let end = poll_end(events, i).unwrap_or(events.len());
        let early = events[..end]
            .iter()
            .position(|e| matches!(*e, Event::PollStart { node, .. } if node == child));
        if let Some(j) = early {
            return Err(Violation::new(
                Property::LazyStart,
                Some(j),
                format!(
                    "n{child} polled at #{j}, before the poll of n{parent} that spawned it (#{i}) ended at #{end}"
                ),
            ));
        }
    }
    Ok(())
}

/// Property 7, differential: the run's schedule ([`schedule`]) is exactly
/// what [`model::predict`] says detsim's `fifo` does, and the run ends as
/// predicted.
pub fn matches_model(program: &Program, run: &Run) -> Checked {
    matches_model_with(program, run, model::DETSIM_WAKE_ORDER)
}

/// [`matches_model`] with the model's wake order given
/// ([`model::WakeOrder::InOrder`] is asyncio's).
pub fn matches_model_with(program: &Program, run: &Run, order: model::WakeOrder) -> Checked {
    let predicted = model::predict_with(program, order);
    let seen = schedule(&run.events);
    if let Some(k) =
        (0..seen.len().max(predicted.steps.len())).find(|&k| seen.get(k) != predicted.steps.get(k))
    {
        let show = |s: &[Step]| {
            s.iter()
                .skip(k.saturating_sub(3))
                .take(8)
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Violation::new(
            Property::Model,
            None,
            format!(
                "schedules part at step {k}: model [{}], detsim [{}] (from step {})",
                show(&predicted.steps),
                show(&seen),
                k.saturating_sub(3)
            ),
        ));
    }
    let failed = run.verdict.failure.is_some();
    let expect_fail = predicted.end != model::End::Returned;
    if failed != expect_fail {
        return Err(Violation::new(
            Property::Model,
            None,
            format!(
                "model ends {:?}, detsim reports {:?}",
                predicted.end, run.verdict.failure
            ),
        ));
    }
    Ok(())
}

/// Property 5, determinism: two runs of one program on one seed and
/// scheduler record the same log and the same verdict (failure message,
/// step count and trace text included).
pub fn same_run(a: &Run, b: &Run) -> Checked {
    if let Some(k) =
        (0..a.events.len().max(b.events.len())).find(|&k| a.events.get(k) != b.events.get(k))
    {
        return Err(Violation::new(
            Property::Determinism,
            Some(k),
            format!(
                "same seed {:#x}, logs differ at #{k}: {:?} vs {:?}",
                a.seed,
                a.events.get(k),
                b.events.get(k)
            ),
        ));
    }
    if a.verdict != b.verdict {
        return Err(Violation::new(
            Property::Determinism,
            None,
            format!(
                "same seed {:#x}, verdicts differ:\n{:#?}\nvs\n{:#?}",
                a.seed, a.verdict, b.verdict
            ),
        ));
    }
    Ok(())
}

/// Property 5, variety: over runs on different seeds of a program whose
/// `fifo` run has a choice, not every schedule is the same.
pub fn distinct_schedules(runs: &[Run]) -> Checked {
    let first = runs.first().map(|r| schedule(&r.events));
    if runs.len() > 1 && runs.iter().all(|r| Some(schedule(&r.events)) == first) {
        return Err(Violation::new(
            Property::Determinism,
            None,
            format!(
                "{} seeds ({:#x}..) all gave the same schedule",
                runs.len(),
                runs[0].seed
            ),
        ));
    }
    Ok(())
}

/// Property 5, separate user randomness: runs on the same seed under
/// different schedulers draw the same `detsim::random` values, in draw order
/// (compared over the shorter sequence, as aborts may cut draws short).
pub fn same_random_stream(a: &Run, b: &Run) -> Checked {
    let draws = |r: &Run| -> Vec<u64> {
        r.events
            .iter()
            .filter_map(|e| match e {
                Event::Random { value, .. } => Some(*value),
                _ => None,
            })
            .collect()
    };
    let (da, db) = (draws(a), draws(b));
    if let Some(k) = da.iter().zip(&db).position(|(x, y)| x != y) {
        return Err(Violation::new(
            Property::Determinism,
            None,
            format!(
                "seed {:#x}: random draw #{k} is {:#x} under one scheduler, {:#x} under another",
                a.seed, da[k], db[k]
            ),
        ));
    }
    Ok(())
}

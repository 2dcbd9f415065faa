//! Deviations explained: each decision of a run that left asyncio's default order, in
//! words, with where the tasks involved stood.
//!
//! A task decision deviates when the polled task is not the one first in line (the
//! ready set's oldest entry, which asyncio's FIFO loop would run); any other decision
//! (a `select!` branch, a delivery order, a fault) deviates when it took an option
//! other than 0. Positions come from the trace: the site each task's last poll ended
//! in ([`EventKind::PollEnd`]), or "a foreign future" when detsim's own futures did not
//! suspend it there.
//!
//! Invariant: the lines depend only on the trace, so a replay of the same schedule
//! explains itself in the same words.

use std::collections::BTreeMap;
use std::panic::Location;

use detsim_runtime::trace::{EventKind, Trace};
use detsim_runtime::wait::{WaitKind, WaitSite};
use detsim_runtime::{DecisionKind, task::Id};

/// What the trace says about one task so far.
#[derive(Default, Clone, Copy)]
struct Known {
    spawned_at: Option<&'static Location<'static>>,
    /// The last detsim wait site of the task.
    last_site: Option<WaitSite>,
    /// Its last poll ended at `last_site`.
    current: bool,
    polled: bool,
}

/// `on a JoinHandle of t2 bob (src/lib.rs:9:5)`, `in sleep (src/lib.rs:3:9)`: a wait
/// site, naming the awaited task as the trace does.
pub(crate) fn site(trace: &Trace, site: &WaitSite) -> String {
    match site.kind {
        WaitKind::Join(task) => format!(
            "on a JoinHandle of {} ({})",
            label(trace, task),
            site.location
        ),
        _ => site.to_string(),
    }
}

impl Known {
    fn describe(&self, trace: &Trace) -> String {
        match (self.polled, self.last_site) {
            (false, _) => match self.spawned_at {
                Some(at) => format!("had not started yet (spawned at {at})"),
                None => "had not started yet".to_owned(),
            },
            (true, Some(at)) if self.current => format!("waited {}", site(trace, &at)),
            (true, Some(site)) => format!(
                "waited in a foreign future (last detsim call: {} {})",
                site.kind.name(),
                site.location
            ),
            (true, None) => "waited in a foreign future".to_owned(),
        }
    }
}

/// How the trace names a task: `t2 reader`, `t0 main`, `t3`.
pub(crate) fn label(trace: &Trace, task: Id) -> String {
    match trace.name(task) {
        Some(name) => format!("{task} {name}"),
        None => task.to_string(),
    }
}

/// One explanation per deviation of the traced run, in order. The first line of each
/// says what happened; the following lines (indented) where the tasks stood.
pub(crate) fn deviations(trace: &Trace) -> Vec<String> {
    let mut known: BTreeMap<Id, Known> = BTreeMap::new();
    let mut lines = Vec::new();
    for event in trace.events() {
        match &event.kind {
            EventKind::Spawn { task, location, .. } => {
                known.entry(*task).or_default().spawned_at = Some(location);
            }
            EventKind::PollEnd { task, at } => {
                let k = known.entry(*task).or_default();
                k.polled = true;
                k.current = at.is_some();
                if at.is_some() {
                    k.last_site = *at;
                }
            }
            EventKind::Poll {
                task,
                first_in_line,
                ready,
                ..
            } if task != first_in_line => {
                let ran = label(trace, *task);
                let first = label(trace, *first_in_line);
                let position = |id: Id| known.get(&id).copied().unwrap_or_default().describe(trace);
                lines.push(format!(
                    "step {}: {ran} ran although {first} was first in line of {ready} ready \
                     (asyncio would have run {first_in_line})\n    {ran} {}\n    {first} {}",
                    event.step,
                    position(*task),
                    position(*first_in_line),
                ));
            }
            EventKind::Decide {
                task,
                kind,
                options,
                chosen,
            } if *chosen != 0 => {
                let what = decision(&label(trace, *task), *kind, *options, chosen + 1);
                lines.push(format!("step {}: {what}", event.step));
            }
            _ => {}
        }
    }
    lines
}

/// What a deviating decision of `kind` in task `who` did: it took option `c` (from 1)
/// of `n`.
fn decision(who: &str, kind: DecisionKind, n: usize, c: usize) -> String {
    match kind {
        DecisionKind::Select => {
            format!("select! in {who} took branch {c} of {n} (source order would take branch 1)")
        }
        DecisionKind::Delivery => format!(
            "the network delivered message {c} of {n} due first (earliest-queued order would \
             deliver message 1)"
        ),
        DecisionKind::Fault => {
            format!("a fault decision in {who} took option {c} of {n} (option 1 is no fault)")
        }
        DecisionKind::Crash => format!(
            "a crash decision in {who} took option {c} of {n} (option 1 keeps every unsynced \
             change)"
        ),
        other => {
            format!("a {other} decision in {who} took option {c} of {n} (the default is option 1)")
        }
    }
}

impl crate::report::Failure {
    /// Each decision of the failing run (the shrunk one, once shrunk) that left
    /// asyncio's default order, in words, with where the tasks involved stood:
    ///
    /// ```text
    /// step 2: t2 reader ran although t1 writer was first in line of 2 ready (asyncio would have run t1)
    ///     t2 reader waited in yield_now (src/lib.rs:30:9)
    ///     t1 writer waited in sleep (src/lib.rs:20:9)
    /// step 7: select! in t3 took branch 2 of 3 (source order would take branch 1)
    /// ```
    ///
    /// A position is where one of detsim's futures (`sleep`, `timeout`, `yield_now`, a
    /// `JoinHandle`) suspended the task; "a foreign future" when another future did.
    /// The report lists the same lines.
    pub fn explain(&self) -> Vec<String> {
        deviations(&self.trace)
    }
}

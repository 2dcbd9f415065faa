//! Property 6: every ready task runs.

use std::time::Duration;

use super::{Checked, Property, Violation, root_end};
use crate::event::{Event, PollEnd, Run, Wait};
use crate::interp::Sched;
use crate::program::{NodeIx, Program};

/// Under the random scheduler, the most polls of other tasks a ready task
/// may wait through. With uniform choice among at most 8
/// ready tasks ([`crate::program::MAX_TASKS`]), a given one is passed over in `k` decisions in a row with
/// probability at most `(7/8)^k`; for `k = 200` that is below `3e-12`, so a
/// correct scheduler breaks this bound less than once in 10^11 waits.
pub const RANDOM_WAIT_BOUND: usize = 200;

/// When `node` became ready, and why.
#[derive(Debug)]
struct Ready {
    node: NodeIx,
    at: usize,
    why: &'static str,
}

/// Finds every moment a task became ready: spawned; its `.await` suspended
/// (`Wait` then its poll ended `Pending`) and what it waited on happened; or
/// it was aborted while unfinished and not yet dropped.
fn ready_points(events: &[Event]) -> Vec<Ready> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::Spawn { child, .. } => out.push(Ready {
                node: child,
                at: i,
                why: "spawned",
            }),
            Event::Abort { child, .. } => {
                let finished = events[..i].iter().any(|e| {
                    matches!(*e, Event::Return { node, .. } | Event::Panic { node, .. } | Event::DropStart { node, .. } if node == child)
                });
                if !finished {
                    out.push(Ready {
                        node: child,
                        at: i,
                        why: "aborted",
                    });
                }
            }
            Event::Wait { node, on } => {
                let Some(k) = events[i..]
                    .iter()
                    .position(|e| {
                        matches!(*e, Event::Resume { node: n, .. } | Event::PollEnd { node: n, .. } if n == node)
                    })
                    .map(|k| i + k)
                else {
                    continue;
                };
                if !matches!(
                    events[k],
                    Event::PollEnd {
                        end: PollEnd::Pending,
                        ..
                    }
                ) {
                    continue; // did not suspend
                }
                let after =
                    |f: &dyn Fn(&Event) -> bool| events[k..].iter().position(f).map(|x| k + x);
                let (r, why) = match on {
                    Wait::Yield => (Some(k), "yielded"),
                    // A timer already due when armed fires at a moment the
                    // log does not show (when the ready tasks run out): skip
                    // it; `timers` checks that it resumes on time. A later
                    // one fires when the clock jumps to it: the first poll
                    // at its deadline.
                    Wait::Timer(d) if d <= clock_at(events, k) => continue,
                    Wait::Timer(d) => (
                        after(&|e| matches!(*e, Event::PollStart { at, .. } if at >= d)),
                        "its timer fired",
                    ),
                    Wait::Join(c) => (after(&|e| ends(e, c)), "the task it awaited finished"),
                    Wait::JoinOrTimer(c, d) => {
                        let joined = after(&|e| ends(e, c));
                        let fired = (d > clock_at(events, k))
                            .then(|| {
                                after(&|e| matches!(*e, Event::PollStart { at, .. } if at >= d))
                            })
                            .flatten();
                        let first = match (joined, fired) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        (first, "the task it awaited finished or its time-out came")
                    }
                    Wait::Recv(from) => (
                        after(
                            &|e| matches!(*e, Event::Send { from: f, to, .. } | Event::Hangup { from: f, to } if f == from && to == node),
                        ),
                        "its channel was filled or hung up",
                    ),
                };
                let dropped_first = |r: usize| {
                    events[k..r]
                        .iter()
                        .any(|e| matches!(*e, Event::DropStart { node: n, .. } if n == node))
                };
                if let Some(r) = r.filter(|&r| !dropped_first(r)) {
                    out.push(Ready { node, at: r, why });
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `e` is where task `c` finished: its last poll ended, or its
/// unfinished future was dropped.
fn ends(e: &Event, c: NodeIx) -> bool {
    matches!(*e, Event::PollEnd { node, end: PollEnd::Ready | PollEnd::Panicked } | Event::DropEnd { node } if node == c)
}

fn clock_at(events: &[Event], i: usize) -> Duration {
    events[..=i.min(events.len() - 1)]
        .iter()
        .rev()
        .find_map(|e| match *e {
            Event::PollStart { at, .. } => Some(at),
            _ => None,
        })
        .unwrap_or(Duration::ZERO)
}

/// Property 6, every ready task eventually runs. For each moment a task
/// becomes ready (see `ready_points`), its next poll (or, if it was
/// aborted, the drop of its future) comes:
///
/// - under every scheduler: before the clock advances (time stands still
///   while any task is ready), and before the run ends unless the root
///   finished first (tasks left then are dropped);
/// - under `fifo`: after at most `n − 1` polls of other tasks, `n` the
///   number of tasks (each is in the FIFO queue at most once);
/// - under `random`: after at most [`RANDOM_WAIT_BOUND`] polls of others;
/// - under `pct`: no bound beyond the first: PCT runs the highest-priority
///   ready task, so a low-priority one legitimately waits until the others
///   block; the clock rule is what bounds it.
pub fn progress(program: &Program, sched: Sched, run: &Run) -> Checked {
    let events = &run.events;
    if events.is_empty() {
        return Ok(());
    }
    let end = root_end(events).unwrap_or(events.len());
    for ready in ready_points(events) {
        if ready.at >= end {
            continue;
        }
        let node = ready.node;
        // Inclusive: a timer's readiness is the first poll at its deadline,
        // which may be the sleeper's own.
        let service = events[ready.at..]
            .iter()
            .position(|e| {
                matches!(*e, Event::PollStart { node: n, .. } | Event::DropStart { node: n, .. } if n == node)
            })
            .map(|s| ready.at + s);
        let window_end = service.map_or(end, |s| s.min(end));
        let clock = clock_at(events, ready.at);
        let mut turns = 0;
        for (j, e) in events.iter().enumerate().take(window_end).skip(ready.at) {
            if let Event::PollStart {
                at, node: other, ..
            } = *e
            {
                if at > clock {
                    return Err(Violation::new(
                        Property::Progress,
                        Some(j),
                        format!(
                            "the clock moved to {at:?} (n{other}) while n{node} was ready since #{} ({})",
                            ready.at, ready.why
                        ),
                    ));
                }
                turns += 1;
            }
        }
        if service.is_none() && run.verdict.failure.is_none() {
            return Err(Violation::new(
                Property::Progress,
                Some(ready.at),
                format!("n{node} became ready ({}) and never ran", ready.why),
            ));
        }
        let bound = match sched {
            Sched::Fifo => program.len() - 1,
            Sched::Random => RANDOM_WAIT_BOUND,
            Sched::Pct(_) => usize::MAX,
        };
        if service.is_some_and(|s| s <= end) && turns > bound {
            return Err(Violation::new(
                Property::Progress,
                service,
                format!(
                    "n{node} waited {turns} polls of other tasks ({}), more than {bound} under {sched}",
                    ready.why
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_bound_is_improbable() {
        // (7/8)^200 < 3e-12: the arithmetic in RANDOM_WAIT_BOUND's doc.
        let p = (7.0f64 / 8.0).powi(super::RANDOM_WAIT_BOUND as i32);
        assert!(p < 3e-12, "{p}");
    }
}

//! Property 4: virtual time.

use std::time::Duration;

use super::{Checked, Property, Violation};
use crate::event::{Event, Run, Wait};
use crate::interp::Sched;
use crate::program::Program;

/// Property 4, timers.
///
/// - No sleeper wakes before its deadline, and none after it either: time
///   stands still while a task is ready and jumps to the earliest timer, so a
///   sleep resumes exactly at its deadline (`now() == deadline`).
/// - The clock never goes back, and it only ever jumps to the deadline of a
///   sleep armed earlier.
/// - Timers fire in deadline order: sleeps that suspended resume in
///   non-decreasing deadline order; under `fifo`, those with equal deadlines
///   resume in the order they were armed. (A sleep whose deadline has come
///   completes without suspending; it arms no timer.)
/// - A sleep that never resumes belongs to a task dropped after it slept, or
///   to a run that ended first.
/// - A `timeout` ends no later than its deadline, and times out exactly at
///   it.
pub fn timers(_program: &Program, sched: Sched, run: &Run) -> Checked {
    let events = &run.events;
    let v = |at: usize, m: String| Err(Violation::new(Property::Timers, Some(at), m));
    let mut clock = Duration::ZERO;
    let mut deadlines: Vec<Duration> = vec![Duration::ZERO];
    // (deadline, index of the Wait) of each sleep, in resume order.
    let mut resumed: Vec<(Duration, usize)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::PollStart { node, at, .. } => {
                if at < clock {
                    return v(
                        i,
                        format!("clock went back from {clock:?} to {at:?} (n{node})"),
                    );
                }
                if at > clock && !deadlines.contains(&at) {
                    return v(
                        i,
                        format!("clock jumped to {at:?}, which no sleep asked for"),
                    );
                }
                clock = at;
            }
            Event::Wait {
                node,
                on: Wait::JoinOrTimer(child, deadline),
            } => {
                deadlines.push(deadline);
                let resume = events[i + 1..].iter().position(|e| {
                    matches!(*e, Event::Resume { node: n, .. } | Event::DropStart { node: n, .. } if n == node)
                });
                if let Some((j, &Event::Resume { at, .. })) =
                    resume.map(|j| (i + 1 + j, &events[i + 1 + j]))
                {
                    let timed_out = matches!(events.get(j + 1), Some(Event::TimedOut { .. }));
                    if at > deadline || (timed_out && at < deadline) {
                        return v(
                            j,
                            format!(
                                "n{node}'s wait for n{child} with a time-out at {deadline:?} ended at {at:?} (timed out: {timed_out})"
                            ),
                        );
                    }
                }
            }
            Event::Wait {
                node,
                on: Wait::Timer(deadline),
            } => {
                deadlines.push(deadline);
                let next = events[i + 1..]
                    .iter()
                    .position(|e| {
                        matches!(*e, Event::Resume { node: n, .. } | Event::DropStart { node: n, .. } if n == node)
                    })
                    .map(|j| i + 1 + j);
                match next.map(|j| (j, &events[j])) {
                    Some((j, Event::Resume { at, .. })) => {
                        let suspended = events[i..j]
                            .iter()
                            .any(|e| matches!(*e, Event::PollEnd { node: n, .. } if n == node));
                        if *at < deadline {
                            return v(
                                j,
                                format!("n{node} woke at {at:?}, before its deadline {deadline:?}"),
                            );
                        }
                        if *at > deadline {
                            return v(
                                j,
                                format!(
                                    "n{node} woke at {at:?}, after its deadline {deadline:?} (time moved while it was due)"
                                ),
                            );
                        }
                        if suspended {
                            resumed.push((deadline, i));
                        }
                    }
                    Some(_) => {}
                    None if run.verdict.failure.is_some() || super::root_end(events).is_some() => {}
                    None => return v(i, format!("n{node}'s sleep never ended")),
                }
            }
            _ => {}
        }
    }
    // `resumed` is in wait order; sort by resume position to check firing order.
    let mut by_resume: Vec<(usize, Duration, usize)> = resumed
        .iter()
        .map(|&(d, w)| {
            let node = events[w].node();
            let r = events[w..]
                .iter()
                .position(|e| matches!(*e, Event::Resume { node: n, .. } if n == node))
                .map_or(usize::MAX, |x| w + x);
            (r, d, w)
        })
        .collect();
    by_resume.sort();
    for pair in by_resume.windows(2) {
        let ((r1, d1, w1), (r2, d2, w2)) = (pair[0], pair[1]);
        if d2 < d1 {
            return v(
                r2,
                format!("deadline {d2:?} fired after deadline {d1:?} (#{r1})"),
            );
        }
        if sched == Sched::Fifo && d1 == d2 && w2 < w1 {
            return v(
                r2,
                format!(
                    "under fifo, the sleep armed at #{w2} resumed after the one armed at #{w1} with the same deadline"
                ),
            );
        }
    }
    Ok(())
}

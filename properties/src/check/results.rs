//! Properties 2 (results propagate) and 3 (aborted tasks are dropped).

use super::{Checked, Property, Violation, root_end};
use crate::event::{Event, Outcome, PollEnd, Run};
use crate::program::{Link, NodeIx, Program};

fn first(events: &[Event], f: impl Fn(&Event) -> bool) -> Option<usize> {
    events.iter().position(f)
}

fn returned(events: &[Event], n: NodeIx) -> Option<(usize, u64)> {
    events.iter().enumerate().find_map(|(i, e)| match *e {
        Event::Return { node, value } if node == n => Some((i, value)),
        _ => None,
    })
}

fn panicked(events: &[Event], n: NodeIx) -> Option<usize> {
    first(
        events,
        |e| matches!(*e, Event::Panic { node, .. } if node == n),
    )
}

/// Where `n` finished: its last poll ended (returned or panicked), or its
/// unfinished future was dropped.
fn finished(events: &[Event], n: NodeIx) -> Option<usize> {
    first(
        events,
        |e| matches!(*e, Event::PollEnd { node, end: PollEnd::Ready | PollEnd::Panicked } | Event::DropEnd { node } if node == n),
    )
}

/// Where the payload of `n`'s panic began.
fn origin(events: &[Event], n: NodeIx) -> Option<NodeIx> {
    events.iter().find_map(|e| match *e {
        Event::Panic { node, origin } if node == n => Some(origin),
        _ => None,
    })
}

fn aborted(events: &[Event], n: NodeIx) -> Option<usize> {
    first(
        events,
        |e| matches!(*e, Event::Abort { child, .. } if child == n),
    )
}

/// Property 2, results propagate.
///
/// - Every `Join` gives exactly: the child's returned value if it returned
///   before the join; its panic payload (the same `String`) if it panicked;
///   otherwise `Cancelled`, and then the child was aborted before it
///   finished and never finishes.
/// - Every task's return value is its base value plus what it joined and
///   drew, so a wrong value anywhere in a chain of awaits shows at each
///   level above it.
/// - A task that returned joined each of its children exactly once.
/// - Awaiting a task that already finished does not suspend (asyncio: not a
///   scheduling point), with or without a time-out; a time-out never wins
///   over a task that had finished before the poll.
/// - Channel messages arrive intact; a receive gives `None` only after the
///   sender hung up, and a send fails only when the receiver is gone.
/// - The run fails iff the root panics, with the payload as message,
///   for the seed asked, having run that one seed.
pub fn results(program: &Program, run: &Run) -> Checked {
    let events = &run.events;
    let v = |at: Option<usize>, m: String| Err(Violation::new(Property::Results, at, m));
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Join {
                parent,
                child,
                outcome,
            } => {
                let (parent, child) = (*parent, *child);
                let ret = returned(events, child).filter(|&(r, _)| r < i);
                let pan = panicked(events, child).filter(|&p| p < i);
                let expected = match (ret, pan) {
                    (Some((_, value)), _) => Outcome::Value(value),
                    (None, Some(_)) => {
                        let origin = origin(events, child).unwrap_or(child);
                        Outcome::Panic(Some(Program::panic_message(origin)))
                    }
                    (None, None) => Outcome::Cancelled,
                };
                if *outcome != expected {
                    return v(
                        Some(i),
                        format!(
                            "n{parent} joined n{child} and got {outcome:?}, expected {expected:?}"
                        ),
                    );
                }
                if expected == Outcome::Cancelled {
                    if aborted(events, child).is_none_or(|a| a > i) {
                        return v(Some(i), format!("n{child} cancelled but never aborted"));
                    }
                    if returned(events, child).is_some() || panicked(events, child).is_some() {
                        return v(
                            Some(i),
                            format!("n{child} joined as cancelled yet finished"),
                        );
                    }
                }
            }
            Event::Return { node, value } => {
                let mut want = u64::from(program.nodes[*node].value);
                for e in &events[..i] {
                    match e {
                        Event::Join {
                            parent,
                            outcome: Outcome::Value(x),
                            ..
                        } if parent == node => want = want.wrapping_add(*x),
                        Event::Random { node: n, value } if n == node => {
                            want = want.wrapping_add(*value);
                        }
                        _ => {}
                    }
                }
                if *value != want {
                    return v(
                        Some(i),
                        format!("n{node} returned {value:#x}, its joins and draws make {want:#x}"),
                    );
                }
                for c in program.nodes[*node].children() {
                    let joins = events[..i]
                        .iter()
                        .filter(|e| matches!(e, Event::Join { parent, child, .. } if parent == node && *child == c))
                        .count();
                    if joins != 1 {
                        return v(
                            Some(i),
                            format!("n{node} returned having joined n{c} {joins} times"),
                        );
                    }
                }
            }
            Event::TimedOut { parent, child } => {
                // `timeout` polls the handle first: a child that had finished
                // before this poll began must have been joined instead.
                let poll = events[..i]
                    .iter()
                    .rposition(|e| matches!(e, Event::PollStart { node, .. } if node == parent))
                    .unwrap_or(0);
                if finished(events, *child).is_some_and(|f| f < poll) {
                    return v(
                        Some(i),
                        format!(
                            "n{parent} timed out on n{child}, which had finished before that poll"
                        ),
                    );
                }
            }
            Event::Wait {
                node,
                on: crate::event::Wait::Join(c) | crate::event::Wait::JoinOrTimer(c, _),
            } => {
                let done = finished(events, *c).is_some_and(|f| f < i);
                let suspended = events[i..]
                    .iter()
                    .take_while(|e| !matches!(e, Event::Resume { node: n, .. } if n == node))
                    .any(|e| matches!(e, Event::PollEnd { node: n, .. } if n == node));
                if done && suspended {
                    return v(
                        Some(i),
                        format!("n{node} suspended awaiting n{c}, which had already finished"),
                    );
                }
            }
            Event::Received {
                node,
                from,
                message,
            } => {
                let sent = first(events, |e| {
                    matches!(*e, Event::Send { from: f, to, delivered: true } if f == *from && to == *node)
                })
                .filter(|&s| s < i);
                let want = sent.map(|_| Program::message(*from));
                if *message != want {
                    return v(
                        Some(i),
                        format!("n{node} received {message:?} from n{from}, expected {want:?}"),
                    );
                }
            }
            Event::Send {
                from,
                to,
                delivered: false,
            } => {
                let gone = panicked(events, *to).is_some_and(|p| p < i)
                    || first(
                        events,
                        |e| matches!(*e, Event::DropStart { node, .. } if node == *to),
                    )
                    .is_some_and(|d| d < i);
                if !gone {
                    return v(
                        Some(i),
                        format!("n{from}'s send failed but n{to} holds its receiver"),
                    );
                }
            }
            _ => {}
        }
    }
    let verdict = &run.verdict;
    if verdict.seeds_run != 1 {
        return v(
            None,
            format!("asked for one seed, the harness ran {}", verdict.seeds_run),
        );
    }
    let root_origin = origin(events, 0);
    match (&verdict.failure, root_origin) {
        (None, None) => {
            if returned(events, 0).is_none() {
                return v(None, "the run passed but the root never returned".into());
            }
        }
        (None, Some(_)) => return v(None, "the root panicked but the run passed".into()),
        (Some(f), root_origin) => {
            let root_panics = root_origin.is_some();
            let payload = Program::panic_message(root_origin.unwrap_or(0));
            if !root_panics || !f.message.contains(&payload) {
                return v(
                    None,
                    format!(
                        "the run failed with {:?} (root panics: {root_panics})",
                        f.message
                    ),
                );
            }
            if f.seed != run.seed {
                return v(
                    None,
                    format!("failure names seed {:#x}, ran {:#x}", f.seed, run.seed),
                );
            }
        }
    }
    Ok(())
}

/// Property 3, aborted tasks are dropped.
///
/// For every `abort()` of a task that had not finished: the task is never
/// polled again and never finishes; its unfinished future is dropped
/// (`DropStart` … `DropEnd`, during which its drop runs: it hangs up the
/// sender it holds); and if its parent joins it, the join comes after the
/// drop ended. Conversely a future dropped unfinished before the root ended
/// was aborted first (or its parent's drop aborted it).
pub fn aborts(program: &Program, run: &Run) -> Checked {
    let events = &run.events;
    let v = |at: usize, m: String| Err(Violation::new(Property::Abort, Some(at), m));
    let end = root_end(events).unwrap_or(events.len());
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::Abort { child, .. } => {
                // Finished, or already dropped by an earlier abort.
                let done_before = events[..i].iter().any(|e| {
                    matches!(*e, Event::Return { node, .. } | Event::Panic { node, .. } | Event::DropStart { node, .. } if node == child)
                });
                if done_before {
                    continue;
                }
                let later = &events[i..];
                if let Some(j) = later.iter().position(|e| {
                    matches!(*e, Event::PollStart { node, .. } | Event::Return { node, .. } | Event::Panic { node, .. } if node == child)
                }) {
                    return v(i + j, format!("n{child} ran after its abort at #{i}"));
                }
                let Some(d) = later
                    .iter()
                    .position(|e| matches!(*e, Event::DropStart { node, .. } if node == child))
                    .map(|d| i + d)
                else {
                    return v(
                        i,
                        format!("n{child} aborted but its future was never dropped"),
                    );
                };
                let Some(de) = events[d..]
                    .iter()
                    .position(|e| matches!(*e, Event::DropEnd { node } if node == child))
                    .map(|x| d + x)
                else {
                    return v(d, format!("n{child}'s drop never ended"));
                };
                let parent = program.nodes[child].parent;
                let holds_sender = program.nodes[child].link == Link::FromChild
                    && !events[..d].iter().any(|e| {
                        matches!(*e, Event::Send { from, to, .. } | Event::Hangup { from, to }
                            if from == child && Some(to) == parent)
                    });
                if holds_sender
                    && !events[d..de]
                        .iter()
                        .any(|e| matches!(*e, Event::Hangup { from, .. } if from == child))
                {
                    return v(d, format!("dropping n{child} did not hang up its sender"));
                }
                let join = later
                    .iter()
                    .position(|e| matches!(*e, Event::Join { child: c, .. } if c == child))
                    .map(|j| i + j);
                if let Some(j) = join.filter(|&j| j < de) {
                    return v(
                        j,
                        format!("n{child}'s join completed before its drop ended (#{de})"),
                    );
                }
            }
            Event::DropStart {
                node,
                finished: false,
            } if i < end
                && !events[..i]
                    .iter()
                    .any(|e| matches!(*e, Event::Abort { child, .. } if child == node)) =>
            {
                return v(i, format!("n{node} dropped unfinished without an abort"));
            }
            _ => {}
        }
    }
    Ok(())
}

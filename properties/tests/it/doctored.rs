//! Every check can fail: each test takes a real run of a program that
//! exercises every op, doctors its log the way a broken runtime would, and
//! expects the matching check to report the matching property.

use std::time::Duration;

use detsim_properties::check::{self, Property};
use detsim_properties::event::{Event, Outcome, PollEnd};
use detsim_properties::{Link, Program, RawStep, Run, Sched, TaskSpec, interp};

fn spec(value: u32, steps: Vec<RawStep>) -> TaskSpec {
    TaskSpec { value, steps }
}

/// The nodes, in preorder: n0 spawns n1 (spawns n2, sleeps, draws, sends to
/// n0), n3 (aborted before it runs), n4 (receives from n0, then panics) and
/// n5 (aborted while it sleeps); n0 receives from n1 and awaits everyone.
fn program() -> Program {
    use RawStep::*;
    let n2 = spec(2, vec![Sleep(2), Yield]);
    let n1 = spec(1, vec![Spawn(n2, Link::None), Sleep(5), Random, SendParent]);
    let n3 = spec(3, vec![Yield, Sleep(1)]);
    let n4 = spec(4, vec![RecvParent, Yield, Panic]);
    let n5 = spec(5, vec![Sleep(10)]);
    let root = spec(
        0,
        vec![
            Spawn(n1, Link::FromChild),
            Spawn(n3, Link::None),
            Abort(1),
            Spawn(n4, Link::ToChild),
            SendChild(0),
            Spawn(n5, Link::None),
            Yield,
            Abort(2),
            RecvChild(0),
            Await(0),
        ],
    );
    let p = Program::new(&root, true);
    use detsim_properties::Op;
    use detsim_properties::program::Peer;
    assert_eq!(
        p.nodes[0].ops,
        [
            Op::Spawn(1),
            Op::Spawn(3),
            Op::Abort(3),
            Op::Spawn(4),
            Op::Send(Peer::Child(4)),
            Op::Spawn(5),
            Op::Yield,
            Op::Abort(5),
            Op::Recv(Peer::Child(1)),
            Op::Await(1),
        ]
    );
    p
}

fn base(sched: Sched) -> (Program, Run) {
    let p = program();
    let run = interp::run(&p, sched, 3);
    check::all(&p, sched, &run).expect("the undoctored run passes");
    (p, run)
}

fn find(run: &Run, f: impl Fn(&Event) -> bool) -> usize {
    run.events.iter().position(f).expect("event present")
}

fn expect(property: Property, result: check::Checked) {
    match result {
        Err(v) => assert_eq!(v.property, property, "{v}"),
        Ok(()) => panic!("the doctored log passed the {property:?} check"),
    }
}

#[test]
fn the_base_program_uses_every_op() {
    let p = program();
    let ops: Vec<String> = p.ops().map(|(_, op)| format!("{op:?}")).collect();
    for want in [
        "Spawn", "Yield", "Sleep", "Await", "Abort", "Send", "Recv", "Random", "Panic",
    ] {
        assert!(
            ops.iter().any(|o| o.starts_with(want)),
            "{want} missing from {p:?}"
        );
    }
}

#[test]
fn eager_start_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let i = find(&run, |e| matches!(e, Event::Spawn { child: 1, .. }));
    let Event::Spawn { id, .. } = run.events[i] else {
        unreachable!()
    };
    run.events.insert(
        i + 1,
        Event::PollEnd {
            node: 1,
            end: PollEnd::Pending,
        },
    );
    run.events.insert(
        i + 1,
        Event::PollStart {
            node: 1,
            id,
            at: Duration::ZERO,
        },
    );
    expect(Property::LazyStart, check::lazy_start(&p, &run));
    expect(Property::WellFormed, check::well_formed(&p, &run));
}

#[test]
fn a_wrong_join_value_is_caught() {
    let (p, mut run) = base(Sched::Random);
    let i = find(&run, |e| matches!(e, Event::Join { child: 1, .. }));
    let Event::Join {
        outcome: Outcome::Value(v),
        ..
    } = &mut run.events[i]
    else {
        unreachable!()
    };
    *v += 1;
    expect(Property::Results, check::results(&p, &run));
}

#[test]
fn a_lost_panic_payload_is_caught() {
    let (p, mut run) = base(Sched::Pct(3));
    let i = find(&run, |e| matches!(e, Event::Join { child: 4, .. }));
    let Event::Join { outcome, .. } = &mut run.events[i] else {
        unreachable!()
    };
    assert!(matches!(outcome, Outcome::Panic(_)), "{outcome:?}");
    *outcome = Outcome::Panic(None);
    expect(Property::Results, check::results(&p, &run));
}

#[test]
fn a_cancellation_without_abort_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let i = find(&run, |e| matches!(e, Event::Join { child: 2, .. }));
    let Event::Join { outcome, .. } = &mut run.events[i] else {
        unreachable!()
    };
    *outcome = Outcome::Cancelled;
    expect(Property::Results, check::results(&p, &run));
}

#[test]
fn a_wrong_message_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let i = find(&run, |e| matches!(e, Event::Received { from: 1, .. }));
    let Event::Received { message, .. } = &mut run.events[i] else {
        unreachable!()
    };
    *message = None;
    expect(Property::Results, check::results(&p, &run));
}

#[test]
fn a_poll_after_abort_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let i = find(&run, |e| matches!(e, Event::Abort { child: 5, .. }));
    let id = run.events.iter().find_map(|e| match e {
        Event::Spawn { child: 5, id, .. } => Some(*id),
        _ => None,
    });
    let end = run.events[i..]
        .iter()
        .position(|e| matches!(e, Event::PollEnd { .. }))
        .unwrap()
        + i;
    run.events.insert(
        end + 1,
        Event::PollEnd {
            node: 5,
            end: PollEnd::Pending,
        },
    );
    run.events.insert(
        end + 1,
        Event::PollStart {
            node: 5,
            id: id.unwrap(),
            at: Duration::ZERO,
        },
    );
    expect(Property::Abort, check::aborts(&p, &run));
}

#[test]
fn an_aborted_future_never_dropped_is_caught() {
    let (p, mut run) = base(Sched::Random);
    run.events.retain(|e| {
        !matches!(
            e,
            Event::DropStart { node: 5, .. } | Event::DropEnd { node: 5 }
        )
    });
    expect(Property::Abort, check::aborts(&p, &run));
    expect(Property::WellFormed, check::well_formed(&p, &run));
}

#[test]
fn a_join_before_the_drop_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let d = find(&run, |e| matches!(e, Event::DropStart { node: 5, .. }));
    let j = find(&run, |e| matches!(e, Event::Join { child: 5, .. }));
    assert!(d < j);
    let join = run.events.remove(j);
    run.events.insert(d, join);
    expect(Property::Abort, check::aborts(&p, &run));
}

#[test]
fn an_early_wake_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let w = find(&run, |e| {
        matches!(
            e,
            Event::Wait {
                node: 1,
                on: detsim_properties::event::Wait::Timer(_)
            }
        )
    });
    let r = run.events[w..]
        .iter()
        .position(|e| matches!(e, Event::Resume { node: 1, .. }))
        .unwrap()
        + w;
    let Event::Resume { at, .. } = &mut run.events[r] else {
        unreachable!()
    };
    *at -= Duration::from_millis(1);
    expect(Property::Timers, check::timers(&p, Sched::Fifo, &run));
}

#[test]
fn a_clock_jump_nobody_asked_for_is_caught() {
    let (p, mut run) = base(Sched::Random);
    let last = run
        .events
        .iter()
        .rposition(|e| matches!(e, Event::PollStart { .. }))
        .unwrap();
    let Event::PollStart { at, .. } = &mut run.events[last] else {
        unreachable!()
    };
    *at += Duration::from_millis(7);
    expect(Property::Timers, check::timers(&p, Sched::Random, &run));
}

#[test]
fn a_nondeterministic_run_is_caught() {
    let (_, a) = base(Sched::Random);
    let mut b = a.clone();
    let i = find(&b, |e| matches!(e, Event::Random { .. }));
    let Event::Random { value, .. } = &mut b.events[i] else {
        unreachable!()
    };
    *value ^= 1;
    expect(Property::Determinism, check::same_run(&a, &b));
    expect(Property::Determinism, check::same_random_stream(&a, &b));
    let mut c = a.clone();
    c.verdict.seeds_run += 1;
    expect(Property::Determinism, check::same_run(&a, &c));
    expect(
        Property::Determinism,
        check::distinct_schedules(&[a.clone(), a.clone(), a]),
    );
}

#[test]
fn time_moving_while_a_task_is_ready_is_caught() {
    let (p, mut run) = base(Sched::Pct(3));
    // n4 is ready from its spawn; pretend the clock moved before it ran.
    let s = find(&run, |e| matches!(e, Event::Spawn { child: 4, .. }));
    let first = run.events[s..]
        .iter()
        .position(|e| matches!(e, Event::PollStart { node: 4, .. }))
        .unwrap()
        + s;
    let Event::PollStart { id, .. } = run.events[0] else {
        unreachable!()
    };
    run.events.insert(
        first,
        Event::PollEnd {
            node: 0,
            end: PollEnd::Pending,
        },
    );
    run.events.insert(
        first,
        Event::PollStart {
            node: 0,
            id,
            at: Duration::from_millis(1),
        },
    );
    expect(Property::Progress, check::progress(&p, Sched::Pct(3), &run));
}

#[test]
fn starvation_under_fifo_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let s = find(&run, |e| matches!(e, Event::Spawn { child: 4, .. }));
    let first = run.events[s..]
        .iter()
        .position(|e| matches!(e, Event::PollStart { node: 4, .. }))
        .unwrap()
        + s;
    let Event::PollStart { id, .. } = run.events[0] else {
        unreachable!()
    };
    for _ in 0..p.len() {
        run.events.insert(
            first,
            Event::PollEnd {
                node: 0,
                end: PollEnd::Pending,
            },
        );
        run.events.insert(
            first,
            Event::PollStart {
                node: 0,
                id,
                at: Duration::ZERO,
            },
        );
    }
    expect(Property::Progress, check::progress(&p, Sched::Fifo, &run));
}

#[test]
fn a_ready_task_that_never_runs_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    let s = find(&run, |e| matches!(e, Event::Spawn { child: 4, .. }));
    run.events = run.events[..=s].to_vec();
    expect(Property::Progress, check::progress(&p, Sched::Fifo, &run));
}

#[test]
fn a_fifo_order_that_is_not_asyncio_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    // Swap the first polls of n1 and n4: one poll is one PollStart..PollEnd.
    let span = |run: &Run, n: usize| {
        let a = find(
            run,
            |e| matches!(e, Event::PollStart { node, .. } if *node == n),
        );
        let b = run.events[a..]
            .iter()
            .position(|e| matches!(e, Event::PollEnd { .. }))
            .unwrap()
            + a;
        (a, b)
    };
    let (a1, b1) = span(&run, 1);
    let (a2, b2) = span(&run, 4);
    assert!(b1 < a2);
    let second: Vec<Event> = run.events.drain(a2..=b2).collect();
    let first: Vec<Event> = run.events.drain(a1..=b1).collect();
    run.events.splice(a1..a1, second);
    let at = a1 + (b2 - a2 + 1) + (a2 - b1 - 1);
    run.events.splice(at..at, first);
    expect(Property::Model, check::matches_model(&p, &run));
}

#[test]
fn a_double_drop_is_caught() {
    let (p, mut run) = base(Sched::Random);
    let i = find(&run, |e| matches!(e, Event::DropStart { node: 2, .. }));
    let e = run.events[i].clone();
    run.events.push(e);
    expect(Property::WellFormed, check::well_formed(&p, &run));
}

#[test]
fn suspending_on_a_finished_task_is_caught() {
    let (p, mut run) = base(Sched::Fifo);
    // n3 was aborted (finished) long before n0's implicit join awaits it.
    let w = find(&run, |e| {
        matches!(
            e,
            Event::Wait {
                node: 0,
                on: detsim_properties::event::Wait::Join(3)
            }
        )
    });
    assert!(matches!(run.events[w + 1], Event::Resume { node: 0, .. }));
    let Event::Resume { at, .. } = run.events[w + 1] else {
        unreachable!()
    };
    let Event::PollStart { id, .. } = run.events[0] else {
        unreachable!()
    };
    run.events
        .insert(w + 1, Event::PollStart { node: 0, id, at });
    run.events.insert(
        w + 1,
        Event::PollEnd {
            node: 0,
            end: PollEnd::Pending,
        },
    );
    expect(Property::Results, check::results(&p, &run));
}

/// n0 spawns n1, which sleeps `child_ms`, and awaits it for `limit_ms`.
fn timeout_run(child_ms: u8, limit_ms: u8) -> (Program, Run) {
    let n1 = spec(1, vec![RawStep::Yield, RawStep::Sleep(child_ms)]);
    let root = spec(
        0,
        vec![
            RawStep::Spawn(n1, Link::None),
            RawStep::Timeout(0, limit_ms),
        ],
    );
    let p = Program::new(&root, false);
    let run = interp::run(&p, Sched::Fifo, 0);
    check::all(&p, Sched::Fifo, &run).expect("the undoctored run passes");
    (p, run)
}

#[test]
fn an_early_time_out_is_caught() {
    let (p, mut run) = timeout_run(5, 2);
    let t = find(&run, |e| matches!(e, Event::TimedOut { .. }));
    let Event::Resume { at, .. } = &mut run.events[t - 1] else {
        unreachable!()
    };
    assert_eq!(*at, Duration::from_millis(2));
    *at = Duration::from_millis(1);
    expect(Property::Timers, check::timers(&p, Sched::Fifo, &run));
}

#[test]
fn a_time_out_that_beats_a_finished_task_is_caught() {
    let (p, mut run) = timeout_run(1, 5);
    let j = find(&run, |e| matches!(e, Event::Join { child: 1, .. }));
    run.events[j] = Event::TimedOut {
        parent: 0,
        child: 1,
    };
    let v = check::results(&p, &run).unwrap_err();
    assert!(v.message.contains("timed out"), "{v}");
}

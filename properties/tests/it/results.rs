//! Property 2: results propagate: every awaited handle gives exactly the value the
//! task returned, its panic payload, or cancelled when it was aborted before
//! finishing; also through chains of awaits several levels deep.

use detsim_properties::event::{Event, Outcome};
use detsim_properties::{Link, Program, RawStep, Sched, TaskSpec, check, interp, strategy};
use proptest::prelude::*;

use crate::support::under_all;

proptest! {
    #![proptest_config(crate::support::config())]
    #[test]
    fn results_propagate(program in strategy::program(), seed in any::<u64>()) {
        under_all(&program, seed, |p, _, run| check::results(p, run))?;
    }

    /// A panic nobody can observe fails the run: a detached task panics at a generated
    /// instant, in the middle of a generated program or after it, and every run under
    /// every scheduler fails with exactly that panic (generated programs otherwise
    /// never lose a panic, so without this property a runtime that swallowed one would
    /// pass every other check).
    #[test]
    fn a_lost_panic_fails_the_run(
        program in strategy::passing_program(),
        seed in any::<u64>(),
        after_ms in 0u64..40,
    ) {
        let after = std::time::Duration::from_millis(after_ms);
        for sched in Sched::ALL {
            let run = interp::run_losing_a_panic(&program, sched, seed, after);
            let failure = run.verdict.failure.as_ref();
            prop_assert_eq!(
                failure.map(|f| f.message.clone()),
                Some(interp::lost_panic_message()),
                "under {} the run must fail with the lost panic", sched
            );
        }
    }
}

fn spec(value: u32, steps: Vec<RawStep>) -> TaskSpec {
    TaskSpec { value, steps }
}

/// A chain root → n1 → n2 → n3, each awaiting the next with `how`; `leaf`
/// is what n3 does.
fn chain(leaf: Vec<RawStep>, how: fn(u8) -> RawStep) -> Program {
    let n3 = spec(3, leaf);
    let n2 = spec(
        20,
        vec![RawStep::Spawn(n3, Link::None), RawStep::Yield, how(0)],
    );
    let n1 = spec(100, vec![RawStep::Spawn(n2, Link::None), how(0)]);
    let root = spec(
        1000,
        vec![RawStep::Spawn(n1, Link::None), RawStep::Await(0)],
    );
    Program::new(&root, false)
}

fn join_of(run: &detsim_properties::Run, child: usize) -> Outcome {
    run.events
        .iter()
        .find_map(|e| match e {
            Event::Join {
                child: c, outcome, ..
            } if *c == child => Some(outcome.clone()),
            _ => None,
        })
        .expect("joined")
}

#[test]
fn values_propagate_through_a_chain_of_awaits() {
    let p = chain(vec![RawStep::Sleep(5), RawStep::Yield], RawStep::Await);
    for sched in Sched::ALL {
        for seed in 0..8 {
            let run = interp::run(&p, sched, seed);
            check::all(&p, sched, &run).unwrap();
            assert_eq!(join_of(&run, 3), Outcome::Value(3));
            assert_eq!(join_of(&run, 2), Outcome::Value(23));
            assert_eq!(join_of(&run, 1), Outcome::Value(123));
        }
    }
}

#[test]
fn a_panic_propagates_through_a_chain_of_awaits() {
    // n3 panics; n2 and n1 re-raise the same payload; the root sees n3's.
    let p = chain(vec![RawStep::Yield, RawStep::Panic], RawStep::Try);
    let payload = Outcome::Panic(Some(Program::panic_message(3)));
    for sched in Sched::ALL {
        for seed in 0..8 {
            let run = interp::run(&p, sched, seed);
            check::all(&p, sched, &run).unwrap();
            assert_eq!(join_of(&run, 3), payload);
            assert_eq!(join_of(&run, 2), payload);
            assert_eq!(join_of(&run, 1), payload);
            assert!(run.verdict.failure.is_none());
        }
    }
}

#[test]
fn a_panic_through_the_root_fails_the_run_with_its_payload() {
    let n2 = spec(0, vec![RawStep::Sleep(1), RawStep::Panic]);
    let n1 = spec(0, vec![RawStep::Spawn(n2, Link::None), RawStep::Try(0)]);
    let root = spec(0, vec![RawStep::Spawn(n1, Link::None), RawStep::Try(0)]);
    let p = Program::new(&root, false);
    for sched in Sched::ALL {
        let run = interp::run(&p, sched, 7);
        check::all(&p, sched, &run).unwrap();
        let failure = run.verdict.failure.expect("the root re-raised");
        assert!(
            failure.message.contains(&Program::panic_message(2)),
            "{failure:?}"
        );
        assert_eq!(failure.seed, 7);
    }
}

#[test]
fn a_cancellation_is_seen_by_the_awaiter_only() {
    // n2 aborts n3 before it ever runs: n2 sees Cancelled, n1 sees n2's value.
    let n3 = spec(3, vec![RawStep::Yield]);
    let n2 = spec(
        20,
        vec![
            RawStep::Spawn(n3, Link::None),
            RawStep::Abort(0),
            RawStep::Await(0),
        ],
    );
    let n1 = spec(100, vec![RawStep::Spawn(n2, Link::None), RawStep::Try(0)]);
    let root = spec(
        1000,
        vec![RawStep::Spawn(n1, Link::None), RawStep::Await(0)],
    );
    let p = Program::new(&root, false);
    for sched in Sched::ALL {
        for seed in 0..8 {
            let run = interp::run(&p, sched, seed);
            check::all(&p, sched, &run).unwrap();
            assert_eq!(join_of(&run, 3), Outcome::Cancelled);
            assert_eq!(join_of(&run, 2), Outcome::Value(20));
            assert_eq!(join_of(&run, 1), Outcome::Value(120));
        }
    }
}

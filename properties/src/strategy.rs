//! proptest strategies for programs.
//!
//! Programs are generated as [`TaskSpec`] trees and lowered with
//! [`Program::new`], so proptest shrinks the tree (dropping steps and whole
//! subtrees, lowering child indices towards 0) and every shrunk candidate is
//! again a well-formed program.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::program::{Link, MAX_DEPTH, MAX_STEPS, MAX_TASKS, Program, RawStep, TaskSpec};

/// A link kind: no channel half the time.
pub fn link() -> impl Strategy<Value = Link> {
    prop_oneof![
        2 => Just(Link::None),
        1 => Just(Link::ToChild),
        1 => Just(Link::FromChild),
    ]
}

/// A step other than `Spawn`. Sleeps are short and few-valued so that
/// deadlines often tie.
pub fn leaf_step() -> impl Strategy<Value = RawStep> {
    prop_oneof![
        4 => Just(RawStep::Yield),
        3 => prop::sample::select(vec![0u8, 1, 2, 5]).prop_map(RawStep::Sleep),
        3 => (0u8..8).prop_map(RawStep::Await),
        2 => (0u8..8).prop_map(RawStep::Try),
        2 => (0u8..8, prop::sample::select(vec![0u8, 1, 2, 5]))
            .prop_map(|(k, ms)| RawStep::Timeout(k, ms)),
        2 => (0u8..8).prop_map(RawStep::Abort),
        2 => (0u8..8).prop_map(RawStep::SendChild),
        1 => (0u8..8).prop_map(RawStep::RecvChild),
        1 => Just(RawStep::SendParent),
        1 => Just(RawStep::RecvParent),
        1 => Just(RawStep::Random),
        1 => Just(RawStep::Panic),
    ]
}

/// A task tree at most [`MAX_DEPTH`] levels deep below its root, aiming at
/// about [`MAX_TASKS`] tasks, each with at most [`MAX_STEPS`] steps.
pub fn task_spec() -> impl Strategy<Value = TaskSpec> {
    let leaf = (0u32..100, vec(leaf_step(), 0..=MAX_STEPS))
        .prop_map(|(value, steps)| TaskSpec { value, steps });
    // proptest sizes the tree by `desired_size` and `expected_branch_size`;
    // lowering cuts it to MAX_TASKS, so aim above it to reach the depth.
    leaf.prop_recursive(MAX_DEPTH as u32, 4 * MAX_TASKS as u32, 4, |inner| {
        let step = prop_oneof![
            3 => leaf_step(),
            3 => (inner, link()).prop_map(|(t, l)| RawStep::Spawn(t, l)),
        ];
        (0u32..100, vec(step, 0..=MAX_STEPS)).prop_map(|(value, steps)| TaskSpec { value, steps })
    })
}

/// A well-formed program. Its root may panic (failing the run) in about one
/// case in seven, of which lowering keeps some, so most runs pass and a few
/// exercise the failure path; half the programs abort a dropped task's
/// children.
pub fn program() -> impl Strategy<Value = Program> {
    (task_spec(), prop::bool::weighted(0.15), any::<bool>()).prop_map(
        |(mut root, root_may_panic, abort_on_drop)| {
            if !root_may_panic {
                root.steps.retain(|s| *s != RawStep::Panic);
            }
            Program::new(&root, abort_on_drop)
        },
    )
}

/// A program whose root does not panic (nor re-raise a child's panic).
pub fn passing_program() -> impl Strategy<Value = Program> {
    (task_spec(), any::<bool>()).prop_map(|(mut root, abort_on_drop)| {
        root.steps.retain(|s| *s != RawStep::Panic);
        for step in &mut root.steps {
            if let RawStep::Try(k) = *step {
                *step = RawStep::Await(k);
            }
        }
        Program::new(&root, abort_on_drop)
    })
}

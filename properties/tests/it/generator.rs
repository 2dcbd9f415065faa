//! The generator reaches what the properties are about: a property that
//! holds vacuously because programs never abort, sleep or panic proves
//! nothing. Samples programs with a fixed proptest seed and checks how often
//! each op and shape shows up.

use detsim_properties::model;
use detsim_properties::program::{Link, Op, Peer, Program};
use detsim_properties::strategy;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[test]
fn generated_programs_exercise_every_op() {
    const N: usize = 1000;
    let mut runner = TestRunner::deterministic();
    let programs: Vec<Program> = (0..N)
        .map(|_| strategy::program().new_tree(&mut runner).unwrap().current())
        .collect();
    let share =
        |f: &dyn Fn(&Program) -> bool| programs.iter().filter(|p| f(p)).count() as f64 / N as f64;
    let has = |f: fn(&Op) -> bool| move |p: &Program| p.ops().any(|(_, op)| f(&op));
    let shares = [
        ("3+ tasks", share(&|p| p.len() >= 3)),
        ("depth 3", share(&|p| p.nodes.iter().any(|n| n.depth == 3))),
        ("yield", share(&has(|op| *op == Op::Yield))),
        ("sleep > 0", share(&has(|op| matches!(op, Op::Sleep(1..))))),
        ("sleep 0", share(&has(|op| *op == Op::Sleep(0)))),
        ("await", share(&has(|op| matches!(op, Op::Await(_))))),
        ("await?", share(&has(|op| matches!(op, Op::Try(_))))),
        (
            "await with time-out",
            share(&has(|op| matches!(op, Op::Timeout(..)))),
        ),
        ("abort", share(&has(|op| matches!(op, Op::Abort(_))))),
        ("panic", share(&has(|op| *op == Op::Panic))),
        ("random", share(&has(|op| *op == Op::Random))),
        (
            "send to child",
            share(&has(|op| matches!(op, Op::Send(Peer::Child(_))))),
        ),
        (
            "send to parent",
            share(&has(|op| *op == Op::Send(Peer::Parent))),
        ),
        ("recv", share(&has(|op| matches!(op, Op::Recv(_))))),
        (
            "from-child link",
            share(&|p| p.nodes.iter().any(|n| n.link == Link::FromChild)),
        ),
        ("root panics", share(&|p| p.root_panics())),
        ("a choice to make", share(&|p| model::predict(p).has_choice)),
        ("aborts on drop", share(&|p| p.abort_on_drop)),
    ];
    let report: Vec<String> = shares
        .iter()
        .map(|(k, v)| format!("{k}: {:.0}%", v * 100.0))
        .collect();
    for (what, share) in shares {
        assert!(
            share >= 0.02,
            "only {:.1}% of programs have {what}: {report:?}",
            share * 100.0
        );
    }
    // Most runs should pass: a failing root costs a replay and tests less.
    let root_panics = share(&|p| p.root_panics());
    assert!(root_panics <= 0.2, "{report:?}");
}

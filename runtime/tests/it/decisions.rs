//! Decisions of other kinds than the next task (`choice::decide`): a `select!` branch,
//! the order of simultaneous deliveries, a fault. They go into the one decision list,
//! under every policy, and replay like task decisions.

use std::collections::BTreeSet;

use detsim_runtime::choice::decide;
use detsim_runtime::{
    ChooserSpec, Decision, DecisionKind, Fifo, Pct, Random, Replay, Runtime, spawn, yield_now,
};

use crate::util::{SEEDS, Sched, schedules};

/// Two tasks that each yield and make a select decision among three options; returns
/// the options chosen, in order.
async fn program() -> Vec<usize> {
    let a = spawn(async {
        yield_now().await;
        decide(DecisionKind::Select, 3)
    });
    let b = spawn(async { decide(DecisionKind::Delivery, 2) });
    let mine = decide(DecisionKind::Select, 4);
    vec![mine, a.await.unwrap(), b.await.unwrap()]
}

fn run(rt: &mut Runtime) -> (Vec<usize>, Vec<Decision>) {
    let chosen = rt.run(program()).unwrap();
    (chosen, rt.decisions())
}

#[test]
fn fifo_takes_the_default_option_and_records_every_decision() {
    let mut rt = Runtime::with_chooser(0, Box::new(Fifo));
    let (chosen, decisions) = run(&mut rt);
    assert_eq!(chosen, vec![0, 0, 0]);
    let kinds: Vec<_> = decisions.iter().map(|d| (d.kind, d.options)).collect();
    assert!(kinds.contains(&(DecisionKind::Select, 4)), "{kinds:?}");
    assert!(kinds.contains(&(DecisionKind::Select, 3)), "{kinds:?}");
    assert!(kinds.contains(&(DecisionKind::Delivery, 2)), "{kinds:?}");
    assert!(decisions.iter().all(|d| d.chosen == 0));
}

#[test]
fn one_option_is_no_decision() {
    let mut rt = Runtime::new(3);
    let chosen = rt
        .run(async {
            (0..10)
                .map(|_| decide(DecisionKind::Select, 1))
                .sum::<usize>()
        })
        .unwrap();
    assert_eq!(chosen, 0);
    assert!(rt.decisions().is_empty());
}

#[test]
fn seeded_policies_spread_over_every_option_and_repeat_per_seed() {
    for pct in [false, true] {
        let mut seen = BTreeSet::new();
        for seed in 0..SEEDS {
            let sched = if pct {
                Sched::Pct(seed)
            } else {
                Sched::Random(seed)
            };
            let first = run(&mut sched.runtime());
            let again = run(&mut sched.runtime());
            assert_eq!(first, again, "{sched:?}: the same seed decided differently");
            assert!(first.0[0] < 4 && first.0[1] < 3 && first.0[2] < 2);
            seen.insert(first.0[0]);
        }
        assert_eq!(seen.len(), 4, "pct {pct}: options chosen {seen:?}");
    }
}

#[test]
fn a_replayed_decision_list_repeats_every_kind_of_decision() {
    for sched in schedules() {
        let (chosen, decisions) = run(&mut sched.runtime());
        let replay = Replay::new(decisions.iter().map(|d| d.chosen).collect());
        let mut rt = Runtime::with_chooser(sched.seed(), Box::new(replay));
        assert_eq!(run(&mut rt), (chosen, decisions), "{sched:?}");
    }
}

#[test]
fn decisions_are_trace_events() {
    let replay = Replay::new(vec![2]);
    let mut rt = Runtime::with_chooser(0, Box::new(replay));
    rt.set_trace(true);
    rt.run(async { decide(DecisionKind::Select, 3) }).unwrap();
    let trace = rt.take_trace().unwrap().to_string();
    assert!(trace.contains("select: option 3 of 3"), "{trace}");
}

#[test]
fn random_and_pct_answer_non_task_kinds_without_a_task_list() {
    // PCT lists tasks only for task decisions; a select decision must not index them.
    let mut pct = Pct::new(1, 3, 10);
    let mut random = Random::new(1);
    use detsim_runtime::{Chooser, Options};
    for step in 0..100 {
        let view = Options::other(DecisionKind::Select, 5, step);
        assert!(pct.choose(view) < 5);
        assert!(random.choose(view) < 5);
    }
}

#[test]
#[should_panic(expected = "outside a detsim simulation")]
fn deciding_outside_a_simulation_panics() {
    decide(DecisionKind::Select, 2);
}

#[test]
#[should_panic(expected = "task decisions are made by the executor")]
fn task_decisions_cannot_be_made_by_hand() {
    Runtime::new(0).block_on(async { decide(DecisionKind::Task, 2) });
}

/// With recording off, a run is the same run (the same polls, in the same order) and
/// keeps no decisions; turned on again, the next run records them.
#[test]
fn a_run_without_recording_is_the_same_run_and_keeps_no_decisions() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use detsim_runtime::{Runtime, spawn, yield_now};

    let run = |rt: &mut Runtime| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|task| {
                let log = Rc::clone(&log);
                async move {
                    for round in 0..3 {
                        log.borrow_mut().push((task, round));
                        yield_now().await;
                    }
                }
            })
            .collect();
        rt.block_on(async move {
            let handles: Vec<_> = handles.into_iter().map(spawn).collect();
            for handle in handles {
                handle.await.unwrap();
            }
        });
        Rc::try_unwrap(log).unwrap().into_inner()
    };
    let mut rt = Runtime::new(5);
    let recorded = run(&mut rt);
    let decisions = rt.decisions();
    assert!(decisions.len() > 5, "{decisions:?}");
    rt.reset(5, None);
    rt.set_record_decisions(false);
    assert_eq!(run(&mut rt), recorded, "the same polls");
    assert!(rt.decisions().is_empty());
    rt.reset(5, None);
    rt.set_record_decisions(true);
    assert_eq!(run(&mut rt), recorded);
    assert_eq!(rt.decisions(), decisions);
}

/// Six tasks that log their polls and, now and then, a select decision.
async fn pct_program() -> Vec<u32> {
    use std::cell::RefCell;
    use std::rc::Rc;

    let log = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..6u32)
        .map(|task| {
            let log = Rc::clone(&log);
            spawn(async move {
                for round in 0..4 {
                    log.borrow_mut().push(task * 10 + round);
                    if (task + round) % 3 == 0 {
                        let branch = decide(DecisionKind::Select, 2) as u32;
                        log.borrow_mut().push(100 + branch);
                    }
                    yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    Rc::try_unwrap(log).unwrap().into_inner()
}

/// A run that fails with tasks ready (and, under PCT, a streak of yields going).
async fn fails_with_tasks_ready() {
    for _ in 0..5 {
        spawn(async {
            for _ in 0..50 {
                yield_now().await;
            }
        });
    }
    for _ in 0..20 {
        yield_now().await;
    }
    panic!("the run fails with tasks ready");
}

/// PCT of `depth` over `expected_polls`, by name.
fn pct(depth: u32, expected_polls: u64) -> ChooserSpec {
    ChooserSpec::Pct {
        depth,
        expected_polls,
    }
}

/// A runtime reused for many runs keeps PCT inline and resets it in place
/// (`reset` with `ChooserSpec::Pct`), buffers and all: each run is the one a fresh boxed `Pct` makes, run
/// for run, whatever ran before it on that runtime (PCT of another depth, random, a
/// boxed chooser), with decisions recorded or not.
#[test]
fn a_reused_pct_makes_the_runs_of_a_fresh_one() {
    let program = pct_program;
    let mut reused = Runtime::new(0);
    let mut deviations = 0;
    for seed in 0..40u64 {
        let depth = 1 + (seed % 3) as u32;
        let steps = 30 + seed;
        let mut fresh = Runtime::with_chooser(seed, Box::new(Pct::new(seed, depth, steps)));
        let expected = fresh.run(program()).unwrap();
        let decisions = fresh.decisions();
        deviations += decisions.iter().filter(|d| d.chosen > 0).count();
        // Something else in between, now and then.
        match seed % 4 {
            1 => {
                reused.reset(seed, None);
                reused.run(program()).unwrap();
            }
            2 => {
                reused.reset(
                    seed,
                    ChooserSpec::Custom(Box::new(Pct::new(seed + 1, 2, 10))),
                );
                reused.run(program()).unwrap();
            }
            3 => {
                // PCT that fails mid-run, with tasks ready and a streak going.
                reused.reset(seed + 7, pct(1 + (seed % 2) as u32, 40));
                assert!(reused.run(fails_with_tasks_ready()).is_err());
            }
            _ => {}
        }
        reused.reset(seed, pct(depth, steps));
        reused.set_record_decisions(seed % 5 != 0);
        assert_eq!(
            reused.run(program()).unwrap(),
            expected,
            "seed {seed}: polls"
        );
        if seed % 5 != 0 {
            assert_eq!(reused.decisions(), decisions, "seed {seed}: decisions");
        }
        reused.set_record_decisions(true);
    }
    assert!(deviations > 100, "the runs deviate from FIFO: {deviations}");
}

//! The explorer's parts, and the reduction: the cache of completed prefixes runs one
//! run per schedule where a plain search runs one per decision-tree node, and the set
//! of terminal traces is the same. Counts by hand are in `sim/tests/it/exhaustive.rs`.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;

use detsim_runtime::{Replay, Runtime};

use super::*;
use crate::builder::Builder;
use crate::config::Env;

fn plan(k: u32, jobs: usize) -> Settings {
    Builder::new()
        .exhaustive(k)
        .jobs(jobs)
        .settings(&Env::default())
}

#[test]
fn a_prefix_is_rebuilt_from_the_chain_of_parents() {
    let node = |parent, position, choice| Node {
        parent,
        position,
        choice,
    };
    let mut tree = Tree::new();
    tree.levels.push(vec![node(0, 1, 2), node(0, 4, 1)]);
    tree.levels.push(vec![node(1, 6, 1), node(0, 2, 3)]);
    assert_eq!(tree.prefix(0, 0), Vec::<u32>::new());
    assert_eq!(tree.prefix(1, 1), [0, 0, 0, 0, 1]);
    assert_eq!(tree.prefix(2, 0), [0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(tree.prefix(2, 1), [0, 2, 3]);
    assert_eq!(tree.first_free_position(0, 0), 0);
    assert_eq!(tree.first_free_position(2, 1), 3);
}

#[test]
fn chunks_merge_in_order_whatever_order_they_finish_in() {
    let chunk = |first: usize, n: u32| ChunkOut {
        first,
        ran: CHUNK,
        children: (0..n)
            .map(|choice| Node {
                parent: first as u32,
                position: 0,
                choice,
            })
            .collect(),
        children_total: u64::from(n) + 100,
    };
    let mut merge = Merge::default();
    merge.push(chunk(2 * CHUNK, 3), 5);
    merge.push(chunk(0, 2), 5);
    assert_eq!(
        merge.children.len(),
        2,
        "the third chunk waits for the second"
    );
    merge.push(chunk(CHUNK, 2), 5);
    let parents: Vec<u32> = merge.children.iter().map(|n| n.parent).collect();
    let c = CHUNK as u32;
    assert_eq!(parents, [0, 0, c, c, 2 * c], "in order, and capped at 5");
    assert_eq!(merge.children_total, 307, "all counted");
    assert_eq!(merge.ran, 3 * CHUNK as u64);
}

/// A small program with shared state, yields, a timer tie and a join: three tasks
/// whose steps interleave.
async fn program() {
    let shared = Rc::new(Cell::new(0u32));
    let tasks: Vec<_> = (0..3u32)
        .map(|i| {
            let shared = shared.clone();
            detsim_runtime::spawn(async move {
                shared.set(shared.get() * 3 + i);
                if i == 1 {
                    detsim_runtime::time::sleep(std::time::Duration::from_secs(1)).await;
                } else {
                    detsim_runtime::yield_now().await;
                }
                shared.set(shared.get() * 3 + i);
            })
        })
        .collect();
    detsim_runtime::time::sleep(std::time::Duration::from_secs(1)).await;
    for task in tasks {
        task.await.unwrap();
    }
}

/// The plain search the reduction is measured against: a stateless depth-first search
/// over the decision tree that runs every node (each prefix, deviating or not) to learn
/// the options at its next decision point. Returns its runs and the traces of the runs
/// that end at a leaf (a prefix as long as its run's decision list).
fn plain_search<F, Fut>(bound: usize, body: &F) -> (u64, BTreeSet<String>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut rt = Runtime::new(0);
    rt.set_trace(true);
    let mut runs = 0;
    let mut leaves = BTreeSet::new();
    let mut stack = vec![Vec::<u32>::new()];
    while let Some(prefix) = stack.pop() {
        rt.reset(
            0,
            detsim_runtime::ChooserSpec::Custom(Box::new(Replay::new(prefix.clone()))),
        );
        let _ = rt.run(async { body().await });
        runs += 1;
        let decisions = rt.decisions();
        let trace = rt.take_trace().unwrap_or_default();
        let Some(next) = decisions.get(prefix.len()) else {
            leaves.insert(trace.to_string());
            continue;
        };
        let deviations = prefix.iter().filter(|&&d| d != 0).count();
        for choice in (0..next.options).rev() {
            if deviations + usize::from(choice != 0) <= bound {
                let mut child = prefix.clone();
                child.push(choice);
                stack.push(child);
            }
        }
    }
    (runs, leaves)
}

/// Every run of an exhaustive exploration, as (decisions, trace).
fn explored(k: u32, jobs: usize) -> (Report, Vec<(Vec<u32>, String)>) {
    let runs = Mutex::new(Vec::new());
    let observe = |decisions: &[Decision], trace: &Trace| {
        let chosen = decisions.iter().map(|d| d.chosen).collect();
        runs.lock().unwrap().push((chosen, trace.to_string()));
    };
    let report = explore_observed(&plan(k, jobs), k, &program, Some(&observe));
    (report, runs.into_inner().unwrap())
}

#[test]
fn the_prefix_cache_keeps_every_terminal_trace_of_the_plain_search() {
    for k in 0..=3 {
        let (plain_runs, plain_traces) = plain_search(k as usize, &program);
        let (report, runs) = explored(k, 1);
        let traces: BTreeSet<String> = runs.iter().map(|(_, trace)| trace.clone()).collect();
        assert!(report.passed());
        assert!(report.coverage().unwrap().is_complete());
        // Every explored schedule is a different run: no trace twice, no decision list twice.
        assert_eq!(traces.len(), runs.len(), "k = {k}: a trace ran twice");
        let lists: BTreeSet<&Vec<u32>> = runs.iter().map(|(decisions, _)| decisions).collect();
        assert_eq!(lists.len(), runs.len(), "k = {k}: a schedule ran twice");
        // The same set of terminal traces as the plain search, with fewer runs.
        assert_eq!(traces, plain_traces, "k = {k}");
        assert_eq!(report.seeds_run, runs.len() as u64);
        assert!(
            k == 0 || plain_runs > report.seeds_run,
            "k = {k}: {plain_runs} plain runs, {} with the cache",
            report.seeds_run
        );
        // Every schedule explored keeps within the bound, bound by bound.
        let deviations: Vec<usize> = runs
            .iter()
            .map(|(decisions, _)| decisions.iter().filter(|&&d| d != 0).count())
            .collect();
        assert!(deviations.iter().all(|&d| d <= k as usize));
        assert!(deviations.is_sorted(), "explored bound by bound");
    }
}

#[test]
fn two_threads_explore_the_same_runs() {
    let (one, mut runs_one) = explored(2, 1);
    let (two, mut runs_two) = explored(2, 2);
    assert_eq!(one.seeds_run, two.seeds_run);
    assert_eq!(one.coverage(), two.coverage());
    runs_one.sort();
    runs_two.sort();
    assert_eq!(runs_one, runs_two);
}

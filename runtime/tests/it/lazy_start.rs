//! Rule 1, lazy start: `spawn` only schedules; the new task is never polled before the
//! poll of its creator that spawned it has returned (asyncio's `create_task`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use detsim_runtime::{spawn, task, yield_now};

use crate::util::{Sched, drop_flag, run_all, run_ok, schedules};

#[test]
fn a_task_never_runs_before_its_creator_suspends() {
    run_all(|| async {
        let creator_suspended = Rc::new(Cell::new(false));
        let seen = creator_suspended.clone();
        let child = spawn(async move {
            assert!(seen.get(), "the child ran inside its creator's poll");
        });
        // Still the creator's poll: plenty of synchronous work, the child stays put.
        for _ in 0..100 {
            assert!(!child.is_finished());
        }
        creator_suspended.set(true);
        yield_now().await;
        child.await.unwrap();
    });
}

#[test]
fn nested_spawns_are_lazy_at_every_level() {
    // Every task spawns two children, three levels deep; each child checks that its
    // creator had already finished the poll that spawned it.
    fn tree(depth: u32, log: Rc<RefCell<Vec<String>>>, name: String) {
        if depth == 0 {
            return;
        }
        let parent_done = Rc::new(Cell::new(false));
        for i in 0..2 {
            let flag = parent_done.clone();
            let log = log.clone();
            let child = format!("{name}.{i}");
            let _detached = spawn(async move {
                assert!(flag.get(), "{child} ran during its creator's poll");
                log.borrow_mut().push(child.clone());
                tree(depth - 1, log, child);
            });
        }
        parent_done.set(true);
    }
    for (sched, log) in run_all(|| async {
        let log = Rc::new(RefCell::new(Vec::new()));
        tree(3, log.clone(), "root".into());
        // Let the detached tree finish: every task polls once, 14 of them.
        for _ in 0..100 {
            yield_now().await;
        }
        log.take()
    }) {
        assert_eq!(log.len(), 14, "under {sched:?}: {log:?}");
    }
}

#[test]
fn a_task_spawned_in_a_completing_poll_still_runs_after_it() {
    run_all(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        let parent = spawn(async move {
            let inner = o.clone();
            let child = spawn(async move { inner.borrow_mut().push("child") });
            o.borrow_mut().push("parent returns");
            vec![child] // the handle is the output, not awaited here
        });
        for child in parent.await.unwrap() {
            child.await.unwrap();
        }
        assert_eq!(*order.borrow(), ["parent returns", "child"]);
    });
}

#[test]
fn a_root_that_never_suspends_never_runs_its_children() {
    for sched in schedules() {
        let (dropped, guard) = drop_flag();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let output = run_ok(sched, async move {
            let _detached = spawn(async move {
                let _guard = guard;
                r.set(true);
            });
            7
        });
        assert_eq!(output, 7);
        assert!(!ran.get(), "under {sched:?}: the child ran");
        assert!(
            dropped.get(),
            "under {sched:?}: the child's future was not dropped"
        );
    }
}

#[test]
fn under_fifo_tasks_spawned_in_one_step_start_in_creation_order() {
    let order = run_ok(Sched::Fifo, async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let order = order.clone();
                spawn(async move { order.borrow_mut().push(i) })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        order.take()
    });
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn under_random_every_spawn_order_is_a_permutation_and_orders_vary() {
    let mut distinct = std::collections::BTreeSet::new();
    for (sched, order) in run_all(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let order = order.clone();
                spawn(async move { order.borrow_mut().push(i) })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        order.take()
    }) {
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3], "under {sched:?}");
        distinct.insert(order);
    }
    // 4! = 24 orders; 200 random seeds see most of them.
    assert!(distinct.len() >= 20, "only {} orders seen", distinct.len());
}

#[test]
fn ids_count_up_in_spawn_order_and_match_inside_the_task() {
    run_all(|| async {
        assert_eq!(task::id(), task::Id::ROOT);
        assert_eq!(task::id().to_string(), "t0");
        let mut handles = Vec::new();
        for n in 1..=5u64 {
            let handle = spawn(async { task::id() });
            assert_eq!(handle.id().as_u64(), n);
            handles.push(handle);
        }
        for handle in handles {
            let id = handle.id();
            assert_eq!(handle.await.unwrap(), id);
        }
        // Ids are never reused within a run, even once slots are.
        assert_eq!(spawn(async {}).id().as_u64(), 6);
    });
}

#[test]
fn named_tasks_know_their_name() {
    run_all(|| async {
        assert_eq!(task::name().as_deref(), Some("main"));
        let named = task::Builder::new()
            .name("worker")
            .spawn(async { task::name() });
        let anonymous = spawn(async { task::name() });
        assert_eq!(named.await.unwrap().as_deref(), Some("worker"));
        assert_eq!(anonymous.await.unwrap(), None);
    });
}

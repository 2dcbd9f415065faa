//! Documented behaviours that a one-line change could break silently: the replay
//! chooser's clamp of a recorded decision that does not fit, the order in which the
//! tasks still pending at the end of a run are dropped, and the program's own random
//! stream of a seed.

use std::cell::RefCell;
use std::rc::Rc;

use detsim_runtime::{Replay, Runtime, spawn, task, yield_now};

/// Three tasks ready behind the root; returns the order they ran in.
async fn three_ready() -> Vec<u64> {
    let order = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let order = order.clone();
            spawn(async move { order.borrow_mut().push(task::id().as_u64()) })
        })
        .collect();
    yield_now().await; // t1, t2, t3 and the root are ready: the first decision
    for handle in handles {
        handle.await.unwrap();
    }
    order.take()
}

/// A recorded index past the ready set (the program changed since it was recorded) is
/// clamped to the newest ready task and counted, never an error or a wrap-around.
#[test]
fn replay_clamps_an_out_of_range_decision_to_the_newest_ready_task_and_counts_it() {
    let replay = Replay::new(vec![7]);
    let mismatches = replay.mismatches();
    let mut rt = Runtime::with_chooser(0, Box::new(replay));
    let order = rt.block_on(three_ready());
    // Ready at the first decision, oldest first: t1, t2, t3, t0. Index 7 clamps to 3
    // (the root), so the root runs first and awaits t1: then FIFO order.
    let first = rt.decisions()[0];
    assert_eq!((first.options, first.chosen), (4, 3));
    assert_eq!(order, vec![1, 2, 3]);
    assert_eq!(mismatches.get(), 1);
    // An index that fits is taken as it is and not counted.
    let replay = Replay::new(vec![2]);
    let mismatches = replay.mismatches();
    let mut rt = Runtime::with_chooser(0, Box::new(replay));
    assert_eq!(rt.block_on(three_ready())[0], 3);
    assert_eq!(mismatches.get(), 0);
}

/// Records its id when dropped.
struct Noisy(u64, Rc<RefCell<Vec<u64>>>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.borrow_mut().push(self.0);
    }
}

/// The tasks still pending when the root returns are dropped in id order, not in the
/// order of their slots: a slot freed by a finished task is reused by a later task.
#[test]
fn pending_tasks_are_dropped_in_id_order_at_the_end_of_a_run() {
    let dropped = Rc::new(RefCell::new(Vec::new()));
    let mut rt = Runtime::new(0);
    rt.set_trace(true);
    let log = dropped.clone();
    rt.block_on(async move {
        let parked = |log: Rc<RefCell<Vec<u64>>>| {
            spawn(async move {
                let _noisy = Noisy(task::id().as_u64(), log);
                std::future::pending::<()>().await;
            })
        };
        let quick = spawn(async {}); // t1, slot 1: finishes and frees its slot
        let t2 = parked(log.clone());
        let t3 = parked(log.clone());
        quick.await.unwrap();
        let t4 = parked(log.clone()); // reuses slot 1
        yield_now().await; // t2, t3, t4 start and park
        drop((t2, t3, t4)); // detached, still pending
    });
    assert_eq!(*dropped.borrow(), vec![2, 3, 4]);
    let trace = rt.take_trace().unwrap().to_string();
    let drops: Vec<&str> = trace.lines().filter(|l| l.contains("dropped")).collect();
    assert_eq!(drops.len(), 3, "{trace}");
    assert!(
        drops[0].contains("t2") && drops[2].contains("t4"),
        "{trace}"
    );
}

/// `random()` of a seed is the seed's user stream (ChaCha8 stream 1), word for word:
/// part of the compatibility promise, independent of the scheduler.
#[test]
fn the_user_random_stream_of_a_seed_is_pinned() {
    for chooser in [true, false] {
        let mut rt = match chooser {
            true => Runtime::with_chooser(42, Box::new(detsim_runtime::Fifo)),
            false => Runtime::new(42),
        };
        let drawn = rt.block_on(async {
            let a: u64 = detsim_runtime::random();
            let b: u32 = detsim_runtime::random();
            let c: bool = detsim_runtime::random();
            (a, b, c)
        });
        assert_eq!(drawn, PINNED_SEED_42_USER_DRAWS);
    }
}

const PINNED_SEED_42_USER_DRAWS: (u64, u32, bool) =
    (14_330_608_400_789_313_726, 1_612_016_457, false);

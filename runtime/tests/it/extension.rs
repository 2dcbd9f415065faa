//! Run-scoped state (`extension::run_state`): one value per type per run, created on
//! first use, dropped when the run ends (after the tasks, which may still use it).

use std::cell::Cell;
use std::rc::Rc;

use detsim_runtime::extension::{run_state, try_run_state};
use detsim_runtime::{Runtime, spawn};

thread_local! {
    static DROPS: Cell<u32> = const { Cell::new(0) };
}

#[derive(Debug, Default)]
struct Counter {
    value: Cell<u32>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        DROPS.set(DROPS.get() + 1);
    }
}

/// A task that, when dropped unfinished, still finds the run's state.
struct UsesStateOnDrop;

impl Drop for UsesStateOnDrop {
    fn drop(&mut self) {
        let state = try_run_state::<Counter>().expect("the state outlives the tasks");
        state.value.set(state.value.get() + 100);
    }
}

#[test]
fn one_value_per_run_dropped_when_the_run_ends() {
    DROPS.set(0);
    let mut rt = Runtime::new(1);
    for run in 0..3 {
        let seen = rt.block_on(async {
            assert!(
                try_run_state::<Counter>().is_none(),
                "a fresh run has no state"
            );
            let a = run_state(Counter::default);
            a.value.set(a.value.get() + 1);
            let task = spawn(async {
                let b = run_state::<Counter>(|| unreachable!("created already"));
                b.value.set(b.value.get() + 1);
            });
            task.await.unwrap();
            let _pending = spawn(async {
                let _guard = UsesStateOnDrop;
                std::future::pending::<()>().await;
            });
            detsim_runtime::yield_now().await;
            let state: Rc<Counter> = run_state(Counter::default);
            state.value.get()
        });
        assert_eq!(seen, 2, "run {run}");
        assert_eq!(DROPS.get(), run + 1, "dropped at the end of run {run}");
    }
    assert!(
        try_run_state::<Counter>().is_none(),
        "no state outside a run"
    );
}

//! A bug that needs one task to run many steps without being preempted.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

/// How many awaits the worker makes before it finishes.
const WORKER_STEPS: u32 = 12;

/// A supervisor spawns a worker, yields once, and then checks that the worker is still
/// running (it means to cancel it). The worker awaits 12 times and
/// finishes.
///
/// Shows when the worker runs all of its 13 polls before the supervisor's second poll.
/// A uniform random scheduler picks the worker 13 times in a row with probability 2^-13
/// (1 in 8,192). PCT gives the worker the higher priority with probability 1/2, and
/// without a change point a yield does not preempt it (Burckhardt et al., ASPLOS 2010,
/// figure 5), as long as the run's yield patience is above 12: PCT(1) finds the bug
/// within a few seeds. PCT(2) and PCT(3) hardly ever do, because their change points
/// fall among the first polls of this short run, inside the worker's stretch, and
/// shuttle's PCT never does, since it demotes a task at every yield.
pub async fn uninterrupted_run() {
    let finished = Rc::new(Cell::new(false));
    let worker = {
        let finished = Rc::clone(&finished);
        spawn(async move {
            for _ in 0..WORKER_STEPS {
                yield_now().await;
            }
            finished.set(true);
        })
    };
    yield_now().await;
    assert!(
        !finished.get(),
        "the worker ran {WORKER_STEPS} steps uninterrupted and finished before the supervisor's check"
    );
    worker.abort();
}

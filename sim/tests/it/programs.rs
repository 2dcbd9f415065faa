//! Small buggy programs shared by the harness tests.

use std::cell::Cell;
use std::rc::Rc;

/// `tasks` tasks each read a shared counter, yield `gap` times, and write it back
/// incremented: a lost update whenever two read-write windows overlap.
pub(crate) async fn lost_update(tasks: usize, gap: usize) {
    let counter = Rc::new(Cell::new(0usize));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let counter = counter.clone();
            detsim::task::Builder::new()
                .name(format!("incr-{i}"))
                .spawn(async move {
                    detsim::yield_now().await;
                    let seen = counter.get();
                    for _ in 0..gap {
                        detsim::yield_now().await;
                    }
                    counter.set(seen + 1);
                })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(counter.get(), tasks, "lost an update");
}

/// A bug that needs a rare order: `a` must run its two steps between `b`'s first and
/// second step, while `c` shuffles noise. Found by a few seeds in a hundred.
pub(crate) async fn rare_order() {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let spawn_logger = |name: &'static str, steps: usize| {
        let log = log.clone();
        detsim::task::Builder::new().name(name).spawn(async move {
            for step in 0..steps {
                log.borrow_mut().push((name, step));
                detsim::yield_now().await;
            }
        })
    };
    let a = spawn_logger("a", 2);
    let b = spawn_logger("b", 2);
    let c = spawn_logger("c", 3);
    for handle in [a, b, c] {
        handle.await.unwrap();
    }
    let order: Vec<_> = log
        .borrow()
        .iter()
        .filter(|(n, _)| *n != "c")
        .copied()
        .collect();
    assert_ne!(
        order,
        vec![("b", 0), ("a", 0), ("a", 1), ("b", 1)],
        "a ran entirely inside b"
    );
}

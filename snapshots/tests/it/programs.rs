//! The fixed programs whose traces are pinned.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use detsim::{task, time};

/// The README's example: three tasks increment a counter across an await.
pub(crate) async fn readme_counter() {
    let hits = Rc::new(Cell::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let hits = hits.clone();
            detsim::spawn(async move {
                let seen = hits.get();
                detsim::yield_now().await;
                hits.set(seen + 1);
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(hits.get(), 3, "lost an update");
}

/// The demo's bank: two transfers from one account, a read-await-write race.
pub(crate) use detsim_zoo::bank::one_day as bank;

/// Timers: sleepers, a tie at the same instant, a timeout that fires and one that doesn't.
pub(crate) async fn timers() {
    let sleeper = |name: &str, ms: u64| {
        task::Builder::new().name(name).spawn(async move {
            time::sleep(Duration::from_millis(ms)).await;
            time::now()
        })
    };
    let a = sleeper("a-30ms", 30);
    let b = sleeper("b-10ms", 10);
    let c = sleeper("c-10ms", 10);
    let late = time::timeout(
        Duration::from_millis(5),
        time::sleep(Duration::from_millis(50)),
    )
    .await;
    assert!(late.is_err());
    let quick = time::timeout(Duration::from_millis(50), async { 7 }).await;
    assert_eq!(quick, Ok(7));
    for handle in [a, b, c] {
        handle.await.unwrap();
    }
    time::sleep_until(time::now() + Duration::from_secs(3600)).await;
}

/// A child panics (observed through its handle) and another is aborted while parked.
pub(crate) async fn panic_and_abort() {
    let doomed = task::Builder::new().name("doomed").spawn(async {
        detsim::yield_now().await;
        panic!("doomed task fails");
    });
    let parked = task::Builder::new().name("parked").spawn(async {
        futures::future::pending::<()>().await;
    });
    detsim::yield_now().await;
    parked.abort();
    let error = doomed.await.unwrap_err();
    assert!(error.is_panic());
    assert!(parked.await.unwrap_err().is_cancelled());
}

/// Draws from the simulation's own random stream in two tasks.
pub(crate) async fn draws_random() -> Vec<u64> {
    let draws = Rc::new(RefCell::new(Vec::new()));
    let drawer = |name: &str| {
        let draws = draws.clone();
        task::Builder::new().name(name).spawn(async move {
            for _ in 0..2 {
                draws.borrow_mut().push(detsim::random::<u64>() % 1000);
                detsim::yield_now().await;
            }
        })
    };
    let (x, y) = (drawer("x"), drawer("y"));
    x.await.unwrap();
    y.await.unwrap();
    draws.take()
}

/// Six workers that yield three times each: up to seven tasks ready at once, so the
/// trace pins how a seed picks among four or more ready tasks (the compatibility
/// promise for large ready sets), and the program's own random draws (full 64-bit
/// words) pin the user stream beside it.
pub(crate) async fn many_ready() -> Vec<u64> {
    let draws = Rc::new(RefCell::new(Vec::new()));
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let draws = draws.clone();
            task::Builder::new()
                .name(format!("w{i}"))
                .spawn(async move {
                    for _ in 0..3 {
                        detsim::yield_now().await;
                    }
                    draws.borrow_mut().push(detsim::random::<u64>());
                })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    draws.take()
}

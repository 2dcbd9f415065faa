//! `tokio::runtime`: `Handle::current` inside, `Runtime::block_on` outside, and the
//! clear panic of `block_on` inside a running simulation (or runtime).

use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

#[tokio::test(start_paused = true)]
async fn handle_current_spawns() {
    let handle = Handle::current();
    let task = handle.spawn(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        11
    });
    assert_eq!(task.await.unwrap(), 11);
    assert!(Handle::try_current().is_ok());
    let blocking = handle.spawn_blocking(|| 4);
    assert_eq!(blocking.await.unwrap(), 4);
}

#[test]
fn try_current_fails_outside() {
    assert!(Handle::try_current().is_err());
}

#[test]
fn runtime_block_on_runs_a_future() {
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let value = rt.block_on(async {
        let task = tokio::spawn(async { 6 * 7 });
        task.await.unwrap()
    });
    assert_eq!(value, 42);
    let rt = Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(async { Handle::current().spawn(async { 1 }).await })
            .unwrap(),
        1
    );
}

#[tokio::test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
async fn block_on_inside_panics_clearly() {
    Handle::current().block_on(async {});
}

#[tokio::main(flavor = "current_thread")]
async fn a_main(_unit: ()) -> u32 {
    tokio::spawn(async { 5 }).await.unwrap()
}

#[test]
fn tokio_main_runs_its_body() {
    assert_eq!(a_main(()), 5);
}

/// A crate that uses tokio directly, not through the facade, calls real tokio, which
/// has no runtime inside a simulation: tokio's own panic, reported as the run's failure.
#[cfg(detsim)]
#[test]
fn real_tokio_inside_a_simulation_panics_no_reactor() {
    let report = detsim::Builder::new().seeds(1).explore(|| async {
        real_tokio::time::sleep(Duration::from_millis(1)).await;
    });
    let failure = report.failure.expect("real tokio cannot run here");
    assert!(
        failure.message.contains("there is no reactor running"),
        "{}",
        failure.message
    );
}

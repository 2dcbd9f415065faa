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

/// A runtime is used as tokio's is, outside `block_on` too: `spawn` before the first
/// `block_on`, `enter` then `tokio::spawn`, tasks that go on from one `block_on` to
/// the next, and tasks dropped with the runtime.
#[test]
fn runtime_is_usable_outside_block_on() {
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let early = rt.spawn(async { 1 + 1 });
    assert_eq!(rt.block_on(early).unwrap(), 2);

    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let sleeper = rt.spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        tx.send(7).unwrap();
    });
    // The first block_on ends before the sleeper wakes; the second one waits for it.
    rt.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
    assert!(rx.try_recv().is_err(), "the sleeper is still asleep");
    rt.block_on(sleeper).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 7);

    {
        let _guard = rt.enter();
        assert_eq!(Handle::current().id(), rt.handle().id());
        let spawned = tokio::spawn(async { 3 });
        assert_eq!(rt.block_on(spawned).unwrap(), 3);
    }
    assert!(Handle::try_current().is_err(), "the guard is dropped");

    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _tx = tx;
        std::future::pending::<()>().await
    });
    rt.block_on(tokio::task::yield_now());
    assert!(rx.try_recv().is_err());
    drop(rt);
    assert_eq!(
        rx.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Closed),
        "dropping the runtime drops its pending tasks"
    );
}

#[test]
fn runtime_ids_and_names() {
    let one = Builder::new_current_thread().name("one").build().unwrap();
    let two = Builder::new_multi_thread().build().unwrap();
    assert_ne!(one.handle().id(), two.handle().id());
    assert_eq!(one.handle().id(), one.handle().clone().id());
    assert_eq!(one.handle().name(), Some("one"));
    assert_eq!(two.handle().name(), None);
}

#[test]
#[should_panic(expected = "Worker threads cannot be set to 0")]
fn zero_worker_threads_panics() {
    Builder::new_multi_thread().worker_threads(0);
}

#[tokio::test]
#[should_panic(expected = "Cannot drop a runtime in a context where blocking is not allowed")]
async fn dropping_a_runtime_inside_one_panics() {
    let rt = Builder::new_current_thread().build().unwrap();
    drop(rt);
}

/// `worker_index` says which worker tokio would run the caller on: a current-thread
/// runtime's `Runtime::block_on` and its tasks run on worker 0; `Handle::block_on`, a
/// multi-thread runtime's `block_on` and `spawn_blocking` run on no worker.
#[test]
fn worker_index_names_the_worker_tokio_would_run_the_caller_on() {
    use tokio::runtime::worker_index;
    assert_eq!(worker_index(), None, "outside any runtime");
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(worker_index(), Some(0));
        let spawned = tokio::spawn(async { worker_index() }).await.unwrap();
        assert_eq!(spawned, Some(0));
        let blocking = tokio::task::spawn_blocking(worker_index).await.unwrap();
        assert_eq!(blocking, None, "a blocking closure runs on no worker");
    });
    assert_eq!(rt.handle().block_on(async { worker_index() }), None);
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(worker_index(), None, "block_on's thread is no worker");
        let spawned = tokio::spawn(async { worker_index() }).await.unwrap();
        assert_eq!(spawned, Some(0));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_multi_thread_test_body_runs_on_no_worker() {
    assert_eq!(tokio::runtime::worker_index(), None);
    let spawned = tokio::spawn(async { tokio::runtime::worker_index() });
    assert_eq!(spawned.await.unwrap(), Some(0));
}

/// The probe of the next test: spawns a task from outside `block_on`, then waits for it
/// on a std channel (tokio runs it on a worker meanwhile; a simulation runs tasks only
/// inside `block_on`). `DETSIM_PROBE_SPIN` makes it wait by spinning instead.
#[cfg(detsim)]
#[test]
#[ignore = "run by a_thread_waiting_for_tasks_spawned_outside_block_on_is_reported"]
fn waiting_outside_block_on_probe() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = Builder::new_multi_thread().enable_all().build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move { tx.send(()).unwrap() });
    if std::env::var_os("DETSIM_PROBE_SPIN").is_none() {
        rx.recv().unwrap();
    }
    // The same wait, busy: a spin on a flag the task would set.
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    rt.spawn(async move { flag.store(true, Ordering::Relaxed) });
    while !done.load(Ordering::Relaxed) {
        std::thread::yield_now();
    }
}

/// A thread that blocks outside `block_on` while the tasks it spawned into the runtime
/// wait for the next `block_on` is ended by the watchdog with a report, not left to
/// hang.
#[cfg(detsim)]
#[test]
fn a_thread_waiting_for_tasks_spawned_outside_block_on_is_reported() {
    for spin in [false, true] {
        let mut probe = std::process::Command::new(std::env::current_exe().unwrap());
        probe
            .args([
                "--ignored",
                "--exact",
                "--nocapture",
                "runtime::waiting_outside_block_on_probe",
            ])
            .env("DETSIM_WATCHDOG", "1")
            .env_remove("DETSIM_SEED");
        if spin {
            probe.env("DETSIM_PROBE_SPIN", "1");
        }
        let output = probe.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(101), "spin {spin}: {stderr}");
        assert!(
            stderr.contains("for 1s of real time outside any block_on, while tasks it spawned"),
            "spin {spin}: {stderr}"
        );
    }
}

//! Panics as tokio has them: `JoinError`'s text, the panics of destructors tokio runs
//! for a task (contained, or handed to the task's handle), `task::id()` in those
//! destructors, and where `block_in_place` is allowed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task;
use tokio::time::sleep;

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

#[tokio::test(start_paused = true)]
async fn join_error_prints_as_tokios() {
    let error = tokio::spawn(async { panic!("boom {}", 1) })
        .await
        .unwrap_err();
    let display = error.to_string();
    assert!(
        display.starts_with("task ") && display.ends_with(r#" panicked with message "boom 1""#),
        "{display}"
    );
    let debug = format!("{error:?}");
    assert!(
        debug.starts_with("JoinError::Panic(Id(") && debug.ends_with(r#"), "boom 1", ...)"#),
        "{debug}"
    );

    let error = tokio::spawn(async { std::panic::panic_any(7u8) })
        .await
        .unwrap_err();
    assert!(error.to_string().ends_with(" panicked"), "{error}");
    assert!(format!("{error:?}").ends_with("), ...)"), "{error:?}");

    let handle = tokio::spawn(sleep(Duration::from_secs(60)));
    handle.abort();
    let error = handle.await.unwrap_err();
    assert!(error.to_string().ends_with(" was cancelled"), "{error}");
    assert!(
        format!("{error:?}").starts_with("JoinError::Cancelled(Id("),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_an_aborted_task_is_dropped_goes_to_its_handle() {
    let handle = tokio::spawn(async {
        let _guard = PanicOnDrop;
        sleep(Duration::from_secs(100)).await;
    });
    sleep(Duration::from_millis(10)).await;
    handle.abort();
    let error = handle.await.unwrap_err();
    assert!(error.is_panic(), "{error:?}");
    assert_eq!(error.into_panic().downcast_ref::<&str>(), Some(&"dropped"));
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_an_aborted_task_is_dropped_is_contained_without_its_handle() {
    let handle = tokio::spawn(async {
        let _guard = PanicOnDrop;
        sleep(Duration::from_secs(100)).await;
    });
    sleep(Duration::from_millis(10)).await;
    handle.abort();
    drop(handle);
    sleep(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_an_output_is_dropped_with_its_handle_is_contained() {
    let handle = tokio::spawn(async { PanicOnDrop });
    sleep(Duration::from_millis(3)).await;
    drop(handle);
}

#[tokio::test(start_paused = true)]
async fn an_output_dropped_with_its_handle_is_dropped_as_its_task() {
    struct Output(Arc<Mutex<Option<task::Id>>>);
    impl Drop for Output {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(task::id());
        }
    }
    let seen = Arc::new(Mutex::new(None));
    // Dropped after the task completed...
    let output = Output(seen.clone());
    let handle = tokio::spawn(async move { output });
    let id = handle.id();
    sleep(Duration::from_millis(1)).await;
    assert!(handle.is_finished());
    drop(handle);
    assert_eq!(*seen.lock().unwrap(), Some(id));
    // ...and before.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let output = Output(seen.clone());
    let handle = tokio::spawn(async move {
        rx.await.unwrap();
        output
    });
    let id = handle.id();
    drop(handle);
    tx.send(()).unwrap();
    sleep(Duration::from_millis(1)).await;
    assert_eq!(*seen.lock().unwrap(), Some(id));
}

/// `#[tokio::main]`'s runtime is multi-thread by default, as tokio's.
#[tokio::main]
#[test]
async fn block_in_place_runs_under_a_default_tokio_main() {
    assert_eq!(task::block_in_place(|| 3), 3);
}

/// A multi-thread runtime with one worker, as tokio's tests build it.
fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap()
}

#[test]
fn block_on_of_the_same_runtime_inside_block_in_place() {
    let rt = multi_thread();
    let handle = rt.handle().clone();
    let total = rt.block_on(async move {
        tokio::spawn(async move {
            task::block_in_place(|| {
                handle.block_on(async {
                    task::yield_now().await;
                    // More locks than tokio's coop budget (128): lifted in here.
                    let lock = tokio::sync::Mutex::new(0);
                    for i in 0..200 {
                        *lock.lock().await += i;
                    }
                    task::block_in_place(|| {});
                    lock.into_inner()
                })
            })
        })
        .await
        .unwrap()
    });
    assert_eq!(total, (0..200).sum::<i32>());
}

#[test]
fn block_in_place_in_a_handle_block_on_of_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let value = tokio::runtime::Handle::current().block_on(async {
        task::block_in_place(|| tokio::runtime::Handle::current().block_on(async { 5 }))
    });
    assert_eq!(value, 5);
}

/// In simulation nothing else runs while `block_in_place` blocks the thread: a nested
/// `block_on` that waits for another task says so (tokio would run that task on another
/// worker).
#[cfg(detsim)]
#[test]
fn a_nested_block_on_that_waits_for_another_task_panics_clearly() {
    let rt = multi_thread();
    let handle = rt.handle().clone();
    let error = rt.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let waiter =
            tokio::spawn(async move { task::block_in_place(|| handle.block_on(rx)).unwrap() });
        let result = waiter.await;
        drop(tx);
        result.unwrap_err()
    });
    let message = error.into_panic();
    let message = message.downcast_ref::<&str>().unwrap();
    assert!(message.contains("waits for another task"), "{message}");
}

/// A runtime built without `enable_io`.
fn without_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
#[should_panic(expected = "A Tokio 1.x context was found, but IO is disabled")]
fn from_std_on_a_runtime_without_io_panics() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    without_io().block_on(async {
        let _ = tokio::net::TcpListener::from_std(listener);
    });
}

#[test]
#[should_panic(expected = "A Tokio 1.x context was found, but IO is disabled")]
fn bind_on_a_runtime_without_io_panics() {
    without_io().block_on(async {
        let _ = tokio::net::UdpSocket::bind("127.0.0.1:0").await;
    });
}

//! A runtime after its shutdown (`drop`, `shutdown_timeout`, `shutdown_background`), and
//! a runtime used from outside its `block_on`: what tokio's own `rt_handle_block_on`,
//! `rt_handle` and `rt_shutdown_err` tests check, the same source on real tokio and
//! under `--cfg detsim`.

use std::io;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::runtime::{Builder, Handle, Runtime, is_rt_shutdown_err};

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

const SHUTDOWN: &str = "A Tokio 1.x context was found, but it is being shutdown.";

/// After the shutdown, a handle still runs futures that need no runtime; a task spawned
/// then is dropped at once, and its handle says it was cancelled.
#[test]
fn spawns_after_shutdown_are_cancelled() {
    let rt = current_thread();
    let _enter = rt.enter();
    rt.shutdown_timeout(Duration::from_secs(1000));

    assert_eq!(Handle::current().block_on(async { 3 }), 3);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    Handle::current().block_on(tx.send(4)).unwrap();
    assert_eq!(Handle::current().block_on(rx.recv()), Some(4));

    let task = tokio::spawn(std::future::pending::<()>());
    let error = Handle::current().block_on(task).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    let blocking = tokio::task::spawn_blocking(|| 42);
    let error = Handle::current().block_on(blocking).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
}

/// A blocking task spawned before the shutdown is not cancelled: it runs to its end
/// (tokio's blocking pool finishes the closures it started), while the other tasks are
/// dropped.
#[test]
fn a_blocking_task_spawned_before_shutdown_finishes() {
    let rt = current_thread();
    let _enter = rt.enter();
    let blocking = tokio::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(10));
        42
    });
    let task = tokio::spawn(std::future::pending::<()>());
    rt.shutdown_timeout(Duration::from_secs(1000));

    assert_eq!(Handle::current().block_on(blocking).unwrap(), 42);
    let error = Handle::current().block_on(task).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
}

/// A task left pending when its runtime is dropped is cancelled; so is one spawned on a
/// handle afterwards: both handles say so, polled from outside any runtime.
#[test]
fn tasks_of_a_dropped_runtime_are_cancelled() {
    let rt = current_thread();
    let handle = rt.block_on(async { Handle::current() });
    let before = handle.spawn(std::future::pending::<()>());
    drop(rt);
    let after = handle.spawn(std::future::pending::<()>());

    let before = before.now_or_never().expect("ready").unwrap_err();
    let after = futures::executor::block_on(after).unwrap_err();
    assert!(before.is_cancelled(), "{before}");
    assert!(after.is_cancelled(), "{after}");
}

/// `abort` from outside `block_on` cancels the task; its error converted to an
/// `io::Error` is not a shutdown error.
#[test]
fn abort_outside_block_on_cancels() {
    let rt = current_thread();
    let task = rt.spawn(std::future::pending::<()>());
    task.abort();
    let error = rt.block_on(task).unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    let error: io::Error = error.into();
    assert!(!is_rt_shutdown_err(&error));
}

/// Sockets and stdio refuse to start in a shut-down runtime with tokio's shutdown error
/// (a bind made before the shutdown and awaited after it too); files with "background
/// task failed".
#[test]
fn resources_of_a_shut_down_runtime_give_tokios_errors() {
    let rt = current_thread();
    let _enter = rt.enter();
    let early_bind = tokio::net::TcpListener::bind("127.0.0.1:0");
    rt.shutdown_timeout(Duration::from_secs(1000));

    let handle = Handle::current();
    let error = handle.block_on(early_bind).unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");
    let error = handle
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");
    let error = handle
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");
    let error = handle
        .block_on(async { tokio::io::stdout().write_all(b"x").await })
        .unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");
    let error = handle
        .block_on(async { tokio::io::stderr().write_all(b"x").await })
        .unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");

    let error = handle
        .block_on(tokio::fs::read_to_string("Cargo.toml"))
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Other);
    let inner = error.get_ref().expect("an inner error");
    assert_eq!(inner.to_string(), "background task failed");
    assert!(!is_rt_shutdown_err(&error));
}

/// A socket of a runtime that was dropped, or shut down, gives tokio's shutdown error
/// on I/O: an accept fails at once instead of waiting.
#[test]
fn sockets_of_a_gone_runtime_give_the_shutdown_error() {
    let dropped = current_thread();
    let other = current_thread();
    let listener = dropped.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
    drop(dropped);
    other.block_on(async {
        let error = listener.accept().await.unwrap_err();
        assert!(is_rt_shutdown_err(&error), "{error}");
    });

    let rt = current_thread();
    let _enter = rt.enter();
    let listener = Handle::current()
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    rt.shutdown_timeout(Duration::from_secs(1000));
    let error = Handle::current().block_on(listener.accept()).unwrap_err();
    assert!(is_rt_shutdown_err(&error), "{error}");
}

#[test]
fn is_rt_shutdown_err_reads_tokios_error() {
    assert!(is_rt_shutdown_err(&io::Error::other(SHUTDOWN)));
    assert!(!is_rt_shutdown_err(&io::Error::other(format!(
        "{SHUTDOWN} (more)"
    ))));
    assert!(!is_rt_shutdown_err(&io::Error::new(
        io::ErrorKind::NotFound,
        SHUTDOWN
    )));
    assert!(!is_rt_shutdown_err(&io::Error::from(io::ErrorKind::Other)));
}

/// A timer created before the shutdown panics when polled after it, as tokio's.
#[test]
#[should_panic(expected = "A Tokio 1.x context was found, but it is being shutdown.")]
fn a_timer_after_shutdown_panics() {
    let rt = multi_thread();
    let _enter = rt.enter();
    let sleep = tokio::time::sleep(Duration::from_millis(100));
    rt.shutdown_timeout(Duration::from_secs(1000));
    Handle::current().block_on(sleep);
}

/// `block_on` inside a runtime panics with tokio's own words.
#[test]
#[should_panic(
    expected = "Cannot start a runtime from within a runtime. This happens because a function (like `block_on`) attempted to block the current thread while the thread is being used to drive asynchronous tasks. If you are in an async function, use `.await` on the future instead of blocking on it."
)]
fn nested_block_on_panics_with_tokios_text() {
    let rt = current_thread();
    rt.block_on(async { Handle::current().block_on(async {}) });
}

/// Enter guards nest: the innermost runtime is current until its guard drops.
#[test]
fn enter_guards_of_two_runtimes_nest() {
    let one = current_thread();
    let two = current_thread();
    let outer = one.enter();
    {
        let _inner = two.enter();
        assert_eq!(Handle::current().id(), two.handle().id());
        let task = tokio::spawn(async { 2 });
        assert_eq!(two.block_on(task).unwrap(), 2);
    }
    assert_eq!(Handle::current().id(), one.handle().id());
    drop(outer);
    assert!(Handle::try_current().is_err());
}

#[test]
#[should_panic(expected = "`EnterGuard` values dropped out of order")]
fn enter_guards_dropped_out_of_order_panic() {
    let one = current_thread();
    let two = current_thread();
    let outer = one.enter();
    let inner = two.enter();
    drop(outer);
    drop(inner);
}

#[test]
#[should_panic(expected = "`EnterGuard` values dropped out of order")]
fn enter_guards_of_one_runtime_dropped_out_of_order_panic() {
    let rt = current_thread();
    let _first = rt.enter();
    let second = rt.enter();
    let third = rt.enter();
    drop(second);
    drop(third);
}

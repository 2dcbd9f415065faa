//! Helpers shared by the bug bodies.

use detsim::JoinHandle;

/// Awaits a task and gives its output. A panic in the task is re-raised here with its
/// original payload, so the failure's message is the task's own assert message; a
/// cancelled task is a panic of its own.
pub(crate) async fn join<T: 'static>(handle: JoinHandle<T>) -> T {
    match handle.await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("a zoo task ended without output: {err}"),
    }
}

/// Awaits `steps` times: a task's setup or work, as that many scheduling points.
pub(crate) async fn pause(steps: u32) {
    for _ in 0..steps {
        detsim::yield_now().await;
    }
}

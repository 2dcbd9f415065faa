//! What the facade's macros expand to. Not part of the API.

use std::future::Future;

pub use detsim_macros::select_impl;

/// `#[tokio::test]`'s arguments, recorded (they change nothing in simulation).
#[derive(Debug, Clone, Copy)]
pub struct TestConfig {
    /// `"current_thread"`, `"multi_thread"` or `"local"`.
    pub flavor: &'static str,
    /// tokio's `worker_threads`.
    pub worker_threads: Option<u64>,
    /// tokio's `start_paused`.
    pub start_paused: bool,
    /// tokio's `name`: the runtime's name ([`Handle::name`](crate::runtime::Handle::name)).
    pub name: Option<&'static str>,
}

/// The body of a `#[tokio::test]`: a detsim sweep of
/// [`DEFAULT_TEST_SEEDS`](crate::simulation::DEFAULT_TEST_SEEDS) seeds (the `DETSIM_*`
/// variables override), failing with detsim's report.
#[track_caller]
pub fn run_test<F, Fut>(config: TestConfig, body: F)
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    detsim::Builder::new()
        .seeds(crate::simulation::DEFAULT_TEST_SEEDS)
        .check(|| {
            let body = body();
            async move {
                crate::runtime::enter_test_run(config);
                let index = (config.flavor != "multi_thread").then_some(0);
                crate::runtime::root_future(index, body).await;
            }
        });
}

/// Which enabled branch of a non-`biased` `select!` is polled first: a
/// [`DecisionKind::Select`](detsim_runtime::DecisionKind::Select) decision among
/// `enabled` options inside a simulation, source order (0) outside one.
#[inline]
pub fn select_start(enabled: usize) -> usize {
    if enabled < 2 || !detsim_runtime::in_simulation() {
        return 0;
    }
    detsim_runtime::decide(detsim_runtime::DecisionKind::Select, enabled)
}

/// `select!`'s first step at each poll, as tokio's: `Pending` (after waking the task)
/// when its coop budget is spent, since the branches' resources would yield anyway and
/// other futures would not.
#[inline]
pub fn poll_budget_available(cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
    match detsim_runtime::coop::has_budget_remaining() {
        true => std::task::Poll::Ready(()),
        false => {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

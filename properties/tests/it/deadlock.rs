//! Lowered programs cannot deadlock (every wait points down the task tree,
//! or up at a parent that hangs up before it waits). The classic deadlock
//! they exclude, awaiting a child that waits for our message, is checked
//! here by hand: detsim must report it as a deadlock under every scheduler,
//! naming the blocked task.

use detsim_properties::Sched;
use futures::channel::oneshot;

#[test]
fn awaiting_a_child_that_waits_for_us_is_reported() {
    for sched in Sched::ALL {
        for seed in 0..4 {
            let report = detsim::Builder::new()
                .seed(seed)
                .scheduler(sched.to_detsim())
                .explore(|| async {
                    let (tx, rx) = oneshot::channel::<u32>();
                    let child = detsim::task::Builder::new()
                        .name("waiter")
                        .spawn(async move { rx.await.ok() });
                    let _ = child.await; // holds `tx`: never sends, never hangs up
                    drop(tx);
                });
            let failure = report.failure.expect("a deadlock fails the run");
            let message = &failure.message;
            assert!(
                message.contains("deadlock") && message.contains("waiter"),
                "{sched} seed {seed}: {message}"
            );
        }
    }
}

//! A timeout racing the reply it guards.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use detsim::spawn;
use detsim::time::{sleep, timeout};
use futures::channel::oneshot;

use crate::support::join;

/// A client sends a request with a 10 ms timeout; the server takes exactly 10 ms to
/// apply it and reply. On a timeout the client assumes the request was lost and applies
/// it again (its retry).
///
/// Both timers are due at the same virtual instant, so the scheduler picks which wakes
/// first. Shows when the client wakes first: it times out, retries, and then the server
/// applies the original request too.
pub async fn timeout_race() {
    let applied = Rc::new(Cell::new(0u32));
    let (reply_tx, reply_rx) = oneshot::channel::<()>();
    let server = {
        let applied = Rc::clone(&applied);
        spawn(async move {
            sleep(Duration::from_millis(10)).await;
            applied.set(applied.get() + 1);
            let _ = reply_tx.send(());
        })
    };
    if timeout(Duration::from_millis(10), reply_rx).await.is_err() {
        // The retry: the request is assumed lost.
        applied.set(applied.get() + 1);
    }
    join(server).await;
    assert_eq!(
        applied.get(),
        1,
        "request applied {} times: the client timed out and retried a request that had gone through",
        applied.get()
    );
}

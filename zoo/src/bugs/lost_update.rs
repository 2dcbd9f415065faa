//! Lost update: a read-modify-write split by an await.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::join;

/// Two tasks each increment a shared counter by reading it, awaiting (a write-ahead log,
/// say), then writing back what they read plus one.
///
/// Shows when the second task reads before the first writes back: both write `1`.
/// Depth 2 in PCT's terms (one preemption, inside the first task's await); `fifo` finds
/// it at once, since asyncio's order runs both reads before either write.
pub async fn lost_update() {
    let counter = Rc::new(Cell::new(0u32));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let counter = Rc::clone(&counter);
            spawn(async move {
                let seen = counter.get();
                yield_now().await;
                counter.set(seen + 1);
            })
        })
        .collect();
    for task in tasks {
        join(task).await;
    }
    assert_eq!(
        counter.get(),
        2,
        "lost update: two increments left the counter at {}",
        counter.get()
    );
}

//! Missed notification: a flag checked, then an await, then the waiter registered.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use detsim::{spawn, yield_now};
use futures::channel::oneshot;

use crate::support::join;

/// A one-shot event: a flag, and the waiters to notify when it is set.
#[derive(Default)]
struct Event {
    set: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

/// A waiter checks the event's flag, awaits (it logs that it goes to sleep), then
/// registers itself; a notifier sets the flag and notifies the registered waiters.
///
/// Shows when the notifier runs between the waiter's check and its registration: the
/// notification finds nobody, and the waiter then waits forever (a deadlock report).
pub async fn missed_notification() {
    let event = Rc::new(Event::default());
    let waiter = {
        let event = Rc::clone(&event);
        spawn(async move {
            if !event.set.get() {
                yield_now().await;
                let (tx, rx) = oneshot::channel();
                event.waiters.borrow_mut().push(tx);
                // The sender lives in `event`, so this waits until notified.
                let _ = rx.await;
            }
        })
    };
    let notifier = {
        let event = Rc::clone(&event);
        spawn(async move {
            yield_now().await;
            event.set.set(true);
            let waiters = std::mem::take(&mut *event.waiters.borrow_mut());
            for tx in waiters {
                let _ = tx.send(());
            }
        })
    };
    join(notifier).await;
    join(waiter).await;
}

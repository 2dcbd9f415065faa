//! A timeout that cancels a future which is not cancel-safe.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use detsim::time::{sleep, timeout};
use detsim::{spawn, yield_now};
use futures::StreamExt as _;
use futures::channel::mpsc;

use crate::support::join;

/// A consumer receives a message and then stores it, both inside one
/// [`detsim::time::timeout`]; on a timeout it just tries again. A producer sends one
/// message after 10 ms, the consumer's timeout is 10 ms as well.
///
/// Shows when, at the 10 ms instant, the producer runs before the consumer: the consumer
/// takes the message, awaits on its way to storing it, and the expired timeout drops the
/// half-done future with the message in it.
pub async fn cancel_unsafe_timeout() {
    let stored = Rc::new(RefCell::new(Vec::new()));
    let sent = Rc::new(Cell::new(0u32));
    let (tx, mut rx) = mpsc::unbounded::<u32>();
    let producer = {
        let sent = Rc::clone(&sent);
        spawn(async move {
            sleep(Duration::from_millis(10)).await;
            tx.unbounded_send(7).expect("the consumer is alive");
            sent.set(sent.get() + 1);
            tx.close_channel();
        })
    };
    let consumer = {
        let stored = Rc::clone(&stored);
        spawn(async move {
            loop {
                let attempt = timeout(Duration::from_millis(10), async {
                    let message = rx.next().await?;
                    yield_now().await; // on the way to the store
                    stored.borrow_mut().push(message);
                    Some(())
                });
                if let Ok(None) = attempt.await {
                    break; // the channel is closed and drained
                }
            }
        })
    };
    join(producer).await;
    join(consumer).await;
    assert_eq!(
        stored.borrow().len() as u32,
        sent.get(),
        "message lost: the timeout cancelled the consumer between taking the message and storing it"
    );
}

//! An ordering assumption between tasks.

use std::cell::RefCell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::join;

/// A producer loads a configuration (one await) and publishes it; a consumer, spawned
/// after it, awaits once too and then reads the configuration, assuming that the task
/// spawned first is done by then.
///
/// Under asyncio's FIFO order the assumption happens to hold: the two tasks' second
/// steps run in spawn order. Shows when the consumer's second step runs first.
pub async fn ordering_assumption() {
    let config: Rc<RefCell<Option<&'static str>>> = Rc::new(RefCell::new(None));
    let producer = {
        let config = Rc::clone(&config);
        spawn(async move {
            yield_now().await; // read the file
            *config.borrow_mut() = Some("listen = 8080");
        })
    };
    let consumer = {
        let config = Rc::clone(&config);
        spawn(async move {
            yield_now().await;
            let config = *config.borrow();
            config.expect("consumer ran before the producer had published the config")
        })
    };
    join(producer).await;
    join(consumer).await;
}

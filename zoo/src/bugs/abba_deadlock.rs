//! Lock-order deadlock over two async mutexes (ABBA).

use std::rc::Rc;

use detsim::{spawn, yield_now};
use futures::lock::Mutex;

use crate::support::join;

/// One task locks `a` then `b`, the other `b` then `a`, each awaiting between its two
/// locks.
///
/// Shows when each task takes its first lock before the other takes its second: both
/// wait forever, and the run fails with detsim's deadlock report.
pub async fn abba_deadlock() {
    let a = Rc::new(Mutex::new(0u32));
    let b = Rc::new(Mutex::new(0u32));
    let ab = {
        let (a, b) = (Rc::clone(&a), Rc::clone(&b));
        spawn(async move {
            let mut first = a.lock().await;
            yield_now().await;
            let mut second = b.lock().await;
            *first += 1;
            *second += 1;
        })
    };
    let ba = spawn(async move {
        let mut first = b.lock().await;
        yield_now().await;
        let mut second = a.lock().await;
        *first += 1;
        *second += 1;
    });
    join(ab).await;
    join(ba).await;
}

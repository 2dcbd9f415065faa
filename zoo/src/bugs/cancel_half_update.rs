//! Cancellation that leaves state half-updated.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

/// A transfer debits one account, awaits (a network write), then credits the other; its
/// impatient caller yields once and then aborts it with [`detsim::JoinHandle::abort`].
///
/// Shows when the transfer has run exactly its first half when the abort lands: the
/// debit happened, the credit never will, and the money is gone. (Aborted before its
/// first poll, or after its second, the transfer leaves the books balanced.)
pub async fn cancel_half_update() {
    let from = Rc::new(Cell::new(100i64));
    let to = Rc::new(Cell::new(0i64));
    let transfer = {
        let (from, to) = (Rc::clone(&from), Rc::clone(&to));
        spawn(async move {
            from.set(from.get() - 50);
            yield_now().await;
            to.set(to.get() + 50);
        })
    };
    yield_now().await;
    transfer.abort();
    // Completed or cancelled, either is fine here; the books are what matters.
    let _ = transfer.await;
    assert_eq!(
        from.get() + to.get(),
        100,
        "money vanished: transfer aborted between debit ({}) and credit ({})",
        from.get(),
        to.get()
    );
}

//! Check-then-act: a guard checked before an await and acted on after it.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::join;

/// Two withdrawals of 80 from a balance of 100: each checks the balance, awaits a fraud
/// check, then debits.
///
/// Shows when both checks run before either debit, which leaves the balance at −60.
pub async fn check_then_act() {
    let balance = Rc::new(Cell::new(100i64));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let balance = Rc::clone(&balance);
            spawn(async move {
                if balance.get() >= 80 {
                    yield_now().await;
                    balance.set(balance.get() - 80);
                }
            })
        })
        .collect();
    for task in tasks {
        join(task).await;
    }
    assert!(
        balance.get() >= 0,
        "overdrawn: two withdrawals passed the check, balance is {}",
        balance.get()
    );
}

//! The demo program: a bank whose transfers lose money when two of them interleave
//! across an `.await`. `cargo run --example bank` sweeps it, the snapshots pin its
//! traces, and the `schedule` fuzz target fuzzes its schedules and random values.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use detsim::{task, time};

/// Accounts and their balances, shared by every teller task.
struct Bank {
    balances: RefCell<Vec<u64>>,
}

impl Bank {
    fn balance(&self, account: usize) -> u64 {
        self.balances.borrow()[account]
    }

    fn set(&self, account: usize, amount: u64) {
        self.balances.borrow_mut()[account] = amount;
    }

    fn total(&self) -> u64 {
        self.balances.borrow().iter().sum()
    }
}

/// Writes an audit record; a network call, so it takes a little (virtual) time.
async fn audit_log(_entry: String) {
    time::sleep(Duration::from_millis(1 + detsim::random::<u64>() % 5)).await;
}

/// The bug: the balance is read, then the audit call awaits, then the stale balance is
/// written back. Another transfer from the same account in between is overwritten.
async fn transfer(bank: Rc<Bank>, from: usize, to: usize, amount: u64) {
    let balance = bank.balance(from);
    if balance < amount {
        return; // insufficient funds: declined
    }
    audit_log(format!("{from} -> {to}: {amount}")).await;
    bank.set(from, balance - amount);
    bank.set(to, bank.balance(to) + amount);
}

/// One day at the bank: two customers send money from account 0 a little apart. Panics
/// with "money appeared or vanished" when the transfers interleave.
pub async fn one_day() {
    let bank = Rc::new(Bank {
        balances: RefCell::new(vec![100, 100, 0]),
    });
    let before = bank.total();
    let first = task::Builder::new()
        .name("teller-1")
        .spawn(transfer(bank.clone(), 0, 1, 60));
    // The second customer arrives 0–5 ms later.
    time::sleep(Duration::from_millis(detsim::random::<u64>() % 6)).await;
    let second = task::Builder::new()
        .name("teller-2")
        .spawn(transfer(bank.clone(), 0, 2, 30));
    first.await.unwrap();
    second.await.unwrap();
    let after = bank.total();
    assert_eq!(
        after, before,
        "money appeared or vanished: the bank held {before} and now holds {after}"
    );
}

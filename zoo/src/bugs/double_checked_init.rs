//! A double-checked initialisation that forgets its second check.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use detsim::{spawn, yield_now};
use futures::lock::Mutex;

use crate::support::join;

/// A lazily connected client: the connection, a lock around its creation, and a count
/// of how many connections were made.
#[derive(Default)]
struct LazyClient {
    connection: RefCell<Option<u32>>,
    init: Mutex<()>,
    connects: Cell<u32>,
}

impl LazyClient {
    async fn connection(&self) -> u32 {
        let existing = *self.connection.borrow();
        if let Some(id) = existing {
            return id;
        }
        let _guard = self.init.lock().await;
        // BUG: no second look at `connection` now that the lock is held.
        yield_now().await; // connect
        let id = self.connects.get() + 1;
        self.connects.set(id);
        *self.connection.borrow_mut() = Some(id);
        id
    }
}

/// Two tasks ask a lazily connected client for its connection. The client checks for a
/// connection, takes the init lock, and connects, without checking again under the lock.
///
/// Shows when the second task checks before the first has stored its connection: it
/// then waits for the lock and connects a second time.
pub async fn double_checked_init() {
    let client = Rc::new(LazyClient::default());
    let users: Vec<_> = (0..2)
        .map(|_| {
            let client = Rc::clone(&client);
            spawn(async move { client.connection().await })
        })
        .collect();
    for user in users {
        join(user).await;
    }
    assert_eq!(
        client.connects.get(),
        1,
        "initialised twice: {} connections were made",
        client.connects.get()
    );
}

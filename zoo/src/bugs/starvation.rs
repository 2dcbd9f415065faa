//! Starvation: a reader-preferring lock starves its writer.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use detsim::{spawn, yield_now};

use crate::support::join;

/// A reader-preferring readers–writer lock: readers enter whenever no writer is inside,
/// the writer waits until no reader is inside.
#[derive(Default)]
struct RwLock {
    readers: Cell<u32>,
    writer_waiting: RefCell<Option<Waker>>,
}

impl RwLock {
    fn enter_read(&self) {
        self.readers.set(self.readers.get() + 1);
    }

    fn leave_read(&self) {
        self.readers.set(self.readers.get() - 1);
        if self.readers.get() == 0 {
            let waiting = self.writer_waiting.borrow_mut().take();
            if let Some(waker) = waiting {
                waker.wake();
            }
        }
    }

    /// Waits until no reader is inside (no spinning: the last reader out wakes it).
    async fn write(&self) {
        poll_fn(|cx| {
            if self.readers.get() == 0 {
                Poll::Ready(())
            } else {
                *self.writer_waiting.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// Two readers each take the read side three times, awaiting inside and between; a
/// writer wants in once. The writer must get in before the readers are all done.
///
/// Shows when, every time the last reader leaves and wakes the writer, another reader
/// re-enters before the writer runs: the writer gets in only after every reader has
/// finished. PCT(1) shows it when the writer draws the lowest priority and the run's
/// yield patience lets the readers keep the lock.
pub async fn starvation() {
    let lock = Rc::new(RwLock::default());
    let readers_done = Rc::new(Cell::new(0u32));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, done) = (Rc::clone(&lock), Rc::clone(&readers_done));
            spawn(async move {
                for _ in 0..3 {
                    lock.enter_read();
                    yield_now().await; // read
                    lock.leave_read();
                    yield_now().await; // think
                }
                done.set(done.get() + 1);
            })
        })
        .collect();
    let writer = {
        let (lock, done) = (Rc::clone(&lock), Rc::clone(&readers_done));
        spawn(async move {
            yield_now().await; // prepare the update
            lock.write().await;
            assert!(
                done.get() < 2,
                "writer starved: it got the lock only after every reader had finished"
            );
        })
    };
    for reader in readers {
        join(reader).await;
    }
    join(writer).await;
}

//! The zoo's bugs written for shuttle, one function per bug, with the zoo's names.
//!
//! Each function is a shuttle test body (`Fn()` run once per iteration): it drives the
//! same tasks as the detsim body through `shuttle::future::block_on`, with
//! `shuttle::future::{spawn_local, yield_now}` in place of detsim's, the same
//! `Rc`/`Cell` state and the same `futures` locks and channels, so both tools see the
//! same scheduling points. Task panics fail a shuttle iteration directly.
//!
//! Shuttle has no virtual time. The two timer bugs model "two timers due at the same
//! instant" as two tasks that each yield once and then act; what the bug needs (which
//! task acts first) is the same choice of the scheduler as under detsim.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures::StreamExt as _;
use futures::channel::{mpsc, oneshot};
use futures::lock::Mutex;
use shuttle::future::{JoinHandle, block_on, spawn_local as spawn, yield_now};

/// A zoo bug's shuttle body.
pub(crate) type Body = fn();

/// Every shuttle body, by the zoo's names.
pub(crate) fn all() -> Vec<(&'static str, Body)> {
    vec![
        ("lost_update", lost_update),
        ("check_then_act", check_then_act),
        ("abba_deadlock", abba_deadlock),
        ("missed_notification", missed_notification),
        ("cancel_half_update", cancel_half_update),
        ("timeout_race", timeout_race),
        ("cancel_unsafe_timeout", cancel_unsafe_timeout),
        ("ordering_assumption", ordering_assumption),
        ("starvation", starvation),
        ("rare_three_step", rare_three_step),
        ("uninterrupted_run", uninterrupted_run),
        ("strict_alternation", strict_alternation),
        ("double_checked_init", double_checked_init),
        ("aba_slot", aba_slot),
    ]
}

async fn join<T>(handle: JoinHandle<T>) -> T {
    handle.await.expect("a zoo task is not cancelled")
}

async fn pause(steps: u32) {
    for _ in 0..steps {
        yield_now().await;
    }
}

pub(crate) fn lost_update() {
    block_on(async {
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
        assert_eq!(counter.get(), 2, "lost update");
    });
}

pub(crate) fn check_then_act() {
    block_on(async {
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
        assert!(balance.get() >= 0, "overdrawn");
    });
}

pub(crate) fn abba_deadlock() {
    block_on(async {
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
    });
}

pub(crate) fn missed_notification() {
    block_on(async {
        let set = Rc::new(Cell::new(false));
        let waiters: Rc<RefCell<Vec<oneshot::Sender<()>>>> = Rc::default();
        let waiter = {
            let (set, waiters) = (Rc::clone(&set), Rc::clone(&waiters));
            spawn(async move {
                if !set.get() {
                    yield_now().await;
                    let (tx, rx) = oneshot::channel();
                    waiters.borrow_mut().push(tx);
                    let _ = rx.await;
                }
            })
        };
        let notifier = {
            let (set, waiters) = (Rc::clone(&set), Rc::clone(&waiters));
            spawn(async move {
                yield_now().await;
                set.set(true);
                let registered = std::mem::take(&mut *waiters.borrow_mut());
                for tx in registered {
                    let _ = tx.send(());
                }
            })
        };
        join(notifier).await;
        join(waiter).await;
    });
}

pub(crate) fn cancel_half_update() {
    block_on(async {
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
        let _ = transfer.await;
        assert_eq!(from.get() + to.get(), 100, "money vanished");
    });
}

pub(crate) fn timeout_race() {
    block_on(async {
        let applied = Rc::new(Cell::new(0u32));
        let (reply_tx, mut reply_rx) = oneshot::channel::<()>();
        let server = {
            let applied = Rc::clone(&applied);
            spawn(async move {
                yield_now().await; // its 10 ms
                applied.set(applied.get() + 1);
                let _ = reply_tx.send(());
            })
        };
        yield_now().await; // the client's 10 ms timeout
        if !matches!(reply_rx.try_recv(), Ok(Some(()))) {
            applied.set(applied.get() + 1); // timed out: retry
        }
        join(server).await;
        assert_eq!(applied.get(), 1, "request applied twice");
    });
}

pub(crate) fn cancel_unsafe_timeout() {
    block_on(async {
        let stored = Rc::new(RefCell::new(Vec::new()));
        let sent = Rc::new(Cell::new(0usize));
        let (tx, mut rx) = mpsc::unbounded::<u32>();
        let producer = {
            let sent = Rc::clone(&sent);
            spawn(async move {
                yield_now().await; // its 10 ms
                tx.unbounded_send(7).expect("the consumer is alive");
                sent.set(sent.get() + 1);
                tx.close_channel();
            })
        };
        let consumer = {
            let stored = Rc::clone(&stored);
            spawn(async move {
                // One attempt whose deadline passes during its first poll.
                yield_now().await; // the consumer's 10 ms timeout
                let done = {
                    let mut attempt = Box::pin(async {
                        let message = rx.next().await?;
                        yield_now().await;
                        stored.borrow_mut().push(message);
                        Some(())
                    });
                    match futures::poll!(attempt.as_mut()) {
                        Poll::Ready(None) => true,
                        Poll::Ready(Some(())) | Poll::Pending => false, // Pending: dropped
                    }
                };
                if !done {
                    while let Some(message) = rx.next().await {
                        yield_now().await;
                        stored.borrow_mut().push(message);
                    }
                }
            })
        };
        join(producer).await;
        join(consumer).await;
        assert_eq!(stored.borrow().len(), sent.get(), "message lost");
    });
}

pub(crate) fn ordering_assumption() {
    block_on(async {
        let config: Rc<RefCell<Option<&'static str>>> = Rc::default();
        let producer = {
            let config = Rc::clone(&config);
            spawn(async move {
                yield_now().await;
                *config.borrow_mut() = Some("listen = 8080");
            })
        };
        let consumer = {
            let config = Rc::clone(&config);
            spawn(async move {
                yield_now().await;
                let config = *config.borrow();
                config.expect("consumer ran before the producer")
            })
        };
        join(producer).await;
        join(consumer).await;
    });
}

#[derive(Default)]
struct RwLock {
    readers: Cell<u32>,
    writer_waiting: RefCell<Option<Waker>>,
}

impl RwLock {
    fn leave_read(&self) {
        self.readers.set(self.readers.get() - 1);
        if self.readers.get() == 0 {
            let waiting = self.writer_waiting.borrow_mut().take();
            if let Some(waker) = waiting {
                waker.wake();
            }
        }
    }

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

pub(crate) fn starvation() {
    block_on(async {
        let lock = Rc::new(RwLock::default());
        let readers_done = Rc::new(Cell::new(0u32));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, done) = (Rc::clone(&lock), Rc::clone(&readers_done));
                spawn(async move {
                    for _ in 0..3 {
                        lock.readers.set(lock.readers.get() + 1);
                        yield_now().await;
                        lock.leave_read();
                        yield_now().await;
                    }
                    done.set(done.get() + 1);
                })
            })
            .collect();
        let writer = {
            let (lock, done) = (Rc::clone(&lock), Rc::clone(&readers_done));
            spawn(async move {
                yield_now().await;
                lock.write().await;
                assert!(done.get() < 2, "writer starved");
            })
        };
        for reader in readers {
            join(reader).await;
        }
        join(writer).await;
    });
}

pub(crate) fn rare_three_step() {
    block_on(async {
        let x = Rc::new(Cell::new(false));
        let y = Rc::new(Cell::new(false));
        let a = {
            let x = Rc::clone(&x);
            spawn(async move {
                pause(2).await;
                x.set(true);
                yield_now().await;
                x.set(false);
            })
        };
        let b = {
            let (x, y) = (Rc::clone(&x), Rc::clone(&y));
            spawn(async move {
                pause(5).await;
                if x.get() {
                    y.set(true);
                    yield_now().await;
                    y.set(false);
                }
            })
        };
        let c = {
            let y = Rc::clone(&y);
            spawn(async move {
                pause(8).await;
                assert!(!y.get(), "stale value");
            })
        };
        join(a).await;
        join(b).await;
        join(c).await;
    });
}

pub(crate) fn uninterrupted_run() {
    block_on(async {
        let finished = Rc::new(Cell::new(false));
        let worker = {
            let finished = Rc::clone(&finished);
            spawn(async move {
                pause(12).await;
                finished.set(true);
            })
        };
        yield_now().await;
        assert!(!finished.get(), "the worker ran uninterrupted");
        worker.abort();
    });
}

pub(crate) fn strict_alternation() {
    block_on(async {
        let seq = Rc::new(Cell::new(0u64));
        let reader = {
            let seq = Rc::clone(&seq);
            spawn(async move {
                for _ in 0..6 {
                    let before = seq.get();
                    yield_now().await;
                    if seq.get() == before {
                        return;
                    }
                }
                panic!("seqlock reader starved");
            })
        };
        let writer = {
            let seq = Rc::clone(&seq);
            spawn(async move {
                for _ in 0..=6 {
                    seq.set(seq.get() + 1);
                    yield_now().await;
                }
            })
        };
        join(reader).await;
        join(writer).await;
    });
}

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
        yield_now().await;
        let id = self.connects.get() + 1;
        self.connects.set(id);
        *self.connection.borrow_mut() = Some(id);
        id
    }
}

pub(crate) fn double_checked_init() {
    block_on(async {
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
        assert_eq!(client.connects.get(), 1, "initialised twice");
    });
}

struct FreeList {
    head: Cell<Option<usize>>,
    next: RefCell<[Option<usize>; 3]>,
    in_use: RefCell<[bool; 3]>,
}

impl FreeList {
    fn hand_out(&self, node: usize) -> usize {
        let mut in_use = self.in_use.borrow_mut();
        assert!(!in_use[node], "ABA: node handed out twice");
        in_use[node] = true;
        node
    }

    fn pop(&self) -> Option<usize> {
        let node = self.head.get()?;
        self.head.set(self.next.borrow()[node]);
        Some(self.hand_out(node))
    }

    async fn pop_cas(&self) -> Option<usize> {
        let node = self.head.get()?;
        let next = self.next.borrow()[node];
        yield_now().await;
        if self.head.get() == Some(node) {
            self.head.set(next);
            Some(self.hand_out(node))
        } else {
            None
        }
    }

    fn push(&self, node: usize) {
        self.in_use.borrow_mut()[node] = false;
        self.next.borrow_mut()[node] = self.head.get();
        self.head.set(Some(node));
    }
}

pub(crate) fn aba_slot() {
    block_on(async {
        let list = Rc::new(FreeList {
            head: Cell::new(Some(2)),
            next: RefCell::new([None, None, Some(1)]),
            in_use: RefCell::new([false; 3]),
        });
        let a = {
            let list = Rc::clone(&list);
            spawn(async move { list.pop_cas().await })
        };
        let b = {
            let list = Rc::clone(&list);
            spawn(async move {
                let first = list.pop();
                yield_now().await;
                let _second = list.pop();
                yield_now().await;
                if let Some(node) = first {
                    list.push(node);
                }
            })
        };
        join(a).await;
        join(b).await;
        let _ = list.pop();
    });
}

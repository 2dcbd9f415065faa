//! `tokio::sync`: the same programs pass on real tokio and on the simulated primitives
//! and channels; `send_timeout` uses the virtual clock; under `--cfg detsim`, deadlocks
//! through locks and channels are reported with who waits where.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{Mutex, Notify, Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn channels_and_locks() {
    let (tx, mut rx) = mpsc::channel(4);
    let producer = tokio::spawn(async move {
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
    });
    let mut got = Vec::new();
    while let Some(i) = rx.recv().await {
        got.push(i);
    }
    producer.await.unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());

    let (once_tx, once_rx) = oneshot::channel();
    tokio::spawn(async move { once_tx.send("hi").unwrap() });
    assert_eq!(once_rx.await.unwrap(), "hi");

    let (btx, mut brx) = broadcast::channel(4);
    btx.send(1).unwrap();
    assert_eq!(brx.recv().await.unwrap(), 1);

    let (wtx, mut wrx) = watch::channel(0);
    tokio::spawn(async move { wtx.send(5).unwrap() });
    wrx.changed().await.unwrap();
    assert_eq!(*wrx.borrow(), 5);

    let lock = Arc::new(Mutex::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let lock = lock.clone();
            tokio::spawn(async move {
                let mut guard = lock.lock().await;
                let seen = *guard;
                tokio::task::yield_now().await;
                *guard = seen + 1;
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*lock.lock().await, 4);

    let permits = Arc::new(Semaphore::new(1));
    let p = permits.clone().acquire_owned().await.unwrap();
    assert_eq!(permits.available_permits(), 0);
    drop(p);
    assert_eq!(permits.available_permits(), 1);

    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    let waiter = tokio::spawn(async move { n.notified().await });
    tokio::task::yield_now().await;
    notify.notify_one();
    waiter.await.unwrap();
}

/// `send_timeout` waits for capacity on the clock the test runs on.
#[tokio::test(start_paused = true)]
async fn send_timeout_times_out_on_the_clock() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    tx.send_timeout(1, Duration::from_secs(1)).await.unwrap();
    let start = Instant::now();
    match tx.send_timeout(2, Duration::from_secs(1)).await {
        Err(SendTimeoutError::Timeout(2)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(rx.recv().await, Some(1));
    // Every other method is tokio's.
    assert_eq!(tx.capacity(), 1);
    let weak = tx.downgrade();
    assert!(weak.upgrade().is_some());
    drop(rx);
    match tx.send_timeout(3, Duration::from_secs(1)).await {
        Err(SendTimeoutError::Closed(3)) => {}
        other => panic!("expected closed, got {other:?}"),
    }
}

/// Capacity, permits and closing of a bounded channel, as tokio defines them.
#[tokio::test]
async fn mpsc_permits_capacity_and_closing() {
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    let permit = tx.reserve().await.unwrap();
    tx.send(1).await.unwrap();
    assert_eq!((tx.capacity(), tx.max_capacity()), (0, 2));
    assert!(matches!(
        tx.try_send(9),
        Err(mpsc::error::TrySendError::Full(9))
    ));
    assert!(tx.try_reserve().is_err());
    rx.close();
    assert!(tx.is_closed());
    assert!(matches!(
        tx.try_send(9),
        Err(mpsc::error::TrySendError::Closed(9))
    ));
    // A permit reserved before the close still sends.
    permit.send(2);
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(rx.recv().await, Some(2));
    assert_eq!(rx.recv().await, None);

    let (tx, rx) = mpsc::unbounded_channel::<u32>();
    let weak = tx.downgrade();
    assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
    let closed = tokio::spawn(async move { tx.closed().await });
    drop(rx);
    closed.await.unwrap();
    assert!(weak.upgrade().is_none());
}

/// `recv` is cancellation-safe: in a `select!` against a timer, no message is lost.
#[tokio::test(start_paused = true)]
async fn recv_in_select_loses_no_message() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(u64::from(i % 3))).await;
            tx.send(i).await.unwrap();
        }
    });
    let mut got = Vec::new();
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(i) => got.push(i),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

/// A broadcast receiver that falls behind lags, then resumes at the oldest value kept;
/// values go to every receiver subscribed when they were sent.
#[tokio::test]
async fn broadcast_lagging_and_resubscribe() {
    let (tx, mut rx) = broadcast::channel::<u32>(2);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 5);
    assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Lagged(3)));
    let mut fresh = rx.resubscribe();
    assert_eq!(tx.receiver_count(), 2);
    assert_eq!(rx.recv().await, Ok(3));
    assert_eq!(rx.recv().await, Ok(4));
    assert_eq!(fresh.try_recv(), Err(broadcast::error::TryRecvError::Empty));
    assert_eq!(tx.send(5).unwrap(), 2);
    assert_eq!(fresh.recv().await, Ok(5));
    drop(tx);
    assert_eq!(rx.recv().await, Ok(5));
    assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Closed));
}

/// watch: versions, `changed`, `wait_for`, `send_if_modified`, closing.
#[tokio::test]
async fn watch_versions_and_closing() {
    let (tx, mut rx) = watch::channel(0u32);
    let waiter = {
        let mut rx = rx.clone();
        tokio::spawn(async move { *rx.wait_for(|v| *v >= 3).await.unwrap() })
    };
    for v in 1..=3 {
        tx.send(v).unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(waiter.await.unwrap(), 3);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 3);
    assert!(!tx.send_if_modified(|_| false));
    assert!(!rx.has_changed().unwrap());
    tx.send_modify(|v| *v = 9);
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), 9);
    drop(tx);
    assert!(rx.changed().await.is_err());
}

/// `JoinError` is `Send + Sync`, so `handle.await?` converts into `anyhow::Error`, as
/// with real tokio.
#[tokio::test]
async fn a_join_error_converts_into_anyhow() -> anyhow::Result<()> {
    let value = tokio::spawn(async { 7 }).await?;
    assert_eq!(value, 7);
    let failed: anyhow::Result<()> = async {
        tokio::spawn(async { panic!("boom") }).await?;
        Ok(())
    }
    .await;
    let error = failed.unwrap_err();
    assert!(
        error.downcast_ref::<tokio::task::JoinError>().is_some(),
        "{error}"
    );
    Ok(())
}

/// Lock-order deadlocks through the facade's `tokio::sync`: both tasks named, what each
/// holds and where it acquired it, where each waits, and the cycle.
#[cfg(detsim)]
mod deadlocks {
    use std::future::Future;
    use std::sync::Arc;

    use detsim::{Builder, Scheduler};
    use tokio::sync::{Mutex, RwLock, Semaphore};

    /// The deadlock message of the FIFO run of `body`.
    fn deadlock<F, Fut>(body: F) -> String
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = ()>,
    {
        let report = Builder::new()
            .seed(0)
            .jobs(1)
            .scheduler(Scheduler::fifo())
            .explore(body);
        let failure = report.failure.expect("the lock-order deadlock is found");
        assert!(
            !failure.to_string().contains("foreign thread"),
            "no foreign thread is involved:\n{failure}"
        );
        failure.message
    }

    /// `file:line:` of this file.
    fn at(line: u32) -> String {
        format!("{}:{line}:", file!())
    }

    /// The lines each of two tasks locked and then waited at.
    async fn two_named_tasks<A, B>(alice: A, bob: B)
    where
        A: Future<Output = ()> + 'static,
        B: Future<Output = ()> + 'static,
    {
        let alice = detsim::task::Builder::new().name("alice").spawn(alice);
        let bob = detsim::task::Builder::new().name("bob").spawn(bob);
        alice.await.unwrap();
        bob.await.unwrap();
    }

    fn assert_cycle(
        message: &str,
        kind: &str,
        [alice_holds, alice_waits, bob_holds, bob_waits]: [u32; 4],
    ) {
        let parts = [
            "\nwait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)".to_owned(),
            format!("\n  t1 alice holds {kind} acquired at {}", at(alice_holds)),
            format!(" and waits at {}", at(alice_waits)),
            format!(" held by t2 bob (acquired at {}", at(bob_holds)),
            format!("\n  t2 bob holds {kind} acquired at {}", at(bob_holds)),
            format!(" and waits at {}", at(bob_waits)),
            format!(" held by t1 alice (acquired at {}", at(alice_holds)),
        ];
        let mut from = 0;
        for part in &parts {
            match message[from..].find(part.as_str()) {
                Some(i) => from += i + part.len(),
                None => panic!("missing {part:?} (in this order) in:\n{message}"),
            }
        }
    }

    #[test]
    fn a_lock_order_deadlock_on_mutexes_is_reported_with_its_cycle() {
        let message = deadlock(|| async {
            let (a, b) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
            let (a2, b2) = (a.clone(), b.clone());
            two_named_tasks(
                async move {
                    let _a = a.lock().await;
                    tokio::task::yield_now().await;
                    let _b = b.lock().await;
                },
                async move {
                    let _b = b2.lock().await;
                    tokio::task::yield_now().await;
                    let _a = a2.lock().await;
                },
            )
            .await;
        });
        let first = line!() - 12;
        assert_cycle(
            &message,
            "the Mutex",
            [first, first + 2, first + 5, first + 7],
        );
    }

    #[test]
    fn a_lock_order_deadlock_on_rwlocks_write_then_read_is_reported_with_its_cycle() {
        let message = deadlock(|| async {
            let (a, b) = (Arc::new(RwLock::new(0)), Arc::new(RwLock::new(0)));
            let (a2, b2) = (a.clone(), b.clone());
            two_named_tasks(
                async move {
                    let _a = a.write().await;
                    tokio::task::yield_now().await;
                    let _b = b.read().await;
                },
                async move {
                    let _b = b2.write().await;
                    tokio::task::yield_now().await;
                    let _a = a2.read().await;
                },
            )
            .await;
        });
        let first = line!() - 12;
        assert_cycle(
            &message,
            "the RwLock (write)",
            [first, first + 2, first + 5, first + 7],
        );
    }

    #[test]
    fn a_lock_order_deadlock_on_semaphores_is_reported_with_its_cycle() {
        let message = deadlock(|| async {
            let (a, b) = (Arc::new(Semaphore::new(1)), Arc::new(Semaphore::new(1)));
            let (a2, b2) = (a.clone(), b.clone());
            two_named_tasks(
                async move {
                    let _a = a.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                    let _b = b.acquire().await.unwrap();
                },
                async move {
                    let _b = b2.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                    let _a = a2.acquire().await.unwrap();
                },
            )
            .await;
        });
        let first = line!() - 12;
        assert_cycle(
            &message,
            "a permit of the Semaphore",
            [first, first + 2, first + 5, first + 7],
        );
    }

    /// Tasks waiting on channels are reported where they wait, on which kind of
    /// channel, without blaming a foreign thread.
    #[test]
    fn tasks_waiting_on_channels_are_reported_at_their_wait_sites() {
        let message = deadlock(|| async {
            let (_tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            let (_otx, orx) = tokio::sync::oneshot::channel::<u32>();
            two_named_tasks(
                async move {
                    rx.recv().await;
                },
                async move {
                    let _ = orx.await;
                },
            )
            .await;
        });
        let first = line!() - 8;
        for part in [
            "t1 alice (spawned at ".to_owned(),
            format!("waits in mpsc::Receiver::recv ({}", at(first)),
            format!("waits in oneshot::Receiver ({}", at(first + 3)),
        ] {
            assert!(message.contains(&part), "missing {part:?} in:\n{message}");
        }
        assert!(!message.contains("foreign"), "{message}");
    }

    /// Tasks waiting on `broadcast` and `watch` are reported where they wait.
    #[test]
    fn tasks_waiting_on_broadcast_and_watch_are_reported_at_their_wait_sites() {
        let message = deadlock(|| async {
            let (_btx, mut brx) = tokio::sync::broadcast::channel::<u32>(1);
            let (_wtx, mut wrx) = tokio::sync::watch::channel(0u32);
            two_named_tasks(
                async move {
                    let _ = brx.recv().await;
                },
                async move {
                    let _ = wrx.changed().await;
                },
            )
            .await;
        });
        let first = line!() - 8;
        for part in [
            format!("waits in broadcast::Receiver::recv ({}", at(first)),
            format!("waits in watch::Receiver::changed ({}", at(first + 3)),
        ] {
            assert!(message.contains(&part), "missing {part:?} in:\n{message}");
        }
        assert!(!message.contains("foreign"), "{message}");
    }

    /// `blocking_recv` inside a simulation panics, as tokio's does inside a runtime.
    #[test]
    fn blocking_recv_in_a_simulation_panics() {
        let report = Builder::new().seed(0).jobs(1).explore(|| async {
            let (_tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            rx.blocking_recv();
        });
        let message = report.failure.expect("blocking_recv panics").message;
        assert!(
            message.contains("Cannot block the current thread from within a runtime"),
            "{message}"
        );
    }

    /// `blocking_lock` inside a simulation panics, as tokio's does inside a runtime.
    #[test]
    fn blocking_lock_in_a_simulation_panics() {
        let report = Builder::new().seed(0).jobs(1).explore(|| async {
            let m = Mutex::new(0);
            let _guard = m.blocking_lock();
        });
        let message = report.failure.expect("blocking_lock panics").message;
        assert!(
            message.contains("Cannot block the current thread from within a runtime"),
            "{message}"
        );
    }
}

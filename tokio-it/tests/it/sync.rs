//! `tokio::sync`: real tokio's primitives work in simulation; `send_timeout` uses the
//! virtual clock.

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

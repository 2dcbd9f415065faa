//! `detsim_runtime::sync::{mpsc, oneshot}`: tokio's channel semantics (capacity and
//! permits, closing, weak senders, cancellation safety) under every schedule, and
//! deadlock reports that name the channel wait and its site.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use detsim_runtime::sync::{mpsc, oneshot};
use detsim_runtime::{spawn, task, time, yield_now};
use futures::future::{Either, select};

use crate::util::{Sched, run_all, run_err, run_ok};

#[test]
fn every_message_arrives_once_and_in_each_senders_order() {
    for (sched, got) in run_all(|| async {
        let (tx, mut rx) = mpsc::channel::<(u32, u32)>(2);
        for sender in 0..3 {
            let tx = tx.clone();
            spawn(async move {
                for i in 0..5 {
                    tx.send((sender, i)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(message) = rx.recv().await {
            assert!(rx.len() <= 2, "more queued than the capacity");
            got.push(message);
        }
        got
    }) {
        assert_eq!(got.len(), 15, "{sched:?}");
        for sender in 0..3 {
            let order: Vec<u32> = got.iter().filter(|m| m.0 == sender).map(|m| m.1).collect();
            assert_eq!(order, [0, 1, 2, 3, 4], "{sched:?}");
        }
    }
}

#[test]
fn waiting_senders_get_capacity_in_the_order_they_asked() {
    let got = run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::channel::<&str>(1);
        tx.send("first").await.unwrap();
        for name in ["a", "b", "c"] {
            let tx = tx.clone();
            spawn(async move { tx.send(name).await.unwrap() });
        }
        // Let each sender queue, in spawn order, then ask again from here.
        yield_now().await;
        let late = spawn(async move { tx.send("late").await.unwrap() });
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap());
        }
        late.await.unwrap();
        got
    });
    assert_eq!(got, ["first", "a", "b", "c", "late"]);
}

#[test]
fn reserve_many_at_the_head_holds_back_smaller_requests_and_cancelling_it_frees_them() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::channel::<u32>(3);
        tx.send(0).await.unwrap();
        tx.send(1).await.unwrap();
        let big = tx.reserve_many(3);
        let mut big = Box::pin(big);
        // Polled once: queued, assigned the one free slot.
        assert!(futures::poll!(big.as_mut()).is_pending());
        assert_eq!(tx.capacity(), 0);
        assert!(
            tx.try_reserve().is_err(),
            "the slot went to the queued request"
        );
        let small = spawn({
            let tx = tx.clone();
            async move { tx.send(9).await.unwrap() }
        });
        assert_eq!(rx.recv().await, Some(0));
        yield_now().await;
        assert!(!small.is_finished(), "a smaller request overtook the head");
        drop(big);
        small.await.unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(9));
        assert!(tx.reserve_many(4).await.is_err(), "more than the capacity");
        let permits = tx.reserve_many(3).await.unwrap();
        assert_eq!(permits.len(), 3);
        for (i, permit) in permits.enumerate() {
            permit.send(10 + i as u32);
        }
        assert_eq!(rx.len(), 3);
    });
}

#[test]
fn closing_keeps_queued_messages_and_held_permits_and_fails_new_sends() {
    for (sched, got) in run_all(|| async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        tx.send(1).await.unwrap();
        let permit = tx.clone().reserve_owned().await.unwrap();
        let tx2 = tx.clone();
        let waiting_closed = spawn(async move { tx2.closed().await });
        rx.close();
        assert!(tx.is_closed() && rx.is_closed());
        assert!(matches!(
            tx.try_send(5),
            Err(mpsc::error::TrySendError::Closed(5))
        ));
        assert_eq!(tx.send(6).await, Err(mpsc::error::SendError(6)));
        waiting_closed.await.unwrap();
        let mut got = vec![rx.recv().await];
        // The permit may still send: the receiver waits for it rather than end.
        let sender = spawn(async move {
            yield_now().await;
            drop(permit.send(2));
        });
        got.push(rx.recv().await);
        got.push(rx.recv().await);
        sender.await.unwrap();
        drop(tx);
        got
    }) {
        assert_eq!(got, [Some(1), Some(2), None], "{sched:?}");
    }
}

#[test]
fn a_dropped_receiver_fails_waiting_senders_and_drops_its_messages() {
    run_ok(Sched::Fifo, async {
        let dropped = Rc::new(Cell::new(0));
        struct Counted(Rc<Cell<u32>>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let (tx, rx) = mpsc::channel::<Counted>(1);
        tx.send(Counted(dropped.clone())).await.unwrap();
        let tx2 = tx.clone();
        let blocked = spawn(async move { tx2.send(Counted(Rc::new(Cell::new(0)))).await.is_err() });
        yield_now().await;
        drop(rx);
        assert_eq!(
            dropped.get(),
            1,
            "the queued message is dropped with the receiver"
        );
        assert!(blocked.await.unwrap(), "the waiting send failed");
        assert!(tx.is_closed());
        assert_eq!(tx.capacity(), 1);
    });
}

#[test]
fn weak_senders_do_not_keep_the_channel_open() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let weak = tx.downgrade();
        let tx2 = weak.upgrade().unwrap();
        assert_eq!((tx.strong_count(), tx.weak_count()), (2, 1));
        assert_eq!((rx.sender_strong_count(), rx.sender_weak_count()), (2, 1));
        assert!(tx.same_channel(&tx2));
        drop((tx, tx2));
        assert!(weak.upgrade().is_none());
        assert_eq!(weak.strong_count(), 0);
        assert_eq!(rx.recv().await, None);

        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let weak = tx.downgrade();
        weak.upgrade().unwrap().send(3).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
        assert_eq!(weak.weak_count(), 1);
    });
}

#[test]
fn unbounded_sends_never_wait_and_recv_many_takes_up_to_its_limit() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 10);
        let mut buffer = Vec::new();
        assert_eq!(rx.recv_many(&mut buffer, 0).await, 0);
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 4);
        assert_eq!(rx.recv_many(&mut buffer, 100).await, 6);
        assert_eq!(buffer, (0..10).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Empty));
        rx.close();
        assert_eq!(tx.send(11), Err(mpsc::error::SendError(11)));
        assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 0);
    });
}

/// `recv` in a `select` against a timer: a message is taken only by the `recv` that
/// completes, so none is lost however often the timer wins.
#[test]
fn recv_is_cancellation_safe_in_a_select() {
    for (sched, (got, timeouts)) in run_all(|| async {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        spawn(async move {
            for i in 0..20 {
                if detsim_runtime::random::<bool>() {
                    time::sleep(Duration::from_millis(3)).await;
                }
                tx.send(i).await.unwrap();
            }
        });
        let (mut got, mut timeouts) = (Vec::new(), 0);
        loop {
            let tick = time::sleep(Duration::from_millis(1));
            match select(Box::pin(rx.recv()), Box::pin(tick)).await {
                Either::Left((Some(i), _)) => got.push(i),
                Either::Left((None, _)) => break,
                Either::Right(_) => timeouts += 1,
            }
        }
        (got, timeouts)
    }) {
        assert_eq!(got, (0..20).collect::<Vec<_>>(), "{sched:?}");
        let _ = timeouts;
    }
}

#[test]
fn send_timeout_outside_a_simulation_panics_with_tokios_words() {
    use futures::FutureExt;
    let (tx, _rx) = mpsc::channel::<u8>(5);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.send_timeout(10, Duration::from_secs(1)).now_or_never()
    }))
    .unwrap_err();
    let message = crate::util::panic_text(caught.as_ref());
    assert!(
        message.contains(
            "there is no reactor running, must be called from the context of a Tokio 1.x runtime"
        ),
        "{message}"
    );
}

#[test]
fn send_timeout_waits_on_the_virtual_clock() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(1).await.unwrap();
        let start = time::now();
        let error = tx
            .send_timeout(2, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(error, mpsc::error::SendTimeoutError::Timeout(2)));
        assert_eq!(time::now() - start, Duration::from_secs(5));
        assert_eq!(rx.recv().await, Some(1));
        tx.send_timeout(3, Duration::from_secs(5)).await.unwrap();
        assert_eq!(time::now() - start, Duration::from_secs(5));
    });
}

/// tokio's coop budget: a receiver that always has a message still yields once its
/// budget is spent.
#[test]
fn an_always_ready_recv_loop_yields_when_its_budget_is_spent() {
    run_ok(Sched::Fifo, async {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        spawn(async move { r.set(true) });
        let mut received = 0;
        while !ran.get() {
            rx.recv().await.unwrap();
            received += 1;
        }
        assert!(
            received <= detsim_runtime::coop::BUDGET as usize + 1,
            "{received}"
        );
    });
}

#[test]
fn oneshot_delivers_once_and_reports_closing_both_ways() {
    run_ok(Sched::Fifo, async {
        let (tx, rx) = oneshot::channel::<u32>();
        let receiver = spawn(rx);
        tx.send(7).unwrap();
        assert_eq!(receiver.await.unwrap(), Ok(7));

        let (tx, rx) = oneshot::channel::<u32>();
        drop(tx);
        assert!(rx.await.is_err(), "the sender is gone without sending");

        let (mut tx, mut rx) = oneshot::channel::<u32>();
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        let closed = spawn(async move {
            tx.closed().await;
            tx.send(1)
        });
        yield_now().await;
        rx.close();
        assert_eq!(
            closed.await.unwrap(),
            Err(1),
            "a send after close gives the value back"
        );
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        assert!(rx.is_terminated());

        let (tx, mut rx) = oneshot::channel::<u32>();
        tx.send(5).unwrap();
        rx.close();
        assert_eq!(
            rx.await,
            Ok(5),
            "a value sent before close is still received"
        );
    });
}

/// `file:line:` of this file.
fn at(line: u32) -> String {
    format!("{}:{line}:", file!())
}

#[test]
fn a_deadlock_on_channels_names_each_wait_its_site_and_blames_no_thread() {
    let lines = Rc::new(RefCell::new([0u32; 3]));
    let l = lines.clone();
    let error = run_err(Sched::Fifo, async move {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (_otx, orx) = oneshot::channel::<u32>();
        let (_utx, mut urx) = mpsc::unbounded_channel::<u32>();
        tx.send(0).await.unwrap();
        let (l1, l2, l3) = (l.clone(), l.clone(), l.clone());
        task::Builder::new().name("alice").spawn(async move {
            l1.borrow_mut()[0] = line!() + 1;
            tx.send(1).await.unwrap();
        });
        task::Builder::new().name("bob").spawn(async move {
            l2.borrow_mut()[1] = line!() + 1;
            let _ = orx.await;
        });
        task::Builder::new().name("carol").spawn(async move {
            l3.borrow_mut()[2] = line!() + 1;
            urx.recv().await;
        });
        let _keep = &mut rx;
        let (_mtx, mrx) = oneshot::channel::<()>();
        let _ = mrx.await;
    });
    let message = error.message();
    let [alice, bob, carol] = *lines.borrow();
    for part in [
        format!("t1 alice (spawned at {}", file!()),
        format!("waits in mpsc::Sender::send ({}", at(alice)),
        format!("for the mpsc channel created at {}", file!()),
        "which is full: its messages wait for the receiver".to_owned(),
        format!("t2 bob (spawned at {}", file!()),
        format!("waits in oneshot::Receiver ({}", at(bob)),
        format!("waits in mpsc::UnboundedReceiver::recv ({}", at(carol)),
    ] {
        assert!(message.contains(&part), "missing {part:?} in:\n{message}");
    }
    assert!(!message.contains("foreign"), "{message}");
}

#[test]
fn a_permit_held_across_a_join_is_a_cycle_through_the_channel() {
    let error = run_err(Sched::Fifo, async {
        let (tx, _rx) = mpsc::channel::<u32>(1);
        let tx2 = tx.clone();
        let alice = task::Builder::new().name("alice").spawn(async move {
            yield_now().await;
            tx.send(1).await.unwrap();
        });
        let bob = task::Builder::new().name("bob").spawn(async move {
            let _permit = tx2.reserve().await.unwrap();
            alice.await.unwrap();
        });
        bob.await.unwrap();
    });
    let message = error.message();
    for part in [
        "\nwait-for cycle: t1 alice -> t2 bob -> t1 alice (a cycle of 2)",
        "\n  t1 alice waits at ",
        " for a permit of the mpsc channel held by t2 bob (acquired at ",
        "\n  t2 bob holds a permit of the mpsc channel acquired at ",
    ] {
        assert!(message.contains(part), "missing {part:?} in:\n{message}");
    }
    assert!(!message.contains("foreign"), "{message}");
}

#[test]
fn blocking_calls_inside_a_simulation_panic_clearly_and_work_outside_one() {
    for (name, error) in [
        (
            "mpsc::Receiver::blocking_recv",
            run_err(Sched::Fifo, async {
                let (_tx, mut rx) = mpsc::channel::<u32>(1);
                rx.blocking_recv();
            }),
        ),
        (
            "mpsc::Sender::blocking_send",
            run_err(Sched::Fifo, async {
                let (tx, _rx) = mpsc::channel::<u32>(1);
                let _ = tx.blocking_send(1);
            }),
        ),
        (
            "oneshot::Receiver::blocking_recv",
            run_err(Sched::Fifo, async {
                let (_tx, rx) = oneshot::channel::<u32>();
                let _ = rx.blocking_recv();
            }),
        ),
    ] {
        let message = error.message();
        assert!(
            message.contains("Cannot block the current thread from within a runtime"),
            "{message}"
        );
        assert!(message.contains(name), "{message}");
    }
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    tx.blocking_send(4).unwrap();
    drop(tx);
    assert_eq!(rx.blocking_recv(), Some(4));
    assert_eq!(rx.blocking_recv(), None);
    let (tx, rx) = oneshot::channel::<u32>();
    tx.send(8).unwrap();
    assert_eq!(rx.blocking_recv(), Ok(8));
}

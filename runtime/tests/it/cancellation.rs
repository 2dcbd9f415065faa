//! Rule 3, cancellation: `abort` drops the task's future before its next poll and the
//! handle then gives a cancelled error, unless the task had already completed; aborting
//! a finished task does nothing; dropping a handle detaches the task.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use detsim_runtime::{JoinHandle, spawn, yield_now};
use futures::channel::oneshot;

use crate::util::{drop_flag, run_all};

#[test]
fn abort_before_the_first_poll_never_runs_the_body() {
    run_all(|| async {
        let (dropped, guard) = drop_flag();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let task = spawn(async move {
            let _guard = guard;
            r.set(true);
        });
        task.abort();
        assert!(dropped.get(), "the future is dropped by abort itself");
        assert!(task.is_finished());
        yield_now().await;
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!ran.get());
    });
}

#[test]
fn abort_of_a_parked_task_drops_it_at_its_await() {
    run_all(|| async {
        let (dropped, guard) = drop_flag();
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = spawn(async move {
            let _guard = guard;
            p.set(p.get() + 1);
            let _ = rx.await;
            p.set(p.get() + 100); // never: the task is cancelled at the await
        });
        while polls.get() == 0 {
            yield_now().await;
        }
        assert!(!task.is_finished());
        task.abort();
        assert!(dropped.get());
        // The channel's sender sees the receiver gone: the future really was dropped.
        assert!(tx.send(()).is_err());
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(polls.get(), 1);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_of_a_ready_task_takes_it_out_of_the_ready_set() {
    run_all(|| async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let task = spawn(async move {
            loop {
                p.set(p.get() + 1);
                yield_now().await; // ready again at once
            }
        });
        while polls.get() < 3 {
            yield_now().await;
        }
        task.abort();
        let seen = polls.get();
        for _ in 0..10 {
            yield_now().await;
        }
        assert_eq!(polls.get(), seen);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_of_a_woken_task_in_the_same_poll_wins() {
    // The wake and the abort happen in one poll: the task must not run again.
    run_all(|| async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let (tx, rx) = oneshot::channel::<u32>();
        let task = spawn(async move {
            p.set(p.get() + 1);
            rx.await.unwrap()
        });
        while polls.get() == 0 {
            yield_now().await;
        }
        let _ = tx.send(1); // wakes the task...
        task.abort(); // ...which is cancelled before it can run
        for _ in 0..5 {
            yield_now().await;
        }
        assert_eq!(polls.get(), 1);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_of_a_finished_task_does_nothing() {
    run_all(|| async {
        let done = spawn(async { 5 });
        let failed = spawn(async { panic!("kept") });
        while !(done.is_finished() && failed.is_finished()) {
            yield_now().await;
        }
        done.abort();
        done.abort();
        failed.abort();
        assert_eq!(done.await.unwrap(), 5);
        assert!(failed.await.unwrap_err().is_panic());
    });
}

#[test]
fn abort_wakes_a_task_already_awaiting_the_handle() {
    run_all(|| async {
        let mut task = spawn(std::future::pending::<()>());
        // Register the root as the handle's awaiter, then abort.
        poll_fn(|cx| {
            assert!(Pin::new(&mut task).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

/// A handle another task can abort while a third task is parked awaiting it: the
/// awaiter borrows the handle only during each of its polls.
type SharedHandle = Rc<RefCell<Option<JoinHandle<()>>>>;

async fn await_shared(slot: SharedHandle) -> bool {
    let result = poll_fn(|cx| Pin::new(slot.borrow_mut().as_mut().unwrap()).poll(cx)).await;
    result.unwrap_err().is_cancelled()
}

#[test]
fn abort_by_another_task_wakes_the_task_parked_on_the_handle() {
    run_all(|| async {
        let slot: SharedHandle = Rc::default();
        *slot.borrow_mut() = Some(spawn(std::future::pending()));
        let awaiter = spawn(await_shared(slot.clone()));
        let s = slot.clone();
        let aborter = spawn(async move {
            for _ in 0..3 {
                yield_now().await; // the awaiter parks on the handle meanwhile
            }
            s.borrow().as_ref().unwrap().abort();
        });
        aborter.await.unwrap();
        assert!(awaiter.await.unwrap(), "the awaiter saw a cancellation");
    });
}

#[test]
fn a_self_abort_wakes_the_task_parked_on_the_handle() {
    run_all(|| async {
        let slot: SharedHandle = Rc::default();
        let s = slot.clone();
        *slot.borrow_mut() = Some(spawn(async move {
            for _ in 0..3 {
                yield_now().await;
            }
            s.borrow().as_ref().unwrap().abort();
            std::future::pending::<()>().await;
        }));
        let awaiter = spawn(await_shared(slot.clone()));
        assert!(awaiter.await.unwrap());
    });
}

#[test]
fn a_task_that_aborts_itself_is_cancelled_at_its_next_await() {
    run_all(|| async {
        let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let (dropped, guard) = drop_flag();
        let after = Rc::new(Cell::new(false));
        let (s, a) = (slot.clone(), after.clone());
        let task = spawn(async move {
            let _guard = guard;
            yield_now().await; // let the root store the handle
            s.borrow().as_ref().unwrap().abort();
            yield_now().await; // suspending here ends the task
            a.set(true);
        });
        let id = task.id();
        *slot.borrow_mut() = Some(task);
        while !dropped.get() {
            yield_now().await;
        }
        let task = slot.borrow_mut().take().unwrap();
        assert_eq!(task.id(), id);
        assert!(task.is_finished());
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!after.get());
    });
}

#[test]
fn a_task_that_aborts_itself_and_completes_in_the_same_poll_keeps_its_output() {
    // There is no next poll to cancel: the task completed first (as in tokio).
    run_all(|| async {
        let slot: Rc<RefCell<Option<JoinHandle<u32>>>> = Rc::default();
        let s = slot.clone();
        let task = spawn(async move {
            yield_now().await;
            s.borrow().as_ref().unwrap().abort();
            9
        });
        *slot.borrow_mut() = Some(task);
        loop {
            yield_now().await;
            if slot.borrow().as_ref().unwrap().is_finished() {
                break;
            }
        }
        let task = slot.borrow_mut().take().unwrap();
        assert_eq!(task.await.unwrap(), 9);
    });
}

#[test]
fn dropping_a_handle_detaches_the_task() {
    run_all(|| async {
        let steps = Rc::new(RefCell::new(Vec::new()));
        let s = steps.clone();
        drop(spawn(async move {
            for i in 0..5 {
                s.borrow_mut().push(i);
                yield_now().await;
            }
        }));
        while steps.borrow().len() < 5 {
            yield_now().await;
        }
        assert_eq!(*steps.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn is_finished_follows_the_task() {
    run_all(|| async {
        let (tx, rx) = oneshot::channel::<()>();
        let task = spawn(async move { rx.await.unwrap() });
        assert!(!task.is_finished());
        yield_now().await;
        assert!(!task.is_finished());
        tx.send(()).unwrap();
        while !task.is_finished() {
            yield_now().await;
        }
        task.await.unwrap();
    });
}

/// Records `task::id()` when dropped, as a tracing guard might.
struct IdOnDrop(Rc<RefCell<Vec<detsim_runtime::task::Id>>>);

impl Drop for IdOnDrop {
    fn drop(&mut self) {
        self.0.borrow_mut().push(detsim_runtime::task::id());
    }
}

#[test]
fn a_task_future_is_dropped_as_that_task() {
    run_all(|| async {
        let seen: Rc<RefCell<Vec<detsim_runtime::task::Id>>> = Rc::default();
        let guard = |seen: &Rc<RefCell<_>>| IdOnDrop(seen.clone());
        // Completes: dropped inside its own poll.
        let (g, s) = (guard(&seen), seen.clone());
        let done = spawn(async move {
            let _g = g;
            yield_now().await;
        });
        // Aborted by the root while parked.
        let g = guard(&seen);
        let aborted = spawn(async move {
            let _g = g;
            std::future::pending::<()>().await;
        });
        // Aborts itself, so is dropped after its poll.
        let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let (g, sl) = (guard(&seen), slot.clone());
        *slot.borrow_mut() = Some(spawn(async move {
            let _g = g;
            yield_now().await;
            sl.borrow().as_ref().unwrap().abort();
            yield_now().await;
        }));
        let ids = [
            done.id(),
            aborted.id(),
            slot.borrow().as_ref().unwrap().id(),
        ];
        done.await.unwrap();
        while !slot.borrow().as_ref().unwrap().is_finished() {
            yield_now().await;
        }
        aborted.abort();
        let mut seen_ids = s.borrow().clone();
        seen_ids.sort();
        assert_eq!(seen_ids, ids);
    });
}

#[test]
fn a_task_left_at_the_end_of_the_run_is_dropped_as_that_task() {
    let seen: Rc<RefCell<Vec<detsim_runtime::task::Id>>> = Rc::default();
    let g = IdOnDrop(seen.clone());
    let left = crate::util::run_ok(crate::util::Sched::Fifo, async move {
        let left = spawn(async move {
            let _g = g;
            std::future::pending::<()>().await;
        });
        yield_now().await;
        left.id()
    });
    assert_eq!(*seen.borrow(), [left]);
}

#[test]
fn a_handle_moved_to_another_task_wakes_its_new_awaiter() {
    run_all(|| async {
        let (release, gate) = oneshot::channel::<()>();
        let mut task = spawn(async move {
            gate.await.unwrap();
            11
        });
        // The root registers itself as the awaiter, then hands the handle on.
        poll_fn(|cx| {
            assert!(Pin::new(&mut task).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let awaiter = spawn(async move { task.await.unwrap() });
        yield_now().await;
        release.send(()).unwrap();
        assert_eq!(awaiter.await.unwrap(), 11);
    });
}

/// An `AbortHandle` aborts like its `JoinHandle`, outlives it, and is a no-op on a
/// finished task.
#[test]
fn an_abort_handle_aborts_without_owning_the_result() {
    run_all(|| async {
        let (dropped, guard) = drop_flag();
        let task = spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let abort = task.abort_handle();
        assert_eq!(abort.id(), task.id());
        yield_now().await;
        assert!(!abort.is_finished());
        abort.abort();
        assert!(dropped.get());
        assert!(abort.is_finished());
        assert!(task.await.unwrap_err().is_cancelled());
        abort.abort(); // the task is gone: nothing happens

        let done = spawn(async { 5 });
        let abort = done.abort_handle();
        while !abort.is_finished() {
            yield_now().await;
        }
        abort.abort();
        assert_eq!(done.await.unwrap(), 5);
    });
}

/// `run_id` tells runs apart, even of the same seed on the same runtime.
#[test]
fn run_ids_differ_between_runs() {
    let mut rt = detsim_runtime::Runtime::new(1);
    let first = rt.block_on(async { detsim_runtime::run_id() });
    let again = rt.block_on(async { detsim_runtime::run_id() });
    assert_ne!(first, again);
    let within = rt.block_on(async {
        let id = detsim_runtime::run_id();
        yield_now().await;
        (id, detsim_runtime::run_id())
    });
    assert_eq!(within.0, within.1);
}

/// Panics when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// A task that holds a `PanicOnDrop` (from before its first poll) and waits forever.
fn spawn_panicking_on_drop() -> JoinHandle<()> {
    let guard = PanicOnDrop("dropped after abort");
    spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    })
}

#[test]
fn a_panic_while_an_aborted_future_is_dropped_goes_to_its_handle() {
    run_all(|| async {
        let task = spawn_panicking_on_drop();
        yield_now().await;
        // The aborting task does not see the panic...
        task.abort();
        // ...its handle does, as tokio's does.
        let error = task.await.unwrap_err();
        assert!(error.is_panic() && !error.is_cancelled());
        assert_eq!(error.panic_message(), Some("dropped after abort"));
        assert!(error.location().unwrap().contains(file!()));
    });
}

#[test]
fn an_unread_panic_while_an_aborted_future_is_dropped_fails_a_detsim_run() {
    for sched in crate::util::schedules() {
        let error = crate::util::run_err(sched, async {
            let task = spawn_panicking_on_drop();
            yield_now().await;
            task.abort();
            drop(task);
            yield_now().await;
        });
        assert_eq!(error.message(), "dropped after abort", "under {sched:?}");
    }
    // The same through an abort handle whose join handle is gone.
    let error = crate::util::run_err(crate::util::Sched::Fifo, async {
        let task = spawn_panicking_on_drop();
        let abort = task.abort_handle();
        drop(task);
        yield_now().await;
        abort.abort();
        yield_now().await;
    });
    assert_eq!(error.message(), "dropped after abort");
}

#[test]
fn an_unread_panic_of_a_destructor_is_contained_in_a_tokio_run() {
    run_all(|| async {
        detsim_runtime::set_run_flavor(detsim_runtime::RunFlavor::Tokio);
        // An aborted future's destructor...
        let task = spawn_panicking_on_drop();
        yield_now().await;
        task.abort();
        drop(task);
        // ...and a finished task's output dropped with its handle.
        let task = spawn(async { PanicOnDrop("output dropped") });
        while !task.is_finished() {
            yield_now().await;
        }
        drop(task);
        yield_now().await;
    });
}

#[test]
fn a_task_output_is_dropped_with_its_handle_as_that_task() {
    run_all(|| async {
        struct Output(Rc<Cell<Option<detsim_runtime::task::Id>>>);
        impl Drop for Output {
            fn drop(&mut self) {
                self.0.set(Some(detsim_runtime::task::id()));
            }
        }
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        let task = spawn(async move { Output(s) });
        let id = task.id();
        while !task.is_finished() {
            yield_now().await;
        }
        assert_eq!(seen.get(), None);
        drop(task);
        assert_eq!(seen.get(), Some(id));
    });
}

#[test]
fn a_wake_from_a_detached_tasks_output_destructor_is_not_lost() {
    run_all(|| async {
        struct Output(Option<oneshot::Sender<detsim_runtime::task::Id>>);
        impl Drop for Output {
            fn drop(&mut self) {
                let _ = self.0.take().unwrap().send(detsim_runtime::task::id());
            }
        }
        let (tx, rx) = oneshot::channel();
        let task = spawn(async move { Output(Some(tx)) });
        let id = task.id();
        drop(task);
        // The task completes detached; its output, dropped then, wakes this task.
        assert_eq!(rx.await.unwrap(), id);
    });
}

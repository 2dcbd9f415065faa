//! Rule 6, stalls are failures: a root pending with nothing ready and no timer armed is
//! a deadlock naming every blocked task (id, name, where spawned); more polls than
//! `max_steps` is a livelock when the last polls only yielded, else a poll-budget failure.

use std::cell::Cell;
use std::future::pending;
use std::time::Duration;

use detsim_runtime::{RunError, Runtime, spawn, task, time, yield_now};
use futures::channel::oneshot;

use crate::util::{Sched, run_all, run_err, run_ok, schedules};

/// Where this file's `spawn` calls on `line` are reported.
fn at(line: u32) -> String {
    format!("{}:{line}:", file!())
}

async fn wait(rx: oneshot::Receiver<()>) {
    rx.await.unwrap();
}

async fn hold(tx: oneshot::Sender<()>) {
    let _tx = tx;
    pending::<()>().await;
}

async fn spin() {
    loop {
        yield_now().await;
    }
}

#[test]
fn a_deadlock_names_every_blocked_task() {
    let lines = Cell::new((0, 0));
    let mut messages = std::collections::BTreeSet::new();
    for sched in schedules() {
        let error = run_err(sched, async {
            let (tx, rx) = oneshot::channel::<()>();
            let stuck_line = line!() + 1;
            let stuck = task::Builder::new().name("stuck").spawn(wait(rx));
            let holder_line = line!() + 1;
            let holder = spawn(hold(tx));
            lines.set((stuck_line, holder_line));
            let done = spawn(async {});
            yield_now().await;
            done.await.unwrap(); // finished tasks are not blocked ones
            drop(holder);
            let _ = stuck.await;
        });
        let (stuck_line, holder_line) = lines.get();
        let RunError::Deadlock { blocked, .. } = &error else {
            panic!("under {sched:?}: expected a deadlock, got {error}");
        };
        let ids: Vec<u64> = blocked.iter().map(|t| t.id.as_u64()).collect();
        assert_eq!(ids, [0, 1, 2], "under {sched:?}");
        assert_eq!(blocked[0].name, None);
        assert_eq!(blocked[0].spawned_at, None);
        assert_eq!(blocked[1].name.as_deref(), Some("stuck"));
        let stuck_at = blocked[1].spawned_at.unwrap();
        assert_eq!((stuck_at.file(), stuck_at.line()), (file!(), stuck_line));
        let holder_at = blocked[2].spawned_at.unwrap();
        assert_eq!((holder_at.file(), holder_at.line()), (file!(), holder_line));
        messages.insert(error.message());
    }
    // The message names no seed or step: every schedule gives the same one.
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = messages.pop_first().unwrap();
    let (stuck_line, holder_line) = lines.get();
    assert!(message.starts_with("deadlock: "), "{message}");
    assert!(
        message.contains("blocked:\n  t0 main waits on a JoinHandle of t1 stuck ("),
        "{message}"
    );
    let stuck = format!("\n  t1 stuck (spawned at {}", at(stuck_line));
    assert!(message.contains(&stuck), "{message}");
    let holder = format!("\n  t2 (spawned at {}", at(holder_line));
    assert!(message.contains(&holder), "{message}");
    assert!(!message.contains("cycle"), "{message}");
}

#[test]
fn a_deadlock_says_where_each_blocked_task_waits() {
    let join_line = Cell::new(0);
    let error = run_err(Sched::Fifo, async {
        let (tx, rx) = oneshot::channel::<()>();
        let waiter = task::Builder::new().name("waiter").spawn(async move {
            yield_now().await;
            rx.await.unwrap(); // a foreign future
        });
        let _holder = task::Builder::new().name("holder").spawn(hold(tx));
        join_line.set(line!() + 1);
        waiter.await.unwrap();
    });
    let RunError::Deadlock { blocked, .. } = &error else {
        panic!("{error}");
    };
    let waits: Vec<String> = blocked
        .iter()
        .map(|t| t.position.as_ref().unwrap().to_string())
        .collect();
    assert!(
        waits[0].starts_with(&format!(
            "waits on a JoinHandle of t1 ({}",
            at(join_line.get())
        )),
        "{waits:?}"
    );
    assert!(
        waits[1].starts_with("waits in a foreign future (last detsim call: yield_now "),
        "{waits:?}"
    );
    assert_eq!(waits[2], "waits in a foreign future", "{waits:?}");
    let message = error.message();
    assert!(
        message.contains("t0 main waits on a JoinHandle of t1 waiter ("),
        "{message}"
    );
}

#[test]
fn a_wait_for_cycle_among_join_handles_is_named() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let error = run_err(Sched::Fifo, async {
        let slot: Rc<RefCell<Option<detsim_runtime::JoinHandle<()>>>> = Rc::default();
        let for_alice = slot.clone();
        let alice = task::Builder::new().name("alice").spawn(async move {
            yield_now().await;
            let bob = for_alice.borrow_mut().take().unwrap();
            bob.await.unwrap();
        });
        let bob = task::Builder::new().name("bob").spawn(async move {
            alice.await.unwrap();
        });
        *slot.borrow_mut() = Some(bob);
        std::future::pending::<()>().await;
    });
    let message = error.message();
    assert!(message.contains("\n  t1 alice (spawned at "), "{message}");
    assert!(
        message.contains(") waits on a JoinHandle of t2 bob ("),
        "{message}"
    );
    assert!(
        message.contains(") waits on a JoinHandle of t1 alice ("),
        "{message}"
    );
    assert!(
        message.ends_with("\nwait-for cycle: t1 alice -> t2 bob -> t1 alice"),
        "{message}"
    );
}

#[test]
fn a_root_waiting_on_nothing_is_a_deadlock() {
    let error = run_err(Sched::Fifo, pending::<()>());
    let RunError::Deadlock { blocked, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].id, task::Id::ROOT);
    assert_eq!(
        error.to_string(),
        "deadlock: no task is ready and no timer is armed; blocked:\n  t0 main waits in a \
         foreign future"
    );
}

#[test]
fn an_armed_timer_is_not_a_deadlock() {
    run_all(|| async {
        let far = spawn(time::sleep(Duration::from_secs(86_400 * 365 * 100)));
        far.await.unwrap();
    });
}

#[test]
fn tasks_parked_forever_do_not_stall_a_root_that_finishes() {
    run_all(|| async {
        drop(spawn(pending::<()>()));
        let _kept = spawn(pending::<()>());
        yield_now().await;
    });
}

#[test]
fn a_run_longer_than_max_steps_is_a_livelock_naming_the_ready_tasks() {
    for sched in schedules() {
        let mut rt = sched.runtime();
        rt.set_max_polls(1000);
        let spin_line = Cell::new(0);
        let error = rt.run(async {
            spin_line.set(line!() + 1);
            let spinner = task::Builder::new().name("spinner").spawn(spin());
            spinner.await.unwrap();
        });
        let error = error.expect_err("an endless task is a livelock");
        assert_eq!(rt.polls(), 1000, "under {sched:?}");
        let RunError::Livelock { max_steps, ready } = &error else {
            panic!("under {sched:?}: expected a livelock, got {error}");
        };
        assert_eq!(*max_steps, 1000);
        assert_eq!(ready.len(), 1, "only the spinner is ready: {ready:?}");
        assert_eq!(ready[0].name.as_deref(), Some("spinner"));
        assert_eq!(ready[0].spawned_at.unwrap().line(), spin_line.get());
        let message = error.message();
        assert!(
            message.starts_with("livelock: the run did not finish within 1000 polls"),
            "{message}"
        );
        assert!(message.contains("t1 spinner (spawned at"), "{message}");
    }
}

#[test]
fn a_timer_driven_endless_loop_exhausts_the_poll_budget() {
    let mut rt = Runtime::new(1);
    rt.set_max_polls(500);
    let error = rt
        .run(async {
            loop {
                time::sleep(Duration::from_secs(1)).await;
            }
        })
        .unwrap_err();
    assert!(matches!(error, RunError::PollBudget { .. }), "{error}");
    assert!(
        error.message().starts_with("poll budget exhausted"),
        "time moves on: not a livelock, a run longer than its budget: {error}"
    );
}

#[test]
fn max_steps_is_an_inclusive_budget() {
    let program = || async {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                spawn(async {
                    for _ in 0..4 {
                        yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    for sched in schedules() {
        let mut rt = sched.runtime();
        rt.run(program()).unwrap();
        let needed = rt.polls();
        let mut exact = sched.runtime();
        exact.set_max_polls(needed);
        assert!(exact.run(program()).is_ok(), "under {sched:?}");
        let mut short = sched.runtime();
        short.set_max_polls(needed - 1);
        let error = short.run(program()).unwrap_err();
        assert!(
            matches!(error, RunError::PollBudget { .. }),
            "under {sched:?}: a run one poll too long is not a livelock: {error}"
        );
    }
    run_ok(Sched::Fifo, program());
}

/// The default budget grows with the tasks a run spawns: a correct run of more polls
/// than `DEFAULT_MAX_POLLS` passes when it has the tasks to show for them.
#[test]
fn the_default_budget_grows_with_the_tasks() {
    const TASKS: u64 = 2_000;
    let yields = detsim_runtime::DEFAULT_MAX_POLLS / TASKS + 1;
    let program = || async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                spawn(async move {
                    for _ in 0..yields {
                        yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    let mut rt = Runtime::new(3);
    rt.run(program())
        .expect("the default budget covers a long run of many tasks");
    assert!(rt.polls() > detsim_runtime::DEFAULT_MAX_POLLS);
    // A fixed budget is exactly that budget.
    let mut fixed = Runtime::new(3);
    fixed.set_max_polls(detsim_runtime::DEFAULT_MAX_POLLS);
    let error = fixed.run(program()).unwrap_err();
    assert!(matches!(error, RunError::PollBudget { .. }), "{error}");
    assert_eq!(fixed.polls(), detsim_runtime::DEFAULT_MAX_POLLS);
}

/// The default budget is exactly `DEFAULT_MAX_POLLS` (a million polls) plus the
/// documented 100 polls (`DEFAULT_POLLS_PER_TASK`) per spawned task: a spinner next to
/// ten finished tasks is stopped after exactly 1,001,000 polls.
#[test]
fn the_default_budget_is_a_million_polls_plus_100_per_spawned_task() {
    assert_eq!(detsim_runtime::DEFAULT_MAX_POLLS, 1_000_000);
    assert_eq!(detsim_runtime::DEFAULT_POLLS_PER_TASK, 100);
    let mut rt = Runtime::new(1);
    let error = rt
        .run(async {
            for _ in 0..10 {
                spawn(async {});
            }
            spin().await;
        })
        .unwrap_err();
    let RunError::Livelock { max_steps, .. } = &error else {
        panic!("a spinner is a livelock: {error}");
    };
    assert_eq!(*max_steps, 1_000_000 + 10 * 100);
    assert_eq!(rt.polls(), 1_000_000 + 10 * 100);
}

/// A failure names at most ten tasks, however many are involved.
#[test]
fn a_stall_message_names_ten_tasks_and_counts_the_rest() {
    let mut rt = Runtime::new(1);
    rt.set_max_polls(5_000);
    let error = rt
        .run(async {
            let _spinners: Vec<_> = (0..1_000).map(|_| spawn(spin())).collect();
            spin().await;
        })
        .unwrap_err();
    let RunError::Livelock { ready, .. } = &error else {
        panic!("tasks that only yield are a livelock: {error}");
    };
    assert_eq!(ready.len(), 1_001);
    let message = error.message();
    assert_eq!(message.matches("spawned at").count(), 10, "{message}");
    assert!(message.ends_with("; and 991 more"), "{message}");
}

/// A correct program of a million tasks passes with the default budget (its ~3 million
/// polls are over `DEFAULT_MAX_POLLS`). A few seconds in a debug build; the bench's
/// `scale` section runs it under every scheduler in release.
#[test]
fn a_million_tasks_fit_in_the_default_budget() {
    let n = 1_000_000u64;
    let mut rt = Runtime::new(3);
    let sum = rt.block_on(async move {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                spawn(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, n * (n - 1) / 2);
    assert!(rt.polls() > detsim_runtime::DEFAULT_MAX_POLLS);
}

#[test]
fn a_reused_slot_does_not_lend_its_last_task_s_wait() {
    let error = run_err(Sched::Fifo, async {
        let sleeper = spawn(time::sleep(Duration::from_millis(1)));
        sleeper.await.unwrap(); // its slot is free again
        let (_tx, rx) = oneshot::channel::<()>();
        let waiter = spawn(async move {
            let _ = rx.await; // never woken; it never called detsim
        });
        waiter.await.unwrap();
    });
    let RunError::Deadlock { blocked, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(blocked[1].id.as_u64(), 2);
    assert_eq!(
        blocked[1].position.as_ref().unwrap().to_string(),
        "waits in a foreign future",
        "{error}"
    );
}

#[test]
fn a_reused_runtime_does_not_lend_an_earlier_run_s_wait() {
    let mut rt = Runtime::new(0);
    rt.run(async {
        spawn(time::sleep(Duration::from_millis(1))).await.unwrap();
    })
    .unwrap();
    let error = rt
        .run(async {
            let (_tx, rx) = oneshot::channel::<()>();
            spawn(async move {
                let _ = rx.await; // t1 again, in the same slot; it never called detsim
            })
            .await
            .unwrap();
        })
        .unwrap_err();
    let RunError::Deadlock { blocked, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(
        blocked[1].position.as_ref().unwrap().to_string(),
        "waits in a foreign future",
        "{error}"
    );
}

/// A root joined on a task that waits forever.
async fn stuck_join() {
    let stuck = task::Builder::new().name("stuck").spawn(pending::<()>());
    stuck.await.unwrap();
}

/// With wait sites off (how a sweep runs each seed), a deadlock still names its blocked
/// tasks but not where they wait; a traced run notes wait sites whatever the setting.
#[test]
fn wait_sites_off_leave_positions_to_a_traced_run() {
    let message = |wait_sites: bool, trace: bool| {
        let mut rt = Runtime::new(1);
        rt.set_wait_sites(wait_sites);
        rt.set_trace(trace);
        rt.run(stuck_join()).unwrap_err().message()
    };
    let waits = "t0 main waits on a JoinHandle of t1 stuck (";
    let on = message(true, false);
    assert!(on.contains(waits), "{on}");
    let off = message(false, false);
    assert!(off.starts_with("deadlock: "), "{off}");
    assert!(off.contains("t1 stuck"), "{off}");
    assert!(!off.contains(waits), "{off}");
    let traced = message(false, true);
    assert!(traced.contains(waits), "{traced}");
}

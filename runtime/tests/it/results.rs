//! Rule 2, results propagate: a handle gives exactly the task's output, or its panic
//! with the original payload; a root panic fails the run with its payload; a panic
//! nobody can read any more fails the run.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use detsim_runtime::{JoinError, RunError, Runtime, spawn, task, yield_now};

use crate::util::{Sched, panic_text, run_all, run_err, run_ok, schedules};

#[test]
fn awaiting_a_handle_gives_exactly_the_output() {
    run_all(|| async {
        let text = spawn(async { String::from("hello") });
        // Outputs need not be Send: an Rc crosses from the task to its awaiter.
        let shared = spawn(async { Rc::new(vec![1, 2, 3]) });
        let unit = spawn(async { yield_now().await });
        let sum = spawn(async {
            let parts: Vec<_> = (1..=10u64).map(|n| spawn(async move { n * n })).collect();
            let mut sum = 0;
            for part in parts {
                sum += part.await.unwrap();
            }
            sum
        });
        assert_eq!(text.await.unwrap(), "hello");
        assert_eq!(*shared.await.unwrap(), [1, 2, 3]);
        unit.await.unwrap();
        assert_eq!(sum.await.unwrap(), 385);
    });
}

#[test]
fn a_panicking_task_gives_its_original_payload() {
    run_all(|| async {
        let literal = spawn(async { panic!("boom") });
        let formatted = spawn(async {
            yield_now().await;
            // Not a literal: rustc would fold `"boom {}", 42` into a `&str` payload.
            let n = std::hint::black_box(42);
            panic!("boom {n}")
        });
        let error = literal.await.unwrap_err();
        assert!(error.is_panic());
        assert!(!error.is_cancelled());
        assert_eq!(*error.into_panic().downcast::<&str>().unwrap(), "boom");
        let error = formatted.await.unwrap_err();
        assert_eq!(*error.into_panic().downcast::<String>().unwrap(), "boom 42");
    });
}

#[test]
fn the_payload_is_the_same_object_not_a_copy() {
    run_all(|| async {
        let original = Arc::new(17u32);
        let thrown = original.clone();
        let task = spawn(async move {
            yield_now().await;
            panic::panic_any(thrown)
        });
        let payload = task.await.unwrap_err().into_panic();
        let caught = payload
            .downcast::<Arc<u32>>()
            .expect("payload keeps its type");
        assert!(Arc::ptr_eq(&original, &caught));
    });
}

#[test]
fn a_root_panic_fails_the_run_with_its_payload() {
    for sched in schedules() {
        let error = run_err(sched, async {
            let _worker = spawn(async { yield_now().await });
            yield_now().await;
            panic!("root boom");
        });
        let RunError::Panic {
            task,
            payload,
            location,
        } = &error
        else {
            panic!("under {sched:?}: not a panic: {error}");
        };
        assert_eq!(task.id, task::Id::ROOT);
        assert_eq!(panic_text(payload.as_ref()), "root boom");
        let location = location.as_deref().expect("the location is captured");
        assert!(location.starts_with(file!()), "{location}");
        assert_eq!(error.message(), "root boom");
        assert_eq!(error.panicked_task().map(|t| t.id), Some(task::Id::ROOT));
    }
}

#[test]
fn block_on_resumes_the_root_panic_with_the_original_payload() {
    let mut rt = Runtime::new(3);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            yield_now().await;
            panic::panic_any(0xdead_u32)
        })
    }))
    .unwrap_err();
    assert_eq!(*caught.downcast::<u32>().unwrap(), 0xdead);

    // A task's panic re-raised by the root reaches the caller intact too.
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            let error = spawn(async { panic!("deep") }).await.unwrap_err();
            panic::resume_unwind(error.into_panic())
        })
    }))
    .unwrap_err();
    assert_eq!(*caught.downcast::<&str>().unwrap(), "deep");
}

#[test]
fn a_non_string_payload_has_a_placeholder_message() {
    let error = run_err(Sched::Fifo, async { panic::panic_any(5u8) });
    assert_eq!(
        error.message(),
        "Box<dyn Any> (a panic payload that is not a string)"
    );
}

/// Asserts `error` is the panic of task `t1` with `message`.
fn assert_t1_panicked(sched: Sched, error: &RunError, message: &str) {
    match error {
        RunError::Panic { task, .. } => {
            assert_eq!(task.id.as_u64(), 1, "under {sched:?}: {error}");
            assert_eq!(error.message(), message, "under {sched:?}");
        }
        other => panic!("under {sched:?}: expected a panic, got {other}"),
    }
}

#[test]
fn a_detached_task_that_panics_fails_the_run() {
    for sched in schedules() {
        let error = run_err(sched, async {
            drop(spawn(async {
                yield_now().await;
                panic!("nobody listens");
            }));
            // The root would happily go on; the run must stop at the panic.
            loop {
                yield_now().await;
            }
        });
        assert_t1_panicked(sched, &error, "nobody listens");
    }
}

#[test]
fn dropping_the_handle_of_a_panicked_task_unread_fails_the_run() {
    for sched in schedules() {
        let error = run_err(sched, async {
            let task = spawn(async { panic!("unread") });
            while !task.is_finished() {
                yield_now().await;
            }
            drop(task);
            yield_now().await;
        });
        assert_t1_panicked(sched, &error, "unread");
    }
}

#[test]
fn a_handle_left_unawaited_when_the_root_returns_fails_the_run() {
    for sched in schedules() {
        let error = run_err(sched, async {
            let task = spawn(async { panic!("forgotten") });
            while !task.is_finished() {
                yield_now().await;
            }
            // `task` is dropped as the root completes.
        });
        assert_t1_panicked(sched, &error, "forgotten");
    }
}

#[test]
fn a_handle_held_by_a_task_dropped_at_the_end_of_the_run_fails_it() {
    for sched in schedules() {
        let error = run_err(sched, async {
            let panicking = Rc::new(Cell::new(false));
            let flag = panicking.clone();
            let panicky = spawn(async move {
                flag.set(true);
                panic!("held, never read")
            });
            // A second task holds the handle and waits forever.
            drop(spawn(async move {
                let _held = panicky;
                std::future::pending::<()>().await;
            }));
            while !panicking.get() {
                yield_now().await;
            }
        });
        assert_t1_panicked(sched, &error, "held, never read");
    }
}

#[test]
fn a_panic_that_is_read_does_not_fail_the_run() {
    run_all(|| async {
        let task = spawn(async { panic!("read") });
        while !task.is_finished() {
            yield_now().await;
        }
        assert!(task.await.unwrap_err().is_panic());
    });
}

#[test]
fn a_detached_task_still_pending_when_the_root_returns_is_dropped_silently() {
    run_all(|| async {
        drop(spawn(async {
            yield_now().await;
            yield_now().await;
            panic!("never reached: the run ends first");
        }));
    });
}

/// A finished task's error, under fifo.
fn join_error<T: 'static>(fut: impl Future<Output = T> + 'static, abort: bool) -> JoinError {
    run_ok(Sched::Fifo, async move {
        let task = spawn(fut);
        if abort {
            task.abort();
        }
        task.await.err().expect("the task failed")
    })
}

#[test]
fn join_error_display_and_debug() {
    let line = line!() + 1;
    let panicked = join_error(async { panic!("boom") }, false);
    // The location says where the task panicked, so a root that unwraps the error still
    // points at the task's failing line.
    let location = panicked.location().expect("the panic hook saw the panic");
    assert!(
        location.starts_with(&format!("{}:{line}:", file!())),
        "{location}"
    );
    assert_eq!(
        panicked.to_string(),
        format!("task t1 panicked at {location}: boom")
    );
    assert_eq!(
        format!("{panicked:?}"),
        format!(r#"JoinError::Panic(t1, "boom", at {location})"#)
    );
    assert_eq!(panicked.id().as_u64(), 1);

    let cancelled = join_error(async {}, true);
    assert!(cancelled.is_cancelled() && !cancelled.is_panic());
    assert_eq!(cancelled.to_string(), "task t1 was cancelled");
    assert_eq!(format!("{cancelled:?}"), "JoinError::Cancelled(t1)");

    let opaque = join_error(async { panic::panic_any(1u8) }, false);
    let location = opaque.location().unwrap();
    assert_eq!(
        opaque.to_string(),
        format!("task t1 panicked at {location}")
    );
    assert_eq!(
        format!("{opaque:?}"),
        format!("JoinError::Panic(t1, .., at {location})")
    );

    let error: &dyn std::error::Error = &panicked;
    assert!(error.source().is_none());
}

/// A finished task's error in a run that prints `JoinError`s as tokio does.
fn tokio_join_error<T: 'static>(fut: impl Future<Output = T> + 'static, abort: bool) -> JoinError {
    run_ok(Sched::Fifo, async move {
        detsim_runtime::set_run_flavor(detsim_runtime::RunFlavor::Tokio);
        let task = spawn(fut);
        if abort {
            task.abort();
        }
        task.await.err().expect("the task failed")
    })
}

#[test]
fn join_error_display_and_debug_as_tokio() {
    let line = line!() + 1;
    let panicked = tokio_join_error(async { panic!("boom {}", 1) }, false);
    assert_eq!(
        panicked.to_string(),
        r#"task 1 panicked with message "boom 1""#
    );
    assert_eq!(
        format!("{panicked:?}"),
        r#"JoinError::Panic(Id(1), "boom 1", ...)"#
    );
    // Where it panicked is still there for detsim's reports.
    let location = panicked.location().expect("the panic hook saw the panic");
    assert!(
        location.starts_with(&format!("{}:{line}:", file!())),
        "{location}"
    );

    let cancelled = tokio_join_error(async {}, true);
    assert_eq!(cancelled.to_string(), "task 1 was cancelled");
    assert_eq!(format!("{cancelled:?}"), "JoinError::Cancelled(Id(1))");

    let opaque = tokio_join_error(async { panic::panic_any(1u8) }, false);
    assert_eq!(opaque.to_string(), "task 1 panicked");
    assert_eq!(format!("{opaque:?}"), "JoinError::Panic(Id(1), ...)");

    // The next run prints detsim's text again.
    let again = join_error(async {}, true);
    assert_eq!(again.to_string(), "task t1 was cancelled");
}

#[test]
fn into_panic_of_a_cancelled_task_panics_clearly() {
    let cancelled = join_error(async {}, true);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| cancelled.into_panic())).unwrap_err();
    let message = panic_text(caught.as_ref());
    assert!(message.contains("cancelled"), "{message}");
    // try_into_panic gives the error back instead.
    let cancelled = join_error(async {}, true);
    assert!(cancelled.try_into_panic().unwrap_err().is_cancelled());
}

#[test]
fn a_failure_never_reports_the_location_of_a_panic_the_program_caught() {
    for sched in [Sched::Fifo, Sched::Random(1)] {
        let error = run_err(sched, async {
            // A panic the program handles itself...
            let handled = panic::catch_unwind(|| panic!("handled"));
            assert!(handled.is_err());
            yield_now().await;
            // ...then a failure with no location of its own (a re-raised payload).
            panic::resume_unwind(Box::new("re-raised"))
        });
        assert_eq!(error.message(), "re-raised");
        assert_eq!(error.location(), None, "under {sched:?}: {error}");
    }
}

/// Panics when dropped, like a guard asserting it was used.
struct DropBomb(&'static str);

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[test]
fn a_destructor_that_panics_outside_any_poll_fails_the_run() {
    type Program = fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>;
    let cases: [(&str, Program); 3] = [
        ("the output of a detached task", || {
            Box::pin(async {
                drop(spawn(async { DropBomb("output dropped") }));
                for _ in 0..3 {
                    yield_now().await;
                }
            })
        }),
        ("a task that aborted itself", || {
            Box::pin(async {
                let slot: Rc<std::cell::RefCell<Option<detsim_runtime::JoinHandle<()>>>> =
                    Rc::default();
                let s = slot.clone();
                *slot.borrow_mut() = Some(spawn(async move {
                    let _bomb = DropBomb("self-abort dropped");
                    yield_now().await;
                    s.borrow().as_ref().unwrap().abort();
                    yield_now().await;
                }));
                for _ in 0..5 {
                    yield_now().await;
                }
            })
        }),
        ("a task still pending at the end of the run", || {
            Box::pin(async {
                drop(spawn(async {
                    let _bomb = DropBomb("teardown dropped");
                    std::future::pending::<()>().await;
                }));
                yield_now().await;
            })
        }),
    ];
    for (what, program) in cases {
        let mut rt = Runtime::with_chooser(0, Box::new(detsim_runtime::Fifo));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| rt.run(program())));
        let error = match outcome {
            Ok(Err(error)) => error,
            Ok(Ok(())) => panic!("{what}: the run passed"),
            Err(payload) => panic!(
                "{what}: the panic escaped Runtime::run: {}",
                panic_text(payload.as_ref())
            ),
        };
        assert!(error.message().ends_with("dropped"), "{what}: {error}");
        assert!(matches!(error, RunError::Panic { .. }), "{what}: {error}");
        assert_eq!(error.panicked_task().unwrap().id.as_u64(), 1, "{what}");
        let location = error.location().expect("the destructor's panic location");
        assert!(location.starts_with(file!()), "{what}: {location}");
        // The runtime is still usable.
        assert_eq!(rt.run(async { 1 }).unwrap(), 1, "{what}");
    }
}

#[test]
fn a_panicked_task_whose_handle_escapes_the_run_fails_it() {
    // The handle outlives the run (returned, or kept in the test's own state): no one
    // can await it any more, so its panic would be swallowed.
    for sched in schedules() {
        let kept: Rc<std::cell::RefCell<Vec<detsim_runtime::JoinHandle<()>>>> = Rc::default();
        let k = kept.clone();
        let error = run_err(sched, async move {
            let task = spawn(async { panic!("escaped") });
            while !task.is_finished() {
                yield_now().await;
            }
            k.borrow_mut().push(task);
        });
        assert_t1_panicked(sched, &error, "escaped");
        drop(kept);
    }
}

#[test]
fn an_output_whose_handle_escapes_is_dropped_with_the_run() {
    let (dropped, guard) = crate::util::drop_flag();
    let kept: Rc<std::cell::RefCell<Vec<detsim_runtime::JoinHandle<_>>>> = Rc::default();
    let k = kept.clone();
    let mut rt = Runtime::new(0);
    rt.block_on(async move {
        let task = spawn(async move { guard });
        while !task.is_finished() {
            yield_now().await;
        }
        k.borrow_mut().push(task);
    });
    assert!(dropped.get(), "the unread output outlived its run");
    // The runtime runs again, and the stale handle is refused, not confused.
    assert_eq!(rt.block_on(async { spawn(async { 2 }).await.unwrap() }), 2);
    drop(kept);
}

//! Calls that need a simulation panic with a clear message outside one, and a
//! simulation cannot run inside another on the same thread.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use detsim_runtime::time::{self, Instant};
use detsim_runtime::{Runtime, in_simulation, random, spawn, task};

use crate::util::panic_text;

/// The message of the panic `f` raises.
fn panic_of<R>(f: impl FnOnce() -> R) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_text(payload.as_ref()),
    }
}

fn assert_outside(message: &str, what: &str) {
    let expected = format!("`{what}` was called outside a detsim simulation");
    assert!(message.contains(&expected), "{message}");
    assert!(
        message.contains("Runtime::block_on"),
        "says what to do: {message}"
    );
}

#[test]
fn free_functions_outside_a_simulation_panic_naming_themselves() {
    assert!(!in_simulation());
    assert_outside(&panic_of(|| spawn(async {})), "detsim::spawn");
    assert_outside(
        &panic_of(|| task::Builder::new().name("x").spawn(async {})),
        "detsim::spawn",
    );
    assert_outside(&panic_of(time::now), "detsim::time::now");
    assert_outside(
        &panic_of(|| time::sleep(Duration::from_secs(1))),
        "detsim::time::now",
    );
    assert_outside(
        &panic_of(|| time::timeout(Duration::from_secs(1), async {})),
        "detsim::time::now",
    );
    assert_outside(&panic_of(task::id), "detsim::task::id");
    assert_outside(&panic_of(task::name), "detsim::task::name");
    assert_outside(&panic_of(random::<u64>), "detsim::random");
}

#[test]
fn polling_a_sleep_outside_a_simulation_panics() {
    let sleep = time::sleep_until(Instant::START + Duration::from_secs(1));
    let message = panic_of(|| futures::executor::block_on(sleep));
    assert_outside(&message, "polling detsim::time::Sleep");
}

#[test]
fn in_simulation_is_true_only_inside() {
    let mut rt = Runtime::new(0);
    assert!(rt.block_on(async { in_simulation() }));
    assert!(!in_simulation());
}

#[test]
fn a_simulation_inside_another_is_refused() {
    let mut outer = Runtime::new(0);
    let error = outer
        .run(async {
            let mut inner = Runtime::new(1);
            inner.block_on(async {});
        })
        .unwrap_err();
    let message = error.message();
    assert!(
        message.contains("cannot run inside another one on the same thread"),
        "{message}"
    );
    // The outer runtime is still usable afterwards, and so is the thread.
    assert_eq!(outer.block_on(async { 1 }), 1);
    assert_eq!(Runtime::new(2).block_on(async { 2 }), 2);
}

#[test]
fn a_handle_from_another_runtime_is_refused_not_confused() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use detsim_runtime::{JoinHandle, yield_now};

    let leaked: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
    let l = leaked.clone();
    Runtime::new(0).block_on(async move {
        *l.borrow_mut() = Some(spawn(std::future::pending()));
    });
    // A second runtime on the same thread, whose first task sits where the leaked
    // handle's task did.
    let mut other = Runtime::new(0);
    let message = other
        .run(async {
            let own = spawn(async {
                yield_now().await;
                5
            });
            let stranger = leaked.borrow_mut().take().unwrap();
            let refused = panic::catch_unwind(AssertUnwindSafe(|| stranger.abort()));
            assert_eq!(
                own.await.unwrap(),
                5,
                "the other runtime's task was aborted"
            );
            refused.map_err(|payload| panic_text(payload.as_ref()))
        })
        .unwrap();
    let message = message.expect_err("aborting a stranger's handle is refused");
    assert!(message.contains("JoinHandle"), "{message}");

    // Dropping a stranger's handle whose slot is past the end of this run's slab is
    // harmless too.
    let far: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
    let f = far.clone();
    Runtime::new(0).block_on(async move {
        for _ in 0..10 {
            f.borrow_mut().push(spawn(std::future::pending()));
        }
    });
    Runtime::new(0).block_on(async move { far.borrow_mut().clear() });
}

#[test]
fn yield_now_outside_a_simulation_panics() {
    let message = panic_of(|| futures::executor::block_on(detsim_runtime::yield_now()));
    assert_outside(&message, "detsim::yield_now");
}

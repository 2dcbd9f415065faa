//! The trace: a readable timeline of a run with one line per spawn, poll, completion,
//! panic, abort, wake, timer and clock jump; recorded only when asked for.

use std::time::Duration;

use detsim_runtime::trace::EventKind;
use detsim_runtime::{Runtime, spawn, task, time, yield_now};
use futures::channel::oneshot;

/// A run of a small program that makes every kind of event, traced under fifo.
fn traced_run() -> (detsim_runtime::Trace, u32) {
    let mut rt = Runtime::with_chooser(0, Box::new(detsim_runtime::Fifo));
    rt.set_trace(true);
    let line = rt
        .run(async {
            let (tx, rx) = oneshot::channel::<()>();
            let line = line!() + 1;
            let worker = task::Builder::new().name("worker").spawn(async move {
                rx.await.unwrap();
                time::sleep(Duration::from_secs(1)).await;
            });
            let failing = spawn(async { panic!("boom") });
            let doomed = spawn(std::future::pending::<()>());
            let _left = spawn(std::future::pending::<()>());
            yield_now().await;
            tx.send(()).unwrap();
            doomed.abort();
            worker.await.unwrap();
            assert!(failing.await.unwrap_err().is_panic());
            line
        })
        .unwrap();
    (rt.take_trace().unwrap(), line)
}

#[test]
fn the_trace_shows_every_kind_of_event() {
    let (trace, line) = traced_run();
    let text = trace.to_string();
    let expect = |needle: &str| assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    expect("  step          time  task             event\n");
    expect(&format!(
        "t0 main          spawn t1 worker ({}:{line}:",
        file!()
    ));
    expect("t0 main          spawn t2 (");
    expect("     1     0.000000s  t0 main          poll\n");
    expect("poll (1 of 5 ready)");
    expect("t2               panicked: boom");
    expect("t0 main          abort t3");
    expect("t0 main          wake t1 worker");
    expect("clock advances");
    expect("   1.000000s  t1 worker        timer fired");
    expect("t1 worker        done");
    expect("t0 main          done");
    expect("t4               dropped unfinished at end of run");
    // One line per shown event (every one but the poll ends), after the header.
    assert_eq!(text.lines().count(), trace.shown_events().count() + 1);
    let polls = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Poll { .. }))
        .count();
    let ends = trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PollEnd { .. }))
        .count();
    assert_eq!(polls, ends, "every poll has its end");
}

#[test]
fn a_poll_end_says_where_a_detsim_future_suspended_the_task() {
    let (trace, _) = traced_run();
    let sites: Vec<String> = trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PollEnd { task, at: Some(at) } => Some(format!("{task} {at}")),
            _ => None,
        })
        .collect();
    let here = file!();
    // The root yields, then awaits the worker; the worker's first poll ends in a
    // foreign channel (no site), its second in sleep.
    assert!(
        sites[0].starts_with(&format!("t0 in yield_now ({here}:")),
        "{sites:?}"
    );
    assert!(
        sites
            .iter()
            .any(|s| s.starts_with(&format!("t0 on a JoinHandle of t1 ({here}:"))),
        "{sites:?}"
    );
    assert!(
        sites
            .iter()
            .any(|s| s.starts_with(&format!("t1 in sleep ({here}:"))),
        "{sites:?}"
    );
}

#[test]
fn a_poll_names_the_task_first_in_line() {
    let (trace, _) = traced_run();
    // Under fifo the polled task is always the one first in line.
    for event in trace.events() {
        if let EventKind::Poll {
            task,
            first_in_line,
            ..
        } = event.kind
        {
            assert_eq!(task, first_in_line);
        }
    }
}

#[test]
fn events_carry_step_and_virtual_time() {
    let (trace, _) = traced_run();
    let events = trace.events();
    assert!(events.windows(2).all(|w| w[0].step <= w[1].step));
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time));
    let polls: Vec<u64> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Poll { .. }))
        .map(|e| e.step)
        .collect();
    assert_eq!(polls, (1..=polls.len() as u64).collect::<Vec<_>>());
    let last = events.last().unwrap();
    assert_eq!(last.time, Duration::from_secs(1));
    assert_eq!(trace.name(task::Id::ROOT), Some("main"));
}

#[test]
fn the_tail_shows_the_last_events() {
    let (trace, _) = traced_run();
    let total = trace.shown_events().count();
    let tail = trace.tail(3).to_string();
    assert!(
        tail.starts_with(&format!("  ({} earlier events not shown)\n", total - 3)),
        "{tail}"
    );
    assert_eq!(tail.lines().count(), 1 + 1 + 3);
    let full = trace.to_string();
    let last_three: Vec<&str> = full.lines().rev().take(3).collect();
    let tail_three: Vec<&str> = tail.lines().rev().take(3).collect();
    assert_eq!(tail_three, last_three);
    assert_eq!(trace.tail(total).to_string(), full);
}

#[test]
fn traces_are_off_unless_asked_for_and_compare_by_content() {
    let mut rt = Runtime::new(0);
    rt.run(async {}).unwrap();
    assert!(rt.take_trace().is_none());
    let (a, _) = traced_run();
    let (b, _) = traced_run();
    assert_eq!(a, b);
    assert_eq!(a.first_difference(&b), None);
    let mut other = Runtime::new(0);
    other.set_trace(true);
    other.run(async {}).unwrap();
    let c = other.take_trace().unwrap();
    assert_eq!(a.first_difference(&c), Some(1));
}

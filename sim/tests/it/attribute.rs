//! `#[detsim::test]`: an `async fn` run as a sweep, with its arguments, and the report
//! a failing one prints (checked from a child process).

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;

#[detsim::test]
async fn a_default_sweep_runs_the_body() {
    let task = detsim::spawn(async { 6 * 7 });
    assert_eq!(task.await.unwrap(), 42);
}

#[detsim::test(seeds = 20, scheduler = "pct:3")]
async fn arguments_are_accepted() {
    detsim::yield_now().await;
}

#[detsim::test(scheduler = "fifo")]
async fn a_result_body_passes_on_ok() -> Result<(), String> {
    let value: u8 = "7".parse().map_err(|e| format!("{e}"))?;
    assert_eq!(value, 7);
    Ok(())
}

#[detsim::test(seeds = 200)]
#[ignore = "a planted lost update; its report is checked from a child process"]
async fn planted_lost_update() {
    let hits = Rc::new(Cell::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let hits = hits.clone();
            detsim::spawn(async move {
                let seen = hits.get();
                detsim::yield_now().await;
                hits.set(seen + 1);
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(hits.get(), 2, "lost an update");
}

/// Two tasks of one yield each: every schedule within two deviations passes.
#[detsim::test(exhaustive = 2)]
async fn an_exhaustive_test_explores_the_schedules() {
    let hits = Rc::new(Cell::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let hits = hits.clone();
            detsim::spawn(async move {
                detsim::yield_now().await;
                hits.set(hits.get() + 1);
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(hits.get(), 2);
}

#[detsim::test(exhaustive = 1)]
#[ignore = "a lost update within one deviation; its report is checked from a child process"]
async fn planted_exhaustive_lost_update() {
    let hits = Rc::new(Cell::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let hits = hits.clone();
            detsim::spawn(async move {
                let seen = hits.get();
                detsim::yield_now().await;
                hits.set(seen + 1);
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(hits.get(), 2, "lost an update");
}

#[detsim::test(scheduler = "fifo")]
#[ignore = "returns an error; checked from a child process"]
async fn planted_error() -> Result<(), String> {
    Err("the body said no".to_owned())
}

fn child(test: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", test])
        .env_remove("DETSIM_SEEDS")
        .env_remove("DETSIM_SEED")
        .env_remove("DETSIM_REPLAY")
        .env_remove("DETSIM_SCHEDULER")
        .env_remove("DETSIM_EXHAUSTIVE")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{test} passed");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn a_failing_test_prints_the_report() {
    let report = child("attribute::planted_lost_update");
    assert!(report.contains("lost an update"), "{report}");
    assert!(
        report.contains("-- attribute::planted_lost_update --exact"),
        "{report}"
    );
    assert!(report.contains("DETSIM_REPLAY=ds"), "{report}");
    let report = child("attribute::planted_exhaustive_lost_update");
    assert!(report.contains("lost an update"), "{report}");
    assert!(
        report.contains("failed in an exhaustive exploration"),
        "{report}"
    );
    let report = child("attribute::planted_error");
    assert!(
        report.contains("the test returned an error: \"the body said no\""),
        "{report}"
    );
}

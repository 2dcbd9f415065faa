//! The determinism check: every seed twice, traces compared.

use std::collections::HashMap;

use detsim::{Builder, FailureKind};

/// Runs of [`spawn_in_run_order`] in this process: a static shared between runs.
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Spawns one named task per job, in an order that turns with every run of the
/// process (a static counter): two runs of the same seed spawn them differently.
async fn spawn_in_run_order() {
    let turn = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 8;
    let mut jobs: Vec<u32> = (0..8).collect();
    jobs.rotate_left(turn);
    spawn_jobs(jobs.into_iter().map(|i| (format!("job-{i}"), i))).await;
}

/// Spawns one named task per key, in the iteration order of a `HashMap` with the
/// standard random hasher.
async fn spawn_in_hash_order() {
    let map: HashMap<String, u32> = (0..8).map(|i| (format!("job-{i}"), i)).collect();
    spawn_jobs(map.into_iter()).await;
}

/// Spawns a task per `(name, value)` in order, and checks their values add up.
async fn spawn_jobs(jobs: impl Iterator<Item = (String, u32)>) {
    let handles: Vec<_> = jobs
        .map(|(name, value)| {
            detsim::task::Builder::new().name(name).spawn(async move {
                detsim::yield_now().await;
                value
            })
        })
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    assert_eq!(sum, 28);
}

/// With the OS's randomness sealed (Linux, glibc), a `HashMap`'s keys come from the
/// seed: the same seed iterates the same way in both runs, and the check passes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_hashmap_with_a_random_hasher_is_deterministic_in_a_sealed_run() {
    let report = Builder::new()
        .ignore_env()
        .seeds(20)
        .check_determinism(true)
        .explore(spawn_in_hash_order);
    assert!(
        report.passed(),
        "{:?}",
        report.failure.map(|f| f.to_string())
    );
}

#[test]
fn a_static_shared_between_runs_is_caught_and_the_divergence_named() {
    // Each run turns the order of the jobs, so two runs of the same seed spawn them in
    // different orders.
    let report = Builder::new()
        .ignore_env()
        .seeds(20)
        .check_determinism(true)
        .explore(spawn_in_run_order);
    let failure = report
        .failure
        .expect("the determinism check catches the static");
    assert_eq!(failure.kind, FailureKind::Nondeterminism);
    assert!(
        failure
            .message
            .starts_with("nondeterminism: two runs of the same seed diverged at event"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("first run:") && failure.message.contains("second run:"));
    // The first difference is a spawn: the same task id got another job's name.
    let first_line = failure.message.lines().nth(1).unwrap();
    assert!(
        first_line.contains("spawn t") && first_line.contains(" job-"),
        "{}",
        failure.message
    );
    assert!(failure.to_string().contains("DETSIM_SEED="), "{failure}");
}

#[test]
fn a_deterministic_body_passes_the_check() {
    let report = Builder::new()
        .ignore_env()
        .seeds(200)
        .check_determinism(true)
        .explore(|| async {
            let a = detsim::spawn(async {
                detsim::time::sleep(std::time::Duration::from_millis(
                    detsim::random::<u64>() % 50,
                ))
                .await;
                1
            });
            let b = detsim::spawn(async {
                detsim::yield_now().await;
                2
            });
            assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
        });
    assert!(
        report.passed(),
        "{:?}",
        report.failure.map(|f| f.to_string())
    );
    assert_eq!(report.seeds_run, 200);
}

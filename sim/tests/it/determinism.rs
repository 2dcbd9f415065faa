//! The determinism check: every seed twice, traces compared.

use std::collections::HashMap;

use detsim::{Builder, FailureKind};

/// Spawns one named task per key, in the iteration order of a `HashMap` with the
/// standard random hasher: a different order in every process and every map.
async fn spawn_in_hash_order() {
    let map: HashMap<String, u32> = (0..8).map(|i| (format!("job-{i}"), i)).collect();
    let handles: Vec<_> = map
        .into_iter()
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

#[test]
fn a_hashmap_with_a_random_hasher_is_caught_and_the_divergence_named() {
    // Each run builds a new map with fresh random keys for its hasher, so two runs of
    // the same seed spawn the jobs in different orders. (With 8! orders, the odds that
    // every seed of 20 draws the same order twice are nil.)
    let report = Builder::new()
        .ignore_env()
        .seeds(20)
        .check_determinism(true)
        .explore(spawn_in_hash_order);
    let failure = report
        .failure
        .expect("the determinism check catches the HashMap");
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

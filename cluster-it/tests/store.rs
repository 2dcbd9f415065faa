//! The write-ahead-log + snapshot store on a simulated disk (run with `--cfg detsim`):
//! the test writes through TCP, kills and restarts the node mid-way, then checks that
//! every acknowledged write survived. The default sweep finds each planted durability
//! bug (acknowledging before the sync; renaming a snapshot into place unsynced), and
//! the failure's token replays it; the correct variant passes without injected faults
//! and under swarm faults.
#![cfg(detsim)]

use std::collections::BTreeMap;
use std::time::Duration;

use detsim::cluster;
use detsim::{Builder, Failure, Faults};
use detsim_cluster_it::store::{Durability, store};
use detsim_cluster_it::{Conn, PORT, Request, parse_dump};
use tokio::time::{sleep, timeout};

/// Writes `puts` keys, one every 20 ms, restarting the store's node after the 8th
/// and the 15th acknowledged ones (a snapshot was just taken at the 8th); then ends
/// the fault phase and checks every acknowledged write.
async fn scenario(durability: Durability, puts: u64) {
    let db = cluster::node("db", move || store(durability));
    let target = format!("db:{PORT}");
    let mut acked = BTreeMap::new();
    let mut conn: Option<Conn> = None;
    for k in 0..puts {
        sleep(Duration::from_millis(20)).await;
        let mut c = match conn.take() {
            Some(c) => c,
            None => match timeout(Duration::from_secs(1), Conn::connect(&target)).await {
                Ok(Ok(c)) => c,
                _ => continue,
            },
        };
        if let Ok(Ok(answer)) =
            timeout(Duration::from_secs(3), c.call(Request::Put(k, k + 100))).await
        {
            if answer == "OK" {
                acked.insert(k, k + 100);
            }
            conn = Some(c);
        }
        if acked.len() == 8 || acked.len() == 15 {
            db.restart();
            conn = None;
        }
    }
    drop(conn);
    let stored =
        cluster::liveness("the store answers", Duration::from_secs(30), dump(&target)).await;
    for (k, v) in &acked {
        assert!(
            stored.get(k) == Some(v),
            "the store acknowledged the write of key {k}, but lost it after a crash"
        );
    }
}

/// The store's whole map, retrying until it answers.
async fn dump(target: &str) -> BTreeMap<u64, u64> {
    loop {
        let attempt = async {
            let mut conn = Conn::connect(target).await.ok()?;
            parse_dump(&conn.call(Request::Dump).await.ok()?)
        };
        if let Ok(Some(map)) = timeout(Duration::from_secs(2), attempt).await {
            return map;
        }
        sleep(Duration::from_millis(500)).await;
    }
}

/// The default sweep finds the bug of `durability`; its report says what the crash
/// kept, and its token replays it.
fn found_by_the_default_sweep(durability: Durability) -> Failure {
    let report = Builder::new().explore(|| scenario(durability, 24));
    let failure = report
        .failure
        .expect("the default sweep finds the lost write");
    eprintln!(
        "{durability:?}: found after {} seeds (seed {:#x})",
        report.seeds_run, failure.seed
    );
    assert!(
        report.seeds_run <= 1000,
        "found only after {} seeds",
        report.seeds_run
    );
    assert!(
        failure.message.contains("but lost it after a crash"),
        "{}",
        failure.message
    );
    let text = failure.to_string();
    if std::env::var_os("SHOW_REPORT").is_some() {
        eprintln!("{text}");
    }
    assert!(
        text.contains("crash db: "),
        "the report says what the crash kept: {text}"
    );
    // The trace file shows the disk's events on the node's tracks.
    let file = std::fs::read_to_string(failure.trace_file().expect("a trace file")).unwrap();
    assert!(
        file.contains("\"cat\":\"disk\""),
        "no disk events in the trace file"
    );
    assert!(
        file.contains("crash db: "),
        "no crash outcome in the trace file"
    );
    let again = Builder::new()
        .replay(&failure.replay_token(), || scenario(durability, 24))
        .expect_err("the replay fails again");
    assert_eq!(again.message, failure.message);
    failure
}

#[test]
fn the_default_sweep_finds_a_log_that_acknowledges_before_syncing() {
    let failure = found_by_the_default_sweep(Durability::AckBeforeSync);
    assert!(
        failure.to_string().contains("crash db: /data/wal: "),
        "{failure}"
    );
}

#[test]
fn the_default_sweep_finds_a_snapshot_renamed_into_place_unsynced() {
    let failure = found_by_the_default_sweep(Durability::RenameWithoutSync);
    assert!(failure.to_string().contains("/data/snap"), "{failure}");
}

/// Seeds of the correct variant in a plain run; `DETSIM_SEEDS=10000` for the full claim.
const CORRECT_SEEDS: u64 = 100;

#[test]
fn the_correct_store_keeps_every_acknowledged_write_without_injected_faults() {
    Builder::new()
        .faults(Faults::none())
        .seeds(CORRECT_SEEDS)
        .check(|| scenario(Durability::Correct, 24));
}

#[test]
fn the_correct_store_keeps_every_acknowledged_write_under_swarm_faults() {
    Builder::new()
        .faults(Faults::swarm())
        .seeds(CORRECT_SEEDS)
        .check(|| scenario(Durability::Correct, 24));
}

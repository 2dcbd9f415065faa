//! The primary-backup store as a simulated cluster (run with `--cfg detsim`): the
//! planted bug (asynchronous replication loses acknowledged writes when the primary
//! crashes) is found by a default sweep, whose report shows the fault plan and the
//! faults, and whose token replays it in another process; the fixed variant passes a
//! sweep under swarm faults and its liveness check.
#![cfg(detsim)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use detsim::cluster;
use detsim::{Builder, FailureKind, Faults};
use detsim_cluster_it::{Conn, Disk, PORT, Request, Variant, backup, parse_dump, primary};
use tokio::time::{sleep, timeout};

/// Writes `requests` keys through the primary, one every 100 ms, then ends the fault
/// phase and checks that the backup has every write the primary acknowledged.
async fn scenario(variant: Variant, requests: u64) {
    let (primary_disk, backup_disk) = (Disk::default(), Disk::default());
    cluster::node("backup", move || backup(backup_disk.clone()));
    cluster::node("primary", move || {
        primary(primary_disk.clone(), "backup:7000", variant)
    });
    let target = format!("primary:{PORT}");
    let mut acked = Vec::new();
    let mut conn: Option<Conn> = None;
    for k in 0..requests {
        sleep(Duration::from_millis(100)).await;
        let mut c = match conn.take() {
            Some(c) => c,
            None => match timeout(Duration::from_secs(1), Conn::connect(&target)).await {
                Ok(Ok(c)) => c,
                _ => continue,
            },
        };
        // No answer: the connection is dropped, and the write is not counted.
        if let Ok(Ok(answer)) =
            timeout(Duration::from_secs(3), c.call(Request::Put(k, k * 10))).await
        {
            if answer == "OK" {
                acked.push(k);
            }
            conn = Some(c);
        }
    }
    drop(conn);
    let stored = cluster::liveness(
        "the backup answers reads",
        Duration::from_secs(30),
        read_backup(),
    )
    .await;
    for k in &acked {
        assert!(
            stored.get(k) == Some(&(k * 10)),
            "the primary acknowledged the write of key {k}, but the backup does not have it"
        );
    }
}

/// Reads the backup's whole map, retrying until it answers.
async fn read_backup() -> BTreeMap<u64, u64> {
    loop {
        let attempt = async {
            let mut conn = Conn::connect(&format!("backup:{PORT}")).await.ok()?;
            parse_dump(&conn.call(Request::Dump).await.ok()?)
        };
        if let Ok(Some(map)) = timeout(Duration::from_secs(2), attempt).await {
            return map;
        }
        sleep(Duration::from_secs(1)).await;
    }
}

#[test]
fn the_default_sweep_finds_acknowledged_writes_lost_by_asynchronous_replication() {
    let report = Builder::new().explore(|| scenario(Variant::Buggy, 100));
    let failure = report
        .failure
        .expect("the default sweep finds the lost write");
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(
        failure.message.contains("but the backup does not have it"),
        "{}",
        failure.message
    );
    assert!(
        failure.fault_plan.is_some(),
        "a cluster runs under swarm faults by default"
    );
    let text = failure.to_string();
    assert!(text.contains("fault plan of this run"), "{text}");
    assert!(text.contains("Faults::explicit(Plan {"), "{text}");
    assert!(
        text.contains("kill primary"),
        "the crash that lost the write: {text}"
    );

    // The token replays it, here and in another process.
    let token = failure.replay_token();
    let again = Builder::new()
        .replay(&token, || scenario(Variant::Buggy, 100))
        .expect_err("the replay fails again");
    assert_eq!(again.message, failure.message);
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_checks_the_buggy_variant",
            "--nocapture",
        ])
        .env("DETSIM_REPLAY", &token)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&child.stdout) + String::from_utf8_lossy(&child.stderr);
    assert!(!child.status.success(), "{output}");
    assert!(output.contains(&failure.message), "{output}");
}

#[test]
#[ignore = "run in a child process with DETSIM_REPLAY by the test above"]
fn child_checks_the_buggy_variant() {
    detsim::check(|| scenario(Variant::Buggy, 100));
}

/// Seeds of the fixed variant in a plain run; `DETSIM_SEEDS=10000` for the full claim.
const FIXED_SEEDS: u64 = 150;

#[test]
fn the_fixed_variant_passes_a_sweep_under_swarm_faults_and_its_liveness_check() {
    Builder::new()
        .faults(Faults::swarm())
        .seeds(FIXED_SEEDS)
        .check(|| scenario(Variant::Fixed, 100));
}

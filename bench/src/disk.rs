//! `disk`: 1,000 appends of 512 bytes, each followed by a sync: detsim's simulated
//! disk (`detsim::fs`) against real `std::fs` (`write` + `fsync`) in a fresh temporary
//! directory of the machine.

use std::io::Write;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::measure::{median_time, ns_per, show};

const RECORD: usize = 512;

/// The appends on a simulated disk.
fn simulated(records: u64) {
    detsim_runtime::Runtime::new(3).block_on(async move {
        let mut file = detsim::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("/wal")
            .await
            .unwrap();
        let record = [7u8; RECORD];
        for _ in 0..records {
            file.write_all(&record).await.unwrap();
            file.sync_data().await.unwrap();
        }
    });
}

/// The same appends on the real disk.
fn real(records: u64, dir: &std::path::Path) -> Duration {
    let path = dir.join("wal");
    let start = std::time::Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let record = [7u8; RECORD];
    for _ in 0..records {
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
    }
    drop(file);
    std::fs::remove_file(&path).unwrap();
    start.elapsed()
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool) {
    let records = if quick { 20 } else { 1_000 };
    let reps = if quick { 3 } else { 7 };
    println!("## disk: {records} appends of {RECORD} bytes, each synced (median of {reps})");
    let dir = std::env::temp_dir().join(format!("detsim-bench-disk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = median_time(reps, || simulated(records));
    let theirs = median_time(reps, || real(records, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "  {:<36} {:>10}  ({:.0} ns per write + sync)",
        "detsim simulated disk",
        show(ours),
        ns_per(ours, records)
    );
    println!(
        "  {:<36} {:>10}  ({:.0} ns per write + sync)",
        "std::fs + fdatasync, real disk",
        show(theirs),
        ns_per(theirs, records)
    );
    println!(
        "  detsim/real wall time = {:.4} (below 1: the simulation is faster)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

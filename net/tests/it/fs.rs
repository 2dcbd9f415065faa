//! The simulated disks: each host's files are its own, survive a node's kill and
//! restart, and a crash decides (as a recorded decision of the seed) what becomes of
//! unsynced writes and directory changes: synced data is never lost, a rename is
//! atomic, and a run that syncs everything draws no crash decision.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use detsim::choice::DecisionKind;
use detsim::cluster::{self, Faults};
use detsim::fs::{self, File, OpenOptions};
use detsim::time;
use detsim_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `body` under `seed` with no injected faults; returns its output and the
/// kinds of the decisions it drew.
fn run<F: std::future::Future>(seed: u64, body: F) -> (F::Output, Vec<(DecisionKind, u32)>) {
    let mut rt = Runtime::new(seed);
    rt.set_run_input(Some(Faults::none()));
    let output = rt.block_on(body);
    let kinds = rt.decisions().iter().map(|d| (d.kind, d.options)).collect();
    (output, kinds)
}

/// Appends `line` to `/log` on the current host, syncing it if `sync`.
async fn append(line: &str, sync: bool) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open("/log")
        .await
        .unwrap();
    file.write_all(line.as_bytes()).await.unwrap();
    if sync {
        file.sync_all().await.unwrap();
        File::open("/").await.unwrap().sync_all().await.unwrap();
    }
}

/// What the node wrote to `/log` before its kill, as its next incarnation reads it.
type Seen = Rc<RefCell<Vec<String>>>;

/// A node that appends `a` synced and then `b` unsynced on its first run, and on
/// later runs reads `/log` into `seen`.
fn writer(seen: Seen) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    move || {
        let seen = seen.clone();
        Box::pin(async move {
            match fs::read_to_string("/log").await {
                Ok(text) => seen.borrow_mut().push(text),
                Err(_) => {
                    append("a", true).await;
                    append("b", false).await;
                }
            }
        })
    }
}

#[test]
fn every_host_has_its_own_disk_and_a_nodes_files_survive_its_restart() {
    for seed in 0..10 {
        let ((), kinds) = run(seed, async {
            let seen = Seen::default();
            let db = cluster::node("db", writer(seen.clone()));
            let other = cluster::node("other", || async {
                assert!(!fs::try_exists("/log").await.unwrap(), "db's file leaked");
                fs::write("/mine", b"other's").await.unwrap();
            });
            time::sleep(std::time::Duration::from_secs(1)).await;
            assert!(
                !fs::try_exists("/log").await.unwrap(),
                "the test host has its own disk"
            );
            assert!(!fs::try_exists("/mine").await.unwrap());
            db.restart();
            other.restart();
            time::sleep(std::time::Duration::from_secs(1)).await;
            let seen = seen.borrow();
            assert_eq!(seen.len(), 1);
            // The synced write survives whatever the crash decided; the unsynced one is
            // kept, lost, or torn (nothing landed, the file at its old or new length).
            assert!(["a", "ab", "a\0"].contains(&seen[0].as_str()), "{seen:?}");
        });
        assert!(
            kinds.iter().any(|&(k, _)| k == DecisionKind::Crash),
            "the kill with unsynced writes drew a crash decision: {kinds:?}"
        );
    }
}

#[test]
fn a_crash_keeps_or_loses_unsynced_writes_as_the_seed_decides_and_replays_alike() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..40 {
        let body = || async {
            let seen = Seen::default();
            let db = cluster::node("db", writer(seen.clone()));
            time::sleep(std::time::Duration::from_secs(1)).await;
            db.restart();
            time::sleep(std::time::Duration::from_secs(1)).await;
            let text = seen.borrow()[0].clone();
            (text, fs::crash_report())
        };
        let (first, kinds) = run(seed, body());
        let (second, _) = run(seed, body());
        assert_eq!(first, second, "seed {seed} ran two ways");
        let crash: Vec<_> = kinds
            .iter()
            .filter(|(k, _)| *k == DecisionKind::Crash)
            .collect();
        // The unsynced append of "b": kept, lost or torn, after "a" and the file's entry
        // were synced. A 1-byte write tears with nothing landed, the file at its old
        // length or its new one (a second decision between the two).
        assert_eq!(crash[0], &(DecisionKind::Crash, 3), "{kinds:?}");
        assert!(
            crash.len() == 1 || crash[1] == &(DecisionKind::Crash, 2),
            "{kinds:?}"
        );
        let (node, lines) = &first.1[0];
        assert_eq!(node, "db");
        assert!(lines[0].starts_with("/log: "), "{lines:?}");
        outcomes.insert(first.0);
    }
    let all = ["a", "ab", "a\0"].map(str::to_owned);
    assert_eq!(outcomes, BTreeSet::from(all));
}

#[test]
fn a_run_that_syncs_everything_draws_no_crash_decision() {
    for seed in 0..10 {
        let (text, kinds) = run(seed, async {
            let db = cluster::node("db", || async {
                if fs::try_exists("/log").await.unwrap() {
                    return;
                }
                append("a", true).await;
            });
            time::sleep(std::time::Duration::from_secs(1)).await;
            db.restart();
            let text = db.spawn(async { fs::read_to_string("/log").await.unwrap() });
            text.await.unwrap()
        });
        assert_eq!(text, "a");
        assert!(
            kinds.iter().all(|&(k, _)| k != DecisionKind::Crash),
            "{kinds:?}"
        );
    }
}

#[test]
fn an_unsynced_rename_is_atomic_and_a_synced_one_is_durable() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..30 {
        for sync_dir in [false, true] {
            let (text, _) = run(seed, async move {
                let db = cluster::node("db", move || async move {
                    if fs::try_exists("/state").await.unwrap() {
                        return;
                    }
                    fs::write("/state", b"old").await.unwrap();
                    File::open("/state")
                        .await
                        .unwrap()
                        .sync_all()
                        .await
                        .unwrap();
                    File::open("/").await.unwrap().sync_all().await.unwrap();
                    let mut tmp = File::create("/tmp").await.unwrap();
                    tmp.write_all(b"new").await.unwrap();
                    tmp.sync_all().await.unwrap();
                    fs::rename("/tmp", "/state").await.unwrap();
                    if sync_dir {
                        File::open("/").await.unwrap().sync_all().await.unwrap();
                    }
                });
                time::sleep(std::time::Duration::from_secs(1)).await;
                db.restart();
                db.spawn(async { fs::read_to_string("/state").await.unwrap() })
                    .await
                    .unwrap()
            });
            if sync_dir {
                assert_eq!(text, "new");
            } else {
                assert!(text == "old" || text == "new", "{text:?}");
                outcomes.insert(text);
            }
        }
    }
    assert_eq!(
        outcomes.len(),
        2,
        "both outcomes of an unsynced rename occur"
    );
}

#[test]
fn a_handle_from_before_a_crash_is_stale_and_reads_see_the_restarted_disk() {
    run(1, async {
        let db = cluster::node("db", || async {});
        let handle = db
            .spawn(async {
                let mut f = File::create("/x").await.unwrap();
                f.write_all(b"1").await.unwrap();
                f
            })
            .await
            .unwrap();
        db.restart();
        let error = handle.sync_all().await.unwrap_err();
        assert!(
            error.to_string().contains("before its host crashed"),
            "{error}"
        );
        let mut buf = Vec::new();
        let read = db.spawn(async move {
            let mut f = File::open("/").await.unwrap();
            f.read_to_end(&mut buf).await.unwrap_err().kind()
        });
        assert_eq!(read.await.unwrap(), std::io::ErrorKind::IsADirectory);
    });
}

#[test]
#[should_panic(expected = "outside a detsim simulation")]
fn file_operations_outside_a_simulation_panic_with_a_clear_message() {
    let _ = futures_lite_block_on(fs::read("/x"));
}

/// Polls `future` once outside any runtime (it completes or panics in its first poll).
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("pending"),
    }
}

/// Runs `body` under an explicit plan with `disk` faults.
fn run_with_disk_faults<F: std::future::Future>(disk: cluster::DiskFaults, body: F) -> F::Output {
    let plan = cluster::Plan {
        disk,
        ..cluster::Plan::NONE
    };
    let mut rt = Runtime::new(7);
    rt.set_run_input(Some(Faults::explicit(plan)));
    rt.block_on(body)
}

#[test]
fn injected_io_errors_fail_writes_and_a_failed_sync_loses_the_writes_it_covered() {
    let faults = cluster::DiskFaults {
        error: 1.0,
        ..cluster::DiskFaults::NONE
    };
    run_with_disk_faults(faults, async {
        let db = cluster::node("db", || async {});
        db.spawn(async {
            let error = fs::write("/x", b"1").await.unwrap_err();
            assert!(error.to_string().contains("injected"), "{error}");
            assert!(fs::read("/x").await.is_err());
        })
        .await
        .unwrap();
        // After the fault phase, nothing is injected.
        cluster::stop_faults();
        db.spawn(async {
            fs::write("/x", b"1").await.unwrap();
            assert_eq!(fs::read("/x").await.unwrap(), b"1");
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_failed_sync_drops_the_unsynced_writes_and_the_next_sync_may_succeed() {
    let faults = cluster::DiskFaults {
        error: 0.3,
        ..cluster::DiskFaults::NONE
    };
    let plan = cluster::Plan {
        disk: faults,
        ..cluster::Plan::NONE
    };
    let mut failed_syncs = 0;
    for seed in 0..60 {
        let mut rt = Runtime::new(seed);
        rt.set_run_input(Some(Faults::explicit(plan)));
        let failed = rt.block_on(async {
            let db = cluster::node("db", || async {});
            db.spawn(async {
                // Until a synced "synced" is on disk (every step may fail).
                let mut f = loop {
                    let Ok(mut f) = File::create("/x").await else {
                        continue;
                    };
                    if f.write_all(b"synced").await.is_ok() && f.sync_all().await.is_ok() {
                        break f;
                    }
                };
                while f.write_all(b" and more").await.is_err() {}
                let failed = f.sync_all().await.is_err();
                cluster::stop_faults();
                let text = fs::read("/x").await.unwrap();
                if failed {
                    assert_eq!(text, b"synced", "a failed sync lost the writes it covered");
                    f.sync_all().await.unwrap();
                } else {
                    assert_eq!(text, b"synced and more");
                }
                failed
            })
            .await
            .unwrap()
        });
        failed_syncs += u32::from(failed);
    }
    assert!(failed_syncs > 0, "some seed's sync failed");
}

#[test]
fn a_full_disk_refuses_growth_and_latency_takes_simulated_time() {
    let faults = cluster::DiskFaults {
        capacity: Some(1000),
        latency: std::time::Duration::from_millis(5),
        ..cluster::DiskFaults::NONE
    };
    run_with_disk_faults(faults, async {
        let db = cluster::node("db", || async {});
        db.spawn(async {
            let start = time::now();
            fs::write("/a", vec![1; 600]).await.unwrap();
            assert_eq!(time::now() - start, std::time::Duration::from_millis(5));
            let error = fs::write("/b", vec![2; 600]).await.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
            // Replacing /a by something no longer fits within the capacity.
            fs::write("/a", vec![3; 900]).await.unwrap();
        })
        .await
        .unwrap();
    });
}

#[test]
fn reads_writes_and_seeks_on_a_file_take_the_disk_latency_too() {
    use std::io::SeekFrom;
    use std::time::Duration;
    use tokio::io::AsyncSeekExt;
    let latency = Duration::from_millis(5);
    let faults = cluster::DiskFaults {
        latency,
        ..cluster::DiskFaults::NONE
    };
    run_with_disk_faults(faults, async move {
        let db = cluster::node("db", || async {});
        db.spawn(async move {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .open("/f")
                .await
                .unwrap();
            // Each poll operation waits out the latency once, then completes.
            let start = time::now();
            file.write_all(b"hello").await.unwrap();
            assert_eq!(time::now() - start, latency, "one poll_write");
            file.write_all(b" world").await.unwrap();
            assert_eq!(time::now() - start, 2 * latency, "two poll_writes");
            assert_eq!(file.seek(SeekFrom::Start(6)).await.unwrap(), 6);
            assert_eq!(time::now() - start, 3 * latency, "a seek");
            let mut word = [0; 5];
            file.read_exact(&mut word).await.unwrap();
            assert_eq!(&word, b"world");
            assert_eq!(time::now() - start, 4 * latency, "one poll_read");
            let other = time::now();
            file.rewind().await.unwrap();
            let mut all = String::new();
            file.read_to_string(&mut all).await.unwrap();
            assert_eq!(all, "hello world");
            // The rewind, a read of the data, and the read that finds the end.
            assert_eq!(time::now() - other, 3 * latency);
        })
        .await
        .unwrap();
    });
}

#[test]
fn faults_none_injects_no_disk_fault() {
    // Faults::none(): a crash decision, never a fault decision.
    let ((), kinds) = run(3, async {
        let db = cluster::node("db", || async {
            fs::write("/x", b"unsynced").await.unwrap();
        });
        time::sleep(std::time::Duration::from_secs(1)).await;
        db.kill();
    });
    assert!(
        kinds.iter().all(|&(k, _)| k != DecisionKind::Fault),
        "{kinds:?}"
    );
}

/// A file handle kept past its run names that run (the runtime's `run_id`, not a
/// counter of the network's own): two runs on one thread, the second refuses the first
/// run's handle, and dropping it outside a run is quiet.
#[test]
fn a_file_kept_past_its_run_belongs_to_no_later_run() {
    let (mut kept, _) = run(1, async {
        fs::write("/kept", b"one").await.unwrap();
        File::open("/kept").await.unwrap()
    });
    let reused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(1, async {
            fs::write("/kept", b"two").await.unwrap();
            let mut text = String::new();
            let _ = kept.read_to_string(&mut text).await;
        })
    }));
    let payload = reused.expect_err("the kept file is refused");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(message.contains("belongs to another run"), "{message}");
    drop(kept);
}

//! A key-value store on one node's disk, written only against `tokio::fs`: a
//! write-ahead log plus snapshots, served over TCP (`PUT k v` → `OK`, `GET k`, `DUMP`,
//! the protocol of the crate root). Under `--cfg detsim` its tests
//! (`tests/store.rs`) kill and restart the node, whose simulated disk then keeps, loses
//! or tears what was not synced.
//!
//! # On disk
//! - `/data/wal`: one line `PUT k v` per accepted write, appended;
//! - `/data/snap`: the whole map, one line `k v` per key, replaced by writing
//!   `/data/snap.tmp` and renaming it over `/data/snap` every [`SNAPSHOT_EVERY`]
//!   writes, after which the log is emptied.
//!
//! Recovery loads the snapshot, replays the log's complete lines, and cuts the log
//! back to them (a torn last record is never trusted, and never followed by new ones);
//! it is retried while the disk refuses. A write the disk refuses (an I/O error, a
//! full disk, a failed sync) is answered `ERR`.
//!
//! # Durability variants
//! - [`Durability::Correct`]: a write is synced before `OK`; a snapshot is synced,
//!   renamed, and the directory synced, before the log is emptied.
//! - [`Durability::AckBeforeSync`] (planted bug): `OK` at once; a flusher task syncs
//!   the log every 50 ms (group commit without waiting for it).
//! - [`Durability::RenameWithoutSync`] (planted bug): the snapshot file is renamed into
//!   place without syncing it or the directory, then the log is emptied (and that is
//!   synced): a crash can leave the new name with the old, empty contents.

use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::{PORT, Request, serve};

/// A snapshot every this many writes.
pub const SNAPSHOT_EVERY: u64 = 4;

/// How the store makes writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Sync before acknowledging; sync a snapshot and its directory before emptying the log.
    Correct,
    /// Acknowledge at once, sync the log every 50 ms (the planted bug).
    AckBeforeSync,
    /// Rename the snapshot into place without syncing it or the directory (the planted bug).
    RenameWithoutSync,
}

const DIR: &str = "/data";
const WAL: &str = "/data/wal";
const SNAP: &str = "/data/snap";
const SNAP_TMP: &str = "/data/snap.tmp";

/// The store's state on one incarnation of its node.
#[derive(Debug)]
struct Store {
    durability: Durability,
    map: BTreeMap<u64, u64>,
    wal: File,
    since_snapshot: u64,
}

/// Parses `k v` pairs after `prefix` from complete lines of `text`; returns them and
/// the length of the valid prefix (the first line that is not complete and valid ends it).
fn parse_lines(text: &[u8], prefix: &str) -> (Vec<(u64, u64)>, usize) {
    let mut pairs = Vec::new();
    let mut valid = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            break;
        };
        let Some(pair) = std::str::from_utf8(body)
            .ok()
            .and_then(|s| s.strip_prefix(prefix))
            .and_then(|s| {
                let (k, v) = s.split_once(' ')?;
                Some((k.parse().ok()?, v.parse().ok()?))
            })
        else {
            break;
        };
        pairs.push(pair);
        valid += line.len();
    }
    (pairs, valid)
}

async fn sync_dir(path: &str) -> io::Result<()> {
    File::open(path).await?.sync_all().await
}

impl Store {
    /// Loads the snapshot and replays the log, cutting a torn tail.
    async fn recover(durability: Durability) -> io::Result<Store> {
        fs::create_dir_all(DIR).await?;
        sync_dir("/").await?;
        let mut map = BTreeMap::new();
        // No snapshot yet is an empty map; any other error is not (an I/O error
        // taken for absence would lose the snapshot's keys).
        match fs::read(SNAP).await {
            Ok(snap) => map.extend(parse_lines(&snap, "").0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut wal = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(WAL)
            .await?;
        let mut log = Vec::new();
        wal.read_to_end(&mut log).await?;
        let (records, valid) = parse_lines(&log, "PUT ");
        map.extend(records);
        if valid < log.len() {
            wal.set_len(valid as u64).await?;
        }
        wal.sync_all().await?;
        sync_dir(DIR).await?;
        Ok(Store {
            durability,
            map,
            wal,
            since_snapshot: 0,
        })
    }

    /// Logs and applies a write; `Ok` means it may be acknowledged.
    async fn put(&mut self, k: u64, v: u64) -> io::Result<()> {
        self.wal
            .write_all(format!("PUT {k} {v}\n").as_bytes())
            .await?;
        if self.durability != Durability::AckBeforeSync {
            self.wal.sync_data().await?;
        }
        self.map.insert(k, v);
        self.since_snapshot += 1;
        if self.since_snapshot >= SNAPSHOT_EVERY {
            self.snapshot().await?;
        }
        Ok(())
    }

    /// Replaces the snapshot with the whole map, then empties the log.
    async fn snapshot(&mut self) -> io::Result<()> {
        let careful = self.durability != Durability::RenameWithoutSync;
        let text: String = self.map.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        let mut tmp = File::create(SNAP_TMP).await?;
        tmp.write_all(text.as_bytes()).await?;
        if careful {
            tmp.sync_all().await?;
        }
        drop(tmp);
        fs::rename(SNAP_TMP, SNAP).await?;
        if careful {
            sync_dir(DIR).await?;
        }
        self.wal.set_len(0).await?;
        self.wal.sync_all().await?;
        self.since_snapshot = 0;
        Ok(())
    }
}

/// The store's node: recovers from its disk, then serves `PUT`, `GET` and `DUMP` on
/// [`PORT`].
pub async fn store(durability: Durability) {
    // A disk may refuse (an I/O error under a fault plan): retry until it works.
    let store = loop {
        match Store::recover(durability).await {
            Ok(store) => break store,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let store = Rc::new(Mutex::new(store));
    if durability == Durability::AckBeforeSync {
        let flushed = store.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = flushed.lock().await.wal.sync_data().await;
            }
        });
    }
    let listener = TcpListener::bind(("0.0.0.0", PORT))
        .await
        .expect("the store's port is free");
    serve(listener, move |request| {
        let store = store.clone();
        async move {
            let mut store = store.lock().await;
            match request {
                Request::Put(k, v) => match store.put(k, v).await {
                    Ok(()) => "OK".to_owned(),
                    Err(e) => format!("ERR {e}"),
                },
                Request::Get(k) => match store.map.get(&k) {
                    Some(v) => format!("VAL {v}"),
                    None => "NONE".to_owned(),
                },
                Request::Dump => {
                    let mut answer = "MAP".to_owned();
                    for (k, v) in &store.map {
                        answer.push_str(&format!(" {k}:{v}"));
                    }
                    answer
                }
                _ => "ERR not served by the store".to_owned(),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::parse_lines;

    #[test]
    fn a_torn_or_zeroed_tail_ends_the_valid_prefix() {
        let (pairs, valid) = parse_lines(b"PUT 1 10\nPUT 2 20\nPUT 3", "PUT ");
        assert_eq!((pairs, valid), (vec![(1, 10), (2, 20)], 18));
        let (pairs, valid) = parse_lines(b"PUT 1 10\nPUT 2\0\0\0\n", "PUT ");
        assert_eq!((pairs, valid), (vec![(1, 10)], 9));
    }
}

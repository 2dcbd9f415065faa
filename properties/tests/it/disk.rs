//! The simulated disk under generated sequences of file operations and crashes: after
//! every crash, what survives is a state the model allows — the directory is the state
//! after some prefix of its unsynced changes (so a rename is atomic and a synced entry
//! is never lost), a file with no unsynced writes has exactly its contents, a file
//! with unsynced writes holds only bytes that were written to it, were durable, or
//! zeros — nothing outside the node's own files changes, and each seed's trace is
//! identical across runs.

use std::collections::BTreeMap;
use std::io::SeekFrom;

use detsim::Builder;
use detsim::cluster::{self, Faults};
use detsim::fs::{self, File, OpenOptions};
use proptest::prelude::*;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

const FILES: [&str; 3] = ["/a", "/b", "/c"];

/// One step of a generated program, run by the node (or, for `Crash`, by the test).
#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Write(usize, u64, usize),
    Append(usize, usize),
    SetLen(usize, u64),
    SyncFile(usize),
    SyncDir,
    Remove(usize),
    Rename(usize, usize),
    Crash,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let f = 0..FILES.len();
    let op = prop_oneof![
        2 => f.clone().prop_map(Op::Create),
        4 => (f.clone(), 0u64..1500, 1usize..1100).prop_map(|(f, o, n)| Op::Write(f, o, n)),
        3 => (f.clone(), 1usize..700).prop_map(|(f, n)| Op::Append(f, n)),
        1 => (f.clone(), 0u64..2000).prop_map(|(f, n)| Op::SetLen(f, n)),
        3 => f.clone().prop_map(Op::SyncFile),
        2 => Just(Op::SyncDir),
        1 => f.clone().prop_map(Op::Remove),
        2 => (f.clone(), f).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => Just(Op::Crash),
    ];
    prop::collection::vec(op, 1..40)
}

/// The test's model of one file (an inode): what reads see, what the last sync made
/// durable, and since then: the writes (offset, bytes), whether a `set_len` ran, and
/// the length after each change.
#[derive(Debug, Clone, Default)]
struct Ino {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<(usize, Vec<u8>)>,
    resized: bool,
    lens: Vec<usize>,
}

impl Ino {
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        if self.live.len() < offset + bytes.len() {
            self.live.resize(offset + bytes.len(), 0);
        }
        self.live[offset..offset + bytes.len()].copy_from_slice(bytes);
        self.pending.push((offset, bytes.to_vec()));
        self.lens.push(self.live.len());
    }

    fn set_len(&mut self, len: usize) {
        self.live.resize(len, 0);
        self.resized = true;
        self.lens.push(len);
    }

    fn sync(&mut self) {
        self.durable = self.live.clone();
        self.pending.clear();
        self.resized = false;
        self.lens.clear();
    }

    /// Whether a crash may have left `content`: with nothing unsynced, exactly the
    /// contents; otherwise a length the file had since its last sync, and at each
    /// offset the durable byte (zero past the durable end), a byte an unsynced write
    /// put there, or zero after an unsynced `set_len`.
    fn allows(&self, content: &[u8]) -> bool {
        if self.lens.is_empty() {
            return content == self.live;
        }
        let durable_len = self.durable.len();
        let shortest = self
            .lens
            .iter()
            .copied()
            .chain([durable_len])
            .min()
            .unwrap();
        let longest = self
            .lens
            .iter()
            .copied()
            .chain([durable_len])
            .max()
            .unwrap();
        if content.len() < shortest || content.len() > longest {
            return false;
        }
        content.iter().enumerate().all(|(i, &b)| {
            let durable = self.durable.get(i).copied().unwrap_or(0);
            b == durable
                || (self.resized && b == 0)
                || self
                    .pending
                    .iter()
                    .any(|(o, w)| i >= *o && i < o + w.len() && w[i - o] == b)
        })
    }
}

/// The model: inodes, the live names, and every namespace since the last directory
/// sync (a crash leaves one of them).
#[derive(Debug, Default)]
struct Model {
    inodes: Vec<Ino>,
    names: BTreeMap<usize, usize>,
    since_sync: Vec<BTreeMap<usize, usize>>,
}

impl Model {
    fn changed_names(&mut self) {
        self.since_sync.push(self.names.clone());
    }

    /// Checks what the disk holds after a crash against the model, and adopts it.
    fn crashed(&mut self, found: &BTreeMap<usize, Vec<u8>>) {
        let state = self
            .since_sync
            .iter()
            .find(|names| {
                names.keys().eq(found.keys())
                    && names
                        .iter()
                        .all(|(f, &ino)| self.inodes[ino].allows(&found[f]))
            })
            .unwrap_or_else(|| {
                let lens: BTreeMap<_, _> =
                    found.iter().map(|(f, c)| (FILES[*f], c.len())).collect();
                let inodes: Vec<_> = self
                    .inodes
                    .iter()
                    .map(|i| (i.live.len(), i.durable.len(), i.lens.len()))
                    .collect();
                panic!(
                    "after a crash the disk holds files of lengths {lens:?}, which no prefix of \
                     the unsynced directory changes with allowed contents explains; the model's \
                     names (file -> inode) since the last directory sync: {:?}; its inodes \
                     (live length, durable length, unsynced changes): {inodes:?}",
                    self.since_sync
                )
            })
            .clone();
        for (f, &ino) in &state {
            self.inodes[ino].live = found[f].clone();
            self.inodes[ino].sync();
        }
        self.names = state;
        self.since_sync = vec![self.names.clone()];
    }
}

/// A byte distinct per write (never 0), so that what landed can be told apart.
fn fill(step: usize, n: usize) -> Vec<u8> {
    vec![(step % 255) as u8 + 1; n]
}

async fn on_node<T: 'static>(
    node: &cluster::Node,
    f: impl std::future::Future<Output = T> + 'static,
) -> T {
    node.spawn(f).await.expect("the node's step completes")
}

/// Runs `ops` on node `db`, checking the disk after every crash and at the end; and
/// that the test host's and another node's files never change.
async fn program(ops: Vec<Op>) {
    fs::write("/a", b"the test host's").await.unwrap();
    let other = cluster::node("other", || async {});
    on_node(&other, fs::write("/a", b"other's")).await.unwrap();
    let db = cluster::node("db", || async {});
    let mut model = Model::default();
    model.since_sync.push(BTreeMap::new());
    for (step, op) in ops.into_iter().enumerate() {
        let path = |f: usize| FILES[f];
        match op {
            Op::Create(f) => {
                if !model.names.contains_key(&f) {
                    on_node(&db, async move {
                        File::create(path(f)).await.unwrap();
                    })
                    .await;
                    model.inodes.push(Ino::default());
                    model.names.insert(f, model.inodes.len() - 1);
                    model.changed_names();
                }
            }
            Op::Write(f, offset, n) => {
                if let Some(&ino) = model.names.get(&f) {
                    let bytes = fill(step, n);
                    let b = bytes.clone();
                    on_node(&db, async move {
                        let mut file = OpenOptions::new().write(true).open(path(f)).await.unwrap();
                        file.seek(SeekFrom::Start(offset)).await.unwrap();
                        file.write_all(&b).await.unwrap();
                    })
                    .await;
                    model.inodes[ino].write(offset as usize, &bytes);
                }
            }
            Op::Append(f, n) => {
                if let Some(&ino) = model.names.get(&f) {
                    let bytes = fill(step, n);
                    let b = bytes.clone();
                    on_node(&db, async move {
                        let mut file = OpenOptions::new().append(true).open(path(f)).await.unwrap();
                        file.write_all(&b).await.unwrap();
                    })
                    .await;
                    let end = model.inodes[ino].live.len();
                    model.inodes[ino].write(end, &bytes);
                }
            }
            Op::SetLen(f, len) => {
                if let Some(&ino) = model.names.get(&f) {
                    on_node(&db, async move {
                        let file = OpenOptions::new().write(true).open(path(f)).await.unwrap();
                        file.set_len(len).await.unwrap();
                    })
                    .await;
                    model.inodes[ino].set_len(len as usize);
                }
            }
            Op::SyncFile(f) => {
                if let Some(&ino) = model.names.get(&f) {
                    on_node(&db, async move {
                        File::open(path(f)).await.unwrap().sync_all().await.unwrap();
                    })
                    .await;
                    model.inodes[ino].sync();
                }
            }
            Op::SyncDir => {
                on_node(&db, async {
                    File::open("/").await.unwrap().sync_all().await.unwrap();
                })
                .await;
                model.since_sync = vec![model.names.clone()];
            }
            Op::Remove(f) => {
                if model.names.remove(&f).is_some() {
                    on_node(&db, async move { fs::remove_file(path(f)).await.unwrap() }).await;
                    model.changed_names();
                }
            }
            Op::Rename(a, b) => {
                if let Some(ino) = model.names.get(&a).copied() {
                    on_node(
                        &db,
                        async move { fs::rename(path(a), path(b)).await.unwrap() },
                    )
                    .await;
                    if a != b {
                        model.names.remove(&a);
                        model.names.insert(b, ino);
                        model.changed_names();
                    }
                }
            }
            Op::Crash => {
                db.restart();
                let found = on_node(&db, read_all()).await;
                model.crashed(&found);
            }
        }
    }
    let found = on_node(&db, read_all()).await;
    for (f, &ino) in &model.names {
        assert_eq!(found.get(f), Some(&model.inodes[ino].live), "{}", FILES[*f]);
    }
    assert_eq!(found.len(), model.names.len());
    assert_eq!(fs::read("/a").await.unwrap(), b"the test host's");
    assert_eq!(on_node(&other, fs::read("/a")).await.unwrap(), b"other's");
}

/// Every file of the current host's root, by index in [`FILES`].
async fn read_all() -> BTreeMap<usize, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut entries = fs::read_dir("/").await.unwrap();
    while let Some(entry) = entries.next_entry().await.unwrap() {
        let path = entry.path();
        let f = FILES
            .iter()
            .position(|p| std::path::Path::new(p) == path)
            .unwrap_or_else(|| panic!("an entry no operation made: {}", path.display()));
        found.insert(f, fs::read(&path).await.unwrap());
    }
    found
}

/// 256 cases unless `PROPTEST_CASES` says otherwise (each case is two runs of a few
/// milliseconds).
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn what_survives_a_crash_is_a_state_the_model_allows_and_runs_are_deterministic(
        ops in ops(),
        seed in any::<u64>(),
    ) {
        let report = Builder::new()
            .seed(seed)
            .faults(Faults::none())
            .check_determinism(true)
            .explore(|| program(ops.clone()));
        if let Some(failure) = report.failure {
            panic!("{failure}");
        }
    }
}

//! A simulated file system per host, with tokio's `fs` signatures, and a disk that can
//! crash: `detsim::fs`, and `tokio::fs` under `--cfg detsim`.
//!
//! # Design
//! Every host has its own disk, created empty on first use in a run: each cluster
//! node's (which survives [`Node::kill`](crate::cluster::Node::kill) and
//! [`Node::restart`](crate::cluster::Node::restart)), and the test body's (tasks on no
//! node). A task's file operations go to its node's disk; an open [`File`] stays on
//! the disk it was opened on. Nothing here touches a real file: the disks are the
//! run's state and vanish with the run. A [`Fixture`] reads real files before the run
//! and copies them onto a disk inside it.
//!
//! Every operation completes in the poll that makes it; virtual time does not move,
//! unless the fault plan gives the disks a latency ([`DiskFaults`]): then each `async
//! fn` sleeps that long first, and each `poll_read`, `poll_write` and seek of a
//! [`File`] arms a timer of that latency and returns `Pending` before it is made.
//!
//! # What a crash leaves
//! Writes and directory changes are visible at once and durable only once synced:
//! a file's writes by [`File::sync_all`] / [`File::sync_data`] on it, a directory's
//! entry changes (create, remove, rename, hard link) by `sync_all` on the directory
//! opened with [`File::open`]. When a node is killed, what becomes of the unsynced
//! changes on its disk is a [`DecisionKind::Crash`](detsim_runtime::DecisionKind)
//! decision of the seed (recorded, replayed, shrunk, option 0 keeping everything):
//!
//! 1. the uncommitted directory changes, in the order they were made: a prefix
//!    survives (one decision among `n + 1`: option `i` loses the last `i`); a change
//!    made durable by a directory sync always survives, and a rename is one change,
//!    so it happened or did not;
//! 2. then each surviving file with unsynced writes, in inode order: its writes are
//!    kept, lost (back to the last sync), or, when the last change is a write, torn:
//!    every earlier write lands and the last one lands up to a 512-byte boundary of
//!    the file (one more decision says where), the file ending there or at the
//!    write's new end with zeros where the data did not land.
//!
//! A file that no surviving entry reaches is gone. The trace notes each outcome
//! (`crash db: /wal: lost its 3 unsynced writes (0 bytes now)`). Handles opened before
//! the crash are stale: their operations fail.
//!
//! # Determinism
//! Directory listings are in name order; inode numbers count from 1 per disk; no
//! clock, environment or hash order is read. A crash draws its decisions only when
//! the disk has unsynced changes, so a run that syncs everything (or writes nothing)
//! has the same schedule as before disks existed.

mod disk;
mod file;
mod ops;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use detsim_runtime::choice::{DecisionKind, decide};
use detsim_runtime::extension;
use detsim_runtime::node::{self as rt_node, NodeId};

use crate::cluster::DiskFaults;
use disk::Disk;
pub use file::{File, OpenOptions};
use ops::{OpenFlags, components, error};
/// The times [`File::set_times`] takes (std's type, as tokio re-exports it).
pub use std::fs::FileTimes;

/// The run's disks, by runtime node (0: the test body's host).
#[derive(Debug)]
pub(crate) struct FsState {
    epoch: u64,
    disks: RefCell<BTreeMap<u32, Disk>>,
    /// What each crash left: (node name, a line per file or entry decision).
    crashes: RefCell<Vec<(String, Vec<String>)>>,
    /// The plan's disk faults, settled on first use.
    faults: Cell<Option<DiskFaults>>,
}

fn state(what: &str) -> Rc<FsState> {
    assert!(
        detsim_runtime::in_simulation(),
        "`{what}` was called outside a detsim simulation; the simulated disks exist only \
         inside a run (`detsim::check`, a `detsim::Builder`, `#[tokio::test]` under \
         `--cfg detsim`, or `Runtime::block_on`); in tokio's words, there is no reactor \
         running, must be called from the context of a Tokio 1.x runtime"
    );
    extension::run_state(|| FsState {
        // The run's identity, the runtime's: a handle's epoch names its run.
        epoch: detsim_runtime::run_id(),
        disks: RefCell::new(BTreeMap::new()),
        crashes: RefCell::new(Vec::new()),
        faults: Cell::new(None),
    })
}

/// The run's disk faults if any is on now (settled on first use, injected only during
/// the fault phase).
fn active_faults(state: &FsState) -> Option<DiskFaults> {
    let faults = state.faults.get().unwrap_or_else(|| {
        let faults = crate::cluster::disk_faults();
        state.faults.set(Some(faults));
        faults
    });
    (!faults.is_quiet() && crate::cluster::faults_on()).then_some(faults)
}

/// An injected I/O error of an operation `what` on `path`, with the plan's
/// probability: a [`DecisionKind::Fault`] decision among 100 options, the top
/// `round(100·p)` of which fail (option 0 never does).
fn injected_error(state: &FsState, what: &str, path: &str) -> io::Result<()> {
    let Some(faults) = active_faults(state) else {
        return Ok(());
    };
    let k = (faults.error.clamp(0.0, 1.0) * 100.0).round() as usize;
    if k == 0 || decide(DecisionKind::Fault, 100) < 100 - k {
        return Ok(());
    }
    note(|| format!("disk: injected I/O error: {what} {path}"));
    Err(io::Error::other(format!(
        "{what} {path}: input/output error (injected by detsim's fault plan)"
    )))
}

/// `StorageFull` if growing the disk's files by `growth` bytes passes the plan's
/// capacity.
fn check_capacity(
    faults: Option<DiskFaults>,
    disk: &Disk,
    growth: u64,
    path: &str,
) -> io::Result<()> {
    let Some(capacity) = faults.and_then(|f| f.capacity) else {
        return Ok(());
    };
    let used: u64 = disk.files.values().map(|f| f.data.len() as u64).sum();
    if growth > 0 && used + growth > capacity {
        note(|| {
            format!("disk: full: {path} needs {growth} bytes more than the {capacity} bytes left")
        });
        return Err(error(
            ErrorKind::StorageFull,
            "no space left on device",
            Path::new(path),
        ));
    }
    Ok(())
}

/// The plan's latency of one operation, in simulated time.
async fn latency(what: &str) {
    if let Some(faults) = active_faults(&state(what))
        && !faults.latency.is_zero()
    {
        detsim_runtime::time::sleep(faults.latency).await;
    }
}

fn try_state() -> Option<Rc<FsState>> {
    extension::try_run_state::<FsState>()
}

fn current_node() -> u32 {
    rt_node::current().as_u32()
}

fn note(text: impl FnOnce() -> String) {
    rt_node::note(text);
}

/// Runs `f` on the current host's disk; in a session that was shut down (a tokio
/// facade runtime after its shutdown), refuses with [`shut_down_error`].
fn with_disk<R>(what: &str, f: impl FnOnce(&mut Disk) -> io::Result<R>) -> io::Result<R> {
    if detsim_runtime::is_shut_down() {
        return Err(shut_down_error());
    }
    let state = state(what);
    let node = current_node();
    let mut disks = state.disks.borrow_mut();
    f(disks.entry(node).or_default())
}

/// What a file operation gives in a session that was shut down: tokio's error for a
/// file operation whose blocking task a shut-down runtime refused (kind `Other`,
/// "background task failed").
pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other("background task failed")
}

/// The crash of node `node` (named `name`): decides what its disk keeps of its
/// unsynced changes (see the [module docs](self)), notes it in the trace, and makes
/// its open handles stale. Does nothing if the node never used its disk.
pub(crate) fn crash(node: NodeId, name: &str) {
    let Some(state) = try_state() else {
        return;
    };
    let Some(mut disk) = state.disks.borrow_mut().remove(&node.as_u32()) else {
        return;
    };
    let lines = disk.crash(&mut |options| decide(DecisionKind::Crash, options));
    state.disks.borrow_mut().insert(node.as_u32(), disk);
    for line in &lines {
        note(|| format!("crash {name}: {line}"));
    }
    if !lines.is_empty() {
        state.crashes.borrow_mut().push((name.to_owned(), lines));
    }
}

/// What each crash of this run left of its node's unsynced changes, in order: the
/// node's name and a line per decision (`/wal: lost its 3 unsynced writes (0 bytes
/// now)`, `directory entries: kept 0 of 2 unsynced changes; lost: …`). Empty outside a
/// simulation and in runs without such a crash.
pub fn crash_report() -> Vec<(String, Vec<String>)> {
    try_state().map_or_else(Vec::new, |s| s.crashes.borrow().clone())
}

/// Metadata of a file or directory (tokio returns `std::fs::Metadata`, which cannot be
/// made for a simulated file; this has the same methods for what the model keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    file_type: FileType,
}

impl Metadata {
    fn new(len: u64, dir: bool) -> Metadata {
        Metadata {
            len,
            file_type: FileType { dir },
        }
    }

    /// The length in bytes (0 for a directory).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type.dir
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        !self.file_type.dir
    }

    /// Always false: the simulated disk has no symbolic links.
    pub fn is_symlink(&self) -> bool {
        false
    }

    /// File or directory.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The permissions a new entry gets on Linux (`0o644` for a file, `0o755` for a
    /// directory): the simulated disk keeps no permissions.
    #[cfg(unix)]
    pub fn permissions(&self) -> std::fs::Permissions {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(if self.file_type.dir { 0o755 } else { 0o644 })
    }

    /// Always an `Unsupported` error: the simulated disk keeps no timestamps.
    pub fn modified(&self) -> io::Result<std::time::SystemTime> {
        Err(no_timestamps())
    }

    /// Always an `Unsupported` error: the simulated disk keeps no timestamps.
    pub fn accessed(&self) -> io::Result<std::time::SystemTime> {
        Err(no_timestamps())
    }

    /// Always an `Unsupported` error: the simulated disk keeps no timestamps.
    pub fn created(&self) -> io::Result<std::time::SystemTime> {
        Err(no_timestamps())
    }
}

pub(crate) fn no_timestamps() -> io::Error {
    io::Error::new(
        ErrorKind::Unsupported,
        "the simulated disk keeps no timestamps (modified, accessed, created, set_times)",
    )
}

/// Creates directories (tokio's `DirBuilder`): [`create_dir`], or [`create_dir_all`]
/// when `recursive`. The mode is accepted and not kept (no permissions are simulated).
#[derive(Debug, Default)]
pub struct DirBuilder {
    recursive: bool,
    mode: Option<u32>,
}

impl DirBuilder {
    /// Non-recursive, default mode.
    pub fn new() -> DirBuilder {
        DirBuilder::default()
    }

    /// Whether missing parent directories are created too.
    pub fn recursive(&mut self, recursive: bool) -> &mut Self {
        self.recursive = recursive;
        self
    }

    /// The mode of new directories (accepted, not kept).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = Some(mode);
        self
    }

    /// Creates `path` on the current host's disk.
    pub async fn create(&self, path: impl AsRef<Path>) -> io::Result<()> {
        match self.recursive {
            true => create_dir_all(path).await,
            false => create_dir(path).await,
        }
    }
}

/// Always an `Unsupported` error: the simulated disk has no symbolic links.
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let _ = original;
    Err(error(
        ErrorKind::Unsupported,
        "the simulated disk has no symbolic links",
        link.as_ref(),
    ))
}

/// Whether an entry is a file or a directory (std's `FileType`'s methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    dir: bool,
}

impl FileType {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        !self.dir
    }

    /// Always false: the simulated disk has no symbolic links.
    pub fn is_symlink(&self) -> bool {
        false
    }
}

async fn read_all(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    latency(what).await;
    injected_error(&state(what), "read", &path.display().to_string())?;
    with_disk(what, |disk| {
        let ino = disk.lookup(&components(path)?, path)?;
        if disk.live.is_dir(ino) {
            return Err(error(ErrorKind::IsADirectory, "is a directory", path));
        }
        Ok(disk.files[&ino].data.clone())
    })
}

/// The whole contents of the file `path`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_all(path.as_ref(), "detsim::fs::read").await
}

/// The whole contents of the file `path` as UTF-8 (`InvalidData` if it is not).
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let bytes = read_all(path.as_ref(), "detsim::fs::read_to_string").await?;
    String::from_utf8(bytes).map_err(|_| {
        error(
            ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
            path.as_ref(),
        )
    })
}

/// Creates or truncates the file `path` and writes `contents` (unsynced).
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    latency("detsim::fs::write").await;
    let state = state("detsim::fs::write");
    injected_error(&state, "write", &path.display().to_string())?;
    let faults = active_faults(&state);
    with_disk("detsim::fs::write", |disk| {
        let existing = disk.lookup(&components(path)?, path).ok();
        let old = existing.map_or(0, |ino| disk.len(ino));
        let growth = (contents.as_ref().len() as u64).saturating_sub(old);
        check_capacity(faults, disk, growth, &path.display().to_string())?;
        let flags = OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        let (ino, _) = disk.open(path, flags)?;
        if !contents.as_ref().is_empty() {
            disk.write_at(ino, 0, contents.as_ref());
        }
        if let Some(file) = disk.files.get_mut(&ino) {
            file.open -= 1;
        }
        Ok(())
    })
}

/// Creates the directory `path` (its parent must exist).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::create_dir").await;
    with_disk("detsim::fs::create_dir", |disk| disk.mkdir(path.as_ref()))
}

/// Creates the directory `path` and every missing one above it.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::create_dir_all").await;
    with_disk("detsim::fs::create_dir_all", |disk| {
        disk.mkdir_all(path.as_ref())
    })
}

/// Removes the file `path`.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::remove_file").await;
    with_disk("detsim::fs::remove_file", |disk| {
        disk.remove(path.as_ref(), Some(false))
    })
}

/// Removes the empty directory `path`.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::remove_dir").await;
    with_disk("detsim::fs::remove_dir", |disk| {
        disk.remove(path.as_ref(), Some(true))
    })
}

/// Removes the directory `path` and everything in it (one directory change: durable
/// once the parent is synced).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::remove_dir_all").await;
    with_disk("detsim::fs::remove_dir_all", |disk| {
        disk.remove(path.as_ref(), None)
    })
}

/// Renames `from` to `to`, replacing a file (or an empty directory) `to` names:
/// atomic, and durable once the directories of both are synced.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::rename").await;
    with_disk("detsim::fs::rename", |disk| {
        disk.rename(from.as_ref(), to.as_ref())
    })
}

/// Copies the contents of the file `from` to `to` (created or truncated, unsynced);
/// returns the number of bytes copied.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let bytes = read_all(from.as_ref(), "detsim::fs::copy").await?;
    let n = bytes.len() as u64;
    write(to, bytes).await?;
    Ok(n)
}

/// A second entry `dst` for the file `src`.
pub async fn hard_link(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> io::Result<()> {
    latency("detsim::fs::hard_link").await;
    with_disk("detsim::fs::hard_link", |disk| {
        disk.hard_link(src.as_ref(), dst.as_ref())
    })
}

/// The metadata of `path`.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    latency("detsim::fs::metadata").await;
    with_disk("detsim::fs::metadata", |disk| {
        let ino = disk.lookup(&components(path)?, path)?;
        Ok(Metadata::new(disk.len(ino), disk.live.is_dir(ino)))
    })
}

/// The same as [`metadata`]: there are no symbolic links.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    metadata(path).await
}

/// `path` made absolute and normal (`.` and `..` resolved), if it exists.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    with_disk("detsim::fs::canonicalize", |disk| {
        let names = components(path)?;
        disk.lookup(&names, path)?;
        Ok(PathBuf::from(ops::display(&names)))
    })
}

/// Always an `InvalidInput` error: there are no symbolic links.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    metadata(path.as_ref()).await?;
    Err(error(
        ErrorKind::InvalidInput,
        "not a symbolic link",
        path.as_ref(),
    ))
}

/// Checks that `path` exists; permissions are not simulated.
pub async fn set_permissions(
    path: impl AsRef<Path>,
    _perm: std::fs::Permissions,
) -> io::Result<()> {
    metadata(path).await.map(drop)
}

/// Whether `path` exists.
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    match metadata(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The entries of the directory `path`, in name order, as they are now.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let entries = with_disk("detsim::fs::read_dir", |disk| {
        let ino = disk.lookup(&components(path)?, path)?;
        let entries = disk
            .live
            .entries(ino)
            .ok_or_else(|| error(ErrorKind::NotADirectory, "not a directory", path))?;
        Ok(entries
            .iter()
            .map(|(name, &ino)| DirEntry {
                path: path.join(name),
                name: name.clone(),
                metadata: Metadata::new(disk.len(ino), disk.live.is_dir(ino)),
            })
            .collect::<Vec<_>>())
    })?;
    Ok(ReadDir {
        entries: entries.into_iter(),
    })
}

/// The entries of a directory (tokio's `ReadDir`), in name order.
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<DirEntry>,
}

impl ReadDir {
    /// The next entry, or `None` at the end.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        Ok(self.entries.next())
    }
}

/// An entry of a [`ReadDir`].
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    name: OsString,
    metadata: Metadata,
}

impl DirEntry {
    /// The entry's path: the directory's path as given, joined with the name.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name.
    pub fn file_name(&self) -> OsString {
        self.name.clone()
    }

    /// The entry's metadata, as it was when the directory was read.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        Ok(self.metadata)
    }

    /// The entry's type.
    pub async fn file_type(&self) -> io::Result<FileType> {
        Ok(self.metadata.file_type)
    }
}

/// Files to put on a simulated disk: the documented way in for test fixtures. Real
/// files are read when the fixture is built (before the run); inside the run
/// [`install`](Fixture::install) copies them onto the current host's disk, durable
/// (as if written and synced, entries included). A fixture is built once and installed
/// in every seed's run.
///
/// ```
/// use detsim_net::fs::Fixture;
/// let fixture = Fixture::new().file("/etc/app.toml", "port = 7000\n");
/// detsim_runtime::Runtime::new(1).block_on(async {
///     fixture.install();
///     let text = detsim_net::fs::read_to_string("/etc/app.toml").await.unwrap();
///     assert_eq!(text, "port = 7000\n");
/// });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Fixture {
    /// No files.
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// The file `path` (on the simulated disk) with `contents`.
    pub fn file(mut self, path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) -> Fixture {
        self.files.push((path.as_ref().to_owned(), contents.into()));
        self
    }

    /// The real file `real`, read now (read-only), as the simulated file `path`.
    pub fn copy_file(self, real: impl AsRef<Path>, path: impl AsRef<Path>) -> io::Result<Fixture> {
        let contents = std::fs::read(real)?;
        Ok(self.file(path, contents))
    }

    /// Every file under the real directory `real`, read now (read-only), under the
    /// simulated directory `path`.
    pub fn copy_dir(
        mut self,
        real: impl AsRef<Path>,
        path: impl AsRef<Path>,
    ) -> io::Result<Fixture> {
        let mut entries: Vec<_> = std::fs::read_dir(real)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let target = path.as_ref().join(entry.file_name());
            self = if entry.file_type()?.is_dir() {
                self.copy_dir(entry.path(), target)?
            } else {
                self.copy_file(entry.path(), target)?
            };
        }
        Ok(self)
    }

    /// Writes the files onto the current host's disk, creating the directories they
    /// need, and makes the disk durable (these files, and whatever was unsynced). Panics outside a simulation, or if a path cannot be
    /// created (a file stands where a directory must).
    pub fn install(&self) {
        let result = with_disk("detsim::fs::Fixture::install", |disk| {
            for (path, contents) in &self.files {
                if let Some(parent) = path.parent() {
                    disk.mkdir_all(parent)?;
                }
                let flags = OpenFlags {
                    write: true,
                    create: true,
                    truncate: true,
                    ..OpenFlags::default()
                };
                let (ino, _) = disk.open(path, flags)?;
                disk.write_at(ino, 0, contents);
                if let Some(file) = disk.files.get_mut(&ino) {
                    file.open -= 1;
                }
            }
            disk.make_durable();
            Ok(())
        });
        if let Err(e) = result {
            panic!("detsim::fs::Fixture::install: {e}");
        }
    }
}

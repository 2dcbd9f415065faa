//! One host's simulated disk: what its processes see, what a crash leaves of it, and
//! the rules between the two (the model the README's "Simulating a disk" describes).
//!
//! Central types: [`Disk`] owns a host's files. Its *live* [`Namespace`] (directories
//! and their entries) is what the host's processes see; its *base* namespace is what
//! survived the last crash, and `log` lists the directory changes made since, each
//! marked committed once a sync of a directory it touches made it durable. File
//! contents live in [`FileData`]: the live bytes, the durable bytes (as of the last
//! sync of the file), and the writes in between.
//!
//! Invariants:
//! - a file with no pending writes has `data == durable`;
//! - replaying `log` onto `base` gives `live` (every logged change applied to `live`
//!   when it was made);
//! - a committed change stays durable: [`Disk::crash`] replays every committed change,
//!   and of the uncommitted ones a prefix in the order they were made;
//! - a rename is one change: after a crash it happened or did not, never half;
//! - nothing here reads the clock, the environment or randomness: a crash's outcome
//!   comes only from the `choose` callback (the runtime's decision list in a run).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};

/// An inode number: a file or a directory of one disk.
pub(crate) type Ino = u64;

/// The root directory's inode.
pub(crate) const ROOT: Ino = 0;

/// A sector: a torn write lands in whole sectors of this many bytes.
pub(crate) const SECTOR: u64 = 512;

/// Directories and their entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Namespace {
    /// Each directory's entries, by name.
    dirs: BTreeMap<Ino, BTreeMap<OsString, Ino>>,
}

impl Namespace {
    fn new() -> Namespace {
        Namespace {
            dirs: BTreeMap::from([(ROOT, BTreeMap::new())]),
        }
    }

    pub(crate) fn is_dir(&self, ino: Ino) -> bool {
        self.dirs.contains_key(&ino)
    }

    pub(crate) fn entries(&self, dir: Ino) -> Option<&BTreeMap<OsString, Ino>> {
        self.dirs.get(&dir)
    }

    pub(crate) fn entry(&self, dir: Ino, name: &OsStr) -> Option<Ino> {
        self.dirs.get(&dir)?.get(name).copied()
    }

    /// Applies `op` if it can be applied here; returns whether it was.
    fn apply(&mut self, op: &DirOp) -> bool {
        match op {
            DirOp::Create {
                parent,
                name,
                ino,
                dir,
            } => {
                if !self.dirs.contains_key(parent) {
                    return false;
                }
                if *dir {
                    self.dirs.entry(*ino).or_default();
                }
                self.dirs
                    .get_mut(parent)
                    .map(|entries| entries.insert(name.clone(), *ino));
                true
            }
            DirOp::Remove { parent, name } => self
                .dirs
                .get_mut(parent)
                .is_some_and(|entries| entries.remove(name).is_some()),
            DirOp::Rename { from, to } => {
                let Some(ino) = self.entry(from.0, &from.1) else {
                    return false;
                };
                if !self.dirs.contains_key(&to.0) {
                    return false;
                }
                if let Some(target) = self.entry(to.0, &to.1)
                    && self.dirs.get(&target).is_some_and(|e| !e.is_empty())
                {
                    return false;
                }
                self.dirs.get_mut(&from.0).map(|e| e.remove(&from.1));
                self.dirs
                    .get_mut(&to.0)
                    .map(|e| e.insert(to.1.clone(), ino));
                true
            }
        }
    }

    /// Every inode reachable from the root, the root included.
    pub(crate) fn reachable(&self) -> BTreeSet<Ino> {
        let mut seen = BTreeSet::from([ROOT]);
        let mut stack = vec![ROOT];
        while let Some(dir) = stack.pop() {
            for &ino in self.dirs.get(&dir).into_iter().flat_map(|e| e.values()) {
                if seen.insert(ino) && self.dirs.contains_key(&ino) {
                    stack.push(ino);
                }
            }
        }
        seen
    }

    /// A path of each reachable inode (the first in name order), for reports.
    pub(crate) fn paths(&self) -> BTreeMap<Ino, String> {
        let mut paths = BTreeMap::from([(ROOT, "/".to_owned())]);
        let mut stack = vec![(ROOT, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for (name, &ino) in self.dirs.get(&dir).into_iter().flatten() {
                let path = format!("{prefix}/{}", name.to_string_lossy());
                if paths.contains_key(&ino) {
                    continue;
                }
                paths.insert(ino, path.clone());
                if self.dirs.contains_key(&ino) {
                    stack.push((ino, path));
                }
            }
        }
        paths
    }
}

/// A change of directory entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirOp {
    /// A new entry `name` in `parent` for `ino` (a new file or directory, or a hard link).
    Create {
        parent: Ino,
        name: OsString,
        ino: Ino,
        dir: bool,
    },
    /// The entry `name` of `parent` removed (a file unlinked, a directory removed with
    /// what it holds).
    Remove { parent: Ino, name: OsString },
    /// An entry moved, replacing what `to` named.
    Rename {
        from: (Ino, OsString),
        to: (Ino, OsString),
    },
}

impl DirOp {
    /// Whether syncing directory `dir` makes this change durable.
    fn touches(&self, dir: Ino) -> bool {
        match self {
            DirOp::Create { parent, .. } | DirOp::Remove { parent, .. } => *parent == dir,
            DirOp::Rename { from, to } => from.0 == dir || to.0 == dir,
        }
    }

    fn describe(&self, paths: &BTreeMap<Ino, String>) -> String {
        let at = |dir: &Ino, name: &OsString| {
            let dir = paths.get(dir).map_or("?", String::as_str);
            let sep = if dir.ends_with('/') { "" } else { "/" };
            format!("{dir}{sep}{}", name.to_string_lossy())
        };
        match self {
            DirOp::Create {
                parent, name, dir, ..
            } => format!("create {}{}", at(parent, name), if *dir { "/" } else { "" }),
            DirOp::Remove { parent, name } => format!("remove {}", at(parent, name)),
            DirOp::Rename { from, to } => {
                format!("rename {} -> {}", at(&from.0, &from.1), at(&to.0, &to.1))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Logged {
    op: DirOp,
    committed: bool,
}

/// A write not yet synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataOp {
    /// `bytes` written at `offset` (a hole before it reads as zeros).
    Write { offset: u64, bytes: Vec<u8> },
    /// The length set (by `set_len`, or a truncating open).
    SetLen(u64),
}

impl DataOp {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            DataOp::Write { offset, bytes } => {
                let start = usize::try_from(*offset).expect("a file offset fits in memory");
                let end = start + bytes.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[start..end].copy_from_slice(bytes);
            }
            DataOp::SetLen(len) => {
                data.resize(
                    usize::try_from(*len).expect("a file length fits in memory"),
                    0,
                );
            }
        }
    }
}

/// A file's contents.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileData {
    /// What reads see.
    pub(crate) data: Vec<u8>,
    /// What the last sync made durable.
    pub(crate) durable: Vec<u8>,
    /// The writes since, in order.
    pub(crate) pending: Vec<DataOp>,
    /// Open handles (an unlinked file lives while one is open).
    pub(crate) open: u32,
}

impl FileData {
    /// Applies `op` to what reads see, and remembers it until the next sync.
    pub(crate) fn change(&mut self, op: DataOp) {
        op.apply(&mut self.data);
        self.pending.push(op);
    }

    /// Makes every write durable; returns how many there were.
    pub(crate) fn sync(&mut self) -> usize {
        let n = self.pending.len();
        if n > 0 {
            self.durable.clone_from(&self.data);
            self.pending.clear();
        }
        n
    }

    /// Forgets the writes since the last sync (a failed sync's fate).
    pub(crate) fn drop_pending(&mut self) -> usize {
        let n = self.pending.len();
        self.data.clone_from(&self.durable);
        self.pending.clear();
        n
    }

    /// The options a crash has for this file: kept, lost, and torn when the last
    /// unsynced change is a non-empty write.
    fn crash_options(&self) -> usize {
        match self.pending.last() {
            None => 0,
            Some(DataOp::Write { bytes, .. }) if !bytes.is_empty() => 3,
            Some(_) => 2,
        }
    }

    /// The contents after a crash that tore the last write, with `choose` picking
    /// where; and a description of the tear.
    fn torn(&self, choose: &mut dyn FnMut(usize) -> usize) -> (Vec<u8>, String) {
        let (last, earlier) = self.pending.split_last().expect("a torn file has writes");
        let DataOp::Write { offset, bytes } = last else {
            unreachable!("only a write tears")
        };
        let mut data = self.durable.clone();
        for op in earlier {
            op.apply(&mut data);
        }
        let (start, end) = (*offset, *offset + bytes.len() as u64);
        // Where the landed part may end: the write's start, or a sector boundary inside.
        let mut ends = vec![start];
        let mut boundary = (start / SECTOR + 1) * SECTOR;
        while boundary < end {
            ends.push(boundary);
            boundary += SECTOR;
        }
        let before = data.len() as u64;
        let forms = if end > before { 2 } else { 1 };
        let pick = choose(ends.len() * forms);
        let (landed_end, zeros) = (ends[pick % ends.len()], pick / ends.len() == 1);
        let landed = (landed_end - start) as usize;
        DataOp::Write {
            offset: start,
            bytes: bytes[..landed].to_vec(),
        }
        .apply(&mut data);
        if zeros {
            DataOp::SetLen(end).apply(&mut data);
        }
        let how = if zeros {
            format!("the file has its new length {end} with zeros where the rest did not land")
        } else {
            "the rest did not land".to_owned()
        };
        (
            data,
            format!(
                "tore its last write ({} bytes at {start}): {landed} landed; {how}",
                bytes.len()
            ),
        )
    }
}

/// One host's disk.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    pub(crate) live: Namespace,
    base: Namespace,
    log: Vec<Logged>,
    pub(crate) files: BTreeMap<Ino, FileData>,
    next_ino: Ino,
    /// Bumped by every crash: handles opened before it are stale.
    pub(crate) generation: u64,
}

impl Default for Disk {
    fn default() -> Disk {
        Disk::new()
    }
}

impl Disk {
    /// An empty disk: a root directory and nothing else, all of it durable.
    pub(crate) fn new() -> Disk {
        Disk {
            live: Namespace::new(),
            base: Namespace::new(),
            log: Vec::new(),
            files: BTreeMap::new(),
            next_ino: ROOT + 1,
            generation: 0,
        }
    }

    /// A fresh inode number.
    pub(crate) fn new_ino(&mut self) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        ino
    }

    /// Applies a change of entries now; durable once a directory it touches is synced.
    pub(crate) fn change_dirs(&mut self, op: DirOp) {
        let applied = self.live.apply(&op);
        debug_assert!(applied, "the caller checked {op:?}");
        self.log.push(Logged {
            op,
            committed: false,
        });
    }

    /// Makes every change of `dir`'s entries durable; returns how many were pending.
    pub(crate) fn sync_dir(&mut self, dir: Ino) -> usize {
        let mut n = 0;
        for logged in &mut self.log {
            if !logged.committed && logged.op.touches(dir) {
                logged.committed = true;
                n += 1;
            }
        }
        if self.log.iter().all(|l| l.committed) {
            self.base = self.live.clone();
            self.log.clear();
            self.collect();
        }
        n
    }

    /// Makes every change on the disk durable (a fixture's install).
    pub(crate) fn make_durable(&mut self) {
        for file in self.files.values_mut() {
            file.sync();
        }
        self.base = self.live.clone();
        self.log.clear();
        self.collect();
    }

    /// Drops the contents of files no namespace reaches and no handle holds.
    fn collect(&mut self) {
        let live = self.live.reachable();
        let base = self.base.reachable();
        self.files
            .retain(|ino, f| f.open > 0 || live.contains(ino) || base.contains(ino));
        let dirs: Vec<Ino> = self.live.dirs.keys().copied().collect();
        for dir in dirs {
            if !live.contains(&dir) {
                self.live.dirs.remove(&dir);
            }
        }
    }

    /// A crash: what survives of the unsynced changes is decided by `choose(n)` (an
    /// index in `0..n`, 0 keeping everything), called first once for the directory
    /// changes (option `i` loses the last `i` uncommitted ones) if any are unsynced,
    /// then per surviving file with unsynced writes in inode order (0 kept, 1 lost,
    /// 2 torn, then once more for where the tear falls). Returns a line per decision
    /// for the trace and the report. Open handles become stale.
    pub(crate) fn crash(&mut self, choose: &mut dyn FnMut(usize) -> usize) -> Vec<String> {
        let (ns, directory) = self.crash_directory(choose);
        let mut lines: Vec<String> = directory.into_iter().collect();
        self.crash_files(&ns, choose, &mut lines);
        for file in self.files.values_mut() {
            if !file.pending.is_empty() {
                file.drop_pending();
            }
            file.open = 0;
        }
        self.live = ns.clone();
        self.base = ns;
        self.log.clear();
        self.collect();
        self.generation += 1;
        lines
    }

    /// `crash`'s first decision, if any directory change is unsynced: how many of the
    /// uncommitted changes survive. Returns the namespace after the crash and the line
    /// that says what was lost.
    fn crash_directory(
        &mut self,
        choose: &mut dyn FnMut(usize) -> usize,
    ) -> (Namespace, Option<String>) {
        let uncommitted: Vec<usize> = (0..self.log.len())
            .filter(|&i| !self.log[i].committed)
            .collect();
        let old_paths = self.live.paths();
        let keep = if uncommitted.is_empty() {
            0
        } else {
            uncommitted.len() - choose(uncommitted.len() + 1)
        };
        let lost: BTreeSet<usize> = uncommitted[keep..].iter().copied().collect();
        let mut ns = self.base.clone();
        for (i, logged) in self.log.iter().enumerate() {
            if !lost.contains(&i) {
                ns.apply(&logged.op);
            }
        }
        if uncommitted.is_empty() {
            return (ns, None);
        }
        let mut line = format!(
            "directory entries: kept {keep} of {} unsynced changes",
            uncommitted.len()
        );
        if !lost.is_empty() {
            let what: Vec<String> = lost
                .iter()
                .map(|&i| self.log[i].op.describe(&old_paths))
                .collect();
            line.push_str(&format!("; lost: {}", what.join(", ")));
        }
        (ns, Some(line))
    }

    /// `crash`'s decisions per file still reachable in `ns` with unsynced writes, in
    /// inode order: kept, lost or torn; a line each in `lines`.
    fn crash_files(
        &mut self,
        ns: &Namespace,
        choose: &mut dyn FnMut(usize) -> usize,
        lines: &mut Vec<String>,
    ) {
        let reachable = ns.reachable();
        let paths = ns.paths();
        for (ino, file) in &mut self.files {
            let options = file.crash_options();
            if options == 0 || !reachable.contains(ino) {
                continue;
            }
            let path = paths.get(ino).map_or("?", String::as_str);
            let writes = file.pending.len();
            let (data, what) = match choose(options) {
                0 => (
                    file.data.clone(),
                    format!("kept its {writes} unsynced writes"),
                ),
                1 => (
                    file.durable.clone(),
                    format!("lost its {writes} unsynced writes"),
                ),
                _ => file.torn(choose),
            };
            lines.push(format!("{path}: {what} ({} bytes now)", data.len()));
            file.durable.clone_from(&data);
            file.data = data;
            file.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> OsString {
        OsString::from(s)
    }

    fn create(disk: &mut Disk, parent: Ino, n: &str, dir: bool) -> Ino {
        let ino = disk.new_ino();
        if !dir {
            disk.files.insert(ino, FileData::default());
        }
        disk.change_dirs(DirOp::Create {
            parent,
            name: name(n),
            ino,
            dir,
        });
        ino
    }

    fn write(disk: &mut Disk, ino: Ino, offset: u64, bytes: &[u8]) {
        disk.files.get_mut(&ino).unwrap().change(DataOp::Write {
            offset,
            bytes: bytes.to_vec(),
        });
    }

    #[test]
    fn synced_data_and_entries_survive_every_crash_outcome() {
        for pick in 0..4 {
            let mut disk = Disk::new();
            let f = create(&mut disk, ROOT, "f", false);
            write(&mut disk, f, 0, b"synced");
            disk.files.get_mut(&f).unwrap().sync();
            disk.sync_dir(ROOT);
            write(&mut disk, f, 6, b" and not");
            disk.crash(&mut |n| pick % n);
            let data = &disk.files[&f].data;
            assert!(data.starts_with(b"synced"), "{pick}: {data:?}");
            assert_eq!(disk.live.entry(ROOT, OsStr::new("f")), Some(f));
        }
    }

    #[test]
    fn option_zero_keeps_everything_and_one_loses_the_writes() {
        let mut disk = Disk::new();
        let f = create(&mut disk, ROOT, "f", false);
        write(&mut disk, f, 0, b"abc");
        let mut kept = disk.clone();
        kept.crash(&mut |_| 0);
        assert_eq!(kept.files[&f].data, b"abc");
        let mut lost = disk.clone();
        // Entries kept (0), the file's writes lost (1).
        let mut answers = [0, 1].into_iter();
        lost.crash(&mut |_| answers.next().unwrap());
        assert_eq!(lost.files[&f].data, b"");
        let mut gone = disk;
        gone.crash(&mut |n| n - 1);
        assert_eq!(gone.live.entry(ROOT, OsStr::new("f")), None);
        assert!(gone.files.is_empty());
    }

    #[test]
    fn a_torn_write_lands_in_whole_sectors() {
        let mut disk = Disk::new();
        let f = create(&mut disk, ROOT, "f", false);
        disk.sync_dir(ROOT);
        write(&mut disk, f, 100, &[7; 1000]);
        // Torn (2); ends 100, 512, 1024 in two forms: 1 is the prefix up to 512.
        let mut answers = [2, 1].into_iter();
        let lines = disk.crash(&mut |n| {
            let a = answers.next().unwrap();
            assert!(a < n);
            a
        });
        let data = &disk.files[&f].data;
        assert_eq!(data.len(), 512);
        assert!(data[..100].iter().all(|&b| b == 0));
        assert!(data[100..].iter().all(|&b| b == 7));
        assert!(lines[0].contains("412 landed"), "{lines:?}");

        let mut disk = Disk::new();
        let f = create(&mut disk, ROOT, "f", false);
        disk.sync_dir(ROOT);
        write(&mut disk, f, 0, &[7; 1000]);
        // Torn (2); ends 0 and 512 in two forms: 3 is the end 512 with zeros after it.
        let mut answers = [2, 3].into_iter();
        disk.crash(&mut |_| answers.next().unwrap());
        let data = &disk.files[&f].data;
        assert_eq!(data.len(), 1000);
        assert!(data[..512].iter().all(|&b| b == 7));
        assert!(data[512..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_rename_is_atomic_and_durable_once_its_directory_is_synced() {
        let mut base = Disk::new();
        let old = create(&mut base, ROOT, "state", false);
        write(&mut base, old, 0, b"old");
        base.files.get_mut(&old).unwrap().sync();
        base.sync_dir(ROOT);
        let tmp = create(&mut base, ROOT, "tmp", false);
        write(&mut base, tmp, 0, b"new");
        base.files.get_mut(&tmp).unwrap().sync();
        base.change_dirs(DirOp::Rename {
            from: (ROOT, name("tmp")),
            to: (ROOT, name("state")),
        });
        for pick in 0..3 {
            let mut disk = base.clone();
            disk.crash(&mut |n| pick.min(n - 1));
            let ino = disk.live.entry(ROOT, OsStr::new("state")).unwrap();
            let data = &disk.files[&ino].data;
            assert!(data == b"old" || data == b"new", "{pick}: {data:?}");
        }
        let mut synced = base;
        synced.sync_dir(ROOT);
        synced.crash(&mut |n| n - 1);
        let ino = synced.live.entry(ROOT, OsStr::new("state")).unwrap();
        assert_eq!(synced.files[&ino].data, b"new");
    }

    #[test]
    fn an_entry_in_an_unsynced_new_directory_can_vanish_with_it() {
        let mut disk = Disk::new();
        let d = create(&mut disk, ROOT, "d", true);
        let f = create(&mut disk, d, "f", false);
        disk.sync_dir(d);
        // The root's change (create d) is unsynced: losing it loses d/f.
        disk.crash(&mut |n| n - 1);
        assert_eq!(disk.live.entry(ROOT, OsStr::new("d")), None);
        assert!(!disk.files.contains_key(&f));
    }
}

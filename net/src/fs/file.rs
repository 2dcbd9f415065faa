//! [`File`] and [`OpenOptions`], with tokio's signatures.
//!
//! A handle belongs to the disk it was opened on (its host's, whichever task uses it
//! later) and to that disk's incarnation: after the host crashes, every operation on
//! an older handle fails. Reads, writes and seeks complete in the poll that makes them,
//! unless the fault plan gives the disk a latency: then each `poll_read`, `poll_write`
//! and `poll_complete` (of a seek) first arms a timer of that latency and returns
//! `Pending`, and makes its operation in the poll after the timer fires. With no
//! latency, no timer is armed and nothing is drawn: schedules stay as they were.

use std::future::Future;
use std::io::{self, ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use detsim_runtime::time::Sleep;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use super::disk::{Disk, Ino};
use super::ops::{OpenFlags, components, display, error};
use super::{
    Metadata, active_faults, check_capacity, current_node, injected_error, latency, note, state,
    try_state,
};

/// Options to open a [`File`] (tokio's `OpenOptions`, std's rules: `create`,
/// `create_new` and `truncate` need write access; `truncate` excludes `append`).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    flags: OpenFlags,
    /// Unix `mode` and `custom_flags`: accepted and shown by `Debug`, not kept by the
    /// simulated disk.
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            flags: OpenFlags::default(),
            mode: 0o666,
            custom_flags: 0,
        }
    }
}

impl OpenOptions {
    /// No access at all until set.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// The Unix mode of a created file (accepted, not kept: no permissions are
    /// simulated).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra Unix `open` flags (accepted, not applied).
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Read access.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.flags.read = read;
        self
    }

    /// Write access.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.flags.write = write;
        self
    }

    /// Append mode: every write goes to the end (implies write access).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.flags.append = append;
        self
    }

    /// Truncate to length 0 on open.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.flags.truncate = truncate;
        self
    }

    /// Create the file if it is missing.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.flags.create = create;
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.flags.create_new = create_new;
        self
    }

    /// Opens `path` on the current host's disk with these options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        latency("detsim::fs::OpenOptions::open").await;
        File::open_with(path.as_ref(), self.flags, "detsim::fs::OpenOptions::open")
    }
}

/// An open file or directory of a simulated disk (tokio's `File`), with `AsyncRead`,
/// `AsyncWrite` and `AsyncSeek`. A directory opens read-only, for
/// [`sync_all`](File::sync_all): that is how a new entry in it becomes durable.
#[derive(Debug)]
pub struct File {
    epoch: u64,
    node: u32,
    generation: u64,
    ino: Ino,
    dir: bool,
    flags: OpenFlags,
    /// The path it was opened by (for the trace).
    path: String,
    pos: u64,
    /// Where the last `start_seek` went, for `poll_complete`.
    seek: Option<io::Result<u64>>,
    /// The latency timer of the poll operation under way (`poll_read`, `poll_write`,
    /// `poll_complete`), once armed.
    delay: Option<Sleep>,
    /// tokio's `max_buf_size`: kept and read back (reads and writes complete whole).
    max_buf_size: usize,
}

/// tokio's default `max_buf_size` (2 MiB).
const DEFAULT_MAX_BUF_SIZE: usize = 2 * 1024 * 1024;

impl File {
    fn open_with(path: &Path, flags: OpenFlags, what: &str) -> io::Result<File> {
        let state = state(what);
        let node = current_node();
        let mut disks = state.disks.borrow_mut();
        let disk = disks.entry(node).or_default();
        let (ino, dir) = disk.open(path, flags)?;
        Ok(File {
            epoch: state.epoch,
            node,
            generation: disk.generation,
            ino,
            dir,
            flags,
            path: display(&components(path)?),
            pos: 0,
            seek: None,
            delay: None,
            max_buf_size: DEFAULT_MAX_BUF_SIZE,
        })
    }

    /// Opens `path` read-only (a file, or a directory to sync).
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let flags = OpenFlags {
            read: true,
            ..OpenFlags::default()
        };
        latency("detsim::fs::File::open").await;
        File::open_with(path.as_ref(), flags, "detsim::fs::File::open")
    }

    /// Creates (or truncates) `path` for writing.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let flags = OpenFlags {
            write: true,
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        latency("detsim::fs::File::create").await;
        File::open_with(path.as_ref(), flags, "detsim::fs::File::create")
    }

    /// Creates `path` for reading and writing, failing if it exists.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        let flags = OpenFlags {
            read: true,
            write: true,
            create_new: true,
            ..OpenFlags::default()
        };
        latency("detsim::fs::File::create_new").await;
        File::open_with(path.as_ref(), flags, "detsim::fs::File::create_new")
    }

    /// Options to open a file.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Runs `f` on this handle's disk, unless the handle is stale.
    fn with_disk<R>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Disk) -> io::Result<R>,
    ) -> io::Result<R> {
        if detsim_runtime::is_shut_down() {
            return Err(super::shut_down_error());
        }
        let state = state(what);
        assert!(
            state.epoch == self.epoch,
            "`{what}`: this file belongs to another run of the simulation (a file handle \
             cannot outlive the run that opened it)"
        );
        let mut disks = state.disks.borrow_mut();
        let disk = disks.entry(self.node).or_default();
        if disk.generation != self.generation {
            return Err(io::Error::other(format!(
                "{}: the handle was opened before its host crashed",
                self.path
            )));
        }
        f(disk)
    }

    /// Waits out the plan's disk latency before a poll operation (`what`) is made:
    /// arms a timer on the operation's first poll and is `Pending` until it fires;
    /// `Ready` at once when the plan has no latency (no timer, no decision).
    fn poll_latency(&mut self, what: &str, cx: &mut Context<'_>) -> Poll<()> {
        let delay = match &mut self.delay {
            Some(delay) => delay,
            None => match active_faults(&state(what)) {
                Some(faults) if !faults.latency.is_zero() => self
                    .delay
                    .insert(detsim_runtime::time::sleep(faults.latency)),
                _ => return Poll::Ready(()),
            },
        };
        ready!(Pin::new(delay).poll(cx));
        self.delay = None;
        Poll::Ready(())
    }

    fn writable(&self) -> io::Result<()> {
        if self.dir {
            Err(error(
                ErrorKind::IsADirectory,
                "is a directory",
                Path::new(&self.path),
            ))
        } else if !(self.flags.write || self.flags.append) {
            Err(error(
                ErrorKind::PermissionDenied,
                "bad file descriptor: not opened for writing",
                Path::new(&self.path),
            ))
        } else {
            Ok(())
        }
    }

    /// Makes the file's writes durable; for a directory, the changes of its entries.
    pub async fn sync_all(&self) -> io::Result<()> {
        latency("detsim::fs::File::sync_all").await;
        self.sync("detsim::fs::File::sync_all")
    }

    /// Makes the file's writes durable (the same as [`sync_all`](File::sync_all):
    /// the model keeps no metadata apart from the data and the entries).
    pub async fn sync_data(&self) -> io::Result<()> {
        latency("detsim::fs::File::sync_data").await;
        self.sync("detsim::fs::File::sync_data")
    }

    fn sync(&self, what: &str) -> io::Result<()> {
        let (ino, dir) = (self.ino, self.dir);
        if let Err(e) = injected_error(&state(what), "sync", &self.path) {
            // A failed sync loses the writes it covered (Linux since 4.13); a
            // directory's changes stay unsynced.
            let lost = self.with_disk(what, |disk| {
                Ok(if dir {
                    0
                } else {
                    disk.files.get_mut(&ino).map_or(0, |f| f.drop_pending())
                })
            })?;
            if lost > 0 {
                note(|| format!("disk: failed sync {}: {lost} writes lost", self.path));
            }
            return Err(e);
        }
        let n = self.with_disk(what, |disk| {
            Ok(if dir {
                disk.sync_dir(ino)
            } else {
                disk.files.get_mut(&ino).map_or(0, |f| f.sync())
            })
        })?;
        if n > 0 {
            let what = if dir { "entry changes" } else { "writes" };
            note(|| format!("disk: sync {}: {n} {what} durable", self.path));
        }
        Ok(())
    }

    /// Truncates or extends the file (with zeros); unsynced like a write.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        latency("detsim::fs::File::set_len").await;
        self.writable()?;
        let state = state("detsim::fs::File::set_len");
        injected_error(&state, "set_len", &self.path)?;
        let faults = active_faults(&state);
        let ino = self.ino;
        self.with_disk("detsim::fs::File::set_len", |disk| {
            check_capacity(faults, disk, size.saturating_sub(disk.len(ino)), &self.path)?;
            disk.set_len(ino, size);
            Ok(())
        })
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let (ino, dir) = (self.ino, self.dir);
        self.with_disk("detsim::fs::File::metadata", |disk| {
            Ok(Metadata::new(disk.len(ino), dir))
        })
    }

    /// Another handle to the same file, at the same position.
    pub async fn try_clone(&self) -> io::Result<File> {
        let ino = self.ino;
        self.with_disk("detsim::fs::File::try_clone", |disk| {
            disk.opened(ino);
            Ok(())
        })?;
        Ok(File {
            epoch: self.epoch,
            node: self.node,
            generation: self.generation,
            ino: self.ino,
            dir: self.dir,
            flags: self.flags,
            path: self.path.clone(),
            pos: self.pos,
            seek: None,
            delay: None,
            max_buf_size: self.max_buf_size,
        })
    }

    /// Accepted and ignored: the simulated disk has no permissions.
    pub async fn set_permissions(&self, _perm: std::fs::Permissions) -> io::Result<()> {
        self.with_disk("detsim::fs::File::set_permissions", |_| Ok(()))
    }

    /// The path this handle was opened by (as an absolute path).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }

    /// Sets tokio's largest buffer of one blocking read or write (kept and read back by
    /// [`max_buf_size`](Self::max_buf_size); a simulated read or write completes whole).
    ///
    /// # Panics
    /// If `max_buf_size` is 0, as tokio does.
    #[track_caller]
    pub fn set_max_buf_size(&mut self, max_buf_size: usize) {
        assert!(max_buf_size > 0, "`max_buf_size` must be greater than 0");
        self.max_buf_size = max_buf_size;
    }

    /// See [`set_max_buf_size`](Self::set_max_buf_size) (2 MiB unless set).
    pub fn max_buf_size(&self) -> usize {
        self.max_buf_size
    }

    /// Always an `Unsupported` error: the simulated disk keeps no timestamps.
    pub async fn set_times(&self, times: std::fs::FileTimes) -> io::Result<()> {
        let _ = times;
        Err(super::no_timestamps())
    }

    /// Panics: a simulated file has no OS file to give (read its contents instead).
    pub async fn into_std(self) -> std::fs::File {
        panic!("{}", no_os_file("File::into_std"))
    }

    /// Always `Err(self)`: a simulated file has no OS file to give.
    #[allow(clippy::result_large_err, reason = "tokio's signature")]
    pub fn try_into_std(self) -> Result<std::fs::File, File> {
        Err(self)
    }

    /// Panics: an OS file cannot join a simulated disk (bring real files in with a
    /// [`Fixture`](super::Fixture)).
    #[track_caller]
    pub fn from_std(file: std::fs::File) -> File {
        drop(file);
        panic!("{}", no_os_file("File::from_std"))
    }
}

fn no_os_file(what: &str) -> String {
    format!(
        "`{what}`: a simulated file has no OS file, and an OS file cannot join the simulated \
         disk (bring real files in with detsim::fs::Fixture, or test this code without \
         --cfg detsim)"
    )
}

impl Drop for File {
    fn drop(&mut self) {
        let Some(state) = try_state() else {
            return;
        };
        if state.epoch != self.epoch {
            return;
        }
        let Ok(mut disks) = state.disks.try_borrow_mut() else {
            return;
        };
        if let Some(disk) = disks.get_mut(&self.node)
            && disk.generation == self.generation
            && let Some(file) = disk.files.get_mut(&self.ino)
        {
            file.open = file.open.saturating_sub(1);
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.dir {
            return Poll::Ready(Err(error(
                ErrorKind::IsADirectory,
                "is a directory",
                Path::new(&self.path),
            )));
        }
        if !self.flags.read {
            return Poll::Ready(Err(error(
                ErrorKind::PermissionDenied,
                "bad file descriptor: not opened for reading",
                Path::new(&self.path),
            )));
        }
        ready!(self.poll_latency("detsim::fs::File::poll_read", cx));
        if let Err(e) = injected_error(&state("detsim::fs::File::poll_read"), "read", &self.path) {
            return Poll::Ready(Err(e));
        }
        let (ino, pos) = (self.ino, self.pos);
        let n = self.with_disk("detsim::fs::File::poll_read", |disk| {
            let data = disk.files.get(&ino).map_or(&[][..], |f| &f.data[..]);
            let start = usize::try_from(pos).unwrap_or(usize::MAX).min(data.len());
            let n = buf.remaining().min(data.len() - start);
            buf.put_slice(&data[start..start + n]);
            Ok(n)
        });
        Poll::Ready(n.map(|n| self.pos += n as u64))
    }
}

impl AsyncWrite for File {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.writable() {
            return Poll::Ready(Err(e));
        }
        ready!(self.poll_latency("detsim::fs::File::poll_write", cx));
        let state = state("detsim::fs::File::poll_write");
        if let Err(e) = injected_error(&state, "write", &self.path) {
            return Poll::Ready(Err(e));
        }
        let faults = active_faults(&state);
        let (ino, pos, append) = (self.ino, self.pos, self.flags.append);
        let end = self.with_disk("detsim::fs::File::poll_write", |disk| {
            let offset = if append { disk.len(ino) } else { pos };
            let growth = (offset + buf.len() as u64).saturating_sub(disk.len(ino));
            check_capacity(faults, disk, growth, &self.path)?;
            disk.write_at(ino, offset, buf);
            Ok(offset + buf.len() as u64)
        });
        Poll::Ready(end.map(|end| {
            self.pos = end;
            buf.len()
        }))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for File {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let ino = self.ino;
        let len = self.with_disk("detsim::fs::File::start_seek", |disk| Ok(disk.len(ino)))?;
        let target = match position {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.seek = Some(target.ok_or_else(|| {
            io::Error::new(
                ErrorKind::InvalidInput,
                "invalid seek to a negative or overflowing position",
            )
        }));
        Ok(())
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        if self.seek.is_some() {
            ready!(self.poll_latency("detsim::fs::File::poll_complete", cx));
        }
        match self.seek.take() {
            Some(Ok(pos)) => {
                self.pos = pos;
                Poll::Ready(Ok(pos))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(self.pos)),
        }
    }
}

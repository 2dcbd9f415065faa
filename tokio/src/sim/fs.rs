//! `tokio::fs` on detsim: every operation calls `std::fs` inline, on the simulation's
//! thread, instead of on tokio's blocking pool. The call completes in the poll that
//! makes it, so no other task runs meanwhile and virtual time stands still: a test that
//! works in its own directory (a fresh temporary directory) stays deterministic. The
//! file system itself is real and is not reset between seeds.

use std::fs::{Metadata, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// `std::fs::read`, inline.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// `std::fs::read_to_string`, inline.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// `std::fs::write`, inline.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    std::fs::write(path, contents)
}

/// `std::fs::create_dir`, inline.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::create_dir(path)
}

/// `std::fs::create_dir_all`, inline.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// `std::fs::remove_file`, inline.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::remove_file(path)
}

/// `std::fs::remove_dir`, inline.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::remove_dir(path)
}

/// `std::fs::remove_dir_all`, inline.
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    std::fs::remove_dir_all(path)
}

/// `std::fs::rename`, inline.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    std::fs::rename(from, to)
}

/// `std::fs::copy`, inline.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    std::fs::copy(from, to)
}

/// `std::fs::hard_link`, inline.
pub async fn hard_link(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> io::Result<()> {
    std::fs::hard_link(src, dst)
}

/// `std::fs::metadata`, inline.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    std::fs::metadata(path)
}

/// `std::fs::symlink_metadata`, inline.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    std::fs::symlink_metadata(path)
}

/// `std::fs::canonicalize`, inline.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    std::fs::canonicalize(path)
}

/// `std::fs::read_link`, inline.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    std::fs::read_link(path)
}

/// `std::fs::set_permissions`, inline.
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    std::fs::set_permissions(path, perm)
}

/// `std::fs::exists`, inline.
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    std::fs::exists(path)
}

/// `std::fs::read_dir`, inline; entries come in the order the OS gives them.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    Ok(ReadDir {
        inner: std::fs::read_dir(path)?,
    })
}

/// The entries of a directory (tokio's `ReadDir`).
#[derive(Debug)]
pub struct ReadDir {
    inner: std::fs::ReadDir,
}

impl ReadDir {
    /// The next entry, or `None` at the end.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        self.inner
            .next()
            .transpose()
            .map(|entry| entry.map(|inner| DirEntry { inner }))
    }
}

/// An entry of a [`ReadDir`].
#[derive(Debug)]
pub struct DirEntry {
    inner: std::fs::DirEntry,
}

impl DirEntry {
    /// The entry's full path.
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// The entry's file name.
    pub fn file_name(&self) -> std::ffi::OsString {
        self.inner.file_name()
    }

    /// The entry's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.inner.metadata()
    }

    /// The entry's file type.
    pub async fn file_type(&self) -> io::Result<std::fs::FileType> {
        self.inner.file_type()
    }
}

/// Options to open a [`File`] (tokio's `OpenOptions`).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    inner: std::fs::OpenOptions,
}

impl OpenOptions {
    /// No access at all until set.
    pub fn new() -> OpenOptions {
        OpenOptions {
            inner: std::fs::OpenOptions::new(),
        }
    }

    /// Read access.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.inner.read(read);
        self
    }

    /// Write access.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.inner.write(write);
        self
    }

    /// Append mode.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.inner.append(append);
        self
    }

    /// Truncate on open.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.inner.truncate(truncate);
        self
    }

    /// Create if missing.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.inner.create(create);
        self
    }

    /// Create, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.inner.create_new(create_new);
        self
    }

    /// Opens `path` with these options, inline.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        self.inner.open(path).map(File::from_std)
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

/// An open file whose reads, writes and seeks call `std::fs::File` inline (tokio's
/// `File`, with `AsyncRead`, `AsyncWrite` and `AsyncSeek`).
#[derive(Debug)]
pub struct File {
    std: std::fs::File,
    /// Where the last `start_seek` went, for `poll_complete`.
    seek: Option<io::Result<u64>>,
}

impl File {
    /// Opens `path` read-only.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        std::fs::File::open(path).map(File::from_std)
    }

    /// Creates (or truncates) `path` for writing.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        std::fs::File::create(path).map(File::from_std)
    }

    /// Creates `path` for writing, failing if it exists.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        std::fs::File::create_new(path).map(File::from_std)
    }

    /// Options to open a file.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a `std::fs::File`.
    pub fn from_std(std: std::fs::File) -> File {
        File { std, seek: None }
    }

    /// The `std::fs::File` inside.
    pub async fn into_std(self) -> std::fs::File {
        self.std
    }

    /// The `std::fs::File` inside (never fails in simulation: nothing is in flight).
    pub fn try_into_std(self) -> Result<std::fs::File, Self> {
        Ok(self.std)
    }

    /// Flushes data and metadata to disk.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.std.sync_all()
    }

    /// Flushes data to disk.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.std.sync_data()
    }

    /// Truncates or extends the file.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.std.set_len(size)
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.std.metadata()
    }

    /// Another handle to the same file.
    pub async fn try_clone(&self) -> io::Result<File> {
        self.std.try_clone().map(File::from_std)
    }

    /// Changes the file's permissions.
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.std.set_permissions(perm)
    }
}

impl AsyncRead for File {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.std.read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for File {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.std.write(buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.std.flush())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.std.flush())
    }
}

impl AsyncSeek for File {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let result = self.std.seek(position);
        self.seek = Some(result);
        Ok(())
    }

    fn poll_complete(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match self.seek.take() {
            Some(result) => Poll::Ready(result),
            None => Poll::Ready(self.std.stream_position()),
        }
    }
}

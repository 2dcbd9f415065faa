//! Path operations on a [`Disk`]: resolving paths, opening, creating, removing and
//! renaming, with the errors `std::fs` gives on Linux (by [`io::ErrorKind`]).
//!
//! Paths are resolved lexically from the root: a relative path is taken from `/` (every
//! host's working directory), `.` is skipped and `..` goes up (never above the root).
//! There are no symbolic links and no permissions.

use std::ffi::OsString;
use std::io::{self, ErrorKind};
use std::path::{Component, Path};

use super::disk::{DataOp, DirOp, Disk, FileData, Ino, ROOT};

/// What an open asks for (`OpenOptions`' flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpenFlags {
    pub(crate) read: bool,
    pub(crate) write: bool,
    pub(crate) append: bool,
    pub(crate) truncate: bool,
    pub(crate) create: bool,
    pub(crate) create_new: bool,
}

/// An error of `kind` naming `path`.
pub(crate) fn error(kind: ErrorKind, what: &str, path: &Path) -> io::Error {
    io::Error::new(kind, format!("{what}: {}", path.display()))
}

/// The names from the root to `path`.
pub(crate) fn components(path: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => names.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                names.pop();
            }
            Component::Normal(name) => names.push(name.to_owned()),
        }
    }
    Ok(names)
}

/// `names` as an absolute path, for reports.
pub(crate) fn display(names: &[OsString]) -> String {
    let mut text = String::new();
    for name in names {
        text.push('/');
        text.push_str(&name.to_string_lossy());
    }
    if text.is_empty() {
        text.push('/');
    }
    text
}

impl Disk {
    /// The inode `names` leads to.
    pub(crate) fn lookup(&self, names: &[OsString], path: &Path) -> io::Result<Ino> {
        let mut ino = ROOT;
        for name in names {
            if !self.live.is_dir(ino) {
                return Err(error(ErrorKind::NotADirectory, "not a directory", path));
            }
            ino = self
                .live
                .entry(ino, name)
                .ok_or_else(|| error(ErrorKind::NotFound, "no such file or directory", path))?;
        }
        Ok(ino)
    }

    /// The directory holding the last of `names`, and that name.
    fn parent(&self, names: &[OsString], path: &Path) -> io::Result<(Ino, OsString)> {
        let (name, dirs) = names.split_last().ok_or_else(|| {
            error(
                ErrorKind::InvalidInput,
                "the root directory cannot be the target",
                path,
            )
        })?;
        let parent = self.lookup(dirs, path)?;
        if !self.live.is_dir(parent) {
            return Err(error(ErrorKind::NotADirectory, "not a directory", path));
        }
        Ok((parent, name.clone()))
    }

    /// Opens `path`; returns its inode and whether it is a directory.
    pub(crate) fn open(&mut self, path: &Path, flags: OpenFlags) -> io::Result<(Ino, bool)> {
        let writes = flags.write || flags.append;
        if !flags.read && !writes {
            return Err(error(
                ErrorKind::InvalidInput,
                "an open needs read, write or append access",
                path,
            ));
        }
        if (flags.create || flags.create_new || flags.truncate) && !writes
            || flags.truncate && flags.append
        {
            return Err(error(
                ErrorKind::InvalidInput,
                "invalid combination of open options",
                path,
            ));
        }
        let names = components(path)?;
        if names.is_empty() {
            return self.open_existing(ROOT, flags, path);
        }
        let (parent, name) = self.parent(&names, path)?;
        match self.live.entry(parent, &name) {
            Some(ino) => self.open_existing(ino, flags, path),
            None if flags.create || flags.create_new => {
                let ino = self.new_ino();
                self.files.insert(ino, FileData::default());
                self.change_dirs(DirOp::Create {
                    parent,
                    name,
                    ino,
                    dir: false,
                });
                self.opened(ino);
                Ok((ino, false))
            }
            None => Err(error(
                ErrorKind::NotFound,
                "no such file or directory",
                path,
            )),
        }
    }

    fn open_existing(
        &mut self,
        ino: Ino,
        flags: OpenFlags,
        path: &Path,
    ) -> io::Result<(Ino, bool)> {
        if flags.create_new {
            return Err(error(ErrorKind::AlreadyExists, "file exists", path));
        }
        if self.live.is_dir(ino) {
            if flags.write || flags.append {
                return Err(error(ErrorKind::IsADirectory, "is a directory", path));
            }
            return Ok((ino, true));
        }
        let file = self.files.get_mut(&ino).expect("a file entry has contents");
        if flags.truncate && !(file.data.is_empty() && file.pending.is_empty()) {
            file.change(DataOp::SetLen(0));
        }
        self.opened(ino);
        Ok((ino, false))
    }

    /// Counts an open handle of file `ino`.
    pub(crate) fn opened(&mut self, ino: Ino) {
        if let Some(file) = self.files.get_mut(&ino) {
            file.open += 1;
        }
    }

    /// Creates the directory `path`.
    pub(crate) fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let (parent, name) = self.parent(&names, path)?;
        if self.live.entry(parent, &name).is_some() {
            return Err(error(ErrorKind::AlreadyExists, "file exists", path));
        }
        let ino = self.new_ino();
        self.change_dirs(DirOp::Create {
            parent,
            name,
            ino,
            dir: true,
        });
        Ok(())
    }

    /// Creates `path` and every missing directory above it.
    pub(crate) fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        let names = components(path)?;
        let mut dir = ROOT;
        for name in &names {
            dir = match self.live.entry(dir, name) {
                Some(ino) if self.live.is_dir(ino) => ino,
                Some(_) => return Err(error(ErrorKind::AlreadyExists, "file exists", path)),
                None => {
                    let ino = self.new_ino();
                    self.change_dirs(DirOp::Create {
                        parent: dir,
                        name: name.clone(),
                        ino,
                        dir: true,
                    });
                    ino
                }
            };
        }
        Ok(())
    }

    /// Removes the entry `path`: a file (`dir == Some(false)`), an empty directory
    /// (`Some(true)`), or a directory and all it holds (`None`).
    pub(crate) fn remove(&mut self, path: &Path, dir: Option<bool>) -> io::Result<()> {
        let names = components(path)?;
        let (parent, name) = self.parent(&names, path)?;
        let ino = self
            .live
            .entry(parent, &name)
            .ok_or_else(|| error(ErrorKind::NotFound, "no such file or directory", path))?;
        let is_dir = self.live.is_dir(ino);
        match dir {
            Some(false) if is_dir => {
                return Err(error(ErrorKind::IsADirectory, "is a directory", path));
            }
            Some(true) | None if !is_dir => {
                return Err(error(ErrorKind::NotADirectory, "not a directory", path));
            }
            Some(true) if self.live.entries(ino).is_some_and(|e| !e.is_empty()) => {
                return Err(error(
                    ErrorKind::DirectoryNotEmpty,
                    "directory not empty",
                    path,
                ));
            }
            _ => {}
        }
        self.change_dirs(DirOp::Remove { parent, name });
        Ok(())
    }

    /// Renames `from` to `to`, replacing what `to` names.
    pub(crate) fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (source, target) = (components(from)?, components(to)?);
        let (from_dir, from_name) = self.parent(&source, from)?;
        let ino = self
            .live
            .entry(from_dir, &from_name)
            .ok_or_else(|| error(ErrorKind::NotFound, "no such file or directory", from))?;
        let (to_dir, to_name) = self.parent(&target, to)?;
        if source == target {
            return Ok(());
        }
        let moving_dir = self.live.is_dir(ino);
        if moving_dir && target.starts_with(&source) {
            return Err(error(
                ErrorKind::InvalidInput,
                "cannot move a directory into itself",
                to,
            ));
        }
        if let Some(existing) = self.live.entry(to_dir, &to_name) {
            match (moving_dir, self.live.is_dir(existing)) {
                (false, true) => {
                    return Err(error(ErrorKind::IsADirectory, "is a directory", to));
                }
                (true, false) => {
                    return Err(error(ErrorKind::NotADirectory, "not a directory", to));
                }
                (true, true) if self.live.entries(existing).is_some_and(|e| !e.is_empty()) => {
                    return Err(error(
                        ErrorKind::DirectoryNotEmpty,
                        "directory not empty",
                        to,
                    ));
                }
                _ => {}
            }
        }
        self.change_dirs(DirOp::Rename {
            from: (from_dir, from_name),
            to: (to_dir, to_name),
        });
        Ok(())
    }

    /// A second entry `dst` for the file `src`.
    pub(crate) fn hard_link(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        let ino = self.lookup(&components(src)?, src)?;
        if self.live.is_dir(ino) {
            return Err(error(
                ErrorKind::PermissionDenied,
                "a directory cannot be hard-linked",
                src,
            ));
        }
        let (parent, name) = self.parent(&components(dst)?, dst)?;
        if self.live.entry(parent, &name).is_some() {
            return Err(error(ErrorKind::AlreadyExists, "file exists", dst));
        }
        self.change_dirs(DirOp::Create {
            parent,
            name,
            ino,
            dir: false,
        });
        Ok(())
    }

    /// Writes `bytes` at `offset` of file `ino` (unsynced).
    pub(crate) fn write_at(&mut self, ino: Ino, offset: u64, bytes: &[u8]) {
        let file = self.files.get_mut(&ino).expect("an open file has contents");
        file.change(DataOp::Write {
            offset,
            bytes: bytes.to_vec(),
        });
    }

    /// Sets the length of file `ino` (unsynced).
    pub(crate) fn set_len(&mut self, ino: Ino, len: u64) {
        let file = self.files.get_mut(&ino).expect("an open file has contents");
        file.change(DataOp::SetLen(len));
    }

    /// The length of `ino` (0 for a directory).
    pub(crate) fn len(&self, ino: Ino) -> u64 {
        self.files.get(&ino).map_or(0, |f| f.data.len() as u64)
    }
}

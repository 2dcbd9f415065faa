//! `tokio::fs` on detsim: each host's own simulated disk ([`detsim::fs`]), with tokio's
//! signatures. A cluster node's files survive its kill and restart with what the crash
//! left of their unsynced writes (kept, lost or torn, as the seed decides); no real
//! file is touched. `metadata` returns detsim's [`Metadata`], which has the methods of
//! `std::fs::Metadata` the model keeps (`len`, `is_file`, `is_dir`, `file_type`);
//! `File::from_std` and `into_std` panic and `try_into_std` gives the file back (a
//! simulated file has no OS file); `symlink`, `set_times` and the timestamps of
//! [`Metadata`] are `Unsupported` errors (the disk has no links and no clocks), and
//! permissions are not kept. Real files come in through a [`Fixture`], read before the
//! run.

pub use detsim::fs::{
    DirBuilder, DirEntry, File, FileTimes, FileType, Fixture, Metadata, OpenOptions, ReadDir,
    canonicalize, copy, create_dir, create_dir_all, hard_link, metadata, read, read_dir, read_link,
    read_to_string, remove_dir, remove_dir_all, remove_file, rename, set_permissions, symlink,
    symlink_metadata, try_exists, write,
};

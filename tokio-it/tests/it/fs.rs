//! `tokio::fs`: each host's simulated disk in simulation, tokio's blocking pool on the
//! real file system otherwise.

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A directory for this run: in simulation every run has its own disk, so a fixed
/// path is private; on the real file system, a fresh temporary directory.
fn private_dir() -> std::path::PathBuf {
    if cfg!(detsim) {
        return "/data".into();
    }
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("detsim-tokio-fs-{}-{run}", std::process::id()))
}

#[tokio::test]
async fn write_read_and_list_in_a_private_directory() {
    let dir = private_dir();
    tokio::fs::create_dir_all(&dir).await.unwrap();
    let path = dir.join("a.txt");
    tokio::fs::write(&path, b"hello").await.unwrap();
    assert_eq!(tokio::fs::read_to_string(&path).await.unwrap(), "hello");

    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .unwrap();
    file.write_all(b", world").await.unwrap();
    file.flush().await.unwrap();
    file.sync_all().await.unwrap();
    drop(file);

    let mut file = tokio::fs::File::open(&path).await.unwrap();
    file.seek(std::io::SeekFrom::Start(7)).await.unwrap();
    let mut rest = String::new();
    file.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "world");
    assert_eq!(file.metadata().await.unwrap().len(), 12);

    let mut entries = tokio::fs::read_dir(&dir).await.unwrap();
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.unwrap() {
        names.push(entry.file_name());
    }
    assert_eq!(names, ["a.txt"]);
    assert!(tokio::fs::metadata(&dir).await.unwrap().is_dir());
    tokio::fs::remove_dir_all(&dir).await.unwrap();
    assert!(!tokio::fs::try_exists(&dir).await.unwrap());
}

#[tokio::test]
async fn errors_have_std_kinds() {
    use std::io::ErrorKind;
    let dir = private_dir().join("errors");
    tokio::fs::create_dir_all(&dir).await.unwrap();
    let missing = tokio::fs::read(dir.join("missing")).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let exists = tokio::fs::create_dir(&dir).await.unwrap_err();
    assert_eq!(exists.kind(), ErrorKind::AlreadyExists);
    tokio::fs::write(dir.join("f"), b"x").await.unwrap();
    let new = tokio::fs::File::create_new(dir.join("f"))
        .await
        .unwrap_err();
    assert_eq!(new.kind(), ErrorKind::AlreadyExists);
    tokio::fs::rename(dir.join("f"), dir.join("g"))
        .await
        .unwrap();
    assert_eq!(tokio::fs::read(dir.join("g")).await.unwrap(), b"x");
    tokio::fs::remove_file(dir.join("g")).await.unwrap();
    tokio::fs::remove_dir(&dir).await.unwrap();
}

/// In simulation no real file is touched: a path written in a run does not appear on
/// the machine's disk.
#[cfg(detsim)]
#[tokio::test]
async fn simulated_files_never_reach_the_real_disk() {
    let path = std::env::temp_dir().join(format!("detsim-never-{}", std::process::id()));
    // A fresh disk has only its root directory.
    tokio::fs::create_dir_all(std::env::temp_dir())
        .await
        .unwrap();
    tokio::fs::write(&path, b"simulated").await.unwrap();
    assert_eq!(tokio::fs::read(&path).await.unwrap(), b"simulated");
    assert!(!path.exists(), "{} reached the real disk", path.display());
}

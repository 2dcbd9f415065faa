//! `tokio::fs`: inline `std::fs` in simulation, tokio's blocking pool otherwise.

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[tokio::test]
async fn write_read_and_list_in_a_private_directory() {
    // A directory of its own per run: seeds of a sweep run in parallel.
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("detsim-tokio-fs-{}-{run}", std::process::id()));
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
    drop(file);

    let mut file = tokio::fs::File::open(&path).await.unwrap();
    file.seek(std::io::SeekFrom::Start(7)).await.unwrap();
    let mut rest = String::new();
    file.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "world");

    let mut entries = tokio::fs::read_dir(&dir).await.unwrap();
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.unwrap() {
        names.push(entry.file_name());
    }
    assert_eq!(names, ["a.txt"]);
    tokio::fs::remove_dir_all(&dir).await.unwrap();
    assert!(!tokio::fs::try_exists(&dir).await.unwrap());
}

//! Reading result records: the JSON lines that `DETSIM_RESULTS=<dir>` makes every sweep
//! append (see the README's "Seed campaigns" section for the format).
//!
//! The reader knows [`VERSION`] and refuses a newer one rather than misread it; fields
//! it does not know are ignored, so a writer may add fields without a new version.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The `format` field of a record.
pub(crate) const FORMAT: &str = "detsim-results";
/// The newest record version this reader understands.
pub(crate) const VERSION: u32 = 1;

/// One sweep of one test.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Record {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) test: String,
    pub(crate) binary: String,
    #[serde(default)]
    pub(crate) commit: Option<String>,
    #[serde(default)]
    pub(crate) host: String,
    #[serde(default)]
    pub(crate) elapsed_secs: f64,
    pub(crate) seeds: Seeds,
    #[serde(default)]
    pub(crate) runs_per_scheduler: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub(crate) stopped_at_first: bool,
    #[serde(default)]
    pub(crate) failures: Vec<FailureRecord>,
}

/// The seeds a record covers: `start + offset + k·stride` for `k` in `0..count`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Seeds {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) stride: u64,
    pub(crate) offset: u64,
}

/// One failing seed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FailureRecord {
    pub(crate) seed: u64,
    #[serde(default)]
    pub(crate) scheduler: String,
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) signature: Signature,
    pub(crate) replay: String,
    #[serde(default)]
    pub(crate) token_file: Option<String>,
}

/// What makes two failures of a test the same failure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub(crate) struct Signature {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

/// The records found in some directories, and what could not be read.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) records: Vec<Record>,
    /// Lines that were not records (a writer killed mid-line, a foreign file), with
    /// where they were and why: reported, not fatal.
    pub(crate) skipped: Vec<String>,
}

/// An error that stops a merge.
#[derive(Debug)]
pub(crate) struct ReadError(pub(crate) String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads every `*.jsonl` file under `dirs` (recursively: a CI's downloaded artifacts
/// nest a directory per shard).
pub(crate) fn read_dirs(dirs: &[PathBuf]) -> Result<Found, ReadError> {
    let mut files = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(ReadError(format!(
                "{} is not a directory of detsim result records",
                dir.display()
            )));
        }
        collect_files(dir, &mut files)?;
    }
    files.sort();
    let mut found = Found::default();
    for file in &files {
        read_file(file, &mut found)?;
    }
    Ok(found)
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| ReadError(format!("cannot read {}: {error}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(|error| ReadError(format!("cannot read {}: {error}", dir.display())))?
            .path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            files.push(path);
        }
    }
    Ok(())
}

fn read_file(file: &Path, found: &mut Found) -> Result<(), ReadError> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| ReadError(format!("cannot read {}: {error}", file.display())))?;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let place = format!("{}:{}", file.display(), number + 1);
        let record: Record = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(error) => {
                found
                    .skipped
                    .push(format!("{place}: not a record: {error}"));
                continue;
            }
        };
        if record.format != FORMAT {
            found.skipped.push(format!(
                "{place}: format `{}`, not `{FORMAT}`",
                record.format
            ));
            continue;
        }
        if record.version > VERSION {
            return Err(ReadError(format!(
                "{place}: record version {} is newer than this cargo-detsim reads \
                 (version {VERSION}); install the cargo-detsim of the detsim that wrote it",
                record.version
            )));
        }
        if record.seeds.stride == 0 {
            found.skipped.push(format!("{place}: stride 0"));
            continue;
        }
        found.records.push(record);
    }
    Ok(())
}

/// The binary's name without cargo's hash suffix (`it-0123456789abcdef` → `it`), so
/// that builds on different machines name the same test binary alike.
pub(crate) fn binary_stem(binary: &str) -> &str {
    let binary = binary.strip_suffix(".exe").unwrap_or(binary);
    match binary.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem
        }
        _ => binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_cargo_hashes() {
        assert_eq!(binary_stem("it-0123456789abcdef"), "it");
        assert_eq!(binary_stem("my-crate-0123456789abcdef.exe"), "my-crate");
        assert_eq!(binary_stem("my-crate"), "my-crate");
        assert_eq!(binary_stem("x-0123"), "x-0123");
    }

    fn dir_with(name: &str, lines: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cargo-detsim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("nested/a.jsonl"), lines.join("\n")).unwrap();
        std::fs::write(dir.join("ignored.txt"), "not a record").unwrap();
        dir
    }

    const RECORD: &str = r#"{"format":"detsim-results","version":1,"test":"t","binary":"it-0123456789abcdef","seeds":{"start":0,"count":10,"stride":1,"offset":0},"failures":[],"unknown_field":3}"#;

    /// Records are found in nested directories; broken lines are skipped and named;
    /// fields the reader does not know are ignored.
    #[test]
    fn reads_nested_records_and_names_what_it_skips() {
        let dir = dir_with("read", &[RECORD, "{\"format\":\"detsim-res", RECORD]);
        let found = read_dirs(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(found.records.len(), 2);
        assert_eq!(found.skipped.len(), 1);
        assert!(
            found.skipped[0].contains("a.jsonl:2: not a record"),
            "{:?}",
            found.skipped
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_newer_version() {
        let newer = RECORD.replace("\"version\":1", "\"version\":2");
        let dir = dir_with("newer", &[&newer]);
        let error = read_dirs(std::slice::from_ref(&dir)).unwrap_err();
        assert!(error.0.contains("record version 2 is newer"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = read_dirs(&[PathBuf::from("/nonexistent/detsim")]).unwrap_err();
        assert!(missing.0.contains("is not a directory"), "{missing}");
    }
}

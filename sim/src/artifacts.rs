//! Every file detsim writes, and the commands that rerun a test: one set of rules.
//!
//! - Files go under the build's target directory ([`target_dir`]): long replay tokens
//!   in `detsim-replays/`, trace files in `detsim-traces/`, each named
//!   `<test>-<seed>.<kind>` with the test's name made safe for a file name
//!   ([`file_stem`]).
//! - `detsim-traces/` and `detsim-replays/` are bounded by one rule: writing a file
//!   there removes the oldest files of its kind beyond the newest `DETSIM_TRACE_KEEP`
//!   (100 by default; [`prune_traces`], [`prune_tokens`]); each trace file is at most
//!   `DETSIM_TRACE_MAX_MB` megabytes (20 by default; a longer trace leaves out its
//!   first events and says so in the file).
//! - The environment (`CARGO_TARGET_DIR`, `CARGO_PKG_NAME`) is read by `config.rs`,
//!   the one reader of it.
//! - A rerun command names the test (`-- <name> --exact`), the package, and
//!   `RUSTFLAGS="--cfg detsim"` for the tokio facade's simulated build.

use std::path::{Path, PathBuf};

use crate::report::Failure;
use crate::settings::Settings;

pub(crate) fn seed_vars(plan: &Settings, seed: u64) -> String {
    let mut vars = format!("DETSIM_SEED={seed:#x}");
    if plan.scheduler_from_env {
        vars.push_str(&format!(" DETSIM_SCHEDULER={}", plan.scheduler));
    }
    vars
}

/// The longest replay token a report prints inline; a longer one is written to a file
/// and the command names the file (`DETSIM_REPLAY=@path`), so that a report stays
/// readable whatever the size of the run.
pub(crate) const INLINE_TOKEN_MAX: usize = 1_000;

/// A command that replays `failure`'s schedule exactly: `DETSIM_REPLAY=<token>`, or for
/// a token longer than [`INLINE_TOKEN_MAX`], `DETSIM_REPLAY=@<file>` after writing the
/// token to [`token_file`] (inline after all, with a note, if the file cannot be
/// written).
pub(crate) fn token_command(failure: &Failure) -> String {
    let schedule = &failure.schedule;
    let token = failure.replay_token();
    if token.len() <= INLINE_TOKEN_MAX {
        return replay_command(&format!("DETSIM_REPLAY={token}"));
    }
    let path = token_file(test_name().as_deref(), schedule.seed);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, format!("{token}\n")));
    match written {
        Ok(()) => {
            prune_tokens(&path, crate::config::TraceLimits::read().keep);
            replay_command(&format!("DETSIM_REPLAY=@{}", path.display()))
        }
        Err(error) => format!(
            "{}\n    (the {}-character token could not be written to {}: {error})",
            replay_command(&format!("DETSIM_REPLAY={token}")),
            token.len(),
            path.display()
        ),
    }
}

/// Where a long replay token goes: `detsim-replays/<test>-<seed>.token` under
/// [`target_dir`].
pub(crate) fn token_file(test: Option<&str>, seed: u64) -> PathBuf {
    artifact_path("detsim-replays", test, seed, TOKEN_EXTENSION)
}

/// Where the trace file of a reported failure goes:
/// `detsim-traces/<test>-<seed>.trace.json` under [`target_dir`].
pub(crate) fn trace_file(test: Option<&str>, seed: u64) -> PathBuf {
    artifact_path("detsim-traces", test, seed, TRACE_EXTENSION)
}

/// The extension of trace files in `detsim-traces/`.
const TRACE_EXTENSION: &str = "trace.json";
/// The extension of token files in `detsim-replays/`.
const TOKEN_EXTENSION: &str = "token";

/// Keeps at most `keep` trace files in the directory of `written` (a trace file just
/// written there); see [`prune`].
pub(crate) fn prune_traces(written: &Path, keep: usize) -> usize {
    prune(written, TRACE_EXTENSION, keep)
}

/// Keeps at most `keep` token files in the directory of `written` (a token file just
/// written there), by the traces' rule; see [`prune`].
pub(crate) fn prune_tokens(written: &Path, keep: usize) -> usize {
    prune(written, TOKEN_EXTENSION, keep)
}

/// Keeps at most `keep` files ending in `.<extension>` in the directory of `written`
/// (such a file just written there): removes the oldest others, by modification time
/// (then name), and never `written` itself; other files are left alone. Returns how
/// many it removed. Errors are ignored (another test process may be pruning the same
/// directory): pruning is housekeeping.
fn prune(written: &Path, extension: &str, keep: usize) -> usize {
    let Some(dir) = written.parent() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.as_path() != written
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.ends_with(&format!(".{extension}")))
        })
        .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
        .collect();
    let excess = (others.len() + 1).saturating_sub(keep.max(1));
    others.sort();
    others
        .iter()
        .take(excess)
        .filter(|(_, path)| std::fs::remove_file(path).is_ok())
        .count()
}

/// `<target>/<dir>/<test>-<seed>.<extension>`; a run outside a test is named after its
/// executable.
fn artifact_path(dir: &str, test: Option<&str>, seed: u64, extension: &str) -> PathBuf {
    let name = test.map(str::to_owned).or_else(|| {
        let exe = std::env::current_exe().ok()?;
        Some(exe.file_stem()?.to_str()?.to_owned())
    });
    let stem = file_stem(name.as_deref().unwrap_or("detsim"));
    target_dir()
        .join(dir)
        .join(format!("{stem}-{seed:#x}.{extension}"))
}

/// The build's target directory, as an absolute path: `CARGO_TARGET_DIR` when it is an
/// absolute path (a relative one is relative to wherever cargo ran, which a test
/// cannot know), else found from the running executable
/// (`<target>/<profile>/deps/<test>` or `<target>/<profile>/examples/<example>`), else
/// the system's temporary directory.
pub(crate) fn target_dir() -> PathBuf {
    if let Some(dir) = crate::config::cargo_target_dir()
        && dir.is_absolute()
    {
        return dir;
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let mut dir = exe.parent()?;
        if dir
            .file_name()
            .is_some_and(|name| name == "deps" || name == "examples")
        {
            dir = dir.parent()?;
        }
        Some(dir.parent()?.to_path_buf())
    });
    let dir = from_exe.unwrap_or_else(std::env::temp_dir);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `name` with every character a file name should not hold replaced by `_`.
pub(crate) fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect()
}

/// A command that reruns this test with `vars` set.
pub(crate) fn replay_command(vars: &str) -> String {
    let vars = &with_build_flags(vars);
    let package = crate::config::cargo_package()
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    if let Some(name) = test_name() {
        return format!("{vars} cargo test{package} -- {name} --exact");
    }
    let exe = std::env::current_exe().ok();
    let example = exe.as_ref().and_then(|path| {
        let parent = path.parent()?.file_name()?;
        (parent == "examples").then(|| path.file_stem()?.to_str().map(str::to_owned))?
    });
    match example {
        Some(example) => format!("{vars} cargo run{package} --example {example}"),
        None => {
            let args: Vec<String> = std::env::args().collect();
            format!("{vars} {}", args.join(" "))
        }
    }
}

/// `vars`, plus `RUSTFLAGS="--cfg detsim"` when this is the tokio facade's simulated
/// build (RUSTFLAGS reach every crate of a build, this one too): without the flag,
/// `cargo test` would rebuild the test against real tokio and replay nothing.
fn with_build_flags(vars: &str) -> String {
    if cfg!(detsim) {
        format!("{vars} RUSTFLAGS=\"--cfg detsim\"")
    } else {
        vars.to_owned()
    }
}

/// The running test's name: libtest names each test's thread after the test.
pub(crate) fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_keep_only_safe_characters() {
        assert_eq!(file_stem("tests::a b/c-d.e_f"), "tests__a_b_c-d.e_f");
    }

    /// A fresh directory `name`, and a maker of empty files in it that are `age_secs`
    /// old by their modification time.
    fn aged_files(name: &str) -> (PathBuf, impl Fn(&str, u64) -> PathBuf) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        let at = dir.clone();
        let file = move |name: &str, age_secs: u64| {
            let path = at.join(name);
            let f = std::fs::File::create(&path).unwrap();
            f.set_modified(base - std::time::Duration::from_secs(age_secs))
                .unwrap();
            path
        };
        (dir, file)
    }

    /// The names of the files in `dir`, sorted.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pruning_keeps_the_newest_trace_files_and_the_one_just_written() {
        let (dir, file) = aged_files("detsim-prune");
        for i in 0..5u64 {
            file(&format!("t{i}-0x0.trace.json"), 100 - i); // t0 oldest … t4 newest
        }
        let other = file("notes.txt", 1000);
        // The file just written is kept even if its clock says it is the oldest.
        let written = file("new-0x0.trace.json", 10_000);
        assert_eq!(prune_traces(&written, 3), 3);
        assert_eq!(
            names_in(&dir),
            [
                "new-0x0.trace.json",
                "notes.txt",
                "t3-0x0.trace.json",
                "t4-0x0.trace.json"
            ]
        );
        assert!(other.exists());
        assert_eq!(prune_traces(&written, 3), 0, "nothing more to prune");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Token files are pruned by the traces' rule, and only token files.
    #[test]
    fn pruning_keeps_the_newest_token_files_and_leaves_traces_alone() {
        let (dir, file) = aged_files("detsim-prune-tokens");
        for i in 0..4u64 {
            file(&format!("t{i}-0x0.token"), 100 - i); // t0 oldest … t3 newest
        }
        file("old-0x0.trace.json", 1000);
        let written = file("new-0x0.token", 10_000);
        assert_eq!(prune_tokens(&written, 2), 3);
        assert_eq!(
            names_in(&dir),
            ["new-0x0.token", "old-0x0.trace.json", "t3-0x0.token"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_and_traces_follow_one_rule() {
        let token = token_file(Some("it::a b"), 0x2a);
        let trace = trace_file(Some("it::a b"), 0x2a);
        assert!(token.is_absolute() && trace.is_absolute());
        assert!(
            token.ends_with("detsim-replays/it__a_b-0x2a.token"),
            "{token:?}"
        );
        assert!(
            trace.ends_with("detsim-traces/it__a_b-0x2a.trace.json"),
            "{trace:?}"
        );
        assert_eq!(
            token.parent().unwrap().parent(),
            trace.parent().unwrap().parent()
        );
    }
}

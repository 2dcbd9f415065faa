//! `cargo detsim`: seed campaigns for detsim tests.
//!
//! - `cargo detsim merge DIR… [--junit FILE]` puts together the result records that
//!   sweeps run with `DETSIM_RESULTS=DIR` wrote (any number of shards, processes and
//!   machines): per test, the seeds run with gaps and overlaps named, and the distinct
//!   failures with their lowest seed's replay command; optionally a JUnit XML file.
//!   Its last line is `<S> seeds of <T> tests in <R> records; <F> distinct failures`;
//!   it exits with status 1 when any failure was found, 0 otherwise, 2 on an error.
//! - `cargo detsim run --shards N [--seeds K] [--for DURATION] [-- <cargo test
//!   arguments>]` runs N shard processes on this machine and merges their records.
//!
//! Installed with `cargo install --path cli`, it runs as `cargo detsim …` (cargo passes
//! `detsim` as the first argument) or as `cargo-detsim …`.

mod coverage;
mod junit;
mod merge;
mod record;
mod run;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
    cargo detsim merge DIR... [--junit FILE]
    cargo detsim run --shards N [--seeds K] [--for DURATION] [--results DIR] [--junit FILE]
                     [-- <cargo test arguments>]

merge: put together the result records (DETSIM_RESULTS=DIR) of any number of shards,
       processes and machines; exit status 1 when any failure was found.
run:   run N shards of `cargo test` on this machine (DETSIM_SHARD=i/N), then merge;
       --for runs rounds from fresh random starts until the time is up (such as 30m, 8h).";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // `cargo detsim …` runs `cargo-detsim detsim …`.
    if args.first().is_some_and(|a| a == "detsim") {
        args.remove(0);
    }
    match command(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cargo-detsim: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn command(args: Vec<OsString>) -> Result<ExitCode, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let Some(arg) = parser.next().map_err(|e| e.to_string())? else {
        return Err("no command".to_owned());
    };
    match arg {
        lexopt::Arg::Value(name) if name == "merge" => merge_command(&mut parser),
        lexopt::Arg::Value(name) if name == "run" => run::command(run::Args::parse(&mut parser)?),
        lexopt::Arg::Long("help") | lexopt::Arg::Short('h') => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {}", describe(&other))),
    }
}

fn merge_command(parser: &mut lexopt::Parser) -> Result<ExitCode, String> {
    let mut dirs = Vec::new();
    let mut junit = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            lexopt::Arg::Long("junit") => {
                junit = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
            }
            lexopt::Arg::Value(dir) => dirs.push(PathBuf::from(dir)),
            other => return Err(format!("merge: unexpected {}", describe(&other))),
        }
    }
    if dirs.is_empty() {
        return Err("merge: name at least one directory of result records".to_owned());
    }
    merge_and_report(&dirs, junit.as_deref())
}

/// Merges the records under `dirs`, prints the report, writes the JUnit file; the exit
/// status says whether a failure was found.
pub(crate) fn merge_and_report(
    dirs: &[PathBuf],
    junit: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let found = record::read_dirs(dirs).map_err(|e| e.to_string())?;
    let merged = merge::merge(found);
    print!("{}", merge::render(&merged));
    if let Some(path) = junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(path, junit::render(&merged))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(match merged.distinct_failures() {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn describe(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("option -{c}"),
        lexopt::Arg::Long(name) => format!("option --{name}"),
        lexopt::Arg::Value(value) => format!("argument `{}`", value.to_string_lossy()),
    }
}

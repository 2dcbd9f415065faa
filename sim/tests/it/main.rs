//! Integration tests of `detsim`, the harness: the public API of README.md (and every
//! other public name) used as written ([`contract`]), seed sweeps ([`sweep`], [`parallel`]), the failure
//! report a user reads ([`report`]), the `DETSIM_*` environment variables ([`env`]),
//! replay tokens ([`replay`]), shrinking ([`shrinking`]), the determinism check
//! ([`determinism`]) and the pictures of a failure: trace file, deviations explained,
//! deadlock positions ([`pictures`]), and the sealed run: the OS's clocks and
//! randomness as functions of the seed ([`sealed`]).

mod assertions;
mod attribute;
mod campaign;
mod contract;
mod determinism;
mod env;
mod exhaustive;
mod fresh;
mod history;
mod parallel;
mod pictures;
mod programs;
mod replay;
mod report;
mod sealed;
mod shrinking;
mod sweep;

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string payload>".to_owned())
}

/// Runs the `#[ignore]`d probe `test` (its path in this binary, such as
/// `env::sweep_probe`) in a child process of this test binary, with `vars` as its only
/// `DETSIM_*` variables; whether it passed, and what it printed. No sleeps, no wall
/// clock: the child's output is a function of its environment.
pub(crate) fn run_probe(test: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--ignored",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        test,
    ]);
    for (var, _) in std::env::vars().filter(|(var, _)| var.starts_with("DETSIM_")) {
        command.env_remove(var);
    }
    command
        .envs(vars.iter().copied())
        .env("RUST_BACKTRACE", "0");
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("running 1 test"),
        "the probe did not run:\n{text}"
    );
    (output.status.success(), text.into_owned())
}

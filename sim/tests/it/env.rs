//! The `DETSIM_*` environment variables, seen from outside: each test runs this test
//! binary again as a child process (`std::env::current_exe()`) with a variable set,
//! filtered to one `#[ignore]`d probe below, and reads what the probe printed. No
//! sleeps, no wall clock: the child's output is a function of its environment.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;

use detsim::{Builder, Scheduler, random, spawn};

/// [`crate::run_probe`] for probe `name` of this module.
fn run_probe(name: &str, vars: &[(&str, &str)]) -> (bool, String) {
    crate::run_probe(&format!("env::{name}"), vars)
}

/// The value printed after `key=` on a line of `text` (libtest may print the test's
/// name first on the same line).
fn printed<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    text.lines()
        .find_map(|line| line.split_once(&prefix).map(|(_, value)| value))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
}

/// Sweeps 3 seeds under fifo in code; prints how many runs happened and the first
/// `random` value of each, so the parent can tell which seeds ran.
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn sweep_probe() {
    let firsts = Mutex::new(Vec::new());
    let report = Builder::new()
        .seeds(3)
        .scheduler(Scheduler::fifo())
        .explore(|| async {
            firsts.lock().unwrap().push(random::<u64>());
        });
    println!("seeds_run={}", report.seeds_run);
    println!("firsts={:?}", firsts.lock().unwrap());
}

/// Fails under every scheduler but fifo (the second task must not run first).
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn scheduler_probe() {
    let report = Builder::new()
        .seeds(50)
        .scheduler(Scheduler::fifo())
        .explore(|| async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let (o1, o2) = (order.clone(), order.clone());
            let first = spawn(async move { o1.borrow_mut().push(1) });
            let second = spawn(async move { o2.borrow_mut().push(2) });
            first.await.unwrap();
            second.await.unwrap();
            assert_eq!(*order.borrow(), [1, 2], "out of order");
        });
    match report.failure {
        Some(failure) => {
            println!("replay={}", failure.replay_command());
            println!("seed={}", failure.seed_command().unwrap_or("none"));
        }
        None => println!("replay=none"),
    }
}

/// Always fails through `check`: the parent reads its report and replays it.
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn failing_probe() {
    Builder::new().seeds(500).check(|| async {
        let dice = random::<u8>();
        let t = spawn(async move { dice });
        assert!(t.await.unwrap() >= 8, "unlucky dice {dice}");
    });
}

/// The first `random` value of `seed` in the sweep probe's body, computed here on a
/// bare runtime (the program's randomness does not depend on the scheduler), so that
/// this process's own `DETSIM_*` variables cannot change it.
fn first_random(seed: u64) -> u64 {
    detsim_runtime::Runtime::new(seed).block_on(async { random::<u64>() })
}

#[test]
fn without_variables_the_code_settings_hold() {
    let (passed, text) = run_probe("sweep_probe", &[]);
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "seeds_run"), "3");
    let expected: Vec<u64> = (0..3).map(first_random).collect();
    assert_eq!(printed(&text, "firsts"), format!("{expected:?}"));
}

#[test]
fn detsim_seeds_and_seed_start_override_the_sweep() {
    let (passed, text) = run_probe("sweep_probe", &[("DETSIM_SEEDS", "5")]);
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "seeds_run"), "5");
    let vars = [("DETSIM_SEEDS", "2"), ("DETSIM_SEED_START", "1000")];
    let (passed, text) = run_probe("sweep_probe", &vars);
    assert!(passed, "{text}");
    let expected = vec![first_random(1000), first_random(1001)];
    assert_eq!(printed(&text, "firsts"), format!("{expected:?}"));
}

#[test]
fn detsim_seed_runs_exactly_one_seed_in_decimal_or_hex() {
    for value in ["42", "0x2a", "0x2A"] {
        let (passed, text) = run_probe("sweep_probe", &[("DETSIM_SEED", value)]);
        assert!(passed, "{text}");
        assert_eq!(printed(&text, "seeds_run"), "1", "DETSIM_SEED={value}");
        assert_eq!(printed(&text, "firsts"), format!("[{}]", first_random(42)));
    }
}

#[test]
fn detsim_scheduler_overrides_the_code_and_the_replay_command_keeps_it() {
    let (_, text) = run_probe("scheduler_probe", &[]);
    assert_eq!(printed(&text, "replay"), "none", "fifo in code never fails");
    let (_, text) = run_probe("scheduler_probe", &[("DETSIM_SCHEDULER", "random")]);
    // The token holds the whole schedule; the unshrunk seed needs the scheduler too.
    let replay = printed(&text, "replay");
    assert!(replay.starts_with("DETSIM_REPLAY=ds3."), "{replay}");
    let seed = printed(&text, "seed");
    assert!(seed.starts_with("DETSIM_SEED=0x"), "{seed}");
    assert!(seed.contains("DETSIM_SCHEDULER=random"), "{seed}");
    let (_, text) = run_probe("scheduler_probe", &[("DETSIM_SCHEDULER", "pct:2")]);
    assert!(
        printed(&text, "seed").contains("DETSIM_SCHEDULER=pct:2"),
        "{text}"
    );
}

#[test]
fn the_printed_replay_command_reproduces_the_failure() {
    let (passed, report) = run_probe("failing_probe", &[]);
    assert!(!passed);
    // `DETSIM_SEED=0x… cargo test -p detsim -- env::failing_probe --exact`
    let command = report
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("DETSIM_SEED="))
        .unwrap_or_else(|| panic!("no replay command in:\n{report}"));
    let seed = command
        .split_whitespace()
        .next()
        .and_then(|var| var.strip_prefix("DETSIM_SEED="))
        .unwrap();
    assert!(seed.starts_with("0x"), "{command}");
    assert!(command.contains("cargo test"), "{command}");
    assert!(command.contains("env::failing_probe --exact"), "{command}");
    let (passed, replayed) = run_probe("failing_probe", &[("DETSIM_SEED", seed)]);
    assert!(!passed);
    // The same failure: same first line (test, seed, scheduler, polls), same message.
    let headline = |text: &str| {
        text.lines()
            .find(|l| l.contains("detsim: test"))
            .map(|l| l[l.find("detsim: test").unwrap()..].to_owned())
            .unwrap_or_else(|| panic!("no report in:\n{text}"))
    };
    assert_eq!(headline(&replayed), headline(&report));
    let message = |text: &str| {
        text.lines()
            .find(|l| l.contains("unlucky dice"))
            .map(str::trim)
            .map(str::to_owned)
            .unwrap()
    };
    assert_eq!(message(&replayed), message(&report));
}

#[test]
fn a_malformed_variable_panics_naming_variable_value_and_form() {
    let cases = [
        ("DETSIM_SEED", "0xzz", "hexadecimal"),
        ("DETSIM_SEED", "seven", "decimal"),
        ("DETSIM_SEEDS", "0", "positive"),
        ("DETSIM_SEEDS", "many", "positive"),
        ("DETSIM_SEED_START", "-3", "decimal"),
        ("DETSIM_SCHEDULER", "roundrobin", "pct:<depth>"),
        ("DETSIM_SCHEDULER", "pct:0", "pct:<depth>"),
        ("DETSIM_JOBS", "0", "threads"),
        ("DETSIM_CHECK_DETERMINISM", "maybe", "`1`"),
    ];
    for (var, value, form) in cases {
        let (passed, text) = run_probe("sweep_probe", &[(var, value)]);
        assert!(!passed, "{var}={value} was accepted:\n{text}");
        let named = format!("{var}=`{value}`");
        assert!(
            text.contains(&named),
            "{var}={value}: no `{named}` in:\n{text}"
        );
        assert!(
            text.contains("expected"),
            "{var}={value}: no expected form in:\n{text}"
        );
        assert!(
            text.contains(form),
            "{var}={value}: no `{form}` in:\n{text}"
        );
    }
}

/// Explores three tasks of one yield each with at most one deviation in code, or
/// sweeps 3 seeds when that is off.
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn exhaustive_probe() {
    let report = Builder::new().seeds(3).exhaustive(1).explore(|| async {
        let tasks: Vec<_> = (0..3)
            .map(|_| spawn(async { detsim::yield_now().await }))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    println!("seeds_run={}", report.seeds_run);
    match report.coverage() {
        Some(coverage) => println!("coverage={coverage}"),
        None => println!("coverage=none"),
    }
}

#[test]
fn detsim_exhaustive_sets_the_bound_or_turns_exploration_off() {
    let (passed, text) = run_probe("exhaustive_probe", &[]);
    assert!(passed, "{text}");
    let one = printed(&text, "coverage").to_owned();
    assert!(
        one.contains("with at most 1 deviation from FIFO order; no failure"),
        "{one}"
    );
    let runs_one: u64 = printed(&text, "seeds_run").parse().unwrap();
    let (passed, text) = run_probe("exhaustive_probe", &[("DETSIM_EXHAUSTIVE", "2")]);
    assert!(passed, "{text}");
    let two = printed(&text, "coverage");
    assert!(
        two.contains("with at most 2 deviations from FIFO order; no failure"),
        "{two}"
    );
    let runs_two: u64 = printed(&text, "seeds_run").parse().unwrap();
    assert!(
        runs_two > runs_one,
        "{runs_two} schedules with 2 deviations, {runs_one} with 1"
    );
    let (passed, text) = run_probe("exhaustive_probe", &[("DETSIM_EXHAUSTIVE", "off")]);
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "coverage"), "none");
    assert_eq!(printed(&text, "seeds_run"), "3");
    // A sweep in code becomes an exploration: a body without tasks has one schedule.
    let (passed, text) = run_probe("sweep_probe", &[("DETSIM_EXHAUSTIVE", "2")]);
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "seeds_run"), "1");
    let (passed, text) = run_probe("sweep_probe", &[("DETSIM_EXHAUSTIVE", "two")]);
    assert!(!passed);
    assert!(
        text.contains("DETSIM_EXHAUSTIVE=`two` is malformed"),
        "{text}"
    );
}

/// A failing run of about 200,000 polls under the random scheduler: two tasks yield
/// 100,000 times each, then the root fails.
async fn long_failing_body() {
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            spawn(async {
                for _ in 0..100_000 {
                    detsim::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    panic!("the long run failed");
}

/// Replays whatever `DETSIM_REPLAY` says on the long failing body; prints the polls.
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn long_replay_probe() {
    let failure = Builder::new()
        .explore(long_failing_body)
        .failure
        .expect("the replayed schedule fails");
    println!("steps={}", failure.steps);
    println!("message={}", failure.message);
}

/// A big failing run, shrinking off: the report stays short (the long token goes to a
/// file) and the printed command replays the failure exactly, from the file.
#[test]
fn a_long_failing_run_prints_a_short_report_that_replays_from_a_file() {
    let failure = Builder::new()
        .seed(1)
        .scheduler(Scheduler::random())
        .shrink_budget(0, std::time::Duration::ZERO)
        .explore(long_failing_body)
        .failure
        .unwrap();
    assert!(failure.steps > 200_000, "{} polls", failure.steps);
    let token = failure.replay_token();
    assert!(
        token.len() > 10_000,
        "a long schedule: {} characters",
        token.len()
    );
    let report = failure.to_string();
    assert!(
        report.len() < 20_000,
        "{} characters:\n{report}",
        report.len()
    );
    let command = failure.replay_command();
    let path = command
        .split_whitespace()
        .find_map(|word| word.strip_prefix("DETSIM_REPLAY=@"))
        .unwrap_or_else(|| panic!("no token file in {command}"));
    assert_eq!(std::fs::read_to_string(path).unwrap().trim(), token);
    // The command's variable, in a child process: the same failure, poll for poll.
    let (passed, text) = run_probe(
        "long_replay_probe",
        &[("DETSIM_REPLAY", &format!("@{path}"))],
    );
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "steps"), failure.steps.to_string(), "{text}");
    assert_eq!(printed(&text, "message"), failure.message, "{text}");
}

/// Spins forever; reports the polls of the failing run.
#[test]
#[ignore = "a probe run by the env tests in a child process"]
fn budget_probe() {
    let failure = Builder::new()
        .seeds(1)
        .explore(|| async {
            loop {
                detsim::yield_now().await;
            }
        })
        .failure
        .expect("an endless run fails");
    println!("steps={}", failure.steps);
}

#[test]
fn detsim_max_steps_sets_the_poll_budget() {
    let (passed, text) = run_probe("budget_probe", &[("DETSIM_MAX_STEPS", "1234")]);
    assert!(passed, "{text}");
    assert_eq!(printed(&text, "steps"), "1234", "{text}");
}

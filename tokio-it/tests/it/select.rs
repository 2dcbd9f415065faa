//! `select!`: tokio's syntax and semantics in both builds; under `--cfg detsim` the
//! branch order is a seeded, recorded, replayable decision.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn the_first_ready_branch_wins_and_its_handler_runs() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tokio::spawn(async move {
        sleep(Duration::from_millis(5)).await;
        tx.send(7).await.unwrap();
    });
    let got = tokio::select! {
        Some(v) = rx.recv() => v,
        () = sleep(Duration::from_secs(1)) => 0,
    };
    assert_eq!(got, 7);
}

#[tokio::test(start_paused = true)]
async fn biased_polls_in_source_order() {
    for _ in 0..20 {
        let picked = tokio::select! {
            biased;
            () = std::future::ready(()) => 1,
            () = std::future::ready(()) => 2,
        };
        assert_eq!(picked, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn preconditions_patterns_and_else() {
    // A false precondition disables its branch; its future is still built.
    let mut built = 0;
    let mut make = |v: u32| {
        built += 1;
        std::future::ready(v)
    };
    let got = tokio::select! {
        v = make(1), if false => v,
        v = make(2) => v,
    };
    assert_eq!((got, built), (2, 2));

    // A pattern that does not match disables the branch; with none left, `else` runs.
    let got = tokio::select! {
        Some(v) = std::future::ready(None::<u32>) => v,
        Ok(v) = std::future::ready(Err::<u32, ()>(())) => v,
        else => 99,
    };
    assert_eq!(got, 99);

    // A mismatched branch lets a later-ready branch win.
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    drop(tx);
    let got = tokio::select! {
        Some(v) = rx.recv() => v,
        _ = sleep(Duration::from_millis(3)) => 3,
    };
    assert_eq!(got, 3);

    // `|` patterns.
    let got = tokio::select! {
        Ok(v) | Err(v) = std::future::ready(Ok::<u32, u32>(4)) => { v + 1 }
    };
    assert_eq!(got, 5);
}

/// Handlers may `break`/`continue` the enclosing loop, and use what the futures
/// borrowed (the futures are dropped before the handler runs).
#[tokio::test(start_paused = true)]
async fn handlers_control_the_loop_and_reuse_borrows() {
    let (tx, mut rx) = mpsc::channel::<u32>(8);
    for i in 1..=3 {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    let deadline = sleep(Duration::from_secs(1));
    tokio::pin!(deadline);
    let mut sum = 0;
    loop {
        tokio::select! {
            biased;
            maybe = rx.recv() => match maybe {
                Some(2) => continue,
                Some(v) => sum += v,
                None => break,
            },
            () = &mut deadline => {
                deadline.as_mut().reset(tokio::time::Instant::now());
                break;
            }
        }
    }
    assert_eq!(sum, 4);
}

/// The planted bug: a worker stops on a shutdown signal without draining the data
/// already queued. Whether it loses writes depends only on the order in which its
/// `select!` tries the branches (everything is queued before it starts).
pub(crate) async fn planted_bug_body() {
    let (data_tx, mut data_rx) = mpsc::channel::<u32>(8);
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    data_tx.send(1).await.unwrap();
    data_tx.send(2).await.unwrap();
    stop_tx.send(()).unwrap();
    let worker = tokio::spawn(async move {
        let mut saved = 0;
        loop {
            tokio::select! {
                Some(v) = data_rx.recv() => saved += v,
                _ = &mut stop_rx => break, // BUG: stops without draining data_rx
            }
        }
        saved
    });
    assert_eq!(worker.await.unwrap(), 3, "lost writes on shutdown");
}

/// The planted bug as a user's test; a default sweep finds it. Run (in a child
/// process) by `simulated::a_default_tokio_test_sweep_finds_the_select_bug_and_it_replays`.
#[tokio::test]
#[ignore = "a planted select! bug; its failure is checked from a child process"]
async fn planted_select_bug() {
    planted_bug_body().await;
}

#[cfg(detsim)]
mod simulated {
    use std::process::Command;
    use std::sync::Mutex;
    use std::time::Duration;

    use detsim::{Builder, Scheduler};

    /// Which branch each of `n` two-way selects on ready futures took, in one run of
    /// `seed`.
    fn branches(seed: u64, n: usize) -> Vec<u8> {
        let seen = Mutex::new(Vec::new());
        Builder::new().seed(seed).jobs(1).check(|| async {
            let mut picks = Vec::new();
            for _ in 0..n {
                let pick = tokio::select! {
                    () = std::future::ready(()) => 0u8,
                    () = std::future::ready(()) => 1u8,
                };
                picks.push(pick);
            }
            *seen.lock().unwrap() = picks;
        });
        seen.into_inner().unwrap()
    }

    /// A failure that needs a select! to take its second branch explains it, and the
    /// facade's timers record the user's `.await` as where a task waits.
    #[test]
    fn a_failure_explains_its_select_and_the_facade_says_where_tasks_wait() {
        let failure = Builder::new()
            .seeds(64)
            .jobs(1)
            .scheduler(Scheduler::random())
            .explore(|| async {
                let sleeper = tokio::spawn(async {
                    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
                    let _ = tokio::time::timeout(Duration::from_millis(5), rx).await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                });
                let pick = tokio::select! {
                    () = std::future::ready(()) => 0u8,
                    () = std::future::ready(()) => 1u8,
                };
                sleeper.await.unwrap();
                assert_eq!(pick, 0, "the second branch");
            })
            .failure
            .expect("some seed takes the second branch");
        let lines = failure.explain();
        assert!(
            lines.contains(
                &"step 1: select! in t0 main took branch 2 of 2 (source order would take \
                  branch 1)"
                    .to_owned()
            ),
            "{failure}"
        );
        let sites: Vec<String> = failure
            .trace()
            .events()
            .iter()
            .filter_map(|e| match &e.kind {
                detsim::trace::EventKind::PollEnd { at: Some(at), .. } => Some(at.to_string()),
                _ => None,
            })
            .collect();
        let here = file!();
        assert!(
            sites
                .iter()
                .any(|s| s.starts_with(&format!("in timeout ({here}:"))),
            "{sites:?}"
        );
        assert!(
            sites
                .iter()
                .any(|s| s.starts_with(&format!("in sleep ({here}:"))),
            "{sites:?}"
        );
    }

    #[test]
    fn same_seed_same_branches_different_seeds_differ() {
        let runs: Vec<Vec<u8>> = (0..16).map(|seed| branches(seed, 12)).collect();
        for (seed, run) in runs.iter().enumerate() {
            assert_eq!(
                run,
                &branches(seed as u64, 12),
                "seed {seed} replayed differently"
            );
        }
        let distinct: std::collections::BTreeSet<_> = runs.iter().collect();
        assert!(
            distinct.len() > 8,
            "16 seeds gave only {} branch sequences",
            distinct.len()
        );
        assert!(runs.iter().flatten().any(|&b| b == 0));
        assert!(runs.iter().flatten().any(|&b| b == 1));
    }

    /// A branch disabled by its precondition (`, if false`) takes no part in the
    /// decision: a select of three ready branches, one disabled, is one decision among
    /// 2 options, and the two enabled branches each win half of the runs. 2,000 runs:
    /// Binomial(2000, 0.5), sd ≈ 22.4, so 1,000 ± 112 (5 sd) wins each; with the
    /// disabled branch counted (3 options) one branch would win about 1,333.
    #[test]
    fn disabled_branches_take_no_part_in_the_decision() {
        let runs = 2000u64;
        let mut wins = [0u64; 3];
        for seed in 0..runs {
            let mut rt = detsim_runtime::Runtime::new(seed);
            let won = rt.block_on(async {
                tokio::select! {
                    v = std::future::ready(0usize) => v,
                    v = std::future::ready(1usize), if false => v,
                    v = std::future::ready(2usize) => v,
                }
            });
            wins[won] += 1;
            let selects: Vec<u32> = rt
                .decisions()
                .iter()
                .filter(|d| d.kind == detsim::choice::DecisionKind::Select)
                .map(|d| d.options)
                .collect();
            assert_eq!(
                selects,
                [2],
                "seed {seed}: one decision among the 2 enabled"
            );
        }
        assert_eq!(wins[1], 0, "the disabled branch never wins");
        let bounds = 888..=1112;
        assert!(
            bounds.contains(&wins[0]) && bounds.contains(&wins[2]),
            "wins per branch: {wins:?}, expected {bounds:?} each"
        );
    }

    /// Decisions are recorded: the fifo scheduler (every decision 0) takes source order,
    /// and never shows the planted bug, which random schedules find.
    #[test]
    fn the_bug_needs_a_non_source_order() {
        let fifo = Builder::new()
            .scheduler(Scheduler::fifo())
            .seeds(64)
            .explore(super::planted_bug_body);
        assert!(fifo.failure.is_none());
        let random = Builder::new()
            .scheduler(Scheduler::random())
            .seeds(64)
            .explore(super::planted_bug_body);
        let failure = random.failure.expect("random schedules find the bug");
        assert!(
            failure.message.contains("lost writes on shutdown"),
            "{}",
            failure.message
        );
        let trace = failure.trace().to_string();
        assert!(trace.contains("select: option 2 of 2"), "{trace}");
        // The token replays it in this process too.
        let replayed = Builder::new().replay(&failure.replay_token(), super::planted_bug_body);
        assert_eq!(replayed.unwrap_err().message, failure.message);
    }

    fn run_child(test: &str, env: &[(&str, &str)]) -> String {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(["--ignored", "--exact", test, "--test-threads", "2"]);
        for var in [
            "DETSIM_SEED",
            "DETSIM_SEEDS",
            "DETSIM_REPLAY",
            "DETSIM_SCHEDULER",
        ] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied()).env("RUST_BACKTRACE", "0");
        let output = command.output().unwrap();
        assert!(!output.status.success(), "the planted bug was not found");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }

    #[test]
    fn a_default_tokio_test_sweep_finds_the_select_bug_and_it_replays() {
        let test = "select::planted_select_bug";
        let report = run_child(test, &[]);
        assert!(report.contains("lost writes on shutdown"), "{report}");
        assert!(report.contains("select: option"), "{report}");
        let token = report
            .split_whitespace()
            .find_map(|word| word.strip_prefix("DETSIM_REPLAY="))
            .unwrap_or_else(|| panic!("no replay command in the report:\n{report}"))
            .to_owned();
        assert!(report.contains(&format!("-- {test} --exact")), "{report}");
        // The command rebuilds the simulated test, not one against real tokio.
        assert!(
            report.contains(&format!(
                "DETSIM_REPLAY={token} RUSTFLAGS=\"--cfg detsim\" cargo test"
            )),
            "{report}"
        );
        // Another process replays the token to the same failure.
        let replayed = run_child(test, &[("DETSIM_REPLAY", &token)]);
        assert!(replayed.contains("lost writes on shutdown"), "{replayed}");
        assert!(replayed.contains(&token), "{replayed}");
    }
}

/// tokio's forms: an `else`-only `select!`, `ref mut` bindings, a temporary borrowed
/// in a branch's future, and a disabled branch whose future's output type is inferred
/// only from the rest of the function.
#[tokio::test]
async fn select_forms_tokio_accepts() {
    let only_else = tokio::select! {
        else => 1,
    };
    assert_eq!(only_else, 1);

    tokio::select! {
        Some(ref mut text) = async { Some("1".to_string()) } => {
            text.push('2');
            assert_eq!(text, "12");
        },
    };

    tokio::select! {
        () = &mut std::future::ready(()) => {},
    }

    let never = std::future::poll_fn(|_| panic!("a disabled branch is never polled"));
    let value = tokio::select! {
        _ = never, if false => unreachable!(),
        v = async { 5 } => v,
    };
    assert_eq!(value, 5);
}

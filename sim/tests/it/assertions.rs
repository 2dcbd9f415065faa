//! `sometimes!`, `reachable!`, `always!`, `unreachable!`: counted per seed, the same
//! whatever the threads; a sweep in which a `sometimes!` never held fails with `never
//! reached in N seeds: <name>` (a warning when asked); a failure keeps what its run
//! reached through shrinking and replay.

use detsim::Builder;

use crate::panic_text;

/// Heads in about half the seeds; a six never (a die has no seven).
async fn coin_and_die() {
    let coin: bool = detsim::random();
    detsim::sometimes!(coin, "heads");
    let die = detsim::random::<u8>() % 6 + 1;
    detsim::sometimes!(die == 7, "seven");
    if die == 1 {
        detsim::reachable!("one");
    }
    detsim::always!(die <= 6, "a die shows at most six");
}

#[test]
fn a_sweep_whose_sometimes_never_holds_fails_with_never_reached() {
    let report = Builder::new().seeds(50).jobs(1).explore(coin_and_die);
    assert!(report.failure.is_none());
    assert!(!report.passed());
    assert_eq!(
        report.never_reached(),
        Some("never reached in 50 seeds: seven")
    );
    let panic = std::panic::catch_unwind(|| {
        Builder::new().seeds(50).check(coin_and_die);
    })
    .expect_err("the check fails");
    let text = panic_text(panic.as_ref());
    assert!(
        text.contains("failed: never reached in 50 seeds: seven"),
        "{text}"
    );
    assert!(text.contains("sometimes!   heads"), "{text}");
}

#[test]
fn a_sweep_where_every_sometimes_holds_passes_and_counts_the_seeds() {
    let body = || async {
        let coin: bool = detsim::random();
        detsim::sometimes!(coin, "heads");
        detsim::sometimes!(!coin, "tails");
        detsim::always!(true, "fine");
    };
    let report = Builder::new().seeds(200).jobs(1).explore(body);
    assert!(report.passed(), "{:?}", report.never_reached());
    let assertions = report.assertions();
    assert_eq!(assertions.seeds(), 200);
    let heads = assertions.get("heads").unwrap();
    let tails = assertions.get("tails").unwrap();
    assert_eq!((heads.evaluated, tails.evaluated), (200, 200));
    assert_eq!(heads.held + tails.held, 200);
    assert!(heads.held > 50 && tails.held > 50, "{assertions}");
    assert_eq!(assertions.get("fine").unwrap().evaluated, 200);
    let text = assertions.to_string();
    assert!(text.starts_with("assertions over 200 seeds:"), "{text}");
    assert!(
        text.contains(&format!(
            "sometimes!   heads  held in {} seeds (evaluated in 200)",
            heads.held
        )),
        "{text}"
    );
    Builder::new().seeds(200).check(body);
}

#[test]
fn the_counts_are_the_same_on_one_thread_and_on_several() {
    let one = Builder::new().seeds(300).jobs(1).explore(coin_and_die);
    let three = Builder::new().seeds(300).jobs(3).explore(coin_and_die);
    assert_eq!(one.assertions(), three.assertions());
    // A failing sweep counts the seeds up to its failure, whatever the threads.
    let failing = || async {
        let n = detsim::random::<u8>();
        detsim::sometimes!(n.is_multiple_of(2), "even");
        assert!(n != 200, "two hundred");
    };
    let one = Builder::new().seeds(2000).jobs(1).explore(failing);
    let three = Builder::new().seeds(2000).jobs(3).explore(failing);
    assert!(one.failure.is_some());
    assert_eq!(one.seeds_run, three.seeds_run);
    assert_eq!(one.assertions(), three.assertions());
    assert_eq!(
        one.assertions().get("even").unwrap().evaluated,
        one.seeds_run
    );
}

#[test]
fn warn_mode_passes_and_expected_names_must_be_reached() {
    let report = Builder::new()
        .seeds(20)
        .sometimes_warn()
        .explore(coin_and_die);
    assert!(report.passed());
    assert_eq!(
        report.never_reached(),
        Some("never reached in 20 seeds: seven")
    );
    let report = Builder::new()
        .seeds(20)
        .expect_reached("never written")
        .explore(|| async {});
    assert_eq!(
        report.never_reached(),
        Some("never reached in 20 seeds: never written")
    );
}

#[test]
fn always_and_unreachable_fail_the_seed() {
    let failure = Builder::new()
        .seeds(100)
        .explore(|| async {
            let n = detsim::random::<u8>() % 4;
            detsim::always!(n != 3, "never three");
        })
        .failure
        .expect("some seed draws a three");
    assert_eq!(
        failure.message,
        "always! did not hold: never three (`n != 3`)"
    );
    let failure = Builder::new()
        .seeds(100)
        .explore(|| async {
            if detsim::random::<u8>() % 4 == 3 {
                detsim::unreachable!("three");
            }
        })
        .failure
        .expect("some seed draws a three");
    assert_eq!(failure.message, "unreachable! reached: three");
    assert_eq!(failure.reached(), ["three"]);
}

#[test]
fn a_failure_keeps_what_its_run_reached_through_shrinking_and_replay() {
    let body = || async {
        let a = detsim::spawn(async {
            detsim::yield_now().await;
            detsim::reachable!("a ran");
        });
        let b = detsim::spawn(async {
            detsim::reachable!("b ran");
        });
        let seen: bool = detsim::random();
        detsim::sometimes!(seen, "heads");
        a.await.unwrap();
        b.await.unwrap();
        assert!(!seen, "heads fails");
    };
    let failure = Builder::new()
        .seeds(20)
        .explore(body)
        .failure
        .expect("heads fails");
    assert_eq!(failure.reached(), ["a ran", "b ran", "heads"]);
    let again = Builder::new()
        .replay(&failure.replay_token(), body)
        .expect_err("the replay fails");
    assert_eq!(again.reached(), failure.reached());
}

#[test]
fn outside_a_simulation_the_macros_count_nothing() {
    detsim::sometimes!(true, "outside");
    detsim::reachable!("outside too");
    detsim::always!(true, "outside as well");
}

//! The demo: a bank whose transfers lose money when two of them interleave across an
//! `.await` ([`detsim_zoo::bank`]). detsim sweeps seeds until one shows the bug, prints
//! the report with its replay command, then replays the shrunk schedule's token and
//! checks it fails the same way.
//!
//! Run it with `cargo run --example bank`; paste the printed command to replay.

use detsim::Builder;
use detsim_zoo::bank::one_day;

fn main() {
    println!("Sweeping 1000 seeds of a day at the bank...\n");
    let report = Builder::new().seeds(1000).explore(one_day);
    let Some(mut failure) = report.failure else {
        println!("No seed failed in {} seeds.", report.seeds_run);
        return;
    };
    println!("Found a bug after {} seed(s):\n", report.seeds_run);
    // What `Builder::check` does before it reports: replay the token in a fresh process.
    failure.check_in_fresh_process();
    println!("{failure}");

    let token = failure.replay_token();
    println!("Replaying the shrunk schedule {token} ...");
    let again = Builder::new()
        .replay(&token, one_day)
        .expect_err("the replayed schedule fails again");
    assert_eq!(again.message, failure.message);
    assert_eq!(again.trace(), failure.trace());
    println!(
        "The replay failed the same way: same message, same {} polls, same trace of {} events.",
        again.steps,
        again.trace().events().len()
    );
    println!("\nTo replay it yourself: {}", failure.replay_command());
}

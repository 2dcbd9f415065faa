//! `tokio::signal::ctrl_c`: in simulation it completes only when the test sends ctrl-c.

#[cfg(detsim)]
#[tokio::test]
async fn ctrl_c_completes_when_the_simulation_sends_it() {
    use std::time::Duration;

    let listener = tokio::spawn(async {
        tokio::signal::ctrl_c().await.unwrap();
        tokio::time::Instant::now()
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!listener.is_finished());
    let sent_at = tokio::time::Instant::now();
    tokio::simulation::send_ctrl_c();
    assert_eq!(listener.await.unwrap(), sent_at);
}

/// Waiting for a ctrl-c nobody sends is a deadlock, reported as one.
#[cfg(detsim)]
#[test]
fn an_unsent_ctrl_c_is_a_deadlock() {
    let report = detsim::Builder::new().seeds(4).explore(|| async {
        tokio::signal::ctrl_c().await.unwrap();
    });
    let failure = report.failure.expect("a deadlock");
    assert!(failure.message.contains("deadlock"), "{}", failure.message);
    let report = failure.to_string();
    assert!(report.contains("a foreign thread"), "{report}");
}

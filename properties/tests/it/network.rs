//! The simulated network under any fault plan: a TCP stream delivers its bytes in
//! order and uncorrupted, completely or with an error the reader sees (never a clean
//! EOF after missing bytes), and a seed's trace is identical across runs.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use detsim::cluster::{self, Faults, Plan};
use detsim::net::{TcpListener, TcpStream};
use detsim::{Builder, time};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fault plan with any latency, datagram fault and partition/clog/pause rate (no
/// kills: the writer must live to finish its stream or see it fail).
fn plans() -> impl Strategy<Value = Plan> {
    let ms = Duration::from_millis;
    (
        prop::sample::select(vec![(ms(0), ms(1)), (ms(1), ms(10)), (ms(1), ms(200))]),
        (0u32..=30, 0u32..=30, 0u32..=30),
        (0u32..=50, 0u32..=50, 0u32..=30),
        prop::sample::select(vec![ms(100), ms(2000), ms(40_000)]),
        any::<bool>(),
    )
        .prop_map(
            |(latency, (loss, dup, reorder), (partition, clog, pause), clog_for, buggify)| {
                let pct = |n: u32| f64::from(n) / 100.0;
                Plan {
                    latency,
                    loss: pct(loss),
                    duplicate: pct(dup),
                    reorder: pct(reorder),
                    partition: pct(partition),
                    clog: pct(clog),
                    clog_for,
                    kill: 0.0,
                    pause: pct(pause),
                    buggify,
                    step: Duration::from_millis(500),
                    horizon: Duration::from_secs(60),
                    disk: cluster::DiskFaults::NONE,
                }
            },
        )
}

/// Node `writer` streams `chunks` to the test body, which reads to the end.
async fn stream(chunks: Vec<usize>) {
    let sent: Vec<u8> = (0..chunks.iter().sum::<usize>())
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let listener = TcpListener::bind("0.0.0.0:5000").await.unwrap();
    let data = sent.clone();
    let writer_failed = Rc::new(RefCell::new(false));
    let failed = writer_failed.clone();
    cluster::node("writer", move || {
        let (data, chunks, failed) = (data.clone(), chunks.clone(), failed.clone());
        async move {
            let Ok(mut stream) = TcpStream::connect("main:5000").await else {
                *failed.borrow_mut() = true;
                return;
            };
            let mut at = 0;
            for size in chunks {
                if stream.write_all(&data[at..at + size]).await.is_err() {
                    *failed.borrow_mut() = true;
                    return;
                }
                at += size;
                time::sleep(Duration::from_millis(20)).await;
            }
            let _ = stream.shutdown().await;
        }
    });
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut received = Vec::new();
    let outcome = socket.read_to_end(&mut received).await;
    assert!(
        received.len() <= sent.len() && received == sent[..received.len()],
        "the stream's bytes arrived reordered or corrupted ({} of {} bytes)",
        received.len(),
        sent.len()
    );
    if outcome.is_ok() {
        assert_eq!(
            received.len(),
            sent.len(),
            "a clean EOF after missing bytes"
        );
        assert!(
            !*writer_failed.borrow(),
            "the writer failed but the reader saw a clean EOF"
        );
    }
}

/// 64 cases unless `PROPTEST_CASES` says otherwise (each case is two runs of up to a
/// minute of simulated time).
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tcp_is_ordered_and_uncorrupted_under_any_fault_plan_and_runs_are_deterministic(
        plan in plans(),
        chunks in prop::collection::vec(1usize..3000, 1..40),
        seed in any::<u64>(),
    ) {
        let report = Builder::new()
            .seed(seed)
            .faults(Faults::explicit(plan))
            .check_determinism(true)
            .explore(|| stream(chunks.clone()));
        if let Some(failure) = report.failure {
            panic!("{failure}");
        }
    }
}

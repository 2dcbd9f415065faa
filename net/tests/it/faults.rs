//! Each fault's exact effect (the direction of partitions, the TCP timeout, datagram
//! loss and duplication rates measured at rates strictly between 0 and 1), and the
//! refusal of bad fault input (out-of-range plans and link faults, a node partitioned
//! from itself).

use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use detsim::cluster::{self, Faults, LinkFaults, Node, Plan};
use detsim::net::{TcpStream, UdpSocket};
use detsim::time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster::{echo_server, run_with, send_from, udp_pair};

/// A node named `name` that logs the datagrams it receives on port 9000.
fn listener(name: &str) -> (Node, Rc<RefCell<Vec<u32>>>) {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let node = cluster::node(name, move || {
        let g = g.clone();
        async move {
            let socket = UdpSocket::bind("0.0.0.0:9000").await.unwrap();
            let mut buf = [0; 4];
            loop {
                socket.recv(&mut buf).await.unwrap();
                g.borrow_mut().push(u32::from_le_bytes(buf));
            }
        }
    });
    (node, got)
}

/// Sends `0..3` from `node` to `to` (a `host:port`), and gives the network a second.
async fn send_three(node: &Node, to: &'static str) {
    node.spawn(async move {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        for i in 0..3u32 {
            socket.send_to(&i.to_le_bytes(), to).await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[test]
fn partition_blocks_both_directions_and_partition_oneway_only_its_own() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let (a, to_a) = listener("a");
            let (b, to_b) = listener("b");
            time::sleep(Duration::from_millis(10)).await;
            let exchange = || async {
                to_a.borrow_mut().clear();
                to_b.borrow_mut().clear();
                send_three(&a, "b:9000").await;
                send_three(&b, "a:9000").await;
                time::sleep(Duration::from_secs(1)).await;
                (to_a.borrow().len(), to_b.borrow().len())
            };
            cluster::partition(&a, &b);
            assert_eq!(exchange().await, (0, 0), "partition(a, b) blocks both ways");
            cluster::heal(&a, &b);
            assert_eq!(exchange().await, (3, 3), "heal(a, b) opens both ways");
            cluster::partition_oneway(&a, &b);
            assert_eq!(
                exchange().await,
                (3, 0),
                "partition_oneway(a, b) blocks a → b only"
            );
            cluster::heal(&a, &b);
            cluster::partition_oneway(&b, &a);
            assert_eq!(
                exchange().await,
                (0, 3),
                "partition_oneway(b, a) blocks b → a only"
            );
            a.kill();
            b.kill();
        });
    }
}

/// Across a partition, a connect fails with `TimedOut` and an established stream is
/// reset exactly [`cluster::TCP_TIMEOUT`] (30 s) after the first packet it held.
#[test]
fn tcp_held_by_a_partition_gives_up_after_exactly_30_seconds() {
    assert_eq!(cluster::TCP_TIMEOUT, Duration::from_secs(30));
    // The slack: one packet's latency at most (a healthy link's is at most 1 ms).
    let slack = Duration::from_millis(1);
    for seed in 0..5 {
        run_with(Faults::none(), seed, async move {
            let started = Rc::new(std::cell::Cell::new(0));
            let s = started.clone();
            let server = cluster::node("server", move || echo_server(s.clone()));
            let client = cluster::node("client", || async {});
            time::sleep(Duration::from_millis(10)).await;

            cluster::partition(&client, &server);
            let connect = client.spawn(async {
                let start = time::now();
                let result = TcpStream::connect("server:7000").await;
                (result.err().map(|e| e.kind()), time::now() - start)
            });
            let (error, waited) = connect.await.unwrap();
            assert_eq!(error, Some(ErrorKind::TimedOut));
            assert!(
                waited >= cluster::TCP_TIMEOUT && waited <= cluster::TCP_TIMEOUT + slack,
                "the connect gave up after {waited:?}"
            );
            cluster::heal(&client, &server);

            let talk = client.spawn(async {
                let mut stream = TcpStream::connect("server:7000").await.unwrap();
                stream.write_all(b"a").await.unwrap();
                stream.read_exact(&mut [0]).await.unwrap();
                time::sleep(Duration::from_secs(1)).await; // the test partitions meanwhile
                let start = time::now();
                stream.write_all(b"b").await.unwrap();
                let read = stream.read_exact(&mut [0]).await;
                (read.err().map(|e| e.kind()), time::now() - start)
            });
            time::sleep(Duration::from_millis(500)).await;
            cluster::partition(&client, &server);
            let (error, waited) = talk.await.unwrap();
            assert_eq!(error, Some(ErrorKind::ConnectionReset));
            assert!(
                waited >= cluster::TCP_TIMEOUT && waited <= cluster::TCP_TIMEOUT + slack,
                "the stream was reset after {waited:?}"
            );
            server.kill();
            client.kill();
        });
    }
}

/// How many datagrams `b` receives when `a` sends `n` of them, 1 ms apart, over a link
/// with `faults`, in one run of `seed`.
fn received(seed: u64, faults: LinkFaults, n: u32) -> usize {
    run_with(Faults::none(), seed, async move {
        let (a, b, got) = udp_pair();
        cluster::set_link(&a, &b, faults);
        time::sleep(Duration::from_millis(10)).await;
        send_from(&a, n, Duration::from_millis(1)).await.unwrap();
        time::sleep(Duration::from_secs(1)).await;
        a.kill();
        b.kill();
        got.borrow().len()
    })
}

/// Over `runs` runs (seeds `0..runs`) of 100 datagrams each, how many `b` receives in
/// all, and the binomial bounds (±5 sd) for `rate` of the 100·runs datagrams.
fn measure(faults: LinkFaults, rate: f64) -> (usize, std::ops::RangeInclusive<usize>) {
    const RUNS: u64 = 20;
    const PER_RUN: u32 = 100;
    let total: usize = (0..RUNS).map(|seed| received(seed, faults, PER_RUN)).sum();
    let trials = (RUNS * u64::from(PER_RUN)) as f64;
    let (mean, sd) = (trials * rate, (trials * rate * (1.0 - rate)).sqrt());
    let low = (mean - 5.0 * sd).floor() as usize;
    let high = (mean + 5.0 * sd).ceil() as usize;
    (total, low..=high)
}

/// Loss at 0.3 loses 30% of datagrams: 2,000 datagrams, Binomial(2000, 0.3) losses
/// (sd ≈ 20.5), so 1,400 ± 103 arrive; a rate applied twice (51% lost, 980 arrive) or
/// squared (9% lost, 1,820 arrive) is far outside. The seeds are fixed, so the test is
/// deterministic; the ±5 sd bounds say how far from the rate a seed set may fall.
#[test]
fn datagram_loss_happens_at_its_rate() {
    let faults = LinkFaults {
        loss: 0.3,
        ..LinkFaults::HEALTHY
    };
    let (lost, bounds) = {
        let (arrived, kept) = measure(faults, 0.7);
        (2000 - arrived, 2000 - kept.end()..=2000 - kept.start())
    };
    assert!(
        bounds.contains(&lost),
        "{lost} of 2000 lost; expected {bounds:?}"
    );
}

/// Duplication at 0.3 duplicates 30% of datagrams: Binomial(2000, 0.3) copies
/// (sd ≈ 20.5), so 2,600 ± 103 arrive.
#[test]
fn datagram_duplication_happens_at_its_rate() {
    let faults = LinkFaults {
        duplicate: 0.3,
        ..LinkFaults::HEALTHY
    };
    let (arrived, bounds) = measure(faults, 0.3);
    let copies = arrived - 2000;
    assert!(
        bounds.contains(&copies),
        "{copies} of 2000 duplicated; expected {bounds:?}"
    );
}

#[test]
#[should_panic(expected = "`loss` is 2.0; it must be a probability in 0.0..=1.0")]
fn a_plan_with_a_loss_above_one_is_refused() {
    let _ = Faults::explicit(Plan {
        loss: 2.0,
        ..Plan::NONE
    });
}

#[test]
#[should_panic(expected = "`kill` is NaN; it must be a probability in 0.0..=1.0")]
fn a_plan_with_a_nan_rate_is_refused() {
    let _ = Faults::explicit(Plan {
        kill: f64::NAN,
        ..Plan::NONE
    });
}

#[test]
#[should_panic(expected = "`partition` is -0.1; it must be a probability in 0.0..=1.0")]
fn a_plan_with_a_negative_rate_is_refused() {
    let _ = Faults::explicit(Plan {
        partition: -0.1,
        ..Plan::NONE
    });
}

#[test]
#[should_panic(
    expected = "`latency` is (10ms, 1ms); it must be a range (min, max) with min <= max"
)]
fn a_plan_with_an_inverted_latency_range_is_refused() {
    let _ = Faults::explicit(Plan {
        latency: (Duration::from_millis(10), Duration::from_millis(1)),
        ..Plan::NONE
    });
}

#[test]
#[should_panic(expected = "`horizon` is 0ns; it must be above zero")]
fn a_plan_with_a_zero_horizon_is_refused() {
    let _ = Faults::explicit(Plan {
        horizon: Duration::ZERO,
        ..Plan::NONE
    });
}

/// A zero step would make the nemesis loop without time passing (allocating trace
/// notes until memory runs out): refused before any run starts.
#[test]
#[should_panic(expected = "`step` is 0ns; it must be above zero")]
fn a_plan_with_a_zero_step_is_refused() {
    let _ = Faults::explicit(Plan {
        kill: 0.5,
        step: Duration::ZERO,
        ..Plan::NONE
    });
}

#[test]
fn every_plan_a_swarm_draws_and_the_none_plan_are_valid() {
    assert_eq!(Plan::NONE.validate(), Ok(()));
    for seed in 0..50 {
        let plan = crate::cluster::swarm_plan(seed).0;
        assert_eq!(plan.validate(), Ok(()), "{plan}");
    }
}

#[test]
#[should_panic(expected = "detsim::cluster::set_link: `duplicate` is 1.5")]
fn link_faults_out_of_range_are_refused() {
    run_with(Faults::none(), 1, async {
        let (a, b, _) = udp_pair();
        cluster::set_link(
            &a,
            &b,
            LinkFaults {
                duplicate: 1.5,
                ..LinkFaults::HEALTHY
            },
        );
    });
}

#[test]
#[should_panic(expected = "`detsim::cluster::partition` was given the node \"a\" twice")]
fn partitioning_a_node_from_itself_is_refused() {
    run_with(Faults::none(), 1, async {
        let a = cluster::node("a", || async {});
        cluster::partition(&a, &a);
    });
}

#[test]
#[should_panic(expected = "`detsim::cluster::partition_oneway` was given the node \"a\" twice")]
fn partitioning_a_node_one_way_from_itself_is_refused() {
    run_with(Faults::none(), 1, async {
        let a = cluster::node("a", || async {});
        cluster::partition_oneway(&a, &a.clone());
    });
}

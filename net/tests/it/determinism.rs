//! Determinism: a seed's trace is the same every run; the latency is drawn per seed
//! from the network's own stream; simultaneous deliveries are decisions that a token
//! replays.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use detsim::net::{TcpListener, TcpStream, UdpSocket};
use detsim::time;
use detsim_runtime::Runtime;
use detsim_runtime::{DecisionKind, Replay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Three clients echo through one server; everything is traced.
async fn echo_program() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = detsim::spawn(async move {
        for _ in 0..3 {
            let (mut socket, _) = listener.accept().await.unwrap();
            detsim::spawn(async move {
                let (mut r, mut w) = socket.split();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
            });
        }
    });
    let mut clients = Vec::new();
    for i in 0..3u8 {
        clients.push(detsim::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for j in 0..5u8 {
                s.write_all(&[i, j]).await.unwrap();
                let mut buf = [0; 2];
                s.read_exact(&mut buf).await.unwrap();
                assert_eq!(buf, [i, j]);
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    server.await.unwrap();
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in 0..10 {
        let trace = || {
            let mut rt = Runtime::new(seed);
            rt.set_trace(true);
            rt.block_on(echo_program());
            (rt.take_trace().unwrap(), rt.decisions())
        };
        let (a, da) = trace();
        let (b, db) = trace();
        assert_eq!(a.first_difference(&b), None, "seed {seed}");
        assert_eq!(da, db);
    }
    detsim::Builder::new()
        .seeds(20)
        .check_determinism(true)
        .check(echo_program);
}

/// The one-way loopback latency of a seed's run, measured with a datagram.
fn latency(seed: u64) -> Duration {
    Runtime::new(seed).block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let start = time::now();
        a.send_to(b"t", b.local_addr().unwrap()).await.unwrap();
        b.recv(&mut [0; 1]).await.unwrap();
        time::now() - start
    })
}

#[test]
fn latency_is_drawn_per_seed_within_its_documented_range() {
    let latencies: Vec<Duration> = (0..50).map(latency).collect();
    for l in &latencies {
        assert!(
            (Duration::from_micros(10)..=Duration::from_micros(100)).contains(l),
            "{l:?}"
        );
        assert_eq!(l.subsec_nanos() % 1000, 0, "whole microseconds");
    }
    let distinct: std::collections::BTreeSet<_> = latencies.iter().collect();
    assert!(distinct.len() > 10, "{distinct:?}");
    assert_eq!(latency(7), latency(7));
}

#[test]
fn the_network_leaves_user_randomness_alone() {
    let draws = |net: bool| {
        Runtime::new(3).block_on(async move {
            if net {
                let _ = latency_in_run().await;
            }
            (0..4).map(|_| detsim::random::<u64>()).collect::<Vec<_>>()
        })
    };
    assert_eq!(draws(false), draws(true));
}

async fn latency_in_run() -> Duration {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let start = time::now();
    a.send_to(b"t", a.local_addr().unwrap()).await.unwrap();
    a.recv(&mut [0; 1]).await.unwrap();
    time::now() - start
}

/// Two senders' datagrams are due at the same instant; the receiver logs who came first.
async fn race(order: Rc<RefCell<Vec<u8>>>) {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = server.local_addr().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(b"a", to).await.unwrap();
    b.send_to(b"b", to).await.unwrap();
    let mut buf = [0; 1];
    for _ in 0..2 {
        server.recv(&mut buf).await.unwrap();
        order.borrow_mut().push(buf[0]);
    }
}

#[test]
fn simultaneous_deliveries_are_a_recorded_decision_in_queue_order_by_default() {
    for (decisions, expected) in [(vec![], b"ab"), (vec![0], b"ab"), (vec![1], b"ba")] {
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut rt = Runtime::with_chooser(1, Box::new(Replay::new(decisions)));
        rt.block_on(race(order.clone()));
        assert_eq!(&order.borrow()[..], expected);
        let kinds: Vec<DecisionKind> = rt.decisions().iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [DecisionKind::Delivery]);
    }
}

#[test]
fn a_delivery_order_bug_is_found_and_its_token_replays_it() {
    let body = || async {
        let order = Rc::new(RefCell::new(Vec::new()));
        race(order.clone()).await;
        assert_eq!(&order.borrow()[..], b"ab", "b overtook a");
    };
    let report = detsim::Builder::new()
        .seeds(64)
        .scheduler(detsim::Scheduler::random())
        .explore(body);
    let failure = report.failure.expect("some seed delivers b first");
    assert!(
        failure.message.contains("b overtook a"),
        "{}",
        failure.message
    );
    let token = failure.replay_token();
    let again = detsim::Builder::new().replay(&token, body).unwrap_err();
    assert_eq!(again.message, failure.message);
    assert!(
        failure.trace().to_string().contains("delivery"),
        "{}",
        failure.trace()
    );
}

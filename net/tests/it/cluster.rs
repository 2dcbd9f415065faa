//! The cluster: node operations (kill, restart, pause), each network fault with an
//! assertion of its effect that holds under every seed, buggify's two-level
//! probabilities, swarm plans, liveness failures.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use detsim::cluster::{self, Faults, LinkFaults, Plan};
use detsim::net::{TcpListener, TcpStream, UdpSocket, lookup_host};
use detsim::{spawn, time};
use detsim_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `body` once under `seed` and `faults`.
pub(crate) fn run_with<F: Future>(faults: Faults, seed: u64, body: F) -> F::Output {
    let mut rt = Runtime::new(seed);
    rt.set_run_input(Some(faults));
    rt.block_on(body)
}

/// An echo server on port 7000 of the node it runs on.
pub(crate) async fn echo_server(started: Rc<Cell<u32>>) {
    started.set(started.get() + 1);
    let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
    loop {
        let (mut socket, _) = listener.accept().await.unwrap();
        spawn(async move {
            let (mut r, mut w) = socket.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

#[test]
fn node_names_resolve_and_kill_closes_sockets_and_restart_reruns_init() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let started = Rc::new(Cell::new(0));
            let disk = started.clone();
            let db = cluster::node("db", move || echo_server(disk.clone()));
            assert_eq!(db.name(), "db");
            assert_eq!(db.ip().to_string(), "10.0.0.2");
            let addrs: Vec<SocketAddr> = lookup_host("db:7000").await.unwrap().collect();
            assert_eq!(addrs, ["10.0.0.2:7000".parse().unwrap()]);

            let mut client = TcpStream::connect("db:7000").await.unwrap();
            client.write_all(b"hi").await.unwrap();
            let mut buf = [0; 2];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(client.local_addr().unwrap().ip().to_string(), "10.0.0.1");

            db.kill();
            assert!(!db.is_alive());
            // The crashed process's sockets were closed: the client reads EOF.
            assert_eq!(client.read(&mut buf).await.unwrap(), 0);
            // A dead host answers nothing: a connect hangs until the caller gives up.
            let attempt =
                time::timeout(Duration::from_secs(1), TcpStream::connect("db:7000")).await;
            assert!(attempt.is_err());

            db.restart();
            assert!(db.is_alive());
            time::sleep(Duration::from_millis(10)).await;
            assert_eq!(started.get(), 2, "init ran again");
            let mut client = TcpStream::connect("db:7000").await.unwrap();
            client.write_all(b"yo").await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"yo");
            db.kill();
        });
    }
}

/// A node killed in the poll that started it runs nothing: its `init` task, spawned in
/// that poll, is dropped with it.
#[test]
fn a_node_killed_in_the_poll_that_started_it_runs_nothing() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let started = Rc::new(Cell::new(0));
            let s = started.clone();
            let n = cluster::node("n", move || echo_server(s.clone()));
            n.kill();
            time::sleep(Duration::from_secs(1)).await;
            assert_eq!(started.get(), 0, "init ran after the kill");
            n.restart();
            time::sleep(Duration::from_secs(1)).await;
            assert_eq!(started.get(), 1, "a restart runs init");
            n.kill();
        });
    }
}

#[test]
fn pause_freezes_a_node_and_its_timers() {
    run_with(Faults::none(), 1, async {
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let n = cluster::node("ticker", move || {
            let t = t.clone();
            async move {
                loop {
                    time::sleep(Duration::from_millis(100)).await;
                    t.set(t.get() + 1);
                }
            }
        });
        time::sleep(Duration::from_millis(1050)).await;
        assert_eq!(ticks.get(), 10);
        n.pause(Duration::from_secs(2));
        time::sleep(Duration::from_millis(1900)).await;
        assert_eq!(ticks.get(), 10, "no tick while paused");
        time::sleep(Duration::from_millis(200)).await;
        assert_eq!(ticks.get(), 11, "it runs again after the pause");
        n.kill();
    });
}

/// Two nodes `a` and `b`, each with a UDP socket on port 9000, and a log of what `b` got.
pub(crate) fn udp_pair() -> (cluster::Node, cluster::Node, Rc<RefCell<Vec<u32>>>) {
    let got = Rc::new(RefCell::new(Vec::new()));
    let a = cluster::node("a", || async {});
    let g = got.clone();
    let b = cluster::node("b", move || {
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
    (a, b, got)
}

/// Sends `0..n` datagrams from `node` to `b:9000`, `gap` apart.
pub(crate) fn send_from(node: &cluster::Node, n: u32, gap: Duration) -> detsim::JoinHandle<()> {
    node.spawn(async move {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        for i in 0..n {
            socket.send_to(&i.to_le_bytes(), "b:9000").await.unwrap();
            time::sleep(gap).await;
        }
    })
}

#[test]
fn a_partition_makes_datagrams_vanish_and_connects_time_out_until_healed() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let (a, b, got) = udp_pair();
            let started = Rc::new(Cell::new(0));
            let s = started.clone();
            let c = cluster::node("c", move || echo_server(s.clone()));
            time::sleep(Duration::from_millis(10)).await;
            cluster::partition(&a, &b);
            cluster::partition(&a, &c);
            send_from(&a, 3, Duration::ZERO).await.unwrap();
            time::sleep(Duration::from_secs(1)).await;
            assert!(got.borrow().is_empty(), "nothing crosses a partition");
            let attempt = a.spawn(async {
                time::timeout(Duration::from_secs(5), TcpStream::connect("c:7000")).await
            });
            assert!(
                attempt.await.unwrap().is_err(),
                "the connect waited past 5 s"
            );
            cluster::heal(&a, &b);
            cluster::heal_all();
            send_from(&a, 2, Duration::ZERO).await.unwrap();
            time::sleep(Duration::from_secs(1)).await;
            assert_eq!(*got.borrow(), [0, 1], "what is sent after the heal arrives");
            let ok = a.spawn(async { TcpStream::connect("c:7000").await.is_ok() });
            assert!(ok.await.unwrap());
            for n in [a, b, c] {
                n.kill();
            }
        });
    }
}

#[test]
fn tcp_across_a_partition_is_delayed_then_delivered_in_order_or_reset_after_the_timeout() {
    for (seed, outage) in [(1, Duration::from_secs(10)), (2, Duration::from_secs(40))] {
        run_with(Faults::none(), seed, async move {
            let started = Rc::new(Cell::new(0));
            let s = started.clone();
            let server = cluster::node("server", move || echo_server(s.clone()));
            let client = cluster::node("client", || async {});
            time::sleep(Duration::from_millis(10)).await;
            let talk = client.spawn(async move {
                let mut stream = TcpStream::connect("server:7000").await.unwrap();
                let mut echoed = Vec::new();
                for i in 0..20u8 {
                    if stream.write_all(&[i]).await.is_err() {
                        return Err(echoed);
                    }
                    let mut b = [0];
                    match stream.read_exact(&mut b).await {
                        Ok(_) => echoed.push(b[0]),
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::ConnectionReset);
                            return Err(echoed);
                        }
                    }
                    time::sleep(Duration::from_secs(1)).await;
                }
                Ok(echoed)
            });
            time::sleep(Duration::from_millis(2500)).await;
            cluster::partition(&client, &server);
            time::sleep(outage).await;
            cluster::heal(&client, &server);
            match talk.await.unwrap() {
                Ok(echoed) => {
                    assert!(outage < cluster::TCP_TIMEOUT);
                    assert_eq!(echoed, (0..20).collect::<Vec<u8>>(), "late but in order");
                }
                Err(echoed) => {
                    assert!(
                        outage > cluster::TCP_TIMEOUT,
                        "reset only after the timeout"
                    );
                    assert_eq!(echoed, (0..echoed.len() as u8).collect::<Vec<u8>>());
                }
            }
            server.kill();
        });
    }
}

#[test]
fn duplication_delivers_twice_and_loss_delivers_nothing() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let (a, b, got) = udp_pair();
            let twice = LinkFaults {
                duplicate: 1.0,
                ..LinkFaults::HEALTHY
            };
            cluster::set_link(&a, &b, twice);
            time::sleep(Duration::from_millis(10)).await;
            send_from(&a, 3, Duration::from_millis(50)).await.unwrap();
            time::sleep(Duration::from_secs(1)).await;
            let mut seen = got.borrow().clone();
            seen.sort_unstable();
            assert_eq!(seen, [0, 0, 1, 1, 2, 2]);
            cluster::set_link(
                &a,
                &b,
                LinkFaults {
                    loss: 1.0,
                    ..LinkFaults::HEALTHY
                },
            );
            got.borrow_mut().clear();
            send_from(&a, 3, Duration::ZERO).await.unwrap();
            time::sleep(Duration::from_secs(1)).await;
            assert!(got.borrow().is_empty());
            a.kill();
            b.kill();
        });
    }
}

#[test]
fn a_clog_delivers_late_but_in_order() {
    for seed in 0..5 {
        run_with(Faults::none(), seed, async {
            let (a, b, got) = udp_pair();
            time::sleep(Duration::from_millis(10)).await;
            let start = time::now();
            cluster::clog(&a, &b, Duration::from_secs(2));
            send_from(&a, 10, Duration::from_millis(10)).await.unwrap();
            time::sleep(Duration::from_millis(1500)).await;
            assert!(got.borrow().is_empty(), "held while clogged");
            time::sleep_until(start + Duration::from_millis(2100)).await;
            assert_eq!(*got.borrow(), (0..10).collect::<Vec<u32>>());
            a.kill();
            b.kill();
        });
    }
}

#[test]
fn reordering_lets_later_datagrams_overtake() {
    let mut overtaken = 0;
    for seed in 0..20 {
        run_with(Faults::none(), seed, async {
            let (a, b, got) = udp_pair();
            cluster::set_link(
                &a,
                &b,
                LinkFaults {
                    reorder: 0.5,
                    ..LinkFaults::HEALTHY
                },
            );
            time::sleep(Duration::from_millis(10)).await;
            send_from(&a, 20, Duration::ZERO).await.unwrap();
            time::sleep(Duration::from_secs(1)).await;
            let seen = got.borrow().clone();
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..20).collect::<Vec<u32>>(), "nothing lost");
            if seen != sorted {
                overtaken += 1;
            }
            a.kill();
            b.kill();
        });
    }
    assert!(overtaken >= 15, "{overtaken} of 20 runs reordered");
}

#[test]
fn buggify_sites_are_enabled_a_quarter_of_runs_and_fire_a_quarter_of_the_time() {
    let plan = Plan {
        buggify: true,
        ..Plan::NONE
    };
    let (runs, reaches) = (2000u32, 20u32);
    let (mut enabled, mut fired_when_enabled) = (0u32, 0u32);
    for seed in 0..u64::from(runs) {
        let fired = run_with(Faults::explicit(plan), seed, async move {
            (0..reaches).filter(|_| detsim::buggify!()).count() as u32
        });
        // An enabled site that never fired in 20 reaches (0.75^20 ≈ 0.3%) is counted as
        // disabled; the bounds below allow for it.
        if fired > 0 {
            enabled += 1;
            fired_when_enabled += fired;
        }
    }
    // Binomial(2000, 0.25): sd ≈ 19.4; ±5 sd.
    assert!(
        (400..=600).contains(&enabled),
        "{enabled} of {runs} runs enabled the site"
    );
    let rate = f64::from(fired_when_enabled) / f64::from(enabled * reaches);
    assert!(
        (0.22..=0.28).contains(&rate),
        "an enabled site fired at rate {rate}"
    );
    assert!(!run_with(Faults::none(), 1, async {
        (0..100).any(|_| detsim::buggify!())
    }));
    let default = Runtime::new(1).block_on(async { (0..100).any(|_| detsim::buggify!()) });
    assert!(!default, "off by default in a run without nodes");
    assert!(!detsim::buggify!(), "false outside a simulation");
}

/// The plan a seed draws under swarm.
pub(crate) fn swarm_plan(seed: u64) -> (Plan, Vec<detsim_runtime::Decision>) {
    let mut rt = Runtime::new(seed);
    rt.set_run_input(Some(Faults::swarm()));
    rt.block_on(async {
        cluster::node("n", || async {}).kill();
    });
    (rt.take_run_output::<Plan>().unwrap(), rt.decisions())
}

/// The faults go in and the plan comes out through the runtime's run-scoped state:
/// the input holds for every run of that runtime (and no other), the plan is the last
/// run's only.
#[test]
fn faults_go_in_and_the_plan_comes_out_through_the_runtime() {
    let explicit = Plan {
        loss: 0.5,
        ..Plan::NONE
    };
    let mut rt = Runtime::new(3);
    rt.set_run_input(Some(Faults::explicit(explicit)));
    for _ in 0..2 {
        rt.block_on(async {
            cluster::node("n", || async {}).kill();
        });
        assert_eq!(rt.take_run_output::<Plan>(), Some(explicit));
    }
    rt.block_on(async {
        cluster::node("n", || async {}).kill();
    });
    rt.block_on(async {});
    assert_eq!(
        rt.take_run_output::<Plan>(),
        None,
        "the last run drew no plan"
    );
    assert_eq!(
        rt.set_run_input::<Faults>(None),
        Some(Faults::explicit(explicit))
    );
    // Another runtime on this thread does not see the first one's faults.
    let mut other = Runtime::new(3);
    other.set_run_input(Some(Faults::none()));
    other.block_on(async {
        cluster::node("n", || async {}).kill();
    });
    assert_eq!(other.take_run_output::<Plan>(), None);
}

#[test]
fn swarm_draws_a_plan_per_seed_and_replay_reproduces_it() {
    let plans: Vec<Plan> = (0..20).map(|s| swarm_plan(s).0).collect();
    let distinct = plans.iter().filter(|p| **p != plans[0]).count();
    assert!(distinct >= 15, "{plans:?}");
    let (plan, decisions) = swarm_plan(7);
    let chosen: Vec<u32> = decisions.iter().map(|d| d.chosen).collect();
    let mut rt = Runtime::with_chooser(7, Box::new(detsim_runtime::Replay::new(chosen)));
    rt.set_run_input(Some(Faults::swarm()));
    rt.block_on(async {
        cluster::node("n", || async {}).kill();
    });
    assert_eq!(rt.take_run_output::<Plan>(), Some(plan));
    // Under FIFO order every fault decision takes option 0: no faults at all.
    let mut rt = Runtime::with_chooser(7, Box::new(detsim_runtime::Fifo));
    rt.set_run_input(Some(Faults::swarm()));
    rt.block_on(async {
        cluster::node("n", || async {}).kill();
    });
    assert_eq!(rt.take_run_output::<Plan>(), Some(Plan::NONE));
    // The plan prints as Rust that builds it.
    let text = plan.to_string();
    assert!(
        text.starts_with("Faults::explicit(Plan { latency: ("),
        "{text}"
    );
}

#[test]
fn a_condition_that_does_not_converge_is_a_liveness_failure() {
    let report = detsim::Builder::new()
        .seeds(3)
        .faults(Faults::swarm())
        .explore(|| async {
            let n = cluster::node("stuck", || async {});
            n.kill();
            cluster::liveness(
                "every request is acknowledged",
                Duration::from_secs(30),
                async {
                    std::future::pending::<()>().await;
                },
            )
            .await;
        });
    let failure = report.failure.expect("the condition never holds");
    assert_eq!(failure.kind, detsim::FailureKind::Liveness, "{failure}");
    assert_eq!(
        failure.message,
        "liveness: every request is acknowledged did not hold within 30s after faults stopped"
    );
    assert!(failure.fault_plan.is_some());
    let report = failure.to_string();
    assert!(report.contains("fault plan of this run"), "{report}");
    assert!(report.contains("kill stuck"), "{report}");
}

/// A liveness failure is known by its payload's type, not by its words: a plain panic
/// whose message starts with "liveness:" is a panic like any other.
#[test]
fn a_liveness_failure_is_known_by_its_payload_type() {
    let error = Runtime::new(1)
        .run(async {
            cluster::liveness(
                "never",
                Duration::from_secs(1),
                std::future::pending::<()>(),
            )
            .await;
        })
        .unwrap_err();
    assert!(error.is_liveness(), "{error}");
    assert_eq!(
        error.message(),
        "liveness: never did not hold within 1s after faults stopped"
    );
    let detsim_runtime::RunError::Panic { payload, .. } = error else {
        panic!("a liveness failure is a panic");
    };
    assert!(payload.is::<cluster::LivenessFailure>());

    let report = detsim::Builder::new()
        .ignore_env()
        .seeds(1)
        .explore(|| async { panic!("liveness: only the words of one") });
    let failure = report.failure.expect("the body panics");
    assert_eq!(failure.kind, detsim::FailureKind::Panic, "{failure}");
}

#[test]
fn traces_name_each_task_s_node() {
    let mut rt = Runtime::new(1);
    rt.set_trace(true);
    rt.set_run_input(Some(Faults::none()));
    rt.block_on(async {
        let n = cluster::node("raft-2", || async {
            detsim::task::Builder::new()
                .name("ticker")
                .spawn(async {})
                .await
                .unwrap();
        });
        time::sleep(Duration::from_millis(1)).await;
        n.kill();
    });
    let trace = rt.take_trace().unwrap().to_string();
    assert!(trace.contains("raft-2/init"), "{trace}");
    assert!(trace.contains("raft-2/ticker"), "{trace}");
    assert!(trace.contains("kill raft-2"), "{trace}");
}

/// The README's "Simulating a cluster" example, as written there (fewer seeds).
#[test]
fn the_readme_cluster_example_passes() {
    use detsim::net::{TcpListener, TcpStream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    detsim::Builder::new().seeds(100).check(|| async {
        // A node's "disk": kept by the test, handed to init, so it survives kills.
        let disk = std::rc::Rc::new(std::cell::Cell::new(0u8));
        let d = disk.clone();
        let server = cluster::node("db", move || {
            let d = d.clone();
            async move {
                let listener = TcpListener::bind("0.0.0.0:5432").await.unwrap();
                loop {
                    let (mut socket, _) = listener.accept().await.unwrap();
                    let mut byte = [0];
                    if socket.read_exact(&mut byte).await.is_ok() {
                        d.set(byte[0]); // persist, then acknowledge
                        let _ = socket.write_all(&byte).await;
                    }
                }
            }
        });
        // The body runs on host `main` (10.0.0.1); node names resolve.
        let mut acked = None;
        for attempt in 1..=20u8 {
            let write = async {
                let mut s = TcpStream::connect("db:5432").await?;
                s.write_all(&[attempt]).await?;
                s.read_exact(&mut [0]).await
            };
            if let Ok(Ok(_)) = detsim::time::timeout(Duration::from_secs(1), write).await {
                acked = Some(attempt);
            }
            detsim::time::sleep(Duration::from_secs(1)).await;
        }
        // Liveness: end the fault phase (heal, restart, resume) and require progress.
        cluster::liveness("db is back", Duration::from_secs(30), async {
            while TcpStream::connect("db:5432").await.is_err() {
                detsim::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if let Some(last) = acked {
            assert!(disk.get() >= last, "an acknowledged write was lost");
        }
        assert_eq!(server.ip().to_string(), "10.0.0.2");
    });
}

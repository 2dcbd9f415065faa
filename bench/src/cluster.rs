//! `cluster`: detsim's simulated cluster against turmoil 0.7 on the same workloads.
//!
//! - a 3-node ping-pong: node `server` echoes; nodes `c1` and `c2` each make 5,000
//!   round trips of 16 bytes (10,000 round trips in all), over TCP (one connection
//!   each) and over UDP; wall time per round trip;
//! - a small 3-node test (the same shape, 10 round trips per client over TCP) swept
//!   over 1,000 seeds: wall time per seed.
//!
//! Both simulators get healthy links: detsim's default link latency (100 µs to 1 ms a
//! packet, no faults), turmoil's latency set to the same range (its default is up to
//! 100 ms) and its simulation long enough for the run. One thread each.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::measure::{median_time, show};

const MESSAGE: usize = 16;
const PORT: u16 = 7000;

// ---- detsim -------------------------------------------------------------------------

/// The 3-node test: a server and two clients of `per_client` round trips of 16 bytes
/// over TCP (the `madsim` section runs it too).
pub(crate) async fn detsim_tcp(per_client: u32) {
    use detsim::cluster;
    use detsim::net::{TcpListener, TcpStream};
    cluster::node("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await.unwrap();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            detsim::spawn(async move {
                let mut buf = [0u8; MESSAGE];
                while socket.read_exact(&mut buf).await.is_ok() {
                    socket.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = ["c1", "c2"]
        .into_iter()
        .map(|name| {
            cluster::node(name, || async {}).spawn(async move {
                let mut s = TcpStream::connect(("server", PORT)).await.unwrap();
                let mut buf = [7u8; MESSAGE];
                for _ in 0..per_client {
                    s.write_all(&buf).await.unwrap();
                    s.read_exact(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
}

async fn detsim_udp(per_client: u32) {
    use detsim::cluster;
    use detsim::net::UdpSocket;
    cluster::node("server", || async {
        let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.unwrap();
        let mut buf = [0u8; MESSAGE];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(&buf[..n], from).await.unwrap();
        }
    });
    let clients: Vec<_> = ["c1", "c2"]
        .into_iter()
        .map(|name| {
            cluster::node(name, || async {}).spawn(async move {
                let s = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                s.connect(("server", PORT)).await.unwrap();
                let mut buf = [7u8; MESSAGE];
                for _ in 0..per_client {
                    s.send(&buf).await.unwrap();
                    s.recv(&mut buf).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
}

/// One run on detsim with no faults.
fn detsim_once<F: std::future::Future<Output = ()>>(seed: u64, body: F) {
    let mut rt = detsim_runtime::Runtime::new(seed);
    rt.set_run_input(Some(detsim::Faults::none()));
    rt.block_on(body);
}

// ---- turmoil ------------------------------------------------------------------------

fn turmoil_sim(seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .min_message_latency(Duration::from_micros(100))
        .max_message_latency(Duration::from_millis(1))
        .tick_duration(Duration::from_micros(100))
        .simulation_duration(Duration::from_secs(100_000))
        .build()
}

fn turmoil_tcp(seed: u64, per_client: u32) {
    use turmoil::net::{TcpListener, TcpStream};
    let mut sim = turmoil_sim(seed);
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut socket, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = [0u8; MESSAGE];
                while socket.read_exact(&mut buf).await.is_ok() {
                    socket.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    for name in ["c1", "c2"] {
        sim.client(name, async move {
            let mut s = TcpStream::connect(("server", PORT)).await?;
            let mut buf = [7u8; MESSAGE];
            for _ in 0..per_client {
                s.write_all(&buf).await?;
                s.read_exact(&mut buf).await?;
            }
            Ok(())
        });
    }
    sim.run().expect("the turmoil simulation passes");
}

fn turmoil_udp(seed: u64, per_client: u32) {
    use turmoil::net::UdpSocket;
    let mut sim = turmoil_sim(seed);
    sim.host("server", || async {
        let socket = UdpSocket::bind(("0.0.0.0", PORT)).await?;
        let mut buf = [0u8; MESSAGE];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            socket.send_to(&buf[..n], from).await?;
        }
    });
    for name in ["c1", "c2"] {
        sim.client(name, async move {
            let s = UdpSocket::bind(("0.0.0.0", 0)).await?;
            let server = turmoil::lookup("server");
            let mut buf = [7u8; MESSAGE];
            for _ in 0..per_client {
                s.send_to(&buf, (server, PORT)).await?;
                s.recv_from(&mut buf).await?;
            }
            Ok(())
        });
    }
    sim.run().expect("the turmoil simulation passes");
}

// ---- the section --------------------------------------------------------------------

fn ratio_line(what: &str, ours: Duration, theirs: Duration, items: u64) {
    let per = |d: Duration| d.as_nanos() as f64 / items as f64;
    println!(
        "  {what:<34} detsim {:>9.0} ns, turmoil {:>9.0} ns, detsim/turmoil = {:.3}",
        per(ours),
        per(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool) {
    let per_client: u32 = if quick { 50 } else { 5_000 };
    let seeds: u64 = if quick { 20 } else { 1_000 };
    let reps = if quick { 1 } else { 5 };
    let round_trips = u64::from(per_client) * 2;
    println!(
        "## cluster: detsim vs turmoil 0.7, 3 nodes, {round_trips} round trips (median of {reps})"
    );
    let ours = median_time(reps, || detsim_once(1, detsim_tcp(per_client)));
    let theirs = median_time(reps, || turmoil_tcp(1, per_client));
    println!("  TCP: detsim {}, turmoil {}", show(ours), show(theirs));
    ratio_line("TCP ping-pong, per round trip", ours, theirs, round_trips);
    let ours = median_time(reps, || detsim_once(1, detsim_udp(per_client)));
    let theirs = median_time(reps, || turmoil_udp(1, per_client));
    println!("  UDP: detsim {}, turmoil {}", show(ours), show(theirs));
    ratio_line("UDP ping-pong, per round trip", ours, theirs, round_trips);
    let ours = median_time(reps, || {
        detsim::Builder::new()
            .seeds(seeds)
            .jobs(1)
            .faults(detsim::Faults::none())
            .check(|| detsim_tcp(10));
    });
    let theirs = median_time(reps, || {
        for seed in 0..seeds {
            turmoil_tcp(seed, 10);
        }
    });
    ratio_line(
        &format!("small 3-node test, {seeds} seeds, per seed"),
        ours,
        theirs,
        seeds,
    );
}

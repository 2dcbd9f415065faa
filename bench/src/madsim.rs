//! `madsim`: detsim against madsim 0.2, the deterministic simulator a
//! distributed-systems user would pick instead, on the same workloads:
//!
//! - the tiny test (3 tasks × 5 yields on a shared counter), per seed: detsim's
//!   `Builder::check` over the seeds, madsim's `Runtime::with_seed_and_config` per seed
//!   (as `#[madsim::test]` does);
//! - 8-byte round trips between two nodes over TCP and over UDP, per round trip;
//! - the 3-node test of the `cluster` section (a server, two clients of 10 TCP round
//!   trips), per seed;
//! - 1,000 tasks sleeping random durations up to 10 s, per run.
//!
//! detsim's side runs everything through `Builder::check`, as a user calls it (one
//! thread, no faults: madsim's default network drops nothing either; both sides give
//! each packet a random latency). madsim is only the simulator when built with
//! `RUSTFLAGS="--cfg madsim"`, which detsim's own build must not get, so its side is a
//! package of its own outside the workspace, `bench/madsim`, built into
//! `target/madsim`:
//!
//! ```text
//! CARGO_TARGET_DIR=target/madsim RUSTFLAGS="--cfg madsim" \
//!     cargo build --release --manifest-path bench/madsim/Cargo.toml
//! ```
//!
//! The section alternates the two sides: each round measures detsim's workloads in
//! this process, then starts the madsim binary, which measures the same workloads
//! once (after a warm-up run) and prints its figures. Both sides read their own
//! process's CPU time. The figures are the medians over the rounds.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::time::Instant;

use crate::measure::{median_f64, process_cpu_time};
use crate::summary::Summary;

/// Where the madsim side is built (see the module's documentation).
const MADSIM_BINARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/madsim/release/detsim-bench-madsim"
);

const PORT: u16 = 7000;
const TIMERS: usize = 1_000;

/// The sizes of one measurement of each workload (the same on both sides).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    tiny_seeds: u64,
    round_trips: u64,
    cluster_seeds: u64,
    timer_runs: u64,
}

/// The workloads, in the order both sides print them, with their units.
const WORKLOADS: [(&str, &str); 5] = [
    ("tiny", "tiny test (3 tasks × 5 yields), per seed"),
    ("tcp", "8-byte TCP round trip, two nodes"),
    ("udp", "8-byte UDP round trip, two nodes"),
    ("cluster", "3-node test (2 × 10 TCP round trips), per seed"),
    ("timers", "1,000 timers up to 10 s, per run"),
];

fn check() -> detsim::Builder {
    detsim::Builder::new()
        .ignore_env()
        .jobs(1)
        .faults(detsim::Faults::none())
}

/// Two nodes, `round_trips` 8-byte TCP round trips.
async fn tcp_pair(round_trips: u64) {
    use detsim::cluster;
    use detsim::net::{TcpListener, TcpStream};
    cluster::node("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await.unwrap();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            detsim::spawn(async move {
                let mut buf = [0u8; 8];
                while socket.read_exact(&mut buf).await.is_ok() {
                    socket.write_all(&buf).await.unwrap();
                }
            });
        }
    });
    cluster::node("client", || async {})
        .spawn(async move {
            let mut stream = TcpStream::connect(("server", PORT)).await.unwrap();
            let mut buf = [7u8; 8];
            for _ in 0..round_trips {
                stream.write_all(&buf).await.unwrap();
                stream.read_exact(&mut buf).await.unwrap();
            }
        })
        .await
        .expect("the client completes");
}

/// Two nodes, `round_trips` 8-byte UDP round trips.
async fn udp_pair(round_trips: u64) {
    use detsim::cluster;
    use detsim::net::UdpSocket;
    cluster::node("server", || async {
        let socket = UdpSocket::bind(("0.0.0.0", PORT)).await.unwrap();
        let mut buf = [0u8; 8];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(&buf[..n], from).await.unwrap();
        }
    });
    cluster::node("client", || async {})
        .spawn(async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.connect(("server", PORT)).await.unwrap();
            let mut buf = [7u8; 8];
            for _ in 0..round_trips {
                socket.send(&buf).await.unwrap();
                socket.recv(&mut buf).await.unwrap();
            }
        })
        .await
        .expect("the client completes");
}

/// 1,000 sleepers (the `timers` section's durations).
async fn sleepers(durations: &[Duration]) {
    let handles: Vec<_> = durations
        .iter()
        .map(|&d| detsim::spawn(detsim::time::sleep(d)))
        .collect();
    for handle in handles {
        handle.await.expect("a sleeper completes");
    }
}

/// One measurement of every workload on detsim's side: nanoseconds per item, in the
/// order of [`WORKLOADS`].
fn detsim_round(sizes: Sizes, durations: &[Duration]) -> [f64; 5] {
    let time = |items: u64, work: &mut dyn FnMut()| {
        let wall = Instant::now();
        let start = process_cpu_time();
        work();
        let elapsed = match (start, process_cpu_time()) {
            (Some(start), Some(end)) => end - start,
            _ => wall.elapsed(),
        };
        elapsed.as_nanos() as f64 / items as f64
    };
    [
        time(sizes.tiny_seeds, &mut || {
            check()
                .seeds(sizes.tiny_seeds)
                .check(crate::sweep::detsim_body);
        }),
        time(sizes.round_trips, &mut || {
            check().seeds(1).check(|| tcp_pair(sizes.round_trips));
        }),
        time(sizes.round_trips, &mut || {
            check().seeds(1).check(|| udp_pair(sizes.round_trips));
        }),
        time(sizes.cluster_seeds, &mut || {
            check()
                .seeds(sizes.cluster_seeds)
                .check(|| crate::cluster::detsim_tcp(10));
        }),
        time(sizes.timer_runs, &mut || {
            check()
                .seeds(sizes.timer_runs)
                .check(|| sleepers(durations));
        }),
    ]
}

/// One measurement of every workload on madsim's side, from its binary.
fn madsim_round(binary: &PathBuf, sizes: Sizes) -> Result<[f64; 5], String> {
    let output = Command::new(binary)
        .args(
            [
                sizes.tiny_seeds,
                sizes.round_trips,
                sizes.cluster_seeds,
                sizes.timer_runs,
            ]
            .map(|n| n.to_string()),
        )
        .output()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_figures(&String::from_utf8_lossy(&output.stdout))
}

/// Reads the madsim binary's lines, `NAME NANOSECONDS`, into [`WORKLOADS`]' order.
fn parse_figures(text: &str) -> Result<[f64; 5], String> {
    let mut figures = [f64::NAN; 5];
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(i) = WORKLOADS.iter().position(|(w, _)| *w == name) else {
            return Err(format!("unknown workload {name:?} from the madsim side"));
        };
        figures[i] = value
            .parse()
            .map_err(|_| format!("not a number for {name}: {value:?}"))?;
    }
    match WORKLOADS.iter().zip(figures).find(|(_, f)| f.is_nan()) {
        Some(((name, _), _)) => Err(format!("the madsim side printed no figure for {name}")),
        None => Ok(figures),
    }
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool, summary: &mut Summary) {
    let (sizes, rounds) = if quick {
        let sizes = Sizes {
            tiny_seeds: 20,
            round_trips: 50,
            cluster_seeds: 3,
            timer_runs: 1,
        };
        (sizes, 1)
    } else {
        let sizes = Sizes {
            tiny_seeds: 2_000,
            round_trips: 5_000,
            cluster_seeds: 200,
            timer_runs: 10,
        };
        (sizes, 9)
    };
    println!(
        "## madsim: detsim against madsim 0.2 (--cfg madsim), medians of {rounds} alternating rounds, process CPU time"
    );
    let binary = PathBuf::from(MADSIM_BINARY);
    if !binary.exists() {
        println!(
            "  (needs madsim's side: CARGO_TARGET_DIR=target/madsim RUSTFLAGS=\"--cfg madsim\" \
             cargo build --release --manifest-path bench/madsim/Cargo.toml)"
        );
        return;
    }
    let durations = crate::timers::durations(TIMERS);
    // Warm-up of detsim's side; the madsim binary warms itself up each time.
    detsim_round(sizes, &durations);
    let mut ours: Vec<[f64; 5]> = Vec::new();
    let mut theirs: Vec<[f64; 5]> = Vec::new();
    for _ in 0..rounds {
        ours.push(detsim_round(sizes, &durations));
        match madsim_round(&binary, sizes) {
            Ok(figures) => theirs.push(figures),
            Err(message) => {
                println!("  (the madsim side failed: {message})");
                return;
            }
        }
    }
    println!(
        "  {:<50} {:>12} {:>12} {:>15}",
        "workload", "detsim", "madsim", "detsim/madsim"
    );
    for (i, (name, what)) in WORKLOADS.iter().enumerate() {
        let detsim = median_f64(ours.iter().map(|f| f[i]).collect());
        let madsim = median_f64(theirs.iter().map(|f| f[i]).collect());
        let ratio = detsim / madsim;
        println!(
            "  {what:<50} {:>9.0} ns {:>9.0} ns {ratio:>14.2}×",
            detsim, madsim
        );
        let (target, met) = if matches!(*name, "tiny" | "tcp" | "udp") {
            ("≤ 0.5", ratio <= 0.5)
        } else {
            ("< 1", ratio < 1.0)
        };
        summary.add(format!("{name}, detsim / madsim time"), ratio, target, met);
    }
}

/// One workload of the section alone, for a profiler: `tcp` or `udp` with `items`
/// round trips, `cluster` or `tiny` over `items` seeds, `timers` over `items` runs.
pub(crate) fn profile(workload: &str, items: u64) {
    let durations = crate::timers::durations(TIMERS);
    match workload {
        "tcp" => check().seeds(1).check(|| tcp_pair(items)),
        "udp" => check().seeds(1).check(|| udp_pair(items)),
        "cluster" => check()
            .seeds(items.max(1))
            .check(|| crate::cluster::detsim_tcp(10)),
        "tiny" => check().seeds(items.max(1)).check(crate::sweep::detsim_body),
        "timers" => check().seeds(items.max(1)).check(|| sleepers(&durations)),
        other => panic!("unknown madsim workload {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_the_madsim_side() {
        let figures =
            parse_figures("tiny 2.5\ntcp 1000\nudp 900.5\ncluster 40000\ntimers 1e6\n").unwrap();
        assert_eq!(figures, [2.5, 1000.0, 900.5, 40000.0, 1e6]);
        assert!(parse_figures("tiny 2.5\n").unwrap_err().contains("tcp"));
        assert!(parse_figures("bogus 1\n").is_err());
        assert!(parse_figures("tiny x\n").is_err());
    }
}

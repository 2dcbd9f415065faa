//! madsim's side of `detsim-bench madsim`: the same workloads as detsim's side, on
//! madsim 0.2 built as the simulator (`RUSTFLAGS="--cfg madsim"`).
//!
//! ```text
//! detsim-bench-madsim TINY_SEEDS ROUND_TRIPS CLUSTER_SEEDS TIMER_RUNS
//! ```
//!
//! Runs every workload once to warm up, then once measured, and prints one line per
//! workload, `NAME NANOSECONDS_PER_ITEM`, for the driver (`detsim-bench`'s `madsim`
//! section), which alternates this process with detsim's side and takes the medians.
//! The clock is this process's CPU time (all threads), the same clock as detsim's side.
//!
//! - `tiny`: 3 tasks × 5 yields on a shared counter, a fresh
//!   `Runtime::with_seed_and_config` per seed, as `#[madsim::test]` does; per seed.
//! - `tcp`, `udp`: 8-byte round trips between two nodes, one runtime; per round trip.
//! - `cluster`: a server and two clients making 10 round trips of 16 bytes each over
//!   TCP, a fresh runtime per seed; per seed.
//! - `timers`: 1,000 tasks sleeping random durations up to 10 s; per run of 1,000.

#[cfg(not(madsim))]
compile_error!(
    "detsim-bench-madsim measures madsim's simulator: build it with RUSTFLAGS=\"--cfg madsim\""
);

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use madsim::Config;
use madsim::net::{TcpListener, TcpStream, UdpSocket};
use madsim::runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TASKS: u32 = 3;
const YIELDS: u32 = 5;
const PORT: u16 = 7000;
const CLUSTER_ROUND_TRIPS: u32 = 10;
const TIMERS: usize = 1_000;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn server_addr() -> SocketAddr {
    SocketAddr::new(ip(1), PORT)
}

fn runtime(seed: u64) -> Runtime {
    Runtime::with_seed_and_config(seed, Config::default())
}

/// The tiny test, one seed.
fn tiny(seed: u64) {
    runtime(seed).block_on(async {
        let counter = Rc::new(Cell::new(0u32));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = Rc::clone(&counter);
                madsim::task::spawn_local(async move {
                    for _ in 0..YIELDS {
                        counter.set(counter.get() + 1);
                        madsim::task::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a counting task completes");
        }
        assert_eq!(counter.get(), TASKS * YIELDS);
    });
}

/// Starts a TCP echo of `N`-byte messages on the server node (10.0.0.1).
async fn tcp_server<const N: usize>(server: &madsim::runtime::NodeHandle) {
    let listener = server
        .spawn(async { TcpListener::bind(server_addr()).await.unwrap() })
        .await
        .unwrap();
    server.spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            madsim::task::spawn(async move {
                let mut buf = [0u8; N];
                while socket.read_exact(&mut buf).await.is_ok() {
                    socket.write_all(&buf).await.unwrap();
                    // madsim's stream sends what it buffered on flush.
                    socket.flush().await.unwrap();
                }
            });
        }
    });
}

/// `round_trips` TCP round trips of `N` bytes.
async fn tcp_client<const N: usize>(round_trips: u32) {
    let mut stream = TcpStream::connect(server_addr()).await.unwrap();
    let mut buf = [7u8; N];
    for _ in 0..round_trips {
        stream.write_all(&buf).await.unwrap();
        stream.flush().await.unwrap();
        stream.read_exact(&mut buf).await.unwrap();
    }
}

/// Two nodes, 8-byte TCP round trips.
fn tcp(round_trips: u32) {
    let runtime = runtime(1);
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let server = handle.create_node().name("server").ip(ip(1)).build();
        tcp_server::<8>(&server).await;
        let client = handle.create_node().name("client").ip(ip(2)).build();
        client
            .spawn(tcp_client::<8>(round_trips))
            .await
            .expect("the client completes");
    });
}

/// Two nodes, 8-byte UDP round trips.
fn udp(round_trips: u32) {
    let runtime = runtime(1);
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let server = handle.create_node().name("server").ip(ip(1)).build();
        let socket = server
            .spawn(async { UdpSocket::bind(server_addr()).await.unwrap() })
            .await
            .unwrap();
        server.spawn(async move {
            let mut buf = [0u8; 8];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                socket.send_to(from, &buf[..n]).await.unwrap();
            }
        });
        let client = handle.create_node().name("client").ip(ip(2)).build();
        client
            .spawn(async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                socket.connect(server_addr()).await.unwrap();
                let mut buf = [7u8; 8];
                for _ in 0..round_trips {
                    socket.send(&buf).await.unwrap();
                    socket.recv(&mut buf).await.unwrap();
                }
            })
            .await
            .expect("the client completes");
    });
}

/// The 3-node test, one seed: a server and two clients of 10 TCP round trips each.
fn cluster(seed: u64) {
    let runtime = runtime(seed);
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let server = handle.create_node().name("server").ip(ip(1)).build();
        tcp_server::<16>(&server).await;
        let clients: Vec<_> = [2, 3]
            .into_iter()
            .map(|last| {
                handle
                    .create_node()
                    .name(format!("c{}", last - 1))
                    .ip(ip(last))
                    .build()
                    .spawn(tcp_client::<16>(CLUSTER_ROUND_TRIPS))
            })
            .collect();
        for client in clients {
            client.await.expect("a client completes");
        }
    });
}

/// The sleep durations of `detsim-bench`'s timers: a fixed SplitMix64 list.
fn durations(tasks: usize) -> Vec<Duration> {
    let mut state = 0x5eed_u64;
    (0..tasks)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            Duration::from_micros(1 + z % 10_000_000)
        })
        .collect()
}

/// 1,000 sleepers, one run.
fn timers(durations: &[Duration]) {
    let durations = durations.to_vec();
    runtime(11).block_on(async move {
        let handles: Vec<_> = durations
            .into_iter()
            .map(|d| madsim::task::spawn(madsim::time::sleep(d)))
            .collect();
        for handle in handles {
            handle.await.expect("a sleeper completes");
        }
    });
}

/// CPU time of this process, all threads.
fn cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Runs `work` once to warm up, then once measured: nanoseconds per item of `items`.
fn measure(items: u64, mut work: impl FnMut()) -> f64 {
    work();
    let start = cpu_time();
    work();
    (cpu_time() - start).as_nanos() as f64 / items as f64
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("detsim-bench-madsim takes four counts"))
        .collect();
    let [tiny_seeds, round_trips, cluster_seeds, timer_runs] = args[..] else {
        panic!("usage: detsim-bench-madsim TINY_SEEDS ROUND_TRIPS CLUSTER_SEEDS TIMER_RUNS");
    };
    let round_trips_u32 = u32::try_from(round_trips).expect("ROUND_TRIPS fits in u32");
    let figure = |name: &str, ns: f64| println!("{name} {ns:.1}");
    figure(
        "tiny",
        measure(tiny_seeds, || (0..tiny_seeds).for_each(tiny)),
    );
    figure("tcp", measure(round_trips, || tcp(round_trips_u32)));
    figure("udp", measure(round_trips, || udp(round_trips_u32)));
    figure(
        "cluster",
        measure(cluster_seeds, || (0..cluster_seeds).for_each(cluster)),
    );
    let durations = durations(TIMERS);
    figure(
        "timers",
        measure(timer_runs, || {
            (0..timer_runs).for_each(|_| timers(&durations))
        }),
    );
}

//! `net`: a TCP echo of 10,000 messages (one connection, 64-byte messages, one
//! round trip each): detsim's simulated loopback against real tokio over the real
//! 127.0.0.1, on a current-thread runtime.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::measure::{median_time, ns_per, show};

const MESSAGE: usize = 64;

/// The echo on detsim's simulated network; returns the simulated time it took.
fn detsim_echo(messages: u64) -> Duration {
    detsim_runtime::Runtime::new(5).block_on(async move {
        let listener = detsim::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = detsim::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; MESSAGE];
            while socket.read_exact(&mut buf).await.is_ok() {
                socket.write_all(&buf).await.unwrap();
            }
        });
        let start = detsim::time::now();
        let mut client = detsim::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [7u8; MESSAGE];
        for _ in 0..messages {
            client.write_all(&buf).await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
        }
        drop(client);
        server.await.unwrap();
        detsim::time::now() - start
    })
}

/// The same echo on real tokio over the real loopback.
fn tokio_echo(messages: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut buf = [0u8; MESSAGE];
            while socket.read_exact(&mut buf).await.is_ok() {
                socket.write_all(&buf).await.unwrap();
            }
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut buf = [7u8; MESSAGE];
        for _ in 0..messages {
            client.write_all(&buf).await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
        }
        drop(client);
        server.await.unwrap();
    });
}

/// Runs the section and prints its figures.
pub(crate) fn run(quick: bool) {
    let messages = if quick { 100 } else { 10_000 };
    let reps = if quick { 3 } else { 11 };
    println!(
        "## net: TCP echo of {messages} messages of {MESSAGE} bytes, one connection (median of {reps})"
    );
    let simulated = detsim_echo(messages);
    let ours = median_time(reps, || detsim_echo(messages));
    let theirs = median_time(reps, || tokio_echo(messages));
    println!(
        "  {:<36} {:>10}  ({:.0} ns per round trip; {:.3} s simulated)",
        "detsim simulated loopback",
        show(ours),
        ns_per(ours, messages),
        simulated.as_secs_f64()
    );
    println!(
        "  {:<36} {:>10}  ({:.0} ns per round trip)",
        "tokio current-thread, real 127.0.0.1",
        show(theirs),
        ns_per(theirs, messages)
    );
    println!(
        "  detsim/tokio wall time = {:.3} (below 1: the simulation is faster)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}

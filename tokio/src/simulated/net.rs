//! `tokio::net` on detsim's simulated network (the `detsim-net` crate, also
//! `detsim::net`): `TcpListener`, `TcpStream` (with `split`, `into_split` and the
//! halves in [`tcp`]), `UdpSocket`, `lookup_host` and `ToSocketAddrs`, with tokio's
//! signatures, implementing tokio's `AsyncRead`/`AsyncWrite`.
//!
//! Each run has its own network: a host with a loopback interface (`127.0.0.1`, `::1`,
//! `localhost`); port 0 binds an ephemeral port; connecting where nothing listens is
//! `ConnectionRefused`; a delivery takes a small per-seed latency of virtual time, and
//! which of several simultaneous deliveries goes first is a recorded decision.
//! `TcpSocket` and Unix sockets are not simulated (not present under `--cfg detsim`).

pub use detsim::net::*;

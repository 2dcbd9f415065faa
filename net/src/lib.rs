//! A simulated network for detsim: TCP and UDP sockets with tokio's signatures, on
//! hosts that live inside one simulation run and deliver in virtual time.
//!
//! # Design
//! - Each run has its own network (a `World`), created on first use through the
//!   runtime's run-scoped state ([`detsim_runtime::extension`]) and dropped when the
//!   run ends. Sockets ([`TcpListener`], [`TcpStream`], [`UdpSocket`]) are small
//!   handles (the run's epoch and an index): `Send + Sync`, as tokio's are, so code
//!   that compiles against tokio compiles against these.
//! - Every run has a default host with a loopback interface: `127.0.0.1`, `::1` and
//!   the name `localhost`. The test body and its tasks run there. Hosts are the unit
//!   the cluster builds on: a host has a name that resolves, addresses, ports, and
//!   links to other hosts.
//! - A packet (a connect, a chunk of a TCP stream, a FIN or reset, a datagram) is
//!   delivered after the link's latency by one runtime timer the network keeps armed
//!   for its earliest packet; no task of the network's own is spawned, so schedules of
//!   programs that do not use it are unchanged.
//!
//! # Addresses
//! `localhost` resolves to `127.0.0.1` then `::1`; an address literal to itself; any
//! other name to the host of that name (a cluster node), or an error. Binding port 0
//! gives the host's next free port from 49152 upward (a fixed cycle, so the same
//! program gets the same ports). Binding a port in use is `AddrInUse`; connecting
//! where nothing listens is `ConnectionRefused`; an address no host has is
//! `HostUnreachable`.
//!
//! # Semantics
//! - TCP: a connect is a round trip; bytes arrive in order and complete; dropping a
//!   stream sends EOF to its peer (or a reset when it leaves received data unread, as
//!   Linux does); `AsyncWrite::poll_shutdown` is a half-close (the peer reads EOF, this
//!   side still reads); data that reaches a closed peer is answered with a reset, so a
//!   later write or read fails with `ConnectionReset`; a side may have 256 KiB sent and
//!   not yet read by its peer before its writes wait.
//! - UDP: datagrams keep their boundaries; sends never wait; a datagram to a port with
//!   no socket is dropped, and a sender connected to that port gets `ConnectionRefused`
//!   at its next receive that finds nothing queued (Linux's ICMP port unreachable).
//! - Loopback never loses, duplicates or reorders.
//!
//! # Determinism
//! - **Latency.** Each run draws its loopback one-way latency once, uniformly from
//!   10 µs to 100 µs in whole microseconds, from the seed's network stream
//!   ([`NETWORK_STREAM`](detsim_runtime::choice::NETWORK_STREAM)): not the scheduler's
//!   stream, not [`random`](detsim_runtime::random)'s, so a program's own random values
//!   and its task decisions are the same with or without the network.
//! - **Simultaneous deliveries.** When several packets are due at the same instant,
//!   which goes first is a [`DecisionKind::Delivery`](detsim_runtime::DecisionKind)
//!   decision among the heads of their channels (one direction of a TCP connection,
//!   one UDP flow), earliest queued as option 0: recorded, replayed by a token,
//!   shrunk, and steered by PCT and the fuzzer like a task decision. A channel's own
//!   packets never overtake each other.
//!
//! # Example
//! ```
//! use detsim_net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let mut rt = detsim_runtime::Runtime::new(1);
//! rt.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = detsim_runtime::spawn(async move {
//!         let (mut socket, _) = listener.accept().await.unwrap();
//!         let mut buf = [0; 5];
//!         socket.read_exact(&mut buf).await.unwrap();
//!         socket.write_all(&buf).await.unwrap();
//!     });
//!     let mut client = TcpStream::connect(addr).await.unwrap();
//!     client.write_all(b"hello").await.unwrap();
//!     let mut echo = Vec::new();
//!     client.read_to_end(&mut echo).await.unwrap(); // EOF when the server's stream drops
//!     assert_eq!(echo, b"hello");
//!     server.await.unwrap();
//! });
//! ```

mod addr;
pub mod cluster;
pub mod fs;
mod stream;
pub mod tcp;
mod udp;
mod world;

pub use addr::{ToSocketAddrs, lookup_host};
#[doc(hidden)]
pub use stream::__disable_io;
pub use stream::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use world::DEFAULT_HOST_NAME;

/// Polls `poll` as tokio polls a socket's I/O: a unit of the task's coop budget first
/// (`Pending`, with the task woken, once the poll's budget is spent; see
/// `detsim_runtime::coop`), kept only if the operation completes.
pub(crate) fn budgeted<T>(
    cx: &mut std::task::Context<'_>,
    poll: impl FnOnce(&mut std::task::Context<'_>) -> std::task::Poll<T>,
) -> std::task::Poll<T> {
    let unit = std::task::ready!(detsim_runtime::coop::poll_proceed(cx));
    let result = poll(cx);
    if result.is_ready() {
        unit.made_progress();
    }
    result
}

//! TCP in the world: listeners, connection endpoints, and what each packet does.
//!
//! A connection is two endpoints, one per side. Invariants:
//! - the bytes one side writes reach the other side in order and complete, or the
//!   connection is reset (then reads and writes fail with `ConnectionReset`);
//! - connect is a round trip: `Syn` to the listener's host, `SynAck` (or `Refused`
//!   when nothing listens there) back; the accepted endpoint exists from the `Syn`'s
//!   arrival and sends on its own channel, so its `SynAck` precedes its data;
//! - closing a side with unread received data resets the connection (as Linux does);
//!   otherwise it sends `Fin` (EOF to the peer) unless its write side was shut already;
//! - data that reaches a closed endpoint is answered with `Rst`, so a side that writes
//!   after its peer closed sees `ConnectionReset` on a later write or read;
//! - flow control: a side has at most [`WINDOW`] bytes sent but not yet read by its
//!   peer; a write beyond that waits for the peer to read;
//! - readiness (`readable`, `writable`, `ready`, `poll_*_ready`) is tokio's cached
//!   readiness, not the buffers' state: an endpoint is readable from each event that
//!   may let a read progress (bytes, EOF or a reset arriving; an accepted endpoint
//!   starts readable, as tokio's does) until a read finds nothing (`WouldBlock`, or
//!   `Pending`), and writable from its creation and each event that may let a write
//!   progress (the peer reading, the connection established, refused or reset, the
//!   write side shut) until a write finds no room. So `readable` may report a stream
//!   whose bytes were all read already, and a read that finds nothing clears it, as
//!   on tokio. Such a stale readiness is reported once (the next poll waits for an
//!   event): a loop that polls readiness and yields, waiting for an EOF the network
//!   delivers later in virtual time, would otherwise never let the clock move.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use tokio::io::{Interest, Ready};

use super::{Channel, HostId, Owner, Packet, Payload, Proto, Waiters, World, drain_into};

/// Bytes a side may have in flight or unread at its peer before its writes wait.
pub(crate) const WINDOW: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpState {
    Connecting,
    Established,
    Refused,
    /// A partition held the connect longer than the TCP timeout.
    TimedOut,
}

/// One side of a TCP connection.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) host: HostId,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    /// The other side's endpoint, once known (at once for an accepted side, at
    /// `SynAck` for a connecting one).
    pub(crate) peer_ep: Option<u32>,
    pub(crate) state: EpState,
    recv: VecDeque<u8>,
    fin_received: bool,
    reset: bool,
    write_shut: bool,
    /// The handle was dropped: the socket is closed.
    closed: bool,
    rst_sent: bool,
    /// A port bound for this side (a connecting side's ephemeral port).
    bound: Option<u16>,
    /// Bytes written and not yet read by the peer.
    in_flight: usize,
    nodelay: bool,
    /// `SO_LINGER` and `IP_TTL`: stored and read back.
    pub(crate) linger: Option<std::time::Duration>,
    pub(crate) ttl: u32,
    /// tokio's cached readiness (see the module's invariants).
    read_ready: bool,
    write_ready: bool,
    readers: Waiters,
    writers: Waiters,
}

impl Endpoint {
    /// Something that may let a read progress happened: readable, waiters woken.
    fn read_event(&mut self, wake: &mut Vec<Waker>) {
        self.read_ready = true;
        self.readers.take_into(wake);
    }

    /// Something that may let a write progress happened: writable, waiters woken.
    fn write_event(&mut self, wake: &mut Vec<Waker>) {
        self.write_ready = true;
        self.writers.take_into(wake);
    }
}

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) host: HostId,
    pub(crate) local: SocketAddr,
    backlog: VecDeque<u32>,
    closed: bool,
    acceptors: Waiters,
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset by peer (simulated)",
    )
}

impl World {
    fn new_endpoint(&mut self, host: HostId, local: SocketAddr, peer: SocketAddr) -> u32 {
        let index = u32::try_from(self.endpoints.len()).expect("fewer than 2^32 connections");
        self.endpoints.push(Endpoint {
            host,
            local,
            peer,
            peer_ep: None,
            state: EpState::Connecting,
            recv: VecDeque::new(),
            fin_received: false,
            reset: false,
            write_shut: false,
            closed: false,
            rst_sent: false,
            bound: None,
            in_flight: 0,
            nodelay: false,
            linger: None,
            ttl: 64,
            read_ready: false,
            write_ready: true,
            readers: Waiters::default(),
            writers: Waiters::default(),
        });
        index
    }

    pub(crate) fn listen(&mut self, addr: SocketAddr) -> io::Result<u32> {
        let host = self.current_host();
        let index = u32::try_from(self.listeners.len()).expect("fewer than 2^32 listeners");
        let local = self.bind(host, Proto::Tcp, addr, Owner::Listener(index))?;
        self.listeners.push(Listener {
            host,
            local,
            backlog: VecDeque::new(),
            closed: false,
            acceptors: Waiters::default(),
        });
        Ok(index)
    }

    pub(crate) fn poll_accept(
        &mut self,
        listener: u32,
        cx: &mut Context<'_>,
    ) -> Poll<(u32, SocketAddr)> {
        let l = &mut self.listeners[listener as usize];
        match l.backlog.pop_front() {
            Some(ep) => Poll::Ready((ep, self.endpoints[ep as usize].peer)),
            None => {
                l.acceptors.register(cx.waker());
                Poll::Pending
            }
        }
    }

    pub(crate) fn close_listener(&mut self, listener: u32) {
        let l = &mut self.listeners[listener as usize];
        if l.closed {
            return;
        }
        l.closed = true;
        let (host, port) = (l.host, l.local.port());
        let backlog = std::mem::take(&mut l.backlog);
        self.unbind(host, Proto::Tcp, port, Owner::Listener(listener));
        // Connections nobody accepted are reset, as a closed listen socket's are.
        for ep in backlog {
            self.abort_endpoint(ep);
        }
    }

    /// Starts a connection from the current host to `to`; returns the connecting endpoint.
    pub(crate) fn connect(&mut self, to: SocketAddr) -> io::Result<u32> {
        let to = super::normalize_destination(to);
        let host = self.current_host();
        let Some(to_host) = self.host_of(host, to.ip()) else {
            return Err(io::Error::new(
                io::ErrorKind::HostUnreachable,
                format!("no simulated host has the address {}", to.ip()),
            ));
        };
        let source = SocketAddr::new(self.source_ip(host, to.ip()), 0);
        let index = u32::try_from(self.endpoints.len()).expect("fewer than 2^32 connections");
        let local = self.bind(host, Proto::Tcp, source, Owner::Stream(index))?;
        let ep = self.new_endpoint(host, local, to);
        self.endpoints[ep as usize].bound = Some(local.port());
        self.send(
            host,
            to_host,
            Channel::Tcp(ep),
            Payload::Syn { client: ep, to },
        );
        Ok(ep)
    }

    pub(crate) fn poll_connected(&mut self, ep: u32, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let e = &mut self.endpoints[ep as usize];
        match e.state {
            EpState::Established => Poll::Ready(Ok(())),
            EpState::Refused => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!(
                    "connection refused: nothing listens on {} (simulated)",
                    e.peer
                ),
            ))),
            EpState::TimedOut => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection to {} timed out (simulated partition)", e.peer),
            ))),
            EpState::Connecting => {
                e.writers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    pub(super) fn on_syn(&mut self, host: HostId, client: u32, to: SocketAddr) {
        let from = self.endpoints[client as usize].local;
        let from_host = self.endpoints[client as usize].host;
        let listener = match self.bound_at(host, Proto::Tcp, to.ip(), to.port()) {
            Some(Owner::Listener(l)) if !self.listeners[l as usize].closed => Some(l),
            _ => None,
        };
        let Some(listener) = listener else {
            let channel = self.once_channel();
            self.send(host, from_host, channel, Payload::Refused { client });
            return;
        };
        let server = self.new_endpoint(host, to, from);
        let s = &mut self.endpoints[server as usize];
        s.state = EpState::Established;
        s.peer_ep = Some(client);
        // tokio assumes an accepted socket readable until a read finds nothing.
        s.read_ready = true;
        let l = &mut self.listeners[listener as usize];
        l.backlog.push_back(server);
        l.acceptors.take_into(&mut self.wake);
        self.send(
            host,
            from_host,
            Channel::Tcp(server),
            Payload::SynAck { client, server },
        );
    }

    pub(super) fn on_syn_ack(&mut self, client: u32, server: u32) {
        let c = &mut self.endpoints[client as usize];
        if c.closed {
            // The connecting side gave up before the answer came: reset the other side.
            self.send_rst(client, server);
            return;
        }
        c.state = EpState::Established;
        c.peer_ep = Some(server);
        c.write_event(&mut self.wake);
    }

    pub(super) fn on_refused(&mut self, client: u32) {
        let c = &mut self.endpoints[client as usize];
        c.state = EpState::Refused;
        c.write_event(&mut self.wake);
        self.release_port(client);
    }

    pub(super) fn on_data(&mut self, to: u32, bytes: Vec<u8>) {
        let e = &mut self.endpoints[to as usize];
        if e.closed || e.reset {
            if let Some(peer) = e.peer_ep {
                self.send_rst(to, peer);
            }
            return;
        }
        e.recv.extend(bytes);
        e.read_event(&mut self.wake);
    }

    pub(super) fn on_fin(&mut self, to: u32) {
        let e = &mut self.endpoints[to as usize];
        e.fin_received = true;
        e.read_event(&mut self.wake);
    }

    pub(super) fn on_rst(&mut self, to: u32) {
        let e = &mut self.endpoints[to as usize];
        if e.closed {
            return;
        }
        e.reset = true;
        e.recv.clear();
        e.read_event(&mut self.wake);
        e.write_event(&mut self.wake);
    }

    /// Sends `Rst` from `from` to `to`, once per endpoint.
    fn send_rst(&mut self, from: u32, to: u32) {
        let e = &mut self.endpoints[from as usize];
        if e.rst_sent {
            return;
        }
        e.rst_sent = true;
        let host = e.host;
        let to_host = self.endpoints[to as usize].host;
        self.send(host, to_host, Channel::Tcp(from), Payload::Rst { to });
    }

    fn release_port(&mut self, ep: u32) {
        let e = &mut self.endpoints[ep as usize];
        if let Some(port) = e.bound.take() {
            let host = e.host;
            self.unbind(host, Proto::Tcp, port, Owner::Stream(ep));
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        ep: u32,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        let e = &mut self.endpoints[ep as usize];
        if e.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(0));
        }
        if !e.recv.is_empty() {
            if peek {
                let n = e.recv.len().min(buf.remaining());
                let bytes: Vec<u8> = e.recv.iter().take(n).copied().collect();
                buf.put_slice(&bytes);
                return Poll::Ready(Ok(n));
            }
            let n = drain_into(&mut e.recv, buf);
            if let Some(peer) = e.peer_ep {
                let p = &mut self.endpoints[peer as usize];
                p.in_flight = p.in_flight.saturating_sub(n);
                p.write_event(&mut self.wake);
            }
            return Poll::Ready(Ok(n));
        }
        if e.fin_received {
            return Poll::Ready(Ok(0));
        }
        e.read_ready = false;
        e.readers.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn poll_write(
        &mut self,
        ep: u32,
        cx: &mut Context<'_>,
        bufs: &[&[u8]],
    ) -> Poll<io::Result<usize>> {
        let e = &mut self.endpoints[ep as usize];
        if e.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if e.write_shut {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the write side of this stream was shut down",
            )));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = WINDOW.saturating_sub(e.in_flight);
        if room == 0 {
            e.write_ready = false;
            e.writers.register(cx.waker());
            return Poll::Pending;
        }
        let n = total.min(room);
        let mut bytes = Vec::with_capacity(n);
        for b in bufs {
            let take = (n - bytes.len()).min(b.len());
            bytes.extend_from_slice(&b[..take]);
        }
        e.in_flight += n;
        let (host, peer) = (
            e.host,
            e.peer_ep.expect("an established stream knows its peer"),
        );
        let to_host = self.endpoints[peer as usize].host;
        self.send(
            host,
            to_host,
            Channel::Tcp(ep),
            Payload::Data { to: peer, bytes },
        );
        Poll::Ready(Ok(n))
    }

    /// Shuts the write side: the peer reads EOF after the bytes already written.
    pub(crate) fn shutdown_write(&mut self, ep: u32) -> io::Result<()> {
        let e = &mut self.endpoints[ep as usize];
        if e.reset {
            return Err(reset_error());
        }
        if e.write_shut || e.state != EpState::Established {
            return Ok(());
        }
        e.write_shut = true;
        let (host, peer) = (
            e.host,
            e.peer_ep.expect("an established stream knows its peer"),
        );
        let to_host = self.endpoints[peer as usize].host;
        self.send(host, to_host, Channel::Tcp(ep), Payload::Fin { to: peer });
        e_wake_writers(self, ep);
        Ok(())
    }

    /// The handle of `ep` was dropped: close it as a process's `close` does.
    pub(crate) fn close_endpoint(&mut self, ep: u32) {
        let e = &mut self.endpoints[ep as usize];
        if e.closed {
            return;
        }
        e.closed = true;
        if e.state == EpState::Established && !e.reset {
            let peer = e.peer_ep.expect("an established stream knows its peer");
            if !e.recv.is_empty() {
                self.send_rst(ep, peer);
            } else if !e.write_shut {
                let e = &mut self.endpoints[ep as usize];
                e.write_shut = true;
                let (host, to_host) = (e.host, self.endpoints[peer as usize].host);
                self.send(host, to_host, Channel::Tcp(ep), Payload::Fin { to: peer });
            }
        }
        let e = &mut self.endpoints[ep as usize];
        e.recv = VecDeque::new();
        self.release_port(ep);
    }

    /// Resets `ep` from its own side (an unaccepted connection of a closed listener).
    fn abort_endpoint(&mut self, ep: u32) {
        let e = &mut self.endpoints[ep as usize];
        e.closed = true;
        if let Some(peer) = e.peer_ep {
            self.send_rst(ep, peer);
        }
        self.release_port(ep);
    }

    /// A partition held `packet` for the TCP timeout: its connection is reset on
    /// both sides (a connect fails with `TimedOut`).
    pub(super) fn time_out(&mut self, packet: Packet) {
        let sides = match packet.payload {
            Payload::Syn { client, .. } => {
                let c = &mut self.endpoints[client as usize];
                if c.state == EpState::Connecting {
                    c.state = EpState::TimedOut;
                    c.write_event(&mut self.wake);
                    self.release_port(client);
                }
                return;
            }
            Payload::SynAck { client, server } => [Some(client), Some(server)],
            Payload::Data { to, .. } | Payload::Fin { to } | Payload::Rst { to } => {
                let from = match packet.channel {
                    Channel::Tcp(from) => Some(from),
                    _ => None,
                };
                [Some(to), from]
            }
            _ => [None, None],
        };
        for ep in sides.into_iter().flatten() {
            let c = &mut self.endpoints[ep as usize];
            if c.state == EpState::Connecting {
                c.state = EpState::TimedOut;
                c.write_event(&mut self.wake);
            } else {
                self.on_rst(ep);
            }
        }
        self.note_fault(|| "a partition outlasted the TCP timeout: connection reset".to_owned());
    }

    pub(crate) fn set_nodelay(&mut self, ep: u32, on: bool) {
        self.endpoints[ep as usize].nodelay = on;
    }

    pub(crate) fn nodelay(&self, ep: u32) -> bool {
        self.endpoints[ep as usize].nodelay
    }

    /// Polls tokio's cached readability (see the module's invariants).
    pub(crate) fn poll_readable(&mut self, ep: u32, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_ready(ep, Interest::READABLE, cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls tokio's cached writability (see the module's invariants).
    pub(crate) fn poll_writable(&mut self, ep: u32, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_ready(ep, Interest::WRITABLE, cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls until `ep` is ready for any of `interest`, as tokio's `ready` does: the
    /// readiness it has of `interest` (`READABLE` and `READ_CLOSED` once the peer's
    /// EOF or a reset arrived for readable interest; `WRITABLE`, and `WRITE_CLOSED`
    /// once both directions are closed or the connection reset, for writable
    /// interest; `ERROR` after a reset for error interest), never empty.
    pub(crate) fn poll_ready(
        &mut self,
        ep: u32,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Poll<Ready> {
        let e = &mut self.endpoints[ep as usize];
        let read_closed = e.fin_received || e.reset;
        let write_closed = e.reset || (e.write_shut && e.fin_received);
        let mut ready = Ready::EMPTY;
        // A stale readiness (nothing to read, room for nothing) is reported once.
        if interest.is_readable() {
            if e.read_ready {
                ready |= Ready::READABLE;
                if e.recv.is_empty() && !read_closed {
                    e.read_ready = false;
                }
            }
            if read_closed {
                ready |= Ready::READ_CLOSED;
            }
        }
        if interest.is_writable() {
            if e.write_ready {
                ready |= Ready::WRITABLE;
                if e.in_flight >= WINDOW && !write_closed && !e.write_shut {
                    e.write_ready = false;
                }
            }
            if write_closed {
                ready |= Ready::WRITE_CLOSED;
            }
        }
        if interest.is_error() && e.reset {
            ready |= Ready::ERROR;
        }
        if !ready.is_empty() {
            return Poll::Ready(ready);
        }
        if interest.is_readable() || interest.is_error() {
            e.readers.register(cx.waker());
        }
        if interest.is_writable() || interest.is_error() {
            e.writers.register(cx.waker());
        }
        Poll::Pending
    }

    /// Forgets the readiness of `interest`, as tokio does when an I/O call through
    /// `try_io` reports `WouldBlock`: the next `ready` waits for a new event.
    pub(crate) fn clear_ready(&mut self, ep: u32, interest: Interest) {
        let e = &mut self.endpoints[ep as usize];
        if interest.is_readable() {
            e.read_ready = false;
        }
        if interest.is_writable() {
            e.write_ready = false;
        }
    }
}

fn e_wake_writers(world: &mut World, ep: u32) {
    let e = &mut world.endpoints[ep as usize];
    e.write_event(&mut world.wake);
}

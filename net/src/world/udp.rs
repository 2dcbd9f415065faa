//! UDP in the world: bound sockets and datagram delivery.
//!
//! Invariants:
//! - a datagram arrives whole or not at all, with the boundaries it was sent with; a
//!   receive buffer shorter than the datagram gets its first bytes, the rest is lost
//!   (as with a real socket);
//! - datagrams of one flow (sending socket, destination) arrive in the order they
//!   were sent; loopback never loses one;
//! - a datagram to an address where no socket is bound, or to a connected socket from
//!   another address, is dropped silently.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use super::{Channel, HostId, Owner, Payload, Proto, Waiters, World};

/// The largest UDP payload over IPv4.
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// A bound UDP socket.
#[derive(Debug)]
pub(crate) struct Udp {
    pub(crate) host: HostId,
    pub(crate) local: SocketAddr,
    pub(crate) peer: Option<SocketAddr>,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    closed: bool,
    /// A datagram of this connected socket found no socket at its peer's port: the
    /// next receive that finds no datagram queued fails with `ConnectionRefused`, as
    /// Linux reports the ICMP "port unreachable" of a connected socket.
    refused: bool,
    readers: Waiters,
    /// Socket options: stored and read back, they change no delivery.
    pub(crate) options: UdpOptions,
}

/// The socket options a simulated UDP socket keeps (tokio's getters and setters), with
/// Linux's defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UdpOptions {
    pub(crate) ttl: u32,
    pub(crate) tos_v4: u32,
    pub(crate) tclass_v6: u32,
    pub(crate) broadcast: bool,
    pub(crate) multicast_loop_v4: bool,
    pub(crate) multicast_loop_v6: bool,
    pub(crate) multicast_ttl_v4: u32,
}

impl Default for UdpOptions {
    fn default() -> UdpOptions {
        UdpOptions {
            ttl: 64,
            tos_v4: 0,
            tclass_v6: 0,
            broadcast: false,
            multicast_loop_v4: true,
            multicast_loop_v6: true,
            multicast_ttl_v4: 1,
        }
    }
}

impl World {
    pub(crate) fn udp_bind(&mut self, addr: SocketAddr) -> io::Result<u32> {
        let host = self.current_host();
        let index = u32::try_from(self.udps.len()).expect("fewer than 2^32 sockets");
        let local = self.bind(host, Proto::Udp, addr, Owner::Udp(index))?;
        self.udps.push(Udp {
            host,
            local,
            peer: None,
            queue: VecDeque::new(),
            closed: false,
            refused: false,
            readers: Waiters::default(),
            options: UdpOptions::default(),
        });
        Ok(index)
    }

    pub(crate) fn udp_close(&mut self, sock: u32) {
        let u = &mut self.udps[sock as usize];
        if u.closed {
            return;
        }
        u.closed = true;
        u.queue = VecDeque::new();
        let (host, port) = (u.host, u.local.port());
        self.unbind(host, Proto::Udp, port, Owner::Udp(sock));
    }

    pub(crate) fn udp_connect(&mut self, sock: u32, peer: SocketAddr) -> io::Result<()> {
        let peer = super::normalize_destination(peer);
        let host = self.udps[sock as usize].host;
        if self.host_of(host, peer.ip()).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::HostUnreachable,
                format!("no simulated host has the address {}", peer.ip()),
            ));
        }
        self.udps[sock as usize].peer = Some(peer);
        Ok(())
    }

    pub(crate) fn udp_send_to(
        &mut self,
        sock: u32,
        buf: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        if buf.len() > MAX_DATAGRAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a datagram of {} bytes is larger than UDP allows",
                    buf.len()
                ),
            ));
        }
        let to = super::normalize_destination(to);
        let u = &self.udps[sock as usize];
        let host = u.host;
        let from_ip = match u.local.ip().is_unspecified() {
            true => self.source_ip(host, to.ip()),
            false => u.local.ip(),
        };
        let from = SocketAddr::new(from_ip, u.local.port());
        let Some(to_host) = self.host_of(host, to.ip()) else {
            return Err(io::Error::new(
                io::ErrorKind::HostUnreachable,
                format!("no simulated host has the address {}", to.ip()),
            ));
        };
        self.send(
            host,
            to_host,
            Channel::Udp(sock, to),
            Payload::Datagram {
                from,
                to,
                bytes: buf.to_vec(),
            },
        );
        Ok(buf.len())
    }

    /// Delivers a datagram sent on `channel` to `to` on `host`. With no socket there it
    /// is dropped, and a sender connected to `to` learns of it at its next receive.
    pub(super) fn on_datagram(
        &mut self,
        host: HostId,
        channel: Channel,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) {
        let Some(Owner::Udp(sock)) = self.bound_at(host, Proto::Udp, to.ip(), to.port()) else {
            if let Channel::Udp(sender, _) = channel {
                let s = &mut self.udps[sender as usize];
                if !s.closed && s.peer == Some(to) {
                    s.refused = true;
                    s.readers.take_into(&mut self.wake);
                }
            }
            return;
        };
        let u = &mut self.udps[sock as usize];
        if u.closed || u.peer.is_some_and(|peer| peer != from) {
            return;
        }
        u.queue.push_back((bytes, from));
        u.readers.take_into(&mut self.wake);
    }

    /// Receives (or, with `peek`, looks at) the next datagram: copies what fits into
    /// `buf` and returns the sender.
    pub(crate) fn udp_poll_recv(
        &mut self,
        sock: u32,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
        peek: bool,
    ) -> Poll<io::Result<SocketAddr>> {
        let u = &mut self.udps[sock as usize];
        let Some((bytes, from)) = u.queue.front() else {
            if std::mem::take(&mut u.refused) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "connection refused: a datagram sent to the connected peer found no socket \
                     bound at its port",
                )));
            }
            u.readers.register(cx.waker());
            return Poll::Pending;
        };
        let from = *from;
        let n = bytes.len().min(buf.remaining());
        buf.put_slice(&bytes[..n]);
        if !peek {
            u.queue.pop_front();
        }
        Poll::Ready(Ok(from))
    }
}

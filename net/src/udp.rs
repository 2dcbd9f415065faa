//! UDP: [`UdpSocket`], with tokio's signatures, on the run's simulated network.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use tokio::io::{Interest, ReadBuf, Ready};

use crate::addr::{ToSocketAddrs, each_addr};
use crate::world::udp::UdpOptions;
use crate::world::{SockRef, World, runtime_gone, try_with_sock, with_sock, with_world};

/// A UDP socket (tokio's `UdpSocket`): datagrams keep their boundaries; on loopback
/// none is lost or reordered. Sends never wait. A datagram to a port where nothing is
/// bound is dropped; if its sender is connected to that port, the sender's next receive
/// that finds nothing queued fails once with `ConnectionRefused`, as on Linux.
#[derive(Debug)]
pub struct UdpSocket {
    sock: SockRef,
}

fn not_connected() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "this UDP socket is not connected; use send_to, or connect first",
    )
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0: an ephemeral port) on the current host.
    /// Errors: `AddrInUse` when the port is taken; in a session that was shut down, the
    /// runtime's shutdown error (`detsim_runtime::shutdown_error`). Panics outside a
    /// simulation.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        crate::stream::check_io_enabled();
        if detsim_runtime::is_shut_down() {
            return Err(detsim_runtime::shutdown_error());
        }
        let addrs = addr.to_sim_addrs()?;
        with_world("detsim::net::UdpSocket::bind", |world| {
            each_addr(&addrs, |addr| {
                let index = world.udp_bind(addr)?;
                Ok(UdpSocket {
                    sock: world.sock(index),
                })
            })
        })
    }

    fn with<R>(&self, what: &str, f: impl FnOnce(&mut World, u32) -> R) -> R {
        with_sock(what, self.sock, |world| f(world, self.sock.index))
    }

    /// Sets the default peer: `send` goes there, and only its datagrams are received.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = addr.to_sim_addrs()?;
        self.with("detsim::net::UdpSocket::connect", |world, sock| {
            each_addr(&addrs, |addr| world.udp_connect(sock, addr))
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.with("detsim::net::UdpSocket::local_addr", |w, s| {
            w.udps[s as usize].local
        }))
    }

    /// The connected peer; `NotConnected` if there is none.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with("detsim::net::UdpSocket::peer_addr", |w, s| {
            w.udps[s as usize].peer
        })
        .ok_or_else(not_connected)
    }

    /// Sends `buf` as one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Sends `buf` to the connected peer without waiting (sends never wait).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        if let Some(error) = runtime_gone(self.sock) {
            return Err(error);
        }
        self.with("detsim::net::UdpSocket::send", |w, s| {
            let peer = w.udps[s as usize].peer.ok_or_else(not_connected)?;
            w.udp_send_to(s, buf, peer)
        })
    }

    /// Polls a send to the connected peer (always ready).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        crate::budgeted(cx, |_| Poll::Ready(self.try_send(buf)))
    }

    /// Sends `buf` as one datagram to `target` (its first address).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = target.to_sim_addrs()?;
        let Some(&to) = addrs.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        std::future::poll_fn(|cx| self.poll_send_to(cx, buf, to)).await
    }

    /// Sends `buf` to `target` without waiting (sends never wait).
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        if let Some(error) = runtime_gone(self.sock) {
            return Err(error);
        }
        self.with("detsim::net::UdpSocket::send_to", |w, s| {
            w.udp_send_to(s, buf, target)
        })
    }

    /// Polls a send to `target` (always ready).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        crate::budgeted(cx, |_| Poll::Ready(self.try_send_to(buf, target)))
    }

    /// Waits for a datagram and copies it into `buf` (truncated if `buf` is shorter);
    /// returns the bytes copied.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    /// Waits for a datagram; returns the bytes copied and the sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_inner(buf, false).await
    }

    /// Like [`recv_from`](Self::recv_from), but the datagram stays queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_inner(buf, true).await
    }

    async fn recv_inner(&self, buf: &mut [u8], peek: bool) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| {
            let mut read = ReadBuf::new(buf);
            crate::budgeted(cx, |cx| self.poll_inner(cx, &mut read, peek))
                .map_ok(|from| (read.filled().len(), from))
        })
        .await
    }

    fn poll_inner(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        peek: bool,
    ) -> Poll<io::Result<SocketAddr>> {
        if let Some(error) = runtime_gone(self.sock) {
            return Poll::Ready(Err(error));
        }
        self.with("detsim::net::UdpSocket::recv", |w, s| {
            w.udp_poll_recv(s, cx, buf, peek)
        })
    }

    /// Polls for a datagram, copying it into `buf`.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        crate::budgeted(cx, |cx| self.poll_inner(cx, buf, false)).map_ok(|_| ())
    }

    /// Polls for a datagram, copying it into `buf`; gives the sender.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        crate::budgeted(cx, |cx| self.poll_inner(cx, buf, false))
    }

    /// Polls for a datagram without removing it; gives the sender.
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        crate::budgeted(cx, |cx| self.poll_inner(cx, buf, true))
    }

    /// Receives a datagram if one is queued: `WouldBlock` otherwise.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut read = ReadBuf::new(buf);
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_inner(&mut cx, &mut read, false) {
            Poll::Ready(result) => result.map(|from| (read.filled().len(), from)),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Receives a datagram if one is queued: `WouldBlock` otherwise.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_recv_from(buf).map(|(n, _)| n)
    }
}

/// Readiness, the `bytes::BufMut` receives, `peek_sender`, and the socket options.
impl UdpSocket {
    /// Waits until the socket is ready for any of `interest` and returns the readiness
    /// it has (tokio's `ready`): `WRITABLE` at once for writable interest (sends never
    /// wait), `READABLE` while a datagram is queued for readable interest.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        std::future::poll_fn(|cx| {
            let mut ready = Ready::EMPTY;
            if interest.is_writable() {
                ready |= Ready::WRITABLE;
            }
            if interest.is_readable() {
                match self.poll_recv_ready(cx) {
                    Poll::Ready(Ok(())) => ready |= Ready::READABLE,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            match ready.is_empty() {
                true => Poll::Pending,
                false => Poll::Ready(Ok(ready)),
            }
        })
        .await
    }

    /// Waits until a datagram is queued (a receive would not wait).
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_recv_ready(cx)).await
    }

    /// Ready at once: sends never wait.
    pub async fn writable(&self) -> io::Result<()> {
        Ok(())
    }

    /// Polls until a datagram is queued.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_inner(cx, &mut ReadBuf::new(&mut []), true)
            .map_ok(|_| ())
    }

    /// Always ready: sends never wait.
    pub fn poll_send_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Waits for a datagram and appends it to `buf`'s spare capacity; returns the bytes
    /// received.
    pub async fn recv_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        self.recv_buf_from(buf).await.map(|(n, _)| n)
    }

    /// Waits for a datagram and appends it to `buf`; returns the bytes and the sender.
    pub async fn recv_buf_from<B: bytes::BufMut>(
        &self,
        buf: &mut B,
    ) -> io::Result<(usize, SocketAddr)> {
        self.readable().await?;
        self.try_recv_buf_from(buf)
    }

    /// Appends a queued datagram to `buf`: `WouldBlock` if none is queued.
    pub fn try_recv_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        self.try_recv_buf_from(buf).map(|(n, _)| n)
    }

    /// Appends a queued datagram to `buf` and gives its sender: `WouldBlock` if none is
    /// queued.
    pub fn try_recv_buf_from<B: bytes::BufMut>(
        &self,
        buf: &mut B,
    ) -> io::Result<(usize, SocketAddr)> {
        let mut bytes = vec![0; buf.remaining_mut().min(crate::world::udp::MAX_DATAGRAM)];
        let (n, from) = self.try_recv_from(&mut bytes)?;
        buf.put_slice(&bytes[..n]);
        Ok((n, from))
    }

    /// Looks at a queued datagram without removing it: `WouldBlock` if none is queued.
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut read = ReadBuf::new(buf);
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_inner(&mut cx, &mut read, true) {
            Poll::Ready(result) => result.map(|from| (read.filled().len(), from)),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Waits for a datagram and gives its sender, leaving it queued.
    pub async fn peek_sender(&self) -> io::Result<SocketAddr> {
        std::future::poll_fn(|cx| self.poll_peek_sender(cx)).await
    }

    /// Polls for a datagram and gives its sender, leaving it queued.
    pub fn poll_peek_sender(&self, cx: &mut Context<'_>) -> Poll<io::Result<SocketAddr>> {
        self.poll_inner(cx, &mut ReadBuf::new(&mut []), true)
    }

    /// The sender of the queued datagram, left queued: `WouldBlock` if none is queued.
    pub fn try_peek_sender(&self) -> io::Result<SocketAddr> {
        self.try_peek_from(&mut []).map(|(_, from)| from)
    }

    /// Always an error: a simulated socket cannot wrap an OS socket (bind inside the
    /// simulation instead).
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        drop(socket);
        Err(crate::stream::no_os_socket("UdpSocket::from_std"))
    }

    /// Always an error: a simulated socket has no OS socket to give.
    #[track_caller]
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Err(crate::stream::no_os_socket("UdpSocket::into_std"))
    }

    fn options<R>(&self, f: impl FnOnce(&mut UdpOptions) -> R) -> io::Result<R> {
        Ok(self.with("detsim::net::UdpSocket options", |w, s| {
            f(&mut w.udps[s as usize].options)
        }))
    }
}

/// Socket options: each setter stores the value its getter gives back; none changes
/// how the simulated network delivers.
macro_rules! options {
    ($($(#[$doc:meta])* $get:ident, $set:ident: $ty:ty;)*) => {
        impl UdpSocket {
            $(
                $(#[$doc])*
                pub fn $get(&self) -> io::Result<$ty> {
                    self.options(|options| options.$get)
                }

                /// Sets the option of the same name (stored; changes no delivery).
                pub fn $set(&self, value: $ty) -> io::Result<()> {
                    self.options(|options| options.$get = value)
                }
            )*
        }
    };
}

options! {
    /// `IP_TTL` (64 unless set).
    ttl, set_ttl: u32;
    /// `IP_TOS` (0 unless set).
    tos_v4, set_tos_v4: u32;
    /// `IPV6_TCLASS` (0 unless set).
    tclass_v6, set_tclass_v6: u32;
    /// `SO_BROADCAST` (false unless set).
    broadcast, set_broadcast: bool;
    /// `IP_MULTICAST_LOOP` (true unless set).
    multicast_loop_v4, set_multicast_loop_v4: bool;
    /// `IPV6_MULTICAST_LOOP` (true unless set).
    multicast_loop_v6, set_multicast_loop_v6: bool;
    /// `IP_MULTICAST_TTL` (1 unless set).
    multicast_ttl_v4, set_multicast_ttl_v4: u32;
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let index = self.sock.index;
        try_with_sock(self.sock, |world| world.udp_close(index));
    }
}

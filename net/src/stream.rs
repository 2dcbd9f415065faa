//! TCP: [`TcpListener`] and [`TcpStream`], with tokio's signatures, on the run's
//! simulated network. [`tcp`](crate::tcp) holds the halves of a split stream.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};

use crate::addr::{ToSocketAddrs, each_addr};
use crate::world::{SockRef, runtime_gone, try_with_sock, with_sock, with_world};

/// A TCP socket listening for connections (tokio's `TcpListener`). Dropping it closes
/// the port: connections not yet accepted are reset, later connects are refused.
#[derive(Debug)]
pub struct TcpListener {
    sock: SockRef,
}

impl TcpListener {
    /// Binds a listener to `addr` (port 0: an ephemeral port from 49152 up) on the
    /// current host. Errors: `AddrInUse` when the port is taken, `AddrNotAvailable`
    /// for an address that is not the host's; in a session that was shut down, the
    /// runtime's shutdown error (`detsim_runtime::shutdown_error`). Panics outside a
    /// simulation.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        check_io_enabled();
        if detsim_runtime::is_shut_down() {
            return Err(detsim_runtime::shutdown_error());
        }
        let addrs = addr.to_sim_addrs()?;
        with_world("detsim::net::TcpListener::bind", |world| {
            each_addr(&addrs, |addr| {
                let index = world.listen(addr)?;
                Ok(TcpListener {
                    sock: world.sock(index),
                })
            })
        })
    }

    /// Waits for a connection; returns the accepted stream and the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (tokio's `poll_accept`).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        if let Some(error) = runtime_gone(self.sock) {
            return Poll::Ready(Err(error));
        }
        crate::budgeted(cx, |cx| {
            with_sock("detsim::net::TcpListener::accept", self.sock, |world| {
                world.poll_accept(self.sock.index, cx).map(|(ep, peer)| {
                    Ok((
                        TcpStream {
                            sock: world.sock(ep),
                        },
                        peer,
                    ))
                })
            })
        })
    }

    /// The address the listener is bound to (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(with_sock(
            "detsim::net::TcpListener::local_addr",
            self.sock,
            |world| world.listeners[self.sock.index as usize].local,
        ))
    }
}

impl TcpListener {
    /// Always an error: a simulated listener cannot wrap an OS socket (bind inside the
    /// simulation instead).
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        drop(listener);
        Err(no_os_socket("TcpListener::from_std"))
    }

    /// Always an error: a simulated listener has no OS socket to give.
    #[track_caller]
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Err(no_os_socket("TcpListener::into_std"))
    }
}

impl TryFrom<std::net::TcpListener> for TcpListener {
    type Error = io::Error;

    /// Always an error (see [`TcpListener::from_std`]).
    #[track_caller]
    fn try_from(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let index = self.sock.index;
        try_with_sock(self.sock, |world| world.close_listener(index));
    }
}

/// A TCP connection (tokio's `TcpStream`): bytes arrive in order and complete, after
/// the link's latency. Dropping it closes the connection: the peer reads EOF (or sees
/// a reset if data it sent was left unread here, as Linux does).
#[derive(Debug)]
pub struct TcpStream {
    sock: SockRef,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it names in turn. A round trip of the
    /// link: errors with `ConnectionRefused` when nothing listens there,
    /// `HostUnreachable` when no host has the address, the runtime's shutdown error in a
    /// session that was shut down. Panics outside a simulation.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        check_io_enabled();
        if detsim_runtime::is_shut_down() {
            return Err(detsim_runtime::shutdown_error());
        }
        let addrs = addr.to_sim_addrs()?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any address",
            )
        }))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = with_world("detsim::net::TcpStream::connect", |world| {
            let ep = world.connect(addr)?;
            io::Result::Ok(TcpStream {
                sock: world.sock(ep),
            })
        })?;
        std::future::poll_fn(|cx| {
            with_sock("detsim::net::TcpStream::connect", stream.sock, |world| {
                world.poll_connected(stream.sock.index, cx)
            })
        })
        .await?;
        Ok(stream)
    }

    fn with<R>(&self, what: &str, f: impl FnOnce(&mut crate::world::World, u32) -> R) -> R {
        with_sock(what, self.sock, |world| f(world, self.sock.index))
    }

    /// This side's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.with("detsim::net::TcpStream::local_addr", |w, ep| {
            w.endpoints[ep as usize].local
        }))
    }

    /// The other side's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.with("detsim::net::TcpStream::peer_addr", |w, ep| {
            w.endpoints[ep as usize].peer
        }))
    }

    /// Sets `TCP_NODELAY`. Recorded and reported by [`nodelay`](Self::nodelay); the
    /// simulated network sends every write at once either way.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.with("detsim::net::TcpStream::set_nodelay", |w, ep| {
            w.set_nodelay(ep, nodelay);
        });
        Ok(())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.with("detsim::net::TcpStream::nodelay", |w, ep| w.nodelay(ep)))
    }

    /// Splits the stream into a read half and a write half that borrow it.
    pub fn split(&mut self) -> (crate::tcp::ReadHalf<'_>, crate::tcp::WriteHalf<'_>) {
        crate::tcp::split(self)
    }

    /// Splits the stream into owned halves, which
    /// [`OwnedReadHalf::reunite`](crate::tcp::OwnedReadHalf::reunite) puts back together. Dropping the write half
    /// shuts the write side down, as tokio's does.
    pub fn into_split(self) -> (crate::tcp::OwnedReadHalf, crate::tcp::OwnedWriteHalf) {
        crate::tcp::into_split(self)
    }

    /// Reads received bytes without consuming them.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(buf);
            self.poll_peek(cx, &mut buf)
        })
        .await
    }

    /// Polls for received bytes without consuming them; fills `buf` with what is there.
    pub fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        self.with("detsim::net::TcpStream::peek", |w, ep| {
            w.poll_read(ep, cx, buf, true)
        })
    }

    /// Waits until the stream is ready for any of `interest` and returns the readiness
    /// it has (tokio's `ready`): `READABLE` (and `READ_CLOSED` once the peer's EOF or a
    /// reset arrived) for readable interest, `WRITABLE` (and `WRITE_CLOSED` once both
    /// directions are closed or the connection was reset) for writable interest.
    ///
    /// Readiness is tokio's cached readiness, which may be stale: readable from each
    /// arrival (bytes, EOF, reset; an accepted stream starts readable) until a read
    /// finds nothing, writable until a write finds no room. So a `try_read` after
    /// `ready` may still give `WouldBlock`; loop, as with tokio. A stale readiness
    /// (nothing to read, or no room) is reported once: the next call waits for an
    /// event, so a loop of `ready` and `yield_now` lets virtual time move on.
    ///
    /// ```
    /// use detsim_net::{TcpListener, TcpStream};
    /// use tokio::io::{AsyncWriteExt, Interest};
    ///
    /// detsim_runtime::Runtime::new(1).block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     server.write_all(b"hi").await.unwrap();
    ///     let ready = client.ready(Interest::READABLE).await.unwrap();
    ///     assert!(ready.is_readable() && !ready.is_read_closed());
    ///     let mut buf = [0; 8];
    ///     assert_eq!(client.try_read(&mut buf).unwrap(), 2);
    /// });
    /// ```
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        let ready = std::future::poll_fn(|cx| {
            self.with("detsim::net::TcpStream::ready", |w, ep| {
                w.poll_ready(ep, interest, cx)
            })
        })
        .await;
        Ok(ready)
    }

    /// Runs `f`, an I/O call of the caller's own, if the stream is ready for
    /// `interest` (tokio's `try_io`): `WouldBlock` without calling it if not; when `f`
    /// returns `WouldBlock`, the readiness of `interest` is cleared, so the next
    /// [`ready`](Self::ready) waits for a new event.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut cx = Context::from_waker(Waker::noop());
        let ready = self.with("detsim::net::TcpStream::try_io", |w, ep| {
            w.poll_ready(ep, interest, &mut cx)
        });
        if ready.is_pending() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let result = f();
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.with("detsim::net::TcpStream::try_io", |w, ep| {
                w.clear_ready(ep, interest)
            });
        }
        result
    }

    /// Waits until the stream is ready for `interest` and runs `f`, again after each
    /// `WouldBlock` it returns (tokio's `async_io`; see [`try_io`](Self::try_io)).
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.ready(interest).await?;
            match self.try_io(interest, &mut f) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }

    /// Waits until the stream is readable (see [`ready`](Self::ready)): a read may
    /// still find nothing.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            self.with("detsim::net::TcpStream::readable", |w, ep| {
                w.poll_readable(ep, cx)
            })
        })
        .await;
        Ok(())
    }

    /// Waits until the stream is writable (see [`ready`](Self::ready)): a write may
    /// still find no room.
    pub async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            self.with("detsim::net::TcpStream::writable", |w, ep| {
                w.poll_writable(ep, cx)
            })
        })
        .await;
        Ok(())
    }

    /// Reads what is there without waiting: `WouldBlock` when nothing is.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_read_priv(&mut cx, &mut buf) {
            Poll::Ready(result) => result.map(|()| buf.filled().len()),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes what fits without waiting: `WouldBlock` when nothing does.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_write_priv(&mut cx, &[buf]) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(crate) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = runtime_gone(self.sock) {
            return Poll::Ready(Err(error));
        }
        self.with("detsim::net::TcpStream::poll_read", |w, ep| {
            w.poll_read(ep, cx, buf, false).map_ok(|_| ())
        })
    }

    pub(crate) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[&[u8]],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = runtime_gone(self.sock) {
            return Poll::Ready(Err(error));
        }
        self.with("detsim::net::TcpStream::poll_write", |w, ep| {
            w.poll_write(ep, cx, bufs)
        })
    }

    pub(crate) fn shutdown_priv(&self) -> io::Result<()> {
        self.with("detsim::net::TcpStream::poll_shutdown", |w, ep| {
            w.shutdown_write(ep)
        })
    }
}

/// Readiness, vectored and `BufMut` reads, socket options, and the conversions to and
/// from `std` (which a simulated stream cannot make).
impl TcpStream {
    /// Polls until the stream is readable (see [`ready`](Self::ready)); `cx`'s waker
    /// is woken at the next event that may let a read progress.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with("detsim::net::TcpStream::poll_read_ready", |w, ep| {
            w.poll_readable(ep, cx)
        })
        .map(Ok)
    }

    /// Polls until the stream is writable (see [`ready`](Self::ready)); `cx`'s waker
    /// is woken at the next event that may let a write progress.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with("detsim::net::TcpStream::poll_write_ready", |w, ep| {
            w.poll_writable(ep, cx)
        })
        .map(Ok)
    }

    /// Reads what is there into `buf`'s spare capacity without waiting: `WouldBlock`
    /// when nothing is.
    pub fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        let mut bytes = vec![0; buf.remaining_mut().min(1 << 16)];
        let n = self.try_read(&mut bytes)?;
        buf.put_slice(&bytes[..n]);
        Ok(n)
    }

    /// Reads what is there into `bufs`, in order, without waiting: `WouldBlock` when
    /// nothing is.
    pub fn try_read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let total = bufs.iter().map(|b| b.len()).sum();
        let mut bytes = vec![0; total];
        let n = self.try_read(&mut bytes)?;
        let mut rest = &bytes[..n];
        for buf in bufs {
            let take = rest.len().min(buf.len());
            buf[..take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(n)
    }

    /// Writes what fits of `bufs`, in order, without waiting: `WouldBlock` when nothing
    /// does.
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_write_priv(&mut cx, &bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Sets `SO_LINGER` (stored and read back by [`linger`](Self::linger); a close
    /// always delivers what was written).
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.with("detsim::net::TcpStream::set_linger", |w, ep| {
            w.endpoints[ep as usize].linger = linger;
        });
        Ok(())
    }

    /// Sets `SO_LINGER` to zero (see [`set_linger`](Self::set_linger)).
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.set_linger(Some(std::time::Duration::ZERO))
    }

    /// `SO_LINGER`: `None` unless set.
    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        Ok(self.with("detsim::net::TcpStream::linger", |w, ep| {
            w.endpoints[ep as usize].linger
        }))
    }

    /// Sets `IP_TTL` (stored and read back by [`ttl`](Self::ttl)).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.with("detsim::net::TcpStream::set_ttl", |w, ep| {
            w.endpoints[ep as usize].ttl = ttl;
        });
        Ok(())
    }

    /// `IP_TTL`: 64 unless set.
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(self.with("detsim::net::TcpStream::ttl", |w, ep| {
            w.endpoints[ep as usize].ttl
        }))
    }

    /// Always an error: a simulated stream cannot wrap an OS socket (connect inside the
    /// simulation instead).
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        drop(stream);
        Err(no_os_socket("TcpStream::from_std"))
    }

    /// Always an error: a simulated stream has no OS socket to give.
    #[track_caller]
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Err(no_os_socket("TcpStream::into_std"))
    }
}

/// The error of the conversions between simulated and OS sockets; outside a simulation,
/// tokio's panic for a socket made with no runtime, and in a run without I/O (see
/// [`__disable_io`]) tokio's panic for that.
#[track_caller]
pub(crate) fn no_os_socket(what: &str) -> io::Error {
    assert!(
        detsim_runtime::in_simulation(),
        "`{what}` was called outside a detsim simulation; in tokio's words, there is no \
         reactor running, must be called from the context of a Tokio 1.x runtime"
    );
    check_io_enabled();
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "`{what}`: a simulated socket has no OS socket, and an OS socket cannot join the \
             simulated network (create sockets with bind/connect inside the simulation)"
        ),
    )
}

/// Marks a run whose sockets may not be created (see [`__disable_io`]).
struct IoDisabled;

/// Makes the current run's socket constructors (`bind`, `connect`, `from_std`) panic
/// with tokio's message for a runtime built without `enable_io`: the tokio facade calls
/// it in the runs of such a runtime. Not part of the API. Panics outside a simulation.
#[doc(hidden)]
pub fn __disable_io() {
    detsim_runtime::extension::run_state(|| IoDisabled);
}

/// Panics at the caller, with tokio's message, in a run without I/O.
#[track_caller]
pub(crate) fn check_io_enabled() {
    if detsim_runtime::extension::try_run_state::<IoDisabled>().is_some() {
        panic!(
            "A Tokio 1.x context was found, but IO is disabled. Call `enable_io` on the \
             runtime builder to enable IO."
        );
    }
}

impl TryFrom<std::net::TcpStream> for TcpStream {
    type Error = io::Error;

    /// Always an error (see [`TcpStream::from_std`]).
    #[track_caller]
    fn try_from(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std(stream)
    }
}

impl TcpStream {
    /// Shuts the write side down if the stream belongs to the current run (for
    /// destructors, which must not panic).
    pub(crate) fn shutdown_quietly(&self) {
        let index = self.sock.index;
        try_with_sock(self.sock, |world| {
            let _ = world.shutdown_write(index);
        });
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let index = self.sock.index;
        try_with_sock(self.sock, |world| world.close_endpoint(index));
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        crate::budgeted(cx, |cx| self.poll_read_priv(cx, buf))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        crate::budgeted(cx, |cx| self.poll_write_priv(cx, &[buf]))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        crate::budgeted(cx, |cx| self.poll_write_priv(cx, &bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts the write side down (a half-close): the peer reads EOF after the bytes
    /// written so far; this side can still read.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_priv())
    }
}

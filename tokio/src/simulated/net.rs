//! `tokio::net` on detsim's simulated network (the `detsim-net` crate, also
//! `detsim::net`): `TcpListener`, `TcpStream` (with `split`, `into_split` and the
//! halves in [`tcp`]), `TcpSocket`, `UdpSocket`, `lookup_host` and `ToSocketAddrs`, with
//! tokio's signatures, implementing tokio's `AsyncRead`/`AsyncWrite`.
//!
//! Each run has its own network: a host with a loopback interface (`127.0.0.1`, `::1`,
//! `localhost`); port 0 binds an ephemeral port; connecting where nothing listens is
//! `ConnectionRefused`; a delivery takes a small per-seed latency of virtual time, and
//! which of several simultaneous deliveries goes first is a recorded decision.
//!
//! Socket options (`set_ttl`, `set_linger`, a [`TcpSocket`]'s buffer sizes, …) are
//! stored and read back as Linux reports them; none changes how the simulated network
//! delivers. What cannot be simulated fails at run time with an `Unsupported` error
//! that says so: the conversions to and from `std` sockets (`from_std`, `into_std`: a
//! simulated socket has no OS socket), and Unix domain sockets ([`UnixListener`],
//! [`UnixStream`], [`UnixDatagram`]: their constructors return the error, so code that
//! uses them compiles).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use detsim::net::*;

/// A TCP socket not yet connected or listening (tokio's `TcpSocket`): a builder for a
/// simulated [`TcpStream`] ([`connect`](TcpSocket::connect)) or [`TcpListener`]
/// ([`listen`](TcpSocket::listen)). Its options are stored and read back as Linux
/// reports them (a buffer size reads back doubled); `nodelay` and `linger` carry over
/// to the stream.
#[derive(Debug)]
pub struct TcpSocket {
    v6: bool,
    state: Mutex<SocketState>,
}

#[derive(Debug, Clone, Copy)]
struct SocketState {
    bound: Option<SocketAddr>,
    keepalive: bool,
    reuseaddr: bool,
    reuseport: bool,
    send_buffer_size: u32,
    recv_buffer_size: u32,
    linger: Option<Duration>,
    nodelay: bool,
    tos_v4: u32,
    tclass_v6: u32,
}

impl TcpSocket {
    fn new(v6: bool) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            v6,
            state: Mutex::new(SocketState {
                bound: None,
                keepalive: false,
                reuseaddr: false,
                reuseport: false,
                send_buffer_size: 16_384,
                recv_buffer_size: 131_072,
                linger: None,
                nodelay: false,
                tos_v4: 0,
                tclass_v6: 0,
            }),
        })
    }

    /// A socket for IPv4.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(false)
    }

    /// A socket for IPv6.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(true)
    }

    fn state<R>(&self, f: impl FnOnce(&mut SocketState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Binds the socket to `addr`: the address [`listen`](Self::listen) listens on. (A
    /// connecting socket's local address is chosen by the simulated network.)
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        if addr.is_ipv6() != self.v6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address family does not match the socket's",
            ));
        }
        self.state(|state| state.bound = Some(addr));
        Ok(())
    }

    /// The address given to [`bind`](Self::bind).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.state(|state| state.bound)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the socket is not bound"))
    }

    /// Connects to `addr` and gives the stream, with this socket's `nodelay` and
    /// `linger`.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let state = self.state(|state| *state);
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(state.nodelay)?;
        stream.set_linger(state.linger)?;
        Ok(stream)
    }

    /// Listens on the bound address (or an ephemeral port of the loopback address).
    pub fn listen(self, _backlog: u32) -> io::Result<TcpListener> {
        let addr = self.state(|state| state.bound).unwrap_or(match self.v6 {
            true => SocketAddr::from(([0u16; 8], 0)),
            false => SocketAddr::from(([0u8; 4], 0)),
        });
        // The simulated bind completes in its first poll.
        let mut bind = std::pin::pin!(TcpListener::bind(addr));
        match bind.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("a simulated bind completes in its first poll"),
        }
    }

    /// Always an error: a simulated socket cannot wrap an OS socket.
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        drop(stream);
        panic!(
            "`TcpSocket::from_std_stream`: a simulated socket cannot wrap an OS socket; \
             create it with TcpSocket::new_v4 or new_v6 inside the simulation"
        )
    }
}

/// `TcpSocket`'s options: each setter stores the value its getter gives back.
macro_rules! socket_options {
    ($($(#[$doc:meta])* $get:ident, $set:ident: $ty:ty $(=> $stored:expr)?;)*) => {
        impl TcpSocket {
            $(
                $(#[$doc])*
                pub fn $get(&self) -> io::Result<$ty> {
                    Ok(self.state(|state| state.$get))
                }

                /// Sets the option of the same name (stored; changes no delivery).
                pub fn $set(&self, value: $ty) -> io::Result<()> {
                    $(let value = $stored(value);)?
                    self.state(|state| state.$get = value);
                    Ok(())
                }
            )*
        }
    };
}

socket_options! {
    /// `SO_KEEPALIVE` (false unless set).
    keepalive, set_keepalive: bool;
    /// `SO_REUSEADDR` (false unless set).
    reuseaddr, set_reuseaddr: bool;
    /// `SO_REUSEPORT` (false unless set).
    reuseport, set_reuseport: bool;
    /// `SO_SNDBUF`: as on Linux, twice the value set.
    send_buffer_size, set_send_buffer_size: u32 => |size: u32| size.saturating_mul(2);
    /// `SO_RCVBUF`: as on Linux, twice the value set.
    recv_buffer_size, set_recv_buffer_size: u32 => |size: u32| size.saturating_mul(2);
    /// `SO_LINGER` (`None` unless set).
    linger, set_linger: Option<Duration>;
    /// `TCP_NODELAY` (false unless set).
    nodelay, set_nodelay: bool;
    /// `IP_TOS` (0 unless set).
    tos_v4, set_tos_v4: u32;
    /// `IPV6_TCLASS` (0 unless set).
    tclass_v6, set_tclass_v6: u32;
}

impl TcpSocket {
    /// Sets `SO_LINGER` to zero.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.set_linger(Some(Duration::ZERO))
    }
}

#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// Unix domain sockets: not simulated. The types exist so that code using them
/// compiles; their constructors return an `Unsupported` error saying so, and no value
/// of them can exist.
#[cfg(unix)]
mod unix {
    use std::convert::Infallible;
    use std::io;
    use std::os::unix::net::SocketAddr;
    use std::path::Path;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// The error of every constructor: tokio's shutdown error in a runtime that was
    /// shut down (as tokio's registration gives), else `Unsupported`.
    /// The error of every constructor; on a runtime built without I/O, tokio's panic
    /// for that, at the caller.
    #[track_caller]
    fn unsupported(what: &str) -> io::Error {
        if crate::runtime::Handle::try_current().is_ok_and(|handle| !handle.io_enabled) {
            panic!(
                "A Tokio 1.x context was found, but IO is disabled. Call `enable_io` on the \
                 runtime builder to enable IO."
            );
        }
        if detsim_runtime::is_shut_down() {
            return detsim_runtime::shutdown_error();
        }
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "`{what}`: Unix domain sockets are not simulated under --cfg detsim (use TCP \
                 on the simulated network, or test this code without --cfg detsim)"
            ),
        )
    }

    /// tokio's `UnixListener`, not simulated (see the [module](super) docs).
    #[derive(Debug)]
    pub struct UnixListener {
        never: Infallible,
    }

    impl UnixListener {
        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
            let _ = path;
            Err(unsupported("UnixListener::bind"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
            drop(listener);
            Err(unsupported("UnixListener::from_std"))
        }

        /// Never called: no listener exists.
        pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
            match self.never {}
        }

        /// Never called: no listener exists.
        pub fn poll_accept(
            &self,
            _cx: &mut Context<'_>,
        ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
            match self.never {}
        }

        /// Never called: no listener exists.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
    }

    /// tokio's `UnixStream`, not simulated (see the [module](super) docs).
    #[derive(Debug)]
    pub struct UnixStream {
        never: Infallible,
    }

    impl UnixStream {
        /// Always an `Unsupported` error.
        pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
            let _ = path;
            Err(unsupported("UnixStream::connect"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
            Err(unsupported("UnixStream::pair"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
            drop(stream);
            Err(unsupported("UnixStream::from_std"))
        }

        /// Never called: no stream exists.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }

        /// Never called: no stream exists.
        pub fn peer_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
    }

    impl AsyncRead for UnixStream {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.never {}
        }
    }

    impl AsyncWrite for UnixStream {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match self.never {}
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.never {}
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.never {}
        }
    }

    /// tokio's `UnixDatagram`, not simulated (see the [module](super) docs).
    #[derive(Debug)]
    pub struct UnixDatagram {
        never: Infallible,
    }

    impl UnixDatagram {
        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
            let _ = path;
            Err(unsupported("UnixDatagram::bind"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
            Err(unsupported("UnixDatagram::pair"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn unbound() -> io::Result<UnixDatagram> {
            Err(unsupported("UnixDatagram::unbound"))
        }

        /// Always an `Unsupported` error.
        #[track_caller]
        pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
            drop(socket);
            Err(unsupported("UnixDatagram::from_std"))
        }

        /// Never called: no socket exists.
        pub async fn send(&self, _buf: &[u8]) -> io::Result<usize> {
            match self.never {}
        }

        /// Never called: no socket exists.
        pub async fn recv(&self, _buf: &mut [u8]) -> io::Result<usize> {
            match self.never {}
        }

        /// Never called: no socket exists.
        pub async fn send_to(&self, _buf: &[u8], _target: impl AsRef<Path>) -> io::Result<usize> {
            match self.never {}
        }

        /// Never called: no socket exists.
        pub async fn recv_from(&self, _buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            match self.never {}
        }

        /// Never called: no socket exists.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
    }
}

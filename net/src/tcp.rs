//! The halves of a split [`TcpStream`], as tokio's `tokio::net::tcp` has them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};

use crate::TcpStream;

/// The read half of [`TcpStream::split`], borrowing the stream.
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The write half of [`TcpStream::split`], borrowing the stream. Its `poll_shutdown`
/// shuts the stream's write side down.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a TcpStream);

pub(crate) fn split(stream: &mut TcpStream) -> (ReadHalf<'_>, WriteHalf<'_>) {
    (ReadHalf(stream), WriteHalf(stream))
}

/// The owned read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<TcpStream>,
}

/// The owned write half of [`TcpStream::into_split`]. Dropping it shuts the write side
/// down (the peer reads EOF), unless it was given up with [`forget`](Self::forget).
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

pub(crate) fn into_split(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let inner = Arc::new(stream);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

/// The error of `reunite` when the halves come from different streams; gives both back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

fn reunite(read: OwnedReadHalf, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
    if !Arc::ptr_eq(&read.inner, &write.inner) {
        return Err(ReuniteError(read, write));
    }
    write.shutdown_on_drop = false;
    drop(write);
    Ok(Arc::try_unwrap(read.inner).expect("the two halves were the only owners"))
}

impl OwnedReadHalf {
    /// Puts the stream back together; fails if `other` is another stream's half.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        reunite(self, other)
    }

    /// The other side's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Reads received bytes without consuming them.
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }
}

impl OwnedWriteHalf {
    /// Puts the stream back together; fails if `other` is another stream's half.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        reunite(other, self)
    }

    /// Drops the half without shutting the write side down.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The other side's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            self.inner.shutdown_quietly();
        }
    }
}

impl ReadHalf<'_> {
    /// The other side's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Reads received bytes without consuming them.
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }
}

impl WriteHalf<'_> {
    /// The other side's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// This side's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

macro_rules! read_impl {
    ($ty:ty, $get:ident) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                crate::budgeted(cx, |cx| self.$get().poll_read_priv(cx, buf))
            }
        }
    };
}

macro_rules! write_impl {
    ($ty:ty, $get:ident) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                crate::budgeted(cx, |cx| self.$get().poll_write_priv(cx, &[buf]))
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let bufs: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
                crate::budgeted(cx, |cx| self.$get().poll_write_priv(cx, &bufs))
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.$get().shutdown_priv())
            }
        }
    };
}

impl ReadHalf<'_> {
    fn stream(&self) -> &TcpStream {
        self.0
    }
}

impl WriteHalf<'_> {
    fn stream(&self) -> &TcpStream {
        self.0
    }
}

impl OwnedReadHalf {
    fn stream(&self) -> &TcpStream {
        &self.inner
    }
}

impl OwnedWriteHalf {
    fn stream(&self) -> &TcpStream {
        &self.inner
    }
}

/// tokio's readiness and `try_*` reads on a read half: the stream's (see
/// [`TcpStream::ready`]).
macro_rules! read_readiness {
    ($ty:ty) => {
        impl $ty {
            /// Waits until the stream is ready for any of `interest` (see
            /// [`TcpStream::ready`]).
            pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
                self.stream().ready(interest).await
            }

            /// Waits until the stream is readable (see [`TcpStream::readable`]).
            pub async fn readable(&self) -> io::Result<()> {
                self.stream().readable().await
            }

            /// Reads what is there without waiting (see [`TcpStream::try_read`]).
            pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.stream().try_read(buf)
            }

            /// Reads what is there into `bufs` without waiting (see
            /// [`TcpStream::try_read_vectored`]).
            pub fn try_read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
                self.stream().try_read_vectored(bufs)
            }

            /// Reads what is there into `buf`'s spare capacity without waiting (see
            /// [`TcpStream::try_read_buf`]).
            pub fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
                self.stream().try_read_buf(buf)
            }

            /// Polls for received bytes without consuming them (see
            /// [`TcpStream::poll_peek`]).
            pub fn poll_peek(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<usize>> {
                self.stream().poll_peek(cx, buf)
            }
        }
    };
}

/// tokio's readiness and `try_*` writes on a write half: the stream's (see
/// [`TcpStream::ready`]).
macro_rules! write_readiness {
    ($ty:ty) => {
        impl $ty {
            /// Waits until the stream is ready for any of `interest` (see
            /// [`TcpStream::ready`]).
            pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
                self.stream().ready(interest).await
            }

            /// Waits until the stream is writable (see [`TcpStream::writable`]).
            pub async fn writable(&self) -> io::Result<()> {
                self.stream().writable().await
            }

            /// Writes what fits without waiting (see [`TcpStream::try_write`]).
            pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                self.stream().try_write(buf)
            }

            /// Writes what fits of `bufs` without waiting (see
            /// [`TcpStream::try_write_vectored`]).
            pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                self.stream().try_write_vectored(bufs)
            }
        }
    };
}

read_readiness!(ReadHalf<'_>);
read_readiness!(OwnedReadHalf);
write_readiness!(WriteHalf<'_>);
write_readiness!(OwnedWriteHalf);
read_impl!(ReadHalf<'_>, stream);
read_impl!(OwnedReadHalf, stream);
write_impl!(WriteHalf<'_>, stream);
write_impl!(OwnedWriteHalf, stream);

impl AsRef<TcpStream> for ReadHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.0
    }
}

impl AsRef<TcpStream> for WriteHalf<'_> {
    fn as_ref(&self) -> &TcpStream {
        self.0
    }
}

impl AsRef<TcpStream> for OwnedReadHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.inner
    }
}

impl AsRef<TcpStream> for OwnedWriteHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.inner
    }
}

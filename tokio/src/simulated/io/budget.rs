//! tokio's always-ready readers and writers — [`empty`], [`repeat`], [`sink`] — on the
//! simulation's coop budget: each operation spends a unit (see
//! `detsim_runtime::coop`), and once the task's poll has spent its budget the operation
//! yields, so a loop over one of them lets the other tasks (and the clock) move, as on
//! tokio. (tokio's own versions spend tokio's budget, which nothing sets in a
//! simulation: such a loop would never yield.)

use std::fmt;
use std::io::{self, IoSlice, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// A unit of the task's budget, spent (`Pending` after a wake once it is spent).
fn spend(cx: &mut Context<'_>) -> Poll<()> {
    let unit = ready!(detsim_runtime::coop::poll_proceed(cx));
    unit.made_progress();
    Poll::Ready(())
}

/// A reader at its end and a writer that discards everything (tokio's `io::empty`).
pub fn empty() -> Empty {
    Empty { _private: () }
}

/// Reads `byte` forever (tokio's `io::repeat`).
pub fn repeat(byte: u8) -> Repeat {
    Repeat { byte }
}

/// A writer that discards everything (tokio's `io::sink`).
pub fn sink() -> Sink {
    Sink { _private: () }
}

/// See [`empty`].
pub struct Empty {
    _private: (),
}

/// See [`repeat`].
#[derive(Debug)]
pub struct Repeat {
    byte: u8,
}

/// See [`sink`].
pub struct Sink {
    _private: (),
}

impl fmt::Debug for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Empty { .. }")
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sink { .. }")
    }
}

impl AsyncRead for Empty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(spend(cx));
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for Empty {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(spend(cx));
        Poll::Ready(Ok(&[]))
    }

    fn consume(self: Pin<&mut Self>, _: usize) {}
}

impl AsyncSeek for Empty {
    fn start_seek(self: Pin<&mut Self>, _: SeekFrom) -> io::Result<()> {
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        ready!(spend(cx));
        Poll::Ready(Ok(0))
    }
}

impl AsyncRead for Repeat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(spend(cx));
        let byte = self.byte;
        buf.initialize_unfilled().fill(byte);
        let n = buf.remaining();
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The writer half shared by [`Empty`] and [`Sink`]: everything is accepted.
macro_rules! discarding_writer {
    ($type:ty) => {
        impl AsyncWrite for $type {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                ready!(spend(cx));
                Poll::Ready(Ok(buf.len()))
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                ready!(spend(cx));
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                ready!(spend(cx));
                Poll::Ready(Ok(()))
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                ready!(spend(cx));
                Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
            }
        }
    };
}

discarding_writer!(Empty);
discarding_writer!(Sink);

//! `tokio::io`: tokio's traits and utilities, which need no runtime (`AsyncRead`,
//! `AsyncWrite`, `AsyncBufRead`, the `*Ext` traits, `copy`, `split`, `duplex`,
//! `BufReader`, …). `stdin`, `stdout` and `stderr`, which tokio runs on its blocking
//! pool, are shadowed by versions that call `std::io` inline (a read from stdin blocks
//! the simulation's thread, and every task with it). In a runtime that was shut down,
//! a write gives tokio's shutdown error (`runtime::is_rt_shutdown_err`).
//! `empty`, `repeat` and `sink` are shadowed by versions that spend the simulation's
//! coop budget, as tokio's spend tokio's.

use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

pub use tokio::io::*;

mod budget;

pub use budget::{Empty, Repeat, Sink, empty, repeat, sink};

/// The process's standard input, read inline.
pub fn stdin() -> Stdin {
    Stdin { _private: () }
}

/// The process's standard output, written inline.
pub fn stdout() -> Stdout {
    Stdout { _private: () }
}

/// The process's standard error, written inline.
pub fn stderr() -> Stderr {
    Stderr { _private: () }
}

/// See [`stdin`].
#[derive(Debug)]
pub struct Stdin {
    _private: (),
}

/// See [`stdout`].
#[derive(Debug)]
pub struct Stdout {
    _private: (),
}

/// See [`stderr`].
#[derive(Debug)]
pub struct Stderr {
    _private: (),
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = std::io::stdin().read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

macro_rules! inline_writer {
    ($type:ty, $std:path) => {
        impl AsyncWrite for $type {
            fn poll_write(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                // tokio writes on its blocking pool, which a shut-down runtime refuses.
                if detsim_runtime::is_shut_down() {
                    return Poll::Ready(Err(detsim_runtime::shutdown_error()));
                }
                Poll::Ready($std().write(buf))
            }

            fn poll_flush(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Poll::Ready($std().flush())
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Poll::Ready($std().flush())
            }
        }
    };
}

inline_writer!(Stdout, std::io::stdout);
inline_writer!(Stderr, std::io::stderr);

//! tokio's `oneshot` channel, simulated: one value from a [`Sender`] to a [`Receiver`]
//! (a future), with tokio's types, methods and errors, and every wait noted for reports
//! (`waits in oneshot::Receiver (src/x.rs:40:9)`).
//!
//! Invariants: the value is taken at most once; the receiver completes with an error
//! once the sender is gone without sending, or it closed the channel before the value
//! came; wakers are woken after the state's lock is released.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::waiters;
use super::{assert_not_simulated, block_on};

/// The errors of [`oneshot`](self), as tokio's.
pub mod error {
    use std::fmt;

    /// The sender is gone without sending (the error of awaiting a [`Receiver`]).
    ///
    /// [`Receiver`]: super::Receiver
    #[derive(Debug, Eq, PartialEq, Clone)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    /// The error of [`Receiver::try_recv`](super::Receiver::try_recv).
    #[derive(Debug, Eq, PartialEq, Clone)]
    pub enum TryRecvError {
        /// No value was sent yet.
        Empty,
        /// The sender is gone without sending, or the value was already taken.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                TryRecvError::Empty => "channel empty",
                TryRecvError::Closed => "channel closed",
            })
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

/// Sends the channel's one value ([`channel`]).
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// Receives the channel's one value: await it (or [`Receiver::try_recv`]).
pub struct Receiver<T> {
    inner: Option<Arc<Inner<T>>>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    /// The sender is gone (after sending or not).
    tx_gone: bool,
    /// The receiver closed the channel or is gone.
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// A channel for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            value: None,
            tx_gone: false,
            rx_closed: false,
            rx_waker: None,
            tx_waker: None,
        }),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

impl<T> Inner<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock, so a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Sender<T> {
    /// Sends `value`; gives it back if the receiver closed the channel or is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("a sender sends once");
        let mut state = inner.state();
        if state.rx_closed {
            drop(state);
            return Err(value);
        }
        state.value = Some(value);
        state.tx_gone = true;
        let waker = state.rx_waker.take();
        drop(state);
        wake(waker);
        Ok(())
    }

    /// Completes once the receiver closed the channel or is gone.
    #[track_caller]
    pub fn closed(&mut self) -> impl Future<Output = ()> + '_ {
        let at = Location::caller();
        poll_fn(move |cx| self.poll_closed_at(cx, "oneshot::Sender::closed", at))
    }

    /// Whether the receiver closed the channel or is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.state().rx_closed)
    }

    /// Polls for the receiver closing the channel (the poll behind
    /// [`Sender::closed`]).
    #[track_caller]
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_closed_at(cx, "oneshot::Sender::poll_closed", Location::caller())
    }

    fn poll_closed_at(
        &mut self,
        cx: &mut Context<'_>,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Poll<()> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let inner = self
            .inner
            .as_ref()
            .expect("a sender is polled before it sends");
        let mut state = inner.state();
        if state.rx_closed {
            return Poll::Ready(());
        }
        let old = waiters::park_one(&mut state.tx_waker, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, op, at);
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.state();
            state.tx_gone = true;
            let waker = state.rx_waker.take();
            drop(state);
            wake(waker);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Closes the channel: a later [`Sender::send`] fails; a value sent before can
    /// still be received.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            let mut state = inner.state();
            state.rx_closed = true;
            let waker = state.tx_waker.take();
            drop(state);
            wake(waker);
        }
    }

    /// Whether the receiver already completed (gave its value or its error).
    pub fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }

    /// Whether no value is waiting to be received.
    pub fn is_empty(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.state().value.is_none())
    }

    /// The value if it was sent; `Empty` if not yet, `Closed` if it never will be
    /// (or was already taken).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let mut state = inner.state();
        let result = match state.value.take() {
            Some(value) => Ok(value),
            None if state.tx_gone || state.rx_closed => Err(TryRecvError::Closed),
            None => return Err(TryRecvError::Empty),
        };
        drop(state);
        self.inner = None;
        result
    }

    /// Waits for the value from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation, as tokio's does inside a runtime.
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        assert_not_simulated("oneshot::Receiver::blocking_recv", "receiver.await");
        block_on(self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let at = Location::caller();
        let this = &mut *self;
        let inner = this.inner.as_ref().expect("called after complete");
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let mut state = inner.state();
        let result = match state.value.take() {
            Some(value) => Ok(value),
            None if state.tx_gone || state.rx_closed => Err(RecvError(())),
            None => {
                let old = waiters::park_one(&mut state.rx_waker, cx.waker());
                drop(state);
                drop(old);
                waiters::note(cx, "oneshot::Receiver", at);
                return Poll::Pending;
            }
        };
        drop(state);
        this.inner = None;
        Poll::Ready(result)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.state();
            state.rx_closed = true;
            let value = state.value.take();
            let waker = state.tx_waker.take();
            drop(state);
            drop(value);
            wake(waker);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

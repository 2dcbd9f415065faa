//! The unbounded channel: [`UnboundedSender`], [`UnboundedReceiver`],
//! [`WeakUnboundedSender`].

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::chan::Chan;
use super::error::{SendError, TryRecvError};
use crate::sync::{assert_not_simulated, block_on};

/// The sending half of an unbounded channel ([`unbounded_channel`]); sending never
/// waits.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// An unbounded sender that does not keep the channel open.
pub struct WeakUnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of an unbounded channel ([`unbounded_channel`]).
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
}

/// A channel without a bound: sends never wait.
#[track_caller]
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None, Location::caller());
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { chan },
    )
}

impl<T> UnboundedSender<T> {
    /// Queues `message`; fails (giving it back) if the receiver closed the channel or
    /// is gone.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.chan.send_unbounded(message).map_err(SendError)
    }

    /// Completes once the receiver closed the channel or is gone.
    #[track_caller]
    pub fn closed(&self) -> impl Future<Output = ()> + use<T> {
        self.chan
            .closed("mpsc::UnboundedSender::closed", Location::caller())
    }

    /// Whether the receiver closed the channel or is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_rx_closed()
    }

    /// Whether both send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A [`WeakUnboundedSender`] of the same channel.
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        self.chan.add_weak();
        WeakUnboundedSender {
            chan: self.chan.clone(),
        }
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender")
            .field("chan", &self.chan)
            .finish()
    }
}

impl<T> WeakUnboundedSender<T> {
    /// An [`UnboundedSender`], if one still exists.
    pub fn upgrade(&self) -> Option<UnboundedSender<T>> {
        self.chan.upgrade().then(|| UnboundedSender {
            chan: self.chan.clone(),
        })
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_weak();
        WeakUnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for WeakUnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_weak();
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakUnboundedSender")
            .finish_non_exhaustive()
    }
}

impl<T> UnboundedReceiver<T> {
    /// The next message; `None` once the channel is closed and drained.
    /// Cancellation-safe: a message is taken only when the future completes.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        let at = Location::caller();
        poll_fn(move |cx| self.chan.poll_recv(cx, "mpsc::UnboundedReceiver::recv", at))
    }

    /// Up to `limit` messages into `buffer`; how many (0 once closed and drained, or
    /// if `limit` is 0).
    #[track_caller]
    pub fn recv_many<'a>(
        &'a mut self,
        buffer: &'a mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + 'a {
        let at = Location::caller();
        poll_fn(move |cx| {
            let op = "mpsc::UnboundedReceiver::recv_many";
            self.chan.poll_recv_many(cx, buffer, limit, op, at)
        })
    }

    /// The next message if one is queued now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation, as tokio's does inside a runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        assert_not_simulated("mpsc::UnboundedReceiver::blocking_recv", "recv().await");
        block_on(self.recv())
    }

    /// [`UnboundedReceiver::recv_many`] from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        assert_not_simulated(
            "mpsc::UnboundedReceiver::blocking_recv_many",
            "recv_many().await",
        );
        block_on(self.recv_many(buffer, limit))
    }

    /// Closes the channel: sends fail from now on; queued messages can still be
    /// received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Whether the channel is closed: by [`UnboundedReceiver::close`], or every sender
    /// is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Polls for the next message (the poll behind [`UnboundedReceiver::recv`]).
    #[track_caller]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let at = Location::caller();
        self.chan
            .poll_recv(cx, "mpsc::UnboundedReceiver::poll_recv", at)
    }

    /// Polls for up to `limit` messages.
    #[track_caller]
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let at = Location::caller();
        let op = "mpsc::UnboundedReceiver::poll_recv_many";
        self.chan.poll_recv_many(cx, buffer, limit, op, at)
    }

    /// How many senders there are.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn sender_weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.drop_rx();
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver")
            .field("chan", &self.chan)
            .finish()
    }
}

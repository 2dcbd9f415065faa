//! The state both `mpsc` flavours share: the queue of messages, the counts of senders,
//! the receiver's waker, and, for a bounded channel, its capacity as a fair semaphore
//! (`batch.rs`) whose holders are the permits reserved and not yet used.
//!
//! Invariants:
//! - a bounded channel's capacity is `bound` = free permits + permits held (reserved,
//!   not yet sent) + messages queued; a permit used to send leaves the semaphore's
//!   holders without going back, and goes back when the receiver takes the message;
//! - the receiver sees `None` only once the queue is empty and no message can come any
//!   more: every sender is gone, or the receiver closed the channel and no permit is
//!   held or awaited;
//! - wakers are woken after the state's lock is released.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::TryRecvError;
use crate::sync::Kind;
use crate::sync::batch::Batch;
use crate::sync::waiters::{self, WaitList};

/// One channel, shared by its senders and its receiver.
pub(super) struct Chan<T> {
    state: Mutex<State<T>>,
    /// The capacity of a bounded channel (`None`: unbounded).
    capacity: Option<Batch>,
    bound: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    weak: usize,
    /// The receiver closed the channel (or was dropped).
    rx_closed: bool,
    /// The receiver was dropped: a message sent with a permit now is dropped.
    rx_dropped: bool,
    rx_waker: Option<Waker>,
    /// `Sender::closed` futures.
    closed_waiters: WaitList,
}

impl<T> Chan<T> {
    /// A channel with one sender; `bound` is its capacity (`None`: unbounded).
    pub(super) fn new(bound: Option<usize>, created_at: &'static Location<'static>) -> Arc<Self> {
        Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                senders: 1,
                weak: 0,
                rx_closed: false,
                rx_dropped: false,
                rx_waker: None,
                closed_waiters: WaitList::new(),
            }),
            capacity: bound.map(|n| Batch::new(n, Kind::Channel, created_at)),
            bound: bound.unwrap_or(usize::MAX),
        })
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock, so a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The capacity semaphore of a bounded channel.
    pub(super) fn capacity(&self) -> &Batch {
        self.capacity
            .as_ref()
            .expect("only a bounded channel has a capacity")
    }

    pub(super) fn bound(&self) -> usize {
        self.bound
    }

    // ----- senders -----

    /// Queues `value` sent with the permits of holder `key` (one of them is used).
    pub(super) fn send_with_permit(&self, key: u64, value: T) {
        self.capacity().forget(key, 1);
        let mut state = self.state();
        if state.rx_dropped {
            drop(state);
            // Nobody will take it: its capacity goes back at once.
            self.capacity().add_permits(1);
            drop(value);
            return;
        }
        state.queue.push_back(value);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Queues `value` on an unbounded channel, unless the receiver closed it.
    pub(super) fn send_unbounded(&self, value: T) -> Result<(), T> {
        let mut state = self.state();
        if state.rx_closed {
            return Err(value);
        }
        state.queue.push_back(value);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Gives back `n` permits of holder `key` unused.
    pub(super) fn release(&self, key: u64, n: usize) {
        self.capacity().release(key, n);
        self.wake_rx_if_closed();
    }

    /// After a permit or a reserve went away: a closed channel with no permit held or
    /// awaited any more is finished for the receiver.
    pub(super) fn wake_rx_if_closed(&self) {
        let mut state = self.state();
        let waker = match state.rx_closed && self.capacity().is_idle() {
            true => state.rx_waker.take(),
            false => None,
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn add_sender(&self) {
        self.state().senders += 1;
    }

    /// One sender fewer; the last one wakes the receiver (the channel is finished once
    /// drained).
    pub(super) fn drop_sender(&self) {
        let mut state = self.state();
        state.senders -= 1;
        let waker = match state.senders {
            0 => state.rx_waker.take(),
            _ => None,
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn add_weak(&self) {
        self.state().weak += 1;
    }

    pub(super) fn drop_weak(&self) {
        self.state().weak -= 1;
    }

    /// A new sender, unless none is left.
    pub(super) fn upgrade(&self) -> bool {
        let mut state = self.state();
        if state.senders == 0 {
            return false;
        }
        state.senders += 1;
        true
    }

    pub(super) fn strong_count(&self) -> usize {
        self.state().senders
    }

    pub(super) fn weak_count(&self) -> usize {
        self.state().weak
    }

    /// Whether the receiver closed the channel or is gone (the senders' view).
    pub(super) fn is_rx_closed(&self) -> bool {
        self.state().rx_closed
    }

    /// Completes once the receiver closed the channel or is gone.
    pub(super) fn closed(
        self: &Arc<Self>,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Closed<T> {
        Closed {
            chan: self.clone(),
            key: None,
            op,
            at,
        }
    }

    // ----- the receiver -----

    /// Whether no message can come any more (with the state's lock held).
    fn finished(&self, state: &State<T>) -> bool {
        state.senders == 0 || (state.rx_closed && self.capacity.as_ref().is_none_or(Batch::is_idle))
    }

    /// Closes the channel from the receiver's side: later sends fail, waiting `reserve`s
    /// fail, permits held stay valid, queued messages can still be received.
    pub(super) fn close(&self) {
        let wakers = {
            let mut state = self.state();
            if state.rx_closed {
                return;
            }
            state.rx_closed = true;
            state.closed_waiters.take_all()
        };
        if let Some(capacity) = &self.capacity {
            capacity.close();
        }
        waiters::wake(wakers);
    }

    /// The receiver is dropped: closes the channel and drops the queued messages.
    pub(super) fn drop_rx(&self) {
        self.close();
        let (queue, waker) = {
            let mut state = self.state();
            state.rx_dropped = true;
            (std::mem::take(&mut state.queue), state.rx_waker.take())
        };
        drop(waker);
        if let Some(capacity) = &self.capacity {
            capacity.add_permits(queue.len());
        }
        drop(queue);
    }

    /// The receiver's view of closing: closed by it, or every sender gone.
    pub(super) fn is_closed(&self) -> bool {
        let state = self.state();
        state.rx_closed || state.senders == 0
    }

    pub(super) fn len(&self) -> usize {
        self.state().queue.len()
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.state();
        match state.queue.pop_front() {
            Some(value) => {
                drop(state);
                self.took(1);
                Ok(value)
            }
            None if self.finished(&state) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// `n` messages left the queue: their capacity goes back.
    fn took(&self, n: usize) {
        if let Some(capacity) = &self.capacity
            && n > 0
        {
            capacity.add_permits(n);
        }
    }

    pub(super) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Poll<Option<T>> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let mut state = self.state();
        if let Some(value) = state.queue.pop_front() {
            drop(state);
            self.took(1);
            return Poll::Ready(Some(value));
        }
        if self.finished(&state) {
            return Poll::Ready(None);
        }
        let old = waiters::park_one(&mut state.rx_waker, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, op, at);
        Poll::Pending
    }

    pub(super) fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Poll<usize> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        if limit == 0 {
            return Poll::Ready(0);
        }
        let mut state = self.state();
        if !state.queue.is_empty() {
            let n = limit.min(state.queue.len());
            buffer.extend(state.queue.drain(..n));
            drop(state);
            self.took(n);
            return Poll::Ready(n);
        }
        if self.finished(&state) {
            return Poll::Ready(0);
        }
        let old = waiters::park_one(&mut state.rx_waker, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, op, at);
        Poll::Pending
    }
}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Chan")
            .field("queued", &state.queue.len())
            .field("senders", &state.senders)
            .field("rx_closed", &state.rx_closed)
            .finish_non_exhaustive()
    }
}

/// The future of `Sender::closed` (both flavours).
pub(super) struct Closed<T> {
    chan: Arc<Chan<T>>,
    key: Option<u64>,
    op: &'static str,
    at: &'static Location<'static>,
}

impl<T> Future for Closed<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut state = this.chan.state();
        if state.rx_closed {
            return Poll::Ready(());
        }
        let old = state.closed_waiters.park(&mut this.key, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, this.op, this.at);
        Poll::Pending
    }
}

impl<T> Drop for Closed<T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let waker = self.chan.state().closed_waiters.remove(self.key);
            drop(waker);
        }
    }
}

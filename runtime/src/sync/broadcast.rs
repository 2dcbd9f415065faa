//! tokio's `broadcast` channel, simulated: every value sent reaches every receiver that
//! existed when it was sent; a receiver that falls more than the capacity behind sees
//! [`RecvError::Lagged`] and resumes at the oldest value kept.
//! tokio's types, methods and errors; every wait noted for reports
//! (`waits in broadcast::Receiver::recv (src/x.rs:40:9)`).
//!
//! Invariants:
//! - the ring holds `capacity.next_power_of_two()` slots; slot `pos % len` holds the
//!   value sent at position `pos`, with the count of receivers that have yet to see it
//!   (the value is dropped when that count reaches 0, or when the slot is reused);
//! - waiting receivers are woken in the order they first waited (tokio's order);
//! - wakers are woken after the state's lock is released.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use super::waiters::{self, WaitList};
use super::{assert_not_simulated, block_on};

/// The errors of [`broadcast`](self), as tokio's.
pub mod error {
    use std::fmt;

    /// A send failed because there is no receiver; the value is given back.
    #[derive(Debug)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl<T: fmt::Debug> std::error::Error for SendError<T> {}

    /// The error of [`Receiver::recv`](super::Receiver::recv).
    #[derive(Debug, PartialEq, Eq, Clone)]
    pub enum RecvError {
        /// Every sender is gone and this receiver saw every value.
        Closed,
        /// The receiver fell behind: this many values were overwritten before it saw
        /// them; the next `recv` gives the oldest value kept.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str("channel closed"),
                RecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl std::error::Error for RecvError {}

    /// The error of [`Receiver::try_recv`](super::Receiver::try_recv).
    #[derive(Debug, PartialEq, Eq, Clone)]
    pub enum TryRecvError {
        /// No value this receiver has not seen yet.
        Empty,
        /// Every sender is gone and this receiver saw every value.
        Closed,
        /// The receiver fell behind by this many values (see [`RecvError::Lagged`]).
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
                TryRecvError::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, SendError, TryRecvError};

/// Sends to every [`Receiver`]; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A sender that does not keep the channel open.
pub struct WeakSender<T> {
    shared: Arc<Shared<T>>,
}

/// Receives every value sent after it subscribed.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position of the next value this receiver will see.
    next: u64,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    slots: Vec<Slot<T>>,
    /// The position of the next value sent.
    tail: u64,
    receivers: usize,
    senders: usize,
    weak: usize,
    /// Every sender is gone, or every receiver.
    closed: bool,
    /// Receivers waiting for a value.
    waiters: WaitList,
    /// `Sender::closed` futures.
    closed_waiters: WaitList,
}

struct Slot<T> {
    pos: u64,
    /// Receivers that have yet to see the value.
    rem: usize,
    value: Option<T>,
}

/// A broadcast channel keeping the last `capacity` values (rounded up to a power of
/// two) for its receivers.
///
/// # Panics
/// If `capacity` is 0 or exceeds `usize::MAX / 2`.
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Shared::new(capacity, 1);
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

impl<T> Shared<T> {
    #[track_caller]
    fn new(capacity: usize, receivers: usize) -> Arc<Self> {
        assert!(capacity > 0, "broadcast channel capacity cannot be zero");
        assert!(
            capacity <= usize::MAX >> 1,
            "broadcast channel capacity exceeded `usize::MAX / 2`"
        );
        let len = capacity.next_power_of_two();
        let slots = (0..len)
            .map(|i| Slot {
                pos: (i as u64).wrapping_sub(len as u64),
                rem: 0,
                value: None,
            })
            .collect();
        Arc::new(Shared {
            state: Mutex::new(State {
                slots,
                tail: 0,
                receivers,
                senders: 1,
                weak: 0,
                closed: receivers == 0,
                waiters: WaitList::new(),
                closed_waiters: WaitList::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // Only `T::clone` runs under this lock; a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_receiver(self: &Arc<Self>) -> Receiver<T> {
        let mut state = self.state();
        if state.receivers == 0 {
            state.closed = false;
        }
        state.receivers += 1;
        let next = state.tail;
        drop(state);
        Receiver {
            shared: self.clone(),
            next,
        }
    }
}

impl<T> State<T> {
    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    fn slot(&mut self, pos: u64) -> &mut Slot<T> {
        let i = (pos & (self.len() - 1)) as usize;
        &mut self.slots[i]
    }

    /// The value at `*next` for a receiver, cloned, and `*next` advanced; or why not.
    fn read(&mut self, next: &mut u64) -> Result<Option<T>, TryRecvError>
    where
        T: Clone,
    {
        let len = self.len();
        let (tail, closed) = (self.tail, self.closed);
        let slot = self.slot(*next);
        if slot.pos == *next {
            *next += 1;
            slot.rem -= 1;
            let value = slot.value.clone();
            if slot.rem == 0 {
                // Every receiver has its clone: the kept value goes (as in tokio).
                slot.value = None;
            }
            return Ok(value);
        }
        if slot.pos.wrapping_add(len) == *next {
            return Err(match closed {
                true => TryRecvError::Closed,
                false => TryRecvError::Empty,
            });
        }
        // Overwritten before this receiver saw it: resume at the oldest value kept.
        let oldest = tail.wrapping_sub(len);
        let missed = oldest.wrapping_sub(*next);
        *next = oldest;
        Err(TryRecvError::Lagged(missed))
    }

    /// Values not yet seen by every receiver.
    fn unseen(&self) -> usize {
        self.slots.iter().filter(|s| s.rem > 0).count()
    }
}

impl<T> Sender<T> {
    /// A sender with no receiver yet ([`Sender::subscribe`] makes them).
    ///
    /// # Panics
    /// As [`channel`].
    #[track_caller]
    pub fn new(capacity: usize) -> Self {
        Sender {
            shared: Shared::new(capacity, 0),
        }
    }

    /// Sends `value` to every receiver; how many there are. Fails (giving the value
    /// back) if there is none. Overwrites the oldest value kept if the ring is full.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let (old, wakers, receivers) = {
            let mut state = self.shared.state();
            if state.receivers == 0 {
                return Err(SendError(value));
            }
            let (pos, receivers) = (state.tail, state.receivers);
            state.tail += 1;
            let slot = state.slot(pos);
            slot.pos = pos;
            slot.rem = receivers;
            let old = slot.value.replace(value);
            (old, state.waiters.take_all(), receivers)
        };
        drop(old);
        waiters::wake(wakers);
        Ok(receivers)
    }

    /// A new receiver, which sees the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.new_receiver()
    }

    /// A [`WeakSender`] of the same channel.
    pub fn downgrade(&self) -> WeakSender<T> {
        self.shared.state().weak += 1;
        WeakSender {
            shared: self.shared.clone(),
        }
    }

    /// Values kept that some receiver has not seen yet.
    pub fn len(&self) -> usize {
        self.shared.state().unseen()
    }

    /// Whether every receiver has seen every value kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many receivers there are.
    pub fn receiver_count(&self) -> usize {
        self.shared.state().receivers
    }

    /// Whether both send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Completes once every receiver is gone.
    #[track_caller]
    pub fn closed(&self) -> impl Future<Output = ()> + '_ {
        Closed {
            shared: &self.shared,
            key: None,
            at: Location::caller(),
        }
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.shared.state().senders
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.shared.state().weak
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.shared.state();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.closed = true;
            state.waiters.take_all()
        };
        waiters::wake(wakers);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broadcast::Sender")
    }
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if one still exists.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        let mut state = self.shared.state();
        if state.senders == 0 {
            return None;
        }
        state.senders += 1;
        Some(Sender {
            shared: self.shared.clone(),
        })
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.shared.state().senders
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.shared.state().weak
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        self.shared.state().weak += 1;
        WeakSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for WeakSender<T> {
    fn drop(&mut self) {
        self.shared.state().weak -= 1;
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broadcast::WeakSender")
    }
}

impl<T> Receiver<T> {
    /// Values sent that this receiver has not seen yet.
    pub fn len(&self) -> usize {
        (self.shared.state().tail - self.next) as usize
    }

    /// Whether this receiver has seen every value sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether both receive from the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// How many senders there are.
    pub fn sender_strong_count(&self) -> usize {
        self.shared.state().senders
    }

    /// How many weak senders there are.
    pub fn sender_weak_count(&self) -> usize {
        self.shared.state().weak
    }

    /// Whether every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.state().senders == 0
    }
}

impl<T: Clone> Receiver<T> {
    /// A new receiver of the same channel, which sees the values sent from now on.
    pub fn resubscribe(&self) -> Self {
        self.shared.new_receiver()
    }

    /// The next value this receiver has not seen; `Lagged(n)` if it fell more than the
    /// capacity behind, `Closed` once every sender is gone and it saw every value.
    /// Cancellation-safe.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Result<T, RecvError>> + '_ {
        Recv {
            receiver: self,
            key: None,
            at: Location::caller(),
        }
    }

    /// The next value if there is one now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.state();
        let value = state.read(&mut self.next)?;
        Ok(value.expect("a slot not yet seen by every receiver holds its value"))
    }

    /// Receives from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation, as tokio's does inside a runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        assert_not_simulated("broadcast::Receiver::blocking_recv", "recv().await");
        block_on(self.recv())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (dropped, wakers) = {
            let mut state = self.shared.state();
            state.receivers -= 1;
            let wakers = match state.receivers {
                0 => {
                    state.closed = true;
                    state.closed_waiters.take_all()
                }
                _ => Vec::new(),
            };
            // The values it did not see: it no longer counts among their readers.
            let len = state.len();
            let from = self.next.max(state.tail.saturating_sub(len));
            let mut dropped = Vec::new();
            for pos in from..state.tail {
                let slot = state.slot(pos);
                if slot.pos == pos && slot.rem > 0 {
                    slot.rem -= 1;
                    if slot.rem == 0 {
                        dropped.extend(slot.value.take());
                    }
                }
            }
            (dropped, wakers)
        };
        drop(dropped);
        waiters::wake(wakers);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broadcast::Receiver")
    }
}

/// The future of [`Receiver::recv`].
struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    key: Option<u64>,
    at: &'static Location<'static>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let shared = this.receiver.shared.clone();
        let mut state = shared.state();
        let result = match state.read(&mut this.receiver.next) {
            Ok(value) => Ok(value.expect("a slot not yet seen by every receiver holds its value")),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Empty) => {
                let old = state.waiters.park(&mut this.key, cx.waker());
                drop(state);
                drop(old);
                waiters::note(cx, "broadcast::Receiver::recv", this.at);
                return Poll::Pending;
            }
        };
        let old = state.waiters.remove(this.key.take());
        drop(state);
        drop(old);
        Poll::Ready(result)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let waker = self.receiver.shared.state().waiters.remove(self.key);
            drop(waker);
        }
    }
}

/// The future of [`Sender::closed`].
struct Closed<'a, T> {
    shared: &'a Arc<Shared<T>>,
    key: Option<u64>,
    at: &'static Location<'static>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut state = this.shared.state();
        if state.closed {
            let old = state.closed_waiters.remove(this.key.take());
            drop(state);
            drop(old);
            return Poll::Ready(());
        }
        let old = state.closed_waiters.park(&mut this.key, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, "broadcast::Sender::closed", this.at);
        Poll::Pending
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let waker = self.shared.state().closed_waiters.remove(self.key);
            drop(waker);
        }
    }
}

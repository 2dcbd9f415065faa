//! tokio's `watch` channel, simulated: one value, many receivers, each of which knows
//! whether it has seen the latest version. tokio's types, methods and errors; every
//! wait noted for reports (`waits in watch::Receiver::changed (src/x.rs:40:9)`).
//!
//! Invariants:
//! - the version counts the changes of the value (`send*` that modified it); a
//!   receiver has seen the version it holds; a new receiver has seen the current one;
//! - the value sits in a `std` `RwLock` read through [`Ref`]: a sender that would have
//!   to wait for a `Ref` kept on the simulation's thread (a `borrow()` held across an
//!   `.await`) panics saying so, instead of blocking the thread for good;
//! - waiting receivers are woken in the order they first waited; wakers are woken
//!   after the state's lock is released.

use std::fmt;
use std::future::Future;
use std::ops;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};
use std::task::{Context, Poll};

use super::waiters::{self, WaitList};
use crate::context;

/// The errors of [`watch`](self), as tokio's.
pub mod error {
    use std::fmt;

    /// A send failed because there is no receiver; the value is given back.
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// Every sender is gone (the error of `changed`, `wait_for`, `has_changed`).
    #[derive(Debug, Clone)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

/// Sets the value; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Watches the value; clone it for more receivers (a clone has seen what its original
/// has seen).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    version: u64,
}

/// A borrow of the value ([`Receiver::borrow`], [`Sender::borrow`]). Keep it short:
/// senders wait until it is dropped.
pub struct Ref<'a, T> {
    inner: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

struct Shared<T> {
    value: RwLock<T>,
    state: Mutex<State>,
}

struct State {
    version: u64,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for a change.
    waiters: WaitList,
    /// `Sender::closed` futures.
    closed_waiters: WaitList,
}

/// A watch channel holding `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        state: Mutex::new(State {
            version: 0,
            senders: 1,
            receivers: 1,
            waiters: WaitList::new(),
            closed_waiters: WaitList::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, version: 0 },
    )
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock, so a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, T> {
        match self.value.try_write() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                assert!(
                    !context::in_simulation(),
                    "a watch channel's value was set while a `watch::Ref` of it is held \
                     (a `borrow()` kept across an `.await`?): tokio would block this \
                     thread until the `Ref` is dropped, which inside a detsim simulation \
                     never happens; drop the `Ref` before awaiting"
                );
                self.value.write().unwrap_or_else(PoisonError::into_inner)
            }
        }
    }

    fn borrow(&self, seen: u64) -> Ref<'_, T> {
        let inner = self.read();
        let version = self.state().version;
        Ref {
            inner,
            has_changed: version != seen,
        }
    }
}

impl<T> Sender<T> {
    /// A sender with no receiver yet ([`Sender::subscribe`] makes them).
    pub fn new(init: T) -> Self {
        channel(init).0
    }

    /// Sets the value and notifies the receivers; fails (giving the value back) if
    /// there is none.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Changes the value in place and notifies the receivers (even if there is none).
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Changes the value in place; notifies the receivers only if `modify` says it
    /// modified it (its result, returned).
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        let wakers = {
            let mut value = self.shared.write();
            if !modify(&mut value) {
                return false;
            }
            let mut state = self.shared.state();
            state.version += 1;
            drop(value);
            state.waiters.take_all()
        };
        waiters::wake(wakers);
        true
    }

    /// Sets the value, notifies the receivers (even if there is none), and gives back
    /// the old value.
    pub fn send_replace(&self, mut value: T) -> T {
        self.send_modify(|old| std::mem::swap(old, &mut value));
        value
    }

    /// A borrow of the value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.read(),
            has_changed: false,
        }
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
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

    /// A new receiver, which has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut state = self.shared.state();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            version: state.version,
        }
    }

    /// How many receivers there are.
    pub fn receiver_count(&self) -> usize {
        self.shared.state().receivers
    }

    /// How many senders there are.
    pub fn sender_count(&self) -> usize {
        self.shared.state().senders
    }

    /// Whether both send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
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
            match state.senders {
                0 => state.waiters.take_all(),
                _ => Vec::new(),
            }
        };
        waiters::wake(wakers);
    }
}

impl<T: Default> Default for Sender<T> {
    fn default() -> Self {
        Sender::new(T::default())
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// A borrow of the value, without marking it seen ([`Ref::has_changed`] says
    /// whether this receiver had seen it).
    pub fn borrow(&self) -> Ref<'_, T> {
        self.shared.borrow(self.version)
    }

    /// A borrow of the value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let inner = self.shared.read();
        let version = self.shared.state().version;
        let has_changed = version != self.version;
        self.version = version;
        Ref { inner, has_changed }
    }

    /// Whether the value changed since this receiver saw it; an error once every
    /// sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state();
        if state.senders == 0 {
            return Err(RecvError(()));
        }
        Ok(state.version != self.version)
    }

    /// Whether every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.state().senders == 0
    }

    /// Marks the value unseen: the next [`Receiver::changed`] completes at once.
    pub fn mark_changed(&mut self) {
        self.version = self.version.wrapping_sub(1);
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.state().version;
    }

    /// Waits until the value changes after the version this receiver saw, and marks it
    /// seen; an error once every sender is gone (and the value did not change).
    /// Cancellation-safe.
    #[track_caller]
    pub fn changed(&mut self) -> impl Future<Output = Result<(), RecvError>> + '_ {
        Changed {
            shared: &self.shared,
            version: &mut self.version,
            key: None,
            op: "watch::Receiver::changed",
            at: Location::caller(),
        }
    }

    /// Waits until `f` holds for the value (checked on the current value first, then on
    /// each change), marks it seen and borrows it; an error once every sender is gone
    /// with `f` never holding.
    #[track_caller]
    pub fn wait_for<'a, F: FnMut(&T) -> bool + 'a>(
        &'a mut self,
        mut f: F,
    ) -> impl Future<Output = Result<Ref<'a, T>, RecvError>> + 'a {
        let at = Location::caller();
        async move {
            waiters::proceed().await;
            let mut closed = false;
            loop {
                {
                    let inner = self.shared.read();
                    let version = self.shared.state().version;
                    let has_changed = version != self.version;
                    self.version = version;
                    if (!closed || has_changed) && f(&inner) {
                        return Ok(Ref { inner, has_changed });
                    }
                }
                if closed {
                    return Err(RecvError(()));
                }
                closed = Changed {
                    shared: &self.shared,
                    version: &mut self.version,
                    key: None,
                    op: "watch::Receiver::wait_for",
                    at,
                }
                .await
                .is_err();
            }
        }
    }

    /// Whether both watch the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.state().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            version: self.version,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.shared.state();
            state.receivers -= 1;
            match state.receivers {
                0 => state.closed_waiters.take_all(),
                _ => Vec::new(),
            }
        };
        waiters::wake(wakers);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<T> Ref<'_, T> {
    /// Whether the receiver had not seen this value when it borrowed it.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> ops::Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ref")
            .field("value", &*self.inner)
            .field("has_changed", &self.has_changed)
            .finish()
    }
}

/// Waits for a version other than `*version` (the future of `changed`).
struct Changed<'a, T> {
    shared: &'a Shared<T>,
    version: &'a mut u64,
    key: Option<u64>,
    op: &'static str,
    at: &'static Location<'static>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut state = this.shared.state();
        let result = if state.version != *this.version {
            *this.version = state.version;
            Ok(())
        } else if state.senders == 0 {
            Err(RecvError(()))
        } else {
            let old = state.waiters.park(&mut this.key, cx.waker());
            drop(state);
            drop(old);
            waiters::note(cx, this.op, this.at);
            return Poll::Pending;
        };
        let old = state.waiters.remove(this.key.take());
        drop(state);
        drop(old);
        Poll::Ready(result)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let waker = self.shared.state().waiters.remove(self.key);
            drop(waker);
        }
    }
}

/// The future of [`Sender::closed`].
struct Closed<'a, T> {
    shared: &'a Shared<T>,
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
        if state.receivers == 0 {
            let old = state.closed_waiters.remove(this.key.take());
            drop(state);
            drop(old);
            return Poll::Ready(());
        }
        let old = state.closed_waiters.park(&mut this.key, cx.waker());
        drop(state);
        drop(old);
        waiters::note(cx, "watch::Sender::closed", this.at);
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

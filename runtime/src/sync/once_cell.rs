//! tokio's [`OnceCell`] and [`SetOnce`], simulated: a value set once, that tasks can
//! wait for, with every wait noted for reports (`waits in OnceCell::get_or_init
//! (src/x.rs:40:9)`).
//!
//! Invariants:
//! - at most one `get_or_init`/`get_or_try_init` runs its initializer at a time; if it
//!   fails or is cancelled, the right to initialize passes to the first waiter in
//!   arrival order (tokio hands it out through a fair semaphore);
//! - the value, once set, never changes until `take`/`into_inner` (which need `&mut`);
//! - wakers are woken after the state's lock is released.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use super::waiters::{self, WaitList};

/// A value set at most once, by [`OnceCell::set`] or by the first
/// [`OnceCell::get_or_init`] whose initializer completes.
pub struct OnceCell<T> {
    /// A value given at construction (`const_new_with`, which cannot fill a `OnceLock`).
    preset: Option<T>,
    value: OnceLock<T>,
    init: Mutex<Init>,
}

struct Init {
    /// An initializer runs (or was handed the right to and has not polled yet).
    initializing: bool,
    next_key: u64,
    /// Tasks waiting to initialize, in arrival order.
    waiters: VecDeque<(u64, Option<Waker>)>,
    /// The waiter the right to initialize was handed to.
    granted: Option<u64>,
}

/// The error of [`OnceCell::set`]; the value is given back.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// An initializer is running.
    InitializingError(T),
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => f.write_str("AlreadyInitializedError"),
            SetError::InitializingError(_) => f.write_str("InitializingError"),
        }
    }
}

impl<T: fmt::Debug> Error for SetError<T> {}

impl<T> SetError<T> {
    /// Whether the cell already held a value.
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitializedError(_))
    }

    /// Whether an initializer was running.
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::InitializingError(_))
    }
}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceCell::with_preset(None)
    }

    /// An empty cell, usable in a `static`.
    pub const fn const_new() -> Self {
        OnceCell::new()
    }

    /// A cell holding `value`, if it is `Some`.
    pub fn new_with(value: Option<T>) -> Self {
        OnceCell::with_preset(value)
    }

    /// A cell holding `value`, usable in a `static`.
    pub const fn const_new_with(value: T) -> Self {
        OnceCell::with_preset(Some(value))
    }

    const fn with_preset(preset: Option<T>) -> Self {
        OnceCell {
            preset,
            value: OnceLock::new(),
            init: Mutex::new(Init {
                initializing: false,
                next_key: 0,
                waiters: VecDeque::new(),
                granted: None,
            }),
        }
    }

    fn init(&self) -> MutexGuard<'_, Init> {
        // No user code runs under this lock, so a poisoned one is still consistent.
        self.init.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the cell holds a value.
    pub fn initialized(&self) -> bool {
        self.get().is_some()
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.preset.as_ref().or_else(|| self.value.get())
    }

    /// The value, mutably, if set.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match &mut self.preset {
            Some(value) => Some(value),
            None => self.value.get_mut(),
        }
    }

    /// Sets the value, unless it is set or an initializer runs.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        let init = self.init();
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        if init.initializing {
            return Err(SetError::InitializingError(value));
        }
        let _ = self.value.set(value);
        Ok(())
    }

    /// The value; if it is not set, runs `f` to set it (one initializer at a time:
    /// the others wait, and take over in arrival order if it is cancelled or panics).
    #[track_caller]
    pub fn get_or_init<F, Fut>(&self, f: F) -> impl Future<Output = &T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let at = Location::caller();
        async move {
            if let Some(value) = self.get() {
                return value;
            }
            match self.acquire("OnceCell::get_or_init", at).await {
                None => self.get().expect("set by another initializer"),
                Some(permit) => permit.set(f().await),
            }
        }
    }

    /// The value; if it is not set, runs `f` to set it, unless `f` fails (the next
    /// waiter then tries).
    #[track_caller]
    pub fn get_or_try_init<E, F, Fut>(&self, f: F) -> impl Future<Output = Result<&T, E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let at = Location::caller();
        async move {
            if let Some(value) = self.get() {
                return Ok(value);
            }
            match self.acquire("OnceCell::get_or_try_init", at).await {
                None => Ok(self.get().expect("set by another initializer")),
                Some(permit) => Ok(permit.set(f().await?)),
            }
        }
    }

    /// The value, if set, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.preset.take().or_else(|| self.value.take())
    }

    /// Waits for the right to initialize; `None` if the value was set meanwhile.
    fn acquire(&self, op: &'static str, at: &'static Location<'static>) -> Acquire<'_, T> {
        Acquire {
            cell: self,
            key: None,
            op,
            at,
            done: false,
        }
    }

    /// The right to initialize goes to the first waiter, or to nobody.
    fn hand_off(&self) {
        let waker = {
            let mut init = self.init();
            match init.waiters.pop_front() {
                Some((key, waker)) => {
                    init.granted = Some(key);
                    waker
                }
                None => {
                    init.initializing = false;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Init {
    /// Takes the waiter under `key` out of the queue; its waker, to drop once the lock
    /// is released.
    fn unpark(&mut self, key: Option<u64>) -> Option<Waker> {
        let key = key?;
        let i = self.waiters.iter().position(|(k, _)| *k == key)?;
        self.waiters.remove(i).and_then(|(_, waker)| waker)
    }
}

/// Waits for the right to initialize.
struct Acquire<'a, T> {
    cell: &'a OnceCell<T>,
    key: Option<u64>,
    op: &'static str,
    at: &'static Location<'static>,
    done: bool,
}

impl<'a, T> Future for Acquire<'a, T> {
    type Output = Option<InitPermit<'a, T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let cell = this.cell;
        let mut init = cell.init();
        if cell.initialized() {
            let old = init.unpark(this.key.take());
            drop(init);
            drop(old);
            this.done = true;
            return Poll::Ready(None);
        }
        let mine = this.key.is_some() && init.granted == this.key;
        if mine || !init.initializing {
            init.granted = None;
            init.initializing = true;
            this.done = true;
            return Poll::Ready(Some(InitPermit { cell, live: true }));
        }
        let old = match this.key {
            Some(key) => init
                .waiters
                .iter_mut()
                .find(|(k, _)| *k == key)
                .and_then(|(_, slot)| waiters::park_one(slot, cx.waker())),
            None => {
                let key = init.next_key;
                init.next_key += 1;
                init.waiters.push_back((key, Some(cx.waker().clone())));
                this.key = Some(key);
                None
            }
        };
        drop(init);
        drop(old);
        waiters::note(cx, this.op, this.at);
        Poll::Pending
    }
}

impl<T> Drop for Acquire<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(key) = self.key else { return };
        let (granted, old) = {
            let mut init = self.cell.init();
            let old = init.unpark(Some(key));
            let granted = init.granted == Some(key);
            if granted {
                init.granted = None;
            }
            (granted, old)
        };
        drop(old);
        if granted {
            self.cell.hand_off();
        }
    }
}

/// The right to initialize; dropped unused (a cancelled or failed initializer), it
/// passes on.
struct InitPermit<'a, T> {
    cell: &'a OnceCell<T>,
    live: bool,
}

impl<'a, T> InitPermit<'a, T> {
    fn set(mut self, value: T) -> &'a T {
        let cell = self.cell;
        self.live = false;
        let _ = cell.value.set(value);
        let wakers: Vec<Waker> = {
            let mut init = cell.init();
            init.initializing = false;
            init.granted = None;
            init.waiters.drain(..).filter_map(|(_, w)| w).collect()
        };
        waiters::wake(wakers);
        cell.get().expect("just set")
    }
}

impl<T> Drop for InitPermit<'_, T> {
    fn drop(&mut self) {
        if self.live {
            self.cell.hand_off();
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T: PartialEq> PartialEq for OnceCell<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceCell<T> {}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> Self {
        OnceCell::new_with(Some(value))
    }
}

/// A value set at most once, by [`SetOnce::set`], that tasks can wait for
/// ([`SetOnce::wait`]).
pub struct SetOnce<T> {
    preset: Option<T>,
    value: OnceLock<T>,
    waiters: Mutex<WaitList>,
}

/// The error of [`SetOnce::set`]: the value was already set; the new one is given back.
#[derive(Debug, PartialEq, Eq)]
pub struct SetOnceError<T>(pub T);

impl<T> fmt::Display for SetOnceError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetOnceError")
    }
}

impl<T: fmt::Debug> Error for SetOnceError<T> {}

impl<T> SetOnce<T> {
    /// An empty `SetOnce`.
    pub const fn new() -> Self {
        SetOnce::with_preset(None)
    }

    /// An empty `SetOnce`, usable in a `static`.
    pub const fn const_new() -> Self {
        SetOnce::new()
    }

    /// A `SetOnce` holding `value`, if it is `Some`.
    pub fn new_with(value: Option<T>) -> Self {
        SetOnce::with_preset(value)
    }

    /// A `SetOnce` holding `value`, usable in a `static`.
    pub const fn const_new_with(value: T) -> Self {
        SetOnce::with_preset(Some(value))
    }

    const fn with_preset(preset: Option<T>) -> Self {
        SetOnce {
            preset,
            value: OnceLock::new(),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    fn waiters(&self) -> MutexGuard<'_, WaitList> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the value is set.
    pub fn initialized(&self) -> bool {
        self.get().is_some()
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.preset.as_ref().or_else(|| self.value.get())
    }

    /// Sets the value and wakes every waiter; gives the value back if it was set.
    pub fn set(&self, value: T) -> Result<(), SetOnceError<T>> {
        let wakers = {
            let mut waiters = self.waiters();
            if self.preset.is_some() {
                return Err(SetOnceError(value));
            }
            self.value.set(value).map_err(SetOnceError)?;
            waiters.take_all()
        };
        waiters::wake(wakers);
        Ok(())
    }

    /// The value, if set, consuming it.
    pub fn into_inner(mut self) -> Option<T> {
        self.preset.take().or_else(|| self.value.take())
    }

    /// Waits until the value is set.
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = &T> {
        Wait {
            set_once: self,
            key: None,
            at: Location::caller(),
        }
    }
}

/// The future of [`SetOnce::wait`].
struct Wait<'a, T> {
    set_once: &'a SetOnce<T>,
    key: Option<u64>,
    at: &'static Location<'static>,
}

impl<'a, T> Future for Wait<'a, T> {
    type Output = &'a T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'a T> {
        let this = &mut *self;
        let set_once = this.set_once;
        let mut waiters = set_once.waiters();
        if let Some(value) = set_once.get() {
            let old = waiters.remove(this.key.take());
            drop(waiters);
            drop(old);
            return Poll::Ready(value);
        }
        let old = waiters.park(&mut this.key, cx.waker());
        drop(waiters);
        drop(old);
        waiters::note(cx, "SetOnce::wait", this.at);
        Poll::Pending
    }
}

impl<T> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let waker = self.set_once.waiters().remove(self.key);
            drop(waker);
        }
    }
}

impl<T> Default for SetOnce<T> {
    fn default() -> Self {
        SetOnce::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for SetOnce<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetOnce")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Clone> Clone for SetOnce<T> {
    fn clone(&self) -> Self {
        SetOnce::new_with(self.get().cloned())
    }
}

impl<T: PartialEq> PartialEq for SetOnce<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for SetOnce<T> {}

impl<T> From<T> for SetOnce<T> {
    fn from(value: T) -> Self {
        SetOnce::new_with(Some(value))
    }
}

//! [`Notify`]: tokio's notification primitive (one stored permit, waiters served in
//! order), with every wait noted for reports.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::wait::{self, WaitKind};
use crate::waker;

/// Wakes one waiting task ([`notify_one`](Notify::notify_one), first come first
/// served, or stores a permit for the next [`notified`](Notify::notified) when none
/// waits) or every waiting task ([`notify_waiters`](Notify::notify_waiters)), as
/// tokio's `Notify`.
pub struct Notify {
    state: Mutex<State>,
}

struct State {
    permit: bool,
    next_key: u64,
    /// Waiters not yet notified, in arrival order.
    waiters: VecDeque<(u64, Option<Waker>)>,
    /// Waiters notified but not yet polled: key, and how — `Some(first)` by
    /// `notify_one` (`true`) or `notify_last` (`false`), a notification that passes on,
    /// the same way, if the future is dropped unpolled; `None` by `notify_waiters`.
    notified: Vec<(u64, Option<bool>)>,
    /// How many `notify_waiters` calls there were: a `Notified` created before one
    /// completes at its first poll.
    calls: u64,
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    waiter: Waiter<&'a Notify>,
}

/// The future of [`Notify::notified_owned`]: [`Notified`] holding an `Arc<Notify>`.
#[must_use = "futures do nothing unless awaited"]
pub struct OwnedNotified {
    waiter: Waiter<Arc<Notify>>,
}

/// A waiter of a `Notify` reached through `N` (a reference or an `Arc`).
struct Waiter<N: Deref<Target = Notify>> {
    notify: N,
    calls: u64,
    key: Option<u64>,
    done: bool,
    at: &'static Location<'static>,
}

impl Notify {
    /// A `Notify` with no permit stored.
    pub const fn new() -> Self {
        Notify {
            state: Mutex::new(State {
                permit: false,
                next_key: 0,
                waiters: VecDeque::new(),
                notified: Vec::new(),
                calls: 0,
            }),
        }
    }

    /// The same as [`Notify::new`], usable in a `static`.
    pub const fn const_new() -> Self {
        Notify::new()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A future that completes at the next notification meant for it (or at once if a
    /// permit is stored, or a `notify_waiters` came after its creation).
    #[track_caller]
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            waiter: Waiter {
                notify: self,
                calls: self.state().calls,
                key: None,
                done: false,
                at: Location::caller(),
            },
        }
    }

    /// [`Notify::notified`] for an `Arc<Notify>`: the future owns a reference.
    #[track_caller]
    pub fn notified_owned(self: Arc<Self>) -> OwnedNotified {
        let calls = self.state().calls;
        OwnedNotified {
            waiter: Waiter {
                notify: self,
                calls,
                key: None,
                done: false,
                at: Location::caller(),
            },
        }
    }

    /// Wakes the first waiter, or stores a permit if none waits.
    pub fn notify_one(&self) {
        let waker = self.state().notify(true);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes the last waiter, or stores a permit if none waits.
    pub fn notify_last(&self) {
        let waker = self.state().notify(false);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes every waiter (and every `Notified` created before this call); stores no
    /// permit.
    pub fn notify_waiters(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.state();
            state.calls += 1;
            let waiters = std::mem::take(&mut state.waiters);
            let mut wakers = Vec::with_capacity(waiters.len());
            for (key, waker) in waiters {
                state.notified.push((key, None));
                wakers.extend(waker);
            }
            wakers
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl State {
    /// Notifies the first (`first`) or last waiter, or stores the permit; the waker to
    /// wake.
    fn notify(&mut self, first: bool) -> Option<Waker> {
        let waiter = match first {
            true => self.waiters.pop_front(),
            false => self.waiters.pop_back(),
        };
        match waiter {
            Some((key, waker)) => {
                self.notified.push((key, Some(first)));
                waker
            }
            None => {
                self.permit = true;
                None
            }
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl Notified<'_> {
    /// Registers as a waiter without a waker (so that a `notify_one` from now on is
    /// meant for this future); whether it was already notified.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().waiter.check(None)
    }
}

impl OwnedNotified {
    /// Registers as a waiter without a waker; whether it was already notified (see
    /// [`Notified::enable`]).
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().waiter.check(None)
    }
}

impl<N: Deref<Target = Notify>> Waiter<N> {
    /// Whether notified; registers (with `waker`) if it is not and was not yet.
    fn check(&mut self, waker: Option<&Waker>) -> bool {
        if self.done {
            return true;
        }
        let mut state = self.notify.state();
        match self.key {
            None => {
                if state.calls != self.calls || std::mem::take(&mut state.permit) {
                    self.done = true;
                    return true;
                }
                let key = state.next_key;
                state.next_key += 1;
                state.waiters.push_back((key, waker.cloned()));
                self.key = Some(key);
                false
            }
            Some(key) => {
                if let Some(i) = state.notified.iter().position(|&(k, _)| k == key) {
                    state.notified.swap_remove(i);
                    self.done = true;
                    return true;
                }
                if let (Some(waker), Some(entry)) =
                    (waker, state.waiters.iter_mut().find(|(k, _)| *k == key))
                {
                    match &mut entry.1 {
                        Some(w) if w.will_wake(waker) => {}
                        slot => *slot = Some(waker.clone()),
                    }
                }
                false
            }
        }
    }
}

impl<N: Deref<Target = Notify>> Waiter<N> {
    fn poll_wait(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.check(Some(cx.waker())) {
            return Poll::Ready(());
        }
        if !waker::is_quiet(cx.waker()) {
            wait::record_at(WaitKind::Other("Notify::notified"), self.at);
        }
        Poll::Pending
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().waiter.poll_wait(cx)
    }
}

impl Future for OwnedNotified {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().waiter.poll_wait(cx)
    }
}

impl<N: Deref<Target = Notify>> Drop for Waiter<N> {
    fn drop(&mut self) {
        let (Some(key), false) = (self.key, self.done) else {
            return;
        };
        let waker = {
            let mut state = self.notify.state();
            if let Some(i) = state.waiters.iter().position(|(k, _)| *k == key) {
                state.waiters.remove(i);
                None
            } else if let Some(i) = state.notified.iter().position(|&(k, _)| k == key) {
                let (_, how) = state.notified.swap_remove(i);
                // A `notify_one`/`notify_last` meant for this future passes on.
                how.and_then(|first| state.notify(first))
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("done", &self.waiter.done)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OwnedNotified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedNotified")
            .field("done", &self.waiter.done)
            .finish_non_exhaustive()
    }
}

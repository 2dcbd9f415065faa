//! A first-in, first-out list of parked wakers, for the channels' waits that any number
//! of tasks may share (`Sender::closed`, a `broadcast` or `watch` receiver waiting for a
//! value), and the one way channels note a wait for reports.
//!
//! Invariants:
//! - wakers are woken in the order their futures first parked (tokio leaves that order
//!   open; detsim keeps it fixed, so it is no new decision of the seed);
//! - a future keeps its key: parking again refreshes its waker in place, keeping its
//!   place; a future dropped while parked removes itself.

use std::collections::VecDeque;
use std::panic::Location;
use std::task::{Context, Waker};

use crate::wait::{self, WaitKind};
use crate::waker;

/// Parked wakers, in the order they parked.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    next_key: u64,
    entries: VecDeque<(u64, Waker)>,
}

impl WaitList {
    pub(crate) const fn new() -> Self {
        WaitList {
            next_key: 0,
            entries: VecDeque::new(),
        }
    }

    /// Parks `waker` under `*key` (a new key at the back of the list if the future has
    /// none or was woken since; its waker refreshed in place otherwise). Returns the
    /// waker it replaces, to drop once the state's lock is released (dropping a waker
    /// runs foreign code, which may call back into the channel).
    #[must_use = "drop the old waker after releasing the lock"]
    pub(crate) fn park(&mut self, key: &mut Option<u64>, waker: &Waker) -> Option<Waker> {
        if let Some(k) = *key
            && let Some((_, parked)) = self.entries.iter_mut().find(|(e, _)| *e == k)
        {
            if parked.will_wake(waker) {
                return None;
            }
            return Some(std::mem::replace(parked, waker.clone()));
        }
        let k = self.next_key;
        self.next_key += 1;
        self.entries.push_back((k, waker.clone()));
        *key = Some(k);
        None
    }

    /// Removes the future under `key`, if it is still parked; its waker, to drop once
    /// the state's lock is released.
    #[must_use = "drop the waker after releasing the lock"]
    pub(crate) fn remove(&mut self, key: Option<u64>) -> Option<Waker> {
        let k = key?;
        let i = self.entries.iter().position(|(e, _)| *e == k)?;
        self.entries.remove(i).map(|(_, waker)| waker)
    }

    /// Every parked waker, in parking order, to wake once the state's lock is released.
    pub(crate) fn take_all(&mut self) -> Vec<Waker> {
        self.entries.drain(..).map(|(_, waker)| waker).collect()
    }
}

/// Notes that the running task waits in the channel call `op` (`"mpsc::Receiver::recv"`,
/// …), called at `at`: a deadlock report then names the channel kind and the site.
pub(crate) fn note(cx: &Context<'_>, op: &'static str, at: &'static Location<'static>) {
    if !waker::is_quiet(cx.waker()) {
        wait::record_at(WaitKind::Other(op), at);
    }
}

/// Parks `waker` in `slot` (a single waiter's slot); the waker it replaces, to drop
/// once the state's lock is released.
#[must_use = "drop the old waker after releasing the lock"]
pub(crate) fn park_one(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(parked) if parked.will_wake(waker) => None,
        slot => slot.replace(waker.clone()),
    }
}

/// Completes once the current task has coop budget left (using one unit): a yield
/// first if it is spent (see [`crate::coop`]), as tokio's `cooperative` wrapper.
pub(crate) async fn proceed() {
    std::future::poll_fn(|cx| match crate::coop::proceed(cx) {
        true => std::task::Poll::Ready(()),
        false => std::task::Poll::Pending,
    })
    .await;
}

/// Wakes every waker of `wakers` (outside any lock).
pub(crate) fn wake(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

//! The fair counting semaphore every lock and permit is built on (tokio's
//! `batch_semaphore`, simulated): a pool of permits, a FIFO queue of waiters, and the
//! list of holders — which task holds how many permits, and where it acquired them —
//! that deadlock reports read.
//!
//! Invariants:
//! - fairness: permits go to waiters in queue order; a released permit is assigned to
//!   the head waiter at once (partially, if it needs more than there are), so permits
//!   are available only while the queue is empty, and a waiter that needs many permits
//!   holds back the smaller requests queued behind it, as in tokio;
//! - a waiter whose permits are all assigned leaves the queue and becomes a holder
//!   before its future sees it; dropping the future then (or while still queued) gives
//!   every assigned permit back, so an acquire is cancellation-safe;
//! - closing fails every queued waiter and every later acquire, and keeps the holders;
//!   a queued waiter keeps the permits it was assigned until its future sees the close
//!   or is dropped (as in tokio: a closed channel is idle only then);
//! - wakers are woken after the state's lock is released; the lock is never held
//!   across user code or a call into the executor, but for recording spans;
//! - in a traced run, every holder and every waiter of a task is a span of that task
//!   ([`crate::trace::begin_span`]) from when it starts holding (waiting) to when it
//!   stops, so the trace file shows who held what while whom waited.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::registry::{self, HolderInfo, ResourceInfo};
use super::{Kind, current_task};
use crate::context;
use crate::task::Id;
use crate::trace::{SpanId, SpanTrack};
use crate::wait::{self, WaitKind};
use crate::waker;

/// A semaphore with holders: cloned (an `Arc`) into owned permits and acquire futures.
#[derive(Clone)]
pub(crate) struct Batch {
    pub(crate) shared: Arc<Shared>,
}

/// The semaphore's state, and what it is for reports.
pub(crate) struct Shared {
    pub(crate) kind: Kind,
    pub(crate) created_at: &'static Location<'static>,
    state: Mutex<State>,
}

struct State {
    /// What the semaphore is behind, and where it was created (for span names).
    kind: Kind,
    created_at: &'static Location<'static>,
    permits: usize,
    closed: bool,
    next_key: u64,
    waiters: VecDeque<Waiter>,
    holders: Vec<Holder>,
    /// `(run epoch, index)` in that run's registry, once a task of that run waited here.
    pub(super) registered: Option<(u64, u32)>,
}

struct Waiter {
    key: u64,
    needed: usize,
    assigned: usize,
    waker: Option<Waker>,
    task: Option<Id>,
    at: &'static Location<'static>,
    /// Its span in a traced run.
    span: Option<SpanId>,
}

struct Holder {
    key: u64,
    task: Option<Id>,
    at: &'static Location<'static>,
    permits: usize,
    /// Its span in a traced run.
    span: Option<SpanId>,
}

/// Why an acquire failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryError {
    Closed,
    NoPermits,
}

impl Batch {
    pub(crate) fn new(permits: usize, kind: Kind, created_at: &'static Location<'static>) -> Self {
        Batch {
            shared: Arc::new(Shared {
                kind,
                created_at,
                state: Mutex::new(State {
                    kind,
                    created_at,
                    permits,
                    closed: false,
                    next_key: 0,
                    waiters: VecDeque::new(),
                    holders: Vec::new(),
                    registered: None,
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    /// Permits not held and not assigned to a waiter.
    pub(crate) fn available(&self) -> usize {
        self.state().permits
    }

    /// Takes `n` permits now if they are free (queue or no queue, as tokio's
    /// `try_acquire`); the holder's key.
    pub(crate) fn try_acquire(
        &self,
        n: usize,
        at: &'static Location<'static>,
    ) -> Result<u64, TryError> {
        let task = current_task();
        let mut state = self.state();
        if state.closed {
            return Err(TryError::Closed);
        }
        if state.permits < n {
            return Err(TryError::NoPermits);
        }
        state.permits -= n;
        Ok(state.hold(task, at, n))
    }

    /// A future that waits for `n` permits, in queue order.
    pub(crate) fn acquire(
        &self,
        n: usize,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Acquire {
        Acquire {
            batch: self.clone(),
            needed: n,
            op,
            at,
            key: None,
            done: false,
        }
    }

    /// Gives back `n` of the permits of holder `key` (all of them: the holder leaves).
    pub(crate) fn release(&self, key: u64, n: usize) {
        let wakers = {
            let mut state = self.state();
            state.unhold(key, n);
            state.add(n)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Drops `n` of holder `key`'s permits without giving them back.
    pub(crate) fn forget(&self, key: u64, n: usize) {
        self.state().unhold(key, n);
    }

    /// Moves `n` permits of holder `key` to a new holder (same task and site); its key.
    pub(crate) fn split(&self, key: u64, n: usize) -> u64 {
        let mut state = self.state();
        let (task, at) = state
            .holders
            .iter()
            .find(|h| h.key == key)
            .map(|h| (h.task, h.at))
            .expect("a permit's holder is listed");
        state.unhold(key, n);
        state.hold(task, at, n)
    }

    /// Moves every permit of holder `from` to holder `into`.
    pub(crate) fn merge(&self, into: u64, from: u64, n: usize) {
        let mut state = self.state();
        state.unhold(from, n);
        if let Some(holder) = state.holders.iter_mut().find(|h| h.key == into) {
            holder.permits += n;
        }
    }

    /// Holder `key` now holds `n` permits fewer, which go back (a write lock downgraded
    /// to a read lock).
    pub(crate) fn give_back(&self, key: u64, n: usize) {
        let wakers = {
            let mut state = self.state();
            if let Some(holder) = state.holders.iter_mut().find(|h| h.key == key) {
                holder.permits -= n;
            }
            state.add(n)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Adds `n` permits, waking the waiters they satisfy.
    pub(crate) fn add_permits(&self, n: usize) {
        let wakers = self.state().add(n);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Removes up to `n` free permits; how many were removed.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut state = self.state();
        let removed = n.min(state.permits);
        state.permits -= removed;
        removed
    }

    /// Fails every waiter and every later acquire.
    pub(crate) fn close(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.state();
            state.closed = true;
            // The waiters keep what they were assigned until their futures see the
            // close (or are dropped), as in tokio.
            state
                .waiters
                .iter_mut()
                .filter_map(|w| w.waker.take())
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Whether any task holds permits or waits for them.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state();
        state.holders.is_empty() && state.waiters.is_empty()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock, so a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its index in run `epoch`'s registry, if it has one there.
    pub(super) fn registered_in(&self, epoch: u64) -> Option<u32> {
        match self.state().registered {
            Some((e, index)) if e == epoch => Some(index),
            _ => None,
        }
    }

    pub(super) fn set_registered(&self, epoch: u64, index: u32) {
        self.state().registered = Some((epoch, index));
    }

    /// What reports show of it: kind, creation site, holders.
    pub(super) fn snapshot(&self) -> ResourceInfo {
        let state = self.state();
        ResourceInfo {
            kind: self.kind.name(),
            created_at: self.created_at,
            holders: state
                .holders
                .iter()
                .map(|h| HolderInfo {
                    task: h.task,
                    acquired_at: h.at,
                    permits: h.permits,
                    mode: self.kind.mode(h.permits),
                })
                .collect(),
        }
    }
}

impl State {
    fn hold(&mut self, task: Option<Id>, at: &'static Location<'static>, permits: usize) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        let span = self.begin_span(task, "holds", at, permits);
        self.holders.push(Holder {
            key,
            task,
            at,
            permits,
            span,
        });
        key
    }

    fn unhold(&mut self, key: u64, n: usize) {
        if let Some(i) = self.holders.iter().position(|h| h.key == key) {
            let holder = &mut self.holders[i];
            holder.permits = holder.permits.saturating_sub(n);
            if holder.permits == 0 {
                end_span(self.holders.remove(i).span, None);
            }
        }
    }

    /// In a traced run, a span of `task` that `does` (`holds`, `waits for`) `permits`
    /// of this semaphore at `at`.
    fn begin_span(
        &self,
        task: Option<Id>,
        does: &str,
        at: &'static Location<'static>,
        permits: usize,
    ) -> Option<SpanId> {
        let task = task?;
        let (kind, created_at) = (self.kind, self.created_at);
        let name = || {
            let what = match kind {
                Kind::Semaphore | Kind::Channel if permits == 1 => {
                    format!("1 permit of the {} created at {created_at}", kind.name())
                }
                Kind::Semaphore | Kind::Channel => {
                    let name = kind.name();
                    format!("{permits} permits of the {name} created at {created_at}")
                }
                Kind::RwLock { .. } | Kind::Mutex => match kind.mode(permits) {
                    Some(mode) => format!("the {} created at {created_at} ({mode})", kind.name()),
                    None => format!("the {} created at {created_at}", kind.name()),
                },
            };
            format!("{does} {what}, from {at}")
        };
        context::try_with_free_core(|core| core.begin_span(task, SpanTrack::Task, name)).flatten()
    }

    /// Adds `n` permits and assigns them to waiters in queue order; the wakers of the
    /// waiters now satisfied (to wake once the lock is released).
    fn add(&mut self, n: usize) -> Vec<Waker> {
        self.permits += n;
        let mut wakers = Vec::new();
        if self.closed {
            return wakers;
        }
        while let Some(head) = self.waiters.front_mut() {
            let take = (head.needed - head.assigned).min(self.permits);
            head.assigned += take;
            self.permits -= take;
            if head.assigned < head.needed {
                break;
            }
            let head = self.waiters.pop_front().expect("the head was just seen");
            end_span(head.span, None);
            let span = self.begin_span(head.task, "holds", head.at, head.needed);
            self.holders.push(Holder {
                key: head.key,
                task: head.task,
                at: head.at,
                permits: head.needed,
                span,
            });
            wakers.extend(head.waker);
        }
        wakers
    }
}

/// Ends a holder's or a waiter's span, if it has one, with `outcome` added to its name.
fn end_span(span: Option<SpanId>, outcome: Option<&str>) {
    if let Some(span) = span {
        crate::trace::end_span(span, || outcome.map(str::to_owned));
    }
}

/// Releases a permit of a lock when dropped (after the data guard beside it).
pub(crate) struct Release<'a> {
    pub(crate) batch: &'a Batch,
    pub(crate) key: u64,
    pub(crate) permits: usize,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.batch.release(self.key, self.permits);
    }
}

/// [`Release`] for owned guards.
pub(crate) struct OwnedRelease {
    pub(crate) batch: Batch,
    pub(crate) key: u64,
    pub(crate) permits: usize,
}

impl Drop for OwnedRelease {
    fn drop(&mut self) {
        self.batch.release(self.key, self.permits);
    }
}

/// Waits for permits: `Ok(holder key)`, or `Err(())` once the semaphore is closed.
pub(crate) struct Acquire {
    batch: Batch,
    needed: usize,
    op: &'static str,
    at: &'static Location<'static>,
    key: Option<u64>,
    done: bool,
}

impl Acquire {
    /// The first poll: the permits at once when none wait before and enough are free
    /// (or `Err` after a close); otherwise the future queues, taking what is free, and
    /// `None` says it waits.
    fn first_poll(&mut self, cx: &mut Context<'_>) -> Option<Poll<Result<u64, ()>>> {
        let task = current_task();
        let mut state = self.batch.state();
        if state.closed {
            self.done = true;
            return Some(Poll::Ready(Err(())));
        }
        if state.waiters.is_empty() && state.permits >= self.needed {
            state.permits -= self.needed;
            let key = state.hold(task, self.at, self.needed);
            drop(state);
            // tokio's coop budget: a task whose budget is spent keeps the permits but
            // yields before it sees them.
            if !crate::coop::proceed(cx) {
                self.key = Some(key);
                return Some(Poll::Pending);
            }
            self.done = true;
            return Some(Poll::Ready(Ok(key)));
        }
        let assigned = match state.waiters.is_empty() {
            true => state.permits.min(self.needed),
            false => 0,
        };
        state.permits -= assigned;
        let key = state.next_key;
        state.next_key += 1;
        let span = state.begin_span(task, "waits for", self.at, self.needed);
        state.waiters.push_back(Waiter {
            key,
            needed: self.needed,
            assigned,
            waker: Some(cx.waker().clone()),
            task,
            at: self.at,
            span,
        });
        self.key = Some(key);
        None
    }

    /// A later poll of the future queued (or granted) as `key`: `None` while it still
    /// waits.
    fn poll_queued(&mut self, key: u64, cx: &mut Context<'_>) -> Option<Poll<Result<u64, ()>>> {
        let mut state = self.batch.state();
        if state.closed
            && let Some(i) = state.waiters.iter().position(|w| w.key == key)
        {
            let waiter = state.waiters.remove(i).expect("found above");
            end_span(waiter.span, Some(" (closed)"));
            state.permits += waiter.assigned;
            self.done = true;
            return Some(Poll::Ready(Err(())));
        }
        if let Some(waiter) = state.waiters.iter_mut().find(|w| w.key == key) {
            match &mut waiter.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return None;
        }
        let held = state.holders.iter().any(|h| h.key == key);
        drop(state);
        Some(match held {
            true if !crate::coop::proceed(cx) => Poll::Pending,
            true => {
                self.done = true;
                Poll::Ready(Ok(key))
            }
            false => {
                self.done = true;
                Poll::Ready(Err(()))
            }
        })
    }

    /// Notes where the task waits, and on what, for deadlock reports and the trace.
    fn note_wait(&self, cx: &Context<'_>) {
        if waker::is_quiet(cx.waker()) {
            return;
        }
        let kind = match registry::register(&self.batch.shared) {
            Some(resource) => WaitKind::Resource {
                op: self.op,
                resource,
            },
            None => WaitKind::Other(self.op),
        };
        wait::record_at(kind, self.at);
    }
}

impl Future for Acquire {
    type Output = Result<u64, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64, ()>> {
        let this = &mut *self;
        assert!(
            !this.done,
            "an acquire future was polled after it completed"
        );
        let polled = match this.key {
            None => this.first_poll(cx),
            Some(key) => this.poll_queued(key, cx),
        };
        match polled {
            Some(poll) => poll,
            None => {
                this.note_wait(cx);
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(key) = self.key else { return };
        let wakers = {
            let mut state = self.batch.state();
            if let Some(i) = state.waiters.iter().position(|w| w.key == key) {
                let waiter = state.waiters.remove(i).expect("found above");
                end_span(waiter.span, Some(" (cancelled)"));
                state.add(waiter.assigned)
            } else if let Some(i) = state.holders.iter().position(|h| h.key == key) {
                // Granted, but the future was dropped before it saw it.
                let holder = state.holders.remove(i);
                end_span(holder.span, Some(" (cancelled before it saw the permits)"));
                state.add(holder.permits)
            } else {
                Vec::new()
            }
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("needed", &self.needed)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("closed", &state.closed)
            .field("waiters", &state.waiters.len())
            .field("holders", &state.holders.len())
            .finish()
    }
}

//! Wakers: real `std::task::Waker`s, so any runtime-agnostic future (futures' channels
//! and locks, tokio::sync, async-channel) can wake a detsim task, and none of them costs
//! an allocation or a reference count.
//!
//! A task's waker is its [`Address`] (the simulation thread, the slot index and the
//! slot's generation) packed into the `RawWaker`'s data word, which is never
//! dereferenced. This module holds one of the crate's two `unsafe` blocks (the other
//! is a prefetch hint, in `prefetch.rs`): the call to `Waker::from_raw`, sound because
//! the vtable's functions only copy or unpack that integer. It replaced an `Arc` per task slot (an allocation per new slot, an atomic
//! flag and a cache line touched per wake, a table of wakers read per poll).
//!
//! Invariants:
//! - a wake only queues `(slot index, generation)`; the executor applies it after the
//!   current poll, so waking never re-enters the executor;
//! - the queue keeps wake order, which is what makes the ready order deterministic; a
//!   task woken twice before the executor takes its wakes keeps its first place (the
//!   second wake finds it ready and is ignored);
//! - waking a finished task, or a waker that outlived its task or its run, is a no-op:
//!   generations come from a per-thread counter that runs are not reset, so a stale
//!   address matches no slot;
//! - a wake on the simulation's own thread goes to a thread-local list (no lock, no
//!   atomic). A wake from another OS thread goes to that simulation thread's
//!   mutex-guarded list and is delivered too, but its timing is not part of the seed:
//!   keep real threads out of a simulation.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{RawWaker, RawWakerVTable, Waker};

#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "detsim needs a 64-bit target: a task's waker packs its address into a pointer-sized word"
);

const INDEX_BITS: u32 = 24;
const THREAD_BITS: u32 = 12;
/// Above the thread: whether the run is quiet (see [`Address::new`]).
const QUIET_SHIFT: u32 = INDEX_BITS + THREAD_BITS;
const GENERATION_SHIFT: u32 = QUIET_SHIFT + 1;
const GENERATION_BITS: u32 = 64 - GENERATION_SHIFT;

/// Task slots a run can have at once (live tasks, the root included).
pub(crate) const MAX_SLOTS: u32 = 1 << INDEX_BITS;
/// Threads that can run simulations at the same time.
const MAX_THREADS: u32 = 1 << THREAD_BITS;
/// The generation of a slot with no task: outside the range of real generations, so no
/// waker or handle ever matches it.
pub(crate) const VACANT: u32 = u32::MAX;

/// A wake as the executor applies it: `(slot index, generation)`.
pub(crate) type Wake = (u32, u32);

/// Where a task's wakes go: its simulation thread, slot and generation, packed in one
/// word, with one more bit that detsim's own futures read (see [`is_quiet`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Address(u64);

impl Address {
    /// `quiet`: the run notes no wait sites (nor a trace), so a detsim future polled
    /// with this waker has nothing to tell the executor.
    pub(crate) fn new(thread: u32, index: u32, generation: u32, quiet: bool) -> Address {
        debug_assert!(thread < MAX_THREADS && index < MAX_SLOTS);
        debug_assert!(generation < 1 << GENERATION_BITS);
        Address(
            u64::from(generation) << GENERATION_SHIFT
                | u64::from(quiet) << QUIET_SHIFT
                | u64::from(thread) << INDEX_BITS
                | u64::from(index),
        )
    }

    fn thread(self) -> u32 {
        (self.0 >> INDEX_BITS) as u32 & (MAX_THREADS - 1)
    }

    fn quiet(self) -> bool {
        self.0 >> QUIET_SHIFT & 1 == 1
    }

    fn wake(self) -> Wake {
        let index = self.0 as u32 & (MAX_SLOTS - 1);
        let generation = (self.0 >> GENERATION_SHIFT) as u32;
        (index, generation)
    }
}

/// Whether `waker` is a detsim task's, in a run that notes no wait sites: then a
/// detsim future that suspends need not reach the executor (and the poll is surely
/// inside a simulation). A waker of another kind (a combinator's own) says nothing.
#[inline]
pub(crate) fn is_quiet(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &VTABLE) && Address(waker.data().addr() as u64).quiet()
}

/// The waker of the task at `address`.
#[inline]
pub(crate) fn waker(address: Address) -> Waker {
    let raw = RawWaker::new(std::ptr::without_provenance(address.0 as usize), &VTABLE);
    // SAFETY: `Waker::from_raw` requires the vtable's functions to be safe to call with
    // this data pointer any number of times, from any thread (the `RawWaker` contract).
    // The data pointer is a plain integer made without provenance and never
    // dereferenced: `clone_raw` copies it, `drop_raw` does nothing, and `wake_raw`
    // unpacks it and pushes two integers onto a thread-local list or a mutex-guarded
    // one. All of them are thread-safe, and none depends on what the word holds.
    #[allow(unsafe_code)]
    unsafe {
        Waker::from_raw(raw)
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_raw, drop_raw);

fn clone_raw(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake_raw(data: *const ()) {
    wake(Address(data.addr() as u64));
}

fn drop_raw(_: *const ()) {}

/// Wakes delivered from other threads to one simulation thread.
#[derive(Debug, Default)]
struct Remote {
    pending: AtomicBool,
    wakes: Mutex<Vec<Wake>>,
}

impl Remote {
    fn push(&self, wake: Wake) {
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(wake);
        self.pending.store(true, Ordering::Release);
    }

    /// Moves the wakes other threads made into `into`: one relaxed load when there are
    /// none (every step of a run asks).
    #[inline]
    fn drain_into(&self, into: &mut Vec<Wake>) {
        if self.pending.load(Ordering::Relaxed) {
            self.take_pending(into);
        }
    }

    #[cold]
    fn take_pending(&self, into: &mut Vec<Wake>) {
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut wakes = self.wakes.lock().unwrap_or_else(PoisonError::into_inner);
            into.append(&mut wakes);
        }
    }
}

/// The simulation threads alive: each one's remote list, by thread number, and the
/// numbers free for the next (with the generation their last owner reached, so that a
/// waker of the old thread matches nothing on the new one).
#[derive(Debug)]
struct Registry {
    remotes: Vec<Option<Arc<Remote>>>,
    free: Vec<(u32, u32)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    remotes: Vec::new(),
    free: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This thread's part: its number and remote list once it runs a simulation, the next
/// generation it hands out, and the wakes made on it.
#[derive(Debug)]
struct Local {
    thread: Option<(u32, Arc<Remote>)>,
    next_generation: u32,
    wakes: Vec<Wake>,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some((number, _)) = self.thread.take() {
            let mut registry = registry();
            registry.remotes[number as usize] = None;
            registry.free.push((number, self.next_generation));
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { thread: None, next_generation: 0, wakes: Vec::new() })
    };
}

/// Starts a run on this thread: wakes left from before it are dropped (the lists keep
/// their allocations). Returns the thread's number, registering the thread on its
/// first simulation.
pub(crate) fn enter() -> u32 {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.wakes.clear();
        if let Some((number, remote)) = &local.thread {
            let mut stale = Vec::new();
            remote.drain_into(&mut stale);
            return *number;
        }
        let remote = Arc::new(Remote::default());
        let mut registry = registry();
        let (number, generation) = match registry.free.pop() {
            Some(free) => free,
            None => {
                let number = registry.remotes.len() as u32;
                assert!(
                    number < MAX_THREADS,
                    "detsim: more than {MAX_THREADS} threads run simulations at once"
                );
                registry.remotes.push(None);
                (number, 0)
            }
        };
        registry.remotes[number as usize] = Some(remote.clone());
        local.thread = Some((number, remote));
        local.next_generation = generation;
        number
    })
}

/// A new generation for a task slot: never one this thread handed out recently (the
/// counter wraps after 2^27 tasks).
#[inline]
pub(crate) fn next_generation() -> u32 {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let generation = local.next_generation;
        local.next_generation = (generation + 1) & ((1 << GENERATION_BITS) - 1);
        generation
    })
}

/// Moves every pending wake into `into` (cleared first): this thread's, in order, then
/// other threads'.
#[inline]
pub(crate) fn drain_into(into: &mut Vec<Wake>) {
    into.clear();
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        std::mem::swap(&mut local.wakes, into);
        if let Some((_, remote)) = &local.thread {
            remote.drain_into(into);
        }
    });
}

/// Queues a wake on behalf of the executor (a spawn is scheduled this way).
#[inline]
pub(crate) fn schedule(wake: Wake) {
    LOCAL.with(|local| local.borrow_mut().wakes.push(wake));
}

/// Queues the wake of the task at `address`: on this thread's list if the task lives on
/// this thread, else on its thread's remote list (dropped if that thread is gone).
fn wake(address: Address) {
    let wake = address.wake();
    let delivered = LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            match &local.thread {
                Some((number, _)) if *number == address.thread() => {
                    // The same task woken again at once: it keeps its first place anyway.
                    if local.wakes.last() != Some(&wake) {
                        local.wakes.push(wake);
                    }
                    true
                }
                _ => false,
            }
        })
        .unwrap_or(false);
    if !delivered {
        let remote = registry().remotes.get(address.thread() as usize).cloned();
        if let Some(Some(remote)) = remote {
            remote.push(wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Address, GENERATION_BITS, MAX_SLOTS, MAX_THREADS};

    #[test]
    fn an_address_unpacks_to_what_was_packed() {
        let top = (1 << GENERATION_BITS) - 1;
        for (thread, index, generation, quiet) in [
            (0, 0, 0, false),
            (1, 2, 3, true),
            (MAX_THREADS - 1, MAX_SLOTS - 1, top, true),
            (MAX_THREADS - 1, MAX_SLOTS - 1, top, false),
            (7, MAX_SLOTS - 1, 0, true),
            (0, 0, top, false),
        ] {
            let address = Address::new(thread, index, generation, quiet);
            assert_eq!(address.thread(), thread);
            assert_eq!(address.quiet(), quiet);
            assert_eq!(address.wake(), (index, generation));
            assert_eq!(super::is_quiet(&super::waker(address)), quiet);
        }
        assert!(!super::is_quiet(std::task::Waker::noop()));
    }
}

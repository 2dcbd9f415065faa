//! The run's registry of locks and semaphores that a task waited on, so that a
//! deadlock report can say who holds what: each one gets an index (its
//! [`WaitKind::Resource`](crate::wait::WaitKind::Resource) names it) the first time a
//! task of the run waits on it, and the report reads its holders when the run stalls.
//!
//! Invariants:
//! - run-scoped (an [`extension`](crate::extension) value): indices start at 0 in every
//!   run, in the order of first waits, so they are the same in a run and its replay;
//! - it holds weak references: a lock dropped by the program is not kept alive, and
//!   reads as released;
//! - only waits are registered, never acquires: a run whose locks are never contended
//!   does not touch it.

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, Weak};

use super::batch::Shared;
use crate::context;
use crate::executor::Core;
use crate::extension;
use crate::task::Id;

#[derive(Default)]
struct Registry {
    /// Kind, creation site and the resource itself, by index.
    resources: RefCell<Vec<(&'static str, &'static Location<'static>, Weak<Shared>)>>,
}

/// `shared`'s index in the current run's registry (registering it on first use);
/// `None` outside a simulation.
pub(super) fn register(shared: &Arc<Shared>) -> Option<u32> {
    let epoch = context::try_with_core(|core| core.epoch())?;
    if let Some(index) = shared.registered_in(epoch) {
        return Some(index);
    }
    let registry = extension::run_state(Registry::default);
    let mut resources = registry.resources.borrow_mut();
    let index = u32::try_from(resources.len()).expect("fewer than 2^32 locks wait in a run");
    resources.push((
        shared.kind.name(),
        shared.created_at,
        Arc::downgrade(shared),
    ));
    shared.set_registered(epoch, index);
    Some(index)
}

/// What every registered resource of `core`'s run holds now, by index (empty if none
/// was registered). A resource dropped since reads as held by nobody.
pub(crate) fn snapshot(core: &Core) -> Vec<ResourceInfo> {
    let Some(registry) = core.extension(TypeId::of::<Registry>()) else {
        return Vec::new();
    };
    let registry = registry
        .downcast::<Registry>()
        .unwrap_or_else(|_| unreachable!("extensions are keyed by their type"));
    let resources = registry.resources.borrow();
    resources
        .iter()
        .map(|(kind, created_at, weak)| match weak.upgrade() {
            Some(shared) => shared.snapshot(),
            None => ResourceInfo {
                kind,
                created_at,
                holders: Vec::new(),
            },
        })
        .collect()
}

/// A lock or semaphore as a deadlock report shows it: what it is, where it was
/// created, who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `"Mutex"`, `"RwLock"`, `"Semaphore"` or `"mpsc channel"` (a bounded channel's
    /// capacity, whose holders are permits reserved and not yet used).
    pub kind: &'static str,
    /// Where it was created (`Mutex::new`, …).
    pub created_at: &'static Location<'static>,
    /// Who holds it now, in the order they acquired it.
    pub holders: Vec<HolderInfo>,
}

/// One holder of a [`ResourceInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderInfo {
    /// The task that acquired it (`None`: acquired outside a simulation's task).
    pub task: Option<Id>,
    /// Where it was acquired (the `lock()`, `read()`, `acquire()` call).
    pub acquired_at: &'static Location<'static>,
    /// How many permits it holds.
    pub permits: usize,
    /// `"read"`/`"write"` for an `RwLock`; `None` otherwise.
    pub mode: Option<&'static str>,
}

impl fmt::Display for ResourceInfo {
    /// `the Mutex created at src/bank.rs:12:13`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} created at {}", self.kind, self.created_at)
    }
}

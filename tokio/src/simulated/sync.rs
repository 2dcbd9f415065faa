//! `tokio::sync`: the locks, semaphores, `Notify`, `Barrier`, `OnceCell`, `SetOnce` and
//! the channels `mpsc`, `oneshot`, `broadcast` and `watch` are detsim's simulated ones
//! ([`detsim::sync`]), with tokio's API and fairness, which record who holds them and
//! who waits where, so that a deadlock report shows the wait-for graph; `blocking_*`
//! calls inside a simulation panic, as tokio's do inside a runtime.

pub use tokio::sync::*;

// Named items shadow the glob above: these are the simulated ones.
pub use detsim_runtime::sync::{
    AcquireError, Barrier, BarrierWaitResult, MappedMutexGuard, Mutex, MutexGuard, Notify,
    OnceCell, OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit,
    RwLock, RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard, Semaphore, SemaphorePermit,
    SetError, SetOnce, SetOnceError, TryAcquireError, TryLockError,
};

/// The futures of `tokio::sync` that have names (`Notify::notified`'s and
/// `Notify::notified_owned`'s).
pub mod futures {
    pub use detsim_runtime::sync::{Notified, OwnedNotified};
}

/// tokio's `mpsc`, simulated ([`detsim::sync::mpsc`]): waits note their task and
/// site for deadlock reports; `send_timeout` uses the virtual clock.
pub mod mpsc {
    pub use detsim_runtime::sync::mpsc::*;
}

/// tokio's `oneshot`, simulated ([`detsim::sync::oneshot`]).
pub mod oneshot {
    pub use detsim_runtime::sync::oneshot::*;
}

/// tokio's `broadcast`, simulated ([`detsim::sync::broadcast`]).
pub mod broadcast {
    pub use detsim_runtime::sync::broadcast::*;
}

/// tokio's `watch`, simulated ([`detsim::sync::watch`]).
pub mod watch {
    pub use detsim_runtime::sync::watch::*;
}

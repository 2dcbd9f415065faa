//! [`Semaphore`]: tokio's counting semaphore, fair, with holders recorded.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::sync::{Arc, OnceLock};

use super::batch::Batch;
use super::{AcquireError, Kind, TryAcquireError, assert_not_simulated, block_on};

/// A counting semaphore, as tokio's: permits are handed out first come, first served
/// (an `acquire_many` at the head of the queue holds back smaller requests behind it),
/// and every permit records the task and the call that acquired it, for deadlock
/// reports.
pub struct Semaphore {
    batch: LazyBatch,
}

/// A semaphore's [`Batch`], made at its first use, so that [`Semaphore::const_new`]
/// can be `const` (a `Batch` lives in an `Arc`).
struct LazyBatch {
    batch: OnceLock<Batch>,
    permits: usize,
    created_at: &'static Location<'static>,
}

impl Deref for LazyBatch {
    type Target = Batch;

    fn deref(&self) -> &Batch {
        self.batch
            .get_or_init(|| Batch::new(self.permits, Kind::Semaphore, self.created_at))
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping them gives them back.
#[must_use = "dropping a permit gives it back at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    key: u64,
    permits: usize,
}

/// Permits owned from an `Arc<Semaphore>`; dropping them gives them back.
#[must_use = "dropping a permit gives it back at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    key: u64,
    permits: usize,
}

impl Semaphore {
    /// The most permits a semaphore can hold (tokio's limit).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "a semaphore may not have more than MAX_PERMITS permits ({})",
            Self::MAX_PERMITS
        );
        Semaphore::const_new(permits)
    }

    /// A semaphore with `permits` permits, usable in a `static`.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub const fn const_new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "a semaphore may not have more than MAX_PERMITS permits"
        );
        Semaphore {
            batch: LazyBatch {
                batch: OnceLock::new(),
                permits,
                created_at: Location::caller(),
            },
        }
    }

    /// Permits free now.
    pub fn available_permits(&self) -> usize {
        self.batch.available()
    }

    /// Adds `n` permits, serving waiters in queue order.
    ///
    /// # Panics
    /// If the semaphore would hold more than [`Semaphore::MAX_PERMITS`] (at the caller).
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        assert!(
            self.available_permits().saturating_add(n) <= Self::MAX_PERMITS,
            "number of added permits ({n}) would overflow MAX_PERMITS ({})",
            Self::MAX_PERMITS
        );
        self.batch.add_permits(n);
    }

    /// Removes up to `n` free permits for good; how many were removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.batch.forget_permits(n)
    }

    /// Waits for one permit (cancellation-safe: dropping the future gives back what
    /// it was assigned and keeps no place in the queue).
    #[track_caller]
    pub fn acquire(
        &self,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + Send + '_ {
        self.acquire_many_at(1, "Semaphore::acquire", Location::caller())
    }

    /// Waits for `n` permits at once.
    #[track_caller]
    pub fn acquire_many(
        &self,
        n: u32,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + Send + '_ {
        self.acquire_many_at(n, "Semaphore::acquire_many", Location::caller())
    }

    fn acquire_many_at(
        &self,
        n: u32,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + Send + '_ {
        let acquire = self.batch.acquire(n as usize, op, at);
        async move {
            let key = acquire.await.map_err(|()| AcquireError(()))?;
            Ok(SemaphorePermit {
                sem: self,
                key,
                permits: n as usize,
            })
        }
    }

    /// One permit if one is free now.
    #[track_caller]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// `n` permits if they are free now.
    #[track_caller]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let key = self.batch.try_acquire(n as usize, Location::caller())?;
        Ok(SemaphorePermit {
            sem: self,
            key,
            permits: n as usize,
        })
    }

    /// Waits for one permit, owned.
    #[track_caller]
    pub fn acquire_owned(
        self: Arc<Self>,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send {
        self.acquire_many_owned_at(1, "Semaphore::acquire_owned", Location::caller())
    }

    /// Waits for `n` permits, owned.
    #[track_caller]
    pub fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send {
        self.acquire_many_owned_at(n, "Semaphore::acquire_many_owned", Location::caller())
    }

    fn acquire_many_owned_at(
        self: Arc<Self>,
        n: u32,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send {
        let acquire = self.batch.acquire(n as usize, op, at);
        async move {
            let key = acquire.await.map_err(|()| AcquireError(()))?;
            Ok(OwnedSemaphorePermit {
                sem: self,
                key,
                permits: n as usize,
            })
        }
    }

    /// One owned permit if one is free now.
    #[track_caller]
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// `n` owned permits if they are free now.
    #[track_caller]
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let key = self.batch.try_acquire(n as usize, Location::caller())?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            key,
            permits: n as usize,
        })
    }

    /// Waits for one permit from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation (it would block the simulation's thread).
    #[track_caller]
    pub fn blocking_acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        assert_not_simulated("Semaphore::blocking_acquire", "acquire().await");
        block_on(self.acquire_many_at(1, "Semaphore::blocking_acquire", Location::caller()))
    }

    /// Waits for `n` permits from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        assert_not_simulated("Semaphore::blocking_acquire_many", "acquire_many(n).await");
        block_on(self.acquire_many_at(n, "Semaphore::blocking_acquire_many", Location::caller()))
    }

    /// Waits for one owned permit from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        assert_not_simulated("Semaphore::blocking_acquire_owned", "acquire_owned().await");
        let at = Location::caller();
        block_on(self.acquire_many_owned_at(1, "Semaphore::blocking_acquire_owned", at))
    }

    /// Waits for `n` owned permits from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        assert_not_simulated(
            "Semaphore::blocking_acquire_many_owned",
            "acquire_many_owned(n).await",
        );
        let at = Location::caller();
        block_on(self.acquire_many_owned_at(n, "Semaphore::blocking_acquire_many_owned", at))
    }

    /// Closes the semaphore: queued and later acquires fail; permits held stay valid.
    pub fn close(&self) {
        self.batch.close();
    }

    /// Whether [`Semaphore::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.batch.is_closed()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.batch.fmt(f)
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.sem.batch.forget(self.key, self.permits);
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Semaphore {
        self.sem
    }

    /// Moves `n` of these permits into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        let key = self.sem.batch.split(self.key, n);
        self.permits -= n;
        Some(SemaphorePermit {
            sem: self.sem,
            key,
            permits: n,
        })
    }

    /// Takes `other`'s permits into this one.
    ///
    /// # Panics
    /// If they come from different semaphores (at the caller).
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            std::ptr::eq(self.sem, other.sem),
            "merging permits from different semaphores"
        );
        self.sem.batch.merge(self.key, other.key, other.permits);
        self.permits += other.permits;
        other.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.batch.release(self.key, self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.sem.batch.forget(self.key, self.permits);
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Moves `n` of these permits into a new permit; `None` if this holds fewer.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        let key = self.sem.batch.split(self.key, n);
        self.permits -= n;
        Some(OwnedSemaphorePermit {
            sem: self.sem.clone(),
            key,
            permits: n,
        })
    }

    /// Takes `other`'s permits into this one.
    ///
    /// # Panics
    /// If they come from different semaphores (at the caller).
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "merging permits from different semaphores"
        );
        self.sem.batch.merge(self.key, other.key, other.permits);
        self.permits += other.permits;
        other.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.batch.release(self.key, self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

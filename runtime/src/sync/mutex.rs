//! [`Mutex`]: tokio's async mutex, fair, with its holder recorded.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use parking_lot::{ArcMutexGuard, RawMutex};

use super::batch::{Batch, OwnedRelease, Release};
use super::{Kind, TryLockError, assert_not_simulated, block_on};

/// An async mutex, as tokio's: `lock().await` waits its turn (first come, first
/// served); the guard may be held across `.await`. The task holding it and where it
/// locked it are recorded, so a deadlock report names them.
pub struct Mutex<T> {
    batch: Batch,
    data: Arc<parking_lot::Mutex<T>>,
}

/// A locked [`Mutex`]; unlocks when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    // Field order is drop order: the data unlocks before the permit goes back.
    data: parking_lot::MutexGuard<'a, T>,
    lock: &'a Mutex<T>,
    _permit: Release<'a>,
}

/// A [`MutexGuard`] narrowed to a part of the value ([`MutexGuard::map`]).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MappedMutexGuard<'a, T> {
    data: parking_lot::MappedMutexGuard<'a, T>,
    _permit: Release<'a>,
}

/// A locked `Arc<Mutex>` ([`Mutex::lock_owned`]); unlocks when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct OwnedMutexGuard<T> {
    data: ArcMutexGuard<RawMutex, T>,
    _permit: OwnedRelease,
    lock: Arc<Mutex<T>>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Mutex {
            batch: Batch::new(1, Kind::Mutex, Location::caller()),
            data: Arc::new(parking_lot::Mutex::new(value)),
        }
    }

    /// tokio's `const_new`; not `const` here (the lock allocates its state when
    /// created), so it serves wherever a value is expected, but not in a `static`.
    #[track_caller]
    pub fn const_new(value: T) -> Self {
        Mutex::new(value)
    }

    /// The data, once the permit is taken: never contended.
    fn data(&self) -> parking_lot::MutexGuard<'_, T> {
        self.data
            .try_lock()
            .expect("the holder of a Mutex's permit has its value to itself")
    }

    /// Waits for the lock (cancellation-safe: a dropped `lock()` leaves the queue).
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> + '_ {
        let acquire = self.batch.acquire(1, "Mutex::lock", Location::caller());
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("a Mutex is never closed"));
            self.guard(key)
        }
    }

    fn guard(&self, key: u64) -> MutexGuard<'_, T> {
        MutexGuard {
            data: self.data(),
            lock: self,
            _permit: Release {
                batch: &self.batch,
                key,
                permits: 1,
            },
        }
    }

    /// The lock if it is free now.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(1, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.guard(key))
    }

    /// Locks from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation (it would block the simulation's thread).
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        assert_not_simulated("Mutex::blocking_lock", "lock().await");
        block_on(self.lock())
    }

    /// Waits for the lock of an `Arc<Mutex>`, owned.
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let acquire = self
            .batch
            .acquire(1, "Mutex::lock_owned", Location::caller());
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("a Mutex is never closed"));
            self.owned_guard(key)
        }
    }

    fn owned_guard(self: Arc<Self>, key: u64) -> OwnedMutexGuard<T> {
        let data = self
            .data
            .try_lock_arc()
            .expect("the holder of a Mutex's permit has its value to itself");
        OwnedMutexGuard {
            data,
            _permit: OwnedRelease {
                batch: self.batch.clone(),
                key,
                permits: 1,
            },
            lock: self,
        }
    }

    /// The owned lock if it is free now.
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(1, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.owned_guard(key))
    }

    /// Locks an `Arc<Mutex>` from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        assert_not_simulated("Mutex::blocking_lock_owned", "lock_owned().await");
        block_on(self.lock_owned())
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        Arc::get_mut(&mut self.data)
            .expect("no guard outlives a `&mut Mutex`")
            .get_mut()
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        match Arc::try_unwrap(self.data) {
            Ok(data) => data.into_inner(),
            Err(_) => unreachable!("no guard outlives the Mutex it borrows"),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.batch.is_idle() {
            true => match self.data.try_lock() {
                Some(data) => d.field("data", &&*data),
                None => d.field("data", &format_args!("<locked>")),
            },
            false => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// Narrows the guard to a part of the value.
    pub fn map<U, F: FnOnce(&mut T) -> &mut U>(this: Self, f: F) -> MappedMutexGuard<'a, U> {
        let MutexGuard { data, _permit, .. } = this;
        MappedMutexGuard {
            data: parking_lot::MutexGuard::map(data, f),
            _permit,
        }
    }

    /// Narrows the guard to a part of the value, or gives it back.
    pub fn try_map<U, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        let MutexGuard {
            data,
            lock,
            _permit,
        } = this;
        match parking_lot::MutexGuard::try_map(data, f) {
            Ok(data) => Ok(MappedMutexGuard { data, _permit }),
            Err(data) => Err(MutexGuard {
                data,
                lock,
                _permit,
            }),
        }
    }

    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

macro_rules! guard_impls {
    ($guard:ident $(<$lt:lifetime>)?) => {
        impl<$($lt,)? T> Deref for $guard<$($lt,)? T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.data
            }
        }

        impl<$($lt,)? T> DerefMut for $guard<$($lt,)? T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.data
            }
        }

        impl<$($lt,)? T: fmt::Debug> fmt::Debug for $guard<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($lt,)? T: fmt::Display> fmt::Display for $guard<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

guard_impls!(MutexGuard<'a>);
guard_impls!(MappedMutexGuard<'a>);
guard_impls!(OwnedMutexGuard);

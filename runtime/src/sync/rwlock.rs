//! [`RwLock`]: tokio's async reader-writer lock, fair and write-preferring, with its
//! holders recorded.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use parking_lot::{ArcRwLockReadGuard, ArcRwLockWriteGuard, RawRwLock};

use super::batch::{Batch, OwnedRelease, Release};
use super::{Kind, TryLockError, assert_not_simulated, block_on};

/// tokio's limit on an `RwLock`'s concurrent readers.
const MAX_READS: u32 = u32::MAX >> 3;

/// An async reader-writer lock, as tokio's: `max_readers` permits, a reader takes one
/// and a writer all of them, served first in, first out, so a writer waiting holds back
/// the readers that come after it. Holders (task, call site, read or write) are
/// recorded for deadlock reports.
pub struct RwLock<T> {
    batch: Batch,
    max_readers: u32,
    data: Arc<parking_lot::RwLock<T>>,
}

/// Shared access to an [`RwLock`]'s value (or a part of it, after
/// [`RwLockReadGuard::map`]); releases when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    data: parking_lot::MappedRwLockReadGuard<'a, T>,
    _permit: Release<'a>,
}

/// Exclusive access to an [`RwLock`]'s value; releases when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    data: parking_lot::RwLockWriteGuard<'a, T>,
    lock: &'a RwLock<T>,
    _permit: Release<'a>,
}

/// A [`RwLockWriteGuard`] narrowed to a part of the value.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockMappedWriteGuard<'a, T> {
    data: parking_lot::MappedRwLockWriteGuard<'a, T>,
    _permit: Release<'a>,
}

/// Shared access to an `Arc<RwLock>`'s value; releases when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockReadGuard<T> {
    data: ArcRwLockReadGuard<RawRwLock, T>,
    _permit: OwnedRelease,
    lock: Arc<RwLock<T>>,
}

/// Exclusive access to an `Arc<RwLock>`'s value; releases when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockWriteGuard<T> {
    data: ArcRwLockWriteGuard<RawRwLock, T>,
    _permit: OwnedRelease,
    lock: Arc<RwLock<T>>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`, with tokio's reader limit.
    #[track_caller]
    pub fn new(value: T) -> Self {
        RwLock::with_max_readers_at(value, MAX_READS, Location::caller())
    }

    /// A new lock that lets at most `max_reads` readers in at once.
    ///
    /// # Panics
    /// If `max_reads` is 0 or above tokio's limit (`u32::MAX >> 3`).
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> Self {
        RwLock::with_max_readers_at(value, max_reads, Location::caller())
    }

    /// tokio's `const_new`; not `const` here (the lock allocates its state when
    /// created), so it serves wherever a value is expected, but not in a `static`.
    #[track_caller]
    pub fn const_new(value: T) -> Self {
        RwLock::with_max_readers_at(value, MAX_READS, Location::caller())
    }

    /// tokio's `const_with_max_readers`; not `const` here (see [`RwLock::const_new`]).
    ///
    /// # Panics
    /// As [`RwLock::with_max_readers`].
    #[track_caller]
    pub fn const_with_max_readers(value: T, max_reads: u32) -> Self {
        RwLock::with_max_readers_at(value, max_reads, Location::caller())
    }

    #[track_caller]
    fn with_max_readers_at(value: T, max_reads: u32, at: &'static Location<'static>) -> Self {
        assert!(
            max_reads <= MAX_READS,
            "a RwLock may not be created with more than {MAX_READS} readers"
        );
        assert!(max_reads > 0, "a RwLock may not be created with 0 readers");
        let max_readers = max_reads as usize;
        RwLock {
            batch: Batch::new(max_readers, Kind::RwLock { max_readers }, at),
            max_readers: max_reads,
            data: Arc::new(parking_lot::RwLock::new(value)),
        }
    }

    fn read_data(&self) -> parking_lot::MappedRwLockReadGuard<'_, T> {
        let guard = self
            .data
            .try_read()
            .expect("a reader of an RwLock shares its value only with readers");
        parking_lot::RwLockReadGuard::map(guard, |value| value)
    }

    fn read_guard(&self, key: u64) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            data: self.read_data(),
            _permit: Release {
                batch: &self.batch,
                key,
                permits: 1,
            },
        }
    }

    fn write_guard(&self, key: u64) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            data: self
                .data
                .try_write()
                .expect("the writer of an RwLock has its value to itself"),
            lock: self,
            _permit: Release {
                batch: &self.batch,
                key,
                permits: self.max_readers as usize,
            },
        }
    }

    /// Waits for shared access.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        let acquire = self.batch.acquire(1, "RwLock::read", Location::caller());
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("an RwLock is never closed"));
            self.read_guard(key)
        }
    }

    /// Waits for exclusive access.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        let acquire = self.batch.acquire(
            self.max_readers as usize,
            "RwLock::write",
            Location::caller(),
        );
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("an RwLock is never closed"));
            self.write_guard(key)
        }
    }

    /// Shared access if it is free now.
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(1, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.read_guard(key))
    }

    /// Exclusive access if it is free now.
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(self.max_readers as usize, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.write_guard(key))
    }

    /// Shared access from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        assert_not_simulated("RwLock::blocking_read", "read().await");
        block_on(self.read())
    }

    /// Exclusive access from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        assert_not_simulated("RwLock::blocking_write", "write().await");
        block_on(self.write())
    }

    fn owned_read_guard(self: Arc<Self>, key: u64) -> OwnedRwLockReadGuard<T> {
        OwnedRwLockReadGuard {
            data: self
                .data
                .try_read_arc()
                .expect("a reader of an RwLock shares its value only with readers"),
            _permit: OwnedRelease {
                batch: self.batch.clone(),
                key,
                permits: 1,
            },
            lock: self,
        }
    }

    fn owned_write_guard(self: Arc<Self>, key: u64) -> OwnedRwLockWriteGuard<T> {
        OwnedRwLockWriteGuard {
            data: self
                .data
                .try_write_arc()
                .expect("the writer of an RwLock has its value to itself"),
            _permit: OwnedRelease {
                batch: self.batch.clone(),
                key,
                permits: self.max_readers as usize,
            },
            lock: self,
        }
    }

    /// Waits for shared access to an `Arc<RwLock>`, owned.
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let acquire = self
            .batch
            .acquire(1, "RwLock::read_owned", Location::caller());
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("an RwLock is never closed"));
            self.owned_read_guard(key)
        }
    }

    /// Waits for exclusive access to an `Arc<RwLock>`, owned.
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let acquire = self.batch.acquire(
            self.max_readers as usize,
            "RwLock::write_owned",
            Location::caller(),
        );
        async move {
            let key = acquire
                .await
                .unwrap_or_else(|()| unreachable!("an RwLock is never closed"));
            self.owned_write_guard(key)
        }
    }

    /// Owned shared access if it is free now.
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(1, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.owned_read_guard(key))
    }

    /// Owned exclusive access if it is free now.
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let key = self
            .batch
            .try_acquire(self.max_readers as usize, Location::caller())
            .map_err(|_| TryLockError(()))?;
        Ok(self.owned_write_guard(key))
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        Arc::get_mut(&mut self.data)
            .expect("no guard outlives a `&mut RwLock`")
            .get_mut()
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        match Arc::try_unwrap(self.data) {
            Ok(data) => data.into_inner(),
            Err(_) => unreachable!("no guard outlives the RwLock it borrows"),
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.data.try_read() {
            Some(data) => d.field("data", &&*data),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<'a, T> RwLockReadGuard<'a, T> {
    /// Narrows the guard to a part of the value.
    pub fn map<U, F: FnOnce(&T) -> &U>(this: Self, f: F) -> RwLockReadGuard<'a, U> {
        let RwLockReadGuard { data, _permit } = this;
        RwLockReadGuard {
            data: parking_lot::MappedRwLockReadGuard::map(data, f),
            _permit,
        }
    }

    /// Narrows the guard to a part of the value, or gives it back.
    pub fn try_map<U, F: FnOnce(&T) -> Option<&U>>(
        this: Self,
        f: F,
    ) -> Result<RwLockReadGuard<'a, U>, Self> {
        let RwLockReadGuard { data, _permit } = this;
        match parking_lot::MappedRwLockReadGuard::try_map(data, f) {
            Ok(data) => Ok(RwLockReadGuard { data, _permit }),
            Err(data) => Err(RwLockReadGuard { data, _permit }),
        }
    }
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Narrows the guard to a part of the value.
    pub fn map<U, F: FnOnce(&mut T) -> &mut U>(this: Self, f: F) -> RwLockMappedWriteGuard<'a, U> {
        let RwLockWriteGuard { data, _permit, .. } = this;
        RwLockMappedWriteGuard {
            data: parking_lot::RwLockWriteGuard::map(data, f),
            _permit,
        }
    }

    /// Turns exclusive access into shared access to a part of the value (`f` runs
    /// before any other reader gets in).
    pub fn downgrade_map<U, F: FnOnce(&T) -> &U>(this: Self, f: F) -> RwLockReadGuard<'a, U> {
        let RwLockWriteGuard {
            data,
            lock,
            _permit,
        } = this;
        let read = parking_lot::RwLockWriteGuard::downgrade(data);
        let data = parking_lot::RwLockReadGuard::map(read, f);
        let key = _permit.key;
        std::mem::forget(_permit);
        lock.batch.give_back(key, lock.max_readers as usize - 1);
        RwLockReadGuard {
            data,
            _permit: Release {
                batch: &lock.batch,
                key,
                permits: 1,
            },
        }
    }

    /// [`RwLockWriteGuard::downgrade_map`] if `f` gives `Some`; the write guard back
    /// otherwise (no other task got in meanwhile).
    pub fn try_downgrade_map<U, F: FnOnce(&T) -> Option<&U>>(
        this: Self,
        f: F,
    ) -> Result<RwLockReadGuard<'a, U>, Self> {
        let RwLockWriteGuard {
            data,
            lock,
            _permit,
        } = this;
        let read = parking_lot::RwLockWriteGuard::downgrade(data);
        match parking_lot::RwLockReadGuard::try_map(read, f) {
            Ok(data) => {
                let key = _permit.key;
                std::mem::forget(_permit);
                lock.batch.give_back(key, lock.max_readers as usize - 1);
                Ok(RwLockReadGuard {
                    data,
                    _permit: Release {
                        batch: &lock.batch,
                        key,
                        permits: 1,
                    },
                })
            }
            Err(read) => {
                // Every permit is still ours: nobody else can take the value between
                // the read and the write.
                drop(read);
                Err(RwLockWriteGuard {
                    data: lock
                        .data
                        .try_write()
                        .expect("the writer of an RwLock has its value to itself"),
                    lock,
                    _permit,
                })
            }
        }
    }

    /// Turns exclusive access into shared access without letting a writer in between;
    /// the readers waiting behind may then enter.
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let RwLockWriteGuard {
            data,
            lock,
            _permit,
        } = self;
        let read = parking_lot::RwLockWriteGuard::downgrade(data);
        let key = _permit.key;
        std::mem::forget(_permit);
        lock.batch.give_back(key, lock.max_readers as usize - 1);
        RwLockReadGuard {
            data: parking_lot::RwLockReadGuard::map(read, |value| value),
            _permit: Release {
                batch: &lock.batch,
                key,
                permits: 1,
            },
        }
    }
}

impl<T> OwnedRwLockReadGuard<T> {
    /// The lock this guard reads.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }
}

impl<T> OwnedRwLockWriteGuard<T> {
    /// The lock this guard writes.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }

    /// Turns exclusive access into shared access without letting a writer in between.
    pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
        let OwnedRwLockWriteGuard {
            data,
            _permit,
            lock,
        } = self;
        let read = ArcRwLockWriteGuard::downgrade(data);
        let key = _permit.key;
        std::mem::forget(_permit);
        lock.batch.give_back(key, lock.max_readers as usize - 1);
        OwnedRwLockReadGuard {
            data: read,
            _permit: OwnedRelease {
                batch: lock.batch.clone(),
                key,
                permits: 1,
            },
            lock,
        }
    }
}

macro_rules! read_impls {
    ($guard:ident $(<$lt:lifetime>)?) => {
        impl<$($lt,)? T> Deref for $guard<$($lt,)? T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.data
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

macro_rules! write_impls {
    ($guard:ident $(<$lt:lifetime>)?) => {
        read_impls!($guard $(<$lt>)?);

        impl<$($lt,)? T> DerefMut for $guard<$($lt,)? T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.data
            }
        }
    };
}

read_impls!(RwLockReadGuard<'a>);
read_impls!(OwnedRwLockReadGuard);
write_impls!(RwLockWriteGuard<'a>);
write_impls!(RwLockMappedWriteGuard<'a>);
write_impls!(OwnedRwLockWriteGuard);

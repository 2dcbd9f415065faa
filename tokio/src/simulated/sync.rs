//! `tokio::sync`: the locks, semaphores, `Notify` and `Barrier` are detsim's simulated
//! ones ([`detsim::sync`]), with tokio's API and fairness, which record who holds them
//! and where, so that a deadlock report shows the wait-for graph; `blocking_*` calls
//! inside a simulation panic, as tokio's do inside a runtime. The channels (`oneshot`,
//! `broadcast`, `watch`, `mpsc`) and `OnceCell`/`SetOnce` are real tokio's, which need
//! no runtime. The one method that needs tokio's timer, `mpsc::Sender::send_timeout`,
//! is shadowed: [`mpsc::Sender`] wraps tokio's sender (every other method is tokio's,
//! through `Deref`) and times out on the virtual clock.

pub use tokio::sync::*;

// Named items shadow the glob above: these are the simulated ones.
pub use detsim_runtime::sync::{
    AcquireError, Barrier, BarrierWaitResult, MappedMutexGuard, Mutex, MutexGuard, Notify,
    OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit, RwLock,
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard, Semaphore, SemaphorePermit,
    TryAcquireError, TryLockError,
};

/// The futures of `tokio::sync` that have names (`Notify::notified`'s and
/// `Notify::notified_owned`'s).
pub mod futures {
    pub use detsim_runtime::sync::{Notified, OwnedNotified};
}

/// tokio's `mpsc`, with a [`Sender`](mpsc::Sender) whose `send_timeout` uses the
/// virtual clock.
pub mod mpsc {
    use std::fmt;
    use std::ops::Deref;
    use std::time::Duration;

    pub use tokio::sync::mpsc::{
        OwnedPermit, Permit, PermitIterator, Receiver, UnboundedReceiver, UnboundedSender,
        WeakUnboundedSender, error, unbounded_channel,
    };

    use error::{SendError, SendTimeoutError, TrySendError};

    /// A bounded channel of capacity `buffer` (tokio's `mpsc::channel`).
    ///
    /// # Panics
    /// If `buffer` is 0.
    pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
        let (inner, receiver) = tokio::sync::mpsc::channel(buffer);
        (Sender { inner }, receiver)
    }

    /// tokio's bounded `Sender`; every method but the ones below is tokio's own,
    /// reached through `Deref`.
    pub struct Sender<T> {
        inner: tokio::sync::mpsc::Sender<T>,
    }

    impl<T> Sender<T> {
        /// Sends `value`, waiting at most `timeout` of virtual time for capacity.
        pub async fn send_timeout(
            &self,
            value: T,
            timeout: Duration,
        ) -> Result<(), SendTimeoutError<T>> {
            match crate::time::timeout(timeout, self.inner.reserve()).await {
                Ok(Ok(permit)) => {
                    permit.send(value);
                    Ok(())
                }
                Ok(Err(_)) => Err(SendTimeoutError::Closed(value)),
                Err(_) => Err(SendTimeoutError::Timeout(value)),
            }
        }

        /// Waits for capacity and gives an owned permit (tokio's `reserve_owned`).
        pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
            self.inner.reserve_owned().await
        }

        /// An owned permit if there is capacity now (tokio's `try_reserve_owned`).
        pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
            self.inner.try_reserve_owned().map_err(|error| match error {
                TrySendError::Full(inner) => TrySendError::Full(Sender { inner }),
                TrySendError::Closed(inner) => TrySendError::Closed(Sender { inner }),
            })
        }

        /// A weak sender that does not keep the channel open.
        pub fn downgrade(&self) -> WeakSender<T> {
            WeakSender {
                inner: self.inner.downgrade(),
            }
        }

        /// Whether both senders send to the same channel.
        pub fn same_channel(&self, other: &Self) -> bool {
            self.inner.same_channel(&other.inner)
        }

        /// tokio's sender inside.
        pub fn into_inner(self) -> tokio::sync::mpsc::Sender<T> {
            self.inner
        }
    }

    impl<T> Deref for Sender<T> {
        type Target = tokio::sync::mpsc::Sender<T>;

        fn deref(&self) -> &Self::Target {
            &self.inner
        }
    }

    impl<T> From<tokio::sync::mpsc::Sender<T>> for Sender<T> {
        fn from(inner: tokio::sync::mpsc::Sender<T>) -> Self {
            Sender { inner }
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            Sender {
                inner: self.inner.clone(),
            }
        }
    }

    impl<T> fmt::Debug for Sender<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }

    /// tokio's `WeakSender`, upgrading to this module's [`Sender`].
    pub struct WeakSender<T> {
        inner: tokio::sync::mpsc::WeakSender<T>,
    }

    impl<T> WeakSender<T> {
        /// A sender, if the channel is still open.
        pub fn upgrade(&self) -> Option<Sender<T>> {
            self.inner.upgrade().map(|inner| Sender { inner })
        }

        /// The number of senders.
        pub fn strong_count(&self) -> usize {
            self.inner.strong_count()
        }

        /// The number of weak senders.
        pub fn weak_count(&self) -> usize {
            self.inner.weak_count()
        }
    }

    impl<T> Clone for WeakSender<T> {
        fn clone(&self) -> Self {
            WeakSender {
                inner: self.inner.clone(),
            }
        }
    }

    impl<T> fmt::Debug for WeakSender<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }
}

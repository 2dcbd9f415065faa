//! The bounded channel: [`Sender`], [`Receiver`], [`WeakSender`] and the permits.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::chan::Chan;
use super::error::{SendError, SendTimeoutError, TryRecvError, TrySendError};
use crate::sync::batch::TryError;
use crate::sync::{assert_not_simulated, block_on};

/// The sending half of a bounded channel ([`channel`]); clone it for more senders.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// A sender that does not keep the channel open; [`WeakSender::upgrade`] gives a
/// [`Sender`] while one still exists.
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a bounded channel ([`channel`]).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// Capacity for one message, reserved by [`Sender::reserve`]; dropping it unused gives
/// the capacity back.
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
    key: u64,
    live: bool,
}

/// Capacity for several messages ([`Sender::reserve_many`]), handed out one
/// [`Permit`] at a time.
pub struct PermitIterator<'a, T> {
    chan: &'a Chan<T>,
    key: u64,
    n: usize,
}

/// [`Permit`] that owns its [`Sender`] ([`Sender::reserve_owned`]).
pub struct OwnedPermit<T> {
    sender: Option<Sender<T>>,
    key: u64,
}

/// A bounded channel of capacity `buffer`: a sender waits (in the order senders came)
/// while `buffer` messages are queued or reserved.
///
/// # Panics
/// If `buffer` is 0.
#[track_caller]
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    let chan = Chan::new(Some(buffer), Location::caller());
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Waits for capacity (first come, first served), reserving `n` messages' worth;
    /// the holder key. Fails if the channel is closed, or `n` exceeds its capacity.
    fn reserve_at(
        &self,
        n: usize,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> impl Future<Output = Result<u64, SendError<()>>> {
        let acquire = (n <= self.chan.bound()).then(|| self.chan.capacity().acquire(n, op, at));
        async move {
            let acquire = acquire.ok_or(SendError(()))?;
            // A reserve that fails or is cancelled while assigned part of its permits
            // gives them back: a closed channel may then be finished for the receiver.
            let mut guard = WakeRxOnDrop {
                chan: &self.chan,
                armed: true,
            };
            let key = acquire.await.map_err(|()| SendError(()))?;
            if self.chan.is_rx_closed() {
                // Granted before the close, seen after it: it fails, as in tokio.
                self.chan.capacity().release(key, n);
                return Err(SendError(()));
            }
            guard.armed = false;
            Ok(key)
        }
    }

    /// Sends `value`, waiting for capacity; fails (giving the value back) if the
    /// receiver closed the channel or is gone. Cancellation-safe: dropping the future
    /// sends nothing and keeps no place in the queue.
    #[track_caller]
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        let reserve = self.reserve_at(1, "mpsc::Sender::send", Location::caller());
        async move {
            match reserve.await {
                Ok(key) => {
                    self.chan.send_with_permit(key, value);
                    Ok(())
                }
                Err(SendError(())) => Err(SendError(value)),
            }
        }
    }

    /// Sends `value` if there is capacity now.
    #[track_caller]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.capacity().try_acquire(1, Location::caller()) {
            Ok(key) => {
                self.chan.send_with_permit(key, value);
                Ok(())
            }
            Err(TryError::Closed) => Err(TrySendError::Closed(value)),
            Err(TryError::NoPermits) => Err(TrySendError::Full(value)),
        }
    }

    /// Sends `value`, waiting at most `timeout` of virtual time for capacity.
    ///
    /// # Panics
    /// When polled outside a simulation, with tokio's "there is no reactor running".
    #[track_caller]
    pub fn send_timeout(
        &self,
        value: T,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), SendTimeoutError<T>>> + '_ {
        let reserve = self.reserve_at(1, "mpsc::Sender::send_timeout", Location::caller());
        async move {
            // tokio's words, as its timer panics outside a runtime.
            assert!(
                crate::in_simulation(),
                "`mpsc::Sender::send_timeout` was polled outside a simulation: there is no \
                 reactor running, must be called from the context of a Tokio 1.x runtime \
                 (its timeout runs on the simulation's clock)"
            );
            match crate::time::timeout(timeout, reserve).await {
                Ok(Ok(key)) => {
                    self.chan.send_with_permit(key, value);
                    Ok(())
                }
                Ok(Err(_)) => Err(SendTimeoutError::Closed(value)),
                Err(_) => Err(SendTimeoutError::Timeout(value)),
            }
        }
    }

    /// Sends from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation (it would block the simulation's thread), as tokio's does
    /// inside a runtime.
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        assert_not_simulated("mpsc::Sender::blocking_send", "send(value).await");
        block_on(self.send(value))
    }

    /// Completes once the receiver closed the channel or is gone.
    #[track_caller]
    pub fn closed(&self) -> impl Future<Output = ()> + use<T> {
        self.chan.closed("mpsc::Sender::closed", Location::caller())
    }

    /// Whether the receiver closed the channel or is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_rx_closed()
    }

    /// Waits for capacity for one message and reserves it.
    #[track_caller]
    pub fn reserve(&self) -> impl Future<Output = Result<Permit<'_, T>, SendError<()>>> + '_ {
        let reserve = self.reserve_at(1, "mpsc::Sender::reserve", Location::caller());
        async move {
            let key = reserve.await?;
            Ok(Permit {
                chan: &self.chan,
                key,
                live: true,
            })
        }
    }

    /// Waits for capacity for `n` messages at once and reserves it; fails at once if
    /// `n` exceeds the channel's capacity.
    #[track_caller]
    pub fn reserve_many(
        &self,
        n: usize,
    ) -> impl Future<Output = Result<PermitIterator<'_, T>, SendError<()>>> + '_ {
        let reserve = self.reserve_at(n, "mpsc::Sender::reserve_many", Location::caller());
        async move {
            let key = reserve.await?;
            Ok(PermitIterator::new(&self.chan, key, n))
        }
    }

    /// [`Sender::reserve`], moving the sender into the permit.
    #[track_caller]
    pub fn reserve_owned(self) -> impl Future<Output = Result<OwnedPermit<T>, SendError<()>>> {
        let at = Location::caller();
        async move {
            let key = self
                .reserve_at(1, "mpsc::Sender::reserve_owned", at)
                .await?;
            Ok(OwnedPermit {
                sender: Some(self),
                key,
            })
        }
    }

    /// Reserves capacity for one message if there is some now.
    #[track_caller]
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let key = self.try_reserve_at(1, Location::caller())?;
        Ok(Permit {
            chan: &self.chan,
            key,
            live: true,
        })
    }

    /// Reserves capacity for `n` messages if there is that much now.
    #[track_caller]
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        if n > self.chan.bound() {
            return Err(TrySendError::Full(()));
        }
        let key = self.try_reserve_at(n, Location::caller())?;
        Ok(PermitIterator::new(&self.chan, key, n))
    }

    /// [`Sender::try_reserve`], moving the sender into the permit (or giving it back).
    #[track_caller]
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        match self.try_reserve_at(1, Location::caller()) {
            Ok(key) => Ok(OwnedPermit {
                sender: Some(self),
                key,
            }),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }

    fn try_reserve_at(
        &self,
        n: usize,
        at: &'static Location<'static>,
    ) -> Result<u64, TrySendError<()>> {
        self.chan
            .capacity()
            .try_acquire(n, at)
            .map_err(|error| match error {
                TryError::Closed => TrySendError::Closed(()),
                TryError::NoPermits => TrySendError::Full(()),
            })
    }

    /// Whether both send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Messages that could be sent now without waiting.
    pub fn capacity(&self) -> usize {
        self.chan.capacity().available()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound()
    }

    /// A [`WeakSender`] of the same channel.
    pub fn downgrade(&self) -> WeakSender<T> {
        self.chan.add_weak();
        WeakSender {
            chan: self.chan.clone(),
        }
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

/// Wakes the receiver of a closed channel when a `reserve` ends without its permits.
struct WakeRxOnDrop<'a, T> {
    chan: &'a Chan<T>,
    armed: bool,
}

impl<T> Drop for WakeRxOnDrop<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.chan.wake_rx_if_closed();
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("chan", &self.chan).finish()
    }
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if one still exists.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        self.chan.upgrade().then(|| Sender {
            chan: self.chan.clone(),
        })
    }

    /// How many senders there are.
    pub fn strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_weak();
        WeakSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for WeakSender<T> {
    fn drop(&mut self) {
        self.chan.drop_weak();
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The next message; `None` once the channel is closed and drained.
    /// Cancellation-safe: a message is taken only when the future completes.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        let at = Location::caller();
        poll_fn(move |cx| self.chan.poll_recv(cx, "mpsc::Receiver::recv", at))
    }

    /// Up to `limit` messages into `buffer` (at least one, unless the channel is closed
    /// and drained or `limit` is 0); how many.
    #[track_caller]
    pub fn recv_many<'a>(
        &'a mut self,
        buffer: &'a mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + 'a {
        let at = Location::caller();
        poll_fn(move |cx| {
            self.chan
                .poll_recv_many(cx, buffer, limit, "mpsc::Receiver::recv_many", at)
        })
    }

    /// The next message if one is queued now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation, as tokio's does inside a runtime.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        assert_not_simulated("mpsc::Receiver::blocking_recv", "recv().await");
        block_on(self.recv())
    }

    /// [`Receiver::recv_many`] from synchronous code outside any runtime.
    ///
    /// # Panics
    /// Inside a simulation.
    #[track_caller]
    pub fn blocking_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        assert_not_simulated("mpsc::Receiver::blocking_recv_many", "recv_many().await");
        block_on(self.recv_many(buffer, limit))
    }

    /// Closes the channel: sends and waiting reserves fail from now on, permits already
    /// reserved may still send, and queued messages can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Whether the channel is closed: by [`Receiver::close`], or every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Messages that could be sent now without waiting.
    pub fn capacity(&self) -> usize {
        self.chan.capacity().available()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound()
    }

    /// Polls for the next message (the poll behind [`Receiver::recv`]).
    #[track_caller]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan
            .poll_recv(cx, "mpsc::Receiver::poll_recv", Location::caller())
    }

    /// Polls for up to `limit` messages (the poll behind [`Receiver::recv_many`]).
    #[track_caller]
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let at = Location::caller();
        self.chan
            .poll_recv_many(cx, buffer, limit, "mpsc::Receiver::poll_recv_many", at)
    }

    /// How many senders there are.
    pub fn sender_strong_count(&self) -> usize {
        self.chan.strong_count()
    }

    /// How many weak senders there are.
    pub fn sender_weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_rx();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &self.chan)
            .finish()
    }
}

impl<T> Permit<'_, T> {
    /// Sends `value` with the reserved capacity; it is queued even if the receiver
    /// closed the channel meanwhile.
    pub fn send(mut self, value: T) {
        self.live = false;
        self.chan.send_with_permit(self.key, value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        if self.live {
            self.chan.release(self.key, 1);
        }
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("chan", &self.chan).finish()
    }
}

impl<'a, T> PermitIterator<'a, T> {
    fn new(chan: &'a Chan<T>, key: u64, n: usize) -> Self {
        if n == 0 {
            chan.release(key, 0);
        }
        PermitIterator { chan, key, n }
    }
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        let key = match self.n {
            0 => return None,
            1 => self.key,
            _ => self.chan.capacity().split(self.key, 1),
        };
        self.n -= 1;
        Some(Permit {
            chan: self.chan,
            key,
            live: true,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n, Some(self.n))
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}

impl<T> std::iter::FusedIterator for PermitIterator<'_, T> {}

impl<T> Drop for PermitIterator<'_, T> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.chan.release(self.key, self.n);
        }
    }
}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitIterator")
            .field("chan", &self.chan)
            .field("capacity", &self.n)
            .finish()
    }
}

impl<T> OwnedPermit<T> {
    /// Sends `value` with the reserved capacity; the sender back.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.sender.take().expect("an owned permit has its sender");
        sender.chan.send_with_permit(self.key, value);
        sender
    }

    /// Gives the capacity back unused; the sender back.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("an owned permit has its sender");
        sender.chan.release(self.key, 1);
        sender
    }

    /// Whether both permits send to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        match (&self.sender, &other.sender) {
            (Some(a), Some(b)) => a.same_channel(b),
            _ => false,
        }
    }

    /// Whether this permit sends to `sender`'s channel.
    pub fn same_channel_as_sender(&self, sender: &Sender<T>) -> bool {
        self.sender.as_ref().is_some_and(|s| s.same_channel(sender))
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = &self.sender {
            sender.chan.release(self.key, 1);
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("chan", &self.sender.as_ref().map(|s| &s.chan))
            .finish()
    }
}

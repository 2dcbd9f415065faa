//! The shared key-value state and the background task that expires keys.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{self, Instant};

/// A handle to the shared state; cheap to clone. The expiry task stops when the last
/// [`DbGuard`] is dropped.
#[derive(Debug, Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the expiry task: a new earliest deadline, or shutdown.
    expiry_task: Notify,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Deadlines in order; ties broken by key, so the order never depends on hashing.
    expirations: BTreeSet<(Instant, String)>,
    shutdown: bool,
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires_at: Option<Instant>,
}

/// Owns the database's lifetime: dropping it stops the expiry task.
#[derive(Debug)]
pub struct DbGuard {
    db: Db,
}

impl DbGuard {
    /// A new, empty database and its expiry task (spawned on the current runtime).
    pub fn new() -> DbGuard {
        let db = Db {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                expiry_task: Notify::new(),
            }),
        };
        tokio::spawn(expire_keys(db.shared.clone()));
        DbGuard { db }
    }

    /// The database.
    pub fn db(&self) -> Db {
        self.db.clone()
    }
}

impl Default for DbGuard {
    fn default() -> Self {
        DbGuard::new()
    }
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        self.db.shared.lock().shutdown = true;
        self.db.shared.expiry_task.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes every key whose deadline has passed; gives the next deadline.
    fn purge_expired_keys(&self) -> Option<Instant> {
        let mut state = self.lock();
        if state.shutdown {
            return None;
        }
        let now = Instant::now();
        while let Some((when, key)) = state.expirations.first().cloned() {
            if when > now {
                return Some(when);
            }
            state.entries.remove(&key);
            state.expirations.remove(&(when, key));
        }
        None
    }

    fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }
}

/// The background task: sleeps until the earliest deadline (or until told of an
/// earlier one), removes what expired, and stops at shutdown.
async fn expire_keys(shared: Arc<Shared>) {
    while !shared.is_shutdown() {
        if let Some(when) = shared.purge_expired_keys() {
            tokio::select! {
                _ = time::sleep_until(when) => {}
                _ = shared.expiry_task.notified() => {}
            }
        } else {
            shared.expiry_task.notified().await;
        }
    }
}

impl Db {
    /// The value of `key`, if set and not expired.
    pub fn get(&self, key: &str) -> Option<String> {
        let state = self.shared.lock();
        state.entries.get(key).map(|entry| entry.value.clone())
    }

    /// Sets `key` to `value`, expiring after `expire` if given.
    pub fn set(&self, key: String, value: String, expire: Option<Duration>) {
        let mut state = self.shared.lock();
        let expires_at = expire.map(|d| Instant::now() + d);
        // Wake the expiry task only when this deadline is the new earliest one.
        let notify = expires_at.is_some_and(|when| {
            state
                .expirations
                .first()
                .is_none_or(|(earliest, _)| when < *earliest)
        });
        let previous = state
            .entries
            .insert(key.clone(), Entry { value, expires_at });
        if let Some(when) = previous.and_then(|entry| entry.expires_at) {
            state.expirations.remove(&(when, key.clone()));
        }
        if let Some(when) = expires_at {
            state.expirations.insert((when, key));
        }
        drop(state);
        if notify {
            self.shared.expiry_task.notify_one();
        }
    }

    /// Removes `key`; whether it was there.
    pub fn del(&self, key: &str) -> bool {
        let mut state = self.shared.lock();
        match state.entries.remove(key) {
            Some(entry) => {
                if let Some(when) = entry.expires_at {
                    state.expirations.remove(&(when, key.to_owned()));
                }
                true
            }
            None => false,
        }
    }
}

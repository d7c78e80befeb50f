//! A swappable guest handle: what triggers (the HTTP server, subscriptions) hold instead of a
//! concrete [`Guest`], so that a new version can replace the running one without closing a
//! listener or re-subscribing.
//!
//! Each call *pins* the guest current when it starts and finishes on it, so a swap never cuts a
//! call in half: calls already running finish on the old version, the next call starts on the
//! new one. The handle counts calls in flight, which is how a host drains before it stops
//! (`SIGTERM`) or retires a replaced version.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use waxosuit_proto::v1::{Command, Event};

use crate::error::CallError;
use crate::host::Guest;

/// A handle on whichever version of a guest is current. Cheap to clone; every clone sees the
/// same current guest.
#[derive(Clone)]
pub struct LiveGuest {
    inner: Arc<LiveInner>,
}

struct LiveInner {
    current: RwLock<Guest>,
    in_flight: AtomicUsize,
    /// Held only to wait for, and signal, "no call in flight".
    idle_lock: Mutex<()>,
    idle: Condvar,
}

impl std::fmt::Debug for LiveGuest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGuest")
            .field("current", &self.current().name().to_string())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl LiveGuest {
    /// A handle whose current guest is `guest`.
    pub fn new(guest: Guest) -> Self {
        Self {
            inner: Arc::new(LiveInner {
                current: RwLock::new(guest),
                in_flight: AtomicUsize::new(0),
                idle_lock: Mutex::new(()),
                idle: Condvar::new(),
            }),
        }
    }

    /// The guest current now (a clone; later swaps do not change it).
    pub fn current(&self) -> Guest {
        // A poisoned lock still holds a whole `Guest`: replacing it is a single assignment.
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Pins the current guest for one call; the call counts as in flight until the
    /// [`Pinned`] is dropped.
    pub fn pin(&self) -> Pinned {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        Pinned {
            guest: self.current(),
            live: Arc::clone(&self.inner),
        }
    }

    /// Calls the current guest (see [`Guest::call`]); a swap during the call does not affect it.
    pub fn call(&self, command: &Command) -> Result<Event, CallError> {
        self.pin().guest().call(command)
    }

    /// Makes `next` the current guest and returns the one it replaces. Calls already running
    /// finish on the old one.
    pub fn swap(&self, next: Guest) -> Guest {
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, next)
    }

    /// Calls in flight right now, on any version.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no call is in flight, for at most `timeout`; `true` when idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .inner
            .idle_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while self.in_flight() > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .inner
                .idle
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// One call's hold on the guest version it started on.
pub struct Pinned {
    guest: Guest,
    live: Arc<LiveInner>,
}

impl Pinned {
    /// The pinned guest.
    pub fn guest(&self) -> &Guest {
        &self.guest
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if self.live.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taking the lock orders this wake-up after a waiter's check, so it is not lost.
            let _guard = self
                .live
                .idle_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.live.idle.notify_all();
        }
    }
}

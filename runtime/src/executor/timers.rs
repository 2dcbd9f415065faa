//! The core's timers: arming, cancelling and firing, in virtual time.
//!
//! Invariants: the clock moves only in `fire_timers`, to the earliest deadline, and
//! every timer due at that instant fires in arming order (the `(deadline, seq)` key).

use std::task::{Context, Waker};
use std::time::Duration;

use super::Core;
use crate::time::{Instant, TimerKey};
use crate::trace::EventKind;

impl Core {
    /// Advances the clock to the earliest timer and takes every timer due then, in
    /// arming order. Returns false when no timer is armed.
    pub(super) fn fire_timers(&mut self, wakers: &mut Vec<Waker>) -> bool {
        let Some((&(deadline, _), _)) = self.timers.first_key_value() else {
            return false;
        };
        self.now = deadline;
        self.record(EventKind::TimeJump {
            to: Duration::from_nanos(deadline),
        });
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 != deadline {
                break;
            }
            wakers.push(entry.remove());
        }
        true
    }

    pub(crate) fn poll_timer(
        &mut self,
        deadline: Instant,
        timer: &mut Option<TimerKey>,
        cx: &mut Context<'_>,
    ) -> (bool, Option<Waker>) {
        let deadline = deadline.as_nanos();
        if let Some(key) = *timer
            && key.epoch != self.epoch
        {
            panic!("a detsim Sleep was polled in a different run from the one that armed it");
        }
        if self.now >= deadline {
            let waker = timer
                .take()
                .and_then(|key| self.timers.remove(&(key.deadline, key.seq)));
            return (true, waker);
        }
        if let Some(key) = *timer
            && let Some(waker) = self.timers.get_mut(&(key.deadline, key.seq))
        {
            if !waker.will_wake(cx.waker()) {
                return (false, Some(std::mem::replace(waker, cx.waker().clone())));
            }
            return (false, None);
        }
        let seq = self.timer_seq;
        self.timer_seq += 1;
        self.timers.insert((deadline, seq), cx.waker().clone());
        *timer = Some(TimerKey {
            deadline,
            seq,
            epoch: self.epoch,
        });
        (false, None)
    }

    pub(crate) fn cancel_timer(&mut self, key: TimerKey) -> Option<Waker> {
        if key.epoch != self.epoch {
            return None;
        }
        self.timers.remove(&(key.deadline, key.seq))
    }

    pub(crate) fn clear_timers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.timers).into_values().collect()
    }
}

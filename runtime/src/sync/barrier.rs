//! [`Barrier`]: tokio's barrier, with every wait noted for reports.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::wait::{self, WaitKind};
use crate::waker;

/// Lets `n` tasks wait for each other, as tokio's `Barrier`: the `n`-th `wait()`
/// releases the others and is the leader; the barrier then starts over.
pub struct Barrier {
    n: usize,
    state: Mutex<State>,
}

struct State {
    arrived: usize,
    generation: u64,
    wakers: Vec<Waker>,
}

/// What [`Barrier::wait`] gives: whether this task was the leader (the last to come).
#[derive(Debug, Clone, Copy)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this task released the others.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks (0 counts as 1, as in tokio).
    pub fn new(n: usize) -> Self {
        Barrier {
            n: n.max(1),
            state: Mutex::new(State {
                arrived: 0,
                generation: 0,
                wakers: Vec::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `n` tasks wait here.
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = BarrierWaitResult> + '_ {
        Wait {
            barrier: self,
            generation: None,
            at: Location::caller(),
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .field("arrived", &self.state().arrived)
            .finish()
    }
}

struct Wait<'a> {
    barrier: &'a Barrier,
    generation: Option<u64>,
    at: &'static Location<'static>,
}

impl Future for Wait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        {
            let mut state = this.barrier.state();
            match this.generation {
                None => {
                    state.arrived += 1;
                    if state.arrived == this.barrier.n {
                        state.arrived = 0;
                        state.generation += 1;
                        let wakers = std::mem::take(&mut state.wakers);
                        drop(state);
                        wakers.into_iter().for_each(Waker::wake);
                        return Poll::Ready(BarrierWaitResult(true));
                    }
                    this.generation = Some(state.generation);
                    state.wakers.push(cx.waker().clone());
                }
                Some(generation) if generation != state.generation => {
                    return Poll::Ready(BarrierWaitResult(false));
                }
                Some(_) => {
                    if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        state.wakers.push(cx.waker().clone());
                    }
                }
            }
        }
        if !waker::is_quiet(cx.waker()) {
            wait::record_at(WaitKind::Other("Barrier::wait"), this.at);
        }
        Poll::Pending
    }
}

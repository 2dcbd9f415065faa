//! An independent reference model of asyncio's event loop, which predicts
//! the [`Step`] sequence of a [`Program`] under detsim's `fifo` scheduler.
//!
//! The loop is asyncio's `BaseEventLoop._run_once` with virtual time: one
//! FIFO ready queue, and a heap of timers that is only consulted when the
//! queue is empty; the clock then jumps to the earliest deadline and every
//! timer due at that instant fires, in arming order. (Popping one task at a
//! time from a FIFO queue runs each iteration's batch, "what was ready when
//! the iteration began", in the same order.)
//!
//! Task semantics replayed here, per the asyncio digest in `shared/`:
//! - `spawn` enqueues the child; it first runs after the creator's poll.
//! - A sleep whose deadline has been reached (`sleep(0)`) yields once, as
//!   asyncio's `sleep(0)` does: the task goes to the back of the queue.
//!   A dropped sleep cancels its timer.
//! - Wakers stay registered until used: a join handle polled by a `timeout`
//!   that ran out still wakes the parent when the child ends, wherever the
//!   parent waits then, and a woken task that finds nothing ready parks
//!   again.
//! - A wake enqueues the task at the back unless it is queued already; what
//!   a poll spawns and wakes joins the queue when the poll ends, in the
//!   order it happened (see [`WakeOrder`]);
//!   `yield` wakes the task itself; a task's completion wakes its parent if
//!   it is parked on the join; a send or a hang-up wakes a receiver parked on
//!   it. Awaiting a finished task or a filled channel does not suspend.
//! - `abort` of an unfinished task finishes it and drops its future at once,
//!   inside the aborting poll (detsim's `JoinHandle::abort`; asyncio instead
//!   delivers `CancelledError` at the task's next step, which in Rust can only
//!   mean dropping the future, and detsim does that without a turn). The task
//!   leaves the ready queue; its joiner is woken, then its future's drop runs
//!   the task's drop order (see [`crate::interp`]).
//!
//! The model knows nothing of detsim: it shares only the [`Program`] type.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use crate::event::Step;
use crate::program::{Link, NodeIx, Op, Peer, Program};

/// In what order the tasks a poll spawns and wakes join the ready queue.
/// Either way they join when the poll ends, and a wake of a task that is
/// queued, finished or (the polled task itself) not parked any more does
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WakeOrder {
    /// In the order they happened: asyncio's `call_soon` from
    /// `Future.set_result` and from `create_task` share one FIFO queue, so a
    /// task woken before a spawn runs before the spawned task.
    InOrder,
    /// Spawned tasks first, then the woken ones. detsim did this until its
    /// spawns were queued with the wakes (main, "Spawned tasks join the ready
    /// set in order with the wakes of the same poll"); kept to show that the
    /// differential test tells the two apart.
    SpawnsFirst,
}

/// The order detsim's `fifo` follows, which [`crate::check::matches_model`]
/// holds it to: asyncio's.
pub const DETSIM_WAKE_ORDER: WakeOrder = WakeOrder::InOrder;

/// How a run ends, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The root returned.
    Returned,
    /// The root panicked.
    Panicked,
    /// Nothing ready, no timer, the root unfinished (never, for a lowered
    /// program).
    Deadlock,
}

/// What the model predicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// The polls and drops, as [`crate::event::schedule`] projects a log.
    pub steps: Vec<Step>,
    /// How the run ends.
    pub end: End,
    /// Whether some scheduling decision had two or more tasks to choose from,
    /// so that another scheduler could have made a visibly different one.
    pub has_choice: bool,
}

/// What a parked task's oneshot receiver waits on (a send or hang-up wakes
/// it only then: its waker is registered only while it waits).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Park {
    No,
    Recv(NodeIx),
}

#[derive(Clone)]
struct Task {
    pc: usize,
    queued: bool,
    done: bool,
    panicked: bool,
    park: Park,
    /// Children spawned so far, in order.
    spawned: Vec<NodeIx>,
    /// Children whose handle this task still holds (spawned, not joined).
    held: Vec<NodeIx>,
    /// The timer the current `Sleep` or `Timeout` op armed: its arming
    /// number and whether it fired.
    timer: Option<(u64, bool)>,
    /// Whether this task's handle holds its parent's waker: the parent polled
    /// it while it was unfinished (a `Timeout` that ran out leaves it there,
    /// and the task's end then wakes the parent, wherever it is parked).
    join_waker: bool,
}

/// The oneshot on a child's link: who still holds which end, and the message.
#[derive(Clone, Copy)]
struct Chan {
    tx: bool,
    rx: bool,
    full: bool,
}

struct Loop<'p> {
    p: &'p Program,
    t: Vec<Task>,
    /// `chan[c]`: the link between `c` and its parent.
    chan: Vec<Chan>,
    queue: VecDeque<NodeIx>,
    timers: BinaryHeap<Reverse<(Duration, u64, NodeIx)>>,
    armed: u64,
    now: Duration,
    steps: Vec<Step>,
    has_choice: bool,
    order: WakeOrder,
    in_poll: bool,
    /// The tasks the current poll spawned or woke, to queue when it ends.
    deferred: Vec<NodeIx>,
}

/// Predicts `program`'s schedule under detsim's `fifo` (with
/// [`DETSIM_WAKE_ORDER`]).
pub fn predict(program: &Program) -> Prediction {
    predict_with(program, DETSIM_WAKE_ORDER)
}

/// Predicts `program`'s schedule under `fifo` with the given wake order.
pub fn predict_with(program: &Program, order: WakeOrder) -> Prediction {
    let n = program.len();
    let fresh = Task {
        pc: 0,
        queued: false,
        done: false,
        panicked: false,
        park: Park::No,
        spawned: Vec::new(),
        held: Vec::new(),
        timer: None,
        join_waker: false,
    };
    let mut lp = Loop {
        p: program,
        t: vec![fresh; n],
        chan: vec![
            Chan {
                tx: true,
                rx: true,
                full: false,
            };
            n
        ],
        queue: VecDeque::new(),
        timers: BinaryHeap::new(),
        armed: 0,
        now: Duration::ZERO,
        steps: Vec::new(),
        has_choice: false,
        order,
        in_poll: false,
        deferred: Vec::new(),
    };
    lp.enqueue(0);
    let end = lp.run();
    Prediction {
        steps: lp.steps,
        end,
        has_choice: lp.has_choice,
    }
}

impl Loop<'_> {
    fn run(&mut self) -> End {
        loop {
            if self.t[0].done {
                return End::Returned;
            }
            if let Some(n) = self.queue.pop_front() {
                self.has_choice |= !self.queue.is_empty();
                self.t[n].queued = false;
                self.steps.push(Step::Poll(n, self.now));
                self.in_poll = true;
                let root_panicked = self.poll(n);
                self.in_poll = false;
                for w in std::mem::take(&mut self.deferred) {
                    self.enqueue(w);
                }
                if root_panicked {
                    return End::Panicked;
                }
            } else if let Some(Reverse((at, _, _))) = self.timers.peek() {
                self.now = *at;
                while let Some(Reverse((at, seq, n))) = self.timers.peek().copied() {
                    if at != self.now {
                        break;
                    }
                    self.timers.pop();
                    // A timer whose task moved on (or was dropped) was
                    // cancelled: it wakes nobody.
                    if self.t[n].timer == Some((seq, false)) {
                        self.t[n].timer = Some((seq, true));
                        self.wake(n);
                    }
                }
            } else {
                return End::Deadlock;
            }
        }
    }

    fn wake(&mut self, n: NodeIx) {
        if self.in_poll {
            self.deferred.push(n);
        } else {
            self.enqueue(n);
        }
    }

    fn spawned(&mut self, n: NodeIx) {
        match self.order {
            WakeOrder::InOrder => self.deferred.push(n),
            WakeOrder::SpawnsFirst => self.enqueue(n),
        }
    }

    /// Puts `n` at the back of the ready queue unless it is there or done.
    fn enqueue(&mut self, n: NodeIx) {
        let t = &mut self.t[n];
        if !t.queued && !t.done {
            t.queued = true;
            t.park = Park::No;
            self.queue.push_back(n);
        }
    }

    fn finish(&mut self, n: NodeIx) {
        self.t[n].done = true;
        if std::mem::take(&mut self.t[n].join_waker) {
            self.wake(self.p.nodes[n].parent.expect("only children are joined"));
        }
    }

    fn abort(&mut self, c: NodeIx) {
        if self.t[c].done {
            return;
        }
        if std::mem::take(&mut self.t[c].queued) {
            self.queue.retain(|&q| q != c);
        }
        self.steps.push(Step::Drop(c));
        self.finish(c);
        self.drop_state(c);
    }

    /// Drops the sender end of `c`'s link (held by `holder`), waking the
    /// receiver `other` if it is parked on it.
    fn hang_up(&mut self, c: NodeIx, holder: NodeIx, other: NodeIx) {
        if std::mem::take(&mut self.chan[c].tx) && self.t[other].park == Park::Recv(holder) {
            self.wake(other);
        }
    }

    /// `TaskState::drop`, in the same order.
    fn drop_state(&mut self, n: NodeIx) {
        let node = &self.p.nodes[n];
        for c in self.t[n].spawned.clone() {
            if self.p.abort_on_drop && self.t[n].held.contains(&c) {
                self.abort(c);
            }
            match self.p.nodes[c].link {
                Link::ToChild => self.hang_up(c, n, c),
                Link::FromChild => self.chan[c].rx = false,
                Link::None => {}
            }
        }
        self.t[n].held.clear();
        if let Some(parent) = node.parent {
            match node.link {
                Link::FromChild => self.hang_up(n, n, parent),
                Link::ToChild => self.chan[n].rx = false,
                Link::None => {}
            }
        }
    }

    /// Runs `n` until it suspends; returns whether the root panicked.
    fn poll(&mut self, n: NodeIx) -> bool {
        let p = self.p;
        let ops = &p.nodes[n].ops;
        loop {
            let Some(&op) = ops.get(self.t[n].pc) else {
                // The implicit join, then return.
                if let Some(&c) = self.t[n].held.first() {
                    if self.join(n, c) {
                        continue;
                    }
                    return false;
                }
                self.drop_state(n);
                self.finish(n);
                return false;
            };
            match op {
                Op::Spawn(c) => {
                    self.t[n].spawned.push(c);
                    self.t[n].held.push(c);
                    self.spawned(c);
                }
                // A deadline already reached yields once, as asyncio's
                // `sleep(0)` does.
                Op::Yield | Op::Sleep(0) => {
                    self.t[n].pc += 1;
                    self.wake(n);
                    return false;
                }
                Op::Sleep(ms) => match self.t[n].timer {
                    None => {
                        self.arm(n, ms);
                        return false;
                    }
                    Some((_, true)) => self.t[n].timer = None,
                    Some((_, false)) => return false, // a stale wake: still asleep
                },
                Op::Timeout(c, ms) => {
                    if !self.timeout(n, c, ms) {
                        return false;
                    }
                }
                Op::Await(c) => {
                    if !self.join(n, c) {
                        return false;
                    }
                }
                Op::Try(c) => {
                    // Only a join that takes the handle sees the panic (a
                    // `Timeout` may have spent it).
                    let holds = self.t[n].held.contains(&c);
                    if !self.join(n, c) {
                        return false;
                    }
                    if holds && self.t[c].panicked {
                        return self.panic(n);
                    }
                }
                Op::Abort(c) => self.abort(c),
                Op::Send(peer) => {
                    let (c, to) = match peer {
                        Peer::Parent => (n, self.p.nodes[n].parent.expect("child")),
                        Peer::Child(c) => (c, c),
                    };
                    self.chan[c].tx = false;
                    if self.chan[c].rx {
                        self.chan[c].full = true;
                        if self.t[to].park == Park::Recv(n) {
                            self.wake(to);
                        }
                    }
                }
                Op::Recv(peer) => {
                    let (c, from) = match peer {
                        Peer::Parent => (n, self.p.nodes[n].parent.expect("child")),
                        Peer::Child(c) => (c, c),
                    };
                    let ch = self.chan[c];
                    if !ch.full && ch.tx {
                        self.t[n].park = Park::Recv(from);
                        return false;
                    }
                    self.chan[c].rx = false;
                }
                Op::Random => {}
                Op::Panic => return self.panic(n),
            }
            self.t[n].pc += 1;
        }
    }

    /// Arms a timer `ms` from now for `n`.
    fn arm(&mut self, n: NodeIx, ms: u8) {
        let at = self.now + Duration::from_millis(u64::from(ms));
        self.timers.push(Reverse((at, self.armed, n)));
        self.t[n].timer = Some((self.armed, false));
        self.armed += 1;
    }

    /// `timeout(ms, handle of c)` in `n`, which polls the handle first, then
    /// the sleep: whether it completed (joined or timed out).
    fn timeout(&mut self, n: NodeIx, c: NodeIx, ms: u8) -> bool {
        if !self.t[n].held.contains(&c) {
            return true; // a Timeout spent the handle: nothing to do
        }
        let first = self.t[n].timer.is_none();
        if first && self.p.nodes[c].link == Link::ToChild {
            self.hang_up(c, n, c);
        }
        if self.t[c].done {
            self.t[n].held.retain(|&h| h != c);
            self.t[n].timer = None; // dropping the sleep cancels its timer
            return true;
        }
        self.t[c].join_waker = true;
        match self.t[n].timer {
            None if ms == 0 => true, // the deadline has come: timed out at once
            None => {
                self.arm(n, ms);
                false
            }
            Some((_, true)) => {
                self.t[n].timer = None;
                true
            }
            Some((_, false)) => false,
        }
    }

    /// `n` panics: its state is dropped while unwinding, then it finishes.
    fn panic(&mut self, n: NodeIx) -> bool {
        self.t[n].panicked = true;
        self.drop_state(n);
        self.finish(n);
        n == 0
    }

    /// Awaits `c` in `n`: whether it was finished (the await completes).
    fn join(&mut self, n: NodeIx, c: NodeIx) -> bool {
        if self.p.nodes[c].link == Link::ToChild {
            self.hang_up(c, n, c);
        }
        if self.t[c].done {
            self.t[n].held.retain(|&h| h != c);
            true
        } else {
            self.t[c].join_waker = true;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{RawStep, TaskSpec};

    fn spec(steps: Vec<RawStep>) -> TaskSpec {
        TaskSpec { value: 0, steps }
    }

    fn spawn(steps: Vec<RawStep>) -> RawStep {
        RawStep::Spawn(spec(steps), Link::None)
    }

    /// The prediction in short: `n1` a poll, `x1` a drop, `@5` the clock
    /// moving to 5 ms.
    fn short(root: Vec<RawStep>, abort_on_drop: bool) -> String {
        let p = Program::new(&spec(root), abort_on_drop);
        let pred = predict(&p);
        let mut now = Duration::ZERO;
        let mut out = Vec::new();
        for s in pred.steps {
            match s {
                Step::Poll(n, at) => {
                    if at != now {
                        now = at;
                        out.push(format!("@{}", at.as_millis()));
                    }
                    out.push(format!("n{n}"));
                }
                Step::Drop(n) => out.push(format!("x{n}")),
            }
        }
        out.join(" ")
    }

    use RawStep::*;

    #[test]
    fn children_start_after_the_creator_suspends_in_creation_order() {
        let s = short(vec![spawn(vec![]), spawn(vec![]), Yield], false);
        assert_eq!(s, "n0 n1 n2 n0");
    }

    #[test]
    fn yielders_interleave_strictly() {
        let s = short(
            vec![spawn(vec![Yield, Yield]), spawn(vec![Yield, Yield])],
            false,
        );
        assert_eq!(s, "n0 n1 n2 n1 n2 n1 n2 n0");
    }

    #[test]
    fn a_woken_task_runs_after_those_already_ready() {
        // n1 finishes first and wakes n0, queued behind n2's yield.
        let s = short(
            vec![spawn(vec![]), spawn(vec![Yield]), Await(0), Await(0)],
            false,
        );
        assert_eq!(s, "n0 n1 n2 n0 n2 n0");
    }

    #[test]
    fn awaiting_a_finished_task_does_not_suspend() {
        let s = short(vec![spawn(vec![]), Yield, Await(0)], false);
        assert_eq!(s, "n0 n1 n0");
    }

    #[test]
    fn timers_fire_by_deadline_then_arming_order() {
        let s = short(
            vec![
                spawn(vec![Sleep(5)]),
                spawn(vec![Sleep(2)]),
                spawn(vec![Sleep(5)]),
            ],
            false,
        );
        // The root awaits n1 first (the implicit join), so n2 does not wake it.
        assert_eq!(s, "n0 n1 n2 n3 @2 n2 @5 n1 n3 n0");
    }

    #[test]
    fn an_abort_before_the_first_step_drops_the_task_at_once() {
        let s = short(vec![spawn(vec![Yield]), Abort(0), spawn(vec![])], false);
        assert_eq!(s, "n0 x1 n2 n0");
    }

    #[test]
    fn an_abort_of_a_parked_task_drops_it_at_once() {
        let s = short(vec![spawn(vec![Sleep(9)]), Yield, Abort(0), Yield], false);
        assert_eq!(s, "n0 n1 n0 x1 n0");
    }

    #[test]
    fn a_dropped_task_aborts_its_children_when_asked() {
        let inner = vec![spawn(vec![Sleep(3)]), Sleep(1)];
        let root = vec![spawn(inner), Yield, Yield, Abort(0)];
        assert_eq!(short(root.clone(), true), "n0 n1 n0 n2 n0 x1 x2");
        // Detached instead: n2 sleeps on and the root need not wait for it.
        assert_eq!(short(root, false), "n0 n1 n0 n2 n0 x1");
    }

    #[test]
    fn a_timeout_that_runs_out_leaves_the_child_running() {
        let s = short(vec![spawn(vec![Sleep(5)]), Timeout(0, 2)], false);
        assert_eq!(s, "n0 n1 @2 n0 @5 n1 n0");
        // In time: the child's end wakes n0 and the 9 ms timer is cancelled.
        let s = short(vec![spawn(vec![Sleep(5)]), Timeout(0, 9), Sleep(1)], false);
        assert_eq!(s, "n0 n1 @5 n1 n0 @6 n0");
    }

    #[test]
    fn a_stale_join_waker_wakes_a_parent_parked_elsewhere() {
        // The 1 ms time-out runs out; n1's end at 2 ms still wakes n0 in
        // its 9 ms sleep, which polls and parks again.
        let s = short(vec![spawn(vec![Sleep(2)]), Timeout(0, 1), Sleep(9)], false);
        assert_eq!(s, "n0 n1 @1 n0 @2 n1 n0 @10 n0");
    }

    #[test]
    fn a_hang_up_wakes_the_receiver() {
        let child = RawStep::Spawn(spec(vec![RecvParent]), Link::ToChild);
        let s = short(vec![child, Yield, Sleep(1), Await(0)], false);
        // n1 parks on the channel; n0 hangs up before awaiting it at 1 ms.
        assert_eq!(s, "n0 n1 n0 @1 n0 n1 n0");
    }
}

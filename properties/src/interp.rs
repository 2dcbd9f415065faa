//! The interpreter: runs a [`Program`] on detsim and records an event log.
//!
//! Every node runs as one detsim task (the root as the body's future) whose
//! future is wrapped in `Instrumented`, which logs the start and end of each
//! poll (with `detsim::task::id()` and `detsim::time::now()`) and the drop of
//! the future. The task body logs what it does between its `.await`s.
//!
//! Invariants this module keeps, which the checks and the reference model
//! rely on:
//! - Nothing is logged from inside detsim except through these futures, and a
//!   `Drop` impl never calls `now()` or `id()` (it may run outside any poll).
//! - A task's per-task resources live in one `TaskState` whose `Drop` has a
//!   fixed order: for each child in spawn order, abort it (if unfinished and
//!   the program says so), hang up our sender to it, drop our receiver from
//!   it, drop its handle; then hang up our sender to the parent, then drop the
//!   receiver from the parent. [`crate::model`] replays the same order.
//! - Handles and receivers are awaited by `&mut`, so they stay in the
//!   `TaskState` while awaited and are dropped (and aborted) from there.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;

use crate::event::{Event, FailureInfo, IdKey, Outcome, PollEnd, Run, Verdict, Wait};
use crate::program::{Link, NodeIx, Op, Peer, Program};

/// Which detsim scheduler a run uses; the checks need to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sched {
    /// `detsim::Scheduler::fifo()`.
    Fifo,
    /// `detsim::Scheduler::random()`.
    Random,
    /// `detsim::Scheduler::pct(depth)`.
    Pct(u32),
}

impl Sched {
    /// The three schedulers every property runs under (PCT with depth 3).
    pub const ALL: [Sched; 3] = [Sched::Fifo, Sched::Random, Sched::Pct(3)];

    /// The detsim configuration value.
    pub fn to_detsim(self) -> detsim::Scheduler {
        match self {
            Sched::Fifo => detsim::Scheduler::fifo(),
            Sched::Random => detsim::Scheduler::random(),
            Sched::Pct(d) => detsim::Scheduler::pct(d),
        }
    }
}

impl std::fmt::Display for Sched {
    /// As `DETSIM_SCHEDULER` spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sched::Fifo => write!(f, "fifo"),
            Sched::Random => write!(f, "random"),
            Sched::Pct(d) => write!(f, "pct:{d}"),
        }
    }
}

/// Runs `program` once, on exactly `seed` under `sched`, and returns the log
/// of the body's first execution (the harness runs the body again to
/// describe a failure) with the harness's verdict.
/// The `DETSIM_*` variables do not apply (`Builder::ignore_env`): the checks
/// judge exactly the run they were told about.
pub fn run(program: &Program, sched: Sched, seed: u64) -> Run {
    run_with(program, sched, seed, None)
}

/// The payload of the panic [`run_losing_a_panic`] plants.
pub fn lost_panic_message() -> String {
    format!("{}a detached task panics", crate::program::PANIC_PREFIX)
}

/// Like [`run`], with one more task that nobody can observe: the root first spawns a
/// task that sleeps `after`, then panics, and drops its handle (detaches it); after the
/// program, the root sleeps past `after`. The panic happens in the middle of the
/// program's run, or after it, and nobody can read it: detsim must fail the run with
/// it (the rule that a bug is never swallowed), whatever the program does meanwhile.
pub fn run_losing_a_panic(program: &Program, sched: Sched, seed: u64, after: Duration) -> Run {
    run_with(program, sched, seed, Some(after))
}

fn run_with(program: &Program, sched: Sched, seed: u64, lost: Option<Duration>) -> Run {
    crate::quiet_program_panics();
    let logs: Mutex<Vec<Recorder>> = Mutex::new(Vec::new());
    let report = detsim::Builder::new()
        .ignore_env()
        .seed(seed)
        .scheduler(sched.to_detsim())
        // One seed on this thread; PCT's run-length estimate from the model
        // instead of a calibration run of the body, and no shrinking: so the
        // sweep's run is the body's first execution, and a failing seed
        // costs one replay.
        .jobs(1)
        .pct_polls(crate::model::predict(program).steps.len() as u64)
        .shrink_budget(0, Duration::ZERO)
        .explore(|| {
            let rec = Recorder::default();
            lock(&logs).push(rec.clone());
            let ctx = Arc::new(Ctx {
                program: program.clone(),
                rec,
            });
            async move {
                if let Some(after) = lost {
                    drop(detsim::spawn(async move {
                        detsim::time::sleep(after).await;
                        panic!("{}", lost_panic_message());
                    }));
                }
                let root = task(ctx.clone(), 0, ParentEnd::None);
                Instrumented::new(ctx, 0, root).await;
                if let Some(after) = lost {
                    detsim::time::sleep(after + Duration::from_millis(1)).await;
                }
            }
        });
    let failure = report.failure.as_ref().map(|f| FailureInfo {
        seed: f.seed,
        message: f.message.clone(),
        steps: f.steps,
        trace: f.trace().to_string(),
    });
    let verdict = Verdict {
        seeds_run: report.seeds_run,
        failure,
    };
    let first = lock(&logs).first().cloned();
    let events = first.map_or_else(Vec::new, |rec| lock(&rec.0).events.clone());
    Run {
        seed,
        events,
        verdict,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The log of one execution of the body. Shared by all its tasks; an `Arc`
/// so that the harness's `Sync` body can hand it out.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Recording>>);

#[derive(Default)]
struct Recording {
    events: Vec<Event>,
    ids: Vec<detsim::task::Id>,
    epoch: Option<detsim::time::Instant>,
}

impl Recorder {
    fn push(&self, e: Event) {
        lock(&self.0).events.push(e);
    }

    fn key(&self, id: detsim::task::Id) -> IdKey {
        let mut r = lock(&self.0);
        let ix = match r.ids.iter().position(|i| *i == id) {
            Some(ix) => ix,
            None => {
                r.ids.push(id);
                r.ids.len() - 1
            }
        };
        IdKey(u32::try_from(ix).expect("few ids"))
    }

    /// Virtual time since the first call in this execution.
    fn now(&self) -> Duration {
        let now = detsim::time::now();
        let mut r = lock(&self.0);
        let epoch = *r.epoch.get_or_insert(now);
        now - epoch
    }
}

struct Ctx {
    program: Program,
    rec: Recorder,
}

/// A task future with poll and drop instrumentation.
struct Instrumented {
    ctx: Arc<Ctx>,
    node: NodeIx,
    fut: Option<Pin<Box<dyn Future<Output = u64>>>>,
    finished: bool,
}

impl Instrumented {
    fn new(ctx: Arc<Ctx>, node: NodeIx, fut: impl Future<Output = u64> + 'static) -> Self {
        Instrumented {
            ctx,
            node,
            fut: Some(Box::pin(fut)),
            finished: false,
        }
    }
}

/// Logs the end of a poll, also when it unwinds.
struct PollGuard<'a> {
    rec: &'a Recorder,
    node: NodeIx,
    end: PollEnd,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.rec.push(Event::PollEnd {
            node: self.node,
            end: self.end,
        });
    }
}

impl Future for Instrumented {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = self.get_mut();
        let rec = &this.ctx.rec;
        let at = rec.now();
        let id = rec.key(detsim::task::id());
        rec.push(Event::PollStart {
            node: this.node,
            id,
            at,
        });
        let mut guard = PollGuard {
            rec,
            node: this.node,
            end: PollEnd::Panicked,
        };
        assert!(
            !this.finished,
            "detsim-properties: n{} polled after it returned",
            this.node
        );
        let fut = this.fut.as_mut().expect("future present until drop");
        // Finished, unless the poll returns `Pending`: a poll that unwinds
        // finishes the task too.
        this.finished = true;
        match fut.as_mut().poll(cx) {
            Poll::Ready(v) => {
                guard.end = PollEnd::Ready;
                Poll::Ready(v)
            }
            Poll::Pending => {
                guard.end = PollEnd::Pending;
                this.finished = false;
                Poll::Pending
            }
        }
    }
}

impl Drop for Instrumented {
    fn drop(&mut self) {
        let rec = &self.ctx.rec;
        rec.push(Event::DropStart {
            node: self.node,
            finished: self.finished,
        });
        drop(self.fut.take());
        rec.push(Event::DropEnd { node: self.node });
    }
}

/// A task's end of the link to its parent.
enum ParentEnd {
    None,
    Tx(oneshot::Sender<u64>),
    Rx(oneshot::Receiver<u64>),
}

/// A parent's end of the link to a child.
enum ChildEnd {
    None,
    Tx(oneshot::Sender<u64>),
    Rx(oneshot::Receiver<u64>),
}

struct ChildSlot {
    node: NodeIx,
    handle: Option<detsim::JoinHandle<u64>>,
    link: ChildEnd,
}

/// Everything a task owns; dropped in a fixed order (see the module docs).
struct TaskState {
    ctx: Arc<Ctx>,
    node: NodeIx,
    parent: ParentEnd,
    children: Vec<ChildSlot>,
    /// Set when the task returns normally: nothing left to abort then.
    done: bool,
}

impl TaskState {
    fn slot(&mut self, child: NodeIx) -> &mut ChildSlot {
        self.children
            .iter_mut()
            .find(|s| s.node == child)
            .expect("lowering only names spawned children")
    }

    fn hang_up_child(&mut self, child: NodeIx) {
        let rec = self.ctx.rec.clone();
        let me = self.node;
        let slot = self.slot(child);
        if let ChildEnd::Tx(_) = slot.link {
            slot.link = ChildEnd::None;
            rec.push(Event::Hangup {
                from: me,
                to: child,
            });
        }
    }
}

impl Drop for TaskState {
    fn drop(&mut self) {
        let rec = self.ctx.rec.clone();
        let abort = self.ctx.program.abort_on_drop && !self.done;
        for mut slot in std::mem::take(&mut self.children) {
            if let Some(handle) = slot.handle.as_ref().filter(|_| abort) {
                rec.push(Event::Abort {
                    parent: self.node,
                    child: slot.node,
                    on_drop: true,
                });
                handle.abort();
            }
            match std::mem::replace(&mut slot.link, ChildEnd::None) {
                ChildEnd::Tx(tx) => {
                    rec.push(Event::Hangup {
                        from: self.node,
                        to: slot.node,
                    });
                    drop(tx);
                }
                ChildEnd::Rx(rx) => drop(rx),
                ChildEnd::None => {}
            }
            drop(slot.handle.take());
        }
        let parent = self.ctx.program.nodes[self.node].parent;
        match std::mem::replace(&mut self.parent, ParentEnd::None) {
            ParentEnd::Tx(tx) => {
                rec.push(Event::Hangup {
                    from: self.node,
                    to: parent.expect("only children have a parent link"),
                });
                drop(tx);
            }
            ParentEnd::Rx(rx) => drop(rx),
            ParentEnd::None => {}
        }
    }
}

fn spawn_child(ctx: &Arc<Ctx>, child: NodeIx) -> ChildSlot {
    let (mine, theirs) = match ctx.program.nodes[child].link {
        Link::None => (ChildEnd::None, ParentEnd::None),
        Link::ToChild => {
            let (tx, rx) = oneshot::channel();
            (ChildEnd::Tx(tx), ParentEnd::Rx(rx))
        }
        Link::FromChild => {
            let (tx, rx) = oneshot::channel();
            (ChildEnd::Rx(rx), ParentEnd::Tx(tx))
        }
    };
    let fut = Instrumented::new(ctx.clone(), child, task(ctx.clone(), child, theirs));
    let handle = detsim::task::Builder::new()
        .name(format!("n{child}"))
        .spawn(fut);
    ChildSlot {
        node: child,
        handle: Some(handle),
        link: mine,
    }
}

/// A join's outcome, and the panic payload if any.
type Joined = (Outcome, Option<Box<dyn Any + Send>>);

/// Awaits `child` (for at most `limit`, if given); `None` if it timed out or
/// a `Timeout` already spent the handle.
async fn join(st: &mut TaskState, child: NodeIx, limit: Option<Duration>) -> Option<Joined> {
    st.slot(child).handle.as_ref()?;
    st.hang_up_child(child);
    let rec = st.ctx.rec.clone();
    let me = st.node;
    let on = match limit {
        None => Wait::Join(child),
        Some(d) => Wait::JoinOrTimer(child, rec.now() + d),
    };
    rec.push(Event::Wait { node: me, on });
    let handle = st.slot(child).handle.as_mut().expect("checked above");
    let res = match limit {
        None => handle.await,
        Some(d) => match detsim::time::timeout(d, handle).await {
            Ok(res) => res,
            Err(_elapsed) => {
                rec.push(Event::Resume {
                    node: me,
                    at: rec.now(),
                });
                rec.push(Event::TimedOut { parent: me, child });
                return None;
            }
        },
    };
    rec.push(Event::Resume {
        node: me,
        at: rec.now(),
    });
    // A finished handle must not be aborted on drop: forget it now.
    st.slot(child).handle = None;
    let (outcome, payload) = match res {
        Ok(v) => (Outcome::Value(v), None),
        Err(e) if e.is_cancelled() => (Outcome::Cancelled, None),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let text = payload.downcast_ref::<String>().cloned();
            (Outcome::Panic(text), Some(payload))
        }
        Err(e) => (Outcome::Other(e.to_string()), None),
    };
    rec.push(Event::Join {
        parent: me,
        child,
        outcome: outcome.clone(),
    });
    Some((outcome, payload))
}

/// The body of node `node`. Its `TaskState` exists before the first poll,
/// so that dropping a task that never ran hangs up its link the same way.
fn task(ctx: Arc<Ctx>, node: NodeIx, parent: ParentEnd) -> impl Future<Output = u64> + 'static {
    let st = TaskState {
        ctx: ctx.clone(),
        node,
        parent,
        children: Vec::new(),
        done: false,
    };
    run_task(ctx, st)
}

async fn run_task(ctx: Arc<Ctx>, mut st: TaskState) -> u64 {
    let node = st.node;
    let rec = ctx.rec.clone();
    let spec = ctx.program.nodes[node].clone();
    let mut value = u64::from(spec.value);
    for op in &spec.ops {
        match *op {
            Op::Spawn(child) => {
                let slot = spawn_child(&ctx, child);
                let id = rec.key(slot.handle.as_ref().expect("fresh").id());
                rec.push(Event::Spawn {
                    parent: node,
                    child,
                    id,
                });
                st.children.push(slot);
            }
            Op::Yield => {
                rec.push(Event::Wait {
                    node,
                    on: Wait::Yield,
                });
                detsim::yield_now().await;
                rec.push(Event::Resume {
                    node,
                    at: rec.now(),
                });
            }
            Op::Sleep(ms) => {
                let d = Duration::from_millis(u64::from(ms));
                rec.push(Event::Wait {
                    node,
                    on: Wait::Timer(rec.now() + d),
                });
                detsim::time::sleep(d).await;
                rec.push(Event::Resume {
                    node,
                    at: rec.now(),
                });
            }
            Op::Await(child) => {
                if let Some((Outcome::Value(v), _)) = join(&mut st, child, None).await {
                    value = value.wrapping_add(v);
                }
            }
            Op::Timeout(child, ms) => {
                let limit = Duration::from_millis(u64::from(ms));
                if let Some((Outcome::Value(v), _)) = join(&mut st, child, Some(limit)).await {
                    value = value.wrapping_add(v);
                }
            }
            Op::Try(child) => match join(&mut st, child, None).await {
                Some((Outcome::Value(v), _)) => value = value.wrapping_add(v),
                Some((Outcome::Panic(text), Some(payload))) => {
                    let origin = text
                        .as_deref()
                        .and_then(Program::panic_origin)
                        .unwrap_or(child);
                    rec.push(Event::Panic { node, origin });
                    std::panic::resume_unwind(payload);
                }
                _ => {}
            },
            Op::Abort(child) => {
                if let Some(handle) = &st.slot(child).handle {
                    rec.push(Event::Abort {
                        parent: node,
                        child,
                        on_drop: false,
                    });
                    handle.abort();
                }
            }
            Op::Send(peer) => {
                let (to, tx) = match peer {
                    Peer::Parent => {
                        let ParentEnd::Tx(tx) = std::mem::replace(&mut st.parent, ParentEnd::None)
                        else {
                            unreachable!("lowering checked the link")
                        };
                        (spec.parent.expect("child"), tx)
                    }
                    Peer::Child(c) => {
                        let ChildEnd::Tx(tx) =
                            std::mem::replace(&mut st.slot(c).link, ChildEnd::None)
                        else {
                            unreachable!("lowering checked the link")
                        };
                        (c, tx)
                    }
                };
                let delivered = tx.send(Program::message(node)).is_ok();
                rec.push(Event::Send {
                    from: node,
                    to,
                    delivered,
                });
            }
            Op::Recv(peer) => {
                let from = match peer {
                    Peer::Parent => spec.parent.expect("child"),
                    Peer::Child(c) => c,
                };
                rec.push(Event::Wait {
                    node,
                    on: Wait::Recv(from),
                });
                let rx = match peer {
                    Peer::Parent => match &mut st.parent {
                        ParentEnd::Rx(rx) => rx,
                        _ => unreachable!("lowering checked the link"),
                    },
                    Peer::Child(c) => match &mut st.slot(c).link {
                        ChildEnd::Rx(rx) => rx,
                        _ => unreachable!("lowering checked the link"),
                    },
                };
                let message = rx.await.ok();
                rec.push(Event::Resume {
                    node,
                    at: rec.now(),
                });
                rec.push(Event::Received {
                    node,
                    from,
                    message,
                });
            }
            Op::Random => {
                let v: u64 = detsim::random();
                rec.push(Event::Random { node, value: v });
                value = value.wrapping_add(v);
            }
            Op::Panic => {
                rec.push(Event::Panic { node, origin: node });
                std::panic::panic_any(Program::panic_message(node));
            }
        }
    }
    let pending: Vec<NodeIx> = st
        .children
        .iter()
        .filter(|s| s.handle.is_some())
        .map(|s| s.node)
        .collect();
    for child in pending {
        if let Some((Outcome::Value(v), _)) = join(&mut st, child, None).await {
            value = value.wrapping_add(v);
        }
    }
    st.done = true;
    rec.push(Event::Return { node, value });
    value
}

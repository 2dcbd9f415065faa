//! The executor's state ([`Core`]): the task slab, the ready set, timers, the chooser,
//! the trace and the decisions. `Runtime::run` drives it; the free functions reach it
//! through the thread-local context.
//!
//! Invariants:
//! - lazy start: a spawned task enters the ready set after its creator's poll, in order
//!   with the wakes that poll caused (asyncio's `call_soon` order), so it never runs
//!   first;
//! - the core is borrowed only for bookkeeping: methods hand futures and foreign wakers
//!   back to the caller to poll, drop or wake outside the borrow;
//! - nothing here varies between runs of the same seed: slots are reused lowest index
//!   first, ids count up, wakes apply in the order they happened.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::choice::{Chooser, DecisionKind, PollEnd, Random, ReadyView, USER_STREAM, seeded_rng};
use crate::context;
use crate::join::{JoinError, TaskKey, payload_str};
use crate::outcome::{
    DEFAULT_MAX_STEPS, DEFAULT_POLLS_PER_TASK, Decision, ROOT_NAME, RunError, TaskInfo, UserRng,
};
use crate::pct::Pct;
use crate::prefetch::prefetch;
use crate::ready::ReadyQueue;
use crate::slab::Chunked;
use crate::task::{ErasedTask, Id, Payload};
use crate::time::Instant;
use crate::trace::{EventKind, Trace};
use crate::wait::{Position, WaitSite};
use crate::waker::{self, Address, VACANT};

mod handles;
mod nodes;
mod timers;

/// The next run's epoch. Epochs are unique in the process, not per runtime: a handle
/// or a timer that outlives its run (leaked, or sent to another thread) never matches
/// a task or timer of another run, even in another runtime. Epochs are never observed
/// by a run, so this shared counter does not make runs depend on each other.
///
/// Each thread takes epochs from this counter in blocks of [`EPOCH_BLOCK`], so that
/// parallel sweeps do not contend for its cache line at every run.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);
const EPOCH_BLOCK: u64 = 1 << 16;

thread_local! {
    /// This thread's block of epochs: the next one, and the end of the block.
    static EPOCHS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A new epoch, unique in the process.
fn next_epoch() -> u64 {
    EPOCHS.with(|epochs| {
        let (mut next, mut end) = epochs.get();
        if next == end {
            next = NEXT_EPOCH.fetch_add(EPOCH_BLOCK, Ordering::Relaxed);
            end = next + EPOCH_BLOCK;
        }
        epochs.set((next + 1, end));
        next
    })
}

/// A run that ends on its budget is a livelock if its last this many polls (or the last
/// half of the budget, if less) made no progress.
const LIVELOCK_QUIET_POLLS: u64 = 10_000;

/// A task picked for polling, taken out of the core.
pub(crate) struct Step {
    pub(crate) index: u32,
    /// Where the task's wakes go: its waker is made from this for the poll.
    pub(crate) address: Address,
    /// `None` for the root future, which lives on `run`'s stack.
    pub(crate) cell: Option<Pin<Box<dyn ErasedTask>>>,
}

pub(crate) enum Next {
    Poll(Step),
    /// Timers fired; their wakers are in the caller's buffer.
    Fire,
    /// Boxed: a poll step stays a few words, which the hot loop moves around.
    Stop(Box<RunError>),
}

/// What `settle` (and a join that frees a task) hands back, and what the caller must
/// do with it outside the core's borrow: drop `dropped` (a future or an output, whose
/// destructor may run user code), and end the run when `outcome` is decided.
#[must_use = "a dropped future must be dropped outside the core's borrow, and a decided \
              outcome ends the run"]
pub(crate) struct Settled {
    pub(crate) dropped: Option<Pin<Box<dyn ErasedTask>>>,
    /// Boxed, so that a `Settled` is a few words: every poll returns one.
    pub(crate) outcome: Option<Result<(), Box<RunError>>>,
}

impl Settled {
    /// Nothing to drop, nothing decided.
    pub(crate) fn nothing() -> Settled {
        Settled {
            dropped: None,
            outcome: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Vacant,
    /// Just spawned: enters the ready set when the wakes of the current poll are
    /// applied, in order with them (asyncio's `call_soon` order).
    Spawned,
    Ready,
    Running,
    Parked,
    /// Woken (or spawned), but its node is paused: enters the ready set on resume.
    Held,
    Finished,
}

/// What a poll, a wake or a join reads of a task: one cache line, so that polling
/// tasks in random order among many touches one line of the slab per task. What only a
/// spawn or a report reads is in [`Cold`].
#[repr(align(64))]
struct Slot {
    /// The future, then the outcome; `None` while polled, after a cancel, and for the root.
    cell: Option<Pin<Box<dyn ErasedTask>>>,
    join_waker: Option<Waker>,
    id: Id,
    /// The step of the task's last poll (0: never polled).
    last_poll: u64,
    /// The task's generation ([`VACANT`] when the slot has none): a waker or a handle
    /// of an earlier task in the slot does not match it.
    generation: u32,
    /// The node the task runs on (`NodeId::NONE`'s 0: no node).
    node: u32,
    state: State,
    /// A `JoinHandle` for this task exists.
    attached: bool,
    /// The task aborted itself during its own poll.
    abort_requested: bool,
    /// The task was aborted: it finished without an output.
    cancelled: bool,
}

/// What only a spawn or a report reads of a task, beside the slab (same index).
#[derive(Default)]
struct Cold {
    name: Option<String>,
    location: Option<&'static Location<'static>>,
    /// Where the task panicked, if it did.
    panic_location: Option<String>,
}

/// The last detsim future that suspended a task: kept beside the slab rather than in
/// it, so that a slot stays small and only tasks that wait touch this table.
#[derive(Debug, Clone, Copy)]
struct WaitEntry {
    /// The run and task it belongs to: a slot's next task, in this run or a later one,
    /// finds its predecessor's entry (the table is kept from run to run, not cleared).
    epoch: u64,
    task: Id,
    site: WaitSite,
    /// The poll (step) it was noted in.
    step: u64,
}

const _: () = assert!(size_of::<Slot>() == 64, "a slot is one cache line");

impl Slot {
    /// Where the task stands (see [`crate::wait`]), given its slot's wait entry and the
    /// run's epoch.
    fn position(&self, entry: Option<&WaitEntry>, epoch: u64) -> Position {
        let entry = entry.filter(|e| e.epoch == epoch && e.task == self.id);
        match entry {
            _ if self.last_poll == 0 => Position::NotStarted,
            Some(e) if e.step == self.last_poll => Position::At(e.site),
            last => Position::Foreign {
                last: last.map(|e| e.site),
            },
        }
    }
}

/// What `poll_join` found.
pub(crate) enum JoinPoll {
    Pending,
    /// The output (or panic) was moved into the caller's slot.
    Output,
    Cancelled,
}

/// The executor's state, shared with the free functions through the thread-local
/// context. Borrowed only for bookkeeping, never across user code.
pub(crate) struct Core {
    epoch: u64,
    seed: u64,
    slots: Chunked<Slot>,
    /// The cold part of each slot, same index.
    cold: Vec<Cold>,
    /// Vacant slot indices; popped from the back, so the lowest index is reused first.
    free: Vec<u32>,
    /// Ready slots, each with the address of its future (0: none) as the hint that
    /// `look_ahead` prefetches.
    ready: ReadyQueue<usize>,
    ready_ids: Vec<Id>,
    /// This thread's number, part of every waker's address (see `waker.rs`).
    thread: u32,
    wake_buf: Vec<(u32, u32)>,
    timers: BTreeMap<(u64, u64), Waker>,
    timer_seq: u64,
    now: u64,
    chooser: RunChooser,
    /// The chooser's `needs_tasks`, asked once a run.
    list_ready: bool,
    /// The chooser's `tracks_ready`, asked once a run.
    track_ready: bool,
    /// Whether the chooser is told of spawns and poll ends (not the inline random one,
    /// which ignores them): a flag, because the enum's tag is niche-encoded and costs
    /// several instructions to test.
    notify: bool,
    /// Each task's slot, by id number, kept when the chooser tracks the ready set:
    /// it may name its pick by id (`Chooser::choose_ready`).
    slot_of_id: Vec<u32>,
    user_rng: Option<UserRng>,
    next_id: u64,
    pub(crate) steps: u64,
    /// The poll budget set with `Runtime::set_max_steps`; `None`: the default, which
    /// grows with the run's tasks.
    pub(crate) max_steps: Option<u64>,
    /// This run's budget so far.
    limit: u64,
    /// The poll count at the last sign of progress (a poll that did not end with the
    /// task ready again, a wake of another task, a spawn, a timer): a run that ends on
    /// its budget with a long quiet stretch is a livelock.
    progress_step: u64,
    current: Option<u32>,
    pub(crate) record_trace: bool,
    /// Whether `note_wait` keeps wait sites (see `Runtime::set_wait_sites`).
    pub(crate) wait_sites: bool,
    /// Whether decisions are kept in `decisions` (see `Runtime::set_record_decisions`).
    pub(crate) record_decisions: bool,
    pub(crate) trace: Trace,
    pub(crate) decisions: Vec<Decision>,
    /// A failure found outside the poll loop's own checks (an unread panic dropped).
    pub(crate) failure: Option<RunError>,
    /// Run-scoped state of other crates (see `extension.rs`), in creation order.
    extensions: Vec<(TypeId, Rc<dyn Any>)>,
    /// Each slot's last wait entry, indexed by slot; grown by `note_wait`.
    waits: Vec<WaitEntry>,
    /// The run's nodes (see `executor/nodes.rs`); index 0 is "no node".
    nodes: Vec<nodes::NodeState>,
    /// The guess of the next pick made during the current step (see `look_ahead`).
    lookahead: Option<Lookahead>,
    /// The slot of the task a chooser that names its pick said it would pick next
    /// (see `look_ahead`), to count the guesses that came true.
    peeked_slot: Option<u32>,
    /// Steps of this run whose pick a guess found (for tests of the look-ahead).
    pub(crate) guesses_taken: u64,
}

/// From this many ready tasks on, each step guesses the next pick and prefetches it
/// (see `prefetch.rs`). Below, slots and futures mostly stay in cache and the guess
/// costs more than it saves: measured side by side on the development machine, it was
/// 2% slower at 10,000 ready tasks, 5% faster at 30,000 and 1.7× faster at 100,000.
pub(crate) const LOOK_AHEAD_FROM: usize = 16_384;

/// From this many ready tasks on, a task enters the ready set with its future's
/// address as the hint `look_ahead` prefetches; below, nothing is stored (a run that
/// never grows this large never reads a hint, nor pays for the array). A guess that
/// lands on a task queued before the set grew prefetches a stale address: a wasted
/// line fill, nothing else.
const HINTS_FROM: usize = LOOK_AHEAD_FROM / 2;

/// The view of a task decision among `n` ready tasks at poll `step`, with the tasks
/// (`ready_ids`) when the chooser needs them (`listed`).
fn task_view(ready_ids: &[Id], listed: bool, n: usize, step: u64) -> ReadyView<'_> {
    ReadyView {
        kind: DecisionKind::Task,
        len: n,
        ready: match listed {
            true => ready_ids,
            false => &[],
        },
        step,
    }
}

/// Which chooser a run uses (see `Runtime::reset` and `Runtime::reset_pct`).
pub(crate) enum NextChooser {
    /// The seed's random chooser.
    Random,
    /// `Pct::new(seed, depth, expected_steps)`.
    Pct { depth: u32, expected_steps: u64 },
    /// A chooser of the caller's.
    Boxed(Box<dyn Chooser>),
}

/// The run's chooser. The built-in ones a sweep uses, the seed's random one and PCT,
/// are kept inline: a run reuses the last run's in place (no allocation per run, and
/// PCT keeps its buffers), their methods are direct calls, and the hooks random
/// ignores (`on_spawn`, `on_poll_end`, …) cost it nothing. Any other chooser is boxed.
/// Each answers exactly as the `Chooser` it holds.
#[allow(
    clippy::large_enum_variant,
    reason = "one per runtime, and inline on purpose: no allocation per run"
)]
enum RunChooser {
    Random(Random),
    Pct(Pct),
    Boxed(Box<dyn Chooser>),
}

/// Calls `$method` on whichever chooser `$self` holds.
macro_rules! each {
    ($self:expr, $chooser:ident => $call:expr) => {
        match $self {
            RunChooser::Random($chooser) => $call,
            RunChooser::Pct($chooser) => $call,
            RunChooser::Boxed($chooser) => $call,
        }
    };
}

impl RunChooser {
    /// Makes this the chooser of a run of `seed`, reusing the one in place when it is
    /// of the same built-in kind.
    fn set(&mut self, seed: u64, next: NextChooser) {
        match (next, &mut *self) {
            (NextChooser::Boxed(chooser), _) => *self = RunChooser::Boxed(chooser),
            (NextChooser::Random, RunChooser::Random(random)) => *random = Random::new(seed),
            (NextChooser::Random, _) => *self = RunChooser::Random(Random::new(seed)),
            (
                NextChooser::Pct {
                    depth,
                    expected_steps,
                },
                RunChooser::Pct(pct),
            ) => pct.reset(seed, depth, expected_steps),
            (
                NextChooser::Pct {
                    depth,
                    expected_steps,
                },
                _,
            ) => *self = RunChooser::Pct(Pct::new(seed, depth, expected_steps)),
        }
    }

    #[inline]
    fn choose(&mut self, view: ReadyView<'_>) -> usize {
        each!(self, chooser => chooser.choose(view))
    }

    fn needs_tasks(&self) -> bool {
        each!(self, chooser => chooser.needs_tasks())
    }

    fn tracks_ready(&self) -> bool {
        each!(self, chooser => chooser.tracks_ready())
    }

    #[inline]
    fn peek(&mut self, options: usize) -> Option<usize> {
        each!(self, chooser => chooser.peek(options))
    }

    fn choose_ready(&mut self, view: ReadyView<'_>) -> Option<Id> {
        each!(self, chooser => chooser.choose_ready(view))
    }

    fn peek_ready(&mut self) -> Option<Id> {
        each!(self, chooser => chooser.peek_ready())
    }

    // `Random` ignores the hooks (its defaults do nothing); the executor skips them for
    // it (`Core::notify`, `Core::track_ready`) rather than testing the variant here.

    #[inline]
    fn on_spawn(&mut self, task: Id) {
        each!(self, chooser => chooser.on_spawn(task))
    }

    #[inline]
    fn on_ready(&mut self, task: Id) {
        each!(self, chooser => chooser.on_ready(task))
    }

    #[inline]
    fn on_unready(&mut self, task: Id) {
        each!(self, chooser => chooser.on_unready(task))
    }

    #[inline]
    fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        each!(self, chooser => chooser.on_poll_end(task, end))
    }
}

/// The likely next picks, found a step ahead: up to two (FIFO index, position in the
/// ready set) pairs, valid while the ready set's `removals` count is unchanged.
#[derive(Debug, Clone, Copy)]
struct Lookahead {
    removals: u64,
    /// `(usize::MAX, _)`: no candidate.
    candidates: [(usize, usize); 2],
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("seed", &self.seed)
            .field("steps", &self.steps)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new() -> Core {
        Core {
            epoch: 0,
            seed: 0,
            slots: Chunked::default(),
            cold: Vec::new(),
            free: Vec::new(),
            ready: ReadyQueue::default(),
            ready_ids: Vec::new(),
            thread: 0,
            wake_buf: Vec::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            now: 0,
            chooser: RunChooser::Boxed(Box::new(crate::choice::Fifo)),
            list_ready: false,
            track_ready: false,
            notify: true,
            slot_of_id: Vec::new(),
            user_rng: None,
            next_id: 0,
            steps: 0,
            max_steps: None,
            limit: DEFAULT_MAX_STEPS,
            progress_step: 0,
            current: None,
            record_trace: false,
            wait_sites: true,
            record_decisions: true,
            trace: Trace::default(),
            decisions: Vec::new(),
            failure: None,
            extensions: Vec::new(),
            waits: Vec::new(),
            nodes: vec![nodes::NodeState::none()],
            lookahead: None,
            peeked_slot: None,
            guesses_taken: 0,
        }
    }

    /// Readies the core for a run of `seed` with `chooser`.
    pub(crate) fn reset(&mut self, seed: u64, chooser: NextChooser, user_rng: Option<UserRng>) {
        self.epoch = next_epoch();
        self.thread = waker::enter();
        self.seed = seed;
        self.chooser.set(seed, chooser);
        self.list_ready = self.chooser.needs_tasks();
        self.track_ready = self.chooser.tracks_ready();
        self.notify = !matches!(self.chooser, RunChooser::Random(_));
        self.user_rng = user_rng;
        self.free.clear();
        for index in (0..self.slots.len()).rev() {
            let slot = &mut self.slots[index];
            debug_assert!(slot.cell.is_none());
            slot.state = State::Vacant;
            slot.generation = VACANT;
            slot.join_waker = None;
            self.free.push(index as u32);
        }
        self.ready.clear();
        self.timers.clear();
        self.timer_seq = 0;
        self.now = 0;
        self.next_id = 0;
        self.steps = 0;
        self.limit = self.max_steps.unwrap_or(DEFAULT_MAX_STEPS);
        self.progress_step = 0;
        self.current = None;
        self.trace.clear();
        self.decisions.clear();
        self.failure = None;
        self.lookahead = None;
        self.peeked_slot = None;
        self.guesses_taken = 0;
        self.slot_of_id.clear();
        debug_assert!(
            self.extensions.is_empty(),
            "`Runtime::run` takes them first"
        );
        // The root future is task t0 in slot 0.
        let index = self.alloc(None, None);
        self.slots[index as usize].state = State::Ready;
        self.ready.push(index);
        self.chooser.on_spawn(Id::ROOT);
        if self.track_ready {
            self.chooser.on_ready(Id::ROOT);
        }
        if self.record_trace {
            self.trace.name_task(Id::ROOT, Some(ROOT_NAME));
        }
    }

    /// Takes a vacant slot (lowest index first) for a new task with the next id.
    fn alloc(&mut self, name: Option<String>, location: Option<&'static Location<'static>>) -> u32 {
        let id = Id(self.next_id);
        self.next_id += 1;
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len() as u32;
                assert!(
                    index < waker::MAX_SLOTS,
                    "detsim: more than {} tasks alive at once",
                    waker::MAX_SLOTS - 1
                );
                self.slots.push(Slot {
                    cell: None,
                    join_waker: None,
                    id,
                    last_poll: 0,
                    generation: VACANT,
                    node: 0,
                    state: State::Vacant,
                    attached: false,
                    abort_requested: false,
                    cancelled: false,
                });
                self.cold.push(Cold::default());
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = waker::next_generation();
        slot.id = id;
        slot.attached = true;
        slot.abort_requested = false;
        slot.cancelled = false;
        slot.node = 0;
        slot.last_poll = 0;
        self.cold[index as usize] = Cold {
            name,
            location,
            panic_location: None,
        };
        if self.track_ready {
            debug_assert_eq!(self.slot_of_id.len() as u64, id.as_u64());
            self.slot_of_id.push(index);
        }
        index
    }

    fn free_slot(&mut self, index: u32) -> Option<Pin<Box<dyn ErasedTask>>> {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Vacant;
        slot.generation = VACANT;
        slot.join_waker = None;
        // The id, name and location stay until the slot is reused: a destructor that
        // panics while the freed cell is dropped is reported as this task's panic.
        self.free.push(index);
        slot.cell.take()
    }

    fn key_slot(&self, key: TaskKey) -> Option<u32> {
        // The epoch first: a key of another run may point past this run's slots.
        if key.epoch != self.epoch {
            return None;
        }
        let slot = &self.slots[key.index as usize];
        (slot.generation == key.generation).then_some(key.index)
    }

    /// Whether `key` was made by the run in progress.
    pub(crate) fn is_same_run(&self, key: TaskKey) -> bool {
        key.epoch == self.epoch
    }

    /// The run in progress's epoch: unique in the process.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    fn assert_same_run(&self, key: TaskKey, what: &str) {
        assert!(
            key.epoch == self.epoch,
            "{what}: this JoinHandle belongs to another run (an earlier run, or another \
             runtime's)"
        );
    }

    #[inline(always)]
    fn record(&mut self, kind: EventKind) {
        if self.record_trace {
            self.trace
                .push(self.steps, Duration::from_nanos(self.now), kind);
        }
    }

    fn current_task(&self) -> Option<Id> {
        self.current.map(|index| self.slots[index as usize].id)
    }

    /// Makes task `index` the current one (`None`: no task); returns the previous one.
    pub(crate) fn swap_current(&mut self, index: Option<u32>) -> Option<u32> {
        std::mem::replace(&mut self.current, index)
    }

    pub(crate) fn current_id(&self) -> Id {
        self.current_task()
            .expect("detsim::task::id() was called outside a task's poll")
    }

    pub(crate) fn current_name(&self) -> Option<&str> {
        let index = self.current? as usize;
        let name = self.cold[index].name.as_deref();
        match self.slots[index].id {
            Id::ROOT => Some(name.unwrap_or(ROOT_NAME)),
            _ => name,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant(Duration::from_nanos(self.now))
    }

    pub(crate) fn spawn(
        &mut self,
        cell: Pin<Box<dyn ErasedTask>>,
        name: Option<String>,
        location: &'static Location<'static>,
        node: Option<u32>,
    ) -> TaskKey {
        // A task runs on the node it is spawned onto, or else on its spawner's; a task
        // on a node is named after it ("raft-2/ticker", or "raft-2" when unnamed).
        let node = node.unwrap_or_else(|| self.current.map_or(0, |i| self.slots[i as usize].node));
        let name = match node {
            0 => name,
            _ => Some(self.node_label(node, name.as_deref())),
        };
        let traced_name = match self.record_trace {
            true => {
                self.trace.name_task(Id(self.next_id), name.as_deref());
                if node != 0 {
                    let node = self.nodes[node as usize].name.clone();
                    self.trace.set_node(Id(self.next_id), &node);
                }
                name.clone()
            }
            false => None,
        };
        let index = self.alloc(name, Some(location));
        let slot = &mut self.slots[index as usize];
        slot.state = State::Spawned;
        slot.cell = Some(cell);
        slot.node = node;
        let key = TaskKey {
            index,
            generation: slot.generation,
            epoch: self.epoch,
            id: slot.id,
        };
        // Scheduled like a wake, so a spawn and the wakes around it keep their order.
        waker::schedule((index, key.generation));
        if self.notify {
            self.chooser.on_spawn(key.id);
        }
        if self.max_steps.is_none() {
            self.limit = self.limit.saturating_add(DEFAULT_POLLS_PER_TASK);
        }
        if self.record_trace {
            let parent = self.current_task().unwrap_or(Id::ROOT);
            self.record(EventKind::Spawn {
                task: key.id,
                parent,
                name: traced_name,
                location,
            });
        }
        key
    }

    /// Asks the chooser which of the `n` (two or more) ready tasks runs next, by index,
    /// and records the decision.
    #[inline(always)]
    fn choose_task(&mut self, n: usize) -> usize {
        self.list_ready_tasks();
        let view = task_view(&self.ready_ids, self.list_ready, n, self.steps);
        let k = self.chooser.choose(view);
        assert!(k < n, "the scheduler chose index {k} among {n} ready tasks");
        self.record_task_decision(n, k);
        k
    }

    /// Takes the next task out of the ready set, for a chooser that tracks it and may
    /// name its pick (`Chooser::choose_ready`; `n` ≥ 2 tasks are ready), and records the
    /// decision: a named pick is found without a search, and its FIFO index is worked
    /// out only for the record.
    #[inline(never)]
    fn take_named_pick(&mut self, n: usize) -> u32 {
        self.list_ready_tasks();
        let view = task_view(&self.ready_ids, self.list_ready, n, self.steps);
        let Some(task) = self.chooser.choose_ready(view) else {
            // It answers by index after all (the tasks are listed already).
            let k = self.chooser.choose(view);
            assert!(k < n, "the scheduler chose index {k} among {n} ready tasks");
            self.record_task_decision(n, k);
            return self.take_pick(k);
        };
        let position = self.ready_position(task);
        if self.record_decisions {
            let k = self.ready.rank_at(position);
            self.record_task_decision(n, k);
        }
        self.ready.remove_at(position)
    }

    /// Lists the ready tasks in `ready_ids` if the chooser needs them.
    #[inline]
    fn list_ready_tasks(&mut self) {
        if self.list_ready {
            self.ready_ids.clear();
            let slots = &self.slots;
            self.ready_ids
                .extend(self.ready.iter().map(|i| slots[i as usize].id));
        }
    }

    #[inline]
    fn record_task_decision(&mut self, n: usize, k: usize) {
        if self.record_decisions {
            self.decisions.push(Decision {
                kind: DecisionKind::Task,
                ready: n as u32,
                chosen: k as u32,
            });
        }
    }

    /// The slot task `task` was given, as a chooser that names its pick knows it by id
    /// (the slot may hold another task since).
    fn slot_of(&self, task: Id) -> Option<u32> {
        let number = usize::try_from(task.as_u64()).ok()?;
        self.slot_of_id.get(number).copied()
    }

    /// Where ready task `task` is in the ready set, as a chooser named it.
    fn ready_position(&mut self, task: Id) -> usize {
        let slot = self.slot_of(task);
        let position = slot.and_then(|slot| {
            let slot_ok = self.slots[slot as usize].id == task;
            slot_ok.then(|| self.ready.position_of(slot)).flatten()
        });
        match position {
            Some(position) => {
                if self.peeked_slot.take() == slot {
                    self.guesses_taken += 1;
                }
                position
            }
            None => panic!("the scheduler chose {task}, which is not ready"),
        }
    }

    /// Picks the next task to poll, firing timers or stopping the run as needed.
    pub(crate) fn next_step(&mut self, foreign_wakers: &mut Vec<Waker>) -> Next {
        if self.failure.is_some()
            && let Some(error) = self.failure.take()
        {
            return Next::Stop(Box::new(error));
        }
        let n = self.ready.len();
        if n == 0 {
            return match self.fire_timers(foreign_wakers) {
                true => Next::Fire,
                false => Next::Stop(Box::new(RunError::Deadlock {
                    blocked: self.unfinished_tasks(),
                })),
            };
        }
        if self.steps >= self.limit {
            return Next::Stop(Box::new(self.out_of_budget()));
        }
        let first_in_line = match self.record_trace {
            true => self.first_in_line(),
            false => None,
        };
        let index = match n {
            1 => self.take_pick(0),
            _ if self.track_ready => self.take_named_pick(n),
            _ => {
                let k = self.choose_task(n);
                self.take_pick(k)
            }
        };
        // A chooser that does not track the ready set peeks before this task's slot is
        // read, so that the guess's misses and this slot's overlap.
        let look_ahead = n >= LOOK_AHEAD_FROM;
        if look_ahead && !self.track_ready {
            self.look_ahead();
        }
        self.steps += 1;
        self.current = Some(index);
        let quiet = !self.notes_waits();
        let slot = &mut self.slots[index as usize];
        slot.state = State::Running;
        slot.last_poll = self.steps;
        let task = slot.id;
        let step = Step {
            index,
            address: Address::new(self.thread, index, slot.generation, quiet),
            cell: slot.cell.take(),
        };
        if self.track_ready {
            self.chooser.on_unready(task);
            // After `on_unready`: a chooser that tracks the ready set peeks at it as
            // the next step will find it.
            if look_ahead {
                self.look_ahead();
            }
        }
        if let Some(first_in_line) = first_in_line {
            self.record(EventKind::Poll {
                task,
                ready: n,
                first_in_line,
            });
        }
        Next::Poll(step)
    }

    /// Removes the `k`-th ready task from the ready set, at the position the last
    /// step's guess found if it guessed `k` and nothing was removed since.
    #[inline]
    fn take_pick(&mut self, k: usize) -> u32 {
        if self.lookahead.is_some() {
            return self.take_guessed_pick(k);
        }
        self.ready.remove_nth(k)
    }

    /// `take_pick` after a guess (only runs with many ready tasks make one).
    #[inline(never)]
    fn take_guessed_pick(&mut self, k: usize) -> u32 {
        if let Some(guess) = self.lookahead.take()
            && guess.removals == self.ready.removals()
            && let Some(&(_, position)) = guess.candidates.iter().find(|(c, _)| *c == k)
        {
            self.guesses_taken += 1;
            return self.ready.remove_at(position);
        }
        self.ready.remove_nth(k)
    }

    /// Guesses the next step's pick and prefetches its slot and future, so that they
    /// arrive while the task just picked is polled. The next step's count of ready
    /// tasks is guessed two ways: this step's task does not come back, or it yields
    /// and comes back at the end of the line; a uniform pick then lands on the same
    /// index or on its neighbour. Tasks that this poll wakes or spawns also join at
    /// the end, after every candidate, so they change the count but not the positions.
    #[inline(never)]
    fn look_ahead(&mut self) {
        if self.track_ready {
            self.look_ahead_by_task();
            return;
        }
        let left = self.ready.len();
        let (Some(k0), Some(k1)) = (self.chooser.peek(left), self.chooser.peek(left + 1)) else {
            return;
        };
        if k0 >= left {
            return;
        }
        let p0 = self.ready.nth_position(k0);
        let mut candidates = [(k0, p0), (usize::MAX, 0)];
        if k1 == k0 + 1 && k1 < left {
            candidates[1] = (k1, self.ready.next_position(p0));
        }
        for (k, position) in candidates {
            if k != usize::MAX {
                let index = self.ready.value_at(position) as usize;
                prefetch((&raw const self.slots[index]).addr());
                prefetch(self.ready.hint_at(position));
            }
        }
        self.lookahead = Some(Lookahead {
            removals: self.ready.removals(),
            candidates,
        });
    }

    /// `look_ahead` for a chooser that names its pick: the task it would name now, if
    /// it can tell, is prefetched; no position is guessed, since a named pick is found
    /// without a search.
    fn look_ahead_by_task(&mut self) {
        let Some(task) = self.chooser.peek_ready() else {
            return;
        };
        let slot = self.slot_of(task);
        if let Some(slot) = slot {
            prefetch((&raw const self.slots[slot as usize]).addr());
            if let Some(position) = self.ready.position_of(slot) {
                prefetch(self.ready.hint_at(position));
            }
        }
        self.peeked_slot = slot;
    }

    /// The ready task asyncio would run next (for the trace).
    #[cold]
    #[inline(never)]
    fn first_in_line(&self) -> Option<Id> {
        self.ready.iter().next().map(|i| self.slots[i as usize].id)
    }

    /// Records the end of task `index`'s poll, and where a detsim future left it.
    #[cold]
    #[inline(never)]
    fn record_poll_end(&mut self, index: u32, end: PollEnd) {
        let slot = &self.slots[index as usize];
        let task = slot.id;
        let at = match (
            end,
            slot.position(self.waits.get(index as usize), self.epoch),
        ) {
            (PollEnd::Parked, Position::At(site)) => Some(site),
            _ => None,
        };
        self.record(EventKind::PollEnd { task, at });
    }

    /// The run-scoped value keyed by `type_id`, if one was created (see `extension.rs`).
    pub(crate) fn extension(&self, type_id: TypeId) -> Option<Rc<dyn Any>> {
        self.extensions
            .iter()
            .find(|(id, _)| *id == type_id)
            .map(|(_, value)| value.clone())
    }

    /// The run-scoped value keyed by `type_id`, inserting `fresh` if there is none yet.
    pub(crate) fn extension_or_insert(
        &mut self,
        type_id: TypeId,
        fresh: Rc<dyn Any>,
    ) -> Rc<dyn Any> {
        if let Some(value) = self.extension(type_id) {
            return value;
        }
        self.extensions.push((type_id, fresh.clone()));
        fresh
    }

    /// Takes every run-scoped value, for the runtime to drop outside the borrow.
    pub(crate) fn take_extensions(&mut self) -> Vec<(TypeId, Rc<dyn Any>)> {
        std::mem::take(&mut self.extensions)
    }

    /// The seed of the current run.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// The run's budget ran out: a livelock if the polls of at least the last half of
    /// the budget (or the last 10,000) made no progress, else a long run.
    #[cold]
    fn out_of_budget(&self) -> RunError {
        let ready = self.ready.iter().map(|i| self.info(i)).collect();
        let quiet = self.steps - self.progress_step;
        let max_steps = self.limit;
        match quiet >= (max_steps / 2).min(LIVELOCK_QUIET_POLLS) {
            true => RunError::Livelock { max_steps, ready },
            false => RunError::PollBudget { max_steps, ready },
        }
    }

    /// A decision of a kind other than the next task (see [`crate::choice::decide`]).
    pub(crate) fn decide(&mut self, kind: DecisionKind, options: usize) -> usize {
        if options < 2 {
            return 0;
        }
        let view = ReadyView::other(kind, options, self.steps);
        let chosen = self.chooser.choose(view);
        assert!(
            chosen < options,
            "the scheduler chose option {chosen} of {options} ({kind} decision)"
        );
        if self.record_decisions {
            self.decisions.push(Decision {
                kind,
                ready: options as u32,
                chosen: chosen as u32,
            });
        }
        let task = self.current_task().unwrap_or(Id::ROOT);
        self.record(EventKind::Decide {
            task,
            kind,
            options,
            chosen,
        });
        chosen
    }

    /// Settles a poll's outcome and applies the wakes it caused: one state transition
    /// per way a poll can end (tokio's `transition_to_*`), then the bookkeeping every
    /// poll shares.
    pub(crate) fn settle(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        result: std::thread::Result<Poll<()>>,
    ) -> Settled {
        self.current = None;
        let id = self.slots[index as usize].id;
        let mut settled = Settled::nothing();
        let end = match result {
            Ok(Poll::Pending) if self.slots[index as usize].abort_requested => {
                self.transition_to_self_aborted(index, cell, &mut settled)
            }
            Ok(Poll::Pending) => self.transition_to_parked(index, cell),
            Ok(Poll::Ready(())) => self.transition_to_complete(index, cell, &mut settled),
            Err(payload) => self.transition_to_panicked(index, cell, payload, &mut settled),
        };
        self.end_poll(index, id, end);
        if settled.outcome.is_none()
            && self.failure.is_some()
            && let Some(error) = self.failure.take()
        {
            settled.outcome = Some(Err(Box::new(error)));
        }
        settled
    }

    /// `settle` for a poll that returned `Pending` without the task aborting itself (the
    /// common case): parks the task and applies the poll's wakes. Returns false, having
    /// done nothing, if the task aborted itself; `settle` handles that. A failure found
    /// meanwhile stays in `failure`, where the next step finds it.
    #[inline]
    pub(crate) fn settle_parked(
        &mut self,
        index: u32,
        cell: &mut Option<Pin<Box<dyn ErasedTask>>>,
    ) -> bool {
        let slot = &self.slots[index as usize];
        if slot.abort_requested {
            return false;
        }
        let id = slot.id;
        self.current = None;
        let end = self.transition_to_parked(index, cell.take());
        self.end_poll(index, id, end);
        true
    }

    /// The task aborted itself during its poll: its future is dropped (by the caller,
    /// outside the borrow) and it finishes cancelled.
    fn transition_to_self_aborted(
        &mut self,
        index: u32,
        mut cell: Option<Pin<Box<dyn ErasedTask>>>,
        settled: &mut Settled,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        let id = slot.id;
        slot.state = State::Finished;
        slot.cancelled = true;
        settled.dropped = cell.take();
        self.record(EventKind::Abort {
            task: id,
            by: Some(id),
        });
        self.finished(index, settled);
        PollEnd::Finished
    }

    /// The task is pending: its future goes back into its slot until a wake.
    #[inline(always)]
    fn transition_to_parked(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Parked;
        slot.cell = cell;
        PollEnd::Parked
    }

    /// The task returned: its cell now holds the output; the root's return ends the run.
    fn transition_to_complete(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        settled: &mut Settled,
    ) -> PollEnd {
        let slot = &mut self.slots[index as usize];
        let id = slot.id;
        slot.state = State::Finished;
        slot.cell = cell;
        self.record(EventKind::Complete { task: id });
        if id == Id::ROOT {
            settled.outcome = Some(Ok(()));
        }
        self.finished(index, settled);
        PollEnd::Finished
    }

    /// The task panicked: a spawned task's cell holds the panic for its joiner; the
    /// root's panic fails the run with its payload.
    fn transition_to_panicked(
        &mut self,
        index: u32,
        cell: Option<Pin<Box<dyn ErasedTask>>>,
        payload: Payload,
        settled: &mut Settled,
    ) -> PollEnd {
        let location = context::take_panic_location();
        let id = self.slots[index as usize].id;
        self.slots[index as usize].state = State::Finished;
        if self.record_trace {
            let message = payload_str(payload.as_ref())
                .unwrap_or("Box<dyn Any>")
                .to_owned();
            self.record(EventKind::Panic { task: id, message });
        }
        let slot = &mut self.slots[index as usize];
        match cell {
            None => {
                settled.outcome = Some(Err(Box::new(RunError::Panic {
                    task: self.info(index),
                    payload,
                    location,
                })));
            }
            Some(mut cell) => {
                let error = JoinError::panic(id, payload, location.clone());
                cell.as_mut().finish_with(error);
                slot.cell = Some(cell);
                self.cold[index as usize].panic_location = location;
                self.finished(index, settled);
            }
        }
        PollEnd::Finished
    }

    /// What every poll ends with: the wakes it caused, the trace's end of the poll, the
    /// progress mark of livelock detection, and the chooser's notice.
    #[inline(always)]
    fn end_poll(&mut self, index: u32, id: Id, end: PollEnd) {
        let woke_others = self.apply_wakes(Some(id));
        if self.record_trace {
            self.record_poll_end(index, end);
        }
        let end = match end {
            PollEnd::Parked if self.slots[index as usize].state == State::Ready => PollEnd::Yielded,
            end => end,
        };
        if end != PollEnd::Yielded || woke_others {
            self.progress_step = self.steps;
        }
        if self.notify {
            self.chooser.on_poll_end(id, end);
        }
    }

    /// A task finished: wake its joiner, or, if nobody holds its handle, free it (and
    /// fail the run if it panicked: nobody could ever read that panic).
    fn finished(&mut self, index: u32, settled: &mut Settled) {
        let slot = &mut self.slots[index as usize];
        if let Some(waker) = slot.join_waker.take() {
            waker.wake();
        }
        if !slot.attached && slot.id != Id::ROOT {
            self.unread_panic_check(index);
            let cell = self.free_slot(index);
            if settled.dropped.is_none() {
                settled.dropped = cell;
            } else {
                drop(cell); // a finished cell holds no future; its output is the only drop
            }
        }
    }

    /// Records a failure if `index` holds a panic that nobody read.
    fn unread_panic_check(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(cell) = slot.cell.as_mut() else {
            return;
        };
        if let Some(error) = cell.as_mut().take_panic()
            && self.failure.is_none()
        {
            self.failure = Some(RunError::Panic {
                task: self.info(index),
                payload: error.into_panic(),
                location: self.cold[index as usize].panic_location.take(),
            });
        }
    }

    /// Whether this run notes where tasks wait: wait sites on, or the trace (which
    /// records them whatever the setting).
    #[inline(always)]
    fn notes_waits(&self) -> bool {
        self.wait_sites || self.record_trace
    }

    /// Notes that a detsim future suspends the running task at `site` (see
    /// [`crate::wait`]): one entry written, unless wait sites are off and the run is not
    /// traced.
    #[inline(always)]
    pub(crate) fn note_wait(&mut self, site: WaitSite) {
        if self.notes_waits()
            && let Some(index) = self.current
        {
            let index = index as usize;
            let entry = WaitEntry {
                epoch: self.epoch,
                task: self.slots[index].id,
                site,
                step: self.steps,
            };
            match self.waits.get_mut(index) {
                Some(slot) => *slot = entry,
                None => {
                    // Entries of slots that never waited belong to no run.
                    let filler = WaitEntry { epoch: 0, ..entry };
                    self.waits.resize(index, filler);
                    self.waits.push(entry);
                }
            }
        }
    }

    /// Timers fired: the run moves on in time, which is progress.
    pub(crate) fn note_progress(&mut self) {
        self.progress_step = self.steps;
    }

    /// Applies queued wakes in order; `by` is the task whose poll caused them. Returns
    /// whether a task other than `by` became ready.
    pub(crate) fn apply_wakes(&mut self, by: Option<Id>) -> bool {
        let mut others = false;
        waker::drain_into(&mut self.wake_buf);
        for i in 0..self.wake_buf.len() {
            let (index, generation) = self.wake_buf[i];
            // A stale waker may come from a run with more slots.
            let Some(slot) = self.slots.get_mut(index as usize) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            match slot.state {
                State::Parked => {
                    let task = slot.id;
                    others |= by != Some(task);
                    self.make_ready(index);
                    if by != Some(task) {
                        self.record(EventKind::Wake { task, by });
                    }
                }
                State::Spawned => {
                    others = true;
                    self.make_ready(index);
                }
                _ => {}
            }
        }
        others
    }

    pub(crate) fn take_user_rng(&mut self) -> UserRng {
        self.user_rng
            .take()
            .unwrap_or_else(|| Box::new(seeded_rng(self.seed, USER_STREAM)))
    }

    /// Task `index`'s id, name and spawn location (no position).
    fn info(&self, index: u32) -> TaskInfo {
        let cold = &self.cold[index as usize];
        TaskInfo {
            id: self.slots[index as usize].id,
            name: cold.name.clone(),
            spawned_at: cold.location,
            position: None,
        }
    }

    pub(crate) fn put_user_rng(&mut self, rng: UserRng) {
        self.user_rng = Some(rng);
    }

    /// Every task not yet finished, in id order, with its position (for deadlock
    /// reports).
    fn unfinished_tasks(&self) -> Vec<TaskInfo> {
        let mut tasks: Vec<TaskInfo> = self
            .slots
            .iter()
            .zip(0..)
            .filter(|(s, _)| {
                matches!(
                    s.state,
                    State::Spawned | State::Ready | State::Parked | State::Running | State::Held
                )
            })
            .map(|(slot, index)| TaskInfo {
                position: Some(Box::new(slot.position(self.waits.get(index), self.epoch))),
                ..self.info(index as u32)
            })
            .collect();
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    /// A destructor of task `index`'s future or output panicked outside any poll (see
    /// `Runtime::drop_outside_poll`): traces the panic and names the task.
    pub(crate) fn destructor_panicked(&mut self, index: u32, payload: &Payload) -> TaskInfo {
        let info = self.info(index);
        if self.record_trace {
            let message = payload_str(payload.as_ref())
                .unwrap_or("Box<dyn Any>")
                .to_owned();
            let task = info.id;
            self.record(EventKind::Panic { task, message });
        }
        info
    }

    /// Takes the outcomes of finished tasks whose handles outlive the run (returned from
    /// it, or kept in the test's own state), in id order. Nobody can read them any more,
    /// since every other run refuses the handle: a panic among them fails the run, as a
    /// dropped handle's would, and the outputs are dropped with the run.
    pub(crate) fn take_escaped_outcomes(&mut self) -> Vec<(u32, Pin<Box<dyn ErasedTask>>)> {
        let mut escaped: Vec<(Id, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == State::Finished && s.cell.is_some())
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        escaped.sort_unstable();
        let mut cells = Vec::with_capacity(escaped.len());
        for (_, index) in escaped {
            self.unread_panic_check(index);
            cells.extend(self.slots[index as usize].cell.take().map(|c| (index, c)));
        }
        cells
    }

    /// Takes the futures of every task still pending, in id order, marking them finished.
    pub(crate) fn take_pending_cells(&mut self) -> Vec<(u32, Pin<Box<dyn ErasedTask>>)> {
        let mut pending: Vec<(Id, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.state,
                    State::Spawned | State::Ready | State::Parked | State::Held
                ) && s.cell.is_some()
            })
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        pending.sort_unstable();
        let mut cells = Vec::with_capacity(pending.len());
        for (task, index) in pending {
            self.record(EventKind::Dropped { task });
            let slot = &mut self.slots[index as usize];
            slot.state = State::Finished;
            slot.cancelled = true;
            cells.extend(slot.cell.take().map(|cell| (index, cell)));
        }
        self.ready.clear();
        cells
    }
}

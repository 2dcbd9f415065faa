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

use crate::choice::sealed::Seal;
use crate::choice::{
    BuiltIn, Chooser, ChooserSpec, DecisionKind, Options, PollEnd, Random, USER_STREAM, seeded_rng,
};
use crate::context;
use crate::join::{JoinError, TaskKey, payload_str};
use crate::outcome::{
    DEFAULT_MAX_POLLS, DEFAULT_POLLS_PER_TASK, Decision, ROOT_NAME, RunError, TaskInfo, UserRng,
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

mod chooser;
mod handles;
#[cfg(test)]
mod hook_tests;
mod nodes;
mod pick;
mod settle;
mod teardown;
mod timers;

use chooser::RunChooser;
#[cfg(test)]
pub(crate) use pick::LOOK_AHEAD_FROM;
use pick::{HINTS_FROM, Lookahead};

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
    /// A panic while its future was dropped after an abort, for its handle.
    abort_panic: Option<JoinError>,
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
    /// Cancelled, and its future panicked while it was dropped.
    Panicked(JoinError),
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
    /// it may name its pick by id (its hook `choose_ready`).
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
    /// Quiet polls (no progress, see `progress_step`) after which the clock jumps to
    /// the earliest timer although tasks are ready (`u64::MAX`: never; see
    /// `time::advance_when_busy`). Per run.
    busy_clock: u64,
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
    /// The session was shut down (`Runtime::shutdown_session`): a task spawned now is
    /// cancelled at once, and resources refuse to start (`crate::is_shut_down`).
    pub(crate) shut_down: bool,
    /// How this run's `JoinError`s print (see `join::set_run_flavor`).
    pub(crate) run_flavor: crate::join::RunFlavor,
    /// Run-scoped state of other crates (see `extension.rs`), in creation order.
    extensions: Vec<(TypeId, Rc<dyn Any>)>,
    /// Inputs of every run, set by the runtime's owner (see `extension.rs`).
    pub(crate) run_inputs: Vec<(TypeId, Rc<dyn Any>)>,
    /// Outputs of the current or last run, for the runtime's owner (see `extension.rs`).
    pub(crate) run_outputs: Vec<(TypeId, Box<dyn Any>)>,
    /// Each slot's last wait entry, indexed by slot; grown by `note_wait`.
    waits: Vec<WaitEntry>,
    /// This thread's beat for the watchdog (see `seal/watchdog.rs`): each poll marks
    /// its start (and `Runtime::run` its end) there.
    pub(crate) beat: std::sync::Arc<crate::seal::Beat>,
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
            limit: DEFAULT_MAX_POLLS,
            progress_step: 0,
            busy_clock: u64::MAX,
            current: None,
            record_trace: false,
            wait_sites: true,
            record_decisions: true,
            trace: Trace::default(),
            decisions: Vec::new(),
            failure: None,
            shut_down: false,
            run_flavor: crate::join::RunFlavor::Detsim,
            extensions: Vec::new(),
            run_inputs: Vec::new(),
            run_outputs: Vec::new(),
            waits: Vec::new(),
            beat: crate::seal::beat(),
            nodes: vec![nodes::NodeState::none()],
            lookahead: None,
            peeked_slot: None,
            guesses_taken: 0,
        }
    }

    /// Readies the core for a run of `seed` with `chooser`.
    pub(crate) fn reset(&mut self, seed: u64, chooser: ChooserSpec, user_rng: Option<UserRng>) {
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
        self.limit = self.max_steps.unwrap_or(DEFAULT_MAX_POLLS);
        self.progress_step = 0;
        self.busy_clock = u64::MAX;
        self.current = None;
        self.trace.clear();
        self.decisions.clear();
        self.failure = None;
        self.shut_down = false;
        self.run_flavor = crate::join::RunFlavor::Detsim;
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

    /// Makes the root slot ready for a session's next `block_on` (see
    /// `runtime/session.rs`) once the last root completed; nothing on a fresh run.
    pub(crate) fn rearm_root(&mut self) {
        let slot = &mut self.slots[0];
        if slot.state != State::Finished {
            return;
        }
        slot.state = State::Ready;
        self.ready.push(0);
        if self.track_ready {
            self.chooser.on_ready(Id::ROOT);
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
            abort_panic: None,
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

    /// Begins a span of `task` (when the run is traced): see [`crate::trace::begin_span`].
    pub(crate) fn begin_span(
        &mut self,
        task: Id,
        track: crate::trace::SpanTrack,
        name: impl FnOnce() -> String,
    ) -> Option<crate::trace::SpanId> {
        if !self.record_trace {
            return None;
        }
        let span = self.trace.next_span();
        self.record(EventKind::SpanBegin {
            span,
            task,
            track,
            name: name(),
        });
        Some(span)
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, kind: EventKind) {
        if self.record_trace {
            self.trace
                .push(self.steps, Duration::from_nanos(self.now), kind);
        }
    }

    pub(crate) fn current_task(&self) -> Option<Id> {
        self.current.map(|index| self.slots[index as usize].id)
    }

    /// Makes task `index` the current one (`None`: no task); returns the previous one.
    pub(crate) fn swap_current(&mut self, index: Option<u32>) -> Option<u32> {
        std::mem::replace(&mut self.current, index)
    }

    /// From now on in this run, the clock jumps to the earliest timer once tasks have
    /// only yielded for `polls` polls in a row (`None`: never, the default).
    pub(crate) fn set_busy_clock(&mut self, polls: Option<u64>) {
        self.busy_clock = polls.map_or(u64::MAX, |polls| polls.max(1));
    }

    /// The task being polled, with its name and spawn site.
    pub(crate) fn current_info(&self) -> Option<TaskInfo> {
        self.current.map(|index| self.info(index))
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

    pub(crate) fn take_user_rng(&mut self) -> UserRng {
        self.user_rng
            .take()
            .unwrap_or_else(|| Box::new(seeded_rng(self.seed, USER_STREAM)))
    }

    pub(crate) fn put_user_rng(&mut self, rng: UserRng) {
        self.user_rng = Some(rng);
    }
}

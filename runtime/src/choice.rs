//! Scheduling policy: which ready task runs next.
//!
//! A [`Chooser`] is asked only when two or more tasks are ready; with one ready task
//! there is nothing to decide, no randomness is drawn and no decision is recorded. The
//! answer is an index into the ready set in FIFO order, so index 0 is always what
//! asyncio would run, and a decision that is not 0 is a *deviation*. (A built-in
//! chooser that tracks the ready set, PCT, may name its pick by task instead through
//! its private hooks, `BuiltIn`; the decision recorded is still that task's index.)
//!
//! The public [`Chooser`] is what a policy needs (choose among the options, follow
//! spawns and poll ends); a run's chooser is named by a [`ChooserSpec`].
//!
//! Invariants:
//! - a chooser's answers depend only on its own state and the calls it received, never
//!   on addresses, wall-clock time or hash order: same seed, same decisions;
//! - random choices come from ChaCha8 through [`uniform_index`], a method defined here
//!   (not a `rand` convenience whose algorithm could change between versions), so a seed
//!   keeps its schedule across releases of `rand`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::task::Id;

/// The ChaCha stream that drives scheduling decisions.
pub const SCHEDULER_STREAM: u64 = 0;
/// The ChaCha stream behind [`crate::random`], separate so that a change of scheduler
/// leaves the program's own random values alone.
pub const USER_STREAM: u64 = 1;

/// The ChaCha stream of the simulated network (`detsim-net`): per-run link latencies.
/// Separate from the scheduler's and the program's streams, so the network's draws
/// change neither the schedule's decisions nor the program's own random values.
pub const NETWORK_STREAM: u64 = 2;

/// The ChaCha stream behind the OS randomness a run draws (`getrandom`, `getentropy`:
/// `HashMap` keys, `thread_rng`, `uuid`; see [`crate::seal`]). Separate from the
/// others, so that code drawing OS randomness moves neither the schedule nor the
/// program's own random values.
pub const OS_STREAM: u64 = 3;

/// Stream `stream` of the current run's seed (see [`seeded_rng`]): for crates built on
/// the runtime that need seed-derived values outside the decision list. Streams
/// [`SCHEDULER_STREAM`] and [`USER_STREAM`] are taken; [`NETWORK_STREAM`] is the
/// network's, [`OS_STREAM`] the OS randomness's.
///
/// # Panics
/// Outside a simulation.
pub fn run_stream(stream: u64) -> ChaCha8Rng {
    let seed = crate::context::with_core("detsim_runtime::choice::run_stream", |core| core.seed());
    seeded_rng(seed, stream)
}

/// The random stream `stream` of `seed`: ChaCha8 keyed by the seed's 8 little-endian
/// bytes followed by 24 zero bytes, on ChaCha stream `stream`. This is the definition
/// of what a seed means; changing it would change every recorded schedule.
///
/// Public on purpose: a chooser of your own (or `detsim`'s replay of recorded random
/// words, which falls back to the seed's [`USER_STREAM`]) draws from the same streams
/// a seed means everywhere else.
pub fn seeded_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// A uniform index in `0..n` from one 64-bit draw: `(x · n) >> 64` (Lemire's
/// multiply-shift without rejection; its bias, below n/2⁶⁴, cannot be observed in a run).
///
/// Public on purpose, with [`seeded_rng`]: every random choice a seed makes (a task
/// pick, the simulated network's latencies in `detsim-net`, a chooser of a user's)
/// derives an index this one way, so a seed keeps its meaning across crates.
pub fn uniform_index(rng: &mut impl Rng, n: usize) -> usize {
    scale_word(rng.next_u64(), n)
}

/// `uniform_index`'s map from one word of the stream to `0..n`.
#[inline]
fn scale_word(word: u64, n: usize) -> usize {
    debug_assert!(n > 0);
    ((u128::from(word) * n as u128) >> 64) as usize
}

/// What a decision point chooses among. Every source of choice in a run is a decision
/// point with two or more options answered by an index; index 0 is always the default
/// order (asyncio's FIFO for tasks, source order for a `select!`, the earliest queued
/// of simultaneous deliveries), so a non-zero answer is a *deviation*. All kinds go
/// into the one recorded decision list: replay, shrinking, tokens, fuzzing and
/// exploration treat them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DecisionKind {
    /// Which ready task is polled next; options are the ready tasks in FIFO order.
    Task,
    /// Which branch of a non-`biased` `select!` is tried first; options are the
    /// branches in source order.
    Select,
    /// Which of several network deliveries due at the same instant goes first; options
    /// are the deliveries in the order they were queued.
    Delivery,
    /// A fault decision (whether and how a fault happens); option 0 is "no fault".
    Fault,
    /// What a crash (a killed node) leaves of a simulated disk's unsynced changes: its
    /// unsynced directory changes, then each file's unsynced writes. Option 0 keeps
    /// everything (what a process crash without power loss leaves); drawn only when a
    /// node is killed with unsynced changes on its disk.
    Crash,
}

impl DecisionKind {
    /// A short lowercase name, as traces print it (`task`, `select`, …).
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Task => "task",
            DecisionKind::Select => "select",
            DecisionKind::Delivery => "delivery",
            DecisionKind::Fault => "fault",
            DecisionKind::Crash => "crash",
        }
    }
}

impl std::fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Asks the running simulation's chooser to pick one of `options` alternatives of a
/// decision of `kind` (not [`DecisionKind::Task`]: the executor makes those itself),
/// records the decision and a trace event, and returns the index chosen (`0..options`;
/// 0 is the default order). With fewer than two options there is nothing to decide:
/// returns 0 without drawing randomness or recording anything.
///
/// This is how every source of choice other than the next task (a `select!` branch,
/// the order of simultaneous deliveries, a fault) becomes part of the seed's schedule:
/// replayed by a token, shrunk, steered by PCT and the fuzzer, and enumerated by
/// exhaustive exploration.
///
/// # Panics
/// Outside a simulation, or with `kind == DecisionKind::Task`.
pub fn decide(kind: DecisionKind, options: usize) -> usize {
    assert!(
        kind != DecisionKind::Task,
        "detsim::choice::decide: task decisions are made by the executor"
    );
    crate::context::with_core("detsim::choice::decide", |core| core.decide(kind, options))
}

/// The options of a decision, as the chooser is asked about them: what is decided
/// ([`kind`](Options::kind)), how many options there are ([`len`](Options::len)), for
/// a task decision the ready tasks when the chooser asks for them
/// ([`tasks`](Options::tasks)), and the poll being decided ([`poll`](Options::poll)).
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub(crate) kind: DecisionKind,
    pub(crate) len: usize,
    /// Empty unless the chooser's `needs_tasks` is true.
    pub(crate) ready: &'a [Id],
    pub(crate) poll: u64,
}

/// The former name of [`Options`].
#[deprecated(
    since = "0.2.0",
    note = "renamed `Options`: it names the options of any decision"
)]
pub type ReadyView<'a> = Options<'a>;

impl<'a> Options<'a> {
    /// The options of a task decision among `ready` (oldest first) at poll number
    /// `poll`; for choosers' own tests.
    pub fn new(ready: &'a [Id], poll: u64) -> Self {
        Options {
            kind: DecisionKind::Task,
            len: ready.len(),
            ready,
            poll,
        }
    }

    /// The options of a decision of another kind among `options` alternatives at poll
    /// number `poll`; for choosers' own tests.
    pub fn other(kind: DecisionKind, options: usize, poll: u64) -> Self {
        Options {
            kind,
            len: options,
            ready: &[],
            poll,
        }
    }

    /// What is being decided: the next task, or a decision of another kind.
    pub fn kind(&self) -> DecisionKind {
        self.kind
    }

    /// How many options there are: ready tasks for a task decision (always at least 2
    /// when a chooser is asked).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a chooser is never asked about fewer than two options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ready tasks, oldest first: index `k` of a task decision refers to
    /// `tasks()[k]`. Listed only for task decisions of choosers whose
    /// [`Chooser::needs_tasks`] is true; empty otherwise.
    pub fn tasks(&self) -> &'a [Id] {
        self.ready
    }

    /// Polls made so far in this run (the index of the poll being decided).
    pub fn poll(&self) -> u64 {
        self.poll
    }

    /// The former name of [`poll`](Options::poll).
    #[deprecated(since = "0.2.0", note = "renamed `poll`: detsim counts polls")]
    pub fn step(&self) -> u64 {
        self.poll
    }
}

/// How a poll of a task ended, reported to the chooser after every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEnd {
    /// The task woke itself during the poll (`yield_now`) and is ready again.
    Yielded,
    /// The task is parked until something wakes it.
    Parked,
    /// The task completed, panicked or was cancelled.
    Finished,
}

/// A scheduling policy: what a policy needs, and nothing of the executor's. The
/// executor calls [`choose`](Chooser::choose) when at least two tasks are ready, and
/// [`decide`] calls it for decisions of other kinds ([`Options::kind`]); a policy may
/// follow spawns and the end of each poll.
///
/// ```
/// use detsim_runtime::choice::{Chooser, Options};
///
/// /// Always the newest ready task (LIFO).
/// struct Newest;
///
/// impl Chooser for Newest {
///     fn choose(&mut self, options: Options<'_>) -> usize {
///         options.len() - 1
///     }
/// }
///
/// let mut rt = detsim_runtime::Runtime::with_chooser(0, Box::new(Newest));
/// assert_eq!(rt.block_on(async { 7 }), 7);
/// ```
pub trait Chooser {
    /// Picks the index (`0..options.len()`): for a task decision, of the task to poll
    /// next in FIFO order; for other kinds, of the option (0 is the default order).
    fn choose(&mut self, options: Options<'_>) -> usize;

    /// Whether `choose` needs [`Options::tasks`] for task decisions. Policies that only
    /// look at the count return false (the default) and spare the executor the listing.
    fn needs_tasks(&self) -> bool {
        false
    }

    /// A task was spawned (the root task `t0` included).
    fn on_spawn(&mut self, _task: Id) {}

    /// A poll of `task` ended.
    fn on_poll_end(&mut self, _task: Id, _end: PollEnd) {}

    /// The built-in choosers' hooks; a chooser outside this crate cannot name
    /// `sealed::Seal`, so it keeps this default: no hooks.
    #[doc(hidden)]
    #[allow(
        private_interfaces,
        reason = "sealed: only the built-in choosers override it"
    )]
    fn __builtin(&mut self, _: sealed::Seal) -> Option<&mut dyn BuiltIn> {
        None
    }
}

pub(crate) mod sealed {
    /// The token that keeps [`Chooser::__builtin`](super::Chooser::__builtin) to this
    /// crate.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Seal;
}

/// What the built-in choosers do beyond [`Chooser`], for speed: the executor asks
/// through [`Chooser::__builtin`] (a boxed built-in) or calls them directly (a
/// built-in kept inline, see `executor/chooser.rs`). Every answer must leave the run
/// exactly what the public methods alone would make it.
pub(crate) trait BuiltIn {
    /// Whether the chooser follows the ready set through [`on_ready`](BuiltIn::on_ready)
    /// and [`on_unready`](BuiltIn::on_unready) (PCT does, to find its pick and the
    /// pick's FIFO index in O(log n) without a listing). Asked once per run.
    fn tracks_ready(&self) -> bool {
        false
    }

    /// `task` entered the ready set, at the back (FIFO order). Called only when
    /// [`tracks_ready`](BuiltIn::tracks_ready) is true.
    fn on_ready(&mut self, _task: Id) {}

    /// `task` left the ready set: it was picked for a poll (after `choose`, or as the
    /// only ready task) or aborted. Called only when
    /// [`tracks_ready`](BuiltIn::tracks_ready) is true.
    fn on_unready(&mut self, _task: Id) {}

    /// For a chooser that tracks the ready set: the task to poll next, named by id,
    /// instead of its index (`None`, the default: the executor asks
    /// [`Chooser::choose`]). Asked only for task decisions among two or more ready
    /// tasks; the task named must be one of them.
    ///
    /// The executor finds the task without searching the ready set, and records its
    /// FIFO index as the decision, exactly as if `choose` had returned that index: a
    /// chooser that knows its pick by task (PCT, by priority) needs no copy of the
    /// ready set's order. `choose` must still answer by index for a task decision whose
    /// options list the tasks ([`Options::tasks`]), as a chooser's own tests ask.
    fn choose_ready(&mut self, _options: Options<'_>) -> Option<Id> {
        None
    }

    /// The task [`choose_ready`](BuiltIn::choose_ready) would name if asked now, or
    /// `None` if the chooser cannot tell cheaply (the default). Like
    /// [`peek`](BuiltIn::peek), it must not change any later answer; the executor
    /// prefetches that task's memory while the current one is polled.
    fn peek_ready(&mut self) -> Option<Id> {
        None
    }

    /// The index `choose` would return if the next decision were a task decision among
    /// `options` ready tasks, or `None` if the chooser cannot tell cheaply (the
    /// default). Peeking must not change what any later `choose` returns.
    ///
    /// The executor asks this during a step, with the count of the next step guessed,
    /// when many tasks are ready: it prefetches the likely next task so that its memory
    /// is in cache by the time it is polled. A wrong answer costs only that prefetch.
    fn peek(&mut self, _options: usize) -> Option<usize> {
        None
    }
}

impl std::fmt::Debug for dyn Chooser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Chooser")
    }
}

/// Which chooser a run uses ([`Runtime::reset`](crate::Runtime::reset)): a built-in one
/// by name, which a runtime keeps inline and resets in place from run to run (no
/// allocation per run; PCT keeps its buffers), or a chooser of your own. The one value
/// a harness hands the runtime: a new built-in scheduler is a new variant here.
#[non_exhaustive]
pub enum ChooserSpec {
    /// [`Random::new(seed)`](Random::new): the default.
    Random,
    /// [`Fifo`]: asyncio's order.
    Fifo,
    /// [`Pct::new(seed, depth, expected_polls)`](crate::Pct::new).
    Pct {
        /// The bug depth PCT targets (at least 1).
        depth: u32,
        /// How many polls the run is expected to make (PCT's `k`).
        expected_polls: u64,
    },
    /// A chooser of your own (or a built-in one already made).
    Custom(Box<dyn Chooser>),
}

impl ChooserSpec {
    /// The chooser this names for a run of `seed`, boxed: the chooser a runtime given
    /// this spec uses, answer for answer.
    pub fn build(self, seed: u64) -> Box<dyn Chooser> {
        match self {
            ChooserSpec::Random => Box::new(Random::new(seed)),
            ChooserSpec::Fifo => Box::new(Fifo),
            ChooserSpec::Pct {
                depth,
                expected_polls,
            } => Box::new(crate::Pct::new(seed, depth, expected_polls)),
            ChooserSpec::Custom(chooser) => chooser,
        }
    }
}

impl std::fmt::Debug for ChooserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChooserSpec::Random => f.write_str("Random"),
            ChooserSpec::Fifo => f.write_str("Fifo"),
            ChooserSpec::Pct {
                depth,
                expected_polls,
            } => f
                .debug_struct("Pct")
                .field("depth", depth)
                .field("expected_polls", expected_polls)
                .finish(),
            ChooserSpec::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl From<Box<dyn Chooser>> for ChooserSpec {
    fn from(chooser: Box<dyn Chooser>) -> Self {
        ChooserSpec::Custom(chooser)
    }
}

/// `None` is [`ChooserSpec::Random`], the seed's random chooser (what
/// `Runtime::reset(seed, None)` always meant).
impl From<Option<Box<dyn Chooser>>> for ChooserSpec {
    fn from(chooser: Option<Box<dyn Chooser>>) -> Self {
        chooser.map_or(ChooserSpec::Random, ChooserSpec::Custom)
    }
}

/// asyncio's order: always the oldest ready task.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fifo;

impl Chooser for Fifo {
    fn choose(&mut self, _options: Options<'_>) -> usize {
        0
    }
}

/// A uniform choice among the ready tasks at every step.
#[derive(Debug, Clone)]
pub struct Random {
    rng: ChaCha8Rng,
    /// The stream's next word, drawn early by `peek`; the next `choose` uses it.
    peeked: Option<u64>,
}

impl Random {
    /// The random policy for `seed` (stream [`SCHEDULER_STREAM`]).
    pub fn new(seed: u64) -> Self {
        Random {
            rng: seeded_rng(seed, SCHEDULER_STREAM),
            peeked: None,
        }
    }
}

impl Chooser for Random {
    // `#[inline]` although it is called through a vtable: it lets the compiler place
    // this function with ChaCha's block function and inline that into it, as the hot
    // path of every sweep wants (without it, the block function is called out of line
    // and every draw pays for saving registers around that call: 3% more instructions
    // per seed of the tiny test).
    #[inline]
    fn choose(&mut self, options: Options<'_>) -> usize {
        if self.peeked.is_some() {
            return self.choose_peeked(options.len());
        }
        uniform_index(&mut self.rng, options.len())
    }

    #[allow(private_interfaces, reason = "sealed: the hooks stay inside the crate")]
    fn __builtin(&mut self, _: sealed::Seal) -> Option<&mut dyn BuiltIn> {
        Some(self)
    }
}

impl BuiltIn for Random {
    /// Draws the stream's next word now rather than at the next `choose`: every
    /// decision still takes the same word, in the same order.
    fn peek(&mut self, options: usize) -> Option<usize> {
        let word = *self.peeked.get_or_insert_with(|| self.rng.next_u64());
        Some(scale_word(word, options))
    }
}

impl Random {
    /// `choose` with the word `peek` drew, out of line: the common path of `choose`
    /// (nothing peeked, as in every run with fewer than 16,384 ready tasks) stays as
    /// short as it was before peeking existed.
    #[cold]
    #[inline(never)]
    fn choose_peeked(&mut self, options: usize) -> usize {
        let word = self.peeked.take().expect("a peeked word");
        scale_word(word, options)
    }
}

/// Feeds back a recorded list of decisions; past its end, FIFO order (index 0).
///
/// A recorded index that is out of range for the ready set at its step (the program
/// changed, or a shrinking step changed what is ready) is clamped to the last ready
/// task and counted in [`Replay::mismatches`].
#[derive(Debug, Clone, Default)]
pub struct Replay {
    decisions: Vec<u32>,
    next: usize,
    mismatches: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Replay {
    /// Replays `decisions` (chosen indices, one per decision point).
    pub fn new(decisions: Vec<u32>) -> Self {
        Replay {
            decisions,
            next: 0,
            mismatches: Default::default(),
        }
    }

    /// A counter of clamped decisions that stays readable after the chooser is handed
    /// to a runtime.
    pub fn mismatches(&self) -> std::rc::Rc<std::cell::Cell<u64>> {
        self.mismatches.clone()
    }
}

impl BuiltIn for Replay {
    fn peek(&mut self, options: usize) -> Option<usize> {
        let chosen = self.decisions.get(self.next).map_or(0, |&c| c as usize);
        Some(chosen.min(options - 1))
    }
}

impl Chooser for Replay {
    #[allow(private_interfaces, reason = "sealed: the hooks stay inside the crate")]
    fn __builtin(&mut self, _: sealed::Seal) -> Option<&mut dyn BuiltIn> {
        Some(self)
    }

    fn choose(&mut self, ready: Options<'_>) -> usize {
        let Some(&chosen) = self.decisions.get(self.next) else {
            return 0;
        };
        self.next += 1;
        let chosen = chosen as usize;
        if chosen >= ready.len() {
            self.mismatches.set(self.mismatches.get() + 1);
            return ready.len() - 1;
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_index_stays_in_range_and_covers_it() {
        let mut rng = seeded_rng(7, 0);
        let mut seen = [0u32; 5];
        for _ in 0..5_000 {
            seen[uniform_index(&mut rng, 5)] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    /// A seed's stream is part of the compatibility promise: these values must never change.
    #[test]
    fn seed_streams_are_pinned() {
        let first: Vec<u64> = (0..2).map(|_| seeded_rng(0, 0).next_u64()).collect();
        assert_eq!(first[0], first[1]);
        let scheduler = seeded_rng(42, SCHEDULER_STREAM).next_u64();
        let user = seeded_rng(42, USER_STREAM).next_u64();
        assert_ne!(scheduler, user);
        assert_eq!(scheduler, PINNED_SEED_42_STREAM_0);
    }

    const PINNED_SEED_42_STREAM_0: u64 = 6_424_161_053_832_095_879;
}

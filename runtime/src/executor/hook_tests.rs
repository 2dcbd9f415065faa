//! Tests of the built-in choosers' hooks (private to the crate, hence unit tests):
//! the look-ahead and picks named by task.
//!
//! With many ready tasks, each step guesses the next pick from the chooser's `peek` and
//! prefetches it (see `prefetch.rs`). The guess must never change a run: a chooser that
//! peeks and the same chooser hidden behind one that does not make the same run, poll
//! for poll, through the things that move the ready set between a guess and its pick
//! (aborts of ready tasks, wakes, spawns, decisions of other kinds that take the
//! peeked draw).

use std::cell::RefCell;
use std::rc::Rc;

use crate::choice::sealed::Seal;
use crate::choice::{BuiltIn, Chooser, DecisionKind, Options, PollEnd, decide};
use crate::task::Id;
use crate::{AbortHandle, Decision, Pct, Random, Replay, Runtime, spawn, yield_now};

/// More ready tasks than the executor's look-ahead threshold (16,384).
const TASKS: u32 = 20_000;

/// `inner` without `peek` and `peek_ready`: the executor never guesses. With
/// `by_index`, also without `choose_ready`, and with the ready tasks listed: asked by
/// index, what a chooser that names its pick by task must agree with.
struct Hidden<C> {
    inner: C,
    by_index: bool,
    /// Whether `inner` follows the ready set (asked once, when hidden).
    tracks_ready: bool,
}

fn hidden<C: Chooser>(inner: C) -> Hidden<C> {
    hide(inner, false)
}

fn by_index<C: Chooser>(inner: C) -> Hidden<C> {
    hide(inner, true)
}

fn hide<C: Chooser>(mut inner: C, by_index: bool) -> Hidden<C> {
    let tracks_ready = inner
        .__builtin(Seal)
        .is_some_and(|hooks| hooks.tracks_ready());
    Hidden {
        inner,
        by_index,
        tracks_ready,
    }
}

impl<C: Chooser> Chooser for Hidden<C> {
    fn choose(&mut self, ready: Options<'_>) -> usize {
        self.inner.choose(ready)
    }
    fn needs_tasks(&self) -> bool {
        self.by_index || self.inner.needs_tasks()
    }
    fn on_spawn(&mut self, task: Id) {
        self.inner.on_spawn(task);
    }
    fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        self.inner.on_poll_end(task, end);
    }
    fn __builtin(&mut self, _: Seal) -> Option<&mut dyn BuiltIn> {
        Some(self)
    }
}

impl<C: Chooser> Hidden<C> {
    fn hooks(&mut self) -> Option<&mut dyn BuiltIn> {
        self.inner.__builtin(Seal)
    }
}

impl<C: Chooser> BuiltIn for Hidden<C> {
    fn tracks_ready(&self) -> bool {
        self.tracks_ready
    }
    fn on_ready(&mut self, task: Id) {
        if let Some(hooks) = self.hooks() {
            hooks.on_ready(task);
        }
    }
    fn on_unready(&mut self, task: Id) {
        if let Some(hooks) = self.hooks() {
            hooks.on_unready(task);
        }
    }
    fn choose_ready(&mut self, ready: Options<'_>) -> Option<Id> {
        match self.by_index {
            true => None,
            false => self.hooks()?.choose_ready(ready),
        }
    }
}

/// `tasks` tasks that log each poll and, by turns, yield, abort a task that is likely
/// ready, spawn a helper and join it, or take a decision of another kind. Returns the
/// log.
async fn churn_of(tasks: u32) -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let aborts: Rc<RefCell<Vec<AbortHandle>>> = Rc::default();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (log, victims) = (Rc::clone(&log), Rc::clone(&aborts));
        let handle = spawn(async move {
            for round in 0..4 {
                log.borrow_mut().push(task * 4 + round);
                match (task + round) % 7 {
                    0 => {
                        let victim = (task * 31 + round) % tasks;
                        victims.borrow()[victim as usize].abort();
                    }
                    1 => {
                        let helper = spawn(async move { task });
                        assert_eq!(helper.await.unwrap(), task);
                    }
                    2 => {
                        let branch = decide(DecisionKind::Select, 3) as u32;
                        log.borrow_mut().push(1_000_000 + branch);
                    }
                    _ => {}
                }
                yield_now().await;
            }
        });
        aborts.borrow_mut().push(handle.abort_handle());
        handles.push(handle);
    }
    for handle in handles {
        let _ = handle.await;
    }
    Rc::try_unwrap(log).unwrap().into_inner()
}

fn run(chooser: Box<dyn Chooser>) -> (Vec<u32>, Vec<Decision>) {
    run_of(TASKS, chooser)
}

fn run_of(tasks: u32, chooser: Box<dyn Chooser>) -> (Vec<u32>, Vec<Decision>) {
    let mut rt = Runtime::with_chooser(7, chooser);
    rt.set_wait_sites(false);
    let log = rt.block_on(churn_of(tasks));
    (log, rt.decisions())
}

/// The run under `chooser(seed)` peeking and hidden agree, poll for poll.
fn same_run_hidden<C: Chooser + 'static>(name: &str, chooser: impl Fn(u64) -> C) {
    for seed in [1, 2] {
        let (log, decisions) = run(Box::new(chooser(seed)));
        let (hidden_log, hidden_decisions) = run(Box::new(hidden(chooser(seed))));
        let guessed = decisions.iter().filter(|d| d.options > 16_384).count();
        assert!(
            guessed > 5_000,
            "{name}: the run has many steps with enough ready tasks to guess"
        );
        assert_eq!(
            decisions, hidden_decisions,
            "{name}, seed {seed}: decisions"
        );
        assert_eq!(log, hidden_log, "{name}, seed {seed}: polls");
    }
}

#[test]
fn peeking_at_the_next_random_pick_changes_no_run() {
    same_run_hidden("random", Random::new);
}

/// PCT peeks at its heap's top (dropping stale entries early) and reuses the FIFO
/// index it found there; yields and demotions push entries between a guess and its
/// pick.
#[test]
fn peeking_at_the_next_pct_pick_changes_no_run() {
    same_run_hidden("pct:3", |seed| Pct::new(seed, 3, 100_000));
}

/// PCT names its pick by task; the executor finds it and records its FIFO index. The
/// same PCT asked by index, in a listing of the ready tasks, makes the same run with the
/// same decisions, and a replay of those decisions (by index) makes it again.
#[test]
fn a_pick_named_by_task_is_recorded_as_its_fifo_index() {
    for seed in [3, 4, 5] {
        let pct = |seed| Pct::new(seed, 3, 4_000);
        let (log, decisions) = run_of(600, Box::new(pct(seed)));
        let (listed_log, listed) = run_of(600, Box::new(by_index(pct(seed))));
        assert!(
            decisions.iter().filter(|d| d.chosen > 0).count() > 500,
            "seed {seed}: PCT deviates from FIFO order often"
        );
        assert_eq!(decisions, listed, "seed {seed}: decisions");
        assert_eq!(log, listed_log, "seed {seed}: polls");
        let chosen: Vec<u32> = decisions.iter().map(|d| d.chosen).collect();
        let replay = Replay::new(chosen);
        let mismatches = replay.mismatches();
        let (replayed_log, _) = run_of(600, Box::new(replay));
        assert_eq!(mismatches.get(), 0, "seed {seed}: the replay fits");
        assert_eq!(replayed_log, log, "seed {seed}: the replay's polls");
    }
}

#[test]
fn a_replay_that_peeks_replays_the_run() {
    let (log, decisions) = run(Box::new(Random::new(11)));
    let chosen: Vec<u32> = decisions.iter().map(|d| d.chosen).collect();
    let replay = Replay::new(chosen.clone());
    let mismatches = replay.mismatches();
    let (replayed_log, replayed) = run(Box::new(replay));
    assert_eq!(mismatches.get(), 0, "every recorded decision fits its step");
    assert_eq!(replayed_log, log);
    assert_eq!(
        replayed.iter().map(|d| d.chosen).collect::<Vec<_>>(),
        chosen
    );
}

/// A chooser that names a task that is not ready (here the root, which waits for the
/// first task it spawned) stops the run with a message that says so, instead of
/// polling some other task.
#[test]
#[should_panic(expected = "the scheduler chose t0, which is not ready")]
fn a_chooser_that_names_a_task_not_ready_is_told() {
    struct AlwaysRoot;
    impl Chooser for AlwaysRoot {
        fn choose(&mut self, _ready: Options<'_>) -> usize {
            0
        }
        fn __builtin(&mut self, _: Seal) -> Option<&mut dyn BuiltIn> {
            Some(self)
        }
    }
    impl BuiltIn for AlwaysRoot {
        fn tracks_ready(&self) -> bool {
            true
        }
        fn choose_ready(&mut self, _ready: Options<'_>) -> Option<Id> {
            Some(Id::ROOT)
        }
    }
    let mut rt = Runtime::with_chooser(1, Box::new(AlwaysRoot));
    rt.block_on(async {
        let a = spawn(async { yield_now().await });
        let b = spawn(async { yield_now().await });
        a.await.unwrap();
        b.await.unwrap();
    });
}

//! The one way detsim runs a body again: [`Replayer`] runs a seed with its strategy's
//! chooser, or replays a recorded [`Schedule`], and hands back everything a caller
//! may need as a [`Replayed`]: the outcome, the trace, the polls, the decisions, the
//! random words drawn and how many recorded decisions did not fit.
//!
//! Every path that runs a body a second time goes through here: the sweep's failing
//! seed, shrinking, the shrunk schedule's trace, token replay (`DETSIM_REPLAY`,
//! `Builder::replay`), the determinism check, and a fuzzed failure's replay. A new kind
//! of decision (a `select!` branch, a network delivery, a fault) is one more entry in
//! the run's decision list, which the [`Replay`] chooser feeds back by index whatever
//! its kind, so none of these paths changes for it.
//!
//! Invariants:
//! - a replay of a schedule uses exactly its decisions (past their end, FIFO) and its
//!   user words (past their end, or when it has none, the seed's user stream), so
//!   replaying what [`Replayed::schedule`] returns makes the same run, poll for poll;
//! - the sweep's hot path ([`Replayer::fails`]) records nothing: no trace, no decisions
//!   copied, no words.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::future::Future;
use std::rc::Rc;

use detsim_net::cluster::{self, Faults};
use detsim_runtime::choice::{USER_STREAM, seeded_rng};
use detsim_runtime::{Chooser, ChooserSpec, Decision, Replay, RunError, Runtime, Trace, UserRng};

use crate::assertions::{self, RunRecord, Sink};
use crate::schedule::{Recording, Schedule, WordRng};
use crate::scheduler::Scheduler;
use crate::shrink::{Candidate, Signature};

/// What one run of the body is driven by.
pub(crate) enum Source<'s> {
    /// A seed under one strategy (its chooser; the seed's user stream).
    Seed {
        scheduler: Scheduler,
        seed: u64,
        /// PCT's estimate of a run's length.
        expected_steps: u64,
    },
    /// A recorded schedule, fed back decision by decision.
    Schedule(&'s Schedule),
    /// Any chooser (a [`Builder::chooser`](crate::Builder::chooser)'s, the fuzzer's
    /// tape), and a random source (`None`: the seed's user stream).
    Custom {
        seed: u64,
        chooser: Box<dyn Chooser>,
        rng: Option<UserRng>,
    },
}

/// Everything a run showed.
#[must_use]
pub(crate) struct Replayed {
    pub(crate) outcome: Result<(), RunError>,
    /// Empty unless the run was traced.
    pub(crate) trace: Trace,
    pub(crate) steps: u64,
    pub(crate) decisions: Vec<Decision>,
    /// Every value `detsim::random` returned, as [`WordRng`] words.
    pub(crate) user_words: Vec<u64>,
    /// Recorded decisions that chose a task that was not there (clamped).
    pub(crate) mismatches: u64,
    /// The fault plan the run used, if it used one.
    pub(crate) fault_plan: Option<detsim_net::cluster::Plan>,
    /// What the run's `sometimes!`, `reachable!`, `always!` and `unreachable!` saw.
    pub(crate) assertions: RunRecord,
}

impl Replayed {
    /// The failure's signature, if the run failed.
    pub(crate) fn signature(&self) -> Option<Signature> {
        self.outcome.as_ref().err().map(Signature::of)
    }

    /// Whether the run failed as `signature` says.
    pub(crate) fn fails_as(&self, signature: &Signature) -> bool {
        self.signature().as_ref() == Some(signature)
    }

    /// The chosen indices and polls, as shrinking measures them.
    pub(crate) fn candidate(&self) -> Candidate {
        Candidate {
            decisions: self.decisions.iter().map(|d| d.chosen).collect(),
            steps: self.steps,
        }
    }

    /// The schedule that replays this run exactly: its decisions (trailing FIFO ones
    /// trimmed) and the words it drew when `words` (else none: the seed's stream).
    pub(crate) fn schedule(&self, scheduler: Scheduler, seed: u64, words: bool) -> Schedule {
        let mut schedule = Schedule {
            scheduler,
            seed,
            decisions: self.candidate().decisions,
            user_words: if words {
                self.user_words.clone()
            } else {
                Vec::new()
            },
        };
        schedule.trim();
        schedule
    }
}

/// Runs one body, again and again, on one reused runtime.
pub(crate) struct Replayer<'b, F> {
    rt: Runtime,
    body: &'b F,
    max_steps: Option<u64>,
    /// The faults of the runs (`None`: the default, swarm for a cluster).
    faults: Option<Faults>,
    /// How to run on a fresh thread, for a body that may run on any thread (see
    /// [`Replayer::fresh`]); `None`: always on this one.
    respawn: Option<Respawn<F>>,
    /// Where each run's assertions go: installed as run-scoped state at its start.
    assertions: Sink,
}

/// Runs one job with a new replayer on a fresh thread.
type Respawn<F> = fn(&F, Option<u64>, Option<Faults>, Job) -> Done;

/// A run to make on a fresh thread: its source, owned so that it can cross threads.
pub(crate) enum Job {
    /// [`Replayer::fails`].
    Fails(OwnedSource),
    /// [`Replayer::run`], with the trace on when the flag says.
    Run(OwnedSource, bool),
}

/// What a [`Job`] gave.
pub(crate) enum Done {
    Fails(bool, RunRecord),
    Run(Box<Replayed>),
}

/// A [`Source`] that owns its schedule (a custom chooser cannot cross threads).
pub(crate) enum OwnedSource {
    Seed {
        scheduler: Scheduler,
        seed: u64,
        expected_steps: u64,
    },
    Schedule(Schedule),
}

impl Source<'_> {
    /// This source as one that can cross threads, if it can.
    fn owned(&self) -> Option<OwnedSource> {
        match self {
            &Source::Seed {
                scheduler,
                seed,
                expected_steps,
            } => Some(OwnedSource::Seed {
                scheduler,
                seed,
                expected_steps,
            }),
            Source::Schedule(schedule) => Some(OwnedSource::Schedule((*schedule).clone())),
            Source::Custom { .. } => None,
        }
    }
}

impl OwnedSource {
    fn borrow(&self) -> Source<'_> {
        match self {
            &OwnedSource::Seed {
                scheduler,
                seed,
                expected_steps,
            } => Source::Seed {
                scheduler,
                seed,
                expected_steps,
            },
            OwnedSource::Schedule(schedule) => Source::Schedule(schedule),
        }
    }
}

/// Runs `job` with a new replayer of `body` on a fresh thread, named as this one (the
/// test's name, which reports use).
fn respawn<F, Fut>(body: &F, max_steps: Option<u64>, faults: Option<Faults>, job: Job) -> Done
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let mut thread = std::thread::Builder::new();
    if let Some(name) = std::thread::current().name() {
        thread = thread.name(name.to_owned());
    }
    std::thread::scope(|scope| {
        let run = thread
            .spawn_scoped(scope, move || {
                let mut fresh = Replayer::new(body, max_steps, faults);
                match job {
                    Job::Fails(source) => {
                        let fails = fresh.fails(source.borrow());
                        Done::Fails(fails, fresh.take_assertions())
                    }
                    Job::Run(source, trace) => {
                        Done::Run(Box::new(fresh.run(source.borrow(), trace)))
                    }
                }
            })
            .expect("detsim: cannot start a thread for a run");
        run.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Makes a replayer: [`in_place`], or [`on_fresh_threads`] for a body that may run
/// on any thread.
pub(crate) type Maker<F> = for<'x> fn(&'x F, Option<u64>, Option<Faults>) -> Replayer<'x, F>;

/// [`Replayer::new`], as a [`Maker`].
pub(crate) fn in_place<'x, F, Fut>(
    body: &'x F,
    max_steps: Option<u64>,
    faults: Option<Faults>,
) -> Replayer<'x, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    Replayer::new(body, max_steps, faults)
}

/// [`Replayer::fresh`], as a [`Maker`].
pub(crate) fn on_fresh_threads<'x, F, Fut>(
    body: &'x F,
    max_steps: Option<u64>,
    faults: Option<Faults>,
) -> Replayer<'x, F>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    Replayer::fresh(body, max_steps, faults)
}

impl<'b, F, Fut> Replayer<'b, F>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    /// A replayer whose runs move to a fresh thread once this thread has drawn OS
    /// randomness (see [`detsim_runtime::thread_drew_os_randomness`]): the caches such
    /// a draw leaves on a thread (`HashMap` keys, a thread RNG) would make a later run
    /// on it differ from the same run alone. A body that never draws OS randomness
    /// runs on this thread throughout.
    pub(crate) fn fresh(body: &'b F, max_steps: Option<u64>, faults: Option<Faults>) -> Self {
        let mut replayer = Replayer::new(body, max_steps, faults);
        replayer.respawn = Some(respawn::<F, Fut>);
        replayer
    }
}

impl<'b, F, Fut> Replayer<'b, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    /// A replayer for `body`, with a fixed poll budget or (`None`) the runtime's default,
    /// whose runs inject `faults` (`None`: the default, swarm for a cluster).
    pub(crate) fn new(body: &'b F, max_steps: Option<u64>, faults: Option<Faults>) -> Self {
        let mut rt = Runtime::new(0);
        if let Some(polls) = max_steps {
            rt.set_max_polls(polls);
        }
        rt.set_run_input(faults);
        Replayer {
            rt,
            body,
            max_steps,
            faults,
            respawn: None,
            assertions: Sink::default(),
        }
    }

    /// Lets the runs start OS threads (see [`crate::Builder::allow_threads`]).
    pub(crate) fn allow_threads(mut self, on: bool) -> Self {
        self.rt.set_allow_threads(on);
        self
    }

    /// Runs the body once; its faults are the runtime's run input, set once in
    /// [`Replayer::new`].
    fn run_body(&mut self) -> Result<(), RunError> {
        let body = self.body;
        let sink = self.assertions.clone();
        sink.borrow_mut().clear();
        self.rt.run(async move {
            assertions::install(sink);
            body().await
        })
    }

    /// When this run must move to a fresh thread (this thread drew OS randomness, the
    /// body may run elsewhere, the source can cross threads): the source to move.
    fn moving(&self, source: &Source<'_>) -> Option<OwnedSource> {
        self.respawn?;
        match detsim_runtime::thread_drew_os_randomness() {
            true => source.owned(),
            false => None,
        }
    }

    /// Runs `job` on a fresh thread.
    fn elsewhere(&self, job: Job) -> Done {
        let respawn = self.respawn.expect("only a fresh replayer moves runs");
        respawn(self.body, self.max_steps, self.faults, job)
    }

    /// Whether the run fails: the sweep's hot path, which records nothing.
    pub(crate) fn fails(&mut self, source: Source<'_>) -> bool {
        if let Some(source) = self.moving(&source) {
            match self.elsewhere(Job::Fails(source)) {
                Done::Fails(fails, record) => {
                    *self.assertions.borrow_mut() = record;
                    return fails;
                }
                Done::Run(_) => unreachable!("a `fails` job gives a verdict"),
            }
        }
        let (seed, chooser, rng, _) = parts(source);
        self.rt.reset(seed, chooser);
        if let Some(rng) = rng {
            self.rt.set_user_rng(rng);
        }
        self.rt.set_trace(false);
        // A failing seed is replayed with the trace on for its report; this run only
        // needs the verdict.
        self.rt.set_wait_sites(false);
        self.rt.set_record_decisions(false);
        self.run_body().is_err()
    }

    /// What the last run's assertions saw (taken: the next run starts empty anyway).
    pub(crate) fn take_assertions(&mut self) -> RunRecord {
        std::mem::take(&mut *self.assertions.borrow_mut())
    }

    /// Runs the body from `source`, with the trace on when `trace`.
    pub(crate) fn run(&mut self, source: Source<'_>, trace: bool) -> Replayed {
        if let Some(source) = self.moving(&source) {
            match self.elsewhere(Job::Run(source, trace)) {
                Done::Run(run) => {
                    self.assertions.borrow_mut().clone_from(&run.assertions);
                    return *run;
                }
                Done::Fails(..) => unreachable!("a `run` job gives a run"),
            }
        }
        let (seed, chooser, rng, mismatches) = parts(source);
        let words = Rc::new(RefCell::new(Vec::new()));
        self.rt.reset(seed, chooser);
        self.rt.set_user_rng(Box::new(Recording {
            inner: rng.unwrap_or_else(|| Box::new(seeded_rng(seed, USER_STREAM))),
            words: words.clone(),
        }));
        self.rt.set_trace(trace);
        self.rt.set_wait_sites(true);
        self.rt.set_record_decisions(true);
        let outcome = self.run_body();
        Replayed {
            fault_plan: self.rt.take_run_output::<cluster::Plan>(),
            assertions: self.assertions.borrow().clone(),
            outcome,
            trace: self.rt.take_trace().unwrap_or_default(),
            steps: self.rt.polls(),
            decisions: self.rt.decisions(),
            user_words: words.take(),
            mismatches: mismatches.map_or(0, |m| m.get()),
        }
    }

    /// Replays `decisions` on `schedule`'s seed and words, without the trace: one
    /// shrinking candidate. Returns the failure it shows, if any.
    pub(crate) fn try_decisions(
        &mut self,
        schedule: &Schedule,
        decisions: &[u32],
    ) -> Option<(Signature, Candidate)> {
        let candidate = Schedule {
            decisions: decisions.to_vec(),
            ..schedule.clone()
        };
        let replayed = self.run(Source::Schedule(&candidate), false);
        Some((replayed.signature()?, replayed.candidate()))
    }
}

/// A source's seed, chooser, random source (`None`: the seed's user stream) and, for a
/// schedule, the counter of its decisions that did not fit.
type Parts = (u64, ChooserSpec, Option<UserRng>, Option<Rc<Cell<u64>>>);

/// Splits a source into what a run needs.
fn parts(source: Source<'_>) -> Parts {
    match source {
        Source::Seed {
            scheduler,
            seed,
            expected_steps,
        } => (seed, scheduler.spec(seed, expected_steps), None, None),
        Source::Schedule(schedule) => {
            let replay = Replay::new(schedule.decisions.clone());
            let mismatches = replay.mismatches();
            let rng: Option<UserRng> = (!schedule.user_words.is_empty()).then(|| {
                Box::new(WordRng::new(schedule.user_words.clone(), schedule.seed)) as UserRng
            });
            (
                schedule.seed,
                ChooserSpec::Custom(Box::new(replay)),
                rng,
                Some(mismatches),
            )
        }
        Source::Custom { seed, chooser, rng } => (seed, ChooserSpec::Custom(chooser), rng, None),
    }
}

/// How two traced runs of the same `what` (a seed, an input) differ, if they do: the
/// first differing event of each, or, when every event matched, the two outcomes.
pub(crate) fn divergence(first: &Replayed, second: &Replayed, what: &str) -> Option<String> {
    let (a, b) = (&first.trace, &second.trace);
    let Some(event) = a.first_difference(b) else {
        let (x, y) = (ending(first), ending(second));
        return (x != y).then(|| {
            format!(
                "nondeterminism: two runs of the same {what} made the same steps but ended \
                 differently:\nfirst run:  {x}\nsecond run: {y}"
            )
        });
    };
    let line = |trace: &Trace| match trace.events().get(event) {
        Some(e) => {
            let mut line = String::new();
            let _ = trace.write_event(&mut line, e);
            line.trim().to_owned()
        }
        None => "(the run ended here)".to_owned(),
    };
    let step = a
        .events()
        .get(event)
        .or(b.events().get(event))
        .map_or(0, |e| e.step);
    let mut message = format!(
        "nondeterminism: two runs of the same {what} diverged at event {event} (poll {step}):\n"
    );
    let _ = write!(message, "first run:  {}\nsecond run: {}", line(a), line(b));
    Some(message)
}

fn ending(run: &Replayed) -> String {
    match &run.outcome {
        Ok(()) => "passed".to_owned(),
        Err(error) => format!("failed: {}", error.message()),
    }
}

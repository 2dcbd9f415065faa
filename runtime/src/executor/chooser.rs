//! The run's chooser: which one a run uses ([`NextChooser`], from the runtime) and how
//! the core calls it ([`RunChooser`]): the built-in ones inline and reset in place,
//! any other boxed.

use super::*;

/// The view of a task decision among `n` ready tasks at poll `step`, with the tasks
/// (`ready_ids`) when the chooser needs them (`listed`).
pub(super) fn task_view(ready_ids: &[Id], listed: bool, n: usize, step: u64) -> ReadyView<'_> {
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
pub(super) enum RunChooser {
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
    pub(super) fn set(&mut self, seed: u64, next: NextChooser) {
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
    pub(super) fn choose(&mut self, view: ReadyView<'_>) -> usize {
        each!(self, chooser => chooser.choose(view))
    }

    pub(super) fn needs_tasks(&self) -> bool {
        each!(self, chooser => chooser.needs_tasks())
    }

    pub(super) fn tracks_ready(&self) -> bool {
        each!(self, chooser => chooser.tracks_ready())
    }

    #[inline]
    pub(super) fn peek(&mut self, options: usize) -> Option<usize> {
        each!(self, chooser => chooser.peek(options))
    }

    pub(super) fn choose_ready(&mut self, view: ReadyView<'_>) -> Option<Id> {
        each!(self, chooser => chooser.choose_ready(view))
    }

    pub(super) fn peek_ready(&mut self) -> Option<Id> {
        each!(self, chooser => chooser.peek_ready())
    }

    // `Random` ignores the hooks (its defaults do nothing); the executor skips them for
    // it (`Core::notify`, `Core::track_ready`) rather than testing the variant here.

    #[inline]
    pub(super) fn on_spawn(&mut self, task: Id) {
        each!(self, chooser => chooser.on_spawn(task))
    }

    #[inline]
    pub(super) fn on_ready(&mut self, task: Id) {
        each!(self, chooser => chooser.on_ready(task))
    }

    #[inline]
    pub(super) fn on_unready(&mut self, task: Id) {
        each!(self, chooser => chooser.on_unready(task))
    }

    #[inline]
    pub(super) fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        each!(self, chooser => chooser.on_poll_end(task, end))
    }
}

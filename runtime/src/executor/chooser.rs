//! The run's chooser as the core calls it ([`RunChooser`]): the built-in ones a sweep
//! uses inline and reset in place, any other boxed; made from the one value that names
//! a run's chooser, [`ChooserSpec`].

use super::*;

/// The options of a task decision among `n` ready tasks at poll `poll`, with the tasks
/// (`ready_ids`) when the chooser needs them (`listed`).
pub(super) fn task_options(ready_ids: &[Id], listed: bool, n: usize, poll: u64) -> Options<'_> {
    Options {
        kind: DecisionKind::Task,
        len: n,
        ready: match listed {
            true => ready_ids,
            false => &[],
        },
        poll,
    }
}

/// The run's chooser. The built-in ones a sweep uses, the seed's random one and PCT,
/// are kept inline: a run reuses the last run's in place (no allocation per run, and
/// PCT keeps its buffers), their methods are direct calls, and the hooks random
/// ignores (`on_spawn`, `on_poll_end`, …) cost it nothing. Any other chooser is boxed;
/// a boxed built-in still answers its hooks (through `Chooser::__builtin`). Each
/// answers exactly as the chooser [`ChooserSpec::build`] makes.
#[allow(
    clippy::large_enum_variant,
    reason = "one per runtime, and inline on purpose: no allocation per run"
)]
pub(super) enum RunChooser {
    Random(Random),
    Pct(Pct),
    Boxed(Box<dyn Chooser>),
}

/// Calls a public `Chooser` method on whichever chooser `$self` holds.
macro_rules! each {
    ($self:expr, $chooser:ident => $call:expr) => {
        match $self {
            RunChooser::Random($chooser) => $call,
            RunChooser::Pct($chooser) => $call,
            RunChooser::Boxed($chooser) => $call,
        }
    };
}

/// Calls a `BuiltIn` hook on whichever chooser `$self` holds: directly for the inline
/// ones, through `Chooser::__builtin` for a boxed one (`$default` if it has none).
macro_rules! hook {
    ($self:expr, $hooks:ident => $call:expr, $default:expr) => {
        match $self {
            RunChooser::Random($hooks) => $call,
            RunChooser::Pct($hooks) => $call,
            RunChooser::Boxed(boxed) => match boxed.__builtin(Seal) {
                Some($hooks) => $call,
                None => $default,
            },
        }
    };
}

impl RunChooser {
    /// Makes this the chooser of a run of `seed`, as `spec` names it, reusing the one in
    /// place when it is of the same built-in kind.
    pub(super) fn set(&mut self, seed: u64, spec: ChooserSpec) {
        match (spec, &mut *self) {
            (ChooserSpec::Random, RunChooser::Random(random)) => *random = Random::new(seed),
            (ChooserSpec::Random, _) => *self = RunChooser::Random(Random::new(seed)),
            (
                ChooserSpec::Pct {
                    depth,
                    expected_polls,
                },
                RunChooser::Pct(pct),
            ) => pct.reset(seed, depth, expected_polls),
            (
                ChooserSpec::Pct {
                    depth,
                    expected_polls,
                },
                _,
            ) => *self = RunChooser::Pct(Pct::new(seed, depth, expected_polls)),
            (spec, _) => *self = RunChooser::Boxed(spec.build(seed)),
        }
    }

    #[inline]
    pub(super) fn choose(&mut self, options: Options<'_>) -> usize {
        each!(self, chooser => chooser.choose(options))
    }

    pub(super) fn needs_tasks(&self) -> bool {
        each!(self, chooser => chooser.needs_tasks())
    }

    pub(super) fn tracks_ready(&mut self) -> bool {
        hook!(self, hooks => hooks.tracks_ready(), false)
    }

    #[inline]
    pub(super) fn peek(&mut self, options: usize) -> Option<usize> {
        hook!(self, hooks => hooks.peek(options), None)
    }

    pub(super) fn choose_ready(&mut self, options: Options<'_>) -> Option<Id> {
        hook!(self, hooks => hooks.choose_ready(options), None)
    }

    pub(super) fn peek_ready(&mut self) -> Option<Id> {
        hook!(self, hooks => hooks.peek_ready(), None)
    }

    // `Random` ignores the hooks (its defaults do nothing); the executor skips them for
    // it (`Core::notify`, `Core::track_ready`) rather than testing the variant here.

    #[inline]
    pub(super) fn on_spawn(&mut self, task: Id) {
        each!(self, chooser => chooser.on_spawn(task))
    }

    #[inline]
    pub(super) fn on_ready(&mut self, task: Id) {
        hook!(self, hooks => hooks.on_ready(task), ())
    }

    #[inline]
    pub(super) fn on_unready(&mut self, task: Id) {
        hook!(self, hooks => hooks.on_unready(task), ())
    }

    #[inline]
    pub(super) fn on_poll_end(&mut self, task: Id, end: PollEnd) {
        each!(self, chooser => chooser.on_poll_end(task, end))
    }
}

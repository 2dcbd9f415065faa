//! [`Scheduler`]: the user-facing choice of scheduling policy, a `Copy` value that
//! builds a fresh chooser for each seed.
//!
//! The default is a *portfolio*: no single policy finds every bug quickly (random
//! rarely lets one task run many polls uninterrupted; PCT of a fixed depth misses bugs
//! of other depths), so consecutive seeds take turns among [`PORTFOLIO`]. The strategy
//! of a seed is a function of the seed alone, so a seed replays exactly.

use std::fmt;
use std::str::FromStr;

use detsim_grammar::{SCHEDULER_FORM, SchedulerName, parse_scheduler};
use detsim_runtime::{Chooser, ChooserSpec};

/// The strategies of the default portfolio; seed `s` uses `PORTFOLIO[s % len]`.
pub const PORTFOLIO: [Scheduler; 4] = [
    Scheduler(Kind::Random),
    Scheduler(Kind::Pct(1)),
    Scheduler(Kind::Pct(2)),
    Scheduler(Kind::Pct(3)),
];

/// Which policy picks the next ready task. Displays as `DETSIM_SCHEDULER` spells it:
/// `portfolio` (the default), `random`, `fifo`, `pct:3`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scheduler(Kind);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Portfolio,
    Random,
    Fifo,
    Pct(u32),
    /// A chooser of the user's, from [`Builder::chooser`](crate::Builder::chooser).
    Custom,
}

impl Scheduler {
    /// The default: seeds take turns among the strategies of [`PORTFOLIO`].
    pub fn portfolio() -> Scheduler {
        Scheduler(Kind::Portfolio)
    }

    /// The single strategy this scheduler uses for `seed` (itself, except for the
    /// portfolio).
    pub fn for_seed(self, seed: u64) -> Scheduler {
        match self.0 {
            Kind::Portfolio => PORTFOLIO[(seed % PORTFOLIO.len() as u64) as usize],
            _ => self,
        }
    }

    /// Whether this is a PCT strategy (or a portfolio that includes one).
    pub(crate) fn uses_pct(self) -> bool {
        matches!(self.0, Kind::Pct(_) | Kind::Portfolio)
    }

    /// A uniform random choice among the ready tasks at every step.
    pub fn random() -> Scheduler {
        Scheduler(Kind::Random)
    }

    /// asyncio's order: the oldest ready task first, no randomness.
    pub fn fifo() -> Scheduler {
        Scheduler(Kind::Fifo)
    }

    /// Probabilistic Concurrency Testing for bugs of depth `depth` (≥ 1).
    ///
    /// # Panics
    /// If `depth` is 0.
    pub fn pct(depth: u32) -> Scheduler {
        assert!(depth >= 1, "Scheduler::pct: the depth must be at least 1");
        Scheduler(Kind::Pct(depth))
    }

    /// The strategy of a [`Builder::chooser`](crate::Builder::chooser): reports name it
    /// `custom`; it is not a value of `DETSIM_SCHEDULER`.
    pub(crate) fn custom() -> Scheduler {
        Scheduler(Kind::Custom)
    }

    /// The strategy's number and parameter in a replay token.
    pub(crate) fn encode(self) -> (u64, Option<u32>) {
        match self.0 {
            Kind::Portfolio => (3, None),
            Kind::Fifo => (0, None),
            Kind::Random => (1, None),
            Kind::Pct(depth) => (2, Some(depth)),
            Kind::Custom => (4, None),
        }
    }

    /// The inverse of [`Scheduler::encode`].
    pub(crate) fn decode(kind: u64, depth: Option<u64>) -> Option<Scheduler> {
        match (kind, depth) {
            (0, None) => Some(Scheduler::fifo()),
            (1, None) => Some(Scheduler::random()),
            (3, None) => Some(Scheduler::portfolio()),
            (4, None) => Some(Scheduler::custom()),
            (2, Some(depth)) => u32::try_from(depth)
                .ok()
                .filter(|&d| d >= 1)
                .map(Scheduler::pct),
            _ => None,
        }
    }

    /// The chooser this strategy uses for `seed`; PCT spreads its change points over
    /// `expected_steps` polls (a sweep measures them with one FIFO run of the body).
    ///
    /// An extension point: a chooser of your own for
    /// [`Builder::chooser`](crate::Builder::chooser) may wrap one of these, and
    /// `detsim-runtime`'s `Runtime::with_chooser` runs a future under one. A
    /// [`Builder::chooser`](crate::Builder::chooser)'s strategy (`custom`) has no chooser
    /// of its own here: it answers FIFO.
    pub fn chooser(self, seed: u64, expected_steps: u64) -> Box<dyn Chooser> {
        self.spec(seed, expected_steps).build(seed)
    }

    /// The chooser this strategy uses for `seed`, as the runtime is handed it: a
    /// built-in one by name, which a reused runtime keeps inline and resets in place.
    pub(crate) fn spec(self, seed: u64, expected_steps: u64) -> ChooserSpec {
        match self.for_seed(seed).0 {
            Kind::Custom | Kind::Fifo => ChooserSpec::Fifo,
            Kind::Random | Kind::Portfolio => ChooserSpec::Random,
            Kind::Pct(depth) => ChooserSpec::Pct {
                depth,
                expected_polls: expected_steps,
            },
        }
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::portfolio()
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Kind::Portfolio => f.write_str("portfolio"),
            Kind::Random => f.write_str("random"),
            Kind::Fifo => f.write_str("fifo"),
            Kind::Pct(depth) => write!(f, "pct:{depth}"),
            Kind::Custom => f.write_str("custom"),
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scheduler({self})")
    }
}

/// The error of parsing a scheduler name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSchedulerError(String);

impl fmt::Display for ParseSchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a scheduler: expected {SCHEDULER_FORM}",
            self.0
        )
    }
}

impl std::error::Error for ParseSchedulerError {}

impl FromStr for Scheduler {
    type Err = ParseSchedulerError;

    /// Parses `DETSIM_SCHEDULER`'s grammar, with the one parser `#[detsim::test]`'s
    /// `scheduler` argument is checked by (`detsim-grammar`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_scheduler(s) {
            Some(SchedulerName::Portfolio) => Ok(Scheduler::portfolio()),
            Some(SchedulerName::Random) => Ok(Scheduler::random()),
            Some(SchedulerName::Fifo) => Ok(Scheduler::fifo()),
            Some(SchedulerName::Pct(depth)) => Ok(Scheduler::pct(depth)),
            None => Err(ParseSchedulerError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portfolio_fixes_each_seeds_strategy() {
        let p = Scheduler::portfolio();
        for seed in 0..16 {
            assert_eq!(p.for_seed(seed), p.for_seed(seed + PORTFOLIO.len() as u64));
            assert_ne!(p.for_seed(seed), p);
            assert_eq!(Scheduler::pct(2).for_seed(seed), Scheduler::pct(2));
        }
        let strategies: Vec<String> = (0..4).map(|s| p.for_seed(s).to_string()).collect();
        assert_eq!(strategies, ["random", "pct:1", "pct:2", "pct:3"]);
    }

    /// `Scheduler`'s `FromStr` and `DETSIM_SCHEDULER` accept exactly what
    /// `detsim-grammar` parses, the parser `#[detsim::test]` checks its `scheduler`
    /// argument with (see `detsim-macros`' tests): the macro rejects exactly what the
    /// runtime rejects.
    #[test]
    fn the_runtime_and_the_macro_share_one_scheduler_grammar() {
        let cases = detsim_grammar::SCHEDULER_SAMPLES;
        for &case in cases {
            let grammar = detsim_grammar::parse_scheduler(case).is_some();
            assert_eq!(case.parse::<Scheduler>().is_ok(), grammar, "{case:?}");
            let lookup = |name: &str| (name == "DETSIM_SCHEDULER").then(|| case.to_owned());
            let env = std::panic::catch_unwind(|| crate::config::Env::from_lookup(lookup));
            let accepted = env.is_ok_and(|env| env.scheduler.is_some());
            // An empty value is unset, as for every variable.
            assert_eq!(accepted, grammar, "DETSIM_SCHEDULER={case:?}");
        }
    }

    #[test]
    fn display_and_parse_round_trip() {
        for s in [
            Scheduler::portfolio(),
            Scheduler::random(),
            Scheduler::fifo(),
            Scheduler::pct(3),
        ] {
            assert_eq!(s.to_string().parse::<Scheduler>(), Ok(s));
        }
        assert_eq!(Scheduler::pct(3).to_string(), "pct:3");
        for bad in ["", "Random", "pct", "pct:", "pct:0", "pct:x", "lifo"] {
            let error = bad.parse::<Scheduler>().unwrap_err().to_string();
            assert!(
                error.contains("expected `portfolio`, `random`, `fifo` or `pct:<depth>`"),
                "{error}"
            );
        }
    }
}

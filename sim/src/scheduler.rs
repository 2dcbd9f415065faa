//! [`Scheduler`]: the user-facing choice of scheduling policy, a `Copy` value that
//! builds a fresh chooser for each seed.

use std::fmt;
use std::str::FromStr;

use detsim_runtime::{Chooser, Fifo, Pct, Random};

/// The default estimate of a run's length that PCT spreads its change points over.
pub(crate) const PCT_EXPECTED_STEPS: u64 = 64;

/// Which policy picks the next ready task. Displays as `DETSIM_SCHEDULER` spells it:
/// `random`, `fifo`, `pct:3`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scheduler(Kind);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Random,
    Fifo,
    Pct(u32),
}

impl Scheduler {
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

    /// The strategy's number and parameter in a replay token.
    pub(crate) fn encode(self) -> (u64, Option<u32>) {
        match self.0 {
            Kind::Fifo => (0, None),
            Kind::Random => (1, None),
            Kind::Pct(depth) => (2, Some(depth)),
        }
    }

    /// The inverse of [`Scheduler::encode`].
    pub(crate) fn decode(kind: u64, depth: Option<u64>) -> Option<Scheduler> {
        match (kind, depth) {
            (0, None) => Some(Scheduler::fifo()),
            (1, None) => Some(Scheduler::random()),
            (2, Some(depth)) => u32::try_from(depth)
                .ok()
                .filter(|&d| d >= 1)
                .map(Scheduler::pct),
            _ => None,
        }
    }

    /// The chooser this policy uses for `seed`.
    pub fn chooser(self, seed: u64) -> Box<dyn Chooser> {
        match self.0 {
            Kind::Random => Box::new(Random::new(seed)),
            Kind::Fifo => Box::new(Fifo),
            Kind::Pct(depth) => Box::new(Pct::new(seed, depth, PCT_EXPECTED_STEPS)),
        }
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::random()
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Kind::Random => f.write_str("random"),
            Kind::Fifo => f.write_str("fifo"),
            Kind::Pct(depth) => write!(f, "pct:{depth}"),
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
            "`{}` is not a scheduler: expected `random`, `fifo` or `pct:<depth>` with a depth of at least 1",
            self.0
        )
    }
}

impl std::error::Error for ParseSchedulerError {}

impl FromStr for Scheduler {
    type Err = ParseSchedulerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseSchedulerError(s.to_owned());
        match s.trim() {
            "random" => Ok(Scheduler::random()),
            "fifo" => Ok(Scheduler::fifo()),
            other => {
                let depth = other.strip_prefix("pct:").ok_or_else(error)?;
                match depth.parse::<u32>() {
                    Ok(depth) if depth >= 1 => Ok(Scheduler::pct(depth)),
                    _ => Err(error()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for s in [Scheduler::random(), Scheduler::fifo(), Scheduler::pct(3)] {
            assert_eq!(s.to_string().parse::<Scheduler>(), Ok(s));
        }
        assert_eq!(Scheduler::pct(3).to_string(), "pct:3");
        for bad in ["", "Random", "pct", "pct:", "pct:0", "pct:x", "lifo"] {
            let error = bad.parse::<Scheduler>().unwrap_err().to_string();
            assert!(
                error.contains("expected `random`, `fifo` or `pct:<depth>`"),
                "{error}"
            );
        }
    }
}

//! [`Coverage`]: what an exhaustive exploration ran, as data and as the sentence a
//! user reads ("explored all 38 schedules with at most 2 deviations from FIFO order;
//! no failure").
//!
//! Invariant: the sentence never claims more than ran. It says "all" only for the
//! bounds whose every schedule ran; a bound cut short by the budget or by a failure is
//! reported as "m of the n schedules with exactly j deviations".

use std::fmt;

/// The schedules of one bound level: those with exactly `deviations` deviations from
/// FIFO order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Level {
    /// The number of non-zero decisions of every schedule of this level.
    pub deviations: u32,
    /// How many schedules the level has (all of them, run or not).
    pub schedules: u64,
    /// How many of them ran.
    pub run: u64,
}

/// What an exhaustive exploration ([`Builder::exhaustive`](crate::Builder::exhaustive))
/// covered: from [`Report::coverage`](crate::Report::coverage). Its `Display` is the
/// coverage statement.
///
/// A *schedule* is the list of decisions of one run (which ready task to poll, and —
/// as they exist — which `select!` branch, which network delivery, which fault); a
/// *deviation* is a decision that did not take option 0, the FIFO (asyncio) order.
/// "All schedules with at most k deviations" means every distinct such list this body
/// can make, for the seed behind `detsim::random` ([`Coverage::seed`]) and within the
/// poll budget (`max_steps`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Coverage {
    /// The bound asked for: schedules with at most this many deviations.
    pub max_deviations: u32,
    /// The seed of the program's own random values (`detsim::random`) in every run.
    pub seed: u64,
    /// Schedules run, up to and including the first failure if one failed (the same
    /// whatever the number of threads).
    pub schedules_run: u64,
    /// The levels reached, from 0 deviations up: every level before the last one
    /// listed ran completely.
    pub levels: Vec<Level>,
    /// Why the exploration stopped before it covered its bound, when a budget stopped
    /// it (a failure is in the [`Report`](crate::Report) instead).
    pub stopped_early: Option<String>,
    /// Whether the exploration stopped at a failure.
    pub failed: bool,
}

impl Coverage {
    /// Whether every schedule with at most [`max_deviations`](Coverage::max_deviations)
    /// deviations ran (and none failed, or the last one run was the failure).
    pub fn is_complete(&self) -> bool {
        self.stopped_early.is_none()
            && !self.failed
            && self.levels.iter().all(|level| level.run == level.schedules)
    }

    /// The largest bound whose every schedule ran: `Some(j)` means all schedules with
    /// at most `j` deviations ran. `None` when not even the FIFO schedule completed
    /// without failing.
    pub fn complete_up_to(&self) -> Option<u32> {
        let complete = self
            .levels
            .iter()
            .take_while(|level| level.run == level.schedules)
            .count();
        // The last level listed may be complete only because its last schedule failed.
        let complete = if self.failed {
            complete.min(self.levels.len().saturating_sub(1))
        } else {
            complete
        };
        complete.checked_sub(1).map(|j| j as u32)
    }

    /// Schedules with at most `j` deviations, as counted so far.
    fn schedules_up_to(&self, j: u32) -> u64 {
        self.levels
            .iter()
            .filter(|level| level.deviations <= j)
            .map(|level| level.schedules)
            .sum()
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn schedules(n: u64) -> String {
    match n {
        1 => "1 schedule".to_owned(),
        n => format!("{} schedules", thousands(n)),
    }
}

fn deviations(n: u32) -> &'static str {
    if n == 1 { "deviation" } else { "deviations" }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.max_deviations;
        if self.is_complete() {
            return match (k, self.schedules_run) {
                (0, _) => f.write_str("explored the FIFO schedule (0 deviations); no failure"),
                (_, 1) => write!(
                    f,
                    "explored the only schedule, which has 0 deviations (the bound was {k}); \
                     no failure"
                ),
                (_, n) => write!(
                    f,
                    "explored all {} with at most {k} {} from FIFO order; no failure",
                    schedules(n),
                    deviations(k)
                ),
            };
        }
        if self.failed && self.schedules_run == 1 {
            return f.write_str("the first schedule explored, the FIFO one, failed");
        }
        write!(f, "explored {}", schedules(self.schedules_run))?;
        let partial = self.levels.iter().find(|level| level.run < level.schedules);
        let complete = self.complete_up_to();
        match complete {
            Some(0) => f.write_str(": the FIFO schedule (0 deviations)")?,
            Some(j) => write!(
                f,
                ": all {} with at most {j} {} from FIFO order",
                thousands(self.schedules_up_to(j)),
                deviations(j)
            )?,
            None => f.write_str(":")?,
        }
        if let Some(level) = partial.or(self.levels.last().filter(|_| self.failed)) {
            let joiner = if complete.is_some() { ", then" } else { "" };
            write!(
                f,
                "{joiner} {} of the {} with exactly {} {}",
                thousands(level.run),
                thousands(level.schedules),
                level.deviations,
                deviations(level.deviations)
            )?;
        }
        if self.failed {
            return f.write_str("; the last one failed");
        }
        if let Some(reason) = &self.stopped_early {
            write!(f, "; stopped early: {reason}")?;
        }
        write!(
            f,
            "; no failure in those, but schedules with at most {k} {} were not all run",
            deviations(k)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(levels: &[(u64, u64)], stopped: Option<&str>, failed: bool) -> Coverage {
        Coverage {
            max_deviations: 2,
            seed: 0,
            schedules_run: levels.iter().map(|&(_, run)| run).sum(),
            levels: levels
                .iter()
                .enumerate()
                .map(|(j, &(schedules, run))| Level {
                    deviations: j as u32,
                    schedules,
                    run,
                })
                .collect(),
            stopped_early: stopped.map(str::to_owned),
            failed,
        }
    }

    #[test]
    fn a_complete_exploration_says_all() {
        let c = coverage(&[(1, 1), (9, 9), (1224, 1224)], None, false);
        assert!(c.is_complete());
        assert_eq!(c.complete_up_to(), Some(2));
        assert_eq!(
            c.to_string(),
            "explored all 1,234 schedules with at most 2 deviations from FIFO order; no failure"
        );
    }

    #[test]
    fn a_budget_cut_says_how_far_it_got_and_claims_no_more() {
        let c = coverage(
            &[(1, 1), (9, 9), (28, 10)],
            Some("schedule budget of 20 used up"),
            false,
        );
        assert!(!c.is_complete());
        assert_eq!(c.complete_up_to(), Some(1));
        assert_eq!(
            c.to_string(),
            "explored 20 schedules: all 10 with at most 1 deviation from FIFO order, then 10 \
             of the 28 with exactly 2 deviations; stopped early: schedule budget of 20 used \
             up; no failure in those, but schedules with at most 2 deviations were not all run"
        );
    }

    #[test]
    fn a_failure_says_where_it_stopped() {
        let c = coverage(&[(1, 1), (9, 4)], None, true);
        assert!(!c.is_complete());
        assert_eq!(c.complete_up_to(), Some(0));
        assert_eq!(
            c.to_string(),
            "explored 5 schedules: the FIFO schedule (0 deviations), then 4 of the 9 with \
             exactly 1 deviation; the last one failed"
        );
        // A failure on the last schedule of a level does not complete that level's claim.
        let c = coverage(&[(1, 1), (9, 9)], None, true);
        assert_eq!(c.complete_up_to(), Some(0));
        assert!(
            c.to_string()
                .ends_with("then 9 of the 9 with exactly 1 deviation; the last one failed")
        );
        let c = coverage(&[(1, 1)], None, true);
        assert_eq!(c.complete_up_to(), None);
        assert_eq!(
            c.to_string(),
            "the first schedule explored, the FIFO one, failed"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

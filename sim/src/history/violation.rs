//! How a failed check reads: [`CheckError`], and for a history that is not
//! linearizable the [`Violation`] — the smallest failing part found, per client.
//!
//! These types hold text, not the history's own types, so that a `CheckError` is a
//! plain `Send + 'static` value: [`History::assert_linearizable`](super::History::assert_linearizable)
//! panics with it as the payload, and the harness recognizes it by its type.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use super::check::Op;
use super::{Event, Operation};

/// Why [`History::check`](super::History::check) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckError {
    /// No sequential execution of the model explains the history.
    NotLinearizable(Violation),
    /// Deciding would take more model steps than the check's budget: the history was
    /// shown neither linearizable nor not.
    BudgetExceeded(BudgetExceeded),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::NotLinearizable(violation) => fmt::Display::fmt(violation, f),
            CheckError::BudgetExceeded(budget) => fmt::Display::fmt(budget, f),
        }
    }
}

impl std::error::Error for CheckError {}

/// A check that ran out of budget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetExceeded {
    /// The budget, in model steps.
    pub budget: u64,
    /// The model's name.
    pub model: String,
    /// The part of the history being checked when it ran out (`key 3`; empty for the
    /// whole history).
    pub part: String,
    /// Operations in that part.
    pub operations: usize,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "linearizability check undecided: checking the {} model{} ({} operations) \
             would take more than its budget of {} model steps, so the history was shown \
             neither linearizable nor not; raise the budget with \
             History::check_with_budget, or record fewer concurrent operations",
            self.model,
            on_part(&self.part),
            self.operations,
            self.budget
        )
    }
}

fn on_part(part: &str) -> String {
    match part {
        "" => String::new(),
        part => format!(" on {part}"),
    }
}

/// A history that is not linearizable: the smallest failing part of it the check
/// found. Its `Display` lists that part's operations client by client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    model: String,
    part: String,
    total: usize,
    part_len: usize,
    operations: Vec<ViolationOp>,
    /// The operations' indices in the history.
    indices: Vec<usize>,
}

/// One operation of a [`Violation`], as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViolationOp {
    /// The client that invoked it.
    pub client: u64,
    /// Its input (`Debug`).
    pub input: String,
    /// Its result (`Debug`), or `None` when indeterminate (or still pending at the end
    /// of the failing part).
    pub output: Option<String>,
    /// When it was invoked.
    pub invoked: Event,
    /// When it completed, within the failing part.
    pub completed: Option<Event>,
    /// Whether it completed only after the failing part's last event (so, within the
    /// part, it is pending: it may or may not have taken effect yet).
    pub completes_later: bool,
}

impl Violation {
    pub(crate) fn new<I: Debug, O: Debug>(
        model: String,
        part: String,
        history: &[Operation<I, O>],
        part_len: usize,
        smallest: &[Op<'_, I, O>],
    ) -> Self {
        let operations = smallest
            .iter()
            .map(|op| {
                let recorded = &history[op.index];
                ViolationOp {
                    client: recorded.client,
                    input: format!("{:?}", recorded.input),
                    output: op.output.map(|output| format!("{output:?}")),
                    invoked: recorded.invoked,
                    completed: op.ret.and(recorded.completed()),
                    completes_later: op.ret.is_none() && recorded.completed().is_some(),
                }
            })
            .collect();
        Violation {
            model,
            part,
            total: history.len(),
            part_len,
            operations,
            indices: smallest.iter().map(|op| op.index).collect(),
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The part of the history that failed (`key 3`; empty for the whole history).
    pub fn part(&self) -> &str {
        &self.part
    }

    /// The operations of the smallest failing part, in order of invocation.
    pub fn operations(&self) -> &[ViolationOp] {
        &self.operations
    }

    /// The operations' indices in the history ([`History::operations`](super::History::operations)).
    pub(crate) fn indices(&self) -> &[usize] {
        &self.indices
    }
}

fn event(e: Event) -> String {
    match e.at {
        Some(at) => format!("#{} at {:.6}s", e.seq, at.as_secs_f64()),
        None => format!("#{}", e.seq),
    }
}

impl fmt::Display for ViolationOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.input)?;
        match &self.output {
            Some(output) => write!(f, " -> {output}")?,
            _ if self.completes_later => f.write_str(" -> ? (completes after these)")?,
            _ => f.write_str(" -> ? (indeterminate)")?,
        }
        write!(f, "   invoked {}", event(self.invoked))?;
        if let Some(completed) = self.completed {
            write!(f, ", completed {}", event(completed))?;
        }
        Ok(())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.part.as_str() {
            "" => format!("of {} operations", self.total),
            part => format!(
                "of {} operations on {part}, {} in all",
                self.part_len, self.total
            ),
        };
        write!(
            f,
            "history not linearizable: no sequential execution of the {} model explains \
             these {} operations (the smallest failing part found, {scope}); #n is the \
             order of events, an operation precedes those invoked after it completed:",
            self.model,
            self.operations.len()
        )?;
        let mut clients: BTreeMap<u64, Vec<&ViolationOp>> = BTreeMap::new();
        for op in &self.operations {
            clients.entry(op.client).or_default().push(op);
        }
        for (client, ops) in clients {
            write!(f, "\n  client {client}:")?;
            for op in ops {
                write!(f, "\n    {op}")?;
            }
        }
        Ok(())
    }
}

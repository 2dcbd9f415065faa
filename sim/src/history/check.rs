//! The linearizability check: Wing & Gong's search with Lowe's memoization, the way
//! Porcupine does it (Lowe, "Testing for linearizability", 2017).
//!
//! The search walks a doubly linked list of the history's events in order. At each
//! step it tries to linearize the next operation whose invocation comes before the
//! first remaining completion: if the model gives the result the client saw (any
//! result, for an indeterminate operation), the operation is taken out of the list and
//! the search goes on from the start; when it reaches a completion whose operation is
//! not linearized yet, no order of what is left works, and it backtracks (undoes the
//! last linearization and tries the next candidate). Lowe's memoization skips any
//! (set of linearized operations, model state) pair seen before: from equal pairs the
//! rest of the search is the same.
//!
//! Before it searches, it leaves out the indeterminate operations that no result could
//! show took effect ([`Model::is_unobserved`]: a write of a value nobody read): each
//! one it keeps doubles the (set, state) pairs it may visit.
//!
//! Invariants:
//! - an indeterminate operation's completion is placed after every other event, so
//!   reaching one means every completed operation is linearized: success, whatever
//!   indeterminate operations are left (they never took effect);
//! - every call of [`Model::apply`] counts one step against the budget, across all the
//!   parts of a check; a check past its budget is [`Verdict::OutOfBudget`], never a
//!   pass.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use super::violation::{BudgetExceeded, CheckError, Violation};
use super::{Model, Operation, Status};

/// A fixed hasher for the memo table: nothing in a check depends on a random seed.
type Memo<S> = HashSet<(Box<[u64]>, S), BuildHasherDefault<DefaultHasher>>;

/// An operation as the search sees it.
#[derive(Debug)]
pub(crate) struct Op<'a, I, O> {
    /// Its index in the recorded history.
    pub(crate) index: usize,
    pub(crate) input: &'a I,
    /// `None`: indeterminate (any result is accepted).
    pub(crate) output: Option<&'a O>,
    pub(crate) call: u64,
    /// `None`: indeterminate (completes after everything else, if at all).
    pub(crate) ret: Option<u64>,
}

impl<I, O> Clone for Op<'_, I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for Op<'_, I, O> {}

/// The least budget of model steps the search for the smallest failing part gets.
const MINIMIZE_BUDGET: u64 = 100_000;

/// The model steps [`explain`]'s small searches may take in all.
const EXPLAIN_BUDGET: u64 = 1_000_000;

/// What a search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Linearizable,
    NotLinearizable,
    OutOfBudget,
}

/// Model steps taken and allowed.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) steps: u64,
    pub(crate) limit: u64,
}

/// Checks a whole recorded history, part by part.
pub(crate) fn check<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    limit: u64,
) -> Result<(), CheckError> {
    let live: Vec<Op<'_, M::Input, M::Output>> = operations
        .iter()
        .enumerate()
        .filter_map(|(index, op)| {
            let (output, ret) = match &op.status {
                Status::Completed(output, event) => (Some(output), Some(event.seq)),
                Status::Indeterminate if model.is_read_only(&op.input) => return None,
                Status::Indeterminate => (None, None),
                Status::Failed(_) => return None,
            };
            Some(Op {
                index,
                input: &op.input,
                output,
                call: op.invoked.seq,
                ret,
            })
        })
        .collect();
    let inputs: Vec<&M::Input> = live.iter().map(|op| op.input).collect();
    let mut budget = Budget { steps: 0, limit };
    for (label, members) in model.partition(&inputs) {
        let part: Vec<_> = members.iter().map(|&i| live[i]).collect();
        match search(model, &part, &mut budget) {
            Verdict::Linearizable => {}
            Verdict::OutOfBudget => {
                return Err(CheckError::BudgetExceeded(BudgetExceeded {
                    budget: limit,
                    model: model.name(),
                    part: label,
                    operations: part.len(),
                }));
            }
            Verdict::NotLinearizable => {
                // Finding the smallest part may take a few times the search that
                // failed; past that, the report shows a larger part.
                let spent = budget.steps.saturating_mul(20).max(MINIMIZE_BUDGET);
                let smallest = minimize(model, &part, spent.min(limit));
                return Err(CheckError::NotLinearizable(Violation::new(
                    model.name(),
                    label,
                    operations,
                    part.len(),
                    &smallest,
                )));
            }
        }
    }
    Ok(())
}

/// One node of the event list: an invocation or a completion of `op`.
#[derive(Debug, Clone, Copy)]
struct Node {
    op: usize,
    /// The other event of the same operation.
    partner: usize,
    is_call: bool,
    /// The completion of an indeterminate operation (placed after every other event).
    open: bool,
}

const NIL: usize = usize::MAX;

/// The history's events as a doubly linked list that operations are lifted out of and
/// put back into (dancing links); node 0 is the head.
#[derive(Debug)]
struct Events {
    nodes: Vec<Node>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl Events {
    fn new<I, O>(ops: &[Op<'_, I, O>]) -> Self {
        // (position in the order of events, is a completion, operation)
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, false, i));
            order.push((op.ret.unwrap_or(u64::MAX), true, i));
        }
        order.sort_unstable();
        let len = order.len() + 1;
        let mut nodes = vec![
            Node {
                op: NIL,
                partner: NIL,
                is_call: false,
                open: false,
            };
            len
        ];
        let mut call_node = vec![0; ops.len()];
        for (position, &(_, is_return, op)) in order.iter().enumerate() {
            let node = position + 1;
            nodes[node] = Node {
                op,
                partner: NIL,
                is_call: !is_return,
                open: is_return && ops[op].ret.is_none(),
            };
            if is_return {
                let call = call_node[op];
                nodes[node].partner = call;
                nodes[call].partner = node;
            } else {
                call_node[op] = node;
            }
        }
        let prev = (0..len).map(|i| i.wrapping_sub(1)).collect::<Vec<_>>();
        let next = (0..len)
            .map(|i| if i + 1 < len { i + 1 } else { NIL })
            .collect();
        Events { nodes, prev, next }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }

    /// Takes an operation (by its invocation's node) out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.nodes[call].partner);
    }

    /// Puts back the operation lifted last.
    fn unlift(&mut self, call: usize) {
        self.relink(self.nodes[call].partner);
        self.relink(call);
    }
}

/// `ops` without the indeterminate operations that no result in `ops` could show took
/// effect ([`Model::is_unobserved`]): the same verdict, a smaller search.
pub(crate) fn without_unobserved<'a, M: Model>(
    model: &M,
    ops: &[Op<'a, M::Input, M::Output>],
) -> Vec<Op<'a, M::Input, M::Output>> {
    if ops.iter().all(|op| op.output.is_some()) {
        return ops.to_vec();
    }
    let part: Vec<(&M::Input, Option<&M::Output>)> =
        ops.iter().map(|op| (op.input, op.output)).collect();
    ops.iter()
        .filter(|op| op.output.is_some() || !model.is_unobserved(op.input, &part))
        .copied()
        .collect()
}

/// Whether `ops` (one part of a history) is linearizable.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Op<'_, M::Input, M::Output>],
    budget: &mut Budget,
) -> Verdict {
    let ops = &without_unobserved(model, ops)[..];
    let mut events = Events::new(ops);
    let mut linearized = vec![0u64; ops.len().div_ceil(64)].into_boxed_slice();
    let mut memo: Memo<M::State> = Memo::default();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut node = events.next[0];
    loop {
        if node == NIL {
            return Verdict::Linearizable;
        }
        let Node {
            op, is_call, open, ..
        } = events.nodes[node];
        if is_call {
            if budget.steps >= budget.limit {
                return Verdict::OutOfBudget;
            }
            budget.steps += 1;
            let (next_state, output) = model.apply(&state, ops[op].input);
            if ops[op].output.is_none_or(|seen| *seen == output) {
                linearized[op / 64] |= 1 << (op % 64);
                if memo.insert((linearized.clone(), next_state.clone())) {
                    stack.push((node, std::mem::replace(&mut state, next_state)));
                    events.lift(node);
                    node = events.next[0];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            node = events.next[node];
        } else if open {
            // Every completed operation is linearized; the indeterminate ones left
            // never took effect.
            return Verdict::Linearizable;
        } else {
            let Some((call, earlier)) = stack.pop() else {
                return Verdict::NotLinearizable;
            };
            state = earlier;
            let op = events.nodes[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            events.unlift(call);
            node = events.next[call];
        }
    }
}

/// The smallest non-linearizable part of a non-linearizable `ops` that a few searches
/// find: the shortest prefix of its events that is not linearizable (operations still
/// pending at its end become indeterminate: a prefix of a linearizable history is
/// linearizable, so the shortest failing prefix is found by bisection), then, one by
/// one, without every operation whose removal keeps it failing. Searches that run out
/// of `limit` steps count as passing, so what is returned always fails.
pub(crate) fn minimize<'a, M: Model>(
    model: &M,
    ops: &[Op<'a, M::Input, M::Output>],
    limit: u64,
) -> Vec<Op<'a, M::Input, M::Output>> {
    let mut budget = Budget { steps: 0, limit };
    let mut fails = |candidate: &[Op<'a, M::Input, M::Output>]| {
        search_within(model, candidate, &mut budget) == Verdict::NotLinearizable
    };
    let prefix = shortest_failing_prefix(ops, &mut fails);
    let mut smallest = prefix.clone();
    // A part whose results some order explains, were real time ignored (a stale read:
    // the value read was written, but overwritten before the read began), keeps that
    // property as operations are removed, so the report keeps the operations that
    // explain each result (the write of the stale value) and shows only the order as
    // wrong; a part with a result no order explains (a value never written) shrinks to
    // the operations that show that.
    let timeless = |candidate: &[Op<'a, M::Input, M::Output>], budget: &mut Budget| {
        let concurrent: Vec<_> = candidate
            .iter()
            .map(|op| Op {
                call: 0,
                ret: op.ret.map(|_| 1),
                ..*op
            })
            .collect();
        search_within(model, &concurrent, budget) == Verdict::Linearizable
    };
    let mut timeless_budget = Budget {
        steps: 0,
        limit: limit / 4,
    };
    let keep_explained = timeless(&smallest, &mut timeless_budget);
    remove_chunks(&mut smallest, &mut |candidate| {
        fails(candidate) && (!keep_explained || timeless(candidate, &mut timeless_budget))
    });
    // A long prefix can be too much for the timeless search (every operation
    // concurrent with every other), which then says "unexplained" for want of budget,
    // and the part shrinks to a lone stale read. So when what is left is unexplained,
    // look for one or two operations of the prefix that explain it while it still
    // fails (the write of the stale value, and the write that overwrote it): each
    // search is on a handful of operations.
    let mut small_budget = Budget {
        steps: 0,
        limit: EXPLAIN_BUDGET,
    };
    if !keep_explained && !timeless(&smallest, &mut small_budget) {
        let mut explained = |candidate: &[Op<'a, M::Input, M::Output>]| {
            search_within(model, candidate, &mut small_budget) == Verdict::NotLinearizable
                && timeless(candidate, &mut small_budget)
        };
        if let Some(mut found) = explain(&smallest, &prefix, &mut explained) {
            remove_chunks(&mut found, &mut explained);
            smallest = found;
        } else if let Some(found) = shrink_written(model, &prefix, &mut fails) {
            smallest = found;
        }
    }
    smallest
}

/// [`search`] with what is left of `budget`, counting the steps it takes against it.
fn search_within<M: Model>(
    model: &M,
    ops: &[Op<'_, M::Input, M::Output>],
    budget: &mut Budget,
) -> Verdict {
    let mut attempt = Budget {
        steps: 0,
        limit: budget.limit.saturating_sub(budget.steps),
    };
    let verdict = search(model, ops, &mut attempt);
    budget.steps += attempt.steps;
    verdict
}

/// For a failing part that more than two operations explain (a stale value read twice,
/// around a read of the newer one): `prefix` shrunk again, keeping the operations that
/// wrote each value read ([`results_written`]), if it has them.
fn shrink_written<'a, M: Model>(
    model: &M,
    prefix: &[Op<'a, M::Input, M::Output>],
    fails: &mut impl FnMut(&[Op<'a, M::Input, M::Output>]) -> bool,
) -> Option<Vec<Op<'a, M::Input, M::Output>>> {
    if !results_written(model, prefix) {
        return None;
    }
    let mut found = prefix.to_vec();
    remove_chunks(&mut found, &mut |candidate| {
        results_written(model, candidate) && fails(candidate)
    });
    Some(found)
}

/// Whether every completed operation of `ops` gives its result when applied to the
/// model's first state or to the state one other operation of `ops` leaves that in (a
/// read of a value some operation of `ops` wrote): a cheap stand-in, at most `n²`
/// model steps, for the timeless search's "some order explains every result", which
/// decides only small parts.
fn results_written<M: Model>(model: &M, ops: &[Op<'_, M::Input, M::Output>]) -> bool {
    let init = model.init();
    let after: Vec<M::State> = ops
        .iter()
        .map(|op| model.apply(&init, op.input).0)
        .collect();
    ops.iter().all(|op| {
        op.output.is_none_or(|seen| {
            model.apply(&init, op.input).1 == *seen
                || ops.iter().zip(&after).any(|(other, state)| {
                    other.index != op.index && model.apply(state, op.input).1 == *seen
                })
        })
    })
}

/// `smallest` with one or, for a prefix of at most [`EXPLAIN_PAIRS_UP_TO`] operations,
/// two more operations of `prefix` for which `explained` holds, if any do.
fn explain<'a, I, O>(
    smallest: &[Op<'a, I, O>],
    prefix: &[Op<'a, I, O>],
    explained: &mut impl FnMut(&[Op<'a, I, O>]) -> bool,
) -> Option<Vec<Op<'a, I, O>>> {
    let pool: Vec<Op<'a, I, O>> = prefix
        .iter()
        .filter(|op| !smallest.iter().any(|kept| kept.index == op.index))
        .copied()
        .collect();
    let with = |extra: &[Op<'a, I, O>]| {
        let mut candidate: Vec<_> = smallest.iter().chain(extra).copied().collect();
        candidate.sort_by_key(|op| (op.call, op.index));
        candidate
    };
    for op in &pool {
        let candidate = with(&[*op]);
        if explained(&candidate) {
            return Some(candidate);
        }
    }
    if pool.len() > EXPLAIN_PAIRS_UP_TO {
        return None;
    }
    for (i, a) in pool.iter().enumerate() {
        for b in &pool[i + 1..] {
            let candidate = with(&[*a, *b]);
            if explained(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

/// The largest prefix whose pairs of operations [`explain`] tries (about 20,000 small
/// searches at most).
const EXPLAIN_PAIRS_UP_TO: usize = 200;

/// The shortest prefix of `ops`' events that `fails` (operations still pending at its
/// end become indeterminate), found by bisection: a prefix of a linearizable history is
/// linearizable. `ops` itself fails.
fn shortest_failing_prefix<'a, I, O>(
    ops: &[Op<'a, I, O>],
    fails: &mut impl FnMut(&[Op<'a, I, O>]) -> bool,
) -> Vec<Op<'a, I, O>> {
    let mut events: Vec<u64> = ops
        .iter()
        .flat_map(|op| std::iter::once(op.call).chain(op.ret))
        .collect();
    events.sort_unstable();
    let prefix = |end: u64| -> Vec<Op<'a, I, O>> {
        ops.iter()
            .filter(|op| op.call <= end)
            .map(|op| match op.ret {
                Some(ret) if ret <= end => *op,
                _ => Op {
                    output: None,
                    ret: None,
                    ..*op
                },
            })
            .collect()
    };
    // The failing prefix ends at events[hi]; events[lo - 1]'s prefix passes (or lo = 0).
    let (mut lo, mut hi) = (0, events.len().saturating_sub(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(&prefix(events[mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    match events.get(hi) {
        Some(&end) => prefix(end),
        None => ops.to_vec(),
    }
}

/// Removes chunks of `smallest` whose removal keeps it failing, halving their size
/// down to single operations (delta debugging's complement step): a long failing
/// prefix loses most of its operations in a few searches, and single removals then
/// leave it 1-minimal.
fn remove_chunks<'a, I, O>(
    smallest: &mut Vec<Op<'a, I, O>>,
    fails: &mut impl FnMut(&[Op<'a, I, O>]) -> bool,
) {
    let mut chunk = smallest.len().div_ceil(2).max(1);
    loop {
        let mut end = smallest.len();
        while end > 0 {
            let start = end.saturating_sub(chunk);
            let without: Vec<_> = smallest[..start]
                .iter()
                .chain(&smallest[end..])
                .copied()
                .collect();
            if !without.is_empty() && fails(&without) {
                *smallest = without;
            }
            end = start;
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
}

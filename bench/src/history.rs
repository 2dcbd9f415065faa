//! `history`: `detsim::history`'s linearizability check. A 10,000-operation key-value
//! history of 10 clients (reads and writes on 10 keys, as concurrent clients make them,
//! one in a hundred of them indeterminate) checked whole; and small histories (8 operations of
//! 4 clients on one register, linearizable and not) checked by `History::check` next
//! to a brute-force checker that tries every order of every subset of the
//! indeterminate operations.

use std::time::Duration;

use detsim::history::{
    History, Kv, KvOp, KvRet, Model, Operation, Register, RegisterOp, RegisterRet, Status,
};

use crate::measure::{clock_name, median_cpu_time, show};
use crate::summary::Summary;

/// SplitMix64: a fixed pseudo-random stream, the same on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

/// `ops` operations of `clients` clients against `model`, as a concurrent execution
/// makes them: each takes effect at one point between its invocation and its
/// completion; one in a hundred is abandoned (indeterminate), and with `wrong`, the last
/// read reports a value no write gave.
fn execution<M: Model>(
    model: &M,
    clients: u64,
    ops: u64,
    seed: u64,
    mut next_input: impl FnMut(&mut Mix, u64) -> M::Input,
    wrong: Option<M::Output>,
) -> History<M::Input, M::Output>
where
    M::Input: Clone,
    M::Output: Clone,
{
    struct Flight<I, O> {
        pending: detsim::history::Pending<I, O>,
        input: I,
        effect: Option<O>,
        abandon: bool,
    }
    let history = History::new();
    let mut rng = Mix(seed);
    let mut state = model.init();
    let mut flying: Vec<Option<Flight<M::Input, M::Output>>> = (0..clients).map(|_| None).collect();
    let mut invoked = 0;
    let mut wrong = wrong;
    loop {
        if invoked == ops && flying.iter().all(Option::is_none) {
            return history;
        }
        let c = rng.next(clients) as usize;
        match flying[c].take() {
            None if invoked < ops => {
                let input = next_input(&mut rng, c as u64);
                invoked += 1;
                flying[c] = Some(Flight {
                    pending: history.invoke(c as u64, input.clone()),
                    input,
                    effect: None,
                    abandon: rng.next(100) == 0,
                });
            }
            None => {}
            Some(mut flight) => match flight.effect.take() {
                None => {
                    let (next, output) = model.apply(&state, &flight.input);
                    state = next;
                    flight.effect = Some(output);
                    flying[c] = Some(flight);
                }
                Some(_) if flight.abandon => drop(flight.pending),
                Some(output) => {
                    let output = match (invoked == ops, wrong.take()) {
                        (true, Some(wrong)) => wrong,
                        (_, kept) => {
                            wrong = kept;
                            output
                        }
                    };
                    flight.pending.complete(output);
                }
            },
        }
    }
}

/// The brute-force checker: some subset of the indeterminate operations and some order
/// of those and every completed one respects real time and gives every completed
/// operation its result.
fn brute_force<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> bool {
    let ops: Vec<&Operation<_, _>> = ops
        .iter()
        .filter(|op| !matches!(op.status, Status::Failed(_)))
        .collect();
    let open: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].completed().is_none())
        .collect();
    (0..1u32 << open.len()).any(|subset| {
        let mut chosen: Vec<usize> = (0..ops.len())
            .filter(|i| match open.iter().position(|o| o == i) {
                Some(bit) => subset & (1 << bit) != 0,
                None => true,
            })
            .collect();
        any_order(&mut chosen, 0, &|order| {
            let respects_real_time = order.iter().enumerate().all(|(a, &i)| {
                order[a + 1..].iter().all(|&j| {
                    ops[j]
                        .completed()
                        .is_none_or(|done| done.seq > ops[i].invoked.seq)
                })
            });
            respects_real_time && {
                let mut state = model.init();
                order.iter().all(|&i| {
                    let (next, output) = model.apply(&state, &ops[i].input);
                    state = next;
                    ops[i].output().is_none_or(|seen| *seen == output)
                })
            }
        })
    })
}

/// Whether `accept` takes some permutation of `items[from..]` (after `items[..from]`).
fn any_order(items: &mut [usize], from: usize, accept: &dyn Fn(&[usize]) -> bool) -> bool {
    if from == items.len() {
        return accept(items);
    }
    for i in from..items.len() {
        items.swap(from, i);
        let found = any_order(items, from + 1, accept);
        items.swap(from, i);
        if found {
            return true;
        }
    }
    false
}

fn kv_input(rng: &mut Mix, client: u64) -> KvOp<u64, u64> {
    let key = rng.next(10);
    match rng.next(2) {
        0 => KvOp::Get(key),
        _ => KvOp::Put(key, client * 1_000_000 + rng.next(1_000_000)),
    }
}

fn register_input(rng: &mut Mix, _client: u64) -> RegisterOp<u64> {
    match rng.next(3) {
        0 => RegisterOp::Read,
        1 => RegisterOp::Write(rng.next(3)),
        _ => RegisterOp::Cas(rng.next(3), rng.next(3)),
    }
}

/// Runs the section and prints its figures; the 10,000-operation check goes into the
/// summary (target: well under a second, 0.25 s).
pub(crate) fn run(quick: bool, summary: &mut Summary) {
    let (ops, reps) = if quick { (500, 3) } else { (10_000, 11) };
    println!(
        "## history: linearizability checks ({}, median of {reps})",
        clock_name()
    );
    let kv = Kv::<u64, u64>::new();
    let history = execution(&kv, 10, ops, 1, kv_input, None);
    assert_eq!(
        history.check(&kv),
        Ok(()),
        "an honest execution is linearizable"
    );
    let whole = median_cpu_time(reps, || history.check(&kv));
    println!(
        "  {ops} operations of 10 clients on 10 keys, checked: {}",
        show(whole)
    );
    let broken = execution(
        &kv,
        10,
        ops,
        1,
        kv_input,
        Some(KvRet::Value(Some(u64::MAX))),
    );
    match broken.check(&kv) {
        Err(detsim::history::CheckError::NotLinearizable(v)) => {
            println!(
                "  (the wrong read: {} operations in the smallest failing part)",
                v.operations().len()
            )
        }
        other => println!("  (the wrong read: {other:?})"),
    }
    let violation = median_cpu_time(reps, || broken.check(&kv));
    println!(
        "  the same with one wrong read, checked and the smallest failing part found: {}",
        show(violation)
    );

    let register = Register::new(0u64);
    let small: Vec<_> = (0..200u64)
        .map(|seed| {
            let wrong = (seed % 2 == 0).then_some(RegisterRet::Value(7));
            execution(&register, 4, 8, seed, register_input, wrong)
        })
        .collect();
    let verdicts: Vec<bool> = small.iter().map(|h| h.check(&register).is_ok()).collect();
    for (h, verdict) in small.iter().zip(&verdicts) {
        assert_eq!(brute_force(&register, &h.operations()), *verdict);
    }
    let linearizable = verdicts.iter().filter(|v| **v).count();
    let ours = median_cpu_time(reps, || {
        small.iter().filter(|h| h.check(&register).is_ok()).count()
    });
    let theirs = median_cpu_time(reps.min(5), || {
        small
            .iter()
            .filter(|h| brute_force(&register, &h.operations()))
            .count()
    });
    println!(
        "  200 histories of 8 register operations of 4 clients ({linearizable} linearizable):"
    );
    println!("    {:<26} {:>10}", "History::check", show(ours));
    println!("    {:<26} {:>10}", "brute force", show(theirs));
    let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
    println!("    brute force / History::check = {ratio:.1}");
    if !quick {
        summary.add(
            format!("history: check of {ops} kv operations, 10 clients (s)"),
            whole.as_secs_f64(),
            "< 0.25",
            whole < Duration::from_millis(250),
        );
    }
}

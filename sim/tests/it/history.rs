//! `detsim::history`: the linearizability checker agrees with a brute-force checker
//! (every subset of the indeterminate operations, every order) on generated small
//! histories of every built-in model, linearizable and not, with indeterminate
//! operations; its report; its budget; and a violation failing a run as its own kind.

use std::collections::BTreeSet;
use std::fmt::Debug;

use detsim::history::{
    CheckError, History, Kv, KvOp, KvRet, Model, Operation, Queue, QueueOp, QueueRet, Register,
    RegisterOp, RegisterRet, Set, SetOp, SetRet, Status,
};
use detsim::{Builder, FailureKind};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One generated operation: its client, its input, a wrong result it may report
/// instead of the model's, and whether its client gives up on it (indeterminate).
#[derive(Debug, Clone)]
struct Scripted<I, O> {
    client: usize,
    input: I,
    wrong: Option<O>,
    dropped: bool,
}

/// A client's operation in flight while a history is generated.
struct InFlight<I, O> {
    op: usize,
    pending: detsim::history::Pending<I, O>,
    /// The model's result once the operation took effect.
    effect: Option<O>,
}

/// Runs `script` against `model` as concurrent clients would, interleaved as `choices`
/// say: each operation takes effect at one point between its invocation and its
/// completion (so the history is linearizable) unless it reports its `wrong` result; a
/// dropped operation may or may not take effect before its client gives up.
fn generate<M: Model>(
    model: &M,
    script: &[Scripted<M::Input, M::Output>],
    choices: &[u8],
) -> History<M::Input, M::Output>
where
    M::Input: Clone,
    M::Output: Clone,
{
    let history = History::new();
    let clients = script.iter().map(|s| s.client + 1).max().unwrap_or(0);
    let mut queues: Vec<std::collections::VecDeque<usize>> = vec![Default::default(); clients];
    for (i, s) in script.iter().enumerate() {
        queues[s.client].push_back(i);
    }
    let mut flying: Vec<Option<InFlight<M::Input, M::Output>>> =
        (0..clients).map(|_| None).collect();
    let mut state = model.init();
    let mut choices = choices.iter().copied().cycle();
    loop {
        let actions = possible_actions(script, &queues, &flying);
        if actions.is_empty() {
            return history;
        }
        let (c, action) = actions[usize::from(choices.next().unwrap_or(0)) % actions.len()];
        match action {
            0 => {
                let op = queues[c].pop_front().unwrap();
                let pending = history.invoke(c as u64, script[op].input.clone());
                flying[c] = Some(InFlight {
                    op,
                    pending,
                    effect: None,
                });
            }
            1 => {
                let f = flying[c].as_mut().unwrap();
                let (next, output) = model.apply(&state, &script[f.op].input);
                state = next;
                f.effect = Some(output);
            }
            2 => {
                let f = flying[c].take().unwrap();
                let output = script[f.op].wrong.clone().or(f.effect).unwrap();
                f.pending.complete(output);
            }
            _ => drop(flying[c].take()),
        }
    }
}

/// What each client can do next, as (client, action): 0 invoke its next operation,
/// 1 let its operation in flight take effect, 2 complete it, 3 give up on it (a
/// dropped operation only).
fn possible_actions<I, O>(
    script: &[Scripted<I, O>],
    queues: &[std::collections::VecDeque<usize>],
    flying: &[Option<InFlight<I, O>>],
) -> Vec<(usize, u8)> {
    let mut actions = Vec::new();
    for (c, (queue, flying)) in queues.iter().zip(flying).enumerate() {
        match flying {
            None if !queue.is_empty() => actions.push((c, 0)),
            None => {}
            Some(f) => {
                match f.effect {
                    None => actions.push((c, 1)),
                    Some(_) => actions.push((c, 2)),
                }
                if script[f.op].dropped {
                    actions.push((c, 3));
                }
            }
        }
    }
    actions
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
    assert!(
        open.len() < 16,
        "too many indeterminate operations to enumerate"
    );
    (0..1u32 << open.len()).any(|subset| {
        let chosen: Vec<usize> = (0..ops.len())
            .filter(|i| match open.iter().position(|o| o == i) {
                Some(bit) => subset & (1 << bit) != 0,
                None => true,
            })
            .collect();
        permutations(&chosen).into_iter().any(|order| {
            let respects_real_time = order.iter().enumerate().all(|(a, &i)| {
                order[a + 1..].iter().all(|&j| {
                    // j comes after i: j must not have completed before i was invoked.
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

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.is_empty() {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// A script of up to 7 operations by up to 3 clients, from `input` and `wrong` outputs.
fn script<I: Debug + Clone, O: Debug + Clone>(
    input: impl Strategy<Value = I>,
    wrong: impl Strategy<Value = O>,
) -> impl Strategy<Value = (Vec<Scripted<I, O>>, Vec<u8>)> {
    script_of(input, wrong, 3, 0.2, 7)
}

/// A script of up to `most` operations by `clients` clients, each dropped with
/// probability `dropped`, and the choices that interleave them.
fn script_of<I: Debug + Clone, O: Debug + Clone>(
    input: impl Strategy<Value = I>,
    wrong: impl Strategy<Value = O>,
    clients: usize,
    dropped: f64,
    most: usize,
) -> impl Strategy<Value = (Vec<Scripted<I, O>>, Vec<u8>)> {
    let op = (
        0..clients,
        input,
        prop::option::weighted(0.15, wrong),
        prop::bool::weighted(dropped),
    )
        .prop_map(|(client, input, wrong, dropped)| Scripted {
            client,
            input,
            wrong,
            dropped,
        });
    (
        prop::collection::vec(op, 0..=most),
        prop::collection::vec(any::<u8>(), 1..40),
    )
}

fn value() -> impl Strategy<Value = u8> {
    0..3u8
}

fn register_op() -> impl Strategy<Value = RegisterOp<u8>> {
    prop_oneof![
        Just(RegisterOp::Read),
        value().prop_map(RegisterOp::Write),
        (value(), value()).prop_map(|(a, b)| RegisterOp::Cas(a, b)),
    ]
}

fn register_ret() -> impl Strategy<Value = RegisterRet<u8>> {
    prop_oneof![
        value().prop_map(RegisterRet::Value),
        Just(RegisterRet::Ok),
        any::<bool>().prop_map(RegisterRet::Swapped),
    ]
}

fn kv_op() -> impl Strategy<Value = KvOp<u8, u8>> {
    let key = 0..2u8;
    prop_oneof![
        key.clone().prop_map(KvOp::Get),
        (key.clone(), value()).prop_map(|(k, v)| KvOp::Put(k, v)),
        (key, prop::option::of(value()), value()).prop_map(|(k, a, b)| KvOp::Cas(k, a, b)),
    ]
}

fn kv_ret() -> impl Strategy<Value = KvRet<u8>> {
    prop_oneof![
        prop::option::of(value()).prop_map(KvRet::Value),
        Just(KvRet::Ok),
        any::<bool>().prop_map(KvRet::Swapped),
    ]
}

fn queue_op() -> impl Strategy<Value = QueueOp<u8>> {
    prop_oneof![value().prop_map(QueueOp::Enqueue), Just(QueueOp::Dequeue)]
}

fn queue_ret() -> impl Strategy<Value = QueueRet<u8>> {
    prop_oneof![
        Just(QueueRet::Ok),
        prop::option::of(value()).prop_map(QueueRet::Value)
    ]
}

fn set_op() -> impl Strategy<Value = SetOp<u8>> {
    prop_oneof![
        value().prop_map(SetOp::Insert),
        value().prop_map(SetOp::Remove),
        value().prop_map(SetOp::Contains),
        Just(SetOp::Read),
    ]
}

fn set_ret() -> impl Strategy<Value = SetRet<u8>> {
    prop_oneof![
        Just(SetRet::Ok),
        any::<bool>().prop_map(SetRet::Member),
        prop::collection::btree_set(value(), 0..3).prop_map(SetRet::Members),
    ]
}

/// The checker's verdict on a generated history equals the brute-force one; a
/// history with no wrong result is linearizable. Returns the verdict.
fn agrees<M: Model>(
    model: &M,
    script: &[Scripted<M::Input, M::Output>],
    choices: &[u8],
) -> Result<bool, TestCaseError>
where
    M::Input: Clone,
    M::Output: Clone,
{
    let history = generate(model, script, choices);
    let verdict = match history.check(model) {
        Ok(()) => true,
        Err(CheckError::NotLinearizable(_)) => false,
        Err(other) => return Err(TestCaseError::fail(format!("{other}"))),
    };
    let operations = history.operations();
    prop_assert_eq!(
        verdict,
        brute_force(model, &operations),
        "{:#?}",
        operations
    );
    if script.iter().all(|s| s.wrong.is_none()) {
        prop_assert!(
            verdict,
            "an honest execution is linearizable: {operations:#?}"
        );
    }
    Ok(verdict)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(400)
    ))]

    #[test]
    fn register_checker_agrees_with_brute_force((ops, choices) in script(register_op(), register_ret())) {
        agrees(&Register::new(0u8), &ops, &choices)?;
    }

    #[test]
    fn kv_checker_agrees_with_brute_force((ops, choices) in script(kv_op(), kv_ret())) {
        agrees(&Kv::<u8, u8>::new(), &ops, &choices)?;
    }

    #[test]
    fn queue_checker_agrees_with_brute_force((ops, choices) in script(queue_op(), queue_ret())) {
        agrees(&Queue::<u8>::new(), &ops, &choices)?;
    }

    #[test]
    fn set_checker_agrees_with_brute_force((ops, choices) in script(set_op(), set_ret())) {
        agrees(&Set::<u8>::new(), &ops, &choices)?;
    }

    // Many dropped operations of values few others read: the histories in which the
    // checker leaves unobserved indeterminate writes out (`Model::is_unobserved`).
    #[test]
    fn register_checker_agrees_with_brute_force_when_dropped_writes_go_unread(
        (ops, choices) in dropped_script(register_op(), register_ret())
    ) {
        agrees(&Register::new(0u8), &ops, &choices)?;
    }

    #[test]
    fn kv_checker_agrees_with_brute_force_when_dropped_writes_go_unread(
        (ops, choices) in dropped_script(kv_op(), kv_ret())
    ) {
        agrees(&Kv::<u8, u8>::new(), &ops, &choices)?;
    }

    #[test]
    fn queue_checker_agrees_with_brute_force_when_dropped_writes_go_unread(
        (ops, choices) in dropped_script(queue_op(), queue_ret())
    ) {
        agrees(&Queue::<u8>::new(), &ops, &choices)?;
    }

    #[test]
    fn set_checker_agrees_with_brute_force_when_dropped_writes_go_unread(
        (ops, choices) in dropped_script(set_op(), set_ret())
    ) {
        agrees(&Set::<u8>::new(), &ops, &choices)?;
    }
}

/// Like [`script`], with half the operations dropped, up to 8 of them by 4 clients.
fn dropped_script<I: Debug + Clone, O: Debug + Clone>(
    input: impl Strategy<Value = I>,
    wrong: impl Strategy<Value = O>,
) -> impl Strategy<Value = (Vec<Scripted<I, O>>, Vec<u8>)> {
    script_of(input, wrong, 4, 0.5, 8)
}

/// The generated histories are not vacuous: for every model, a good share of them are
/// linearizable, a good share are not, and many have indeterminate operations.
#[test]
fn generated_histories_are_both_linearizable_and_not_with_indeterminate_operations() {
    fn census<M: Model, S>(model: &M, strategy: S) -> (u32, u32, u32)
    where
        M::Input: Clone,
        M::Output: Clone,
        S: Strategy<Value = (Vec<Scripted<M::Input, M::Output>>, Vec<u8>)>,
    {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
        );
        let (mut yes, mut no, mut open) = (0, 0, 0);
        for _ in 0..300 {
            let (ops, choices) = strategy.new_tree(&mut runner).unwrap().current();
            let history = generate(model, &ops, &choices);
            if history
                .operations()
                .iter()
                .any(|op| op.status == Status::Indeterminate)
            {
                open += 1;
            }
            match agrees(model, &ops, &choices).unwrap() {
                true => yes += 1,
                false => no += 1,
            }
        }
        (yes, no, open)
    }
    let counts = [
        census(&Register::new(0u8), script(register_op(), register_ret())),
        census(&Kv::<u8, u8>::new(), script(kv_op(), kv_ret())),
        census(&Queue::<u8>::new(), script(queue_op(), queue_ret())),
        census(&Set::<u8>::new(), script(set_op(), set_ret())),
    ];
    for (model, (yes, no, open)) in ["register", "kv", "queue", "set"].iter().zip(counts) {
        assert!(
            yes >= 60 && no >= 30 && open >= 60,
            "{model}: {yes} linearizable, {no} not, {open} with indeterminate operations"
        );
    }
}

/// A stale read: client 2 reads the old value after client 1's write completed.
fn stale_read() -> History<KvOp<u64, u64>, KvRet<u64>> {
    let history = History::new();
    for k in 0..5u64 {
        history.invoke(9, KvOp::Put(k, 1)).complete(KvRet::Ok);
    }
    history.invoke(1, KvOp::Put(3, 2)).complete(KvRet::Ok);
    let unrelated = history.invoke(3, KvOp::Get(3));
    history
        .invoke(2, KvOp::Get(4))
        .complete(KvRet::Value(Some(1)));
    history
        .invoke(2, KvOp::Get(3))
        .complete(KvRet::Value(Some(1)));
    unrelated.complete(KvRet::Value(Some(2)));
    history.invoke(1, KvOp::Put(3, 3)).complete(KvRet::Ok);
    history
}

#[test]
fn a_violation_names_the_smallest_failing_part_per_client() {
    let error = stale_read().check(&Kv::new()).unwrap_err();
    let CheckError::NotLinearizable(violation) = &error else {
        panic!("{error}")
    };
    assert_eq!(violation.model(), "kv");
    assert_eq!(violation.part(), "key 3");
    // The write of 1, the write of 2, and the read of 1 after it: nothing else.
    let ops: Vec<String> = violation
        .operations()
        .iter()
        .map(|op| format!("{} {}", op.client, op.input))
        .collect();
    assert_eq!(ops, ["9 Put(3, 1)", "1 Put(3, 2)", "2 Get(3)"], "{error}");
    let text = error.to_string();
    assert!(text.starts_with("history not linearizable"), "{text}");
    assert!(
        text.contains("these 3 operations (the smallest failing part found, of 5 operations on key 3, 10 in all)"),
        "{text}"
    );
    assert!(
        text.contains("  client 2:\n    Get(3) -> Value(Some(1))   invoked #"),
        "{text}"
    );
}

#[test]
fn a_check_over_its_budget_fails_and_says_so() {
    // Ten concurrent writes, then a read of the value the search tries first: the
    // search needs many more than 50 steps to find that write last.
    let history = History::new();
    let writes: Vec<_> = (1..=10u64)
        .map(|v| history.invoke(v, RegisterOp::Write(v)))
        .collect();
    for write in writes {
        write.complete(RegisterRet::Ok);
    }
    history
        .invoke(99, RegisterOp::Read)
        .complete(RegisterRet::Value(1));
    let error = history
        .check_with_budget(&Register::new(0), 50)
        .unwrap_err();
    let CheckError::BudgetExceeded(budget) = &error else {
        panic!("{error}")
    };
    assert_eq!((budget.budget, budget.operations), (50, 11));
    assert!(
        error
            .to_string()
            .starts_with("linearizability check undecided"),
        "{error}"
    );
    assert_eq!(history.check(&Register::new(0)), Ok(()));
}

#[test]
fn a_failed_operation_is_left_out_and_a_dropped_one_may_or_may_not_have_happened() {
    let history = History::new();
    history.invoke(1, RegisterOp::Write(5)).fail();
    history
        .invoke(2, RegisterOp::Read)
        .complete(RegisterRet::Value(0));
    assert_eq!(history.check(&Register::new(0)), Ok(()));
    drop(history.invoke(1, RegisterOp::Write(6)));
    history
        .invoke(2, RegisterOp::Read)
        .complete(RegisterRet::Value(6));
    history
        .invoke(2, RegisterOp::Read)
        .complete(RegisterRet::Value(6));
    assert_eq!(history.check(&Register::new(0)), Ok(()));
    history
        .invoke(2, RegisterOp::Read)
        .complete(RegisterRet::Value(5));
    assert!(history.check(&Register::new(0)).is_err());
}

#[test]
fn a_history_that_is_not_linearizable_fails_the_run_as_its_own_kind_and_replays() {
    let body = || async {
        let history = History::new();
        let write = history.invoke(1, KvOp::Put(7u64, 1u64));
        detsim::time::sleep(std::time::Duration::from_millis(10)).await;
        write.complete(KvRet::Ok);
        detsim::time::sleep(std::time::Duration::from_millis(10)).await;
        history.invoke(2, KvOp::Get(7)).complete(KvRet::Value(None));
        history.assert_linearizable(&Kv::new());
    };
    let failure = Builder::new()
        .seeds(3)
        .explore(body)
        .failure
        .expect("the stale read fails the run");
    assert_eq!(failure.kind, FailureKind::Linearizability);
    assert!(
        failure.message.starts_with("history not linearizable"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("at 0.020000s"),
        "{}",
        failure.message
    );
    let text = failure.to_string();
    assert!(
        text.contains("  client 2:\n        Get(7) -> Value(None)"),
        "{text}"
    );
    let again = Builder::new()
        .replay(&failure.replay_token(), body)
        .expect_err("the replay fails the same way");
    assert_eq!(again.kind, FailureKind::Linearizability);
    assert_eq!(again.message, failure.message);
}

#[test]
fn sets_and_queues_report_their_own_values() {
    let history = History::new();
    history.invoke(1, SetOp::Insert(1u8)).complete(SetRet::Ok);
    history
        .invoke(2, SetOp::Read)
        .complete(SetRet::Members(BTreeSet::new()));
    assert!(history.check(&Set::new()).is_err());
    let queue = History::new();
    queue
        .invoke(1, QueueOp::Enqueue(1u8))
        .complete(QueueRet::Ok);
    queue.invoke(1, QueueOp::Enqueue(2)).complete(QueueRet::Ok);
    queue
        .invoke(2, QueueOp::Dequeue)
        .complete(QueueRet::Value(Some(2)));
    assert!(queue.check(&Queue::new()).is_err());
}

/// The history of a client that times out again and again (seed 0x2be of the kv
/// store's swarm sweep, in short): `dropped` concurrent writes of values nobody reads,
/// then completed writes and reads.
fn timed_out_writes(dropped: u64) -> History<KvOp<u64, u64>, KvRet<u64>> {
    let history = History::new();
    history.invoke(2, KvOp::Put(0, 1)).complete(KvRet::Ok);
    for v in 0..dropped {
        drop(history.invoke(1, KvOp::Put(0, 100 + v)));
    }
    history
        .invoke(2, KvOp::Get(0))
        .complete(KvRet::Value(Some(1)));
    for v in 0..20 {
        history.invoke(2, KvOp::Put(0, v)).complete(KvRet::Ok);
        history
            .invoke(3, KvOp::Get(0))
            .complete(KvRet::Value(Some(v)));
    }
    history
}

#[test]
fn dropped_writes_nobody_read_are_left_out_of_the_search() {
    // 2^24 subsets of the dropped writes, were they kept: far over this budget.
    let history = timed_out_writes(24);
    assert_eq!(history.check_with_budget(&Kv::new(), 10_000), Ok(()));
    // A dropped write that a read saw is kept, and explains that read.
    let seen = timed_out_writes(24);
    seen.invoke(3, KvOp::Get(0))
        .complete(KvRet::Value(Some(105)));
    assert_eq!(seen.check_with_budget(&Kv::new(), 10_000), Ok(()));
    // A stale read among them is still found.
    let stale = timed_out_writes(24);
    stale
        .invoke(3, KvOp::Get(0))
        .complete(KvRet::Value(Some(1)));
    let error = stale.check_with_budget(&Kv::new(), 10_000).unwrap_err();
    assert!(matches!(error, CheckError::NotLinearizable(_)), "{error}");
}

#[test]
fn a_dropped_write_that_a_failed_compare_and_set_saw_is_kept() {
    // The compare-and-set failed, so the register no longer held 0: only the dropped
    // write of 1 explains it, although nobody read 1.
    let history = History::new();
    drop(history.invoke(1, RegisterOp::Write(1u8)));
    history
        .invoke(2, RegisterOp::Cas(0, 2))
        .complete(RegisterRet::Swapped(false));
    assert_eq!(history.check(&Register::new(0)), Ok(()));
    // A compare-and-set that expects the dropped value keeps it too.
    let history = History::new();
    drop(history.invoke(1, KvOp::Put(0u8, 1u8)));
    drop(history.invoke(2, KvOp::Cas(0, Some(1), 2)));
    history
        .invoke(3, KvOp::Get(0))
        .complete(KvRet::Value(Some(2)));
    assert_eq!(history.check(&Kv::new()), Ok(()));
    // So does a queue's dequeue of it, and a set's read of it.
    let queue = History::new();
    drop(queue.invoke(1, QueueOp::Enqueue(1u8)));
    queue
        .invoke(2, QueueOp::Dequeue)
        .complete(QueueRet::Value(Some(1)));
    assert_eq!(queue.check(&Queue::new()), Ok(()));
    let set = History::new();
    drop(set.invoke(1, SetOp::Insert(1u8)));
    set.invoke(2, SetOp::Contains(1))
        .complete(SetRet::Member(true));
    drop(set.invoke(1, SetOp::Remove(1)));
    set.invoke(2, SetOp::Read)
        .complete(SetRet::Members(BTreeSet::new()));
    assert_eq!(set.check(&Set::new()), Ok(()));
}

#[test]
fn a_stale_read_after_many_writes_is_reported_with_the_writes_that_explain_it() {
    // Too many writes for the search that ignores real time (to it, every operation
    // is concurrent with every other): the report still shows the write of the stale
    // value and one that overwrote it, not the read alone.
    let history = History::new();
    history.invoke(1, KvOp::Put(0u64, 1u64)).complete(KvRet::Ok);
    for v in 0..40 {
        history.invoke(3, KvOp::Put(0, 100 + v)).complete(KvRet::Ok);
    }
    history
        .invoke(2, KvOp::Get(0))
        .complete(KvRet::Value(Some(1)));
    let error = history.check(&Kv::new()).unwrap_err();
    let CheckError::NotLinearizable(violation) = &error else {
        panic!("{error}")
    };
    let ops: Vec<String> = violation
        .operations()
        .iter()
        .map(|op| op.input.clone())
        .collect();
    assert_eq!(ops.len(), 3, "{error}");
    assert_eq!(ops[0], "Put(0, 1)", "{error}");
    assert!(ops[1].starts_with("Put(0, 1"), "{error}");
    assert_eq!(ops[2], "Get(0)", "{error}");
}

#[test]
fn a_stale_value_read_twice_around_newer_writes_is_reported_with_all_four_operations() {
    // The shape of a deposed primary's stale read: a write that timed out (it may or
    // may not have taken effect), a read that saw it take effect, a newer write, many
    // more, and a second read of the old value. Explaining the last read takes three
    // more operations, and the prefix is too long for the search that ignores real
    // time: the report still keeps the operations that wrote each value read.
    let history = History::new();
    drop(history.invoke(1, KvOp::Put(0u64, 1u64)));
    history
        .invoke(2, KvOp::Get(0))
        .complete(KvRet::Value(Some(1)));
    history.invoke(1, KvOp::Put(0, 2)).complete(KvRet::Ok);
    for v in 0..40 {
        history.invoke(3, KvOp::Put(0, 100 + v)).complete(KvRet::Ok);
    }
    history
        .invoke(2, KvOp::Get(0))
        .complete(KvRet::Value(Some(1)));
    let error = history.check(&Kv::new()).unwrap_err();
    let CheckError::NotLinearizable(violation) = &error else {
        panic!("{error}")
    };
    let ops: Vec<(String, Option<String>)> = violation
        .operations()
        .iter()
        .map(|op| (op.input.clone(), op.output.clone()))
        .collect();
    assert_eq!(ops.len(), 4, "{error}");
    assert_eq!(ops[0], ("Put(0, 1)".to_owned(), None), "{error}");
    assert_eq!(
        ops[1],
        ("Get(0)".to_owned(), Some("Value(Some(1))".to_owned())),
        "{error}"
    );
    assert!(ops[2].0.starts_with("Put(0, "), "{error}");
    assert_eq!(ops[3], ops[1], "{error}");
}

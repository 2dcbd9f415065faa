//! The sequential specifications a history is checked against: the [`Model`] trait and
//! the built-in models — a [`Register`] (read, write, compare-and-set), a key-value map
//! [`Kv`] (checked key by key), a FIFO [`Queue`] and a [`Set`].
//!
//! Invariant: a model is deterministic — [`Model::apply`] gives one next state and one
//! result for a state and an input — so an indeterminate operation, whose result is
//! unknown, still moves the model to exactly one state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// One independent part of a history ([`Model::partition`]): a label for reports
/// (`key 3`; empty for the whole history) and the indices of its operations.
pub type Partition = (String, Vec<usize>);

/// A sequential specification: what each operation returns and how it changes the
/// state, one operation at a time.
pub trait Model {
    /// The model's state. Hashed and compared to memoize the search, so two states
    /// that behave the same should be equal.
    type State: Clone + Eq + Hash + Debug;
    /// An operation as a client invokes it.
    type Input: Debug;
    /// What an operation returns.
    type Output: PartialEq + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`: the next state and the result the operation returns.
    fn apply(&self, state: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);

    /// Whether `input` never changes the state (a read). An indeterminate read-only
    /// operation neither constrains nor changes anything, so a check leaves it out
    /// (each indeterminate operation the search keeps doubles what it may explore).
    /// The default, `false`, is always correct.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// Whether an indeterminate operation `input` may be left out of the check of its
    /// part because no result in that part could show that it took effect: `part`
    /// lists every operation of the part (`input` among them) with its result, `None`
    /// for the indeterminate ones. Each indeterminate operation the search keeps doubles
    /// what it may explore, and a client that times out again and again leaves many
    /// (Jepsen's `:info` writes), so a model that can tell saves the search from them.
    ///
    /// Saying `true` must be sound: whenever the part is linearizable with `input`
    /// taking effect somewhere, it must be linearizable without it (leaving out
    /// several, one after the other, is then sound too, as the rule reads only the
    /// completed operations' results). The built-in models leave out a write of a
    /// value that no completed operation read (and, for [`Register`] and [`Kv`], that no
    /// compare-and-set compared against, in a part where no completed compare-and-set
    /// failed); see each model. The default, `false`, is always correct.
    fn is_unobserved(
        &self,
        input: &Self::Input,
        part: &[(&Self::Input, Option<&Self::Output>)],
    ) -> bool {
        let _ = (input, part);
        false
    }

    /// Splits a history (given by its operations' inputs) into parts that are checked
    /// independently, each from [`Model::init`]'s state (P-compositionality): the
    /// history is linearizable exactly when every part is. The default is one part.
    fn partition(&self, inputs: &[&Self::Input]) -> Vec<Partition> {
        vec![(String::new(), (0..inputs.len()).collect())]
    }

    /// The model's name in reports (`register`).
    fn name(&self) -> String {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("model")
            .to_owned()
    }
}

// --- register ------------------------------------------------------------------------

/// A single register holding a `V`, with read, write and compare-and-set.
#[derive(Debug, Clone)]
pub struct Register<V> {
    initial: V,
}

impl<V> Register<V> {
    /// A register that holds `initial` before any write.
    pub fn new(initial: V) -> Self {
        Register { initial }
    }
}

/// An operation on a [`Register`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp<V> {
    /// Read the value: [`RegisterRet::Value`].
    Read,
    /// Write a value: [`RegisterRet::Ok`].
    Write(V),
    /// If the value is the first, write the second: [`RegisterRet::Swapped`].
    Cas(V, V),
}

/// What a [`RegisterOp`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterRet<V> {
    /// The value read.
    Value(V),
    /// A write took effect.
    Ok,
    /// Whether a compare-and-set wrote.
    Swapped(bool),
}

impl<V: Clone + Eq + Hash + Debug> Model for Register<V> {
    type State = V;
    type Input = RegisterOp<V>;
    type Output = RegisterRet<V>;

    fn init(&self) -> V {
        self.initial.clone()
    }

    fn apply(&self, state: &V, input: &RegisterOp<V>) -> (V, RegisterRet<V>) {
        match input {
            RegisterOp::Read => (state.clone(), RegisterRet::Value(state.clone())),
            RegisterOp::Write(v) => (v.clone(), RegisterRet::Ok),
            RegisterOp::Cas(expected, new) if state == expected => {
                (new.clone(), RegisterRet::Swapped(true))
            }
            RegisterOp::Cas(..) => (state.clone(), RegisterRet::Swapped(false)),
        }
    }

    fn is_read_only(&self, input: &RegisterOp<V>) -> bool {
        matches!(input, RegisterOp::Read)
    }

    /// A write (or compare-and-set) of `v` that no completed read returned, that no
    /// compare-and-set expects, in a part where no completed compare-and-set failed.
    ///
    /// Why that is sound: take a linearization in which it wrote `v`, and remove it.
    /// Only the stretch between it and the next write changes (the register holds the
    /// value before it instead of `v`). No completed read is in that stretch (it would
    /// have returned `v`); no compare-and-set in it swapped (none expects `v`), so it
    /// ends with a plain write; a completed compare-and-set in it would have failed,
    /// and there is none; an indeterminate one that now swaps is left out too.
    fn is_unobserved(
        &self,
        input: &RegisterOp<V>,
        part: &[(&RegisterOp<V>, Option<&RegisterRet<V>>)],
    ) -> bool {
        let written = match input {
            RegisterOp::Write(v) | RegisterOp::Cas(_, v) => v,
            RegisterOp::Read => return false,
        };
        part.iter().all(|(op, ret)| match (op, ret) {
            (RegisterOp::Cas(expected, _), _) if expected == written => false,
            (RegisterOp::Cas(..), Some(RegisterRet::Swapped(false))) => false,
            (_, Some(RegisterRet::Value(seen))) => seen != written,
            _ => true,
        })
    }

    fn name(&self) -> String {
        "register".to_owned()
    }
}

// --- key-value map -------------------------------------------------------------------

/// A key-value map, empty at first, whose keys are independent registers: a history is
/// checked key by key (P-compositionality), so its cost grows with the operations on
/// one key, not with the whole history.
#[derive(Debug, Clone, Default)]
pub struct Kv<K, V> {
    _types: std::marker::PhantomData<fn() -> (K, V)>,
}

impl<K, V> Kv<K, V> {
    /// The model of a map that starts empty.
    pub fn new() -> Self {
        Kv {
            _types: std::marker::PhantomData,
        }
    }
}

/// An operation on a [`Kv`] map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp<K, V> {
    /// Read a key: [`KvRet::Value`] (`None` when absent).
    Get(K),
    /// Write a key: [`KvRet::Ok`].
    Put(K, V),
    /// If the key holds the value (`None`: is absent), write the new one:
    /// [`KvRet::Swapped`].
    Cas(K, Option<V>, V),
}

impl<K, V> KvOp<K, V> {
    /// The key the operation is about.
    pub fn key(&self) -> &K {
        match self {
            KvOp::Get(k) | KvOp::Put(k, _) | KvOp::Cas(k, ..) => k,
        }
    }
}

/// What a [`KvOp`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvRet<V> {
    /// The value read (`None`: the key is absent).
    Value(Option<V>),
    /// A write took effect.
    Ok,
    /// Whether a compare-and-set wrote.
    Swapped(bool),
}

impl<K, V> Model for Kv<K, V>
where
    K: Clone + Ord + Hash + Debug,
    V: Clone + Eq + Hash + Debug,
{
    type State = BTreeMap<K, V>;
    type Input = KvOp<K, V>;
    type Output = KvRet<V>;

    fn init(&self) -> BTreeMap<K, V> {
        BTreeMap::new()
    }

    fn apply(&self, state: &BTreeMap<K, V>, input: &KvOp<K, V>) -> (BTreeMap<K, V>, KvRet<V>) {
        match input {
            KvOp::Get(k) => (state.clone(), KvRet::Value(state.get(k).cloned())),
            KvOp::Put(k, v) => {
                let mut next = state.clone();
                next.insert(k.clone(), v.clone());
                (next, KvRet::Ok)
            }
            KvOp::Cas(k, expected, new) if state.get(k) == expected.as_ref() => {
                let mut next = state.clone();
                next.insert(k.clone(), new.clone());
                (next, KvRet::Swapped(true))
            }
            KvOp::Cas(..) => (state.clone(), KvRet::Swapped(false)),
        }
    }

    fn partition(&self, inputs: &[&KvOp<K, V>]) -> Vec<Partition> {
        let mut keys: BTreeMap<&K, Vec<usize>> = BTreeMap::new();
        for (i, input) in inputs.iter().enumerate() {
            keys.entry(input.key()).or_default().push(i);
        }
        keys.into_iter()
            .map(|(k, ops)| (format!("key {k:?}"), ops))
            .collect()
    }

    fn is_read_only(&self, input: &KvOp<K, V>) -> bool {
        matches!(input, KvOp::Get(_))
    }

    /// A put (or compare-and-set) of `v` at a key that no completed get of that key
    /// returned, that no compare-and-set of that key expects, where no completed
    /// compare-and-set of that key failed: sound for the reason [`Register`] gives,
    /// key by key.
    fn is_unobserved(&self, input: &KvOp<K, V>, part: &[(&KvOp<K, V>, Option<&KvRet<V>>)]) -> bool {
        let (key, written) = match input {
            KvOp::Put(k, v) | KvOp::Cas(k, _, v) => (k, v),
            KvOp::Get(_) => return false,
        };
        part.iter()
            .filter(|(op, _)| op.key() == key)
            .all(|(op, ret)| match (op, ret) {
                (KvOp::Cas(_, expected, _), _) if expected.as_ref() == Some(written) => false,
                (KvOp::Cas(..), Some(KvRet::Swapped(false))) => false,
                (_, Some(KvRet::Value(seen))) => seen.as_ref() != Some(written),
                _ => true,
            })
    }

    fn name(&self) -> String {
        "kv".to_owned()
    }
}

// --- FIFO queue ----------------------------------------------------------------------

/// A FIFO queue, empty at first.
#[derive(Debug, Clone, Default)]
pub struct Queue<V> {
    _types: std::marker::PhantomData<fn() -> V>,
}

impl<V> Queue<V> {
    /// The model of a queue that starts empty.
    pub fn new() -> Self {
        Queue {
            _types: std::marker::PhantomData,
        }
    }
}

/// An operation on a [`Queue`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueOp<V> {
    /// Append a value: [`QueueRet::Ok`].
    Enqueue(V),
    /// Take the oldest value: [`QueueRet::Value`] (`None` when empty).
    Dequeue,
}

/// What a [`QueueOp`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueRet<V> {
    /// An enqueue took effect.
    Ok,
    /// The value dequeued (`None`: the queue was empty).
    Value(Option<V>),
}

impl<V: Clone + Eq + Hash + Debug> Model for Queue<V> {
    type State = VecDeque<V>;
    type Input = QueueOp<V>;
    type Output = QueueRet<V>;

    fn init(&self) -> VecDeque<V> {
        VecDeque::new()
    }

    fn apply(&self, state: &VecDeque<V>, input: &QueueOp<V>) -> (VecDeque<V>, QueueRet<V>) {
        let mut next = state.clone();
        match input {
            QueueOp::Enqueue(v) => {
                next.push_back(v.clone());
                (next, QueueRet::Ok)
            }
            QueueOp::Dequeue => {
                let value = next.pop_front();
                (next, QueueRet::Value(value))
            }
        }
    }

    /// An enqueue of a value that no completed dequeue returned.
    ///
    /// Why that is sound: take a linearization in which it enqueued `v`, and remove it
    /// (with the indeterminate dequeue that took `v`, if one did). Every completed
    /// dequeue after it took a value ahead of `v` (none took `v`, and none found the
    /// queue empty while `v` was in it), so each returns the same without it.
    fn is_unobserved(
        &self,
        input: &QueueOp<V>,
        part: &[(&QueueOp<V>, Option<&QueueRet<V>>)],
    ) -> bool {
        let QueueOp::Enqueue(enqueued) = input else {
            return false;
        };
        part.iter()
            .all(|(_, ret)| !matches!(ret, Some(QueueRet::Value(Some(v))) if v == enqueued))
    }

    fn name(&self) -> String {
        "queue".to_owned()
    }
}

// --- set -----------------------------------------------------------------------------

/// A set, empty at first.
#[derive(Debug, Clone, Default)]
pub struct Set<V> {
    _types: std::marker::PhantomData<fn() -> V>,
}

impl<V> Set<V> {
    /// The model of a set that starts empty.
    pub fn new() -> Self {
        Set {
            _types: std::marker::PhantomData,
        }
    }
}

/// An operation on a [`Set`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOp<V> {
    /// Add a value: [`SetRet::Ok`].
    Insert(V),
    /// Remove a value: [`SetRet::Ok`].
    Remove(V),
    /// Whether a value is present: [`SetRet::Member`].
    Contains(V),
    /// Every value: [`SetRet::Members`].
    Read,
}

/// What a [`SetOp`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetRet<V> {
    /// An insert or a remove took effect.
    Ok,
    /// Whether the value was present.
    Member(bool),
    /// Every value, in order.
    Members(BTreeSet<V>),
}

impl<V: Clone + Ord + Hash + Debug> Model for Set<V> {
    type State = BTreeSet<V>;
    type Input = SetOp<V>;
    type Output = SetRet<V>;

    fn init(&self) -> BTreeSet<V> {
        BTreeSet::new()
    }

    fn apply(&self, state: &BTreeSet<V>, input: &SetOp<V>) -> (BTreeSet<V>, SetRet<V>) {
        match input {
            SetOp::Insert(v) => {
                let mut next = state.clone();
                next.insert(v.clone());
                (next, SetRet::Ok)
            }
            SetOp::Remove(v) => {
                let mut next = state.clone();
                next.remove(v);
                (next, SetRet::Ok)
            }
            SetOp::Contains(v) => (state.clone(), SetRet::Member(state.contains(v))),
            SetOp::Read => (state.clone(), SetRet::Members(state.clone())),
        }
    }

    fn is_read_only(&self, input: &SetOp<V>) -> bool {
        matches!(input, SetOp::Contains(_) | SetOp::Read)
    }

    /// An insert of a value that no completed operation saw present, or a remove of a
    /// value that none saw absent.
    ///
    /// Why that is sound: take a linearization in which the insert took effect, and
    /// remove it. Only the value's membership changes, only until the next insert or
    /// remove of it, and no completed operation looked at it in that stretch (it would
    /// have seen it present). The same holds for a remove, with absent for present.
    fn is_unobserved(&self, input: &SetOp<V>, part: &[(&SetOp<V>, Option<&SetRet<V>>)]) -> bool {
        let (value, present) = match input {
            SetOp::Insert(v) => (v, true),
            SetOp::Remove(v) => (v, false),
            SetOp::Contains(_) | SetOp::Read => return false,
        };
        part.iter().all(|(op, ret)| match (op, ret) {
            (SetOp::Contains(v), Some(SetRet::Member(seen))) if v == value => *seen != present,
            (SetOp::Read, Some(SetRet::Members(seen))) => seen.contains(value) != present,
            _ => true,
        })
    }

    fn name(&self) -> String {
        "set".to_owned()
    }
}

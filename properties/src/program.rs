//! Task programs: what a generated test case asks detsim to run.
//!
//! A program is written as a tree of [`TaskSpec`]s (what a generator or a
//! fuzzer produces, possibly nonsensical) and lowered by [`Program::new`] into
//! a flat, well-formed [`Program`]: a list of [`Node`]s in preorder, node 0
//! being the root future, each with the [`Op`]s it executes in sequence.
//!
//! # Invariants `Program::new` establishes
//!
//! - Shape: at most [`MAX_TASKS`] nodes, at most [`MAX_DEPTH`] levels below the
//!   root, at most [`MAX_STEPS`] ops per node. Every node but the root is
//!   spawned by exactly one `Spawn` op of its parent.
//! - Handles: `Await`, `Timeout` and `Abort` name a child spawned earlier and
//!   not yet awaited. (A `Timeout` may join its child or not, depending on the
//!   schedule: lowering counts the child as still held, and ops on a handle
//!   a `Timeout` spent do nothing at run time.) A task awaits every child it did not await explicitly after its
//!   last op (the *implicit join*), so a task that returns leaves nothing
//!   behind.
//! - No lost panic: a panic must always be observed by a join, because detsim
//!   fails a run whose panic nobody can observe any more. So `Abort` only names
//!   children whose whole subtree is panic-free, and an op that may panic
//!   (`Panic`, or `Try` of a child that may panic) only stays when every other
//!   child not yet awaited is panic-free (its handle is dropped by the
//!   unwinding); a `Try` that may not stay becomes an `Await`. Ops after a
//!   `Panic` are cut.
//! - No deadlock by construction: a child has at most one oneshot channel with
//!   its parent ([`Link`]), one message each way at most, one direction per
//!   child. A task only ever waits on its children, on timers, or (for a
//!   [`Link::ToChild`] child) on its parent's sender, which the parent drops
//!   before it awaits that child. Waits therefore form no cycle.
//!
//! Lowering is total and deterministic: any `TaskSpec` tree gives a program,
//! the same tree always the same program.

use std::fmt;

/// Most nodes (tasks, the root included) a program has.
pub const MAX_TASKS: usize = 8;
/// Most levels of spawned tasks below the root (so await chains are this deep).
pub const MAX_DEPTH: usize = 3;
/// Most ops per task.
pub const MAX_STEPS: usize = 10;

/// Index of a node (a task) in [`Program::nodes`]; node 0 is the root.
pub type NodeIx = usize;

/// The oneshot channel a child shares with its parent, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// No channel.
    None,
    /// The parent holds the sender, the child the receiver.
    ToChild,
    /// The child holds the sender, the parent the receiver.
    FromChild,
}

/// One step of a generated task, before lowering. Child references are
/// indices (taken modulo the number of eligible children) and may be
/// meaningless: lowering drops what makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RawStep {
    /// Spawn a child task running this spec, with this channel to it.
    Spawn(TaskSpec, Link),
    /// `detsim::yield_now().await`.
    Yield,
    /// `detsim::time::sleep(ms milliseconds).await`.
    Sleep(u8),
    /// Await a child's join handle.
    Await(u8),
    /// Await a child's join handle and re-raise its panic (`resume_unwind`
    /// with the same payload), as asyncio's `await task` re-raises.
    Try(u8),
    /// Await a child's join handle for at most this many milliseconds
    /// (`detsim::time::timeout`); on time-out the child keeps running.
    Timeout(u8, u8),
    /// Abort a child.
    Abort(u8),
    /// Send on the channel to a child.
    SendChild(u8),
    /// Receive on the channel from a child.
    RecvChild(u8),
    /// Send on the channel to the parent.
    SendParent,
    /// Receive on the channel from the parent.
    RecvParent,
    /// Draw a `u64` from `detsim::random`.
    Random,
    /// Panic.
    Panic,
}

/// A generated task: its steps and the value it returns (mixed with what it
/// joins and draws).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TaskSpec {
    /// The base of the task's result value.
    pub value: u32,
    /// What the task does, in order.
    pub steps: Vec<RawStep>,
}

/// Who is at the other end of a channel op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The task's parent.
    Parent,
    /// One of the task's children.
    Child(NodeIx),
}

/// One operation of a well-formed program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Spawn this node (with `detsim::task::Builder`, named `n<ix>`).
    Spawn(NodeIx),
    /// `detsim::yield_now().await`.
    Yield,
    /// Sleep this many milliseconds of virtual time.
    Sleep(u8),
    /// Await this child's handle (dropping our sender to it first).
    Await(NodeIx),
    /// Await this child's handle like `Await`, then resume its panic, if it
    /// panicked, with the same payload.
    Try(NodeIx),
    /// Await this child's handle for at most this many milliseconds, hanging
    /// up our sender first. If the child finishes in time its handle is
    /// spent, and later ops on it do nothing; otherwise it keeps running.
    Timeout(NodeIx, u8),
    /// Abort this child (nothing if a `Timeout` joined it).
    Abort(NodeIx),
    /// Send the one message of the link to the peer.
    Send(Peer),
    /// Receive the one message of the link from the peer (or its hang-up).
    Recv(Peer),
    /// Draw a `u64` from `detsim::random`.
    Random,
    /// Panic with [`Program::panic_message`]; always the last op.
    Panic,
}

/// One task of a well-formed program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// The node that spawns this one (`None` for the root).
    pub parent: Option<NodeIx>,
    /// Levels below the root.
    pub depth: usize,
    /// The channel to the parent.
    pub link: Link,
    /// The base of the result value.
    pub value: u32,
    /// What the task does, in order; then it joins the children it did not
    /// await and returns.
    pub ops: Vec<Op>,
    /// Whether this node may panic (a `Panic` op, or a `Try` of a child that
    /// may panic).
    pub panicky: bool,
    /// Whether this node or a descendant may panic: dropping this node's
    /// future could then lose a panic.
    pub subtree_panicky: bool,
}

impl Node {
    /// The children this node spawns, in spawn order.
    pub fn children(&self) -> impl Iterator<Item = NodeIx> + '_ {
        self.ops.iter().filter_map(|op| match op {
            Op::Spawn(c) => Some(*c),
            _ => None,
        })
    }

    /// Whether the node ends in a panic.
    pub fn panics(&self) -> bool {
        self.ops.last() == Some(&Op::Panic)
    }
}

/// A well-formed task program (see the module docs for what that means).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Program {
    /// The tasks in preorder; node 0 is the root future.
    pub nodes: Vec<Node>,
    /// Whether a task's future, when dropped before it finished (aborted or
    /// unwinding), aborts the children it has not awaited, as a task group
    /// would. Without it they are detached.
    pub abort_on_drop: bool,
}

impl Program {
    /// Lowers a generated tree into a well-formed program.
    pub fn new(root: &TaskSpec, abort_on_drop: bool) -> Program {
        let mut nodes = Vec::new();
        lower(root, None, Link::None, 0, &mut nodes);
        Program {
            nodes,
            abort_on_drop,
        }
    }

    /// The payload a node's `Panic` op panics with (a `String`).
    pub fn panic_message(node: NodeIx) -> String {
        format!("{PANIC_PREFIX}n{node} panics")
    }

    /// The node whose panic message this is, if it is one.
    pub fn panic_origin(message: &str) -> Option<NodeIx> {
        message
            .strip_prefix(PANIC_PREFIX)?
            .strip_prefix('n')?
            .strip_suffix(" panics")?
            .parse()
            .ok()
    }

    /// The message a node sends on its link.
    pub fn message(from: NodeIx) -> u64 {
        0x6d73_6700_0000 | from as u64
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a program has at least its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether the root may panic (the run then fails with the payload).
    pub fn root_panics(&self) -> bool {
        self.nodes[0].panicky
    }

    /// Whether any node sleeps.
    pub fn sleeps(&self) -> bool {
        self.ops().any(|(_, op)| matches!(op, Op::Sleep(_)))
    }

    /// Every op with the node that runs it.
    pub fn ops(&self) -> impl Iterator<Item = (NodeIx, Op)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(|(n, node)| node.ops.iter().map(move |op| (n, *op)))
    }

    /// A copy whose root panics after its implicit join, so that every run
    /// fails and yields a `Failure` whose trace covers the whole program.
    /// `None` when the root already panics or cannot panic legally.
    pub fn with_root_panic(&self) -> Option<Program> {
        if self.nodes[0].panicky {
            return None;
        }
        let mut p = self.clone();
        // Await every child explicitly first so the panic drops no handle.
        let root = &mut p.nodes[0];
        let awaited: Vec<NodeIx> = root
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Await(c) | Op::Try(c) => Some(*c),
                _ => None,
            })
            .collect();
        let pending: Vec<NodeIx> = root.children().filter(|c| !awaited.contains(c)).collect();
        root.ops.extend(pending.into_iter().map(Op::Await));
        root.ops.push(Op::Panic);
        root.panicky = true;
        root.subtree_panicky = true;
        Some(p)
    }
}

/// Prefix of every panic payload a program raises; the panic hook installed
/// by [`crate::quiet_program_panics`] keeps these off stderr.
pub const PANIC_PREFIX: &str = "detsim-properties: ";

struct ChildState {
    node: NodeIx,
    joined: bool,
    sent: bool,
    received: bool,
}

fn lower(
    spec: &TaskSpec,
    parent: Option<NodeIx>,
    link: Link,
    depth: usize,
    nodes: &mut Vec<Node>,
) -> NodeIx {
    let me = nodes.len();
    nodes.push(Node {
        parent,
        depth,
        link,
        value: spec.value,
        ops: Vec::new(),
        panicky: false,
        subtree_panicky: false,
    });
    let mut ops = Vec::new();
    let mut children: Vec<ChildState> = Vec::new();
    let mut sent_parent = false;
    let mut received_parent = false;
    let mut reraises = false;
    let pick = |k: u8, eligible: Vec<NodeIx>| -> Option<NodeIx> {
        (!eligible.is_empty()).then(|| eligible[usize::from(k) % eligible.len()])
    };
    for step in spec.steps.iter().take(MAX_STEPS) {
        let op = match step {
            RawStep::Spawn(sub, link) => {
                if depth >= MAX_DEPTH || nodes.len() >= MAX_TASKS {
                    continue;
                }
                let child = lower(sub, Some(me), *link, depth + 1, nodes);
                children.push(ChildState {
                    node: child,
                    joined: false,
                    sent: false,
                    received: false,
                });
                Op::Spawn(child)
            }
            RawStep::Yield => Op::Yield,
            RawStep::Sleep(ms) => Op::Sleep(*ms),
            RawStep::Random => Op::Random,
            RawStep::Await(k) => {
                let eligible = children.iter().filter(|c| !c.joined).map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                children.iter_mut().find(|s| s.node == c).unwrap().joined = true;
                Op::Await(c)
            }
            RawStep::Try(k) => {
                let eligible = children.iter().filter(|c| !c.joined).map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                children.iter_mut().find(|s| s.node == c).unwrap().joined = true;
                let others_panicky = children
                    .iter()
                    .any(|o| !o.joined && nodes[o.node].subtree_panicky);
                if nodes[c].panicky && !others_panicky {
                    reraises = true;
                    Op::Try(c)
                } else {
                    Op::Await(c)
                }
            }
            RawStep::Timeout(k, ms) => {
                let eligible = children.iter().filter(|c| !c.joined).map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                // It hangs up our sender: nothing may be sent after it.
                children.iter_mut().find(|s| s.node == c).unwrap().sent = true;
                Op::Timeout(c, *ms)
            }
            RawStep::Abort(k) => {
                let eligible = children
                    .iter()
                    .filter(|c| !c.joined && !nodes[c.node].subtree_panicky)
                    .map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                Op::Abort(c)
            }
            RawStep::SendChild(k) => {
                let eligible = children
                    .iter()
                    .filter(|c| !c.joined && !c.sent && nodes[c.node].link == Link::ToChild)
                    .map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                children.iter_mut().find(|s| s.node == c).unwrap().sent = true;
                Op::Send(Peer::Child(c))
            }
            RawStep::RecvChild(k) => {
                let eligible = children
                    .iter()
                    .filter(|c| !c.received && nodes[c.node].link == Link::FromChild)
                    .map(|c| c.node);
                let Some(c) = pick(*k, eligible.collect()) else {
                    continue;
                };
                children.iter_mut().find(|s| s.node == c).unwrap().received = true;
                Op::Recv(Peer::Child(c))
            }
            RawStep::SendParent => {
                if link != Link::FromChild || sent_parent {
                    continue;
                }
                sent_parent = true;
                Op::Send(Peer::Parent)
            }
            RawStep::RecvParent => {
                if link != Link::ToChild || received_parent {
                    continue;
                }
                received_parent = true;
                Op::Recv(Peer::Parent)
            }
            RawStep::Panic => {
                let drops_panicky = children
                    .iter()
                    .any(|c| !c.joined && nodes[c.node].subtree_panicky);
                if drops_panicky {
                    continue;
                }
                ops.push(Op::Panic);
                break;
            }
        };
        ops.push(op);
    }
    let panicky = reraises || ops.last() == Some(&Op::Panic);
    let subtree_panicky = panicky || children.iter().any(|c| nodes[c.node].subtree_panicky);
    let node = &mut nodes[me];
    node.ops = ops;
    node.panicky = panicky;
    node.subtree_panicky = subtree_panicky;
    me
}

impl fmt::Debug for Program {
    /// A compact listing, one node per line, as proptest prints a failing
    /// input: `n1 <- n0 [to-child] value 7: spawn n2, yield, await n2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Program (abort_on_drop: {}) {{", self.abort_on_drop)?;
        for (ix, node) in self.nodes.iter().enumerate() {
            write!(f, "  n{ix}")?;
            if let Some(p) = node.parent {
                write!(f, " <- n{p}")?;
            }
            match node.link {
                Link::None => {}
                Link::ToChild => write!(f, " [to-child]")?,
                Link::FromChild => write!(f, " [from-child]")?,
            }
            write!(f, " value {}:", node.value)?;
            for (i, op) in node.ops.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{op}")?;
            }
            writeln!(f)?;
        }
        write!(f, "}}")
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Spawn(c) => write!(f, "spawn n{c}"),
            Op::Yield => write!(f, "yield"),
            Op::Sleep(ms) => write!(f, "sleep {ms}ms"),
            Op::Await(c) => write!(f, "await n{c}"),
            Op::Try(c) => write!(f, "await? n{c}"),
            Op::Timeout(c, ms) => write!(f, "await n{c} for {ms}ms"),
            Op::Abort(c) => write!(f, "abort n{c}"),
            Op::Send(Peer::Parent) => write!(f, "send parent"),
            Op::Send(Peer::Child(c)) => write!(f, "send n{c}"),
            Op::Recv(Peer::Parent) => write!(f, "recv parent"),
            Op::Recv(Peer::Child(c)) => write!(f, "recv n{c}"),
            Op::Random => write!(f, "random"),
            Op::Panic => write!(f, "panic"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(steps: Vec<RawStep>, link: Link) -> RawStep {
        RawStep::Spawn(TaskSpec { value: 1, steps }, link)
    }

    #[test]
    fn lowering_drops_what_makes_no_sense() {
        let root = TaskSpec {
            value: 0,
            steps: vec![
                RawStep::Await(3), // no child yet
                spawn(vec![RawStep::Panic, RawStep::Yield], Link::None),
                RawStep::Abort(0), // n1 may panic: not abortable
                RawStep::SendChild(0),
                RawStep::Panic, // would drop n1's handle
                RawStep::Await(7),
                RawStep::Await(0), // n1 already awaited
                RawStep::Panic,
                RawStep::Yield, // after the panic
            ],
        };
        let p = Program::new(&root, true);
        assert_eq!(p.nodes[0].ops, vec![Op::Spawn(1), Op::Await(1), Op::Panic]);
        assert_eq!(p.nodes[1].ops, vec![Op::Panic]);
        assert!(p.nodes[0].panicky && p.nodes[1].panicky);
        assert_eq!(Program::panic_origin(&Program::panic_message(5)), Some(5));
    }

    #[test]
    fn try_reraises_only_what_may_panic() {
        let leaf = |steps| TaskSpec { value: 0, steps };
        let n3 = leaf(vec![RawStep::Panic]);
        let n2 = leaf(vec![RawStep::Spawn(n3, Link::None), RawStep::Try(0)]);
        let n1 = leaf(vec![RawStep::Spawn(n2, Link::None), RawStep::Try(0)]);
        let quiet = leaf(vec![RawStep::Yield]);
        let root = leaf(vec![
            RawStep::Spawn(quiet, Link::None),
            RawStep::Spawn(n1, Link::None),
            RawStep::Try(0), // the quiet child: cannot panic, so a plain await
            RawStep::Await(0),
        ]);
        let p = Program::new(&root, false);
        assert_eq!(
            p.nodes[0].ops,
            vec![Op::Spawn(1), Op::Spawn(2), Op::Await(1), Op::Await(2)]
        );
        assert_eq!(p.nodes[2].ops, vec![Op::Spawn(3), Op::Try(3)]);
        assert_eq!(p.nodes[3].ops, vec![Op::Spawn(4), Op::Try(4)]);
        assert!(p.nodes[2].panicky && p.nodes[3].panicky && p.nodes[4].panicky);
        assert!(!p.nodes[0].panicky && p.nodes[0].subtree_panicky);
    }

    #[test]
    fn shape_is_bounded() {
        fn deep(levels: usize) -> TaskSpec {
            let mut steps = vec![RawStep::Yield; 20];
            if levels > 0 {
                steps.insert(0, spawn(deep(levels - 1).steps, Link::ToChild));
                steps.insert(0, spawn(deep(levels - 1).steps, Link::FromChild));
            }
            TaskSpec { value: 0, steps }
        }
        let p = Program::new(&deep(6), false);
        assert_eq!(p.len(), MAX_TASKS);
        assert!(p.nodes.iter().all(|n| n.depth <= MAX_DEPTH));
        assert!(p.nodes.iter().all(|n| n.ops.len() <= MAX_STEPS));
    }

    #[test]
    fn channels_match_their_link() {
        let root = TaskSpec {
            value: 0,
            steps: vec![
                spawn(
                    vec![RawStep::RecvParent, RawStep::SendParent],
                    Link::ToChild,
                ),
                spawn(
                    vec![RawStep::RecvParent, RawStep::SendParent],
                    Link::FromChild,
                ),
                RawStep::SendChild(5),
                RawStep::SendChild(5),
                RawStep::RecvChild(2),
                RawStep::RecvParent,
            ],
        };
        let p = Program::new(&root, false);
        assert_eq!(p.nodes[1].ops, vec![Op::Recv(Peer::Parent)]);
        assert_eq!(p.nodes[2].ops, vec![Op::Send(Peer::Parent)]);
        assert_eq!(
            p.nodes[0].ops,
            vec![
                Op::Spawn(1),
                Op::Spawn(2),
                Op::Send(Peer::Child(1)),
                Op::Recv(Peer::Child(2)),
            ]
        );
    }
}

//! Nodes: groups of tasks that can be paused and killed together, for crates that
//! simulate machines (the cluster of `detsim-net`).
//!
//! A task runs on a node: the one it was spawned onto with [`spawn_on`], or else its
//! spawner's. The root future and what it spawns run on no node ([`NodeId::NONE`]).
//! [`kill`] drops every unfinished task of a node, in id order, each as the current
//! task (so a destructor sees its node as [`current`], may close sockets or spawn; what
//! it spawns on the node is killed too). [`pause`] holds the node's tasks out of the
//! ready set until [`resume`]: timers of the node fire on time, but its tasks run only
//! after the resume. Node names prefix their tasks' names in traces and reports
//! (`t7 raft-2/ticker`).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;

use crate::context::{self, AsTask};
use crate::join::JoinHandle;
use crate::task::{ErasedTask, TaskCell};

/// A node of the current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// No node: the root future and the tasks it spawns.
    pub const NONE: NodeId = NodeId(0);

    /// The number behind the id (1, 2, … in creation order; 0 for [`NodeId::NONE`]).
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Creates a node named `name` in the current run. Panics outside a simulation.
pub fn create(name: &str) -> NodeId {
    NodeId(context::with_core("detsim_runtime::node::create", |core| {
        core.add_node(name)
    }))
}

/// The node of the running task ([`NodeId::NONE`] when it runs on none, or when no
/// task runs). Panics outside a simulation.
pub fn current() -> NodeId {
    NodeId(context::with_core(
        "detsim_runtime::node::current",
        |core| core.current_node(),
    ))
}

/// The name `node` was created with (empty for [`NodeId::NONE`]).
pub fn name(node: NodeId) -> String {
    context::with_core("detsim_runtime::node::name", |core| {
        core.node_name(node.0).to_owned()
    })
}

/// Spawns `future` as a task of `node`, named `name` (see [`crate::spawn`]).
#[track_caller]
pub fn spawn_on<F>(node: NodeId, name: Option<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    let cell: Pin<Box<dyn ErasedTask>> = Box::pin(TaskCell::Running { future });
    let key = context::with_core("detsim_runtime::node::spawn_on", |core| {
        core.spawn(cell, name, location, Some(node.0))
    });
    JoinHandle::new(key)
}

/// Drops every unfinished task of `node` (in id order, each as the current task), and
/// what their destructors spawn on it. A task of the node that is running (the caller
/// itself) ends when its poll returns. Panics outside a simulation or for
/// [`NodeId::NONE`].
pub fn kill(node: NodeId) {
    loop {
        let futures =
            context::with_core("detsim_runtime::node::kill", |core| core.kill_node(node.0));
        if futures.is_empty() {
            break;
        }
        for (index, future) in futures {
            let _as_task = AsTask::enter(index);
            drop(future);
        }
        if !context::with_core("detsim_runtime::node::kill", |core| {
            core.node_has_tasks(node.0)
        }) {
            break;
        }
    }
}

/// Holds the tasks of `node` out of the ready set until [`resume`].
pub fn pause(node: NodeId) {
    context::with_core("detsim_runtime::node::pause", |core| {
        core.set_paused(node.0, true);
    });
}

/// Lets the tasks of a paused `node` run again, in the order they became ready.
pub fn resume(node: NodeId) {
    context::with_core("detsim_runtime::node::resume", |core| {
        core.set_paused(node.0, false);
    });
}

/// Whether `node` is paused.
pub fn is_paused(node: NodeId) -> bool {
    context::with_core("detsim_runtime::node::is_paused", |core| {
        core.is_paused(node.0)
    })
}

/// Records `text` as an event of the trace (when the run is traced), by the running
/// task: kills, pauses, partitions and faults show in the timeline this way. `text`
/// is only called when the trace is on.
pub fn note(text: impl FnOnce() -> String) {
    context::with_core("detsim_runtime::node::note", |core| core.note(text));
}

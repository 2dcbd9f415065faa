//! Nodes in the core: which node each task runs on, pausing a node (its tasks are
//! held out of the ready set), and killing one (every task of it aborted).
//!
//! Invariants:
//! - node 0 is "no node" (the root and what it spawns); it is never paused or killed;
//! - a task of a paused node that is woken or spawned is `Held`, in the order it
//!   became ready, and enters the ready set in that order when the node resumes; a
//!   paused node's timers still fire at their deadlines, but their tasks run only after
//!   the resume, so to them time jumped by the pause;
//! - a kill aborts the node's unfinished tasks in id order.

use std::pin::Pin;

use super::{Core, HINTS_FROM, State};
use crate::task::ErasedTask;

/// A node of the run.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    paused: bool,
    /// Tasks held while the node is paused, in the order they became ready.
    held: Vec<u32>,
}

impl NodeState {
    pub(crate) fn none() -> NodeState {
        NodeState {
            name: String::new(),
            paused: false,
            held: Vec::new(),
        }
    }
}

impl Core {
    /// Registers a node named `name`; returns its number (1, 2, … in creation order).
    pub(crate) fn add_node(&mut self, name: &str) -> u32 {
        let node = u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes");
        self.nodes.push(NodeState {
            name: name.to_owned(),
            paused: false,
            held: Vec::new(),
        });
        node
    }

    /// The node of the running task (0 when none runs or it is on no node).
    pub(crate) fn current_node(&self) -> u32 {
        self.current.map_or(0, |i| self.slots[i as usize].node)
    }

    pub(crate) fn node_name(&self, node: u32) -> &str {
        &self.nodes[node as usize].name
    }

    /// A task's display name on `node`: "node/name", or "node" when unnamed.
    pub(super) fn node_label(&self, node: u32, name: Option<&str>) -> String {
        let node = &self.nodes[node as usize].name;
        match name {
            Some(name) => format!("{node}/{name}"),
            None => node.clone(),
        }
    }

    /// Puts task `index` in the ready set, or holds it if its node is paused.
    #[inline(always)]
    pub(super) fn make_ready(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let node = slot.node as usize;
        if self.nodes[node].paused {
            slot.state = State::Held;
            self.nodes[node].held.push(index);
            return;
        }
        slot.state = State::Ready;
        let task = slot.id;
        if self.ready.len() >= HINTS_FROM {
            // The future never moves (it is pinned): its address is a good hint for as
            // long as the task is ready.
            let future = slot
                .cell
                .as_ref()
                .map_or(0, |cell| (&raw const **cell).addr());
            self.ready.push_with(index, future);
        } else {
            self.ready.push(index);
        }
        if self.track_ready {
            self.chooser.on_ready(task);
        }
    }

    /// Takes task `index` off its node's held list (it is being aborted).
    pub(super) fn unhold(&mut self, index: u32) {
        let node = self.slots[index as usize].node as usize;
        self.nodes[node].held.retain(|&i| i != index);
    }

    pub(crate) fn set_paused(&mut self, node: u32, paused: bool) {
        assert!(node != 0, "only a node can be paused");
        let state = &mut self.nodes[node as usize];
        if state.paused == paused {
            return;
        }
        state.paused = paused;
        if paused {
            // Its ready tasks leave the ready set, in their order.
            let ready: Vec<u32> = self
                .ready
                .iter()
                .filter(|&i| self.slots[i as usize].node == node)
                .collect();
            for index in ready {
                self.ready.remove(index);
                let slot = &mut self.slots[index as usize];
                slot.state = State::Held;
                if self.track_ready {
                    self.chooser.on_unready(slot.id);
                }
                self.nodes[node as usize].held.push(index);
            }
        } else {
            let state = &mut self.nodes[node as usize];
            for index in std::mem::take(&mut state.held) {
                self.make_ready(index);
            }
        }
    }

    pub(crate) fn is_paused(&self, node: u32) -> bool {
        self.nodes[node as usize].paused
    }

    /// Aborts every unfinished task of `node`, in id order; returns the futures to drop
    /// (outside the borrow, each as its task) with their slots.
    pub(crate) fn kill_node(&mut self, node: u32) -> Vec<(u32, Pin<Box<dyn ErasedTask>>)> {
        assert!(node != 0, "only a node can be killed");
        let mut tasks: Vec<(crate::task::Id, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.node == node
                    && matches!(
                        s.state,
                        State::Spawned
                            | State::Ready
                            | State::Parked
                            | State::Held
                            | State::Running
                    )
            })
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        tasks.sort_unstable();
        let mut futures = Vec::new();
        for (_, index) in tasks {
            if let Some(future) = self.abort_index(index) {
                futures.push((index, future));
            }
        }
        futures
    }

    /// Whether `node` has an unfinished task other than a running one.
    pub(crate) fn node_has_tasks(&self, node: u32) -> bool {
        self.slots.iter().any(|s| {
            s.node == node
                && matches!(
                    s.state,
                    State::Spawned | State::Ready | State::Parked | State::Held
                )
        })
    }

    /// Records a trace note by the running task.
    pub(crate) fn note(&mut self, text: impl FnOnce() -> String) {
        if self.record_trace {
            let task = self.current_task().unwrap_or(crate::task::Id::ROOT);
            self.record(crate::trace::EventKind::Note { task, text: text() });
        }
    }
}

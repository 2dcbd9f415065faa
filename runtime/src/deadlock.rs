//! The deadlock message: each blocked task and where it waits, then the wait-for
//! graph's cycles.
//!
//! The graph's edges: a task awaiting a `JoinHandle` waits for that task; a task
//! waiting on a lock or semaphore of [`crate::sync`] waits for every task that holds
//! it (its [`ResourceInfo`], read when the run stalled). A cycle is named once, from
//! its lowest task id; one through a lock says, edge by edge, what each task holds
//! (acquired where) and what it waits for (where).
//!
//! Invariants: the message depends only on the run (ids, names, `&'static` locations,
//! registry indices in order of first wait), so a replay prints the same text.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::panic::Location;

use crate::outcome::TaskInfo;
use crate::sync::{HolderInfo, ResourceInfo};
use crate::task::Id;
use crate::wait::Position;

/// One edge of the wait-for graph, out of a blocked task.
#[derive(Debug, Clone, Copy)]
enum Edge {
    /// Awaits the target's `JoinHandle`.
    Join(Id),
    /// Waits on `resource`, whose holder number `holder` is the target.
    Lock { resource: u32, holder: usize },
}

struct Graph<'a> {
    blocked: &'a [TaskInfo],
    resources: &'a [ResourceInfo],
}

/// The deadlock message for these blocked tasks and the run's registered locks.
pub(crate) fn deadlock_message(blocked: &[TaskInfo], resources: &[ResourceInfo]) -> String {
    let graph = Graph { blocked, resources };
    let mut message = "deadlock: no task is ready and no timer is armed; blocked:".to_owned();
    for task in blocked {
        message.push_str("\n  ");
        message.push_str(&graph.task_line(task));
    }
    for cycle in graph.cycles() {
        graph.push_cycle(&mut message, &cycle);
    }
    message
}

impl Graph<'_> {
    fn label(&self, id: Id) -> String {
        self.blocked
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| id.to_string(), TaskInfo::label)
    }

    fn holder_label(&self, holder: &HolderInfo) -> String {
        match holder.task {
            Some(id) => self.label(id),
            None => "code outside the simulation's tasks".to_owned(),
        }
    }

    fn position(&self, id: Id) -> Option<&Position> {
        self.blocked
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.position.as_deref())
    }

    /// `t1 alice (spawned at …) holds … and waits …`.
    fn task_line(&self, task: &TaskInfo) -> String {
        let mut line = task.to_string();
        let holds: Vec<String> = self
            .resources
            .iter()
            .flat_map(|r| r.holders.iter().map(move |h| (r, h)))
            .filter(|(_, h)| h.task == Some(task.id))
            .map(|(r, h)| {
                format!(
                    "{} created at {} (acquired at {})",
                    held(r, h),
                    r.created_at,
                    h.acquired_at
                )
            })
            .collect();
        if !holds.is_empty() {
            let _ = write!(line, " holds {};", holds.join(", "));
        }
        let Some(position) = task.position.as_deref() else {
            return line;
        };
        let resource = position
            .resource()
            .and_then(|r| self.resources.get(r as usize));
        match (position, position.joins(), resource) {
            (Position::At(site), Some(target), _) => {
                let _ = write!(
                    line,
                    " waits on a JoinHandle of {} ({})",
                    self.label(target),
                    site.location
                );
            }
            (Position::At(site), None, Some(resource)) => {
                let _ = write!(
                    line,
                    " waits {site} for {resource}, {}",
                    self.holders_text(resource)
                );
            }
            (Position::At(site), None, None) => {
                let _ = write!(line, " waits {site}");
            }
            (position, ..) => {
                let _ = write!(line, " {position}");
            }
        }
        line
    }

    /// `held by t2 bob (acquired at …)`, or who else.
    fn holders_text(&self, resource: &ResourceInfo) -> String {
        if resource.holders.is_empty() {
            return match resource.kind {
                "mpsc channel" => "which is full: its messages wait for the receiver".to_owned(),
                _ => "which no task holds".to_owned(),
            };
        }
        let holders: Vec<String> = resource
            .holders
            .iter()
            .map(|h| {
                let what = match (h.mode, h.permits) {
                    (Some(mode), _) => format!(" for {mode}ing"),
                    (None, n) if is_permits(resource.kind) && n != 1 => {
                        format!(" ({n} permits)")
                    }
                    _ => String::new(),
                };
                format!(
                    "{}{what} (acquired at {})",
                    self.holder_label(h),
                    h.acquired_at
                )
            })
            .collect();
        format!("held by {}", holders.join(", "))
    }

    /// The edges out of task `id`.
    fn edges(&self, id: Id) -> Vec<(Edge, Id)> {
        let Some(position) = self.position(id) else {
            return Vec::new();
        };
        if let Some(target) = position.joins() {
            return vec![(Edge::Join(target), target)];
        }
        let Some(resource) = position.resource() else {
            return Vec::new();
        };
        let Some(info) = self.resources.get(resource as usize) else {
            return Vec::new();
        };
        info.holders
            .iter()
            .enumerate()
            .filter_map(|(holder, h)| Some((Edge::Lock { resource, holder }, h.task?)))
            .collect()
    }

    /// The cycles, each as its edges from its lowest id, in order of that id; one per
    /// set of tasks.
    fn cycles(&self) -> Vec<Vec<(Id, Edge)>> {
        let mut cycles = Vec::new();
        let mut seen: BTreeSet<Vec<Id>> = BTreeSet::new();
        for start in self.blocked.iter().map(|t| t.id) {
            let mut visited = BTreeSet::new();
            let mut path = Vec::new();
            if self.search(start, start, &mut visited, &mut path) {
                let mut members: Vec<Id> = path.iter().map(|&(id, _)| id).collect();
                members.sort();
                if seen.insert(members) {
                    cycles.push(path);
                }
            }
        }
        cycles
    }

    /// Depth-first search for a path from `at` back to `start` through tasks with
    /// higher ids than `start`; `path` holds its edges when found.
    fn search(
        &self,
        start: Id,
        at: Id,
        visited: &mut BTreeSet<Id>,
        path: &mut Vec<(Id, Edge)>,
    ) -> bool {
        for (edge, target) in self.edges(at) {
            path.push((at, edge));
            if target == start {
                return true;
            }
            if target > start
                && self.position(target).is_some()
                && visited.insert(target)
                && self.search(start, target, visited, path)
            {
                return true;
            }
            path.pop();
        }
        false
    }

    fn push_cycle(&self, message: &mut String, cycle: &[(Id, Edge)]) {
        let names: Vec<String> = cycle.iter().map(|&(id, _)| self.label(id)).collect();
        let _ = write!(
            message,
            "\nwait-for cycle: {} -> {}",
            names.join(" -> "),
            names[0]
        );
        if cycle.iter().all(|(_, edge)| matches!(edge, Edge::Join(_))) {
            return;
        }
        let _ = write!(message, " (a cycle of {})", cycle.len());
        for (i, &(id, edge)) in cycle.iter().enumerate() {
            // What this task holds: what the previous task of the cycle waits for.
            let (_, previous) = cycle[(i + cycle.len() - 1) % cycle.len()];
            let _ = write!(message, "\n  {}", self.label(id));
            if let Edge::Lock { resource, holder } = previous {
                let r = &self.resources[resource as usize];
                let h = &r.holders[holder];
                let _ = write!(
                    message,
                    " holds {} acquired at {} and",
                    held(r, h),
                    h.acquired_at
                );
            }
            let at = self.wait_location(id);
            match edge {
                Edge::Join(target) => {
                    let _ = write!(
                        message,
                        " waits at {at} on a JoinHandle of {}",
                        self.label(target)
                    );
                }
                Edge::Lock { resource, holder } => {
                    let r = &self.resources[resource as usize];
                    let h = &r.holders[holder];
                    let _ = write!(
                        message,
                        " waits at {at} for {} held by {} (acquired at {})",
                        held(r, h),
                        self.holder_label(h),
                        h.acquired_at
                    );
                }
            }
        }
    }

    fn wait_location(&self, id: Id) -> &'static Location<'static> {
        self.position(id)
            .and_then(Position::site)
            .map(|site| site.location)
            .expect("a task in a cycle waits at a known site")
    }
}

/// Whether a holder of `kind` holds permits (a semaphore, a bounded channel's capacity).
fn is_permits(kind: &str) -> bool {
    matches!(kind, "Semaphore" | "mpsc channel")
}

/// `the Mutex`, `the RwLock (write)`, `2 permits of the Semaphore`, `a permit of the
/// mpsc channel`.
fn held(resource: &ResourceInfo, holder: &HolderInfo) -> String {
    match (resource.kind, holder.mode, holder.permits) {
        (kind, Some(mode), _) => format!("the {kind} ({mode})"),
        (kind, None, 1) if is_permits(kind) => format!("a permit of the {kind}"),
        (kind, None, n) if is_permits(kind) => format!("{n} permits of the {kind}"),
        (kind, None, _) => format!("the {kind}"),
    }
}

//! The nemesis: the task that injects a plan's partitions, clogs, kills and pauses,
//! one step at a time, and undoes them later, until the fault phase ends.
//!
//! Every step, each fault kind with a rate above zero is one [`chance`] decision;
//! which hosts or nodes it hits and how long it lasts are further fault decisions. At
//! the plan's horizon (or at [`stop_faults`](super::stop_faults)) the nemesis ends the
//! fault phase and returns.

use std::time::Duration;

use detsim_runtime::choice::{DecisionKind, decide};
use detsim_runtime::{node as rt_node, time};

use crate::world::{HostId, World, chance, with_world};

/// Something the nemesis undoes later.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Undo {
    Heal(HostId, HostId),
    Restart(usize),
}

/// What a step asks the nemesis to do outside the world's borrow.
enum Act {
    Kill(usize),
    Restart(usize),
    Pause(usize, Duration),
    Stop,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn pick<T: Copy>(options: &[T]) -> T {
    options[decide(DecisionKind::Fault, options.len())]
}

impl World {
    /// One step of the nemesis: undo what is due, then maybe inject new faults, each
    /// fault kind in a fixed order (partition, clog, kill, pause) so that a seed's
    /// decisions keep their meaning.
    fn nemesis_step(&mut self) -> Vec<Act> {
        let Some(plan) = self.cluster.plan else {
            return vec![Act::Stop];
        };
        let now = self.now_nanos();
        if !self.faults_on || now >= nanos(plan.horizon) {
            return vec![Act::Stop];
        }
        let mut acts = self.undo_due(now);
        let hosts = self.hosts.len();
        if hosts >= 2 && chance(plan.partition) {
            self.inject_partition(now);
        }
        if hosts >= 2 && chance(plan.clog) {
            self.inject_clog(now, plan.clog_for);
        }
        let alive: Vec<usize> = (0..self.cluster.nodes.len())
            .filter(|&i| self.cluster.nodes[i].alive)
            .collect();
        if !alive.is_empty() && chance(plan.kill) {
            let index = alive[decide(DecisionKind::Fault, alive.len())];
            let secs = pick(&[1u64, 5, 15]);
            self.cluster
                .undo
                .push((now + nanos(Duration::from_secs(secs)), Undo::Restart(index)));
            acts.push(Act::Kill(index));
        }
        if !alive.is_empty() && chance(plan.pause) {
            let index = alive[decide(DecisionKind::Fault, alive.len())];
            let d = pick(&[Duration::from_millis(500), Duration::from_secs(3)]);
            acts.push(Act::Pause(index, d));
        }
        acts
    }

    /// Undoes what is due by `now`: heals at once, and returns the restarts to do.
    fn undo_due(&mut self, now: u64) -> Vec<Act> {
        let mut acts = Vec::new();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cluster.undo)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.cluster.undo = later;
        for (_, undo) in due {
            match undo {
                Undo::Heal(a, b) => {
                    self.note_fault(|| {
                        format!(
                            "nemesis: heal {} → {}",
                            self.host_name(a),
                            self.host_name(b)
                        )
                    });
                    self.heal(a, b);
                }
                Undo::Restart(index) => acts.push(Act::Restart(index)),
            }
        }
        acts
    }

    /// Two distinct hosts, `a` then `b`: two fault decisions.
    fn pick_link(&self) -> (HostId, HostId) {
        let hosts = self.hosts.len();
        let a = decide(DecisionKind::Fault, hosts);
        let b = (a + 1 + decide(DecisionKind::Fault, hosts - 1)) % hosts;
        (HostId(a as u32), HostId(b as u32))
    }

    /// Partitions a link, one way or both, for a while (its heal is queued).
    fn inject_partition(&mut self, now: u64) {
        let (a, b) = self.pick_link();
        let oneway = decide(DecisionKind::Fault, 2) == 1;
        let secs = pick(&[1u64, 5, 20, 45]);
        let until = now + nanos(Duration::from_secs(secs));
        self.note_fault(|| {
            let arrow = if oneway { "→" } else { "|" };
            format!(
                "nemesis: partition {} {arrow} {} for {secs}s",
                self.host_name(a),
                self.host_name(b)
            )
        });
        self.partition(a, b);
        self.cluster.undo.push((until, Undo::Heal(a, b)));
        if !oneway {
            self.partition(b, a);
            self.cluster.undo.push((until, Undo::Heal(b, a)));
        }
    }

    /// Clogs a link for `clog_for`.
    fn inject_clog(&mut self, now: u64, clog_for: Duration) {
        let (a, b) = self.pick_link();
        self.note_fault(|| {
            format!(
                "nemesis: clog {} → {} for {clog_for:?}",
                self.host_name(a),
                self.host_name(b),
            )
        });
        self.clog(a, b, now + nanos(clog_for));
    }

    fn host_name(&self, host: HostId) -> &str {
        &self.hosts[host.0 as usize].name
    }
}

/// The nemesis task.
pub(crate) async fn run() {
    loop {
        let step = with_world("detsim::cluster nemesis", |w| {
            w.cluster.plan.map_or(Duration::from_secs(1), |p| p.step)
        });
        time::sleep(step).await;
        let acts = with_world("detsim::cluster nemesis", World::nemesis_step);
        for act in acts {
            match act {
                Act::Kill(index) => super::kill_index(index),
                Act::Restart(index) => super::restart_index(index),
                Act::Pause(index, d) => super::pause_index(index, d),
                Act::Stop => {
                    let on = with_world("detsim::cluster nemesis", |w| w.faults_on);
                    if on {
                        rt_node::note(|| "nemesis: the plan's horizon is reached".to_owned());
                        super::stop_faults();
                    }
                    return;
                }
            }
        }
    }
}

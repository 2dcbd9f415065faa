//! A simulated cluster: nodes (hosts with their own address whose tasks can be
//! killed, restarted and paused), partitions and clogs of the links between them,
//! fault plans drawn per seed, `buggify!`, and liveness checks.
//!
//! # Nodes
//! [`node`]`(name, init)` starts a node: a host named `name` (which resolves, so
//! `TcpStream::connect("db:5432")` works) with the next address of `10.0.0.0/8`
//! (`10.0.0.2`, `10.0.0.3`, …) and its own loopback, whose tasks are `init()` and
//! everything they spawn. The test body runs on no node: on the default host `main`
//! (`10.0.0.1`), whose tasks are never killed or paused.
//!
//! - [`Node::kill`]: packets in flight to the node are lost, and every task of it is
//!   dropped (in id order, with the node current, so destructors may close sockets:
//!   its streams send EOF — or a reset, with unread data — as a crashed process's
//!   do). What survives is the node's simulated disk ([`crate::fs`]), with what the
//!   crash left of its unsynced changes, and what the test keeps outside the node
//!   (an `Rc<RefCell<…>>` moved into `init`, which gets it again on every restart).
//! - [`Node::restart`]: runs `init()` again as a new incarnation, same name and address.
//! - [`Node::pause`]: its tasks are not polled for a while; its timers fire on time but
//!   their tasks run only when it resumes. Peers see silence.
//!
//! # Faults
//! Links between hosts have a latency distribution and, under a [`Plan`], datagram
//! loss, duplication and reordering; [`partition`], [`partition_oneway`], [`heal`],
//! [`heal_all`] and [`clog`] act on them. TCP stays reliable and ordered: a partition
//! holds its packets and heal delivers them; one held longer than [`TCP_TIMEOUT`]
//! (30 s) resets the connection. Under a plan the *nemesis* (a task named `nemesis`)
//! partitions, clogs, kills and pauses at random steps until the fault phase ends
//! ([`stop_faults`] or the plan's horizon). Every fault is a recorded decision.
//!
//! # Liveness
//! [`liveness`]`(what, within, condition)` ends the fault phase (heals every link,
//! restarts what is down, resumes what is paused, stops injecting) and then requires
//! `condition` to complete within `within` of simulated time; if it does not, the run
//! fails with "liveness: {what} did not hold within {within} after faults stopped".

mod buggify;
mod faults;
mod nemesis;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

pub use detsim_runtime::LivenessFailure;
use detsim_runtime::node::{self as rt_node, NodeId};
use detsim_runtime::time;

use crate::world::{HostId, World, with_world};
pub use crate::world::{LinkFaults, TCP_TIMEOUT};
pub use buggify::buggify_at;
pub use faults::{DiskFaults, Faults, Plan};

type Init = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// What the cluster keeps for a node.
struct NodeEntry {
    name: String,
    host: HostId,
    rt: NodeId,
    init: Init,
    alive: bool,
    incarnation: u32,
    pause_generation: u64,
}

/// The cluster's part of the run's network.
#[derive(Default)]
pub(crate) struct ClusterState {
    nodes: Vec<NodeEntry>,
    /// Whether the run's plan has been settled (drawn, set or none).
    plan_settled: bool,
    pub(crate) plan: Option<Plan>,
    /// Whether the plan is a swarm draw: its disk faults are drawn on first disk use.
    pub(crate) plan_swarm: bool,
    nemesis_started: bool,
    /// `buggify!` sites reached in this run, and whether each is enabled.
    pub(crate) buggify_sites: BTreeMap<&'static str, bool>,
    /// What the nemesis undoes later: (when, what).
    undo: Vec<(u64, nemesis::Undo)>,
}

impl std::fmt::Debug for ClusterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterState")
            .field("nodes", &self.nodes.len())
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Settles the run's fault plan on first need: when a node is created, or (with
    /// faults set explicitly) when `buggify!` is first reached.
    pub(crate) fn settle_plan(&mut self, creating_node: bool) {
        if self.cluster.plan_settled || !(creating_node || faults::explicit_mode()) {
            return;
        }
        self.cluster.plan_settled = true;
        let (plan, swarm) = faults::plan_for_run(creating_node);
        self.cluster.plan = plan;
        self.cluster.plan_swarm = swarm;
        if let Some(plan) = plan {
            self.plan_faults = Some(LinkFaults {
                latency: plan.latency,
                loss: plan.loss,
                duplicate: plan.duplicate,
                reorder: plan.reorder,
            });
            self.faults_on = true;
            self.note_fault(|| format!("fault plan: {plan}"));
        }
    }
}

/// A node of the cluster: a handle to name, address and fate. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    epoch: u64,
    index: usize,
    host: HostId,
    name: String,
}

/// Starts a node named `name` whose tasks are `init()` and what it spawns (see the
/// [module docs](self)). `init` runs again on every [`Node::restart`]. Panics outside
/// a simulation, or if the name is taken.
#[track_caller]
pub fn node<F, Fut>(name: &str, init: F) -> Node
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let init: Init = Rc::new(move || Box::pin(init()));
    assert!(
        detsim_runtime::in_simulation(),
        "`detsim::cluster::node` was called outside a detsim simulation"
    );
    let rt = rt_node::create(name);
    let (node, start_nemesis) = with_world("detsim::cluster::node", |world| {
        assert!(
            world.hosts.iter().all(|h| h.name != name) && name != "localhost",
            "detsim::cluster::node: a host named {name:?} exists already"
        );
        world.settle_plan(true);
        let host = world.add_host(name, rt.as_u32());
        let index = world.cluster.nodes.len();
        world.cluster.nodes.push(NodeEntry {
            name: name.to_owned(),
            host,
            rt,
            init: init.clone(),
            alive: true,
            incarnation: 1,
            pause_generation: 0,
        });
        let start_nemesis =
            !world.cluster.nemesis_started && world.cluster.plan.is_some_and(|p| p.needs_nemesis());
        world.cluster.nemesis_started |= start_nemesis;
        let node = Node {
            epoch: world.epoch,
            index,
            host,
            name: name.to_owned(),
        };
        (node, start_nemesis)
    });
    let ip = node.ip();
    rt_node::note(|| format!("start node {name} ({ip})"));
    rt_node::spawn_on(rt, Some("init".to_owned()), init());
    if start_nemesis {
        rt_node::spawn_on(NodeId::NONE, Some("nemesis".to_owned()), nemesis::run());
    }
    node
}

impl Node {
    fn with<R>(&self, what: &str, f: impl FnOnce(&mut World) -> R) -> R {
        with_world(what, |world| {
            assert!(
                world.epoch == self.epoch,
                "`{what}`: this Node belongs to another run of the simulation"
            );
            f(world)
        })
    }

    /// Spawns `future` as a task of this node (killed with it; see [`detsim_runtime::spawn`]).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> detsim_runtime::JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let rt = self.with("detsim::cluster::Node::spawn", |w| {
            w.cluster.nodes[self.index].rt
        });
        rt_node::spawn_on(rt, None, future)
    }

    /// The node's name (also its host name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's address.
    pub fn ip(&self) -> IpAddr {
        self.with("detsim::cluster::Node::ip", |w| {
            w.hosts[self.host.0 as usize].ips[0]
        })
    }

    /// Whether the node is up (not killed, or restarted since).
    pub fn is_alive(&self) -> bool {
        self.with("detsim::cluster::Node::is_alive", |w| {
            w.cluster.nodes[self.index].alive
        })
    }

    /// Kills the node: what is in flight to it is lost and all its tasks are dropped.
    /// Does nothing if it is down already.
    pub fn kill(&self) {
        kill_index(self.index);
    }

    /// Starts the node again (killing it first if it is up): `init()` runs as a new
    /// incarnation with the same name and address.
    pub fn restart(&self) {
        if self.is_alive() {
            self.kill();
        }
        restart_index(self.index);
    }

    /// Pauses the node for `d` of simulated time: its tasks are not polled (its
    /// timers fire, but their tasks wait for the resume). Peers see silence.
    pub fn pause(&self, d: Duration) {
        pause_index(self.index, d);
    }

    /// Resumes a paused node at once.
    pub fn resume(&self) {
        let rt = self.with("detsim::cluster::Node::resume", |w| {
            w.cluster.nodes[self.index].rt
        });
        if rt_node::is_paused(rt) {
            rt_node::note(|| format!("resume {}", self.name));
            rt_node::resume(rt);
        }
    }
}

pub(crate) fn kill_index(index: usize) {
    let killed = with_world("detsim::cluster::Node::kill", |w| {
        let entry = &mut w.cluster.nodes[index];
        if !entry.alive {
            return None;
        }
        entry.alive = false;
        let (rt, host, name) = (entry.rt, entry.host, entry.name.clone());
        w.kill_host(host);
        Some((rt, name))
    });
    if let Some((rt, name)) = killed {
        rt_node::note(|| format!("kill {name}"));
        if rt_node::is_paused(rt) {
            rt_node::resume(rt);
        }
        rt_node::kill(rt);
        crate::fs::crash(rt, &name);
    }
}

pub(crate) fn restart_index(index: usize) {
    let started = with_world("detsim::cluster::Node::restart", |w| {
        let entry = &mut w.cluster.nodes[index];
        if entry.alive {
            return None;
        }
        entry.alive = true;
        entry.incarnation += 1;
        let (rt, host, init, name, n) = (
            entry.rt,
            entry.host,
            entry.init.clone(),
            entry.name.clone(),
            entry.incarnation,
        );
        w.hosts[host.0 as usize].alive = true;
        Some((rt, init, name, n))
    });
    if let Some((rt, init, name, n)) = started {
        rt_node::note(|| format!("restart {name} (incarnation {n})"));
        rt_node::spawn_on(rt, Some("init".to_owned()), init());
    }
}

pub(crate) fn pause_index(index: usize, d: Duration) {
    let (rt, name, generation) = with_world("detsim::cluster::Node::pause", |w| {
        let entry = &mut w.cluster.nodes[index];
        entry.pause_generation += 1;
        (entry.rt, entry.name.clone(), entry.pause_generation)
    });
    rt_node::note(|| format!("pause {name} for {d:?}"));
    rt_node::pause(rt);
    rt_node::spawn_on(NodeId::NONE, Some(format!("resume {name}")), async move {
        time::sleep(d).await;
        let current = with_world("detsim::cluster::Node::pause", |w| {
            w.cluster.nodes[index].pause_generation
        });
        if current == generation && rt_node::is_paused(rt) {
            rt_node::note(|| format!("resume {name}"));
            rt_node::resume(rt);
        }
    });
}

/// The hosts of two distinct nodes; panics, naming `what`, if they are one node (a
/// node's link to itself is loopback, which is never faulty).
#[track_caller]
fn hosts(what: &str, a: &Node, b: &Node) -> (HostId, HostId) {
    assert!(
        a.host != b.host,
        "`{what}` was given the node {:?} twice: it acts on the link between two \
         distinct nodes (a node's loopback is never faulty)",
        a.name
    );
    (a.host, b.host)
}

/// Partitions `a` and `b` both ways: datagrams between them vanish, TCP packets are
/// held (a connection held longer than [`TCP_TIMEOUT`] is reset). Panics if `a` and
/// `b` are the same node, as [`partition_oneway`], [`heal`], [`clog`] and
/// [`set_link`] do.
#[track_caller]
pub fn partition(a: &Node, b: &Node) {
    let (x, y) = hosts("detsim::cluster::partition", a, b);
    rt_node::note(|| format!("partition {} | {}", a.name, b.name));
    with_world("detsim::cluster::partition", |w| {
        w.partition(x, y);
        w.partition(y, x);
    });
}

/// Partitions the direction `from → to` only.
#[track_caller]
pub fn partition_oneway(from: &Node, to: &Node) {
    let (x, y) = hosts("detsim::cluster::partition_oneway", from, to);
    rt_node::note(|| format!("partition {} → {}", from.name, to.name));
    with_world("detsim::cluster::partition_oneway", |w| w.partition(x, y));
}

/// Heals both directions between `a` and `b`; held TCP packets are delivered.
#[track_caller]
pub fn heal(a: &Node, b: &Node) {
    let (x, y) = hosts("detsim::cluster::heal", a, b);
    rt_node::note(|| format!("heal {} | {}", a.name, b.name));
    with_world("detsim::cluster::heal", |w| {
        w.heal(x, y);
        w.heal(y, x);
    });
}

/// Heals every link and ends every clog.
pub fn heal_all() {
    rt_node::note(|| "heal all".to_owned());
    with_world("detsim::cluster::heal_all", World::heal_all);
}

/// Clogs `from → to` for `d`: what is sent meanwhile is held, then delivered in order.
#[track_caller]
pub fn clog(from: &Node, to: &Node, d: Duration) {
    let (x, y) = hosts("detsim::cluster::clog", from, to);
    rt_node::note(|| format!("clog {} → {} for {d:?}", from.name, to.name));
    with_world("detsim::cluster::clog", |w| {
        let until = w
            .now_nanos()
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        w.clog(x, y, until);
    });
}

/// Sets the latency and datagram faults of `from → to` (over the run's plan).
/// Panics if `faults` is out of range (a rate outside `0.0..=1.0` or NaN, a latency
/// range whose start is past its end).
#[track_caller]
pub fn set_link(from: &Node, to: &Node, faults: LinkFaults) {
    if let Err(e) = faults::validate_link(
        faults.latency,
        faults.loss,
        faults.duplicate,
        faults.reorder,
    ) {
        panic!("detsim::cluster::set_link: {e}");
    }
    let (x, y) = hosts("detsim::cluster::set_link", from, to);
    with_world("detsim::cluster::set_link", |w| {
        w.link_mut(x, y).faults = Some(faults);
        w.faults_on = true;
    });
}

/// Ends the fault phase: no more faults are injected, every link heals, nodes that
/// are down restart and paused nodes resume.
pub fn stop_faults() {
    let (down, paused) = with_world("detsim::cluster::stop_faults", |w| {
        w.faults_on = false;
        w.plan_faults = w.plan_faults.map(|f| LinkFaults {
            latency: f.latency,
            ..LinkFaults::HEALTHY
        });
        for link in w.links.values_mut() {
            link.faults = link.faults.map(|f| LinkFaults {
                latency: f.latency,
                ..LinkFaults::HEALTHY
            });
        }
        w.cluster.undo.clear();
        w.heal_all();
        let down: Vec<usize> = (0..w.cluster.nodes.len())
            .filter(|&i| !w.cluster.nodes[i].alive)
            .collect();
        let paused: Vec<NodeId> = w.cluster.nodes.iter().map(|n| n.rt).collect();
        (down, paused)
    });
    rt_node::note(|| "faults stopped: links healed, nodes back".to_owned());
    for rt in paused {
        if rt_node::is_paused(rt) {
            rt_node::resume(rt);
        }
    }
    for index in down {
        restart_index(index);
    }
}

/// Ends the fault phase ([`stop_faults`]) and requires `condition` to complete within
/// `within` of simulated time; returns its output. Otherwise the run fails with a
/// [`LivenessFailure`] panic: "liveness: {what} did not hold within {within:?} after
/// faults stopped", reported as `FailureKind::Liveness`.
pub async fn liveness<F: Future>(what: &str, within: Duration, condition: F) -> F::Output {
    stop_faults();
    match time::timeout(within, condition).await {
        Ok(output) => output,
        Err(_) => std::panic::panic_any(LivenessFailure {
            message: format!(
                "liveness: {what} did not hold within {within:?} after faults stopped"
            ),
        }),
    }
}

/// The disk faults of this run's plan, drawn now if the plan is a swarm draw that has
/// not drawn them yet (the first use of a disk in the run); [`DiskFaults::NONE`]
/// without a plan. Called once per run by `detsim::fs`.
pub(crate) fn disk_faults() -> DiskFaults {
    // A run without a network has no plan: do not create one.
    if detsim_runtime::extension::try_run_state::<crate::world::Net>().is_none() {
        return DiskFaults::NONE;
    }
    let swarm = with_world("detsim::fs", |w| {
        w.cluster.plan.map(|plan| (plan.disk, w.cluster.plan_swarm))
    });
    match swarm {
        None => DiskFaults::NONE,
        Some((disk, false)) => disk,
        Some((_, true)) => {
            let disk = DiskFaults::draw();
            let plan = with_world("detsim::fs", |w| {
                w.cluster.plan_swarm = false;
                if let Some(plan) = w.cluster.plan.as_mut() {
                    plan.disk = disk;
                }
                w.cluster.plan
            });
            if let Some(plan) = plan {
                faults::note_disk_faults(plan);
            }
            if !disk.is_quiet() {
                rt_node::note(|| format!("disk faults: {disk}"));
            }
            disk
        }
    }
}

/// Whether faults are injected now (the fault phase has not ended).
pub(crate) fn faults_on() -> bool {
    with_world("detsim::fs", |w| w.faults_on)
}

/// Shared state a test keeps outside its nodes (a node's "disk"): what survives a
/// kill. A plain `Rc<RefCell<T>>`, named for what it is for.
pub type Disk<T> = Rc<RefCell<T>>;

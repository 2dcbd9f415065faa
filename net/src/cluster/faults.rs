//! Fault plans: [`Faults`] (none, swarm, or an explicit [`Plan`]) and how a swarm plan
//! is drawn per seed.
//!
//! Swarm testing (Groce et al., ISSTA 2012; TigerBeetle's VOPR draws its fault mix per
//! seed the same way): rather than every seed facing every fault at a fixed rate, each
//! seed draws its own plan — which faults are on, and how often — so some seeds
//! explore heavy partitioning, others crashes, others a quiet network with buggify on.
//! Each parameter is one [`DecisionKind::Fault`] decision among a few options, option 0
//! being "no fault", so: the plan is part of the seed's recorded schedule (a token
//! replays it exactly), shrinking towards 0 removes faults, and under the FIFO
//! scheduler the plan is fault-free.

use std::fmt;
use std::time::Duration;

use detsim_runtime::choice::{DecisionKind, decide};
use detsim_runtime::extension;

/// What faults a run injects: [`Faults::none`], [`Faults::swarm`] (a plan drawn per
/// seed), or [`Faults::explicit`] (the same plan for every seed).
///
/// Unless the code or `DETSIM_FAULTS` says otherwise, a run that creates a cluster
/// node draws a swarm plan (the default), and any other run injects no fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults(FaultsKind);

#[derive(Debug, Clone, Copy, PartialEq)]
enum FaultsKind {
    None,
    Swarm,
    Explicit(Plan),
}

impl Faults {
    /// No faults: links are healthy, nodes are never killed, `buggify!` is false.
    pub fn none() -> Faults {
        Faults(FaultsKind::None)
    }

    /// A plan drawn per seed (swarm testing): each seed draws every parameter of a
    /// [`Plan`] with one fault decision, option 0 the quietest.
    pub fn swarm() -> Faults {
        Faults(FaultsKind::Swarm)
    }

    /// The same `plan` for every seed (paste the plan a failure report prints).
    ///
    /// Panics if the plan is out of range (see [`Plan::validate`]): a rate outside
    /// `0.0..=1.0` or NaN, a latency range whose start is past its end, or a zero
    /// `step` or `horizon`.
    #[track_caller]
    pub fn explicit(plan: Plan) -> Faults {
        if let Err(e) = plan.validate() {
            panic!("detsim::cluster::Faults::explicit: {e}");
        }
        Faults(FaultsKind::Explicit(plan))
    }

    /// Parses `DETSIM_FAULTS`'s forms: `none` or `swarm`.
    pub fn parse(text: &str) -> Option<Faults> {
        match text {
            "none" => Some(Faults::none()),
            "swarm" => Some(Faults::swarm()),
            _ => None,
        }
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            FaultsKind::None => f.write_str("none"),
            FaultsKind::Swarm => f.write_str("swarm"),
            FaultsKind::Explicit(plan) => write!(f, "{plan}"),
        }
    }
}

/// Faults of the simulated disks ([`crate::fs`]) under a [`Plan`]; option 0 of each
/// swarm decision is the quiet value ([`DiskFaults::NONE`]). Injected only during the
/// fault phase, on every host's disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskFaults {
    /// Probability that a read, a write (or `set_len`) or a sync fails with an I/O
    /// error. A failed write changes nothing; a failed sync of a file loses the writes
    /// it covered (reads see the last synced contents again, as after a failed
    /// `fsync` on Linux since 4.13) and the next sync may succeed; a failed sync of a
    /// directory leaves its changes unsynced.
    pub error: f64,
    /// A disk's capacity in bytes (all its files' lengths together): a write or
    /// `set_len` past it fails with `StorageFull` (ENOSPC). `None`: unlimited.
    pub capacity: Option<u64>,
    /// How long each operation of `detsim::fs` takes in simulated time: each `async
    /// fn` (an open, a sync, a whole-file read or write, an entry change), and each
    /// `poll_read`, `poll_write` and seek of a [`File`](crate::fs::File), which arms
    /// a timer and returns `Pending` first.
    pub latency: Duration,
}

impl DiskFaults {
    /// No disk fault, no latency.
    pub const NONE: DiskFaults = DiskFaults {
        error: 0.0,
        capacity: None,
        latency: Duration::ZERO,
    };

    /// Draws disk faults: one fault decision per parameter, option 0 the quietest.
    /// A swarm plan draws them when the run first uses a disk, so that runs without
    /// disks keep the schedules they had.
    pub(crate) fn draw() -> DiskFaults {
        fn pick<T: Copy>(options: &[T]) -> T {
            options[decide(DecisionKind::Fault, options.len())]
        }
        DiskFaults {
            error: pick(&[0.0, 0.01, 0.05]),
            capacity: pick(&[None, Some(1 << 20), Some(64 << 10)]),
            latency: pick(&[
                Duration::ZERO,
                Duration::from_micros(100),
                Duration::from_millis(5),
            ]),
        }
    }

    /// Whether any fault or latency is on.
    pub(crate) fn is_quiet(&self) -> bool {
        *self == DiskFaults::NONE
    }
}

impl Default for DiskFaults {
    fn default() -> DiskFaults {
        DiskFaults::NONE
    }
}

impl fmt::Display for DiskFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DiskFaults {{ error: {:?}, capacity: {:?}, latency: {} }}",
            self.error,
            self.capacity,
            duration(self.latency)
        )
    }
}

/// A fault plan: latency and fault rates of links between hosts, and how often the
/// nemesis (the run's fault injector) partitions, clogs, kills and pauses. Rates are
/// probabilities in steps of 1%. Its `Display` is Rust that builds it again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Each packet's one-way latency between two hosts is drawn uniformly from this
    /// range (loopback has its own fixed latency).
    pub latency: (Duration, Duration),
    /// Probability that a datagram between two hosts is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is delayed past later ones.
    pub reorder: f64,
    /// Per nemesis step, probability that a partition starts (symmetric or one-way).
    pub partition: f64,
    /// Per nemesis step, probability that a link is clogged for `clog_for`.
    pub clog: f64,
    /// How long a clog holds a link's traffic.
    pub clog_for: Duration,
    /// Per nemesis step, probability that a node is killed (and later restarted).
    pub kill: f64,
    /// Per nemesis step, probability that a node is paused for a while.
    pub pause: f64,
    /// Whether `buggify!` sites may fire.
    pub buggify: bool,
    /// How often the nemesis considers a fault.
    pub step: Duration,
    /// When the fault phase ends at the latest (simulated time from the start of the
    /// run): links heal, nodes come back, no more faults.
    pub horizon: Duration,
    /// Faults of the simulated disks (a swarm plan draws them when the run first uses
    /// a disk).
    pub disk: DiskFaults,
}

impl Plan {
    /// No fault at all, healthy latency.
    pub const NONE: Plan = Plan {
        latency: (Duration::from_micros(100), Duration::from_millis(1)),
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        partition: 0.0,
        clog: 0.0,
        clog_for: Duration::from_millis(100),
        kill: 0.0,
        pause: 0.0,
        buggify: false,
        step: Duration::from_secs(1),
        horizon: Duration::from_secs(60),
        disk: DiskFaults::NONE,
    };

    /// Checks that every field is in its allowed range: the rates (`loss`,
    /// `duplicate`, `reorder`, `partition`, `clog`, `kill`, `pause`) in `0.0..=1.0`
    /// (not NaN), `latency.0 <= latency.1`, and `step` and `horizon` above zero (a
    /// zero `step` would make the nemesis loop without time passing). The error
    /// names the field, its value and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        validate_link(self.latency, self.loss, self.duplicate, self.reorder)?;
        for (name, value) in [
            ("partition", self.partition),
            ("clog", self.clog),
            ("kill", self.kill),
            ("pause", self.pause),
        ] {
            validate_rate(name, value)?;
        }
        for (name, value, example) in [
            ("step", self.step, Plan::NONE.step),
            ("horizon", self.horizon, Plan::NONE.horizon),
        ] {
            if value.is_zero() {
                return Err(format!(
                    "`{name}` is {value:?}; it must be above zero (for example {example:?})"
                ));
            }
        }
        Ok(())
    }

    /// Whether the nemesis has anything to do.
    pub(crate) fn needs_nemesis(&self) -> bool {
        self.partition > 0.0 || self.clog > 0.0 || self.kill > 0.0 || self.pause > 0.0
    }

    /// Draws a plan: one fault decision per parameter, option 0 the quietest.
    pub(crate) fn draw() -> Plan {
        fn pick<T: Copy>(options: &[T]) -> T {
            options[decide(DecisionKind::Fault, options.len())]
        }
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        Plan {
            latency: pick(&[
                (us(100), ms(1)),
                (ms(1), ms(10)),
                (ms(5), ms(50)),
                (ms(1), ms(200)),
            ]),
            loss: pick(&[0.0, 0.01, 0.05, 0.2]),
            duplicate: pick(&[0.0, 0.01, 0.1]),
            reorder: pick(&[0.0, 0.05, 0.3]),
            partition: pick(&[0.0, 0.1, 0.3]),
            clog: pick(&[0.0, 0.1, 0.3]),
            clog_for: pick(&[ms(100), ms(1000), ms(5000)]),
            kill: pick(&[0.0, 0.05, 0.2]),
            pause: pick(&[0.0, 0.05, 0.2]),
            buggify: pick(&[false, true]),
            step: pick(&[ms(1000), ms(250)]),
            horizon: Duration::from_secs(60),
            disk: DiskFaults::NONE,
        }
    }
}

impl Default for Plan {
    fn default() -> Plan {
        Plan::NONE
    }
}

/// Checks a rate: a probability in `0.0..=1.0`, not NaN.
fn validate_rate(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {value:?}; it must be a probability in 0.0..=1.0"
        ))
    }
}

/// Checks a link's latency range and datagram rates (a [`Plan`]'s or a
/// [`LinkFaults`](crate::cluster::LinkFaults)').
pub(crate) fn validate_link(
    latency: (Duration, Duration),
    loss: f64,
    duplicate: f64,
    reorder: f64,
) -> Result<(), String> {
    if latency.0 > latency.1 {
        return Err(format!(
            "`latency` is ({:?}, {:?}); it must be a range (min, max) with min <= max",
            latency.0, latency.1
        ));
    }
    validate_rate("loss", loss)?;
    validate_rate("duplicate", duplicate)?;
    validate_rate("reorder", reorder)
}

fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("Duration::from_secs({})", d.as_secs())
    } else if d.as_nanos().is_multiple_of(1_000_000) {
        format!("Duration::from_millis({})", d.as_millis())
    } else {
        format!("Duration::from_micros({})", d.as_micros())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Faults::explicit(Plan {{ latency: ({}, {}), loss: {:?}, duplicate: {:?}, \
             reorder: {:?}, partition: {:?}, clog: {:?}, clog_for: {}, kill: {:?}, \
             pause: {:?}, buggify: {}, step: {}, horizon: {}, disk: {} }})",
            duration(self.latency.0),
            duration(self.latency.1),
            self.loss,
            self.duplicate,
            self.reorder,
            self.partition,
            self.clog,
            duration(self.clog_for),
            self.kill,
            self.pause,
            self.buggify,
            duration(self.step),
            duration(self.horizon),
            self.disk,
        )
    }
}

/// The plan for this run, given whether it is creating a node: the run's input (the
/// harness sets it with `Runtime::set_run_input::<Faults>`), or by default swarm for a
/// cluster and none otherwise. The plan is left as the run's output
/// (`Runtime::take_run_output::<Plan>`), for the failure report.
/// Also says whether the plan is a swarm draw (whose disk faults are drawn later).
pub(crate) fn plan_for_run(creating_node: bool) -> (Option<Plan>, bool) {
    let mode = extension::run_input::<Faults>();
    let (plan, swarm) = match mode.map(|f| f.0) {
        Some(FaultsKind::None) => (None, false),
        Some(FaultsKind::Swarm) => (Some(Plan::draw()), true),
        Some(FaultsKind::Explicit(plan)) => (Some(plan), false),
        None if creating_node => (Some(Plan::draw()), true),
        None => (None, false),
    };
    if let Some(plan) = plan {
        extension::set_run_output(plan);
    }
    (plan, swarm)
}

/// Records the plan again once a swarm plan drew its disk faults late, as the run's
/// output for the failure report.
pub(crate) fn note_disk_faults(plan: Plan) {
    extension::set_run_output(plan);
}

/// Whether the run's faults ask for faults even in runs without nodes.
pub(crate) fn explicit_mode() -> bool {
    matches!(
        extension::run_input::<Faults>().map(|f| f.0),
        Some(FaultsKind::Swarm | FaultsKind::Explicit(_))
    )
}

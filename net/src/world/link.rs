//! Links between hosts: latency, faults (loss, duplication, reordering), partitions
//! and clogs, applied to each packet as it is sent.
//!
//! Invariants:
//! - loopback (a host to itself) is never faulty: a fixed latency per run, no loss;
//! - TCP stays reliable and ordered: a TCP packet is never lost, duplicated or
//!   reordered; a partition holds it (loss shows up as delay) and heal re-sends what
//!   it held, in order; a packet held longer than [`TCP_TIMEOUT`] resets its
//!   connection;
//! - a channel's packets are delivered in the order they were sent unless a
//!   reordering fault is decided for a datagram;
//! - every fault is a [`DecisionKind::Fault`] decision (see [`chance`]) made only when
//!   its rate is above zero and faults are on, so a run without faults records none.

use std::time::Duration;

use detsim_runtime::choice::{DecisionKind, decide, uniform_index};

use super::{Channel, HostId, Packet, Payload, World};

/// How long a partition may hold a TCP connection's packets before the connection is
/// reset (connect: `TimedOut`; an established stream: `ConnectionReset` on both
/// sides). Real stacks give up after minutes of retransmissions; 30 s of simulated
/// time keeps tests short while staying above common application timeouts.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(30);

/// The faults and latency of a link (one direction between two hosts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// Latency: each packet's one-way delay is drawn uniformly from this range.
    pub latency: (Duration, Duration),
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is delayed past the ones sent after it.
    pub reorder: f64,
}

impl LinkFaults {
    /// A healthy link: 100 µs to 1 ms of latency, no loss, duplication or reordering.
    pub const HEALTHY: LinkFaults = LinkFaults {
        latency: (Duration::from_micros(100), Duration::from_millis(1)),
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
    };
}

/// One direction between two hosts.
#[derive(Debug, Default)]
pub(crate) struct Link {
    pub(crate) partitioned: bool,
    /// Packets sent before this time (ns) are held until it.
    pub(crate) clogged_until: u64,
    /// Faults set for this link alone, over the run's plan.
    pub(crate) faults: Option<LinkFaults>,
    /// TCP packets held by a partition: (when, packet).
    pub(crate) stalled: Vec<(u64, Packet)>,
}

/// Whether a fault of probability `p` happens: a [`DecisionKind::Fault`] decision
/// among 100 options, the top `round(100·p)` of which are the fault (option 0, the
/// default, is always "no fault", so shrinking towards 0 removes faults).
pub(crate) fn chance(p: f64) -> bool {
    let k = (p.clamp(0.0, 1.0) * 100.0).round() as usize;
    if k == 0 {
        return false;
    }
    decide(DecisionKind::Fault, 100) >= 100 - k
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl World {
    pub(crate) fn link_mut(&mut self, from: HostId, to: HostId) -> &mut Link {
        self.links.entry((from, to)).or_default()
    }

    fn sample(&mut self, (min, max): (Duration, Duration)) -> u64 {
        let (min, max) = (nanos(min), nanos(max.max(min)));
        let span = usize::try_from((max - min) / 1000 + 1).unwrap_or(usize::MAX);
        min + 1000 * uniform_index(&mut self.rng, span) as u64
    }

    /// Sends over the link `from → to` (not loopback): partitions, clogs, latency
    /// and, when faults are on, loss, duplication and reordering of datagrams.
    pub(super) fn send_over_link(&mut self, now: u64, packet: Packet, from: HostId) {
        let to = packet.to_host;
        if !self.hosts[to.0 as usize].alive {
            return; // a dead host hears nothing
        }
        let datagram = matches!(packet.payload, Payload::Datagram { .. });
        let link = self.link_mut(from, to);
        if link.partitioned {
            if !datagram {
                let first = link.stalled.is_empty();
                link.stalled.push((now, packet));
                if first {
                    let at = now.saturating_add(nanos(TCP_TIMEOUT));
                    self.enqueue(at, to, Channel::Control, Payload::StallCheck { from, to });
                }
            }
            return;
        }
        let clogged_until = link.clogged_until;
        // The faults in force: the link's own, else the plan's.
        let faults = link
            .faults
            .or(self.plan_faults)
            .unwrap_or(LinkFaults::HEALTHY);
        let on = self.faults_on;
        if datagram && on && chance(faults.loss) {
            self.note_fault(|| format!("lost a datagram {}", self.route(from, to)));
            return;
        }
        let mut at = (now + self.sample(faults.latency).max(1000)).max(clogged_until);
        let reordered = datagram && on && chance(faults.reorder);
        if reordered {
            at += self.sample((Duration::ZERO, faults.latency.1 * 2));
            self.note_fault(|| format!("reordered a datagram {}", self.route(from, to)));
        } else {
            let last = self.last_at.entry(packet.channel).or_insert(0);
            at = at.max(*last);
            *last = at;
        }
        let duplicate = datagram && on && chance(faults.duplicate);
        if let (
            true,
            Payload::Datagram {
                from: f,
                to: t,
                bytes,
            },
        ) = (duplicate, &packet.payload)
        {
            let copy = Payload::Datagram {
                from: *f,
                to: *t,
                bytes: bytes.clone(),
            };
            let again = at + self.sample(faults.latency);
            self.enqueue(again, to, packet.channel, copy);
            self.note_fault(|| format!("duplicated a datagram {}", self.route(from, to)));
        }
        self.enqueue(at, to, packet.channel, packet.payload);
    }

    /// `from → to`, by host names.
    fn route(&self, from: HostId, to: HostId) -> String {
        let name = |h: HostId| self.hosts[h.0 as usize].name.as_str();
        format!("{} → {}", name(from), name(to))
    }

    /// Partitions `from → to`: datagrams are dropped, TCP packets held.
    pub(crate) fn partition(&mut self, from: HostId, to: HostId) {
        self.link_mut(from, to).partitioned = true;
    }

    /// Heals `from → to`: held TCP packets are sent again, in order.
    pub(crate) fn heal(&mut self, from: HostId, to: HostId) {
        let link = self.link_mut(from, to);
        link.partitioned = false;
        let stalled = std::mem::take(&mut link.stalled);
        for (_, packet) in stalled {
            self.send(from, packet.to_host, packet.channel, packet.payload);
        }
    }

    /// Heals every link.
    pub(crate) fn heal_all(&mut self) {
        let partitioned: Vec<(HostId, HostId)> = self
            .links
            .iter()
            .filter(|(_, l)| l.partitioned || !l.stalled.is_empty())
            .map(|(k, _)| *k)
            .collect();
        for (from, to) in partitioned {
            self.heal(from, to);
        }
        for link in self.links.values_mut() {
            link.clogged_until = 0;
        }
    }

    /// Holds what is sent on `from → to` for `d`, then delivers it in order.
    pub(crate) fn clog(&mut self, from: HostId, to: HostId, until: u64) {
        let link = self.link_mut(from, to);
        link.clogged_until = link.clogged_until.max(until);
    }

    /// A partition's timeout check: connections whose packets were held for
    /// [`TCP_TIMEOUT`] are reset.
    pub(super) fn on_stall_check(&mut self, from: HostId, to: HostId) {
        let now = self.now_nanos();
        let timeout = nanos(TCP_TIMEOUT);
        let link = self.link_mut(from, to);
        if !link.partitioned {
            return;
        }
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut link.stalled)
            .into_iter()
            .partition(|(since, _)| since + timeout <= now);
        link.stalled = kept;
        if let Some((since, _)) = link.stalled.first() {
            let at = since + timeout;
            self.enqueue(at, to, Channel::Control, Payload::StallCheck { from, to });
        }
        for (_, packet) in expired {
            self.time_out(packet);
        }
    }
}

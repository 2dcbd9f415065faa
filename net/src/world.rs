//! The run's network ([`World`]): hosts, port bindings, sockets, and the queue of
//! packets in flight, delivered in virtual time.
//!
//! Invariants:
//! - one `World` per run, reached through the runtime's run-scoped state
//!   ([`detsim_runtime::extension`]); it is created on first use and dropped with the run;
//!   a socket from another run is refused by its epoch (the run's `run_id`), but for
//!   I/O (accept, read, write, send, receive) on a socket whose run has ended, or in a
//!   session that was shut down, which gives tokio's shutdown error
//!   ([`runtime_gone`]), as a tokio socket does after its runtime shut down;
//! - a packet sent at `t` over a link of latency `L` is delivered at `t + L` (`L >= 1 µs`,
//!   so nothing is delivered inside the poll that sent it); the packets of one channel
//!   (one direction of a TCP connection, one UDP flow) are delivered in the order they
//!   were sent;
//! - when several packets are due at the same instant, the heads of their channels are
//!   the options of a [`DecisionKind::Delivery`] decision, in the order they were queued,
//!   so index 0 is "earliest queued first" and any other order is a recorded deviation;
//! - the world is borrowed only for bookkeeping: wakers are collected and woken after
//!   the borrow ends, and no user code runs while it is held;
//! - nothing here varies between runs of a seed: ordered maps, ids counted up, latency
//!   drawn from the seed's network stream ([`NETWORK_STREAM`]).

use std::cell::RefCell;
use std::cmp;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use detsim_runtime::choice::{DecisionKind, NETWORK_STREAM, decide, run_stream, uniform_index};
use detsim_runtime::extension;
use detsim_runtime::time::{self, Instant, Sleep};
use rand_chacha::ChaCha8Rng;

mod link;
mod tcp;
pub(crate) mod udp;

pub(crate) use link::chance;
pub use link::{LinkFaults, TCP_TIMEOUT};
pub(crate) use tcp::{Endpoint, Listener};
pub(crate) use udp::Udp;

/// The smallest and largest one-way loopback latency a run may draw.
pub(crate) const LOOPBACK_LATENCY_MIN_MICROS: u64 = 10;
/// See [`LOOPBACK_LATENCY_MIN_MICROS`].
pub(crate) const LOOPBACK_LATENCY_MAX_MICROS: u64 = 100;

/// The first and last port handed out for port 0 (IANA's dynamic range, as Linux's
/// `ip_local_port_range` is often set).
const EPHEMERAL_FIRST: u16 = 49152;
const EPHEMERAL_LAST: u16 = 65535;

/// The name of the default host, where the test body and its tasks run.
pub const DEFAULT_HOST_NAME: &str = "main";

/// The network of the current run, shared by its sockets.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) world: RefCell<World>,
}

/// A host of the network: a name that resolves, its addresses, its port counter.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) name: String,
    /// Its non-loopback addresses.
    pub(crate) ips: Vec<IpAddr>,
    next_port: u16,
    /// False from a kill to the restart: packets to it are lost.
    pub(crate) alive: bool,
}

/// An index into `World::hosts`. Host 0 is the default host every run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct HostId(pub(crate) u32);

impl HostId {
    /// The host of code that runs on no other: the test body and its tasks.
    pub(crate) const DEFAULT: HostId = HostId(0);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

/// What holds a bound port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Listener(u32),
    Stream(u32),
    Udp(u32),
}

/// A stream of packets that must stay in order: one direction of a TCP connection
/// (named by the sending endpoint), or one UDP flow (sending socket, destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Channel {
    Tcp(u32),
    Udp(u32, SocketAddr),
    /// A one-off reply of the host itself (a refusal).
    Once(u64),
    /// The network's own timers (a partition's TCP timeout).
    Control,
}

/// What travels.
#[derive(Debug)]
pub(crate) enum Payload {
    Syn {
        client: u32,
        to: SocketAddr,
    },
    SynAck {
        client: u32,
        server: u32,
    },
    Refused {
        client: u32,
    },
    Data {
        to: u32,
        bytes: Vec<u8>,
    },
    Fin {
        to: u32,
    },
    Rst {
        to: u32,
    },
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    StallCheck {
        from: HostId,
        to: HostId,
    },
}

#[derive(Debug)]
pub(crate) struct Packet {
    pub(crate) to_host: HostId,
    pub(crate) channel: Channel,
    pub(crate) payload: Payload,
}

/// A packet in flight with its delivery time (ns) and queue order. The queue is a
/// max-heap, so the earliest (then the first queued) compares greatest.
#[derive(Debug)]
struct InFlight {
    at: u64,
    seq: u64,
    packet: Packet,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Wakers of tasks waiting on one thing; woken all at once.
#[derive(Debug, Default)]
pub(crate) struct Waiters(Vec<Waker>);

impl Waiters {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    pub(crate) fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.0);
    }
}

/// The whole network of one run.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) epoch: u64,
    pub(crate) hosts: Vec<Host>,
    pub(crate) loopback_latency: Duration,
    /// Per-packet latencies of links between hosts are drawn from it.
    pub(crate) rng: ChaCha8Rng,
    pub(crate) links: BTreeMap<(HostId, HostId), link::Link>,
    /// The link faults of the run's fault plan, for links with none of their own.
    pub(crate) plan_faults: Option<LinkFaults>,
    /// Whether faults are injected (the fault phase has not ended).
    pub(crate) faults_on: bool,
    /// The delivery time of each channel's last packet, so none overtakes another.
    last_at: BTreeMap<Channel, u64>,
    /// Runtime node → its host.
    pub(crate) node_hosts: BTreeMap<u32, HostId>,
    /// Run-scoped state of the cluster layer (nodes, plan, buggify sites).
    pub(crate) cluster: crate::cluster::ClusterState,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) udps: Vec<Udp>,
    ports: BTreeMap<(HostId, Proto, u16), Vec<(IpAddr, Owner)>>,
    /// Packets in flight, earliest (delivery time in ns, then queue order) on top: a
    /// heap keeps its room when it empties, as the queue does after most deliveries.
    queue: BinaryHeap<InFlight>,
    seq: u64,
    /// The runtime timer set for the earliest packet, and its deadline.
    armed: Option<(u64, Sleep)>,
    /// The waker of that timer ([`Tick`]), made once per run.
    tick: Waker,
    /// Wakers to wake once the borrow of the world ends.
    pub(crate) wake: Vec<Waker>,
    /// An empty vector with room, swapped with `wake` when its wakers are woken, so
    /// that waking allocates nothing.
    spare: Vec<Waker>,
    /// The packets due at one instant while they are delivered (kept for its room).
    due: Vec<Packet>,
}

/// A socket's reference to its run's network and its slot there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockRef {
    pub(crate) epoch: u64,
    pub(crate) index: u32,
}

thread_local! {
    /// The network this thread used last. It lives no longer than its run (the runtime
    /// drops run-scoped state at the run's end, and before the next run begins), so a
    /// reference that still upgrades inside a simulation is the current run's: a
    /// cheaper path to it than the runtime's lookup by type, taken for every socket
    /// operation.
    static LAST: RefCell<Weak<Net>> = const { RefCell::new(Weak::new()) };
}

/// The current run's network if it exists, through [`LAST`] when it can.
fn current_net() -> Option<Rc<Net>> {
    if !detsim_runtime::in_simulation() {
        return None;
    }
    if let Some(net) = LAST.with(|last| last.borrow().upgrade()) {
        return Some(net);
    }
    let net = extension::try_run_state::<Net>()?;
    LAST.with(|last| *last.borrow_mut() = Rc::downgrade(&net));
    Some(net)
}

/// The current run's network, created on first use. Panics, naming `what`, outside a
/// simulation.
pub(crate) fn net(what: &str) -> Rc<Net> {
    if let Some(net) = current_net() {
        return net;
    }
    assert!(
        detsim_runtime::in_simulation(),
        "`{what}` was called outside a detsim simulation; the simulated network exists only \
         inside a run (`detsim::check`, a `detsim::Builder`, `#[tokio::test]` under \
         `--cfg detsim`, or `Runtime::block_on`); in tokio's words, there is no reactor \
         running, must be called from the context of a Tokio 1.x runtime"
    );
    let net = extension::run_state(|| Net {
        world: RefCell::new(World::new()),
    });
    LAST.with(|last| *last.borrow_mut() = Rc::downgrade(&net));
    net
}

/// Wakes what a borrow of the world queued, then gives the emptied vector back to
/// the world for the next borrow.
fn wake_all(net: &Net, mut wakers: Vec<Waker>) {
    if wakers.is_empty() {
        return;
    }
    wakers.drain(..).for_each(Waker::wake);
    if let Ok(mut world) = net.world.try_borrow_mut() {
        world.spare = wakers;
    }
}

/// Runs `f` on the current world and wakes what it queued. Panics outside a simulation.
pub(crate) fn with_world<R>(what: &str, f: impl FnOnce(&mut World) -> R) -> R {
    let net = net(what);
    let (result, wakers) = {
        let mut world = net.world.borrow_mut();
        let result = f(&mut world);
        (result, world.take_wakers())
    };
    wake_all(&net, wakers);
    result
}

/// Runs `f` on the world `sock` belongs to. Panics outside a simulation or when the
/// socket belongs to another run.
pub(crate) fn with_sock<R>(what: &str, sock: SockRef, f: impl FnOnce(&mut World) -> R) -> R {
    with_world(what, |world| {
        assert!(
            world.epoch == sock.epoch,
            "`{what}`: this socket belongs to another run of the simulation (a socket cannot \
             outlive the run that created it)"
        );
        f(world)
    })
}

/// The error an I/O operation on `sock` gives when its runtime is gone, as tokio's
/// does after its runtime shut down (`detsim_runtime::shutdown_error`): in a session
/// that was shut down, or for a socket whose run has ended (a tokio facade runtime
/// that was dropped). `None` otherwise; a socket of another run in progress is still
/// refused by [`with_sock`].
pub(crate) fn runtime_gone(sock: SockRef) -> Option<io::Error> {
    if !detsim_runtime::in_simulation() {
        return None; // `with_sock` says so
    }
    let ended = !detsim_runtime::run_in_progress(sock.epoch);
    (ended || detsim_runtime::is_shut_down()).then(detsim_runtime::shutdown_error)
}

/// Runs `f` on the world `sock` belongs to if it is the current run's; for destructors,
/// which must not panic when a socket is dropped outside its run.
pub(crate) fn try_with_sock(sock: SockRef, f: impl FnOnce(&mut World)) {
    let Some(net) = current_net() else {
        return;
    };
    let wakers = {
        let Ok(mut world) = net.world.try_borrow_mut() else {
            return;
        };
        if world.epoch != sock.epoch {
            return;
        }
        f(&mut world);
        world.take_wakers()
    };
    wake_all(&net, wakers);
}

/// The waker of the network's timer: delivers what is due.
struct Tick;

impl Wake for Tick {
    fn wake(self: Arc<Self>) {
        deliver_due();
    }
}

/// Delivers every packet due now (the runtime's clock has reached the armed timer).
fn deliver_due() {
    let Some(net) = current_net() else {
        return;
    };
    let (wakers, old_timer) = {
        let mut world = net.world.borrow_mut();
        let old_timer = world.armed.take();
        world.deliver_due();
        world.arm();
        (world.take_wakers(), old_timer)
    };
    drop(old_timer);
    wake_all(&net, wakers);
}

impl World {
    fn new() -> World {
        let mut rng = run_stream(NETWORK_STREAM);
        let span = (LOOPBACK_LATENCY_MAX_MICROS - LOOPBACK_LATENCY_MIN_MICROS + 1) as usize;
        let micros = LOOPBACK_LATENCY_MIN_MICROS + uniform_index(&mut rng, span) as u64;
        World {
            // The run's identity, the runtime's: a socket's epoch names its run.
            epoch: detsim_runtime::run_id(),
            hosts: vec![Host {
                name: DEFAULT_HOST_NAME.to_owned(),
                ips: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
                next_port: EPHEMERAL_FIRST,
                alive: true,
            }],
            loopback_latency: Duration::from_micros(micros),
            rng,
            links: BTreeMap::new(),
            plan_faults: None,
            faults_on: false,
            last_at: BTreeMap::new(),
            node_hosts: BTreeMap::new(),
            cluster: crate::cluster::ClusterState::default(),
            endpoints: Vec::new(),
            listeners: Vec::new(),
            udps: Vec::new(),
            ports: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            armed: None,
            tick: Waker::from(Arc::new(Tick)),
            wake: Vec::new(),
            spare: Vec::new(),
            due: Vec::new(),
        }
    }

    /// The wakers queued so far, leaving the spare vector in their place.
    fn take_wakers(&mut self) -> Vec<Waker> {
        if self.wake.is_empty() {
            return Vec::new();
        }
        let spare = std::mem::take(&mut self.spare);
        std::mem::replace(&mut self.wake, spare)
    }

    pub(crate) fn sock(&self, index: u32) -> SockRef {
        SockRef {
            epoch: self.epoch,
            index,
        }
    }

    /// The host the running code is on: its task's node's host, else the default.
    pub(crate) fn current_host(&self) -> HostId {
        if self.node_hosts.is_empty() {
            return HostId::DEFAULT;
        }
        let node = detsim_runtime::node::current().as_u32();
        self.node_hosts
            .get(&node)
            .copied()
            .unwrap_or(HostId::DEFAULT)
    }

    /// Adds a host for runtime node `node`, named `name`, with the next address of
    /// 10.0.0.0/8 (the default host is 10.0.0.1; nodes get 10.0.0.2, 10.0.0.3, …).
    pub(crate) fn add_host(&mut self, name: &str, node: u32) -> HostId {
        let id = HostId(u32::try_from(self.hosts.len()).expect("fewer than 2^32 hosts"));
        let n = id.0 + 1;
        let ip = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
        self.hosts.push(Host {
            name: name.to_owned(),
            ips: vec![IpAddr::V4(ip)],
            next_port: EPHEMERAL_FIRST,
            alive: true,
        });
        self.node_hosts.insert(node, id);
        id
    }

    /// A host died: what is in flight to it, or held for it, is lost.
    pub(crate) fn kill_host(&mut self, host: HostId) {
        self.hosts[host.0 as usize].alive = false;
        self.queue.retain(|q| {
            q.packet.to_host != host || matches!(q.packet.payload, Payload::StallCheck { .. })
        });
        for ((_, to), link) in self.links.iter_mut() {
            if *to == host {
                link.stalled.clear();
            }
        }
    }

    pub(crate) fn now_nanos(&self) -> u64 {
        u64::try_from(time::now().since_start().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records a fault in the trace.
    pub(crate) fn note_fault(&self, text: impl FnOnce() -> String) {
        detsim_runtime::node::note(text);
    }

    /// The host that receives what `from` sends to `ip`, if any.
    pub(crate) fn host_of(&self, from: HostId, ip: IpAddr) -> Option<HostId> {
        if ip.is_loopback() || ip.is_unspecified() {
            return Some(from);
        }
        self.hosts
            .iter()
            .position(|h| h.ips.contains(&ip))
            .map(|i| HostId(i as u32))
    }

    /// The address `host` sends from when it talks to `to`.
    pub(crate) fn source_ip(&self, host: HostId, to: IpAddr) -> IpAddr {
        if to.is_loopback() || to.is_unspecified() {
            return loopback_of(to);
        }
        let ips = &self.hosts[host.0 as usize].ips;
        ips.iter()
            .copied()
            .find(|ip| ip.is_ipv4() == to.is_ipv4())
            .unwrap_or_else(|| loopback_of(to))
    }

    /// Resolves a host name: `localhost`, a host's name, or an address literal.
    pub(crate) fn resolve(&self, name: &str) -> Option<Vec<IpAddr>> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Some(vec![ip]);
        }
        if let Some(ip) = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .and_then(|n| n.parse::<Ipv6Addr>().ok())
        {
            return Some(vec![IpAddr::V6(ip)]);
        }
        if name.eq_ignore_ascii_case("localhost") {
            return Some(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        self.hosts
            .iter()
            .find(|h| h.name == name && !h.ips.is_empty())
            .map(|h| h.ips.clone())
    }

    /// Queues `payload` from host `from` to host `to` on `channel`: after the fixed
    /// loopback latency on one host, over the link (its latency and faults) between two.
    pub(crate) fn send(&mut self, from: HostId, to: HostId, channel: Channel, payload: Payload) {
        let now = self.now_nanos();
        if from != to {
            let packet = Packet {
                to_host: to,
                channel,
                payload,
            };
            self.send_over_link(now, packet, from);
            return;
        }
        let at =
            now.saturating_add(u64::try_from(self.loopback_latency.as_nanos()).unwrap_or(u64::MAX));
        self.enqueue(at, to, channel, payload);
    }

    /// Puts a packet in flight, to be delivered at `at` (ns).
    fn enqueue(&mut self, at: u64, to: HostId, channel: Channel, payload: Payload) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(InFlight {
            at,
            seq,
            packet: Packet {
                to_host: to,
                channel,
                payload,
            },
        });
        debug_assert!(
            at > self.now_nanos(),
            "nothing is delivered in the poll that sent it"
        );
        if self
            .armed
            .as_ref()
            .is_none_or(|(deadline, _)| at < *deadline)
        {
            let old = self.armed.take();
            drop(old);
            self.arm();
        }
    }

    /// A fresh one-off channel (for replies of the host itself).
    pub(crate) fn once_channel(&mut self) -> Channel {
        self.seq += 1;
        Channel::Once(self.seq)
    }

    /// Sets the runtime timer for the earliest packet in flight, if none is set.
    fn arm(&mut self) {
        if self.armed.is_some() {
            return;
        }
        let Some(at) = self.queue.peek().map(|q| q.at) else {
            return;
        };
        let mut sleep = time::sleep_until(Instant::START + Duration::from_nanos(at));
        let polled = Pin::new(&mut sleep).poll(&mut Context::from_waker(&self.tick));
        assert!(
            polled.is_pending(),
            "packets are always delivered in the future"
        );
        self.armed = Some((at, sleep));
    }

    /// Delivers the packets due now. When several are due, the heads of their channels
    /// are the options of a delivery decision, earliest queued first.
    ///
    /// A decision among one option is no decision (nothing is recorded), so a packet due
    /// alone, the common case, is delivered at once.
    fn deliver_due(&mut self) {
        let now = self.now_nanos();
        let is_due = |queue: &BinaryHeap<InFlight>| queue.peek().is_some_and(|q| q.at <= now);
        if !is_due(&self.queue) {
            return;
        }
        let first = self.queue.pop().expect("a packet is due").packet;
        if !is_due(&self.queue) {
            self.deliver(first);
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        due.push(first);
        while is_due(&self.queue) {
            due.push(self.queue.pop().expect("a packet is due").packet);
        }
        let mut heads: Vec<usize> = Vec::new();
        while !due.is_empty() {
            heads.clear();
            for (i, packet) in due.iter().enumerate() {
                if !due[..i].iter().any(|p| p.channel == packet.channel) {
                    heads.push(i);
                }
            }
            let chosen = decide(DecisionKind::Delivery, heads.len());
            let packet = due.remove(heads[chosen]);
            self.deliver(packet);
        }
        self.due = due;
    }

    fn deliver(&mut self, packet: Packet) {
        let host = packet.to_host;
        if !self.hosts[host.0 as usize].alive
            && !matches!(packet.payload, Payload::StallCheck { .. })
        {
            return;
        }
        match packet.payload {
            Payload::StallCheck { from, to } => self.on_stall_check(from, to),
            Payload::Syn { client, to } => self.on_syn(host, client, to),
            Payload::SynAck { client, server } => self.on_syn_ack(client, server),
            Payload::Refused { client } => self.on_refused(client),
            Payload::Data { to, bytes } => self.on_data(to, bytes),
            Payload::Fin { to } => self.on_fin(to),
            Payload::Rst { to } => self.on_rst(to),
            Payload::Datagram { from, to, bytes } => {
                self.on_datagram(host, packet.channel, from, to, bytes)
            }
        }
    }

    /// Checks that `host` may bind `ip` (a loopback or unspecified address, or one of
    /// its own).
    pub(crate) fn check_local_ip(&self, host: HostId, ip: IpAddr) -> io::Result<()> {
        if ip.is_loopback() || ip.is_unspecified() || self.hosts[host.0 as usize].ips.contains(&ip)
        {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("cannot bind {ip}: not an address of this simulated host"),
        ))
    }

    /// Binds `addr` (port 0: an ephemeral port) on `host` for `owner`; returns the
    /// address bound.
    pub(crate) fn bind(
        &mut self,
        host: HostId,
        proto: Proto,
        addr: SocketAddr,
        owner: Owner,
    ) -> io::Result<SocketAddr> {
        self.check_local_ip(host, addr.ip())?;
        let port = match addr.port() {
            0 => self.ephemeral_port(host, proto)?,
            port => {
                if self.conflicts(host, proto, addr.ip(), port) {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("address {addr} is already in use on the simulated host"),
                    ));
                }
                port
            }
        };
        self.ports
            .entry((host, proto, port))
            .or_default()
            .push((addr.ip(), owner));
        Ok(SocketAddr::new(addr.ip(), port))
    }

    pub(crate) fn unbind(&mut self, host: HostId, proto: Proto, port: u16, owner: Owner) {
        if let Some(bound) = self.ports.get_mut(&(host, proto, port)) {
            bound.retain(|(_, o)| *o != owner);
            if bound.is_empty() {
                self.ports.remove(&(host, proto, port));
            }
        }
    }

    fn conflicts(&self, host: HostId, proto: Proto, ip: IpAddr, port: u16) -> bool {
        self.ports.get(&(host, proto, port)).is_some_and(|bound| {
            bound
                .iter()
                .any(|(b, _)| *b == ip || b.is_unspecified() || ip.is_unspecified())
        })
    }

    /// The next free port of the dynamic range, in a fixed cycle per host.
    fn ephemeral_port(&mut self, host: HostId, proto: Proto) -> io::Result<u16> {
        let span = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
        for _ in 0..span {
            let h = &mut self.hosts[host.0 as usize];
            let port = h.next_port;
            h.next_port = if port == EPHEMERAL_LAST {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            if !self.ports.contains_key(&(host, proto, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no ephemeral port is free on the simulated host",
        ))
    }

    /// Who is bound to (`ip`, `port`) on `host` and accepts what is sent there: an
    /// exact address first, then a wildcard of the same family.
    pub(crate) fn bound_at(
        &self,
        host: HostId,
        proto: Proto,
        ip: IpAddr,
        port: u16,
    ) -> Option<Owner> {
        let bound = self.ports.get(&(host, proto, port))?;
        let exact = bound.iter().find(|(b, _)| *b == ip);
        let wildcard = || {
            bound
                .iter()
                .find(|(b, _)| b.is_unspecified() && b.is_ipv4() == ip.is_ipv4())
        };
        exact.or_else(wildcard).map(|(_, owner)| *owner)
    }
}

/// The loopback address of `ip`'s family.
fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// What a loopback or unspecified destination means: the loopback address.
pub(crate) fn normalize_destination(addr: SocketAddr) -> SocketAddr {
    match addr.ip().is_unspecified() {
        true => SocketAddr::new(loopback_of(addr.ip()), addr.port()),
        false => addr,
    }
}

/// `VecDeque` helpers shared by the socket kinds.
pub(crate) fn drain_into(from: &mut VecDeque<u8>, buf: &mut tokio::io::ReadBuf<'_>) -> usize {
    let n = from.len().min(buf.remaining());
    let (a, b) = from.as_slices();
    let take_a = n.min(a.len());
    buf.put_slice(&a[..take_a]);
    buf.put_slice(&b[..n - take_a]);
    from.drain(..n);
    n
}

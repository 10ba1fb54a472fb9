//! The immutable, time-aware IP index over one snapshot (design §4 and §9).
//!
//! This module owns the answer to "who held this IP at that second": a pod, a hostNetwork pod on a
//! node IP, the node itself, or nobody. It is built once per snapshot (off the hot path) and then
//! only read, from any number of threads; a lookup is one hash probe plus a binary search over
//! the few pods that ever held the IP, with no allocation.
//!
//! It also keeps, for its readers, a text per endpoint rendered on first use ([`PodIndex::memo`]):
//! the transform's JSON members of each pod and node, so that they are written once per snapshot,
//! not once per row.
//!
//! Time rules (design §4, the same rule the load-test generator's truth follows):
//! - A pod that is not hostNetwork holds each of its IPs from its `start_time` (or `first_seen`
//!   when the API gave none) until a later pod on that IP starts, whether or not it has vanished
//!   since: vanished pods stay in the snapshot for the retention window so that late flows still
//!   find who held an IP.
//! - A Succeeded or Failed pod keeps a stale `podIP` the CNI has already handed out again: it held
//!   the IP from its start until `finished_at` (exclusive) only, and not at all when that is
//!   unknown.
//! - A flow at `at` belongs to the holder with the latest start `<= at` while it holds the IP,
//!   else to nobody.
//! - A node IP is the node's, or a hostNetwork pod's on that node when the latest one started by
//!   `at` that declares the flow side's port and protocol still runs.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use foldhash::fast::FixedState;

use crate::snapshot::{NodeInfo, PodInfo, Snapshot};

/// Marks "no node" in the compact per-pod and per-IP tables.
const NONE: u32 = u32::MAX;

/// Who held an IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'s> {
    /// A non-hostNetwork pod, and its node when the snapshot has it.
    Pod {
        /// The pod.
        pod: &'s PodInfo,
        /// Its node; `None` when the node left the cluster (a retained pod) or is unknown.
        node: Option<&'s NodeInfo>,
    },
    /// A hostNetwork pod on a node IP that declares the flow's port and protocol.
    HostNet {
        /// The pod.
        pod: &'s PodInfo,
        /// The node whose IP it shares.
        node: &'s NodeInfo,
    },
    /// A node IP, no hostNetwork pod declaring the port.
    Node(&'s NodeInfo),
    /// Nobody in the snapshot held the IP at that time.
    Unknown,
}

impl<'s> Endpoint<'s> {
    /// `pod`, `hostnet`, `node` or `unknown`: the row's `*_kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Pod { .. } => "pod",
            Endpoint::HostNet { .. } => "hostnet",
            Endpoint::Node(_) => "node",
            Endpoint::Unknown => "unknown",
        }
    }

    /// The node the endpoint runs on, if known.
    pub fn node(&self) -> Option<&'s NodeInfo> {
        match *self {
            Endpoint::Pod { node, .. } => node,
            Endpoint::HostNet { node, .. } | Endpoint::Node(node) => Some(node),
            Endpoint::Unknown => None,
        }
    }

    /// The pod, for `pod` and `hostnet` endpoints.
    pub fn pod(&self) -> Option<&'s PodInfo> {
        match *self {
            Endpoint::Pod { pod, .. } | Endpoint::HostNet { pod, .. } => Some(pod),
            Endpoint::Node(_) | Endpoint::Unknown => None,
        }
    }

    /// The AZ name of the endpoint's node (a pod's zone is its node's).
    pub fn zone(&self) -> Option<&'s str> {
        self.node().and_then(|n| n.zone.as_deref())
    }

    /// The AZ ID of the endpoint's node, as flow logs' `az-id` speaks it.
    pub fn zone_id(&self) -> Option<&'s str> {
        self.node().and_then(|n| n.zone_id.as_deref())
    }
}

/// One pod's tenure of one IP.
#[derive(Debug, Clone, Copy)]
struct Holder {
    /// When it started holding the IP.
    start: i64,
    /// Last second it holds it (terminated pods: `finished_at - 1`), else `i64::MAX`.
    until: i64,
    /// Index into `snapshot.pods`, or [`NONE`] for "no holder".
    pod: u32,
    /// Index of the pod's node in `snapshot.nodes`, or [`NONE`].
    node: u32,
}

/// What the index knows about one IP. The latest holder is inline, so the usual lookup (a flow
/// of the IP's current pod) touches one hash-table entry and nothing else.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The holder with the latest start; `pod == NONE` when no pod ever held the IP.
    latest: Holder,
    /// Range of `PodIndex::holders` with the earlier holders, sorted by start.
    first_earlier: u32,
    earlier_count: u32,
    /// Index into `snapshot.nodes` of the node with this IP, or [`NONE`].
    node: u32,
}

const NO_HOLDER: Holder = Holder {
    start: i64::MAX,
    until: i64::MIN,
    pod: NONE,
    node: NONE,
};

/// A hostNetwork pod's declared port on its node.
#[derive(Debug, Clone, Copy)]
struct HostPort {
    port: u16,
    protocol: u8,
    holder: Holder,
}

/// The immutable lookup index over one snapshot. `Send + Sync`; share it behind an `Arc`.
pub struct PodIndex {
    snapshot: Snapshot,
    /// Keyed by the IPv6 form of the address (IPv4 as `::ffff:a.b.c.d`).
    slots: HashMap<u128, Slot, FixedState>,
    /// Earlier holders of every IP, grouped by IP.
    holders: Vec<Holder>,
    /// Per node: range of `host_ports`, sorted by (port, protocol, start).
    node_host_ports: Vec<(u32, u32)>,
    host_ports: Vec<HostPort>,
    /// [`PodIndex::memo`]: [`MEMO_SLOTS`] texts per endpoint, pods first, then nodes; allocated
    /// on first use.
    memo: OnceLock<Box<[MemoSlots]>>,
}

/// One endpoint's [`PodIndex::memo`] texts, each filled on first use.
type MemoSlots = [OnceLock<Box<str>>; MEMO_SLOTS];

/// Texts [`PodIndex::memo`] keeps per endpoint.
pub const MEMO_SLOTS: usize = 2;

impl fmt::Debug for PodIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodIndex")
            .field("cluster", &self.snapshot.cluster)
            .field("generated_at", &self.snapshot.generated_at)
            .field("ips", &self.slots.len())
            .field("holders", &self.holders.len())
            .field("host_ports", &self.host_ports.len())
            .finish_non_exhaustive()
    }
}

fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn holder_of(pod: &PodInfo, index: usize, node: u32) -> Holder {
    Holder {
        start: pod.start_time.unwrap_or(pod.first_seen),
        until: i64::MAX,
        pod: index as u32,
        node,
    }
}

impl PodIndex {
    /// Indexes a snapshot. Takes `O(pods log pods)`; do it once per snapshot, off the hot path.
    pub fn new(snapshot: Snapshot) -> PodIndex {
        let node_by_name: HashMap<&str, u32, FixedState> = snapshot
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i as u32))
            .collect();
        let pod_nodes: Vec<u32> = snapshot
            .pods
            .iter()
            .map(|p| {
                p.node
                    .as_deref()
                    .and_then(|n| node_by_name.get(n))
                    .copied()
                    .unwrap_or(NONE)
            })
            .collect();

        let mut tenures: Vec<(u128, Holder)> = Vec::with_capacity(snapshot.pods.len());
        let mut host_ports: Vec<(u32, HostPort)> = Vec::new();
        for (i, pod) in snapshot.pods.iter().enumerate() {
            let mut holder = holder_of(pod, i, pod_nodes[i]);
            if pod.is_terminated() {
                // A finished pod keeps a stale podIP: it held the IP only until it finished.
                match pod.finished_at {
                    Some(done) => holder.until = done.saturating_sub(1),
                    None => continue,
                }
            }
            if pod.host_network {
                if pod_nodes[i] != NONE {
                    host_ports.extend(pod.ports.iter().map(|p| {
                        (
                            pod_nodes[i],
                            HostPort {
                                port: p.port,
                                protocol: p.protocol,
                                holder,
                            },
                        )
                    }));
                }
            } else {
                tenures.extend(pod.ips.iter().map(|ip| (ip_key(*ip), holder)));
            }
        }
        // Equal starts: a running pod sorts after a finished one and wins.
        tenures.sort_unstable_by_key(|(key, h)| (*key, h.start, h.until, h.pod));

        let mut slots: HashMap<u128, Slot, FixedState> = HashMap::default();
        slots.reserve(tenures.len() + snapshot.nodes.len());
        let mut holders = Vec::new();
        for (key, holder) in tenures {
            let slot = slots.entry(key).or_insert(Slot {
                latest: NO_HOLDER,
                first_earlier: holders.len() as u32,
                earlier_count: 0,
                node: NONE,
            });
            // Sorted by start: each new holder is the latest so far.
            if slot.latest.pod != NONE {
                holders.push(slot.latest);
                slot.earlier_count += 1;
            }
            slot.latest = holder;
        }
        for (i, node) in snapshot.nodes.iter().enumerate() {
            for ip in &node.ips {
                let empty = Slot {
                    latest: NO_HOLDER,
                    first_earlier: 0,
                    earlier_count: 0,
                    node: NONE,
                };
                let slot = slots.entry(ip_key(*ip)).or_insert(empty);
                if slot.node == NONE {
                    slot.node = i as u32;
                }
            }
        }

        host_ports.sort_unstable_by_key(|(node, p)| (*node, p.port, p.protocol, p.holder.start));
        let mut node_host_ports = vec![(0, 0); snapshot.nodes.len()];
        for (at, (node, _)) in host_ports.iter().enumerate() {
            let range = &mut node_host_ports[*node as usize];
            if range.1 == 0 {
                range.0 = at as u32;
            }
            range.1 += 1;
        }
        let host_ports = host_ports.into_iter().map(|(_, p)| p).collect();

        PodIndex {
            snapshot,
            slots,
            holders,
            node_host_ports,
            host_ports,
            memo: OnceLock::new(),
        }
    }

    /// A text rendered from `endpoint` once for the life of the index: the first call for an
    /// endpoint and `slot` (below [`MEMO_SLOTS`]) runs `render` and keeps its result, later calls
    /// return that. The caller owns what the slots mean and must render the same text for the
    /// same endpoint and slot every time (the transform keeps each endpoint's JSON members
    /// there, one slot per side of a flow). `None` for [`Endpoint::Unknown`], a slot out of range,
    /// or an endpoint another index handed out. The slots (48 bytes per pod and node) are
    /// allocated on the first call, not while indexing.
    pub fn memo(
        &self,
        endpoint: &Endpoint<'_>,
        slot: usize,
        render: impl FnOnce() -> String,
    ) -> Option<&str> {
        let number = self.endpoint_number(endpoint)?;
        let memo = self.memo.get_or_init(|| {
            let endpoints = self.snapshot.pods.len() + self.snapshot.nodes.len();
            (0..endpoints).map(|_| Default::default()).collect()
        });
        let text = memo.get(number)?.get(slot)?;
        Some(text.get_or_init(|| render().into_boxed_str()))
    }

    /// The endpoint's position among the snapshot's pods, then nodes: found from where its
    /// reference points, and checked to be this index's.
    fn endpoint_number(&self, endpoint: &Endpoint<'_>) -> Option<usize> {
        fn position<T>(all: &[T], one: &T) -> Option<usize> {
            let offset = std::ptr::from_ref(one)
                .addr()
                .wrapping_sub(all.as_ptr().addr());
            let at = offset / std::mem::size_of::<T>().max(1);
            std::ptr::eq(all.get(at)?, one).then_some(at)
        }
        match endpoint {
            Endpoint::Pod { pod, .. } | Endpoint::HostNet { pod, .. } => {
                position(&self.snapshot.pods, pod)
            }
            Endpoint::Node(node) => {
                position(&self.snapshot.nodes, node).map(|at| self.snapshot.pods.len() + at)
            }
            Endpoint::Unknown => None,
        }
    }

    /// The indexed snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Who held `ip` at epoch second `at`.
    ///
    /// `port`/`protocol` are this side's own port and the IANA protocol number, used only to pick
    /// a hostNetwork pod on a node IP (design §9).
    pub fn lookup(
        &self,
        ip: IpAddr,
        at: i64,
        port: Option<u16>,
        protocol: Option<u8>,
    ) -> Endpoint<'_> {
        let Some(slot) = self.slots.get(&ip_key(ip)) else {
            return Endpoint::Unknown;
        };
        if let Some(holder) = self.holder_at(slot, at) {
            return Endpoint::Pod {
                pod: &self.snapshot.pods[holder.pod as usize],
                node: (holder.node != NONE).then(|| &self.snapshot.nodes[holder.node as usize]),
            };
        }
        if slot.node == NONE {
            return Endpoint::Unknown;
        }
        let node = &self.snapshot.nodes[slot.node as usize];
        if let (Some(port), Some(protocol)) = (port, protocol)
            && let Some(pod) = self.host_pod_at(slot.node, port, protocol, at)
        {
            return Endpoint::HostNet {
                pod: &self.snapshot.pods[pod as usize],
                node,
            };
        }
        Endpoint::Node(node)
    }

    /// The holder of `slot` at `at`: the one with the latest start `<= at`, if it still held the
    /// IP then.
    fn holder_at(&self, slot: &Slot, at: i64) -> Option<Holder> {
        if slot.latest.pod == NONE {
            return None;
        }
        let current = if slot.latest.start <= at {
            slot.latest
        } else {
            let first = slot.first_earlier as usize;
            let earlier = &self.holders[first..first + slot.earlier_count as usize];
            let after = earlier.partition_point(|h| h.start <= at);
            earlier[after.checked_sub(1)?]
        };
        (at <= current.until).then_some(current)
    }

    /// The hostNetwork pod on `node` declaring `(port, protocol)`: the latest one started by
    /// `at`, if it still ran then.
    fn host_pod_at(&self, node: u32, port: u16, protocol: u8, at: i64) -> Option<u32> {
        let (first, count) = self.node_host_ports[node as usize];
        let ports = &self.host_ports[first as usize..(first + count) as usize];
        let from = ports.partition_point(|p| (p.port, p.protocol) < (port, protocol));
        let to = from + ports[from..].partition_point(|p| (p.port, p.protocol) == (port, protocol));
        // Several pods may declare the same port over time (a DaemonSet rollout); sorted by start.
        let declared = &ports[from..to];
        let current = declared[declared
            .partition_point(|p| p.holder.start <= at)
            .checked_sub(1)?];
        (at <= current.holder.until).then_some(current.holder.pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, WorkloadKind};

    const GENERATED_AT: i64 = 10_000;
    const TCP: u8 = 6;
    const UDP: u8 = 17;

    fn node(name: &str, ips: &[&str], zone: &str, zone_id: Option<&str>) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            zone: Some(zone.into()),
            zone_id: zone_id.map(Into::into),
            instance_id: None,
            instance_type: None,
            compute_type: None,
        }
    }

    /// A pod named after its workload; `last_seen < GENERATED_AT` makes it vanished.
    fn pod(name: &str, node: &str, ip: &str, phase: &str, start: i64, last_seen: i64) -> PodInfo {
        PodInfo {
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            name: name.into(),
            workload_kind: WorkloadKind::Deployment,
            workload: name.into(),
            app: None,
            node: Some(node.into()),
            ips: vec![ip.parse().unwrap()],
            host_network: false,
            ports: vec![],
            phase: phase.into(),
            start_time: Some(start),
            finished_at: None,
            first_seen: start + 30,
            last_seen,
        }
    }

    fn host_pod(
        name: &str,
        node: &str,
        ip: &str,
        ports: &[(u16, u8)],
        start: i64,
        last_seen: i64,
    ) -> PodInfo {
        PodInfo {
            host_network: true,
            ports: ports
                .iter()
                .map(|&(port, protocol)| DeclaredPort { port, protocol })
                .collect(),
            ..pod(name, node, ip, "Running", start, last_seen)
        }
    }

    fn index() -> PodIndex {
        let g = GENERATED_AT;
        let mut no_start = pod("no-start", "n1", "10.0.0.8", "Running", 0, g);
        no_start.start_time = None;
        no_start.first_seen = 4000;
        let mut job = pod("job", "n1", "10.0.0.10", "Succeeded", 1000, g);
        job.finished_at = Some(1500);
        PodIndex::new(Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            cluster: "c".into(),
            generated_at: g,
            nodes: vec![
                node("n1", &["10.0.1.10"], "us-east-1a", Some("use1-az1")),
                node("n2", &["10.0.2.20", "2600:1f18::14"], "us-east-1b", None),
                node("fargate", &["10.0.3.30"], "us-east-1c", Some("use1-az4")),
            ],
            pods: vec![
                // 10.0.0.5: A (vanished at 2000), then B from 2030; C is a stale Succeeded pod.
                pod("a", "n1", "10.0.0.5", "Running", 1000, 2000),
                pod("b", "n2", "10.0.0.5", "Running", 2030, g),
                pod("c", "n1", "10.0.0.5", "Succeeded", 3000, g),
                // 10.0.0.6: D vanished at 1200, nobody after.
                pod("d", "n1", "10.0.0.6", "Running", 1000, 1200),
                // 10.0.0.7: E vanished at 1200, F starts long after.
                pod("e", "n1", "10.0.0.7", "Running", 1000, 1200),
                pod("f", "n1", "10.0.0.7", "Pending", 5000, g),
                no_start,
                job,
                pod("after-job", "n1", "10.0.0.10", "Running", 1520, g),
                pod("v6", "n2", "2600:1f18::a1", "Running", 1000, g),
                pod("orphan", "gone-node", "10.0.9.9", "Running", 1000, 1500),
                pod("worker", "fargate", "10.0.3.30", "Running", 1000, g),
                host_pod("exporter", "n1", "10.0.1.10", &[(9100, TCP)], 500, g),
                host_pod("old-agent", "n1", "10.0.1.10", &[(8080, TCP)], 500, 3000),
                host_pod("new-agent", "n1", "10.0.1.10", &[(8080, TCP)], 3010, g),
                host_pod("dns", "n2", "10.0.2.20", &[(53, UDP), (53, TCP)], 500, g),
            ],
        })
    }

    /// (kind, pod name or node name) of a lookup, for table comparisons.
    fn who(e: Endpoint<'_>) -> (&'static str, String) {
        let name = match e {
            Endpoint::Pod { pod, .. } | Endpoint::HostNet { pod, .. } => pod.name.clone(),
            Endpoint::Node(node) => node.name.clone(),
            Endpoint::Unknown => String::new(),
        };
        (e.kind(), name)
    }

    /// (ip, at, port, protocol, expected kind, expected pod or node name)
    type Case = (
        &'static str,
        i64,
        Option<u16>,
        Option<u8>,
        &'static str,
        &'static str,
    );

    #[test]
    fn lookups_follow_ip_tenure_over_time() {
        let index = index();
        let cases: &[Case] = &[
            // Before anyone, A from its start, A until B starts, B.
            ("10.0.0.5", 999, None, None, "unknown", ""),
            ("10.0.0.5", 1000, None, None, "pod", "a"),
            ("10.0.0.5", 1500, None, None, "pod", "a"),
            // A vanished at 2000; the IP is still A's until B starts (design §4).
            ("10.0.0.5", 2029, None, None, "pod", "a"),
            ("10.0.0.5", 2030, None, None, "pod", "b"),
            // A Job pod held its IP while it ran, until finished_at; nobody, then its successor.
            ("10.0.0.10", 1200, None, None, "pod", "job"),
            ("10.0.0.10", 1499, None, None, "pod", "job"),
            ("10.0.0.10", 1500, None, None, "unknown", ""),
            ("10.0.0.10", 1519, None, None, "unknown", ""),
            ("10.0.0.10", 1520, None, None, "pod", "after-job"),
            // The Succeeded pod's stale IP never shadows B.
            ("10.0.0.5", 3500, None, None, "pod", "b"),
            ("10.0.0.5", 50_000, None, None, "pod", "b"),
            // A vanished pod with no successor keeps the IP: late flows still find it.
            ("10.0.0.6", 1261, None, None, "pod", "d"),
            ("10.0.0.6", 50_000, None, None, "pod", "d"),
            // Vanished, successor much later: the vanished pod's until then.
            ("10.0.0.7", 3000, None, None, "pod", "e"),
            ("10.0.0.7", 4999, None, None, "pod", "e"),
            ("10.0.0.7", 5000, None, None, "pod", "f"),
            // No start time: first_seen stands in.
            ("10.0.0.8", 3999, None, None, "unknown", ""),
            ("10.0.0.8", 4000, None, None, "pod", "no-start"),
            ("2600:1f18::a1", 5000, None, None, "pod", "v6"),
            // IPv4-mapped IPv6 is the same address.
            ("::ffff:10.0.0.5", 5000, None, None, "pod", "b"),
            // Node IPs: hostNetwork pods by declared port and protocol, else the node.
            (
                "10.0.1.10",
                5000,
                Some(9100),
                Some(TCP),
                "hostnet",
                "exporter",
            ),
            ("10.0.1.10", 5000, Some(9100), Some(UDP), "node", "n1"),
            ("10.0.1.10", 5000, Some(22), Some(TCP), "node", "n1"),
            ("10.0.1.10", 5000, None, None, "node", "n1"),
            ("10.0.1.10", 5000, Some(9100), None, "node", "n1"),
            // Two pods declared 8080 in turn (a rollout): each in its own time.
            (
                "10.0.1.10",
                2000,
                Some(8080),
                Some(TCP),
                "hostnet",
                "old-agent",
            ),
            (
                "10.0.1.10",
                3009,
                Some(8080),
                Some(TCP),
                "hostnet",
                "old-agent",
            ),
            (
                "10.0.1.10",
                3010,
                Some(8080),
                Some(TCP),
                "hostnet",
                "new-agent",
            ),
            (
                "10.0.1.10",
                9000,
                Some(8080),
                Some(TCP),
                "hostnet",
                "new-agent",
            ),
            ("10.0.1.10", 400, Some(9100), Some(TCP), "node", "n1"),
            ("10.0.2.20", 5000, Some(53), Some(UDP), "hostnet", "dns"),
            ("10.0.2.20", 5000, Some(53), Some(TCP), "hostnet", "dns"),
            ("10.0.2.20", 5000, Some(9100), Some(TCP), "node", "n2"),
            // A hostNetwork pod answers on every address of its node.
            ("2600:1f18::14", 5000, Some(53), Some(UDP), "hostnet", "dns"),
            ("2600:1f18::14", 5000, Some(80), Some(TCP), "node", "n2"),
            // Fargate: the pod's IP is also its node's InternalIP; the pod wins.
            ("10.0.3.30", 5000, None, None, "pod", "worker"),
            ("10.0.3.30", 100, None, None, "node", "fargate"),
            ("10.0.9.9", 1500, None, None, "pod", "orphan"),
            ("192.168.1.1", 5000, None, None, "unknown", ""),
            ("2600:1f18::ff", 5000, None, None, "unknown", ""),
        ];
        for &(ip, at, port, protocol, kind, name) in cases {
            let got = who(index.lookup(ip.parse().unwrap(), at, port, protocol));
            assert_eq!(
                got,
                (kind, name.to_owned()),
                "{ip} at {at} port {port:?}/{protocol:?}"
            );
        }
    }

    #[test]
    fn endpoints_carry_their_node_and_zone() {
        let index = index();
        let lookup = |ip: &str, port| index.lookup(ip.parse().unwrap(), 5000, port, Some(TCP));
        // (endpoint, node, zone, zone id, pod)
        let cases = [
            (
                lookup("10.0.0.5", None),
                Some("n2"),
                Some("us-east-1b"),
                None,
                Some("b"),
            ),
            (
                lookup("10.0.3.30", None),
                Some("fargate"),
                Some("us-east-1c"),
                Some("use1-az4"),
                Some("worker"),
            ),
            (
                lookup("10.0.1.10", Some(9100)),
                Some("n1"),
                Some("us-east-1a"),
                Some("use1-az1"),
                Some("exporter"),
            ),
            (
                lookup("10.0.1.10", Some(1)),
                Some("n1"),
                Some("us-east-1a"),
                Some("use1-az1"),
                None,
            ),
            // A pod whose node left the cluster: no zone.
            (
                index.lookup("10.0.9.9".parse().unwrap(), 1500, None, None),
                None,
                None,
                None,
                Some("orphan"),
            ),
            (lookup("192.168.1.1", None), None, None, None, None),
        ];
        for (endpoint, node, zone, zone_id, pod) in cases {
            assert_eq!(
                endpoint.node().map(|n| n.name.as_str()),
                node,
                "{endpoint:?}"
            );
            assert_eq!(endpoint.zone(), zone, "{endpoint:?}");
            assert_eq!(endpoint.zone_id(), zone_id, "{endpoint:?}");
            assert_eq!(endpoint.pod().map(|p| p.name.as_str()), pod, "{endpoint:?}");
        }
    }

    #[test]
    fn memo_renders_once_per_endpoint_and_slot() {
        let index = index();
        let calls = std::cell::Cell::new(0);
        let render = |endpoint: &Endpoint<'_>, slot: usize| {
            calls.set(calls.get() + 1);
            format!("{}/{slot}", endpoint.pod().map_or("-", |p| p.name.as_str()))
        };
        let pod = lookup_in(&index, "10.0.0.5", 1500);
        let node = index.lookup("10.0.1.10".parse().unwrap(), 5000, Some(22), Some(TCP));
        assert!(matches!(node, Endpoint::Node(_)), "{node:?}");
        for _ in 0..3 {
            for slot in 0..MEMO_SLOTS {
                assert_eq!(
                    index.memo(&pod, slot, || render(&pod, slot)),
                    Some(format!("{}/{slot}", pod.pod().unwrap().name).as_str())
                );
                assert_eq!(
                    index.memo(&node, slot, || render(&node, slot)),
                    Some(format!("-/{slot}").as_str())
                );
            }
        }
        assert_eq!(calls.get(), 2 * MEMO_SLOTS);
        // Another pod on the same node has slots of its own.
        let other = lookup_in(&index, "10.0.0.6", 1500);
        assert_ne!(other, pod);
        assert_eq!(index.memo(&other, 0, || "other".into()), Some("other"));
        assert_eq!(index.memo(&pod, MEMO_SLOTS, || "x".into()), None);
        assert_eq!(index.memo(&Endpoint::Unknown, 0, || "x".into()), None);
        // An equal endpoint from another index is that index's, not this one's.
        let twin = PodIndex::new(index.snapshot().clone());
        let foreign = lookup_in(&twin, "10.0.0.5", 1500);
        assert_eq!(foreign, pod);
        assert_eq!(index.memo(&foreign, 0, || "x".into()), None);
        assert_eq!(calls.get(), 2 * MEMO_SLOTS);
    }

    fn lookup_in<'i>(index: &'i PodIndex, ip: &str, at: i64) -> Endpoint<'i> {
        index.lookup(ip.parse().unwrap(), at, None, None)
    }

    #[test]
    fn the_index_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PodIndex>();
        let index = index();
        assert_eq!(index.snapshot().pods.len(), 16);
        assert_eq!(index.snapshot().generated_at, GENERATED_AT);
    }

    #[test]
    fn an_empty_snapshot_knows_nobody() {
        let index = PodIndex::new(Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            cluster: "c".into(),
            generated_at: 0,
            nodes: vec![],
            pods: vec![],
        });
        assert_eq!(
            index.lookup("10.0.0.1".parse().unwrap(), 0, Some(80), Some(TCP)),
            Endpoint::Unknown
        );
    }
}

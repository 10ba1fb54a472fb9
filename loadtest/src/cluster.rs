//! The synthetic cluster: zones, nodes, ENIs, workloads and pod timelines, from a seed.
//!
//! This module owns the generator's knowledge of who held which IP when (design §4, §9): the
//! ground truth is computed from it with [`Cluster::attribute`], so it must never consult
//! anything derived from flow records. It does no I/O; the Kubernetes JSON views live in `kube`.
//!
//! Time model: a pod holds its IP from its `start` (`status.startTime`) until a later pod on the
//! same IP starts (design §4), also after it was deleted; a Job pod stops holding it when it
//! completes (Succeeded pods own no IP, though they keep showing the stale `podIP`). Every pod
//! that starts runs at least [`MIN_POD_LIFETIME_SECS`], so a one-minute extractor sees it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::fasthash::FastMap;
use crate::rng::Rng;
use crate::spec::{ClusterSpec, SpecError};

/// Region of every generated resource.
pub const REGION: &str = "us-east-1";
/// AWS account that owns the VPC and the ENIs.
pub const ACCOUNT_ID: &str = "123456789012";
/// The VPC of the cluster (10.0.0.0/16, one /19 per zone).
pub const VPC_ID: &str = "vpc-0a1b2c3d4e5f60718";
/// At most six zones: us-east-1 has six (a-f).
pub const MAX_ZONES: usize = 6;
/// Zone IDs in zone-name order. Deliberately not `az1, az2, …`: AWS maps names to IDs per
/// account, and a processor that confuses the two must fail the verification.
const ZONE_IDS: [&str; MAX_ZONES] = [
    "use1-az4", "use1-az6", "use1-az1", "use1-az2", "use1-az3", "use1-az5",
];
const ZONE_LETTERS: [char; MAX_ZONES] = ['a', 'b', 'c', 'd', 'e', 'f'];
/// Addresses per node block inside its zone's /19: node IP, a second ENI, then pod IPs.
const NODE_BLOCK: u32 = 64;
/// Node blocks per zone: a /19 holds 128 blocks, the first is left to the subnet's reserved IPs.
pub const MAX_NODES_PER_ZONE: usize = 127;
/// Offset of the node IP (= primary IP of ENI 0) inside the node block.
const NODE_IP_OFFSET: u32 = 4;
/// Offset of the primary IP of the node's second ENI.
const ENI1_IP_OFFSET: u32 = 5;
/// Pod IPs are offsets `POD_IP_FIRST..NODE_BLOCK`; those from `ENI1_POD_FIRST` sit on ENI 1.
const POD_IP_FIRST: u32 = 8;
const ENI1_POD_FIRST: u32 = 36;
/// Shortest life of any pod that starts: longer than the extractor's one-minute period.
pub const MIN_POD_LIFETIME_SECS: i64 = 120;
/// EC2 instance types the nodes are drawn from.
const INSTANCE_TYPES: [&str; 4] = ["m5.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large"];

/// An Availability Zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Zone name, e.g. `us-east-1a` (`topology.kubernetes.io/zone`).
    pub name: String,
    /// Zone ID, e.g. `use1-az4` (`topology.k8s.aws/zone-id`, flow-log `az-id`).
    pub id: String,
    /// The cluster's subnet in this zone.
    pub subnet_id: String,
}

/// An EC2 worker node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `ip-10-0-…​.ec2.internal`, as EKS names nodes.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// Index into [`Cluster::zones`].
    pub zone: usize,
    /// `i-…`, also in `spec.providerID`.
    pub instance_id: String,
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: String,
    /// Node IPv4 (InternalIP), the primary IP of ENI 0.
    pub ip: Ipv4Addr,
    /// Node IPv6 (a second InternalIP), ENI 0's IPv6 address.
    pub ipv6: Ipv6Addr,
    /// Indexes into [`Cluster::enis`]: primary ENI first.
    pub enis: [usize; 2],
    /// `metadata.creationTimestamp` (epoch s).
    pub created: i64,
}

/// An elastic network interface: flow logs record per ENI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eni {
    /// `eni-…` (flow-log `interface-id`).
    pub id: String,
    /// Index into [`Cluster::nodes`].
    pub node: usize,
    /// The ENI's primary private IPv4 (flow-log `srcaddr`/`dstaddr` on its side).
    pub primary_ip: Ipv4Addr,
    /// The ENI's IPv6 address, if any (ENI 0 only).
    pub ipv6: Option<Ipv6Addr>,
    /// Offset in seconds of this ENI's aggregation windows: windows are not aligned across ENIs.
    pub window_phase: i64,
}

/// Kind of a generated workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// Pods owned by ReplicaSet `<name>-<pod-template-hash>`.
    Deployment,
    /// Pods `<name>-<ordinal>`.
    StatefulSet,
    /// One pod per node.
    DaemonSet,
    /// Jobs `<name>-<scheduled minute>`, each with one pod.
    CronJob,
}

impl WorkloadKind {
    /// The name rows and the snapshot use.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::CronJob => "CronJob",
        }
    }
}

/// A port a workload's container declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    /// Port number (for hostNetwork pods also the `hostPort`).
    pub port: u16,
    /// IANA protocol: 6 TCP, 17 UDP.
    pub protocol: u8,
}

/// A workload (the owner a row names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid` of the workload object.
    pub uid: String,
    /// Value of the pods' `app` label.
    pub app: String,
    /// `spec.hostNetwork` of its pods.
    pub host_network: bool,
    /// Declared container ports.
    pub ports: Vec<ContainerPort>,
    /// Container image.
    pub image: String,
    /// `pod-template-hash` (Deployment) or `controller-revision-hash` suffix (others).
    pub revision_hash: String,
}

/// The Job a CronJob pod belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// `<cronjob>-<scheduled time in minutes>`, as the CronJob controller names Jobs.
    pub name: String,
    /// `metadata.uid` of the Job.
    pub uid: String,
}

/// A pod and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.name`.
    pub name: String,
    /// Index into [`Cluster::workloads`].
    pub workload: usize,
    /// Index into [`Cluster::nodes`].
    pub node: usize,
    /// `status.podIP`; the node IP for hostNetwork pods.
    pub ip: Ipv4Addr,
    /// `metadata.creationTimestamp` (epoch s).
    pub created: i64,
    /// `status.startTime` (epoch s): holds its IP from then on.
    pub start: i64,
    /// When it stopped running (deleted, or completed for a Job pod); `None` = still running.
    pub end: Option<i64>,
    /// When it left the API; `None` = still listed (Succeeded Job pods stay listed).
    pub deleted: Option<i64>,
    /// A Job pod: `Succeeded` from `end` on.
    pub completes: bool,
    /// The Job of a CronJob pod.
    pub job: Option<JobRun>,
}

/// Who an address is at a given time (design §4, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A non-hostNetwork pod (index into [`Cluster::pods`]).
    Pod(usize),
    /// A hostNetwork pod that declares the flow's port (index into [`Cluster::pods`]).
    HostNet(usize),
    /// A node IP with no hostNetwork pod declaring the port (index into [`Cluster::nodes`]).
    Node(usize),
    /// Anything else: internet, a freed IP, an ENI's own primary IP.
    Unknown,
}

/// A generated cluster with the full history of its pods over `[start, end)`.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Cluster name.
    pub name: String,
    /// The seed it was generated from.
    pub seed: u64,
    /// Start of the generated window (epoch s).
    pub start: i64,
    /// End of the generated window (epoch s, exclusive).
    pub end: i64,
    /// Zones, in name order.
    pub zones: Vec<Zone>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// ENIs (two per node).
    pub enis: Vec<Eni>,
    /// Namespaces in use.
    pub namespaces: Vec<String>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Every pod that existed during the window (and Job pods from just before it).
    pub pods: Vec<Pod>,
    /// Non-hostNetwork pods per IP, sorted by start.
    by_ip: FastMap<Ipv4Addr, Vec<usize>>,
    /// Node per node IP (v4 and v6).
    node_by_ip: FastMap<IpAddr, usize>,
    /// hostNetwork pods per node.
    hostnet_by_node: Vec<Vec<usize>>,
}

/// Generate a cluster from `spec` whose pods churn over `[start, end)` (epoch seconds).
pub fn generate_cluster(spec: &ClusterSpec, start: i64, end: i64) -> Result<Cluster, SpecError> {
    spec.validate()?;
    if end <= start {
        return Err(SpecError::new("end", "must be after start"));
    }
    let mut builder = crate::build::Builder::new(spec, start, end);
    builder.run();
    Ok(builder.finish())
}

/// The generated pieces of a cluster, before indexing.
pub(crate) struct Parts {
    pub(crate) zones: Vec<Zone>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) enis: Vec<Eni>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) pods: Vec<Pod>,
}

impl Cluster {
    /// Assemble a cluster and its indexes (used by the builder).
    pub(crate) fn assemble(spec: &ClusterSpec, start: i64, end: i64, parts: Parts) -> Cluster {
        let Parts {
            zones,
            nodes,
            enis,
            namespaces,
            workloads,
            pods,
        } = parts;
        let mut by_ip: FastMap<Ipv4Addr, Vec<usize>> = FastMap::default();
        let mut hostnet_by_node = vec![Vec::new(); nodes.len()];
        for (i, pod) in pods.iter().enumerate() {
            if workloads[pod.workload].host_network {
                hostnet_by_node[pod.node].push(i);
            } else {
                by_ip.entry(pod.ip).or_default().push(i);
            }
        }
        for list in by_ip.values_mut() {
            list.sort_by_key(|&i| (pods[i].start, i));
        }
        let mut node_by_ip = FastMap::default();
        for (i, node) in nodes.iter().enumerate() {
            node_by_ip.insert(IpAddr::V4(node.ip), i);
            node_by_ip.insert(IpAddr::V6(node.ipv6), i);
        }
        Cluster {
            name: spec.name.clone(),
            seed: spec.seed,
            start,
            end,
            zones,
            nodes,
            enis,
            namespaces,
            workloads,
            pods,
            by_ip,
            node_by_ip,
            hostnet_by_node,
        }
    }

    /// The non-hostNetwork pod holding `ip` at `at`, by the rule of design §4.
    pub fn holder(&self, ip: Ipv4Addr, at: i64) -> Option<usize> {
        let list = self.by_ip.get(&ip)?;
        let after = list.partition_point(|&i| self.pods[i].start <= at);
        let pod = *list.get(after.checked_sub(1)?)?;
        let p = &self.pods[pod];
        match p.end {
            Some(end) if p.completes && end <= at => None,
            _ => Some(pod),
        }
    }

    /// Attribute one side of a flow: `port` is that side's port (source port for the source).
    pub fn attribute(&self, ip: IpAddr, port: u16, protocol: u8, at: i64) -> Endpoint {
        if let Some(&node) = self.node_by_ip.get(&ip) {
            let declared = self.hostnet_by_node[node].iter().copied().find(|&p| {
                let pod = &self.pods[p];
                pod.start <= at
                    && self.workloads[pod.workload]
                        .ports
                        .iter()
                        .any(|c| c.port == port && c.protocol == protocol)
            });
            return declared.map_or(Endpoint::Node(node), Endpoint::HostNet);
        }
        match ip {
            IpAddr::V4(v4) => self.holder(v4, at).map_or(Endpoint::Unknown, Endpoint::Pod),
            IpAddr::V6(_) => Endpoint::Unknown,
        }
    }

    /// The zone (index into [`Cluster::zones`]) of an endpoint, `None` for unknown.
    pub fn zone_of(&self, endpoint: Endpoint) -> Option<usize> {
        match endpoint {
            Endpoint::Pod(p) | Endpoint::HostNet(p) => Some(self.nodes[self.pods[p].node].zone),
            Endpoint::Node(n) => Some(self.nodes[n].zone),
            Endpoint::Unknown => None,
        }
    }

    /// The truth key of an endpoint (kind, namespace, pod, workload, zone ID).
    pub fn endpoint_key(&self, endpoint: Endpoint) -> crate::truth::EndpointKey {
        let zone_id = self.zone_of(endpoint).map(|z| self.zones[z].id.clone());
        match endpoint {
            Endpoint::Pod(p) | Endpoint::HostNet(p) => {
                let pod = &self.pods[p];
                let workload = &self.workloads[pod.workload];
                let kind = if matches!(endpoint, Endpoint::Pod(_)) {
                    "pod"
                } else {
                    "hostnet"
                };
                crate::truth::EndpointKey {
                    kind: kind.to_string(),
                    namespace: Some(workload.namespace.clone()),
                    pod: Some(pod.name.clone()),
                    workload: Some(workload.name.clone()),
                    zone_id,
                }
            }
            Endpoint::Node(_) | Endpoint::Unknown => crate::truth::EndpointKey {
                kind: if endpoint == Endpoint::Unknown {
                    "unknown"
                } else {
                    "node"
                }
                .to_string(),
                namespace: None,
                pod: None,
                workload: None,
                zone_id,
            },
        }
    }

    /// The node owning an IP (node IPs, ENI primary IPs and every pod IP of its block).
    pub fn node_of_ip(&self, ip: IpAddr) -> Option<usize> {
        if let Some(&n) = self.node_by_ip.get(&ip) {
            return Some(n);
        }
        let IpAddr::V4(v4) = ip else { return None };
        let offset = u32::from(v4).checked_sub(u32::from(VPC_BASE))?;
        let zone = (offset / ZONE_SIZE) as usize;
        let block = (offset % ZONE_SIZE) / NODE_BLOCK;
        let index = (block as usize).checked_sub(1)?;
        let node = index * self.zones.len() + zone;
        (zone < self.zones.len() && node < self.nodes.len()).then_some(node)
    }

    /// The ENI (index into [`Cluster::enis`]) that carries `ip` on its node.
    pub fn eni_of_ip(&self, ip: IpAddr) -> Option<usize> {
        let node = self.node_of_ip(ip)?;
        let enis = self.nodes[node].enis;
        let IpAddr::V4(v4) = ip else {
            return Some(enis[0]);
        };
        let offset = u32::from(v4)
            .wrapping_sub(u32::from(self.nodes[node].ip))
            .wrapping_add(NODE_IP_OFFSET);
        Some(if offset == ENI1_IP_OFFSET || offset >= ENI1_POD_FIRST {
            enis[1]
        } else {
            enis[0]
        })
    }

    /// hostNetwork pods per node (indexes into [`Cluster::pods`]).
    pub fn hostnet_pods(&self, node: usize) -> &[usize] {
        &self.hostnet_by_node[node]
    }

    /// IPs held by a pod with a gap before the next holder: `(ip, from, to)` with no running pod
    /// on `ip` during `[from, to)` (`to` is the window end when nobody takes the IP again).
    pub fn ip_gaps(&self) -> Vec<(Ipv4Addr, i64, i64)> {
        let mut gaps = Vec::new();
        for (&ip, list) in &self.by_ip {
            for (k, &i) in list.iter().enumerate() {
                let Some(end) = self.pods[i].end else {
                    continue;
                };
                let next = list.get(k + 1).map_or(self.end, |&j| self.pods[j].start);
                if next > end {
                    gaps.push((ip, end, next));
                }
            }
        }
        gaps.sort_unstable();
        gaps
    }
}

/// First address of the VPC.
pub(crate) const VPC_BASE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
/// Addresses per zone subnet (/19).
pub(crate) const ZONE_SIZE: u32 = 8192;

/// Zone `z` of the cluster.
pub(crate) fn make_zone(z: usize, rng: &mut Rng) -> Zone {
    Zone {
        name: format!("{REGION}{}", ZONE_LETTERS[z]),
        id: ZONE_IDS[z].to_string(),
        subnet_id: format!("subnet-{:017x}", rng.next_u64() >> 4),
    }
}

/// Node `i` (in zone `i % zones`), its two ENIs appended to `enis`.
pub(crate) fn make_node(index: usize, zones: usize, enis: &mut Vec<Eni>, rng: &mut Rng) -> Node {
    let zone = index % zones;
    let slot = index / zones;
    let base = u32::from(VPC_BASE) + zone as u32 * ZONE_SIZE + (slot as u32 + 1) * NODE_BLOCK;
    let ip = Ipv4Addr::from(base + NODE_IP_OFFSET);
    let ipv6 = Ipv6Addr::new(
        0x2600,
        0x1f18,
        0x4c0f,
        0x0a00 + zone as u16,
        0,
        0,
        0,
        slot as u16 + 1,
    );
    let [o1, o2, o3, o4] = ip.octets();
    let first = enis.len();
    for (k, primary) in [ip, Ipv4Addr::from(base + ENI1_IP_OFFSET)]
        .into_iter()
        .enumerate()
    {
        enis.push(Eni {
            id: format!("eni-{:017x}", rng.next_u64() >> 4),
            node: index,
            primary_ip: primary,
            ipv6: (k == 0).then_some(ipv6),
            window_phase: 0,
        });
    }
    Node {
        name: format!("ip-{o1}-{o2}-{o3}-{o4}.ec2.internal"),
        uid: uuid(rng),
        zone,
        instance_id: format!("i-{:017x}", rng.next_u64() >> 4),
        instance_type: INSTANCE_TYPES[rng.index(INSTANCE_TYPES.len())].to_string(),
        ip,
        ipv6,
        enis: [first, first + 1],
        created: 0,
    }
}

/// The pod IP at `offset` (in `POD_IP_FIRST..NODE_BLOCK`) of a node.
pub(crate) fn pod_ip(node: &Node, offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(node.ip) - NODE_IP_OFFSET + offset)
}

/// Range of pod-IP offsets in a node block.
pub(crate) const POD_IP_OFFSETS: std::ops::Range<u32> = POD_IP_FIRST..NODE_BLOCK;

/// A random RFC 4122 version-4 UUID string.
pub(crate) fn uuid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// `n` characters of Kubernetes' random-suffix alphabet (no vowels, no look-alikes).
pub(crate) fn suffix(rng: &mut Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[rng.index(ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ClusterSpec;

    const START: i64 = 1_767_225_600;

    fn cluster() -> Cluster {
        generate_cluster(&ClusterSpec::default(), START, START + 7200).unwrap()
    }

    #[test]
    fn a_replaced_pod_holds_its_ip_until_the_next_pod_starts() {
        let c = cluster();
        let mut checked = 0;
        for (i, p) in c.pods.iter().enumerate() {
            let (Some(end), false) = (p.end, p.completes) else {
                continue;
            };
            let Some(next) = c
                .pods
                .iter()
                .position(|q| q.ip == p.ip && q.start > p.start && q.start <= end + 60)
            else {
                continue;
            };
            assert!(c.pods[next].start > end, "no overlap");
            assert_eq!(c.holder(p.ip, end - 1), Some(i));
            assert_eq!(
                c.holder(p.ip, end),
                Some(i),
                "deleted pods keep the IP (design §4)"
            );
            assert_eq!(c.holder(p.ip, c.pods[next].start - 1), Some(i));
            assert_eq!(c.holder(p.ip, c.pods[next].start), Some(next));
            checked += 1;
        }
        assert!(checked >= 30, "{checked} reuses");
    }

    #[test]
    fn a_completed_job_pod_owns_no_ip() {
        let c = cluster();
        let mut checked = 0;
        for (i, p) in c.pods.iter().enumerate() {
            let (Some(end), true) = (p.end, p.completes) else {
                continue;
            };
            assert_eq!(c.holder(p.ip, p.start), Some(i));
            assert_eq!(c.holder(p.ip, end - 1), Some(i));
            assert_ne!(c.holder(p.ip, end), Some(i));
            checked += 1;
        }
        assert!(checked >= 4, "{checked} job pods");
    }

    #[test]
    fn node_ips_are_hostnet_only_on_a_declared_port_and_protocol() {
        let c = cluster();
        let node = 0;
        let ip = IpAddr::V4(c.nodes[node].ip);
        let exporter = c
            .hostnet_pods(node)
            .iter()
            .copied()
            .find(|&p| c.pods[p].name.starts_with("node-exporter"));
        let cases = [
            (
                (9100, 6),
                exporter.map_or(Endpoint::Node(node), Endpoint::HostNet),
            ),
            ((9100, 17), Endpoint::Node(node)),
            ((10_250, 6), Endpoint::Node(node)),
            ((40_000, 6), Endpoint::Node(node)),
        ];
        assert!(exporter.is_some());
        for ((port, protocol), want) in cases {
            assert_eq!(
                c.attribute(ip, port, protocol, START),
                want,
                "{port}/{protocol}"
            );
        }
        assert_eq!(
            c.attribute(IpAddr::V6(c.nodes[node].ipv6), 22, 6, START),
            Endpoint::Node(node)
        );
        assert_eq!(
            c.attribute("52.216.1.2".parse().unwrap(), 443, 6, START),
            Endpoint::Unknown
        );
        // The second ENI's primary IP is neither a node IP nor a pod IP.
        let eni1 = IpAddr::V4(c.enis[c.nodes[node].enis[1]].primary_ip);
        assert_eq!(c.attribute(eni1, 80, 6, START), Endpoint::Unknown);
        assert_eq!(c.eni_of_ip(eni1), Some(c.nodes[node].enis[1]));
        assert_eq!(c.eni_of_ip(ip), Some(c.nodes[node].enis[0]));
    }
}

//! What to generate: the cluster and traffic specifications, their defaults and validation.
//!
//! Plain data with named defaults; nothing here generates anything.

use thiserror::Error;

use crate::cluster::{MAX_NODES_PER_ZONE, MAX_ZONES};
use crate::format::RECOMMENDED_FORMAT;

/// Default seed: any fixed number; the same seed always gives the same cluster and records.
pub const DEFAULT_SEED: u64 = 20_240_501;
/// Default aggregation window: the 60 s `MaxAggregationInterval` the design asks for (AWS
/// default is 600 s; Nitro instances always aggregate at 60 s or less).
pub const DEFAULT_AGGREGATION_SECS: i64 = 60;
/// Default conversations per minute: a small cluster's worth (~2,000 records a minute).
pub const DEFAULT_FLOWS_PER_MINUTE: usize = 400;
/// Default share of conversations between different zones.
pub const DEFAULT_CROSS_AZ_SHARE: f64 = 0.4;

/// A specification could not be used: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid spec field `{field}`: {reason}")]
pub struct SpecError {
    /// The offending field.
    pub field: &'static str,
    /// Why it is refused.
    pub reason: String,
}

impl SpecError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        SpecError {
            field,
            reason: reason.into(),
        }
    }
}

/// The shape of the synthetic cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Seed of every random choice.
    pub seed: u64,
    /// Cluster name.
    pub name: String,
    /// Availability Zones (1 to 6).
    pub zones: usize,
    /// Worker nodes, spread round-robin over the zones.
    pub nodes: usize,
    /// Application namespaces (DaemonSets live in `kube-system`).
    pub namespaces: usize,
    /// Deployments.
    pub deployments: usize,
    /// Replicas per Deployment.
    pub pods_per_deployment: usize,
    /// StatefulSets.
    pub statefulsets: usize,
    /// Replicas per StatefulSet.
    pub pods_per_statefulset: usize,
    /// Ordinary (pod-network) DaemonSets.
    pub daemonsets: usize,
    /// hostNetwork DaemonSets, each declaring its own ports.
    pub hostnet_daemonsets: usize,
    /// CronJobs; each runs a one-pod Job every 15 minutes.
    pub jobs: usize,
    /// Deployment/StatefulSet pods replaced per hour; each replacement reuses the IP on the same
    /// node within a minute, half the time for a pod of another workload.
    pub churn_per_hour: usize,
}

impl Default for ClusterSpec {
    /// A small realistic cluster: 3 zones, 6 nodes, about 60 pods.
    fn default() -> Self {
        ClusterSpec {
            seed: DEFAULT_SEED,
            name: "loadtest".to_string(),
            zones: 3,
            nodes: 6,
            namespaces: 4,
            deployments: 8,
            pods_per_deployment: 4,
            statefulsets: 2,
            pods_per_statefulset: 3,
            daemonsets: 1,
            hostnet_daemonsets: 2,
            jobs: 2,
            churn_per_hour: 30,
        }
    }
}

impl ClusterSpec {
    /// Refuse specs the generator cannot honour.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(1..=MAX_ZONES).contains(&self.zones) {
            return Err(SpecError::new("zones", format!("must be 1 to {MAX_ZONES}")));
        }
        if self.nodes == 0 || self.nodes > self.zones * MAX_NODES_PER_ZONE {
            return Err(SpecError::new(
                "nodes",
                format!(
                    "must be 1 to {} for {} zones",
                    self.zones * MAX_NODES_PER_ZONE,
                    self.zones
                ),
            ));
        }
        if self.namespaces == 0 {
            return Err(SpecError::new("namespaces", "must be at least 1"));
        }
        if self.hostnet_daemonsets > crate::build::HOSTNET_DAEMONSETS.len() {
            return Err(SpecError::new(
                "hostnet_daemonsets",
                format!("at most {}", crate::build::HOSTNET_DAEMONSETS.len()),
            ));
        }
        let per_node = (self.deployments * self.pods_per_deployment
            + self.statefulsets * self.pods_per_statefulset)
            .div_ceil(self.nodes)
            + self.daemonsets
            + self.jobs;
        // Leave room on every node for replacements and IP reuse.
        if per_node > crate::build::POD_CAPACITY_PER_NODE {
            return Err(SpecError::new(
                "nodes",
                format!(
                    "too few for the pods: ~{per_node} per node, at most {}",
                    crate::build::POD_CAPACITY_PER_NODE
                ),
            ));
        }
        Ok(())
    }
}

/// Relative weights of conversation types (need not sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficMix {
    /// Pod to pod on different nodes (both directions recorded).
    pub pod_to_pod: f64,
    /// Pod to a hostNetwork pod's declared port on another node, and its answer.
    pub pod_to_hostnet: f64,
    /// Node to node (kubelet, ssh, VXLAN; also a declared port with another protocol).
    pub node_to_node: f64,
    /// Pod to the internet, SNAT'd to the node IP, and the answer.
    pub internet: f64,
    /// IPv6 node to node and node to the internet.
    pub ipv6: f64,
    /// ICMP / ICMPv6 echo between nodes.
    pub icmp: f64,
    /// Rejected: internet scans of nodes (ingress) and pod to pod denied at the sender (egress).
    pub reject: f64,
    /// Pod to an IP in a reuse gap: a deleted pod's (still its, design §4) or a completed Job
    /// pod's (nobody's).
    pub stale_ip: f64,
    /// Pod to pod on the same node: never recorded (no ENI crossed).
    pub same_node: f64,
}

impl Default for TrafficMix {
    fn default() -> Self {
        TrafficMix {
            pod_to_pod: 0.55,
            pod_to_hostnet: 0.10,
            node_to_node: 0.06,
            internet: 0.08,
            ipv6: 0.04,
            icmp: 0.03,
            reject: 0.03,
            stale_ip: 0.04,
            same_node: 0.07,
        }
    }
}

/// The traffic to generate over a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficSpec {
    /// Seed of the traffic (independent of the cluster seed).
    pub seed: u64,
    /// First second of traffic (epoch s).
    pub start: i64,
    /// Length of the traffic window.
    pub duration_secs: i64,
    /// Conversations started per minute.
    pub flows_per_minute: usize,
    /// Share of zone-pair conversations whose ends are in different zones.
    pub cross_az_share: f64,
    /// Flow-log aggregation interval (60 or 600).
    pub aggregation_secs: i64,
    /// Flow-log fields, in order (names as in `${name}`, without `${}`).
    pub format: Vec<String>,
    /// Probability that an ENI writes a NODATA record for an aggregation window.
    pub nodata_share: f64,
    /// Probability that an ENI writes a SKIPDATA record for an aggregation window.
    pub skipdata_share: f64,
    /// Conversation types.
    pub mix: TrafficMix,
}

impl TrafficSpec {
    /// Defaults for a window starting at `start` and lasting `duration_secs`.
    pub fn new(start: i64, duration_secs: i64) -> Self {
        TrafficSpec {
            seed: DEFAULT_SEED,
            start,
            duration_secs,
            flows_per_minute: DEFAULT_FLOWS_PER_MINUTE,
            cross_az_share: DEFAULT_CROSS_AZ_SHARE,
            aggregation_secs: DEFAULT_AGGREGATION_SECS,
            format: RECOMMENDED_FORMAT.split(' ').map(str::to_string).collect(),
            nodata_share: 0.02,
            skipdata_share: 0.005,
            mix: TrafficMix::default(),
        }
    }

    /// Refuse specs the generator cannot honour.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.duration_secs <= 0 {
            return Err(SpecError::new("duration_secs", "must be positive"));
        }
        if !(0.0..=1.0).contains(&self.cross_az_share) {
            return Err(SpecError::new("cross_az_share", "must be within 0..=1"));
        }
        if self.aggregation_secs != 60 && self.aggregation_secs != 600 {
            return Err(SpecError::new(
                "aggregation_secs",
                "flow logs aggregate over 60 or 600 s",
            ));
        }
        if self.format.is_empty() {
            return Err(SpecError::new("format", "needs at least one field"));
        }
        for (field, p) in [
            ("nodata_share", self.nodata_share),
            ("skipdata_share", self.skipdata_share),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(SpecError::new(field, "must be within 0..=1"));
            }
        }
        let m = &self.mix;
        let weights = [
            m.pod_to_pod,
            m.pod_to_hostnet,
            m.node_to_node,
            m.internet,
            m.ipv6,
            m.icmp,
            m.reject,
            m.stale_ip,
            m.same_node,
        ];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return Err(SpecError::new(
                "mix",
                "weights must be finite, non-negative, not all zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ClusterSpec::default().validate(), Ok(()));
        assert_eq!(TrafficSpec::new(0, 3600).validate(), Ok(()));
    }

    #[test]
    fn bad_specs_name_their_field() {
        let cases: Vec<(ClusterSpec, &str)> = vec![
            (
                ClusterSpec {
                    zones: 0,
                    ..ClusterSpec::default()
                },
                "zones",
            ),
            (
                ClusterSpec {
                    zones: 7,
                    ..ClusterSpec::default()
                },
                "zones",
            ),
            (
                ClusterSpec {
                    nodes: 0,
                    ..ClusterSpec::default()
                },
                "nodes",
            ),
            (
                ClusterSpec {
                    nodes: 1,
                    deployments: 40,
                    ..ClusterSpec::default()
                },
                "nodes",
            ),
            (
                ClusterSpec {
                    namespaces: 0,
                    ..ClusterSpec::default()
                },
                "namespaces",
            ),
            (
                ClusterSpec {
                    hostnet_daemonsets: 99,
                    ..ClusterSpec::default()
                },
                "hostnet_daemonsets",
            ),
        ];
        for (spec, field) in cases {
            assert_eq!(spec.validate().map_err(|e| e.field), Err(field));
        }
        let traffic = [
            (
                TrafficSpec {
                    duration_secs: 0,
                    ..TrafficSpec::new(0, 1)
                },
                "duration_secs",
            ),
            (
                TrafficSpec {
                    cross_az_share: 1.5,
                    ..TrafficSpec::new(0, 1)
                },
                "cross_az_share",
            ),
            (
                TrafficSpec {
                    aggregation_secs: 30,
                    ..TrafficSpec::new(0, 1)
                },
                "aggregation_secs",
            ),
            (
                TrafficSpec {
                    format: vec![],
                    ..TrafficSpec::new(0, 1)
                },
                "format",
            ),
            (
                TrafficSpec {
                    nodata_share: -1.0,
                    ..TrafficSpec::new(0, 1)
                },
                "nodata_share",
            ),
        ];
        for (spec, field) in traffic {
            assert_eq!(spec.validate().map_err(|e| e.field), Err(field));
        }
    }
}

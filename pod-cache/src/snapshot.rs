//! The snapshot document (design §5): what the extractor writes and every processor reads.
//!
//! It owns the data model and its versioned serialization only; building it from Kubernetes
//! objects, merging and indexing live in sibling modules.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Value of [`Snapshot::format`]: lets a reader reject a document that is not a snapshot.
pub const SNAPSHOT_FORMAT: &str = "crossaz.pod-snapshot";
/// Current version of the document layout; bumped on any incompatible change.
pub const SNAPSHOT_VERSION: u32 = 1;

/// One observation of a cluster's nodes and pods, plus pods retained from earlier observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// Always [`SNAPSHOT_VERSION`] for documents this build writes.
    pub version: u32,
    /// EKS cluster name.
    pub cluster: String,
    /// When the cluster was observed (epoch seconds, UTC).
    pub generated_at: i64,
    /// Nodes present at `generated_at`.
    pub nodes: Vec<NodeInfo>,
    /// Pods present at `generated_at`, and vanished pods still inside the retention window.
    pub pods: Vec<PodInfo>,
}

/// A node: its addresses and where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `status.addresses` of type `InternalIP` (IPv4 and IPv6); traffic from hostNetwork pods
    /// and from the node itself carries these.
    pub ips: Vec<IpAddr>,
    /// `topology.kubernetes.io/zone`, e.g. `us-east-1a`.
    pub zone: Option<String>,
    /// `topology.k8s.aws/zone-id`, e.g. `use1-az1`; flow logs speak zone IDs.
    pub zone_id: Option<String>,
    /// EC2 instance ID from `spec.providerID` (`aws:///us-east-1a/i-0123…`).
    pub instance_id: Option<String>,
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: Option<String>,
    /// `eks.amazonaws.com/compute-type` (e.g. `fargate`, `auto`), absent for EC2 node groups.
    pub compute_type: Option<String>,
}

/// The kind of workload that owns a pod, resolved through owner references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// Through a ReplicaSet whose name is the Deployment's plus a pod-template hash.
    Deployment,
    /// A ReplicaSet with no Deployment above it.
    ReplicaSet,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// A Job not created by a CronJob.
    Job,
    /// A Job created by a CronJob (name minus the schedule suffix).
    CronJob,
    /// A static/mirror pod owned by its Node.
    Node,
    /// Any other owner kind (operators' custom resources).
    Other,
    /// No owner reference: a bare pod.
    Pod,
}

impl WorkloadKind {
    /// The name as written in rows and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Node => "Node",
            WorkloadKind::Other => "Other",
            WorkloadKind::Pod => "Pod",
        }
    }
}

/// A port a hostNetwork pod declares (`containerPort` or `hostPort`), used to tell which of the
/// pods sharing a node IP a flow belongs to (design §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeclaredPort {
    /// Port number.
    pub port: u16,
    /// IANA protocol number: 6 TCP, 17 UDP, 132 SCTP.
    pub protocol: u8,
}

/// A pod and everything a row says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Owning workload kind.
    pub workload_kind: WorkloadKind,
    /// Owning workload name (the pod's own name for bare pods).
    pub workload: String,
    /// Value of the configured app label (`app.kubernetes.io/name`, `app`, …), if set.
    pub app: Option<String>,
    /// `spec.nodeName`; absent while the pod is unscheduled.
    pub node: Option<String>,
    /// `status.podIPs` (IPv4 and IPv6). For hostNetwork pods these are the node's IPs.
    pub ips: Vec<IpAddr>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// Ports declared by the containers (only kept for hostNetwork pods).
    // `default` without `skip_serializing_if`: the binary codec is positional.
    #[serde(default)]
    pub ports: Vec<DeclaredPort>,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
    pub phase: String,
    /// `status.startTime` (epoch seconds): the pod holds its IP from then on.
    pub start_time: Option<i64>,
    /// For a Succeeded or Failed pod, when it stopped (the latest container `finishedAt`, or the
    /// first observation that saw it finished): it held its IP until then and none after.
    #[serde(default)]
    pub finished_at: Option<i64>,
    /// First observation by the extractor (epoch seconds).
    pub first_seen: i64,
    /// Last observation by the extractor (epoch seconds); older than the snapshot's
    /// `generated_at` for a pod that has vanished.
    pub last_seen: i64,
}

impl PodInfo {
    /// Succeeded and Failed pods keep a stale `podIP` that the CNI may have handed to another pod.
    pub fn is_terminated(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }
}

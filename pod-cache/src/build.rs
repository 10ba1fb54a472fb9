//! Building a [`Snapshot`] from Kubernetes objects (design §5).
//!
//! This module owns the translation of `core/v1` Pods and Nodes (k8s-openapi types, or the JSON
//! that `kubectl get -o json` and the API server print) into the snapshot model: owner-reference
//! resolution to a workload, the app label, node zones and instance IDs. It is pure: the caller
//! lists the objects and passes the observation time in. Looking up a missing zone ID in EC2 is the
//! extractor's job, not this module's: a node without `topology.k8s.aws/zone-id` gets `None`.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::Deserialize;

use crate::snapshot::{
    DeclaredPort, NodeInfo, PodInfo, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshot, WorkloadKind,
};

/// App label keys tried in order when none are configured: the recommended Kubernetes label,
/// then the two most common conventions (`app` as in the AWS sample, `k8s-app` in kube-system).
pub const DEFAULT_APP_LABEL_KEYS: [&str; 3] = ["app.kubernetes.io/name", "app", "k8s-app"];
/// Label the Deployment controller puts on every pod it creates; its value suffixes the ReplicaSet name.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Node label holding the AZ name (`us-east-1a`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Deprecated AZ name label, still set by older kubelets.
pub const LEGACY_ZONE_LABEL: &str = "failure-domain.beta.kubernetes.io/zone";
/// Node label holding the AZ ID (`use1-az1`), set by cloud-provider-aws on Kubernetes ~1.30+.
pub const ZONE_ID_LABEL: &str = "topology.k8s.aws/zone-id";
/// Node label holding the EC2 instance type.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
/// Node label set on Fargate and EKS Auto Mode nodes.
pub const COMPUTE_TYPE_LABEL: &str = "eks.amazonaws.com/compute-type";
/// A CronJob names its Jobs `<cronjob>-<minutes since the epoch>`: 8 digits from 1989 to 2160.
/// Requiring that many digits keeps a plain Job called `migrate-2` a Job.
const CRONJOB_SUFFIX_MIN_DIGITS: usize = 8;
/// The alphabet of Kubernetes' `rand.SafeEncodeString`, used for pod-template hashes.
const TEMPLATE_HASH_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// Longest pod-template hash (an FNV-32 value, safe-encoded).
const TEMPLATE_HASH_MAX_LEN: usize = 10;

/// What a build needs besides the objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// EKS cluster name written into the snapshot.
    pub cluster: String,
    /// Pod label keys whose first present value becomes [`PodInfo::app`].
    pub app_label_keys: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            cluster: String::new(),
            app_label_keys: DEFAULT_APP_LABEL_KEYS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
        }
    }
}

/// An object left out of the snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedObject {
    /// `Pod` or `Node`.
    pub kind: String,
    /// `namespace/name` for pods, the name for nodes, or `items[i]` when the name is unknown.
    pub name: String,
    /// What was wrong with it.
    pub reason: String,
}

/// Counts of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Pods written into the snapshot.
    pub pods: usize,
    /// Nodes written into the snapshot.
    pub nodes: usize,
    /// Pods with no IP yet (pending, unscheduled): nothing can be attributed to them, so they are
    /// left out, and counted here rather than reported as malformed.
    pub pods_without_ip: usize,
    /// Malformed objects left out.
    pub skipped: Vec<SkippedObject>,
}

/// A document that cannot be read as a list of pods or nodes.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Not JSON, or not an object with an `items` array.
    #[error("{expected} document is not valid JSON with an `items` array: {source}")]
    Json {
        /// The list kinds that were expected.
        expected: &'static str,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON document of another kind (a single object, a Table, a list of something else).
    #[error("expected a document of kind {expected}, found kind {found:?}")]
    NotAList {
        /// The list kinds that were expected.
        expected: &'static str,
        /// The document's `kind`, if any.
        found: Option<String>,
    },
}

/// Builds a snapshot of the pods and nodes observed at `observed_at` (epoch seconds).
///
/// Every pod gets `first_seen = last_seen = observed_at`; [`crate::merge::merge`] carries the
/// history over. Pods and nodes come out sorted by name so that snapshots diff well.
pub fn build_snapshot(
    opts: &BuildOptions,
    observed_at: i64,
    pods: &[Pod],
    nodes: &[Node],
) -> (Snapshot, BuildStats) {
    let mut stats = BuildStats::default();
    let mut node_infos = Vec::with_capacity(nodes.len());
    let mut node_names = HashSet::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        match node_info(node) {
            Ok(info) if !node_names.insert(info.name.clone()) => {
                stats.skipped.push(SkippedObject {
                    kind: "Node".into(),
                    name: info.name,
                    reason: "duplicate metadata.name".into(),
                });
            }
            Ok(info) => node_infos.push(info),
            Err(reason) => stats.skipped.push(skipped(
                "Node",
                node.metadata.name.as_deref(),
                None,
                i,
                reason,
            )),
        }
    }
    let mut pod_infos = Vec::with_capacity(pods.len());
    let mut uids = HashSet::with_capacity(pods.len());
    for (i, pod) in pods.iter().enumerate() {
        let meta = &pod.metadata;
        match pod_info(opts, observed_at, pod) {
            Ok(Some(info)) if !uids.insert(info.uid.clone()) => stats.skipped.push(SkippedObject {
                kind: "Pod".into(),
                name: format!("{}/{}", info.namespace, info.name),
                reason: format!("duplicate metadata.uid {}", info.uid),
            }),
            Ok(Some(info)) => pod_infos.push(info),
            Ok(None) => stats.pods_without_ip += 1,
            Err(reason) => stats.skipped.push(skipped(
                "Pod",
                meta.name.as_deref(),
                meta.namespace.as_deref(),
                i,
                reason,
            )),
        }
    }
    node_infos.sort_by(|a, b| a.name.cmp(&b.name));
    pod_infos.sort_by(|a, b| (&a.namespace, &a.name, &a.uid).cmp(&(&b.namespace, &b.name, &b.uid)));
    stats.pods = pod_infos.len();
    stats.nodes = node_infos.len();
    let snapshot = Snapshot {
        format: SNAPSHOT_FORMAT.to_owned(),
        version: SNAPSHOT_VERSION,
        cluster: opts.cluster.clone(),
        generated_at: observed_at,
        nodes: node_infos,
        pods: pod_infos,
    };
    (snapshot, stats)
}

fn skipped(
    kind: &str,
    name: Option<&str>,
    namespace: Option<&str>,
    index: usize,
    reason: String,
) -> SkippedObject {
    let name = match (namespace, name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.to_owned(),
        (_, None) => format!("items[{index}]"),
    };
    SkippedObject {
        kind: kind.to_owned(),
        name,
        reason,
    }
}

/// Reads `kubectl get pods -A -o json` output (kind `List`) or an API `PodList`.
///
/// Items that do not decode as a Pod are returned as [`SkippedObject`]s; only a document that is
/// not a pod list at all is an error.
pub fn pods_from_json(bytes: &[u8]) -> Result<(Vec<Pod>, Vec<SkippedObject>), BuildError> {
    items_from_json(bytes, "Pod", "PodList")
}

/// Reads `kubectl get nodes -o json` output (kind `List`) or an API `NodeList`.
pub fn nodes_from_json(bytes: &[u8]) -> Result<(Vec<Node>, Vec<SkippedObject>), BuildError> {
    items_from_json(bytes, "Node", "NodeList")
}

#[derive(Deserialize)]
struct RawList {
    kind: Option<String>,
    items: Vec<serde_json::Value>,
}

fn items_from_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    item_kind: &'static str,
    list_kind: &'static str,
) -> Result<(Vec<T>, Vec<SkippedObject>), BuildError> {
    let expected = if item_kind == "Pod" {
        "PodList or List"
    } else {
        "NodeList or List"
    };
    let list: RawList = match serde_json::from_slice(bytes) {
        Ok(list) => list,
        Err(source) => {
            // A well-formed document of another kind deserves a clearer message than "missing
            // field `items`".
            let kind = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| {
                    v.get("kind")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                });
            return match kind {
                Some(found) if found != "List" && found != list_kind => Err(BuildError::NotAList {
                    expected,
                    found: Some(found),
                }),
                _ => Err(BuildError::Json { expected, source }),
            };
        }
    };
    match list.kind.as_deref() {
        Some(kind) if kind == "List" || kind == list_kind => {}
        other => {
            return Err(BuildError::NotAList {
                expected,
                found: other.map(str::to_owned),
            });
        }
    }
    let mut objects = Vec::with_capacity(list.items.len());
    let mut skipped_items = Vec::new();
    for (i, item) in list.items.into_iter().enumerate() {
        let meta = item.get("metadata");
        let field = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(serde_json::Value::as_str)
        };
        let name = field("name").map(str::to_owned);
        let namespace = field("namespace").map(str::to_owned);
        let item_kind_found = item.get("kind").and_then(serde_json::Value::as_str);
        if let Some(found) = item_kind_found.filter(|k| *k != item_kind) {
            let reason = format!("kind is {found}, expected {item_kind}");
            skipped_items.push(skipped(
                item_kind,
                name.as_deref(),
                namespace.as_deref(),
                i,
                reason,
            ));
            continue;
        }
        match serde_json::from_value::<T>(item) {
            Ok(object) => objects.push(object),
            Err(e) => {
                let reason = format!("does not decode as a {item_kind}: {e}");
                skipped_items.push(skipped(
                    item_kind,
                    name.as_deref(),
                    namespace.as_deref(),
                    i,
                    reason,
                ));
            }
        }
    }
    Ok((objects, skipped_items))
}

fn node_info(node: &Node) -> Result<NodeInfo, String> {
    let name = node.metadata.name.clone().ok_or("missing metadata.name")?;
    let labels = node.metadata.labels.as_ref();
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let mut ips = Vec::new();
    for address in node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        if address.type_ == "InternalIP" {
            let ip: IpAddr = address.address.parse().map_err(|_| {
                format!(
                    "status.addresses: InternalIP {:?} is not an IP address",
                    address.address
                )
            })?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    let provider = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.as_deref())
        .map(parse_provider_id);
    let zone = label(ZONE_LABEL)
        .or_else(|| label(LEGACY_ZONE_LABEL))
        .or_else(|| provider.as_ref().and_then(|p| p.zone.clone()));
    Ok(NodeInfo {
        name,
        ips,
        zone,
        zone_id: label(ZONE_ID_LABEL),
        instance_id: provider.and_then(|p| p.instance_id),
        instance_type: label(INSTANCE_TYPE_LABEL),
        compute_type: label(COMPUTE_TYPE_LABEL),
    })
}

/// What `spec.providerID` says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProviderId {
    zone: Option<String>,
    instance_id: Option<String>,
}

/// Parses `aws:///us-east-1a/i-0abc…` (EC2) and `aws:///us-east-1a/<id>/fargate-ip-…` (Fargate).
/// A Fargate node is no EC2 instance of the account: its instance ID is `None`.
fn parse_provider_id(provider_id: &str) -> ProviderId {
    let Some(path) = provider_id.strip_prefix("aws://") else {
        return ProviderId {
            zone: None,
            instance_id: None,
        };
    };
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let zone = segments.next().map(str::to_owned);
    let instance_id = segments
        .next_back()
        .filter(|s| s.starts_with("i-"))
        .map(str::to_owned);
    ProviderId { zone, instance_id }
}

/// `Ok(None)`: a valid pod with no IP yet.
fn pod_info(opts: &BuildOptions, observed_at: i64, pod: &Pod) -> Result<Option<PodInfo>, String> {
    let meta = &pod.metadata;
    let name = meta.name.clone().ok_or("missing metadata.name")?;
    let namespace = meta.namespace.clone().ok_or("missing metadata.namespace")?;
    let uid = meta
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or("missing metadata.uid")?;
    let status = pod.status.as_ref();
    let mut ips = Vec::new();
    let listed = status
        .and_then(|s| s.pod_ips.as_ref())
        .filter(|l| !l.is_empty());
    let raw_ips: Vec<&str> = match listed {
        Some(list) => list.iter().map(|p| p.ip.as_str()).collect(),
        None => status
            .and_then(|s| s.pod_ip.as_deref())
            .into_iter()
            .collect(),
    };
    for raw in raw_ips.into_iter().filter(|r| !r.is_empty()) {
        let ip: IpAddr = raw
            .parse()
            .map_err(|_| format!("status.podIPs: {raw:?} is not an IP address"))?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        return Ok(None);
    }
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let node = spec
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let labels = meta.labels.as_ref();
    let (workload_kind, workload) = resolve_workload(
        &name,
        node.as_deref(),
        labels,
        meta.owner_references.as_deref(),
    );
    let ports = if host_network {
        let containers = spec.into_iter().flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        });
        declared_ports(containers)?
    } else {
        Vec::new()
    };
    Ok(Some(PodInfo {
        uid,
        namespace,
        name,
        workload_kind,
        workload,
        app: opts
            .app_label_keys
            .iter()
            .find_map(|key| labels.and_then(|l| l.get(key)).cloned()),
        node,
        ips,
        host_network,
        ports,
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        start_time: status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0.as_second()),
        finished_at: finished_at(status, observed_at),
        first_seen: observed_at,
        last_seen: observed_at,
    }))
}

/// When a Succeeded or Failed pod stopped: its containers' latest `finishedAt`, else the
/// observation time (it stopped no later than that). `None` for pods still running.
fn finished_at(
    status: Option<&k8s_openapi::api::core::v1::PodStatus>,
    observed_at: i64,
) -> Option<i64> {
    let status = status?;
    if !matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let latest = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0.as_second())
        .max();
    Some(latest.unwrap_or(observed_at))
}

/// `containerPort` and `hostPort` of every container, deduplicated and sorted.
fn declared_ports<'a>(
    containers: impl Iterator<Item = &'a Container>,
) -> Result<Vec<DeclaredPort>, String> {
    let mut ports = Vec::new();
    for container in containers {
        for port in container.ports.iter().flatten() {
            let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => 6,
                "UDP" => 17,
                "SCTP" => 132,
                other => {
                    return Err(format!(
                        "container {} port {}: unknown protocol {other:?}",
                        container.name, port.container_port
                    ));
                }
            };
            for number in std::iter::once(port.container_port).chain(port.host_port) {
                let number = u16::try_from(number)
                    .ok()
                    .filter(|n| *n != 0)
                    .ok_or_else(|| {
                        format!(
                            "container {}: port {number} is out of range",
                            container.name
                        )
                    })?;
                ports.push(DeclaredPort {
                    port: number,
                    protocol,
                });
            }
        }
    }
    ports.sort_by_key(|p| (p.port, p.protocol));
    ports.dedup();
    Ok(ports)
}

/// Resolves a pod's owning workload from its controller owner reference (design §5).
fn resolve_workload(
    pod_name: &str,
    node: Option<&str>,
    labels: Option<&BTreeMap<String, String>>,
    owners: Option<&[OwnerReference]>,
) -> (WorkloadKind, String) {
    let owners = owners.unwrap_or_default();
    let Some(owner) = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first())
    else {
        return (WorkloadKind::Pod, pod_name.to_owned());
    };
    let name = owner.name.as_str();
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let hash = labels.and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL));
            match strip_template_hash(name, hash.map(String::as_str)) {
                Some(deployment) => (WorkloadKind::Deployment, deployment.to_owned()),
                None => (WorkloadKind::ReplicaSet, name.to_owned()),
            }
        }
        "StatefulSet" => (WorkloadKind::StatefulSet, name.to_owned()),
        "DaemonSet" => (WorkloadKind::DaemonSet, name.to_owned()),
        "Job" => match strip_cronjob_suffix(name) {
            Some(cronjob) => (WorkloadKind::CronJob, cronjob.to_owned()),
            None => (WorkloadKind::Job, name.to_owned()),
        },
        // A mirror pod is named `<manifest>-<node>`: the manifest name groups it across nodes.
        "Node" => {
            let node_name = node.unwrap_or(name);
            let manifest = pod_name
                .strip_suffix(node_name)
                .and_then(|p| p.strip_suffix('-'))
                .filter(|p| !p.is_empty())
                .unwrap_or(pod_name);
            (WorkloadKind::Node, manifest.to_owned())
        }
        _ => (WorkloadKind::Other, name.to_owned()),
    }
}

/// The Deployment name of a ReplicaSet, if the ReplicaSet is a Deployment's: the name minus the
/// pod's `pod-template-hash` label, or, without the label, minus a suffix that looks like one.
fn strip_template_hash<'a>(replica_set: &'a str, hash: Option<&str>) -> Option<&'a str> {
    let (base, suffix) = replica_set.rsplit_once('-')?;
    let is_hash = match hash {
        Some(hash) => suffix == hash,
        None => {
            suffix.len() <= TEMPLATE_HASH_MAX_LEN
                && suffix.chars().all(|c| TEMPLATE_HASH_ALPHABET.contains(c))
        }
    };
    (is_hash && !base.is_empty() && !suffix.is_empty()).then_some(base)
}

/// The CronJob name of a Job named `<cronjob>-<scheduled minute>`.
fn strip_cronjob_suffix(job: &str) -> Option<&str> {
    let (base, suffix) = job.rsplit_once('-')?;
    (!base.is_empty()
        && suffix.len() >= CRONJOB_SUFFIX_MIN_DIGITS
        && suffix.bytes().all(|b| b.is_ascii_digit()))
    .then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(kind: &str, name: &str, controller: Option<bool>) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            block_owner_deletion: Some(true),
            controller,
            kind: kind.into(),
            name: name.into(),
            uid: "0f6e2d1c-0000-4000-8000-000000000001".into(),
        }
    }

    type WorkloadCase<'a> = (
        &'a str,
        Option<&'a BTreeMap<String, String>>,
        Vec<OwnerReference>,
        WorkloadKind,
        &'a str,
    );

    #[test]
    fn resolves_workloads_through_owner_references() {
        let hash_label: BTreeMap<String, String> =
            [("pod-template-hash".to_owned(), "7c9d8f6b5d".to_owned())].into();
        let other_hash: BTreeMap<String, String> =
            [("pod-template-hash".to_owned(), "abc".to_owned())].into();
        let node = "ip-10-0-1-10.ec2.internal";
        // (pod, labels, owners, expected kind, expected workload)
        let cases: Vec<WorkloadCase<'_>> = vec![
            (
                "web-7c9d8f6b5d-x2k4p",
                Some(&hash_label),
                vec![owner("ReplicaSet", "web-7c9d8f6b5d", Some(true))],
                WorkloadKind::Deployment,
                "web",
            ),
            // Hyphenated Deployment names keep all but the hash.
            (
                "my-api-v2-7c9d8f6b5d-x2k4p",
                Some(&hash_label),
                vec![owner("ReplicaSet", "my-api-v2-7c9d8f6b5d", Some(true))],
                WorkloadKind::Deployment,
                "my-api-v2",
            ),
            // Without the label, a hash-looking suffix still means a Deployment.
            (
                "web-5f7b9c8d4-zt6mq",
                None,
                vec![owner("ReplicaSet", "web-5f7b9c8d4", Some(true))],
                WorkloadKind::Deployment,
                "web",
            ),
            // The label disagrees with the suffix: a ReplicaSet of its own.
            (
                "web-7c9d8f6b5d-x2k4p",
                Some(&other_hash),
                vec![owner("ReplicaSet", "web-7c9d8f6b5d", Some(true))],
                WorkloadKind::ReplicaSet,
                "web-7c9d8f6b5d",
            ),
            // A suffix with letters outside the hash alphabet (a, e, 0, 1, 3): a bare ReplicaSet.
            (
                "frontend-abc",
                None,
                vec![owner("ReplicaSet", "frontend", Some(true))],
                WorkloadKind::ReplicaSet,
                "frontend",
            ),
            (
                "legacy-rs-1a3e0",
                None,
                vec![owner("ReplicaSet", "legacy-rs-1a3e0", Some(true))],
                WorkloadKind::ReplicaSet,
                "legacy-rs-1a3e0",
            ),
            (
                "kafka-0",
                None,
                vec![owner("StatefulSet", "kafka", Some(true))],
                WorkloadKind::StatefulSet,
                "kafka",
            ),
            (
                "aws-node-8xq2v",
                None,
                vec![owner("DaemonSet", "aws-node", Some(true))],
                WorkloadKind::DaemonSet,
                "aws-node",
            ),
            (
                "report-29410560-q8z7w",
                None,
                vec![owner("Job", "report-29410560", Some(true))],
                WorkloadKind::CronJob,
                "report",
            ),
            (
                "nightly-etl-run-29410560-q8z7w",
                None,
                vec![owner("Job", "nightly-etl-run-29410560", Some(true))],
                WorkloadKind::CronJob,
                "nightly-etl-run",
            ),
            // A short digit suffix is part of a plain Job's name.
            (
                "migrate-2-x7k2m",
                None,
                vec![owner("Job", "migrate-2", Some(true))],
                WorkloadKind::Job,
                "migrate-2",
            ),
            (
                "migrate-db-x7k2m",
                None,
                vec![owner("Job", "migrate-db", Some(true))],
                WorkloadKind::Job,
                "migrate-db",
            ),
            (
                "kube-proxy-ip-10-0-1-10.ec2.internal",
                None,
                vec![owner("Node", node, Some(true))],
                WorkloadKind::Node,
                "kube-proxy",
            ),
            (
                "canary-7b8c9d6f5-lm3np",
                None,
                vec![owner("Rollout", "canary", Some(true))],
                WorkloadKind::Other,
                "canary",
            ),
            (
                "debug-shell",
                None,
                vec![],
                WorkloadKind::Pod,
                "debug-shell",
            ),
            // The controller reference wins over a non-controller one listed first.
            (
                "kafka-1",
                None,
                vec![
                    owner("ConfigMap", "cfg", None),
                    owner("StatefulSet", "kafka", Some(true)),
                ],
                WorkloadKind::StatefulSet,
                "kafka",
            ),
            // No controller flag at all: the first owner.
            (
                "kafka-2",
                None,
                vec![owner("StatefulSet", "kafka", None)],
                WorkloadKind::StatefulSet,
                "kafka",
            ),
        ];
        for (pod, labels, owners, kind, workload) in cases {
            assert_eq!(
                resolve_workload(pod, Some(node), labels, Some(&owners)),
                (kind, workload.to_owned()),
                "pod {pod}"
            );
        }
    }

    #[test]
    fn parses_provider_ids() {
        let cases = [
            (
                "aws:///us-east-1a/i-0a1b2c3d4e5f60001",
                Some("us-east-1a"),
                Some("i-0a1b2c3d4e5f60001"),
            ),
            (
                "aws:///us-east-1c/c5e8f7a1b2d34d8e9f0a1b2c3d4e5f6a/fargate-ip-10-0-3-30.ec2.internal",
                Some("us-east-1c"),
                None,
            ),
            (
                "aws:///eu-west-1b/i-0123",
                Some("eu-west-1b"),
                Some("i-0123"),
            ),
            ("kind://docker/kind/kind-control-plane", None, None),
            ("", None, None),
        ];
        for (raw, zone, instance) in cases {
            assert_eq!(
                parse_provider_id(raw),
                ProviderId {
                    zone: zone.map(str::to_owned),
                    instance_id: instance.map(str::to_owned)
                },
                "{raw}"
            );
        }
    }

    #[test]
    fn declared_ports_take_container_and_host_ports_with_protocols() {
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "dns",
            "ports": [
                {"containerPort": 53, "protocol": "UDP"},
                {"containerPort": 53, "protocol": "TCP"},
                {"containerPort": 8080, "hostPort": 80},
                {"containerPort": 9000, "protocol": "SCTP"},
                {"containerPort": 8080}
            ]
        }))
        .unwrap();
        let ports = declared_ports(std::iter::once(&container)).unwrap();
        let got: Vec<(u16, u8)> = ports.iter().map(|p| (p.port, p.protocol)).collect();
        assert_eq!(got, [(53, 6), (53, 17), (80, 6), (8080, 6), (9000, 132)]);
    }

    #[test]
    fn declared_ports_reject_bad_values() {
        let cases = [
            (
                serde_json::json!({"containerPort": 70000}),
                "container c: port 70000 is out of range",
            ),
            (
                serde_json::json!({"containerPort": 80, "protocol": "QUIC"}),
                "container c port 80: unknown protocol \"QUIC\"",
            ),
        ];
        for (port, message) in cases {
            let container: Container =
                serde_json::from_value(serde_json::json!({"name": "c", "ports": [port]})).unwrap();
            assert_eq!(
                declared_ports(std::iter::once(&container)).unwrap_err(),
                message
            );
        }
    }

    #[test]
    fn default_options_use_the_documented_label_keys() {
        let opts = BuildOptions::default();
        assert_eq!(
            opts.app_label_keys,
            ["app.kubernetes.io/name", "app", "k8s-app"]
        );
        assert_eq!(opts.cluster, "");
    }
}

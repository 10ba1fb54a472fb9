//! The extractor: lists a cluster's pods and nodes, builds and merges the snapshot, publishes it.
//!
//! Submodules: [`list`] (paged, retried, item-by-item listing), [`eks`] (IAM token, endpoint and
//! CA for the Lambda), [`config`] (Lambda environment), [`cli`] (the `extract`/`history`
//! commands), [`lambda`] (the EventBridge-scheduled entry point). This module holds the run
//! itself, shared by the Lambda and the CLI: list → `build` → `merge` → write, with a report and
//! its CloudWatch EMF line. Any failure to list or to write fails the run; objects that do not
//! decode are skipped and counted.

pub mod cli;
pub mod config;
pub mod eks;
pub mod lambda;
pub mod list;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::build::{BuildOptions, BuildStats, SkippedObject, build_snapshot};
use crate::codec::{self, CodecError};
use crate::merge::merge;
use crate::snapshot::Snapshot;
use crate::store::{PublishedKeys, SnapshotStore, StoreError};
use list::{ListError, ListOptions, ListStats};

/// Makes aws-lc-rs the process's TLS crypto provider unless one is installed already.
///
/// kube-rs builds its rustls configuration from the process default, and rustls only picks one by
/// itself when exactly one provider is compiled in; a binary that also links `ring` (the CLI, via
/// DataFusion's object store) would panic on the first HTTPS connection without this. Every kube
/// client the extractor builds goes through here first.
pub fn install_crypto_provider() {
    // An error means a provider is installed already, which is all this function wants.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// CloudWatch namespace of the extractor's EMF metrics.
pub const METRICS_NAMESPACE: &str = "crossaz/extractor";
/// Objects left out by `build` that are logged individually; the rest are only counted.
const LOGGED_BUILD_SKIPS: usize = 20;

/// What to extract and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractRequest {
    /// Cluster name written into the snapshot.
    pub cluster: String,
    /// App label keys, first present wins.
    pub app_label_keys: Vec<String>,
    /// Namespaces to list; empty = all.
    pub namespaces: Vec<String>,
    /// Retention of vanished pods (seconds).
    pub retention_secs: i64,
    /// Paging, selector and retry bounds.
    pub list: ListOptions,
}

/// Where the previous snapshot comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// Start fresh.
    None,
    /// A snapshot file written by an earlier `extract --out FILE`.
    File(PathBuf),
    /// The `latest` object of the S3 destination.
    Latest,
}

/// Where the snapshot goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A local file (codec bytes), replaced atomically.
    File(PathBuf),
    /// The S3 store: history object, then `latest`.
    S3(SnapshotStore),
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractReport {
    /// Cluster.
    pub cluster: String,
    /// `generated_at` of the snapshot.
    pub observed_at: i64,
    /// Pods decoded from the API.
    pub listed_pods: usize,
    /// Nodes decoded from the API.
    pub listed_nodes: usize,
    /// Paging counters and decode failures.
    pub list: ListStats,
    /// Objects `build` skipped (decoded but unusable: no uid, no name…).
    pub build_skipped: usize,
    /// Pods left out because they have no IP yet (pending, unscheduled).
    pub pods_without_ip: usize,
    /// Pods in the merged snapshot (current plus retained).
    pub snapshot_pods: usize,
    /// Nodes in the snapshot.
    pub snapshot_nodes: usize,
    /// Encoded size.
    pub snapshot_bytes: usize,
    /// Wall time of the run.
    pub duration: Duration,
    /// S3 keys written, for an S3 destination.
    pub published: Option<PublishedKeys>,
}

/// A run that failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Listing failed.
    #[error(transparent)]
    List(#[from] ListError),
    /// S3 read or write failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A snapshot file could not be read or written.
    #[error("{action} snapshot file {}: {source}", path.display())]
    File {
        /// `reading` or `writing`.
        action: &'static str,
        /// File.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is not a snapshot.
    #[error("snapshot file {} is unreadable: {source}", path.display())]
    Decode {
        /// File.
        path: PathBuf,
        /// Codec error.
        #[source]
        source: CodecError,
    },
    /// The snapshot could not be encoded.
    #[error("encoding the snapshot failed: {0}")]
    Encode(#[source] CodecError),
    /// The previous snapshot belongs to another cluster.
    #[error("previous snapshot is of cluster {found:?}, this run extracts {expected:?}")]
    ClusterMismatch {
        /// Cluster of the run.
        expected: String,
        /// Cluster of the previous snapshot.
        found: String,
    },
    /// `Previous::Latest` needs an S3 destination.
    #[error(
        "the previous snapshot can only be read from S3 when writing to S3; pass --previous FILE"
    )]
    NoLatestForFile,
    /// No history snapshot at or before the requested time.
    #[error("no snapshot of cluster {cluster} at or before {at} in s3://{bucket}/{prefix}")]
    NoHistory {
        /// Cluster.
        cluster: String,
        /// Requested time (epoch seconds).
        at: i64,
        /// Bucket.
        bucket: String,
        /// Prefix.
        prefix: String,
    },
    /// Connecting to the cluster failed.
    #[error("connecting to the Kubernetes API: {0}")]
    Connect(String),
    /// EKS authentication or endpoint lookup failed.
    #[error(transparent)]
    Eks(#[from] eks::EksAuthError),
    /// Command-line usage error.
    #[error("{0}")]
    Usage(String),
}

/// Lists the cluster and returns the snapshot merged with `previous`, without writing it.
pub async fn extract_snapshot(
    client: &kube::Client,
    request: &ExtractRequest,
    previous: Option<&Snapshot>,
    observed_at: i64,
) -> Result<(Snapshot, ExtractReport), ExtractError> {
    let started = Instant::now();
    if let Some(previous) = previous
        && previous.cluster != request.cluster
    {
        return Err(ExtractError::ClusterMismatch {
            expected: request.cluster.clone(),
            found: previous.cluster.clone(),
        });
    }
    let mut stats = ListStats::default();
    let options = BuildOptions {
        cluster: request.cluster.clone(),
        app_label_keys: request.app_label_keys.clone(),
    };
    let nodes = list::list_nodes(client, &request.list, &mut stats).await?;
    let listed_nodes = nodes.len();
    let node_part = build_snapshot(&options, observed_at, &[], &nodes);
    drop(nodes);
    // Each page is condensed to `PodInfo`s as it arrives: full `Pod` values of a large cluster
    // would not fit the Lambda's memory.
    let pod_pages = list::list_pods_by_page(
        client,
        &request.namespaces,
        &request.list,
        &mut stats,
        |page| build_snapshot(&options, observed_at, &page, &[]),
    )
    .await?;
    let listed_pods = pod_pages
        .iter()
        .map(|(page, s)| page.pods.len() + s.pods_without_ip + s.skipped.len())
        .sum();
    let (current, build_stats) = assemble(node_part, pod_pages);
    for skipped in build_stats.skipped.iter().take(LOGGED_BUILD_SKIPS) {
        tracing::warn!(kind = %skipped.kind, object = %skipped.name, reason = %skipped.reason, "object left out of the snapshot");
    }
    let snapshot = merge(previous, current, request.retention_secs);
    let report = ExtractReport {
        cluster: request.cluster.clone(),
        observed_at,
        listed_pods,
        listed_nodes,
        list: stats,
        build_skipped: build_stats.skipped.len(),
        pods_without_ip: build_stats.pods_without_ip,
        snapshot_pods: snapshot.pods.len(),
        snapshot_nodes: snapshot.nodes.len(),
        snapshot_bytes: 0,
        duration: started.elapsed(),
        published: None,
    };
    Ok((snapshot, report))
}

/// Joins nodes built once and pod pages built one by one into the snapshot [`build_snapshot`]
/// makes of all objects at once: pods unique by uid across pages (later copies reported as
/// skipped, as `build` does within one call) and sorted like `build` sorts, by namespace, name
/// and uid. Pure; `tests/extractor_list.rs` checks the result equals one `build_snapshot` call.
pub fn assemble(
    (mut snapshot, mut stats): (Snapshot, BuildStats),
    pod_pages: Vec<(Snapshot, BuildStats)>,
) -> (Snapshot, BuildStats) {
    let mut uids = std::collections::HashSet::new();
    for (page, page_stats) in pod_pages {
        stats.pods_without_ip += page_stats.pods_without_ip;
        stats.skipped.extend(page_stats.skipped);
        for pod in page.pods {
            if uids.insert(pod.uid.clone()) {
                snapshot.pods.push(pod);
            } else {
                stats.skipped.push(SkippedObject {
                    kind: "Pod".into(),
                    name: format!("{}/{}", pod.namespace, pod.name),
                    reason: format!("duplicate metadata.uid {}", pod.uid),
                });
            }
        }
    }
    snapshot
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name, &a.uid).cmp(&(&b.namespace, &b.name, &b.uid)));
    stats.pods = snapshot.pods.len();
    (snapshot, stats)
}

/// Reads a snapshot file.
pub fn read_snapshot_file(path: &Path) -> Result<Snapshot, ExtractError> {
    let bytes = std::fs::read(path).map_err(|source| ExtractError::File {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    codec::decode(&bytes).map_err(|source| ExtractError::Decode {
        path: path.to_owned(),
        source,
    })
}

/// Writes a snapshot file atomically (temporary file in the same folder, then rename).
pub fn write_snapshot_file(path: &Path, snapshot: &Snapshot) -> Result<usize, ExtractError> {
    let bytes = codec::encode(snapshot).map_err(ExtractError::Encode)?;
    let file_error = |source| ExtractError::File {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, &bytes).map_err(file_error)?;
    std::fs::rename(&temporary, path).map_err(file_error)?;
    Ok(bytes.len())
}

/// One full run: load the previous snapshot, list, build, merge, write.
pub async fn run_extract(
    client: &kube::Client,
    request: &ExtractRequest,
    previous: &Previous,
    destination: &Destination,
    observed_at: i64,
) -> Result<ExtractReport, ExtractError> {
    let started = Instant::now();
    let previous = match (previous, destination) {
        (Previous::None, _) => None,
        (Previous::File(path), _) => Some(read_snapshot_file(path)?),
        (Previous::Latest, Destination::S3(store)) => {
            store.load_latest(&request.cluster).await?.map(|(s, _)| s)
        }
        (Previous::Latest, Destination::File(_)) => return Err(ExtractError::NoLatestForFile),
    };
    let (snapshot, mut report) =
        extract_snapshot(client, request, previous.as_ref(), observed_at).await?;
    drop(previous);
    match destination {
        Destination::File(path) => report.snapshot_bytes = write_snapshot_file(path, &snapshot)?,
        Destination::S3(store) => {
            let keys = store.publish(&snapshot).await?;
            report.snapshot_bytes = keys.bytes;
            report.published = Some(keys);
        }
    }
    report.duration = started.elapsed();
    tracing::info!(
        cluster = %report.cluster,
        pods = report.snapshot_pods,
        nodes = report.snapshot_nodes,
        pages = report.list.pages,
        decode_failures = report.list.decode_failures.len(),
        bytes = report.snapshot_bytes,
        duration_ms = report.duration.as_millis() as u64,
        "snapshot written"
    );
    Ok(report)
}

/// Copies the history snapshot of `cluster` in force at `at` to `out`.
pub async fn run_history(
    store: &SnapshotStore,
    cluster: &str,
    at: i64,
    out: &Path,
) -> Result<Snapshot, ExtractError> {
    let snapshot = store
        .load_at(cluster, at)
        .await?
        .ok_or_else(|| ExtractError::NoHistory {
            cluster: cluster.to_owned(),
            at,
            bucket: store.bucket.clone(),
            prefix: store.prefix.clone(),
        })?;
    write_snapshot_file(out, &snapshot)?;
    Ok(snapshot)
}

/// The CloudWatch Embedded Metric Format line of a run (one JSON object, one line).
pub fn emf_line(report: &ExtractReport, timestamp_ms: i64) -> String {
    const METRICS: [(&str, &str); 7] = [
        ("Pods", "Count"),
        ("Nodes", "Count"),
        ("Pages", "Count"),
        ("DecodeFailures", "Count"),
        ("ListRetries", "Count"),
        ("SnapshotBytes", "Bytes"),
        ("DurationMs", "Milliseconds"),
    ];
    let metrics: Vec<_> = METRICS
        .iter()
        .map(|(name, unit)| serde_json::json!({ "Name": name, "Unit": unit }))
        .collect();
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Cluster"]],
                "Metrics": metrics,
            }],
        },
        "Cluster": report.cluster,
        "Pods": report.snapshot_pods,
        "Nodes": report.snapshot_nodes,
        "Pages": report.list.pages,
        "DecodeFailures": report.list.decode_failures.len(),
        "ListRetries": report.list.retries,
        "SnapshotBytes": report.snapshot_bytes,
        "DurationMs": report.duration.as_millis() as u64,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use list::DecodeFailure;

    #[test]
    fn emf_line_names_every_metric_with_its_value() {
        let report = ExtractReport {
            cluster: "prod".into(),
            observed_at: 1_795_759_199,
            listed_pods: 12,
            listed_nodes: 3,
            list: ListStats {
                pages: 4,
                retries: 2,
                restarts: 1,
                decode_failures: vec![DecodeFailure {
                    kind: "Pod",
                    object: "a/b".into(),
                    reason: "bad".into(),
                }],
            },
            build_skipped: 0,
            pods_without_ip: 1,
            snapshot_pods: 11,
            snapshot_nodes: 3,
            snapshot_bytes: 2048,
            duration: Duration::from_millis(1500),
            published: None,
        };
        let line = emf_line(&report, 1_795_759_199_000);
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(
            value,
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_795_759_199_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "crossaz/extractor",
                        "Dimensions": [["Cluster"]],
                        "Metrics": [
                            {"Name": "Pods", "Unit": "Count"},
                            {"Name": "Nodes", "Unit": "Count"},
                            {"Name": "Pages", "Unit": "Count"},
                            {"Name": "DecodeFailures", "Unit": "Count"},
                            {"Name": "ListRetries", "Unit": "Count"},
                            {"Name": "SnapshotBytes", "Unit": "Bytes"},
                            {"Name": "DurationMs", "Unit": "Milliseconds"},
                        ],
                    }],
                },
                "Cluster": "prod", "Pods": 11, "Nodes": 3, "Pages": 4, "DecodeFailures": 1,
                "ListRetries": 2, "SnapshotBytes": 2048, "DurationMs": 1500,
            })
        );
    }
}

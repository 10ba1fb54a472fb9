//! Snapshots of a synthetic (load-test) cluster, built the way the extractor builds them: one
//! observation of the cluster's Kubernetes JSON a minute, each merged into the previous snapshot.
//! Used by `crossaz demo`, the benches and the end-to-end tests (feature `synthetic`, part of
//! `cli`; the transform bench enables it alone so it builds without the CLI's SQL engine).

use loadtest::Cluster;
use pod_cache::Snapshot;
use pod_cache::build::{BuildError, BuildOptions, build_snapshot, nodes_from_json, pods_from_json};
use pod_cache::merge::{DEFAULT_RETENTION_SECS, merge};

/// How often the cluster is observed, like the extractor's one-minute schedule.
pub const OBSERVE_EVERY_SECS: i64 = 60;

/// The snapshot the extractor would hold at `end` after observing `cluster` every minute from
/// `start`. `None` when `end < start`.
pub fn observed_snapshot(
    cluster: &Cluster,
    name: &str,
    start: i64,
    end: i64,
) -> Result<Option<Snapshot>, BuildError> {
    let to_json = |v: serde_json::Value| v.to_string().into_bytes();
    let (nodes, _) = nodes_from_json(&to_json(cluster.nodes_json()))?;
    let opts = BuildOptions {
        cluster: name.to_owned(),
        ..BuildOptions::default()
    };
    let mut snapshot: Option<Snapshot> = None;
    let mut t = start;
    while t <= end {
        let (pods, _) = pods_from_json(&to_json(cluster.pods_json(t)))?;
        let (current, _) = build_snapshot(&opts, t, &pods, &nodes);
        snapshot = Some(merge(snapshot.as_ref(), current, DEFAULT_RETENTION_SECS));
        t += OBSERVE_EVERY_SECS;
    }
    Ok(snapshot)
}

/// The snapshots the extractor would hold at each of `marks` (ascending, within
/// `start..=end`), observing `cluster` every minute from `start`: one pass for all of them.
/// Marks outside the window are clamped to it.
pub fn observed_snapshots(
    cluster: &Cluster,
    name: &str,
    start: i64,
    end: i64,
    marks: &[i64],
) -> Result<Vec<Snapshot>, BuildError> {
    let to_json = |v: serde_json::Value| v.to_string().into_bytes();
    let (nodes, _) = nodes_from_json(&to_json(cluster.nodes_json()))?;
    let opts = BuildOptions {
        cluster: name.to_owned(),
        ..BuildOptions::default()
    };
    let mut out = Vec::with_capacity(marks.len());
    let mut snapshot: Option<Snapshot> = None;
    let mut t = start;
    for &mark in marks {
        let mark = mark.clamp(start, end.max(start));
        while snapshot.is_none() || t <= mark {
            let (pods, _) = pods_from_json(&to_json(cluster.pods_json(t)))?;
            let (current, _) = build_snapshot(&opts, t, &pods, &nodes);
            snapshot = Some(merge(snapshot.as_ref(), current, DEFAULT_RETENTION_SECS));
            t += OBSERVE_EVERY_SECS;
        }
        if let Some(s) = &snapshot {
            out.push(s.clone());
        }
    }
    Ok(out)
}

//! Merging successive observations of a cluster into one snapshot (design §5).
//!
//! This module owns pod history: a pod's `first_seen` survives from one run to the next, and a pod
//! that vanished stays in the snapshot, with the `last_seen` of its last observation, for a
//! retention window, so that late flows still find who held its IP. It is pure: times come from
//! the snapshots themselves.

use std::collections::HashMap;

use crate::snapshot::Snapshot;

/// How long a vanished pod stays in the snapshot after it was last seen: one hour.
///
/// Flow records reach the transform late: a 1- to 10-minute aggregation window, up to ~10 minutes
/// of flow-log delivery, up to 15 minutes of Firehose buffering, then retries. An hour covers all of
/// that with margin, and matches the hourly history copies and `dt` partitions, so a replay with the
/// snapshot of an hour still finds the pods that vanished during it.
pub const DEFAULT_RETENTION_SECS: i64 = 3600;

/// Merges the `current` observation with the `previous` snapshot.
///
/// - Pods present in `current` keep their `last_seen` (the observation time) and take the earlier
///   `first_seen` of the two, matched by pod uid.
/// - Pods only in `previous` are kept unchanged (their old `last_seen` marks them as vanished)
///   until `last_seen + retention_secs < current.generated_at`, then dropped.
/// - Nodes are `current`'s only: a node that left the cluster has no IP anyone can reach.
///
/// A `previous` snapshot of another cluster is ignored: its pods are not this cluster's history.
/// The result is sorted like [`crate::build::build_snapshot`]'s output.
pub fn merge(previous: Option<&Snapshot>, mut current: Snapshot, retention_secs: i64) -> Snapshot {
    let Some(previous) = previous.filter(|p| p.cluster == current.cluster) else {
        return current;
    };
    let earlier: HashMap<&str, &crate::snapshot::PodInfo> =
        previous.pods.iter().map(|p| (p.uid.as_str(), p)).collect();
    for pod in &mut current.pods {
        if let Some(before) = earlier.get(pod.uid.as_str()) {
            pod.first_seen = pod.first_seen.min(before.first_seen);
            // A finish time recorded by an earlier run is the better (earlier) bound.
            if let Some(done) = before.finished_at {
                pod.finished_at = Some(pod.finished_at.map_or(done, |f| f.min(done)));
            }
        }
    }
    let present: std::collections::HashSet<&str> =
        current.pods.iter().map(|p| p.uid.as_str()).collect();
    let retained: Vec<_> = previous
        .pods
        .iter()
        .filter(|p| !present.contains(p.uid.as_str()))
        .filter(|p| p.last_seen.saturating_add(retention_secs) >= current.generated_at)
        .cloned()
        .collect();
    current.pods.extend(retained);
    current
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name, &a.uid).cmp(&(&b.namespace, &b.name, &b.uid)));
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{PodInfo, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, WorkloadKind};

    fn pod(uid: &str, name: &str, first_seen: i64, last_seen: i64) -> PodInfo {
        PodInfo {
            uid: uid.into(),
            namespace: "default".into(),
            name: name.into(),
            workload_kind: WorkloadKind::Deployment,
            workload: "web".into(),
            app: Some("web".into()),
            node: Some("ip-10-0-1-10.ec2.internal".into()),
            ips: vec!["10.0.1.77".parse().unwrap()],
            host_network: false,
            ports: vec![],
            phase: "Running".into(),
            start_time: Some(first_seen - 5),
            finished_at: None,
            first_seen,
            last_seen,
        }
    }

    fn snapshot(cluster: &str, generated_at: i64, pods: Vec<PodInfo>) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            cluster: cluster.into(),
            generated_at,
            nodes: vec![],
            pods,
        }
    }

    /// (uid, first_seen, last_seen).
    type Summary<'a> = (&'a str, i64, i64);

    /// The merged pods, in snapshot order.
    fn summary(s: &Snapshot) -> Vec<Summary<'_>> {
        s.pods
            .iter()
            .map(|p| (p.uid.as_str(), p.first_seen, p.last_seen))
            .collect()
    }

    #[test]
    fn first_seen_is_carried_over_by_uid() {
        let previous = snapshot("c", 1000, vec![pod("u1", "a", 400, 1000)]);
        let current = snapshot(
            "c",
            1060,
            vec![pod("u1", "a", 1060, 1060), pod("u2", "b", 1060, 1060)],
        );
        let merged = merge(Some(&previous), current, DEFAULT_RETENTION_SECS);
        assert_eq!(summary(&merged), [("u1", 400, 1060), ("u2", 1060, 1060)]);
        assert_eq!(merged.generated_at, 1060);
    }

    #[test]
    fn vanished_pods_are_retained_then_expire() {
        // u1 was last seen at 1000; it vanishes from every later observation.
        let previous = snapshot(
            "c",
            1000,
            vec![pod("u1", "a", 400, 1000), pod("u2", "b", 400, 1000)],
        );
        // (current time, expected pods): kept while last_seen + retention >= now.
        let cases: [(i64, &[Summary<'_>]); 3] = [
            (1060, &[("u1", 400, 1000), ("u2", 400, 1060)]),
            (4600, &[("u1", 400, 1000), ("u2", 400, 4600)]),
            (4601, &[("u2", 400, 4601)]),
        ];
        for (now, expected) in cases {
            let current = snapshot("c", now, vec![pod("u2", "b", now, now)]);
            let merged = merge(Some(&previous), current, DEFAULT_RETENTION_SECS);
            assert_eq!(summary(&merged), expected, "at {now}");
        }
    }

    #[test]
    fn retained_pods_survive_several_merges_with_their_last_seen() {
        let mut merged = snapshot("c", 1000, vec![pod("u1", "a", 400, 1000)]);
        for now in (1060..=4600).step_by(60) {
            merged = merge(Some(&merged), snapshot("c", now, vec![]), 3600);
            assert_eq!(summary(&merged), [("u1", 400, 1000)], "at {now}");
        }
        merged = merge(Some(&merged), snapshot("c", 4660, vec![]), 3600);
        assert!(merged.pods.is_empty());
    }

    #[test]
    fn nodes_come_from_the_current_observation_only() {
        let mut previous = snapshot("c", 1000, vec![]);
        previous.nodes.push(crate::snapshot::NodeInfo {
            name: "gone".into(),
            ips: vec![],
            zone: None,
            zone_id: None,
            instance_id: None,
            instance_type: None,
            compute_type: None,
        });
        let merged = merge(Some(&previous), snapshot("c", 1060, vec![]), 3600);
        assert!(merged.nodes.is_empty());
    }

    #[test]
    fn another_clusters_snapshot_is_ignored() {
        let previous = snapshot("other", 1000, vec![pod("u1", "a", 400, 1000)]);
        let current = snapshot("c", 1060, vec![pod("u2", "b", 1060, 1060)]);
        let merged = merge(Some(&previous), current.clone(), 3600);
        assert_eq!(merged, current);
        assert_eq!(merge(None, current.clone(), 3600), current);
    }
}

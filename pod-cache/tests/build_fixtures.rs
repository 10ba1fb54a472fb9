//! Builds snapshots from real-format `kubectl get -o json` and API list fixtures.

use std::net::IpAddr;

use pod_cache::build::{BuildError, BuildOptions, build_snapshot, nodes_from_json, pods_from_json};
use pod_cache::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
use pod_cache::{PodInfo, Snapshot, WorkloadKind};

/// 2026-11-27T06:00:00Z.
const OBSERVED_AT: i64 = 1_795_759_200;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn build(pods_file: &str, nodes_file: &str) -> (Snapshot, pod_cache::build::BuildStats, usize) {
    let (pods, pod_skips) = pods_from_json(&fixture(pods_file)).unwrap();
    let (nodes, node_skips) = nodes_from_json(&fixture(nodes_file)).unwrap();
    assert!(node_skips.is_empty(), "{node_skips:?}");
    let opts = BuildOptions {
        cluster: "cross-az".into(),
        ..BuildOptions::default()
    };
    let (snapshot, stats) = build_snapshot(&opts, OBSERVED_AT, &pods, &nodes);
    (snapshot, stats, pod_skips.len())
}

fn pod<'a>(snapshot: &'a Snapshot, namespace: &str, name: &str) -> &'a PodInfo {
    snapshot
        .pods
        .iter()
        .find(|p| p.namespace == namespace && p.name == name)
        .unwrap_or_else(|| panic!("{namespace}/{name} not in snapshot"))
}

/// (namespace, name, kind, workload, app, node, ips, hostNetwork, phase, start)
type ExpectedPod = (
    &'static str,
    &'static str,
    WorkloadKind,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
    bool,
    &'static str,
    i64,
);

/// (name, ips, zone, zone id, instance id, instance type, compute type)
type ExpectedNode = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn kubectl_list_builds_the_expected_pods() {
    let (snapshot, stats, _) = build("kubectl-pods.json", "kubectl-nodes.json");
    assert_eq!(snapshot.format, SNAPSHOT_FORMAT);
    assert_eq!(snapshot.version, SNAPSHOT_VERSION);
    assert_eq!(snapshot.cluster, "cross-az");
    assert_eq!(snapshot.generated_at, OBSERVED_AT);
    assert_eq!((stats.pods, stats.nodes, stats.pods_without_ip), (13, 3, 1));

    let expected: [ExpectedPod; 13] = [
        (
            "batch",
            "migrate-db-x7k2m",
            WorkloadKind::Job,
            "migrate-db",
            None,
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.60"],
            false,
            "Running",
            1_795_759_140,
        ),
        (
            "batch",
            "report-29410560-q8z7w",
            WorkloadKind::CronJob,
            "report",
            Some("report"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.77"],
            false,
            "Succeeded",
            1_795_755_600,
        ),
        (
            "data",
            "kafka-0",
            WorkloadKind::StatefulSet,
            "kafka",
            Some("kafka"),
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.55"],
            false,
            "Running",
            1_795_730_400,
        ),
        (
            "default",
            "api-v6-5f7b9c8d4-zt6mq",
            WorkloadKind::Deployment,
            "api-v6",
            Some("api-v6"),
            "ip-10-0-2-20.ec2.internal",
            &["2600:1f18:abcd:2::a1"],
            false,
            "Running",
            1_795_752_000,
        ),
        (
            "default",
            "canary-7b8c9d6f5-lm3np",
            WorkloadKind::Other,
            "canary",
            Some("canary"),
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.70", "2600:1f18:abcd:2::b7"],
            false,
            "Running",
            1_795_757_400,
        ),
        (
            "default",
            "debug-shell",
            WorkloadKind::Pod,
            "debug-shell",
            None,
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.99"],
            false,
            "Running",
            1_795_758_900,
        ),
        (
            "default",
            "server-dep-7c9d8f6b5d-p9w2n",
            WorkloadKind::Deployment,
            "server-dep",
            Some("server"),
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.102"],
            false,
            "Running",
            1_795_756_201,
        ),
        (
            "default",
            "server-dep-7c9d8f6b5d-x2k4p",
            WorkloadKind::Deployment,
            "server-dep",
            Some("server"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.101"],
            false,
            "Running",
            1_795_756_200,
        ),
        (
            "default",
            "web-6d4cf56db6-vb2xq",
            WorkloadKind::Deployment,
            "web",
            Some("web"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.77"],
            false,
            "Running",
            1_795_756_800,
        ),
        (
            "default",
            "worker-5c6b7d8f9-fg2hj",
            WorkloadKind::Deployment,
            "worker",
            Some("worker"),
            "fargate-ip-10-0-3-30.ec2.internal",
            &["10.0.3.30"],
            false,
            "Running",
            1_795_748_400,
        ),
        (
            "kube-system",
            "aws-node-8xq2v",
            WorkloadKind::DaemonSet,
            "aws-node",
            Some("aws-node"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.10"],
            true,
            "Running",
            1_795_166_045,
        ),
        (
            "kube-system",
            "kube-proxy-ip-10-0-1-10.ec2.internal",
            WorkloadKind::Node,
            "kube-proxy",
            Some("kube-proxy"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.10"],
            true,
            "Running",
            1_795_166_043,
        ),
        (
            "monitoring",
            "node-exporter-7xk2p",
            WorkloadKind::DaemonSet,
            "node-exporter",
            Some("prometheus-node-exporter"),
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.10"],
            true,
            "Running",
            1_795_166_100,
        ),
    ];
    let got: Vec<(&str, &str)> = snapshot
        .pods
        .iter()
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = expected.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(got, want, "pods, sorted by namespace and name");
    for (ns, name, kind, workload, app, node, ips, host_network, phase, start) in expected {
        let p = pod(&snapshot, ns, name);
        assert_eq!(p.workload_kind, kind, "{name}");
        assert_eq!(p.workload, workload, "{name}");
        assert_eq!(p.app.as_deref(), app, "{name}");
        assert_eq!(p.node.as_deref(), Some(node), "{name}");
        assert_eq!(
            p.ips,
            ips.iter().map(|s| ip(s)).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(p.host_network, host_network, "{name}");
        assert_eq!(p.phase, phase, "{name}");
        assert_eq!(p.start_time, Some(start), "{name}");
        assert_eq!(
            (p.first_seen, p.last_seen),
            (OBSERVED_AT, OBSERVED_AT),
            "{name}"
        );
        assert!(p.uid.starts_with("a1000000-0000-4000-8000-"), "{name}");
    }
    let port = |port, protocol| DeclaredPort { port, protocol };
    assert_eq!(
        pod(&snapshot, "kube-system", "aws-node-8xq2v").ports,
        [port(8162, 6), port(61678, 6)]
    );
    assert_eq!(
        pod(&snapshot, "monitoring", "node-exporter-7xk2p").ports,
        [port(5353, 17), port(9100, 6)]
    );
    assert!(
        pod(
            &snapshot,
            "kube-system",
            "kube-proxy-ip-10-0-1-10.ec2.internal"
        )
        .ports
        .is_empty()
    );
    // Ports are only kept for hostNetwork pods.
    assert!(
        snapshot
            .pods
            .iter()
            .filter(|p| !p.host_network)
            .all(|p| p.ports.is_empty())
    );
}

#[test]
fn malformed_items_are_skipped_and_reported() {
    let (pods, skipped) = pods_from_json(&fixture("kubectl-pods.json")).unwrap();
    assert_eq!(pods.len(), 14);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].kind, "Pod");
    assert_eq!(skipped[0].name, "default/broken-5d6f7g8h9-aaaaa");
    assert!(
        skipped[0].reason.starts_with("does not decode as a Pod: "),
        "{}",
        skipped[0].reason
    );

    let (pods, skipped) = pods_from_json(&fixture("api-podlist.json")).unwrap();
    assert_eq!(pods.len(), 14);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].name, "default/server-dep-7c9d8f6b5d-zz9zz");
    assert!(
        skipped[0].reason.contains("invalid type: string \"main\""),
        "{}",
        skipped[0].reason
    );
}

#[test]
fn api_lists_and_kubectl_lists_build_the_same_snapshot() {
    let (from_kubectl, kubectl_stats, kubectl_skips) =
        build("kubectl-pods.json", "kubectl-nodes.json");
    let (from_api, api_stats, api_skips) = build("api-podlist.json", "api-nodelist.json");
    assert_eq!(from_kubectl, from_api);
    assert_eq!(kubectl_stats, api_stats);
    assert_eq!((kubectl_skips, api_skips), (1, 1));
}

#[test]
fn nodes_carry_zones_instances_and_addresses() {
    let (snapshot, _, _) = build("kubectl-pods.json", "kubectl-nodes.json");
    let expected: [ExpectedNode; 3] = [
        (
            "fargate-ip-10-0-3-30.ec2.internal",
            &["10.0.3.30"],
            "us-east-1c",
            Some("use1-az4"),
            None,
            None,
            Some("fargate"),
        ),
        (
            "ip-10-0-1-10.ec2.internal",
            &["10.0.1.10"],
            "us-east-1a",
            Some("use1-az1"),
            Some("i-0a1b2c3d4e5f60001"),
            Some("m5.large"),
            None,
        ),
        // No zone-id label: left to the extractor's EC2 lookup.
        (
            "ip-10-0-2-20.ec2.internal",
            &["10.0.2.20", "2600:1f18:abcd:2::14"],
            "us-east-1b",
            None,
            Some("i-0a1b2c3d4e5f60002"),
            Some("m5.large"),
            None,
        ),
    ];
    assert_eq!(snapshot.nodes.len(), expected.len());
    for (node, (name, ips, zone, zone_id, instance, itype, compute)) in
        snapshot.nodes.iter().zip(expected)
    {
        assert_eq!(node.name, name);
        assert_eq!(
            node.ips,
            ips.iter().map(|s| ip(s)).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(node.zone.as_deref(), Some(zone), "{name}");
        assert_eq!(node.zone_id.as_deref(), zone_id, "{name}");
        assert_eq!(node.instance_id.as_deref(), instance, "{name}");
        assert_eq!(node.instance_type.as_deref(), itype, "{name}");
        assert_eq!(node.compute_type.as_deref(), compute, "{name}");
    }
}

#[test]
fn app_label_keys_are_configurable() {
    let (pods, _) = pods_from_json(&fixture("kubectl-pods.json")).unwrap();
    let opts = BuildOptions {
        cluster: "c".into(),
        app_label_keys: vec!["app".into()],
    };
    let (snapshot, _) = build_snapshot(&opts, OBSERVED_AT, &pods, &[]);
    assert_eq!(
        pod(&snapshot, "data", "kafka-0").app.as_deref(),
        Some("kafka-broker")
    );
    assert_eq!(pod(&snapshot, "default", "web-6d4cf56db6-vb2xq").app, None);
}

#[test]
fn documents_that_are_not_lists_are_errors() {
    let cases: [(&[u8], &str); 5] = [
        (
            &fixture("single-pod.json"),
            "expected a document of kind PodList or List, found kind Some(\"Pod\")",
        ),
        (&fixture("kubectl-nodes.json")[..], ""),
        (
            br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[]}"#,
            "expected a document of kind PodList or List, found kind Some(\"Table\")",
        ),
        (
            br#"{"items":[]}"#,
            "expected a document of kind PodList or List, found kind None",
        ),
        (
            b"not json",
            "PodList or List document is not valid JSON with an `items` array: expected ident at line 1 column 2",
        ),
    ];
    for (bytes, message) in cases {
        match pods_from_json(bytes) {
            // A NodeList is a list, of the wrong items: every item is skipped, not an error.
            Ok((pods, skipped)) => {
                assert_eq!(message, "");
                assert!(pods.is_empty());
                assert_eq!(skipped.len(), 3);
                assert_eq!(skipped[0].reason, "kind is Node, expected Pod");
            }
            Err(e) => {
                assert!(matches!(
                    e,
                    BuildError::NotAList { .. } | BuildError::Json { .. }
                ));
                assert_eq!(e.to_string(), message);
            }
        }
    }
}

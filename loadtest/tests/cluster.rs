//! The generated cluster seen through its Kubernetes JSON: real `k8s-openapi` shapes, the
//! labels and owner references processors rely on, IP reuse, stale IPs, determinism.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::List;
use k8s_openapi::api::core::v1::{Node, Pod};
use loadtest::{ClusterSpec, TrafficSpec, generate_cluster, generate_flows};

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3600;

fn pods_at(cluster: &loadtest::Cluster, t: i64) -> Vec<Pod> {
    let value = cluster.pods_json(t);
    assert_eq!(value["apiVersion"], "v1");
    assert_eq!(value["kind"], "PodList");
    serde_json::from_value::<List<Pod>>(value)
        .expect("PodList")
        .items
}

#[test]
fn node_list_has_the_real_shape_and_labels() {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + HOUR).unwrap();
    let value = cluster.nodes_json();
    assert_eq!(value["apiVersion"], "v1");
    assert_eq!(value["kind"], "NodeList");
    let nodes = serde_json::from_value::<List<Node>>(value).unwrap().items;
    assert_eq!(nodes.len(), 6);
    let mut zones = HashSet::new();
    for node in &nodes {
        let labels = node.metadata.labels.as_ref().unwrap();
        let zone = &labels["topology.kubernetes.io/zone"];
        let zone_id = &labels["topology.k8s.aws/zone-id"];
        assert!(zone.starts_with("us-east-1"), "{zone}");
        assert!(zone_id.starts_with("use1-az"), "{zone_id}");
        assert!(labels.contains_key("node.kubernetes.io/instance-type"));
        zones.insert((zone.clone(), zone_id.clone()));
        let provider = node.spec.as_ref().unwrap().provider_id.as_ref().unwrap();
        let (az, instance) = provider
            .strip_prefix("aws:///")
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(az, zone);
        assert!(
            instance.starts_with("i-") && instance.len() == 19,
            "{instance}"
        );
        let addresses = node.status.as_ref().unwrap().addresses.as_ref().unwrap();
        let internal: Vec<&str> = addresses
            .iter()
            .filter(|a| a.type_ == "InternalIP")
            .map(|a| a.address.as_str())
            .collect();
        assert!(internal[0].starts_with("10.0."), "{internal:?}");
        assert!(internal[1].contains(':'), "IPv6 InternalIP {internal:?}");
        let [a, b, c, d] = internal[0].parse::<std::net::Ipv4Addr>().unwrap().octets();
        assert_eq!(
            node.metadata.name.as_deref(),
            Some(format!("ip-{a}-{b}-{c}-{d}.ec2.internal").as_str())
        );
    }
    // Three zones, and the zone IDs are not simply the zone names' letters in order.
    assert_eq!(zones.len(), 3);
    assert!(zones.contains(&("us-east-1a".to_string(), "use1-az4".to_string())));
}

#[test]
fn pods_carry_owners_labels_and_status_of_every_workload_kind() {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + HOUR).unwrap();
    let pods = pods_at(&cluster, START + HOUR / 2);
    assert!((55..=80).contains(&pods.len()), "{} pods", pods.len());
    let mut kinds = BTreeMap::new();
    for pod in &pods {
        let meta = &pod.metadata;
        let labels = meta.labels.as_ref().unwrap();
        assert!(labels.contains_key("app"), "{:?}", meta.name);
        assert!(meta.uid.as_ref().unwrap().len() == 36);
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.controller, Some(true));
        *kinds.entry(owner.kind.clone()).or_insert(0) += 1;
        let name = meta.name.as_ref().unwrap();
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let hash = &labels["pod-template-hash"];
                assert_eq!(owner.name, format!("{}-{hash}", labels["app"]));
                assert!(name.starts_with(&format!("{}-", owner.name)));
            }
            "StatefulSet" => assert!(
                name.strip_prefix(&format!("{}-", owner.name))
                    .unwrap()
                    .parse::<u32>()
                    .is_ok()
            ),
            "DaemonSet" => assert_eq!(meta.namespace.as_deref(), Some("kube-system")),
            "Job" => {
                let (cron, minutes) = owner.name.rsplit_once('-').unwrap();
                assert_eq!(cron, labels["app"]);
                assert!(minutes.parse::<i64>().unwrap() * 60 <= START + HOUR / 2);
                assert_eq!(labels["job-name"], owner.name);
            }
            other => panic!("unexpected owner kind {other}"),
        }
        let spec = pod.spec.as_ref().unwrap();
        let status = pod.status.as_ref().unwrap();
        assert!(spec.node_name.is_some());
        if status.phase.as_deref() == Some("Running")
            || status.phase.as_deref() == Some("Succeeded")
        {
            let ip = status.pod_ip.as_ref().unwrap();
            assert_eq!(status.pod_ips.as_ref().unwrap()[0].ip, *ip);
            assert!(status.start_time.is_some());
            if spec.host_network == Some(true) {
                assert_eq!(
                    Some(ip),
                    status.host_ip.as_ref(),
                    "hostNetwork pod IP = node IP"
                );
                let ports = spec.containers[0].ports.as_ref().unwrap();
                assert!(ports.iter().all(|p| p.host_port == Some(p.container_port)));
            }
        }
    }
    for kind in ["ReplicaSet", "StatefulSet", "DaemonSet"] {
        assert!(kinds.contains_key(kind), "{kinds:?}");
    }
    let json = serde_json::to_string(&cluster.pods_json(START)).unwrap();
    assert!(json.contains(r#""startTime":"20"#), "RFC 3339 startTime");
}

/// (uid, ip, workload, start, last seen) of every non-hostNetwork pod observed every 10 s.
fn timeline(cluster: &loadtest::Cluster) -> Vec<(String, String, String, i64, i64, String)> {
    let mut seen: BTreeMap<String, (String, String, i64, i64, String)> = BTreeMap::new();
    let mut t = cluster.start - HOUR;
    while t <= cluster.end {
        for pod in pods_at(cluster, t) {
            let status = pod.status.unwrap();
            if pod.spec.unwrap().host_network == Some(true) {
                continue;
            }
            let (Some(ip), Some(start)) = (status.pod_ip, status.start_time) else {
                continue;
            };
            let app = pod.metadata.labels.unwrap()["app"].clone();
            let phase = status.phase.unwrap();
            let entry = seen.entry(pod.metadata.uid.unwrap()).or_insert((
                ip,
                app,
                start.0.as_second(),
                t,
                phase.clone(),
            ));
            entry.3 = t;
            entry.4 = phase;
        }
        t += 10;
    }
    seen.into_iter()
        .map(|(uid, (ip, app, start, last, phase))| (uid, ip, app, start, last, phase))
        .collect()
}

#[test]
fn ips_are_reused_within_a_minute_also_by_other_workloads() {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + 2 * HOUR).unwrap();
    let pods = timeline(&cluster);
    let (mut fast, mut fast_other) = (0, 0);
    for a in &pods {
        for b in &pods {
            // b took a's IP after a vanished from the list (a deleted, seen last at a.4).
            if a.0 != b.0 && a.1 == b.1 && b.3 > a.4 && b.3 - a.4 <= 60 && a.5 == "Running" {
                fast += 1;
                if a.2 != b.2 {
                    fast_other += 1;
                }
            }
        }
    }
    assert!(fast >= 30, "{fast} reuses within a minute");
    assert!(
        fast_other * 4 >= fast,
        "{fast_other} of {fast} by another workload"
    );
    // No two pods that both count as running ever share an IP at the same time.
    for t in (START..START + 2 * HOUR).step_by(30) {
        let mut ips = HashSet::new();
        for pod in pods_at(&cluster, t) {
            let status = pod.status.unwrap();
            if pod.spec.unwrap().host_network != Some(true)
                && status.phase.as_deref() == Some("Running")
            {
                assert!(
                    ips.insert(status.pod_ip.unwrap()),
                    "duplicate running IP at {t}"
                );
            }
        }
    }
}

#[test]
fn succeeded_job_pods_keep_stale_ips_that_others_hold() {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + 3 * HOUR).unwrap();
    let mut stale_shared = 0;
    for t in (START..=START + 3 * HOUR).step_by(300) {
        let pods = pods_at(&cluster, t);
        let running: HashSet<String> = pods
            .iter()
            .filter(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
            .filter_map(|p| p.status.as_ref().unwrap().pod_ip.clone())
            .collect();
        for pod in &pods {
            let status = pod.status.as_ref().unwrap();
            if status.phase.as_deref() == Some("Succeeded") {
                assert!(status.pod_ip.is_some(), "Succeeded pods keep their podIP");
                if running.contains(status.pod_ip.as_ref().unwrap()) {
                    stale_shared += 1;
                }
            }
        }
    }
    assert!(
        stale_shared > 0,
        "no Succeeded pod whose stale IP a running pod holds"
    );
}

#[test]
fn same_seed_same_everything_other_seed_other_cluster() {
    let run = |seed: u64| {
        let cluster = generate_cluster(
            &ClusterSpec {
                seed,
                ..ClusterSpec::default()
            },
            START,
            START + HOUR,
        )
        .unwrap();
        let spec = TrafficSpec {
            seed,
            flows_per_minute: 50,
            ..TrafficSpec::new(START, HOUR)
        };
        let set = generate_flows(&cluster, &spec).unwrap();
        let lines: Vec<String> = set.lines(&cluster).collect();
        (
            cluster.nodes_json(),
            cluster.pods_json(START + HOUR),
            lines,
            serde_json::to_string(&set.truth).unwrap(),
        )
    };
    let a = run(7);
    let b = run(7);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert_eq!(a.3, b.3);
    let c = run(8);
    assert_ne!(a.0, c.0);
    assert_ne!(a.2, c.2);
}

#[test]
fn invalid_specs_are_refused_not_panicked_on() {
    let err = generate_cluster(
        &ClusterSpec {
            zones: 9,
            ..ClusterSpec::default()
        },
        START,
        START + HOUR,
    )
    .unwrap_err();
    assert_eq!(err.field, "zones");
    let err = generate_cluster(&ClusterSpec::default(), START, START).unwrap_err();
    assert_eq!(err.field, "end");
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + HOUR).unwrap();
    let err = generate_flows(
        &cluster,
        &TrafficSpec {
            cross_az_share: -0.1,
            ..TrafficSpec::new(START, HOUR)
        },
    )
    .unwrap_err();
    assert_eq!(err.field, "cross_az_share");
}

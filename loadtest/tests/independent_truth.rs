//! The generator's truth, re-derived independently: only from the rendered flow-log lines and the
//! Kubernetes JSON the generator publishes (pod lists observed every 10 s, like an eager
//! extractor), with a naive linear-scan, time-aware lookup written apart from the generator's.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::List;
use k8s_openapi::api::core::v1::{Node, Pod};
use loadtest::{
    Cluster, ClusterSpec, Counts, EndpointKey, FlowKey, RecordClass, TrafficSpec, Truth,
    generate_cluster, generate_flows, parse_format,
};

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const OBSERVE_EVERY_SECS: i64 = 10;

/// What the JSON says about one pod, from its latest observation.
struct SeenPod {
    namespace: String,
    name: String,
    workload: String,
    node: String,
    ip: String,
    host_network: bool,
    ports: Vec<(u16, u8)>,
    start: i64,
    finished: Option<i64>,
}

struct World {
    node_by_ip: HashMap<String, String>,
    zone_id_of_node: HashMap<String, String>,
    pods: Vec<SeenPod>,
}

fn epoch(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_second()
}

fn workload_of(pod: &Pod) -> String {
    let owner = &pod.metadata.owner_references.as_ref().expect("owner")[0];
    let labels = pod.metadata.labels.as_ref().expect("labels");
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let hash = &labels["pod-template-hash"];
            owner
                .name
                .strip_suffix(&format!("-{hash}"))
                .expect("rs = deploy-hash")
                .to_string()
        }
        "Job" => {
            let (cron, digits) = owner.name.rsplit_once('-').expect("job = cron-digits");
            assert!(digits.chars().all(|c| c.is_ascii_digit()), "{}", owner.name);
            cron.to_string()
        }
        _ => owner.name.clone(),
    }
}

fn observe(cluster: &Cluster) -> World {
    let nodes: List<Node> = serde_json::from_value(cluster.nodes_json()).expect("NodeList");
    let mut node_by_ip = HashMap::new();
    let mut zone_id_of_node = HashMap::new();
    for node in &nodes.items {
        let name = node.metadata.name.clone().expect("name");
        let labels = node.metadata.labels.as_ref().expect("labels");
        zone_id_of_node.insert(name.clone(), labels["topology.k8s.aws/zone-id"].clone());
        for a in node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .expect("addresses")
        {
            if a.type_ == "InternalIP" {
                node_by_ip.insert(a.address.clone(), name.clone());
            }
        }
    }
    let mut latest: BTreeMap<String, Pod> = BTreeMap::new();
    let mut t = cluster.start - 3600;
    while t <= cluster.end + 600 {
        let list: List<Pod> = serde_json::from_value(cluster.pods_json(t)).expect("PodList");
        for pod in list.items {
            latest.insert(pod.metadata.uid.clone().expect("uid"), pod);
        }
        t += OBSERVE_EVERY_SECS;
    }
    let mut pods = Vec::new();
    for pod in latest.values() {
        let spec = pod.spec.as_ref().expect("spec");
        let status = pod.status.as_ref().expect("status");
        let (Some(ip), Some(start)) = (&status.pod_ip, &status.start_time) else {
            continue;
        };
        let finished = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(epoch)
            .max()
            .filter(|_| status.phase.as_deref() == Some("Succeeded"));
        let ports = spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .map(|p| {
                let proto = if p.protocol.as_deref() == Some("UDP") {
                    17
                } else {
                    6
                };
                (p.host_port.unwrap_or(p.container_port) as u16, proto)
            })
            .collect();
        pods.push(SeenPod {
            namespace: pod.metadata.namespace.clone().expect("ns"),
            name: pod.metadata.name.clone().expect("name"),
            workload: workload_of(pod),
            node: spec.node_name.clone().expect("node"),
            ip: ip.clone(),
            host_network: spec.host_network == Some(true),
            ports,
            start: epoch(start),
            finished,
        });
    }
    World {
        node_by_ip,
        zone_id_of_node,
        pods,
    }
}

impl World {
    /// Who `ip` is at `t` for a flow on `port`/`protocol`: design §4 and §9, by linear scan.
    fn who(&self, ip: &str, port: u16, protocol: u8, t: i64) -> Option<EndpointKey> {
        if let Some(node) = self.node_by_ip.get(ip) {
            let zone_id = Some(self.zone_id_of_node[node].clone());
            for p in &self.pods {
                if p.host_network
                    && &p.node == node
                    && p.start <= t
                    && p.ports.contains(&(port, protocol))
                {
                    return Some(EndpointKey {
                        kind: "hostnet".into(),
                        namespace: Some(p.namespace.clone()),
                        pod: Some(p.name.clone()),
                        workload: Some(p.workload.clone()),
                        zone_id,
                    });
                }
            }
            return Some(EndpointKey {
                kind: "node".into(),
                namespace: None,
                pod: None,
                workload: None,
                zone_id,
            });
        }
        let mut best: Option<&SeenPod> = None;
        for p in &self.pods {
            if !p.host_network
                && p.ip == ip
                && p.start <= t
                && best.is_none_or(|b| p.start > b.start)
            {
                best = Some(p);
            }
        }
        let p = best?;
        if p.finished.is_some_and(|f| f <= t) {
            return None;
        }
        Some(EndpointKey {
            kind: "pod".into(),
            namespace: Some(p.namespace.clone()),
            pod: Some(p.name.clone()),
            workload: Some(p.workload.clone()),
            zone_id: Some(self.zone_id_of_node[&p.node].clone()),
        })
    }
}

/// Classify every line and total the kept bytes, knowing nothing but lines and JSON.
fn derive_truth(world: &World, fields: &[String], lines: &[String]) -> Truth {
    let mut truth = Truth::default();
    for line in lines {
        let values: HashMap<&str, &str> = fields
            .iter()
            .map(String::as_str)
            .zip(line.split(' '))
            .collect();
        assert_eq!(values.len(), fields.len(), "field count in {line}");
        let num = |name: &str| values[name].parse::<u64>().unwrap_or(0);
        let class = match values["log-status"] {
            "NODATA" => RecordClass::NoData,
            "SKIPDATA" => RecordClass::SkipData,
            _ if values["flow-direction"] == "ingress" => RecordClass::Ingress,
            _ if values["action"] == "REJECT" => RecordClass::Reject,
            _ => {
                let t = values["start"].parse::<i64>().expect("start");
                let protocol = num("protocol") as u8;
                let src = world.who(values["pkt-srcaddr"], num("srcport") as u16, protocol, t);
                let dst = world.who(values["pkt-dstaddr"], num("dstport") as u16, protocol, t);
                match (src, dst) {
                    (Some(s), Some(d)) if s.zone_id == d.zone_id => RecordClass::SameAz,
                    (Some(src), Some(dst)) => {
                        let dt = chrono::DateTime::from_timestamp(t, 0)
                            .expect("time")
                            .format("%Y-%m-%d-%H")
                            .to_string();
                        let c = truth.cross_az.entry(FlowKey { dt, src, dst }).or_default();
                        c.records += 1;
                        c.packets += num("packets");
                        c.bytes += num("bytes");
                        RecordClass::CrossAz
                    }
                    _ => RecordClass::Unknown,
                }
            }
        };
        let c = truth.classes.entry(class).or_insert_with(Counts::default);
        c.records += 1;
        c.packets += num("packets");
        c.bytes += num("bytes");
    }
    for class in RecordClass::ALL {
        truth.classes.entry(class).or_default();
    }
    truth
}

fn check(format: &str, hours: i64, cross_az_share: f64, aggregation_secs: i64) {
    let end = START + hours * 3600;
    let cluster = generate_cluster(&ClusterSpec::default(), START, end).expect("cluster");
    let fields = parse_format(format);
    let spec = TrafficSpec {
        flows_per_minute: 150,
        cross_az_share,
        aggregation_secs,
        format: fields.clone(),
        // Enough empty windows that a short run still has some of each.
        nodata_share: 0.1,
        skipdata_share: 0.05,
        ..TrafficSpec::new(START, hours * 3600)
    };
    let set = generate_flows(&cluster, &spec).expect("flows");
    let lines: Vec<String> = set.lines(&cluster).collect();
    let derived = derive_truth(&observe(&cluster), &fields, &lines);
    let diff = set.truth.diff(&derived);
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(derived, set.truth);
    // The run must exercise every class, or the comparison proves little.
    for class in RecordClass::ALL {
        assert!(
            set.truth.classes[&class].records > 0,
            "no {} records",
            class.as_str()
        );
    }
    let kinds: Vec<&str> = set
        .truth
        .cross_az
        .keys()
        .flat_map(|k| [k.src.kind.as_str(), k.dst.kind.as_str()])
        .collect();
    for kind in ["pod", "hostnet", "node"] {
        assert!(kinds.contains(&kind), "no cross-AZ {kind} endpoint");
    }
}

#[test]
fn truth_matches_an_independent_derivation_in_the_recommended_format() {
    check(loadtest::RECOMMENDED_FORMAT, 2, 0.4, 60);
}

#[test]
fn truth_matches_in_a_shuffled_format_with_600s_windows() {
    let format = "${log-status} ${pkt-dstaddr} ${bytes} ${az-id} ${action} ${dstport} ${start} \
                  ${protocol} ${flow-direction} ${srcport} ${packets} ${pkt-srcaddr} ${end} \
                  ${ecs-task-id} ${future-field}";
    check(format, 1, 0.7, 600);
}

#[test]
fn cross_az_share_steers_the_kept_bytes() {
    let end = START + 3600;
    let cluster = generate_cluster(&ClusterSpec::default(), START, end).expect("cluster");
    let share = |s: f64| {
        let spec = TrafficSpec {
            cross_az_share: s,
            flows_per_minute: 100,
            ..TrafficSpec::new(START, 3600)
        };
        let truth = generate_flows(&cluster, &spec).expect("flows").truth;
        let kept = truth.classes[&RecordClass::CrossAz].records as f64;
        kept / (kept + truth.classes[&RecordClass::SameAz].records as f64)
    };
    let (none, low, high) = (share(0.0), share(0.2), share(0.8));
    assert!(none < 1e-9, "{none}");
    assert!((0.1..0.3).contains(&low), "{low}");
    assert!((0.7..0.9).contains(&high), "{high}");
}

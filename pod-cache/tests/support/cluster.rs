//! Cluster objects in the apiserver's JSON format: a small hand-written cluster whose snapshot
//! the tests assert field by field, and generators for the scale bench.
#![allow(dead_code)]

use std::net::IpAddr;

use pod_cache::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
use pod_cache::{NodeInfo, PodInfo, Snapshot, WorkloadKind};
use serde_json::{Value, json};

/// Epoch seconds of `2026-11-27T05:00:00Z`, the fixture's reference time.
pub const T0: i64 = 1_795_755_600;

fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .expect("valid time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A node as `kubectl get node -o json` shows it on EKS (trimmed of images and allocatable).
pub fn node(
    name: &str,
    zone: &str,
    zone_id: &str,
    instance: &str,
    ip: &str,
    fargate: bool,
) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": zone,
        "topology.k8s.aws/zone-id": zone_id,
    });
    // Fargate nodes carry no instance type, and their providerID names no EC2 instance.
    let provider_id = if fargate {
        labels["eks.amazonaws.com/compute-type"] = json!("fargate");
        format!("aws:///{zone}/8f0e7d6c5b/{name}")
    } else {
        labels["node.kubernetes.io/instance-type"] = json!("m5.large");
        format!("aws:///{zone}/{instance}")
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": format!("uid-{name}"), "resourceVersion": "1001",
            "creationTimestamp": rfc3339(T0 - 86_400), "labels": labels,
            "annotations": {"alpha.kubernetes.io/provided-node-ip": ip},
        },
        "spec": {"providerID": provider_id},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": format!("{name}.ec2.internal")},
                {"type": "Hostname", "address": format!("{name}.ec2.internal")},
            ],
            "capacity": {"cpu": "2", "memory": "7936952Ki", "pods": "29"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "lastHeartbeatTime": rfc3339(T0), "lastTransitionTime": rfc3339(T0 - 86_000)}],
            "nodeInfo": {"kubeletVersion": "v1.33.5-eks-fixture", "containerRuntimeVersion": "containerd://1.7.27",
                         "architecture": "amd64", "operatingSystem": "linux"},
        },
    })
}

/// Owner of a pod: `(kind, name)`.
pub type Owner<'a> = Option<(&'a str, &'a str)>;

/// Everything that varies between fixture pods.
pub struct PodSpec<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// `metadata.uid`.
    pub uid: &'a str,
    /// Controller owner.
    pub owner: Owner<'a>,
    /// Labels.
    pub labels: Value,
    /// `spec.nodeName`.
    pub node: Option<&'a str>,
    /// `status.podIPs`.
    pub ips: &'a [&'a str],
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `(containerPort, protocol)` of the single container.
    pub ports: &'a [(u16, &'a str)],
    /// `status.phase`.
    pub phase: &'a str,
    /// `status.startTime`.
    pub start: Option<i64>,
}

/// A pod as `kubectl get pod -o json` shows it, with the fields a real one carries
/// (managedFields, volumes, env, conditions, containerStatuses…).
pub fn pod(p: &PodSpec) -> Value {
    let mut metadata = json!({
        "name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": "2002",
        "creationTimestamp": rfc3339(T0 - 60), "labels": p.labels,
        "annotations": {"kubectl.kubernetes.io/restartedAt": rfc3339(T0 - 3600)},
        "managedFields": [{"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet",
                           "operation": "Update", "subresource": "status", "time": rfc3339(T0),
                           "fieldsV1": {"f:status": {"f:phase": {}}}}],
    });
    if let Some((kind, name)) = p.owner {
        let api_version = if kind == "Job" {
            "batch/v1"
        } else if kind == "Node" {
            "v1"
        } else {
            "apps/v1"
        };
        metadata["ownerReferences"] = json!([{
            "apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"),
            "controller": true, "blockOwnerDeletion": true,
        }]);
    }
    let ports: Vec<Value> = p
        .ports
        .iter()
        .map(|(port, protocol)| json!({"containerPort": port, "protocol": protocol}))
        .collect();
    let mut spec = json!({
        "containers": [{
            "name": "main", "image": "public.ecr.aws/nginx/nginx:1.27", "imagePullPolicy": "IfNotPresent",
            "env": [{"name": "MODE", "value": "fixture"}],
            "resources": {"requests": {"cpu": "100m"}},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "name": "kube-api-access-x1", "readOnly": true}],
        }],
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "restartPolicy": "Always",
        "schedulerName": "default-scheduler", "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
                         "operator": "Exists", "tolerationSeconds": 300}],
        "volumes": [{"name": "kube-api-access-x1", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
    });
    if !ports.is_empty() {
        spec["containers"][0]["ports"] = Value::Array(ports);
    }
    if let Some(node) = p.node {
        spec["nodeName"] = json!(node);
    }
    if p.host_network {
        spec["hostNetwork"] = json!(true);
    }
    let mut status = json!({
        "phase": p.phase, "qosClass": "Burstable",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(T0)}],
    });
    if let Some(start) = p.start {
        status["startTime"] = json!(rfc3339(start));
        status["containerStatuses"] = json!([{"name": "main", "ready": true, "restartCount": 0,
            "image": "public.ecr.aws/nginx/nginx:1.27", "imageID": "sha256:abc",
            "containerID": "containerd://0123", "started": true,
            "state": {"running": {"startedAt": rfc3339(start + 2)}}}]);
    }
    if let Some(first) = p.ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = Value::Array(p.ips.iter().map(|ip| json!({"ip": ip})).collect());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status})
}

/// The three nodes of the small cluster.
pub fn small_nodes() -> Vec<String> {
    [
        node(
            "ip-10-0-1-10.ec2.internal",
            "us-east-1a",
            "use1-az1",
            "i-0aaa",
            "10.0.1.10",
            false,
        ),
        node(
            "ip-10-0-2-20.ec2.internal",
            "us-east-1b",
            "use1-az2",
            "i-0bbb",
            "10.0.2.20",
            false,
        ),
        node(
            "fargate-ip-10-0-3-30.ec2.internal",
            "us-east-1c",
            "use1-az3",
            "i-0ccc",
            "10.0.3.30",
            true,
        ),
    ]
    .iter()
    .map(Value::to_string)
    .collect()
}

/// Raw JSON of the malformed pod in [`small_pods`]: `hostNetwork` is a string.
pub const MALFORMED_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"broken","namespace":"shop","uid":"u-broken"},"spec":{"hostNetwork":"yes","containers":[{"name":"main","image":"x"}]},"status":{"phase":"Running"}}"#;

/// The pods of the small cluster, in list order; the fourth is [`MALFORMED_POD`].
pub fn small_pods() -> Vec<String> {
    let n1 = "ip-10-0-1-10.ec2.internal";
    let n2 = "ip-10-0-2-20.ec2.internal";
    let pods = [
        PodSpec {
            namespace: "shop",
            name: "web-7c9d8b6f5-abcde",
            uid: "u-web-1",
            owner: Some(("ReplicaSet", "web-7c9d8b6f5")),
            labels: json!({"app": "web", "pod-template-hash": "7c9d8b6f5"}),
            node: Some(n1),
            ips: &["10.0.1.57"],
            host_network: false,
            ports: &[(80, "TCP")],
            phase: "Running",
            start: Some(T0 - 50),
        },
        PodSpec {
            namespace: "shop",
            name: "web-7c9d8b6f5-fghij",
            uid: "u-web-2",
            owner: Some(("ReplicaSet", "web-7c9d8b6f5")),
            labels: json!({"app": "web", "pod-template-hash": "7c9d8b6f5"}),
            node: Some(n2),
            ips: &["10.0.2.81", "2600:1f18::81"],
            host_network: false,
            ports: &[(80, "TCP")],
            phase: "Running",
            start: Some(T0 - 40),
        },
        PodSpec {
            namespace: "shop",
            name: "db-0",
            uid: "u-db-0",
            owner: Some(("StatefulSet", "db")),
            labels: json!({"app.kubernetes.io/name": "postgres", "app": "db"}),
            node: Some(n2),
            ips: &["10.0.2.90"],
            host_network: false,
            ports: &[(5432, "TCP")],
            phase: "Running",
            start: Some(T0 - 30),
        },
        // index 3: MALFORMED_POD inserted below
        PodSpec {
            namespace: "kube-system",
            name: "aws-node-k7x2p",
            uid: "u-aws-node",
            owner: Some(("DaemonSet", "aws-node")),
            labels: json!({"k8s-app": "aws-node"}),
            node: Some(n1),
            ips: &["10.0.1.10"],
            host_network: true,
            ports: &[(61678, "TCP"), (53, "UDP")],
            phase: "Running",
            start: Some(T0 - 3000),
        },
        PodSpec {
            namespace: "batch",
            name: "report-29400000-q8w4z",
            uid: "u-report",
            owner: Some(("Job", "report-29400000")),
            labels: json!({"app": "report"}),
            node: Some(n1),
            ips: &["10.0.1.99"],
            host_network: false,
            ports: &[],
            phase: "Succeeded",
            start: Some(T0 - 600),
        },
        PodSpec {
            namespace: "default",
            name: "debug",
            uid: "u-debug",
            owner: None,
            labels: json!({}),
            node: None,
            ips: &[],
            host_network: false,
            ports: &[],
            phase: "Pending",
            start: None,
        },
        PodSpec {
            namespace: "shop",
            name: "web-7c9d8b6f5-klmno",
            uid: "u-web-3",
            owner: Some(("ReplicaSet", "web-7c9d8b6f5")),
            labels: json!({"app": "web", "pod-template-hash": "7c9d8b6f5"}),
            node: Some("fargate-ip-10-0-3-30.ec2.internal"),
            ips: &["10.0.3.30"],
            host_network: false,
            ports: &[(80, "TCP")],
            phase: "Running",
            start: Some(T0 - 20),
        },
    ];
    let mut raw: Vec<String> = pods.iter().map(|p| pod(p).to_string()).collect();
    raw.insert(3, MALFORMED_POD.to_owned());
    raw
}

/// Nodes of the generated scale cluster: three zones, 250 nodes per /24.
pub fn generated_node(index: usize) -> String {
    let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][index % 3];
    let zone_id = ["use1-az1", "use1-az2", "use1-az4"][index % 3];
    let name = format!(
        "ip-10-{}-{}-{}.ec2.internal",
        16 + index / 62_500 % 200,
        index / 250 % 250,
        index % 250 + 1
    );
    let ip = format!(
        "10.{}.{}.{}",
        16 + index / 62_500 % 200,
        index / 250 % 250,
        index % 250 + 1
    );
    node(&name, zone, zone_id, &format!("i-{index:017x}"), &ip, false).to_string()
}

/// Number of nodes the generated pods are spread over (the bench's node count).
pub const GENERATED_NODES: usize = 5_000;

/// Pods of the generated scale cluster: 100 namespaces, Deployments of 10 replicas.
pub fn generated_pod(index: usize) -> String {
    let namespace = format!("team-{:02}", index % 100);
    let deployment = format!("svc-{}", index / 1000);
    let hash = format!("{:09x}", index / 10 * 2_654_435_761 % 0xF_FFFF_FFFF);
    let replica_set = format!("{deployment}-{hash}");
    let name = format!("{replica_set}-{:05}", index % 100_000);
    let uid = format!("00000000-0000-4000-8000-{index:012}");
    let node_index = index % GENERATED_NODES;
    let node_name = format!(
        "ip-10-{}-{}-{}.ec2.internal",
        16 + node_index / 62_500 % 200,
        node_index / 250 % 250,
        node_index % 250 + 1
    );
    let ip = format!(
        "100.{}.{}.{}",
        64 + index / 65_536 % 64,
        index / 256 % 256,
        index % 256
    );
    let ips = [ip.as_str()];
    pod(&PodSpec {
        namespace: &namespace,
        name: &name,
        uid: &uid,
        owner: Some(("ReplicaSet", &replica_set)),
        labels: json!({"app.kubernetes.io/name": deployment, "pod-template-hash": hash}),
        node: Some(&node_name),
        ips: &ips,
        host_network: false,
        ports: &[(8080, "TCP")],
        phase: "Running",
        start: Some(T0 - (index % 3600) as i64),
    })
    .to_string()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().expect("ip")).collect()
}

fn expected_node(
    name: &str,
    ip: &str,
    zone: &str,
    zone_id: &str,
    instance: Option<&str>,
) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        ips: ips(&[ip]),
        zone: Some(zone.into()),
        zone_id: Some(zone_id.into()),
        instance_id: instance.map(Into::into),
        instance_type: instance.map(|_| "m5.large".into()),
        compute_type: instance.is_none().then(|| "fargate".into()),
    }
}

#[allow(clippy::too_many_arguments)]
fn expected_pod(
    (namespace, name, uid): (&str, &str, &str),
    (workload_kind, workload): (WorkloadKind, &str),
    app: Option<&str>,
    node: &str,
    pod_ips: &[&str],
    host_ports: &[(u16, u8)],
    phase: &str,
    start: i64,
) -> PodInfo {
    PodInfo {
        uid: uid.into(),
        namespace: namespace.into(),
        name: name.into(),
        workload_kind,
        workload: workload.into(),
        app: app.map(Into::into),
        node: Some(node.into()),
        ips: ips(pod_ips),
        host_network: !host_ports.is_empty(),
        ports: host_ports
            .iter()
            .map(|&(port, protocol)| DeclaredPort { port, protocol })
            .collect(),
        phase: phase.into(),
        start_time: Some(start),
        // Terminated pods without a container finish time: first observed as finished.
        finished_at: (phase == "Succeeded" || phase == "Failed").then_some(T0),
        first_seen: T0,
        last_seen: T0,
    }
}

/// The snapshot of [`small_nodes`] and [`small_pods`] observed at [`T0`] with the default app
/// label keys, written out by hand: sorted by name; the pending pod (no IP) and the malformed
/// pod are absent; the Succeeded pod is kept (holding its IP until it finished, here unknown so
/// until it was first seen finished); ports only for hostNetwork.
pub fn expected_small_snapshot() -> Snapshot {
    let n1 = "ip-10-0-1-10.ec2.internal";
    let n2 = "ip-10-0-2-20.ec2.internal";
    let fargate = "fargate-ip-10-0-3-30.ec2.internal";
    Snapshot {
        format: SNAPSHOT_FORMAT.into(),
        version: SNAPSHOT_VERSION,
        cluster: "demo".into(),
        generated_at: T0,
        nodes: vec![
            expected_node(fargate, "10.0.3.30", "us-east-1c", "use1-az3", None),
            expected_node(n1, "10.0.1.10", "us-east-1a", "use1-az1", Some("i-0aaa")),
            expected_node(n2, "10.0.2.20", "us-east-1b", "use1-az2", Some("i-0bbb")),
        ],
        pods: vec![
            expected_pod(
                ("batch", "report-29400000-q8w4z", "u-report"),
                (WorkloadKind::CronJob, "report"),
                Some("report"),
                n1,
                &["10.0.1.99"],
                &[],
                "Succeeded",
                T0 - 600,
            ),
            expected_pod(
                ("kube-system", "aws-node-k7x2p", "u-aws-node"),
                (WorkloadKind::DaemonSet, "aws-node"),
                Some("aws-node"),
                n1,
                &["10.0.1.10"],
                &[(53, 17), (61678, 6)],
                "Running",
                T0 - 3000,
            ),
            expected_pod(
                ("shop", "db-0", "u-db-0"),
                (WorkloadKind::StatefulSet, "db"),
                Some("postgres"),
                n2,
                &["10.0.2.90"],
                &[],
                "Running",
                T0 - 30,
            ),
            expected_pod(
                ("shop", "web-7c9d8b6f5-abcde", "u-web-1"),
                (WorkloadKind::Deployment, "web"),
                Some("web"),
                n1,
                &["10.0.1.57"],
                &[],
                "Running",
                T0 - 50,
            ),
            expected_pod(
                ("shop", "web-7c9d8b6f5-fghij", "u-web-2"),
                (WorkloadKind::Deployment, "web"),
                Some("web"),
                n2,
                &["10.0.2.81", "2600:1f18::81"],
                &[],
                "Running",
                T0 - 40,
            ),
            expected_pod(
                ("shop", "web-7c9d8b6f5-klmno", "u-web-3"),
                (WorkloadKind::Deployment, "web"),
                Some("web"),
                fargate,
                &["10.0.3.30"],
                &[],
                "Running",
                T0 - 20,
            ),
        ],
    }
}

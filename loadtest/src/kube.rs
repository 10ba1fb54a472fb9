//! Kubernetes views of a generated cluster: `NodeList` and `PodList` JSON exactly as the API
//! server (and `kubectl get -o json`) returns them, built from the `k8s-openapi` types so the
//! shape is the real one.
//!
//! Owns the mapping from the generator's model to Kubernetes objects (names, labels, owner
//! references, phases); it never decides who holds an IP.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort as KubeContainerPort, ContainerState, ContainerStateRunning,
    ContainerStateTerminated, ContainerStatus, HostIP, Node as KubeNode, NodeAddress,
    NodeCondition, NodeSpec, NodeStatus, Pod as KubePod, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::{List, jiff};

use crate::cluster::{Cluster, Pod, WorkloadKind};

/// Node label: zone name.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Node label: zone ID (cloud-provider-aws).
pub const LABEL_ZONE_ID: &str = "topology.k8s.aws/zone-id";
/// Node label: EC2 instance type.
pub const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// Pod label read as the app name.
pub const LABEL_APP: &str = "app";

fn time(secs: i64) -> Option<Time> {
    jiff::Timestamp::from_second(secs).ok().map(Time)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn protocol_name(protocol: u8) -> &'static str {
    if protocol == 17 { "UDP" } else { "TCP" }
}

impl Cluster {
    /// The `NodeList` (apiVersion `v1`, kind `NodeList`).
    pub fn nodes_json(&self) -> serde_json::Value {
        let items = self.nodes.iter().map(|node| {
            let zone = &self.zones[node.zone];
            let ip = node.ip.to_string();
            KubeNode {
                metadata: ObjectMeta {
                    name: Some(node.name.clone()),
                    uid: Some(node.uid.clone()),
                    creation_timestamp: time(node.created),
                    labels: Some(labels(&[
                        ("kubernetes.io/hostname", node.name.as_str()),
                        ("kubernetes.io/os", "linux"),
                        ("kubernetes.io/arch", "amd64"),
                        ("eks.amazonaws.com/nodegroup", "ng-1"),
                        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                        (LABEL_INSTANCE_TYPE, node.instance_type.as_str()),
                        ("topology.kubernetes.io/region", crate::cluster::REGION),
                        (LABEL_ZONE, zone.name.as_str()),
                        (LABEL_ZONE_ID, zone.id.as_str()),
                    ])),
                    ..ObjectMeta::default()
                },
                spec: Some(NodeSpec {
                    provider_id: Some(format!("aws:///{}/{}", zone.name, node.instance_id)),
                    ..NodeSpec::default()
                }),
                status: Some(NodeStatus {
                    addresses: Some(vec![
                        NodeAddress {
                            type_: "InternalIP".into(),
                            address: ip,
                        },
                        NodeAddress {
                            type_: "InternalIP".into(),
                            address: node.ipv6.to_string(),
                        },
                        NodeAddress {
                            type_: "Hostname".into(),
                            address: node.name.clone(),
                        },
                        NodeAddress {
                            type_: "InternalDNS".into(),
                            address: node.name.clone(),
                        },
                    ]),
                    conditions: Some(vec![NodeCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        reason: Some("KubeletReady".into()),
                        last_transition_time: time(node.created + 60),
                        ..NodeCondition::default()
                    }]),
                    ..NodeStatus::default()
                }),
            }
        });
        let list = List::<KubeNode> {
            items: items.collect(),
            ..List::default()
        };
        serde_json::to_value(list).unwrap_or(serde_json::Value::Null)
    }

    /// The `PodList` as the API would list it at `at` (epoch s): pods created by then and not
    /// yet deleted, with the phase they had then. Succeeded Job pods keep their stale `podIP`.
    pub fn pods_json(&self, at: i64) -> serde_json::Value {
        let items = self
            .pods
            .iter()
            .filter(|p| p.created <= at && p.deleted.is_none_or(|d| at < d))
            .map(|p| self.kube_pod(p, at));
        let list = List::<KubePod> {
            items: items.collect(),
            ..List::default()
        };
        serde_json::to_value(list).unwrap_or(serde_json::Value::Null)
    }

    fn owner(&self, pod: &Pod) -> OwnerReference {
        let w = &self.workloads[pod.workload];
        let (api_version, kind, name, uid) = match (&w.kind, &pod.job) {
            (WorkloadKind::Deployment, _) => (
                "apps/v1",
                "ReplicaSet",
                format!("{}-{}", w.name, w.revision_hash),
                w.uid.clone(),
            ),
            (WorkloadKind::StatefulSet, _) => {
                ("apps/v1", "StatefulSet", w.name.clone(), w.uid.clone())
            }
            (WorkloadKind::DaemonSet, _) => ("apps/v1", "DaemonSet", w.name.clone(), w.uid.clone()),
            (WorkloadKind::CronJob, Some(job)) => {
                ("batch/v1", "Job", job.name.clone(), job.uid.clone())
            }
            (WorkloadKind::CronJob, None) => ("batch/v1", "Job", w.name.clone(), w.uid.clone()),
        };
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name,
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn kube_pod(&self, pod: &Pod, at: i64) -> KubePod {
        let w = &self.workloads[pod.workload];
        let node = &self.nodes[pod.node];
        let mut label_pairs: Vec<(&str, String)> = vec![(LABEL_APP, w.app.clone())];
        match (&w.kind, &pod.job) {
            (WorkloadKind::Deployment, _) => {
                label_pairs.push(("pod-template-hash", w.revision_hash.clone()));
            }
            (WorkloadKind::StatefulSet, _) => {
                label_pairs.push((
                    "controller-revision-hash",
                    format!("{}-{}", w.name, w.revision_hash),
                ));
                label_pairs.push(("statefulset.kubernetes.io/pod-name", pod.name.clone()));
            }
            (WorkloadKind::DaemonSet, _) => {
                label_pairs.push(("controller-revision-hash", w.revision_hash.clone()));
                label_pairs.push(("pod-template-generation", "1".into()));
            }
            (WorkloadKind::CronJob, job) => {
                if let Some(job) = job {
                    label_pairs.push(("job-name", job.name.clone()));
                    label_pairs.push(("batch.kubernetes.io/job-name", job.name.clone()));
                    label_pairs.push(("batch.kubernetes.io/controller-uid", job.uid.clone()));
                }
            }
        }
        let ports = w.ports.iter().map(|c| KubeContainerPort {
            container_port: i32::from(c.port),
            host_port: w.host_network.then_some(i32::from(c.port)),
            protocol: Some(protocol_name(c.protocol).into()),
            ..KubeContainerPort::default()
        });
        let container = Container {
            name: w.name.clone(),
            image: Some(w.image.clone()),
            ports: (!w.ports.is_empty()).then(|| ports.collect()),
            ..Container::default()
        };
        let succeeded = pod.completes && pod.end.is_some_and(|e| e <= at);
        let started = pod.start <= at;
        let phase = if succeeded {
            "Succeeded"
        } else if started {
            "Running"
        } else {
            "Pending"
        };
        let container_id = format!("containerd://{}{}", pod.uid.replace('-', ""), &pod.uid[..8]);
        let state = if succeeded {
            ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 0,
                    reason: Some("Completed".into()),
                    started_at: time(pod.start),
                    finished_at: pod.end.and_then(time),
                    container_id: Some(container_id.clone()),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }
        } else {
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: time(pod.start),
                }),
                ..ContainerState::default()
            }
        };
        let node_ip = node.ip.to_string();
        let pod_ip = pod.ip.to_string();
        KubePod {
            metadata: ObjectMeta {
                name: Some(pod.name.clone()),
                namespace: Some(w.namespace.clone()),
                uid: Some(pod.uid.clone()),
                creation_timestamp: time(pod.created),
                labels: Some(
                    label_pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                ),
                owner_references: Some(vec![self.owner(pod)]),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![container],
                node_name: Some(node.name.clone()),
                host_network: w.host_network.then_some(true),
                dns_policy: Some(
                    if w.host_network {
                        "ClusterFirstWithHostNet"
                    } else {
                        "ClusterFirst"
                    }
                    .into(),
                ),
                restart_policy: Some(if pod.completes { "Never" } else { "Always" }.into()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                host_ip: Some(node_ip.clone()),
                host_ips: Some(vec![HostIP { ip: node_ip }]),
                pod_ip: started.then(|| pod_ip.clone()),
                pod_ips: started.then(|| vec![PodIP { ip: pod_ip }]),
                start_time: if started { time(pod.start) } else { None },
                container_statuses: started.then(|| {
                    vec![ContainerStatus {
                        name: w.name.clone(),
                        image: w.image.clone(),
                        image_id: format!("{}@sha256:{}", w.image, w.uid.replace('-', "")),
                        container_id: Some(container_id),
                        ready: !succeeded,
                        started: Some(!succeeded),
                        restart_count: 0,
                        state: Some(state),
                        ..ContainerStatus::default()
                    }]
                }),
                qos_class: Some("BestEffort".into()),
                ..PodStatus::default()
            }),
        }
    }
}

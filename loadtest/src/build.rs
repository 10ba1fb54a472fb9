//! Building a [`Cluster`]: placement, IP allocation on each node, churn and CronJob runs, as a
//! small discrete-event simulation in time order.
//!
//! Owns the allocation rules that make IP reuse happen on purpose: a replaced pod's IP goes to
//! the next pod on the same node within a minute (half the time a pod of another workload), a
//! completed Job pod's IP is taken again half the time, and fresh allocations avoid recently
//! freed IPs so that no other fast reuse happens by accident.

use std::net::Ipv4Addr;

use crate::cluster::{
    self, Cluster, ContainerPort, Eni, JobRun, MIN_POD_LIFETIME_SECS, Node, POD_IP_OFFSETS, Pod,
    Workload, WorkloadKind, Zone,
};
use crate::rng::Rng;
use crate::spec::ClusterSpec;

/// The VPC CNI hands a freed IP to the next pod on the node after its 30 s cooldown; we reuse
/// within a minute, as the design says it often happens.
const REUSE_DELAY_SECS: (i64, i64) = (5, 55);
/// A fresh allocation avoids IPs freed in the last five minutes, so the only fast reuses are the
/// deliberate ones.
const FRESH_COOLDOWN_SECS: i64 = 300;
/// Every CronJob runs a Job this often.
const JOB_PERIOD_SECS: i64 = 900;
/// A Job pod runs this long before it Succeeds.
const JOB_DURATION_SECS: (i64, i64) = (MIN_POD_LIFETIME_SECS, 480);
/// Kubernetes' default `successfulJobsHistoryLimit`: older Job pods are deleted.
const JOB_HISTORY: usize = 3;

/// Pods the spec may put on one node; the rest of its 56 pod IPs absorb churn and reuse.
pub(crate) const POD_CAPACITY_PER_NODE: usize = 40;

const TCP: u8 = 6;
const UDP: u8 = 17;

/// hostNetwork DaemonSets: name and declared ports (unique across the list, none in the
/// ephemeral range and none equal to a port of [`crate::traffic`]'s node-to-node flows).
pub(crate) const HOSTNET_DAEMONSETS: [(&str, &[(u16, u8)]); 5] = [
    ("kube-proxy", &[(10249, TCP), (10256, TCP)]),
    ("node-exporter", &[(9100, TCP)]),
    ("node-local-dns", &[(53, UDP), (53, TCP), (9253, TCP)]),
    ("aws-node", &[(61678, TCP), (61679, TCP)]),
    ("ebs-csi-node", &[(9808, TCP)]),
];
const DAEMONSETS: [(&str, u16); 4] = [
    ("fluent-bit", 2020),
    ("datadog-agent", 8126),
    ("otel-agent", 4317),
    ("falco", 8765),
];
const NAMESPACES: [&str; 8] = [
    "shop",
    "payments",
    "search",
    "identity",
    "catalog",
    "media",
    "analytics",
    "ads",
];
const DEPLOYMENTS: [(&str, u16); 16] = [
    ("frontend", 8080),
    ("cart", 8080),
    ("checkout", 8443),
    ("orders", 9090),
    ("inventory", 8080),
    ("recommender", 50051),
    ("auth", 8443),
    ("gateway", 80),
    ("pricing", 3000),
    ("reviews", 9080),
    ("shipping", 50051),
    ("notifications", 5000),
    ("ledger", 8080),
    ("session", 6000),
    ("profile", 8080),
    ("image-resizer", 8080),
];
const STATEFULSETS: [(&str, u16); 6] = [
    ("redis", 6379),
    ("postgres", 5432),
    ("kafka", 9092),
    ("zookeeper", 2181),
    ("etcd", 2379),
    ("cassandra", 9042),
];
const CRONJOBS: [&str; 5] = ["report", "backup", "cleanup", "etl", "sync"];
/// Namespace of DaemonSets.
const SYSTEM_NAMESPACE: &str = "kube-system";

/// Name `i` from a list, suffixed with a counter once the list is exhausted.
fn nth_name(list: &[&str], i: usize) -> String {
    let base = list[i % list.len()];
    if i < list.len() {
        base.to_string()
    } else {
        format!("{base}-{}", i / list.len() + 1)
    }
}

enum Event {
    Churn,
    CronRun { cron: usize, scheduled: i64 },
}

/// Builds one cluster; see the module doc.
pub(crate) struct Builder<'s> {
    spec: &'s ClusterSpec,
    start: i64,
    end: i64,
    rng: Rng,
    zones: Vec<Zone>,
    nodes: Vec<Node>,
    enis: Vec<Eni>,
    namespaces: Vec<String>,
    workloads: Vec<Workload>,
    pods: Vec<Pod>,
    /// Per node, per pod-IP offset: busy until (MIN = never used, MAX = held with no end).
    busy_until: Vec<Vec<i64>>,
}

impl<'s> Builder<'s> {
    pub(crate) fn new(spec: &'s ClusterSpec, start: i64, end: i64) -> Self {
        let mut rng = Rng::derive(spec.seed, 1);
        let zones: Vec<Zone> = (0..spec.zones)
            .map(|z| cluster::make_zone(z, &mut rng))
            .collect();
        let mut enis = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..spec.nodes {
            let mut node = cluster::make_node(i, spec.zones, &mut enis, &mut rng);
            node.created = start - rng.range(4 * 86_400, 30 * 86_400);
            nodes.push(node);
        }
        for eni in &mut enis {
            eni.window_phase = rng.range(0, 59);
        }
        let namespaces = (0..spec.namespaces)
            .map(|i| nth_name(&NAMESPACES, i))
            .collect();
        let busy_until = vec![vec![i64::MIN; POD_IP_OFFSETS.len()]; nodes.len()];
        let mut builder = Builder {
            spec,
            start,
            end,
            rng,
            zones,
            nodes,
            enis,
            namespaces,
            workloads: Vec::new(),
            pods: Vec::new(),
            busy_until,
        };
        builder.make_workloads();
        builder
    }

    fn workload(&mut self, kind: WorkloadKind, namespace: &str, name: String, ports: &[(u16, u8)]) {
        let host_network =
            kind == WorkloadKind::DaemonSet && HOSTNET_DAEMONSETS.iter().any(|(n, _)| *n == name);
        let revision_hash = if kind == WorkloadKind::Deployment {
            cluster::suffix(&mut self.rng, 10)
        } else {
            cluster::suffix(&mut self.rng, 10).replace(['b', 'c', 'd', 'f'], "7")
        };
        self.workloads.push(Workload {
            kind,
            namespace: namespace.to_string(),
            uid: cluster::uuid(&mut self.rng),
            app: name.clone(),
            image: format!("registry.example.com/{name}:1.{}", self.rng.range(0, 9)),
            name,
            host_network,
            ports: ports
                .iter()
                .map(|&(port, protocol)| ContainerPort { port, protocol })
                .collect(),
            revision_hash,
        });
    }

    fn make_workloads(&mut self) {
        let spec = self.spec;
        let ns = |b: &Self, i: usize| b.namespaces[i % b.namespaces.len()].clone();
        for i in 0..spec.deployments {
            let (_, port) = DEPLOYMENTS[i % DEPLOYMENTS.len()];
            let namespace = ns(self, i);
            self.workload(
                WorkloadKind::Deployment,
                &namespace,
                nth_name(&DEPLOYMENTS.map(|d| d.0), i),
                &[(port, TCP)],
            );
        }
        for i in 0..spec.statefulsets {
            let (_, port) = STATEFULSETS[i % STATEFULSETS.len()];
            let namespace = ns(self, i + 1);
            self.workload(
                WorkloadKind::StatefulSet,
                &namespace,
                nth_name(&STATEFULSETS.map(|d| d.0), i),
                &[(port, TCP)],
            );
        }
        for i in 0..spec.daemonsets {
            let (_, port) = DAEMONSETS[i % DAEMONSETS.len()];
            let name = nth_name(&DAEMONSETS.map(|d| d.0), i);
            self.workload(
                WorkloadKind::DaemonSet,
                SYSTEM_NAMESPACE,
                name,
                &[(port, TCP)],
            );
        }
        for (name, ports) in HOSTNET_DAEMONSETS.iter().take(spec.hostnet_daemonsets) {
            self.workload(
                WorkloadKind::DaemonSet,
                SYSTEM_NAMESPACE,
                (*name).to_string(),
                ports,
            );
        }
        for i in 0..spec.jobs {
            let namespace = ns(self, i + 2);
            self.workload(
                WorkloadKind::CronJob,
                &namespace,
                nth_name(&CRONJOBS, i),
                &[],
            );
        }
    }

    /// A fresh pod IP on `node` for a pod that starts at or after `at`: never used, or freed
    /// long enough ago. Marks it held.
    fn allocate(&mut self, node: usize, at: i64) -> Option<Ipv4Addr> {
        let slots = &mut self.busy_until[node];
        let k = slots.iter().position(|&b| {
            b == i64::MIN || (b != i64::MAX && b.saturating_add(FRESH_COOLDOWN_SECS) <= at)
        })?;
        slots[k] = i64::MAX;
        Some(cluster::pod_ip(
            &self.nodes[node],
            POD_IP_OFFSETS.start + k as u32,
        ))
    }

    /// Mark `ip` on `node` free from `at` (a completed Job pod nobody takes over).
    fn release(&mut self, node: usize, ip: Ipv4Addr, at: i64) {
        let base = u32::from(cluster::pod_ip(&self.nodes[node], POD_IP_OFFSETS.start));
        if let Some(slot) = self.busy_until[node].get_mut((u32::from(ip) - base) as usize) {
            *slot = at;
        }
    }

    /// A random node with a free pod IP at `at`, and that IP.
    fn place(&mut self, at: i64) -> Option<(usize, Ipv4Addr)> {
        let first = self.rng.index(self.nodes.len());
        for k in 0..self.nodes.len() {
            let node = (first + k) % self.nodes.len();
            if let Some(ip) = self.allocate(node, at) {
                return Some((node, ip));
            }
        }
        None
    }

    fn pod_name(&mut self, workload: usize, ordinal: usize) -> String {
        let w = &self.workloads[workload];
        match w.kind {
            WorkloadKind::Deployment => {
                let prefix = format!("{}-{}", w.name, w.revision_hash);
                format!("{prefix}-{}", cluster::suffix(&mut self.rng, 5))
            }
            WorkloadKind::StatefulSet => format!("{}-{ordinal}", w.name),
            WorkloadKind::DaemonSet | WorkloadKind::CronJob => {
                let prefix = w.name.clone();
                format!("{prefix}-{}", cluster::suffix(&mut self.rng, 5))
            }
        }
    }

    fn add_pod(
        &mut self,
        workload: usize,
        node: usize,
        ip: Ipv4Addr,
        start: i64,
        name: String,
    ) -> usize {
        let created = start - self.rng.range(1, 3);
        self.pods.push(Pod {
            uid: cluster::uuid(&mut self.rng),
            name,
            workload,
            node,
            ip,
            created,
            start,
            end: None,
            deleted: None,
            completes: false,
            job: None,
        });
        self.pods.len() - 1
    }

    fn initial_pods(&mut self) {
        let before = self.start - 4 * 86_400;
        for w in 0..self.workloads.len() {
            let kind = self.workloads[w].kind;
            let replicas = match kind {
                WorkloadKind::Deployment => self.spec.pods_per_deployment,
                WorkloadKind::StatefulSet => self.spec.pods_per_statefulset,
                WorkloadKind::DaemonSet => self.nodes.len(),
                WorkloadKind::CronJob => 0,
            };
            let first = self.rng.index(self.nodes.len());
            for r in 0..replicas {
                let node = (first + r) % self.nodes.len();
                let ip = if self.workloads[w].host_network {
                    self.nodes[node].ip
                } else if let Some(ip) = self.allocate(node, before) {
                    ip
                } else {
                    continue;
                };
                let start = if kind == WorkloadKind::DaemonSet {
                    self.nodes[node].created + self.rng.range(30, 120)
                } else {
                    self.start - self.rng.range(600, 3 * 86_400)
                };
                let name = self.pod_name(w, r);
                self.add_pod(w, node, ip, start, name);
            }
        }
    }

    pub(crate) fn run(&mut self) {
        self.initial_pods();
        let hours = (self.end - self.start + 3599) / 3600;
        let churns = self.spec.churn_per_hour as i64 * hours;
        let mut events: Vec<(i64, Event)> = (0..churns)
            .map(|_| (self.rng.range(self.start, self.end - 1), Event::Churn))
            .collect();
        let crons: Vec<usize> = (0..self.workloads.len())
            .filter(|&w| self.workloads[w].kind == WorkloadKind::CronJob)
            .collect();
        for (c, &w) in crons.iter().enumerate() {
            let _ = c;
            let mut scheduled = self.start - JOB_PERIOD_SECS + self.rng.range(0, 14) * 60;
            scheduled -= scheduled.rem_euclid(60);
            while scheduled < self.end {
                events.push((scheduled, Event::CronRun { cron: w, scheduled }));
                scheduled += JOB_PERIOD_SECS;
            }
        }
        events.sort_by_key(|(t, _)| *t);
        let mut history: Vec<Vec<usize>> = vec![Vec::new(); self.workloads.len()];
        for (t, event) in events {
            match event {
                Event::Churn => self.churn(t),
                Event::CronRun { cron, scheduled } => {
                    self.cron_run(cron, scheduled, &mut history[cron]);
                }
            }
        }
    }

    fn deployments_except(&self, w: usize) -> Vec<usize> {
        (0..self.workloads.len())
            .filter(|&d| d != w && self.workloads[d].kind == WorkloadKind::Deployment)
            .collect()
    }

    /// Replace one running Deployment/StatefulSet pod; its IP goes to the next pod on the node.
    fn churn(&mut self, t: i64) {
        let candidates: Vec<usize> = (0..self.pods.len())
            .filter(|&p| {
                let pod = &self.pods[p];
                let kind = self.workloads[pod.workload].kind;
                matches!(kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
                    && pod.end.is_none()
                    && pod.start <= t - MIN_POD_LIFETIME_SECS
            })
            .collect();
        let Some(&p) = self.rng.pick(&candidates) else {
            return;
        };
        self.pods[p].end = Some(t);
        self.pods[p].deleted = Some(t);
        let (workload, node, ip) = (self.pods[p].workload, self.pods[p].node, self.pods[p].ip);
        let reuse_at = t + self.rng.range(REUSE_DELAY_SECS.0, REUSE_DELAY_SECS.1);
        let others = self.deployments_except(workload);
        let other = if self.rng.chance(0.5) {
            self.rng.pick(&others).copied()
        } else {
            None
        };
        let ordinal = self.pods[p]
            .name
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match other {
            None => {
                let name = if self.workloads[workload].kind == WorkloadKind::StatefulSet {
                    self.pods[p].name.clone()
                } else {
                    self.pod_name(workload, ordinal)
                };
                let q = self.add_pod(workload, node, ip, reuse_at, name);
                self.pods[q].created = self.pods[q].created.max(t);
            }
            Some(other) => {
                let name = self.pod_name(other, 0);
                let q = self.add_pod(other, node, ip, reuse_at, name);
                self.pods[q].created = self.pods[q].created.max(t);
                let replace_at = t + self.rng.range(2, 20);
                if let Some((rnode, rip)) = self.place(t) {
                    let name = if self.workloads[workload].kind == WorkloadKind::StatefulSet {
                        self.pods[p].name.clone()
                    } else {
                        self.pod_name(workload, ordinal)
                    };
                    let r = self.add_pod(workload, rnode, rip, replace_at, name);
                    self.pods[r].created = self.pods[r].created.max(t);
                }
            }
        }
    }

    /// One Job of a CronJob: a pod that runs a few minutes and stays listed as Succeeded with
    /// its stale IP; half the time another workload's pod takes that IP within a minute.
    fn cron_run(&mut self, cron: usize, scheduled: i64, history: &mut Vec<usize>) {
        let Some((node, ip)) = self.place(scheduled) else {
            return;
        };
        let start = scheduled + self.rng.range(1, 4);
        let end = start + self.rng.range(JOB_DURATION_SECS.0, JOB_DURATION_SECS.1);
        let job_name = format!("{}-{}", self.workloads[cron].name, scheduled / 60);
        let job = JobRun {
            name: job_name.clone(),
            uid: cluster::uuid(&mut self.rng),
        };
        let name = format!("{job_name}-{}", cluster::suffix(&mut self.rng, 5));
        let p = self.add_pod(cron, node, ip, start, name);
        self.pods[p].created = scheduled;
        self.pods[p].end = Some(end);
        self.pods[p].completes = true;
        self.pods[p].job = Some(job);
        history.push(p);
        if history.len() > JOB_HISTORY {
            let oldest = history.remove(0);
            self.pods[oldest].deleted = Some(scheduled);
        }
        let others = self.deployments_except(cron);
        let reuse = if self.rng.chance(0.5) {
            self.rng.pick(&others).copied()
        } else {
            None
        };
        match reuse {
            Some(other) => {
                let at = end + self.rng.range(REUSE_DELAY_SECS.0, REUSE_DELAY_SECS.1);
                let name = self.pod_name(other, 0);
                let q = self.add_pod(other, node, ip, at, name);
                self.pods[q].created = self.pods[q].created.max(end);
            }
            None => self.release(node, ip, end),
        }
    }

    pub(crate) fn finish(self) -> Cluster {
        let parts = cluster::Parts {
            zones: self.zones,
            nodes: self.nodes,
            enis: self.enis,
            namespaces: self.namespaces,
            workloads: self.workloads,
            pods: self.pods,
        };
        Cluster::assemble(self.spec, self.start, self.end, parts)
    }
}

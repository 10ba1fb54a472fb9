//! An IP reused across workloads within one hour: successive extractor runs (build + merge) and
//! the time-aware index pick the right pod at each time.

use k8s_openapi::api::core::v1::Pod;
use pod_cache::build::{BuildOptions, build_snapshot};
use pod_cache::index::PodIndex;
use pod_cache::merge::{DEFAULT_RETENTION_SECS, merge};
use pod_cache::{Snapshot, decode, encode};

/// 2026-11-27T05:00:00Z.
const T0: i64 = 1_795_755_600;
const IP: &str = "10.0.1.77";

fn rfc3339(epoch: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(epoch)
        .unwrap()
        .to_string()
}

fn pod(name: &str, owner_kind: &str, owner: &str, phase: &str, start: i64) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": format!("uid-{name}"),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": owner_kind, "name": owner,
                                 "uid": "owner", "controller": true}]
        },
        "spec": {"nodeName": "ip-10-0-1-10.ec2.internal", "containers": [{"name": "main"}]},
        "status": {"phase": phase, "podIP": IP, "podIPs": [{"ip": IP}], "startTime": rfc3339(start)}
    }))
    .unwrap()
}

/// One extractor run at `now` seeing `pods`, merged into the previous snapshot, through the codec.
fn run(previous: Option<&Snapshot>, now: i64, pods: &[Pod]) -> Snapshot {
    let opts = BuildOptions {
        cluster: "cross-az".into(),
        ..BuildOptions::default()
    };
    let (current, _) = build_snapshot(&opts, now, pods, &[]);
    decode(&encode(&merge(previous, current, DEFAULT_RETENTION_SECS)).unwrap()).unwrap()
}

#[test]
fn each_flow_time_finds_the_pod_that_held_the_ip() {
    let job = || {
        pod(
            "report-29410560-q8z7w",
            "Job",
            "report-29410560",
            "Running",
            T0,
        )
    };
    let web = |phase| {
        pod(
            "web-6d4cf56db6-vb2xq",
            "ReplicaSet",
            "web-6d4cf56db6",
            phase,
            T0 + 1210,
        )
    };
    let batch = pod(
        "migrate-db-x7k2m",
        "Job",
        "migrate-db",
        "Running",
        T0 + 2400,
    );

    // 05:00 the CronJob's pod runs; 05:10 it is gone (deleted after success);
    // 05:20:10 a web pod gets the IP, last seen 05:34; 05:35 it is gone; 05:40 a Job pod gets the IP.
    let s1 = run(None, T0 + 60, &[job()]);
    let s2 = run(Some(&s1), T0 + 600, &[]);
    let s3 = run(Some(&s2), T0 + 1260, &[web("Running")]);
    let s3b = run(Some(&s3), T0 + 2040, &[web("Running")]);
    let s4 = run(Some(&s3b), T0 + 2100, &[]);
    let s5 = run(Some(&s4), T0 + 2460, &[batch]);
    let index = PodIndex::new(s5);
    assert_eq!(
        index.snapshot().pods.len(),
        3,
        "all three retained within the hour"
    );

    // (flow start, expected workload kind and name, or "unknown"). Design §4: a pod holds its IP
    // from its startTime until a later pod on that IP starts, vanished or not.
    let cases = [
        (T0 - 1, "unknown"),
        (T0, "CronJob/report"),
        (T0 + 100, "CronJob/report"),
        // Gone by T0+600 but nobody took the IP yet: late flows still find the report pod.
        (T0 + 1209, "CronJob/report"),
        (T0 + 1210, "Deployment/web"),
        (T0 + 1800, "Deployment/web"),
        // Web last seen at T0+2040, gone by T0+2100: still web's until the Job pod starts.
        (T0 + 2100, "Deployment/web"),
        (T0 + 2399, "Deployment/web"),
        (T0 + 2400, "Job/migrate-db"),
        (T0 + 3600, "Job/migrate-db"),
    ];
    for (at, expected) in cases {
        let endpoint = index.lookup(IP.parse().unwrap(), at, None, None);
        let got = endpoint.pod().map_or_else(
            || endpoint.kind().to_owned(),
            |p| format!("{}/{}", p.workload_kind.as_str(), p.workload),
        );
        assert_eq!(got, expected, "flow at T0{:+}", at - T0);
    }
}

#[test]
fn a_terminated_pod_holds_its_ip_only_until_it_finished() {
    let mut done = pod(
        "report-29410560-q8z7w",
        "Job",
        "report-29410560",
        "Succeeded",
        T0,
    );
    // The container's own finish time bounds the tenure, not the first time we saw it finished.
    done.status.as_mut().unwrap().container_statuses = Some(vec![
        serde_json::from_value(serde_json::json!({
            "name": "main", "ready": false, "restartCount": 0, "image": "report", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "startedAt": rfc3339(T0),
                                      "finishedAt": rfc3339(T0 + 300)}}
        }))
        .unwrap(),
    ]);
    let web = pod(
        "web-6d4cf56db6-vb2xq",
        "ReplicaSet",
        "web-6d4cf56db6",
        "Running",
        T0 + 1200,
    );
    let index = PodIndex::new(run(None, T0 + 1260, &[done, web]));
    let at = |t| {
        index
            .lookup(IP.parse().unwrap(), t, None, None)
            .pod()
            .map(|p| p.name.clone())
    };
    assert_eq!(at(T0 + 100).as_deref(), Some("report-29410560-q8z7w"));
    assert_eq!(at(T0 + 299).as_deref(), Some("report-29410560-q8z7w"));
    // Finished and not yet reused: the stale IP belongs to nobody.
    assert_eq!(at(T0 + 300), None);
    assert_eq!(at(T0 + 1100), None);
    assert_eq!(at(T0 + 1200).as_deref(), Some("web-6d4cf56db6-vb2xq"));
}

//! Test fixtures shared by the core's unit tests: a small hand-built snapshot, and a check of
//! the eight-byte (SWAR) byte masks.

use pod_cache::index::PodIndex;
use pod_cache::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
use pod_cache::{NodeInfo, PodInfo, Snapshot, WorkloadKind};

pub(crate) const T0: i64 = 1_714_568_400; // 2024-05-01T13:00:00Z

fn node(name: &str, ip: &str, zone: Option<&str>, zone_id: Option<&str>, i: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        ips: vec![ip.parse().unwrap()],
        zone: zone.map(Into::into),
        zone_id: zone_id.map(Into::into),
        instance_id: Some(i.into()),
        instance_type: Some("m5.large".into()),
        compute_type: None,
    }
}

fn pod(name: &str, workload: &str, node: &str, ip: &str, start: i64) -> PodInfo {
    PodInfo {
        uid: format!("uid-{name}"),
        namespace: "shop".into(),
        name: name.into(),
        workload_kind: WorkloadKind::Deployment,
        workload: workload.into(),
        app: Some(workload.into()),
        node: Some(node.into()),
        ips: vec![ip.parse().unwrap()],
        host_network: false,
        ports: vec![],
        phase: "Running".into(),
        start_time: Some(start),
        finished_at: None,
        first_seen: start,
        last_seen: T0 + 3600,
    }
}

/// Three nodes in two zones (a has no zone-id label), pods with IP reuse and a stale IP,
/// a hostNetwork DaemonSet pod declaring TCP 9100, and an IPv6 pod.
pub(crate) fn index() -> PodIndex {
    let mut reused = pod("cart-1", "cart", "n-a", "10.0.1.10", T0 - 600);
    reused.last_seen = T0 + 1200;
    let mut stale = pod("migrate-1", "migrate", "n-b", "10.0.2.20", T0 - 7200);
    stale.phase = "Succeeded".into();
    stale.workload_kind = WorkloadKind::Job;
    let mut exporter = pod(
        "node-exporter-x",
        "node-exporter",
        "n-b",
        "10.0.2.2",
        T0 - 9000,
    );
    exporter.host_network = true;
    exporter.workload_kind = WorkloadKind::DaemonSet;
    exporter.ports = vec![DeclaredPort {
        port: 9100,
        protocol: 6,
    }];
    let snapshot = Snapshot {
        format: SNAPSHOT_FORMAT.into(),
        version: SNAPSHOT_VERSION,
        cluster: "test".into(),
        generated_at: T0 + 3600,
        nodes: vec![
            node("n-a", "10.0.1.1", Some("us-east-1a"), None, "i-a"),
            node(
                "n-b",
                "10.0.2.2",
                Some("us-east-1b"),
                Some("use1-az2"),
                "i-b",
            ),
            node(
                "n-b2",
                "10.0.2.3",
                Some("us-east-1b"),
                Some("use1-az2"),
                "i-b2",
            ),
        ],
        pods: vec![
            reused,
            // The same IP handed to a pod of another workload 20 minutes in.
            pod("payments-1", "payments", "n-a", "10.0.1.10", T0 + 1200),
            pod("web-1", "web", "n-b", "10.0.2.30", T0 - 600),
            pod("web-2", "web", "n-b2", "10.0.2.40", T0 - 600),
            pod("search-1", "search", "n-b", "fd00::1e", T0 - 600),
            pod("api-1", "api", "n-a", "fd00::a", T0 - 600),
            stale,
            // The stale IP's new owner.
            pod("web-3", "web", "n-b", "10.0.2.21", T0 - 60),
            exporter,
        ],
    };
    PodIndex::new(snapshot)
}

/// Asserts that `mask` of an eight-byte word sets the high bit of exactly the bytes `flagged`
/// picks: every byte value in every position of a word of `background` bytes (which must not be
/// flagged).
pub(crate) fn assert_word_mask(
    mask: impl Fn(u64) -> u64,
    background: u8,
    flagged: impl Fn(u8) -> bool,
) {
    assert!(!flagged(background), "background {background} is flagged");
    for byte in 0..=255u8 {
        for position in 0..8 {
            let mut word = [background; 8];
            word[position] = byte;
            let expected = if flagged(byte) {
                0x80u64 << (8 * position)
            } else {
                0
            };
            assert_eq!(
                mask(u64::from_le_bytes(word)),
                expected,
                "{byte} at {position}"
            );
        }
    }
}

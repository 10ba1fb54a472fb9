//! Property test: every snapshot survives encode → decode unchanged.

use std::net::IpAddr;

use pod_cache::codec::{decode, encode};
use pod_cache::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
use pod_cache::{NodeInfo, PodInfo, Snapshot, WorkloadKind};
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Names plus the characters JSON must escape.
    "[a-z0-9./\"\\\\\u{e9}\u{1F600}-]{0,24}"
}

fn kind() -> impl Strategy<Value = WorkloadKind> {
    prop_oneof![
        Just(WorkloadKind::Deployment),
        Just(WorkloadKind::ReplicaSet),
        Just(WorkloadKind::StatefulSet),
        Just(WorkloadKind::DaemonSet),
        Just(WorkloadKind::Job),
        Just(WorkloadKind::CronJob),
        Just(WorkloadKind::Node),
        Just(WorkloadKind::Other),
        Just(WorkloadKind::Pod),
    ]
}

fn node() -> impl Strategy<Value = NodeInfo> {
    (
        text(),
        prop::collection::vec(ip(), 0..3),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(
            |(name, ips, zone, zone_id, instance_id, instance_type, compute_type)| NodeInfo {
                name,
                ips,
                zone,
                zone_id,
                instance_id,
                instance_type,
                compute_type,
            },
        )
}

fn pod() -> impl Strategy<Value = PodInfo> {
    (
        (
            text(),
            text(),
            text(),
            kind(),
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
        ),
        (
            prop::collection::vec(ip(), 0..3),
            any::<bool>(),
            prop::collection::vec((any::<u16>(), any::<u8>()), 0..3),
            text(),
            prop::option::of(any::<i64>()),
            any::<i64>(),
            any::<i64>(),
        ),
    )
        .prop_map(
            |(
                (uid, namespace, name, workload_kind, workload, app, node),
                (ips, host_network, ports, phase, start_time, first_seen, last_seen),
            )| PodInfo {
                uid,
                namespace,
                name,
                workload_kind,
                workload,
                app,
                node,
                ips,
                host_network,
                ports: ports
                    .into_iter()
                    .map(|(port, protocol)| DeclaredPort { port, protocol })
                    .collect(),
                phase,
                start_time,
                finished_at: None,
                first_seen,
                last_seen,
            },
        )
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(
        cluster in text(),
        generated_at in any::<i64>(),
        nodes in prop::collection::vec(node(), 0..4),
        pods in prop::collection::vec(pod(), 0..8),
    ) {
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            cluster,
            generated_at,
            nodes,
            pods,
        };
        let bytes = encode(&snapshot).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), snapshot.clone());
        let plain = serde_json::to_vec(&snapshot).unwrap();
        prop_assert_eq!(decode(&plain).unwrap(), snapshot);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        // Also down the decompression path.
        let framed: Vec<u8> = [0x28, 0xB5, 0x2F, 0xFD].into_iter().chain(bytes).collect();
        prop_assert!(decode(&framed).is_err());
    }
}

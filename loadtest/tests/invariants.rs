//! Properties over random specs: generation never panics, and the truth is internally
//! consistent with the records it came from.

use loadtest::{
    ClusterSpec, RecordClass, TrafficMix, TrafficSpec, generate_cluster, generate_flows,
};
use proptest::prelude::*;

const START: i64 = 1_767_225_600;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn truth_adds_up_for_any_small_spec(
        seed in any::<u64>(),
        zones in 0usize..7,
        nodes in 1usize..12,
        deployments in 0usize..10,
        hostnet in 0usize..6,
        jobs in 0usize..4,
        churn in 0usize..120,
        share in 0.0f64..=1.0,
        minutes in 1i64..40,
        aggregation in prop::sample::select(vec![60i64, 600]),
        weights in prop::collection::vec(0.0f64..1.0, 9),
    ) {
        let spec = ClusterSpec {
            seed, zones, nodes, deployments, hostnet_daemonsets: hostnet, jobs,
            churn_per_hour: churn, ..ClusterSpec::default()
        };
        let end = START + minutes * 60;
        let Ok(cluster) = generate_cluster(&spec, START, end) else {
            prop_assert!(spec.validate().is_err());
            return Ok(());
        };
        let mix = TrafficMix {
            pod_to_pod: weights[0], pod_to_hostnet: weights[1], node_to_node: weights[2],
            internet: weights[3], ipv6: weights[4], icmp: weights[5], reject: weights[6],
            stale_ip: weights[7], same_node: weights[8],
        };
        let traffic = TrafficSpec {
            seed, cross_az_share: share, aggregation_secs: aggregation, flows_per_minute: 30, mix,
            ..TrafficSpec::new(START, minutes * 60)
        };
        let Ok(set) = generate_flows(&cluster, &traffic) else {
            prop_assert!(traffic.validate().is_err());
            return Ok(());
        };
        let records: u64 = set.truth.classes.values().map(|c| c.records).sum();
        prop_assert_eq!(records, set.records.len() as u64);
        prop_assert_eq!(set.truth.cross_az_total(), set.truth.classes[&RecordClass::CrossAz]);
        for record in &set.records {
            prop_assert!(record.start <= record.end);
            prop_assert!(record.start < end + 600);
        }
        for key in set.truth.cross_az.keys() {
            prop_assert!(key.src.zone_id.is_some() && key.dst.zone_id.is_some());
            prop_assert_ne!(&key.src.zone_id, &key.dst.zone_id);
            prop_assert!(key.src.kind != "unknown" && key.dst.kind != "unknown");
        }
        if zones == 1 || share == 0.0 {
            prop_assert_eq!(set.truth.classes[&RecordClass::CrossAz].records, 0);
        }
    }
}

//! How pod-cache's attribution agrees with the generator's truth (design §4, §9).
//!
//! Builds a pod-cache snapshot from the generated `PodList` every minute (an extractor's view),
//! merges them, indexes the result and looks up both ends of every egress record at its `start`;
//! prints the agreement per (truth kind -> pod-cache kind) and the first disagreements.
//! Run: `cargo run -p crossaz-loadtest --features podcache-agreement --example podcache_agreement`.

use std::collections::BTreeMap;

use loadtest::record::Direction;
use loadtest::{ClusterSpec, Endpoint, TrafficSpec, generate_cluster, generate_flows};

const START: i64 = 1_767_225_600;
const HOURS: i64 = 2;
/// Extractor period.
const OBSERVE_EVERY_SECS: i64 = 60;
/// Shown disagreements.
const SHOWN: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let end = START + HOURS * 3600;
    let cluster = generate_cluster(&ClusterSpec::default(), START, end)?;
    let traffic = TrafficSpec {
        flows_per_minute: 150,
        ..TrafficSpec::new(START, HOURS * 3600)
    };
    let set = generate_flows(&cluster, &traffic)?;
    let (nodes, _) =
        pod_cache::build::nodes_from_json(&serde_json::to_vec(&cluster.nodes_json())?)?;
    let opts = pod_cache::BuildOptions {
        cluster: cluster.name.clone(),
        ..Default::default()
    };
    let mut merged: Option<pod_cache::Snapshot> = None;
    let mut t = START - 600;
    while t <= end + 120 {
        let (pods, _) =
            pod_cache::build::pods_from_json(&serde_json::to_vec(&cluster.pods_json(t))?)?;
        let (snapshot, _) = pod_cache::build_snapshot(&opts, t, &pods, &nodes);
        merged = Some(pod_cache::merge(merged.as_ref(), snapshot, 3 * 3600));
        t += OBSERVE_EVERY_SECS;
    }
    let index = pod_cache::PodIndex::new(merged.ok_or("no snapshot")?);
    let mut outcome: BTreeMap<String, u64> = BTreeMap::new();
    let mut shown = 0;
    let egress = set
        .records
        .iter()
        .filter(|r| r.has_flow() && r.direction == Direction::Egress);
    for r in egress {
        for (ip, port, truth) in [
            (r.pkt_src, r.src_port, r.src),
            (r.pkt_dst, r.dst_port, r.dst),
        ] {
            let got = index.lookup(ip, r.start, Some(port), Some(r.protocol));
            let want = cluster.endpoint_key(truth);
            let agree = got.kind() == want.kind
                && got.pod().map(|p| p.name.clone()) == want.pod
                && got.pod().map(|p| p.workload.clone()) == want.workload
                && got.zone_id().map(str::to_string) == want.zone_id;
            let verdict = if agree { "agree" } else { "DISAGREE" };
            *outcome
                .entry(format!("{} -> {} {verdict}", want.kind, got.kind()))
                .or_default() += 1;
            if !agree && shown < SHOWN {
                shown += 1;
                let lifetime = match truth {
                    Endpoint::Pod(p) => format!(
                        " (truth pod {}..{:?})",
                        cluster.pods[p].start, cluster.pods[p].end
                    ),
                    _ => String::new(),
                };
                let other = got
                    .pod()
                    .map(|p| (p.name.clone(), p.start_time, p.phase.clone()));
                println!(
                    "{ip} at {}: truth {want}{lifetime}; pod-cache {} {other:?}",
                    r.start,
                    got.kind()
                );
            }
        }
    }
    for (k, v) in outcome {
        println!("{k}: {v}");
    }
    Ok(())
}

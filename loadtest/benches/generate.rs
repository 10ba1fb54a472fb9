//! Generator throughput: records generated and lines rendered per second (asserts nothing).
//!
//! Run: `cargo bench -p crossaz-loadtest --bench generate`. The target is to outrun the core,
//! which consumes about 1.5 M lines/s.

use std::hint::black_box;
use std::time::Instant;

use loadtest::{ClusterSpec, FlowStream, TrafficSpec, generate_cluster};

/// Simulated minutes per measurement.
const MINUTES: i64 = 30;
/// Conversations per minute: enough for ~10^6 records per measurement.
const FLOWS_PER_MINUTE: usize = 8_000;
const START: i64 = 1_767_225_600;

fn main() {
    let duration = MINUTES * 60;
    let spec = ClusterSpec {
        nodes: 30,
        deployments: 40,
        pods_per_deployment: 6,
        ..ClusterSpec::default()
    };
    let cluster = generate_cluster(&spec, START, START + duration).expect("valid spec");
    let traffic = TrafficSpec {
        flows_per_minute: FLOWS_PER_MINUTE,
        ..TrafficSpec::new(START, duration)
    };
    println!(
        "cluster: {} nodes, {} pods",
        cluster.nodes.len(),
        cluster.pods.len()
    );

    let began = Instant::now();
    let records = FlowStream::new(&cluster, &traffic)
        .expect("valid traffic")
        .count();
    report("records generated", records, began.elapsed().as_secs_f64());

    let began = Instant::now();
    let mut stream = FlowStream::new(&cluster, &traffic).expect("valid traffic");
    let mut bytes = 0usize;
    let mut lines = 0usize;
    while let Some((_, line)) = stream.next_with_line() {
        bytes += black_box(line).len();
        lines += 1;
    }
    report(
        "lines generated and rendered",
        lines,
        began.elapsed().as_secs_f64(),
    );
    println!("average line: {} bytes", bytes / lines.max(1));

    let format = stream.format().clone();
    let all: Vec<_> = FlowStream::new(&cluster, &traffic)
        .expect("valid traffic")
        .collect();
    let began = Instant::now();
    let mut buf = String::with_capacity(512);
    for record in &all {
        buf.clear();
        format.render_into(&cluster, record, &mut buf);
        black_box(&buf);
    }
    report(
        "lines rendered (into a reused buffer)",
        all.len(),
        began.elapsed().as_secs_f64(),
    );
}

fn report(what: &str, n: usize, secs: f64) {
    println!(
        "{what}: {n} in {secs:.2} s = {:.2} M/s",
        n as f64 / secs / 1e6
    );
}

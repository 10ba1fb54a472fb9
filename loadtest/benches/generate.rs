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

    let clock = Clock::start();
    let records = FlowStream::new(&cluster, &traffic)
        .expect("valid traffic")
        .count();
    report("records generated", records, &clock);

    let clock = Clock::start();
    let mut stream = FlowStream::new(&cluster, &traffic).expect("valid traffic");
    let mut bytes = 0usize;
    let mut lines = 0usize;
    let mut line = String::with_capacity(512);
    while stream.next_into(&mut line).is_some() {
        bytes += black_box(&line).len();
        lines += 1;
    }
    report(
        "lines generated and rendered (reused buffer)",
        lines,
        &clock,
    );

    let clock = Clock::start();
    let (owned, _) = loadtest::Lines::new(&cluster, &traffic)
        .expect("valid traffic")
        .fold((0usize, 0usize), |(n, b), l| {
            (n + 1, b + black_box(l).len())
        });
    report("lines generated as owned Strings (Lines)", owned, &clock);
    println!("average line: {} bytes", bytes / lines.max(1));

    let format = stream.format().clone();
    let all: Vec<_> = FlowStream::new(&cluster, &traffic)
        .expect("valid traffic")
        .collect();
    let clock = Clock::start();
    let mut buf = String::with_capacity(512);
    for record in &all {
        buf.clear();
        format.render_into(&cluster, record, &mut buf);
        black_box(&buf);
    }
    report("lines rendered (into a reused buffer)", all.len(), &clock);
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), so that the rate holds on a
/// machine shared with other builds; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A wall clock and a CPU clock started together.
struct Clock {
    wall: Instant,
    cpu: Option<u64>,
}

impl Clock {
    fn start() -> Self {
        Clock {
            wall: Instant::now(),
            cpu: cpu_ns(),
        }
    }
}

fn report(what: &str, n: usize, clock: &Clock) {
    let wall = clock.wall.elapsed().as_secs_f64();
    let rate = |secs: f64| n as f64 / secs / 1e6;
    match (clock.cpu, cpu_ns()) {
        (Some(a), Some(b)) => {
            let cpu = (b - a) as f64 / 1e9;
            println!(
                "{what}: {n} in {wall:.2} s wall = {:.2} M/s; {cpu:.2} s on CPU = {:.2} M/s",
                rate(wall),
                rate(cpu)
            );
        }
        _ => println!("{what}: {n} in {wall:.2} s = {:.2} M/s", rate(wall)),
    }
}

//! End-to-end throughput of the Firehose transform, single thread: decode the event JSON (base64
//! included) → frame → parse → attribute → rows → encode the response JSON, exactly as the
//! Lambda's handler and runtime do. Events of ~1 MB
//! (the Lambda's buffer) from the load-test generator, over a snapshot of a ~2,000-pod, 60-node
//! cluster built as the extractor builds it. Also: load (decode) + index of the snapshot.
//! Reports records/s; asserts nothing.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

// The allocator the `crossaz-transform` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use crossaz::attribute::{Attributor, Pricing};
use crossaz::firehose::FirehoseEvent;
use crossaz::flowlog::FlowFormat;
use crossaz::synthetic::observed_snapshot;
use crossaz::transform::{Transform, TransformSettings};
use loadtest::output::FirehoseWriter;
use loadtest::{ClusterSpec, TrafficSpec, generate_cluster, generate_flows};
use pod_cache::codec;
use pod_cache::index::PodIndex;

const START: i64 = 1_714_568_400;
const MINUTES: i64 = 10;

fn bench(c: &mut Criterion) {
    let spec = ClusterSpec {
        nodes: 60,
        namespaces: 12,
        deployments: 90,
        pods_per_deployment: 20,
        statefulsets: 10,
        pods_per_statefulset: 3,
        ..ClusterSpec::default()
    };
    let end = START + MINUTES * 60;
    let cluster = generate_cluster(&spec, START, end).expect("cluster spec");
    let snapshot = observed_snapshot(&cluster, "bench", START, end)
        .expect("snapshot")
        .expect("window");
    eprintln!(
        "snapshot: {} pods, {} nodes",
        snapshot.pods.len(),
        snapshot.nodes.len()
    );
    let encoded = codec::encode(&snapshot).expect("encode");
    let (format, events, records) = firehose_events(&cluster, None);

    let index = PodIndex::new(snapshot);
    let settings = TransformSettings {
        max_record_age_secs: i64::MAX / 2,
        ..TransformSettings::default()
    };
    let transform = Transform::new(
        &format,
        Attributor::new(&index, Pricing::default()),
        settings,
    );
    let mut group = end_to_end_group(c, "transform", &transform, &events, records);
    // The same work in its three stages, to show where the time goes.
    let decoded: Vec<FirehoseEvent> = events
        .iter()
        .map(|bytes| FirehoseEvent::from_json(bytes).expect("event"))
        .collect();
    group.bench_function("stage 1: decode event json", |b| {
        b.iter(|| {
            for bytes in &events {
                black_box(FirehoseEvent::from_json(bytes).expect("event"));
            }
        });
    });
    group.bench_function("stage 2: transform", |b| {
        b.iter(|| {
            for event in &decoded {
                black_box(transform.run(event).expect("fresh snapshot"));
            }
        });
    });
    let mut mix = crossaz::transform::BatchStats::default();
    let responses: Vec<_> = decoded
        .iter()
        .map(|event| {
            let (response, stats) = transform.run(event).expect("fresh snapshot");
            mix.absorb(&stats);
            response
        })
        .collect();
    eprintln!(
        "lines {}: kept {}, dropped {:?} (reasons in DropReason::ALL order), failed {}; \
         responses {} bytes",
        mix.lines, mix.rows_kept, mix.dropped, mix.records_failed, mix.response_bytes
    );
    group.bench_function("stage 3: hand the response to the runtime", |b| {
        b.iter(|| {
            for response in &responses {
                black_box(serde_json::to_vec(response).expect("response"));
            }
        });
    });
    group.finish();

    // The same end to end with the format the deploy stack's flow log writes: ten more fields
    // a line, so fewer records a megabyte and more parsing per record.
    let (format, events, records) =
        firehose_events(&cluster, Some(crossaz::flowlog::RECOMMENDED_FORMAT));
    let transform = Transform::new(
        &format,
        Attributor::new(&index, Pricing::default()),
        settings,
    );
    end_to_end_group(c, "deployed format", &transform, &events, records).finish();

    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Elements(index.snapshot().pods.len() as u64));
    group.bench_function("decode + index", |b| {
        b.iter(|| black_box(PodIndex::new(codec::decode(&encoded).expect("decode"))));
    });
    group.finish();
}

/// A benchmark group of `records` records a run, measuring [`end_to_end`] first.
fn end_to_end_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    transform: &Transform,
    events: &[Vec<u8>],
    records: usize,
) -> BenchmarkGroup<'c, WallTime> {
    // A warm container, as from its second invocation on the same snapshot: the index's memo of
    // endpoint members filled. (Criterion's warm-up would fill it too, but not `--test` runs,
    // which profilers measure.)
    end_to_end(transform, events);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function("event json -> response json", |b| {
        b.iter(|| end_to_end(transform, events));
    });
    group
}

/// What the Lambda does with each event: the handler reads the event text and runs the
/// transform, the runtime serializes the response.
fn end_to_end(transform: &Transform, events: &[Vec<u8>]) {
    for bytes in events {
        let event = FirehoseEvent::from_json(bytes).expect("event");
        let (response, _) = transform.run(&event).expect("fresh snapshot");
        black_box(serde_json::to_vec(&response).expect("response"));
    }
}

/// Up to five ~1 MB Firehose events of the cluster's traffic, as the load test's Firehose
/// writer frames them, in `format` (the generator's default when `None`); the format compiled
/// and the number of records.
fn firehose_events(
    cluster: &loadtest::Cluster,
    format: Option<&str>,
) -> (FlowFormat, Vec<Vec<u8>>, usize) {
    let mut traffic = TrafficSpec {
        flows_per_minute: 3000,
        ..TrafficSpec::new(START, MINUTES * 60)
    };
    if let Some(format) = format {
        traffic.format = loadtest::parse_format(format);
    }
    let flows = generate_flows(cluster, &traffic).expect("traffic");
    let format = FlowFormat::parse(&flows.format.log_format()).expect("format");
    let dir = std::env::temp_dir().join(format!("crossaz-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut writer = FirehoseWriter::new(&dir, 1);
    for (record, line) in flows.records.iter().zip(flows.lines(cluster)) {
        writer.push(record.end, &line).expect("event");
    }
    let files = writer.finish().expect("events");
    let events: Vec<Vec<u8>> = files
        .iter()
        .take(5)
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let records: usize = events
        .iter()
        .map(|e| FirehoseEvent::from_json(e).expect("event").records.len())
        .sum();
    eprintln!(
        "{} fields: {} events, {records} records, {} bytes",
        format.len(),
        events.len(),
        events.iter().map(Vec::len).sum::<usize>()
    );
    (format, events, records)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);

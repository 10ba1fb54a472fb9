//! `crossaz demo`: the whole local path on a synthetic cluster, end to end, in under a minute.
//!
//! 1. The load-test generator makes a cluster and an hour of its flow logs (S3-layout `.log.gz`
//!    files with header lines) plus the exact ground truth.
//! 2. Pod snapshots are built once a minute from the cluster's Kubernetes JSON and merged, as the
//!    extractor does against the API.
//! 3. `crossaz run`'s pipeline reads the files and writes Hive-partitioned Parquet.
//! 4. The Parquet is read back with SQL and compared with the ground truth; the report prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use loadtest::output::S3LogWriter;
use loadtest::{ClusterSpec, TrafficSpec, generate_cluster, generate_flows, verify};
use pod_cache::codec;
use pod_cache::index::PodIndex;

use crate::attribute::Pricing;
use crate::local::s3::AwsOptions;
use crate::local::source::{self, Input, SourceOptions};
use crate::local::writer::{PartitionedWriter, WriterConfig};
use crate::synthetic::{OBSERVE_EVERY_SECS, observed_snapshot};

use super::verify::{cross_az_only, observed_truth};

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Working folder (default: a new folder under the system temp folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the synthetic cluster and traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Hours of traffic.
    #[arg(long, default_value_t = 1)]
    hours: i64,
    /// Conversations started per minute.
    #[arg(long, default_value_t = 400)]
    flows_per_minute: usize,
}

pub(super) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now().timestamp();
    let start = now - now.rem_euclid(3600) - 3600 * args.hours;
    let end = start + 3600 * args.hours;
    let out = args.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("crossaz-demo-{}", std::process::id()))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let clock = Instant::now();
    let step = |what: &str| eprintln!("[{:>5.1} s] {what}", clock.elapsed().as_secs_f64());

    let spec = ClusterSpec {
        seed: args.seed,
        name: "demo".into(),
        ..ClusterSpec::default()
    };
    let cluster = generate_cluster(&spec, start, end)?;
    let traffic = TrafficSpec {
        seed: args.seed,
        flows_per_minute: args.flows_per_minute,
        ..TrafficSpec::new(start, end - start)
    };
    let flows = generate_flows(&cluster, &traffic)?;
    let logs = out.join("flowlogs");
    let mut writer = S3LogWriter::new(&logs, flows.format.header(), args.seed);
    for (record, line) in flows.records.iter().zip(flows.lines(&cluster)) {
        writer.push(record.end, line);
    }
    let files = writer.finish()?;
    let truth_path = out.join("truth.json");
    loadtest::output::write_json(&truth_path, &flows.truth)?;
    let nodes_json = serde_json::to_vec(&cluster.nodes_json())?;
    std::fs::write(out.join("nodes.json"), &nodes_json)?;
    std::fs::write(
        out.join("pods-end.json"),
        serde_json::to_vec(&cluster.pods_json(end))?,
    )?;
    step(&format!(
        "generated cluster {:?}: {} flow-log records in {} .log.gz files under {}",
        spec.name,
        flows.records.len(),
        files.len(),
        logs.display()
    ));

    let snapshot = observed_snapshot(&cluster, "demo", start, end)?.context("empty window")?;
    let snapshot_path = out.join("snapshot.json.zst");
    std::fs::write(&snapshot_path, codec::encode(&snapshot)?)?;
    step(&format!(
        "built {} snapshots, one a minute: {} pods ({} retained after they vanished), {} nodes",
        (end - start) / OBSERVE_EVERY_SECS + 1,
        snapshot.pods.len(),
        snapshot
            .pods
            .iter()
            .filter(|p| p.last_seen < snapshot.generated_at)
            .count(),
        snapshot.nodes.len()
    ));

    let data = out.join("flows");
    let index = PodIndex::new(snapshot);
    let chunks = source::open(&[Input::Path(logs.clone())], &SourceOptions::default());
    let parquet = PartitionedWriter::local(&data, WriterConfig::default())?;
    let outcome = super::run::process(
        chunks,
        &index,
        Pricing::default(),
        parquet,
        &out.join("errors.jsonl"),
    )?;
    step(&format!("ran the pipeline into {}", data.display()));
    eprint!("{}", outcome.render());

    let runtime = tokio::runtime::Runtime::new()?;
    let data_str = data.to_string_lossy().into_owned();
    let observed = runtime.block_on(observed_truth(&data_str, &AwsOptions::default()))?;
    let diff = verify(&cross_az_only(&flows.truth), &observed);
    let total = flows.truth.cross_az_total();
    if diff.is_empty() {
        step(&format!(
            "verified against the generator's ground truth: {} cross-AZ records, {} bytes, exact",
            total.records, total.bytes
        ));
    } else {
        println!("{diff}");
    }
    let report = runtime.block_on(super::report::report(&data_str, &AwsOptions::default(), 10))?;
    println!("{report}");
    println!("Try it yourself:");
    println!("  crossaz snapshot show {}", snapshot_path.display());
    println!(
        "  crossaz run --snapshot {} --input {} --out /tmp/flows",
        snapshot_path.display(),
        logs.display()
    );
    println!(
        "  crossaz query --data {} \"SELECT src_workload, dst_workload, sum(bytes) FROM flows GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5\"",
        data.display()
    );
    println!(
        "  crossaz loadtest verify --truth {} --data {}",
        truth_path.display(),
        data.display()
    );
    step("done");
    Ok(if diff.is_empty() && outcome.stats.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

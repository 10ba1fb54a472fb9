//! `crossaz loadtest drive`: generated flow logs through one path, with a progress line and a
//! report (text and `report.json`). The transport drivers (Firehose, Kinesis, Lambda, files, S3)
//! are the load-test crate's; this module owns the in-process driver: the core itself (parse →
//! attribute at flow time → count once → row) on the generator's lines, as fast as it goes or at
//! a target rate, its kept rows checked against the generator's truth, optionally written as
//! Parquet to `--dest`.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use loadtest::cli::{DriveArgs, DriverKind, finish, write_cluster_files};
use loadtest::drivers::{Arrival, DriveRun, LiveStats, Progress};
use loadtest::{Counts, EndpointKey, FlowKey, FlowStream, Truth, verify};
use pod_cache::codec;
use pod_cache::index::PodIndex;

use crate::attribute::{Attributor, Decision, DropReason, Pricing};
use crate::flowlog::FlowFormat;
use crate::local::s3::AwsOptions;
use crate::pipeline::{RunStats, decide_line};
use crate::row::Row;
use crate::synthetic::observed_snapshots;

use super::verify::cross_az_only;

/// Lines processed between two latency samples and progress checks.
const BATCH_LINES: u64 = 1000;
/// Records are attributed with the snapshot taken shortly after their half hour.
const BLOCK_SECS: i64 = 1800;
/// How long after its block a block's snapshot is taken (pods observed once a minute).
const BLOCK_SLACK_SECS: i64 = 120;

/// Starts of the blocks covering `start..end` (aligned to the block length).
fn snapshot_blocks(start: i64, end: i64) -> Vec<i64> {
    let mut blocks = Vec::new();
    let mut b = start - start.rem_euclid(BLOCK_SECS);
    loop {
        blocks.push(b);
        b += BLOCK_SECS;
        if b >= end {
            return blocks;
        }
    }
}

pub(super) fn run(args: &DriveArgs) -> anyhow::Result<ExitCode> {
    if args.driver != DriverKind::InProcess {
        return loadtest::cli::run_drive(args);
    }
    let (run, exact) = in_process(args)?;
    let code = finish(&args.out, &run)?;
    Ok(if exact { code } else { ExitCode::FAILURE })
}

/// The (dt, source, destination) key a kept row is counted under, as `crossaz loadtest verify`
/// reads it from Parquet.
fn flow_key(dt: &str, row: &Row<'_>) -> FlowKey {
    let text = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(str::to_owned);
    FlowKey {
        dt: dt.to_owned(),
        src: EndpointKey {
            kind: text(&row.src_kind).unwrap_or_default(),
            namespace: text(&row.src_namespace),
            pod: text(&row.src_pod),
            workload: text(&row.src_workload),
            zone_id: text(&row.src_zone_id),
        },
        dst: EndpointKey {
            kind: text(&row.dst_kind).unwrap_or_default(),
            namespace: text(&row.dst_namespace),
            pod: text(&row.dst_pod),
            workload: text(&row.dst_workload),
            zone_id: text(&row.dst_zone_id),
        },
    }
}

/// Runs the core on the generated lines; returns the run and whether the kept rows match the
/// truth exactly.
fn in_process(args: &DriveArgs) -> anyhow::Result<(DriveRun, bool)> {
    let options = args.options()?;
    let spec = &args.spec;
    let cluster = spec.cluster()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_cluster_files(&args.out, &cluster, spec)?;
    // The extractor's view shortly after each block of the window: a record is attributed with
    // the snapshot of its start's block, as the transform attributes it minutes after it happened
    // (one snapshot cannot cover hours: pods that vanished leave it after the retention window).
    let blocks = snapshot_blocks(spec.start, spec.end());
    let marks: Vec<i64> = blocks
        .iter()
        .map(|b| b + BLOCK_SECS + BLOCK_SLACK_SECS)
        .collect();
    let snapshots = observed_snapshots(&cluster, "loadtest", spec.start, spec.end(), &marks)?;
    let snapshot_path = args.out.join("snapshot.json.zst");
    let last = snapshots.last().context("the window is empty")?;
    std::fs::write(&snapshot_path, codec::encode(last)?)
        .with_context(|| format!("writing {}", snapshot_path.display()))?;
    let indexes: Vec<PodIndex> = snapshots.into_iter().map(PodIndex::new).collect();
    let attributors: Vec<Attributor<'_>> = indexes
        .iter()
        .map(|index| Attributor::new(index, Pricing::default()))
        .collect();
    let traffic = spec.traffic();
    let mut stream = FlowStream::new(&cluster, &traffic)?;
    let format = FlowFormat::parse(&stream.format().log_format())?;
    let aws = AwsOptions {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
        static_credentials: None,
    };
    let mut writer = args
        .dest
        .as_deref()
        .map(|dest| super::run::open_writer(dest, &aws))
        .transpose()?;

    let stats = LiveStats::default();
    let mut run_stats = RunStats::default();
    let mut observed = Truth::default();
    let mut progress = Progress::new(
        options.progress.unwrap_or(Duration::MAX),
        options.progress.is_some(),
    );
    let started = Instant::now();
    let mut core_time = Duration::ZERO;
    let mut generated: u64 = 0;
    let mut line = String::with_capacity(512);
    let mut lines: Vec<(usize, String)> = Vec::with_capacity(BATCH_LINES as usize);
    'outer: loop {
        lines.clear();
        while (lines.len() as u64) < BATCH_LINES {
            let out_of_time = options.duration.is_some_and(|d| started.elapsed() >= d);
            let out_of_records = options.max_records.is_some_and(|m| generated >= m);
            let record = if out_of_time || out_of_records {
                None
            } else {
                stream.next_into(&mut line)
            };
            let Some(record) = record else {
                if lines.is_empty() {
                    break 'outer;
                }
                break;
            };
            generated += 1;
            let block = usize::try_from((record.start - blocks[0]).div_euclid(BLOCK_SECS))
                .unwrap_or(0)
                .min(attributors.len() - 1);
            lines.push((block, line.clone()));
        }
        if let Some(rate) = options.rate {
            let due = Duration::from_secs_f64((generated - lines.len() as u64) as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let batch_started = Instant::now();
        let mut bytes = 0;
        for (block, text) in &lines {
            bytes += text.len() as u64;
            let (_, decision) = decide_line(&format, &attributors[*block], text);
            run_stats.count(&decision);
            if let Ok(Decision::Keep { flow, dt }) = decision {
                let dt = dt.key();
                let row = flow.row();
                let counts = observed
                    .cross_az
                    .entry(flow_key(&dt, &row))
                    .or_insert(Counts::default());
                counts.add(
                    row.packets.unwrap_or(0).unsigned_abs(),
                    row.bytes.unwrap_or(0).unsigned_abs(),
                );
                if let Some(w) = writer.as_mut() {
                    w.push(&dt, &row)?;
                }
            }
        }
        let took = batch_started.elapsed();
        core_time += took;
        stats.latency(took);
        stats
            .sent_records
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        stats.sent_bytes.fetch_add(bytes, Ordering::Relaxed);
        progress.tick(&stats, generated);
    }
    progress.finish(&stats, generated);
    let parquet = writer
        .map(crate::local::PartitionedWriter::finish)
        .transpose()?;
    let seconds = started.elapsed().as_secs_f64();
    let target = args
        .dest
        .clone()
        .unwrap_or_else(|| "core (rows counted, not written)".into());
    let mut report = stats.report("in-process", &target, generated, seconds);
    stats.result("kept", run_stats.kept);
    stats.result("failed", run_stats.failed);
    for reason in DropReason::ALL {
        stats.result(
            &format!("dropped_{}", reason.as_str()),
            run_stats.dropped[reason.index()],
        );
    }
    let core_rate = if core_time.is_zero() {
        0
    } else {
        (run_stats.lines as f64 / core_time.as_secs_f64()) as u64
    };
    stats.result("core_lines_per_sec", core_rate);
    if let Some(summary) = &parquet {
        stats.result("parquet_rows", summary.total_rows());
        stats.result("parquet_files", summary.files.len() as u64);
    }
    report.results = stats.report("", "", 0, 0.0).results;
    report.arrived = Some(Arrival {
        location: "core".into(),
        records: run_stats.lines,
        containers: 1,
    });
    let truth = stream.truth();
    report.expected_cross_az = Some(truth.cross_az_total());
    let diff = verify(&cross_az_only(&truth), &observed);
    if diff.is_empty() {
        eprintln!(
            "kept rows match the truth exactly: {} cross-AZ keys, {} records",
            truth.cross_az.len(),
            truth.cross_az_total().records
        );
    } else {
        eprint!("kept rows differ from the truth:\n{diff}");
    }
    eprintln!(
        "snapshot written to {} (for `crossaz run --snapshot`)",
        snapshot_path.display()
    );
    Ok((DriveRun { report, truth }, diff.is_empty()))
}

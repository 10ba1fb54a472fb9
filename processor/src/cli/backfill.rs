//! `crossaz backfill`: `crossaz run` over a time range of a flow-log archive in the VPC Flow Logs
//! S3 delivery layout (`AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/…log.gz`, or a local copy of
//! it), one job per hour, each attributed with the snapshot history's snapshot of that hour.
//!
//! Which rows an hour's job writes: a delivery file holds the records whose `end` fell in its
//! ~5-minute slot, so the files of hour H also carry flows that started in H-1 (and a file stamped
//! at the end of H may carry flows of H+1). Each file is processed by exactly one job — the hour
//! of the `YYYYMMDDTHHmmZ` stamp in its name — and each row goes to the `dt` of its own `start`
//! (design §6), so nothing is counted twice and an hour's partition may be completed by the
//! neighbouring job. Files whose name carries no stamp are listed and skipped.
//!
//! Resumable: a finished hour writes `_backfill/dt=YYYY-MM-DD-HH/_SUCCESS` (JSON with its counts)
//! under the output, and a re-run skips hours that have one. Files of a job are named
//! `backfill-YYYYMMDDHH-…parquet`; before an unfinished hour runs again, the files an interrupted
//! attempt left in `dt` H-1, H and H+1 (the only partitions its records can reach) are deleted.
//! An hour with an unreadable input (S3 error, corrupt gzip) is not marked finished.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Args;

use crate::attribute::{DEFAULT_USD_PER_GB, Pricing};
use crate::local::s3::{AwsOptions, BlockingS3, S3Location, is_s3_uri};
use crate::local::source::{
    self, Input, SourceOptions, TimeRange, expand_path, file_time, flow_log_keys,
};
use crate::local::writer::{PARQUET_SUFFIX, PartitionedWriter, WriterConfig};
use crate::row::{PARTITION_COLUMN, partition_key};

use super::history::History;
use super::run::AwsArgs;

const HOUR: i64 = 3600;
/// Folder of the per-hour markers under the output.
pub const MARKER_DIR: &str = "_backfill";
/// Name of the marker of a finished hour.
pub const MARKER_NAME: &str = "_SUCCESS";

#[derive(Debug, Args)]
pub(super) struct BackfillArgs {
    /// The flow-log archive: `s3://bucket/prefix` (or a local folder) in the delivery layout.
    #[arg(long)]
    input: String,
    /// First hour (RFC 3339 or epoch seconds, on an hour boundary).
    #[arg(long)]
    from: String,
    /// End hour, exclusive (on an hour boundary).
    #[arg(long)]
    to: String,
    /// Snapshot history: `s3://bucket/snapshots/<cluster>` or a local folder with its layout.
    #[arg(long)]
    snapshots: String,
    /// Output folder or `s3://bucket/prefix` (`dt=…/` folders plus `_backfill/` markers).
    #[arg(long)]
    out: String,
    /// Flow-log format for files without a header line.
    #[arg(long)]
    format: Option<String>,
    /// Estimated USD per GB counted at egress.
    #[arg(long, default_value_t = DEFAULT_USD_PER_GB)]
    usd_per_gb: f64,
    /// Folder for unreadable lines (`backfill-dt=….jsonl` per hour); default `<out>/_errors`
    /// for a local output, `./crossaz-backfill-errors` otherwise.
    #[arg(long)]
    errors_dir: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The output: where Parquet and markers go.
enum Out {
    Local(PathBuf),
    S3 {
        location: S3Location,
        s3: BlockingS3,
    },
}

impl Out {
    fn open(out: &str, aws: &AwsOptions) -> anyhow::Result<Self> {
        Ok(if is_s3_uri(out) {
            Out::S3 {
                location: S3Location::parse(out)?,
                s3: BlockingS3::from_options(aws)?,
            }
        } else {
            Out::Local(PathBuf::from(out))
        })
    }

    fn marker_relative(dt: &str) -> String {
        format!("{MARKER_DIR}/{PARTITION_COLUMN}={dt}/{MARKER_NAME}")
    }

    fn read_marker(&self, dt: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let relative = Self::marker_relative(dt);
        let bytes = match self {
            Out::Local(root) => match std::fs::read(root.join(&relative)) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).context(relative),
            },
            Out::S3 { location, s3 } => {
                s3.get_object_if_exists(&location.bucket, &location.key(&relative))?
            }
        };
        bytes
            .map(|b| {
                serde_json::from_slice(&b).with_context(|| format!("reading marker {relative}"))
            })
            .transpose()
    }

    fn write_marker(&self, dt: &str, marker: &serde_json::Value) -> anyhow::Result<()> {
        let relative = Self::marker_relative(dt);
        let body = serde_json::to_vec_pretty(marker)?;
        match self {
            Out::Local(root) => {
                let path = root.join(&relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
            }
            Out::S3 { location, s3 } => {
                Ok(s3.put_bytes(&location.bucket, &location.key(&relative), body)?)
            }
        }
    }

    /// Deletes files named `<prefix>-…parquet` in partition `dt`; returns how many.
    fn remove_files(&self, dt: &str, prefix: &str) -> anyhow::Result<usize> {
        let folder = format!("{PARTITION_COLUMN}={dt}");
        let mut removed = 0;
        match self {
            Out::Local(root) => {
                let Ok(entries) = std::fs::read_dir(root.join(&folder)) else {
                    return Ok(0);
                };
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(&format!("{prefix}-")) && name.ends_with(PARQUET_SUFFIX) {
                        std::fs::remove_file(entry.path())?;
                        removed += 1;
                    }
                }
            }
            Out::S3 { location, s3 } => {
                let key_prefix = location.key(&format!("{folder}/{prefix}-"));
                for object in s3.list_objects(&location.bucket, &key_prefix)? {
                    if object.key.ends_with(PARQUET_SUFFIX) {
                        s3.delete_object(&location.bucket, &object.key)?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// The flow-log files of the range, grouped by the hour of their name's stamp.
struct Listing {
    /// (hour start, inputs) for every hour of the range, in order.
    hours: Vec<(i64, Vec<Input>)>,
    /// Files without a stamp in their name (not processed).
    unstamped: Vec<String>,
}

fn list_files(input: &str, range: TimeRange, aws: &AwsOptions) -> anyhow::Result<Listing> {
    let start = range.start.timestamp();
    let end = range.end.timestamp();
    let mut hours: Vec<(i64, Vec<Input>)> = (start..end)
        .step_by(HOUR as usize)
        .map(|h| (h, Vec::new()))
        .collect();
    let mut unstamped = Vec::new();
    let mut place = |name: &str, input: Input| match file_time(name) {
        Some(at) => {
            let at = at.timestamp();
            if (start..end).contains(&at) {
                let slot = usize::try_from((at - start) / HOUR).unwrap_or(usize::MAX);
                if let Some((_, files)) = hours.get_mut(slot) {
                    files.push(input);
                }
            }
        }
        None => unstamped.push(name.to_owned()),
    };
    if is_s3_uri(input) {
        let location = S3Location::parse(input)?;
        let s3 = BlockingS3::from_options(aws)?;
        for key in flow_log_keys(&s3, &location, Some(&range))? {
            let input = Input::S3Object {
                bucket: location.bucket.clone(),
                key: key.clone(),
            };
            place(&format!("s3://{}/{key}", location.bucket), input);
        }
    } else {
        for file in expand_path(Path::new(input))? {
            place(&file.display().to_string(), Input::Path(file));
        }
    }
    Ok(Listing { hours, unstamped })
}

fn hour_bound(text: &str, what: &str) -> anyhow::Result<DateTime<Utc>> {
    let secs = super::parse_time(text)?;
    anyhow::ensure!(
        secs.rem_euclid(HOUR) == 0,
        "--{what} {text} is not on an hour boundary (backfill works hour by hour)"
    );
    DateTime::from_timestamp(secs, 0).with_context(|| format!("--{what} {text} is out of range"))
}

/// Totals over the hours of one run.
#[derive(Debug, Default)]
struct Totals {
    done: u64,
    skipped: u64,
    failed: u64,
    files: u64,
    lines: u64,
    rows: u64,
}

pub(super) fn run(args: &BackfillArgs) -> anyhow::Result<ExitCode> {
    let aws = args.aws.options();
    let range = TimeRange {
        start: hour_bound(&args.from, "from")?,
        end: hour_bound(&args.to, "to")?,
    };
    anyhow::ensure!(range.start < range.end, "--from must be before --to");
    let out = Out::open(&args.out, &aws)?;
    let mut history = History::open(&args.snapshots, &aws)?;
    let listing = list_files(&args.input, range, &aws)?;
    for name in &listing.unstamped {
        eprintln!("warning: {name}: no YYYYMMDDTHHmmZ delivery stamp in its name; not processed");
    }
    let errors_dir = args.errors_dir.clone().unwrap_or_else(|| {
        if is_s3_uri(&args.out) {
            PathBuf::from("crossaz-backfill-errors")
        } else {
            PathBuf::from(&args.out).join("_errors")
        }
    });
    let pricing = Pricing {
        usd_per_gb: args.usd_per_gb,
    };
    let mut totals = Totals::default();
    let bar = super::progress::bar(Some(listing.hours.len() as u64), "hours");
    for (hour, inputs) in listing.hours {
        bar.inc(1);
        let dt = partition_key(hour).context("hour out of range")?;
        let say = |line: String| bar.suspend(|| eprintln!("{line}"));
        if let Some(marker) = out.read_marker(&dt)? {
            totals.skipped += 1;
            say(format!(
                "hour {dt}: already finished ({} files, {} lines, {} rows at {}); skipped",
                marker["files"],
                marker["lines"],
                marker["rows"],
                marker["finished_at"].as_str().unwrap_or("?")
            ));
            continue;
        }
        let file_prefix = format!("backfill-{}", dt.replace('-', ""));
        let mut removed = 0;
        for neighbour in [hour - HOUR, hour, hour + HOUR] {
            if let Some(n) = partition_key(neighbour) {
                removed += out.remove_files(&n, &file_prefix)?;
            }
        }
        if removed > 0 {
            say(format!(
                "hour {dt}: removed {removed} files of an interrupted earlier attempt"
            ));
        }
        let Some(snapshot) = history.for_hour(hour)? else {
            totals.failed += 1;
            say(format!(
                "hour {dt}: FAILED: no snapshot in {} at or before the hour's end (looked back {} hours)",
                history.location(),
                pod_cache::store::HISTORY_LOOKBACK_HOURS
            ));
            continue;
        };
        let files = inputs.len() as u64;
        let writer = PartitionedWriter::open(
            &args.out,
            match &out {
                Out::S3 { s3, .. } => Some(s3.client().clone()),
                Out::Local(_) => None,
            },
            WriterConfig {
                file_prefix: file_prefix.clone(),
                ..WriterConfig::default()
            },
        )?;
        let options = SourceOptions {
            format: args.format.clone(),
            aws: aws.clone(),
            ..SourceOptions::default()
        };
        let errors_path = errors_dir.join(format!("backfill-{PARTITION_COLUMN}={dt}.jsonl"));
        let outcome = super::run::process(
            source::open(&inputs, &options),
            &snapshot.index,
            pricing,
            writer,
            &errors_path,
        )?;
        totals.files += files;
        totals.lines += outcome.stats.lines;
        totals.rows += outcome.summary.total_rows();
        let stats = &outcome.stats;
        let line = format!(
            "hour {dt}: {files} files, snapshot of {} ({} pods): lines {} kept {} dropped {} failed {} -> {} rows in {:?}",
            super::format_time(snapshot.generated_at),
            snapshot.index.snapshot().pods.len(),
            stats.lines,
            stats.kept,
            stats.dropped_total(),
            stats.failed,
            outcome.summary.total_rows(),
            outcome.summary.rows_per_dt,
        );
        if outcome.source_errors > 0 {
            totals.failed += 1;
            say(format!(
                "{line}\nhour {dt}: {} inputs had errors; not marked finished, a re-run redoes it",
                outcome.source_errors
            ));
            continue;
        }
        totals.done += 1;
        let marker = serde_json::json!({
            "hour": dt,
            "files": files,
            "lines": stats.lines,
            "kept": stats.kept,
            "dropped": stats.dropped_total(),
            "failed": stats.failed,
            "rows": outcome.summary.total_rows(),
            "rows_per_dt": outcome.summary.rows_per_dt,
            "bytes": stats.bytes_kept,
            "cost_usd": stats.cost_usd,
            "snapshot_generated_at": snapshot.generated_at,
            "parquet_files": outcome.summary.files.iter().map(|f| f.location.clone()).collect::<Vec<_>>(),
            "errors_file": outcome.errors_path.as_ref().map(|p| p.display().to_string()),
            "finished_at": super::format_time(Utc::now().timestamp()),
        });
        out.write_marker(&dt, &marker)?;
        say(line);
    }
    bar.finish_and_clear();
    eprintln!(
        "backfill {} .. {}: {} hours done, {} skipped (already finished), {} failed; {} files, {} lines, {} rows written{}",
        super::format_time(range.start.timestamp()),
        super::format_time(range.end.timestamp()),
        totals.done,
        totals.skipped,
        totals.failed,
        totals.files,
        totals.lines,
        totals.rows,
        if listing.unstamped.is_empty() {
            String::new()
        } else {
            format!(
                "; {} unstamped files not processed",
                listing.unstamped.len()
            )
        }
    );
    Ok(if totals.failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

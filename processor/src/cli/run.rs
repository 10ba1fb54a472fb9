//! `crossaz run`: flow logs from files, an S3 prefix, a Kinesis stream or stdin, through the
//! core, into the Hive-partitioned Parquet layout Firehose writes (locally or on S3).
//!
//! Lines that cannot be read are written with their origin and reason to an errors file
//! (JSON lines with the raw text) so nothing is lost; the printed counts add up to the lines read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use pod_cache::index::PodIndex;

use crate::attribute::{Attributor, DEFAULT_USD_PER_GB, Decision, Pricing};
use crate::flowlog::FlowFormat;
use crate::flowlog::frame::record_lines;
use crate::local::s3::{AwsOptions, BlockingS3, S3Location, is_s3_uri};
use crate::local::source::{
    self, Framing, Input, KinesisOptions, KinesisStart, LineChunk, SourceOptions, TimeRange,
};
use crate::local::writer::{PartitionedWriter, WriteSummary, WriterConfig};
use crate::pipeline::{RunStats, decide_line};

use super::parse_time;

/// How to reach AWS (S3 and Kinesis inputs and outputs, S3 snapshots).
#[derive(Debug, Clone, Args)]
pub(super) struct AwsArgs {
    /// Custom AWS endpoint (e.g. a local S3/Kinesis stand-in); implies path-style S3.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    pub(super) fn options(&self) -> AwsOptions {
        AwsOptions {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            static_credentials: None,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Snapshot file or `s3://bucket/key`.
    #[arg(long)]
    snapshot: String,
    /// Inputs: files or folders (`.log.gz`, text, Firehose event JSON), `s3://bucket/prefix`,
    /// `kinesis://stream`, or `-` for stdin.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<String>,
    /// Output folder or `s3://bucket/prefix` (Hive folders `dt=yyyy-MM-dd-HH/`).
    #[arg(long)]
    out: String,
    /// Flow-log format for inputs without a header line (`${a} ${b} …` or `a b …`).
    #[arg(long)]
    format: Option<String>,
    /// Estimated USD per GB counted at egress.
    #[arg(long, default_value_t = DEFAULT_USD_PER_GB)]
    usd_per_gb: f64,
    /// Only S3 objects from this time on (RFC 3339 or epoch seconds).
    #[arg(long)]
    from: Option<String>,
    /// Only S3 objects before this time.
    #[arg(long)]
    to: Option<String>,
    /// Where `kinesis://` inputs start: `latest` (records put from now on), `trim-horizon` (the
    /// oldest record kept) or an RFC 3339 time.
    #[arg(long, default_value = "latest")]
    kinesis_from: String,
    /// Where unreadable lines go (JSON lines); default `<out>/_errors/<time>.jsonl` for a local
    /// output, `./crossaz-errors-<time>.jsonl` otherwise.
    #[arg(long)]
    errors: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let aws = args.aws.options();
    let snapshot = load_snapshot(&args.snapshot, &aws)?;
    let index = PodIndex::new(snapshot);
    let inputs = args
        .input
        .iter()
        .map(|i| Input::parse(i))
        .collect::<Result<Vec<_>, _>>()?;
    let time_range = match (&args.from, &args.to) {
        (None, None) => None,
        (from, to) => Some(TimeRange {
            start: utc(from.as_deref().map(parse_time).transpose()?.unwrap_or(0))?,
            end: utc(to
                .as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(UNTIL_FAR_FUTURE))?,
        }),
    };
    let options = SourceOptions {
        format: args.format.clone(),
        time_range,
        aws: aws.clone(),
        kinesis: KinesisOptions {
            start: kinesis_start(&args.kinesis_from)?,
            ..KinesisOptions::default()
        },
        ..SourceOptions::default()
    };
    let writer = open_writer(&args.out, &aws)?;
    let errors_path = args
        .errors
        .clone()
        .unwrap_or_else(|| default_errors_path(&args.out));
    let bar = super::progress::bar(None, "lines");
    let chunks = source::open(&inputs, &options).inspect(|chunk| {
        if let Ok(chunk) = chunk {
            bar.inc(chunk.lines.len() as u64);
        }
    });
    let outcome = process(
        chunks,
        &index,
        Pricing {
            usd_per_gb: args.usd_per_gb,
        },
        writer,
        &errors_path,
    )?;
    bar.finish_and_clear();
    eprint!("{}", outcome.render());
    Ok(if outcome.source_errors > 0 || outcome.stats.failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--kinesis-from`: `latest`, `trim-horizon` or an RFC 3339 time.
fn kinesis_start(text: &str) -> anyhow::Result<KinesisStart> {
    match text {
        "latest" => Ok(KinesisStart::Latest),
        "trim-horizon" => Ok(KinesisStart::TrimHorizon),
        other => source::parse_time(other)
            .map(KinesisStart::AtTimestamp)
            .map_err(|e| {
                anyhow::anyhow!("--kinesis-from: not latest, trim-horizon or a time: {e}")
            }),
    }
}

/// An open end of `--from/--to`: 2100-01-01T00:00:00Z.
const UNTIL_FAR_FUTURE: i64 = 4_102_444_800;

fn utc(secs: i64) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(secs, 0).with_context(|| format!("{secs} is out of range"))
}

/// Reads a snapshot from a file or `s3://bucket/key`.
pub(super) fn load_snapshot(
    location: &str,
    aws: &AwsOptions,
) -> anyhow::Result<pod_cache::Snapshot> {
    let bytes = if is_s3_uri(location) {
        let loc = S3Location::parse(location)?;
        BlockingS3::from_options(aws)?.get_object(&loc.bucket, &loc.prefix)?
    } else {
        std::fs::read(location).with_context(|| format!("reading snapshot {location}"))?
    };
    pod_cache::codec::decode(&bytes).with_context(|| format!("decoding snapshot {location}"))
}

pub(super) fn open_writer(out: &str, aws: &AwsOptions) -> anyhow::Result<PartitionedWriter> {
    let client = if is_s3_uri(out) {
        Some(BlockingS3::from_options(aws)?.client().clone())
    } else {
        None
    };
    PartitionedWriter::open(out, client, WriterConfig::default())
        .with_context(|| format!("opening output {out}"))
}

fn default_errors_path(out: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    if is_s3_uri(out) {
        PathBuf::from(format!("crossaz-errors-{stamp}.jsonl"))
    } else {
        PathBuf::from(out)
            .join("_errors")
            .join(format!("{stamp}.jsonl"))
    }
}

/// What a local run did.
#[derive(Debug)]
pub(super) struct RunOutcome {
    pub stats: RunStats,
    pub summary: WriteSummary,
    pub source_errors: u64,
    pub errors_path: Option<PathBuf>,
    pub seconds: f64,
}

impl RunOutcome {
    pub(super) fn render(&self) -> String {
        let mut out = self.stats.render();
        let _ = writeln!(
            out,
            "wrote {} rows in {} files across {} hours",
            self.summary.total_rows(),
            self.summary.files.len(),
            self.summary.rows_per_dt.len()
        );
        if self.source_errors > 0 {
            let _ = writeln!(out, "inputs with errors: {}", self.source_errors);
        }
        if let Some(path) = &self.errors_path {
            let _ = writeln!(out, "failed lines written to {}", path.display());
        }
        let rate = if self.seconds > 0.0 {
            self.stats.lines as f64 / self.seconds
        } else {
            0.0
        };
        let _ = writeln!(out, "{:.1} s, {rate:.0} lines/s", self.seconds);
        out
    }
}

/// Lazily created file of failed lines (JSON lines: origin, line, reason, raw).
struct ErrorSink<'p> {
    path: &'p PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl ErrorSink<'_> {
    fn write(&mut self, origin: &str, line: u64, reason: &str, raw: &str) -> anyhow::Result<()> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let f = std::fs::File::create(self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            self.file = Some(std::io::BufWriter::new(f));
        }
        let doc = serde_json::json!({"origin": origin, "line": line, "reason": reason, "raw": raw});
        if let Some(f) = self.file.as_mut() {
            writeln!(f, "{doc}")?;
        }
        Ok(())
    }
}

/// One flow-log line: decide, count, then write the row or record the failure.
fn one_line(
    text: &str,
    (origin, number): (&str, u64),
    format: &FlowFormat,
    attributor: &Attributor<'_>,
    stats: &mut RunStats,
    writer: &mut PartitionedWriter,
    errors: &mut ErrorSink<'_>,
) -> anyhow::Result<()> {
    let (_, decision) = decide_line(format, attributor, text);
    stats.count(&decision);
    match decision {
        Ok(Decision::Keep { flow, dt }) => writer.push(&dt.key(), &flow.row())?,
        Ok(Decision::Drop(_)) => {}
        Err(e) => errors.write(origin, number, &e.to_string(), text)?,
    }
    Ok(())
}

/// Runs every chunk through the core into `writer`.
pub(super) fn process(
    chunks: impl Iterator<Item = Result<LineChunk, source::SourceError>>,
    index: &PodIndex,
    pricing: Pricing,
    mut writer: PartitionedWriter,
    errors_path: &PathBuf,
) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let attributor = Attributor::new(index, pricing);
    let mut formats: HashMap<Arc<str>, Result<FlowFormat, String>> = HashMap::new();
    let mut stats = RunStats::default();
    let mut errors = ErrorSink {
        path: errors_path,
        file: None,
    };
    let mut source_errors = 0;
    for chunk in chunks {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                source_errors += 1;
                eprintln!("warning: {e}");
                continue;
            }
        };
        let format = match &chunk.format {
            None => {
                Err("no flow-log format: the input has no header line; pass --format".to_owned())
            }
            Some(spec) => formats
                .entry(Arc::clone(spec))
                .or_insert_with(|| {
                    let f = FlowFormat::parse(spec).map_err(|e| e.to_string())?;
                    f.require_attribution_fields().map_err(|e| e.to_string())?;
                    Ok(f)
                })
                .clone(),
        };
        let format = match format {
            Ok(f) => f,
            Err(reason) => {
                for line in &chunk.lines {
                    stats.lines += 1;
                    stats.failed += 1;
                    errors.write(&chunk.origin, line.number, &reason, &line.text)?;
                }
                continue;
            }
        };
        for source_line in &chunk.lines {
            let origin = (&*chunk.origin, source_line.number);
            match chunk.framing {
                Framing::Line => {
                    one_line(
                        &source_line.text,
                        origin,
                        &format,
                        &attributor,
                        &mut stats,
                        &mut writer,
                        &mut errors,
                    )?;
                }
                Framing::Record => {
                    let lines: Result<Vec<_>, _> = record_lines(source_line.text.as_bytes())
                        .and_then(Iterator::collect::<Result<Vec<_>, _>>);
                    match lines {
                        Ok(lines) => {
                            for line in &lines {
                                one_line(
                                    line,
                                    origin,
                                    &format,
                                    &attributor,
                                    &mut stats,
                                    &mut writer,
                                    &mut errors,
                                )?;
                            }
                        }
                        Err(e) => {
                            stats.lines += 1;
                            stats.failed += 1;
                            errors.write(origin.0, origin.1, &e.to_string(), &source_line.text)?;
                        }
                    }
                }
            }
        }
    }
    let summary = writer.finish()?;
    let errors_path = if let Some(mut f) = errors.file.take() {
        f.flush()?;
        Some(errors_path.clone())
    } else {
        None
    };
    Ok(RunOutcome {
        stats,
        summary,
        source_errors,
        errors_path,
        seconds: started.elapsed().as_secs_f64(),
    })
}

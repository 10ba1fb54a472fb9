//! The `crossaz` command line: argument definitions and dispatch to one module per command.
//!
//! Commands are thin: they read files or clients, call the pure core and print. Data goes to
//! stdout, progress and logs to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod backfill;
mod demo;
mod drive;
mod history;
mod html;
mod progress;
mod report;
mod reprocess;
mod run;
mod schema;
mod snapshot;
mod transform;
mod verify;

/// Which pods send how many bytes across Availability Zones, and what it costs.
#[derive(Debug, Parser)]
#[command(name = "crossaz", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, inspect, extract and fetch pod snapshots.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Run the Firehose transform Lambda's handler on Firehose event files.
    Transform(transform::TransformArgs),
    /// The whole pipeline on a synthetic cluster and an hour of its flow logs; prints the report.
    Demo(demo::DemoArgs),
    /// SQL over the Parquet output with the embedded engine (table `flows`).
    Query(report::QueryArgs),
    /// The answers: top pairs by bytes and $, AZ matrix, namespaces, hours, endpoint kinds.
    Report(report::ReportArgs),
    /// Load-test tools.
    #[command(subcommand)]
    Loadtest(LoadtestCommand),
    /// Flow logs through the core into Hive-partitioned Parquet (local folder or S3).
    Run(run::RunArgs),
    /// `run` over hours of an S3 flow-log archive, each hour with its historical snapshot; resumable.
    Backfill(backfill::BackfillArgs),
    /// Replay Firehose error output (processing-failed, format-conversion-failed) to Parquet or the stream.
    Reprocess(reprocess::ReprocessArgs),
    /// Print the row schema (as Glue columns, or JSON).
    Schema(schema::SchemaArgs),
}

#[derive(Debug, Subcommand)]
enum LoadtestCommand {
    /// Compare a pipeline's Parquet output with the generator's truth.json; exit 1 on any difference.
    Verify(verify::VerifyArgs),
    /// Generated flow logs through one path (in-process core, Firehose, Kinesis, Lambda, files,
    /// S3) at a target rate; prints a progress line and a report, writes truth.json/report.json.
    Drive(Box<loadtest::cli::DriveArgs>),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Snapshot(cmd) => snapshot::run(cmd),
        Command::Transform(args) => transform::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Query(args) => report::run_query(&args),
        Command::Report(args) => report::run_report(&args),
        Command::Loadtest(LoadtestCommand::Verify(args)) => verify::run(&args),
        Command::Loadtest(LoadtestCommand::Drive(args)) => drive::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Backfill(args) => backfill::run(&args),
        Command::Reprocess(args) => reprocess::run(&args),
        Command::Schema(args) => schema::run(&args),
    }
}

/// Reads a whole file, naming it in the error.
fn read_file(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Parses an RFC 3339 time or epoch seconds into epoch seconds.
fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|e| anyhow::anyhow!("{s:?} is neither RFC 3339 nor epoch seconds: {e}"))
}

/// Formats epoch seconds as RFC 3339 UTC.
fn format_time(secs: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

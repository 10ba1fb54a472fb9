//! `crossaz-loadtest`: write a generated cluster, its flow logs and their ground truth to disk,
//! drive them through a transport (`drive`), and compare truths (`verify`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use loadtest::FlowStream;
use loadtest::cli::{DriveArgs, SpecArgs, write_cluster_files};
use loadtest::output::{FirehoseWriter, S3LogWriter, write_json};
/// S3 slots are flushed once records have moved this far past them (records end at most a few
/// minutes after the conversation's minute).
const S3_FLUSH_MARGIN_SECS: i64 = 900;

#[derive(Parser)]
#[command(
    version,
    about = "Synthetic EKS clusters and VPC Flow Logs with exact ground truth"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write nodes.json, pods-start.json, pods-end.json, the flow files and truth.json.
    Generate(GenerateArgs),
    /// Compare an observed truth (same JSON shape, built from crossaz's output) with the
    /// generated one; prints the diff, exits non-zero when they differ.
    Verify(VerifyArgs),
    /// Generate records and push them through Firehose, Kinesis, a Lambda, files or S3 at a
    /// target rate; read the destination back; write truth.json and report.json.
    Drive(DriveArgs),
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The generated truth.json.
    #[arg(long)]
    truth: PathBuf,
    /// The observed truth.
    #[arg(long)]
    observed: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Layout {
    /// S3-layout `.log.gz` files with a header line, under `AWSLogs/`.
    Logs,
    /// Firehose transform events of ~1 MB (`firehose/event-NNNNNN.json`).
    Firehose,
    /// One plain `flows.log` (no header).
    Lines,
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    spec: SpecArgs,
    /// Output layout of the flow records.
    #[arg(long = "as", value_enum, default_value_t = Layout::Logs)]
    layout: Layout,
    /// Also write `pods/pods-<epoch>.json` every this many seconds (an extractor's view).
    #[arg(long)]
    pod_lists_every: Option<i64>,
}

fn main() -> Result<std::process::ExitCode> {
    match Cli::parse().command {
        Command::Generate(args) => generate(&args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Verify(args) => verify(&args),
        Command::Drive(args) => loadtest::cli::run_drive(&args),
    }
}

fn read_truth(path: &Path) -> Result<loadtest::Truth> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a truth document", path.display()))
}

fn verify(args: &VerifyArgs) -> Result<std::process::ExitCode> {
    let diff = loadtest::verify(&read_truth(&args.truth)?, &read_truth(&args.observed)?);
    print!("{diff}");
    Ok(if diff.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

fn generate(args: &GenerateArgs) -> Result<()> {
    let cluster = args.spec.cluster()?;
    let traffic = args.spec.traffic();
    let (start, end) = (args.spec.start, args.spec.end());
    let out = &args.out;
    write_cluster_files(out, &cluster, &args.spec)?;
    if let Some(every) = args.pod_lists_every.filter(|e| *e > 0) {
        let mut t = start;
        while t <= end {
            write_json(
                &out.join(format!("pods/pods-{t}.json")),
                &cluster.pods_json(t),
            )?;
            t += every;
        }
    }
    let mut stream = FlowStream::new(&cluster, &traffic).context("traffic spec")?;
    let records = write_flows(&mut stream, out, args.layout, args.spec.seed)?;
    let truth = stream.truth();
    write_json(&out.join("truth.json"), &truth)?;
    let kept = truth.cross_az_total();
    eprintln!(
        "wrote {records} records to {}: {} cross-AZ records, {} bytes in {} keys",
        out.display(),
        kept.records,
        kept.bytes,
        truth.cross_az.len()
    );
    Ok(())
}

fn write_flows(stream: &mut FlowStream<'_>, out: &Path, layout: Layout, seed: u64) -> Result<u64> {
    let mut count = 0u64;
    match layout {
        Layout::Logs => {
            let mut writer = S3LogWriter::new(out, stream.format().header(), seed);
            while let Some((record, line)) = stream.next_with_line() {
                writer.push(record.end, line);
                count += 1;
                if count.is_multiple_of(10_000) {
                    writer.flush_before(record.start - S3_FLUSH_MARGIN_SECS)?;
                }
            }
            writer.finish()?;
        }
        Layout::Firehose => {
            let mut writer = FirehoseWriter::new(&out.join("firehose"), seed);
            let mut line = String::with_capacity(512);
            while let Some(record) = stream.next_into(&mut line) {
                writer.push(record.end, &line)?;
                count += 1;
            }
            writer.finish()?;
        }
        Layout::Lines => {
            use std::io::Write as _;
            let path = out.join("flows.log");
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let mut line = String::with_capacity(512);
            while stream.next_into(&mut line).is_some() {
                writeln!(w, "{line}")
                    .with_context(|| format!("cannot write {}", path.display()))?;
                count += 1;
            }
            w.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(count)
}

//! `crossaz transform`: the Lambda's transform on Firehose event files, with a local snapshot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use pod_cache::index::PodIndex;

use crate::attribute::{Attributor, DEFAULT_USD_PER_GB, DropReason, Pricing};
use crate::firehose::FirehoseEvent;
use crate::flowlog::{FlowFormat, RECOMMENDED_FORMAT};
use crate::transform::{BatchStats, Transform, TransformSettings};

use super::read_file;

#[derive(Debug, Args)]
pub(super) struct TransformArgs {
    /// Snapshot file.
    #[arg(long)]
    snapshot: PathBuf,
    /// The flow log's format (`${version} ${account-id} …`).
    #[arg(long, default_value = RECOMMENDED_FORMAT)]
    format: String,
    /// Estimated USD per GB counted at egress.
    #[arg(long, default_value_t = DEFAULT_USD_PER_GB)]
    usd_per_gb: f64,
    /// Seconds records may be newer than the snapshot.
    #[arg(long, default_value_t = TransformSettings::default().max_snapshot_lag_secs)]
    max_snapshot_lag_secs: i64,
    /// Seconds records may be older than the snapshot.
    #[arg(long, default_value_t = TransformSettings::default().max_record_age_secs)]
    max_record_age_secs: i64,
    /// Where to write each response (same file name as its event).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A Firehose event JSON file, or a folder of them (`*.json`).
    input: PathBuf,
}

pub(super) fn run(args: &TransformArgs) -> anyhow::Result<ExitCode> {
    let format = FlowFormat::parse(&args.format).context("--format")?;
    format.require_attribution_fields().context("--format")?;
    let index = PodIndex::new(super::snapshot::load(&args.snapshot)?);
    let settings = TransformSettings {
        max_snapshot_lag_secs: args.max_snapshot_lag_secs,
        max_record_age_secs: args.max_record_age_secs,
        ..TransformSettings::default()
    };
    let transform = Transform::new(
        &format,
        Attributor::new(
            &index,
            Pricing {
                usd_per_gb: args.usd_per_gb,
            },
        ),
        settings,
    );
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let mut total = BatchStats::default();
    let mut failed_events = 0;
    let started = Instant::now();
    for path in event_files(&args.input)? {
        let text = read_file(&path)?;
        let event = FirehoseEvent::from_json(&text).with_context(|| path.display().to_string())?;
        match transform.run(&event) {
            Ok((response, stats)) => {
                total.absorb(&stats);
                if let (Some(out), Some(name)) = (&args.out, path.file_name()) {
                    let target = out.join(name);
                    std::fs::write(&target, response.as_bytes())
                        .with_context(|| format!("writing {}", target.display()))?;
                }
            }
            Err(e) => {
                failed_events += 1;
                eprintln!("{}: invocation fails: {e}", path.display());
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    print!("{}", report(&total, failed_events, secs));
    Ok(if failed_events > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The event file, or every `*.json` in the folder in name order.
fn event_files(input: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !input.is_dir() {
        return Ok(vec![input.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("listing {}", input.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn report(s: &BatchStats, failed_events: usize, secs: f64) -> String {
    let mut out = format!(
        "records {} ok {} dropped {} failed {} (parse {}, too old {}, over budget {})\n\
         lines {} kept {} ({} bytes)\n",
        s.records_in,
        s.records_ok,
        s.records_dropped,
        s.records_failed,
        s.failed_parse,
        s.failed_too_old,
        s.failed_over_budget,
        s.lines,
        s.rows_kept,
        s.bytes_kept
    );
    for reason in DropReason::ALL {
        let _ = writeln!(
            out,
            "dropped {:<16} {}",
            reason.as_str(),
            s.dropped_for(reason)
        );
    }
    if failed_events > 0 {
        let _ = writeln!(out, "events whose invocation failed: {failed_events}");
    }
    let rate = if secs > 0.0 {
        s.lines as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(out, "{rate:.0} records/s");
    out
}

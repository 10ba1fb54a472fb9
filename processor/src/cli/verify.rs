//! The load-test verifier's reading side: the cross-AZ totals a run actually wrote, read back from
//! the Parquet layout with the embedded SQL engine, as a `loadtest::Truth` to diff against the
//! generator's ground truth.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use clap::Args;
use loadtest::{Counts, EndpointKey, FlowKey, Truth, verify};

use crate::local::query;
use crate::local::s3::AwsOptions;

use super::run::AwsArgs;

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// The generator's truth.json.
    #[arg(long)]
    truth: PathBuf,
    /// Folder or `s3://bucket/prefix` with the pipeline's Parquet output.
    #[arg(long)]
    data: String,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let expected: Truth = serde_json::from_slice(
        &std::fs::read(&args.truth).with_context(|| format!("reading {}", args.truth.display()))?,
    )
    .with_context(|| format!("{} is not a truth file", args.truth.display()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let observed = runtime.block_on(observed_truth(&args.data, &args.aws.options()))?;
    let diff = verify(&cross_az_only(&expected), &observed);
    let total = expected.cross_az_total();
    if diff.is_empty() {
        println!(
            "verified: {} cross-AZ keys, {} records, {} bytes match the truth exactly",
            expected.cross_az.len(),
            total.records,
            total.bytes
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{diff}");
        Ok(ExitCode::from(1))
    }
}

/// `truth` without its per-class totals (the Parquet output holds only kept rows).
pub(super) fn cross_az_only(truth: &Truth) -> Truth {
    Truth {
        classes: std::collections::BTreeMap::new(),
        cross_az: truth.cross_az.clone(),
    }
}

const SIDE_COLUMNS: [&str; 5] = ["kind", "namespace", "pod", "workload", "zone_id"];

/// Cross-AZ totals per (dt, source, destination) as written to `data`.
pub(super) async fn observed_truth(data: &str, aws: &AwsOptions) -> anyhow::Result<Truth> {
    let keys: Vec<String> = ["src", "dst"]
        .iter()
        .flat_map(|side| SIDE_COLUMNS.iter().map(move |c| format!("{side}_{c}")))
        .collect();
    let sql = format!(
        "SELECT dt, {k}, count(*) AS records, sum(packets) AS packets, sum(bytes) AS bytes \
         FROM flows GROUP BY dt, {k}",
        k = keys.join(", ")
    );
    let output = query::run(data, &sql, aws).await?;
    let mut truth = Truth::default();
    for batch in &output.batches {
        let strings: Vec<StringArray> = (0..=keys.len())
            .map(|i| as_strings(batch, i))
            .collect::<anyhow::Result<_>>()?;
        let numbers: Vec<Int64Array> = (keys.len() + 1..keys.len() + 4)
            .map(|i| as_i64(batch, i))
            .collect::<anyhow::Result<_>>()?;
        for row in 0..batch.num_rows() {
            let text = |col: usize| -> Option<String> {
                let a = &strings[col];
                (!a.is_null(row)).then(|| a.value(row).to_owned())
            };
            let side = |offset: usize| EndpointKey {
                kind: text(offset).unwrap_or_default(),
                namespace: text(offset + 1),
                pod: text(offset + 2),
                workload: text(offset + 3),
                zone_id: text(offset + 4),
            };
            let key = FlowKey {
                dt: text(0).unwrap_or_default(),
                src: side(1),
                dst: side(6),
            };
            let number = |i: usize| numbers[i].value(row).unsigned_abs();
            truth.cross_az.insert(
                key,
                Counts {
                    records: number(0),
                    packets: number(1),
                    bytes: number(2),
                },
            );
        }
    }
    Ok(truth)
}

fn as_strings(batch: &RecordBatch, i: usize) -> anyhow::Result<StringArray> {
    let cast = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
    Ok(cast
        .as_any()
        .downcast_ref::<StringArray>()
        .context("not a string column")?
        .clone())
}

fn as_i64(batch: &RecordBatch, i: usize) -> anyhow::Result<Int64Array> {
    let cast = arrow::compute::cast(batch.column(i), &DataType::Int64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<Int64Array>()
        .context("not an integer column")?
        .clone())
}

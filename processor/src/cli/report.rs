//! `crossaz query` and `crossaz report`: SQL over the Parquet layout with the embedded engine,
//! and the handful of answers users come for, as text tables.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use crate::local::query::{self, OutputFormat};
use crate::local::s3::AwsOptions;

use super::run::AwsArgs;

#[derive(Debug, Args)]
pub(super) struct QueryArgs {
    /// Folder or `s3://bucket/prefix` holding `dt=…/*.parquet`.
    #[arg(long)]
    data: String,
    /// table, csv, json or ndjson.
    #[arg(long, default_value = "table")]
    output: OutputFormat,
    /// SQL over the table `flows` (the row schema plus the partition column `dt`).
    sql: String,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    /// Folder or `s3://bucket/prefix` holding `dt=…/*.parquet`.
    #[arg(long)]
    data: String,
    /// Rows in each top list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write the report as one self-contained HTML page (inline CSS and SVG charts) to this file
    /// instead of printing it.
    #[arg(long)]
    html: Option<std::path::PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(super) fn run_query(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let output = runtime.block_on(query::run(&args.data, &args.sql, &args.aws.options()))?;
    print!("{}", query::render(&output, args.output)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn run_report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    if let Some(path) = &args.html {
        let page = runtime.block_on(super::html::html_report(
            &args.data,
            &args.aws.options(),
            args.top,
        ))?;
        std::fs::write(path, page)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        eprintln!("wrote the HTML report to {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    print!(
        "{}",
        runtime.block_on(report(&args.data, &args.aws.options(), args.top))?
    );
    Ok(ExitCode::SUCCESS)
}

/// Label of one side: `namespace/workload` for pods, `node/<name>` for nodes.
fn side(prefix: &str) -> String {
    format!(
        "CASE WHEN {prefix}_kind = 'node' THEN 'node/' || {prefix}_node \
         ELSE {prefix}_namespace || '/' || {prefix}_workload END"
    )
}

/// The report's sections: (title, SQL). The AZ matrix is built from the zones present.
pub(super) fn sections(top: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "Totals",
            "SELECT count(*) AS flows, sum(bytes) AS bytes, round(sum(cost_usd), 6) AS cost_usd, \
             min(dt) AS first_hour, max(dt) AS last_hour FROM flows"
                .to_owned(),
        ),
        (
            "Top workload pairs by bytes",
            format!(
                "SELECT {} AS source, {} AS destination, sum(bytes) AS bytes, \
                 round(sum(cost_usd), 6) AS cost_usd FROM flows GROUP BY 1, 2 \
                 ORDER BY bytes DESC, source, destination LIMIT {top}",
                side("src"),
                side("dst")
            ),
        ),
        (
            "Top pod pairs by cost",
            format!(
                "SELECT coalesce(src_namespace || '/' || src_pod, 'node/' || src_node) AS source, \
                 coalesce(dst_namespace || '/' || dst_pod, 'node/' || dst_node) AS destination, \
                 src_zone || ' -> ' || dst_zone AS zones, sum(bytes) AS bytes, \
                 round(sum(cost_usd), 6) AS cost_usd FROM flows GROUP BY 1, 2, 3 \
                 ORDER BY cost_usd DESC, source, destination LIMIT {top}"
            ),
        ),
        (
            "Per source namespace",
            "SELECT coalesce(src_namespace, '(nodes)') AS namespace, count(*) AS flows, \
             sum(bytes) AS bytes, round(sum(cost_usd), 6) AS cost_usd FROM flows \
             GROUP BY 1 ORDER BY bytes DESC, namespace"
                .to_owned(),
        ),
        (
            "Per hour",
            "SELECT dt, count(*) AS flows, sum(bytes) AS bytes, round(sum(cost_usd), 6) AS cost_usd \
             FROM flows GROUP BY dt ORDER BY dt"
                .to_owned(),
        ),
        (
            "By endpoint kind (pod, hostnet, node)",
            "SELECT src_kind, dst_kind, count(*) AS flows, sum(bytes) AS bytes, \
             round(100.0 * sum(bytes) / (SELECT sum(bytes) FROM flows), 1) AS pct_bytes \
             FROM flows GROUP BY 1, 2 ORDER BY bytes DESC"
                .to_owned(),
        ),
    ]
}

/// The full text report over `data`.
pub(super) async fn report(data: &str, aws: &AwsOptions, top: usize) -> anyhow::Result<String> {
    let ctx = query::session(data, aws).await?;
    let mut out = String::new();
    for (title, sql) in sections(top) {
        let frame = ctx.sql(&sql).await?;
        let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        let output = query::QueryOutput { schema, batches };
        let _ = write!(
            out,
            "\n{title}\n{}",
            query::render(&output, OutputFormat::Table)?
        );
        if title == "Top workload pairs by bytes" {
            let _ = writeln!(
                out,
                "\nBytes by zone (rows: source zone, columns: destination zone)"
            );
            let zones = ctx
                .sql("SELECT DISTINCT dst_zone FROM flows WHERE dst_zone IS NOT NULL ORDER BY dst_zone")
                .await?
                .collect()
                .await?;
            let names = string_column(&zones);
            let columns: Vec<String> = names
                .iter()
                .map(|z| {
                    let quoted = z.replace('\'', "''");
                    format!(
                        "sum(CASE WHEN dst_zone = '{quoted}' THEN bytes ELSE 0 END) AS \"{quoted}\""
                    )
                })
                .collect();
            if !columns.is_empty() {
                let sql = format!(
                    "SELECT src_zone AS zone, {} FROM flows GROUP BY src_zone ORDER BY src_zone",
                    columns.join(", ")
                );
                let frame = ctx.sql(&sql).await?;
                let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
                let output = query::QueryOutput {
                    schema,
                    batches: frame.collect().await?,
                };
                out += &query::render(&output, OutputFormat::Table)?;
            }
        }
    }
    Ok(out)
}

/// The first column of `batches` as strings (nulls skipped).
fn string_column(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        if batch.num_columns() == 0 {
            continue;
        }
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).ok();
        if let Some(column) = column
            && let Some(strings) = column.as_any().downcast_ref::<arrow::array::StringArray>()
        {
            out.extend(strings.iter().flatten().map(str::to_owned));
        }
    }
    out
}

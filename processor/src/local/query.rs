//! The embedded SQL engine: DataFusion over the Hive-partitioned Parquet the writer produces,
//! exposed as the table [`TABLE_NAME`] with the partition column `dt` (Utf8), in a local folder or
//! under an `s3://` prefix; and rendering of results as a table, CSV or JSON.
//!
//! The table's schema is [`row_schema`] (never inferred), so an empty folder is an empty table
//! rather than an error, and a filter on `dt` prunes whole folders before any file is opened.
//! This module runs queries; it does not know which queries the reports ask.

use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::arrow::row_schema;
use super::s3::{AwsOptions, S3Location, is_s3_uri};
use super::writer::PARQUET_SUFFIX;
use crate::row::PARTITION_COLUMN;

/// The name of the flows table in SQL.
pub const TABLE_NAME: &str = "flows";

/// An error preparing or running a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The local data folder does not exist.
    #[error("data folder {path} does not exist (write some flows there first)")]
    MissingFolder {
        /// The folder given.
        path: String,
    },
    /// The `s3://` location is not valid or its object store could not be built.
    #[error("S3 data location {location}: {message}")]
    S3 {
        /// The location given.
        location: String,
        /// Why.
        message: String,
    },
    /// DataFusion refused the SQL or failed running it.
    #[error("query failed: {0}")]
    DataFusion(#[from] DataFusionError),
    /// Rendering the result failed.
    #[error("rendering the result: {0}")]
    Render(#[from] ArrowError),
    /// Writing the result failed.
    #[error("writing the result: {0}")]
    Io(#[from] std::io::Error),
}

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table (Arrow's pretty printer).
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    NdJson,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "ndjson" | "jsonl" => Ok(Self::NdJson),
            other => Err(format!(
                "unknown output format {other:?}: use table, csv, json or ndjson"
            )),
        }
    }
}

/// A query's result: its schema (kept even when there are no rows) and batches.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    /// Rows in the result.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A session with [`TABLE_NAME`] registered over `data` (a folder or `s3://bucket/prefix`); more
/// tables or views may be registered on it by the caller.
#[allow(
    clippy::unused_async,
    reason = "async API: callers await it, and registering remote stores may need I/O"
)]
pub async fn session(data: &str, aws: &AwsOptions) -> Result<SessionContext, QueryError> {
    let ctx = SessionContext::new();
    let url = if is_s3_uri(data) {
        let location = S3Location::parse(data).map_err(|e| QueryError::S3 {
            location: data.to_owned(),
            message: e.to_string(),
        })?;
        let store = s3_store(&location, aws).map_err(|e| QueryError::S3 {
            location: data.to_owned(),
            message: e.to_string(),
        })?;
        let url = ListingTableUrl::parse(location.uri())?;
        ctx.register_object_store(url.object_store().as_ref(), Arc::new(store));
        url
    } else {
        let path = std::path::Path::new(data);
        let absolute = std::fs::canonicalize(path).map_err(|_| QueryError::MissingFolder {
            path: data.to_owned(),
        })?;
        if !absolute.is_dir() {
            return Err(QueryError::MissingFolder {
                path: data.to_owned(),
            });
        }
        ListingTableUrl::parse(format!("{}/", absolute.display()))?
    };
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(PARQUET_SUFFIX)
        .with_table_partition_cols(vec![(PARTITION_COLUMN.to_owned(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(row_schema());
    ctx.register_table(TABLE_NAME, Arc::new(ListingTable::try_new(config)?))?;
    Ok(ctx)
}

fn s3_store(
    location: &S3Location,
    aws: &AwsOptions,
) -> Result<object_store::aws::AmazonS3, object_store::Error> {
    // `from_env` mirrors the SDK's environment chain (keys, region, endpoint); explicit options win.
    let mut builder =
        object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
    if let Some(region) = &aws.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &aws.endpoint_url {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let Some((id, secret)) = &aws.static_credentials {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
    }
    builder.build()
}

/// Runs `sql` against the flows in `data` and returns the result with its schema.
pub async fn run(data: &str, sql: &str, aws: &AwsOptions) -> Result<QueryOutput, QueryError> {
    let ctx = session(data, aws).await?;
    let frame = ctx.sql(sql).await?;
    let schema: Schema = frame.schema().as_arrow().clone();
    let batches = frame.collect().await?;
    Ok(QueryOutput {
        schema: Arc::new(schema),
        batches,
    })
}

/// Runs `sql` against the flows in a local folder or `s3://` prefix (default AWS chain).
pub async fn query(data: &str, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    Ok(run(data, sql, &AwsOptions::default()).await?.batches)
}

/// Writes `output` to `out` in `format`.
pub fn write_output(
    out: &mut dyn Write,
    output: &QueryOutput,
    format: OutputFormat,
) -> Result<(), QueryError> {
    match format {
        OutputFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches_with_schema(
                output.schema.clone(),
                &output.batches,
            )?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            if output.batches.is_empty() {
                writer.write(&RecordBatch::new_empty(output.schema.clone()))?;
            }
            for batch in &output.batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut buffer = Vec::new();
            let mut writer = arrow::json::ArrayWriter::new(&mut buffer);
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            // Some arrow versions write nothing for zero rows; an empty result is still valid JSON.
            out.write_all(if buffer.is_empty() { b"[]" } else { &buffer })?;
        }
        OutputFormat::NdJson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(out);
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

/// `output` rendered as a string in `format`.
pub fn render(output: &QueryOutput, format: OutputFormat) -> Result<String, QueryError> {
    let mut buffer = Vec::new();
    write_output(&mut buffer, output, format)?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_formats_parse() {
        let cases = [
            ("table", Some(OutputFormat::Table)),
            ("csv", Some(OutputFormat::Csv)),
            ("json", Some(OutputFormat::Json)),
            ("jsonl", Some(OutputFormat::NdJson)),
            ("xml", None),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<OutputFormat>().ok(), expected, "{text}");
        }
    }
}

//! `crossaz reprocess`: replays Firehose error output so nothing in the error prefix is lost
//! (design §7).
//!
//! Firehose writes one JSON document per failed record, one per line, under its error prefix
//! (aws-facts §1.3, §3):
//! - `processing-failed`: `rawData` is the original record (flow-log lines, usually
//!   `{"message":"<line>"}`), with `errorCode`, `errorMessage`, `lambdaArn`, `attemptsMade`,
//!   `arrivalTimestamp` (ms), `attemptEndingTimestamp`. Replayed through the same core as
//!   `crossaz run` — each line attributed with the history snapshot of its own hour
//!   (`--snapshots`) or one `--snapshot` — into Parquet (`--out`), or put back into the stream
//!   unchanged (`--firehose-stream`, `PutRecordBatch`: ≤ 500 records and ≤ 4 MiB per call, only
//!   the failed entries retried, with exponential backoff) for its Lambda to transform again.
//! - `format-conversion-failed`: `rawData` is what the Lambda returned (rows as concatenated
//!   JSON objects) with `lastErrorCode`/`ErrorCode`, `sequenceNumber`, `dataCatalogTable`. The
//!   rows are already attributed; they are written to Parquet as they are (`--out`). They cannot
//!   go back through the stream: its Lambda reads flow logs, not rows.
//!
//! Every document, line or row that cannot be replayed is written to `--rejects` (JSON lines with
//! origin, line, reason and the raw text), and the printed counts add up:
//! documents = processing-failed + format-conversion-failed + rejected documents.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use serde::Deserialize;

use crate::attribute::{DEFAULT_USD_PER_GB, Decision, Pricing};
use crate::flowlog::FlowFormat;
use crate::flowlog::frame::record_lines;
use crate::local::s3::{AwsOptions, BlockingS3, S3Location, is_s3_uri};
use crate::local::source::{expand_path, normalize_format};
use crate::local::writer::{PartitionedWriter, WriteSummary};
use crate::pipeline::{LineFailure, RunStats};
use crate::row::{Row, partition_key};

use super::history::{History, HourSnapshot};
use super::run::{AwsArgs, load_snapshot, open_writer};

/// PutRecordBatch accepts at most this many records per call.
pub const MAX_BATCH_RECORDS: usize = 500;
/// … and at most this many bytes of data per call.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// One record may hold at most 1,000 KiB.
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;
/// Calls per batch before the still-failing entries are given up (written to the rejects).
pub const MAX_PUT_ATTEMPTS: u32 = 6;
/// Backoff before the second call; doubled each time, capped at [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two calls.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub(super) struct ReprocessArgs {
    /// Error objects: files, folders or `s3://bucket/prefix` (e.g. the stream's `errors/`
    /// prefix); gzip-compressed objects are read too.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<String>,
    /// Write replayed rows as Parquet here (folder or `s3://bucket/prefix`, `dt=…/` folders).
    #[arg(long, required_unless_present = "firehose_stream")]
    out: Option<String>,
    /// Put `processing-failed` records back into this Firehose stream, unchanged.
    #[arg(long)]
    firehose_stream: Option<String>,
    /// One snapshot for every record (file or `s3://bucket/key`).
    #[arg(long, conflicts_with = "snapshots")]
    snapshot: Option<String>,
    /// Snapshot history (`s3://bucket/snapshots/<cluster>` or a folder with the same layout):
    /// each flow is attributed with the snapshot of its own hour.
    #[arg(long)]
    snapshots: Option<String>,
    /// The flow-log format of the records (the transform Lambda's format).
    #[arg(long)]
    format: Option<String>,
    /// Where documents, lines and rows that cannot be replayed go (JSON lines).
    #[arg(long)]
    rejects: PathBuf,
    /// Estimated USD per GB counted at egress.
    #[arg(long, default_value_t = DEFAULT_USD_PER_GB)]
    usd_per_gb: f64,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The two kinds of Firehose error output crossaz replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The transform Lambda failed the record; `rawData` is the original record.
    ProcessingFailed,
    /// Parquet conversion failed; `rawData` is the transformed rows.
    FormatConversionFailed,
}

impl ErrorKind {
    /// The error-output-type folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ProcessingFailed => "processing-failed",
            ErrorKind::FormatConversionFailed => "format-conversion-failed",
        }
    }
}

/// One Firehose error document (unknown keys ignored; the docs spell the conversion error code
/// `ErrorCode`, observed output `lastErrorCode`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDocument {
    raw_data: String,
    #[serde(alias = "ErrorCode")]
    error_code: Option<String>,
    last_error_code: Option<String>,
    lambda_arn: Option<String>,
    arrival_timestamp: Option<i64>,
    sequence_number: Option<serde_json::Value>,
    data_catalog_table: Option<serde_json::Value>,
}

/// A decoded error document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Which error output it is.
    pub kind: ErrorKind,
    /// The base64-decoded `rawData`.
    pub data: Vec<u8>,
    /// `arrivalTimestamp` in epoch seconds, if present.
    pub arrival: Option<i64>,
}

/// Decodes one line of an error object. The kind comes from the document's keys
/// (`lambdaArn`/`Lambda.*` codes vs `dataCatalogTable`/`sequenceNumber`/`lastErrorCode`/
/// `DataFormatConversion.*` codes), else from the object's folder name.
pub fn parse_document(line: &str, origin: &str) -> Result<Document, String> {
    let doc: ErrorDocument =
        serde_json::from_str(line).map_err(|e| format!("not a Firehose error document: {e}"))?;
    let code = doc.error_code.as_deref().unwrap_or_default();
    let kind = if doc.data_catalog_table.is_some()
        || doc.sequence_number.is_some()
        || doc.last_error_code.is_some()
        || code.starts_with("DataFormatConversion.")
    {
        ErrorKind::FormatConversionFailed
    } else if doc.lambda_arn.is_some() || code.starts_with("Lambda.") {
        ErrorKind::ProcessingFailed
    } else if origin.contains(ErrorKind::FormatConversionFailed.as_str()) {
        ErrorKind::FormatConversionFailed
    } else if origin.contains("processing-failed") || origin.contains("processing_failed") {
        ErrorKind::ProcessingFailed
    } else {
        return Err(format!(
            "cannot tell the error type (error code {code:?}, no lambdaArn or dataCatalogTable, \
             and the object is not under processing-failed/ or format-conversion-failed/)"
        ));
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(doc.raw_data.trim())
        .map_err(|e| format!("rawData is not base64: {e}"))?;
    Ok(Document {
        kind,
        data,
        arrival: doc.arrival_timestamp.map(|ms| ms.div_euclid(1000)),
    })
}

/// Whether a record of `next` bytes must start a new PutRecordBatch call after `records`
/// records of `bytes` bytes: a call takes at most [`MAX_BATCH_RECORDS`] and [`MAX_BATCH_BYTES`].
pub fn starts_new_batch(records: usize, bytes: usize, next: usize) -> bool {
    records > 0 && (records >= MAX_BATCH_RECORDS || bytes + next > MAX_BATCH_BYTES)
}

/// The outcome of putting one batch with retries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// Records accepted.
    pub sent: u64,
    /// Indexes (into the batch) still failing after the last attempt, with the last error.
    pub failed: Vec<(usize, String)>,
    /// Calls made.
    pub calls: u32,
}

/// Puts `records` with `send`, which returns a per-record error (`None` = accepted) or an error
/// for the whole call. Only the failed entries are sent again, after `backoff(attempt)`, up to
/// `max_attempts` calls.
pub async fn put_with_retries<S, F, B, W>(
    records: &[Vec<u8>],
    max_attempts: u32,
    mut send: S,
    mut backoff: B,
) -> PutOutcome
where
    S: FnMut(Vec<Vec<u8>>) -> F,
    F: std::future::Future<Output = Result<Vec<Option<String>>, String>>,
    B: FnMut(u32) -> W,
    W: std::future::Future<Output = ()>,
{
    let mut outcome = PutOutcome::default();
    let mut pending: Vec<(usize, String)> =
        (0..records.len()).map(|i| (i, String::new())).collect();
    while !pending.is_empty() {
        outcome.calls += 1;
        let batch = pending.iter().map(|(i, _)| records[*i].clone()).collect();
        pending = match send(batch).await {
            Ok(results) => {
                let mut still = Vec::new();
                for (n, (index, _)) in pending.iter().enumerate() {
                    match results.get(n) {
                        Some(None) => outcome.sent += 1,
                        Some(Some(error)) => still.push((*index, error.clone())),
                        None => still.push((*index, "no result for this entry".to_owned())),
                    }
                }
                still
            }
            Err(error) => pending
                .into_iter()
                .map(|(i, _)| (i, error.clone()))
                .collect(),
        };
        if pending.is_empty() || outcome.calls >= max_attempts {
            break;
        }
        backoff(outcome.calls).await;
    }
    outcome.failed = pending;
    outcome
}

/// The wait after call `attempt` (1-based): 100 ms, 200 ms, … capped at [`MAX_BACKOFF`].
pub fn backoff_delay(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// A record waiting to be put, with where it came from.
struct Pending {
    data: Vec<u8>,
    origin: String,
    line: u64,
}

/// `processing-failed` records back into a Firehose stream.
struct FirehoseSink {
    client: aws_sdk_firehose::Client,
    runtime: tokio::runtime::Runtime,
    stream: String,
    pending: Vec<Pending>,
    pending_bytes: usize,
    sent: u64,
    failed: u64,
    calls: u64,
}

impl FirehoseSink {
    fn open(stream: &str, aws: &AwsOptions) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let config = runtime.block_on(aws.sdk_config());
        Ok(Self {
            client: aws_sdk_firehose::Client::new(&config),
            runtime,
            stream: stream.to_owned(),
            pending: Vec::new(),
            pending_bytes: 0,
            sent: 0,
            failed: 0,
            calls: 0,
        })
    }

    fn push(&mut self, record: Pending, rejects: &mut Rejects) -> anyhow::Result<()> {
        if record.data.len() > MAX_RECORD_BYTES {
            self.failed += 1;
            return rejects.write(
                &record.origin,
                record.line,
                "firehose",
                &format!(
                    "record of {} bytes exceeds Firehose's {MAX_RECORD_BYTES}-byte record limit",
                    record.data.len()
                ),
                &String::from_utf8_lossy(&record.data),
            );
        }
        if starts_new_batch(self.pending.len(), self.pending_bytes, record.data.len()) {
            self.flush(rejects)?;
        }
        self.pending_bytes += record.data.len();
        self.pending.push(record);
        Ok(())
    }

    fn flush(&mut self, rejects: &mut Rejects) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if batch.is_empty() {
            return Ok(());
        }
        let data: Vec<Vec<u8>> = batch.iter().map(|p| p.data.clone()).collect();
        let client = &self.client;
        let stream = &self.stream;
        let outcome = self.runtime.block_on(put_with_retries(
            &data,
            MAX_PUT_ATTEMPTS,
            |records| async move { put_record_batch(client, stream, records).await },
            |attempt| tokio::time::sleep(backoff_delay(attempt)),
        ));
        self.calls += u64::from(outcome.calls);
        self.sent += outcome.sent;
        for (index, error) in &outcome.failed {
            self.failed += 1;
            let record = &batch[*index];
            rejects.write(
                &record.origin,
                record.line,
                "firehose",
                &format!("PutRecordBatch to {stream} failed {MAX_PUT_ATTEMPTS} times: {error}"),
                &String::from_utf8_lossy(&record.data),
            )?;
        }
        Ok(())
    }
}

/// One PutRecordBatch call: per-entry errors, or the error of the whole call.
async fn put_record_batch(
    client: &aws_sdk_firehose::Client,
    stream: &str,
    records: Vec<Vec<u8>>,
) -> Result<Vec<Option<String>>, String> {
    use aws_sdk_firehose::primitives::Blob;
    use aws_sdk_firehose::types::Record;
    let records = records
        .into_iter()
        .map(|data| Record::builder().data(Blob::new(data)).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let output = client
        .put_record_batch()
        .delivery_stream_name(stream)
        .set_records(Some(records))
        .send()
        .await
        .map_err(|e| aws_sdk_firehose::error::DisplayErrorContext(&e).to_string())?;
    Ok(output
        .request_responses()
        .iter()
        .map(|r| {
            r.error_code()
                .map(|code| format!("{code}: {}", r.error_message().unwrap_or("no message")))
        })
        .collect())
}

/// The rejects file (JSON lines), created on the first entry.
struct Rejects {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    count: u64,
}

impl Rejects {
    fn write(
        &mut self,
        origin: &str,
        line: u64,
        what: &str,
        reason: &str,
        raw: &str,
    ) -> anyhow::Result<()> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let f = std::fs::File::create(&self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            self.file = Some(std::io::BufWriter::new(f));
        }
        self.count += 1;
        let doc = serde_json::json!({
            "origin": origin, "line": line, "what": what, "reason": reason, "raw": raw
        });
        if let Some(f) = self.file.as_mut() {
            writeln!(f, "{doc}")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.flush()?;
        }
        Ok(())
    }
}

/// Which snapshot attributes a flow.
enum Snapshots {
    One(HourSnapshot),
    History(Box<History>),
}

impl Snapshots {
    fn for_time(&mut self, at: i64) -> anyhow::Result<Option<HourSnapshot>> {
        match self {
            Snapshots::One(s) => Ok(Some(s.clone())),
            Snapshots::History(h) => h.for_hour(at),
        }
    }
}

/// What a reprocess run counted.
#[derive(Debug, Default)]
struct Counts {
    objects: u64,
    unreadable_objects: u64,
    documents: u64,
    processing_failed: u64,
    conversion_failed: u64,
    rejected_documents: u64,
    /// `processing-failed` lines replayed to Parquet.
    lines: RunStats,
    /// `format-conversion-failed` rows written.
    rows_written: u64,
    /// `format-conversion-failed` rows (or undecodable rest of a record) rejected.
    rows_rejected: u64,
}

/// Everything one run needs while reading documents.
struct Replay {
    format: Option<FlowFormat>,
    snapshots: Option<Snapshots>,
    pricing: Pricing,
    writer: Option<PartitionedWriter>,
    firehose: Option<FirehoseSink>,
    rejects: Rejects,
    counts: Counts,
}

impl Replay {
    fn document(&mut self, origin: &str, line_no: u64, line: &str) -> anyhow::Result<()> {
        self.counts.documents += 1;
        let doc = match parse_document(line, origin) {
            Ok(doc) => doc,
            Err(reason) => {
                self.counts.rejected_documents += 1;
                return self
                    .rejects
                    .write(origin, line_no, "document", &reason, line);
            }
        };
        match doc.kind {
            ErrorKind::ProcessingFailed => {
                self.counts.processing_failed += 1;
                if let Some(firehose) = self.firehose.as_mut() {
                    let record = Pending {
                        data: doc.data,
                        origin: origin.to_owned(),
                        line: line_no,
                    };
                    firehose.push(record, &mut self.rejects)
                } else {
                    self.flow_record(origin, line_no, &doc)
                }
            }
            ErrorKind::FormatConversionFailed => {
                self.counts.conversion_failed += 1;
                if self.writer.is_some() {
                    self.rows(origin, line_no, &doc.data)
                } else {
                    self.counts.rows_rejected += 1;
                    self.rejects.write(
                        origin,
                        line_no,
                        "document",
                        "format-conversion-failed documents hold transformed rows, which the \
                         stream's Lambda cannot read again: replay them with --out",
                        line,
                    )
                }
            }
        }
    }

    /// A `processing-failed` record: its flow-log lines through the core into Parquet.
    fn flow_record(&mut self, origin: &str, line_no: u64, doc: &Document) -> anyhow::Result<()> {
        let lines: Result<Vec<_>, _> =
            record_lines(&doc.data).and_then(Iterator::collect::<Result<Vec<_>, _>>);
        let lines = match lines {
            Ok(lines) => lines,
            Err(e) => {
                self.counts.lines.lines += 1;
                self.counts.lines.failed += 1;
                return self.rejects.write(
                    origin,
                    line_no,
                    "record",
                    &e.to_string(),
                    &String::from_utf8_lossy(&doc.data),
                );
            }
        };
        for text in &lines {
            let text: &str = text;
            self.flow_line(origin, line_no, text, doc.arrival)?;
        }
        Ok(())
    }

    fn flow_line(
        &mut self,
        origin: &str,
        line_no: u64,
        text: &str,
        arrival: Option<i64>,
    ) -> anyhow::Result<()> {
        let (Some(format), Some(snapshots)) = (self.format.as_ref(), self.snapshots.as_mut())
        else {
            anyhow::bail!("internal: flow lines need --format and a snapshot");
        };
        let record = match format.parse_line(text) {
            Ok(record) => record,
            Err(e) => {
                let decision = Err(LineFailure::Parse(e));
                self.counts.lines.count(&decision);
                let reason = decision.err().map(|e| e.to_string()).unwrap_or_default();
                return self.rejects.write(origin, line_no, "line", &reason, text);
            }
        };
        let Some(at) = record.start.or(arrival) else {
            self.counts.lines.lines += 1;
            self.counts.lines.failed += 1;
            return self.rejects.write(
                origin,
                line_no,
                "line",
                "no start and no arrivalTimestamp: cannot pick a snapshot",
                text,
            );
        };
        let Some(snapshot) = snapshots.for_time(at)? else {
            self.counts.lines.lines += 1;
            self.counts.lines.failed += 1;
            return self.rejects.write(
                origin,
                line_no,
                "line",
                &format!(
                    "no snapshot in the history for the hour of {}",
                    super::format_time(at)
                ),
                text,
            );
        };
        let attributor = crate::attribute::Attributor::new(&snapshot.index, self.pricing);
        let decision = attributor
            .attribute(&record, text)
            .map_err(LineFailure::Attribute);
        self.counts.lines.count(&decision);
        match decision {
            Ok(Decision::Keep { flow, dt }) => {
                if let Some(writer) = self.writer.as_mut() {
                    writer.push(&dt.key(), &flow.row())?;
                }
                Ok(())
            }
            Ok(Decision::Drop(_)) => Ok(()),
            Err(e) => self
                .rejects
                .write(origin, line_no, "line", &e.to_string(), text),
        }
    }

    /// A `format-conversion-failed` record: its rows, as they are, into Parquet.
    fn rows(&mut self, origin: &str, line_no: u64, data: &[u8]) -> anyhow::Result<()> {
        let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<Row<'static>>();
        let mut index = 0;
        loop {
            let before = stream.byte_offset();
            let Some(row) = stream.next() else {
                return Ok(());
            };
            index += 1;
            let reason = match row {
                Ok(row) => match row.start_ts.and_then(partition_key) {
                    Some(dt) => {
                        if let Some(writer) = self.writer.as_mut() {
                            writer.push(&dt, &row)?;
                        }
                        self.counts.rows_written += 1;
                        continue;
                    }
                    None => format!("row {index} has no valid start_ts for its dt"),
                },
                Err(e) => {
                    format!("row {index} is not a crossaz row: {e}; rest of the record kept here")
                }
            };
            self.counts.rows_rejected += 1;
            let rest = &data[before.min(data.len())..];
            let failed_json = reason.contains("is not a crossaz row");
            self.rejects.write(
                origin,
                line_no,
                "row",
                &reason,
                String::from_utf8_lossy(rest).trim(),
            )?;
            if failed_json {
                // The stream cannot resume after a syntax or type error: the rest went with it.
                return Ok(());
            }
        }
    }
}

/// Error objects named by `inputs`: files, folders (recursively, hidden entries skipped) and S3
/// prefixes.
fn list_objects(
    inputs: &[String],
    s3: &mut Option<BlockingS3>,
    aws: &AwsOptions,
) -> anyhow::Result<Vec<String>> {
    let mut objects = Vec::new();
    for input in inputs {
        if is_s3_uri(input) {
            let location = S3Location::parse(input)?;
            if s3.is_none() {
                *s3 = Some(BlockingS3::from_options(aws)?);
            }
            let client = s3.as_ref().context("S3 client")?;
            let prefix = if location.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", location.prefix)
            };
            for object in client.list_objects(&location.bucket, &prefix)? {
                if !object.key.ends_with('/') {
                    objects.push(format!("s3://{}/{}", location.bucket, object.key));
                }
            }
        } else {
            objects.extend(
                expand_path(Path::new(input))?
                    .iter()
                    .map(|p| p.display().to_string()),
            );
        }
    }
    Ok(objects)
}

/// The bytes of an object, gunzipped when they start with the gzip magic.
fn read_object(origin: &str, s3: Option<&BlockingS3>) -> anyhow::Result<Vec<u8>> {
    let bytes = if is_s3_uri(origin) {
        let location = S3Location::parse(origin)?;
        s3.context("S3 client")?
            .get_object(&location.bucket, &location.prefix)?
    } else {
        std::fs::read(origin).with_context(|| format!("reading {origin}"))?
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut text)
            .with_context(|| format!("gunzipping {origin}"))?;
        Ok(text)
    } else {
        Ok(bytes)
    }
}

pub(super) fn run(args: &ReprocessArgs) -> anyhow::Result<ExitCode> {
    let aws = args.aws.options();
    let replays_lines = args.out.is_some() && args.firehose_stream.is_none();
    if replays_lines {
        anyhow::ensure!(
            args.format.is_some(),
            "--format is needed to read processing-failed records (the transform Lambda's flow-log format)"
        );
        anyhow::ensure!(
            args.snapshot.is_some() || args.snapshots.is_some(),
            "--snapshots (history) or --snapshot is needed to attribute processing-failed records"
        );
    }
    let format = match &args.format {
        Some(spec) => {
            let f = FlowFormat::parse(&normalize_format(spec))?;
            f.require_attribution_fields()?;
            Some(f)
        }
        None => None,
    };
    let snapshots = match (&args.snapshot, &args.snapshots) {
        (Some(one), _) => {
            let snapshot = load_snapshot(one, &aws)?;
            Some(Snapshots::One(HourSnapshot {
                generated_at: snapshot.generated_at,
                index: Arc::new(pod_cache::index::PodIndex::new(snapshot)),
            }))
        }
        (None, Some(history)) => Some(Snapshots::History(Box::new(History::open(history, &aws)?))),
        (None, None) => None,
    };
    let mut s3 = None;
    let objects = list_objects(&args.input, &mut s3, &aws)?;
    let mut replay = Replay {
        format,
        snapshots,
        pricing: Pricing {
            usd_per_gb: args.usd_per_gb,
        },
        writer: args
            .out
            .as_deref()
            .map(|out| open_writer(out, &aws))
            .transpose()?,
        firehose: args
            .firehose_stream
            .as_deref()
            .map(|stream| FirehoseSink::open(stream, &aws))
            .transpose()?,
        rejects: Rejects {
            path: args.rejects.clone(),
            file: None,
            count: 0,
        },
        counts: Counts::default(),
    };
    let bar = super::progress::bar(Some(objects.len() as u64), "error objects");
    for origin in &objects {
        replay.counts.objects += 1;
        bar.inc(1);
        let bytes = match read_object(origin, s3.as_ref()) {
            Ok(bytes) => bytes,
            Err(e) => {
                replay.counts.unreadable_objects += 1;
                bar.suspend(|| eprintln!("warning: {e:#}"));
                replay
                    .rejects
                    .write(origin, 0, "object", &format!("{e:#}"), "")?;
                continue;
            }
        };
        for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = String::from_utf8_lossy(raw);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            replay.document(origin, n as u64 + 1, line)?;
        }
    }
    bar.finish_and_clear();
    if let Some(mut firehose) = replay.firehose.take() {
        firehose.flush(&mut replay.rejects)?;
        replay.firehose = Some(firehose);
    }
    let summary = match replay.writer.take() {
        Some(writer) => Some(writer.finish()?),
        None => None,
    };
    replay.rejects.finish()?;
    eprint!("{}", render(&replay, args, summary.as_ref()));
    Ok(if replay.rejects.count > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(replay: &Replay, args: &ReprocessArgs, summary: Option<&WriteSummary>) -> String {
    let c = &replay.counts;
    let mut out = format!(
        "read {} error objects ({} unreadable): {} documents = {} processing-failed + {} format-conversion-failed + {} rejected\n",
        c.objects,
        c.unreadable_objects,
        c.documents,
        c.processing_failed,
        c.conversion_failed,
        c.rejected_documents
    );
    if let Some(firehose) = &replay.firehose {
        let _ = writeln!(
            out,
            "processing-failed -> Firehose stream {}: {} records put, {} failed, {} PutRecordBatch calls",
            firehose.stream, firehose.sent, firehose.failed, firehose.calls
        );
    } else if c.processing_failed > 0 {
        out += "processing-failed -> Parquet:\n";
        out += &c.lines.render();
    }
    if c.conversion_failed > 0 {
        let _ = writeln!(
            out,
            "format-conversion-failed -> Parquet: {} rows written, {} rejected",
            c.rows_written, c.rows_rejected
        );
    }
    if let (Some(summary), Some(out_dir)) = (summary, &args.out) {
        let _ = writeln!(
            out,
            "wrote {} rows in {} files across {} hours to {out_dir}",
            summary.total_rows(),
            summary.files.len(),
            summary.rows_per_dt.len()
        );
    }
    if let Some(Snapshots::History(h)) = &replay.snapshots {
        let _ = writeln!(out, "snapshots from the history at {}", h.location());
    }
    if replay.rejects.count > 0 {
        let _ = writeln!(
            out,
            "rejects: {} entries written to {}",
            replay.rejects.count,
            replay.rejects.path.display()
        );
    } else {
        out += "rejects: none\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_record_and_byte_limits() {
        let split = |sizes: &[usize]| {
            let (mut batches, mut records, mut bytes) = (vec![], 0, 0);
            for size in sizes {
                if starts_new_batch(records, bytes, *size) {
                    batches.push(records);
                    (records, bytes) = (0, 0);
                }
                records += 1;
                bytes += size;
            }
            batches.push(records);
            batches
        };
        assert_eq!(split(&[10; 1201]), vec![500, 500, 201]);
        // 4 MiB holds four records of 1,000 KiB.
        assert_eq!(split(&[MAX_RECORD_BYTES; 9]), vec![4, 4, 1]);
        assert!(!starts_new_batch(0, 0, MAX_BATCH_BYTES + 1));
    }

    #[test]
    fn only_failed_entries_are_retried() {
        let records: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i]).collect();
        let mut calls: Vec<Vec<u8>> = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outcome = runtime.block_on(put_with_retries(
            &records,
            3,
            |batch| {
                let firsts: Vec<u8> = batch.iter().map(|r| r[0]).collect();
                calls.push(firsts.clone());
                let attempt = calls.len();
                async move {
                    match attempt {
                        // First call: entries 1 and 3 throttled.
                        1 => Ok(firsts
                            .iter()
                            .map(|f| (f % 2 == 1).then(|| "ServiceUnavailableException".to_owned()))
                            .collect()),
                        // Second call fails as a whole.
                        2 => Err("timeout".to_owned()),
                        // Third: 1 goes through, 3 keeps failing.
                        _ => Ok(firsts
                            .iter()
                            .map(|f| (*f == 3).then(|| "InternalFailure".to_owned()))
                            .collect()),
                    }
                }
            },
            |_| async {},
        ));
        assert_eq!(calls, vec![vec![0, 1, 2, 3, 4], vec![1, 3], vec![1, 3]]);
        assert_eq!(outcome.sent, 4);
        assert_eq!(outcome.calls, 3);
        assert_eq!(outcome.failed, vec![(3, "InternalFailure".to_owned())]);
    }

    #[test]
    fn rows_read_back_what_the_transform_wrote() {
        let row = Row {
            flow_id: Some("abc".into()),
            start_ts: Some(1_714_568_460),
            bytes: Some(123),
            protocol: Some(6),
            src_namespace: Some("shop".into()),
            dst_kind: Some("node".into()),
            cost_usd: Some(2.5e-9),
            ..Row::default()
        };
        let json = format!(
            "{}\n{}",
            serde_json::to_string(&row).unwrap(),
            serde_json::to_string(&row).unwrap()
        );
        let back: Vec<Row<'static>> = serde_json::Deserializer::from_str(&json)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![row.clone(), row]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff_delay(1), Duration::from_millis(100));
        assert_eq!(backoff_delay(2), Duration::from_millis(200));
        assert_eq!(backoff_delay(4), Duration::from_millis(800));
        assert_eq!(backoff_delay(30), MAX_BACKOFF);
    }

    #[test]
    fn documents_of_both_kinds_and_bad_ones() {
        let raw = base64::engine::general_purpose::STANDARD.encode(b"{\"message\":\"x\"}");
        let pf = format!(
            r#"{{"attemptsMade":4,"arrivalTimestamp":1714568460000,"errorCode":"Lambda.FunctionError","errorMessage":"boom","attemptEndingTimestamp":1714568520000,"rawData":"{raw}","lambdaArn":"arn:aws:lambda:us-east-1:1:function:t"}}"#
        );
        let doc = parse_document(&pf, "x").unwrap();
        assert_eq!(doc.kind, ErrorKind::ProcessingFailed);
        assert_eq!(doc.arrival, Some(1_714_568_460));
        assert_eq!(doc.data, b"{\"message\":\"x\"}");
        let fcf = format!(
            r#"{{"attemptsMade":1,"arrivalTimestamp":1714568460000,"lastErrorCode":"DataFormatConversion.MalformedData","lastErrorMessage":"bad","attemptEndingTimestamp":1714568460100,"rawData":"{raw}","sequenceNumber":"4959","subSequenceNumber":0,"dataCatalogTable":{{"databaseName":"crossaz","tableName":"flows"}}}}"#
        );
        assert_eq!(
            parse_document(&fcf, "x").unwrap().kind,
            ErrorKind::FormatConversionFailed
        );
        let bare = format!(r#"{{"rawData":"{raw}"}}"#);
        assert_eq!(
            parse_document(&bare, "s3://b/errors/processing-failed/2024/05/01/13/o")
                .unwrap()
                .kind,
            ErrorKind::ProcessingFailed
        );
        assert!(parse_document(&bare, "elsewhere").is_err());
        assert!(
            parse_document("{\"rawData\":\"%%%\",\"lambdaArn\":\"a\"}", "x")
                .unwrap_err()
                .contains("base64")
        );
        assert!(parse_document("not json", "x").is_err());
    }
}

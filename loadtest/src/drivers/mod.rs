//! Load-test drivers (feature `drivers`): generated flow-log lines pushed through a real
//! transport at a target rate, with bounded concurrency, retries of exactly the entries that
//! failed, a live progress line and an end-of-run [`Report`].
//!
//! This module owns the drive loop (generate → frame → batch → rate-limit → send → retry) and
//! the batch limits of each transport. Each transport owns only its API call and how it reads
//! that call's per-entry outcome:
//! - [`firehose`]: `PutRecordBatch` (≤ 500 records / 4 MiB; `FailedPutCount`, per-entry `ErrorCode`);
//! - [`kinesis`]: `PutRecords` (≤ 500 records / 5 MiB; `FailedRecordCount`, per-entry `ErrorCode`);
//! - [`lambda`]: Firehose transform events invoked on a running `crossaz-transform` (Invoke API,
//!   e.g. `cargo lambda watch`), the response checked (every `recordId` back once, result counts);
//! - [`files`]: S3-delivery-layout `.log.gz` files into a folder or an S3 prefix (backfill tests).
//!
//! Firehose and Kinesis records are framed as VPC Flow Logs frame them: one line per record,
//! `{"message":"<line>"}`, no newline (aws-facts §4.1). [`arrival`] reads the destinations back.
//! The in-process driver (the core itself) lives in the processor, which reuses [`Report`].

pub mod arrival;
pub mod files;
pub mod firehose;
pub mod kinesis;
pub mod lambda;
mod stats;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::Region;
use thiserror::Error;
use tokio::task::JoinSet;

pub use self::stats::{Arrival, Latency, LiveStats, Progress, Report};
use crate::spec::SpecError;
use crate::truth::Truth;
use crate::{Cluster, FlowRecord, FlowStream, TrafficSpec};

/// A drive could not start or run.
#[derive(Debug, Error)]
pub enum DriveError {
    /// An option is out of range.
    #[error("invalid option {option}: {reason}")]
    Option {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The traffic spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// One generated record is larger than the transport accepts in one entry.
    #[error(
        "record {index} (ENI {eni}, start {start}) is {size} bytes framed, over the {driver} limit of {limit} bytes per record"
    )]
    RecordTooLarge {
        /// Transport.
        driver: &'static str,
        /// 0-based index of the generated record.
        index: u64,
        /// Its ENI number.
        eni: u32,
        /// Its start.
        start: i64,
        /// Framed size.
        size: usize,
        /// The transport's limit.
        limit: usize,
    },
    /// A transport call failed in a way retries cannot fix (setup, file system).
    #[error("{driver} {operation}: {message}")]
    Transport {
        /// Transport.
        driver: &'static str,
        /// Operation.
        operation: &'static str,
        /// Cause.
        message: String,
    },
}

/// How to reach AWS or a local stand-in.
#[derive(Debug, Clone, Default)]
pub struct AwsTarget {
    /// Custom endpoint (moto, `cargo lambda watch`); S3 then uses path-style addressing.
    pub endpoint_url: Option<String>,
    /// Region; else the SDK's region chain.
    pub region: Option<String>,
    /// Static access key id and secret; else the SDK's credential chain.
    pub static_credentials: Option<(String, String)>,
}

impl AwsTarget {
    /// A local stand-in at `endpoint_url` with dummy credentials in us-east-1.
    pub fn local(endpoint_url: &str) -> Self {
        AwsTarget {
            endpoint_url: Some(endpoint_url.to_owned()),
            region: Some("us-east-1".to_owned()),
            static_credentials: Some(("test".to_owned(), "test".to_owned())),
        }
    }

    /// The SDK configuration for any client.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((id, secret)) = &self.static_credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id, secret, None, None, "static",
            ));
        }
        loader.load().await
    }

    /// An S3 client, path-style when a custom endpoint is set.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let shared = self.sdk_config().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// Bounds and pacing of a drive.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Target records per second (`None`: as fast as the transport goes).
    pub rate: Option<f64>,
    /// Stop generating after this long.
    pub duration: Option<Duration>,
    /// Stop after this many records.
    pub max_records: Option<u64>,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Retries of the failed entries of a call (and of a failed call) before giving up.
    pub max_retries: u32,
    /// First retry delay; doubled per retry up to [`MAX_BACKOFF`].
    pub backoff: Duration,
    /// Progress line interval (`None`: no progress line).
    pub progress: Option<Duration>,
}

/// Error code of a report whose destination could not be read back.
pub const ARRIVAL_CHECK: &str = "ArrivalCheck";

/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Default for DriveOptions {
    fn default() -> Self {
        DriveOptions {
            rate: None,
            duration: None,
            max_records: None,
            concurrency: 4,
            max_retries: 5,
            backoff: Duration::from_millis(100),
            progress: Some(Duration::from_secs(1)),
        }
    }
}

impl DriveOptions {
    /// Refuses a zero concurrency and a rate that is not a positive number.
    pub fn validate(&self) -> Result<(), DriveError> {
        if self.concurrency == 0 {
            return Err(DriveError::Option {
                option: "concurrency",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(DriveError::Option {
                option: "rate",
                reason: format!("{rate} is not a positive number of records per second"),
            });
        }
        Ok(())
    }
}

/// One entry of a call: a framed record (or, for files, a whole delivery file).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Sequence number of the entry in the drive (unique; the Lambda's recordId is built from it).
    pub id: u64,
    /// Kinesis partition key, or the file key for files/S3; empty for Firehose.
    pub key: String,
    /// The bytes as sent.
    pub payload: Vec<u8>,
    /// Flow-log lines inside.
    pub lines: u64,
}

/// The outcome of one call that the service answered.
#[derive(Debug, Default)]
pub struct CallOutcome {
    /// Indices (into the entries sent) that failed, with the service's error code and message.
    pub failed: Vec<(usize, String, String)>,
    /// Per-record results to count (Lambda), `(result, count)`.
    pub results: Vec<(String, u64)>,
}

/// A call that failed as a whole: every entry of it is retried.
#[derive(Debug)]
pub struct CallError {
    /// Short code (SDK error code, HTTP status or a contract violation name).
    pub code: String,
    /// What happened, naming the batch and reason.
    pub message: String,
}

impl CallError {
    /// From an SDK error: its code when the service sent one, else its rendered chain.
    pub fn sdk<E>(operation: &str, e: &aws_sdk_s3::error::SdkError<E>) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        let code = e.code().map_or_else(
            || match e {
                aws_sdk_s3::error::SdkError::DispatchFailure(_) => "DispatchFailure".to_owned(),
                aws_sdk_s3::error::SdkError::TimeoutError(_) => "Timeout".to_owned(),
                _ => "SdkError".to_owned(),
            },
            str::to_owned,
        );
        CallError {
            code,
            message: format!("{operation}: {}", error_chain(e)),
        }
    }
}

/// An error and its sources, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

/// The per-call limits of a transport.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries per call.
    pub records: usize,
    /// Bytes per call (sum of entry payloads and keys).
    pub bytes: usize,
    /// Bytes per entry.
    pub record_bytes: usize,
}

/// A transport that sends batches of entries (Firehose, Kinesis, Lambda, files, S3).
#[derive(Debug)]
pub enum Transport {
    /// Firehose `PutRecordBatch`.
    Firehose(firehose::FirehoseSink),
    /// Kinesis `PutRecords`.
    Kinesis(kinesis::KinesisSink),
    /// Lambda Invoke with Firehose transform events.
    Lambda(lambda::LambdaSink),
    /// Files in the S3 delivery layout, into a folder or an S3 prefix.
    Files(files::FileSink),
    /// A transport failing on a script (unit tests of the retry logic; no stand-in produces
    /// partial failures).
    #[cfg(test)]
    Scripted(tests::Scripted),
}

impl Transport {
    /// `firehose`, `kinesis`, `lambda`, `files` or `s3`.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Firehose(_) => "firehose",
            Transport::Kinesis(_) => "kinesis",
            Transport::Lambda(_) => "lambda",
            Transport::Files(f) => f.name(),
            #[cfg(test)]
            Transport::Scripted(_) => "scripted",
        }
    }

    /// What is driven (stream, function, folder, prefix).
    pub fn target(&self) -> String {
        match self {
            Transport::Firehose(s) => s.stream.clone(),
            Transport::Kinesis(s) => s.stream.clone(),
            Transport::Lambda(s) => s.function.clone(),
            Transport::Files(s) => s.target(),
            #[cfg(test)]
            Transport::Scripted(_) => String::new(),
        }
    }

    fn limits(&self) -> Limits {
        match self {
            Transport::Firehose(_) => firehose::LIMITS,
            Transport::Kinesis(_) => kinesis::LIMITS,
            Transport::Lambda(_) => lambda::LIMITS,
            Transport::Files(_) => files::LIMITS,
            #[cfg(test)]
            Transport::Scripted(_) => kinesis::LIMITS,
        }
    }

    async fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
        match self {
            Transport::Firehose(s) => s.send(entries).await,
            Transport::Kinesis(s) => s.send(entries).await,
            Transport::Lambda(s) => s.send(entries).await,
            Transport::Files(s) => s.send(entries).await,
            #[cfg(test)]
            Transport::Scripted(s) => s.send(entries),
        }
    }
}

/// `{"message":"<line>"}`, the VPC Flow Logs framing of one Firehose/Kinesis record.
pub fn frame_message(line: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(b"{\"message\":");
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, line);
    out.push(b'}');
    out
}

/// The Kinesis partition key of a record: its ENI, as a flow-log producer keyed by interface.
fn partition_key(record: &FlowRecord) -> String {
    format!("eni-{:08x}", record.eni)
}

/// Paces sends to a target rate: the n-th record may go at `start + n / rate`.
struct RateLimiter {
    start: Instant,
    rate: Option<f64>,
    admitted: u64,
}

impl RateLimiter {
    async fn admit(&mut self, records: u64) {
        if let Some(rate) = self.rate {
            let due = self.start + Duration::from_secs_f64(self.admitted as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        self.admitted += records;
    }
}

/// The result of a drive: the report and the truth of exactly the lines generated.
#[derive(Debug)]
pub struct DriveRun {
    /// What happened.
    pub report: Report,
    /// The ground truth of the lines generated (and sent, when `report.failed == 0`).
    pub truth: Truth,
}

/// Sends one batch, retrying exactly the entries (or the whole call) that failed.
async fn send_with_retries(
    transport: Arc<Transport>,
    entries: Vec<Entry>,
    stats: Arc<LiveStats>,
    max_retries: u32,
    backoff: Duration,
) {
    let mut pending = entries;
    let mut attempt: u32 = 0;
    let mut delay = backoff;
    loop {
        let started = Instant::now();
        let outcome = transport.send(&pending).await;
        stats.latency(started.elapsed());
        let first_id = pending.first().map_or(0, |e| e.id);
        let mut retry: Vec<Entry> = Vec::new();
        let mut last_reason = String::new();
        match outcome {
            Ok(outcome) => {
                let failed: BTreeSet<usize> = outcome.failed.iter().map(|f| f.0).collect();
                for (result, n) in &outcome.results {
                    stats.result(result, *n);
                }
                for (index, code, message) in &outcome.failed {
                    let id = pending.get(*index).map_or(0, |e| e.id);
                    stats.error(code, 1, || {
                        format!(
                            "{} entry {id} (attempt {}): {code}: {message}",
                            transport.name(),
                            attempt + 1
                        )
                    });
                    last_reason.clone_from(code);
                }
                for (i, entry) in pending.into_iter().enumerate() {
                    if failed.contains(&i) {
                        retry.push(entry);
                    } else {
                        stats.sent_records.fetch_add(entry.lines, Ordering::Relaxed);
                        stats
                            .sent_bytes
                            .fetch_add(entry.payload.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => {
                stats.call_errors.fetch_add(1, Ordering::Relaxed);
                stats.error(&e.code, 1, || {
                    format!(
                        "{} call of {} entries from entry {first_id} (attempt {}): {}",
                        transport.name(),
                        pending.len(),
                        attempt + 1,
                        e.message
                    )
                });
                last_reason = e.code;
                retry = pending;
            }
        }
        if retry.is_empty() {
            return;
        }
        let lines: u64 = retry.iter().map(|e| e.lines).sum();
        if attempt >= max_retries {
            stats.failed_records.fetch_add(lines, Ordering::Relaxed);
            stats.error("GaveUp", retry.len() as u64, || {
                format!(
                    "{} gave up on {} entries ({lines} lines) from entry {} after {} attempts; last error {last_reason}",
                    transport.name(),
                    retry.len(),
                    retry[0].id,
                    attempt + 1
                )
            });
            return;
        }
        stats.retried_records.fetch_add(lines, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
        attempt += 1;
        pending = retry;
    }
}

/// Accumulates entries up to the transport's per-call limits.
struct Batcher {
    limits: Limits,
    entries: Vec<Entry>,
    bytes: usize,
}

impl Batcher {
    /// Adds `entry`; returns a full batch to send first when it would not fit.
    fn push(&mut self, entry: Entry) -> Option<Vec<Entry>> {
        let size = entry.payload.len() + entry.key.len();
        let full = !self.entries.is_empty()
            && (self.entries.len() >= self.limits.records || self.bytes + size > self.limits.bytes);
        let out = full.then(|| self.take());
        self.bytes += size;
        self.entries.push(entry);
        out
    }

    fn take(&mut self) -> Vec<Entry> {
        self.bytes = 0;
        std::mem::take(&mut self.entries)
    }
}

/// Generates `traffic` over `cluster` and drives it through `transport` within `options`.
pub async fn drive(
    cluster: &Cluster,
    traffic: &TrafficSpec,
    transport: Transport,
    options: &DriveOptions,
) -> Result<DriveRun, DriveError> {
    options.validate()?;
    let mut stream = FlowStream::new(cluster, traffic)?;
    let transport = Arc::new(transport);
    let stats = Arc::new(LiveStats::default());
    let limits = transport.limits();
    let started = Instant::now();
    let mut limiter = RateLimiter {
        start: started,
        rate: options.rate,
        admitted: 0,
    };
    let mut progress = Progress::new(
        options.progress.unwrap_or(Duration::MAX),
        options.progress.is_some(),
    );
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut batcher = Batcher {
        limits,
        entries: Vec::new(),
        bytes: 0,
    };
    let mut files = match transport.as_ref() {
        Transport::Files(sink) => {
            Some(files::SlotBatcher::new(stream.format().header(), sink.seed))
        }
        _ => None,
    };
    let mut generated: u64 = 0;
    let mut line = String::with_capacity(512);
    let mut ready: Vec<Vec<Entry>> = Vec::new();
    let mut next_id: u64 = 0;
    loop {
        let out_of_time = options.duration.is_some_and(|d| started.elapsed() >= d);
        let out_of_records = options.max_records.is_some_and(|m| generated >= m);
        let record = if out_of_time || out_of_records {
            None
        } else {
            stream.next_into(&mut line)
        };
        let Some(record) = record else { break };
        let index = generated;
        generated += 1;
        if let Some(slots) = files.as_mut() {
            slots.push(record.end, line.clone());
            if generated.is_multiple_of(files::FLUSH_EVERY) {
                ready.extend(
                    slots
                        .flush_before(record.start - files::FLUSH_MARGIN_SECS, &mut next_id)
                        .into_iter()
                        .map(|e| vec![e]),
                );
            }
        } else {
            let payload = frame_message(&line);
            let size = payload.len() + partition_key(&record).len();
            if size > limits.record_bytes {
                return Err(DriveError::RecordTooLarge {
                    driver: transport.name(),
                    index,
                    eni: record.eni,
                    start: record.start,
                    size,
                    limit: limits.record_bytes,
                });
            }
            let key = if matches!(transport.as_ref(), Transport::Kinesis(_)) {
                partition_key(&record)
            } else {
                String::new()
            };
            let entry = Entry {
                id: next_id,
                key,
                payload,
                lines: 1,
            };
            next_id += 1;
            ready.extend(batcher.push(entry));
        }
        for batch in ready.drain(..) {
            dispatch(
                &transport,
                batch,
                &stats,
                options,
                &mut limiter,
                &mut in_flight,
            )
            .await;
        }
        progress.tick(&stats, generated);
    }
    if let Some(slots) = files.as_mut() {
        ready.extend(
            slots
                .flush_before(i64::MAX, &mut next_id)
                .into_iter()
                .map(|e| vec![e]),
        );
    } else if !batcher.entries.is_empty() {
        ready.push(batcher.take());
    }
    for batch in ready.drain(..) {
        dispatch(
            &transport,
            batch,
            &stats,
            options,
            &mut limiter,
            &mut in_flight,
        )
        .await;
    }
    while in_flight.join_next().await.is_some() {
        progress.tick(&stats, generated);
    }
    progress.finish(&stats, generated);
    let mut report = stats.report(
        transport.name(),
        &transport.target(),
        generated,
        started.elapsed().as_secs_f64(),
    );
    let truth = stream.truth();
    report.expected_cross_az = Some(truth.cross_az_total());
    Ok(DriveRun { report, truth })
}

/// Waits for the rate and a free slot, then starts sending `batch`.
async fn dispatch(
    transport: &Arc<Transport>,
    batch: Vec<Entry>,
    stats: &Arc<LiveStats>,
    options: &DriveOptions,
    limiter: &mut RateLimiter,
    in_flight: &mut JoinSet<()>,
) {
    limiter.admit(batch.iter().map(|e| e.lines).sum()).await;
    while in_flight.len() >= options.concurrency {
        in_flight.join_next().await;
    }
    in_flight.spawn(send_with_retries(
        transport.clone(),
        batch,
        stats.clone(),
        options.max_retries,
        options.backoff,
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Fails every entry whose id is a multiple of `every` for its first `entry_failures`
    /// attempts, and fails the first `call_failures` calls whole; records what was accepted.
    #[derive(Debug, Default)]
    pub struct Scripted {
        every: u64,
        entry_failures: u32,
        call_failures: u32,
        calls: Mutex<u32>,
        attempts: Mutex<HashMap<u64, u32>>,
        accepted: Arc<Mutex<Vec<u64>>>,
    }

    impl Scripted {
        pub(super) fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            if *calls <= self.call_failures {
                return Err(CallError {
                    code: "ServiceUnavailable".into(),
                    message: "scripted".into(),
                });
            }
            let mut attempts = self.attempts.lock().unwrap();
            let mut outcome = CallOutcome::default();
            for (i, e) in entries.iter().enumerate() {
                let n = attempts.entry(e.id).or_default();
                *n += 1;
                if e.id % self.every == 0 && *n <= self.entry_failures {
                    outcome.failed.push((
                        i,
                        "ProvisionedThroughputExceededException".into(),
                        "Rate exceeded for shard".into(),
                    ));
                } else {
                    self.accepted.lock().unwrap().push(e.id);
                }
            }
            Ok(outcome)
        }
    }

    /// Drives `max_records` through `script`; returns the report and the ids accepted, in order.
    fn scripted_drive(script: Scripted, max_records: u64, max_retries: u32) -> (Report, Vec<u64>) {
        let start = 1_767_225_600;
        let cluster =
            crate::generate_cluster(&crate::ClusterSpec::default(), start, start + 3600).unwrap();
        let traffic = TrafficSpec {
            flows_per_minute: 40,
            ..TrafficSpec::new(start, 3600)
        };
        let options = DriveOptions {
            max_records: Some(max_records),
            max_retries,
            backoff: Duration::from_millis(1),
            progress: None,
            ..DriveOptions::default()
        };
        let accepted = script.accepted.clone();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let run = runtime
            .block_on(drive(
                &cluster,
                &traffic,
                Transport::Scripted(script),
                &options,
            ))
            .unwrap();
        let mut ids = accepted.lock().unwrap().clone();
        ids.sort_unstable();
        (run.report, ids)
    }

    #[test]
    fn only_failed_entries_are_retried_until_accepted() {
        let script = Scripted {
            every: 7,
            entry_failures: 2,
            call_failures: 1,
            ..Scripted::default()
        };
        let (report, accepted) = scripted_drive(script, 1200, 5);
        // Every entry accepted exactly once.
        assert_eq!(accepted, (0..1200).collect::<Vec<u64>>());
        assert_eq!(
            (report.generated, report.sent, report.failed),
            (1200, 1200, 0)
        );
        let failing = (0..1200u64).filter(|id| id % 7 == 0).count() as u64;
        // One whole call of 500 failed once; each seventh entry failed twice more.
        assert_eq!(report.call_errors, 1);
        assert_eq!(report.errors["ServiceUnavailable"], 1);
        assert_eq!(
            report.errors["ProvisionedThroughputExceededException"],
            2 * failing
        );
        assert_eq!(report.retried, 500 + 2 * failing);
        // 3 batches, +1 for the failed call, +2 retry rounds per batch.
        assert_eq!(report.calls, 3 + 1 + 2 * 3);
        assert!(report.complete(), "{report}");
    }

    #[test]
    fn entries_failing_past_the_retries_are_given_up_and_reported() {
        let script = Scripted {
            every: 100,
            entry_failures: u32::MAX,
            ..Scripted::default()
        };
        let (report, accepted) = scripted_drive(script, 1000, 2);
        assert_eq!(accepted.len(), 990);
        assert!(accepted.iter().all(|id| id % 100 != 0));
        assert_eq!((report.sent, report.failed), (990, 10));
        assert_eq!(report.errors["GaveUp"], 10);
        assert_eq!(report.errors["ProvisionedThroughputExceededException"], 30);
        assert!(!report.complete());
        let text = report.to_string();
        assert!(text.contains("failed 10"), "{text}");
        assert!(
            text.contains("gave up on 5 entries (5 lines) from entry 0 after 3 attempts"),
            "{text}"
        );
    }

    #[test]
    fn messages_are_framed_like_flow_logs() {
        assert_eq!(
            frame_message("5 10.0.0.1 \"x\""),
            br#"{"message":"5 10.0.0.1 \"x\""}"#.to_vec()
        );
    }

    #[test]
    fn batches_respect_record_and_byte_limits() {
        let mut b = Batcher {
            limits: Limits {
                records: 3,
                bytes: 25,
                record_bytes: 25,
            },
            entries: Vec::new(),
            bytes: 0,
        };
        let entry = |id, n: usize| Entry {
            id,
            key: String::new(),
            payload: vec![b'x'; n],
            lines: 1,
        };
        assert!(b.push(entry(0, 10)).is_none());
        assert!(b.push(entry(1, 10)).is_none());
        let full = b.push(entry(2, 10)).expect("30 bytes do not fit in 25");
        assert_eq!(full.iter().map(|e| e.id).collect::<Vec<_>>(), [0, 1]);
        assert!(b.push(entry(3, 1)).is_none());
        assert!(b.push(entry(4, 1)).is_none());
        let full = b.push(entry(5, 1)).expect("three records per call");
        assert_eq!(full.len(), 3);
    }
}

//! Reading a Kinesis data stream: every shard, from a timestamp, the oldest record or the latest,
//! once to the end or following it, bounded by a record count and an idle timeout. Each record's
//! payload becomes one [`Framing::Record`] line. Runs on its own thread and runtime.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::DateTime as AwsDateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use chrono::{DateTime, Utc};

use super::{
    Framing, KINESIS_SCHEME, LineChunk, SourceError, SourceLine, SourceOptions, normalize_format,
};

/// Wait between polling rounds that returned nothing: Kinesis allows 5 GetRecords per second
/// per shard, so 250 ms leaves headroom for several readers.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Records asked per GetRecords (the API maximum is 10 000).
pub const GET_RECORDS_LIMIT: i32 = 10_000;
/// Follow mode stops after this long without a record unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per GetRecords before a shard is given up (throttling is retried with backoff).
const ATTEMPTS: u32 = 4;

/// Where to start reading each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KinesisStart {
    /// Only records put after the reader starts.
    #[default]
    Latest,
    /// The oldest record kept.
    TrimHorizon,
    /// Records arriving at or after this time.
    AtTimestamp(DateTime<Utc>),
}

/// Kinesis reading bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisOptions {
    /// Where to start.
    pub start: KinesisStart,
    /// Keep polling for new records (bounded by `max_records` / `idle_timeout`); otherwise stop
    /// once every shard has been read to its end.
    pub follow: bool,
    /// Stop after this many records in total.
    pub max_records: Option<u64>,
    /// In follow mode, stop after this long without a new record.
    pub idle_timeout: Duration,
}

impl Default for KinesisOptions {
    fn default() -> Self {
        Self {
            start: KinesisStart::default(),
            follow: false,
            max_records: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

struct Shard {
    origin: Arc<str>,
    iterator: Option<String>,
    records: u64,
    caught_up: bool,
}

/// Starts reading `stream` on a thread that sends into `sender` until done or the reader is gone.
pub(crate) fn spawn(
    stream: String,
    options: &SourceOptions,
    sender: SyncSender<Result<LineChunk, SourceError>>,
) -> JoinHandle<()> {
    let options = options.clone();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = sender.send(Err(error(&stream, "runtime", &e)));
                return;
            }
        };
        runtime.block_on(async {
            let config = options.aws.sdk_config().await;
            let client = Client::new(&config);
            let format: Option<Arc<str>> = options
                .format
                .as_deref()
                .map(|f| Arc::from(normalize_format(f)));
            let mut emit = |item: Result<LineChunk, SourceError>| sender.send(item).is_ok();
            if let Err(e) = read_stream(&client, &stream, &options.kinesis, format, &mut emit).await
            {
                emit(Err(e));
            }
        });
    })
}

fn error(origin: &str, operation: &'static str, e: &dyn std::error::Error) -> SourceError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    SourceError::Kinesis {
        origin: origin.to_owned(),
        operation,
        message,
    }
}

async fn list_shards(client: &Client, stream: &str) -> Result<Vec<String>, SourceError> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // The API refuses the stream name together with a continuation token.
        let request = match &token {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(stream),
        };
        let page = request
            .send()
            .await
            .map_err(|e| error(stream, "ListShards", &e))?;
        shards.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(shards),
        }
    }
}

async fn shard_iterator(
    client: &Client,
    stream: &str,
    shard: &str,
    start: KinesisStart,
) -> Result<Option<String>, SourceError> {
    let request = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard);
    let request = match start {
        KinesisStart::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
        KinesisStart::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        KinesisStart::AtTimestamp(at) => request
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(AwsDateTime::from_millis(at.timestamp_millis())),
    };
    let response = request
        .send()
        .await
        .map_err(|e| error(stream, "GetShardIterator", &e))?;
    Ok(response.shard_iterator().map(str::to_owned))
}

/// Reads every shard round-robin until the bounds in `options` are met.
async fn read_stream(
    client: &Client,
    stream: &str,
    options: &KinesisOptions,
    format: Option<Arc<str>>,
    emit: &mut dyn FnMut(Result<LineChunk, SourceError>) -> bool,
) -> Result<(), SourceError> {
    let mut shards = Vec::new();
    for id in list_shards(client, stream).await? {
        let iterator = shard_iterator(client, stream, &id, options.start).await?;
        let origin = Arc::from(format!("{KINESIS_SCHEME}{stream}/{id}"));
        shards.push(Shard {
            origin,
            iterator,
            records: 0,
            caught_up: false,
        });
    }
    let mut total: u64 = 0;
    let mut last_record = Instant::now();
    loop {
        let mut got_any = false;
        for shard in &mut shards {
            let Some(iterator) = shard.iterator.take() else {
                continue;
            };
            let response = match get_records(client, &shard.origin, &iterator).await {
                Ok(response) => response,
                Err(e) => {
                    if !emit(Err(e)) {
                        return Ok(());
                    }
                    continue;
                }
            };
            shard.iterator = response.next_shard_iterator().map(str::to_owned);
            shard.caught_up = response.millis_behind_latest().unwrap_or(0) == 0;
            let mut lines = Vec::new();
            for record in response.records() {
                if options.max_records.is_some_and(|max| total >= max) {
                    break;
                }
                shard.records += 1;
                total += 1;
                if let Ok(text) = std::str::from_utf8(record.data().as_ref()) {
                    lines.push(SourceLine {
                        number: shard.records,
                        text: text.to_owned(),
                    });
                } else {
                    let line = shard.records;
                    if !emit(Err(SourceError::NotUtf8 {
                        origin: shard.origin.to_string(),
                        line,
                    })) {
                        return Ok(());
                    }
                }
            }
            if !lines.is_empty() {
                got_any = true;
                let chunk = LineChunk {
                    origin: shard.origin.clone(),
                    format: format.clone(),
                    framing: Framing::Record,
                    lines,
                };
                if !emit(Ok(chunk)) {
                    return Ok(());
                }
            }
        }
        if options.max_records.is_some_and(|max| total >= max)
            || shards.iter().all(|s| s.iterator.is_none())
        {
            return Ok(());
        }
        if got_any {
            last_record = Instant::now();
            continue;
        }
        let done = if options.follow {
            last_record.elapsed() >= options.idle_timeout
        } else {
            shards.iter().all(|s| s.caught_up || s.iterator.is_none())
        };
        if done {
            return Ok(());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn get_records(
    client: &Client,
    origin: &str,
    iterator: &str,
) -> Result<aws_sdk_kinesis::operation::get_records::GetRecordsOutput, SourceError> {
    let mut delay = POLL_INTERVAL;
    let mut attempt = 1;
    loop {
        match client
            .get_records()
            .shard_iterator(iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await
        {
            Ok(response) => return Ok(response),
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(origin, attempt, error = %e, "GetRecords failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => return Err(error(origin, "GetRecords", &e)),
        }
    }
}

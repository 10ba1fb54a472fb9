//! Flow-log inputs of the local pipeline: local files and folders, stdin, an S3 prefix in the
//! flow-log delivery layout, and a Kinesis data stream. Each yields [`LineChunk`]s — raw lines
//! with their origin (file and line number), the flow-log format that applies to them (from the
//! file's header or the configured one) and their framing — or a [`SourceError`] naming the
//! input and line, after which the other inputs (and the rest of the input, where possible) go on.
//!
//! Files are decoded by a small pool of threads into a bounded channel, so memory stays at a few
//! chunks per thread whatever the input size. Parsing the lines is not done here: that is
//! `crossaz::flowlog`'s job, and the Firehose `{"message":…}` framing of [`Framing::Record`]
//! payloads with it.

mod decode;
mod kinesis;
mod s3_layout;

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use self::decode::{Layout, is_header, normalize_format};
pub use self::kinesis::{KinesisOptions, KinesisStart};
pub use self::s3_layout::{TimeRange, file_time, flow_log_keys};
use super::s3::{AwsOptions, BlockingS3, S3Error, S3Location, is_s3_uri};

/// Lines per chunk: big enough to amortize the channel, small enough to spread over threads.
pub const DEFAULT_CHUNK_LINES: usize = 4096;
/// Decoding threads by default (capped by the cores available).
pub const DEFAULT_DECODE_THREADS: usize = 4;
/// Chunks buffered per decoding thread before it waits for the consumer.
pub const CHUNKS_PER_THREAD: usize = 2;
/// Origin name of standard input.
pub const STDIN_ORIGIN: &str = "-";
/// URI scheme of Kinesis stream inputs (`kinesis://<stream-name>`).
pub const KINESIS_SCHEME: &str = "kinesis://";

/// How the text of a [`SourceLine`] is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One flow-log line (from a file or stdin; its header, if any, already removed).
    Line,
    /// One Firehose/Kinesis record payload: `{"message":"<line>"}` or raw lines, possibly several
    /// separated by newlines (design §3). Never a header.
    Record,
}

/// One line (or record payload) and its position in its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// 1-based line number in the file (for Firehose events: the record's 1-based index; for
    /// Kinesis: the record's 1-based index in its shard for this read).
    pub number: u64,
    /// The text, without its line terminator.
    pub text: String,
}

/// Consecutive lines from one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChunk {
    /// File path, `s3://bucket/key`, `-` for stdin or `kinesis://stream/shard`.
    pub origin: Arc<str>,
    /// The flow-log format of these lines in `${field} …` syntax: the file's header, else the
    /// configured format; `None` only for record payloads when no format was configured.
    pub format: Option<Arc<str>>,
    /// How each line's text is framed.
    pub framing: Framing,
    /// The lines, in input order.
    pub lines: Vec<SourceLine>,
}

/// A problem with one input; the others keep going.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The input could not be opened or listed.
    #[error("{origin}: cannot open: {message}")]
    Open {
        /// Input.
        origin: String,
        /// Cause.
        message: String,
    },
    /// Reading failed at a line.
    #[error("{origin}:{line}: read error: {message}")]
    Read {
        /// Input.
        origin: String,
        /// Line being read.
        line: u64,
        /// Cause.
        message: String,
    },
    /// The gzip stream is corrupt or truncated; lines before `line` were delivered.
    #[error(
        "{origin}:{line}: gzip stream is corrupt or truncated ({message}); earlier lines were read"
    )]
    Gzip {
        /// Input.
        origin: String,
        /// Line at which decompression failed.
        line: u64,
        /// Cause.
        message: String,
    },
    /// A line is not UTF-8; it was skipped.
    #[error("{origin}:{line}: line is not valid UTF-8, skipped")]
    NotUtf8 {
        /// Input.
        origin: String,
        /// Line number.
        line: u64,
    },
    /// The input has no header line and no format was configured.
    #[error(
        "{origin}:1: first line is not a header of field names ({first_line:?}) and no --format was given; file skipped"
    )]
    NoFormat {
        /// Input.
        origin: String,
        /// The first line (truncated).
        first_line: String,
    },
    /// A Firehose event file is not valid event JSON.
    #[error("{origin}: not a Firehose event ({{\"records\":[…]}}): {message}")]
    FirehoseEvent {
        /// Input.
        origin: String,
        /// Cause.
        message: String,
    },
    /// One record of a Firehose event could not be decoded; it was skipped.
    #[error("{origin}: record {record} (recordId {record_id:?}): {message}, skipped")]
    FirehoseRecord {
        /// Input.
        origin: String,
        /// 1-based record index.
        record: u64,
        /// Its recordId.
        record_id: String,
        /// Cause.
        message: String,
    },
    /// An S3 call failed.
    #[error("{0}")]
    S3(String),
    /// A Kinesis call failed.
    #[error("{origin}: Kinesis {operation}: {message}")]
    Kinesis {
        /// Stream (and shard).
        origin: String,
        /// API operation.
        operation: &'static str,
        /// Cause.
        message: String,
    },
}

impl From<S3Error> for SourceError {
    fn from(e: S3Error) -> Self {
        SourceError::S3(e.to_string())
    }
}

/// One input named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A local file or folder (folders are walked recursively, hidden entries skipped).
    Path(PathBuf),
    /// Standard input (text lines).
    Stdin,
    /// An S3 prefix; objects under `AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/` are listed
    /// by day when a [`TimeRange`] is given, else every object under the prefix is read.
    S3(S3Location),
    /// A Kinesis data stream, by name.
    Kinesis(String),
    /// One S3 object, read whatever its key (a backfill hands over the files of one hour).
    S3Object {
        /// Bucket.
        bucket: String,
        /// Full key.
        key: String,
    },
}

impl Input {
    /// `-` is stdin, `s3://…` S3, `kinesis://name` a stream, anything else a path.
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        if text == STDIN_ORIGIN {
            Ok(Input::Stdin)
        } else if is_s3_uri(text) {
            Ok(Input::S3(S3Location::parse(text)?))
        } else if let Some(stream) = text.strip_prefix(KINESIS_SCHEME) {
            if stream.is_empty() {
                return Err(SourceError::Open {
                    origin: text.to_owned(),
                    message: "no stream name".into(),
                });
            }
            Ok(Input::Kinesis(stream.trim_end_matches('/').to_owned()))
        } else {
            Ok(Input::Path(PathBuf::from(text)))
        }
    }
}

/// Settings shared by all inputs.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// The flow-log format (`${a} ${b}` or `a b`) for inputs without a header line.
    pub format: Option<String>,
    /// Decoding threads (at least 1).
    pub threads: usize,
    /// Lines per chunk.
    pub chunk_lines: usize,
    /// Only S3 objects in this time range (by their date folders and file-name timestamps).
    pub time_range: Option<TimeRange>,
    /// AWS endpoint, region and credentials for S3 and Kinesis inputs.
    pub aws: AwsOptions,
    /// Kinesis reading.
    pub kinesis: KinesisOptions,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            format: None,
            threads: std::thread::available_parallelism()
                .map_or(1, std::num::NonZero::get)
                .min(DEFAULT_DECODE_THREADS),
            chunk_lines: DEFAULT_CHUNK_LINES,
            time_range: None,
            aws: AwsOptions::default(),
            kinesis: KinesisOptions::default(),
        }
    }
}

/// A unit of work for the decoding threads.
enum Job {
    File(PathBuf),
    Stdin,
    Object { bucket: String, key: String },
}

type Item = Result<LineChunk, SourceError>;

/// The running inputs: iterate to receive chunks and errors until every input is done.
pub struct SourceReader {
    early: VecDeque<SourceError>,
    receiver: Receiver<Item>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SourceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceReader")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Iterator for SourceReader {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Some(error) = self.early.pop_front() {
            return Some(Err(error));
        }
        self.receiver.recv().ok()
    }
}

/// Starts reading `inputs`. Listing problems (a missing path, an S3 listing failure) come out of
/// the reader as errors first; the rest of the inputs still run.
pub fn open(inputs: &[Input], options: &SourceOptions) -> SourceReader {
    let threads = options.threads.max(1);
    let (sender, receiver) = sync_channel(threads * CHUNKS_PER_THREAD);
    let mut early = VecDeque::new();
    let mut jobs = VecDeque::new();
    let mut s3: Option<Arc<BlockingS3>> = None;
    let mut handles = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => jobs.push_back(Job::Stdin),
            Input::Path(path) => match expand_path(path) {
                Ok(files) => jobs.extend(files.into_iter().map(Job::File)),
                Err(e) => early.push_back(e),
            },
            Input::S3(location) => {
                let client = match &s3 {
                    Some(client) => Ok(client.clone()),
                    None => BlockingS3::from_options(&options.aws).map(Arc::new),
                };
                match client.and_then(|c| {
                    let keys = flow_log_keys(&c, location, options.time_range.as_ref())?;
                    s3 = Some(c);
                    Ok(keys)
                }) {
                    Ok(keys) => jobs.extend(keys.into_iter().map(|key| Job::Object {
                        bucket: location.bucket.clone(),
                        key,
                    })),
                    Err(e) => early.push_back(e.into()),
                }
            }
            Input::Kinesis(stream) => {
                handles.push(kinesis::spawn(stream.clone(), options, sender.clone()));
            }
            Input::S3Object { bucket, key } => {
                if s3.is_none() {
                    match BlockingS3::from_options(&options.aws) {
                        Ok(client) => s3 = Some(Arc::new(client)),
                        Err(e) => {
                            early.push_back(e.into());
                            continue;
                        }
                    }
                }
                jobs.push_back(Job::Object {
                    bucket: bucket.clone(),
                    key: key.clone(),
                });
            }
        }
    }
    let jobs = Arc::new(Mutex::new(jobs));
    let format: Option<Arc<str>> = options
        .format
        .as_deref()
        .map(|f| Arc::from(normalize_format(f)));
    for _ in 0..threads {
        let worker = Worker {
            jobs: jobs.clone(),
            sender: sender.clone(),
            s3: s3.clone(),
            format: format.clone(),
            chunk_lines: options.chunk_lines,
        };
        handles.push(std::thread::spawn(move || worker.run()));
    }
    SourceReader {
        early,
        receiver,
        threads: handles,
    }
}

/// A file, or every non-hidden file under a folder (sorted, recursively): how every command
/// lists a local input.
pub fn expand_path(path: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let open_error = |e: std::io::Error| SourceError::Open {
        origin: path.display().to_string(),
        message: e.to_string(),
    };
    let metadata = std::fs::metadata(path).map_err(open_error)?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(open_error)? {
            let entry = entry.map_err(open_error)?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let entry_path = entry.path();
            if entry.file_type().map_err(open_error)?.is_dir() {
                folders.push(entry_path);
            } else {
                files.push(entry_path);
            }
        }
    }
    files.sort();
    Ok(files)
}

struct Worker {
    jobs: Arc<Mutex<VecDeque<Job>>>,
    sender: SyncSender<Item>,
    s3: Option<Arc<BlockingS3>>,
    format: Option<Arc<str>>,
    chunk_lines: usize,
}

impl Worker {
    fn run(self) {
        loop {
            let job = match self.jobs.lock() {
                Ok(mut queue) => queue.pop_front(),
                Err(_) => None,
            };
            let Some(job) = job else { return };
            if !self.process(job) {
                return;
            }
        }
    }

    /// Decodes one job; `false` when the reader was dropped.
    fn process(&self, job: Job) -> bool {
        let emit = |item: Item| self.sender.send(item).is_ok();
        let (origin, layout, reader): (Arc<str>, Layout, Box<dyn Read + Send>) = match job {
            Job::Stdin => (
                Arc::from(STDIN_ORIGIN),
                Layout::Text,
                Box::new(std::io::stdin()),
            ),
            Job::File(path) => {
                let origin: Arc<str> = Arc::from(path.display().to_string());
                match std::fs::File::open(&path) {
                    Ok(file) => (
                        origin,
                        Layout::of_name(&path.to_string_lossy()),
                        Box::new(file),
                    ),
                    Err(e) => {
                        return emit(Err(SourceError::Open {
                            origin: origin.to_string(),
                            message: e.to_string(),
                        }));
                    }
                }
            }
            Job::Object { bucket, key } => {
                let origin: Arc<str> = Arc::from(format!("s3://{bucket}/{key}"));
                let body = match &self.s3 {
                    Some(s3) => s3.get_object(&bucket, &key).map_err(SourceError::from),
                    None => Err(SourceError::S3(format!("{origin}: no S3 client"))),
                };
                match body {
                    Ok(body) => (
                        origin,
                        Layout::of_name(&key),
                        Box::new(std::io::Cursor::new(body)),
                    ),
                    Err(e) => return emit(Err(e)),
                }
            }
        };
        let mut alive = true;
        decode::decode(
            &origin,
            layout,
            reader,
            self.format.as_ref(),
            self.chunk_lines,
            &mut |item| {
                alive = emit(item);
                alive
            },
        );
        alive
    }
}

/// A Kinesis shard iterator start, or an S3 range bound, parsed from RFC 3339.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (2024-05-01T13:00:00Z): {e}"))
}

/// How long [`SourceReader`] consumers may wait between Kinesis polls; re-exported for callers
/// that show progress.
pub const KINESIS_POLL: Duration = kinesis::POLL_INTERVAL;

#[cfg(test)]
mod tests;

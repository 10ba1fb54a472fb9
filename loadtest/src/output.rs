//! Writing generated runs to disk: S3-layout flow-log files, Firehose transform events, JSON.
//!
//! Owns the on-disk layouts (aws-facts §1.1 and §5.1): gzip files with a header line under
//! `AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/`, one per 5-minute slot of record `end`;
//! Firehose events of about 1 MB of record data, each record `{"message":"<line>"}` in base64
//! with no header line. The only module of the library that does I/O.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use flate2::Compression;
use flate2::write::GzEncoder;
use thiserror::Error;

use crate::cluster::{ACCOUNT_ID, REGION};
use crate::rng::Rng;

/// Flow-log ID in S3 file names.
pub const FLOW_LOG_ID: &str = "fl-0a1b2c3d4e5f60718";
/// S3 delivery publishes a file about every 5 minutes holding the records whose `end` falls in
/// that slot (aws-facts §5.1).
pub const S3_FILE_SLOT_SECS: i64 = 300;
/// Record data per Firehose event: the transform's Lambda buffer of 1 MB (aws-facts §1.4).
pub const FIREHOSE_EVENT_BYTES: usize = 1_000_000;
/// Delivery stream ARN written into events.
pub const DELIVERY_STREAM_ARN: &str =
    "arn:aws:firehose:us-east-1:123456789012:deliverystream/crossaz-flows";
/// Flow logs reach Firehose minutes after the window closes; arrival = record end + this.
pub const DELIVERY_DELAY_MS: i64 = 240_000;

/// A file could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    /// Creating, writing or finishing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Serializing a document failed.
    #[error("cannot serialize {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `value` as pretty JSON to `path`, creating parent directories.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), OutputError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let file = fs::File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, value).map_err(|source| OutputError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    out.flush().map_err(io_error(path))
}

/// The S3 key (relative to the bucket prefix) of the flow-log file of the slot starting at
/// `slot_start`.
pub fn s3_key(slot_start: i64, hash: &str) -> String {
    let t = DateTime::from_timestamp(slot_start, 0).unwrap_or_default();
    format!(
        "AWSLogs/{ACCOUNT_ID}/vpcflowlogs/{REGION}/{}/{ACCOUNT_ID}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{}_{hash}.log.gz",
        t.format("%Y/%m/%d"),
        t.format("%Y%m%dT%H%MZ"),
    )
}

/// Writes S3-layout `.log.gz` files, buffering lines per 5-minute slot of their `end`.
pub struct S3LogWriter {
    root: PathBuf,
    header: String,
    seed: u64,
    slots: BTreeMap<i64, Vec<String>>,
    written: Vec<PathBuf>,
}

impl S3LogWriter {
    /// Files go under `root`; every file starts with `header` (the format's field names).
    pub fn new(root: &Path, header: String, seed: u64) -> Self {
        S3LogWriter {
            root: root.to_path_buf(),
            header,
            seed,
            slots: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    /// Add a line whose record ends at `end`.
    pub fn push(&mut self, end: i64, line: String) {
        let slot = slot_of(end);
        self.slots.entry(slot).or_default().push(line);
    }

    /// Write and forget every slot that ends before `t` (records arrive roughly in time order;
    /// call with a margin of a few minutes).
    pub fn flush_before(&mut self, t: i64) -> Result<(), OutputError> {
        while let Some((&slot, _)) = self.slots.first_key_value() {
            if slot + S3_FILE_SLOT_SECS > t {
                break;
            }
            let lines = self.slots.remove(&slot).unwrap_or_default();
            self.write_slot(slot, &lines)?;
        }
        Ok(())
    }

    /// Write all remaining slots; returns every file written, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, OutputError> {
        self.flush_before(i64::MAX)?;
        Ok(self.written)
    }

    fn write_slot(&mut self, slot: i64, lines: &[String]) -> Result<(), OutputError> {
        let path = self.root.join(slot_file_key(self.seed, slot));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let file = fs::File::create(&path).map_err(io_error(&path))?;
        let mut out = BufWriter::new(file);
        write_log_file(&mut out, &self.header, lines)
            .and_then(|()| out.flush())
            .map_err(io_error(&path))?;
        self.written.push(path);
        Ok(())
    }
}

/// The key (relative to the bucket prefix) of the file of the 5-minute slot starting at `slot`,
/// its name's hash derived from `seed`: what [`S3LogWriter`] writes.
pub fn slot_file_key(seed: u64, slot: i64) -> String {
    let hash = format!("{:08x}", Rng::derive(seed, slot as u64).next_u64() >> 32);
    s3_key(slot, &hash)
}

/// The 5-minute slot (start, epoch seconds) of a record ending at `end`.
pub fn slot_of(end: i64) -> i64 {
    end - end.rem_euclid(S3_FILE_SLOT_SECS)
}

/// A flow-log delivery file: gzip of the header line then one line per record.
pub fn write_log_file<W: Write>(out: W, header: &str, lines: &[String]) -> io::Result<()> {
    let mut gz = GzEncoder::new(out, Compression::fast());
    gz.write_all(header.as_bytes())?;
    gz.write_all(b"\n")?;
    for line in lines {
        gz.write_all(line.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    gz.finish()?.flush()
}

/// Writes Firehose transform events (`KinesisFirehoseEvent` JSON) of about 1 MB of data each.
pub struct FirehoseWriter {
    dir: PathBuf,
    seed: u64,
    records: Vec<serde_json::Value>,
    size: usize,
    next_record: u64,
    written: Vec<PathBuf>,
}

impl FirehoseWriter {
    /// Events go to `dir/event-000001.json`, `dir/event-000002.json`, ...
    pub fn new(dir: &Path, seed: u64) -> Self {
        FirehoseWriter {
            dir: dir.to_path_buf(),
            seed,
            records: Vec::new(),
            size: 0,
            next_record: 0,
            written: Vec::new(),
        }
    }

    /// Add one flow-log line (a record that ended at `end`), framed as `{"message":"<line>"}`.
    pub fn push(&mut self, end: i64, line: &str) -> Result<(), OutputError> {
        let data = serde_json::json!({ "message": line }).to_string();
        if self.size + data.len() > FIREHOSE_EVENT_BYTES && !self.records.is_empty() {
            self.flush()?;
        }
        self.size += data.len();
        self.next_record += 1;
        self.records.push(serde_json::json!({
            "recordId": format!("49{:054}", self.next_record),
            "approximateArrivalTimestamp": end * 1000 + DELIVERY_DELAY_MS,
            "data": STANDARD.encode(data.as_bytes()),
        }));
        Ok(())
    }

    /// Write the pending event, if any.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let index = self.written.len() + 1;
        let mut rng = Rng::derive(self.seed, index as u64);
        let event = serde_json::json!({
            "invocationId": crate::cluster::uuid(&mut rng),
            "deliveryStreamArn": DELIVERY_STREAM_ARN,
            "region": REGION,
            "records": std::mem::take(&mut self.records),
        });
        let path = self.dir.join(format!("event-{index:06}.json"));
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let file = fs::File::create(&path).map_err(io_error(&path))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer(&mut out, &event).map_err(|source| OutputError::Json {
            path: path.clone(),
            source,
        })?;
        out.flush().map_err(io_error(&path))?;
        self.size = 0;
        self.written.push(path);
        Ok(())
    }

    /// Write the last event; returns every file written, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, OutputError> {
        self.flush()?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_key_follows_the_flow_log_layout() {
        // 2026-01-01T00:05:00Z
        assert_eq!(
            s3_key(1_767_225_900, "1a2b3c4d"),
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/01/01/\
             123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260101T0005Z_1a2b3c4d.log.gz"
        );
    }
}

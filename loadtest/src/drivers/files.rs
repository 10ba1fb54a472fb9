//! Flow-log delivery files for backfill tests: the S3 delivery layout of
//! [`S3LogWriter`](crate::output::S3LogWriter) (gzip `.log.gz` with a header line, one file per
//! 5-minute slot of record `end`, under `AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/`),
//! written into a local folder or put into an S3 prefix, one file per call.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;

use super::{AwsTarget, CallError, CallOutcome, Entry, Limits};
use crate::output::{slot_file_key, slot_of, write_log_file};

/// One file per call; files are as large as their slot.
pub const LIMITS: Limits = Limits {
    records: 1,
    bytes: usize::MAX,
    record_bytes: usize::MAX,
};
/// Slots are considered for writing every this many generated records.
pub const FLUSH_EVERY: u64 = 10_000;
/// A slot is written once records start this long after it ends (records arrive roughly in
/// time order, ending at most a few minutes after their conversation's minute).
pub const FLUSH_MARGIN_SECS: i64 = 900;

/// Where the files go.
#[derive(Debug)]
pub enum FileTarget {
    /// A local folder.
    Folder(PathBuf),
    /// An S3 bucket and key prefix (no surrounding slashes).
    S3 {
        /// Bucket.
        bucket: String,
        /// Prefix.
        prefix: String,
        /// Client.
        client: aws_sdk_s3::Client,
    },
}

/// Writes or puts delivery files.
#[derive(Debug)]
pub struct FileSink {
    target: FileTarget,
    /// Seed of the file-name hashes.
    pub seed: u64,
}

impl FileSink {
    /// Files under a local folder.
    pub fn folder(root: PathBuf, seed: u64) -> Self {
        FileSink {
            target: FileTarget::Folder(root),
            seed,
        }
    }

    /// Objects under `s3://bucket/prefix`.
    pub async fn s3(aws: &AwsTarget, bucket: &str, prefix: &str, seed: u64) -> Self {
        FileSink {
            target: FileTarget::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                client: aws.s3_client().await,
            },
            seed,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self.target {
            FileTarget::Folder(_) => "files",
            FileTarget::S3 { .. } => "s3",
        }
    }

    pub(super) fn target(&self) -> String {
        match &self.target {
            FileTarget::Folder(root) => root.display().to_string(),
            FileTarget::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    pub(super) async fn send(&self, entries: &[Entry]) -> Result<CallOutcome, CallError> {
        let mut outcome = CallOutcome::default();
        for (i, entry) in entries.iter().enumerate() {
            let result = match &self.target {
                FileTarget::Folder(root) => {
                    let path = root.join(&entry.key);
                    let payload = entry.payload.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Some(parent) = path.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        std::fs::write(&path, payload)
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .map_err(|m| {
                        (
                            "Io".to_owned(),
                            format!("{}: {m}", root.join(&entry.key).display()),
                        )
                    })
                }
                FileTarget::S3 {
                    bucket,
                    prefix,
                    client,
                } => {
                    let key = if prefix.is_empty() {
                        entry.key.clone()
                    } else {
                        format!("{prefix}/{}", entry.key)
                    };
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(&key)
                        .body(ByteStream::from(entry.payload.clone()))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            let e = CallError::sdk("PutObject", &e);
                            (e.code, format!("s3://{bucket}/{key}: {}", e.message))
                        })
                }
            };
            if let Err((code, message)) = result {
                outcome.failed.push((i, code, message));
            }
        }
        Ok(outcome)
    }
}

/// Lines grouped per 5-minute slot of their record's `end`, turned into gzip files.
pub(super) struct SlotBatcher {
    header: String,
    seed: u64,
    slots: BTreeMap<i64, Vec<String>>,
}

impl SlotBatcher {
    pub(super) fn new(header: String, seed: u64) -> Self {
        SlotBatcher {
            header,
            seed,
            slots: BTreeMap::new(),
        }
    }

    pub(super) fn push(&mut self, end: i64, line: String) {
        self.slots.entry(slot_of(end)).or_default().push(line);
    }

    /// Files of every slot ending before `t`.
    pub(super) fn flush_before(&mut self, t: i64, next_id: &mut u64) -> Vec<Entry> {
        let mut out = Vec::new();
        while let Some((&slot, _)) = self.slots.first_key_value() {
            if slot.saturating_add(crate::output::S3_FILE_SLOT_SECS) > t {
                break;
            }
            let lines = self.slots.remove(&slot).unwrap_or_default();
            let mut payload = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = write_log_file(&mut payload, &self.header, &lines);
            out.push(Entry {
                id: *next_id,
                key: slot_file_key(self.seed, slot),
                payload,
                lines: lines.len() as u64,
            });
            *next_id += 1;
        }
        out
    }
}

//! The S3 store of snapshots: where the extractor publishes and every processor reads.
//!
//! Layout under a prefix (default [`DEFAULT_PREFIX`]):
//! `<prefix><cluster>/latest` (overwritten each run) and
//! `<prefix><cluster>/history/dt=YYYY-MM-DD-HH/<generated_at>.json.zst` (one per run, never
//! overwritten), both holding the same [`codec`](crate::codec) bytes. Each object is written by a
//! single `PutObject`, so a reader sees either the old or the new document, never a mix; history is
//! written before `latest`, so `latest` never names an observation whose history copy is missing.
//!
//! This module owns keys, conditional reads and the history lookup. It does not build, merge or
//! interpret snapshots, and it never swallows an S3 failure: every error names bucket and key.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use chrono::DateTime;

use crate::codec::{self, CodecError};
use crate::snapshot::Snapshot;

/// Default key prefix of the snapshot tree (`CROSSAZ_SNAPSHOT_PREFIX` overrides it).
pub const DEFAULT_PREFIX: &str = "snapshots/";
/// Name of the object overwritten by every run.
pub const LATEST_NAME: &str = "latest";
/// Folder holding one object per run, partitioned by hour like the flow rows (design §6).
pub const HISTORY_DIR: &str = "history";
/// Extension of history objects: the codec writes zstd-compressed JSON.
pub const HISTORY_SUFFIX: &str = ".json.zst";
/// Content type stored with every snapshot object.
pub const SNAPSHOT_CONTENT_TYPE: &str = "application/zstd";
/// How many hours before `at` [`SnapshotStore::load_at`] searches: a replay needs the snapshot of
/// its own hour, and one older than a day would attribute with a cluster that no longer exists.
pub const HISTORY_LOOKBACK_HOURS: i64 = 24;
const SECS_PER_HOUR: i64 = 3600;

/// A failed S3 call or an unreadable object. Every variant names the bucket and key or prefix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `GetObject` failed (other than "no such key" or "not modified").
    #[error("S3 GetObject s3://{bucket}/{key} failed: {detail}")]
    Get {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The SDK error with its full context (code, message, HTTP status).
        detail: String,
    },
    /// Reading the body of a `GetObject` response failed.
    #[error("reading the body of s3://{bucket}/{key} failed: {detail}")]
    Body {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Transport error.
        detail: String,
    },
    /// `PutObject` failed.
    #[error("S3 PutObject s3://{bucket}/{key} failed: {detail}")]
    Put {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The SDK error with its full context.
        detail: String,
    },
    /// `ListObjectsV2` failed.
    #[error("S3 ListObjectsV2 s3://{bucket}/{prefix} failed: {detail}")]
    List {
        /// Bucket.
        bucket: String,
        /// Listed prefix.
        prefix: String,
        /// The SDK error with its full context.
        detail: String,
    },
    /// The object exists but is not a snapshot this build can read.
    #[error("s3://{bucket}/{key} is not a readable snapshot: {source}")]
    Decode {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Why the codec refused it.
        #[source]
        source: CodecError,
    },
    /// The snapshot to publish could not be encoded.
    #[error("encoding the snapshot of cluster {cluster} failed: {source}")]
    Encode {
        /// Cluster of the snapshot.
        cluster: String,
        /// Codec failure.
        #[source]
        source: CodecError,
    },
}

/// Result of a conditional read ([`SnapshotStore::load_if_changed`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The object still has the ETag the caller holds (HTTP 304).
    NotModified,
    /// The object is new or changed.
    Changed {
        /// The decoded snapshot.
        snapshot: Snapshot,
        /// Its ETag, to pass to the next conditional read.
        etag: String,
    },
    /// No object under that key.
    NotFound,
}

/// Keys written by one [`SnapshotStore::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKeys {
    /// The history object (written first).
    pub history: String,
    /// The `latest` object (written second).
    pub latest: String,
    /// Size of the encoded snapshot, identical in both objects.
    pub bytes: usize,
}

/// Snapshots of one or more clusters under `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    /// S3 client (path-style for moto and other local peers).
    pub client: aws_sdk_s3::Client,
    /// Bucket name.
    pub bucket: String,
    /// Key prefix, e.g. `snapshots/`; normalized to end with `/` by the key helpers.
    pub prefix: String,
}

/// A short account of an SDK failure: `Code: message (HTTP status)` for an S3 error answer, the
/// full error chain for a transport failure (timeout, connection refused, credentials).
fn sdk_detail<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match (err.code(), err.raw_response().map(HasStatus::status_code)) {
        (Some(code), status) => {
            let message = err.message().unwrap_or("no message");
            match status {
                Some(status) => format!("{code}: {message} (HTTP {status})"),
                None => format!("{code}: {message}"),
            }
        }
        (None, _) => DisplayErrorContext(err).to_string(),
    }
}

/// The HTTP status of a raw SDK response.
trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// `prefix` ending with exactly one `/`, or empty.
fn normalized(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// Key of the `latest` object: `<prefix><cluster>/latest`.
pub fn latest_key(prefix: &str, cluster: &str) -> String {
    format!("{}{cluster}/{LATEST_NAME}", normalized(prefix))
}

/// Hour partition of an epoch second, `YYYY-MM-DD-HH` in UTC (the flow rows' `dt`).
fn hour_partition(epoch_secs: i64) -> String {
    DateTime::from_timestamp(epoch_secs.div_euclid(SECS_PER_HOUR) * SECS_PER_HOUR, 0).map_or_else(
        || format!("invalid-{epoch_secs}"),
        |t| t.format("%Y-%m-%d-%H").to_string(),
    )
}

/// Folder of the history objects of the hour holding `epoch_secs`.
pub fn history_hour_prefix(prefix: &str, cluster: &str, epoch_secs: i64) -> String {
    format!(
        "{}{cluster}/{HISTORY_DIR}/dt={}/",
        normalized(prefix),
        hour_partition(epoch_secs)
    )
}

/// Key of the history object of a snapshot generated at `generated_at`:
/// `<prefix><cluster>/history/dt=YYYY-MM-DD-HH/<generated_at>.json.zst`.
pub fn history_key(prefix: &str, cluster: &str, generated_at: i64) -> String {
    format!(
        "{}{generated_at}{HISTORY_SUFFIX}",
        history_hour_prefix(prefix, cluster, generated_at)
    )
}

/// The `generated_at` encoded in a history key, if it is one.
pub fn history_epoch(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    name.strip_suffix(HISTORY_SUFFIX)?.parse().ok()
}

impl SnapshotStore {
    /// A store over `s3://bucket/prefix`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: normalized(prefix),
        }
    }

    /// The `latest` snapshot of `cluster` and its ETag, or `None` if none was published yet.
    pub async fn load_latest(
        &self,
        cluster: &str,
    ) -> Result<Option<(Snapshot, String)>, StoreError> {
        match self
            .load_if_changed(&latest_key(&self.prefix, cluster), None)
            .await?
        {
            Fetched::Changed { snapshot, etag } => Ok(Some((snapshot, etag))),
            Fetched::NotFound | Fetched::NotModified => Ok(None),
        }
    }

    /// Reads `key` unless its ETag is still `etag` (`If-None-Match`, answered 304 without a body).
    pub async fn load_if_changed(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Fetched, StoreError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(etag) = etag {
            request = request.if_none_match(etag);
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                let status = err.raw_response().map(HasStatus::status_code);
                if status == Some(304) {
                    return Ok(Fetched::NotModified);
                }
                // A missing bucket is also a 404, and must fail loudly: only a missing key is
                // "nothing published yet".
                if err.code() == Some("NoSuchKey") || (status == Some(404) && err.code().is_none())
                {
                    return Ok(Fetched::NotFound);
                }
                return Err(StoreError::Get {
                    bucket: self.bucket.clone(),
                    key: key.to_owned(),
                    detail: sdk_detail(&err),
                });
            }
        };
        let new_etag = output.e_tag().unwrap_or_default().to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|err| StoreError::Body {
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                detail: DisplayErrorContext(&err).to_string(),
            })?
            .into_bytes();
        let snapshot = codec::decode(&bytes).map_err(|source| StoreError::Decode {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            source,
        })?;
        Ok(Fetched::Changed {
            snapshot,
            etag: new_etag,
        })
    }

    /// Writes the history object, then `latest`. Fails on the first S3 error: `latest` is
    /// never written without its history copy.
    pub async fn publish(&self, snapshot: &Snapshot) -> Result<PublishedKeys, StoreError> {
        let bytes = codec::encode(snapshot).map_err(|source| StoreError::Encode {
            cluster: snapshot.cluster.clone(),
            source,
        })?;
        let history = history_key(&self.prefix, &snapshot.cluster, snapshot.generated_at);
        let latest = latest_key(&self.prefix, &snapshot.cluster);
        let body = bytes::Bytes::from(bytes);
        for key in [&history, &latest] {
            self.put(key, body.clone()).await?;
        }
        Ok(PublishedKeys {
            history,
            latest,
            bytes: body.len(),
        })
    }

    async fn put(&self, key: &str, body: bytes::Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(SNAPSHOT_CONTENT_TYPE)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_owned(),
                detail: sdk_detail(&err),
            })?;
        Ok(())
    }

    /// The newest history snapshot of `cluster` generated at or before `at` (epoch seconds),
    /// searching the hour of `at`, then up to [`HISTORY_LOOKBACK_HOURS`] earlier hours.
    pub async fn load_at(&self, cluster: &str, at: i64) -> Result<Option<Snapshot>, StoreError> {
        for hours_back in 0..=HISTORY_LOOKBACK_HOURS {
            let hour = at - hours_back * SECS_PER_HOUR;
            let prefix = history_hour_prefix(&self.prefix, cluster, hour);
            if let Some(key) = self.newest_at_or_before(&prefix, at).await? {
                return match self.load_if_changed(&key, None).await? {
                    Fetched::Changed { snapshot, .. } => Ok(Some(snapshot)),
                    // Listed a moment ago: gone means a lifecycle rule raced us; say so loudly.
                    Fetched::NotFound | Fetched::NotModified => Err(StoreError::Get {
                        bucket: self.bucket.clone(),
                        key,
                        detail: "listed history object disappeared before it was read".into(),
                    }),
                };
            }
        }
        Ok(None)
    }

    /// The history key under `prefix` with the greatest epoch not after `at`.
    async fn newest_at_or_before(
        &self,
        prefix: &str,
        at: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut best: Option<(i64, String)> = None;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| StoreError::List {
                bucket: self.bucket.clone(),
                prefix: prefix.to_owned(),
                detail: sdk_detail(&err),
            })?;
            for key in page.contents().iter().filter_map(|o| o.key()) {
                if let Some(epoch) = history_epoch(key)
                    && epoch <= at
                    && best.as_ref().is_none_or(|(b, _)| epoch > *b)
                {
                    best = Some((epoch, key.to_owned()));
                }
            }
        }
        Ok(best.map(|(_, key)| key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        // 2026-11-27T05:59:59Z and the next second, which falls in the next hour.
        let cases = [
            (
                "snapshots/",
                1_795_759_199,
                "snapshots/prod/history/dt=2026-11-27-05/1795759199.json.zst",
                "snapshots/prod/latest",
            ),
            (
                "snapshots",
                1_795_759_200,
                "snapshots/prod/history/dt=2026-11-27-06/1795759200.json.zst",
                "snapshots/prod/latest",
            ),
            (
                "",
                0,
                "prod/history/dt=1970-01-01-00/0.json.zst",
                "prod/latest",
            ),
            (
                "a/b//",
                86_399,
                "a/b/prod/history/dt=1970-01-01-23/86399.json.zst",
                "a/b/prod/latest",
            ),
        ];
        for (prefix, at, history, latest) in cases {
            assert_eq!(history_key(prefix, "prod", at), history, "{prefix} {at}");
            assert_eq!(latest_key(prefix, "prod"), latest, "{prefix}");
            assert_eq!(history_epoch(history), Some(at));
        }
    }

    #[test]
    fn history_epoch_rejects_other_keys() {
        for key in [
            "snapshots/prod/latest",
            "snapshots/prod/history/dt=2026-11-27-05/x.json.zst",
            "snapshots/prod/history/dt=2026-11-27-05/17.json",
        ] {
            assert_eq!(history_epoch(key), None, "{key}");
        }
    }
}

//! Reading a drive's destination back to count what arrived: a Kinesis stream (every shard, from
//! a time or the oldest record), an S3 prefix (Firehose deliveries: concatenated
//! `{"message":…}` records; or `.log.gz` delivery files) or a local folder of delivery files.

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::types::ShardIteratorType;
use flate2::read::MultiGzDecoder;

use super::{Arrival, AwsTarget, DriveError, error_chain};

fn failed(driver: &'static str, operation: &'static str, message: String) -> DriveError {
    DriveError::Transport {
        driver,
        operation,
        message,
    }
}

/// Flow-log lines in one object or file: gzip delivery files count their lines after the
/// header; Firehose deliveries count their JSON records (concatenated `{..}{..}`), or their
/// non-blank lines when the records are raw text.
pub fn lines_in(bytes: &[u8]) -> Result<u64, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut text)
            .map_err(|e| format!("gzip: {e}"))?;
        let lines = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count() as u64;
        return Ok(lines.saturating_sub(1));
    }
    if bytes.trim_ascii_start().starts_with(b"{") {
        let mut n = 0;
        for value in
            serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>()
        {
            value.map_err(|e| format!("JSON record {}: {e}", n + 1))?;
            n += 1;
        }
        return Ok(n);
    }
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .count() as u64)
}

/// Lines in every object under `s3://bucket/prefix`.
pub async fn s3_records(
    aws: &AwsTarget,
    bucket: &str,
    prefix: &str,
) -> Result<Arrival, DriveError> {
    let client = aws.s3_client().await;
    let mut token: Option<String> = None;
    let mut arrival = Arrival {
        location: format!("s3://{bucket}/{prefix}"),
        records: 0,
        containers: 0,
    };
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                failed(
                    "s3",
                    "ListObjectsV2",
                    format!("s3://{bucket}/{prefix}: {}", error_chain(&e)),
                )
            })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let body = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    failed(
                        "s3",
                        "GetObject",
                        format!("s3://{bucket}/{key}: {}", error_chain(&e)),
                    )
                })?
                .body
                .collect()
                .await
                .map_err(|e| failed("s3", "GetObject", format!("s3://{bucket}/{key}: {e}")))?
                .into_bytes();
            arrival.records += lines_in(&body)
                .map_err(|m| failed("s3", "read", format!("s3://{bucket}/{key}: {m}")))?;
            arrival.containers += 1;
        }
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(arrival),
        }
    }
}

/// Lines in every delivery file under a local folder (recursively).
pub fn folder_records(root: &Path) -> Result<Arrival, DriveError> {
    let mut arrival = Arrival {
        location: root.display().to_string(),
        records: 0,
        containers: 0,
    };
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| failed("files", "read_dir", format!("{}: {e}", folder.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| failed("files", "read_dir", format!("{}: {e}", folder.display())))?
                .path();
            if path.is_dir() {
                folders.push(path);
            } else if path.to_string_lossy().ends_with(".log.gz") {
                let bytes = std::fs::read(&path)
                    .map_err(|e| failed("files", "read", format!("{}: {e}", path.display())))?;
                arrival.records += lines_in(&bytes)
                    .map_err(|m| failed("files", "read", format!("{}: {m}", path.display())))?;
                arrival.containers += 1;
            }
        }
    }
    Ok(arrival)
}

/// Records in every shard of `stream`, from `since` (or the oldest record), read to the end.
pub async fn kinesis_records(
    aws: &AwsTarget,
    stream: &str,
    since: Option<SystemTime>,
) -> Result<Arrival, DriveError> {
    let client = aws_sdk_kinesis::Client::new(&aws.sdk_config().await);
    let err = |op: &'static str, e: &dyn std::error::Error| {
        failed("kinesis", op, format!("{stream}: {}", error_chain(e)))
    };
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let page = request.send().await.map_err(|e| err("ListShards", &e))?;
        shards.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let mut arrival = Arrival {
        location: format!("kinesis://{stream}"),
        records: 0,
        containers: shards.len() as u64,
    };
    for shard in &shards {
        let mut request = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard);
        request = match since {
            Some(t) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from(t)),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let mut iterator = request
            .send()
            .await
            .map_err(|e| err("GetShardIterator", &e))?
            .shard_iterator()
            .map(str::to_owned);
        while let Some(current) = iterator.take() {
            let page = client
                .get_records()
                .shard_iterator(current)
                .limit(10_000)
                .send()
                .await
                .map_err(|e| err("GetRecords", &e))?;
            arrival.records += page.records().len() as u64;
            let caught_up = page.millis_behind_latest().unwrap_or(0) == 0;
            if page.records().is_empty() && caught_up {
                break;
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
    }
    Ok(arrival)
}

/// Polls `count` until it reaches `expected` or `timeout` passes; returns the last count.
pub async fn wait_for<F, Fut>(
    expected: u64,
    timeout: Duration,
    mut count: F,
) -> Result<Arrival, DriveError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Arrival, DriveError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let arrival = count().await?;
        if arrival.records >= expected || tokio::time::Instant::now() >= deadline {
            return Ok(arrival);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_in_every_delivery_shape() {
        assert_eq!(lines_in(br#"{"message":"a"}{"message":"b"}"#).unwrap(), 2);
        assert_eq!(
            lines_in(b"{\"message\":\"a\"}\n{\"message\":\"b\"}\n").unwrap(),
            2
        );
        assert_eq!(lines_in(b"a b\nc d\n\n").unwrap(), 2);
        let mut gz = Vec::new();
        crate::output::write_log_file(&mut gz, "version bytes", &["5 1".into(), "5 2".into()])
            .unwrap();
        assert_eq!(lines_in(&gz).unwrap(), 2);
        assert!(
            lines_in(br#"{"message":"a"}{"mess"#)
                .unwrap_err()
                .contains("JSON record 2")
        );
    }
}

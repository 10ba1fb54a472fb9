//! S3 plumbing shared by the local writer (output) and the input sources: `s3://` URIs, client
//! construction from explicit options, and a blocking facade over the async SDK.
//!
//! The facade owns a small Tokio runtime and runs each call on a scoped thread, so synchronous
//! code (the Parquet writer, the decoding threads) can call S3 whether or not its caller is itself
//! inside an async runtime. It does no retries of its own beyond the SDK's.

use std::future::Future;
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

/// URI scheme of S3 locations.
pub const S3_SCHEME: &str = "s3://";

/// Upload files larger than this in parts (S3 allows single PUTs up to 5 GB, but parts let big
/// files stream and retry per part). 64 MiB keeps typical hourly files to one request.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// Size of each multipart part; S3's minimum for all but the last part is 5 MiB.
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;
/// S3's minimum part size (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// An error talking to S3, naming the object or prefix.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// Not an `s3://bucket[/prefix]` URI.
    #[error("invalid S3 URI {uri:?}: expected s3://bucket[/prefix]")]
    InvalidUri {
        /// The URI given.
        uri: String,
    },
    /// An SDK call failed.
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    Request {
        /// The S3 operation (PutObject, ListObjectsV2, ...).
        operation: &'static str,
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// The SDK error, rendered with its sources.
        message: String,
    },
    /// Reading the local file to upload failed.
    #[error("reading {path} for upload: {source}")]
    Io {
        /// Local file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The blocking facade could not run (runtime start failure or a panicked call).
    #[error("S3 runtime: {0}")]
    Runtime(String),
}

/// A bucket and a key prefix (no leading or trailing `/`; empty for the bucket root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without surrounding slashes.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix][/]`.
    pub fn parse(uri: &str) -> Result<Self, S3Error> {
        let invalid = || S3Error::InvalidUri {
            uri: uri.to_owned(),
        };
        let rest = uri.strip_prefix(S3_SCHEME).ok_or_else(invalid)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The key of `relative` under the prefix.
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }

    /// `s3://bucket/prefix/` form (with a trailing slash), as DataFusion lists it.
    pub fn uri(&self) -> String {
        if self.prefix.is_empty() {
            format!("{S3_SCHEME}{}/", self.bucket)
        } else {
            format!("{S3_SCHEME}{}/{}/", self.bucket, self.prefix)
        }
    }
}

/// Whether `location` names S3 rather than a local path.
pub fn is_s3_uri(location: &str) -> bool {
    location.starts_with(S3_SCHEME)
}

/// How to reach AWS: all `None` means the SDK's default chain (environment, profile, IMDS); a
/// custom endpoint (moto, MinIO, LocalStack) implies path-style S3 addressing. One definition,
/// shared with the load-test drivers.
pub use loadtest::drivers::AwsTarget as AwsOptions;

/// When to switch from one PutObject to a multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartPolicy {
    /// Files larger than this go in parts.
    pub threshold: u64,
    /// Part size (at least [`MIN_PART_SIZE`]).
    pub part_size: u64,
}

impl Default for MultipartPolicy {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
        }
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

fn request_error(
    operation: &'static str,
    bucket: &str,
    key: &str,
    err: &(dyn std::error::Error + 'static),
) -> S3Error {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    S3Error::Request {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
    }
}

/// A one-worker runtime for blocking facades over async SDK clients.
pub(crate) fn start_runtime() -> Result<tokio::runtime::Runtime, S3Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("crossaz-aws")
        .enable_all()
        .build()
        .map_err(|e| S3Error::Runtime(e.to_string()))
}

/// A blocking S3 client: each call runs on its own runtime from a scoped thread.
#[derive(Debug)]
pub struct BlockingS3 {
    client: Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for BlockingS3 {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside an async context; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl BlockingS3 {
    /// Wraps `client`, starting a one-worker runtime for it.
    pub fn new(client: Client) -> Result<Self, S3Error> {
        Ok(Self {
            client,
            runtime: Some(start_runtime()?),
        })
    }

    /// Builds the client from `aws` on its own runtime.
    pub fn from_options(aws: &AwsOptions) -> Result<Self, S3Error> {
        let runtime = start_runtime()?;
        let client = std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(aws.s3_client()))
                .join()
                .map_err(|_| S3Error::Runtime("building the S3 client panicked".into()))
        });
        match client {
            Ok(client) => Ok(Self {
                client,
                runtime: Some(runtime),
            }),
            Err(e) => {
                runtime.shutdown_background();
                Err(e)
            }
        }
    }

    /// The async client, for callers that are async themselves.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn run<F>(&self, future: F) -> Result<F::Output, S3Error>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| S3Error::Runtime("shut down".into()))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(future))
                .join()
                .map_err(|_| S3Error::Runtime("an S3 call panicked".into()))
        })
    }

    /// Uploads the local file `path` to `bucket/key`; returns the bytes sent.
    pub fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        policy: MultipartPolicy,
    ) -> Result<u64, S3Error> {
        let io = |source| S3Error::Io {
            path: path.display().to_string(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > policy.threshold {
            return self.run(self.put_multipart(bucket, key, path, size, policy.part_size))?;
        }
        let client = &self.client;
        self.run(async move {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| request_error("PutObject", bucket, key, &e))?;
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .map_err(|e| request_error("PutObject", bucket, key, &e))?;
            Ok(size)
        })?
    }

    async fn put_multipart(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        size: u64,
        part_size: u64,
    ) -> Result<u64, S3Error> {
        let part_size = part_size.max(MIN_PART_SIZE);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| request_error("CreateMultipartUpload", bucket, key, &e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(bucket, key, path, size, part_size, &upload_id)
            .await;
        if result.is_err() {
            // Best effort: an abandoned upload only costs storage until a lifecycle rule cleans it.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        size: u64,
        part_size: u64,
        upload_id: &str,
    ) -> Result<u64, S3Error> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = part_size.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(length))
                .build()
                .await
                .map_err(|e| request_error("UploadPart", bucket, key, &e))?;
            let part = self
                .client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(|e| request_error("UploadPart", bucket, key, &e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| request_error("CompleteMultipartUpload", bucket, key, &e))?;
        Ok(size)
    }

    /// Every object under `prefix` (recursively), in key order.
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        self.run(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let mut objects = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| request_error("ListObjectsV2", bucket, prefix, &e))?;
                for object in page.contents() {
                    if let Some(key) = object.key() {
                        let size = object.size().unwrap_or(0).max(0) as u64;
                        objects.push(ObjectInfo {
                            key: key.to_owned(),
                            size,
                        });
                    }
                }
            }
            Ok(objects)
        })?
    }

    /// The immediate "sub-folders" of `prefix` (common prefixes with delimiter `/`).
    pub fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, S3Error> {
        self.run(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            let mut folders = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| request_error("ListObjectsV2", bucket, prefix, &e))?;
                folders.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|p| p.prefix())
                        .map(str::to_owned),
                );
            }
            Ok(folders)
        })?
    }

    /// Writes `body` to `bucket/key` in one PutObject.
    pub fn put_bytes(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), S3Error> {
        self.run(async {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| request_error("PutObject", bucket, key, &e))?;
            Ok(())
        })?
    }

    /// Deletes `bucket/key` (no error if it is already gone).
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        self.run(async {
            self.client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| request_error("DeleteObject", bucket, key, &e))?;
            Ok(())
        })?
    }

    /// The body of `bucket/key`, or `None` when the key does not exist (a missing bucket and
    /// every other failure are errors).
    pub fn get_object_if_exists(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        use aws_sdk_s3::operation::get_object::GetObjectError;
        self.run(async {
            let object = match self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(object) => object,
                Err(e) => {
                    if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) {
                        return Ok(None);
                    }
                    return Err(request_error("GetObject", bucket, key, &e));
                }
            };
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| request_error("GetObject", bucket, key, &e))?;
            Ok(Some(body.to_vec()))
        })?
    }

    /// The whole body of `bucket/key`.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, S3Error> {
        self.run(async {
            let object = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| request_error("GetObject", bucket, key, &e))?;
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| request_error("GetObject", bucket, key, &e))?;
            Ok(body.to_vec())
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_uris() {
        let cases = [
            ("s3://b", Some(("b", ""))),
            ("s3://b/", Some(("b", ""))),
            ("s3://b/flows", Some(("b", "flows"))),
            ("s3://b/a/b/", Some(("b", "a/b"))),
            ("s3:///x", None),
            ("/tmp/x", None),
            ("S3://b", None),
        ];
        for (uri, expected) in cases {
            let got = S3Location::parse(uri).ok();
            let got = got.as_ref().map(|l| (l.bucket.as_str(), l.prefix.as_str()));
            assert_eq!(got, expected, "{uri}");
        }
    }

    #[test]
    fn keys_and_uris_join_the_prefix() {
        let root = S3Location::parse("s3://b").unwrap();
        assert_eq!(root.key("dt=x/f"), "dt=x/f");
        assert_eq!(root.uri(), "s3://b/");
        let nested = S3Location::parse("s3://b/out/flows/").unwrap();
        assert_eq!(nested.key("dt=x/f"), "out/flows/dt=x/f");
        assert_eq!(nested.uri(), "s3://b/out/flows/");
    }
}

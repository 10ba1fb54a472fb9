//! The Hive-partitioned Parquet writer of the local pipeline: rows in, `dt=yyyy-MM-dd-HH/*.parquet`
//! out, in a folder or under an S3 prefix — the layout Firehose writes in AWS.
//!
//! One [`ArrowWriter`] per open partition, at most [`WriterConfig::max_open_partitions`] at a time
//! (the least recently used is closed to make room; a partition seen again gets a new file). Files
//! appear atomically: they are written as hidden `.part-….parquet.tmp` and renamed (local) or
//! uploaded (S3) when complete, so readers never see half a file. The `dt` value lives only in the
//! folder name. Rows are not parsed or judged here; the writer only validates the `dt` value,
//! because it becomes a path.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::arrow::{DEFAULT_BATCH_ROWS, RowBatchBuilder, row_schema};
use super::s3::{BlockingS3, MultipartPolicy, S3Error, S3Location};
use crate::row::{PARTITION_COLUMN, Row};

/// Rows per Parquet row group: 128 Ki rows of ~40 columns is a few MB compressed, large enough for
/// efficient scans and small enough to bound each open writer's buffer.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;
/// Open partitions kept at once; flow logs arrive close to time order, so a handful of hours are
/// active together. Each holds up to one row group in memory.
pub const DEFAULT_MAX_OPEN_PARTITIONS: usize = 16;
/// A file is closed and a new one started after this many rows (about 8 row groups), keeping files
/// in the size range Athena reads best (tens to hundreds of MB).
pub const DEFAULT_MAX_FILE_ROWS: u64 = 1024 * 1024;
/// zstd level 3: zstd's own default, much smaller than snappy for repetitive pod/zone strings.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Default first part of file names.
pub const DEFAULT_FILE_PREFIX: &str = "part";
/// Suffix of written files.
pub const PARQUET_SUFFIX: &str = ".parquet";
/// Suffix of files still being written.
pub const TMP_SUFFIX: &str = ".tmp";

/// Compression of the Parquet pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Snappy: fastest, larger files.
    Snappy,
    /// zstd at the given level.
    Zstd(i32),
    /// No compression.
    None,
}

/// Tuning of a [`PartitionedWriter`]; [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Open partition files at most (at least 1).
    pub max_open_partitions: usize,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Rows per file before it is rolled over.
    pub max_file_rows: u64,
    /// Rows buffered per partition before they are handed to the Parquet encoder.
    pub batch_rows: usize,
    /// Page compression.
    pub codec: Codec,
    /// S3 upload policy.
    pub multipart: MultipartPolicy,
    /// Folder for S3 output's files until they are uploaded (the system temp folder if `None`).
    pub staging_dir: Option<PathBuf>,
    /// First part of every file name (`<prefix>-<run id>-<seq>.parquet`); a backfill names its
    /// files after the hour being processed so an interrupted attempt can be cleaned up.
    pub file_prefix: String,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_open_partitions: DEFAULT_MAX_OPEN_PARTITIONS,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            max_file_rows: DEFAULT_MAX_FILE_ROWS,
            batch_rows: DEFAULT_BATCH_ROWS,
            codec: Codec::Zstd(DEFAULT_ZSTD_LEVEL),
            multipart: MultipartPolicy::default(),
            staging_dir: None,
            file_prefix: DEFAULT_FILE_PREFIX.to_owned(),
        }
    }
}

/// An error writing the partitioned output.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The partition value is not `yyyy-MM-dd-HH` (it would become a folder name).
    #[error("invalid {PARTITION_COLUMN} value {dt:?}: expected yyyy-MM-dd-HH")]
    InvalidPartition {
        /// The value given.
        dt: String,
    },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Building an Arrow batch failed.
    #[error("building an Arrow batch: {0}")]
    Arrow(#[from] ArrowError),
    /// The Parquet encoder failed.
    #[error("writing Parquet {path}: {source}")]
    Parquet {
        /// File being written.
        path: PathBuf,
        /// Cause.
        source: ParquetError,
    },
    /// Uploading to S3 failed.
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// One complete output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Its partition value.
    pub dt: String,
    /// Local path or `s3://` URI.
    pub location: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
}

/// What a [`PartitionedWriter`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Every file, in the order they were completed.
    pub files: Vec<WrittenFile>,
    /// Rows per partition value.
    pub rows_per_dt: BTreeMap<String, u64>,
}

impl WriteSummary {
    /// Rows written in all partitions.
    pub fn total_rows(&self) -> u64 {
        self.rows_per_dt.values().sum()
    }
}

/// Where finished files go.
enum Sink {
    Local {
        root: PathBuf,
    },
    S3 {
        location: S3Location,
        s3: BlockingS3,
        staging: PathBuf,
    },
}

/// One partition's file being written.
struct OpenFile {
    batch: RowBatchBuilder,
    writer: ArrowWriter<BufWriter<File>>,
    tmp_path: PathBuf,
    name: String,
    rows: u64,
    last_used: u64,
}

/// Writes rows into Hive-partitioned Parquet files; see the module docs.
pub struct PartitionedWriter {
    sink: Sink,
    config: WriterConfig,
    properties: WriterProperties,
    open: HashMap<String, OpenFile>,
    /// `<timestamp>-<random>` shared by this writer's file names; `file_seq` makes each unique.
    run_id: String,
    file_seq: u64,
    tick: u64,
    summary: WriteSummary,
}

impl std::fmt::Debug for PartitionedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedWriter")
            .field("run_id", &self.run_id)
            .field("open_partitions", &self.open.len())
            .field("files_written", &self.summary.files.len())
            .finish_non_exhaustive()
    }
}

/// Whether `dt` is `yyyy-MM-dd-HH` (digits and dashes in place, a real date and hour).
pub fn is_valid_partition(dt: &str) -> bool {
    let b = dt.as_bytes();
    b.len() == 13
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 4 | 7 | 10) {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && chrono::NaiveDateTime::parse_from_str(&format!("{dt}:00"), "%Y-%m-%d-%H:%M").is_ok()
}

impl PartitionedWriter {
    /// A writer into the local folder `root` (created if missing).
    pub fn local(root: impl Into<PathBuf>, config: WriterConfig) -> Result<Self, WriteError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| WriteError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(Self::with_sink(Sink::Local { root }, config))
    }

    /// A writer under an S3 prefix, through `client` (built by the caller, e.g. with
    /// [`AwsOptions::s3_client`](super::s3::AwsOptions::s3_client)).
    pub fn s3(
        location: S3Location,
        client: aws_sdk_s3::Client,
        config: WriterConfig,
    ) -> Result<Self, WriteError> {
        let staging = config
            .staging_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&staging).map_err(|source| WriteError::Io {
            path: staging.clone(),
            source,
        })?;
        let s3 = BlockingS3::new(client)?;
        Ok(Self::with_sink(
            Sink::S3 {
                location,
                s3,
                staging,
            },
            config,
        ))
    }

    /// A writer for `output`: an `s3://bucket/prefix` URI (client built from `client` when given)
    /// or a local folder.
    pub fn open(
        output: &str,
        client: Option<aws_sdk_s3::Client>,
        config: WriterConfig,
    ) -> Result<Self, WriteError> {
        match client {
            Some(client) if super::s3::is_s3_uri(output) => {
                Self::s3(S3Location::parse(output)?, client, config)
            }
            _ if super::s3::is_s3_uri(output) => {
                Err(S3Error::Runtime(format!("an S3 client is needed to write to {output}")).into())
            }
            _ => Self::local(output, config),
        }
    }

    fn with_sink(sink: Sink, mut config: WriterConfig) -> Self {
        config.max_open_partitions = config.max_open_partitions.max(1);
        config.batch_rows = config.batch_rows.max(1);
        config.max_file_rows = config.max_file_rows.max(1);
        let compression = match config.codec {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
            Codec::None => Compression::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(config.row_group_rows.max(1)))
            .set_created_by(concat!("crossaz ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let run_id = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        Self {
            sink,
            config,
            properties,
            open: HashMap::new(),
            run_id,
            file_seq: 0,
            tick: 0,
            summary: WriteSummary::default(),
        }
    }

    /// Appends `row` to partition `dt` (`yyyy-MM-dd-HH`, see [`crate::row::partition_key`]).
    pub fn push(&mut self, dt: &str, row: &Row<'_>) -> Result<(), WriteError> {
        self.tick += 1;
        if !self.open.contains_key(dt) {
            self.open_partition(dt)?;
        }
        let Some(file) = self.open.get_mut(dt) else {
            return Err(WriteError::InvalidPartition { dt: dt.to_owned() });
        };
        file.batch.append(row)?;
        file.rows += 1;
        file.last_used = self.tick;
        if file.batch.len() >= self.config.batch_rows {
            let batch = file.batch.finish()?;
            file.writer
                .write(&batch)
                .map_err(|source| WriteError::Parquet {
                    path: file.tmp_path.clone(),
                    source,
                })?;
            if file.rows >= self.config.max_file_rows {
                self.close_partition(dt)?;
            }
        }
        Ok(())
    }

    /// Closes every open file and returns what was written.
    ///
    /// All partitions are attempted; the first error is returned.
    pub fn finish(mut self) -> Result<WriteSummary, WriteError> {
        let mut dts: Vec<String> = self.open.keys().cloned().collect();
        dts.sort();
        let mut first_error = None;
        for dt in dts {
            if let Err(e) = self.close_partition(&dt) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut self.summary)),
        }
    }

    /// What has been completed so far (files closed by eviction or roll-over).
    pub fn summary(&self) -> &WriteSummary {
        &self.summary
    }

    fn open_partition(&mut self, dt: &str) -> Result<(), WriteError> {
        if !is_valid_partition(dt) {
            return Err(WriteError::InvalidPartition { dt: dt.to_owned() });
        }
        if self.open.len() >= self.config.max_open_partitions {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, f)| f.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.close_partition(&oldest)?;
            }
        }
        self.file_seq += 1;
        let name = format!(
            "{}-{}-{:05}{PARQUET_SUFFIX}",
            self.config.file_prefix, self.run_id, self.file_seq
        );
        let tmp_path = match &self.sink {
            Sink::Local { root } => {
                let folder = root.join(format!("{PARTITION_COLUMN}={dt}"));
                std::fs::create_dir_all(&folder).map_err(|source| WriteError::Io {
                    path: folder.clone(),
                    source,
                })?;
                folder.join(format!(".{name}{TMP_SUFFIX}"))
            }
            Sink::S3 { staging, .. } => {
                staging.join(format!(".{PARTITION_COLUMN}={dt}-{name}{TMP_SUFFIX}"))
            }
        };
        let handle = File::create(&tmp_path).map_err(|source| WriteError::Io {
            path: tmp_path.clone(),
            source,
        })?;
        let writer = ArrowWriter::try_new(
            BufWriter::new(handle),
            row_schema(),
            Some(self.properties.clone()),
        )
        .map_err(|source| WriteError::Parquet {
            path: tmp_path.clone(),
            source,
        })?;
        let file = OpenFile {
            batch: RowBatchBuilder::with_capacity(self.config.batch_rows.min(DEFAULT_BATCH_ROWS)),
            writer,
            tmp_path,
            name,
            rows: 0,
            last_used: self.tick,
        };
        self.open.insert(dt.to_owned(), file);
        Ok(())
    }

    fn close_partition(&mut self, dt: &str) -> Result<(), WriteError> {
        let Some(mut file) = self.open.remove(dt) else {
            return Ok(());
        };
        let result = self.complete(dt, &mut file);
        if result.is_err() {
            let _ = std::fs::remove_file(&file.tmp_path);
        }
        result
    }

    fn complete(&mut self, dt: &str, file: &mut OpenFile) -> Result<(), WriteError> {
        let parquet_error = |source| WriteError::Parquet {
            path: file.tmp_path.clone(),
            source,
        };
        if !file.batch.is_empty() {
            let batch = file.batch.finish()?;
            file.writer.write(&batch).map_err(parquet_error)?;
        }
        file.writer.finish().map_err(parquet_error)?;
        let bytes = file.writer.bytes_written() as u64;
        drain_writer(file)?;
        let relative = format!("{PARTITION_COLUMN}={dt}/{}", file.name);
        let location = match &self.sink {
            Sink::Local { root } => {
                let target = root.join(&relative);
                std::fs::rename(&file.tmp_path, &target).map_err(|source| WriteError::Io {
                    path: target.clone(),
                    source,
                })?;
                target.display().to_string()
            }
            Sink::S3 { location, s3, .. } => {
                let key = location.key(&relative);
                s3.put_file(
                    &location.bucket,
                    &key,
                    &file.tmp_path,
                    self.config.multipart,
                )?;
                let _ = std::fs::remove_file(&file.tmp_path);
                format!("s3://{}/{key}", location.bucket)
            }
        };
        *self.summary.rows_per_dt.entry(dt.to_owned()).or_default() += file.rows;
        self.summary.files.push(WrittenFile {
            dt: dt.to_owned(),
            location,
            rows: file.rows,
            bytes,
        });
        Ok(())
    }
}

/// Makes sure every byte of `file` reached the OS before it is read back for upload.
fn drain_writer(file: &mut OpenFile) -> Result<(), WriteError> {
    use std::io::Write as _;
    file.writer
        .inner_mut()
        .flush()
        .map_err(|source| WriteError::Io {
            path: file.tmp_path.clone(),
            source,
        })
}

impl Drop for PartitionedWriter {
    /// A writer dropped without [`finish`](Self::finish) leaves no temporary files behind.
    fn drop(&mut self) {
        for (_, file) in self.open.drain() {
            let path: &Path = &file.tmp_path;
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values() {
        let cases = [
            ("2024-05-01-13", true),
            ("1970-01-01-00", true),
            ("2024-05-01-24", false),
            ("2024-02-30-01", false),
            ("2024-05-01", false),
            ("../../etc-xx", false),
            ("2024/05/01-13", false),
            ("2024-05-01-1a", false),
        ];
        for (dt, ok) in cases {
            assert_eq!(is_valid_partition(dt), ok, "{dt}");
        }
    }
}

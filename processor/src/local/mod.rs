//! The local pipeline's columnar and I/O layers (feature `cli`): the Arrow schema and batch builder
//! derived from [`crate::row::COLUMNS`], the Hive-partitioned Parquet writer (folder or S3), the
//! embedded SQL engine over that layout, and the flow-log input sources (files, stdin, S3, Kinesis).
//!
//! Nothing here parses flow-log lines or attributes flows: sources hand raw lines plus their
//! origin and format to the core, and the writer takes finished [`crate::row::Row`]s.

pub mod arrow;
pub mod query;
pub mod s3;
pub mod source;
pub mod writer;

pub use self::arrow::{RowBatchBuilder, row_schema};
pub use self::query::{OutputFormat, QueryError, QueryOutput, query};
pub use self::s3::{AwsOptions, S3Location};
pub use self::source::{
    Framing, Input, LineChunk, SourceError, SourceLine, SourceOptions, SourceReader,
};
pub use self::writer::{PartitionedWriter, WriteError, WriteSummary, WriterConfig, WrittenFile};

//! The Arrow view of the row schema: the [`Schema`] derived from [`COLUMNS`] and a
//! [`RowBatchBuilder`] that turns [`Row`]s into [`RecordBatch`]es through [`Row::values`].
//!
//! This module owns the mapping from [`ColumnType`] to Arrow types and nothing else: no column is
//! named here, so a column added to `row.rs` reaches Parquet and SQL without touching this file.
//! It is a pure core: no I/O, no clock.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::row::{COLUMNS, ColumnType, Row, Value};

/// Rows a [`RowBatchBuilder`] preallocates for when no capacity is given: the Arrow default batch
/// size (DataFusion's `batch_size` is 8192 too), small enough to stay in cache.
pub const DEFAULT_BATCH_ROWS: usize = 8192;

/// Average bytes preallocated per string value; flow-log strings (IDs, names, IPs) are short.
const STRING_BYTES_HINT: usize = 16;

/// The Arrow type of a [`ColumnType`]. Every column is nullable: absent flow-log fields and
/// unknown endpoints are NULL.
pub fn arrow_type(kind: ColumnType) -> DataType {
    match kind {
        ColumnType::Str => DataType::Utf8,
        ColumnType::Int => DataType::Int32,
        ColumnType::BigInt => DataType::Int64,
        ColumnType::Double => DataType::Float64,
    }
}

/// The Arrow schema of the Parquet files, derived from [`COLUMNS`] in order (without the `dt`
/// partition column, which lives in folder names). Built once and shared.
pub fn row_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields: Vec<Field> = COLUMNS
                .iter()
                .map(|c| Field::new(c.name, arrow_type(c.kind), true))
                .collect();
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// One typed column under construction.
#[derive(Debug)]
enum ColumnBuilder {
    Str(StringBuilder),
    Int(Int32Builder),
    BigInt(Int64Builder),
    Double(Float64Builder),
}

impl ColumnBuilder {
    fn new(kind: ColumnType, rows: usize) -> Self {
        match kind {
            ColumnType::Str => {
                ColumnBuilder::Str(StringBuilder::with_capacity(rows, rows * STRING_BYTES_HINT))
            }
            ColumnType::Int => ColumnBuilder::Int(Int32Builder::with_capacity(rows)),
            ColumnType::BigInt => ColumnBuilder::BigInt(Int64Builder::with_capacity(rows)),
            ColumnType::Double => ColumnBuilder::Double(Float64Builder::with_capacity(rows)),
        }
    }

    /// Appends `value`; `false` when its type is not this column's (a schema bug, not bad input).
    fn append(&mut self, value: Value<'_>) -> bool {
        match (self, value) {
            (ColumnBuilder::Str(b), Value::Str(v)) => b.append_option(v),
            (ColumnBuilder::Int(b), Value::Int(v)) => b.append_option(v),
            (ColumnBuilder::BigInt(b), Value::BigInt(v)) => b.append_option(v),
            (ColumnBuilder::Double(b), Value::Double(v)) => b.append_option(v),
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::BigInt(b) => Arc::new(b.finish()),
            ColumnBuilder::Double(b) => Arc::new(b.finish()),
        }
    }
}

/// Accumulates [`Row`]s column by column and emits them as a [`RecordBatch`] of [`row_schema`].
#[derive(Debug)]
pub struct RowBatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl Default for RowBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_BATCH_ROWS)
    }
}

impl RowBatchBuilder {
    /// A builder preallocated for `rows` rows (it grows beyond that if needed).
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            schema: row_schema(),
            columns: COLUMNS
                .iter()
                .map(|c| ColumnBuilder::new(c.kind, rows))
                .collect(),
            rows: 0,
        }
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`ArrowError::SchemaError`] if a value's type differs from its column's, which only a
    /// broken `row_schema!` could cause; the builder is then left unchanged for earlier columns
    /// only, so drop it.
    pub fn append(&mut self, row: &Row<'_>) -> Result<(), ArrowError> {
        for ((builder, value), column) in self.columns.iter_mut().zip(row.values()).zip(COLUMNS) {
            if !builder.append(value) {
                return Err(ArrowError::SchemaError(format!(
                    "column {} is {:?} but the row gave {value:?}",
                    column.name, column.kind
                )));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Emits the appended rows as one batch and resets the builder for reuse.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Float64Array, Int32Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn schema_follows_columns() {
        let schema = row_schema();
        assert_eq!(schema.fields().len(), COLUMNS.len());
        for (field, column) in schema.fields().iter().zip(COLUMNS) {
            assert_eq!(field.name(), column.name);
            assert_eq!(field.data_type(), &arrow_type(column.kind));
            assert!(field.is_nullable());
        }
    }

    #[test]
    fn arrow_types_per_kind() {
        let cases = [
            (ColumnType::Str, DataType::Utf8),
            (ColumnType::Int, DataType::Int32),
            (ColumnType::BigInt, DataType::Int64),
            (ColumnType::Double, DataType::Float64),
        ];
        for (kind, expected) in cases {
            assert_eq!(arrow_type(kind), expected, "{kind:?}");
        }
    }

    #[test]
    fn builder_keeps_values_and_nulls() {
        let mut builder = RowBatchBuilder::with_capacity(2);
        let first = Row {
            flow_id: Some("f1".into()),
            start_ts: Some(1_714_568_400),
            protocol: Some(6),
            bytes: Some(1500),
            cost_usd: Some(0.25),
            ..Row::default()
        };
        builder.append(&first).unwrap();
        builder.append(&Row::default()).unwrap();
        assert_eq!(builder.len(), 2);
        let batch = builder.finish().unwrap();
        assert!(builder.is_empty());
        assert_eq!(batch.num_rows(), 2);

        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let flow_id = col("flow_id");
        let flow_id = flow_id.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(flow_id.value(0), "f1");
        assert!(flow_id.is_null(1));
        let start = col("start_ts");
        assert_eq!(
            start
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            1_714_568_400
        );
        let protocol = col("protocol");
        assert_eq!(
            protocol
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .value(0),
            6
        );
        let cost = col("cost_usd");
        let cost = cost.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!((cost.value(0) - 0.25).abs() < f64::EPSILON);
        assert!(cost.is_null(1));
        // Every column not set in `first` is NULL in both rows.
        assert_eq!(col("src_pod").null_count(), 2);
    }

    #[test]
    fn builder_is_reusable_after_finish() {
        let mut builder = RowBatchBuilder::default();
        builder
            .append(&Row {
                bytes: Some(1),
                ..Row::default()
            })
            .unwrap();
        assert_eq!(builder.finish().unwrap().num_rows(), 1);
        for _ in 0..3 {
            builder
                .append(&Row {
                    bytes: Some(2),
                    ..Row::default()
                })
                .unwrap();
        }
        let batch = builder.finish().unwrap();
        let bytes = batch.column_by_name("bytes").unwrap();
        let bytes = bytes.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(bytes.values().iter().sum::<i64>(), 6);
    }
}

//! The local Parquet writer and the SQL engine: rows written to a temp folder are read back by
//! pyarrow and duckdb (independent readers) and by `crossaz::local::query`.
#![cfg(feature = "cli")]

mod local_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use parquet::file::reader::FileReader as _;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use crossaz::local::query::{self, OutputFormat};
use crossaz::local::writer::Codec;
use crossaz::local::{AwsOptions, PartitionedWriter, WriteError, WriterConfig};
use crossaz::row::Row;
use local_support::{
    bytes_per_dt, check_with_python, expectations, rows_per_dt, runtime, sample_rows,
};

/// Small batches, row groups and two open partitions, so the test crosses every boundary:
/// batch flushes, several row groups per file, LRU eviction and re-opening of a partition.
fn tight_config(codec: Codec) -> WriterConfig {
    WriterConfig {
        max_open_partitions: 2,
        batch_rows: 7,
        row_group_rows: 50,
        codec,
        ..WriterConfig::default()
    }
}

fn write_rows(
    root: &Path,
    rows: &[(String, Row<'_>)],
    config: WriterConfig,
) -> crossaz::local::WriteSummary {
    let mut writer = PartitionedWriter::local(root, config).unwrap();
    for (dt, row) in rows {
        writer.push(dt, row).unwrap();
    }
    writer.finish().unwrap()
}

fn files_under(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            names.push(file.strip_prefix(root).unwrap().display().to_string());
        }
    }
    names.sort();
    names
}

#[test]
fn pyarrow_and_duckdb_read_what_the_writer_wrote() {
    let temp = tempfile::tempdir().unwrap();
    for (codec, name) in [(Codec::Zstd(3), "ZSTD"), (Codec::Snappy, "SNAPPY")] {
        let root = temp.path().join(name);
        let rows = sample_rows(1000);
        let summary = write_rows(&root, &rows, tight_config(codec));

        assert_eq!(summary.rows_per_dt, rows_per_dt(&rows));
        assert_eq!(summary.total_rows(), 1000);
        // Rows alternate between three hours with two writers open: every row re-opens a file.
        assert!(summary.files.len() > 3, "{} files", summary.files.len());
        let on_disk = files_under(&root);
        assert_eq!(on_disk.len(), summary.files.len());
        for file in &summary.files {
            let path = Path::new(&file.location);
            assert_eq!(
                std::fs::metadata(path).unwrap().len(),
                file.bytes,
                "{}",
                file.location
            );
            let relative = path.strip_prefix(&root).unwrap().display().to_string();
            assert!(
                relative.starts_with(&format!("dt={}/part-", file.dt)),
                "{relative}"
            );
            assert!(relative.ends_with(".parquet"), "{relative}");
        }
        check_with_python(&root, &expectations(&rows, name));
    }
}

#[test]
fn one_partition_rolls_over_into_several_files_with_several_row_groups() {
    let temp = tempfile::tempdir().unwrap();
    let rows: Vec<_> = sample_rows(900)
        .into_iter()
        .filter(|(dt, _)| dt == "2024-05-01-13")
        .collect();
    let config = WriterConfig {
        max_file_rows: 100,
        row_group_rows: 40,
        batch_rows: 10,
        ..WriterConfig::default()
    };
    let summary = write_rows(temp.path(), &rows, config);
    assert_eq!(summary.files.len(), 3);
    assert_eq!(
        summary.files.iter().map(|f| f.rows).collect::<Vec<_>>(),
        [100, 100, 100]
    );
    let file = std::fs::File::open(&summary.files[0].location).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(parquet::file::metadata::RowGroupMetaData::num_rows)
        .collect();
    assert_eq!(groups, [40, 40, 20]);
    check_with_python(temp.path(), &expectations(&rows, "ZSTD"));
}

#[test]
fn invalid_partition_values_are_refused_and_nothing_is_left_behind() {
    let temp = tempfile::tempdir().unwrap();
    let mut writer = PartitionedWriter::local(temp.path(), WriterConfig::default()).unwrap();
    for dt in ["../escape", "2024-13-01-00", "2024-05-01"] {
        let err = writer.push(dt, &Row::default()).unwrap_err();
        assert!(
            matches!(&err, WriteError::InvalidPartition { dt: got } if got == dt),
            "{err}"
        );
    }
    writer
        .push(
            "2024-05-01-13",
            &Row {
                bytes: Some(1),
                ..Row::default()
            },
        )
        .unwrap();
    // Dropped without finish: the half-written file is removed, nothing becomes visible.
    drop(writer);
    let leftovers: Vec<_> = files_under(temp.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn sql(data: &str, text: &str) -> query::QueryOutput {
    query::run(data, text, &AwsOptions::default())
        .await
        .unwrap()
}

fn string_int_pairs(output: &query::QueryOutput) -> BTreeMap<String, i64> {
    let mut pairs = BTreeMap::new();
    for batch in &output.batches {
        let keys =
            arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let keys = keys.as_string::<i32>();
        let values = batch.column(1).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            pairs.insert(keys.value(i).to_owned(), values.value(i));
        }
    }
    pairs
}

#[test]
fn sql_groups_sums_and_prunes_partitions() {
    let temp = tempfile::tempdir().unwrap();
    let rows = sample_rows(600);
    write_rows(temp.path(), &rows, tight_config(Codec::Zstd(3)));
    let data = temp.path().to_str().unwrap().to_owned();
    let rt = runtime();

    let counts = rt.block_on(sql(&data, "SELECT dt, count(*) FROM flows GROUP BY dt"));
    let want: BTreeMap<String, i64> = rows_per_dt(&rows)
        .into_iter()
        .map(|(k, v)| (k, v as i64))
        .collect();
    assert_eq!(string_int_pairs(&counts), want);

    let sums = rt.block_on(sql(&data, "SELECT dt, sum(bytes) FROM flows GROUP BY dt"));
    assert_eq!(string_int_pairs(&sums), bytes_per_dt(&rows));

    let by_namespace = rt.block_on(sql(
        &data,
        "SELECT src_namespace, sum(bytes) FROM flows WHERE dst_kind = 'pod' GROUP BY src_namespace",
    ));
    let mut want = BTreeMap::new();
    for (_, row) in rows
        .iter()
        .filter(|(_, r)| r.dst_kind.as_deref() == Some("pod"))
    {
        *want
            .entry(row.src_namespace.as_deref().unwrap().to_owned())
            .or_insert(0) += row.bytes.unwrap();
    }
    assert_eq!(string_int_pairs(&by_namespace), want);

    // A corrupt file in another partition: a query filtered on dt must never open it.
    let bad = temp.path().join("dt=2030-01-01-00");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("part-corrupt.parquet"), b"not parquet at all").unwrap();
    let pruned = rt.block_on(sql(
        &data,
        "SELECT dt, count(*) FROM flows WHERE dt = '2024-05-01-14' GROUP BY dt",
    ));
    assert_eq!(
        string_int_pairs(&pruned),
        BTreeMap::from([("2024-05-01-14".to_owned(), 200)])
    );
    let unpruned = rt.block_on(query::run(
        &data,
        "SELECT count(*) FROM flows",
        &AwsOptions::default(),
    ));
    assert!(
        unpruned.is_err(),
        "the corrupt file must be read without a dt filter"
    );
}

#[test]
fn results_render_as_table_csv_and_json() {
    let temp = tempfile::tempdir().unwrap();
    let rows = sample_rows(30);
    write_rows(temp.path(), &rows, WriterConfig::default());
    let data = temp.path().to_str().unwrap();
    let output = runtime().block_on(sql(
        data,
        "SELECT dt, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY dt ORDER BY dt",
    ));
    let per_dt = rows_per_dt(&rows);
    let bytes = bytes_per_dt(&rows);
    let mut csv = String::from("dt,flows,bytes\n");
    let mut json = Vec::new();
    for (dt, n) in &per_dt {
        let _ = writeln!(csv, "{dt},{n},{}", bytes[dt]);
        json.push(serde_json::json!({"dt": dt, "flows": n, "bytes": bytes[dt]}));
    }
    assert_eq!(query::render(&output, OutputFormat::Csv).unwrap(), csv);
    let parsed: serde_json::Value =
        serde_json::from_str(&query::render(&output, OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(parsed, serde_json::Value::Array(json));
    let ndjson = query::render(&output, OutputFormat::NdJson).unwrap();
    assert_eq!(ndjson.lines().count(), per_dt.len());
    let table = query::render(&output, OutputFormat::Table).unwrap();
    let first_dt = per_dt.keys().next().unwrap();
    assert!(
        table.contains("| dt ") && table.contains(first_dt.as_str()),
        "{table}"
    );
}

#[test]
fn empty_and_missing_folders() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().to_str().unwrap();
    let rt = runtime();
    let output = rt.block_on(sql(data, "SELECT count(*) AS n FROM flows"));
    let n = output.batches[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(n, 0);
    let empty = rt.block_on(sql(data, "SELECT dt, bytes FROM flows"));
    assert_eq!(empty.num_rows(), 0);
    assert_eq!(
        query::render(&empty, OutputFormat::Csv).unwrap(),
        "dt,bytes\n"
    );
    assert_eq!(query::render(&empty, OutputFormat::Json).unwrap(), "[]");
    let missing = temp.path().join("nope");
    let err = rt
        .block_on(query::run(
            missing.to_str().unwrap(),
            "SELECT 1",
            &AwsOptions::default(),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(empty.batches.iter().all(|b| b.column(0).is_empty()));
}

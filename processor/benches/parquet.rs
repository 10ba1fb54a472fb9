//! Throughput of the local columnar path, in rows/s: `Row` -> Arrow batches, and `Row` -> Hive
//! partitioned Parquet files on local disk (zstd and snappy). Reports only; asserts nothing.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossaz::local::writer::Codec;
use crossaz::local::{PartitionedWriter, RowBatchBuilder, WriterConfig};
use crossaz::row::{Row, partition_key};

/// Rows per iteration: enough for several batches and a row group per partition.
const ROWS: usize = 200_000;
/// Hours the rows spread over.
const HOURS: i64 = 4;

fn rows() -> Vec<(String, Row<'static>)> {
    let namespaces = ["shop", "payments", "search", "kube-system"];
    (0..ROWS)
        .map(|i| {
            let start = 1_714_568_400 + (i as i64 % HOURS) * 3600 + (i as i64 % 3600);
            let bytes = 500 + (i as i64 * 7919) % 100_000;
            let row = Row {
                flow_id: Some(
                    format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).into(),
                ),
                start_ts: Some(start),
                end_ts: Some(start + 60),
                account_id: Some("111122223333".into()),
                region: Some("us-east-1".into()),
                vpc_id: Some("vpc-0abc".into()),
                subnet_id: Some(format!("subnet-{}", i % 3).into()),
                interface_id: Some(format!("eni-{:05}", i % 500).into()),
                instance_id: Some(format!("i-{:05}", i % 50).into()),
                flow_direction: Some("egress".into()),
                traffic_path: Some(1),
                protocol: Some(6),
                src_port: Some(30_000 + (i % 30_000) as i32),
                dst_port: Some(8080),
                packets: Some(1 + bytes / 1400),
                bytes: Some(bytes),
                action: Some("ACCEPT".into()),
                src_ip: Some(format!("10.0.{}.{}", i % 4, i % 250).into()),
                src_kind: Some("pod".into()),
                src_namespace: Some(namespaces[i % 4].into()),
                src_pod: Some(format!("client-{}", i % 40).into()),
                src_workload_kind: Some("Deployment".into()),
                src_workload: Some(format!("client-{}", i % 10).into()),
                src_app: Some(format!("client-{}", i % 10).into()),
                src_node: Some(format!("ip-10-0-{}-1", i % 4).into()),
                src_zone: Some("us-east-1a".into()),
                src_zone_id: Some("use1-az1".into()),
                dst_ip: Some(format!("10.1.{}.{}", i % 4, i % 250).into()),
                dst_kind: Some("pod".into()),
                dst_namespace: Some(namespaces[(i + 1) % 4].into()),
                dst_pod: Some(format!("server-{}", i % 20).into()),
                dst_workload_kind: Some("StatefulSet".into()),
                dst_workload: Some(format!("server-{}", i % 5).into()),
                dst_app: Some(format!("server-{}", i % 5).into()),
                dst_node: Some(format!("ip-10-1-{}-1", i % 4).into()),
                dst_zone: Some("us-east-1b".into()),
                dst_zone_id: Some("use1-az2".into()),
                cost_usd: Some(bytes as f64 * 0.02 / 1e9),
            };
            (partition_key(start).unwrap_or_default(), row)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group("parquet");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);

    group.bench_function("arrow_batches", |b| {
        b.iter(|| {
            let mut builder = RowBatchBuilder::default();
            let mut total = 0;
            for (_, row) in &rows {
                builder.append(row).unwrap();
                if builder.len() == 8192 {
                    total += builder.finish().unwrap().num_rows();
                }
            }
            total += builder.finish().unwrap().num_rows();
            black_box(total)
        });
    });

    for (name, codec) in [
        ("write_zstd", Codec::Zstd(3)),
        ("write_snappy", Codec::Snappy),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let temp = tempfile::tempdir().unwrap();
                let config = WriterConfig {
                    codec,
                    ..WriterConfig::default()
                };
                let mut writer = PartitionedWriter::local(temp.path(), config).unwrap();
                for (dt, row) in &rows {
                    writer.push(dt, row).unwrap();
                }
                black_box(writer.finish().unwrap().total_rows())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! S3 output, S3 querying and S3 flow-log input against a real moto server on 127.0.0.1.
#![cfg(feature = "cli")]

mod local_support;

use std::collections::BTreeMap;
use std::io::Write as _;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use aws_sdk_s3::primitives::ByteStream;
use crossaz::local::s3::MultipartPolicy;
use crossaz::local::source::{self, Input, SourceError, SourceOptions, TimeRange};
use crossaz::local::{PartitionedWriter, S3Location, WriterConfig, query};
use local_support::{Moto, bytes_per_dt, rows_per_dt, runtime, sample_rows};

const BUCKET: &str = "crossaz-test";
const HEADER: &str =
    "version account-id interface-id pkt-srcaddr pkt-dstaddr bytes start flow-direction";

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn s3_output_is_queryable_and_s3_input_lists_by_day() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = moto.aws();
    let client = rt.block_on(aws.s3_client());
    rt.block_on(client.create_bucket().bucket(BUCKET).send())
        .unwrap();

    // --- output: every file through the multipart path (threshold 0), the rest by the defaults.
    let rows = sample_rows(500);
    let config = WriterConfig {
        max_open_partitions: 2,
        batch_rows: 16,
        multipart: MultipartPolicy {
            threshold: 0,
            part_size: 0,
        },
        ..WriterConfig::default()
    };
    let location = S3Location::parse(&format!("s3://{BUCKET}/out/flows")).unwrap();
    let mut writer = PartitionedWriter::s3(location, client.clone(), config).unwrap();
    for (dt, row) in &rows {
        writer.push(dt, row).unwrap();
    }
    let summary = writer.finish().unwrap();
    assert_eq!(summary.rows_per_dt, rows_per_dt(&rows));

    let listed = rt
        .block_on(
            client
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix("out/flows/")
                .send(),
        )
        .unwrap();
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    let mut written: Vec<String> = summary
        .files
        .iter()
        .map(|f| {
            f.location
                .trim_start_matches(&format!("s3://{BUCKET}/"))
                .to_owned()
        })
        .collect();
    written.sort();
    assert_eq!(keys, written);
    for key in &keys {
        assert!(
            key.starts_with("out/flows/dt=") && key.ends_with(".parquet"),
            "{key}"
        );
    }
    for file in &summary.files {
        let key = file.location.trim_start_matches(&format!("s3://{BUCKET}/"));
        let head = rt
            .block_on(client.head_object().bucket(BUCKET).key(key).send())
            .unwrap();
        assert_eq!(head.content_length().unwrap() as u64, file.bytes, "{key}");
    }

    // --- query straight from S3 through object_store.
    let output = rt
        .block_on(query::run(
            &format!("s3://{BUCKET}/out/flows"),
            "SELECT dt, sum(bytes) FROM flows WHERE dt >= '2024-05-01-14' GROUP BY dt",
            &aws,
        ))
        .unwrap();
    let mut sums = BTreeMap::new();
    for batch in &output.batches {
        let dts = batch.column(0).as_string::<i32>();
        let values = batch.column(1).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            sums.insert(dts.value(i).to_owned(), values.value(i));
        }
    }
    let mut want = bytes_per_dt(&rows);
    want.remove("2024-05-01-13");
    assert_eq!(sums, want);

    // --- input: flow-log delivery layout, two accounts' worth of days, one object truncated.
    let line = |i: u32| {
        format!(
            "5 111122223333 eni-1 10.0.1.{i} 10.0.2.9 {} 1714568400 egress",
            100 + i
        )
    };
    let root = "logs/AWSLogs/111122223333/vpcflowlogs/us-east-1";
    let objects = [
        (
            format!(
                "{root}/2024/05/01/111122223333_vpcflowlogs_us-east-1_fl-1_20240501T1305Z_a.log.gz"
            ),
            3,
            false,
        ),
        (
            format!(
                "{root}/2024/05/01/111122223333_vpcflowlogs_us-east-1_fl-1_20240501T2355Z_b.log.gz"
            ),
            2,
            false,
        ),
        (
            format!(
                "{root}/2024/05/02/111122223333_vpcflowlogs_us-east-1_fl-1_20240502T0005Z_c.log.gz"
            ),
            4,
            true,
        ),
        (
            format!(
                "{root}/2024/05/03/111122223333_vpcflowlogs_us-east-1_fl-1_20240503T0905Z_d.log.gz"
            ),
            5,
            false,
        ),
        (
            format!(
                "{root}/2024/04/30/111122223333_vpcflowlogs_us-east-1_fl-1_20240430T1000Z_e.log.gz"
            ),
            6,
            false,
        ),
    ];
    for (key, lines, truncated) in &objects {
        let mut text = format!("{HEADER}\n");
        for i in 0..*lines * if *truncated { 400 } else { 1 } {
            text.push_str(&line(i));
            text.push('\n');
        }
        let mut body = gzip(&text);
        if *truncated {
            body.truncate(body.len() / 2);
        }
        rt.block_on(
            client
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .body(ByteStream::from(body))
                .send(),
        )
        .unwrap();
    }

    let range = TimeRange {
        start: source::parse_time("2024-05-01T12:00:00Z").unwrap(),
        end: source::parse_time("2024-05-02T12:00:00Z").unwrap(),
    };
    let options = SourceOptions {
        time_range: Some(range),
        aws: aws.clone(),
        threads: 2,
        ..SourceOptions::default()
    };
    let reader = source::open(
        &[Input::parse(&format!("s3://{BUCKET}/logs")).unwrap()],
        &options,
    );
    let mut lines_per_origin: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for item in reader {
        match item {
            Ok(chunk) => {
                assert_eq!(
                    chunk.format.as_deref(),
                    Some(source::normalize_format(HEADER).as_str())
                );
                *lines_per_origin
                    .entry(chunk.origin.to_string())
                    .or_default() += chunk.lines.len();
            }
            Err(e) => errors.push(e),
        }
    }
    let uri = |i: usize| format!("s3://{BUCKET}/{}", objects[i].0);
    assert_eq!(lines_per_origin.get(&uri(0)), Some(&3));
    assert_eq!(lines_per_origin.get(&uri(1)), Some(&2));
    assert!(!lines_per_origin.contains_key(&uri(3)) && !lines_per_origin.contains_key(&uri(4)));
    match &errors[..] {
        [SourceError::Gzip { origin, .. }] => assert_eq!(origin, &uri(2)),
        other => panic!("expected the truncated object's gzip error, got {other:?}"),
    }

    // Without a range, everything under the prefix is read.
    let options = SourceOptions {
        aws,
        ..SourceOptions::default()
    };
    let all: usize = source::open(
        &[Input::parse(&format!("s3://{BUCKET}/logs/")).unwrap()],
        &options,
    )
    .filter_map(Result::ok)
    .map(|c| c.lines.len())
    .sum();
    assert!(all > 3 + 2 + 5 + 6, "{all}");
}

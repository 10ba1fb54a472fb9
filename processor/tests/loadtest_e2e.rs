//! The load test end to end: generated flow logs through the real transports (Firehose
//! `PutRecordBatch` into a DirectPut stream with an S3 destination, Kinesis `PutRecords`,
//! delivery files into S3 and a folder) on a moto server, read back by `crossaz run`, written as
//! Parquet and checked by `crossaz loadtest verify` against the generator's truth; and the
//! verifier catching an injected double count and an injected misattribution; and Firehose
//! transform events invoked on the real `crossaz-transform` through a Lambda emulator; and a
//! files-driver archive backfilled with hourly history snapshots.
#![cfg(feature = "cli")]

mod local_support;
#[path = "loadtest_support/runtime_api.rs"]
mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, RecordBatch, StringArray};
use crossaz::synthetic::observed_snapshot;
use loadtest::drivers::files::FileSink;
use loadtest::drivers::firehose::FirehoseSink;
use loadtest::drivers::kinesis::KinesisSink;
use loadtest::drivers::lambda::LambdaSink;
use loadtest::drivers::{AwsTarget, DriveOptions, DriveRun, Transport, arrival, drive};
use loadtest::{Cluster, ClusterSpec, TrafficSpec, Truth, generate_cluster};
use local_support::{Moto, runtime};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const HOURS: i64 = 1;
const FLOWS_PER_MINUTE: usize = 40;
const BUCKET: &str = "flow-delivery";

/// A fresh folder for one test, removed when the test ends.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("crossaz-lt-e2e-{name}-"))
        .tempdir()
        .unwrap()
}

fn cluster() -> Cluster {
    generate_cluster(&ClusterSpec::default(), START, START + HOURS * 3600).unwrap()
}

fn traffic() -> TrafficSpec {
    TrafficSpec {
        flows_per_minute: FLOWS_PER_MINUTE,
        ..TrafficSpec::new(START, HOURS * 3600)
    }
}

/// The flow-log format of the generated lines (`${a} ${b} …`).
fn format() -> String {
    loadtest::LineFormat::new(&traffic().format).log_format()
}

/// Writes the snapshot the extractor would hold at the end of the window; returns its path.
fn snapshot(cluster: &Cluster, dir: &Path) -> PathBuf {
    let snapshot = observed_snapshot(cluster, "e2e", START, START + HOURS * 3600)
        .unwrap()
        .unwrap();
    let path = dir.join("snapshot.json.zst");
    std::fs::write(&path, pod_cache::codec::encode(&snapshot).unwrap()).unwrap();
    path
}

fn options() -> DriveOptions {
    DriveOptions {
        concurrency: 4,
        progress: None,
        ..DriveOptions::default()
    }
}

/// Runs the `crossaz` binary with moto's endpoint and dummy credentials (when given).
fn crossaz(args: &[&str], endpoint: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crossaz"));
    command.args(args);
    if let Some(endpoint) = endpoint {
        command
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    } else {
        command.env_remove("AWS_ENDPOINT_URL");
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `crossaz run` of `input` into `out`; asserts it read exactly `lines` lines and failed none.
fn run_pipeline(snapshot: &Path, input: &[&str], out: &Path, lines: u64, endpoint: Option<&str>) {
    let format = format();
    let mut args = vec![
        "run",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--format",
        &format,
        "--out",
        out.to_str().unwrap(),
        "--input",
    ];
    args.extend_from_slice(input);
    let output = crossaz(&args, endpoint);
    let log = text(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(
        log.contains(&format!("lines {lines} ")),
        "expected {lines} lines read:\n{log}"
    );
    assert!(log.contains(" failed 0\n"), "{log}");
}

/// `crossaz loadtest verify`; returns (exit code, stdout).
fn verify(truth: &Path, data: &Path) -> (Option<i32>, String) {
    let output = crossaz(
        &[
            "loadtest",
            "verify",
            "--truth",
            truth.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        None,
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn write_truth(truth: &Truth, dir: &Path) -> PathBuf {
    let path = dir.join("truth.json");
    loadtest::output::write_json(&path, truth).unwrap();
    path
}

/// A DirectPut delivery stream writing every PutRecordBatch into `BUCKET` under `prefix`.
async fn create_delivery_stream(config: &aws_config::SdkConfig, name: &str, prefix: &str) {
    let destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
        .bucket_arn(format!("arn:aws:s3:::{BUCKET}"))
        .role_arn("arn:aws:iam::123456789012:role/firehose")
        .prefix(prefix)
        .build()
        .unwrap();
    // Boxed: the SDK's send future is large.
    Box::pin(
        aws_sdk_firehose::Client::new(config)
            .create_delivery_stream()
            .delivery_stream_name(name)
            .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(destination)
            .send(),
    )
    .await
    .unwrap();
}

/// Everything generated was sent, nothing failed or was retried, and the run is not trivial.
fn assert_all_sent(run: &DriveRun, driver: &str) {
    let r = &run.report;
    eprint!("{r}");
    assert_eq!(r.driver, driver);
    assert!(r.generated > 1000, "{r}");
    assert_eq!(r.sent, r.generated, "{r}");
    assert_eq!(r.failed, 0, "{r}");
    assert_eq!(r.call_errors, 0, "{r}");
    assert!(r.errors.is_empty(), "{r}");
    assert!(
        r.latency_ms.count > 0 && r.latency_ms.max >= r.latency_ms.p50,
        "{r}"
    );
    let kept = run.truth.cross_az_total();
    assert!(kept.records > 100, "{kept:?}");
    assert_eq!(r.expected_cross_az, Some(kept));
}

#[test]
fn firehose_kinesis_and_s3_drives_arrive_and_verify_exactly() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = AwsTarget::local(&moto.endpoint);
    let scratch = scratch("moto");
    let dir = scratch.path();
    let cluster = cluster();
    let snapshot = snapshot(&cluster, dir);

    // The destinations: a bucket, a DirectPut delivery stream writing into it, a 2-shard stream.
    rt.block_on(async {
        let s3 = aws.s3_client().await;
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let config = aws.sdk_config().await;
        create_delivery_stream(&config, "flows", "firehose/").await;
        aws_sdk_kinesis::Client::new(&config)
            .create_stream()
            .stream_name("flows")
            .shard_count(2)
            .send()
            .await
            .unwrap();
    });

    // Firehose: every record sent arrives in S3 once, as concatenated {"message":…} records.
    let transport = Transport::Firehose(rt.block_on(FirehoseSink::new(&aws, "flows")));
    let firehose = rt
        .block_on(drive(&cluster, &traffic(), transport, &options()))
        .unwrap();
    assert_all_sent(&firehose, "firehose");
    let sent = firehose.report.sent;
    assert!(
        firehose.report.calls >= sent.div_ceil(500),
        "{}",
        firehose.report
    );
    let arrived = rt
        .block_on(arrival::s3_records(&aws, BUCKET, "firehose/"))
        .unwrap();
    assert_eq!(arrived.records, sent, "{arrived:?}");
    assert!(arrived.containers >= sent.div_ceil(500), "{arrived:?}");

    // Kinesis: every record arrives once, over both shards. One call at a time: moto numbers a
    // shard's records without a lock, so concurrent PutRecords overwrite each other there
    // (moto/kinesis/models.py `put_record`: "not safe for concurrency"); real Kinesis does not.
    let since = SystemTime::now() - Duration::from_secs(1);
    let transport = Transport::Kinesis(rt.block_on(KinesisSink::new(&aws, "flows")));
    let sequential = DriveOptions {
        concurrency: 1,
        ..options()
    };
    let kinesis = rt
        .block_on(drive(&cluster, &traffic(), transport, &sequential))
        .unwrap();
    assert_all_sent(&kinesis, "kinesis");
    let arrived = rt
        .block_on(arrival::kinesis_records(&aws, "flows", Some(since)))
        .unwrap();
    assert_eq!(arrived.records, kinesis.report.sent);
    assert_eq!(arrived.containers, 2);

    // Delivery files into an S3 prefix (the backfill layout).
    let transport = Transport::Files(rt.block_on(FileSink::s3(&aws, BUCKET, "backfill", 7)));
    let files = rt
        .block_on(drive(&cluster, &traffic(), transport, &options()))
        .unwrap();
    assert_all_sent(&files, "s3");
    let arrived = rt
        .block_on(arrival::s3_records(&aws, BUCKET, "backfill/"))
        .unwrap();
    assert_eq!(arrived.records, files.report.sent);

    // The same generator run drove all three: one truth.
    assert_eq!(firehose.truth, kinesis.truth);
    assert_eq!(firehose.truth, files.truth);
    assert_eq!(firehose.report.generated, kinesis.report.generated);
    let truth = write_truth(&firehose.truth, dir);

    // Each arrival through `crossaz run` into Parquet, verified exactly against the truth.
    let endpoint = Some(moto.endpoint.as_str());
    let cases: [(&str, Vec<&str>, u64); 3] = [
        ("from-firehose", vec!["s3://flow-delivery/firehose"], sent),
        (
            "from-kinesis",
            vec!["kinesis://flows", "--kinesis-from", "trim-horizon"],
            kinesis.report.sent,
        ),
        (
            "from-s3-files",
            vec!["s3://flow-delivery/backfill"],
            files.report.sent,
        ),
    ];
    let want = firehose.truth.cross_az_total();
    for (name, input, lines) in cases {
        let out = dir.join(name);
        run_pipeline(&snapshot, &input, &out, lines, endpoint);
        let (code, stdout) = verify(&truth, &out);
        assert_eq!(code, Some(0), "{name}:\n{stdout}");
        assert!(
            stdout.contains(&format!(
                "{} records, {} bytes match the truth exactly",
                want.records, want.bytes
            )),
            "{name}:\n{stdout}"
        );
    }
}

/// The Parquet files under `data`, sorted.
fn parquet_files(data: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dt in std::fs::read_dir(data).unwrap() {
        let dt = dt.unwrap().path();
        if !dt.file_name().unwrap().to_string_lossy().starts_with("dt=") {
            continue;
        }
        for f in std::fs::read_dir(&dt).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "parquet") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Rewrites `column` of row `row` (of the first batch) to `value`, keeping everything else.
fn rewrite_cell(path: &Path, column: &str, row: usize, value: &str) {
    let batches = read_parquet(path);
    let schema = batches[0].schema();
    let index = schema.index_of(column).unwrap();
    let mut out = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let mut columns: Vec<Arc<dyn Array>> = batch.columns().to_vec();
        if b == 0 {
            let old = columns[index]
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let new: StringArray = (0..old.len())
                .map(|i| {
                    if i == row {
                        Some(value.to_owned())
                    } else {
                        (!old.is_null(i)).then(|| old.value(i).to_owned())
                    }
                })
                .collect();
            columns[index] = Arc::new(new);
        }
        out.push(RecordBatch::try_new(schema.clone(), columns).unwrap());
    }
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    for batch in &out {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn verifier_catches_an_injected_double_count_and_misattribution() {
    let scratch = scratch("inject");
    let dir = scratch.path();
    let cluster = cluster();
    let snapshot = snapshot(&cluster, dir);
    let rt = runtime();

    // Delivery files into a folder (the files driver), through the pipeline: exact.
    let logs = dir.join("logs");
    let transport = Transport::Files(FileSink::folder(logs.clone(), 7));
    let run = rt
        .block_on(drive(&cluster, &traffic(), transport, &options()))
        .unwrap();
    assert_all_sent(&run, "files");
    let arrived = arrival::folder_records(&logs).unwrap();
    assert_eq!(arrived.records, run.report.sent);
    assert!(arrived.containers >= 12, "{arrived:?}");
    let truth = write_truth(&run.truth, dir);
    let data = dir.join("parquet");
    run_pipeline(
        &snapshot,
        &[logs.to_str().unwrap()],
        &data,
        run.report.sent,
        None,
    );
    let (code, stdout) = verify(&truth, &data);
    assert_eq!(code, Some(0), "{stdout}");

    let files = parquet_files(&data);
    assert!(!files.is_empty());

    // A row whose key is its own (one record in the truth): its src_pod rewritten.
    let target = &files[0];
    let batches = read_parquet(target);
    let batch = &batches[0];
    let column = |name: &str| {
        batch
            .column(batch.schema().index_of(name).unwrap())
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    };
    let (src_pod, dst_pod) = (column("src_pod"), column("dst_pod"));
    let dt = target
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("dt=")
        .to_owned();
    let single = run
        .truth
        .cross_az
        .iter()
        .filter(|(k, c)| k.dt == dt && c.records == 1 && k.src.pod.is_some() && k.dst.pod.is_some())
        .find_map(|(k, _)| {
            (0..batch.num_rows())
                .find(|&i| {
                    !src_pod.is_null(i)
                        && !dst_pod.is_null(i)
                        && Some(src_pod.value(i)) == k.src.pod.as_deref()
                        && Some(dst_pod.value(i)) == k.dst.pod.as_deref()
                })
                .map(|i| (k.clone(), i))
        });
    let (moved_key, row) = single.expect("a single-record pod key in the first file");
    rewrite_cell(target, "src_pod", row, "intruder-7f9c");

    // Another hour's file duplicated: every key in it counted twice.
    let other = files
        .iter()
        .find(|f| f.parent() != target.parent())
        .expect("files in two hours");
    let doubled_dt = other
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("dt=")
        .to_owned();
    let copy = other.with_file_name("duplicated-delivery.parquet");
    std::fs::copy(other, &copy).unwrap();

    let (code, stdout) = verify(&truth, &data);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("double-counted ("), "{stdout}");
    assert!(stdout.contains(&format!("[{doubled_dt}]")), "{stdout}");
    assert!(stdout.contains("misattributed (1):"), "{stdout}");
    assert!(
        stdout.contains(&format!("{moved_key} (")),
        "the moved key is named:\n{stdout}"
    );
    assert!(stdout.contains("intruder-7f9c"), "{stdout}");
    // Only what was injected: nothing missing or extra beyond the misattribution.
    assert!(!stdout.contains("\nmissing ("), "{stdout}");
    assert!(!stdout.contains("\nextra ("), "{stdout}");
}

#[test]
fn in_process_drive_reports_and_matches_the_truth() {
    let scratch = scratch("in-process");
    let dir = scratch.path();
    let out = dir.join("run");
    let data = dir.join("parquet");
    let output = crossaz(
        &[
            "loadtest",
            "drive",
            "--driver",
            "in-process",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
            "--dest",
            data.to_str().unwrap(),
            "--flows-per-minute",
            &FLOWS_PER_MINUTE.to_string(),
            "--start",
            &START.to_string(),
            "--seed",
            &traffic().seed.to_string(),
        ],
        None,
    );
    let log = text(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("kept rows match the truth exactly"), "{log}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let truth: Truth =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    let generated = report["generated"].as_u64().unwrap();
    let kept = truth.cross_az_total();
    assert!(generated > 1000, "{report}");
    assert_eq!(report["driver"], "in-process");
    assert_eq!(report["sent"].as_u64(), Some(generated));
    assert_eq!(report["arrived"]["records"].as_u64(), Some(generated));
    assert_eq!(report["results"]["kept"].as_u64(), Some(kept.records));
    assert_eq!(
        report["results"]["parquet_rows"].as_u64(),
        Some(kept.records)
    );
    assert_eq!(report["results"]["failed"].as_u64(), Some(0));
    let dropped: u64 = report["results"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("dropped_"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!(kept.records + dropped, generated, "{report}");
    assert_eq!(
        report["expected_cross_az"]["bytes"].as_u64(),
        Some(kept.bytes)
    );
    // Same generator settings as the other tests: the same truth.
    let cluster = cluster();
    let set = loadtest::generate_flows(&cluster, &traffic()).unwrap();
    assert_eq!(truth, set.truth);
    let (code, stdout) = verify(&out.join("truth.json"), &data);
    assert_eq!(code, Some(0), "{stdout}");
}

/// `crossaz loadtest drive` with moto's endpoint: exit code and report.json.
fn drive_cli(moto: &Moto, args: &[&str], out: &Path) -> (Option<i32>, String, serde_json::Value) {
    let mut all = vec![
        "loadtest",
        "drive",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let output = crossaz(&all, Some(&moto.endpoint));
    let log = text(&output);
    let report = std::fs::read(out.join("report.json")).map_or_else(
        |e| panic!("no report.json ({e}):\n{log}"),
        |b| serde_json::from_slice(&b).unwrap(),
    );
    (output.status.code(), log, report)
}

#[test]
fn cli_drives_report_arrival_and_give_up_on_a_missing_stream() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = AwsTarget::local(&moto.endpoint);
    let scratch = scratch("cli");
    let dir = scratch.path();
    rt.block_on(async {
        aws.s3_client()
            .await
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        create_delivery_stream(&aws.sdk_config().await, "cli", "cli/").await;
    });

    // Bounded by a record count, paced by a rate: exactly that many sent and arrived.
    let out = dir.join("firehose");
    let (code, log, report) = drive_cli(
        &moto,
        &[
            "--driver",
            "firehose",
            "--stream",
            "cli",
            "--check-arrival",
            "s3://flow-delivery/cli",
            "--records",
            "2600",
            "--rate",
            "5000",
        ],
        &out,
    );
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(report["generated"], 2600, "{report}");
    assert_eq!(report["sent"], 2600, "{report}");
    assert_eq!(report["arrived"]["records"], 2600, "{report}");
    assert_eq!(report["calls"], 6, "{report}");
    // 2600 records at 5000/s: the last batch may not start before ~0.4 s.
    assert!(report["seconds"].as_f64().unwrap() >= 0.4, "{report}");
    assert!(log.contains("(all arrived)"), "{log}");
    let truth: Truth =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(
        report["expected_cross_az"]["records"].as_u64(),
        Some(truth.cross_az_total().records)
    );
    for file in [
        "nodes.json",
        "pods-start.json",
        "pods-end.json",
        "format.txt",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }

    // A stream that does not exist: every call fails whole, is retried, then given up; the
    // report says so and the exit code is non-zero.
    let (code, log, report) = drive_cli(
        &moto,
        &[
            "--driver",
            "kinesis",
            "--stream",
            "nope",
            "--records",
            "1200",
            "--retries",
            "2",
            "--arrival-timeout",
            "0",
        ],
        &dir.join("missing"),
    );
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["failed"], 1200, "{report}");
    // Three batches (500, 500, 200), each tried three times.
    assert_eq!(report["call_errors"], 9, "{report}");
    assert_eq!(report["errors"]["ResourceNotFoundException"], 9, "{report}");
    assert_eq!(report["errors"]["GaveUp"], 1200, "{report}");
    assert!(log.contains("gave up on"), "{log}");
    assert_eq!(report["errors"]["ArrivalCheck"], 1, "{report}");
    assert!(log.contains("reading the destination back"), "{log}");
}

/// Kills the child on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lambda_drive_invokes_the_transform_and_checks_every_record() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = AwsTarget::local(&moto.endpoint);
    let scratch = scratch("lambda");
    let dir = scratch.path();
    let cluster = cluster();
    let snapshot = observed_snapshot(&cluster, "e2e", START, START + HOURS * 3600)
        .unwrap()
        .unwrap();
    rt.block_on(async {
        let s3 = aws.s3_client().await;
        s3.create_bucket().bucket("snapshots").send().await.unwrap();
        s3.put_object()
            .bucket("snapshots")
            .key("snapshots/e2e/latest")
            .body(pod_cache::codec::encode(&snapshot).unwrap().into())
            .send()
            .await
            .unwrap();
    });

    // The real transform binary polling the emulator's Runtime API, its snapshot in moto's S3.
    let api = runtime_api::RuntimeApi::start();
    let log = dir.join("transform.log");
    let transform = Killed(
        Command::new(env!("CARGO_BIN_EXE_crossaz-transform"))
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "crossaz-transform")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("CROSSAZ_SNAPSHOT_BUCKET", "snapshots")
            .env("CROSSAZ_SNAPSHOT_KEY", "snapshots/e2e/latest")
            .env("CROSSAZ_S3_FORCE_PATH_STYLE", "true")
            .env("CROSSAZ_FLOW_FORMAT", format())
            // The one snapshot is taken at the end of the hour it attributes.
            .env("CROSSAZ_MAX_RECORD_AGE_SECS", "7200")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );

    let transport = Transport::Lambda(rt.block_on(LambdaSink::new(
        &AwsTarget::local(&api.endpoint()),
        "crossaz-transform",
    )));
    let run = rt
        .block_on(drive(&cluster, &traffic(), transport, &options()))
        .unwrap();
    // The same through the command line, bounded by a record count.
    let cli = crossaz(
        &[
            "loadtest",
            "drive",
            "--driver",
            "lambda",
            "--function",
            "crossaz-transform",
            "--records",
            "3000",
            "--quiet",
            "--out",
            dir.join("cli").to_str().unwrap(),
        ],
        Some(&api.endpoint()),
    );
    drop(transform);
    assert_eq!(cli.status.code(), Some(0), "{}", text(&cli));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cli/report.json")).unwrap()).unwrap();
    assert_eq!(report["sent"], 3000, "{report}");
    let results = &report["results"];
    assert_eq!(
        results["Ok"].as_u64().unwrap() + results["Dropped"].as_u64().unwrap(),
        3000,
        "{report}"
    );
    assert_eq!(results["Ok"], results["rows"], "{report}");
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(api.init_error(), None, "{log}");
    assert_all_sent(&run, "lambda");
    let r = &run.report;
    let kept = run.truth.cross_az_total().records;
    // Events of about 1 MB: several calls, each answered for every recordId.
    assert!(r.calls >= 2, "{r}");
    assert_eq!(r.results["Ok"], kept, "{r}\n{log}");
    assert_eq!(r.results["rows"], kept, "{r}");
    assert_eq!(r.results["Dropped"], r.generated - kept, "{r}");
    assert_eq!(r.results.get("ProcessingFailed"), None, "{r}");
}

#[test]
fn files_driver_archive_backfills_exactly_with_hourly_history() {
    // Three hours of delivery files (the files driver) and the extractor's history: one snapshot
    // per hour, the last one taken in that hour (pods observed once a minute).
    let hours = 3;
    let scratch = scratch("backfill");
    let dir = scratch.path();
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + hours * 3600).unwrap();
    let traffic = TrafficSpec {
        flows_per_minute: FLOWS_PER_MINUTE,
        ..TrafficSpec::new(START, hours * 3600)
    };
    let archive = dir.join("archive");
    let rt = runtime();
    let run = rt
        .block_on(drive(
            &cluster,
            &traffic,
            Transport::Files(FileSink::folder(archive.clone(), 7)),
            &options(),
        ))
        .unwrap();
    assert_all_sent(&run, "files");
    let marks: Vec<i64> = (0..hours).map(|h| START + h * 3600 + 3540).collect();
    let history = dir.join("snapshots");
    for snapshot in
        crossaz::synthetic::observed_snapshots(&cluster, "e2e", START, START + hours * 3600, &marks)
            .unwrap()
    {
        let path = history.join(pod_cache::store::history_key(
            "",
            "e2e",
            snapshot.generated_at,
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pod_cache::codec::encode(&snapshot).unwrap()).unwrap();
    }
    let truth = write_truth(&run.truth, dir);
    let out = dir.join("flows");
    // One hour past the window: records of the last hour also sit in files stamped after it.
    let to = (START + (hours + 1) * 3600).to_string();
    let output = crossaz(
        &[
            "backfill",
            "--input",
            archive.to_str().unwrap(),
            "--from",
            &START.to_string(),
            "--to",
            &to,
            "--snapshots",
            history.join("e2e").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let log = text(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    let (code, stdout) = verify(&truth, &out);
    assert_eq!(code, Some(0), "{stdout}\n{log}");
    let want = run.truth.cross_az_total();
    assert!(
        stdout.contains(&format!(
            "{} records, {} bytes match the truth exactly",
            want.records, want.bytes
        )),
        "{stdout}"
    );
}

/// `crossaz transform`: the Lambda's handler on Firehose event files (the generator's events of
/// ~1 MB), responses written under the events' names; read back, they return every recordId
/// once, in order, and their rows are exactly the truth's cross-AZ flows.
#[test]
fn transform_cli_on_event_files_returns_every_record_and_the_truth() {
    use base64::Engine as _;
    let scratch = scratch("transform-cli");
    let dir = scratch.path();
    let cluster = cluster();
    let set = loadtest::generate_flows(&cluster, &traffic()).unwrap();
    let snapshot = snapshot(&cluster, dir);
    let events = dir.join("events");
    let mut writer = loadtest::output::FirehoseWriter::new(&events, 7);
    for (record, line) in set.records.iter().zip(set.lines(&cluster)) {
        writer.push(record.end, &line).unwrap();
    }
    let files = writer.finish().unwrap();
    let responses = dir.join("responses");
    let format = format();
    let output = crossaz(
        &[
            "transform",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--format",
            &format,
            "--out",
            responses.to_str().unwrap(),
            events.to_str().unwrap(),
        ],
        None,
    );
    let log = text(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    let kept = set.truth.cross_az_total();
    let generated = set.records.len();
    assert!(
        log.contains(&format!("records {generated} ok ")),
        "expected {generated} records:\n{log}"
    );
    assert!(
        log.contains(&format!("kept {} ({} bytes)", kept.records, kept.bytes)),
        "{log}"
    );
    let (mut rows, mut bytes, mut ids) = (0u64, 0u64, 0usize);
    for file in &files {
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let name = file.file_name().unwrap();
        let response: serde_json::Value =
            serde_json::from_slice(&std::fs::read(responses.join(name)).unwrap()).unwrap();
        let sent: Vec<&str> = event["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["recordId"].as_str().unwrap())
            .collect();
        let back = response["records"].as_array().unwrap();
        let returned: Vec<&str> = back
            .iter()
            .map(|r| r["recordId"].as_str().unwrap())
            .collect();
        assert_eq!(returned, sent, "{name:?}");
        ids += sent.len();
        for record in back {
            let result = record["result"].as_str().unwrap();
            assert!(matches!(result, "Ok" | "Dropped"), "{record}");
            let data = base64::engine::general_purpose::STANDARD
                .decode(record["data"].as_str().unwrap())
                .unwrap();
            for row in serde_json::Deserializer::from_slice(&data).into_iter::<serde_json::Value>()
            {
                let row = row.unwrap();
                rows += 1;
                bytes += row["bytes"].as_u64().unwrap();
                let dt = record["metadata"]["partitionKeys"]["dt"].as_str().unwrap();
                assert_eq!(dt.len(), 13, "{record}");
            }
        }
    }
    assert_eq!(ids, generated);
    assert_eq!((rows, bytes), (kept.records, kept.bytes));
}

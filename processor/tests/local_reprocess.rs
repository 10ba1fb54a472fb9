//! `crossaz reprocess` against a moto server: Firehose error output of both kinds (and a broken
//! document) replayed into Parquet with the history snapshot of each flow's hour, and
//! `processing-failed` records put back into a moto Firehose stream in batches of ≤ 500.
#![cfg(feature = "cli")]

mod local_support;

use std::io::Write as _;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use local_support::{
    CLIENT_IP, FLOW_FORMAT, Moto, NEIGHBOUR_IP, SERVER_IP, crossaz, pod, runtime, snapshot,
    sql_strings,
};
use pod_cache::store::SnapshotStore;

const BUCKET: &str = "crossaz-reprocess";
/// 2024-05-01T13:00:00Z and the next hour.
const H0: i64 = 1_714_568_400;
const H1: i64 = H0 + 3600;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn line(src: &str, dst: &str, bytes: &str, start: i64, direction: &str) -> String {
    format!("5 111122223333 eni-0a1b {src} {dst} {bytes} {start} {direction}")
}

/// A `processing-failed` document as Firehose writes it (aws-facts §1.3).
fn processing_failed(raw: &str, arrival_ms: i64) -> String {
    serde_json::json!({
        "attemptsMade": 4,
        "arrivalTimestamp": arrival_ms,
        "errorCode": "Lambda.FunctionError",
        "errorMessage": "The Lambda function was successfully invoked but it returned an error result.",
        "attemptEndingTimestamp": arrival_ms + 65_000,
        "rawData": b64(raw.as_bytes()),
        "lambdaArn": "arn:aws:lambda:us-east-1:111122223333:function:crossaz-transform:$LATEST"
    })
    .to_string()
}

/// A `format-conversion-failed` document (aws-facts §3).
fn conversion_failed(rows: &str, arrival_ms: i64) -> String {
    serde_json::json!({
        "attemptsMade": 1,
        "arrivalTimestamp": arrival_ms,
        "lastErrorCode": "DataFormatConversion.MalformedData",
        "lastErrorMessage": "The given JSON is malformed.",
        "attemptEndingTimestamp": arrival_ms + 300,
        "rawData": b64(rows.as_bytes()),
        "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
        "subSequenceNumber": 0,
        "dataCatalogTable": {
            "catalogId": "111122223333", "databaseName": "crossaz", "tableName": "flows",
            "region": "us-east-1", "versionId": "LATEST",
            "catalogArn": "arn:aws:glue:us-east-1:111122223333:catalog"
        }
    })
    .to_string()
}

fn row_json(flow_id: &str, start: i64, bytes: i64, dst_workload: &str) -> String {
    serde_json::json!({
        "flow_id": flow_id, "start_ts": start, "end_ts": start + 60, "bytes": bytes,
        "account_id": "111122223333", "flow_direction": "egress",
        "src_ip": CLIENT_IP, "src_kind": "pod", "src_namespace": "shop", "src_workload": "client",
        "src_zone": "us-east-1a", "dst_ip": SERVER_IP, "dst_kind": "pod", "dst_namespace": "shop",
        "dst_workload": dst_workload, "dst_zone": "us-east-1b", "cost_usd": bytes as f64 * 2e-11
    })
    .to_string()
}

fn put(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
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

/// Two history snapshots: in hour 13 the server IP belongs to `api-v1`, in hour 14 to `api-v2`
/// (and `api-v1` has left the retention window), so only per-hour snapshots credit both right.
fn publish_history(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client) {
    let store = SnapshotStore::new(client.clone(), BUCKET, "snapshots/");
    let client_pod = |seen| pod("client-1", "client", "n-a", CLIENT_IP, H0 - 7200, seen);
    let neighbour = |seen| pod("cache-1", "cache", "n-a", NEIGHBOUR_IP, H0 - 7200, seen);
    let first = snapshot(
        H0 + 1800,
        vec![
            client_pod(H0 + 1800),
            neighbour(H0 + 1800),
            pod("api-v1-x", "api-v1", "n-b", SERVER_IP, H0 - 3600, H0 + 1800),
        ],
    );
    let second = snapshot(
        H1 + 1800,
        vec![
            client_pod(H1 + 1800),
            neighbour(H1 + 1800),
            pod("api-v2-y", "api-v2", "n-b", SERVER_IP, H1, H1 + 1800),
        ],
    );
    for s in [first, second] {
        rt.block_on(store.publish(&s)).unwrap();
    }
}

#[test]
fn reprocess_error_output_into_parquet_with_hourly_snapshots() {
    let moto = Moto::start();
    let rt = runtime();
    let client = rt.block_on(moto.aws().s3_client());
    rt.block_on(client.create_bucket().bucket(BUCKET).send())
        .unwrap();
    publish_history(&rt, &client);

    let message = |l: String| serde_json::json!({ "message": l }).to_string();
    let processing = [
        // 1: kept, hour 13 -> api-v1.
        processing_failed(
            &message(line(CLIENT_IP, SERVER_IP, "1000", H0 + 60, "egress")),
            (H0 + 70) * 1000,
        ),
        // 2: two raw lines: kept in hour 14 -> api-v2; same-AZ, dropped.
        processing_failed(
            &format!(
                "{}\n{}",
                line(CLIENT_IP, SERVER_IP, "2000", H1 + 60, "egress"),
                line(CLIENT_IP, NEIGHBOUR_IP, "3000", H1 + 70, "egress")
            ),
            (H1 + 80) * 1000,
        ),
        // 3: a line that does not parse: failed, to the rejects.
        processing_failed(
            &message(line(CLIENT_IP, SERVER_IP, "lots", H0 + 60, "egress")),
            (H0 + 70) * 1000,
        ),
        // 4: a broken document (truncated write).
        r#"{"attemptsMade":4,"arrivalTimestamp":1714568470000,"errorCode":"Lambda.Fun"#.to_owned(),
        // 5: ingress, dropped.
        processing_failed(
            &message(line(SERVER_IP, CLIENT_IP, "4000", H0 + 90, "ingress")),
            (H0 + 95) * 1000,
        ),
    ];
    put(
        &rt,
        &client,
        "flows/errors/processing-failed/2024/05/01/14/crossaz-flows-1-2024-05-01-14-05-00-6f1e2d3c",
        format!("{}\n", processing.join("\n")).into_bytes(),
    );
    let conversion = [
        // 6: two rows in one record, written as they are.
        conversion_failed(
            &format!(
                "{}{}",
                row_json("f-1", H0 + 120, 500, "api-v1"),
                row_json("f-2", H1 + 120, 700, "api-v2")
            ),
            (H1 + 130) * 1000,
        ),
        // 7: a row whose bytes are not a number: rejected.
        conversion_failed(
            r#"{"flow_id":"f-3","start_ts":1714568530,"bytes":"lots"}"#,
            (H0 + 140) * 1000,
        ),
    ];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(conversion.join("\n").as_bytes()).unwrap();
    put(
        &rt,
        &client,
        "flows/errors/format-conversion-failed/2024/05/01/14/crossaz-flows-1-2024-05-01-14-06-00-0a9b8c7d.gz",
        gz.finish().unwrap(),
    );

    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("flows");
    let rejects = temp.path().join("rejects.jsonl");
    let (code, _, stderr) = crossaz(
        Some(&moto.endpoint),
        &[
            "reprocess",
            "--input",
            &format!("s3://{BUCKET}/flows/errors"),
            "--out",
            out.to_str().unwrap(),
            "--snapshots",
            &format!("s3://{BUCKET}/snapshots/prod"),
            "--format",
            FLOW_FORMAT,
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3, "rejects exist, so exit 3:\n{stderr}");
    for expected in [
        "read 2 error objects (0 unreadable): 7 documents = 4 processing-failed + 2 format-conversion-failed + 1 rejected",
        "lines 5  kept 2  dropped 2  failed 1",
        "format-conversion-failed -> Parquet: 2 rows written, 1 rejected",
        "wrote 4 rows in 2 files across 2 hours",
        "rejects: 3 entries",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // Every reject names its object and line and says why.
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut summary: Vec<(String, u64, String, String)> = entries
        .iter()
        .map(|e| {
            let origin = e["origin"].as_str().unwrap();
            let kind = if origin.contains("/processing-failed/") {
                "pf"
            } else {
                "fcf"
            };
            (
                format!("{kind}:{}", e["what"].as_str().unwrap()),
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
                e["raw"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    summary.sort();
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!((summary[0].0.as_str(), summary[0].1), ("fcf:row", 2));
    assert!(
        summary[0].2.contains("row 1 is not a crossaz row"),
        "{summary:?}"
    );
    assert_eq!(
        summary[0].3,
        r#"{"flow_id":"f-3","start_ts":1714568530,"bytes":"lots"}"#
    );
    assert_eq!((summary[1].0.as_str(), summary[1].1), ("pf:document", 4));
    assert!(
        summary[1].2.contains("not a Firehose error document"),
        "{summary:?}"
    );
    assert_eq!(summary[1].3, processing[3]);
    assert_eq!((summary[2].0.as_str(), summary[2].1), ("pf:line", 3));
    assert!(summary[2].2.contains("bytes"), "{summary:?}");
    assert_eq!(
        summary[2].3,
        line(CLIENT_IP, SERVER_IP, "lots", H0 + 60, "egress")
    );

    // The Parquet read back: each hour credited to the pod that held the IP then.
    let rows = sql_strings(
        out.to_str().unwrap(),
        "SELECT dt, flow_id IS NULL, dst_workload, dst_zone, sum(bytes), count(*) FROM flows \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
        &crossaz::local::AwsOptions::default(),
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "2024-05-01-13",
            "false",
            "api-v1",
            "us-east-1b",
            "1500",
            "2",
        ],
        vec![
            "2024-05-01-14",
            "false",
            "api-v2",
            "us-east-1b",
            "2700",
            "2",
        ],
    ];
    assert_eq!(rows, expected);
    let sources = sql_strings(
        out.to_str().unwrap(),
        "SELECT src_workload, src_zone, count(*) FROM flows GROUP BY 1, 2",
        &crossaz::local::AwsOptions::default(),
    );
    assert_eq!(sources, vec![vec!["client", "us-east-1a", "4"]]);
}

#[test]
fn reprocess_into_a_firehose_stream_in_batches() {
    use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};

    let moto = Moto::start();
    let rt = runtime();
    let aws = moto.aws();
    let client = rt.block_on(aws.s3_client());
    for bucket in [BUCKET, "crossaz-stream-dest"] {
        rt.block_on(client.create_bucket().bucket(bucket).send())
            .unwrap();
    }
    let firehose = aws_sdk_firehose::Client::new(&rt.block_on(aws.sdk_config()));
    rt.block_on(
        firehose
            .create_delivery_stream()
            .delivery_stream_name("crossaz-flows")
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .bucket_arn("arn:aws:s3:::crossaz-stream-dest")
                    .role_arn("arn:aws:iam::111122223333:role/crossaz-firehose")
                    .prefix("delivered/")
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .unwrap();

    // 1,203 failed records over two objects: three PutRecordBatch calls of ≤ 500.
    let payloads: Vec<String> = (0..1203)
        .map(|i| {
            serde_json::json!({
                "message": line(CLIENT_IP, SERVER_IP, &(10_000 + i).to_string(), H0 + 60, "egress")
            })
            .to_string()
        })
        .collect();
    for (n, chunk) in payloads.chunks(700).enumerate() {
        let body: Vec<String> = chunk
            .iter()
            .map(|p| processing_failed(p, (H0 + 70) * 1000))
            .collect();
        put(
            &rt,
            &client,
            &format!(
                "errors/processing-failed/2024/05/01/13/crossaz-flows-1-2024-05-01-13-0{n}-00-x{n}"
            ),
            body.join("\n").into_bytes(),
        );
    }
    // Rows cannot go back through the transform: rejected, not lost.
    put(
        &rt,
        &client,
        "errors/format-conversion-failed/2024/05/01/13/crossaz-flows-1-2024-05-01-13-09-00-y",
        conversion_failed(&row_json("f-9", H0, 1, "api-v1"), H0 * 1000).into_bytes(),
    );

    let temp = tempfile::tempdir().unwrap();
    let rejects = temp.path().join("rejects.jsonl");
    let (code, _, stderr) = crossaz(
        Some(&moto.endpoint),
        &[
            "reprocess",
            "--input",
            &format!("s3://{BUCKET}/errors/"),
            "--firehose-stream",
            "crossaz-flows",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    for expected in [
        "1204 documents = 1203 processing-failed + 1 format-conversion-failed + 0 rejected",
        "Firehose stream crossaz-flows: 1203 records put, 0 failed, 3 PutRecordBatch calls",
        "rejects: 1 entries",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let reject: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert!(
        reject["reason"].as_str().unwrap().contains("--out"),
        "{reject}"
    );

    // moto writes each PutRecordBatch straight to the destination: every record arrived once.
    let listed = rt
        .block_on(
            client
                .list_objects_v2()
                .bucket("crossaz-stream-dest")
                .prefix("delivered/")
                .send(),
        )
        .unwrap();
    let mut delivered = String::new();
    for object in listed.contents() {
        let body = rt
            .block_on(
                client
                    .get_object()
                    .bucket("crossaz-stream-dest")
                    .key(object.key().unwrap())
                    .send(),
            )
            .unwrap()
            .body;
        let bytes = rt.block_on(body.collect()).unwrap().into_bytes();
        delivered.push_str(std::str::from_utf8(&bytes).unwrap());
    }
    assert_eq!(listed.contents().len(), 3, "one object per call");
    assert_eq!(delivered.matches("{\"message\":").count(), 1203);
    for payload in &payloads {
        assert_eq!(delivered.matches(payload.as_str()).count(), 1, "{payload}");
    }
}

#[test]
fn reprocess_local_folder_with_one_snapshot() {
    // Error objects copied to a local folder; one snapshot file for every record.
    let temp = tempfile::tempdir().unwrap();
    let errors = temp.path().join("errors/processing-failed/2024/05/01/13");
    std::fs::create_dir_all(&errors).unwrap();
    let message = |l: String| serde_json::json!({ "message": l }).to_string();
    let docs = [
        processing_failed(
            &message(line(CLIENT_IP, SERVER_IP, "640", H0 + 10, "egress")),
            (H0 + 20) * 1000,
        ),
        // No lambdaArn or errorCode: the folder name says processing-failed.
        serde_json::json!({
            "rawData": b64(message(line(CLIENT_IP, SERVER_IP, "360", H0 + 30, "egress")).as_bytes()),
            "attemptsMade": 1,
            "arrivalTimestamp": (H0 + 40) * 1000
        })
        .to_string(),
    ];
    std::fs::write(errors.join("a"), format!("{}\n\n", docs.join("\r\n"))).unwrap();
    let snap = snapshot(
        H0 + 600,
        vec![
            pod("client-1", "client", "n-a", CLIENT_IP, H0 - 600, H0 + 600),
            pod("api-v1-x", "api-v1", "n-b", SERVER_IP, H0 - 600, H0 + 600),
        ],
    );
    let snapshot_file = temp.path().join("snap.json.zst");
    std::fs::write(&snapshot_file, pod_cache::codec::encode(&snap).unwrap()).unwrap();
    let out = temp.path().join("flows");
    let rejects = temp.path().join("rejects.jsonl");
    let (code, _, stderr) = crossaz(
        None,
        &[
            "reprocess",
            "--input",
            temp.path().join("errors").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--snapshot",
            snapshot_file.to_str().unwrap(),
            "--format",
            FLOW_FORMAT,
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "2 documents = 2 processing-failed + 0 format-conversion-failed + 0 rejected"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("rejects: none"), "{stderr}");
    assert!(!rejects.exists());
    let rows = sql_strings(
        out.to_str().unwrap(),
        "SELECT dt, dst_workload, count(*), sum(bytes) FROM flows GROUP BY 1, 2",
        &crossaz::local::AwsOptions::default(),
    );
    assert_eq!(rows, vec![vec!["2024-05-01-13", "api-v1", "2", "1000"]]);
}

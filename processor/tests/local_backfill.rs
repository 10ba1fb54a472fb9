//! `crossaz backfill` against a moto server: three hours of a flow-log archive in the S3
//! delivery layout, three history snapshots in which the same IP belongs to a different pod each
//! hour, output and resume markers on S3; a re-run skips finished hours and cleans up after an
//! interrupted one.
#![cfg(feature = "cli")]

mod local_support;

use std::io::Write as _;

use aws_sdk_s3::primitives::ByteStream;
use local_support::{
    CLIENT_IP, FLOW_FORMAT, Moto, NEIGHBOUR_IP, SERVER_IP, crossaz, pod, runtime, snapshot,
    sql_strings,
};
use pod_cache::store::SnapshotStore;

const BUCKET: &str = "crossaz-backfill";
/// 2024-05-01T13:00:00Z, 14:00 and 15:00.
const H0: i64 = 1_714_568_400;
const H1: i64 = H0 + 3600;
const H2: i64 = H1 + 3600;
const ROOT: &str = "archive/AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/05/01";

fn line(src: &str, dst: &str, bytes: u64, start: i64, direction: &str) -> String {
    format!("5 111122223333 eni-0a1b {src} {dst} {bytes} {start} {direction}")
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
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

fn keys(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let listed = rt
        .block_on(
            client
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix(prefix)
                .send(),
        )
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// The server IP belongs to api-v1 until 14:00, to api-v2 until 15:00, then to api-v3. Each
/// snapshot retains the pod that left in the hour before (pod-cache retention), not older ones.
fn publish_history(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client) {
    let store = SnapshotStore::new(client.clone(), BUCKET, "snapshots/");
    let fixed = |seen| {
        vec![
            pod("client-1", "client", "n-a", CLIENT_IP, H0 - 7200, seen),
            pod("cache-1", "cache", "n-a", NEIGHBOUR_IP, H0 - 7200, seen),
        ]
    };
    let v1 = |seen| pod("api-v1-a", "api-v1", "n-b", SERVER_IP, H0 - 3600, seen);
    let v2 = |seen| pod("api-v2-b", "api-v2", "n-b", SERVER_IP, H1, seen);
    let v3 = |seen| pod("api-v3-c", "api-v3", "n-b", SERVER_IP, H2, seen);
    let snapshots = [
        (H0 + 1800, vec![v1(H0 + 1800)]),
        (H1 + 1800, vec![v1(H1 - 30), v2(H1 + 1800)]),
        (H2 + 1800, vec![v2(H2 - 30), v3(H2 + 1800)]),
    ];
    for (at, pods) in snapshots {
        let mut all = fixed(at);
        all.extend(pods);
        rt.block_on(store.publish(&snapshot(at, all))).unwrap();
    }
}

/// Delivery files by their `HHMM` stamp; each holds records whose `end` fell in its slot.
fn publish_archive(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client) {
    let files: [(&str, Vec<String>); 7] = [
        // Hour 12's file: outside the range.
        (
            "1255",
            vec![line(CLIENT_IP, SERVER_IP, 777, H0 - 600, "egress")],
        ),
        (
            "1305",
            vec![
                line(CLIENT_IP, SERVER_IP, 1000, H0 + 60, "egress"),
                line(SERVER_IP, CLIENT_IP, 1000, H0 + 60, "ingress"),
            ],
        ),
        (
            "1355",
            vec![
                line(CLIENT_IP, SERVER_IP, 1100, H0 + 3000, "egress"),
                line(CLIENT_IP, NEIGHBOUR_IP, 50, H0 + 3000, "egress"),
            ],
        ),
        // Hour 14's file with a flow that started at 13:59: dt 13, processed by hour 14's job.
        (
            "1400",
            vec![line(CLIENT_IP, SERVER_IP, 1200, H0 + 3540, "egress")],
        ),
        (
            "1430",
            vec![line(CLIENT_IP, SERVER_IP, 2000, H1 + 1700, "egress")],
        ),
        (
            "1505",
            vec![line(CLIENT_IP, SERVER_IP, 3000, H2 + 200, "egress")],
        ),
        // Hour 16's file: its 15:59 flow belongs to a backfill that includes hour 16.
        (
            "1600",
            vec![line(CLIENT_IP, SERVER_IP, 9999, H2 + 3590, "egress")],
        ),
    ];
    for (stamp, lines) in files {
        let text = format!("{FLOW_FORMAT}\n{}\n", lines.join("\n"));
        put(
            rt,
            client,
            &format!(
                "{ROOT}/111122223333_vpcflowlogs_us-east-1_fl-0a1b2c3d_20240501T{stamp}Z_5e6f7a8b.log.gz"
            ),
            gzip(&text),
        );
    }
}

fn backfill(moto: &Moto, to: &str) -> (i32, String) {
    let (code, _, stderr) = crossaz(
        Some(&moto.endpoint),
        &[
            "backfill",
            "--input",
            &format!("s3://{BUCKET}/archive"),
            "--from",
            "2024-05-01T13:00:00Z",
            "--to",
            to,
            "--snapshots",
            &format!("s3://{BUCKET}/snapshots/prod"),
            "--out",
            &format!("s3://{BUCKET}/flows"),
            "--errors-dir",
            std::env::temp_dir()
                .join(format!("crossaz-backfill-test-{}", std::process::id()))
                .to_str()
                .unwrap(),
        ],
    );
    (code, stderr)
}

#[test]
fn backfill_attributes_each_hour_with_its_snapshot_and_resumes() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = moto.aws();
    let client = rt.block_on(aws.s3_client());
    rt.block_on(client.create_bucket().bucket(BUCKET).send())
        .unwrap();
    publish_history(&rt, &client);
    publish_archive(&rt, &client);

    // First run: hours 13 and 14.
    let (code, stderr) = backfill(&moto, "2024-05-01T15:00:00Z");
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "hour 2024-05-01-13: 2 files, snapshot of 2024-05-01T13:30:00Z (3 pods): lines 4 kept 2 dropped 2 failed 0 -> 2 rows",
        "hour 2024-05-01-14: 2 files, snapshot of 2024-05-01T14:30:00Z (4 pods): lines 2 kept 2 dropped 0 failed 0 -> 2 rows",
        "2 hours done, 0 skipped (already finished), 0 failed; 4 files, 6 lines, 4 rows written",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let marker_14: serde_json::Value = {
        let body = rt
            .block_on(
                client
                    .get_object()
                    .bucket(BUCKET)
                    .key("flows/_backfill/dt=2024-05-01-14/_SUCCESS")
                    .send(),
            )
            .unwrap()
            .body;
        serde_json::from_slice(&rt.block_on(body.collect()).unwrap().into_bytes()).unwrap()
    };
    assert_eq!(marker_14["files"], 2);
    assert_eq!(marker_14["rows"], 2);
    assert_eq!(
        marker_14["rows_per_dt"],
        serde_json::json!({"2024-05-01-13": 1, "2024-05-01-14": 1})
    );
    assert_eq!(marker_14["snapshot_generated_at"], H1 + 1800);

    // An interrupted attempt at hour 15 left a file in dt 14 (and no marker).
    let leftover_source = keys(&rt, &client, "flows/dt=2024-05-01-14/")
        .into_iter()
        .find(|k| k.contains("/backfill-2024050114-"))
        .unwrap();
    let body = rt
        .block_on(
            client
                .get_object()
                .bucket(BUCKET)
                .key(&leftover_source)
                .send(),
        )
        .unwrap()
        .body;
    put(
        &rt,
        &client,
        "flows/dt=2024-05-01-14/backfill-2024050115-interrupted-00001.parquet",
        rt.block_on(body.collect()).unwrap().into_bytes().to_vec(),
    );

    // Second run over all three hours: 13 and 14 skipped, 15 cleaned and done.
    let (code, stderr) = backfill(&moto, "2024-05-01T16:00:00Z");
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "hour 2024-05-01-13: already finished (2 files, 4 lines, 2 rows",
        "hour 2024-05-01-14: already finished (2 files, 2 lines, 2 rows",
        "hour 2024-05-01-15: removed 1 files of an interrupted earlier attempt",
        "hour 2024-05-01-15: 1 files, snapshot of 2024-05-01T15:30:00Z (4 pods): lines 1 kept 1 dropped 0 failed 0 -> 1 rows",
        "1 hours done, 2 skipped (already finished), 0 failed; 1 files, 1 lines, 1 rows written",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    // Each hour credited to the pod that held the IP then; nothing twice, nothing from 12 or 16.
    let rows = sql_strings(
        &format!("s3://{BUCKET}/flows"),
        "SELECT dt, dst_workload, dst_pod, count(*), sum(bytes) FROM flows GROUP BY 1, 2, 3 ORDER BY 1",
        &aws,
    );
    assert_eq!(
        rows,
        vec![
            vec!["2024-05-01-13", "api-v1", "api-v1-a", "3", "3300"],
            vec!["2024-05-01-14", "api-v2", "api-v2-b", "1", "2000"],
            vec!["2024-05-01-15", "api-v3", "api-v3-c", "1", "3000"],
        ]
    );
    assert_eq!(keys(&rt, &client, "flows/_backfill/").len(), 3);

    // Third run: nothing left to do.
    let (code, stderr) = backfill(&moto, "2024-05-01T16:00:00Z");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "0 hours done, 3 skipped (already finished), 0 failed; 0 files, 0 lines, 0 rows written"
        ),
        "{stderr}"
    );
    let rows = sql_strings(
        &format!("s3://{BUCKET}/flows"),
        "SELECT count(*), sum(bytes) FROM flows",
        &aws,
    );
    assert_eq!(rows, vec![vec!["5", "8300"]]);
}

#[test]
fn backfill_refuses_bounds_off_the_hour() {
    let (code, _, stderr) = crossaz(
        None,
        &[
            "backfill",
            "--input",
            "/nonexistent",
            "--from",
            "2024-05-01T13:30:00Z",
            "--to",
            "2024-05-01T15:00:00Z",
            "--snapshots",
            "/nonexistent",
            "--out",
            "/nonexistent",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("not on an hour boundary"), "{stderr}");
}

#[test]
fn backfill_from_local_folders() {
    // The same archive and history as files: `<root>/AWSLogs/…` and `<snapshots>/prod/history/…`.
    let temp = tempfile::tempdir().unwrap();
    let archive = temp.path().join("archive");
    let day = archive.join("AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/05/01");
    std::fs::create_dir_all(&day).unwrap();
    let files = [
        ("1310", line(CLIENT_IP, SERVER_IP, 100, H0 + 300, "egress")),
        ("1400", line(CLIENT_IP, SERVER_IP, 200, H0 + 3590, "egress")),
        ("1410", line(CLIENT_IP, SERVER_IP, 400, H1 + 300, "egress")),
    ];
    for (stamp, l) in files {
        std::fs::write(
            day.join(format!(
                "111122223333_vpcflowlogs_us-east-1_fl-1_20240501T{stamp}Z_ab.log.gz"
            )),
            gzip(&format!("{FLOW_FORMAT}\n{l}\n")),
        )
        .unwrap();
    }
    let history = temp.path().join("snapshots");
    let fixed = |seen| pod("client-1", "client", "n-a", CLIENT_IP, H0 - 7200, seen);
    let snapshots = [
        snapshot(
            H0 + 600,
            vec![
                fixed(H0 + 600),
                pod("api-v1-a", "api-v1", "n-b", SERVER_IP, H0 - 3600, H0 + 600),
            ],
        ),
        snapshot(
            H1 + 600,
            vec![
                fixed(H1 + 600),
                pod("api-v1-a", "api-v1", "n-b", SERVER_IP, H0 - 3600, H1 - 5),
                pod("api-v2-b", "api-v2", "n-b", SERVER_IP, H1, H1 + 600),
            ],
        ),
    ];
    for s in &snapshots {
        let path = history.join(pod_cache::store::history_key("", "prod", s.generated_at));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pod_cache::codec::encode(s).unwrap()).unwrap();
    }
    let out = temp.path().join("flows");
    let (code, _, stderr) = crossaz(
        None,
        &[
            "backfill",
            "--input",
            archive.to_str().unwrap(),
            "--from",
            "2024-05-01T13:00:00Z",
            "--to",
            "2024-05-01T15:00:00Z",
            "--snapshots",
            history.join("prod").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "2 hours done, 0 skipped (already finished), 0 failed; 3 files, 3 lines, 3 rows written"
        ),
        "{stderr}"
    );
    assert!(out.join("_backfill/dt=2024-05-01-13/_SUCCESS").is_file());
    let rows = sql_strings(
        out.to_str().unwrap(),
        "SELECT dt, dst_workload, sum(bytes) FROM flows GROUP BY 1, 2 ORDER BY 1",
        &crossaz::local::AwsOptions::default(),
    );
    assert_eq!(
        rows,
        vec![
            vec!["2024-05-01-13", "api-v1", "300"],
            vec!["2024-05-01-14", "api-v2", "400"],
        ]
    );
}

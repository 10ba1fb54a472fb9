//! The snapshot store and full extractor runs against a real S3 peer (moto server, started here)
//! and the Kubernetes API fixture: latest + history written, conditional reads (304), history
//! lookup by time, merge with the previous `latest`, loud failures when S3 refuses, the binary
//! end to end, and `eks:DescribeCluster` against moto's EKS.
#![cfg(feature = "extractor")]

mod support;

use pod_cache::Snapshot;
use pod_cache::build::DEFAULT_APP_LABEL_KEYS;
use pod_cache::extract::{
    Destination, ExtractError, ExtractRequest, Previous, run_extract, run_history,
};
use pod_cache::store::{Fetched, SnapshotStore, StoreError, history_key, latest_key};
use support::cluster::{T0, expected_small_snapshot, small_nodes, small_pods};
use support::k8s_fixture::{Fixture, FixtureServer, Items};
use support::moto::Moto;
use support::{fast_list_options, plain_client};

const BUCKET: &str = "crossaz-snapshots";

fn snapshot_at(generated_at: i64) -> Snapshot {
    let mut snapshot = expected_small_snapshot();
    snapshot.generated_at = generated_at;
    for pod in &mut snapshot.pods {
        pod.first_seen = generated_at;
        pod.last_seen = generated_at;
    }
    snapshot
}

async fn keys(store: &SnapshotStore) -> Vec<String> {
    let listed = store
        .client
        .list_objects_v2()
        .bucket(&store.bucket)
        .send()
        .await
        .expect("list");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn store_publishes_reads_conditionally_and_finds_history() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let store = SnapshotStore::new(moto.s3_client(), BUCKET, "snapshots");

    assert_eq!(store.load_latest("demo").await.expect("empty"), None);
    let latest = latest_key(&store.prefix, "demo");
    assert_eq!(latest, "snapshots/demo/latest");
    assert_eq!(
        store.load_if_changed(&latest, None).await.expect("get"),
        Fetched::NotFound
    );

    // Three runs: 05:59:30, 06:00:30, 06:10:00 (T0 is 05:00:00).
    let times = [T0 + 3570, T0 + 3630, T0 + 4200];
    for &at in &times {
        let published = store.publish(&snapshot_at(at)).await.expect("publish");
        assert_eq!(published.history, history_key("snapshots/", "demo", at));
        assert_eq!(published.latest, "snapshots/demo/latest");
        assert!(published.bytes > 0);
    }
    assert_eq!(
        keys(&store).await,
        [
            format!(
                "snapshots/demo/history/dt=2026-11-27-05/{}.json.zst",
                T0 + 3570
            ),
            format!(
                "snapshots/demo/history/dt=2026-11-27-06/{}.json.zst",
                T0 + 3630
            ),
            format!(
                "snapshots/demo/history/dt=2026-11-27-06/{}.json.zst",
                T0 + 4200
            ),
            "snapshots/demo/latest".to_owned(),
        ]
    );

    // latest is the last run; a conditional read with its ETag is a 304.
    let (snapshot, etag) = store.load_latest("demo").await.expect("get").expect("some");
    assert_eq!(snapshot, snapshot_at(T0 + 4200));
    assert!(!etag.is_empty());
    assert_eq!(
        store
            .load_if_changed(&latest, Some(&etag))
            .await
            .expect("get"),
        Fetched::NotModified
    );
    assert_eq!(
        store
            .load_if_changed(&latest, Some("\"stale-etag\""))
            .await
            .expect("get"),
        Fetched::Changed {
            snapshot: snapshot_at(T0 + 4200),
            etag: etag.clone()
        }
    );
    store
        .publish(&snapshot_at(T0 + 4260))
        .await
        .expect("publish");
    match store
        .load_if_changed(&latest, Some(&etag))
        .await
        .expect("get")
    {
        Fetched::Changed {
            snapshot,
            etag: new_etag,
        } => {
            assert_eq!(snapshot.generated_at, T0 + 4260);
            assert_ne!(new_etag, etag);
        }
        other => panic!("expected Changed, got {other:?}"),
    }

    // History by time: same hour, previous hour, exact second, before everything.
    let cases = [
        (T0 + 3900, Some(T0 + 3630)), // 06:05 → 06:00:30
        (T0 + 3610, Some(T0 + 3570)), // 06:00:10 → 05:59:30 in the previous hour
        (T0 + 4200, Some(T0 + 4200)), // exact
        (T0 + 9000, Some(T0 + 4260)), // 07:30 → newest, an hour back
        (T0 + 3000, None),            // before the first run
    ];
    for (at, expected) in cases {
        let found = store.load_at("demo", at).await.expect("load_at");
        assert_eq!(found.map(|s| s.generated_at), expected, "at {at}");
    }
    assert_eq!(
        store
            .load_at("other-cluster", T0 + 4200)
            .await
            .expect("load_at"),
        None
    );
}

#[tokio::test]
async fn a_garbage_object_is_a_decode_error_naming_the_key() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let store = SnapshotStore::new(moto.s3_client(), BUCKET, "snapshots/");
    store
        .client
        .put_object()
        .bucket(BUCKET)
        .key("snapshots/demo/latest")
        .body(b"not a snapshot".to_vec().into())
        .send()
        .await
        .expect("put");
    let err = store.load_latest("demo").await.expect_err("garbage");
    assert!(matches!(err, StoreError::Decode { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "s3://crossaz-snapshots/snapshots/demo/latest is not a readable snapshot: "
        ),
        "{err}"
    );
}

fn request() -> ExtractRequest {
    ExtractRequest {
        cluster: "demo".into(),
        app_label_keys: DEFAULT_APP_LABEL_KEYS.map(str::to_owned).to_vec(),
        namespaces: vec![],
        retention_secs: 3600,
        list: fast_list_options(4),
    }
}

#[tokio::test]
async fn runs_publish_and_merge_with_the_previous_latest() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let store = SnapshotStore::new(moto.s3_client(), BUCKET, "snapshots/");
    let destination = Destination::S3(store.clone());

    let first = FixtureServer::start(Fixture {
        pods: Items::Raw(small_pods()),
        nodes: Items::Raw(small_nodes()),
        token: None,
        faults: vec![],
    })
    .await;
    let report = run_extract(
        &plain_client(&first.url()),
        &request(),
        &Previous::Latest,
        &destination,
        T0,
    )
    .await
    .expect("first run");
    let published = report.published.clone().expect("published");
    assert_eq!(published.latest, "snapshots/demo/latest");
    assert_eq!(
        published.history,
        format!("snapshots/demo/history/dt=2026-11-27-05/{T0}.json.zst")
    );
    assert_eq!(report.snapshot_bytes, published.bytes);
    let (latest, _) = store.load_latest("demo").await.expect("get").expect("some");
    assert_eq!(latest, expected_small_snapshot());

    // A minute later db-0 is gone from the cluster: the merge keeps it (retention 1 h) with its
    // old last_seen, and the pods still present keep their first_seen.
    let without_db: Vec<String> = small_pods()
        .into_iter()
        .filter(|p| !p.contains("\"db-0\""))
        .collect();
    let second = FixtureServer::start(Fixture {
        pods: Items::Raw(without_db),
        nodes: Items::Raw(small_nodes()),
        token: None,
        faults: vec![],
    })
    .await;
    let report = run_extract(
        &plain_client(&second.url()),
        &request(),
        &Previous::Latest,
        &destination,
        T0 + 60,
    )
    .await
    .expect("second run");
    assert_eq!(report.snapshot_pods, 6);
    assert_eq!(report.listed_pods, 6);
    let (latest, _) = store.load_latest("demo").await.expect("get").expect("some");
    assert_eq!(latest.generated_at, T0 + 60);
    let seen: Vec<(&str, i64, i64)> = latest
        .pods
        .iter()
        .map(|p| (p.name.as_str(), p.first_seen, p.last_seen))
        .collect();
    assert_eq!(
        seen,
        [
            ("report-29400000-q8w4z", T0, T0 + 60),
            ("aws-node-k7x2p", T0, T0 + 60),
            ("db-0", T0, T0),
            ("web-7c9d8b6f5-abcde", T0, T0 + 60),
            ("web-7c9d8b6f5-fghij", T0, T0 + 60),
            ("web-7c9d8b6f5-klmno", T0, T0 + 60),
        ]
    );

    // `history` finds the first run's snapshot at 05:00:30 and writes it to a file.
    let out = std::env::temp_dir().join(format!("crossaz-history-{}.json.zst", std::process::id()));
    let snapshot = run_history(&store, "demo", T0 + 30, &out)
        .await
        .expect("history");
    assert_eq!(snapshot, expected_small_snapshot());
    assert_eq!(
        pod_cache::extract::read_snapshot_file(&out).expect("file"),
        snapshot
    );
    let err = run_history(&store, "demo", T0 - 1, &out)
        .await
        .expect_err("nothing before T0");
    assert_eq!(
        err.to_string(),
        format!(
            "no snapshot of cluster demo at or before {} in s3://crossaz-snapshots/snapshots/",
            T0 - 1
        )
    );
    let _ = std::fs::remove_file(out);
}

#[tokio::test]
async fn a_missing_bucket_fails_the_run_with_a_clear_error() {
    let moto = Moto::start();
    let store = SnapshotStore::new(moto.s3_client(), "no-such-bucket", "snapshots/");
    let server = FixtureServer::start(Fixture {
        pods: Items::Raw(small_pods()),
        nodes: Items::Raw(small_nodes()),
        token: None,
        faults: vec![],
    })
    .await;
    let client = plain_client(&server.url());

    // Reading the previous latest fails first…
    let err = run_extract(
        &client,
        &request(),
        &Previous::Latest,
        &Destination::S3(store.clone()),
        T0,
    )
    .await
    .expect_err("no bucket");
    let message = err.to_string();
    assert!(
        matches!(err, ExtractError::Store(StoreError::Get { .. })),
        "{err:?}"
    );
    assert!(
        message.starts_with("S3 GetObject s3://no-such-bucket/snapshots/demo/latest failed: "),
        "{message}"
    );
    assert!(
        message.contains("NoSuchBucket") && message.ends_with("(HTTP 404)"),
        "{message}"
    );

    // …and without a previous snapshot, the first write fails: nothing is reported as published.
    let err = run_extract(
        &client,
        &request(),
        &Previous::None,
        &Destination::S3(store),
        T0,
    )
    .await
    .expect_err("no bucket");
    let message = err.to_string();
    assert!(
        matches!(err, ExtractError::Store(StoreError::Put { .. })),
        "{err:?}"
    );
    assert!(
        message.starts_with(&format!(
            "S3 PutObject s3://no-such-bucket/snapshots/demo/history/dt=2026-11-27-05/{T0}.json.zst failed: "
        )),
        "{message}"
    );
    assert!(
        message.contains("NoSuchBucket") && message.ends_with("(HTTP 404)"),
        "{message}"
    );
}

/// Runs the `crossaz-extractor` binary with moto's endpoint and dummy credentials.
async fn run_binary(moto: &Moto, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_crossaz-extractor"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("run crossaz-extractor")
}

#[tokio::test]
async fn the_binary_extracts_to_s3_fetches_history_and_fails_loudly() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let server = FixtureServer::start(Fixture {
        pods: Items::Raw(small_pods()),
        nodes: Items::Raw(small_nodes()),
        token: Some("fixture-token".into()),
        faults: vec![],
    })
    .await;
    let scratch = tempfile::tempdir().expect("temp dir");
    let kubeconfig = server.write_kubeconfig(scratch.path(), "fixture-token");
    let kubeconfig = kubeconfig.to_str().expect("utf8");
    let out = format!("s3://{BUCKET}/snaps/");

    let extract = run_binary(
        &moto,
        &[
            "extract",
            "--kubeconfig",
            kubeconfig,
            "--cluster",
            "demo",
            "--out",
            &out,
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&extract.stdout);
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    let history = history_key("snaps/", "demo", {
        let store = SnapshotStore::new(moto.s3_client(), BUCKET, "snaps/");
        let (latest, _) = store
            .load_latest("demo")
            .await
            .expect("get")
            .expect("published");
        assert_eq!(latest.pods.len(), expected_small_snapshot().pods.len());
        latest.generated_at
    });
    assert!(
        stdout.contains(&format!("-> {history} and snaps/demo/latest")),
        "{stdout}"
    );
    assert!(
        stdout
            .starts_with("cluster demo: 6 pods (7 listed), 3 nodes, 2 pages, 1 decode failures, "),
        "{stdout}"
    );

    let file = scratch.path().join("history.json.zst");
    let at = chrono::Utc::now().to_rfc3339();
    let fetched = run_binary(
        &moto,
        &[
            "history",
            &out,
            "--cluster",
            "demo",
            "--at",
            &at,
            "--out",
            file.to_str().expect("utf8"),
        ],
    )
    .await;
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let snapshot = pod_cache::extract::read_snapshot_file(&file).expect("history file");
    assert_eq!(snapshot.cluster, "demo");
    assert_eq!(snapshot.pods.len(), 6);

    let failed = run_binary(
        &moto,
        &[
            "extract",
            "--kubeconfig",
            kubeconfig,
            "--cluster",
            "demo",
            "--out",
            "s3://no-such-bucket/x/",
        ],
    )
    .await;
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty(), "no summary for a failed run");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(
            "crossaz-extractor: S3 GetObject s3://no-such-bucket/x/demo/latest failed: NoSuchBucket"
        ),
        "{stderr}"
    );
    let usage = run_binary(&moto, &["extract"]).await;
    assert_eq!(usage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("extract: --out is required"));
}

#[tokio::test]
async fn describe_cluster_reads_endpoint_and_ca_from_eks() {
    let moto = Moto::start();
    let config = aws_sdk_eks::Config::builder()
        .behavior_version(aws_sdk_eks::config::BehaviorVersion::latest())
        .region(aws_sdk_eks::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .build();
    let eks = aws_sdk_eks::Client::from_conf(config);
    let created = eks
        .create_cluster()
        .name("demo")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
        .send()
        .await
        .expect("create cluster");
    let cluster = created.cluster().expect("cluster");
    let endpoint = pod_cache::extract::eks::describe_cluster(&eks, "demo")
        .await
        .expect("describe");
    assert_eq!(endpoint.name, "demo");
    assert_eq!(Some(endpoint.endpoint.as_str()), cluster.endpoint());
    assert!(
        endpoint.endpoint.starts_with("https://"),
        "{}",
        endpoint.endpoint
    );
    assert_eq!(
        endpoint.ca_data.as_deref(),
        cluster.certificate_authority().and_then(|ca| ca.data())
    );

    let err = pod_cache::extract::eks::describe_cluster(&eks, "missing")
        .await
        .expect_err("no such cluster");
    let message = err.to_string();
    assert!(
        message.starts_with("eks:DescribeCluster missing failed: "),
        "{message}"
    );
    assert!(message.contains("ResourceNotFoundException"), "{message}");
}

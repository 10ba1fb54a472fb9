//! The extractor's listing against the Kubernetes API fixture server: pagination, 410 restart,
//! 429/500 backoff, malformed items, namespace and label scoping, kubeconfig and EKS-token
//! clients, and kubectl reading the same fixture.
#![cfg(feature = "extractor")]

mod support;

use std::sync::Arc;

use pod_cache::build::{BuildOptions, DEFAULT_APP_LABEL_KEYS, build_snapshot};
use pod_cache::extract::eks::{ClusterEndpoint, TokenSource, eks_client};
use pod_cache::extract::list::{self, ListError, ListStats};
use pod_cache::extract::{ExtractRequest, extract_snapshot};
use pod_cache::merge::DEFAULT_RETENTION_SECS;
use support::cluster::{MALFORMED_POD, T0, small_nodes, small_pods};
use support::k8s_fixture::{Fault, FaultTarget, Fixture, FixtureServer, Items};
use support::{fast_list_options, full_nodes, full_pods, plain_client};

fn fault(path: &str, offset: usize, status: u16, times: u32) -> Fault {
    Fault {
        target: FaultTarget::Page {
            path: path.into(),
            offset,
        },
        status,
        times,
    }
}

fn small_fixture(faults: Vec<Fault>, token: Option<&str>) -> Fixture {
    Fixture {
        pods: Items::Raw(small_pods()),
        nodes: Items::Raw(small_nodes()),
        token: token.map(str::to_owned),
        faults,
    }
}

fn request(page_size: u32) -> ExtractRequest {
    ExtractRequest {
        cluster: "demo".into(),
        app_label_keys: DEFAULT_APP_LABEL_KEYS.map(str::to_owned).to_vec(),
        namespaces: vec![],
        retention_secs: DEFAULT_RETENTION_SECS,
        list: fast_list_options(page_size),
    }
}

#[tokio::test]
async fn pages_restarts_and_retries_yield_the_exact_snapshot() {
    let server = FixtureServer::start(small_fixture(
        vec![
            fault("/api/v1/nodes", 0, 429, 2),
            fault("/api/v1/pods", 3, 410, 1),
            fault("/api/v1/pods", 6, 500, 1),
        ],
        None,
    ))
    .await;
    let client = plain_client(&server.url());
    let (snapshot, report) = extract_snapshot(&client, &request(3), None, T0)
        .await
        .expect("extract");

    // Nodes: 429 twice then one page of 3. Pods: page 1, 410 on page 2 → restart, pages 1-2,
    // 500 on page 3 → retry, page 3 (the last: 8 items in pages of 3).
    assert_eq!(
        server.list_requests(),
        [
            "/api/v1/nodes limit=3 -> 429",
            "/api/v1/nodes limit=3 -> 429",
            "/api/v1/nodes limit=3 -> 200",
            "/api/v1/pods limit=3 -> 200",
            "/api/v1/pods continue@3 limit=3 -> 410",
            "/api/v1/pods limit=3 -> 200",
            "/api/v1/pods continue@3 limit=3 -> 200",
            "/api/v1/pods continue@6 limit=3 -> 500",
            "/api/v1/pods continue@6 limit=3 -> 200",
        ]
    );
    assert_eq!(report.list.pages, 5);
    assert_eq!(report.list.retries, 3);
    assert_eq!(report.list.restarts, 1);
    assert_eq!((report.listed_pods, report.listed_nodes), (7, 3));
    assert_eq!((report.pods_without_ip, report.build_skipped), (1, 0));
    // The malformed pod is skipped once (not once per pass through page 2) and named.
    assert_eq!(
        report.list.decode_failures.len(),
        1,
        "{:?}",
        report.list.decode_failures
    );
    let failure = &report.list.decode_failures[0];
    assert_eq!(
        (failure.kind, failure.object.as_str()),
        ("Pod", "shop/broken")
    );
    assert!(
        failure
            .reason
            .starts_with("spec.hostNetwork: invalid type: string \"yes\", expected a boolean"),
        "{}",
        failure.reason
    );

    // The slim decoding loses nothing `build` reads: the same objects decoded in full by
    // k8s-openapi build the identical snapshot.
    let options = BuildOptions {
        cluster: "demo".into(),
        app_label_keys: request(3).app_label_keys,
    };
    let (reference, _) = build_snapshot(
        &options,
        T0,
        &full_pods(&small_pods()),
        &full_nodes(&small_nodes()),
    );
    assert_eq!(snapshot, reference);
    assert_eq!(snapshot, support::cluster::expected_small_snapshot());
}

#[tokio::test]
async fn namespace_scope_and_label_selector_reach_the_server() {
    let server = FixtureServer::start(small_fixture(vec![], None)).await;
    let client = plain_client(&server.url());
    let mut options = fast_list_options(2);
    options.label_selector = Some("app=web".into());
    let mut stats = ListStats::default();
    let pods = list::list_pods(
        &client,
        &["shop".to_owned(), "batch".to_owned()],
        &options,
        &mut stats,
    )
    .await
    .expect("list");
    let names: Vec<_> = pods
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "web-7c9d8b6f5-abcde",
            "web-7c9d8b6f5-fghij",
            "web-7c9d8b6f5-klmno"
        ]
    );
    assert_eq!(
        server.list_requests(),
        [
            "/api/v1/namespaces/shop/pods labelSelector=app=web limit=2 -> 200",
            "/api/v1/namespaces/shop/pods continue@2 labelSelector=app=web limit=2 -> 200",
            "/api/v1/namespaces/batch/pods labelSelector=app=web limit=2 -> 200",
        ]
    );
    assert!(stats.decode_failures.is_empty());
}

#[tokio::test]
async fn retries_are_bounded_and_the_error_names_the_request() {
    let server = FixtureServer::start(small_fixture(
        vec![fault("/api/v1/nodes", 0, 500, 100)],
        None,
    ))
    .await;
    let client = plain_client(&server.url());
    let options = fast_list_options(3);
    let mut stats = ListStats::default();
    let err = list::list_nodes(&client, &options, &mut stats)
        .await
        .expect_err("500 forever must fail");
    assert!(
        matches!(err, ListError::Request { attempts: 6, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("GET /api/v1/nodes failed after 6 attempt(s): "),
        "{message}"
    );
    assert!(
        message.contains("etcdserver: request timed out"),
        "{message}"
    );
    assert_eq!(server.list_requests().len(), 6);
    assert_eq!(stats.retries, 5);
}

#[tokio::test]
async fn continue_tokens_that_keep_expiring_fail_the_list() {
    let server = FixtureServer::start(small_fixture(
        vec![fault("/api/v1/pods", 3, 410, 100)],
        None,
    ))
    .await;
    let client = plain_client(&server.url());
    let mut stats = ListStats::default();
    let err = list::list_pods(&client, &[], &fast_list_options(3), &mut stats)
        .await
        .expect_err("must give up");
    assert_eq!(
        err.to_string(),
        "listing /api/v1/pods restarted 3 times after 410 Gone; giving up"
    );
    // First pass plus three restarts, each reaching the expired second page.
    assert_eq!(server.list_requests().len(), 8);
    assert_eq!(stats.decode_failures.len(), 0);
}

#[tokio::test]
async fn a_page_that_is_not_a_list_fails_loudly() {
    let server = FixtureServer::start(Fixture {
        pods: Items::Raw(vec![
            "{\"metadata\":{\"name\":\"ok\"}}".into(),
            "not json".into(),
        ]),
        nodes: Items::Raw(vec![]),
        token: None,
        faults: vec![],
    })
    .await;
    let client = plain_client(&server.url());
    let mut stats = ListStats::default();
    let err = list::list_pods(&client, &[], &fast_list_options(10), &mut stats)
        .await
        .expect_err("broken page");
    assert!(
        err.to_string()
            .starts_with("GET /api/v1/pods returned a body that is not a list: "),
        "{err}"
    );
}

#[tokio::test]
async fn kubeconfig_with_plain_http_and_bearer_token_works() {
    let server = FixtureServer::start(small_fixture(vec![], Some("fixture-token"))).await;
    let scratch = tempdir();
    let dir = scratch.path();
    let kubeconfig = server.write_kubeconfig(dir, "fixture-token");
    let out = dir.join("snapshot.json.zst");
    let command = pod_cache::extract::cli::parse_args(
        &[
            "extract",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf8"),
            "--cluster",
            "demo",
            "--page-size",
            "4",
            "--out",
            out.to_str().expect("utf8"),
        ]
        .map(str::to_owned),
    )
    .expect("args");
    let summary = pod_cache::extract::cli::execute(&command, T0)
        .await
        .expect("extract");
    assert!(summary.starts_with("cluster demo: "), "{summary}");
    let written = pod_cache::extract::read_snapshot_file(&out).expect("snapshot file");
    assert_eq!(written, support::cluster::expected_small_snapshot());
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer fixture-token"),
            "{}",
            r.path
        );
        assert_eq!(r.status, 200, "{}", r.summary());
    }
}

#[tokio::test]
async fn wrong_token_is_a_clear_error() {
    let server = FixtureServer::start(small_fixture(vec![], Some("fixture-token"))).await;
    let scratch = tempdir();
    let dir = scratch.path();
    let kubeconfig = server.write_kubeconfig(dir, "wrong");
    let (client, cluster) = pod_cache::extract::cli::kubeconfig_client(Some(&kubeconfig))
        .await
        .expect("client");
    assert_eq!(cluster.as_deref(), Some("fixture"));
    let err = extract_snapshot(&client, &request(10), None, T0)
        .await
        .expect_err("401");
    let message = err.to_string();
    assert!(
        message.starts_with("GET /api/v1/nodes failed after 1 attempt(s): "),
        "{message}"
    );
    assert!(message.contains("Unauthorized"), "{message}");
}

#[tokio::test]
async fn eks_client_sends_an_iam_token_for_the_cluster() {
    let server = FixtureServer::start(small_fixture(vec![], None)).await;
    let tokens = Arc::new(TokenSource::new(
        "demo",
        "us-east-1",
        aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        ),
    ));
    let endpoint = ClusterEndpoint {
        name: "demo".into(),
        endpoint: server.url(),
        ca_data: None,
    };
    let client = eks_client(&endpoint, tokens).await.expect("client");
    let (snapshot, _) = extract_snapshot(&client, &request(100), None, T0)
        .await
        .expect("extract");
    assert_eq!(
        snapshot.pods.len(),
        support::cluster::expected_small_snapshot().pods.len()
    );
    let requests = server.requests();
    let first = requests[0].authorization.clone().expect("authorization");
    let token = first.strip_prefix("Bearer k8s-aws-v1.").expect("EKS token");
    let url = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token)
            .expect("b64"),
    )
    .expect("utf8");
    assert!(
        url.starts_with("https://sts.us-east-1.amazonaws.com/?"),
        "{url}"
    );
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
        "{url}"
    );
    // One token for the whole run: every request carries the same one.
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(first.as_str()))
    );
}

#[tokio::test]
async fn kubectl_reads_the_same_fixture() {
    let kubectl = std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    assert!(
        kubectl.is_ok_and(|o| o.status.success()),
        "kubectl is not installed; run .ci/install-extractor.sh (apt-get install kubectl or kubernetes-client)"
    );
    // client-go sends no bearer token over plain HTTP (kube-rs does, see the kubeconfig test),
    // so this fixture serves anonymous requests.
    let server = FixtureServer::start(small_fixture(vec![], None)).await;
    let scratch = tempdir();
    let dir = scratch.path();
    let kubeconfig = server.write_kubeconfig(dir, "unused-over-http");
    let output = tokio::process::Command::new("kubectl")
        .args(["--kubeconfig", kubeconfig.to_str().expect("utf8")])
        .args(["get", "pods", "-A", "-o", "json", "--chunk-size=3"])
        .output()
        .await
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).expect("kubectl json");
    let seen: Vec<(String, String, String)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let m = &item["metadata"];
            (
                m["namespace"].as_str().unwrap_or_default().to_owned(),
                m["name"].as_str().unwrap_or_default().to_owned(),
                m["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let fixture: Vec<(String, String, String)> = small_pods()
        .iter()
        .map(|raw| {
            let v: serde_json::Value = serde_json::from_str(raw).expect("fixture json");
            let m = &v["metadata"];
            (
                m["namespace"].as_str().unwrap_or_default().to_owned(),
                m["name"].as_str().unwrap_or_default().to_owned(),
                m["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(seen, fixture);
    assert!(MALFORMED_POD.contains("\"broken\""));
    // kubectl paged through the same continue tokens the extractor follows.
    let pages: Vec<String> = server
        .list_requests()
        .into_iter()
        .filter(|r| r.starts_with("/api/v1/pods"))
        .collect();
    assert_eq!(
        pages,
        [
            "/api/v1/pods limit=3 -> 200",
            "/api/v1/pods continue@3 limit=3 -> 200",
            "/api/v1/pods continue@6 limit=3 -> 200",
        ]
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

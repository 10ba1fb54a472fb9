//! Scale bench of the extractor: a generated cluster (default 100,000 pods on 5,000 nodes) served
//! by the Kubernetes API fixture, snapshots published to a moto S3 server, and the real
//! `crossaz-extractor extract` binary run as a child under `/usr/bin/time -v` so its peak RSS is
//! measured alone. Two runs: the first without a previous snapshot, the second merging with the
//! first's `latest` (the steady state of the Lambda). Reports numbers; asserts nothing.
//!
//! ```text
//! cargo build --release -p pod-cache --features extractor --bin crossaz-extractor --example extractor_scale
//! target/release/examples/extractor_scale [PODS] [NODES]
//! ```

#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/k8s_fixture.rs"]
mod k8s_fixture;
#[path = "../tests/support/moto.rs"]
mod moto;

use std::process::Command;
use std::time::Instant;

use k8s_fixture::{Fixture, FixtureServer, Items};

const BUCKET: &str = "crossaz-bench";
const DEFAULT_PODS: usize = 100_000;
const DEFAULT_NODES: usize = cluster::GENERATED_NODES;

fn field<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map_or("?", str::trim)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pods = args.first().copied().unwrap_or(DEFAULT_PODS);
    let nodes = args.get(1).copied().unwrap_or(DEFAULT_NODES);
    let extractor = std::env::current_exe()
        .expect("exe")
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("crossaz-extractor"))
        .expect("target dir");
    assert!(
        extractor.exists(),
        "build {} first (see the module docs)",
        extractor.display()
    );

    let server = FixtureServer::start(Fixture {
        pods: Items::Generated {
            count: pods,
            make: cluster::generated_pod,
        },
        nodes: Items::Generated {
            count: nodes,
            make: cluster::generated_node,
        },
        token: Some("bench-token".into()),
        faults: vec![],
    })
    .await;
    let moto = moto::Moto::start();
    moto.create_bucket(BUCKET).await;
    let dir = std::env::temp_dir().join(format!("crossaz-extractor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = server.write_kubeconfig(&dir, "bench-token");
    println!(
        "cluster: {pods} pods, {nodes} nodes; fixture {}; moto {}",
        server.url(),
        moto.endpoint
    );

    for run in ["first run (no previous)", "second run (merge with latest)"] {
        let started = Instant::now();
        let output = tokio::process::Command::new("/usr/bin/time")
            .arg("-v")
            .arg(&extractor)
            .args(["extract", "--kubeconfig"])
            .arg(&kubeconfig)
            .args([
                "--cluster",
                "bench",
                "--out",
                &format!("s3://{BUCKET}/snapshots/"),
            ])
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run extractor");
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "extractor failed:\n{stderr}");
        let max_rss_kib: f64 = field(&stderr, "Maximum resident set size (kbytes):")
            .parse()
            .unwrap_or(f64::NAN);
        println!("{run}:");
        println!("  {}", String::from_utf8_lossy(&output.stdout).trim());
        println!(
            "  wall time (list + merge + publish): {:.2} s",
            wall.as_secs_f64()
        );
        println!(
            "  user CPU {} s, system CPU {} s",
            field(&stderr, "User time (seconds):"),
            field(&stderr, "System time (seconds):")
        );
        println!("  peak RSS: {:.1} MiB", max_rss_kib / 1024.0);
        println!("  pods/s listed: {:.0}", pods as f64 / wall.as_secs_f64());
    }
    let head = moto
        .s3_client()
        .head_object()
        .bucket(BUCKET)
        .key("snapshots/bench/latest")
        .send()
        .await
        .expect("head latest");
    let size = head.content_length().unwrap_or_default();
    println!(
        "snapshot size: {size} bytes ({:.1} MiB, {:.1} bytes/pod)",
        size as f64 / 1_048_576.0,
        size as f64 / pods as f64
    );
    let list_requests = server.list_requests();
    println!(
        "API requests: {} list pages ({} pods pages of 500 expected: {})",
        list_requests.len(),
        list_requests
            .iter()
            .filter(|r| r.starts_with("/api/v1/pods"))
            .count(),
        pods.div_ceil(500) * 2
    );
    let _ = Command::new("rm").arg("-rf").arg(&dir).status();
}

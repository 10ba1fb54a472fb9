//! Shared helpers for the `local_*` integration tests: hand-built rows with their expected
//! aggregates, the pyarrow/duckdb checker, and a moto server on a free 127.0.0.1 port.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crossaz::row::{COLUMNS, Row, partition_key};

/// The three hours the sample rows fall in.
pub const HOURS: [i64; 3] = [1_714_568_400, 1_714_572_000, 1_714_575_600];

/// `n` deterministic rows spread over [`HOURS`], with their `dt`; some values NULL.
pub fn sample_rows(n: usize) -> Vec<(String, Row<'static>)> {
    let namespaces = ["shop", "payments", "kube-system"];
    (0..n)
        .map(|i| {
            let start = HOURS[i % HOURS.len()] + (i as i64 % 3600);
            let bytes = 1000 + (i as i64 * 37) % 5000;
            let row = Row {
                flow_id: Some(
                    format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).into(),
                ),
                start_ts: Some(start),
                end_ts: Some(start + 60),
                account_id: Some("111122223333".into()),
                region: Some("us-east-1".into()),
                interface_id: Some(format!("eni-{:04}", i % 7).into()),
                flow_direction: Some("egress".into()),
                protocol: Some(if i % 5 == 0 { 17 } else { 6 }),
                src_port: Some(40_000 + (i % 1000) as i32),
                dst_port: Some(443),
                packets: Some(1 + i as i64 % 10),
                bytes: Some(bytes),
                action: Some("ACCEPT".into()),
                src_ip: Some(format!("10.0.1.{}", i % 250).into()),
                src_kind: Some("pod".into()),
                src_namespace: Some(namespaces[i % namespaces.len()].into()),
                src_pod: if i % 4 == 0 {
                    None
                } else {
                    Some(format!("client-{}", i % 3).into())
                },
                src_zone_id: Some("use1-az1".into()),
                dst_ip: Some(format!("10.0.2.{}", i % 250).into()),
                dst_kind: Some(if i % 6 == 0 { "node" } else { "pod" }.into()),
                dst_zone_id: Some("use1-az2".into()),
                traffic_path: if i % 3 == 0 { None } else { Some(1) },
                cost_usd: Some(bytes as f64 * 0.02 / 1e9),
                ..Row::default()
            };
            (partition_key(start).unwrap(), row)
        })
        .collect()
}

/// Rows per dt.
pub fn rows_per_dt(rows: &[(String, Row<'_>)]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (dt, _) in rows {
        *counts.entry(dt.clone()).or_default() += 1;
    }
    counts
}

/// Sum of `bytes` per dt.
pub fn bytes_per_dt(rows: &[(String, Row<'_>)]) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for (dt, row) in rows {
        *sums.entry(dt.clone()).or_default() += row.bytes.unwrap_or(0);
    }
    sums
}

/// The expectations file `check_parquet.py` reads.
pub fn expectations(rows: &[(String, Row<'_>)], codec: &str) -> serde_json::Value {
    // SQL semantics: the sum of a column with no non-NULL value is NULL, not 0.
    let sum_of = |values: Vec<i64>| (!values.is_empty()).then(|| values.iter().sum::<i64>());
    let sum_i64 =
        |f: fn(&Row<'_>) -> Option<i64>| sum_of(rows.iter().filter_map(|(_, r)| f(r)).collect());
    let sum_i32 = |f: fn(&Row<'_>) -> Option<i32>| {
        sum_of(
            rows.iter()
                .filter_map(|(_, r)| f(r))
                .map(i64::from)
                .collect(),
        )
    };
    let cost: f64 = rows.iter().filter_map(|(_, r)| r.cost_usd).sum();
    let columns: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|c| (c.name.to_owned(), format!("{:?}", c.kind)))
        .collect();
    let sums_per_dt: BTreeMap<String, serde_json::Value> = bytes_per_dt(rows)
        .into_iter()
        .map(|(dt, bytes)| (dt, serde_json::json!({ "bytes": bytes })))
        .collect();
    serde_json::json!({
        "columns": columns,
        "rows_per_dt": rows_per_dt(rows),
        "sums": {
            "bytes": sum_i64(|r| r.bytes),
            "packets": sum_i64(|r| r.packets),
            "start_ts": sum_i64(|r| r.start_ts),
            "protocol": sum_i32(|r| r.protocol),
            "src_port": sum_i32(|r| r.src_port),
            "traffic_path": sum_i32(|r| r.traffic_path),
            "cost_usd": cost,
        },
        "sums_per_dt": sums_per_dt,
        "nulls": {
            "src_pod": rows.iter().filter(|(_, r)| r.src_pod.is_none()).count(),
            "traffic_path": rows.iter().filter(|(_, r)| r.traffic_path.is_none()).count(),
            "src_workload": rows.len(),
        },
        "codec": codec,
    })
}

/// Runs `tests/py/check_parquet.py` on `data`; panics with its messages on any mismatch, and
/// with install instructions when pyarrow/duckdb are missing.
pub fn check_with_python(data: &Path, expected: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_parquet.py");
    let expected_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(expected_file.path(), expected.to_string()).unwrap();
    let output = Command::new("python3")
        .arg(&script)
        .arg(data)
        .arg(expected_file.path())
        .output()
        .expect("python3 must be installed to run the Parquet compatibility check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("pyarrow/duckdb missing: run .ci/install-local.sh\n{stderr}"),
        _ => panic!("pyarrow/duckdb disagree with what was written:\n{stderr}"),
    }
}

/// A `moto_server` child on a free port, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto and waits until it answers (panics with a clear message if it cannot).
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]'; see .ci/install-local.sh)");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_mins(1);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Options pointing the SDK at this server with dummy credentials.
    pub fn aws(&self) -> crossaz::local::AwsOptions {
        crossaz::local::AwsOptions::local(&self.endpoint)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A current-thread runtime for async test steps.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Flow-log format of the hand-written archives and error records of the CLI tests.
pub const FLOW_FORMAT: &str =
    "version account-id interface-id pkt-srcaddr pkt-dstaddr bytes start flow-direction";
/// The client pod's IP (node `n-a`, zone `us-east-1a`).
pub const CLIENT_IP: &str = "10.0.1.10";
/// A second pod in zone `us-east-1a` (same-AZ traffic with the client).
pub const NEIGHBOUR_IP: &str = "10.0.1.11";
/// The server IP the CNI hands to a different pod each hour (node `n-b`, zone `us-east-1b`).
pub const SERVER_IP: &str = "10.0.2.30";

/// A Deployment pod of namespace `shop`.
pub fn pod(
    name: &str,
    workload: &str,
    node: &str,
    ip: &str,
    start: i64,
    last_seen: i64,
) -> pod_cache::PodInfo {
    pod_cache::PodInfo {
        uid: format!("uid-{name}"),
        namespace: "shop".into(),
        name: name.into(),
        workload_kind: pod_cache::WorkloadKind::Deployment,
        workload: workload.into(),
        app: Some(workload.into()),
        node: Some(node.into()),
        ips: vec![ip.parse().unwrap()],
        host_network: false,
        ports: vec![],
        phase: "Running".into(),
        start_time: Some(start),
        finished_at: None,
        first_seen: start,
        last_seen,
    }
}

/// A snapshot of cluster `prod` generated at `generated_at`: nodes `n-a` (us-east-1a) and `n-b`
/// (us-east-1b), the given pods.
pub fn snapshot(generated_at: i64, pods: Vec<pod_cache::PodInfo>) -> pod_cache::Snapshot {
    let node = |name: &str, ip: &str, zone: &str, zone_id: &str| pod_cache::NodeInfo {
        name: name.into(),
        ips: vec![ip.parse().unwrap()],
        zone: Some(zone.into()),
        zone_id: Some(zone_id.into()),
        instance_id: Some(format!("i-{name}")),
        instance_type: Some("m5.large".into()),
        compute_type: None,
    };
    pod_cache::Snapshot {
        format: pod_cache::snapshot::SNAPSHOT_FORMAT.into(),
        version: pod_cache::snapshot::SNAPSHOT_VERSION,
        cluster: "prod".into(),
        generated_at,
        nodes: vec![
            node("n-a", "10.0.1.1", "us-east-1a", "use1-az1"),
            node("n-b", "10.0.2.2", "us-east-1b", "use1-az2"),
        ],
        pods,
    }
}

/// Runs the `crossaz` binary with dummy AWS credentials pointed at `endpoint`; returns the exit
/// code and stderr.
pub fn crossaz(endpoint: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crossaz"));
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    match endpoint {
        Some(url) => command.env("AWS_ENDPOINT_URL", url),
        None => command.env_remove("AWS_ENDPOINT_URL"),
    };
    let output = command.output().expect("running crossaz");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `SELECT …` over the flows under `data` (folder or `s3://`), every value as a string.
pub fn sql_strings(data: &str, sql: &str, aws: &crossaz::local::AwsOptions) -> Vec<Vec<String>> {
    use arrow::array::Array as _;
    let output = runtime()
        .block_on(crossaz::local::query::run(data, sql, aws))
        .unwrap();
    let mut rows = Vec::new();
    for batch in &output.batches {
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap())
            .collect();
        for i in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .map(|c| {
                        let s = c
                            .as_any()
                            .downcast_ref::<arrow::array::StringArray>()
                            .unwrap();
                        if s.is_null(i) {
                            "NULL".to_owned()
                        } else {
                            s.value(i).to_owned()
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

//! Snapshot load (decode + index build) and lookup throughput on a generated 100,000-pod,
//! 5,000-node cluster. Targets: load <= 100 ms; lookups at several million per second (the
//! transform does two per flow record at 1.5 M records/s).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

// The allocator the transform Lambda (`crossaz-transform`), which loads these snapshots, runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pod_cache::codec::{decode, encode};
use pod_cache::index::PodIndex;
use pod_cache::snapshot::{DeclaredPort, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
use pod_cache::{NodeInfo, PodInfo, Snapshot, WorkloadKind};

const NODES: u32 = 5_000;
const PODS: u32 = 100_000;
/// Every 20th pod IP was held before by a pod that vanished within the hour.
const REUSE_EVERY: u32 = 20;
const GENERATED_AT: i64 = 1_795_759_200;
const LOOKUPS: usize = 100_000;
const ZONES: [(&str, &str); 3] = [
    ("us-east-1a", "use1-az1"),
    ("us-east-1b", "use1-az2"),
    ("us-east-1c", "use1-az4"),
];

fn node_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0A00_0000 + n)
}

fn pod_ip(p: u32) -> IpAddr {
    if p % 10 == 9 {
        IpAddr::V6(Ipv6Addr::from(
            0x2600_1f18_abcd_0000_0000_0000_0000_0000_u128 + u128::from(p),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(0x0A40_0000 + p))
    }
}

fn node_name(n: u32) -> String {
    let ip = node_ip(n).octets();
    format!("ip-{}-{}-{}-{}.ec2.internal", ip[0], ip[1], ip[2], ip[3])
}

fn pod_info(p: u32, ip: IpAddr, start: i64, last_seen: i64) -> PodInfo {
    let workload = format!("service-{}", p % 2_000);
    PodInfo {
        uid: format!("6f1c2d3e-4b5a-4c6d-8e7f-{p:012x}"),
        namespace: format!("team-{}", p % 50),
        name: format!("{workload}-7c9d8f6b5d-{p:05x}"),
        workload_kind: WorkloadKind::Deployment,
        app: Some(workload.clone()),
        workload,
        node: Some(node_name(p % NODES)),
        ips: vec![ip],
        host_network: false,
        ports: vec![],
        phase: "Running".into(),
        start_time: Some(start),
        finished_at: None,
        first_seen: start + 40,
        last_seen,
    }
}

fn snapshot() -> Snapshot {
    let nodes: Vec<NodeInfo> = (0..NODES)
        .map(|n| {
            let (zone, zone_id) = ZONES[(n % 3) as usize];
            NodeInfo {
                name: node_name(n),
                ips: vec![IpAddr::V4(node_ip(n))],
                zone: Some(zone.into()),
                zone_id: Some(zone_id.into()),
                instance_id: Some(format!("i-0{n:016x}")),
                instance_type: Some("m5.xlarge".into()),
                compute_type: None,
            }
        })
        .collect();
    let mut pods = Vec::with_capacity(PODS as usize + (PODS / REUSE_EVERY) as usize);
    for p in 0..PODS {
        let start = GENERATED_AT - 86_400 + i64::from(p % 80_000);
        if p % REUSE_EVERY == 0 {
            let mut gone = pod_info(p + PODS, pod_ip(p), start - 3_000, GENERATED_AT - 1_800);
            gone.workload = "batch-report".into();
            pods.push(gone);
            pods.push(pod_info(p, pod_ip(p), GENERATED_AT - 1_700, GENERATED_AT));
        } else {
            pods.push(pod_info(p, pod_ip(p), start, GENERATED_AT));
        }
    }
    // Three hostNetwork DaemonSet pods per node (CNI, kube-proxy, node exporter).
    for n in 0..NODES {
        for (d, port) in [(0, 61_678), (1, 10_249), (2, 9_100)] {
            let mut pod = pod_info(
                PODS * 2 + n * 3 + d,
                IpAddr::V4(node_ip(n)),
                GENERATED_AT - 86_400,
                GENERATED_AT,
            );
            pod.workload_kind = WorkloadKind::DaemonSet;
            pod.node = Some(node_name(n));
            pod.host_network = true;
            pod.ports = vec![DeclaredPort { port, protocol: 6 }];
            pods.push(pod);
        }
    }
    Snapshot {
        format: SNAPSHOT_FORMAT.into(),
        version: SNAPSHOT_VERSION,
        cluster: "bench".into(),
        generated_at: GENERATED_AT,
        nodes,
        pods,
    }
}

/// A mix like real traffic: mostly pod IPs at recent times, some node IPs with ports, some misses.
fn queries() -> Vec<(IpAddr, i64, Option<u16>, Option<u8>)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..LOOKUPS)
        .map(|_| {
            let r = next();
            let at = GENERATED_AT - (r % 3_600) as i64;
            match r % 10 {
                0 => (
                    IpAddr::V4(node_ip((r >> 8) as u32 % NODES)),
                    at,
                    Some(9_100),
                    Some(6),
                ),
                1 => (
                    IpAddr::V4(node_ip((r >> 8) as u32 % NODES)),
                    at,
                    Some(443),
                    Some(6),
                ),
                2 => (
                    IpAddr::V4(Ipv4Addr::from(0xC0A8_0000 + (r >> 8) as u32 % 65_536)),
                    at,
                    None,
                    None,
                ),
                _ => (pod_ip((r >> 8) as u32 % PODS), at, Some(8_080), Some(6)),
            }
        })
        .collect()
}

/// CPU time this thread has run, in ns (Linux schedstat). On a shared machine wall-clock times
/// include waiting for a core; CPU time is what the same work costs on a dedicated one.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `iterations` times and prints CPU and wall time per iteration.
fn report_cpu_time<T>(name: &str, iterations: u32, mut f: impl FnMut() -> T) {
    let cpu = thread_cpu_ns();
    let wall = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let wall = wall.elapsed().as_secs_f64() * 1e3 / f64::from(iterations);
    match (cpu, thread_cpu_ns()) {
        (Some(before), Some(after)) => {
            let cpu = (after - before) as f64 / 1e6 / f64::from(iterations);
            eprintln!("{name}: {cpu:.2} ms CPU, {wall:.2} ms wall per iteration");
        }
        _ => eprintln!("{name}: {wall:.2} ms wall per iteration (no CPU clock)"),
    }
}

fn bench(c: &mut Criterion) {
    let snapshot = snapshot();
    let bytes = encode(&snapshot).expect("encode");
    let json_len = serde_json::to_vec(&snapshot).expect("json").len();
    eprintln!(
        "snapshot: {} pods, {} nodes; JSON {:.1} MB, encoded {:.2} MB",
        snapshot.pods.len(),
        snapshot.nodes.len(),
        json_len as f64 / 1e6,
        bytes.len() as f64 / 1e6
    );

    let json = serde_json::to_vec(&snapshot).expect("json");
    report_cpu_time("encode", 3, || encode(&snapshot).expect("encode"));
    report_cpu_time("decode", 5, || decode(&bytes).expect("decode"));
    report_cpu_time("decode_plain_json", 5, || decode(&json).expect("decode"));
    report_cpu_time("index_build", 5, || PodIndex::new(snapshot.clone()));
    report_cpu_time("decode_and_index", 5, || {
        PodIndex::new(decode(&bytes).expect("decode"))
    });
    {
        let index = PodIndex::new(snapshot.clone());
        let queries = queries();
        report_cpu_time("lookup x100000 (ms per 100k)", 20, || {
            queries
                .iter()
                .filter(|&&(ip, at, port, protocol)| {
                    index.lookup(ip, at, port, protocol).kind() != "unknown"
                })
                .count()
        });
    }

    let mut load = c.benchmark_group("load");
    load.sample_size(10);
    load.bench_function("encode", |b| {
        b.iter(|| encode(black_box(&snapshot)).expect("encode"));
    });
    load.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&bytes)).expect("decode"));
    });
    // The same document uncompressed: decode minus zstd, i.e. the JSON parse alone.
    load.bench_function("decode_plain_json", |b| {
        b.iter(|| decode(black_box(&json)).expect("decode"));
    });
    load.bench_function("index_build", |b| {
        b.iter_batched(
            || snapshot.clone(),
            PodIndex::new,
            criterion::BatchSize::LargeInput,
        );
    });
    load.bench_function("decode_and_index", |b| {
        b.iter(|| PodIndex::new(decode(black_box(&bytes)).expect("decode")));
    });
    load.finish();

    let index = PodIndex::new(snapshot);
    let queries = queries();
    let mut lookups = c.benchmark_group("lookup");
    lookups.throughput(Throughput::Elements(queries.len() as u64));
    lookups.bench_function("mixed", |b| {
        b.iter(|| {
            let mut known = 0_usize;
            for &(ip, at, port, protocol) in &queries {
                known += usize::from(index.lookup(ip, at, port, protocol).kind() != "unknown");
            }
            known
        });
    });
    lookups.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Throughput of the flow-log hot path: `parse_line` on realistic version-5 custom lines in the
//! recommended format, and `record_lines` + `parse_line` on a ~1 MB set of Firehose records
//! (`{"message":"<line>"}`, one line each, as VPC Flow Logs deliver them). Reports lines/s.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossaz::flowlog::{
    Action, FlowDirection, FlowFormat, FlowRecord, LogStatus, RECOMMENDED_FORMAT, record_lines,
};

/// Distinct lines per batch: enough to defeat branch-predictor memorisation of one line.
const LINES: usize = 4096;
/// Target size of the Firehose record set: the Lambda's default 1 MB buffer (aws-facts §1.5).
const RECORD_SET_BYTES: usize = 1 << 20;

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn pod_ip(rng: &mut Rng) -> IpAddr {
    // One line in 16 is IPv6, as in a mixed fleet.
    if rng.below(16) == 0 {
        IpAddr::V6(Ipv6Addr::new(
            0x2600,
            0x1f18,
            0x4c2,
            rng.below(4) as u16,
            0,
            0,
            0,
            rng.below(65_535) as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            10,
            rng.below(4) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        ))
    }
}

fn lines(format: &FlowFormat) -> Vec<String> {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let azs = ["use1-az1", "use1-az2", "use1-az4"];
    let interfaces: Vec<String> = (0..64).map(|i| format!("eni-0{i:016x}")).collect();
    let instances: Vec<String> = (0..32).map(|i| format!("i-0{i:016x}")).collect();
    (0..LINES)
        .map(|_| {
            let start = 1_700_000_000 + rng.below(86_400) as i64;
            let src = pod_ip(&mut rng);
            let dst = pod_ip(&mut rng);
            let record = FlowRecord {
                version: Some(5),
                account_id: Some("111122223333"),
                region: Some("us-east-1"),
                vpc_id: Some("vpc-0a1b2c3d4e5f60718"),
                subnet_id: Some("subnet-0123456789abcdef0"),
                az_id: Some(azs[rng.below(3) as usize]),
                instance_id: Some(&instances[rng.below(32) as usize]),
                interface_id: Some(&interfaces[rng.below(64) as usize]),
                traffic_type: Some(if src.is_ipv4() { "IPv4" } else { "IPv6" }),
                srcaddr: Some(src),
                dstaddr: Some(dst),
                pkt_srcaddr: Some(src),
                pkt_dstaddr: Some(dst),
                srcport: Some(rng.below(65_536) as u16),
                dstport: Some([80, 443, 8080, 5432][rng.below(4) as usize]),
                protocol: Some(6),
                packets: Some(1 + rng.below(10_000)),
                bytes: Some(40 + rng.below(50_000_000)),
                start: Some(start),
                end: Some(start + 60),
                action: Some(Action::Accept),
                log_status: Some(LogStatus::Ok),
                tcp_flags: Some([2, 18, 19, 3][rng.below(4) as usize]),
                flow_direction: Some(if rng.below(2) == 0 {
                    FlowDirection::Egress
                } else {
                    FlowDirection::Ingress
                }),
                traffic_path: Some(1),
                ..FlowRecord::default()
            };
            let mut line = String::new();
            format.render_line(&record, &mut line);
            line
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let format = FlowFormat::parse(RECOMMENDED_FORMAT).expect("recommended format compiles");
    let lines = lines(&format);
    let mean = lines.iter().map(String::len).sum::<usize>() / lines.len();

    let mut group = c.benchmark_group("flowlog");
    group.throughput(Throughput::Elements(lines.len() as u64));
    // The floor to scale the other numbers on a shared machine: splitting alone, no typing.
    group.bench_function("baseline split_ascii_whitespace count", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|line| black_box(line).split_ascii_whitespace().count())
                .sum::<usize>()
        });
    });
    group.bench_function(format!("parse_line v5 recommended ({mean} B/line)"), |b| {
        b.iter(|| {
            let mut bytes = 0u64;
            for line in &lines {
                let record = format.parse_line(black_box(line)).expect("valid line");
                bytes += record.bytes.unwrap_or(0);
            }
            bytes
        });
    });

    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut total = 0;
    for line in lines.iter().cycle() {
        if total >= RECORD_SET_BYTES {
            break;
        }
        let record = serde_json::json!({ "message": line })
            .to_string()
            .into_bytes();
        total += record.len();
        records.push(record);
    }
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function(
        format!("record_lines ({} records, {total} B)", records.len()),
        |b| {
            b.iter(|| {
                let mut count = 0usize;
                for record in &records {
                    count += record_lines(black_box(record))
                        .expect("valid record")
                        .count();
                }
                count
            });
        },
    );
    group.bench_function(
        format!("record_lines + parse_line ({} records)", records.len()),
        |b| {
            b.iter(|| {
                let mut bytes = 0u64;
                for record in &records {
                    for line in record_lines(black_box(record)).expect("valid record") {
                        let line = line.expect("valid line");
                        bytes += format
                            .parse_line(&line)
                            .expect("valid line")
                            .bytes
                            .unwrap_or(0);
                    }
                }
                bytes
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

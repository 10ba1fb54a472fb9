//! Rendering in any field order, the records' flow-log semantics, and the on-disk layouts (S3
//! `.log.gz`, Firehose events) read back with independent readers (flate2, aws_lambda_events).

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;

use aws_lambda_events::event::firehose::KinesisFirehoseEvent;
use loadtest::format::FIELDS;
use loadtest::output::{FirehoseWriter, S3LogWriter};
use loadtest::{
    ClusterSpec, LineFormat, RecordClass, TrafficSpec, generate_cluster, generate_flows,
    parse_format,
};

const START: i64 = 1_767_225_600;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crossaz-loadtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn small_run() -> (loadtest::Cluster, loadtest::FlowSet) {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + 1800).unwrap();
    let all: Vec<String> = FIELDS.iter().map(|f| f.0.to_string()).collect();
    let spec = TrafficSpec {
        flows_per_minute: 60,
        format: all,
        ..TrafficSpec::new(START, 1800)
    };
    let set = generate_flows(&cluster, &spec).unwrap();
    (cluster, set)
}

fn as_map<'a>(names: &'a [String], line: &'a str) -> HashMap<&'a str, &'a str> {
    let values: Vec<&str> = line.split(' ').collect();
    assert_eq!(values.len(), names.len(), "{line}");
    names.iter().map(String::as_str).zip(values).collect()
}

#[test]
fn any_field_order_renders_the_same_values() {
    let (cluster, set) = small_run();
    let forward: Vec<String> = FIELDS.iter().map(|f| f.0.to_string()).collect();
    let mut backward = forward.clone();
    backward.reverse();
    backward.push("not-a-field".into());
    let (a, b) = (LineFormat::new(&forward), LineFormat::new(&backward));
    assert_eq!(a.version(), 8);
    for record in set.records.iter().take(2_000) {
        let (la, lb) = (a.render(&cluster, record), b.render(&cluster, record));
        let (ma, mb) = (as_map(&forward, &la), as_map(&backward, &lb));
        for name in &forward {
            assert_eq!(ma[name.as_str()], mb[name.as_str()], "{name}");
        }
        assert_eq!(mb["not-a-field"], "-");
        assert_eq!(ma["version"], "8");
    }
}

#[test]
fn records_follow_flow_log_semantics() {
    let (cluster, set) = small_run();
    let names: Vec<String> = FIELDS.iter().map(|f| f.0.to_string()).collect();
    let format = LineFormat::new(&names);
    let mut seen = HashMap::new();
    for record in &set.records {
        let line = format.render(&cluster, record);
        let m = as_map(&names, &line);
        let eni = &cluster.enis[record.eni as usize];
        let node = &cluster.nodes[eni.node];
        assert_eq!(m["interface-id"], eni.id);
        assert_eq!(m["instance-id"], node.instance_id);
        assert_eq!(m["az-id"], cluster.zones[node.zone].id);
        assert_eq!(m["account-id"], "123456789012");
        match m["log-status"] {
            "OK" => {
                // The ENI's own address is srcaddr on egress and dstaddr on ingress.
                let own = if m["type"] == "IPv6" {
                    node.ipv6.to_string()
                } else {
                    eni.primary_ip.to_string()
                };
                if m["flow-direction"] == "egress" {
                    assert_eq!(m["srcaddr"], own, "{line}");
                    assert_eq!(m["dstaddr"], m["pkt-dstaddr"]);
                    assert_ne!(m["traffic-path"], "-");
                } else {
                    assert_eq!(m["dstaddr"], own, "{line}");
                    assert_eq!(m["srcaddr"], m["pkt-srcaddr"]);
                    assert_eq!(m["traffic-path"], "-");
                }
                let start: i64 = m["start"].parse().unwrap();
                let end: i64 = m["end"].parse().unwrap();
                assert!(start <= end && end - start < 60, "{line}");
                let bytes: u64 = m["bytes"].parse().unwrap();
                let packets: u64 = m["packets"].parse().unwrap();
                assert!(packets >= 1 && bytes >= 40 * packets, "{line}");
                *seen.entry(m["protocol"].to_string()).or_insert(0) += 1;
                *seen.entry(m["type"].to_string()).or_insert(0) += 1;
                *seen.entry(m["action"].to_string()).or_insert(0) += 1;
            }
            "NODATA" | "SKIPDATA" => {
                for f in [
                    "srcaddr",
                    "dstaddr",
                    "pkt-srcaddr",
                    "packets",
                    "bytes",
                    "action",
                    "flow-direction",
                ] {
                    assert_eq!(m[f], "-", "{f} in {line}");
                }
                *seen.entry(m["log-status"].to_string()).or_insert(0) += 1;
            }
            other => panic!("log-status {other}"),
        }
        // SNAT: no pod IP ever talks to the internet directly.
        if record.class == RecordClass::Unknown && m["traffic-path"] == "8" {
            let src = m["pkt-srcaddr"];
            assert!(
                cluster
                    .nodes
                    .iter()
                    .any(|n| n.ip.to_string() == src || n.ipv6.to_string() == src),
                "{line}"
            );
        }
    }
    for key in [
        "6", "17", "1", "58", "IPv4", "IPv6", "ACCEPT", "REJECT", "NODATA",
    ] {
        assert!(
            seen.get(key).copied().unwrap_or(0) > 0,
            "no {key} record: {seen:?}"
        );
    }
}

#[test]
fn same_node_pod_traffic_is_never_recorded() {
    let (cluster, set) = small_run();
    for record in set.records.iter().filter(|r| r.has_flow()) {
        let (s, d) = (
            cluster.node_of_ip(record.pkt_src),
            cluster.node_of_ip(record.pkt_dst),
        );
        assert!(s.is_none() || s != d, "same-node record {record:?}");
    }
    assert!(set.stats["same_node_unrecorded"] > 0);
}

#[test]
fn s3_files_have_the_layout_a_header_and_every_line() {
    let (cluster, set) = small_run();
    let dir = scratch("s3");
    let mut writer = S3LogWriter::new(&dir, set.format.header(), 1);
    let mut expected: Vec<String> = Vec::new();
    for record in &set.records {
        let line = set.format.render(&cluster, record);
        writer.push(record.end, line.clone());
        expected.push(line);
    }
    let files = writer.finish().unwrap();
    assert!(files.len() >= 6, "{} files for 30 minutes", files.len());
    let mut read = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(rel.starts_with("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/01/01/123456789012_vpcflowlogs_us-east-1_fl-"), "{rel}");
        assert!(rel.ends_with(".log.gz"));
        let slot = rel.split('_').nth(4).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(set.format.header().as_str()));
        for line in lines {
            let end: i64 = as_map(set.format.names(), line)["end"].parse().unwrap();
            let minute = chrono::DateTime::from_timestamp(end - end.rem_euclid(300), 0).unwrap();
            assert_eq!(minute.format("%Y%m%dT%H%MZ").to_string(), slot, "{line}");
            read.push(line.to_string());
        }
    }
    read.sort();
    expected.sort();
    assert_eq!(read, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn firehose_events_parse_as_lambda_events_and_carry_every_line() {
    let (cluster, set) = small_run();
    let dir = scratch("firehose");
    let mut writer = FirehoseWriter::new(&dir, 1);
    let lines: Vec<String> = set.lines(&cluster).collect();
    for (record, line) in set.records.iter().zip(&lines) {
        writer.push(record.end, line).unwrap();
    }
    let files = writer.finish().unwrap();
    let mut read = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for file in &files {
        let event: KinesisFirehoseEvent =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert_eq!(event.region.as_deref(), Some("us-east-1"));
        assert!(
            event
                .delivery_stream_arn
                .as_deref()
                .unwrap()
                .starts_with("arn:aws:firehose:")
        );
        let size: usize = event.records.iter().map(|r| r.data.0.len()).sum();
        assert!(size <= 1_000_000, "{size}");
        for r in event.records {
            assert!(ids.insert(r.record_id.unwrap()));
            let message: serde_json::Value = serde_json::from_slice(&r.data.0).unwrap();
            assert_eq!(message.as_object().unwrap().len(), 1);
            read.push(message["message"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(read, lines);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn formats_parse_from_log_format_strings() {
    let format = LineFormat::new(&parse_format("${version} ${pkt-srcaddr} ${bytes}"));
    assert_eq!(format.header(), "version pkt-srcaddr bytes");
    assert_eq!(format.version(), 3);
}

#[test]
fn the_lines_iterator_matches_the_collected_set() {
    let cluster = generate_cluster(&ClusterSpec::default(), START, START + 600).unwrap();
    let spec = TrafficSpec {
        flows_per_minute: 40,
        ..TrafficSpec::new(START, 600)
    };
    let set = generate_flows(&cluster, &spec).unwrap();
    let mut lines = loadtest::Lines::new(&cluster, &spec).unwrap();
    let streamed: Vec<String> = lines.by_ref().collect();
    assert_eq!(streamed, set.lines(&cluster).collect::<Vec<_>>());
    assert_eq!(lines.truth(), set.truth);
    assert!(set.truth.cross_az_total().bytes > 0);
}

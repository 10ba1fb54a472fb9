//! Flow-log parsing against the AWS documentation examples, every error, and round-trip
//! properties.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

/// An optional address, the type of every address field, so tables read `srcaddr: v4("..")`.
#[allow(clippy::unnecessary_wraps)]
fn v4(text: &str) -> Option<IpAddr> {
    Some(IpAddr::V4(text.parse::<Ipv4Addr>().expect("test IPv4")))
}

#[allow(clippy::unnecessary_wraps)]
fn v6(text: &str) -> Option<IpAddr> {
    Some(IpAddr::V6(text.parse::<Ipv6Addr>().expect("test IPv6")))
}

/// The "TCP flag sequence" custom format from the AWS examples page (version 3).
const V3_FORMAT: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr \
                         dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start \
                         end action tcp-flags log-status";
/// The "transit gateway" custom format from the AWS examples page.
const TGW_FORMAT: &str = "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr \
                          srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action \
                          log-status";
/// The "NAT gateway" custom format from the AWS examples page.
const NAT_FORMAT: &str = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr";
/// The "service name, traffic path, and flow direction" format from the AWS examples page (v5).
const V5_FORMAT: &str = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes \
                         account-id vpc-id subnet-id instance-id interface-id region az-id \
                         sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr \
                         pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";

fn default_v2(interface: &str) -> FlowRecord<'_> {
    FlowRecord {
        version: Some(2),
        account_id: Some("123456789010"),
        interface_id: Some(interface),
        log_status: Some(LogStatus::Ok),
        ..FlowRecord::default()
    }
}

#[test]
fn aws_documentation_examples_parse_to_their_values() {
    let v2 = FlowFormat::parse(DEFAULT_FORMAT).expect("default format");
    let v3 = FlowFormat::from_header(V3_FORMAT).expect("v3 header");
    let tgw = FlowFormat::from_header(TGW_FORMAT).expect("tgw header");
    let nat = FlowFormat::from_header(NAT_FORMAT).expect("nat header");
    let v5 = FlowFormat::from_header(V5_FORMAT).expect("v5 header");
    let eni = "eni-1235b8ca123456789";
    let v3_base = FlowRecord {
        version: Some(3),
        vpc_id: Some("vpc-abcdefab012345678"),
        subnet_id: Some("subnet-aaaaaaaa012345678"),
        instance_id: Some("i-01234567890123456"),
        interface_id: Some(eni),
        account_id: Some("123456789010"),
        traffic_type: Some("IPv4"),
        protocol: Some(6),
        action: Some(Action::Accept),
        log_status: Some(LogStatus::Ok),
        ..FlowRecord::default()
    };
    let v5_base = FlowRecord {
        version: Some(5),
        protocol: Some(6),
        start: Some(1_616_729_292),
        end: Some(1_616_729_349),
        traffic_type: Some("IPv4"),
        account_id: Some("123456789012"),
        vpc_id: Some("vpc-abcdefab012345678"),
        subnet_id: Some("subnet-aaaaaaaa012345678"),
        instance_id: Some("i-0c50d5961bcb2d47b"),
        interface_id: Some(eni),
        region: Some("ap-southeast-2"),
        az_id: Some("apse2-az3"),
        action: Some(Action::Accept),
        log_status: Some(LogStatus::Ok),
        ..FlowRecord::default()
    };
    let cases: Vec<(&str, &FlowFormat, &str, FlowRecord<'_>)> = vec![
        (
            "v2 accepted SSH",
            &v2,
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            FlowRecord {
                srcaddr: v4("172.31.16.139"),
                dstaddr: v4("172.31.16.21"),
                srcport: Some(20641),
                dstport: Some(22),
                protocol: Some(6),
                packets: Some(20),
                bytes: Some(4249),
                start: Some(1_418_530_010),
                end: Some(1_418_530_070),
                action: Some(Action::Accept),
                ..default_v2(eni)
            },
        ),
        (
            "v2 rejected RDP",
            &v2,
            "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
            FlowRecord {
                srcaddr: v4("172.31.9.69"),
                dstaddr: v4("172.31.9.12"),
                srcport: Some(49761),
                dstport: Some(3389),
                protocol: Some(6),
                packets: Some(20),
                bytes: Some(4249),
                start: Some(1_418_530_010),
                end: Some(1_418_530_070),
                action: Some(Action::Reject),
                ..default_v2(eni)
            },
        ),
        (
            "v2 NODATA",
            &v2,
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
            FlowRecord {
                start: Some(1_431_280_876),
                end: Some(1_431_280_934),
                log_status: Some(LogStatus::NoData),
                ..default_v2(eni)
            },
        ),
        (
            "v2 SKIPDATA",
            &v2,
            "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
            FlowRecord {
                start: Some(1_431_280_876),
                end: Some(1_431_280_934),
                log_status: Some(LogStatus::SkipData),
                ..default_v2("eni-11111111aaaaaaaaa")
            },
        ),
        (
            "v2 ICMP reply rejected",
            &v2,
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK",
            FlowRecord {
                srcaddr: v4("172.31.16.139"),
                dstaddr: v4("203.0.113.12"),
                srcport: Some(0),
                dstport: Some(0),
                protocol: Some(1),
                packets: Some(4),
                bytes: Some(336),
                start: Some(1_432_917_094),
                end: Some(1_432_917_142),
                action: Some(Action::Reject),
                ..default_v2(eni)
            },
        ),
        (
            "v2 IPv6",
            &v2,
            "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
            FlowRecord {
                srcaddr: v6("2001:db8:1234:a100:8d6e:3477:df66:f105"),
                dstaddr: v6("2001:db8:1234:a102:3304:8879:34cf:4071"),
                srcport: Some(34892),
                dstport: Some(22),
                protocol: Some(6),
                packets: Some(54),
                bytes: Some(8855),
                start: Some(1_477_913_708),
                end: Some(1_477_913_820),
                action: Some(Action::Accept),
                ..default_v2(eni)
            },
        ),
        (
            "v3 SYN-ACK + FIN (AWS's double space kept)",
            &v3,
            "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK",
            FlowRecord {
                srcaddr: v4("10.0.0.62"),
                dstaddr: v4("52.213.180.42"),
                srcport: Some(5001),
                dstport: Some(43638),
                pkt_srcaddr: v4("10.0.0.62"),
                pkt_dstaddr: v4("52.213.180.42"),
                bytes: Some(967),
                packets: Some(14),
                start: Some(1_566_933_133),
                end: Some(1_566_933_193),
                tcp_flags: Some(19),
                ..v3_base.clone()
            },
        ),
        (
            "v3 transit gateway, requester-managed ENI",
            &tgw,
            "3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK",
            FlowRecord {
                interface_id: Some("eni-11111111111111111"),
                subnet_id: Some("subnet-11111111aaaaaaaaa"),
                instance_id: None,
                srcaddr: v4("10.40.1.175"),
                dstaddr: v4("10.40.2.236"),
                srcport: Some(39812),
                dstport: Some(80),
                tcp_flags: Some(3),
                pkt_srcaddr: v4("10.20.33.164"),
                pkt_dstaddr: v4("10.40.2.236"),
                ..v3_base.clone()
            },
        ),
        (
            "NAT gateway subset",
            &nat,
            "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
            FlowRecord {
                interface_id: Some(eni),
                srcaddr: v4("10.0.1.5"),
                dstaddr: v4("10.0.0.220"),
                pkt_srcaddr: v4("10.0.1.5"),
                pkt_dstaddr: v4("203.0.113.5"),
                ..FlowRecord::default()
            },
        ),
        (
            "v5 ingress from S3",
            &v5,
            "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
            FlowRecord {
                srcaddr: v4("52.95.128.179"),
                dstaddr: v4("10.0.0.71"),
                srcport: Some(80),
                dstport: Some(34210),
                packets: Some(14),
                bytes: Some(15044),
                tcp_flags: Some(19),
                pkt_srcaddr: v4("52.95.128.179"),
                pkt_dstaddr: v4("10.0.0.71"),
                pkt_src_aws_service: Some("S3"),
                flow_direction: Some(FlowDirection::Ingress),
                ..v5_base.clone()
            },
        ),
        (
            "v5 egress to S3 through an internet gateway",
            &v5,
            "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
            FlowRecord {
                srcaddr: v4("10.0.0.71"),
                dstaddr: v4("52.95.128.179"),
                srcport: Some(34210),
                dstport: Some(80),
                packets: Some(7),
                bytes: Some(471),
                tcp_flags: Some(3),
                pkt_srcaddr: v4("10.0.0.71"),
                pkt_dstaddr: v4("52.95.128.179"),
                pkt_dst_aws_service: Some("S3"),
                traffic_path: Some(8),
                flow_direction: Some(FlowDirection::Egress),
                ..v5_base.clone()
            },
        ),
    ];
    for (name, format, line, expected) in cases {
        assert_eq!(format.parse_line(line), Ok(expected), "{name}");
    }
}

#[test]
fn recommended_format_reads_an_eks_pod_flow() {
    let format = FlowFormat::parse(RECOMMENDED_FORMAT).expect("recommended format");
    format
        .require_attribution_fields()
        .expect("recommended format is sufficient");
    assert_eq!(format.version(), 5);
    let line = "5 111122223333 us-east-1 vpc-0a1b subnet-0c2d use1-az4 i-0abc eni-0def IPv6 \
                2600:1f18::10 2600:1f18::20 2600:1f18::10:5 2600:1f18::20:7 443 51000 6 12 9000 \
                1700000000 1700000060 ACCEPT OK 18 egress 1 - - - -";
    let record = format.parse_line(line).expect("parses");
    assert_eq!(
        record,
        FlowRecord {
            version: Some(5),
            account_id: Some("111122223333"),
            region: Some("us-east-1"),
            vpc_id: Some("vpc-0a1b"),
            subnet_id: Some("subnet-0c2d"),
            az_id: Some("use1-az4"),
            instance_id: Some("i-0abc"),
            interface_id: Some("eni-0def"),
            traffic_type: Some("IPv6"),
            srcaddr: v6("2600:1f18::10"),
            dstaddr: v6("2600:1f18::20"),
            pkt_srcaddr: v6("2600:1f18::10:5"),
            pkt_dstaddr: v6("2600:1f18::20:7"),
            srcport: Some(443),
            dstport: Some(51000),
            protocol: Some(6),
            packets: Some(12),
            bytes: Some(9000),
            start: Some(1_700_000_000),
            end: Some(1_700_000_060),
            action: Some(Action::Accept),
            log_status: Some(LogStatus::Ok),
            tcp_flags: Some(18),
            flow_direction: Some(FlowDirection::Egress),
            traffic_path: Some(1),
            ..FlowRecord::default()
        }
    );
}

#[test]
fn v7_and_v8_and_unknown_fields_in_any_order() {
    let format = FlowFormat::parse(
        "${reject-reason} ${resource-id} ${ecs-task-id} ${bytes} ${ecs-cluster-name} \
         ${encryption-status} ${ecs-service-name} ${ecs-container-instance-id}",
    )
    .expect("format");
    assert_eq!(format.version(), 8);
    let record = format
        .parse_line("BPA eni-9 f00d 77 prod - web -")
        .expect("parses");
    assert_eq!(
        record,
        FlowRecord {
            reject_reason: Some("BPA"),
            bytes: Some(77),
            ecs: EcsFields {
                task_id: Some("f00d"),
                cluster_name: Some("prod"),
                service_name: Some("web"),
                ..EcsFields::default()
            },
            unknown: vec![("resource-id", "eni-9"), ("encryption-status", "-")],
            ..FlowRecord::default()
        }
    );
    assert_eq!(record.unknown.capacity(), 2);
}

#[test]
fn a_reused_record_holds_exactly_the_last_line() {
    let format = FlowFormat::parse(
        "${srcaddr} ${bytes} ${resource-id} ${flow-direction} ${ecs-task-id} ${encryption-status}",
    )
    .expect("format");
    let lines = [
        "10.0.0.1 77 eni-9 egress f00d 1",
        "10.0.0.2 - eni-8 ingress - -",
        "fd00::3 5 - - beef 0",
    ];
    // Fields the format lacks stay as the caller set them.
    let mut record = FlowRecord {
        account_id: Some("kept"),
        ..FlowRecord::default()
    };
    for line in lines {
        format.parse_line_into(line, &mut record).expect("parses");
        if line == lines[1] {
            // `-` clears what the line before set.
            assert_eq!(
                (record.bytes, record.ecs.task_id, record.flow_direction),
                (None, None, Some(FlowDirection::Ingress))
            );
        }
        let fresh = format.parse_line(line).expect("parses");
        assert_eq!(
            record,
            FlowRecord {
                account_id: Some("kept"),
                ..fresh
            },
            "{line}"
        );
    }
    assert_eq!(
        record.unknown,
        [("resource-id", "-"), ("encryption-status", "0")]
    );
}

#[test]
fn packet_addresses_keep_their_spelling_outside_the_records_value() {
    let format = FlowFormat::parse("${srcaddr} ${pkt-srcaddr} ${pkt-dstaddr}").expect("format");
    let mut record = FlowRecord::default();
    for (line, src, dst) in [
        (
            "10.0.0.1 10.0.0.1 10.0.2.7",
            Some("10.0.0.1"),
            Some("10.0.2.7"),
        ),
        (
            "10.0.0.1 10.0.9.9 2001:DB8::1",
            Some("10.0.9.9"),
            Some("2001:DB8::1"),
        ),
        ("10.0.0.1 - -", None, None),
    ] {
        format.parse_line_into(line, &mut record).expect("parses");
        assert_eq!(record.spelling.pkt_srcaddr, src, "{line}");
        assert_eq!(record.spelling.pkt_dstaddr, dst, "{line}");
    }
    // Equal addresses make equal records, whatever their spelling.
    let upper = format.parse_line("- - 2001:DB8::1").expect("parses");
    let lower = format.parse_line("- - 2001:db8::1").expect("parses");
    assert_eq!(upper, lower);
    assert_ne!(upper.spelling.pkt_dstaddr, lower.spelling.pkt_dstaddr);
    assert_ne!(upper, format.parse_line("- - 2001:db8::2").expect("parses"));
}

#[test]
fn known_formats_do_not_allocate_for_unknown_fields() {
    let format = FlowFormat::parse(DEFAULT_FORMAT).expect("default format");
    let record = format
        .parse_line("2 1 eni-1 - - - - - - - 1431280876 1431280934 - NODATA")
        .expect("parses");
    assert_eq!(record.unknown.capacity(), 0);
}

#[test]
fn header_and_spec_compile_to_the_same_format() {
    let from_spec = FlowFormat::parse(RECOMMENDED_FORMAT).expect("spec");
    let header: Vec<&str> = from_spec.field_names().collect();
    let from_header = FlowFormat::from_header(&header.join(" ")).expect("header");
    assert_eq!(from_spec, from_header);
    assert_eq!(from_header.to_spec(), RECOMMENDED_FORMAT);
    assert_eq!(from_spec.len(), 29);
    let underscored = FlowFormat::from_header("account_id pkt_srcaddr my_field").expect("header");
    assert_eq!(
        underscored.field_names().collect::<Vec<_>>(),
        ["account-id", "pkt-srcaddr", "my_field"]
    );
}

#[test]
fn attribution_check_names_what_is_missing() {
    let cases: [(&str, Vec<&str>); 5] = [
        (
            DEFAULT_FORMAT,
            vec![
                "pkt-srcaddr",
                "pkt-dstaddr",
                "flow-direction or instance-id",
            ],
        ),
        (
            "${pkt-srcaddr} ${pkt-dstaddr} ${bytes} ${start} ${instance-id}",
            vec![],
        ),
        (
            "${pkt-srcaddr} ${pkt-dstaddr} ${bytes} ${start} ${flow-direction}",
            vec![],
        ),
        (
            "${az-id} ${flow-direction} ${pkt-srcaddr} ${pkt-dstaddr} ${start} ${bytes}",
            vec![],
        ),
        (
            "${pkt-dstaddr} ${flow-direction}",
            vec!["pkt-srcaddr", "bytes", "start"],
        ),
    ];
    for (spec, expected) in cases {
        let format = FlowFormat::parse(spec).expect("format");
        match format.require_attribution_fields() {
            Ok(()) => assert!(expected.is_empty(), "{spec} accepted"),
            Err(FormatError::MissingAttributionFields { missing }) => {
                assert_eq!(missing, expected, "{spec}");
            }
            Err(other) => panic!("{spec}: unexpected {other}"),
        }
    }
    let refusal = FlowFormat::parse(DEFAULT_FORMAT)
        .and_then(|format| format.require_attribution_fields())
        .expect_err("v2 default refused");
    insta::assert_snapshot!(refusal.to_string());
}

#[test]
fn format_errors_say_why() {
    let cases: [(&str, Result<FlowFormat, FormatError>); 8] = [
        ("empty spec", FlowFormat::parse("  ")),
        ("empty header", FlowFormat::from_header("")),
        (
            "bare name in spec",
            FlowFormat::parse("${version} account-id"),
        ),
        (
            "unclosed placeholder",
            FlowFormat::parse("${version} ${bytes"),
        ),
        ("empty placeholder", FlowFormat::parse("${version} ${}")),
        (
            "data line as header",
            FlowFormat::from_header("2 123456789010 eni-1 10.0.0.1"),
        ),
        (
            "duplicate field",
            FlowFormat::parse("${bytes} ${start} ${bytes}"),
        ),
        (
            "duplicate unknown field",
            FlowFormat::from_header("x-new bytes x-new"),
        ),
    ];
    let messages: Vec<String> = cases
        .into_iter()
        .map(|(name, result)| format!("{name}: {}", result.expect_err(name)))
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn parse_errors_name_field_value_and_reason() {
    let format = FlowFormat::parse(
        "${version} ${srcaddr} ${srcport} ${protocol} ${bytes} ${start} ${action} ${log-status} \
         ${flow-direction} ${traffic-path}",
    )
    .expect("format");
    let good = [
        "5",
        "10.0.0.1",
        "443",
        "6",
        "100",
        "1700000000",
        "ACCEPT",
        "OK",
        "egress",
        "1",
    ];
    let replace = |index: usize, value: &str| {
        let mut fields = good;
        fields[index] = value;
        fields.join(" ")
    };
    assert!(format.parse_line(&good.join(" ")).is_ok());
    let lines = [
        ("too few fields", good[..9].join(" ")),
        ("too many fields", format!("{} extra", good.join(" "))),
        ("empty line", String::new()),
        ("version 256", replace(0, "256")),
        ("bad IPv4", replace(1, "10.0.0.300")),
        ("bad IPv6", replace(1, "2001:db8::g")),
        ("port out of range", replace(2, "70000")),
        ("negative port", replace(2, "-1")),
        ("protocol not a number", replace(3, "tcp")),
        ("bytes overflow", replace(4, "18446744073709551616")),
        ("start not a number", replace(5, "2024-01-01")),
        ("lower-case action", replace(6, "accept")),
        ("unknown log status", replace(7, "FAILED")),
        ("unknown direction", replace(8, "both")),
        ("long value cut", replace(9, &"9".repeat(200))),
    ];
    let messages: Vec<String> = lines
        .iter()
        .map(|(name, line)| format!("{name}: {}", format.parse_line(line).expect_err(name)))
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}

mod properties {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;
    use proptest::sample::subsequence;

    use super::super::*;

    /// A string value that reads back as itself: no whitespace, not empty, not `-`.
    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "123456789010",
            "eni-0a1b2c3d",
            "i-0abc",
            "use1-az4",
            "vpc-1",
            "subnet-2",
            "IPv4",
            "S3",
            "unknown",
            "arn:aws:ecs:us-east-1:1:cluster/x",
            "ümlaut",
        ])
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<Ipv4Addr>().prop_map(IpAddr::V4),
            any::<Ipv6Addr>().prop_map(IpAddr::V6)
        ]
    }

    fn keyword<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
        prop::sample::select(all)
    }

    prop_compose! {
        fn numbers()(
            version in any::<Option<u8>>(), srcport in any::<Option<u16>>(),
            dstport in any::<Option<u16>>(), protocol in any::<Option<u8>>(),
            packets in any::<Option<u64>>(), bytes in any::<Option<u64>>(),
            start in any::<Option<i64>>(), end in any::<Option<i64>>(),
            tcp_flags in any::<Option<u16>>(), traffic_path in any::<Option<u8>>(),
        ) -> FlowRecord<'static> {
            FlowRecord {
                version, srcport, dstport, protocol, packets, bytes, start, end, tcp_flags,
                traffic_path, ..FlowRecord::default()
            }
        }
    }

    prop_compose! {
        fn record()(
            numbers in numbers(),
            ips in proptest::array::uniform4(proptest::option::of(ip())),
            texts in proptest::collection::vec(proptest::option::of(token()), 23),
            action in proptest::option::of(keyword(Action::ALL)),
            log_status in proptest::option::of(keyword(LogStatus::ALL)),
            flow_direction in proptest::option::of(keyword(FlowDirection::ALL)),
        ) -> FlowRecord<'static> {
            let [srcaddr, dstaddr, pkt_srcaddr, pkt_dstaddr] = ips;
            let t = |i: usize| texts[i];
            FlowRecord {
                srcaddr, dstaddr, pkt_srcaddr, pkt_dstaddr, action, log_status, flow_direction,
                account_id: t(0), interface_id: t(1), vpc_id: t(2), subnet_id: t(3),
                instance_id: t(4), traffic_type: t(5), region: t(6), az_id: t(7),
                sublocation_type: t(8), sublocation_id: t(9), pkt_src_aws_service: t(10),
                pkt_dst_aws_service: t(11), reject_reason: t(12),
                ecs: EcsFields {
                    cluster_arn: t(13), cluster_name: t(14), container_instance_arn: t(15),
                    container_instance_id: t(16), container_id: t(17), second_container_id: t(18),
                    service_name: t(19), task_definition_arn: t(20), task_arn: t(21),
                    task_id: t(22),
                },
                ..numbers
            }
        }
    }

    /// A random subset of the known fields plus two unknown ones, shuffled.
    fn format() -> impl Strategy<Value = FlowFormat> {
        let mut names: Vec<&'static str> = Field::ALL.iter().map(|f| f.name()).collect();
        names.extend(["resource-id", "x-future"]);
        let len = names.len();
        subsequence(names, 1..=len)
            .prop_shuffle()
            .prop_map(|names| FlowFormat::from_header(&names.join(" ")).expect("valid names"))
    }

    /// What a record looks like after a trip through `format`: fields outside it are absent.
    fn project<'a>(
        format: &'a FlowFormat,
        record: &FlowRecord<'a>,
        unknown: &'a str,
    ) -> FlowRecord<'a> {
        let mut expected = FlowRecord::default();
        for name in format.field_names() {
            match Field::from_name(name) {
                Some(field) => copy_field(field, record, &mut expected),
                None if name == "resource-id" => expected.unknown.push((name, unknown)),
                None => expected.unknown.push((name, ABSENT)),
            }
        }
        expected
    }

    fn copy_field<'a>(field: Field, source: &FlowRecord<'a>, to: &mut FlowRecord<'a>) {
        match field {
            Field::Version => to.version = source.version,
            Field::AccountId => to.account_id = source.account_id,
            Field::InterfaceId => to.interface_id = source.interface_id,
            Field::SrcAddr => to.srcaddr = source.srcaddr,
            Field::DstAddr => to.dstaddr = source.dstaddr,
            Field::SrcPort => to.srcport = source.srcport,
            Field::DstPort => to.dstport = source.dstport,
            Field::Protocol => to.protocol = source.protocol,
            Field::Packets => to.packets = source.packets,
            Field::Bytes => to.bytes = source.bytes,
            Field::Start => to.start = source.start,
            Field::End => to.end = source.end,
            Field::Action => to.action = source.action,
            Field::LogStatus => to.log_status = source.log_status,
            Field::VpcId => to.vpc_id = source.vpc_id,
            Field::SubnetId => to.subnet_id = source.subnet_id,
            Field::InstanceId => to.instance_id = source.instance_id,
            Field::TcpFlags => to.tcp_flags = source.tcp_flags,
            Field::Type => to.traffic_type = source.traffic_type,
            Field::PktSrcAddr => to.pkt_srcaddr = source.pkt_srcaddr,
            Field::PktDstAddr => to.pkt_dstaddr = source.pkt_dstaddr,
            Field::Region => to.region = source.region,
            Field::AzId => to.az_id = source.az_id,
            Field::SublocationType => to.sublocation_type = source.sublocation_type,
            Field::SublocationId => to.sublocation_id = source.sublocation_id,
            Field::PktSrcAwsService => to.pkt_src_aws_service = source.pkt_src_aws_service,
            Field::PktDstAwsService => to.pkt_dst_aws_service = source.pkt_dst_aws_service,
            Field::FlowDirection => to.flow_direction = source.flow_direction,
            Field::TrafficPath => to.traffic_path = source.traffic_path,
            Field::EcsClusterArn => to.ecs.cluster_arn = source.ecs.cluster_arn,
            Field::EcsClusterName => to.ecs.cluster_name = source.ecs.cluster_name,
            Field::EcsContainerInstanceArn => {
                to.ecs.container_instance_arn = source.ecs.container_instance_arn;
            }
            Field::EcsContainerInstanceId => {
                to.ecs.container_instance_id = source.ecs.container_instance_id;
            }
            Field::EcsContainerId => to.ecs.container_id = source.ecs.container_id,
            Field::EcsSecondContainerId => {
                to.ecs.second_container_id = source.ecs.second_container_id;
            }
            Field::EcsServiceName => to.ecs.service_name = source.ecs.service_name,
            Field::EcsTaskDefinitionArn => {
                to.ecs.task_definition_arn = source.ecs.task_definition_arn;
            }
            Field::EcsTaskArn => to.ecs.task_arn = source.ecs.task_arn,
            Field::EcsTaskId => to.ecs.task_id = source.ecs.task_id,
            Field::RejectReason => to.reject_reason = source.reject_reason,
        }
    }

    proptest! {
        #[test]
        fn rendered_records_parse_back(format in format(), record in record(), unknown in token()) {
            let expected = project(&format, &record, unknown);
            let mut line = String::new();
            let mut with_unknown = record.clone();
            with_unknown.unknown = vec![("resource-id", unknown)];
            format.render_line(&with_unknown, &mut line);
            prop_assert_eq!(format.parse_line(&line), Ok(expected));
        }

        #[test]
        fn parse_line_never_panics(line in "\\PC{0,300}") {
            let format = FlowFormat::parse(RECOMMENDED_FORMAT).expect("format");
            let _ = format.parse_line(&line);
        }

        #[test]
        fn parse_line_never_panics_on_near_valid_lines(
            tokens in proptest::collection::vec(
                prop_oneof!["-", "[0-9]{1,25}", "[0-9a-f:.]{1,40}", "ACCEPT|REJECT|OK|egress|\\PC{1,5}"],
                0..35,
            ),
        ) {
            let format = FlowFormat::parse(RECOMMENDED_FORMAT).expect("format");
            let _ = format.parse_line(&tokens.join(" "));
        }

        #[test]
        fn record_lines_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(lines) = record_lines(&data) {
                for line in lines {
                    let line = line.expect("every line of an accepted record is Ok");
                    prop_assert!(!line.trim_ascii().is_empty());
                }
            }
        }

        #[test]
        fn record_lines_loses_no_line(
            lines in proptest::collection::vec("[ -~]{0,40}", 1..8),
            wrap in any::<bool>(),
            crlf in any::<bool>(),
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let data = if wrap {
                lines
                    .iter()
                    .map(|line| serde_json::json!({ "message": line }).to_string())
                    .collect::<Vec<_>>()
                    .join(newline)
            } else {
                lines.join(newline)
            };
            let expected: Vec<&str> =
                lines.iter().map(String::as_str).filter(|l| !l.trim().is_empty()).collect();
            match record_lines(data.as_bytes()) {
                Ok(framed) => {
                    let framed: Result<Vec<_>, _> = framed.collect();
                    prop_assert_eq!(framed.expect("lines are Ok"), expected);
                }
                Err(FrameError::Empty) => prop_assert!(expected.is_empty()),
                Err(other) => {
                    // A raw first line starting with `{` is read as JSON: refused, never lost.
                    prop_assert!(!wrap && lines.iter().find(|l| !l.trim().is_empty())
                        .is_some_and(|l| l.trim_start().starts_with('{')), "{}", other);
                }
            }
        }
    }
}

#[test]
fn records_outlive_their_format() {
    let line = String::from("7 raw-value");
    let record = {
        let format = FlowFormat::from_header("bytes x-new-field").expect("format");
        format.parse_line(&line).expect("parses")
    };
    assert_eq!(record.bytes, Some(7));
    assert_eq!(record.unknown, [("x-new-field", "raw-value")]);
}

//! Rendering records as flow-log text lines in any field order, for the field names of flow-log
//! versions 2 to 8 (aws-facts §5).
//!
//! Deliberately independent of the processor's parser (`crossaz::flowlog`): the load test must
//! not share code with what it checks, and the dependency points processor -> loadtest. Fields
//! not in the table render as `-`, which is what AWS writes for values it cannot compute.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::cluster::{ACCOUNT_ID, Cluster, REGION, VPC_ID};
use crate::record::{Action, Direction, FlowRecord, LogStatus};

/// The v2 default format (cannot express pod traffic; the processor must refuse it).
pub const V2_DEFAULT_FORMAT: &str = "version account-id interface-id srcaddr dstaddr srcport \
     dstport protocol packets bytes start end action log-status";
/// The custom format aws-facts §6 recommends.
pub const RECOMMENDED_FORMAT: &str = "version interface-id instance-id srcaddr dstaddr \
     pkt-srcaddr pkt-dstaddr srcport dstport protocol packets bytes start end action log-status \
     az-id flow-direction traffic-path";

/// Every field of versions 2-8 with the version that introduced it.
pub const FIELDS: [(&str, u8); 40] = [
    ("version", 2),
    ("account-id", 2),
    ("interface-id", 2),
    ("srcaddr", 2),
    ("dstaddr", 2),
    ("srcport", 2),
    ("dstport", 2),
    ("protocol", 2),
    ("packets", 2),
    ("bytes", 2),
    ("start", 2),
    ("end", 2),
    ("action", 2),
    ("log-status", 2),
    ("vpc-id", 3),
    ("subnet-id", 3),
    ("instance-id", 3),
    ("tcp-flags", 3),
    ("type", 3),
    ("pkt-srcaddr", 3),
    ("pkt-dstaddr", 3),
    ("region", 4),
    ("az-id", 4),
    ("sublocation-type", 4),
    ("sublocation-id", 4),
    ("pkt-src-aws-service", 5),
    ("pkt-dst-aws-service", 5),
    ("flow-direction", 5),
    ("traffic-path", 5),
    ("ecs-cluster-arn", 7),
    ("ecs-cluster-name", 7),
    ("ecs-container-instance-arn", 7),
    ("ecs-container-instance-id", 7),
    ("ecs-container-id", 7),
    ("ecs-second-container-id", 7),
    ("ecs-service-name", 7),
    ("ecs-task-definition-arn", 7),
    ("ecs-task-arn", 7),
    ("ecs-task-id", 7),
    ("reject-reason", 8),
];

/// The fields of [`FIELDS`], in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Version,
    AccountId,
    InterfaceId,
    Srcaddr,
    Dstaddr,
    Srcport,
    Dstport,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcaddr,
    PktDstaddr,
    Region,
    AzId,
    SublocationType,
    SublocationId,
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
    EcsClusterArn,
    EcsClusterName,
    EcsContainerInstanceArn,
    EcsContainerInstanceId,
    EcsContainerId,
    EcsSecondContainerId,
    EcsServiceName,
    EcsTaskDefinitionArn,
    EcsTaskArn,
    EcsTaskId,
    RejectReason,
}

/// [`Field`] by index into [`FIELDS`].
const FIELD_KINDS: [Field; 40] = [
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::Srcaddr,
    Field::Dstaddr,
    Field::Srcport,
    Field::Dstport,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
    Field::VpcId,
    Field::SubnetId,
    Field::InstanceId,
    Field::TcpFlags,
    Field::Type,
    Field::PktSrcaddr,
    Field::PktDstaddr,
    Field::Region,
    Field::AzId,
    Field::SublocationType,
    Field::SublocationId,
    Field::PktSrcAwsService,
    Field::PktDstAwsService,
    Field::FlowDirection,
    Field::TrafficPath,
    Field::EcsClusterArn,
    Field::EcsClusterName,
    Field::EcsContainerInstanceArn,
    Field::EcsContainerInstanceId,
    Field::EcsContainerId,
    Field::EcsSecondContainerId,
    Field::EcsServiceName,
    Field::EcsTaskDefinitionArn,
    Field::EcsTaskArn,
    Field::EcsTaskId,
    Field::RejectReason,
];

/// Split a format into field names: accepts `${a} ${b}` (the `LogFormat` syntax) and `a b`
/// (an S3 header line).
pub fn parse_format(format: &str) -> Vec<String> {
    format
        .split_whitespace()
        .map(|token| {
            token
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or(token)
                .to_string()
        })
        .collect()
}

/// Index of a field in [`FIELDS`], `None` for names outside versions 2-8.
fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|(n, _)| *n == name)
}

/// A compiled field list that renders [`FlowRecord`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    names: Vec<String>,
    fields: Vec<Option<Field>>,
    version: u8,
}

impl LineFormat {
    /// Compile a field list (unknown names render as `-`).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        let indexes: Vec<Option<usize>> = names.iter().map(|n| field_index(n)).collect();
        let version = indexes
            .iter()
            .flatten()
            .map(|&i| FIELDS[i].1)
            .max()
            .unwrap_or(2);
        let fields = indexes.iter().map(|i| i.map(|i| FIELD_KINDS[i])).collect();
        LineFormat {
            names,
            fields,
            version,
        }
    }

    /// The field names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The `version` value of every record: the highest version among the chosen fields.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The `${a} ${b}` string for a flow log's `LogFormat`.
    pub fn log_format(&self) -> String {
        self.names
            .iter()
            .map(|n| format!("${{{n}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The header line of an S3 flow-log file: the field names separated by spaces.
    pub fn header(&self) -> String {
        self.names.join(" ")
    }

    /// Render one record into a new string.
    pub fn render(&self, cluster: &Cluster, record: &FlowRecord) -> String {
        let mut line = String::with_capacity(256);
        self.render_into(cluster, record, &mut line);
        line
    }

    /// Append one record's line (no newline) to `out`.
    pub fn render_into(&self, cluster: &Cluster, record: &FlowRecord, out: &mut String) {
        let eni = &cluster.enis[record.eni as usize];
        let node = &cluster.nodes[eni.node];
        let zone = &cluster.zones[node.zone];
        let flow = record.has_flow();
        let mut itoa = itoa::Buffer::new();
        for (k, field) in self.fields.iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            let Some(field) = *field else {
                out.push('-');
                continue;
            };
            match field {
                Field::Version => out.push_str(itoa.format(self.version)),
                Field::AccountId => out.push_str(ACCOUNT_ID),
                Field::InterfaceId => out.push_str(&eni.id),
                Field::VpcId => out.push_str(VPC_ID),
                Field::SubnetId => out.push_str(&zone.subnet_id),
                Field::InstanceId => out.push_str(&node.instance_id),
                Field::Region => out.push_str(REGION),
                Field::AzId => out.push_str(&zone.id),
                Field::Start => out.push_str(itoa.format(record.start)),
                Field::End => out.push_str(itoa.format(record.end)),
                Field::LogStatus => out.push_str(match record.log_status {
                    LogStatus::Ok => "OK",
                    LogStatus::NoData => "NODATA",
                    LogStatus::SkipData => "SKIPDATA",
                }),
                _ if !flow => out.push('-'),
                Field::Srcaddr | Field::Dstaddr => {
                    let own = if matches!(record.pkt_src, IpAddr::V6(_)) {
                        eni.ipv6.map_or(IpAddr::V4(eni.primary_ip), IpAddr::V6)
                    } else {
                        IpAddr::V4(eni.primary_ip)
                    };
                    let egress = record.direction == Direction::Egress;
                    let ip = match (field == Field::Srcaddr, egress) {
                        (true, true) | (false, false) => own,
                        (true, false) => record.pkt_src,
                        (false, true) => record.pkt_dst,
                    };
                    push_ip(out, ip);
                }
                Field::PktSrcaddr => push_ip(out, record.pkt_src),
                Field::PktDstaddr => push_ip(out, record.pkt_dst),
                Field::Srcport => out.push_str(itoa.format(record.src_port)),
                Field::Dstport => out.push_str(itoa.format(record.dst_port)),
                Field::Protocol => out.push_str(itoa.format(record.protocol)),
                Field::Packets => out.push_str(itoa.format(record.packets)),
                Field::Bytes => out.push_str(itoa.format(record.bytes)),
                Field::Action => out.push_str(match record.action {
                    Action::Accept => "ACCEPT",
                    Action::Reject => "REJECT",
                }),
                Field::TcpFlags => out.push_str(itoa.format(record.tcp_flags)),
                Field::Type => out.push_str(if record.pkt_src.is_ipv6() {
                    "IPv6"
                } else {
                    "IPv4"
                }),
                Field::PktSrcAwsService => out.push_str(record.pkt_src_service.unwrap_or("-")),
                Field::PktDstAwsService => out.push_str(record.pkt_dst_service.unwrap_or("-")),
                Field::FlowDirection => out.push_str(match record.direction {
                    Direction::Egress => "egress",
                    Direction::Ingress => "ingress",
                }),
                Field::TrafficPath => match record.traffic_path {
                    Some(path) => out.push_str(itoa.format(path)),
                    None => out.push('-'),
                },
                // sublocation-*, ecs-*, reject-reason: not applicable to EC2 nodes in a region.
                _ => out.push('-'),
            }
        }
    }
}

/// Append an IP; IPv4 without the `fmt` machinery (it is most of the line).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    let mut itoa = itoa::Buffer::new();
    for (k, octet) in ip.octets().into_iter().enumerate() {
        if k > 0 {
            out.push('.');
        }
        out.push_str(itoa.format(octet));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_format_accepts_log_format_and_header_syntax() {
        assert_eq!(
            parse_format("${version} ${pkt-srcaddr}  ${bytes}"),
            vec!["version", "pkt-srcaddr", "bytes"]
        );
        assert_eq!(
            parse_format("version pkt-srcaddr bytes"),
            vec!["version", "pkt-srcaddr", "bytes"]
        );
    }

    #[test]
    fn version_is_the_highest_field_version() {
        let cases = [
            (V2_DEFAULT_FORMAT, 2),
            ("srcaddr pkt-srcaddr", 3),
            ("az-id start", 4),
            (RECOMMENDED_FORMAT, 5),
            ("ecs-task-id bytes", 7),
            ("reject-reason", 8),
            ("something-new", 2),
        ];
        for (format, version) in cases {
            assert_eq!(
                LineFormat::new(&parse_format(format)).version(),
                version,
                "{format}"
            );
        }
    }

    #[test]
    fn log_format_and_header_round_trip() {
        let format = LineFormat::new(&["version", "pkt-srcaddr", "flow-direction"]);
        assert_eq!(
            format.log_format(),
            "${version} ${pkt-srcaddr} ${flow-direction}"
        );
        assert_eq!(format.header(), "version pkt-srcaddr flow-direction");
        assert_eq!(parse_format(&format.log_format()), format.names());
    }

    #[test]
    fn field_names_are_unique() {
        let mut names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
    }

    #[test]
    fn ipv4_rendering_matches_display() {
        for ip in [
            Ipv4Addr::new(10, 0, 32, 68),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(255, 1, 10, 100),
        ] {
            let mut s = String::new();
            push_ipv4(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }
}

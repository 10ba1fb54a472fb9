//! VPC Flow Log records: the format, the typed record, and the Firehose framing around them.
//!
//! This module owns turning bytes into typed flow records and nothing else: a [`FlowFormat`] is
//! compiled once from a `${field} ...` format string or an S3 file's header line, then
//! [`FlowFormat::parse_line`] turns each space-separated line into a [`FlowRecord`] that borrows
//! its strings from the line (no allocation per line unless the format has fields this crate does
//! not know). [`frame::record_lines`] unwraps the lines of one Firehose record. It does no I/O,
//! keeps no clock and makes no attribution decision: which records count is for the caller.
//!
//! Field names, versions and meanings follow the AWS flow-log record reference
//! (<https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html>); `-` means absent.

mod field;
mod format;
pub mod frame;
mod ip;
mod parse;
mod render;
mod tokens;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use field::Field;
pub use format::{FlowFormat, FormatError, MAX_UNKNOWN_NAMES};
pub use frame::{FrameError, RecordLines, record_lines};
pub use parse::{InvalidReason, ParseError};

/// The custom flow-log format crossaz recommends (and `deploy/` creates): every field of versions
/// 2 to 5 that attribution, counting or the output row uses. `pkt-srcaddr`/`pkt-dstaddr` carry the
/// pod IPs (`srcaddr`/`dstaddr` show the ENI's primary IP), `flow-direction` and `instance-id` let
/// each byte be counted once at the sender, `az-id` names the recording ENI's zone.
pub const RECOMMENDED_FORMAT: &str = "${version} ${account-id} ${region} ${vpc-id} ${subnet-id} \
${az-id} ${instance-id} ${interface-id} ${type} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr} \
${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} \
${tcp-flags} ${flow-direction} ${traffic-path} ${pkt-src-aws-service} ${pkt-dst-aws-service} \
${sublocation-type} ${sublocation-id}";

/// The fixed default format (version 2) AWS uses when a flow log has no custom format. It lacks
/// `pkt-srcaddr`, `pkt-dstaddr` and `flow-direction`, so crossaz refuses it.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} \
${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// The spelling of an absent value in a flow-log line.
pub const ABSENT: &str = "-";

/// One flow-log line, typed. Every field is `None` when the format does not contain it or the
/// line holds `-` for it. Strings borrow from the line; unknown field names are kept for the
/// whole process by [`FlowFormat`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowRecord<'a> {
    /// `version` (2): highest version among the format's fields.
    pub version: Option<u8>,
    /// `account-id` (2): owner of the interface; may be `unknown` for AWS-service ENIs.
    pub account_id: Option<&'a str>,
    /// `interface-id` (2): the ENI that recorded the flow.
    pub interface_id: Option<&'a str>,
    /// `srcaddr` (2): source address; the ENI's primary IP on the ENI's own side.
    pub srcaddr: Option<IpAddr>,
    /// `dstaddr` (2): destination address; the ENI's primary IP on the ENI's own side.
    pub dstaddr: Option<IpAddr>,
    /// `srcport` (2).
    pub srcport: Option<u16>,
    /// `dstport` (2).
    pub dstport: Option<u16>,
    /// `protocol` (2): IANA number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: Option<u8>,
    /// `packets` (2): packets in the aggregation window.
    pub packets: Option<u64>,
    /// `bytes` (2): bytes in the aggregation window.
    pub bytes: Option<u64>,
    /// `start` (2): Unix seconds of the window's first packet.
    pub start: Option<i64>,
    /// `end` (2): Unix seconds of the window's last packet.
    pub end: Option<i64>,
    /// `action` (2): accepted or rejected by security groups / network ACLs.
    pub action: Option<Action>,
    /// `log-status` (2).
    pub log_status: Option<LogStatus>,
    /// `vpc-id` (3).
    pub vpc_id: Option<&'a str>,
    /// `subnet-id` (3).
    pub subnet_id: Option<&'a str>,
    /// `instance-id` (3): instance owning the ENI; absent for requester-managed ENIs.
    pub instance_id: Option<&'a str>,
    /// `tcp-flags` (3): bitwise OR of FIN 1, SYN 2, RST 4, SYN-ACK 18 over the window.
    pub tcp_flags: Option<u16>,
    /// `type` (3): `IPv4`, `IPv6` or `EFA`.
    pub traffic_type: Option<&'a str>,
    /// `pkt-srcaddr` (3): the packet's real source address (a pod IP for EKS pods).
    pub pkt_srcaddr: Option<IpAddr>,
    /// `pkt-dstaddr` (3): the packet's real destination address.
    pub pkt_dstaddr: Option<IpAddr>,
    /// `region` (4): Region of the ENI.
    pub region: Option<&'a str>,
    /// `az-id` (4): Availability Zone ID (`use1-az4`) of the ENI.
    pub az_id: Option<&'a str>,
    /// `sublocation-type` (4): `wavelength`, `outpost` or `localzone`.
    pub sublocation_type: Option<&'a str>,
    /// `sublocation-id` (4).
    pub sublocation_id: Option<&'a str>,
    /// `pkt-src-aws-service` (5): AWS service owning `pkt-srcaddr` (`S3`, `EC2`, ...).
    pub pkt_src_aws_service: Option<&'a str>,
    /// `pkt-dst-aws-service` (5): AWS service owning `pkt-dstaddr`.
    pub pkt_dst_aws_service: Option<&'a str>,
    /// `flow-direction` (5): relative to the recording ENI.
    pub flow_direction: Option<FlowDirection>,
    /// `traffic-path` (5): egress path code 1-8.
    pub traffic_path: Option<u8>,
    /// The `ecs-*` fields (7).
    pub ecs: EcsFields<'a>,
    /// `reject-reason` (8): e.g. `BPA` (VPC Block Public Access).
    pub reject_reason: Option<&'a str>,
    /// Fields of the format this crate does not know, as (field name, raw value), in format
    /// order. The raw value is kept as written, `-` included.
    pub unknown: Vec<(&'a str, &'a str)>,
    /// How the line wrote `pkt-srcaddr` and `pkt-dstaddr`.
    pub spelling: AddressSpelling<'a>,
}

/// The text of a record's packet addresses as its line wrote them, set by the parser (`None`
/// where the address is absent, and in records built by hand). A row borrows an IPv4 address's
/// text from here rather than formatting it again: the parser reads only the spelling IPv4's
/// `Display` writes (no leading zeros), so the two are the same text.
///
/// Not part of a record's value: two records are equal when their addresses are, however they
/// were spelled (`2001:DB8::1` is `2001:db8::1`), so this compares equal to any other.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressSpelling<'a> {
    /// `pkt-srcaddr` as written.
    pub pkt_srcaddr: Option<&'a str>,
    /// `pkt-dstaddr` as written.
    pub pkt_dstaddr: Option<&'a str>,
}

impl PartialEq for AddressSpelling<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The version 7 ECS fields of a flow-log record; all absent for non-ECS interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EcsFields<'a> {
    /// `ecs-cluster-arn`.
    pub cluster_arn: Option<&'a str>,
    /// `ecs-cluster-name`.
    pub cluster_name: Option<&'a str>,
    /// `ecs-container-instance-arn` (absent on Fargate).
    pub container_instance_arn: Option<&'a str>,
    /// `ecs-container-instance-id` (absent on Fargate).
    pub container_instance_id: Option<&'a str>,
    /// `ecs-container-id`.
    pub container_id: Option<&'a str>,
    /// `ecs-second-container-id`.
    pub second_container_id: Option<&'a str>,
    /// `ecs-service-name` (absent for standalone tasks).
    pub service_name: Option<&'a str>,
    /// `ecs-task-definition-arn`.
    pub task_definition_arn: Option<&'a str>,
    /// `ecs-task-arn`.
    pub task_arn: Option<&'a str>,
    /// `ecs-task-id`.
    pub task_id: Option<&'a str>,
}

/// Declares a closed set of AWS keywords with their spellings.
macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in AWS documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The AWS spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the AWS spelling (exact, case-sensitive as AWS writes it).
            pub fn from_aws(text: &str) -> Option<Self> {
                Self::from_aws_bytes(text.as_bytes())
            }

            /// [`Self::from_aws`] on bytes: the parser reads keywords without slicing the
            /// line as a `str`.
            #[inline]
            pub fn from_aws_bytes(text: &[u8]) -> Option<Self> {
                $(if text == $text.as_bytes() {
                    return Some($name::$variant);
                })+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// `action`: whether security groups and network ACLs let the traffic through.
    Action {
        /// `ACCEPT`.
        Accept = "ACCEPT",
        /// `REJECT`.
        Reject = "REJECT",
    }
}

keyword_enum! {
    /// `log-status`: whether the record carries a flow.
    LogStatus {
        /// `OK`: data logged normally.
        Ok = "OK",
        /// `NODATA`: no traffic on the interface during the window.
        NoData = "NODATA",
        /// `SKIPDATA`: records were skipped during the window (capacity or internal error).
        SkipData = "SKIPDATA",
    }
}

keyword_enum! {
    /// `flow-direction`: relative to the interface that recorded the flow.
    FlowDirection {
        /// `ingress`.
        Ingress = "ingress",
        /// `egress`.
        Egress = "egress",
    }
}

//! One generated flow-log record, as the generator knows it: what an ENI wrote for one
//! aggregation window, plus the truth about it (its class and both endpoints).
//!
//! Plain data; rendering to text lives in `format`, generation in `traffic`.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::cluster::Endpoint;

/// `flow-direction`, relative to the recording ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the ENI.
    Egress,
    /// Received by the ENI.
    Ingress,
}

/// `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Allowed by security groups and network ACLs.
    Accept,
    /// Denied.
    Reject,
}

/// `log-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStatus {
    /// Data logged normally.
    Ok,
    /// No traffic in the window: no flow fields.
    NoData,
    /// Records skipped in the window: no flow fields.
    SkipData,
}

/// How a record must end up in a processor that follows design §3-§4, checked in this order:
/// NODATA, SKIPDATA, ingress copy, REJECT, an unknown end, same zone, else cross-AZ (kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordClass {
    /// Egress, accepted, both ends known, different zones: the only kept class.
    CrossAz,
    /// Egress, accepted, both ends known, same zone.
    SameAz,
    /// The receiver's copy of an inter-node flow (counted at the sender instead).
    Ingress,
    /// `action` = REJECT.
    Reject,
    /// Egress with at least one end unknown (internet, SNAT'd, a freed IP).
    Unknown,
    /// `log-status` = NODATA.
    NoData,
    /// `log-status` = SKIPDATA.
    SkipData,
}

impl RecordClass {
    /// Every class, in the order above.
    pub const ALL: [RecordClass; 7] = [
        RecordClass::CrossAz,
        RecordClass::SameAz,
        RecordClass::Ingress,
        RecordClass::Reject,
        RecordClass::Unknown,
        RecordClass::NoData,
        RecordClass::SkipData,
    ];

    /// The snake_case name used in truth.json.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordClass::CrossAz => "cross_az",
            RecordClass::SameAz => "same_az",
            RecordClass::Ingress => "ingress",
            RecordClass::Reject => "reject",
            RecordClass::Unknown => "unknown",
            RecordClass::NoData => "no_data",
            RecordClass::SkipData => "skip_data",
        }
    }
}

/// One flow-log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Recording ENI (index into `Cluster::enis`): interface-id, instance-id, subnet, az-id.
    pub eni: u32,
    /// `flow-direction`.
    pub direction: Direction,
    /// `pkt-srcaddr`.
    pub pkt_src: IpAddr,
    /// `pkt-dstaddr`.
    pub pkt_dst: IpAddr,
    /// `srcport`.
    pub src_port: u16,
    /// `dstport`.
    pub dst_port: u16,
    /// `protocol` (IANA number).
    pub protocol: u8,
    /// `packets`.
    pub packets: u64,
    /// `bytes`.
    pub bytes: u64,
    /// `start` (epoch s).
    pub start: i64,
    /// `end` (epoch s).
    pub end: i64,
    /// `action`.
    pub action: Action,
    /// `log-status`.
    pub log_status: LogStatus,
    /// `tcp-flags` (OR of SYN 2, FIN 1, RST 4, SYN-ACK 18 over the window).
    pub tcp_flags: u8,
    /// `traffic-path` (egress only).
    pub traffic_path: Option<u8>,
    /// `pkt-src-aws-service`.
    pub pkt_src_service: Option<&'static str>,
    /// `pkt-dst-aws-service`.
    pub pkt_dst_service: Option<&'static str>,
    /// The truth: how a design-following processor must classify it.
    pub class: RecordClass,
    /// The truth: who `pkt-srcaddr` is at `start` (design §4, §9).
    pub src: Endpoint,
    /// The truth: who `pkt-dstaddr` is at `start`.
    pub dst: Endpoint,
}

impl FlowRecord {
    /// A NODATA or SKIPDATA record of `eni` for the window `[start, end]`.
    pub fn empty(eni: u32, start: i64, end: i64, log_status: LogStatus) -> Self {
        let class = if log_status == LogStatus::SkipData {
            RecordClass::SkipData
        } else {
            RecordClass::NoData
        };
        FlowRecord {
            eni,
            direction: Direction::Egress,
            pkt_src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            pkt_dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            start,
            end,
            action: Action::Accept,
            log_status,
            tcp_flags: 0,
            traffic_path: None,
            pkt_src_service: None,
            pkt_dst_service: None,
            class,
            src: Endpoint::Unknown,
            dst: Endpoint::Unknown,
        }
    }

    /// Whether the record carries a flow (log-status OK).
    pub fn has_flow(&self) -> bool {
        self.log_status == LogStatus::Ok
    }
}

//! Attribution and counting (design §4 and §9): one parsed flow record in, one decision out.
//!
//! This module owns the counting rules — which copy of a flow is counted, which records are
//! dropped and why, when a flow is cross-AZ — and what a kept flow carries ([`Kept`]). It is
//! pure: the snapshot index and pricing are passed in, nothing is read from the clock, the
//! network or the environment. The order of the checks is part of the contract (every record
//! lands in exactly one class) and is documented in `docs/counting.md`.

use pod_cache::index::{Endpoint, PodIndex};
use thiserror::Error;
use xxhash_rust::xxh3::xxh3_64;

use crate::flowlog::{Action, FlowDirection, FlowRecord, LogStatus};
use crate::kept::{Kept, Side};
use crate::row::PartitionHour;

/// Default price of one GB counted at egress: $0.01/GB out plus $0.01/GB in, both billed for
/// cross-AZ transfer in US regions (aws-facts, EC2 data-transfer pricing).
pub const DEFAULT_USD_PER_GB: f64 = 0.02;
/// AWS data-transfer pricing counts a GB as 2^30 bytes.
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// Why a record was not kept. Every dropped record is counted under exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// `log-status` NODATA: no traffic on the interface during the window.
    NoData,
    /// `log-status` SKIPDATA: records were skipped during the window (capacity or error).
    SkipData,
    /// The receiver's copy (`flow-direction` ingress): the sender's copy is the one counted.
    Ingress,
    /// No `flow-direction`, and `instance-id` is not the sending node's instance.
    NotSender,
    /// `action` REJECT: the packets never reached the other side.
    Reject,
    /// One side is not a pod, hostNetwork pod or node of the cluster (internet, NAT, other VPC
    /// resources), or the record lacks the addresses to tell.
    Unknown,
    /// Both sides known and in the same zone.
    SameAz,
    /// Both sides known but a node's zone is missing from the snapshot.
    NoZone,
}

impl DropReason {
    /// Every reason, in counting order.
    pub const ALL: [DropReason; 8] = [
        DropReason::NoData,
        DropReason::SkipData,
        DropReason::Ingress,
        DropReason::NotSender,
        DropReason::Reject,
        DropReason::Unknown,
        DropReason::SameAz,
        DropReason::NoZone,
    ];

    /// snake_case name used in logs, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoData => "nodata",
            DropReason::SkipData => "skipdata",
            DropReason::Ingress => "ingress",
            DropReason::NotSender => "not_sender",
            DropReason::Reject => "reject",
            DropReason::Unknown => "unknown_endpoint",
            DropReason::SameAz => "same_az",
            DropReason::NoZone => "no_zone",
        }
    }

    /// Whether the decision looked at the snapshot (and so depends on its freshness).
    pub fn depends_on_snapshot(self) -> bool {
        matches!(
            self,
            DropReason::NotSender | DropReason::Unknown | DropReason::SameAz | DropReason::NoZone
        )
    }

    /// Position in [`DropReason::ALL`], for array-backed counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A record that cannot be attributed because it lacks a field the counting rules need.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttributeError {
    /// A field required for a flow record with `log-status` OK is `-` or absent from the format.
    #[error("field `{field}` is absent; crossaz needs it to attribute a flow")]
    MissingField {
        /// Flow-log field name, as AWS spells it.
        field: &'static str,
    },
    /// `start` is outside the range of representable dates.
    #[error("field `start` = {start} is not a valid time")]
    BadStart {
        /// The value.
        start: i64,
    },
}

/// The decision for one flow record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    /// A cross-AZ flow, counted once, and its `dt` partition.
    Keep {
        /// The flow; [`Kept::row`] is its enriched row. Boxed: most decisions are drops, and
        /// moving ~330-byte decisions cost more than the allocation (transform bench: 159.23 M
        /// against 158.06 M instructions boxed, callgrind).
        flow: Box<Kept<'a>>,
        /// The hour of the flow's start: its `dt` partition.
        dt: PartitionHour,
    },
    /// Not kept, for this reason.
    Drop(DropReason),
}

/// Attribution settings that come from the deployment, not from the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pricing {
    /// Estimated USD per GB counted at egress.
    pub usd_per_gb: f64,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            usd_per_gb: DEFAULT_USD_PER_GB,
        }
    }
}

/// Applies the counting rules of design §4 with one snapshot index.
#[derive(Debug, Clone, Copy)]
pub struct Attributor<'i> {
    index: &'i PodIndex,
    pricing: Pricing,
}

impl<'i> Attributor<'i> {
    /// An attributor over `index` with `pricing`.
    pub fn new(index: &'i PodIndex, pricing: Pricing) -> Self {
        Attributor { index, pricing }
    }

    /// The snapshot index in use.
    pub fn index(&self) -> &'i PodIndex {
        self.index
    }

    /// Decides one record. `raw` is the line the record was parsed from (its hash is the row's
    /// `flow_id`). Checks run in the documented order, so each record has one class.
    pub fn attribute<'a>(
        &self,
        record: &FlowRecord<'a>,
        raw: &str,
    ) -> Result<Decision<'a>, AttributeError>
    where
        'i: 'a,
    {
        match record.log_status {
            Some(LogStatus::NoData) => return Ok(Decision::Drop(DropReason::NoData)),
            Some(LogStatus::SkipData) => return Ok(Decision::Drop(DropReason::SkipData)),
            Some(LogStatus::Ok) | None => {}
        }
        if record.flow_direction == Some(FlowDirection::Ingress) {
            return Ok(Decision::Drop(DropReason::Ingress));
        }
        let start = record
            .start
            .ok_or(AttributeError::MissingField { field: "start" })?;
        let bytes = record
            .bytes
            .ok_or(AttributeError::MissingField { field: "bytes" })?;
        let (Some(src_ip), Some(dst_ip)) = (record.pkt_srcaddr, record.pkt_dstaddr) else {
            // Non-IP or SNAT-only records: nothing to attribute them to.
            return Ok(Decision::Drop(DropReason::Unknown));
        };
        let src = self
            .index
            .lookup(src_ip, start, record.srcport, record.protocol);
        if record.flow_direction.is_none() {
            // Without flow-direction both ENIs' copies look alike: count the one recorded on
            // the sending node's instance.
            let sender = src.node().and_then(|n| n.instance_id.as_deref());
            match (record.instance_id, sender) {
                (None, _) => {
                    return Err(AttributeError::MissingField {
                        field: "instance-id",
                    });
                }
                (Some(_), None) => return Ok(Decision::Drop(DropReason::Unknown)),
                (Some(seen), Some(sender)) if seen != sender => {
                    return Ok(Decision::Drop(DropReason::NotSender));
                }
                _ => {}
            }
        }
        if record.action == Some(Action::Reject) {
            return Ok(Decision::Drop(DropReason::Reject));
        }
        let dst = self
            .index
            .lookup(dst_ip, start, record.dstport, record.protocol);
        if matches!(src, Endpoint::Unknown) || matches!(dst, Endpoint::Unknown) {
            return Ok(Decision::Drop(DropReason::Unknown));
        }
        match same_zone(&src, &dst) {
            None => return Ok(Decision::Drop(DropReason::NoZone)),
            Some(true) => return Ok(Decision::Drop(DropReason::SameAz)),
            Some(false) => {}
        }
        let dt = PartitionHour::of(start).ok_or(AttributeError::BadStart { start })?;
        let spelling = record.spelling;
        let flow = Kept {
            flow_hash: xxh3_64(raw.as_bytes()),
            start,
            end: record.end,
            account_id: record.account_id,
            region: record.region,
            vpc_id: record.vpc_id,
            subnet_id: record.subnet_id,
            interface_id: record.interface_id,
            instance_id: record.instance_id,
            flow_direction: record.flow_direction,
            traffic_path: record.traffic_path.map(i32::from),
            protocol: record.protocol.map(i32::from),
            src_port: record.srcport.map(i32::from),
            dst_port: record.dstport.map(i32::from),
            packets: record.packets.map(clamp_i64),
            bytes: clamp_i64(bytes),
            action: record.action,
            cost_usd: bytes as f64 / BYTES_PER_GB * self.pricing.usd_per_gb,
            src: Side {
                ip: src_ip,
                spelled: spelling.pkt_srcaddr,
                endpoint: src,
            },
            dst: Side {
                ip: dst_ip,
                spelled: spelling.pkt_dstaddr,
                endpoint: dst,
            },
        };
        Ok(Decision::Keep {
            flow: Box::new(flow),
            dt,
        })
    }
}

/// `Some(true)` when both ends are in one zone, `None` when a zone is unknown. Zone IDs are
/// compared when both sides have one (they name the same physical zone in every account);
/// zone names otherwise.
fn same_zone(src: &Endpoint<'_>, dst: &Endpoint<'_>) -> Option<bool> {
    if let (Some(a), Some(b)) = (src.zone_id(), dst.zone_id()) {
        return Some(a == b);
    }
    match (src.zone(), dst.zone()) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::net::IpAddr;

    use super::*;
    use crate::fixtures::{T0, index};
    use crate::row::Row;

    fn egress(src: &str, dst: &str, start: i64, bytes: u64) -> FlowRecord<'static> {
        FlowRecord {
            pkt_srcaddr: Some(src.parse::<IpAddr>().unwrap()),
            pkt_dstaddr: Some(dst.parse::<IpAddr>().unwrap()),
            srcport: Some(43512),
            dstport: Some(8080),
            protocol: Some(6),
            bytes: Some(bytes),
            packets: Some(10),
            start: Some(start),
            end: Some(start + 60),
            action: Some(Action::Accept),
            log_status: Some(LogStatus::Ok),
            flow_direction: Some(FlowDirection::Egress),
            ..FlowRecord::default()
        }
    }

    fn kept<'a>(d: &Decision<'a>) -> Row<'a> {
        match d {
            Decision::Keep { flow, .. } => flow.row(),
            Decision::Drop(r) => panic!("dropped: {r:?}"),
        }
    }

    #[test]
    fn ip_reuse_credits_the_pod_that_held_the_ip_at_flow_start() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let before = a
            .attribute(&egress("10.0.1.10", "10.0.2.30", T0 + 600, 100), "l1")
            .unwrap();
        let after = a
            .attribute(&egress("10.0.1.10", "10.0.2.30", T0 + 1800, 100), "l2")
            .unwrap();
        assert_eq!(kept(&before).src_pod.as_deref(), Some("cart-1"));
        assert_eq!(kept(&before).src_workload.as_deref(), Some("cart"));
        assert_eq!(kept(&after).src_pod.as_deref(), Some("payments-1"));
        assert_eq!(kept(&after).src_workload.as_deref(), Some("payments"));
    }

    #[test]
    fn kept_row_carries_both_sides_cost_and_partition() {
        let index = index();
        let a = Attributor::new(&index, Pricing { usd_per_gb: 0.02 });
        let d = a
            .attribute(&egress("10.0.2.30", "10.0.1.10", T0 + 5, 1 << 30), "raw")
            .unwrap();
        let Decision::Keep { flow, dt } = &d else {
            panic!("{d:?}")
        };
        let row = flow.row();
        assert_eq!(dt.key(), "2024-05-01-13");
        assert_eq!(
            row.flow_id.as_deref(),
            Some(format!("{:016x}", xxh3_64(b"raw")).as_str())
        );
        assert_eq!(row.src_kind.as_deref(), Some("pod"));
        assert_eq!(row.src_namespace.as_deref(), Some("shop"));
        assert_eq!(row.src_workload_kind.as_deref(), Some("Deployment"));
        assert_eq!(row.src_node.as_deref(), Some("n-b"));
        assert_eq!(row.src_zone.as_deref(), Some("us-east-1b"));
        assert_eq!(row.src_zone_id.as_deref(), Some("use1-az2"));
        assert_eq!(row.dst_pod.as_deref(), Some("cart-1"));
        assert_eq!(row.dst_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(row.dst_zone_id, None);
        assert_eq!(row.dst_ip.as_deref(), Some("10.0.1.10"));
        assert_eq!(row.bytes, Some(1 << 30));
        assert_eq!(row.cost_usd, Some(0.02));
        assert_eq!(row.flow_direction.as_deref(), Some("egress"));
        assert_eq!(row.action.as_deref(), Some("ACCEPT"));
    }

    #[test]
    fn drop_reasons_follow_the_counting_rules() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let cross = egress("10.0.2.30", "10.0.1.10", T0 + 5, 100);
        let cases: Vec<(&str, FlowRecord<'static>, DropReason)> = vec![
            (
                "nodata",
                FlowRecord {
                    log_status: Some(LogStatus::NoData),
                    ..cross.clone()
                },
                DropReason::NoData,
            ),
            (
                "skipdata",
                FlowRecord {
                    log_status: Some(LogStatus::SkipData),
                    ..cross.clone()
                },
                DropReason::SkipData,
            ),
            (
                "ingress copy",
                FlowRecord {
                    flow_direction: Some(FlowDirection::Ingress),
                    ..cross.clone()
                },
                DropReason::Ingress,
            ),
            (
                "reject",
                FlowRecord {
                    action: Some(Action::Reject),
                    ..cross.clone()
                },
                DropReason::Reject,
            ),
            (
                "internet",
                egress("10.0.2.30", "52.94.0.1", T0, 100),
                DropReason::Unknown,
            ),
            (
                "unknown source",
                egress("10.9.9.9", "10.0.1.10", T0, 100),
                DropReason::Unknown,
            ),
            (
                "same zone by id",
                egress("10.0.2.30", "10.0.2.40", T0, 100),
                DropReason::SameAz,
            ),
            (
                "stale Succeeded ip",
                egress("10.0.2.20", "10.0.1.10", T0, 100),
                DropReason::Unknown,
            ),
            (
                "no pkt address",
                FlowRecord {
                    pkt_dstaddr: None,
                    ..cross.clone()
                },
                DropReason::Unknown,
            ),
        ];
        for (name, record, reason) in cases {
            assert_eq!(
                a.attribute(&record, name).unwrap(),
                Decision::Drop(reason),
                "{name}"
            );
        }
    }

    #[test]
    fn without_flow_direction_the_senders_instance_copy_counts() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let base = FlowRecord {
            flow_direction: None,
            ..egress("10.0.2.30", "10.0.1.10", T0, 7)
        };
        let on_sender = FlowRecord {
            instance_id: Some("i-b"),
            ..base.clone()
        };
        let on_receiver = FlowRecord {
            instance_id: Some("i-a"),
            ..base.clone()
        };
        assert_eq!(kept(&a.attribute(&on_sender, "s").unwrap()).bytes, Some(7));
        assert_eq!(
            a.attribute(&on_receiver, "r").unwrap(),
            Decision::Drop(DropReason::NotSender)
        );
        assert_eq!(
            a.attribute(&base, "x").unwrap_err(),
            AttributeError::MissingField {
                field: "instance-id"
            }
        );
    }

    #[test]
    fn host_network_pod_by_declared_port_else_node() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let scrape = FlowRecord {
            dstport: Some(9100),
            ..egress("10.0.1.10", "10.0.2.2", T0, 5)
        };
        let row = a.attribute(&scrape, "s").unwrap();
        assert_eq!(kept(&row).dst_kind.as_deref(), Some("hostnet"));
        assert_eq!(kept(&row).dst_pod.as_deref(), Some("node-exporter-x"));
        assert_eq!(kept(&row).dst_workload_kind.as_deref(), Some("DaemonSet"));
        let kubelet = FlowRecord {
            dstport: Some(10250),
            ..scrape.clone()
        };
        let row = a.attribute(&kubelet, "k").unwrap();
        assert_eq!(kept(&row).dst_kind.as_deref(), Some("node"));
        assert_eq!(kept(&row).dst_pod, None);
        assert_eq!(kept(&row).dst_node.as_deref(), Some("n-b"));
    }

    #[test]
    fn node_to_node_is_kept_with_kind_node_on_both_sides() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let row = a
            .attribute(&egress("10.0.1.1", "10.0.2.3", T0, 1000), "n")
            .unwrap();
        assert_eq!(kept(&row).src_kind.as_deref(), Some("node"));
        assert_eq!(kept(&row).dst_kind.as_deref(), Some("node"));
        assert_eq!(kept(&row).src_node.as_deref(), Some("n-a"));
        assert_eq!(kept(&row).dst_node.as_deref(), Some("n-b2"));
    }

    #[test]
    fn ipv6_pods_are_attributed() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let row = a
            .attribute(&egress("fd00::1e", "fd00::a", T0, 64), "v6")
            .unwrap();
        assert_eq!(kept(&row).src_pod.as_deref(), Some("search-1"));
        assert_eq!(kept(&row).dst_pod.as_deref(), Some("api-1"));
        assert_eq!(kept(&row).src_ip.as_deref(), Some("fd00::1e"));
    }

    #[test]
    fn rows_borrow_ipv4_text_from_the_line_and_write_ipv6_as_display_does() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let spelled = |src, dst, spelling: [&'static str; 2]| FlowRecord {
            spelling: crate::flowlog::AddressSpelling {
                pkt_srcaddr: Some(spelling[0]),
                pkt_dstaddr: Some(spelling[1]),
            },
            ..egress(src, dst, T0, 64)
        };
        let v4 = a
            .attribute(
                &spelled("10.0.2.30", "10.0.1.10", ["10.0.2.30", "10.0.1.10"]),
                "4",
            )
            .unwrap();
        let row = kept(&v4);
        assert!(
            matches!(&row.src_ip, Some(Cow::Borrowed("10.0.2.30"))),
            "{row:?}"
        );
        assert!(
            matches!(&row.dst_ip, Some(Cow::Borrowed("10.0.1.10"))),
            "{row:?}"
        );
        // IPv6 may be spelled many ways; rows hold the one `Display` writes.
        let v6 = a
            .attribute(
                &spelled("fd00::1e", "fd00::a", ["FD00:0::1E", "fd00:0:0::a"]),
                "6",
            )
            .unwrap();
        assert_eq!(kept(&v6).src_ip.as_deref(), Some("fd00::1e"));
        assert_eq!(kept(&v6).dst_ip.as_deref(), Some("fd00::a"));
        // Records built without a spelling get the formatted address.
        let plain = a
            .attribute(&egress("10.0.2.30", "10.0.1.10", T0, 64), "p")
            .unwrap();
        assert_eq!(kept(&plain).src_ip.as_deref(), Some("10.0.2.30"));
    }

    #[test]
    fn missing_bytes_is_an_error_naming_the_field() {
        let index = index();
        let a = Attributor::new(&index, Pricing::default());
        let record = FlowRecord {
            bytes: None,
            ..egress("10.0.2.30", "10.0.1.10", T0, 1)
        };
        let err = a.attribute(&record, "b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `bytes` is absent; crossaz needs it to attribute a flow"
        );
    }
}

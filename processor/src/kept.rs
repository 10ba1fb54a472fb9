//! A kept flow (design §4 and §6) as attribution hands it out: the line's values and, for each
//! side, the address and the endpoint that held it, by reference.
//!
//! This module owns the two ways from a kept flow to the enriched row: [`Kept::row`], the
//! [`Row`] a columnar writer takes, and [`Kept::write_json`], that row's JSON written directly,
//! as the transform returns it. The second writes each endpoint's nine members (kind, namespace,
//! pod, workload, app, node, zone) from a text rendered once per snapshot and kept in the index
//! ([`PodIndex::memo`]), instead of copying nine strings from nine places for every row. Both go
//! through [`Row`]'s one schema definition: the memo holds what [`Row::write_json`] writes for a
//! row with only that side's endpoint columns, spliced in after the side's address.

use std::borrow::Cow;
use std::net::IpAddr;

use pod_cache::index::{Endpoint, PodIndex};

use crate::flowlog::{Action, FlowDirection};
use crate::row::{Row, column};

/// A cross-AZ flow, counted once. Numbers are held as the row holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept<'a> {
    /// xxh3-64 of the raw line; the row's `flow_id` is its hex.
    pub flow_hash: u64,
    /// Flow-log `start`, epoch seconds.
    pub start: i64,
    /// Flow-log `end`.
    pub end: Option<i64>,
    /// Flow-log `account-id`.
    pub account_id: Option<&'a str>,
    /// Flow-log `region`.
    pub region: Option<&'a str>,
    /// Flow-log `vpc-id`.
    pub vpc_id: Option<&'a str>,
    /// Flow-log `subnet-id`.
    pub subnet_id: Option<&'a str>,
    /// Flow-log `interface-id`.
    pub interface_id: Option<&'a str>,
    /// Flow-log `instance-id`.
    pub instance_id: Option<&'a str>,
    /// Flow-log `flow-direction`.
    pub flow_direction: Option<FlowDirection>,
    /// Flow-log `traffic-path`.
    pub traffic_path: Option<i32>,
    /// IANA protocol number.
    pub protocol: Option<i32>,
    /// Source port.
    pub src_port: Option<i32>,
    /// Destination port.
    pub dst_port: Option<i32>,
    /// Packets (flow-log values over `i64::MAX` held as `i64::MAX`).
    pub packets: Option<i64>,
    /// Bytes, counted once at the sender (held as `packets` is).
    pub bytes: i64,
    /// Flow-log `action`.
    pub action: Option<Action>,
    /// Estimated cost in USD.
    pub cost_usd: f64,
    /// The sending side.
    pub src: Side<'a>,
    /// The receiving side.
    pub dst: Side<'a>,
}

/// One side of a kept flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Side<'a> {
    /// The packet-level address (`pkt-srcaddr` or `pkt-dstaddr`).
    pub ip: IpAddr,
    /// The address as the line wrote it, when the parser vouches that it is the text `Display`
    /// writes (see `AddressSpelling`): the row borrows it.
    pub spelled: Option<&'a str>,
    /// Who held the address at the flow's start.
    pub endpoint: Endpoint<'a>,
}

/// Which side of a flow: the `src_` or `dst_` columns, and the [`PodIndex::memo`] slot of
/// each endpoint's members on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Src = 0,
    Dst = 1,
}

/// Where each side's endpoint members go: after its address.
const SRC_IP: usize = column("src_ip");
const DST_IP: usize = column("dst_ip");

impl<'a> Kept<'a> {
    /// The enriched row.
    pub fn row(&self) -> Row<'a> {
        let mut row = self.line_row(Cow::Owned(flow_id_of(self.flow_hash)));
        fill_endpoint(&mut row, Which::Src, &self.src.endpoint);
        fill_endpoint(&mut row, Which::Dst, &self.dst.endpoint);
        row
    }

    /// Appends [`Kept::row`]'s JSON, byte for byte what [`Row::write_json`] writes for it.
    /// `index` is the one whose lookups gave the endpoints: it keeps each endpoint's members,
    /// escaped as JSON needs. With `check` false, the strings from the line are copied without
    /// looking for bytes JSON must escape: the caller knows the line has none.
    pub fn write_json(&self, index: &PodIndex, out: &mut Vec<u8>, check: bool) {
        let digits = flow_id_digits(self.flow_hash);
        // Hex digits are ASCII: `from_utf8` never fails on them.
        let flow_id = std::str::from_utf8(&digits).unwrap_or_default();
        let row = self.line_row(Cow::Borrowed(flow_id));
        row.write_json_spliced(out, check, |at, out| match at {
            SRC_IP => endpoint_members(index, Which::Src, &self.src.endpoint, out),
            DST_IP => endpoint_members(index, Which::Dst, &self.dst.endpoint, out),
            _ => {}
        });
    }

    /// The row without the endpoint columns: what comes from the line, the addresses and the
    /// cost.
    fn line_row<'r>(&self, flow_id: Cow<'r, str>) -> Row<'r>
    where
        'a: 'r,
    {
        Row {
            flow_id: Some(flow_id),
            start_ts: Some(self.start),
            end_ts: self.end,
            account_id: self.account_id.map(Cow::Borrowed),
            region: self.region.map(Cow::Borrowed),
            vpc_id: self.vpc_id.map(Cow::Borrowed),
            subnet_id: self.subnet_id.map(Cow::Borrowed),
            interface_id: self.interface_id.map(Cow::Borrowed),
            instance_id: self.instance_id.map(Cow::Borrowed),
            flow_direction: self.flow_direction.map(|d| Cow::Borrowed(d.as_str())),
            traffic_path: self.traffic_path,
            protocol: self.protocol,
            src_port: self.src_port,
            dst_port: self.dst_port,
            packets: self.packets,
            bytes: Some(self.bytes),
            action: self.action.map(|a| Cow::Borrowed(a.as_str())),
            src_ip: Some(self.src.ip_text()),
            dst_ip: Some(self.dst.ip_text()),
            cost_usd: Some(self.cost_usd),
            ..Row::default()
        }
    }
}

impl<'a> Side<'a> {
    /// The address as `IpAddr`'s `Display` writes it: an IPv4 address as the line wrote it
    /// (borrowed, it spares a row two small allocations, which cost more time than their
    /// instructions say: the memory they hand out is rarely in cache), else formatted.
    #[inline]
    fn ip_text(&self) -> Cow<'a, str> {
        match (self.ip, self.spelled) {
            (IpAddr::V4(_), Some(text)) => Cow::Borrowed(text),
            _ => Cow::Owned(ip_text(self.ip)),
        }
    }
}

/// Appends the endpoint's members on side `which`, from the index's memo (rendered on the
/// first row that names the endpoint), or rendered now for an endpoint from another index.
#[inline]
fn endpoint_members(index: &PodIndex, which: Which, endpoint: &Endpoint<'_>, out: &mut Vec<u8>) {
    let render = || render_members(which, endpoint);
    match index.memo(endpoint, which as usize, render) {
        Some(members) => out.extend_from_slice(members.as_bytes()),
        None => out.extend_from_slice(render_members(which, endpoint).as_bytes()),
    }
}

/// The members `,"src_kind":"pod","src_namespace":…` that [`Row::write_json`] writes for the
/// endpoint's columns on side `which`, escaped as JSON needs.
#[cold]
fn render_members(which: Which, endpoint: &Endpoint<'_>) -> String {
    let mut row = Row::default();
    fill_endpoint(&mut row, which, endpoint);
    let mut json = Vec::new();
    row.write_json(&mut json);
    // `{…}` to `,…`: members, each after its comma. An endpoint has a kind, so at least one.
    json.pop();
    if json.len() > 1 {
        json[0] = b',';
    } else {
        json.clear();
    }
    String::from_utf8(json).unwrap_or_default()
}

/// Sets the endpoint columns of side `which`: kind, then the pod's namespace, name, workload and
/// app label, then the node's name and zone.
fn fill_endpoint<'a>(row: &mut Row<'a>, which: Which, end: &Endpoint<'a>) {
    let pod = end.pod();
    let node = end.node();
    let kind = Some(Cow::Borrowed(end.kind()));
    let namespace = pod.map(|p| Cow::Borrowed(p.namespace.as_str()));
    let name = pod.map(|p| Cow::Borrowed(p.name.as_str()));
    let workload_kind = pod.map(|p| Cow::Borrowed(p.workload_kind.as_str()));
    let workload = pod.map(|p| Cow::Borrowed(p.workload.as_str()));
    let app = pod.and_then(|p| p.app.as_deref()).map(Cow::Borrowed);
    let node_name = node.map(|n| Cow::Borrowed(n.name.as_str()));
    let zone = end.zone().map(Cow::Borrowed);
    let zone_id = end.zone_id().map(Cow::Borrowed);
    match which {
        Which::Src => {
            row.src_kind = kind;
            row.src_namespace = namespace;
            row.src_pod = name;
            row.src_workload_kind = workload_kind;
            row.src_workload = workload;
            row.src_app = app;
            row.src_node = node_name;
            row.src_zone = zone;
            row.src_zone_id = zone_id;
        }
        Which::Dst => {
            row.dst_kind = kind;
            row.dst_namespace = namespace;
            row.dst_pod = name;
            row.dst_workload_kind = workload_kind;
            row.dst_workload = workload;
            row.dst_app = app;
            row.dst_node = node_name;
            row.dst_zone = zone;
            row.dst_zone_id = zone_id;
        }
    }
}

/// The `flow_id` of a line whose xxh3-64 is `hash` (stable across builds and platforms): its 16
/// lower-case hex digits.
fn flow_id_of(hash: u64) -> String {
    let digits = flow_id_digits(hash);
    std::str::from_utf8(&digits).unwrap_or_default().to_owned()
}

/// `hash` as 16 lower-case hex digits. By hand, not `format!("{:016x}")`: one per kept row, and
/// the formatter is slow.
fn flow_id_digits(hash: u64) -> [u8; 16] {
    let [high, low] = [(hash >> 32) as u32, hash as u32].map(hex_digits);
    let mut hex = [0u8; 16];
    hex[..8].copy_from_slice(&high);
    hex[8..].copy_from_slice(&low);
    hex
}

/// The eight lower-case hex digits of `v`, most significant first, computed eight at a time:
/// each nibble spread into its own byte, then `'0'` added, and `'a' - '0' - 10` more where
/// the nibble is over 9 (transform bench: `flow_id` went from 2.91 M to 1.98 M instructions
/// for 10,938 rows, callgrind).
fn hex_digits(v: u32) -> [u8; 8] {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut x = u64::from(v);
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // Nibble `k`, counted from the lowest, is now byte `k`: at most 15, so no byte carries.
    let over_nine = ((x + 6 * ONES) >> 4) & ONES;
    (x + u64::from(b'0') * ONES + over_nine * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// The address as `IpAddr`'s `Display` writes it; IPv4 by hand.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;
    use xxhash_rust::xxh3::xxh3_64;

    use super::*;
    use crate::attribute::{Attributor, Decision, Pricing};
    use crate::fixtures::{T0, index};
    use crate::flowlog::{AddressSpelling, FlowRecord, LogStatus};

    /// Cross-AZ pairs of the fixture cluster: pod to pod, to a hostNetwork pod by port, to a
    /// node, node to node, IPv6.
    const PAIRS: [(&str, &str, u16); 5] = [
        ("10.0.2.30", "10.0.1.10", 8080),
        ("10.0.1.10", "10.0.2.2", 9100),
        ("10.0.1.10", "10.0.2.2", 10_250),
        ("10.0.1.1", "10.0.2.3", 22),
        ("fd00::1e", "fd00::a", 8080),
    ];

    fn record<'a>(src: &'a str, dst: &'a str, port: u16) -> FlowRecord<'a> {
        FlowRecord {
            pkt_srcaddr: Some(src.parse::<IpAddr>().unwrap()),
            pkt_dstaddr: Some(dst.parse::<IpAddr>().unwrap()),
            spelling: AddressSpelling {
                pkt_srcaddr: Some(src).filter(|s| !s.contains(':')),
                pkt_dstaddr: Some(dst).filter(|s| !s.contains(':')),
            },
            srcport: Some(43_512),
            dstport: Some(port),
            protocol: Some(6),
            bytes: Some(1_000),
            packets: Some(10),
            start: Some(T0 + 5),
            end: Some(T0 + 65),
            action: Some(Action::Accept),
            log_status: Some(LogStatus::Ok),
            flow_direction: Some(FlowDirection::Egress),
            ..FlowRecord::default()
        }
    }

    fn keep<'a>(index: &'a PodIndex, record: &FlowRecord<'a>, raw: &str) -> Kept<'a> {
        match Attributor::new(index, Pricing::default()).attribute(record, raw) {
            Ok(Decision::Keep { flow, .. }) => *flow,
            other => panic!("{record:?}: {other:?}"),
        }
    }

    /// What the transform writes for the flow, checked and unchecked, against serde_json's
    /// text of its row.
    fn assert_json_is_the_rows(index: &PodIndex, flow: &Kept<'_>, plain: bool) {
        let serde = serde_json::to_string(&flow.row()).unwrap();
        let checks: &[bool] = if plain { &[true, false] } else { &[true] };
        for &check in checks {
            let mut out = b"[".to_vec();
            flow.write_json(index, &mut out, check);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("[{serde}"),
                "{flow:?}"
            );
        }
    }

    #[test]
    fn every_kind_of_side_is_written_as_its_row() {
        let index = index();
        for (src, dst, port) in PAIRS {
            let flow = keep(&index, &record(src, dst, port), "line");
            let row = flow.row();
            assert_eq!(row.src_ip.as_deref(), Some(src));
            assert_eq!(row.dst_ip.as_deref(), Some(dst));
            assert_eq!(
                row.flow_id,
                Some(Cow::Owned(format!("{:016x}", xxh3_64(b"line"))))
            );
            // Twice: the second time from the memo.
            assert_json_is_the_rows(&index, &flow, true);
            assert_json_is_the_rows(&index, &flow, true);
        }
        let kinds = |(src, dst, port)| {
            let row = keep(&index, &record(src, dst, port), "l").row();
            (row.src_kind.unwrap(), row.dst_kind.unwrap())
        };
        assert_eq!(kinds(PAIRS[1]).1, "hostnet");
        assert_eq!(kinds(PAIRS[2]).1, "node");
        assert_eq!(kinds(PAIRS[3]), ("node".into(), "node".into()));
    }

    #[test]
    fn endpoint_members_are_escaped_and_a_foreign_index_is_not_trusted() {
        let mut snapshot = index().snapshot().clone();
        for pod in &mut snapshot.pods {
            pod.app = Some(format!("{}\"\\\u{1}é", pod.name));
        }
        snapshot.nodes[0].zone_id = Some("use1-az\n1".into());
        let odd = PodIndex::new(snapshot);
        let plain = index();
        for (src, dst, port) in PAIRS {
            let flow = keep(&odd, &record(src, dst, port), "line");
            assert_json_is_the_rows(&odd, &flow, true);
            let json: serde_json::Value = serde_json::from_str(&{
                let mut out = Vec::new();
                flow.write_json(&odd, &mut out, false);
                String::from_utf8(out).unwrap()
            })
            .unwrap();
            if let Some(pod) = flow.src.endpoint.pod() {
                assert_eq!(json["src_app"], format!("{}\"\\\u{1}é", pod.name));
            }
            // Written with another index than the lookups', the members are rendered anew,
            // not taken from that index's memo.
            assert_json_is_the_rows(&plain, &flow, true);
        }
    }

    proptest! {
        #[test]
        fn kept_flows_are_written_as_their_rows(
            pair in 0..PAIRS.len(),
            account in proptest::option::of("[0-9]{12}"),
            vpc in proptest::option::of("[ -~]{0,12}"),
            interface in proptest::option::of(".{0,12}"),
            instance in proptest::option::of("[\"\\\\a-z\u{0}-\u{1f}]{0,8}"),
            end in proptest::option::of(any::<i64>()),
            packets in proptest::option::of(any::<u64>()),
            bytes in any::<u64>(),
            ports in (proptest::option::of(any::<u16>()), any::<u8>()),
            path in proptest::option::of(any::<u8>()),
            direction in proptest::option::of(Just(FlowDirection::Egress)),
            action in proptest::option::of(Just(Action::Accept)),
            raw in ".*",
        ) {
            let index = index();
            let (src, dst, port) = PAIRS[pair];
            let record = FlowRecord {
                account_id: account.as_deref(),
                vpc_id: vpc.as_deref(),
                interface_id: interface.as_deref(),
                instance_id: instance.as_deref(),
                end,
                packets,
                bytes: Some(bytes),
                srcport: ports.0,
                protocol: Some(ports.1),
                traffic_path: path,
                action,
                // Without a direction the sender's instance decides: the fixture's i-b (n-b).
                flow_direction: direction,
                ..record(src, dst, port)
            };
            let record = FlowRecord {
                instance_id: if direction.is_none() { src_instance(&index, &record) } else { record.instance_id },
                ..record
            };
            let flow = keep(&index, &record, &raw);
            prop_assert_eq!(flow.flow_hash, xxh3_64(raw.as_bytes()));
            let plain = [&account, &vpc, &interface, &instance]
                .iter()
                .all(|s| s.as_deref().is_none_or(|s| !crate::firehose::needs_json_escape(s.as_bytes())));
            assert_json_is_the_rows(&index, &flow, plain);
        }

        #[test]
        fn flow_ids_are_formatted_hashes(hash in any::<u64>()) {
            prop_assert_eq!(flow_id_of(hash), format!("{hash:016x}"));
        }
    }

    /// The instance id of the node that sends from the record's source, so that a record
    /// without `flow-direction` is the sender's copy.
    fn src_instance<'i>(index: &'i PodIndex, record: &FlowRecord<'_>) -> Option<&'i str> {
        index
            .lookup(
                record.pkt_srcaddr?,
                record.start?,
                record.srcport,
                record.protocol,
            )
            .node()?
            .instance_id
            .as_deref()
    }

    #[test]
    fn ip_text_is_display() {
        for ip in [
            "0.0.0.0",
            "10.0.1.9",
            "192.168.100.255",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn flow_ids_keep_leading_zeros() {
        assert_eq!(flow_id_of(0), "0000000000000000");
        assert_eq!(flow_id_of(0xab), "00000000000000ab");
        assert_eq!(flow_id_of(u64::MAX), "ffffffffffffffff");
        assert_eq!(flow_id_of(0x0123_4567_89ab_cdef), "0123456789abcdef");
    }

    #[test]
    fn hex_digits_are_lower_hex() {
        for v in [
            0,
            1,
            9,
            10,
            15,
            16,
            0x89ab_cdef,
            0x0123_4567,
            u32::MAX,
            0xa0b0_c0d0,
        ] {
            assert_eq!(hex_digits(v), *format!("{v:08x}").as_bytes(), "{v:#x}");
        }
    }
}

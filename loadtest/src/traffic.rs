//! Traffic over a generated cluster, recorded the way VPC Flow Logs record it, with the truth
//! accumulated record by record.
//!
//! Owns the conversation model (who talks to whom, how much, for how long) and the recording
//! rules: an inter-node flow is written by the sender's ENI (egress) and by the receiver's
//! (ingress), split into each ENI's own aggregation windows; a same-node pod-to-pod flow is not
//! written at all; pod traffic to the internet is SNAT'd to the node IP; rejected traffic is
//! written once, by the ENI that dropped it. The class and endpoints of every record come from
//! [`Cluster::attribute`] at the record's `start`, never from the conversation's intent, so the
//! truth follows design §4 and §9 by construction. Pure: no I/O, no clock.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::DateTime;

use crate::cluster::{Cluster, Endpoint};
use crate::fasthash::FastMap;
use crate::format::LineFormat;
use crate::record::{Action, Direction, FlowRecord, LogStatus, RecordClass};
use crate::rng::Rng;
use crate::spec::{SpecError, TrafficSpec};
use crate::truth::{Counts, FlowKey, Truth};

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
/// Linux's default ephemeral port range (`ip_local_port_range`); no hostNetwork pod declares a
/// port in it, so a node IP with an ephemeral port is the node (design §9).
const EPHEMERAL_PORTS: (i64, i64) = (32_768, 60_999);
/// Node-to-node services: kubelet, ssh, VXLAN, and 9100/UDP, which node-exporter declares only
/// for TCP (a processor that ignores the protocol would wrongly say `hostnet`).
const NODE_PORTS: [(u16, u8); 4] = [(10_250, TCP), (22, TCP), (4789, UDP), (9100, UDP)];
/// Longest conversation; with 60 s windows a record piece never spans more than 3 windows.
const MAX_CONVERSATION_SECS: i64 = 90;
/// Smallest IP packet we pretend to send (an empty TCP segment).
const MIN_PACKET_BYTES: u64 = 40;
/// `traffic-path` for traffic staying in the VPC, and for traffic through the internet gateway.
const PATH_IN_VPC: u8 = 1;
const PATH_IGW: u8 = 8;
/// Internet destinations: first two octets, and the `pkt-*-aws-service` they belong to.
const PUBLIC_V4: [([u8; 2], Option<&str>); 4] = [
    ([52, 216], Some("S3")),
    ([54, 239], Some("AMAZON")),
    ([151, 101], None),
    ([140, 82], None),
];
const PUBLIC_V6: [(u16, Option<&str>); 2] = [(0x2606, None), (0x2600, Some("CLOUDFRONT"))];
/// Ports internet scanners knock on.
const SCANNED_PORTS: [u16; 4] = [22, 23, 3389, 445];

/// The kinds of conversation, in [`crate::spec::TrafficMix`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PodToPod,
    PodToHostnet,
    NodeToNode,
    Internet,
    Ipv6,
    Icmp,
    Reject,
    StaleIp,
    SameNode,
}

const KINDS: [Kind; 9] = [
    Kind::PodToPod,
    Kind::PodToHostnet,
    Kind::NodeToNode,
    Kind::Internet,
    Kind::Ipv6,
    Kind::Icmp,
    Kind::Reject,
    Kind::StaleIp,
    Kind::SameNode,
];

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::PodToPod => "pod_to_pod",
        Kind::PodToHostnet => "pod_to_hostnet",
        Kind::NodeToNode => "node_to_node",
        Kind::Internet => "internet",
        Kind::Ipv6 => "ipv6",
        Kind::Icmp => "icmp",
        Kind::Reject => "reject",
        Kind::StaleIp => "stale_ip",
        Kind::SameNode => "same_node_unrecorded",
    }
}

/// Everything generated: the records (in generation order), the truth and the line format.
#[derive(Debug, Clone)]
pub struct FlowSet {
    /// The records.
    pub records: Vec<FlowRecord>,
    /// What a correct processor must report.
    pub truth: Truth,
    /// The flow-log format the lines are rendered in.
    pub format: LineFormat,
    /// Conversations generated per type (informational).
    pub stats: BTreeMap<&'static str, u64>,
}

impl FlowSet {
    /// The records as flow-log lines (no header, no newline).
    pub fn lines<'a>(&'a self, cluster: &'a Cluster) -> impl Iterator<Item = String> + 'a {
        self.records
            .iter()
            .map(move |r| self.format.render(cluster, r))
    }
}

/// Generate all traffic of `spec` over `cluster` in memory. For long or large runs iterate a
/// [`FlowStream`] instead.
pub fn generate_flows(cluster: &Cluster, spec: &TrafficSpec) -> Result<FlowSet, SpecError> {
    let mut stream = FlowStream::new(cluster, spec)?;
    let records: Vec<FlowRecord> = stream.by_ref().collect();
    Ok(FlowSet {
        records,
        truth: stream.truth(),
        format: stream.format().clone(),
        stats: stream.stats(),
    })
}

/// One endpoint of a recorded direction: the packet address and the ENI that sees it.
#[derive(Debug, Clone, Copy)]
struct Side {
    ip: IpAddr,
    port: u16,
    eni: Option<u32>,
}

/// One direction of a conversation.
#[derive(Debug, Clone, Copy)]
struct Leg {
    src: Side,
    dst: Side,
    protocol: u8,
    bytes: u64,
    packets: u64,
    t0: i64,
    t1: i64,
    action: Action,
    first_flags: u8,
    egress: bool,
    ingress: bool,
    path: u8,
    src_service: Option<&'static str>,
    dst_service: Option<&'static str>,
}

/// Endpoints usable during one minute.
struct MinuteView {
    pods: Vec<usize>,
    pods_by_zone: Vec<Vec<usize>>,
    pods_by_node: Vec<Vec<usize>>,
    nodes_by_zone: Vec<Vec<usize>>,
    gaps: Vec<(Ipv4Addr, i64, i64)>,
}

/// Records minute by minute, accumulating the truth; see the module doc.
pub struct FlowStream<'c> {
    cluster: &'c Cluster,
    spec: TrafficSpec,
    format: LineFormat,
    minute: i64,
    end: i64,
    weights: [f64; 9],
    gaps: Vec<(Ipv4Addr, i64, i64)>,
    pending: std::vec::IntoIter<FlowRecord>,
    classes: [Counts; RecordClass::ALL.len()],
    cross_az: FastMap<(i64, Endpoint, Endpoint), Counts>,
    stats: BTreeMap<&'static str, u64>,
}

impl<'c> FlowStream<'c> {
    /// A stream over `spec`'s window; fails on an invalid spec.
    pub fn new(cluster: &'c Cluster, spec: &TrafficSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        let m = &spec.mix;
        Ok(FlowStream {
            cluster,
            format: LineFormat::new(&spec.format),
            minute: spec.start - spec.start.rem_euclid(60),
            end: spec.start + spec.duration_secs,
            weights: [
                m.pod_to_pod,
                m.pod_to_hostnet,
                m.node_to_node,
                m.internet,
                m.ipv6,
                m.icmp,
                m.reject,
                m.stale_ip,
                m.same_node,
            ],
            gaps: cluster.ip_gaps(),
            pending: Vec::new().into_iter(),
            classes: [Counts::default(); RecordClass::ALL.len()],
            cross_az: FastMap::default(),
            stats: BTreeMap::new(),
            spec: spec.clone(),
        })
    }

    /// The line format of the spec.
    pub fn format(&self) -> &LineFormat {
        &self.format
    }

    /// The next record and its rendered line (for drivers that need both, e.g. to file a line
    /// by the record's `end`).
    pub fn next_with_line(&mut self) -> Option<(FlowRecord, String)> {
        let record = self.next()?;
        let line = self.format.render(self.cluster, &record);
        Some((record, line))
    }

    /// The next record, its line rendered into `line` (cleared first): no allocation per line.
    pub fn next_into(&mut self, line: &mut String) -> Option<FlowRecord> {
        let record = self.next()?;
        line.clear();
        self.format.render_into(self.cluster, &record, line);
        Some(record)
    }

    /// Conversations generated so far per type.
    pub fn stats(&self) -> BTreeMap<&'static str, u64> {
        self.stats.clone()
    }

    /// The truth of the records yielded so far (complete once the stream is exhausted).
    pub fn truth(&self) -> Truth {
        let mut truth = Truth::default();
        for (class, counts) in RecordClass::ALL.iter().zip(self.classes) {
            truth.classes.insert(*class, counts);
        }
        for (&(hour, src, dst), &counts) in &self.cross_az {
            let dt = DateTime::from_timestamp(hour * 3600, 0)
                .map_or_else(|| hour.to_string(), |t| t.format("%Y-%m-%d-%H").to_string());
            let key = FlowKey {
                dt,
                src: self.cluster.endpoint_key(src),
                dst: self.cluster.endpoint_key(dst),
            };
            truth.cross_az.entry(key).or_default().merge(counts);
        }
        truth
    }

    fn view(&self, m: i64) -> MinuteView {
        let c = self.cluster;
        let until = m + 60 + MAX_CONVERSATION_SECS;
        let mut view = MinuteView {
            pods: Vec::new(),
            pods_by_zone: vec![Vec::new(); c.zones.len()],
            pods_by_node: vec![Vec::new(); c.nodes.len()],
            nodes_by_zone: vec![Vec::new(); c.zones.len()],
            gaps: self
                .gaps
                .iter()
                .copied()
                .filter(|&(_, from, to)| from < m + 60 && to > m)
                .collect(),
        };
        for (n, node) in c.nodes.iter().enumerate() {
            view.nodes_by_zone[node.zone].push(n);
        }
        for (p, pod) in c.pods.iter().enumerate() {
            if c.workloads[pod.workload].host_network
                || pod.start > m
                || pod.end.is_some_and(|e| e < until)
            {
                continue;
            }
            view.pods.push(p);
            view.pods_by_zone[c.nodes[pod.node].zone].push(p);
            view.pods_by_node[pod.node].push(p);
        }
        view
    }

    fn generate_minute(&mut self, m: i64) -> Vec<FlowRecord> {
        let mut rng = Rng::derive(self.spec.seed, m as u64);
        let view = self.view(m);
        let mut out = Vec::with_capacity(self.spec.flows_per_minute * 5);
        let total: f64 = self.weights.iter().sum();
        for _ in 0..self.spec.flows_per_minute {
            let t0 = m + rng.range(0, 59);
            if t0 < self.spec.start || t0 >= self.end {
                continue;
            }
            let mut x = rng.unit() * total;
            let mut kind = Kind::PodToPod;
            for (k, w) in KINDS.iter().zip(self.weights) {
                if x < w {
                    kind = *k;
                    break;
                }
                x -= w;
            }
            let legs = self.conversation(kind, t0, &view, &mut rng);
            *self.stats.entry(kind_name(kind)).or_default() += 1;
            for leg in legs.iter().flatten() {
                self.record_leg(leg, &mut out);
            }
        }
        self.empty_records(m, &mut rng, &mut out);
        out
    }

    /// NODATA / SKIPDATA records of the windows that start in minute `m`.
    fn empty_records(&mut self, m: i64, rng: &mut Rng, out: &mut Vec<FlowRecord>) {
        let agg = self.spec.aggregation_secs;
        for (e, eni) in self.cluster.enis.iter().enumerate() {
            let ws = m + (eni.window_phase - m).rem_euclid(agg);
            if ws >= m + 60 || ws < self.spec.start || ws >= self.end {
                continue;
            }
            let status = if rng.chance(self.spec.skipdata_share) {
                LogStatus::SkipData
            } else if rng.chance(self.spec.nodata_share) {
                LogStatus::NoData
            } else {
                continue;
            };
            let record = FlowRecord::empty(e as u32, ws, ws + agg - 1, status);
            self.count(&record);
            out.push(record);
        }
    }

    fn count(&mut self, record: &FlowRecord) {
        let i = RecordClass::ALL
            .iter()
            .position(|c| *c == record.class)
            .unwrap_or(0);
        self.classes[i].add(record.packets, record.bytes);
        if record.class == RecordClass::CrossAz {
            let key = (record.start.div_euclid(3600), record.src, record.dst);
            self.cross_az
                .entry(key)
                .or_default()
                .add(record.packets, record.bytes);
        }
    }

    /// Write one direction: egress pieces on the sender's ENI, ingress pieces on the receiver's.
    fn record_leg(&mut self, leg: &Leg, out: &mut Vec<FlowRecord>) {
        let sides = [
            (leg.egress, leg.src.eni, Direction::Egress),
            (leg.ingress, leg.dst.eni, Direction::Ingress),
        ];
        for (wanted, eni, direction) in sides {
            let (true, Some(eni)) = (wanted, eni) else {
                continue;
            };
            let phase = self.cluster.enis[eni as usize].window_phase;
            let agg = self.spec.aggregation_secs;
            let pieces = split(leg.t0, leg.t1, phase, agg);
            let n = pieces.len() as u64;
            let packets = leg.packets.max(n);
            let bytes = leg.bytes.max(packets * MIN_PACKET_BYTES);
            let span = (leg.t1 - leg.t0 + 1) as u64;
            let (mut packets_left, mut bytes_left) = (packets, bytes);
            for (k, (start, end)) in pieces.iter().copied().enumerate() {
                let last = k + 1 == pieces.len();
                let weight = (end - start + 1) as u64;
                let p = if last {
                    packets_left
                } else {
                    1 + (packets - n) * weight / span
                };
                let extra = bytes - packets * MIN_PACKET_BYTES;
                let b = if last {
                    bytes_left
                } else {
                    p * MIN_PACKET_BYTES + extra * weight / span
                };
                packets_left -= p;
                bytes_left -= b;
                let mut flags = 0;
                if leg.protocol == TCP {
                    if k == 0 {
                        flags |= leg.first_flags;
                    }
                    if last && leg.action == Action::Accept && leg.first_flags != 2 {
                        flags |= 1;
                    }
                }
                let mut record = FlowRecord {
                    eni,
                    direction,
                    pkt_src: leg.src.ip,
                    pkt_dst: leg.dst.ip,
                    src_port: leg.src.port,
                    dst_port: leg.dst.port,
                    protocol: leg.protocol,
                    packets: p,
                    bytes: b,
                    start,
                    end,
                    action: leg.action,
                    log_status: LogStatus::Ok,
                    tcp_flags: flags,
                    traffic_path: (direction == Direction::Egress).then_some(leg.path),
                    pkt_src_service: leg.src_service,
                    pkt_dst_service: leg.dst_service,
                    class: RecordClass::CrossAz,
                    src: Endpoint::Unknown,
                    dst: Endpoint::Unknown,
                };
                self.classify(&mut record);
                self.count(&record);
                out.push(record);
            }
        }
    }

    /// Attribute both ends at the record's start and classify it (see [`RecordClass`]).
    fn classify(&self, record: &mut FlowRecord) {
        let c = self.cluster;
        record.src = c.attribute(
            record.pkt_src,
            record.src_port,
            record.protocol,
            record.start,
        );
        record.dst = c.attribute(
            record.pkt_dst,
            record.dst_port,
            record.protocol,
            record.start,
        );
        record.class = if record.direction == Direction::Ingress {
            RecordClass::Ingress
        } else if record.action == Action::Reject {
            RecordClass::Reject
        } else {
            match (c.zone_of(record.src), c.zone_of(record.dst)) {
                (Some(a), Some(b)) if a == b => RecordClass::SameAz,
                (Some(_), Some(_)) => RecordClass::CrossAz,
                _ => RecordClass::Unknown,
            }
        };
    }
}

/// A [`FlowStream`] yielding rendered lines; the truth stays reachable (complete once the
/// iterator is exhausted). For in-process drivers and the demo.
pub struct Lines<'c> {
    stream: FlowStream<'c>,
}

impl<'c> Lines<'c> {
    /// Lines of `spec`'s traffic over `cluster`.
    pub fn new(cluster: &'c Cluster, spec: &TrafficSpec) -> Result<Self, SpecError> {
        Ok(Lines {
            stream: FlowStream::new(cluster, spec)?,
        })
    }

    /// The truth of the lines yielded so far.
    pub fn truth(&self) -> Truth {
        self.stream.truth()
    }

    /// The line format.
    pub fn format(&self) -> &LineFormat {
        self.stream.format()
    }
}

impl Iterator for Lines<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.stream.next_with_line().map(|(_, line)| line)
    }
}

impl Iterator for FlowStream<'_> {
    type Item = FlowRecord;

    fn next(&mut self) -> Option<FlowRecord> {
        loop {
            if let Some(record) = self.pending.next() {
                return Some(record);
            }
            if self.minute >= self.end {
                return None;
            }
            let m = self.minute;
            self.minute += 60;
            self.pending = self.generate_minute(m).into_iter();
        }
    }
}

/// `[t0, t1]` cut at the window boundaries `phase + k * agg`: `(start, end)` per window.
fn split(t0: i64, t1: i64, phase: i64, agg: i64) -> Vec<(i64, i64)> {
    let mut pieces = Vec::with_capacity(2);
    let mut ws = t0 - (t0 - phase).rem_euclid(agg);
    while ws <= t1 {
        pieces.push((t0.max(ws), t1.min(ws + agg - 1)));
        ws += agg;
    }
    pieces
}

fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(EPHEMERAL_PORTS.0, EPHEMERAL_PORTS.1) as u16
}

/// Request and response sizes: requests small, responses spread over three decades.
fn sizes(rng: &mut Rng) -> (u64, u64) {
    let request = rng.range(200, 4_000) as u64;
    let response = 10f64.powf(2.7 + rng.unit() * 2.8) as u64;
    (request, response)
}

fn packets_for(bytes: u64, rng: &mut Rng) -> u64 {
    1 + bytes / rng.range(500, 1_400) as u64
}

fn duration(rng: &mut Rng) -> i64 {
    if rng.chance(0.1) {
        rng.range(30, MAX_CONVERSATION_SECS)
    } else {
        rng.range(0, 30)
    }
}

impl FlowStream<'_> {
    fn pod_side(&self, pod: usize, port: u16) -> Side {
        let ip = IpAddr::V4(self.cluster.pods[pod].ip);
        Side {
            ip,
            port,
            eni: self.cluster.eni_of_ip(ip).map(|e| e as u32),
        }
    }

    fn node_side(&self, node: usize, port: u16, v6: bool) -> Side {
        let n = &self.cluster.nodes[node];
        let ip = if v6 {
            IpAddr::V6(n.ipv6)
        } else {
            IpAddr::V4(n.ip)
        };
        Side {
            ip,
            port,
            eni: Some(n.enis[0] as u32),
        }
    }

    /// A zone for the other end: different from `zone` with the cross-AZ share.
    fn other_zone(&self, zone: usize, rng: &mut Rng) -> usize {
        let zones = self.cluster.zones.len();
        if zones > 1 && rng.chance(self.spec.cross_az_share) {
            (zone + 1 + rng.index(zones - 1)) % zones
        } else {
            zone
        }
    }

    /// A pod in `zone` on another node than `not_node`.
    fn pod_in(
        view: &MinuteView,
        cluster: &Cluster,
        zone: usize,
        not_node: usize,
        rng: &mut Rng,
    ) -> Option<usize> {
        for _ in 0..8 {
            let p = *rng.pick(&view.pods_by_zone[zone])?;
            if cluster.pods[p].node != not_node {
                return Some(p);
            }
        }
        None
    }

    /// A node in `zone` other than `not_node`.
    fn node_in(view: &MinuteView, zone: usize, not_node: usize, rng: &mut Rng) -> Option<usize> {
        let candidates: Vec<usize> = view.nodes_by_zone[zone]
            .iter()
            .copied()
            .filter(|&n| n != not_node)
            .collect();
        rng.pick(&candidates).copied()
    }

    fn request_response(
        a: Side,
        b: Side,
        protocol: u8,
        t0: i64,
        rng: &mut Rng,
    ) -> [Option<Leg>; 2] {
        let (req, resp) = sizes(rng);
        let t1 = t0 + duration(rng);
        let leg = |src: Side, dst: Side, bytes: u64, flags: u8, rng: &mut Rng| Leg {
            src,
            dst,
            protocol,
            bytes,
            packets: packets_for(bytes, rng),
            t0,
            t1,
            action: Action::Accept,
            first_flags: flags,
            egress: true,
            ingress: true,
            path: PATH_IN_VPC,
            src_service: None,
            dst_service: None,
        };
        [Some(leg(a, b, req, 2, rng)), Some(leg(b, a, resp, 18, rng))]
    }

    fn conversation(
        &self,
        kind: Kind,
        t0: i64,
        view: &MinuteView,
        rng: &mut Rng,
    ) -> [Option<Leg>; 2] {
        let c = self.cluster;
        let Some(&src) = rng.pick(&view.pods) else {
            return [None, None];
        };
        let src_node = c.pods[src].node;
        let src_zone = c.nodes[src_node].zone;
        match kind {
            Kind::PodToPod | Kind::Reject | Kind::StaleIp | Kind::SameNode => {
                self.pod_conversation(kind, src, t0, view, rng)
            }
            Kind::PodToHostnet => {
                let zone = self.other_zone(src_zone, rng);
                let Some(node) = Self::node_in(view, zone, src_node, rng) else {
                    return [None, None];
                };
                let Some(&host_pod) = rng.pick(c.hostnet_pods(node)) else {
                    return self.pod_conversation(Kind::PodToPod, src, t0, view, rng);
                };
                let ports = &c.workloads[c.pods[host_pod].workload].ports;
                let Some(port) = rng.pick(ports).copied() else {
                    return [None, None];
                };
                let a = self.pod_side(src, ephemeral(rng));
                let b = self.node_side(node, port.port, false);
                Self::request_response(a, b, port.protocol, t0, rng)
            }
            Kind::NodeToNode | Kind::Icmp | Kind::Ipv6 => {
                let zone = self.other_zone(src_zone, rng);
                let Some(dst_node) = Self::node_in(view, zone, src_node, rng) else {
                    return [None, None];
                };
                let v6 = kind == Kind::Ipv6 || (kind == Kind::Icmp && rng.chance(0.2));
                if kind == Kind::Ipv6 && rng.chance(0.3) {
                    return self.internet(src_node, true, t0, rng);
                }
                let (port, protocol) = match kind {
                    Kind::Icmp => (0, if v6 { ICMPV6 } else { ICMP }),
                    Kind::Ipv6 => (443, TCP),
                    _ => NODE_PORTS[rng.index(NODE_PORTS.len())],
                };
                let sport = if protocol == ICMP || protocol == ICMPV6 {
                    0
                } else {
                    ephemeral(rng)
                };
                let a = self.node_side(src_node, sport, v6);
                let b = self.node_side(dst_node, port, v6);
                Self::request_response(a, b, protocol, t0, rng)
            }
            Kind::Internet => self.internet(src_node, false, t0, rng),
        }
    }

    fn pod_conversation(
        &self,
        kind: Kind,
        src: usize,
        t0: i64,
        view: &MinuteView,
        rng: &mut Rng,
    ) -> [Option<Leg>; 2] {
        let c = self.cluster;
        let src_node = c.pods[src].node;
        let src_zone = c.nodes[src_node].zone;
        if kind == Kind::SameNode {
            // Never crosses an ENI: nothing is recorded, nothing is counted.
            return [None, None];
        }
        if kind == Kind::StaleIp {
            let zone = self.other_zone(src_zone, rng);
            let gaps: Vec<_> = view
                .gaps
                .iter()
                .filter(|g| g.1 <= t0 && t0 < g.2)
                .filter(|g| {
                    c.node_of_ip(IpAddr::V4(g.0))
                        .is_some_and(|n| n != src_node && c.nodes[n].zone == zone)
                })
                .collect();
            if let Some(&&(ip, _, _)) = rng.pick(&gaps) {
                let ip = IpAddr::V4(ip);
                let eni = c.eni_of_ip(ip).map(|e| e as u32);
                {
                    let packets = rng.range(1, 3) as u64;
                    let leg = Leg {
                        src: self.pod_side(src, ephemeral(rng)),
                        dst: Side {
                            ip,
                            port: 8080,
                            eni,
                        },
                        protocol: TCP,
                        bytes: packets * 60,
                        packets,
                        t0,
                        t1: t0 + rng.range(0, 5),
                        action: Action::Accept,
                        first_flags: 2,
                        egress: true,
                        ingress: true,
                        path: PATH_IN_VPC,
                        src_service: None,
                        dst_service: None,
                    };
                    return [Some(leg), None];
                }
            }
        }
        let zone = self.other_zone(src_zone, rng);
        let Some(dst) = Self::pod_in(view, c, zone, src_node, rng) else {
            return [None, None];
        };
        let port = c.workloads[c.pods[dst].workload]
            .ports
            .first()
            .map_or(8080, |p| p.port);
        let a = self.pod_side(src, ephemeral(rng));
        let b = self.pod_side(dst, port);
        if kind == Kind::Reject {
            if rng.chance(0.5) {
                let node = c.pods[dst].node;
                let scanner = Ipv4Addr::new(
                    rng.range(45, 46) as u8 * 4,
                    rng.range(1, 254) as u8,
                    rng.range(0, 255) as u8,
                    rng.range(1, 254) as u8,
                );
                let packets = rng.range(1, 3) as u64;
                let leg = Leg {
                    src: Side {
                        ip: IpAddr::V4(scanner),
                        port: ephemeral(rng),
                        eni: None,
                    },
                    dst: self.node_side(node, SCANNED_PORTS[rng.index(SCANNED_PORTS.len())], false),
                    protocol: TCP,
                    bytes: packets * 44,
                    packets,
                    t0,
                    t1: t0 + rng.range(0, 3),
                    action: Action::Reject,
                    first_flags: 2,
                    egress: false,
                    ingress: true,
                    path: PATH_IGW,
                    src_service: None,
                    dst_service: None,
                };
                return [Some(leg), None];
            }
            let [request, _] = Self::request_response(a, b, TCP, t0, rng);
            return [
                request.map(|l| Leg {
                    action: Action::Reject,
                    ingress: false,
                    ..l
                }),
                None,
            ];
        }
        Self::request_response(a, b, TCP, t0, rng)
    }

    /// Pod (or node, over IPv6) to the internet: SNAT'd to the node IP, never the pod IP.
    fn internet(&self, node: usize, v6: bool, t0: i64, rng: &mut Rng) -> [Option<Leg>; 2] {
        let (ip, service) = if v6 {
            let (prefix, service) = PUBLIC_V6[rng.index(PUBLIC_V6.len())];
            let ip = Ipv6Addr::new(
                prefix,
                0x4700 + rng.range(0, 15) as u16,
                0,
                0,
                0,
                0,
                0,
                rng.range(1, 0xfff) as u16,
            );
            (IpAddr::V6(ip), service)
        } else {
            let ([a, b], service) = PUBLIC_V4[rng.index(PUBLIC_V4.len())];
            (
                IpAddr::V4(Ipv4Addr::new(
                    a,
                    b,
                    rng.range(0, 255) as u8,
                    rng.range(1, 254) as u8,
                )),
                service,
            )
        };
        let a = self.node_side(node, ephemeral(rng), v6);
        let b = Side {
            ip,
            port: 443,
            eni: None,
        };
        let [request, response] = Self::request_response(a, b, TCP, t0, rng);
        [
            request.map(|l| Leg {
                path: PATH_IGW,
                dst_service: service,
                ..l
            }),
            response.map(|l| Leg {
                src_service: service,
                ..l
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cuts_at_each_enis_window_boundaries() {
        let cases = [
            ((100, 100, 0, 60), vec![(100, 100)]),
            ((100, 130, 0, 60), vec![(100, 119), (120, 130)]),
            ((100, 130, 15, 60), vec![(100, 130)]),
            (
                (50, 190, 7, 60),
                vec![(50, 66), (67, 126), (127, 186), (187, 190)],
            ),
        ];
        for ((t0, t1, phase, agg), want) in cases {
            assert_eq!(split(t0, t1, phase, agg), want, "{t0}..{t1} phase {phase}");
        }
    }
}

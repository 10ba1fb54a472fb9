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
use std::net::Ipv4Addr;

use chrono::DateTime;

mod conversation;

use conversation::{
    KINDS, Kind, Leg, MAX_CONVERSATION_SECS, MIN_PACKET_BYTES, MinuteView, TCP, kind_name,
};

use crate::cluster::{Cluster, Endpoint};
use crate::fasthash::FastMap;
use crate::format::LineFormat;
use crate::record::{Action, Direction, FlowRecord, LogStatus, RecordClass};
use crate::rng::Rng;
use crate::spec::{SpecError, TrafficSpec};
use crate::truth::{Counts, FlowKey, Truth};

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

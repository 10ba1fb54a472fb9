//! The conversation model: who talks to whom, over which ports, how much and how long; each
//! conversation becomes one or two [`Leg`]s (directions) that `traffic` records.
//!
//! Endpoints are chosen among what runs during the minute ([`MinuteView`]); zones follow the
//! cross-AZ share. Nothing here decides a record's truth: `traffic` attributes every record from
//! the cluster's timelines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FlowStream;
use crate::cluster::Cluster;
use crate::record::Action;
use crate::rng::Rng;

pub(super) const TCP: u8 = 6;
pub(super) const UDP: u8 = 17;
pub(super) const ICMP: u8 = 1;
pub(super) const ICMPV6: u8 = 58;
/// Linux's default ephemeral port range (`ip_local_port_range`); no hostNetwork pod declares a
/// port in it, so a node IP with an ephemeral port is the node (design §9).
pub(super) const EPHEMERAL_PORTS: (i64, i64) = (32_768, 60_999);
/// Node-to-node services: kubelet, ssh, VXLAN, and 9100/UDP, which node-exporter declares only
/// for TCP (a processor that ignores the protocol would wrongly say `hostnet`).
pub(super) const NODE_PORTS: [(u16, u8); 4] = [(10_250, TCP), (22, TCP), (4789, UDP), (9100, UDP)];
/// Longest conversation; with 60 s windows a record piece never spans more than 3 windows.
pub(super) const MAX_CONVERSATION_SECS: i64 = 90;
/// Smallest IP packet we pretend to send (an empty TCP segment).
pub(super) const MIN_PACKET_BYTES: u64 = 40;
/// `traffic-path` for traffic staying in the VPC, and for traffic through the internet gateway.
pub(super) const PATH_IN_VPC: u8 = 1;
pub(super) const PATH_IGW: u8 = 8;
/// Internet destinations: first two octets, and the `pkt-*-aws-service` they belong to.
pub(super) const PUBLIC_V4: [([u8; 2], Option<&str>); 4] = [
    ([52, 216], Some("S3")),
    ([54, 239], Some("AMAZON")),
    ([151, 101], None),
    ([140, 82], None),
];
pub(super) const PUBLIC_V6: [(u16, Option<&str>); 2] =
    [(0x2606, None), (0x2600, Some("CLOUDFRONT"))];
/// Ports internet scanners knock on.
pub(super) const SCANNED_PORTS: [u16; 4] = [22, 23, 3389, 445];

/// The kinds of conversation, in [`crate::spec::TrafficMix`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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

pub(super) const KINDS: [Kind; 9] = [
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

pub(super) fn kind_name(kind: Kind) -> &'static str {
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

/// One endpoint of a recorded direction: the packet address and the ENI that sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Side {
    pub(super) ip: IpAddr,
    pub(super) port: u16,
    pub(super) eni: Option<u32>,
}

/// One direction of a conversation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leg {
    pub(super) src: Side,
    pub(super) dst: Side,
    pub(super) protocol: u8,
    pub(super) bytes: u64,
    pub(super) packets: u64,
    pub(super) t0: i64,
    pub(super) t1: i64,
    pub(super) action: Action,
    pub(super) first_flags: u8,
    pub(super) egress: bool,
    pub(super) ingress: bool,
    pub(super) path: u8,
    pub(super) src_service: Option<&'static str>,
    pub(super) dst_service: Option<&'static str>,
}

/// Endpoints usable during one minute.
pub(super) struct MinuteView {
    pub(super) pods: Vec<usize>,
    pub(super) pods_by_zone: Vec<Vec<usize>>,
    pub(super) pods_by_node: Vec<Vec<usize>>,
    pub(super) nodes_by_zone: Vec<Vec<usize>>,
    pub(super) gaps: Vec<(Ipv4Addr, i64, i64)>,
}

pub(super) fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(EPHEMERAL_PORTS.0, EPHEMERAL_PORTS.1) as u16
}

/// Request and response sizes: requests small, responses spread over three decades.
pub(super) fn sizes(rng: &mut Rng) -> (u64, u64) {
    let request = rng.range(200, 4_000) as u64;
    let response = 10f64.powf(2.7 + rng.unit() * 2.8) as u64;
    (request, response)
}

pub(super) fn packets_for(bytes: u64, rng: &mut Rng) -> u64 {
    1 + bytes / rng.range(500, 1_400) as u64
}

pub(super) fn duration(rng: &mut Rng) -> i64 {
    if rng.chance(0.1) {
        rng.range(30, MAX_CONVERSATION_SECS)
    } else {
        rng.range(0, 30)
    }
}

impl FlowStream<'_> {
    pub(super) fn pod_side(&self, pod: usize, port: u16) -> Side {
        let ip = IpAddr::V4(self.cluster.pods[pod].ip);
        Side {
            ip,
            port,
            eni: self.cluster.eni_of_ip(ip).map(|e| e as u32),
        }
    }

    pub(super) fn node_side(&self, node: usize, port: u16, v6: bool) -> Side {
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
    pub(super) fn other_zone(&self, zone: usize, rng: &mut Rng) -> usize {
        let zones = self.cluster.zones.len();
        if zones > 1 && rng.chance(self.spec.cross_az_share) {
            (zone + 1 + rng.index(zones - 1)) % zones
        } else {
            zone
        }
    }

    /// A pod in `zone` on another node than `not_node`.
    pub(super) fn pod_in(
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
    pub(super) fn node_in(
        view: &MinuteView,
        zone: usize,
        not_node: usize,
        rng: &mut Rng,
    ) -> Option<usize> {
        let nodes = &view.nodes_by_zone[zone];
        let excluded = usize::from(nodes.contains(&not_node));
        let count = nodes.len() - excluded;
        if count == 0 {
            return None;
        }
        nodes
            .iter()
            .copied()
            .filter(|&n| n != not_node)
            .nth(rng.index(count))
    }

    pub(super) fn request_response(
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

    pub(super) fn conversation(
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

    pub(super) fn pod_conversation(
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
    pub(super) fn internet(
        &self,
        node: usize,
        v6: bool,
        t0: i64,
        rng: &mut Rng,
    ) -> [Option<Leg>; 2] {
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

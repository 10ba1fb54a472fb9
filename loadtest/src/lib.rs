//! Synthetic EKS clusters and VPC Flow Log records with exact ground truth, and the verifier.
//!
//! - [`generate_cluster`]: nodes across zones, workloads of every kind, pods whose IPs are reused
//!   within a minute (half the time by another workload), Succeeded Job pods keeping stale IPs;
//!   viewable as real `NodeList`/`PodList` JSON at any time ([`Cluster::pods_json`]).
//! - [`generate_flows`] / [`FlowStream`]: conversations recorded as flow logs record them (egress
//!   and ingress copies, per-ENI aggregation windows, NODATA/SKIPDATA, REJECT, SNAT, IPv6, ICMP),
//!   rendered in any field order ([`LineFormat`]), with the [`Truth`] a design-following
//!   processor must report.
//! - [`output`]: S3-layout `.log.gz` files, Firehose transform events, truth.json.
//! - [`verify`]: an observed [`Truth`] against the expected one, as a readable diff.
//! - `drivers` (feature `drivers`): the lines through Firehose, Kinesis, a Lambda, files or S3 at
//!   a target rate, with retries, a progress line and a report.
//!
//! Everything is deterministic per seed and free of I/O except the `output` and `drivers` modules.

mod build;
#[cfg(feature = "cli")]
pub mod cli;
pub mod cluster;
#[cfg(feature = "drivers")]
pub mod drivers;
mod fasthash;
pub mod format;
pub mod kube;
pub mod output;
pub mod record;
pub mod rng;
pub mod spec;
pub mod traffic;
pub mod truth;

pub use cluster::{Cluster, Endpoint, generate_cluster};
pub use format::{LineFormat, RECOMMENDED_FORMAT, V2_DEFAULT_FORMAT, parse_format};
pub use record::{FlowRecord, RecordClass};
pub use spec::{ClusterSpec, SpecError, TrafficMix, TrafficSpec};
pub use traffic::{FlowSet, FlowStream, Lines, generate_flows};
pub use truth::{Counts, EndpointKey, FlowKey, Truth, TruthDiff, verify};

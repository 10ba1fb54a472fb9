//! crossaz: which pods send how many bytes across Availability Zones, and what it costs.
//!
//! The library is the pure core (flow-log parsing, attribution, counting, row building, the
//! Firehose transform's per-record outcomes) plus, behind features, the shells around it: the
//! Firehose transform Lambda (`lambda`) and the `crossaz` CLI (`cli`).

pub mod attribute;
#[cfg(feature = "cli")]
pub mod cli;
pub mod firehose;
#[cfg(test)]
mod fixtures;
pub mod flowlog;
pub mod kept;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "cli")]
pub mod local;
pub mod metrics;
pub mod pipeline;
pub mod row;
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod transform;

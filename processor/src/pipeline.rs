//! One flow-log line through the core: parse with its format, attribute, decide. Shared by the
//! Firehose transform and the local pipeline (`crossaz run`, `demo`, the in-process load test),
//! so both count exactly alike.
//!
//! It owns the line-level failure type and the run counters that add up (every line is kept,
//! dropped for one reason, or failed). Pure: no I/O.

use std::fmt;
use std::fmt::Write as _;

use crate::attribute::{AttributeError, Attributor, Decision, DropReason};
use crate::flowlog::{FlowFormat, FlowRecord, ParseError};

/// Why one line could not be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFailure {
    /// The line does not match its format.
    Parse(ParseError),
    /// The line lacks a field the counting rules need.
    Attribute(AttributeError),
}

impl fmt::Display for LineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFailure::Parse(e) => e.fmt(f),
            LineFailure::Attribute(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LineFailure {}

/// Parses `line` with `format` and decides it with `attributor`. Also returns the flow's
/// `start`, which the transform judges snapshot freshness by.
#[inline]
pub fn decide_line<'l>(
    format: &FlowFormat,
    attributor: &Attributor<'l>,
    line: &'l str,
) -> (Option<i64>, Result<Decision<'l>, LineFailure>) {
    let mut record = FlowRecord::default();
    match format.parse_line_into(line, &mut record) {
        Ok(()) => (
            record.start,
            attributor
                .attribute(&record, line)
                .map_err(LineFailure::Attribute),
        ),
        Err(e) => (None, Err(LineFailure::Parse(e))),
    }
}

/// Counters of a local run. `lines = kept + Σ dropped + failed`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    /// Lines read.
    pub lines: u64,
    /// Rows kept.
    pub kept: u64,
    /// Flow bytes of kept rows.
    pub bytes_kept: u64,
    /// Estimated cost of kept rows.
    pub cost_usd: f64,
    /// Lines dropped per [`DropReason`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Lines that failed (written to the errors file, replayable).
    pub failed: u64,
}

impl RunStats {
    /// Counts one decision.
    pub fn count(&mut self, decision: &Result<Decision<'_>, LineFailure>) {
        self.lines += 1;
        match decision {
            Ok(Decision::Keep { flow, .. }) => {
                self.kept += 1;
                self.bytes_kept += flow.bytes.unsigned_abs();
                self.cost_usd += flow.cost_usd;
            }
            Ok(Decision::Drop(reason)) => self.dropped[reason.index()] += 1,
            Err(_) => self.failed += 1,
        }
    }

    /// Lines dropped in all.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// A multi-line summary: outcome counts, then each drop reason.
    pub fn render(&self) -> String {
        let mut out = format!(
            "lines {}  kept {}  dropped {}  failed {}\ncross-AZ bytes {}  estimated cost ${:.6}\n",
            self.lines,
            self.kept,
            self.dropped_total(),
            self.failed,
            self.bytes_kept,
            self.cost_usd
        );
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "  dropped {:<17}{}",
                reason.as_str(),
                self.dropped[reason.index()]
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::Pricing;
    use crate::fixtures::{T0, index};

    const FORMAT: &str = "${pkt-srcaddr} ${pkt-dstaddr} ${bytes} ${start} ${flow-direction}";

    #[test]
    fn counts_add_up_and_failures_name_the_field() {
        let index = index();
        let attributor = Attributor::new(&index, Pricing::default());
        let format = FlowFormat::parse(FORMAT).unwrap();
        let lines = [
            format!("10.0.2.30 10.0.1.10 1000 {} egress", T0 + 5),
            format!("10.0.2.30 10.0.2.40 1000 {} egress", T0 + 5),
            format!("10.0.2.30 10.0.1.10 1000 {} ingress", T0 + 5),
            format!("10.0.2.30 10.0.1.10 lots {} egress", T0 + 5),
            format!("10.0.2.30 10.0.1.10 - {} egress", T0 + 5),
        ];
        let mut stats = RunStats::default();
        let mut errors = Vec::new();
        for line in &lines {
            let (_, decision) = decide_line(&format, &attributor, line);
            if let Err(e) = &decision {
                errors.push(e.to_string());
            }
            stats.count(&decision);
        }
        assert_eq!(
            (stats.lines, stats.kept, stats.dropped_total(), stats.failed),
            (5, 1, 2, 2)
        );
        assert_eq!(
            stats.lines,
            stats.kept + stats.dropped_total() + stats.failed
        );
        assert_eq!(stats.bytes_kept, 1000);
        assert!(
            errors[0].contains("bytes") && errors[0].contains("lots"),
            "{}",
            errors[0]
        );
        assert_eq!(
            errors[1],
            "field `bytes` is absent; crossaz needs it to attribute a flow"
        );
    }
}

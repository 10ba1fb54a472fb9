//! One flow-log line through the core: parse with its format, attribute, decide. Shared by the
//! Firehose transform and the local pipeline (`crossaz run`, `demo`, the in-process load test),
//! so both count exactly alike.
//!
//! It owns the line-level failure type and the run counters that add up (every line is kept,
//! dropped for one reason, or failed). Pure: no I/O.

use std::fmt;
use std::fmt::Write as _;

use crate::attribute::{
    AttributeError, Attributor, DECISION_FIELDS, Decision, DropReason, EARLY_FIELDS, Verdict,
    early_drop,
};
use crate::flowlog::{FieldSet, FlowFormat, FlowRecord, MAX_SPLIT_VALUES, ParseError};

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
/// `start` (when read), which the transform judges snapshot freshness by.
///
/// The line is read only as far as its class needs ([`crate::flowlog::SplitLine`]): the receiver's copy of a
/// flow and empty windows after [`EARLY_FIELDS`], other dropped lines after
/// [`DECISION_FIELDS`], and every field only for a kept line. Values a dropped line's class does
/// not need are therefore not checked: the line is dropped and counted for its reason either
/// way, and a kept line fails on any bad value as before.
pub fn decide_line<'l>(
    format: &FlowFormat,
    attributor: &Attributor<'l>,
    line: &'l str,
) -> (Option<i64>, Result<Decision<'l>, LineFailure>) {
    let mut spans = [(0, 0); MAX_SPLIT_VALUES];
    let split = match format.split_line(line, &mut spans) {
        Ok(Some(split)) => split,
        Ok(None) => return decide_whole_line(format, attributor, line),
        Err(e) => return (None, Err(LineFailure::Parse(e))),
    };
    let mut record = FlowRecord::default();
    if let Err(e) = split.read(&mut record, EARLY_FIELDS) {
        return (None, Err(LineFailure::Parse(e)));
    }
    if let Some(reason) = early_drop(&record) {
        return (None, Ok(Decision::Drop(reason)));
    }
    if let Err(e) = split.read(&mut record, DECISION_FIELDS.without(EARLY_FIELDS)) {
        return (None, Err(LineFailure::Parse(e)));
    }
    let sides = match attributor.classify(&record) {
        Ok(Verdict::Keep(sides)) => sides,
        Ok(Verdict::Drop(reason)) => return (record.start, Ok(Decision::Drop(reason))),
        Err(e) => return (record.start, Err(LineFailure::Attribute(e))),
    };
    if let Err(e) = split.read(&mut record, FieldSet::ALL.without(DECISION_FIELDS)) {
        return (record.start, Err(LineFailure::Parse(e)));
    }
    let decision = attributor
        .keep(&record, line, &sides)
        .map_err(LineFailure::Attribute);
    (record.start, decision)
}

/// [`decide_line`] for formats too wide to split: parse everything, then decide.
fn decide_whole_line<'l>(
    format: &FlowFormat,
    attributor: &Attributor<'l>,
    line: &'l str,
) -> (Option<i64>, Result<Decision<'l>, LineFailure>) {
    match format.parse_line(line) {
        Ok(record) => (
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
            Ok(Decision::Keep { row, .. }) => {
                self.kept += 1;
                self.bytes_kept += row.bytes.unwrap_or(0).unsigned_abs();
                self.cost_usd += row.cost_usd.unwrap_or(0.0);
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
    fn a_line_is_read_only_as_far_as_its_class_needs() {
        let index = index();
        let attributor = Attributor::new(&index, Pricing::default());
        let format = FlowFormat::parse(
            "${pkt-srcaddr} ${pkt-dstaddr} ${packets} ${bytes} ${start} ${flow-direction}",
        )
        .unwrap();
        // `packets` is not a number in any of them: only the kept line needs it.
        let decide = |src: &str, dst: &str, direction: &str| {
            let line = format!("{src} {dst} lots 1000 {} {direction}", T0 + 5);
            let (_, decision) = decide_line(&format, &attributor, &line);
            decision
                .map(|d| match d {
                    Decision::Keep { .. } => "kept".to_owned(),
                    Decision::Drop(reason) => reason.as_str().to_owned(),
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            decide("10.0.2.30", "10.0.1.10", "ingress"),
            Ok("ingress".into())
        );
        assert_eq!(
            decide("10.0.2.30", "10.0.2.40", "egress"),
            Ok("same_az".into())
        );
        assert_eq!(
            decide("10.0.2.30", "10.0.1.10", "egress"),
            Err("field `packets`: invalid value `lots`: not a decimal integer".into())
        );
        assert_eq!(
            decide("10.0.2.30", "10.0.1.10", "sideways"),
            Err(
                "field `flow-direction`: invalid value `sideways`: expected ingress or egress"
                    .into()
            )
        );
    }

    #[test]
    fn staged_reading_decides_valid_lines_as_whole_parsing_does() {
        let index = index();
        let attributor = Attributor::new(&index, Pricing::default());
        let format = FlowFormat::parse(
            "${version} ${instance-id} ${pkt-srcaddr} ${pkt-dstaddr} ${srcport} ${dstport} \
             ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} \
             ${flow-direction} ${x-custom}",
        )
        .unwrap();
        let mut lines = Vec::new();
        for (src, dst) in [
            ("10.0.2.30", "10.0.1.10"),
            ("10.0.2.30", "10.0.2.40"),
            ("10.0.1.10", "10.0.2.30"),
            ("10.0.9.9", "10.0.1.10"),
        ] {
            for at in [T0 + 5, T0 + 1800, T0 - 10_000] {
                for (action, status, direction) in [
                    ("ACCEPT", "OK", "egress"),
                    ("ACCEPT", "OK", "ingress"),
                    ("REJECT", "OK", "egress"),
                    ("ACCEPT", "OK", "-"),
                    ("-", "NODATA", "-"),
                    ("-", "SKIPDATA", "egress"),
                ] {
                    lines.push(format!(
                        "5 i-b {src} {dst} 43512 8080 6 10 1000 {at} {} {action} {status} {direction} z",
                        at + 60
                    ));
                }
            }
        }
        for line in &lines {
            let (start, staged) = decide_line(&format, &attributor, line);
            let (whole_start, whole) = decide_whole_line(&format, &attributor, line);
            assert_eq!(staged, whole, "{line}");
            // Early drops do not read `start`; the transform judges freshness by no other.
            let early = matches!(
                staged,
                Ok(Decision::Drop(
                    DropReason::NoData | DropReason::SkipData | DropReason::Ingress
                ))
            );
            assert_eq!(start, if early { None } else { whole_start }, "{line}");
        }
    }

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

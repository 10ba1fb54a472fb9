//! The Firehose data-transformation contract (design §7, aws-facts §1): one event in, one
//! response out, every `recordId` back exactly once.
//!
//! This module owns the per-record outcome mapping (`Ok` with rows and `partitionKeys.dt`,
//! `Dropped`, `ProcessingFailed`), the 6 MB response budget, the judgement of snapshot staleness
//! against the records' own times, and the batch counters. It is pure: the snapshot index, format
//! and settings come in, the response and [`BatchStats`] go out; the Lambda shell does I/O.

use std::fmt;

use thiserror::Error;

use crate::attribute::{Attributor, Decision, DropReason};
pub use crate::firehose::Outcome;
use crate::firehose::{
    FirehoseEvent, FirehoseResponse, RECORD_FRAMING_BYTES, ResponseWriter, base64_len,
    needs_json_escape,
};
use crate::flowlog::FlowFormat;
use crate::flowlog::frame::record_lines;
use crate::pipeline::decide_line;
use crate::row::PartitionHour;

/// The most a synchronous Lambda invocation may return: 6 MB.
pub const LAMBDA_RESPONSE_LIMIT_BYTES: usize = 6_291_456;
/// Like Splunk's AWS-licensed flow-log processor we budget 6,000,000 bytes of the
/// [`LAMBDA_RESPONSE_LIMIT_BYTES`], to leave room for JSON framing we do not count.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 6_000_000;
/// Records newer than the snapshot by more than this fail the invocation: the extractor runs
/// every minute, so ten minutes without a snapshot means it is broken, and attributing with an
/// old snapshot would credit reused IPs to the wrong pods.
pub const DEFAULT_MAX_SNAPSHOT_LAG_SECS: i64 = 600;
/// Records older than the snapshot by more than this are failed one by one (to the error
/// prefix, replayed by `crossaz reprocess` with the history snapshot of their hour): the
/// snapshot retains vanished pods for an hour (pod-cache `DEFAULT_RETENTION_SECS`).
pub const DEFAULT_MAX_RECORD_AGE_SECS: i64 = 3600;
/// Length of a `dt` partition key, `yyyy-MM-dd-HH`.
const PARTITION_KEY_BYTES: usize = 13;
/// At most this many per-record failures are logged per batch; the rest are only counted.
const MAX_LOGGED_FAILURES: usize = 5;

/// Why one record failed (it goes to the error prefix and can be replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFailure {
    /// The payload is not flow-log text or `{"message":…}` JSON.
    Frame(String),
    /// A line did not parse or lacked a required field: line number (1-based) and reason.
    Line {
        /// 1-based line number inside the record.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The flow started before the snapshot's retention window.
    TooOld {
        /// The flow's start.
        start: i64,
    },
    /// Keeping the rows would push the response over the 6 MB limit.
    OverBudget,
}

impl fmt::Display for RecordFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordFailure::Frame(reason) => write!(f, "payload: {reason}"),
            RecordFailure::Line { line, reason } => write!(f, "line {line}: {reason}"),
            RecordFailure::TooOld { start } => write!(
                f,
                "flow start {start} is older than the snapshot's window; replay it with `crossaz reprocess`"
            ),
            RecordFailure::OverBudget => write!(f, "response would exceed the 6 MB Lambda limit"),
        }
    }
}

/// A failure of the whole invocation: Firehose retries the batch, then writes it to the error
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SystemicError {
    /// The snapshot was observed too long before the records it must attribute.
    #[error(
        "snapshot generated at {snapshot_at} is {lag}s older than the newest record (start {newest_start}); more than the allowed {max_lag}s: is the extractor running?"
    )]
    StaleSnapshot {
        /// Snapshot `generated_at`.
        snapshot_at: i64,
        /// Newest record start in the batch.
        newest_start: i64,
        /// `newest_start - snapshot_at`.
        lag: i64,
        /// The configured limit.
        max_lag: i64,
    },
}

/// Tunables of the transform; defaults are the named constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformSettings {
    /// Response byte budget.
    pub max_response_bytes: usize,
    /// Allowed `newest record start - snapshot generated_at`.
    pub max_snapshot_lag_secs: i64,
    /// Allowed `snapshot generated_at - record start`.
    pub max_record_age_secs: i64,
}

impl Default for TransformSettings {
    fn default() -> Self {
        TransformSettings {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_snapshot_lag_secs: DEFAULT_MAX_SNAPSHOT_LAG_SECS,
            max_record_age_secs: DEFAULT_MAX_RECORD_AGE_SECS,
        }
    }
}

/// Counters of one batch; they add up: `records_in = ok + dropped + failed` and every line is
/// either kept, dropped for one reason or inside a failed record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Firehose records received.
    pub records_in: u64,
    /// Records returned `Ok`.
    pub records_ok: u64,
    /// Records returned `Dropped`.
    pub records_dropped: u64,
    /// Records returned `ProcessingFailed`.
    pub records_failed: u64,
    /// Flow-log lines read from records that did not fail.
    pub lines: u64,
    /// Rows kept (cross-AZ flows).
    pub rows_kept: u64,
    /// Bytes of kept rows (flow bytes, not JSON bytes).
    pub bytes_kept: u64,
    /// Lines dropped, per [`DropReason`] (indexed by [`DropReason::index`]).
    pub dropped: [u64; DropReason::ALL.len()],
    /// Records failed because a line did not parse or lacked a field.
    pub failed_parse: u64,
    /// Records failed because they were older than the snapshot window.
    pub failed_too_old: u64,
    /// Records failed to keep the response under budget.
    pub failed_over_budget: u64,
    /// `Ok` records whose rows spanned several hours (all land in the first row's `dt`).
    pub mixed_hours: u64,
    /// Newest flow start seen.
    pub newest_start: Option<i64>,
    /// Response bytes as estimated against the budget.
    pub response_bytes: usize,
}

impl BatchStats {
    /// Lines dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Adds another batch's counters into this one (the CLI sums over many events).
    pub fn absorb(&mut self, other: &BatchStats) {
        self.records_in += other.records_in;
        self.records_ok += other.records_ok;
        self.records_dropped += other.records_dropped;
        self.records_failed += other.records_failed;
        self.lines += other.lines;
        self.rows_kept += other.rows_kept;
        self.bytes_kept += other.bytes_kept;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        self.failed_parse += other.failed_parse;
        self.failed_too_old += other.failed_too_old;
        self.failed_over_budget += other.failed_over_budget;
        self.mixed_hours += other.mixed_hours;
        self.newest_start = self.newest_start.max(other.newest_start);
        self.response_bytes += other.response_bytes;
    }
}

/// The transform of one Firehose event with one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Transform<'a> {
    format: &'a FlowFormat,
    attributor: Attributor<'a>,
    settings: TransformSettings,
}

/// What one record turned into before the budget is applied.
enum Processed {
    /// The rows are in the caller's buffer.
    Rows {
        dt: PartitionHour,
        lines: u64,
        kept: u64,
        bytes: u64,
        drops: Drops,
    },
    Dropped {
        lines: u64,
        drops: Drops,
    },
    Failed(RecordFailure),
}

type Drops = [u64; DropReason::ALL.len()];

impl<'a> Transform<'a> {
    /// A transform parsing lines with `format` and attributing with `attributor`.
    pub fn new(
        format: &'a FlowFormat,
        attributor: Attributor<'a>,
        settings: TransformSettings,
    ) -> Self {
        Transform {
            format,
            attributor,
            settings,
        }
    }

    /// Transforms a whole event. Per-record problems become `ProcessingFailed`; only a stale
    /// snapshot fails the invocation.
    pub fn run(
        &self,
        event: &FirehoseEvent,
    ) -> Result<(FirehoseResponse, BatchStats), SystemicError> {
        let snapshot_at = self.attributor.index().snapshot().generated_at;
        let mut stats = BatchStats {
            records_in: event.records.len() as u64,
            ..BatchStats::default()
        };
        // Every record comes back, whatever its outcome: reserve their framing first, so the
        // budget left is what `Ok` payloads may use.
        let framing: usize = event
            .records
            .iter()
            .map(|r| RECORD_FRAMING_BYTES + PARTITION_KEY_BYTES + r.record_id.len())
            .sum();
        let mut budget = self.settings.max_response_bytes.saturating_sub(framing);
        // Room for the most the budget lets through, so the response never grows (a row is about
        // four times its line, and growing copied megabytes); pages never written cost nothing.
        // Never more than a Lambda can return, whatever budget the settings give.
        let most = (framing + budget).min(LAMBDA_RESPONSE_LIMIT_BYTES);
        let mut out = ResponseWriter::with_capacity(most);
        // One record's decoded data and its rows, reused from record to record.
        let mut data = Vec::with_capacity(1 << 12);
        let mut rows = Vec::with_capacity(1 << 16);
        let mut logged = 0;
        let mut mixed_hours = 0;
        // The last partition key written, formatted once for the records of its hour.
        let mut key: Option<(PartitionHour, String)> = None;
        for record in &event.records {
            let id = record.record_id.as_ref();
            rows.clear();
            let processed = match record.decode_into(&mut data) {
                Ok(()) => self.process(&data, &mut rows, &mut stats.newest_start, &mut mixed_hours),
                Err(reason) => Processed::Failed(RecordFailure::Frame(reason)),
            };
            match processed {
                Processed::Rows {
                    dt,
                    lines,
                    kept,
                    bytes,
                    drops,
                } => {
                    let encoded = base64_len(rows.len());
                    if encoded > budget {
                        stats.failed_over_budget += 1;
                        Self::fail(&mut stats, &mut logged, id, &RecordFailure::OverBudget);
                        out.push(id, Outcome::ProcessingFailed, &[], None);
                    } else {
                        budget -= encoded;
                        stats.lines += lines;
                        stats.rows_kept += kept;
                        stats.bytes_kept += bytes;
                        add(&mut stats.dropped, &drops);
                        stats.records_ok += 1;
                        if key.as_ref().is_none_or(|(hour, _)| *hour != dt) {
                            key = Some((dt, dt.key()));
                        }
                        let dt = key.as_ref().map(|(_, text)| text.as_str());
                        out.push(id, Outcome::Ok, &rows, dt);
                    }
                }
                Processed::Dropped { lines, drops } => {
                    stats.lines += lines;
                    add(&mut stats.dropped, &drops);
                    stats.records_dropped += 1;
                    out.push(id, Outcome::Dropped, &[], None);
                }
                Processed::Failed(failure) => {
                    match failure {
                        RecordFailure::TooOld { .. } => stats.failed_too_old += 1,
                        _ => stats.failed_parse += 1,
                    }
                    Self::fail(&mut stats, &mut logged, id, &failure);
                    out.push(id, Outcome::ProcessingFailed, &[], None);
                }
            }
        }
        stats.mixed_hours = mixed_hours;
        if let Some(newest) = stats.newest_start {
            let lag = newest - snapshot_at;
            if lag > self.settings.max_snapshot_lag_secs {
                return Err(SystemicError::StaleSnapshot {
                    snapshot_at,
                    newest_start: newest,
                    lag,
                    max_lag: self.settings.max_snapshot_lag_secs,
                });
            }
        }
        let response = out.finish();
        stats.response_bytes = response.as_bytes().len();
        Ok((response, stats))
    }

    fn fail(stats: &mut BatchStats, logged: &mut usize, id: &str, failure: &RecordFailure) {
        stats.records_failed += 1;
        if *logged < MAX_LOGGED_FAILURES {
            *logged += 1;
            tracing::warn!(record_id = id, error = %failure, "record failed");
        }
    }

    /// Parses, attributes and encodes one record's lines; kept rows are appended to `payload`.
    fn process(
        &self,
        data: &[u8],
        payload: &mut Vec<u8>,
        newest: &mut Option<i64>,
        mixed_hours: &mut u64,
    ) -> Processed {
        let lines = match record_lines(data) {
            Ok(lines) => lines,
            Err(e) => return Processed::Failed(RecordFailure::Frame(e.to_string())),
        };
        let snapshot_at = self.attributor.index().snapshot().generated_at;
        let index = self.attributor.index();
        let lines_plain = lines.json_plain();
        let mut first_dt: Option<PartitionHour> = None;
        let (mut count, mut kept, mut bytes) = (0u64, 0u64, 0u64);
        let mut drops: Drops = [0; DropReason::ALL.len()];
        let mut newest_here = *newest;
        for (n, line) in lines.enumerate() {
            let line_no = n + 1;
            let line = match line {
                Ok(line) => line,
                Err(e) => return Processed::Failed(RecordFailure::Frame(e.to_string())),
            };
            count += 1;
            let (start, decision) = decide_line(self.format, &self.attributor, &line);
            // Only decisions that consulted the snapshot are judged against its age.
            let used_snapshot = match &decision {
                Ok(Decision::Keep { .. }) => true,
                Ok(Decision::Drop(reason)) => reason.depends_on_snapshot(),
                Err(_) => false,
            };
            if let (true, Some(start)) = (used_snapshot, start) {
                if snapshot_at - start > self.settings.max_record_age_secs {
                    return Processed::Failed(RecordFailure::TooOld { start });
                }
                newest_here = newest_here.max(Some(start));
            }
            match decision {
                Ok(Decision::Keep { flow, dt }) => {
                    kept += 1;
                    bytes += flow.bytes.unsigned_abs();
                    // The row's strings come from the line, the code, and the index's memo of
                    // each endpoint's members, escaped when rendered: only the line's need a
                    // look.
                    let check = !lines_plain && needs_json_escape(line.as_bytes());
                    flow.write_json(index, payload, check);
                    payload.push(b'\n');
                    match first_dt {
                        None => first_dt = Some(dt),
                        Some(first) if first != dt => *mixed_hours += 1,
                        Some(_) => {}
                    }
                }
                Ok(Decision::Drop(reason)) => drops[reason.index()] += 1,
                Err(e) => {
                    return Processed::Failed(RecordFailure::Line {
                        line: line_no,
                        reason: e.to_string(),
                    });
                }
            }
        }
        *newest = newest_here;
        match first_dt {
            Some(dt) => Processed::Rows {
                dt,
                lines: count,
                kept,
                bytes,
                drops,
            },
            None => Processed::Dropped {
                lines: count,
                drops,
            },
        }
    }
}

fn add(into: &mut Drops, from: &Drops) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};

    use aws_lambda_events::event::firehose::KinesisFirehoseResponse;

    use super::*;
    use crate::attribute::Pricing;
    use crate::fixtures::{T0, index};
    use crate::row::COLUMNS;
    use pod_cache::index::PodIndex;

    const FORMAT: &str = "${version} ${account-id} ${interface-id} ${instance-id} ${pkt-srcaddr} \
        ${pkt-dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} \
        ${action} ${log-status} ${flow-direction}";

    fn line(src: &str, dst: &str, start: i64, bytes: u64, direction: &str) -> String {
        format!(
            "5 123456789012 eni-1 i-b {src} {dst} 43512 8080 6 10 {bytes} {start} {} ACCEPT OK {direction}",
            start + 60
        )
    }

    fn event(payloads: &[Vec<u8>]) -> FirehoseEvent<'static> {
        FirehoseEvent::from_payloads(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("4954{i:04}"), p)),
        )
    }

    fn message(line: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({ "message": line })).unwrap()
    }

    /// Runs the transform on records with `payloads` and reads its response back with
    /// aws_lambda_events' types.
    fn run_with(
        settings: TransformSettings,
        payloads: &[Vec<u8>],
    ) -> Result<(KinesisFirehoseResponse, BatchStats), SystemicError> {
        run_event(settings, &event(payloads))
    }

    /// Runs the transform on `event` and reads its response back with aws_lambda_events' types.
    fn run_event(
        settings: TransformSettings,
        event: &FirehoseEvent,
    ) -> Result<(KinesisFirehoseResponse, BatchStats), SystemicError> {
        run_on(&index(), settings, event)
    }

    /// [`run_event`] over `index`.
    fn run_on(
        index: &PodIndex,
        settings: TransformSettings,
        event: &FirehoseEvent,
    ) -> Result<(KinesisFirehoseResponse, BatchStats), SystemicError> {
        let format = FlowFormat::parse(FORMAT).unwrap();
        let (response, stats) = Transform::new(
            &format,
            Attributor::new(index, Pricing::default()),
            settings,
        )
        .run(event)?;
        assert_eq!(stats.response_bytes, response.as_bytes().len());
        Ok((serde_json::from_slice(response.as_bytes()).unwrap(), stats))
    }

    fn rows(data: &[u8]) -> Vec<serde_json::Map<String, Value>> {
        serde_json::Deserializer::from_slice(data)
            .into_iter::<Value>()
            .map(|v| v.unwrap().as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn outcome_serializes_exactly_as_firehose_expects() {
        let names: Vec<String> = [Outcome::Ok, Outcome::Dropped, Outcome::ProcessingFailed]
            .iter()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        assert_eq!(names, ["\"Ok\"", "\"Dropped\"", "\"ProcessingFailed\""]);
    }

    #[test]
    fn every_record_comes_back_once_with_its_outcome() {
        let cross = line("10.0.2.30", "10.0.1.10", T0 + 5, 1000, "egress");
        let same = line("10.0.2.30", "10.0.2.40", T0 + 5, 500, "egress");
        let ingress = line("10.0.2.30", "10.0.1.10", T0 + 5, 1000, "ingress");
        let payloads = vec![
            message(&cross),
            same.clone().into_bytes(),
            b"not a flow log line".to_vec(),
            format!("{cross}\n{same}\n{ingress}\n").into_bytes(),
            [message(&same), b"\n".to_vec(), message(&cross)].concat(),
        ];
        let (response, stats) = run_with(TransformSettings::default(), &payloads).unwrap();
        let got: Vec<(String, String)> = response
            .records
            .iter()
            .map(|r| (r.record_id.clone().unwrap(), r.result.clone().unwrap()))
            .collect();
        let want = [
            ("49540000", "Ok"),
            ("49540001", "Dropped"),
            ("49540002", "ProcessingFailed"),
            ("49540003", "Ok"),
            ("49540004", "Ok"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        for r in &response.records {
            let has_dt =
                r.metadata.partition_keys.get("dt").map(String::as_str) == Some("2024-05-01-13");
            assert_eq!(has_dt, r.result.as_deref() == Some("Ok"), "{r:?}");
        }
        let first = rows(&response.records[0].data.0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["src_pod"], "web-1");
        assert_eq!(first[0]["dst_pod"], "cart-1");
        assert_eq!(first[0]["bytes"], 1000);
        assert!(first[0].keys().all(|k| COLUMNS.iter().any(|c| c.name == k)));
        assert_eq!(rows(&response.records[3].data.0).len(), 1);
        assert!(response.records[1].data.0.is_empty());
        assert_eq!(
            (
                stats.records_in,
                stats.records_ok,
                stats.records_dropped,
                stats.records_failed
            ),
            (5, 3, 1, 1)
        );
        assert_eq!(
            (stats.lines, stats.rows_kept, stats.bytes_kept),
            (7, 3, 3000)
        );
        assert_eq!(stats.dropped_for(DropReason::SameAz), 3);
        assert_eq!(stats.dropped_for(DropReason::Ingress), 1);
        assert_eq!(stats.failed_parse, 1);
        let wire = serde_json::to_value(&response).unwrap();
        assert_eq!(wire["records"][2]["result"], "ProcessingFailed");
        assert_eq!(
            wire["records"][0]["metadata"]["partitionKeys"]["dt"],
            "2024-05-01-13"
        );
    }

    #[test]
    fn rows_escape_what_needs_escaping_from_the_line_and_from_the_snapshot() {
        // Line strings are copied unchecked only when the line is known plain; endpoint
        // members are escaped when rendered.
        let cross = line("10.0.2.30", "10.0.1.10", T0 + 5, 1000, "egress");
        let odd_line = cross.replace("eni-1", "eni-\"1\\");
        let mut snapshot = index().snapshot().clone();
        let web = snapshot
            .pods
            .iter_mut()
            .find(|p| p.name == "web-1")
            .unwrap();
        web.app = Some("we\"b\u{1}".into());
        let odd_index = PodIndex::new(snapshot);
        let payloads = [
            message(&cross),
            message(&odd_line),
            odd_line.clone().into_bytes(),
        ];
        for (index, app) in [(index(), "web"), (odd_index, "we\"b\u{1}")] {
            let (response, _) =
                run_on(&index, TransformSettings::default(), &event(&payloads)).unwrap();
            let apps_and_enis: Vec<(Value, Value)> = response
                .records
                .iter()
                .map(|r| {
                    let row = &rows(&r.data.0)[0];
                    (row["src_app"].clone(), row["interface_id"].clone())
                })
                .collect();
            assert_eq!(
                apps_and_enis,
                [
                    (json!(app), json!("eni-1")),
                    (json!(app), json!("eni-\"1\\")),
                    (json!(app), json!("eni-\"1\\"))
                ]
            );
        }
    }

    #[test]
    fn a_quote_in_any_snapshot_string_still_yields_rows_that_parse() {
        // Whichever snapshot strings rows take, today's columns or a later one's: each string
        // in turn gets a quote and a backslash, and every row must still parse.
        let payloads = [message(&line(
            "10.0.2.30",
            "10.0.1.10",
            T0 + 5,
            1000,
            "egress",
        ))];
        let original = serde_json::to_value(index().snapshot()).unwrap();
        let mut pointers = Vec::new();
        string_leaves(&original, String::new(), &mut pointers);
        let (mut runs, mut in_rows) = (0, 0);
        for pointer in &pointers {
            let mut value = original.clone();
            let leaf = value.pointer_mut(pointer).unwrap();
            *leaf = json!(format!("{}\"\\", leaf.as_str().unwrap()));
            // Addresses, enums and the format name refuse the edit: not strings a row copies.
            let Ok(snapshot) = serde_json::from_value(value) else {
                continue;
            };
            let (response, _) = run_on(
                &PodIndex::new(snapshot),
                TransformSettings::default(),
                &event(&payloads),
            )
            .unwrap();
            runs += 1;
            for record in &response.records {
                let rows = rows(&record.data.0);
                let quoted = |v: &Value| v.as_str().is_some_and(|s| s.ends_with("\"\\"));
                in_rows += rows
                    .iter()
                    .flat_map(|row| row.values())
                    .filter(|v| quoted(v))
                    .count();
            }
        }
        assert!(runs > 30, "{runs} snapshot strings edited");
        // Namespace, pod, workload and app of both pods, their nodes, zones and the one zone ID.
        assert!(in_rows >= 10, "{in_rows} edited strings reached a row");
    }

    /// JSON pointers to every string in `value`.
    fn string_leaves(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::String(_) => out.push(at),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    string_leaves(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(members) => {
                for (name, member) in members {
                    string_leaves(member, format!("{at}/{name}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn a_record_that_is_not_base64_fails_alone() {
        let cross = line("10.0.2.30", "10.0.1.10", T0 + 5, 1000, "egress");
        let text = json!({"records": [
            {"recordId": "good", "approximateArrivalTimestamp": 1_714_568_460_000_i64,
             "data": STANDARD.encode(message(&cross))},
            {"recordId": "bad", "data": "%%% not base64"},
        ]})
        .to_string();
        let event = FirehoseEvent::from_json(text.as_bytes()).unwrap();
        let (parsed, stats) = run_event(TransformSettings::default(), &event).unwrap();
        let results: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.record_id.as_deref(), r.result.as_deref()))
            .collect();
        assert_eq!(
            results,
            [
                (Some("good"), Some("Ok")),
                (Some("bad"), Some("ProcessingFailed"))
            ]
        );
        assert_eq!((stats.records_ok, stats.failed_parse), (1, 1));
        let kept = rows(&parsed.records[0].data.0);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["bytes"], 1000);
    }

    #[test]
    fn response_budget_fails_records_that_would_overflow_it() {
        let cross = line("10.0.2.30", "10.0.1.10", T0 + 5, 1000, "egress");
        let payloads: Vec<Vec<u8>> = (0..20).map(|_| message(&cross)).collect();
        let (_, full) = run_with(TransformSettings::default(), &payloads).unwrap();
        let budget = full.response_bytes / 2;
        let settings = TransformSettings {
            max_response_bytes: budget,
            ..TransformSettings::default()
        };
        let (response, stats) = run_with(settings, &payloads).unwrap();
        assert_eq!(response.records.len(), 20);
        assert!(stats.failed_over_budget > 0 && stats.records_ok > 0);
        assert_eq!(stats.records_ok + stats.failed_over_budget, 20);
        assert!(
            stats.response_bytes <= budget,
            "{} > {budget}",
            stats.response_bytes
        );
        let ok_then_failed: Vec<&str> = response
            .records
            .iter()
            .map(|r| r.result.as_deref().unwrap())
            .collect();
        let first_failed = ok_then_failed
            .iter()
            .position(|r| *r == "ProcessingFailed")
            .unwrap();
        assert!(
            ok_then_failed[first_failed..]
                .iter()
                .all(|r| *r == "ProcessingFailed")
        );
    }

    #[test]
    fn stale_snapshot_fails_the_invocation_judged_by_record_time() {
        // The fixture snapshot is generated at T0 + 3600.
        let fresh = line("10.0.2.30", "10.0.1.10", T0 + 3600 + 600, 1, "egress");
        let late = line("10.0.2.30", "10.0.1.10", T0 + 3600 + 601, 1, "egress");
        assert!(run_with(TransformSettings::default(), &[message(&fresh)]).is_ok());
        let err = run_with(
            TransformSettings::default(),
            &[message(&fresh), message(&late)],
        )
        .unwrap_err();
        assert_eq!(
            err,
            SystemicError::StaleSnapshot {
                snapshot_at: T0 + 3600,
                newest_start: T0 + 4201,
                lag: 601,
                max_lag: 600
            }
        );
    }

    #[test]
    fn records_older_than_the_snapshot_window_are_failed_for_replay() {
        let old = line("10.0.2.30", "10.0.1.10", T0 - 1, 1, "egress");
        let (response, stats) = run_with(TransformSettings::default(), &[message(&old)]).unwrap();
        assert_eq!(
            response.records[0].result.as_deref(),
            Some("ProcessingFailed")
        );
        assert_eq!(stats.failed_too_old, 1);
    }

    #[test]
    fn nodata_and_skipdata_records_are_dropped_and_counted() {
        let nodata = "5 123456789012 eni-1 i-b - - - - - - - 1714568400 1714568460 - NODATA -";
        let skip = "5 123456789012 eni-1 i-b - - - - - - - 1714568400 1714568460 - SKIPDATA -";
        let (response, stats) = run_with(
            TransformSettings::default(),
            &[message(nodata), skip.as_bytes().to_vec()],
        )
        .unwrap();
        assert!(
            response
                .records
                .iter()
                .all(|r| r.result.as_deref() == Some("Dropped"))
        );
        assert_eq!(stats.dropped_for(DropReason::NoData), 1);
        assert_eq!(stats.dropped_for(DropReason::SkipData), 1);
    }
}

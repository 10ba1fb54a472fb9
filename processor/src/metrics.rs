//! CloudWatch Embedded Metric Format (EMF) lines for a batch's counters.
//!
//! A Lambda that prints one JSON object in EMF to stdout gets CloudWatch metrics without an API
//! call. This module only renders the line; the shell prints it.

use serde_json::{Map, Value, json};

use crate::attribute::DropReason;
use crate::transform::BatchStats;

/// CloudWatch namespace of every crossaz metric.
pub const NAMESPACE: &str = "crossaz";

/// Renders the EMF document for one transform batch. `function` becomes the `Function`
/// dimension; `snapshot_age_secs` is wall-clock age of the snapshot at the end of the batch.
pub fn transform_emf(
    function: &str,
    stats: &BatchStats,
    snapshot_age_secs: i64,
    timestamp_ms: i64,
) -> String {
    let mut values: Vec<(String, u64)> = vec![
        ("RecordsIn".into(), stats.records_in),
        ("RecordsOk".into(), stats.records_ok),
        ("RecordsDropped".into(), stats.records_dropped),
        ("RecordsFailed".into(), stats.records_failed),
        ("Lines".into(), stats.lines),
        ("RowsKept".into(), stats.rows_kept),
        ("CrossAzBytes".into(), stats.bytes_kept),
        ("FailedParse".into(), stats.failed_parse),
        ("FailedTooOld".into(), stats.failed_too_old),
        ("FailedOverBudget".into(), stats.failed_over_budget),
    ];
    for reason in DropReason::ALL {
        values.push((
            format!("Dropped_{}", reason.as_str()),
            stats.dropped_for(reason),
        ));
    }
    let mut doc = Map::new();
    let mut definitions: Vec<Value> = values
        .iter()
        .map(|(name, _)| {
            let unit = if name == "CrossAzBytes" {
                "Bytes"
            } else {
                "Count"
            };
            json!({"Name": name, "Unit": unit})
        })
        .collect();
    definitions.push(json!({"Name": "SnapshotAgeSeconds", "Unit": "Seconds"}));
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert("Function".into(), json!(function));
    for (name, value) in values {
        doc.insert(name, json!(value));
    }
    doc.insert("SnapshotAgeSeconds".into(), json!(snapshot_age_secs));
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_declares_and_carries_every_counter() {
        let mut stats = BatchStats {
            records_in: 7,
            records_ok: 3,
            rows_kept: 5,
            ..BatchStats::default()
        };
        stats.dropped[DropReason::SameAz.index()] = 4;
        let line = transform_emf("transform", &stats, 42, 1_700_000_000_000);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "crossaz");
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(v.get(*name).is_some(), "{name} declared but missing");
        }
        assert_eq!(declared.len(), 19);
        assert_eq!(v["RecordsIn"], 7);
        assert_eq!(v["RowsKept"], 5);
        assert_eq!(v["Dropped_same_az"], 4);
        assert_eq!(v["SnapshotAgeSeconds"], 42);
        assert_eq!(v["Function"], "transform");
    }
}

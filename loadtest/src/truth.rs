//! The ground truth of a generated run and the verifier that compares an observed result to it.
//!
//! Owns the truth document (`truth.json`): record totals per [`RecordClass`], and cross-AZ
//! bytes, packets and records per (hour `dt` of the record's start, source key, destination key),
//! a key being (kind, namespace, pod, workload, zone ID) as in design §4, §6, §9. An observed
//! [`Truth`] is built by whoever reads the processor's output (Parquet rows, counters) with the
//! same keys; [`verify`] explains every difference. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::RecordClass;

/// Bytes, packets and records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Flow-log records.
    pub records: u64,
    /// Sum of `packets`.
    pub packets: u64,
    /// Sum of `bytes`.
    pub bytes: u64,
}

impl Counts {
    /// Add one record.
    pub fn add(&mut self, packets: u64, bytes: u64) {
        self.records += 1;
        self.packets += packets;
        self.bytes += bytes;
    }

    /// Add another total.
    pub fn merge(&mut self, other: Counts) {
        self.records += other.records;
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// One side of a cross-AZ flow as a row names it (`src_*`/`dst_*` columns).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndpointKey {
    /// `pod`, `hostnet` or `node` (never `unknown` in a cross-AZ entry).
    pub kind: String,
    /// Pod namespace (absent for nodes).
    pub namespace: Option<String>,
    /// Pod name (absent for nodes).
    pub pod: Option<String>,
    /// Owning workload name (a CronJob's name for its Jobs' pods; absent for nodes).
    pub workload: Option<String>,
    /// Zone ID (`use1-az4`).
    pub zone_id: Option<String>,
}

impl fmt::Display for EndpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        write!(
            f,
            "{}:{}/{} ({}) @{}",
            self.kind,
            dash(&self.namespace),
            dash(&self.pod),
            dash(&self.workload),
            dash(&self.zone_id)
        )
    }
}

/// The key of one cross-AZ total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FlowKey {
    /// `yyyy-MM-dd-HH` (UTC) of the record's `start`: the partition the row lands in.
    pub dt: String,
    /// Sender.
    pub src: EndpointKey,
    /// Receiver.
    pub dst: EndpointKey,
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} -> {}", self.dt, self.src, self.dst)
    }
}

/// The document form: JSON object keys must be strings, so the per-key totals are a list.
#[derive(Serialize, Deserialize)]
struct TruthDocument {
    classes: BTreeMap<RecordClass, Counts>,
    cross_az: Vec<CrossAzEntry>,
}

#[derive(Serialize, Deserialize)]
struct CrossAzEntry {
    #[serde(flatten)]
    key: FlowKey,
    #[serde(flatten)]
    counts: Counts,
}

/// What a correct processor must produce (or, built from its output, what it did produce).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TruthDocument", into = "TruthDocument")]
pub struct Truth {
    /// Record totals per class. An observed truth may hold only the classes it can know.
    pub classes: BTreeMap<RecordClass, Counts>,
    /// Cross-AZ totals per (dt, source, destination).
    pub cross_az: BTreeMap<FlowKey, Counts>,
}

impl From<TruthDocument> for Truth {
    fn from(doc: TruthDocument) -> Self {
        let mut cross_az = BTreeMap::new();
        for entry in doc.cross_az {
            cross_az
                .entry(entry.key)
                .or_insert_with(Counts::default)
                .merge(entry.counts);
        }
        Truth {
            classes: doc.classes,
            cross_az,
        }
    }
}

impl From<Truth> for TruthDocument {
    fn from(truth: Truth) -> Self {
        TruthDocument {
            classes: truth.classes,
            cross_az: truth
                .cross_az
                .into_iter()
                .map(|(key, counts)| CrossAzEntry { key, counts })
                .collect(),
        }
    }
}

impl Truth {
    /// Sum of all cross-AZ entries.
    pub fn cross_az_total(&self) -> Counts {
        let mut total = Counts::default();
        for counts in self.cross_az.values() {
            total.merge(*counts);
        }
        total
    }

    /// Add one kept record.
    pub fn add_cross_az(&mut self, key: FlowKey, packets: u64, bytes: u64) {
        self.cross_az.entry(key).or_default().add(packets, bytes);
    }

    /// Compare `observed` against this (expected) truth.
    pub fn diff(&self, observed: &Truth) -> TruthDiff {
        verify(self, observed)
    }
}

/// How an observed total differs from the expected one for the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Exactly twice the expected bytes and packets: counted at both ends, or delivered twice.
    DoubleCounted,
    /// Less than expected.
    Under,
    /// More than expected (but not exactly double).
    Over,
}

/// An entry present on both sides with different totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountMismatch {
    /// The key.
    pub key: FlowKey,
    /// Expected totals.
    pub expected: Counts,
    /// Observed totals.
    pub observed: Counts,
    /// Classification.
    pub kind: Mismatch,
}

/// An expected entry found under another key with the same totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misattribution {
    /// Where the bytes belong.
    pub expected: FlowKey,
    /// Where they were put.
    pub observed: FlowKey,
    /// The totals that moved.
    pub counts: Counts,
}

/// A class total that differs (only classes the observed truth reports are compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassMismatch {
    /// The class.
    pub class: RecordClass,
    /// Expected total.
    pub expected: Counts,
    /// Observed total.
    pub observed: Counts,
}

/// Every difference between an expected and an observed [`Truth`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruthDiff {
    /// Class totals that differ.
    pub classes: Vec<ClassMismatch>,
    /// Expected entries absent from the observation (and not explained as misattributed).
    pub missing: Vec<(FlowKey, Counts)>,
    /// Observed entries that should not exist (and are not explained as misattributed).
    pub extra: Vec<(FlowKey, Counts)>,
    /// Entries with the right key and wrong totals.
    pub mismatched: Vec<CountMismatch>,
    /// Missing entries found, with the same totals, under another key of the same hour.
    pub misattributed: Vec<Misattribution>,
    /// Expected cross-AZ total.
    pub expected_total: Counts,
    /// Observed cross-AZ total.
    pub observed_total: Counts,
}

impl TruthDiff {
    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
            && self.missing.is_empty()
            && self.extra.is_empty()
            && self.mismatched.is_empty()
            && self.misattributed.is_empty()
    }
}

/// Compare an observed truth (from the processor's output) with the expected one.
///
/// Class totals are compared only for the classes `observed` reports. A missing entry and an
/// extra entry of the same hour with identical totals are reported as one misattribution.
pub fn verify(expected: &Truth, observed: &Truth) -> TruthDiff {
    let mut diff = TruthDiff {
        expected_total: expected.cross_az_total(),
        observed_total: observed.cross_az_total(),
        ..TruthDiff::default()
    };
    for (&class, &seen) in &observed.classes {
        let want = expected.classes.get(&class).copied().unwrap_or_default();
        if want != seen {
            diff.classes.push(ClassMismatch {
                class,
                expected: want,
                observed: seen,
            });
        }
    }
    let mut missing = Vec::new();
    for (key, &want) in &expected.cross_az {
        match observed.cross_az.get(key) {
            None => missing.push((key.clone(), want)),
            Some(&seen) if seen != want => {
                let kind = if seen.bytes == 2 * want.bytes && seen.packets == 2 * want.packets {
                    Mismatch::DoubleCounted
                } else if seen.bytes < want.bytes {
                    Mismatch::Under
                } else {
                    Mismatch::Over
                };
                diff.mismatched.push(CountMismatch {
                    key: key.clone(),
                    expected: want,
                    observed: seen,
                    kind,
                });
            }
            Some(_) => {}
        }
    }
    let mut extra: Vec<(FlowKey, Counts)> = observed
        .cross_az
        .iter()
        .filter(|(key, _)| !expected.cross_az.contains_key(*key))
        .map(|(k, c)| (k.clone(), *c))
        .collect();
    for (key, counts) in missing {
        let twin = extra
            .iter()
            .position(|(k, c)| k.dt == key.dt && *c == counts);
        match twin {
            Some(i) => {
                let (observed_key, _) = extra.remove(i);
                diff.misattributed.push(Misattribution {
                    expected: key,
                    observed: observed_key,
                    counts,
                });
            }
            None => diff.missing.push((key, counts)),
        }
    }
    diff.extra = extra;
    diff
}

/// Lines shown per category before "... and N more".
const SHOWN_PER_CATEGORY: usize = 20;

fn counts_text(c: Counts) -> String {
    format!("{} B, {} pkts, {} records", c.bytes, c.packets, c.records)
}

impl fmt::Display for TruthDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cross-AZ total: expected {}, observed {}",
            counts_text(self.expected_total),
            counts_text(self.observed_total)
        )?;
        if self.is_empty() {
            return writeln!(f, "OK: observed matches the truth exactly");
        }
        for c in &self.classes {
            writeln!(
                f,
                "class {}: expected {}, observed {}",
                c.class.as_str(),
                counts_text(c.expected),
                counts_text(c.observed)
            )?;
        }
        let section =
            |f: &mut fmt::Formatter<'_>, title: &str, lines: Vec<String>| -> fmt::Result {
                if lines.is_empty() {
                    return Ok(());
                }
                writeln!(f, "{title} ({}):", lines.len())?;
                for line in lines.iter().take(SHOWN_PER_CATEGORY) {
                    writeln!(f, "  {line}")?;
                }
                if lines.len() > SHOWN_PER_CATEGORY {
                    writeln!(f, "  ... and {} more", lines.len() - SHOWN_PER_CATEGORY)?;
                }
                Ok(())
            };
        let double: Vec<String> = self
            .mismatched
            .iter()
            .filter(|m| m.kind == Mismatch::DoubleCounted)
            .map(|m| {
                format!(
                    "{}: expected {}, observed {}",
                    m.key,
                    counts_text(m.expected),
                    counts_text(m.observed)
                )
            })
            .collect();
        let wrong: Vec<String> = self
            .mismatched
            .iter()
            .filter(|m| m.kind != Mismatch::DoubleCounted)
            .map(|m| {
                let how = if m.kind == Mismatch::Under {
                    "under"
                } else {
                    "over"
                };
                format!(
                    "{} ({how}): expected {}, observed {}",
                    m.key,
                    counts_text(m.expected),
                    counts_text(m.observed)
                )
            })
            .collect();
        section(f, "double-counted", double)?;
        section(f, "wrong totals", wrong)?;
        section(
            f,
            "misattributed",
            self.misattributed
                .iter()
                .map(|m| {
                    format!(
                        "{} ({}) attributed as {}",
                        m.expected,
                        counts_text(m.counts),
                        m.observed
                    )
                })
                .collect(),
        )?;
        section(
            f,
            "missing",
            self.missing
                .iter()
                .map(|(k, c)| format!("{k}: {}", counts_text(*c)))
                .collect(),
        )?;
        section(
            f,
            "extra",
            self.extra
                .iter()
                .map(|(k, c)| format!("{k}: {}", counts_text(*c)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, zone: &str) -> EndpointKey {
        EndpointKey {
            kind: "pod".into(),
            namespace: Some("shop".into()),
            pod: Some(name.into()),
            workload: Some(name.split('-').next().unwrap_or(name).into()),
            zone_id: Some(zone.into()),
        }
    }

    fn key(dt: &str, src: &str, dst: &str) -> FlowKey {
        FlowKey {
            dt: dt.into(),
            src: pod(src, "use1-az1"),
            dst: pod(dst, "use1-az2"),
        }
    }

    fn counts(records: u64, packets: u64, bytes: u64) -> Counts {
        Counts {
            records,
            packets,
            bytes,
        }
    }

    fn truth(entries: &[(FlowKey, Counts)]) -> Truth {
        Truth {
            classes: BTreeMap::new(),
            cross_az: entries.iter().cloned().collect(),
        }
    }

    #[test]
    fn identical_truths_have_an_empty_diff() {
        let t = truth(&[(key("2026-01-01-00", "a-1", "b-1"), counts(2, 10, 1000))]);
        let diff = verify(&t, &t.clone());
        assert!(diff.is_empty());
        assert_eq!(diff.expected_total, counts(2, 10, 1000));
        assert!(
            diff.to_string()
                .contains("OK: observed matches the truth exactly")
        );
    }

    #[test]
    fn each_kind_of_difference_is_classified() {
        let h = "2026-01-01-00";
        let expected = truth(&[
            (key(h, "a-1", "b-1"), counts(2, 10, 1000)),
            (key(h, "a-2", "b-2"), counts(1, 5, 500)),
            (key(h, "a-3", "b-3"), counts(1, 7, 700)),
            (key(h, "a-4", "b-4"), counts(3, 9, 900)),
            (key(h, "a-5", "b-5"), counts(1, 1, 100)),
        ]);
        let observed = truth(&[
            (key(h, "a-1", "b-1"), counts(4, 20, 2000)),
            (key(h, "a-2", "b-2"), counts(1, 4, 400)),
            (key(h, "a-3", "x-9"), counts(1, 7, 700)),
            (key(h, "z-1", "z-2"), counts(1, 3, 300)),
            (key(h, "a-5", "b-5"), counts(1, 1, 100)),
        ]);
        let diff = verify(&expected, &observed);
        assert_eq!(diff.mismatched.len(), 2);
        assert_eq!(diff.mismatched[0].kind, Mismatch::DoubleCounted);
        assert_eq!(diff.mismatched[1].kind, Mismatch::Under);
        assert_eq!(
            diff.misattributed,
            vec![Misattribution {
                expected: key(h, "a-3", "b-3"),
                observed: key(h, "a-3", "x-9"),
                counts: counts(1, 7, 700)
            }]
        );
        assert_eq!(
            diff.missing,
            vec![(key(h, "a-4", "b-4"), counts(3, 9, 900))]
        );
        assert_eq!(diff.extra, vec![(key(h, "z-1", "z-2"), counts(1, 3, 300))]);
        let text = diff.to_string();
        for needle in [
            "double-counted (1)",
            "wrong totals (1)",
            "misattributed (1)",
            "missing (1)",
            "extra (1)",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
    }

    #[test]
    fn only_reported_classes_are_compared() {
        let mut expected = Truth::default();
        expected
            .classes
            .insert(RecordClass::Ingress, counts(5, 50, 5000));
        expected
            .classes
            .insert(RecordClass::NoData, counts(2, 0, 0));
        let mut observed = Truth::default();
        observed
            .classes
            .insert(RecordClass::Ingress, counts(4, 40, 4000));
        let diff = verify(&expected, &observed);
        assert_eq!(
            diff.classes,
            vec![ClassMismatch {
                class: RecordClass::Ingress,
                expected: counts(5, 50, 5000),
                observed: counts(4, 40, 4000)
            }]
        );
    }

    #[test]
    fn json_round_trips_with_flat_entries() {
        let mut t = truth(&[(key("2026-01-01-05", "a-1", "b-1"), counts(2, 10, 1000))]);
        t.classes.insert(RecordClass::SameAz, counts(1, 2, 3));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["classes"]["same_az"]["bytes"], 3);
        assert_eq!(json["cross_az"][0]["dt"], "2026-01-01-05");
        assert_eq!(json["cross_az"][0]["src"]["pod"], "a-1");
        assert_eq!(json["cross_az"][0]["bytes"], 1000);
        let back: Truth = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
    }
}

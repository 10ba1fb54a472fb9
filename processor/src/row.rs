//! The enriched row (design §6): the one definition of the output schema.
//!
//! The `row_schema!` invocation below is the single source of the column names, their SQL types,
//! their order and their documentation. From it come the [`Row`] struct (serialized as the JSON the
//! Firehose transform returns), [`COLUMNS`] (from which the Arrow/Parquet schema and the Glue
//! columns in `deploy/` are derived) and [`Row::values`] (the typed visitor a columnar writer
//! uses). Nothing else in the workspace may spell a column list.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::ser::{CompactFormatter, Formatter as _};

/// The SQL type of a column, in the vocabulary shared by Glue/Athena, Arrow and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 string (`string` in Glue, `Utf8` in Arrow).
    Str,
    /// 32-bit signed integer (`int`, `Int32`).
    Int,
    /// 64-bit signed integer (`bigint`, `Int64`).
    BigInt,
    /// 64-bit float (`double`, `Float64`).
    Double,
}

impl ColumnType {
    /// The Hive/Glue type name used in the CloudFormation table definition.
    pub fn glue_type(self) -> &'static str {
        match self {
            ColumnType::Str => "string",
            ColumnType::Int => "int",
            ColumnType::BigInt => "bigint",
            ColumnType::Double => "double",
        }
    }
}

/// One column of the row schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Lower-case snake_case name (Firehose lower-cases JSON keys).
    pub name: &'static str,
    /// SQL type.
    pub kind: ColumnType,
    /// What the column holds, as written into the Glue table comment.
    pub doc: &'static str,
}

/// A borrowed typed value of one column, as handed to a columnar writer by [`Row::values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'r> {
    /// A `Str` column.
    Str(Option<&'r str>),
    /// An `Int` column.
    Int(Option<i32>),
    /// A `BigInt` column.
    BigInt(Option<i64>),
    /// A `Double` column.
    Double(Option<f64>),
}

/// The position of the column `name` in [`COLUMNS`], for use in constants (it cannot fail at
/// run time: a name that is not a column's stops the build).
pub const fn column(name: &str) -> usize {
    let mut at = 0;
    while at < COLUMNS.len() {
        if str_eq(COLUMNS[at].name, name) {
            return at;
        }
        at += 1;
    }
    panic!("no such column")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The Hive partition column; Firehose's dynamic partitioning and the local writer put it in the
/// folder name (`dt=2024-05-01-13/`), never inside the files.
pub const PARTITION_COLUMN: &str = "dt";
/// `chrono` format of [`PARTITION_COLUMN`] values; equals Athena's `projection.dt.format`
/// `yyyy-MM-dd-HH`.
pub const PARTITION_FORMAT: &str = "%Y-%m-%d-%H";

/// The `dt` partition value (`yyyy-MM-dd-HH`, UTC) of a flow that started at `start` (epoch s).
/// Returns `None` for times outside chrono's range.
pub fn partition_key(start: i64) -> Option<String> {
    use chrono::{Datelike as _, Timelike as _};
    // Formatted by hand: this runs once per kept row, and `format(PARTITION_FORMAT)` re-parses
    // the pattern every time. The test below pins it to PARTITION_FORMAT.
    let t = DateTime::<Utc>::from_timestamp(start, 0)?;
    if !(0..=9999).contains(&t.year()) {
        return Some(t.format(PARTITION_FORMAT).to_string());
    }
    let mut key = String::with_capacity(13);
    for (value, width) in [
        (t.year() as u32, 4),
        (t.month(), 2),
        (t.day(), 2),
        (t.hour(), 2),
    ] {
        if !key.is_empty() {
            key.push('-');
        }
        for place in (0..width).rev() {
            key.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
    }
    Some(key)
}

/// The UTC hour a flow started in, which names its `dt` partition: a number until the text is
/// needed. Rows of one Firehose record, and mostly of one event, share it; the transform formats
/// it once per run of equal hours instead of once per row (transform bench: 1.27 M instructions
/// of `partition_key` for 10,938 rows, callgrind, now a handful of calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionHour(i64);

impl PartitionHour {
    /// The hour of `start` (epoch seconds); `None` where [`partition_key`] is `None`, outside
    /// chrono's range.
    pub fn of(start: i64) -> Option<PartitionHour> {
        const RANGE: std::ops::RangeInclusive<i64> =
            DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp();
        RANGE
            .contains(&start)
            .then(|| PartitionHour(start.div_euclid(3600)))
    }

    /// The first second of the hour, epoch seconds.
    pub fn start(self) -> i64 {
        self.0 * 3600
    }

    /// The partition value, `yyyy-MM-dd-HH`: [`partition_key`] of any second of the hour.
    pub fn key(self) -> String {
        // In range by construction: the first second of an hour that holds one in range (chrono's
        // extremes fall on whole hours).
        partition_key(self.start()).unwrap_or_default()
    }
}

macro_rules! rust_type {
    (Str) => { Option<Cow<'a, str>> };
    (Int) => { Option<i32> };
    (BigInt) => { Option<i64> };
    (Double) => { Option<f64> };
}

macro_rules! value_of {
    (Str, $e:expr) => {
        Value::Str($e.as_deref())
    };
    (Int, $e:expr) => {
        Value::Int($e)
    };
    (BigInt, $e:expr) => {
        Value::BigInt($e)
    };
    (Double, $e:expr) => {
        Value::Double($e)
    };
}

/// Appends `,"name":` and one present value as JSON, exactly as serde_json writes them. The
/// member names are constants, copied inline rather than through memcpy; a string that needs
/// no escape shares its opening quote with them.
macro_rules! write_member {
    (Str, $out:expr, $name:expr, $v:expr, $check:expr) => {
        if $check && crate::firehose::needs_json_escape($v.as_bytes()) {
            $out.extend_from_slice(concat!(",\"", $name, "\":").as_bytes());
            // Writing to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *$out, $v);
        } else {
            $out.extend_from_slice(concat!(",\"", $name, "\":\"").as_bytes());
            $out.extend_from_slice($v.as_bytes());
            $out.push(b'"');
        }
    };
    ($kind:ident, $out:expr, $name:expr, $v:expr, $check:expr) => {
        $out.extend_from_slice(concat!(",\"", $name, "\":").as_bytes());
        write_value!($kind, $out, $v);
    };
}

/// Appends one present number as JSON, exactly as serde_json writes it.
macro_rules! write_value {
    (Int, $out:expr, $v:expr) => {
        let _ = CompactFormatter.write_i32($out, *$v);
    };
    (BigInt, $out:expr, $v:expr) => {
        let _ = CompactFormatter.write_i64($out, *$v);
    };
    (Double, $out:expr, $v:expr) => {
        // serde_json writes non-finite floats as null.
        let _ = if $v.is_finite() {
            CompactFormatter.write_f64($out, *$v)
        } else {
            CompactFormatter.write_null($out)
        };
    };
}

macro_rules! row_schema {
    ($( $(#[doc = $doc:literal])+ $name:ident : $kind:ident, )*) => {
        /// Every column of the row schema, in output order.
        pub const COLUMNS: &[Column] = &[
            $( Column { name: stringify!($name), kind: ColumnType::$kind, doc: concat!($($doc),+) }, )*
        ];

        /// One cross-AZ flow, attributed on both sides. Absent values are `None` and are left out
        /// of the JSON (a missing key reads as NULL in Parquet and Athena). Deserializing reads
        /// that JSON back (`crossaz reprocess` of `format-conversion-failed` documents); unknown
        /// keys are ignored.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Row<'a> {
            $(
                $(#[doc = $doc])+
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $name: rust_type!($kind),
            )*
        }

        impl<'a> Row<'a> {
            /// The row's values in [`COLUMNS`] order.
            pub fn values(&self) -> [Value<'_>; COLUMNS.len()] {
                [ $( value_of!($kind, self.$name), )* ]
            }

            /// Appends the row as one JSON object, byte for byte what `serde_json::to_writer`
            /// writes for it (absent values left out), without serde's per-key escaping.
            pub fn write_json(&self, out: &mut Vec<u8>) {
                self.write_json_spliced(out, true, |_, _| {});
            }

            /// [`Row::write_json`], calling `splice(column, out)` after the place of each column
            /// (its position in [`COLUMNS`]), present or not, so that a writer can add members it
            /// keeps elsewhere where they belong: each written `,"name":value`, the object's
            /// first comma becomes its `{`. With `check` false, strings are copied without
            /// looking for what JSON must escape (`"`, `\\`, a control character): the caller
            /// knows none has any, or the output is invalid JSON.
            #[inline(always)]
            pub fn write_json_spliced(
                &self,
                out: &mut Vec<u8>,
                check: bool,
                mut splice: impl FnMut(usize, &mut Vec<u8>),
            ) {
                // Room for a typical row, so the writes below rarely grow the buffer.
                out.reserve(1024);
                let start = out.len();
                // Every member is written after a comma; the first comma becomes the `{`.
                $(
                    if let Some(value) = &self.$name {
                        write_member!($kind, out, stringify!($name), value, check);
                    }
                    splice(const { column(stringify!($name)) }, out);
                )*
                match out.get_mut(start) {
                    Some(comma) => *comma = b'{',
                    None => out.push(b'{'),
                }
                out.push(b'}');
            }
        }
    };
}

row_schema! {
    /// Stable hash (xxh3-64, hex) of the raw flow-log line: de-duplicates at-least-once delivery.
    flow_id: Str,
    /// Start of the aggregation window, epoch seconds (flow-log `start`).
    start_ts: BigInt,
    /// End of the aggregation window, epoch seconds (flow-log `end`).
    end_ts: BigInt,
    /// AWS account that owns the interface.
    account_id: Str,
    /// Region of the interface.
    region: Str,
    /// VPC of the interface.
    vpc_id: Str,
    /// Subnet of the interface.
    subnet_id: Str,
    /// Network interface (ENI) that recorded the flow.
    interface_id: Str,
    /// EC2 instance the interface is attached to.
    instance_id: Str,
    /// `egress` or `ingress`, relative to the interface.
    flow_direction: Str,
    /// Flow-log `traffic-path` (egress path code), when present.
    traffic_path: Int,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    protocol: Int,
    /// Source port.
    src_port: Int,
    /// Destination port.
    dst_port: Int,
    /// Packets in the window.
    packets: BigInt,
    /// Bytes in the window, counted once at the sender.
    bytes: BigInt,
    /// `ACCEPT` or `REJECT`.
    action: Str,
    /// Packet-level source address (`pkt-srcaddr`).
    src_ip: Str,
    /// Source endpoint kind: pod, hostnet, node or unknown.
    src_kind: Str,
    /// Source pod namespace.
    src_namespace: Str,
    /// Source pod name.
    src_pod: Str,
    /// Source owning workload kind (Deployment, StatefulSet, DaemonSet, Job, CronJob, ...).
    src_workload_kind: Str,
    /// Source owning workload name.
    src_workload: Str,
    /// Source pod's app label value.
    src_app: Str,
    /// Source node name.
    src_node: Str,
    /// Source Availability Zone name (us-east-1a).
    src_zone: Str,
    /// Source Availability Zone ID (use1-az1).
    src_zone_id: Str,
    /// Packet-level destination address (`pkt-dstaddr`).
    dst_ip: Str,
    /// Destination endpoint kind: pod, hostnet, node or unknown.
    dst_kind: Str,
    /// Destination pod namespace.
    dst_namespace: Str,
    /// Destination pod name.
    dst_pod: Str,
    /// Destination owning workload kind.
    dst_workload_kind: Str,
    /// Destination owning workload name.
    dst_workload: Str,
    /// Destination pod's app label value.
    dst_app: Str,
    /// Destination node name.
    dst_node: Str,
    /// Destination Availability Zone name.
    dst_zone: Str,
    /// Destination Availability Zone ID.
    dst_zone_id: Str,
    /// Estimated cross-AZ transfer cost in USD (both sides billed; default $0.02 per GB).
    cost_usd: Double,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_partition_hour_names_the_partition_of_each_of_its_seconds() {
        let min = DateTime::<Utc>::MIN_UTC.timestamp();
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        for start in [
            min,
            min + 3599,
            min + 3600,
            -62_167_219_201,
            -3601,
            -3600,
            -1,
            0,
            3599,
            3600,
            1_714_568_400,
            1_714_571_999,
            max - 3600,
            max,
        ] {
            let hour = PartitionHour::of(start).expect("in range");
            assert_eq!(Some(hour.key()), partition_key(start), "{start}");
            assert!(
                hour.start() <= start && start < hour.start() + 3600,
                "{start}"
            );
        }
        for start in [min - 1, max + 1, i64::MIN, i64::MAX] {
            assert_eq!(PartitionHour::of(start), None, "{start}");
            assert_eq!(partition_key(start), None, "{start}");
        }
        assert_eq!(
            PartitionHour::of(1_714_568_400),
            PartitionHour::of(1_714_571_999)
        );
        assert_ne!(
            PartitionHour::of(1_714_571_999),
            PartitionHour::of(1_714_572_000)
        );
        assert_eq!(
            PartitionHour::of(1_714_568_400).map(PartitionHour::key),
            Some("2024-05-01-13".to_owned())
        );
    }

    #[test]
    fn partition_key_is_utc_hour() {
        assert_eq!(
            partition_key(1_714_568_400).as_deref(),
            Some("2024-05-01-13")
        );
        assert_eq!(
            partition_key(1_714_571_999).as_deref(),
            Some("2024-05-01-13")
        );
        assert_eq!(
            partition_key(1_714_572_000).as_deref(),
            Some("2024-05-01-14")
        );
        assert_eq!(partition_key(0).as_deref(), Some("1970-01-01-00"));
        // The hand-written formatting agrees with PARTITION_FORMAT everywhere.
        for start in [
            -62_167_219_200, // 0000-01-01
            -1,
            1_714_568_400,
            1_709_164_800,   // 2024-02-29
            253_402_300_799, // 9999-12-31T23:59:59
            253_402_300_800,
            -62_167_219_201,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp(start, 0)
                .map(|t| t.format(PARTITION_FORMAT).to_string());
            assert_eq!(partition_key(start), chrono, "{start}");
        }
    }

    #[test]
    fn json_keys_follow_columns_and_skip_absent_values() {
        let row = Row {
            flow_id: Some("ab".into()),
            start_ts: Some(10),
            bytes: Some(99),
            src_kind: Some("pod".into()),
            cost_usd: Some(0.5),
            ..Row::default()
        };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(
            json,
            r#"{"flow_id":"ab","start_ts":10,"bytes":99,"src_kind":"pod","cost_usd":0.5}"#
        );
        let mut written = Vec::new();
        row.write_json(&mut written);
        assert_eq!(String::from_utf8(written).unwrap(), json);
        let mut empty = Vec::new();
        Row::default().write_json(&mut empty);
        assert_eq!(empty, b"{}");
    }

    /// A row with each column present or absent, holding any value of its type.
    fn any_row() -> impl Strategy<Value = Row<'static>> {
        let cell = (
            any::<Option<String>>(),
            any::<i64>(),
            any::<f64>(),
            any::<bool>(),
        );
        proptest::collection::vec(cell, COLUMNS.len()).prop_map(|cells| {
            let mut object = serde_json::Map::new();
            for (column, (text, int, float, present)) in COLUMNS.iter().zip(cells) {
                let value = match column.kind {
                    ColumnType::Str => text.map(serde_json::Value::from),
                    ColumnType::Int => present.then(|| (int as i32).into()),
                    ColumnType::BigInt => present.then(|| int.into()),
                    // JSON has no NaN or infinity to read back; write_json's null is checked apart.
                    ColumnType::Double => (present && float.is_finite()).then(|| float.into()),
                };
                if let Some(value) = value {
                    object.insert(column.name.to_owned(), value);
                }
            }
            serde_json::from_value(object.into()).expect("row from its own columns")
        })
    }

    proptest! {
        #[test]
        fn partition_hours_name_what_partition_key_names(
            // Mostly inside chrono's range (where a random i64 seldom falls), the edges too.
            start in prop_oneof![
                4 => DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
                4 => 0..4_102_444_800i64,
                1 => any::<i64>(),
            ],
        ) {
            prop_assert_eq!(PartitionHour::of(start).map(PartitionHour::key), partition_key(start));
        }

        #[test]
        fn write_json_is_byte_for_byte_serde_json(row in any_row()) {
            let mut written = Vec::new();
            row.write_json(&mut written);
            let serde = serde_json::to_vec(&row).unwrap();
            prop_assert_eq!(&written, &serde);
            // Unchecked copying is byte for byte the same when no string needs an escape.
            let plain = row.values().iter().all(|value| match value {
                Value::Str(Some(text)) => !crate::firehose::needs_json_escape(text.as_bytes()),
                _ => true,
            });
            if plain {
                let mut copied = Vec::new();
                row.write_json_spliced(&mut copied, false, |_, _| {});
                prop_assert_eq!(copied, serde);
            }
        }
    }

    #[test]
    fn strings_that_need_escapes_are_written_as_serde_json_writes_them() {
        for text in [
            "a\"b",
            "back\\slash",
            "new\nline",
            "\u{1}",
            "plain",
            "",
            "é",
        ] {
            let row = Row {
                flow_id: Some(text.into()),
                src_pod: Some(text.into()),
                protocol: Some(6),
                dst_zone_id: Some(text.into()),
                ..Row::default()
            };
            assert_written_as_serde_json(&row);
            if ["plain", "", "é"].contains(&text) {
                let mut copied = Vec::new();
                row.write_json_spliced(&mut copied, false, |_, _| {});
                assert_eq!(copied, serde_json::to_vec(&row).unwrap(), "{text:?}");
            }
        }
    }

    fn assert_written_as_serde_json(row: &Row<'_>) {
        let mut written = Vec::new();
        row.write_json(&mut written);
        assert_eq!(written, serde_json::to_vec(row).unwrap(), "{row:?}");
    }

    #[test]
    fn rows_are_appended_after_what_the_buffer_holds() {
        let mut out = b"{}\n".to_vec();
        Row::default().write_json(&mut out);
        out.push(b'\n');
        Row {
            protocol: Some(6),
            ..Row::default()
        }
        .write_json(&mut out);
        assert_eq!(out, b"{}\n{}\n{\"protocol\":6}");
    }

    #[test]
    fn spliced_members_land_after_their_column() {
        let row = Row {
            start_ts: Some(7),
            src_ip: Some("10.0.0.1".into()),
            ..Row::default()
        };
        let mut out = Vec::new();
        row.write_json_spliced(&mut out, true, |at, out| match at {
            // Before any member: its comma becomes the object's `{`.
            0 => out.extend_from_slice(b",\"first\":1"),
            at if at == column("src_ip") => out.extend_from_slice(b",\"after_ip\":2"),
            at if at == COLUMNS.len() - 1 => out.extend_from_slice(b",\"last\":3"),
            _ => {}
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"first":1,"start_ts":7,"src_ip":"10.0.0.1","after_ip":2,"last":3}"#
        );
    }

    #[test]
    fn column_positions_name_columns() {
        for (at, c) in COLUMNS.iter().enumerate() {
            assert_eq!(column(c.name), at);
        }
    }

    #[test]
    fn non_finite_cost_is_written_as_serde_json_writes_it() {
        for cost in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e-300,
            5e-324,
        ] {
            assert_written_as_serde_json(&Row {
                cost_usd: Some(cost),
                ..Row::default()
            });
        }
    }

    #[test]
    fn columns_are_lower_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in COLUMNS {
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{}",
                c.name
            );
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            assert!(!c.doc.is_empty());
        }
        assert!(!seen.contains(PARTITION_COLUMN));
        assert_eq!(COLUMNS.len(), 38);
    }

    #[test]
    fn values_line_up_with_columns() {
        let row = Row {
            protocol: Some(6),
            dst_zone_id: Some("use1-az2".into()),
            ..Row::default()
        };
        let values = row.values();
        for (column, value) in COLUMNS.iter().zip(values) {
            let kind = match value {
                Value::Str(_) => ColumnType::Str,
                Value::Int(_) => ColumnType::Int,
                Value::BigInt(_) => ColumnType::BigInt,
                Value::Double(_) => ColumnType::Double,
            };
            assert_eq!(kind, column.kind, "{}", column.name);
            match column.name {
                "protocol" => assert_eq!(value, Value::Int(Some(6))),
                "dst_zone_id" => assert_eq!(value, Value::Str(Some("use1-az2"))),
                _ => {}
            }
        }
    }
}

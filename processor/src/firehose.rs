//! The Firehose data-transformation wire format (aws-facts §1): reading the event JSON a
//! transform Lambda receives and writing the response JSON it returns.
//!
//! It owns the two JSON documents, nothing of their meaning ([`crate::transform`] decides each
//! record). Both are on the hot path of the Lambda, so:
//! - [`FirehoseEvent`] decodes each record's base64 `data` straight from the event text while the
//!   event is deserialized (SIMD base64, no intermediate `String`), and ignores the fields the
//!   transform does not use (`approximateArrivalTimestamp`, whose untagged number-or-string form
//!   costs aws_lambda_events' typed event a serde error per record). A record whose data is not
//!   base64 is kept with the reason, so that record alone fails, not the whole batch.
//! - [`ResponseWriter`] writes the response text directly, base64-encoding each record's rows
//!   into it; the Lambda hands it to the runtime as a [`RawValue`], so it is never re-escaped.
//!
//! Both documents are the ones aws_lambda_events' `KinesisFirehoseEvent` and
//! `KinesisFirehoseResponse` describe; the tests check the writer against those types.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One transformation event: the records of one Lambda invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    /// The invocation's ID.
    #[serde(default)]
    pub invocation_id: Option<String>,
    /// The delivery stream that invoked the Lambda.
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    /// The delivery stream's region.
    #[serde(default)]
    pub region: Option<String>,
    /// The records, in order; the response must return each `record_id` once.
    pub records: Vec<FirehoseRecord>,
}

/// One record of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    /// The ID the response must echo.
    pub record_id: String,
    /// The record's payload, base64-decoded.
    pub data: RecordData,
}

/// A record's payload: decoded bytes, or why the base64 text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// The decoded payload.
    Bytes(Vec<u8>),
    /// The `data` string is not standard padded base64 (this says why).
    NotBase64(String),
}

impl Default for RecordData {
    fn default() -> Self {
        RecordData::Bytes(Vec::new())
    }
}

impl RecordData {
    /// The decoded bytes, or the reason they could not be decoded.
    pub fn bytes(&self) -> Result<&[u8], &str> {
        match self {
            RecordData::Bytes(bytes) => Ok(bytes),
            RecordData::NotBase64(reason) => Err(reason),
        }
    }
}

impl<'de> Deserialize<'de> for RecordData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Base64Text;
        impl Visitor<'_> for Base64Text {
            type Value = RecordData;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }

            // serde_json hands unescaped strings over borrowed from the event text (and escaped
            // ones from its scratch buffer): decoding here never copies the base64 text.
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RecordData, E> {
                Ok(match base64_simd::STANDARD.decode_to_vec(text) {
                    Ok(bytes) => RecordData::Bytes(bytes),
                    Err(e) => RecordData::NotBase64(format!(
                        "data is not base64 ({e}): {} characters",
                        text.len()
                    )),
                })
            }
        }
        deserializer.deserialize_str(Base64Text)
    }
}

impl FirehoseEvent {
    /// An event of `(recordId, payload)` pairs, as Firehose would send them (tests, tools).
    pub fn from_payloads<I, S, P>(records: I) -> FirehoseEvent
    where
        I: IntoIterator<Item = (S, P)>,
        S: Into<String>,
        P: Into<Vec<u8>>,
    {
        FirehoseEvent {
            records: records
                .into_iter()
                .map(|(id, data)| FirehoseRecord {
                    record_id: id.into(),
                    data: RecordData::Bytes(data.into()),
                })
                .collect(),
            ..FirehoseEvent::default()
        }
    }
}

/// The result of one Firehose record, serialized exactly as Firehose expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Transformed; the data holds one or more rows.
    Ok,
    /// Intentionally not kept (every line was dropped by a counting rule).
    Dropped,
    /// Could not be transformed; Firehose writes the original to the error prefix.
    ProcessingFailed,
}

impl Outcome {
    /// The exact spelling Firehose expects in `result`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "Ok",
            Outcome::Dropped => "Dropped",
            Outcome::ProcessingFailed => "ProcessingFailed",
        }
    }
}

/// JSON around one response record besides its id, data and partition key:
/// `{"recordId":"","result":"ProcessingFailed","data":"","metadata":{"partitionKeys":{"dt":""}}},`.
pub const RECORD_FRAMING_BYTES: usize = 93;

/// Length of the base64 encoding of `n` bytes.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Writes a transformation response, one record at a time, in the event's order.
#[derive(Debug)]
pub struct ResponseWriter {
    out: Vec<u8>,
    records: usize,
}

impl ResponseWriter {
    /// A writer with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ResponseWriter {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"{\"records\":[");
        ResponseWriter { out, records: 0 }
    }

    /// Appends one record: `data` is base64-encoded into the response; `partition` is the `dt`
    /// partition key (`Ok` records).
    pub fn push(
        &mut self,
        record_id: &str,
        outcome: Outcome,
        data: &[u8],
        partition: Option<&str>,
    ) {
        if self.records > 0 {
            self.out.push(b',');
        }
        self.records += 1;
        self.out.extend_from_slice(b"{\"recordId\":");
        write_str(&mut self.out, record_id);
        self.out.extend_from_slice(b",\"result\":\"");
        self.out.extend_from_slice(outcome.as_str().as_bytes());
        self.out.extend_from_slice(b"\",\"data\":\"");
        base64_simd::STANDARD.encode_append(data, &mut self.out);
        self.out.push(b'"');
        // Like aws_lambda_events' response type, every record carries `metadata`.
        self.out
            .extend_from_slice(b",\"metadata\":{\"partitionKeys\":{");
        if let Some(dt) = partition {
            self.out.extend_from_slice(b"\"dt\":");
            write_str(&mut self.out, dt);
        }
        self.out.extend_from_slice(b"}}}");
    }

    /// Records written so far.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing but the document's opening has been written.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The finished response document.
    pub fn finish(mut self) -> FirehoseResponse {
        self.out.extend_from_slice(b"]}");
        FirehoseResponse { json: self.out }
    }
}

/// A finished transformation response: the JSON document Firehose reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseResponse {
    json: Vec<u8>,
}

impl FirehoseResponse {
    /// The response text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The response text, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.json
    }

    /// The response as a JSON value the Lambda runtime serializes verbatim (no re-escaping of
    /// the base64 data). Checks the text is one JSON document, as the runtime requires.
    pub fn into_raw_value(self) -> Result<Box<RawValue>, serde_json::Error> {
        // The writer only ever appends UTF-8: `&str` values and ASCII.
        let text = String::from_utf8(self.json).map_err(|e| {
            <serde_json::Error as de::Error>::custom(format!("response is not UTF-8: {e}"))
        })?;
        RawValue::from_string(text)
    }
}

/// Bytes that a JSON string must escape: `"`, `\` and control characters.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as a JSON string, byte-for-byte as serde_json writes it.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // No early exit: short strings, and the fold vectorizes.
    if s.bytes().fold(false, |any, b| any | needs_escape(b)) {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::firehose::{KinesisFirehoseEvent, KinesisFirehoseResponse};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_event_aws_documents() {
        // The example event of the Firehose data-transformation documentation, with both forms
        // of approximateArrivalTimestamp and an escaped slash in the data.
        let text = r#"{
            "invocationId": "invocationIdExample",
            "deliveryStreamArn": "arn:aws:kinesis:EXAMPLE",
            "region": "us-east-1",
            "records": [
                {"recordId": "49546986683135544286507457936321625675700192471156785154",
                 "approximateArrivalTimestamp": 1495072949453,
                 "data": "SGVsbG8gV29ybGQ="},
                {"recordId": "2", "approximateArrivalTimestamp": "1495072949453",
                 "data": "aGk\/"},
                {"recordId": "3", "data": "not base64!"}
            ]
        }"#;
        let event: FirehoseEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.invocation_id.as_deref(), Some("invocationIdExample"));
        assert_eq!(event.region.as_deref(), Some("us-east-1"));
        assert_eq!(event.records.len(), 3);
        assert_eq!(
            event.records[0].record_id,
            "49546986683135544286507457936321625675700192471156785154"
        );
        assert_eq!(event.records[0].data.bytes(), Ok(&b"Hello World"[..]));
        assert_eq!(event.records[1].data.bytes(), Ok(&b"hi?"[..]));
        let reason = event.records[2].data.bytes().unwrap_err();
        assert!(reason.starts_with("data is not base64"), "{reason}");
    }

    #[test]
    fn refuses_events_that_are_not_firehose_events() {
        for (text, needle) in [
            (r#"{"invocationId":"x"}"#, "missing field `records`"),
            (
                r#"{"records":[{"data":"aGk="}]}"#,
                "missing field `recordId`",
            ),
            (
                r#"{"records":[{"recordId":"1","data":5}]}"#,
                "a base64 string",
            ),
        ] {
            let e = serde_json::from_str::<FirehoseEvent>(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn response_is_what_aws_lambda_events_reads() {
        let mut w = ResponseWriter::with_capacity(0);
        w.push("a\"1", Outcome::Ok, b"{\"x\":1}\n", Some("2024-05-01-13"));
        w.push("b", Outcome::Dropped, b"", None);
        w.push("c", Outcome::ProcessingFailed, b"", None);
        assert_eq!(w.records(), 3);
        let response = w.finish();
        let parsed: KinesisFirehoseResponse = serde_json::from_slice(response.as_bytes()).unwrap();
        let ids: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.record_id.as_deref(), r.result.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                (Some("a\"1"), Some("Ok")),
                (Some("b"), Some("Dropped")),
                (Some("c"), Some("ProcessingFailed"))
            ]
        );
        assert_eq!(parsed.records[0].data.0, b"{\"x\":1}\n");
        assert_eq!(
            parsed.records[0].metadata.partition_keys["dt"],
            "2024-05-01-13"
        );
        assert!(parsed.records[1].metadata.partition_keys.is_empty());
        let raw = response.clone().into_raw_value().unwrap();
        assert_eq!(raw.get().as_bytes(), response.as_bytes());
        assert_eq!(serde_json::to_vec(&raw).unwrap(), response.as_bytes());
    }

    #[test]
    fn framing_constant_is_the_longest_record_framing() {
        let mut w = ResponseWriter::with_capacity(0);
        w.push("x", Outcome::Ok, b"", None);
        for outcome in [Outcome::Ok, Outcome::Dropped, Outcome::ProcessingFailed] {
            for partition in [None, Some("")] {
                let before = w.len();
                w.push("", outcome, b"", partition);
                let framing = w.len() - before;
                assert!(framing <= RECORD_FRAMING_BYTES, "{outcome:?} {partition:?}");
                if outcome == Outcome::ProcessingFailed && partition.is_some() {
                    assert_eq!(framing, RECORD_FRAMING_BYTES);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn data_round_trips_through_both_documents(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8)
        ) {
            let event = json!({
                "records": payloads.iter().enumerate().map(|(i, p)| json!({
                    "recordId": i.to_string(),
                    "approximateArrivalTimestamp": 1,
                    "data": STANDARD.encode(p),
                })).collect::<Vec<_>>()
            });
            let ours: FirehoseEvent = serde_json::from_value(event.clone()).unwrap();
            let theirs: KinesisFirehoseEvent = serde_json::from_value(event).unwrap();
            let mut w = ResponseWriter::with_capacity(0);
            for (a, b) in ours.records.iter().zip(&theirs.records) {
                prop_assert_eq!(Some(&a.record_id), b.record_id.as_ref());
                prop_assert_eq!(a.data.bytes(), Ok(&b.data.0[..]));
                w.push(&a.record_id, Outcome::Ok, a.data.bytes().unwrap(), Some("dt"));
            }
            let back: KinesisFirehoseResponse = serde_json::from_slice(w.finish().as_bytes()).unwrap();
            let data: Vec<Vec<u8>> = back.records.into_iter().map(|r| r.data.0).collect();
            prop_assert_eq!(data, payloads);
        }
    }
}

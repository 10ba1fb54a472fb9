//! The Firehose data-transformation wire format (aws-facts §1): reading the event JSON a
//! transform Lambda receives and writing the response JSON it returns.
//!
//! It owns the two JSON documents, nothing of their meaning ([`crate::transform`] decides each
//! record); the local reader of saved event files (`local::source`) uses it too. Both are on the
//! Lambda's hot path, so:
//! - [`FirehoseEvent`] borrows each `recordId` and base64 `data` from the event text (checked as
//!   UTF-8 once) and ignores the fields the transform does not use (`approximateArrivalTimestamp`,
//!   whose untagged number-or-string form costs aws_lambda_events' typed event a serde error per
//!   record). [`FirehoseRecord::decode_into`] decodes one record with SIMD base64 into a buffer
//!   the caller reuses; a record that is not base64 says why, so it alone fails.
//! - [`ResponseWriter`] writes the response text directly, base64-encoding each record's rows
//!   into it; it serializes as that text verbatim, so the runtime neither re-escapes nor re-parses it.
//!
//! Both documents are the ones aws_lambda_events' `KinesisFirehoseEvent` and
//! `KinesisFirehoseResponse` describe; the tests check the writer against those types.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::row::PARTITION_COLUMN;

mod plain;

/// One transformation event: the records of one Lambda invocation, borrowed from the event text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent<'a> {
    /// The invocation's ID.
    #[serde(default, borrow)]
    pub invocation_id: Option<Cow<'a, str>>,
    /// The delivery stream that invoked the Lambda.
    #[serde(default, borrow)]
    pub delivery_stream_arn: Option<Cow<'a, str>>,
    /// The delivery stream's region.
    #[serde(default, borrow)]
    pub region: Option<Cow<'a, str>>,
    /// The records, in order; the response must return each `record_id` once.
    #[serde(borrow)]
    pub records: Vec<FirehoseRecord<'a>>,
}

/// One record of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord<'a> {
    /// The ID the response must echo.
    #[serde(borrow)]
    pub record_id: Cow<'a, str>,
    /// The record's payload as base64 text; [`FirehoseRecord::decode_into`] decodes it.
    #[serde(borrow)]
    pub data: Cow<'a, str>,
}

/// The event text is not a Firehose transformation event.
#[derive(Debug, Error)]
pub enum EventError {
    /// The text is not UTF-8.
    #[error("event is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// The text is not an event's JSON.
    #[error("event is not a Firehose transformation event: {0}")]
    Json(#[from] serde_json::Error),
}

impl<'a> FirehoseEvent<'a> {
    /// Reads an event from its JSON text. Strings borrow from `text` (base64 data has nothing
    /// to unescape), and the text is checked as UTF-8 once, not string by string. The shape
    /// Firehose sends is read without a general JSON parser (`plain`: 576 instructions a record
    /// against serde_json's 1,067 in the transform bench); anything else, and every error, is
    /// serde_json's.
    pub fn from_json(text: &'a [u8]) -> Result<FirehoseEvent<'a>, EventError> {
        let text = utf8(text)?;
        match plain::read(text) {
            Some(event) => Ok(event),
            None => Ok(serde_json::from_str(text)?),
        }
    }

    /// An event of `(recordId, payload)` pairs, as Firehose would send them (tests, tools).
    pub fn from_payloads<I, S, P>(records: I) -> FirehoseEvent<'static>
    where
        I: IntoIterator<Item = (S, P)>,
        S: Into<String>,
        P: AsRef<[u8]>,
    {
        FirehoseEvent {
            records: records
                .into_iter()
                .map(|(id, data)| FirehoseRecord {
                    record_id: Cow::Owned(id.into()),
                    data: Cow::Owned(base64_simd::STANDARD.encode_to_string(data)),
                })
                .collect(),
            ..FirehoseEvent::default()
        }
    }
}

impl FirehoseRecord<'_> {
    /// Replaces `buf`'s contents with the decoded payload, or says why `data` is not base64.
    pub fn decode_into(&self, buf: &mut Vec<u8>) -> Result<(), String> {
        buf.clear();
        base64_simd::STANDARD
            .decode_append(self.data.as_bytes(), buf)
            .map_err(|e| {
                format!(
                    "data is not standard base64 ({e}): {} characters",
                    self.data.len()
                )
            })
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

/// What follows a record id, from its closing quote, in a record with no data and no partition
/// key whose `result` is `$result`.
macro_rules! empty_record_tail {
    ($result:literal) => {
        concat!(
            "\",\"result\":\"",
            $result,
            "\",\"data\":\"\",\"metadata\":{\"partitionKeys\":{}}}"
        )
    };
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

    /// A record's JSON after its id, from the id's closing quote, when it has no data and no
    /// partition key (every `Dropped` and `ProcessingFailed` record): one copy instead of six.
    fn empty_tail(self) -> &'static str {
        match self {
            Outcome::Ok => empty_record_tail!("Ok"),
            Outcome::Dropped => empty_record_tail!("Dropped"),
            Outcome::ProcessingFailed => empty_record_tail!("ProcessingFailed"),
        }
    }
}

/// JSON around one response record besides its id, data and partition value:
/// `{"recordId":"","result":"ProcessingFailed","data":"","metadata":{"partitionKeys":{"dt":""}}},`
/// (91 bytes plus the partition column's name).
pub const RECORD_FRAMING_BYTES: usize = 91 + PARTITION_COLUMN.len();

/// `"dt":`, the partition key's name as a JSON member ([`PARTITION_COLUMN`], tested).
const PARTITION_MEMBER: &str = "\"dt\":";

/// What closes a response document.
const CLOSE: &str = "]}";

/// Length of the base64 encoding of `n` bytes.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Writes a transformation response, one record at a time, in the event's order. The document
/// is a `String` throughout (everything appended is UTF-8), so handing it to the runtime needs
/// no UTF-8 check.
#[derive(Debug)]
pub struct ResponseWriter {
    out: String,
    records: usize,
}

impl ResponseWriter {
    /// A writer with room for `capacity` bytes of records, besides the document around them.
    pub fn with_capacity(capacity: usize) -> ResponseWriter {
        const OPEN: &str = "{\"records\":[";
        let mut out = String::with_capacity(OPEN.len() + capacity + CLOSE.len());
        out.push_str(OPEN);
        ResponseWriter { out, records: 0 }
    }

    /// Appends one record: `data` is base64-encoded into the response; `partition` is the value
    /// of its [`PARTITION_COLUMN`] key (`Ok` records).
    pub fn push(
        &mut self,
        record_id: &str,
        outcome: Outcome,
        data: &[u8],
        partition: Option<&str>,
    ) {
        if self.records > 0 {
            self.out.push(',');
        }
        self.records += 1;
        let escaped = needs_json_escape(record_id.as_bytes());
        if escaped {
            self.out.push_str("{\"recordId\":");
            push_json_str(&mut self.out, record_id);
        } else {
            // The id's quotes go with the constants around it.
            self.out.push_str("{\"recordId\":\"");
            self.out.push_str(record_id);
        }
        // What follows starts with the id's closing quote, which an escaped id wrote itself.
        let after_id = |text: &'static str| if escaped { &text[1..] } else { text };
        if data.is_empty() && partition.is_none() {
            self.out.push_str(after_id(outcome.empty_tail()));
            return;
        }
        self.out.push_str(after_id("\",\"result\":\""));
        self.out.push_str(outcome.as_str());
        self.out.push_str("\",\"data\":\"");
        base64_simd::STANDARD.encode_append(data, &mut self.out);
        self.out.push('"');
        // Like aws_lambda_events' response type, every record carries `metadata`.
        self.out.push_str(",\"metadata\":{\"partitionKeys\":{");
        if let Some(dt) = partition {
            self.out.push_str(PARTITION_MEMBER);
            push_json_str(&mut self.out, dt);
        }
        self.out.push_str("}}}");
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
        self.out.push_str(CLOSE);
        FirehoseResponse { json: self.out }
    }
}

/// A finished transformation response: the JSON document Firehose reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseResponse {
    json: String,
}

impl FirehoseResponse {
    /// The response text.
    pub fn as_bytes(&self) -> &[u8] {
        self.json.as_bytes()
    }
}

/// The name serde_json's own `RawValue` serializes under: serde_json writes a struct of this
/// name with one field of this name verbatim, neither escaping nor parsing it.
const SERDE_JSON_RAW_VALUE: &str = "$serde_json::private::RawValue";

/// Serializes as the response text itself, the way serde_json serializes a
/// [`RawValue`](serde_json::value::RawValue) (crate feature `raw_value`, which enables this), but
/// without `RawValue::from_string` parsing the text again first: the document is valid by
/// construction (the tests check it against aws_lambda_events' types), and that second parse
/// of 1–6 MB was a sixth of the transform Lambda's instructions. The Lambda runtime serializes
/// the handler's response with serde_json; `serializes_verbatim_through_serde_json` fails if
/// serde_json ever stops honouring this name.
impl Serialize for FirehoseResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut raw = serializer.serialize_struct(SERDE_JSON_RAW_VALUE, 1)?;
        raw.serialize_field(SERDE_JSON_RAW_VALUE, self.json.as_str())?;
        raw.end()
    }
}

/// Appends `s` to a JSON document as a JSON string, as serde_json writes it.
fn push_json_str(out: &mut String, s: &str) {
    if needs_json_escape(s.as_bytes()) {
        // Serializing a str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// `bytes` as text, checked with SIMD: several times faster than `std::str::from_utf8` on the
/// 1–6 MB event and on every record. Text that is not UTF-8 is checked again by the standard
/// library, whose error says where it stops.
#[inline]
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(bytes).or_else(|_| std::str::from_utf8(bytes))
}

/// Bytes of a `u64` each holding `b`.
pub(crate) const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `word` that is not an ASCII digit, exact per byte: a digit is
/// high nibble 3 with low nibble at most 9, and no step carries into the next byte. Used by the
/// event reader and by the flow-log parser's numbers.
#[inline]
pub(crate) fn non_digits(word: u64) -> u64 {
    let high_not_3 = (word & splat(0xf0)) ^ splat(0x30);
    let low_over_9 = ((word & splat(0x0f)) + splat(0x06)) & splat(0xf0);
    let bad = high_not_3 | low_over_9;
    // Nonzero bytes to their high bit.
    (((bad & splat(0x7f)) + splat(0x7f)) | bad) & splat(0x80)
}

/// Whether any byte of `word` is one a JSON string must escape: `"`, `\\` or a control
/// character (below 0x20). Eight bytes at a time; exact, not an estimate.
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const HIGH: u64 = splat(0x80);
    // A byte is below n (n <= 0x80) iff subtracting n borrows into its high bit, for bytes
    // whose own high bit is clear; bytes with the high bit set never need escaping.
    let below = |w: u64, n: u8| w.wrapping_sub(splat(n)) & !w & HIGH;
    let zero = |w: u64| below(w, 1);
    below(word, 0x20) | zero(word ^ splat(b'"')) | zero(word ^ splat(b'\\')) != 0
}

/// Where the JSON string whose text starts `bytes` ends, when it holds nothing to unescape: the
/// position of the first `"`, if no `\\` or control character comes before it. `None` when the
/// string has an escape or a control character, or no closing quote.
///
/// Every string of the Firehose event goes through here, the ~300-byte base64 `data` of each
/// record above all. On x86-64 one pass of SSE2 compares finds the first byte that is any of
/// the three, 32 bytes a step; elsewhere `memchr` finds the quote and [`needs_json_escape`]
/// checks what lies before it (NEON for both on arm64).
#[inline]
pub fn plain_string_len(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        // Two 16-byte blocks a step, one branch for both; the last bytes padded with a byte
        // that is none of the three (copied only there: copying every block took the transform
        // bench from 186.6 M to 200.1 M instructions).
        let mut at = 0;
        loop {
            let last = at + 32 > bytes.len();
            let block: [u8; 32] = if last {
                let mut tail = [b'a'; 32];
                tail[..bytes.len() - at].copy_from_slice(&bytes[at..]);
                tail
            } else {
                bytes[at..at + 32].try_into().unwrap_or([b'"'; 32])
            };
            let half =
                |from: usize| special_mask(block[from..from + 16].try_into().unwrap_or([b'"'; 16]));
            let mask = half(0) | half(16) << 16;
            if mask != 0 {
                let end = at + mask.trailing_zeros() as usize;
                return (bytes[end] == b'"').then_some(end);
            }
            if last {
                return None;
            }
            at += 32;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let end = memchr::memchr(b'"', bytes)?;
        (!needs_json_escape(&bytes[..end])).then_some(end)
    }
}

/// The bytes of `block` that are `"`, `\\` or a control character, one bit each (bit i for
/// byte i).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_mask(block: [u8; 16]) -> u32 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let lanes = load_unaligned_m128i(&block);
    let quote = cmp_eq_mask_i8_m128i(lanes, set_splat_i8_m128i(b'"' as i8));
    let backslash = cmp_eq_mask_i8_m128i(lanes, set_splat_i8_m128i(b'\\' as i8));
    // min(b, 0x1f) == b exactly when b < 0x20, unsigned.
    let control = cmp_eq_mask_i8_m128i(min_u8_m128i(lanes, set_splat_i8_m128i(0x1f)), lanes);
    move_mask_i8_m128i(bitor_m128i(bitor_m128i(quote, backslash), control)).cast_unsigned()
}

/// Whether a JSON string holding `bytes` needs any escape (`"`, `\\`, a control character).
/// Exact. Runs on every string of the event, every record's line and every string of every
/// row, so it reads 32-byte blocks the compiler turns into SIMD compares (SSE2, NEON), the last
/// block overlapping the one before, and ORs their results lane by lane, reducing them once at
/// the end (about 0.5 instructions a byte under callgrind) rather than branching per block;
/// shorter text is read as two overlapping blocks of 16 or 8 bytes.
#[inline]
pub fn needs_json_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 32 {
        // No early exit: one OR per block into 32 lanes, reduced once at the end.
        let mut any = [0u8; 32];
        let mut blocks = bytes.chunks_exact(32);
        for block in blocks.by_ref() {
            or_escape_bits(&mut any, block);
        }
        if !blocks.remainder().is_empty() {
            or_escape_bits(&mut any, &bytes[n - 32..]);
        }
        return any.iter().fold(0, |a, &b| a | b) != 0;
    }
    if n >= 16 {
        return block_needs_escape::<16>(&bytes[..16]) | block_needs_escape::<16>(&bytes[n - 16..]);
    }
    if n >= 8 {
        let word = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        return word_needs_escape(word(0)) | word_needs_escape(word(n - 8));
    }
    bytes.iter().any(|&b| escape_bit(b) != 0)
}

/// [`needs_json_escape`] of exactly `N` bytes, without early exit, so that it vectorizes.
#[inline]
fn block_needs_escape<const N: usize>(block: &[u8]) -> bool {
    let block: &[u8; N] = block.try_into().unwrap_or(&[0; N]);
    block.iter().fold(0u8, |any, &b| any | escape_bit(b)) != 0
}

/// ORs the [`escape_bit`]s of a 32-byte block into `any`, lane by lane.
#[inline]
fn or_escape_bits(any: &mut [u8; 32], block: &[u8]) {
    let block: &[u8; 32] = block.try_into().unwrap_or(&[0; 32]);
    for (a, &b) in any.iter_mut().zip(block) {
        *a |= escape_bit(b);
    }
}

/// 1 if a JSON string must escape `b`, else 0: no branches, so that blocks vectorize.
#[inline]
fn escape_bit(b: u8) -> u8 {
    u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
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
        let event = FirehoseEvent::from_json(text.as_bytes()).unwrap();
        assert_eq!(event.invocation_id.as_deref(), Some("invocationIdExample"));
        assert_eq!(event.region.as_deref(), Some("us-east-1"));
        assert_eq!(event.records.len(), 3);
        let first = &event.records[0];
        assert_eq!(
            first.record_id,
            "49546986683135544286507457936321625675700192471156785154"
        );
        assert!(
            matches!(first.data, Cow::Borrowed(_)),
            "no copy of the data"
        );
        let mut buf = b"stale".to_vec();
        first.decode_into(&mut buf).unwrap();
        assert_eq!(buf, b"Hello World");
        event.records[1].decode_into(&mut buf).unwrap();
        assert_eq!(buf, b"hi?");
        let reason = event.records[2].decode_into(&mut buf).unwrap_err();
        assert!(
            reason.starts_with("data is not standard base64"),
            "{reason}"
        );
    }

    #[test]
    fn refuses_events_that_are_not_firehose_events() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"invocationId":"x"}"#, "missing field `records`"),
            (
                br#"{"records":[{"data":"aGk="}]}"#,
                "missing field `recordId`",
            ),
            (
                br#"{"records":[{"recordId":"1","data":5}]}"#,
                "invalid type: integer `5`",
            ),
            (
                b"{\"records\":[{\"recordId\":\"\xff\"}]}",
                "event is not UTF-8",
            ),
        ];
        for (text, needle) in cases {
            let e = FirehoseEvent::from_json(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn response_is_what_aws_lambda_events_reads() {
        let mut w = ResponseWriter::with_capacity(0);
        w.push("a\"1", Outcome::Ok, b"{\"x\":1}\n", Some("2024-05-01-13"));
        // Ids that need escaping, in records with data and without.
        w.push("b\\", Outcome::Dropped, b"", None);
        w.push("c", Outcome::ProcessingFailed, b"", None);
        w.push("d", Outcome::Ok, b"", None);
        assert_eq!(w.records(), 4);
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
                (Some("b\\"), Some("Dropped")),
                (Some("c"), Some("ProcessingFailed")),
                (Some("d"), Some("Ok"))
            ]
        );
        assert!(parsed.records[1..].iter().all(|r| r.data.0.is_empty()));
        assert_eq!(parsed.records[0].data.0, b"{\"x\":1}\n");
        assert_eq!(
            parsed.records[0].metadata.partition_keys["dt"],
            "2024-05-01-13"
        );
        assert!(parsed.records[1].metadata.partition_keys.is_empty());
    }

    #[test]
    fn partition_member_names_the_partition_column() {
        assert_eq!(
            PARTITION_MEMBER,
            format!("{}:", serde_json::to_string(PARTITION_COLUMN).unwrap())
        );
    }

    #[test]
    fn serializes_verbatim_through_serde_json() {
        let mut w = ResponseWriter::with_capacity(0);
        w.push(
            "1",
            Outcome::Ok,
            b"{\"x\":\"\\/\"}\n",
            Some("2024-05-01-13"),
        );
        w.push("2", Outcome::Dropped, b"", None);
        let response = w.finish();
        // What the Lambda runtime does with the handler's response.
        assert_eq!(serde_json::to_vec(&response).unwrap(), response.as_bytes());
        assert_eq!(
            serde_json::to_string_pretty(&response).unwrap().as_bytes(),
            response.as_bytes()
        );
        // Inside another document, and into a Value: the same JSON, not a wrapper struct.
        let nested = serde_json::to_value(json!({ "inner": &response })).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(response.as_bytes()).unwrap();
        assert_eq!(nested["inner"], expected);
        assert_eq!(nested["inner"]["records"][1]["result"], "Dropped");
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

    #[test]
    fn plain_strings_end_at_the_first_quote_and_no_sooner() {
        // Every length past two 32-byte steps (full steps and the padded last one), every
        // position, every byte value: the string ends at a quote when nothing special comes
        // before it.
        for len in 0..=70 {
            let clean = vec![b'a'; len];
            assert_eq!(plain_string_len(&clean), None, "no quote in {len}");
            let mut closed = clean.clone();
            closed.push(b'"');
            assert_eq!(plain_string_len(&closed), Some(len), "quote after {len}");
            for at in 0..len {
                for b in 0..=u8::MAX {
                    let mut text = closed.clone();
                    text[at] = b;
                    let expected = match b {
                        b'"' => Some(at),
                        b'\\' | 0..0x20 => None,
                        _ => Some(len),
                    };
                    assert_eq!(plain_string_len(&text), expected, "{b:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn text_that_needs_escaping_is_found_at_every_length_and_position() {
        // Every length up to past two 32-byte blocks: each path (bytes, words, 16- and
        // 32-byte blocks, overlapping tails), every position, every byte value.
        for len in 0..=70 {
            let clean = vec![b'a'; len];
            assert!(!needs_json_escape(&clean), "clean text of {len}");
            for at in 0..len {
                for b in 0..=u8::MAX {
                    let mut text = clean.clone();
                    text[at] = b;
                    let needs = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_json_escape(&text), needs, "{b:#x} at {at} of {len}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn utf8_agrees_with_the_standard_library(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            text in any::<String>(),
        ) {
            prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes));
            prop_assert_eq!(utf8(text.as_bytes()), Ok(text.as_str()));
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
            let text = event.to_string();
            let ours = FirehoseEvent::from_json(text.as_bytes()).unwrap();
            let theirs: KinesisFirehoseEvent = serde_json::from_value(event).unwrap();
            let mut w = ResponseWriter::with_capacity(0);
            let mut buf = Vec::new();
            for (a, b) in ours.records.iter().zip(&theirs.records) {
                prop_assert_eq!(Some(a.record_id.as_ref()), b.record_id.as_deref());
                a.decode_into(&mut buf).unwrap();
                prop_assert_eq!(&buf, &b.data.0);
                w.push(&a.record_id, Outcome::Ok, &buf, Some("dt"));
            }
            // Through serde_json, as the Lambda runtime sends it.
            let sent = serde_json::to_vec(&w.finish()).unwrap();
            let back: KinesisFirehoseResponse = serde_json::from_slice(&sent).unwrap();
            let data: Vec<Vec<u8>> = back.records.into_iter().map(|r| r.data.0).collect();
            prop_assert_eq!(data, payloads);
        }
    }
}

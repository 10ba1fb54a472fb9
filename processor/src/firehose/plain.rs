//! The event JSON in the shape Firehose sends it, read without a general JSON parser: an object
//! whose strings have nothing to unescape, with a `records` array of `{recordId, data, …}`
//! objects. serde_json spent a quarter of the transform's instructions on it, most of them
//! finding where each 300-byte base64 string ends; here one vectorized pass finds the closing
//! quote and checks what lies before it ([`super::plain_string_len`]), and the member names
//! Firehose sends are compared in place.
//!
//! It owns no meaning of its own: [`read`] either returns exactly the [`FirehoseEvent`] serde_json
//! would, or `None`, and the caller asks serde_json, which also writes every error message. It
//! says `None` to anything it does not need to understand: an escape or control character in any
//! string, `null` for an optional field, a field given twice or missing, a struct written as an
//! array, nesting deeper than [`MAX_DEPTH`]. The proptests hold it to serde_json's answers.

use std::borrow::Cow;

use super::{FirehoseEvent, FirehoseRecord, non_digits, plain_string_len};

/// Nesting of ignored values beyond this is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 32;

/// The event serde_json reads from `text`, if `text` has the plain shape; `None` otherwise.
pub(super) fn read(text: &str) -> Option<FirehoseEvent<'_>> {
    let mut r = Reader { text, at: 0 };
    let mut event = FirehoseEvent::default();
    let mut records = None;
    r.expect(b'{')?;
    // `{}` lacks `records`: serde_json's error.
    loop {
        match r.name()? {
            Name::InvocationId => set(&mut event.invocation_id, r.value_str()?)?,
            Name::DeliveryStreamArn => set(&mut event.delivery_stream_arn, r.value_str()?)?,
            Name::Region => set(&mut event.region, r.value_str()?)?,
            Name::Records => {
                r.expect(b':')?;
                set(&mut records, r.records()?)?;
            }
            _ => {
                r.expect(b':')?;
                r.skip_value(MAX_DEPTH)?;
            }
        }
        if !r.next_member(b'}')? {
            break;
        }
    }
    r.skip_whitespace();
    if r.at != text.len() {
        return None;
    }
    event.records = records?;
    Some(event)
}

/// Sets a field seen for the first time; a second sighting is serde's "duplicate field" error.
fn set<T>(field: &mut Option<T>, value: T) -> Option<()> {
    field.is_none().then(|| *field = Some(value))
}

/// The member names a field takes, and every other.
#[derive(Clone, Copy)]
enum Name {
    RecordId,
    Data,
    InvocationId,
    DeliveryStreamArn,
    Region,
    Records,
    Other,
}

/// The names [`Reader::name`] matches whole, closing quote included, most frequent first.
/// `approximateArrivalTimestamp` is in every record Firehose sends; no field takes it.
const NAMES: [(&str, Name); 7] = [
    ("recordId\"", Name::RecordId),
    ("approximateArrivalTimestamp\"", Name::Other),
    ("data\"", Name::Data),
    ("invocationId\"", Name::InvocationId),
    ("deliveryStreamArn\"", Name::DeliveryStreamArn),
    ("region\"", Name::Region),
    ("records\"", Name::Records),
];

/// A position in the event text, moving forward only.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a member or element: `true` on `,` (another follows), `false` on `close`.
    fn next_member(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        self.at += 1;
        match next {
            b',' => Some(true),
            b if b == close => Some(false),
            _ => None,
        }
    }

    /// A member's name: one of [`NAMES`] compared in place (most names are short, where finding
    /// the closing quote costs more than the comparison), else any plain string.
    fn name(&mut self) -> Option<Name> {
        self.expect(b'"')?;
        let rest = self.bytes().get(self.at..)?;
        for (quoted, name) in NAMES {
            if rest.starts_with(quoted.as_bytes()) {
                self.at += quoted.len();
                return Some(name);
            }
        }
        self.at -= 1;
        self.string().map(|_| Name::Other)
    }

    /// A string with nothing to unescape, borrowed from the text.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + plain_string_len(self.bytes().get(start..)?)?;
        self.at = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    /// `: "<plain string>"`, borrowed.
    fn value_str(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b':')?;
        self.string().map(Cow::Borrowed)
    }

    /// `[ {record}, … ]`.
    fn records(&mut self) -> Option<Vec<FirehoseRecord<'a>>> {
        self.expect(b'[')?;
        // A record Firehose sends takes over 100 bytes of text (a 56-digit recordId, a
        // timestamp, the data); room for one per 64 bytes avoids regrowing (and copying) the
        // vector as it fills.
        let mut records = Vec::with_capacity(self.text.len().saturating_sub(self.at) / 64);
        if self.peek()? == b']' {
            self.at += 1;
            return Some(records);
        }
        loop {
            records.push(self.record()?);
            if !self.next_member(b']')? {
                return Some(records);
            }
        }
    }

    /// `{ "recordId": "…", "data": "…", … }`, other members skipped.
    fn record(&mut self) -> Option<FirehoseRecord<'a>> {
        self.expect(b'{')?;
        let (mut record_id, mut data) = (None, None);
        // `{}` lacks both fields: serde_json's error.
        loop {
            match self.name()? {
                Name::RecordId => set(&mut record_id, self.value_str()?)?,
                Name::Data => set(&mut data, self.value_str()?)?,
                _ => {
                    self.expect(b':')?;
                    self.skip_value(MAX_DEPTH)?;
                }
            }
            if !self.next_member(b'}')? {
                break;
            }
        }
        Some(FirehoseRecord {
            record_id: record_id?,
            data: data?,
        })
    }

    /// Steps over one JSON value that no field takes, checking it as serde_json would.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let depth = depth.checked_sub(1)?;
                self.at += 1;
                if self.peek()? == close {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    if close == b'}' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value(depth)?;
                    if !self.next_member(close)? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes()
            .get(self.at..)?
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.bytes().get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Consumes `byte` if it is next (no whitespace skipped).
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.bytes().get(self.at) == Some(&byte);
        self.at += usize::from(next);
        next
    }

    /// Consumes ASCII digits; how many. Eight at a time while eight bytes are left: every
    /// record's `approximateArrivalTimestamp` has 13.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(chunk) = self.bytes().get(self.at..self.at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let others = non_digits(word);
            if others != 0 {
                self.at += (others.trailing_zeros() / 8) as usize;
                return self.at - start;
            }
            self.at += 8;
        }
        while self.bytes().get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// serde_json's answer, the reference.
    fn serde(text: &str) -> Option<FirehoseEvent<'_>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn non_digits_flags_exactly_the_other_bytes() {
        crate::fixtures::assert_word_mask(non_digits, b'7', |b| !b.is_ascii_digit());
    }

    #[test]
    fn reads_what_firehose_sends() {
        let text = r#"{"invocationId":"inv-1","deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/x","region":"us-east-1","records":[{"recordId":"4954","approximateArrivalTimestamp":1495072949453,"data":"SGVsbG8="},{"recordId":"2","approximateArrivalTimestamp":1.5e3,"kinesisRecordMetadata":{"shardId":"s","sequenceNumber":"1","subsequenceNumber":0,"partitionKey":"k","approximateArrivalTimestamp":-1,"x":[true,false,null,[],{}]},"data":""}]}"#;
        let event = read(text).expect("plain shape");
        assert_eq!(Some(&event), serde(text).as_ref());
        assert_eq!(event.region.as_deref(), Some("us-east-1"));
        assert_eq!(event.records.len(), 2);
        assert_eq!(event.records[0].record_id, "4954");
        assert_eq!(event.records[0].data, "SGVsbG8=");
        assert!(matches!(event.records[1].data, Cow::Borrowed("")));
        // Whitespace everywhere JSON allows it, and an empty event.
        let spaced =
            " {\n\t\"records\" : [ { \"data\" : \"eA==\" , \"recordId\" : \"1\" } ] } \r\n";
        assert_eq!(read(spaced), serde(spaced));
        assert_eq!(read(spaced).expect("plain").records[0].data, "eA==");
        assert_eq!(read(r#"{"records":[]}"#), serde(r#"{"records":[]}"#));
    }

    #[test]
    fn leaves_everything_else_to_serde_json() {
        // Each is either valid JSON serde_json reads differently or needs to unescape, or an
        // error serde_json must word.
        let cases = [
            r#"{"records":[{"recordId":"1","data":"aGk\/"}]}"#,
            r#"{"records":[{"recordId":"\u0031","data":""}]}"#,
            r#"{"region":null,"records":[]}"#,
            r#"["inv","arn","region",[]]"#,
            r#"{"records":[["1","eA=="]]}"#,
            r#"{"records":[],"records":[]}"#,
            r#"{"records":[{"recordId":"1","recordId":"2","data":""}]}"#,
            r#"{"records":[{"recordId":"1"}]}"#,
            r#"{"records":[{}]}"#,
            r#"{"invocationId":"x"}"#,
            "{}",
            r#"{"records":[],}"#,
            r#"{"records":[{"recordId":"1","data":""},]}"#,
            r#"{"records":[]} x"#,
            r#"{"records":[],"n":01}"#,
            r#"{"records":[],"n":1.}"#,
            r#"{"records":[],"n":1e}"#,
            r#"{"records":[],"n":-}"#,
            r#"{"records":[],"n":tru}"#,
            "{\"records\":[{\"recordId\":\"1\",\"data\":\"a\tb\"}]}",
            r#"{"records":[{"recordId":"1","data":5}]}"#,
            r#"{"records":[{"recordId":"1","data":"x"}"#,
        ];
        for text in cases {
            assert_eq!(read(text), None, "{text}");
        }
        let deep = format!(
            r#"{{"records":[],"x":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(read(&deep), None);
        assert!(serde(&deep).is_some(), "serde_json reads it instead");
    }

    /// JSON text built from pieces an event may hold, mostly valid: the fields the reader
    /// takes, in any order, ignored members of every kind and whitespace; and now and then an
    /// escape, a bad number, a field missing, given twice or of the wrong type.
    fn event_text() -> impl Strategy<Value = String> {
        fn member(key: &str, value: &str, ws: &str) -> String {
            format!("{ws}\"{key}\"{ws}:{ws}{value}{ws}")
        }
        fn object(members: Vec<String>) -> BoxedStrategy<String> {
            Just(members)
                .prop_shuffle()
                .prop_map(|members| format!("{{{}}}", members.join(",")))
                .boxed()
        }
        let ws = || prop::sample::select(vec!["", "", "", " ", "\n ", "\t", "\r\n"]);
        let string = prop_oneof![
            8 => prop::sample::select(vec![
                r#""""#,
                r#""SGVsbG8=""#,
                r#""49546986683135544286507457936321625675700192471156785154""#,
                r#""é""#,
            ]),
            1 => prop::sample::select(vec![r#""a\/b""#, r#""\u00e9""#, "\"tab\there\""]),
        ];
        let scalar = prop_oneof![
            8 => prop::sample::select(vec![
                "0", "-1", "1495072949453", "1.5", "2e9", "-0.5E-3", "true", "false", "null",
                "[]", "{}", r#"[1,{"a":[null,"x"]}]"#, "12345678901234567890",
                "-98765432.123456789E+12345678",
            ]),
            1 => prop::sample::select(vec![
                "01", "1.", "1e", "-", "nul", r#"{"a":1,}"#, "[1,]", "12345678.", "123456789e+",
                "012345678",
            ]),
        ];
        let value = prop_oneof![string.clone(), scalar.clone()];
        let extras = prop::collection::vec(
            (
                prop::sample::select(vec![
                    "approximateArrivalTimestamp",
                    "kinesisRecordMetadata",
                    "x",
                ]),
                value.clone(),
                ws(),
            ),
            0..3,
        )
        .prop_map(|extras| {
            extras
                .into_iter()
                .map(|(k, v, w)| member(k, v, w))
                .collect::<Vec<_>>()
        });
        // 0: recordId missing, 1: data twice, 2: data not a string, else well formed.
        let record = (
            string.clone(),
            string.clone(),
            scalar,
            extras.clone(),
            0..12u8,
            ws(),
        )
            .prop_flat_map(|(id, data, other, mut members, flaw, w)| {
                if flaw != 0 {
                    members.push(member("recordId", id, w));
                }
                members.push(member("data", if flaw == 2 { other } else { data }, w));
                if flaw == 1 {
                    members.push(member("data", data, w));
                }
                object(members)
            });
        let records = (prop::collection::vec(record, 0..4), ws())
            .prop_map(|(records, w)| format!("[{w}{}{w}]", records.join(",")));
        let optional = || prop_oneof![4 => string.clone(), 1 => Just("null")];
        // 0: records missing, 1: records twice, else well formed.
        (records, optional(), optional(), extras, 0..12u8, ws()).prop_flat_map(
            |(records, invocation, region, mut members, flaw, w)| {
                members.push(member("invocationId", invocation, w));
                members.push(member("region", region, w));
                if flaw != 0 {
                    members.push(member("records", &records, w));
                }
                if flaw == 1 {
                    members.push(member("records", "[]", w));
                }
                object(members).prop_map(move |o| format!("{w}{o}{w}"))
            },
        )
    }

    #[test]
    fn the_generator_reaches_every_answer() {
        // The agreement proptest proves little unless the reader both answers and declines,
        // and serde_json both reads and refuses, often.
        use proptest::strategy::ValueTree as _;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = event_text();
        let mut counts = [[0; 2]; 2];
        for _ in 0..2_000 {
            let text = strategy.new_tree(&mut runner).expect("value").current();
            counts[usize::from(read(&text).is_some())][usize::from(serde(&text).is_some())] += 1;
        }
        let [[neither, only_serde], [read_only, both]] = counts;
        assert_eq!(read_only, 0, "read answered where serde_json refused");
        for (what, n) in [
            ("neither", neither),
            ("serde only", only_serde),
            ("both", both),
        ] {
            assert!(n >= 100, "{what}: {n} of 2,000 ({counts:?})");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn agrees_with_serde_json_whenever_it_answers(text in event_text()) {
            if let Some(event) = read(&text) {
                prop_assert_eq!(Some(event), serde(&text));
            }
        }

        #[test]
        fn reads_every_event_serde_json_reads_without_unescaping(
            records in prop::collection::vec(("[0-9]{1,56}", "[A-Za-z0-9+/=]{0,400}", any::<Option<u64>>()), 0..20),
            invocation in proptest::option::of("[a-z0-9-]{0,36}"),
        ) {
            let mut event = serde_json::Map::new();
            if let Some(id) = invocation {
                event.insert("invocationId".into(), id.into());
            }
            event.insert("records".into(), records.iter().map(|(id, data, at)| {
                let mut record = serde_json::json!({"recordId": id, "data": data});
                if let Some(at) = at {
                    record["approximateArrivalTimestamp"] = (*at).into();
                }
                record
            }).collect());
            let text = serde_json::Value::Object(event).to_string();
            prop_assert_eq!(read(&text), serde(&text));
            prop_assert!(read(&text).is_some());
        }

        #[test]
        fn never_panics_and_never_disagrees_on_mangled_events(
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let text = r#"{"invocationId":"i","records":[{"recordId":"1","approximateArrivalTimestamp":12,"data":"SGk="},{"recordId":"2","data":""}]}"#;
            let mut bytes = text.as_bytes().to_vec();
            bytes[at.index(text.len())] = byte;
            bytes.truncate(cut.index(text.len() + 1).max(1));
            if let Ok(text) = std::str::from_utf8(&bytes)
                && let Some(event) = read(text)
            {
                prop_assert_eq!(Some(event), serde(text));
            }
        }
    }
}

//! Firehose record framing: the flow-log lines inside one decoded Firehose record.
//!
//! VPC Flow Logs deliver one line per record wrapped as `{"message":"<line>"}` (aws-facts §4.1);
//! this module also accepts raw text and several lines or several objects in one record, because
//! nothing in the API forbids them. It owns the framing only: lines are read by
//! [`FlowFormat::parse_line`](super::FlowFormat::parse_line). A record is read whole or refused
//! whole, so the transform can mark it `ProcessingFailed` without having used part of it.

use std::borrow::Cow;

use serde::Deserialize;
use thiserror::Error;

/// Why a Firehose record holds no readable flow-log line.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The payload is not UTF-8.
    #[error("record is not UTF-8 text: {source}")]
    NotUtf8 {
        /// Where decoding stopped.
        #[from]
        source: std::str::Utf8Error,
    },
    /// The payload starts like JSON but is not a sequence of `{"message": "<text>"}` objects.
    #[error(
        "JSON object {object} of the record is not {{\"message\": \"<flow-log line>\"}}: {source}"
    )]
    Json {
        /// 1-based index of the offending object in the record.
        object: usize,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// Only whitespace, empty messages or nothing at all.
    #[error("record holds no flow-log line")]
    Empty,
}

/// The wrapper VPC Flow Logs put around each line. Other keys are ignored.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// Iterator over the non-blank lines of one Firehose record, from [`record_lines`]. Lines from
/// raw text and from JSON messages without escapes borrow from the record.
///
/// Items are `Result`s so that callers handle a framing error per line as well as per record
/// (the CLI and the transform both do). This implementation checks the whole record in
/// [`record_lines`], so every item it yields is `Ok`.
#[derive(Debug, Clone)]
pub struct RecordLines<'a> {
    inner: Inner<'a>,
}

#[derive(Debug, Clone)]
enum Inner<'a> {
    One(Option<&'a str>),
    Text(std::str::Split<'a, char>),
    Messages(std::vec::IntoIter<Cow<'a, str>>),
}

/// Splits one decoded Firehose record into its flow-log lines: `{"message":"<line>"}` objects
/// (separated by whitespace or nothing) or raw text, either holding one or several lines
/// separated by `\n` or `\r\n`. Blank lines are skipped; a record with none is [`FrameError::Empty`].
pub fn record_lines(data: &[u8]) -> Result<RecordLines<'_>, FrameError> {
    let text = crate::firehose::utf8(data)?;
    if let Some(message) = plain_message(text) {
        // The common case, read without a JSON parser: it yields what the parser would. The
        // message holds no newline, so it is one line or blank.
        return match non_blank(message) {
            Some(line) => Ok(RecordLines {
                inner: Inner::One(Some(line)),
            }),
            None => Err(FrameError::Empty),
        };
    }
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        if trimmed.is_empty() {
            return Err(FrameError::Empty);
        }
        return Ok(text_lines(text));
    }
    json_lines(text)
}

/// The lines of a record of `{"message": …}` objects, read with the JSON parser.
fn json_lines(text: &str) -> Result<RecordLines<'_>, FrameError> {
    let mut lines = Vec::new();
    let objects = serde_json::Deserializer::from_str(text).into_iter::<Message<'_>>();
    for (index, object) in objects.enumerate() {
        let Message { message } = object.map_err(|source| FrameError::Json {
            object: index + 1,
            source,
        })?;
        push_lines(message, &mut lines);
    }
    if lines.is_empty() {
        return Err(FrameError::Empty);
    }
    Ok(RecordLines {
        inner: Inner::Messages(lines.into_iter()),
    })
}

fn text_lines(text: &str) -> RecordLines<'_> {
    RecordLines {
        inner: Inner::Text(text.split('\n')),
    }
}

/// The text of a record that is exactly one `{"message":"<text>"}` object (JSON whitespace
/// around it allowed) whose string has nothing to unescape: no `"`, `\` or control character.
/// VPC Flow Logs write every record so. Anything else is left to the JSON parser.
fn plain_message(text: &str) -> Option<&str> {
    let json_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    // Nothing to trim, the usual case, is seen from the two ends alone.
    let object = if text.starts_with('{') && text.ends_with('}') {
        text
    } else {
        text.trim_matches(json_space)
    };
    let message = object
        .strip_prefix(r#"{"message":""#)?
        .strip_suffix(r#""}"#)?;
    (!crate::firehose::needs_json_escape(message.as_bytes())).then_some(message)
}

/// Adds the non-blank lines of one message; an unescaped message stays borrowed.
fn push_lines<'a>(message: Cow<'a, str>, lines: &mut Vec<Cow<'a, str>>) {
    match message {
        Cow::Borrowed(text) => {
            lines.extend(text.split('\n').filter_map(non_blank).map(Cow::Borrowed));
        }
        Cow::Owned(text) => {
            if !text.contains('\n') {
                if let Some(line) = non_blank(&text) {
                    if line.len() == text.len() {
                        lines.push(Cow::Owned(text));
                    } else {
                        lines.push(Cow::Owned(line.to_owned()));
                    }
                }
                return;
            }
            lines.extend(
                text.split('\n')
                    .filter_map(non_blank)
                    .map(|line| Cow::Owned(line.to_owned())),
            );
        }
    }
}

/// The line without a trailing `\r`, or `None` when only whitespace is left.
#[inline]
fn non_blank(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim_ascii().is_empty() {
        None
    } else {
        Some(line)
    }
}

impl RecordLines<'_> {
    /// Whether no line holds a byte a JSON string must escape (`"`, `\\`, a control
    /// character): known of a record that is one plain `{"message":"…"}` object, checked by
    /// [`record_lines`], as VPC Flow Logs write every record. Other records' lines may or may not.
    pub fn json_plain(&self) -> bool {
        matches!(self.inner, Inner::One(_))
    }
}

impl<'a> Iterator for RecordLines<'a> {
    type Item = Result<Cow<'a, str>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::One(line) => line.take().map(|line| Ok(Cow::Borrowed(line))),
            Inner::Text(split) => split
                .find_map(non_blank)
                .map(|line| Ok(Cow::Borrowed(line))),
            Inner::Messages(lines) => lines.next().map(Ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 \
                        20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";

    fn lines(data: &[u8]) -> Vec<String> {
        record_lines(data)
            .expect("frames")
            .map(|line| line.expect("line").into_owned())
            .collect()
    }

    #[test]
    fn only_a_plain_message_is_known_plain() {
        let plain = record_lines(br#"{"message":"2 a b"}"#).unwrap();
        assert!(plain.json_plain());
        for data in [
            &br#"{"message":"2 a \"b\""}"#[..],
            br#"{"message":"2 a"} {"message":"2 b"}"#,
            b"2 a b",
        ] {
            assert!(!record_lines(data).unwrap().json_plain(), "{data:?}");
        }
    }

    #[test]
    fn framings_yield_their_lines() {
        let wrapped = format!(r#"{{"message":"{LINE}"}}"#);
        let cases: Vec<(&str, String, Vec<&str>)> = vec![
            ("raw line", LINE.to_owned(), vec![LINE]),
            (
                "raw line, trailing newline",
                format!("{LINE}\n"),
                vec![LINE],
            ),
            (
                "raw lines, CRLF and blanks",
                format!("\n{LINE}\r\n\r\n  \nb c\r\n"),
                vec![LINE, "b c"],
            ),
            ("message", wrapped.clone(), vec![LINE]),
            (
                "message with spaces",
                format!(r#" {{ "message" : "{LINE}" }}"#),
                vec![LINE],
            ),
            (
                "newline-separated messages",
                format!("{wrapped}\n{wrapped}\n"),
                vec![LINE, LINE],
            ),
            (
                "concatenated messages",
                format!("{wrapped}{wrapped}"),
                vec![LINE, LINE],
            ),
            (
                "message holding two lines",
                r#"{"message":"a b\nc d\n"}"#.to_owned(),
                vec!["a b", "c d"],
            ),
            (
                "escaped message",
                r#"{"message":"a\u0020b\r\n\tc"}"#.to_owned(),
                vec!["a b", "\tc"],
            ),
            (
                "extra keys ignored",
                r#"{"id":1,"message":"a b"}"#.to_owned(),
                vec!["a b"],
            ),
        ];
        for (name, data, expected) in cases {
            assert_eq!(lines(data.as_bytes()), expected, "{name}");
        }
    }

    #[test]
    fn unescaped_lines_borrow_from_the_record() {
        let data = format!(r#"{{"message":"{LINE}"}}"#);
        let mut lines = record_lines(data.as_bytes()).expect("frames");
        assert!(matches!(lines.next(), Some(Ok(Cow::Borrowed(LINE)))));
        assert!(lines.next().is_none());
    }

    proptest::proptest! {
        #[test]
        fn plain_messages_read_as_the_json_parser_reads_them(
            message in "[ -~\t\r\n\\\\\"\u{80}-\u{10ffff}]{0,40}",
            before in "[ \t\r\n]{0,2}",
            after in "[ \t\r\n]{0,2}",
        ) {
            let data = format!(r#"{before}{{"message":"{message}"}}{after}"#);
            let fast: Result<Vec<String>, String> = record_lines(data.as_bytes())
                .map(|l| l.map(|l| l.unwrap().into_owned()).collect())
                .map_err(|e| e.to_string());
            let parsed: Result<Vec<String>, String> = json_lines(&data)
                .map(|l| l.map(|l| l.unwrap().into_owned()).collect())
                .map_err(|e| e.to_string());
            proptest::prop_assert_eq!(fast, parsed);
        }
    }

    #[test]
    fn bad_records_say_why() {
        let cases: [(&str, &[u8]); 8] = [
            ("not utf8", b"2 123 \xff\xfe"),
            ("empty", b""),
            ("blank", b" \r\n\n"),
            ("empty message", br#"{"message":""}"#),
            ("no message", br#"{"msg":"a b"}"#),
            ("message not a string", br#"{"message":5}"#),
            ("truncated json", br#"{"message":"a b"}{"message":"#),
            ("json then raw text", b"{\"message\":\"a b\"}\n2 3 4"),
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|(name, data)| {
                let error = record_lines(data).expect_err(name);
                format!("{name}: {error}")
            })
            .collect();
        insta::assert_snapshot!(messages.join("\n"));
    }
}

use std::io::Write as _;
use std::sync::Arc;

use base64::Engine as _;

use super::decode::{Layout, decode};
use super::*;

const HEADER: &str =
    "version account-id interface-id pkt-srcaddr pkt-dstaddr bytes start flow-direction";
const LINE_A: &str = "5 111122223333 eni-1 10.0.1.5 10.0.2.9 1500 1714568400 egress";
const LINE_B: &str = "5 111122223333 eni-1 10.0.1.5 10.0.2.9 300 1714568460 egress";

fn run(layout: Layout, bytes: Vec<u8>, configured: Option<&str>, chunk_lines: usize) -> Vec<Item> {
    let origin: Arc<str> = Arc::from("in/f");
    let configured: Option<Arc<str>> = configured.map(|f| Arc::from(normalize_format(f)));
    let mut items = Vec::new();
    decode(
        &origin,
        layout,
        Box::new(std::io::Cursor::new(bytes)),
        configured.as_ref(),
        chunk_lines,
        &mut |item| {
            items.push(item);
            true
        },
    );
    items
}

/// `(line number, text)` of every delivered line, and the errors, in order.
fn flatten(items: &[Item]) -> (Vec<(u64, String)>, Vec<SourceError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(chunk) => lines.extend(chunk.lines.iter().map(|l| (l.number, l.text.clone()))),
            Err(e) => errors.push(e.clone()),
        }
    }
    (lines, errors)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn headers_are_recognized() {
    let cases = [
        (HEADER, true),
        ("version", true),
        ("account-id interface-id srcaddr", true),
        (LINE_A, false),
        ("eni-1 ACCEPT", false),
        ("", false),
        ("version  account-id", false),
        ("${version} ${account-id}", false),
    ];
    for (line, expected) in cases {
        assert_eq!(is_header(line), expected, "{line:?}");
    }
}

#[test]
fn formats_are_normalized() {
    let cases = [
        ("version bytes", "${version} ${bytes}"),
        ("${version} ${bytes}", "${version} ${bytes}"),
        ("  version   pkt-srcaddr ", "${version} ${pkt-srcaddr}"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_format(input), expected);
    }
}

#[test]
fn layouts_from_names() {
    let cases = [
        ("a/1_vpcflowlogs_x.log.gz", Layout::GzipText),
        ("event.json", Layout::FirehoseEvent),
        ("records.jsonl", Layout::RecordLines),
        ("records.NDJSON", Layout::RecordLines),
        ("flows.log", Layout::Text),
        ("flows", Layout::Text),
    ];
    for (name, expected) in cases {
        assert_eq!(Layout::of_name(name), expected, "{name}");
    }
}

#[test]
fn header_gives_the_format_and_numbers_follow_the_file() {
    let text = format!("{HEADER}\n{LINE_A}\n\n{LINE_B}\r\n");
    let items = run(Layout::Text, text.into_bytes(), Some("version bytes"), 100);
    let (lines, errors) = flatten(&items);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lines, vec![(2, LINE_A.to_owned()), (4, LINE_B.to_owned())]);
    let chunk = items[0].as_ref().unwrap();
    assert_eq!(
        chunk.format.as_deref(),
        Some(normalize_format(HEADER).as_str())
    );
    assert_eq!(chunk.framing, Framing::Line);
    assert_eq!(&*chunk.origin, "in/f");
}

#[test]
fn configured_format_applies_without_header() {
    let text = format!("{LINE_A}\n{LINE_B}\n");
    let items = run(Layout::Text, text.into_bytes(), Some(HEADER), 100);
    let (lines, errors) = flatten(&items);
    assert!(errors.is_empty());
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        items[0].as_ref().unwrap().format.as_deref(),
        Some(normalize_format(HEADER).as_str())
    );
}

#[test]
fn firehose_s3_deliveries_are_read_as_record_payloads() {
    // What Firehose writes to S3 without a transform: the records concatenated, no newline.
    let concatenated = format!("{{\"message\":\"{LINE_A}\"}}{{\"message\":\"{LINE_B}\"}}");
    let items = run(
        Layout::Text,
        concatenated.clone().into_bytes(),
        Some(HEADER),
        100,
    );
    let (lines, errors) = flatten(&items);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lines, [(1, concatenated)]);
    let chunk = items[0].as_ref().unwrap();
    assert_eq!(chunk.framing, Framing::Record);
    assert_eq!(
        chunk.format.as_deref(),
        Some(normalize_format(HEADER).as_str())
    );
    let framed: Vec<String> = crate::flowlog::frame::record_lines(chunk.lines[0].text.as_bytes())
        .unwrap()
        .map(|l| l.unwrap().into_owned())
        .collect();
    assert_eq!(framed, [LINE_A, LINE_B]);

    // Newline-separated records (and gzip-compressed delivery) too, numbered by line.
    let lines_text = format!("{{\"message\":\"{LINE_A}\"}}\n{{\"message\":\"{LINE_B}\"}}\n");
    let items = run(Layout::GzipText, gzip(&lines_text), Some(HEADER), 100);
    let (lines, errors) = flatten(&items);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(items[0].as_ref().unwrap().framing, Framing::Record);
}

#[test]
fn no_header_and_no_format_is_an_error_naming_the_file() {
    let items = run(Layout::Text, format!("{LINE_A}\n").into_bytes(), None, 100);
    let (lines, errors) = flatten(&items);
    assert!(lines.is_empty());
    assert!(matches!(&errors[..], [SourceError::NoFormat { origin, .. }] if origin == "in/f"));
    assert!(
        errors[0]
            .to_string()
            .starts_with("in/f:1: first line is not a header"),
        "{}",
        errors[0]
    );
}

#[test]
fn lines_are_chunked() {
    let text = format!("{HEADER}\n{}", format!("{LINE_A}\n").repeat(5));
    let items = run(Layout::Text, text.into_bytes(), None, 2);
    let sizes: Vec<usize> = items
        .iter()
        .map(|i| i.as_ref().unwrap().lines.len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn gzip_objects_decode() {
    let items = run(
        Layout::GzipText,
        gzip(&format!("{HEADER}\n{LINE_A}\n{LINE_B}\n")),
        None,
        100,
    );
    let (lines, errors) = flatten(&items);
    assert!(errors.is_empty());
    assert_eq!(lines, vec![(2, LINE_A.to_owned()), (3, LINE_B.to_owned())]);
}

#[test]
fn truncated_gzip_keeps_earlier_lines_and_names_the_line() {
    let body = format!("{HEADER}\n{}", format!("{LINE_A}\n").repeat(2000));
    let mut bytes = gzip(&body);
    bytes.truncate(bytes.len() * 2 / 3);
    let items = run(Layout::GzipText, bytes, None, 100);
    let (lines, errors) = flatten(&items);
    assert!(!lines.is_empty() && lines.len() < 2000, "{}", lines.len());
    // Delivered lines are consecutive from line 2, and the error names the next line.
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, (n, t))| *n == i as u64 + 2 && t == LINE_A)
    );
    match &errors[..] {
        [SourceError::Gzip { origin, line, .. }] => {
            assert_eq!(origin, "in/f");
            assert_eq!(*line, lines.len() as u64 + 2);
        }
        other => panic!("expected one gzip error, got {other:?}"),
    }
}

#[test]
fn not_gzip_at_all_is_an_error() {
    let items = run(
        Layout::GzipText,
        format!("{HEADER}\n{LINE_A}\n").into_bytes(),
        None,
        100,
    );
    let (lines, errors) = flatten(&items);
    assert!(lines.is_empty());
    assert!(
        matches!(&errors[..], [SourceError::Gzip { line: 1, .. }]),
        "{errors:?}"
    );
}

#[test]
fn invalid_utf8_line_is_skipped_with_an_error() {
    let mut bytes = format!("{HEADER}\n{LINE_A}\n").into_bytes();
    bytes.extend_from_slice(b"5 \xff\xfe bad\n");
    bytes.extend_from_slice(format!("{LINE_B}\n").as_bytes());
    let (lines, errors) = flatten(&run(Layout::Text, bytes, None, 100));
    assert_eq!(lines, vec![(2, LINE_A.to_owned()), (4, LINE_B.to_owned())]);
    assert_eq!(
        errors,
        vec![SourceError::NotUtf8 {
            origin: "in/f".into(),
            line: 3
        }]
    );
}

#[test]
fn firehose_events_yield_record_payloads() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let event = serde_json::json!({
        "invocationId": "i",
        "records": [
            {"recordId": "r1", "approximateArrivalTimestamp": 1, "data": b64(&format!("{{\"message\":\"{LINE_A}\"}}"))},
            {"recordId": "r2", "approximateArrivalTimestamp": 1, "data": "%%%not-base64"},
            {"recordId": "r3", "approximateArrivalTimestamp": 1, "data": b64(LINE_B)},
        ]
    });
    let items = run(
        Layout::FirehoseEvent,
        event.to_string().into_bytes(),
        Some(HEADER),
        100,
    );
    let (lines, errors) = flatten(&items);
    assert_eq!(
        lines,
        vec![
            (1, format!("{{\"message\":\"{LINE_A}\"}}")),
            (3, LINE_B.to_owned())
        ]
    );
    assert!(
        matches!(&errors[..], [SourceError::FirehoseRecord { record: 2, record_id, .. }] if record_id == "r2"),
        "{errors:?}"
    );
    for item in items.iter().flatten() {
        assert_eq!(item.framing, Framing::Record);
    }
}

#[test]
fn broken_firehose_event_is_an_error() {
    let (lines, errors) = flatten(&run(
        Layout::FirehoseEvent,
        b"{\"records\": [".to_vec(),
        None,
        100,
    ));
    assert!(lines.is_empty());
    assert!(
        matches!(&errors[..], [SourceError::FirehoseEvent { .. }]),
        "{errors:?}"
    );
}

#[test]
fn inputs_parse() {
    assert_eq!(Input::parse("-").unwrap(), Input::Stdin);
    assert_eq!(
        Input::parse("kinesis://flows").unwrap(),
        Input::Kinesis("flows".into())
    );
    assert!(Input::parse("kinesis://").is_err());
    assert_eq!(
        Input::parse("s3://b/p").unwrap(),
        Input::S3(S3Location::parse("s3://b/p").unwrap())
    );
    assert_eq!(
        Input::parse("dir/x.log").unwrap(),
        Input::Path("dir/x.log".into())
    );
}

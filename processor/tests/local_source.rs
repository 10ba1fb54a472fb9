//! Local file and folder inputs: a folder mixing S3 flow-log objects, plain text with and without
//! a header, Firehose event files and broken files is read in parallel; every good line arrives
//! once with its origin, and every broken input is reported by name while the rest still runs.
#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use crossaz::local::source::{self, Framing, Input, SourceError, SourceOptions, normalize_format};

const HEADER_A: &str =
    "version account-id interface-id pkt-srcaddr pkt-dstaddr bytes start flow-direction";
const HEADER_B: &str = "pkt-srcaddr pkt-dstaddr bytes start instance-id";
const CONFIGURED: &str =
    "${version} ${pkt-srcaddr} ${pkt-dstaddr} ${bytes} ${start} ${flow-direction}";

fn line_a(i: usize) -> String {
    format!(
        "5 111122223333 eni-1 10.0.1.{} 10.0.2.9 {} 1714568400 egress",
        i % 250,
        100 + i
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn lines(header: Option<&str>, n: usize, make: impl Fn(usize) -> String) -> String {
    let mut text = header.map(|h| format!("{h}\n")).unwrap_or_default();
    for i in 0..n {
        text.push_str(&make(i));
        text.push('\n');
    }
    text
}

struct Collected {
    /// origin -> (format, framing, line numbers)
    per_origin: BTreeMap<String, (Option<String>, Framing, Vec<u64>)>,
    errors: Vec<SourceError>,
}

fn collect(inputs: &[Input], options: &SourceOptions) -> Collected {
    let mut per_origin: BTreeMap<String, (Option<String>, Framing, Vec<u64>)> = BTreeMap::new();
    let mut errors = Vec::new();
    for item in source::open(inputs, options) {
        match item {
            Ok(chunk) => {
                let entry = per_origin
                    .entry(chunk.origin.to_string())
                    .or_insert_with(|| {
                        (
                            chunk.format.as_deref().map(str::to_owned),
                            chunk.framing,
                            Vec::new(),
                        )
                    });
                assert_eq!(
                    entry.0.as_deref(),
                    chunk.format.as_deref(),
                    "format changed within {}",
                    chunk.origin
                );
                entry.2.extend(chunk.lines.iter().map(|l| l.number));
            }
            Err(e) => errors.push(e),
        }
    }
    Collected { per_origin, errors }
}

fn name(root: &Path, file: &str) -> String {
    root.join(file).display().to_string()
}

#[test]
fn a_folder_of_mixed_inputs() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    // 10 000 lines spread over chunks and threads.
    std::fs::write(
        root.join("a.log.gz"),
        gzip(&lines(Some(HEADER_A), 10_000, line_a)),
    )
    .unwrap();
    // Another format in the same run.
    let line_b = |i: usize| format!("10.0.3.{} 10.0.4.1 {} 1714568400 i-0abc", i % 250, i);
    std::fs::write(root.join("sub/b.log"), lines(Some(HEADER_B), 5, line_b)).unwrap();
    // Plain text without header: takes the configured format.
    std::fs::write(root.join("sub/c.txt"), lines(None, 4, line_a)).unwrap();
    // Truncated gzip: its first lines arrive, then an error naming it.
    let mut truncated = gzip(&lines(Some(HEADER_A), 20_000, line_a));
    truncated.truncate(truncated.len() / 3);
    std::fs::write(root.join("d.log.gz"), truncated).unwrap();
    // "Wrong header": a gzip object whose first line is data, with no format configured below.
    std::fs::write(root.join("e.log.gz"), gzip(&lines(None, 3, line_a))).unwrap();
    // A Firehose event file.
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let event = serde_json::json!({"records": (0..3).map(|i| serde_json::json!({
        "recordId": format!("r{i}"), "approximateArrivalTimestamp": 0,
        "data": b64(format!("{{\"message\":\"{}\"}}", line_a(i)))
    })).collect::<Vec<_>>()});
    std::fs::write(root.join("f.json"), event.to_string()).unwrap();
    // Hidden files (e.g. a writer's temporaries) are skipped.
    std::fs::write(root.join(".g.log.tmp"), "garbage").unwrap();

    let with_format = SourceOptions {
        format: Some(CONFIGURED.to_owned()),
        threads: 3,
        chunk_lines: 512,
        ..SourceOptions::default()
    };
    let got = collect(&[Input::Path(root.to_path_buf())], &with_format);

    let (format, framing, numbers) = &got.per_origin[&name(root, "a.log.gz")];
    assert_eq!(format.as_deref(), Some(normalize_format(HEADER_A).as_str()));
    assert_eq!(*framing, Framing::Line);
    assert_eq!(numbers, &(2..=10_001).collect::<Vec<u64>>());

    let (format, _, numbers) = &got.per_origin[&name(root, "sub/b.log")];
    assert_eq!(format.as_deref(), Some(normalize_format(HEADER_B).as_str()));
    assert_eq!(numbers, &[2, 3, 4, 5, 6]);

    let (format, _, numbers) = &got.per_origin[&name(root, "sub/c.txt")];
    assert_eq!(format.as_deref(), Some(CONFIGURED));
    assert_eq!(numbers, &[1, 2, 3, 4]);

    let (_, _, numbers) = &got.per_origin[&name(root, "d.log.gz")];
    assert!(!numbers.is_empty() && numbers.len() < 20_000);
    assert_eq!(
        numbers,
        &(2..2 + numbers.len() as u64).collect::<Vec<u64>>()
    );

    let (_, framing, numbers) = &got.per_origin[&name(root, "f.json")];
    assert_eq!(*framing, Framing::Record);
    assert_eq!(numbers, &[1, 2, 3]);

    // With --format, e.log.gz's data line 1 is data.
    assert_eq!(got.per_origin[&name(root, "e.log.gz")].2, [1, 2, 3]);
    assert_eq!(got.per_origin.len(), 6, "{:?}", got.per_origin.keys());
    match &got.errors[..] {
        [SourceError::Gzip { origin, line, .. }] => {
            assert_eq!(origin, &name(root, "d.log.gz"));
            let delivered = got.per_origin[&name(root, "d.log.gz")].2.len() as u64;
            assert_eq!(*line, delivered + 2);
        }
        other => panic!("expected one gzip error, got {other:?}"),
    }

    // Without --format: c.txt and e.log.gz are refused by name, everything else still arrives.
    let without = SourceOptions {
        threads: 2,
        ..SourceOptions::default()
    };
    let got = collect(&[Input::Path(root.to_path_buf())], &without);
    let mut refused: Vec<String> = got
        .errors
        .iter()
        .filter_map(|e| match e {
            SourceError::NoFormat { origin, .. } => Some(origin.clone()),
            _ => None,
        })
        .collect();
    refused.sort();
    assert_eq!(refused, [name(root, "e.log.gz"), name(root, "sub/c.txt")]);
    assert_eq!(got.errors.len(), 3, "{:?}", got.errors);
    assert_eq!(got.per_origin[&name(root, "a.log.gz")].2.len(), 10_000);
    // A Firehose event without a configured format still arrives; the format is then unknown.
    assert_eq!(got.per_origin[&name(root, "f.json")].0, None);
}

#[test]
fn missing_paths_are_reported_and_others_still_run() {
    let temp = tempfile::tempdir().unwrap();
    let good = temp.path().join("good.log");
    std::fs::write(&good, lines(Some(HEADER_A), 2, line_a)).unwrap();
    let missing = temp.path().join("missing.log");
    let got = collect(
        &[Input::Path(missing.clone()), Input::Path(good.clone())],
        &SourceOptions::default(),
    );
    assert_eq!(got.per_origin[&good.display().to_string()].2, [2, 3]);
    match &got.errors[..] {
        [SourceError::Open { origin, .. }] => assert_eq!(origin, &missing.display().to_string()),
        other => panic!("{other:?}"),
    }
    assert!(
        got.errors[0]
            .to_string()
            .contains("missing.log: cannot open")
    );
}

#[test]
fn dropping_the_reader_stops_the_threads() {
    let temp = tempfile::tempdir().unwrap();
    for i in 0..8 {
        std::fs::write(
            temp.path().join(format!("{i}.log")),
            lines(Some(HEADER_A), 20_000, line_a),
        )
        .unwrap();
    }
    let options = SourceOptions {
        threads: 2,
        chunk_lines: 100,
        ..SourceOptions::default()
    };
    let mut reader = source::open(&[Input::Path(temp.path().to_path_buf())], &options);
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.lines.len(), 100);
    drop(reader); // must not hang: the bounded channel unblocks the workers
}

//! Kinesis data stream input against a real moto server: all shards, start positions, bounds.
#![cfg(feature = "cli")]

mod local_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use crossaz::local::source::{self, Framing, Input, KinesisOptions, KinesisStart, SourceOptions};
use local_support::{Moto, runtime};

const STREAM: &str = "flows";
const FORMAT: &str = "version pkt-srcaddr pkt-dstaddr bytes start flow-direction";

fn payload(i: u32) -> String {
    format!(
        "{{\"message\":\"5 10.0.1.{i} 10.0.2.1 {} 1714568400 egress\"}}",
        100 + i
    )
}

fn read(options: &SourceOptions) -> (Vec<String>, BTreeSet<String>, usize) {
    let mut texts = Vec::new();
    let mut origins = BTreeSet::new();
    let mut errors = 0;
    for item in source::open(
        &[Input::parse(&format!("kinesis://{STREAM}")).unwrap()],
        options,
    ) {
        match item {
            Ok(chunk) => {
                assert_eq!(chunk.framing, Framing::Record);
                assert_eq!(
                    chunk.format.as_deref(),
                    Some(source::normalize_format(FORMAT).as_str())
                );
                origins.insert(chunk.origin.to_string());
                texts.extend(chunk.lines.into_iter().map(|l| l.text));
            }
            Err(e) => {
                eprintln!("{e}");
                errors += 1;
            }
        }
    }
    (texts, origins, errors)
}

#[test]
fn kinesis_stream_is_read_from_every_shard_within_bounds() {
    let moto = Moto::start();
    let rt = runtime();
    let aws = moto.aws();
    let client = rt.block_on(async { aws_sdk_kinesis::Client::new(&aws.sdk_config().await) });
    rt.block_on(
        client
            .create_stream()
            .stream_name(STREAM)
            .shard_count(2)
            .send(),
    )
    .unwrap();

    let put = |range: std::ops::Range<u32>| {
        for i in range {
            rt.block_on(
                client
                    .put_record()
                    .stream_name(STREAM)
                    .partition_key(format!("key-{i}"))
                    .data(Blob::new(payload(i)))
                    .send(),
            )
            .unwrap();
        }
    };
    put(0..40);
    let base = SourceOptions {
        format: Some(FORMAT.to_owned()),
        aws: aws.clone(),
        ..SourceOptions::default()
    };

    // From the oldest record, once to the end: all 40, from both shards, nothing else.
    let options = SourceOptions {
        kinesis: KinesisOptions {
            start: KinesisStart::TrimHorizon,
            ..KinesisOptions::default()
        },
        ..base.clone()
    };
    let (texts, origins, errors) = read(&options);
    assert_eq!(errors, 0);
    let want: BTreeSet<String> = (0..40).map(payload).collect();
    assert_eq!(texts.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(texts.len(), 40);
    assert_eq!(origins.len(), 2, "{origins:?}");
    assert!(
        origins
            .iter()
            .all(|o| o.starts_with("kinesis://flows/shardId-"))
    );

    // Bounded by a record count.
    let options = SourceOptions {
        kinesis: KinesisOptions {
            start: KinesisStart::TrimHorizon,
            max_records: Some(7),
            ..KinesisOptions::default()
        },
        ..base.clone()
    };
    assert_eq!(read(&options).0.len(), 7);

    // From a timestamp after the first batch: only the later records.
    std::thread::sleep(Duration::from_millis(1100));
    let cut = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(1100));
    put(40..45);
    let options = SourceOptions {
        kinesis: KinesisOptions {
            start: KinesisStart::AtTimestamp(cut),
            ..KinesisOptions::default()
        },
        ..base.clone()
    };
    let (texts, _, _) = read(&options);
    assert_eq!(
        texts.into_iter().collect::<BTreeSet<_>>(),
        (40..45).map(payload).collect()
    );

    // Follow mode from latest: records put while following arrive; idle timeout ends it.
    let options = SourceOptions {
        kinesis: KinesisOptions {
            start: KinesisStart::Latest,
            follow: true,
            idle_timeout: Duration::from_secs(2),
            max_records: None,
        },
        ..base
    };
    let started = Instant::now();
    let reader = std::thread::spawn(move || read(&options));
    std::thread::sleep(Duration::from_millis(1500));
    put(100..103);
    let (texts, _, errors) = reader.join().unwrap();
    assert_eq!(errors, 0);
    assert_eq!(
        texts.into_iter().collect::<BTreeSet<_>>(),
        (100..103).map(payload).collect()
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[test]
fn missing_stream_is_a_clear_error() {
    let moto = Moto::start();
    let options = SourceOptions {
        aws: moto.aws(),
        ..SourceOptions::default()
    };
    let items: Vec<_> =
        source::open(&[Input::parse("kinesis://nope").unwrap()], &options).collect();
    assert_eq!(items.len(), 1);
    let message = items[0].as_ref().unwrap_err().to_string();
    assert!(
        message.starts_with("nope: Kinesis ListShards:"),
        "{message}"
    );
}

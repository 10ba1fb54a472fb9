//! Any bytes as a Firehose event: `FirehoseEvent::from_json` reads it or refuses it, never
//! panics, and answers exactly as serde_json alone would (its fast reader of the plain shape
//! must never change an answer); every record's data decodes or says why; every line of a
//! decoded record goes through `parse_line` without panicking.
#![no_main]

use crossaz::firehose::FirehoseEvent;
use crossaz::flowlog::{FlowFormat, RECOMMENDED_FORMAT, record_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = FlowFormat::parse(RECOMMENDED_FORMAT) else {
        return;
    };
    let reference = std::str::from_utf8(data)
        .ok()
        .and_then(|text| serde_json::from_str::<FirehoseEvent>(text).ok());
    let Ok(event) = FirehoseEvent::from_json(data) else {
        assert!(reference.is_none(), "refused what serde_json reads");
        return;
    };
    assert_eq!(Some(&event), reference.as_ref(), "read differently from serde_json");
    let mut buf = Vec::new();
    for record in &event.records {
        if record.decode_into(&mut buf).is_err() {
            continue;
        }
        let Ok(lines) = record_lines(&buf) else { continue };
        for line in lines.flatten() {
            let _ = format.parse_line(&line);
        }
    }
});

//! Any bytes as a Firehose event: `FirehoseEvent::from_json` reads it or refuses it, never
//! panics; every record's data decodes or says why; every line of a decoded record goes through
//! `parse_line` without panicking.
#![no_main]

use crossaz::firehose::FirehoseEvent;
use crossaz::flowlog::{FlowFormat, RECOMMENDED_FORMAT, record_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = FlowFormat::parse(RECOMMENDED_FORMAT) else {
        return;
    };
    let Ok(event) = FirehoseEvent::from_json(data) else {
        return;
    };
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

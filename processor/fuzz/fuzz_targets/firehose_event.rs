//! Any bytes as a Firehose event: `FirehoseEvent::from_json` reads it or refuses it, never
//! panics; every record's data decodes or says why; every line of a decoded record is split and
//! read in stages without panicking, and reading it whole agrees with `parse_line`.
#![no_main]

use crossaz::firehose::FirehoseEvent;
use crossaz::flowlog::{
    FieldSet, FlowFormat, FlowRecord, MAX_SPLIT_VALUES, RECOMMENDED_FORMAT, record_lines,
};
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
        let Ok(lines) = record_lines(&buf) else {
            continue;
        };
        for line in lines.flatten() {
            let mut spans = [(0, 0); MAX_SPLIT_VALUES];
            let split = format.split_line(&line, &mut spans);
            let whole = split.and_then(|split| {
                let mut record = FlowRecord::default();
                split
                    .expect("narrow format")
                    .read(&mut record, FieldSet::ALL)
                    .map(|()| record)
            });
            assert_eq!(whole.is_ok(), format.parse_line(&line).is_ok(), "{line:?}");
        }
    }
});

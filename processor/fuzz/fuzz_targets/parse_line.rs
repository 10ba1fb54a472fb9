//! Any string against the recommended format and against a format with unknown fields:
//! `parse_line` returns a record or an error, never panics.
#![no_main]

use crossaz::flowlog::{FlowFormat, RECOMMENDED_FORMAT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    let Ok(recommended) = FlowFormat::parse(RECOMMENDED_FORMAT) else {
        return;
    };
    if let Ok(record) = recommended.parse_line(line) {
        // A record that parsed renders back to a line that parses to the same record.
        let mut rendered = String::new();
        recommended.render_line(&record, &mut rendered);
        assert_eq!(recommended.parse_line(&rendered).as_ref(), Ok(&record));
    }
    if let Ok(mixed) = FlowFormat::from_header("version resource-id bytes pkt-srcaddr x-new") {
        let _ = mixed.parse_line(line);
    }
    // The line read as a format string or a header must not panic either.
    let _ = FlowFormat::parse(line);
    let _ = FlowFormat::from_header(line);
});

//! Any bytes as a Firehose record: `record_lines` frames them or refuses them, never panics, and
//! every line it yields goes through `parse_line` without panicking.
#![no_main]

use crossaz::flowlog::{FlowFormat, RECOMMENDED_FORMAT, record_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = FlowFormat::parse(RECOMMENDED_FORMAT) else {
        return;
    };
    if let Ok(lines) = record_lines(data) {
        for line in lines {
            let Ok(line) = line else { continue };
            // Blank means ASCII whitespace only, as for `split_ascii_whitespace`.
            assert!(!line.trim_ascii().is_empty(), "blank line yielded");
            let _ = format.parse_line(&line);
        }
    }
});

//! Turning one input's bytes into [`LineChunk`]s: gzip, header detection, line splitting and
//! Firehose event files. Synchronous and free of S3/Kinesis; each call handles one origin and
//! reports its problems as [`SourceError`]s through the same callback as its chunks, so a bad
//! file or line never stops the others.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use super::{Framing, LineChunk, SourceError, SourceLine};
use crate::firehose::FirehoseEvent;

/// Receives chunks and errors; returns `false` when the consumer has gone away.
pub(crate) type Emit<'a> = dyn FnMut(Result<LineChunk, SourceError>) -> bool + 'a;

/// How an input's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Flow-log text lines, optionally opened by a header line of field names; or, when the
    /// first line starts with `{`, record payloads as Firehose delivers them to S3 without a
    /// transform (`{"message":…}` objects concatenated), read as [`Framing::Record`].
    Text,
    /// Flow-log text, gzip-compressed (S3 delivery: `.log.gz`, always with a header).
    GzipText,
    /// A Firehose transformation event (`{"records":[{"recordId","data"}]}`), as saved from a test
    /// invocation or captured from the error prefix.
    FirehoseEvent,
    /// One Firehose/Kinesis record payload per line (`{"message":"…"}` or a raw line).
    RecordLines,
}

impl Layout {
    /// The layout of a file, from its name: `.gz` gzip text, `.json` a Firehose event,
    /// `.jsonl`/`.ndjson` record payloads, anything else text.
    #[allow(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "the name is lower-cased first"
    )]
    pub fn of_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") {
            Layout::GzipText
        } else if lower.ends_with(".json") {
            Layout::FirehoseEvent
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Layout::RecordLines
        } else {
            Layout::Text
        }
    }
}

/// Whether `line` is a flow-log header: space-separated field names (`version account-id …`).
///
/// Field names are lower-case words with digits and dashes; data lines of any format crossaz can
/// use carry IP addresses (dots or colons) and numbers, so they never qualify. A line of names
/// with digits only (no letters) is not a header either.
pub fn is_header(line: &str) -> bool {
    let mut tokens = line.split(' ').peekable();
    tokens.peek().is_some()
        && tokens.all(|t| {
            t.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && t.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
}

/// A format in the `${field} ${field}` syntax the flow-log parser compiles, from a header line or
/// a configured string (either syntax is accepted).
pub fn normalize_format(fields: &str) -> String {
    fields
        .split_whitespace()
        .map(|t| {
            if t.starts_with("${") {
                t.to_owned()
            } else {
                format!("${{{t}}}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Collects lines into chunks of at most `chunk_lines` and hands them to `emit`.
struct Chunker<'e, 'a> {
    origin: Arc<str>,
    format: Option<Arc<str>>,
    framing: Framing,
    chunk_lines: usize,
    lines: Vec<SourceLine>,
    emit: &'e mut Emit<'a>,
    open: bool,
}

impl<'e, 'a> Chunker<'e, 'a> {
    fn new(
        origin: &Arc<str>,
        format: Option<Arc<str>>,
        framing: Framing,
        chunk_lines: usize,
        emit: &'e mut Emit<'a>,
    ) -> Self {
        Self {
            origin: origin.clone(),
            format,
            framing,
            chunk_lines,
            lines: Vec::new(),
            emit,
            open: true,
        }
    }

    fn push(&mut self, number: u64, text: String) -> bool {
        self.lines.push(SourceLine { number, text });
        if self.lines.len() >= self.chunk_lines {
            return self.flush();
        }
        self.open
    }

    fn flush(&mut self) -> bool {
        if !self.lines.is_empty() && self.open {
            let chunk = LineChunk {
                origin: self.origin.clone(),
                format: self.format.clone(),
                framing: self.framing,
                lines: std::mem::take(&mut self.lines),
            };
            self.open = (self.emit)(Ok(chunk));
        }
        self.open
    }

    fn error(&mut self, error: SourceError) -> bool {
        // Lines read before the error go out first, so the consumer sees them in order.
        self.flush() && {
            self.open = (self.emit)(Err(error));
            self.open
        }
    }
}

/// Decodes one input of `layout` from `reader`; `configured` is the `--format` (normalized).
pub(crate) fn decode(
    origin: &Arc<str>,
    layout: Layout,
    reader: Box<dyn Read + Send + '_>,
    configured: Option<&Arc<str>>,
    chunk_lines: usize,
    emit: &mut Emit<'_>,
) {
    let chunk_lines = chunk_lines.max(1);
    match layout {
        Layout::Text => decode_text(
            origin,
            BufReader::new(reader),
            configured,
            chunk_lines,
            false,
            emit,
        ),
        Layout::GzipText => {
            let gunzip = flate2::read::MultiGzDecoder::new(BufReader::new(reader));
            decode_text(
                origin,
                BufReader::new(gunzip),
                configured,
                chunk_lines,
                true,
                emit,
            );
        }
        Layout::RecordLines => {
            let mut chunker = Chunker::new(
                origin,
                configured.cloned(),
                Framing::Record,
                chunk_lines,
                emit,
            );
            read_lines(origin, BufReader::new(reader), 0, false, &mut chunker);
            chunker.flush();
        }
        Layout::FirehoseEvent => decode_event(origin, reader, configured, chunk_lines, emit),
    }
}

/// Text lines; the first line is a header when it looks like one (see [`is_header`]).
fn decode_text(
    origin: &Arc<str>,
    mut reader: impl BufRead,
    configured: Option<&Arc<str>>,
    chunk_lines: usize,
    gzip: bool,
    emit: &mut Emit<'_>,
) {
    let mut first = Vec::new();
    match reader.read_until(b'\n', &mut first) {
        Ok(0) => return,
        Ok(_) => {}
        Err(e) => {
            emit(Err(read_error(origin, 1, gzip, &e)));
            return;
        }
    }
    let Ok(first_text) = std::str::from_utf8(trim_newline(&first)) else {
        emit(Err(SourceError::NotUtf8 {
            origin: origin.to_string(),
            line: 1,
        }));
        return;
    };
    if first_text.trim_start().starts_with('{') {
        // Firehose delivering to S3 without a transform: the records' payloads concatenated
        // (`{"message":…}{"message":…}`, possibly newline-separated), no header line.
        let mut chunker = Chunker::new(
            origin,
            configured.cloned(),
            Framing::Record,
            chunk_lines,
            emit,
        );
        if chunker.push(1, first_text.to_owned()) {
            read_lines(origin, reader, 1, gzip, &mut chunker);
            chunker.flush();
        }
        return;
    }
    let (format, first_data) = if is_header(first_text) {
        (Some(Arc::from(normalize_format(first_text))), None)
    } else if let Some(configured) = configured {
        (Some(configured.clone()), Some(first_text.to_owned()))
    } else {
        emit(Err(SourceError::NoFormat {
            origin: origin.to_string(),
            first_line: truncate(first_text),
        }));
        return;
    };
    let mut chunker = Chunker::new(origin, format, Framing::Line, chunk_lines, emit);
    if let Some(text) = first_data
        && !text.is_empty()
        && !chunker.push(1, text)
    {
        return;
    }
    read_lines(origin, reader, 1, gzip, &mut chunker);
    chunker.flush();
}

/// Reads the remaining lines (numbered from `already + 1`), skipping blank ones.
fn read_lines(
    origin: &Arc<str>,
    mut reader: impl BufRead,
    already: u64,
    gzip: bool,
    chunker: &mut Chunker<'_, '_>,
) {
    let mut number = already;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        number += 1;
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                chunker.error(read_error(origin, number, gzip, &e));
                return;
            }
        }
        let line = trim_newline(&buffer);
        if line.is_empty() {
            continue;
        }
        let keep_going = match std::str::from_utf8(line) {
            Ok(text) => chunker.push(number, text.to_owned()),
            Err(_) => chunker.error(SourceError::NotUtf8 {
                origin: origin.to_string(),
                line: number,
            }),
        };
        if !keep_going {
            return;
        }
    }
}

fn read_error(origin: &Arc<str>, line: u64, gzip: bool, error: &std::io::Error) -> SourceError {
    if gzip {
        SourceError::Gzip {
            origin: origin.to_string(),
            line,
            message: error.to_string(),
        }
    } else {
        SourceError::Read {
            origin: origin.to_string(),
            line,
            message: error.to_string(),
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// At most 120 characters of `text`, for error messages.
fn truncate(text: &str) -> String {
    const SHOWN: usize = 120;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A Firehose event file: each record's base64 `data` becomes one [`Framing::Record`] line,
/// numbered by its 1-based position in `records`.
fn decode_event(
    origin: &Arc<str>,
    mut reader: impl Read,
    configured: Option<&Arc<str>>,
    chunk_lines: usize,
    emit: &mut Emit<'_>,
) {
    let mut body = Vec::new();
    if let Err(e) = reader.read_to_end(&mut body) {
        emit(Err(SourceError::Read {
            origin: origin.to_string(),
            line: 0,
            message: e.to_string(),
        }));
        return;
    }
    let event = match FirehoseEvent::from_json(&body) {
        Ok(event) => event,
        Err(e) => {
            emit(Err(SourceError::FirehoseEvent {
                origin: origin.to_string(),
                message: e.to_string(),
            }));
            return;
        }
    };
    let mut chunker = Chunker::new(
        origin,
        configured.cloned(),
        Framing::Record,
        chunk_lines,
        emit,
    );
    for (index, record) in event.records.iter().enumerate() {
        let number = index as u64 + 1;
        // Its own buffer: the decoded text is handed on.
        let mut data = Vec::new();
        let decoded = record.decode_into(&mut data).and_then(move |()| {
            String::from_utf8(data).map_err(|_| "data is not UTF-8".to_owned())
        });
        let keep_going = match decoded {
            Ok(text) => chunker.push(number, text),
            Err(message) => chunker.error(SourceError::FirehoseRecord {
                origin: origin.to_string(),
                record: number,
                record_id: record.record_id.to_string(),
                message,
            }),
        };
        if !keep_going {
            return;
        }
    }
    chunker.flush();
}

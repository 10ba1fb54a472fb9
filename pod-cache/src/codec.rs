//! The snapshot's bytes on S3 and on disk (design §5, documented in `docs/snapshot.md`).
//!
//! This module owns the serialized form: one zstd frame holding a one-line text header
//! (`crossaz.pod-snapshot/<version> postcard`) followed by the snapshot in postcard, a compact
//! binary serde format. Parsing dominated load time with JSON (about 250 ms for 120,000 pods);
//! the binary body decodes several times faster and the header keeps the document
//! self-describing, so a reader of another version refuses it before decoding anything.
//! Decoding also accepts the snapshot as JSON, plain or zstd-compressed (what `jq`, a test or an
//! earlier build writes), and rejects documents of another format or version with an error that
//! says which. `crossaz snapshot show` prints any of them. It does no I/O.

use std::io::Read;

use serde::Deserialize;

use crate::snapshot::{SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshot};

/// zstd level for [`encode`]: the extractor writes once a minute and every processor reads, so a
/// level above the default 3 buys a smaller object at a compression cost paid once; levels past
/// ~9 get much slower for little gain on JSON.
pub const COMPRESSION_LEVEL: i32 = 6;
/// Largest decompressed document [`decode`] accepts (1 GiB, about 3 million pods): a guard
/// against decompression bombs and corrupt size fields, far above any real cluster.
pub const MAX_DECODED_BYTES: u64 = 1 << 30;
/// The 4-byte magic number that starts every zstd frame (RFC 8878 §3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// What the binary form's header line names as its body's encoding.
const BINARY_ENCODING: &str = "postcard";

/// The header line of the binary form: `crossaz.pod-snapshot/1 postcard\n`.
fn binary_header() -> String {
    format!("{SNAPSHOT_FORMAT}/{SNAPSHOT_VERSION} {BINARY_ENCODING}\n")
}

/// Why bytes could not be turned into a snapshot, or a snapshot into bytes.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Serializing the snapshot failed.
    #[error("cannot serialize the snapshot: {0}")]
    Serialize(#[source] postcard::Error),
    /// zstd compression failed.
    #[error("cannot compress the snapshot: {0}")]
    Compress(#[source] std::io::Error),
    /// The input starts like a zstd frame but does not decompress.
    #[error("snapshot is not a valid zstd frame: {0}")]
    Decompress(#[source] std::io::Error),
    /// The decompressed document exceeds [`MAX_DECODED_BYTES`].
    #[error("decompressed snapshot exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The document is JSON of the right format and version but not a valid snapshot, or not JSON.
    #[error("snapshot document is invalid: {0}")]
    Json(#[source] serde_json::Error),
    /// The binary body under a valid header does not decode (truncated or corrupt).
    #[error("snapshot body is invalid: {0}")]
    Binary(#[source] postcard::Error),
    /// The document's `format` is not [`SNAPSHOT_FORMAT`].
    #[error("not a crossaz pod snapshot: format is {found}, expected {SNAPSHOT_FORMAT:?}")]
    WrongFormat {
        /// The `format` found, as JSON (`null` when absent).
        found: String,
    },
    /// The document's `version` is not one this build reads.
    #[error(
        "unsupported pod snapshot version {found} (this build reads version {SNAPSHOT_VERSION}); \
         upgrade the reader or regenerate the snapshot"
    )]
    UnsupportedVersion {
        /// The `version` found, as JSON (`null` when absent).
        found: String,
    },
}

/// Serializes a snapshot: zstd (level [`COMPRESSION_LEVEL`]) over the header line and the
/// postcard body.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, CodecError> {
    let body =
        postcard::to_extend(snapshot, binary_header().into_bytes()).map_err(CodecError::Binary)?;
    zstd::bulk::compress(&body, COMPRESSION_LEVEL).map_err(CodecError::Compress)
}

/// Reads a snapshot written by [`encode`], or the same JSON uncompressed.
///
/// Fails with [`CodecError::WrongFormat`] or [`CodecError::UnsupportedVersion`] when the document
/// says it is something else, even if its fields happen to parse.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    if bytes.starts_with(&ZSTD_MAGIC) {
        let document = decompress(bytes)?;
        parse_any(&document)
    } else {
        parse_any(bytes)
    }
}

/// The binary form when the document starts with `crossaz.pod-snapshot/`, else JSON.
fn parse_any(document: &[u8]) -> Result<Snapshot, CodecError> {
    let prefix = format!("{SNAPSHOT_FORMAT}/");
    if !document.starts_with(prefix.as_bytes()) {
        return parse(document);
    }
    let header_end = document
        .iter()
        .take(128)
        .position(|&b| b == b'\n')
        .ok_or_else(|| CodecError::WrongFormat {
            found: format!(
                "{:?}",
                String::from_utf8_lossy(&document[..document.len().min(64)])
            ),
        })?;
    let header = String::from_utf8_lossy(&document[..header_end]);
    let (version, encoding) = header[prefix.len()..]
        .split_once(' ')
        .unwrap_or((&header[prefix.len()..], ""));
    if version != SNAPSHOT_VERSION.to_string() {
        return Err(CodecError::UnsupportedVersion {
            found: version.to_owned(),
        });
    }
    if encoding != BINARY_ENCODING {
        return Err(CodecError::WrongFormat {
            found: format!("{header:?}"),
        });
    }
    let snapshot: Snapshot =
        postcard::from_bytes(&document[header_end + 1..]).map_err(CodecError::Binary)?;
    let format = serde_json::Value::String(snapshot.format.clone());
    let version = serde_json::Value::from(snapshot.version);
    check_header(Some(&format), Some(&version))?;
    Ok(snapshot)
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    let declared = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten();
    if declared.is_some_and(|size| size > MAX_DECODED_BYTES) {
        return Err(CodecError::TooLarge {
            limit: MAX_DECODED_BYTES,
        });
    }
    // One-shot decompression into an exact buffer when the frame declares its size (ours do):
    // about a third faster than streaming.
    if let Some(size) = declared {
        return zstd::bulk::decompress(bytes, size as usize).map_err(CodecError::Decompress);
    }
    let mut json = Vec::with_capacity(bytes.len().saturating_mul(8));
    zstd::stream::read::Decoder::with_buffer(bytes)
        .map_err(CodecError::Decompress)?
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(CodecError::Decompress)?;
    if json.len() as u64 > MAX_DECODED_BYTES {
        return Err(CodecError::TooLarge {
            limit: MAX_DECODED_BYTES,
        });
    }
    Ok(json)
}

/// Just the self-description, read when the full parse fails or to check it after.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

fn check_header(
    format: Option<&serde_json::Value>,
    version: Option<&serde_json::Value>,
) -> Result<(), CodecError> {
    let shown =
        |v: Option<&serde_json::Value>| v.map_or_else(|| "null".to_owned(), ToString::to_string);
    if format.and_then(serde_json::Value::as_str) != Some(SNAPSHOT_FORMAT) {
        return Err(CodecError::WrongFormat {
            found: shown(format),
        });
    }
    if version.and_then(serde_json::Value::as_u64) != Some(u64::from(SNAPSHOT_VERSION)) {
        return Err(CodecError::UnsupportedVersion {
            found: shown(version),
        });
    }
    Ok(())
}

fn parse(json: &[u8]) -> Result<Snapshot, CodecError> {
    match serde_json::from_slice::<Snapshot>(json) {
        Ok(snapshot) => {
            let format = serde_json::Value::String(snapshot.format.clone());
            let version = serde_json::Value::from(snapshot.version);
            check_header(Some(&format), Some(&version))?;
            Ok(snapshot)
        }
        // A document of another format or version rarely parses: say which it is rather than
        // which field failed.
        Err(e) => match serde_json::from_slice::<Header>(json) {
            Ok(header) => {
                check_header(header.format.as_ref(), header.version.as_ref())?;
                Err(CodecError::Json(e))
            }
            Err(_) => Err(CodecError::Json(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            cluster: "cross-az".into(),
            generated_at: 1_795_759_200,
            nodes: vec![],
            pods: vec![],
        }
    }

    fn json_with(format: &str, version: &str) -> Vec<u8> {
        format!(
            r#"{{"format":{format},"version":{version},"cluster":"c","generated_at":1,"nodes":[],"pods":[]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn encodes_as_zstd_over_a_header_line_and_a_binary_body() {
        let bytes = encode(&snapshot()).unwrap();
        assert!(bytes.starts_with(&ZSTD_MAGIC));
        let document = zstd::decode_all(&bytes[..]).unwrap();
        let header = b"crossaz.pod-snapshot/1 postcard\n";
        assert_eq!(&document[..header.len()], header);
        assert_eq!(decode(&bytes).unwrap(), snapshot());
        // The uncompressed binary form and the JSON form read the same.
        assert_eq!(decode(&document).unwrap(), snapshot());
        let json = serde_json::to_vec(&snapshot()).unwrap();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"format":"crossaz.pod-snapshot","version":1,"cluster":"cross-az","generated_at":1795759200,"nodes":[],"pods":[]}"#
        );
        assert_eq!(decode(&json).unwrap(), snapshot());
        assert_eq!(
            decode(&zstd::bulk::compress(&json, 3).unwrap()).unwrap(),
            snapshot()
        );
    }

    #[test]
    fn binary_headers_of_other_versions_or_encodings_are_refused_before_the_body() {
        let body = postcard::to_allocvec(&snapshot()).unwrap();
        let with = |header: &str| [header.as_bytes(), &body].concat();
        let e = decode(&with("crossaz.pod-snapshot/2 postcard\n")).unwrap_err();
        assert!(
            matches!(&e, CodecError::UnsupportedVersion { found } if found == "2"),
            "{e}"
        );
        let e = decode(&with("crossaz.pod-snapshot/1 cbor\n")).unwrap_err();
        assert!(matches!(e, CodecError::WrongFormat { .. }), "{e}");
        let e = decode(&with("crossaz.pod-snapshot/1 postcard\n")[..40]).unwrap_err();
        assert!(matches!(e, CodecError::Binary(_)), "{e}");
        assert!(
            e.to_string().starts_with("snapshot body is invalid: "),
            "{e}"
        );
    }

    #[test]
    fn rejects_other_formats_and_versions_clearly() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                json_with(r#""crossaz.pod-snapshot""#, "2"),
                "unsupported pod snapshot version 2 (this build reads version 1); upgrade the reader or regenerate the snapshot",
            ),
            (
                json_with(r#""crossaz.pod-snapshot""#, r#""1""#),
                "unsupported pod snapshot version \"1\" (this build reads version 1); upgrade the reader or regenerate the snapshot",
            ),
            (
                json_with(r#""something-else""#, "1"),
                "not a crossaz pod snapshot: format is \"something-else\", expected \"crossaz.pod-snapshot\"",
            ),
            // A future version with an incompatible layout: the version is named, not the field.
            (
                br#"{"format":"crossaz.pod-snapshot","version":7,"pods":{"columnar":true}}"#
                    .to_vec(),
                "unsupported pod snapshot version 7 (this build reads version 1); upgrade the reader or regenerate the snapshot",
            ),
            (
                br#"{"kind":"PodList","items":[]}"#.to_vec(),
                "not a crossaz pod snapshot: format is null, expected \"crossaz.pod-snapshot\"",
            ),
            (
                br#"{"format":"crossaz.pod-snapshot","version":1,"cluster":"c"}"#.to_vec(),
                "snapshot document is invalid: missing field `generated_at` at line 1 column 59",
            ),
            (
                b"".to_vec(),
                "snapshot document is invalid: EOF while parsing a value at line 1 column 0",
            ),
            (
                b"\x28\xb5\x2f\xfd garbage".to_vec(),
                "snapshot is not a valid zstd frame: Src size is incorrect",
            ),
        ];
        for (bytes, message) in cases {
            let e = decode(&bytes).unwrap_err();
            assert_eq!(e.to_string(), message);
        }
        // The same checks apply inside a zstd frame.
        let compressed =
            zstd::bulk::compress(&json_with(r#""crossaz.pod-snapshot""#, "2"), 3).unwrap();
        assert!(
            matches!(decode(&compressed), Err(CodecError::UnsupportedVersion { found }) if found == "2")
        );
    }

    #[test]
    fn a_truncated_frame_is_an_error() {
        let bytes = encode(&snapshot()).unwrap();
        let e = decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(matches!(e, CodecError::Decompress(_)), "{e}");
    }
}

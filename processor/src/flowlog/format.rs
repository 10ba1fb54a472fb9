//! A flow-log format compiled once: the ordered columns of every line, known fields typed.
//!
//! Built from the `LogFormat` string the flow log was created with (`${version} ${bytes} ...`)
//! or from the header line of an S3 flow-log file (`version bytes ...`). It checks names, not
//! data; lines are read by [`FlowFormat::parse_line`](super::parse).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use thiserror::Error;

use super::{Field, RECOMMENDED_FORMAT};

/// One column of a format: a field this crate types, or an unknown one kept by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Column {
    Known(Field),
    Unknown(&'static str),
}

impl Column {
    fn name(&self) -> &str {
        match self {
            Column::Known(field) => field.name(),
            Column::Unknown(name) => name,
        }
    }
}

/// The field list of a flow log, in line order, compiled for [`FlowFormat::parse_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFormat {
    pub(super) columns: Vec<Column>,
    /// The columns as the parser walks them, a byte each: the known field, or `None` for the
    /// next of `unknown_names`. One jump per value instead of two (transform bench: 178.93 M
    /// to 177.65 M instructions, callgrind).
    pub(super) slots: Vec<Option<Field>>,
    /// The names of the [`Column::Unknown`] columns, in order; their count is the capacity of
    /// `FlowRecord::unknown`.
    pub(super) unknown_names: Vec<&'static str>,
}

/// Why a format string or header line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// No field at all.
    #[error("the flow-log format is empty: it needs at least one field")]
    Empty,
    /// A format-string token that is not `${name}`.
    #[error("format token {position} `{token}` is not of the form ${{field-name}}")]
    NotAPlaceholder {
        /// 1-based position of the token.
        position: usize,
        /// The token as written.
        token: String,
    },
    /// A name with characters no flow-log field has (a data line passed as a header, say).
    #[error(
        "field {position} `{name}` is not a flow-log field name \
         (a letter, then letters, digits, '-' or '_')"
    )]
    InvalidFieldName {
        /// 1-based position of the field.
        position: usize,
        /// The name as written.
        name: String,
    },
    /// The same field twice: lines would be ambiguous.
    #[error("field `{name}` appears twice, at positions {first} and {second}")]
    DuplicateField {
        /// The field name.
        name: String,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second occurrence.
        second: usize,
    },
    /// More distinct unknown field names than the process keeps (see [`MAX_UNKNOWN_NAMES`]).
    #[error("field `{name}`: more than {MAX_UNKNOWN_NAMES} distinct unknown field names seen")]
    TooManyUnknownNames {
        /// The name that did not fit.
        name: String,
    },
    /// The format lacks what attribution needs (design §3).
    #[error(
        "the flow-log format lacks fields crossaz needs to attribute traffic: {}; \
         create the flow log with this custom format: {}",
        missing.join(", "), RECOMMENDED_FORMAT
    )]
    MissingAttributionFields {
        /// The missing requirements, e.g. `pkt-srcaddr` or `flow-direction or instance-id`.
        missing: Vec<&'static str>,
    },
}

/// The alternative that satisfies the "count once" requirement: either field will do.
const COUNT_ONCE_REQUIREMENT: &str = "flow-direction or instance-id";

impl FlowFormat {
    /// Compiles a `LogFormat` string: `${field}` tokens separated by spaces.
    pub fn parse(spec: &str) -> Result<FlowFormat, FormatError> {
        let names = spec
            .split_ascii_whitespace()
            .enumerate()
            .map(|(index, token)| {
                token
                    .strip_prefix("${")
                    .and_then(|rest| rest.strip_suffix('}'))
                    .ok_or_else(|| FormatError::NotAPlaceholder {
                        position: index + 1,
                        token: token.to_owned(),
                    })
            });
        Self::from_names(names)
    }

    /// Compiles the header line of an S3 flow-log file: field names separated by spaces.
    pub fn from_header(header: &str) -> Result<FlowFormat, FormatError> {
        Self::from_names(header.split_ascii_whitespace().map(Ok))
    }

    fn from_names<'s>(
        names: impl Iterator<Item = Result<&'s str, FormatError>>,
    ) -> Result<FlowFormat, FormatError> {
        let mut columns: Vec<Column> = Vec::new();
        for (index, name) in names.enumerate() {
            let name = name?;
            let position = index + 1;
            if !is_field_name(name) {
                return Err(FormatError::InvalidFieldName {
                    position,
                    name: name.to_owned(),
                });
            }
            let column = match Field::from_name(name) {
                Some(field) => Column::Known(field),
                None => Column::Unknown(intern(name).ok_or_else(|| {
                    FormatError::TooManyUnknownNames {
                        name: name.to_owned(),
                    }
                })?),
            };
            if let Some(first) = columns.iter().position(|c| c == &column) {
                return Err(FormatError::DuplicateField {
                    name: column.name().to_owned(),
                    first: first + 1,
                    second: position,
                });
            }
            columns.push(column);
        }
        if columns.is_empty() {
            return Err(FormatError::Empty);
        }
        let slots: Vec<Option<Field>> = columns
            .iter()
            .map(|c| match c {
                Column::Known(field) => Some(*field),
                Column::Unknown(_) => None,
            })
            .collect();
        let unknown_names: Vec<&'static str> = columns
            .iter()
            .filter_map(|c| match c {
                Column::Known(_) => None,
                Column::Unknown(name) => Some(*name),
            })
            .collect();
        Ok(FlowFormat {
            columns,
            slots,
            unknown_names,
        })
    }

    /// Checks that lines of this format can be attributed and counted once: crossaz needs
    /// `pkt-srcaddr`, `pkt-dstaddr`, `bytes`, `start` and `flow-direction` or `instance-id`.
    /// The error names the missing fields and shows [`RECOMMENDED_FORMAT`].
    pub fn require_attribution_fields(&self) -> Result<(), FormatError> {
        let mut missing: Vec<&'static str> = [
            Field::PktSrcAddr,
            Field::PktDstAddr,
            Field::Bytes,
            Field::Start,
        ]
        .into_iter()
        .filter(|&field| !self.contains(field))
        .map(Field::name)
        .collect();
        if !self.contains(Field::FlowDirection) && !self.contains(Field::InstanceId) {
            missing.push(COUNT_ONCE_REQUIREMENT);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(FormatError::MissingAttributionFields { missing })
        }
    }

    /// The field names in line order, as AWS spells them (unknown names as written).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(Column::name)
    }

    /// Whether the format has this field.
    pub fn contains(&self, field: Field) -> bool {
        self.columns.contains(&Column::Known(field))
    }

    /// Number of fields in each line.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Always false: a format has at least one field. Present for API symmetry with [`len`].
    ///
    /// [`len`]: FlowFormat::len
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The `version` AWS writes in lines of this format: the highest version among its known
    /// fields.
    pub fn version(&self) -> u8 {
        self.columns
            .iter()
            .filter_map(|column| match column {
                Column::Known(field) => Some(field.version()),
                Column::Unknown(_) => None,
            })
            .max()
            .unwrap_or(2)
    }

    /// The format as a `LogFormat` string (`${version} ${bytes} ...`).
    pub fn to_spec(&self) -> String {
        let mut spec = String::new();
        for name in self.field_names() {
            if !spec.is_empty() {
                spec.push(' ');
            }
            spec.push_str("${");
            spec.push_str(name);
            spec.push('}');
        }
        spec
    }
}

/// How many distinct unknown field names the process keeps. AWS adds a few fields a year; the cap
/// only bounds what hostile header lines can make [`intern`] keep.
pub const MAX_UNKNOWN_NAMES: usize = 4096;

/// The process-lifetime copy of an unknown field name, so that records can borrow it without
/// borrowing the [`FlowFormat`] (callers keep records after the format is gone). Each distinct
/// name is kept once; `None` past [`MAX_UNKNOWN_NAMES`].
fn intern(name: &str) -> Option<&'static str> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&kept) = names.get(name) {
        return Some(kept);
    }
    if names.len() >= MAX_UNKNOWN_NAMES {
        return None;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    Some(kept)
}

/// Letters, digits, `-` and `_`, starting with a letter: rules out data lines and stray `${`.
fn is_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

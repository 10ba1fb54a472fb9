//! Reading one flow-log line into a typed [`FlowRecord`] with a compiled [`FlowFormat`].
//!
//! The hot path of the whole pipeline: it splits the line once, converts each value in place
//! (numbers and IP addresses from their bytes, keywords from their text) and borrows every
//! string from the line. It allocates only for formats with unknown fields (their `Vec`) and
//! on errors. `#[inline(always)]` marks the helpers whose inlining the `parse` bench showed to
//! matter (about 20% of a line's time).
#![allow(clippy::inline_always)]

use std::net::IpAddr;

use thiserror::Error;

use super::tokens::{Tokens, count_tokens};
use super::{ABSENT, Action, Field, FlowDirection, FlowFormat, FlowRecord, LogStatus};

/// Longest raw value quoted in an error; longer values are cut (a garbage line can be huge).
const MAX_QUOTED_VALUE: usize = 80;

/// Why one line could not be read. The caller adds where the line came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line has more or fewer space-separated values than the format has fields.
    #[error("wrong field count: the format has {expected} fields, the line has {found}")]
    FieldCount {
        /// Fields in the format.
        expected: usize,
        /// Values in the line.
        found: usize,
    },
    /// A value that does not fit its field's type.
    #[error("field `{field}`: invalid value `{value}`: {reason}")]
    InvalidValue {
        /// The AWS field name.
        field: &'static str,
        /// The raw value (cut after 80 bytes, marked with `...`).
        value: String,
        /// What is wrong with it.
        reason: InvalidReason,
    },
}

/// What is wrong with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidReason {
    /// Not a plain decimal integer.
    #[error("not a decimal integer")]
    NotANumber,
    /// A number outside the field's range.
    #[error("out of range ({range})")]
    OutOfRange {
        /// The accepted range, e.g. `0..=65535`.
        range: &'static str,
    },
    /// Neither an IPv4 nor an IPv6 address.
    #[error("not an IPv4 or IPv6 address")]
    NotAnIpAddress,
    /// Not one of the keywords the field allows.
    #[error("expected {expected}")]
    UnknownKeyword {
        /// The allowed spellings, e.g. `ACCEPT or REJECT`.
        expected: &'static str,
    },
}

impl ParseError {
    #[cold]
    #[inline(never)]
    fn invalid(field: Field, raw: &[u8], reason: InvalidReason) -> ParseError {
        // Values are cut from a `str` at ASCII whitespace: always whole characters.
        let raw = String::from_utf8_lossy(raw);
        let value = match raw.char_indices().nth(MAX_QUOTED_VALUE) {
            Some((cut, _)) => format!("{}...", &raw[..cut]),
            None => raw.into_owned(),
        };
        ParseError::InvalidValue {
            field: field.name(),
            value,
            reason,
        }
    }
}

impl FlowFormat {
    /// Reads one flow-log line (no trailing newline needed; surrounding whitespace and runs of
    /// spaces are tolerated). `-` values become `None`; unknown fields are kept raw.
    ///
    /// The record borrows from the line only.
    pub fn parse_line<'a>(&self, line: &'a str) -> Result<FlowRecord<'a>, ParseError> {
        let mut record = FlowRecord::default();
        self.parse_line_into(line, &mut record)?;
        Ok(record)
    }

    /// [`FlowFormat::parse_line`] into a record the caller holds: every field of the format is
    /// overwritten and the unknown values replaced; fields the format lacks are left as they
    /// are (`None` in a new record). Filling the caller's record in place spares copying the
    /// ~600-byte record out of a `Result` (transform bench: 186.6 M to 182.7 M instructions,
    /// callgrind). On error the record holds part of the line.
    pub fn parse_line_into<'a>(
        &self,
        line: &'a str,
        record: &mut FlowRecord<'a>,
    ) -> Result<(), ParseError> {
        if !self.unknown_names.is_empty() {
            record.unknown.clear();
            record.unknown.reserve_exact(self.unknown_names.len());
        }
        let mut tokens = Tokens::new(line);
        let mut seen = SeenAddresses::default();
        let mut unknown_names = self.unknown_names.iter();
        for slot in &self.slots {
            let Some((start, raw)) = tokens.next() else {
                return Err(self.field_count_error(line));
            };
            let value = Value { line, start, raw };
            match slot {
                Some(field) => set_field(record, &mut seen, *field, value)?,
                None => {
                    if let Some(name) = unknown_names.next() {
                        record.unknown.push((name, value.text()));
                    }
                }
            }
        }
        if tokens.next().is_some() {
            return Err(self.field_count_error(line));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn field_count_error(&self, line: &str) -> ParseError {
        ParseError::FieldCount {
            expected: self.columns.len(),
            found: count_tokens(line),
        }
    }
}

/// One value of a line: its bytes, and where they start in the line.
#[derive(Clone, Copy)]
struct Value<'a> {
    line: &'a str,
    start: usize,
    raw: &'a [u8],
}

impl<'a> Value<'a> {
    /// The value as text, sliced from the line (the tokenizer cut it at whitespace, so the
    /// slice never fails).
    #[inline(always)]
    fn text(self) -> &'a str {
        self.line
            .get(self.start..self.start + self.raw.len())
            .unwrap_or_default()
    }
}

/// The last address text read for each side of the flow, and its value. A line's `srcaddr`
/// and `pkt-srcaddr` (or the two destinations) are the same text whenever no intermediate
/// layer rewrote the packet: on EKS, always for the peer side of an ENI's flow. Comparing the
/// texts took the transform bench from 214.6 M to 212.5 M instructions (callgrind).
#[derive(Default)]
struct SeenAddresses<'a> {
    text: [&'a [u8]; 2],
    ip: [Option<IpAddr>; 2],
}

/// Which slot of [`SeenAddresses`] a field shares.
const SOURCE: usize = 0;
const DESTINATION: usize = 1;

/// An address field, reusing the other address of the same side when its text is the same.
#[inline(always)]
fn address<'a>(
    seen: &mut SeenAddresses<'a>,
    side: usize,
    field: Field,
    raw: Value<'a>,
) -> Result<Option<IpAddr>, ParseError> {
    // Values are never empty, so the initial empty text matches none.
    if raw.raw == seen.text[side] {
        return Ok(seen.ip[side]);
    }
    let ip = typed(field, raw, parse_ip)?;
    seen.text[side] = raw.raw;
    seen.ip[side] = ip;
    Ok(ip)
}

/// Stores one raw value in its typed slot.
#[inline]
fn set_field<'a>(
    record: &mut FlowRecord<'a>,
    seen: &mut SeenAddresses<'a>,
    field: Field,
    raw: Value<'a>,
) -> Result<(), ParseError> {
    let ecs = &mut record.ecs;
    match field {
        Field::Version => record.version = number(field, raw, parse_u8)?,
        Field::AccountId => record.account_id = text(raw),
        Field::InterfaceId => record.interface_id = text(raw),
        Field::SrcAddr => record.srcaddr = address(seen, SOURCE, field, raw)?,
        Field::DstAddr => record.dstaddr = address(seen, DESTINATION, field, raw)?,
        Field::SrcPort => record.srcport = number(field, raw, parse_u16)?,
        Field::DstPort => record.dstport = number(field, raw, parse_u16)?,
        Field::Protocol => record.protocol = number(field, raw, parse_u8)?,
        Field::Packets => record.packets = number(field, raw, parse_u64)?,
        Field::Bytes => record.bytes = number(field, raw, parse_u64)?,
        Field::Start => record.start = number(field, raw, parse_i64)?,
        Field::End => record.end = number(field, raw, parse_i64)?,
        Field::Action => record.action = typed(field, raw, parse_action)?,
        Field::LogStatus => record.log_status = typed(field, raw, parse_log_status)?,
        Field::VpcId => record.vpc_id = text(raw),
        Field::SubnetId => record.subnet_id = text(raw),
        Field::InstanceId => record.instance_id = text(raw),
        Field::TcpFlags => record.tcp_flags = number(field, raw, parse_u16)?,
        Field::Type => record.traffic_type = text(raw),
        Field::PktSrcAddr => {
            record.pkt_srcaddr = address(seen, SOURCE, field, raw)?;
            record.spelling.pkt_srcaddr = record.pkt_srcaddr.map(|_| raw.text());
        }
        Field::PktDstAddr => {
            record.pkt_dstaddr = address(seen, DESTINATION, field, raw)?;
            record.spelling.pkt_dstaddr = record.pkt_dstaddr.map(|_| raw.text());
        }
        Field::Region => record.region = text(raw),
        Field::AzId => record.az_id = text(raw),
        Field::SublocationType => record.sublocation_type = text(raw),
        Field::SublocationId => record.sublocation_id = text(raw),
        Field::PktSrcAwsService => record.pkt_src_aws_service = text(raw),
        Field::PktDstAwsService => record.pkt_dst_aws_service = text(raw),
        Field::FlowDirection => record.flow_direction = typed(field, raw, parse_direction)?,
        Field::TrafficPath => record.traffic_path = number(field, raw, parse_u8)?,
        Field::EcsClusterArn => ecs.cluster_arn = text(raw),
        Field::EcsClusterName => ecs.cluster_name = text(raw),
        Field::EcsContainerInstanceArn => ecs.container_instance_arn = text(raw),
        Field::EcsContainerInstanceId => ecs.container_instance_id = text(raw),
        Field::EcsContainerId => ecs.container_id = text(raw),
        Field::EcsSecondContainerId => ecs.second_container_id = text(raw),
        Field::EcsServiceName => ecs.service_name = text(raw),
        Field::EcsTaskDefinitionArn => ecs.task_definition_arn = text(raw),
        Field::EcsTaskArn => ecs.task_arn = text(raw),
        Field::EcsTaskId => ecs.task_id = text(raw),
        Field::RejectReason => record.reject_reason = text(raw),
    }
    Ok(())
}

/// A string field: `-` is absent.
#[inline]
fn text(raw: Value<'_>) -> Option<&str> {
    if is_absent(raw.raw) {
        None
    } else {
        Some(raw.text())
    }
}

#[inline(always)]
fn is_absent(raw: &[u8]) -> bool {
    raw == ABSENT.as_bytes()
}

/// A typed field (a number, an address or a keyword, read from its bytes): `-` is absent,
/// anything else must convert. No type converts `-`, so absence is only checked when
/// conversion fails: present values, the common case, skip the check.
#[inline(always)]
fn typed<T>(
    field: Field,
    raw: Value<'_>,
    convert: impl FnOnce(&[u8]) -> Result<T, InvalidReason>,
) -> Result<Option<T>, ParseError> {
    match convert(raw.raw) {
        Ok(value) => Ok(Some(value)),
        Err(_) if is_absent(raw.raw) => Ok(None),
        Err(reason) => Err(ParseError::invalid(field, raw.raw, reason)),
    }
}

/// A number field: [`typed`] with `convert`, except that a value of 3 to 16 digits with at
/// least 8 (16) bytes of the line before its end is read eight digits at a time first
/// ([`swar_digits`]). What that fast path cannot read (a sign, a non-digit, a long value, the
/// line's first bytes) goes to `convert`, which gives the value or the exact error.
#[inline(always)]
fn number<T: TryFrom<u64>>(
    field: Field,
    raw: Value<'_>,
    convert: impl FnOnce(&[u8]) -> Result<T, InvalidReason>,
) -> Result<Option<T>, ParseError> {
    let end = raw.start + raw.raw.len();
    if let Some(value) = swar_digits(raw.line.as_bytes(), end, raw.raw.len())
        && let Ok(value) = T::try_from(value)
    {
        return Ok(Some(value));
    }
    typed(field, raw, convert)
}

/// The value of the `len` bytes that end at `end` in `line` when all are ASCII digits, read as
/// little-endian words of eight (Lemire's three-multiply conversion): `None` when any is not a
/// digit, when `len` is under 3 (one or two digits read faster one by one: transform bench
/// 177.65 M to 176.43 M instructions) or over 16, or when the word(s) would start before the
/// line. The bytes before the value in its first word are replaced with `0` digits.
#[inline(always)]
fn swar_digits(line: &[u8], end: usize, len: usize) -> Option<u64> {
    let word_ending_at = |end: usize| {
        let bytes = line.get(end.checked_sub(8)?..end)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    };
    // The low `n` bytes (those before the value) set to `0`.
    let zero_padded = |word: u64, n: usize| {
        let mask = (1u64 << (8 * n)).wrapping_sub(1);
        (word & !mask) | (crate::firehose::splat(b'0') & mask)
    };
    match len {
        3..=8 => eight_digits(zero_padded(word_ending_at(end)?, 8 - len)),
        9..=16 => {
            let high = eight_digits(zero_padded(word_ending_at(end - 8)?, 16 - len))?;
            Some(high * 100_000_000 + eight_digits(word_ending_at(end)?)?)
        }
        _ => None,
    }
}

/// Eight ASCII digits, the first in the lowest byte, as their value; `None` if any byte is not
/// a digit.
#[inline(always)]
fn eight_digits(word: u64) -> Option<u64> {
    if crate::firehose::non_digits(word) != 0 {
        return None;
    }
    let word = (word & 0x0f0f_0f0f_0f0f_0f0f).wrapping_mul(10 << 8 | 1) >> 8;
    let word = (word & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16;
    Some((word & 0x0000_ffff_0000_ffff).wrapping_mul(10_000 << 32 | 1) >> 32)
}

/// Digits that always fit a `u64` without overflow checks (`u64::MAX` has 20).
const SAFE_DIGITS: usize = 19;

/// Unsigned decimal digits only (no sign, no `+`, no spaces), checked for overflow.
#[inline]
fn parse_u64(bytes: &[u8]) -> Result<u64, InvalidReason> {
    if bytes.is_empty() {
        return Err(InvalidReason::NotANumber);
    }
    let (head, tail) = bytes.split_at(bytes.len().min(SAFE_DIGITS));
    let mut value: u64 = 0;
    for &b in head {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(InvalidReason::NotANumber);
        }
        value = value * 10 + u64::from(digit);
    }
    for &b in tail {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(InvalidReason::NotANumber);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(InvalidReason::OutOfRange {
                range: "0..=18446744073709551615",
            })?;
    }
    Ok(value)
}

#[inline]
fn parse_u8(raw: &[u8]) -> Result<u8, InvalidReason> {
    narrow(parse_u64(raw), "0..=255")
}

#[inline]
fn parse_u16(raw: &[u8]) -> Result<u16, InvalidReason> {
    narrow(parse_u64(raw), "0..=65535")
}

#[inline]
fn narrow<T: TryFrom<u64>>(
    value: Result<u64, InvalidReason>,
    range: &'static str,
) -> Result<T, InvalidReason> {
    match value {
        Ok(value) => T::try_from(value).map_err(|_| InvalidReason::OutOfRange { range }),
        Err(InvalidReason::OutOfRange { .. }) => Err(InvalidReason::OutOfRange { range }),
        Err(other) => Err(other),
    }
}

/// Epoch seconds; a leading `-` is accepted so that every `i64` reads back.
#[inline]
fn parse_i64(raw: &[u8]) -> Result<i64, InvalidReason> {
    const RANGE: &str = "-9223372036854775808..=9223372036854775807";
    let (negative, digits) = match raw.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, raw),
    };
    let magnitude = narrow::<u64>(parse_u64(digits), RANGE)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or(InvalidReason::OutOfRange { range: RANGE })
    } else {
        i64::try_from(magnitude).map_err(|_| InvalidReason::OutOfRange { range: RANGE })
    }
}

/// An IPv4 or IPv6 address, read as the standard library reads it ([`super::ip`]).
#[inline]
fn parse_ip(raw: &[u8]) -> Result<IpAddr, InvalidReason> {
    super::ip::parse_ip(raw).ok_or(InvalidReason::NotAnIpAddress)
}

#[inline]
fn parse_action(raw: &[u8]) -> Result<Action, InvalidReason> {
    Action::from_aws_bytes(raw).ok_or(InvalidReason::UnknownKeyword {
        expected: "ACCEPT or REJECT",
    })
}

#[inline]
fn parse_log_status(raw: &[u8]) -> Result<LogStatus, InvalidReason> {
    LogStatus::from_aws_bytes(raw).ok_or(InvalidReason::UnknownKeyword {
        expected: "OK, NODATA or SKIPDATA",
    })
}

#[inline]
fn parse_direction(raw: &[u8]) -> Result<FlowDirection, InvalidReason> {
    FlowDirection::from_aws_bytes(raw).ok_or(InvalidReason::UnknownKeyword {
        expected: "ingress or egress",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_or_say_why() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(InvalidReason::OutOfRange {
                range: "0..=18446744073709551615"
            })
        );
        assert_eq!(parse_u64(b"+1"), Err(InvalidReason::NotANumber));
        assert_eq!(parse_u64(b""), Err(InvalidReason::NotANumber));
        assert_eq!(parse_u16(b"65535"), Ok(65535));
        assert_eq!(
            parse_u16(b"65536"),
            Err(InvalidReason::OutOfRange { range: "0..=65535" })
        );
        assert_eq!(
            parse_u8(b"99999999999999999999999"),
            Err(InvalidReason::OutOfRange { range: "0..=255" })
        );
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert!(matches!(
            parse_i64(b"9223372036854775808"),
            Err(InvalidReason::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_i64(b"-9223372036854775809"),
            Err(InvalidReason::OutOfRange { .. })
        ));
        assert_eq!(parse_i64(b"-"), Err(InvalidReason::NotANumber));
        assert_eq!(parse_i64(b"--1"), Err(InvalidReason::NotANumber));
    }

    #[test]
    fn eight_at_a_time_reads_what_digit_by_digit_reads() {
        for len in 1..=20 {
            let digits: Vec<u8> = (0..len).map(|i| b'0' + (i * 7 % 10) as u8).collect();
            for before in 0..=17 {
                let mut line = vec![b' '; before];
                line.extend_from_slice(&digits);
                let end = line.len();
                let fits = (3..=16).contains(&len) && end >= if len <= 8 { 8 } else { 16 };
                let expected = fits.then(|| parse_u64(&digits).ok()).flatten();
                assert_eq!(
                    swar_digits(&line, end, len),
                    expected,
                    "{len} after {before}"
                );
                // Any byte that is not a digit, anywhere in the value, refuses it.
                for at in before..end {
                    for other in [b'/', b':', b' ', b'-', b'+', 0x80, 0xb0, 0x39 + 0x10] {
                        let mut bad = line.clone();
                        bad[at] = other;
                        assert_eq!(swar_digits(&bad, end, len), None, "{bad:?}");
                    }
                }
            }
        }
        assert_eq!(
            swar_digits(b"9999999999999999", 16, 16),
            Some(9_999_999_999_999_999)
        );
        assert_eq!(
            swar_digits(b"       1714568400", 17, 10),
            Some(1_714_568_400)
        );
    }

    proptest::proptest! {
        #[test]
        fn numbers_read_fast_or_slow_agree(
            before in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            value in proptest::collection::vec(
                proptest::sample::select(b"0123456789-+ x".to_vec()), 1..22),
        ) {
            let mut line = before.clone();
            line.extend_from_slice(&value);
            if let Some(fast) = swar_digits(&line, line.len(), value.len()) {
                proptest::prop_assert_eq!(Ok(fast), parse_u64(&value));
            }
        }
    }

    #[test]
    fn no_type_converts_the_absent_marker() {
        // `typed` checks for `-` only after conversion fails.
        let absent = ABSENT.as_bytes();
        assert!(parse_u8(absent).is_err());
        assert!(parse_u16(absent).is_err());
        assert!(parse_u64(absent).is_err());
        assert!(parse_i64(absent).is_err());
        assert!(parse_ip(absent).is_err());
        assert!(parse_action(ABSENT.as_bytes()).is_err());
        assert!(parse_log_status(ABSENT.as_bytes()).is_err());
        assert!(parse_direction(ABSENT.as_bytes()).is_err());
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let raw = "x".repeat(500);
        let ParseError::InvalidValue { value, .. } =
            ParseError::invalid(Field::SrcPort, raw.as_bytes(), InvalidReason::NotANumber)
        else {
            panic!("not an InvalidValue");
        };
        assert_eq!(value, format!("{}...", "x".repeat(MAX_QUOTED_VALUE)));
    }
}

//! Splitting a flow-log line into its values, eight bytes at a time.
//!
//! AWS separates values with single spaces. Runs of spaces (seen in AWS's own documentation
//! examples), tabs and a trailing `\r` are tolerated as well: they cannot be mistaken for a value,
//! because an absent value is always written `-`. The result equals
//! `str::split_ascii_whitespace`. Everything here is `#[inline(always)]`: it runs once per value
//! and the `parse` bench slows down by a quarter when the compiler outlines it.
#![allow(clippy::inline_always)]

/// Bytes of a `u64` each holding 1.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The whitespace-separated values of a line, in order.
pub(super) struct Tokens<'a> {
    line: &'a str,
    /// Offset of the eight-byte word `candidates` describes.
    base: usize,
    /// High bit of each byte of the current word that may be whitespace, not yet visited.
    candidates: u64,
    /// Where the value being scanned began.
    token_start: usize,
    finished: bool,
}

impl<'a> Tokens<'a> {
    #[inline(always)]
    pub(super) fn new(line: &'a str) -> Tokens<'a> {
        let candidates = at_most_space(word_at(line.as_bytes(), 0));
        Tokens {
            line,
            base: 0,
            candidates,
            token_start: 0,
            finished: false,
        }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline(always)]
    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.line.as_bytes();
        loop {
            while self.candidates != 0 {
                let at = self.base + (self.candidates.trailing_zeros() / 8) as usize;
                self.candidates &= self.candidates - 1;
                if at >= bytes.len() {
                    // The padding after the line: the last value ends here.
                    self.candidates = 0;
                    self.finished = true;
                    return if self.token_start < bytes.len() {
                        self.line.get(self.token_start..)
                    } else {
                        None
                    };
                }
                if bytes.get(at).is_some_and(|&b| is_separator(b)) {
                    let start = std::mem::replace(&mut self.token_start, at + 1);
                    if at > start {
                        // Both ends are ASCII positions: always char boundaries.
                        return self.line.get(start..at);
                    }
                }
            }
            if self.finished {
                return None;
            }
            self.base += 8;
            self.candidates = at_most_space(word_at(bytes, self.base));
        }
    }
}

/// The eight bytes at `base`, little-endian, padded with spaces past the end of `bytes`: the
/// padding ends the last value. `base` never passes `bytes.len()`, because the first padding
/// space ends the scan.
#[inline(always)]
fn word_at(bytes: &[u8], base: usize) -> u64 {
    if let Some(chunk) = bytes.get(base..base + 8) {
        return u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([b' '; 8]));
    }
    let mut padded = [b' '; 8];
    for (to, from) in padded.iter_mut().zip(bytes.get(base..).unwrap_or_default()) {
        *to = *from;
    }
    u64::from_le_bytes(padded)
}

/// The number of values in `line`.
pub(super) fn count_tokens(line: &str) -> usize {
    Tokens::new(line).count()
}

/// The high bit of each byte of `word` that is `<= b' '` (every ASCII whitespace byte is), exact
/// per byte: masking to 7 bits first keeps additions from carrying into the next byte.
#[inline(always)]
fn at_most_space(word: u64) -> u64 {
    let low7 = (word & !HIGH_BITS) + ONES * (0x80 - 0x21);
    !(low7 | word) & HIGH_BITS
}

/// ASCII whitespace, decided with one comparison for the common non-space byte.
#[inline(always)]
fn is_separator(byte: u8) -> bool {
    byte <= b' ' && byte.is_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn tokens(line: &str) -> Vec<&str> {
        Tokens::new(line).collect()
    }

    #[test]
    fn splits_on_whitespace_runs() {
        let cases: [(&str, &[&str]); 10] = [
            ("abcdefg", &["abcdefg"]),
            ("abcdefgh", &["abcdefgh"]),
            ("abcdefgh ", &["abcdefgh"]),
            ("", &[]),
            ("   ", &[]),
            ("a", &["a"]),
            (
                "2 123456789010 eni-1 - -",
                &["2", "123456789010", "eni-1", "-", "-"],
            ),
            (" a  b\tc d\r\n", &["a", "b", "c", "d"]),
            (
                "abcdefgh ijklmnop qrstuvwx",
                &["abcdefgh", "ijklmnop", "qrstuvwx"],
            ),
            ("ü\u{1}x é\u{7f}\u{a0}z", &["ü\u{1}x", "é\u{7f}\u{a0}z"]),
        ];
        for (line, expected) in cases {
            assert_eq!(tokens(line), expected, "{line:?}");
            assert_eq!(count_tokens(line), expected.len(), "{line:?}");
        }
    }

    #[test]
    fn flags_exactly_the_low_bytes() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut chunk = [b'a'; 8];
                chunk[position] = byte;
                let expected = if byte <= b' ' {
                    0x80u64 << (8 * position)
                } else {
                    0
                };
                assert_eq!(
                    at_most_space(u64::from_le_bytes(chunk)),
                    expected,
                    "{byte} at {position}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn equals_split_ascii_whitespace(line in "[ a-z0-9\\t\\r\\n\\x00-\\x1f\u{80}-\u{10ffff}.:-]{0,80}") {
            prop_assert_eq!(tokens(&line), line.split_ascii_whitespace().collect::<Vec<_>>());
        }
    }
}

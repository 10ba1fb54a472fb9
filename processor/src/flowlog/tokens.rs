//! Splitting a flow-log line into its values, 32 bytes at a time.
//!
//! AWS separates values with single spaces. Runs of spaces (seen in AWS's own documentation
//! examples), tabs and a trailing `\r` are tolerated as well: they cannot be mistaken for a value,
//! because an absent value is always written `-`. The result equals
//! `str::split_ascii_whitespace`.
//!
//! Each 32-byte block becomes a bit mask of its whitespace bytes: on x86-64 with SSE2's byte
//! compares and `pmovmskb` on its two halves, reached through `safe_arch` because the workspace
//! forbids `unsafe`; elsewhere with eight-byte SWAR. Under callgrind, in the transform bench:
//! SSE2 masks took it from 226.8 M to 217.1 M instructions; exact masks, so that values are cut
//! without looking at a byte again, from 212.5 M to 209.5 M; 32-byte blocks instead of 16 (half
//! the refills a line) from 193.5 M to 190.1 M (SWAR: 205.3 M to 202.0 M). Everything here is
//! `#[inline(always)]`: it runs once per value and the `parse` bench slows down by a quarter
//! when the compiler outlines it.
#![allow(clippy::inline_always)]

/// Bytes of a `u64` each holding 1.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The whitespace-separated values of a line, in order.
pub(super) struct Tokens<'a> {
    line: &'a str,
    /// Offset of the block `candidates` describes.
    base: usize,
    /// One bit for each whitespace byte of the current block not yet visited.
    candidates: u32,
    /// Where the value being scanned began; `usize::MAX` once the last value is out.
    token_start: usize,
}

impl<'a> Tokens<'a> {
    #[inline(always)]
    pub(super) fn new(line: &'a str) -> Tokens<'a> {
        let candidates = block_mask(line.as_bytes(), 0);
        Tokens {
            line,
            base: 0,
            candidates,
            token_start: 0,
        }
    }
}

impl<'a> Iterator for Tokens<'a> {
    /// Where the value starts in the line, and its bytes: numbers and addresses are read as
    /// bytes, which spares the two char-boundary checks of slicing a `str`; text values are
    /// sliced from the line by the caller.
    type Item = (usize, &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let bytes = self.line.as_bytes();
        loop {
            while self.candidates != 0 {
                let at = self.base + self.candidates.trailing_zeros() as usize;
                self.candidates &= self.candidates - 1;
                let start = std::mem::replace(&mut self.token_start, at + 1);
                if at > start {
                    return Some((start, bytes.get(start..at)?));
                }
            }
            if self.base + BLOCK >= bytes.len() {
                // The last block is done: the last value, if any, runs to the end.
                let start = std::mem::replace(&mut self.token_start, usize::MAX);
                return if start < bytes.len() {
                    Some((start, bytes.get(start..)?))
                } else {
                    None
                };
            }
            self.base += BLOCK;
            self.candidates = block_mask(bytes, self.base);
        }
    }
}

/// Bytes scanned at a time.
const BLOCK: usize = 32;

/// Fills a block past the end of the line: not whitespace, so it adds no bit to a mask.
const PADDING: u8 = b'-';

/// Bit `i` set for each byte `base + i` of `bytes` that is ASCII whitespace, from `bits`, the
/// mask of one whole block. The last block of a line at least a block long is read as the
/// line's last [`BLOCK`] bytes, overlapping the block before, and its mask shifted; shorter
/// lines are padded with [`PADDING`]. Copying each line's tail into a padded block instead
/// cost the transform bench 0.5 M instructions more (163.88 M against 163.35 M, callgrind).
#[inline(always)]
fn mask_from(bytes: &[u8], base: usize, bits: impl Fn(&[u8; BLOCK]) -> u32) -> u32 {
    let whole = |at: usize| <[u8; BLOCK]>::try_from(bytes.get(at..at + BLOCK)?).ok();
    if let Some(block) = whole(base) {
        return bits(&block);
    }
    if let Some(last) = bytes.len().checked_sub(BLOCK)
        && let Some(block) = whole(last)
    {
        // The block starts `base - last` bytes early; a whole block early (`base` at the end
        // of the line) leaves nothing.
        let early = base.saturating_sub(last) as u32;
        return bits(&block).checked_shr(early).unwrap_or(0);
    }
    let mut padded = [PADDING; BLOCK];
    for (to, from) in padded.iter_mut().zip(bytes.get(base..).unwrap_or_default()) {
        *to = *from;
    }
    bits(&padded)
}

/// Bit `i` set for each byte `base + i` of `bytes` that is ASCII whitespace: SSE2's byte
/// compares and masks, present on every x86-64. Flow logs separate values with spaces, so the
/// mask of spaces is the answer whenever it equals the mask of bytes `<= b' '`; a block with
/// a tab, `\r` or control byte is sorted out byte by byte.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_mask(bytes: &[u8], base: usize) -> u32 {
    mask_from(bytes, base, sse2_bits)
}

/// The whitespace mask of one block, with SSE2 ([`block_mask`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sse2_bits(block: &[u8; BLOCK]) -> u32 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, max_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let space = set_splat_i8_m128i(b' ' as i8);
    let half = |at: usize| {
        let lanes = load_unaligned_m128i(
            &<[u8; 16]>::try_from(&block[at..at + 16]).unwrap_or([PADDING; 16]),
        );
        let spaces = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(lanes, space)).cast_unsigned();
        // max(b, ' ') == ' ' exactly when b <= ' ', unsigned.
        let low = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(max_u8_m128i(lanes, space), space))
            .cast_unsigned();
        (spaces, low)
    };
    let ((spaces0, low0), (spaces1, low1)) = (half(0), half(16));
    let (spaces, low) = (spaces0 | spaces1 << 16, low0 | low1 << 16);
    if spaces == low {
        spaces
    } else {
        whitespace_mask(block)
    }
}

/// Bit `i` set for each byte `i` of `block` that is ASCII whitespace, byte by byte.
#[inline(never)]
fn whitespace_mask(block: &[u8; BLOCK]) -> u32 {
    block.iter().enumerate().fold(0, |mask, (i, b)| {
        mask | u32::from(b.is_ascii_whitespace()) << i
    })
}

/// [`block_mask`] eight bytes at a time, where SSE2 is absent (arm64 Lambdas).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_mask(bytes: &[u8], base: usize) -> u32 {
    block_mask_swar(bytes, base)
}

/// [`block_mask`] without SIMD instructions: compiled everywhere, so x86-64 tests it too.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn block_mask_swar(bytes: &[u8], base: usize) -> u32 {
    mask_from(bytes, base, swar_bits)
}

/// The whitespace mask of one block, eight bytes at a time ([`block_mask_swar`]).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn swar_bits(block: &[u8; BLOCK]) -> u32 {
    // Gathers the high bit of each byte into the low byte: bit 8k+7 moves to bit 56+k, and no
    // two partial products overlap.
    let gather = |high: u64| ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32;
    let word = |at: usize| {
        u64::from_le_bytes(<[u8; 8]>::try_from(&block[at..at + 8]).unwrap_or([PADDING; 8]))
    };
    let space = ONES * u64::from(b' ');
    let (mut spaces, mut low) = (0, 0);
    for at in (0..BLOCK).step_by(8) {
        spaces |= gather(zero_bytes(word(at) ^ space)) << at;
        low |= gather(at_most_space(word(at))) << at;
    }
    if spaces == low {
        spaces
    } else {
        whitespace_mask(block)
    }
}

/// The high bit of each zero byte of `word`, exact per byte.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    !(((word & !HIGH_BITS) + !HIGH_BITS) | word) & HIGH_BITS
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The values as text; each starts where the tokenizer says.
    fn tokens(line: &str) -> Vec<&str> {
        Tokens::new(line)
            .map(|(start, bytes)| {
                let text = &line[start..start + bytes.len()];
                assert_eq!(text.as_bytes(), bytes);
                text
            })
            .collect()
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
        crate::fixtures::assert_word_mask(at_most_space, b'a', |b| b <= b' ');
        crate::fixtures::assert_word_mask(zero_bytes, b'a', |b| b == 0);
    }

    #[test]
    fn block_masks_flag_exactly_the_whitespace() {
        for byte in 0..=255u8 {
            for position in 0..BLOCK {
                let mut block = [b'a'; BLOCK];
                block[position] = byte;
                let expected = if byte.is_ascii_whitespace() {
                    1u32 << position
                } else {
                    0
                };
                assert_eq!(block_mask(&block, 0), expected, "{byte} at {position}");
                assert_eq!(block_mask_swar(&block, 0), expected, "{byte} at {position}");
            }
        }
        // Nothing past the end counts.
        assert_eq!(block_mask(b"a c", 0), 0b10);
        assert_eq!(block_mask_swar(b"a c", 0), 0b10);
        assert_eq!(block_mask(&[b' '; 20], 16), 0b1111);
        assert_eq!(block_mask_swar(&[b' '; 20], 16), 0b1111);
    }

    proptest! {
        #[test]
        fn block_masks_flag_the_whitespace(
            bytes in prop::collection::vec(
                prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r'), Just(1u8), b'!'..=b'~', any::<u8>()],
                0..80,
            ),
            base in 0..80usize,
        ) {
            let base = base.min(bytes.len());
            // Nothing past the end counts.
            let expected = (0..BLOCK).fold(0u32, |mask, i| {
                let whitespace = bytes.get(base + i).is_some_and(u8::is_ascii_whitespace);
                mask | u32::from(whitespace) << i
            });
            prop_assert_eq!(block_mask(&bytes, base), expected);
            prop_assert_eq!(block_mask_swar(&bytes, base), expected);
        }

        #[test]
        fn equals_split_ascii_whitespace(line in "[ a-z0-9\\t\\r\\n\\x00-\\x1f\u{80}-\u{10ffff}.:-]{0,80}") {
            prop_assert_eq!(tokens(&line), line.split_ascii_whitespace().collect::<Vec<_>>());
        }
    }
}

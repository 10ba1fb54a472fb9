//! IP address text to [`IpAddr`], accepting exactly what the standard library's `FromStr`
//! accepts and reading the same address, without its generic parser.
//!
//! Four of a line's values are addresses, so this is on the hot path: the standard library
//! spent about 600 instructions on an IPv6 address (callgrind), which would make IPv6 clusters'
//! lines half again as costly as IPv4 ones. Both parsers here follow the standard library's
//! grammar step by step (`core::net::parser`), and the tests compare them with it on generated
//! near-miss text as well as on valid addresses:
//! - IPv4: four decimal octets of one to three digits separated by `.`, no leading zero;
//! - IPv6: up to eight groups of one to four hex digits separated by `:`, one `::` standing for
//!   at least one zero group, and an IPv4 address for the last two groups, tried before a hex
//!   group wherever two groups are left. No zone (`%eth0`) and no brackets.
//!
//! The IPv4 readers are `#[inline(always)]`: left out of line, an IPv4 address cost four times
//! the instructions (callgrind, transform bench).
#![allow(clippy::inline_always)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address `text` holds, or `None` where the standard library would refuse it.
#[inline]
pub(super) fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    match parse_ipv4(text) {
        Some(v4) => Some(IpAddr::V4(v4)),
        None => parse_ipv6(text).map(IpAddr::V6),
    }
}

/// An IPv4 address that is the whole of `text`.
#[inline]
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    // Shortest `0.0.0.0`, longest `255.255.255.255`.
    if !(7..=15).contains(&text.len()) {
        return None;
    }
    match read_ipv4(text, 0) {
        Some((v4, end)) if end == text.len() => Some(v4),
        _ => None,
    }
}

/// An IPv4 address at the start of `text[at..]`, and where it ends.
#[inline(always)]
fn read_ipv4(text: &[u8], mut at: usize) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    for (index, octet) in octets.iter_mut().enumerate() {
        if index > 0 {
            if text.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let (value, end) = read_octet(text, at)?;
        *octet = value;
        at = end;
    }
    Some((Ipv4Addr::from(octets), at))
}

/// A decimal octet at `text[at..]`: like the standard library, every digit there is read, and
/// more than three, a leading zero (`01`) or a value over 255 refuse it.
#[inline(always)]
fn read_octet(text: &[u8], mut at: usize) -> Option<(u8, usize)> {
    let first = decimal(text.get(at))?;
    at += 1;
    let mut value = u16::from(first);
    let mut digits = 1;
    while let Some(digit) = decimal(text.get(at)) {
        digits += 1;
        if digits > 3 || first == 0 {
            return None;
        }
        value = value * 10 + u16::from(digit);
        at += 1;
    }
    Some((u8::try_from(value).ok()?, at))
}

#[inline(always)]
fn decimal(byte: Option<&u8>) -> Option<u8> {
    let digit = byte?.wrapping_sub(b'0');
    (digit <= 9).then_some(digit)
}

/// An IPv6 address that is the whole of `text`.
#[inline(never)]
fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    // Shortest `::`, longest eight groups of four (39) or six and an IPv4 address (45).
    if !(2..=45).contains(&text.len()) {
        return None;
    }
    let mut head = [0u16; 8];
    let (head_len, head_v4, mut at) = read_groups(text, 0, &mut head);
    if head_len < 8 {
        // An IPv4 address ends the address: it cannot come before `::`.
        if head_v4 || text.get(at..at + 2) != Some(b"::".as_slice()) {
            return None;
        }
        at += 2;
        // `::` stands for at least one group, so at most seven follow it.
        let mut tail = [0u16; 7];
        let limit = 8 - (head_len + 1);
        let (tail_len, _, end) = read_groups(text, at, &mut tail[..limit]);
        head[8 - tail_len..].copy_from_slice(&tail[..tail_len]);
        at = end;
    }
    (at == text.len()).then(|| Ipv6Addr::from(head))
}

/// Reads up to `groups.len()` `:`-separated groups from `text[at..]`, the last two of them
/// possibly an IPv4 address: how many were read, whether they ended with an IPv4 address, and
/// where reading stopped. A separator is consumed only with the group after it, so a `::`
/// after the groups is left to the caller.
#[inline]
fn read_groups(text: &[u8], mut at: usize, groups: &mut [u16]) -> (usize, bool, usize) {
    let limit = groups.len();
    for i in 0..limit {
        let start = if i == 0 {
            at
        } else if text.get(at) == Some(&b':') {
            at + 1
        } else {
            return (i, false, at);
        };
        // An IPv4 address needs two groups' room.
        if i + 1 < limit
            && let Some((v4, end)) = read_ipv4(text, start)
        {
            let [a, b, c, d] = v4.octets();
            groups[i] = u16::from_be_bytes([a, b]);
            groups[i + 1] = u16::from_be_bytes([c, d]);
            return (i + 2, true, end);
        }
        match read_hex_group(text, start) {
            Some((group, end)) => {
                groups[i] = group;
                at = end;
            }
            None => return (i, false, at),
        }
    }
    (limit, false, at)
}

/// A group of hex digits (either case, leading zeros allowed) at `text[at..]`: like the standard
/// library, every hex digit there is read, and none or more than four refuse it.
#[inline(always)]
fn read_hex_group(text: &[u8], mut at: usize) -> Option<(u16, usize)> {
    let mut value = u16::from(hex(*text.get(at)?)?);
    at += 1;
    let mut digits = 1;
    while let Some(digit) = text.get(at).and_then(|&b| hex(b)) {
        digits += 1;
        if digits > 4 {
            return None;
        }
        value = value << 4 | u16::from(digit);
        at += 1;
    }
    Some((value, at))
}

#[inline(always)]
fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn std_ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn agrees_with_std_on_hand_picked_text() {
        let cases = [
            "0.0.0.0",
            "10.0.0.1",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.04",
            "1000.1.1.1",
            "1.2.3.0",
            "a.b.c.d",
            "1.2.3.4 ",
            "",
            "::",
            "::1",
            "1::",
            ":::",
            "1:::2",
            "::1::",
            "2600:1f18:abcd:1234:5678:9abc:def0:1234",
            "2600:1F18:ABCD:1234:5678:9ABC:DEF0:1234",
            "2600:1f18:abcd:1234:5678:9abc:def0:1234:5",
            "2600:1f18:abcd:1234:5678:9abc:def0",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "1::2:3:4:5:6:7:8",
            "fe80::1%eth0",
            "[::1]",
            "00000::1",
            "0000::1",
            "12345::1",
            "::ffff:10.0.0.1",
            "::ffff:10.0.0.256",
            "::ffff:10.0.0",
            "64:ff9b::192.0.2.33",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:2:3:4:5:1.2.3.4",
            "1.2.3.4::",
            "1.2.3.4::1",
            "::1.2.3.4:5",
            "1:2:3:4:5:6:7:1.2",
            "::1.2.3.04",
            "::01.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "a:b:c:d:e:f:0:1",
            "g::1",
            ":1::",
            "1:",
            ":",
        ];
        for case in cases {
            assert_eq!(parse_ip(case.as_bytes()), std_ip(case), "{case:?}");
        }
    }

    /// Text near the grammar: the pieces of valid addresses, put together at random.
    fn near_address() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[0-9a-fA-F]{1,5}",
            "[0-9]{1,4}",
            Just(":".to_owned()),
            Just("::".to_owned()),
            Just(".".to_owned()),
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            "[g%\\[\\] -]",
        ];
        proptest::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn agrees_with_std_near_the_grammar(text in near_address()) {
            prop_assert_eq!(parse_ip(text.as_bytes()), std_ip(&text), "{:?}", text);
        }

        #[test]
        fn ipv4_is_read_only_as_display_writes_it(
            text in prop_oneof![near_address(), "[0-9]{1,3}(\\.[0-9]{1,3}){3}"],
        ) {
            // Rows borrow an IPv4 address's text from the line (`AddressSpelling`).
            if let Some(IpAddr::V4(v4)) = parse_ip(text.as_bytes()) {
                prop_assert_eq!(v4.to_string(), text);
            }
        }

        #[test]
        fn agrees_with_std_on_any_text(text in "\\PC{0,48}") {
            prop_assert_eq!(parse_ip(text.as_bytes()), std_ip(&text), "{:?}", text);
        }

        #[test]
        fn reads_back_every_address_std_writes(
            octets in any::<[u8; 16]>(),
            v4 in any::<bool>(),
            mapped in any::<bool>(),
        ) {
            let ip = if v4 {
                IpAddr::from([octets[0], octets[1], octets[2], octets[3]])
            } else {
                IpAddr::from(octets)
            };
            let text = ip.to_string();
            prop_assert_eq!(parse_ip(text.as_bytes()), Some(ip));
            if let (IpAddr::V4(v4), true) = (ip, mapped) {
                let text = format!("::ffff:{v4}");
                prop_assert_eq!(parse_ip(text.as_bytes()), std_ip(&text));
            }
        }
    }
}

//! A small fast hasher for the generator's internal maps (IPs, endpoint keys).
//!
//! The keys are the generator's own values, never attacker-controlled, so SipHash's flood
//! resistance buys nothing while costing a third of the generation time. This is the
//! multiply-rotate scheme of rustc's FxHasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of FxHash (from the golden ratio).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash-style hasher.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.hash = (self.hash.rotate_left(5) ^ value).wrapping_mul(SEED);
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn maps_work_and_nearby_ips_spread() {
        let mut map: FastMap<IpAddr, usize> = FastMap::default();
        for i in 0..1000u32 {
            map.insert(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), i as usize);
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map[&IpAddr::V4(Ipv4Addr::new(10, 0, 1, 7))], 263);
        let hash = |ip: u32| {
            let mut h = FastHasher::default();
            std::hash::Hash::hash(&Ipv4Addr::from(ip), &mut h);
            h.finish()
        };
        assert_ne!(
            hash(1) >> 57,
            hash(2) >> 57,
            "top bits must differ for adjacent keys"
        );
    }
}

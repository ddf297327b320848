//! Deterministic hashing and seeded random streams.
//!
//! Everything that must repeat run after run (block hashes, token text, output lengths,
//! step jitter, start-up jitter) draws from these functions, never from `std`'s randomly
//! keyed hashers, so the same seed and inputs give the same bits on every machine.

/// The splitmix64 finaliser: a fast, well-mixed bijection on `u64`.
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Combine two values into one well-mixed hash (order matters).
pub const fn mix(a: u64, b: u64) -> u64 {
    splitmix64(a.rotate_left(17) ^ splitmix64(b))
}

/// Hash a byte string (FNV-1a, then finalised with splitmix64).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    splitmix64(h)
}

/// The seed of one purpose-specific stream, so adding randomness in one place never
/// perturbs another (sim-model.md §4).
pub fn stream_seed(seed: u64, purpose: &str) -> u64 {
    mix(seed, hash_bytes(purpose.as_bytes()))
}

/// Hash of one KV block: the previous block's hash chained with this block's token ids
/// (sim-model.md §2.8). The first block chains from `0`.
pub fn chain_block_hash(prev: u64, tokens: &[u32]) -> u64 {
    let mut h = prev ^ 0x5851_F42D_4C95_7F2D;
    for &t in tokens {
        h = mix(h, u64::from(t));
    }
    // Never 0, so 0 can mean "no hash" in the block pool.
    h | 1
}

/// A small seeded generator (splitmix64 stream) with uniform and normal draws.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose sequence depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next uniformly distributed `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.state)
    }

    /// A uniform draw in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller, one value per call).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A uniform draw in `[0, 1)` from a single hash value.
pub fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hash_depends_on_prefix_and_content() {
        let a = chain_block_hash(0, &[1, 2, 3]);
        assert_eq!(a, chain_block_hash(0, &[1, 2, 3]));
        assert_ne!(a, chain_block_hash(0, &[1, 2, 4]));
        assert_ne!(chain_block_hash(a, &[5]), chain_block_hash(7, &[5]));
        assert_ne!(a, 0);
    }

    #[test]
    fn streams_are_independent_and_repeatable() {
        assert_ne!(stream_seed(1, "jitter"), stream_seed(1, "text"));
        assert_eq!(stream_seed(1, "jitter"), stream_seed(1, "jitter"));
        let mut r1 = SeededRng::new(9);
        let mut r2 = SeededRng::new(9);
        for _ in 0..10 {
            assert_eq!(r1.next_u64(), r2.next_u64());
        }
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut rng = SeededRng::new(42);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}

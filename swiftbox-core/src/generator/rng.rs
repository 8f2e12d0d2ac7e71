//! A tiny deterministic PRNG (SplitMix64) and integer-only weighted sampling, so generated
//! shops never change with a dependency's version or a platform's floating point.

/// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, full period, good enough mixing for
/// demo data, and trivially reproducible.
#[derive(Debug, Clone)]
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32 for our sizes).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `percent / 100`.
    pub(super) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The SplitMix64 finaliser: a bijective 64-bit mix.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf-like sampling (exponent 1) over `0..n`: item `r` has integer weight `SCALE / (r + 1)`,
/// so the first items are the supernodes. Sampling is a binary search over cumulative weights.
#[derive(Debug, Clone)]
pub(super) struct Zipf {
    cumulative: Vec<u64>,
}

impl Zipf {
    const SCALE: u64 = 1 << 40;

    pub(super) fn new(n: usize) -> Self {
        let mut total = 0u64;
        let cumulative = (0..n as u64)
            .map(|r| {
                total += Self::SCALE / (r + 1);
                total
            })
            .collect();
        Self { cumulative }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// An index in `0..n`; `None` when `n == 0`.
    pub(super) fn sample(&self, rng: &mut SplitMix64) -> Option<usize> {
        let total = *self.cumulative.last()?;
        let x = rng.below(total);
        Some(self.cumulative.partition_point(|c| *c <= x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 1234567 (from the reference C code).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn zipf_prefers_the_head() {
        let z = Zipf::new(100);
        let mut r = SplitMix64::new(7);
        let mut hits = [0u32; 100];
        for _ in 0..10_000 {
            hits[z.sample(&mut r).unwrap_or(99)] += 1;
        }
        assert!(hits[0] > hits[9] * 5, "{hits:?}");
        assert!(hits.iter().all(|h| *h < 10_000));
        assert!(Zipf::new(0).sample(&mut r).is_none());
    }
}

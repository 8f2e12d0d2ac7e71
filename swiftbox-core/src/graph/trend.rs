//! The arithmetic of trending's hourly buckets, shared by every backend that keeps them (the
//! memory graph, the Neo4j graph), so that all compute a bucket's exact sum with the same code
//! and get the same bits.
//!
//! [`super::GraphStore::trending`] scores a product `sum(quantity * 0.5^(age_ms / h))` over
//! its purchases in the window. With whole-millisecond times, `age_ms = now_ms - t_ms`, and for a
//! bucket of [`BUCKET_MS`] starting at `s` each term factors as `quantity * 2^((t_ms - s) / h) *
//! 0.5^((now_ms - s) / h)`. For `h` = [`CACHED_HALF_LIFE_MS`] the first factor does not depend on
//! the query and lies in `[1, 2^(1/24))`, so its `f64` is exactly `m * 2^-52` for an integer
//! [`mantissa`] `m < 2^53`; a bucket keeps `sum(quantity * m)` exactly, and a bucket wholly
//! inside a query's window contributes [`bucket_value`] of that sum times [`bucket_decay`].
//! The exact sum does not depend on the order lines arrived or left in (a removal subtracts
//! exactly), so an answer depends only on the data and the query.
//!
//! A store without 128-bit integers keeps the sum as two `i64` halves ([`split`]): `hi =
//! sum(quantity * (m >> 26))` and `lo = sum(quantity * (m & (2^26 - 1)))`. While both are below
//! 2^53 in magnitude (a bucket of at most 2^26 units, since `m >> 26 < 2^27` and the low part is
//! below 2^26), `hi as f64 * 2^26 + lo as f64` is one correctly rounded addition of exact
//! values, which is `(hi * 2^26 + lo) as f64`: the same `f64` as [`bucket_value`]'s input.

/// Bucket width: one hour, in milliseconds.
pub const BUCKET_MS: i64 = 3_600_000;

/// The half-life whose decay sums the buckets keep: the default of
/// [`super::TrendingQuery::new`], 24 hours, in milliseconds.
pub const CACHED_HALF_LIFE_MS: i64 = 86_400_000;

/// `2^52`: a weight in `[1, 2)` times this is its exact integer mantissa.
pub const MANTISSA_SCALE: f64 = 4_503_599_627_370_496.0;

/// How many low bits of a mantissa [`split`] puts in its low half.
pub const SPLIT_BITS: u32 = 26;

/// The bucket (hour number since the epoch) of a time in milliseconds since the epoch.
pub fn bucket_of_ms(t_ms: i64) -> i64 {
    t_ms.div_euclid(BUCKET_MS)
}

/// The first millisecond of bucket `key`.
pub fn bucket_start_ms(key: i64) -> i64 {
    key * BUCKET_MS
}

/// `m` of a line at `t_ms` in the bucket starting at `start_ms`: `2^((t_ms - start_ms) / 24 h)`
/// times 2^52, an exact integer in `[2^52, 2^53)` for a time inside the bucket.
pub fn mantissa(start_ms: i64, t_ms: i64) -> i64 {
    let offset = (t_ms - start_ms) as f64;
    let weight = 2f64.powf(offset / CACHED_HALF_LIFE_MS as f64);
    // weight is in [1, 2), so weight * 2^52 is an exact integer below 2^53.
    (weight * MANTISSA_SCALE) as i64
}

/// A mantissa's high and low halves: `m = hi * 2^26 + lo`, `0 <= lo < 2^26`.
pub fn split(m: i64) -> (i64, i64) {
    (m >> SPLIT_BITS, m & ((1 << SPLIT_BITS) - 1))
}

/// The exact sum kept as two halves, back in one integer: `hi * 2^26 + lo`.
pub fn join(hi: i64, lo: i64) -> i128 {
    (i128::from(hi) << SPLIT_BITS) + i128::from(lo)
}

/// `0.5^((now_ms - start_ms) / 24 h)`: the decay shared by every bucket starting at
/// `start_ms`.
pub fn bucket_decay(now_ms: i64, start_ms: i64) -> f64 {
    let age = (now_ms - start_ms) as f64;
    0.5f64.powf(age / CACHED_HALF_LIFE_MS as f64)
}

/// The score a bucket wholly inside the window adds, before its decay: the exact sum
/// `sum(quantity * m)` as `f64`, over 2^52 (`decay` is [`bucket_decay`] of its start).
pub fn bucket_value(sum: i128, decay: f64) -> f64 {
    sum as f64 / MANTISSA_SCALE * decay
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mantissa of a bucket is below 2^53 and splits and joins back exactly.
    #[test]
    fn mantissas_fit_and_split_exactly() {
        let start = bucket_start_ms(493_000);
        for off in [0, 1, 1_799_999, 3_599_998, 3_599_999] {
            let m = mantissa(start, start + off);
            assert!((1i64 << 52..1i64 << 53).contains(&m), "{off}: {m}");
            let (hi, lo) = split(m);
            assert!(hi < 1 << 27 && (0..1 << SPLIT_BITS).contains(&lo));
            assert_eq!(join(hi, lo), i128::from(m));
        }
        assert_eq!(mantissa(start, start), 1 << 52);
        assert_eq!(bucket_of_ms(-1), -1);
        assert_eq!(bucket_of_ms(BUCKET_MS), 1);
    }

    /// Two halves below 2^53 give the exact sum's `f64` with one float addition, as a store
    /// without 128-bit integers computes it.
    #[test]
    fn halves_recombine_to_the_same_float() {
        let start = bucket_start_ms(7);
        let (mut hi, mut lo, mut sum) = (0i64, 0i64, 0i128);
        for i in 0..5_000i64 {
            let q = 1 + i % 10_000;
            let m = mantissa(start, start + (i * 719) % BUCKET_MS);
            let (h, l) = split(m);
            hi += q * h;
            lo += q * l;
            sum += i128::from(q) * i128::from(m);
            assert_eq!(join(hi, lo), sum);
            let two = hi as f64 * (1u64 << SPLIT_BITS) as f64 + lo as f64;
            assert_eq!(two.to_bits(), (sum as f64).to_bits(), "line {i}");
        }
    }
}

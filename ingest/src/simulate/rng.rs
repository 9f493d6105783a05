//! A tiny deterministic PRNG (SplitMix64) and the cheap samplers the feed needs.
//!
//! No `rand` dependency: the feed must be reproducible byte for byte from its seed on
//! every platform, and SplitMix64 is small, fast and statistically more than good enough
//! for simulated sensor noise.

/// The SplitMix64 finaliser: a bijective, well-avalanching 64-bit mix.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a byte string, used to derive a stable per-entity stream from its id.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for the stream `stream` of the feed seeded with `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Self {
            state: mix64(seed ^ mix64(stream.wrapping_add(0x9e37_79b9_7f4a_7c15))),
        }
    }

    /// A generator for the entity with id `id` (stable when other entities are added).
    pub(crate) fn for_id(seed: u64, salt: u64, id: &str) -> Self {
        Self::new(seed, fnv1a(id.as_bytes()) ^ salt)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n` (`0` when `n` is `0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately standard normal (Irwin–Hall sum of four uniforms, bounded to ±3.46).
    pub(crate) fn normal(&mut self) -> f64 {
        let s = self.unit() + self.unit() + self.unit() + self.unit();
        (s - 2.0) * 3.0_f64.sqrt()
    }

    /// Poisson-distributed count with mean `mean`: Knuth's product method for small
    /// means, a rounded normal approximation above.
    pub(crate) fn poisson(&mut self, mean: f64) -> u32 {
        if mean.is_nan() || mean <= 0.0 {
            return 0;
        }
        if mean < 15.0 {
            let limit = (-mean).exp();
            let cap = (mean * 10.0) as u32 + 30;
            let mut p = self.unit();
            let mut k = 0;
            while p > limit && k < cap {
                p *= self.unit();
                k += 1;
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal() + 0.5).floor().max(0.0) as u32
        }
    }

    /// Binomial count of successes in `n` trials of probability `p`.
    pub(crate) fn binomial(&mut self, n: u32, p: f64) -> u32 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if n <= 40 {
            (0..n).filter(|_| self.unit() < p).count() as u32
        } else {
            let mean = f64::from(n) * p;
            let sd = (mean * (1.0 - p)).max(0.0).sqrt();
            (mean + sd * self.normal() + 0.5)
                .floor()
                .clamp(0.0, f64::from(n)) as u32
        }
    }
}

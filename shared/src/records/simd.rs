//! SIMD byte classification for the two scans that read every byte of a message: the decoder's search
//! for the end of each `message` string ([`crate::records::subscription`]) and escaped mode's search for the next
//! backslash while it skips a body ([`crate::records::scan`]).
//!
//! Both need the same few questions answered about many bytes at once — which are `\`, which are `"`,
//! which are control bytes (< 0x20) — as bit masks (bit `i` for byte `i`). Each instruction set answers
//! them for 16, 32 or 64 bytes per compare:
//!
//! - **x86-64**: SSE2 (part of the x86-64 baseline, so always there), AVX2 (detected at run time:
//!   [`Avx2::detect`]) and AVX-512BW ([`Avx512::detect`]), whose compares give the 64-bit masks
//!   directly.
//! - **aarch64**: NEON (part of the aarch64 baseline; the Lambda runs on Graviton), with PMULL for the
//!   prefix XOR where detected.
//! - anywhere else: [`Portable`], eight bytes per 64-bit word operation (SWAR).
//!
//! Every path is tested against a byte-at-a-time reference on random and adversarial blocks (the
//! tests below; the aarch64 path runs under qemu in `scripts/test.d/35-aarch64-scan.sh`), and the
//! scans built on them are run with every classifier the CPU has (`each_classifier`, in tests).
//!
//! `unsafe` is confined to this module: the intrinsics themselves (loads from a `&[u8; 64]` or from a
//! slice whose length was checked first) and calling an AVX2 or AVX-512 function, which is sound only
//! on a CPU that has it — so the [`Avx2`] and [`Avx512`] tokens can only be obtained from their
//! `detect`.

/// Classification of a 64-byte block: bit `i` of each mask describes byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    pub backslash: u64,
    pub quote: u64,
    /// Bytes below 0x20 (raw control characters, which a JSON string cannot hold).
    pub control: u64,
    /// `{`, `[`, `}` and `]`: escaped mode's skip of a container counts them outside strings (and
    /// reads each one's byte to tell which it is). One mask for the four: one movemask, not two.
    /// (A scan that does not read them does not compute them: the classification inlines into it.)
    pub bracket: u64,
}

/// A way to classify 64 bytes. Implementations are zero-sized tokens; holding one means its
/// instructions can run on this CPU.
pub(crate) trait Classify: Copy {
    fn classify(self, block: &[u8; 64]) -> Masks;

    /// Whether a block scan should test each block for "nothing to do here" (no backslash, no quote,
    /// no bracket outside strings: a third of a body-heavy batch's blocks, mixed with the rest) and
    /// go straight on. The test's branch is often mispredicted; without it the whole step runs on
    /// every block. With AVX-512, whose masks come straight from its compares, going without the
    /// skip is faster (measured); with AVX2 the two measured the same within noise, and SSE2, NEON and
    /// the portable classifier were not measured: those keep the skip they had (BENCHMARKS.md, seventh
    /// round).
    const SKIP_PLAIN_BLOCKS: bool = true;

    /// Bit `i` set when an odd number of the bits of `x` at or below `i` are set (a string mask from
    /// its quotes): six shifts and XORs, or one carry-less multiply by all ones where the CPU has it.
    #[inline(always)]
    fn prefix_xor(self, x: u64) -> u64 {
        prefix_xor_by_shifts(x)
    }

    /// The least byte of the blocks seen so far, per lane, kept in registers: whether any of them is a
    /// control byte is then one test after the last block ([`Classify::saw_control`]) instead of a mask
    /// per block.
    type Least: Copy;
    /// Before the first block.
    fn least_start(self) -> Self::Least;
    /// `least` with `block`'s bytes seen too.
    fn least_with(self, least: Self::Least, block: &[u8; 64]) -> Self::Least;
    /// Whether a byte below 0x20 was among the bytes seen.
    fn saw_control(self, least: Self::Least) -> bool;
}

/// [`Classify::prefix_xor`] by shifts: any target.
#[inline(always)]
pub(crate) fn prefix_xor_by_shifts(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// A scan that runs with whichever [`Classify`] the CPU offers ([`dispatch`]): written once, generic,
/// and compiled once per instruction set.
pub(crate) trait BlockScan {
    type Out;
    fn run<C: Classify>(self, c: C) -> Self::Out;
}

/// Runs `scan` with the best classifier of this CPU: on x86-64, AVX-512 (F, BW and PCLMULQDQ) when
/// detected, else AVX2 (with PCLMULQDQ) when detected, else SSE2; NEON on aarch64, with PMULL for the
/// prefix XOR when detected (every Graviton has it); the portable one elsewhere.
#[inline]
pub(crate) fn dispatch<S: BlockScan>(scan: S) -> S::Out {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(avx512) = Avx512::detect() {
            // SAFETY: `avx512` exists, so the CPU has AVX-512F, AVX-512BW and PCLMULQDQ (see
            // `Avx512::detect`).
            return unsafe { run_avx512(scan, avx512) };
        }
        if let Some(avx2) = Avx2::detect() {
            // SAFETY: `avx2` exists, so the CPU has AVX2 (see `Avx2::detect`).
            return unsafe { run_avx2(scan, avx2) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if let Some(pmull) = NeonPmull::detect() {
            // SAFETY: `pmull` exists, so the CPU has PMULL (see `NeonPmull::detect`).
            return unsafe { run_neon_pmull(scan, pmull) };
        }
    }
    scan.run(Native::default())
}

/// What the tests run with each classifier of this CPU ([`each_classifier`]).
#[cfg(test)]
pub(crate) trait EachClassifier {
    fn visit<C: Classify>(&mut self, name: &'static str, c: C);
}

/// Visits every classifier this CPU can run: the portable one, the target's baseline, and those
/// detected at run time, each also with its [`Classify::SKIP_PLAIN_BLOCKS`] reversed
/// ([`FlipSkip`]). The tests of the scans built on [`dispatch`] hold each one to the same answer, so
/// that a path the dispatch does not take on this machine is still tested here — the plain-block
/// skip and the step without it too, on a CPU where every classifier makes the same choice.
#[cfg(test)]
pub(crate) fn each_classifier(v: &mut impl EachClassifier) {
    v.visit("portable", Portable);
    v.visit("portable, skip reversed", FlipSkip(Portable));
    #[cfg(target_arch = "x86_64")]
    {
        v.visit("sse2", Sse2);
        v.visit("sse2, skip reversed", FlipSkip(Sse2));
        if let Some(avx2) = Avx2::detect() {
            v.visit("avx2", avx2);
            v.visit("avx2, skip reversed", FlipSkip(avx2));
        }
        if let Some(avx512) = Avx512::detect() {
            v.visit("avx512", avx512);
            v.visit("avx512, skip reversed", FlipSkip(avx512));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        v.visit("neon", Neon);
        v.visit("neon, skip reversed", FlipSkip(Neon));
        if let Some(pmull) = NeonPmull::detect() {
            v.visit("neon+pmull", pmull);
            v.visit("neon+pmull, skip reversed", FlipSkip(pmull));
        }
    }
}

/// `C` with its choice of skipping plain blocks reversed, everything else its own: the tests run the
/// block scans both ways with every classifier ([`each_classifier`]).
#[cfg(test)]
#[derive(Clone, Copy)]
struct FlipSkip<C>(C);

#[cfg(test)]
impl<C: Classify> Classify for FlipSkip<C> {
    type Least = C::Least;

    const SKIP_PLAIN_BLOCKS: bool = !C::SKIP_PLAIN_BLOCKS;

    fn classify(self, block: &[u8; 64]) -> Masks {
        self.0.classify(block)
    }
    fn prefix_xor(self, x: u64) -> u64 {
        self.0.prefix_xor(x)
    }
    fn least_start(self) -> C::Least {
        self.0.least_start()
    }
    fn least_with(self, least: C::Least, block: &[u8; 64]) -> C::Least {
        self.0.least_with(least, block)
    }
    fn saw_control(self, least: C::Least) -> bool {
        self.0.saw_control(least)
    }
}

/// Compiles `scan.run` (inlined here) with the AES extension's PMULL enabled, so that the carry-less
/// prefix XOR inlines into its loop.
///
/// # Safety
/// The CPU must have PMULL (the `aes` feature); holding a [`NeonPmull`] proves it.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "aes")]
unsafe fn run_neon_pmull<S: BlockScan>(scan: S, pmull: NeonPmull) -> S::Out {
    scan.run(pmull)
}

/// Compiles `scan.run` (inlined here) with AVX2 and PCLMULQDQ enabled, so that the AVX2
/// classification and the carry-less prefix XOR inline into its loop instead of being calls per block.
///
/// # Safety
/// The CPU must have AVX2 and PCLMULQDQ; holding an [`Avx2`] proves it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
unsafe fn run_avx2<S: BlockScan>(scan: S, avx2: Avx2) -> S::Out {
    scan.run(avx2)
}

/// Compiles `scan.run` (inlined here) with AVX-512F/BW and PCLMULQDQ enabled: one 64-byte load per
/// block, and compares straight into 64-bit masks.
///
/// # Safety
/// The CPU must have AVX-512F, AVX-512BW and PCLMULQDQ; holding an [`Avx512`] proves it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,pclmulqdq")]
unsafe fn run_avx512<S: BlockScan>(scan: S, avx512: Avx512) -> S::Out {
    scan.run(avx512)
}

/// The baseline classifier of the target: SSE2 (x86-64), NEON (aarch64) or portable.
#[cfg(target_arch = "x86_64")]
pub(crate) type Native = Sse2;
#[cfg(target_arch = "aarch64")]
pub(crate) type Native = Neon;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) type Native = Portable;

/// Eight bytes per 64-bit word operation; any target (on x86-64 and aarch64, the reference of tests).
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Portable;

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every zero byte of `x`, exactly (no borrow between bytes).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Moves the high bit of each byte (as `zero_bytes` leaves them) to bits 0..8 of the result.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]
#[inline(always)]
fn gather(m: u64) -> u64 {
    (m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

impl Classify for Portable {
    /// The control bytes seen, as a mask (any bit: one was seen).
    type Least = u64;

    #[inline(always)]
    fn least_start(self) -> u64 {
        0
    }

    #[inline(always)]
    fn least_with(self, least: u64, block: &[u8; 64]) -> u64 {
        least | self.classify(block).control
    }

    #[inline(always)]
    fn saw_control(self, least: u64) -> bool {
        least != 0
    }

    #[inline(always)]
    fn classify(self, block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (k, chunk) in block.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let shift = 8 * k as u32;
            m.backslash |= gather(zero_bytes(w ^ (ONES * u64::from(b'\\')))) << shift;
            m.quote |= gather(zero_bytes(w ^ (ONES * u64::from(b'"')))) << shift;
            m.control |= gather(zero_bytes(w & (ONES * 0xe0))) << shift;
            // `c | 0x20` is 0x7b only for `{` and `[`, 0x7d only for `}` and `]`.
            let lower = w | (ONES * 0x20);
            m.bracket |=
                gather(zero_bytes(lower ^ (ONES * 0x7b)) | zero_bytes(lower ^ (ONES * 0x7d)))
                    << shift;
        }
        m
    }
}

/// The first `needle` at or after `from` in `s`, eight bytes per word operation.
#[inline(always)]
fn find_byte_portable(s: &[u8], from: usize, needle: u8) -> Option<usize> {
    let mut pos = from;
    while let Some(chunk) = s.get(pos..pos + 8) {
        let z = zero_bytes(
            u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ (ONES * u64::from(needle)),
        );
        if z != 0 {
            return Some(pos + (z.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    s.get(pos..)?
        .iter()
        .position(|&c| c == needle)
        .map(|n| pos + n)
}

/// The first `needle` at or after `from` in `s` (none when `from` is past the end), 16 bytes per
/// compare with the target's baseline SIMD (SSE2, NEON), else eight per word operation. For the short
/// distances of escaped text (a backslash every few dozen bytes) this beats a `memchr` call, whose
/// set-up costs more than the search.
#[inline(always)]
pub(crate) fn find_byte(s: &[u8], from: usize, needle: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::find_byte_sse2(s, from, needle)
    }
    #[cfg(target_arch = "aarch64")]
    {
        arm::find_byte_neon(s, from, needle)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        find_byte_portable(s, from, needle)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512, Sse2};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{find_byte_portable, Classify, Masks};
    use std::arch::x86_64::*;

    /// SSE2: part of the x86-64 baseline, so always available there.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Sse2;

    /// AVX2 and PCLMULQDQ (every CPU with AVX2 has both, but each is detected), proven present: only
    /// [`Avx2::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// An `Avx2` token when this CPU has AVX2 and PCLMULQDQ (`is_x86_feature_detected!` caches its
        /// answers).
        #[inline]
        pub(crate) fn detect() -> Option<Avx2> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("pclmulqdq"))
                .then_some(Avx2(()))
        }
    }

    /// AVX-512F, AVX-512BW and PCLMULQDQ, proven present: only [`Avx512::detect`] makes one. A block
    /// is one 512-bit register, and each compare gives its 64-bit mask directly (no movemask).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        /// An `Avx512` token when this CPU has AVX-512F, AVX-512BW and PCLMULQDQ
        /// (`is_x86_feature_detected!` caches its answers).
        #[inline]
        pub(crate) fn detect() -> Option<Avx512> {
            (is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("pclmulqdq"))
            .then_some(Avx512(()))
        }
    }

    impl Classify for Avx512 {
        type Least = __m512i;

        const SKIP_PLAIN_BLOCKS: bool = false;

        #[inline(always)]
        fn prefix_xor(self, x: u64) -> u64 {
            // SAFETY: an `Avx512` exists only when the CPU has PCLMULQDQ.
            unsafe { prefix_xor_clmul(x) }
        }

        #[inline(always)]
        fn least_start(self) -> __m512i {
            // SAFETY: an `Avx512` exists only when the CPU has AVX-512F.
            unsafe { least_start_avx512() }
        }

        #[inline(always)]
        fn least_with(self, least: __m512i, block: &[u8; 64]) -> __m512i {
            // SAFETY: an `Avx512` exists only when the CPU has AVX-512BW; the load reads
            // `block[0..64]`.
            unsafe { least_with_avx512(least, block) }
        }

        #[inline(always)]
        fn saw_control(self, least: __m512i) -> bool {
            // SAFETY: an `Avx512` exists only when the CPU has AVX-512BW.
            unsafe { saw_control_avx512(least) }
        }

        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: an `Avx512` exists only when the CPU has AVX-512F/BW; the load reads
            // `block[0..64]`.
            unsafe { classify_avx512(block) }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn least_start_avx512() -> __m512i {
        _mm512_set1_epi8(-1)
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn least_with_avx512(least: __m512i, block: &[u8; 64]) -> __m512i {
        _mm512_min_epu8(least, _mm512_loadu_si512(block.as_ptr().cast()))
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn saw_control_avx512(least: __m512i) -> bool {
        _mm512_cmplt_epu8_mask(least, _mm512_set1_epi8(0x20)) != 0
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn classify_avx512(block: &[u8; 64]) -> Masks {
        let v = _mm512_loadu_si512(block.as_ptr().cast());
        // `c | 0x20` is 0x7b only for `{` and `[`, 0x7d only for `}` and `]`.
        let lower = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
        Masks {
            backslash: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\\' as i8)),
            quote: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'"' as i8)),
            control: _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20)),
            bracket: _mm512_cmpeq_epi8_mask(lower, _mm512_set1_epi8(0x7b))
                | _mm512_cmpeq_epi8_mask(lower, _mm512_set1_epi8(0x7d)),
        }
    }

    impl Classify for Sse2 {
        type Least = __m128i;

        #[inline(always)]
        fn least_start(self) -> __m128i {
            // SAFETY: SSE2 is baseline on x86-64.
            unsafe { _mm_set1_epi8(-1) }
        }

        #[inline(always)]
        fn least_with(self, least: __m128i, block: &[u8; 64]) -> __m128i {
            // SAFETY: SSE2 is baseline on x86-64; the four 16-byte unaligned loads read `block[0..64]`.
            unsafe {
                let p = block.as_ptr();
                let v = |k: usize| _mm_loadu_si128(p.add(16 * k).cast());
                let m = _mm_min_epu8(_mm_min_epu8(v(0), v(1)), _mm_min_epu8(v(2), v(3)));
                _mm_min_epu8(least, m)
            }
        }

        #[inline(always)]
        fn saw_control(self, least: __m128i) -> bool {
            // SAFETY: SSE2 is baseline on x86-64. Unsigned `byte <= 0x1f`: min(byte, 0x1f) == byte.
            unsafe {
                let max_control = _mm_set1_epi8(0x1f);
                _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(least, max_control), least)) != 0
            }
        }

        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: SSE2 is enabled on every x86-64 target (baseline); the four 16-byte unaligned
            // loads read `block[0..64]`, which the reference guarantees.
            unsafe { classify_sse2(block) }
        }
    }

    #[inline(always)]
    unsafe fn classify_sse2(block: &[u8; 64]) -> Masks {
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let max_control = _mm_set1_epi8(0x1f);
        let case = _mm_set1_epi8(0x20);
        let open = _mm_set1_epi8(0x7b);
        let close = _mm_set1_epi8(0x7d);
        let mut m = Masks::default();
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            let shift = 16 * k as u32;
            // movemask gives one bit per byte in the low 16 bits of a non-negative i32.
            let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16) << shift;
            m.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
            m.quote |= bits(_mm_cmpeq_epi8(v, quote));
            // Unsigned `v <= 0x1f`: SSE2 has no unsigned compare, but min(v, 0x1f) == v exactly then.
            m.control |= bits(_mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v));
            // `c | 0x20` is 0x7b only for `{` and `[`, 0x7d only for `}` and `]`.
            let lower = _mm_or_si128(v, case);
            m.bracket |= bits(_mm_or_si128(
                _mm_cmpeq_epi8(lower, open),
                _mm_cmpeq_epi8(lower, close),
            ));
        }
        m
    }

    impl Classify for Avx2 {
        type Least = __m256i;

        #[inline(always)]
        fn prefix_xor(self, x: u64) -> u64 {
            // SAFETY: an `Avx2` exists only when the CPU has PCLMULQDQ.
            unsafe { prefix_xor_clmul(x) }
        }

        #[inline(always)]
        fn least_start(self) -> __m256i {
            // SAFETY: an `Avx2` exists only when the CPU has AVX2.
            unsafe { least_start_avx2() }
        }

        #[inline(always)]
        fn least_with(self, least: __m256i, block: &[u8; 64]) -> __m256i {
            // SAFETY: an `Avx2` exists only when the CPU has AVX2; the loads read `block[0..64]`.
            unsafe { least_with_avx2(least, block) }
        }

        #[inline(always)]
        fn saw_control(self, least: __m256i) -> bool {
            // SAFETY: an `Avx2` exists only when the CPU has AVX2.
            unsafe { saw_control_avx2(least) }
        }

        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: an `Avx2` exists only when the CPU has AVX2; the loads read `block[0..64]`.
            unsafe { classify_avx2(block) }
        }
    }

    /// The carry-less product of `x` and all ones: bit `i` is the XOR of bits 0..=i of `x`.
    #[target_feature(enable = "pclmulqdq")]
    #[inline]
    unsafe fn prefix_xor_clmul(x: u64) -> u64 {
        let product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(x as i64), _mm_set1_epi8(-1), 0);
        _mm_cvtsi128_si64(product) as u64
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn least_start_avx2() -> __m256i {
        _mm256_set1_epi8(-1)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn least_with_avx2(least: __m256i, block: &[u8; 64]) -> __m256i {
        let lo = _mm256_loadu_si256(block.as_ptr().cast());
        let hi = _mm256_loadu_si256(block.as_ptr().add(32).cast());
        _mm256_min_epu8(least, _mm256_min_epu8(lo, hi))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn saw_control_avx2(least: __m256i) -> bool {
        // Unsigned `byte <= 0x1f`: min(byte, 0x1f) == byte.
        let max_control = _mm256_set1_epi8(0x1f);
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(
            _mm256_min_epu8(least, max_control),
            least,
        )) != 0
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn classify_avx2(block: &[u8; 64]) -> Masks {
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let quote = _mm256_set1_epi8(b'"' as i8);
        let max_control = _mm256_set1_epi8(0x1f);
        let case = _mm256_set1_epi8(0x20);
        let open = _mm256_set1_epi8(0x7b);
        let close = _mm256_set1_epi8(0x7d);
        let lo = _mm256_loadu_si256(block.as_ptr().cast());
        let hi = _mm256_loadu_si256(block.as_ptr().add(32).cast());
        // `c | 0x20` is 0x7b only for `{` and `[`, 0x7d only for `}` and `]`.
        let (lo_lower, hi_lower) = (_mm256_or_si256(lo, case), _mm256_or_si256(hi, case));
        // movemask gives one bit per byte (32 bits): reinterpret as u32, never sign-extend.
        let bits = |l: __m256i, h: __m256i| {
            u64::from(_mm256_movemask_epi8(l) as u32)
                | u64::from(_mm256_movemask_epi8(h) as u32) << 32
        };
        Masks {
            backslash: bits(
                _mm256_cmpeq_epi8(lo, backslash),
                _mm256_cmpeq_epi8(hi, backslash),
            ),
            quote: bits(_mm256_cmpeq_epi8(lo, quote), _mm256_cmpeq_epi8(hi, quote)),
            control: bits(
                _mm256_cmpeq_epi8(_mm256_min_epu8(lo, max_control), lo),
                _mm256_cmpeq_epi8(_mm256_min_epu8(hi, max_control), hi),
            ),
            bracket: bits(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(lo_lower, open),
                    _mm256_cmpeq_epi8(lo_lower, close),
                ),
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(hi_lower, open),
                    _mm256_cmpeq_epi8(hi_lower, close),
                ),
            ),
        }
    }

    #[inline(always)]
    pub(super) fn find_byte_sse2(s: &[u8], from: usize, needle: u8) -> Option<usize> {
        let mut pos = from;
        while pos + 16 <= s.len() {
            // SAFETY: SSE2 is baseline on x86-64; `s[pos..pos + 16]` is in bounds (checked above).
            let bits = unsafe {
                let v = _mm_loadu_si128(s.as_ptr().add(pos).cast());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(needle as i8)))
            };
            if bits != 0 {
                return Some(pos + bits.trailing_zeros() as usize);
            }
            pos += 16;
        }
        find_byte_portable(s, pos, needle)
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) use arm::{Neon, NeonPmull};

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{find_byte_portable, Classify, Masks};
    use std::arch::aarch64::*;

    /// NEON (Advanced SIMD): part of the aarch64 baseline, so always available there.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Neon;

    /// NEON with the AES extension's 64-bit carry-less multiply (PMULL), proven present: only
    /// [`NeonPmull::detect`] makes one. It classifies as [`Neon`] does; its prefix XOR is one PMULL.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct NeonPmull(());

    impl NeonPmull {
        /// A `NeonPmull` token when this CPU has PMULL (`is_aarch64_feature_detected!` caches its
        /// answer).
        #[inline]
        pub(crate) fn detect() -> Option<NeonPmull> {
            std::arch::is_aarch64_feature_detected!("aes").then_some(NeonPmull(()))
        }
    }

    impl Classify for NeonPmull {
        type Least = uint8x16_t;

        #[inline(always)]
        fn prefix_xor(self, x: u64) -> u64 {
            // SAFETY: a `NeonPmull` exists only when the CPU has PMULL.
            unsafe { prefix_xor_pmull(x) }
        }

        #[inline(always)]
        fn least_start(self) -> uint8x16_t {
            Neon.least_start()
        }

        #[inline(always)]
        fn least_with(self, least: uint8x16_t, block: &[u8; 64]) -> uint8x16_t {
            Neon.least_with(least, block)
        }

        #[inline(always)]
        fn saw_control(self, least: uint8x16_t) -> bool {
            Neon.saw_control(least)
        }

        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            Neon.classify(block)
        }
    }

    /// The carry-less product of `x` and all ones, low 64 bits: bit `i` is the XOR of bits 0..=i of `x`.
    #[target_feature(enable = "aes")]
    #[inline]
    unsafe fn prefix_xor_pmull(x: u64) -> u64 {
        vmull_p64(x, u64::MAX) as u64
    }

    impl Classify for Neon {
        type Least = uint8x16_t;

        #[inline(always)]
        fn least_start(self) -> uint8x16_t {
            // SAFETY: NEON is baseline on aarch64.
            unsafe { vdupq_n_u8(0xff) }
        }

        #[inline(always)]
        fn least_with(self, least: uint8x16_t, block: &[u8; 64]) -> uint8x16_t {
            // SAFETY: NEON is baseline on aarch64; the four 16-byte loads read `block[0..64]`.
            unsafe {
                let p = block.as_ptr();
                let m = vminq_u8(
                    vminq_u8(vld1q_u8(p), vld1q_u8(p.add(16))),
                    vminq_u8(vld1q_u8(p.add(32)), vld1q_u8(p.add(48))),
                );
                vminq_u8(least, m)
            }
        }

        #[inline(always)]
        fn saw_control(self, least: uint8x16_t) -> bool {
            // SAFETY: NEON is baseline on aarch64.
            unsafe { vminvq_u8(least) < 0x20 }
        }

        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Masks {
            // SAFETY: NEON is enabled on every aarch64 target (baseline); the four 16-byte loads read
            // `block[0..64]`, which the reference guarantees.
            unsafe { classify_neon(block) }
        }
    }

    /// One bit per byte of four compare results (0xff or 0 per byte), 64 bits: each byte keeps its own
    /// bit of 1, 2, 4…128 (its index mod 8), then three rounds of pairwise adds fold each run of eight
    /// bytes into one (simdjson's NEON movemask).
    #[inline(always)]
    unsafe fn movemask64(v: [uint8x16_t; 4]) -> u64 {
        const BITS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        let bits = vld1q_u8(BITS.as_ptr());
        let s0 = vpaddq_u8(vandq_u8(v[0], bits), vandq_u8(v[1], bits));
        let s1 = vpaddq_u8(vandq_u8(v[2], bits), vandq_u8(v[3], bits));
        let s = vpaddq_u8(s0, s1);
        let s = vpaddq_u8(s, s);
        vgetq_lane_u64(vreinterpretq_u64_u8(s), 0)
    }

    #[inline(always)]
    unsafe fn classify_neon(block: &[u8; 64]) -> Masks {
        let p = block.as_ptr();
        let v = [
            vld1q_u8(p),
            vld1q_u8(p.add(16)),
            vld1q_u8(p.add(32)),
            vld1q_u8(p.add(48)),
        ];
        let backslash = vdupq_n_u8(b'\\');
        let quote = vdupq_n_u8(b'"');
        let control = vdupq_n_u8(0x20);
        // `c | 0x20` is 0x7b only for `{` and `[`, 0x7d only for `}` and `]`.
        let lower = v.map(|x| vorrq_u8(x, control));
        let (open, close) = (vdupq_n_u8(0x7b), vdupq_n_u8(0x7d));
        Masks {
            backslash: movemask64(v.map(|x| vceqq_u8(x, backslash))),
            quote: movemask64(v.map(|x| vceqq_u8(x, quote))),
            control: movemask64(v.map(|x| vcltq_u8(x, control))),
            bracket: movemask64(lower.map(|x| vorrq_u8(vceqq_u8(x, open), vceqq_u8(x, close)))),
        }
    }

    #[inline(always)]
    pub(super) fn find_byte_neon(s: &[u8], from: usize, needle: u8) -> Option<usize> {
        let mut pos = from;
        while pos + 16 <= s.len() {
            // SAFETY: NEON is baseline on aarch64; `s[pos..pos + 16]` is in bounds (checked above).
            let nibbles = unsafe {
                let eq = vceqq_u8(vld1q_u8(s.as_ptr().add(pos)), vdupq_n_u8(needle));
                // Narrow each 16-bit lane by 4 bits: four bits per byte of the compare, in order.
                vget_lane_u64(
                    vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(eq), 4)),
                    0,
                )
            };
            if nibbles != 0 {
                return Some(pos + (nibbles.trailing_zeros() / 4) as usize);
            }
            pos += 16;
        }
        find_byte_portable(s, pos, needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte at a time: the reference every path is held to.
    fn reference(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &c) in block.iter().enumerate() {
            m.backslash |= u64::from(c == b'\\') << i;
            m.quote |= u64::from(c == b'"') << i;
            m.control |= u64::from(c < 0x20) << i;
            m.bracket |= u64::from(matches!(c, b'{' | b'[' | b'}' | b']')) << i;
        }
        m
    }

    /// xorshift64: a fixed seed, so a failure repeats.
    use crate::test_support::Rng;

    /// Random blocks (any byte), JSON-like blocks, and adversarial ones: each byte value alone, the
    /// bytes next to the classes (0x1f/0x20, 0x21/0x23, 0x5b/0x5d, 0x7f/0x80, 0xa2, 0xdc, 0xff — where
    /// a signed compare or a borrow between bytes would go wrong), runs and lone bytes at every
    /// position.
    fn blocks() -> Vec<[u8; 64]> {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut out = Vec::new();
        for v in 0..=255u8 {
            out.push([v; 64]);
            for at in [0, 1, 7, 8, 15, 16, 31, 32, 47, 48, 63] {
                let mut b = [b'a'; 64];
                b[at] = v;
                out.push(b);
            }
        }
        let edge = [
            0x00, 0x1f, 0x20, 0x21, b'"', 0x23, 0x3b, 0x5b, b'\\', 0x5d, 0x7b, 0x7d, 0x7f, 0x80,
            0xa2, 0xdb, 0xdc, 0xdd, 0xe0, 0xfb, 0xff,
        ];
        for round in 0..20_000 {
            let mut b = [0u8; 64];
            for c in b.iter_mut() {
                *c = match round % 3 {
                    0 => rng.next() as u8,
                    1 => edge[rng.below(edge.len() as u64) as usize],
                    _ => b"ab \"\\\\{}[]:,\n\t\x01\xc3\xa9"[rng.below(17) as usize],
                };
            }
            out.push(b);
        }
        out
    }

    fn check<C: Classify>(c: C, name: &str) {
        let bs = blocks();
        for b in &bs {
            assert_eq!(c.classify(b), reference(b), "{name}: {b:?}");
        }
        // The prefix XOR: random words of every density, no bit, every bit, single bits.
        let mut rng = Rng(0x510e_527f_ade6_82d1);
        let words = (0..20_000)
            .map(|i| match i % 4 {
                0 => rng.next(),
                1 => rng.next() & rng.next() & rng.next(),
                2 => rng.next() | rng.next(),
                _ => 1u64.rotate_left(i),
            })
            .chain([0, u64::MAX]);
        for x in words {
            let want = (0..64).fold(0u64, |acc, i| {
                acc | (u64::from((x & (u64::MAX >> (63 - i))).count_ones() % 2 == 1) << i)
            });
            assert_eq!(prefix_xor_by_shifts(x), want, "{x:#x}");
            assert_eq!(c.prefix_xor(x), want, "{name}: {x:#x}");
        }
        // The least byte over runs of one to five blocks: a control byte among them, exactly.
        let mut least = c.least_start();
        let mut any = false;
        assert!(!c.saw_control(least), "{name}: none before any block");
        for (i, b) in bs.iter().enumerate() {
            least = c.least_with(least, b);
            any |= b.iter().any(|&x| x < 0x20);
            assert_eq!(c.saw_control(least), any, "{name}: block {i} {b:?}");
            if rng.below(5) == 0 {
                least = c.least_start();
                any = false;
            }
        }
    }

    #[test]
    fn portable_classification_equals_byte_at_a_time() {
        check(Portable, "portable");
    }

    #[test]
    fn native_classification_equals_byte_at_a_time() {
        check(Native::default(), std::any::type_name::<Native>());
    }

    /// The PMULL path on aarch64. `REQUIRE_PMULL=1` (the aarch64 test step) makes a CPU without it a
    /// failure, so the step cannot pass without running this path.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn neon_pmull_classification_equals_byte_at_a_time() {
        match NeonPmull::detect() {
            Some(pmull) => check(pmull, "neon+pmull"),
            None if std::env::var_os("REQUIRE_PMULL").is_some() => panic!("no PMULL on this CPU"),
            None => eprintln!("no PMULL on this CPU: its path is not exercised here"),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_classification_equals_byte_at_a_time() {
        match Avx512::detect() {
            Some(avx512) => check(avx512, "avx512"),
            None => eprintln!("no AVX-512BW on this CPU: its path is not exercised here"),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_classification_equals_byte_at_a_time() {
        match Avx2::detect() {
            Some(avx2) => check(avx2, "avx2"),
            None => eprintln!("no AVX2 on this CPU: its path is not exercised here"),
        }
    }

    /// The dispatched scan sees the same masks as the portable one.
    #[test]
    fn dispatch_runs_a_classifier_equal_to_the_portable_one() {
        struct Collect<'a>(&'a [[u8; 64]]);
        impl BlockScan for Collect<'_> {
            type Out = Vec<Masks>;
            fn run<C: Classify>(self, c: C) -> Vec<Masks> {
                self.0.iter().map(|b| c.classify(b)).collect()
            }
        }
        let bs = blocks();
        let want: Vec<Masks> = bs.iter().map(|b| Portable.classify(b)).collect();
        assert_eq!(dispatch(Collect(&bs)), want);
    }

    #[test]
    fn find_byte_equals_position() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let len = rng.below(if round % 10 == 0 { 300 } else { 70 }) as usize;
            let density = 1 + rng.below(80);
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(density) == 0 {
                        b'\\'
                    } else {
                        [b'a', 0xdc, 0x5c ^ 0x80, 0x5d, b'"', 0][rng.below(6) as usize]
                    }
                })
                .collect();
            let from = rng.below(len as u64 + 2) as usize;
            let want = s
                .get(from..)
                .and_then(|t| t.iter().position(|&c| c == b'\\'))
                .map(|n| from + n);
            assert_eq!(find_byte(&s, from, b'\\'), want, "{s:?} from {from}");
            assert_eq!(
                find_byte_portable(&s, from, b'\\'),
                want,
                "{s:?} from {from}"
            );
        }
    }
}

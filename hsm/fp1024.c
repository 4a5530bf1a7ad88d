/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The 16-limb (1024-bit) Montgomery multiplication that SAKKE spends its time in:
 * r = a * b * 2^-1024 mod m, behind kms_mont_mul16(), with one back end picked once per process:
 *
 * - "c": portable CIOS, the same algorithm as kms_mont_mul_generic() with the limb count a
 *   compile-time constant (kms_mont_mul16_c(); the reference for the tests);
 * - "ifma": AVX-512 IFMA (x86-64 with avx512f/vl/bw/vbmi/ifma), radix 2^52; see below.
 *
 * KMS_FP_BACKEND=c in the environment forces the portable path (tests, benchmarks).
 *
 * Constant time, every back end: the instruction sequence and every memory address depend only
 * on public values (the limb count and loop indices), never on a or b; the final conditional
 * subtraction of m is a mask. The back end chosen depends only on the CPU and the environment.
 *
 * Both back ends accept, like kms_mont_mul_generic(), one operand < m and the other any value
 * < 2^1024 (kms_mont_to() passes unreduced input), and return r < m.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "hsm/internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KMS_FP_X86 1
#include <immintrin.h>
#endif

#include "common/banned.h"

#define N 16

typedef unsigned __int128 u128;

void
kms_mont_mul16_c(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	uint64_t t[N + 2];
	uint64_t s[N];
	const uint64_t *m = ctx->m;
	const uint64_t m0inv = ctx->m0inv;
	uint64_t borrow = 0;
	uint64_t keep_t;
	int i;
	int j;

	memset(t, 0, sizeof(t));
	for (i = 0; i < N; i++) {
		u128 c = 0;
		uint64_t ai = a[i];
		uint64_t q;

		for (j = 0; j < N; j++) {
			c += (u128)ai * b[j] + t[j];
			t[j] = (uint64_t)c;
			c >>= 64;
		}
		c += t[N];
		t[N] = (uint64_t)c;
		t[N + 1] = (uint64_t)(c >> 64);

		q = t[0] * m0inv;
		c = (u128)q * m[0] + t[0];
		c >>= 64;
		for (j = 1; j < N; j++) {
			c += (u128)q * m[j] + t[j];
			t[j - 1] = (uint64_t)c;
			c >>= 64;
		}
		c += t[N];
		t[N - 1] = (uint64_t)c;
		t[N] = t[N + 1] + (uint64_t)(c >> 64);
	}
	for (j = 0; j < N; j++) {
		u128 d = (u128)t[j] - m[j] - borrow;
		s[j] = (uint64_t)d;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	keep_t = kms_ct_barrier_u64((uint64_t)0 - (borrow & ~t[N] & 1));
	for (j = 0; j < N; j++) {
		r[j] = (t[j] & keep_t) | (s[j] & ~keep_t);
	}
	kms_memzero(t, sizeof(t));
	kms_memzero(s, sizeof(s));
}

#if defined(KMS_FP_X86)
/*
 * AVX-512 IFMA back end.
 *
 * Numbers are split into 20 digits of 52 bits (1040 bits), held in 3 zmm registers of 8 lanes
 * (lanes 20..23 zero). vpmadd52luq / vpmadd52huq add the low / high 52 bits of the 104-bit
 * products of 52-bit lanes to 64-bit accumulators.
 *
 * Exponent: a radix-2^52 Montgomery reduction over 20 digits divides by 2^1040, so b enters
 * shifted left by 16 bits (b' = b * 2^16 < 2^1040, still 20 digits): the result is
 * a * b * 2^16 * 2^-1040 = a * b * 2^-1024. Bound: with one operand < m and the other < 2^1024,
 * t = (a * b' + y * m) / 2^1040 < m + m, so one conditional subtraction fully reduces it.
 *
 * Schedule (product scanning, with the reduction digits as a scalar dependency chain):
 * - Column accumulators acl0..acl4 (low halves) and ach0..ach4 (high halves): lane l of
 *   register k collects column 8 k + l (weight 2^(52 (8 k + l))) of a * b' + y * m, 40
 *   columns. A product row multiplies a broadcast digit by the other operand shifted by the
 *   row number, built with valignq from registers; all shifts are compile-time constants.
 * - The reduction digit y_i = column_i * (-m^-1 mod 2^52) mod 2^52 needs column i complete.
 *   Getting a column out of the vector unit (broadcast, multiply-add, lane extraction) takes
 *   about 20 cycles, about two steps of the scalar chain, so the scalar code owns every term of
 *   y_i that lands in the next three columns (hi(m_0 y_i) and lo(m_1 y_i) in column i + 1,
 *   hi(m_1 y_i) and lo(m_2 y_i) in i + 2, hi(m_2 y_i) in i + 3), the vector copy of m has
 *   digits 0..2 zeroed, and column i + 3 is extracted right after y_i's multiply-adds.
 * - Column i carries into column i + 1 as (S + lo(m_0 y)) / 2^52 = floor(S / 2^52) + (S mod
 *   2^52 != 0) (as S + lo(m_0 y) = 0 mod 2^52), computed as (S + 2^52 - 1) >> 52.
 * - Columns 20..39 hold the result. They are turned into 64-bit limbs, reduced by m under a mask
 *   and stored, all in vector registers (see the comment there).
 *
 * Constant time: no branch and no memory address depends on a or b. Loop bounds, lane numbers,
 * shift counts and table offsets are compile-time constants; carries and the final choice are
 * masks. vpmadd52*, valignq, vpermq and vpermt2b/q have data-independent timing.
 * Scratch: a, b and the intermediate values live in registers; the compiler may spill some to
 * the stack, as it may for the portable code's temporaries, and nothing wipes those spills.
 */
#define KMS_IFMA_TARGET                                                                            \
	__attribute__((target("avx512f,avx512ifma,avx512vl,avx512bw,avx512vbmi,bmi2")))

#define D52 20                 /* digits of 52 bits */
#define M52 0xfffffffffffffULL /* 2^52 - 1 */

/*
 * Byte-permute tables for the limb-to-digit split (filled once by mul16_select()): for each of
 * the 3 output registers, the source byte of each output byte and the mask of valid ones.
 * Set 0 splits x, set 1 splits x * 2^16.
 */
static uint8_t ifma_idx[2][3][64];
static uint64_t ifma_kmask[2][3];

/*
 * Tables for the columns-to-limbs step: for output register k (limbs 8 k .. 8 k + 7), the
 * column (as a 2-source permute index) and the shift of the even column that starts at or
 * below each limb (idx[0], shifted right by sh[0]), of the even column that starts inside it
 * (idx[1], shifted left by sh[1]), and the same for the odd columns (idx[2], idx[3]).
 * A shift of 64 contributes nothing.
 */
struct ifma_pack {
	_Alignas(64) uint64_t idx[4][8];
	_Alignas(64) uint64_t sh[4][8];
};
static struct ifma_pack ifma_pack[3];

static void
ifma_tables_init(void)
{
	int set;
	int reg;
	int lane;
	int byte;

	for (set = 0; set < 2; set++) {
		for (reg = 0; reg < 3; reg++) {
			uint64_t km = 0;

			for (lane = 0; lane < 8; lane++) {
				int k = 8 * reg + lane;
				int bit = 52 * k - 16 * set;
				/* floor(bit / 8) for bit >= -16 */
				int first = (bit + 16) / 8 - 2;

				for (byte = 0; byte < 8; byte++) {
					int src = first + byte;
					int pos = 8 * lane + byte;

					if (k < D52 && src >= 0 && src < 128) {
						ifma_idx[set][reg][pos] = (uint8_t)src;
						km |= (uint64_t)1 << pos;
					} else {
						ifma_idx[set][reg][pos] = 0;
					}
				}
			}
			ifma_kmask[set][reg] = km;
		}
	}
	for (reg = 0; reg < 3; reg++) {
		/* register 0 permutes columns 0..15, registers 1 and 2 columns 8..23 */
		int base = reg == 0 ? 0 : 8;

		for (lane = 0; lane < 8; lane++) {
			int limb = 8 * reg + lane;
			int k;

			for (k = 0; k < 4; k++) {
				ifma_pack[reg].idx[k][lane] = 0;
				ifma_pack[reg].sh[k][lane] = 64;
			}
			for (k = 0; k < D52 && limb <= N; k++) {
				int off = 52 * k - 64 * limb;
				int slot = 2 * (k % 2);

				if (off <= -64 || off >= 64) {
					continue;
				}
				if (off > 0) {
					slot++;
				}
				ifma_pack[reg].idx[slot][lane] = (uint64_t)(k - base);
				ifma_pack[reg].sh[slot][lane] = (uint64_t)(off > 0 ? off : -off);
			}
		}
	}
}

/* Digits 8 reg .. 8 reg + 7 of the 1024-bit number in (lo, hi) (shifted by 16 bits if set). */
static inline KMS_IFMA_TARGET __m512i
ifma_split(__m512i lo, __m512i hi, int set, int reg)
{
	/* bit offset of digit k inside its first byte: 4 for odd k, 0 for even k */
	const __m512i shift = _mm512_set_epi64(4, 0, 4, 0, 4, 0, 4, 0);
	__m512i idx = _mm512_loadu_si512(ifma_idx[set][reg]);
	__m512i v;

	v = _mm512_maskz_permutex2var_epi8((__mmask64)ifma_kmask[set][reg], lo, idx, hi);
	v = _mm512_srlv_epi64(v, shift);
	return _mm512_and_si512(v, _mm512_set1_epi64((long long)M52));
}

/* Lane l of v. */
static inline KMS_IFMA_TARGET uint64_t
ifma_lane(__m512i v, int l)
{
	__m512i t = _mm512_permutexvar_epi64(_mm512_set1_epi64(l), v);

	return (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(t));
}

/*
 * One register of t = ev + od (see the end of mont_mul16_ifma()): the columns held in
 * (lo_src, hi_src) placed into limbs by pk; the lanes whose sum carried out and the lanes
 * that are all-ones go into *gen and *prop at bit pos.
 */
static inline KMS_IFMA_TARGET __m512i
ifma_pack_add(__m512i lo_src, __m512i hi_src, const struct ifma_pack *pk, int pos, uint64_t *gen,
	      uint64_t *prop)
{
	__m512i ev;
	__m512i od;
	__m512i t;

	ev = _mm512_or_si512(
		_mm512_srlv_epi64(
			_mm512_permutex2var_epi64(lo_src, _mm512_load_si512(pk->idx[0]), hi_src),
			_mm512_load_si512(pk->sh[0])),
		_mm512_sllv_epi64(
			_mm512_permutex2var_epi64(lo_src, _mm512_load_si512(pk->idx[1]), hi_src),
			_mm512_load_si512(pk->sh[1])));
	od = _mm512_or_si512(
		_mm512_srlv_epi64(
			_mm512_permutex2var_epi64(lo_src, _mm512_load_si512(pk->idx[2]), hi_src),
			_mm512_load_si512(pk->sh[2])),
		_mm512_sllv_epi64(
			_mm512_permutex2var_epi64(lo_src, _mm512_load_si512(pk->idx[3]), hi_src),
			_mm512_load_si512(pk->sh[3])));
	t = _mm512_add_epi64(ev, od);
	*gen |= (uint64_t)_mm512_cmplt_epu64_mask(t, ev) << pos;
	*prop |= (uint64_t)_mm512_cmpeq_epi64_mask(t, _mm512_set1_epi64(-1)) << pos;
	return t;
}

/* Does accumulator register reg (columns 8 reg .. 8 reg + 7) meet columns lo..hi? */
#define IFMA_MEETS(reg, lo, hi) (8 * (reg) <= (hi) && 8 * (reg) + 7 >= (lo))

/*
 * Everything below is unrolled by macros, with literal constants for i, reg and the lane
 * offsets, and the vectors are named variables: compilers keep an array of vectors in memory,
 * which puts store-to-load forwarding delays into the multiply-add chains. No secret is
 * stored to memory: the shifted operands come from valignq on registers.
 */
/* floor(p / 8) for p >= -64 */
#define IFMA_FLOOR8(p) (((p) + 64) / 8 - 8)
/* Register q of the digit vector x0, x1, x2 (zero for any other q). */
#define IFMA_BLK(x, q) ((q) == 0 ? x##0 : (q) == 1 ? x##1 : (q) == 2 ? x##2 : zero)
/* Digits p .. p + 7 of x0, x1, x2 (zero outside 0..23). */
#define IFMA_WIN(x, p)                                                                             \
	_mm512_alignr_epi64(IFMA_BLK(x, IFMA_FLOOR8(p) + 1), IFMA_BLK(x, IFMA_FLOOR8(p)),          \
			    (p)-8 * IFMA_FLOOR8(p))

#define IFMA_ACC(reg, lo, hi, acc, x, p, v)                                                        \
	do {                                                                                       \
		if (IFMA_MEETS(reg, lo, hi)) {                                                     \
			acc = _mm512_madd52##v##_epu64(acc, IFMA_WIN(x, (p) + 8 * (reg)), bv_);    \
		}                                                                                  \
	} while (0)

/*
 * Row i of a * b': low halves of a_k b'_i into columns i..i+19, high halves into i+1..i+20.
 * Lane l of register reg is column 8 reg + l, so the operand is a shifted by i (or i + 1).
 */
#define IFMA_PRODUCT(i)                                                                            \
	do {                                                                                       \
		const __m512i bv_ = _mm512_permutexvar_epi64(_mm512_set1_epi64((i) % 8),           \
							     IFMA_BLK(bd, (i) / 8));               \
		IFMA_ACC(0, (i), (i) + 19, acl0, ad, -(i), lo);                                    \
		IFMA_ACC(1, (i), (i) + 19, acl1, ad, -(i), lo);                                    \
		IFMA_ACC(2, (i), (i) + 19, acl2, ad, -(i), lo);                                    \
		IFMA_ACC(3, (i), (i) + 19, acl3, ad, -(i), lo);                                    \
		IFMA_ACC(4, (i), (i) + 19, acl4, ad, -(i), lo);                                    \
		IFMA_ACC(0, (i) + 1, (i) + 20, ach0, ad, -1 - (i), hi);                            \
		IFMA_ACC(1, (i) + 1, (i) + 20, ach1, ad, -1 - (i), hi);                            \
		IFMA_ACC(2, (i) + 1, (i) + 20, ach2, ad, -1 - (i), hi);                            \
		IFMA_ACC(3, (i) + 1, (i) + 20, ach3, ad, -1 - (i), hi);                            \
		IFMA_ACC(4, (i) + 1, (i) + 20, ach4, ad, -1 - (i), hi);                            \
	} while (0)

/*
 * Row i of y * m with digits m_0, m_1, m_2 left out (md has them zeroed; the scalar code owns
 * those terms): low halves into columns i+3..i+19, high halves into i+4..i+20.
 */
#define IFMA_REDUCE(i)                                                                             \
	do {                                                                                       \
		const __m512i bv_ = _mm512_set1_epi64((long long)y);                               \
		IFMA_ACC(0, (i) + 3, (i) + 19, acl0, md, -(i), lo);                                \
		IFMA_ACC(1, (i) + 3, (i) + 19, acl1, md, -(i), lo);                                \
		IFMA_ACC(2, (i) + 3, (i) + 19, acl2, md, -(i), lo);                                \
		IFMA_ACC(3, (i) + 3, (i) + 19, acl3, md, -(i), lo);                                \
		IFMA_ACC(4, (i) + 3, (i) + 19, acl4, md, -(i), lo);                                \
		IFMA_ACC(0, (i) + 4, (i) + 20, ach0, md, -1 - (i), hi);                            \
		IFMA_ACC(1, (i) + 4, (i) + 20, ach1, md, -1 - (i), hi);                            \
		IFMA_ACC(2, (i) + 4, (i) + 20, ach2, md, -1 - (i), hi);                            \
		IFMA_ACC(3, (i) + 4, (i) + 20, ach3, md, -1 - (i), hi);                            \
		IFMA_ACC(4, (i) + 4, (i) + 20, ach4, md, -1 - (i), hi);                            \
	} while (0)

/* Column k (< 24) of the accumulators, as a scalar. */
#define IFMA_COLUMN(k)                                                                             \
	ifma_lane((k) < 8    ? _mm512_add_epi64(acl0, ach0)                                        \
		  : (k) < 16 ? _mm512_add_epi64(acl1, ach1)                                        \
			     : _mm512_add_epi64(acl2, ach2),                                       \
		  (k) % 8)

/*
 * Step i of the reduction. Column i = its vector part (extracted three steps ago) + the carry
 * of column i - 1 + the scalar-owned terms: pend0 (from y_{i-2}, y_{i-3}) and, last because
 * they are the latest, lo(m_1 y_{i-1}) and h0 = hi(m_0 y_{i-1}). That gives y_i; y_i's vector
 * multiply-adds complete column i + 3, which is extracted; then row i + 4 of the product, and
 * y_i's scalar-owned terms: hi(m_1 y_i) + lo(m_2 y_i) for column i + 2, hi(m_2 y_i) for i + 3.
 */
#define IFMA_STEP(i)                                                                               \
	do {                                                                                       \
		unsigned long long hi_;                                                            \
		uint64_t x_ = col[(i)] + ((s + M52) >> 52) + pend0;                                \
		s = x_ + ((y * m1) & M52) + h0;                                                    \
		/* k0 * s mod 2^52, with k0 * lo(m_1 y) = (k0 m_1) y: h0 is the late input */      \
		y = (k0 * x_ + k0 * h0 + k1 * y) & M52;                                            \
		IFMA_REDUCE(i);                                                                    \
		if ((i) + 3 < D52) {                                                               \
			col[(i) + 3] = IFMA_COLUMN((i) + 3);                                       \
		}                                                                                  \
		if ((i) + 4 < D52) {                                                               \
			IFMA_PRODUCT((i) + 4);                                                     \
		}                                                                                  \
		(void)_mulx_u64(y, m0 << 12, &hi_);                                                \
		h0 = hi_;                                                                          \
		pend0 = pend1;                                                                     \
		(void)_mulx_u64(y, m1 << 12, &hi_);                                                \
		pend1 = pend2 + hi_ + ((y * m2) & M52);                                            \
		(void)_mulx_u64(y, m2 << 12, &hi_);                                                \
		pend2 = hi_;                                                                       \
	} while (0)

static KMS_IFMA_TARGET void
mont_mul16_ifma(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	const uint64_t *m = ctx->m;
	const uint64_t k0 = ctx->m0inv & M52;
	const uint64_t m0 = m[0] & M52;
	const uint64_t m1 = ((m[0] >> 52) | (m[1] << 12)) & M52;
	const uint64_t m2 = ((m[1] >> 40) | (m[2] << 24)) & M52;
	const uint64_t k1 = k0 * m1;
	const __m512i zero = _mm512_setzero_si512();
	__m512i acl0 = zero, acl1 = zero, acl2 = zero, acl3 = zero, acl4 = zero;
	__m512i ach0 = zero, ach1 = zero, ach2 = zero, ach3 = zero, ach4 = zero;
	__m512i ad0, ad1, ad2; /* digits of a */
	__m512i bd0, bd1, bd2; /* digits of b * 2^16 */
	__m512i md0, md1, md2; /* digits of m, 0..2 zeroed */
	__m512i lo;
	__m512i hi;
	uint64_t col[D52];
	uint64_t s = 0;
	uint64_t y = 0;
	uint64_t h0 = 0;
	uint64_t pend0 = 0;
	uint64_t pend1 = 0;
	uint64_t pend2 = 0;

	lo = _mm512_loadu_si512(a);
	hi = _mm512_loadu_si512(a + 8);
	ad0 = ifma_split(lo, hi, 0, 0);
	ad1 = ifma_split(lo, hi, 0, 1);
	ad2 = ifma_split(lo, hi, 0, 2);
	lo = _mm512_loadu_si512(b);
	hi = _mm512_loadu_si512(b + 8);
	bd0 = ifma_split(lo, hi, 1, 0);
	bd1 = ifma_split(lo, hi, 1, 1);
	bd2 = ifma_split(lo, hi, 1, 2);
	lo = _mm512_loadu_si512(m);
	hi = _mm512_loadu_si512(m + 8);
	md0 = _mm512_maskz_mov_epi64(0xf8, ifma_split(lo, hi, 0, 0));
	md1 = ifma_split(lo, hi, 0, 1);
	md2 = ifma_split(lo, hi, 0, 2);

	IFMA_PRODUCT(0);
	IFMA_PRODUCT(1);
	IFMA_PRODUCT(2);
	IFMA_PRODUCT(3);
	col[0] = IFMA_COLUMN(0);
	col[1] = IFMA_COLUMN(1);
	col[2] = IFMA_COLUMN(2);
	IFMA_STEP(0);
	IFMA_STEP(1);
	IFMA_STEP(2);
	IFMA_STEP(3);
	IFMA_STEP(4);
	IFMA_STEP(5);
	IFMA_STEP(6);
	IFMA_STEP(7);
	IFMA_STEP(8);
	IFMA_STEP(9);
	IFMA_STEP(10);
	IFMA_STEP(11);
	IFMA_STEP(12);
	IFMA_STEP(13);
	IFMA_STEP(14);
	IFMA_STEP(15);
	IFMA_STEP(16);
	IFMA_STEP(17);
	IFMA_STEP(18);
	IFMA_STEP(19);

	/*
	 * The result t = sum over j of column (20 + j) * 2^(52 j) < 2m < 2^1025, converted to
	 * 64-bit limbs without normalising the columns first: the even columns sit 104 bits
	 * apart, so each 64-bit column lies in a window that meets no other even one, and the
	 * same holds for the odd ones. ev and od gather them limb by limb (a constant permutation
	 * and constant shifts per lane), then t = ev + od with the carries resolved on the
	 * 17-bit lane masks: lanes that receive a carry are ((generate << 1) + propagate) ^
	 * propagate. t - m is done the same way, and the final borrow picks t or t - m.
	 */
	{
		__m512i ext;
		__m512i c0;
		__m512i c1;
		__m512i c2;
		__m512i t0;
		__m512i t1;
		__m512i t2;
		__m512i m0v = _mm512_loadu_si512(m);
		__m512i m1v = _mm512_loadu_si512(m + 8);
		uint64_t gen = 0;
		uint64_t prop = 0;
		uint64_t cin;
		uint64_t keep;
		__mmask8 sel;

		/* Columns 20..22 get the scalar-owned terms of y_17 .. y_19. */
		ext = _mm512_inserti32x4(
			zero,
			_mm_set_epi64x((long long)pend1, (long long)(((s + M52) >> 52) + h0 +
								     ((y * m1) & M52) + pend0)),
			2);
		ext = _mm512_mask_set1_epi64(ext, 0x40, (long long)pend2);
		acl2 = _mm512_add_epi64(_mm512_add_epi64(acl2, ach2), ext);
		acl3 = _mm512_add_epi64(acl3, ach3);
		acl4 = _mm512_add_epi64(acl4, ach4);
		c0 = _mm512_alignr_epi64(acl3, acl2, 4); /* columns 20..27 */
		c1 = _mm512_alignr_epi64(acl4, acl3, 4); /* columns 28..35 */
		c2 = _mm512_alignr_epi64(zero, acl4, 4); /* columns 36..39 */

		/* t = ev + od: limbs 0..7, 8..15 and 16 (the rest of t2 is zero) */
		t0 = ifma_pack_add(c0, c1, &ifma_pack[0], 0, &gen, &prop);
		t1 = ifma_pack_add(c1, c2, &ifma_pack[1], 8, &gen, &prop);
		t2 = ifma_pack_add(c1, c2, &ifma_pack[2], 16, &gen, &prop);
		prop &= 0x1ffff;
		cin = ((gen << 1) + prop) ^ prop;
		t0 = _mm512_mask_sub_epi64(t0, (__mmask8)cin, t0, _mm512_set1_epi64(-1));
		t1 = _mm512_mask_sub_epi64(t1, (__mmask8)(cin >> 8), t1, _mm512_set1_epi64(-1));
		t2 = _mm512_mask_sub_epi64(t2, (__mmask8)(cin >> 16), t2, _mm512_set1_epi64(-1));

		/* t - m: borrows generated where t < m, propagated where t == m */
		gen = (uint64_t)_mm512_cmplt_epu64_mask(t0, m0v) |
		      (uint64_t)_mm512_cmplt_epu64_mask(t1, m1v) << 8;
		prop = (uint64_t)_mm512_cmpeq_epi64_mask(t0, m0v) |
		       (uint64_t)_mm512_cmpeq_epi64_mask(t1, m1v) << 8 |
		       (uint64_t)_mm512_cmpeq_epi64_mask(t2, zero) << 16;
		prop &= 0x1ffff;
		cin = (gen << 1) + prop;
		/* a borrow out of limb 16 means t < m: keep t */
		keep = (cin >> 17) & 1;
		cin ^= prop;
		sel = (__mmask8)(0 - keep);
		m0v = _mm512_mask_add_epi64(_mm512_sub_epi64(t0, m0v), (__mmask8)cin,
					    _mm512_sub_epi64(t0, m0v), _mm512_set1_epi64(-1));
		m1v = _mm512_mask_add_epi64(_mm512_sub_epi64(t1, m1v), (__mmask8)(cin >> 8),
					    _mm512_sub_epi64(t1, m1v), _mm512_set1_epi64(-1));
		_mm512_storeu_si512(r, _mm512_mask_blend_epi64(sel, m0v, t0));
		_mm512_storeu_si512(r + 8, _mm512_mask_blend_epi64(sel, m1v, t1));
	}
}
#endif /* KMS_FP_X86 */

/* --- dispatch ---------------------------------------------------------------------------- */

static void (*mul16_impl)(const struct kms_mont *, uint64_t *, const uint64_t *,
			  const uint64_t *) = kms_mont_mul16_c;
static const char *mul16_name = "c";
static pthread_once_t mul16_once = PTHREAD_ONCE_INIT;

/*
 * mul16_select - pick the back end once: the fastest the CPU (and OS, which
 * __builtin_cpu_supports() checks for AVX-512 state) supports, unless KMS_FP_BACKEND=c.
 */
static void
mul16_select(void)
{
	const char *want = getenv("KMS_FP_BACKEND");

	if (want != NULL && strcmp(want, "c") == 0) {
		return;
	}
#if defined(KMS_FP_X86)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512ifma")) {
		ifma_tables_init();
		mul16_impl = mont_mul16_ifma;
		mul16_name = "ifma";
		return;
	}
#endif
}

const char *
kms_mont_mul16_backend(void)
{
	(void)pthread_once(&mul16_once, mul16_select);
	return mul16_name;
}

void
kms_mont_mul16(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	(void)pthread_once(&mul16_once, mul16_select);
	mul16_impl(ctx, r, a, b);
}

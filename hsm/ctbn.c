/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/ctbn.h"

#include <string.h>

#include <openssl/bn.h>

#include "common/secmem.h"
#include "hsm/internal.h"

#include "common/banned.h"

/*
 * Every function here is straight-line in the limb count: loops run over ctx->n (public), and
 * data-dependent decisions are masks built from carries. See the header for the contract.
 */

typedef unsigned __int128 u128;

/* An all-ones mask from a bit that is 0 or 1. */
static inline uint64_t
bit_mask(uint64_t bit)
{
	return kms_ct_barrier_u64((uint64_t)0 - (bit & 1));
}

/*
 * mont_final_sub - r = t - m if t >= m else t, where t is n limbs plus a top limb of 0 or
 * 1 and t < 2m. Inlined with a constant n where it matters.
 */
static inline __attribute__((always_inline)) void
mont_final_sub(uint64_t *r, const uint64_t *t, uint64_t top, const uint64_t *m, size_t n)
{
	uint64_t s[KMS_CTBN_MAX_LIMBS];
	uint64_t borrow = 0;
	uint64_t keep_t;
	size_t j;

	for (j = 0; j < n; j++) {
		u128 d = (u128)t[j] - m[j] - borrow;
		s[j] = (uint64_t)d;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	/* t - m is negative exactly when the top limb cannot absorb the borrow. */
	keep_t = bit_mask(borrow & ~top);
	for (j = 0; j < n; j++) {
		r[j] = (t[j] & keep_t) | (s[j] & ~keep_t);
	}
}

static inline __attribute__((always_inline)) void
mont_add_n(const uint64_t *m, uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t s[KMS_CTBN_MAX_LIMBS];
	uint64_t carry = 0;
	size_t j;

	for (j = 0; j < n; j++) {
		u128 c = (u128)a[j] + b[j] + carry;
		s[j] = (uint64_t)c;
		carry = (uint64_t)(c >> 64);
	}
	mont_final_sub(r, s, carry, m, n);
}

static inline __attribute__((always_inline)) void
mont_sub_n(const uint64_t *m, uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t borrow = 0;
	uint64_t carry = 0;
	uint64_t mask;
	size_t j;

	for (j = 0; j < n; j++) {
		u128 d = (u128)a[j] - b[j] - borrow;
		r[j] = (uint64_t)d;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	/* Went negative: add the modulus back. */
	mask = bit_mask(borrow);
	for (j = 0; j < n; j++) {
		u128 c = (u128)r[j] + (m[j] & mask) + carry;
		r[j] = (uint64_t)c;
		carry = (uint64_t)(c >> 64);
	}
}

void
kms_mont_mul(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	if (ctx->n == 16) {
		kms_mont_mul16(ctx, r, a, b);
		return;
	}
	kms_mont_mul_generic(ctx, r, a, b);
}

void
kms_mont_mul_generic(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	uint64_t t[KMS_CTBN_MAX_LIMBS + 2];
	const uint64_t *m = ctx->m;
	size_t n = ctx->n;
	size_t i;
	size_t j;

	memset(t, 0, sizeof(t));
	for (i = 0; i < n; i++) {
		u128 c = 0;
		uint64_t ai = a[i];
		uint64_t q;

		for (j = 0; j < n; j++) {
			c += (u128)ai * b[j] + t[j];
			t[j] = (uint64_t)c;
			c >>= 64;
		}
		c += t[n];
		t[n] = (uint64_t)c;
		t[n + 1] = (uint64_t)(c >> 64);

		q = t[0] * ctx->m0inv;
		c = (u128)q * m[0] + t[0];
		c >>= 64;
		for (j = 1; j < n; j++) {
			c += (u128)q * m[j] + t[j];
			t[j - 1] = (uint64_t)c;
			c >>= 64;
		}
		c += t[n];
		t[n - 1] = (uint64_t)c;
		t[n] = t[n + 1] + (uint64_t)(c >> 64);
	}
	mont_final_sub(r, t, t[n], m, n);
	kms_memzero(t, sizeof(t));
}

void
kms_mont_to(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	kms_mont_mul(ctx, r, a, ctx->rr);
}

void
kms_mont_from(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	uint64_t one[KMS_CTBN_MAX_LIMBS];

	memset(one, 0, sizeof(one));
	one[0] = 1;
	kms_mont_mul(ctx, r, a, one);
}

/*
 * Add and subtract are called thousands of times per SAKKE key: the 16-limb case gets its own
 * unrolled copy (the limb count is public, so the branch is too).
 */
void
kms_mont_add(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	if (ctx->n == 16) {
		mont_add_n(ctx->m, r, a, b, 16);
	} else {
		mont_add_n(ctx->m, r, a, b, ctx->n);
	}
}

void
kms_mont_sub(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	if (ctx->n == 16) {
		mont_sub_n(ctx->m, r, a, b, 16);
	} else {
		mont_sub_n(ctx->m, r, a, b, ctx->n);
	}
}

void
kms_mont_neg(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	uint64_t zero[KMS_CTBN_MAX_LIMBS];

	memset(zero, 0, sizeof(zero));
	kms_mont_sub(ctx, r, zero, a);
}

/* Bit i of the n-limb number e. */
static inline unsigned int
bit_at(const uint64_t *e, size_t i)
{
	return (unsigned int)(e[i / 64] >> (i % 64)) & 1;
}

void
kms_mont_exp_public(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *e,
		    size_t num_e)
{
	/* odd[k] = a^(2k + 1): a 5-bit sliding window over the public exponent. */
	uint64_t odd[16][KMS_CTBN_MAX_LIMBS];
	uint64_t acc[KMS_CTBN_MAX_LIMBS];
	size_t n = ctx->n;
	size_t i;
	int started = 0;

	memcpy(odd[0], a, n * sizeof(uint64_t));
	kms_mont_mul(ctx, acc, a, a);
	for (i = 1; i < 16; i++) {
		kms_mont_mul(ctx, odd[i], odd[i - 1], acc);
	}
	memcpy(acc, ctx->one, n * sizeof(uint64_t));
	/*
	 * The exponent is public: its bits choose the squarings and which table entry to
	 * multiply by, the value of a never does.
	 */
	for (i = num_e * 64; i-- > 0;) {
		size_t lo;
		size_t k;
		unsigned int win = 0;

		if (!bit_at(e, i)) {
			if (started) {
				kms_mont_mul(ctx, acc, acc, acc);
			}
			continue;
		}
		/* the longest window i..lo of at most 5 bits that ends in a one */
		lo = i >= 4 ? i - 4 : 0;
		while (!bit_at(e, lo)) {
			lo++;
		}
		for (k = i + 1; k-- > lo;) {
			win = (win << 1) | bit_at(e, k);
			if (started) {
				kms_mont_mul(ctx, acc, acc, acc);
			}
		}
		if (started) {
			kms_mont_mul(ctx, acc, acc, odd[win >> 1]);
		} else {
			memcpy(acc, odd[win >> 1], n * sizeof(uint64_t));
			started = 1;
		}
		i = lo;
	}
	memcpy(r, acc, n * sizeof(uint64_t));
	kms_memzero(odd, sizeof(odd));
	kms_memzero(acc, sizeof(acc));
}

/*
 * Inversion by Bernstein and Yang's "safegcd" (Fast constant-time gcd computation and modular
 * inversion, 2019): a fixed number of divsteps, 62 at a time on the low 64 bits of f and g,
 * each batch summarised in a 2x2 matrix that is then applied to the full-length values. Every
 * step is branch-free; the number of steps depends only on the modulus's size. Numbers are
 * held in signed radix 2^62 (SG_LIMBS limbs), enough for 1024 bits plus sign and carries.
 */
#define SG_LIMBS 18
#define SG_MASK  (((uint64_t)1 << 62) - 1)

typedef __int128 i128;

struct sg_matrix {
	int64_t u, v, q, r;
};

/*
 * 62 divsteps on the low bits of f (odd) and g: delta' and the matrix t with
 * 2^62 (f', g') = t (f, g). Bernstein-Yang's divstep: if delta > 0 and g is odd,
 * (delta, f, g) -> (1 - delta, g, (g - f) / 2); else if g is odd, (1 + delta, f, (g + f) / 2);
 * else (1 + delta, f, g / 2). Here the halving of g is tracked by doubling f's row instead.
 */
static int64_t
sg_divsteps_62(int64_t delta, uint64_t f, uint64_t g, struct sg_matrix *t)
{
	uint64_t u = 1, v = 0, q = 0, r = 1;
	int i;

	for (i = 0; i < 62; i++) {
		uint64_t odd = kms_ct_barrier_u64((uint64_t)0 - (g & 1));
		/* delta > 0: the sign bit of -delta */
		uint64_t pos = (uint64_t)((uint64_t)(-delta) >> 63);
		uint64_t swap = kms_ct_barrier_u64(((uint64_t)0 - pos) & odd);
		uint64_t tmp;

		/* swap: (delta, f, g, u, v, q, r) <- (-delta, g, -f, q, r, -u, -v) */
		delta = (int64_t)(((uint64_t)delta ^ swap) - swap);
		tmp = (f ^ g) & swap;
		f ^= tmp;
		g ^= tmp;
		g = (g ^ swap) - swap;
		tmp = (u ^ q) & swap;
		u ^= tmp;
		q ^= tmp;
		q = (q ^ swap) - swap;
		tmp = (v ^ r) & swap;
		v ^= tmp;
		r ^= tmp;
		r = (r ^ swap) - swap;
		/* g odd: add f (g - f after a swap, g + f otherwise) */
		g += f & odd;
		q += u & odd;
		r += v & odd;
		/* halve g, double f's row */
		g = (uint64_t)((int64_t)g >> 1);
		u <<= 1;
		v <<= 1;
		delta += 1;
	}
	t->u = (int64_t)u;
	t->v = (int64_t)v;
	t->q = (int64_t)q;
	t->r = (int64_t)r;
	return delta;
}

/* (f, g) <- t (f, g) / 2^62; exact. */
static void
sg_update_fg(int64_t *f, int64_t *g, const struct sg_matrix *t)
{
	i128 cf = (i128)t->u * f[0] + (i128)t->v * g[0];
	i128 cg = (i128)t->q * f[0] + (i128)t->r * g[0];
	int i;

	cf >>= 62;
	cg >>= 62;
	for (i = 1; i < SG_LIMBS; i++) {
		cf += (i128)t->u * f[i] + (i128)t->v * g[i];
		cg += (i128)t->q * f[i] + (i128)t->r * g[i];
		f[i - 1] = (int64_t)((uint64_t)cf & SG_MASK);
		g[i - 1] = (int64_t)((uint64_t)cg & SG_MASK);
		cf >>= 62;
		cg >>= 62;
	}
	f[SG_LIMBS - 1] = (int64_t)cf;
	g[SG_LIMBS - 1] = (int64_t)cg;
}

/*
 * (d, e) <- t (d, e) / 2^62 mod m, keeping both in (-2m, m): multiples of m are added first to
 * undo negative inputs, then the multiple that clears the low 62 bits (minv62 = m^-1 mod 2^62).
 */
static void
sg_update_de(int64_t *d, int64_t *e, const struct sg_matrix *t, const int64_t *m, uint64_t minv62)
{
	int64_t sd = d[SG_LIMBS - 1] >> 63;
	int64_t se = e[SG_LIMBS - 1] >> 63;
	int64_t md = (t->u & sd) + (t->v & se);
	int64_t me = (t->q & sd) + (t->r & se);
	i128 cd = (i128)t->u * d[0] + (i128)t->v * e[0];
	i128 ce = (i128)t->q * d[0] + (i128)t->r * e[0];
	int i;

	md -= (int64_t)((minv62 * (uint64_t)cd + (uint64_t)md) & SG_MASK);
	me -= (int64_t)((minv62 * (uint64_t)ce + (uint64_t)me) & SG_MASK);
	cd += (i128)m[0] * md;
	ce += (i128)m[0] * me;
	cd >>= 62;
	ce >>= 62;
	for (i = 1; i < SG_LIMBS; i++) {
		cd += (i128)t->u * d[i] + (i128)t->v * e[i] + (i128)m[i] * md;
		ce += (i128)t->q * d[i] + (i128)t->r * e[i] + (i128)m[i] * me;
		d[i - 1] = (int64_t)((uint64_t)cd & SG_MASK);
		e[i - 1] = (int64_t)((uint64_t)ce & SG_MASK);
		cd >>= 62;
		ce >>= 62;
	}
	d[SG_LIMBS - 1] = (int64_t)cd;
	e[SG_LIMBS - 1] = (int64_t)ce;
}

/* 64-bit limbs (n of them) to signed radix 2^62. */
static void
sg_from_limbs(int64_t *out, const uint64_t *a, size_t n)
{
	size_t i;

	for (i = 0; i < SG_LIMBS; i++) {
		size_t bit = i * 62;
		size_t limb = bit / 64;
		unsigned int off = (unsigned int)(bit % 64);
		uint64_t w = 0;

		if (limb < n) {
			w = a[limb] >> off;
			if (off > 2 && limb + 1 < n) {
				w |= a[limb + 1] << (64 - off);
			}
		}
		out[i] = (int64_t)(w & SG_MASK);
	}
}

/* Signed radix 2^62, normalised to [0, 2^(64 n)), back to 64-bit limbs. */
static void
sg_to_limbs(uint64_t *out, const int64_t *a, size_t n)
{
	size_t i;

	memset(out, 0, n * sizeof(uint64_t));
	for (i = 0; i < SG_LIMBS; i++) {
		size_t bit = i * 62;
		size_t limb = bit / 64;
		unsigned int off = (unsigned int)(bit % 64);
		uint64_t w = (uint64_t)a[i];

		if (limb < n) {
			out[limb] |= w << off;
			if (off > 2 && limb + 1 < n) {
				out[limb + 1] |= w >> (64 - off);
			}
		}
	}
}

/* a <- a + (m & mask), a <- -a (if mask), carries propagated, top limb signed. */
static void
sg_cond_add(int64_t *a, const int64_t *m, int64_t mask)
{
	int64_t c = 0;
	int i;

	mask = kms_ct_barrier_i64(mask);

	for (i = 0; i < SG_LIMBS - 1; i++) {
		c += a[i] + (m[i] & mask);
		a[i] = (int64_t)((uint64_t)c & SG_MASK);
		c >>= 62;
	}
	a[SG_LIMBS - 1] += c + (m[SG_LIMBS - 1] & mask);
}

static void
sg_cond_negate(int64_t *a, int64_t mask)
{
	int64_t c = 0;
	int i;

	mask = kms_ct_barrier_i64(mask);

	for (i = 0; i < SG_LIMBS - 1; i++) {
		c += (a[i] ^ mask) - mask;
		a[i] = (int64_t)((uint64_t)c & SG_MASK);
		c >>= 62;
	}
	a[SG_LIMBS - 1] = ((a[SG_LIMBS - 1] ^ mask) - mask) + c;
}

/* r = a^-1 mod m (plain, not Montgomery), constant time; 0 for a = 0. m odd prime. */
static void
sg_inverse(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	int64_t f[SG_LIMBS], g[SG_LIMBS], d[SG_LIMBS], e[SG_LIMBS], m[SG_LIMBS];
	struct sg_matrix t;
	uint64_t minv62 = ((uint64_t)0 - ctx->m0inv) & SG_MASK;
	int64_t delta = 1;
	int64_t neg;
	size_t bits = 64 * ctx->n;
	size_t batches;
	size_t i;

	/* Bernstein-Yang, Theorem 11.2: floor((49 d + 57) / 17) divsteps suffice for d >= 46. */
	batches = ((49 * bits + 57) / 17 + 61) / 62;
	sg_from_limbs(m, ctx->m, ctx->n);
	memcpy(f, m, sizeof(f));
	sg_from_limbs(g, a, ctx->n);
	memset(d, 0, sizeof(d));
	memset(e, 0, sizeof(e));
	e[0] = 1;
	for (i = 0; i < batches; i++) {
		delta = sg_divsteps_62(delta, (uint64_t)f[0], (uint64_t)g[0], &t);
		sg_update_de(d, e, &t, m, minv62);
		sg_update_fg(f, g, &t);
	}
	/* Now g = 0 and f = +-1 (or f = +-m when a = 0, where d = 0): the inverse is f d. */
	neg = f[SG_LIMBS - 1] >> 63;
	sg_cond_negate(d, neg);
	/* d in (-2m, 2m): bring it into [0, m) */
	sg_cond_add(d, m, d[SG_LIMBS - 1] >> 63);
	sg_cond_add(d, m, d[SG_LIMBS - 1] >> 63);
	{
		int64_t s[SG_LIMBS];
		int64_t mask;
		int k;

		memcpy(s, d, sizeof(s));
		sg_cond_negate(m, -1);
		sg_cond_add(s, m, -1);                               /* s = d - m */
		mask = kms_ct_barrier_i64(~(s[SG_LIMBS - 1] >> 63)); /* d >= m */
		for (k = 0; k < SG_LIMBS; k++) {
			d[k] = (d[k] & ~mask) | (s[k] & mask);
		}
		kms_memzero(s, sizeof(s));
	}
	sg_to_limbs(r, d, ctx->n);
	kms_memzero(f, sizeof(f));
	kms_memzero(g, sizeof(g));
	kms_memzero(d, sizeof(d));
	kms_memzero(e, sizeof(e));
	kms_memzero(&t, sizeof(t));
}

void
kms_mont_inv(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	/* a = x R; its plain inverse is x^-1 R^-1; two multiplications by R^2 give x^-1 R. */
	sg_inverse(ctx, r, a);
	kms_mont_mul(ctx, r, r, ctx->rr);
	kms_mont_mul(ctx, r, r, ctx->rr);
}

void
kms_mont_inv_fermat(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a)
{
	kms_mont_exp_public(ctx, r, a, ctx->mm2, ctx->n);
}

int
kms_ctbn_from_be(uint64_t *r, size_t n, const uint8_t *in, size_t in_len)
{
	size_t i;

	if (in_len > n * 8) {
		return KMS_ERR_TOO_LARGE;
	}
	memset(r, 0, n * sizeof(uint64_t));
	for (i = 0; i < in_len; i++) {
		size_t pos = in_len - 1 - i; /* byte i counted from the least significant end */

		r[i / 8] |= (uint64_t)in[pos] << ((i % 8) * 8);
	}
	return KMS_OK;
}

void
kms_ctbn_to_be(uint8_t *out, size_t out_len, const uint64_t *a, size_t n)
{
	size_t i;

	for (i = 0; i < out_len; i++) {
		size_t limb = i / 8;
		uint8_t v = 0;

		if (limb < n) {
			v = (uint8_t)(a[limb] >> ((i % 8) * 8));
		}
		out[out_len - 1 - i] = v;
	}
}

uint64_t
kms_ctbn_is_zero(const uint64_t *a, size_t n)
{
	uint64_t acc = 0;
	size_t j;

	for (j = 0; j < n; j++) {
		acc |= a[j];
	}
	/* acc == 0 exactly when (acc | -acc) has a clear top bit. */
	return bit_mask(((acc | ((uint64_t)0 - acc)) >> 63) ^ 1);
}

uint64_t
kms_ctbn_eq(const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t acc = 0;
	size_t j;

	for (j = 0; j < n; j++) {
		acc |= a[j] ^ b[j];
	}
	return bit_mask(((acc | ((uint64_t)0 - acc)) >> 63) ^ 1);
}

uint64_t
kms_ctbn_lt(const uint64_t *a, const uint64_t *b, size_t n)
{
	uint64_t borrow = 0;
	size_t j;

	for (j = 0; j < n; j++) {
		u128 d = (u128)a[j] - b[j] - borrow;
		borrow = (uint64_t)(d >> 64) & 1;
	}
	return bit_mask(borrow);
}

void
kms_ctbn_cmov(uint64_t *r, const uint64_t *a, size_t n, uint64_t mask)
{
	size_t j;

	mask = kms_ct_barrier_u64(mask);

	for (j = 0; j < n; j++) {
		r[j] = (r[j] & ~mask) | (a[j] & mask);
	}
}

int
kms_mont_reduce_bytes(const struct kms_mont *ctx, uint64_t *r, const uint8_t *in, size_t in_len)
{
	uint64_t chunk[KMS_CTBN_MAX_LIMBS];
	uint64_t acc[KMS_CTBN_MAX_LIMBS];
	size_t chunk_bytes = ctx->n * 8;
	size_t first;
	size_t off;

	if (in_len > 2 * chunk_bytes) {
		return KMS_ERR_TOO_LARGE;
	}
	/*
	 * Horner in base R = 2^(64 n) on Montgomery forms: acc = acc * R + chunk. Chunks are
	 * taken from the most significant end; the first one may be short.
	 */
	memset(acc, 0, sizeof(acc));
	first = in_len % chunk_bytes;
	if (first == 0 && in_len > 0) {
		first = chunk_bytes;
	}
	for (off = 0; off < in_len;) {
		size_t take = off == 0 ? first : chunk_bytes;

		if (kms_ctbn_from_be(chunk, ctx->n, in + off, take) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		kms_mont_mul(ctx, acc, acc, ctx->rr); /* acc * R in Montgomery form */
		kms_mont_to(ctx, chunk, chunk);
		kms_mont_add(ctx, acc, acc, chunk);
		off += take;
	}
	kms_mont_from(ctx, r, acc);
	kms_memzero(chunk, sizeof(chunk));
	kms_memzero(acc, sizeof(acc));
	return KMS_OK;
}

int
kms_mont_init(struct kms_mont *ctx, const uint8_t *mod_be, size_t mod_len)
{
	BN_CTX *bn_ctx = NULL;
	BIGNUM *m = NULL;
	BIGNUM *rr = NULL;
	uint64_t inv = 1;
	size_t n;
	int i;
	int r = KMS_ERR_INVALID_ARG;

	memset(ctx, 0, sizeof(*ctx));
	if (mod_len == 0 || mod_len > 8 * KMS_CTBN_MAX_LIMBS || mod_be[0] == 0 ||
	    (mod_be[mod_len - 1] & 1) == 0 || (mod_len == 1 && mod_be[0] <= 2)) {
		return KMS_ERR_INVALID_ARG;
	}
	n = (mod_len + 7) / 8;
	ctx->n = n;
	if (kms_ctbn_from_be(ctx->m, n, mod_be, mod_len) != KMS_OK) {
		goto out;
	}
	/* -m^-1 mod 2^64 by Newton's iteration: each step doubles the correct low bits. */
	for (i = 0; i < 6; i++) {
		inv *= 2 - ctx->m[0] * inv;
	}
	ctx->m0inv = (uint64_t)0 - inv;

	/* R^2 mod m: the modulus is public, so OpenSSL's variable-time arithmetic is fine here. */
	r = KMS_ERR_CRYPTO;
	bn_ctx = BN_CTX_new();
	m = BN_bin2bn(mod_be, (int)mod_len, NULL);
	rr = BN_new();
	if (bn_ctx == NULL || m == NULL || rr == NULL) {
		goto out;
	}
	if (!BN_set_bit(rr, (int)(128 * n)) || !BN_mod(rr, rr, m, bn_ctx)) {
		goto out;
	}
	{
		uint8_t buf[8 * KMS_CTBN_MAX_LIMBS];

		if (BN_bn2binpad(rr, buf, (int)(8 * n)) < 0 ||
		    kms_ctbn_from_be(ctx->rr, n, buf, 8 * n) != KMS_OK) {
			goto out;
		}
	}
	/* R mod m = mont(R^2) and m - 2. */
	{
		uint64_t one[KMS_CTBN_MAX_LIMBS];
		uint64_t borrow = 2;
		size_t j;

		memset(one, 0, sizeof(one));
		one[0] = 1;
		kms_mont_to(ctx, ctx->one, one);
		for (j = 0; j < n; j++) {
			u128 d = (u128)ctx->m[j] - borrow;
			ctx->mm2[j] = (uint64_t)d;
			borrow = (uint64_t)(d >> 64) & 1;
		}
	}
	r = KMS_OK;
out:
	BN_free(rr);
	BN_free(m);
	BN_CTX_free(bn_ctx);
	if (r != KMS_OK) {
		memset(ctx, 0, sizeof(*ctx));
	}
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "common/shamir.h"

#include <string.h>

#include <openssl/rand.h>

#include "common/ct.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * GF(2^8) with the AES polynomial. The secret, the random coefficients and the shares' values
 * go through gf_mul and gf_inv only, which use shifts and masks: no table lookup indexed by
 * them and no branch on them (log/antilog tables would leak through the cache). The x
 * coordinates are public, but go through the same functions anyway.
 */

/* gf_mul - a * b modulo x^8+x^4+x^3+x+1: shift-and-add, eight rounds whatever the values. */
static uint8_t
gf_mul(uint8_t a, uint8_t b)
{
	uint64_t acc = 0;
	uint64_t aa = a;
	uint64_t mask;
	unsigned int i;

	for (i = 0; i < 8; i++) {
		mask = kms_ct_barrier_u64(0 - (((uint64_t)b >> i) & 1u));
		acc ^= aa & mask;
		/* aa * x: when bit 7 moves out to bit 8, reduce by 0x11b (which also clears it). */
		mask = kms_ct_barrier_u64(0 - ((aa >> 7) & 1u));
		aa = (aa << 1) ^ (0x11bu & mask);
	}
	return (uint8_t)acc;
}

/* gf_inv - a^254, the inverse of a (0 for 0), by a fixed chain of squarings and products. */
static uint8_t
gf_inv(uint8_t a)
{
	uint8_t a2 = gf_mul(a, a);       /* a^2 */
	uint8_t a3 = gf_mul(a2, a);      /* a^3 */
	uint8_t a6 = gf_mul(a3, a3);     /* a^6 */
	uint8_t a12 = gf_mul(a6, a6);    /* a^12 */
	uint8_t a15 = gf_mul(a12, a3);   /* a^15 */
	uint8_t a30 = gf_mul(a15, a15);  /* a^30 */
	uint8_t a60 = gf_mul(a30, a30);  /* a^60 */
	uint8_t a63 = gf_mul(a60, a3);   /* a^63 */
	uint8_t a126 = gf_mul(a63, a63); /* a^126 */
	uint8_t a127 = gf_mul(a126, a);  /* a^127 */

	return gf_mul(a127, a127); /* a^254 */
}

int
kms_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, uint8_t *xs,
		 uint8_t *ys)
{
	struct kms_secret *coef = NULL; /* owned: (m - 1) * len random coefficients */
	size_t i, j, c;
	size_t deg;
	uint8_t acc;
	uint8_t x;
	int r = KMS_ERR_INTERNAL;

	if (ys == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (secret == NULL || xs == NULL || len < 1 || len > KMS_SHAMIR_MAX_SECRET || m < 2 ||
	    m > n || n > KMS_SHAMIR_MAX_SHARES) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	deg = (size_t)m - 1;
	/* at most 254 * 64 octets: no overflow */
	if ((coef = kms_secret_new(deg * len)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (RAND_priv_bytes(coef->data, (int)coef->len) != 1) {
		r = KMS_ERR_RANDOM;
		goto out;
	}
	/*
	 * coef->data[(c - 1) * len + j] is the coefficient of x^c of byte j's polynomial; the
	 * constant term is secret[j]. Horner's rule from the highest degree down.
	 */
	for (i = 0; i < n; i++) {
		x = (uint8_t)(i + 1);
		xs[i] = x;
		for (j = 0; j < len; j++) {
			acc = 0;
			for (c = deg; c >= 1; c--) {
				acc = (uint8_t)(gf_mul(acc, x) ^ coef->data[(c - 1) * len + j]);
			}
			ys[i * len + j] = (uint8_t)(gf_mul(acc, x) ^ secret[j]);
		}
	}
	acc = 0;
	r = KMS_OK;
out:
	kms_secret_free(coef);
	if (r != KMS_OK && secret != NULL && len >= 1 && len <= KMS_SHAMIR_MAX_SECRET &&
	    n <= KMS_SHAMIR_MAX_SHARES) {
		kms_memzero(ys, (size_t)n * len);
	}
	return r;
}

int
kms_shamir_combine(const uint8_t *xs, const uint8_t *ys, size_t k, size_t len, uint8_t *out)
{
	uint8_t coef[KMS_SHAMIR_MAX_SHARES];
	uint8_t seen[256];
	uint8_t num, den;
	size_t i, j;
	int r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (len < 1 || len > KMS_SHAMIR_MAX_SECRET) {
		return KMS_ERR_INVALID_ARG; /* not even out's size is known */
	}
	kms_memzero(out, len);
	if (xs == NULL || ys == NULL || k < 2 || k > KMS_SHAMIR_MAX_SHARES) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	/* The x are public: plain checks. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < k; i++) {
		if (xs[i] == 0 || seen[xs[i]] != 0) {
			r = KMS_ERR_INVALID_ARG;
			goto out;
		}
		seen[xs[i]] = 1;
	}
	/* Lagrange basis at 0 in characteristic 2: l_i(0) = prod_{j != i} x_j / (x_i + x_j). */
	for (i = 0; i < k; i++) {
		num = 1;
		den = 1;
		for (j = 0; j < k; j++) {
			if (j != i) {
				num = gf_mul(num, xs[j]);
				den = gf_mul(den, (uint8_t)(xs[i] ^ xs[j]));
			}
		}
		coef[i] = gf_mul(num, gf_inv(den));
	}
	for (j = 0; j < len; j++) {
		uint8_t acc = 0;

		for (i = 0; i < k; i++) {
			acc ^= gf_mul(coef[i], ys[i * len + j]);
		}
		out[j] = acc;
	}
	r = KMS_OK;
out:
	kms_memzero(coef, sizeof(coef));
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shamir secret sharing over GF(2^8) (common/shamir.c). The file is included (STYLE.md 8) to
 * reach the field arithmetic, which is checked against FIPS-197's worked examples and a plain
 * reference multiplier; the split and combine against hand-computed shares and round trips
 * over every subset.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/rand.h>

#include "tests/unit/kms_test.h"

#include "common/shamir.c" /* the GF(2^8) arithmetic: gf_mul, gf_inv */

#include "common/banned.h"

/* The reference: carry-less multiply, then reduce by 0x11b, with ordinary branches. */
static unsigned int
ref_mul(unsigned int a, unsigned int b)
{
	unsigned int p = 0;
	int i;

	for (i = 0; i < 8; i++) {
		if (b & (1u << i)) {
			p ^= a << i;
		}
	}
	for (i = 14; i >= 8; i--) {
		if (p & (1u << i)) {
			p ^= 0x11bu << (i - 8);
		}
	}
	return p;
}

static void
test_gf_vectors(void)
{
	/* FIPS-197 section 4.2: {57} . {83} = {c1}; 4.2.1: {57} . {13} = {fe} via xtime. */
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x83), 0xc1);
	CU_ASSERT_EQUAL(gf_mul(0x83, 0x57), 0xc1);
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x13), 0xfe);
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x02), 0xae);
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x04), 0x47);
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x08), 0x8e);
	CU_ASSERT_EQUAL(gf_mul(0x57, 0x10), 0x07);
	CU_ASSERT_EQUAL(gf_mul(0x00, 0xff), 0x00);
	CU_ASSERT_EQUAL(gf_mul(0x01, 0xff), 0xff);
	/* x^7 * x = x^8 = x^4 + x^3 + x + 1 */
	CU_ASSERT_EQUAL(gf_mul(0x80, 0x02), 0x1b);
	/* The AES S-box starts from the inverse: {53}^-1 = {ca} (FIPS-197 5.1.1's example). */
	CU_ASSERT_EQUAL(gf_inv(0x53), 0xca);
	CU_ASSERT_EQUAL(gf_inv(0xca), 0x53);
	CU_ASSERT_EQUAL(gf_inv(0x01), 0x01);
	CU_ASSERT_EQUAL(gf_inv(0x00), 0x00);
}

/* Every product against the reference, and every inverse. */
static void
test_gf_exhaustive(void)
{
	unsigned int a, b, wrong = 0, wrong_inv = 0;

	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			if (gf_mul((uint8_t)a, (uint8_t)b) != ref_mul(a, b)) {
				wrong++;
			}
		}
		if (a != 0 && gf_mul((uint8_t)a, gf_inv((uint8_t)a)) != 1) {
			wrong_inv++;
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(wrong_inv, 0);
}

/*
 * Shares computed by hand: f(x) = 0x42 + 0x57 x, so f(1) = 0x15, f(2) = 0x42 ^ 0xae = 0xec,
 * f(3) = 0x42 ^ (0xae ^ 0x57) = 0xbb. Any two give back 0x42.
 */
static void
test_combine_by_hand(void)
{
	static const uint8_t xs12[] = {1, 2}, ys12[] = {0x15, 0xec};
	static const uint8_t xs32[] = {3, 2}, ys32[] = {0xbb, 0xec};
	static const uint8_t xs13[] = {1, 3}, ys13[] = {0x15, 0xbb};
	/* g(x) = 0x01 + 0x02 x + 0x03 x^2: g(1) = 0, g(2) = 1 ^ 4 ^ 3*4 = 1 ^ 4 ^ 0x0c = 0x09,
	 * g(4) = 1 ^ 8 ^ 3*0x10 = 1 ^ 8 ^ 0x30 = 0x39. */
	static const uint8_t xq[] = {1, 2, 4}, yq[] = {0x00, 0x09, 0x39};
	uint8_t out;

	CU_ASSERT_EQUAL(kms_shamir_combine(xs12, ys12, 2, 1, &out), KMS_OK);
	CU_ASSERT_EQUAL(out, 0x42);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs32, ys32, 2, 1, &out), KMS_OK);
	CU_ASSERT_EQUAL(out, 0x42);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs13, ys13, 2, 1, &out), KMS_OK);
	CU_ASSERT_EQUAL(out, 0x42);
	CU_ASSERT_EQUAL(kms_shamir_combine(xq, yq, 3, 1, &out), KMS_OK);
	CU_ASSERT_EQUAL(out, 0x01);
	/* Two of the three points of g: a line through them, not g(0). */
	CU_ASSERT_EQUAL(kms_shamir_combine(xq, yq, 2, 1, &out), KMS_OK);
	CU_ASSERT_NOT_EQUAL(out, 0x01);
}

/* Every subset of at least m of the n shares, in the order of its bits, gives the secret. */
static unsigned int
all_subsets(const uint8_t *secret, size_t len, unsigned int m, unsigned int n)
{
	uint8_t xs[KMS_SHAMIR_MAX_SHARES], ys[16 * KMS_SHAMIR_MAX_SECRET];
	uint8_t sx[16], sy[16 * KMS_SHAMIR_MAX_SECRET], out[KMS_SHAMIR_MAX_SECRET];
	unsigned int set, i, k, bad = 0;

	if (kms_shamir_split(secret, len, m, n, xs, ys) != KMS_OK) {
		return 1000;
	}
	for (i = 0; i < n; i++) {
		if (xs[i] != i + 1) {
			bad++;
		}
	}
	for (set = 1; set < (1u << n); set++) {
		k = 0;
		for (i = 0; i < n; i++) {
			if (set & (1u << i)) {
				/* reversed, so the order of the shares varies too */
				sx[k] = xs[n - 1 - i];
				memcpy(sy + k * len, ys + (n - 1 - i) * len, len);
				k++;
			}
		}
		if (k < 2) {
			continue;
		}
		memset(out, 0xa5, sizeof(out));
		if (kms_shamir_combine(sx, sy, k, len, out) != KMS_OK) {
			bad++;
			continue;
		}
		if (k >= m && memcmp(out, secret, len) != 0) {
			bad++; /* m or more must recover it */
		}
		/* fewer must not (a wrong value equals the secret by a 2^-8len chance) */
		if (k < m && len >= 16 && memcmp(out, secret, len) == 0) {
			bad++;
		}
	}
	return bad;
}

static void
test_round_trips(void)
{
	uint8_t secret[KMS_SHAMIR_MAX_SECRET];
	static const struct {
		unsigned int m, n;
		size_t len;
	} cases[] = {
		{2, 2, 32}, {2, 3, 32}, {3, 3, 32}, {3, 5, 32}, {3, 5, 1},
		{3, 5, 64}, {2, 5, 17}, {5, 5, 32}, {4, 7, 32}, {2, 10, 32},
	};
	size_t i;
	int rep;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (rep = 0; rep < 4; rep++) {
			CU_ASSERT_FATAL(RAND_bytes(secret, sizeof(secret)) == 1);
			CU_ASSERT_EQUAL(all_subsets(secret, cases[i].len, cases[i].m, cases[i].n),
					0);
		}
	}
}

/* The limits: 255 shares, 255 needed; a 1-octet secret of every value in a 2-of-2. */
static void
test_extremes(void)
{
	static uint8_t xs[255], ys[255 * 2], out[2];
	const uint8_t secret[2] = {0x00, 0xff};
	unsigned int v, bad = 0;
	uint8_t s, y2[2], x2[2];

	CU_ASSERT_EQUAL_FATAL(kms_shamir_split(secret, 2, 255, 255, xs, ys), KMS_OK);
	CU_ASSERT_EQUAL(xs[254], 255);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 255, 2, out), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(out, secret, 2), 0);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs + 1, ys + 2, 254, 2, out), KMS_OK);
	CU_ASSERT_NOT_EQUAL(memcmp(out, secret, 2), 0); /* 2^-16 chance of a false failure */

	for (v = 0; v < 256; v++) {
		s = (uint8_t)v;
		if (kms_shamir_split(&s, 1, 2, 2, x2, y2) != KMS_OK ||
		    kms_shamir_combine(x2, y2, 2, 1, out) != KMS_OK || out[0] != s) {
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/*
 * m - 1 shares say nothing: for random secrets, every (m-1)-subset of a 3-of-5 combines to
 * something else, and one share's value is spread over the whole field.
 */
static void
test_fewer_than_m(void)
{
	uint8_t secret[32], xs[5], ys[5 * 32], out[32];
	uint8_t sx[2], sy[2 * 32];
	unsigned int i, j, rep, same = 0, distinct = 0;
	uint8_t hit[256];
	uint8_t s1 = 0x5a;

	for (rep = 0; rep < 20; rep++) {
		CU_ASSERT_FATAL(RAND_bytes(secret, sizeof(secret)) == 1);
		CU_ASSERT_EQUAL_FATAL(kms_shamir_split(secret, 32, 3, 5, xs, ys), KMS_OK);
		for (i = 0; i < 5; i++) {
			for (j = i + 1; j < 5; j++) {
				sx[0] = xs[i];
				sx[1] = xs[j];
				memcpy(sy, ys + i * 32, 32);
				memcpy(sy + 32, ys + j * 32, 32);
				CU_ASSERT_EQUAL(kms_shamir_combine(sx, sy, 2, 32, out), KMS_OK);
				if (memcmp(out, secret, 32) == 0) {
					same++;
				}
			}
			if (memcmp(ys + i * 32, secret, 32) == 0) {
				same++;
			}
		}
	}
	CU_ASSERT_EQUAL(same, 0);

	/* A fixed secret byte: share 1 of 4096 splits takes (nearly) every value. */
	memset(hit, 0, sizeof(hit));
	for (rep = 0; rep < 4096; rep++) {
		uint8_t x3[3], y3[3];

		CU_ASSERT_EQUAL_FATAL(kms_shamir_split(&s1, 1, 3, 3, x3, y3), KMS_OK);
		hit[y3[0]] = 1;
	}
	for (i = 0; i < 256; i++) {
		distinct += hit[i];
	}
	CU_ASSERT(distinct >= 250); /* expected 256 - 256 e^-16 */
}

/* Two splits of one secret differ (fresh coefficients each time). */
static void
test_fresh_randomness(void)
{
	uint8_t secret[32], xs[3], a[3 * 32], b[3 * 32];

	memset(secret, 0x11, sizeof(secret));
	CU_ASSERT_EQUAL_FATAL(kms_shamir_split(secret, 32, 2, 3, xs, a), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_shamir_split(secret, 32, 2, 3, xs, b), KMS_OK);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
}

static void
test_split_invalid(void)
{
	static const struct {
		size_t len;
		unsigned int m, n;
	} bad[] = {
		{0, 2, 3},  {65, 2, 3}, {32, 1, 3},   {32, 0, 3},     {32, 4, 3},
		{32, 2, 1}, {32, 2, 0}, {32, 2, 256}, {32, 256, 256},
	};
	static uint8_t xs[256], ys[256 * 65];
	uint8_t secret[65];
	size_t i;

	memset(secret, 0x33, sizeof(secret));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(ys, 0xa5, sizeof(ys));
		CU_ASSERT_EQUAL(kms_shamir_split(secret, bad[i].len, bad[i].m, bad[i].n, xs, ys),
				KMS_ERR_INVALID_ARG);
		/* ys is wiped where its size is known (n * len within the limits) */
		if (bad[i].len >= 1 && bad[i].len <= 64 && bad[i].n <= 255) {
			CU_ASSERT(kms_test_all_zero(ys, bad[i].n * bad[i].len));
		}
	}
	memset(ys, 0xa5, sizeof(ys));
	CU_ASSERT_EQUAL(kms_shamir_split(NULL, 32, 2, 3, xs, ys), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_split(secret, 32, 2, 3, NULL, ys), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(ys, 3 * 32));
	CU_ASSERT_EQUAL(kms_shamir_split(secret, 32, 2, 3, xs, NULL), KMS_ERR_INVALID_ARG);
}

static void
test_combine_invalid(void)
{
	uint8_t xs[4] = {1, 2, 3, 4};
	uint8_t ys[4 * 32];
	uint8_t out[65];
	static uint8_t many_x[256], many_y[256];
	unsigned int i;

	memset(ys, 0x77, sizeof(ys));
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 1, 32, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(out, 32));
	CU_ASSERT_EQUAL(out[32], 0xa5);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 0, 32, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 2, 0, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 2, 65, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_combine(NULL, ys, 2, 32, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, NULL, 2, 32, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 2, 32, NULL), KMS_ERR_INVALID_ARG);
	/* a zero x, a repeated x (also not next to each other) */
	xs[2] = 0;
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 3, 32, out), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(out, 32));
	xs[2] = 1;
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 3, 32, out), KMS_ERR_INVALID_ARG);
	xs[2] = 3;
	CU_ASSERT_EQUAL(kms_shamir_combine(xs, ys, 4, 32, out), KMS_OK);
	/* 256 shares cannot be distinct and non-zero; 255 can */
	for (i = 0; i < 256; i++) {
		many_x[i] = (uint8_t)(i + 1);
	}
	CU_ASSERT_EQUAL(kms_shamir_combine(many_x, many_y, 255, 1, out), KMS_OK);
	CU_ASSERT_EQUAL(kms_shamir_combine(many_x, many_y, 256, 1, out), KMS_ERR_INVALID_ARG);
}

static CU_TestInfo shamir_tests[] = {
	{"GF(2^8) FIPS-197 vectors", test_gf_vectors},
	{"GF(2^8) every product and inverse", test_gf_exhaustive},
	{"combine hand-computed shares", test_combine_by_hand},
	{"every subset of small splits", test_round_trips},
	{"255 shares, every 1-octet secret", test_extremes},
	{"fewer than m shares", test_fewer_than_m},
	{"fresh coefficients", test_fresh_randomness},
	{"split: invalid arguments", test_split_invalid},
	{"combine: invalid arguments", test_combine_invalid},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"shamir", NULL, NULL, NULL, NULL, shamir_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Constant-time Montgomery arithmetic (hsm/ctbn.c) against OpenSSL's BIGNUM, for every limb
 * count from 1 to 16, random and edge-case operands.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/rand.h>

#include "hsm/ctbn.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define MAXB (8 * KMS_CTBN_MAX_LIMBS)

static BN_CTX *bn_ctx;

static int
suite_init(void)
{
	bn_ctx = BN_CTX_new();
	return bn_ctx == NULL;
}

static int
suite_cleanup(void)
{
	BN_CTX_free(bn_ctx);
	return 0;
}

static BIGNUM *
limbs_to_bn(const uint64_t *a, size_t n)
{
	uint8_t buf[MAXB];

	kms_ctbn_to_be(buf, 8 * n, a, n);
	return BN_bin2bn(buf, (int)(8 * n), NULL);
}

static void
bn_to_limbs(uint64_t *r, size_t n, const BIGNUM *b)
{
	uint8_t buf[MAXB];

	CU_ASSERT_FATAL(BN_bn2binpad(b, buf, (int)(8 * n)) >= 0);
	CU_ASSERT_FATAL(kms_ctbn_from_be(r, n, buf, 8 * n) == KMS_OK);
}

/* A random odd modulus of exactly bits bits (top bit set). */
static BIGNUM *
random_modulus(int bits)
{
	BIGNUM *m = BN_new();

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_FATAL(BN_rand(m, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD) == 1);
	return m;
}

static void
setup(struct kms_mont *ctx, const BIGNUM *m)
{
	uint8_t buf[MAXB];
	int len = BN_num_bytes(m);

	CU_ASSERT_FATAL(BN_bn2bin(m, buf) == len);
	CU_ASSERT_FATAL(kms_mont_init(ctx, buf, (size_t)len) == KMS_OK);
}

/* R mod m as a BIGNUM, R = 2^(64 n). */
static BIGNUM *
bn_r(const struct kms_mont *ctx, const BIGNUM *m)
{
	BIGNUM *r = BN_new();

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(BN_set_bit(r, (int)(64 * ctx->n)) == 1);
	CU_ASSERT_FATAL(BN_mod(r, r, m, bn_ctx) == 1);
	return r;
}

static void
check_modulus(const BIGNUM *m, int rounds)
{
	struct kms_mont ctx;
	BIGNUM *rinv = NULL;
	BIGNUM *rr = NULL;
	uint64_t a[KMS_CTBN_MAX_LIMBS], b[KMS_CTBN_MAX_LIMBS], r[KMS_CTBN_MAX_LIMBS];
	uint64_t e[KMS_CTBN_MAX_LIMBS];
	int i;

	setup(&ctx, m);
	rr = bn_r(&ctx, m);
	rinv = BN_mod_inverse(NULL, rr, m, bn_ctx);
	CU_ASSERT_FATAL(rinv != NULL);
	for (i = 0; i < rounds; i++) {
		BIGNUM *ba = BN_new(), *bb = BN_new(), *want = BN_new(), *got = NULL;

		CU_ASSERT_FATAL(ba != NULL && bb != NULL && want != NULL);
		/* edge operands in the first rounds: 0, 1, m - 1 */
		if (i == 0) {
			BN_zero(ba);
			BN_one(bb);
		} else if (i == 1) {
			BN_copy(ba, m);
			BN_sub_word(ba, 1);
			BN_copy(bb, ba);
		} else {
			BN_rand_range(ba, m);
			BN_rand_range(bb, m);
		}
		bn_to_limbs(a, ctx.n, ba);
		bn_to_limbs(b, ctx.n, bb);

		/* mul: a b R^-1 */
		kms_mont_mul(&ctx, r, a, b);
		BN_mod_mul(want, ba, bb, m, bn_ctx);
		BN_mod_mul(want, want, rinv, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);
		/* aliasing */
		memcpy(r, a, sizeof(a));
		kms_mont_mul(&ctx, r, r, b);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);

		/* add, sub, neg */
		kms_mont_add(&ctx, r, a, b);
		BN_mod_add(want, ba, bb, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);
		kms_mont_sub(&ctx, r, a, b);
		BN_mod_sub(want, ba, bb, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);
		kms_mont_neg(&ctx, r, a);
		BN_mod_sub(want, m, ba, m, bn_ctx);
		BN_mod(want, want, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);

		/* to and from Montgomery form round trip */
		kms_mont_to(&ctx, r, a);
		BN_mod_mul(want, ba, rr, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);
		kms_mont_from(&ctx, r, r);
		CU_ASSERT(kms_ctbn_eq(r, a, ctx.n) == ~(uint64_t)0);

		/* comparisons and cmov */
		CU_ASSERT(kms_ctbn_lt(a, b, ctx.n) == (BN_cmp(ba, bb) < 0 ? ~(uint64_t)0 : 0));
		CU_ASSERT(kms_ctbn_eq(a, b, ctx.n) == (BN_cmp(ba, bb) == 0 ? ~(uint64_t)0 : 0));
		CU_ASSERT(kms_ctbn_is_zero(a, ctx.n) == (BN_is_zero(ba) ? ~(uint64_t)0 : 0));
		memcpy(r, a, sizeof(a));
		kms_ctbn_cmov(r, b, ctx.n, 0);
		CU_ASSERT(memcmp(r, a, ctx.n * 8) == 0);
		kms_ctbn_cmov(r, b, ctx.n, ~(uint64_t)0);
		CU_ASSERT(memcmp(r, b, ctx.n * 8) == 0);

		/* exponentiation with a public exponent, every few rounds (slow for 16 limbs) */
		if (i % 8 == 2) {
			BIGNUM *be = BN_new();
			uint64_t am[KMS_CTBN_MAX_LIMBS];

			CU_ASSERT_FATAL(be != NULL);
			BN_rand_range(be, m);
			bn_to_limbs(e, ctx.n, be);
			kms_mont_to(&ctx, am, a);
			kms_mont_exp_public(&ctx, r, am, e, ctx.n);
			kms_mont_from(&ctx, r, r);
			BN_mod_exp(want, ba, be, m, bn_ctx);
			got = limbs_to_bn(r, ctx.n);
			CU_ASSERT(BN_cmp(got, want) == 0);
			BN_free(got);
			BN_free(be);
		}
		BN_free(ba);
		BN_free(bb);
		BN_free(want);
	}
	BN_free(rr);
	BN_free(rinv);
}

static void
test_random_moduli(void)
{
	static const int bits[] = {3,   17,  63,  64,  65,  127,  128,  191, 255,
				   256, 257, 383, 521, 767, 1022, 1023, 1024};
	size_t i;

	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		BIGNUM *m = random_modulus(bits[i]);

		check_modulus(m, bits[i] > 512 ? 64 : 200);
		BN_free(m);
	}
}

/* Moduli whose limbs are all ones, or nearly: the carries at their extremes. */
static void
test_extreme_moduli(void)
{
	uint8_t buf[MAXB];
	size_t lens[] = {8, 32, 128};
	size_t i;

	for (i = 0; i < 3; i++) {
		BIGNUM *m;

		memset(buf, 0xff, lens[i]);
		m = BN_bin2bn(buf, (int)lens[i], NULL);
		CU_ASSERT_FATAL(m != NULL);
		check_modulus(m, 100);
		BN_free(m);
		memset(buf, 0, lens[i]);
		buf[0] = 0x80;
		buf[lens[i] - 1] = 0x01;
		m = BN_bin2bn(buf, (int)lens[i], NULL);
		check_modulus(m, 100);
		BN_free(m);
	}
}

static void
test_inverse_prime(void)
{
	/* P-256's group order and a 1024-bit prime. */
	BIGNUM *m = NULL;
	struct kms_mont ctx;
	int i;

	CU_ASSERT_FATAL(
		BN_hex2bn(&m, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551") >
		0);
	setup(&ctx, m);
	for (i = 0; i < 50; i++) {
		BIGNUM *ba = BN_new(), *want = NULL, *got = NULL;
		uint64_t a[KMS_CTBN_MAX_LIMBS], r[KMS_CTBN_MAX_LIMBS];

		CU_ASSERT_FATAL(ba != NULL);
		do {
			BN_rand_range(ba, m);
		} while (BN_is_zero(ba));
		bn_to_limbs(a, ctx.n, ba);
		kms_mont_to(&ctx, r, a);
		kms_mont_inv(&ctx, r, r);
		kms_mont_from(&ctx, r, r);
		want = BN_mod_inverse(NULL, ba, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(want != NULL && BN_cmp(got, want) == 0);
		BN_free(got);
		BN_free(want);
		BN_free(ba);
	}
	/* the inverse of 0 is 0 */
	{
		uint64_t z[KMS_CTBN_MAX_LIMBS] = {0};
		uint64_t r[KMS_CTBN_MAX_LIMBS];

		kms_mont_inv(&ctx, r, z);
		CU_ASSERT(kms_ctbn_is_zero(r, ctx.n) == ~(uint64_t)0);
	}
	BN_free(m);
	m = NULL;
	CU_ASSERT_FATAL(BN_generate_prime_ex(m = BN_new(), 1024, 0, NULL, NULL, NULL) == 1);
	setup(&ctx, m);
	for (i = 0; i < 5; i++) {
		BIGNUM *ba = BN_new(), *want = NULL, *got = NULL;
		uint64_t a[KMS_CTBN_MAX_LIMBS], r[KMS_CTBN_MAX_LIMBS];

		do {
			BN_rand_range(ba, m);
		} while (BN_is_zero(ba));
		bn_to_limbs(a, ctx.n, ba);
		kms_mont_to(&ctx, r, a);
		kms_mont_inv(&ctx, r, r);
		kms_mont_from(&ctx, r, r);
		want = BN_mod_inverse(NULL, ba, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(want != NULL && BN_cmp(got, want) == 0);
		BN_free(got);
		BN_free(want);
		BN_free(ba);
	}
	BN_free(m);
}

/* safegcd against OpenSSL and against Fermat, for primes of many sizes and edge values. */
static void
test_inverse_safegcd(void)
{
	static const int bits[] = {5,   31,  61,  62,  63,  64,  65,   124,  127,  128,
				   189, 255, 256, 383, 521, 640, 1021, 1022, 1023, 1024};
	size_t i;

	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		BIGNUM *m = BN_new();
		struct kms_mont ctx;
		int j;

		CU_ASSERT_FATAL(m != NULL);
		CU_ASSERT_FATAL(BN_generate_prime_ex(m, bits[i], 0, NULL, NULL, NULL) == 1);
		setup(&ctx, m);
		for (j = 0; j < 40; j++) {
			BIGNUM *ba = BN_new(), *want = NULL, *got = NULL;
			uint64_t a[KMS_CTBN_MAX_LIMBS], r[KMS_CTBN_MAX_LIMBS],
				f[KMS_CTBN_MAX_LIMBS];

			CU_ASSERT_FATAL(ba != NULL);
			switch (j) {
			case 0:
				BN_one(ba);
				break;
			case 1:
				BN_set_word(ba, 2);
				break;
			case 2:
				BN_copy(ba, m);
				BN_sub_word(ba, 1);
				break;
			case 3:
				BN_copy(ba, m);
				BN_sub_word(ba, 2);
				break;
			case 4:
				BN_one(ba);
				BN_lshift(ba, ba, bits[i] - 2);
				break;
			default:
				do {
					BN_rand_range(ba, m);
				} while (BN_is_zero(ba));
			}
			bn_to_limbs(a, ctx.n, ba);
			kms_mont_to(&ctx, r, a);
			kms_mont_inv_fermat(&ctx, f, r);
			kms_mont_inv(&ctx, r, r);
			CU_ASSERT(memcmp(r, f, ctx.n * 8) == 0);
			kms_mont_from(&ctx, r, r);
			want = BN_mod_inverse(NULL, ba, m, bn_ctx);
			got = limbs_to_bn(r, ctx.n);
			CU_ASSERT(want != NULL && BN_cmp(got, want) == 0);
			BN_free(got);
			BN_free(want);
			BN_free(ba);
		}
		BN_free(m);
	}
}

static void
test_reduce_bytes(void)
{
	BIGNUM *m = random_modulus(255);
	struct kms_mont ctx;
	uint8_t in[2 * 32 + 1];
	size_t len;

	setup(&ctx, m);
	CU_ASSERT_EQUAL(ctx.n, 4);
	for (len = 0; len <= 2 * 32; len++) {
		uint64_t r[KMS_CTBN_MAX_LIMBS];
		BIGNUM *bi, *want = BN_new(), *got;

		CU_ASSERT_EQUAL(RAND_bytes(in, (int)sizeof(in)), 1);
		if (len > 0 && len % 7 == 0) {
			memset(in, 0xff, len);
		}
		CU_ASSERT_EQUAL(kms_mont_reduce_bytes(&ctx, r, in, len), KMS_OK);
		bi = BN_bin2bn(in, (int)len, NULL);
		BN_mod(want, bi, m, bn_ctx);
		got = limbs_to_bn(r, ctx.n);
		CU_ASSERT(BN_cmp(got, want) == 0);
		BN_free(got);
		BN_free(bi);
		BN_free(want);
	}
	{
		uint64_t r[KMS_CTBN_MAX_LIMBS];

		CU_ASSERT_EQUAL(kms_mont_reduce_bytes(&ctx, r, in, 2 * 32 + 1), KMS_ERR_TOO_LARGE);
	}
	BN_free(m);
}

static void
test_init_rejects(void)
{
	struct kms_mont ctx;
	uint8_t buf[MAXB + 1];

	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, MAXB + 1), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, MAXB), KMS_OK);
	buf[3] = 0xfe; /* even */
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, 4), KMS_ERR_INVALID_ARG);
	buf[0] = 0x00; /* leading zero */
	buf[3] = 0xff;
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, 4), KMS_ERR_INVALID_ARG);
	buf[0] = 1; /* 1 */
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, 1), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(ctx.n, 0);
	buf[0] = 3;
	CU_ASSERT_EQUAL(kms_mont_init(&ctx, buf, 1), KMS_OK);
}

static void
test_bytes(void)
{
	uint64_t a[2];
	uint8_t in[17];
	uint8_t out[16];
	size_t i;

	for (i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(i + 1);
	}
	CU_ASSERT_EQUAL(kms_ctbn_from_be(a, 2, in, 17), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kms_ctbn_from_be(a, 2, in, 16), KMS_OK);
	CU_ASSERT_EQUAL(a[1], 0x0102030405060708ULL);
	CU_ASSERT_EQUAL(a[0], 0x090a0b0c0d0e0f10ULL);
	kms_ctbn_to_be(out, 16, a, 2);
	CU_ASSERT(memcmp(out, in, 16) == 0);
	CU_ASSERT_EQUAL(kms_ctbn_from_be(a, 2, in, 3), KMS_OK);
	CU_ASSERT_EQUAL(a[0], 0x010203ULL);
	CU_ASSERT_EQUAL(a[1], 0);
	/* wider output pads with zeros */
	kms_ctbn_to_be(out, 16, a, 1);
	CU_ASSERT_EQUAL(out[15], 3);
	CU_ASSERT_EQUAL(out[0], 0);
}

static CU_TestInfo ctbn_tests[] = {
	{"random moduli of 3 to 1024 bits against OpenSSL", test_random_moduli},
	{"moduli with extreme limbs", test_extreme_moduli},
	{"Fermat inverse modulo primes", test_inverse_prime},
	{"safegcd inverse = Fermat = OpenSSL, primes of 5 to 1024 bits", test_inverse_safegcd},
	{"reduction of byte strings", test_reduce_bytes},
	{"bad moduli are refused", test_init_rejects},
	{"big-endian conversion", test_bytes},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"ctbn", suite_init, suite_cleanup, NULL, NULL, ctbn_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_mont_mul16() (hsm/fp1024.c): the dispatched back end (AVX-512 IFMA where the CPU has it)
 * against the portable kms_mont_mul16_c() and against OpenSSL (a * b * 2^-1024 mod m with BN),
 * for SAKKE's p and q (RFC 6509 parameter set 1), a random odd 1024-bit modulus and the
 * extremes 2^1024 - 1 and 2^1023 + 1: random operands, edge values, an operand < 2^1024 but not
 * reduced (kms_mont_to() passes those), and every aliasing of r with a and b.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/bn.h>

#include "hsm/ctbn.h"
#include "hsm/internal.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define LIMBS       16
#define MOD_BYTES   128
#define NUM_RANDOM  20000
#define NUM_UNREDUC 2000
#define NUM_ALIAS   2000

/* RFC 6509 Appendix A, parameter set 1 (vectors.txt section 2). */
static const char sakke_p_hex[] =
	"997ABB1F 0A563FDA 65C61198 DAD0657A 416C0CE1 9CB48261 BE9AE358 B3E01A2E"
	"F40AAB27 E2FC0F1B 228730D5 31A59CB0 E791B39F F7C88A19 356D27F4 A666A6D0"
	"E26C6487 326B4CD4 512AC5CD 65681CE1 B6AFF4A8 31852A82 A7CF3C52 1C3C09AA"
	"9F94D6AF 56971F1F FCE3E823 89857DB0 80C5DF10 AC7ACE87 666D807A FEA85FEB";
static const char sakke_q_hex[] =
	"265EAEC7 C2958FF6 99718466 36B4195E 905B0338 672D2098 6FA6B8D6 2CF8068B"
	"BD02AAC9 F8BF03C6 C8A1CC35 4C69672C 39E46CE7 FDF22286 4D5B49FD 2999A9B4"
	"389B1921 CC9AD335 144AB173 595A0738 6DABFD2A 0C614AA0 A9F3CF14 870F026A"
	"A7E535AB D5A5C7C7 FF38FA08 E2615F6C 203177C4 2B1EB3A1 D99B601E BFAA17FB";

/* splitmix64: a fixed-seed generator, so a failure reproduces. */
static uint64_t rng_state = 0x6b6d732d66703130ULL;

static uint64_t
rng64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
limbs_eq(const uint64_t *a, const uint64_t *b)
{
	int i;

	for (i = 0; i < LIMBS; i++) {
		if (a[i] != b[i]) {
			return 0;
		}
	}
	return 1;
}

/* a < b as 16-limb numbers (test data only: not constant time). */
static int
limbs_lt(const uint64_t *a, const uint64_t *b)
{
	int i;

	for (i = LIMBS - 1; i >= 0; i--) {
		if (a[i] != b[i]) {
			return a[i] < b[i];
		}
	}
	return 0;
}

/* A random value with limbs drawn from a mix of patterns (any value < 2^1024). */
static void
random_any(uint64_t *x)
{
	int i;

	for (i = 0; i < LIMBS; i++) {
		uint64_t v = rng64();

		switch (rng64() % 8) {
		case 0:
			x[i] = 0;
			break;
		case 1:
			x[i] = ~(uint64_t)0;
			break;
		case 2:
			x[i] = v & 0xfffffffffffffULL; /* 52-bit boundaries of the IFMA digits */
			break;
		default:
			x[i] = v;
			break;
		}
	}
}

/* A random value < m. */
static void
random_below(uint64_t *x, const uint64_t *m)
{
	for (;;) {
		random_any(x);
		if (rng64() % 2 == 0) {
			x[LIMBS - 1] = m[LIMBS - 1] == 0 ? 0 : rng64() % m[LIMBS - 1];
		}
		if (limbs_lt(x, m)) {
			return;
		}
	}
}

/* The OpenSSL side: m, R^-1 mod m and scratch. */
struct ref {
	BN_CTX *bn_ctx;
	BIGNUM *m;
	BIGNUM *rinv;
	BIGNUM *a;
	BIGNUM *b;
	BIGNUM *r;
};

static BIGNUM *
bn_from_limbs(BIGNUM *out, const uint64_t *x)
{
	uint8_t be[MOD_BYTES];

	kms_ctbn_to_be(be, sizeof(be), x, LIMBS);
	return BN_bin2bn(be, (int)sizeof(be), out);
}

static int
ref_init(struct ref *ref, const uint64_t *m)
{
	BIGNUM *rr;
	int ok = 0;

	memset(ref, 0, sizeof(*ref));
	ref->bn_ctx = BN_CTX_new();
	ref->m = BN_new();
	ref->rinv = BN_new();
	ref->a = BN_new();
	ref->b = BN_new();
	ref->r = BN_new();
	rr = BN_new();
	if (ref->bn_ctx == NULL || ref->m == NULL || ref->rinv == NULL || ref->a == NULL ||
	    ref->b == NULL || ref->r == NULL || rr == NULL) {
		goto out;
	}
	if (bn_from_limbs(ref->m, m) == NULL || !BN_set_bit(rr, 8 * MOD_BYTES) ||
	    BN_mod_inverse(ref->rinv, rr, ref->m, ref->bn_ctx) == NULL) {
		goto out;
	}
	ok = 1;
out:
	BN_free(rr);
	return ok;
}

static void
ref_cleanup(struct ref *ref)
{
	BN_CTX_free(ref->bn_ctx);
	BN_free(ref->m);
	BN_free(ref->rinv);
	BN_free(ref->a);
	BN_free(ref->b);
	BN_free(ref->r);
}

/* out = a * b * 2^-1024 mod m by OpenSSL; 0 on an OpenSSL failure. */
static int
ref_mul(struct ref *ref, uint64_t *out, const uint64_t *a, const uint64_t *b)
{
	uint8_t be[MOD_BYTES];

	if (bn_from_limbs(ref->a, a) == NULL || bn_from_limbs(ref->b, b) == NULL ||
	    !BN_mod_mul(ref->r, ref->a, ref->b, ref->m, ref->bn_ctx) ||
	    !BN_mod_mul(ref->r, ref->r, ref->rinv, ref->m, ref->bn_ctx) ||
	    BN_bn2binpad(ref->r, be, (int)sizeof(be)) != (int)sizeof(be)) {
		return 0;
	}
	return kms_ctbn_from_be(out, LIMBS, be, sizeof(be)) == KMS_OK;
}

/* The moduli under test, as big-endian bytes. */
enum {
	MOD_P,
	MOD_Q,
	MOD_RANDOM,
	MOD_ALL_ONES,
	MOD_LOW_TOP,
	NUM_MODS
};

static const char *const mod_names[NUM_MODS] = {"SAKKE p", "SAKKE q", "random 1024-bit",
						"2^1024 - 1", "2^1023 + 1"};

static void
mod_bytes(int which, uint8_t be[MOD_BYTES])
{
	uint64_t seed = rng_state;
	size_t i;

	switch (which) {
	case MOD_P:
		CU_ASSERT_FATAL(kms_test_hex(be, MOD_BYTES, sakke_p_hex) == MOD_BYTES);
		break;
	case MOD_Q:
		CU_ASSERT_FATAL(kms_test_hex(be, MOD_BYTES, sakke_q_hex) == MOD_BYTES);
		break;
	case MOD_RANDOM:
		rng_state = 0x72616e646f6d6d6fULL; /* the same modulus every run */
		for (i = 0; i < MOD_BYTES; i++) {
			be[i] = (uint8_t)rng64();
		}
		be[0] |= 0x80;
		be[MOD_BYTES - 1] |= 1;
		rng_state = seed;
		break;
	case MOD_ALL_ONES:
		memset(be, 0xff, MOD_BYTES);
		break;
	default:
		memset(be, 0, MOD_BYTES);
		be[0] = 0x80;
		be[MOD_BYTES - 1] = 1;
		break;
	}
}

/*
 * One checker per modulus: counts the operand pairs where the dispatched back end, the
 * portable one and OpenSSL do not all agree, and prints the first few.
 */
struct checker {
	struct kms_mont ctx;
	struct ref ref;
	const char *name;
	unsigned long checked;
	unsigned long failed;
};

static void
checker_init(struct checker *ck, int which)
{
	uint8_t be[MOD_BYTES];

	memset(ck, 0, sizeof(*ck));
	mod_bytes(which, be);
	ck->name = mod_names[which];
	CU_ASSERT_FATAL(kms_mont_init(&ck->ctx, be, sizeof(be)) == KMS_OK);
	CU_ASSERT_FATAL(ck->ctx.n == LIMBS);
	CU_ASSERT_FATAL(ref_init(&ck->ref, ck->ctx.m));
}

static void
report(struct checker *ck, const char *what, const uint64_t *a, const uint64_t *b)
{
	int i;

	ck->failed++;
	if (ck->failed > 3) {
		return;
	}
	fprintf(stderr, "\n%s, modulus %s (backend %s): mismatch\n  a =", what, ck->name,
		kms_mont_mul16_backend());
	for (i = LIMBS - 1; i >= 0; i--) {
		fprintf(stderr, " %016llx", (unsigned long long)a[i]);
	}
	fprintf(stderr, "\n  b =");
	for (i = LIMBS - 1; i >= 0; i--) {
		fprintf(stderr, " %016llx", (unsigned long long)b[i]);
	}
	fprintf(stderr, "\n");
}

/* Check a * b (a and b distinct from the outputs) against both references. */
static void
check_pair(struct checker *ck, const char *what, const uint64_t *a, const uint64_t *b)
{
	uint64_t fast[LIMBS];
	uint64_t port[LIMBS];
	uint64_t want[LIMBS];

	ck->checked++;
	kms_mont_mul16(&ck->ctx, fast, a, b);
	kms_mont_mul16_c(&ck->ctx, port, a, b);
	if (!ref_mul(&ck->ref, want, a, b)) {
		CU_FAIL("OpenSSL reference failed");
		return;
	}
	if (!limbs_eq(fast, want) || !limbs_eq(port, want)) {
		report(ck, what, a, b);
	}
}

static void
checker_finish(struct checker *ck)
{
	CU_ASSERT(ck->checked > 0);
	CU_ASSERT_EQUAL(ck->failed, 0);
	ref_cleanup(&ck->ref);
}

static void
test_backend(void)
{
	const char *name = kms_mont_mul16_backend();

	CU_ASSERT_PTR_NOT_NULL_FATAL(name);
	CU_ASSERT(strcmp(name, "c") == 0 || strcmp(name, "adx") == 0 || strcmp(name, "ifma") == 0);
	fprintf(stderr, "[kms_mont_mul16 backend: %s] ", name);
}

static void
run_random(int which)
{
	struct checker ck;
	uint64_t a[LIMBS];
	uint64_t b[LIMBS];
	int i;

	checker_init(&ck, which);
	for (i = 0; i < NUM_RANDOM; i++) {
		random_below(a, ck.ctx.m);
		random_below(b, ck.ctx.m);
		check_pair(&ck, "random", a, b);
	}
	checker_finish(&ck);
}

static void
test_random_p(void)
{
	run_random(MOD_P);
}

static void
test_random_q(void)
{
	run_random(MOD_Q);
}

static void
test_random_m(void)
{
	run_random(MOD_RANDOM);
}

static void
test_random_extreme(void)
{
	run_random(MOD_ALL_ONES);
	run_random(MOD_LOW_TOP);
}

/* Edge values < m: 0, 1, 2, m - 1, m - 2, R mod m, R^2 mod m, patterns of all-ones limbs. */
#define NUM_EDGES 14

static void
edge_values(const struct kms_mont *ctx, uint64_t e[NUM_EDGES][LIMBS])
{
	const uint64_t *m = ctx->m;
	int k;
	int i;

	memset(e, 0, sizeof(uint64_t) * NUM_EDGES * LIMBS);
	e[1][0] = 1;
	e[2][0] = 2;
	memcpy(e[3], m, sizeof(e[3]));
	e[3][0] -= 1; /* m is odd: no borrow */
	memcpy(e[4], m, sizeof(e[4]));
	for (i = 0; i < LIMBS; i++) { /* m - 2, with the borrow (m = 2^1023 + 1) */
		uint64_t sub = i == 0 ? 2 : 1;
		uint64_t old = e[4][i];

		e[4][i] = old - sub;
		if (old >= sub) {
			break;
		}
	}
	memcpy(e[5], ctx->one, sizeof(e[5]));
	memcpy(e[6], ctx->rr, sizeof(e[6]));
	for (i = 0; i < LIMBS; i++) {
		e[7][i] = i % 2 == 0 ? ~(uint64_t)0 : 0; /* alternate all-ones limbs */
		e[8][i] = i % 2 == 1 ? ~(uint64_t)0 : 0;
		e[9][i] = ~(uint64_t)0;                    /* 2^k - 1 below the top limb */
		e[10][i] = 0xfffffffffffffULL << (i % 12); /* straddles the 52-bit digits */
		e[11][i] = m[i];                           /* m >> 1 */
	}
	e[9][LIMBS - 1] = 0;
	for (i = 0; i < LIMBS - 1; i++) {
		e[11][i] = (m[i] >> 1) | (m[i + 1] << 63);
	}
	e[11][LIMBS - 1] = m[LIMBS - 1] >> 1;
	e[12][0] = ~(uint64_t)0;              /* 2^64 - 1 */
	e[13][LIMBS - 1] = (uint64_t)1 << 60; /* 2^1020 */
	/* Reduce the patterns that are not below m (only the top limb decides here). */
	for (k = 7; k < NUM_EDGES; k++) {
		while (!limbs_lt(e[k], m)) {
			e[k][LIMBS - 1] >>= 1;
		}
	}
}

static void
test_edges(void)
{
	int which;

	for (which = 0; which < NUM_MODS; which++) {
		struct checker ck;
		uint64_t e[NUM_EDGES][LIMBS];
		uint64_t r[LIMBS];
		uint64_t want[LIMBS];
		int i;
		int j;

		checker_init(&ck, which);
		edge_values(&ck.ctx, e);
		for (i = 0; i < NUM_EDGES; i++) {
			CU_ASSERT(limbs_lt(e[i], ck.ctx.m));
			for (j = 0; j < NUM_EDGES; j++) {
				check_pair(&ck, "edge", e[i], e[j]);
			}
			/* a == b as the same pointer, and r aliasing both */
			kms_mont_mul16_c(&ck.ctx, want, e[i], e[i]);
			kms_mont_mul16(&ck.ctx, r, e[i], e[i]);
			CU_ASSERT(limbs_eq(r, want));
			memcpy(r, e[i], sizeof(r));
			kms_mont_mul16(&ck.ctx, r, r, r);
			CU_ASSERT(limbs_eq(r, want));
		}
		checker_finish(&ck);
	}
}

/* One operand any value < 2^1024 (kms_mont_to() passes unreduced input), the other < m. */
static void
test_unreduced(void)
{
	int which;

	for (which = 0; which < NUM_MODS; which++) {
		struct checker ck;
		uint64_t a[LIMBS];
		uint64_t b[LIMBS];
		int i;

		checker_init(&ck, which);
		for (i = 0; i < NUM_UNREDUC; i++) {
			random_any(a);
			if (i % 4 == 0) {
				memset(a, 0xff, sizeof(a)); /* 2^1024 - 1 */
			}
			random_below(b, ck.ctx.m);
			if (i % 8 == 1) {
				memcpy(b, ck.ctx.m, sizeof(b));
				b[0] -= 1;
			}
			check_pair(&ck, "unreduced a", a, b);
			check_pair(&ck, "unreduced b", b, a);
		}
		/* kms_mont_to() goes through this path with b = R^2 mod m */
		for (i = 0; i < NUM_UNREDUC; i++) {
			random_any(a);
			check_pair(&ck, "to Montgomery", a, ck.ctx.rr);
		}
		checker_finish(&ck);
	}
}

/* r == a, r == b and r == a == b give the same as distinct buffers. */
static void
test_aliasing(void)
{
	int which;

	for (which = 0; which < NUM_MODS; which++) {
		struct checker ck;
		uint64_t a[LIMBS];
		uint64_t b[LIMBS];
		uint64_t r[LIMBS];
		uint64_t want[LIMBS];
		unsigned long bad = 0;
		int i;

		checker_init(&ck, which);
		for (i = 0; i < NUM_ALIAS; i++) {
			random_below(a, ck.ctx.m);
			random_below(b, ck.ctx.m);

			check_pair(&ck, "aliasing", a, b);
			kms_mont_mul16_c(&ck.ctx, want, a, b);
			memcpy(r, a, sizeof(r));
			kms_mont_mul16(&ck.ctx, r, r, b); /* r == a */
			bad += !limbs_eq(r, want);
			memcpy(r, b, sizeof(r));
			kms_mont_mul16(&ck.ctx, r, a, r); /* r == b */
			bad += !limbs_eq(r, want);

			kms_mont_mul16_c(&ck.ctx, want, a, a);
			memcpy(r, a, sizeof(r));
			kms_mont_mul16(&ck.ctx, r, r, r); /* r == a == b */
			bad += !limbs_eq(r, want);

			/* the portable back end aliases too */
			memcpy(r, a, sizeof(r));
			kms_mont_mul16_c(&ck.ctx, r, r, r);
			bad += !limbs_eq(r, want);
		}
		CU_ASSERT_EQUAL(bad, 0);
		checker_finish(&ck);
	}
}

/* A long dependent chain (as in an exponentiation) agrees step for step. */
static void
test_chain(void)
{
	struct checker ck;
	uint64_t x[LIMBS];
	uint64_t y[LIMBS];
	uint64_t g[LIMBS];
	unsigned long bad = 0;
	int i;

	checker_init(&ck, MOD_P);
	random_below(g, ck.ctx.m);
	memcpy(x, g, sizeof(x));
	memcpy(y, g, sizeof(y));
	for (i = 0; i < 5000; i++) {
		kms_mont_mul16(&ck.ctx, x, x, i % 3 == 0 ? g : x);
		kms_mont_mul16_c(&ck.ctx, y, y, i % 3 == 0 ? g : y);
		bad += !limbs_eq(x, y);
	}
	check_pair(&ck, "chain end", x, g);
	CU_ASSERT_EQUAL(bad, 0);
	checker_finish(&ck);
}

static CU_TestInfo fp1024_tests[] = {
	{"backend name", test_backend},
	{"random pairs mod p", test_random_p},
	{"random pairs mod q", test_random_q},
	{"random pairs mod a random modulus", test_random_m},
	{"random pairs mod 2^1024-1 and 2^1023+1", test_random_extreme},
	{"edge values", test_edges},
	{"one operand unreduced", test_unreduced},
	{"aliasing", test_aliasing},
	{"dependent chain", test_chain},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"fp1024", NULL, NULL, NULL, NULL, fp1024_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ct_check - run under valgrind's memcheck (tests/ct/CMakeLists.txt). Secret inputs are marked
 * undefined with KMS_CT_SECRET; memcheck then reports any conditional jump, memory address or
 * system-call argument that depends on them. The code under test declassifies exactly what it
 * means to reveal (KMS_CT_DECLASSIFY). A clean run is the test.
 *
 *   ct_check all   the constant-time arithmetic, hex coding of secrets, and SAKKE issuing
 *   ct_check leak  a deliberate branch on a secret: must be reported (the negative control)
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/hex.h"
#include "hsm/ctbn.h"
#include "hsm/internal.h"
#include "hsm/sakke.h"

#include "common/banned.h"

static int failures;

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "ct_check: %s failed\n", what);
		failures++;
	}
}

/* A sink the compiler cannot drop, that takes values without branching on them. */
static volatile uint64_t sink;

static void
absorb(const uint64_t *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sink ^= a[i];
	}
}

static void
check_ctbn(size_t bytes)
{
	struct kms_mont ctx;
	uint8_t mod[128];
	uint8_t raw[256];
	uint64_t a[KMS_CTBN_MAX_LIMBS], b[KMS_CTBN_MAX_LIMBS], r[KMS_CTBN_MAX_LIMBS];
	uint64_t mask;

	check(RAND_bytes(mod, (int)bytes) == 1, "RAND_bytes");
	mod[0] |= 0x80;
	mod[bytes - 1] |= 1;
	check(kms_mont_init(&ctx, mod, bytes) == KMS_OK, "kms_mont_init");
	check(RAND_bytes(raw, (int)sizeof(raw)) == 1, "RAND_bytes");
	/* the operands: secret from here on */
	KMS_CT_SECRET(raw, sizeof(raw));
	check(kms_mont_reduce_bytes(&ctx, a, raw, 2 * bytes) == KMS_OK, "reduce");
	check(kms_mont_reduce_bytes(&ctx, b, raw + 5, bytes) == KMS_OK, "reduce");
	kms_mont_mul(&ctx, r, a, b);
	absorb(r, ctx.n);
	kms_mont_mul(&ctx, r, r, r);
	kms_mont_add(&ctx, r, r, a);
	kms_mont_sub(&ctx, r, b, r);
	kms_mont_neg(&ctx, r, r);
	kms_mont_to(&ctx, r, r);
	kms_mont_from(&ctx, r, r);
	kms_mont_exp_public(&ctx, r, a, ctx.mm2, 1);
	kms_mont_inv(&ctx, r, a);
	absorb(r, ctx.n);
	mask = kms_ctbn_lt(a, b, ctx.n) ^ kms_ctbn_eq(a, b, ctx.n) ^ kms_ctbn_is_zero(a, ctx.n);
	kms_ctbn_cmov(r, a, ctx.n, mask);
	absorb(r, ctx.n);
	check(kms_ctbn_from_be(r, ctx.n, raw, bytes) == KMS_OK, "from_be");
	kms_ctbn_to_be(raw, bytes, r, ctx.n);
}

static void
check_hex(void)
{
	uint8_t secret[32];
	uint8_t back[32];
	char hex[65];

	check(RAND_bytes(secret, (int)sizeof(secret)) == 1, "RAND_bytes");
	KMS_CT_SECRET(secret, sizeof(secret));
	check(kms_hex_encode(hex, sizeof(hex), secret, sizeof(secret)) == KMS_OK, "hex encode");
	check(kms_hex_decode(back, sizeof(back), hex, 64) == KMS_OK, "hex decode");
	absorb((const uint64_t *)(const void *)back, 4);
}

static void
check_sakke(void)
{
	struct kms_sakke_kms *kms = NULL;
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	uint8_t rsk[KMS_SAKKE_POINT_LEN];
	uint8_t id[32];
	int i;

	check(kms_sakke_kms_generate(&kms) == KMS_OK, "kms_sakke_kms_generate");
	if (kms == NULL) {
		return;
	}
	kms_sakke_kms_public(kms, zpub);
	kms_sakke_ct_mark_secret(kms);
	for (i = 0; i < 3; i++) {
		memset(id, 0x41 + i, sizeof(id));
		check(kms_sakke_issue(kms, id, sizeof(id), rsk) == KMS_OK, "kms_sakke_issue");
		/* The RSK goes to its owner: from here it may be looked at. */
		KMS_CT_DECLASSIFY(rsk, sizeof(rsk));
		check(kms_sakke_validate(zpub, id, sizeof(id), rsk) == KMS_OK,
		      "kms_sakke_validate");
	}
	kms_sakke_kms_free(kms);
}

static int
leak(void)
{
	uint8_t secret[1];

	check(RAND_bytes(secret, 1) == 1, "RAND_bytes");
	KMS_CT_SECRET(secret, 1);
	if (secret[0] & 1) { /* the deliberate leak */
		sink++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ct_check all|leak\n");
		return 2;
	}
	if (strcmp(argv[1], "leak") == 0) {
		return leak();
	}
	if (strcmp(argv[1], "all") != 0) {
		fprintf(stderr, "usage: ct_check all|leak\n");
		return 2;
	}
	check_ctbn(32);
	check_ctbn(128);
	check_hex();
	check_sakke();
	if (failures == 0) {
		printf("ct_check: done\n");
	}
	return failures == 0 ? 0 : 1;
}

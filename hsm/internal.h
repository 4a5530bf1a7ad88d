/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_INTERNAL_H
#define KMS_HSM_INTERNAL_H

#include <stdint.h>

#include "common/ct.h" /* KMS_CT_SECRET, KMS_CT_DECLASSIFY */
#include "hsm/ctbn.h"

/* Private to hsm/: the Montgomery multiplication back ends behind kms_mont_mul(). */

/* Any limb count (ctx->n <= KMS_CTBN_MAX_LIMBS). */
void kms_mont_mul_generic(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a,
			  const uint64_t *b);
/*
 * Exactly 16 limbs (1024-bit moduli: SAKKE's p and q); fp1024.c. kms_mont_mul16() runs the back
 * end picked once per process (KMS_FP_BACKEND=c in the environment forces the portable one);
 * kms_mont_mul16_c() is the portable back end, always available (the tests' reference).
 * Same contract as kms_mont_mul(): r = a * b * 2^-1024 mod m, constant time, r may alias.
 */
void kms_mont_mul16(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b);
void kms_mont_mul16_c(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a,
		      const uint64_t *b);
/* kms_mont_mul16_backend - the back end kms_mont_mul16() uses: "c", "adx" or "ifma". */
const char *kms_mont_mul16_backend(void);

/*
 * kms_sakke_pairing_for_test - w = <R, Q> (RFC 6508 3.2, the representation x2/x1 as 128
 * big-endian octets) of two encoded points; the tests check g = <P, P> with it.
 */
int kms_sakke_pairing_for_test(uint8_t w[128], const uint8_t r_pt[257], const uint8_t q_pt[257]);

/* kms_sakke_ct_mark_secret - mark z_T as secret for tests/ct (no-op outside KMS_CT_VALGRIND). */
struct kms_sakke_kms;
void kms_sakke_ct_mark_secret(struct kms_sakke_kms *kms);

#endif /* KMS_HSM_INTERNAL_H */

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_CTBN_H
#define KMS_HSM_CTBN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Constant-time Montgomery arithmetic modulo a fixed odd modulus of up to 1024 bits
 * (KMS_CTBN_MAX_LIMBS 64-bit limbs, little-endian limb order). Used for scalars modulo a group
 * order (ECCSI's q of P-256, SAKKE's q) and the SAKKE base field.
 *
 * Constant time: for a given modulus (whose limb count is public), the sequence of
 * instructions and memory addresses never depends on the values of the operands. There is no
 * branch and no table index on operand data; carries are computed arithmetically and
 * selections are masks. Only the public exponents of kms_mont_exp_public() steer control flow.
 * tests/unit/test_ctbn.c checks the arithmetic against OpenSSL; tests/ct/ checks the absence of
 * secret-dependent branches and addresses under valgrind (ctgrind method).
 *
 * All element arguments are arrays of ctx->n limbs, fully reduced (< modulus) unless said.
 * Outputs may alias inputs.
 */
#define KMS_CTBN_MAX_LIMBS 16

struct kms_mont {
	size_t n;                         /* limbs in use */
	uint64_t m[KMS_CTBN_MAX_LIMBS];   /* the modulus */
	uint64_t m0inv;                   /* -m^-1 mod 2^64 */
	uint64_t rr[KMS_CTBN_MAX_LIMBS];  /* R^2 mod m, R = 2^(64 n) */
	uint64_t one[KMS_CTBN_MAX_LIMBS]; /* R mod m: 1 in Montgomery form */
	uint64_t mm2[KMS_CTBN_MAX_LIMBS]; /* m - 2, the exponent of a Fermat inverse */
};

/*
 * kms_mont_init - set ctx up for the odd modulus given as mod_len big-endian bytes
 * (1 <= mod_len <= 8 * KMS_CTBN_MAX_LIMBS, no leading zero byte, modulus > 2).
 * KMS_ERR_INVALID_ARG otherwise. The modulus is public.
 */
int kms_mont_init(struct kms_mont *ctx, const uint8_t *mod_be, size_t mod_len) KMS_WUR;

/* r = a * b * R^-1 mod m. */
void kms_mont_mul(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b);
/* r = a * R mod m (into Montgomery form). a may be any value < R, reduced or not. */
void kms_mont_to(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a);
/* r = a * R^-1 mod m (out of Montgomery form). */
void kms_mont_from(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a);
/* r = a + b mod m, r = a - b mod m, r = -a mod m. */
void kms_mont_add(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b);
void kms_mont_sub(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b);
void kms_mont_neg(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a);
/*
 * r = a^e (Montgomery form in and out) for a PUBLIC exponent e of num_e limbs: the exponent's
 * bits steer the loop and pick table entries (a 5-bit sliding window), a never does.
 */
void kms_mont_exp_public(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a,
			 const uint64_t *e, size_t num_e);
/*
 * r = a^-1 (Montgomery form in and out) for a prime modulus; a = 0 gives 0. Constant time, by
 * Bernstein and Yang's safegcd (a fixed number of branch-free divsteps).
 */
void kms_mont_inv(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a);
/* The same by Fermat, a^(m-2): slower; the tests compare the two. */
void kms_mont_inv_fermat(const struct kms_mont *ctx, uint64_t *r, const uint64_t *a);

/*
 * kms_mont_reduce_bytes - r = (the big-endian integer in in[0..in_len)) mod m, in plain (not
 * Montgomery) form. Any in_len up to 2 * 8 * ctx->n bytes; KMS_ERR_TOO_LARGE beyond.
 */
int kms_mont_reduce_bytes(const struct kms_mont *ctx, uint64_t *r, const uint8_t *in,
			  size_t in_len) KMS_WUR;

/* Limb helpers (constant time, ctx-free). n limbs each. */
/* Big-endian bytes (exactly 8 * n bytes or fewer, left-padded) to limbs: KMS_ERR_TOO_LARGE if
 * longer. */
int kms_ctbn_from_be(uint64_t *r, size_t n, const uint8_t *in, size_t in_len) KMS_WUR;
/* Limbs to exactly out_len big-endian bytes (truncating high limbs must lose only zeros: caller's
 * job). */
void kms_ctbn_to_be(uint8_t *out, size_t out_len, const uint64_t *a, size_t n);
/* All-ones mask if a == 0, else 0. */
uint64_t kms_ctbn_is_zero(const uint64_t *a, size_t n);
/* All-ones mask if a == b, else 0. */
uint64_t kms_ctbn_eq(const uint64_t *a, const uint64_t *b, size_t n);
/* All-ones mask if a < b, else 0. */
uint64_t kms_ctbn_lt(const uint64_t *a, const uint64_t *b, size_t n);
/* r = mask ? a : r, for mask all-ones or zero. */
void kms_ctbn_cmov(uint64_t *r, const uint64_t *a, size_t n, uint64_t mask);

#endif /* KMS_HSM_CTBN_H */

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_SAKKE_H
#define KMS_HSM_SAKKE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * SAKKE (RFC 6508) with parameter set 1 of RFC 6509: the KMS side (master key pair, RSK
 * issuing, the KMS self-check) and the client's pairing check of an RSK (RFC 6508 6.1.2).
 * Points are 0x04 || x || y with 128-octet coordinates (257 octets); the master secret z_T is
 * a big-endian integer 0 < z_T < q of at most 128 octets. The identifier is opaque octets,
 * read as the big-endian integer a (RFC 6508 6.1.1).
 */
#define KMS_SAKKE_POINT_LEN  257
#define KMS_SAKKE_SCALAR_LEN 128
#define KMS_SAKKE_MAX_ID_LEN 256

struct kms_sakke_kms;

/*
 * kms_sakke_kms_new - take z_T (1..128 big-endian octets, 0 < z_T < q) and compute Z_T =
 * [z_T]P and the precomputed tables the issuer uses. The secret and every table derived from
 * it live in locked, non-dumpable memory. KMS_ERR_SCALAR for a bad z_T.
 */
int kms_sakke_kms_new(struct kms_sakke_kms **out, const uint8_t *z, size_t z_len) KMS_WUR;
int kms_sakke_kms_generate(struct kms_sakke_kms **out) KMS_WUR;
void kms_sakke_kms_free(struct kms_sakke_kms *kms);
/* Z_T, the public key (KmsCertificate/PubEncKey). */
void kms_sakke_kms_public(const struct kms_sakke_kms *kms, uint8_t out[KMS_SAKKE_POINT_LEN]);
/* z_T as 128 big-endian octets, for wrapping under the KEK (out is the caller's secret). */
void kms_sakke_kms_secret(const struct kms_sakke_kms *kms, uint8_t out[KMS_SAKKE_SCALAR_LEN]);

/*
 * kms_sakke_issue - RSK = [(a + z_T)^-1 mod q]P for the identifier id (1..KMS_SAKKE_MAX_ID_LEN
 * octets). The RSK passes kms_sakke_selfcheck() before it is returned; otherwise
 * KMS_ERR_SELFTEST and rsk is zeroed. KMS_ERR_SCALAR in the negligible case a + z_T = 0 mod q.
 * rsk is secret: the caller owns and wipes it.
 */
int kms_sakke_issue(const struct kms_sakke_kms *kms, const uint8_t *id, size_t id_len,
		    uint8_t rsk[KMS_SAKKE_POINT_LEN]) KMS_WUR;

/*
 * kms_sakke_selfcheck - the KMS's check [a + z_T]RSK == P. KMS_OK, KMS_ERR_POINT for an RSK
 * that is not a point of the curve, KMS_ERR_AUTH if the equation fails.
 */
int kms_sakke_selfcheck(const struct kms_sakke_kms *kms, const uint8_t *id, size_t id_len,
			const uint8_t rsk[KMS_SAKKE_POINT_LEN]) KMS_WUR;

/*
 * kms_sakke_validate - the client's check (RFC 6508 6.1.2): RSK and Z_T are points of the
 * curve and < [a]P + Z_T, RSK > == g, the Tate-Lichtenbaum pairing of RFC 6508 3.2.
 * KMS_OK if valid, KMS_ERR_POINT for malformed points, KMS_ERR_AUTH if the pairing differs.
 */
int kms_sakke_validate(const uint8_t z_pub[KMS_SAKKE_POINT_LEN], const uint8_t *id, size_t id_len,
		       const uint8_t rsk[KMS_SAKKE_POINT_LEN]) KMS_WUR;

/*
 * kms_sakke_point_check - is in[0..len) a well-formed point of E: exactly 257 octets, 0x04,
 * coordinates below p, on the curve. KMS_OK or KMS_ERR_POINT. For untrusted input (an RSK or
 * a KMS public key received from elsewhere) before it reaches the fixed-size functions.
 */
int kms_sakke_point_check(const uint8_t *in, size_t len) KMS_WUR;

#endif /* KMS_HSM_SAKKE_H */

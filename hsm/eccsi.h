/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_ECCSI_H
#define KMS_HSM_ECCSI_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * ECCSI (RFC 6507) over NIST P-256 with SHA-256, the KMS side and the client-side check.
 * Points are SEC1 uncompressed (0x04 || x || y, 65 octets), scalars 32 big-endian octets.
 * The identifier ID is opaque octets (in MIKEY-SAKKE: the TS 33.180 UID, raw or ASCII hex).
 */
#define KMS_ECCSI_SCALAR_LEN 32
#define KMS_ECCSI_POINT_LEN  65
#define KMS_ECCSI_MAX_ID_LEN 1024

/* The KMS's ECCSI key pair: KSAK (secret, in locked memory) and KPAK = [KSAK]G. */
struct kms_eccsi_kms;

/*
 * kms_eccsi_kms_new - take a KSAK (32 big-endian octets, 0 < KSAK < q) and compute KPAK.
 * KMS_ERR_SCALAR for a zero or out-of-range KSAK. *out is NULL on failure.
 */
int kms_eccsi_kms_new(struct kms_eccsi_kms **out, const uint8_t ksak[KMS_ECCSI_SCALAR_LEN]) KMS_WUR;
/* kms_eccsi_kms_generate - a fresh random KSAK. */
int kms_eccsi_kms_generate(struct kms_eccsi_kms **out) KMS_WUR;
/* kms_eccsi_kms_free - wipe and free. NULL is a no-op. */
void kms_eccsi_kms_free(struct kms_eccsi_kms *kms);
/* kms_eccsi_kms_kpak - copy KPAK out. */
void kms_eccsi_kms_kpak(const struct kms_eccsi_kms *kms, uint8_t out[KMS_ECCSI_POINT_LEN]);
/* kms_eccsi_kms_ksak - copy KSAK out (for wrapping it under the KEK; out is the caller's secret).
 */
void kms_eccsi_kms_ksak(const struct kms_eccsi_kms *kms, uint8_t out[KMS_ECCSI_SCALAR_LEN]);

/*
 * kms_eccsi_issue - issue (SSK, PVT) for ID (1..KMS_ECCSI_MAX_ID_LEN octets) with a fresh
 * random v (RFC 6507 5.1.1), retrying if HS or SSK is zero. The pair passes the client check
 * of RFC 6507 5.1.2 before it is returned; a failure is KMS_ERR_SELFTEST and nothing is output.
 * ssk is secret: the caller owns and wipes it. Outputs are zeroed on failure.
 */
int kms_eccsi_issue(const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
		    uint8_t ssk[KMS_ECCSI_SCALAR_LEN], uint8_t pvt[KMS_ECCSI_POINT_LEN]) KMS_WUR;
/* kms_eccsi_issue_with_v - the same with a given v (0 < v < q): known-answer tests only. */
int kms_eccsi_issue_with_v(const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
			   const uint8_t v[KMS_ECCSI_SCALAR_LEN], uint8_t ssk[KMS_ECCSI_SCALAR_LEN],
			   uint8_t pvt[KMS_ECCSI_POINT_LEN]) KMS_WUR;

/* kms_eccsi_hs - HS = SHA-256(G || KPAK || ID || PVT) (RFC 6507 5.1.1 step 3). */
int kms_eccsi_hs(uint8_t hs[32], const uint8_t kpak[KMS_ECCSI_POINT_LEN], const uint8_t *id,
		 size_t id_len, const uint8_t pvt[KMS_ECCSI_POINT_LEN]) KMS_WUR;

/*
 * kms_eccsi_validate - the client's check (RFC 6507 5.1.2): KPAK and PVT are points on the
 * curve (not infinity), 0 < SSK < q, and [SSK]G == KPAK + [HS]PVT. KMS_OK if valid;
 * KMS_ERR_POINT / KMS_ERR_SCALAR for malformed input; KMS_ERR_AUTH if the equation fails.
 */
int kms_eccsi_validate(const uint8_t kpak[KMS_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
		       const uint8_t ssk[KMS_ECCSI_SCALAR_LEN],
		       const uint8_t pvt[KMS_ECCSI_POINT_LEN]) KMS_WUR;

#endif /* KMS_HSM_ECCSI_H */

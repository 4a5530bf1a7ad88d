/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_SHAMIR_H
#define KMS_COMMON_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Shamir's M-of-N secret sharing over GF(2^8) (the AES field, x^8+x^4+x^3+x+1), byte by byte:
 * share x of byte j is f_j(x), where f_j has degree m - 1, f_j(0) = secret[j] and random other
 * coefficients. Any m shares determine f_j(0); m - 1 shares say nothing about it. Field
 * arithmetic runs in constant time (no table lookups, no branches on secret data). The
 * printable form of a share is tools/share.h; docs/backup-shares.md describes both.
 */

#define KMS_SHAMIR_MAX_SECRET 64
#define KMS_SHAMIR_MAX_SHARES 255

/*
 * kms_shamir_split - split secret (len 1..KMS_SHAMIR_MAX_SECRET octets) into n shares
 * (2 <= m <= n <= 255) of which any m recover it: share i (0-based) gets x = i + 1 in
 * xs[i] and len octets in ys + i * len. Random coefficients from RAND_priv_bytes, in locked
 * memory (kms_secret), wiped. Returns KMS_OK, KMS_ERR_INVALID_ARG, KMS_ERR_RANDOM,
 * KMS_ERR_NOMEM. On failure ys is wiped. xs (n octets) and ys (n * len octets) are the
 * caller's; ys is secret.
 */
int kms_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, uint8_t *xs,
		     uint8_t *ys) KMS_WUR;

/*
 * kms_shamir_combine - Lagrange interpolation at 0 of k shares (xs[k] distinct, non-zero;
 * ys k * len octets) into out (len octets). Returns KMS_OK, KMS_ERR_INVALID_ARG (k < 2 or
 * k > KMS_SHAMIR_MAX_SHARES, a zero or repeated x, len out of range, a NULL pointer); out is
 * wiped on failure. Note: it cannot tell a wrong result; the caller authenticates the secret
 * (the backup file's MAC). Fewer than m shares, or shares of different splits, give a wrong
 * value, never an error.
 */
int kms_shamir_combine(const uint8_t *xs, const uint8_t *ys, size_t k, size_t len,
		       uint8_t *out) KMS_WUR;

#endif /* KMS_COMMON_SHAMIR_H */

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_HEX_H
#define KMS_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * kms_hex_decode - decode exactly out_len bytes from hex text (either case, no separators)
 * of exactly 2 * out_len characters. KMS_ERR_RANGE on a wrong length, KMS_ERR_ENCODING on a
 * non-hex character; out is zeroed on failure. Runs in time independent of the digits'
 * values (it may decode secrets).
 */
int kms_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len) KMS_WUR;

/*
 * kms_hex_decode_loose - like kms_hex_decode, but decodes the NUL-terminated hex and skips
 * ASCII whitespace anywhere in it (test vectors are printed in groups). Sets *out_len to the
 * bytes written (at most cap). KMS_ERR_ENCODING on a non-hex character or an odd number of
 * digits, KMS_ERR_TOO_LARGE if the digits need more than cap bytes; on failure *out_len is 0
 * and all cap bytes of out are zeroed. Digit values do not affect timing; whitespace may.
 */
int kms_hex_decode_loose(uint8_t *out, size_t cap, size_t *out_len, const char *hex) KMS_WUR;

/*
 * kms_hex_encode - write 2 * len upper-case hex digits and a NUL into out (out_cap bytes,
 * at least 2 * len + 1). KMS_ERR_TOO_LARGE if it does not fit, and then out is "" (when
 * out_cap > 0). Constant-time per byte.
 */
int kms_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t len) KMS_WUR;

#endif /* KMS_COMMON_HEX_H */

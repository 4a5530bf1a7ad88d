/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_CBS_H
#define KMS_COMMON_CBS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The bounded byte cursor that all outside input goes through (after BoringSSL's CBS).
 * A cursor borrows its bytes. Every getter checks before it advances and leaves the cursor
 * unchanged on failure; sub-cursors cannot read past their parent.
 */
struct kms_cbs {
	const uint8_t *data; /* borrowed */
	size_t len;
};

void kms_cbs_init(struct kms_cbs *cbs, const uint8_t *data, size_t len);
size_t kms_cbs_len(const struct kms_cbs *cbs);
/* KMS_OK, or KMS_ERR_TRUNCATED when fewer than len bytes remain. */
int kms_cbs_skip(struct kms_cbs *cbs, size_t len) KMS_WUR;
int kms_cbs_get_u8(struct kms_cbs *cbs, uint8_t *out) KMS_WUR;
int kms_cbs_get_u16be(struct kms_cbs *cbs, uint16_t *out) KMS_WUR;
int kms_cbs_get_u32be(struct kms_cbs *cbs, uint32_t *out) KMS_WUR;
int kms_cbs_get_u64be(struct kms_cbs *cbs, uint64_t *out) KMS_WUR;
/* Copy exactly len bytes into out. */
int kms_cbs_copy(struct kms_cbs *cbs, uint8_t *out, size_t len) KMS_WUR;
/* A sub-cursor over the next len bytes (borrowed from cbs's buffer); cbs advances past them. */
int kms_cbs_get_bytes(struct kms_cbs *cbs, struct kms_cbs *out, size_t len) KMS_WUR;
/* A sub-cursor over a 16-bit big-endian length-prefixed field. */
int kms_cbs_get_u16_prefixed(struct kms_cbs *cbs, struct kms_cbs *out) KMS_WUR;
/* KMS_OK if nothing remains, else KMS_ERR_TRAILING. */
int kms_cbs_expect_end(const struct kms_cbs *cbs) KMS_WUR;

#endif /* KMS_COMMON_CBS_H */

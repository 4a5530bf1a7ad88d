/* SPDX-License-Identifier: Apache-2.0 */
#include "common/cbs.h"

#include <string.h>

#include "common/banned.h"

/*
 * Every getter asks get() for its bytes: get() checks `n > len` (never `data + n > end`, which
 * can overflow) before it moves the cursor, so a failed getter leaves the cursor as it was.
 * A cursor may be {NULL, 0}; get() never does arithmetic on a NULL pointer.
 */
static int
get(struct kms_cbs *cbs, const uint8_t **out, size_t n)
{
	if (n > cbs->len) {
		return KMS_ERR_TRUNCATED;
	}
	*out = cbs->data;
	if (n > 0) {
		cbs->data += n;
		cbs->len -= n;
	}
	return KMS_OK;
}

/* Read an n-byte big-endian integer (n <= 8). */
static int
get_be(struct kms_cbs *cbs, uint64_t *out, size_t n)
{
	const uint8_t *p;
	uint64_t v = 0;
	size_t i;
	int r;

	if ((r = get(cbs, &p, n)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	*out = v;
	return KMS_OK;
}

void
kms_cbs_init(struct kms_cbs *cbs, const uint8_t *data, size_t len)
{
	cbs->data = data;
	cbs->len = len;
}

size_t
kms_cbs_len(const struct kms_cbs *cbs)
{
	return cbs->len;
}

int
kms_cbs_skip(struct kms_cbs *cbs, size_t len)
{
	const uint8_t *p;

	return get(cbs, &p, len);
}

int
kms_cbs_get_u8(struct kms_cbs *cbs, uint8_t *out)
{
	uint64_t v;
	int r;

	if ((r = get_be(cbs, &v, 1)) != KMS_OK) {
		return r;
	}
	*out = (uint8_t)v;
	return KMS_OK;
}

int
kms_cbs_get_u16be(struct kms_cbs *cbs, uint16_t *out)
{
	uint64_t v;
	int r;

	if ((r = get_be(cbs, &v, 2)) != KMS_OK) {
		return r;
	}
	*out = (uint16_t)v;
	return KMS_OK;
}

int
kms_cbs_get_u32be(struct kms_cbs *cbs, uint32_t *out)
{
	uint64_t v;
	int r;

	if ((r = get_be(cbs, &v, 4)) != KMS_OK) {
		return r;
	}
	*out = (uint32_t)v;
	return KMS_OK;
}

int
kms_cbs_get_u64be(struct kms_cbs *cbs, uint64_t *out)
{
	return get_be(cbs, out, 8);
}

int
kms_cbs_copy(struct kms_cbs *cbs, uint8_t *out, size_t len)
{
	const uint8_t *p;
	int r;

	if ((r = get(cbs, &p, len)) != KMS_OK) {
		return r;
	}
	if (len > 0) {
		memcpy(out, p, len);
	}
	return KMS_OK;
}

int
kms_cbs_get_bytes(struct kms_cbs *cbs, struct kms_cbs *out, size_t len)
{
	const uint8_t *p;
	int r;

	if ((r = get(cbs, &p, len)) != KMS_OK) {
		return r;
	}
	kms_cbs_init(out, p, len);
	return KMS_OK;
}

int
kms_cbs_get_u16_prefixed(struct kms_cbs *cbs, struct kms_cbs *out)
{
	/* Work on a copy: a length that overruns must not consume the prefix either. */
	struct kms_cbs tmp = *cbs;
	uint16_t len;
	int r;

	if ((r = kms_cbs_get_u16be(&tmp, &len)) != KMS_OK ||
	    (r = kms_cbs_get_bytes(&tmp, out, len)) != KMS_OK) {
		return r;
	}
	*cbs = tmp;
	return KMS_OK;
}

int
kms_cbs_expect_end(const struct kms_cbs *cbs)
{
	return cbs->len == 0 ? KMS_OK : KMS_ERR_TRAILING;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_share - kms_share_parse on arbitrary bytes (tools/share.c). A refusal must leave the
 * output wiped and a NUL-terminated message; an accepted share must be in range, format again,
 * and parse back to the same fields, and formatting that is a fixed point.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tools/share.h"

#include "common/banned.h"

static int
all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (b[i] != 0) {
			return 0;
		}
	}
	return 1;
}

static int
same_share(const struct kms_share *a, const struct kms_share *b)
{
	return memcmp(a->ceremony, b->ceremony, sizeof(a->ceremony)) == 0 &&
	       memcmp(a->backup_id, b->backup_id, sizeof(a->backup_id)) == 0 &&
	       memcmp(a->label, b->label, sizeof(a->label)) == 0 && a->x == b->x && a->m == b->m &&
	       a->n == b->n && memcmp(a->y, b->y, sizeof(a->y)) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[KMS_SHARE_MAX_TEXT + 1], again[KMS_SHARE_MAX_TEXT + 1];
	char err[KMS_SHARE_ERR_LEN];
	struct kms_share sh, back;
	size_t len = 0, len2 = 0;
	int r;

	memset(&sh, 0xa5, sizeof(sh));
	memset(err, 'x', sizeof(err));
	r = kms_share_parse((const char *)data, size, &sh, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != KMS_OK) {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_AUTH);
		CHECK(all_zero(&sh, sizeof(sh)));
		CHECK(err[0] != '\0');
		return 0;
	}
	CHECK(size <= KMS_SHARE_MAX_TEXT);
	CHECK(err[0] == '\0');
	CHECK(sh.m >= 2 && sh.m <= sh.n && sh.n <= 255 && sh.x >= 1 && sh.x <= sh.n);
	CHECK(sh.ceremony[0] != '\0' && sh.label[0] != '\0');

	CHECK(kms_share_format(&sh, text, sizeof(text), &len) == KMS_OK);
	CHECK(len == strlen(text) && len <= KMS_SHARE_MAX_TEXT);
	CHECK(kms_share_parse(text, len, &back, err, sizeof(err)) == KMS_OK);
	CHECK(same_share(&sh, &back));
	CHECK(kms_share_format(&back, again, sizeof(again), &len2) == KMS_OK);
	CHECK(len2 == len && memcmp(text, again, len) == 0);
	/* one octet short of room */
	CHECK(kms_share_format(&sh, again, len, &len2) == KMS_ERR_TOO_LARGE);
	CHECK(len2 == 0 && all_zero(again, len));
	return 0;
}

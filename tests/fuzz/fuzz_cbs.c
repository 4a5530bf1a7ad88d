/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cbs - a small TLV walk with every kms_cbs getter. Each record is a tag byte: its low
 * nibble picks the getter (0-3 integers, 4 u16-prefixed, 5 skip, 6 copy, 7 get_bytes, 8-15
 * expect_end), its high nibble is the length for skip/copy/get_bytes.
 * Prefixed fields and get_bytes sub-cursors are walked recursively. After every call it
 * checks the cursor contract: success iff enough bytes remained, exact advance and value on
 * success, cursor and output unchanged on failure, and no cursor ever leaves its parent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbs.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define MAX_DEPTH 8
#define SENTINEL  0x5a5a5a5a5a5a5a5aULL

static uint64_t
be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

static int
same(const struct kms_cbs *a, const struct kms_cbs *b)
{
	return a->data == b->data && a->len == b->len;
}

/* cbs has advanced by exactly n from before (which had at least n bytes). */
static int
advanced(const struct kms_cbs *cbs, const struct kms_cbs *before, size_t n)
{
	return cbs->data == before->data + n && cbs->len == before->len - n;
}

/* [cbs->data, +len) lies within [lo, hi). */
static int
inside(const struct kms_cbs *cbs, const uint8_t *lo, const uint8_t *hi)
{
	return cbs->data >= lo && cbs->data <= hi && cbs->len <= (size_t)(hi - cbs->data);
}

/* An integer getter of width n (1, 2, 4 or 8). */
static void
check_int(struct kms_cbs *cbs, size_t n)
{
	const struct kms_cbs before = *cbs;
	uint64_t v64 = SENTINEL;
	uint32_t v32 = (uint32_t)SENTINEL;
	uint16_t v16 = (uint16_t)SENTINEL;
	uint8_t v8 = (uint8_t)SENTINEL;
	uint64_t got = 0;
	int r = KMS_ERR_INTERNAL;

	switch (n) {
	case 1:
		r = kms_cbs_get_u8(cbs, &v8);
		got = v8;
		break;
	case 2:
		r = kms_cbs_get_u16be(cbs, &v16);
		got = v16;
		break;
	case 4:
		r = kms_cbs_get_u32be(cbs, &v32);
		got = v32;
		break;
	default:
		r = kms_cbs_get_u64be(cbs, &v64);
		got = v64;
		break;
	}
	if (before.len >= n) {
		CHECK(r == KMS_OK);
		CHECK(advanced(cbs, &before, n));
		CHECK(got == be(before.data, n));
	} else {
		CHECK(r == KMS_ERR_TRUNCATED);
		CHECK(same(cbs, &before));
		CHECK(got == (SENTINEL & (n == 8 ? UINT64_MAX : (1ULL << (8 * n)) - 1)));
	}
}

static void walk(struct kms_cbs *cbs, int depth);

static void
check_prefixed(struct kms_cbs *cbs, int depth)
{
	const struct kms_cbs before = *cbs;
	struct kms_cbs sub = {NULL, 12345};
	size_t want;
	int r;

	r = kms_cbs_get_u16_prefixed(cbs, &sub);
	if (before.len < 2 || (want = (size_t)be(before.data, 2)) > before.len - 2) {
		CHECK(r == KMS_ERR_TRUNCATED);
		CHECK(same(cbs, &before));
		CHECK(sub.data == NULL && sub.len == 12345);
		return;
	}
	CHECK(r == KMS_OK);
	CHECK(advanced(cbs, &before, 2 + want));
	CHECK(sub.data == before.data + 2 && sub.len == want);
	if (depth < MAX_DEPTH) {
		walk(&sub, depth + 1);
	}
}

/* skip, copy or get_bytes of n bytes. */
static void
check_bytes(struct kms_cbs *cbs, int op, size_t n, int depth)
{
	const struct kms_cbs before = *cbs;
	struct kms_cbs sub = {NULL, 12345};
	uint8_t buf[16];
	int r;

	memset(buf, 0x5a, sizeof(buf));
	if (op == 5) {
		r = kms_cbs_skip(cbs, n);
	} else if (op == 6) {
		r = kms_cbs_copy(cbs, buf, n);
	} else {
		r = kms_cbs_get_bytes(cbs, &sub, n);
	}
	if (before.len < n) {
		CHECK(r == KMS_ERR_TRUNCATED);
		CHECK(same(cbs, &before));
		CHECK(buf[0] == 0x5a);
		CHECK(sub.data == NULL && sub.len == 12345);
		return;
	}
	CHECK(r == KMS_OK);
	CHECK(advanced(cbs, &before, n));
	if (op == 6) {
		CHECK(n == 0 || memcmp(buf, before.data, n) == 0);
		CHECK(n == sizeof(buf) || buf[n] == 0x5a);
	} else if (op == 7) {
		CHECK(sub.data == before.data && sub.len == n);
		if (depth < MAX_DEPTH) {
			walk(&sub, depth + 1);
		}
	}
}

static void
walk(struct kms_cbs *cbs, int depth)
{
	const uint8_t *lo = cbs->data;
	const uint8_t *hi = cbs->data + cbs->len;
	struct kms_cbs before;
	uint8_t tag;
	int r;

	while (kms_cbs_len(cbs) > 0) {
		before = *cbs;
		CHECK(kms_cbs_get_u8(cbs, &tag) == KMS_OK);
		CHECK(advanced(cbs, &before, 1));
		switch (tag & 0x0f) {
		case 0:
			check_int(cbs, 1);
			break;
		case 1:
			check_int(cbs, 2);
			break;
		case 2:
			check_int(cbs, 4);
			break;
		case 3:
			check_int(cbs, 8);
			break;
		case 4:
			check_prefixed(cbs, depth);
			break;
		case 5:
		case 6:
		case 7:
			check_bytes(cbs, tag & 0x0f, (size_t)(tag >> 4), depth);
			break;
		default:
			before = *cbs;
			r = kms_cbs_expect_end(cbs);
			CHECK(r == (cbs->len == 0 ? KMS_OK : KMS_ERR_TRAILING));
			CHECK(same(cbs, &before));
			break;
		}
		CHECK(inside(cbs, lo, hi));
	}
	CHECK(kms_cbs_expect_end(cbs) == KMS_OK);
	CHECK(cbs->data == hi);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_cbs cbs;
	uint8_t b;

	if (size == 0) {
		/* An empty cursor: every getter refuses, nothing moves. */
		kms_cbs_init(&cbs, NULL, 0);
		CHECK(kms_cbs_get_u8(&cbs, &b) == KMS_ERR_TRUNCATED);
		CHECK(kms_cbs_expect_end(&cbs) == KMS_OK);
		return 0;
	}
	kms_cbs_init(&cbs, data, size);
	CHECK(kms_cbs_len(&cbs) == size);
	walk(&cbs, 0);
	return 0;
}

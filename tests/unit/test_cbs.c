/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "common/cbs.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* 01 | 0203 | 04050607 | 08090a0b0c0d0e0f | 0003 aabbcc | dd */
static const uint8_t msg[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
			      0x0c, 0x0d, 0x0e, 0x0f, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd};

/* The cursor is exactly {data, len}. */
static void
assert_cursor_same(const struct kms_cbs *cbs, const uint8_t *data, size_t len)
{
	CU_ASSERT_PTR_EQUAL(cbs->data, data);
	CU_ASSERT_EQUAL(cbs->len, len);
	CU_ASSERT_EQUAL(kms_cbs_len(cbs), len);
}

static void
test_getters(void)
{
	struct kms_cbs cbs, sub;
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	uint8_t last = 0;

	kms_cbs_init(&cbs, msg, sizeof(msg));
	CU_ASSERT_EQUAL(kms_cbs_len(&cbs), sizeof(msg));
	CU_ASSERT_EQUAL(kms_cbs_get_u8(&cbs, &u8), KMS_OK);
	CU_ASSERT_EQUAL(u8, 0x01);
	CU_ASSERT_EQUAL(kms_cbs_get_u16be(&cbs, &u16), KMS_OK);
	CU_ASSERT_EQUAL(u16, 0x0203);
	CU_ASSERT_EQUAL(kms_cbs_get_u32be(&cbs, &u32), KMS_OK);
	CU_ASSERT_EQUAL(u32, 0x04050607u);
	CU_ASSERT_EQUAL(kms_cbs_get_u64be(&cbs, &u64), KMS_OK);
	CU_ASSERT_EQUAL(u64, 0x08090a0b0c0d0e0fULL);
	CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_len(&sub), 3);
	CU_ASSERT_PTR_EQUAL(sub.data, msg + 17);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_ERR_TRAILING);
	CU_ASSERT_EQUAL(kms_cbs_get_u8(&cbs, &last), KMS_OK);
	CU_ASSERT_EQUAL(last, 0xdd);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_len(&cbs), 0);
}

static void
test_high_bits(void)
{
	static const uint8_t ff[8] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8};
	struct kms_cbs cbs;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;

	/* No sign extension, no lost top byte. */
	kms_cbs_init(&cbs, ff, sizeof(ff));
	CU_ASSERT_EQUAL(kms_cbs_get_u64be(&cbs, &u64), KMS_OK);
	CU_ASSERT_EQUAL(u64, 0xfffefdfcfbfaf9f8ULL);
	kms_cbs_init(&cbs, ff, sizeof(ff));
	CU_ASSERT_EQUAL(kms_cbs_get_u32be(&cbs, &u32), KMS_OK);
	CU_ASSERT_EQUAL(u32, 0xfffefdfcu);
	CU_ASSERT_EQUAL(kms_cbs_get_u16be(&cbs, &u16), KMS_OK);
	CU_ASSERT_EQUAL(u16, 0xfbfa);
}

/*
 * Truncation at every offset: a cursor over the first n bytes of msg, for each n, must fail
 * each getter that needs more than n bytes with KMS_ERR_TRUNCATED, leave the cursor and the
 * output untouched, and succeed on those that fit.
 */
static void
test_truncation_every_offset(void)
{
	struct kms_cbs cbs, sub;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	uint8_t buf[sizeof(msg)];
	size_t n;

	for (n = 0; n <= sizeof(msg); n++) {
		kms_cbs_init(&cbs, msg, n);

		u8 = 0x5a;
		CU_ASSERT_EQUAL(kms_cbs_get_u8(&cbs, &u8), n >= 1 ? KMS_OK : KMS_ERR_TRUNCATED);
		CU_ASSERT_EQUAL(u8, n >= 1 ? 0x01 : 0x5a);
		kms_cbs_init(&cbs, msg, n);

		u16 = 0x5a5a;
		CU_ASSERT_EQUAL(kms_cbs_get_u16be(&cbs, &u16), n >= 2 ? KMS_OK : KMS_ERR_TRUNCATED);
		if (n < 2) {
			CU_ASSERT_EQUAL(u16, 0x5a5a);
			assert_cursor_same(&cbs, msg, n);
		}
		kms_cbs_init(&cbs, msg, n);

		u32 = 0x5a5a5a5a;
		CU_ASSERT_EQUAL(kms_cbs_get_u32be(&cbs, &u32), n >= 4 ? KMS_OK : KMS_ERR_TRUNCATED);
		if (n < 4) {
			CU_ASSERT_EQUAL(u32, 0x5a5a5a5au);
			assert_cursor_same(&cbs, msg, n);
		}
		kms_cbs_init(&cbs, msg, n);

		u64 = 0x5a5a5a5a5a5a5a5aULL;
		CU_ASSERT_EQUAL(kms_cbs_get_u64be(&cbs, &u64), n >= 8 ? KMS_OK : KMS_ERR_TRUNCATED);
		if (n < 8) {
			CU_ASSERT_EQUAL(u64, 0x5a5a5a5a5a5a5a5aULL);
			assert_cursor_same(&cbs, msg, n);
		} else {
			CU_ASSERT_EQUAL(u64, 0x0102030405060708ULL);
			assert_cursor_same(&cbs, msg + 8, n - 8);
		}
		kms_cbs_init(&cbs, msg, n);

		/* Asking for one byte more than there is fails; exactly what there is succeeds. */
		memset(buf, 0x5a, sizeof(buf));
		CU_ASSERT_EQUAL(kms_cbs_copy(&cbs, buf, n + 1), KMS_ERR_TRUNCATED);
		assert_cursor_same(&cbs, msg, n);
		CU_ASSERT_EQUAL(buf[0], 0x5a);
		CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, n + 1), KMS_ERR_TRUNCATED);
		assert_cursor_same(&cbs, msg, n);
		sub.data = NULL;
		sub.len = 12345;
		CU_ASSERT_EQUAL(kms_cbs_get_bytes(&cbs, &sub, n + 1), KMS_ERR_TRUNCATED);
		assert_cursor_same(&cbs, msg, n);
		CU_ASSERT_PTR_NULL(sub.data);
		CU_ASSERT_EQUAL(sub.len, 12345);
		CU_ASSERT_EQUAL(kms_cbs_copy(&cbs, buf, n), KMS_OK);
		CU_ASSERT_EQUAL(memcmp(buf, msg, n), 0);
		CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_OK);
		assert_cursor_same(&cbs, msg + n, 0);
	}
}

/* A 16-bit length prefix that claims more than is left consumes nothing, not even itself. */
static void
test_prefixed_truncated(void)
{
	/* prefix 0x0004, then 3 bytes */
	static const uint8_t short_body[] = {0x00, 0x04, 0xaa, 0xbb, 0xcc};
	static const uint8_t huge[] = {0xff, 0xff, 0x00};
	struct kms_cbs cbs, sub = {NULL, 7};
	size_t n;

	kms_cbs_init(&cbs, short_body, sizeof(short_body));
	CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_ERR_TRUNCATED);
	assert_cursor_same(&cbs, short_body, sizeof(short_body));
	CU_ASSERT_PTR_NULL(sub.data);
	CU_ASSERT_EQUAL(sub.len, 7);

	kms_cbs_init(&cbs, huge, sizeof(huge));
	CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_ERR_TRUNCATED);
	assert_cursor_same(&cbs, huge, sizeof(huge));

	/* Every truncation of the well-formed field 0003 aabbcc. */
	for (n = 0; n < 5; n++) {
		kms_cbs_init(&cbs, msg + 15, n);
		CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_ERR_TRUNCATED);
		assert_cursor_same(&cbs, msg + 15, n);
	}
	kms_cbs_init(&cbs, msg + 15, 5);
	CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_OK);
}

/* A sub-cursor covers exactly its bytes and cannot read into its parent's remainder. */
static void
test_sub_cursor_bounds(void)
{
	struct kms_cbs cbs, sub, subsub;
	uint8_t b = 0;
	uint16_t u16 = 0;
	uint8_t buf[4];

	kms_cbs_init(&cbs, msg, sizeof(msg));
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, 15), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_OK);
	/* The parent moved past the field, to the trailing 0xdd. */
	assert_cursor_same(&cbs, msg + 20, 1);
	assert_cursor_same(&sub, msg + 17, 3);

	CU_ASSERT_EQUAL(kms_cbs_copy(&sub, buf, 4), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_cbs_get_bytes(&sub, &subsub, 2), KMS_OK);
	assert_cursor_same(&subsub, msg + 17, 2);
	CU_ASSERT_EQUAL(kms_cbs_get_u16be(&subsub, &u16), KMS_OK);
	CU_ASSERT_EQUAL(u16, 0xaabb);
	CU_ASSERT_EQUAL(kms_cbs_get_u8(&subsub, &b), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&subsub), KMS_OK);

	CU_ASSERT_EQUAL(kms_cbs_get_u8(&sub, &b), KMS_OK);
	CU_ASSERT_EQUAL(b, 0xcc);
	/* 0xdd is the parent's, not the sub-cursor's. */
	b = 0;
	CU_ASSERT_EQUAL(kms_cbs_get_u8(&sub, &b), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(b, 0);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&sub), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_ERR_TRAILING);
}

static void
test_empty_and_zero_length(void)
{
	struct kms_cbs cbs, sub;
	uint8_t b = 0x5a;

	/* A {NULL, 0} cursor is valid and empty. */
	kms_cbs_init(&cbs, NULL, 0);
	CU_ASSERT_EQUAL(kms_cbs_len(&cbs), 0);
	CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_get_u8(&cbs, &b), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(b, 0x5a);
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, 0), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_copy(&cbs, NULL, 0), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_get_bytes(&cbs, &sub, 0), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_len(&sub), 0);
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, SIZE_MAX), KMS_ERR_TRUNCATED);
	assert_cursor_same(&cbs, NULL, 0);

	/* A zero-length prefixed field is an empty sub-cursor. */
	{
		static const uint8_t zero[] = {0x00, 0x00};

		kms_cbs_init(&cbs, zero, sizeof(zero));
		CU_ASSERT_EQUAL(kms_cbs_get_u16_prefixed(&cbs, &sub), KMS_OK);
		CU_ASSERT_EQUAL(kms_cbs_len(&sub), 0);
		CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), KMS_OK);
	}
}

/* Huge lengths are compared against what is left, never added to a pointer. */
static void
test_huge_lengths(void)
{
	struct kms_cbs cbs, sub;
	uint8_t buf[1];

	kms_cbs_init(&cbs, msg, sizeof(msg));
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, SIZE_MAX), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, SIZE_MAX - 1), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_cbs_get_bytes(&cbs, &sub, SIZE_MAX), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_cbs_copy(&cbs, buf, SIZE_MAX), KMS_ERR_TRUNCATED);
	assert_cursor_same(&cbs, msg, sizeof(msg));
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, sizeof(msg) - 1), KMS_OK);
	CU_ASSERT_EQUAL(kms_cbs_skip(&cbs, SIZE_MAX), KMS_ERR_TRUNCATED);
	assert_cursor_same(&cbs, msg + sizeof(msg) - 1, 1);
}

/* Trailing bytes after a complete value are reported, whatever their number. */
static void
test_trailing(void)
{
	struct kms_cbs cbs;
	uint16_t u16 = 0;
	size_t extra;

	for (extra = 0; extra + 2 <= sizeof(msg); extra++) {
		kms_cbs_init(&cbs, msg, 2 + extra);
		CU_ASSERT_EQUAL(kms_cbs_get_u16be(&cbs, &u16), KMS_OK);
		CU_ASSERT_EQUAL(u16, 0x0102);
		CU_ASSERT_EQUAL(kms_cbs_expect_end(&cbs), extra == 0 ? KMS_OK : KMS_ERR_TRAILING);
		/* expect_end does not consume. */
		CU_ASSERT_EQUAL(kms_cbs_len(&cbs), extra);
	}
}

static CU_TestInfo cbs_tests[] = {
	{"getters read big-endian and advance", test_getters},
	{"no sign extension", test_high_bits},
	{"truncation at every offset", test_truncation_every_offset},
	{"u16-prefixed field truncated", test_prefixed_truncated},
	{"sub-cursor bounds", test_sub_cursor_bounds},
	{"empty cursor and zero lengths", test_empty_and_zero_length},
	{"huge lengths", test_huge_lengths},
	{"trailing bytes", test_trailing},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"cbs", NULL, NULL, NULL, NULL, cbs_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

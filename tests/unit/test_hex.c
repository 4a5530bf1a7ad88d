/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "common/hex.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* The reference: what a hex digit is and what it is worth, by the obvious method. */
static int
ref_digit(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

static void
test_decode_golden(void)
{
	static const uint8_t want[] = {0x00, 0x01, 0x9a, 0xbc, 0xde, 0xf0, 0xff, 0x7f};
	uint8_t out[sizeof(want)];

	CU_ASSERT_EQUAL(kms_hex_decode(out, sizeof(out), "00019abcdef0ff7f", 16), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof(want)), 0);
	memset(out, 0, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, sizeof(out), "00019ABCDEF0FF7F", 16), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof(want)), 0);
	memset(out, 0, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, sizeof(out), "00019aBcDeF0fF7f", 16), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof(want)), 0);
	/* Zero bytes from zero characters. */
	CU_ASSERT_EQUAL(kms_hex_decode(out, 0, "", 0), KMS_OK);
}

/*
 * Every byte value in each digit position: accepted exactly when the reference says it is a
 * hex digit, with the reference's value; otherwise KMS_ERR_ENCODING and a zeroed output.
 * This covers the mask arithmetic of the nibble decoder completely.
 */
static void
test_decode_every_char(void)
{
	char hex[2];
	uint8_t out;
	int c, pos, v;
	unsigned int wrong_value = 0, wrong_verdict = 0;

	for (pos = 0; pos < 2; pos++) {
		for (c = 0; c < 256; c++) {
			hex[pos] = (char)c;
			hex[1 - pos] = '5';
			out = 0xa5;
			v = ref_digit(c);
			if (v < 0) {
				if (kms_hex_decode(&out, 1, hex, 2) != KMS_ERR_ENCODING ||
				    out != 0) {
					wrong_verdict++;
				}
			} else {
				if (kms_hex_decode(&out, 1, hex, 2) != KMS_OK) {
					wrong_verdict++;
				} else if (out != (pos == 0 ? v * 16 + 5 : 0x50 + v)) {
					wrong_value++;
				}
			}
		}
	}
	CU_ASSERT_EQUAL(wrong_verdict, 0);
	CU_ASSERT_EQUAL(wrong_value, 0);
}

static void
test_decode_bad_chars(void)
{
	static const char *const bad[] = {
		"0g", "g0", "0x", " 0", "0 ", "-1",    "+1",
		"@0", "`0", "/0", ":0", "G0", "0\xff", "\x80\x30",
	};
	uint8_t out[4];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 0xa5, sizeof(out));
		CU_ASSERT_EQUAL(kms_hex_decode(out, 1, bad[i], 2), KMS_ERR_ENCODING);
		CU_ASSERT_EQUAL(out[0], 0);
		/* Only out_len bytes are written. */
		CU_ASSERT_EQUAL(out[1], 0xa5);
	}
	/* A bad digit late in the input still zeroes the bytes decoded before it. */
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 4, "deadbeeZ", 8), KMS_ERR_ENCODING);
	CU_ASSERT(kms_test_all_zero(out, 4));
	/* An embedded NUL is not a digit: the strict decoder goes by hex_len, not by NUL. */
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 2, "ab\0d", 4), KMS_ERR_ENCODING);
	CU_ASSERT(kms_test_all_zero(out, 2));
}

static void
test_decode_wrong_length(void)
{
	uint8_t out[4];

	/* odd length */
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 1, "abc", 3), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(out[0], 0);
	CU_ASSERT_EQUAL(out[1], 0xa5);
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 2, "abc", 3), KMS_ERR_RANGE);
	CU_ASSERT(kms_test_all_zero(out, 2));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 0, "a", 1), KMS_ERR_RANGE);
	/* even, but not 2 * out_len */
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 1, "abcd", 4), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(out[0], 0);
	memset(out, 0xa5, sizeof(out));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 3, "abcd", 4), KMS_ERR_RANGE);
	CU_ASSERT(kms_test_all_zero(out, 3));
	CU_ASSERT_EQUAL(kms_hex_decode(out, 1, "", 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_hex_decode(out, 0, "ab", 2), KMS_ERR_RANGE);
	/* The length check divides hex_len; 2 * out_len would overflow here. */
	CU_ASSERT_EQUAL(kms_hex_decode(out, 0, "ab", (size_t)-2), KMS_ERR_RANGE);
}

static void
test_encode(void)
{
	static const uint8_t in[] = {0x00, 0x09, 0x0a, 0x0f, 0x10, 0x9f, 0xa0, 0xff, 0x5c};
	char out[2 * sizeof(in) + 1];

	CU_ASSERT_EQUAL(kms_hex_encode(out, sizeof(out), in, sizeof(in)), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "00090A0F109FA0FF5C");
	CU_ASSERT_EQUAL(kms_hex_encode(out, 1, in, 0), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void
test_encode_too_small(void)
{
	static const uint8_t in[] = {0xde, 0xad};
	char out[8];

	memset(out, 'x', sizeof(out));
	/* 2 * 2 digits + NUL = 5 */
	CU_ASSERT_EQUAL(kms_hex_encode(out, 4, in, sizeof(in)), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(out[0], '\0');
	CU_ASSERT_EQUAL(out[1], 'x');
	CU_ASSERT_EQUAL(kms_hex_encode(out, 5, in, sizeof(in)), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "DEAD");
	CU_ASSERT_EQUAL(kms_hex_encode(NULL, 0, in, 0), KMS_ERR_TOO_LARGE);
	/* A length whose double overflows must not pass the check. */
	CU_ASSERT_EQUAL(kms_hex_encode(out, sizeof(out), in, (size_t)-1 / 2 + 1),
			KMS_ERR_TOO_LARGE);
}

/* Every byte value: upper-case as printf's %02X, and back to the same byte in either case. */
static void
test_round_trip(void)
{
	uint8_t in[256], back[256];
	char hex[2 * 256 + 1];
	char ref[3];
	char lower[2 * 256 + 1];
	size_t i;
	unsigned int mismatches = 0;

	for (i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(kms_hex_encode(hex, sizeof(hex), in, sizeof(in)), KMS_OK);
	CU_ASSERT_EQUAL(strlen(hex), 2 * sizeof(in));
	for (i = 0; i < sizeof(in); i++) {
		(void)snprintf(ref, sizeof(ref), "%02X", (unsigned int)in[i]);
		if (memcmp(hex + 2 * i, ref, 2) != 0) {
			mismatches++;
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT_EQUAL(kms_hex_decode(back, sizeof(back), hex, strlen(hex)), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(back, in, sizeof(in)), 0);

	for (i = 0; hex[i] != '\0'; i++) {
		lower[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] - 'A' + 'a') : hex[i];
	}
	lower[i] = '\0';
	memset(back, 0, sizeof(back));
	CU_ASSERT_EQUAL(kms_hex_decode(back, sizeof(back), lower, strlen(lower)), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(back, in, sizeof(in)), 0);
}

static void
test_loose(void)
{
	static const uint8_t want[] = {0xde, 0xad, 0xbe, 0xef};
	uint8_t out[8];
	size_t n = 99;

	CU_ASSERT_EQUAL(kms_hex_decode_loose(out, sizeof(out), &n, "  de ad\nBE\tef\r\n"), KMS_OK);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(memcmp(out, want, 4), 0);
	/* Whitespace may split a byte's digits too, and \v and \f count. */
	n = 99;
	CU_ASSERT_EQUAL(kms_hex_decode_loose(out, sizeof(out), &n, "d\ve\fa d b e e f"), KMS_OK);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(memcmp(out, want, 4), 0);
	/* exactly cap bytes */
	CU_ASSERT_EQUAL(kms_hex_decode_loose(out, 4, &n, "deadbeef"), KMS_OK);
	CU_ASSERT_EQUAL(n, 4);
	/* nothing */
	n = 99;
	CU_ASSERT_EQUAL(kms_hex_decode_loose(out, sizeof(out), &n, ""), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	n = 99;
	CU_ASSERT_EQUAL(kms_hex_decode_loose(out, sizeof(out), &n, " \n\t "), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_hex_decode_loose(NULL, 0, &n, " "), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
}

static void
test_loose_errors(void)
{
	static const struct {
		const char *hex;
		size_t cap;
		int want;
	} cases[] = {
		{"dea", 8, KMS_ERR_ENCODING},   /* odd number of digits */
		{"de a", 8, KMS_ERR_ENCODING},  /* odd, split by space */
		{"de:ad", 8, KMS_ERR_ENCODING}, /* separator that is not whitespace */
		{"de-ad", 8, KMS_ERR_ENCODING},
		{"0xdead", 8, KMS_ERR_ENCODING},      /* no prefixes */
		{"dead\x01", 8, KMS_ERR_ENCODING},    /* control character that is not whitespace */
		{"deadbeefzz", 8, KMS_ERR_ENCODING},  /* bad digits after good ones */
		{"deadbeef00", 4, KMS_ERR_TOO_LARGE}, /* one byte too many */
		{"deadbeef0", 4, KMS_ERR_TOO_LARGE},  /* half a byte too many */
		{"00", 0, KMS_ERR_TOO_LARGE},
	};
	uint8_t out[8];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xa5, sizeof(out));
		n = 99;
		CU_ASSERT_EQUAL(kms_hex_decode_loose(out, cases[i].cap, &n, cases[i].hex),
				cases[i].want);
		CU_ASSERT_EQUAL(n, 0);
		/* All cap bytes are zeroed, and nothing past cap is written. */
		CU_ASSERT(kms_test_all_zero(out, cases[i].cap));
		if (cases[i].cap < sizeof(out)) {
			CU_ASSERT_EQUAL(out[cases[i].cap], 0xa5);
		}
	}
}

/* The loose decoder agrees with the strict one on strict input. */
static void
test_loose_matches_strict(void)
{
	static const char *const inputs[] = {"00", "ff", "0123456789abcdefABCDEF", "7f80"};
	uint8_t a[16], b[16];
	size_t i, n;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);

		CU_ASSERT_EQUAL(kms_hex_decode(a, len / 2, inputs[i], len), KMS_OK);
		CU_ASSERT_EQUAL(kms_hex_decode_loose(b, sizeof(b), &n, inputs[i]), KMS_OK);
		CU_ASSERT_EQUAL(n, len / 2);
		CU_ASSERT_EQUAL(memcmp(a, b, len / 2), 0);
	}
}

static CU_TestInfo hex_tests[] = {
	{"decode golden vectors", test_decode_golden},
	{"decode every character in each position", test_decode_every_char},
	{"decode bad characters", test_decode_bad_chars},
	{"decode odd and wrong lengths", test_decode_wrong_length},
	{"encode upper-case", test_encode},
	{"encode into a too small buffer", test_encode_too_small},
	{"round trip of every byte", test_round_trip},
	{"loose decode skips whitespace", test_loose},
	{"loose decode errors", test_loose_errors},
	{"loose agrees with strict", test_loose_matches_strict},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"hex", NULL, NULL, NULL, NULL, hex_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

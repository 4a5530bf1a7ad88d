/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/base64.h: the RFC 4648 section 10 vectors in both alphabets; every byte string up to
 * 40 bytes of random content, round trip against OpenSSL's encoder, with spaces; each malformed
 * form refused (a bad character, the wrong padding, non-zero bits after the last byte, data
 * after the padding); the bounds of the output buffer; the arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/base64.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* Decode the NUL-terminated s with flags; the result code, the bytes into out (*n of them). */
static int
dec(const char *s, unsigned int flags, uint8_t *out, size_t cap, size_t *n)
{
	return kms_b64_decode(out, cap, n, s, strlen(s), flags);
}

/* Whether s decodes (flags) to exactly the NUL-terminated want. */
static int
dec_is(const char *s, unsigned int flags, const char *want)
{
	uint8_t out[64];
	size_t n = 99;

	return dec(s, flags, out, sizeof(out), &n) == KMS_OK && n == strlen(want) &&
	       memcmp(out, want, n) == 0;
}

static void
test_rfc4648_vectors(void)
{
	/* RFC 4648 section 10 */
	static const char *const v[][3] = {
		{"", "", ""},
		{"f", "Zg==", "Zg"},
		{"fo", "Zm8=", "Zm8"},
		{"foo", "Zm9v", "Zm9v"},
		{"foob", "Zm9vYg==", "Zm9vYg"},
		{"fooba", "Zm9vYmE=", "Zm9vYmE"},
		{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CU_ASSERT(dec_is(v[i][1], KMS_B64_STD, v[i][0]));
		CU_ASSERT(dec_is(v[i][2], KMS_B64_URL, v[i][0]));
		/* the other form of each: refused (padding missing, or present in base64url) */
		if (strcmp(v[i][1], v[i][2]) != 0) {
			uint8_t out[16];
			size_t n = 1;

			CU_ASSERT_EQUAL(dec(v[i][2], KMS_B64_STD, out, sizeof(out), &n),
					KMS_ERR_ENCODING);
			CU_ASSERT_EQUAL(n, 0);
			CU_ASSERT_EQUAL(dec(v[i][1], KMS_B64_URL, out, sizeof(out), &n),
					KMS_ERR_ENCODING);
		}
	}
	/* the two alphabets differ in 62 and 63 only */
	CU_ASSERT(dec_is("+/+/", KMS_B64_STD, "\xfb\xff\xbf"));
	CU_ASSERT(dec_is("-_-_", KMS_B64_URL, "\xfb\xff\xbf"));
	CU_ASSERT(!dec_is("-_-_", KMS_B64_STD, "\xfb\xff\xbf"));
	CU_ASSERT(!dec_is("+/+/", KMS_B64_URL, "\xfb\xff\xbf"));
}

/* Random strings of every length up to 40: OpenSSL's encoding decodes back, also spaced. */
static void
test_round_trip(void)
{
	uint8_t in[40], out[48];
	char enc[64], url[64], spaced[160];
	size_t len, n, i, j, k;
	int round;

	for (round = 0; round < 50; round++) {
		for (len = 0; len <= sizeof(in); len++) {
			CU_ASSERT_FATAL(RAND_bytes(in, sizeof(in)) == 1);
			CU_ASSERT_EQUAL_FATAL(EVP_EncodeBlock((unsigned char *)enc, in, (int)len),
					      (int)(4 * ((len + 2) / 3)));
			n = 99;
			CU_ASSERT_EQUAL(
				kms_b64_decode(out, sizeof(out), &n, enc, strlen(enc), KMS_B64_STD),
				KMS_OK);
			CU_ASSERT(n == len && memcmp(out, in, len) == 0);
			/* base64url: the other two characters, no padding */
			for (i = j = 0; enc[i] != '\0' && enc[i] != '='; i++) {
				url[j++] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
			}
			url[j] = '\0';
			CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, url, j, KMS_B64_URL),
					KMS_OK);
			CU_ASSERT(n == len && memcmp(out, in, len) == 0);
			/* XML whitespace around and between every character */
			for (i = k = 0; enc[i] != '\0'; i++) {
				spaced[k++] = " \t\r\n"[i % 4];
				spaced[k++] = enc[i];
			}
			spaced[k++] = '\n';
			CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, spaced, k,
						       KMS_B64_STD | KMS_B64_XML_SPACE),
					KMS_OK);
			CU_ASSERT(n == len && memcmp(out, in, len) == 0);
			if (len > 0) {
				CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, spaced, k,
							       KMS_B64_STD),
						KMS_ERR_ENCODING);
			}
		}
	}
}

static void
test_malformed(void)
{
	static const char *const bad_std[] = {
		"Z",        /* 1 mod 4 */
		"Zg",       /* padding missing */
		"Zg=",      /* padding short */
		"Zg===",    /* padding long */
		"Zh==",     /* bits after the byte not zero */
		"Zm9=",     /* likewise, one byte of padding */
		"Zg==Zg==", /* data after padding */
		"Z=g=",     /* padding inside */
		"=Zg=",     /* padding first */
		"====",     /* padding only */
		"Zm9v\x80", /* not ASCII */
		"Zm9v!",    /* not in the alphabet */
		"Zm 9v",    /* a space without KMS_B64_XML_SPACE */
		"Zm9v-",    /* base64url's character */
		"Zm9v\0",   /* a NUL (the length counts it: below); keep it last */
	};
	static const char *const bad_url[] = {
		"Z", "Zg==", "Zh", "Zm9", "Zm9v+", "Zm9v/", "Zm9v=", "Zm 9v", "ZmZmZ",
	};
	uint8_t out[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
		/* the last one's length counts its NUL */
		size_t len = strlen(bad_std[i]) + (i == sizeof(bad_std) / sizeof(bad_std[0]) - 1);

		n = 7;
		CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, bad_std[i], len, KMS_B64_STD),
				KMS_ERR_ENCODING);
		CU_ASSERT_EQUAL(n, 0);
		/* and with spaces skipped, but for the one whose fault is a space */
		if (strchr(bad_std[i], ' ') == NULL) {
			CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, bad_std[i], len,
						       KMS_B64_STD | KMS_B64_XML_SPACE),
					KMS_ERR_ENCODING);
		}
	}
	/* whitespace other than XML's is refused even when spaces are skipped */
	CU_ASSERT_EQUAL(dec("Zm9v\v", KMS_B64_STD | KMS_B64_XML_SPACE, out, sizeof(out), &n),
			KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(dec("Zm9v\f", KMS_B64_STD | KMS_B64_XML_SPACE, out, sizeof(out), &n),
			KMS_ERR_ENCODING);
	CU_ASSERT(dec_is(" Zg = = ", KMS_B64_STD | KMS_B64_XML_SPACE, "f"));
	for (i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
		n = 7;
		CU_ASSERT_EQUAL(dec(bad_url[i], KMS_B64_URL, out, sizeof(out), &n),
				KMS_ERR_ENCODING);
		CU_ASSERT_EQUAL(n, 0);
	}
}

static void
test_bounds_and_arguments(void)
{
	uint8_t out[6];
	size_t n = 7;

	/* exactly the room needed, then one byte less */
	CU_ASSERT_EQUAL(dec("Zm9vYmFy", KMS_B64_STD, out, 6, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_EQUAL(dec("Zm9vYmFy", KMS_B64_STD, out, 5, &n), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(dec("Zm9vYmE=", KMS_B64_STD, out, 5, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(dec("Zm9vYmE", KMS_B64_URL, out, 4, &n), KMS_ERR_TOO_LARGE);
	/* the empty text into no buffer */
	CU_ASSERT_EQUAL(kms_b64_decode(NULL, 0, &n, NULL, 0, KMS_B64_URL), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), NULL, "Zg==", 4, KMS_B64_STD),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_b64_decode(NULL, 4, &n, "Zg==", 4, KMS_B64_STD), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, NULL, 4, KMS_B64_STD),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_b64_decode(out, sizeof(out), &n, "Zg==", 4, 4u), KMS_ERR_INVALID_ARG);
}

static CU_TestInfo base64_tests[] = {
	{"RFC 4648 vectors, both alphabets", test_rfc4648_vectors},
	{"round trip with OpenSSL's encoder, spaced", test_round_trip},
	{"malformed encodings refused", test_malformed},
	{"output bounds and arguments", test_bounds_and_arguments},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"base64", NULL, NULL, NULL, NULL, base64_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

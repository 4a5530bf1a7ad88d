/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/sha.h>

#include "common/err.h"
#include "common/hex.h"
#include "hsm/uid.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* Byte equality for test expectations (public data only). */
static int
bytes_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			return 0;
		}
	}
	return 1;
}

/* vectors.txt section 3: TS 33.180 Annex F.2.1 UIDs published by Streamwide (all 8). */
struct uid_vector {
	const char *uri;
	const char *kms_uri;
	uint64_t period;
	uint64_t offset;
	uint64_t period_no;
	const char *uid_hex;
};

static const struct uid_vector uid_vectors[] = {
	{"sip:user@example.org", "kms.example.org", 2592000, 0, 1,
	 "74e2af803ab5d72841bbced0ce319ffe64f6fe23c88a2d258aabcf6ac5658ef4"},
	{"sip:user@example.org", "kms.example.org", 10, 0, 10,
	 "94fb1a697c15d7e9d6b7062066affebda2d9e346e0090d67525c0c3ce666eafa"},
	{"sip:user@example.org", "kms.example.org", 25920000, 100, 1,
	 "3c0ad8828cfae1ad1d08b27cc7b61258c6cfcd405081b68cd778f1e1c7f562a7"},
	{"sip:user@example.org", "kms.example.org", 25920000, 100, 2048,
	 "c88b3fa5e36a08985d10f7b31a631b0265e8249f0312435e4984dbc3765c7f0c"},
	{"sip:user@example.org", "kms.example.org", 25920000, 45920000, 20393844,
	 "8dc05540167345538475101514f4eabd384abd6ba665782abb312ecaf05934e1"},
	{"sip:alice@streamwide.com", "kms.mydev.streamwide.com", 16777215, 0, 236,
	 "b5c452309219da6a3d805615548d6c1b0f4de45a6b48fb13d9a24d857fc03dc4"},
	{"gms@streamwide.com", "kms.mydev.streamwide.com", 16777215, 0, 236,
	 "15a4d5b12856538d02d91fedbb766e6dd377b014c92e216666c8fb678608d20e"},
	{"alice@org.com", "localhost:8080", 2592000, 0, 625,
	 "060c5cddd13b87be1e37d3ff091101684b88aadef26c409a8b49c8da9dd81a05"},
};

static void
test_uid_vectors(void)
{
	size_t i;

	CU_ASSERT_EQUAL(sizeof(uid_vectors) / sizeof(uid_vectors[0]), 8);
	for (i = 0; i < sizeof(uid_vectors) / sizeof(uid_vectors[0]); i++) {
		const struct uid_vector *tv = &uid_vectors[i];
		uint8_t want[KMS_UID_LEN];
		uint8_t got[KMS_UID_LEN];

		CU_ASSERT_EQUAL(kms_test_hex(want, sizeof(want), tv->uid_hex), KMS_UID_LEN);
		CU_ASSERT_EQUAL(kms_uid_compute(got, tv->uri, strlen(tv->uri), tv->kms_uri,
						strlen(tv->kms_uri), tv->period, tv->offset,
						tv->period_no),
				KMS_OK);
		CU_ASSERT(bytes_eq(got, want, KMS_UID_LEN));
	}
}

static void
test_uid_sensitivity(void)
{
	const struct uid_vector *tv = &uid_vectors[0];
	uint8_t base[KMS_UID_LEN];
	uint8_t other[KMS_UID_LEN];
	size_t ul = strlen(tv->uri);
	size_t kl = strlen(tv->kms_uri);

	CU_ASSERT_EQUAL(kms_uid_compute(base, tv->uri, ul, tv->kms_uri, kl, tv->period, tv->offset,
					tv->period_no),
			KMS_OK);
	/* Every parameter is bound: changing any one changes the UID. */
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->uri, ul - 1, tv->kms_uri, kl, tv->period,
					tv->offset, tv->period_no),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->uri, ul, tv->kms_uri, kl - 1, tv->period,
					tv->offset, tv->period_no),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->uri, ul, tv->kms_uri, kl, tv->period + 1,
					tv->offset, tv->period_no),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->uri, ul, tv->kms_uri, kl, tv->period,
					tv->offset + 1, tv->period_no),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->uri, ul, tv->kms_uri, kl, tv->period, tv->offset,
					tv->period_no + 1),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
	/* Swapping URI and KMS URI must not collide either. */
	CU_ASSERT_EQUAL(kms_uid_compute(other, tv->kms_uri, kl, tv->uri, ul, tv->period, tv->offset,
					tv->period_no),
			KMS_OK);
	CU_ASSERT(!bytes_eq(base, other, KMS_UID_LEN));
}

static void
test_uid_invalid_args(void)
{
	static char big[KMS_UID_MAX_URI_LEN + 1];
	uint8_t out[KMS_UID_LEN];

	memset(big, 'a', sizeof(big));
	memset(out, 0xaa, sizeof(out));
	CU_ASSERT_EQUAL(kms_uid_compute(out, NULL, 1, "k", 1, 1, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(out, sizeof(out)));
	CU_ASSERT_EQUAL(kms_uid_compute(out, "u", 0, "k", 1, 1, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_uid_compute(out, "u", 1, NULL, 1, 1, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_uid_compute(out, "u", 1, "k", 0, 1, 0, 0), KMS_ERR_INVALID_ARG);
	memset(out, 0xaa, sizeof(out));
	CU_ASSERT_EQUAL(kms_uid_compute(out, "u", 1, "k", 1, 0, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(out, sizeof(out)));
	CU_ASSERT_EQUAL(kms_uid_compute(out, big, sizeof(big), "k", 1, 1, 0, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_uid_compute(out, "u", 1, big, sizeof(big), 1, 0, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_uid_compute(out, big, sizeof(big) - 1, big, sizeof(big) - 1, 1, 0, 0),
			KMS_OK);
	CU_ASSERT(!kms_test_all_zero(out, sizeof(out)));
	CU_ASSERT_EQUAL(kms_uid_compute(NULL, "u", 1, "k", 1, 1, 0, 0), KMS_ERR_INVALID_ARG);
}

/*
 * Hand-built S for the minimal integer encoding: the octets of each integer are written out
 * literally here, independently of the code under test, and hashed with OpenSSL's SHA256().
 */
struct enc_case {
	uint64_t period;
	uint64_t offset;
	uint64_t period_no;
	uint8_t p3[8];
	size_t p3_len;
	uint8_t p4[8];
	size_t p4_len;
	uint8_t p5[8];
	size_t p5_len;
};

static const struct enc_case enc_cases[] = {
	/* 255 -> FF ; 0 -> 00 ; 256 -> 01 00 */
	{255, 0, 256, {0xff}, 1, {0x00}, 1, {0x01, 0x00}, 2},
	/* 1 -> 01 ; 65535 -> FF FF ; 0 -> 00 */
	{1, 65535, 0, {0x01}, 1, {0xff, 0xff}, 2, {0x00}, 1},
	/* 2^64-1 -> 8 x FF ; 2^56 -> 01 then 7 x 00 ; 65536 -> 01 00 00 */
	{UINT64_MAX,
	 (uint64_t)1 << 56,
	 65536,
	 {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	 8,
	 {0x01, 0, 0, 0, 0, 0, 0, 0},
	 8,
	 {0x01, 0x00, 0x00},
	 3},
	/* 16777215 -> FF FF FF (the Streamwide period) ; 0x0100000000 -> 01 00 00 00 00 */
	{16777215, 0x0100000000ULL, 236, {0xff, 0xff, 0xff}, 3, {1, 0, 0, 0, 0}, 5, {0xec}, 1},
};

static size_t
put(uint8_t *s, size_t off, const void *p, size_t len)
{
	memcpy(s + off, p, len);
	s[off + len] = (uint8_t)(len >> 8);
	s[off + len + 1] = (uint8_t)len;
	return off + len + 2;
}

static void
test_uid_minimal_encoding(void)
{
	static const char uri[] = "sip:user@example.org";
	static const char kms[] = "kms.example.org";
	size_t i;

	for (i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		uint8_t s[256];
		uint8_t want[SHA256_DIGEST_LENGTH];
		uint8_t got[KMS_UID_LEN];
		size_t off = 0;

		s[off++] = 0x00;
		off = put(s, off, "MIKEY-SAKKE-UID", 15);
		off = put(s, off, uri, sizeof(uri) - 1);
		off = put(s, off, kms, sizeof(kms) - 1);
		off = put(s, off, c->p3, c->p3_len);
		off = put(s, off, c->p4, c->p4_len);
		off = put(s, off, c->p5, c->p5_len);
		CU_ASSERT_PTR_NOT_NULL(SHA256(s, off, want));
		CU_ASSERT_EQUAL(kms_uid_compute(got, uri, sizeof(uri) - 1, kms, sizeof(kms) - 1,
						c->period, c->offset, c->period_no),
				KMS_OK);
		CU_ASSERT(bytes_eq(got, want, KMS_UID_LEN));
	}
}

/* kms-interface.md: D6B4323200000000 = 2014-02-23T08:39:14Z. */
static void
test_ntp_example(void)
{
	uint64_t ts = 1;
	uint64_t secs;
	uint64_t unix_s = 0;

	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B4323200000000", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xD6B4323200000000ULL);
	secs = kms_ntp_seconds(ts);
	CU_ASSERT_EQUAL(secs, 0xD6B43232ULL);
	CU_ASSERT_EQUAL(secs, 3602133554ULL);
	CU_ASSERT_EQUAL(kms_ntp_to_unix(&unix_s, secs), KMS_OK);
	CU_ASSERT_EQUAL(unix_s, 1393144754ULL);
	CU_ASSERT_EQUAL(kms_ntp_from_unix(1393144754ULL), secs);
	/* Lower case and mixed case are the same timestamp. */
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "d6b4323200000000", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xD6B4323200000000ULL);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "d6B4323200000000", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xD6B4323200000000ULL);
	/* The fraction is kept in the low 32 bits and dropped by kms_ntp_seconds. */
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B43232FFFFFFFF", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xD6B43232FFFFFFFFULL);
	CU_ASSERT_EQUAL(kms_ntp_seconds(ts), 0xD6B43232ULL);
	/* That instant in 30-day periods from the NTP epoch. */
	CU_ASSERT_EQUAL(kms_key_period_no(&unix_s, secs, 2592000, 0), KMS_OK);
	CU_ASSERT_EQUAL(unix_s, 3602133554ULL / 2592000ULL);
}

static void
test_ntp_parse_values(void)
{
	uint64_t ts = 1;

	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0000000000000000", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "FFFFFFFFFFFFFFFF", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, UINT64_MAX);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "ffffffffffffffff", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, UINT64_MAX);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0123456789abcdef", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0x0123456789ABCDEFULL);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0123456789ABCDEF", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0x0123456789ABCDEFULL);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "FEDCBA9876543210", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xFEDCBA9876543210ULL);
	/* Only len octets are read: trailing bytes beyond len are not part of the input. */
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B4323200000000zz", 16), KMS_OK);
	CU_ASSERT_EQUAL(ts, 0xD6B4323200000000ULL);
}

static void
test_ntp_parse_negative(void)
{
	static const char good[] = "D6B4323200000000";
	/* Bytes that are not hex digits: punctuation next to the digit ranges, and worse. */
	static const char bad[] = "gGxX \t\n+-.:/@[`{\0\x80\xff\xd6";
	char buf[32];
	uint64_t ts;
	size_t pos;
	size_t k;

	/* Wrong lengths: 0, 15, 17 digits, and long. */
	ts = 1;
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "", 0), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(ts, 0);
	ts = 1;
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B432320000000", 15), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(ts, 0);
	ts = 1;
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B43232000000000", 17), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(ts, 0);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "00000000000000000000000000000000", 32),
			KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, NULL, 16), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(NULL, good, 16), KMS_ERR_INVALID_ARG);
	/* 15 digits plus a NUL, or 15 digits padded by a space on either side. */
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B432320000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, " D6B432320000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "D6B432320000000 ", 16), KMS_ERR_ENCODING);
	/* Prefixes and signs that strtoull would have taken. */
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0xD6B43232000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0XD6B43232000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "+D6B432320000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "-D6B432320000000", 16), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, "0xD6B4323200000000", 18), KMS_ERR_PARSE);
	/* Each bad byte at each position of an otherwise valid timestamp. */
	for (pos = 0; pos < 16; pos++) {
		for (k = 0; k < sizeof(bad) - 1; k++) {
			memcpy(buf, good, 16);
			buf[pos] = bad[k];
			ts = 1;
			CU_ASSERT_EQUAL(kms_ntp_parse_hex(&ts, buf, 16), KMS_ERR_ENCODING);
			CU_ASSERT_EQUAL(ts, 0);
		}
	}
	/* Every byte value at position 0: exactly the 22 hex digits are accepted. */
	{
		unsigned int accepted = 0;
		unsigned int b;

		for (b = 0; b < 256; b++) {
			memcpy(buf, good, 16);
			buf[0] = (char)b;
			if (kms_ntp_parse_hex(&ts, buf, 16) == KMS_OK) {
				accepted++;
			}
		}
		CU_ASSERT_EQUAL(accepted, 22);
	}
}

static void
test_ntp_unix(void)
{
	uint64_t u = 1;

	CU_ASSERT_EQUAL(kms_ntp_from_unix(0), KMS_NTP_UNIX_OFFSET);
	CU_ASSERT_EQUAL(kms_ntp_to_unix(&u, KMS_NTP_UNIX_OFFSET), KMS_OK);
	CU_ASSERT_EQUAL(u, 0);
	u = 1;
	CU_ASSERT_EQUAL(kms_ntp_to_unix(&u, KMS_NTP_UNIX_OFFSET - 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(u, 0);
	CU_ASSERT_EQUAL(kms_ntp_to_unix(&u, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_ntp_to_unix(&u, UINT64_MAX), KMS_OK);
	CU_ASSERT_EQUAL(u, UINT64_MAX - KMS_NTP_UNIX_OFFSET);
	CU_ASSERT_EQUAL(kms_ntp_from_unix(UINT64_MAX - KMS_NTP_UNIX_OFFSET), UINT64_MAX);
	/* Saturates instead of wrapping back to 1900. */
	CU_ASSERT_EQUAL(kms_ntp_from_unix(UINT64_MAX), UINT64_MAX);
	/* 2036-02-07T06:28:16Z, the end of NTP era 0. */
	CU_ASSERT_EQUAL(kms_ntp_from_unix(2085978496ULL), 0x100000000ULL);
	CU_ASSERT_EQUAL(kms_ntp_to_unix(NULL, 0), KMS_ERR_INVALID_ARG);
}

static void
test_key_period_no(void)
{
	const uint64_t period = 2592000;
	const uint64_t offset = 45920000;
	uint64_t n = 7;
	uint64_t k;

	/* No offset. */
	CU_ASSERT_EQUAL(kms_key_period_no(&n, 0, period, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, period - 1, period, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, period, period, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	/* With an offset: first and last second of several periods. */
	for (k = 0; k < 2000; k += 37) {
		uint64_t start = offset + k * period;

		CU_ASSERT_EQUAL(kms_key_period_no(&n, start, period, offset), KMS_OK);
		CU_ASSERT_EQUAL(n, k);
		CU_ASSERT_EQUAL(kms_key_period_no(&n, start + period - 1, period, offset), KMS_OK);
		CU_ASSERT_EQUAL(n, k);
		CU_ASSERT_EQUAL(kms_key_period_no(&n, start + period, period, offset), KMS_OK);
		CU_ASSERT_EQUAL(n, k + 1);
	}
	/* T before the offset. */
	n = 7;
	CU_ASSERT_EQUAL(kms_key_period_no(&n, offset - 1, period, offset), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, 0, period, 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, offset, period, offset), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	/* Period 0. */
	n = 7;
	CU_ASSERT_EQUAL(kms_key_period_no(&n, 1000, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_key_period_no(NULL, 1000, 1, 0), KMS_ERR_INVALID_ARG);
	/* Extremes. */
	CU_ASSERT_EQUAL(kms_key_period_no(&n, UINT64_MAX, 1, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, UINT64_MAX);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, UINT64_MAX, UINT64_MAX, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, UINT64_MAX, 1, UINT64_MAX), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	/* The Streamwide vector's parameters: period 16777215, period number 236. */
	CU_ASSERT_EQUAL(kms_key_period_no(&n, 236ULL * 16777215ULL, 16777215, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 236);
	CU_ASSERT_EQUAL(kms_key_period_no(&n, 237ULL * 16777215ULL - 1, 16777215, 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 236);
}

static void
test_key_period_bounds(void)
{
	uint64_t s = 1;
	uint64_t e = 1;
	uint64_t n;
	uint64_t k;

	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 0, 2592000, 0), KMS_OK);
	CU_ASSERT_EQUAL(s, 0);
	CU_ASSERT_EQUAL(e, 2592000);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 20393844, 25920000, 45920000), KMS_OK);
	CU_ASSERT_EQUAL(s, 45920000ULL + 20393844ULL * 25920000ULL);
	CU_ASSERT_EQUAL(e, s + 25920000ULL);
	/* Bounds and period numbers agree. */
	for (k = 0; k < 5000; k += 7) {
		CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, k, 86400, 100), KMS_OK);
		CU_ASSERT_EQUAL(kms_key_period_no(&n, s, 86400, 100), KMS_OK);
		CU_ASSERT_EQUAL(n, k);
		CU_ASSERT_EQUAL(kms_key_period_no(&n, e - 1, 86400, 100), KMS_OK);
		CU_ASSERT_EQUAL(n, k);
		CU_ASSERT_EQUAL(kms_key_period_no(&n, e, 86400, 100), KMS_OK);
		CU_ASSERT_EQUAL(n, k + 1);
	}
	/* Overflow of n * period, of + offset, of n + 1, and of (n + 1) * period only. */
	s = e = 1;
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, UINT64_MAX / 2 + 1, 2, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(s, 0);
	CU_ASSERT_EQUAL(e, 0);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 1, 10, UINT64_MAX - 9), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, UINT64_MAX, 1, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, UINT64_MAX / 2, 2, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 0, 10, UINT64_MAX - 9), KMS_ERR_RANGE);
	/* The last representable period. */
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, UINT64_MAX - 1, 1, 0), KMS_OK);
	CU_ASSERT_EQUAL(s, UINT64_MAX - 1);
	CU_ASSERT_EQUAL(e, UINT64_MAX);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 0, 10, UINT64_MAX - 10), KMS_OK);
	CU_ASSERT_EQUAL(e, UINT64_MAX);
	/* Period 0 is out of contract. */
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, &e, 1, 0, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_key_period_bounds(NULL, &e, 1, 1, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_key_period_bounds(&s, NULL, 1, 1, 0), KMS_ERR_INVALID_ARG);
}

static void
test_identifier(void)
{
	const struct uid_vector *tv = &uid_vectors[5]; /* alice@streamwide */
	uint8_t uid[KMS_UID_LEN];
	uint8_t id[KMS_ID_MAX_LEN];
	uint8_t back[KMS_UID_LEN];
	size_t len = 99;
	size_t i;

	CU_ASSERT_EQUAL(kms_test_hex(uid, sizeof(uid), tv->uid_hex), KMS_UID_LEN);

	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, KMS_ID_RAW), KMS_OK);
	CU_ASSERT_EQUAL(len, KMS_UID_LEN);
	CU_ASSERT(bytes_eq(id, uid, KMS_UID_LEN));

	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, KMS_ID_HEX_LOWER), KMS_OK);
	CU_ASSERT_EQUAL(len, 64);
	CU_ASSERT(bytes_eq(id, (const uint8_t *)tv->uid_hex, 64));
	for (i = 0; i < 64; i++) {
		CU_ASSERT((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
	}
	CU_ASSERT_EQUAL(kms_hex_decode(back, sizeof(back), (const char *)id, len), KMS_OK);
	CU_ASSERT(bytes_eq(back, uid, KMS_UID_LEN));

	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, KMS_ID_HEX_UPPER), KMS_OK);
	CU_ASSERT_EQUAL(len, 64);
	for (i = 0; i < 64; i++) {
		CU_ASSERT((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F'));
	}
	CU_ASSERT(bytes_eq(id,
			   (const uint8_t *)"B5C452309219DA6A3D805615548D6C1B"
					    "0F4DE45A6B48FB13D9A24D857FC03DC4",
			   64));
	CU_ASSERT_EQUAL(kms_hex_decode(back, sizeof(back), (const char *)id, len), KMS_OK);
	CU_ASSERT(bytes_eq(back, uid, KMS_UID_LEN));

	/* Extremes: all-zero and all-FF UIDs. */
	memset(uid, 0, sizeof(uid));
	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, KMS_ID_HEX_LOWER), KMS_OK);
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(id[i], '0');
	}
	memset(uid, 0xff, sizeof(uid));
	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, KMS_ID_HEX_LOWER), KMS_OK);
	for (i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(id[i], 'f');
	}

	/* Unknown format: INVALID_ARG and a cleared output. */
	len = 99;
	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, uid, (enum kms_id_format)3),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT(kms_test_all_zero(id, sizeof(id)));
	CU_ASSERT_EQUAL(kms_uid_identifier(id, &len, NULL, KMS_ID_RAW), KMS_ERR_INVALID_ARG);
}

static CU_TestInfo uid_tests[] = {
	{"published UID vectors (8)", test_uid_vectors},
	{"every parameter changes the UID", test_uid_sensitivity},
	{"invalid arguments", test_uid_invalid_args},
	{"minimal big-endian integers, hand-built S", test_uid_minimal_encoding},
	{"identifier formats", test_identifier},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo ntp_tests[] = {
	{"D6B4323200000000 = 2014-02-23T08:39:14Z", test_ntp_example},
	{"parse values", test_ntp_parse_values},
	{"parse rejects", test_ntp_parse_negative},
	{"unix conversions", test_ntp_unix},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo period_tests[] = {
	{"period number", test_key_period_no},
	{"period bounds", test_key_period_bounds},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"uid", NULL, NULL, NULL, NULL, uid_tests},
	{"ntp", NULL, NULL, NULL, NULL, ntp_tests},
	{"key_period", NULL, NULL, NULL, NULL, period_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

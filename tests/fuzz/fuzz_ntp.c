/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the untrusted-input side of hsm/uid.c:
 * - kms_ntp_parse_hex() on arbitrary bytes: it accepts exactly 16 hex digits, the value
 *   re-encodes to the input (case-insensitively), rejects leave *out_ts 0 with the documented
 *   codes; the parsed time then drives the key period and epoch helpers, whose results are
 *   checked against each other.
 * - kms_uid_compute() on fuzz-split URIs and integers, checked against an independent
 *   construction of S hashed with OpenSSL, and kms_uid_identifier() round trips.
 * Any violated invariant abort()s.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/err.h"
#include "hsm/uid.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

static void
check(int cond)
{
	if (!cond) {
		abort();
	}
}

static int
ref_hex(uint8_t c, unsigned int *out)
{
	static const char digits[] = "0123456789abcdef";
	unsigned int i;
	uint8_t lc = (c >= 'A' && c <= 'F') ? (uint8_t)(c + ('a' - 'A')) : c;

	for (i = 0; i < 16; i++) {
		if ((uint8_t)digits[i] == lc) {
			*out = i;
			return 1;
		}
	}
	return 0;
}

static uint64_t
load_u64(const uint8_t *p)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

static void
fuzz_ntp(const uint8_t *data, size_t size)
{
	uint64_t ts = 0x5a5a5a5a5a5a5a5aULL;
	uint64_t ref = 0;
	int ref_ok = size == 16;
	int r;
	size_t i;

	for (i = 0; ref_ok && i < size; i++) {
		unsigned int d;

		if (!ref_hex(data[i], &d)) {
			ref_ok = 0;
		} else {
			ref = (ref << 4) | d;
		}
	}
	r = kms_ntp_parse_hex(&ts, (const char *)data, size);
	if (!ref_ok) {
		check(r != KMS_OK);
		check(ts == 0);
		check(r == (size != 16 ? KMS_ERR_PARSE : KMS_ERR_ENCODING));
		return;
	}
	check(r == KMS_OK);
	check(ts == ref);
	/* Re-encode and compare case-insensitively with the input. */
	for (i = 0; i < 16; i++) {
		static const char lower[] = "0123456789abcdef";
		uint8_t c = data[i];

		if (c >= 'A' && c <= 'F') {
			c = (uint8_t)(c + ('a' - 'A'));
		}
		check((uint8_t)lower[(ts >> (60 - 4 * i)) & 0xf] == c);
	}

	/* Seconds, epochs and key periods derived from the parsed time. */
	{
		uint64_t secs = kms_ntp_seconds(ts);
		uint64_t period = (ts & 0xffffffffULL) | 1; /* 1 .. 2^32 - 1 */
		uint64_t offset = (ts >> 16) & 0xffffffffULL;
		uint64_t unix_s = 1;
		uint64_t n = 0;
		uint64_t start = 0;
		uint64_t end = 0;

		check(secs == ts >> 32);
		r = kms_ntp_to_unix(&unix_s, secs);
		if (secs < KMS_NTP_UNIX_OFFSET) {
			check(r == KMS_ERR_RANGE && unix_s == 0);
		} else {
			check(r == KMS_OK && kms_ntp_from_unix(unix_s) == secs);
		}
		r = kms_key_period_no(&n, secs, period, offset);
		if (secs < offset) {
			check(r == KMS_ERR_RANGE && n == 0);
		} else {
			check(r == KMS_OK);
			check(kms_key_period_bounds(&start, &end, n, period, offset) == KMS_OK);
			check(start <= secs && secs < end && end - start == period);
		}
		check(kms_key_period_no(&n, secs, 0, offset) == KMS_ERR_INVALID_ARG);
	}
}

/* An independent S: integers by counting the leading zero octets of the 8-octet form. */
static size_t
ref_put(uint8_t *s, size_t off, const uint8_t *p, size_t len)
{
	memcpy(s + off, p, len);
	s[off + len] = (uint8_t)(len >> 8);
	s[off + len + 1] = (uint8_t)(len & 0xff);
	return off + len + 2;
}

static size_t
ref_put_int(uint8_t *s, size_t off, uint64_t v)
{
	uint8_t b[8];
	size_t skip = 0;
	size_t i;

	for (i = 0; i < 8; i++) {
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	}
	while (skip < 7 && b[skip] == 0) {
		skip++;
	}
	return ref_put(s, off, b + skip, 8 - skip);
}

static void
fuzz_uid(const uint8_t *data, size_t size)
{
	static uint8_t s[1 + 17 + 2 * (KMS_UID_MAX_URI_LEN + 2) + 3 * 10];
	uint8_t uid[KMS_UID_LEN];
	uint8_t want[SHA256_DIGEST_LENGTH];
	uint8_t id[KMS_ID_MAX_LEN];
	size_t id_len = 0;
	uint64_t period;
	uint64_t offset;
	uint64_t period_no;
	const uint8_t *rest;
	size_t rest_len;
	size_t uri_len;
	size_t kms_len;
	size_t off = 0;
	size_t i;
	int r;
	int valid;

	if (size < 2 + 24) {
		return;
	}
	period = load_u64(data + 2);
	offset = load_u64(data + 10);
	period_no = load_u64(data + 18);
	rest = data + 26;
	rest_len = size - 26;
	uri_len = ((size_t)data[0] << 8 | data[1]) % (rest_len + 1);
	kms_len = rest_len - uri_len;
	/* Small periods are interesting too: the first octet of period often selects one. */
	if (data[2] == 0xee) {
		period &= 0xff;
	}

	memset(uid, 0xa5, sizeof(uid));
	r = kms_uid_compute(uid, (const char *)rest, uri_len, (const char *)rest + uri_len, kms_len,
			    period, offset, period_no);
	valid = uri_len >= 1 && uri_len <= KMS_UID_MAX_URI_LEN && kms_len >= 1 &&
		kms_len <= KMS_UID_MAX_URI_LEN && period != 0;
	if (!valid) {
		check(r == KMS_ERR_INVALID_ARG);
		for (i = 0; i < sizeof(uid); i++) {
			check(uid[i] == 0);
		}
		return;
	}
	check(r == KMS_OK);
	s[off++] = 0x00;
	off = ref_put(s, off, (const uint8_t *)"MIKEY-SAKKE-UID", 15);
	off = ref_put(s, off, rest, uri_len);
	off = ref_put(s, off, rest + uri_len, kms_len);
	off = ref_put_int(s, off, period);
	off = ref_put_int(s, off, offset);
	off = ref_put_int(s, off, period_no);
	check(off <= sizeof(s));
	check(SHA256(s, off, want) != NULL);
	check(memcmp(uid, want, sizeof(uid)) == 0);

	/* Identifier formats: raw copies, hex round-trips in the requested case. */
	check(kms_uid_identifier(id, &id_len, uid, KMS_ID_RAW) == KMS_OK);
	check(id_len == KMS_UID_LEN && memcmp(id, uid, KMS_UID_LEN) == 0);
	for (i = 0; i < 2; i++) {
		enum kms_id_format fmt = i == 0 ? KMS_ID_HEX_LOWER : KMS_ID_HEX_UPPER;
		char tmp[16];
		uint64_t v = 0;
		size_t k;

		check(kms_uid_identifier(id, &id_len, uid, fmt) == KMS_OK);
		check(id_len == (size_t)2 * KMS_UID_LEN);
		for (k = 0; k < (size_t)2 * KMS_UID_LEN; k++) {
			uint8_t c = id[k];

			check((c >= '0' && c <= '9') ||
			      (fmt == KMS_ID_HEX_LOWER ? (c >= 'a' && c <= 'f')
						       : (c >= 'A' && c <= 'F')));
		}
		/* Each 16-digit slice parses (as an NTP timestamp would) to the UID's octets. */
		for (k = 0; k < 4; k++) {
			memcpy(tmp, id + 16 * k, 16);
			check(kms_ntp_parse_hex(&v, tmp, 16) == KMS_OK);
			check(v == load_u64(uid + 8 * k));
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_ntp(data, size);
	fuzz_uid(data, size);
	return 0;
}

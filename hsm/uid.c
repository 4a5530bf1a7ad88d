/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/uid.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/hex.h"

#include "common/banned.h"

/*
 * TS 33.180 Annex F.2.1 UIDs, key periods and NTP timestamps. Nothing here is secret; the NTP
 * text comes straight from a request URI and is hostile.
 */

#define KMS_UID_P0      "MIKEY-SAKKE-UID"
#define KMS_UID_P0_LEN  15u
#define KMS_NTP_HEX_LEN 16u

/* be_minimal - v as minimal big-endian octets (0 is one 00 octet); returns the count, 1..8. */
static size_t
be_minimal(uint8_t out[8], uint64_t v)
{
	size_t n = 1;
	size_t i;

	while (n < 8 && (v >> (8 * n)) != 0) {
		n++;
	}
	for (i = 0; i < n; i++) {
		out[n - 1 - i] = (uint8_t)(v >> (8 * i));
	}
	return n;
}

/* put_pl - hash Pi || Li, Li the 2-octet big-endian length of Pi (at most 0xFFFF, checked). */
static int
put_pl(EVP_MD_CTX *md, const void *p, size_t len)
{
	uint8_t l[2];

	if (len > 0xFFFFu) {
		return 0;
	}
	l[0] = (uint8_t)(len >> 8);
	l[1] = (uint8_t)len;
	return EVP_DigestUpdate(md, p, len) == 1 && EVP_DigestUpdate(md, l, sizeof(l)) == 1;
}

static int
put_int(EVP_MD_CTX *md, uint64_t v)
{
	uint8_t b[8];
	size_t n = be_minimal(b, v);

	return put_pl(md, b, n);
}

int
kms_uid_compute(uint8_t out[KMS_UID_LEN], const char *uri, size_t uri_len, const char *kms_uri,
		size_t kms_uri_len, uint64_t period, uint64_t offset, uint64_t period_no)
{
	static const uint8_t fc = 0x00; /* dummy FC: the 33.220 KDF itself is not applied */
	EVP_MD_CTX *md = NULL;
	unsigned int md_len = 0;
	int r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, KMS_UID_LEN);
	if (uri == NULL || uri_len == 0 || uri_len > KMS_UID_MAX_URI_LEN || kms_uri == NULL ||
	    kms_uri_len == 0 || kms_uri_len > KMS_UID_MAX_URI_LEN || period == 0) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, &fc, 1) != 1 ||
	    !put_pl(md, KMS_UID_P0, KMS_UID_P0_LEN) || !put_pl(md, uri, uri_len) ||
	    !put_pl(md, kms_uri, kms_uri_len) || !put_int(md, period) || !put_int(md, offset) ||
	    !put_int(md, period_no) || EVP_DigestFinal_ex(md, out, &md_len) != 1 ||
	    md_len != KMS_UID_LEN) {
		memset(out, 0, KMS_UID_LEN);
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = KMS_OK;
out:
	EVP_MD_CTX_free(md);
	return r;
}

int
kms_key_period_no(uint64_t *out, uint64_t ntp_seconds, uint64_t period, uint64_t offset)
{
	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if (period == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if (ntp_seconds < offset) {
		return KMS_ERR_RANGE;
	}
	*out = (ntp_seconds - offset) / period;
	return KMS_OK;
}

int
kms_key_period_bounds(uint64_t *out_start, uint64_t *out_end, uint64_t period_no, uint64_t period,
		      uint64_t offset)
{
	uint64_t start;
	uint64_t end;
	uint64_t next;

	if (out_start == NULL || out_end == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_start = 0;
	*out_end = 0;
	/* A period of 0 seconds is out of contract (kms_key_period_no rejects it too). */
	if (period == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if (__builtin_mul_overflow(period_no, period, &start) ||
	    __builtin_add_overflow(start, offset, &start) ||
	    __builtin_add_overflow(period_no, (uint64_t)1, &next) ||
	    __builtin_mul_overflow(next, period, &end) ||
	    __builtin_add_overflow(end, offset, &end)) {
		return KMS_ERR_RANGE;
	}
	*out_start = start;
	*out_end = end;
	return KMS_OK;
}

int
kms_ntp_parse_hex(uint64_t *out_ts, const char *s, size_t len)
{
	uint8_t be[KMS_NTP_HEX_LEN / 2];
	uint64_t v = 0;
	size_t i;

	if (out_ts == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_ts = 0;
	/* The length first: s need not be NUL-terminated, and nothing past len is read. */
	if (s == NULL || len != KMS_NTP_HEX_LEN) {
		return KMS_ERR_PARSE;
	}
	/* Exactly 16 digits of [0-9a-fA-F]: no sign, space or prefix gets through. */
	if (kms_hex_decode(be, sizeof(be), s, len) != KMS_OK) {
		return KMS_ERR_ENCODING;
	}
	for (i = 0; i < sizeof(be); i++) {
		v = (v << 8) | be[i];
	}
	*out_ts = v;
	return KMS_OK;
}

/*
 * XXX(uid): era 0 only. The 32-bit seconds field wraps on 2036-02-07T06:28:16Z; a KMS still
 * running then must place timestamps in era 1 (RFC 5905 section 6).
 */
uint64_t
kms_ntp_seconds(uint64_t ts)
{
	return ts >> 32;
}

uint64_t
kms_ntp_from_unix(uint64_t unix_seconds)
{
	uint64_t ntp;

	/* Saturate rather than wrap into 1900: no caller can meet this before year 584 billion. */
	if (__builtin_add_overflow(unix_seconds, KMS_NTP_UNIX_OFFSET, &ntp)) {
		return UINT64_MAX;
	}
	return ntp;
}

int
kms_ntp_to_unix(uint64_t *out, uint64_t ntp_seconds)
{
	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if (ntp_seconds < KMS_NTP_UNIX_OFFSET) {
		return KMS_ERR_RANGE;
	}
	*out = ntp_seconds - KMS_NTP_UNIX_OFFSET;
	return KMS_OK;
}

int
kms_uid_identifier(uint8_t out[KMS_ID_MAX_LEN], size_t *out_len, const uint8_t uid[KMS_UID_LEN],
		   enum kms_id_format fmt)
{
	char hex[2 * KMS_UID_LEN + 1];
	size_t i;

	if (out == NULL || out_len == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, KMS_ID_MAX_LEN);
	*out_len = 0;
	if (uid == NULL ||
	    (fmt != KMS_ID_RAW && fmt != KMS_ID_HEX_LOWER && fmt != KMS_ID_HEX_UPPER)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (fmt == KMS_ID_RAW) {
		memcpy(out, uid, KMS_UID_LEN);
		*out_len = KMS_UID_LEN;
		return KMS_OK;
	}
	if (kms_hex_encode(hex, sizeof(hex), uid, KMS_UID_LEN) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	for (i = 0; i < 2 * KMS_UID_LEN; i++) {
		char c = hex[i];

		/* kms_hex_encode writes upper case; the lower-case setting maps A-F to a-f */
		if (fmt == KMS_ID_HEX_LOWER && c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		}
		out[i] = (uint8_t)c;
	}
	*out_len = 2 * KMS_UID_LEN;
	return KMS_OK;
}

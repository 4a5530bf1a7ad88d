/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>

#include "common/base64.h"

#include "common/banned.h"

/* The value of c in the alphabet (url: RFC 4648 section 5), or -1. */
static int
b64_value(uint8_t c, bool url)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == (url ? '-' : '+')) {
		return 62;
	}
	if (c == (url ? '_' : '/')) {
		return 63;
	}
	return -1;
}

static bool
is_xml_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
kms_b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t in_len,
	       unsigned int flags)
{
	const bool url = (flags & KMS_B64_URL) != 0;
	const bool skip_space = (flags & KMS_B64_XML_SPACE) != 0;
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t chars = 0, pad = 0, n = 0, i;

	if (out_len != NULL) {
		*out_len = 0;
	}
	if (out_len == NULL || (out == NULL && cap > 0) || (in == NULL && in_len > 0) ||
	    (flags & ~(unsigned int)(KMS_B64_URL | KMS_B64_XML_SPACE)) != 0) {
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < in_len; i++) {
		uint8_t c = (uint8_t)in[i];
		int v;

		if (skip_space && is_xml_space(c)) {
			continue;
		}
		if (c == '=' && !url) {
			if (++pad > 2) {
				return KMS_ERR_ENCODING;
			}
			continue;
		}
		/* nothing but padding (and spaces) after the first "=" */
		if (pad > 0 || (v = b64_value(c, url)) < 0) {
			return KMS_ERR_ENCODING;
		}
		chars++;
		acc = ((acc << 6) | (uint32_t)v) & 0xffffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap) {
				return KMS_ERR_TOO_LARGE;
			}
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* 1 character carries no whole byte; padding completes the last group exactly */
	if (chars % 4 == 1 || (!url && pad != (4 - chars % 4) % 4)) {
		return KMS_ERR_ENCODING;
	}
	/* the 2 or 4 bits after the last byte are zero: the canonical encoding only */
	if ((acc & ((UINT32_C(1) << bits) - 1u)) != 0) {
		return KMS_ERR_ENCODING;
	}
	*out_len = n;
	return KMS_OK;
}

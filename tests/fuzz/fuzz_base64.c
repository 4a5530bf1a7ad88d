/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_base64 - kms_b64_decode (common/base64.h) on arbitrary text: the first byte picks the
 * flags (base64 or base64url, XML spaces skipped or not), the rest is the text. Checked against
 * OpenSSL: the text (its XML spaces dropped when they are skipped; base64url turned into base64
 * with its padding) must be accepted exactly when it is OpenSSL's own encoding of what
 * OpenSSL's decoder makes of it (the canonical encoding), with those bytes; nothing is written
 * past the bytes it reports. Any disagreement aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/base64.h"
#include "common/err.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define FUZZ_MAX_INPUT 4096
#define CANARY         0xa5

/* The canonical reading of std[0..len) (base64 with padding): 1 and the bytes, or 0. */
static int
ref_decode(const char *std, size_t len, uint8_t *out, size_t *out_len)
{
	static unsigned char again[FUZZ_MAX_INPUT + 8];
	int n, pad = 0;

	if (len % 4 != 0) {
		return 0;
	}
	if (len == 0) {
		*out_len = 0;
		return 1;
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)std, (int)len);
	if (n < 0) {
		return 0;
	}
	pad = (std[len - 1] == '=') + (len > 1 && std[len - 2] == '=');
	if (n < pad) {
		return 0;
	}
	n -= pad;
	if (EVP_EncodeBlock(again, out, n) != (int)len || memcmp(again, std, len) != 0) {
		return 0;
	}
	*out_len = (size_t)n;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_MAX_INPUT], std[FUZZ_MAX_INPUT + 4];
	static uint8_t out[FUZZ_MAX_INPUT], ref[FUZZ_MAX_INPUT];
	unsigned int flags;
	size_t len, i, slen = 0, n = 0, ref_len = 0, cap;
	bool url, skip, want;
	int r;

	if (size < 1 || size - 1 > FUZZ_MAX_INPUT) {
		return 0;
	}
	flags = data[0] & 3u;
	url = (flags & KMS_B64_URL) != 0;
	skip = (flags & KMS_B64_XML_SPACE) != 0;
	len = size - 1;
	memcpy(text, data + 1, len);

	/* the reference's input */
	want = true;
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (skip && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			continue;
		}
		if (url) {
			if (c == '+' || c == '/' || c == '=') {
				want = false; /* not base64url's */
			}
			c = c == '-' ? '+' : c == '_' ? '/' : c;
		} else if (c == '-' || c == '_') {
			want = false; /* not base64's */
		}
		std[slen++] = c;
	}
	if (url) {
		if (slen % 4 == 1) {
			want = false;
		}
		while (slen % 4 != 0) {
			std[slen++] = '=';
		}
	}
	want = want && ref_decode(std, slen, ref, &ref_len);

	cap = len; /* enough for any text of len characters */
	memset(out, CANARY, sizeof(out));
	r = kms_b64_decode(out, cap, &n, text, len, flags);
	if (want) {
		CHECK(r == KMS_OK);
		CHECK(n == ref_len && memcmp(out, ref, n) == 0);
	} else {
		CHECK(r == KMS_ERR_ENCODING);
		CHECK(n == 0);
	}
	for (i = n; r == KMS_OK && i < sizeof(out); i++) {
		CHECK(out[i] == CANARY); /* nothing written past the bytes reported */
	}
	/* one byte less room than it needs: too large, never a partial success */
	if (r == KMS_OK && n > 0) {
		CHECK(kms_b64_decode(out, n - 1, &i, text, len, flags) == KMS_ERR_TOO_LARGE);
		CHECK(i == 0);
	}
	return 0;
}

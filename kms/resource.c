/* SPDX-License-Identifier: Apache-2.0 */
#include "kms/resource.h"

#include <string.h>

#include "common/hex.h"
#include "hsm/uid.h"
#include "proto/mp.h"

#include "common/banned.h"

const char *
kms_resource_name(enum kms_resource_kind kind)
{
	switch (kind) {
	case KMS_RES_INIT:
		return "init";
	case KMS_RES_KEYPROV:
		return "keyprov";
	case KMS_RES_CERTCACHE:
		return "certcache";
	default:
		return "?";
	}
}

/* Percent-decode s[0..len) into out (cap bytes, NUL added); the decoded length to *out_len. */
static int
pct_decode(char *out, size_t cap, size_t *out_len, const char *s, size_t len)
{
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			uint8_t b;
			if (len - i < 3 || kms_hex_decode(&b, 1, s + i + 1, 2) != KMS_OK) {
				return KMS_ERR_PARSE;
			}
			c = b;
			i += 3;
		} else {
			i++;
		}
		if (n + 1 >= cap) {
			return KMS_ERR_TOO_LARGE;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	*out_len = n;
	return KMS_OK;
}

/* A decimal cache number: 1..20 digits, no sign, no leading zero unless it is "0", fits u64. */
static int
parse_u64(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) {
		return KMS_ERR_PARSE;
	}
	for (i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9') {
			return KMS_ERR_PARSE;
		}
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			return KMS_ERR_RANGE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return KMS_OK;
}

int
kms_resource_parse(struct kms_resource *out, const char *root, const char *path, size_t path_len)
{
	struct kms_resource res;
	size_t root_len = strlen(root);
	const char *rest;
	size_t rest_len, seg_len, i;
	int r;

	if (path_len > KMS_RESOURCE_MAX_PATH) {
		return KMS_ERR_TOO_LARGE;
	}
	if (memchr(path, '?', path_len) != NULL || memchr(path, '#', path_len) != NULL) {
		return KMS_ERR_PARSE;
	}
	if (root_len > KMS_RESOURCE_MAX_ROOT || path_len < root_len + 2 ||
	    memcmp(path, root, root_len) != 0 || path[root_len] != '/') {
		return KMS_ERR_UNSUPPORTED;
	}
	rest = path + root_len + 1;
	rest_len = path_len - root_len - 1;
	if (rest_len > 0 && rest[rest_len - 1] == '/') {
		rest_len--; /* "keyprov/" is "keyprov" */
	}
	for (i = 0; i < rest_len; i++) {
		unsigned char c = (unsigned char)rest[i];
		if (c <= 0x20 || c == 0x7f) {
			return KMS_ERR_PARSE;
		}
	}
	memset(&res, 0, sizeof(res));
	seg_len = 0;
	while (seg_len < rest_len && rest[seg_len] != '/') {
		seg_len++;
	}
	if (seg_len == 4 && memcmp(rest, "init", 4) == 0) {
		res.kind = KMS_RES_INIT;
	} else if (seg_len == 7 && memcmp(rest, "keyprov", 7) == 0) {
		res.kind = KMS_RES_KEYPROV;
	} else if (seg_len == 9 && memcmp(rest, "certcache", 9) == 0) {
		res.kind = KMS_RES_CERTCACHE;
	} else {
		return KMS_ERR_UNSUPPORTED;
	}
	if (seg_len == rest_len) {
		*out = res;
		return KMS_OK;
	}
	/* what follows the resource name and its "/" */
	rest += seg_len + 1;
	rest_len -= seg_len + 1;
	if (rest_len == 0) {
		return KMS_ERR_PARSE; /* "keyprov//" */
	}
	if (res.kind == KMS_RES_INIT) {
		return KMS_ERR_UNSUPPORTED;
	}
	if (res.kind == KMS_RES_CERTCACHE) {
		if ((r = parse_u64(&res.cache_num, rest, rest_len)) != KMS_OK) {
			return r == KMS_ERR_RANGE ? KMS_ERR_PARSE : r;
		}
		res.has_cache = true;
		*out = res;
		return KMS_OK;
	}
	/* keyprov/<uri>[/<ntp>]: <uri> holds no raw "/", so at most two segments */
	{
		const char *slash = memchr(rest, '/', rest_len);
		size_t uri_len = slash == NULL ? rest_len : (size_t)(slash - rest);

		if (slash != NULL) {
			const char *t = slash + 1;
			size_t t_len = rest_len - uri_len - 1;
			/* exactly 16 hex digits: kms_ntp_parse_hex checks them */
			if ((r = kms_ntp_parse_hex(&res.ntp, t, t_len)) != KMS_OK) {
				return KMS_ERR_PARSE;
			}
			res.has_time = true;
		}
		if (uri_len == 0) {
			return KMS_ERR_PARSE;
		}
		if ((r = pct_decode(res.uri, sizeof(res.uri), &res.uri_len, rest, uri_len)) !=
		    KMS_OK) {
			return r;
		}
	}
	/* no control character (C0, DEL, C1) may reach a log line or the audit record */
	if (res.uri_len == 0 ||
	    kms_mp_text_check((const uint8_t *)res.uri, res.uri_len) != KMS_OK) {
		return KMS_ERR_ENCODING;
	}
	res.has_uri = true;
	*out = res;
	return KMS_OK;
}

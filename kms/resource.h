/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_RESOURCE_H
#define KMS_KMS_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The resources of the KMS interface (kms-interface.md), below the configured root
 * (default /keymanagement/identity/v1):
 *
 *   init                       the KMS certificate
 *   keyprov                    the key set(s) of the authenticated identity, now
 *   keyprov/<uri>              the key set(s) of <uri>, now
 *   keyprov/<uri>/<ntp>        the key set of <uri> for the period holding <ntp> (16 hex digits,
 *                              a 64-bit NTP timestamp)
 *   certcache, certcache/<n>   external KMS certificates changed after cache number n
 *
 * <uri> comes percent-encoded ("sip%3Aalice%40example.org") or raw ("sip:alice@example.org");
 * it is decoded once (a "/" inside it must be encoded as %2F), must be UTF-8 without control
 * characters (C0, DEL, C1), and at most KMS_RESOURCE_MAX_URI bytes decoded. A query string is
 * refused; a trailing "/" is not part of the resource.
 */

#define KMS_RESOURCE_MAX_PATH 8192 /* bytes of the request path (h2o allows more; we do not) */
#define KMS_RESOURCE_MAX_URI  2048
#define KMS_RESOURCE_MAX_ROOT 255

enum kms_resource_kind {
	KMS_RES_INIT = 1,
	KMS_RES_KEYPROV = 2,
	KMS_RES_CERTCACHE = 3,
};

struct kms_resource {
	enum kms_resource_kind kind;
	bool has_uri;                       /* keyprov/<uri>[/<ntp>] */
	char uri[KMS_RESOURCE_MAX_URI + 1]; /* decoded, NUL-terminated */
	size_t uri_len;
	bool has_time;  /* keyprov/<uri>/<ntp> */
	uint64_t ntp;   /* the 64-bit NTP timestamp */
	bool has_cache; /* certcache/<n> */
	uint64_t cache_num;
};

/*
 * kms_resource_parse - parse path[0..path_len) (the request path as sent, from the network)
 * against root (e.g. "/keymanagement/identity/v1", no trailing "/"). Returns KMS_OK;
 * KMS_ERR_UNSUPPORTED when the path is not below root or names no resource (HTTP 404);
 * KMS_ERR_TOO_LARGE (the path or the URI is too long); KMS_ERR_PARSE (bad percent-encoding, a
 * query, an empty segment, a malformed <ntp> or <n>, extra segments); KMS_ERR_ENCODING (the
 * decoded URI is not UTF-8 or holds a control character or NUL). *out is untouched on failure.
 */
int kms_resource_parse(struct kms_resource *out, const char *root, const char *path,
		       size_t path_len) KMS_WUR;

/* kms_resource_name - "init", "keyprov" or "certcache" (for logs and audit); "?" otherwise. */
const char *kms_resource_name(enum kms_resource_kind kind);

#endif /* KMS_KMS_RESOURCE_H */

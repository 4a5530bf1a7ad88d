/* SPDX-License-Identifier: Apache-2.0 */
/* kms_resource_parse (kms/resource.c): request paths from the network. */
#include <string.h>

#include "kms/resource.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char root[] = "/keymanagement/identity/v1";
	struct kms_resource r;
	size_t i;

	memset(&r, 0, sizeof(r));
	if (kms_resource_parse(&r, root, (const char *)data, size) != KMS_OK) {
		return 0;
	}
	CHECK(r.kind == KMS_RES_INIT || r.kind == KMS_RES_KEYPROV || r.kind == KMS_RES_CERTCACHE);
	CHECK(size > strlen(root) && memcmp(data, root, strlen(root)) == 0);
	if (r.has_uri) {
		CHECK(r.kind == KMS_RES_KEYPROV);
		CHECK(r.uri_len > 0 && r.uri_len <= KMS_RESOURCE_MAX_URI);
		CHECK(r.uri[r.uri_len] == '\0' && strlen(r.uri) == r.uri_len);
		for (i = 0; i < r.uri_len; i++) {
			CHECK((uint8_t)r.uri[i] >= 0x20 && (uint8_t)r.uri[i] != 0x7f);
			CHECK(!((uint8_t)r.uri[i] == 0xc2 && i + 1 < r.uri_len &&
				(uint8_t)r.uri[i + 1] >= 0x80 && (uint8_t)r.uri[i + 1] <= 0x9f));
		}
	}
	CHECK(!r.has_time || r.has_uri);
	CHECK(!r.has_cache || r.kind == KMS_RES_CERTCACHE);
	return 0;
}

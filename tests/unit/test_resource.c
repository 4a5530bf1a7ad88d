/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "kms/resource.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define ROOT "/keymanagement/identity/v1"

static int
parse(struct kms_resource *r, const char *path)
{
	return kms_resource_parse(r, ROOT, path, strlen(path));
}

static void
test_golden(void)
{
	struct kms_resource r;

	CU_ASSERT_EQUAL(parse(&r, ROOT "/init"), KMS_OK);
	CU_ASSERT_EQUAL(r.kind, KMS_RES_INIT);
	CU_ASSERT_FALSE(r.has_uri);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov"), KMS_OK);
	CU_ASSERT_EQUAL(r.kind, KMS_RES_KEYPROV);
	CU_ASSERT_FALSE(r.has_uri || r.has_time);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/"), KMS_OK);
	CU_ASSERT_EQUAL(r.kind, KMS_RES_KEYPROV);
	/* raw and percent-encoded URIs are the same identity */
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip:alice@example.org"), KMS_OK);
	CU_ASSERT_TRUE(r.has_uri);
	CU_ASSERT_STRING_EQUAL(r.uri, "sip:alice@example.org");
	CU_ASSERT_EQUAL(r.uri_len, 21);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip%3Aalice%40example.org"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(r.uri, "sip:alice@example.org");
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip%3aalice%40example.org"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(r.uri, "sip:alice@example.org");
	/* with the time of kms-interface.md's example */
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip:alice@example.org/D6B4323200000000"), KMS_OK);
	CU_ASSERT_TRUE(r.has_uri && r.has_time);
	CU_ASSERT_EQUAL(r.ntp, 0xD6B4323200000000ull);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip:alice@example.org/d6b4323200000000/"), KMS_OK);
	CU_ASSERT_EQUAL(r.ntp, 0xD6B4323200000000ull);
	/* an encoded "/" belongs to the URI */
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/a%2Fb"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(r.uri, "a/b");
	/* UTF-8 in the URI */
	CU_ASSERT_EQUAL(parse(&r, ROOT "/keyprov/sip:j%C3%B6rg@example.org"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(r.uri, "sip:j\xc3\xb6rg@example.org");
	CU_ASSERT_EQUAL(parse(&r, ROOT "/certcache"), KMS_OK);
	CU_ASSERT_EQUAL(r.kind, KMS_RES_CERTCACHE);
	CU_ASSERT_FALSE(r.has_cache);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/certcache/0"), KMS_OK);
	CU_ASSERT_TRUE(r.has_cache);
	CU_ASSERT_EQUAL(r.cache_num, 0);
	CU_ASSERT_EQUAL(parse(&r, ROOT "/certcache/18446744073709551615"), KMS_OK);
	CU_ASSERT_EQUAL(r.cache_num, UINT64_MAX);
	CU_ASSERT_STRING_EQUAL(kms_resource_name(KMS_RES_KEYPROV), "keyprov");
	CU_ASSERT_STRING_EQUAL(kms_resource_name((enum kms_resource_kind)9), "?");
}

static void
test_errors(void)
{
	struct kms_resource r;
	static const struct {
		const char *path;
		int want;
	} cases[] = {
		{"/", KMS_ERR_UNSUPPORTED},
		{ROOT, KMS_ERR_UNSUPPORTED},
		{ROOT "/", KMS_ERR_UNSUPPORTED},
		{ROOT "x/init", KMS_ERR_UNSUPPORTED},
		{"/keymanagement/identity/v2/init", KMS_ERR_UNSUPPORTED},
		{ROOT "/initx", KMS_ERR_UNSUPPORTED},
		{ROOT "/init/x", KMS_ERR_UNSUPPORTED},
		{ROOT "/KEYPROV", KMS_ERR_UNSUPPORTED},
		{ROOT "/keyprov?x=1", KMS_ERR_PARSE},
		{ROOT "/keyprov#f", KMS_ERR_PARSE},
		{ROOT "/keyprov//", KMS_ERR_PARSE},
		{ROOT "/keyprov//D6B4323200000000", KMS_ERR_PARSE},
		{ROOT "/keyprov/sip:a@b/D6B43232", KMS_ERR_PARSE},          /* short time */
		{ROOT "/keyprov/sip:a@b/D6B4323200000000X", KMS_ERR_PARSE}, /* long time */
		{ROOT "/keyprov/sip:a@b/G6B4323200000000", KMS_ERR_PARSE},  /* not hex */
		{ROOT "/keyprov/sip:a@b/D6B4323200000000/x", KMS_ERR_PARSE},
		{ROOT "/keyprov/a/b", KMS_ERR_PARSE}, /* a raw "/" in the URI */
		{ROOT "/keyprov/sip%3", KMS_ERR_PARSE},
		{ROOT "/keyprov/sip%3G", KMS_ERR_PARSE},
		{ROOT "/keyprov/sip%", KMS_ERR_PARSE},
		{ROOT "/keyprov/a b", KMS_ERR_PARSE},
		{ROOT "/keyprov/a\tb", KMS_ERR_PARSE},
		{ROOT "/keyprov/sip%00x", KMS_ERR_ENCODING},
		{ROOT "/keyprov/sip%0Ax", KMS_ERR_ENCODING},
		{ROOT "/keyprov/sip%7Fx", KMS_ERR_ENCODING},
		{ROOT "/keyprov/sip%C2%85x", KMS_ERR_ENCODING}, /* C1 control (NEL) */
		{ROOT "/keyprov/sip%C2%9Fx", KMS_ERR_ENCODING},
		{ROOT "/keyprov/%C3", KMS_ERR_ENCODING},       /* cut UTF-8 */
		{ROOT "/keyprov/%C0%AF", KMS_ERR_ENCODING},    /* overlong */
		{ROOT "/keyprov/%ED%A0%80", KMS_ERR_ENCODING}, /* surrogate */
		{ROOT "/certcache/", KMS_OK},
		{ROOT "/certcache/01", KMS_ERR_PARSE},
		{ROOT "/certcache/-1", KMS_ERR_PARSE},
		{ROOT "/certcache/18446744073709551616", KMS_ERR_PARSE},
		{ROOT "/certcache/1x", KMS_ERR_PARSE},
		{ROOT "/certcache/1/2", KMS_ERR_PARSE},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got;

		memset(&r, 0x5a, sizeof(r));
		got = parse(&r, cases[i].path);
		if (got != cases[i].want) {
			fprintf(stderr, "case %zu (%s): got %d, want %d\n", i, cases[i].path, got,
				cases[i].want);
		}
		CU_ASSERT_EQUAL(got, cases[i].want);
		if (got != KMS_OK) {
			/* untouched on failure */
			CU_ASSERT_EQUAL(((const uint8_t *)&r)[0], 0x5a);
			CU_ASSERT_EQUAL(r.uri[0], 0x5a);
		}
	}
}

static void
test_limits(void)
{
	static char path[KMS_RESOURCE_MAX_PATH + 64];
	struct kms_resource r;
	size_t base = strlen(ROOT "/keyprov/");

	/* a URI of exactly KMS_RESOURCE_MAX_URI bytes, then one more */
	memcpy(path, ROOT "/keyprov/", base);
	memset(path + base, 'a', KMS_RESOURCE_MAX_URI);
	CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, base + KMS_RESOURCE_MAX_URI), KMS_OK);
	CU_ASSERT_EQUAL(r.uri_len, KMS_RESOURCE_MAX_URI);
	path[base + KMS_RESOURCE_MAX_URI] = 'a';
	CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, base + KMS_RESOURCE_MAX_URI + 1),
			KMS_ERR_TOO_LARGE);
	/* encoded, the same URI is three times longer but decodes to the limit */
	CU_ASSERT(base + 3 * 700 < sizeof(path));
	{
		size_t i, n = base;
		for (i = 0; i < 700; i++) {
			memcpy(path + n, "%61", 3);
			n += 3;
		}
		CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, n), KMS_OK);
		CU_ASSERT_EQUAL(r.uri_len, 700);
	}
	/* a path over KMS_RESOURCE_MAX_PATH */
	memset(path + base, 'a', sizeof(path) - base);
	CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, KMS_RESOURCE_MAX_PATH + 1),
			KMS_ERR_TOO_LARGE);
	/* the length is what counts, not a NUL: bytes after path_len are never read */
	memcpy(path, ROOT "/init", strlen(ROOT "/init"));
	CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, strlen(ROOT "/init")), KMS_OK);
	CU_ASSERT_EQUAL(kms_resource_parse(&r, ROOT, path, strlen(ROOT "/ini")),
			KMS_ERR_UNSUPPORTED);
}

/* Every prefix of a valid path either parses or fails cleanly; none crashes. */
static void
test_truncation(void)
{
	static const char full[] = ROOT "/keyprov/sip%3Aalice%40example.org/D6B4323200000000";
	struct kms_resource r;
	size_t i;
	int ok = 0;

	for (i = 0; i <= sizeof(full) - 1; i++) {
		int got = kms_resource_parse(&r, ROOT, full, i);
		ok += got == KMS_OK;
		CU_ASSERT(got == KMS_OK || got == KMS_ERR_PARSE || got == KMS_ERR_UNSUPPORTED ||
			  got == KMS_ERR_ENCODING);
	}
	/* "keyprov", "keyprov/", every whole-URI prefix up to the "%", and the full path */
	CU_ASSERT(ok > 10);
}

static CU_TestInfo resource_tests[] = {
	{"golden paths", test_golden},
	{"malformed paths", test_errors},
	{"length limits", test_limits},
	{"truncation at every offset", test_truncation},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"resource", NULL, NULL, NULL, NULL, resource_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

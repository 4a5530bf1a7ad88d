/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The certificate cache of external KMSs end to end (label integration): a development domain
 * made by kms-devsetup in a temporary directory; two external KMS certificates (the domain's
 * own public keys under other KmsUris, so that the points are real) imported with kms-admin
 * before kmsd starts; then certcache and certcache/<n> over mutual TLS (schema-valid, signed),
 * a withdrawal with kms-admin while kmsd runs, kms-client certcache, and kms-admin certcache
 * list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "common/hex.h"
#include "proto/store.h"
#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define NS   "urn:3gpp:ns:mcsecKMSInterface:1.0"
#define EXT1 "kms1.other.example"
#define EXT2 "kms2.other.example"

static char store_path[400];
static char resp[RESP_CAP];

/* A KmsCertificate of the domain's public keys under kms_uri, written to path: 0 or -1. */
static int
write_cert(const char *path, const char *kms_uri, const struct kms_store_cert *own)
{
	char z[2 * sizeof(own->z_t) + 1], k[2 * sizeof(own->kpak) + 1];
	FILE *f;

	if (kms_hex_encode(z, sizeof(z), own->z_t, sizeof(own->z_t)) != KMS_OK ||
	    kms_hex_encode(k, sizeof(k), own->kpak, sizeof(own->kpak)) != KMS_OK ||
	    (f = fopen(path, "w")) == NULL) {
		return -1;
	}
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<KmsCertificate xmlns=\"" NS "\" Version=\"1.1.0\" Role=\"Root\">"
		"<CertUri>cert.%s</CertUri><KmsUri>%s</KmsUri><Issuer>test</Issuer>"
		"<ValidFrom>2024-01-01T00:00:00Z</ValidFrom><ValidTo>2099-01-01T00:00:00Z</ValidTo>"
		"<UserIdFormat>2</UserIdFormat><UserKeyPeriod>%llu</UserKeyPeriod>"
		"<UserKeyOffset>%llu</UserKeyOffset><PubEncKey>%s</PubEncKey>"
		"<PubAuthKey>%s</PubAuthKey><ParameterSet>1</ParameterSet>"
		"<KmsDomainList><KmsDomain>%s</KmsDomain><KmsDomain>b.%s</KmsDomain>"
		"</KmsDomainList></KmsCertificate>\n",
		kms_uri, kms_uri, (unsigned long long)own->user_key_period,
		(unsigned long long)own->user_key_offset, z, k, kms_uri, kms_uri);
	return fclose(f) == 0 ? 0 : -1;
}

static int
admin(char *out, size_t cap, const char *a1, const char *a2, const char *a3)
{
	const char *argv[] = {KMS_ADMIN_BIN, "--store", store_path, "certcache", a1, a2, a3, NULL};

	return it_run(argv, out, cap);
}

static int
suite_init(void)
{
	struct kms_store_cert own;
	struct kms_store *st = NULL;
	char out[8192];
	char f1[400], f2[400], bad[400];
	int r;

	if (it_make_domain("certcache-it", NULL) != 0) {
		return 1;
	}
	snprintf(store_path, sizeof(store_path), "%s/kms.db", it_dev);
	/* The domain's own public keys: real points of both curves. */
	if (kms_store_open(&st, store_path, KMS_STORE_RO) != KMS_OK) {
		return 1;
	}
	r = kms_store_get_cert(st, &own);
	kms_store_close(st);
	if (r != KMS_OK) {
		return 1;
	}
	snprintf(f1, sizeof(f1), "%s/ext1.xml", it_tmp);
	snprintf(f2, sizeof(f2), "%s/ext2.xml", it_tmp);
	snprintf(bad, sizeof(bad), "%s/bad.xml", it_tmp);
	if (write_cert(f1, EXT1, &own) != 0 || write_cert(f2, EXT2, &own) != 0) {
		return 1;
	}
	/* A certificate whose PubAuthKey is not on P-256 (its last byte changed): refused. */
	own.kpak[64] ^= 1;
	if (write_cert(bad, "kms3.other.example", &own) != 0) {
		return 1;
	}
	if ((r = admin(out, sizeof(out), "import", f1, NULL)) != 0 ||
	    strstr(out, "imported " EXT1 ": change 1") == NULL ||
	    (r = admin(out, sizeof(out), "import", f2, NULL)) != 0 ||
	    strstr(out, "imported " EXT2 ": change 2") == NULL) {
		fprintf(stderr, "kms-admin certcache import: %d\n%s\n", r, out);
		return 1;
	}
	if ((r = admin(out, sizeof(out), "import", bad, NULL)) != 1 ||
	    strstr(out, "PubAuthKey is not a point of P-256") == NULL) {
		fprintf(stderr, "kms-admin certcache import (a bad point): %d\n%s\n", r, out);
		return 1;
	}
	return it_start_domain_kmsd(NULL) == 0 ? 0 : 1;
}

/* How many times needle occurs in hay. */
static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* GET path as alice: the body (in resp), checked to be a schema-valid signed KmsCertCache. */
static char *
certcache(const char *path)
{
	char *body = NULL;
	size_t blen = 0;

	CU_ASSERT_EQUAL(
		it_request("alice", "GET", path, NULL, NULL, 0, resp, sizeof(resp), &body, &blen),
		200);
	if (body == NULL) {
		return NULL;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsCertCache"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<ds:SignatureValue>"));
	CU_ASSERT_TRUE(it_schema_valid(body, blen));
	return body;
}

static void
test_full_cache(void)
{
	char *body = certcache(ROOT "/certcache");

	if (body == NULL) {
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "CacheNum=\"2\""));
	CU_ASSERT_EQUAL(count(body, "<KmsCertificate "), 2);
	CU_ASSERT_EQUAL(count(body, "Role=\"External\""), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsUri>" EXT1 "</KmsUri>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsUri>" EXT2 "</KmsUri>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsDomain>b." EXT2 "</KmsDomain>"));
	CU_ASSERT_EQUAL(count(body, "<Revoked>false</Revoked>"), 2);
	/* Nothing changed after cache number 2. */
	body = certcache(ROOT "/certcache/2");
	if (body != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "CacheNum=\"2\""));
		CU_ASSERT_EQUAL(count(body, "<KmsCertificate "), 0);
	}
	/* After 1: the second only. */
	body = certcache(ROOT "/certcache/1");
	if (body != NULL) {
		CU_ASSERT_EQUAL(count(body, "<KmsCertificate "), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsUri>" EXT2 "</KmsUri>"));
	}
}

/* A withdrawal while kmsd runs: certcache/2 shows it Revoked; certcache leaves it out. */
static void
test_withdraw(void)
{
	char out[8192];
	char *body;

	CU_ASSERT_EQUAL(admin(out, sizeof(out), "withdraw", EXT1, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "withdrew " EXT1 ": change 3"));
	/* twice, or an unknown KMS: nothing to withdraw (exit 1) */
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "withdraw", EXT1, NULL), 1);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "withdraw", "kms9.other.example", NULL), 1);
	body = certcache(ROOT "/certcache/2");
	if (body != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "CacheNum=\"3\""));
		CU_ASSERT_EQUAL(count(body, "<KmsCertificate "), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsUri>" EXT1 "</KmsUri>"));
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<Revoked>true</Revoked>"));
	}
	body = certcache(ROOT "/certcache");
	if (body != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "CacheNum=\"3\""));
		CU_ASSERT_EQUAL(count(body, "<KmsCertificate "), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsUri>" EXT2 "</KmsUri>"));
		CU_ASSERT_PTR_NULL(strstr(body, EXT1));
	}
	/* The list shows both, with their states. */
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "list", NULL, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cache number 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "withdrawn"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "active"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, EXT2));
}

/* kms-client, the independent client, checks the signed certcache. */
static void
test_kms_client(void)
{
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "certcache"), 0);
}

/* Usage errors of kms-admin certcache (exit 2), and --help (exit 0). */
static void
test_admin_usage(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(admin(out, sizeof(out), "import", NULL, NULL), 2);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "list", "extra", NULL), 2);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "withdraw", EXT1, "extra"), 2);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "--help", NULL, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "certcache import FILE"));
	CU_ASSERT_EQUAL(admin(out, sizeof(out), "import", "/nonexistent/x.xml", NULL), 1);
}

static CU_TestInfo certcache_tests[] = {
	{"certcache and certcache/<n> after two imports", test_full_cache},
	{"a withdrawal while kmsd runs", test_withdraw},
	{"kms-client certcache", test_kms_client},
	{"kms-admin certcache usage", test_admin_usage},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"certcache", suite_init, it_suite_cleanup, NULL, NULL, certcache_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}

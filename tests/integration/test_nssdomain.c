/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole KMS on a second PKCS#11 token (label integration): kms-devsetup --token nss makes
 * the development domain in an NSS softoken database, whose RFC 5649 wrap is exact, so kms-hsmd
 * runs without the host-ECB fallback and the token itself wraps every PVT and RSK
 * (docs/tokens.md). kmsd serves the three clients, kms-client's checks (OpenSSL unwrap, RFC 6507,
 * RFC 6508, the response MAC) pass, a TrK/InK rotation is made in NSS and delivered, and kms-bench
 * load runs on the domain without an error. Skipped (77) where NSS's softoken is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static char resp[RESP_CAP];
static char out[65536];

static int
suite_init(void)
{
	const char *extra[] = {"--token", "nss", "--module", getenv("KMS_TEST_NSS_MODULE"), NULL};

	if (it_make_domain("nssdomain", extra) != 0) {
		return 1;
	}
	return it_start_domain_kmsd(NULL) == 0 ? 0 : 1;
}

/* The whole text of the file path into out (at most sizeof(out) - 1 octets). */
static void
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, sizeof(out) - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

/* kms-hsmd.conf names NSS, its database in DIR and its exact wrap; kms-hsmd wraps in the token. */
static void
test_config(void)
{
	char path[400], want[420];

	snprintf(path, sizeof(path), "%s/kms-hsmd.conf", it_dev);
	read_text(path);
	snprintf(want, sizeof(want), "\nmodule_params = configdir='sql:%s/token/nssdb' ", it_dev);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nwrap_mechanism = 0x210b\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libsoftokn3"));
	CU_ASSERT_PTR_NULL(strstr(out, "allow_host_ecb_wrap"));
	CU_ASSERT_PTR_NULL(strstr(out, "SOFTHSM2_CONF"));
	read_text(it_log);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "wrap by the token"));
	CU_ASSERT_PTR_NULL(strstr(out, "host ECB"));
}

/* Every client is served, and its checks pass. */
static void
test_served(void)
{
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("bob", "keyprov"), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("mcptt-server", "keyprov"), 0);
}

/*
 * A rotation made in NSS: kms-admin's own kms-hsmd generates bob's new TrK and InK as token
 * objects there (without CKA_ALLOWED_MECHANISMS, which NSS does not enforce) and wraps them
 * under his TrK; his next init carries them and kms-client unwraps both to 32 octets.
 */
static void
test_rotation(void)
{
	char store[400], hsmd_conf[400];
	const char *argv[] = {KMS_ADMIN_BIN, "--store", store,        "roster",
			      "client",      "rotate",  BOB_URI,      "--hsmd-conf",
			      hsmd_conf,     "--hsmd",  KMS_HSMD_BIN, NULL};
	const char *init[] = {"init", NULL};
	char *body = NULL;
	size_t blen = 0;

	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	snprintf(hsmd_conf, sizeof(hsmd_conf), "%s/kms-hsmd.conf", it_dev);
	CU_ASSERT_EQUAL_FATAL(it_run(argv, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pending: new TrK "));
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "NewTransportKey"));
	CU_ASSERT(it_schema_valid(body, blen));
	CU_ASSERT_EQUAL(it_kms_client("bob", init, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "key rotation"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ": received"));
}

/* kms-devsetup refuses a pre-minted domain in NSS (it cannot unwrap a 257-octet RSK). */
static void
test_no_preminted(void)
{
	char dir[400];
	const char *argv[] = {KMS_DEVSETUP_BIN, "--dir", dir, "--token", "nss",
			      "--preminted",    NULL};

	snprintf(dir, sizeof(dir), "%s/pre", it_tmp);
	CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--preminted needs SoftHSM"));
}

/* kms-bench load on the domain (its own kmsd): every phase without an error. */
static void
test_bench(void)
{
#ifdef KMS_BENCH_BIN
	const char *argv[] = {KMS_BENCH_BIN,   "load", "--dir",  it_dev,   "--seconds", "0.5",
			      "--connections", "2",    "--kmsd", KMSD_BIN, NULL};

	CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nissuer online\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nerrors 0\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "\nkeyprov_per_s 0\n"));
#else
	printf("(kms-bench is not built)");
#endif
}

static CU_TestInfo nss_tests[] = {
	{"kms-devsetup --token nss: the configuration, the token wraps", test_config},
	{"every client is served, its checks pass", test_served},
	{"a rotation made in NSS is delivered and unwraps", test_rotation},
	{"no pre-minted domain in NSS", test_no_preminted},
	{"kms-bench load on the NSS domain", test_bench},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"nssdomain", suite_init, it_suite_cleanup, NULL, NULL, nss_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	if (getenv("KMS_TEST_NSS_MODULE") == NULL) {
		fprintf(stderr, "test_nssdomain: NSS's softoken (libsoftokn3) is not installed: "
				"skipped\n");
		return 77;
	}
	return it_main(suites);
}

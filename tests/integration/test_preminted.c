/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd on a pre-minted development domain (label integration): kms-devsetup --preminted makes
 * the clients' key sets of three key periods with the ceremony's master secrets and stores them
 * wrapped under the KEK; kms-hsmd (issuer = pre-minted) re-wraps them under each client's TrK and
 * never computes one. kms-client validates what it gets; a key period that was not pre-minted is
 * refused, never issued online.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define PERIOD          ((uint64_t)2592000) /* the development domain's key period, seconds */
#define NTP_UNIX_OFFSET ((uint64_t)2208988800)

static char resp[RESP_CAP];

static int
suite_init(void)
{
	const char *extra[] = {"--preminted", NULL};
	char conf[400];

	if (it_make_domain("preminted-it", extra) != 0) {
		return 1;
	}
	/* the period before the current one is served, but was not pre-minted */
	snprintf(conf, sizeof(conf), "%s/kms-hsmd.conf", it_dev);
	if (it_conf_variant(conf, conf, "past_periods = 1\n") != 0) {
		return 1;
	}
	return it_start_domain_kmsd(NULL) == 0 ? 0 : 1;
}

static void
test_config(void)
{
	char path[400], out[65536];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/kms-hsmd.conf", it_dev);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	fclose(f);
	out[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nissuer = pre-minted\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "\nissuer = online\n"));
	/* and kmsd's /healthz says what its kms-hsmd processes reported */
	{
		char url[64];
		const char *argv[] = {"/usr/bin/curl", "-sS", url, NULL};

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", it_mport);
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, " up, issuer pre-minted\n"));
	}
}

/* Every client gets its pre-minted set, and kms-client's checks (ECCSI, SAKKE) pass. */
static void
test_served(void)
{
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("bob", "keyprov"), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("mcptt-server", "keyprov"), 0);
}

/* alice's keyprov for the key period after the current one (next), or before it: the status. */
static int
keyprov_at(bool next, char **body, size_t *blen)
{
	char path[300];
	uint64_t ntp = (uint64_t)time(NULL) + NTP_UNIX_OFFSET;

	ntp = next ? ntp + PERIOD : ntp - PERIOD;
	snprintf(path, sizeof(path), ROOT "/keyprov/%s/%016llX", ALICE_URI,
		 (unsigned long long)(ntp << 32));
	return it_request("alice", "POST", path, NULL, "", 0, resp, sizeof(resp), body, blen);
}

/*
 * The next key period was pre-minted: served. The one before the current one is served
 * (past_periods = 1) but was not pre-minted: refused (404), never issued online.
 */
static void
test_not_preminted(void)
{
	char *body = NULL;
	size_t blen = 0;

	CU_ASSERT_EQUAL(keyprov_at(true, &body, &blen), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "EncryptedKey"));
	CU_ASSERT_EQUAL(keyprov_at(false, &body, &blen), 404);
	CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	CU_ASSERT(it_schema_valid(body, blen));
}

/* kms-bench load on the domain (its own kmsd): every phase without an error, on pre-minted keys. */
static void
test_bench(void)
{
#ifdef KMS_BENCH_BIN
	static char out[65536];
	const char *argv[] = {KMS_BENCH_BIN,   "load", "--dir",  it_dev,   "--seconds", "0.5",
			      "--connections", "2",    "--kmsd", KMSD_BIN, NULL};

	CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nissuer pre-minted\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nkeyprov_new_conn_per_s "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nkeyprov_new_conn_vs_handshakes "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nerrors 0\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "\nkeyprov_per_s 0\n"));
#else
	printf("(kms-bench is not built)");
#endif
}

static CU_TestInfo preminted_tests[] = {
	{"kms-devsetup --preminted: issuer = pre-minted", test_config},
	{"every client is served its pre-minted key set", test_served},
	{"a key period that was not pre-minted is refused", test_not_preminted},
	{"kms-bench load on the pre-minted domain", test_bench},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"preminted", suite_init, it_suite_cleanup, NULL, NULL, preminted_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}

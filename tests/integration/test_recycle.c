/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two kms-hsmd processes on one SoftHSM token while each restarts its module again and again
 * (label integration). kms-hsmd recycles the PKCS#11 module after recycle_after session objects
 * (SoftHSM frees destroyed session objects only at C_Finalize); the restart logs in again, and
 * SoftHSM then rewrites the token's file, during which the other process's C_GetTokenInfo fails
 * with CKR_GENERAL_ERROR for a moment. That must not look like a lost token (a 250 ms outage
 * with 503s, which a 2-minute soak at the default recycle_after showed). Here recycle_after is
 * 20, so both processes recycle every few requests, under kms-bench load --soak: no good request
 * may fail and no token may be declared lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static char out[512 * 1024];

static int
suite_init(void)
{
	char conf[400];

	if (it_make_domain("recycle", NULL) != 0) {
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/kms-hsmd.conf", it_dev);
	if (it_conf_variant(conf, conf, "recycle_after = 20\n") != 0) {
		return 1;
	}
	/* two kms-hsmd processes, whatever the machine's cores */
	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	return it_conf_variant(conf, conf, "threads = 2\n") == 0 ? 0 : 1;
}

static void
test_recycling_neighbour(void)
{
	const char *const argv[] = {KMS_BENCH_BIN, "load",          "--dir", it_dev,   "--soak",
				    "0.25",        "--connections", "4",     "--kmsd", KMSD_BIN,
				    "--rss-bound", "1048576",       NULL};
	int st;

	st = it_run(argv, out, sizeof(out));
	if (st != 0) {
		fprintf(stderr, "kms-bench exit status %d:\n%.4000s\n", st, out);
	}
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ngood_errors 0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nhsmd_processes 2 2\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "token lost"));
	CU_ASSERT_PTR_NULL(strstr(out, "treating it as removed"));
}

static CU_TestInfo tests[] = {
	{"a neighbour's module restarts are not a lost token", test_recycling_neighbour},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	/* kms-bench starts and stops its own kmsd: the cleanup only removes the directory */
	{"kms-hsmd module recycling", suite_init, it_suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

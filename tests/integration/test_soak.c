/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The soak mode of kms-bench load end to end (label integration): a development domain made by
 * kms-devsetup in a temporary directory; kms-bench load --soak starts its own kmsd (and so real
 * kms-hsmd processes) on it and loads it for half a minute over four mutual-TLS connections
 * with good requests and bad ones that must be refused. Its exit status and its report: no
 * error, no wrong refusal, the RSS of kmsd and kms-hsmd at the start and at the end within the
 * bound. Also its refusals of bad arguments and of a kmsd that does not start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#ifdef KMS_TEST_SANITIZED
/* ASan's quarantine and shadow grow with the allocations made, not with what is live */
#define RSS_BOUND_KB 1048576
#else
#define RSS_BOUND_KB 20480
#endif
#define STR_(x)   #x
#define STR(x)    STR_(x)
#define RSS_BOUND STR(RSS_BOUND_KB)

static char out[512 * 1024];

static int
suite_init(void)
{
	return it_make_domain("soak-it", NULL) == 0 ? 0 : 1;
}

/* The whole number of the report's line "<name> <number>": 0, or -1 when there is none. */
static int
report_value(const char *name, long *v)
{
	double d;

	if (it_report_value(out, name, &d) != 0 || d > 9e18 || d < -9e18 || d != (double)(long)d) {
		return -1;
	}
	*v = (long)d;
	return 0;
}

static void
test_soak(void)
{
	const char *const argv[] = {KMS_BENCH_BIN, "load",          "--dir", it_dev,   "--soak",
				    "0.5",         "--connections", "4",     "--kmsd", KMSD_BIN,
				    "--rss-bound", RSS_BOUND,       NULL};
	long requests = 0, v = 0, ks = 0, ke = 0, hs = 0, he = 0, growth = 0;
	const char *p;
	int st, lines = 0;

	st = it_run(argv, out, sizeof(out));
	if (st != 0) {
		fprintf(stderr, "kms-bench exit status %d:\n%s\n", st, out);
	}
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nsoak ok\n"));
	/* a line every tenth of the run: 3 s */
	for (p = out; (p = strstr(p, "\nt_s ")) != NULL; p++) {
		lines++;
	}
	CU_ASSERT_TRUE(lines >= 9 && lines <= 11);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " req_per_s "));
	CU_ASSERT_EQUAL(report_value("connections", &v), 0);
	CU_ASSERT_EQUAL(v, 4);
	CU_ASSERT_EQUAL(report_value("requests", &requests), 0);
	CU_ASSERT_TRUE(requests >= 8); /* every connection went round its mix at least once */
	CU_ASSERT_EQUAL(report_value("good_errors", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(report_value("bad_mismatches", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(report_value("rss_kmsd_start_kb", &ks), 0);
	CU_ASSERT_EQUAL(report_value("rss_kmsd_end_kb", &ke), 0);
	CU_ASSERT_EQUAL(report_value("rss_hsmd_start_kb", &hs), 0);
	CU_ASSERT_EQUAL(report_value("rss_hsmd_end_kb", &he), 0);
	CU_ASSERT_EQUAL(report_value("rss_growth_kb", &growth), 0);
	CU_ASSERT_TRUE(ks > 0 && ke > 0 && hs > 0 && he > 0);
	CU_ASSERT_EQUAL(growth, (ke - ks) + (he - hs));
	CU_ASSERT_EQUAL(report_value("rss_bound_kb", &v), 0);
	CU_ASSERT_EQUAL(v, RSS_BOUND_KB);
	/* kms-hsmd logged at warn: its refusals at info would bury the report */
	CU_ASSERT_PTR_NULL(strstr(out, "not entitled"));
}

static void
test_soak_refusals(void)
{
	const char *const zero[] = {KMS_BENCH_BIN, "load", "--dir", it_dev, "--soak", "0", NULL};
	const char *const junk[] = {KMS_BENCH_BIN, "load", "--dir", it_dev, "--soak", "1x", NULL};
	const char *const bound[] = {KMS_BENCH_BIN, "load",        "--dir", it_dev, "--soak",
				     "0.5",         "--rss-bound", "-1",    NULL};
	const char *const nokmsd[] = {KMS_BENCH_BIN, "load",   "--dir",      it_dev, "--soak",
				      "0.5",         "--kmsd", "/bin/false", NULL};

	CU_ASSERT_EQUAL(it_run(zero, out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(it_run(junk, out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(it_run(bound, out, sizeof(out)), 2);
	/* a kmsd that exits at once: a failed soak, said, without a report */
	CU_ASSERT_EQUAL(it_run(nokmsd, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "kmsd exited at start"));
	CU_ASSERT_PTR_NULL(strstr(out, "soak ok"));
}

static CU_TestInfo soak_tests[] = {
	{"kms-bench load --soak: no errors, RSS within the bound", test_soak},
	{"kms-bench load --soak refuses bad arguments and a dead kmsd", test_soak_refusals},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	/* kms-bench starts and stops its own kmsd: the cleanup only removes the directory */
	{"kms-bench soak", suite_init, it_suite_cleanup, NULL, NULL, soak_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-admin roster against a running kmsd (label integration): entitlements, client and
 * identity revocation and a CSV import take effect on the next request, while kmsd runs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static char store_path[400];
static char resp[RESP_CAP];

static int
suite_init(void)
{
	if (it_make_domain("roster-it", NULL) != 0) {
		return 1;
	}
	snprintf(store_path, sizeof(store_path), "%s/kms.db", it_dev);
	return it_start_domain_kmsd(NULL) == 0 ? 0 : 1;
}

/* kms-admin --store <the domain's store> roster args...; its exit status, output in out. */
static int
roster(char *out, size_t cap, const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *argv[] = {KMS_ADMIN_BIN, "--store", store_path, "roster", a1, a2, a3, a4, NULL};

	return it_run(argv, out, cap);
}

static int
keyprov(const char *client, const char *uri)
{
	char path[300];
	char *body = NULL;
	size_t blen = 0;

	snprintf(path, sizeof(path), ROOT "/keyprov/%s", uri);
	return it_request(client, "POST", path, NULL, NULL, 0, resp, sizeof(resp), &body, &blen);
}

/* An MC server gets an identity once it is entitled to it, and not after withdrawal. */
static void
test_entitle_withdraw(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(keyprov("mcptt-server", ALICE_URI), 403);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "entitle", MCS_URI, ALICE_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("mcptt-server", ALICE_URI), 200);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "entitlements", "--client", MCS_URI, NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ALICE_URI));
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "withdraw", MCS_URI, ALICE_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("mcptt-server", ALICE_URI), 403);
	/* withdrawing what is not there is refused, and says so */
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "withdraw", MCS_URI, ALICE_URI, NULL), 1);
}

/* A revoked client is refused on its next request; restored, it is served again. */
static void
test_client_revoke(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(keyprov("bob", BOB_URI), 200);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "client", "revoke", BOB_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("bob", BOB_URI), 403);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "client", "list", "--json", NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, BOB_URI));
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "client", "restore", BOB_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("bob", BOB_URI), 200);
}

/* A revoked identity is refused to the client entitled to it. */
static void
test_identity_revoke(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(roster(out, sizeof(out), "identity", "revoke", ALICE_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("alice", ALICE_URI), 403);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "identity", "restore", ALICE_URI, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("alice", ALICE_URI), 200);
}

/* A CSV import: a bad line changes nothing; a good file takes effect as a whole. */
static void
test_import(void)
{
	static const char bad[] = "# roster\n"
				  "identity,sip:dispatch@example.org\n"
				  "entitle,sip:mcptt-server@example.org,sip:dispatch@example.org\n"
				  "entitle,sip:mcptt-server@example.org\n";
	static const char good[] =
		"op,a,b\n"
		"identity,sip:dispatch@example.org\n"
		"entitle,sip:mcptt-server@example.org,sip:dispatch@example.org\n";
	char out[8192], path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/bad.csv", it_tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
	(void)close(fd);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "import", path, NULL, NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad.csv:4"));
	CU_ASSERT_EQUAL(keyprov("mcptt-server", "sip:dispatch@example.org"), 403);
	snprintf(path, sizeof(path), "%s/good.csv", it_tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, good, sizeof(good) - 1), (ssize_t)(sizeof(good) - 1));
	(void)close(fd);
	/* a dry run writes nothing */
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "import", path, "--dry-run", NULL), 0);
	CU_ASSERT_EQUAL(keyprov("mcptt-server", "sip:dispatch@example.org"), 403);
	CU_ASSERT_EQUAL(roster(out, sizeof(out), "import", path, NULL, NULL), 0);
	CU_ASSERT_EQUAL(keyprov("mcptt-server", "sip:dispatch@example.org"), 200);
}

static CU_TestInfo roster_tests[] = {
	{"entitle and withdraw while kmsd runs", test_entitle_withdraw},
	{"client revoke and restore", test_client_revoke},
	{"identity revoke and restore", test_identity_revoke},
	{"CSV import: all or nothing", test_import},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"roster", suite_init, it_suite_cleanup, NULL, NULL, roster_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}

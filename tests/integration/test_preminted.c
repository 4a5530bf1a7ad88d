/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd on a pre-minted development domain (label integration): kms-devsetup --preminted makes
 * the clients' key sets of three key periods with the ceremony's master secrets and stores them
 * wrapped under the KEK; kms-hsmd (issuer = pre-minted) re-wraps them under each client's TrK and
 * never computes one. kms-client validates what it gets; a key period that was not pre-minted is
 * refused, never issued online.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/*
 * After kmsd has sent bob's keys in plain (dir: what kms-client wrote), neither his SSK nor his
 * RSK is left in kmsd's memory, in binary or as the upper-case hex of the XML: every copy kmsd
 * made was wiped (SECURITY.md, "Plaintext clients"). A request header's text is (the control).
 */
static void
plain_memory_scan(const char *dir)
{
	struct it_needle n[5];
	char p[500];
	size_t i, k, total;

	snprintf(p, sizeof(p), "%s/1-ssk.hex", dir);
	CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[0], "SSK", p, 0), 0);
	snprintf(p, sizeof(p), "%s/1-rsk.hex", dir);
	CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[1], "RSK", p, 1), 0);
	/* the hex kmsd rendered: 32 octets of each, as 64 upper-case digits */
	for (i = 0; i < 2; i++) {
		memset(&n[2 + i], 0, sizeof(n[2 + i]));
		n[2 + i].what = i == 0 ? "SSK in hex" : "RSK in hex";
		for (k = 0; k < 32; k++) {
			char two[3];

			snprintf(two, sizeof(two), "%02X", n[i].bytes[k]);
			memcpy(n[2 + i].bytes + 2 * k, two, 2);
		}
		n[2 + i].len = 64;
	}
	CU_ASSERT_EQUAL_FATAL(it_scan_control(&n[4], "bob"), 0);
#ifdef KMS_TEST_SANITIZED
	fprintf(stderr, "(memory scan not run: kmsd is a sanitizer build)\n");
	return;
#endif
	total = it_scan_memory(it_kmsd_pid, n, 5);
	CU_ASSERT(total > 1000000);
	CU_ASSERT_EQUAL(n[4].found, 1);
	for (i = 0; i < 4; i++) {
		if (n[i].found) {
			fprintf(stderr, "bob's %s found in kmsd's memory\n", n[i].what);
			CU_FAIL("a plaintext client's key is left in kmsd's memory");
		}
	}
}

/*
 * A plaintext client (kms-hsmd.conf: plaintext_client = bob's id): kmsd restarted on a kms-hsmd
 * that names bob. bob's keyprov over HTTP/1.1 holds KeyContentType keys (schema-valid, no
 * EncryptedKey), which kms-client validates without a TrK; over HTTP/2 (curl) it is refused
 * with 505 and no key; alice, not named, still gets EncryptedKey; the audit record says
 * plaintext. kms-hsmd's log warns about bob at its start.
 */
static void
test_plaintext_client(void)
{
	static char out[65536], log[1 << 20];
	char hconf[400], kconf[400], src[400], ov[600], path[300], store[400], outdir[400];
	char ca[400];
	char *body = NULL;
	size_t blen = 0;
	int fd;

	snprintf(src, sizeof(src), "%s/kms-hsmd.conf", it_dev);
	snprintf(hconf, sizeof(hconf), "%s/kms-hsmd-plain.conf", it_dev);
	CU_ASSERT_EQUAL_FATAL(it_conf_variant(src, hconf, "plaintext_client = " BOB_URI "\n"), 0);
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(kconf, sizeof(kconf), "%s/kmsd-plain.conf", it_dev);
	snprintf(ov, sizeof(ov), "hsmd_conf = %s\n", hconf);
	CU_ASSERT_EQUAL_FATAL(it_conf_variant(src, kconf, ov), 0);
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL_FATAL(it_start_domain_kmsd(kconf), 0);
	snprintf(outdir, sizeof(outdir), "%s/plain-bob", it_tmp);

	/* bob over HTTP/1.1: his keys themselves */
	snprintf(path, sizeof(path), ROOT "/keyprov");
	CU_ASSERT_EQUAL_FATAL(
		it_request("bob", "POST", path, NULL, "", 0, resp, sizeof(resp), &body, &blen),
		200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "xsi:type=\"KeyContentType\""));
	CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	CU_ASSERT(it_schema_valid(body, blen));
	{
		/* kms-client without --trk: it validates the plain keys itself */
		char ckey[400], ccert[400], curl_[96];
		const char *argv[] = {KMS_CLIENT_BIN, "--url",   curl_,   "--ca", ca,
				      "--cert",       ccert,     "--key", ckey,   "--out",
				      outdir,         "keyprov", NULL};

		snprintf(curl_, sizeof(curl_), "https://127.0.0.1:%u" ROOT, it_port);
		snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
		it_client_path(ccert, sizeof(ccert), "bob", "cert.pem");
		it_client_path(ckey, sizeof(ckey), "bob", "key.pem");
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "plain (KeyContentType, not encrypted)"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "ECCSI pair: valid"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "SAKKE RSK: valid"));
	}
	plain_memory_scan(outdir);
	/* bob over HTTP/2: refused, nothing of the keys */
	CU_ASSERT_EQUAL(it_curl_http2("bob", ROOT "/keyprov", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTPVERSION=2 STATUS=505"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "KmsError"));
	CU_ASSERT_PTR_NULL(strstr(out, "KeyContentType"));
	/* alice is not named: wrapped as ever */
	CU_ASSERT_EQUAL(
		it_request("alice", "POST", path, NULL, "", 0, resp, sizeof(resp), &body, &blen),
		200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "EncryptedKey"));
	CU_ASSERT_PTR_NULL(strstr(body, "\"KeyContentType\""));
	/* the audit log says so; kms-hsmd said so at its start */
	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store,    "audit", "show",
				      "--client",    BOB_URI,   "--json", NULL};

		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "plaintext (KeyContentType)"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "over HTTP/2"));
	}
	log[0] = '\0';
	if ((fd = open(it_log, O_RDONLY | O_CLOEXEC)) >= 0) {
		(void)kms_test_read_fd(fd, log, sizeof(log));
		close(fd);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "client " BOB_URI " gets its key material UNWRAPPED"));
	/* the HTTP/2 keyprov was refused by kms-hsmd before it made anything (no_plain) */
	{
		const char *l = strstr(log, "(client " BOB_URI " identity " BOB_URI " key period");
		const char *e = l != NULL ? strchr(l, '\n') : NULL;

		char line[600];

		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		snprintf(line, sizeof(line), "%.*s", (int)(e - l), l);
		CU_ASSERT_PTR_NOT_NULL(
			strstr(line, "): plaintext key material refused on this transport"));
	}
	/* back to the domain's own configuration for the tests after this one */
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL(it_start_domain_kmsd(NULL), 0);
}

#ifdef KMS_BENCH_BIN
/* The value of kms-bench's line 'name value' in out, or -1 when there is none. */
static double
bench_figure(const char *out, const char *name)
{
	double v;

	return it_report_value(out, name, &v) == 0 ? v : -1;
}
#endif

/*
 * kms-bench load on the domain (its own kmsd): every phase without an error, on pre-minted keys,
 * and the CPU each process spent per request (read from /proc): kms-hsmd works for a keyprov and
 * more than for an init (a signature only).
 */
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
	CU_ASSERT(bench_figure(out, "keyprov_cpu_ms_kmsd") > 0);
	CU_ASSERT(bench_figure(out, "keyprov_cpu_ms_hsmd") > 0);
	CU_ASSERT(bench_figure(out, "keyprov_cpu_ms_client") > 0);
	CU_ASSERT(bench_figure(out, "init_cpu_ms_kmsd") > 0);
	CU_ASSERT(bench_figure(out, "keyprov_cpu_ms_hsmd") > bench_figure(out, "init_cpu_ms_hsmd"));
	CU_ASSERT(bench_figure(out, "keyprov_vs_init_cpu") > 0);
	CU_ASSERT(bench_figure(out, "keyprov_vs_init_cpu") < 1);
#else
	printf("(kms-bench is not built)");
#endif
}

/*
 * kms-bench hsm on its own throw-away token: both issuers and their references, and, as SoftHSM
 * wraps from AES-ECB here, what that wrap costs: the step rate and the shares it takes.
 */
static void
test_bench_hsm(void)
{
#ifdef KMS_BENCH_BIN
	static char out[65536];
	const char *argv[] = {KMS_BENCH_BIN, "hsm", "--seconds", "0.5", NULL};
	double share;

	CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nwrap_mode host-ecb\n"));
	CU_ASSERT(bench_figure(out, "preminted_provision_per_s") > 0);
	CU_ASSERT(bench_figure(out, "online_provision_per_s") > 0);
	CU_ASSERT(bench_figure(out, "ecb_step_per_s") > 0);
	/* the RSK's 33 blocks, 6 steps each */
	CU_ASSERT(bench_figure(out, "host_ecb_steps_per_set") > 197.5 &&
		  bench_figure(out, "host_ecb_steps_per_set") < 198.5);
	share = bench_figure(out, "host_ecb_share_preminted");
	CU_ASSERT(share > 0 && share < 1);
	share = bench_figure(out, "host_ecb_share_online");
	CU_ASSERT(share > 0 && share < 1);
#else
	printf("(kms-bench is not built)");
#endif
}

static CU_TestInfo preminted_tests[] = {
	{"kms-devsetup --preminted: issuer = pre-minted", test_config},
	{"every client is served its pre-minted key set", test_served},
	{"a key period that was not pre-minted is refused", test_not_preminted},
	{"a plaintext client: KeyContentType over HTTP/1.1 only", test_plaintext_client},
	{"kms-bench load on the pre-minted domain", test_bench},
	{"kms-bench hsm: both issuers, and the host-ECB wrap's cost", test_bench_hsm},
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

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd end to end (label integration): a development domain made by kms-devsetup in a
 * temporary directory (a real SoftHSM token), a real kmsd that starts real kms-hsmd processes,
 * and real TLS clients on loopback: this file's own OpenSSL client (status codes, headers,
 * several requests on one connection), kms-client (the independent client: it validates the
 * key material and the signature), curl (HTTP/2) and kms-admin (the audit chain).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/xmlschemas.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* ------------------------------------------------------------------------------------------ */
/* Set-up */

static int
suite_init(void)
{
	char conf[400];

	if (it_make_domain("kmsd-it", NULL) != 0) {
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	/* a rate limit the tests' bursts fit in; test_rate_limit goes past it */
	if (it_conf_variant(conf, conf, "rate_limit = 40\nrate_burst = 60\n") != 0) {
		return 1;
	}
	return it_start_domain_kmsd(conf) == 0 ? 0 : 1;
}

/*
 * The second kmsd: the same domain, with UEs allowed to authenticate with a bearer token alone
 * (auth_ue = either, client certificates optional); MC servers still need mutual TLS.
 */
static int
token_suite_init(void)
{
	char src[400], dst[400], over[512];

	if (it_kmsd_pid > 0 || it_dev[0] == '\0') {
		return 1;
	}
	it_port = it_free_port();
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(dst, sizeof(dst), "%s/kmsd-token.conf", it_tmp);
	/* no metrics listener and the default rate_burst (both lines left out) */
	snprintf(over, sizeof(over),
		 "listen = 127.0.0.1:%u\npublic_url = https://127.0.0.1:%u\nmetrics_listen\n"
		 "auth_ue = either\nauth_server = mtls\nclient_cert = optional\nrate_limit = 0\n"
		 "rate_burst\nnext_period_lead = 31536000\n",
		 it_port, it_port);
	if (it_conf_variant(src, dst, over) != 0) {
		return 1;
	}
	return it_start_domain_kmsd(dst) == 0 ? 0 : 1;
}

/* The first suite's cleanup: kmsd stopped, the domain kept for the bearer-token suite. */
static int
kmsd_suite_cleanup(void)
{
	int st = it_stop_kmsd();

	if (st != 0) {
		fprintf(stderr, "kmsd exit status %d; log %s\n", st, it_log);
	}
	return st == 0 ? 0 : 1;
}

static int
token_suite_cleanup(void)
{
	int st = it_stop_kmsd();

	if (getenv("KMS_TEST_KEEP") == NULL) {
		kms_test_rmdir(it_tmp);
	}
	return st == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests */

static char resp[RESP_CAP];

/* The current year (UTC). */
static int
this_year(void)
{
	time_t now = time(NULL);
	struct tm tm;

	return gmtime_r(&now, &tm) != NULL ? tm.tm_year + 1900 : -1;
}

static void
test_init(void)
{
	char *body = NULL;
	size_t blen = 0;
	char text[600];
	int year = 0, from_year, to_year;

	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
	if (body == NULL) {
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "content-type: application/xml"));
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "x-request-id: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsInit"));
	CU_ASSERT_EQUAL(it_element_text(body, "KmsUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "kms.example.org");
	CU_ASSERT_EQUAL(it_element_text(body, "UserKeyPeriod", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "2592000");
	CU_ASSERT_EQUAL(it_element_text(body, "PubAuthKey", text, sizeof(text)), 0);
	CU_ASSERT_EQUAL(strlen(text), 130);
	CU_ASSERT_EQUAL(it_element_text(body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "ik.1.alice@example.org");
	/* the certificate's fields from the store (kms-devsetup: no Issuer, valid from its run
	 * for ten years, the domain example.org), in the schema's order (it_schema_valid) */
	CU_ASSERT_PTR_NULL(strstr(body, "Issuer>"));
	CU_ASSERT_EQUAL(it_element_text(body, "ValidFrom", text, sizeof(text)), 0);
	from_year = sscanf(text, "%4d-%*2d-%*2dT%*2d:%*2d:%*2dZ", &year) == 1 ? year : -1;
	CU_ASSERT(from_year >= 2024 && from_year <= this_year());
	CU_ASSERT_EQUAL(it_element_text(body, "ValidTo", text, sizeof(text)), 0);
	to_year = sscanf(text, "%4d-%*2d-%*2dT%*2d:%*2d:%*2dZ", &year) == 1 ? year : -1;
	CU_ASSERT(to_year == from_year + 10 || to_year == from_year + 11); /* 3,653 days */
	CU_ASSERT_EQUAL(it_element_text(body, "KmsDomain", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "example.org");
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "</KmsDomainList>"));
	CU_ASSERT(strstr(body, "<ValidFrom") != NULL && strstr(body, "<ValidTo") != NULL &&
		  strstr(body, "<ValidFrom") < strstr(body, "<ValidTo") &&
		  strstr(body, "<ValidTo") < strstr(body, "<UserKeyPeriod") &&
		  strstr(body, "<ParameterSet") < strstr(body, "<KmsDomainList"));
	CU_ASSERT_TRUE(it_schema_valid(body, blen));
	/* GET is served too (some clients use it) */
	CU_ASSERT_EQUAL(it_request("alice", "GET", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
}

static void
test_keyprov(void)
{
	char *body = NULL;
	size_t blen = 0;
	char text[600];

	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	if (body == NULL) {
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsKeySet"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "xenc:EncryptedKey"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad"));
	CU_ASSERT_EQUAL(it_element_text(body, "UserUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, ALICE_URI);
	CU_ASSERT_EQUAL(it_element_text(body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.1.alice@example.org");
	CU_ASSERT_TRUE(it_schema_valid(body, blen));
	/* the same with the identity in the URI, raw and encoded, and with a time */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/" ALICE_URI, NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/sip%3Aalice%40example.org", NULL,
				   NULL, 0, resp, sizeof(resp), &body, &blen),
			200);
	/* an MC server gets the identity it is entitled to */
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/keyprov/" MCS_URI, NULL, NULL, 0,
				   resp, sizeof(resp), &body, &blen),
			200);
}

/* kms-client, the independent client: unwrap with the TrK, check the signature with the InK,
 * validate the ECCSI pair and the SAKKE RSK against the KMS certificate. */
static void
test_kms_client(void)
{
	char out[16384];
	char outdir[400], btrk[400], bink[400];
	static const char *const resources[] = {"init", "keyprov", "certcache"};
	size_t i;

	snprintf(outdir, sizeof(outdir), "%s/client-out", it_tmp);
	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		CU_ASSERT_EQUAL(it_kms_client_cmd("alice", resources[i]), 0);
	}
	/* keyprov with --out: the material is written for other tools */
	{
		const char *args[] = {"--out", outdir, "keyprov", ALICE_URI, NULL};
		struct stat sb;
		char p[500];
		CU_ASSERT_EQUAL(it_kms_client("alice", args, out, sizeof(out)), 0);
		snprintf(p, sizeof(p), "%s/response.xml", outdir);
		CU_ASSERT_EQUAL(stat(p, &sb), 0);
	}
	/* with bob's TrK, alice's material does not unwrap: kms-client says so (exit 1) */
	{
		const char *args[] = {"--trk", btrk, "--ink", bink, "keyprov", NULL};
		it_client_path(btrk, sizeof(btrk), "bob", "trk.hex");
		it_client_path(bink, sizeof(bink), "bob", "ink.hex");
		CU_ASSERT_EQUAL(it_kms_client("alice", args, out, sizeof(out)), 1);
	}
}

/* A foreign identity gets the same answer whether it exists or not. */
static void
test_entitlement(void)
{
	char *body = NULL;
	size_t blen = 0;
	char code1[32] = "", msg1[200] = "", code2[32] = "", msg2[200] = "";

	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/" BOB_URI, NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			403);
	if (body != NULL) {
		CU_ASSERT_TRUE(it_schema_valid(body, blen));
		CU_ASSERT_EQUAL(it_element_text(body, "ErrorCode", code1, sizeof(code1)), 0);
		CU_ASSERT_EQUAL(it_element_text(body, "ErrorMsg", msg1, sizeof(msg1)), 0);
	}
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/sip:nobody@example.org", NULL,
				   NULL, 0, resp, sizeof(resp), &body, &blen),
			403);
	if (body != NULL) {
		CU_ASSERT_EQUAL(it_element_text(body, "ErrorCode", code2, sizeof(code2)), 0);
		CU_ASSERT_EQUAL(it_element_text(body, "ErrorMsg", msg2, sizeof(msg2)), 0);
	}
	CU_ASSERT_STRING_EQUAL(code1, code2);
	CU_ASSERT_STRING_EQUAL(msg1, msg2);
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/keyprov/" ALICE_URI, NULL, NULL,
				   0, resp, sizeof(resp), &body, &blen),
			403);
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/keyprov/sip:nobody@example.org",
				   NULL, NULL, 0, resp, sizeof(resp), &body, &blen),
			403);
}

static void
test_bad_requests(void)
{
	static char big[70 * 1024];
	char *body = NULL;
	size_t blen = 0;
	static const char xxe[] =
		"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\"><UserUri>&x;</UserUri>"
		"</KmsRequest>";
	static const char good[] =
		"<?xml version=\"1.0\"?><KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
		"Version=\"1.1.0\"><UserUri>sip:alice@example.org</UserUri><KmsUri>kms.example.org"
		"</KmsUri><Time>2026-11-28T10:00:00Z</Time><ClientReqUrl>https://127.0.0.1/"
		"</ClientReqUrl></KmsRequest>";
	static const char other[] =
		"<?xml version=\"1.0\"?><KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
		"Version=\"1.1.0\"><UserUri>sip:bob@example.org</UserUri><KmsUri>kms.example.org"
		"</KmsUri><Time>2026-11-28T10:00:00Z</Time><ClientReqUrl>https://127.0.0.1/"
		"</ClientReqUrl></KmsRequest>";

	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/nothing", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			404);
	if (body != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsError>"));
		CU_ASSERT_TRUE(it_schema_valid(body, blen));
	}
	CU_ASSERT_EQUAL(it_request("alice", "PUT", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			405);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/" ALICE_URI "/D6B43232", NULL,
				   NULL, 0, resp, sizeof(resp), &body, &blen),
			400);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/sip%00x", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			400);
	/* a time long before the key periods served */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov/" ALICE_URI "/D6B4323200000000",
				   NULL, NULL, 0, resp, sizeof(resp), &body, &blen),
			404);
	memset(big, 'a', sizeof(big));
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, big, sizeof(big), resp,
				   sizeof(resp), &body, &blen),
			413);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, "<KmsRequest", 11, resp,
				   sizeof(resp), &body, &blen),
			400);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov", NULL, xxe, sizeof(xxe) - 1,
				   resp, sizeof(resp), &body, &blen),
			400);
	if (body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "root:"));
	}
	/* a well-formed body is accepted; one naming another user is refused */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov", NULL, good, sizeof(good) - 1,
				   resp, sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov", NULL, other, sizeof(other) - 1,
				   resp, sizeof(resp), &body, &blen),
			400);
	/* a bearer token that does not verify: 401, even with a good certificate */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", "Authorization: Bearer a.b.c\r\n",
				   NULL, 0, resp, sizeof(resp), &body, &blen),
			401);
	/* and the server is still there */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
}

static void
test_no_certificate(void)
{
	struct it_conn c;

	/* the handshake itself fails: client certificates are required */
	CU_ASSERT_NOT_EQUAL(it_conn_open(&c, NULL) == 0 &&
				    it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp,
						    sizeof(resp), &(char *){NULL},
						    &(size_t){0}) == 200,
			    1);
	it_conn_close(&c);
}

/* Two clients with different certificates, each on its own kept-alive connection, at the
 * same time: every response names the identity of its own connection's certificate. */
struct attrib {
	const char *name;
	const char *uri;
	int good;
	int total;
};

static void *
attrib_thread(void *arg)
{
	struct attrib *a = arg;
	static __thread char buf[RESP_CAP];
	struct it_conn c;
	int i;

	if (it_conn_open(&c, a->name) != 0) {
		it_conn_close(&c);
		return NULL;
	}
	for (i = 0; i < 25; i++) {
		char *body = NULL;
		size_t blen = 0;
		char text[300];
		int s = it_conn_request(&c, "POST", ROOT "/keyprov", NULL, NULL, 0, buf,
					sizeof(buf), &body, &blen);
		a->total++;
		if (s == 200 && it_element_text(body, "UserUri", text, sizeof(text)) == 0 &&
		    strcmp(text, a->uri) == 0 && strstr(body, a->name) != NULL) {
			a->good++;
		}
	}
	it_conn_close(&c);
	return NULL;
}

static void
test_attribution(void)
{
	struct attrib a = {"alice", ALICE_URI, 0, 0}, b = {"bob", BOB_URI, 0, 0};
	pthread_t ta, tb;

	CU_ASSERT_EQUAL(pthread_create(&ta, NULL, attrib_thread, &a), 0);
	CU_ASSERT_EQUAL(pthread_create(&tb, NULL, attrib_thread, &b), 0);
	(void)pthread_join(ta, NULL);
	(void)pthread_join(tb, NULL);
	CU_ASSERT_EQUAL(a.total, 25);
	CU_ASSERT_EQUAL(b.total, 25);
	CU_ASSERT_EQUAL(a.good, 25);
	CU_ASSERT_EQUAL(b.good, 25);
}

/* HTTP/2 through ALPN, with curl (an independent HTTP/2 client). */
static void
test_http2(void)
{
	char out[65536];
	char url[160], ca[400], cert[400], key[400];

	CU_ASSERT_EQUAL(it_curl_http2("bob", ROOT "/init", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTPVERSION=2 STATUS=200"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<KmsInit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ik.1.bob@example.org"));
	/* TLS 1.1 is refused */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u" ROOT "/init", it_port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
	it_client_path(cert, sizeof(cert), "bob", "cert.pem");
	it_client_path(key, sizeof(key), "bob", "key.pem");
	{
		const char *argv[] = {
			"/usr/bin/curl", "-sS", "--tlsv1.1", "--tls-max", "1.1", "--cacert", ca,
			"--cert",        cert,  "--key",     key,         url,   NULL};
		CU_ASSERT_NOT_EQUAL(it_run(argv, out, sizeof(out)), 0);
	}
}

static void
test_metrics(void)
{
	char out[16384];
	char url[96];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", it_mport);
	{
		const char *argv[] = {"/usr/bin/curl", "-sS", url, NULL};
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "kms_requests_total{status=\"2xx\"}"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "kms_key_sets_provisioned_total"));
		CU_ASSERT_PTR_NULL(strstr(out, "kms_key_sets_provisioned_total 0\n"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nkms_issuer_info{issuer=\"online\"} 1\n"));
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", it_mport);
	{
		const char *argv[] = {"/usr/bin/curl",       "-sS", "-w",
				      "STATUS=%{http_code}", url,   NULL};
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "STATUS=200"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok: kms-hsmd "));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, " up, issuer online\n"));
	}
}

/* The pids of kmsd's children (the kms-hsmd processes). */
static size_t
hsmd_pids(pid_t *out, size_t cap)
{
	return it_children(it_kmsd_pid, out, cap);
}

/* kms-hsmd killed: 503 with Retry-After meanwhile (or already served again), then served. */
static void
test_hsmd_restart(void)
{
	pid_t pids[64];
	size_t n = hsmd_pids(pids, 64), i;
	char *body = NULL;
	size_t blen = 0;
	int s = 0, tries;

	CU_ASSERT(n >= 1);
	for (i = 0; i < n; i++) {
		(void)kill(pids[i], SIGKILL);
	}
	s = it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
		       &blen);
	CU_ASSERT(s == 503 || s == 200);
	if (s == 503) {
		CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	}
	for (tries = 0; tries < 200 && s != 200; tries++) {
		usleep(100000);
		s = it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp),
			       &body, &blen);
	}
	CU_ASSERT_EQUAL(s, 200);
	/* every slot is back */
	for (tries = 0; tries < 100 && hsmd_pids(pids, 64) < n; tries++) {
		usleep(100000);
	}
	CU_ASSERT_EQUAL(hsmd_pids(pids, 64), n);
}

/* Every request so far has its record, and the chain verifies. */
static void
test_audit(void)
{
	char out[16384];
	char store[400];

	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store, "audit", "verify", NULL};
		int st = it_run(argv, out, sizeof(out));
		if (st != 0) {
			fprintf(stderr, "kms-admin audit verify: %d\n%s\n", st, out);
		}
		CU_ASSERT_EQUAL(st, 0);
		/* the development domain has an audit key: the chain and its checkpoints */
		CU_ASSERT(strncmp(out, "chain: ", 7) == 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "records verified; checkpoints: "));
		/* its one node's key, with the checkpoints its kms-hsmd wrote */
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\naudit key: "));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, " (kms.audit): "));
	}
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store,    "audit", "show",
				      "--client",    ALICE_URI, "--json", NULL};
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "provisioned"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "tk.1.alice@example.org"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused"));
	}
}

/* Requests in a loop until told to stop (for test_kmsd_killed); stop and ok cross threads. */
struct hammer {
	const char *name;
	atomic_int stop;
	atomic_int ok;
};

static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;
	static char buf[RESP_CAP];

	while (!h->stop) {
		char *body = NULL;
		size_t blen = 0;
		if (it_request(h->name, "POST", ROOT "/keyprov", NULL, NULL, 0, buf, sizeof(buf),
			       &body, &blen) == 200) {
			h->ok++;
		}
	}
	return NULL;
}

/* The number in "chain: N records verified; ..." (or "audit log OK: N records"), or -1. */
static long
audit_count(void)
{
	char out[16384], store[400];
	const char *argv[] = {KMS_ADMIN_BIN, "--store", store, "audit", "verify", NULL};
	const char *p;

	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	if (it_run(argv, out, sizeof(out)) != 0 ||
	    ((p = strstr(out, "chain: ")) == NULL && (p = strstr(out, "OK: ")) == NULL)) {
		fprintf(stderr, "kms-admin audit verify:\n%s\n", out);
		return -1;
	}
	return strtol(strchr(p, ' ') + 1, NULL, 10);
}

/*
 * kmsd killed (SIGKILL) while it provisions: its kms-hsmd processes end with it, a new kmsd
 * serves the same store, and the audit chain verifies with every record of both lives.
 */
static void
test_kmsd_killed(void)
{
	struct hammer h = {"bob", 0, 0};
	pid_t kids[64];
	size_t n, i;
	long before, after;
	pthread_t t;
	char conf[400];
	int tries;

	before = audit_count();
	CU_ASSERT(before > 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hammer_main, &h), 0);
	for (tries = 0; tries < 100 && h.ok < 5; tries++) {
		usleep(50000);
	}
	n = it_children(it_kmsd_pid, kids, 64);
	CU_ASSERT_EQUAL(kill(it_kmsd_pid, SIGKILL), 0);
	(void)waitpid(it_kmsd_pid, NULL, 0);
	it_kmsd_pid = -1;
	h.stop = 1;
	(void)pthread_join(t, NULL);
	CU_ASSERT(h.ok >= 5);
	/* its kms-hsmd processes see the end of their socket and exit */
	for (i = 0; i < n; i++) {
		for (tries = 0; tries < 100 && kill(kids[i], 0) == 0; tries++) {
			usleep(50000);
		}
		CU_ASSERT_NOT_EQUAL(kill(kids[i], 0), 0);
	}
	/* every key set a client received has its record (a record may have no answer: kmsd
	 * died between the commit and the send) */
	after = audit_count();
	CU_ASSERT(after - before >= h.ok);
	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	CU_ASSERT_EQUAL_FATAL(it_start_kmsd(conf), 0);
	{
		char *body = NULL;
		size_t blen = 0;
		CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
					   sizeof(resp), &body, &blen),
				200);
	}
	CU_ASSERT_EQUAL(audit_count(), after + 1);
}

/* hsm/adapter.h's KMS_ADAPTER_PRESENT_MS (this test does not build with the PKCS#11 headers) */
#define TOKEN_PRESENT_MS 250

/*
 * The token disappears (SoftHSM's token directory moved away, as an HSM unplugged): keyprov
 * answers 503 with Retry-After and no key material (once kms-hsmd asks the token again); once it is
 * back, kms-hsmd reconnects and keyprov is served again.
 */
static void
test_token_gone(void)
{
	char dir[400], away[420];
	char *body = NULL;
	size_t blen = 0;
	int s, tries, good;

	snprintf(dir, sizeof(dir), "%s/token/tokens", it_dev);
	snprintf(away, sizeof(away), "%s.away", dir);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_EQUAL_FATAL(rename(dir, away), 0);
	/* kms-hsmd asks whether the token is there at most every KMS_ADAPTER_PRESENT_MS */
	usleep((TOKEN_PRESENT_MS + 100) * 1000);
	s = it_request("alice", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
		       &blen);
	CU_ASSERT_EQUAL(s, 503);
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
	if (body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	}
	CU_ASSERT_EQUAL_FATAL(rename(away, dir), 0);
	/* every thread's kms-hsmd reconnects on its own: wait for a run of successes on new
	 * connections, which land on the threads at random */
	for (tries = 0, good = 0; tries < 300 && good < 12; tries++) {
		s = it_request("alice", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp),
			       &body, &blen);
		good = s == 200 ? good + 1 : 0;
		if (s != 200) {
			usleep(100000);
		}
	}
	CU_ASSERT_EQUAL(good, 12);
}

/*
 * Stalled clients (TCP connections that never start TLS, handshakes left half done, a request
 * whose headers never end) do not stop another client from being served.
 */
static void
test_stalled_clients(void)
{
	int fds[24];
	struct it_conn partial;
	char *body = NULL;
	size_t blen = 0;
	size_t i;
	struct timespec t0, t1;

	for (i = 0; i < 16; i++) {
		fds[i] = it_tcp_connect(it_port); /* silent */
	}
	for (; i < 24; i++) {
		/* the first bytes of a ClientHello, then nothing */
		static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
		fds[i] = it_tcp_connect(it_port);
		if (fds[i] >= 0) {
			CU_ASSERT_EQUAL(write(fds[i], hello, sizeof(hello)),
					(ssize_t)sizeof(hello));
		}
	}
	CU_ASSERT_EQUAL_FATAL(it_conn_open(&partial, "bob"), 0);
	CU_ASSERT_EQUAL(SSL_write(partial.ssl, "POST " ROOT "/init HTTP/1.1\r\nHost: x\r\n", 40),
			40);
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 5);
	it_conn_close(&partial);
	for (i = 0; i < 24; i++) {
		if (fds[i] >= 0) {
			(void)close(fds[i]);
		}
	}
}

/* A client past its rate limit gets 429 with Retry-After; the others are not affected. */
static void
test_rate_limit(void)
{
	struct it_conn c;
	char *body = NULL;
	size_t blen = 0;
	int i, limited = 0, s;

	CU_ASSERT_EQUAL_FATAL(it_conn_open(&c, "mcptt-server"), 0);
	for (i = 0; i < 200 && limited == 0; i++) {
		s = it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				    &body, &blen);
		CU_ASSERT(s == 200 || s == 429);
		if (s == 429) {
			limited = 1;
			CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
			CU_ASSERT_PTR_NOT_NULL(strstr(body, "<ErrorCode>429</ErrorCode>"));
		}
	}
	it_conn_close(&c);
	CU_ASSERT_EQUAL(limited, 1);
	CU_ASSERT(i > 40); /* the burst went through first */
	/* another client is served meanwhile */
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
}

static const char *last_body = "";

static int
with_token(const char *name, const char *token, const char *path)
{
	char hdr[9000];
	char *body = NULL;
	size_t blen = 0;
	int s;

	if (token != NULL) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	}
	s = it_request(name, "POST", path, token != NULL ? hdr : NULL, NULL, 0, resp, sizeof(resp),
		       &body, &blen);
	last_body = body != NULL ? body : "";
	return s;
}

static void
test_token_only(void)
{
	char tok[8192], text[300];
	char *body = NULL;
	size_t blen = 0;

	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, NULL, NULL), 0);
	/* no client certificate: the token's MC service ID names the client */
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 200);
	CU_ASSERT_EQUAL(it_element_text(last_body, "UserUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, ALICE_URI);
	CU_ASSERT_EQUAL(it_element_text(last_body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.1.alice@example.org");
	/* alice's token gets alice's identity only */
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov/" BOB_URI), 403);
	/* neither a certificate nor a token */
	CU_ASSERT_EQUAL(it_request(NULL, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			401);
	/* a certificate alone still works for a UE (either) */
	CU_ASSERT_EQUAL(with_token("alice", NULL, ROOT "/keyprov"), 200);
}

static void
test_token_refused(void)
{
	char tok[8192];

	/* expired an hour ago */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--now", "1700000000"), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--aud", "other.example.org"),
			      0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--iss", "https://evil.example"),
			      0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	/* no key-management scope: insufficient_scope */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--scope", "openid"), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 403);
	/* a token for an identity that is no enrolled client */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), "sip:mallory@example.org", NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	/* an MC server must still use mutual TLS (auth_server = mtls) */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), MCS_URI, NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL(with_token("mcptt-server", NULL, ROOT "/keyprov"), 200);
	/* a tampered signature */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, NULL, NULL), 0);
	tok[strlen(tok) - 3] = tok[strlen(tok) - 3] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
}

/* next_period_lead of a year: every keyprov is "near the end" of its period, and also carries
 * the next period's key set; kms-client validates both. */
static void
test_next_period(void)
{
	char text[64];
	const char *p;
	unsigned long n1, n2;

	CU_ASSERT_EQUAL(with_token("alice", NULL, ROOT "/keyprov"), 200);
	p = strstr(last_body, "<KeyPeriodNo>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(it_element_text(p, "KeyPeriodNo", text, sizeof(text)), 0);
	n1 = strtoul(text, NULL, 10);
	p = strstr(p + 1, "<KeyPeriodNo>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(it_element_text(p, "KeyPeriodNo", text, sizeof(text)), 0);
	n2 = strtoul(text, NULL, 10);
	CU_ASSERT_EQUAL(n2, n1 + 1);
	CU_ASSERT_PTR_NULL(strstr(p + 1, "<KeyPeriodNo>"));
	/* a request for a given time gets that period only */
	{
		char path[200];
		unsigned long long ntp = ((unsigned long long)time(NULL) + 2208988800ull) << 32;
		snprintf(path, sizeof(path), ROOT "/keyprov/" ALICE_URI "/%016llX", ntp);
		CU_ASSERT_EQUAL(with_token("alice", NULL, path), 200);
		p = strstr(last_body, "<KeyPeriodNo>");
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL(it_element_text(p, "KeyPeriodNo", text, sizeof(text)), 0);
		CU_ASSERT_EQUAL(strtoul(text, NULL, 10), n1);
		CU_ASSERT_PTR_NULL(strstr(p + 1, "<KeyPeriodNo>"));
	}
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
}

static CU_TestInfo token_tests[] = {
	{"the next period's key set near the end of a period", test_next_period},
	{"a bearer token alone", test_token_only},
	{"bad tokens are refused", test_token_refused},
	CU_TEST_INFO_NULL,
};

/* Holds the store's write lock (BEGIN IMMEDIATE) for hold_ms, as a stuck writer would. */
struct locker {
	unsigned int hold_ms;
	int locked; /* set once the lock is held */
};

static void *
locker_main(void *arg)
{
	struct locker *l = arg;
	char path[400];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/kms.db", it_dev);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		__atomic_store_n(&l->locked, 1, __ATOMIC_SEQ_CST);
		usleep(l->hold_ms * 1000u);
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	__atomic_store_n(&l->locked, l->locked ? 2 : -1, __ATOMIC_SEQ_CST);
	sqlite3_close(db);
	return NULL;
}

/*
 * Fail closed: while the audit log cannot be written, keyprov answers 503 and sends no key
 * material; once it can, provisioning resumes, and the chain still verifies (test_audit).
 */
static void
test_audit_fail_closed(void)
{
	struct locker l = {25000, 0};
	pthread_t t;
	char *body = NULL;
	size_t blen = 0;
	int s, i;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, locker_main, &l), 0);
	for (i = 0; i < 100 && __atomic_load_n(&l.locked, __ATOMIC_SEQ_CST) == 0; i++) {
		usleep(10000);
	}
	CU_ASSERT_EQUAL(__atomic_load_n(&l.locked, __ATOMIC_SEQ_CST), 1);
	s = it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
		       &blen);
	CU_ASSERT_EQUAL(s, 503);
	if (body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
		CU_ASSERT_PTR_NULL(strstr(body, "KmsKeySet"));
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "audit"));
	}
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
	(void)pthread_join(t, NULL);
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
}

/*
 * Fail closed on a full disk, in the form a test can make: a file-size limit (RLIMIT_FSIZE) of
 * one octet on the running kmsd, so that every write of the store fails with EFBIG (kmsd
 * ignores SIGXFSZ). keyprov answers 503 without material; with the limit lifted, 200 again.
 */
static void
test_audit_file_size_limit(void)
{
	struct rlimit old, tiny;
	char *body = NULL;
	size_t blen = 0;
	int s;

	CU_ASSERT_EQUAL_FATAL(prlimit(it_kmsd_pid, RLIMIT_FSIZE, NULL, &old), 0);
	tiny.rlim_cur = 1;
	tiny.rlim_max = old.rlim_max;
	CU_ASSERT_EQUAL_FATAL(prlimit(it_kmsd_pid, RLIMIT_FSIZE, &tiny, NULL), 0);
	s = it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
		       &blen);
	CU_ASSERT_EQUAL(prlimit(it_kmsd_pid, RLIMIT_FSIZE, &old, NULL), 0);
	CU_ASSERT_EQUAL(s, 503);
	if (body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "audit"));
	}
	CU_ASSERT_EQUAL(kill(it_kmsd_pid, 0), 0); /* SIGXFSZ did not end it */
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
}

/*
 * A second kmsd on the same configuration (an old one still running, a double start): kmsd
 * binds with SO_REUSEPORT, which the kernel would grant it too, and the clients would be
 * shared. It must refuse to start, before kms-hsmd logs in, and the first one serve on.
 */
static void
test_second_kmsd(void)
{
	char conf[400];
	const char *argv[] = {"/usr/bin/timeout", "60", KMSD_BIN, "-c", conf, NULL};
	char *body = NULL;
	size_t blen = 0;

	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	CU_ASSERT_EQUAL(it_run(argv, resp, sizeof(resp)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "another process listens there already"));
	CU_ASSERT_PTR_NULL(strstr(resp, "adapter: ready")); /* no kms-hsmd was started */
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
}

/*
 * The promise of ARCHITECTURE.md: after kmsd has provisioned alice and bob, no key they
 * received (SSK, RSK) and none they hold (TrK, InK) is anywhere in kmsd's memory, while text
 * of the requests kmsd read is (the control).
 */
static void
test_memory_hygiene(void)
{
	static const char *const names[] = {"alice", "bob"};
	struct it_needle n[2 * 4 + 1];
	char out[16384], dir[400], p[500];
	size_t num = 0, i, j, total;

	for (i = 0; i < 2; i++) {
		const char *args[] = {"--out", dir, "keyprov", NULL};
		snprintf(dir, sizeof(dir), "%s/mem-%s", it_tmp, names[i]);
		CU_ASSERT_EQUAL_FATAL(it_kms_client(names[i], args, out, sizeof(out)), 0);
		snprintf(p, sizeof(p), "%s/1-ssk.hex", dir);
		CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[num++], "SSK", p, 0), 0);
		snprintf(p, sizeof(p), "%s/1-rsk.hex", dir);
		CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[num++], "RSK", p, 1), 0);
		it_client_path(p, sizeof(p), names[i], "trk.hex");
		CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[num++], "TrK", p, 0), 0);
		it_client_path(p, sizeof(p), names[i], "ink.hex");
		CU_ASSERT_EQUAL_FATAL(it_needle_from_hex(&n[num++], "InK", p, 0), 0);
	}
	/* the control: text kmsd did handle (a request header of the last request; the XML it
	 * renders is wiped when freed) must be found, or the scan proves nothing */
	CU_ASSERT_EQUAL_FATAL(it_scan_control(&n[num++], "bob"), 0);
	/* nor in kmsd's log (kms-hsmd writes there too), in binary or in hex of either case */
	{
		static char logbuf[1 << 22];
		int fd = open(it_log, O_RDONLY);
		size_t len;

		CU_ASSERT_FATAL(fd >= 0);
		len = kms_test_read_fd(fd, logbuf, sizeof(logbuf) - 1);
		(void)close(fd);
		logbuf[len] = '\0';
		CU_ASSERT(len > 0);
		for (j = 0; j < num; j++) {
			char hex[2 * 64 + 1];
			size_t k;

			if (strcmp(n[j].what, "control") == 0) {
				continue;
			}
			CU_ASSERT_PTR_NULL(memmem(logbuf, len, n[j].bytes, n[j].len));
			for (k = 0; k < n[j].len; k++) {
				snprintf(hex + 2 * k, 3, "%02X", n[j].bytes[k]);
			}
			CU_ASSERT_PTR_NULL(strcasestr(logbuf, hex));
		}
	}
#ifdef KMS_TEST_SANITIZED
	/* the heap of a sanitizer build is in terabyte-sized regions the scan cannot read whole
	 * (and the allocator's quarantine keeps freed memory on purpose): the gcc build runs it */
	fprintf(stderr, "(memory scan not run: kmsd is a sanitizer build)\n");
	return;
#endif
	total = it_scan_memory(it_kmsd_pid, n, num);
	CU_ASSERT(total > 1000000);
	for (j = 0; j < num; j++) {
		if (strcmp(n[j].what, "control") == 0) {
			CU_ASSERT_EQUAL(n[j].found, 1);
		} else if (n[j].found) {
			fprintf(stderr, "%s of a client found in kmsd's memory\n", n[j].what);
			CU_FAIL("a client's key is in kmsd's memory");
		}
	}
}

/* The event-loop threads run under seccomp (mode 2: a filter); the main thread, which started
 * the kms-hsmd processes, does not, and neither do they. */
static void
test_sandbox(void)
{
	char path[512], buf[4096];
	DIR *d;
	struct dirent *e;
	int filtered = 0, main_mode = -1;
	pid_t kids[64];
	size_t n, i;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)it_kmsd_pid);
	d = opendir(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d)) != NULL) {
		const char *m;
		int fd;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/status", (long)it_kmsd_pid,
			 e->d_name);
		if ((fd = open(path, O_RDONLY)) < 0) {
			continue;
		}
		buf[kms_test_read_fd(fd, buf, sizeof(buf) - 1)] = '\0';
		(void)close(fd);
		if ((m = strstr(buf, "\nSeccomp:\t")) == NULL) {
			continue;
		}
		if (strtol(e->d_name, NULL, 10) == (long)it_kmsd_pid) {
			main_mode = m[10] - '0';
		} else if (m[10] == '2') {
			filtered++;
		}
	}
	(void)closedir(d);
	CU_ASSERT(filtered >= 1);
	CU_ASSERT_EQUAL(main_mode, 0);
	n = it_children(it_kmsd_pid, kids, 64);
	CU_ASSERT(n >= 1);
	for (i = 0; i < n; i++) {
		int fd;
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)kids[i]);
		if ((fd = open(path, O_RDONLY)) < 0) {
			continue;
		}
		buf[kms_test_read_fd(fd, buf, sizeof(buf) - 1)] = '\0';
		(void)close(fd);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nSeccomp:\t0"));
	}
}

static CU_TestInfo kmsd_tests[] = {
	{"init", test_init},
	{"keyprov", test_keyprov},
	{"kms-client validates what kmsd sends", test_kms_client},
	{"entitlement: the same answer for any foreign identity", test_entitlement},
	{"malformed requests get KmsError and the server carries on", test_bad_requests},
	{"no client certificate: no handshake", test_no_certificate},
	{"two clients at once: each request attributed to its connection", test_attribution},
	{"HTTP/2 and TLS versions (curl)", test_http2},
	{"metrics and health", test_metrics},
	{"rate limits per client", test_rate_limit},
	{"kms-hsmd killed and restarted", test_hsmd_restart},
	{"the token disappears and comes back", test_token_gone},
	{"stalled clients do not stop the others", test_stalled_clients},
	{"no client key in kmsd's memory or log", test_memory_hygiene},
	{"the event-loop threads are sandboxed", test_sandbox},
	{"the audit log cannot be written: nothing is provisioned", test_audit_fail_closed},
	{"the audit log cannot grow (a file-size limit): nothing is provisioned",
	 test_audit_file_size_limit},
	{"a second kmsd on the same port refuses to start", test_second_kmsd},
	{"the audit log", test_audit},
	{"kmsd killed while provisioning: restarted, the chain verifies", test_kmsd_killed},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"kmsd", suite_init, kmsd_suite_cleanup, NULL, NULL, kmsd_tests},
	{"kmsd with bearer tokens", token_suite_init, token_suite_cleanup, NULL, NULL, token_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}

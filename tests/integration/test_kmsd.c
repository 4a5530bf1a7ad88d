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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests/unit/kms_test.h"

#include "common/banned.h"

extern char **environ;

#define ROOT      "/keymanagement/identity/v1"
#define RESP_CAP  (256 * 1024)
#define ALICE_URI "sip:alice@example.org"
#define BOB_URI   "sip:bob@example.org"
#define MCS_URI   "sip:mcptt-server@example.org"

static char tmp[256];
static char dev[300];
static char log_path[320];
static uint16_t port, mport;
static pid_t kmsd_pid = -1;

/* ------------------------------------------------------------------------------------------ */
/* Processes */

/* Run argv (argv[0] a path) with its output (stdout and stderr) into out; its exit status. */
/* A writable copy of argv for posix_spawn (NULL-terminated, at most 31 arguments). */
struct argv_copy {
	char *v[32];
};

static void
argv_dup(struct argv_copy *c, const char *const argv[])
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 31 && argv[i] != NULL; i++) {
		c->v[i] = strdup(argv[i]);
	}
}

static void
argv_free(struct argv_copy *c)
{
	size_t i;

	for (i = 0; i < 32; i++) {
		free(c->v[i]);
	}
}

static int
run(const char *const argv[], char *out, size_t cap)
{
	char path[400];
	posix_spawn_file_actions_t fa;
	struct argv_copy a;
	pid_t pid;
	int st = -1, fd, sr;

	snprintf(path, sizeof(path), "%s/run.out", tmp);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	argv_dup(&a, argv);
	sr = posix_spawn(&pid, argv[0], &fa, NULL, a.v, environ);
	argv_free(&a);
	posix_spawn_file_actions_destroy(&fa);
	if (sr != 0) {
		return -1;
	}
	if (waitpid(pid, &st, 0) != pid) {
		return -1;
	}
	out[0] = '\0';
	if ((fd = open(path, O_RDONLY)) >= 0) {
		(void)kms_test_read_fd(fd, out, cap);
		(void)close(fd);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A free TCP port on 127.0.0.1 (bound and released; good enough on a test machine). */
static uint16_t
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t p = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
		p = ntohs(a.sin_port);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	return p;
}

static int
tcp_connect(uint16_t p)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(p);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		(void)close(fd);
		fd = -1;
	}
	return fd;
}

static int
start_kmsd(const char *conf)
{
	const char *argv[] = {KMSD_BIN, "-c", conf, NULL};
	posix_spawn_file_actions_t fa;
	struct argv_copy a;
	int i, sr;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 2, 1); /* nothing of the test's own output */
	argv_dup(&a, argv);
	sr = posix_spawn(&kmsd_pid, KMSD_BIN, &fa, NULL, a.v, environ);
	argv_free(&a);
	posix_spawn_file_actions_destroy(&fa);
	if (sr != 0) {
		return -1;
	}
	for (i = 0; i < 600; i++) { /* up to 60 s (sanitizer builds start slowly) */
		int fd = tcp_connect(port);
		if (fd >= 0) {
			(void)close(fd);
			return 0;
		}
		if (waitpid(kmsd_pid, NULL, WNOHANG) == kmsd_pid) {
			kmsd_pid = -1;
			return -1;
		}
		usleep(100000);
	}
	return -1;
}

static int
stop_kmsd(void)
{
	int st = -1;

	if (kmsd_pid <= 0) {
		return -1;
	}
	(void)kill(kmsd_pid, SIGTERM);
	(void)waitpid(kmsd_pid, &st, 0);
	kmsd_pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------------------------------------ */
/* A small HTTPS client */

struct conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

/* Connect as client name (clients/<name>/cert.pem), or without a certificate (NULL). */
static int
conn_open(struct conn *c, const char *name)
{
	char ca[400], cert[400], key[400];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dev);
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
		return -1;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (name != NULL) {
		snprintf(cert, sizeof(cert), "%s/clients/%s/cert.pem", dev, name);
		snprintf(key, sizeof(key), "%s/clients/%s/key.pem", dev, name);
		if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
			return -1;
		}
	}
	if ((c->fd = tcp_connect(port)) < 0 || (c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, "127.0.0.1") != 1) {
		return -1;
	}
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0) {
		(void)close(c->fd);
	}
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	ERR_clear_error();
}

/*
 * One request on c; the status, the headers (NUL-terminated) and the body (NUL-terminated,
 * its length in *body_len) into out. -1 if the exchange failed. The response is read by its
 * Content-Length, so several requests can share a connection.
 */
static int
conn_request(struct conn *c, const char *method, const char *path, const char *extra,
	     const char *body, size_t body_len, char *out, size_t cap, char **out_body,
	     size_t *body_len_out)
{
	char head[4096];
	size_t got = 0, hlen, clen;
	char *eoh, *cl;
	int n, status;

	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
		     "Content-Length: %zu\r\n%s\r\n",
		     method, path, body_len, extra != NULL ? extra : "");
	if (SSL_write(c->ssl, head, n) != n ||
	    (body_len > 0 && SSL_write(c->ssl, body, (int)body_len) != (int)body_len)) {
		return -1;
	}
	for (;;) {
		if (got + 1 >= cap) {
			return -1;
		}
		n = SSL_read(c->ssl, out + got, (int)(cap - 1 - got));
		if (n <= 0) {
			return -1;
		}
		got += (size_t)n;
		out[got] = '\0';
		if ((eoh = strstr(out, "\r\n\r\n")) != NULL) {
			break;
		}
	}
	hlen = (size_t)(eoh - out) + 4;
	cl = strcasestr(out, "\r\ncontent-length:");
	if (cl == NULL || cl > eoh) {
		return -1;
	}
	clen = strtoul(cl + 17, NULL, 10);
	if (hlen + clen + 1 > cap) {
		return -1;
	}
	while (got < hlen + clen) {
		n = SSL_read(c->ssl, out + got, (int)(hlen + clen - got));
		if (n <= 0) {
			return -1;
		}
		got += (size_t)n;
	}
	out[hlen + clen] = '\0';
	*eoh = '\0';
	*out_body = out + hlen;
	*body_len_out = clen;
	if (sscanf(out, "HTTP/1.1 %d", &status) != 1) {
		return -1;
	}
	return status;
}

/* One request on a connection of its own; the status, or -1. */
static int
request(const char *name, const char *method, const char *path, const char *extra, const char *body,
	size_t body_len, char *out, size_t cap, char **out_body, size_t *blen)
{
	struct conn c;
	int s = -1;

	if (conn_open(&c, name) == 0) {
		s = conn_request(&c, method, path, extra, body, body_len, out, cap, out_body, blen);
	}
	conn_close(&c);
	return s;
}

/* The text of the first element named name in xml (a crude look, for assertions). */
static int
element_text(const char *xml, const char *name, char *out, size_t cap)
{
	char open[80];
	const char *p, *e;

	snprintf(open, sizeof(open), "<%s>", name);
	if ((p = strstr(xml, open)) == NULL) {
		return -1;
	}
	p += strlen(open);
	if ((e = strchr(p, '<')) == NULL || (size_t)(e - p) >= cap) {
		return -1;
	}
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

/* Whether body validates against the TS 33.180 schema (docs/schema/). */
static int
schema_valid(const char *body, size_t len)
{
	xmlSchemaParserCtxtPtr pc =
		xmlSchemaNewParserCtxt(KMS_SOURCE_DIR "/docs/schema/ts33180-kms-interface.xsd");
	xmlSchemaPtr schema = pc != NULL ? xmlSchemaParse(pc) : NULL;
	xmlSchemaValidCtxtPtr vc = schema != NULL ? xmlSchemaNewValidCtxt(schema) : NULL;
	xmlDocPtr doc = xmlReadMemory(body, (int)len, "response.xml", NULL, XML_PARSE_NONET);
	int ok = vc != NULL && doc != NULL && xmlSchemaValidateDoc(vc, doc) == 0;

	xmlFreeDoc(doc);
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Set-up */

static int
suite_init(void)
{
	char out[8192];
	char listen[64], metrics[64];
	char conf[400];

	if (kms_test_tmpdir(tmp, sizeof(tmp), "kmsd-it") != 0) {
		return 1;
	}
	snprintf(dev, sizeof(dev), "%s/dev", tmp);
	snprintf(log_path, sizeof(log_path), "%s/kmsd.log", tmp);
	port = free_port();
	mport = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", mport);
	{
		const char *argv[] = {KMS_DEVSETUP_BIN, "--dir",    dev,    "--hsmd",
				      KMS_HSMD_BIN,     "--listen", listen, "--metrics",
				      metrics,          NULL};
		if (run(argv, out, sizeof(out)) != 0) {
			fprintf(stderr, "kms-devsetup failed:\n%s\n", out);
			return 1;
		}
	}
	snprintf(conf, sizeof(conf), "%s/kmsd.conf", dev);
	{
		/* a rate limit the tests' bursts fit in; test_rate_limit goes past it */
		FILE *f = fopen(conf, "a");
		if (f == NULL) {
			return 1;
		}
		fprintf(f, "rate_limit = 40\nrate_burst = 60\n");
		if (fclose(f) != 0) {
			return 1;
		}
	}
	if (start_kmsd(conf) != 0) {
		fprintf(stderr, "kmsd did not start; its log is %s\n", log_path);
		return 1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	int st = stop_kmsd();

	if (st != 0) {
		fprintf(stderr, "kmsd exit status %d; log %s\n", st, log_path);
	}
	return st == 0 ? 0 : 1;
}

/*
 * The second kmsd: the same domain, with UEs allowed to authenticate with a bearer token alone
 * (auth_ue = either, client certificates optional); MC servers still need mutual TLS.
 */
static int
token_suite_init(void)
{
	char src[400], dst[400], line[4096];
	FILE *in, *out;

	if (kmsd_pid > 0 || dev[0] == '\0') {
		return 1;
	}
	port = free_port();
	snprintf(src, sizeof(src), "%s/kmsd.conf", dev);
	snprintf(dst, sizeof(dst), "%s/kmsd-token.conf", tmp);
	if ((in = fopen(src, "r")) == NULL || (out = fopen(dst, "w")) == NULL) {
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, "listen", 6) == 0 || strncmp(line, "public_url", 10) == 0 ||
		    strncmp(line, "metrics_listen", 14) == 0 || strncmp(line, "auth_", 5) == 0 ||
		    strncmp(line, "rate_", 5) == 0) {
			continue;
		}
		fputs(line, out);
	}
	fprintf(out,
		"listen = 127.0.0.1:%u\npublic_url = https://127.0.0.1:%u\nauth_ue = either\n"
		"auth_server = mtls\nclient_cert = optional\nrate_limit = 0\n",
		port, port);
	(void)fclose(in);
	if (fclose(out) != 0 || start_kmsd(dst) != 0) {
		fprintf(stderr, "the token kmsd did not start; log %s\n", log_path);
		return 1;
	}
	return 0;
}

static int
token_suite_cleanup(void)
{
	int st = stop_kmsd();

	if (getenv("KMS_TEST_KEEP") == NULL) {
		kms_test_rmdir(tmp);
	}
	return st == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests */

static char resp[RESP_CAP];

static void
test_init(void)
{
	char *body = NULL;
	size_t blen = 0;
	char text[600];

	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			200);
	if (body == NULL) {
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "content-type: application/xml"));
	CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "x-request-id: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsInit"));
	CU_ASSERT_EQUAL(element_text(body, "KmsUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "kms.example.org");
	CU_ASSERT_EQUAL(element_text(body, "UserKeyPeriod", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "2592000");
	CU_ASSERT_EQUAL(element_text(body, "PubAuthKey", text, sizeof(text)), 0);
	CU_ASSERT_EQUAL(strlen(text), 130);
	CU_ASSERT_EQUAL(element_text(body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "ik.1.alice@example.org");
	CU_ASSERT_TRUE(schema_valid(body, blen));
	/* GET is served too (some clients use it) */
	CU_ASSERT_EQUAL(request("alice", "GET", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			200);
}

static void
test_keyprov(void)
{
	char *body = NULL;
	size_t blen = 0;
	char text[600];

	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			200);
	if (body == NULL) {
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsKeySet"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "xenc:EncryptedKey"));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad"));
	CU_ASSERT_EQUAL(element_text(body, "UserUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, ALICE_URI);
	CU_ASSERT_EQUAL(element_text(body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.1.alice@example.org");
	CU_ASSERT_TRUE(schema_valid(body, blen));
	/* the same with the identity in the URI, raw and encoded, and with a time */
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/" ALICE_URI, NULL, NULL, 0, resp,
				sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/sip%3Aalice%40example.org", NULL,
				NULL, 0, resp, sizeof(resp), &body, &blen),
			200);
	/* an MC server gets the identity it is entitled to */
	CU_ASSERT_EQUAL(request("mcptt-server", "POST", ROOT "/keyprov/" MCS_URI, NULL, NULL, 0,
				resp, sizeof(resp), &body, &blen),
			200);
}

/* kms-client, the independent client: unwrap with the TrK, check the signature with the InK,
 * validate the ECCSI pair and the SAKKE RSK against the KMS certificate. */
static void
test_kms_client(void)
{
	char out[16384];
	char url[96], ca[400], cert[400], key[400], trk[400], ink[400], outdir[400];
	const char *resources[][3] = {
		{"init", NULL, NULL}, {"keyprov", NULL, NULL}, {"certcache", NULL, NULL}};
	size_t i;

	snprintf(url, sizeof(url), "https://127.0.0.1:%u" ROOT, port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dev);
	snprintf(cert, sizeof(cert), "%s/clients/alice/cert.pem", dev);
	snprintf(key, sizeof(key), "%s/clients/alice/key.pem", dev);
	snprintf(trk, sizeof(trk), "%s/clients/alice/trk.hex", dev);
	snprintf(ink, sizeof(ink), "%s/clients/alice/ink.hex", dev);
	snprintf(outdir, sizeof(outdir), "%s/client-out", tmp);
	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		const char *argv[] = {KMS_CLIENT_BIN,
				      "--url",
				      url,
				      "--ca",
				      ca,
				      "--cert",
				      cert,
				      "--key",
				      key,
				      "--trk",
				      trk,
				      "--ink",
				      ink,
				      resources[i][0],
				      NULL};
		int st = run(argv, out, sizeof(out));
		if (st != 0) {
			fprintf(stderr, "kms-client %s: exit %d\n%s\n", resources[i][0], st, out);
		}
		CU_ASSERT_EQUAL(st, 0);
	}
	/* keyprov with --out: the material is written for other tools */
	{
		const char *argv[] = {
			KMS_CLIENT_BIN, "--url",   url,       "--ca", ca,      "--cert", cert,
			"--key",        key,       "--trk",   trk,    "--ink", ink,      "--out",
			outdir,         "keyprov", ALICE_URI, NULL};
		struct stat sb;
		char p[500];
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 0);
		snprintf(p, sizeof(p), "%s/response.xml", outdir);
		CU_ASSERT_EQUAL(stat(p, &sb), 0);
	}
	/* with bob's TrK, alice's material does not unwrap: kms-client says so (exit 1) */
	{
		char btrk[400], bink[400];
		snprintf(btrk, sizeof(btrk), "%s/clients/bob/trk.hex", dev);
		snprintf(bink, sizeof(bink), "%s/clients/bob/ink.hex", dev);
		const char *argv[] = {KMS_CLIENT_BIN, "--url", url,     "--ca",    ca,
				      "--cert",       cert,    "--key", key,       "--trk",
				      btrk,           "--ink", bink,    "keyprov", NULL};
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 1);
	}
}

/* A foreign identity gets the same answer whether it exists or not. */
static void
test_entitlement(void)
{
	char *body = NULL;
	size_t blen = 0;
	char code1[32] = "", msg1[200] = "", code2[32] = "", msg2[200] = "";

	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/" BOB_URI, NULL, NULL, 0, resp,
				sizeof(resp), &body, &blen),
			403);
	if (body != NULL) {
		CU_ASSERT_TRUE(schema_valid(body, blen));
		CU_ASSERT_EQUAL(element_text(body, "ErrorCode", code1, sizeof(code1)), 0);
		CU_ASSERT_EQUAL(element_text(body, "ErrorMsg", msg1, sizeof(msg1)), 0);
	}
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/sip:nobody@example.org", NULL, NULL,
				0, resp, sizeof(resp), &body, &blen),
			403);
	if (body != NULL) {
		CU_ASSERT_EQUAL(element_text(body, "ErrorCode", code2, sizeof(code2)), 0);
		CU_ASSERT_EQUAL(element_text(body, "ErrorMsg", msg2, sizeof(msg2)), 0);
	}
	CU_ASSERT_STRING_EQUAL(code1, code2);
	CU_ASSERT_STRING_EQUAL(msg1, msg2);
	CU_ASSERT_EQUAL(request("mcptt-server", "POST", ROOT "/keyprov/" ALICE_URI, NULL, NULL, 0,
				resp, sizeof(resp), &body, &blen),
			403);
	CU_ASSERT_EQUAL(request("mcptt-server", "POST", ROOT "/keyprov/sip:nobody@example.org",
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

	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/nothing", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			404);
	if (body != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(body, "<KmsError>"));
		CU_ASSERT_TRUE(schema_valid(body, blen));
	}
	CU_ASSERT_EQUAL(request("alice", "PUT", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			405);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/" ALICE_URI "/D6B43232", NULL, NULL,
				0, resp, sizeof(resp), &body, &blen),
			400);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/sip%00x", NULL, NULL, 0, resp,
				sizeof(resp), &body, &blen),
			400);
	/* a time long before the key periods served */
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov/" ALICE_URI "/D6B4323200000000",
				NULL, NULL, 0, resp, sizeof(resp), &body, &blen),
			404);
	memset(big, 'a', sizeof(big));
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/init", NULL, big, sizeof(big), resp,
				sizeof(resp), &body, &blen),
			413);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/init", NULL, "<KmsRequest", 11, resp,
				sizeof(resp), &body, &blen),
			400);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov", NULL, xxe, sizeof(xxe) - 1, resp,
				sizeof(resp), &body, &blen),
			400);
	if (body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "root:"));
	}
	/* a well-formed body is accepted; one naming another user is refused */
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov", NULL, good, sizeof(good) - 1,
				resp, sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/keyprov", NULL, other, sizeof(other) - 1,
				resp, sizeof(resp), &body, &blen),
			400);
	/* a bearer token that does not verify: 401, even with a good certificate */
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/init", "Authorization: Bearer a.b.c\r\n",
				NULL, 0, resp, sizeof(resp), &body, &blen),
			401);
	/* and the server is still there */
	CU_ASSERT_EQUAL(request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			200);
}

static void
test_no_certificate(void)
{
	struct conn c;

	/* the handshake itself fails: client certificates are required */
	CU_ASSERT_NOT_EQUAL(conn_open(&c, NULL) == 0 &&
				    conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp,
						 sizeof(resp), &(char *){NULL},
						 &(size_t){0}) == 200,
			    1);
	conn_close(&c);
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
	struct conn c;
	int i;

	if (conn_open(&c, a->name) != 0) {
		conn_close(&c);
		return NULL;
	}
	for (i = 0; i < 25; i++) {
		char *body = NULL;
		size_t blen = 0;
		char text[300];
		int s = conn_request(&c, "POST", ROOT "/keyprov", NULL, NULL, 0, buf, sizeof(buf),
				     &body, &blen);
		a->total++;
		if (s == 200 && element_text(body, "UserUri", text, sizeof(text)) == 0 &&
		    strcmp(text, a->uri) == 0 && strstr(body, a->name) != NULL) {
			a->good++;
		}
	}
	conn_close(&c);
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

	snprintf(url, sizeof(url), "https://127.0.0.1:%u" ROOT "/init", port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dev);
	snprintf(cert, sizeof(cert), "%s/clients/bob/cert.pem", dev);
	snprintf(key, sizeof(key), "%s/clients/bob/key.pem", dev);
	{
		const char *argv[] = {"/usr/bin/curl",
				      "-sS",
				      "--http2",
				      "-X",
				      "POST",
				      "--cacert",
				      ca,
				      "--cert",
				      cert,
				      "--key",
				      key,
				      "-w",
				      "\nHTTPVERSION=%{http_version} STATUS=%{http_code}\n",
				      url,
				      NULL};
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "HTTPVERSION=2 STATUS=200"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "<KmsInit"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "ik.1.bob@example.org"));
	}
	/* TLS 1.1 is refused */
	{
		const char *argv[] = {
			"/usr/bin/curl", "-sS", "--tlsv1.1", "--tls-max", "1.1", "--cacert", ca,
			"--cert",        cert,  "--key",     key,         url,   NULL};
		CU_ASSERT_NOT_EQUAL(run(argv, out, sizeof(out)), 0);
	}
}

static void
test_metrics(void)
{
	char out[16384];
	char url[96];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", mport);
	{
		const char *argv[] = {"/usr/bin/curl", "-sS", url, NULL};
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "kms_requests_total{status=\"2xx\"}"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "kms_key_sets_provisioned_total"));
		CU_ASSERT_PTR_NULL(strstr(out, "kms_key_sets_provisioned_total 0\n"));
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", mport);
	{
		const char *argv[] = {"/usr/bin/curl",       "-sS", "-w",
				      "STATUS=%{http_code}", url,   NULL};
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "STATUS=200"));
	}
}

/* The pids of kmsd's children (the kms-hsmd processes), from every thread's children list
 * (a process restarted by the supervising thread is that thread's child). */
static size_t
hsmd_pids(pid_t *out, size_t cap)
{
	char path[512], buf[4096];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)kmsd_pid);
	if ((d = opendir(path)) == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL && n < cap) {
		int fd;
		char *p;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/children", (long)kmsd_pid,
			 e->d_name);
		if ((fd = open(path, O_RDONLY)) < 0) {
			continue;
		}
		buf[kms_test_read_fd(fd, buf, sizeof(buf) - 1)] = '\0';
		(void)close(fd);
		for (p = buf; *p != '\0' && n < cap;) {
			long v = strtol(p, &p, 10);
			if (v <= 0) {
				break;
			}
			out[n++] = (pid_t)v;
		}
	}
	(void)closedir(d);
	return n;
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
	s = request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
		    &blen);
	CU_ASSERT(s == 503 || s == 200);
	if (s == 503) {
		CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	}
	for (tries = 0; tries < 200 && s != 200; tries++) {
		usleep(100000);
		s = request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp),
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

	snprintf(store, sizeof(store), "%s/kms.db", dev);
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store, "audit", "verify", NULL};
		int st = run(argv, out, sizeof(out));
		if (st != 0) {
			fprintf(stderr, "kms-admin audit verify: %d\n%s\n", st, out);
		}
		CU_ASSERT_EQUAL(st, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "OK"));
	}
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store,    "audit", "show",
				      "--client",    ALICE_URI, "--json", NULL};
		CU_ASSERT_EQUAL(run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "provisioned"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "tk.1.alice@example.org"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused"));
	}
}

/* A client past its rate limit gets 429 with Retry-After; the others are not affected. */
static void
test_rate_limit(void)
{
	struct conn c;
	char *body = NULL;
	size_t blen = 0;
	int i, limited = 0, s;

	CU_ASSERT_EQUAL_FATAL(conn_open(&c, "mcptt-server"), 0);
	for (i = 0; i < 200 && limited == 0; i++) {
		s = conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp), &body,
				 &blen);
		CU_ASSERT(s == 200 || s == 429);
		if (s == 429) {
			limited = 1;
			CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
			CU_ASSERT_PTR_NOT_NULL(strstr(body, "<ErrorCode>429</ErrorCode>"));
		}
	}
	conn_close(&c);
	CU_ASSERT_EQUAL(limited, 1);
	CU_ASSERT(i > 40); /* the burst went through first */
	/* another client is served meanwhile */
	CU_ASSERT_EQUAL(request("bob", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				&body, &blen),
			200);
}

/* A bearer token from the development IdMS key (kms-devsetup token), extra options appended. */
static int
mint(char *out, size_t cap, const char *mcid, const char *opt, const char *val)
{
	const char *argv[] = {KMS_DEVSETUP_BIN, "token", "--dir", dev, "--sub", "test",
			      "--mcid",         mcid,    opt,     val, NULL};
	char *nl;

	if (opt == NULL) {
		argv[8] = NULL;
	}
	if (run(argv, out, cap) != 0) {
		return -1;
	}
	if ((nl = strchr(out, '\n')) != NULL) {
		*nl = '\0';
	}
	return strlen(out) > 20 ? 0 : -1;
}

static const char *last_body = "";

static int
with_token(const char *name, const char *token, const char *path)
{
	char hdr[9000];
	char *body = NULL;
	size_t blen = 0;
	int s;

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	s = request(name, "POST", path, token != NULL ? hdr : NULL, NULL, 0, resp, sizeof(resp),
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

	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, NULL, NULL), 0);
	/* no client certificate: the token's MC service ID names the client */
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 200);
	CU_ASSERT_EQUAL(element_text(last_body, "UserUri", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, ALICE_URI);
	CU_ASSERT_EQUAL(element_text(last_body, "ds:KeyName", text, sizeof(text)), 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.1.alice@example.org");
	/* alice's token gets alice's identity only */
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov/" BOB_URI), 403);
	/* neither a certificate nor a token */
	CU_ASSERT_EQUAL(request(NULL, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
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
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, "--now", "1700000000"), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, "--aud", "other.example.org"), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, "--iss", "https://evil.example"),
			      0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	/* no key-management scope: insufficient_scope */
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, "--scope", "openid"), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 403);
	/* a token for an identity that is no enrolled client */
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), "sip:mallory@example.org", NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	/* an MC server must still use mutual TLS (auth_server = mtls) */
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), MCS_URI, NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
	CU_ASSERT_EQUAL(with_token("mcptt-server", NULL, ROOT "/keyprov"), 200);
	/* a tampered signature */
	CU_ASSERT_EQUAL_FATAL(mint(tok, sizeof(tok), ALICE_URI, NULL, NULL), 0);
	tok[strlen(tok) - 3] = tok[strlen(tok) - 3] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(with_token(NULL, tok, ROOT "/keyprov"), 401);
}

static CU_TestInfo token_tests[] = {
	{"a bearer token alone", test_token_only},
	{"bad tokens are refused", test_token_refused},
	CU_TEST_INFO_NULL,
};

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
	{"the audit log", test_audit},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"kmsd", suite_init, suite_cleanup, NULL, NULL, kmsd_tests},
	{"kmsd with bearer tokens", token_suite_init, token_suite_cleanup, NULL, NULL, token_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	int r;

	(void)signal(SIGPIPE, SIG_IGN); /* a server that closes is an error to see, not a death */
	xmlInitParser();
	r = kms_test_main(suites);
	xmlCleanupParser();
	return r;
}

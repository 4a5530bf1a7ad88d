/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* strcasestr */
#include "tests/integration/itest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "tests/unit/kms_test.h"

#include "common/banned.h"

extern char **environ;

char it_tmp[256];
char it_dev[300];
char it_log[320];
uint16_t it_port, it_mport;
pid_t it_kmsd_pid = -1;

/* ------------------------------------------------------------------------------------------ */
/* Processes */

/* Run argv (argv[0] a path) with its output (stdout and stderr) into out; its exit status. */
/* A writable copy of argv for posix_spawn (NULL-terminated, at most 31 arguments). */
struct it_argv {
	char *v[32];
};

static void
it_argv_dup(struct it_argv *c, const char *const argv[])
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 31 && argv[i] != NULL; i++) {
		c->v[i] = strdup(argv[i]);
	}
}

static void
it_argv_free(struct it_argv *c)
{
	size_t i;

	for (i = 0; i < 32; i++) {
		free(c->v[i]);
	}
}

int
it_report_value(const char *out, const char *name, double *v)
{
	char key[128];
	const char *p;
	char *end = NULL;

	snprintf(key, sizeof(key), "\n%s ", name);
	if ((p = strstr(out, key)) == NULL) {
		return -1;
	}
	p += strlen(key);
	*v = strtod(p, &end);
	return end != p && (*end == '\n' || *end == '\0') ? 0 : -1;
}

int
it_run(const char *const argv[], char *out, size_t cap)
{
	char path[400];
	posix_spawn_file_actions_t fa;
	struct it_argv a;
	pid_t pid;
	int st = -1, fd, sr;

	snprintf(path, sizeof(path), "%s/run.out", it_tmp);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	it_argv_dup(&a, argv);
	sr = posix_spawn(&pid, argv[0], &fa, NULL, a.v, environ);
	it_argv_free(&a);
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
uint16_t
it_free_port(void)
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

int
it_tcp_connect(uint16_t p)
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

long
it_read_line(const char *path, char *out, size_t cap)
{
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || cap == 0) {
		if (fd >= 0) {
			(void)close(fd);
		}
		return -1;
	}
	len = kms_test_read_fd(fd, out, cap - 1);
	(void)close(fd);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r')) {
		len--;
	}
	out[len] = '\0';
	return (long)len;
}

size_t
it_read_hex(const char *path, uint8_t *out, size_t cap)
{
	char hex[2048];

	return it_read_line(path, hex, sizeof(hex)) < 0 ? 0 : kms_test_hex(out, cap, hex);
}

int
it_main(CU_SuiteInfo *suites)
{
	int r;

	(void)signal(SIGPIPE, SIG_IGN);
	xmlInitParser();
	r = kms_test_main(suites);
	xmlCleanupParser();
	return r;
}

/* The status of one GET /healthz on the local listener, or -1. */
static int
healthz_status(void)
{
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	char buf[64];
	size_t len = 0;
	ssize_t n;
	int fd = it_tcp_connect(it_mport), status = -1;

	if (fd < 0) {
		return -1;
	}
	if (write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1) {
		while (len < sizeof(buf) - 1 &&
		       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
		}
		buf[len] = '\0';
		if (len > 12 && strncmp(buf, "HTTP/1.", 7) == 0) {
			status = (int)strtol(buf + 9, NULL, 10);
		}
	}
	(void)close(fd);
	return status;
}

int
it_wait_healthy(int ms)
{
	int waited;

	for (waited = 0; waited <= ms; waited += 50) {
		if (healthz_status() == 200) {
			return 0;
		}
		usleep(50000);
	}
	return -1;
}

int
it_start_kmsd(const char *conf)
{
	const char *argv[] = {KMSD_BIN, "-c", conf, NULL};
	posix_spawn_file_actions_t fa;
	struct it_argv a;
	int i, sr;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, it_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 2, 1); /* nothing of the test's own output */
	it_argv_dup(&a, argv);
	sr = posix_spawn(&it_kmsd_pid, KMSD_BIN, &fa, NULL, a.v, environ);
	it_argv_free(&a);
	posix_spawn_file_actions_destroy(&fa);
	if (sr != 0) {
		return -1;
	}
	for (i = 0; i < 600; i++) { /* up to 60 s (sanitizer builds start slowly) */
		int fd = it_tcp_connect(it_port);
		if (fd >= 0) {
			(void)close(fd);
			return 0;
		}
		if (waitpid(it_kmsd_pid, NULL, WNOHANG) == it_kmsd_pid) {
			it_kmsd_pid = -1;
			return -1;
		}
		usleep(100000);
	}
	return -1;
}

int
it_stop_kmsd(void)
{
	int st = -1;

	if (it_kmsd_pid <= 0) {
		return -1;
	}
	(void)kill(it_kmsd_pid, SIGTERM);
	(void)waitpid(it_kmsd_pid, &st, 0);
	it_kmsd_pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------------------------------------ */
/* A suite's domain, configurations, kms-client */

int
it_make_domain(const char *tag, const char *const extra[])
{
	char out[8192], listen[64], metrics[64];
	const char *argv[20] = {KMS_DEVSETUP_BIN, "--dir", it_dev,      "--hsmd", KMS_HSMD_BIN,
				"--listen",       listen,  "--metrics", metrics};
	size_t n = 9, i;

	if (kms_test_tmpdir(it_tmp, sizeof(it_tmp), tag) != 0) {
		return -1;
	}
	snprintf(it_dev, sizeof(it_dev), "%s/dev", it_tmp);
	snprintf(it_log, sizeof(it_log), "%s/kmsd.log", it_tmp);
	it_port = it_free_port();
	it_mport = it_free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", it_port);
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", it_mport);
	for (i = 0; extra != NULL && extra[i] != NULL && i < 8; i++) {
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	if (it_run(argv, out, sizeof(out)) != 0) {
		fprintf(stderr, "kms-devsetup failed:\n%s\n", out);
		return -1;
	}
	return 0;
}

int
it_start_domain_kmsd(const char *conf)
{
	char path[400];

	if (conf == NULL) {
		snprintf(path, sizeof(path), "%s/kmsd.conf", it_dev);
		conf = path;
	}
	if (it_start_kmsd(conf) != 0) {
		fprintf(stderr, "kmsd (%s) did not start; its log is %s\n", conf, it_log);
		return -1;
	}
	return 0;
}

int
it_suite_cleanup(void)
{
	int st;

	if (it_kmsd_pid <= 0) {
		/* a test stopped kmsd itself (and checked how): keep the directory after a failure
		 */
		if (it_tmp[0] != '\0' && CU_get_number_of_failures() == 0 &&
		    getenv("KMS_TEST_KEEP") == NULL) {
			kms_test_rmdir(it_tmp);
		}
		return 0;
	}
	st = it_stop_kmsd();
	if (st != 0) {
		fprintf(stderr, "kmsd exit status %d; log %s (kept)\n", st, it_log);
	} else if (CU_get_number_of_failures() != 0) {
		fprintf(stderr, "a test failed; kmsd's log %s (kept)\n", it_log);
	} else if (it_tmp[0] != '\0' && getenv("KMS_TEST_KEEP") == NULL) {
		kms_test_rmdir(
			it_tmp); /* the domain, its token and logs; KMS_TEST_KEEP keeps them */
	}
	return st == 0 ? 0 : 1;
}

/* Whether the configuration line line sets a key that a line of overrides names. */
static int
it_conf_overridden(const char *line, const char *overrides)
{
	size_t klen = strcspn(line, " \t=\n");
	const char *o;

	if (klen == 0 || line[0] == '#') {
		return 0;
	}
	for (o = overrides; *o != '\0'; o += strcspn(o, "\n"), o += *o == '\n') {
		if (strncmp(o, line, klen) == 0 &&
		    (o[klen] == '\0' || strchr(" \t=\n", o[klen]) != NULL)) {
			return 1;
		}
	}
	return 0;
}

int
it_conf_variant(const char *src, const char *dst, const char *overrides)
{
	static char buf[64 * 1024];
	const char *line, *o;
	size_t n, len;
	FILE *f;

	if ((f = fopen(src, "r")) == NULL) {
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	if (n == sizeof(buf) - 1 || (f = fopen(dst, "w")) == NULL) {
		return -1;
	}
	buf[n] = '\0';
	for (line = buf; *line != '\0'; line += len) {
		len = strcspn(line, "\n");
		len += line[len] == '\n';
		if (!it_conf_overridden(line, overrides)) {
			(void)fwrite(line, 1, len, f);
		}
	}
	for (o = overrides; *o != '\0'; o += len) {
		len = strcspn(o, "\n");
		len += o[len] == '\n';
		if (memchr(o, '=', len) != NULL) {
			(void)fwrite(o, 1, len, f);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

void
it_client_path(char *out, size_t cap, const char *name, const char *file)
{
	snprintf(out, cap, "%s/clients/%s/%s", it_dev, name, file);
}

int
it_kms_client(const char *name, const char *const args[], char *out, size_t cap)
{
	char url[96], ca[400], cert[400], key[400], trk[400], ink[400];
	const char *argv[28] = {KMS_CLIENT_BIN, "--url", url,     "--ca", ca,      "--cert", cert,
				"--key",        key,     "--trk", trk,    "--ink", ink};
	size_t n = 13, i;

	snprintf(url, sizeof(url), "https://127.0.0.1:%u" ROOT, it_port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
	it_client_path(cert, sizeof(cert), name, "cert.pem");
	it_client_path(key, sizeof(key), name, "key.pem");
	it_client_path(trk, sizeof(trk), name, "trk.hex");
	it_client_path(ink, sizeof(ink), name, "ink.hex");
	for (i = 0; args[i] != NULL && i < 11; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return it_run(argv, out, cap);
}

int
it_kms_client_cmd(const char *name, const char *cmd)
{
	static char out[16384];
	const char *args[] = {cmd, NULL};
	int st = it_kms_client(name, args, out, sizeof(out));

	if (st != 0) {
		fprintf(stderr, "kms-client %s (as %s): exit %d\n%s\n", cmd, name, st, out);
	}
	return st;
}

/* ------------------------------------------------------------------------------------------ */
/* A small HTTPS client */

/* Connect as client name (clients/<name>/cert.pem), or without a certificate (NULL). */
int
it_conn_open(struct it_conn *c, const char *name)
{
	char ca[400], cert[400], key[400];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
		return -1;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (name != NULL) {
		it_client_path(cert, sizeof(cert), name, "cert.pem");
		it_client_path(key, sizeof(key), name, "key.pem");
		if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
			return -1;
		}
	}
	if ((c->fd = it_tcp_connect(it_port)) < 0 || (c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, "127.0.0.1") != 1) {
		return -1;
	}
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

void
it_conn_close(struct it_conn *c)
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
int
it_conn_request(struct it_conn *c, const char *method, const char *path, const char *extra,
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
int
it_request(const char *name, const char *method, const char *path, const char *extra,
	   const char *body, size_t body_len, char *out, size_t cap, char **out_body, size_t *blen)
{
	struct it_conn c;
	int s = -1;

	if (it_conn_open(&c, name) == 0) {
		s = it_conn_request(&c, method, path, extra, body, body_len, out, cap, out_body,
				    blen);
	}
	it_conn_close(&c);
	return s;
}

/* The text of the first element named name in xml (a crude look, for assertions). */
int
it_element_text(const char *xml, const char *name, char *out, size_t cap)
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
int
it_schema_valid(const char *body, size_t len)
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

/* A bearer token from the development IdMS key (kms-devsetup token), extra options appended. */
int
it_mint(char *out, size_t cap, const char *mcid, const char *opt, const char *val)
{
	const char *argv[] = {KMS_DEVSETUP_BIN, "token", "--dir", it_dev, "--sub", "test",
			      "--mcid",         mcid,    opt,     val,    NULL};
	char *nl;

	if (opt == NULL) {
		argv[8] = NULL;
	}
	if (it_run(argv, out, cap) != 0) {
		return -1;
	}
	if ((nl = strchr(out, '\n')) != NULL) {
		*nl = '\0';
	}
	return strlen(out) > 20 ? 0 : -1;
}

/* Whether child is ThreadSanitizer's symbolizer (a sanitizer build's kmsd starts it as its
 * child before its sandbox, kms/sandbox.c): not one of the program's own children. */
static int
is_symbolizer(long child)
{
	char path[64], comm[32];
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", child);
	if ((fd = open(path, O_RDONLY)) < 0) {
		return 0;
	}
	len = kms_test_read_fd(fd, comm, sizeof(comm) - 1);
	(void)close(fd);
	comm[len] = '\0';
	return strcmp(comm, "llvm-symbolizer\n") == 0;
}

size_t
it_children(pid_t pid, pid_t *out, size_t cap)
{
	char path[512], buf[4096];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL && n < cap) {
		char *p;
		int fd;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/children", (long)pid, e->d_name);
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
			if (!is_symbolizer(v)) {
				out[n++] = (pid_t)v;
			}
		}
	}
	(void)closedir(d);
	return n;
}

/* Read the hex file path (one line of hex digits) into n->bytes (at most 64 bytes: enough of a
 * key to identify it; an RSK is looked for by its first 64 octets). */
int
it_needle_from_hex(struct it_needle *n, const char *what, const char *path, size_t skip)
{
	char hex[1200];
	size_t len = 0, i;
	int fd = open(path, O_RDONLY);

	memset(n, 0, sizeof(*n));
	n->what = what;
	if (fd < 0) {
		return -1;
	}
	len = kms_test_read_fd(fd, hex, sizeof(hex) - 1);
	(void)close(fd);
	while (len > 0 && (hex[len - 1] == '\n' || hex[len - 1] == '\r')) {
		len--;
	}
	hex[len] = '\0';
	if (len % 2 != 0 || len / 2 <= skip) {
		return -1;
	}
	for (i = 0; i < 64 && skip + i < len / 2; i++) {
		unsigned int b;
		if (sscanf(hex + 2 * (skip + i), "%2x", &b) != 1) {
			return -1;
		}
		n->bytes[i] = (uint8_t)b;
	}
	n->len = i;
	return 0;
}

/*
 * Search every readable mapping of pid (/proc/PID/maps, /proc/PID/mem) for the needles. The
 * number of bytes read, or 0 if the memory could not be read at all.
 */
size_t
it_scan_memory(pid_t pid, struct it_needle *needles, size_t num)
{
	char path[64], line[512];
	FILE *maps;
	size_t total = 0, i;
	int mem;
	static uint8_t buf[1 << 20];

	/*
	 * Only mappings kmsd really uses: reading a reserved but untouched region through
	 * /proc/PID/mem makes the kernel back it with pages, which for a sanitizer build's
	 * terabytes of shadow memory ends in the OOM killer.
	 */

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	if ((maps = fopen(path, "r")) == NULL) {
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if ((mem = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "cannot open %s: %s (the test needs CAP_SYS_PTRACE as root)\n",
			path, strerror(errno));
		(void)fclose(maps);
		return 0;
	}
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long a, b;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || perms[0] != 'r' ||
		    strstr(line, "[vvar]") != NULL || b - a > (1ul << 30)) {
			continue;
		}
		/* in chunks that overlap by 63 bytes, so no needle falls between two */
		while (a < b) {
			size_t want = b - a > sizeof(buf) ? sizeof(buf) : b - a;
			ssize_t got = pread(mem, buf, want, (off_t)a);
			if (got <= 0) {
				break;
			}
			total += (size_t)got;
			for (i = 0; i < num; i++) {
				if (memmem(buf, (size_t)got, needles[i].bytes, needles[i].len) !=
				    NULL) {
					needles[i].found = 1;
				}
			}
			a += (size_t)got > 63 && (size_t)got == want && a + want < b
				     ? (size_t)got - 63
				     : (size_t)got;
		}
	}
	(void)close(mem);
	(void)fclose(maps);
	return total;
}

int
it_scan_control(struct it_needle *n, const char *name)
{
	static char resp[RESP_CAP];
	uint8_t rnd[16];
	char extra[128], *body = NULL;
	size_t blen = 0, i;

	memset(n, 0, sizeof(*n));
	n->what = "control";
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		return -1;
	}
	memcpy(n->bytes, "scan-control-", 13);
	for (i = 0; i < sizeof(rnd); i++) {
		snprintf((char *)n->bytes + 13 + 2 * i, 3, "%02x", rnd[i]);
	}
	n->len = 13 + 2 * sizeof(rnd);
	snprintf(extra, sizeof(extra), "X-Scan: %.*s\r\n", (int)n->len, (const char *)n->bytes);
	return it_request(name, "POST", ROOT "/init", extra, NULL, 0, resp, sizeof(resp), &body,
			  &blen) == 200
		       ? 0
		       : -1;
}

int
it_curl_http2(const char *name, const char *path, char *out, size_t cap)
{
	char url[2200], ca[400], cert[400], key[400];
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

	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", it_port, path);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
	it_client_path(cert, sizeof(cert), name, "cert.pem");
	it_client_path(key, sizeof(key), name, "key.pem");
	return it_run(argv, out, cap);
}

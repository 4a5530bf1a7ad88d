/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd under a service manager (label integration): the sd_notify(3) messages on a datagram
 * socket of the test's own ($NOTIFY_SOCKET: READY=1 once serving, RELOADING=1 with
 * MONOTONIC_USEC= and READY=1 around a SIGHUP, STOPPING=1 on SIGTERM), and what SIGHUP
 * reloads without dropping connections: a kept-alive connection made before it serves on with
 * its certificate, new connections get the new server certificate (a second one for the same
 * names, issued here by the development CA of pki/), a broken certificate or a key that does
 * not match leaves the one in force, a later good reload works, client_spki mappings come and
 * go, and keys that need a restart are logged as ignored. A second suite does the same with
 * the server key in the token (tls_key_token): the new certificate must be for the token's key.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define WAIT_S 60 /* sanitizer builds are slow to start and to reload */

static int notify_fd = -1;
static char conf_path[400];   /* the kmsd.conf kmsd was started with */
static char cert_path[400];   /* tls_cert of that configuration: rewritten by the tests */
static char key_path[400];    /* tls_key, or "" with the key in the token */
static char first_cert[400];  /* a copy of the certificate kms-devsetup made */
static char first_key[400];   /* and of its key */
static char ready_msg[1024];  /* the first READY=1 message */
static int cert_serial = 100; /* serial numbers of the certificates made here */

/* ------------------------------------------------------------------------------------------ */
/* The notification socket */

static int
notify_open(void)
{
	struct sockaddr_un a;
	char path[400];

	snprintf(path, sizeof(path), "%s/notify", it_tmp);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "the temporary directory's name is too long for a socket\n");
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path));
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(notify_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("notify socket");
		return -1;
	}
	return setenv("NOTIFY_SOCKET", path, 1) == 0 ? 0 : -1;
}

static void
notify_close(void)
{
	if (notify_fd >= 0) {
		(void)close(notify_fd);
		notify_fd = -1;
	}
}

/* Whether the message msg has the line want ("KEY=VALUE"). */
static int
has_line(const char *msg, const char *want)
{
	size_t len = strlen(want);
	const char *p;

	for (p = msg; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, want, len) == 0 && (p[len] == '\n' || p[len] == '\0')) {
			return 1;
		}
	}
	return 0;
}

/*
 * Wait up to WAIT_S seconds for the next message; skip nothing: 0 with the message in out if it
 * has the line want, -1 if the next message has not (said on stderr) or none comes.
 */
static int
notify_next(const char *want, char *out, size_t cap)
{
	struct pollfd p = {notify_fd, POLLIN, 0};
	ssize_t n;

	out[0] = '\0';
	if (notify_fd < 0 || poll(&p, 1, WAIT_S * 1000) != 1) {
		fprintf(stderr, "no notification came (waiting for %s)\n", want);
		return -1;
	}
	if ((n = recv(notify_fd, out, cap - 1, 0)) < 0) {
		return -1;
	}
	out[n] = '\0';
	if (!has_line(out, want)) {
		fprintf(stderr, "the notification was not %s but:\n%s\n", want, out);
		return -1;
	}
	return 0;
}

/* Whether a message is waiting (one that nothing asked for), within ms. */
static int
notify_pending(int ms)
{
	struct pollfd p = {notify_fd, POLLIN, 0};

	return poll(&p, 1, ms) == 1;
}

/* SIGHUP kmsd and take RELOADING=1 (with MONOTONIC_USEC=) and READY=1: 0, and the READY=1
 * message in out; -1. */
static int
reload(char *out, size_t cap)
{
	char msg[1024];

	if (kill(it_kmsd_pid, SIGHUP) != 0 || notify_next("RELOADING=1", msg, sizeof(msg)) != 0) {
		return -1;
	}
	if (strstr(msg, "\nMONOTONIC_USEC=") == NULL) {
		fprintf(stderr, "RELOADING=1 without MONOTONIC_USEC=:\n%s\n", msg);
		return -1;
	}
	return notify_next("READY=1", out, cap);
}

/* ------------------------------------------------------------------------------------------ */
/* Certificates */

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	(void)fclose(f);
	return x;
}

static EVP_PKEY *
read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	(void)fclose(f);
	return k;
}

/* Copy the file src to dst through dst.tmp and a rename (what an operator should do). */
static int
copy_file(const char *src, const char *dst)
{
	char buf[16384], tmp[420];
	FILE *in, *out;
	size_t n;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	if ((in = fopen(src, "rb")) == NULL) {
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), in);
	(void)fclose(in);
	if ((out = fopen(tmp, "wb")) == NULL) {
		return -1;
	}
	ok = fwrite(buf, 1, n, out) == n;
	ok &= fclose(out) == 0;
	return ok && rename(tmp, dst) == 0 ? 0 : -1;
}

static int
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL) {
		return -1;
	}
	ok = fputs(text, f) >= 0;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

static int
add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL) {
		return 0;
	}
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/*
 * A server certificate for localhost and 127.0.0.1 issued by the domain's development CA
 * (pki/ca.pem, pki/ca-key.pem) into cert_out: for pub's key (NULL: a new P-256 key, written to
 * key_out). Each has a serial number of its own. 0, or -1.
 */
static int
make_server_cert(const char *cert_out, const char *key_out, EVP_PKEY *pub)
{
	char ca_path[400], ca_key_path[400];
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	FILE *f = NULL;
	int r = -1;

	snprintf(ca_path, sizeof(ca_path), "%s/pki/ca.pem", it_dev);
	snprintf(ca_key_path, sizeof(ca_key_path), "%s/pki/ca-key.pem", it_dev);
	if ((ca = read_cert(ca_path)) == NULL || (ca_key = read_key(ca_key_path)) == NULL) {
		fprintf(stderr, "the development CA (%s, %s) cannot be read\n", ca_path,
			ca_key_path);
		goto out;
	}
	if (pub != NULL) {
		if (EVP_PKEY_up_ref(pub) != 1) {
			goto out;
		}
		key = pub;
	} else if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		goto out;
	}
	if ((x = X509_new()) == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), cert_serial++) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				       (const unsigned char *)"localhost (reloaded)", -1, -1,
				       0) != 1 ||
	    !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, ca, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(x, ca, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
	    X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		fprintf(stderr, "cannot make a server certificate\n");
		goto out;
	}
	if (pub == NULL) {
		if ((f = fopen(key_out, "w")) == NULL ||
		    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
			goto out;
		}
		(void)fclose(f);
		(void)chmod(key_out, 0600);
	}
	if ((f = fopen(cert_out, "w")) == NULL || PEM_write_X509(f, x) != 1) {
		goto out;
	}
	r = 0;
out:
	if (f != NULL) {
		(void)fclose(f);
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return r;
}

/* Whether the server's certificate on c is the first certificate of the file path. */
static int
conn_cert_is(struct it_conn *c, const char *path)
{
	X509 *want = read_cert(path);
	X509 *got = SSL_get1_peer_certificate(c->ssl);
	int same = want != NULL && got != NULL && X509_cmp(want, got) == 0;

	X509_free(want);
	X509_free(got);
	return same;
}

/* A new connection as alice: whether it gets the certificate of path and 200 for init. */
static int
new_conn_sees(const char *path)
{
	static char resp[RESP_CAP];
	struct it_conn c;
	char *body = NULL;
	size_t blen = 0;
	int ok = 0;

	if (it_conn_open(&c, "alice") == 0) {
		ok = conn_cert_is(&c, path) &&
		     it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				     &body, &blen) == 200;
	}
	it_conn_close(&c);
	return ok;
}

/* Whether kmsd's log has text. */
static int
log_has(const char *text)
{
	static char buf[1 << 20];
	FILE *f = fopen(it_log, "r");
	size_t n;

	if (f == NULL) {
		return 0;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Set-up */

/*
 * A domain (with extra kms-devsetup arguments), tls_cert (and tls_key) pointed at files of the
 * test's own, the notification socket, kmsd started with NOTIFY_SOCKET set; READY=1 taken.
 */
static int
start(const char *tag, const char *const extra[], int in_token)
{
	char overrides[1024];

	if (it_make_domain(tag, extra) != 0 || notify_open() != 0) {
		return 1;
	}
	snprintf(conf_path, sizeof(conf_path), "%s/kmsd.conf", it_dev);
	snprintf(cert_path, sizeof(cert_path), "%s/tls-cert.pem", it_tmp);
	snprintf(first_cert, sizeof(first_cert), "%s/pki/server.pem", it_dev);
	key_path[0] = '\0';
	first_key[0] = '\0';
	if (copy_file(first_cert, cert_path) != 0) {
		return 1;
	}
	if (in_token) {
		snprintf(overrides, sizeof(overrides), "tls_cert = %s\n", cert_path);
	} else {
		snprintf(key_path, sizeof(key_path), "%s/tls-key.pem", it_tmp);
		snprintf(first_key, sizeof(first_key), "%s/pki/server-key.pem", it_dev);
		if (copy_file(first_key, key_path) != 0) {
			return 1;
		}
		snprintf(overrides, sizeof(overrides), "tls_cert = %s\ntls_key = %s\n", cert_path,
			 key_path);
	}
	if (it_conf_variant(conf_path, conf_path, overrides) != 0 ||
	    it_start_domain_kmsd(conf_path) != 0) {
		(void)unsetenv("NOTIFY_SOCKET");
		return 1;
	}
	(void)unsetenv("NOTIFY_SOCKET"); /* only kmsd gets it */
	return notify_next("READY=1", ready_msg, sizeof(ready_msg)) == 0 ? 0 : 1;
}

static int
suite_init(void)
{
	return start("reload-it", NULL, 0);
}

static int
suite_init_token(void)
{
	static const char *const extra[] = {"--tls-in-token", NULL};

	return start("reload-token-it", extra, 1);
}

static int
suite_cleanup(void)
{
	int r = it_suite_cleanup();

	notify_close();
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Key file mode */

/* READY=1 came once kmsd served, with a STATUS= saying so; kms-hsmd did not get the socket. */
static void
test_ready(void)
{
	pid_t kids[64];
	size_t n, i, checked = 0;

	CU_ASSERT(has_line(ready_msg, "READY=1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ready_msg, "\nSTATUS=serving https://127.0.0.1:"));
	CU_ASSERT_EQUAL(new_conn_sees(first_cert), 1);
	n = it_children(it_kmsd_pid, kids, 64);
	CU_ASSERT(n >= 1);
	/* kms-hsmd is not dumpable: its environ is readable by root only (the check is root's) */
	for (i = 0; i < n; i++) {
		char path[64], env[65536];
		FILE *f;
		size_t len, j;

		snprintf(path, sizeof(path), "/proc/%ld/environ", (long)kids[i]);
		if ((f = fopen(path, "rb")) == NULL) {
			continue; /* not ours to read, or gone */
		}
		len = fread(env, 1, sizeof(env) - 1, f);
		(void)fclose(f);
		for (j = 0; j < len; j++) {
			env[j] = env[j] == '\0' ? '\n' : env[j];
		}
		env[len] = '\0';
		CU_ASSERT_PTR_NULL(strstr(env, "NOTIFY_SOCKET="));
		checked++;
	}
	CU_ASSERT(checked == n || geteuid() != 0);
	CU_ASSERT_FALSE(notify_pending(100));
}

/*
 * A kept-alive connection made before SIGHUP serves on with its certificate; a new connection
 * after it gets the new certificate.
 */
static void
test_new_certificate(void)
{
	static char resp[RESP_CAP];
	char second_cert[400], second_key[400], msg[1024];
	struct it_conn c;
	char *body = NULL;
	size_t blen = 0;

	snprintf(second_cert, sizeof(second_cert), "%s/second.pem", it_tmp);
	snprintf(second_key, sizeof(second_key), "%s/second-key.pem", it_tmp);
	CU_ASSERT_EQUAL_FATAL(make_server_cert(second_cert, second_key, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(it_conn_open(&c, "alice"), 0);
	CU_ASSERT_EQUAL(it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
					&body, &blen),
			200);
	CU_ASSERT(conn_cert_is(&c, first_cert));

	CU_ASSERT_EQUAL(copy_file(second_key, key_path), 0);
	CU_ASSERT_EQUAL(copy_file(second_cert, cert_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving; TLS files reloaded"));

	/* the connection of before: still there, still its certificate */
	CU_ASSERT_EQUAL(it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
					&body, &blen),
			200);
	CU_ASSERT_EQUAL(it_conn_request(&c, "GET", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
					&body, &blen),
			200);
	CU_ASSERT(conn_cert_is(&c, first_cert));
	it_conn_close(&c);
	/* a new one: the new certificate (every thread: several connections) */
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);
	CU_ASSERT(log_has("SIGHUP: reloaded"));
}

/*
 * A broken certificate file, then a key that does not match the certificate: each reload
 * fails, says so in STATUS= and the log, and the certificate in force stays; then the first
 * certificate and key again: the reload works.
 */
static void
test_broken_files(void)
{
	char second_cert[400], msg[1024];

	snprintf(second_cert, sizeof(second_cert), "%s/second.pem", it_tmp);
	CU_ASSERT_EQUAL(write_text(cert_path, "-----BEGIN CERTIFICATE-----\nbroken\n"), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving with the previous TLS settings"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, cert_path));
	CU_ASSERT(log_has("SIGHUP: reload failed"));
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);

	/* the first certificate with the second key */
	CU_ASSERT_EQUAL(copy_file(first_cert, cert_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving with the previous TLS settings"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "mismatch")); /* OpenSSL: key values mismatch */
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);

	/* a file that is not there */
	CU_ASSERT_EQUAL(unlink(key_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving with the previous TLS settings"));
	CU_ASSERT_EQUAL(new_conn_sees(second_cert), 1);

	/* and the first pair again: a good reload after failed ones */
	CU_ASSERT_EQUAL(copy_file(first_key, key_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving; TLS files reloaded"));
	CU_ASSERT_EQUAL(new_conn_sees(first_cert), 1);
}

/* A bad kmsd.conf: the reload fails and the settings stay. */
static void
test_broken_conf(void)
{
	char msg[1024];

	CU_ASSERT_EQUAL(it_conf_variant(conf_path, conf_path, "threads = many\n"), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving with the previous TLS settings"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "threads"));
	CU_ASSERT_EQUAL(new_conn_sees(first_cert), 1);
	CU_ASSERT_EQUAL(it_conf_variant(conf_path, conf_path, "threads\n"), 0);
}

/* The SHA-256 of the SubjectPublicKeyInfo of client name's certificate, in hex. */
static int
client_spki(const char *name, char out[65])
{
	char path[400];
	unsigned char *der = NULL, md[32];
	X509 *x;
	int len, ok, i;

	it_client_path(path, sizeof(path), name, "cert.pem");
	if ((x = read_cert(path)) == NULL) {
		return -1;
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	ok = len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	X509_free(x);
	for (i = 0; ok && i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
	return ok ? 0 : -1;
}

/*
 * client_spki comes and goes with SIGHUP: a mapping of alice's key to a client that is not
 * enrolled turns her away (401), and without it she is served again. A changed key that needs
 * a restart (rate_limit) is logged as ignored.
 */
static void
test_spki_mappings(void)
{
	static char resp[RESP_CAP];
	char spki[65], over[200], msg[1024];
	char *body = NULL;
	size_t blen = 0;

	CU_ASSERT_EQUAL_FATAL(client_spki("alice", spki), 0);
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
	snprintf(over, sizeof(over), "client_spki = %s sip:nobody@example.org\nrate_limit = 7\n",
		 spki);
	CU_ASSERT_EQUAL(it_conf_variant(conf_path, conf_path, over), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving; TLS files reloaded"));
	CU_ASSERT(log_has("1 client_spki mappings"));
	CU_ASSERT(log_has("ignored until kmsd restarts: rate_limit"));
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			401);
	CU_ASSERT_EQUAL(it_request("bob", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);

	CU_ASSERT_EQUAL(it_conf_variant(conf_path, conf_path, "client_spki\nrate_limit\n"), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT(log_has("0 client_spki mappings"));
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
}

/* SIGTERM: STOPPING=1, and a clean exit. */
static void
test_stopping(void)
{
	char msg[1024];
	pid_t pid = it_kmsd_pid;

	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
	CU_ASSERT_EQUAL(notify_next("STOPPING=1", msg, sizeof(msg)), 0);
	/* it_stop_kmsd sends another SIGTERM (harmless) and reaps */
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The key in the token */

/*
 * With tls_key_token, a reload takes the certificate only: a new certificate for the token's
 * key is used; one for another key is refused (the check signature does not verify) and the
 * one in force stays.
 */
static void
test_token_certificate(void)
{
	char second[400], other[400], other_key[400], msg[1024];
	X509 *first = read_cert(first_cert);
	EVP_PKEY *pub = first != NULL ? X509_get_pubkey(first) : NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
	CU_ASSERT(has_line(ready_msg, "READY=1"));
	snprintf(second, sizeof(second), "%s/second.pem", it_tmp);
	snprintf(other, sizeof(other), "%s/other.pem", it_tmp);
	snprintf(other_key, sizeof(other_key), "%s/other-key.pem", it_tmp);
	CU_ASSERT_EQUAL(make_server_cert(second, NULL, pub), 0);
	CU_ASSERT_EQUAL(make_server_cert(other, other_key, NULL), 0);
	EVP_PKEY_free(pub);
	X509_free(first);

	CU_ASSERT_EQUAL(new_conn_sees(first_cert), 1);
	CU_ASSERT_EQUAL(copy_file(second, cert_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving; TLS files reloaded"));
	CU_ASSERT_EQUAL(new_conn_sees(second), 1);
	CU_ASSERT_EQUAL(new_conn_sees(second), 1);

	CU_ASSERT_EQUAL(copy_file(other, cert_path), 0);
	CU_ASSERT_EQUAL(reload(msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "STATUS=serving with the previous TLS settings"));
	CU_ASSERT_EQUAL(new_conn_sees(second), 1);
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
}

static CU_TestInfo reload_tests[] = {
	{"READY=1 once serving; kms-hsmd has no NOTIFY_SOCKET", test_ready},
	{"SIGHUP: old connections keep theirs, new ones get the new certificate",
	 test_new_certificate},
	{"SIGHUP: broken or mismatched files leave the certificate in force", test_broken_files},
	{"SIGHUP: a broken kmsd.conf changes nothing", test_broken_conf},
	{"SIGHUP: client_spki mappings; restart-only keys logged as ignored", test_spki_mappings},
	{"SIGTERM: STOPPING=1 and exit 0", test_stopping},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo token_tests[] = {
	{"SIGHUP with the key in the token: the certificate only", test_token_certificate},
	{"SIGTERM: STOPPING=1 and exit 0", test_stopping},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"kmsd reload and sd_notify", suite_init, suite_cleanup, NULL, NULL, reload_tests},
	{"kmsd reload, TLS key in the token", suite_init_token, suite_cleanup, NULL, NULL,
	 token_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	return kms_test_main(suites);
}

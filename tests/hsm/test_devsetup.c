/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-devsetup (tools/kms-devsetup.c), the program, run into a temporary directory: the layout
 * and file modes of docs/dev-domain.md; the configuration files, loaded with the project's own
 * loader against exactly the keys kmsd takes; the development PKI (chains, SANs, key usages,
 * validity, keys matching certificates, checked with OpenSSL's X509_verify_cert); the store's
 * certificate, roster and entitlements; the clients' TrK and InK in the token against the
 * values in their files, through the adapter's PROVISION and a client's own checks; kms-hsmd
 * --check on the generated kms-hsmd.conf; the JWT of `kms-devsetup token` against the JWKS; a
 * second run that changes nothing; --force; and failures at every step (and a few others) that
 * leave no partial directory. KMS_TEST_DEVSETUP and KMS_TEST_HSMD name the programs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "hsm/adapter.h"
#include "hsm/keys.h"
#include "proto/store.h"
#include "tests/unit/kms_test.h"
#include "tools/devdomain.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define LISTEN  "127.0.0.1:18443"
#define METRICS "127.0.0.1:19443"

static const struct {
	const char *name;
	const char *id;
	enum kms_client_class cls;
} clients[] = {
	{"alice", "sip:alice@example.org", KMS_CLIENT_UE},
	{"bob", "sip:bob@example.org", KMS_CLIENT_UE},
	{"mcptt-server", "sip:mcptt-server@example.org", KMS_CLIENT_SERVER},
};
#define NUM_CLIENTS (sizeof(clients) / sizeof(clients[0]))

static const char *const steps[] = {
	"token", "ceremony", "roster", "pki", "client-certs", "idms", "config", "marker",
};

static char base[160]; /* the test's temporary directory */
static char dir[200];  /* base/var/dev, the domain */
static char outf[200]; /* the programs' output */
static char out[16384];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command line (fmt); its exit status (-1 if it did not exit); its output in out. */
static int
run(const char *fmt, ...)
{
	char cmd[2048], line[2400];
	va_list ap;
	FILE *f;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s >%s 2>&1", cmd, outf);
	st = system(line);
	out[0] = '\0';
	f = fopen(outf, "r");
	if (f != NULL) {
		n = fread(out, 1, sizeof(out) - 1, f);
		out[n] = '\0';
		fclose(f);
	}
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *
devsetup(void)
{
	return getenv("KMS_TEST_DEVSETUP");
}

/* The file dir/rel, read whole (NUL-terminated) into buf; its length, or -1. */
static long
slurp(const char *d, const char *rel, char *buf, size_t cap)
{
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", d, rel);
	f = fopen(p, "r");
	if (f == NULL) {
		buf[0] = '\0';
		return -1;
	}
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (long)n;
}

/* The entries of directory d (not . and ..) as "a b c " in buf (cap > 0); their number. */
static int
entries(const char *d, char *buf, size_t cap)
{
	DIR *dd = opendir(d);
	struct dirent *e;
	size_t len = 0;
	int n = 0;

	buf[0] = '\0';
	if (dd == NULL) {
		return -1;
	}
	while ((e = readdir(dd)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		n++;
		len += (size_t)snprintf(buf + len, cap - len, "%s ", e->d_name);
		if (len >= cap) {
			len = cap - 1; /* cut: the count still says how many */
		}
	}
	closedir(dd);
	return n;
}

static int
suite_init(void)
{
	if (devsetup() == NULL || getenv("KMS_TEST_HSMD") == NULL ||
	    kms_test_tmpdir(base, sizeof(base), "devsetup") != 0) {
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/var/dev", base);
	snprintf(outf, sizeof(outf), "%s/out.txt", base);
	/* var/ does not exist yet: kms-devsetup makes it */
	if (run("%s --dir %s --hsmd %s --listen " LISTEN " --metrics " METRICS, devsetup(), dir,
		getenv("KMS_TEST_HSMD")) != 0) {
		fprintf(stderr, "kms-devsetup failed:\n%s\n", out);
		return 1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	return kms_devtoken_rmtree(base) == KMS_OK ? 0 : 1;
}

static void
check_mode(const char *rel, int is_dir, mode_t mode)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (lstat(p, &st) != 0) {
		fprintf(stderr, "missing: %s\n", rel);
		CU_FAIL("a file of the layout is missing");
		return;
	}
	CU_ASSERT(is_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != mode) {
		fprintf(stderr, "%s: mode %o, not %o\n", rel, st.st_mode & 07777, mode);
		CU_FAIL("wrong mode");
	}
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
}

/* A 64-hex-digit key file: decoded into v. */
static int
read_key_hex(const char *name, const char *file, uint8_t v[32])
{
	char rel[128], buf[128];
	long n;

	snprintf(rel, sizeof(rel), "clients/%s/%s", name, file);
	n = slurp(dir, rel, buf, sizeof(buf));
	return n == 65 && buf[64] == '\n' && kms_hex_decode(v, 32, buf, 64) == KMS_OK ? 0 : -1;
}

static void
test_layout(void)
{
	static const struct {
		const char *rel;
		int is_dir;
		mode_t mode;
	} files[] = {
		{"", 1, 0700},
		{"complete", 0, 0644},
		{"user.pin", 0, 0600},
		{"kms.db", 0, 0600},
		{"kmsd.conf", 0, 0644},
		{"kms-hsmd.conf", 0, 0644},
		{"token", 1, 0700},
		{"token/softhsm2.conf", 0, 0600},
		{"token/tokens", 1, 0700},
		{"pki/ca.pem", 0, 0644},
		{"pki/ca-key.pem", 0, 0600},
		{"pki/server.pem", 0, 0644},
		{"pki/server-key.pem", 0, 0600},
		{"pki/idms-key.pem", 0, 0600},
		{"pki/idms.jwks", 0, 0644},
	};
	static const char *const per_client[][2] = {
		{"cert.pem", "644"}, {"key.pem", "600"}, {"trk.hex", "600"},
		{"trk.id", "644"},   {"ink.hex", "600"}, {"ink.id", "644"},
	};
	char buf[4096], rel[128], want[512], var[256];
	uint8_t trk[32], ink[32];
	size_t i, j;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		check_mode(files[i].rel, files[i].is_dir, files[i].mode);
	}
	for (i = 0; i < NUM_CLIENTS; i++) {
		for (j = 0; j < sizeof(per_client) / sizeof(per_client[0]); j++) {
			snprintf(rel, sizeof(rel), "clients/%s/%s", clients[i].name,
				 per_client[j][0]);
			check_mode(rel, 0, (mode_t)strtoul(per_client[j][1], NULL, 8));
		}
		CU_ASSERT_EQUAL(read_key_hex(clients[i].name, "trk.hex", trk), 0);
		CU_ASSERT_EQUAL(read_key_hex(clients[i].name, "ink.hex", ink), 0);
		CU_ASSERT(memcmp(trk, ink, 32) != 0);
		snprintf(rel, sizeof(rel), "clients/%s/trk.id", clients[i].name);
		snprintf(want, sizeof(want), "tk.1.%s@example.org\n", clients[i].name);
		CU_ASSERT(slurp(dir, rel, buf, sizeof(buf)) > 0 && strcmp(buf, want) == 0);
		snprintf(rel, sizeof(rel), "clients/%s/ink.id", clients[i].name);
		snprintf(want, sizeof(want), "ik.1.%s@example.org\n", clients[i].name);
		CU_ASSERT(slurp(dir, rel, buf, sizeof(buf)) > 0 && strcmp(buf, want) == 0);
	}
	/* the PIN: 32 hex digits and a newline */
	CU_ASSERT_EQUAL(slurp(dir, "user.pin", buf, sizeof(buf)), 33);
	CU_ASSERT_EQUAL(strspn(buf, "0123456789abcdef"), 32);
	/* the build's own SoftHSM configuration is gone; the kept one names the final path */
	CU_ASSERT_EQUAL(slurp(dir, "token/softhsm2.build.conf", buf, sizeof(buf)), -1);
	CU_ASSERT(slurp(dir, "token/softhsm2.conf", buf, sizeof(buf)) > 0);
	snprintf(want, sizeof(want), "\ndirectories.tokendir = %s/token/tokens\n", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nobjectstore.backend = file\n"));
	/* nothing but the domain beside it: no DIR.tmp.* left */
	snprintf(var, sizeof(var), "%s/var", base);
	CU_ASSERT_EQUAL(entries(var, buf, sizeof(buf)), 1);
	CU_ASSERT_STRING_EQUAL(buf, "dev ");
}

/* kmsd.conf has exactly the keys kmsd takes, with these values. */

/* kms_store_audit_key_list's callback: "label;" into the text ctx (64 bytes); the point's form. */
static int
collect_audit_key(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN],
		  const uint8_t point[KMS_AUDIT_POINT_LEN], const char *label)
{
	char *text = ctx;
	size_t n = strlen(text);

	(void)fp;
	CU_ASSERT_EQUAL(point[0], 0x04);
	snprintf(text + n, 64 - n, "%s;", label);
	return KMS_OK;
}

static void
test_kmsd_conf(void)
{
	static const struct kms_conf_key keys[] = {
		{.name = "listen", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "public_url", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "tls_cert", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "tls_key", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "client_ca", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "store", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "hsmd_conf", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "hsmd", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "idms_keys", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
		{.name = "idms_issuer", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "idms_audience", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "auth_ue", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "auth_server", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "metrics_listen", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
		{.name = "log_level", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	};
	static const char *const paths[][2] = {
		{"tls_cert", "pki/server.pem"}, {"tls_key", "pki/server-key.pem"},
		{"client_ca", "pki/ca.pem"},    {"store", "kms.db"},
		{"hsmd_conf", "kms-hsmd.conf"}, {"idms_keys", "pki/idms.jwks"},
	};
	static const char *const words[][2] = {
		{"listen", LISTEN},
		{"public_url", "https://" LISTEN},
		{"idms_issuer", "https://idms.example.org"},
		{"idms_audience", "kms.example.org"},
		{"auth_ue", "mtls"},
		{"auth_server", "mtls"},
		{"metrics_listen", METRICS},
		{"log_level", "info"},
	};
	struct kms_conf *c = NULL;
	char err[KMS_CONF_ERR_LEN], p[512], want[512], hsmd[PATH_MAX];
	const char *v;
	size_t i;

	snprintf(p, sizeof(p), "%s/kmsd.conf", dir);
	CU_ASSERT_EQUAL_FATAL(
		kms_conf_load(&c, err, sizeof(err), keys, sizeof(keys) / sizeof(keys[0]), p),
		KMS_OK);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(want, sizeof(want), "%s/%s", dir, paths[i][1]);
		CU_ASSERT(kms_conf_str(c, paths[i][0], 0, &v) == KMS_OK && strcmp(v, want) == 0);
		CU_ASSERT_EQUAL(access(v, R_OK), 0); /* absolute, and there */
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		CU_ASSERT(kms_conf_str(c, words[i][0], 0, &v) == KMS_OK &&
			  strcmp(v, words[i][1]) == 0);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(getenv("KMS_TEST_HSMD"), hsmd));
	CU_ASSERT(kms_conf_str(c, "hsmd", 0, &v) == KMS_OK && strcmp(v, hsmd) == 0);
	kms_conf_free(c);
	/* every line but comments and blanks is one of those keys; each key has its comment */
	CU_ASSERT(slurp(dir, "kmsd.conf", out, sizeof(out)) > 0);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *line;

		snprintf(want, sizeof(want), "\n%s = ", keys[i].name);
		line = strstr(out, want);
		CU_ASSERT_PTR_NOT_NULL_FATAL(line);
		/* the line above it is a comment */
		while (line > out && line[-1] != '\n') {
			line--;
		}
		CU_ASSERT_EQUAL(line[0], '#');
	}
	/* kms-hsmd.conf: the environment of the module and absolute paths */
	CU_ASSERT(slurp(dir, "kms-hsmd.conf", out, sizeof(out)) > 0);
	snprintf(want, sizeof(want), "\nenvironment = SOFTHSM2_CONF=%s/token/softhsm2.conf\n", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "\npin_file = %s/user.pin\n", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "\nstore = %s/kms.db\n", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ntoken = pkcs11:token=kms-dev\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nkek = kms.kek\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nissuer = online\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nid_format = raw\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nallow_host_ecb_wrap = yes\n"));
	/* the audit key: named in kms-hsmd.conf, its point in the store */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\naudit_key = kms.audit\n"));
	{
		char labels[64] = "";
		struct kms_store *st = NULL;

		snprintf(p, sizeof(p), "%s/kms.db", dir);
		CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, p, KMS_STORE_RO), KMS_OK);
		CU_ASSERT_EQUAL(kms_store_audit_key_list(st, collect_audit_key, labels), KMS_OK);
		CU_ASSERT_STRING_EQUAL(labels,
				       "kms.audit;"); /* one key: the dev domain's one node */
		kms_store_close(st);
	}
}

static X509 *
load_cert(const char *rel)
{
	char p[512];
	FILE *f;
	X509 *x;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "r");
	if (f == NULL) {
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *
load_key(const char *rel)
{
	char p[512];
	FILE *f;
	EVP_PKEY *k;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "r");
	if (f == NULL) {
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* X509_verify_cert of x against the single trusted ca, for purpose, strictly. */
static int
verify(X509 *ca, X509 *x, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (st != NULL && ctx != NULL && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, x, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, purpose) == 1) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

/* 1 if key is EC P-256. */
static int
is_p256(EVP_PKEY *k)
{
	char group[64];
	size_t n = 0;

	return k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					      &n) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

/* Days from now to the certificate's notAfter. */
static int
days_left(X509 *x)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1) {
		return -1;
	}
	return days;
}

/* The one URI of x's subjectAltName into buf; the number of SAN entries. */
static int
san_uri(X509 *x, char *buf, size_t cap)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n, i;

	buf[0] = '\0';
	if (gens == NULL) {
		return 0;
	}
	n = sk_GENERAL_NAME_num(gens);
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_URI) {
			snprintf(buf, cap, "%.*s",
				 ASN1_STRING_length(g->d.uniformResourceIdentifier),
				 (const char *)ASN1_STRING_get0_data(
					 g->d.uniformResourceIdentifier));
		}
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static void
test_pki(void)
{
	X509 *ca = load_cert("pki/ca.pem");
	X509 *srv = load_cert("pki/server.pem");
	EVP_PKEY *ca_key = load_key("pki/ca-key.pem");
	EVP_PKEY *srv_key = load_key("pki/server-key.pem");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *alice = NULL;
	char uri[256], rel[128];
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	/* the CA: self-signed, a CA, P-256, about ten years, its key matches */
	CU_ASSERT_EQUAL(X509_check_ca(ca), 1);
	CU_ASSERT(verify(ca, ca, X509_PURPOSE_ANY));
	CU_ASSERT(is_p256(ca_key) && is_p256(X509_get0_pubkey(ca)));
	CU_ASSERT_EQUAL(X509_check_private_key(ca, ca_key), 1);
	CU_ASSERT(days_left(ca) >= 3650 && days_left(ca) <= 3653);
	/* the server: chains to the CA as a TLS server, localhost / 127.0.0.1 / ::1 only */
	CU_ASSERT(verify(ca, srv, X509_PURPOSE_SSL_SERVER));
	CU_ASSERT(!verify(ca, srv, X509_PURPOSE_SSL_CLIENT));
	CU_ASSERT_EQUAL(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	CU_ASSERT_EQUAL(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	CU_ASSERT_EQUAL(X509_check_ip_asc(srv, "::1", 0), 1);
	CU_ASSERT_NOT_EQUAL(X509_check_host(srv, "kms.example.org", 0, 0, NULL), 1);
	CU_ASSERT_NOT_EQUAL(X509_check_ip_asc(srv, "10.0.0.1", 0), 1);
	CU_ASSERT_EQUAL(X509_check_ca(srv), 0);
	CU_ASSERT(is_p256(srv_key));
	CU_ASSERT_EQUAL(X509_check_private_key(srv, srv_key), 1);
	CU_ASSERT_NOT_EQUAL(X509_check_private_key(srv, ca_key), 1);
	CU_ASSERT(days_left(srv) >= 728 && days_left(srv) <= 731);
	/* the clients: chain as TLS clients (not servers), SAN URI = the client id, 2 years */
	for (i = 0; i < NUM_CLIENTS; i++) {
		X509 *x;
		EVP_PKEY *k;

		snprintf(rel, sizeof(rel), "clients/%s/cert.pem", clients[i].name);
		x = load_cert(rel);
		snprintf(rel, sizeof(rel), "clients/%s/key.pem", clients[i].name);
		k = load_key(rel);
		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
		CU_ASSERT(verify(ca, x, X509_PURPOSE_SSL_CLIENT));
		CU_ASSERT(!verify(ca, x, X509_PURPOSE_SSL_SERVER));
		CU_ASSERT_EQUAL(san_uri(x, uri, sizeof(uri)), 1);
		CU_ASSERT_STRING_EQUAL(uri, clients[i].id);
		CU_ASSERT(is_p256(k));
		CU_ASSERT_EQUAL(X509_check_private_key(x, k), 1);
		CU_ASSERT(days_left(x) >= 728 && days_left(x) <= 731);
		CU_ASSERT_EQUAL(X509_check_ca(x), 0);
		if (i == 0) {
			alice = x;
		} else {
			X509_free(x);
		}
		EVP_PKEY_free(k);
	}
	/* a certificate signed by another key does not verify (the check is not vacuous) */
	CU_ASSERT_PTR_NOT_NULL_FATAL(alice);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT(X509_sign(alice, other, EVP_sha256()) > 0);
	CU_ASSERT(!verify(ca, alice, X509_PURPOSE_SSL_CLIENT));
	X509_free(alice);
	EVP_PKEY_free(other);
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
}

static void
test_store(void)
{
	struct kms_store *st = NULL;
	struct kms_store_cert *cert = calloc(1, sizeof(*cert));
	struct kms_store_client c;
	struct kms_store_blob b;
	char p[512], rel[128], want[128];
	size_t i, j;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	snprintf(p, sizeof(p), "%s/kms.db", dir);
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, p, KMS_STORE_RO), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_get_cert(st, cert), KMS_OK);
	CU_ASSERT_STRING_EQUAL(cert->kms_uri, "kms.example.org");
	CU_ASSERT_STRING_EQUAL(cert->cert_uri, "kms.example.org");
	CU_ASSERT_EQUAL(cert->user_key_period, 2592000);
	CU_ASSERT_EQUAL(cert->user_key_offset, 0);
	CU_ASSERT_EQUAL(cert->kpak[0], 0x04);
	CU_ASSERT_EQUAL(cert->z_t[0], 0x04);
	/* the master secrets, wrapped (RFC 5649 adds 8 octets to 32 and to 128) */
	CU_ASSERT(kms_store_get_secret(st, "ksak", &b) == KMS_OK && b.len == 40);
	CU_ASSERT(kms_store_get_secret(st, "z_t", &b) == KMS_OK && b.len == 136);
	for (i = 0; i < NUM_CLIENTS; i++) {
		CU_ASSERT_EQUAL_FATAL(kms_store_get_client(st, clients[i].id, &c), KMS_OK);
		CU_ASSERT_EQUAL(c.cls, clients[i].cls);
		CU_ASSERT_EQUAL(c.revoked, 0);
		snprintf(rel, sizeof(rel), "clients/%s/trk.id", clients[i].name);
		CU_ASSERT(slurp(dir, rel, want, sizeof(want)) > 0);
		want[strcspn(want, "\n")] = '\0';
		CU_ASSERT_STRING_EQUAL(c.trk_label, want);
		snprintf(rel, sizeof(rel), "clients/%s/ink.id", clients[i].name);
		CU_ASSERT(slurp(dir, rel, want, sizeof(want)) > 0);
		want[strcspn(want, "\n")] = '\0';
		CU_ASSERT_STRING_EQUAL(c.ink_label, want);
		for (j = 0; j < NUM_CLIENTS; j++) {
			CU_ASSERT_EQUAL(kms_store_check_entitled(st, clients[i].id, clients[j].id),
					i == j ? KMS_OK : KMS_ERR_FORBIDDEN);
		}
	}
	CU_ASSERT_EQUAL(kms_store_get_client(st, "alice", &c), KMS_ERR_FORBIDDEN);
	kms_store_close(st);
	free(cert);
}

static void
provision(struct kms_adapter *a, const char *client, const char *uri, uint64_t period,
	  struct kms_proto_reply *rep)
{
	struct kms_proto_request req;

	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_PROVISION;
	req.id = 11;
	req.u.provision.client_id_len = strlen(client);
	memcpy(req.u.provision.client_id, client, req.u.provision.client_id_len);
	req.u.provision.identity_len = strlen(uri);
	memcpy(req.u.provision.identity, uri, req.u.provision.identity_len);
	req.u.provision.key_period = period;
	kms_adapter_handle(a, &req, rep, kms_devdomain_ntp_now());
}

/* The TrK and InK in the token are the values of the clients' files: a provision of each
 * client's own identity unwraps and checks with them (and not with another client's). */
static void
test_token_keys(void)
{
	struct kms_devdomain d; /* only kpak and zpub: kms_devdomain_client_checks */
	struct kms_store_cert *cert = calloc(1, sizeof(*cert));
	struct kms_store *st = NULL;
	struct kms_p11 *p11 = NULL;
	struct kms_p11_session *s = NULL;
	struct kms_adapter *a = NULL;
	struct kms_adapter_config cfg;
	struct kms_proto_reply *rep = calloc(1, sizeof(*rep));
	uint8_t trk[NUM_CLIENTS][32], ink[NUM_CLIENTS][32];
	char p[512], pin[512], conf[512], label[128];
	uint64_t period = 0;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
	memset(&d, 0, sizeof(d));
	snprintf(p, sizeof(p), "%s/kms.db", dir);
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, p, KMS_STORE_RO), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_store_get_cert(st, cert), KMS_OK);
	kms_store_close(st);
	memcpy(d.kpak, cert->kpak, sizeof(d.kpak));
	memcpy(d.zpub, cert->z_t, sizeof(d.zpub));
	for (i = 0; i < NUM_CLIENTS; i++) {
		CU_ASSERT_EQUAL_FATAL(read_key_hex(clients[i].name, "trk.hex", trk[i]), 0);
		CU_ASSERT_EQUAL_FATAL(read_key_hex(clients[i].name, "ink.hex", ink[i]), 0);
	}
	snprintf(conf, sizeof(conf), "%s/token/softhsm2.conf", dir);
	snprintf(pin, sizeof(pin), "%s/user.pin", dir);
	CU_ASSERT_EQUAL_FATAL(setenv("SOFTHSM2_CONF", conf, 1), 0);
	CU_ASSERT_EQUAL_FATAL(kms_devtoken_open(&p11, kms_devtoken_module(), "kms-dev", pin),
			      KMS_OK);
	/* the keys: in the token, sensitive, never extractable */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	for (i = 0; i < NUM_CLIENTS; i++) {
		static const char *const kind[2] = {"tk", "ik"};
		int k;

		for (k = 0; k < 2; k++) {
			CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
			int ext = 1, sens = 0;

			snprintf(label, sizeof(label), "%s.1.%s@example.org", kind[k],
				 clients[i].name);
			CU_ASSERT_EQUAL(kms_keys_find(s, &h, label), KMS_OK);
			CU_ASSERT(kms_p11_get_bool(s, &ext, h, CKA_EXTRACTABLE) == KMS_OK && !ext);
			CU_ASSERT(kms_p11_get_bool(s, &sens, h, CKA_SENSITIVE) == KMS_OK && sens);
		}
	}
	kms_p11_return(s);

	kms_devdomain_adapter_cfg(&cfg, p, CKM_AES_KEY_WRAP_PAD, KMS_ISSUER_ONLINE);
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&a, p11, &cfg), KMS_OK);
	CU_ASSERT_EQUAL(kms_key_period_no(&period, kms_devdomain_ntp_now(), 2592000, 0), KMS_OK);
	for (i = 0; i < NUM_CLIENTS; i++) {
		size_t other = (i + 1) % NUM_CLIENTS;

		provision(a, clients[i].id, clients[i].id, period, rep);
		CU_ASSERT_EQUAL_FATAL(rep->status, KMS_OK);
		snprintf(label, sizeof(label), "tk.1.%s@example.org", clients[i].name);
		CU_ASSERT_STRING_EQUAL(rep->u.provision.trk_id, label);
		CU_ASSERT(kms_devdomain_client_checks(&d, &rep->u.provision, trk[i], ink[i],
						      clients[i].id, NULL, NULL));
		CU_ASSERT(!kms_devdomain_client_checks(&d, &rep->u.provision, trk[other],
						       ink[other], clients[i].id, NULL, NULL));
		/* another client's identity: refused */
		provision(a, clients[i].id, clients[other].id, period, rep);
		CU_ASSERT_EQUAL(rep->status, KMS_ERR_FORBIDDEN);
	}
	kms_adapter_free(a);
	kms_p11_free(p11);
	kms_memzero(trk, sizeof(trk));
	kms_memzero(ink, sizeof(ink));
	free(rep);
	free(cert);
}

/* kms-hsmd accepts the generated configuration as it is, without SOFTHSM2_CONF set. */
static void
test_hsmd_check(void)
{
	CU_ASSERT_EQUAL(run("env -u SOFTHSM2_CONF %s -c %s/kms-hsmd.conf --check",
			    getenv("KMS_TEST_HSMD"), dir),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ready to serve"));
}

/* base64url (no padding) of len octets at in into out; its length, or 0 on bad input. */
static size_t
b64url_decode(uint8_t *outb, size_t cap, const char *in, size_t len)
{
	char buf[4096];
	uint8_t dec[3072];
	size_t i, n = len, m;
	int r;

	if (len + 3 >= sizeof(buf) || (len % 4) == 1) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '=' || c == '+' || c == '/') {
			return 0;
		}
		buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	while (n % 4 != 0) {
		buf[n++] = '=';
	}
	buf[n] = '\0';
	r = EVP_DecodeBlock(dec, (const unsigned char *)buf, (int)n);
	if (r < 0) {
		return 0;
	}
	m = (size_t)r - (n - len); /* EVP_DecodeBlock counts the padding's zero octets */
	if (m > cap) {
		return 0;
	}
	memcpy(outb, dec, m);
	return m;
}

/* The P-256 public key of the JWKS file's one key. */
static EVP_PKEY *
jwks_key(void)
{
	json_t *j, *k;
	json_error_t je;
	uint8_t pub[65];
	char p[512];
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	const char *x, *y;

	snprintf(p, sizeof(p), "%s/pki/idms.jwks", dir);
	j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		return NULL;
	}
	k = json_array_get(json_object_get(j, "keys"), 0);
	x = json_string_value(json_object_get(k, "x"));
	y = json_string_value(json_object_get(k, "y"));
	if (json_array_size(json_object_get(j, "keys")) != 1 || x == NULL || y == NULL ||
	    strcmp(json_string_value(json_object_get(k, "kty")), "EC") != 0 ||
	    strcmp(json_string_value(json_object_get(k, "crv")), "P-256") != 0 ||
	    strcmp(json_string_value(json_object_get(k, "kid")), "dev-idms-1") != 0 ||
	    strcmp(json_string_value(json_object_get(k, "alg")), "ES256") != 0 ||
	    strcmp(json_string_value(json_object_get(k, "use")), "sig") != 0 || strlen(x) != 43 ||
	    strlen(y) != 43 || b64url_decode(pub + 1, 32, x, 43) != 32 ||
	    b64url_decode(pub + 33, 32, y, 43) != 32) {
		json_decref(j);
		return NULL;
	}
	json_decref(j);
	pub[0] = 0x04;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)(uintptr_t) "prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		key = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/* ES256 (raw r || s) over input with key: 1 if valid. */
static int
es256_ok(EVP_PKEY *key, const char *input, size_t len, const uint8_t raw[64])
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int der_len;
	int ok = 0;

	if (sig == NULL || r == NULL || s == NULL || md == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	der_len = i2d_ECDSA_SIG(sig, &der);
	ok = der_len > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)der_len, (const uint8_t *)input, len) == 1;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return ok;
}

static void
test_jwt(void)
{
	EVP_PKEY *jwk = jwks_key();
	EVP_PKEY *priv = load_key("pki/idms-key.pem");
	char tok[4096];
	char *dot1, *dot2;
	uint8_t hdr[512], pay[1024], sig[80];
	size_t hl, pl, sl;
	json_t *h = NULL, *c = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(jwk);
	CU_ASSERT_PTR_NOT_NULL_FATAL(priv);
	/* the JWKS is the public half of idms-key.pem */
	CU_ASSERT_EQUAL(EVP_PKEY_eq(jwk, priv), 1);
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub alice --mcid sip:alice@example.org --ttl 600 "
			    "--now 1800000000",
			    devsetup(), dir),
			0);
	memcpy(tok, out, sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	CU_ASSERT(strlen(tok) > 0 && tok[strlen(tok) - 1] == '\n');
	tok[strcspn(tok, "\n")] = '\0';
	dot1 = strchr(tok, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(dot2);
	CU_ASSERT_PTR_NULL(strchr(dot2 + 1, '.'));
	hl = b64url_decode(hdr, sizeof(hdr) - 1, tok, (size_t)(dot1 - tok));
	pl = b64url_decode(pay, sizeof(pay) - 1, dot1 + 1, (size_t)(dot2 - dot1 - 1));
	sl = b64url_decode(sig, sizeof(sig), dot2 + 1, strlen(dot2 + 1));
	CU_ASSERT_FATAL(hl > 0 && pl > 0);
	CU_ASSERT_EQUAL_FATAL(sl, 64);
	h = json_loadb((const char *)hdr, hl, JSON_REJECT_DUPLICATES, NULL);
	c = json_loadb((const char *)pay, pl, JSON_REJECT_DUPLICATES, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "alg")), "ES256");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "kid")), "dev-idms-1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "iss")),
			       "https://idms.example.org");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "aud")), "kms.example.org");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "sub")), "alice");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "mcptt_id")),
			       "sip:alice@example.org");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "scope")),
			       "3gpp:mc:ptt_key_management_service");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "iat")), 1800000000);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "exp")), 1800000600);
	/* the signature, with the JWKS key, over header.payload; a changed byte breaks it */
	CU_ASSERT(es256_ok(jwk, tok, (size_t)(dot2 - tok), sig));
	dot1[1] ^= 1;
	CU_ASSERT(!es256_ok(jwk, tok, (size_t)(dot2 - tok), sig));
	dot1[1] ^= 1;
	sig[5] ^= 0x10;
	CU_ASSERT(!es256_ok(jwk, tok, (size_t)(dot2 - tok), sig));
	json_decref(h);
	json_decref(c);
	/* options: JSON-escaped values; usage errors; a directory that is not a domain */
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub 'a\"b' --mcid sip:x@example.org --aud other "
			    "--scope 's1 s2' --iss https://i.example",
			    devsetup(), dir),
			0);
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub alice", devsetup(), dir), 2);
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub a --mcid b --ttl 0", devsetup(), dir), 2);
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub a --mcid b --ttl x", devsetup(), dir), 2);
	CU_ASSERT_EQUAL(run("%s token --dir %s --sub a --mcid b", devsetup(), base), 1);
	CU_ASSERT_EQUAL(
		run("%s token --dir %s --sub a --mcid \"$(printf 'sip:\\377')\"", devsetup(), dir),
		1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "UTF-8"));
	EVP_PKEY_free(jwk);
	EVP_PKEY_free(priv);
}

struct snap {
	struct stat st;
	char text[2048];
};

static const char *const snap_files[] = {
	"complete", "user.pin", "kmsd.conf", "pki/ca.pem", "clients/alice/trk.hex", "kms.db",
};
#define NUM_SNAP (sizeof(snap_files) / sizeof(snap_files[0]))

static void
take_snap(struct snap s[NUM_SNAP])
{
	char p[512];
	size_t i;

	for (i = 0; i < NUM_SNAP; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, snap_files[i]);
		memset(&s[i], 0, sizeof(s[i]));
		CU_ASSERT_EQUAL(stat(p, &s[i].st), 0);
		(void)slurp(dir, snap_files[i], s[i].text, sizeof(s[i].text));
	}
}

static int
same_file(const struct snap *a, const struct snap *b)
{
	return a->st.st_ino == b->st.st_ino && a->st.st_size == b->st.st_size &&
	       a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
	       a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec && strcmp(a->text, b->text) == 0;
}

/* A second run without --force changes nothing. */
static void
test_second_run(void)
{
	struct snap before[NUM_SNAP], after[NUM_SNAP];
	char names[256], var[256];
	size_t i;

	take_snap(before);
	CU_ASSERT_EQUAL(run("%s --dir %s --hsmd %s", devsetup(), dir, getenv("KMS_TEST_HSMD")), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "nothing to do"));
	take_snap(after);
	for (i = 0; i < NUM_SNAP; i++) {
		CU_ASSERT(same_file(&before[i], &after[i]));
	}
	snprintf(var, sizeof(var), "%s/var", base);
	CU_ASSERT_EQUAL(entries(var, names, sizeof(names)), 1);
}

/* A run that fails leaves nothing: not DIR, not DIR.tmp.*. */
static void
test_failures(void)
{
	char d[256], parent[220], names[512], p[400];
	size_t i;
	int fd;

	snprintf(parent, sizeof(parent), "%s/fail", base);
	snprintf(d, sizeof(d), "%s/dev", parent);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char want[64];

		CU_ASSERT_EQUAL(
			run("env KMS_DEVSETUP_FAIL_AFTER=%s %s --dir %s", steps[i], devsetup(), d),
			1);
		snprintf(want, sizeof(want), "(%s) failed", steps[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "removed the partial directory"));
		CU_ASSERT_EQUAL(entries(parent, names, sizeof(names)), 0);
	}
	/* a module that cannot be loaded: the token step fails after the token was made */
	CU_ASSERT_EQUAL(run("%s --dir %s --module /nonexistent/libsofthsm2.so", devsetup(), d), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(token) failed"));
	CU_ASSERT_EQUAL(entries(parent, names, sizeof(names)), 0);
	/* no softhsm2-util on PATH */
	CU_ASSERT_EQUAL(run("env PATH=/nonexistent %s --dir %s", devsetup(), d), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "(token) failed"));
	CU_ASSERT_EQUAL(entries(parent, names, sizeof(names)), 0);
	/* usage errors change nothing */
	CU_ASSERT_EQUAL(run("%s --dir %s --listen nohost", devsetup(), d), 2);
	CU_ASSERT_EQUAL(run("%s --dir %s --listen 127.0.0.1:0", devsetup(), d), 2);
	CU_ASSERT_EQUAL(run("%s --dir %s --metrics ::1:9443", devsetup(), d), 2);
	CU_ASSERT_EQUAL(run("%s --dir %s --hsmd /nonexistent/kms-hsmd", devsetup(), d), 2);
	CU_ASSERT_EQUAL(run("%s --dir %s/..", devsetup(), d), 2);
	CU_ASSERT_EQUAL(run("%s", devsetup()), 2);
	CU_ASSERT_EQUAL(entries(parent, names, sizeof(names)), 0);
	/* a parent that is a file */
	snprintf(p, sizeof(p), "%s/afile", base);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(run("%s --dir %s/afile/dev", devsetup(), base), 1);
	/* a parent this user cannot write to (root can: the check would prove nothing) */
	if (geteuid() != 0) {
		snprintf(p, sizeof(p), "%s/ro", base);
		CU_ASSERT_EQUAL(mkdir(p, 0500), 0);
		CU_ASSERT_EQUAL(run("%s --dir %s/dev", devsetup(), p), 1);
		CU_ASSERT_EQUAL(entries(p, names, sizeof(names)), 0);
	}
	/* an existing directory that is not a complete domain: refused, untouched; --force
	 * replaces it */
	snprintf(p, sizeof(p), "%s/keep", d);
	CU_ASSERT_EQUAL(mkdir(d, 0700), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(run("%s --dir %s", devsetup(), d), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "not a complete development domain"));
	CU_ASSERT_EQUAL(access(p, F_OK), 0);
	CU_ASSERT_EQUAL(run("%s --dir %s --force", devsetup(), d), 0);
	CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);
	CU_ASSERT(slurp(d, "complete", names, sizeof(names)) > 0);
	CU_ASSERT_EQUAL(entries(parent, names, sizeof(names)), 1);
	CU_ASSERT_STRING_EQUAL(names, "dev ");
}

/* --force makes a new domain in place of a complete one. */
static void
test_force(void)
{
	char pin1[64], pin2[64], ca1[2048], ca2[2048], names[256], var[256];

	CU_ASSERT(slurp(dir, "user.pin", pin1, sizeof(pin1)) > 0);
	CU_ASSERT(slurp(dir, "pki/ca.pem", ca1, sizeof(ca1)) > 0);
	CU_ASSERT_EQUAL(
		run("%s --dir %s --hsmd %s --force", devsetup(), dir, getenv("KMS_TEST_HSMD")), 0);
	CU_ASSERT(slurp(dir, "user.pin", pin2, sizeof(pin2)) > 0);
	CU_ASSERT(slurp(dir, "pki/ca.pem", ca2, sizeof(ca2)) > 0);
	CU_ASSERT(strcmp(pin1, pin2) != 0);
	CU_ASSERT(strcmp(ca1, ca2) != 0);
	snprintf(var, sizeof(var), "%s/var", base);
	CU_ASSERT_EQUAL(entries(var, names, sizeof(names)), 1);
	/* the defaults of the addresses */
	CU_ASSERT(slurp(dir, "kmsd.conf", out, sizeof(out)) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nlisten = 127.0.0.1:8443\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\npublic_url = https://127.0.0.1:8443\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nmetrics_listen = 127.0.0.1:9443\n"));
	/* and it serves */
	CU_ASSERT_EQUAL(run("env -u SOFTHSM2_CONF %s -c %s/kms-hsmd.conf --check",
			    getenv("KMS_TEST_HSMD"), dir),
			0);
}

static CU_TestInfo tests[] = {
	{"layout and modes", test_layout},
	{"kmsd.conf and kms-hsmd.conf", test_kmsd_conf},
	{"development PKI", test_pki},
	{"store: certificate, roster, entitlements", test_store},
	{"TrK and InK in the token match the files", test_token_keys},
	{"kms-hsmd --check on kms-hsmd.conf", test_hsmd_check},
	{"kms-devsetup token: ES256 JWT against the JWKS", test_jwt},
	{"a second run changes nothing", test_second_run},
	{"failures leave no partial directory", test_failures},
	{"--force replaces a complete domain", test_force},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"devsetup", suite_init, suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

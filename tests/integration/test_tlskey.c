/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd's TLS key in the token (label integration): kms-devsetup --tls-in-token makes the server
 * key pair in the SoftHSM token (no server-key.pem anywhere), kmsd holds only the certificate
 * and has kms-hsmd sign every handshake. curl with TLS 1.3 and with TLS 1.2 (ECDHE-ECDSA),
 * kms-client keyprov, the certificate presented, and handshakes after the kms-hsmd processes
 * were killed and restarted.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static int
suite_init(void)
{
	static const char *const extra[] = {"--tls-in-token", NULL};

	return it_make_domain("tlskey-it", extra) == 0 && it_start_domain_kmsd(NULL) == 0 ? 0 : 1;
}

/* curl POST init as alice with the TLS options opts (NULL-terminated, at most 4): the status. */
static int
curl_init(const char *const *opts)
{
	char out[65536];
	char url[160], ca[400], cert[400], key[400];
	const char *argv[24];
	size_t n = 0, i;

	snprintf(url, sizeof(url), "https://127.0.0.1:%u" ROOT "/init", it_port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", it_dev);
	it_client_path(cert, sizeof(cert), "alice", "cert.pem");
	it_client_path(key, sizeof(key), "alice", "key.pem");
	argv[n++] = "/usr/bin/curl";
	argv[n++] = "-sS";
	argv[n++] = "-o";
	argv[n++] = "/dev/null";
	argv[n++] = "-w";
	argv[n++] = "%{http_code}";
	for (i = 0; opts[i] != NULL && i < 4; i++) {
		argv[n++] = opts[i];
	}
	argv[n++] = "-X";
	argv[n++] = "POST";
	argv[n++] = "--cacert";
	argv[n++] = ca;
	argv[n++] = "--cert";
	argv[n++] = cert;
	argv[n++] = "--key";
	argv[n++] = key;
	argv[n++] = url;
	argv[n] = NULL;
	if (it_run(argv, out, sizeof(out)) != 0) {
		fprintf(stderr, "curl: %s\n", out);
		return -1;
	}
	return (int)strtol(out, NULL, 10);
}

/* TLS 1.3 and TLS 1.2 (ECDHE-ECDSA): each handshake signed by kms-hsmd in the token. */
static void
test_curl_versions(void)
{
	static const char *const v13[] = {"--tlsv1.3", NULL};
	static const char *const v12[] = {"--tlsv1.2", "--tls-max", "1.2", NULL};
	CU_ASSERT_EQUAL(curl_init(v13), 200);
	CU_ASSERT_EQUAL(curl_init(v12), 200);
}

/* The certificate the server presents is pki/server.pem; the handshake is TLS 1.3. */
static void
test_presented_certificate(void)
{
	struct it_conn c;
	char path[400];
	X509 *want = NULL, *got;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pki/server.pem", it_dev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "r"));
	want = PEM_read_X509(f, NULL, NULL, NULL);
	(void)fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_EQUAL_FATAL(it_conn_open(&c, "bob"), 0);
	got = SSL_get1_peer_certificate(c.ssl);
	CU_ASSERT_PTR_NOT_NULL(got);
	CU_ASSERT(got != NULL && X509_cmp(got, want) == 0);
	CU_ASSERT_EQUAL(SSL_version(c.ssl), TLS1_3_VERSION);
	X509_free(got);
	X509_free(want);
	it_conn_close(&c);
}

/* kms-client keyprov: the independent client validates the key material over this TLS. */
static void
test_kms_client(void)
{
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
}

/* The file at path into buf, NUL-terminated (at most cap - 1 bytes): 0, or -1. */
static int
read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		return -1;
	}
	n = fread(buf, 1, cap - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	return 0;
}

/* Does the file at path hold a PEM private key? */
static int
holds_private_key(const char *path)
{
	static char buf[65536];

	return read_text(path, buf, sizeof(buf)) == 0 && strstr(buf, "PRIVATE KEY-----") != NULL;
}

/* Walk dir: the number of files holding a private key that is not a client's, the CA's or the
 * IdMS's (the development PKI keeps those in files by design). */
static int
server_keys_in(const char *dir)
{
	struct dirent *e;
	char path[1024];
	struct stat st;
	int found = 0;
	DIR *d = opendir(dir);

	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0) {
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (strcmp(e->d_name, "clients") != 0 && strcmp(e->d_name, "tokens") != 0) {
				found += server_keys_in(path);
			}
			continue;
		}
		if (S_ISREG(st.st_mode) && strcmp(e->d_name, "ca-key.pem") != 0 &&
		    strcmp(e->d_name, "idms-key.pem") != 0 && holds_private_key(path)) {
			fprintf(stderr, "a private key in %s\n", path);
			found++;
		}
	}
	(void)closedir(d);
	return found;
}

/* No file of the development domain holds the server's private key; the configs say so. */
static void
test_no_server_key_file(void)
{
	char path[400];
	char conf[65536];

	snprintf(path, sizeof(path), "%s/pki/server-key.pem", it_dev);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(server_keys_in(it_dev), 0);
	snprintf(path, sizeof(path), "%s/kmsd.conf", it_dev);
	CU_ASSERT_EQUAL_FATAL(read_text(path, conf, sizeof(conf)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(conf, "\ntls_key_token = yes\n"));
	CU_ASSERT_PTR_NULL(strstr(conf, "\ntls_key ="));
	snprintf(path, sizeof(path), "%s/kms-hsmd.conf", it_dev);
	CU_ASSERT_EQUAL_FATAL(read_text(path, conf, sizeof(conf)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(conf, "\ntls_key = kms.tls\n"));
}

/* The kms-hsmd processes killed: once the supervisor has restarted them, handshakes work. */
static void
test_hsmd_restart(void)
{
	static const char *const v13[] = {"--tlsv1.3", NULL};
	static const char *const v12[] = {"--tlsv1.2", "--tls-max", "1.2", NULL};
	pid_t pids[64], now[64];
	size_t n = it_children(it_kmsd_pid, pids, 64), i, m = 0;
	int tries, s = -1;

	CU_ASSERT_FATAL(n >= 1);
	for (i = 0; i < n; i++) {
		(void)kill(pids[i], SIGKILL);
	}
	/* every slot back, with new processes */
	for (tries = 0; tries < 200; tries++) {
		usleep(100000);
		m = it_children(it_kmsd_pid, now, 64);
		if (m == n) {
			break;
		}
	}
	CU_ASSERT_EQUAL(m, n);
	for (i = 0; i < m; i++) {
		size_t j;

		for (j = 0; j < n; j++) {
			CU_ASSERT_NOT_EQUAL(now[i], pids[j]);
		}
	}
	for (tries = 0; tries < 100 && s != 200; tries++) {
		s = curl_init(v13);
		if (s != 200) {
			usleep(100000);
		}
	}
	CU_ASSERT_EQUAL(s, 200);
	/* several handshakes, so that every thread's slot signs */
	for (i = 0; i < 2 * n + 2; i++) {
		CU_ASSERT_EQUAL(curl_init(i % 2 == 0 ? v12 : v13), 200);
	}
}

static CU_TestInfo tlskey_tests[] = {
	{"curl: TLS 1.3 and TLS 1.2, the key in the token", test_curl_versions},
	{"the certificate presented is pki/server.pem", test_presented_certificate},
	{"kms-client keyprov validates", test_kms_client},
	{"no server private key in any file", test_no_server_key_file},
	{"kms-hsmd killed: handshakes after the restart", test_hsmd_restart},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"kmsd TLS key in the token", suite_init, it_suite_cleanup, NULL, NULL, tlskey_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

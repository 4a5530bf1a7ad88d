/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key ceremony end to end (label integration): kms-ceremony runs a ceremony file on a fresh
 * SoftHSM token (init-token, generate, certificate, a 3-of-5 backup, the enrolment of two
 * clients under keys they supply, a pre-mint that is interrupted and resumed); its transcripts
 * verify and a modified one does not; a restore from two shares and from a mistyped share fails
 * and changes nothing; a restore from three shares into a second token succeeds; kmsd on each
 * node then serves the same key sets, which kms-client validates. Then a ceremony runs on NSS's
 * softoken, whose RFC 5649 wrap is exact.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/hex.h"
#include "hsm/uid.h"
#include "proto/store.h"
#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"
#include "tools/devtoken.h"
#include "tools/share.h"

#include "common/banned.h"

#define PERIOD   2592000ULL
#define PERIODS  2
#define NUM_IDS  3
#define SO_PIN   "so-pin-0123"
#define USER_PIN "user-pin-4567"

static char T[400]; /* the ceremony's directory */
static char out[65536];
static EVP_PKEY *alice_key; /* alice's RSA key pair: she receives her TrK and InK under it */
static uint8_t mcs_kek[32]; /* mcptt-server's AES key-encryption key */
static uint64_t first_period;
static const char *const ids[NUM_IDS] = {ALICE_URI, BOB_URI, MCS_URI};

static void
tpath(char *p, size_t cap, const char *rel)
{
	snprintf(p, cap, "%s/%s", T, rel);
}

static int
write_text(const char *rel, const char *text)
{
	char p[600];
	int fd;
	size_t len = strlen(text);

	tpath(p, sizeof(p), rel);
	(void)unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -1;
	}
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int
read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		return -1;
	}
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0) {
		return -1;
	}
	buf[n] = '\0';
	return (int)n;
}

/* kms-ceremony with argv (NULL-terminated, after the program), input on its stdin; output
 * (stdout and stderr) into out; its exit status, or -1. */
static int
ceremony(const char *input, const char *const args[])
{
	const char *argv[16];
	char outp[600];
	int in[2], fd, status;
	size_t i, n = 0;
	pid_t pid;

	argv[n++] = KMS_CEREMONY_BIN;
	for (i = 0; args[i] != NULL && n + 1 < 16; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	tpath(outp, sizeof(outp), "ceremony.out");
	if (pipe(in) != 0) {
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(in[0], 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
			_exit(127);
		}
		close(in[1]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(in[0]);
	if (input != NULL) {
		(void)!write(in[1], input, strlen(input));
	}
	close(in[1]);
	if (waitpid(pid, &status, 0) != pid) {
		return -1;
	}
	if (read_text(outp, out, sizeof(out)) < 0) {
		out[0] = '\0';
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A ceremony file: the domain's keys, and the keys the steps it lists need. */
/* The ceremony file's module lines: SoftHSM's (suite_init), or NSS's (test_ceremony_on_nss). */
static char module_lines[1600];

static int
write_ceremony_file(const char *name, const char *token, const char *store, const char *steps)
{
	char text[8192], now[32];
	time_t t = time(NULL);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = (size_t)snprintf(text, sizeof(text),
			     "ceremony = it-ceremony\n"
			     "operator = Integration Test\n"
			     "witness = Witness One\n"
			     "%s"
			     "token_label = %s\n"
			     "store = %s/%s\n"
			     "kms_uri = kms.example.org\n"
			     "issuer = kms.example.org ceremony test\n"
			     "valid_from = 2026-01-01T00:00:00Z\n"
			     "valid_to = 2036-01-01T00:00:00Z\n"
			     "user_key_period = %llu\n"
			     "domain = example.org\n"
			     "custodian = Custodian One\n"
			     "custodian = Custodian Two\n"
			     "custodian = Custodian Three\n"
			     "custodian = Custodian Four\n"
			     "custodian = Custodian Five\n"
			     "threshold = 3\n"
			     "transcript = %s/%s.transcript\n"
			     "%s",
			     module_lines, token, T, store, (unsigned long long)PERIOD, T, name,
			     steps);
	if (strstr(steps, "backup") != NULL) {
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "backup_file = %s/backup.txt\n"
				      "share_output = files\n"
				      "share_dir = %s/shares\n",
				      T, T);
	}
	if (strstr(steps, "enrol") != NULL) {
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "enrol = " ALICE_URI " ue %s/alice-pub.pem\n"
				      "enrol = " MCS_URI " server %s/mcs.kek\n"
				      "enrol_dir = %s/enrol\n"
				      "oaep_hash = sha1\n",
				      T, T, T);
	}
	if (strstr(steps, "premint") != NULL) {
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "premint_identities = %s/ids.txt\n"
				      "premint_from = %s\n"
				      "premint_periods = %d\n",
				      T, now, PERIODS);
	}
	return n < sizeof(text) ? write_text(name, text) : -1;
}

static int
suite_init(void)
{
	char p[600], conf[600], hex[65], text[512];
	FILE *f;
	EVP_PKEY_CTX *kc;
	size_t i, n;

	if (it_make_domain("ceremony-it", NULL) != 0) {
		return 1;
	}
	snprintf(module_lines, sizeof(module_lines), "module = %s\nallow_host_ecb_wrap = yes\n",
		 kms_devtoken_module());
	snprintf(T, sizeof(T), "%s/ceremony", it_tmp);
	if (mkdir(T, 0700) != 0) {
		return 1;
	}
	tpath(p, sizeof(p), "tokens");
	tpath(conf, sizeof(conf), "softhsm2.conf");
	if (mkdir(p, 0700) != 0 || kms_devtoken_write_conf(conf, p) != KMS_OK ||
	    setenv("SOFTHSM2_CONF", conf, 1) != 0) {
		return 1;
	}
	tpath(p, sizeof(p), "shares");
	if (mkdir(p, 0700) != 0) {
		return 1;
	}
	tpath(p, sizeof(p), "enrol");
	if (mkdir(p, 0700) != 0) {
		return 1;
	}
	/* the clients' keys: alice an RSA public key, mcptt-server an AES key */
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048) != 1 ||
	    EVP_PKEY_keygen(kc, &alice_key) != 1) {
		EVP_PKEY_CTX_free(kc);
		return 1;
	}
	EVP_PKEY_CTX_free(kc);
	tpath(p, sizeof(p), "alice-pub.pem");
	f = fopen(p, "w");
	if (f == NULL || PEM_write_PUBKEY(f, alice_key) != 1 || fclose(f) != 0) {
		return 1;
	}
	if (RAND_bytes(mcs_kek, sizeof(mcs_kek)) != 1 ||
	    kms_hex_encode(hex, sizeof(hex), mcs_kek, sizeof(mcs_kek)) != KMS_OK) {
		return 1;
	}
	snprintf(text, sizeof(text), "%s\n", hex);
	if (write_text("mcs.kek", text) != 0) {
		return 1;
	}
	text[0] = '\0';
	for (i = 0, n = 0; i < NUM_IDS; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n", ids[i]);
	}
	if (write_text("ids.txt", "# the identities to pre-mint\n") != 0) {
		return 1;
	}
	tpath(p, sizeof(p), "ids.txt");
	f = fopen(p, "a");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		return 1;
	}
	if (write_text("pin", USER_PIN "\n") != 0 ||
	    kms_key_period_no(&first_period, kms_ntp_from_unix((uint64_t)time(NULL)), PERIOD, 0) !=
		    KMS_OK) {
		return 1;
	}
	return write_ceremony_file("node1.conf", "node1", "node1.db",
				   "step = init-token\nstep = generate\nstep = certificate\n"
				   "step = backup\nstep = enrol\nstep = premint\n") != 0 ||
			       write_ceremony_file("node1-premint.conf", "node1", "node1.db",
						   "step = premint\n") != 0 ||
			       write_ceremony_file("node2.conf", "node2", "node2.db",
						   "step = init-token\n") != 0
		       ? 1
		       : 0;
}

static int
suite_cleanup(void)
{
	EVP_PKEY_free(alice_key);
	alice_key = NULL;
	return it_suite_cleanup();
}

/* The pre-minted sets of node's store: how many of ids x periods are there. */
static int
count_sets(const char *db, struct kms_store_keyset *first_two)
{
	struct kms_store *st = NULL;
	char p[600];
	size_t i;
	uint64_t k;
	int has, n = 0;

	tpath(p, sizeof(p), db);
	if (kms_store_open(&st, p, KMS_STORE_RO) != KMS_OK) {
		return -1;
	}
	for (i = 0; i < NUM_IDS; i++) {
		for (k = first_period; k < first_period + PERIODS; k++) {
			if (kms_store_has_keyset(st, ids[i], k, &has) != KMS_OK) {
				n = -1;
				goto out;
			}
			if (has && first_two != NULL && n < 2 &&
			    kms_store_get_keyset(st, ids[i], k, &first_two[n]) != KMS_OK) {
				n = -1;
				goto out;
			}
			n += has;
		}
	}
out:
	kms_store_close(st);
	return n;
}

static struct kms_store_keyset early[2];

/* The whole ceremony, its pre-mint stopped after two sets (as an interruption would). */
static void
test_run_interrupted(void)
{
	char cf[600];
	const char *args[] = {"run", cf, "--yes", NULL};
	int rc;

	tpath(cf, sizeof(cf), "node1.conf");
	setenv("KMS_CEREMONY_STOP_AFTER", "2", 1);
	rc = ceremony(SO_PIN "\n" SO_PIN "\n" USER_PIN "\n" USER_PIN "\n", args);
	unsetenv("KMS_CEREMONY_STOP_AFTER");
	if (rc != 3) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL(rc, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Pre-mint stopped after 2 new sets"));
	CU_ASSERT_EQUAL(count_sets("node1.db", early), 2);
	/* no secret on the terminal */
	CU_ASSERT_PTR_NULL(strstr(out, SO_PIN));
	CU_ASSERT_PTR_NULL(strstr(out, USER_PIN));
}

/* A wrong PIN changes nothing; the pre-mint resumed makes exactly the missing sets. */
static void
test_resume(void)
{
	char cf[600], tr[600];
	const char *args[] = {"run", cf, "--yes", "--transcript", tr, NULL};
	struct kms_store_keyset again[2];
	int rc;

	tpath(cf, sizeof(cf), "node1-premint.conf");
	tpath(tr, sizeof(tr), "wrong-pin.transcript");
	rc = ceremony("not-the-pin\n", args);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "PIN"));
	CU_ASSERT_EQUAL(count_sets("node1.db", NULL), 2);

	tpath(tr, sizeof(tr), "resume.transcript");
	rc = ceremony(USER_PIN "\n", args);
	if (rc != 0) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "4 new, 2 already there"));
	CU_ASSERT_EQUAL(count_sets("node1.db", again), NUM_IDS * PERIODS);
	/* the sets made before the interruption were kept, not made again */
	CU_ASSERT_EQUAL(memcmp(&early[0], &again[0], sizeof(early[0])), 0);
	CU_ASSERT_EQUAL(memcmp(&early[1], &again[1], sizeof(early[1])), 0);
}

/* Flip one character of the line containing what, into dst. */
static int
modify_copy(const char *src, const char *dst, const char *what)
{
	static char buf[1 << 20];
	char *p;
	int n = read_text(src, buf, sizeof(buf));
	int fd;

	if (n < 0 || (p = strstr(buf, what)) == NULL) {
		return -1;
	}
	*p = *p == 'x' ? 'y' : 'x';
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		return -1;
	}
	return close(fd);
}

static void
test_transcripts(void)
{
	char t1[600], t2[600], bad[600], fpr[200];
	const char *v1[] = {"verify-transcript", t1, NULL};
	const char *v2[] = {"verify-transcript", t2, NULL};
	const char *vb[] = {"verify-transcript", bad, NULL};
	const char *vk[] = {"verify-transcript", t1, "--key", fpr, NULL};
	char *p;

	tpath(t1, sizeof(t1), "node1.conf.transcript");
	tpath(t2, sizeof(t2), "resume.transcript");
	tpath(bad, sizeof(bad), "modified.transcript");
	CU_ASSERT_EQUAL(ceremony(NULL, v1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "verifies"));
	/* the fingerprint it prints is the one --key accepts */
	p = strstr(out, "fingerprint\n  ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(fpr, sizeof(fpr), "%.64s", p + strlen("fingerprint\n  "));
	CU_ASSERT_EQUAL(ceremony(NULL, vk), 0);
	CU_ASSERT_EQUAL(ceremony(NULL, v2), 0);
	/* a changed custodian name in the transcript is found */
	CU_ASSERT_EQUAL_FATAL(modify_copy(t1, bad, "Custodian Four"), 0);
	CU_ASSERT_EQUAL(ceremony(NULL, vb), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "does NOT verify"));
	/* another key's fingerprint is refused */
	fpr[0] = fpr[0] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(ceremony(NULL, vk), 1);
}

/* Two shares are too few, a mistyped share is found with its line: nothing changes. */
static void
test_restore_refused(void)
{
	char cf[600], bk[600], s2[600], s4[600], s5[600], bad[600], tr[600], text[4096];
	const char *two[] = {"restore", cf,      "--backup",     bk, "--share", s2, "--share",
			     s4,        "--yes", "--transcript", tr, NULL};
	const char *typo[] = {"restore", cf,  "--backup", bk, "--share", s2,
			      "--share", bad, "--share",  s5, "--yes",   "--transcript",
			      tr,        NULL};
	char *p, *line;
	int fd, n, k;

	tpath(cf, sizeof(cf), "node2.conf");
	tpath(bk, sizeof(bk), "backup.txt");
	tpath(s2, sizeof(s2), "shares/share-2.txt");
	tpath(s4, sizeof(s4), "shares/share-4.txt");
	tpath(s5, sizeof(s5), "shares/share-5.txt");
	tpath(bad, sizeof(bad), "share-4-typo.txt");
	tpath(tr, sizeof(tr), "refused.transcript");
	CU_ASSERT_EQUAL(ceremony(SO_PIN "\n" SO_PIN "\n" USER_PIN "\n" USER_PIN "\n", two), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "this backup needs 3"));
	/* one character of share 4's last line but one changed: a typing error */
	n = read_text(s4, text, sizeof(text));
	CU_ASSERT_FATAL(n > 0);
	p = text + n - 1;
	while (p > text && *p == '\n') {
		p--;
	}
	while (p > text && *p != '\n') {
		p--;
	}
	line = p; /* the newline before the last line */
	p--;
	while (p > text && *p != '\n') {
		p--;
	}
	/* p: start of the line before the last; change its last letter or digit */
	for (k = (int)(line - text) - 1; k > (int)(p - text); k--) {
		if ((text[k] >= 'A' && text[k] <= 'Z') || (text[k] >= '0' && text[k] <= '9')) {
			text[k] = text[k] == 'A' ? 'B' : 'A';
			break;
		}
	}
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, (size_t)n), n);
	close(fd);
	CU_ASSERT_EQUAL(ceremony(SO_PIN "\n" SO_PIN "\n" USER_PIN "\n" USER_PIN "\n", typo), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "share 2 ("));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "line"));
	/* nothing was made: no transcript, no store */
	CU_ASSERT_NOT_EQUAL(access(tr, F_OK), 0);
	tpath(tr, sizeof(tr), "node2.db");
	CU_ASSERT_NOT_EQUAL(access(tr, F_OK), 0);
}

/* A share of another ceremony's backup, and a token that is not there: refused, precisely. */
static void
test_restore_foreign(void)
{
	char cf[600], bk[600], s1[600], s3[600], s5[600], other[600], tr[600],
		text[KMS_SHARE_MAX_TEXT + 1];
	const char *args[] = {"restore", cf,    "--backup", bk, "--share", s1,
			      "--share", other, "--share",  s3, "--yes",   "--transcript",
			      tr,        NULL};
	const char *good[] = {"restore", cf,  "--backup", bk, "--share", s1,
			      "--share", s3,  "--share",  s5, "--yes",   "--transcript",
			      tr,        NULL};
	struct kms_share sh;
	size_t len = 0;
	int fd;

	tpath(bk, sizeof(bk), "backup.txt");
	tpath(s1, sizeof(s1), "shares/share-1.txt");
	tpath(s3, sizeof(s3), "shares/share-3.txt");
	tpath(s5, sizeof(s5), "shares/share-5.txt");
	tpath(other, sizeof(other), "other-share.txt");
	tpath(tr, sizeof(tr), "foreign.transcript");
	memset(&sh, 0, sizeof(sh));
	snprintf(sh.ceremony, sizeof(sh.ceremony), "another-ceremony");
	snprintf(sh.label, sizeof(sh.label), "Custodian Two");
	sh.x = 2;
	sh.m = 3;
	sh.n = 5;
	CU_ASSERT_FATAL(RAND_bytes(sh.backup_id, sizeof(sh.backup_id)) == 1 &&
			RAND_bytes(sh.y, sizeof(sh.y)) == 1);
	CU_ASSERT_EQUAL_FATAL(kms_share_format(&sh, text, sizeof(text), &len), KMS_OK);
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, len), (ssize_t)len);
	close(fd);
	tpath(cf, sizeof(cf), "node2.conf");
	CU_ASSERT_EQUAL(ceremony(SO_PIN "\n" SO_PIN "\n" USER_PIN "\n" USER_PIN "\n", args), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "share 2 ("));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "from another backup (ceremony another-ceremony)"));
	CU_ASSERT_NOT_EQUAL(access(tr, F_OK), 0);
	/* a token that does not exist (no init-token in this file) */
	CU_ASSERT_EQUAL_FATAL(write_ceremony_file("node9.conf", "node9", "node9.db", ""), 0);
	tpath(cf, sizeof(cf), "node9.conf");
	CU_ASSERT_EQUAL(ceremony(USER_PIN "\n", good), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "node9"));
	tpath(tr, sizeof(tr), "node9.db");
	CU_ASSERT_NOT_EQUAL(access(tr, F_OK), 0);
	if (strstr(out, "node9") == NULL) {
		fprintf(stderr, "\n%s\n", out);
	}
}

static int
copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int a = open(from, O_RDONLY | O_CLOEXEC), b;
	ssize_t n;

	if (a < 0) {
		return errno == ENOENT ? 0 : -1;
	}
	b = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (b < 0) {
		close(a);
		return -1;
	}
	while ((n = read(a, buf, sizeof(buf))) > 0) {
		if (write(b, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	}
	close(a);
	return close(b) == 0 && n == 0 ? 0 : -1;
}

/* Three shares restore the domain into a second token with a copy of the store. */
static void
test_restore(void)
{
	char cf[600], bk[600], s1[600], s3[600], s5[600], tr[600], a[600], b[600];
	const char *args[] = {"restore", cf, "--backup", bk, "--share", s1,
			      "--share", s3, "--share",  s5, "--yes",   NULL};
	const char *v[] = {"verify-transcript", tr, NULL};
	int rc;

	tpath(cf, sizeof(cf), "node2.conf");
	tpath(bk, sizeof(bk), "backup.txt");
	tpath(s1, sizeof(s1), "shares/share-1.txt");
	tpath(s3, sizeof(s3), "shares/share-3.txt");
	tpath(s5, sizeof(s5), "shares/share-5.txt");
	tpath(a, sizeof(a), "node1.db");
	tpath(b, sizeof(b), "node2.db");
	CU_ASSERT_EQUAL_FATAL(copy_file(a, b), 0);
	tpath(a, sizeof(a), "node1.db-wal");
	tpath(b, sizeof(b), "node2.db-wal");
	CU_ASSERT_EQUAL_FATAL(copy_file(a, b), 0);
	rc = ceremony(SO_PIN "\n" SO_PIN "\n" USER_PIN "\n" USER_PIN "\n", args);
	if (rc != 0) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "give the certificate's KPAK and Z_T"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "4 imported"));
	tpath(tr, sizeof(tr), "node2.conf.transcript");
	CU_ASSERT_EQUAL(ceremony(NULL, v), 0);
}

/* A restore run again finds the KEK and the client keys in place and changes nothing. */
static void
test_restore_again(void)
{
	char cf[600], bk[600], s2[600], s3[600], s4[600], tr[600];
	const char *args[] = {"restore", cf,  "--backup", bk, "--share", s2,
			      "--share", s3,  "--share",  s4, "--yes",   "--transcript",
			      tr,        NULL};
	int rc;

	CU_ASSERT_EQUAL_FATAL(write_ceremony_file("node2-again.conf", "node2", "node2.db", ""), 0);
	tpath(cf, sizeof(cf), "node2-again.conf");
	tpath(bk, sizeof(bk), "backup.txt");
	tpath(s2, sizeof(s2), "shares/share-2.txt");
	tpath(s3, sizeof(s3), "shares/share-3.txt");
	tpath(s4, sizeof(s4), "shares/share-4.txt");
	tpath(tr, sizeof(tr), "again.transcript");
	{
		/* run needs a step */
		const char *run[] = {"run", cf, "--yes", NULL};

		CU_ASSERT_EQUAL(ceremony(USER_PIN "\n", run), 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "lists no step"));
	}
	rc = ceremony(USER_PIN "\n", args);
	if (rc != 0) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "checking that it is this domain's KEK"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 imported, 4 already in the token"));
}

/* The TrK and InK of an enrolment file, unwrapped as the client does, into hex files. */
static int
client_keys(const char *prefix, int rsa, const char *trk_file, const char *ink_file)
{
	char dirp[600], p[900], text[8192], hex[65], *v, *e;
	const char *names[2] = {"trk = ", "ink = "};
	const char *files[2] = {trk_file, ink_file};
	uint8_t blob[1100], key[1100];
	size_t blen, klen, outl;
	struct dirent *de;
	DIR *d;
	int i, ok = 0, len;

	tpath(dirp, sizeof(dirp), "enrol");
	d = opendir(dirp);
	if (d == NULL) {
		return -1;
	}
	p[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(p, sizeof(p), "%s/%s", dirp, de->d_name);
		}
	}
	closedir(d);
	if (p[0] == '\0' || read_text(p, text, sizeof(text)) < 0) {
		return -1;
	}
	for (i = 0; i < 2; i++) {
		v = strstr(text, names[i]);
		if (v == NULL) {
			return -1;
		}
		v += strlen(names[i]);
		e = strchr(v, '\n');
		if (e == NULL) {
			return -1;
		}
		*e = '\0';
		if (kms_hex_decode_loose(blob, sizeof(blob), &blen, v) != KMS_OK) {
			return -1;
		}
		*e = '\n';
		klen = 0;
		if (rsa) {
			EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(alice_key, NULL);

			outl = sizeof(key);
			ok = c != NULL && EVP_PKEY_decrypt_init(c) == 1 &&
			     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
			     EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha1()) == 1 &&
			     EVP_PKEY_decrypt(c, key, &outl, blob, blen) == 1;
			klen = outl;
			EVP_PKEY_CTX_free(c);
		} else {
			EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

			ok = c != NULL;
			if (ok) {
				EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
				ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, mcs_kek,
							NULL) == 1 &&
				     EVP_DecryptUpdate(c, key, &len, blob, (int)blen) == 1;
				klen = ok ? (size_t)len : 0;
			}
			EVP_CIPHER_CTX_free(c);
		}
		if (!ok || klen != 32 || kms_hex_encode(hex, sizeof(hex), key, 32) != KMS_OK) {
			return -1;
		}
		if (write_text(files[i], hex) != 0) {
			return -1;
		}
	}
	return 0;
}

/* kmsd on node n (its store, its token) with issuer pre-minted. */
static int
start_node(int n)
{
	char src[600], hconf[600], kconf[600], ov[2048], pin[600];

	snprintf(src, sizeof(src), "%s/kms-hsmd.conf", it_dev);
	snprintf(hconf, sizeof(hconf), "%s/hsmd-%d.conf", T, n);
	tpath(pin, sizeof(pin), "pin");
	snprintf(ov, sizeof(ov),
		 "environment = SOFTHSM2_CONF=%s/softhsm2.conf\n"
		 "token = pkcs11:token=node%d\n"
		 "pin_file = %s\n"
		 "store = %s/node%d.db\n"
		 "issuer = pre-minted\n",
		 T, n, pin, T, n);
	if (it_conf_variant(src, hconf, ov) != 0) {
		return -1;
	}
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(kconf, sizeof(kconf), "%s/kmsd-%d.conf", T, n);
	snprintf(ov, sizeof(ov), "store = %s/node%d.db\nhsmd_conf = %s\n", T, n, hconf);
	if (it_conf_variant(src, kconf, ov) != 0) {
		return -1;
	}
	return it_start_domain_kmsd(kconf);
}

/* kms-client as name with the enrolled keys: keyprov of its own identity into dir. */
static int
client_keyprov(const char *name, const char *dir)
{
	char trk[600], ink[600], d[600], o[16384];
	const char *args[] = {"--trk", trk, "--ink", ink, "--out", d, "keyprov", NULL};
	int rc;

	snprintf(trk, sizeof(trk), "%s/%s.trk", T, name);
	snprintf(ink, sizeof(ink), "%s/%s.ink", T, name);
	snprintf(d, sizeof(d), "%s/%s", T, dir);
	rc = it_kms_client(name, args, o, sizeof(o));
	if (rc != 0) {
		fprintf(stderr, "\nkms-client %s: %s\n", name, o);
	}
	return rc;
}

static int
same_file(const char *a, const char *b)
{
	char x[2048], y[2048], pa[600], pb[600];

	tpath(pa, sizeof(pa), a);
	tpath(pb, sizeof(pb), b);
	return read_text(pa, x, sizeof(x)) > 0 && read_text(pb, y, sizeof(y)) > 0 &&
	       strcmp(x, y) == 0;
}

/* Both nodes serve the enrolled clients the same pre-minted key sets. */
static void
test_serve_both(void)
{
	CU_ASSERT_EQUAL_FATAL(client_keys("sip_alice_example.org-", 1, "alice.trk", "alice.ink"),
			      0);
	CU_ASSERT_EQUAL_FATAL(client_keys("sip_mcptt-server_example.org-", 0, "mcptt-server.trk",
					  "mcptt-server.ink"),
			      0);
	CU_ASSERT_EQUAL_FATAL(start_node(1), 0);
	CU_ASSERT_EQUAL(client_keyprov("alice", "alice-1"), 0);
	CU_ASSERT_EQUAL(client_keyprov("mcptt-server", "mcs-1"), 0);
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL_FATAL(start_node(2), 0);
	CU_ASSERT_EQUAL(client_keyprov("alice", "alice-2"), 0);
	CU_ASSERT_EQUAL(client_keyprov("mcptt-server", "mcs-2"), 0);
	CU_ASSERT(same_file("alice-1/1-ssk.hex", "alice-2/1-ssk.hex"));
	CU_ASSERT(same_file("alice-1/1-pvt.hex", "alice-2/1-pvt.hex"));
	CU_ASSERT(same_file("alice-1/1-rsk.hex", "alice-2/1-rsk.hex"));
	CU_ASSERT(same_file("mcs-1/1-ssk.hex", "mcs-2/1-ssk.hex"));
	CU_ASSERT(same_file("mcs-1/1-rsk.hex", "mcs-2/1-rsk.hex"));
	/* and the two clients got different material */
	CU_ASSERT(!same_file("alice-1/1-ssk.hex", "mcs-1/1-ssk.hex"));
	{
		/* node 1's log, checkpointed at its stop by node 1's audit key (made by generate);
		 * node 2's audit key (made by restore) is registered in node 2's store */
		char st1[600], st2[600], o[16384];
		const char *v1[] = {KMS_ADMIN_BIN, "--store", st1, "audit", "verify", NULL};
		const char *v2[] = {KMS_ADMIN_BIN, "--store", st2, "audit", "verify", NULL};

		tpath(st1, sizeof(st1), "node1.db");
		tpath(st2, sizeof(st2), "node2.db");
		CU_ASSERT_EQUAL(it_run(v1, o, sizeof(o)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(o, "audit key: "));
		CU_ASSERT_PTR_NULL(strstr(o, ": 0 checkpoints"));
		CU_ASSERT_EQUAL(it_run(v2, o, sizeof(o)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(o, "audit key: "));
	}
}

/* The store's TrK and InK labels of client in db (under T), and whether label is retired. */
static int
store_labels(const char *db, const char *client, char *trk, char *ink, size_t cap)
{
	struct kms_store *st = NULL;
	struct kms_store_client c;
	char p[600];
	int rc;

	tpath(p, sizeof(p), db);
	if (kms_store_open(&st, p, KMS_STORE_RO) != KMS_OK) {
		return -1;
	}
	rc = kms_store_get_client(st, client, &c);
	kms_store_close(st);
	if (rc != KMS_OK) {
		return -1;
	}
	snprintf(trk, cap, "%s", c.trk_label);
	snprintf(ink, cap, "%s", c.ink_label);
	return 0;
}

static int
store_retired(const char *db, const char *label)
{
	struct kms_store *st = NULL;
	char p[600];
	int retired = -1;

	tpath(p, sizeof(p), db);
	if (kms_store_open(&st, p, KMS_STORE_RO) != KMS_OK) {
		return -1;
	}
	if (kms_store_is_retired(st, label, &retired) != KMS_OK) {
		retired = -1;
	}
	kms_store_close(st);
	return retired;
}

/* A "trk." / "ink." label of the ceremony: 16 hex digits of the id's hash, then 16 random. */
static int
ceremony_label(const char *label, const char *prefix)
{
	size_t i, n = strlen(prefix);

	if (strncmp(label, prefix, n) != 0 || strlen(label) != n + 33 || label[n + 16] != '.') {
		return 0;
	}
	for (i = n; label[i] != '\0'; i++) {
		if (i != n + 16 && strchr("0123456789ABCDEF", label[i]) == NULL) {
			return 0;
		}
	}
	return 1;
}

/*
 * A re-enrolment reaches a node whose token still holds the client's earlier keys: node 2
 * (restored before) shares the store that the ceremony re-enrols mcptt-server into. The new
 * keys have labels of their own, so node 2's kms-hsmd takes them from the store, serves the
 * client under them, and destroys the earlier ones, which the re-enrolment retired. An earlier
 * enrolment file still in enrol_dir stops the run before anything is made.
 */
static void
test_reenrol(void)
{
	char cf[600], a[600], b[600], old_trk[256], old_ink[256], trk[256], ink[256];
	static char log[1 << 20];
	char needle[400];
	const char *run[] = {"run", cf, "--yes", NULL};
	int rc, fd;

	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL_FATAL(store_labels("node2.db", MCS_URI, old_trk, old_ink, 256), 0);
	CU_ASSERT(ceremony_label(old_trk, "trk."));
	CU_ASSERT(ceremony_label(old_ink, "ink."));
	CU_ASSERT_EQUAL_FATAL(
		write_ceremony_file("reenrol.conf", "node1", "node2.db", "step = enrol\n"), 0);
	tpath(cf, sizeof(cf), "reenrol.conf");
	/* the first enrolment's files are still there: refused, nothing made */
	CU_ASSERT_EQUAL(ceremony(USER_PIN "\n", run), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "from an earlier enrolment of " ALICE_URI));
	CU_ASSERT_EQUAL_FATAL(store_labels("node2.db", MCS_URI, trk, ink, sizeof(trk)), 0);
	CU_ASSERT_STRING_EQUAL(trk, old_trk);
	tpath(a, sizeof(a), "enrol");
	tpath(b, sizeof(b), "enrol-1");
	CU_ASSERT_EQUAL_FATAL(rename(a, b), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(a, 0700), 0);
	rc = ceremony(USER_PIN "\n", run);
	if (rc != 0) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL_FATAL(store_labels("node2.db", MCS_URI, trk, ink, sizeof(trk)), 0);
	CU_ASSERT(ceremony_label(trk, "trk."));
	CU_ASSERT(ceremony_label(ink, "ink."));
	CU_ASSERT_STRING_NOT_EQUAL(trk, old_trk);
	CU_ASSERT_STRING_NOT_EQUAL(ink, old_ink);
	CU_ASSERT_EQUAL(strncmp(trk, old_trk, 21), 0); /* the same client: the same hash */
	CU_ASSERT_EQUAL(store_retired("node2.db", old_trk), 1);
	CU_ASSERT_EQUAL(store_retired("node2.db", old_ink), 1);
	CU_ASSERT_EQUAL(store_retired("node2.db", trk), 0);
	/* the client's new keys from its new enrolment file; node 2's token has only the old */
	CU_ASSERT_EQUAL_FATAL(client_keys("sip_mcptt-server_example.org-", 0, "mcptt-server.trk",
					  "mcptt-server.ink"),
			      0);
	CU_ASSERT_EQUAL_FATAL(start_node(2), 0);
	CU_ASSERT_EQUAL(client_keyprov("mcptt-server", "mcs-3"), 0);
	CU_ASSERT(same_file("mcs-1/1-ssk.hex", "mcs-3/1-ssk.hex"));
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	log[0] = '\0';
	if ((fd = open(it_log, O_RDONLY | O_CLOEXEC)) >= 0) {
		(void)kms_test_read_fd(fd, log, sizeof(log));
		close(fd);
	}
	snprintf(needle, sizeof(needle), "destroyed the retired client key '%s' in the token",
		 old_trk);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, needle));
}

/*
 * The ceremony on NSS's softoken (docs/tokens.md), a token whose RFC 5649 is exact: the
 * ceremony file's module_params reaches the module, the known-answer tests choose the token's
 * own wrap (kwp_mechanism 0x210B, no allow_host_ecb_wrap), and generate, certificate and a
 * pre-mint run in it; the transcript verifies. The database's user PIN is set beforehand, as
 * an NSS database's owner does (there is no init-token for it here).
 */
static void
test_ceremony_on_nss(void)
{
	const char *module = kms_devtoken_nss_module();
	char dir[600], params[800], cf[600], tr[600];
	const char *run[] = {"run", cf, "--yes", NULL};
	const char *verify[] = {"verify-transcript", tr, NULL};
	int rc;

	if (module == NULL) {
		printf("(NSS's softoken is not installed: not run)");
		return;
	}
	tpath(dir, sizeof(dir), "nssdb");
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(kms_devtoken_nss_params(params, sizeof(params), dir, "cer-nss"),
			      KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_devtoken_nss_init(module, params, "cer-nss", USER_PIN), KMS_OK);
	snprintf(module_lines, sizeof(module_lines),
		 "module = %s\nmodule_params = %s\nkwp_mechanism = 0x210B\n", module, params);
	CU_ASSERT_EQUAL_FATAL(write_ceremony_file("nss.conf", "cer-nss", "nss.db",
						  "step = generate\nstep = certificate\n"
						  "step = premint\n"),
			      0);
	tpath(cf, sizeof(cf), "nss.conf");
	tpath(tr, sizeof(tr), "nss.conf.transcript");
	rc = ceremony(USER_PIN "\n", run);
	if (rc != 0) {
		fprintf(stderr, "\n%s\n", out);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NULL(strstr(out, USER_PIN));
	CU_ASSERT_EQUAL(count_sets("nss.db", NULL), NUM_IDS * PERIODS);
	/* the transcript says how the known-answer tests chose to wrap */
	CU_ASSERT(read_text(tr, out, sizeof(out)) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "RFC 5649 known-answer tests passed; the token wraps"));
	CU_ASSERT_PTR_NULL(strstr(out, "host-ECB"));
	CU_ASSERT_EQUAL(ceremony(NULL, verify), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "verifies"));
}

/* A ceremony file with an error: its line, and nothing done. */
static void
test_bad_file(void)
{
	char cf[600];
	const char *args[] = {"check", cf, NULL};

	CU_ASSERT_EQUAL_FATAL(write_text("bad.conf", "ceremony = x\nthreshold = 1\n"), 0);
	tpath(cf, sizeof(cf), "bad.conf");
	CU_ASSERT_EQUAL(ceremony(NULL, args), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad.conf:"));
	tpath(cf, sizeof(cf), "node1.conf");
	CU_ASSERT_EQUAL(ceremony(NULL, args), 0);
}

static CU_TestInfo ceremony_tests[] = {
	{"a ceremony file with an error", test_bad_file},
	{"run, pre-mint interrupted", test_run_interrupted},
	{"pre-mint resumed; a wrong PIN changes nothing", test_resume},
	{"transcripts verify, a modified one does not", test_transcripts},
	{"restore: two shares, a mistyped share", test_restore_refused},
	{"restore: another backup's share, a missing token", test_restore_foreign},
	{"restore from three shares into a second token", test_restore},
	{"restore run again", test_restore_again},
	{"both nodes serve the same key sets", test_serve_both},
	{"a re-enrolment reaches a node with the earlier keys", test_reenrol},
	{"a ceremony on NSS's softoken", test_ceremony_on_nss},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"ceremony", suite_init, suite_cleanup, NULL, NULL, ceremony_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store - the store (proto/store.h) on SQLite, in a temporary directory under /tmp that
 * the suite removes afterwards: round trips of every table through read-write and read-only
 * handles, the entitlement matrix, read-only handles that cannot write, files that are not a
 * store of our version, values in the file of the wrong type or length (written with the
 * SQLite API around our checks), argument bounds, the file's mode, two handles at once
 * (WAL), the busy timeout, secure delete, and a log that never carries a blob; schema version 4:
 * the certificate's issuer, validity and domain list, the client keys, and the migration of a
 * version 3 file (made from the version 3 CREATE statements kept below) with its data; version
 * 5: the audit keys and checkpoints; version 6: the pending rotations of clients' keys; version 7:
 * the retired client keys; and the migration of version 3 to 6 files to 7.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/store.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

/* Printable, so that the log (which escapes control characters) would show it verbatim. */
#define SENTINEL "LEAK-SENTINEL-7f3a"

static char tmp_dir[64]; /* the suite's directory, removed by suite_cleanup */
static char log_path[128];
static int log_fd = -1;

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                    */

static void
path_of(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", tmp_dir, name);

	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "test_store: path too long\n");
		abort();
	}
}

/* A fresh store at tmp_dir/name (any earlier file of that name removed), open read-write. */
static struct kms_store *
create_store(const char *name, char *path, size_t cap)
{
	struct kms_store *st = NULL;

	path_of(path, cap, name);
	(void)unlink(path);
	CU_ASSERT_FATAL(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_OK);
	CU_ASSERT_FATAL(st != NULL);
	return st;
}

static struct kms_store *
open_store(const char *path, enum kms_store_mode mode)
{
	struct kms_store *st = NULL;

	CU_ASSERT_FATAL(kms_store_open(&st, path, mode) == KMS_OK);
	CU_ASSERT_FATAL(st != NULL);
	return st;
}

/* The whole file (malloc'ed, *out_len bytes; NULL and 0 if it does not exist). */
static uint8_t *
read_all(const char *path, size_t *out_len)
{
	uint8_t *buf = NULL;
	struct stat sb;
	ssize_t k;
	size_t got = 0;
	int fd;

	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || (buf = calloc(1, (size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)sb.st_size) {
		k = read(fd, buf + got, (size_t)sb.st_size - got);
		if (k <= 0) {
			break;
		}
		got += (size_t)k;
	}
	close(fd);
	*out_len = got;
	return buf;
}

/* 1 if the two byte strings (NULL only when empty) are equal. */
static int
bytes_eq(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	return a_len == b_len &&
	       (a_len == 0 || (a != NULL && b != NULL && memcmp(a, b, a_len) == 0));
}

static int
contains(const uint8_t *hay, size_t hay_len, const void *needle, size_t n)
{
	size_t i;

	for (i = 0; n <= hay_len && i <= hay_len - n; i++) {
		if (memcmp(hay + i, needle, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Does path exist (as anything, a dangling link included)? */
static int
exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* Run SQL on the file directly (our checks bypassed): the SQLite result code. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

static void
sample_cert(struct kms_store_cert *c, uint8_t seed)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->kms_uri, sizeof(c->kms_uri), "kms%u.example.org", seed);
	snprintf(c->cert_uri, sizeof(c->cert_uri), "cert%u.example.org", seed);
	c->user_key_period = 2592000;
	c->user_key_offset = seed;
	memset(c->kpak, seed, sizeof(c->kpak));
	c->kpak[0] = 0x04;
	memset(c->z_t, seed ^ 0x5a, sizeof(c->z_t));
	c->z_t[0] = 0x04;
	snprintf(c->issuer, sizeof(c->issuer), "KMS %u root, J\xc3\xb6rg's domain", seed);
	c->has_valid_from = 1;
	c->valid_from = 1700000000 + seed;
	c->has_valid_to = 1;
	c->valid_to = 2015000000 + seed;
	snprintf(c->domains, sizeof(c->domains), "example.org sip:d%u.example.org", seed);
}

static void
sample_blob(struct kms_store_blob *b, uint8_t seed, size_t len)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < len; i++) {
		b->data[i] = (uint8_t)(seed + i);
	}
	b->len = len;
}

static void
sample_keyset(struct kms_store_keyset *ks, uint8_t seed)
{
	sample_blob(&ks->rsk, seed, 40);
	sample_blob(&ks->ssk, (uint8_t)(seed + 1), 40);
	sample_blob(&ks->pvt, (uint8_t)(seed + 2), 72);
}

static void
sample_client(struct kms_store_client *c, const char *id, enum kms_client_class cls)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->client_id, sizeof(c->client_id), "%s", id);
	c->cls = cls;
	snprintf(c->trk_label, sizeof(c->trk_label), "trk-%s-1", id);
	snprintf(c->ink_label, sizeof(c->ink_label), "ink-%s-1", id);
	c->revoked = 0;
}

static int
blob_eq(const struct kms_store_blob *a, const struct kms_store_blob *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static int
keyset_eq(const struct kms_store_keyset *a, const struct kms_store_keyset *b)
{
	return blob_eq(&a->rsk, &b->rsk) && blob_eq(&a->ssk, &b->ssk) && blob_eq(&a->pvt, &b->pvt);
}

static int
client_eq(const struct kms_store_client *a, const struct kms_store_client *b)
{
	return strcmp(a->client_id, b->client_id) == 0 && a->cls == b->cls &&
	       strcmp(a->trk_label, b->trk_label) == 0 && strcmp(a->ink_label, b->ink_label) == 0 &&
	       a->revoked == b->revoked;
}

/*
 * A rotation of client id from the TrK sample_client gives it ("trk-<id>-1") to new keys
 * "tk.<n>.<id>" and "ik.<n>.<id>", with blobs of seed.
 */
static void
sample_rotation(struct kms_store_rotation *rot, const char *id, unsigned int n, uint8_t seed)
{
	memset(rot, 0, sizeof(*rot));
	snprintf(rot->client_id, sizeof(rot->client_id), "%s", id);
	snprintf(rot->from_trk_label, sizeof(rot->from_trk_label), "trk-%s-1", id);
	snprintf(rot->new_trk_label, sizeof(rot->new_trk_label), "tk.%u.%s", n, id);
	snprintf(rot->new_ink_label, sizeof(rot->new_ink_label), "ik.%u.%s", n, id);
	sample_blob(&rot->new_trk, seed, 40);
	sample_blob(&rot->new_ink, (uint8_t)(seed + 1), 48);
	rot->created = 1714564800 + (int64_t)n;
}

static int
rotation_eq(const struct kms_store_rotation *a, const struct kms_store_rotation *b)
{
	return strcmp(a->client_id, b->client_id) == 0 &&
	       strcmp(a->from_trk_label, b->from_trk_label) == 0 &&
	       strcmp(a->new_trk_label, b->new_trk_label) == 0 &&
	       strcmp(a->new_ink_label, b->new_ink_label) == 0 &&
	       blob_eq(&a->new_trk, &b->new_trk) && blob_eq(&a->new_ink, &b->new_ink) &&
	       a->created == b->created;
}

static int
cert_eq(const struct kms_store_cert *a, const struct kms_store_cert *b)
{
	return strcmp(a->kms_uri, b->kms_uri) == 0 && strcmp(a->cert_uri, b->cert_uri) == 0 &&
	       a->user_key_period == b->user_key_period &&
	       a->user_key_offset == b->user_key_offset &&
	       memcmp(a->kpak, b->kpak, sizeof(a->kpak)) == 0 &&
	       memcmp(a->z_t, b->z_t, sizeof(a->z_t)) == 0 && strcmp(a->issuer, b->issuer) == 0 &&
	       a->has_valid_from == b->has_valid_from && a->valid_from == b->valid_from &&
	       a->has_valid_to == b->has_valid_to && a->valid_to == b->valid_to &&
	       strcmp(a->domains, b->domains) == 0;
}

/* n copies of c, NUL-terminated (buf holds n + 1). */
static char *
repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* Suite set-up                                                                               */

static int
suite_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/kms-test-store-XXXXXX");
	if (mkdtemp(tmp_dir) == NULL) {
		return -1;
	}
	/* The store's error lines go to a file, which the leak test reads. */
	snprintf(log_path, sizeof(log_path), "%s/log", tmp_dir);
	if ((log_fd = open(log_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) <
	    0) {
		return -1;
	}
	kms_log_set_fd(log_fd);
	return 0;
}

static int
suite_cleanup(void)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	kms_log_set_fd(2);
	if (log_fd >= 0) {
		close(log_fd);
		log_fd = -1;
	}
	if ((d = opendir(tmp_dir)) == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	return rmdir(tmp_dir) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Create, modes                                                                              */

static void
test_create_mode(void)
{
	struct kms_store_blob b, got;
	struct kms_store *st = NULL;
	char path[256], side[300];
	struct stat sb;
	mode_t old;

	path_of(path, sizeof(path), "mode.db");
	/* A umask that takes away the owner's write bit too: the file is still exactly 0600. */
	old = umask(0277);
	CU_ASSERT_FATAL(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_OK);
	umask(old);
	CU_ASSERT_FATAL(lstat(path, &sb) == 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	sample_blob(&b, 1, 48);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_OK);
	/* WAL: the side files exist while a handle is open, with the database's mode. */
	snprintf(side, sizeof(side), "%s-wal", path);
	CU_ASSERT_FATAL(lstat(side, &sb) == 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	snprintf(side, sizeof(side), "%s-shm", path);
	CU_ASSERT_FATAL(lstat(side, &sb) == 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	kms_store_close(st);

	/* CREATE on an existing store: fine, and the data stays. */
	st = open_store(path, KMS_STORE_CREATE);
	CU_ASSERT(kms_store_get_secret(st, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b));
	kms_store_close(st);
	st = open_store(path, KMS_STORE_CREATE);
	kms_store_close(st);

	/* Nothing is created in a directory that does not exist. */
	path_of(path, sizeof(path), "no-such-dir/x.db");
	st = (struct kms_store *)&b; /* any non-NULL value: it must come back NULL */
	CU_ASSERT(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_ERR_IO);
	CU_ASSERT(st == NULL);

	kms_store_close(NULL); /* a no-op */
}

static void
test_symlink_refused(void)
{
	struct kms_store *st = NULL;
	char path[256], link_path[256];
	uint8_t *before, *after;
	size_t before_len, after_len;

	st = create_store("target.db", path, sizeof(path));
	kms_store_close(st);
	path_of(link_path, sizeof(link_path), "link.db");
	CU_ASSERT_FATAL(symlink(path, link_path) == 0);
	before = read_all(path, &before_len);
	CU_ASSERT_FATAL(before != NULL);
	CU_ASSERT(kms_store_open(&st, link_path, KMS_STORE_RO) == KMS_ERR_IO);
	CU_ASSERT(kms_store_open(&st, link_path, KMS_STORE_RW) == KMS_ERR_IO);
	CU_ASSERT(kms_store_open(&st, link_path, KMS_STORE_CREATE) == KMS_ERR_IO);
	CU_ASSERT(st == NULL);
	after = read_all(path, &after_len);
	CU_ASSERT_FATAL(after != NULL);
	CU_ASSERT(bytes_eq(before, before_len, after, after_len));
	free(before);
	free(after);

	/* A dangling link is not followed to create its target either. */
	path_of(path, sizeof(path), "dangling-target.db");
	path_of(link_path, sizeof(link_path), "dangling.db");
	CU_ASSERT_FATAL(symlink(path, link_path) == 0);
	CU_ASSERT(kms_store_open(&st, link_path, KMS_STORE_CREATE) == KMS_ERR_IO);
	CU_ASSERT(!exists(path));
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips                                                                                */

static void
test_cert_roundtrip(void)
{
	static struct kms_store_cert c, got;
	struct kms_store *st;
	char path[256];
	size_t i;

	st = create_store("cert.db", path, sizeof(path));
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));

	sample_cert(&c, 1);
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&c, &got));
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&c, &got));
	kms_store_close(st);

	/* put replaces the one row: the longest URIs, an empty cert_uri, the largest numbers. */
	st = open_store(path, KMS_STORE_RW);
	sample_cert(&c, 2);
	repeat(c.kms_uri, 'k', KMS_STORE_MAX_URI);
	c.cert_uri[0] = '\0';
	c.user_key_period = INT64_MAX;
	c.user_key_offset = INT64_MAX;
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	kms_store_close(st);
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&c, &got));
	kms_store_close(st);

	/* The new fields at their bounds: the longest issuer, 64 domains, the extreme times. */
	st = open_store(path, KMS_STORE_RW);
	sample_cert(&c, 3);
	repeat(c.issuer, 'i', KMS_STORE_MAX_ISSUER);
	c.domains[0] = '\0';
	for (i = 0; i < KMS_STORE_MAX_DOMAINS; i++) {
		size_t used = strlen(c.domains);

		(void)snprintf(c.domains + used, sizeof(c.domains) - used, "%ssip:domain-%zu.%s",
			       i > 0 ? " " : "", i, "example.org");
	}
	c.valid_from = -62135596800LL;
	c.valid_to = 253402300799LL;
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&c, &got));
	CU_ASSERT_EQUAL(strlen(got.issuer), KMS_STORE_MAX_ISSUER);

	/* Only one bound, then none: absent stays absent (a value beside has_ 0 is not kept). */
	c.has_valid_to = 0;
	c.valid_to = 0;
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&c, &got));
	c.has_valid_from = 0;
	c.valid_from = 77;
	c.issuer[0] = '\0';
	c.domains[0] = '\0';
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT_EQUAL(got.has_valid_from, 0);
	CU_ASSERT_EQUAL(got.valid_from, 0);
	CU_ASSERT_EQUAL(got.has_valid_to, 0);
	CU_ASSERT_STRING_EQUAL(got.issuer, "");
	CU_ASSERT_STRING_EQUAL(got.domains, "");
	c.valid_from = 0;
	CU_ASSERT(cert_eq(&c, &got));

	/* A certificate row without its cert_info row (as version 3 wrote it): no new fields. */
	sample_cert(&c, 4);
	CU_ASSERT(kms_store_put_cert(st, &c) == KMS_OK);
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "DELETE FROM cert_info") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RO);
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(got.kms_uri, c.kms_uri);
	CU_ASSERT_STRING_EQUAL(got.issuer, "");
	CU_ASSERT_EQUAL(got.has_valid_from, 0);
	CU_ASSERT_EQUAL(got.has_valid_to, 0);
	CU_ASSERT_EQUAL(got.valid_from, 0);
	CU_ASSERT_EQUAL(got.valid_to, 0);
	CU_ASSERT_STRING_EQUAL(got.domains, "");
	kms_store_close(st);
}

static void
test_secret_roundtrip(void)
{
	struct kms_store_blob ksak, z_t, got;
	struct kms_store *st;
	char path[256];

	st = create_store("secret.db", path, sizeof(path));
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_secret(st, "ksak", &got) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	sample_blob(&ksak, 10, 40);
	sample_blob(&z_t, 20, KMS_STORE_MAX_BLOB);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &ksak) == KMS_OK);
	CU_ASSERT(kms_store_put_secret(st, "z_t", &z_t) == KMS_OK);
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_secret(st, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &ksak));
	CU_ASSERT(kms_store_get_secret(st, "z_t", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &z_t));
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RW);
	sample_blob(&ksak, 30, 1);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &ksak) == KMS_OK); /* replaces */
	CU_ASSERT(kms_store_get_secret(st, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &ksak));
	CU_ASSERT(kms_store_get_secret(st, "z_t", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &z_t));
	kms_store_close(st);
}

static void
test_client_roundtrip(void)
{
	struct kms_store_client ue, srv, got;
	struct kms_store *st;
	char path[256];

	st = create_store("client.db", path, sizeof(path));
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	sample_client(&ue, "ue-1", KMS_CLIENT_UE);
	sample_client(&srv, "mcptt-server.example.org", KMS_CLIENT_SERVER);
	srv.revoked = 1;
	CU_ASSERT(kms_store_put_client(st, &ue) == KMS_OK);
	CU_ASSERT(kms_store_put_client(st, &srv) == KMS_OK);
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &ue));
	CU_ASSERT(kms_store_get_client(st, "mcptt-server.example.org", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &srv));
	CU_ASSERT(kms_store_get_client(st, "UE-1", &got) == KMS_ERR_FORBIDDEN); /* exact match */
	kms_store_close(st);

	/* put replaces: new labels after a rotation, class and revocation changed. */
	st = open_store(path, KMS_STORE_RW);
	snprintf(ue.trk_label, sizeof(ue.trk_label), "trk-ue-1-2");
	snprintf(ue.ink_label, sizeof(ue.ink_label), "ink-ue-1-2");
	ue.cls = KMS_CLIENT_SERVER;
	ue.revoked = 1;
	CU_ASSERT(kms_store_put_client(st, &ue) == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &ue));
	kms_store_close(st);
}

static void
test_identity_keyset_roundtrip(void)
{
	static const char alice[] = "sip:alice@example.org";
	static const char jorg[] = "sip:j\xc3\xb6rg@example.org"; /* UTF-8 */
	struct kms_store_keyset ks1, ks2, got;
	struct kms_store *st;
	char path[256];

	st = create_store("keyset.db", path, sizeof(path));
	sample_keyset(&ks1, 1);
	sample_keyset(&ks2, 2);
	/* No key set for an identity the roster does not know. */
	CU_ASSERT(kms_store_put_keyset(st, alice, 100, &ks1) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_add_identity(st, alice) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, alice) == KMS_OK); /* idempotent */
	CU_ASSERT(kms_store_add_identity(st, jorg) == KMS_OK);
	CU_ASSERT(kms_store_set_identity_revoked(st, "sip:nobody@example.org", 1) ==
		  KMS_ERR_FORBIDDEN);
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_keyset(st, alice, 100, &got) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	CU_ASSERT(kms_store_put_keyset(st, alice, 100, &ks1) == KMS_OK);
	CU_ASSERT(kms_store_put_keyset(st, alice, 101, &ks2) == KMS_OK);
	CU_ASSERT(kms_store_put_keyset(st, jorg, 0, &ks2) == KMS_OK);
	CU_ASSERT(kms_store_put_keyset(st, jorg, INT64_MAX, &ks1) == KMS_OK);
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_keyset(st, alice, 100, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks1));
	CU_ASSERT(kms_store_get_keyset(st, alice, 101, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks2));
	CU_ASSERT(kms_store_get_keyset(st, jorg, 0, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks2));
	CU_ASSERT(kms_store_get_keyset(st, jorg, INT64_MAX, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks1));
	CU_ASSERT(kms_store_get_keyset(st, alice, 102, &got) ==
		  KMS_ERR_FORBIDDEN); /* no fallback */
	CU_ASSERT(kms_store_get_keyset(st, alice, 99, &got) == KMS_ERR_FORBIDDEN);
	kms_store_close(st);

	st = open_store(path, KMS_STORE_RW);
	sample_blob(&ks1.pvt, 99, KMS_STORE_MAX_BLOB);
	CU_ASSERT(kms_store_put_keyset(st, alice, 100, &ks1) == KMS_OK); /* replaces */
	CU_ASSERT(kms_store_get_keyset(st, alice, 100, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks1));
	/* Key sets stay when an identity is revoked (the entitlement check stops their use). */
	CU_ASSERT(kms_store_set_identity_revoked(st, alice, 1) == KMS_OK);
	CU_ASSERT(kms_store_get_keyset(st, alice, 100, &got) == KMS_OK);
	kms_store_close(st);
}

/* ---------------------------------------------------------------------------------------- */
/* Entitlements                                                                               */

static void
test_entitlement_matrix(void)
{
	static const char a[] = "sip:alice@example.org", b[] = "sip:bob@example.org";
	struct kms_store_client c1, c2;
	struct kms_store *st, *ro;
	char path[256];

	st = create_store("entitle.db", path, sizeof(path));
	sample_client(&c1, "ue-1", KMS_CLIENT_UE);
	sample_client(&c2, "srv-1", KMS_CLIENT_SERVER);
	CU_ASSERT(kms_store_put_client(st, &c1) == KMS_OK);
	CU_ASSERT(kms_store_put_client(st, &c2) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, a) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, b) == KMS_OK);

	/* Entitling refers to known rows; a failed entitle leaves nothing behind. */
	CU_ASSERT(kms_store_entitle(st, "ue-9", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_entitle(st, "ue-1", "sip:carol@example.org") == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_add_identity(st, "sip:carol@example.org") == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:carol@example.org") ==
		  KMS_ERR_FORBIDDEN);

	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_ERR_FORBIDDEN); /* not yet */
	CU_ASSERT(kms_store_entitle(st, "ue-1", a) == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "ue-1", a) == KMS_OK); /* idempotent */
	CU_ASSERT(kms_store_entitle(st, "srv-1", a) == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "srv-1", b) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", a) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", b) == KMS_OK);

	/* Every "no" is the same answer. */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", b) == KMS_ERR_FORBIDDEN); /* not entitled */
	CU_ASSERT(kms_store_check_entitled(st, "ue-9", a) ==
		  KMS_ERR_FORBIDDEN); /* unknown client */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:nobody@example.org") ==
		  KMS_ERR_FORBIDDEN); /* unknown identity */

	/* Revoked client; restored. */
	c1.revoked = 1;
	CU_ASSERT(kms_store_put_client(st, &c1) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", a) == KMS_OK);
	c1.revoked = 0;
	CU_ASSERT(kms_store_put_client(st, &c1) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_OK);

	/* Revoked identity: for every client; restored. */
	CU_ASSERT(kms_store_set_identity_revoked(st, a, 1) == KMS_OK);
	CU_ASSERT(kms_store_set_identity_revoked(st, a, 1) == KMS_OK); /* already: still OK */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", b) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, a) == KMS_OK); /* add does not restore */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_set_identity_revoked(st, a, 0) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_OK);

	/* Withdrawn; a second withdraw finds nothing; entitled again. */
	CU_ASSERT(kms_store_withdraw(st, "ue-1", a) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(st, "srv-1", a) == KMS_OK);
	CU_ASSERT(kms_store_withdraw(st, "ue-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_withdraw(st, "ue-9", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_entitle(st, "ue-1", a) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", a) == KMS_OK);

	/* Revoked client and revoked identity at once, seen through a read-only handle. */
	c2.revoked = 1;
	CU_ASSERT(kms_store_put_client(st, &c2) == KMS_OK);
	CU_ASSERT(kms_store_set_identity_revoked(st, b, 1) == KMS_OK);
	kms_store_close(st);
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_check_entitled(ro, "srv-1", b) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(ro, "srv-1", a) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(ro, "ue-1", a) == KMS_OK);
	kms_store_close(ro);

	/* A flag in the file that is neither 0 nor 1 denies (fails closed). */
	CU_ASSERT(
		raw_exec(path,
			 "PRAGMA ignore_check_constraints = ON; "
			 "UPDATE identities SET revoked = 2 WHERE uri = 'sip:alice@example.org'") ==
		SQLITE_OK);
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_check_entitled(ro, "ue-1", a) == KMS_ERR_FORBIDDEN);
	kms_store_close(ro);
	CU_ASSERT(raw_exec(path, "PRAGMA ignore_check_constraints = ON; "
				 "UPDATE identities SET revoked = '0' || 'x' "
				 "WHERE uri = 'sip:alice@example.org'") == SQLITE_OK);
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_check_entitled(ro, "ue-1", a) == KMS_ERR_FORBIDDEN);
	kms_store_close(ro);
}

/* ---------------------------------------------------------------------------------------- */
/* Read-only handles                                                                          */

static void
test_read_only_refuses_writes(void)
{
	struct kms_store_client c;
	struct kms_store_keyset ks;
	struct kms_store_cert cert;
	struct kms_store_blob b;
	struct kms_store *st;
	uint8_t *before, *after;
	size_t before_len, after_len;
	char path[256], side[300];

	st = create_store("ro.db", path, sizeof(path));
	sample_client(&c, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, "sip:a@example.org") == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "ue-1", "sip:a@example.org") == KMS_OK);
	kms_store_close(st);
	/* The last handle closed: the WAL is checkpointed into the file and removed. */
	snprintf(side, sizeof(side), "%s-wal", path);
	CU_ASSERT(!exists(side));
	before = read_all(path, &before_len);
	CU_ASSERT_FATAL(before != NULL);

	st = open_store(path, KMS_STORE_RO);
	sample_cert(&cert, 3);
	sample_blob(&b, 3, 32);
	sample_keyset(&ks, 3);
	c.revoked = 1;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_add_identity(st, "sip:b@example.org") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(st, "sip:a@example.org", 1) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(st, "ue-1", "sip:a@example.org") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(st, "ue-1", "sip:a@example.org") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_keyset(st, "sip:a@example.org", 1, &ks) == KMS_ERR_INVALID_ARG);
	/* Reads still work. */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@example.org") == KMS_OK);
	kms_store_close(st);

	after = read_all(path, &after_len);
	CU_ASSERT_FATAL(after != NULL);
	CU_ASSERT(bytes_eq(before, before_len, after, after_len));
	free(before);
	free(after);
}

/* ---------------------------------------------------------------------------------------- */
/* Files that are not a store of our version                                                  */

/* Each of the three modes refuses path with want, and leaves the file as it was. */
static void
expect_refused(const char *path, int want)
{
	static const enum kms_store_mode modes[] = {KMS_STORE_RO, KMS_STORE_RW, KMS_STORE_CREATE};
	struct kms_store *st;
	uint8_t *before, *after;
	size_t before_len, after_len, i;

	before = read_all(path, &before_len);
	for (i = 0; i < NUM(modes); i++) {
		st = (struct kms_store *)&before_len; /* any non-NULL value */
		CU_ASSERT_EQUAL(kms_store_open(&st, path, modes[i]), want);
		CU_ASSERT(st == NULL);
	}
	after = read_all(path, &after_len);
	CU_ASSERT(bytes_eq(before, before_len, after, after_len));
	free(before);
	free(after);
}

static void
test_other_versions_refused(void)
{
	static const char *const tamper[] = {
		"PRAGMA user_version = 1", /* the first schema, without the audit log */
		"PRAGMA user_version = 2", /* before the certificate cache of external KMSs */
		/* A version 7 file that says 3 to 6: not a store of that version (tables too
		 * many), so refused read-write as well (not migrated) and left as it is. */
		"PRAGMA user_version = 3",
		"PRAGMA user_version = 4",
		"PRAGMA user_version = 5",
		"PRAGMA user_version = 6",
		"PRAGMA user_version = 8",
		"PRAGMA user_version = 0",
		"PRAGMA application_id = 0",
		"CREATE TABLE extra (x)",
		"CREATE INDEX clients_by_label ON clients (trk_label)",
		"CREATE VIEW v AS SELECT 1",
		"CREATE TRIGGER t AFTER INSERT ON identities BEGIN SELECT 1; END",
		"DROP TABLE keysets",
		"DROP TABLE audit",
		"CREATE INDEX audit_by_client ON audit (client)",
		"DROP TABLE ext_certs",
		"CREATE INDEX ext_by_change ON ext_certs (change_num)",
		"DROP TABLE cert_info",
		"DROP TABLE client_keys",
		"DROP TABLE client_keys; DROP TABLE cert_info", /* version 3's tables, but says 7 */
		"CREATE INDEX client_keys_by_role ON client_keys (role)",
		"DROP TABLE audit_keys",
		"DROP TABLE audit_checkpoints",
		"DROP TABLE audit_keys; DROP TABLE audit_checkpoints", /* version 4's, but says 7 */
		"CREATE INDEX cp_by_time ON audit_checkpoints (time_s)",
		"DROP TABLE client_rotations",
		"DROP TABLE retired_keys", /* version 6's tables, but says 7 */
		"CREATE INDEX rot_by_created ON client_rotations (created)",
		"CREATE INDEX retired_by_time ON retired_keys (retired)",
		/* An index of our own beside the automatic ones. */
		"CREATE UNIQUE INDEX rot_from ON client_rotations (from_trk_label)",
	};
	struct kms_store *st;
	char path[256];
	size_t i;

	for (i = 0; i < NUM(tamper); i++) {
		st = create_store("version.db", path, sizeof(path));
		kms_store_close(st);
		CU_ASSERT_FATAL(raw_exec(path, tamper[i]) == SQLITE_OK);
		expect_refused(path, KMS_ERR_PARSE);
	}

	/* A table of ours with other constraints (the CHECKs dropped): refused. */
	path_of(path, sizeof(path), "lookalike.db");
	(void)unlink(path);
	CU_ASSERT_FATAL(raw_exec(path,
				 "CREATE TABLE secrets (name TEXT PRIMARY KEY, wrapped BLOB); "
				 "PRAGMA user_version = 3; "
				 "PRAGMA application_id = 1263358803") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
}

static void
test_not_a_store_refused(void)
{
	static const char text[] = "this is not an SQLite database, but it is long enough to "
				   "look like a header of one: 0123456789abcdef0123456789abcdef";
	struct kms_store *st = NULL;
	uint8_t *data;
	char path[256];
	size_t len;
	int fd;

	/* Not SQLite at all. */
	path_of(path, sizeof(path), "text.db");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, sizeof(text)) == (ssize_t)sizeof(text));
	close(fd);
	expect_refused(path, KMS_ERR_PARSE);

	/* An empty file (an empty SQLite database, without our schema). */
	path_of(path, sizeof(path), "empty.db");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	expect_refused(path, KMS_ERR_PARSE);

	/* Another program's SQLite database: refused, and not switched to WAL either. */
	path_of(path, sizeof(path), "foreign.db");
	(void)unlink(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE TABLE t (x); INSERT INTO t VALUES (1)") ==
			SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	data = read_all(path, &len);
	CU_ASSERT_FATAL(data != NULL && len >= 100);
	CU_ASSERT(data[18] == 1 && data[19] == 1); /* file format 1: rollback journal, not WAL */
	free(data);

	/* A store this process may not write: RW refuses (SQLite would quietly open it RO). */
	if (geteuid() != 0) { /* root writes anyway */
		st = create_store("readonly-file.db", path, sizeof(path));
		kms_store_close(st);
		CU_ASSERT_FATAL(chmod(path, 0400) == 0);
		CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RW) == KMS_ERR_IO);
		CU_ASSERT(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_ERR_IO);
		CU_ASSERT(st == NULL);
		st = open_store(path, KMS_STORE_RO);
		kms_store_close(st);
		CU_ASSERT(chmod(path, 0600) == 0);
	}

	/* Missing. */
	path_of(path, sizeof(path), "missing.db");
	CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RO) == KMS_ERR_IO);
	CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RW) == KMS_ERR_IO);
	CU_ASSERT(st == NULL);
	CU_ASSERT(!exists(path));
}

/* ---------------------------------------------------------------------------------------- */
/* Values in the file of the wrong type or length                                             */

enum getter {
	G_CERT,
	G_SECRET,
	G_CLIENT,
	G_KEYSET,
};

/* Call one getter; its result, and whether it left its output all zero. */
static int
get_one(struct kms_store *st, enum getter g, int *out_zero)
{
	struct kms_store_client client;
	struct kms_store_keyset ks;
	struct kms_store_cert cert;
	struct kms_store_blob b;
	int r = KMS_ERR_INTERNAL;

	memset(&cert, 0xaa, sizeof(cert));
	memset(&b, 0xaa, sizeof(b));
	memset(&client, 0xaa, sizeof(client));
	memset(&ks, 0xaa, sizeof(ks));
	*out_zero = 0;
	switch (g) {
	case G_CERT:
		r = kms_store_get_cert(st, &cert);
		*out_zero = kms_test_all_zero((const uint8_t *)&cert, sizeof(cert));
		break;
	case G_SECRET:
		r = kms_store_get_secret(st, "ksak", &b);
		*out_zero = kms_test_all_zero((const uint8_t *)&b, sizeof(b));
		break;
	case G_CLIENT:
		r = kms_store_get_client(st, "ue-1", &client);
		*out_zero = kms_test_all_zero((const uint8_t *)&client, sizeof(client));
		break;
	case G_KEYSET:
		r = kms_store_get_keyset(st, "sip:a@example.org", 7, &ks);
		*out_zero = kms_test_all_zero((const uint8_t *)&ks, sizeof(ks));
		break;
	}
	return r;
}

static void
test_corrupt_values(void)
{
	static const struct {
		enum getter g;
		const char *sql;
	} cases[] = {
		{G_CERT, "UPDATE certificate SET kpak = zeroblob(64)"},
		{G_CERT, "UPDATE certificate SET kpak = zeroblob(66)"},
		{G_CERT, "UPDATE certificate SET z_t = 'text'"},
		{G_CERT, "UPDATE certificate SET z_t = 257"},
		{G_CERT, "UPDATE certificate SET user_key_period = -1"},
		{G_CERT, "UPDATE certificate SET user_key_period = 0"},
		{G_CERT, "UPDATE certificate SET user_key_period = 1.5"},
		{G_CERT, "UPDATE certificate SET user_key_period = x'01'"},
		{G_CERT, "UPDATE certificate SET user_key_offset = -5"},
		{G_CERT, "UPDATE certificate SET user_key_offset = 'zero'"},
		{G_CERT, "UPDATE certificate SET kms_uri = ''"},
		{G_CERT, "UPDATE certificate SET kms_uri = CAST(x'6180' AS TEXT)"}, /* not UTF-8 */
		{G_CERT, "UPDATE certificate SET kms_uri = CAST(x'c0af' AS TEXT)"}, /* overlong */
		{G_CERT, "UPDATE certificate SET kms_uri = x'61'"},                 /* a blob */
		{G_CERT, "UPDATE certificate SET kms_uri = printf('%.*c', 2049, 'a')"},
		{G_CERT, "UPDATE certificate SET cert_uri = CAST(x'610062' AS TEXT)"}, /* NUL */
		{G_CERT, "UPDATE cert_info SET issuer = x'61'"},
		{G_CERT, "UPDATE cert_info SET issuer = printf('%.*c', 1025, 'a')"},
		{G_CERT, "UPDATE cert_info SET issuer = CAST(x'6109' AS TEXT)"},   /* a tab */
		{G_CERT, "UPDATE cert_info SET issuer = CAST(x'61c285' AS TEXT)"}, /* C1 (NEL) */
		{G_CERT, "UPDATE cert_info SET issuer = CAST(x'6180' AS TEXT)"},   /* not UTF-8 */
		{G_CERT, "UPDATE cert_info SET issuer = CAST(x'610062' AS TEXT)"}, /* NUL */
		{G_CERT, "UPDATE cert_info SET valid_from = 'x'"},
		{G_CERT, "UPDATE cert_info SET valid_from = 253402300800"},
		{G_CERT, "UPDATE cert_info SET valid_to = -62135596801"},
		{G_CERT, "UPDATE cert_info SET valid_to = 1.5"},
		{G_CERT, "UPDATE cert_info SET valid_from = 10, valid_to = 10"},
		{G_CERT, "UPDATE cert_info SET valid_from = 11, valid_to = 10"},
		{G_CERT, "UPDATE cert_info SET domains = 'a  b'"},
		{G_CERT, "UPDATE cert_info SET domains = ' a'"},
		{G_CERT, "UPDATE cert_info SET domains = 'a '"},
		{G_CERT, "UPDATE cert_info SET domains = CAST(x'610962' AS TEXT)"},   /* a tab */
		{G_CERT, "UPDATE cert_info SET domains = CAST(x'61c28562' AS TEXT)"}, /* C1 */
		{G_CERT, "UPDATE cert_info SET domains = trim(replace(printf('%.*c', 65, 'a'), "
			 "'a', 'a '))"}, /* 65 domains */
		{G_CERT, "UPDATE cert_info SET domains = printf('%.*c', 2049, 'a')"},
		{G_SECRET, "UPDATE secrets SET wrapped = zeroblob(0)"},
		{G_SECRET, "UPDATE secrets SET wrapped = CAST(printf('%s%.*c', '" SENTINEL
			   "', 520, 'x') AS BLOB)"},
		{G_SECRET, "UPDATE secrets SET wrapped = '" SENTINEL "'"},
		{G_SECRET, "UPDATE secrets SET wrapped = 12345"},
		{G_CLIENT, "UPDATE clients SET class = 'admin'"},
		{G_CLIENT, "UPDATE clients SET class = 'UE'"},
		{G_CLIENT, "UPDATE clients SET class = CAST(x'756500' AS TEXT)"}, /* "ue\0" */
		{G_CLIENT, "UPDATE clients SET class = 0"},
		{G_CLIENT, "UPDATE clients SET trk_label = 'a b'"},
		{G_CLIENT, "UPDATE clients SET trk_label = CAST(x'c3a9' AS TEXT)"},
		{G_CLIENT, "UPDATE clients SET ink_label = ''"},
		{G_CLIENT, "UPDATE clients SET ink_label = printf('%.*c', 256, 'a')"},
		{G_CLIENT, "UPDATE clients SET ink_label = x'41'"},
		{G_CLIENT, "UPDATE clients SET revoked = 2"},
		{G_CLIENT, "UPDATE clients SET revoked = -1"},
		{G_CLIENT, "UPDATE clients SET revoked = 'no'"},
		{G_KEYSET, "UPDATE keysets SET pvt = 5"},
		{G_KEYSET, "UPDATE keysets SET rsk = zeroblob(513)"},
		{G_KEYSET, "UPDATE keysets SET ssk = x''"},
		{G_KEYSET, "UPDATE keysets SET ssk = '" SENTINEL "'"},
	};
	static const char restore[] =
		"UPDATE certificate SET kms_uri = 'kms1.example.org', cert_uri = '', "
		"user_key_period = 2592000, user_key_offset = 0, kpak = zeroblob(65), "
		"z_t = zeroblob(257); "
		"UPDATE cert_info SET id = 1, issuer = 'i', valid_from = 1, valid_to = 2, "
		"domains = 'a b'; "
		"UPDATE secrets SET wrapped = zeroblob(32); "
		"UPDATE clients SET class = 'ue', trk_label = 't', ink_label = 'i', revoked = 0; "
		"UPDATE keysets SET rsk = x'01', ssk = x'02', pvt = x'03'";
	struct kms_store_client client;
	struct kms_store_keyset ks;
	struct kms_store_cert cert;
	struct kms_store_blob b;
	struct kms_store *st;
	uint8_t *log_data;
	size_t i, log_len;
	char path[256], sql[1024];
	int zero, r;

	st = create_store("corrupt.db", path, sizeof(path));
	sample_cert(&cert, 1);
	sample_blob(&b, 1, 32);
	sample_client(&client, "ue-1", KMS_CLIENT_UE);
	sample_keyset(&ks, 1);
	CU_ASSERT_FATAL(kms_store_put_cert(st, &cert) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_put_secret(st, "ksak", &b) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_put_client(st, &client) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_add_identity(st, "sip:a@example.org") == KMS_OK);
	CU_ASSERT_FATAL(kms_store_put_keyset(st, "sip:a@example.org", 7, &ks) == KMS_OK);
	kms_store_close(st);

	for (i = 0; i < NUM(cases); i++) {
		/* Past our CHECK constraints, as a hostile writer of the file would be. */
		CU_ASSERT_FATAL(raw_exec(path, restore) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		CU_ASSERT_EQUAL(get_one(st, cases[i].g, &zero), KMS_OK);
		kms_store_close(st);
		snprintf(sql, sizeof(sql), "PRAGMA ignore_check_constraints = ON; %s",
			 cases[i].sql);
		CU_ASSERT_FATAL(raw_exec(path, sql) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		r = get_one(st, cases[i].g, &zero);
		if (r != KMS_ERR_PARSE || !zero) {
			fprintf(stderr, "case %zu (%s): %d, zero %d\n", i, cases[i].sql, r, zero);
		}
		CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
		CU_ASSERT(zero);
		kms_store_close(st);
	}

	/* The error lines name the table, never the value. */
	log_data = read_all(log_path, &log_len);
	CU_ASSERT_FATAL(log_data != NULL);
	CU_ASSERT(contains(log_data, log_len, "secrets", strlen("secrets")));
	CU_ASSERT(!contains(log_data, log_len, SENTINEL, strlen(SENTINEL)));
	free(log_data);
}

/* A certificate row in a transaction that is never committed. */
#define CERT_ROW                                                                                   \
	"BEGIN; INSERT INTO certificate VALUES (1, 'k', '', 1, 0, zeroblob(65), zeroblob(257)); "

/* The schema's own CHECKs refuse what the C checks refuse (defence in depth). */
static void
test_schema_checks(void)
{
	static const char *const bad[] = {
		"INSERT INTO secrets VALUES ('kek', x'01')",
		"INSERT INTO secrets VALUES ('ksak', x'')",
		"INSERT INTO secrets VALUES ('ksak', zeroblob(513))",
		"INSERT INTO secrets VALUES ('ksak', 'text')",
		"INSERT INTO clients VALUES ('ue 1', 'ue', 't', 'i', 0)",
		"INSERT INTO clients VALUES ('ue-1', 'admin', 't', 'i', 0)",
		"INSERT INTO clients VALUES ('ue-1', 'ue', '', 'i', 0)",
		"INSERT INTO clients VALUES ('ue-1', 'ue', 't', CAST(x'c3a9' AS TEXT), 0)",
		"INSERT INTO clients VALUES ('ue-1', 'ue', 't', 'i', 2)",
		"INSERT INTO clients VALUES (printf('%.*c', 256, 'a'), 'ue', 't', 'i', 0)",
		"INSERT INTO identities VALUES ('', 0)",
		"INSERT INTO identities VALUES (printf('%.*c', 2049, 'a'), 0)",
		"INSERT INTO identities VALUES (CAST(x'610062' AS TEXT), 0)",
		"INSERT INTO identities VALUES (x'61', 0)",
		"INSERT INTO certificate VALUES (1, 'k', '', 1, 0, zeroblob(64), zeroblob(257))",
		"INSERT INTO certificate VALUES (1, 'k', '', 0, 0, zeroblob(65), zeroblob(257))",
		"INSERT INTO certificate VALUES (1, 'k', '', 1, -1, zeroblob(65), zeroblob(257))",
		"INSERT INTO certificate VALUES (2, 'k', '', 1, 0, zeroblob(65), zeroblob(257))",
		"INSERT INTO keysets VALUES ('sip:a', -1, x'01', x'01', x'01')",
		"INSERT INTO keysets VALUES ('sip:a', 1, x'01', zeroblob(513), x'01')",
		/* Foreign keys (on in our connections; switched on here too). */
		"INSERT INTO keysets VALUES ('sip:nobody', 1, x'01', x'01', x'01')",
		"INSERT INTO entitlements VALUES ('ue-9', 'sip:a')",
		"INSERT INTO cert_info VALUES (1, '', NULL, NULL, '')", /* no certificate */
		/* cert_info beside a certificate row (rolled back when the connection closes). */
		CERT_ROW "INSERT INTO cert_info VALUES (2, '', NULL, NULL, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, x'61', NULL, NULL, '')",
		CERT_ROW
		"INSERT INTO cert_info VALUES (1, printf('%.*c', 1025, 'a'), NULL, NULL, '')",
		CERT_ROW
		"INSERT INTO cert_info VALUES (1, CAST(x'610062' AS TEXT), NULL, NULL, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, '', 'x', NULL, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, '', 253402300800, NULL, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, '', NULL, -62135596801, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, '', 10, 10, '')",
		CERT_ROW "INSERT INTO cert_info VALUES (1, '', NULL, NULL, x'61')",
		CERT_ROW
		"INSERT INTO cert_info VALUES (1, '', NULL, NULL, printf('%.*c', 8193, 'a'))",
		"INSERT INTO client_keys VALUES ('', 'trk', x'01')",
		"INSERT INTO client_keys VALUES ('k 1', 'trk', x'01')",
		"INSERT INTO client_keys VALUES (printf('%.*c', 256, 'k'), 'trk', x'01')",
		"INSERT INTO client_keys VALUES ('k', 'TRK', x'01')",
		"INSERT INTO client_keys VALUES ('k', 'kek', x'01')",
		"INSERT INTO client_keys VALUES ('k', 'ink', x'')",
		"INSERT INTO client_keys VALUES ('k', 'ink', zeroblob(513))",
		"INSERT INTO client_keys VALUES ('k', 'ink', 'text')",
	};
	struct kms_store *st;
	char path[256], sql[512];
	size_t i;
	int rc;

	st = create_store("checks.db", path, sizeof(path));
	CU_ASSERT(kms_store_add_identity(st, "sip:a") == KMS_OK);
	kms_store_close(st);
	CU_ASSERT(raw_exec(path,
			   "INSERT INTO certificate VALUES (1, 'k', '', 1, 0, "
			   "zeroblob(65), zeroblob(257)); DELETE FROM certificate") == SQLITE_OK);
	/* Controls: good rows of the new tables pass their CHECKs. */
	CU_ASSERT(raw_exec(path,
			   "PRAGMA foreign_keys = ON; " CERT_ROW
			   "INSERT INTO cert_info VALUES (1, 'i', 10, 11, 'a b'); "
			   "DELETE FROM cert_info; DELETE FROM certificate; COMMIT") == SQLITE_OK);
	CU_ASSERT(raw_exec(path, "INSERT INTO client_keys VALUES ('k', 'ink', x'01'); "
				 "DELETE FROM client_keys") == SQLITE_OK);
	for (i = 0; i < NUM(bad); i++) {
		snprintf(sql, sizeof(sql), "PRAGMA foreign_keys = ON; %s", bad[i]);
		rc = raw_exec(path, sql);
		if ((rc & 0xff) != SQLITE_CONSTRAINT) {
			fprintf(stderr, "not refused: %s (%d)\n", bad[i], rc);
		}
		CU_ASSERT_EQUAL(rc & 0xff, SQLITE_CONSTRAINT);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Bounds                                                                                     */

static void
test_bounds(void)
{
	static const char *const bad_ids[] = {
		"", "ue 1", "ue\t1", "ue\x7f", "caf\xc3\xa9", "\x80", "ue-1\n",
	};
	static const char *const bad_uris[] = {
		"",
		"sip:\x80@example.org",     /* a lone continuation byte */
		"sip:\xc3\x28@example.org", /* a bad second byte */
		"sip:\xc0\xaf@example.org", /* overlong */
		"sip:\xed\xa0\x80@x",       /* a surrogate */
		"sip:\xf4\x90\x80\x80@x",   /* above U+10FFFF */
		"sip:\xe2\x82",             /* truncated */
		"\xff",
	};
	static const char *const bad_issuers[] = {
		"a\tb", "a\nb", "\x7f", "a\xc2\x85", "\xff", "\xc0\xaf", "\xed\xa0\x80",
	};
	static const char *const bad_domains[] = {
		" a", "a ", "a  b", " ", "a\tb", "a\nb", "a\x7f", "a\xc2\x85", "\xff",
	};
	static char id255[KMS_STORE_MAX_ID + 1], id256[KMS_STORE_MAX_ID + 2];
	static char uri2048[KMS_STORE_MAX_URI + 1], uri2049[KMS_STORE_MAX_URI + 2];
	static char uri_utf8[KMS_STORE_MAX_URI + 1];
	static struct kms_store_cert cert, got_cert;
	struct kms_store_client c, got;
	struct kms_store_keyset ks, got_ks;
	struct kms_store_blob b, got_b;
	struct kms_store *st, *bad_st;
	char path[256];
	size_t i;

	st = create_store("bounds.db", path, sizeof(path));
	repeat(id255, 'a', KMS_STORE_MAX_ID);
	repeat(id256, 'a', KMS_STORE_MAX_ID + 1);
	repeat(uri2048, 'u', KMS_STORE_MAX_URI);
	repeat(uri2049, 'u', KMS_STORE_MAX_URI + 1);
	/* 2048 bytes of UTF-8: "sip:" then 1022 two-byte characters. */
	memcpy(uri_utf8, "sip:", 4);
	for (i = 4; i < KMS_STORE_MAX_URI; i += 2) {
		uri_utf8[i] = '\xc3';
		uri_utf8[i + 1] = '\xa9';
	}
	uri_utf8[KMS_STORE_MAX_URI] = '\0';

	/* Client ids and labels: 255 visible ASCII characters, every one of the set. */
	sample_client(&c, "x", KMS_CLIENT_UE);
	memcpy(c.client_id, id255, sizeof(id255));
	for (i = 0; i < KMS_STORE_MAX_ID; i++) {
		c.trk_label[i] = (char)(0x21 + i % 94);
	}
	c.trk_label[KMS_STORE_MAX_ID] = '\0';
	memcpy(c.ink_label, id255, sizeof(id255));
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, id255, &got) == KMS_OK);
	CU_ASSERT(client_eq(&c, &got));
	memset(&got, 0xaa, sizeof(got));
	CU_ASSERT(kms_store_get_client(st, id256, &got) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	CU_ASSERT(kms_store_add_identity(st, uri2048) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, uri_utf8) == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, id255, uri2048) == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, id255, uri_utf8) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, id255, uri2048) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, id255, uri_utf8) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, id256, uri2048) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(st, id256, uri2048) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(st, id256, uri2048) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_check_entitled(st, id255, uri2049) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_add_identity(st, uri2049) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(st, uri2049, 1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(st, id255, uri2049) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(st, id255, uri2049) == KMS_ERR_INVALID_ARG);
	sample_keyset(&ks, 5);
	CU_ASSERT(kms_store_put_keyset(st, uri_utf8, 1, &ks) == KMS_OK);
	CU_ASSERT(kms_store_get_keyset(st, uri_utf8, 1, &got_ks) == KMS_OK);
	CU_ASSERT(keyset_eq(&ks, &got_ks));
	CU_ASSERT(kms_store_put_keyset(st, uri2049, 1, &ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_keyset(st, uri2049, 1, &got_ks) == KMS_ERR_INVALID_ARG);

	/* A struct whose array holds no NUL. */
	memset(c.client_id, 'a', sizeof(c.client_id));
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	memcpy(c.client_id, id255, sizeof(id255));
	memset(c.ink_label, 'a', sizeof(c.ink_label));
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	memcpy(c.ink_label, id255, sizeof(id255));

	for (i = 0; i < NUM(bad_ids); i++) {
		CU_ASSERT(kms_store_get_client(st, bad_ids[i], &got) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_entitle(st, bad_ids[i], uri2048) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_withdraw(st, bad_ids[i], uri2048) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_check_entitled(st, bad_ids[i], uri2048) == KMS_ERR_INVALID_ARG);
		sample_client(&c, "x", KMS_CLIENT_UE);
		snprintf(c.client_id, sizeof(c.client_id), "%s", bad_ids[i]);
		CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
		sample_client(&c, "x", KMS_CLIENT_UE);
		snprintf(c.trk_label, sizeof(c.trk_label), "%s", bad_ids[i]);
		CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
		sample_client(&c, "x", KMS_CLIENT_UE);
		snprintf(c.ink_label, sizeof(c.ink_label), "%s", bad_ids[i]);
		CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	}
	for (i = 0; i < NUM(bad_uris); i++) {
		CU_ASSERT(kms_store_add_identity(st, bad_uris[i]) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_set_identity_revoked(st, bad_uris[i], 0) ==
			  KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_entitle(st, id255, bad_uris[i]) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_withdraw(st, id255, bad_uris[i]) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_check_entitled(st, id255, bad_uris[i]) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_get_keyset(st, bad_uris[i], 1, &got_ks) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_put_keyset(st, bad_uris[i], 1, &ks) == KMS_ERR_INVALID_ARG);
		sample_cert(&cert, 1);
		snprintf(cert.kms_uri, sizeof(cert.kms_uri), "%s", bad_uris[i]);
		CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
		if (bad_uris[i][0] != '\0') { /* cert_uri may be empty */
			sample_cert(&cert, 1);
			snprintf(cert.cert_uri, sizeof(cert.cert_uri), "%s", bad_uris[i]);
			CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
		}
	}

	/* Enums and flags. */
	sample_client(&c, "ue-2", KMS_CLIENT_UE);
	c.cls = (enum kms_client_class)2;
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	sample_client(&c, "ue-2", KMS_CLIENT_UE);
	c.revoked = 2;
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	c.revoked = -1;
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(st, uri2048, 2) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(st, uri2048, -1) == KMS_ERR_INVALID_ARG);

	/* The certificate: an array without NUL, numbers out of range. */
	sample_cert(&cert, 1);
	memset(cert.kms_uri, 'k', sizeof(cert.kms_uri));
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	memset(cert.cert_uri, 'c', sizeof(cert.cert_uri));
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	cert.user_key_period = 0;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_RANGE);
	cert.user_key_period = (uint64_t)INT64_MAX + 1;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_RANGE);
	cert.user_key_period = 1;
	cert.user_key_offset = UINT64_MAX;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_RANGE);
	/* Issuer: bounded, UTF-8, no control characters, NUL-terminated in its array. */
	for (i = 0; i < NUM(bad_issuers); i++) {
		sample_cert(&cert, 1);
		snprintf(cert.issuer, sizeof(cert.issuer), "%s", bad_issuers[i]);
		CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	}
	sample_cert(&cert, 1);
	memset(cert.issuer, 'i', sizeof(cert.issuer));
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	/* Domain lists. */
	for (i = 0; i < NUM(bad_domains); i++) {
		sample_cert(&cert, 1);
		snprintf(cert.domains, sizeof(cert.domains), "%s", bad_domains[i]);
		CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	}
	sample_cert(&cert, 1);
	cert.domains[0] = '\0';
	for (i = 0; i <= KMS_STORE_MAX_DOMAINS; i++) { /* one too many */
		size_t used = strlen(cert.domains);

		(void)snprintf(cert.domains + used, sizeof(cert.domains) - used, "%sd%zu",
			       i > 0 ? " " : "", i);
	}
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	repeat(cert.domains, 'd', KMS_STORE_MAX_URI + 1); /* one URI too long */
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	memset(cert.domains, 'd', sizeof(cert.domains));
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	/* Validity: flags 0 or 1, years 0001..9999, from before to. */
	sample_cert(&cert, 1);
	cert.has_valid_from = 2;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	cert.has_valid_to = -1;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	sample_cert(&cert, 1);
	cert.valid_from = -62135596801LL;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_RANGE);
	sample_cert(&cert, 1);
	cert.valid_to = 253402300800LL;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_RANGE);
	sample_cert(&cert, 1);
	cert.valid_to = cert.valid_from;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	cert.valid_to = cert.valid_from - 1;
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_ERR_INVALID_ARG);
	cert.has_valid_to = 0; /* from alone: no order to keep */
	cert.valid_to = 0;
	CU_ASSERT(kms_store_get_cert(st, &got_cert) == KMS_ERR_FORBIDDEN); /* nothing written */
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got_cert) == KMS_OK);
	CU_ASSERT(cert_eq(&cert, &got_cert));
	CU_ASSERT(raw_exec(path, "DELETE FROM cert_info; DELETE FROM certificate") == SQLITE_OK);
	CU_ASSERT(kms_store_get_cert(st, &got_cert) == KMS_ERR_FORBIDDEN);

	/* Periods. */
	CU_ASSERT(kms_store_put_keyset(st, uri2048, (uint64_t)INT64_MAX + 1, &ks) == KMS_ERR_RANGE);
	CU_ASSERT(kms_store_put_keyset(st, uri2048, UINT64_MAX, &ks) == KMS_ERR_RANGE);
	CU_ASSERT(kms_store_get_keyset(st, uri2048, (uint64_t)INT64_MAX + 1, &got_ks) ==
		  KMS_ERR_RANGE);
	CU_ASSERT(kms_store_put_keyset(st, uri2048, INT64_MAX, &ks) == KMS_OK);

	/* Blobs: 1..KMS_STORE_MAX_BLOB bytes. */
	sample_blob(&b, 1, 0);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_ERR_INVALID_ARG);
	b.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_ERR_INVALID_ARG);
	b.len = SIZE_MAX;
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_ERR_INVALID_ARG);
	sample_keyset(&ks, 1);
	ks.ssk.len = 0;
	CU_ASSERT(kms_store_put_keyset(st, uri2048, 1, &ks) == KMS_ERR_INVALID_ARG);
	sample_keyset(&ks, 1);
	ks.pvt.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_keyset(st, uri2048, 1, &ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_keyset(st, uri2048, 1, &got_ks) == KMS_ERR_FORBIDDEN);

	/* Secret names. */
	sample_blob(&b, 1, 16);
	CU_ASSERT(kms_store_put_secret(st, "KSAK", &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(st, "ksak2", &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(st, "", &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_secret(st, "kek", &got_b) == KMS_ERR_INVALID_ARG);

	/* NULL, everywhere. */
	bad_st = NULL;
	CU_ASSERT(kms_store_get_cert(bad_st, &got_cert) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_cert(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_cert(bad_st, &cert) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_cert(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_secret(bad_st, "ksak", &got_b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_secret(st, NULL, &got_b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_secret(st, "ksak", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(bad_st, "ksak", &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(st, NULL, &b) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_secret(st, "ksak", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_client(bad_st, "ue-1", &got) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_client(st, NULL, &got) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_client(st, "ue-1", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client(bad_st, &c) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_add_identity(bad_st, "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_add_identity(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(bad_st, "sip:a", 0) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_identity_revoked(st, NULL, 0) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(bad_st, "ue-1", "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(st, NULL, "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitle(st, "ue-1", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(bad_st, "ue-1", "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(st, NULL, "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_withdraw(st, "ue-1", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_check_entitled(bad_st, "ue-1", "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_check_entitled(st, NULL, "sip:a") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_keyset(bad_st, "sip:a", 1, &got_ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_keyset(st, NULL, 1, &got_ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_keyset(st, "sip:a", 1, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_keyset(bad_st, "sip:a", 1, &ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_keyset(st, NULL, 1, &ks) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_keyset(st, "sip:a", 1, NULL) == KMS_ERR_INVALID_ARG);
	kms_store_close(st);

	/* Opening. */
	CU_ASSERT(kms_store_open(NULL, path, KMS_STORE_RO) == KMS_ERR_INVALID_ARG);
	bad_st = (struct kms_store *)&b;
	CU_ASSERT(kms_store_open(&bad_st, NULL, KMS_STORE_RO) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(bad_st == NULL);
	CU_ASSERT(kms_store_open(&bad_st, "", KMS_STORE_RO) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_open(&bad_st, "file:x.db?mode=memory", KMS_STORE_CREATE) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_open(&bad_st, path, (enum kms_store_mode)3) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_open(&bad_st, path, (enum kms_store_mode) - 1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(bad_st == NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Sharing the file                                                                           */

static void
test_two_handles(void)
{
	struct kms_store_blob b, got;
	struct kms_store_client c;
	struct kms_store *rw, *ro, *rw2;
	char path[256];

	rw = create_store("shared.db", path, sizeof(path));
	ro = open_store(path, KMS_STORE_RO);
	rw2 = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_get_secret(ro, "ksak", &got) == KMS_ERR_FORBIDDEN);
	sample_blob(&b, 7, 64);
	CU_ASSERT(kms_store_put_secret(rw, "ksak", &b) == KMS_OK);
	CU_ASSERT(kms_store_get_secret(ro, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b));

	/* The second writer's changes reach both others. */
	sample_client(&c, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT(kms_store_put_client(rw2, &c) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(rw2, "sip:a@example.org") == KMS_OK);
	CU_ASSERT(kms_store_entitle(rw, "ue-1", "sip:a@example.org") == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(ro, "ue-1", "sip:a@example.org") == KMS_OK);
	CU_ASSERT(kms_store_withdraw(rw2, "ue-1", "sip:a@example.org") == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(ro, "ue-1", "sip:a@example.org") == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_check_entitled(rw, "ue-1", "sip:a@example.org") == KMS_ERR_FORBIDDEN);

	/* The reader outlives the writers. */
	kms_store_close(rw);
	kms_store_close(rw2);
	CU_ASSERT(kms_store_get_secret(ro, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b));
	kms_store_close(ro);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Another process holds the write lock: a write waits the busy timeout, then fails with
 * KMS_ERR_IO and changes nothing; readers go on meanwhile (WAL).
 */
static void
test_busy(void)
{
	struct kms_store_blob b, b2, got;
	struct kms_store *st, *ro;
	sqlite3 *other = NULL;
	char path[256];
	double t0, waited;

	st = create_store("busy.db", path, sizeof(path));
	sample_blob(&b, 1, 32);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b) == KMS_OK);
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);

	sample_blob(&b2, 2, 32);
	t0 = now_s();
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b2) == KMS_ERR_IO);
	waited = now_s() - t0;
	CU_ASSERT(waited >= 4.0);
	CU_ASSERT(kms_store_get_secret(ro, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b));
	CU_ASSERT(kms_store_get_secret(st, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b));

	CU_ASSERT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &b2) == KMS_OK);
	CU_ASSERT(kms_store_get_secret(ro, "ksak", &got) == KMS_OK);
	CU_ASSERT(blob_eq(&got, &b2));
	kms_store_close(ro);
	kms_store_close(st);
}

/*
 * secure_delete is on: a replaced wrapped key leaves no copy in the file. (A control run on a
 * plain SQLite file with secure_delete off shows the test would see one.)
 */
static void
test_secure_delete(void)
{
	static const char old_mark[] = "OLD-WRAPPED-KEY-";
	struct kms_store_blob old_b, new_b;
	struct kms_store *st;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	uint8_t *data;
	char path[256];
	size_t i, len;

	memset(&old_b, 0, sizeof(old_b));
	for (i = 0; i + 16 <= KMS_STORE_MAX_BLOB; i += 16) {
		memcpy(old_b.data + i, old_mark, 16);
	}
	old_b.len = KMS_STORE_MAX_BLOB;
	sample_blob(&new_b, 0x80, 100);

	st = create_store("sd.db", path, sizeof(path));
	CU_ASSERT(kms_store_put_secret(st, "ksak", &old_b) == KMS_OK);
	CU_ASSERT(kms_store_put_secret(st, "ksak", &new_b) == KMS_OK);
	kms_store_close(st);
	data = read_all(path, &len);
	CU_ASSERT_FATAL(data != NULL);
	CU_ASSERT(!contains(data, len, old_mark, 16));
	CU_ASSERT(contains(data, len, new_b.data, new_b.len));
	free(data);

	/* Control: the same with secure_delete off leaves the old value in the file. */
	path_of(path, sizeof(path), "sd-control.db");
	(void)unlink(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE TABLE secrets (name TEXT PRIMARY KEY NOT NULL, "
				       "wrapped BLOB NOT NULL) WITHOUT ROWID") == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CU_ASSERT(sqlite3_exec(db, "PRAGMA secure_delete = OFF; PRAGMA journal_mode = WAL", NULL,
			       NULL, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db,
					   "INSERT INTO secrets VALUES ('ksak', ?1) ON CONFLICT "
					   "(name) DO UPDATE SET wrapped = excluded.wrapped",
					   -1, &s, NULL) == SQLITE_OK);
	CU_ASSERT(sqlite3_bind_blob(s, 1, old_b.data, (int)old_b.len, SQLITE_STATIC) == SQLITE_OK);
	CU_ASSERT(sqlite3_step(s) == SQLITE_DONE);
	sqlite3_reset(s);
	CU_ASSERT(sqlite3_bind_blob(s, 1, new_b.data, (int)new_b.len, SQLITE_STATIC) == SQLITE_OK);
	CU_ASSERT(sqlite3_step(s) == SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
	data = read_all(path, &len);
	CU_ASSERT_FATAL(data != NULL);
	CU_ASSERT(contains(data, len, old_mark, 16));
	free(data);
}

/* ---------------------------------------------------------------------------------------- */
/* The certificate cache of external KMSs                                                     */

static void
sample_ext(struct kms_store_ext_cert *c, unsigned seed)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->kms_uri, sizeof(c->kms_uri), "kms%u.other.example", seed);
	snprintf(c->cert_uri, sizeof(c->cert_uri), "cert%u.other.example", seed);
	snprintf(c->issuer, sizeof(c->issuer), "Issuer \xc3\xa9 %u", seed);
	c->has_valid_from = 1;
	c->valid_from = 1700000000;
	c->has_valid_to = 1;
	c->valid_to = 1800000000 + (int64_t)seed;
	c->user_key_period = 2592000;
	c->user_key_offset = seed;
	memset(c->z_t, (int)(0x40 + seed), sizeof(c->z_t));
	c->z_t[0] = 0x04;
	memset(c->kpak, (int)(0x20 + seed), sizeof(c->kpak));
	c->kpak[0] = 0x04;
	snprintf(c->domains, sizeof(c->domains), "d%u.example a.example", seed);
}

/* Collects what kms_store_ext_cert_read passes on. */
struct ext_seen {
	struct kms_store_ext_cert certs[8];
	size_t n;
	int stop_at; /* return KMS_ERR_AUTH at this call (1-based); 0: never */
};

static int
ext_collect(void *arg, const struct kms_store_ext_cert *c)
{
	struct ext_seen *seen = arg;

	if (seen->n >= NUM(seen->certs)) {
		return KMS_ERR_INTERNAL;
	}
	seen->certs[seen->n++] = *c;
	if (seen->stop_at != 0 && (size_t)seen->stop_at == seen->n) {
		return KMS_ERR_AUTH;
	}
	return KMS_OK;
}

static int
ext_read(struct kms_store *st, uint64_t since, int skip, size_t max, struct ext_seen *seen,
	 uint64_t *num, int *more)
{
	memset(seen, 0, sizeof(*seen));
	return kms_store_ext_cert_read(st, since, skip, max, ext_collect, seen, num, more);
}

static bool
ext_same(const struct kms_store_ext_cert *a, const struct kms_store_ext_cert *b)
{
	return strcmp(a->kms_uri, b->kms_uri) == 0 && strcmp(a->cert_uri, b->cert_uri) == 0 &&
	       strcmp(a->issuer, b->issuer) == 0 && a->has_valid_from == b->has_valid_from &&
	       a->valid_from == b->valid_from && a->has_valid_to == b->has_valid_to &&
	       a->valid_to == b->valid_to && a->revoked == b->revoked &&
	       a->user_key_period == b->user_key_period &&
	       a->user_key_offset == b->user_key_offset &&
	       memcmp(a->z_t, b->z_t, sizeof(a->z_t)) == 0 &&
	       memcmp(a->kpak, b->kpak, sizeof(a->kpak)) == 0 &&
	       strcmp(a->domains, b->domains) == 0;
}

static void
test_ext_roundtrip(void)
{
	struct kms_store_ext_cert a, b, b2;
	struct ext_seen seen;
	struct kms_store *st, *ro;
	char path[256];
	uint64_t num = 99;
	int more = 9;

	st = create_store("ext.db", path, sizeof(path));
	/* Empty: cache number 0, nothing to read. */
	CU_ASSERT(kms_store_ext_cache_num(st, &num) == KMS_OK && num == 0);
	CU_ASSERT(ext_read(st, 0, 0, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT(seen.n == 0 && num == 0 && more == 0);

	sample_ext(&a, 1);
	sample_ext(&b, 2);
	b.has_valid_from = 0;
	b.valid_from = 0; /* read back as 0 when absent */
	b.has_valid_to = 0;
	b.valid_to = 0;
	b.issuer[0] = '\0';
	b.cert_uri[0] = '\0';
	b.domains[0] = '\0';
	b.revoked = 1;
	CU_ASSERT(kms_store_ext_cert_put(st, &a, &num) == KMS_OK && num == 1);
	CU_ASSERT(kms_store_ext_cert_put(st, &b, &num) == KMS_OK && num == 2);
	CU_ASSERT(kms_store_ext_cache_num(st, &num) == KMS_OK && num == 2);
	kms_store_close(st);

	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(ext_read(ro, 0, 1, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT_FATAL(seen.n == 2);
	CU_ASSERT(num == 2 && more == 0);
	CU_ASSERT(ext_same(&seen.certs[0], &a) && seen.certs[0].change_num == 1);
	CU_ASSERT(ext_same(&seen.certs[1], &b) && seen.certs[1].change_num == 2);
	CU_ASSERT(seen.certs[0].withdrawn == 0 && seen.certs[1].withdrawn == 0);
	/* Since 1: only b. Max 1: a, and more. */
	CU_ASSERT(ext_read(ro, 1, 1, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT(seen.n == 1 && ext_same(&seen.certs[0], &b) && num == 2 && more == 0);
	CU_ASSERT(ext_read(ro, 0, 1, 1, &seen, &num, &more) == KMS_OK);
	CU_ASSERT(seen.n == 1 && ext_same(&seen.certs[0], &a) && num == 2 && more == 1);
	CU_ASSERT(ext_read(ro, 2, 0, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT(seen.n == 0 && num == 2 && more == 0);
	/* The callback's value stops the walk. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 1;
	CU_ASSERT(kms_store_ext_cert_read(ro, 0, 0, 64, ext_collect, &seen, &num, &more) ==
		  KMS_ERR_AUTH);
	CU_ASSERT(seen.n == 1 && num == 0 && more == 0);
	/* Read-only handles cannot write. */
	CU_ASSERT(kms_store_ext_cert_put(ro, &a, &num) == KMS_ERR_INVALID_ARG && num == 0);
	CU_ASSERT(kms_store_ext_cert_withdraw(ro, a.kms_uri, &num) == KMS_ERR_INVALID_ARG);
	kms_store_close(ro);

	/* Withdraw a: change 3, a stays as a withdrawn row; twice or unknown: FORBIDDEN. */
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_ext_cert_withdraw(st, a.kms_uri, &num) == KMS_OK && num == 3);
	CU_ASSERT(kms_store_ext_cert_withdraw(st, a.kms_uri, &num) == KMS_ERR_FORBIDDEN &&
		  num == 0);
	CU_ASSERT(kms_store_ext_cert_withdraw(st, "kms9.other.example", &num) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_ext_cache_num(st, &num) == KMS_OK && num == 3);
	CU_ASSERT(ext_read(st, 0, 1, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT(seen.n == 1 && ext_same(&seen.certs[0], &b) && num == 3);
	CU_ASSERT(ext_read(st, 2, 0, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT_FATAL(seen.n == 1);
	CU_ASSERT(ext_same(&seen.certs[0], &a) && seen.certs[0].withdrawn == 1 &&
		  seen.certs[0].change_num == 3);
	/* Replacing b (change 4) and re-importing a (change 5, served again). */
	b2 = b;
	b2.user_key_offset = 77;
	CU_ASSERT(kms_store_ext_cert_put(st, &b2, &num) == KMS_OK && num == 4);
	CU_ASSERT(kms_store_ext_cert_put(st, &a, &num) == KMS_OK && num == 5);
	CU_ASSERT(ext_read(st, 0, 1, 64, &seen, &num, &more) == KMS_OK);
	CU_ASSERT_FATAL(seen.n == 2);
	CU_ASSERT(ext_same(&seen.certs[0], &b2) && seen.certs[0].change_num == 4);
	CU_ASSERT(ext_same(&seen.certs[1], &a) && seen.certs[1].withdrawn == 0 && num == 5);
	kms_store_close(st);
}

static void
test_ext_bounds(void)
{
	struct kms_store_ext_cert a, c;
	struct ext_seen seen;
	struct kms_store *st;
	char path[256];
	uint64_t num;
	int more;
	size_t i;

	st = create_store("ext-bounds.db", path, sizeof(path));
	sample_ext(&a, 1);
	CU_ASSERT(kms_store_ext_cert_put(NULL, &a, &num) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_ext_cert_put(st, NULL, &num) == KMS_ERR_INVALID_ARG);
	c = a;
	c.kms_uri[0] = '\0';
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
	c = a;
	memset(c.kms_uri, 'k', sizeof(c.kms_uri)); /* not terminated */
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
	c = a;
	memset(c.issuer, 'i', KMS_STORE_MAX_ISSUER);
	c.issuer[KMS_STORE_MAX_ISSUER] = '\0';
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_OK); /* exactly the limit */
	c = a;
	c.issuer[0] = (char)0xff; /* not UTF-8 */
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
	{
		static const char *const bad_domains[] = {
			" a.example", "a.example ", "a.example  b.example", "a\tb", "a\x7f",
		};
		for (i = 0; i < NUM(bad_domains); i++) {
			c = a;
			snprintf(c.domains, sizeof(c.domains), "%s", bad_domains[i]);
			CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
		}
	}
	/* 64 domains are fine, 65 are not. */
	c = a;
	c.domains[0] = '\0';
	for (i = 0; i < KMS_STORE_MAX_DOMAINS; i++) {
		size_t len = strlen(c.domains);
		snprintf(c.domains + len, sizeof(c.domains) - len, "%sd%zu", i ? " " : "", i);
	}
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_OK);
	{
		size_t len = strlen(c.domains);
		snprintf(c.domains + len, sizeof(c.domains) - len, " x");
	}
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
	c = a;
	c.revoked = 2;
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_INVALID_ARG);
	c = a;
	c.user_key_period = 0;
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_RANGE);
	c = a;
	c.user_key_offset = (uint64_t)INT64_MAX + 1;
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_RANGE);
	c = a;
	c.valid_to = 253402300800LL;
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_ERR_RANGE);
	c.has_valid_to = 0; /* absent: the value is ignored */
	CU_ASSERT(kms_store_ext_cert_put(st, &c, &num) == KMS_OK);
	CU_ASSERT(kms_store_ext_cert_withdraw(st, NULL, &num) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_ext_cert_withdraw(st, "", &num) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(ext_read(st, 0, 0, 0, &seen, &num, &more) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(ext_read(st, 0, 0, KMS_STORE_MAX_EXT_READ + 1, &seen, &num, &more) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(ext_read(st, 0, 2, 1, &seen, &num, &more) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(ext_read(st, (uint64_t)INT64_MAX + 1, 0, 1, &seen, &num, &more) == KMS_ERR_RANGE);
	CU_ASSERT(kms_store_ext_cert_read(st, 0, 0, 1, NULL, NULL, &num, &more) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_ext_cache_num(st, NULL) == KMS_ERR_INVALID_ARG);
	kms_store_close(st);
}

static void
test_ext_corrupt(void)
{
	static const char *const tamper[] = {
		"UPDATE ext_certs SET z_t = x'04'",
		"UPDATE ext_certs SET kpak = 'text'",
		"UPDATE ext_certs SET domains = ' lead'",
		"UPDATE ext_certs SET issuer = x'41'", /* a blob, not text */
		"UPDATE ext_certs SET valid_from = 'x'",
		"UPDATE ext_certs SET withdrawn = 2",
		"UPDATE ext_certs SET change_num = 0",
		"UPDATE ext_certs SET change_num = 9223372036854775807",
		"UPDATE ext_certs SET user_key_period = 0",
	};
	struct kms_store_ext_cert a;
	struct ext_seen seen;
	struct kms_store *st;
	char path[256];
	uint64_t num;
	int more;
	size_t i;

	for (i = 0; i < NUM(tamper); i++) {
		char sql[256];

		st = create_store("ext-corrupt.db", path, sizeof(path));
		sample_ext(&a, 3);
		CU_ASSERT_FATAL(kms_store_ext_cert_put(st, &a, &num) == KMS_OK);
		kms_store_close(st);
		snprintf(sql, sizeof(sql), "PRAGMA ignore_check_constraints = ON; %s", tamper[i]);
		CU_ASSERT_FATAL(raw_exec(path, sql) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RW);
		if (ext_read(st, 0, 0, 64, &seen, &num, &more) != KMS_ERR_PARSE) {
			fprintf(stderr, "test_store: not refused: %s\n", tamper[i]);
			CU_FAIL("a corrupt ext_certs row was read");
		}
		CU_ASSERT(seen.n == 0 && num == 0);
		kms_store_close(st);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Roster: lists, client revocation, batches                                                  */

struct collect {
	char text[4096];
	size_t n;
	int stop_after; /* 0: never */
};

static void
collect_add(struct collect *c, const char *a, const char *b, int flag)
{
	size_t used = strlen(c->text);

	(void)snprintf(c->text + used, sizeof(c->text) - used, "%s|%s|%d;", a, b, flag);
	c->n++;
}

static int
collect_client(void *arg, const struct kms_store_client *cl)
{
	struct collect *c = arg;

	collect_add(c, cl->client_id, cl->cls == KMS_CLIENT_UE ? "ue" : "server", cl->revoked);
	return c->stop_after != 0 && (int)c->n >= c->stop_after ? KMS_ERR_AUTH : KMS_OK;
}

static int
collect_identity(void *arg, const struct kms_store_identity *id)
{
	struct collect *c = arg;

	collect_add(c, id->uri, "", id->revoked);
	return c->stop_after != 0 && (int)c->n >= c->stop_after ? KMS_ERR_AUTH : KMS_OK;
}

static int
collect_entitlement(void *arg, const struct kms_store_entitlement *e)
{
	struct collect *c = arg;

	collect_add(c, e->client_id, e->uri, 0);
	return KMS_OK;
}

static void
test_roster_lists(void)
{
	struct kms_store_client c1, c2;
	struct kms_store *st, *ro;
	struct collect c;
	char path[256];

	st = create_store("rlist.db", path, sizeof(path));
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_client_list(st, collect_client, &c) == KMS_OK);
	CU_ASSERT_EQUAL(c.n, 0);
	sample_client(&c1, "ue-1", KMS_CLIENT_UE);
	sample_client(&c2, "srv-1", KMS_CLIENT_SERVER);
	CU_ASSERT(kms_store_put_client(st, &c1) == KMS_OK);
	CU_ASSERT(kms_store_put_client(st, &c2) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, "sip:b@x") == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, "sip:a@x") == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "ue-1", "sip:b@x") == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "ue-1", "sip:a@x") == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "srv-1", "sip:a@x") == KMS_OK);

	/* Client revocation: refused everything, then restored. */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@x") == KMS_OK);
	CU_ASSERT(kms_store_set_client_revoked(st, "ue-1", 1) == KMS_OK);
	CU_ASSERT(kms_store_set_client_revoked(st, "ue-1", 1) == KMS_OK); /* again */
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@x") == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_set_identity_revoked(st, "sip:b@x", 1) == KMS_OK);

	ro = open_store(path, KMS_STORE_RO);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_client_list(ro, collect_client, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "srv-1|server|0;ue-1|ue|1;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(ro, collect_identity, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "sip:a@x||0;sip:b@x||1;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(ro, NULL, NULL, collect_entitlement, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "srv-1|sip:a@x|0;ue-1|sip:a@x|0;ue-1|sip:b@x|0;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(ro, "ue-1", NULL, collect_entitlement, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "ue-1|sip:a@x|0;ue-1|sip:b@x|0;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(ro, NULL, "sip:a@x", collect_entitlement, &c) ==
		  KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "srv-1|sip:a@x|0;ue-1|sip:a@x|0;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(ro, "nobody", NULL, collect_entitlement, &c) ==
		  KMS_OK);
	CU_ASSERT_EQUAL(c.n, 0);
	/* The callback's value stops the walk and comes back. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	CU_ASSERT(kms_store_client_list(ro, collect_client, &c) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(c.n, 1);
	/* Arguments. */
	CU_ASSERT(kms_store_client_list(NULL, collect_client, &c) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_identity_list(ro, NULL, &c) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitlement_list(ro, "a b", NULL, collect_entitlement, &c) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_entitlement_list(ro, NULL, "", collect_entitlement, &c) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_client_revoked(ro, "ue-1", 0) == KMS_ERR_INVALID_ARG);
	kms_store_close(ro);

	CU_ASSERT(kms_store_set_client_revoked(st, "ue-1", 0) == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@x") == KMS_OK);
	CU_ASSERT(kms_store_set_client_revoked(st, "ue-9", 1) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_set_client_revoked(st, "ue-1", 2) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_set_client_revoked(st, "", 1) == KMS_ERR_INVALID_ARG);
	kms_store_close(st);

	/* A malformed row (past the CHECKs, written directly) stops a list with PARSE. */
	CU_ASSERT_FATAL(raw_exec(path, "INSERT INTO entitlements (client_id, uri) "
				       "VALUES ('ue-1', x'ff')") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RO);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(st, NULL, NULL, collect_entitlement, &c) ==
		  KMS_ERR_PARSE);
	kms_store_close(st);
}

static void
test_roster_apply(void)
{
	struct kms_roster_summary sum;
	struct kms_store_client c1;
	struct kms_store *st;
	struct collect c;
	const char *why = "x";
	size_t bad = 99;
	char path[256];
	const struct kms_roster_op ok_ops[] = {
		{KMS_ROSTER_ADD_IDENTITY, NULL, "sip:a@x"},
		{KMS_ROSTER_ADD_IDENTITY, NULL, "sip:a@x"},
		{KMS_ROSTER_ADD_IDENTITY, NULL, "sip:b@x"},
		{KMS_ROSTER_ENTITLE, "ue-1", "sip:a@x"},
		{KMS_ROSTER_ENTITLE, "ue-1", "sip:b@x"},
		{KMS_ROSTER_ENTITLE, "ue-1", "sip:b@x"},
		{KMS_ROSTER_WITHDRAW, "ue-1", "sip:b@x"},
		{KMS_ROSTER_REVOKE_IDENTITY, NULL, "sip:b@x"},
	};
	const struct kms_roster_op bad_ops[] = {
		{KMS_ROSTER_ADD_IDENTITY, NULL, "sip:c@x"},
		{KMS_ROSTER_ENTITLE, "ue-1", "sip:c@x"},
		{KMS_ROSTER_WITHDRAW, "ue-1", "sip:b@x"}, /* withdrawn already */
	};
	const struct kms_roster_op unknown_client[] = {{KMS_ROSTER_ENTITLE, "ue-9", "sip:a@x"}};
	const struct kms_roster_op unknown_id[] = {{KMS_ROSTER_REVOKE_IDENTITY, NULL, "sip:z@x"}};
	const struct kms_roster_op malformed[] = {
		{KMS_ROSTER_ADD_IDENTITY, NULL, "sip:d@x"},
		{KMS_ROSTER_ENTITLE, "u e", "sip:a@x"},
	};

	st = create_store("rapply.db", path, sizeof(path));
	sample_client(&c1, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT(kms_store_put_client(st, &c1) == KMS_OK);

	/* A dry run checks everything and keeps nothing. */
	CU_ASSERT(kms_store_roster_apply(st, ok_ops, 8, 1, &sum, &bad, &why) == KMS_OK);
	CU_ASSERT_EQUAL(sum.added, 2);
	CU_ASSERT_EQUAL(sum.existed, 1);
	CU_ASSERT_EQUAL(sum.entitled, 2);
	CU_ASSERT_EQUAL(sum.already_entitled, 1);
	CU_ASSERT_EQUAL(sum.withdrawn, 1);
	CU_ASSERT_EQUAL(sum.revoked, 1);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(st, collect_identity, &c) == KMS_OK);
	CU_ASSERT_EQUAL(c.n, 0);

	CU_ASSERT(kms_store_roster_apply(st, ok_ops, 8, 0, &sum, &bad, &why) == KMS_OK);
	CU_ASSERT_EQUAL(sum.added, 2);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_STRING_EQUAL(why, "");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(st, collect_identity, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "sip:a@x||0;sip:b@x||1;");
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@x") == KMS_OK);
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:b@x") == KMS_ERR_FORBIDDEN);

	/* One bad op: nothing of the batch is kept, and the op and reason are named. */
	CU_ASSERT(kms_store_roster_apply(st, bad_ops, 3, 0, &sum, &bad, &why) == KMS_ERR_FORBIDDEN);
	CU_ASSERT_EQUAL(bad, 2);
	CU_ASSERT_STRING_EQUAL(why, "no such entitlement");
	CU_ASSERT_EQUAL(sum.added, 0);
	CU_ASSERT(kms_store_set_identity_revoked(st, "sip:c@x", 1) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_roster_apply(st, unknown_client, 1, 0, &sum, &bad, &why) ==
		  KMS_ERR_FORBIDDEN);
	CU_ASSERT_STRING_EQUAL(why, "no such client");
	CU_ASSERT(kms_store_roster_apply(st, unknown_id, 1, 1, &sum, &bad, &why) ==
		  KMS_ERR_FORBIDDEN);
	CU_ASSERT_STRING_EQUAL(why, "no such identity");
	CU_ASSERT(kms_store_roster_apply(st, malformed, 2, 0, &sum, &bad, &why) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(bad, 1);
	CU_ASSERT_STRING_EQUAL(why, "a malformed client id or identity URI");
	CU_ASSERT(kms_store_set_identity_revoked(st, "sip:d@x", 1) == KMS_ERR_FORBIDDEN);

	/* Arguments. */
	CU_ASSERT(kms_store_roster_apply(st, NULL, 0, 0, &sum, &bad, &why) == KMS_OK);
	CU_ASSERT(kms_store_roster_apply(st, NULL, 1, 0, &sum, &bad, &why) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_roster_apply(st, ok_ops, KMS_STORE_MAX_ROSTER_OPS + 1, 0, &sum, &bad,
					 &why) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_roster_apply(st, ok_ops, 1, 2, &sum, &bad, &why) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_roster_apply(st, ok_ops, 1, 0, NULL, &bad, &why) ==
		  KMS_ERR_INVALID_ARG);
	kms_store_close(st);
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_roster_apply(st, ok_ops, 1, 0, &sum, &bad, &why) ==
		  KMS_ERR_INVALID_ARG);
	kms_store_close(st);
}

/*
 * The CREATE statements of schema version 3 as a version 3 store holds them (sqlite_schema, in
 * name order), copied from a store made by the version 3 code: the migration is tested on the
 * real thing rather than on a version 4 file with tables dropped.
 */
static const char *const v3_schema[] = {
	/* audit */
	"CREATE TABLE audit (\n"
	"\tseq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),\n"
	"\ttime_s INTEGER NOT NULL CHECK (typeof(time_s) = 'integer' AND time_s >= 0),\n"
	"\ttime_ns INTEGER NOT NULL CHECK (typeof(time_ns) = 'integer' AND time_ns "
	"BETWEEN 0 AND 999999999),\n"
	"\trequest_id TEXT NOT NULL CHECK (typeof(request_id) = 'text' AND "
	"length(CAST(request_id AS BLOB)) <= 64 AND instr(CAST(request_id AS BLOB), "
	"x'00') = 0),\n"
	"\tclient TEXT NOT NULL CHECK (typeof(client) = 'text' AND length(CAST(client AS "
	"BLOB)) <= 255 AND instr(CAST(client AS BLOB), x'00') = 0),\n"
	"\tidentity TEXT NOT NULL CHECK (typeof(identity) = 'text' AND "
	"length(CAST(identity AS BLOB)) <= 2048 AND instr(CAST(identity AS BLOB), x'00') "
	"= 0),\n"
	"\tresource TEXT NOT NULL CHECK (typeof(resource) = 'text' AND "
	"length(CAST(resource AS BLOB)) <= 2048 AND instr(CAST(resource AS BLOB), x'00') "
	"= 0),\n"
	"\thttp_status INTEGER NOT NULL CHECK (typeof(http_status) = 'integer' AND "
	"(http_status = 0 OR http_status BETWEEN 100 AND 599)),\n"
	"\toutcome TEXT NOT NULL CHECK (typeof(outcome) = 'text' AND length(CAST(outcome "
	"AS BLOB)) BETWEEN 1 AND 32 AND instr(CAST(outcome AS BLOB), x'00') = 0 AND "
	"outcome NOT GLOB '*[^a-z0-9_-]*'),\n"
	"\tdetail TEXT NOT NULL CHECK (typeof(detail) = 'text' AND length(CAST(detail AS "
	"BLOB)) <= 255 AND instr(CAST(detail AS BLOB), x'00') = 0),\n"
	"\tkey_ids TEXT NOT NULL CHECK (typeof(key_ids) = 'text' AND length(CAST(key_ids "
	"AS BLOB)) <= 255 AND instr(CAST(key_ids AS BLOB), x'00') = 0),\n"
	"\tprev_hash BLOB NOT NULL CHECK (typeof(prev_hash) = 'blob' AND "
	"length(prev_hash) BETWEEN 32 AND 32),\n"
	"\thash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) BETWEEN 32 "
	"AND 32)\n"
	")"
	";",
	/* certificate */
	"CREATE TABLE certificate (\n"
	"\tid INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),\n"
	"\tkms_uri TEXT NOT NULL CHECK (typeof(kms_uri) = 'text' AND length(CAST(kms_uri "
	"AS BLOB)) BETWEEN 1 AND 2048 AND instr(CAST(kms_uri AS BLOB), x'00') = 0),\n"
	"\tcert_uri TEXT NOT NULL CHECK (typeof(cert_uri) = 'text' AND "
	"length(CAST(cert_uri AS BLOB)) BETWEEN 0 AND 2048 AND instr(CAST(cert_uri AS "
	"BLOB), x'00') = 0),\n"
	"\tuser_key_period INTEGER NOT NULL CHECK (typeof(user_key_period) = 'integer' "
	"AND user_key_period >= 1),\n"
	"\tuser_key_offset INTEGER NOT NULL CHECK (typeof(user_key_offset) = 'integer' "
	"AND user_key_offset >= 0),\n"
	"\tkpak BLOB NOT NULL CHECK (typeof(kpak) = 'blob' AND length(kpak) BETWEEN 65 "
	"AND 65),\n"
	"\tz_t BLOB NOT NULL CHECK (typeof(z_t) = 'blob' AND length(z_t) BETWEEN 257 AND "
	"257)\n"
	")"
	";",
	/* clients */
	"CREATE TABLE clients (\n"
	"\tclient_id TEXT PRIMARY KEY NOT NULL CHECK (typeof(client_id) = 'text' AND "
	"length(CAST(client_id AS BLOB)) BETWEEN 1 AND 255 AND instr(CAST(client_id AS "
	"BLOB), x'00') = 0 AND client_id NOT GLOB '*[^!-~]*'),\n"
	"\tclass TEXT NOT NULL CHECK (typeof(class) = 'text' AND class IN ('ue', "
	"'server')),\n"
	"\ttrk_label TEXT NOT NULL CHECK (typeof(trk_label) = 'text' AND "
	"length(CAST(trk_label AS BLOB)) BETWEEN 1 AND 255 AND instr(CAST(trk_label AS "
	"BLOB), x'00') = 0 AND trk_label NOT GLOB '*[^!-~]*'),\n"
	"\tink_label TEXT NOT NULL CHECK (typeof(ink_label) = 'text' AND "
	"length(CAST(ink_label AS BLOB)) BETWEEN 1 AND 255 AND instr(CAST(ink_label AS "
	"BLOB), x'00') = 0 AND ink_label NOT GLOB '*[^!-~]*'),\n"
	"\trevoked INTEGER NOT NULL CHECK (typeof(revoked) = 'integer' AND revoked IN "
	"(0, 1))\n"
	") WITHOUT ROWID"
	";",
	/* entitlements */
	"CREATE TABLE entitlements (\n"
	"\tclient_id TEXT NOT NULL REFERENCES clients (client_id),\n"
	"\turi TEXT NOT NULL REFERENCES identities (uri),\n"
	"\tPRIMARY KEY (client_id, uri)\n"
	") WITHOUT ROWID"
	";",
	/* ext_certs */
	"CREATE TABLE ext_certs (\n"
	"\tkms_uri TEXT PRIMARY KEY NOT NULL CHECK (typeof(kms_uri) = 'text' AND "
	"length(CAST(kms_uri AS BLOB)) BETWEEN 1 AND 2048 AND instr(CAST(kms_uri AS "
	"BLOB), x'00') = 0),\n"
	"\tcert_uri TEXT NOT NULL CHECK (typeof(cert_uri) = 'text' AND "
	"length(CAST(cert_uri AS BLOB)) BETWEEN 0 AND 2048 AND instr(CAST(cert_uri AS "
	"BLOB), x'00') = 0),\n"
	"\tissuer TEXT NOT NULL CHECK (typeof(issuer) = 'text' AND length(CAST(issuer AS "
	"BLOB)) <= 1024 AND instr(CAST(issuer AS BLOB), x'00') = 0),\n"
	"\tvalid_from INTEGER CHECK (valid_from IS NULL OR (typeof(valid_from) = "
	"'integer' AND valid_from BETWEEN -62135596800 AND 253402300799)),\n"
	"\tvalid_to INTEGER CHECK (valid_to IS NULL OR (typeof(valid_to) = 'integer' AND "
	"valid_to BETWEEN -62135596800 AND 253402300799)),\n"
	"\trevoked INTEGER NOT NULL CHECK (typeof(revoked) = 'integer' AND revoked IN "
	"(0, 1)),\n"
	"\tuser_key_period INTEGER NOT NULL CHECK (typeof(user_key_period) = 'integer' "
	"AND user_key_period >= 1),\n"
	"\tuser_key_offset INTEGER NOT NULL CHECK (typeof(user_key_offset) = 'integer' "
	"AND user_key_offset >= 0),\n"
	"\tz_t BLOB NOT NULL CHECK (typeof(z_t) = 'blob' AND length(z_t) BETWEEN 257 AND "
	"257),\n"
	"\tkpak BLOB NOT NULL CHECK (typeof(kpak) = 'blob' AND length(kpak) BETWEEN 65 "
	"AND 65),\n"
	"\tdomains TEXT NOT NULL CHECK (typeof(domains) = 'text' AND length(CAST(domains "
	"AS BLOB)) <= 8192 AND instr(CAST(domains AS BLOB), x'00') = 0),\n"
	"\twithdrawn INTEGER NOT NULL CHECK (typeof(withdrawn) = 'integer' AND withdrawn "
	"IN (0, 1)),\n"
	"\tchange_num INTEGER NOT NULL CHECK (typeof(change_num) = 'integer' AND "
	"change_num >= 1)\n"
	") WITHOUT ROWID"
	";",
	/* identities */
	"CREATE TABLE identities (\n"
	"\turi TEXT PRIMARY KEY NOT NULL CHECK (typeof(uri) = 'text' AND length(CAST(uri "
	"AS BLOB)) BETWEEN 1 AND 2048 AND instr(CAST(uri AS BLOB), x'00') = 0),\n"
	"\trevoked INTEGER NOT NULL CHECK (typeof(revoked) = 'integer' AND revoked IN "
	"(0, 1))\n"
	") WITHOUT ROWID"
	";",
	/* keysets */
	"CREATE TABLE keysets (\n"
	"\turi TEXT NOT NULL REFERENCES identities (uri),\n"
	"\tperiod INTEGER NOT NULL CHECK (typeof(period) = 'integer' AND period >= 0),\n"
	"\trsk BLOB NOT NULL CHECK (typeof(rsk) = 'blob' AND length(rsk) BETWEEN 1 AND "
	"512),\n"
	"\tssk BLOB NOT NULL CHECK (typeof(ssk) = 'blob' AND length(ssk) BETWEEN 1 AND "
	"512),\n"
	"\tpvt BLOB NOT NULL CHECK (typeof(pvt) = 'blob' AND length(pvt) BETWEEN 1 AND "
	"512),\n"
	"\tPRIMARY KEY (uri, period)\n"
	") WITHOUT ROWID"
	";",
	/* secrets */
	"CREATE TABLE secrets (\n"
	"\tname TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text' AND name IN "
	"('ksak', 'z_t')),\n"
	"\twrapped BLOB NOT NULL CHECK (typeof(wrapped) = 'blob' AND length(wrapped) "
	"BETWEEN 1 AND 512)\n"
	") WITHOUT ROWID"
	";",
};

/* The rest of a version 3 file, and rows in every table (the audit records of docs/store.md). */
static const char v3_rows[] =
	"PRAGMA application_id = 1263358803; PRAGMA user_version = 3; "
	"PRAGMA journal_mode = WAL; "
	"INSERT INTO certificate VALUES (1, 'kms.example.org', 'cert.example.org', 2592000, 7, "
	"zeroblob(65), zeroblob(257)); "
	"INSERT INTO secrets VALUES ('ksak', x'0102030405'), ('z_t', x'0607'); "
	"INSERT INTO clients VALUES ('ue-1', 'ue', 'trk-ue-1', 'ink-ue-1', 0); "
	"INSERT INTO identities VALUES ('sip:a@example.org', 0), ('sip:b@example.org', 1); "
	"INSERT INTO entitlements VALUES ('ue-1', 'sip:a@example.org'); "
	"INSERT INTO keysets VALUES ('sip:a@example.org', 7, x'01', x'0202', x'030303'); "
	"INSERT INTO ext_certs VALUES ('kms.other.example', '', 'them', 1700000000, NULL, 0, "
	"86400, 0, zeroblob(257), zeroblob(65), 'other.example', 0, 1); "
	"INSERT INTO audit VALUES (1, 1714564800, 123456789, 'req-1', 'ue-1', "
	"'sip:alice@example.org', "
	"'GET /keymanagement/identity/v1/keyprov/sip:alice@example.org/3927081600', 200, "
	"'provisioned', '', 'trk-ue-1-1', zeroblob(32), "
	"x'5740B2E6DA941668ED4C00DDD73A292ED1C4D78E3C42DC62CB3F3E6C8E5EDA44'); "
	"INSERT INTO audit VALUES (2, 1714564801, 0, 'req-2', '', '', "
	"'POST /keymanagement/identity/v1/init', 403, 'refused', 'no client certificate', '', "
	"x'5740B2E6DA941668ED4C00DDD73A292ED1C4D78E3C42DC62CB3F3E6C8E5EDA44', "
	"x'80C9B17DA905A455AC33FED5221A1760E859C4CFD337F97D7C88FCBFCCADB9E4')";

/* A version 3 store at path, made with the SQLite API alone. */
static void
make_v3(const char *path)
{
	size_t i;

	(void)unlink(path);
	for (i = 0; i < NUM(v3_schema); i++) {
		CU_ASSERT_FATAL(raw_exec(path, v3_schema[i]) == SQLITE_OK);
	}
	CU_ASSERT_FATAL(raw_exec(path, v3_rows) == SQLITE_OK);
}

/* PRAGMA user_version of the file, read with the SQLite API (-1 on failure). */
static int
raw_user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		v = sqlite3_column_int(s, 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* How often needle is in the log so far. */
static size_t
log_count(const char *needle)
{
	uint8_t *data;
	size_t len, i, n = 0, k = strlen(needle);

	data = read_all(log_path, &len);
	for (i = 0; data != NULL && k <= len && i <= len - k; i++) {
		if (memcmp(data + i, needle, k) == 0) {
			n++;
		}
	}
	free(data);
	return n;
}

/*
 * The store of schema version from at path, opened as an operator does: read-only it is
 * refused with hint in the log and the file is left as it is, byte for byte; read-write it is
 * migrated to KMS_STORE_SCHEMA_VERSION, once, and the log says migrated. The read-write handle.
 */
static struct kms_store *
open_migrating(const char *path, int from, const char *hint, const char *migrated)
{
	struct kms_store *st = NULL;
	uint8_t *before, *after;
	size_t before_len = 0, after_len = 0, n;

	CU_ASSERT_EQUAL(raw_user_version(path), from);
	n = log_count(hint);
	before = read_all(path, &before_len);
	CU_ASSERT_FATAL(before != NULL);
	CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RO) == KMS_ERR_PARSE);
	CU_ASSERT(st == NULL);
	CU_ASSERT_EQUAL(log_count(hint), n + 1);
	after = read_all(path, &after_len);
	CU_ASSERT(bytes_eq(before, before_len, after, after_len));
	free(before);
	free(after);
	CU_ASSERT_EQUAL(raw_user_version(path), from);
	n = log_count(migrated);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT_EQUAL(log_count(migrated), n + 1);
	CU_ASSERT_EQUAL(raw_user_version(path), KMS_STORE_SCHEMA_VERSION);
	return st;
}

static int
count_ext(void *arg, const struct kms_store_ext_cert *cert)
{
	size_t *n = arg;

	*n += strcmp(cert->kms_uri, "kms.other.example") == 0 && cert->has_valid_from &&
	      !cert->has_valid_to && strcmp(cert->domains, "other.example") == 0;
	return KMS_OK;
}

#define MIGRATED     "migrated the store from schema version 3 to 7"
#define MIGRATE_HINT "schema version 3: open it read-write once"

static void
test_migrate_v3(void)
{
	static struct kms_store_cert cert, got;
	static struct kms_store_rotation rot, got_rot;
	struct kms_store_client client;
	struct kms_store_keyset ks;
	struct kms_store_blob b;
	struct kms_store *st = NULL;
	struct collect c;
	uint64_t count = 0, first_bad = 1;
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_SEQ;
	size_t migrated, n_ext = 0;
	char path[256];
	int has = 0;

	path_of(path, sizeof(path), "v3.db");
	make_v3(path);
	migrated = log_count(MIGRATED); /* what the later opens are counted against */
	st = open_migrating(path, 3, MIGRATE_HINT, MIGRATED);

	/* Every row is still there. */
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(got.kms_uri, "kms.example.org");
	CU_ASSERT_STRING_EQUAL(got.cert_uri, "cert.example.org");
	CU_ASSERT_EQUAL(got.user_key_period, 2592000);
	CU_ASSERT_EQUAL(got.user_key_offset, 7);
	CU_ASSERT(kms_test_all_zero(got.kpak, sizeof(got.kpak)));
	CU_ASSERT(kms_test_all_zero(got.z_t, sizeof(got.z_t)));
	CU_ASSERT_STRING_EQUAL(got.issuer, "");
	CU_ASSERT_EQUAL(got.has_valid_from, 0);
	CU_ASSERT_EQUAL(got.has_valid_to, 0);
	CU_ASSERT_STRING_EQUAL(got.domains, "");
	CU_ASSERT(kms_store_get_secret(st, "ksak", &b) == KMS_OK);
	CU_ASSERT(bytes_eq(b.data, b.len, (const uint8_t *)"\x01\x02\x03\x04\x05", 5));
	CU_ASSERT(kms_store_get_secret(st, "z_t", &b) == KMS_OK);
	CU_ASSERT_EQUAL(b.len, 2);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &client) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(client.trk_label, "trk-ue-1");
	CU_ASSERT(kms_store_check_entitled(st, "ue-1", "sip:a@example.org") == KMS_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(st, collect_identity, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "sip:a@example.org||0;sip:b@example.org||1;");
	CU_ASSERT(kms_store_get_keyset(st, "sip:a@example.org", 7, &ks) == KMS_OK);
	CU_ASSERT(bytes_eq(ks.pvt.data, ks.pvt.len, (const uint8_t *)"\x03\x03\x03", 3));
	CU_ASSERT(kms_store_has_keyset(st, "sip:a@example.org", 7, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_ext_cert_read(st, 0, 1, 10, count_ext, &n_ext, NULL, NULL) == KMS_OK);
	CU_ASSERT_EQUAL(n_ext, 1);
	CU_ASSERT(kms_store_audit_verify(st, &count, &first_bad, &fault) == KMS_OK);
	CU_ASSERT_EQUAL(count, 2);
	CU_ASSERT_EQUAL(first_bad, 0);
	CU_ASSERT_EQUAL(fault, KMS_AUDIT_FAULT_NONE);

	/* And the new tables work. */
	sample_cert(&cert, 9);
	CU_ASSERT(kms_store_put_cert(st, &cert) == KMS_OK);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&cert, &got));
	sample_blob(&b, 4, 40);
	CU_ASSERT(kms_store_put_client_key(st, "trk-ue-1", 0, &b) == KMS_OK);
	/* The table of version 6 too: a rotation of the version 3 client. */
	sample_rotation(&rot, "ue-1", 2, 0x60);
	snprintf(rot.from_trk_label, sizeof(rot.from_trk_label), "trk-ue-1");
	CU_ASSERT(kms_store_put_rotation(st, &rot, &b, &b) == KMS_OK);
	has = 0;
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got_rot, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(rotation_eq(&rot, &got_rot));
	kms_store_close(st);

	/* Opened again, read-only and read-write: version 6, no second migration. */
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&cert, &got));
	kms_store_close(st);
	st = open_store(path, KMS_STORE_CREATE);
	kms_store_close(st);
	CU_ASSERT_EQUAL(log_count(MIGRATED), migrated + 1);

	/* KMS_STORE_CREATE of an existing version 3 file migrates it too. */
	make_v3(path);
	st = open_store(path, KMS_STORE_CREATE);
	CU_ASSERT_EQUAL(log_count(MIGRATED), migrated + 2);
	CU_ASSERT(kms_store_get_keyset(st, "sip:a@example.org", 7, &ks) == KMS_OK);
	kms_store_close(st);

	/* A version 3 file with anything more or less than version 3's schema is not migrated. */
	make_v3(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE INDEX x ON clients (trk_label)") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	make_v3(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE TABLE client_keys (label TEXT)") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	make_v3(path);
	CU_ASSERT_FATAL(raw_exec(path, "DROP TABLE audit") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(raw_user_version(path), 3);
	CU_ASSERT_EQUAL(log_count(MIGRATED), migrated + 2);

	/* Another connection holds the write lock: the migration waits, fails, changes nothing. */
	make_v3(path);
	{
		sqlite3 *other = NULL;

		CU_ASSERT_FATAL(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) ==
				SQLITE_OK);
		CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
				SQLITE_OK);
		st = (struct kms_store *)&has;
		CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RW) == KMS_ERR_IO);
		CU_ASSERT(st == NULL);
		CU_ASSERT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(other);
	}
	CU_ASSERT_EQUAL(raw_user_version(path), 3);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT_EQUAL(raw_user_version(path), KMS_STORE_SCHEMA_VERSION);
	kms_store_close(st);
}

#define MIGRATED_V4     "migrated the store from schema version 4 to 7"
#define MIGRATE_HINT_V4 "schema version 4: open it read-write once"

/* A version 4 store: made by this code, the tables of versions 5 and 6 dropped (the rest is
 * byte for byte version 4's: those tables' CREATE text did not change). */
static void
make_v4(const char *path)
{
	struct kms_store *st;
	struct kms_store_cert cert;
	struct kms_store_client client;
	struct kms_store_blob b;
	struct kms_audit_rec rec;
	uint64_t seq;

	(void)unlink(path);
	CU_ASSERT_FATAL(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_OK);
	sample_cert(&cert, 4);
	CU_ASSERT_FATAL(kms_store_put_cert(st, &cert) == KMS_OK);
	memset(&client, 0, sizeof(client));
	snprintf(client.client_id, sizeof(client.client_id), "ue-4");
	snprintf(client.trk_label, sizeof(client.trk_label), "trk-ue-4");
	snprintf(client.ink_label, sizeof(client.ink_label), "ink-ue-4");
	CU_ASSERT_FATAL(kms_store_put_client(st, &client) == KMS_OK);
	sample_blob(&b, 5, 40);
	CU_ASSERT_FATAL(kms_store_put_client_key(st, "trk-ue-4", 0, &b) == KMS_OK);
	memset(&rec, 0, sizeof(rec));
	rec.time_s = 1714564800;
	rec.request_id = "req-v4";
	rec.outcome = "provisioned";
	CU_ASSERT_FATAL(kms_store_audit_append(st, &rec, &seq) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_audit_append(st, &rec, &seq) == KMS_OK);
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "DROP TABLE audit_keys; DROP TABLE audit_checkpoints; "
				       "DROP TABLE client_rotations; DROP TABLE retired_keys; "
				       "PRAGMA user_version = 4") == SQLITE_OK);
}

static void
test_migrate_v4(void)
{
	static struct kms_store_rotation rot, got_rot;
	struct kms_store_cert cert, got;
	struct kms_store_client client;
	struct kms_store *st = NULL;
	struct kms_audit_checkpoint cp;
	uint8_t point[KMS_AUDIT_POINT_LEN];
	uint64_t count = 0, bad = 1, last = 9;
	int has = 1;
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_SEQ;
	size_t migrated;
	char path[256];

	path_of(path, sizeof(path), "v4.db");
	make_v4(path);
	migrated = log_count(MIGRATED_V4); /* what the later opens are counted against */
	st = open_migrating(path, 4, MIGRATE_HINT_V4, MIGRATED_V4);
	/* every row kept, the new tables empty and usable */
	sample_cert(&cert, 4);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&cert, &got));
	CU_ASSERT(kms_store_get_client(st, "ue-4", &client) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(client.ink_label, "ink-ue-4");
	CU_ASSERT(kms_store_audit_verify(st, &count, &bad, &fault) == KMS_OK);
	CU_ASSERT_EQUAL(count, 2);
	memset(point, 0, sizeof(point));
	point[0] = 0x04;
	point[64] = 7;
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_checkpoint_last(st, &last) == KMS_OK);
	CU_ASSERT_EQUAL(last, 0);
	CU_ASSERT(kms_store_put_audit_key(st, point, "kms.audit") == KMS_OK);
	memset(&cp, 0, sizeof(cp));
	cp.seq = 2;
	CU_ASSERT(kms_store_audit_hash_at(st, 2, cp.hash) == KMS_OK);
	CU_ASSERT(kms_store_audit_key_fingerprint(point, cp.key_fp) == KMS_OK);
	CU_ASSERT(kms_store_checkpoint_put(st, &cp) == KMS_OK);
	sample_rotation(&rot, "ue-4", 2, 0x61);
	snprintf(rot.from_trk_label, sizeof(rot.from_trk_label), "trk-ue-4");
	CU_ASSERT(kms_store_put_rotation(st, &rot, &rot.new_trk, &rot.new_ink) == KMS_OK);
	kms_store_close(st);

	/* Again: version 6, no second migration, the new rows there. */
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	has = 0;
	CU_ASSERT(kms_store_get_rotation(st, "ue-4", &got_rot, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(rotation_eq(&rot, &got_rot));
	CU_ASSERT(kms_store_checkpoint_last(st, &last) == KMS_OK);
	CU_ASSERT_EQUAL(last, 2);
	kms_store_close(st);
	st = open_store(path, KMS_STORE_RW);
	kms_store_close(st);
	CU_ASSERT_EQUAL(log_count(MIGRATED_V4), migrated + 1);

	/* A version 4 file with a table too many (one of version 5 left): refused, kept. */
	make_v4(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE TABLE audit_keys (x)") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(raw_user_version(path), 4);
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints: two P-256 keys of the test's own (OpenSSL), standing in for two nodes' tokens */

static EVP_PKEY *cp_keys[2];
static uint8_t cp_points[2][KMS_AUDIT_POINT_LEN];
static uint8_t cp_fps[2][KMS_AUDIT_HASH_LEN];

static void
cp_key_init(void)
{
	size_t n = 0, i;

	for (i = 0; i < 2; i++) {
		if (cp_keys[i] != NULL) {
			continue;
		}
		cp_keys[i] = EVP_EC_gen("P-256");
		CU_ASSERT_PTR_NOT_NULL_FATAL(cp_keys[i]);
		CU_ASSERT_FATAL(EVP_PKEY_get_octet_string_param(cp_keys[i], OSSL_PKEY_PARAM_PUB_KEY,
								cp_points[i], sizeof(cp_points[i]),
								&n) == 1 &&
				n == sizeof(cp_points[i]) && cp_points[i][0] == 0x04);
		CU_ASSERT_FATAL(kms_store_audit_key_fingerprint(cp_points[i], cp_fps[i]) == KMS_OK);
	}
}

/* ECDSA r || s of digest by cp_keys[k]. */
static void
cp_sign(unsigned int k, const uint8_t digest[32], uint8_t sig[KMS_AUDIT_SIG_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(cp_keys[k], NULL);
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es;

	CU_ASSERT_FATAL(ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
			EVP_PKEY_sign(ctx, der, &der_len, digest, 32) == 1);
	EVP_PKEY_CTX_free(ctx);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	CU_ASSERT_FATAL(es != NULL);
	CU_ASSERT_FATAL(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
			BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32);
	ECDSA_SIG_free(es);
}

/* The verification the store is given: under cp_keys[k] for cp_points[k] only. */
static int
cp_verify(const uint8_t point[KMS_AUDIT_POINT_LEN], const uint8_t *digest, size_t len,
	  const uint8_t sig[KMS_AUDIT_SIG_LEN])
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig, 32, NULL), *bs = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	int der_len, r = KMS_ERR_AUTH;

	if (es == NULL || br == NULL || bs == NULL || ECDSA_SIG_set0(es, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(es);
		return KMS_ERR_NOMEM;
	}
	if (memcmp(point, cp_points[0], KMS_AUDIT_POINT_LEN) == 0) {
		key = cp_keys[0];
	} else if (memcmp(point, cp_points[1], KMS_AUDIT_POINT_LEN) == 0) {
		key = cp_keys[1];
	}
	if (key != NULL && (der_len = i2d_ECDSA_SIG(es, &der)) > 0 &&
	    (ctx = EVP_PKEY_CTX_new(key, NULL)) != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, len) == 1) {
		r = KMS_OK;
	}
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return r;
}

/* Append records 1..n (content from i and tag) to st. */
static void
cp_append(struct kms_store *st, unsigned int first, unsigned int last, const char *tag)
{
	struct kms_audit_rec rec;
	char rid[32];
	uint64_t seq;
	unsigned int i;

	for (i = first; i <= last; i++) {
		memset(&rec, 0, sizeof(rec));
		snprintf(rid, sizeof(rid), "req-%u", i);
		rec.time_s = 1714564800u + i;
		rec.request_id = rid;
		rec.resource = "GET /keymanagement/identity/v1/init";
		rec.http_status = 200;
		rec.outcome = "provisioned";
		rec.detail = tag;
		CU_ASSERT_FATAL(kms_store_audit_append(st, &rec, &seq) == KMS_OK);
		CU_ASSERT_FATAL(seq == i);
	}
}

/* Sign the checkpoint of record seq with cp_keys[k] and store it, as kms-hsmd does. */
static void
cp_make_by(struct kms_store *st, uint64_t seq, unsigned int k)
{
	struct kms_audit_checkpoint cp;
	uint8_t digest[32];

	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	cp.time_s = 1714565000u + seq;
	memcpy(cp.key_fp, cp_fps[k], sizeof(cp.key_fp));
	CU_ASSERT_FATAL(kms_store_audit_hash_at(st, seq, cp.hash) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_checkpoint_digest(seq, cp.hash, cp.time_s, digest) == KMS_OK);
	cp_sign(k, digest, cp.sig);
	CU_ASSERT_FATAL(kms_store_checkpoint_put(st, &cp) == KMS_OK);
}

static void
cp_make(struct kms_store *st, uint64_t seq)
{
	cp_make_by(st, seq, 0);
}

/* A store of 12 records, the first test key, checkpoints at 5 and 10. */
static struct kms_store *
cp_store(const char *name, char *path, size_t cap)
{
	struct kms_store *st = create_store(name, path, cap);

	cp_key_init();
	cp_append(st, 1, 12, "");
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, cp_points[0], "kms.audit") == KMS_OK);
	cp_make(st, 5);
	cp_make(st, 10);
	return st;
}

/* kms-admin's view: "fp-prefix label n;" per key, in the order reported. */
struct key_report {
	char text[512];
	unsigned int calls;
};

static void
cp_key_report(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN], const char *label,
	      uint64_t num_signed)
{
	struct key_report *kr = ctx;
	size_t n = strlen(kr->text);

	kr->calls++;
	snprintf(kr->text + n, sizeof(kr->text) - n, "%02x%02x %s %llu;", fp[0], fp[1], label,
		 (unsigned long long)num_signed);
}

/* kms_store_audit_verify_checkpoints on the store at path (read-only), with num_pins pins. */
static int
cp_verify_pins(const char *path, const uint8_t (*pins)[KMS_AUDIT_HASH_LEN], size_t num_pins,
	       struct key_report *kr, struct kms_audit_report *rep)
{
	struct kms_store *st = open_store(path, KMS_STORE_RO);
	int r;

	if (kr != NULL) {
		memset(kr, 0, sizeof(*kr));
	}
	r = kms_store_audit_verify_checkpoints(st, cp_verify, pins, num_pins,
					       kr != NULL ? cp_key_report : NULL, kr, rep);
	kms_store_close(st);
	return r;
}

/* The same with at most one pin (pin NULL: none). */
static int
cp_verify_path(const char *path, const uint8_t *pin, struct kms_audit_report *rep)
{
	uint8_t pins[1][KMS_AUDIT_HASH_LEN];

	if (pin == NULL) {
		return cp_verify_pins(path, NULL, 0, NULL, rep);
	}
	memcpy(pins[0], pin, KMS_AUDIT_HASH_LEN);
	return cp_verify_pins(path, (const uint8_t(*)[KMS_AUDIT_HASH_LEN])pins, 1, NULL, rep);
}

/* The audit key list's callback: "label;" of each, fp checked against the point. */
static int
ak_collect(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN],
	   const uint8_t point[KMS_AUDIT_POINT_LEN], const char *label)
{
	struct collect *c = ctx;
	uint8_t want[KMS_AUDIT_HASH_LEN];
	size_t n = strlen(c->text);

	CU_ASSERT(kms_store_audit_key_fingerprint(point, want) == KMS_OK);
	CU_ASSERT(memcmp(want, fp, sizeof(want)) == 0);
	snprintf(c->text + n, sizeof(c->text) - n, "%s;", label);
	return strcmp(label, "stop") == 0 ? KMS_ERR_RANGE : KMS_OK;
}

static void
test_audit_key(void)
{
	uint8_t point[KMS_AUDIT_POINT_LEN], other[KMS_AUDIT_POINT_LEN], third[KMS_AUDIT_POINT_LEN];
	uint8_t fp[32], want_fp[32], fp_other[32];
	char path[256], want[64];
	unsigned int fp_len = 0;
	struct kms_store *st;
	struct collect c;
	int has = 7;

	st = create_store("ak.db", path, sizeof(path));
	memset(point, 0x11, sizeof(point));
	point[0] = 0x04;
	memcpy(other, point, sizeof(other));
	other[10] ^= 1;
	memcpy(third, point, sizeof(third));
	third[20] ^= 1;
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_audit_key_list(st, ak_collect, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "");
	CU_ASSERT(kms_store_put_audit_key(st, point, "kms.audit") == KMS_OK);
	CU_ASSERT(kms_store_put_audit_key(st, point, "kms.audit") == KMS_OK); /* the same again */
	/* the same key under another label: refused; another key (another node): registered */
	CU_ASSERT(kms_store_put_audit_key(st, point, "kms.audit2") == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_put_audit_key(st, other, "node2.audit") == KMS_OK);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	has = 0;
	CU_ASSERT(kms_store_has_audit_key(st, other, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_has_audit_key(st, third, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	/* listed in fingerprint order */
	CU_ASSERT(kms_store_audit_key_fingerprint(point, fp) == KMS_OK);
	CU_ASSERT(kms_store_audit_key_fingerprint(other, fp_other) == KMS_OK);
	snprintf(want, sizeof(want), "%s",
		 memcmp(fp, fp_other, 32) < 0 ? "kms.audit;node2.audit;"
					      : "node2.audit;kms.audit;");
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_audit_key_list(st, ak_collect, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, want);
	/* a callback's value stops the list */
	CU_ASSERT(kms_store_put_audit_key(st, third, "stop") == KMS_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_audit_key_list(st, ak_collect, &c) == KMS_ERR_RANGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.text, "stop;"));
	/* malformed arguments */
	CU_ASSERT(kms_store_put_audit_key(NULL, point, "x") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_audit_key(st, NULL, "x") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_audit_key(st, point, "") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_audit_key(st, point, "a b") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_has_audit_key(st, NULL, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_has_audit_key(st, point, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_has_audit_key(NULL, point, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_audit_key_list(st, NULL, NULL) == KMS_ERR_INVALID_ARG);
	other[0] = 0x02;
	CU_ASSERT(kms_store_put_audit_key(st, other, "x") == KMS_ERR_INVALID_ARG);
	/* the fingerprint is SHA-256 of the 65 octets */
	CU_ASSERT(EVP_Digest(point, sizeof(point), want_fp, &fp_len, EVP_sha256(), NULL) == 1);
	CU_ASSERT(memcmp(fp, want_fp, sizeof(fp)) == 0);
	kms_store_close(st);

	/* read-only: readable, not writable */
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_put_audit_key(st, third, "kms.audit") == KMS_ERR_INVALID_ARG);
	kms_store_close(st);
	/* a row whose fingerprint is not its point's: refused where it is read */
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE audit_keys SET point = CAST(substr(point, 1, 64) || "
				       "x'ee' AS BLOB) WHERE label = 'stop'") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK); /* another row */
	CU_ASSERT_EQUAL(has, 1);
	third[64] = 0xee;
	CU_ASSERT(kms_store_has_audit_key(st, third, &has) == KMS_OK); /* not its fp: not there */
	CU_ASSERT_EQUAL(has, 0);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_audit_key_list(st, ak_collect, &c) == KMS_ERR_PARSE);
	kms_store_close(st);
	/* a malformed point */
	CU_ASSERT_FATAL(raw_exec(path,
				 "PRAGMA ignore_check_constraints = ON; "
				 "UPDATE audit_keys SET point = x'05' WHERE label = 'kms.audit'") ==
			SQLITE_OK);
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(has, 0);
	kms_store_close(st);
}

/* The checkpoint walk's callback: "seq;" of each into a text. */
static int
cp_collect(void *arg, const struct kms_audit_checkpoint *cp)
{
	struct collect *c = arg;
	size_t n = strlen(c->text);

	snprintf(c->text + n, sizeof(c->text) - n, "%llu;", (unsigned long long)cp->seq);
	return cp->seq == 99 ? KMS_ERR_RANGE : KMS_OK;
}

/* The walk's callback that keeps checkpoint 10. */
static int
cp_keep10(void *arg, const struct kms_audit_checkpoint *cp)
{
	if (cp->seq == 10) {
		memcpy(arg, cp, sizeof(*cp));
	}
	return KMS_OK;
}

static void
test_checkpoint_basics(void)
{
	static const uint8_t zero[32];
	struct kms_audit_checkpoint cp, kept;
	struct kms_store *st;
	struct collect c;
	uint8_t hash[32], head[32], d1[32], d2[32];
	uint64_t seq = 0;
	char path[256];

	st = cp_store("cpb.db", path, sizeof(path));
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_checkpoint_walk(st, cp_collect, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "5;10;");
	CU_ASSERT(kms_store_checkpoint_last(st, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 10);
	CU_ASSERT(kms_store_audit_head(st, &seq, head) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 12);
	CU_ASSERT(kms_store_audit_hash_at(st, 12, hash) == KMS_OK);
	CU_ASSERT(memcmp(hash, head, 32) == 0);
	CU_ASSERT(kms_store_audit_hash_at(st, 13, hash) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(memcmp(hash, zero, 32) == 0);
	CU_ASSERT(kms_store_audit_hash_at(st, 0, hash) == KMS_ERR_RANGE);
	CU_ASSERT(kms_store_audit_hash_at(st, (uint64_t)INT64_MAX + 1, hash) == KMS_ERR_RANGE);
	/* the same seq again (another node was first): KMS_OK, the first one stays */
	memset(&kept, 0, sizeof(kept));
	CU_ASSERT(kms_store_checkpoint_walk(st, cp_keep10, &kept) == KMS_OK);
	CU_ASSERT_EQUAL(kept.seq, 10);
	CU_ASSERT(memcmp(kept.key_fp, cp_fps[0], 32) == 0);
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, cp_points[1], "node2.audit") == KMS_OK);
	cp_make_by(st, 10, 1);
	memset(&cp, 0, sizeof(cp));
	CU_ASSERT(kms_store_checkpoint_walk(st, cp_keep10, &cp) == KMS_OK);
	CU_ASSERT(memcmp(&cp, &kept, sizeof(cp)) == 0);
	/* a key that is not registered: refused, nothing written */
	memset(&cp, 0, sizeof(cp));
	cp.seq = 11;
	cp.key_fp[0] = 1;
	CU_ASSERT(kms_store_checkpoint_put(st, &cp) == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_checkpoint_last(st, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 10);
	/* a callback's value stops the walk */
	memset(&cp, 0, sizeof(cp));
	cp.seq = 99;
	memcpy(cp.key_fp, cp_fps[1], 32);
	CU_ASSERT(kms_store_checkpoint_put(st, &cp) == KMS_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_checkpoint_walk(st, cp_collect, &c) == KMS_ERR_RANGE);
	CU_ASSERT_STRING_EQUAL(c.text, "5;10;99;");
	cp.seq = 0;
	CU_ASSERT(kms_store_checkpoint_put(st, &cp) == KMS_ERR_RANGE);
	cp.seq = 1;
	cp.time_s = (uint64_t)INT64_MAX + 1;
	CU_ASSERT(kms_store_checkpoint_put(st, &cp) == KMS_ERR_RANGE);
	CU_ASSERT(kms_store_checkpoint_put(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_checkpoint_walk(st, NULL, NULL) == KMS_ERR_INVALID_ARG);
	kms_store_close(st);

	/* an empty log: head 0 and zeros */
	st = create_store("cpe.db", path, sizeof(path));
	seq = 7;
	CU_ASSERT(kms_store_audit_head(st, &seq, head) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT(memcmp(head, zero, 32) == 0);
	kms_store_close(st);

	/* The digest (docs/store.md): SHA-256("KMS-AUDIT-CHECKPOINT-1" || u64be(seq) || hash ||
	 * i64be(time_s)), computed here independently. */
	{
		uint8_t m[22 + 8 + 32 + 8];
		unsigned int n = 0;
		size_t i;

		memcpy(m, "KMS-AUDIT-CHECKPOINT-1", 22);
		for (i = 0; i < 8; i++) {
			m[22 + i] = (uint8_t)(0x0102030405060708ULL >> (56 - 8 * i));
			m[62 + i] = (uint8_t)(1714564800ULL >> (56 - 8 * i));
		}
		for (i = 0; i < 32; i++) {
			m[30 + i] = (uint8_t)i;
			hash[i] = (uint8_t)i;
		}
		CU_ASSERT(EVP_Digest(m, sizeof(m), d1, &n, EVP_sha256(), NULL) == 1 && n == 32);
		CU_ASSERT(kms_store_checkpoint_digest(0x0102030405060708ULL, hash, 1714564800,
						      d2) == KMS_OK);
		CU_ASSERT(memcmp(d1, d2, 32) == 0);
		CU_ASSERT(kms_store_checkpoint_digest(0, hash, 1, d2) == KMS_ERR_RANGE);
		CU_ASSERT(memcmp(d2, zero, 32) == 0);
		CU_ASSERT(kms_store_checkpoint_digest(1, hash, (uint64_t)INT64_MAX + 1, d2) ==
			  KMS_ERR_RANGE);
	}
}

static void
test_checkpoint_verify(void)
{
	struct kms_audit_report rep;
	struct kms_store *st, *st2;
	struct kms_audit_checkpoint cp;
	struct key_report kr;
	uint8_t fp[32], bad_fp[32], pins[2][32];
	char path[256], path2[256], want[128];
	const uint8_t(*both)[32] = (const uint8_t(*)[32])pins;

	/* intact: 12 records, 2 checkpoints, the last at 10; pinned key right and wrong */
	st = cp_store("cpv.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, &kr, &rep) == KMS_OK);
	CU_ASSERT_EQUAL(rep.chain_count, 12);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 2);
	CU_ASSERT_EQUAL(rep.last_cp_seq, 10);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 0);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_NONE);
	CU_ASSERT_EQUAL(rep.num_keys, 1);
	snprintf(want, sizeof(want), "%02x%02x kms.audit 2;", cp_fps[0][0], cp_fps[0][1]);
	CU_ASSERT_STRING_EQUAL(kr.text, want);
	memcpy(fp, cp_fps[0], 32);
	CU_ASSERT(cp_verify_path(path, fp, &rep) == KMS_OK);
	memcpy(bad_fp, fp, 32);
	bad_fp[0] ^= 1;
	/* a pinned key that is not registered */
	CU_ASSERT(cp_verify_path(path, bad_fp, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 0);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 0);
	CU_ASSERT_EQUAL(rep.chain_fault, KMS_AUDIT_FAULT_NONE);

	/* two nodes: the second key registered, checkpoints 5 and 10 by the first, 12 by the
	 * second: all verify, without pins and with both pinned */
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, cp_points[1], "node2.audit") == KMS_OK);
	cp_make_by(st, 12, 1);
	kms_store_close(st);
	memcpy(pins[0], cp_fps[1], 32);
	memcpy(pins[1], cp_fps[0], 32);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, &kr, &rep) == KMS_OK);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 3);
	CU_ASSERT_EQUAL(rep.last_cp_seq, 12);
	CU_ASSERT_EQUAL(rep.num_keys, 2);
	CU_ASSERT_EQUAL(kr.calls, 2);
	if (memcmp(cp_fps[0], cp_fps[1], 32) < 0) {
		snprintf(want, sizeof(want), "%02x%02x kms.audit 2;%02x%02x node2.audit 1;",
			 cp_fps[0][0], cp_fps[0][1], cp_fps[1][0], cp_fps[1][1]);
	} else {
		snprintf(want, sizeof(want), "%02x%02x node2.audit 1;%02x%02x kms.audit 2;",
			 cp_fps[1][0], cp_fps[1][1], cp_fps[0][0], cp_fps[0][1]);
	}
	CU_ASSERT_STRING_EQUAL(kr.text, want);
	CU_ASSERT(cp_verify_pins(path, both, 2, &kr, &rep) == KMS_OK);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 3);
	/* only the first node's key pinned: checkpoint 12 (the second's) fails */
	CU_ASSERT(cp_verify_pins(path, both + 1, 1, &kr, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY_UNPINNED);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 12);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 2);
	CU_ASSERT_STRING_EQUAL(kms_audit_fault_str(rep.cp_fault),
			       "signed by a key that is not pinned");
	CU_ASSERT_EQUAL(kr.calls, 2); /* the keys are still reported */
	/* only the second's: checkpoint 5 fails */
	CU_ASSERT(cp_verify_pins(path, both, 1, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY_UNPINNED);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 5);
	/* a checkpoint signed by one key but naming the other: its signature fails */
	CU_ASSERT_FATAL(raw_exec(path,
				 "UPDATE audit_checkpoints SET key_fp = (SELECT key_fp FROM "
				 "audit_checkpoints WHERE seq = 12) WHERE seq = 10") == SQLITE_OK);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_SIG);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	/* a checkpoint whose key_fp is not registered (written around the foreign key) */
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA foreign_keys = OFF; UPDATE audit_checkpoints SET "
				       "key_fp = zeroblob(32) WHERE seq = 10") == SQLITE_OK);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, &kr, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY_UNKNOWN);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 1);
	CU_ASSERT_EQUAL(rep.last_cp_seq, 5);
	/* a key row removed (its checkpoint stays): the same */
	st = cp_store("cpu.db", path, sizeof(path));
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, cp_points[1], "node2.audit") == KMS_OK);
	cp_make_by(st, 12, 1);
	kms_store_close(st);
	snprintf(want, sizeof(want),
		 "PRAGMA foreign_keys = OFF; DELETE FROM audit_keys WHERE "
		 "label = 'node2.audit'");
	CU_ASSERT_FATAL(raw_exec(path, want) == SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY_UNKNOWN);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 12);
	CU_ASSERT_EQUAL(rep.num_keys, 1);

	/* a bad signature: a byte of checkpoint 10's flipped */
	st = cp_store("cps.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path,
				 "UPDATE audit_checkpoints SET sig = "
				 "CAST(substr(sig, 1, 7) || CASE WHEN substr(sig, 8, 1) = x'5a' "
				 "THEN x'a5' ELSE x'5a' END || substr(sig, 9) AS BLOB) "
				 "WHERE seq = 10") == SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.chain_fault, KMS_AUDIT_FAULT_NONE);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_SIG);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 1);
	CU_ASSERT_EQUAL(rep.last_cp_seq, 5);
	/* another time than the signed one: the signature no longer fits */
	st = cp_store("cpt.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE audit_checkpoints SET time_s = time_s + 1 "
				       "WHERE seq = 5") == SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_SIG);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 5);

	/* a cut log: records 8..12 deleted; the chain is intact, checkpoint 10 is beyond it */
	st = cp_store("cpc.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "DELETE FROM audit WHERE seq > 7") == SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.chain_count, 7);
	CU_ASSERT_EQUAL(rep.chain_fault, KMS_AUDIT_FAULT_NONE);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_CUT);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	CU_ASSERT_EQUAL(rep.last_cp_seq, 5);

	/* a rewritten chain: records 1..7 the same, 8..12 other, every hash recomputed (the
	 * store's own append), the original checkpoints and key copied in */
	st = cp_store("cpr.db", path, sizeof(path));
	st2 = create_store("cpr2.db", path2, sizeof(path2));
	cp_append(st2, 1, 7, "");
	cp_append(st2, 8, 12, "rewritten");
	CU_ASSERT_FATAL(kms_store_put_audit_key(st2, cp_points[0], "kms.audit") == KMS_OK);
	CU_ASSERT(kms_store_audit_hash_at(st, 5, cp.hash) == KMS_OK);
	kms_store_close(st);
	kms_store_close(st2);
	{
		char sql[600];

		snprintf(sql, sizeof(sql),
			 "ATTACH DATABASE '%s' AS o; INSERT INTO audit_checkpoints "
			 "SELECT * FROM o.audit_checkpoints",
			 path);
		CU_ASSERT_FATAL(raw_exec(path2, sql) == SQLITE_OK);
	}
	CU_ASSERT(cp_verify_path(path2, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.chain_count, 12);
	CU_ASSERT_EQUAL(rep.chain_fault, KMS_AUDIT_FAULT_NONE);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_HASH);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 1);

	/* a key row whose point is not its fingerprint's: CP_KEY, no checkpoint checked, no key
	 * reported */
	st = cp_store("cpk.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path,
				 "UPDATE audit_keys SET point = CAST("
				 "substr(point, 1, 20) || CASE WHEN substr(point, 21, 1) = x'00' "
				 "THEN x'01' ELSE x'00' END || substr(point, 22) AS BLOB)") ==
			SQLITE_OK);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, &kr, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 0);
	CU_ASSERT_EQUAL(kr.calls, 0);
	/* the key and its fingerprint both replaced (another key): every checkpoint names a key
	 * that is not registered; pinning the original catches the store too */
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA foreign_keys = OFF; DELETE FROM audit_keys") ==
			SQLITE_OK);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, cp_points[1], "kms.audit") == KMS_OK);
	kms_store_close(st);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY_UNKNOWN);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 5);
	CU_ASSERT(cp_verify_path(path, fp, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY);
	/* no keys, no checkpoints: the chain alone passes; a pin fails */
	CU_ASSERT_FATAL(raw_exec(path, "DELETE FROM audit_checkpoints; DELETE FROM audit_keys") ==
			SQLITE_OK);
	CU_ASSERT(cp_verify_pins(path, NULL, 0, &kr, &rep) == KMS_OK);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 0);
	CU_ASSERT_EQUAL(rep.num_keys, 0);
	CU_ASSERT_EQUAL(kr.calls, 0);
	CU_ASSERT(cp_verify_path(path, fp, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_KEY);

	/* a broken chain and intact checkpoints: both reported */
	st = cp_store("cpx.db", path, sizeof(path));
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE audit SET detail = 'x' WHERE seq = 11") ==
			SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.chain_fault, KMS_AUDIT_FAULT_HASH);
	CU_ASSERT_EQUAL(rep.chain_first_bad, 11);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_NONE);
	CU_ASSERT_EQUAL(rep.num_checkpoints, 2);

	/* malformed checkpoint rows: the signature, the key_fp */
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA ignore_check_constraints = ON; "
				       "UPDATE audit_checkpoints SET sig = x'00' WHERE seq = 10") ==
			SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_VALUE);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 10);
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA ignore_check_constraints = ON; PRAGMA foreign_keys "
				       "= OFF; UPDATE audit_checkpoints SET key_fp = x'0102' "
				       "WHERE seq = 5") == SQLITE_OK);
	CU_ASSERT(cp_verify_path(path, NULL, &rep) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(rep.cp_fault, KMS_AUDIT_FAULT_CP_VALUE);
	CU_ASSERT_EQUAL(rep.cp_first_bad, 5);

	/* arguments */
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_audit_verify_checkpoints(st, NULL, NULL, 0, NULL, NULL, &rep) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_verify_checkpoints(st, cp_verify, NULL, 0, NULL, NULL, NULL) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_verify_checkpoints(NULL, cp_verify, NULL, 0, NULL, NULL, &rep) ==
		  KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_verify_checkpoints(st, cp_verify, NULL, 1, NULL, NULL, &rep) ==
		  KMS_ERR_INVALID_ARG);
	kms_store_close(st);
	EVP_PKEY_free(cp_keys[0]);
	EVP_PKEY_free(cp_keys[1]);
	cp_keys[0] = cp_keys[1] = NULL;
}

/* The client keys the list passes on: "label|role|len;" and the last blob. */
struct key_collect {
	struct collect c;
	struct kms_store_blob last;
	int stop_with;
};

static int
collect_client_key(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	struct key_collect *k = ctx;
	char len[32];

	snprintf(len, sizeof(len), "%zu", wrapped->len);
	collect_add(&k->c, label, len, ink);
	k->last = *wrapped;
	return k->c.stop_after != 0 && (int)k->c.n >= k->c.stop_after ? k->stop_with : KMS_OK;
}

/* A list callback that uses the store it is called from. */
static struct kms_store *reentrant_st;

static int
reenter_client_key(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	int *r = ctx;

	(void)label;
	(void)ink;
	(void)wrapped;
	*r = kms_store_client_key_list(reentrant_st, collect_client_key, NULL);
	return KMS_OK;
}

static void
test_client_keys(void)
{
	static char label255[KMS_STORE_MAX_ID + 1], label256[KMS_STORE_MAX_ID + 2];
	static const char *const bad_labels[] = {"", "a b", "a\tb", "caf\xc3\xa9", "a\x7f"};
	struct kms_store_blob b1, b2, b3;
	struct kms_store *st, *ro;
	struct key_collect k;
	char path[256];
	size_t i;
	int r;

	st = create_store("ckeys.db", path, sizeof(path));
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_EQUAL(k.c.n, 0);
	sample_blob(&b1, 1, 40);
	sample_blob(&b2, 2, KMS_STORE_MAX_BLOB);
	sample_blob(&b3, 3, 1);
	repeat(label255, '~', KMS_STORE_MAX_ID);
	repeat(label256, 'a', KMS_STORE_MAX_ID + 1);
	CU_ASSERT(kms_store_put_client_key(st, "trk-ue-2", 0, &b1) == KMS_OK);
	CU_ASSERT(kms_store_put_client_key(st, "ink-ue-2", 1, &b2) == KMS_OK);
	CU_ASSERT(kms_store_put_client_key(st, "Trk-ue-1", 0, &b3) == KMS_OK);
	CU_ASSERT(kms_store_put_client_key(st, label255, 1, &b1) == KMS_OK);
	kms_store_close(st);

	/* In label order (bytes: upper case first), from a read-only handle. */
	ro = open_store(path, KMS_STORE_RO);
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(ro, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_EQUAL(k.c.n, 4);
	CU_ASSERT(strncmp(k.c.text, "Trk-ue-1|1|0;ink-ue-2|512|1;trk-ue-2|40|0;~~~", 45) == 0);
	CU_ASSERT(blob_eq(&k.last, &b1));
	CU_ASSERT(kms_store_put_client_key(ro, "trk-ue-3", 0, &b1) == KMS_ERR_INVALID_ARG);
	/* One key by its label (a read-only handle too); an absent one: KMS_ERR_FORBIDDEN. */
	{
		struct kms_store_blob got;
		int ink = -1;

		memset(&got, 0, sizeof(got));
		CU_ASSERT(kms_store_get_client_key(ro, "ink-ue-2", &ink, &got) == KMS_OK);
		CU_ASSERT_EQUAL(ink, 1);
		CU_ASSERT(blob_eq(&got, &b2));
		CU_ASSERT(kms_store_get_client_key(ro, "Trk-ue-1", &ink, &got) == KMS_OK);
		CU_ASSERT_EQUAL(ink, 0);
		CU_ASSERT(blob_eq(&got, &b3));
		CU_ASSERT(kms_store_get_client_key(ro, label255, &ink, &got) == KMS_OK);
		CU_ASSERT(blob_eq(&got, &b1));
		ink = -1;
		CU_ASSERT(kms_store_get_client_key(ro, "trk-ue-1", &ink, &got) ==
			  KMS_ERR_FORBIDDEN); /* labels are compared byte for byte */
		CU_ASSERT_EQUAL(ink, -1);
		CU_ASSERT(kms_store_get_client_key(ro, label256, &ink, &got) ==
			  KMS_ERR_INVALID_ARG);
		for (i = 0; i < NUM(bad_labels); i++) {
			CU_ASSERT(kms_store_get_client_key(ro, bad_labels[i], &ink, &got) ==
				  KMS_ERR_INVALID_ARG);
		}
		CU_ASSERT(kms_store_get_client_key(ro, NULL, &ink, &got) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_get_client_key(ro, "k", NULL, &got) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_get_client_key(ro, "k", &ink, NULL) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_get_client_key(NULL, "k", &ink, &got) == KMS_ERR_INVALID_ARG);
	}
	kms_store_close(ro);

	/* Replace: the role and the key of a label. */
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_put_client_key(st, "trk-ue-2", 1, &b3) == KMS_OK);
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT(strstr(k.c.text, ";trk-ue-2|1|1;") != NULL);
	CU_ASSERT_EQUAL(k.c.n, 4);

	/* The callback stops the walk with its own value. */
	memset(&k, 0, sizeof(k));
	k.c.stop_after = 2;
	k.stop_with = KMS_ERR_AUTH;
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(k.c.n, 2);

	/* A callback may not use the store it is called from. */
	reentrant_st = st;
	r = KMS_OK;
	CU_ASSERT(kms_store_client_key_list(st, reenter_client_key, &r) == KMS_OK);
	CU_ASSERT_EQUAL(r, KMS_ERR_INVALID_ARG);

	/* Arguments. */
	CU_ASSERT(kms_store_put_client_key(st, label256, 0, &b1) == KMS_ERR_INVALID_ARG);
	for (i = 0; i < NUM(bad_labels); i++) {
		CU_ASSERT(kms_store_put_client_key(st, bad_labels[i], 0, &b1) ==
			  KMS_ERR_INVALID_ARG);
	}
	CU_ASSERT(kms_store_put_client_key(st, "k", 2, &b1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_key(st, "k", -1, &b1) == KMS_ERR_INVALID_ARG);
	b3.len = 0;
	CU_ASSERT(kms_store_put_client_key(st, "k", 0, &b3) == KMS_ERR_INVALID_ARG);
	b3.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_client_key(st, "k", 0, &b3) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_key(st, "k", 0, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_key(st, NULL, 0, &b1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_key(NULL, "k", 0, &b1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_client_key_list(st, NULL, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_client_key_list(NULL, collect_client_key, &k) == KMS_ERR_INVALID_ARG);
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_EQUAL(k.c.n, 4); /* nothing was added */
	kms_store_close(st);
}

/* A callback that tries a rotation's write on the store it is called from. */
static int
reenter_with_keys(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	struct kms_store_client c;
	int *r = ctx;

	(void)label;
	(void)ink;
	sample_client(&c, "reenter", KMS_CLIENT_UE);
	*r = kms_store_put_client_with_keys(reentrant_st, &c, wrapped, wrapped);
	return KMS_OK;
}

/*
 * A key rotation's write: the client row and both keys, in one transaction. The keys of the
 * earlier rotation stay; a write that cannot take the lock, and every refused argument, change
 * nothing at all.
 */
static void
test_client_with_keys(void)
{
	static const char *const bad_labels[] = {"", "a b", "caf\xc3\xa9", "a\x7f"};
	struct kms_store_blob t1, i1, t2, i2, b;
	struct kms_store_client c, got, bad;
	struct kms_store *st, *ro;
	struct key_collect k, before;
	sqlite3 *other = NULL;
	char path[256];
	size_t i;
	int r;

	st = create_store("ckeys-rot.db", path, sizeof(path));
	sample_blob(&t1, 0x10, 40);
	sample_blob(&i1, 0x20, 40);
	sample_blob(&t2, 0x30, 40);
	sample_blob(&i2, 0x40, KMS_STORE_MAX_BLOB);
	sample_client(&c, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT(kms_store_put_client_with_keys(st, &c, &t1, &i1) == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &c));
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, "ink-ue-1-1|40|1;trk-ue-1-1|40|0;");
	CU_ASSERT(blob_eq(&k.last, &t1));

	/* Enrolled again under the same labels: new keys, nothing retired. */
	CU_ASSERT(kms_store_put_client_with_keys(st, &c, &t1, &i1) == KMS_OK);
	CU_ASSERT(kms_store_is_retired(st, "trk-ue-1-1", &r) == KMS_OK);
	CU_ASSERT_EQUAL(r, 0);

	/*
	 * Enrolled again with other labels: the row names the new keys; the old keys are retired,
	 * out of client_keys.
	 */
	snprintf(c.trk_label, sizeof(c.trk_label), "tk.2.ue-1");
	snprintf(c.ink_label, sizeof(c.ink_label), "ik.2.ue-1");
	CU_ASSERT(kms_store_put_client_with_keys(st, &c, &t2, &i2) == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &c));
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, "ik.2.ue-1|512|1;tk.2.ue-1|40|0;");
	CU_ASSERT(blob_eq(&k.last, &t2));
	CU_ASSERT(kms_store_is_retired(st, "trk-ue-1-1", &r) == KMS_OK);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT(kms_store_is_retired(st, "ink-ue-1-1", &r) == KMS_OK);
	CU_ASSERT_EQUAL(r, 1);

	/* A malformed row (past the CHECKs): an enrolment replaces it, retiring nothing. */
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path,
				 "PRAGMA ignore_check_constraints = ON; "
				 "UPDATE clients SET trk_label = 'a b' WHERE client_id = 'ue-1'") ==
			SQLITE_OK);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_ERR_PARSE);
	CU_ASSERT(kms_store_put_client_with_keys(st, &c, &t2, &i2) == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &c));
	memset(&k, 0, sizeof(k));
	k.c.stop_after = 1; /* the first row, ik.2.ue-1 */
	k.stop_with = KMS_ERR_AUTH;
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_ERR_AUTH);
	CU_ASSERT(blob_eq(&k.last, &i2));
	memset(&before, 0, sizeof(before));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &before) == KMS_OK);

	/* Another writer holds the lock past the busy timeout: KMS_ERR_IO, nothing written. */
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	bad = c;
	snprintf(bad.trk_label, sizeof(bad.trk_label), "tk.3.ue-1");
	snprintf(bad.ink_label, sizeof(bad.ink_label), "ik.3.ue-1");
	CU_ASSERT(kms_store_put_client_with_keys(st, &bad, &t1, &i1) == KMS_ERR_IO);
	CU_ASSERT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);

	/* Arguments: each refused before anything is written. */
	CU_ASSERT(kms_store_put_client_with_keys(NULL, &bad, &t1, &i1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_with_keys(st, NULL, &t1, &i1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_with_keys(st, &bad, NULL, &i1) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_client_with_keys(st, &bad, &t1, NULL) == KMS_ERR_INVALID_ARG);
	b = t1;
	b.len = 0;
	CU_ASSERT(kms_store_put_client_with_keys(st, &bad, &b, &i1) == KMS_ERR_INVALID_ARG);
	b.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_client_with_keys(st, &bad, &t1, &b) == KMS_ERR_INVALID_ARG);
	for (i = 0; i < NUM(bad_labels); i++) {
		struct kms_store_client x = bad;

		snprintf(x.ink_label, sizeof(x.ink_label), "%s", bad_labels[i]);
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
		x = bad;
		snprintf(x.trk_label, sizeof(x.trk_label), "%s", bad_labels[i]);
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
		x = bad;
		snprintf(x.client_id, sizeof(x.client_id), "%s", bad_labels[i]);
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
	}
	{
		struct kms_store_client x = bad;

		memset(x.trk_label, 'a', sizeof(x.trk_label)); /* not NUL-terminated */
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
		x = bad;
		memcpy(x.ink_label, x.trk_label, sizeof(x.ink_label)); /* one label, two roles */
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
		x = bad;
		x.cls = (enum kms_client_class)2;
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
		x = bad;
		x.revoked = 2;
		CU_ASSERT(kms_store_put_client_with_keys(st, &x, &t1, &i1) == KMS_ERR_INVALID_ARG);
	}
	/* Not from a callback of the store, nor on a read-only handle. */
	reentrant_st = st;
	r = KMS_OK;
	CU_ASSERT(kms_store_client_key_list(st, reenter_with_keys, &r) == KMS_OK);
	CU_ASSERT_EQUAL(r, KMS_ERR_INVALID_ARG);
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_put_client_with_keys(ro, &bad, &t1, &i1) == KMS_ERR_INVALID_ARG);
	kms_store_close(ro);

	/* None of it changed anything. */
	CU_ASSERT(kms_store_get_client(st, "ue-1", &got) == KMS_OK);
	CU_ASSERT(client_eq(&got, &c));
	CU_ASSERT(kms_store_get_client(st, "reenter", &got) == KMS_ERR_FORBIDDEN);
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, before.c.text);
	CU_ASSERT(blob_eq(&k.last, &before.last));
	kms_store_close(st);
}

/* Rows of client_keys that fail their checks stop the list with KMS_ERR_PARSE. */
static void
test_client_keys_corrupt(void)
{
	static const char *const cases[] = {
		"UPDATE client_keys SET role = 'TRK'",
		"UPDATE client_keys SET role = 'kek'",
		"UPDATE client_keys SET role = CAST(x'746b00' AS TEXT)", /* "tk\0" */
		"UPDATE client_keys SET role = 0",
		"UPDATE client_keys SET wrapped = x''",
		"UPDATE client_keys SET wrapped = zeroblob(513)",
		"UPDATE client_keys SET wrapped = '" SENTINEL "'",
		"UPDATE client_keys SET label = 'a b'",
		"UPDATE client_keys SET label = printf('%.*c', 256, 'a')",
	};
	struct kms_store_blob b;
	struct kms_store *st;
	struct key_collect k;
	char path[256], sql[512];
	size_t i;
	int r;

	st = create_store("ckeys-corrupt.db", path, sizeof(path));
	sample_blob(&b, 1, 16);
	CU_ASSERT_FATAL(kms_store_put_client_key(st, "a", 0, &b) == KMS_OK);
	kms_store_close(st);
	for (i = 0; i < NUM(cases); i++) {
		CU_ASSERT_FATAL(raw_exec(path, "UPDATE client_keys SET label = 'a', role = 'trk', "
					       "wrapped = x'01'") == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		memset(&k, 0, sizeof(k));
		CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
		CU_ASSERT_EQUAL(k.c.n, 1);
		kms_store_close(st);
		snprintf(sql, sizeof(sql), "PRAGMA ignore_check_constraints = ON; %s", cases[i]);
		CU_ASSERT_FATAL(raw_exec(path, sql) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		memset(&k, 0, sizeof(k));
		r = kms_store_client_key_list(st, collect_client_key, &k);
		if (r != KMS_ERR_PARSE || k.c.n != 0) {
			fprintf(stderr, "case %zu (%s): %d, %zu\n", i, cases[i], r, k.c.n);
		}
		CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
		CU_ASSERT_EQUAL(k.c.n, 0);
		/* the getter checks its row alike (the last two cases renamed it: not found) */
		{
			struct kms_store_blob got;
			int ink = -1;

			CU_ASSERT_EQUAL(kms_store_get_client_key(st, "a", &ink, &got),
					i + 2 < NUM(cases) ? KMS_ERR_PARSE : KMS_ERR_FORBIDDEN);
			CU_ASSERT_EQUAL(ink, -1);
		}
		kms_store_close(st);
	}
	CU_ASSERT_EQUAL(log_count(SENTINEL), 0);
}

/*
 * kms_store_has_keyset, and kms_store_add_identity on an identity that is there: KMS_OK, and
 * the row, its entitlements and key sets are left as they are (a revoked one stays revoked).
 */
static void
test_has_keyset_add_identity(void)
{
	static const char a[] = "sip:a@example.org";
	static char uri2049[KMS_STORE_MAX_URI + 2];
	struct kms_store_client cl;
	struct kms_store_keyset ks, got;
	struct kms_store *st, *ro;
	struct collect c;
	char path[256];
	int has;

	st = create_store("has.db", path, sizeof(path));
	has = 7;
	CU_ASSERT(kms_store_has_keyset(st, a, 5, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_add_identity(st, a) == KMS_OK);
	sample_keyset(&ks, 1);
	CU_ASSERT(kms_store_put_keyset(st, a, 5, &ks) == KMS_OK);
	CU_ASSERT(kms_store_put_keyset(st, a, INT64_MAX, &ks) == KMS_OK);
	CU_ASSERT(kms_store_has_keyset(st, a, 5, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_has_keyset(st, a, INT64_MAX, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_has_keyset(st, a, 4, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_has_keyset(st, a, 6, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_has_keyset(st, "sip:A@example.org", 5, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);

	/* Arguments: *out_has is 0 after any error. */
	repeat(uri2049, 'u', KMS_STORE_MAX_URI + 1);
	has = 1;
	CU_ASSERT(kms_store_has_keyset(st, a, (uint64_t)INT64_MAX + 1, &has) == KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(has, 0);
	has = 1;
	CU_ASSERT(kms_store_has_keyset(st, uri2049, 5, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(has, 0);
	has = 1;
	CU_ASSERT(kms_store_has_keyset(st, "", 5, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(has, 0);
	CU_ASSERT(kms_store_has_keyset(st, NULL, 5, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_has_keyset(NULL, a, 5, &has) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_has_keyset(st, a, 5, NULL) == KMS_ERR_INVALID_ARG);

	/* Adding an identity that is there: KMS_OK, and nothing about it changes. */
	sample_client(&cl, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT(kms_store_put_client(st, &cl) == KMS_OK);
	CU_ASSERT(kms_store_entitle(st, "ue-1", a) == KMS_OK);
	CU_ASSERT(kms_store_set_identity_revoked(st, a, 1) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, a) == KMS_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(st, collect_identity, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "sip:a@example.org||1;"); /* still revoked, once */
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_entitlement_list(st, NULL, NULL, collect_entitlement, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "ue-1|sip:a@example.org|0;");
	CU_ASSERT(kms_store_get_keyset(st, a, 5, &got) == KMS_OK);
	CU_ASSERT(keyset_eq(&got, &ks));
	CU_ASSERT(kms_store_set_identity_revoked(st, a, 0) == KMS_OK);
	CU_ASSERT(kms_store_add_identity(st, a) == KMS_OK);
	memset(&c, 0, sizeof(c));
	CU_ASSERT(kms_store_identity_list(st, collect_identity, &c) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.text, "sip:a@example.org||0;");
	kms_store_close(st);

	/* Read-only handles answer too. */
	ro = open_store(path, KMS_STORE_RO);
	CU_ASSERT(kms_store_has_keyset(ro, a, 5, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_add_identity(ro, a) == KMS_ERR_INVALID_ARG);
	kms_store_close(ro);
}

/* ---------------------------------------------------------------------------------------- */
/* Schema version 6: pending rotations                                                        */

#define MIGRATED_V5                                                                                \
	"migrated the store from schema version 5 to 7 (tables client_rotations and retired_keys " \
	"added)"
#define MIGRATE_HINT_V5                                                                            \
	"schema version 5: open it read-write once (kms-hsmd, kmsd, or a kms-admin command that "  \
	"writes) to migrate it to 7"

/* The audit key make_v5 registers (a point of the right form; the curve is not checked here). */
static void
v5_point(uint8_t point[KMS_AUDIT_POINT_LEN])
{
	memset(point, 0, KMS_AUDIT_POINT_LEN);
	point[0] = 0x04;
	point[64] = 5;
}

/*
 * A version 5 store with rows in the tables a version 5 program writes (the certificate, a
 * client and its keys, two audit records, an audit key and a checkpoint): made by this code,
 * client_rotations dropped (the rest is byte for byte version 5's: no CREATE text changed).
 */
static void
make_v5(const char *path)
{
	struct kms_store *st;
	struct kms_store_cert cert;
	struct kms_store_client client;
	struct kms_store_blob t, i;
	struct kms_audit_checkpoint cp;
	struct kms_audit_rec rec;
	uint8_t point[KMS_AUDIT_POINT_LEN];
	uint64_t seq;

	(void)unlink(path);
	CU_ASSERT_FATAL(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_OK);
	sample_cert(&cert, 5);
	CU_ASSERT_FATAL(kms_store_put_cert(st, &cert) == KMS_OK);
	sample_client(&client, "ue-5", KMS_CLIENT_UE);
	sample_blob(&t, 0x51, 40);
	sample_blob(&i, 0x52, 40);
	CU_ASSERT_FATAL(kms_store_put_client_with_keys(st, &client, &t, &i) == KMS_OK);
	memset(&rec, 0, sizeof(rec));
	rec.time_s = 1714564800;
	rec.request_id = "req-v5";
	rec.outcome = "provisioned";
	CU_ASSERT_FATAL(kms_store_audit_append(st, &rec, &seq) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_audit_append(st, &rec, &seq) == KMS_OK);
	v5_point(point);
	CU_ASSERT_FATAL(kms_store_put_audit_key(st, point, "kms.audit") == KMS_OK);
	memset(&cp, 0, sizeof(cp));
	cp.seq = 2;
	CU_ASSERT_FATAL(kms_store_audit_hash_at(st, 2, cp.hash) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_audit_key_fingerprint(point, cp.key_fp) == KMS_OK);
	CU_ASSERT_FATAL(kms_store_checkpoint_put(st, &cp) == KMS_OK);
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "DROP TABLE client_rotations; DROP TABLE retired_keys; "
				       "PRAGMA user_version = 5") == SQLITE_OK);
}

static void
test_migrate_v5(void)
{
	static struct kms_store_rotation rot, got_rot;
	struct kms_store_cert cert, got;
	struct kms_store_client client;
	struct kms_store *st = NULL;
	struct key_collect k;
	uint8_t point[KMS_AUDIT_POINT_LEN];
	uint64_t count = 0, bad = 1, last = 0;
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_SEQ;
	size_t migrated;
	char path[256];
	int has = 0;

	path_of(path, sizeof(path), "v5.db");
	make_v5(path);
	migrated = log_count(MIGRATED_V5); /* what the later opens are counted against */
	st = open_migrating(path, 5, MIGRATE_HINT_V5, MIGRATED_V5);
	/* every row kept */
	CU_ASSERT_EQUAL(KMS_STORE_SCHEMA_VERSION, 7);
	sample_cert(&cert, 5);
	CU_ASSERT(kms_store_get_cert(st, &got) == KMS_OK);
	CU_ASSERT(cert_eq(&cert, &got));
	CU_ASSERT(kms_store_get_client(st, "ue-5", &client) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(client.trk_label, "trk-ue-5-1");
	CU_ASSERT_STRING_EQUAL(client.ink_label, "ink-ue-5-1");
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, "ink-ue-5-1|40|1;trk-ue-5-1|40|0;");
	CU_ASSERT(kms_store_audit_verify(st, &count, &bad, &fault) == KMS_OK);
	CU_ASSERT_EQUAL(count, 2);
	v5_point(point);
	CU_ASSERT(kms_store_has_audit_key(st, point, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(kms_store_checkpoint_last(st, &last) == KMS_OK);
	CU_ASSERT_EQUAL(last, 2);

	/* The new table: empty, then usable. */
	has = 1;
	CU_ASSERT(kms_store_get_rotation(st, "ue-5", &got_rot, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 0);
	sample_rotation(&rot, "ue-5", 2, 0x55);
	CU_ASSERT(kms_store_put_rotation(st, &rot, &rot.new_trk, &rot.new_ink) == KMS_OK);
	kms_store_close(st);

	/* Again, read-only and read-write: version 6, no second migration, the rotation there. */
	st = open_store(path, KMS_STORE_RO);
	has = 0;
	CU_ASSERT(kms_store_get_rotation(st, "ue-5", &got_rot, &has) == KMS_OK);
	CU_ASSERT_EQUAL(has, 1);
	CU_ASSERT(rotation_eq(&rot, &got_rot));
	kms_store_close(st);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-5", "ik.2.ue-5") == KMS_OK);
	kms_store_close(st);
	CU_ASSERT_EQUAL(log_count(MIGRATED_V5), migrated + 1);

	/* KMS_STORE_CREATE of an existing version 5 file migrates it too. */
	make_v5(path);
	st = open_store(path, KMS_STORE_CREATE);
	CU_ASSERT_EQUAL(log_count(MIGRATED_V5), migrated + 2);
	CU_ASSERT_EQUAL(raw_user_version(path), KMS_STORE_SCHEMA_VERSION);
	kms_store_close(st);

	/* A version 5 file with a table too many or too few: refused in every mode, kept. */
	make_v5(path);
	CU_ASSERT_FATAL(raw_exec(path, "CREATE TABLE client_rotations (client_id TEXT UNIQUE)") ==
			SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(raw_user_version(path), 5);
	make_v5(path);
	CU_ASSERT_FATAL(raw_exec(path, "DROP TABLE audit_keys") == SQLITE_OK);
	expect_refused(path, KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(raw_user_version(path), 5);
	CU_ASSERT_EQUAL(log_count(MIGRATED_V5), migrated + 2);
}

/* The rotations a list passes on: "client_id|new_ink_label|created % 1000;", and the last one. */
struct rot_collect {
	struct collect c;
	struct kms_store_rotation last;
	int stop_with;
};

static int
collect_rotation(void *ctx, const struct kms_store_rotation *rot)
{
	struct rot_collect *k = ctx;

	collect_add(&k->c, rot->client_id, rot->new_ink_label, (int)(rot->created % 1000));
	k->last = *rot;
	return k->c.stop_after != 0 && (int)k->c.n >= k->c.stop_after ? k->stop_with : KMS_OK;
}

/* What the rotation functions touch, as text: clients (with labels), client keys, rotations. */
struct rot_state {
	char text[16384];
};

static void __attribute__((format(printf, 2, 3)))
state_add(struct rot_state *t, const char *fmt, ...)
{
	size_t used = strlen(t->text);
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(t->text + used, sizeof(t->text) - used, fmt, ap);
	va_end(ap);
}

/* A checksum of a blob that sees every byte and its position. */
static unsigned long
blob_sum(const struct kms_store_blob *b)
{
	unsigned long sum = 0;
	size_t i;

	for (i = 0; i < b->len; i++) {
		sum = sum * 31 + b->data[i] + i;
	}
	return sum;
}

static int
state_client(void *arg, const struct kms_store_client *c)
{
	state_add(arg, "C %s %d %s %s %d;", c->client_id, (int)c->cls, c->trk_label, c->ink_label,
		  c->revoked);
	return KMS_OK;
}

static int
state_key(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	state_add(ctx, "K %s %d %zu %lu;", label, ink, wrapped->len, blob_sum(wrapped));
	return KMS_OK;
}

static int
state_rotation(void *ctx, const struct kms_store_rotation *rot)
{
	state_add(ctx, "R %s %s %s %s %lu %lu %lld;", rot->client_id, rot->from_trk_label,
		  rot->new_trk_label, rot->new_ink_label, blob_sum(&rot->new_trk),
		  blob_sum(&rot->new_ink), (long long)rot->created);
	return KMS_OK;
}

/* A retired key: "label;", retired now (within the minute the test runs in). */
static int
state_retired(void *ctx, const char *label, int64_t retired)
{
	int64_t now = (int64_t)time(NULL);

	CU_ASSERT(retired >= now - 60 && retired <= now);
	state_add(ctx, "%s;", label);
	return KMS_OK;
}

/* The retired keys of st, by label. */
static void
retired_state(struct kms_store *st, struct rot_state *t)
{
	memset(t, 0, sizeof(*t));
	CU_ASSERT(kms_store_retired_list(st, state_retired, t) == KMS_OK);
}

static void
rot_state(struct kms_store *st, struct rot_state *t)
{
	memset(t, 0, sizeof(*t));
	CU_ASSERT(kms_store_client_list(st, state_client, t) == KMS_OK);
	CU_ASSERT(kms_store_client_key_list(st, state_key, t) == KMS_OK);
	CU_ASSERT(kms_store_rotation_list(st, state_rotation, t) == KMS_OK);
	CU_ASSERT(strlen(t->text) < sizeof(t->text) - 1); /* not cut off */
}

/* A store with clients ue-1 (UE) and srv-2 (server), each with its keys in client_keys. */
static struct kms_store *
rot_store(const char *name, char *path, size_t cap)
{
	struct kms_store_client c;
	struct kms_store_blob t, i;
	struct kms_store *st;

	st = create_store(name, path, cap);
	sample_blob(&t, 0x10, 40);
	sample_blob(&i, 0x20, 40);
	sample_client(&c, "ue-1", KMS_CLIENT_UE);
	CU_ASSERT_FATAL(kms_store_put_client_with_keys(st, &c, &t, &i) == KMS_OK);
	sample_client(&c, "srv-2", KMS_CLIENT_SERVER);
	CU_ASSERT_FATAL(kms_store_put_client_with_keys(st, &c, &t, &i) == KMS_OK);
	return st;
}

/*
 * put, get, list, finish and cancel: the client keeps its row until the rotation is finished;
 * then its row names the new keys and the pending row is gone; the new keys' backups stay on
 * finish and go on cancel; read-only handles get and list.
 */
static void
test_rotation_roundtrip(void)
{
	static struct kms_store_rotation r1, r2, r3, got;
	static struct rot_collect rc;
	static struct rot_state before, after;
	static const char keys8[] = "ik.2.srv-2|512|1;ik.2.ue-1|48|1;ink-srv-2-1|40|1;"
				    "ink-ue-1-1|40|1;tk.2.srv-2|40|0;tk.2.ue-1|1|0;"
				    "trk-srv-2-1|40|0;trk-ue-1-1|40|0;";
	struct kms_store_client c1, cl;
	struct kms_store_blob kt1, ki1, kt2, ki2;
	struct kms_store *st, *ro;
	struct key_collect k;
	char path[256];
	int found, retired = 0;

	st = rot_store("rot.db", path, sizeof(path));
	sample_client(&c1, "ue-1", KMS_CLIENT_UE);

	/* Nothing pending: found 0, the output all zero. */
	memset(&got, 0xaa, sizeof(got));
	found = 7;
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 0);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	memset(&rc, 0, sizeof(rc));
	CU_ASSERT(kms_store_rotation_list(st, collect_rotation, &rc) == KMS_OK);
	CU_ASSERT_EQUAL(rc.c.n, 0);

	/* Two rotations pending, blobs at their bounds. */
	sample_rotation(&r1, "ue-1", 2, 0x30);
	sample_rotation(&r2, "srv-2", 2, 0x40);
	sample_blob(&r2.new_trk, 0x41, 1);
	sample_blob(&r2.new_ink, 0x42, KMS_STORE_MAX_BLOB);
	sample_blob(&kt1, 0x50, 1);
	sample_blob(&ki1, 0x51, 48);
	sample_blob(&kt2, 0x52, 40);
	sample_blob(&ki2, 0x53, KMS_STORE_MAX_BLOB);
	CU_ASSERT(kms_store_put_rotation(st, &r2, &kt2, &ki2) == KMS_OK);
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt1, &ki1) == KMS_OK);
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&got, &r1));
	CU_ASSERT(kms_store_get_rotation(st, "srv-2", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&got, &r2));
	CU_ASSERT(kms_store_get_rotation(st, "ue-3", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 0);
	/* The client's row still names its current keys. */
	CU_ASSERT(kms_store_get_client(st, "ue-1", &cl) == KMS_OK);
	CU_ASSERT(client_eq(&cl, &c1));
	/* The new keys' backups are in client_keys with their roles (trk_kek as the TrK). */
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, keys8);
	memset(&k, 0, sizeof(k));
	k.c.stop_after = 6; /* tk.2.ue-1 */
	k.stop_with = KMS_ERR_AUTH;
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_ERR_AUTH);
	CU_ASSERT(blob_eq(&k.last, &kt1));
	memset(&k, 0, sizeof(k));
	k.c.stop_after = 1; /* ik.2.srv-2 */
	k.stop_with = KMS_ERR_AUTH;
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_ERR_AUTH);
	CU_ASSERT(blob_eq(&k.last, &ki2));
	kms_store_close(st);

	/* From a read-only handle: the list in client_id order, get, a callback that stops. */
	ro = open_store(path, KMS_STORE_RO);
	memset(&rc, 0, sizeof(rc));
	CU_ASSERT(kms_store_rotation_list(ro, collect_rotation, &rc) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(rc.c.text, "srv-2|ik.2.srv-2|802;ue-1|ik.2.ue-1|802;");
	CU_ASSERT(rotation_eq(&rc.last, &r1));
	memset(&rc, 0, sizeof(rc));
	rc.c.stop_after = 1;
	rc.stop_with = KMS_ERR_FORBIDDEN;
	CU_ASSERT(kms_store_rotation_list(ro, collect_rotation, &rc) == KMS_ERR_FORBIDDEN);
	CU_ASSERT_EQUAL(rc.c.n, 1);
	CU_ASSERT(rotation_eq(&rc.last, &r2));
	found = 0;
	CU_ASSERT(kms_store_get_rotation(ro, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&got, &r1));
	kms_store_close(ro);

	/* Nothing retired yet. */
	st = open_store(path, KMS_STORE_RW);
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "");
	retired = 1;
	CU_ASSERT(kms_store_is_retired(st, "trk-ue-1-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 0);

	/*
	 * Finish: the row names the new keys, the pending row goes, the new keys' backups stay;
	 * the old keys are retired and their backups deleted.
	 */
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.2.ue-1") == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "ue-1", &cl) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(cl.trk_label, "tk.2.ue-1");
	CU_ASSERT_STRING_EQUAL(cl.ink_label, "ik.2.ue-1");
	CU_ASSERT_EQUAL(cl.cls, KMS_CLIENT_UE);
	CU_ASSERT_EQUAL(cl.revoked, 0);
	found = 1;
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 0);
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, "ik.2.srv-2|512|1;ik.2.ue-1|48|1;ink-srv-2-1|40|1;"
					 "tk.2.srv-2|40|0;tk.2.ue-1|1|0;trk-srv-2-1|40|0;");
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "ink-ue-1-1;trk-ue-1-1;");
	CU_ASSERT(kms_store_is_retired(st, "trk-ue-1-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 1);
	CU_ASSERT(kms_store_is_retired(st, "tk.2.ue-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 0);
	memset(&rc, 0, sizeof(rc));
	CU_ASSERT(kms_store_rotation_list(st, collect_rotation, &rc) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(rc.c.text, "srv-2|ik.2.srv-2|802;");
	/* Finished once: a second proof finds nothing pending. */
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.2.ue-1") == KMS_ERR_AUTH);

	/* Finish leaves the class and the revoked flag as they are. */
	CU_ASSERT(kms_store_set_client_revoked(st, "srv-2", 1) == KMS_OK);
	CU_ASSERT(kms_store_finish_rotation(st, "srv-2", "ik.2.srv-2") == KMS_OK);
	CU_ASSERT(kms_store_get_client(st, "srv-2", &cl) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(cl.trk_label, "tk.2.srv-2");
	CU_ASSERT_STRING_EQUAL(cl.ink_label, "ik.2.srv-2");
	CU_ASSERT_EQUAL(cl.cls, KMS_CLIENT_SERVER);
	CU_ASSERT_EQUAL(cl.revoked, 1);
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "ink-srv-2-1;ink-ue-1-1;trk-srv-2-1;trk-ue-1-1;");

	/* The next rotation starts from the new TrK; cancelled, its keys' rows go with it. */
	rot_state(st, &before);
	sample_rotation(&r3, "ue-1", 3, 0x70);
	snprintf(r3.from_trk_label, sizeof(r3.from_trk_label), "tk.2.ue-1");
	CU_ASSERT(kms_store_put_rotation(st, &r3, &kt1, &ki1) == KMS_OK);
	rot_state(st, &after);
	CU_ASSERT(strstr(after.text, "K tk.3.ue-1 0 ") != NULL);
	CU_ASSERT(strstr(after.text, "K ik.3.ue-1 1 ") != NULL);
	CU_ASSERT(strstr(after.text, "R ue-1 tk.2.ue-1 tk.3.ue-1 ik.3.ue-1 ") != NULL);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_OK);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	/* The cancelled keys are retired. */
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "ik.3.ue-1;ink-srv-2-1;ink-ue-1-1;tk.3.ue-1;trk-srv-2-1;"
					   "trk-ue-1-1;");
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_ERR_FORBIDDEN);

	/* Cancel keeps the backup of a label a client's row names (enrolled under it meanwhile). */
	CU_ASSERT(kms_store_put_rotation(st, &r3, &kt1, &ki1) == KMS_OK);
	sample_client(&cl, "ue-9", KMS_CLIENT_UE);
	snprintf(cl.ink_label, sizeof(cl.ink_label), "tk.3.ue-1");
	CU_ASSERT(kms_store_put_client(st, &cl) == KMS_OK);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_OK);
	rot_state(st, &after);
	CU_ASSERT(strstr(after.text, "K tk.3.ue-1 0 ") != NULL);
	CU_ASSERT(strstr(after.text, "ik.3.ue-1") == NULL);
	CU_ASSERT(strstr(after.text, "R ") == NULL);

	/*
	 * A retired label that a client's row names is not retired to kms_store_is_retired (the
	 * row put there by a writer other than this code); the put of a client names a label
	 * again, which is then no longer retired.
	 */
	CU_ASSERT(kms_store_is_retired(st, "tk.3.ue-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 0);
	CU_ASSERT(kms_store_is_retired(st, "ik.3.ue-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 1);
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE clients SET trk_label = 'ik.3.ue-1' "
				       "WHERE client_id = 'ue-9'") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_is_retired(st, "ik.3.ue-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 0);
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "ink-srv-2-1;ink-ue-1-1;trk-srv-2-1;trk-ue-1-1;");
	sample_client(&cl, "ue-9", KMS_CLIENT_UE);
	snprintf(cl.trk_label, sizeof(cl.trk_label), "trk-ue-1-1");
	CU_ASSERT(kms_store_put_client(st, &cl) == KMS_OK);
	retired_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, "ik.3.ue-1;ink-srv-2-1;ink-ue-1-1;trk-srv-2-1;");
	CU_ASSERT(kms_store_is_retired(st, "trk-ue-1-1", &retired) == KMS_OK);
	CU_ASSERT_EQUAL(retired, 0);
	/* Arguments. */
	CU_ASSERT(kms_store_is_retired(NULL, "x", &retired) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_is_retired(st, "a b", &retired) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_is_retired(st, "x", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_retired_list(st, NULL, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_retired_list(NULL, state_retired, &after) == KMS_ERR_INVALID_ARG);
	kms_store_close(st);
}

/* ---------------------------------------------------------------------------------------- */
/* Schema version 7: retired client keys                                                      */

#define MIGRATED_V6 "migrated the store from schema version 6 to 7 (table retired_keys added)"
#define MIGRATE_HINT_V6                                                                            \
	"schema version 6: open it read-write once (kms-hsmd, kmsd, or a kms-admin command that "  \
	"writes) to migrate it to 7"

/* A version 6 store (this code's, retired_keys dropped): a client with a pending rotation. */
static void
make_v6(const char *path, struct kms_store_rotation *rot)
{
	struct kms_store *st;
	struct kms_store_cert cert;
	struct kms_store_client client;
	struct kms_store_blob t, i;

	(void)unlink(path);
	CU_ASSERT_FATAL(kms_store_open(&st, path, KMS_STORE_CREATE) == KMS_OK);
	sample_cert(&cert, 6);
	CU_ASSERT_FATAL(kms_store_put_cert(st, &cert) == KMS_OK);
	sample_client(&client, "ue-6", KMS_CLIENT_UE);
	sample_blob(&t, 0x61, 40);
	sample_blob(&i, 0x62, 40);
	CU_ASSERT_FATAL(kms_store_put_client_with_keys(st, &client, &t, &i) == KMS_OK);
	sample_rotation(rot, "ue-6", 2, 0x66);
	CU_ASSERT_FATAL(kms_store_put_rotation(st, rot, &rot->new_trk, &rot->new_ink) == KMS_OK);
	kms_store_close(st);
	CU_ASSERT_FATAL(raw_exec(path, "DROP TABLE retired_keys; PRAGMA user_version = 6") ==
			SQLITE_OK);
}

static void
test_migrate_v6(void)
{
	static struct kms_store_rotation rot, got;
	static struct rot_state state;
	struct key_collect k;
	struct kms_store *st = NULL;
	size_t migrated;
	char path[256];
	int found = 0;

	path_of(path, sizeof(path), "v6.db");
	make_v6(path, &rot);
	migrated = log_count(MIGRATED_V6); /* what the later opens are counted against */
	st = open_migrating(path, 6, MIGRATE_HINT_V6, MIGRATED_V6);
	/* the pending rotation kept, and finished with retirement */
	retired_state(st, &state);
	CU_ASSERT_STRING_EQUAL(state.text, "");
	CU_ASSERT(kms_store_get_rotation(st, "ue-6", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&rot, &got));
	CU_ASSERT(kms_store_finish_rotation(st, "ue-6", "ik.2.ue-6") == KMS_OK);
	retired_state(st, &state);
	CU_ASSERT_STRING_EQUAL(state.text, "ink-ue-6-1;trk-ue-6-1;");
	memset(&k, 0, sizeof(k));
	CU_ASSERT(kms_store_client_key_list(st, collect_client_key, &k) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(k.c.text, "ik.2.ue-6|48|1;tk.2.ue-6|40|0;");
	kms_store_close(st);

	/* Again: no second migration. */
	st = open_store(path, KMS_STORE_RO);
	kms_store_close(st);
	CU_ASSERT_EQUAL(log_count(MIGRATED_V6), migrated + 1);
}

/* A malformed row of retired_keys (past the CHECKs, as a hostile writer): the list says so. */
static void
test_retired_corrupt(void)
{
	static const char *const cases[] = {
		"UPDATE retired_keys SET label = 'a b'",
		"UPDATE retired_keys SET label = ''",
		"UPDATE retired_keys SET label = printf('%.*c', 256, 'a')",
		"UPDATE retired_keys SET label = x'41'",
		"UPDATE retired_keys SET retired = -1",
		"UPDATE retired_keys SET retired = 1.5",
		"UPDATE retired_keys SET retired = 'now'",
	};
	static struct rot_state state;
	struct kms_store *st;
	char path[256], sql[512];
	size_t i;

	st = rot_store("retired-corrupt.db", path, sizeof(path));
	kms_store_close(st);
	for (i = 0; i < NUM(cases); i++) {
		snprintf(sql, sizeof(sql),
			 "DELETE FROM retired_keys; INSERT INTO retired_keys VALUES ('tk.1.x', 1); "
			 "PRAGMA ignore_check_constraints = ON; %s",
			 cases[i]);
		CU_ASSERT_FATAL(raw_exec(path, sql) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		memset(&state, 0, sizeof(state));
		CU_ASSERT_EQUAL(kms_store_retired_list(st, state_retired, &state), KMS_ERR_PARSE);
		CU_ASSERT_STRING_EQUAL(state.text, "");
		kms_store_close(st);
	}
}

/* A list callback that calls each rotation function on the store it is called from. */
static int
reenter_rotation(void *ctx, const struct kms_store_rotation *rot)
{
	static struct kms_store_rotation got;
	int *r = ctx, found;

	r[0] = kms_store_put_rotation(reentrant_st, rot, &rot->new_trk, &rot->new_ink);
	r[1] = kms_store_get_rotation(reentrant_st, rot->client_id, &got, &found);
	r[2] = kms_store_finish_rotation(reentrant_st, rot->client_id, rot->new_ink_label);
	r[3] = kms_store_cancel_rotation(reentrant_st, rot->client_id);
	r[4] = kms_store_rotation_list(reentrant_st, collect_rotation, NULL);
	return KMS_OK;
}

/* Every refusal of put, finish and cancel changes nothing; get and list refuse bad arguments. */
static void
test_rotation_refusals(void)
{
	static const char *const bad_ids[] = {"", "a b", "a\tb", "caf\xc3\xa9", "a\x7f"};
	static struct kms_store_rotation r1, r2, x, got;
	static struct rot_state before, after;
	static char id256[KMS_STORE_MAX_ID + 2];
	struct kms_store_client c;
	struct kms_store_blob kt, ki, b;
	struct kms_store *st, *ro;
	uint8_t *bytes_before, *bytes_after;
	size_t i, j, len_before, len_after;
	char path[256];
	char *fields[4];
	int found, rr[5];

	st = rot_store("rot-refuse.db", path, sizeof(path));
	sample_client(&c, "ue-rev", KMS_CLIENT_UE);
	c.revoked = 1;
	CU_ASSERT_FATAL(kms_store_put_client(st, &c) == KMS_OK);
	sample_blob(&kt, 0x50, 40);
	sample_blob(&ki, 0x51, 40);
	sample_rotation(&r1, "ue-1", 2, 0x30);
	rot_state(st, &before);

	/* No such client, a revoked one: KMS_ERR_FORBIDDEN. */
	sample_rotation(&x, "ue-3", 2, 0x30);
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_FORBIDDEN);
	sample_rotation(&x, "ue-rev", 2, 0x30);
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_FORBIDDEN);
	/* Its TrK is not from_trk_label (changed meanwhile): KMS_ERR_AUTH. */
	x = r1;
	snprintf(x.from_trk_label, sizeof(x.from_trk_label), "trk-ue-1-0");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_AUTH);
	x = r1;
	snprintf(x.from_trk_label, sizeof(x.from_trk_label), "ink-ue-1-1"); /* its InK */
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_AUTH);
	/* A new label that is the client's current InK: the four labels are not distinct. */
	x = r1;
	snprintf(x.new_ink_label, sizeof(x.new_ink_label), "ink-ue-1-1");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	x = r1;
	snprintf(x.new_trk_label, sizeof(x.new_trk_label), "ink-ue-1-1");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	/* A new label whose backup is there already (another client's key): KMS_ERR_AUTH. */
	x = r1;
	snprintf(x.new_trk_label, sizeof(x.new_trk_label), "ink-srv-2-1");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_AUTH);
	/* Nothing pending: finish KMS_ERR_AUTH, cancel KMS_ERR_FORBIDDEN. */
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.2.ue-1") == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-3", "ik.2.ue-3") == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-3") == KMS_ERR_FORBIDDEN);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);

	/* One pending: a second rotation of that client is KMS_ERR_AUTH, with any labels. */
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt, &ki) == KMS_OK);
	rot_state(st, &before);
	sample_rotation(&r2, "ue-1", 3, 0x31);
	CU_ASSERT(kms_store_put_rotation(st, &r2, &kt, &ki) == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt, &ki) == KMS_ERR_AUTH);
	/* Another client's rotation with a label of the pending one: KMS_ERR_AUTH. */
	sample_rotation(&x, "srv-2", 2, 0x32);
	snprintf(x.new_ink_label, sizeof(x.new_ink_label), "ik.2.ue-1");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_AUTH);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);

	/* Arguments of put: each refused before anything is written. */
	repeat(id256, 'a', KMS_STORE_MAX_ID + 1);
	CU_ASSERT(kms_store_put_rotation(NULL, &r2, &kt, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_rotation(st, NULL, &kt, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_rotation(st, &r2, NULL, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_rotation(st, &r2, &kt, NULL) == KMS_ERR_INVALID_ARG);
	sample_rotation(&r2, "srv-2", 2, 0x33); /* would be fine */
	b = kt;
	b.len = 0;
	CU_ASSERT(kms_store_put_rotation(st, &r2, &b, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_rotation(st, &r2, &kt, &b) == KMS_ERR_INVALID_ARG);
	x = r2;
	x.new_trk.len = 0;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	x = r2;
	x.new_ink.len = 0;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	b.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_rotation(st, &r2, &b, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_put_rotation(st, &r2, &kt, &b) == KMS_ERR_INVALID_ARG);
	x = r2;
	x.new_trk.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	x = r2;
	x.new_ink.len = KMS_STORE_MAX_BLOB + 1;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	for (j = 0; j < 4; j++) {
		x = r2;
		fields[0] = x.client_id;
		fields[1] = x.from_trk_label;
		fields[2] = x.new_trk_label;
		fields[3] = x.new_ink_label;
		for (i = 0; i < NUM(bad_ids); i++) {
			x = r2;
			snprintf(fields[j], KMS_STORE_MAX_ID + 1, "%s", bad_ids[i]);
			CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
		}
		x = r2;
		memset(fields[j], 'a', KMS_STORE_MAX_ID + 1); /* not NUL-terminated */
		CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	}
	/* The labels of the rotation pairwise distinct. */
	x = r2;
	memcpy(x.new_trk_label, x.from_trk_label, sizeof(x.new_trk_label));
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	x = r2;
	memcpy(x.new_ink_label, x.from_trk_label, sizeof(x.new_ink_label));
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	x = r2;
	memcpy(x.new_ink_label, x.new_trk_label, sizeof(x.new_ink_label));
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_INVALID_ARG);
	/* created: Unix seconds, not negative. */
	x = r2;
	x.created = -1;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_RANGE);
	x.created = INT64_MIN;
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_RANGE);

	/* Arguments of get, finish, cancel and list. */
	found = 1;
	CU_ASSERT(kms_store_get_rotation(st, id256, &got, &found) == KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(found, 0);
	for (i = 0; i < NUM(bad_ids); i++) {
		found = 1;
		CU_ASSERT(kms_store_get_rotation(st, bad_ids[i], &got, &found) ==
			  KMS_ERR_INVALID_ARG);
		CU_ASSERT_EQUAL(found, 0);
		CU_ASSERT(kms_store_finish_rotation(st, bad_ids[i], "ik.2.ue-1") ==
			  KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_finish_rotation(st, "ue-1", bad_ids[i]) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_cancel_rotation(st, bad_ids[i]) == KMS_ERR_INVALID_ARG);
	}
	CU_ASSERT(kms_store_get_rotation(NULL, "ue-1", &got, &found) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_rotation(st, NULL, &got, &found) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", NULL, &found) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_finish_rotation(NULL, "ue-1", "ik.2.ue-1") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_finish_rotation(st, NULL, "ik.2.ue-1") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", id256) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_cancel_rotation(NULL, "ue-1") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_cancel_rotation(st, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_cancel_rotation(st, id256) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_rotation_list(NULL, collect_rotation, NULL) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_rotation_list(st, NULL, NULL) == KMS_ERR_INVALID_ARG);

	/* Not from a callback of the store: each one refused (finish would succeed otherwise). */
	reentrant_st = st;
	for (i = 0; i < NUM(rr); i++) {
		rr[i] = KMS_OK;
	}
	CU_ASSERT(kms_store_rotation_list(st, reenter_rotation, rr) == KMS_OK);
	for (i = 0; i < NUM(rr); i++) {
		CU_ASSERT_EQUAL(rr[i], KMS_ERR_INVALID_ARG);
	}
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	kms_store_close(st);

	/* A read-only handle: get and list answer, the writes are refused, the file unchanged. */
	bytes_before = read_all(path, &len_before);
	CU_ASSERT_FATAL(bytes_before != NULL);
	ro = open_store(path, KMS_STORE_RO);
	found = 0;
	CU_ASSERT(kms_store_get_rotation(ro, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&got, &r1));
	rot_state(ro, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	CU_ASSERT(kms_store_put_rotation(ro, &r2, &kt, &ki) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_finish_rotation(ro, "ue-1", "ik.2.ue-1") == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_cancel_rotation(ro, "ue-1") == KMS_ERR_INVALID_ARG);
	kms_store_close(ro);
	bytes_after = read_all(path, &len_after);
	CU_ASSERT_FATAL(bytes_after != NULL);
	CU_ASSERT(bytes_eq(bytes_before, len_before, bytes_after, len_after));
	free(bytes_before);
	free(bytes_after);
}

/*
 * All or nothing: a put whose second key collides, or whose rotation row fails in SQLite after
 * both keys went in, leaves no row; a finish that names another rotation, or comes after a
 * re-enrolment, changes nothing; a put that cannot take the lock changes nothing.
 */
static void
test_rotation_atomic(void)
{
	static struct kms_store_rotation r1, x, got;
	static struct rot_state before, after;
	struct kms_store_client c;
	struct kms_store_blob kt, ki;
	struct kms_store *st;
	sqlite3 *other = NULL;
	char path[256];
	int found;

	st = rot_store("rot-atomic.db", path, sizeof(path));
	sample_blob(&kt, 0x50, 40);
	sample_blob(&ki, 0x51, 40);
	sample_rotation(&r1, "ue-1", 2, 0x30);
	rot_state(st, &before);

	/* The second client_keys insert collides (another client's TrK): the first is undone. */
	x = r1;
	snprintf(x.new_ink_label, sizeof(x.new_ink_label), "trk-srv-2-1");
	CU_ASSERT(kms_store_put_rotation(st, &x, &kt, &ki) == KMS_ERR_AUTH);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	CU_ASSERT(strstr(after.text, "tk.2.ue-1") == NULL);

	/* The rotation row fails (its UNIQUE new_trk_label, held by a row written around us)
	 * after both keys went in: neither stays. */
	CU_ASSERT_FATAL(raw_exec(path, "INSERT INTO client_rotations VALUES ('srv-2', "
				       "'trk-srv-2-1', 'tk.2.ue-1', 'ik.9.srv-2', x'01', x'02', "
				       "1)") == SQLITE_OK);
	rot_state(st, &before);
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt, &ki) == KMS_ERR_IO);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	CU_ASSERT(strstr(after.text, "K tk.2.ue-1") == NULL);
	CU_ASSERT(strstr(after.text, "K ik.2.ue-1") == NULL);
	CU_ASSERT_FATAL(raw_exec(path, "DELETE FROM client_rotations") == SQLITE_OK);

	/* Another writer holds the lock past the busy timeout: KMS_ERR_IO, nothing written. */
	rot_state(st, &before);
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt, &ki) == KMS_ERR_IO);
	CU_ASSERT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);

	/* finish naming another rotation's InK, the new TrK, or the current InK: nothing changes.
	 */
	CU_ASSERT(kms_store_put_rotation(st, &r1, &kt, &ki) == KMS_OK);
	rot_state(st, &before);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.3.ue-1") == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "tk.2.ue-1") == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ink-ue-1-1") == KMS_ERR_AUTH);
	CU_ASSERT(kms_store_finish_rotation(st, "srv-2", "ik.2.ue-1") == KMS_ERR_AUTH);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);

	/* The row names another TrK meanwhile (kms_store_put_client, as a restore of an older
	 * row would): finish is KMS_ERR_AUTH and changes nothing. */
	sample_client(&c, "ue-1", KMS_CLIENT_UE);
	snprintf(c.trk_label, sizeof(c.trk_label), "trk-ue-1-9");
	snprintf(c.ink_label, sizeof(c.ink_label), "ink-ue-1-9");
	CU_ASSERT(kms_store_put_client(st, &c) == KMS_OK);
	rot_state(st, &before);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.2.ue-1") == KMS_ERR_AUTH);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	found = 0;
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT(rotation_eq(&got, &r1));
	/* A re-enrolment (kms_store_put_client_with_keys, another TrK) drops the stale rotation
	 * and its never-used keys' rows, in its own transaction; the re-enrolled keys stay. */
	CU_ASSERT(kms_store_put_client_with_keys(st, &c, &kt, &ki) == KMS_OK);
	found = 1;
	CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
	CU_ASSERT_EQUAL(found, 0);
	rot_state(st, &after);
	CU_ASSERT(strstr(after.text, "C ue-1 0 trk-ue-1-9 ink-ue-1-9 0;") != NULL);
	CU_ASSERT(strstr(after.text, "K trk-ue-1-9 0 ") != NULL);
	CU_ASSERT(strstr(after.text, "tk.2.ue-1") == NULL);
	CU_ASSERT(strstr(after.text, "ik.2.ue-1") == NULL);
	CU_ASSERT(strstr(after.text, "R ") == NULL);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_ERR_FORBIDDEN);
	/* a rotation made under the client's current TrK survives a re-enrolment that keeps it */
	{
		struct kms_store_rotation r2 = r1;

		snprintf(r2.from_trk_label, sizeof(r2.from_trk_label), "trk-ue-1-9");
		CU_ASSERT(kms_store_put_rotation(st, &r2, &kt, &ki) == KMS_OK);
		CU_ASSERT(kms_store_put_client_with_keys(st, &c, &kt, &ki) == KMS_OK);
		found = 0;
		CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
		CU_ASSERT_EQUAL(found, 1);
		CU_ASSERT(rotation_eq(&got, &r2));
	}
	kms_store_close(st);
}

/* Rows of client_rotations that fail their checks: KMS_ERR_PARSE from every reader. */
static void
test_rotation_corrupt(void)
{
	static const struct {
		const char *sql;
		int by_id; /* 1: the row is still found by client_id 'ue-1' */
	} cases[] = {
		{"UPDATE client_rotations SET from_trk_label = 'a b'", 1},
		{"UPDATE client_rotations SET from_trk_label = CAST(x'617f' AS TEXT)", 1}, /* DEL */
		{"UPDATE client_rotations SET from_trk_label = ''", 1},
		{"UPDATE client_rotations SET new_trk_label = printf('%.*c', 256, 'a')", 1},
		{"UPDATE client_rotations SET new_trk_label = x'41'", 1},
		{"UPDATE client_rotations SET new_ink_label = CAST(x'c3a9' AS TEXT)", 1},
		{"UPDATE client_rotations SET new_ink_label = CAST(x'610062' AS TEXT)",
		 1},                                                                      /* NUL */
		{"UPDATE client_rotations SET new_ink_label = CAST(x'6109' AS TEXT)", 1}, /* tab */
		{"UPDATE client_rotations SET new_ink_label = new_trk_label", 1},
		{"UPDATE client_rotations SET new_trk_label = from_trk_label", 1},
		{"UPDATE client_rotations SET new_ink_label = from_trk_label", 1},
		{"UPDATE client_rotations SET new_trk = x''", 1},
		{"UPDATE client_rotations SET new_trk = zeroblob(513)", 1},
		{"UPDATE client_rotations SET new_trk = '" SENTINEL "'", 1},
		{"UPDATE client_rotations SET new_ink = 12", 1},
		{"UPDATE client_rotations SET new_ink = CAST(printf('%s%.*c', '" SENTINEL
		 "', 520, 'x') AS BLOB)",
		 1},
		{"UPDATE client_rotations SET created = -1", 1},
		{"UPDATE client_rotations SET created = 1.5", 1},
		{"UPDATE client_rotations SET created = 'now'", 1},
		{"UPDATE client_rotations SET created = x'01'", 1},
		{"UPDATE client_rotations SET client_id = 'a b'", 0},
		{"UPDATE client_rotations SET client_id = printf('%.*c', 256, 'a')", 0},
		{"UPDATE client_rotations SET client_id = x'75652d31'", 0}, /* 'ue-1' as a blob */
	};
	static const char restore[] =
		"DELETE FROM client_rotations; INSERT INTO client_rotations VALUES ('ue-1', "
		"'trk-ue-1-1', 'tk.2.ue-1', 'ik.2.ue-1', x'01', x'02', 1)";
	static struct kms_store_rotation got;
	static struct rot_collect rc;
	static struct rot_state before, after;
	struct kms_store *st;
	char path[256], sql[1024];
	size_t i;
	int r, found;

	st = rot_store("rot-corrupt.db", path, sizeof(path));
	kms_store_close(st);
	for (i = 0; i < NUM(cases); i++) {
		/* Past our CHECK constraints, as a hostile writer of the file would be. */
		CU_ASSERT_FATAL(raw_exec(path, restore) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		found = 0;
		CU_ASSERT(kms_store_get_rotation(st, "ue-1", &got, &found) == KMS_OK);
		CU_ASSERT_EQUAL(found, 1);
		kms_store_close(st);
		snprintf(sql, sizeof(sql), "PRAGMA ignore_check_constraints = ON; %s",
			 cases[i].sql);
		CU_ASSERT_FATAL(raw_exec(path, sql) == SQLITE_OK);
		st = open_store(path, KMS_STORE_RO);
		memset(&rc, 0, sizeof(rc));
		r = kms_store_rotation_list(st, collect_rotation, &rc);
		if (r != KMS_ERR_PARSE || rc.c.n != 0) {
			fprintf(stderr, "case %zu (%s): list %d, %zu\n", i, cases[i].sql, r,
				rc.c.n);
		}
		CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
		CU_ASSERT_EQUAL(rc.c.n, 0);
		if (cases[i].by_id) {
			memset(&got, 0xaa, sizeof(got));
			found = 1;
			r = kms_store_get_rotation(st, "ue-1", &got, &found);
			if (r != KMS_ERR_PARSE) {
				fprintf(stderr, "case %zu (%s): get %d\n", i, cases[i].sql, r);
			}
			CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
			CU_ASSERT_EQUAL(found, 0);
			CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
		}
		kms_store_close(st);
	}

	/* finish and cancel read the row first: a malformed one is refused, nothing changes. */
	CU_ASSERT_FATAL(raw_exec(path, restore) == SQLITE_OK);
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA ignore_check_constraints = ON; UPDATE "
				       "client_rotations SET new_trk_label = 'a b'") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT_FATAL(raw_exec(path,
				 "PRAGMA ignore_check_constraints = ON; UPDATE "
				 "client_rotations SET new_trk_label = 'tk.2.ue-1'") == SQLITE_OK);
	rot_state(st, &before);
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA ignore_check_constraints = ON; UPDATE "
				       "client_rotations SET new_trk_label = 'a b'") == SQLITE_OK);
	CU_ASSERT(kms_store_finish_rotation(st, "ue-1", "ik.2.ue-1") == KMS_ERR_PARSE);
	CU_ASSERT(kms_store_cancel_rotation(st, "ue-1") == KMS_ERR_PARSE);
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE client_rotations SET new_trk_label = "
				       "'tk.2.ue-1'") == SQLITE_OK);
	rot_state(st, &after);
	CU_ASSERT_STRING_EQUAL(after.text, before.text);
	kms_store_close(st);

	/* The error lines name the table, never a value. */
	CU_ASSERT(log_count("client_rotations") > 0);
	CU_ASSERT_EQUAL(log_count(SENTINEL), 0);
}

/* The CHECK, UNIQUE and foreign key constraints of client_rotations (defence in depth). */
static void
test_rotation_schema_checks(void)
{
	static const char *const bad[] = {
		"INSERT INTO client_rotations VALUES ('ue-9', 'a', 'b', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue 1', 'a', 'b', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a b', 'b', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', '', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', printf('%.*c', 256, 'c'), "
		"x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', CAST(x'c3a9' AS TEXT), "
		"x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', x'62', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'01', zeroblob(513), "
		"1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', 'text', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'01', x'01', -1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'01', x'01', 1.5)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'01', x'01', 'x')",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'c', x'01', x'01', NULL)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'a', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'a', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'b', x'01', x'01', 1)",
		/* One per client; the new labels unique (srv-2's row holds 'B' and 'C'). */
		"INSERT INTO client_rotations VALUES ('srv-2', 'x', 'y', 'z', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'B', 'c', x'01', x'01', 1)",
		"INSERT INTO client_rotations VALUES ('ue-1', 'a', 'b', 'C', x'01', x'01', 1)",
	};
	struct kms_store *st;
	char path[256], sql[512];
	size_t i;
	int rc;

	st = rot_store("rot-checks.db", path, sizeof(path));
	kms_store_close(st);
	/* Controls: good rows pass (one is kept for the UNIQUE cases). */
	CU_ASSERT(raw_exec(path, "PRAGMA foreign_keys = ON; INSERT INTO client_rotations VALUES "
				 "('ue-1', 'a', 'b', 'c', x'01', zeroblob(512), 0); "
				 "DELETE FROM client_rotations; INSERT INTO client_rotations "
				 "VALUES ('srv-2', 'A', 'B', 'C', x'01', x'01', 1)") == SQLITE_OK);
	for (i = 0; i < NUM(bad); i++) {
		snprintf(sql, sizeof(sql), "PRAGMA foreign_keys = ON; %s", bad[i]);
		rc = raw_exec(path, sql);
		if ((rc & 0xff) != SQLITE_CONSTRAINT) {
			fprintf(stderr, "not refused: %s (%d)\n", bad[i], rc);
		}
		CU_ASSERT_EQUAL(rc & 0xff, SQLITE_CONSTRAINT);
	}
	/* Still a store of ours with that row in it. */
	st = open_store(path, KMS_STORE_RO);
	kms_store_close(st);
}

static CU_TestInfo store_tests[] = {
	{"create: mode 0600, idempotent", test_create_mode},
	{"symbolic links refused", test_symlink_refused},
	{"certificate round trip", test_cert_roundtrip},
	{"secrets round trip", test_secret_roundtrip},
	{"clients round trip", test_client_roundtrip},
	{"identities and key sets round trip", test_identity_keyset_roundtrip},
	{"entitlement matrix", test_entitlement_matrix},
	{"read-only store refuses writes", test_read_only_refuses_writes},
	{"other schema versions refused", test_other_versions_refused},
	{"files that are not a store refused", test_not_a_store_refused},
	{"corrupt values in the file: KMS_ERR_PARSE", test_corrupt_values},
	{"schema CHECK constraints", test_schema_checks},
	{"bounds and arguments", test_bounds},
	{"two handles on one file (WAL)", test_two_handles},
	{"busy timeout; a failed write changes nothing", test_busy},
	{"secure delete", test_secure_delete},
	{"external KMS certificates: round trip, change numbers", test_ext_roundtrip},
	{"external KMS certificates: bounds", test_ext_bounds},
	{"external KMS certificates: corrupt rows", test_ext_corrupt},
	{"roster: lists and client revocation", test_roster_lists},
	{"roster: batches (one transaction, dry run)", test_roster_apply},
	{"schema 3 migrated to 7 (read-write), refused read-only", test_migrate_v3},
	{"schema 4 migrated to 7 with its data, refused read-only", test_migrate_v4},
	{"audit keys: put, has, list; one per node, idempotent", test_audit_key},
	{"checkpoints: put, walk, last, head, hash_at, digest", test_checkpoint_basics},
	{"checkpoints: verify: two keys, pins, unknown keys, a cut log, a rewritten chain, bad "
	 "signatures",
	 test_checkpoint_verify},
	{"client keys: round trip, order, replace, arguments", test_client_keys},
	{"client keys: corrupt rows", test_client_keys_corrupt},
	{"client row and keys in one transaction (rotation)", test_client_with_keys},
	{"has_keyset; add_identity of an existing identity", test_has_keyset_add_identity},
	{"schema 5 migrated to 7 with its data, refused read-only", test_migrate_v5},
	{"rotations: put, get, list, finish, cancel", test_rotation_roundtrip},
	{"schema 6 migrated to 7: retired client keys", test_migrate_v6},
	{"retired keys: malformed rows are KMS_ERR_PARSE", test_retired_corrupt},
	{"rotations: refusals and arguments change nothing", test_rotation_refusals},
	{"rotations: all or nothing", test_rotation_atomic},
	{"rotations: malformed rows are KMS_ERR_PARSE", test_rotation_corrupt},
	{"rotations: schema CHECK, UNIQUE and foreign key constraints",
	 test_rotation_schema_checks},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"store", suite_init, suite_cleanup, NULL, NULL, store_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_audit - the hash-chained audit log of the store (proto/store.h, docs/store.md) and
 * kms-admin audit (tools/kms-admin.c), in a temporary directory: the record hash against
 * golden values computed outside this project (Python's hashlib on the documented layout)
 * and against an independent implementation here; round trips; argument bounds; a read-only
 * handle, a read-only file and a file size limit that refuse an append and leave the file as
 * it was; the sync of every append (fsync/fdatasync counted); a write lock held elsewhere
 * (waited for, or refused after the bounded retries); concurrent writers (threads and processes,
 * each with its own handle) that leave a complete chain without gaps or duplicates; records
 * tampered with through raw SQLite, found at the right seq; the reader's filters; the schema's own
 * CHECKs; and the kms-admin binary itself (exit status and output, JSON lines parsed back with
 * jansson).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "proto/store.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

#ifndef KMS_ADMIN_PATH
#error "KMS_ADMIN_PATH (the kms-admin binary) is set by tests/unit/CMakeLists.txt"
#endif

extern char **environ;

static char tmp_dir[256];
static char log_path[300];
static int log_fd = -1;

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                    */

/*
 * fsync and fdatasync of this process, counted: these definitions take the place of libc's
 * for libsqlite3 too (the executable's symbols come first), and pass each call on to the
 * kernel. The durability test counts the syncs of one append.
 */
static unsigned long num_syncs; /* __atomic: writers of several threads sync */

int fsync(int fd);
int fdatasync(int fd);

int
fsync(int fd)
{
	(void)__atomic_add_fetch(&num_syncs, 1, __ATOMIC_RELAXED);
	return (int)syscall(SYS_fsync, fd);
}

int
fdatasync(int fd)
{
	(void)__atomic_add_fetch(&num_syncs, 1, __ATOMIC_RELAXED);
	return (int)syscall(SYS_fdatasync, fd);
}

static void
path_of(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", tmp_dir, name);

	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "test_audit: path too long\n");
		abort();
	}
}

static struct kms_store *
create_store(const char *name, char *path, size_t cap)
{
	struct kms_store *st = NULL;
	char side[600];

	path_of(path, cap, name);
	(void)unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	(void)unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	(void)unlink(side);
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

/* Run SQL on the file directly (our checks bypassed): the SQLite result code. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

/* The whole file (malloc'ed), or NULL. */
static uint8_t *
read_all(const char *path, size_t *out_len)
{
	uint8_t *buf = NULL;
	struct stat sb;
	size_t got = 0;
	ssize_t k;
	int fd;

	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		return NULL;
	}
	if (fstat(fd, &sb) != 0 || (buf = calloc(1, (size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)sb.st_size &&
	       (k = read(fd, buf + got, (size_t)sb.st_size - got)) > 0) {
		got += (size_t)k;
	}
	close(fd);
	*out_len = got;
	return buf;
}

static int
same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	return a != NULL && b != NULL && a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* A record of index i: every field set, deterministic (fixed times). */
struct sample {
	struct kms_audit_rec rec;
	char request_id[KMS_AUDIT_MAX_REQUEST_ID + 1];
	char client[KMS_AUDIT_MAX_CLIENT + 1];
	char identity[KMS_AUDIT_MAX_IDENTITY + 1];
	char resource[KMS_AUDIT_MAX_RESOURCE + 1];
	char detail[KMS_AUDIT_MAX_DETAIL + 1];
	char key_ids[KMS_AUDIT_MAX_KEY_IDS + 1];
};

static const struct kms_audit_rec *
sample(struct sample *s, unsigned int i)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->request_id, sizeof(s->request_id), "req-%u", i);
	snprintf(s->client, sizeof(s->client), "ue-%u", i % 3);
	snprintf(s->identity, sizeof(s->identity), "sip:user%u@example.org", i % 4);
	snprintf(s->resource, sizeof(s->resource),
		 "GET /keymanagement/identity/v1/keyprov/sip:user%u@example.org", i % 4);
	snprintf(s->detail, sizeof(s->detail), "detail %u", i);
	snprintf(s->key_ids, sizeof(s->key_ids), "trk-ue-%u-1", i % 3);
	s->rec.time_s = 1714564800u + i;
	s->rec.time_ns = (uint32_t)(i * 1000001u); /* i ms and i ns */
	s->rec.request_id = s->request_id;
	s->rec.client = s->client;
	s->rec.identity = s->identity;
	s->rec.resource = s->resource;
	s->rec.http_status = i % 5 == 0 ? 403 : 200;
	s->rec.outcome = i % 5 == 0 ? "refused" : "provisioned";
	s->rec.detail = s->detail;
	s->rec.key_ids = s->key_ids;
	return &s->rec;
}

/* Append records first..last (sample()) to the store at path; asserts each seq. */
static void
append_range(struct kms_store *st, unsigned int first, unsigned int last)
{
	struct sample s;
	uint64_t seq;
	unsigned int i;

	for (i = first; i <= last; i++) {
		CU_ASSERT_FATAL(kms_store_audit_append(st, sample(&s, i), &seq) == KMS_OK);
		CU_ASSERT_EQUAL(seq, i);
	}
}

/* A fresh store at tmp_dir/name with records 1..n, closed. */
static void
make_log(const char *name, char *path, size_t cap, unsigned int n)
{
	struct kms_store *st = create_store(name, path, cap);

	append_range(st, 1, n);
	kms_store_close(st);
}

/* Verify the store at path through a read-only handle. */
static int
verify_path(const char *path, uint64_t *count, uint64_t *bad, enum kms_audit_fault *fault)
{
	struct kms_store *st = open_store(path, KMS_STORE_RO);
	int r = kms_store_audit_verify(st, count, bad, fault);

	kms_store_close(st);
	return r;
}

static void
expect_intact(const char *path, uint64_t want_count)
{
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_HASH;
	uint64_t count = 99, bad = 99;

	CU_ASSERT_EQUAL(verify_path(path, &count, &bad, &fault), KMS_OK);
	CU_ASSERT_EQUAL(count, want_count);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(fault, KMS_AUDIT_FAULT_NONE);
}

/* The record hash as docs/store.md describes it, written again here from the document. */
static void
doc_hash(const struct kms_audit_rec *r, uint64_t seq, const uint8_t prev[32], uint8_t out[32])
{
	const char *texts[4] = {r->request_id, r->client, r->identity, r->resource};
	const char *texts2[3] = {r->outcome, r->detail, r->key_ids};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[8], pre[4];
	unsigned int n = 0;
	size_t i, len;
	int k;

	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT_FATAL(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
	EVP_DigestUpdate(ctx, "KMS-AUDIT-1", 11);
	for (k = 0; k < 8; k++) {
		buf[k] = (uint8_t)(seq >> (56 - 8 * k));
	}
	EVP_DigestUpdate(ctx, buf, 8);
	EVP_DigestUpdate(ctx, prev, 32);
#define PREFIX(l)                                                                                  \
	do {                                                                                       \
		pre[0] = 0;                                                                        \
		pre[1] = 0;                                                                        \
		pre[2] = (uint8_t)((l) >> 8);                                                      \
		pre[3] = (uint8_t)(l);                                                             \
		EVP_DigestUpdate(ctx, pre, 4);                                                     \
	} while (0)
	PREFIX(8u);
	for (k = 0; k < 8; k++) {
		buf[k] = (uint8_t)(r->time_s >> (56 - 8 * k));
	}
	EVP_DigestUpdate(ctx, buf, 8);
	PREFIX(4u);
	for (k = 0; k < 4; k++) {
		buf[k] = (uint8_t)(r->time_ns >> (24 - 8 * k));
	}
	EVP_DigestUpdate(ctx, buf, 4);
	for (i = 0; i < 4; i++) {
		len = texts[i] != NULL ? strlen(texts[i]) : 0;
		PREFIX(len);
		EVP_DigestUpdate(ctx, texts[i], len);
	}
	PREFIX(4u);
	for (k = 0; k < 4; k++) {
		buf[k] = (uint8_t)((uint32_t)r->http_status >> (24 - 8 * k));
	}
	EVP_DigestUpdate(ctx, buf, 4);
	for (i = 0; i < 3; i++) {
		len = texts2[i] != NULL ? strlen(texts2[i]) : 0;
		PREFIX(len);
		EVP_DigestUpdate(ctx, texts2[i], len);
	}
#undef PREFIX
	CU_ASSERT_FATAL(EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32);
	EVP_MD_CTX_free(ctx);
}

/* Records read back: copies of every field, in the order the reader gave them. */
#define MAX_GOT 512
struct got_rec {
	uint64_t seq, time_s;
	uint32_t time_ns;
	int http_status;
	char request_id[KMS_AUDIT_MAX_REQUEST_ID + 1];
	char client[KMS_AUDIT_MAX_CLIENT + 1];
	char identity[KMS_AUDIT_MAX_IDENTITY + 1];
	char resource[KMS_AUDIT_MAX_RESOURCE + 1];
	char outcome[KMS_AUDIT_MAX_OUTCOME + 1];
	char detail[KMS_AUDIT_MAX_DETAIL + 1];
	char key_ids[KMS_AUDIT_MAX_KEY_IDS + 1];
	uint8_t prev_hash[32], hash[32];
};

struct got {
	struct got_rec *recs; /* MAX_GOT */
	size_t n;
	int stop_after;         /* return 42 after this many (0: never) */
	struct kms_store *self; /* the handle being read, for the re-entry test */
	int reentry_r[3];
};

static void
copy_text(char *dst, size_t cap, const char *src)
{
	CU_ASSERT_FATAL(src != NULL);
	CU_ASSERT_FATAL(strlen(src) < cap);
	memcpy(dst, src, strlen(src) + 1);
}

static int
collect(void *arg, const struct kms_audit_rec *rec)
{
	struct got *g = arg;
	struct got_rec *c;
	struct sample s;
	uint64_t u1, u2;
	enum kms_audit_fault f;

	if (g->self != NULL) {
		g->reentry_r[0] = kms_store_audit_append(g->self, sample(&s, 1), &u1);
		g->reentry_r[1] = kms_store_audit_verify(g->self, &u1, &u2, &f);
		g->reentry_r[2] = kms_store_audit_read(g->self, NULL, collect, g);
	}
	if (g->n >= MAX_GOT) {
		return KMS_ERR_TOO_LARGE;
	}
	c = &g->recs[g->n++];
	c->seq = rec->seq;
	c->time_s = rec->time_s;
	c->time_ns = rec->time_ns;
	c->http_status = rec->http_status;
	copy_text(c->request_id, sizeof(c->request_id), rec->request_id);
	copy_text(c->client, sizeof(c->client), rec->client);
	copy_text(c->identity, sizeof(c->identity), rec->identity);
	copy_text(c->resource, sizeof(c->resource), rec->resource);
	copy_text(c->outcome, sizeof(c->outcome), rec->outcome);
	copy_text(c->detail, sizeof(c->detail), rec->detail);
	copy_text(c->key_ids, sizeof(c->key_ids), rec->key_ids);
	memcpy(c->prev_hash, rec->prev_hash, 32);
	memcpy(c->hash, rec->hash, 32);
	if (g->stop_after != 0 && g->n == (size_t)g->stop_after) {
		return 42;
	}
	return KMS_OK;
}

static void
got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->recs = calloc(MAX_GOT, sizeof(*g->recs));
	CU_ASSERT_FATAL(g->recs != NULL);
}

static int
read_filtered(struct kms_store *st, const struct kms_audit_filter *f, struct got *g)
{
	g->n = 0;
	return kms_store_audit_read(st, f, collect, g);
}

/* ---------------------------------------------------------------------------------------- */
/* Suite set-up                                                                               */

static int
suite_init(void)
{
	if (kms_test_tmpdir(tmp_dir, sizeof(tmp_dir), "audit") != 0) {
		return -1;
	}
	snprintf(log_path, sizeof(log_path), "%s/log", tmp_dir);
	if ((log_fd = kms_test_log_capture(log_path, "test_audit")) < 0) {
		return -1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	kms_test_log_release(log_fd);
	log_fd = -1;
	kms_test_rmdir(tmp_dir);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Hash and round trip                                                                        */

/* Golden values: Python's hashlib over the layout of docs/store.md (see the report). */
static void
test_golden_hash(void)
{
	static const char h1_hex[] =
		"5740B2E6DA941668ED4C00DDD73A292ED1C4D78E3C42DC62CB3F3E6C8E5EDA44";
	static const char h2_hex[] =
		"80C9B17DA905A455AC33FED5221A1760E859C4CFD337F97D7C88FCBFCCADB9E4";
	static const uint8_t zero[32];
	struct kms_audit_rec r1, r2;
	uint8_t h1[32], h2[32], mine[32];
	struct kms_store *st;
	struct got g;
	char path[512];
	uint64_t seq;

	memset(&r1, 0, sizeof(r1));
	r1.time_s = 1714564800;
	r1.time_ns = 123456789;
	r1.request_id = "req-1";
	r1.client = "ue-1";
	r1.identity = "sip:alice@example.org";
	r1.resource = "GET /keymanagement/identity/v1/keyprov/sip:alice@example.org/3927081600";
	r1.http_status = 200;
	r1.outcome = "provisioned";
	r1.detail = NULL; /* the empty text */
	r1.key_ids = "trk-ue-1-1";
	memset(&r2, 0, sizeof(r2));
	r2.time_s = 1714564801;
	r2.time_ns = 0;
	r2.request_id = "req-2";
	r2.client = "";
	r2.identity = NULL;
	r2.resource = "POST /keymanagement/identity/v1/init";
	r2.http_status = 403;
	r2.outcome = "refused";
	r2.detail = "no client certificate";
	r2.key_ids = "";
	CU_ASSERT_FATAL(kms_hex_decode(h1, 32, h1_hex, 64) == KMS_OK);
	CU_ASSERT_FATAL(kms_hex_decode(h2, 32, h2_hex, 64) == KMS_OK);

	/* The test's own reading of the document agrees with Python's. */
	doc_hash(&r1, 1, zero, mine);
	CU_ASSERT(memcmp(mine, h1, 32) == 0);
	doc_hash(&r2, 2, h1, mine);
	CU_ASSERT(memcmp(mine, h2, 32) == 0);

	st = create_store("golden.db", path, sizeof(path));
	CU_ASSERT(kms_store_audit_append(st, &r1, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 1);
	CU_ASSERT(kms_store_audit_append(st, &r2, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 2);
	got_init(&g);
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
	CU_ASSERT_FATAL(g.n == 2);
	CU_ASSERT(memcmp(g.recs[0].prev_hash, zero, 32) == 0);
	CU_ASSERT(memcmp(g.recs[0].hash, h1, 32) == 0);
	CU_ASSERT(memcmp(g.recs[1].prev_hash, h1, 32) == 0);
	CU_ASSERT(memcmp(g.recs[1].hash, h2, 32) == 0);
	CU_ASSERT_STRING_EQUAL(g.recs[0].detail, "");
	CU_ASSERT_STRING_EQUAL(g.recs[1].identity, "");
	kms_store_close(st);
	free(g.recs);
}

static void
test_roundtrip(void)
{
	static const uint8_t zero[32];
	struct sample s;
	struct kms_store *st;
	struct got g;
	char path[512];
	uint8_t want[32];
	uint64_t count = 99, bad = 99;
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_HASH;
	size_t i;

	st = create_store("roundtrip.db", path, sizeof(path));
	/* An empty log verifies, with 0 records. */
	CU_ASSERT(kms_store_audit_verify(st, &count, &bad, &fault) == KMS_OK);
	CU_ASSERT(count == 0 && bad == 0 && fault == KMS_AUDIT_FAULT_NONE);
	append_range(st, 1, 20);
	kms_store_close(st);

	/* Read back through a read-only handle: every field, and the chain. */
	st = open_store(path, KMS_STORE_RO);
	got_init(&g);
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
	CU_ASSERT_FATAL(g.n == 20);
	for (i = 0; i < g.n; i++) {
		const struct kms_audit_rec *r = sample(&s, (unsigned int)i + 1);

		CU_ASSERT_EQUAL(g.recs[i].seq, i + 1);
		CU_ASSERT_EQUAL(g.recs[i].time_s, r->time_s);
		CU_ASSERT_EQUAL(g.recs[i].time_ns, r->time_ns);
		CU_ASSERT_EQUAL(g.recs[i].http_status, r->http_status);
		CU_ASSERT_STRING_EQUAL(g.recs[i].request_id, r->request_id);
		CU_ASSERT_STRING_EQUAL(g.recs[i].client, r->client);
		CU_ASSERT_STRING_EQUAL(g.recs[i].identity, r->identity);
		CU_ASSERT_STRING_EQUAL(g.recs[i].resource, r->resource);
		CU_ASSERT_STRING_EQUAL(g.recs[i].outcome, r->outcome);
		CU_ASSERT_STRING_EQUAL(g.recs[i].detail, r->detail);
		CU_ASSERT_STRING_EQUAL(g.recs[i].key_ids, r->key_ids);
		CU_ASSERT(memcmp(g.recs[i].prev_hash, i == 0 ? zero : g.recs[i - 1].hash, 32) == 0);
		doc_hash(r, i + 1, g.recs[i].prev_hash, want);
		CU_ASSERT(memcmp(g.recs[i].hash, want, 32) == 0);
	}
	CU_ASSERT(kms_store_audit_verify(st, &count, &bad, &fault) == KMS_OK);
	CU_ASSERT(count == 20 && bad == 0 && fault == KMS_AUDIT_FAULT_NONE);
	kms_store_close(st);

	/* Appends continue the chain across handles. */
	st = open_store(path, KMS_STORE_RW);
	append_range(st, 21, 25);
	kms_store_close(st);
	expect_intact(path, 25);
	free(g.recs);
}

/* ---------------------------------------------------------------------------------------- */
/* Arguments                                                                                  */

static void
test_append_args(void)
{
	static char big[KMS_AUDIT_MAX_IDENTITY + 2];
	static const char *const bad_texts[] = {
		"a\nb",         /* newline */
		"a\tb",         /* tab */
		"\x1b[2J",      /* escape */
		"a\x7f",        /* DEL */
		"a\xc2\x9bZ",   /* C1: CSI */
		"\x80",         /* not UTF-8 */
		"\xc0\xaf",     /* overlong */
		"\xed\xa0\x80", /* surrogate */
	};
	static const char *const bad_outcomes[] = {
		"", "Provisioned", "a b", "ok!", "123456789012345678901234567890123", "\xc3\xa9",
	};
	static const struct {
		size_t field, max;
	} bounds[] = {
		{0, KMS_AUDIT_MAX_REQUEST_ID}, {1, KMS_AUDIT_MAX_CLIENT},
		{2, KMS_AUDIT_MAX_IDENTITY},   {3, KMS_AUDIT_MAX_RESOURCE},
		{4, KMS_AUDIT_MAX_DETAIL},     {5, KMS_AUDIT_MAX_KEY_IDS},
	};
	struct kms_audit_rec r;
	struct kms_store *st;
	struct sample s;
	const char **field[6];
	char path[512];
	uint64_t seq, n = 0;
	size_t i, j;

	st = create_store("args.db", path, sizeof(path));
	memset(big, 'x', sizeof(big) - 1);

	/* NULLs. */
	CU_ASSERT(kms_store_audit_append(NULL, sample(&s, 1), &seq) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_append(st, NULL, &seq) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 1), NULL) == KMS_ERR_INVALID_ARG);

	/* Each text field: its maximum is fine, one more byte is not; bad characters. */
	for (i = 0; i < NUM(bounds); i++) {
		r = *sample(&s, 1);
		field[0] = &r.request_id;
		field[1] = &r.client;
		field[2] = &r.identity;
		field[3] = &r.resource;
		field[4] = &r.detail;
		field[5] = &r.key_ids;
		big[bounds[i].max] = '\0';
		*field[bounds[i].field] = big;
		CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
		CU_ASSERT_EQUAL(seq, ++n);
		big[bounds[i].max] = 'x';
		big[bounds[i].max + 1] = '\0';
		seq = 99;
		CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
		CU_ASSERT_EQUAL(seq, 0);
		big[bounds[i].max + 1] = 'x';
		for (j = 0; j < NUM(bad_texts); j++) {
			*field[bounds[i].field] = bad_texts[j];
			CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
		}
		/* NULL is the empty text. */
		*field[bounds[i].field] = NULL;
		CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
		CU_ASSERT_EQUAL(seq, ++n);
	}
	/* UTF-8 and spaces are fine. */
	r = *sample(&s, 1);
	r.detail = "j\xc3\xb6rg's r\xc3\xa9quest, \xe2\x82\xac 5 \xf0\x9f\x94\x91";
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);

	/* Outcome words. */
	for (i = 0; i < NUM(bad_outcomes); i++) {
		r = *sample(&s, 1);
		r.outcome = bad_outcomes[i];
		CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	}
	r.outcome = NULL;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	r.outcome = "rate-limited_2";
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);
	r.outcome = "12345678901234567890123456789012"; /* 32 */
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);

	/* Numbers. */
	r = *sample(&s, 1);
	r.http_status = -1;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	r.http_status = 99;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	r.http_status = 600;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	r.http_status = 0;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);
	r.http_status = 599;
	r.time_ns = 999999999;
	r.time_s = INT64_MAX;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);
	r.time_ns = 1000000000;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_INVALID_ARG);
	r.time_ns = 0;
	r.time_s = (uint64_t)INT64_MAX + 1;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_ERR_RANGE);
	r.time_s = 0;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, ++n);
	kms_store_close(st);

	/* Only the accepted ones were written, in an intact chain. */
	expect_intact(path, n);
}

/* ---------------------------------------------------------------------------------------- */
/* Appends that cannot be written                                                             */

static void
test_read_only(void)
{
	struct kms_store *st;
	struct sample s;
	char path[512];
	uint8_t *before, *after;
	size_t before_len, after_len;
	uint64_t seq;

	make_log("ro.db", path, sizeof(path), 3);
	before = read_all(path, &before_len);
	CU_ASSERT_FATAL(before != NULL);

	/* A read-only handle. */
	st = open_store(path, KMS_STORE_RO);
	seq = 99;
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 4), &seq) == KMS_ERR_IO);
	CU_ASSERT_EQUAL(seq, 0);
	kms_store_close(st);
	after = read_all(path, &after_len);
	CU_ASSERT(same_bytes(before, before_len, after, after_len));
	free(after);

	/* A read-only file (root writes anyway). */
	if (geteuid() != 0) {
		CU_ASSERT_FATAL(chmod(path, 0400) == 0);
		CU_ASSERT(kms_store_open(&st, path, KMS_STORE_RW) == KMS_ERR_IO);
		st = open_store(path, KMS_STORE_RO);
		CU_ASSERT(kms_store_audit_append(st, sample(&s, 4), &seq) == KMS_ERR_IO);
		kms_store_close(st);
		CU_ASSERT(chmod(path, 0600) == 0);
		after = read_all(path, &after_len);
		CU_ASSERT(same_bytes(before, before_len, after, after_len));
		free(after);
	}
	free(before);
	expect_intact(path, 3);
}

/*
 * A file size limit (RLIMIT_FSIZE 0: every write to a file fails with EFBIG, as on a full
 * disk), in a child process: the append fails with KMS_ERR_IO, and the log stays as it was.
 */
static void
test_file_size_limit(void)
{
	struct kms_store *st;
	struct sample s;
	char path[512];
	int status;
	pid_t pid;

	make_log("fsize.db", path, sizeof(path), 5);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		uint64_t seq = 99;
		int r;

		signal(SIGXFSZ, SIG_IGN);
		/* Opened first: the open maps the -shm file, which the limit would stop too. */
		if (kms_store_open(&st, path, KMS_STORE_RW) != KMS_OK) {
			_exit(10);
		}
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
			_exit(11);
		}
		r = kms_store_audit_append(st, sample(&s, 6), &seq);
		_exit(r == KMS_ERR_IO && seq == 0 ? 0 : 12);
	}
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_intact(path, 5);
	/* And the next append, without the limit, is record 6. */
	st = open_store(path, KMS_STORE_RW);
	append_range(st, 6, 6);
	kms_store_close(st);
	expect_intact(path, 6);
}

/*
 * Durable on return: each append's COMMIT syncs the WAL (synchronous = FULL). With NORMAL
 * (SQLite's usual setting for WAL) a commit syncs nothing, and a power cut could lose a
 * record whose material was already sent.
 */
static void
test_durable(void)
{
	struct kms_store *st;
	struct sample s;
	char path[512];
	unsigned long before;
	uint64_t seq;
	unsigned int i;

	st = create_store("durable.db", path, sizeof(path));
	append_range(st, 1, 1); /* the WAL exists from here on */
	for (i = 2; i <= 5; i++) {
		before = __atomic_load_n(&num_syncs, __ATOMIC_RELAXED);
		CU_ASSERT(kms_store_audit_append(st, sample(&s, i), &seq) == KMS_OK);
		CU_ASSERT(__atomic_load_n(&num_syncs, __ATOMIC_RELAXED) > before);
	}
	kms_store_close(st);

	/* Control: the same commit on a connection with synchronous = NORMAL syncs nothing. */
	{
		sqlite3 *db = NULL;

		CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
				SQLITE_OK);
		CU_ASSERT(sqlite3_exec(db, "PRAGMA synchronous = NORMAL; SELECT * FROM audit", NULL,
				       NULL, NULL) == SQLITE_OK);
		/* The first commit starts a new WAL (a sync of its own); count the second. */
		CU_ASSERT(sqlite3_exec(db, "UPDATE audit SET detail = 'x' WHERE seq = 1", NULL,
				       NULL, NULL) == SQLITE_OK);
		before = __atomic_load_n(&num_syncs, __ATOMIC_RELAXED);
		CU_ASSERT(sqlite3_exec(db, "UPDATE audit SET detail = 'y' WHERE seq = 1", NULL,
				       NULL, NULL) == SQLITE_OK);
		CU_ASSERT_EQUAL(__atomic_load_n(&num_syncs, __ATOMIC_RELAXED), before);
		sqlite3_close(db);
	}
}

/* The last record of the file is malformed: nothing can be chained to it, nothing is written. */
static void
test_bad_head(void)
{
	struct kms_store *st;
	struct sample s;
	char path[512];
	uint64_t seq;

	make_log("head.db", path, sizeof(path), 3);
	CU_ASSERT_FATAL(raw_exec(path, "PRAGMA ignore_check_constraints = ON; "
				       "UPDATE audit SET hash = x'00' WHERE seq = 3") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RW);
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 4), &seq) == KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(seq, 0);
	kms_store_close(st);
	CU_ASSERT(raw_exec(path, "SELECT 1/(count(*) = 3) FROM audit") == SQLITE_OK);
}

/* Another connection holds the write lock for a while, then lets go. */
struct holder {
	const char *path;
	double seconds;
	int ok;
};

static double now_s(void);

static void *
hold_lock(void *arg)
{
	struct holder *h = arg;
	struct timespec ts;
	sqlite3 *db = NULL;

	h->ok = sqlite3_open_v2(h->path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
	ts.tv_sec = (time_t)h->seconds;
	ts.tv_nsec = (long)((h->seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	if (h->ok) {
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return NULL;
}

/*
 * The write lock held elsewhere: an append waits for it (a short hold), or gives up after
 * KMS_AUDIT_ATTEMPTS busy timeouts with KMS_ERR_IO and writes nothing (a long one).
 */
static void
test_busy(void)
{
	struct timespec pause;
	struct holder h;
	struct kms_store *st;
	struct sample s;
	pthread_t th;
	sqlite3 *other = NULL;
	char path[512], logbuf[65536];
	double t0, waited;
	uint64_t seq;

	make_log("busy.db", path, sizeof(path), 2);
	st = open_store(path, KMS_STORE_RW);

	/* Held for 1.5 s by another thread: the append waits, then succeeds. */
	h.path = path;
	h.seconds = 1.5;
	h.ok = 0;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, hold_lock, &h) == 0);
	pause.tv_sec = 0;
	pause.tv_nsec = 300000000; /* the holder takes the lock meanwhile */
	nanosleep(&pause, NULL);
	t0 = now_s();
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 3), &seq) == KMS_OK);
	waited = now_s() - t0;
	CU_ASSERT(pthread_join(th, NULL) == 0);
	CU_ASSERT(h.ok);
	CU_ASSERT_EQUAL(seq, 3);
	CU_ASSERT(waited >= 0.9 && waited < 5.0);

	/* Held for good: three busy timeouts of 5 s, then KMS_ERR_IO, nothing written. */
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	t0 = now_s();
	seq = 99;
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 4), &seq) == KMS_ERR_IO);
	waited = now_s() - t0;
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT(waited >= 14.0 && waited < 30.0);
	kms_test_read_fd(log_fd, logbuf, sizeof(logbuf));
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "the log is locked; try 3 of 3"));
	CU_ASSERT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);
	CU_ASSERT(kms_store_audit_append(st, sample(&s, 4), &seq) == KMS_OK);
	CU_ASSERT_EQUAL(seq, 4);
	kms_store_close(st);
	expect_intact(path, 4);
}

/* ---------------------------------------------------------------------------------------- */
/* Concurrent writers                                                                         */

#define NUM_THREADS 4
#define NUM_PROCS   2
#define PER_WRITER  40

struct writer {
	const char *path;
	unsigned int id;
	int failures;
	uint64_t seqs[PER_WRITER];
};

static void
writer_run(struct writer *w)
{
	struct kms_store *st = NULL;
	struct kms_audit_rec r;
	struct sample s;
	char rid[KMS_AUDIT_MAX_REQUEST_ID + 1];
	unsigned int i;

	if (kms_store_open(&st, w->path, KMS_STORE_RW) != KMS_OK) {
		w->failures = PER_WRITER;
		return;
	}
	for (i = 0; i < PER_WRITER; i++) {
		r = *sample(&s, i);
		snprintf(rid, sizeof(rid), "w%u-%u", w->id, i);
		r.request_id = rid;
		if (kms_store_audit_append(st, &r, &w->seqs[i]) != KMS_OK) {
			w->failures++;
		}
	}
	kms_store_close(st);
}

static void *
writer_thread(void *arg)
{
	writer_run(arg);
	return NULL;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_concurrent(void)
{
	enum {
		TOTAL = (NUM_THREADS + NUM_PROCS) * PER_WRITER
	};
	struct writer w[NUM_THREADS + NUM_PROCS];
	pthread_t th[NUM_THREADS];
	pid_t pids[NUM_PROCS];
	struct kms_store *st;
	struct got g;
	char path[512], rid[32];
	static unsigned char seen[TOTAL + 1];
	unsigned int i, k, wi;
	int status;
	double t0;

	st = create_store("concurrent.db", path, sizeof(path));
	kms_store_close(st);
	memset(w, 0, sizeof(w));
	t0 = now_s();
	/* Processes first (fork before any thread exists), then threads, all at once. */
	for (i = 0; i < NUM_PROCS; i++) {
		w[NUM_THREADS + i].path = path;
		w[NUM_THREADS + i].id = NUM_THREADS + i;
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			writer_run(&w[NUM_THREADS + i]);
			_exit(w[NUM_THREADS + i].failures == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < NUM_THREADS; i++) {
		w[i].path = path;
		w[i].id = i;
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, writer_thread, &w[i]) == 0);
	}
	for (i = 0; i < NUM_THREADS; i++) {
		CU_ASSERT(pthread_join(th[i], NULL) == 0);
		CU_ASSERT_EQUAL(w[i].failures, 0);
	}
	for (i = 0; i < NUM_PROCS; i++) {
		CU_ASSERT_FATAL(waitpid(pids[i], &status, 0) == pids[i]);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	fprintf(stderr, "\n  %d appends by %d threads and %d processes in %.2f s\n", TOTAL,
		NUM_THREADS, NUM_PROCS, now_s() - t0);

	/* The seqs the threads were given are distinct and in order per thread. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < NUM_THREADS; i++) {
		for (k = 0; k < PER_WRITER; k++) {
			CU_ASSERT(w[i].seqs[k] >= 1 && w[i].seqs[k] <= TOTAL);
			CU_ASSERT(k == 0 || w[i].seqs[k] > w[i].seqs[k - 1]);
			if (w[i].seqs[k] >= 1 && w[i].seqs[k] <= TOTAL) {
				CU_ASSERT(seen[w[i].seqs[k]] == 0);
				seen[w[i].seqs[k]] = 1;
			}
		}
	}

	/* The chain is complete and valid; every request is there exactly once. */
	expect_intact(path, TOTAL);
	st = open_store(path, KMS_STORE_RO);
	got_init(&g);
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
	CU_ASSERT_FATAL(g.n == TOTAL);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < g.n; i++) {
		CU_ASSERT_EQUAL(g.recs[i].seq, i + 1);
		for (wi = 0; wi < NUM_THREADS + NUM_PROCS; wi++) {
			for (k = 0; k < PER_WRITER; k++) {
				snprintf(rid, sizeof(rid), "w%u-%u", wi, k);
				if (strcmp(g.recs[i].request_id, rid) == 0) {
					CU_ASSERT(seen[wi * PER_WRITER + k] == 0);
					seen[wi * PER_WRITER + k] = 1;
				}
			}
		}
	}
	for (i = 0; i < TOTAL; i++) {
		CU_ASSERT(seen[i] == 1);
	}
	free(g.recs);
	kms_store_close(st);
}

/* ---------------------------------------------------------------------------------------- */
/* Tampering                                                                                  */

/* The columns of a record but seq, for the swap below. */
#define NOT_SEQ                                                                                    \
	"time_s, time_ns, request_id, client, identity, resource, http_status, outcome, detail, "  \
	"key_ids, prev_hash, hash"

static void
test_tamper(void)
{
	static const struct {
		const char *sql;
		int want_r;
		uint64_t count, bad;
		enum kms_audit_fault fault;
	} cases[] = {
		/* Edit a field. */
		{"UPDATE audit SET detail = 'edited' WHERE seq = 5", KMS_ERR_AUTH, 4, 5,
		 KMS_AUDIT_FAULT_HASH},
		{"UPDATE audit SET time_s = time_s + 1 WHERE seq = 8", KMS_ERR_AUTH, 7, 8,
		 KMS_AUDIT_FAULT_HASH},
		{"UPDATE audit SET http_status = 200 WHERE seq = 10", KMS_ERR_AUTH, 9, 10,
		 KMS_AUDIT_FAULT_HASH},
		{"UPDATE audit SET client = '' WHERE seq = 1", KMS_ERR_AUTH, 0, 1,
		 KMS_AUDIT_FAULT_HASH},
		/* Shift bytes between two fields: the length prefixes see it. */
		{"UPDATE audit SET identity = identity || substr(resource, 1, 3), "
		 "resource = substr(resource, 4) WHERE seq = 6",
		 KMS_ERR_AUTH, 5, 6, KMS_AUDIT_FAULT_HASH},
		/* Change a hash. */
		{"UPDATE audit SET hash = zeroblob(32) WHERE seq = 7", KMS_ERR_AUTH, 6, 7,
		 KMS_AUDIT_FAULT_HASH},
		{"UPDATE audit SET hash = CAST(substr(hash, 1, 31) || CASE WHEN substr(hash, 32) = "
		 "x'00' THEN x'01' ELSE x'00' END AS BLOB) WHERE seq = 12",
		 KMS_ERR_AUTH, 11, 12, KMS_AUDIT_FAULT_HASH},
		{"UPDATE audit SET prev_hash = zeroblob(32) WHERE seq = 3", KMS_ERR_AUTH, 2, 3,
		 KMS_AUDIT_FAULT_PREV},
		{"UPDATE audit SET prev_hash = CAST(x'01' || substr(prev_hash, 2) AS BLOB) "
		 "WHERE seq = 1",
		 KMS_ERR_AUTH, 0, 1, KMS_AUDIT_FAULT_PREV},
		/* Delete a record. */
		{"DELETE FROM audit WHERE seq = 5", KMS_ERR_AUTH, 4, 6, KMS_AUDIT_FAULT_SEQ},
		{"DELETE FROM audit WHERE seq = 1", KMS_ERR_AUTH, 0, 2, KMS_AUDIT_FAULT_SEQ},
		{"DELETE FROM audit WHERE seq IN (4, 5, 6)", KMS_ERR_AUTH, 3, 7,
		 KMS_AUDIT_FAULT_SEQ},
		/* Delete a record and renumber the rest to close the gap. */
		{"PRAGMA ignore_check_constraints = ON; DELETE FROM audit WHERE seq = 5; "
		 "UPDATE audit SET seq = -(seq - 1) WHERE seq > 5; "
		 "UPDATE audit SET seq = -seq WHERE seq < 0",
		 KMS_ERR_AUTH, 4, 5, KMS_AUDIT_FAULT_PREV},
		/* Swap two records' contents, or their seqs. */
		{"CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (4, 5); "
		 "UPDATE audit SET (" NOT_SEQ ") = (SELECT " NOT_SEQ " FROM t WHERE t.seq = "
		 "9 - audit.seq) WHERE seq IN (4, 5)",
		 KMS_ERR_AUTH, 3, 4, KMS_AUDIT_FAULT_PREV},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET seq = -seq WHERE seq IN (8, 9); "
		 "UPDATE audit SET seq = 17 + seq WHERE seq IN (-8, -9)",
		 KMS_ERR_AUTH, 7, 8, KMS_AUDIT_FAULT_PREV},
		/* A record added in the middle (seq 0 first, with checks off), at the end. */
		{"PRAGMA ignore_check_constraints = ON; INSERT INTO audit SELECT 0, " NOT_SEQ
		 " FROM audit WHERE seq = 3",
		 KMS_ERR_AUTH, 0, 1, KMS_AUDIT_FAULT_SEQ},
		{"INSERT INTO audit SELECT 14, " NOT_SEQ " FROM audit WHERE seq = 3", KMS_ERR_AUTH,
		 12, 14, KMS_AUDIT_FAULT_SEQ},
		{"INSERT INTO audit SELECT 13, " NOT_SEQ " FROM audit WHERE seq = 3", KMS_ERR_AUTH,
		 12, 13, KMS_AUDIT_FAULT_PREV},
		/* Malformed values (past the CHECKs). */
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET detail = 'x' || char(10) || 'y' WHERE seq = 3",
		 KMS_ERR_AUTH, 2, 3, KMS_AUDIT_FAULT_VALUE},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET hash = x'00' WHERE seq = 2",
		 KMS_ERR_AUTH, 1, 2, KMS_AUDIT_FAULT_VALUE},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET time_ns = -1 WHERE seq = 9",
		 KMS_ERR_AUTH, 8, 9, KMS_AUDIT_FAULT_VALUE},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET outcome = 'OK' WHERE seq = 9",
		 KMS_ERR_AUTH, 8, 9, KMS_AUDIT_FAULT_VALUE},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET client = CAST(x'75658065' AS TEXT) WHERE seq = 4",
		 KMS_ERR_AUTH, 3, 4, KMS_AUDIT_FAULT_VALUE},
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET key_ids = x'37' WHERE seq = 4",
		 KMS_ERR_AUTH, 3, 4, KMS_AUDIT_FAULT_VALUE},
		/* A value above the store's 64 KiB read limit. */
		{"PRAGMA ignore_check_constraints = ON; "
		 "UPDATE audit SET detail = printf('%.*c', 70000, 'a') WHERE seq = 6",
		 KMS_ERR_AUTH, 5, 6, KMS_AUDIT_FAULT_UNREAD},
		/* Cutting off the newest records is not detected (docs/store.md says so). */
		{"DELETE FROM audit WHERE seq > 10", KMS_OK, 10, 0, KMS_AUDIT_FAULT_NONE},
	};
	enum kms_audit_fault fault;
	char path[512], pristine[512], cmd[2048];
	uint64_t count, bad;
	uint8_t *data;
	size_t len, i;
	int fd, r;

	/* One pristine file of 12 records; each case works on a copy of it. */
	make_log("pristine.db", pristine, sizeof(pristine), 12);
	data = read_all(pristine, &len);
	CU_ASSERT_FATAL(data != NULL && len > 0);
	path_of(path, sizeof(path), "tamper.db");
	for (i = 0; i < NUM(cases); i++) {
		(void)unlink(path);
		snprintf(cmd, sizeof(cmd), "%s-wal", path);
		(void)unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s-shm", path);
		(void)unlink(cmd);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
		close(fd);
		expect_intact(path, 12);
		r = raw_exec(path, cases[i].sql);
		if (r != SQLITE_OK) {
			fprintf(stderr, "\ncase %zu (%s): SQLite %d\n", i, cases[i].sql, r);
		}
		CU_ASSERT_FATAL(r == SQLITE_OK);
		count = bad = 99;
		fault = KMS_AUDIT_FAULT_NONE;
		r = verify_path(path, &count, &bad, &fault);
		if (r != cases[i].want_r || count != cases[i].count || bad != cases[i].bad ||
		    fault != cases[i].fault) {
			fprintf(stderr,
				"\ncase %zu (%s): r %d count %" PRIu64 " bad %" PRIu64 " %s\n", i,
				cases[i].sql, r, count, bad, kms_audit_fault_str(fault));
		}
		CU_ASSERT_EQUAL(r, cases[i].want_r);
		CU_ASSERT_EQUAL(count, cases[i].count);
		CU_ASSERT_EQUAL(bad, cases[i].bad);
		CU_ASSERT_EQUAL(fault, cases[i].fault);
	}
	free(data);

	/* An attacker who edits record 5 and computes its hash again: found at record 6. */
	make_log("rehash.db", path, sizeof(path), 8);
	{
		struct kms_store *st = open_store(path, KMS_STORE_RO);
		struct sample s;
		struct kms_audit_rec rec;
		struct got g;
		uint8_t h[32];
		char hex[65];

		got_init(&g);
		CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
		kms_store_close(st);
		CU_ASSERT_FATAL(g.n == 8);
		rec = *sample(&s, 5);
		rec.detail = "nothing happened";
		doc_hash(&rec, 5, g.recs[4].prev_hash, h);
		CU_ASSERT_FATAL(kms_hex_encode(hex, sizeof(hex), h, 32) == KMS_OK);
		snprintf(cmd, sizeof(cmd),
			 "UPDATE audit SET detail = 'nothing happened', hash = x'%s' WHERE seq = 5",
			 hex);
		CU_ASSERT_FATAL(raw_exec(path, cmd) == SQLITE_OK);
		CU_ASSERT(verify_path(path, &count, &bad, &fault) == KMS_ERR_AUTH);
		CU_ASSERT_EQUAL(count, 5);
		CU_ASSERT_EQUAL(bad, 6);
		CU_ASSERT_EQUAL(fault, KMS_AUDIT_FAULT_PREV);
		free(g.recs);
	}

	/* Argument checks. */
	{
		struct kms_store *st = open_store(path, KMS_STORE_RO);

		CU_ASSERT(kms_store_audit_verify(NULL, &count, &bad, &fault) ==
			  KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_audit_verify(st, NULL, &bad, &fault) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_audit_verify(st, &count, NULL, &fault) == KMS_ERR_INVALID_ARG);
		CU_ASSERT(kms_store_audit_verify(st, &count, &bad, NULL) == KMS_ERR_INVALID_ARG);
		kms_store_close(st);
	}
	CU_ASSERT_STRING_EQUAL(kms_audit_fault_str((enum kms_audit_fault)99), "unknown fault");
}

/* The schema's CHECKs refuse what the C checks refuse (defence in depth). */
static void
test_schema_checks(void)
{
	static const char *const bad[] = {
		"UPDATE audit SET seq = 0 WHERE seq = 1",
		"UPDATE audit SET time_s = -1",
		"UPDATE audit SET time_s = '5x'",
		"UPDATE audit SET time_ns = 1000000000",
		"UPDATE audit SET request_id = printf('%.*c', 65, 'a')",
		"UPDATE audit SET request_id = NULL",
		"UPDATE audit SET client = printf('%.*c', 256, 'a')",
		"UPDATE audit SET client = x'41'",
		"UPDATE audit SET identity = printf('%.*c', 2049, 'a')",
		"UPDATE audit SET resource = CAST(x'610062' AS TEXT)",
		"UPDATE audit SET http_status = 99",
		"UPDATE audit SET http_status = 600",
		"UPDATE audit SET outcome = ''",
		"UPDATE audit SET outcome = 'Refused'",
		"UPDATE audit SET outcome = 'a b'",
		"UPDATE audit SET outcome = printf('%.*c', 33, 'a')",
		"UPDATE audit SET detail = printf('%.*c', 256, 'a')",
		"UPDATE audit SET key_ids = printf('%.*c', 256, 'a')",
		"UPDATE audit SET prev_hash = zeroblob(31)",
		"UPDATE audit SET hash = 'text'",
	};
	char path[512];
	size_t i;
	int rc;

	make_log("checks.db", path, sizeof(path), 2);
	for (i = 0; i < NUM(bad); i++) {
		rc = raw_exec(path, bad[i]);
		if ((rc & 0xff) != SQLITE_CONSTRAINT) {
			fprintf(stderr, "\nnot refused: %s (%d)\n", bad[i], rc);
		}
		CU_ASSERT_EQUAL(rc & 0xff, SQLITE_CONSTRAINT);
	}
	expect_intact(path, 2);
}

/* ---------------------------------------------------------------------------------------- */
/* The reader                                                                                 */

static void
test_reader_filters(void)
{
	struct kms_audit_filter f;
	struct kms_audit_rec r;
	struct kms_store *st;
	struct sample s;
	struct got g;
	char path[512], big[KMS_AUDIT_MAX_IDENTITY + 2];
	uint64_t seq;
	size_t i;

	/* Records 1..30 (times 1714564801..1714564830), and one unauthenticated refusal. */
	st = create_store("filters.db", path, sizeof(path));
	append_range(st, 1, 30);
	r = *sample(&s, 31);
	r.client = "";
	r.identity = "";
	r.outcome = "error";
	r.http_status = 400;
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	kms_store_close(st);
	st = open_store(path, KMS_STORE_RO);
	got_init(&g);

	memset(&f, 0, sizeof(f));
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 31);

	f.client = "ue-1"; /* i % 3 == 1: 1, 4, ..., 28 */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 10);
	for (i = 0; i < g.n; i++) {
		CU_ASSERT_STRING_EQUAL(g.recs[i].client, "ue-1");
		CU_ASSERT_EQUAL(g.recs[i].seq, 1 + 3 * i);
	}
	f.client = "UE-1"; /* exact */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 0);
	f.client = ""; /* no client */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 1);
	CU_ASSERT_EQUAL(g.recs[0].seq, 31);

	memset(&f, 0, sizeof(f));
	f.identity = "sip:user2@example.org"; /* i % 4 == 2: 2, 6, ..., 30 */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 8);
	f.client = "ue-0"; /* and i % 3 == 0: 6, 18, 30 */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 3);
	CU_ASSERT(g.n == 3 && g.recs[0].seq == 6 && g.recs[1].seq == 18 && g.recs[2].seq == 30);
	f.outcome = "refused"; /* and i % 5 == 0: 30 */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 1 && g.recs[0].seq == 30);

	memset(&f, 0, sizeof(f));
	f.outcome = "refused";
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 6);
	f.outcome = "error";
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 1 && g.recs[0].seq == 31);

	/* Time: since is inclusive, until exclusive. */
	memset(&f, 0, sizeof(f));
	f.since = 1714564810;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 22 && g.recs[0].seq == 10);
	f.until = 1714564815;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 5 && g.recs[0].seq == 10 && g.recs[4].seq == 14);
	f.since = 0;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 14 && g.recs[13].seq == 14);
	f.since = 1714564814;
	f.until = 1714564815;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT(g.n == 1 && g.recs[0].seq == 14);
	f.since = 1;
	f.until = 2;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 0);

	/* Bad filters. */
	memset(&f, 0, sizeof(f));
	f.since = 10;
	f.until = 10;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	f.until = 9;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	memset(&f, 0, sizeof(f));
	f.since = (uint64_t)INT64_MAX + 1;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_RANGE);
	memset(&f, 0, sizeof(f));
	f.until = UINT64_MAX;
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_RANGE);
	memset(&f, 0, sizeof(f));
	f.client = "a\nb";
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&f, 0, sizeof(f));
	f.identity = big; /* 2049 bytes */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	big[KMS_AUDIT_MAX_CLIENT + 1] = '\0';
	memset(&f, 0, sizeof(f));
	f.client = big; /* 256 bytes */
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	memset(&f, 0, sizeof(f));
	f.outcome = "\xff";
	CU_ASSERT(read_filtered(st, &f, &g) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_read(NULL, NULL, collect, &g) == KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_store_audit_read(st, NULL, NULL, &g) == KMS_ERR_INVALID_ARG);

	/* The callback's value stops the walk and comes back. */
	g.stop_after = 3;
	CU_ASSERT(read_filtered(st, NULL, &g) == 42);
	CU_ASSERT_EQUAL(g.n, 3);
	g.stop_after = 0;

	/* The callback may not use the handle being read (another one is fine). */
	g.self = st;
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 31);
	CU_ASSERT_EQUAL(g.reentry_r[0], KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(g.reentry_r[1], KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(g.reentry_r[2], KMS_ERR_INVALID_ARG);
	g.self = NULL;
	/* The handle works again afterwards. */
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_OK);
	CU_ASSERT_EQUAL(g.n, 31);
	kms_store_close(st);

	/* A malformed record stops the reader with KMS_ERR_PARSE, after the good ones. */
	CU_ASSERT_FATAL(raw_exec(path,
				 "PRAGMA ignore_check_constraints = ON; "
				 "UPDATE audit SET http_status = 42 WHERE seq = 11") == SQLITE_OK);
	st = open_store(path, KMS_STORE_RO);
	CU_ASSERT(read_filtered(st, NULL, &g) == KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(g.n, 10);
	kms_store_close(st);
	free(g.recs);
}

/* ---------------------------------------------------------------------------------------- */
/* kms-admin                                                                                  */

/* Run kms-admin with args (NULL-terminated); its exit status (-1: did not exit) and output. */
static int
run_admin(const char *const *args, char *out, size_t out_cap, char *err, size_t err_cap)
{
	char *argv[32];
	char out_path[512], err_path[512];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t n;
	int status = 0, fd;

	argv[0] = (char *)(uintptr_t)KMS_ADMIN_PATH;
	for (n = 0; args[n] != NULL && n < NUM(argv) - 2; n++) {
		argv[n + 1] = (char *)(uintptr_t)args[n];
	}
	argv[n + 1] = NULL;
	path_of(out_path, sizeof(out_path), "admin.out");
	path_of(err_path, sizeof(err_path), "admin.err");
	CU_ASSERT_FATAL(posix_spawn_file_actions_init(&fa) == 0);
	CU_ASSERT_FATAL(posix_spawn_file_actions_addopen(&fa, 1, out_path,
							 O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
	CU_ASSERT_FATAL(posix_spawn_file_actions_addopen(&fa, 2, err_path,
							 O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
	CU_ASSERT_FATAL(posix_spawn(&pid, KMS_ADMIN_PATH, &fa, NULL, argv, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	fd = open(out_path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	kms_test_read_fd(fd, out, out_cap);
	close(fd);
	fd = open(err_path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	kms_test_read_fd(fd, err, err_cap);
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		n += *s == '\n';
	}
	return n;
}

static void
test_admin_usage(void)
{
	static const struct {
		const char *args[10];
		const char *want_err;
	} bad[] = {
		{{NULL}, "a command is missing"},
		{{"--store", "x.db", NULL}, "a command is missing"},
		{{"--store", NULL}, "--store wants a value"},
		{{"--store=", "audit", "verify", NULL}, "an empty file name"},
		{{"--bogus", NULL}, "unknown option '--bogus'"},
		{{"--store", "x.db", "keys", NULL}, "unknown command 'keys'"},
		{{"--store", "x.db", "audit", NULL}, "'audit' wants a command"},
		{{"--store", "x.db", "audit", "list", NULL}, "unknown audit command 'list'"},
		{{"audit", "verify", NULL}, "--store FILE (or --config kmsd.conf) is required"},
		{{"--store", "a", "audit", "verify", "--store", "b", NULL},
		 "one --store FILE or --config FILE, once"},
		{{"--store", "a", "--config", "b", "audit", "verify", NULL},
		 "one --store FILE or --config FILE, once"},
		{{"--config=", "audit", "verify", NULL}, "--config: an empty file name"},
		{{"--config", NULL}, "--config wants a value"},
		{{"--store", "x.db", "audit", "verify", "--json", NULL},
		 "'audit verify' takes no argument '--json'"},
		{{"--store", "x.db", "audit", "show", "--color", NULL},
		 "'audit show' has no option '--color'"},
		{{"--store", "x.db", "audit", "show", "extra", NULL},
		 "'audit show' takes no argument 'extra'"},
		{{"--store", "x.db", "audit", "show", "--client", NULL}, "--client wants a value"},
		{{"--store", "x.db", "audit", "show", "--client", "a", "--client=b", NULL},
		 "--client given twice"},
		{{"--store", "x.db", "audit", "show", "--client", "a\tb", NULL},
		 "--client: control characters"},
		{{"--store", "x.db", "audit", "show", "--identity", "\xc3(", NULL},
		 "--identity: not valid UTF-8"},
		{{"--store", "x.db", "audit", "show", "--outcome", "Refused", NULL},
		 "--outcome: a word"},
		{{"--store", "x.db", "audit", "show", "--json", "--json", NULL},
		 "--json given twice"},
		{{"--store", "x.db", "audit", "show", "--since", "yesterday", NULL},
		 "--since: 'yesterday' is not a time"},
		{{"--store", "x.db", "audit", "show", "--since", "2023-02-29", NULL},
		 "--since: '2023-02-29' is not a time"},
		{{"--store", "x.db", "audit", "show", "--until", "2024-05-01T24:00:00Z", NULL},
		 "is not a time"},
		{{"--store", "x.db", "audit", "show", "--until", "1969-12-31", NULL},
		 "is not a time"},
		{{"--store", "x.db", "audit", "show", "--since", "99999999999999999999", NULL},
		 "is not a time"},
		{{"--store", "x.db", "audit", "show", "--until", "0", NULL},
		 "no record is older than"},
		{{"--store", "x.db", "audit", "show", "--since", "2024-05-02", "--until",
		  "2024-05-01", NULL},
		 "--since must be before --until"},
	};
	static char out[65536], err[65536];
	size_t i;
	int rc;

	for (i = 0; i < NUM(bad); i++) {
		rc = run_admin(bad[i].args, out, sizeof(out), err, sizeof(err));
		if (rc != 2 || strstr(err, bad[i].want_err) == NULL) {
			fprintf(stderr, "\ncase %zu: exit %d, stderr: %s\n", i, rc, err);
		}
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].want_err));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "try 'kms-admin --help'"));
		CU_ASSERT_EQUAL(count_lines(err), 1);
		CU_ASSERT_STRING_EQUAL(out, "");
	}

	/* Help: exit 0, on stdout. */
	{
		static const char *const h1[] = {"--help", NULL};
		static const char *const h2[] = {"audit", "--help", NULL};
		static const char *const h3[] = {"--store", "x.db", "audit", "show", "-h", NULL};

		CU_ASSERT_EQUAL(run_admin(h1, out, sizeof(out), err, sizeof(err)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit verify"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "--store FILE"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "Exit status"));
		CU_ASSERT_STRING_EQUAL(err, "");
		CU_ASSERT_EQUAL(run_admin(h2, out, sizeof(out), err, sizeof(err)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "--identity U"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit log broken at record N"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "--json prints one JSON object"));
		CU_ASSERT_EQUAL(run_admin(h3, out, sizeof(out), err, sizeof(err)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "--since T"));
	}
}

static void
test_admin_verify_show(void)
{
	static char out[262144], err[65536];
	struct kms_audit_rec r;
	struct kms_store *st;
	struct sample s;
	char path[512], missing[512], line[600];
	const char *args[16];
	json_error_t jerr;
	json_t *j;
	uint64_t seq;
	char *p, *nl;
	size_t n;
	int rc;

	/* Records 1..6 at 2024-05-01T12:00:01Z.., and one with characters to escape. */
	st = create_store("admin.db", path, sizeof(path));
	append_range(st, 1, 6);
	r = *sample(&s, 7);
	r.detail = "quote \" back\\slash \xe2\x80\xae"
		   "evil \xc3\xa9";
	CU_ASSERT(kms_store_audit_append(st, &r, &seq) == KMS_OK);
	kms_store_close(st);

	/* verify: intact. */
	args[0] = "--store";
	args[1] = path;
	args[2] = "audit";
	args[3] = "verify";
	args[4] = NULL;
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(out, "audit log OK: 7 records\n");
	CU_ASSERT_STRING_EQUAL(err, "");
	/* --store after the command, --store=FILE. */
	snprintf(line, sizeof(line), "--store=%s", path);
	args[0] = "audit";
	args[1] = "verify";
	args[2] = line;
	args[3] = NULL;
	CU_ASSERT_EQUAL(run_admin(args, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(out, "audit log OK: 7 records\n");

	/* show: a header and one line per record, escaped. */
	args[0] = "--store";
	args[1] = path;
	args[2] = "audit";
	args[3] = "show";
	args[4] = NULL;
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(count_lines(out), 8);
	CU_ASSERT(strncmp(out, "     SEQ  TIME", 14) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(
		out, "       1  2024-05-01T12:00:01.001Z     200  provisioned  ue-1  "
		     "sip:user1@example.org  trk-ue-1-1  req-1  GET "
		     "/keymanagement/identity/v1/keyprov/sip:user1@example.org  detail 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "       5  2024-05-01T12:00:05.005Z     403  refused "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "quote \" back\\\\slash \\u202eevil \xc3\xa9\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "\xe2\x80\xae"));

	/* show --json: one object per line, which parses back to the stored values. */
	args[4] = "--json";
	args[5] = NULL;
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(count_lines(out), 7);
	n = 0;
	for (p = out; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		j = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
		CU_ASSERT_PTR_NOT_NULL_FATAL(j);
		n++;
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "seq")), (json_int_t)n);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "http_status")),
				n == 5 ? 403 : 200);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "time_s")),
				(json_int_t)(1714564800 + n));
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "time_ns")),
				(json_int_t)(n * 1000001));
		CU_ASSERT_EQUAL(json_string_length(json_object_get(j, "hash")), 64);
		CU_ASSERT_EQUAL(json_string_length(json_object_get(j, "prev_hash")), 64);
		CU_ASSERT_EQUAL(json_object_size(j), 14);
		if (n == 1) {
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "time")),
					       "2024-05-01T12:00:01.001000001Z");
			CU_ASSERT_STRING_EQUAL(
				json_string_value(json_object_get(j, "prev_hash")),
				"0000000000000000000000000000000000000000000000000000"
				"000000000000");
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "client")),
					       "ue-1");
		}
		if (n == 7) {
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "detail")),
					       r.detail);
			CU_ASSERT_PTR_NOT_NULL(strstr(p, "\\u202e"));
		}
		json_decref(j);
	}
	CU_ASSERT_EQUAL(n, 7);

	/* Filters. */
	args[4] = "--client";
	args[5] = "ue-1";
	args[6] = "--json";
	args[7] = NULL;
	CU_ASSERT_EQUAL(run_admin(args, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count_lines(out), 3); /* 1, 4, 7 */
	args[4] = "--outcome=refused";
	args[5] = NULL;
	CU_ASSERT_EQUAL(run_admin(args, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count_lines(out), 2); /* header, 5 */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\n       5  "));
	args[4] = "--since";
	args[5] = "2024-05-01T12:00:03Z";
	args[6] = "--until";
	args[7] = "1714564806";
	args[8] = "--identity";
	args[9] = "sip:user0@example.org";
	args[10] = NULL;
	CU_ASSERT_EQUAL(run_admin(args, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count_lines(out), 2); /* header, 4 */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\n       4  "));
	args[4] = "--since";
	args[5] = "2024-05-02";
	args[6] = NULL;
	CU_ASSERT_EQUAL(run_admin(args, out, sizeof(out), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(count_lines(out), 1); /* the header only */

	/* A broken chain: exit 1 and where. */
	CU_ASSERT_FATAL(raw_exec(path, "UPDATE audit SET detail = 'quiet' WHERE seq = 5") ==
			SQLITE_OK);
	args[0] = "--store";
	args[1] = path;
	args[2] = "audit";
	args[3] = "verify";
	args[4] = NULL;
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_STRING_EQUAL(
		out, "audit log broken at record 5: its hash does not match its content (record "
		     "edited)\n");
	CU_ASSERT_FATAL(raw_exec(path, "DELETE FROM audit WHERE seq = 3") == SQLITE_OK);
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT(strncmp(out, "audit log broken at record 4: its sequence number", 49) == 0);

	/* A malformed record stops show: exit 3, after the records before it. */
	CU_ASSERT_FATAL(raw_exec(path,
				 "PRAGMA ignore_check_constraints = ON; "
				 "UPDATE audit SET outcome = 'Bad' WHERE seq = 6") == SQLITE_OK);
	args[3] = "show";
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 3);
	CU_ASSERT_EQUAL(count_lines(out), 5); /* header, 1, 2, 4, 5 (show checks no hashes) */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a malformed audit record after record 5"));

	/* No such store: exit 3. */
	path_of(missing, sizeof(missing), "missing.db");
	args[1] = missing;
	args[3] = "verify";
	rc = run_admin(args, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open the store"));
	CU_ASSERT_STRING_EQUAL(out, "");
	/* Opened read-only: nothing was created. */
	CU_ASSERT(access(missing, F_OK) != 0);
}

static CU_TestInfo audit_tests[] = {
	{"record hash: golden values", test_golden_hash},
	{"append and read back", test_roundtrip},
	{"append: arguments", test_append_args},
	{"append: read-only handle and file", test_read_only},
	{"append: file size limit", test_file_size_limit},
	{"append: synced before it returns", test_durable},
	{"append: malformed last record", test_bad_head},
	{"append: the write lock held elsewhere", test_busy},
	{"concurrent writers: threads and processes", test_concurrent},
	{"verify: tampering found at the right record", test_tamper},
	{"schema CHECK constraints", test_schema_checks},
	{"reader: filters, stop, re-entry", test_reader_filters},
	{"kms-admin: usage errors and help", test_admin_usage},
	{"kms-admin: verify and show", test_admin_verify_show},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"audit", suite_init, suite_cleanup, NULL, NULL, audit_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed audit checkpoints end to end (label integration): the development domain has an audit
 * key (kms-devsetup: kms.audit in the token, its point in the store, kms-hsmd.conf audit_key);
 * kmsd runs with audit_checkpoint_every = 5 and has kms-hsmd sign a checkpoint every fifth
 * record (kms-hsmd writes it, naming its key), and the last record once more when it stops
 * (SIGTERM). kms-admin audit verify passes, lists the key with its checkpoints, also with --key
 * of the key's fingerprint, and with a second node's key registered (both pinned); it fails with
 * a pin that is not registered, on a copy of the store cut at its end (the last 3 records
 * deleted with SQLite) and on a copy with a byte of a checkpoint's signature flipped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "common/hex.h"
#include "proto/store.h"
#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define EVERY    5
#define REQUESTS 12

static char resp[RESP_CAP];
static char store_path[400];

static int
suite_init(void)
{
	char src[400], dst[400];

	if (it_make_domain("auditcp-it", NULL) != 0) {
		return 1;
	}
	snprintf(store_path, sizeof(store_path), "%s/kms.db", it_dev);
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(dst, sizeof(dst), "%s/kmsd-cp.conf", it_tmp);
	if (it_conf_variant(src, dst, "audit_checkpoint_every = 5\n") != 0) {
		return 1;
	}
	return it_start_domain_kmsd(dst) == 0 ? 0 : 1;
}

static int
suite_cleanup(void)
{
	/* test_checkpoints stopped kmsd already (its exit status was checked there) */
	return 0;
}

/* The number of checkpoints, the last one's seq and the log's last seq, read-only. */
struct cp_count {
	uint64_t n;
	uint64_t last;
};

static int
count_cp(void *arg, const struct kms_audit_checkpoint *cp)
{
	struct cp_count *c = arg;

	c->n++;
	c->last = cp->seq;
	return KMS_OK;
}

static int
read_state(const char *path, struct cp_count *c, uint64_t *head)
{
	uint8_t hash[KMS_AUDIT_HASH_LEN];
	struct kms_store *st = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	*head = 0;
	if ((r = kms_store_open(&st, path, KMS_STORE_RO)) != KMS_OK) {
		return r;
	}
	if ((r = kms_store_checkpoint_walk(st, count_cp, c)) == KMS_OK) {
		r = kms_store_audit_head(st, head, hash);
	}
	kms_store_close(st);
	return r;
}

/* kms-admin --store path audit verify [--key fp [--key fp2]]: its exit status; its output. */
static int
admin_verify2(const char *path, const char *fp, const char *fp2, char *out, size_t cap)
{
	const char *argv[] = {KMS_ADMIN_BIN,
			      "--store",
			      path,
			      "audit",
			      "verify",
			      fp != NULL ? "--key" : NULL,
			      fp,
			      fp2 != NULL ? "--key" : NULL,
			      fp2,
			      NULL};

	return it_run(argv, out, cap);
}

static int
admin_verify(const char *path, const char *fp, char *out, size_t cap)
{
	return admin_verify2(path, fp, NULL, out, cap);
}

/* The registered audit keys: the first one's point and label, and how many. */
struct key_seen {
	uint8_t point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	unsigned int n;
};

static int
see_key(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN], const uint8_t point[KMS_AUDIT_POINT_LEN],
	const char *label)
{
	struct key_seen *k = ctx;

	(void)fp;
	if (k->n++ == 0) {
		memcpy(k->point, point, sizeof(k->point));
		snprintf(k->label, sizeof(k->label), "%s", label);
	}
	return KMS_OK;
}

/* A copy of the store (VACUUM INTO: a consistent copy, whatever is in the WAL), then sql on it. */
static int
copy_and_exec(const char *dst, const char *sql)
{
	char cmd[600];
	sqlite3 *db = NULL;
	int rc;

	(void)unlink(dst);
	snprintf(cmd, sizeof(cmd), "VACUUM INTO '%s'", dst);
	if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, cmd, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_close(db);
	if (sqlite3_open_v2(dst, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static void
test_checkpoints(void)
{
	static char out[16384];
	uint8_t fp[KMS_AUDIT_HASH_LEN], node2[KMS_AUDIT_POINT_LEN], fp2[KMS_AUDIT_HASH_LEN];
	char fp_hex[2 * KMS_AUDIT_HASH_LEN + 1], fp2_hex[2 * KMS_AUDIT_HASH_LEN + 1], want[256];
	char bad_fp[2 * KMS_AUDIT_HASH_LEN + 1], copy[400];
	struct key_seen ks;
	struct kms_store *st = NULL;
	struct cp_count c;
	uint64_t head0 = 0, head = 0, want_n;
	char *body = NULL;
	size_t blen = 0;
	int i, ok = 0;

	CU_ASSERT_EQUAL_FATAL(read_state(store_path, &c, &head0), KMS_OK);
	for (i = 0; i < REQUESTS; i++) {
		ok += it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				 &body, &blen) == 200;
	}
	CU_ASSERT_EQUAL(ok, REQUESTS);

	/* one record per request; a checkpoint at every fifth record, each at the record */
	CU_ASSERT_EQUAL(read_state(store_path, &c, &head), KMS_OK);
	CU_ASSERT_EQUAL(head, head0 + REQUESTS);
	want_n = head / EVERY - head0 / EVERY;
	CU_ASSERT_EQUAL(want_n, 2 + (head0 % EVERY >= 3)); /* 2 when the log started empty */
	CU_ASSERT_EQUAL(c.n, want_n);
	CU_ASSERT_EQUAL(c.last, head / EVERY * EVERY);

	/* SIGTERM: the last record is checkpointed once more */
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL(read_state(store_path, &c, &head), KMS_OK);
	CU_ASSERT_EQUAL(c.n, want_n + (head % EVERY != 0));
	CU_ASSERT_EQUAL(c.last, head);

	/* kms-admin audit verify: passes, names the last checkpoint and the key */
	CU_ASSERT_EQUAL(admin_verify(store_path, NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want),
		 "chain: %llu records verified; checkpoints: %llu verified, the last at record "
		 "%llu (0 records after it not yet checkpointed)\n",
		 (unsigned long long)head, (unsigned long long)c.n, (unsigned long long)head);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	if (strstr(out, want) == NULL) {
		fprintf(stderr, "kms-admin audit verify:\n%s\n", out);
	}
	memset(&ks, 0, sizeof(ks));
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, store_path, KMS_STORE_RO), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_audit_key_list(st, see_key, &ks), KMS_OK);
	kms_store_close(st);
	CU_ASSERT_EQUAL_FATAL(ks.n, 1);
	CU_ASSERT_STRING_EQUAL(ks.label, "kms.audit");
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_key_fingerprint(ks.point, fp), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_hex_encode(fp_hex, sizeof(fp_hex), fp, sizeof(fp)), KMS_OK);
	/* every checkpoint by this node's key (kms-hsmd wrote them) */
	snprintf(want, sizeof(want), "audit key: %s (kms.audit): %llu checkpoints\n", fp_hex,
		 (unsigned long long)c.n);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

	/* --key: the right fingerprint passes, another fails (not registered) */
	CU_ASSERT_EQUAL(admin_verify(store_path, fp_hex, out, sizeof(out)), 0);
	memcpy(bad_fp, fp_hex, sizeof(bad_fp));
	bad_fp[0] = bad_fp[0] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(admin_verify(store_path, bad_fp, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "audit key: %s (--key) is not registered in the store\n",
		 bad_fp);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

	/* a second node's key registered (no checkpoint of its own yet): passes, both listed;
	 * both pinned passes; the second alone pinned fails, the first node's checkpoints being
	 * signed by a key that is not pinned */
	snprintf(copy, sizeof(copy), "%s/two.db", it_tmp);
	CU_ASSERT_EQUAL_FATAL(copy_and_exec(copy, "SELECT 1"), 0);
	memset(node2, 0x42, sizeof(node2));
	node2[0] = 0x04;
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, copy, KMS_STORE_RW), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_put_audit_key(st, node2, "node2.audit"), KMS_OK);
	kms_store_close(st);
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_key_fingerprint(node2, fp2), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_hex_encode(fp2_hex, sizeof(fp2_hex), fp2, sizeof(fp2)), KMS_OK);
	CU_ASSERT_EQUAL(admin_verify(copy, NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "audit key: %s (node2.audit): 0 checkpoints\n", fp2_hex);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_EQUAL(admin_verify2(copy, fp2_hex, fp_hex, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(admin_verify(copy, fp2_hex, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "broken: signed by a key that is not pinned\n"));
	snprintf(want, sizeof(want), "audit key: %s (kms.audit): %llu checkpoints, not pinned\n",
		 fp_hex, (unsigned long long)c.n);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

	/* (a) the last 3 records deleted: the chain is intact, the last checkpoint is cut off */
	snprintf(copy, sizeof(copy), "%s/cut.db", it_tmp);
	snprintf(want, sizeof(want), "DELETE FROM audit WHERE seq > %llu",
		 (unsigned long long)(head - 3));
	CU_ASSERT_EQUAL_FATAL(copy_and_exec(copy, want), 0);
	CU_ASSERT_EQUAL(admin_verify(copy, NULL, out, sizeof(out)), 1);
	/* the first checkpoint past the new end: a multiple of 5, or the one made at SIGTERM */
	want_n = ((head - 3) / EVERY + 1) * EVERY;
	snprintf(want, sizeof(want), "checkpoint at record %llu broken: it covers a record beyond",
		 (unsigned long long)(want_n < head ? want_n : head));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

	/* (b) a byte of the first checkpoint's signature flipped */
	snprintf(copy, sizeof(copy), "%s/sig.db", it_tmp);
	CU_ASSERT_EQUAL_FATAL(
		copy_and_exec(copy, "UPDATE audit_checkpoints SET sig = CAST(substr(sig, 1, 9) || "
				    "CASE WHEN substr(sig, 10, 1) = x'00' THEN x'01' ELSE x'00' "
				    "END || substr(sig, 11) AS BLOB) WHERE seq = (SELECT min(seq) "
				    "FROM audit_checkpoints)"),
		0);
	CU_ASSERT_EQUAL(admin_verify(copy, NULL, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "broken: its signature does not verify"));
}

static CU_TestInfo audit_cp_tests[] = {
	{"checkpoints every 5 records and at SIGTERM; kms-admin audit verify", test_checkpoints},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"signed audit checkpoints", suite_init, suite_cleanup, NULL, NULL, audit_cp_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store on a full and on a read-only file system (label integration), for real: the test
 * runs in a mount namespace of its own (unshare(2), root only; skipped with 77 otherwise) and
 * puts the store of a development domain on a small tmpfs.
 * - Full: kmsd serving, the WAL emptied (so every append needs new blocks), the tmpfs filled to
 *   the last block: each keyprov answers 503 with Retry-After and no key material (no response
 *   without its audit record), kmsd carries on and says why in its log; with room again it
 *   provisions, stops cleanly, and the audit chain verifies.
 * - Read-only: kmsd --check with the store's file system mounted read-only refuses to start:
 *   kms-hsmd cannot open the store for writing, and kmsd reports its exit status (a start-up
 *   check failed), not the kill that would otherwise follow; read-write again, it starts.
 */
#define _GNU_SOURCE /* unshare, strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static char vol[300];   /* the tmpfs */
static char store[320]; /* the store on it */
static char resp[RESP_CAP];
static int mounted;

/* Copy src to dst (a new file). 0, or -1. */
static int
copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ssize_t n = 0;
	int r = in >= 0 && out >= 0 ? 0 : -1;

	while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		r = write(out, buf, (size_t)n) == n ? 0 : -1;
	}
	r = r == 0 && n == 0 && fsync(out) == 0 ? 0 : -1;
	if (in >= 0) {
		(void)close(in);
	}
	if (out >= 0 && close(out) != 0) {
		r = -1;
	}
	return r;
}

static int
suite_init(void)
{
	char src[400], over[800];

	if (it_make_domain("disk", NULL) != 0) {
		return 1;
	}
	snprintf(vol, sizeof(vol), "%s/vol", it_tmp);
	snprintf(store, sizeof(store), "%s/kms.db", vol);
	if (mkdir(vol, 0700) != 0 ||
	    mount("tmpfs", vol, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") != 0) {
		fprintf(stderr, "cannot mount a tmpfs on %s: %s\n", vol, strerror(errno));
		return 1;
	}
	mounted = 1;
	snprintf(src, sizeof(src), "%s/kms.db", it_dev);
	if (copy_file(src, store) != 0) {
		return 1;
	}
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(over, sizeof(over), "store = %s\nthreads = 2\n", store);
	if (it_conf_variant(src, src, over) != 0) {
		return 1;
	}
	snprintf(src, sizeof(src), "%s/kms-hsmd.conf", it_dev);
	snprintf(over, sizeof(over), "store = %s\n", store);
	return it_conf_variant(src, src, over) == 0 ? 0 : 1;
}

static int
suite_cleanup(void)
{
	if (it_kmsd_pid > 0) {
		(void)it_stop_kmsd();
	}
	if (mounted) {
		(void)umount2(vol, MNT_DETACH);
	}
	return it_suite_cleanup();
}

/* keyprov as bob: its status; a refusal must carry no key material and a Retry-After. */
static int
keyprov(void)
{
	char *body = NULL;
	size_t blen = 0;
	int s = it_request("bob", "POST", ROOT "/keyprov", NULL, NULL, 0, resp, sizeof(resp), &body,
			   &blen);

	if (s != 200 && body != NULL) {
		CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
		CU_ASSERT_PTR_NULL(strstr(body, "KmsKeySet"));
	}
	if (s == 503) {
		CU_ASSERT_PTR_NOT_NULL(strcasestr(resp, "retry-after: "));
	}
	return s;
}

/* Empty the WAL into the database (kmsd idle): every later append needs new blocks. */
static int
truncate_wal(void)
{
	sqlite3 *db = NULL;
	int r = -1, i;

	/* a first statement reads the header: the connection knows the file is in WAL mode */
	if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	for (i = 0; i < 50 && r != 0; i++) {
		int log = -1, done = -1;

		r = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) ==
					    SQLITE_OK &&
				    log == 0
			    ? 0
			    : -1;
		if (r != 0) {
			fprintf(stderr, "checkpoint: %s (log %d, done %d)\n", sqlite3_errmsg(db),
				log, done);
			usleep(100000);
		}
	}
	sqlite3_close(db);
	return r;
}

/* Fill the file system of vol to the last block with path. 0 when it is full, or -1. */
static int
fill(const char *path)
{
	static char block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t step = sizeof(block);
	ssize_t n;

	if (fd < 0) {
		return -1;
	}
	memset(block, 0xa5, sizeof(block));
	while (step > 0) {
		n = write(fd, block, step);
		if (n < 0 && errno == ENOSPC) {
			step /= 2;
		} else if (n <= 0) {
			(void)close(fd);
			return -1;
		}
	}
	(void)close(fd);
	return 0;
}

static void
test_disk_full(void)
{
	char filler[340], log[1 << 16];
	const char *verify[] = {KMS_ADMIN_BIN, "--store", store, "audit", "verify", NULL};
	int i, ok = 0, fd;

	snprintf(filler, sizeof(filler), "%s/filler", vol);
	CU_ASSERT_FATAL(it_start_domain_kmsd(NULL) == 0);
	CU_ASSERT_EQUAL(keyprov(), 200);
	CU_ASSERT_EQUAL_FATAL(truncate_wal(), 0);
	CU_ASSERT_EQUAL_FATAL(fill(filler), 0);

	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(keyprov(), 503);
	}
	CU_ASSERT_EQUAL(kill(it_kmsd_pid, 0), 0);
	if ((fd = open(it_log, O_RDONLY)) >= 0) {
		log[kms_test_read_fd(fd, log, sizeof(log) - 1)] = '\0';
		(void)close(fd);
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "audit record not written"));
	} else {
		CU_FAIL("kmsd's log cannot be read");
	}

	/* room again: provisioning resumes */
	CU_ASSERT_EQUAL(unlink(filler), 0);
	for (i = 0; i < 20 && !ok; i++) {
		ok = keyprov() == 200;
		if (!ok) {
			usleep(250000);
		}
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL(it_run(verify, resp, sizeof(resp)), 0);
}

static void
test_read_only(void)
{
	char conf[400];
	const char *argv[] = {KMSD_BIN, "-c", conf, "--check", NULL};

	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	CU_ASSERT_FATAL(it_kmsd_pid <= 0);
	CU_ASSERT_EQUAL_FATAL(mount(NULL, vol, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	CU_ASSERT_EQUAL(it_run(argv, resp, sizeof(resp)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "cannot open"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, store));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "exit status 3 (a start-up check failed)"));
	CU_ASSERT_EQUAL_FATAL(mount(NULL, vol, NULL, MS_REMOUNT, NULL), 0);
	CU_ASSERT_EQUAL(it_run(argv, resp, sizeof(resp)), 0);
}

static CU_TestInfo tests[] = {
	{"a full file system: 503 without material, then recovery", test_disk_full},
	{"a read-only file system: kmsd does not start, and says why", test_read_only},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"the store's file system", suite_init, suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		printf("SKIPPED: mounting a tmpfs needs root\n");
		return 77;
	}
	/* a mount namespace of our own: the tmpfs is gone with the test's processes */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		printf("SKIPPED: no mount namespace here (%s)\n", strerror(errno));
		return 77;
	}
	return kms_test_main(suites);
}

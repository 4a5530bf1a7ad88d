/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/log.h"
#include "common/secmem.h"
#include "hsm/pin.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* What a PIN looks like in the leak test: it must never show up in the log. */
#define SENTINEL "S3nt1nel-PIN-6b1f0e"

static char dir[PATH_MAX / 2]; /* a private temporary directory for the files */
static char logpath[PATH_MAX]; /* where the log goes during this suite */
static int logfd = -1;

static int
suite_init(void)
{
	int n;

	if (kms_test_tmpdir(dir, sizeof(dir), "pin") != 0) {
		return 1;
	}
	n = snprintf(logpath, sizeof(logpath), "%s/log", dir);
	if (n < 0 || (size_t)n >= sizeof(logpath)) {
		return 1;
	}
	logfd = kms_test_log_capture(logpath, "test_pin");
	return logfd < 0;
}

static int
suite_cleanup(void)
{
	kms_test_log_release(logfd);
	logfd = -1;
	kms_test_rmdir(dir);
	return 0;
}

/* dir/name, in a static buffer (one at a time) */
static const char *
path_of(const char *name)
{
	static char p[PATH_MAX];

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* Write len bytes to dir/name with the given mode (exactly: no umask). */
static const char *
put(const char *name, const void *data, size_t len, mode_t mode)
{
	const char *p = path_of(name);
	int fd;

	(void)unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
	return p;
}

static const char *
put_str(const char *name, const char *s, mode_t mode)
{
	return put(name, s, strlen(s), mode);
}

/* Read a PIN file and compare with want (NULL: expect the error err). */
static void
expect(const char *path, int err, const char *want, size_t want_len)
{
	struct kms_secret *pin = (struct kms_secret *)(uintptr_t)1;
	int r;

	r = kms_pin_read_file(&pin, path);
	if (r != err) {
		fprintf(stderr, "\n%s: %s, expected %s\n", path, kms_err_name(r),
			kms_err_name(err));
	}
	CU_ASSERT_EQUAL(r, err);
	if (err != KMS_OK) {
		CU_ASSERT_PTR_NULL(pin);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(pin);
	CU_ASSERT_EQUAL(pin->len, want_len);
	CU_ASSERT(pin->len == want_len && memcmp(pin->data, want, want_len) == 0);
	kms_secret_free(pin);
}

static void
test_good_files(void)
{
	char big[KMS_MAX_PIN];

	expect(put_str("a", "123456\n", 0600), KMS_OK, "123456", 6);
	expect(put_str("b", "123456", 0600), KMS_OK, "123456", 6);
	expect(put_str("c", "123456", 0400), KMS_OK, "123456", 6);
	expect(put_str("d", "123456", 0700), KMS_OK, "123456", 6);
	/* one newline goes, a second stays; so does a CR; other bytes are the PIN's */
	expect(put_str("e", "1234\n\n", 0600), KMS_OK, "1234\n", 5);
	expect(put_str("f", "abc\r\n", 0600), KMS_OK, "abc\r", 4);
	expect(put_str("g", " pin with spaces ", 0600), KMS_OK, " pin with spaces ", 17);
	expect(put("h", "a\0b", 3, 0600), KMS_OK, "a\0b", 3);
	expect(put_str("i", "x", 0600), KMS_OK, "x", 1);
	/* the largest file: KMS_MAX_PIN bytes, with or without the newline */
	memset(big, 'p', sizeof(big));
	expect(put("j", big, sizeof(big), 0600), KMS_OK, big, sizeof(big));
	big[sizeof(big) - 1] = '\n';
	expect(put("k", big, sizeof(big), 0600), KMS_OK, big, sizeof(big) - 1);
}

static void
test_refused_files(void)
{
	char big[KMS_MAX_PIN + 1];

	/* group or others may read or write */
	expect(put_str("m1", "123456\n", 0644), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m2", "123456\n", 0640), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m3", "123456\n", 0604), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m4", "123456\n", 0620), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m5", "123456\n", 0602), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m6", "123456\n", 0610), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("m7", "123456\n", 0601), KMS_ERR_PIN_FILE, NULL, 0);
	/* empty, or only the newline */
	expect(put_str("e1", "", 0600), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("e2", "\n", 0600), KMS_ERR_PIN_FILE, NULL, 0);
	/* one byte over the limit */
	memset(big, 'p', sizeof(big));
	expect(put("big", big, sizeof(big), 0600), KMS_ERR_TOO_LARGE, NULL, 0);
	big[sizeof(big) - 1] = '\n';
	expect(put("big2", big, sizeof(big), 0600), KMS_ERR_TOO_LARGE, NULL, 0);
	/* missing, relative, NULL */
	expect(path_of("does-not-exist"), KMS_ERR_IO, NULL, 0);
	expect("relative/pin", KMS_ERR_INVALID_ARG, NULL, 0);
	expect(NULL, KMS_ERR_INVALID_ARG, NULL, 0);
}

static void
test_not_regular(void)
{
	char target[PATH_MAX];

	/* a symbolic link to a good file: refused, not followed */
	(void)snprintf(target, sizeof(target), "%s", put_str("target", "123456\n", 0600));
	(void)unlink(path_of("link"));
	CU_ASSERT_FATAL(symlink(target, path_of("link")) == 0);
	expect(path_of("link"), KMS_ERR_PIN_FILE, NULL, 0);
	/* a dangling one too */
	(void)snprintf(target, sizeof(target), "%s", path_of("nowhere"));
	(void)unlink(path_of("dangling"));
	CU_ASSERT_FATAL(symlink(target, path_of("dangling")) == 0);
	expect(path_of("dangling"), KMS_ERR_PIN_FILE, NULL, 0);
	/* a directory */
	CU_ASSERT_FATAL(mkdir(path_of("subdir"), 0700) == 0);
	expect(path_of("subdir"), KMS_ERR_PIN_FILE, NULL, 0);
	/* a FIFO: refused without blocking on the open */
	CU_ASSERT_FATAL(mkfifo(path_of("fifo"), 0600) == 0);
	expect(path_of("fifo"), KMS_ERR_PIN_FILE, NULL, 0);
	/* a character device */
	expect("/dev/null", KMS_ERR_PIN_FILE, NULL, 0);
}

static void
test_owner(void)
{
	const char *p = put_str("owned", "123456\n", 0600);

	if (geteuid() != 0) {
		fprintf(stderr, "(skipped: chown needs root) ");
		return;
	}
	CU_ASSERT_FATAL(chown(p, 65534, 65534) == 0);
	expect(p, KMS_ERR_PIN_FILE, NULL, 0);
	/* root-owned files are fine whoever we are (systemd credentials are) */
	CU_ASSERT_FATAL(chown(p, 0, 0) == 0);
	expect(p, KMS_OK, "123456", 6);
}

/* Give dir/name an access ACL: owner rw, one named user with perm, group and other as given. */
static int
set_acl(const char *p, uint32_t user, unsigned int perm, unsigned int group_perm)
{
	uint8_t acl[4 + 5 * 8];
	size_t n = 0;
	const struct {
		uint16_t tag, perm;
		uint32_t id;
	} e[] = {
		{0x01, 6, 0xffffffffu},                    /* ACL_USER_OBJ rw- */
		{0x02, (uint16_t)perm, user},              /* ACL_USER */
		{0x04, (uint16_t)group_perm, 0xffffffffu}, /* ACL_GROUP_OBJ */
		{0x10, 4, 0xffffffffu},                    /* ACL_MASK r-- */
		{0x20, 0, 0xffffffffu},                    /* ACL_OTHER --- */
	};
	size_t i;

	acl[n++] = 2;
	acl[n++] = 0;
	acl[n++] = 0;
	acl[n++] = 0;
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		acl[n++] = (uint8_t)e[i].tag;
		acl[n++] = (uint8_t)(e[i].tag >> 8);
		acl[n++] = (uint8_t)e[i].perm;
		acl[n++] = (uint8_t)(e[i].perm >> 8);
		acl[n++] = (uint8_t)e[i].id;
		acl[n++] = (uint8_t)(e[i].id >> 8);
		acl[n++] = (uint8_t)(e[i].id >> 16);
		acl[n++] = (uint8_t)(e[i].id >> 24);
	}
	return setxattr(p, "system.posix_acl_access", acl, n, 0);
}

/*
 * systemd hands a credential to a non-root service as a root-owned 0400 file plus an ACL entry
 * for the service's user, which makes stat() show mode 0440 (the ACL mask). That is accepted;
 * an ACL that lets anyone else in is not.
 */
static void
test_acl(void)
{
	struct stat st;
	const char *p = put_str("acl-ours", "123456\n", 0600);

	if (set_acl(p, (uint32_t)geteuid(), 4, 0) != 0) {
		fprintf(stderr, "(skipped: no ACLs here: %s) ", strerror(errno));
		return;
	}
	CU_ASSERT_FATAL(stat(p, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 077, 040); /* the mask shows as group read */
	expect(p, KMS_OK, "123456", 6);

	p = put_str("acl-other-user", "123456\n", 0600);
	CU_ASSERT_FATAL(set_acl(p, (uint32_t)geteuid() + 4242u, 4, 0) == 0);
	expect(p, KMS_ERR_PIN_FILE, NULL, 0);

	p = put_str("acl-group", "123456\n", 0600);
	CU_ASSERT_FATAL(set_acl(p, (uint32_t)geteuid(), 4, 4) == 0);
	expect(p, KMS_ERR_PIN_FILE, NULL, 0);
}

static void
test_credential(void)
{
	struct kms_secret *pin = NULL;
	static const char *bad[] = {"", ".pin", "..", "../pin", "a/b", "pin\n", "p in", NULL};
	char longname[300];
	size_t i;

	(void)put_str("user-pin", "654321\n", 0400);
	CU_ASSERT_FATAL(setenv("CREDENTIALS_DIRECTORY", dir, 1) == 0);
	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, "user-pin"), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pin);
	CU_ASSERT(pin->len == 6 && memcmp(pin->data, "654321", 6) == 0);
	kms_secret_free(pin);
	pin = NULL;

	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, "missing"), KMS_ERR_IO);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, bad[i]), KMS_ERR_INVALID_ARG);
		CU_ASSERT_PTR_NULL(pin);
	}
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, longname), KMS_ERR_INVALID_ARG);

	CU_ASSERT_FATAL(setenv("CREDENTIALS_DIRECTORY", "relative/dir", 1) == 0);
	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, "user-pin"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_FATAL(unsetenv("CREDENTIALS_DIRECTORY") == 0);
	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, "user-pin"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(pin);
}

/*
 * The leak test: the sentinel PIN sits in files that every error path refuses (and in one that
 * is read fine); the log, at debug level, must carry none of it.
 */
static void
test_sentinel_never_logged(void)
{
	char big[KMS_MAX_PIN * 2];
	char target[PATH_MAX];
	static char logbuf[64 * 1024];
	struct kms_secret *pin = NULL;
	size_t i, len;

	CU_ASSERT_FATAL(ftruncate(logfd, 0) == 0);
	expect(put_str("s1", SENTINEL "\n", 0644), KMS_ERR_PIN_FILE, NULL, 0);
	expect(put_str("s2", SENTINEL, 0660), KMS_ERR_PIN_FILE, NULL, 0);
	for (i = 0; i + sizeof(SENTINEL) - 1 <= sizeof(big); i += sizeof(SENTINEL) - 1) {
		memcpy(big + i, SENTINEL, sizeof(SENTINEL) - 1);
	}
	expect(put("s3", big, i, 0600), KMS_ERR_TOO_LARGE, NULL, 0);
	(void)snprintf(target, sizeof(target), "%s", put_str("s4", SENTINEL, 0600));
	(void)unlink(path_of("s4-link"));
	CU_ASSERT_FATAL(symlink(target, path_of("s4-link")) == 0);
	expect(path_of("s4-link"), KMS_ERR_PIN_FILE, NULL, 0);
	if (set_acl(put_str("s5", SENTINEL, 0600), (uint32_t)geteuid() + 1u, 4, 0) == 0) {
		expect(path_of("s5"), KMS_ERR_PIN_FILE, NULL, 0);
	}
	/* and the good path */
	CU_ASSERT_EQUAL(kms_pin_read_file(&pin, target), KMS_OK);
	kms_secret_free(pin);
	/* a credential name is not secret, but a PIN typed in its place must not leak either */
	CU_ASSERT_FATAL(setenv("CREDENTIALS_DIRECTORY", dir, 1) == 0);
	CU_ASSERT_EQUAL(kms_pin_read_credential(&pin, "../" SENTINEL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_FATAL(unsetenv("CREDENTIALS_DIRECTORY") == 0);

	len = kms_test_read_fd(logfd, logbuf, sizeof(logbuf));
	CU_ASSERT(len > 0);
	/* the refusals were logged (the test is not vacuous) ... */
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "refused: mode 0644"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "refused: larger than"));
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "refused: a symbolic link"));
	/* ... and never the PIN, nor a piece of it */
	CU_ASSERT_PTR_NULL(strstr(logbuf, SENTINEL));
	CU_ASSERT_PTR_NULL(strstr(logbuf, "S3nt1nel"));
	CU_ASSERT_PTR_NULL(strstr(logbuf, "PIN-6b1f0e"));
}

static CU_TestInfo pin_tests[] = {
	{"good files, newline handling", test_good_files},
	{"refused files: mode, empty, size", test_refused_files},
	{"symlinks, directories, FIFOs, devices", test_not_regular},
	{"owner", test_owner},
	{"ACLs (systemd credentials)", test_acl},
	{"systemd credentials", test_credential},
	{"the PIN never reaches the log", test_sentinel_never_logged},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"pin", suite_init, suite_cleanup, NULL, NULL, pin_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/unit/kms_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "common/hex.h"
#include "common/log.h"

#include "common/banned.h"

int
kms_test_main(CU_SuiteInfo *suites)
{
	unsigned int failed_tests;
	unsigned int failures;
	unsigned int run;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: cannot initialise the registry\n");
		return 2;
	}
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: cannot register suites: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: run failed: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	failed_tests = CU_get_number_of_tests_failed();
	failures = CU_get_number_of_failures();
	run = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (failed_tests > 0 || failures > 0) {
		return 1;
	}
	if (run == 0) {
		fprintf(stderr, "CUnit: no test ran\n");
		return 1;
	}
	return 0;
}

size_t
kms_test_hex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = 0;

	if (kms_hex_decode_loose(out, cap, &n, hex) != KMS_OK) {
		fprintf(stderr, "test vector is not hex: %.40s...\n", hex);
		abort();
	}
	return n;
}

int
kms_test_all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0) {
			return 0;
		}
	}
	return 1;
}

/* Remove name (relative to dir) and, if it is a directory, everything below it, never following
 * a symbolic link; at most 32 levels. 0, or -1 if something stayed. */
static int
rmtree_at(int dir, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd, r = 0;

	if (unlinkat(dir, name, 0) == 0 || errno == ENOENT) {
		return 0;
	}
	if (depth >= 32) {
		return -1;
	}
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    rmtree_at(dirfd(d), e->d_name, depth + 1) != 0) {
			r = -1;
		}
	}
	closedir(d);
	return unlinkat(dir, name, AT_REMOVEDIR) == 0 ? r : -1;
}

void
kms_test_rmdir(const char *path)
{
	(void)rmtree_at(AT_FDCWD, path, 0);
}

size_t
kms_test_read_fd(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1 && (n = pread(fd, buf + len, cap - 1 - len, (off_t)len)) > 0) {
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

int
kms_test_tmpdir(char *out, size_t cap, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(out, cap, "%s/kms-test-%s.XXXXXX", tmp != NULL ? tmp : "/tmp", name);

	if (n < 0 || (size_t)n >= cap || mkdtemp(out) == NULL) {
		return -1;
	}
	return 0;
}

int
kms_test_log_capture(const char *path, const char *program)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0) {
		return -1;
	}
	kms_log_init(program, KMS_LOG_DEBUG);
	kms_log_set_fd(fd);
	return fd;
}

void
kms_test_log_release(int fd)
{
	kms_log_set_fd(STDERR_FILENO);
	if (fd >= 0) {
		close(fd);
	}
}

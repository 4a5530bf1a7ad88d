/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TESTS_UNIT_KMS_TEST_H
#define KMS_TESTS_UNIT_KMS_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

/*
 * kms_test_main - register the NULL-terminated suite table, run it with the basic runner and
 * return the process exit status: 0 only if every test ran and no assertion failed.
 * (CUnit's CU_basic_run_tests() reports success even when assertions fail: this checks
 * CU_get_number_of_tests_failed() and CU_get_number_of_failures().)
 * Usage: int main(void) { return kms_test_main(suites); }
 */
int kms_test_main(CU_SuiteInfo *suites);

/*
 * kms_test_hex - decode hex text (whitespace between digits allowed) into out (cap bytes);
 * returns the number of bytes; aborts the test program on malformed text (a broken vector is
 * a bug in the test, not a failure of the code under test).
 */
size_t kms_test_hex(uint8_t *out, size_t cap, const char *hex);

/* kms_test_all_zero - 1 if all len bytes at p are zero, else 0. */
int kms_test_all_zero(const uint8_t *p, size_t len);

/*
 * kms_test_rmdir - remove the test directory path and everything below it (at most 32 levels),
 * never following a symbolic link. Errors are ignored.
 */
void kms_test_rmdir(const char *path);

/* kms_test_read_fd - everything in the file fd from its start, NUL-terminated (at most cap - 1). */
size_t kms_test_read_fd(int fd, char *buf, size_t cap);

/*
 * kms_test_tmpdir - make a private directory "$TMPDIR/kms-test-<name>.XXXXXX" (/tmp when TMPDIR
 * is unset) into out (cap bytes). 0 on success, -1 otherwise.
 */
int kms_test_tmpdir(char *out, size_t cap, const char *name);

/*
 * kms_test_log_capture - send kms_log() (at every level, as program) to the file path, created
 * or emptied, mode 0600, so a test can read what was logged (kms_test_read_fd). Returns the
 * file's descriptor, or -1. kms_test_log_release - send the log back to stderr and close fd.
 */
int kms_test_log_capture(const char *path, const char *program);
void kms_test_log_release(int fd);

#endif /* KMS_TESTS_UNIT_KMS_TEST_H */

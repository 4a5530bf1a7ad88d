/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* dladdr: to find a shared library that is not a PKCS#11 module */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/log.h"
#include "hsm/p11.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/*
 * The parts of hsm/p11.c that need no token: the CK_RV map and the configuration checks that
 * come before the module is touched. tests/hsm/ runs the rest against SoftHSM.
 */

#define SENTINEL "S3nt1nel-PIN-in-a-URI-93c2"

/* ---- the CK_RV map: every entry of the switch, by what the caller can do ---- */

struct rv_case {
	CK_RV rv;
	const char *name;
	int err;
};

#define RV(code, err)                                                                              \
	{                                                                                          \
		code, #code, err                                                                   \
	}

static const struct rv_case rv_cases[] = {
	/* success */
	RV(CKR_OK, KMS_OK),
	/* the token, the device, the session or the login is gone: restart */
	RV(CKR_SLOT_ID_INVALID, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_DEVICE_ERROR, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_DEVICE_REMOVED, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_SESSION_CLOSED, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_SESSION_HANDLE_INVALID, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_TOKEN_NOT_PRESENT, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_TOKEN_NOT_RECOGNIZED, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_USER_NOT_LOGGED_IN, KMS_ERR_HSM_UNAVAIL),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED, KMS_ERR_HSM_UNAVAIL),
	/* the PIN */
	RV(CKR_PIN_INCORRECT, KMS_ERR_HSM_PIN),
	RV(CKR_PIN_INVALID, KMS_ERR_HSM_PIN),
	RV(CKR_PIN_LEN_RANGE, KMS_ERR_HSM_PIN),
	RV(CKR_PIN_EXPIRED, KMS_ERR_HSM_PIN),
	RV(CKR_PIN_LOCKED, KMS_ERR_HSM_PIN),
	RV(CKR_USER_PIN_NOT_INITIALIZED, KMS_ERR_HSM_PIN),
	RV(CKR_PIN_TOO_WEAK, KMS_ERR_HSM_PIN),
	/* not offered by this module or token */
	RV(CKR_NEED_TO_CREATE_THREADS, KMS_ERR_UNSUPPORTED),
	RV(CKR_CANT_LOCK, KMS_ERR_UNSUPPORTED),
	RV(CKR_FUNCTION_NOT_PARALLEL, KMS_ERR_UNSUPPORTED),
	RV(CKR_FUNCTION_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED),
	RV(CKR_MECHANISM_INVALID, KMS_ERR_UNSUPPORTED),
	RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED),
	RV(CKR_RANDOM_SEED_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED),
	RV(CKR_RANDOM_NO_RNG, KMS_ERR_UNSUPPORTED),
	RV(CKR_CURVE_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED),
	/* data that failed verification */
	RV(CKR_ENCRYPTED_DATA_INVALID, KMS_ERR_AUTH),
	RV(CKR_SIGNATURE_INVALID, KMS_ERR_AUTH),
	RV(CKR_SIGNATURE_LEN_RANGE, KMS_ERR_AUTH),
	RV(CKR_WRAPPED_KEY_INVALID, KMS_ERR_AUTH),
	/* ours: memory, buffers, arguments; the token's session limit */
	RV(CKR_HOST_MEMORY, KMS_ERR_NOMEM),
	RV(CKR_BUFFER_TOO_SMALL, KMS_ERR_TOO_LARGE),
	RV(CKR_ARGUMENTS_BAD, KMS_ERR_INTERNAL),
	RV(CKR_SESSION_COUNT, KMS_ERR_HSM_BUSY),
	/* everything else: the token said no */
	RV(CKR_CANCEL, KMS_ERR_HSM),
	RV(CKR_GENERAL_ERROR, KMS_ERR_HSM),
	RV(CKR_FUNCTION_FAILED, KMS_ERR_HSM),
	RV(CKR_NO_EVENT, KMS_ERR_HSM),
	RV(CKR_ATTRIBUTE_READ_ONLY, KMS_ERR_HSM),
	RV(CKR_ATTRIBUTE_SENSITIVE, KMS_ERR_HSM),
	RV(CKR_ATTRIBUTE_TYPE_INVALID, KMS_ERR_HSM),
	RV(CKR_ATTRIBUTE_VALUE_INVALID, KMS_ERR_HSM),
	RV(CKR_ACTION_PROHIBITED, KMS_ERR_HSM),
	RV(CKR_DATA_INVALID, KMS_ERR_HSM),
	RV(CKR_DATA_LEN_RANGE, KMS_ERR_HSM),
	RV(CKR_DEVICE_MEMORY, KMS_ERR_HSM),
	RV(CKR_ENCRYPTED_DATA_LEN_RANGE, KMS_ERR_HSM),
	RV(CKR_FUNCTION_CANCELED, KMS_ERR_HSM),
	RV(CKR_KEY_HANDLE_INVALID, KMS_ERR_HSM),
	RV(CKR_KEY_SIZE_RANGE, KMS_ERR_HSM),
	RV(CKR_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM),
	RV(CKR_KEY_NOT_NEEDED, KMS_ERR_HSM),
	RV(CKR_KEY_CHANGED, KMS_ERR_HSM),
	RV(CKR_KEY_NEEDED, KMS_ERR_HSM),
	RV(CKR_KEY_INDIGESTIBLE, KMS_ERR_HSM),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED, KMS_ERR_HSM),
	RV(CKR_KEY_NOT_WRAPPABLE, KMS_ERR_HSM),
	RV(CKR_KEY_UNEXTRACTABLE, KMS_ERR_HSM),
	RV(CKR_MECHANISM_PARAM_INVALID, KMS_ERR_HSM),
	RV(CKR_OBJECT_HANDLE_INVALID, KMS_ERR_HSM),
	RV(CKR_OPERATION_ACTIVE, KMS_ERR_HSM),
	RV(CKR_OPERATION_NOT_INITIALIZED, KMS_ERR_HSM),
	RV(CKR_SESSION_READ_ONLY, KMS_ERR_HSM),
	RV(CKR_SESSION_EXISTS, KMS_ERR_HSM),
	RV(CKR_SESSION_READ_ONLY_EXISTS, KMS_ERR_HSM),
	RV(CKR_SESSION_READ_WRITE_SO_EXISTS, KMS_ERR_HSM),
	RV(CKR_TEMPLATE_INCOMPLETE, KMS_ERR_HSM),
	RV(CKR_TEMPLATE_INCONSISTENT, KMS_ERR_HSM),
	RV(CKR_TOKEN_WRITE_PROTECTED, KMS_ERR_HSM),
	RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID, KMS_ERR_HSM),
	RV(CKR_UNWRAPPING_KEY_SIZE_RANGE, KMS_ERR_HSM),
	RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM),
	RV(CKR_USER_ALREADY_LOGGED_IN, KMS_ERR_HSM), /* success only for C_Login, there */
	RV(CKR_USER_TYPE_INVALID, KMS_ERR_HSM),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, KMS_ERR_HSM),
	RV(CKR_USER_TOO_MANY_TYPES, KMS_ERR_HSM),
	RV(CKR_WRAPPED_KEY_LEN_RANGE, KMS_ERR_HSM),
	RV(CKR_WRAPPING_KEY_HANDLE_INVALID, KMS_ERR_HSM),
	RV(CKR_WRAPPING_KEY_SIZE_RANGE, KMS_ERR_HSM),
	RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM),
	RV(CKR_DOMAIN_PARAMS_INVALID, KMS_ERR_HSM),
	RV(CKR_SAVED_STATE_INVALID, KMS_ERR_HSM),
	RV(CKR_INFORMATION_SENSITIVE, KMS_ERR_HSM),
	RV(CKR_STATE_UNSAVEABLE, KMS_ERR_HSM),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, KMS_ERR_HSM),
	RV(CKR_MUTEX_BAD, KMS_ERR_HSM),
	RV(CKR_MUTEX_NOT_LOCKED, KMS_ERR_HSM),
	RV(CKR_NEW_PIN_MODE, KMS_ERR_HSM),
	RV(CKR_NEXT_OTP, KMS_ERR_HSM),
	RV(CKR_EXCEEDED_MAX_ITERATIONS, KMS_ERR_HSM),
	RV(CKR_FIPS_SELF_TEST_FAILED, KMS_ERR_HSM),
	RV(CKR_LIBRARY_LOAD_FAILED, KMS_ERR_HSM),
	RV(CKR_PUBLIC_KEY_INVALID, KMS_ERR_HSM),
	RV(CKR_FUNCTION_REJECTED, KMS_ERR_HSM),
	RV(CKR_VENDOR_DEFINED, KMS_ERR_HSM),
};

#define NUM_RV_CASES (sizeof(rv_cases) / sizeof(rv_cases[0]))

/* Every CKR_ value of <p11-kit/pkcs11.h> (95 with CKR_OK and CKR_VENDOR_DEFINED). */
static void
test_rv_every_entry(void)
{
	size_t i, j;

	CU_ASSERT_EQUAL(NUM_RV_CASES, 95);
	for (i = 0; i < NUM_RV_CASES; i++) {
		const struct rv_case *c = &rv_cases[i];

		if (kms_p11_err(c->rv) != c->err) {
			fprintf(stderr, "\n%s: %s, expected %s\n", c->name,
				kms_err_name(kms_p11_err(c->rv)), kms_err_name(c->err));
		}
		CU_ASSERT_EQUAL(kms_p11_err(c->rv), c->err);
		CU_ASSERT_STRING_EQUAL(kms_p11_rv_name(c->rv), c->name);
		for (j = 0; j < i; j++) {
			CU_ASSERT_NOT_EQUAL(c->rv, rv_cases[j].rv);
		}
	}
}

/* The switch declares nothing this table does not test. */
static void
test_rv_no_untested_entry(void)
{
	CK_RV rv;
	size_t i, named = 0;
	int found;

	for (rv = 0; rv < 0x10000; rv++) {
		const char *name = kms_p11_rv_name(rv);

		if (strcmp(name, "CKR_UNKNOWN") == 0) {
			CU_ASSERT_EQUAL(kms_p11_err(rv), KMS_ERR_HSM);
			continue;
		}
		named++;
		found = 0;
		for (i = 0; i < NUM_RV_CASES; i++) {
			found |= rv_cases[i].rv == rv;
		}
		if (!found) {
			fprintf(stderr, "\n%s (0x%lx) is mapped but not tested\n", name,
				(unsigned long)rv);
		}
		CU_ASSERT(found);
	}
	CU_ASSERT_EQUAL(named, NUM_RV_CASES - 1); /* all but CKR_VENDOR_DEFINED */
}

static void
test_rv_unknown_and_vendor(void)
{
	static const CK_RV unknown[] = {4, 0x11a, 0x201, 0x202, 0x203, 0x1000, 0x7fffffffUL};
	static const CK_RV vendor[] = {CKR_VENDOR_DEFINED + 1, CKR_VENDOR_DEFINED + 0x1234,
				       0xffffffffUL};
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		CU_ASSERT_STRING_EQUAL(kms_p11_rv_name(unknown[i]), "CKR_UNKNOWN");
		CU_ASSERT_EQUAL(kms_p11_err(unknown[i]), KMS_ERR_HSM);
	}
	for (i = 0; i < sizeof(vendor) / sizeof(vendor[0]); i++) {
		CU_ASSERT_STRING_EQUAL(kms_p11_rv_name(vendor[i]), "CKR_VENDOR_DEFINED");
		CU_ASSERT_EQUAL(kms_p11_err(vendor[i]), KMS_ERR_HSM);
	}
}

/* ---- configuration: refused before any module is loaded, or by the loader ---- */

static char dir[PATH_MAX / 2];
static char logpath[PATH_MAX];
static int logfd = -1;

static int
suite_init(void)
{
	int n;

	if (kms_test_tmpdir(dir, sizeof(dir), "p11") != 0) {
		return 1;
	}
	n = snprintf(logpath, sizeof(logpath), "%s/log", dir);
	if (n < 0 || (size_t)n >= sizeof(logpath)) {
		return 1;
	}
	logfd = kms_test_log_capture(logpath, "test_p11");
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

static const char *
file_in_dir(const char *name, const char *content, mode_t mode)
{
	static char p[4][PATH_MAX];
	static unsigned int next;
	char *out = p[next++ % 4];
	FILE *f;

	(void)snprintf(out, PATH_MAX, "%s/%s", dir, name);
	f = fopen(out, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT(fputs(content, f) >= 0);
	fclose(f);
	CU_ASSERT(chmod(out, mode) == 0);
	return out;
}

static int
try_new(const struct kms_p11_config *cfg)
{
	struct kms_p11 *p = (struct kms_p11 *)(uintptr_t)1;
	int r;

	r = kms_p11_new(&p, cfg);
	CU_ASSERT_PTR_NULL(p);
	kms_p11_free(p);
	return r;
}

static void
test_config(void)
{
	struct kms_p11_config cfg;
	const char *pin = file_in_dir("pin", "123456\n", 0600);

	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_EQUAL(kms_p11_new(&(struct kms_p11 *){NULL}, NULL), KMS_ERR_INVALID_ARG);

	cfg.token_uri = "pkcs11:token=kms-test";
	cfg.pin_file = pin;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG); /* no module */
	cfg.module_path = "libsofthsm2.so";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG); /* relative */
	cfg.module_path = "/nonexistent/libpkcs11.so";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_HSM_UNAVAIL); /* missing */

	cfg.pin_credential = "pin";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG); /* both */
	cfg.pin_file = NULL;
	cfg.pin_credential = NULL;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG); /* neither */
	cfg.pin_file = "pin";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG); /* relative */
	cfg.pin_file = NULL;
	cfg.pin_credential = "";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	cfg.pin_credential = NULL;
	cfg.pin_file = pin;

	cfg.num_sessions = KMS_P11_MAX_SESSIONS + 1;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	cfg.num_sessions = 0;

	cfg.token_uri = NULL;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	cfg.token_uri = "pkcs11:token=a;token=b";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_PARSE);
	cfg.token_uri = "http://example.com/";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_PARSE);
	cfg.token_uri = "pkcs11:token=kms?module-name=softhsm2";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_UNSUPPORTED);
	cfg.token_uri = "pkcs11:token=kms?module-path=/other/lib.so";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	cfg.token_uri = "pkcs11:token=kms?pin-source=file:/etc/pin";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_UNSUPPORTED);
	/* an agreeing module-path is fine: the module's absence is the next error */
	cfg.token_uri = "pkcs11:token=kms?module-path=/nonexistent/libpkcs11.so";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_HSM_UNAVAIL);
}

static void
test_module_files(void)
{
	struct kms_p11_config cfg;
	char libc_path[PATH_MAX];
	Dl_info info;

	memset(&cfg, 0, sizeof(cfg));
	cfg.token_uri = "pkcs11:token=kms-test";
	cfg.pin_file = file_in_dir("pin", "123456\n", 0600);

	/* not a shared object */
	cfg.module_path = file_in_dir("not-a-module.so", "hello\n", 0644);
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_HSM_UNAVAIL);
	/* writable by group or others: whoever can write it would run code with our PIN */
	cfg.module_path = file_in_dir("writable.so", "hello\n", 0664);
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	cfg.module_path = file_in_dir("writable2.so", "hello\n", 0646);
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	/* a directory */
	cfg.module_path = dir;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	/* a real shared library without C_GetFunctionList (CUnit's) */
	if (dladdr((void *)(uintptr_t)&CU_initialize_registry, &info) != 0 &&
	    info.dli_fname != NULL && info.dli_fname[0] == '/') {
		(void)snprintf(libc_path, sizeof(libc_path), "%s", info.dli_fname);
		cfg.module_path = libc_path;
		CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_INVALID_ARG);
	} else {
		fprintf(stderr, "(libcunit not found by dladdr: one case skipped) ");
	}
}

/* A PIN put in the URI (pin-value) is refused and never logged, nor is the URI. */
static void
test_pin_value_never_logged(void)
{
	static char logbuf[64 * 1024];
	struct kms_p11_config cfg;

	CU_ASSERT_FATAL(ftruncate(logfd, 0) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.module_path = "/nonexistent/libpkcs11.so";
	cfg.pin_file = file_in_dir("pin", "123456\n", 0600);
	cfg.token_uri = "pkcs11:token=kms-test?pin-value=" SENTINEL;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_UNSUPPORTED);
	cfg.token_uri = "pkcs11:token=kms-test;pin-value=" SENTINEL;
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_UNSUPPORTED);
	cfg.token_uri = "pkcs11:token=kms-test?pin-source=/p&pin-value=" SENTINEL "&x=1";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_UNSUPPORTED);
	/* a PIN pasted where the token label goes: a parse error, and still not logged */
	cfg.token_uri = "pkcs11:token=" SENTINEL "%zz";
	CU_ASSERT_EQUAL(try_new(&cfg), KMS_ERR_ENCODING);

	CU_ASSERT(kms_test_read_fd(logfd, logbuf, sizeof(logbuf)) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "pin-value refused"));
	CU_ASSERT_PTR_NULL(strstr(logbuf, SENTINEL));
	CU_ASSERT_PTR_NULL(strstr(logbuf, "S3nt1nel"));
}

static CU_TestInfo rv_tests[] = {
	{"every CK_RV mapped and named", test_rv_every_entry},
	{"no untested entry", test_rv_no_untested_entry},
	{"unknown and vendor codes", test_rv_unknown_and_vendor},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo config_tests[] = {
	{"configuration errors", test_config},
	{"module files", test_module_files},
	{"pin-value is never logged", test_pin_value_never_logged},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"p11 CK_RV map", NULL, NULL, NULL, NULL, rv_tests},
	{"p11 configuration", suite_init, suite_cleanup, NULL, NULL, config_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

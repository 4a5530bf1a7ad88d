/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/log.h"
#include "common/secmem.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define CHILD_SKIPPED 77

static size_t
page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static int find_vma(const void *addr, char perms[8], char *flags, size_t flags_cap);
static int has_flag(const char *flags, const char *flag);

/*
 * Should secret pages show up as locked ("lo" in VmFlags)? Not when the run allows unlocked
 * memory, and not under ASan, whose mlock() interceptor returns 0 without locking anything:
 * a page locked here with mlock() shows which case this is.
 */
static int
expect_locked(void)
{
	static int cached = -1;
	const char *env = getenv("KMS_SECMEM_ALLOW_UNLOCKED");
	char perms[8], flags[512];
	void *probe;

	if (cached >= 0) {
		return cached;
	}
	cached = 1;
	if (env != NULL && strcmp(env, "1") == 0) {
		cached = 0;
		return cached;
	}
	probe = mmap(NULL, page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe != MAP_FAILED) {
		if (mlock(probe, page()) == 0 &&
		    find_vma(probe, perms, flags, sizeof(flags)) == 0 && !has_flag(flags, "lo")) {
			fprintf(stderr,
				"(mlock() does not lock here, sanitizer? not checking locks) ");
			cached = 0;
		}
		(void)munmap(probe, page());
	}
	return cached;
}

/*
 * The mapping (VMA) of this process that contains addr, from /proc/self/smaps: its
 * permissions ("rw-p") and its VmFlags ("rd wr mr mw me lo dd"). 0 if found, -1 if not.
 */
static int
find_vma(const void *addr, char perms[8], char *flags, size_t flags_cap)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uintptr_t a = (uintptr_t)addr;
	unsigned long start, end;
	char p[8];
	size_t len;
	int in = 0;
	int r = -1;

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A mapping's header line: "start-end perms offset dev inode [path]". */
		if (sscanf(line, "%lx-%lx %7s", &start, &end, p) == 3) {
			in = a >= start && a < end;
			if (in) {
				memcpy(perms, p, sizeof(p));
			}
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			len = strlen(line + 8);
			len = len < flags_cap ? len : flags_cap - 1;
			memcpy(flags, line + 8, len);
			flags[len] = '\0';
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

/* Does the space-separated VmFlags list contain the two-letter flag? */
static int
has_flag(const char *flags, const char *flag)
{
	char padded[600];
	char want[8];
	char *nl;

	(void)snprintf(padded, sizeof(padded), " %s ", flags);
	nl = strchr(padded, '\n');
	if (nl != NULL) {
		*nl = ' ';
	}
	(void)snprintf(want, sizeof(want), " %s ", flag);
	return strstr(padded, want) != NULL;
}

/*
 * Run fn(arg) in a child without core dumps and with the default SIGSEGV action (sanitizers
 * install their own handler); return its wait status.
 */
static int
in_child(void (*fn)(void *), void *arg)
{
	struct rlimit no_core = {0, 0};
	struct sigaction sa;
	pid_t pid;
	int status = -1;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		(void)setrlimit(RLIMIT_CORE, &no_core);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGSEGV, &sa, NULL);
		(void)sigaction(SIGBUS, &sa, NULL);
		fn(arg);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		return -1;
	}
	return status;
}

static void
touch(void *p)
{
	*(volatile uint8_t *)p = 0x42;
}

static int
dies_of_segv(void *p)
{
	int status = in_child(touch, p);

	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static int
touch_ok(void *p)
{
	int status = in_child(touch, p);

	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
test_secret_limits(void)
{
	struct kms_secret *s;

	CU_ASSERT_PTR_NULL(kms_secret_new(0));
	CU_ASSERT_PTR_NULL(kms_secret_new(KMS_MAX_SECRET + 1));
	CU_ASSERT_PTR_NULL(kms_secret_new(SIZE_MAX));
	s = kms_secret_new(KMS_MAX_SECRET);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->len, KMS_MAX_SECRET);
	CU_ASSERT(kms_test_all_zero(s->data, s->len));
	kms_secret_free(s);
	kms_secret_free(NULL);
}

/* Zeroed, locked, not dumped, and between two PROT_NONE guard pages. */
static void
test_secret_mapping(void)
{
	struct kms_secret *s = kms_secret_new(33);
	char perms[8], flags[512];
	uint8_t *first_page;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->len, 33);
	CU_ASSERT(kms_test_all_zero(s->data, s->len));
	memset(s->data, 0xa5, s->len);

	CU_ASSERT_EQUAL_FATAL(find_vma(s->data, perms, flags, sizeof(flags)), 0);
	CU_ASSERT_STRING_EQUAL(perms, "rw-p");
	CU_ASSERT(has_flag(flags, "dd")); /* MADV_DONTDUMP */
	if (expect_locked()) {
		CU_ASSERT(has_flag(flags, "lo")); /* mlock */
	}
	/* The byte after the last one is on the upper guard page. */
	CU_ASSERT_EQUAL((uintptr_t)(s->data + s->len) % page(), 0);
	CU_ASSERT_EQUAL_FATAL(find_vma(s->data + s->len, perms, flags, sizeof(flags)), 0);
	CU_ASSERT_STRING_EQUAL(perms, "---p");
	/* The page before the first data page is the lower guard. */
	first_page = (uint8_t *)((uintptr_t)s->data & ~(uintptr_t)(page() - 1));
	CU_ASSERT_EQUAL_FATAL(find_vma(first_page - 1, perms, flags, sizeof(flags)), 0);
	CU_ASSERT_STRING_EQUAL(perms, "---p");
	kms_secret_free(s);
}

/* One byte past either end of the data pages kills the process. */
static void
test_secret_guard_pages(void)
{
	struct kms_secret *s = kms_secret_new(100);
	uint8_t *first_page;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	first_page = (uint8_t *)((uintptr_t)s->data & ~(uintptr_t)(page() - 1));
	/* The control: the first and last bytes are fine, so the child can report success. */
	CU_ASSERT(touch_ok(s->data));
	CU_ASSERT(touch_ok(s->data + s->len - 1));
	CU_ASSERT(touch_ok(first_page));
	CU_ASSERT(dies_of_segv(s->data + s->len));
	CU_ASSERT(dies_of_segv(first_page - 1));
	kms_secret_free(s);
}

/* After free the pages are gone (so the wiped bytes cannot be read back either). */
static void
test_secret_free_unmaps(void)
{
	struct kms_secret *s = kms_secret_new(64);
	uint8_t *data;
	char perms[8], flags[512];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s->data, 0xa5, s->len);
	data = s->data;
	kms_secret_free(s);
	CU_ASSERT(dies_of_segv(data));
	CU_ASSERT_NOT_EQUAL(find_vma(data, perms, flags, sizeof(flags)), 0);
}

static void
test_secmem_alloc(void)
{
	static const size_t sizes[] = {1, 15, 16, 17, 24, 64, 4095, 4096, 4097, 3 * 4096};
	char perms[8], flags[512];
	const size_t align = _Alignof(max_align_t);
	size_t i, len, alen;
	uint8_t *p;

	CU_ASSERT_PTR_NULL(kms_secmem_alloc(0));
	CU_ASSERT_PTR_NULL(kms_secmem_alloc(SIZE_MAX));
	CU_ASSERT_PTR_NULL(kms_secmem_alloc(SIZE_MAX - 4096));
	kms_secmem_free(NULL, 16);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		len = sizes[i];
		alen = (len + align - 1) / align * align;
		p = kms_secmem_alloc(len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		/* Aligned for any struct, zeroed, and ending (rounded up) at the guard page. */
		CU_ASSERT_EQUAL((uintptr_t)p % align, 0);
		CU_ASSERT(kms_test_all_zero(p, len));
		CU_ASSERT_EQUAL((uintptr_t)(p + alen) % page(), 0);
		CU_ASSERT_EQUAL_FATAL(find_vma(p, perms, flags, sizeof(flags)), 0);
		CU_ASSERT_STRING_EQUAL(perms, "rw-p");
		CU_ASSERT(has_flag(flags, "dd"));
		if (expect_locked()) {
			CU_ASSERT(has_flag(flags, "lo"));
		}
		memset(p, 0xa5, len);
		if (len % align == 0) {
			CU_ASSERT(dies_of_segv(p + len));
		}
		kms_secmem_free(p, len);
		CU_ASSERT(dies_of_segv(p));
	}
}

static void
test_memzero(void)
{
	uint8_t buf[64];

	memset(buf, 0xa5, sizeof(buf));
	kms_memzero(buf + 8, 32);
	CU_ASSERT(kms_test_all_zero(buf + 8, 32));
	/* only the bytes asked for */
	CU_ASSERT_EQUAL(buf[7], 0xa5);
	CU_ASSERT_EQUAL(buf[40], 0xa5);
	kms_memzero(buf, sizeof(buf));
	CU_ASSERT(kms_test_all_zero(buf, sizeof(buf)));
	kms_memzero(NULL, 0);
	kms_memzero(NULL, 10);
	kms_memzero(buf, 0);
}

static void
test_ct_memeq(void)
{
	uint8_t a[32], b[32];
	size_t i;
	unsigned int wrong = 0;

	for (i = 0; i < sizeof(a); i++) {
		a[i] = (uint8_t)(i * 7);
	}
	memcpy(b, a, sizeof(a));
	CU_ASSERT_EQUAL(kms_ct_memeq(a, b, sizeof(a)), 1);
	CU_ASSERT_EQUAL(kms_ct_memeq(a, b, 0), 1);
	/* One differing bit anywhere. */
	for (i = 0; i < 8 * sizeof(a); i++) {
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (kms_ct_memeq(a, b, sizeof(a)) != 0) {
			wrong++;
		}
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CU_ASSERT_EQUAL(wrong, 0);
	/* Only len bytes are compared. */
	b[31] ^= 1;
	CU_ASSERT_EQUAL(kms_ct_memeq(a, b, 31), 1);
}

static void
harden_child(void *arg)
{
	struct rlimit rl;
	mode_t old;

	(void)arg;
	if (kms_harden_process() != KMS_OK) {
		_exit(1);
	}
	old = umask(0);
	if (old != 077) {
		_exit(2);
	}
	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0) {
		_exit(3);
	}
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		_exit(4);
	}
}

static void
test_harden_process(void)
{
	int status = in_child(harden_child, NULL);

	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

/*
 * Without the right to lock memory, allocation fails, unless KMS_SECMEM_ALLOW_UNLOCKED=1,
 * and then the warning is logged once, however many allocations follow. Runs in a child that
 * gives up the right: RLIMIT_MEMLOCK 0, and (as root) a switch to nobody, which drops
 * CAP_IPC_LOCK.
 */
static void
unlocked_child(void *arg)
{
	int fd = *(int *)arg;
	struct rlimit zero = {0, 0};
	struct kms_secret *a, *b;
	void *probe;

	if (setrlimit(RLIMIT_MEMLOCK, &zero) != 0) {
		_exit(10);
	}
	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
		_exit(11);
	}
	probe = mmap(NULL, page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED) {
		_exit(12);
	}
	if (mlock(probe, page()) == 0) {
		/* Still privileged, or a sanitizer's mlock() that never fails: nothing to test. */
		_exit(CHILD_SKIPPED);
	}
	kms_log_init("test_secmem", KMS_LOG_DEBUG);
	kms_log_set_fd(fd);
	if (unsetenv("KMS_SECMEM_ALLOW_UNLOCKED") != 0) {
		_exit(13);
	}
	if (kms_secret_new(16) != NULL || kms_secmem_alloc(16) != NULL) {
		_exit(14);
	}
	if (setenv("KMS_SECMEM_ALLOW_UNLOCKED", "0", 1) != 0 || kms_secret_new(16) != NULL) {
		_exit(15);
	}
	if (setenv("KMS_SECMEM_ALLOW_UNLOCKED", "1", 1) != 0) {
		_exit(16);
	}
	a = kms_secret_new(16);
	b = kms_secret_new(16);
	if (a == NULL || b == NULL) {
		_exit(17);
	}
	a->data[15] = 1;
	kms_secret_free(a);
	kms_secret_free(b);
}

static unsigned int
count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

static void
test_unlocked_fallback(void)
{
	int fds[2];
	char buf[4096];
	ssize_t got;
	size_t len = 0;
	int status;

	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	status = in_child(unlocked_child, &fds[1]);
	close(fds[1]);
	while (len < sizeof(buf) - 1 &&
	       (got = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(fds[0]);
	CU_ASSERT(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIPPED) {
		fprintf(stderr, "(skipped: mlock() did not fail in the child) ");
		return;
	}
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	/* two refused allocations with KMS_SECMEM_ALLOW_UNLOCKED unset and one with "0" */
	CU_ASSERT_EQUAL(count(buf, " ERROR test_secmem: secmem: cannot lock memory"), 3);
	/* one warning for the two allowed allocations */
	CU_ASSERT_EQUAL(count(buf, " WARN test_secmem: secmem: cannot lock memory"), 1);
}

/*
 * kms_wipe_free wipes the block before freeing it: glibc hands the same block straight back to a
 * malloc of the same size (its per-thread cache), and then only its first 16 octets (the cache's
 * own links) may differ from zero. Where the allocator gives another block (ASan's quarantine),
 * that part is not checked. kms_wipe_realloc keeps the contents and always moves.
 */
static void
test_wipe_allocator(void)
{
	uint8_t *p, *q;
	char *d;
	size_t i, nonzero = 0;

	p = malloc(200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 0xa5, 200);
	kms_wipe_free(p);
	q = malloc(200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	if (q == p) {
		for (i = 16; i < 200; i++) {
			nonzero += q[i] != 0;
		}
		CU_ASSERT_EQUAL(nonzero, 0);
	}
	free(q);
	kms_wipe_free(NULL);

	p = kms_wipe_realloc(NULL, 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, "0123456789", 10);
	q = kms_wipe_realloc(p, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_PTR_NOT_EQUAL(q, p);
	CU_ASSERT_EQUAL(memcmp(q, "0123456789", 10), 0);
	p = kms_wipe_realloc(q, 4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(memcmp(p, "0123", 4), 0);
	kms_wipe_free(p);
	d = kms_wipe_strdup("secret text");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_STRING_EQUAL(d, "secret text");
	kms_wipe_free(d);
}

static CU_TestInfo secmem_tests[] = {
	{"secret size limits", test_secret_limits},
	{"secret mapping: zeroed, locked, not dumped, guarded", test_secret_mapping},
	{"guard pages fault", test_secret_guard_pages},
	{"free unmaps", test_secret_free_unmaps},
	{"raw secmem alloc/free", test_secmem_alloc},
	{"memzero", test_memzero},
	{"constant-time equality", test_ct_memeq},
	{"the wiping allocator (libxml2's)", test_wipe_allocator},
	{"harden process", test_harden_process},
	{"unlocked memory only when allowed", test_unlocked_fallback},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"secmem", NULL, NULL, NULL, NULL, secmem_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

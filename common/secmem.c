/* SPDX-License-Identifier: Apache-2.0 */
#include "common/secmem.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"

#include "common/banned.h"

/*
 * Layout of one mapping (after libsodium's sodium_malloc and OpenBSD's guard pages):
 *
 *     | guard (PROT_NONE) | data pages, locked, not dumped .......[user bytes] | guard |
 *
 * The user's bytes end at the end of the data pages (rounded up to `align`), so an overrun
 * of even one byte faults on the upper guard page when len is a multiple of align; an
 * underrun runs into the unused head of the data pages, then faults on the lower guard.
 * A struct kms_secret is plain bytes (align 1); kms_secmem_alloc() keeps max_align_t
 * alignment because it holds structs.
 */
#define SECMEM_ALIGN_STRUCT ((size_t) _Alignof(max_align_t))

static atomic_int warned_unlocked;

static size_t
page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096u;
}

/*
 * The layout for len bytes: *out_alen is len rounded up to align (where the user's bytes
 * start, counted back from the end of the data pages) and *out_dlen the data pages' size.
 * KMS_ERR_INVALID_ARG if len is 0 or the mapping's size would overflow.
 */
static int
layout(size_t len, size_t align, size_t page, size_t *out_alen, size_t *out_dlen)
{
	size_t a, d;

	if (len == 0 || __builtin_add_overflow(len, align - 1, &a)) {
		return KMS_ERR_INVALID_ARG;
	}
	a -= a % align;
	if (__builtin_add_overflow(a, page - 1, &d)) {
		return KMS_ERR_INVALID_ARG;
	}
	d -= d % page;
	if (d > SIZE_MAX - 2 * page) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_alen = a;
	*out_dlen = d;
	return KMS_OK;
}

/*
 * mlock failed with err: allowed only when the environment says so (a developer or test run
 * without CAP_IPC_LOCK or a big enough RLIMIT_MEMLOCK), and then said once.
 */
static int
unlocked_allowed(int err)
{
	const char *env = getenv("KMS_SECMEM_ALLOW_UNLOCKED");

	if ((err != EPERM && err != ENOMEM) || env == NULL || strcmp(env, "1") != 0) {
		kms_log(KMS_LOG_ERR,
			"secmem: cannot lock memory (%s); raise LimitMEMLOCK/RLIMIT_MEMLOCK "
			"(KMS_SECMEM_ALLOW_UNLOCKED=1 allows unlocked memory in tests)",
			strerror(err));
		return 0;
	}
	if (atomic_exchange(&warned_unlocked, 1) == 0) {
		kms_log(KMS_LOG_WARN,
			"secmem: cannot lock memory (%s); secrets may be swapped out "
			"(KMS_SECMEM_ALLOW_UNLOCKED=1)",
			strerror(err));
	}
	return 1;
}

/* Map guard + data + guard; KMS_OK, KMS_ERR_INVALID_ARG (size) or KMS_ERR_NOMEM. */
static int
map_guarded(size_t len, size_t align, void **out_map, size_t *out_map_len, uint8_t **out_data)
{
	size_t page = page_size();
	size_t alen, dlen;
	size_t map_len;
	uint8_t *map;
	uint8_t *data_pages;
	int r;

	*out_map = NULL;
	*out_map_len = 0;
	*out_data = NULL;
	if ((r = layout(len, align, page, &alen, &dlen)) != KMS_OK) {
		return r;
	}
	map_len = dlen + 2 * page;
	map = mmap(NULL, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		return KMS_ERR_NOMEM;
	}
	data_pages = map + page;
	if (mprotect(data_pages, dlen, PROT_READ | PROT_WRITE) != 0) {
		goto fail;
	}
	/* Not in core dumps; fails only on kernels older than 3.4. */
	if (madvise(data_pages, dlen, MADV_DONTDUMP) != 0) {
		goto fail;
	}
	if (mlock(data_pages, dlen) != 0 && !unlocked_allowed(errno)) {
		goto fail;
	}
	/* Fresh anonymous pages are zero: nothing to clear. */
	*out_map = map;
	*out_map_len = map_len;
	*out_data = data_pages + dlen - alen;
	return KMS_OK;
fail:
	(void)munmap(map, map_len);
	return KMS_ERR_NOMEM;
}

/* Wipe len bytes at data, then unlock and unmap the whole mapping. */
static void
unmap_guarded(void *map, size_t map_len, uint8_t *data, size_t len)
{
	size_t page = page_size();

	kms_memzero(data, len);
	(void)munlock((uint8_t *)map + page, map_len - 2 * page);
	if (munmap(map, map_len) != 0) {
		/* Only a corrupted map/len gets here; the data were wiped. */
		kms_log(KMS_LOG_ERR, "secmem: munmap failed: %s", strerror(errno));
	}
}

struct kms_secret *
kms_secret_new(size_t len)
{
	struct kms_secret *s;

	if (len == 0 || len > KMS_MAX_SECRET) {
		return NULL;
	}
	/* The struct holds only pointers and a length; the bytes live in the mapping. */
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return NULL;
	}
	if (map_guarded(len, 1, &s->map_, &s->map_len_, &s->data) != KMS_OK) {
		free(s);
		return NULL;
	}
	s->len = len;
	return s;
}

void
kms_secret_free(struct kms_secret *s)
{
	if (s == NULL) {
		return;
	}
	unmap_guarded(s->map_, s->map_len_, s->data, s->len);
	kms_memzero(s, sizeof(*s));
	free(s);
}

void *
kms_secmem_alloc(size_t len)
{
	void *map;
	size_t map_len;
	uint8_t *data;

	if (map_guarded(len, SECMEM_ALIGN_STRUCT, &map, &map_len, &data) != KMS_OK) {
		return NULL;
	}
	return data;
}

void
kms_secmem_free(void *p, size_t len)
{
	size_t page = page_size();
	size_t alen, dlen;
	uintptr_t end = 0;
	uint8_t *map;
	int r;

	if (p == NULL) {
		return;
	}
	/* Recompute the mapping from (p, len), as kms_secmem_alloc laid it out. */
	if ((r = layout(len, SECMEM_ALIGN_STRUCT, page, &alen, &dlen)) == KMS_OK) {
		end = (uintptr_t)p + alen;
	}
	if (r != KMS_OK || end % page != 0 || end - dlen < page) {
		/*
		 * Not a pointer/length pair from kms_secmem_alloc: unmapping a guessed range
		 * could unmap someone else's memory, so stop here, as free() does on a bad
		 * pointer.
		 */
		kms_log(KMS_LOG_ERR, "secmem: kms_secmem_free called with a bad pointer or length");
		abort();
	}
	map = (uint8_t *)(end - dlen - page);
	unmap_guarded(map, dlen + 2 * page, p, len);
}

void
kms_memzero(void *p, size_t len)
{
	if (p == NULL || len == 0) {
		return;
	}
	explicit_bzero(p, len);
}

int
kms_ct_memeq(const void *a, const void *b, size_t len)
{
	if (len == 0) {
		return 1;
	}
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
kms_harden_process(void)
{
	const struct rlimit no_core = {0, 0};

	(void)umask(077);
	if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
		return KMS_ERR_INTERNAL;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		return KMS_ERR_INTERNAL;
	}
	return KMS_OK;
}

void
kms_wipe_free(void *p)
{
	if (p != NULL) {
		kms_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

void *
kms_wipe_realloc(void *p, size_t len)
{
	size_t old;
	void *q;

	if (p == NULL) {
		return malloc(len);
	}
	if ((q = malloc(len > 0 ? len : 1)) == NULL) {
		return NULL; /* p stays as it was, as realloc() leaves it */
	}
	old = malloc_usable_size(p);
	memcpy(q, p, old < len ? old : len);
	kms_wipe_free(p);
	return q;
}

char *
kms_wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *q = malloc(n);

	if (q != NULL) {
		memcpy(q, s, n);
	}
	return q;
}

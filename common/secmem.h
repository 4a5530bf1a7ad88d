/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_SECMEM_H
#define KMS_COMMON_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Secret memory. A struct kms_secret owns len bytes in pages of its own: mmap'ed, mlock'ed
 * (failure to lock is an error unless KMS_SECMEM_ALLOW_UNLOCKED is set in the environment of a
 * test or developer run, and is then logged once), MADV_DONTDUMP, and wiped, unlocked and
 * unmapped by kms_secret_free(). Guard pages (PROT_NONE) sit on both sides.
 */
struct kms_secret {
	uint8_t *data; /* owned; len usable bytes */
	size_t len;
	/* private */
	void *map_;
	size_t map_len_;
};

/*
 * kms_secret_new - allocate a zeroed secret of len bytes (1 <= len <= KMS_MAX_SECRET).
 * Returns NULL on failure (out of memory, or memory cannot be locked).
 */
#define KMS_MAX_SECRET (1024u * 1024u)
struct kms_secret *kms_secret_new(size_t len);

/* kms_secret_free - wipe, unlock, unmap and free s. NULL is a no-op. */
void kms_secret_free(struct kms_secret *s);

/*
 * kms_secmem_alloc / kms_secmem_free - raw locked, non-dumpable, guarded pages for structs
 * that hold secrets (e.g. a precomputed key table). kms_secmem_free wipes len bytes first.
 * kms_secmem_alloc returns zeroed memory aligned for any type, or NULL (len 0, out of memory,
 * or memory cannot be locked). kms_secmem_free(NULL, len) is a no-op; otherwise p and len must
 * be exactly those of the allocation: a mismatch it can detect aborts the process (as free()
 * does on a bad pointer) rather than unmap a guessed range.
 */
void *kms_secmem_alloc(size_t len);
void kms_secmem_free(void *p, size_t len);

/* kms_memzero - wipe that the compiler cannot remove (explicit_bzero). NULL/0 is a no-op. */
void kms_memzero(void *p, size_t len);

/*
 * kms_wipe_free / kms_wipe_realloc / kms_wipe_strdup - malloc's heap, but what is freed is wiped
 * first (its whole usable size), and a realloc always moves, wiping the old block. For
 * libraries that may copy a secret into buffers of their own and free them later (libxml2's
 * text nodes and output buffers: xmlMemSetup(kms_wipe_free, malloc, kms_wipe_realloc,
 * kms_wipe_strdup) before any other libxml2 call). Not locked memory: this only keeps freed
 * heap from holding what it held.
 */
void kms_wipe_free(void *p);
void *kms_wipe_realloc(void *p, size_t len);
char *kms_wipe_strdup(const char *s);

/* kms_ct_memeq - constant-time equality of two buffers of equal length: 1 equal, 0 not. */
int kms_ct_memeq(const void *a, const void *b, size_t len);

/*
 * kms_harden_process - what every program that may hold a secret does first: no core dumps
 * (RLIMIT_CORE 0), not dumpable (PR_SET_DUMPABLE 0, which also blocks ptrace by others),
 * umask 077. Returns KMS_OK or KMS_ERR_INTERNAL.
 */
int kms_harden_process(void) KMS_WUR;

#endif /* KMS_COMMON_SECMEM_H */

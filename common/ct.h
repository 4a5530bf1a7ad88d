/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_CT_H
#define KMS_COMMON_CT_H

/*
 * Constant-time validation (tests/ct, the ctgrind method). In a build with -DKMS_CT_VALGRIND
 * (the *_ct libraries, which no shipped program links), KMS_CT_SECRET marks bytes as undefined
 * for valgrind's memcheck, which then reports every branch and address computed from them;
 * KMS_CT_DECLASSIFY marks a value derived from secrets as public where the code deliberately
 * reveals it (a success flag). Both are no-ops in every other build.
 */
#ifdef KMS_CT_VALGRIND
#include <valgrind/memcheck.h>
#define KMS_CT_SECRET(p, len)     VALGRIND_MAKE_MEM_UNDEFINED((p), (len))
#define KMS_CT_DECLASSIFY(p, len) VALGRIND_MAKE_MEM_DEFINED((p), (len))
#else
#define KMS_CT_SECRET(p, len)     ((void)(p), (void)(len))
#define KMS_CT_DECLASSIFY(p, len) ((void)(p), (void)(len))
#endif

#include <stdint.h>

/*
 * kms_ct_barrier_u64 / kms_ct_barrier_i64 - return x unchanged, but hidden from the optimiser.
 * A mask built from a secret (0 or all ones) must stay arithmetic: clang 14 proves that such a
 * value has only two states and turns "(a & ~mask) | (b & mask)" into a choice between two
 * addresses, a secret-dependent memory access (tests/ct found it). Pass every mask through a
 * barrier where it is made or used.
 */
static inline uint64_t
kms_ct_barrier_u64(uint64_t x)
{
	__asm__("" : "+r"(x));
	return x;
}

static inline int64_t
kms_ct_barrier_i64(int64_t x)
{
	__asm__("" : "+r"(x));
	return x;
}

#endif /* KMS_COMMON_CT_H */

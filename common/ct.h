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

#endif /* KMS_COMMON_CT_H */

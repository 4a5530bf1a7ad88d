/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TESTS_FUZZ_FUZZ_H
#define KMS_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* What every libFuzzer target of tests/fuzz shares. */

/* CHECK - an invariant of the code under test: report where it broke and abort (a finding). */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* libFuzzer's entry point, defined once per target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* KMS_TESTS_FUZZ_FUZZ_H */

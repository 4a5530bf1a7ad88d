/* SPDX-License-Identifier: Apache-2.0 */
#include "common/clock.h"

#include <errno.h>
#include <time.h>

#include "common/banned.h"

uint64_t
kms_mono_ms(void)
{
	return kms_mono_us() / 1000u;
}

uint64_t
kms_mono_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
kms_sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000u),
			      .tv_nsec = (long)(ms % 1000u) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

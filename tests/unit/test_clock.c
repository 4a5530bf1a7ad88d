/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "common/clock.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* The two resolutions read the same clock and never go back. */
static void
test_monotonic(void)
{
	uint64_t ms0 = kms_mono_ms(), us0 = kms_mono_us(), ms1, us1;
	int i;

	CU_ASSERT(us0 / 1000u >= ms0);
	CU_ASSERT(us0 / 1000u - ms0 < 1000u);
	for (i = 0; i < 10000; i++) {
		us1 = kms_mono_us();
		CU_ASSERT_FATAL(us1 >= us0);
		us0 = us1;
	}
	ms1 = kms_mono_ms();
	CU_ASSERT(ms1 >= ms0);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

/* A sleep lasts at least what was asked, also when signals interrupt it. */
static void
test_sleep(void)
{
	struct sigaction sa, old;
	struct itimerval it, off;
	uint64_t t0;

	t0 = kms_mono_ms();
	kms_sleep_ms(30);
	CU_ASSERT(kms_mono_ms() - t0 >= 30);
	t0 = kms_mono_ms();
	kms_sleep_ms(0);
	CU_ASSERT(kms_mono_ms() - t0 < 1000);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: nanosleep returns EINTR */
	sigemptyset(&sa.sa_mask);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGALRM, &sa, &old), 0);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 5000;
	it.it_interval.tv_usec = 5000; /* every 5 ms */
	memset(&off, 0, sizeof(off));
	CU_ASSERT_EQUAL_FATAL(setitimer(ITIMER_REAL, &it, NULL), 0);
	t0 = kms_mono_ms();
	kms_sleep_ms(60);
	CU_ASSERT(kms_mono_ms() - t0 >= 60);
	CU_ASSERT_EQUAL(setitimer(ITIMER_REAL, &off, NULL), 0);
	CU_ASSERT_EQUAL(sigaction(SIGALRM, &old, NULL), 0);
}

static CU_TestInfo clock_tests[] = {
	{"monotonic, in ms and us", test_monotonic},
	{"sleep, through signals", test_sleep},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"clock", NULL, NULL, NULL, NULL, clock_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_CLOCK_H
#define KMS_COMMON_CLOCK_H

#include <stdint.h>

/*
 * The monotonic clock (CLOCK_MONOTONIC: never steps back, unaffected by clock changes) for
 * timeouts, back-offs and durations, and a sleep that EINTR does not cut short. Thread-safe;
 * no system call but clock_gettime(2) (the vDSO) and nanosleep(2), both allowed in kmsd's
 * event-loop sandbox.
 */

/* kms_mono_ms / kms_mono_us - the monotonic clock in milliseconds / microseconds. */
uint64_t kms_mono_ms(void);
uint64_t kms_mono_us(void);

/* kms_sleep_ms - sleep ms milliseconds, resuming after a signal until they have passed. */
void kms_sleep_ms(unsigned int ms);

#endif /* KMS_COMMON_CLOCK_H */

/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_SUPERVISE_H
#define KMS_KMS_SUPERVISE_H

#include <stdint.h>

#include "common/err.h"
#include "proto/msg.h"

/*
 * kmsd's side of kms-hsmd (ARCHITECTURE.md): a pool of kms-hsmd processes, one per kmsd worker
 * thread (slot), each started with its own end of a close-on-exec socketpair as fd 3 and
 * supervised by a thread of the pool: a process that dies, or that does not answer within the
 * timeout (it is killed then), is restarted with a back-off (0.1 s doubling up to 5 s), and its
 * slot answers KMS_ERR_HSM_UNAVAIL meanwhile (kmsd turns that into 503 with Retry-After).
 * kms-hsmd serves one connection and exits when it closes, so closing kmsd's end ends it.
 */

struct kms_hsmd_pool;

struct kms_hsmd_config {
	const char *hsmd_path;   /* the kms-hsmd program (absolute) */
	const char *hsmd_conf;   /* its configuration file */
	unsigned int slots;      /* processes, 1..64 */
	unsigned int timeout_ms; /* the longest wait for one reply, 100..600000 */
};

struct kms_hsmd_stats {
	uint64_t restarts; /* processes started after the first start of their slot */
	unsigned int up;   /* slots with a live process */
	unsigned int slots;
};

/*
 * kms_hsmd_pool_new - start cfg->slots processes and the supervising thread, then wait (up to
 * start_wait_ms) until every process answers HEALTH. A process that exits during that wait ends
 * the start: its exit status is reported (kms-hsmd: 2 configuration, 3 start-up check) in err.
 * Returns KMS_OK (*out owned: kms_hsmd_pool_free); KMS_ERR_HSM_UNAVAIL (a process failed or did
 * not answer; err says which and why); KMS_ERR_INVALID_ARG; KMS_ERR_NOMEM; KMS_ERR_IO.
 */
int kms_hsmd_pool_new(struct kms_hsmd_pool **out, const struct kms_hsmd_config *cfg,
		      unsigned int start_wait_ms, char *err, size_t err_len) KMS_WUR;

/* kms_hsmd_pool_free - close every connection (the processes then exit), reap them. NULL ok. */
void kms_hsmd_pool_free(struct kms_hsmd_pool *pool);

/*
 * kms_hsmd_call - send req (its id is set here) to the process of slot (taken modulo the
 * number of slots) and wait for its reply. Blocks the calling thread for at most the timeout.
 * Returns KMS_OK with *rep the decoded reply (its op and id checked against req; rep->status
 * is kms-hsmd's answer); KMS_ERR_HSM_UNAVAIL (the slot's process is down, did not answer in
 * time, or broke the protocol: the process is then killed and restarted). Thread-safe.
 */
int kms_hsmd_call(struct kms_hsmd_pool *pool, unsigned int slot, struct kms_proto_request *req,
		  struct kms_proto_reply *rep) KMS_WUR;

/* kms_hsmd_stats - the pool's counters. */
void kms_hsmd_stats(struct kms_hsmd_pool *pool, struct kms_hsmd_stats *out);

#endif /* KMS_KMS_SUPERVISE_H */

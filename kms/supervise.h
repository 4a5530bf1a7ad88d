/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_SUPERVISE_H
#define KMS_KMS_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "proto/msg.h"

/*
 * kmsd's side of kms-hsmd (ARCHITECTURE.md): a pool of connections to kms-hsmd processes, one
 * per kmsd worker thread (slot). kms-hsmd serves one connection and exits when it closes, so
 * closing kmsd's end ends it. Two ways to get a connection:
 * - started here (cfg->socket_path NULL): each process gets its own end of a close-on-exec
 *   socketpair as fd 3, and runs as kmsd's user;
 * - socket activation (cfg->socket_path set): the slot connects to kms-hsmd.socket, a listening
 *   AF_UNIX socket with Accept=yes, and systemd starts one kms-hsmd@.service instance per
 *   connection, under its own user (deploy/systemd/, docs/deployment.md).
 * A thread of the pool supervises the slots: a process that dies or a connection that ends, or
 * that does not answer within the timeout (the process is killed then, the connection closed),
 * is started or connected again with a back-off (0.1 s doubling up to 5 s), and the slot
 * answers KMS_ERR_HSM_UNAVAIL meanwhile (kmsd turns that into 503 with Retry-After).
 */

struct kms_hsmd_pool;

struct kms_hsmd_config {
	const char *hsmd_path;   /* the kms-hsmd program (absolute), or NULL with socket_path */
	const char *hsmd_conf;   /* its configuration file, or NULL with socket_path */
	const char *socket_path; /* kms-hsmd.socket's path (absolute), or NULL: start kms-hsmd */
	unsigned int slots;      /* processes, 1..64 */
	unsigned int timeout_ms; /* the longest wait for one reply, 100..600000 */
	bool set_user;           /* started kms-hsmd runs as uid/gid (no supplementary groups) */
	uid_t uid;
	gid_t gid;
};

struct kms_hsmd_stats {
	uint64_t restarts; /* processes started after the first start of their slot */
	unsigned int up;   /* slots with a live process */
	unsigned int slots;
	char issuer[16]; /* "online" or "pre-minted", as the last HEALTH answer said; "" unknown,
			    "mixed" when two processes said different ones */
};

/*
 * kms_hsmd_pool_new - start cfg->slots processes (or connect cfg->slots times) and the
 * supervising thread, then wait (up to start_wait_ms) until each answers HEALTH, one after the
 * other. A process that exits, or a connection that cannot be made or ends, during that wait
 * ends the start: err says why (a process's exit status: kms-hsmd 2 configuration, 3 start-up
 * check; a socket's connect error).
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

/*
 * kms_hsmd_default_path - the kms-hsmd program next to the running one (installed: both in one
 * directory), or else in the build tree's hsm/ beside its kms/ or tools/, into out (cap bytes):
 * KMS_OK; KMS_ERR_IO (/proc/self/exe unreadable); KMS_ERR_TOO_LARGE (cap too small).
 */
int kms_hsmd_default_path(char *out, size_t cap) KMS_WUR;

/* kms_hsmd_stats - the pool's counters. */
void kms_hsmd_stats(struct kms_hsmd_pool *pool, struct kms_hsmd_stats *out);

#endif /* KMS_KMS_SUPERVISE_H */

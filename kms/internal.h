/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_INTERNAL_H
#define KMS_KMS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "kms/config.h"
#include "proto/msg.h"
#include "proto/store.h"

/* The rate limiter: a token bucket per client, rate per second, burst deep. */
struct kmsd_ratelimit;
int kmsd_ratelimit_new(struct kmsd_ratelimit **out, uint64_t rate, uint64_t burst) KMS_WUR;
void kmsd_ratelimit_free(struct kmsd_ratelimit *rl);
/* kmsd_ratelimit_take - true if client may make a request now (thread-safe). */
bool kmsd_ratelimit_take(struct kmsd_ratelimit *rl, const char *client, uint64_t now_ms);

/* The counters /metrics shows. */
struct kmsd_metrics {
	atomic_uint_least64_t requests[6]; /* by status class: 2xx, 400, 401/403, 404, 429, 5xx */
	atomic_uint_least64_t provisioned; /* key sets sent */
	atomic_uint_least64_t audit_failures;
	atomic_uint_least64_t checkpoints;         /* audit checkpoints signed and stored */
	atomic_uint_least64_t checkpoint_failures; /* that could not be signed or stored */
	atomic_uint_least64_t duration_us;         /* sum over requests */
};

/*
 * The KMS certificate's fields that kms-hsmd's CERTIFICATE reply does not carry, read from the
 * store at start (kms/http.c, kmsd_serve) if the store's certificate is kms-hsmd's (the same
 * KmsUri, KPAK and Z_T): init's KmsCertificate renders them. All zero ("", false, none) when
 * the store has none.
 */
struct kmsd_cert_extra {
	char issuer[KMS_STORE_MAX_ISSUER + 1]; /* Issuer; "" none */
	bool has_valid_from;
	int64_t valid_from; /* Unix seconds */
	bool has_valid_to;
	int64_t valid_to;
	char domain_buf[KMS_STORE_DOMAINS_LEN + 1]; /* the domains, each NUL-terminated */
	const char *domains[KMS_STORE_MAX_DOMAINS]; /* KmsDomainList: into domain_buf */
	size_t num_domains;
};

/* kmsd's state, read-only once the threads run (but for the counters). */
struct kms_hsmd_pool;
struct kms_jwt_keys;
struct kmsd {
	struct kmsd_config cfg;
	struct ssl_ctx_st *ssl; /* SSL_CTX */
	struct kms_hsmd_pool *pool;
	struct kms_jwt_keys *jwt_keys; /* NULL: bearer tokens are not accepted */
	struct kmsd_ratelimit *rl;
	struct kms_proto_certificate_rep cert; /* the KMS certificate, from kms-hsmd at start */
	struct kmsd_cert_extra cert_extra;     /* and its other fields, from the store at start */
	struct kmsd_metrics metrics;
	atomic_uint_least64_t next_request;
};

/*
 * kms_tlskey_slot - the kms-hsmd slot (kms_hsmd_call) of the calling thread, for the TLS key in
 * the token (kms/tlskey.c): each worker thread sets its own index (kms/http.c, thread_main)
 * before it runs handshakes, as its requests use that slot; 0 on other threads.
 */
extern _Thread_local unsigned int kms_tlskey_slot;

/*
 * kmsd_serve - run the HTTPS listener (and the metrics listener) on k->cfg.threads threads
 * until *stop becomes non-zero. Returns KMS_OK after a clean stop; KMS_ERR_IO when a listener
 * cannot be set up (err says which address and why).
 */
int kmsd_serve(struct kmsd *k, atomic_int *stop, char *err, size_t err_len) KMS_WUR;

/*
 * kmsd_listen_free - whether nobody listens on cfg's HTTPS and metrics addresses yet. kmsd binds
 * them with SO_REUSEPORT (one socket per thread), which the kernel also grants to another
 * process of the same user: a second kmsd (an old one still running) would silently share the
 * clients. A probe without SO_REUSEPORT finds any socket bound there. KMS_OK, or KMS_ERR_IO
 * with err saying which address is taken.
 */
int kmsd_listen_free(const struct kmsd_config *cfg, char *err, size_t err_len) KMS_WUR;

/*
 * kmsd_audit_checkpoint - have kms-hsmd of slot (kms_hsmd_call) make the checkpoint of audit
 * record seq (its hash read from st; now as its time): kms-hsmd checks the record in its own
 * store handle, signs with its audit key and writes the checkpoint itself (kmsd writes none;
 * kms/http.c). A failure is logged and counted (metrics.checkpoint_failures) and changes
 * nothing else: the record itself is durable already. kms-hsmd without an audit key
 * (KMS_ERR_UNSUPPORTED) is logged once, not counted. Returns KMS_OK or the failure's code.
 */
int kmsd_audit_checkpoint(struct kmsd *k, struct kms_store *st, unsigned int slot, uint64_t seq);

/* --- The service manager and SIGHUP (docs/deployment.md) ----------------------------------- */

/*
 * kmsd_notify_init - take the sd_notify(3) address from $NOTIFY_SOCKET (kms/notify.c) and remove
 * the variable from the environment (kms-hsmd does not inherit it). Call once, on the main
 * thread, before any other thread starts. Returns KMS_OK, also when the variable is unset
 * (kmsd_notify then does nothing); KMS_ERR_INVALID_ARG (an address other than a path or
 * "@abstract") or KMS_ERR_IO (no socket), both logged: kmsd then serves without notifying.
 */
int kmsd_notify_init(void) KMS_WUR;

/*
 * kmsd_notify - send one notification: state (borrowed; "READY=1", "RELOADING=1",
 * "STOPPING=1", or NULL for none; RELOADING=1 gets MONOTONIC_USEC= added) and STATUS=status
 * (borrowed; NULL for none; control characters become '?', at most about 900 bytes go out).
 * Main thread only. A failed send is logged and otherwise ignored: serving goes on.
 */
void kmsd_notify(const char *state, const char *status);

/* kmsd_notify_close - close the notification socket (at exit). */
void kmsd_notify_close(void);

/*
 * kmsd_main_loop - what kmsd's main thread does while the event-loop threads serve (kms/main.c):
 * kmsd_serve calls it once every listener is open and every thread runs. It sends READY=1, waits
 * for SIGTERM and SIGINT (which set *stop) and SIGHUP (which reloads the server certificate and
 * key, the client CAs and the client_spki mappings, keeping the old ones if anything fails),
 * and returns once *stop is non-zero, after STOPPING=1. These three signals must be blocked in
 * every thread (kms/main.c blocks them before any thread starts).
 */
void kmsd_main_loop(struct kmsd *k, atomic_int *stop);

/*
 * kms_tls_ctx_publish - make ctx (an SSL_CTX from kms_tls_ctx_new; borrowed: a reference of its
 * own is taken) the context of the HTTPS listeners' NEW connections; the one published before is
 * released (connections that use it keep it: SSL_CTX is reference-counted). NULL releases the
 * published one (at exit). Returns KMS_OK; KMS_ERR_CRYPTO (no reference could be taken: nothing
 * changed). Main thread; kms/tls.c.
 */
int kms_tls_ctx_publish(struct ssl_ctx_st *ctx) KMS_WUR;

/*
 * kms_tls_ctx_refresh - on an event-loop thread, before it accepts a connection: if a context
 * was published since this thread last looked, replace *ctx (the thread's accept context) by
 * a reference of its own to it (the one it replaces is released if this thread held it; the
 * first one, kmsd_serve's, is borrowed). One atomic load when nothing changed. kms/tls.c.
 */
void kms_tls_ctx_refresh(struct ssl_ctx_st **ctx);

#endif /* KMS_KMS_INTERNAL_H */
